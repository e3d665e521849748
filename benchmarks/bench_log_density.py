"""The cost of one log-density and gradient evaluation, the unit NUTS pays for every leapfrog step.

Run from the repository root (a timing is information, not a test)::

    .venv/bin/python benchmarks/bench_log_density.py [--only penicillin,uranium,insteval] [--insteval PATH]
        [--evaluations N]

For each case of ``bench_factors.py`` (the bundled sample's default model under partial pooling, and the same
model written the PyMC primer's way), the model is built as the fit builds it (``plan_fit`` then
``build_model``: for several gaussian factors, the factor with most groups integrated out,
``hiermodels.model.integrated``), its log-density and gradient with respect to every sampled value are compiled
by PyTensor's numba backend (the backend nutpie compiles), and ``--evaluations`` calls at the model's initial
point are timed; the median of five such batches is printed per call, with the number of sampled values.
InstEval is measured only with ``--insteval PATH`` (``scripts/make_sample_data.py --full-insteval PATH``).

The per-call figure times the compiled function alone; nutpie's sampler adds its own per-step work, and the
number of steps per draw depends on the posterior's geometry and the target acceptance, so the whole fit is
measured by ``bench_factors.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from bench_factors import CASES, sample_of


def compiled_log_density(model):
    """The model's log-density and its gradient for every value variable, one numba-compiled function."""
    import pytensor
    import pytensor.tensor as pt

    values = model.value_vars
    log_density = model.logp()
    function = pytensor.function(values, [log_density, *pt.grad(log_density, values)], mode="NUMBA")
    point = model.initial_point()
    return function, [point[v.name] for v in values]


def per_call_ms(function, arguments, evaluations: int) -> float:
    function(*arguments)  # the first call may still load the compiled code
    batches = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(evaluations):
            function(*arguments)
        batches.append((time.perf_counter() - started) / evaluations * 1e3)
    return statistics.median(batches)


def ours(frame, key: str):
    from hiermodels.data.preparing import prepare
    from hiermodels.inference.plan import plan_fit
    from hiermodels.model.build import build_model

    spec = replace(sample_of(CASES[key]).spec, pooling="partial")
    prepared = prepare(frame, spec)
    plan = plan_fit(prepared, spec)
    return build_model(prepared, spec, plan.method, plan.n_groups), plan.method


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="penicillin,uranium,insteval")
    parser.add_argument("--insteval", type=Path, help="the full InstEval file (73,421 ratings)")
    parser.add_argument("--evaluations", type=int, default=200)
    args = parser.parse_args()

    import pandas as pd

    print(f"{'case':<12}{'model':<28}{'values':>8}{'ms per call':>14}")
    for key in args.only.split(","):
        if key == "insteval" and args.insteval is None:
            print("insteval    (skipped: give --insteval PATH)")
            continue
        frame = pd.read_csv(args.insteval) if key == "insteval" else sample_of(CASES[key]).load()
        model, method = ours(frame, key)
        for label, built in ((f"hiermodels ({method})", model), ("textbook pm.Model", CASES[key].build(frame))):
            function, arguments = compiled_log_density(built)
            size = sum(a.size for a in arguments)
            print(f"{key:<12}{label:<28}{size:>8}{per_call_ms(function, arguments, args.evaluations):>14.3f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
