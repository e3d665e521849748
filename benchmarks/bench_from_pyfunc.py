"""The gaussian engine through nutpie's C callbacks (today's route) against nutpie's ``from_pyfunc``, on radon.

Run from the repository root:  ``.venv/bin/python benchmarks/bench_from_pyfunc.py [--runs 5]`` (about a minute on
2 cores).

Issue 11: the engine hands nutpie its own numba C callbacks inside nutpie's internal ``CompiledPyMCModel``
(``EngineModel.for_nutpie``), which pins nutpie to 0.16.x; ``nutpie.compiled_pyfunc.from_pyfunc`` takes Python
callables around the same numba kernels instead (``EngineModel.for_pyfunc``) and needs no internal. If it costs
less than 25 % more wall time on radon, the project switches to it and lifts the pin.

The model is radon's default (the first bundled sample, its default spec: varying intercept, partial pooling,
group effects integrated out) with its default sampler settings (4 chains x 1,000 draws after 1,000 tuning,
target acceptance 0.99), sampled with ``nutpie.sample`` as ``hiermodels.inference.fitting`` calls it (cores =
min(chains, CPUs), no progress callback, which would cost both routes alike). In one process: one untimed run
of each route (numba loads or compiles the kernels), then ``--runs`` timed rounds, alternating which route goes
first, so that a slow spell of a shared machine falls on both. The two routes must give the same draws from the
same seed (they evaluate the same kernels; checked here and in ``tests/test_nutpie_adapter.py``): a fast route
that samples something else fails. Since the trajectories are the same, so is the number of gradient
evaluations (the sum of nutpie's ``n_steps``); the wall time per evaluation (all chains together) shows where
the difference comes from. The load average before and after is printed: the figure is only as quiet as the
machine was.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
THRESHOLD = 0.25  # issue 11: switch to from_pyfunc if it costs less than this much more


def routes():
    """Radon's default spec and the two nutpie models of it: (spec, {route: nutpie model})."""
    from hiermodels import prepare
    from hiermodels.data.datasets import SAMPLES
    from hiermodels.engine import gaussian_engine
    from hiermodels.engine.compiled import COMPILE_LOCK
    from hiermodels.model.build import build_model

    sample = next(s for s in SAMPLES if s.filename == "radon.csv")
    spec = sample.spec
    data = prepare(sample.load(), spec)
    # The PyMC model only for coords and dims, as compiled.sampler_for builds it for an engine model.
    model = build_model(data, spec, "marginal")
    dims = {name: tuple(d) for name, d in model.named_vars_to_dims.items()}
    engine = gaussian_engine.engine_model(data, spec)
    with COMPILE_LOCK:
        gaussian_engine.callbacks(engine.correlated)
    return spec, {"C callbacks (today)": engine.for_nutpie(model.coords, dims),
                  "from_pyfunc": engine.for_pyfunc(model.coords, dims)}


def sample(compiled, settings, save_warmup: bool = False):
    import nutpie

    started = time.perf_counter()
    trace = nutpie.sample(
        compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
        cores=min(settings.chains, os.cpu_count() or 1), seed=settings.seed, target_accept=settings.target_accept,
        save_warmup=save_warmup, progress_bar=False,
    )
    return trace, time.perf_counter() - started


def main() -> None:
    import numba
    import nutpie

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (each route once per round)")
    args = parser.parse_args()

    load_before = os.getloadavg()
    spec, models = routes()
    settings = spec.sampler
    names = list(models)
    traces = {}
    for name in names:  # untimed: the kernels load from numba's cache (or compile) on first use
        traces[name] = sample(models[name], settings, save_warmup=True)[0]
    first, second = (traces[name].posterior for name in names)
    same = all(np.array_equal(first[v].to_numpy(), second[v].to_numpy()) for v in first.data_vars)
    if not same:
        raise SystemExit("the two routes gave different draws from the same seed: they do not sample the same model")

    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(args.runs):
        for name in names if round_ % 2 == 0 else names[::-1]:
            times[name].append(sample(models[name], settings)[1])
    # Tuning included: the same for both routes, as the trajectories are (and for the timed runs: same seed).
    evaluations = int(traces[names[0]].sample_stats["n_steps"].sum() + traces[names[0]].warmup_sample_stats[
        "n_steps"].sum())
    load_after = os.getloadavg()

    print(f"nutpie {nutpie.__version__}, numba {numba.__version__}, {os.cpu_count()} CPUs; load average (1, 5, 15 "
          f"min) before {tuple(round(x, 2) for x in load_before)}, after {tuple(round(x, 2) for x in load_after)}")
    print(f"radon default model, {settings.chains} chains x {settings.draws} draws after {settings.tune} tuning, "
          f"seed {settings.seed}; {args.runs} alternating rounds; identical draws from both routes: {same}")
    print(f"{evaluations:,} gradient evaluations per run (all chains, tuning included)")
    print(f"{'route':<22}{'median s':>10}{'min s':>8}{'us/evaluation':>15}   runs (s)")
    for name in names:
        runs = times[name]
        print(f"{name:<22}{statistics.median(runs):>10.2f}{min(runs):>8.2f}"
              f"{statistics.median(runs) / evaluations * 1e6:>15.2f}   {' '.join(f'{t:.2f}' for t in runs)}")
    extra = statistics.median(times[names[1]]) / statistics.median(times[names[0]]) - 1
    verdict = "switch to from_pyfunc" if extra < THRESHOLD else "keep the C callbacks"
    print(f"from_pyfunc costs {extra:+.0%} wall time (median against median; threshold +{THRESHOLD:.0%}): {verdict}")


if __name__ == "__main__":
    main()
