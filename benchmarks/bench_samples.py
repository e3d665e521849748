"""Every bundled sample with its default model under all three poolings, fitted the way the app fits it.

Run from the repository root: ``.venv/bin/python benchmarks/bench_samples.py [--empty-caches] [--draws N ...]``.

For each sample of ``hiermodels.data.datasets.SAMPLES`` the script prepares the data, then calls
``fit_poolings(..., compiled_cache=..., queue=...)`` exactly as the Model & fit page does, twice, on one
compiled-model cache shared by all samples (as one server shares it):

- **first fit**: the structures of this sample are compiled now (with ``--empty-caches`` the process starts with
  a new PyTensor ``base_compiledir`` and a new ``NUMBA_CACHE_DIR``, as on a new machine; without it, whatever the
  disk caches hold, as on a restarted server);
- **warmed**: the same fit again, its structures compiled (a warmed server: the app's warm start compiles every
  bundled sample's default models when it starts); with ``--repeats N`` N times, and the median shown.

``--only TEXT`` keeps the samples whose name contains TEXT (``--only insteval``).

It prints, per sample and pooling, the wall time of each, and the diagnostics of the warmed fit (largest R-hat,
smallest bulk and tail ESS over every population parameter and group coefficient, divergences). A timing is
information, not a test: ``tests/test_sample_matrix.py`` asserts what can fail.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(sampler_overrides: dict, only: str | None = None, repeats: int = 1) -> None:
    from hiermodels.data.datasets import SAMPLES
    from hiermodels.data.preparing import prepare
    from hiermodels.engine.compiled import CompiledModelCache
    from hiermodels.inference.fitting import fit_poolings
    from hiermodels.inference.queue import FitQueue

    cache = CompiledModelCache(64)
    queue = FitQueue(slots=1, max_waiting=4)
    print(f"{'sample':<28} {'pooling':<9} {'first s':>8} {'warm s':>7} {'R-hat':>6} {'ESS bulk':>9} "
          f"{'ESS tail':>9} {'div':>4}")
    for sample in (s for s in SAMPLES if only is None or only.lower() in s.name.lower()):
        spec = replace(sample.spec, sampler=replace(sample.spec.sampler, **sampler_overrides))
        data = prepare(sample.load(), spec)
        started = time.perf_counter()
        first = fit_poolings(data, spec, compiled_cache=cache, queue=queue)
        first_s = time.perf_counter() - started
        warm_fits = [fit_poolings(data, spec, compiled_cache=cache, queue=queue) for _ in range(repeats)]
        # the median warmed fit of all three poolings (by their summed time)
        warm = sorted(warm_fits, key=lambda w: sum(w[p].timing.total_s for p in w.poolings))[(repeats - 1) // 2]
        for pooling in warm.poolings:
            d = warm[pooling].diagnostics()
            print(f"{sample.name:<28} {pooling:<9} {first[pooling].timing.total_s:8.2f} "
                  f"{warm[pooling].timing.total_s:7.2f} {d.max_r_hat:6.3f} {d.min_ess_bulk:9.0f} "
                  f"{d.min_ess_tail:9.0f} {d.divergences:4d}")
        warm_s = sum(warm[p].timing.total_s for p in warm.poolings)
        every = ", ".join(f"{sum(w[p].timing.total_s for p in w.poolings):.2f}" for w in warm_fits)
        print(f"{sample.name:<28} {'all':<9} {first_s:8.2f} {warm_s:7.2f}"
              + (f"  (median of {repeats}: {every})" if repeats > 1 else ""), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--empty-caches", action="store_true", help="start with empty compile caches")
    parser.add_argument("--draws", type=int)
    parser.add_argument("--tune", type=int)
    parser.add_argument("--chains", type=int)
    parser.add_argument("--target-accept", type=float)
    parser.add_argument("--only", help="only the samples whose name contains this text (case ignored)")
    parser.add_argument("--repeats", type=int, default=1, help="warmed fits per sample; the median one is shown")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    overrides = {name: value for name, value in (("draws", args.draws), ("tune", args.tune), ("chains", args.chains),
                                                  ("target_accept", args.target_accept)) if value is not None}
    if args.empty_caches and not args.child:
        with tempfile.TemporaryDirectory() as compiledir, tempfile.TemporaryDirectory() as numba_cache:
            env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={compiledir}", "NUMBA_CACHE_DIR": numba_cache}
            command = [sys.executable, __file__, "--child", *sys.argv[1:]]
            command.remove("--empty-caches")
            return subprocess.run(command, cwd=REPO, env=env, check=False).returncode
    run(overrides, args.only, max(1, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
