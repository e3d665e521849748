"""Shrinkage: each group's own estimate (no pooling), and how far partial pooling pulls it toward the population.

Clicking a group in any chart, or choosing it in "Highlight a group", highlights it in every chart (and on the
other results pages) through ``state.highlight()``.
"""

import streamlit as st

from hiermodels import charts, interpret
from hiermodels.spec import POOLING_LABELS
from hiermodels_ui import cache, state, widgets

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

table = cache.shrinkage_table(fit, key)
if not {"none", "partial"} <= set(fit.poolings):
    fitted = ", ".join(POOLING_LABELS[p] for p in fit.poolings)
    st.info(
        "Shrinkage compares each group's own estimate (no pooling) with its partial-pooling estimate, so it needs "
        f"both fits; this fit has {fitted} only. Fit all three poolings on the **Model & fit** page to see the "
        "arrows. Below: each group's estimates under the poolings that were fitted.",
        icon=":material/info:",
    )
    st.page_link("pages/2_model.py", label="Go to Model & fit", icon=":material/play_arrow:")
    widgets.table(table, "shrinkage")
    st.stop()

st.markdown(
    "Each **circle** is a group's own estimate, from its rows alone (no pooling); the **arrow** runs to the "
    "group's partial-pooling estimate. Groups with few rows (left) have noisy estimates of their own and move "
    "most toward the population mean (dashed line); large groups (right) barely move. The solid line is complete "
    "pooling, which ignores the groups altogether."
)

labels = list(fit["partial"].data.group_labels)
highlight = state.highlight() if state.highlight() in labels else None


# The selectbox always shows the shared highlight, which a click in a chart may have changed.
st.session_state[HIGHLIGHT_KEY] = highlight if highlight is not None else NO_HIGHLIGHT
left, right = st.columns([2, 1], vertical_alignment="bottom")
left.selectbox("Highlight a group", [NO_HIGHLIGHT, *labels], key=HIGHLIGHT_KEY, on_change=_remember_highlight,
               help="Or click a group's circle in a chart. The highlight carries over to the other pages.")
show_intervals = right.checkbox("Show intervals", key="w_shrinkage_intervals",
                                help="95% intervals: no pooling left of each group, partial pooling right of it.")

terms = list(dict.fromkeys(table["term"]))
for index, term in enumerate(terms):
    chart_key = f"w_shrinkage_chart_{index}"
    event = widgets.chart(
        charts.shrinkage_chart(table, term, show_intervals=show_intervals, highlight=highlight, selectable=True),
        "Look at the left of the chart: the groups with the fewest rows have the longest arrows.",
        f"shrinkage_{index + 1}", key=chart_key, selectable=True,
    )
    _follow_click(event, chart_key, labels)

if len(terms) >= 2:
    x_term, y_term = terms[0], terms[1]
    if len(terms) > 2:
        left, right = st.columns(2)
        x_term = left.selectbox("Horizontal axis", terms, key="w_shrinkage_x")
        y_term = right.selectbox("Vertical axis", [t for t in terms if t != x_term], key="w_shrinkage_y")
    ellipse = interpret.population_ellipse(fit["partial"], x_term, y_term)
    event = widgets.chart(
        charts.shrinkage_2d_chart(table, x_term, y_term, ellipse, highlight=highlight, selectable=True),
        "Follow the arrows toward the population mean (the cross): groups with few rows travel furthest, and both "
        "of a group's coefficients move together.",
        "shrinkage_2d", key="w_shrinkage_chart_2d", selectable=True,
    )
    _follow_click(event, "w_shrinkage_chart_2d", labels)

st.subheader("The numbers")
st.caption("One row per group and varying term: the estimate and 95% interval under each pooling, and the pooling "
           "factor (0 = not moved, 1 = moved all the way to the population mean).")
widgets.table(table, "shrinkage")
