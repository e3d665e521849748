"""How fast a cancelled fit stops: time from the cancel signal to ``fit`` returning, and the CPU used after it.

Run from the repository root: ``.venv/bin/python benchmarks/cancel_latency.py [--repeats 5]``.

A Poisson model on rows (no shortcut: each gradient touches 20,000 rows, so sampling is slow enough to cancel
mid-way) is fitted with far more draws than it could finish; once the sampler reports progress, the cancel event
is set. This is the mechanism behind the app's Cancel button, a page change and a closed tab (there the progress
callback raises instead; ``tests/test_browser.py`` checks that path through the real server).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import numpy as np
import pandas as pd


def process_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from hiermodels import FitCancelled, ModelSpec, SamplerSettings, fit, prepare
    from hiermodels.engine.compiled import CompiledModelCache

    rng = np.random.default_rng(0)
    n, groups = 20_000, 100
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    y = rng.poisson(np.exp(0.5 + rng.normal(0, 0.3, groups)[g] + 0.2 * x))
    frame = pd.DataFrame({"region": [f"r{k}" for k in g], "x": x.astype(str), "count": y.astype(str)})
    spec = ModelSpec("count", "region", ("x",), family="poisson",
                     sampler=SamplerSettings(draws=20_000, tune=1000, chains=2))
    data = prepare(frame, spec)
    cache = CompiledModelCache()
    latencies, cpu_after = [], []
    for _ in range(args.repeats):
        cancel = threading.Event()
        signalled: list[float] = []

        def on_progress(progress, cancel=cancel, signalled=signalled) -> None:
            if progress.stage == "sampling" and progress.draws_done > 200 and not cancel.is_set():
                signalled.append(time.perf_counter())
                cancel.set()

        try:
            fit(data, spec, progress=on_progress, cancel=cancel, compute_map=False, compiled_cache=cache)
        except FitCancelled:
            latencies.append(time.perf_counter() - signalled[0])
        else:
            print("the fit finished before it could be cancelled", file=sys.stderr)
            return 1
        before = process_cpu_seconds()
        time.sleep(2)
        cpu_after.append(process_cpu_seconds() - before)
    print(f"cancel latency over {args.repeats} fits: median {np.median(latencies) * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms; CPU used in the 2 s after: max {max(cpu_after):.2f} s; "
          f"threads left: {threading.active_count() - 1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
