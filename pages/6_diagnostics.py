"""Diagnostics: did the sampler explore the posterior well enough to trust the other pages?

The checks, their thresholds (Vehtari et al. 2021) and their grading ("ok", "check", "problem") are computed in
:mod:`hiermodels.results.diagnostics`; this page shows them as a table, badges and warnings. They cover every
grouping factor at once. With several factors, a "Grouping factor" choice narrows the trace and rank plots' list
to the shared parameters and that factor's group-level ones (``sd(term|factor)``, ``corr(a,b|factor)``).
"""

import pandas as pd
import streamlit as st

from hiermodels import charts
from hiermodels.model.names import is_group_level_scale, split_factor
from hiermodels.model.spec import POOLING_LABELS
from hiermodels.results import interpret
from hiermodels.results.comparison import PoolingComparison
from hiermodels.results.diagnostics import ESS_PER_CHAIN, checks
from hiermodels_ui import cache, state, widgets

widgets.require_frame()

# Streamlit's own badges and icons: they render the same on every machine (no emoji font needed).
BADGES = {"ok": ":green-badge[:material/check_circle: {}]", "check": ":orange-badge[:material/warning: {}]",
          "problem": ":red-badge[:material/error: {}]", "n/a": ":gray-badge[{}]"}


def _traffic_lights(label: str, table: pd.DataFrame) -> str:
    """One markdown line of badges for one fit (only our own words and numbers go into it)."""
    badges = " ".join(BADGES[r.status].format(f"{r.check}: {r.value}") for r in table.itertuples(index=False))
    return f"**{label.capitalize()}** {badges}"


@st.fragment
def trace_and_rank(fit: PoolingComparison, factor: str | None) -> None:
    """Choosing another pooling or parameter reruns only this part (the checks above take a moment). With a
    grouping factor chosen, the parameters offered are the shared ones and that factor's."""
    poolings = fit.poolings
    state.seed("w_diagnostics_pooling", "partial" if "partial" in poolings else poolings[0], poolings)
    pooling = st.radio("Pooling", poolings, format_func=POOLING_LABELS.get, key="w_diagnostics_pooling",
                       horizontal=True)
    result = fit[pooling]
    names = [n for n in result.population()["name"] if factor is None or split_factor(n)[1] in (None, factor)]
    scales = [n for n in names if is_group_level_scale(n)]
    state.seed("w_diagnostics_parameter", scales[0] if scales else names[0], names)
    name = st.selectbox("Parameter", names, key="w_diagnostics_parameter",
                        help="Population-level parameters of this pooling.")
    widgets.chart(
        charts.trace_chart(interpret.trace_draws(result, name)),
        "Look for overlapping, fuzzy chains: a chain that drifts or sits apart has not converged.",
        f"trace_{pooling}", key="w_trace_chart",
    )
    widgets.chart(
        charts.rank_chart(interpret.rank_table(result, name)),
        "Look for flat bars near the dashed line in every chain: a slope or a hump means the chains disagree.",
        f"rank_{pooling}", key="w_rank_chart",
    )


st.title("Diagnostics")
key, fit = widgets.current_fit()
widgets.fitted_model(fit)
factor = widgets.factor_choice(fit)

st.markdown(
    "Before reading the other pages, check that the sampler did its job. **R-hat** compares the chains: near 1 "
    "they agree. **ESS** (effective sample size) counts how many independent draws the correlated ones are worth, "
    "in the bulk and in the tails of the posterior. **Divergent transitions** mark places where the sampler "
    "could not follow the posterior's curvature, typically the neck of a funnel."
)

diagnostics = cache.diagnostics(fit)
tables = {pooling: checks(d) for pooling, d in diagnostics.items()}
st.subheader("Traffic lights")
for pooling, table in tables.items():
    st.markdown(_traffic_lights(POOLING_LABELS[pooling], table))
st.caption(f"Green: ok; orange: worth a check; red: a problem. The ESS target is {ESS_PER_CHAIN} effective draws per "
           "chain; R-hat and ESS cover every population parameter and group coefficient"
           + (", of every grouping factor." if factor is not None else "."))
widgets.table(pd.concat([table.assign(pooling=POOLING_LABELS[pooling]) for pooling, table in tables.items()],
                        ignore_index=True)[["pooling", "check", "value", "target", "status"]], "convergence_checks")

for pooling, d in diagnostics.items():
    label = POOLING_LABELS[pooling].capitalize()
    if d.ok:
        st.success(f"{label}: no convergence problems found.", icon=":material/check_circle:")
    for warning in d.warnings:
        st.warning(f"{label}: {warning}.", icon=":material/warning:")

with st.expander("R-hat and ESS of each population parameter"):
    widgets.table(cache.diagnostics_table(fit, key), "convergence_by_parameter")

st.subheader("Trace and rank plots")
trace_and_rank(fit, factor)

st.subheader("Sampler and timing")
timing = pd.DataFrame([
    {"pooling": POOLING_LABELS[p], "target acceptance": fit[p].diagnostics().target_accept,
     "compile (s)": fit[p].timing.compile_s, "sample (s)": fit[p].timing.sample_s,
     "MAP (s)": fit[p].timing.map_s, "total (s)": fit[p].timing.total_s}
    for p in fit.poolings
])
st.caption("The target acceptance NUTS ran with: the one set under Custom, or the model's (0.99 under partial "
           "pooling of sampled group effects, whose funnels need small steps; 0.9 elsewhere). Then wall-clock "
           "seconds per stage; compiling is skipped when the same model was compiled before.")
widgets.table(timing, "timing")
