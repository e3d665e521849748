"""A classroom at once: ten browser sessions fit at the same time on one server.

Each session uploads its own copy of the radon data, shifted by a session-specific amount (session k adds k to
every log radon value), and clicks Fit (all three poolings, quick preset) within a second or two of the others.
The server's fit queue lets one fit sample at a time; the others wait their turn. The test checks that every
session finishes, that each gets the answer for its own data (its partial-pooling intercept is session 0's plus
k: results are not mixed between sessions), and that ``/_stcore/health`` answers "ok" throughout; its latency
is printed (a timing is measured, not asserted).
"""

from __future__ import annotations

import csv
import os
import re
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from browser_support import (
    FIT_TIMEOUT_MS,
    OUTPUT,
    Server,
    add_option,
    new_session,
    screenshot,
    upload,
    visit,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1200)]

SESSIONS = 10


def shifted_radon(k: int) -> Path:
    """The radon sample with log radon + k: the sample's own structure, so the server's warm start serves it."""
    source = Path(__file__).resolve().parent.parent / "sample_data" / "radon.csv"
    with source.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    folder = OUTPUT / "load-data"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"radon_plus_{k}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["county", "floor", "log_radon"])
        for row in rows:
            writer.writerow([row["county"], row["floor"], repr(float(row["log_radon"]) + k)])
    return path


class HealthWatch(threading.Thread):
    """Polls the health endpoint every 0.2 s and records the slowest answer."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                body = urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=5).read()
                if body != b"ok":
                    self.failures.append(repr(body))
            except OSError as error:
                self.failures.append(str(error))
            self.latencies.append(time.perf_counter() - started)
            self.stop.wait(0.2)


def population_intercept(page) -> float:
    """The partial-pooling intercept, from the Population page's plain-text summary."""
    visit(page, "Population & prediction")
    summary = page.get_by_text(re.compile(r"partial pooling: intercept")).first.inner_text()
    return float(re.search(r"partial pooling: intercept (-?[\d.]+)", summary).group(1))


@pytest.fixture(scope="module", autouse=True)
def warm_start_on():
    """This server compiles the radon sample's models when it starts, as a classroom server would have done
    before the class arrives (the other test modules switch the warm start off; the class fits radon only, so the
    other samples' compiles are left out)."""
    previous = os.environ.get("HIERMODELS_WARM_START")
    os.environ["HIERMODELS_WARM_START"] = "default"
    yield
    if previous is None:
        del os.environ["HIERMODELS_WARM_START"]
    else:
        os.environ["HIERMODELS_WARM_START"] = previous


def wait_until_idle(pid: int, limit_s: float = 300) -> None:
    """Until the server uses less than 0.2 s of CPU per second (its warm start is done)."""
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = cpu()
        time.sleep(1)
        if cpu() - before < 0.2:
            return
    raise AssertionError("the server stayed busy: the warm start did not finish")


def test_ten_sessions_fit_at_once(browser, server: Server) -> None:
    pages = []
    for k in range(SESSIONS):
        page = new_session(browser, server, timeout_ms=60_000)
        upload(page, shifted_radon(k))
        add_option(page, "Predictors", "floor")
        visit(page, "Model & fit")
        pages.append(page)

    page = pages[0]
    page.get_by_test_id("stApp").wait_for()
    # Warm start (started by the first page load) finished before the class clicks Fit.
    wait_until_idle(server.pid)
    health = HealthWatch(server.url)
    health.start()
    started = time.perf_counter()
    for page in pages:
        page.get_by_role("button", name="Fit", exact=True).click()
    screenshot(pages[-1], "20-load-last-session-waiting")
    finished = []
    for page in pages:
        page.get_by_text("Fitted").first.wait_for(timeout=FIT_TIMEOUT_MS * 2)
        finished.append(time.perf_counter() - started)
    health.stop.set()
    health.join(5)
    screenshot(pages[-1], "21-load-last-session-fitted")

    intercepts = np.array([population_intercept(page) for page in pages])
    for page in pages:
        page.context.close()

    # Health must answer "ok" every time; how fast is a timing, reported (below) rather than asserted.
    assert not health.failures, health.failures[:3]
    # Session k's data are session 0's plus k: its population intercept is higher by k (MC error ~0.05).
    np.testing.assert_allclose(intercepts - intercepts[0], np.arange(SESSIONS), atol=0.15)
    latencies = np.array(health.latencies) * 1000
    print(f"\n{SESSIONS} sessions: finished after {', '.join(f'{t:.0f}' for t in finished)} s; health answered "
          f"{len(latencies)} polls, median {np.median(latencies):.0f} ms, 95th percentile "
          f"{np.percentile(latencies, 95):.0f} ms, slowest {latencies.max():.0f} ms")
