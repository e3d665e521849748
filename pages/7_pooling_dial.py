"""Pooling dial: move the group-level sd τ from 0 (complete pooling) to ∞ (no pooling) and watch every group move.

The numbers come from :func:`hiermodels.results.pooling_dial.pooling_dial` (cached per fit, factor, term and
scale); the slider lives inside the chart (:func:`hiermodels.charts.pooling_dial_chart`), so moving it redraws
in the browser without a rerun of this script. The story, the method note and the tables quote group and column
names, which come from the user's data: they are shown as plain text and dataframes, never as markdown.
"""

import streamlit as st

from hiermodels import charts
from hiermodels_ui import cache, navigation, state, widgets

widgets.require_frame()

TERM_KEY = "w_dial_term"

st.title("Pooling dial")
key, fit = widgets.current_fit()
widgets.fitted_model(fit)

if "partial" not in fit.poolings:
    st.info("The pooling dial moves the group-level sd of partial pooling, and this fit has no partial pooling: "
            "fit partial pooling (or all three) on the **Model & fit** page.", icon=":material/info:")
    navigation.link(navigation.MODEL, "Go to Model & fit")
    st.stop()

result = fit["partial"]
factor = widgets.factor_choice(fit)
number = result.factor_names.index(factor) if factor is not None else 0
terms = list(result.data.terms_of(result.spec.all_factors[number].varying))
term = terms[0] if terms else None
if len(terms) > 1:
    state.seed(TERM_KEY, terms[0], terms)
    term = st.selectbox("Varying term", terms, key=TERM_KEY,
                        help="The dial moves this term's group-level sd; the other group effects stay at their "
                             "posterior means.")
scale = widgets.scale_choice(fit)

try:
    dial = cache.pooling_dial(fit, key, factor, term, scale)
except ValueError as error:
    st.warning("The pooling dial cannot be drawn for this choice:", icon=":material/warning:")
    st.text(str(error))  # the message may quote column and group names
    st.stop()

st.markdown(
    "The group-level sd **τ** says how different the groups are. At **τ = 0** every group gets the population "
    "value (complete pooling); as **τ** grows each group keeps its own estimate (no pooling). Drag the slider "
    "under the chart: every group moves to its estimate given that τ. The posterior does not choose one τ: the "
    "grey points, the posterior means, average the middle row over every τ the data allow."
)
# The shared highlight if it is a group of this factor, else the smallest group (the one pooling moves most).
labels = set(dial.groups["group"])
smallest = str(dial.groups.loc[dial.groups["rows"].idxmin(), "group"])
highlight = state.highlight() if state.highlight() in labels else smallest
widgets.chart(
    charts.pooling_dial_chart(dial.curve, dial.tau, dial.summaries, groups=dial.groups,
                              start_position=dial.start_position, value_title=dial.value_title,
                              tau_title=dial.tau_title, highlight=highlight),
    "Drag the slider under the chart from complete pooling (left, τ = 0) to no pooling (right). The bar at the "
    "bottom is the highlighted group (or the smallest): how much of its estimate comes from its own rows and how "
    "much from the population.",
    "pooling_dial", key="w_dial_chart",
)
st.text(dial.method_note)  # quotes term and factor names: plain text

st.subheader("What this fit says, to read aloud while turning the dial")
for paragraph in dial.story().split("\n\n"):
    st.text(paragraph)  # quotes group names: plain text

st.subheader("Every group's path from complete to no pooling")
widgets.chart(
    charts.pooling_trajectory_chart(dial.curve, dial.tau, dial.summaries, value_title=dial.value_title,
                                    tau_title=dial.tau_title, highlight=highlight),
    "Follow a line from left to right: the group starts on the population value and ends at its own estimate. "
    "Where the posterior of τ (below) has its mass is where the posterior mean takes it.",
    "pooling_trajectory", key="w_dial_trajectory",
)

st.subheader("The groups")
widgets.table(dial.groups, "pooling_dial_groups")
st.caption("own_estimate: no pooling; joint_mode: τ = 0; marginal_mode: at the marginal mode of τ; posterior_mean: "
           "the fit's; averaged: the estimate given τ averaged over the posterior draws of τ; pooling_factor: the "
           "weight on the population, averaged likewise; prior_rows: what the population is worth, in rows of the "
           "group, at the posterior mean of τ.")
