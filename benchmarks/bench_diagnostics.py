"""What convergence diagnostics cost: on radon in the process, and the whole command line on 1,000,000 rows.

Run from the repository root: ``.venv/bin/python benchmarks/bench_diagnostics.py [--only radon,cli] [--runs N]
[--slope] [--compare]`` (a few minutes on 2 cores). Timings are information, not tests:
``tests/test_diagnostics.py`` and ``tests/test_results.py`` assert what can fail (the numbers equal
arviz-stats', they are computed once).

radon  Radon's default model (log radon by floor, varying intercept by county; ``datasets.DEFAULT_SAMPLE``)
       fitted once with the default sampler (4 chains x 1,000 draws, no MAP). Then ``FitResult.diagnostics()``:
       its **first call** (R-hat, bulk and tail ESS of the 4 population parameters and 85 county coefficients,
       computed all at once, then the verdict), timed on 20 fresh copies of the result (``dataclasses.replace``
       copies the fields, not the cache), median and fastest; and its **cached call** (the same result asked
       again, as the CLI and the pages do). Target: first call < 50 ms. For comparison, the same R-hat and ESS
       one arviz-stats call per scalar (the computation this replaced), once.
cli    A seeded gaussian CSV of 1,000,000 rows in 1,000 groups (y = 1 + a_j + 0.5 x + e, a_j ~ N(0, 0.5),
       e ~ N(0, 1)) written into a temporary folder, then the command line as a child process::

           .venv/bin/python -m hiermodels fit DATA.csv --outcome y --group g --predictor x --pooling all \\
               --json OUT.json --quiet

       (``--slope`` adds ``--vary intercept --vary x``), ``--runs`` times (default 2: the first may also fill
       numba's and PyTensor's disk caches). Per run: whole-process wall clock (start to exit, imports and
       reading the CSV included), peak resident memory of that child (``os.wait4``'s ``ru_maxrss``), and the
       sampling time the JSON reports. Target: < 8 s wall, < 2 GB (before: 19 s, 15 s of it in diagnostics).
       Then, in this process, the same fits (no MAP) and each pooling's first ``diagnostics()`` call; with
       ``--compare`` also the same numbers one arviz-stats call per scalar (the computation this replaced, which
       the command line then ran twice).

The machine is shared while this runs (other processes use the two cores), so every figure is an upper bound of
what the same code does alone: the load average is printed with each table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from bench_cli import timed  # the same child-process timing as the CLI benchmark

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def bench_radon(copies: int = 20) -> None:
    from hiermodels.data.datasets import DEFAULT_SAMPLE
    from hiermodels.data.preparing import prepare
    from hiermodels.inference.fitting import fit

    spec = DEFAULT_SAMPLE.spec
    result = fit(prepare(DEFAULT_SAMPLE.load(), spec), spec, compute_map=False)
    replace(result).diagnostics()  # the first computation in this process (imports, numpy's FFT plan)
    firsts = []
    for _ in range(copies):
        fresh = replace(result)
        started = time.perf_counter()
        d = fresh.diagnostics()
        firsts.append(time.perf_counter() - started)
    started = time.perf_counter()
    fresh.diagnostics()
    cached = time.perf_counter() - started
    print(f"radon default model, {d.chains} x {d.draws} draws, {len(fresh.convergence.r_hat)} scalars ({load()})")
    print(f"  first call: median {1000 * statistics.median(firsts):.1f} ms, fastest {1000 * min(firsts):.1f} ms "
          f"over {copies} fresh results (target < 50 ms)")
    print(f"  cached call: {1e6 * cached:.1f} µs")
    print(f"  one arviz-stats call per scalar instead: {1000 * per_scalar(fresh):.0f} ms")
    print(f"  largest R-hat {d.max_r_hat:.4f}, smallest bulk ESS {d.min_ess_bulk:.0f}, tail ESS {d.min_ess_tail:.0f}")


def per_scalar(result) -> float:
    """Seconds to compute the same R-hat, bulk and tail ESS one scalar at a time with arviz-stats."""
    from arviz_stats.base import array_stats

    from hiermodels.model import build as m
    from hiermodels.results.diagnostics import TAIL_PROB
    from hiermodels.results.fit_result import draws_of, population_parameters

    posterior = result.draws
    chains, n_draws = posterior.sizes["chain"], posterior.sizes["draw"]
    scalars = [draws_of(posterior, ref) for ref in population_parameters(result.spec, result.data)]
    if m.GROUP_COEFFICIENT in posterior:
        b = posterior[m.GROUP_COEFFICIENT].transpose("chain", "draw", ...).to_numpy().reshape(chains, n_draws, -1)
        scalars += [b[:, :, k] for k in range(b.shape[-1])]
    started = time.perf_counter()
    for samples in scalars:
        array_stats.rhat(samples, chain_axis=0, draw_axis=1)
        array_stats.ess(samples, chain_axis=0, draw_axis=1, method="bulk")
        array_stats.ess(samples, chain_axis=0, draw_axis=1, method="tail", prob=TAIL_PROB)
    return time.perf_counter() - started


def make_csv(path: Path, n_rows: int, n_groups: int, seed: int = 1) -> None:
    """Every group the same size; y = 1 + a_j + 0.5 x + e, a_j ~ N(0, 0.5), e ~ N(0, 1)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(n_groups), n_rows // n_groups)
    x = rng.normal(size=group.size)
    y = 1 + rng.normal(0, 0.5, n_groups)[group] + 0.5 * x + rng.normal(size=group.size)
    labels = np.array([f"g{g:04d}" for g in range(n_groups)])
    pd.DataFrame({"g": labels[group], "x": x.round(6), "y": y.round(6)}).to_csv(path, index=False)


def bench_cli(runs: int, n_rows: int, n_groups: int, slope: bool, compare: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        data, output = Path(folder) / "large.csv", Path(folder) / "large.json"
        started = time.perf_counter()
        make_csv(data, n_rows, n_groups)
        print(f"{n_rows:,} rows x {n_groups:,} groups written in {time.perf_counter() - started:.1f} s "
              f"({data.stat().st_size / 1e6:.0f} MB)")
        command = [str(PYTHON), "-m", "hiermodels", "fit", str(data), "--outcome", "y", "--group", "g",
                   "--predictor", "x", "--pooling", "all", "--json", str(output), "--quiet"]
        if slope:
            command += ["--vary", "intercept", "--vary", "x"]
        print("command: " + " ".join(command).replace(folder, "$TMP"))
        for run in range(1, runs + 1):
            wall, peak_mb = timed(command)
            timing = json.loads(output.read_text())["timing"]
            sampling = sum(t["total_s"] for t in timing.values())
            print(f"  run {run}: wall {wall:.2f} s (target < 8 s), peak RSS {peak_mb:.0f} MB "
                  f"(target < 2048 MB), fits {sampling:.2f} s of it ({load()})")
        in_process(data, slope, compare)


def in_process(data: Path, slope: bool, compare: bool) -> None:
    from hiermodels.data.preparing import prepare
    from hiermodels.data.reading import read_table
    from hiermodels.inference.fitting import fit_poolings
    from hiermodels.model.spec import ModelSpec

    spec = ModelSpec("y", "g", ("x",), varying=("intercept", "x") if slope else ("intercept",))
    comparison = fit_poolings(prepare(read_table(data), spec), spec, compute_map=False)
    for pooling in comparison.poolings:
        result = comparison[pooling]
        started = time.perf_counter()
        result.diagnostics()
        seconds = time.perf_counter() - started
        line = (f"  in the process, {pooling} pooling: diagnostics {1000 * seconds:.0f} ms for "
                f"{len(result.convergence.r_hat)} scalars")
        if compare:
            line += f", one arviz-stats call per scalar {per_scalar(result):.2f} s"
        print(line + f" ({load()})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="radon,cli", help="comma-separated: radon, cli")
    parser.add_argument("--runs", type=int, default=2, help="command-line runs (default 2)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--slope", action="store_true", help="the slope of x varies by group too")
    parser.add_argument("--compare", action="store_true", help="also time arviz-stats one scalar at a time")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if unknown := only - {"radon", "cli"}:
        parser.error(f"--only takes radon and/or cli, got {', '.join(sorted(unknown))}")
    if "radon" in only:
        bench_radon()
    if "cli" in only:
        bench_cli(args.runs, args.rows, args.groups, args.slope, args.compare)
    return 0


if __name__ == "__main__":
    sys.exit(main())
