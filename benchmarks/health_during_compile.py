"""How promptly the server answers while it compiles: ``/_stcore/health`` latency during a cold warm start.

Run from the repository root:  ``.venv/bin/python benchmarks/health_during_compile.py [seconds]`` (default 60).

Starts ``streamlit run app.py`` on 127.0.0.1 with empty PyTensor and numba caches, opens one headless Chromium
session (the first session starts the warm start, which compiles the default sample's three models and mode
finders in a background thread of the server), then polls the health endpoint every 50 ms for the given time
and prints the number of polls and the median, 95th percentile and slowest answer. Compiling is mostly Python
(numba's type inference) in the server process, so it competes with the server thread for the GIL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PORT = 8642
HEALTH = f"http://127.0.0.1:{PORT}/_stcore/health"


def main() -> int:
    from playwright.sync_api import sync_playwright

    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    with tempfile.TemporaryDirectory() as compiledir, tempfile.TemporaryDirectory() as numba_cache:
        env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={compiledir}", NUMBA_CACHE_DIR=numba_cache,
                   HIERMODELS_WARM_START="1")
        server = subprocess.Popen(
            [str(REPO / ".venv/bin/streamlit"), "run", "app.py", "--server.headless", "true",
             "--server.port", str(PORT), "--server.address", "127.0.0.1"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(150):
                try:
                    urllib.request.urlopen(HEALTH, timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.2)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                browser.new_page().goto(f"http://127.0.0.1:{PORT}/")
                latencies = []
                started = time.monotonic()
                while time.monotonic() - started < seconds:
                    asked = time.perf_counter()
                    urllib.request.urlopen(HEALTH, timeout=10).read()
                    latencies.append(time.perf_counter() - asked)
                    time.sleep(0.05)
                browser.close()
        finally:
            server.terminate()
            server.wait()
    latencies.sort()
    print(f"{len(latencies)} health polls during a cold warm start: median {latencies[len(latencies) // 2] * 1000:.0f}"
          f" ms, 95th percentile {latencies[int(0.95 * len(latencies))] * 1000:.0f} ms, slowest "
          f"{latencies[-1] * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
