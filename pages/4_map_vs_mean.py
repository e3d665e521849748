"""MAP vs posterior mean: why a hierarchical model is summarised by expectations, not by its joint mode.

With several grouping factors a "Grouping factor" choice picks whose groups and group-level sds are shown. A
further factor's group's MAP is its population value plus its deviation at the joint mode (or its limit); where
the mode has no value for them the groups show their posterior means only (and say so). The funnel, drawn from
the first factor's groups, is not drawn for a further factor.
"""

import math

import streamlit as st

from hiermodels import charts
from hiermodels.model import names
from hiermodels.results import interpret
from hiermodels.results.comparison import PoolingComparison
from hiermodels.results.fit_result import FitResult
from hiermodels.results.scales import Scale
from hiermodels_ui import cache, navigation, state, widgets

widgets.require_frame()


@st.fragment
def scale_and_funnel(result: FitResult) -> None:
    """For each varying term, the group-level sd's draws (with MAP and mean) and the funnel of one group;
    choosing another group reruns only this part."""
    labels = list(result.data.group_labels)
    smallest = labels[int(result.data.group_sizes.argmin())]
    state.seed("w_funnel_group", state.highlight() if state.highlight() in labels else smallest, labels)
    group = st.selectbox("Group for the funnel", labels, key="w_funnel_group",
                         help="Defaults to the highlighted group, or else the smallest group.")

    for index, term in enumerate(result.data.terms_of(result.spec.varying_terms)):
        estimates = interpret.scale_estimates(result, term)
        widgets.chart(
            charts.scale_posterior_chart(interpret.scale_draws(result, term), estimates.map, estimates.mean,
                                         estimates.name),
            "See where the MAP falls among the draws: far left of the bulk means the mode has collapsed.",
            f"group_sd_{index + 1}", key=f"w_scale_chart_{index}",
        )
        draws = interpret.funnel_draws(result, term, group)
        widgets.chart(
            charts.funnel_chart(draws, interpret.funnel_map_point(result, term, group)),
            interpret.funnel_shape(draws).description,
            f"funnel_{index + 1}", key=f"w_funnel_chart_{index}",
        )


def further_factor_scales(fit: PoolingComparison, key: state.FitKey, result: FitResult, factor: str) -> None:
    """The group-level sd of each term varying over a further factor: its draws, with MAP and mean."""
    number = result.factor_names.index(factor)
    terms = result.data.terms_of(result.spec.all_factors[number].varying)
    population = cache.population_table(fit, key, "link")
    population = population[population["pooling"] == "partial"].set_index("name")
    for index, term in enumerate(terms):
        name = names.group_sd(term, result.spec.factor_tag(factor))
        mode = float(population.at[name, "map"])
        widgets.chart(
            charts.scale_posterior_chart(interpret.trace_draws(result, name)[["value"]], mode,
                                         float(population.at[name, "mean"]), name),
            "See where the MAP falls among the draws: far left of the bulk means the mode has collapsed."
            if math.isfinite(mode) else
            "No joint mode is reported for this scale (where a scale's mode collapsed, the MAP shown is a limit "
            "without it): only the posterior mean is marked among the draws.",
            f"group_sd_{factor}_{index + 1}", key=f"w_factor_scale_chart_{index}",
        )
    st.caption("The funnel is drawn for the groups of the first grouping factor: choose it above to see it.")


def three_summaries(fit: PoolingComparison, key: state.FitKey, result: FitResult, factor: str | None,
                    scale: Scale) -> None:
    """The joint mode, the marginal mode of the first varying term's sd and the posterior mean side by side
    (:func:`hiermodels.results.pooling_dial.pooling_dial`), with the picture of why they differ."""
    st.subheader("Three summaries: joint mode, marginal mode, posterior mean")
    number = result.factor_names.index(factor) if factor is not None else 0
    terms = result.data.terms_of(result.spec.all_factors[number].varying)
    try:
        dial = cache.pooling_dial(fit, key, factor, terms[0] if terms else None, scale)
    except ValueError as error:
        st.warning("The three summaries cannot be computed for this fit:", icon=":material/warning:")
        st.text(str(error))  # the message may quote column and group names
        return
    for paragraph in dial.story().split("\n\n"):  # quotes group names: plain text
        st.text(paragraph)
    widgets.chart(
        charts.three_summaries_chart(dial.groups, value_title=dial.value_title),
        "Diamonds on one flat line: the joint mode says every group is the same. Squares and dots between that "
        "line and the dashed diagonal: the marginal mode and the posterior mean keep part of each group's own data.",
        "three_summaries", key="w_three_summaries_chart",
    )
    widgets.chart(
        charts.mode_profile_chart(dial.tau, dial.summaries, tau_title=dial.tau_title),
        "The joint density keeps rising toward τ = 0, so its mode is there; the marginal density of τ peaks where "
        "the data put τ, and the posterior mean averages over its whole spread.",
        "mode_profile", key="w_mode_profile_chart",
    )
    widgets.table(dial.summaries, "three_summaries")
    st.text(dial.method_note)  # quotes term and factor names: plain text
    navigation.link(navigation.POOLING_DIAL, "Turn the dial yourself on the Pooling dial page")


st.title("MAP vs posterior mean")
key, fit = widgets.current_fit()
widgets.fitted_model(fit)

st.markdown(
    "The estimates in this app are posterior **means**: averages over everything the data leave uncertain. "
    "Another common summary is the joint **mode** (MAP, *maximum a posteriori*): the single most probable setting "
    "of all parameters together. For a hierarchical model the mode is a trap. Make the group-level sd small and "
    "put every group's coefficient on the population mean, and the joint density grows **without bound** as "
    "that sd goes to 0. So the mode says *all groups are identical*, even when the data say they differ.\n\n"
    "The posterior mean averages over the uncertainty in the group-level sd instead. The funnel at the bottom "
    "shows why the two can disagree: where the data leave the sd free to approach 0, the draws narrow to a neck, "
    "the density is highest there and the MAP sits there, but almost all of the probability lies in the wide "
    "part. Where the data pin the sd away from 0, the draws form a round cloud with no neck: the posterior puts "
    "almost no mass near 0, even where the optimiser still runs the MAP there."
)

pooling = widgets.pooling_choice("Pooling", "w_map_pooling", fit)
result = fit[pooling]
scale = widgets.scale_choice(fit)
factor = widgets.factor_choice(fit)
first_factor = widgets.is_first_factor(result, factor)

table = cache.map_vs_mean_table(fit, key, pooling, scale, factor)
collapsed = [name for name, flag in result.map_collapsed().items() if flag]
population_modes = table.loc[table["level"] == "population", "map"]
if collapsed and result.map_kind == "limit" and result.spec.factors and population_modes.notna().all():
    st.warning(
        "The joint mode does not exist here: the density keeps growing as each group-level sd named below shrinks "
        "to 0, with every group of that factor on the population value. What is shown as the MAP is that "
        "**limit**: the sd at exactly 0, and the other parameters at the joint mode of the same model without "
        "that factor's groups. It says those groups are all the same, while the posterior says they differ. "
        "Report the posterior mean, not the MAP.",
        icon=":material/warning:",
    )
    st.text("Collapsed to 0 (limit mode): " + ", ".join(collapsed))
elif collapsed and result.map_kind == "limit" and result.spec.factors:
    st.warning(
        "The joint mode does not exist here: the density keeps growing as each group-level sd named below shrinks "
        "to 0, with every group of that factor on the population value, whatever the other parameters are. "
        "What is shown as the MAP is that sd's **limit**, exactly 0. With several grouping factors the other "
        "parameters' limit is not computed, so they have no MAP here. Report the posterior mean, not the MAP.",
        icon=":material/warning:",
    )
elif collapsed and result.map_kind == "limit":
    st.warning(
        "The joint mode does not exist here: the density keeps growing as each group-level sd named below shrinks "
        "to 0, with every group on the population value. What is shown as the MAP is that **limit**: the sd at "
        "exactly 0, every group on the population value, and the other parameters at their mode given that, "
        "which is the complete-pooling mode of the same model. It says every group is the same, while the "
        "posterior says the groups differ. Report the posterior mean, not the MAP.",
        icon=":material/warning:",
    )
    st.text("Collapsed to 0 (limit mode): " + ", ".join(collapsed))
elif collapsed:
    st.warning(
        "The joint mode has collapsed: the MAP puts each group-level sd named below at about 0, which says every "
        "group is the same, while the posterior says the groups differ. Report the posterior mean, not the MAP.",
        icon=":material/warning:",
    )
    st.text("Collapsed: " + ", ".join(collapsed))
if result.map_message:
    st.caption("Message from the MAP optimiser:")
    st.text(result.map_message)

group_modes = table.loc[table["level"] == "group", "map"]
if not first_factor and len(group_modes) and group_modes.isna().all():
    st.info("The joint mode of this factor's groups is not shown: the MAP is reported for the population-level "
            "parameters and the first grouping factor's groups only. This factor's groups show their posterior "
            "means and intervals.", icon=":material/info:")
group_rows = set(table.loc[table["level"] == "group", "name"])
highlight = state.highlight() if state.highlight() in group_rows else None
widgets.chart(
    charts.map_vs_mean_chart(table, highlight=highlight),
    "Compare each diamond (MAP) with its dot (posterior mean): where a group-level sd collapsed, every group's "
    "diamond sits on the population mean.",
    f"map_vs_mean_{pooling}", key="w_map_vs_mean_chart",
)
widgets.table(table, f"map_vs_mean_{pooling}")

if pooling != "partial":
    st.info(
        "The group-level sd and its funnel exist only under partial pooling: choose partial pooling above"
        + ("." if "partial" in fit.poolings else " (fit it first on the **Model & fit** page)."),
        icon=":material/info:",
    )
    st.stop()

three_summaries(fit, key, result, factor, scale)

st.subheader("The group-level sd and the funnel")
if factor is None or first_factor:
    scale_and_funnel(result)
else:
    further_factor_scales(fit, key, result, factor)
