"""Shrinkage: each group's own estimate (no pooling), and how far partial pooling pulls it toward the population.

Clicking a group in any chart, or choosing it in "Highlight a group", highlights it in every chart (and on the
other results pages) through ``state.highlight()``. When the loaded sample carries a held-out truth (baseball's
rest-of-season averages, the simulated daughters' family means), a last section compares each pooling with it.

With several grouping factors a "Grouping factor" choice picks whose groups are shown: a further factor's groups
shrink toward the term's population mean as the first factor's do (``PoolingComparison.shrinkage(factor=...)``);
the group-level regression, the two-coefficient view and the truth concern the first factor's groups.
"""

import streamlit as st

from hiermodels import charts
from hiermodels.model.spec import INTERCEPT, POOLING_LABELS
from hiermodels.results import group_level, interpret
from hiermodels_ui import cache, navigation, state, widgets

widgets.require_frame()

NO_HIGHLIGHT = "(none)"
HIGHLIGHT_KEY = "w_highlight"


def _remember_highlight() -> None:
    choice = st.session_state[HIGHLIGHT_KEY]
    state.set_highlight(None if choice == NO_HIGHLIGHT else choice)


def _follow_click(event, chart_key: str, labels: list[str]) -> None:
    """Highlight the group just clicked in a chart, on every chart. A chart keeps its selection across reruns, so
    only a *new* selection counts (otherwise choosing "(none)" in the selectbox would be undone by an old click)."""
    group = widgets.selected_group(event)
    last = f"{chart_key}_last_pick"
    if group == st.session_state.get(last):
        return
    st.session_state[last] = group
    if group is not None and group in labels and group != state.highlight():
        state.set_highlight(group)
        st.rerun()


st.title("Shrinkage")
key, fit = widgets.current_fit()
widgets.fitted_model(fit)
scale = widgets.scale_choice(fit)
factor = widgets.factor_choice(fit)
any_result = fit[fit.poolings[0]]
first_factor = widgets.is_first_factor(any_result, factor)

table = cache.shrinkage_table(fit, key, scale, factor)
if not {"none", "partial"} <= set(fit.poolings):
    fitted = ", ".join(POOLING_LABELS[p] for p in fit.poolings)
    st.info(
        "Shrinkage compares each group's own estimate (no pooling) with its partial-pooling estimate, so it needs "
        f"both fits; this fit has {fitted} only. Fit all three poolings on the **Model & fit** page to see the "
        "arrows. Below: each group's estimates under the poolings that were fitted.",
        icon=":material/info:",
    )
    navigation.link(navigation.MODEL, "Go to Model & fit")
    widgets.table(table, "shrinkage")
    st.stop()

st.markdown(
    "Each **circle** is a group's own estimate, from its rows alone (no pooling); the **arrow** runs to the "
    "group's partial-pooling estimate. Groups whose own estimate is noisy (few rows, or a large standard error) "
    "move most toward the population mean (dashed line); well-measured groups barely move. The solid line is "
    "complete pooling, which ignores the groups altogether. The horizontal axis is group size, or, when every "
    "group has the same size, what still tells the groups apart; each chart's caption says which."
)

labels = widgets.factor_labels(fit["partial"], factor)
highlight = state.highlight() if state.highlight() in labels else None


# The selectbox always shows the shared highlight, which a click in a chart may have changed.
st.session_state[HIGHLIGHT_KEY] = highlight if highlight is not None else NO_HIGHLIGHT
left, right = st.columns([2, 1], vertical_alignment="bottom")
left.selectbox("Highlight a group", [NO_HIGHLIGHT, *labels], key=HIGHLIGHT_KEY, on_change=_remember_highlight,
               help="Or click a group's circle in a chart. The highlight carries over to the other pages.")
show_intervals = right.checkbox("Show intervals", key="w_shrinkage_intervals",
                                help="95% intervals: no pooling left of each group, partial pooling right of it.")

# A numeric predictor of the group (radon's county uranium): Gelman & Hill's figure, each group's level against it.
group_predictors = group_level.numeric_group_predictors(fit["partial"]) if first_factor else ()
if group_predictors:
    st.subheader("Toward a group-level regression")
    predictor = group_predictors[0]
    if len(group_predictors) > 1:
        predictor = st.selectbox("Group-level predictor", group_predictors, key="w_group_level_predictor")
    regression = group_level.group_level_regression(fit, predictor, scale=scale)
    group_column = fit["partial"].spec.group
    st.text(f"{predictor} is a property of {group_column}, and partial pooling uses it: each {group_column} is "
            f"pulled toward its own predicted value from {predictor} (the line), not toward one flat mean.")
    event = widgets.chart(
        charts.group_level_chart(regression, show_intervals=show_intervals, highlight=highlight, selectable=True),
        "Follow each rule from a group's own estimate (hollow) to its partial-pooling estimate (filled): small "
        "groups land near the line, large ones stay near their own data. Each level is the group's intercept, read "
        "where the row-level predictors are 0 (the vertical axis says where).",
        "group_level", key="w_group_level_chart", selectable=True,
    )
    _follow_click(event, "w_group_level_chart", labels)

terms = list(dict.fromkeys(table["term"]))
charted, own_caption = interpret.own_estimates(table)
for index, term in enumerate(terms):
    if group_predictors and term == INTERCEPT:
        continue  # each group's level moves toward its own predicted value: the figure above shows it
    chart_key = f"w_shrinkage_chart_{index}"
    axis = interpret.shrinkage_axis(charted, term)
    event = widgets.chart(
        charts.shrinkage_chart(charted, term, show_intervals=show_intervals, highlight=highlight, selectable=True,
                               axis=axis),
        " ".join(filter(None, [axis.caption, own_caption])), f"shrinkage_{index + 1}", key=chart_key,
        selectable=True,
    )
    _follow_click(event, chart_key, labels)

if len(terms) >= 2 and not first_factor:
    st.caption("The view of two coefficients together, with the population's ellipses, is drawn for the first "
               "grouping factor's groups.")
elif len(terms) >= 2:
    x_term, y_term = terms[0], terms[1]
    if len(terms) > 2:
        left, right = st.columns(2)
        x_term = left.selectbox("Horizontal axis", terms, key="w_shrinkage_x")
        y_term = right.selectbox("Vertical axis", [t for t in terms if t != x_term], key="w_shrinkage_y")
    ellipse = interpret.population_ellipse(fit["partial"], x_term, y_term)
    sizes_differ = interpret.shrinkage_axis(table, x_term).kind == "group size"
    event = widgets.chart(
        charts.shrinkage_2d_chart(table, x_term, y_term, ellipse, highlight=highlight, selectable=True),
        "Follow the arrows toward the population mean (the cross): "
        + ("groups with few rows travel furthest" if sizes_differ else
           "every group has the same number of rows, so the groups furthest out travel furthest")
        + ", and both of a group's coefficients move together.",
        "shrinkage_2d", key="w_shrinkage_chart_2d", selectable=True,
    )
    _follow_click(event, "w_shrinkage_chart_2d", labels)

loaded = state.table()
sample = loaded.sample if loaded is not None else None
if first_factor and sample is not None and sample.truth is not None and sample.truth_applies(fit["partial"].spec):
    st.subheader("Against the truth")
    st.markdown(
        "This sample carries each group's true value, which the model never saw. Efron & Morris (1975) made the "
        "point with baseball: a player's own average after 45 at-bats predicts his average over the rest of the "
        "season *worse* than the shrunken averages do. Follow each line from the group's own estimate to its "
        "partial-pooling estimate to the truth, and compare the squared errors below."
    )
    st.caption("The truth: " + sample.truth.source + ".")
    truth = sample.load_truth()
    natural = table if scale == "natural" else cache.shrinkage_table(fit, key, "natural")  # the truth's own scale
    errors = interpret.truth_errors(natural, truth)
    widgets.chart(
        charts.truth_chart(interpret.truth_comparison(natural, truth), sample.truth.label, highlight=highlight),
        "Follow the lines from left to right: a line that comes closer to the truth after the middle axis is a "
        "group that shrinkage helped.",
        "truth", key="w_truth_chart",
    )
    widgets.chart(charts.truth_error_chart(errors), interpret.truth_summary(errors), "truth_errors",
                  key="w_truth_error_chart")
    st.caption("Squared errors summed over the groups (sum_squared_error) and averaged (mean_squared_error), on "
               "the scale of the truth; relative_to_no_pooling divides by no pooling's sum.")
    widgets.table(errors, "truth_errors")

st.subheader("The numbers")
st.caption("One row per group and varying term: the estimate and 95% interval under each pooling, and the pooling "
           "factor (0 = not moved, 1 = moved all the way to the population mean).")
widgets.table(table, "shrinkage")
