"""Browser tests of several grouping factors: Penicillin (plates crossed with samples) fitted for real with "All
three" from the sample's own formula, every results page for both factors (the factor choice), the variance
shares and a prediction for a known plate and a new sample; then a formula typed on the Model page (Pastes,
nested) changes the model the page describes, and a formula with a typo is refused with its reason while the page
stays usable; and a grouping factor the data refuse (one level), added with the page's Add control, is said with
its reason, offers no Fit, and its Remove control takes it out again.

Screenshots go to ``test-output/screenshots/factors-*.png``.
"""

from __future__ import annotations

import pytest
from browser_support import (
    assert_chart_drawn,
    assert_no_exception,
    choose,
    fit_and_wait,
    penicillin_with_lab_csv,
    screenshot,
    upload,
    visit,
    wait_for_run,
)
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1500)]

FORMULA = "Model formula (lme4 style)"


def type_formula(page, text: str) -> None:
    box = page.get_by_role("textbox", name=FORMULA, exact=True)
    box.fill(text)
    box.press("Enter")
    wait_for_run(page)


def test_crossed_factors_fit_and_every_page_shows_each_factor(page) -> None:
    main = page.get_by_test_id("stMain")
    visit(page, "Data")
    choose(page, "Sample data set", "Penicillin plates and samples")
    expect(main).to_contain_text("The data are ready to fit")
    visit(page, "Model & fit")
    expect(page.get_by_role("textbox", name=FORMULA, exact=True)).to_have_value(
        "diameter ~ 1 + (1 | plate) + (1 | sample)")
    fit_and_wait(page, "Quick")
    expect(main).to_contain_text("diagnostics look fine")
    screenshot(page, "factors-penicillin-01-fitted")

    for factor in ("plate", "sample"):
        visit(page, "Shrinkage")
        choose(page, "Grouping factor", factor)
        assert_chart_drawn(page, f"Shrinkage of Penicillin's {factor}s")
        screenshot(page, f"factors-penicillin-02-shrinkage-{factor}")
    expect(main.get_by_text("F", exact=True).first).to_be_attached()  # a sample's label, on the sample view

    visit(page, "MAP vs mean", "factors-penicillin-03-map-vs-mean")
    assert_chart_drawn(page, "MAP vs mean of Penicillin")
    visit(page, "Population & prediction")
    expect(main).to_contain_text("sd(intercept|sample)")
    assert_chart_drawn(page, "Population of Penicillin")
    choose(page, "Existing group", "a")
    choose(page, "Group of the further factor", "a new group")
    assert_no_exception(page)
    screenshot(page, "factors-penicillin-04-population")
    visit(page, "Diagnostics", "factors-penicillin-05-diagnostics")
    expect(main).to_contain_text("no convergence problems found")


def test_a_typed_formula_becomes_the_model_and_a_typo_is_refused(page) -> None:
    main = page.get_by_test_id("stMain")
    visit(page, "Data")
    choose(page, "Sample data set", "Paste strength (nested)")
    visit(page, "Model & fit")
    expect(page.get_by_role("textbox", name=FORMULA, exact=True)).to_have_value("strength ~ 1 + (1 | batch/cask)")
    type_formula(page, "strength ~ 1 + (1 | batch) + (1 | cask)")  # crossed instead: three casks a, b, c
    assert_no_exception(page)
    expect(main).to_contain_text("(1 | cask)")
    screenshot(page, "factors-pastes-01-crossed-formula")
    type_formula(page, "strength ~ 1 + (1 | bacth/cask)")
    expect(main).to_contain_text("did you mean 'batch'")
    assert_no_exception(page)
    screenshot(page, "factors-pastes-02-typo-refused")
    type_formula(page, "strength ~ 1 + (1 | batch/cask)")
    assert_no_exception(page)
    expect(main).not_to_contain_text("did you mean")


def test_a_factor_the_data_refuse_is_said_and_can_be_removed(page) -> None:
    main = page.get_by_test_id("stMain")
    visit(page, "Data")
    upload(page, penicillin_with_lab_csv())
    choose(page, "Group", "plate")
    choose(page, "Outcome", "diameter")
    expect(page.get_by_test_id("stAlert").filter(has_text="ready to fit")).to_be_visible()
    visit(page, "Model & fit")
    choose(page, "Add a grouping factor", "lab")
    main.get_by_test_id("stButtonGroup").locator("button").filter(has_text="Add").click()
    wait_for_run(page)
    assert_no_exception(page)
    expect(main).to_contain_text("lab, crossed")
    expect(main).to_contain_text("The data refuse these grouping factors")
    expect(main).to_contain_text("single level ('only')")
    expect(page.get_by_role("button", name="Fit", exact=True)).to_have_count(0)
    screenshot(page, "factors-refused-01-single-level")
    main.get_by_test_id("stButtonGroup").locator("button").filter(has_text="Remove").click()
    wait_for_run(page)
    assert_no_exception(page)
    expect(main).not_to_contain_text("lab, crossed")
    expect(main).not_to_contain_text("The data refuse these grouping factors")
    expect(page.get_by_role("button", name="Fit", exact=True)).to_be_visible()
    screenshot(page, "factors-refused-02-removed")
