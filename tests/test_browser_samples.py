"""Browser tests across samples and families: real fits of eight schools (known-SE), baseball (binomial),
sleepstudy (gaussian, correlated) and the daughters (gamma, on family sums) with "All three", every results page
of each (and the pooling dial turned by its own slider on eight schools and baseball: ``turn_the_dial``),
switching samples in between so that a stale fit would show, and a reload that must keep the view (the URL's
query parameters).

Screenshots of every page for every sample go to ``test-output/screenshots/samples-*.png``, the dial's to
``dial-*.png``.
"""

from __future__ import annotations

import re

import pytest
from browser_support import (
    FIT_TIMEOUT_MS,
    assert_chart_drawn,
    assert_no_exception,
    choose,
    fit_and_wait,
    pick_radio,
    screenshot,
    selected,
    turn_the_dial,
    visit,
    wait_for_run,
)
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1500)]

RESULTS_PAGES = ("Shrinkage", "MAP vs mean", "Population & prediction", "Diagnostics")
# (sample, a group label that only this sample has, screenshot prefix)
SAMPLES = (
    ("Eight schools", None, "samples-eight-schools"),
    ("Baseball batting averages", "Roberto Clemente", "samples-baseball"),
    ("Sleep deprivation", "308", "samples-sleepstudy"),
    ("Daughters' heights", "F08", "samples-daughters"),
)


def test_three_families_fit_and_every_page_shows_only_the_current_fit(page) -> None:
    main = page.get_by_test_id("stMain")
    fitted_before, previous_label = False, None
    for name, label, prefix in SAMPLES:
        visit(page, "Data")
        choose(page, "Sample data set", name)
        expect(main).to_contain_text("The data are ready to fit")
        if fitted_before:
            # The last fit is of the previous sample: no results page may show it.
            for title in RESULTS_PAGES:
                visit(page, title)
                expect(main).to_contain_text("changed since the last fit")
                if previous_label is not None:
                    expect(main.get_by_text(previous_label, exact=True)).to_have_count(0)
            screenshot(page, f"{prefix}-00-stale-fit-refused")
        visit(page, "Model & fit")
        expect(widget_radio_checked(page, "Pooling")).to_have_text("All three")  # the sample's own default
        fit_and_wait(page, "Quick")
        expect(main).to_contain_text("diagnostics look fine")
        screenshot(page, f"{prefix}-01-fitted")

        visit(page, "Shrinkage", f"{prefix}-02-shrinkage")
        assert_chart_drawn(page, f"Shrinkage of {name}")
        visit(page, "MAP vs mean", f"{prefix}-03-map-vs-mean")
        assert_chart_drawn(page, f"MAP vs mean of {name}")
        visit(page, "Population & prediction", f"{prefix}-04-population")
        assert_chart_drawn(page, f"Population of {name}")
        visit(page, "Diagnostics", f"{prefix}-05-diagnostics")
        expect(main).to_contain_text("no convergence problems found")
        expect(main).not_to_contain_text("divergent transition(s)")

        if name == "Eight schools":
            visit(page, "MAP vs mean")
            expect(main).to_contain_text("limit")  # the collapsed mode is reported as its limit
        if name in ("Eight schools", "Baseball batting averages"):  # known SE (exact) and binomial (approximate)
            turn_the_dial(page, name, prefix.removeprefix("samples-"))
        if name == "Daughters' heights":
            visit(page, "Shrinkage")
            expect(main).to_contain_text("Against the truth")  # the simulated families' true means
            expect(main).to_contain_text("the intercept as a mean")  # the outcome's scale, not the log link
        if name == "Baseball batting averages":
            visit(page, "Shrinkage")
            expect(main).to_contain_text("Against the truth")
            expect(main).to_contain_text("probability")
            # The link scale is one click away, and the truth still compares batting averages.
            pick_radio(page, "Show estimates on", "The link scale")
            assert_no_exception(page)
            expect(main).to_contain_text("log-odds")
            screenshot(page, f"{prefix}-06-shrinkage-link-scale")
            pick_radio(page, "Show estimates on", "The outcome's scale")
        fitted_before, previous_label = True, label


def widget_radio_checked(page, label: str):
    """The checked option's text of the radio group labelled ``label``."""
    group = page.get_by_test_id("stRadio").filter(
        has=page.get_by_test_id("stWidgetLabel").filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")))
    return group.locator("label:has(input:checked)")


def test_reload_keeps_sample_and_model_choices(page) -> None:
    """Choose a sample and a pooling, reload: the same sample, the same choice (the URL carries them)."""
    main = page.get_by_test_id("stMain")
    choose(page, "Sample data set", "Sleep deprivation")
    visit(page, "Model & fit")
    pick_radio(page, "Pooling", "Partial pooling")
    expect(page).to_have_url(re.compile(r"sample=sleepstudy"))
    expect(page).to_have_url(re.compile(r"pooling=partial"))
    url = page.url
    page.reload()
    wait_for_run(page, FIT_TIMEOUT_MS)
    assert_no_exception(page)
    assert page.url.split("?")[1] == url.split("?")[1] or "sample=sleepstudy" in page.url
    visit(page, "Data")
    assert selected(page, "Sample data set") == "Sleep deprivation"
    visit(page, "Model & fit")
    expect(widget_radio_checked(page, "Pooling")).to_have_text("Partial pooling")
    expect(main).to_contain_text("Reaction")
    screenshot(page, "samples-reload-model-page")
