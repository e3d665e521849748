"""The Pooling dial page and the MAP vs mean page's three summaries, through AppTest.

Most tests put a fake fit (:mod:`fakes`, as tests/test_app_results.py does) in the app's fit store; the dial's
numbers are then the core's (hiermodels.results.pooling_dial) on fake draws, which is all a layout test needs. One
test fits eight schools for real through the app (Data page, Model & fit, the Fit button, no patching) and checks
BDA3's complete-pooling value on the page: at tau = 0 every school gets the precision-weighted mean
sum(y_j / se_j^2) / sum(1 / se_j^2) = 7.69 (BDA3, section 5.5, p. 119; up to the fit's weakly informative prior on
the population mean).
"""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from fakes import comparison, fake_data
from streamlit.testing.v1 import AppTest
from test_app_results import (
    HOSTILE,
    LABELS,
    MAP_VS_MEAN,
    charts,
    frame_with,
    markdown_like,
    open_page,
    sample_fit,
    subset,
    texts,
    title_of,
)

from hiermodels import charts as hm_charts
from hiermodels.data.datasets import SAMPLES, sample_by_name
from hiermodels.results.comparison import PoolingComparison
from hiermodels_ui import navigation

APP = str(Path(__file__).resolve().parent.parent / "app.py")
DIAL = navigation.POOLING_DIAL.path
DIAL_TITLE = "The pooling dial: from complete pooling (τ = 0) to no pooling (τ → ∞)"
TRAJECTORY_TITLE = "Each group's estimate as τ moves (after BDA3, figure 5.6)"
THREE_TITLE = "Three summaries of the same fit"
PROFILE_TITLE = "The joint mode against the marginal mode"
SECTION = "Three summaries: joint mode, marginal mode, posterior mean"


@pytest.fixture(scope="module")
def comp() -> PoolingComparison:
    """All three poolings, intercept and slope varying; the second group's label is hostile markup."""
    from dataclasses import replace

    return comparison(replace(fake_data(slope=True), group_labels=LABELS), slope=True, correlated=True)


def spec_of(chart) -> dict:
    return json.loads(chart.proto.spec)


def dial_chart(at: AppTest):
    return next(chart for chart in charts(at) if title_of(chart) == DIAL_TITLE)


# ------------------------------------------------------------------------------------------------ the dial page
def test_the_dial_page_tells_the_story_and_draws_the_dial_and_the_trajectory(comp):
    at = open_page(DIAL, comp, hm_highlight=HOSTILE)
    assert at.title[0].value == "Pooling dial"
    assert [title_of(chart) for chart in charts(at)] == [DIAL_TITLE, TRAJECTORY_TITLE]
    spec = spec_of(dial_chart(at))
    (param,) = spec["params"]
    assert param["name"] == hm_charts.DIAL_PARAM and param["bind"]["input"] == "range" and param["bind"]["min"] == 0
    positions = frame_with(dial_chart(at), "position", "population")["position"]
    assert param["bind"]["max"] == positions.max() and 0 <= param["value"] <= positions.max()
    # The story is the core's, as plain text (it names groups); the hostile label stays out of markdown.
    story = "\n".join(texts(at, "text"))
    assert "At the left end, sd(intercept) = 0: every g gets the population value" in story
    assert HOSTILE not in markdown_like(at) and "<script>" not in markdown_like(at)
    # The shared highlight is the dial's highlighted group (its name is data, in the chart).
    lookup = frame_with(dial_chart(at), "group", "highlighted", "at_0")
    assert set(lookup.loc[lookup["highlighted"].astype(bool), "group"]) == {HOSTILE}
    groups = next(df.value for df in at.dataframe if "marginal_mode" in df.value)
    assert list(groups["group"]) == list(LABELS)


def test_without_a_highlight_both_charts_follow_the_smallest_group(comp):
    at = open_page(DIAL, comp)
    dial_rows = frame_with(dial_chart(at), "group", "highlighted", "at_0")
    trajectory = next(chart for chart in charts(at) if title_of(chart) == TRAJECTORY_TITLE)
    lines = frame_with(trajectory, "group", "estimate", "highlighted")
    for frame in (dial_rows, lines):
        assert set(frame.loc[frame["highlighted"].astype(bool), "group"]) == {"g0"}  # the group of one row


def test_with_two_varying_terms_the_dial_turns_the_chosen_ones_sd(comp):
    at = open_page(DIAL, comp)
    box = at.selectbox(key="w_dial_term")
    assert box.options == ["intercept", "x"] and box.value == "intercept"
    box.select("x").run()
    assert not at.exception
    assert "sd(x) (log scale; 0 at the left edge)" in json.dumps(spec_of(dial_chart(at)))
    assert any(text.startswith("At the left end, sd(x) = 0") for text in texts(at, "text"))


@pytest.mark.parametrize("poolings", [("complete",), ("none",), ("complete", "none")])
def test_without_partial_pooling_the_page_says_to_fit_it(comp, poolings):
    at = open_page(DIAL, subset(comp, *poolings))
    assert any("this fit has no partial pooling" in text for text in texts(at, "info"))
    assert not charts(at)
    assert [link.proto.page for link in at.get("page_link")] == ["model"]


def test_a_refusal_of_the_core_is_a_warning_with_its_message_as_text(comp):
    message = f"no grouping factor {HOSTILE!r}; this model's factors are g"
    with mock.patch("hiermodels_ui.cache.compute_pooling_dial", side_effect=ValueError(message)):
        at = open_page(DIAL, comp)
    assert texts(at, "warning") == ["The pooling dial cannot be drawn for this choice:"]
    assert message in texts(at, "text")
    assert not charts(at)
    assert HOSTILE not in markdown_like(at)


@pytest.mark.parametrize("name", ["Eight schools", "Baseball batting averages", "Penicillin plates and samples"])
def test_the_dial_works_for_known_se_binomial_and_two_factors(name):
    fit = sample_fit(sample_by_name(name))
    at = open_page(DIAL, fit)
    assert [title_of(chart) for chart in charts(at)] == [DIAL_TITLE, TRAJECTORY_TITLE]
    note = fit["partial"].spec.family == "binomial"
    assert any(text.startswith("Approximate: each group's likelihood") for text in texts(at, "text")) == note
    if len(fit["partial"].factor_names) > 1:
        at.selectbox(key="w_factor").select("sample").run()
        assert not at.exception
        lookup = frame_with(dial_chart(at), "group", "at_0")
        assert set(lookup["group"]) == set("ABCDEF")


def test_the_dial_comes_right_after_model_and_fit_among_the_pages():
    assert navigation.PAGES.index(navigation.POOLING_DIAL) == navigation.PAGES.index(navigation.MODEL) + 1
    assert navigation.RESULT_PAGES[0] is navigation.POOLING_DIAL


# ------------------------------------------------------------------------------------------------ MAP vs mean
def test_map_vs_mean_shows_the_three_summaries_before_the_funnel(comp):
    at = open_page(MAP_VS_MEAN, comp)
    assert SECTION in texts(at, "subheader")
    titles = [title_of(chart) for chart in charts(at)]
    assert titles[1:3] == [THREE_TITLE, PROFILE_TITLE]
    assert titles[3:] == ["Posterior of the group-level scale", "The funnel"] * 2
    summaries = next(df.value for df in at.dataframe if "summary" in df.value)
    assert list(summaries["summary"]) == list(hm_charts.SUMMARY_NAMES)
    assert summaries["tau"].iloc[0] == 0
    three = frame_with(charts(at)[1], "group", "summary", "estimate")
    assert set(three["group"]) == set(LABELS)
    assert three.loc[three["summary"] == "joint mode", "estimate"].nunique() == 1
    assert any(text.startswith("The joint mode sits at sd(intercept) = 0") for text in texts(at, "text"))
    assert HOSTILE not in markdown_like(at)
    assert "pooling_dial" in [link.proto.page for link in at.get("page_link")]  # the dial page's URL path


def test_map_vs_mean_under_another_pooling_has_no_three_summaries(comp):
    at = open_page(MAP_VS_MEAN, comp)
    at.radio(key="w_map_pooling").set_value("none").run()
    assert not at.exception
    assert SECTION not in texts(at, "subheader")


# One sample per path through the pages: gaussian rows, known SE, binomial, two varying terms (the term picker),
# two grouping factors (the factor picker). Every sample's dial is computed from real fits in the sample matrix.
PAGE_PATHS = ("Minnesota radon", "Eight schools", "Baseball batting averages", "School exam scores",
              "Penicillin plates and samples")


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.name in PAGE_PATHS],
                         ids=[s.name for s in SAMPLES if s.name in PAGE_PATHS])
def test_each_kind_of_sample_gets_its_dial_and_three_summaries(sample):
    fit = sample_fit(sample)
    at = open_page(DIAL, fit)
    assert [title_of(chart) for chart in charts(at)] == [DIAL_TITLE, TRAJECTORY_TITLE]
    at.switch_page(MAP_VS_MEAN).run()
    assert not at.exception
    assert [title_of(chart) for chart in charts(at)][1:3] == [THREE_TITLE, PROFILE_TITLE]


# ------------------------------------------------------------------------------------------------ a real fit
def test_eight_schools_fitted_for_real_through_the_app():
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.selectbox(key="sample_choice").select("Eight schools").run()
    at.switch_page(navigation.MODEL.path).run()
    at.radio(key="w_pooling").set_value("partial").run()
    at.button[0].click().run()  # "Fit": the real sampler, Quick preset
    assert not at.exception, [e.value for e in at.exception]
    assert any(text.startswith("Fitted") for text in texts(at, "success"))

    at.switch_page(DIAL).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [title_of(chart) for chart in charts(at)] == [DIAL_TITLE, TRAJECTORY_TITLE]
    population = frame_with(dial_chart(at), "position", "population").set_index("position")["population"]
    y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
    se = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
    pooled = float(np.sum(y / se**2) / np.sum(1 / se**2))
    assert pooled == pytest.approx(7.686, abs=1e-3)
    assert population.loc[0] == pytest.approx(pooled, abs=0.05)  # the prior on mu moves it a little
    lookup = frame_with(dial_chart(at), "group", "at_0")
    assert np.allclose(lookup["at_0"], population.loc[0])  # tau = 0: every school on the population value
    last = int(population.index.max())
    assert np.allclose(lookup.set_index("group").loc[list("ABCDEFGH"), f"at_{last}"], y, atol=0.5)  # no pooling
    assert any("every school gets the population value" in text for text in texts(at, "text"))
    assert "Exact: the population mean and common coefficients are integrated out in closed form." in texts(at,
                                                                                                             "text")

    at.switch_page(MAP_VS_MEAN).run()
    assert not at.exception, [e.value for e in at.exception]
    assert SECTION in texts(at, "subheader")
    summaries = next(df.value for df in at.dataframe if "summary" in df.value)
    assert summaries["tau"].iloc[0] == 0 and summaries["tau"].iloc[2] > 0
