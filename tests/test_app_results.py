"""The four results pages (Shrinkage, MAP vs mean, Population & prediction, Diagnostics) through AppTest.

Nothing is sampled: the fits are fake posteriors (:mod:`fakes`) put straight into the app's fit store.
``cache.fit_store()`` is an ``st.cache_resource``, which lives in the process, not in a session, so the store
the test fills is the very one the AppTest script reads (the pages finding the fit is the proof). Each test
uses its own fit key, because the ``st.cache_data`` tables are process-wide too.

A click in a chart cannot be made through AppTest's public API (charts are "unknown" elements without
``set_value``), so :func:`click_group` sends the selection state a browser would send through AppTest's
private ``_tree`` / ``_run``; if a Streamlit upgrade breaks it, that test needs updating, not the page.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from fakes import comparison, fake_data, fake_fit, fake_fit_poolings
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest
from test_app import every_run_through_app  # noqa: F401 (a fixture, used by name)

from hiermodels.data.datasets import SAMPLES, sample_by_name
from hiermodels.data.preparing import prepare
from hiermodels.model import build as m
from hiermodels.model.spec import POOLINGS, GroupingFactor, ModelSpec
from hiermodels.results import interpret
from hiermodels.results.comparison import PoolingComparison
from hiermodels.results.variance import variance_decomposition
from hiermodels_ui import cache, state

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60
DIAL, SHRINKAGE, MAP_VS_MEAN, POPULATION, DIAGNOSTICS = (
    "pages/7_pooling_dial.py", "pages/3_shrinkage.py", "pages/4_map_vs_mean.py", "pages/5_population.py",
    "pages/6_diagnostics.py")
RESULT_PAGES = (DIAL, SHRINKAGE, MAP_VS_MEAN, POPULATION, DIAGNOSTICS)
# The MAP vs mean page's three summaries (tests/test_app_dial.py): two charts between the MAP chart and the funnel.
THREE_SUMMARIES = ["Three summaries of the same fit", "The joint mode against the marginal mode"]
HOSTILE = "**bold** <script>alert(1)</script>"
# Eight groups of 1, 2, 3, 5, 8, 13, 21 and 40 rows; the second one has a hostile label.
LABELS = ("g0", HOSTILE, "g2", "g3", "g4", "g5", "g6", "g7")


# ------------------------------------------------------------------------------------------------ helpers
@pytest.fixture(scope="module")
def comp() -> PoolingComparison:
    """All three poolings, intercept and slope varying (correlated); the partial-pooling MAP has tau ~ 0."""
    data = replace(fake_data(slope=True), group_labels=LABELS)
    return comparison(data, slope=True, correlated=True)


def subset(comp: PoolingComparison, *poolings: str) -> PoolingComparison:
    return PoolingComparison({p: comp[p] for p in poolings})


def open_page(page: str, fit: PoolingComparison | None, **session) -> AppTest:
    """The app after one run, with ``fit`` in the store (under a fresh key) and on ``page``.

    The results pages show only a fit of the table and roles loaded now, so the session's table is one with the
    fit's fingerprint and its spec the fit's (the fake fits are of no real file).
    """
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if fit is not None:
        key = state.FitKey(f"test-{uuid.uuid4().hex}", fit[fit.poolings[-1]].spec, fit.poolings)
        cache.fit_store().put(key, fit)
        at.session_state["hm_table"] = state.LoadedTable(pd.DataFrame(), "fake fit data", key.fingerprint)
        at.session_state["hm_spec"] = key.spec
        at.session_state["hm_fit_key"] = key
    for name, value in session.items():
        at.session_state[name] = value
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list:
    return list(at.get("vega_lite_chart"))


def title_of(chart) -> str:
    title = json.loads(chart.proto.spec).get("title", "")
    return title.get("text", "") if isinstance(title, dict) else str(title)


def chart_frames(chart) -> list[pd.DataFrame]:
    """The data sets Streamlit sends with a chart (named datasets, plus inline data if any)."""
    frames = [convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets]
    if chart.proto.data.data:
        frames.append(convert_arrow_bytes_to_pandas_df(chart.proto.data.data))
    return frames


def frame_with(chart, *columns: str) -> pd.DataFrame:
    return next(f for f in chart_frames(chart) if set(columns) <= set(f.columns))


def map_vs_mean_rows(chart, level: str) -> pd.DataFrame:
    """The population or the group rows of the MAP vs mean chart (each panel has its own data set)."""
    return next(f for f in chart_frames(chart) if "level" in f and set(f["level"]) == {level})


def markdown_like(at: AppTest) -> str:
    """Everything Streamlit renders as markdown, where user strings must never go."""
    kinds = ("markdown", "caption", "info", "warning", "error", "success", "title", "header", "subheader")
    return "\n".join(str(element.value) for kind in kinds for element in getattr(at, kind))


def texts(at: AppTest, kind: str) -> list[str]:
    return [str(element.value) for element in getattr(at, kind)]


def click_group(at: AppTest, chart, group: str) -> None:
    """What the browser sends when a group's point is clicked in a selectable chart (private AppTest API)."""
    widget_states = at._tree.get_widget_states()
    widget_states.widgets.append(WidgetState(
        id=chart.proto.id, string_value=json.dumps({"selection": {"group_pick": [{"group": group}]}})))
    at._run(widget_states)
    assert not at.exception, [e.value for e in at.exception]


def highlighted_groups(chart) -> set[str]:
    frame = frame_with(chart, "group", "highlighted")
    return set(frame.loc[frame["highlighted"].astype(bool), "group"])


# ------------------------------------------------------------------------------------------------ every page
@pytest.mark.parametrize("page", RESULT_PAGES)
def test_without_a_fit_each_page_asks_for_one(page):
    # The fit store is shared by every session of the process: an earlier test's fit of the default sample would be
    # found (and rightly shown) for the default sample here.
    cache.fit_store.clear()
    at = open_page(page, None)
    assert any(text.startswith("Nothing fitted yet") for text in texts(at, "info"))
    assert not charts(at)
    # A key whose fit has left the store (it is bounded) is the same as no fit.
    at.session_state["hm_fit_key"] = state.FitKey("test-gone", comparison()["partial"].spec, ("partial",))
    at.run()
    assert not at.exception
    assert any(text.startswith("Nothing fitted yet") for text in texts(at, "info"))


@pytest.mark.parametrize("page", RESULT_PAGES)
def test_each_page_shows_the_fitted_model_and_keeps_hostile_labels_out_of_markdown(comp, page):
    at = open_page(page, comp, hm_highlight=HOSTILE)
    assert at.title[0].value
    formulas = dict(line.split(":", 1) for line in at.code[0].value.splitlines())
    assert {label: f.strip() for label, f in formulas.items()} == {
        "complete pooling": "y ~ 1 + x", "no pooling": "y ~ 0 + g + g:x", "partial pooling": "y ~ 1 + x + (1 + x | g)"}
    assert HOSTILE not in markdown_like(at)
    assert "<script>" not in markdown_like(at)


def test_hostile_labels_reach_tables_and_charts_as_data(comp):
    at = open_page(SHRINKAGE, comp, hm_highlight=HOSTILE)
    assert at.selectbox(key="w_highlight").value == HOSTILE
    assert any(HOSTILE in set(frame["group"]) for frame in (df.value for df in at.dataframe) if "group" in frame)
    assert all(highlighted_groups(chart) == {HOSTILE} for chart in charts(at))
    at.switch_page(MAP_VS_MEAN).run()
    assert not at.exception
    assert at.selectbox(key="w_funnel_group").value == HOSTILE
    assert HOSTILE not in markdown_like(at)


def sample_fit(sample, poolings=POOLINGS) -> PoolingComparison:
    """A fake fit of a bundled sample: its real groups, terms and family, fake draws."""
    data = prepare(sample.load(), sample.spec)
    fit = fake_fit_poolings(data, sample.spec, poolings)
    # fake_fit_poolings leaves out the gamma shape alpha and the correlation matrix of correlated effects.
    rng = np.random.default_rng(0)
    results = {}
    for pooling, result in fit.results.items():
        draws = {name: result.draws[name].to_numpy() for name in result.draws.data_vars}
        chains, n_draws = next(iter(draws.values())).shape[:2]
        extra = {}
        if result.spec.family == "gamma":
            extra[m.GAMMA_SHAPE] = rng.lognormal(2.0, 0.1, (chains, n_draws))
        if pooling == "partial" and result.spec.correlated:
            k = draws[m.GROUP_SD].shape[-1]
            extra[m.CORRELATION] = np.broadcast_to(0.3 + 0.7 * np.eye(k), (chains, n_draws, k, k)).copy()
        mode = {**result.map_point, **{name: values.mean(axis=(0, 1)) for name, values in extra.items()}}
        results[pooling] = fake_fit(result.spec, result.data, {**draws, **extra}, map_point=mode)
    return PoolingComparison(results)


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_every_page_works_for_every_bundled_sample(sample):
    """Real group labels, terms and families (binomial, known_se, gamma, categorical predictors)."""
    fit = sample_fit(sample)
    at = open_page(SHRINKAGE, fit)
    n_terms = len(fit["partial"].data.terms_of(sample.spec.varying))
    # With a group-level predictor (radon with uranium) Gelman & Hill's figure takes the intercept's chart's place.
    assert len(charts(at)) == n_terms + (n_terms >= 2)
    # The variance decomposition where the family has one (gaussian, binomial).
    shares = variance_decomposition(fit["partial"]) is not None
    for page, expected in ((MAP_VS_MEAN, 3 + 2 * n_terms), (POPULATION, 2 + shares), (DIAGNOSTICS, 2)):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert len(charts(at)) == expected, page


def test_shrinkage_draws_each_group_toward_its_own_predicted_value():
    """Radon with county uranium: no pooling leaves log_uranium out (as fit_poolings does), and the Shrinkage page
    shows Gelman & Hill's figure instead of the intercept's flat-mean chart, with the sentence above it."""
    fit = sample_fit(sample_by_name("Radon with county uranium"))
    assert fit["none"].spec.predictors == ("floor",) and fit["none"].data.terms == ("intercept", "floor")
    at = open_page(SHRINKAGE, fit)
    assert [title_of(chart) for chart in charts(at)] == ["Shrinkage toward a group-level regression"]
    assert ("log_uranium is a property of county, and partial pooling uses it: each county is pulled toward its own "
            "predicted value from log_uranium (the line), not toward one flat mean.") in texts(at, "text")
    frame = frame_with(charts(at)[0], "group", "u", "partial", "predicted")
    assert len(frame) == 85 and frame["u"].notna().all()
    table = next(df.value for df in at.dataframe if "pooling_factor" in df.value)
    assert table["population_mean"].nunique() == 85  # each county's own predicted level
    at.checkbox(key="w_shrinkage_intervals").check().run()
    assert not at.exception
    at.switch_page(POPULATION).run()
    assert not at.exception


@pytest.mark.parametrize("poolings", [("complete",), ("none",), ("complete", "none")])
def test_every_page_works_without_partial_pooling(poolings):
    fit = sample_fit(SAMPLES[1], poolings)  # two varying terms
    at = open_page(SHRINKAGE, fit)
    for page in (MAP_VS_MEAN, POPULATION, DIAGNOSTICS):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
    assert any("only under partial pooling" in text for text in texts(at.switch_page(MAP_VS_MEAN).run(), "info"))


# ------------------------------------------------------------------------------------------------ shrinkage
@pytest.mark.parametrize("name", ["Baseball batting averages", "Daughters' heights"])
def test_shrinkage_compares_with_the_truth_when_the_sample_has_one(name):
    """A sample with a held-out truth, loaded as itself, gets the raw -> shrunken -> truth chart and each
    pooling's squared error (the numbers of interpret.truth_errors on the page's own shrinkage table)."""
    sample = sample_by_name(name)
    fit = sample_fit(sample)
    at = open_page(SHRINKAGE, fit)
    assert "Against the truth" not in texts(at, "subheader")  # a table that is not the sample: no truth
    key = at.session_state["hm_fit_key"]
    at.session_state["hm_table"] = state.LoadedTable(sample.load(), sample.name, key.fingerprint, sample)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Against the truth" in texts(at, "subheader")
    assert any(text.startswith("Horizontal axis:") for text in texts(at, "caption"))  # which axis, said
    assert [title_of(c) for c in charts(at)][-2:] == ["Estimates against the truth", "Squared error against the truth"]
    shown = next(frame.value for frame in at.dataframe if "sum_squared_error" in frame.value)
    expected = interpret.truth_errors(fit.shrinkage(scale="natural"), sample.load_truth())
    np.testing.assert_allclose(shown["sum_squared_error"], expected["sum_squared_error"])
    assert interpret.truth_summary(expected) in texts(at, "caption")
    truth_rows = frame_with(charts(at)[-2], "group", "axis", "value")
    assert set(truth_rows["group"]) == set(fit["partial"].data.group_labels)


def test_shrinkage_draws_each_varying_term_and_both_together(comp):
    at = open_page(SHRINKAGE, comp)
    found = charts(at)
    assert [title_of(c) for c in found] == ["Shrinkage: how far each group's estimate is pulled"] * 2 + [
        "Shrinkage of two coefficients together"]
    for chart, term in zip(found[:2], ("intercept", "x"), strict=True):
        frame = frame_with(chart, "group", "term", "none", "partial")
        assert set(frame["term"]) == {term}
        assert sorted(frame["group"]) == sorted(LABELS)
    assert sorted(frame_with(found[2], "group", "x_none", "y_partial")["group"]) == sorted(LABELS)
    # Every chart can be clicked to pick a group.
    assert all(json.loads(c.proto.spec).get("layer") and "group_pick" in c.proto.spec for c in found)
    table = at.dataframe[0].value
    assert len(table) == 2 * len(LABELS) and {"pooling_factor", "none", "partial"} <= set(table.columns)


def test_highlighting_in_the_selectbox_changes_every_chart(comp):
    at = open_page(SHRINKAGE, comp)
    assert at.selectbox(key="w_highlight").options[0] == "(none)"
    before = [c.proto.spec for c in charts(at)]
    assert all(highlighted_groups(chart) == set() for chart in charts(at))

    at.selectbox(key="w_highlight").select("g3").run()
    assert not at.exception
    assert at.session_state["hm_highlight"] == "g3"
    assert all(highlighted_groups(chart) == {"g3"} for chart in charts(at))
    # The others are dimmed: the opacity depends on the highlight only while a group is highlighted.
    assert [c.proto.spec for c in charts(at)] != before

    at.selectbox(key="w_highlight").select("(none)").run()
    assert at.session_state["hm_highlight"] is None
    assert all(highlighted_groups(chart) == set() for chart in charts(at))


def test_intervals_can_be_shown(comp):
    at = open_page(SHRINKAGE, comp)
    at.checkbox(key="w_shrinkage_intervals").check().run()
    assert not at.exception
    intervals = [f for f in chart_frames(charts(at)[0]) if {"lower", "upper", "series"} <= set(f.columns)]
    assert intervals and {"no pooling", "partial pooling"} <= set(intervals[0]["series"])


def test_clicking_a_group_highlights_it_everywhere_until_cleared(comp):
    at = open_page(SHRINKAGE, comp)
    click_group(at, charts(at)[1], "g5")
    assert at.session_state["hm_highlight"] == "g5"
    assert at.selectbox(key="w_highlight").value == "g5"
    assert all(highlighted_groups(chart) == {"g5"} for chart in charts(at))
    # The chart still holds the old click; clearing the highlight in the selectbox must not bring it back.
    at.selectbox(key="w_highlight").select("(none)").run()
    assert at.session_state["hm_highlight"] is None
    at.run()
    assert at.session_state["hm_highlight"] is None
    assert all(highlighted_groups(chart) == set() for chart in charts(at))


@pytest.mark.parametrize("poolings", [("complete", "partial"), ("none",), ("partial",)])
def test_shrinkage_without_both_no_and_partial_pooling_explains_and_shows_what_there_is(comp, poolings):
    at = open_page(SHRINKAGE, subset(comp, *poolings))
    assert any("needs both fits" in text for text in texts(at, "info"))
    assert not charts(at)
    table = at.dataframe[0].value
    assert set(poolings) <= set(table.columns) and sorted(set(table["group"])) == sorted(LABELS)


# ------------------------------------------------------------------------------------------------ MAP vs mean
def test_map_vs_mean_flags_the_collapsed_mode_and_draws_scale_and_funnel(comp):
    at = open_page(MAP_VS_MEAN, comp)
    assert at.radio(key="w_map_pooling").value == "partial"
    assert any("joint mode has collapsed" in text for text in texts(at, "warning"))
    assert "Collapsed: sd(intercept), sd(x)" in texts(at, "text")
    titles = [title_of(c) for c in charts(at)]
    assert titles == ["Posterior mean vs joint mode (MAP)", *THREE_SUMMARIES] + [
        "Posterior of the group-level scale", "The funnel"] * 2
    population, groups = (map_vs_mean_rows(charts(at)[0], level) for level in ("population", "group"))
    assert set(groups["name"]) == set(LABELS) and set(groups["term"]) == {"intercept", "x"}
    # Both scales collapsed, so every group row of both terms carries the flag.
    assert population.loc[population["name"].str.startswith("sd("), "collapsed"].astype(bool).all()
    assert groups["collapsed"].astype(bool).all()
    # The funnel starts on the smallest group (one row), and follows the selectbox.
    assert at.selectbox(key="w_funnel_group").value == "g0"
    assert set(frame_with(charts(at)[4], "deviation", "group")["group"]) == {"g0"}
    at.selectbox(key="w_funnel_group").select("g6").run()
    assert not at.exception
    assert set(frame_with(charts(at)[6], "deviation", "group")["group"]) == {"g6"}
    assert len(at.dataframe[0].value) == len(population) + len(groups)


def test_map_vs_mean_without_collapse_has_no_warning(comp):
    partial = comp["partial"]
    mode = {name: np.asarray(partial.draws[name].mean(("chain", "draw"))) for name in
            (m.POPULATION_MEAN, m.GROUP_SD, m.GROUP_COEFFICIENT, m.SIGMA)}
    fit = PoolingComparison({**comp.results, "partial": replace(partial, map_point=mode)})
    at = open_page(MAP_VS_MEAN, fit)
    assert not at.warning
    assert not any(text.startswith("Collapsed") for text in texts(at, "text"))


def test_map_vs_mean_under_another_pooling_has_no_funnel(comp):
    at = open_page(MAP_VS_MEAN, comp)
    at.radio(key="w_map_pooling").set_value("none").run()
    assert not at.exception
    assert not at.warning
    assert [title_of(c) for c in charts(at)] == ["Posterior mean vs joint mode (MAP)"]
    assert any("only under partial pooling" in text for text in texts(at, "info"))


def test_map_vs_mean_shows_the_optimiser_message_as_text(comp):
    message = f"MAP failed for group {HOSTILE}"
    fit = PoolingComparison({**comp.results, "partial": replace(comp["partial"], map_message=message)})
    at = open_page(MAP_VS_MEAN, fit)
    assert message in texts(at, "text")
    assert HOSTILE not in markdown_like(at)


def test_map_vs_mean_highlights_the_shared_highlight(comp):
    at = open_page(MAP_VS_MEAN, comp, hm_highlight="g4")
    groups = map_vs_mean_rows(charts(at)[0], "group")
    assert set(groups.loc[groups["highlighted"].astype(bool), "name"]) == {"g4"}
    assert at.selectbox(key="w_funnel_group").value == "g4"


# ------------------------------------------------------------------------------------------------ population
def test_population_compares_the_poolings_and_predicts_an_existing_and_a_new_group(comp):
    at = open_page(POPULATION, comp)
    population, variance, prediction = charts(at)
    assert title_of(population) == "Population-level parameters under each pooling"
    assert title_of(variance) == "Where the variance lies"
    assert list(frame_with(variance, "component", "mean")["component"]) == ["g", "residual"]
    assert set(frame_with(population, "pooling", "name")["pooling"]) == {"complete", "none", "partial"}
    assert set(at.dataframe[0].value["pooling"]) == {"complete", "none", "partial"}

    assert at.radio(key="w_predict_pooling").value == "partial"
    assert at.selectbox(key="w_predict_group").value == "g0"
    # x is 0/1 in the data: it starts at 0, the reference, not at its mean (which describes no real case).
    assert set(comp["partial"].data.X[:, 1]) == {0.0, 1.0}
    assert at.number_input(key="w_predict_value_x").value == 0.0
    assert "0/1: starts at 0, the reference" in texts(at, "caption")
    assert "x" in texts(at, "text")
    draws = frame_with(prediction, "target", "quantity", "value")
    assert set(draws["target"]) == {"existing group", "new group"}
    assert set(draws["group"].dropna()) == {"g0"}

    at.selectbox(key="w_predict_group").select("g7")
    at.number_input(key="w_predict_value_x").set_value(1.0).run()
    assert not at.exception
    moved = frame_with(charts(at)[2], "target", "quantity", "value")
    assert set(moved["group"].dropna()) == {"g7"}
    assert not np.allclose(np.sort(moved["value"]), np.sort(draws["value"]))


def test_no_pooling_predicts_only_the_existing_group(comp):
    at = open_page(POPULATION, comp)
    at.radio(key="w_predict_pooling").set_value("none").run()
    assert not at.exception
    assert any("cannot predict a new group" in text for text in texts(at, "info"))
    assert set(frame_with(charts(at)[2], "target", "value")["target"]) == {"existing group"}


# ------------------------------------------------------------------------------------------------ diagnostics
def test_diagnostics_grade_each_fit_and_plot_the_chains(comp):
    at = open_page(DIAGNOSTICS, comp)
    checks = at.dataframe[0].value
    assert list(checks.columns) == ["pooling", "check", "value", "target", "status"]
    assert len(checks) == 4 * 3
    assert set(checks["status"]) <= {"ok", "check", "problem", "n/a"}
    divergences = checks[checks["check"] == "divergent transitions"]
    assert (divergences["status"] == "ok").all()
    # The fake partial fit's chains disagree a little (R-hat about 1.03): a check, with the advice sentence.
    r_hat = checks[(checks["pooling"] == "partial pooling") & (checks["check"] == "largest R-hat")].iloc[0]
    assert r_hat["value"] == f"{comp['partial'].diagnostics().max_r_hat:.3f}" and r_hat["status"] == "check"
    assert any(text.startswith("Partial pooling: R-hat reaches") for text in texts(at, "warning"))
    lights = next(text for text in texts(at, "markdown") if text.startswith("**Partial pooling**"))
    assert f":orange-badge[:material/warning: largest R-hat: {r_hat['value']}]" in lights
    assert ":green-badge[:material/check_circle: divergent transitions: 0]" in lights
    assert any(text.startswith("Complete pooling: no convergence problems") for text in texts(at, "success"))

    trace, rank = charts(at)
    assert title_of(trace) == "Trace plot" and title_of(rank) == "Rank plot"
    assert at.selectbox(key="w_diagnostics_parameter").value == "sd(intercept)"
    assert set(frame_with(trace, "chain", "draw", "value")["name"]) == {"sd(intercept)"}
    at.selectbox(key="w_diagnostics_parameter").select("sigma").run()
    assert set(frame_with(charts(at)[0], "chain", "draw", "value")["name"]) == {"sigma"}
    # Another pooling offers its own parameters.
    at.radio(key="w_diagnostics_pooling").set_value("complete").run()
    assert not at.exception
    assert at.selectbox(key="w_diagnostics_parameter").options == ["intercept", "x", "sigma"]
    timing = at.dataframe[-1].value
    assert list(timing["pooling"]) == ["complete pooling", "no pooling", "partial pooling"]
    # The target acceptance each fit ran with (these fakes leave it to the spec, which leaves it open: 0.99).
    assert list(timing["target acceptance"]) == [0.99] * 3


def test_divergences_are_a_problem_with_advice(comp):
    partial = comp["partial"]
    draws = {name: partial.draws[name].to_numpy() for name in (m.POPULATION_MEAN, m.GROUP_SD, m.GROUP_COEFFICIENT,
                                                                m.SIGMA, m.CORRELATION)}
    diverging = np.zeros(draws[m.SIGMA].shape, dtype=bool)
    diverging[:, :20] = True  # 40 of 400 draws
    divergent = fake_fit(partial.spec, partial.data, draws, map_point=partial.map_point, diverging=diverging)
    at = open_page(DIAGNOSTICS, PoolingComparison({"partial": divergent}))
    checks = at.dataframe[0].value
    row = checks[checks["check"] == "divergent transitions"].iloc[0]
    assert row["value"] == "40" and row["status"] == "problem"
    assert ":red-badge[:material/error: divergent transitions: 40]" in markdown_like(at)
    assert any("40 divergent transition(s)" in text for text in texts(at, "warning"))


# ------------------------------------------------------------------------------------------------ which fit
def fit_in_the_app(at: AppTest) -> None:
    """Click Fit on the Model & fit page, the sampler replaced by fake draws (fakes.fake_fit_poolings)."""
    at.switch_page("pages/2_model.py").run()
    with mock.patch("hiermodels.inference.fitting.fit_poolings", fake_fit_poolings):
        at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(text.startswith("Fitted") for text in texts(at, "success"))


@pytest.mark.usefixtures("every_run_through_app")
def test_results_show_only_a_fit_of_the_data_and_roles_loaded_now():
    """The radon fit must not be shown as if it were cbpp's (issue 10, item 2)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    fit_in_the_app(at)
    at.switch_page(SHRINKAGE).run()
    assert "AITKIN" in set(at.dataframe[0].value["group"])

    at.switch_page("pages/1_data.py").run()
    at.selectbox(key="sample_choice").select("Cattle disease (cbpp)").run()
    for page in RESULT_PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert any("changed since the last fit" in text for text in texts(at, "info")), page
        assert not charts(at) and not at.dataframe, page
        shown = "\n".join(texts(at, "text"))
        assert "Fitted:      Minnesota radon: log_radon ~ 1 + floor + (1 | county)" in shown
        assert ("Loaded now:  Cattle disease (cbpp): incidence | trials(size) ~ 1 + period + (1 | herd), "
                "family = binomial") in shown
        assert [link.proto.page for link in at.get("page_link")] == ["model"]  # the Model & fit page's URL path
    assert "of Minnesota radon, not the data or roles loaded now" in "\n".join(t.value for t in at.sidebar.text)

    # Back to radon: the fit is of these data and roles again.
    at.switch_page("pages/1_data.py").run()
    at.selectbox(key="sample_choice").select("Minnesota radon").run()
    at.switch_page(SHRINKAGE).run()
    assert charts(at) and "AITKIN" in set(at.dataframe[0].value["group"])
    # Other roles of the same table: not this fit either.
    at.switch_page("pages/1_data.py").run()
    at.multiselect(key="w_predictors").set_value([]).run()
    at.switch_page(SHRINKAGE).run()
    assert any("changed since the last fit" in text for text in texts(at, "info"))
    assert "Loaded now:  Minnesota radon: log_radon ~ 1 + (1 | county)" in "\n".join(texts(at, "text"))


@pytest.mark.usefixtures("every_run_through_app")
def test_a_reload_or_a_shared_link_finds_the_stored_fit():
    """A new session opened on the link of a fitted view shows the fit from the store; another model does not."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.selectbox(key="sample_choice").select("Sleep deprivation").run()
    at.switch_page("pages/2_model.py").run()
    # A prior whose number "%g" would round (1.23457e+06): the link must carry it exactly for the key to match.
    next(t for t in at.text_input if t.key.endswith("_sd(Days)")).set_value("halfnormal(1234567)").run()
    fit_in_the_app(at)
    fitted = at.session_state["hm_fit_key"]
    assert dict(fitted.spec.priors)["sd(Days)"].params == (1234567.0,)

    reloaded = AppTest.from_file(APP, default_timeout=TIMEOUT)
    reloaded.query_params.update(at.query_params)
    reloaded.run()
    reloaded.switch_page(SHRINKAGE).run()
    assert not reloaded.exception
    assert len(charts(reloaded)) == 3  # intercept, Days, and both together
    assert "308" in set(reloaded.dataframe[0].value["group"])  # sleepstudy's first subject
    assert reloaded.session_state["hm_fit_key"] == fitted

    other = AppTest.from_file(APP, default_timeout=TIMEOUT)
    other.query_params.update({**at.query_params, "parameterization": "centered"})
    other.run()
    other.switch_page(SHRINKAGE).run()
    assert any(text.startswith("Nothing fitted yet") for text in texts(other, "info"))
    assert not charts(other)


# ------------------------------------------------------------------------------------------------ several factors
PENICILLIN = Path(__file__).resolve().parent.parent / "sample_data" / "penicillin.csv"


@pytest.fixture(scope="module")
def crossed() -> PoolingComparison:
    """Penicillin's plates crossed with its samples (24 plates, 6 samples), fake draws of every pooling."""
    spec = ModelSpec("diameter", "plate", factors=(GroupingFactor("sample"),), parameterization="centered")
    return fake_fit_poolings(prepare(pd.read_csv(PENICILLIN), spec), spec, POOLINGS)


def test_one_grouping_factor_offers_no_factor_choice(comp):
    for page in RESULT_PAGES:
        at = open_page(page, comp)
        assert not [s for s in at.selectbox if s.key == "w_factor"], page


def test_shrinkage_shows_the_chosen_factors_groups(crossed):
    at = open_page(SHRINKAGE, crossed)
    assert at.selectbox(key="w_factor").options == ["plate", "sample"]
    assert at.selectbox(key="w_factor").value == "plate"
    table = next(df.value for df in at.dataframe if "pooling_factor" in df.value)
    assert len(table) == 24 and "raw" in table
    at.selectbox(key="w_factor").select("sample").run()
    assert not at.exception
    table = next(df.value for df in at.dataframe if "pooling_factor" in df.value)
    assert list(table["group"]) == list("ABCDEF") and "raw" not in table
    assert set(table["n"]) == {24}
    # Each sample's partial-pooling value is the population mean plus its deviation, as the fit's own table says.
    expected = crossed["partial"].groups(factor="sample").set_index("group")["mean"]
    np.testing.assert_allclose(table.set_index("group")["partial"], expected.loc[list("ABCDEF")])
    assert set(frame_with(charts(at)[0], "group", "partial")["group"]) == set("ABCDEF")
    assert at.selectbox(key="w_highlight").options == ["(none)", *"ABCDEF"]
    # The choice is remembered on the other pages.
    at.switch_page(MAP_VS_MEAN).run()
    assert not at.exception and at.selectbox(key="w_factor").value == "sample"


@pytest.mark.parametrize("rest_known", [True, False])
def test_map_vs_mean_says_what_a_several_factor_limit_mode_shows(crossed, rest_known):
    """A collapsed plate scale (its MAP 0, its posterior mean not): with the other parameters at the mode of the
    model without the plates (mode.pin_collapsed_scales), the warning says so; where that model was not built
    (the other parameters NaN), it says they have no MAP."""
    partial = crossed["partial"]
    point = {name: np.asarray(value, dtype=float) for name, value in partial.map_point.items()}
    point["tau"] = np.zeros_like(point["tau"])
    if not rest_known:
        point = {name: value if name == "tau" else np.full_like(value, np.nan) for name, value in point.items()}
    limit = replace(partial, map_point=point, map_kind="limit", map_message="a limit")
    at = open_page(MAP_VS_MEAN, PoolingComparison({**crossed.results, "partial": limit}))
    assert not at.exception
    warnings = " ".join(texts(at, "warning"))
    if rest_known:
        assert "the other parameters at the joint mode of the same model without that factor's groups" in warnings
        assert "Collapsed to 0 (limit mode): sd(intercept|plate)" in [t.value for t in at.text]
    else:
        assert "the other parameters' limit is not computed, so they have no MAP here" in warnings


def test_map_vs_mean_of_a_further_factor_shows_its_groups_mode_where_the_mode_has_it(crossed):
    """A sample's MAP is the intercept's population value plus the sample's deviation at the mode (the fakes'
    mode: the draws' means); without the deviations in the mode the page says the groups' mode is not shown."""
    at = open_page(MAP_VS_MEAN, crossed, hm_factor="sample")
    assert not at.exception and at.selectbox(key="w_factor").value == "sample"
    assert not any("not shown" in text for text in texts(at, "info"))
    point = crossed["partial"].map_point
    groups = map_vs_mean_rows(charts(at)[0], "group").set_index("name")
    np.testing.assert_allclose(groups.loc[list("ABCDEF"), "map"], point["mu"][0] + point["b_f1"][:, 0])
    without = {name: value for name, value in point.items() if name != "b_f1"}
    partial = replace(crossed["partial"], map_point=without)
    at = open_page(MAP_VS_MEAN, PoolingComparison({**crossed.results, "partial": partial}), hm_factor="sample")
    assert any("joint mode of this factor's groups is not shown" in text for text in texts(at, "info"))
    groups = map_vs_mean_rows(charts(at)[0], "group")
    assert set(groups["name"]) == set("ABCDEF") and groups["map"].isna().all()
    population = map_vs_mean_rows(charts(at)[0], "population")
    assert population["map"].notna().all()
    titles = [title_of(chart) for chart in charts(at)]
    assert titles[1:] == [*THREE_SUMMARIES, "Posterior of the group-level scale"]  # sd(intercept|sample); no funnel
    assert "sd(intercept|sample) (group-level sd)" in json.dumps(json.loads(charts(at)[3].proto.spec))
    assert any("funnel is drawn for the groups of the first grouping factor" in c for c in texts(at, "caption"))
    # The first factor: its groups' MAP and the funnel, as with one factor.
    at.selectbox(key="w_factor").select("plate").run()
    assert not at.exception
    assert not any("not shown" in text for text in texts(at, "info"))
    assert set(map_vs_mean_rows(charts(at)[0], "group")["name"]) == set(crossed["partial"].data.group_labels)
    assert at.selectbox(key="w_funnel_group").options[0] == "a"


def test_population_shows_the_variance_shares_of_both_factors(crossed):
    at = open_page(POPULATION, crossed)
    titles = [title_of(chart) for chart in charts(at)]
    assert "Where the variance lies" in titles
    shares = frame_with(charts(at)[titles.index("Where the variance lies")], "component", "mean")
    assert list(shares["component"]) == ["plate", "sample", "residual"]
    assert shares["mean"].sum() == pytest.approx(1.0)
    assert any("The groups above are those of plate" in t for t in texts(at, "text"))
    # A known plate with a new sample by default; a known sample can be chosen instead.
    assert at.selectbox(key="w_predict_factor_0").value == "a new group"
    at.selectbox(key="w_predict_factor_0").select("C").run()
    assert not at.exception
    # The population parameters shared by every factor, and the group-level ones of the chosen factor.
    names = set(frame_with(charts(at)[0], "pooling", "name")["name"])
    assert "sd(intercept|plate)" in names and "sd(intercept|sample)" not in names and "sigma" in names
    at.selectbox(key="w_factor").select("sample").run()
    assert not at.exception
    names = set(frame_with(charts(at)[0], "pooling", "name")["name"])
    assert "sd(intercept|sample)" in names and "sd(intercept|plate)" not in names and "intercept" in names


def test_diagnostics_offer_the_chosen_factors_parameters(crossed):
    at = open_page(DIAGNOSTICS, crossed)
    assert "sd(intercept|plate)" in at.selectbox(key="w_diagnostics_parameter").options
    at.selectbox(key="w_factor").select("sample").run()
    assert not at.exception
    options = at.selectbox(key="w_diagnostics_parameter").options
    assert "sd(intercept|sample)" in options and "sd(intercept|plate)" not in options
    assert at.selectbox(key="w_diagnostics_parameter").value == "sd(intercept|sample)"
