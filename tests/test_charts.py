"""hiermodels.charts: chart specs (encodings, titles, selections, colours), the theme, and offline export."""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd
import pytest
from fakes import comparison, fake_data

from hiermodels import charts
from hiermodels.errors import SpecError
from hiermodels.model.spec import POOLING_LABELS, POOLINGS
from hiermodels.results import interpret

TRICKY = "O'Brien \"the\" {group} [x] \\ <b>"


@pytest.fixture(scope="module")
def comp():
    # Group 0 has a single row, so its own slope on x is not identified.
    return comparison(slope=True, correlated=True)


@pytest.fixture(scope="module")
def shrinkage(comp):
    return comp.shrinkage()


def _spec(chart) -> dict:
    return chart.to_dict()


def _walk(node):
    """Every dict in a spec, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _fields(spec: dict) -> set[str]:
    return {d["field"] for d in _walk(spec) if isinstance(d.get("field"), str)}


def _params(spec: dict) -> list[dict]:
    return [p for d in _walk(spec) for p in d.get("params", []) if isinstance(p, dict)]


def _colour_scales(spec: dict) -> list[dict]:
    """The explicit scales of every color encoding."""
    encodings = [d["color"] for d in _walk(spec) if isinstance(d.get("color"), dict)]
    return [e["scale"] for e in encodings if isinstance(e.get("scale"), dict) and "domain" in e["scale"]]


def _title_text(spec: dict) -> str:
    title = spec["title"]
    return title if isinstance(title, str) else title["text"]


def _datasets(spec: dict) -> dict[str, list]:
    return spec.get("datasets", {})


def _all_charts(comp, shrinkage):
    partial = comp["partial"]
    return {
        "group_sizes": charts.group_sizes_chart(interpret.group_sizes(partial.data)),
        "shrinkage": charts.shrinkage_chart(shrinkage, "intercept"),
        "shrinkage_2d": charts.shrinkage_2d_chart(shrinkage, "intercept", "x",
                                                  interpret.population_ellipse(partial, "intercept", "x")),
        "map_vs_mean": charts.map_vs_mean_chart(interpret.map_vs_mean_table(partial)),
        "scale": charts.scale_posterior_chart(interpret.scale_draws(partial, "intercept"), 1e-7, 0.6,
                                              "sd(intercept)"),
        "funnel": charts.funnel_chart(interpret.funnel_draws(partial, "intercept", "g0"),
                                      interpret.funnel_map_point(partial, "intercept", "g0")),
        "population": charts.population_chart(comp.population()),
        "prediction": charts.prediction_chart(interpret.prediction_draws(partial, "g0", {"x": 1.0})),
        "trace": charts.trace_chart(interpret.trace_draws(partial, "sd(x)")),
        "rank": charts.rank_chart(interpret.rank_table(partial, "sd(x)")),
    }


# ------------------------------------------------------------------------------------------------ palette, theme
def test_pooling_colours_are_okabe_ito_and_distinct():
    assert set(charts.POOLING_COLORS) == set(POOLINGS)
    assert set(charts.POOLING_COLORS.values()) <= set(charts.OKABE_ITO.values())
    assert len(set(charts.POOLING_COLORS.values())) == 3
    assert charts.OKABE_ITO["yellow"] not in charts.POOLING_COLORS.values()  # too pale on white


def test_lecture_theme_is_registered_and_large():
    config = charts.lecture_theme()["config"]
    assert config["axis"]["labelFontSize"] >= 16 and config["axis"]["titleFontSize"] >= 16
    assert config["title"]["fontSize"] >= 20
    assert config["legend"]["labelFontSize"] >= 16
    assert set(config["range"]["category"]) <= set(charts.OKABE_ITO.values())
    assert charts.THEME_NAME in alt.theme.names()
    before = alt.theme.active
    try:
        charts.use_theme()
        assert alt.theme.active == charts.THEME_NAME
        spec = alt.Chart(pd.DataFrame({"a": [1]})).mark_point().encode(x="a:Q").to_dict()
        assert spec["config"]["axis"]["labelFontSize"] == config["axis"]["labelFontSize"]
    finally:
        alt.theme.enable(before)


# ------------------------------------------------------------------------------------------------ every chart
def test_every_chart_has_a_title_and_data_under_the_row_limit(comp, shrinkage):
    for name, chart in _all_charts(comp, shrinkage).items():
        spec = _spec(chart)  # raises MaxRowsError above 5,000 rows
        assert _title_text(spec), name
        for rows in _datasets(spec).values():
            assert len(rows) <= 5000, name


def test_pooling_colours_are_used_wherever_poolings_appear(comp, shrinkage):
    for chart in (charts.shrinkage_chart(shrinkage, "x"), charts.population_chart(comp.population()),
                  charts.shrinkage_2d_chart(shrinkage, "intercept", "x",
                                            interpret.population_ellipse(comp["partial"], "intercept", "x"))):
        spec = _spec(chart)
        mapping = {}
        for scale in _colour_scales(spec):
            mapping.update(zip(scale["domain"], scale["range"], strict=True))
        for pooling in POOLINGS:
            assert mapping[POOLING_LABELS[pooling]] == charts.POOLING_COLORS[pooling]


# ------------------------------------------------------------------------------------------------ shrinkage
def test_shrinkage_chart_encodes_size_estimates_and_arrows(shrinkage):
    spec = _spec(charts.shrinkage_chart(shrinkage, "intercept", show_intervals=True))
    assert {"x", "none", "partial", "direction", "group", "n"} <= _fields(spec)
    assert "Shrinkage" in _title_text(spec)
    x_scales = [d["x"]["scale"] for d in _walk(spec) if isinstance(d.get("x"), dict) and "scale" in d["x"]]
    assert any(s.get("type") == "log" for s in x_scales)
    marks = [layer["mark"] for layer in spec["layer"]]
    assert any(mk.get("shape") == "triangle" for mk in marks if isinstance(mk, dict))  # arrowheads
    assert any(d.get("field") == "direction" and d.get("scale") is None for d in _walk(spec)
               if "field" in d and "scale" in d)
    assert not _params(spec)  # not selectable by default
    tooltips = {t["field"] for d in _walk(spec) for t in d.get("tooltip", []) if isinstance(t, dict)}
    assert {"group", "n", "none", "partial"} <= tooltips
    # Lines for complete pooling and the population mean.
    values = {row.get("series") for rows in _datasets(spec).values() for row in rows}
    assert {"complete pooling", "population mean"} <= values


def test_shrinkage_chart_marks_unidentified_groups(shrinkage):
    spec = _spec(charts.shrinkage_chart(shrinkage, "x"))
    rows = [row for rows in _datasets(spec).values() for row in rows if row.get("term") == "x"]
    g0 = next(row for row in rows if row["group"] == "g0")
    assert g0["identified"] is False
    assert g0["series_none"] == charts.UNIDENTIFIED_LABEL
    assert "cannot identify" in g0["note"]
    assert all(row["note"] == "" for row in rows if row["identified"])
    fills = [d["fill"] for d in _walk(spec) if isinstance(d.get("fill"), dict) and "condition" in d["fill"]]
    assert fills and fills[0]["value"] == "#ffffff"  # hollow when not identified


def test_shrinkage_chart_says_when_no_arrow_can_be_seen(shrinkage):
    """When every group's move is under a point's radius (Penicillin's samples move at most about 0.01 on an axis of 5),
    the subtitle says so instead of leaving the legend's partial-pooling heads to be looked for; a visible move
    adds nothing."""
    intercepts = shrinkage[shrinkage["term"] == "intercept"]
    visible = _spec(charts.shrinkage_chart(intercepts, "intercept"))
    assert not any("No arrow shows" in line for line in visible["title"]["subtitle"])

    span = float(intercepts["none"].max() - intercepts["none"].min())
    barely = intercepts.assign(partial=intercepts["none"] + 0.002 * span)
    subtitle = _spec(charts.shrinkage_chart(barely, "intercept"))["title"]["subtitle"]
    assert any(line.startswith("No arrow shows here") for line in subtitle)
    assert charts._number(0.002 * span) in " ".join(subtitle)
    note = subtitle[subtitle.index(next(line for line in subtitle if line.startswith("No arrow"))):]
    assert len(note) > 1 and max(map(len, note)) <= charts.SUBTITLE_CHARACTERS  # wrapped within the chart's width

    # One group moving a tenth of the axis is visible: no note.
    moved = barely.copy()
    moved.loc[moved.index[0], "partial"] = moved["none"].iloc[0] + 0.1 * span
    assert not any("No arrow shows" in line
                   for line in _spec(charts.shrinkage_chart(moved, "intercept"))["title"]["subtitle"])


def test_shrinkage_chart_highlight_and_selection(shrinkage):
    spec = _spec(charts.shrinkage_chart(shrinkage, "intercept", highlight="g3", selectable=True))
    params = _params(spec)
    assert [p["name"] for p in params] == ["group_pick"]
    assert params[0]["select"]["fields"] == ["group"]
    rows = [row for rows in _datasets(spec).values() for row in rows if "highlighted" in row and "term" in row]
    assert [row["group"] for row in rows if row["highlighted"]] == ["g3"]
    with pytest.raises(SpecError, match="cannot highlight"):
        charts.shrinkage_chart(shrinkage, "intercept", highlight="nobody")
    with pytest.raises(SpecError, match="no rows for the term"):
        charts.shrinkage_chart(shrinkage, "slope")


def test_user_strings_travel_only_as_data(shrinkage):
    """A label full of quotes, braces and markup appears in the datasets but in no expression or field name."""
    renamed = shrinkage.replace({"group": {"g3": TRICKY}})
    spec = _spec(charts.shrinkage_chart(renamed, "intercept", highlight=TRICKY, selectable=True))
    data = _datasets(spec)
    assert any(row.get("group") == TRICKY for rows in data.values() for row in rows)
    rest = json.dumps({k: v for k, v in spec.items() if k != "datasets"})
    assert "O'Brien" not in rest
    spec_2d = _spec(charts.shrinkage_2d_chart(renamed, "intercept", "x",
                                              pd.DataFrame({"prob": 0.5, "order": [0, 1], "x": 0.0, "y": 0.0}),
                                              highlight=TRICKY))
    assert "O'Brien" not in json.dumps({k: v for k, v in spec_2d.items() if k != "datasets"})


def test_shrinkage_2d_chart(comp, shrinkage):
    ellipse = interpret.population_ellipse(comp["partial"], "intercept", "x")
    spec = _spec(charts.shrinkage_2d_chart(shrinkage, "intercept", "x", ellipse, selectable=True))
    assert {"x_none", "y_none", "x_partial", "y_partial", "order", "prob"} <= _fields(spec)
    assert [p["name"] for p in _params(spec)] == ["group_pick"]
    angles = [d["angle"]["expr"] for d in _walk(spec) if isinstance(d.get("angle"), dict) and "expr" in d["angle"]]
    assert angles and "scale('x'" in angles[0]
    assert any(len(rows) == len(ellipse) for rows in _datasets(spec).values())
    values = {row.get("series") for rows in _datasets(spec).values() for row in rows}
    assert {"complete pooling", "population mean"} <= values


# ------------------------------------------------------------------------------------------------ MAP vs mean
def test_map_vs_mean_chart_flags_collapse_and_has_both_markers(comp):
    table = interpret.map_vs_mean_table(comp["partial"])
    spec = _spec(charts.map_vs_mean_chart(table, highlight="g2"))
    assert "vconcat" in spec and "MAP" in _title_text(spec)
    scales = _colour_scales(spec)
    mapping = {k: v for s in scales for k, v in zip(s["domain"], s["range"], strict=True)}
    assert mapping["MAP (joint mode)"] == charts.MAP_COLOR
    assert mapping["interval (scale's MAP collapsed to ~0)"] == charts.COLLAPSED_COLOR
    shapes = [d for d in _walk(spec) if d.get("field") == "estimate" and isinstance(d.get("scale"), dict)
              and "diamond" in d["scale"].get("range", [])]
    assert shapes
    group_rows = [row for rows in _datasets(spec).values() for row in rows if row.get("level") == "group"]
    assert {row["interval"] for row in group_rows if row["term"] == "intercept"} == {
        "interval (scale's MAP collapsed to ~0)"}
    assert [row["name"] for row in group_rows if row["highlighted"]] == ["g2", "g2"]


def test_map_vs_mean_chart_without_group_rows(comp):
    table = interpret.map_vs_mean_table(comp["complete"])
    spec = _spec(charts.map_vs_mean_chart(table))
    assert "vconcat" not in spec and "facet" in spec


# ------------------------------------------------------------------------------------------------ scale, funnel
def test_scale_posterior_chart_marks_map_and_mean(comp):
    draws = interpret.scale_draws(comp["partial"], "intercept")
    spec = _spec(charts.scale_posterior_chart(draws, 1e-7, 0.6, "sd(intercept)"))
    marks = [row for rows in _datasets(spec).values() for row in rows if "estimate" in row]
    assert {row["estimate"] for row in marks} == {"MAP (joint mode)", "posterior mean"}
    assert any(row["text"].startswith("MAP") for row in marks)
    assert "collapsed" in " ".join(spec["title"]["subtitle"])
    no_map = _spec(charts.scale_posterior_chart(draws, float("nan"), 0.6, "sd(intercept)"))
    assert [row["estimate"] for rows in _datasets(no_map).values() for row in rows if "estimate" in row] == [
        "posterior mean"]


def test_funnel_chart_pins_a_collapsed_map_to_the_left_edge(comp):
    partial = comp["partial"]
    draws = interpret.funnel_draws(partial, "intercept", "g1")
    spec = _spec(charts.funnel_chart(draws, {"sd": 1e-7, "log_sd": np.log(1e-7), "deviation": 0.0}))
    assert {"sd", "deviation"} <= _fields(spec)
    modes = [row for rows in _datasets(spec).values() for row in rows if row.get("kind") == "MAP (joint mode)"]
    assert modes and "off the chart" in modes[0]["text"]
    assert modes[0]["sd"] == pytest.approx(draws["sd"].min() / 1.5)
    inside = _spec(charts.funnel_chart(draws, {"sd": float(draws["sd"].median()), "deviation": 0.1}))
    modes = [row for rows in _datasets(inside).values() for row in rows if row.get("kind") == "MAP (joint mode)"]
    assert "off the chart" not in modes[0]["text"]
    no_map = _spec(charts.funnel_chart(draws))
    assert not [row for rows in _datasets(no_map).values() for row in rows if row.get("kind") == "MAP (joint mode)"]


# ------------------------------------------------------------------------------------------------ others
def test_population_chart_facets_parameters_and_colours_poolings(comp):
    spec = _spec(charts.population_chart(comp.population(), names=["intercept", "sigma"]))
    assert spec["facet"]["row"]["field"] == "name"
    rows = spec["datasets"][spec["data"]["name"]]
    assert {row["name"] for row in rows} == {"intercept", "sigma"}
    assert {row["pooling_label"] for row in rows} <= set(POOLING_LABELS.values())


def test_prediction_chart_puts_existing_and_new_groups_side_by_side(comp):
    frame = interpret.prediction_draws(comp["partial"], "g2")
    spec = _spec(charts.prediction_chart(frame))
    assert spec["facet"]["row"]["field"] == "quantity"
    transforms = [t for d in _walk(spec) for t in d.get("transform", [])]
    assert any("density" in t for t in transforms)
    series = {row["series"] for row in spec["datasets"][spec["data"]["name"]]}
    assert series == {"existing group: g2", "new group"}


def test_trace_and_rank_charts(comp):
    trace = _spec(charts.trace_chart(interpret.trace_draws(comp["partial"], "sigma")))
    assert {"draw", "value", "chain"} <= _fields(trace)
    rank = _spec(charts.rank_chart(interpret.rank_table(comp["partial"], "sigma")))
    assert rank["facet"]["column"]["field"] == "chain"
    assert {"bin", "count", "expected"} <= _fields(rank)


def test_group_sizes_chart_hides_labels_for_many_groups():
    few = _spec(charts.group_sizes_chart(interpret.group_sizes(fake_data())))
    assert few["encoding"]["y"]["axis"]["labels"] is True
    many = _spec(charts.group_sizes_chart(pd.DataFrame({"group": [f"g{i}" for i in range(60)], "n": 3})))
    assert many["encoding"]["y"]["axis"]["labels"] is False


# ------------------------------------------------------------------------------------------------ export
def test_to_png_and_to_svg_render_offline_with_the_theme(comp, shrinkage):
    chart = charts.shrinkage_chart(shrinkage, "intercept")
    png = charts.to_png(chart, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = charts.to_svg(chart)
    assert svg.lstrip().startswith("<svg")
    assert 'font-size="22px"' in svg or "font-size: 22px" in svg  # the theme's title size


# ------------------------------------------------------------------------------------------------ lecture hall
def _font_sizes(node) -> list[tuple[str, float]]:
    return [(key, value) for d in _walk(node) for key, value in d.items()
            if key.lower().endswith("fontsize") and isinstance(value, (int, float))]


def _truth_frames():
    table = pd.DataFrame({"group": [f"player {i}" for i in range(6)], "term": "intercept", "n": 45,
                          "identified": True, "none": [0.16, 0.2, 0.24, 0.27, 0.31, 0.4],
                          "partial": [0.24, 0.25, 0.26, 0.265, 0.27, 0.29], "complete": 0.265})
    truth = pd.DataFrame({"group": table["group"], "truth": [0.2, 0.26, 0.26, 0.261, 0.262, 0.35]})
    return interpret.truth_comparison(table, truth), interpret.truth_errors(table, truth)


def test_no_text_under_16_px_anywhere(comp, shrinkage):
    """The theme's every font size, and any size a chart sets itself, is at least 16 px (readable at the back of a
    lecture hall from a 1400 px-wide page)."""
    config = charts.lecture_theme()["config"]
    sizes = _font_sizes(config)
    assert {"labelFontSize", "titleFontSize", "subtitleFontSize", "fontSize"} <= {k for k, _ in sizes}
    assert all(size >= 16 for _, size in sizes), sizes
    assert config["text"]["fontSize"] >= 16 and config["legend"]["labelFontSize"] >= 16
    comparison, errors = _truth_frames()
    every = {**_all_charts(comp, shrinkage), "truth": charts.truth_chart(comparison, "batting average"),
             "truth_errors": charts.truth_error_chart(errors)}
    for name, chart in every.items():
        spec = _spec(chart)
        assert all(size >= 16 for _, size in _font_sizes(spec)), name


def test_divergent_draws_are_large_red_and_in_the_legend(comp):
    draws = interpret.funnel_draws(comp["partial"], "intercept", "g1")
    draws["divergent"] = np.arange(len(draws)) % 50 == 0
    spec = _spec(charts.funnel_chart(draws))
    label = f"divergent transition ({int(draws['divergent'].sum())} of {len(draws)} draws shown)"
    mapping = {k: v for s in _colour_scales(spec) for k, v in zip(s["domain"], s["range"], strict=True)}
    assert mapping[label] == charts.DIVERGENT_COLOR == charts.OKABE_ITO["vermillion"]
    layers = [layer for layer in spec["layer"] if {"filter": "datum.divergent"} in layer.get("transform", [])]
    assert len(layers) == 1 and spec["layer"].index(layers[0]) == len(spec["layer"]) - 1  # drawn on top
    mark = layers[0]["mark"]
    plain = next(layer["mark"] for layer in spec["layer"] if layer["mark"]["type"] == "circle")
    assert mark["size"] >= 5 * plain["size"] and mark["opacity"] == 1.0 and mark["filled"]
    # With no divergences the legend still names them, with their count (0).
    none = _spec(charts.funnel_chart(draws.assign(divergent=False)))
    assert any(f"divergent transition (0 of {len(draws)}" in d for s in _colour_scales(none) for d in s["domain"])


def test_quantitative_axes_cannot_print_labels_into_each_other(comp, shrinkage):
    """sleepstudy's 2-D shrinkage printed "305310": labels are thinned with a gap, about six per axis."""
    assert charts.lecture_theme()["config"]["axis"]["labelSeparation"] >= 8
    spec = _spec(charts.shrinkage_2d_chart(shrinkage, "intercept", "x",
                                           interpret.population_ellipse(comp["partial"], "intercept", "x")))
    for channel in ("x", "y"):
        axes = [d[channel]["axis"] for d in _walk(spec)
                if isinstance(d.get(channel), dict) and isinstance(d[channel].get("axis"), dict)]
        assert axes, channel
        for axis in axes:
            assert axis["labelOverlap"] is True and axis["labelSeparation"] >= 8 and axis["tickCount"] <= 6
            assert "format" not in axis  # "~g" would print 320 as "3.2e+2"
    png = charts.to_png(charts.shrinkage_2d_chart(shrinkage.assign(none=shrinkage["none"] * 100 + 300),
                                                  "intercept", "x",
                                                  interpret.population_ellipse(comp["partial"], "intercept", "x")),
                        scale=1)
    assert png[:4] == b"\x89PNG"


def test_counts_have_integer_axes(comp, shrinkage):
    sizes = _spec(charts.group_sizes_chart(interpret.group_sizes(comp["partial"].data)))
    assert sizes["encoding"]["x"]["axis"]["format"] == "d" and sizes["encoding"]["x"]["axis"]["tickMinStep"] == 1
    spec = _spec(charts.shrinkage_chart(shrinkage, "intercept"))
    n_axes = [d["x"]["axis"] for d in _walk(spec) if isinstance(d.get("x"), dict) and "axis" in d["x"]]
    assert n_axes and all(a["format"] == "d" for a in n_axes)
    assert all(v == int(v) and v >= 1 for a in n_axes for v in a["values"])
    scale = _spec(charts.scale_posterior_chart(interpret.scale_draws(comp["partial"], "intercept"), 0.5, 0.6,
                                               "sd(intercept)"))
    counts = [d["y"]["axis"] for d in _walk(scale) if isinstance(d.get("y"), dict) and d["y"].get("field") == "count"]
    assert counts and counts[0]["format"] == "d"
    assert charts._log_ticks(0.8, 2.5, integer=True) == [1.0, 2.0]
    assert 0.8 in charts._log_ticks(0.8, 2.5)


def test_printed_numbers_share_one_precision(comp, shrinkage):
    """Every quantitative tooltip prints 4 significant digits (counts as integers, the pooling factor as a
    proportion), and the labels drawn on the charts use the same precision."""
    allowed = {charts.NUMBER_FORMAT, "d", ".2f"}
    comparison, errors = _truth_frames()
    every = {**_all_charts(comp, shrinkage), "truth": charts.truth_chart(comparison, "batting average"),
             "truth_errors": charts.truth_error_chart(errors)}
    for name, chart in every.items():
        spec = _spec(chart)
        tooltips = [t for d in _walk(spec) for t in (d.get("tooltip") if isinstance(d.get("tooltip"), list) else [])
                    if isinstance(t, dict) and t.get("type") == "quantitative"]
        for tooltip in tooltips:
            assert tooltip.get("format") in allowed, (name, tooltip)
    lines = _spec(charts.shrinkage_chart(shrinkage, "intercept"))
    texts = [row["text"] for rows in _datasets(lines).values() for row in rows if "text" in row]
    assert texts and all(t.split()[-1] == format(float(t.split()[-1]), ".4g") for t in texts)
    assert charts._number(128.8953) == "128.9" and charts._number(0.26543) == "0.2654"


def test_group_names_stand_beside_points_when_there_is_room(shrinkage, comp):
    def label_layers(spec):
        return [layer for layer in spec["layer"] if isinstance(layer.get("mark"), dict)
                and layer["mark"]["type"] == "text" and layer.get("encoding", {}).get("text", {}).get("field")
                == "group"]

    few = _spec(charts.shrinkage_chart(shrinkage, "intercept", highlight="g2"))  # 8 groups
    filters = [layer["transform"][0]["filter"] for layer in label_layers(few)]
    assert filters == ["(!datum.highlighted)", "datum.highlighted"]
    assert next(lyr for lyr in label_layers(few) if lyr["transform"][0]["filter"] == "datum.highlighted")[
        "mark"]["fontWeight"] == "bold"
    many_groups = pd.concat([shrinkage.assign(group=shrinkage["group"] + f"_{k}") for k in range(3)])
    many = _spec(charts.shrinkage_chart(many_groups, "intercept", highlight="g2_1"))  # 24 groups
    assert [layer["transform"][0]["filter"] for layer in label_layers(many)] == ["datum.highlighted"]
    ellipse = interpret.population_ellipse(comp["partial"], "intercept", "x")
    two = _spec(charts.shrinkage_2d_chart(shrinkage, "intercept", "x", ellipse))
    assert len(label_layers(two)) == 2


def test_shrinkage_chart_never_jitters_and_ranks_groups_of_equal_size(shrinkage):
    unequal = _spec(charts.shrinkage_chart(shrinkage, "intercept"))
    rows = [row for rows in _datasets(unequal).values() for row in rows if row.get("term") == "intercept"]
    assert all(row["x"] == row["n"] for row in rows)  # the true n; ties only offset in pixels
    equal = shrinkage[shrinkage["term"] == "intercept"].assign(n=10)
    equal["none_upper"] = equal["none_lower"] + 1.0  # equally certain: ranks
    spec = _spec(charts.shrinkage_chart(equal, "intercept", highlight="g3"))
    x = spec["layer"][-3]["encoding"]["x"]
    assert x["field"] == "group" and x["type"] == "nominal" and x["sort"] == {"field": "x", "op": "min"}
    assert "order of their own estimate" in x["title"]
    rows = [row for rows in _datasets(spec).values() for row in rows if "dx" in row]
    assert rows and all(row["dx"] == 0 for row in rows)
    assert sorted(row["x"] for row in rows) == list(range(1, 9))
    assert "same n" in " ".join(spec["title"]["subtitle"])
    tied = charts._side_by_side(pd.Series([1, 1, 1, 5, 2, 2]))
    np.testing.assert_allclose(tied, [-10, 0, 10, 0, -5, 5])
    crowd = charts._side_by_side(pd.Series(np.ones(11)))
    assert np.abs(crowd).max() <= 24 and np.diff(crowd).min() > 0
    # On a log axis the lane of size n stays under half the way to n + 1, so no group reads as another size.
    sizes = pd.Series([1, 2, 4, 10, 100])
    lanes = charts._size_lanes(sizes, 0.8, 125.0)
    px_per_log = charts.WIDTH / np.log(125.0 / 0.8)
    for n, half in lanes.items():
        assert 0 < half <= 24 and half < 0.5 * px_per_log * np.log((n + 1) / n)
    assert lanes[100] < lanes[10] < lanes[2]
    offsets = charts._side_by_side(pd.Series([100] * 5), half_width=lanes)
    assert np.abs(offsets).max() <= lanes[100] + 1e-12


# ------------------------------------------------------------------------------------------------ truth
def test_truth_chart_draws_parallel_axes_with_a_line_per_group():
    comparison, _ = _truth_frames()
    spec = _spec(charts.truth_chart(comparison, "batting average", highlight="player 5"))
    assert "truth" in _title_text(spec).lower()
    axes = [d["x"]["axis"] for d in _walk(spec) if isinstance(d.get("x"), dict)
            and isinstance(d["x"].get("axis"), dict) and "values" in d["x"]["axis"]]
    assert axes[0]["values"] == [0, 1, 2]
    lines = [layer for layer in spec["layer"] if layer["mark"]["type"] == "line"]
    assert lines[0]["encoding"]["detail"]["field"] == "group" and lines[0]["encoding"]["order"]["field"] == "order"
    mapping = {k: v for s in _colour_scales(spec) for k, v in zip(s["domain"], s["range"], strict=True)}
    assert mapping["no pooling"] == charts.POOLING_COLORS["none"] and mapping["truth"] == charts.TRUTH_COLOR
    assert mapping["complete pooling"] == charts.POOLING_COLORS["complete"]
    labels = [row for rows in _datasets(spec).values() for row in rows if "label_y" in row]
    assert sorted(row["group"] for row in labels) == sorted(set(comparison["group"]))
    positions = sorted(row["label_y"] for row in labels)
    domain = next(d["y"]["scale"]["domain"] for d in _walk(spec) if isinstance(d.get("y"), dict)
                  and isinstance(d["y"].get("scale"), dict) and "domain" in d["y"]["scale"])
    min_gap = charts.LABEL_GAP_PX * (domain[1] - domain[0]) / charts.HEIGHT
    assert np.diff(positions).min() >= 0.9 * min_gap  # four truths within 0.002 do not overlap
    bold = [layer for layer in spec["layer"] if layer["mark"].get("fontWeight") == "bold"]
    assert bold and bold[0]["transform"] == [{"filter": "datum.highlighted"}]
    with pytest.raises(SpecError, match="no-pooling and partial-pooling"):
        charts.truth_chart(comparison[comparison["axis"] != "no pooling"], "batting average")


def test_spread_labels_is_least_squares_with_a_minimum_gap():
    np.testing.assert_allclose(charts._spread_labels(np.array([0.0, 0.0, 0.0]), 1.0), [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(charts._spread_labels(np.array([0.0, 5.0]), 1.0), [0.0, 5.0])
    np.testing.assert_allclose(charts._spread_labels(np.array([0.0, 0.5, 4.0]), 1.0), [-0.25, 0.75, 4.0])
    # A block that grows into the next label merges with it.
    np.testing.assert_allclose(charts._spread_labels(np.array([0.0, 0.0, 1.0]), 1.0), [-2 / 3, 1 / 3, 4 / 3])


def test_truth_error_chart_prints_each_poolings_error():
    _, errors = _truth_frames()
    spec = _spec(charts.truth_error_chart(errors))
    rows = spec["datasets"][spec["layer"][0]["data"]["name"]] if "data" in spec["layer"][0] else next(
        iter(_datasets(spec).values()))
    assert {row["estimate"] for row in rows} == {"no pooling", "partial pooling", "complete pooling"}
    texts = {row["pooling"]: row["text"] for row in rows}
    assert texts["none"] == format(errors.set_index("pooling").loc["none", "sum_squared_error"], ".4g")
    assert "of no pooling's" in texts["partial"]
    mapping = {k: v for s in _colour_scales(spec) for k, v in zip(s["domain"], s["range"], strict=True)}
    assert mapping["partial pooling"] == charts.POOLING_COLORS["partial"]
    assert interpret.RAW_LABEL not in mapping  # only what the chart shows
    comparison, _ = _truth_frames()
    table = pd.DataFrame({"group": comparison["group"].unique(), "term": "intercept", "n": 1, "identified": True,
                          "raw": 0.25, "none": 0.25, "partial": 0.26})
    with_raw = _spec(charts.truth_error_chart(interpret.truth_errors(
        table, pd.DataFrame({"group": table["group"], "truth": 0.27}))))
    mapping = {k: v for s in _colour_scales(with_raw) for k, v in zip(s["domain"], s["range"], strict=True)}
    assert mapping[interpret.RAW_LABEL] == charts.RAW_COLOR
    y = next(d["y"] for d in _walk(with_raw) if isinstance(d.get("y"), dict) and d["y"].get("field") == "estimate")
    assert y["sort"][0] == interpret.RAW_LABEL


def test_no_linear_axis_prints_in_exponent_notation(comp, shrinkage):
    """Vega rounds an explicit "~g" to the tick step, so a linear axis of 20, 40, 60 would read 2e+1, 4e+1, 6e+1:
    "~g" is only for log axes with explicit tick values."""
    for name, chart in _all_charts(comp, shrinkage).items():
        for d in _walk(_spec(chart)):
            for channel in ("x", "y"):
                encoding = d.get(channel)
                if isinstance(encoding, dict) and isinstance(encoding.get("axis"), dict) \
                        and encoding["axis"].get("format") == "~g":
                    assert encoding.get("scale", {}).get("type") == "log", (name, channel)


def test_axis_titles_say_what_the_numbers_are_when_the_table_does(shrinkage):
    """The shrinkage table's ``shown_as`` ("probability" on the natural scale of a binomial model) reaches the
    axis title; without it, or when empty (identity link), the title is the term alone."""
    labelled = shrinkage.assign(shown_as=np.where(shrinkage["term"] == "intercept", "probability", ""))
    spec = _spec(charts.shrinkage_chart(labelled, "intercept"))
    titles = {d["y"]["title"] for d in _walk(spec) if isinstance(d.get("y"), dict) and "title" in d["y"]}
    assert titles == {"estimate: intercept (probability)"}
    plain = _spec(charts.shrinkage_chart(labelled, "x"))
    assert {d["y"]["title"] for d in _walk(plain) if isinstance(d.get("y"), dict) and "title" in d["y"]} == {
        "estimate: x"}
    ellipse = pd.DataFrame({"prob": 0.5, "order": [0, 1], "x": 0.0, "y": 0.0})
    two = _spec(charts.shrinkage_2d_chart(labelled, "intercept", "x", ellipse))
    assert two["layer"][1]["encoding"]["x"]["title"] == "intercept (probability)"
