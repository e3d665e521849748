"""Charts: tidy DataFrames in, Altair charts out. Nothing here samples, fits or shows anything.

The frames come from :mod:`hiermodels.results.interpret` (and :meth:`PoolingComparison.shrinkage`,
:meth:`PoolingComparison.population`); every function *returns* a chart, which the caller displays
(``st.altair_chart``) or exports (:func:`to_png`, :func:`to_svg`).

Design rules
------------
* One palette, Okabe & Ito's colour-blind-safe one, and one colour per pooling (:data:`POOLING_COLORS`), used by
  every chart in which the poolings appear, always labelled ``complete pooling`` / ``no pooling`` /
  ``partial pooling``.
* A theme for lecture halls (:func:`use_theme`): no text under 16 px (axis labels, legends, text marks, subtitles
  16 px, axis titles 18 px, titles 22 px), black text on white; axis labels thinned rather than run together.
* Counts (group sizes, draws) get integer axes; every printed number has 4 significant digits
  (:data:`NUMBER_FORMAT`); group names stand beside the points when there are few groups, and beside the
  highlighted group always.
* User strings (group labels, column and term names) travel as *data* (rows, tooltips, facet headers) or as
  plain-text titles; they are never spliced into Vega expressions or used as field names, and nothing here
  produces markdown or HTML. Conditions such as "the highlighted group" are computed into boolean columns.
* Inline data stay under Altair's 5,000-row limit because :mod:`hiermodels.results.interpret` thins the draws; the
  limit is never raised here.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import vl_convert as vlc

from hiermodels.errors import SpecError
from hiermodels.model import names
from hiermodels.model.spec import POOLING_LABELS, POOLINGS, Pooling
from hiermodels.results import interpret
from hiermodels.results.group_level import GroupLevelRegression

# ------------------------------------------------------------------------------------------------ palette
OKABE_ITO: Mapping[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}
POOLING_COLORS: Mapping[str, str] = {
    "complete": OKABE_ITO["vermillion"],
    "none": OKABE_ITO["blue"],
    "partial": OKABE_ITO["bluish green"],
}
MAP_COLOR = OKABE_ITO["reddish purple"]
MEAN_COLOR = OKABE_ITO["black"]
POPULATION_COLOR = OKABE_ITO["black"]
UNIDENTIFIED_COLOR = "#8c8c8c"
INTERVAL_COLOR = "#4d4d4d"
COLLAPSED_COLOR = OKABE_ITO["vermillion"]
DIVERGENT_COLOR = OKABE_ITO["vermillion"]  # red: a warning, and no pooling colour appears in the funnel
DIVERGENT_SIZE = 160  # area in px^2 of a divergent draw's dot: about 14 px across, 5x a plain draw's
# Chains and other unordered categories without a meaning of their own (yellow left out: too pale on white).
CATEGORY_COLORS: tuple[str, ...] = (
    OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["bluish green"], OKABE_ITO["reddish purple"],
    OKABE_ITO["sky blue"], OKABE_ITO["vermillion"], OKABE_ITO["black"],
)
TARGET_COLORS: Mapping[str, str] = {"existing group": OKABE_ITO["blue"], "new group": OKABE_ITO["orange"]}

UNIDENTIFIED_LABEL = "not identified by the group's own data"
UNIDENTIFIED_NOTE = (
    "The group's own data cannot identify this coefficient (e.g. a slope from one row, or a predictor that is "
    "constant within the group): its no-pooling estimate comes from the prior."
)
# One precision for every number a chart prints (tooltips, labels): 4 significant digits, enough to tell apart
# heights of 128.9 and 129.1 cm or batting averages of .2654 and .2700. NUMBER_FORMAT is d3's (Vega), _number
# Python's equivalent.
NUMBER_FORMAT = ".4~g"
# Above this many groups, a chart with one row per group hides the labels (tooltips still name the group).
MAX_LABELLED_GROUPS = 40
# Up to this many groups, scatter-like charts print every group's name beside its point.
MAX_TEXT_LABELS = 20
# A subtitle line longer than this many characters is wrapped (at the theme's subtitle size, about a chart's width).
SUBTITLE_CHARACTERS = 100

# ------------------------------------------------------------------------------------------------ theme
THEME_NAME = "hiermodels_lecture"
FONT = "Helvetica, Arial, 'DejaVu Sans', sans-serif"
AXIS_LABEL_PX = 16
AXIS_TITLE_PX = 18
TITLE_PX = 22
WIDTH = 760
HEIGHT = 460
SHRINKAGE_HEIGHT = HEIGHT + 60  # the shrinkage charts: room for the group names under the axis
POINT_SIZE = 110  # a group's point, in px² (Vega-Lite's size is the area); a highlighted one is 400


def lecture_theme() -> alt.theme.ThemeConfig:
    """Large type, black on white, the Okabe-Ito palette: readable from the back of a lecture hall."""
    axis: alt.theme.AxisConfigKwds = {
        "labelFontSize": AXIS_LABEL_PX,
        "titleFontSize": AXIS_TITLE_PX,
        "labelColor": "#000000",
        "titleColor": "#000000",
        "domainColor": "#000000",
        "tickColor": "#000000",
        "gridColor": "#dedede",
        "titleFontWeight": "bold",
        "labelLimit": 280,
        "titlePadding": 10,
        # Labels closer than this count as overlapping (and are thinned); Vega's default of 0 lets "305" and
        # "310" touch and read as "305310".
        "labelSeparation": 10,
    }
    return {
        "config": {
            "background": "#ffffff",
            "font": FONT,
            "padding": 10,
            "view": {"continuousWidth": WIDTH, "continuousHeight": HEIGHT, "stroke": "#000000"},
            "title": {
                "fontSize": TITLE_PX,
                "subtitleFontSize": AXIS_LABEL_PX,
                "color": "#000000",
                "subtitleColor": "#222222",
                "anchor": "start",
                "offset": 14,
                "subtitlePadding": 6,
            },
            "axis": axis,
            "legend": {
                "labelFontSize": AXIS_LABEL_PX,
                "titleFontSize": AXIS_LABEL_PX,
                "labelColor": "#000000",
                "titleColor": "#000000",
                "symbolSize": 220,
                "symbolStrokeWidth": 2.5,
                "labelLimit": 420,
                "orient": "bottom",
                "direction": "horizontal",
                "columns": 3,
                "columnPadding": 18,
                "rowPadding": 8,
            },
            "header": {"labelFontSize": AXIS_TITLE_PX, "titleFontSize": AXIS_TITLE_PX, "labelColor": "#000000"},
            "text": {"fontSize": AXIS_LABEL_PX, "color": "#000000"},
            "point": {"size": 110, "strokeWidth": 2},
            "line": {"strokeWidth": 3},
            "rule": {"strokeWidth": 2.5},
            "range": {"category": list(CATEGORY_COLORS)},
        }
    }


alt.theme.register(THEME_NAME, enable=False)(lecture_theme)


def use_theme() -> None:
    """Enable the lecture theme for every chart rendered from now on (``alt.theme`` is process-wide).

    In Streamlit, pass ``theme=None`` to ``st.altair_chart`` so that Streamlit's own theme does not replace it.
    """
    alt.theme.enable(THEME_NAME)


# ------------------------------------------------------------------------------------------------ export
def to_png(chart: alt.TopLevelMixin, scale: float = 2) -> bytes:
    """The chart as PNG bytes, rendered offline by vl-convert (bundled Vega) with the lecture theme."""
    return vlc.vegalite_to_png(_themed_spec(chart), scale=scale)


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as an SVG document, rendered offline by vl-convert with the lecture theme."""
    return vlc.vegalite_to_svg(_themed_spec(chart))


def _themed_spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    # Merging the theme's config into the dict (rather than enabling the theme around to_dict) keeps exports
    # independent of the process-wide theme registry, which other threads may be using.
    spec = chart.to_dict()
    spec["config"] = _merge(spec.get("config", {}), lecture_theme()["config"])
    return spec


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) \
            else value
    return out


# ------------------------------------------------------------------------------------------------ helpers
def _number(value: float) -> str:
    """A number as the charts print it (:data:`NUMBER_FORMAT`)."""
    return format(float(value), ".4g")


def _value_axis(**options: Any) -> alt.Axis:
    """A quantitative axis whose labels cannot run into each other ("305310"): about six ticks, and a label
    dropped whenever it would come closer than 12 px to its neighbour. No explicit format: Vega's own rounds to the
    tick step ("~g" would print 320 as "3.2e+2")."""
    return alt.Axis(**{"tickCount": 6, "labelOverlap": True, "labelSeparation": 12, **options})


def _count_axis(**options: Any) -> alt.Axis:
    """An axis of counts: whole-number ticks only, printed as integers."""
    return alt.Axis(**{"format": "d", "tickMinStep": 1, "tickCount": 8, "labelOverlap": True, "labelSeparation": 12,
                       **options})


def _layer(*charts: alt.Chart | alt.LayerChart) -> alt.LayerChart:
    """Charts drawn over each other in one panel. ``alt.layer`` hoists a row or column encoding that every layer
    shares into a FacetChart (so it is typed ``LayerChart | FacetChart``); charts here facet after layering, if
    at all, so this builds the LayerChart itself (what ``alt.layer`` does when nothing is hoisted)."""
    return alt.LayerChart(layer=list(charts))


def _title(text: str, subtitle: str | Sequence[str] | None = None) -> alt.Title:
    return alt.Title(text, subtitle=subtitle) if subtitle else alt.Title(text)


def _pooling_scale(extra: Mapping[str, str] | None = None, present: Sequence[str] | None = None) -> alt.Scale:
    """The colour scale of the poolings (:data:`POOLING_COLORS`) plus ``extra`` label -> colour entries, limited
    to the labels in ``present`` (so that the legend lists only what the chart shows)."""
    labels = {POOLING_LABELS[p]: POOLING_COLORS[p] for p in POOLINGS}
    labels.update(extra or {})
    if present is not None:
        labels = {label: colour for label, colour in labels.items() if label in set(present)}
    return alt.Scale(domain=list(labels), range=list(labels.values()))


def _shrinkage_scale(shrinkage_df: pd.DataFrame, identified: pd.Series) -> alt.Scale:
    present = [POOLING_LABELS["partial"]]
    if "complete" in shrinkage_df:
        present.append(POOLING_LABELS["complete"])
    if identified.any():
        present.append(POOLING_LABELS["none"])
    if "population_mean" in shrinkage_df:
        present.append("population mean")
    if not identified.all():
        present.append(UNIDENTIFIED_LABEL)
    return _pooling_scale({"population mean": POPULATION_COLOR, UNIDENTIFIED_LABEL: UNIDENTIFIED_COLOR}, present)


def _term_title(shrinkage_df: pd.DataFrame, term: str) -> str:
    """The term's name, with what its numbers are when the table says (``shown_as``: "probability", ...)."""
    if "shown_as" not in shrinkage_df:
        return term
    shown = shrinkage_df.loc[shrinkage_df["term"] == term, "shown_as"]
    label = str(shown.iloc[0]) if len(shown) and isinstance(shown.iloc[0], str) else ""
    return f"{term} ({label})" if label else term


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs the column(s) {', '.join(missing)}; got {', '.join(map(str, frame.columns))}")


def _check_highlight(groups: pd.Series, highlight: str | None) -> None:
    if highlight is not None and highlight not in set(groups):
        raise SpecError(f"cannot highlight {highlight!r}: there is no such group in this table")


def _log_ticks(low: float, high: float, *, integer: bool = False) -> list[float]:
    """1-2-5 ticks between low and high (every 1..9 when that gives fewer than four), for a readable log axis;
    with ``integer`` only whole numbers (an axis of counts)."""
    exponents = range(math.floor(math.log10(max(low, 1e-300))) - 1, math.ceil(math.log10(max(high, 1e-300))) + 1)
    for mantissas in ((1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [float(f"{m}e{e}") for e in exponents for m in mantissas if low <= float(f"{m}e{e}") <= high]
        if integer:
            ticks = [t for t in ticks if t >= 1 and t == round(t)]
        if len(ticks) >= 4:
            break
    return ticks


def _side_by_side(x: pd.Series, step: float = 10.0, half_width: Mapping[float, float] | float = 24.0) -> np.ndarray:
    """Pixel offsets that set groups with the same x side by side (``step`` px apart, within ``half_width`` px of
    x, a number or one per x value): drawn with the marks' ``xOffset``, so that the data, the axis and the
    tooltips keep the true x."""
    out = np.zeros(len(x))
    for value, index in x.groupby(x).groups.items():
        k = len(index)
        if k > 1:
            half = half_width[value] if isinstance(half_width, Mapping) else half_width
            gap = min(step, 2 * half / (k - 1))
            out[x.index.get_indexer(index)] = (np.arange(k) - (k - 1) / 2) * gap
    return out


def _size_lanes(sizes: pd.Series, low: float, high: float) -> dict[float, float]:
    """For each group size n on a log axis from low to high, WIDTH px wide: the half width in px of its lane, 40%
    of the way to n + 1 (the nearer neighbour on a log axis), at most 24 px. Groups of size n stand side by side
    inside it, so that none of them can be read as n - 1 or n + 1."""
    px_per_log = WIDTH / math.log(high / low)
    return {n: min(24.0, 0.4 * px_per_log * math.log((n + 1) / n)) for n in sizes.unique()}


# ------------------------------------------------------------------------------------------------ data
def group_sizes_chart(df: pd.DataFrame) -> alt.Chart:
    """Rows per group, largest first (from :func:`interpret.group_sizes`)."""
    _require_columns(df, ["group", "n"], "group_sizes_chart")
    many = len(df) > MAX_LABELLED_GROUPS
    y = alt.Y(
        "group:N",
        sort=alt.EncodingSortField("n", order="descending"),
        title="groups (largest first; hover for names)" if many else "group",
        axis=alt.Axis(labels=not many, ticks=not many),
    )
    return (
        alt.Chart(df, title=_title("How many rows each group has",
                                   "Small groups are the ones partial pooling moves the most"))
        .mark_bar(color=OKABE_ITO["blue"])
        .encode(
            x=alt.X("n:Q", title="rows in the group (n)", axis=_count_axis()),
            y=y,
            tooltip=[alt.Tooltip("group:N"), alt.Tooltip("n:Q", title="rows", format="d")],
        )
        .properties(width=WIDTH, height=min(600, 18 * len(df)) if many else alt.Step(24))
    )


# ------------------------------------------------------------------------------------------------ shrinkage
def shrinkage_chart(
    shrinkage_df: pd.DataFrame,
    term: str,
    *,
    show_intervals: bool = False,
    highlight: str | None = None,
    selectable: bool = False,
    axis: interpret.ShrinkageAxis | None = None,
) -> alt.LayerChart:
    """Each group's no-pooling estimate, with an arrow to its partial-pooling estimate, against what decides how
    far it moves: group size, or, when every group has the same size, the width of its own interval or its rank
    (:func:`interpret.shrinkage_axis`, computed here unless ``axis`` is given).

    ``shrinkage_df`` is :meth:`PoolingComparison.shrinkage` (needs the ``none`` and ``partial`` columns;
    ``complete`` and ``population_mean`` are drawn as horizontal lines when present). Groups at the same x (the
    same size) stand side by side, a few pixels apart (the axis value is never moved). With at most
    :data:`MAX_TEXT_LABELS` groups each is labelled with its name (on the axis when ranked); ``highlight`` names a
    group to draw bigger and label in bold (the others are dimmed); ``selectable`` adds the point selection
    ``group_pick`` on the field ``group`` (click a no-pooling point), for ``st.altair_chart(..., on_select=...)``.
    """
    _require_columns(shrinkage_df, ["group", "term", "n", "identified", "none", "partial"], "shrinkage_chart")
    axis = axis if axis is not None else interpret.shrinkage_axis(shrinkage_df, term)
    d = axis.frame.copy()
    _check_highlight(d["group"], highlight)
    d["identified"] = d["identified"].astype(bool)
    d["highlighted"] = d["group"] == highlight
    d["direction"] = np.where(d["partial"] >= d["none"], 0.0, 180.0)
    d["series_none"] = np.where(d["identified"], POOLING_LABELS["none"], UNIDENTIFIED_LABEL)
    d["series_partial"] = POOLING_LABELS["partial"]
    d["note"] = np.where(d["identified"], "", UNIDENTIFIED_NOTE)

    many = len(d) > MAX_LABELLED_GROUPS
    d["dx"] = 0.0
    if axis.kind == "group size":
        low, high = float(d["x"].min()) / 1.25, float(d["x"].max()) * 1.25
        d["dx"] = _side_by_side(d["x"], half_width=_size_lanes(d["x"], low, high))
        x = alt.X("x:Q", title=axis.title, scale=alt.Scale(type="log", domain=[low, high], nice=False),
                  axis=alt.Axis(values=_log_ticks(low, high, integer=True), format="d", grid=False))
    elif axis.kind == "interval width":
        d["dx"] = _side_by_side(d["x"], step=6.0, half_width=6.0)  # equal widths (the same known se): barely apart
        x = alt.X("x:Q", title=axis.title, scale=alt.Scale(zero=False, padding=24), axis=_value_axis(grid=False))
    else:
        x = alt.X("group:N", title=axis.title + (" (hover for names)" if many else ""),
                  sort=alt.EncodingSortField("x", op="min"),
                  axis=alt.Axis(labels=not many, ticks=not many, labelAngle=-40, labelAlign="right", grid=False))
    y_title = f"estimate: {_term_title(shrinkage_df, term)}"
    colour_scale = _shrinkage_scale(d, d["identified"])
    dim = alt.condition(alt.datum.highlighted, alt.value(1.0), alt.value(0.3)) if highlight else alt.value(0.95)
    tooltip = [
        alt.Tooltip("group:N"),
        alt.Tooltip("n:Q", title="rows (n)", format="d"),
        alt.Tooltip("none:Q", title="no pooling", format=NUMBER_FORMAT),
        alt.Tooltip("partial:Q", title="partial pooling", format=NUMBER_FORMAT),
    ]
    if axis.kind == "interval width":
        tooltip.insert(2, alt.Tooltip("x:Q", title="width of own interval", format=NUMBER_FORMAT))
    if "pooling_factor" in d:
        tooltip.append(alt.Tooltip("pooling_factor:Q", title="pooling factor", format=".2f"))
    base = alt.Chart(d)

    layers: list[alt.Chart] = []
    reference_rules, reference_labels = _reference_lines(d, colour_scale)
    layers += reference_rules
    if show_intervals:
        layers += _interval_rules(d, x, colour_scale)
    # Arrow shafts (no pooling -> partial pooling), then heads at the partial-pooling estimate.
    layers.append(base.mark_rule(strokeWidth=2, xOffset=alt.ExprRef("datum.dx")).encode(
        x=x, y=alt.Y("none:Q", title=y_title, scale=alt.Scale(zero=False), axis=_value_axis()), y2="partial:Q",
        color=alt.condition(alt.datum.identified, alt.value(INTERVAL_COLOR), alt.value("#c4c4c4")),
        opacity=dim,
    ))
    layers.append(base.mark_point(shape="triangle", filled=True, xOffset=alt.ExprRef("datum.dx")).encode(
        x=x, y="partial:Q",
        angle=alt.Angle("direction:Q", scale=None),
        color=alt.Color("series_partial:N", scale=colour_scale, title=None),
        size=alt.condition(alt.datum.highlighted, alt.value(420), alt.value(150)),
        opacity=dim,
        tooltip=tooltip,
    ))
    points = base.mark_point(filled=False, strokeWidth=2.5, cursor="pointer" if selectable else "default",
                             xOffset=alt.ExprRef("datum.dx")).encode(
        x=x, y="none:Q",
        color=alt.Color("series_none:N", scale=colour_scale, title=None),
        fill=alt.condition(alt.datum.identified, alt.value(POOLING_COLORS["none"]), alt.value("#ffffff")),
        size=alt.condition(alt.datum.highlighted, alt.value(400), alt.value(POINT_SIZE)),
        strokeWidth=alt.condition(alt.datum.highlighted, alt.value(4), alt.value(2)),
        opacity=dim,
        tooltip=[*tooltip, alt.Tooltip("note:N", title="note")],
    )
    if selectable:
        points = points.add_params(alt.selection_point(name="group_pick", fields=["group"], on="click"))
    layers.append(points)
    layers += _name_labels(base, x, "none:Q", label_all=len(d) <= MAX_TEXT_LABELS and axis.kind != "rank",
                           offset="datum.dx")
    layers += reference_labels
    subtitle = [
        f"Term: {term}. Each arrow runs from a group's own estimate (no pooling) to its partial-pooling estimate.",
        SHRINKAGE_HINTS[axis.kind],
    ]
    hidden = _hidden_moves_note(d, show_intervals=show_intervals)
    if hidden:
        subtitle += textwrap.wrap(hidden, SUBTITLE_CHARACTERS)
    return _layer(*layers).properties(
        title=_title("Shrinkage: how far each group's estimate is pulled", subtitle),
        width=WIDTH, height=SHRINKAGE_HEIGHT,
    )


SHRINKAGE_HINTS: Mapping[str, str] = {
    "group size": "Small groups move furthest toward the population mean.",
    "interval width": "Every group has the same n; those whose own estimate is least certain move furthest.",
    "rank": "Every group has the same n; in order of their own estimate, the extremes move furthest.",
}


# A group's circle's radius as a share of the shrinkage chart's value axis (a POINT_SIZE px² circle, radius about
# 6 px, on a plot SHRINKAGE_HEIGHT px tall): a move under about 1.1 % of the axis's span ends under its own circle.
HIDDEN_MOVE_SHARE = math.sqrt(POINT_SIZE / math.pi) / SHRINKAGE_HEIGHT


def _hidden_moves_note(d: pd.DataFrame, *, show_intervals: bool) -> str | None:
    """A sentence for the chart when no arrow can be seen: every identified group moves less than a point's radius
    on the value axis (Penicillin's six samples, 24 rows each, move at most about 0.01 on an axis of 5), so the
    partial-pooling heads sit under the no-pooling circles. Without it a reader looks for the legend's
    partial-pooling points and finds none. ``None`` when some arrow is visible."""
    moved = d.loc[d["identified"], ["none", "partial"]]
    if moved.empty:
        return None
    columns = [c for c in ("none", "partial", "complete", "population_mean") if c in d]
    if show_intervals:
        columns += [c for c in ("none_lower", "none_upper", "partial_lower", "partial_upper") if c in d]
    values = d[columns].to_numpy(dtype=float)
    span = float(np.nanmax(values) - np.nanmin(values))
    move = (moved["partial"] - moved["none"]).abs()
    largest = float(move.max())
    if not span > 0 or largest >= HIDDEN_MOVE_SHARE * span:
        return None
    # The largest move as a number only: group names are user strings and travel as data, never in the title.
    return (f"No arrow shows here: every group moves less than its circle's radius (at most {_number(largest)}), "
            "so partial pooling barely changes these estimates.")


def _name_labels(base: alt.Chart, x: alt.X, y: str, *, label_all: bool, offset: str = "0") -> list[alt.Chart]:
    """Group names beside their points (``offset``: a Vega expression for the point's own x offset in px):
    every group's when ``label_all``, and the highlighted group's in bold always, clear of its bigger point. The
    names are data (the ``group`` field), never part of an expression."""
    layers = []
    if label_all:
        layers.append(base.transform_filter(~alt.datum.highlighted).mark_text(
            align="left", baseline="middle", xOffset=alt.ExprRef(f"{offset} + 12"), color="#333333",
        ).encode(x=x, y=y, text="group:N"))
    layers.append(base.transform_filter(alt.datum.highlighted).mark_text(
        align="left", baseline="middle", xOffset=alt.ExprRef(f"{offset} + 18"), fontWeight="bold", color="#000000",
    ).encode(x=x, y=y, text="group:N"))
    return layers


def _reference_lines(d: pd.DataFrame, colour_scale: alt.Scale) -> tuple[list[alt.Chart], list[alt.Chart]]:
    """Horizontal lines for the complete-pooling estimate and the population mean, and their labels (right edge;
    returned apart so that they can be drawn on top of the points). A value that differs between groups (the
    level predicted from a group-level predictor: :mod:`hiermodels.results.comparison`) is no line."""
    rows = []
    if "complete" in d and d["complete"].notna().any() and d["complete"].nunique() == 1:
        rows.append({"series": POOLING_LABELS["complete"], "value": float(d["complete"].iloc[0]), "dash": 0})
    if "population_mean" in d and d["population_mean"].notna().any() and d["population_mean"].nunique() == 1:
        rows.append({"series": "population mean", "value": float(d["population_mean"].iloc[0]), "dash": 1})
    if not rows:
        return [], []
    lines = pd.DataFrame(rows)
    lines["text"] = lines["series"] + " " + lines["value"].map(_number)
    rules: list[alt.Chart] = [alt.Chart(lines).mark_rule(strokeWidth=3).encode(
        y="value:Q",
        color=alt.Color("series:N", scale=colour_scale, title=None),
        strokeDash=alt.StrokeDash("dash:N", scale=alt.Scale(domain=[0, 1], range=[[1, 0], [8, 5]]), legend=None),
        tooltip=[alt.Tooltip("series:N", title="line"), alt.Tooltip("value:Q", format=NUMBER_FORMAT)],
    )]
    # Labels sit right of the plot, the lower line's a little lower and the upper one's a little higher, so
    # that close lines stay legible and no label covers a point.
    order = lines.sort_values("value").reset_index(drop=True)
    labels: list[alt.Chart] = []
    for position in range(len(order)):
        below = position == 0 and len(order) > 1
        labels.append(alt.Chart(order.iloc[[position]]).mark_text(
            x="width", align="left", dx=8, dy=12 if below else -12, fontWeight="bold",
        ).encode(y="value:Q", text="text:N", color=alt.Color("series:N", scale=colour_scale, title=None)))
    return rules, labels


def _interval_rules(d: pd.DataFrame, x: alt.X, colour_scale: alt.Scale) -> list[alt.Chart]:
    """Thin interval rules: no pooling 5 px left of the group's position, partial pooling 5 px right of it."""
    frames = []
    shifts: tuple[tuple[Pooling, float], ...] = (("none", -5.0), ("partial", 5.0))
    for pooling, shift in shifts:
        lower, upper = f"{pooling}_lower", f"{pooling}_upper"
        if lower not in d or upper not in d:
            continue
        part = d[["group", "n", "x", "highlighted", "identified"]].assign(
            dx=d["dx"] + shift, lower=d[lower], upper=d[upper], series=POOLING_LABELS[pooling])
        if pooling == "none":
            part = part[d["identified"]]  # a prior-driven interval would swamp the axis
        frames.append(part)
    if not frames:
        return []
    intervals = pd.concat(frames, ignore_index=True)
    return [alt.Chart(intervals).mark_rule(strokeWidth=1.5, xOffset=alt.ExprRef("datum.dx")).encode(
        x=x, y="lower:Q", y2="upper:Q",
        color=alt.Color("series:N", scale=colour_scale, title=None),
        opacity=alt.condition(alt.datum.highlighted, alt.value(0.9), alt.value(0.45)),
    )]


def shrinkage_2d_chart(
    shrinkage_df: pd.DataFrame,
    x_term: str,
    y_term: str,
    ellipse_df: pd.DataFrame,
    *,
    highlight: str | None = None,
    selectable: bool = False,
) -> alt.LayerChart:
    """Two coefficients at once (after Tristan Mahr): arrows from each group's no-pooling point to its
    partial-pooling point, the complete-pooling point, and the population's ellipses
    (:func:`interpret.population_ellipse`).

    The arrowheads are rotated with the chart's own scales (a Vega ``scale()`` expression), so they point the
    right way at any size; keep this chart a single layered view (do not concatenate it). Group names stand beside
    the no-pooling points when there are at most :data:`MAX_TEXT_LABELS` groups, the highlighted group's always.
    """
    _require_columns(shrinkage_df, ["group", "term", "n", "identified", "none", "partial"], "shrinkage_2d_chart")
    _require_columns(ellipse_df, ["prob", "order", "x", "y"], "shrinkage_2d_chart")
    wide = _two_terms(shrinkage_df, x_term, y_term)
    _check_highlight(wide["group"], highlight)
    wide["highlighted"] = wide["group"] == highlight
    wide["series_none"] = np.where(wide["identified"], POOLING_LABELS["none"], UNIDENTIFIED_LABEL)
    wide["series_partial"] = POOLING_LABELS["partial"]
    wide["note"] = np.where(wide["identified"], "", UNIDENTIFIED_NOTE)
    colour_scale = _shrinkage_scale(shrinkage_df, wide["identified"])
    dim = alt.condition(alt.datum.highlighted, alt.value(1.0), alt.value(0.3)) if highlight else alt.value(0.9)
    x_axis = alt.X("x_none:Q", title=_term_title(shrinkage_df, x_term), scale=alt.Scale(zero=False),
                   axis=_value_axis())
    y_axis = alt.Y("y_none:Q", title=_term_title(shrinkage_df, y_term), scale=alt.Scale(zero=False),
                   axis=_value_axis())
    tooltip = [
        alt.Tooltip("group:N"),
        alt.Tooltip("n:Q", title="rows (n)", format="d"),
        alt.Tooltip("x_none:Q", title=f"no pooling: {x_term}", format=NUMBER_FORMAT),
        alt.Tooltip("y_none:Q", title=f"no pooling: {y_term}", format=NUMBER_FORMAT),
        alt.Tooltip("x_partial:Q", title=f"partial pooling: {x_term}", format=NUMBER_FORMAT),
        alt.Tooltip("y_partial:Q", title=f"partial pooling: {y_term}", format=NUMBER_FORMAT),
    ]

    ellipses = ellipse_df.assign(label=ellipse_df["prob"].map(lambda p: f"{p:.0%} of groups"))
    tops = ellipses.loc[ellipses.groupby("prob")["y"].idxmax()]
    layers = [alt.Chart(ellipses).mark_line(strokeWidth=2, color=POPULATION_COLOR, strokeDash=[6, 4]).encode(
        x="x:Q", y="y:Q", detail="prob:N", order="order:Q")]
    ellipse_labels = alt.Chart(tops).mark_text(dy=-10, fontWeight="bold").encode(x="x:Q", y="y:Q", text="label:N")
    base = alt.Chart(wide)
    layers.append(base.mark_rule(strokeWidth=2).encode(
        x=x_axis, y=y_axis, x2="x_partial:Q", y2="y_partial:Q",
        color=alt.condition(alt.datum.identified, alt.value(INTERVAL_COLOR), alt.value("#c4c4c4")),
        opacity=dim,
    ))
    # Screen-space direction of each arrow, from the chart's own x and y scales.
    angle = ("90 - atan2(scale('y', datum.y_none) - scale('y', datum.y_partial), "
             "scale('x', datum.x_partial) - scale('x', datum.x_none)) * 180 / PI")
    layers.append(base.mark_point(shape="triangle", filled=True, angle=alt.ExprRef(angle)).encode(
        x="x_partial:Q", y="y_partial:Q",
        color=alt.Color("series_partial:N", scale=colour_scale, title=None),
        size=alt.condition(alt.datum.highlighted, alt.value(420), alt.value(150)),
        opacity=dim, tooltip=tooltip,
    ))
    points = base.mark_point(filled=False, strokeWidth=2.5, cursor="pointer" if selectable else "default").encode(
        x=x_axis, y=y_axis,
        color=alt.Color("series_none:N", scale=colour_scale, title=None),
        fill=alt.condition(alt.datum.identified, alt.value(POOLING_COLORS["none"]), alt.value("#ffffff")),
        size=alt.condition(alt.datum.highlighted, alt.value(400), alt.value(POINT_SIZE)),
        strokeWidth=alt.condition(alt.datum.highlighted, alt.value(4), alt.value(2)),
        opacity=dim, tooltip=[*tooltip, alt.Tooltip("note:N", title="note")],
    )
    if selectable:
        points = points.add_params(alt.selection_point(name="group_pick", fields=["group"], on="click"))
    layers.append(points)
    layers += _name_labels(base, x_axis, "y_none:Q", label_all=len(wide) <= MAX_TEXT_LABELS)

    centres = []
    if "complete" in shrinkage_df:
        centres.append({"series": POOLING_LABELS["complete"], "x": wide["x_complete"].iloc[0],
                        "y": wide["y_complete"].iloc[0], "shape": "square"})
    if "population_mean" in shrinkage_df:
        centres.append({"series": "population mean", "x": wide["x_population"].iloc[0],
                        "y": wide["y_population"].iloc[0], "shape": "cross"})
    if centres:
        layers.append(alt.Chart(pd.DataFrame(centres)).mark_point(filled=True, size=420, stroke="#ffffff",
                                                                  strokeWidth=1.5).encode(
            x="x:Q", y="y:Q",
            color=alt.Color("series:N", scale=colour_scale, title=None),
            shape=alt.Shape("shape:N", scale=None),
            tooltip=[alt.Tooltip("series:N", title="point"), alt.Tooltip("x:Q", title=x_term, format=NUMBER_FORMAT),
                     alt.Tooltip("y:Q", title=y_term, format=NUMBER_FORMAT)],
        ))
    layers.append(ellipse_labels)
    subtitle = [
        "Arrows run from each group's own estimates (no pooling) to its partial-pooling estimates;",
        "dashed curves: the population distribution of groups (posterior-mean mean, sd and correlation).",
    ]
    return _layer(*layers).properties(
        title=_title("Shrinkage of two coefficients together", subtitle), width=WIDTH, height=WIDTH - 60,
    )


def _two_terms(shrinkage_df: pd.DataFrame, x_term: str, y_term: str) -> pd.DataFrame:
    """One row per group with x_/y_ columns for no, partial and complete pooling and the population mean."""
    parts = {}
    for axis, term in (("x", x_term), ("y", y_term)):
        part = shrinkage_df[shrinkage_df["term"] == term]
        if part.empty:
            raise SpecError(f"the shrinkage table has no rows for the term {term!r}")
        columns = {"none": f"{axis}_none", "partial": f"{axis}_partial", "complete": f"{axis}_complete",
                   "population_mean": f"{axis}_population", "identified": f"{axis}_identified"}
        parts[axis] = part.set_index("group")[[c for c in columns if c in part]].rename(columns=columns)
    sizes = shrinkage_df.drop_duplicates("group").set_index("group")["n"]
    wide = parts["x"].join(parts["y"], how="inner").join(sizes).reset_index()
    wide["identified"] = wide["x_identified"].astype(bool) & wide["y_identified"].astype(bool)
    return wide


# ------------------------------------------------------------------------------------------------ MAP vs mean
def map_vs_mean_chart(table: pd.DataFrame, *, highlight: str | None = None) -> alt.VConcatChart | alt.LayerChart:
    """Posterior mean with its interval, and the MAP as a distinct marker, for every row of
    :func:`interpret.map_vs_mean_table`: population parameters on top (one panel per kind of parameter), group
    coefficients below (one panel per varying term, groups sorted by posterior mean). Rows whose group scale's
    MAP collapsed to ~0 have vermillion intervals.
    """
    _require_columns(table, ["level", "name", "term", "mean", "lower", "upper", "map", "collapsed"],
                     "map_vs_mean_chart")
    population = table[table["level"] == "population"].reset_index(drop=True).copy()
    groups = table[table["level"] == "group"].reset_index(drop=True).copy()
    if groups.empty:
        highlight = None  # complete pooling: no group rows to highlight
    _check_highlight(groups["name"], highlight)
    population["order"] = np.arange(len(population))
    population["kind"] = population.get("kind", pd.Series("parameter", index=population.index)).fillna("parameter")
    groups["highlighted"] = groups["name"] == highlight
    for frame in (population, groups):
        frame["interval"] = np.where(frame["collapsed"], "interval (scale's MAP collapsed to ~0)", "95% interval")
    population["highlighted"] = False
    groups["term_order"] = groups["term"].map({t: i for i, t in enumerate(dict.fromkeys(groups["term"]))})

    colour = alt.Scale(
        domain=["posterior mean", "MAP (joint mode)", "95% interval", "interval (scale's MAP collapsed to ~0)"],
        range=[MEAN_COLOR, MAP_COLOR, INTERVAL_COLOR, COLLAPSED_COLOR],
    )

    def panel(y: alt.Y, many: bool, groups_panel: bool) -> alt.LayerChart:
        # Only the group panel is dimmed around a highlighted group.
        dim = (alt.condition(alt.datum.highlighted, alt.value(1.0), alt.value(0.35)) if highlight and groups_panel
               else alt.value(1.0))
        # Not from zero: a panel of intercepts near 60 drawn from 0 squeezes the groups' differences into a sliver
        # (a collapsed scale's MAP at 0 is data, so its panel still reaches 0).
        interval = alt.Chart().mark_rule(strokeWidth=3).encode(
            y=y, x=alt.X("lower:Q", title="value", scale=alt.Scale(zero=False),
                         axis=alt.Axis(tickCount=6, labelOverlap=True)), x2="upper:Q",
            color=alt.Color("interval:N", scale=colour, title=None), opacity=dim,
        )
        markers = alt.Chart().transform_fold(["mean", "map"], as_=["estimate", "value"]).transform_calculate(
            estimate="datum.estimate == 'map' ? 'MAP (joint mode)' : 'posterior mean'"
        ).transform_filter("isFinite(datum.value)").mark_point(filled=True, strokeWidth=2).encode(
            y=y, x="value:Q",
            color=alt.Color("estimate:N", scale=colour, title=None),
            shape=alt.Shape("estimate:N", scale=alt.Scale(domain=["posterior mean", "MAP (joint mode)"],
                                                          range=["circle", "diamond"]), legend=None),
            size=alt.condition(alt.datum.highlighted, alt.value(320), alt.value(70 if many else 130)),
            opacity=dim,
            tooltip=[alt.Tooltip("name:N"), alt.Tooltip("term:N"), alt.Tooltip("estimate:N"),
                     alt.Tooltip("value:Q", format=NUMBER_FORMAT),
                     alt.Tooltip("lower:Q", format=NUMBER_FORMAT), alt.Tooltip("upper:Q", format=NUMBER_FORMAT),
                     alt.Tooltip("collapsed:N", title="scale's MAP collapsed")],
        )
        return _layer(interval, markers)

    header = alt.Header(labelAngle=0, labelAlign="left", labelAnchor="start", labelOrient="top",
                        labelFontWeight="bold")
    top = panel(alt.Y("name:N", sort=alt.EncodingSortField("order"), title=None), many=False, groups_panel=False)
    top = top.properties(width=WIDTH, height=alt.Step(30)).facet(
        data=population, row=alt.Row("kind:N", title=None, header=header,
                                     sort=alt.EncodingSortField("order", op="min")),
    ).resolve_scale(x="independent", y="independent")
    title = _title("Posterior mean vs joint mode (MAP)",
                   ["Dots: posterior means with 95% intervals; diamonds: the MAP.",
                    "A group scale whose MAP collapses to ~0 pulls every group's MAP onto the population mean."])
    if groups.empty:
        return top.properties(title=title)
    n_groups = groups["name"].nunique()
    many = n_groups > MAX_LABELLED_GROUPS
    y = alt.Y("name:N", sort=alt.EncodingSortField("mean", order="descending"),
              title="groups, sorted by posterior mean" + (" (hover for names)" if many else ""),
              axis=alt.Axis(labels=not many, ticks=not many))
    bottom = panel(y, many, groups_panel=True)
    if highlight is not None:
        label = alt.Chart().transform_filter(alt.datum.highlighted).mark_text(
            align="left", dx=12, fontWeight="bold").encode(y=y, x="upper:Q", text="name:N")
        bottom = _layer(bottom, label)
    bottom = bottom.properties(width=max(280, WIDTH // max(1, groups["term"].nunique()) - 20),
                               height=min(700, 9 * n_groups) if many else alt.Step(22)).facet(
        data=groups, column=alt.Column("term:N", title=None, header=header,
                                       sort=alt.EncodingSortField("term_order", op="min")),
    ).resolve_scale(x="independent", y="independent")
    return alt.vconcat(top, bottom, spacing=30).properties(title=title)


# ------------------------------------------------------------------------------------------------ group scale
def scale_posterior_chart(draws_df: pd.DataFrame, map_value: float, mean_value: float, name: str) -> alt.LayerChart:
    """Histogram of a group scale's draws (:func:`interpret.scale_draws`) with rules at the MAP and the mean."""
    _require_columns(draws_df, ["value"], "scale_posterior_chart")
    marks = pd.DataFrame({
        "estimate": ["MAP (joint mode)", "posterior mean"],
        "value": [map_value, mean_value],
        "label_y": [10, 40],
    })
    marks = marks[np.isfinite(marks["value"].astype(float))]
    marks["text"] = marks["estimate"].str.replace(" (joint mode)", "", regex=False) + " = " + \
        marks["value"].map(_number)
    colour = alt.Scale(domain=["MAP (joint mode)", "posterior mean"], range=[MAP_COLOR, MEAN_COLOR])
    histogram = alt.Chart(draws_df).transform_bin(
        ["bin_start", "bin_end"], field="value", bin=alt.Bin(maxbins=40),
    ).transform_aggregate(count="count()", groupby=["bin_start", "bin_end"]).mark_bar(
        color=OKABE_ITO["sky blue"], stroke="#ffffff", strokeWidth=0.5,
    ).encode(
        x=alt.X("bin_start:Q", title=f"{name} (group-level sd)", scale=alt.Scale(zero=True),
                axis=_value_axis(tickCount=8)),
        x2="bin_end:Q",
        y=alt.Y("count:Q", title="posterior draws", scale=alt.Scale(zero=True), axis=_count_axis()),
        y2=alt.datum(0),
        tooltip=[alt.Tooltip("bin_start:Q", title="from", format=NUMBER_FORMAT),
                 alt.Tooltip("bin_end:Q", title="to", format=NUMBER_FORMAT),
                 alt.Tooltip("count:Q", title="draws", format="d")],
    )
    rules = alt.Chart(marks).mark_rule(strokeWidth=4).encode(
        x="value:Q", color=alt.Color("estimate:N", scale=colour, title=None),
        strokeDash=alt.StrokeDash("estimate:N", scale=alt.Scale(domain=list(colour.domain), range=[[10, 5], [1, 0]]),
                                  legend=None),
    )
    labels = alt.Chart(marks).mark_text(align="left", dx=8, baseline="top", fontWeight="bold").encode(
        x="value:Q", y=alt.Y("label_y:Q", scale=None), text="text:N",
        color=alt.Color("estimate:N", scale=colour, title=None),
    )
    collapsed = np.isfinite(map_value) and map_value < 0.01 * mean_value
    subtitle = (["The MAP has collapsed to ~0, where the posterior has almost no mass:",
                 "the joint mode says every group is the same; the draws say they differ."]
                if collapsed else ["Where the joint mode (MAP) and the posterior mean fall among the draws."])
    return _layer(histogram, rules, labels).properties(
        title=_title("Posterior of the group-level scale", subtitle), width=WIDTH, height=HEIGHT)


def funnel_chart(funnel_df: pd.DataFrame, map_point: Mapping[str, float] | None = None) -> alt.LayerChart:
    """The funnel: a group's deviation from the population mean against the group scale (log axis), from
    :func:`interpret.funnel_draws`; ``map_point`` (:func:`interpret.funnel_map_point`) marks the joint mode.
    A MAP scale left of the draws (a collapsed mode) is pinned to the left edge and labelled.
    """
    _require_columns(funnel_df, ["sd", "deviation"], "funnel_chart")
    draws = funnel_df.copy()
    draws["divergent"] = draws["divergent"].astype(bool) if "divergent" in draws else False
    n_divergent = int(draws["divergent"].sum())
    divergent_label = f"divergent transition ({n_divergent} of {len(draws)} draws shown)"
    draws["kind"] = np.where(draws["divergent"], divergent_label, "posterior draw")
    positive = draws.loc[draws["sd"] > 0, "sd"]
    low, high = float(positive.min()) / 1.5, float(positive.max()) * 1.5
    term = str(draws["term"].iloc[0]) if "term" in draws else "the varying term"
    group = str(draws["group"].iloc[0]) if "group" in draws else "the group"
    x = alt.X("sd:Q", title="group-level sd (log scale)", scale=alt.Scale(type="log", domain=[low, high], nice=False,
                                                                        clamp=True),
              axis=alt.Axis(values=_log_ticks(low, high), format="~g"))
    y = alt.Y("deviation:Q", title="deviation from the mean", axis=_value_axis())
    # The legend always lists divergent transitions (with their count, 0 too), so that "no red" reads as "none".
    colour = alt.Scale(domain=["posterior draw", divergent_label, "MAP (joint mode)"],
                       range=["#333333", DIVERGENT_COLOR, MAP_COLOR])
    tooltip = [alt.Tooltip("kind:N", title="draw"), alt.Tooltip("sd:Q", format=NUMBER_FORMAT),
               alt.Tooltip("deviation:Q", format=NUMBER_FORMAT)]
    # Opaque legend symbols: the plain draws' transparency would make the red entry pale.
    legend = alt.Legend(symbolOpacity=1.0)
    layers = [
        alt.Chart(draws).mark_circle(size=30, opacity=0.35).encode(
            x=x, y=y, color=alt.Color("kind:N", scale=colour, title=None, legend=legend), tooltip=tooltip,
        ),
        alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(strokeDash=[4, 4], color="#000000", strokeWidth=1.5)
        .encode(y="zero:Q"),
        # Divergent draws on top, large, opaque and outlined, so that they show on a projector.
        alt.Chart(draws).transform_filter(alt.datum.divergent).mark_point(
            filled=True, size=DIVERGENT_SIZE, opacity=1.0, stroke="#ffffff", strokeWidth=1,
        ).encode(x=x, y=y, color=alt.Color("kind:N", scale=colour, title=None), tooltip=tooltip),
    ]
    if map_point is not None and np.isfinite(map_point.get("deviation", np.nan)):
        sd = float(map_point["sd"])
        off = not sd >= low
        mode = pd.DataFrame({
            "sd": [low if off else sd], "deviation": [float(map_point["deviation"])], "kind": ["MAP (joint mode)"],
            "text": [f"MAP (joint mode): sd = {_number(sd)}, off the chart to the left" if off
                     else f"MAP (joint mode): sd = {_number(sd)}"],
            "shape": ["triangle-left" if off else "diamond"],
        })
        layers.append(alt.Chart(mode).mark_point(filled=True, size=500, stroke="#000000", strokeWidth=1.5).encode(
            x=x, y="deviation:Q", color=alt.Color("kind:N", scale=colour, title=None),
            shape=alt.Shape("shape:N", scale=None),
            tooltip=[alt.Tooltip("text:N", title="joint mode"), alt.Tooltip("deviation:Q", format=NUMBER_FORMAT)],
        ))
        # The label goes in the top-left corner, which the funnel's neck leaves nearly empty.
        layers.append(alt.Chart(mode).mark_text(align="left", baseline="top", x=8, y=8, fontWeight="bold",
                                                color=MAP_COLOR).encode(text="text:N"))
    subtitle = [
        f"{names.group_sd(term)} against group {group}'s deviation b - mu, one dot per posterior draw.",
        "Where the sd's draws reach toward 0, the cloud narrows to a neck; the MAP is the diamond.",
    ]
    return _layer(*layers).properties(title=_title("The funnel", subtitle), width=WIDTH, height=HEIGHT)


# ------------------------------------------------------------------------------------------------ truth
TRUTH_COLOR = OKABE_ITO["black"]
RAW_COLOR = OKABE_ITO["sky blue"]  # the group's own data summary: a paler relative of no pooling's blue
# The three parallel axes sit at x = 0, 1, 2; the room right of the truth axis holds the group names.
TRUTH_AXES: tuple[tuple[str, int], ...] = ((POOLING_LABELS["none"], 0), (POOLING_LABELS["partial"], 1),
                                           (interpret.TRUTH_AXIS, 2))
LABEL_GAP_PX = 19


def truth_chart(comparison_df: pd.DataFrame, value_title: str, *, highlight: str | None = None) -> alt.LayerChart:
    """Raw -> shrunken -> truth on three parallel vertical axes (after Efron & Morris's picture), one line per
    group, from :func:`interpret.truth_comparison`. Complete pooling, one value for all, is a dashed line across.
    With at most :data:`MAX_TEXT_LABELS` groups the names stand right of the truth axis, spread apart so that they
    do not overlap, each with a leader line to its group's truth; the highlighted group's always, in bold.
    """
    _require_columns(comparison_df, ["group", "axis", "order", "value"], "truth_chart")
    d = comparison_df[comparison_df["order"] >= 0].copy()
    if d.empty or set(d["order"]) != {0, 1, 2}:
        raise SpecError("the truth chart needs no-pooling and partial-pooling estimates and the truth; fit all "
                        "three poolings")
    _check_highlight(d["group"], highlight)
    d["highlighted"] = d["group"] == highlight
    complete = comparison_df.loc[comparison_df["order"] < 0, "value"]
    values = d["value"].astype(float)
    if complete.size:
        values = pd.concat([values, complete.astype(float)])
    low, high = float(values.min()), float(values.max())
    pad = 0.06 * (high - low) if high > low else 1.0

    truth = d[d["order"] == 2].sort_values("value").reset_index(drop=True)
    label_all = len(truth) <= MAX_TEXT_LABELS
    labels = truth if label_all else truth[truth["highlighted"]]
    labels = labels.assign(label_y=_spread_labels(labels["value"].to_numpy(dtype=float),
                                                  LABEL_GAP_PX * (high - low + 2 * pad) / HEIGHT))
    if len(labels):
        low, high = min(low, float(labels["label_y"].min())), max(high, float(labels["label_y"].max()))
    domain = [low - pad, high + pad]
    right = 2.9 if len(labels) else 2.15
    labels = labels.assign(x_label=2.12, x=2)

    x_scale = alt.Scale(domain=[-0.15, right], nice=False, zero=False)
    y_scale = alt.Scale(domain=domain, nice=False, zero=False)
    x = alt.X("order:Q", title=None, scale=x_scale,
              axis=alt.Axis(values=[0, 1, 2], grid=False, ticks=False, domain=False, labelFontWeight="bold",
                            labelExpr="['no pooling', 'partial pooling', 'truth'][datum.value]"))
    y = alt.Y("value:Q", title=value_title, scale=y_scale, axis=_value_axis())
    present = [label for label, _ in TRUTH_AXES] + ([POOLING_LABELS["complete"]] if complete.size else [])
    colour = _pooling_scale({interpret.TRUTH_AXIS: TRUTH_COLOR}, present)
    dim = alt.condition(alt.datum.highlighted, alt.value(1.0), alt.value(0.3)) if highlight else alt.value(0.85)
    axes = pd.DataFrame({"axis": [a for a, _ in TRUTH_AXES], "order": [o for _, o in TRUTH_AXES]})
    layers: list[alt.Chart] = [alt.Chart(axes).mark_rule(color="#000000", strokeWidth=1.5).encode(x=x)]
    if complete.size:
        line = pd.DataFrame({"axis": [POOLING_LABELS["complete"]], "value": [float(complete.iloc[0])],
                             "start": [0.0], "end": [2.0]})
        layers.append(alt.Chart(line).mark_rule(strokeDash=[8, 5], strokeWidth=2.5).encode(
            x=alt.X("start:Q", scale=x_scale), x2="end:Q", y=alt.Y("value:Q", scale=y_scale),
            color=alt.Color("axis:N", scale=colour, title=None),
            tooltip=[alt.Tooltip("axis:N", title="estimate"), alt.Tooltip("value:Q", format=NUMBER_FORMAT)]))
    base = alt.Chart(d)
    layers.append(base.mark_line(color=INTERVAL_COLOR).encode(
        x=x, y=y, detail="group:N", order="order:Q", opacity=dim,
        strokeWidth=alt.condition(alt.datum.highlighted, alt.value(4), alt.value(2)),
    ))
    layers.append(base.mark_point(filled=True, stroke="#ffffff", strokeWidth=1).encode(
        x=x, y=y, color=alt.Color("axis:N", scale=colour, title=None), opacity=dim,
        size=alt.condition(alt.datum.highlighted, alt.value(320), alt.value(120)),
        tooltip=[alt.Tooltip("group:N"), alt.Tooltip("axis:N", title="estimate"),
                 alt.Tooltip("value:Q", format=NUMBER_FORMAT)],
    ))
    if len(labels):
        label_base = alt.Chart(labels)
        layers.append(label_base.mark_rule(strokeWidth=1, color="#7a7a7a").encode(
            x=alt.X("x:Q", scale=x_scale), x2="x_label:Q", y=alt.Y("value:Q", scale=y_scale), y2="label_y:Q"))
        for highlighted in (False, True):
            layers.append(label_base.transform_filter(
                alt.datum.highlighted if highlighted else ~alt.datum.highlighted,
            ).mark_text(align="left", baseline="middle", dx=4, fontWeight="bold" if highlighted else "normal").encode(
                x=alt.X("x_label:Q", scale=x_scale), y=alt.Y("label_y:Q", scale=y_scale), text="group:N"))
    subtitle = ["Each line is a group: its own estimate (no pooling), its partial-pooling estimate, and the truth.",
                "Lines that run toward the truth after shrinking show shrinkage helping."]
    return _layer(*layers).properties(
        title=_title("Estimates against the truth", subtitle), width=WIDTH, height=HEIGHT)


def _spread_labels(values: np.ndarray, gap: float) -> np.ndarray:
    """Label positions as close as possible (least squares) to the sorted ``values`` with neighbours at least
    ``gap`` apart: runs of labels that would overlap are merged into blocks centred on their values' mean."""
    blocks: list[list[float]] = []  # [start, count, sum of (value - offset within the block)]
    for value in values:
        blocks.append([value, 1, value])
        while len(blocks) > 1 and blocks[-2][0] + blocks[-2][1] * gap > blocks[-1][0]:
            _, count_last, sum_last = blocks.pop()
            _, count, total = blocks[-1]
            total += sum_last - count_last * count * gap  # the popped labels sit count * gap further up
            count += count_last
            blocks[-1] = [total / count, count, total]
    out = []
    for start, count, _ in blocks:
        out += [start + i * gap for i in range(int(count))]
    return np.asarray(out, dtype=float)


def truth_error_chart(errors_df: pd.DataFrame) -> alt.LayerChart:
    """Each pooling's (and the raw data summary's, when there) total squared error against the truth
    (:func:`interpret.truth_errors`), as bars with their values printed (and the share of no pooling's error)."""
    _require_columns(errors_df, ["pooling", "estimate", "sum_squared_error"], "truth_error_chart")
    d = errors_df.copy()
    share = d["relative_to_no_pooling"] if "relative_to_no_pooling" in d else pd.Series(np.nan, index=d.index)
    d["text"] = [_number(v) + ("" if not np.isfinite(r) or p == "none" else f"  ({r:.0%} of no pooling's)")
                 for v, r, p in zip(d["sum_squared_error"], share.astype(float), d["pooling"], strict=True)]
    colour = _pooling_scale({interpret.RAW_LABEL: RAW_COLOR}, present=list(d["estimate"]))
    y = alt.Y("estimate:N", title=None,
              sort=[interpret.RAW_LABEL, *(POOLING_LABELS[p] for p in ("none", "partial", "complete"))])
    x = alt.X("sum_squared_error:Q", title="total squared error against the truth (smaller is better)",
              scale=alt.Scale(zero=True, domainMax=float(d["sum_squared_error"].max()) * 1.45), axis=_value_axis())
    tooltip = [alt.Tooltip("estimate:N"), alt.Tooltip("sum_squared_error:Q", title="total squared error",
                                                      format=NUMBER_FORMAT)]
    if "mean_squared_error" in d:
        tooltip.append(alt.Tooltip("mean_squared_error:Q", title="mean squared error", format=NUMBER_FORMAT))
    bars = alt.Chart(d).mark_bar(height=26).encode(x=x, y=y, color=alt.Color("estimate:N", scale=colour, legend=None),
                                                   tooltip=tooltip)
    text = alt.Chart(d).mark_text(align="left", dx=6, fontWeight="bold").encode(x=x, y=y, text="text:N")
    return _layer(bars, text).properties(
        title=_title("Squared error against the truth", "Summed over the groups: how far each pooling's estimates "
                     "are from the truth"), width=WIDTH, height=alt.Step(44))


# ------------------------------------------------------------------------------------------------ population
def population_chart(population_df: pd.DataFrame, *, names: Sequence[str] | None = None) -> alt.FacetChart:
    """Posterior means and intervals of the population-level parameters under each pooling, one panel per
    parameter (each with its own x axis), coloured by :data:`POOLING_COLORS`. ``population_df`` is
    :meth:`PoolingComparison.population` (or one :meth:`FitResult.population` with a ``pooling`` column);
    ``names`` keeps only those parameters.
    """
    _require_columns(population_df, ["pooling", "name", "mean", "lower", "upper"], "population_chart")
    d = population_df.copy()
    if names is not None:
        d = d[d["name"].isin(list(names))]
    if d.empty:
        raise SpecError("there are no population parameters to draw")
    first = {name: i for i, name in enumerate(dict.fromkeys(d["name"]))}
    d["order"] = d["name"].map(first)
    d["pooling_label"] = d["pooling"].map(POOLING_LABELS)
    colour = alt.Color("pooling_label:N", scale=_pooling_scale(present=list(d["pooling_label"])), title=None)
    y = alt.Y("pooling_label:N", sort=[POOLING_LABELS[p] for p in POOLINGS], title=None,
              axis=alt.Axis(labels=False, ticks=False))
    tooltip = [alt.Tooltip("name:N", title="parameter"), alt.Tooltip("pooling_label:N", title="pooling"),
               alt.Tooltip("mean:Q", format=NUMBER_FORMAT), alt.Tooltip("lower:Q", format=NUMBER_FORMAT),
               alt.Tooltip("upper:Q", format=NUMBER_FORMAT)]
    x = alt.X("lower:Q", title=None, scale=alt.Scale(zero=False), axis=alt.Axis(tickCount=6, labelOverlap=True))
    rule = alt.Chart().mark_rule(strokeWidth=4).encode(x=x, x2="upper:Q", y=y,
                                                       color=colour, tooltip=tooltip)
    point = alt.Chart().mark_point(filled=True, size=160, stroke="#ffffff", strokeWidth=1).encode(
        x="mean:Q", y=y, color=colour, tooltip=tooltip)
    header = alt.Header(labelAngle=0, labelAlign="left", labelAnchor="start", labelOrient="top",
                        labelFontWeight="bold")
    return _layer(rule, point).properties(width=WIDTH, height=alt.Step(22)).facet(
        data=d, row=alt.Row("name:N", title=None, header=header, sort=alt.EncodingSortField("order", op="min")),
        spacing=18,
    ).resolve_scale(x="independent").properties(
        title=_title("Population-level parameters under each pooling",
                     "Posterior mean (dot) and 95% interval (bar)"))


def prediction_chart(prediction_df: pd.DataFrame) -> alt.FacetChart:
    """Posterior predictive densities for an existing group and a new group, one panel per quantity (the
    group mean; a new observation), from :func:`interpret.prediction_draws`. The vertical ticks are medians."""
    _require_columns(prediction_df, ["target", "quantity", "value"], "prediction_chart")
    d = prediction_df.copy()
    groups = d["group"] if "group" in d else pd.Series(None, index=d.index)
    d["series"] = np.where(groups.notna(), d["target"] + ": " + groups.fillna("").astype(str), d["target"])
    series = list(dict.fromkeys(d.sort_values("target")["series"]))
    colours = [TARGET_COLORS.get(s.split(":")[0], CATEGORY_COLORS[i]) for i, s in enumerate(series)]
    colour = alt.Color("series:N", scale=alt.Scale(domain=series, range=colours), title=None)
    area = alt.Chart().transform_density(
        "value", groupby=["series", "quantity"], as_=["value", "density"], steps=150,
    ).mark_area(opacity=0.45, line={"strokeWidth": 2.5}).encode(
        x=alt.X("value:Q", title="predicted outcome"),
        y=alt.Y("density:Q", title="density", axis=alt.Axis(labels=False, ticks=False), stack=None),
        color=colour,
    )
    median = alt.Chart().transform_aggregate(
        median="median(value)", groupby=["series", "quantity"],
    ).mark_rule(strokeWidth=3, strokeDash=[6, 3]).encode(
        x="median:Q", color=colour,
        tooltip=[alt.Tooltip("series:N", title="prediction for"), alt.Tooltip("median:Q", format=NUMBER_FORMAT)],
    )
    header = alt.Header(labelAngle=0, labelAlign="left", labelAnchor="start", labelOrient="top",
                        labelFontWeight="bold")
    return _layer(area, median).properties(width=WIDTH, height=180).facet(
        data=d, row=alt.Row("quantity:N", title=None, header=header, sort=["group mean", "new observation"]),
        spacing=12,
    ).resolve_scale(y="independent").properties(title=_title("Predictions: an existing group and a new group",
                              ["A new group's coefficients come from the population distribution, so its",
                               "predictions are wider; dashed lines: medians."]))


# ------------------------------------------------------------------------------------------------ convergence
def trace_chart(trace_df: pd.DataFrame) -> alt.Chart:
    """Draws by chain (from :func:`interpret.trace_draws`): well-mixed chains overlap like fuzzy caterpillars."""
    _require_columns(trace_df, ["chain", "draw", "value"], "trace_chart")
    name = str(trace_df["name"].iloc[0]) if "name" in trace_df else "the parameter"
    return alt.Chart(trace_df).mark_line(strokeWidth=1.5, opacity=0.75).encode(
        x=alt.X("draw:Q", title="draw", axis=_count_axis()),
        y=alt.Y("value:Q", title=name, scale=alt.Scale(zero=False)),
        color=alt.Color("chain:N", title="chain", scale=alt.Scale(range=list(CATEGORY_COLORS))),
        tooltip=[alt.Tooltip("chain:N"), alt.Tooltip("draw:Q", format="d"),
                 alt.Tooltip("value:Q", format=NUMBER_FORMAT)],
    ).properties(title=_title("Trace plot", "Each chain's draws in order; chains should overlap and not drift"),
                 width=WIDTH, height=HEIGHT - 100)


def rank_chart(rank_df: pd.DataFrame) -> alt.FacetChart:
    """Rank histograms per chain (from :func:`interpret.rank_table`): flat bars mean the chains agree."""
    _require_columns(rank_df, ["chain", "bin", "count"], "rank_chart")
    d = rank_df.copy()
    if "expected" not in d:
        d["expected"] = d.groupby("chain")["count"].transform("mean")
    n_chains = d["chain"].nunique()
    bars = alt.Chart().mark_bar(color=OKABE_ITO["blue"], stroke="#ffffff", strokeWidth=0.5).encode(
        x=alt.X("bin:O", title="rank (binned)", axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("count:Q", title="draws", axis=_count_axis()),
        tooltip=[alt.Tooltip("chain:N"), alt.Tooltip("bin:O"), alt.Tooltip("count:Q", format="d")],
    )
    expected = alt.Chart().mark_rule(strokeDash=[8, 4], color="#000000", strokeWidth=2.5).encode(
        y="mean(expected):Q")
    return _layer(bars, expected).properties(width=max(140, WIDTH // n_chains - 20), height=220).facet(
        data=d, column=alt.Column("chain:N", title="chain", header=alt.Header(labelFontWeight="bold")),
    ).properties(title=_title("Rank plot", "All draws ranked together; each chain's ranks should be uniform "
                                           "(dashed line)"))


# ------------------------------------------------------------------------------------------------ group level
REGRESSION_LABEL = "group-level regression"


def group_level_chart(
    regression: GroupLevelRegression,
    *,
    show_intervals: bool = True,
    highlight: str | None = None,
    selectable: bool = False,
) -> alt.LayerChart:
    """Gelman & Hill's figure (2007, section 12.6): each group's level against a predictor of the group
    (:func:`hiermodels.results.group_level.group_level_regression`).

    Hollow circles: each group's own estimate (no pooling); a rule runs from it to the group's partial-pooling
    estimate (filled), which sits between it and the group-level regression line gamma_0 + gamma_1 * u (black,
    with its band): each group is pulled toward its own predicted value. ``show_intervals`` draws the
    partial-pooling intervals, 5 px right of each group so that they do not hide the rules. Group names stand
    beside the points when there are at most :data:`MAX_TEXT_LABELS` groups, the highlighted group's always;
    ``selectable`` adds the point selection ``group_pick`` on ``group`` (as the shrinkage charts).
    """
    d = regression.groups.copy()
    _require_columns(d, ["group", "n", "u", "partial", "partial_lower", "partial_upper", "predicted", "none",
                         "identified"], "group_level_chart")
    _require_columns(regression.line, ["u", "mean", "lower", "upper"], "group_level_chart")
    _check_highlight(d["group"], highlight)
    d["highlighted"] = d["group"] == highlight
    d["has_own"] = d["none"].notna()
    d["identified"] = d["identified"].eq(True)  # NaN (no pooling not fitted) is not identified
    d["series_none"] = np.where(d["identified"], POOLING_LABELS["none"], UNIDENTIFIED_LABEL)
    d["series_partial"] = POOLING_LABELS["partial"]
    line = regression.line.assign(series=REGRESSION_LABEL)
    present = [POOLING_LABELS["partial"], REGRESSION_LABEL]
    if d["has_own"].any():
        present.insert(0, POOLING_LABELS["none"])
    if (d["has_own"] & ~d["identified"]).any():
        present.append(UNIDENTIFIED_LABEL)
    colour_scale = _pooling_scale({REGRESSION_LABEL: POPULATION_COLOR, UNIDENTIFIED_LABEL: UNIDENTIFIED_COLOR},
                                  present)
    dim = alt.condition(alt.datum.highlighted, alt.value(1.0), alt.value(0.3)) if highlight else alt.value(0.9)
    x = alt.X("u:Q", title=f"{regression.predictor} (one value per {regression.group})",
              scale=alt.Scale(zero=False, padding=12), axis=_value_axis())
    y = alt.Y("partial:Q", title=regression.value_title, scale=alt.Scale(zero=False), axis=_value_axis())
    tooltip = [
        alt.Tooltip("group:N"),
        alt.Tooltip("n:Q", title="rows (n)", format="d"),
        alt.Tooltip("u:Q", title=regression.predictor, format=NUMBER_FORMAT),
        alt.Tooltip("none:Q", title="no pooling", format=NUMBER_FORMAT),
        alt.Tooltip("partial:Q", title="partial pooling", format=NUMBER_FORMAT),
        alt.Tooltip("predicted:Q", title="predicted from the line", format=NUMBER_FORMAT),
    ]
    base = alt.Chart(d)
    own = base.transform_filter(alt.datum.has_own)
    layers: list[alt.Chart] = [
        alt.Chart(line).mark_area(opacity=0.18, color=POPULATION_COLOR).encode(x=x, y="lower:Q", y2="upper:Q"),
        alt.Chart(line).mark_line(strokeWidth=3).encode(
            x=x, y="mean:Q", color=alt.Color("series:N", scale=colour_scale, title=None),
            tooltip=[alt.Tooltip("u:Q", title=regression.predictor, format=NUMBER_FORMAT),
                     alt.Tooltip("mean:Q", title="predicted", format=NUMBER_FORMAT)]),
    ]
    if show_intervals:
        layers.append(base.mark_rule(strokeWidth=1.5, xOffset=5).encode(
            x=x, y="partial_lower:Q", y2="partial_upper:Q",
            color=alt.Color("series_partial:N", scale=colour_scale, title=None),
            opacity=alt.condition(alt.datum.highlighted, alt.value(0.9), alt.value(0.45)),
        ))
    # Rules from each group's own estimate to its partial-pooling estimate (the same u: vertical).
    layers.append(own.mark_rule(strokeWidth=2).encode(
        x=x, y="none:Q", y2="partial:Q", color=alt.value(INTERVAL_COLOR), opacity=dim))
    points = own.mark_point(filled=False, strokeWidth=2.5, cursor="pointer" if selectable else "default").encode(
        x=x, y="none:Q",
        color=alt.Color("series_none:N", scale=colour_scale, title=None),
        size=alt.condition(alt.datum.highlighted, alt.value(400), alt.value(POINT_SIZE)),
        strokeWidth=alt.condition(alt.datum.highlighted, alt.value(4), alt.value(2.5)),
        opacity=dim, tooltip=tooltip,
    )
    if selectable:
        points = points.add_params(alt.selection_point(name="group_pick", fields=["group"], on="click"))
    layers.append(points)
    layers.append(base.mark_point(filled=True).encode(
        x=x, y=y,
        color=alt.Color("series_partial:N", scale=colour_scale, title=None),
        size=alt.condition(alt.datum.highlighted, alt.value(400), alt.value(POINT_SIZE)),
        opacity=dim, tooltip=tooltip,
    ))
    layers += _name_labels(base, x, "partial:Q", label_all=len(d) <= MAX_TEXT_LABELS)
    subtitle = [
        f"Hollow: each {regression.group}'s own estimate (no pooling); filled: partial pooling"
        + (f" with its {regression.prob:.0%} interval" if show_intervals else "") + ".",
        f"Line: the predicted value from {regression.predictor}, with its {regression.prob:.0%} band; "
        "each group is pulled toward its own predicted value.",
    ]
    return _layer(*layers).properties(
        title=_title("Shrinkage toward a group-level regression", subtitle), width=WIDTH, height=SHRINKAGE_HEIGHT,
    )


# ------------------------------------------------------------------------------------------------ variance
VARIANCE_COLORS: Mapping[str, str] = {"factor": OKABE_ITO["blue"], "residual": "#a6a6a6"}


def variance_chart(summary_df: pd.DataFrame, residual_note: str = "", *, prob: float = 0.95) -> alt.LayerChart:
    """The share of the outcome's variance each grouping factor and the residual carry (the ``summary`` of
    :func:`hiermodels.results.variance.variance_decomposition`): one thick bar per component at its posterior
    mean share, a black rule over its interval, and the numbers printed at the bar's end. Shares are printed as
    percentages with one decimal (42.3%): finer digits are noise next to the intervals, and they read from the
    back of a room. The axis stops at 100%; the room to its right holds the printed numbers.
    """
    _require_columns(summary_df, ["component", "kind", "mean", "lower", "upper"], "variance_chart")
    if summary_df.empty:
        raise SpecError("there are no variance components to draw")
    d = summary_df.copy()
    d["order"] = np.arange(len(d))
    d["label"] = [f"{mean:.1%}  [{lower:.1%}, {upper:.1%}]"
                  for mean, lower, upper in zip(d["mean"], d["lower"], d["upper"], strict=True)]
    d["kind_label"] = d["kind"].map({"factor": "grouping factor", "residual": "residual"})
    y = alt.Y("component:N", sort=alt.EncodingSortField("order"), title=None,
              axis=alt.Axis(labelFontWeight="bold", labelLimit=260))
    x = alt.X("mean:Q", title=f"share of the variance (posterior mean, {prob:.0%} interval)",
              scale=alt.Scale(domain=[0, 1.45], nice=False),
              axis=alt.Axis(format="%", values=[0, 0.25, 0.5, 0.75, 1.0], grid=True))
    tooltip = [alt.Tooltip("component:N"), alt.Tooltip("mean:Q", title="share", format=".1%"),
               alt.Tooltip("lower:Q", format=".1%"), alt.Tooltip("upper:Q", format=".1%")]
    colour = alt.Color("kind_label:N", title=None, scale=alt.Scale(
        domain=["grouping factor", "residual"], range=[VARIANCE_COLORS["factor"], VARIANCE_COLORS["residual"]]))
    base = alt.Chart(d)
    bars = base.mark_bar(size=34).encode(x=x, y=y, color=colour, tooltip=tooltip)
    intervals = base.mark_rule(strokeWidth=4, color=MEAN_COLOR).encode(x="lower:Q", x2="upper:Q", y=y,
                                                                        tooltip=tooltip)
    labels = base.mark_text(align="left", dx=10, fontWeight="bold").encode(x="upper:Q", y=y, text="label:N")
    subtitle = ["Bars: posterior mean share; black rules: the interval. Each draw's shares sum to 100%."]
    if residual_note:  # wrapped, so that a long note (the latent scale of a binomial model) is not cut off
        subtitle += textwrap.wrap(residual_note, SUBTITLE_CHARACTERS)
    return _layer(bars, intervals, labels).properties(
        title=_title("Where the variance lies", subtitle), width=WIDTH, height=alt.Step(64))


# ------------------------------------------------------------------------------------------------ pooling dial
# The frames of hiermodels.results.pooling_dial.PoolingDial: ``curve`` (one row per dial position and group),
# ``tau`` (one row per position), ``groups`` (one row per group), ``summaries`` (joint mode, marginal mode, posterior
# mean of tau). Position 0 is tau = 0 (complete pooling), position P the largest tau (the no-pooling end).
DIAL_PARAM = "dial"
SUMMARY_NAMES: tuple[str, ...] = ("joint mode", "marginal mode", "posterior mean")
SUMMARY_COLORS: Mapping[str, str] = {
    "joint mode": MAP_COLOR,  # the MAP vs mean page's colour of the joint mode
    "marginal mode": OKABE_ITO["orange"],
    "posterior mean": MEAN_COLOR,
}
SUMMARY_DASHES: Mapping[str, list[float]] = {"joint mode": [10, 5], "marginal mode": [4, 4], "posterior mean": [1, 0]}
DIAL_COLOR = POOLING_COLORS["partial"]
GHOST_COLOR = "#8c8c8c"
DENSITY_COLOR = OKABE_ITO["sky blue"]
COMPLETE_END = "complete pooling (τ = 0)"
NO_POOLING_END = "no pooling (τ → ∞)"
# The rows of the dial's shrinkage panel, top to bottom (y = 2, 1, 0).
DIAL_ROWS: tuple[str, ...] = ("own data (no pooling)", "at the dial's τ", "posterior mean")
# Inline data stay under Altair's 5,000-row limit: the trajectory chart keeps every k-th dial position.
MAX_CURVE_ROWS = 4800
SUMMARY_LABEL_PX = 24  # vertical distance between the stacked labels of the three summaries
# A label over busy marks is drawn twice: first outlined thickly in white (a halo), then plainly on top.
HALO: tuple[dict[str, Any], ...] = ({"stroke": "#ffffff", "strokeWidth": 5, "strokeJoin": "round"}, {})


def _check_dial_frames(curve: pd.DataFrame, tau: pd.DataFrame, summaries: pd.DataFrame, what: str) -> None:
    _require_columns(curve, ["position", "tau", "group", "rows", "estimate", "pooling_factor", "prior_rows",
                             "population"], what)
    _require_columns(tau, ["position", "tau", "density", "label"], what)
    _require_columns(summaries, ["summary", "tau", "position"], what)
    if curve.empty or tau.empty:
        raise SpecError(f"{what}: the dial has no positions to draw")
    if list(summaries["summary"]) != list(SUMMARY_NAMES):
        raise SpecError(f"{what}: the summaries must be {', '.join(SUMMARY_NAMES)} in that order; got "
                        f"{', '.join(map(str, summaries['summary']))}")


def _symlog_constant(tau: pd.Series) -> float:
    """The symlog scale's linear zone: the smallest positive tau of the grid, so that tau = 0 gets its own place
    left of it and every decade above it is about as wide as on a log axis."""
    positive = tau[tau > 0]
    return float(positive.min()) if len(positive) else 1.0


def _symlog_fraction(value: np.ndarray | float, constant: float, high: float) -> np.ndarray:
    """Where ``value`` falls across a symlog axis from 0 to ``high`` (0 = left edge, 1 = right edge)."""
    return np.log1p(np.asarray(value, dtype=float) / constant) / math.log1p(high / constant)


def _tau_ticks(constant: float, high: float) -> list[float]:
    """0 and the powers of ten between the symlog constant and ``high`` (1-2-5 when they are fewer than three)."""
    decades = [10.0 ** e for e in range(math.floor(math.log10(constant)), math.ceil(math.log10(high)) + 1)
               if constant * 0.999 <= 10.0 ** e <= high * 1.001]
    ticks = decades if len(decades) >= 3 else _log_ticks(constant, high)
    return [0.0, *ticks]


def _tau_x(tau: pd.Series, title: str, *, field: str = "tau", labels: bool = True) -> alt.X:
    """The x of every chart against tau: a symlog scale, so that tau = 0 (complete pooling) shows, fixed from 0 to
    the grid's largest tau (the axis does not move with the dial)."""
    constant, high = _symlog_constant(tau), float(tau.max())
    return alt.X(f"{field}:Q", title=f"{title} (log scale; 0 at the left edge)" if labels else None,
                 scale=alt.Scale(type="symlog", constant=constant, domain=[0.0, high], nice=False, zero=False),
                 axis=alt.Axis(values=_tau_ticks(constant, high), format=",~r", labelOverlap=True,
                               labelSeparation=12, grid=False, labels=labels, ticks=labels,
                               titlePadding=40 if labels else 10))


def _prior_rows_text(n0: float) -> str:
    """"the population is worth n0 rows", n0 rounded for reading aloud."""
    if not math.isfinite(n0) or n0 >= 1e7:
        return "τ = 0: the population is worth all the rows (complete pooling)"
    if n0 >= 100:
        number = f"{n0:,.0f}"
    elif n0 >= 10:
        number = f"{n0:.0f}"
    elif n0 >= 1:
        number = f"{n0:.1f}"
    elif n0 >= 0.01:
        number = f"{n0:.2g}"
    else:
        return "the population is worth less than 0.01 rows: as good as no pooling"
    return f"the population is worth {number} row" + ("" if number == "1.0" else "s")


def _summary_marks(summaries: pd.DataFrame, x: alt.X, constant: float, high: float, *,
                   labels: bool) -> list[alt.Chart]:
    """Dashed rules at the three summaries' tau and, with ``labels``, their names stacked at the top left or right
    of each rule (right of it in the left part of the axis, left of it in the right part)."""
    d = summaries[["summary", "tau"]].copy()
    d["tau"] = d["tau"].astype(float)
    d["text"] = [f"{name}: τ = {_number(value)}" for name, value in zip(d["summary"], d["tau"], strict=True)]
    d["right"] = _symlog_fraction(d["tau"].clip(lower=0), constant, high) > 0.6
    d["label_y"] = SUMMARY_LABEL_PX * np.arange(len(d)) + 6
    colour = alt.Color("summary:N", scale=alt.Scale(domain=list(SUMMARY_NAMES),
                                                    range=[SUMMARY_COLORS[s] for s in SUMMARY_NAMES]),
                       title=None, legend=None)
    dash = alt.StrokeDash("summary:N", scale=alt.Scale(domain=list(SUMMARY_NAMES),
                                                       range=[SUMMARY_DASHES[s] for s in SUMMARY_NAMES]),
                          legend=None)
    layers = [alt.Chart(d).mark_rule(strokeWidth=3).encode(
        x=x, color=colour, strokeDash=dash,
        tooltip=[alt.Tooltip("summary:N"), alt.Tooltip("tau:Q", title="τ", format=NUMBER_FORMAT)])]
    if labels:
        layers += [alt.Chart(d).mark_text(
            baseline="top", fontWeight="bold",
            align=alt.ExprRef("datum.right ? 'right' : 'left'"), dx=alt.ExprRef("datum.right ? -6 : 6"), **halo,
        ).encode(x=x, y=alt.Y("label_y:Q", scale=None), text="text:N", color=colour) for halo in HALO]
    return layers


def _density_panel(tau_df: pd.DataFrame, summaries: pd.DataFrame, x: alt.X, *, height: int,
                   top_room: float = 1.15) -> list[alt.Chart]:
    """The posterior density of tau as an area, with the three summaries marked (``top_room``: the y domain's top
    as a multiple of the largest density, room for the labels)."""
    d = tau_df[["position", "tau", "density", "label"]].copy()
    top = float(d["density"].max()) * top_room if float(d["density"].max()) > 0 else 1.0
    area = alt.Chart(d).mark_area(color=DENSITY_COLOR, opacity=0.55, line={"color": OKABE_ITO["blue"],
                                                                            "strokeWidth": 2}).encode(
        x=x,
        y=alt.Y("density:Q", title="posterior of τ", scale=alt.Scale(domain=[0, top], nice=False),
                axis=alt.Axis(labels=False, ticks=False, grid=False, titleFontSize=AXIS_LABEL_PX)),
        tooltip=[alt.Tooltip("label:N", title="τ"), alt.Tooltip("density:Q", title="density", format=".3g")],
    )
    return [area]


def pooling_dial_chart(
    curve: pd.DataFrame,
    tau: pd.DataFrame,
    summaries: pd.DataFrame,
    *,
    start_position: int,
    value_title: str,
    tau_title: str,
    highlight: str | None = None,
    groups: pd.DataFrame | None = None,
) -> alt.VConcatChart:
    """The pooling dial: one slider over the dial's positions (the parameter :data:`DIAL_PARAM`, bound to a range
    input under the chart), and three panels that redraw in the browser as it moves, with no round trip to the
    server (every position's numbers are in the chart's data; the panels filter or look them up by the slider).

    (a) The tau axis (symlog, so that tau = 0 shows): the posterior density of tau, the joint mode, marginal mode
        and posterior mean of tau, the dial's tau as a bold rule with its value, and the two ends named.
    (b) Every group in three rows on one shared axis (``value_title``): its own estimate (no pooling), its
        estimate at the dial's tau, E[b_j | tau, y], joined to the own estimate by a segment, and its posterior
        mean as a grey ghost (the average of the middle row over the posterior of tau); a vertical rule at the
        population value at that tau. Only the highlighted group is named (tooltips name every group).
    (c) For ``highlight`` (the smallest group when None) a bar of the weights at the dial's tau: its own rows
        (1 - pooling factor) and the population (the pooling factor), and "the population is worth n0 rows".

    The dial's estimates are looked up per group from one row per group (fields ``at_<position>``), so the data
    hold one row per group whatever the number of positions; ``groups`` (:attr:`PoolingDial.groups`) gives the
    own estimates and posterior means (without it: the no-pooling end of the curve, and the curve averaged over
    the density of tau on the grid).
    """
    _check_dial_frames(curve, tau, summaries, "pooling_dial_chart")
    tau_df = tau.sort_values("position").reset_index(drop=True)
    positions = tau_df["position"].astype(int)
    last = int(positions.max())
    if not 0 <= start_position <= last:
        raise SpecError(f"pooling_dial_chart: the start position {start_position} is not between 0 and {last}")
    wide_estimate = curve.pivot(index="group", columns="position", values="estimate")
    wide_factor = curve.pivot(index="group", columns="position", values="pooling_factor")
    sizes = curve.drop_duplicates("group").set_index("group")["rows"]
    order = list(dict.fromkeys(curve["group"]))
    if groups is not None:
        _require_columns(groups, ["group", "own_estimate", "posterior_mean"], "pooling_dial_chart")
        own = groups.set_index("group")["own_estimate"].reindex(order)
        mean = groups.set_index("group")["posterior_mean"].reindex(order)
    else:
        own = wide_estimate[last].reindex(order)
        weights = tau_df.set_index("position")["density"] * np.gradient(tau_df["tau"].to_numpy(dtype=float))
        mean = (wide_estimate[weights.index] * weights.to_numpy()).sum(axis=1).reindex(order) / weights.sum()
    d = pd.DataFrame({"group": order, "rows": sizes.reindex(order).to_numpy(), "own": own.to_numpy(),
                      "posterior_mean": mean.to_numpy(), "y_own": 2.0, "y_dial": 1.0, "y_mean": 0.0})
    _check_highlight(d["group"], highlight)
    chosen = highlight if highlight is not None else str(d.loc[d["rows"].astype(float).idxmin(), "group"])
    d["highlighted"] = d["group"] == chosen
    lookups = [wide_estimate.reindex(index=order, columns=positions).set_axis([f"at_{k}" for k in positions], axis=1),
               wide_factor.reindex(index=order, columns=positions).set_axis([f"pf_{k}" for k in positions], axis=1)]
    d = pd.concat([d, *(frame.reset_index(drop=True) for frame in lookups)], axis=1)

    slider = alt.binding_range(min=0, max=last, step=1,
                               name="Turn the dial, from τ = 0 (complete pooling) to τ → ∞ (no pooling): ")
    dial = alt.param(name=DIAL_PARAM, value=int(start_position), bind=slider)
    constant, high = _symlog_constant(tau_df["tau"]), float(tau_df["tau"].max())

    # (a) the tau strip
    population = curve.drop_duplicates("position").set_index("position")["population"]
    tau_df["population"] = population.reindex(positions).to_numpy()
    tau_df["dial_text"] = "dial: " + tau_df["label"].astype(str)
    tau_df["right"] = _symlog_fraction(tau_df["tau"], constant, high) > 0.6
    strip_height = 190
    x_tau = _tau_x(tau_df["tau"], tau_title)
    at_dial = alt.Chart(tau_df).transform_filter(f"datum.position == {DIAL_PARAM}")
    label_y = SUMMARY_LABEL_PX * len(SUMMARY_NAMES) + 10
    ends = pd.DataFrame({"text": [COMPLETE_END, NO_POOLING_END], "side": ["left", "right"]})
    strip_layers = [
        *_density_panel(tau_df, summaries, x_tau, height=strip_height, top_room=1.9),
        *_summary_marks(summaries, x_tau, constant, high, labels=True),
        at_dial.mark_rule(strokeWidth=6, color=DIAL_COLOR).encode(x=x_tau),
        *(at_dial.mark_text(baseline="top", fontWeight="bold", fontSize=AXIS_TITLE_PX + 2, color="#000000",
                            align=alt.ExprRef("datum.right ? 'right' : 'left'"),
                            dx=alt.ExprRef("datum.right ? -8 : 8"), **halo).encode(
            x=x_tau, y=alt.value(label_y), text="dial_text:N") for halo in HALO),
        *_end_labels(ends, strip_height),
    ]
    strip = _layer(*strip_layers).properties(
        width=WIDTH, height=strip_height,
        title=_title("Where the dial stands among the values of τ",
                     "Shaded: the posterior of τ. Dashed: its joint mode, marginal mode and mean. Bold: the dial."))

    # (b) every group at the dial's tau
    values = pd.concat([d["own"], d["posterior_mean"], curve["estimate"], curve["population"]]).astype(float)
    values = values[np.isfinite(values)]
    low, high_value = float(values.min()), float(values.max())
    pad = 0.05 * (high_value - low) if high_value > low else 1.0
    domain = [low - pad, high_value + pad]
    label_turn = float(domain[0] + 0.6 * (domain[1] - domain[0]))
    x_value = alt.X("own:Q", title=value_title, scale=alt.Scale(domain=domain, nice=False, zero=False),
                    axis=_value_axis())
    y_scale = alt.Scale(domain=[-0.45, 2.75], nice=False, zero=False)
    labels_js = "[" + ", ".join(f'"{row}"' for row in reversed(DIAL_ROWS)) + "][datum.value]"
    y_axis = alt.Axis(values=[0, 1, 2], labelExpr=labels_js, grid=False, ticks=False, domain=False,
                      labelFontWeight="bold", labelFontSize=AXIS_TITLE_PX, labelPadding=10)
    base = alt.Chart(d).transform_calculate(
        at_dial=f"datum['at_' + {DIAL_PARAM}]", pooling_factor=f"datum['pf_' + {DIAL_PARAM}]",
    )
    dim = alt.condition(alt.datum.highlighted, alt.value(1.0), alt.value(0.45))
    size = alt.condition(alt.datum.highlighted, alt.value(360), alt.value(90))
    tooltip = [
        alt.Tooltip("group:N"), alt.Tooltip("rows:Q", title="rows", format="d"),
        alt.Tooltip("own:Q", title="own data (no pooling)", format=NUMBER_FORMAT),
        alt.Tooltip("at_dial:Q", title="at the dial's τ", format=NUMBER_FORMAT),
        alt.Tooltip("posterior_mean:Q", title="posterior mean", format=NUMBER_FORMAT),
        alt.Tooltip("pooling_factor:Q", title="pooling factor at the dial", format=".2f"),
    ]
    population_text = tau_df.assign(
        text=["population value at this τ: " + _number(v) for v in tau_df["population"]],
        side_right=(tau_df["population"] - domain[0]) / (domain[1] - domain[0]) > 0.6,
        top=2.5,
    )
    at_population = alt.Chart(population_text).transform_filter(f"datum.position == {DIAL_PARAM}")
    shrink_layers: list[alt.Chart] = [
        at_population.mark_rule(strokeWidth=3, strokeDash=[8, 5], color=POPULATION_COLOR).encode(
            x=alt.X("population:Q", scale=alt.Scale(domain=domain, nice=False, zero=False))),
        at_population.mark_text(fontWeight="bold", baseline="middle",
                                align=alt.ExprRef("datum.side_right ? 'right' : 'left'"),
                                dx=alt.ExprRef("datum.side_right ? -8 : 8")).encode(
            x="population:Q", y=alt.Y("top:Q", scale=y_scale), text="text:N"),
        # own estimate -> estimate at the dial; estimate at the dial ... posterior mean (faint, dotted)
        base.mark_rule(color=INTERVAL_COLOR).encode(
            x=x_value, x2="at_dial:Q", y=alt.Y("y_own:Q", scale=y_scale, axis=y_axis, title=None), y2="y_dial:Q",
            opacity=dim, strokeWidth=alt.condition(alt.datum.highlighted, alt.value(4), alt.value(1.5))),
        base.mark_rule(color=GHOST_COLOR, strokeDash=[3, 3], strokeWidth=1.2, opacity=0.6).encode(
            x="at_dial:Q", x2="posterior_mean:Q", y=alt.Y("y_dial:Q", scale=y_scale), y2="y_mean:Q"),
        base.mark_point(filled=True, color=POOLING_COLORS["none"], stroke="#ffffff", strokeWidth=0.8).encode(
            x=x_value, y=alt.Y("y_own:Q", scale=y_scale), size=size, opacity=dim, tooltip=tooltip),
        base.mark_point(filled=True, color=GHOST_COLOR, stroke="#ffffff", strokeWidth=0.8).encode(
            x="posterior_mean:Q", y=alt.Y("y_mean:Q", scale=y_scale), size=size, opacity=dim, tooltip=tooltip),
        base.mark_point(filled=True, color=DIAL_COLOR, stroke="#000000", strokeWidth=0.8).encode(
            x="at_dial:Q", y=alt.Y("y_dial:Q", scale=y_scale), size=size, opacity=dim, tooltip=tooltip),
        # The name beside its point, on the side with room (right of the point in the left part of the axis).
        *(base.transform_filter(alt.datum.highlighted).mark_text(
            fontWeight="bold", baseline="bottom", dy=-14, fontSize=AXIS_TITLE_PX,
            align=alt.ExprRef(f"datum.at_dial > {label_turn!r} ? 'right' : 'left'"),
            dx=alt.ExprRef(f"datum.at_dial > {label_turn!r} ? 8 : -8"), **halo).encode(
            x="at_dial:Q", y=alt.Y("y_dial:Q", scale=y_scale), text="group:N") for halo in HALO),
    ]
    shrink = _layer(*shrink_layers).properties(
        width=WIDTH, height=300,
        title=_title("Every group at the dial's τ",
                     ["Top: each group's own estimate. Middle: its estimate at the dial's τ (the segment shows the "
                      "pull).", "Bottom, grey: its posterior mean, the average of the middle row over the "
                      "posterior of τ; it does not move."]))

    # (c) the weights of the highlighted group
    one = curve[curve["group"] == chosen].sort_values("position")
    rows = int(one["rows"].iloc[0])
    weights_rows = []
    for position, factor, n0 in zip(one["position"].astype(int), one["pooling_factor"].astype(float),
                                    one["prior_rows"].astype(float), strict=True):
        shares = (("its own " + (f"{rows} row" if rows == 1 else f"{rows} rows"), 0.0, 1.0 - factor),
                  ("the population", 1.0 - factor, 1.0))
        for part, start, end in shares:
            weights_rows.append({
                "position": position, "part": part, "start": start, "end": end, "share": end - start,
                "share_text": f"{end - start:.0%}" if end - start >= 0.08 else "",
                "middle": (start + end) / 2, "worth": _prior_rows_text(n0),
            })
    weights = pd.DataFrame(weights_rows)
    own_part = weights["part"].iloc[0]
    weight_colour = alt.Color("part:N", title=None, scale=alt.Scale(
        domain=[own_part, "the population"], range=[POOLING_COLORS["none"], POOLING_COLORS["complete"]]),
        legend=alt.Legend(orient="bottom", direction="horizontal"))
    at_weights = alt.Chart(weights).transform_filter(f"datum.position == {DIAL_PARAM}")
    share_x = alt.X("start:Q", title="weight in the group's estimate at the dial's τ",
                    scale=alt.Scale(domain=[0, 1], nice=False),
                    axis=alt.Axis(format="%", values=[0, 0.25, 0.5, 0.75, 1.0]))
    bar = _layer(
        at_weights.mark_bar().encode(x=share_x, x2="end:Q", y=alt.value(34), y2=alt.value(84), color=weight_colour,
                                     tooltip=[alt.Tooltip("part:N"), alt.Tooltip("share:Q", format=".1%")]),
        at_weights.mark_text(color="#ffffff", fontWeight="bold", fontSize=AXIS_TITLE_PX).encode(
            x="middle:Q", y=alt.value(59), text="share_text:N"),
        at_weights.transform_filter("datum.part == 'the population'").mark_text(
            align="left", baseline="bottom", x=0, y=26, fontWeight="bold", fontSize=AXIS_TITLE_PX).encode(
            text="worth:N"),
    ).properties(width=WIDTH, height=90,
                 title=_title(f"The weights of {chosen} ({rows} row{'' if rows == 1 else 's'})",
                              "Its estimate is a weighted average of its own rows and the population value."))
    # Each panel has its own colours (the summaries', the weights'): concatenated views share scales otherwise.
    chart = alt.vconcat(strip, shrink, bar, spacing=34).add_params(dial).resolve_scale(color="independent")
    return chart.properties(
        title=_title("The pooling dial: from complete pooling (τ = 0) to no pooling (τ → ∞)",
                     "Drag the slider under the chart; the posterior does not choose one τ, it averages over "
                     "all of them."))


def _thinned_positions(curve: pd.DataFrame, keep: Sequence[int] = ()) -> pd.DataFrame:
    """The curve at every k-th dial position (always the two ends and ``keep``), k the smallest step that keeps it
    under :data:`MAX_CURVE_ROWS` rows (Altair's inline limit; the lines stay smooth at 50 positions or more)."""
    positions = np.sort(curve["position"].unique())
    n_groups = max(1, curve["group"].nunique())
    step = max(1, math.ceil(len(positions) * n_groups / MAX_CURVE_ROWS))
    kept = set(positions[::step]) | {int(positions[0]), int(positions[-1])} | {int(k) for k in keep}
    return curve[curve["position"].isin(kept)]


def pooling_trajectory_chart(
    curve: pd.DataFrame,
    tau: pd.DataFrame,
    summaries: pd.DataFrame,
    *,
    value_title: str,
    tau_title: str,
    highlight: str | None = None,
) -> alt.VConcatChart:
    """BDA3's figure 5.6 for any fit: every group's conditional estimate E[b_j | tau, y] as a line against tau
    (symlog, tau = 0 at the left edge), the highlighted group thicker and coloured, rules at the three summaries'
    tau; beneath it, on the same tau axis, the posterior density of tau. With at most :data:`MAX_TEXT_LABELS`
    groups each line is named at its right end (the labels spread so that they do not overlap), otherwise only the
    highlighted one."""
    _check_dial_frames(curve, tau, summaries, "pooling_trajectory_chart")
    _check_highlight(curve["group"], highlight)
    tau_df = tau.sort_values("position").reset_index(drop=True)
    constant, high = _symlog_constant(tau_df["tau"]), float(tau_df["tau"].max())
    d = _thinned_positions(curve, keep=summaries["position"].astype(int).tolist()).copy()
    d["highlighted"] = d["group"] == highlight
    x = _tau_x(tau_df["tau"], tau_title)
    x_top = _tau_x(tau_df["tau"], tau_title, labels=False)
    values = d["estimate"].astype(float)
    values = values[np.isfinite(values)]
    low, top = float(values.min()), float(values.max())
    pad = 0.06 * (top - low) if top > low else 1.0
    y_scale = alt.Scale(domain=[low - pad, top + pad], nice=False, zero=False)
    y = alt.Y("estimate:Q", title=value_title, scale=y_scale, axis=_value_axis())
    many = d["group"].nunique() > MAX_TEXT_LABELS
    tooltip = [alt.Tooltip("group:N"), alt.Tooltip("tau:Q", title="τ", format=NUMBER_FORMAT),
               alt.Tooltip("estimate:Q", title="E[b | τ, y]", format=NUMBER_FORMAT),
               alt.Tooltip("pooling_factor:Q", title="pooling factor", format=".2f")]
    # The other groups first, thin and grey (paler when there are many), the highlighted one on top of them.
    others = alt.Chart(d).transform_filter(~alt.datum.highlighted).mark_line(
        strokeWidth=1.5 if many else 2, color="#4d4d4d", opacity=0.35 if many else 0.75,
    ).encode(x=x_top, y=y, detail="group:N", order="tau:Q", tooltip=tooltip)
    chosen = alt.Chart(d).transform_filter(alt.datum.highlighted).mark_line(strokeWidth=5, color=DIAL_COLOR).encode(
        x=x_top, y=y, detail="group:N", order="tau:Q", tooltip=tooltip)
    layers: list[alt.Chart] = [*_summary_marks(summaries, x_top, constant, high, labels=False), others, chosen]
    # Names at the right end of the lines (the no-pooling end), spread apart like truth_chart's.
    ends = d[d["position"] == d["position"].max()].sort_values("estimate")
    named = ends if ends["group"].nunique() <= MAX_TEXT_LABELS else ends[ends["highlighted"]]
    if len(named):
        gap = LABEL_GAP_PX * (top - low + 2 * pad) / HEIGHT
        named = named.assign(label_y=_spread_labels(named["estimate"].to_numpy(dtype=float), gap))
        for bold in (False, True):
            layers.append(alt.Chart(named).transform_filter(
                alt.datum.highlighted if bold else ~alt.datum.highlighted,
            ).mark_text(align="left", dx=8, fontWeight="bold" if bold else "normal").encode(
                x=x_top, y=alt.Y("label_y:Q", scale=y_scale), text="group:N"))
    upper = _layer(*layers).properties(width=WIDTH, height=HEIGHT)
    title = _title("Each group's estimate as τ moves (after BDA3, figure 5.6)",
                   ["Each line is a group's estimate given τ: all on the population value at τ = 0 (left), each at "
                    "its own", "estimate as τ grows (right). Dashed: the joint mode, marginal mode and posterior "
                    "mean of τ, named below."])
    lower = _tau_posterior_panel(tau_df, summaries, x, constant, high,
                                 _title("The posterior of τ", "How much each value of τ counts in the posterior mean."))
    return alt.vconcat(upper, lower, spacing=20).resolve_scale(color="independent").properties(title=title)


def _end_labels(ends: pd.DataFrame, height: int) -> list[alt.Chart]:
    """"complete pooling (τ = 0)" under the left end of a tau axis and "no pooling (τ → ∞)" under its right end,
    between the axis labels and the axis title."""
    return [
        alt.Chart(ends).transform_filter("datum.side == 'left'").mark_text(
            align="left", baseline="top", x=0, y=height + 30, fontWeight="bold",
            color=POOLING_COLORS["complete"]).encode(text="text:N"),
        alt.Chart(ends).transform_filter("datum.side == 'right'").mark_text(
            align="right", baseline="top", x="width", y=height + 30, fontWeight="bold",
            color=POOLING_COLORS["none"]).encode(text="text:N"),
    ]


def three_summaries_chart(groups: pd.DataFrame, *, value_title: str) -> alt.LayerChart:
    """Each group's estimate under the three summaries of the same fit (the ``groups`` frame of
    :class:`PoolingDial`: ``joint_mode``, ``marginal_mode``, ``posterior_mean``) against its own estimate (x). The
    45° line is no pooling (estimate = own estimate); the joint mode puts every group on one horizontal line (the
    population value, tau = 0); the marginal mode and the posterior mean lie between. Shapes tell the summaries
    apart as well as colours; points are smaller with many groups."""
    _require_columns(groups, ["group", "rows", "own_estimate", *(s.replace(" ", "_") for s in SUMMARY_NAMES)],
                     "three_summaries_chart")
    long = groups.melt(id_vars=["group", "rows", "own_estimate"],
                       value_vars=[s.replace(" ", "_") for s in SUMMARY_NAMES], var_name="summary",
                       value_name="estimate")
    long["summary"] = long["summary"].str.replace("_", " ")
    values = pd.concat([long["own_estimate"], long["estimate"]]).astype(float)
    values = values[np.isfinite(values)]
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    pad = 0.05 * (high - low) if high > low else 1.0
    domain = [low - pad, high + pad]
    many = groups["group"].nunique() > MAX_LABELLED_GROUPS
    scale = alt.Scale(domain=domain, nice=False, zero=False)
    colour = alt.Color("summary:N", title=None, sort=list(SUMMARY_NAMES), scale=alt.Scale(
        domain=list(SUMMARY_NAMES), range=[SUMMARY_COLORS[s] for s in SUMMARY_NAMES]))
    shape = alt.Shape("summary:N", sort=list(SUMMARY_NAMES), scale=alt.Scale(
        domain=list(SUMMARY_NAMES), range=["diamond", "square", "circle"]), title=None)
    diagonal = pd.DataFrame({"x": [domain[0]], "y": [domain[0]], "x2": [domain[1]], "y2": [domain[1]],
                             "text": ["no pooling: estimate = own estimate"]})
    layers = [
        alt.Chart(diagonal).mark_rule(strokeWidth=2, strokeDash=[6, 4], color=POOLING_COLORS["none"]).encode(
            x=alt.X("x:Q", scale=scale), y=alt.Y("y:Q", scale=scale), x2="x2:Q", y2="y2:Q"),
        alt.Chart(diagonal).mark_text(align="right", baseline="bottom", dx=-8, dy=-8, fontWeight="bold",
                                      color=POOLING_COLORS["none"], angle=0).encode(
            x=alt.X("x2:Q", scale=scale), y=alt.Y("y2:Q", scale=scale), text="text:N"),
    ]
    # The marginal mode's squares hollow and larger, under the posterior means' dots: where the two agree (many
    # groups, a well-determined tau) both stay visible.
    for summary, filled, size in (("joint mode", True, 130), ("marginal mode", False, 200),
                                  ("posterior mean", True, 90)):
        layers.append(alt.Chart(long).transform_filter(alt.FieldEqualPredicate(field="summary", equal=summary))
                      .mark_point(filled=filled, opacity=0.9, strokeWidth=2.2,
                                  size=size * (0.55 if many else 1.0)).encode(
            x=alt.X("own_estimate:Q", title=f"own estimate (no pooling): {value_title}", scale=scale,
                    axis=_value_axis()),
            y=alt.Y("estimate:Q", title=f"estimate under each summary: {value_title}", scale=scale,
                    axis=_value_axis()),
            color=colour, shape=shape,
            tooltip=[alt.Tooltip("group:N"), alt.Tooltip("rows:Q", format="d"), alt.Tooltip("summary:N"),
                     alt.Tooltip("estimate:Q", format=NUMBER_FORMAT),
                     alt.Tooltip("own_estimate:Q", title="own estimate", format=NUMBER_FORMAT)],
        ))
    subtitle = ["Diamonds: the joint mode (τ = 0), every group on the population value. Hollow squares: the "
                "marginal", "mode of τ, what lme4 and empirical Bayes report. Dots: the posterior mean, averaging "
                "over τ. Dashed: no pooling."]
    return _layer(*layers).properties(title=_title("Three summaries of the same fit", subtitle),
                                      width=WIDTH - 120, height=WIDTH - 120)


def mode_profile_chart(tau: pd.DataFrame, summaries: pd.DataFrame, *, tau_title: str) -> alt.VConcatChart:
    """Why the joint mode collapses and the marginal mode does not: against tau (symlog), the joint log-density
    maximised over everything else (``log_joint_profile``, rising without bound as tau -> 0) and the marginal
    log-posterior of tau (``log_marginal``, the group effects integrated out), both 0 at the marginal mode;
    beneath, the posterior density of tau, with the three summaries marked on both.

    The y axis is clipped to [-L, L], L the marginal's fall over the grid, at least 4 and at most 12 (e^-12 of the
    peak is no mass): the joint's rise to the left leaves the top (that it does so is the point) without squashing
    the marginal, and the subtitle says so."""
    _require_columns(tau, ["position", "tau", "density", "label", "log_marginal", "log_joint_profile"],
                     "mode_profile_chart")
    _require_columns(summaries, ["summary", "tau", "position"], "mode_profile_chart")
    tau_df = tau.sort_values("position").reset_index(drop=True)
    constant, high = _symlog_constant(tau_df["tau"]), float(tau_df["tau"].max())
    marginal = tau_df["log_marginal"].astype(float)
    fall = float(-marginal[np.isfinite(marginal)].min()) if np.isfinite(marginal).any() else 4.0
    limit = min(max(fall, 4.0), 12.0)
    names_ = {"log_joint_profile": "joint log-density, maximised over the rest",
              "log_marginal": "marginal log-posterior of τ (groups integrated out)"}
    long = tau_df.melt(id_vars=["position", "tau", "label"], value_vars=list(names_), var_name="curve",
                       value_name="value")
    long["curve"] = long["curve"].map(names_)
    # Non-finite values (the joint at tau = 0 exactly) are left out of the lines, values beyond the clip are cut.
    long["value"] = long["value"].where(np.isfinite(long["value"].astype(float)))
    x_top = _tau_x(tau_df["tau"], tau_title, labels=False)
    x = _tau_x(tau_df["tau"], tau_title)
    colour = alt.Color("curve:N", title=None, sort=list(names_.values()), scale=alt.Scale(
        domain=list(names_.values()), range=[MAP_COLOR, OKABE_ITO["orange"]]),
        legend=alt.Legend(orient="bottom", direction="vertical"))
    lines = alt.Chart(long).transform_filter("isValid(datum.value)").mark_line(strokeWidth=4, clip=True).encode(
        x=x_top,
        y=alt.Y("value:Q", title="log density (0 at the marginal mode)",
                scale=alt.Scale(domain=[-limit, limit], nice=False), axis=_value_axis()),
        color=colour,
        tooltip=[alt.Tooltip("curve:N"), alt.Tooltip("label:N", title="τ"),
                 alt.Tooltip("value:Q", format=NUMBER_FORMAT)],
    )
    note = pd.DataFrame({"text": ["↑ the joint rises without bound as τ → 0"]})
    # The joint is infinite at tau = 0 and the grid may have no point between 0 and its first positive tau: a
    # dashed segment from the first finite value to the top edge at tau = 0 marks where it goes (not its shape).
    joint = tau_df[["tau", "log_joint_profile"]].astype(float)
    finite = joint[np.isfinite(joint["log_joint_profile"])]
    limit_layers: list[alt.Chart] = []
    if len(finite) and not np.isfinite(joint["log_joint_profile"].iloc[0]):
        first = finite.iloc[0]
        toward = pd.DataFrame({"tau": [0.0, float(first["tau"])],
                               "value": [1.2 * limit, float(first["log_joint_profile"])]})
        limit_layers.append(alt.Chart(toward).mark_line(strokeWidth=3, strokeDash=[4, 4], color=MAP_COLOR,
                                                        clip=True).encode(
            x=x_top, y=alt.Y("value:Q", scale=alt.Scale(domain=[-limit, limit], nice=False))))
    upper = _layer(
        *_summary_marks(summaries, x_top, constant, high, labels=False),
        *limit_layers,
        lines,
        alt.Chart(note).mark_text(align="left", baseline="top", x=8, y=8, fontWeight="bold",
                                  color=MAP_COLOR).encode(text="text:N"),
    ).resolve_scale(color="independent").properties(width=WIDTH, height=HEIGHT - 80)
    title = _title("The joint mode against the marginal mode",
                   ["Both curves are 0 at the marginal mode of τ (or the grid's first τ above 0, if that mode is 0)."
                    " The joint density,", "maximised over every other parameter, grows without bound toward τ = 0 "
                    f"(dashed: toward that limit). The y axis is cut at ±{limit:.3g}."])
    lower = _tau_posterior_panel(tau_df, summaries, x, constant, high,
                                 _title("Where the posterior's mass is",
                                        "The posterior density of τ, with the three summaries."))
    return alt.vconcat(upper, lower, spacing=20).resolve_scale(color="independent").properties(title=title)


def _tau_posterior_panel(tau_df: pd.DataFrame, summaries: pd.DataFrame, x: alt.X, constant: float, high: float,
                         title: alt.Title) -> alt.LayerChart:
    """The posterior density of τ with the three summaries and the two ends named: the panel beneath the
    trajectory and the mode profile."""
    height = 160
    ends_text = pd.DataFrame({"text": [COMPLETE_END, NO_POOLING_END], "side": ["left", "right"]})
    return _layer(*_density_panel(tau_df, summaries, x, height=height, top_room=1.9),
                  *_summary_marks(summaries, x, constant, high, labels=True),
                  *_end_labels(ends_text, height)).properties(width=WIDTH, height=height, title=title)
