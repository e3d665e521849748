"""Shared harness of the browser tests (a streamlit server, Chromium through Playwright, page helpers).

Browser tests: the Streamlit app driven end to end in headless Chromium through Playwright.

A module-scoped fixture starts ``streamlit run app.py`` on a free port (in its own process group, killed as a
group on teardown) and waits for ``/_stcore/health``; each test gets a fresh browser context, i.e. a fresh
Streamlit session. Every page visited is saved as a full-page screenshot under ``test-output/screenshots/``
and the server's output goes to ``test-output/streamlit-server.log``.

The browser is Debian's Chromium at ``/usr/bin/chromium`` (Playwright cannot download its own here). Without it
the tests are skipped, except when ``CI=true``, where they fail: in CI the browser tests must run.

Waiting for a script run uses the attribute the Streamlit frontend puts on the app root,
``[data-testid="stApp"][data-test-script-state]`` (``initial``, ``running``, ``notRunning``, ``rerunRequested``,
``stopRequested``, ``compilationError``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "browser_data"
OUTPUT = REPO / "test-output"
SCREENSHOTS = OUTPUT / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}

# Real PyMC fits of three poolings, numba compilation included, on a small shared machine.
FIT_TIMEOUT_MS = 240_000
RUN_TIMEOUT_MS = 60_000
SERVER_START_S = 60.0

IN_CI = os.environ.get("CI", "").lower() == "true"

# ---------------------------------------------------------------------------------------------------- skipping


def _unavailable(reason: str) -> None:
    """Skip, or fail in CI (where the browser tests must run)."""
    if IN_CI:
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _require_browser() -> None:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")


# ---------------------------------------------------------------------------------------------------- server


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError):
        return False


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    # The group may outlive its leader (worker processes): kill it in any case.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """``streamlit run app.py`` from the repository root on a free port; yields once it answers its health check."""
    _require_browser()
    app = REPO / "app.py"
    assert app.is_file(), f"no Streamlit entry point at {app}"
    python = Path(sys.executable).with_name("python")
    if not python.exists():
        python = Path(sys.executable)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    log = OUTPUT / "streamlit-server.log"
    command = [
        str(python), "-m", "streamlit", "run", "app.py",
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        # No watchdog thread: the tests do not edit sources, and the machine is small.
        "--server.fileWatcherType", "none",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,  # its own session and process group: pid == pgid == sid
        )
    try:
        deadline = time.monotonic() + SERVER_START_S
        while not _healthy(url):
            if process.poll() is not None:
                raise AssertionError(
                    f"streamlit exited with status {process.returncode} before answering; its output:\n"
                    + Server(url, process.pid, log).log_tail()
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"streamlit did not answer {url}/_stcore/health within {SERVER_START_S:.0f} s; its output:\n"
                    + Server(url, process.pid, log).log_tail()
                )
            time.sleep(0.5)
        yield Server(url, process.pid, log)
    finally:
        _stop_group(process)


def _session_threads(sid: int) -> dict[str, tuple[str, float]]:
    """CPU seconds (user + system) of every thread of every live process in session ``sid`` (the server and any
    children), keyed by "pid/tid", with the thread's name."""
    tick = os.sysconf("SC_CLK_TCK")
    threads: dict[str, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[3]) != sid:
                continue
            tasks = list((entry / "task").iterdir())
        except (OSError, ValueError, IndexError):
            continue
        for task in tasks:
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            # Fields after the ")" closing the name: state ppid pgrp session ... utime (14th) stime (15th).
            fields = stat[stat.rindex(")") + 2 :].split()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            threads[f"{entry.name}/{task.name}"] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return threads


def _cpu_used(before: dict[str, tuple[str, float]], after: dict[str, tuple[str, float]]) -> tuple[float, str]:
    """Total CPU seconds used between two snapshots, and the busiest threads, for a failure message."""
    used = {key: (name, cpu - before.get(key, (name, 0.0))[1]) for key, (name, cpu) in after.items()}
    busiest = sorted(used.items(), key=lambda item: -item[1][1])[:6]
    detail = ", ".join(f"{name} [{key}] {cpu:.2f} s" for key, (name, cpu) in busiest if cpu > 0)
    return sum(cpu for _, cpu in used.values()), detail or "no thread"


# ---------------------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser(server: Server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_session(browser, server: Server, timeout_ms: int = 30_000):
    """A fresh browser context (so a fresh Streamlit session) on the app's default page, its first run done."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(timeout_ms)
    page = context.new_page()
    page.goto(server.url)
    page.get_by_test_id("stApp").wait_for()
    wait_for_run(page)
    return page


@pytest.fixture
def page(browser, server: Server):
    """A fresh session per test (:func:`new_session`), closed afterwards."""
    page = new_session(browser, server)
    context = page.context
    try:
        yield page
    finally:
        context.close()


# ---------------------------------------------------------------------------------------------------- helpers


def wait_for_run(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Wait until the app's script run has finished.

    After an interaction the rerun may not have started yet, so first give it a moment to leave ``notRunning``
    (harmless if it already has, or if the run was too quick to see), then wait for ``notRunning``.
    """
    with contextlib.suppress(Exception):
        page.wait_for_selector('[data-testid="stApp"]:not([data-test-script-state="notRunning"])', timeout=500)
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', state="attached", timeout=timeout_ms
    )


def assert_no_exception(page) -> None:
    """No Streamlit exception box and no Python traceback anywhere on the page."""
    from playwright.sync_api import expect

    exceptions = page.get_by_test_id("stException")
    if exceptions.count():
        pytest.fail(f"the app shows an exception:\n{exceptions.first.inner_text()}", pytrace=False)
    expect(page.locator("body")).not_to_contain_text("Traceback")


def screenshot(page, name: str) -> Path:
    """A full-page screenshot, ``test-output/screenshots/<name>.png``.

    Streamlit scrolls its main area inside the window, so a plain full-page screenshot would stop at the
    viewport: the viewport is made as tall as the content for the shot, then restored.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    height = page.evaluate(
        """() => Math.max(document.documentElement.scrollHeight,
                ...Array.from(document.querySelectorAll('[data-testid="stMain"], [data-testid="stAppViewContainer"],'
                    + ' [data-testid="stSidebarContent"]'), e => e.scrollHeight))"""
    )
    size = page.viewport_size or VIEWPORT
    tall = min(max(int(height) + 40, size["height"]), 12_000)
    if tall != size["height"]:
        page.set_viewport_size({"width": size["width"], "height": tall})
        page.wait_for_timeout(400)  # charts re-layout to the new size
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        if tall != size["height"]:
            page.set_viewport_size(size)
    return path


def nav_link(page, title: str):
    """The navigation link to the page titled ``title`` (sidebar, or the top bar if the app puts it there)."""
    def in_sidebar():
        return page.get_by_test_id("stSidebarNavLink").filter(
            has=page.get_by_test_id("stMarkdownContainer").get_by_text(title, exact=True)
        )

    if in_sidebar().count():
        return in_sidebar().first
    more = page.get_by_test_id("stSidebarNavViewButton")
    if more.count() and more.first.is_visible():
        more.first.click()
        if in_sidebar().count():
            return in_sidebar().first
    return page.get_by_role("link", name=title, exact=True).first


def visit(page, title: str, shot: str | None = None, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Open a page by its navigation title, wait for its run, check it shows no exception, screenshot it."""
    link = nav_link(page, title)
    link.click()
    if link.get_attribute("data-testid") == "stSidebarNavLink":
        # The frontend marks the link current once it has switched pages; the page's run follows.
        page.wait_for_function("link => link.getAttribute('aria-current') === 'page'", arg=link.element_handle())
    wait_for_run(page, timeout_ms)
    assert_no_exception(page)
    if shot:
        screenshot(page, shot)


def widget(page, test_id: str, label: str):
    """The widget with data-testid ``test_id`` whose label is exactly ``label``."""
    label_locator = page.get_by_test_id("stWidgetLabel").filter(
        has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")
    )
    return page.get_by_test_id(test_id).filter(has=label_locator)


def selected(page, label: str) -> str:
    """The option shown by the selectbox labelled ``label`` (a combobox whose value is the selected option)."""
    return page.get_by_role("combobox", name=label, exact=True).input_value()


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` (no-op if it is already selected)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    box = page.get_by_role("combobox", name=label, exact=True)
    if box.input_value() == option:
        return
    for attempt in range(3):
        # A rerun that lands while the list is open re-renders it (its options detach): close it and open again.
        box.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
            break
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
            wait_for_run(page)
    wait_for_run(page)
    assert box.input_value() == option, f"{label!r} shows {box.input_value()!r} after choosing {option!r}"


def add_option(page, label: str, option: str) -> None:
    """Add ``option`` to the multiselect labelled ``label``."""
    box = widget(page, "stMultiSelect", label)
    box.get_by_role("combobox").click()
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")
    wait_for_run(page)


def pick_radio(page, label: str, option: str) -> None:
    group = widget(page, "stRadio", label)
    group.get_by_text(option, exact=True).click()
    wait_for_run(page)


def upload(page, path: Path) -> None:
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="Upload a table")
    uploader.locator('input[type="file"]').set_input_files(str(path))
    # The file's chip (its name, maybe shortened on screen, in the title) appears once the upload is done.
    uploader.locator(f'[data-testid="stFileChipName"][title="{path.name}"]').wait_for()
    wait_for_run(page)


def alerts_text(page) -> str:
    alerts = page.get_by_test_id("stAlert")
    return "\n".join(alerts.nth(i).inner_text() for i in range(alerts.count()))


def assert_chart_drawn(page, where: str) -> None:
    """At least one Vega-Lite chart whose canvas or svg has a non-zero size."""
    from playwright.sync_api import expect

    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts.first).to_be_visible(timeout=30_000)
    drawn = charts.locator("canvas, svg.marks")
    expect(drawn.first).to_be_attached(timeout=30_000)
    for i in range(drawn.count()):
        box = drawn.nth(i).bounding_box()
        if box and box["width"] > 10 and box["height"] > 10:
            return
    pytest.fail(f"{where}: no Vega-Lite chart was drawn with a non-zero size", pytrace=False)


def fit_and_wait(page, preset: str = "Quick") -> None:
    from playwright.sync_api import expect

    pick_radio(page, "Sampler preset", preset)
    page.get_by_role("button", name="Fit", exact=True).click()
    expect(page.get_by_text(re.compile("Fitted"))).to_be_visible(timeout=FIT_TIMEOUT_MS)
    wait_for_run(page, FIT_TIMEOUT_MS)
    assert_no_exception(page)


# ---------------------------------------------------------------------------------------------------- the dial
# Set the slider as a person's drag does (an input event), then time Vega's reaction: its listener updates the
# signal and re-runs the dataflow and the renderer in microtasks, so the redraw is normally done when a zero timeout
# fires; if the picture has not changed by then, the frames that follow are watched until it has (up to a second).
MOVE = """
async ([slider, value]) => {
    const chart = slider.closest('[data-testid="stVegaLiteChart"]');
    const canvas = chart.querySelector('canvas');
    const svg = chart.querySelector('svg.marks');
    const picture = () => canvas ? canvas.toDataURL() : svg.outerHTML;
    const before = picture();
    const start = performance.now();
    slider.value = String(value);
    slider.dispatchEvent(new Event('input', {bubbles: true}));
    await new Promise(resolve => setTimeout(resolve, 0));
    let redraw = performance.now() - start;
    let changed = picture() !== before;
    for (let frame = 0; !changed && frame < 60; frame++) {
        await new Promise(resolve => requestAnimationFrame(resolve));
        redraw = performance.now() - start;
        changed = picture() !== before;
    }
    return {redraw_ms: redraw, changed: changed, shown: slider.value};
}
"""


def turn_the_dial(page, name: str, slug: str) -> list[float]:
    """On a fitted sample: open the Pooling dial, move the chart's own slider (Vega's ``input[type=range]``) to 0
    (complete pooling), the middle and the end (no pooling), check that each move redrew the picture with no
    script run of the app, screenshot each (``dial-<slug>-<position>.png``, the chart alone), then open the MAP vs
    mean page's three summaries (``dial-<slug>-three-summaries*.png``). Returns the redraw times (ms), measured in
    the page from the input event to the end of Vega's redraw, and appends them to ``dial-redraw.txt``: a timing
    is a record, not a pass/fail test (``benchmarks/bench_dial.py`` measures it)."""
    from playwright.sync_api import expect

    main = page.get_by_test_id("stMain")
    size = page.viewport_size
    # Tall enough for the whole dial (about 1,150 px): an element screenshot then needs no scrolling.
    page.set_viewport_size({"width": 1400, "height": 2400})
    visit(page, "Pooling dial")
    assert_chart_drawn(page, f"the pooling dial of {name}")
    expect(main).to_contain_text("At the left end")  # the lecturer's story
    chart = page.get_by_test_id("stVegaLiteChart").filter(has=page.locator("input[type=range]")).first
    expect(chart).to_be_visible(timeout=30_000)
    slider = chart.locator("input[type=range]").first
    last, start = int(slider.get_attribute("max")), int(slider.input_value())
    assert slider.get_attribute("min") == "0" and 0 < start <= last
    screenshot(page, f"dial-{slug}-page")
    timings = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, position in (("0", 0), ("middle", last // 2), ("max", last)):
        moved = page.evaluate(MOVE, [slider.element_handle(), position])
        assert moved["shown"] == str(position)
        assert moved["changed"] or position == start, f"{name}: the chart did not redraw at {position}"
        timings.append(float(moved["redraw_ms"]))
        # No script run: the slider lives in the browser.
        expect(page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')).to_have_count(1)
        chart.screenshot(path=str(SCREENSHOTS / f"dial-{slug}-{label}.png"))
    assert_no_exception(page)

    visit(page, "MAP vs mean")
    expect(main).to_contain_text("Three summaries: joint mode, marginal mode, posterior mean")
    assert_chart_drawn(page, f"the three summaries of {name}")
    screenshot(page, f"dial-{slug}-three-summaries")
    # The MAP chart comes first; then the three summaries and the joint and marginal profiles of tau.
    for index, part in ((1, "three-summaries-chart"), (2, "mode-profile")):
        page.get_by_test_id("stVegaLiteChart").nth(index).screenshot(path=str(SCREENSHOTS / f"dial-{slug}-{part}.png"))
    with (OUTPUT / "dial-redraw.txt").open("a") as record:
        record.write(f"{name}: redraw after an input event at 0, middle, max: "
                     f"{', '.join(f'{t:.1f}' for t in timings)} ms\n")
    if size:
        page.set_viewport_size(size)
    return timings


# ---------------------------------------------------------------------------------------------------- data files


def sleepstudy_subset() -> Path:
    """The first six subjects of lme4's sleepstudy (60 rows: Subject, Days, Reaction), written from the sample."""
    lines = (REPO / "sample_data" / "sleepstudy.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    subjects = list(dict.fromkeys(row.split(",")[0] for row in rows))[:6]
    kept = [row for row in rows if row.split(",")[0] in subjects]
    assert header == "Subject,Days,Reaction" and len(kept) == 60, (header, len(kept))
    return _write(DATA / "sleep_six_subjects.csv", "\n".join([header, *kept]) + "\n")


def penicillin_with_lab_csv() -> Path:
    """lme4's Penicillin (sample_data/penicillin.csv) with a column ``lab`` that holds one value, ``only``: a
    grouping factor with a single level."""
    lines = (REPO / "sample_data" / "penicillin.csv").read_text().splitlines()
    rows = [f"{lines[0]},lab", *(f"{row},only" for row in lines[1:])]
    return _write(DATA / "penicillin_with_lab.csv", "\n".join(rows) + "\n")


def garbage_csv() -> Path:
    """Binary bytes (not UTF-8, with NULs) under a .csv name."""
    return _write(DATA / "garbage.csv", bytes(range(256)) * 8 + b"\x00\xff\xfe\x80" * 64)


def text_in_outcome_csv() -> Path:
    """A tidy CSV in which the would-be outcome ``score`` holds the text 'abc' in file rows 4 and 18."""
    rows = ["school,score,hours"]
    for i in range(24):
        score = "abc" if i in (3, 17) else f"{50 + (i * 7) % 23}.5"
        rows.append(f"s{i % 4},{score},{i % 6}")
    return _write(DATA / "text_in_outcome.csv", "\n".join(rows) + "\n")


def poisson_counts_csv() -> Path:
    """Simulated counts, 20,000 rows in 100 groups with a row-level predictor: a poisson model whose
    every gradient touches every row, so that a Careful fit samples for long enough to be cancelled (gaussian
    models are fitted on per-group sums and finish in a moment)."""
    import numpy as np

    rng = np.random.default_rng(20261122)
    groups = 100
    per_group = 200
    effects = rng.normal(0.5, 0.6, size=groups)
    rows = ["region,x,count"]
    for j in range(groups):
        x = rng.normal(size=per_group)
        counts = rng.poisson(np.exp(effects[j] + 0.4 * x))
        rows.extend(f"r{j:03d},{xi:.4f},{ci}" for xi, ci in zip(x, counts, strict=True))
    return _write(DATA / "poisson_counts.csv", "\n".join(rows) + "\n")


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


# ---------------------------------------------------------------------------------------------------- tests


