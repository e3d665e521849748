"""Soak: 100 consecutive real fits in one app process; does memory stay flat and do the caches stay bounded?

Run from the repository root: ``.venv/bin/python benchmarks/soak.py [--fits 100]`` (about 5 minutes on 2 cores).

The app runs under Streamlit's AppTest, in this process, so its ``st.cache_resource`` objects (the fit store, the
compiled-model cache, the fit queue) are process-wide exactly as in one server. Each round uploads a new
variant of the radon sample (log radon plus seeded noise, so every round is a new data set and a new fit of the
same structure), clicks Fit with the quick preset (all three poolings, real NUTS and MAP) and waits for
"Fitted". Resident memory (VmRSS) is read after a warm-up of 10 rounds and at the end; the issue's target is less
than 200 MB of growth after warm-up, with the compile cache bounded.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
WARM_UP = 10


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def radon_variant(seed: int) -> bytes:
    import pandas as pd

    frame = pd.read_csv(REPO / "sample_data" / "radon.csv", dtype=str)
    rng = np.random.default_rng(seed)
    frame["log_radon"] = [repr(float(v)) for v in frame["log_radon"].astype(float) + rng.normal(0, 0.05, len(frame))]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=100)
    args = parser.parse_args()
    os.environ["HIERMODELS_WARM_START"] = "0"
    from streamlit.testing.v1 import AppTest

    from hiermodels_ui import cache

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
    at.run()
    memory = {}
    durations = []
    for round_ in range(args.fits):
        at.switch_page("pages/1_data.py").run()
        at.file_uploader[0].set_value((f"radon_{round_}.csv", radon_variant(round_), "text/csv")).run()
        at.switch_page("pages/2_model.py").run()
        started = time.perf_counter()
        next(b for b in at.button if b.label == "Fit").click().run()
        durations.append(time.perf_counter() - started)
        successes = [s.value for s in at.success]
        if at.exception or not any(s.startswith("Fitted") for s in successes):
            print(f"round {round_}: no fit ({at.exception or successes})", file=sys.stderr)
            return 1
        if round_ + 1 == min(WARM_UP, args.fits):
            memory["after_warm_up"] = resident_mb()
    memory["end"] = resident_mb()
    growth = memory["end"] - memory["after_warm_up"]
    print(f"| fits | RSS after {WARM_UP} | RSS after {args.fits} | growth | compiled models cached | fits stored |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.fits} | {memory['after_warm_up']:.0f} MB | {memory['end']:.0f} MB | {growth:+.0f} MB | "
          f"{len(cache.compiled_models())} (max {cache.compiled_models().max_entries}) | "
          f"{len(cache.fit_store())} (max {cache.MAX_STORED_FITS}) |")
    print(f"fit wall time per round (3 poolings, quick preset): median {np.median(durations):.2f} s, "
          f"first {durations[0]:.1f} s, max after the first {max(durations[1:]):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
