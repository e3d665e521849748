"""InstEval's full 73,421 ratings fitted in the app: progress shown, the server responsive, Cancel prompt.

Run from the repository root (issue 12's "InstEval's fit cancellable with progress in the app while the server
stays responsive")::

    .venv/bin/python benchmarks/insteval_in_app.py PATH [--sample-seconds 30]

``PATH`` is the full file that ``scripts/make_sample_data.py --full-insteval PATH`` writes. The script starts
``streamlit run app.py`` on 127.0.0.1, and in headless Chromium, as a user would: uploads the file on the Data
page (outcome ``y``), types ``y ~ 1 + (1 | d) + (1 | s)`` in the Model page's formula box, chooses partial pooling
and clicks Fit. While the fit runs, a second thread polls ``/_stcore/health`` every 100 ms, and a second browser
session opens the Data page (another user on the same server). Once the progress bar has shown sampling for
``--sample-seconds``, it clicks Cancel. Printed: the time to the first progress text, the progress texts seen,
the health endpoint's median / 95th percentile / slowest answer during the fit, the second session's page-load
time, and the time from the Cancel click to the "cancelled" message.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
PORT = 8643
URL = f"http://127.0.0.1:{PORT}"
FORMULA = "Model formula (lme4 style)"


def poll_health(stop: threading.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        try:
            urllib.request.urlopen(f"{URL}/_stcore/health", timeout=10).read()
            latencies.append(time.perf_counter() - start)
        except OSError:
            latencies.append(float("inf"))
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--sample-seconds", type=float, default=30.0)
    args = parser.parse_args()
    from browser_support import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, choose, pick_radio, upload, visit, wait_for_run
    from playwright.sync_api import expect, sync_playwright

    env = dict(os.environ, HIERMODELS_WARM_START="0")
    server = subprocess.Popen(
        [str(REPO / ".venv/bin/streamlit"), "run", "app.py", "--server.headless", "true", "--server.port", str(PORT),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{URL}/_stcore/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(URL)
            wait_for_run(page)
            upload(page, args.path)
            choose(page, "Outcome", "y")
            visit(page, "Model & fit")
            box = page.get_by_role("textbox", name=FORMULA, exact=True)
            box.fill("y ~ 1 + (1 | d) + (1 | s)")
            box.press("Enter")
            wait_for_run(page)
            pick_radio(page, "Pooling", "Partial pooling")

            latencies: list[float] = []
            stop = threading.Event()
            poller = threading.Thread(target=poll_health, args=(stop, latencies), daemon=True)
            poller.start()
            clicked = time.perf_counter()
            page.get_by_role("button", name="Fit", exact=True).click()
            progress = page.get_by_test_id("stProgress")
            expect(progress).to_be_visible(timeout=120_000)
            first_progress = time.perf_counter() - clicked
            texts: list[str] = []
            sampling_since = None
            other_load = None
            while True:
                text = progress.first.inner_text() if progress.count() else ""
                if text and (not texts or texts[-1] != text):
                    texts.append(text)
                if sampling_since is None and re.search(r"sampl|draw", text, re.IGNORECASE) and "tun" not in text:
                    sampling_since = time.perf_counter()
                if other_load is None and time.perf_counter() - clicked > 10:
                    other = browser.new_page(viewport=VIEWPORT)
                    start = time.perf_counter()
                    other.goto(URL)
                    wait_for_run(other)
                    other_load = time.perf_counter() - start
                    other.close()
                if sampling_since is not None and time.perf_counter() - sampling_since > args.sample_seconds:
                    break
                if time.perf_counter() - clicked > 900:
                    break
                time.sleep(0.5)
            cancel_at = time.perf_counter()
            page.get_by_role("button", name="Cancel", exact=True).click()
            cancelled = page.get_by_test_id("stAlert").filter(has_text=re.compile("cancelled", re.IGNORECASE))
            expect(cancelled.first).to_be_visible(timeout=60_000)
            cancel_seconds = time.perf_counter() - cancel_at
            stop.set()
            poller.join()
            browser.close()
        finite = sorted(x for x in latencies if x != float("inf"))
        print(f"first progress text after {first_progress:.1f} s")
        print("progress texts seen (first and last 5):")
        for text in texts[:5] + (["..."] if len(texts) > 10 else []) + texts[-5:]:
            print("   ", text.replace("\n", " "))
        print(f"health polls: {len(latencies)}, failed {len(latencies) - len(finite)}; median "
              f"{1000 * statistics.median(finite):.0f} ms, p95 {1000 * finite[int(0.95 * (len(finite) - 1))]:.0f} ms, "
              f"slowest {1000 * finite[-1]:.0f} ms")
        print(f"a second session's Data page loaded in {other_load:.1f} s during the fit" if other_load else
              "no second session was opened")
        print(f"Cancel to the 'cancelled' message: {cancel_seconds:.1f} s")
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
