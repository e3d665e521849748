"""Model & fit: pooling, what varies, priors and sampler settings; the model in notation; Fit with progress."""

from dataclasses import replace

import streamlit as st

from hiermodels import limits
from hiermodels.data.preparing import identification_problems
from hiermodels.errors import DataError, FitCancelled, HierModelsError, PriorSyntaxError, SpecError
from hiermodels.inference.fitting import fit_poolings
from hiermodels.inference.plan import plan_fit
from hiermodels.inference.preview import reml_preview
from hiermodels.inference.progress import progress_text
from hiermodels.model.notation import describe, formula, latex
from hiermodels.model.priors import data_for, default_priors, no_pooling_notes, resolve_priors, specs_for_poolings
from hiermodels.model.spec import (
    CAREFUL_SAMPLER,
    INTERCEPT,
    POOLING_LABELS,
    POOLINGS,
    QUICK_SAMPLER,
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


def mark_cancelled() -> None:
    st.session_state[CANCELLED] = True


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

terms = [INTERCEPT, *spec.predictors]
state.seed("w_varying", list(spec.varying), terms)
varying = st.multiselect("Varying by group", terms, key="w_varying",
                         help="Terms whose coefficient differs by group; the others are common to all groups.")
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
                             disabled=spec.family != "gaussian")

poolings = POOLINGS if option == "all" else (option,)
try:
    draft = replace(spec, pooling="partial" if option == "all" else option, varying=tuple(varying),
                    correlated=correlated and len(varying) > 1, parameterization=parameterization,
                    group_noise=group_noise and spec.family == "gaussian", priors=())
except SpecError as error:
    widgets.problems("This model cannot be built yet:", str(error).split("; "))
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
