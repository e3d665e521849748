"""Model & fit: pooling, what varies, priors and sampler settings; the model in notation; Fit with progress.

The formula box and the widgets are two views of one spec. The formula shown is written from the spec on every
run (``formula_of``), so a widget changed shows in it at once. A formula typed and entered is read in the box's
``on_change`` callback, which runs before the page: when it reads (``spec_from_formula`` with the spec's other
fields as options) and the data fit it, it becomes the spec and the widgets' keys are set from it (a widget's key
cannot be written once the widget exists in a run, so this cannot wait for the page); when it does not, the
spec is left as it was and the text stays in the box, with its problems, until it is changed or a widget is.
"""

from dataclasses import dataclass, replace

import streamlit as st

from hiermodels import limits
from hiermodels.data.preparing import identification_problems
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
            notes.append("The residual scale no longer varies by group: that needs a single grouping factor.")
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
    st.session_state[FORMULA_READ] = FormulaRead(text, formula_of(new), notes=tuple(notes))


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
try:
    prepared = cache.prepared_data(loaded.frame, loaded.fingerprint, spec)
except DataError:
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
          "terms of the further factors are set in the formula." if several else
          "Terms whose coefficient differs by group; the others are common to all groups."))
if several:  # column names: plain text
    st.text(f"Varying by {spec.group}: the terms chosen above. Further grouping factors (edit them in the "
            "formula):\n" + "\n".join(f"  {group_term(factor)}" for factor in spec.factors))
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

poolings = POOLINGS if option == "all" else (option,)
try:
    draft = replace(spec, pooling="partial" if option == "all" else option, varying=tuple(varying),
                    correlated=correlated and len(varying) > 1, parameterization=parameterization,
                    group_noise=group_noise and spec.family == "gaussian" and not several, priors=())
except SpecError as error:
    formula_box(formula_slot, spec)
    widgets.problems("This model cannot be built yet:", str(error).split("; "))
    st.stop()
formula_box(formula_slot, draft)

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
        "target_accept": columns[4].number_input("Target acceptance", 0.5, 0.999, base.target_accept, step=0.01),
    }
    sampler = SamplerSettings(**{k: (float(v) if k == "target_accept" else int(v)) for k, v in sampler_values.items()})
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
