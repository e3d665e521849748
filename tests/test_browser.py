"""Browser tests: the Streamlit app driven end to end in headless Chromium through Playwright.

The harness (server, browser, page helpers) is in ``browser_support.py``; each test gets a fresh browser context,
i.e. a fresh Streamlit session, and saves screenshots under ``test-output/screenshots/``.
"""

from __future__ import annotations

import re
import time

import pytest
from browser_support import (
    FIT_TIMEOUT_MS,
    Server,
    _cpu_used,
    _session_threads,
    add_option,
    assert_chart_drawn,
    assert_no_exception,
    choose,
    fit_and_wait,
    garbage_csv,
    pick_radio,
    poisson_counts_csv,
    screenshot,
    selected,
    sleepstudy_subset,
    text_in_outcome_csv,
    turn_the_dial,
    upload,
    visit,
    wait_for_run,
)
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]


def test_data_page_opens_on_radon(page) -> None:
    """The default page: the radon sample loaded and ready, its preview table and the group-size chart."""

    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Data")).to_be_visible()
    assert_no_exception(page)
    assert selected(page, "Sample data set") == "Minnesota radon"
    assert selected(page, "Outcome") == "log_radon"
    assert selected(page, "Group") == "county"
    expect(main).to_contain_text("919 rows")
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    expect(page.get_by_test_id("stAlert").filter(has_text="ready to fit")).to_be_visible()
    expect(main).to_contain_text("Group sizes")
    assert_chart_drawn(page, "Data page (group sizes)")
    screenshot(page, "01-data-radon")


def test_fit_radon_then_every_page(page) -> None:
    """Fit the three poolings (Quick) on radon, then open every page: results drawn, no exception anywhere."""

    visit(page, "Model & fit", "02-model-fit-before")
    fit_and_wait(page, "Quick")
    screenshot(page, "03-model-fit-fitted")

    visit(page, "Shrinkage", "04-shrinkage")
    assert_chart_drawn(page, "Shrinkage")
    expect(page.get_by_role("combobox", name="Highlight a group", exact=True)).to_be_visible()

    visit(page, "MAP vs mean", "05-map-vs-mean")
    assert_chart_drawn(page, "MAP vs mean")
    expect(page.get_by_test_id("stMain")).to_contain_text("posterior mean")

    visit(page, "Population & prediction", "06-population-prediction")
    visit(page, "Diagnostics", "07-diagnostics")
    turn_the_dial(page, "Minnesota radon", "radon")  # gaussian rows, sigma integrated out
    visit(page, "Data", "08-data-after-fit")


def test_upload_csv_and_fit(page) -> None:
    """Upload six subjects of sleepstudy, set Reaction by Subject, fit with Quick."""

    path = sleepstudy_subset()
    upload(page, path)
    choose(page, "Group", "Subject")
    choose(page, "Outcome", "Reaction")
    assert_no_exception(page)
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("sleep_six_subjects.csv")
    expect(main).to_contain_text("60 rows")
    expect(page.get_by_test_id("stAlert").filter(has_text="ready to fit")).to_be_visible()
    screenshot(page, "09-data-uploaded-sleepstudy")

    visit(page, "Model & fit")
    fit_and_wait(page, "Quick")
    screenshot(page, "10-model-fit-uploaded-fitted")


def test_malformed_uploads_explain_the_problem(page) -> None:
    """Binary garbage named .csv, then text in the outcome column: a message naming the problem, no traceback."""

    main = page.get_by_test_id("stMain")
    upload(page, garbage_csv())
    expect(page.get_by_test_id("stAlert").first).to_be_visible()
    assert_no_exception(page)
    expect(main).to_contain_text("garbage.csv")
    expect(main).to_contain_text(re.compile(r"not UTF-8|could not read|not a text file", re.IGNORECASE))
    screenshot(page, "11-data-garbage-upload")

    upload(page, text_in_outcome_csv())
    choose(page, "Group", "school")
    choose(page, "Outcome", "score")
    expect(page.get_by_test_id("stAlert").filter(has_text="problem").first).to_be_visible()
    assert_no_exception(page)
    # The message names the column, the offending text and the rows.
    expect(main).to_contain_text(re.compile(r"'score'.*abc", re.DOTALL))
    screenshot(page, "12-data-text-in-outcome")
    # And the fit is refused until the data are fixed.
    visit(page, "Model & fit")
    expect(page.get_by_role("button", name="Fit", exact=True)).to_have_count(0)


def start_a_long_fit(page) -> tuple:
    """A Careful poisson fit on 20,000 rows, waited for until it is well into sampling, with work left (the app
    estimates the time left), so that stopping interrupts sampling rather than a compile or a fit about to end."""
    upload(page, poisson_counts_csv())
    choose(page, "Group", "region")
    choose(page, "Outcome", "count")
    choose(page, "Family", "Poisson (counts, optional exposure)")
    add_option(page, "Predictors", "x")
    expect(page.get_by_test_id("stAlert").filter(has_text="ready to fit")).to_be_visible()
    visit(page, "Model & fit")
    pick_radio(page, "Pooling", "Partial pooling")
    pick_radio(page, "Sampler preset", "Careful")
    page.get_by_role("button", name="Fit", exact=True).click()
    progress = page.get_by_test_id("stProgress")
    expect(progress).to_be_visible(timeout=30_000)
    state = page.wait_for_function(
        """() => {
               if (document.querySelector('[data-testid="stAlert"]')?.innerText.includes('Fitted')) return 'fitted';
               for (const p of document.querySelectorAll('[data-testid="stProgress"]')) {
                   const bar = p.querySelector('[role="progressbar"]');
                   const now = bar ? parseFloat(bar.getAttribute('aria-valuenow') || '0') : 0;
                   const left = /about (\\d+) s left/.exec(p.innerText);
                   if (now > 0 && /sampling\\D*[1-9]/i.test(p.innerText) && (!left || Number(left[1]) >= 3))
                       return p.innerText;
               }
               return false;
           }""",
        timeout=FIT_TIMEOUT_MS,
    ).json_value()
    assert state != "fitted", "the Careful fit ended before sampling could be stopped"
    return progress, state


def assert_server_quiet(server: Server, state: str, how: str) -> None:
    """The sampler really stopped: the server (and any child) burns almost no CPU over the next 2 s."""
    before = _session_threads(server.pid)
    time.sleep(2.0)
    used, busiest = _cpu_used(before, _session_threads(server.pid))
    assert used < 0.5, (
        f"the server used {used:.2f} s of CPU in the 2 s after {how} (at {state!r}); is it still sampling? "
        f"Busiest threads: {busiest}"
    )


def test_cancel_stops_the_sampler(page, server: Server) -> None:
    """Cancel while sampling: a "cancelled" message, the progress bar gone, and the server's CPU quiet again."""
    progress, state = start_a_long_fit(page)
    screenshot(page, "13-model-fit-sampling")
    page.get_by_role("button", name="Cancel", exact=True).click()
    cancelled = page.get_by_test_id("stAlert").filter(has_text=re.compile("cancelled", re.IGNORECASE))
    expect(cancelled.first).to_be_visible(timeout=10_000)
    expect(progress).to_have_count(0, timeout=10_000)
    wait_for_run(page)
    assert_no_exception(page)
    expect(page.get_by_role("button", name="Cancel", exact=True)).to_have_count(0)
    screenshot(page, "14-model-fit-cancelled")
    assert_server_quiet(server, state, "cancelling")


def test_leaving_the_page_stops_the_sampler(page, server: Server) -> None:
    """Going to another page while sampling stops the fit: the Data page shows, and the server goes quiet."""
    _, state = start_a_long_fit(page)
    visit(page, "Data")
    assert_no_exception(page)
    assert_server_quiet(server, state, "leaving the page")


def test_closing_the_tab_stops_the_sampler(page, server: Server) -> None:
    """Closing the tab while sampling ends the session's run: half a second later the server is quiet."""
    _, state = start_a_long_fit(page)
    page.close()
    time.sleep(0.5)
    assert_server_quiet(server, state, "closing the tab")
