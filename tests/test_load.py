"""A classroom at once: ten browser sessions fit at the same time on one server.

Each session uploads its own copy of the radon data, shifted by a session-specific amount (session k adds k to
every log radon value), and clicks Fit (all three poolings, quick preset) within a second or two of the others.
The server's fit queue lets one fit sample at a time; the others wait their turn. The test checks that every
session finishes, that each gets the answer for its own data (its partial-pooling intercept is session 0's plus
k: results are not mixed between sessions), and that ``/_stcore/health`` answers within 1 s throughout.
"""

from __future__ import annotations

import csv
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from browser_support import DATA, FIT_TIMEOUT_MS, VIEWPORT, Server, screenshot, upload, visit, wait_for_run

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1200)]

SESSIONS = 10


def shifted_radon(k: int) -> Path:
    """The radon sample with log radon + k; only the group and outcome columns, so the roles are suggested."""
    source = Path(__file__).resolve().parent.parent / "sample_data" / "radon.csv"
    with source.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    path = DATA / f"radon_plus_{k}.csv"
    DATA.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["county", "log_radon"])
        for row in rows:
            writer.writerow([row["county"], repr(float(row["log_radon"]) + k)])
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
    """The partial-pooling intercept, from the CSV the Population page offers for download."""
    visit(page, "Population & prediction")
    with page.expect_download() as download:
        page.get_by_role("button", name="CSV").first.click()
    with open(download.value.path(), newline="") as handle:
        rows = list(csv.DictReader(handle))
    return float(next(r["mean"] for r in rows if r["pooling"] == "partial" and r["name"] == "intercept"))


def test_ten_sessions_fit_at_once(browser, server: Server) -> None:
    pages = []
    for k in range(SESSIONS):
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(60_000)
        page = context.new_page()
        page.goto(server.url)
        page.get_by_test_id("stApp").wait_for()
        wait_for_run(page)
        upload(page, shifted_radon(k))
        visit(page, "Model & fit")
        pages.append(page)

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

    assert not health.failures, health.failures[:3]
    assert max(health.latencies) < 1.0, f"slowest health answer {max(health.latencies):.2f} s"
    # Session k's data are session 0's plus k: its population intercept is higher by k (MC error ~0.05).
    np.testing.assert_allclose(intercepts - intercepts[0], np.arange(SESSIONS), atol=0.15)
    print(f"\n{SESSIONS} sessions: finished after {', '.join(f'{t:.0f}' for t in finished)} s; slowest health "
          f"answer {max(health.latencies) * 1000:.0f} ms over {len(health.latencies)} polls")
