"""Model & fit: pooling, what varies, priors and sampler settings; the model in notation; Fit with progress.

The formula box and the widgets are two views of one spec. The formula shown is written from the spec on every
run (``formula_of``), so a widget changed shows in it at once. A formula typed and entered is read in the box's
``on_change`` callback, which runs before the page: when it reads (``spec_from_formula`` with the spec's other
fields as options) and the data fit it, it becomes the spec and the widgets' keys are set from it (a widget's key
cannot be written once the widget exists in a run, so this cannot wait for the page); when it does not, the
spec is left as it was and the text stays in the box, with its problems, until it is changed or a widget is.

The grouping factors beyond the first (``spec.factors``) have widgets of their own, keyed by the factor's name:
what varies over its groups and whether those terms are correlated flow into the draft like the other widgets; Add
and Remove are actions on the spec (callbacks, run before the page, as the formula box's), which seed the new
factor's widgets. A factor the data refuse (one level, a label per row, a nesting the labels contradict) is kept in
the spec and said below the factors, with Remove at hand, and no Fit is offered until it is changed or removed.
Add and Remove are one-option segmented controls rather than buttons: the Fit button stays the page's only one.
"""

from dataclasses import dataclass, replace

import streamlit as st

from hiermodels import limits
from hiermodels.data.preparing import PreparedData, identification_problems
from hiermodels.data.roles import index_columns
from hiermodels.errors import DataError, FitCancelled, FormulaError, HierModelsError, PriorSyntaxError, SpecError
from hiermodels.inference.fitting import fit_poolings
from hiermodels.inference.plan import plan_fit
from hiermodels.inference.preview import reml_preview
from hiermodels.inference.progress import progress_text
from hiermodels.model.formula import carry_priors, formula_of, spec_from_formula, spec_options
from hiermodels.model.notation import describe, formula, group_term, latex
from hiermodels.model.priors import data_for, default_priors, no_pooling_notes, resolve_priors, specs_for_poolings
from hiermodels.model.spec import (
    CAREFUL_SAMPLER,
    INTERCEPT,
    POOLING_LABELS,
    POOLINGS,
    QUICK_SAMPLER,
    GroupingFactor,
    ModelSpec,
    Prior,
    SamplerSettings,
    describe_sampler,
)
from hiermodels_ui import cache, navigation, state, widgets

widgets.require_frame()

POOLING_OPTIONS = {"all": "All three", "partial": "Partial pooling", "none": "No pooling",
                   "complete": "Complete pooling"}
PRESETS = state.SAMPLER_PRESETS
CANCELLED = "hm_cancelled"
FORMULA_KEY = "w_formula"
FORMULA_READ = "hm_formula_read"
# The further grouping factors' widgets, keyed by the factor's name (its column, or column:within).
FACTOR_VARYING = "w_factor_varying_"
FACTOR_CORRELATED = "w_factor_correlated_"
REMOVE_FACTOR = "remove_factor_"
NEW_FACTOR = "w_new_factor"
NEW_FACTOR_WITHIN = "w_new_factor_within"
# The "crossed" choice of NEW_FACTOR_WITHIN: a selectbox shows None as an empty placeholder, not as an option, and
# no column is named "" (the reader names an unnamed column).
CROSSED = ""
ADD_FACTOR = "add_factor"
FACTOR_CHANGE = "hm_factor_change"
GROUP_NOISE_DROPPED = "The residual scale no longer varies by group: that needs a single grouping factor."


@dataclass(frozen=True)
class FormulaRead:
    """What became of the last formula entered: ``text`` as typed; ``shown`` the formula the page showed after
    reading it (the new spec's, or the old one's when it was refused); ``problems`` and ``pointer`` (a caret
    line) when it was refused; ``notes`` what the reading decided. Shown while the page still shows ``shown``."""

    text: str
    shown: str
    problems: tuple[str, ...] = ()
    pointer: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FactorChange:
    """What became of the last Add or Remove: ``problems`` when the model refused it (the spec is unchanged),
    ``notes`` what else it changed (priors renamed, a nested factor removed with its parent, ...)."""

    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def mark_cancelled() -> None:
    st.session_state[CANCELLED] = True


def read_formula() -> None:
    """The formula box's on_change: a formula that reads and fits the data becomes the spec, and the widgets
    that the formula sets are seeded from it; one that does not leaves the spec alone and says why."""
    text = st.session_state.get(FORMULA_KEY, "")
    current, loaded = state.spec(), state.table()
    if loaded is None:
        return
    options = spec_options(current)
    try:
        # Group-specific noise needs one grouping factor: read without it, and keep it if the formula has one.
        read = spec_from_formula(text, [str(c) for c in loaded.frame.columns], **{**options, "group_noise": False})
        new, carried = carry_priors(current, read.spec)  # prior overrides follow their factor's new names
        notes = [*read.notes, *carried]
        if current.group_noise and new.factors:
            notes.append(GROUP_NOISE_DROPPED)
        elif current.group_noise:
            new = replace(new, group_noise=True)
        cache.prepared_data(loaded.frame, loaded.fingerprint, new)  # the data must fit it too
    except FormulaError as error:
        st.session_state[FORMULA_READ] = FormulaRead(text, formula_of(current), error.problems, error.pointer())
        return
    except DataError as error:
        st.session_state[FORMULA_READ] = FormulaRead(text, formula_of(current), error.problems)
        return
    except SpecError as error:
        st.session_state[FORMULA_READ] = FormulaRead(text, formula_of(current), tuple(str(error).split("; ")))
        return
    state.set_spec(new)
    st.session_state["w_varying"] = list(new.varying)
    st.session_state["w_correlated"] = new.correlated
    st.session_state["w_group_noise"] = new.group_noise
    set_factor_widgets(new.factors)
    st.session_state[FORMULA_READ] = FormulaRead(text, formula_of(new), notes=tuple(notes))


def set_factor_widgets(factors: tuple[GroupingFactor, ...]) -> None:
    """Set the widgets of ``factors`` to what the factors say (in a callback: before the widgets exist in the run,
    the only time their keys can be written)."""
    for factor in factors:
        st.session_state[FACTOR_VARYING + factor.name] = list(factor.varying)
        st.session_state[FACTOR_CORRELATED + factor.name] = factor.correlated


def change_factors(current: ModelSpec, factors: tuple[GroupingFactor, ...], notes: tuple[str, ...] = ()) -> bool:
    """Make ``factors`` the spec's further grouping factors, if the model takes them (else say why, and keep the
    spec). Prior overrides follow their factor's names, as for a formula; group noise goes with a second factor.
    The data are checked by the page, which shows what they refuse beside the factors (where they can be removed).
    """
    try:
        new = replace(current, factors=factors, group_noise=current.group_noise and not factors)
    except SpecError as error:
        st.session_state[FACTOR_CHANGE] = FactorChange(problems=tuple(str(error).split("; ")))
        return False
    if current.group_noise and factors:
        notes = (*notes, GROUP_NOISE_DROPPED)
        st.session_state["w_group_noise"] = False
    new, carried = carry_priors(current, new)
    state.set_spec(new)
    st.session_state[FACTOR_CHANGE] = FactorChange(notes=(*notes, *carried))
    return True


def add_factor() -> None:
    """The Add control's on_change: the chosen column becomes a further grouping factor with a varying intercept,
    crossed with the others or nested in the chosen one (lme4's ``(1 | column)``, ``(1 | within/column)``)."""
    st.session_state[ADD_FACTOR] = None  # a one-shot action: ready to be clicked again
    column = st.session_state.get(NEW_FACTOR)
    if column is None:
        return
    factor = GroupingFactor(column, (INTERCEPT,), within=st.session_state.get(NEW_FACTOR_WITHIN) or None)
    current = state.spec()
    if change_factors(current, (*current.factors, factor)):
        set_factor_widgets((factor,))
        st.session_state[NEW_FACTOR_WITHIN] = CROSSED


def remove_factor(name: str) -> None:
    """A Remove control's on_change: the factor ``name`` leaves the model, and so does every factor nested in it
    (their groups are pairs with its labels, which are gone)."""
    current = state.spec()
    kept = [f for f in current.factors if f.name != name]
    removed: list[GroupingFactor] = []
    while orphans := [f for f in kept if f.within is not None
                      and f.within not in {current.group, *(k.column for k in kept)}]:
        removed += orphans
        kept = [f for f in kept if f not in orphans]
    change_factors(current, tuple(kept),
                   tuple(f"{f.name} was nested in a factor removed, so it was removed too." for f in removed))


def prepares(spec: ModelSpec) -> bool:
    """Whether the loaded data fit ``spec``."""
    loaded = state.table()
    try:
        cache.prepared_data(loaded.frame, loaded.fingerprint, spec)
    except DataError:
        return False
    return True


def formula_box(slot, shown: ModelSpec) -> None:
    """The editable formula of ``shown`` in ``slot`` (above the widgets), with what became of the last one entered.
    User text goes to st.text and st.code only."""
    try:
        written = formula_of(shown)
    except SpecError as error:  # a column name a formula cannot hold
        slot.caption("This model cannot be written as a formula:")
        slot.text(str(error))
        return
    last: FormulaRead | None = st.session_state.get(FORMULA_READ)
    if last is not None and last.shown != written:
        last = None  # a widget changed the model since: its formula replaces what was typed
        st.session_state.pop(FORMULA_READ, None)
    refused = last is not None and bool(last.problems) and st.session_state.get(FORMULA_KEY) == last.text
    if not refused:
        st.session_state[FORMULA_KEY] = written
    slot.text_input("Model formula (lme4 style)", key=FORMULA_KEY, on_change=read_formula,
                    help="The model's outcome, terms and grouping factors, as lme4 writes them: edit and press "
                         "Enter. Crossed factors: (1 | plate) + (1 | sample); nested: (1 | batch/cask); "
                         "uncorrelated effects: (1 + x || g). The widgets below follow it, and it follows them.")
    if refused:
        slot.error("This formula could not be used; the model is unchanged:", icon=":material/error:")
        slot.text("\n".join(f"• {problem}" for problem in last.problems))
        if last.pointer:
            slot.code(last.pointer, language=None)
    elif last is not None and last.notes:
        slot.info("The formula was read; what the reading decided:", icon=":material/info:")
        slot.text("\n".join(f"• {note}" for note in last.notes))


st.title("Model & fit")
loaded = state.table()
spec = state.spec()
prepared: PreparedData | None = None
refused_factors: tuple[str, ...] = ()  # what the data say against the further grouping factors
try:
    prepared = cache.prepared_data(loaded.frame, loaded.fingerprint, spec)
except DataError as error:
    # Problems that the further factors bring (the data are fine without them) are said below the factors, where
    # they can be changed or removed; any other problem is the Data page's.
    if spec.factors and prepares(replace(spec, factors=())):
        refused_factors = error.problems
    else:
        st.error("The data are not ready: fix the problems listed on the Data page first.", icon=":material/error:")
        navigation.link(navigation.DATA, "Back to Data", ":material/arrow_back:")
        st.stop()

# ------------------------------------------------------------------------------------------------ choices
state.seed("w_pooling", state.pooling_option(), list(POOLING_OPTIONS))
option = st.radio("Pooling", list(POOLING_OPTIONS), format_func=POOLING_OPTIONS.get, horizontal=True,
                  key="w_pooling")
state.set_pooling_option(option)
st.caption("Complete pooling: one set of coefficients for all groups. No pooling: each group on its own. "
           "Partial pooling: group coefficients drawn from a population learned from all groups. "
           "Fit all three to see the shrinkage.")

formula_slot = st.container()  # filled once the widgets have said what the model is
terms = [INTERCEPT, *spec.predictors]
state.seed("w_varying", list(spec.varying), terms)
several = bool(spec.factors)
varying = st.multiselect(
    "Varying by the first grouping factor" if several else "Varying by group", terms, key="w_varying",
    help=("Terms whose coefficient differs between the groups of the first grouping factor (named below); the "
          "further factors' terms are chosen under Grouping factors." if several else
          "Terms whose coefficient differs by group; the others are common to all groups."))
first, second, third = st.columns(3)
state.seed("w_correlated", spec.correlated)
correlated = first.checkbox("Correlated varying effects", key="w_correlated", disabled=len(varying) < 2,
                            help="An LKJ prior on the correlation between the varying terms (partial pooling).")
state.seed("w_parameterization", spec.parameterization)
parameterization = second.radio(
    "Parameterisation", ["noncentered", "centered"], key="w_parameterization", horizontal=True,
    format_func={"noncentered": "non-centred", "centered": "centred"}.get,
    help="Non-centred sampling avoids the funnel between the group scale and the group effects.",
)
state.seed("w_group_noise", spec.group_noise)
group_noise = third.checkbox("Residual scale varies by group", key="w_group_noise",
                             disabled=spec.family != "gaussian" or several,
                             help="Needs the gaussian family and a single grouping factor." if several else None)

# ------------------------------------------------------------------------------------------------ grouping factors
st.markdown("**Grouping factors**")
summary = st.empty()  # the factors as lme4 terms, once their widgets have said what they are
factors: list[GroupingFactor] = []
for factor in spec.factors:  # names are column names: plain text, and never in a widget's (markdown) label
    # Remove's column fits its icon, word and border (at 1 of 8.2 the border was cut off).
    name_col, varying_col, correlated_col, remove_col = st.columns([2, 3.8, 1.2, 1.5], vertical_alignment="bottom")
    name_col.text(f"{factor.column}, nested in {factor.within}" if factor.within else
                  f"{factor.column}, crossed")
    state.seed(FACTOR_VARYING + factor.name, list(factor.varying), terms)
    factor_varying = varying_col.multiselect(
        "Varying over its groups", terms, key=FACTOR_VARYING + factor.name,
        help="Terms whose coefficient differs between this factor's groups, as deviations around the first "
             "factor's: at least one (the intercept, usually).")
    state.seed(FACTOR_CORRELATED + factor.name, factor.correlated)
    factor_correlated = correlated_col.checkbox("Correlated", key=FACTOR_CORRELATED + factor.name,
                                                disabled=len(factor_varying) < 2)
    remove_col.segmented_control("Remove", ["remove"], key=REMOVE_FACTOR + factor.name, on_change=remove_factor,
                                 args=(factor.name,), format_func=lambda _: ":material/delete: Remove",
                                 label_visibility="collapsed")
    factors.append(replace(factor, varying=tuple(factor_varying),
                           correlated=factor_correlated and len(factor_varying) > 1))
if factors:
    summary.text(f"Varying by {spec.group}: the terms chosen above. Further grouping factors:\n"
                 + "\n".join(f"  {group_term(factor)}" for factor in factors))
# Any column without a role can group the rows (as on the Data page, row names saved as a column cannot).
row_names = set(index_columns(loaded.frame))
candidates = [c for c in map(str, loaded.frame.columns)
              if c not in row_names and c not in spec.required_columns() and c != CROSSED]
if candidates:
    column_col, relation_col, add_col = st.columns([2, 4, 1], vertical_alignment="bottom")
    state.seed(NEW_FACTOR, candidates[0], candidates)
    column_col.selectbox("Add a grouping factor", candidates, key=NEW_FACTOR)
    parents = [CROSSED, *dict.fromkeys([spec.group, *(f.column for f in spec.factors)])]
    state.seed(NEW_FACTOR_WITHIN, CROSSED, parents)
    relation_col.selectbox(  # a selectbox, not a radio: its options are plain text, and these quote column names
        "Its groups are", parents, key=NEW_FACTOR_WITHIN,
        format_func=lambda parent: "crossed with the other factors" if parent == CROSSED else f"nested in {parent}",
        help="Crossed: every group may meet every group of the other factors (plates and samples). Nested: a "
             "label repeated under two groups of the parent names two groups (cask a of batch A is not cask a "
             "of batch B).")
    add_col.segmented_control("Add", ["add"], key=ADD_FACTOR, on_change=add_factor,
                              format_func=lambda _: ":material/add: Add", label_visibility="collapsed")
else:
    st.caption("Every column already has a role: there is none left to add as a grouping factor.")
change: FactorChange | None = st.session_state.pop(FACTOR_CHANGE, None)
if change is not None and change.problems:
    widgets.problems("The grouping factors could not be changed so; the model is unchanged:", change.problems)
elif change is not None and change.notes:
    st.info("The grouping factors changed; what else changed with them:", icon=":material/info:")
    st.text("\n".join(f"• {note}" for note in change.notes))

poolings = POOLINGS if option == "all" else (option,)
try:
    draft = replace(spec, pooling="partial" if option == "all" else option, varying=tuple(varying),
                    correlated=correlated and len(varying) > 1, parameterization=parameterization,
                    group_noise=group_noise and spec.family == "gaussian" and not several, priors=(),
                    factors=tuple(factors))
except SpecError as error:
    formula_box(formula_slot, spec)
    widgets.problems("This model cannot be built yet:", str(error).split("; "))
    st.stop()
formula_box(formula_slot, draft)
if refused_factors or prepared is None:
    widgets.problems("The data refuse these grouping factors: change or remove them above.", refused_factors)
    st.stop()

# ------------------------------------------------------------------------------------------------ priors
defaults: dict[str, Prior] = {}
for pooling in poolings:
    defaults.update(default_priors(prepared, draft.with_pooling(pooling)))
overrides: list[tuple[str, Prior]] = []
prior_problems: list[str] = []
remembered = dict(spec.priors)
with st.expander("Priors (weakly informative defaults, scaled to the data)"):
    st.caption("Write a prior as name(numbers), e.g. normal(0, 5), halfnormal(1), halfcauchy(5), studentt(3, 0, 2), "
               "exponential(1), lkj(2). Leave the default to keep it.")
    for index, (name, default) in enumerate(defaults.items()):
        label_col, input_col = st.columns([1, 2])
        label_col.text(name)
        key = f"w_prior_{index}_{name}"
        state.seed(key, str(remembered.get(name, default)))
        text = input_col.text_input("prior", key=key, label_visibility="collapsed")
        if text.strip() == str(default):
            continue
        try:
            overrides.append((name, Prior.parse(text)))
        except PriorSyntaxError as error:
            prior_problems.append(f"{name}: {error}")

# ------------------------------------------------------------------------------------------------ sampler
state.seed("w_preset", state.preset_of(spec.sampler) or "Quick", [*PRESETS, "Custom"])  # a link may say Careful
preset = st.radio("Sampler preset", [*PRESETS, "Custom"], key="w_preset", horizontal=True,
                  help=f"Quick: {describe_sampler(QUICK_SAMPLER)}; clean diagnostics on every bundled sample. "
                       f"Careful: {describe_sampler(CAREFUL_SAMPLER)}.")
if preset == "Custom":
    columns = st.columns(5)
    base = spec.sampler
    sampler_values = {
        "draws": columns[0].number_input("Draws", 10, limits.MAX_DRAWS, base.draws, step=100),
        "tune": columns[1].number_input("Tuning draws", 1, limits.MAX_DRAWS, base.tune, step=100),
        "chains": columns[2].number_input("Chains", 1, limits.MAX_CHAINS, base.chains),
        "seed": columns[3].number_input("Seed", 0, 2**31 - 1, base.seed),
        "target_accept": columns[4].number_input(
            "Target acceptance", 0.5, 0.999, base.target_accept, step=0.01, placeholder="automatic",
            help="Empty: 0.99 under partial pooling of sampled group effects (their funnels need small "
                 "steps), 0.9 elsewhere."),
    }
    accept = sampler_values.pop("target_accept")  # None (left empty): the model's default
    sampler = SamplerSettings(**{k: int(v) for k, v in sampler_values.items()},
                              target_accept=None if accept is None else float(accept))
else:
    sampler = PRESETS[preset]

try:
    spec = replace(draft, priors=tuple(overrides), sampler=sampler)
    # Each pooling keeps the overrides its model has (sd(...) concerns partial pooling only).
    pooled_specs = specs_for_poolings(prepared, spec, poolings)
except SpecError as error:
    prior_problems.append(str(error))
if prior_problems:
    widgets.problems("Some priors could not be used:", prior_problems)
    st.stop()
state.set_spec(spec)

# ------------------------------------------------------------------------------------------------ notation
st.subheader("The model")
shown = [p for p in ("partial", "none", "complete") if p in poolings]
tabs = st.tabs([POOLING_LABELS[p].capitalize() for p in shown])
for tab, pooling in zip(tabs, shown, strict=True):
    with tab:
        pooled_spec = pooled_specs[pooling]
        pooled_data = data_for(prepared, pooled_spec)  # no pooling may leave out a predictor of the group
        st.code(formula(pooled_spec), language=None)
        st.latex(latex(pooled_spec, pooled_data.terms, resolve_priors(pooled_data, pooled_spec)))
        st.text(describe(pooled_spec))

# ------------------------------------------------------------------------------------------------ fit
st.subheader("Fit")
for note in no_pooling_notes(prepared, spec) if "none" in poolings else []:  # a predictor of the group, dropped
    st.text(note)
# A predictor of the group beside the group's own intercept is not identified: say why, and offer no Fit.
refused = list(dict.fromkeys(m for pooled in pooled_specs.values() for m in identification_problems(prepared, pooled)))
if refused:
    widgets.problems("This model cannot be fitted as it stands:", refused)
    st.stop()
key = state.FitKey(loaded.fingerprint, spec, poolings)
store = cache.fit_store()
# Not greyed out while a fit runs: swapping the button for a disabled one stops Cancel from reaching the running
# script (tests/test_browser.py::test_cancel_stops_the_sampler). Clicking Fit again restarts the fit.
fit_clicked = st.button("Fit", type="primary", icon=":material/play_arrow:")
if fit_clicked:
    st.session_state.pop(CANCELLED, None)
    cancel_slot = st.empty()
    cancel_slot.button("Cancel", on_click=mark_cancelled, key="cancel_fit", icon=":material/stop:")
    bar = st.progress(0.0, text="Starting…")
    # The preview is for the seconds a first fit spends compiling; a compiled model brings the posterior as fast.
    partial = pooled_specs.get("partial")
    needs_compile = partial is not None and plan_fit(prepared, partial).needs_compile(cache.compiled_models())
    preview = reml_preview(prepared, partial) if needs_compile else None
    if preview is not None:
        st.caption("Preview while sampling: the REML estimate (what lme4 reports), replaced by the posterior "
                   "when it arrives.")
        st.dataframe(preview.round(4), hide_index=True)
    try:
        comparison = fit_poolings(prepared, spec, poolings, compiled_cache=cache.compiled_models(),
                                  queue=cache.fit_queue(),
                                  progress=lambda p: bar.progress(p.fraction, text=progress_text(p)))
    except FitCancelled:
        st.warning("The fit was cancelled.", icon=":material/cancel:")
        st.stop()
    except HierModelsError as error:
        bar.empty()
        cancel_slot.empty()
        widgets.problems("The fit failed:", [str(error)])
        st.stop()
    store.put(key, comparison)
    state.set_fit_key(key)
    st.rerun()  # draw the page (and the sidebar's "Last fit") from the stored fit
elif st.session_state.pop(CANCELLED, False):
    st.warning("The fit was cancelled: the sampler was stopped and nothing was changed.", icon=":material/cancel:")

fitted = store.get(key)
if fitted is not None:
    state.set_fit_key(key)
    seconds = sum(fitted[p].timing.total_s for p in fitted.poolings)
    warnings = sum(len(d.warnings) for d in cache.diagnostics(fitted).values())
    st.success(f"Fitted {', '.join(POOLING_LABELS[p] for p in fitted.poolings)} in {seconds:.1f} s"
               + (f"; {warnings} diagnostic warning(s): see Diagnostics." if warnings else "; diagnostics look fine."),
               icon=":material/check_circle:")
    st.caption("Download each posterior as NetCDF (open with xarray.open_datatree or arviz):")
    downloads = st.columns(len(fitted.poolings))
    for column, pooling in zip(downloads, fitted.poolings, strict=True):
        column.download_button(POOLING_LABELS[pooling].capitalize(), data=fitted[pooling].netcdf_bytes,
                               file_name=f"posterior_{pooling}.nc", mime="application/x-netcdf",
                               on_click="ignore", icon=":material/download:", key=f"netcdf_{pooling}")
    for column, page in zip(st.columns(len(navigation.RESULT_PAGES)), navigation.RESULT_PAGES, strict=True):
        navigation.link(page, where=column)
