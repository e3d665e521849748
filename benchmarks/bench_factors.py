"""Several grouping factors and a group-level predictor: the command line against plain ``pm.sample()``, as processes.

Run from the repository root (issue 12's "Fast" goals; a timing is information, not a test)::

    .venv/bin/python benchmarks/bench_factors.py [--runs N] [--only penicillin,uranium,insteval]
        [--insteval PATH] [--plain-target-accept P] [--no-warmup]

InstEval is measured only with ``--insteval PATH``, the full 73,421 ratings that
``scripts/make_sample_data.py --full-insteval PATH`` writes (the bundled file is a subsample).

The models, each the bundled sample's default model (``hiermodels.data.datasets.SAMPLES``: its formula and its
parameterisation) under partial pooling:

penicillin  ``diameter ~ 1 + (1 | plate) + (1 | sample)``, 144 assays, 24 plates crossed with 6 samples; centred.
uranium     ``log_radon ~ floor + log_uranium + (1 | county)``, 919 houses in 85 counties, log_uranium a
            property of the county (Gelman & Hill 12.6); non-centred.
insteval    ``y ~ 1 + (1 | d) + (1 | s)``, 73,421 ratings, 2,972 students crossed with 1,128 lecturers; centred.

What is timed, start of the process to its exit (interpreter, imports, reading the file, compiling, tuning,
sampling, the MAP, diagnostics and the output all count), 4 chains x 1,000 draws after 1,000 tuning draws on
both sides:

hiermodels  ``python -m hiermodels fit FILE --formula "..." --pooling partial --centered|--noncentered --json OUT
            --quiet``, every other setting the command line's default (the plan's target acceptance, which the JSON
            records: 0.9 for these models, whose group effects, or one factor's, are integrated out), with the textbook
            side's priors (``--prior``) so that both sides fit the same model.
pm.sample   the same model written as the PyMC radon primer writes models (coords and dims, non-centred
            ``mu + z * sigma`` group effects, ``Normal(0, 10)`` coefficients, ``Exponential(1)`` scales; the
            builders below), as a standalone script: pandas reads the file, ``pm.sample(draws=1000, tune=1000,
            chains=4, random_seed=...)`` with PyMC's default NUTS (PyMC 6 picks nutpie on PyMC's numba backend
            when nutpie is installed, as here), its default target acceptance (0.8: the textbook's settings, which
            favour its speed; ``--plain-target-accept 0.99`` for ours) and its default convergence checks; then
            the population parameters' bulk ESS (arviz-stats) go to a JSON file.

ESS per second is the smallest bulk ESS over the population parameters divided by the whole process's wall time.
Divergent transitions are printed beside it (a fast sampler that diverges is not fast), and so is the largest
difference of a population mean between the two sides in combined Monte-Carlo standard errors (a fast wrong
answer shows there).

Conditions (as ``bench_cli.py``): one untimed warm-up run of each side first (disk caches warm, PyTensor's and
numba's compile caches filled, as on a user's second run; ``--no-warmup`` skips it), then ``--runs`` runs of each,
alternating, so that the shared machine's load falls on both alike; medians reported, with the load average.

"Warm server": in one fresh process, ``hiermodels.inference.fitting.fit`` of the sample's default spec (its own
priors, partial pooling, the MAP included, as the app fits it) twice through one ``CompiledModelCache``; the
second fit's wall time is the server's once the structure is compiled (issue 12's goal: under 2 s for
penicillin and uranium).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench_cli import CHAINS, DRAWS, PYTHON, REPO, SEED, TUNE, timed

# The PyMC radon primer's priors (bench_fit.primer_model), given to both sides.
PRIMER_COEFFICIENT_PRIOR, PRIMER_SCALE_PRIOR = "normal(0, 10)", "exponential(1)"
WARM_GOAL_S = 2.0


# ------------------------------------------------------------------------------------------------ textbook models
def crossed_model(frame, outcome: str, first: str, second: str):
    """Two crossed grouping factors, each with a varying intercept, written the primer's way (non-centred).

    ``y_i ~ N(mu + a[first_i] + b[second_i], sigma_y)``, ``a = z_a * sigma_<first>``, ``b = z_b * sigma_<second>``.
    """
    import numpy as np
    import pandas as pd
    import pymc as pm

    first_idx, first_labels = pd.factorize(frame[first])
    second_idx, second_labels = pd.factorize(frame[second])
    y = frame[outcome].astype(float).to_numpy()
    coords = {first: first_labels, second: second_labels, "obs_id": np.arange(len(frame))}
    with pm.Model(coords=coords) as model:
        first_i = pm.Data(f"{first}_idx", first_idx, dims="obs_id")
        second_i = pm.Data(f"{second}_idx", second_idx, dims="obs_id")
        # Priors
        mu = pm.Normal("mu", mu=0.0, sigma=10.0)
        sigma_a = pm.Exponential(f"sigma_{first}", 1)
        sigma_b = pm.Exponential(f"sigma_{second}", 1)
        sigma_y = pm.Exponential("sigma_y", 1)
        # Group effects, non-centred around 0
        z_a = pm.Normal(f"z_{first}", mu=0, sigma=1, dims=first)
        z_b = pm.Normal(f"z_{second}", mu=0, sigma=1, dims=second)
        a = pm.Deterministic(f"a_{first}", z_a * sigma_a, dims=first)
        b = pm.Deterministic(f"b_{second}", z_b * sigma_b, dims=second)
        # Expected value and likelihood
        y_hat = mu + a[first_i] + b[second_i]
        pm.Normal("y_like", mu=y_hat, sigma=sigma_y, observed=y, dims="obs_id")
    return model


def uranium_model(frame):
    """The primer's varying intercept with county uranium as a group-level predictor (non-centred).

    ``log_radon_i ~ N(alpha[county_i] + beta * floor_i, sigma_y)``, ``alpha_j = gamma_0 + gamma_1 * u_j + z_j *
    sigma_a``.
    """
    import numpy as np
    import pandas as pd
    import pymc as pm

    county_idx, counties = pd.factorize(frame["county"])
    uranium = frame.groupby(county_idx)["log_uranium"].first().to_numpy(dtype=float)  # one value per county
    floor = frame["floor"].astype(float).to_numpy()
    log_radon = frame["log_radon"].astype(float).to_numpy()
    with pm.Model(coords={"county": counties, "obs_id": np.arange(len(frame))}) as model:
        floor_idx = pm.Data("floor_idx", floor, dims="obs_id")
        county = pm.Data("county_idx", county_idx, dims="obs_id")
        u = pm.Data("uranium", uranium, dims="county")
        # Priors
        gamma_0 = pm.Normal("gamma_0", mu=0.0, sigma=10.0)
        gamma_1 = pm.Normal("gamma_1", mu=0.0, sigma=10.0)
        beta = pm.Normal("beta", mu=0.0, sigma=10.0)
        sigma_a = pm.Exponential("sigma_a", 1)
        sigma_y = pm.Exponential("sigma_y", 1)
        # County intercepts: uranium's prediction plus a non-centred deviation
        z_a = pm.Normal("z_a", mu=0, sigma=1, dims="county")
        alpha = pm.Deterministic("alpha", gamma_0 + gamma_1 * u + z_a * sigma_a, dims="county")
        # Expected value and likelihood
        y_hat = alpha[county] + beta * floor_idx
        pm.Normal("y_like", mu=y_hat, sigma=sigma_y, observed=log_radon, dims="obs_id")
    return model


@dataclass(frozen=True)
class Case:
    """One benchmarked model: the bundled sample whose default model it is, the textbook builder, and each
    population parameter's hiermodels name -> the textbook variable."""

    sample: str
    build: Callable
    population: dict[str, str]
    warm: bool  # whether the warm-server figure is measured (issue 12's goal names penicillin and uranium)


CASES = {
    "penicillin": Case("Penicillin plates and samples",
                       functools.partial(crossed_model, outcome="diameter", first="plate", second="sample"),
                       {"intercept": "mu", "sd(intercept|plate)": "sigma_plate",
                        "sd(intercept|sample)": "sigma_sample", "sigma": "sigma_y"}, warm=True),
    "uranium": Case("Radon with county uranium", uranium_model,
                    {"intercept": "gamma_0", "floor": "beta", "log_uranium": "gamma_1", "sd(intercept)": "sigma_a",
                     "sigma": "sigma_y"}, warm=True),
    "insteval": Case("Lecture evaluations (InstEval)",
                     functools.partial(crossed_model, outcome="y", first="s", second="d"),
                     {"intercept": "mu", "sd(intercept|s)": "sigma_s", "sd(intercept|d)": "sigma_d",
                      "sigma": "sigma_y"}, warm=False),
}

# The textbook side as a script a user would run: pandas reads the file, PyMC samples; the summary goes to OUT.
PLAIN_SCRIPT = '''
import json, sys
sys.path.insert(0, {bench!r})
import pandas as pd
import pymc as pm
from bench_factors import CASES, textbook_summary

case = CASES[{key!r}]
with case.build(pd.read_csv({data!r})):
    idata = pm.sample(draws={draws}, tune={tune}, chains={chains}, random_seed={seed}, progressbar=False{extra})
with open({out!r}, "w") as file:
    json.dump(textbook_summary(idata, case), file)
'''


def textbook_summary(idata, case: Case) -> dict:
    """Mean, sd and bulk ESS (arviz-stats) of each population parameter, keyed by hiermodels name, and the
    divergences."""
    from arviz_stats.base import array_stats

    posterior = idata["posterior"]
    population = {}
    for ours, theirs in case.population.items():
        x = posterior[theirs].to_numpy()
        population[ours] = {"mean": float(x.mean()), "sd": float(x.std()),
                            "ess_bulk": float(array_stats.ess(x, chain_axis=0, draw_axis=1, method="bulk"))}
    return {"population": population, "divergences": int(idata["sample_stats"]["diverging"].to_numpy().sum())}


# ------------------------------------------------------------------------------------------------ the two sides
def sample_of(case: Case):
    from hiermodels.data.datasets import sample_by_name

    return sample_by_name(case.sample)


def ours_command(case: Case, data: Path, out: Path) -> list[str]:
    from hiermodels.model.formula import formula_of

    spec = sample_of(case).spec
    command = [str(PYTHON), "-m", "hiermodels", "fit", str(data), "--formula", formula_of(spec),
               "--pooling", "partial", f"--{spec.parameterization}", "--draws", str(DRAWS), "--tune", str(TUNE),
               "--chains", str(CHAINS), "--seed", str(SEED)]
    for name in case.population:
        prior = PRIMER_SCALE_PRIOR if name == "sigma" or name.startswith("sd(") else PRIMER_COEFFICIENT_PRIOR
        command += ["--prior", f"{name}={prior}"]
    return [*command, "--json", str(out), "--quiet"]


def ours_summary(path: Path, case: Case) -> dict:
    document = json.loads(path.read_text(encoding="utf-8"))
    missing = sorted(set(case.population) - set(document["population"]))
    if missing:
        raise SystemExit(f"the CLI's JSON has no population parameter {', '.join(missing)}: update CASES")
    population = {name: {key: document["population"][name][key] for key in ("mean", "sd", "ess_bulk")}
                  for name in case.population}
    return {"population": population, "divergences": int(document["diagnostics"]["divergences"]),
            "target_accept": document["diagnostics"]["target_accept"]}


def min_ess(summary: dict) -> float:
    return min(row["ess_bulk"] for row in summary["population"].values())


def worst_disagreement(a: dict, b: dict) -> tuple[float, str]:
    """The largest |difference of posterior means| / combined Monte-Carlo standard error, and its parameter."""
    def z(name: str) -> float:
        x, y = a["population"][name], b["population"][name]
        return abs(x["mean"] - y["mean"]) / math.hypot(x["sd"] / math.sqrt(x["ess_bulk"]),
                                                       y["sd"] / math.sqrt(y["ess_bulk"]))

    name = max(a["population"], key=z)
    return z(name), name


def warm_server(key: str) -> dict:
    """Child process: the sample's default spec (partial pooling) fitted twice through one compiled cache."""
    from dataclasses import replace

    from hiermodels.engine.compiled import CompiledModelCache
    from hiermodels.inference.fitting import fit

    sample = sample_of(CASES[key])
    frame, spec = sample.load(), replace(sample.spec, pooling="partial")
    cache = CompiledModelCache()
    walls, results = [], []
    for _ in range(2):
        started = time.perf_counter()
        results.append(fit(frame, spec, compiled_cache=cache))
        walls.append(time.perf_counter() - started)
    timing = results[1].timing
    return {"first_s": walls[0], "second_s": walls[1], "sample_s": timing.sample_s, "map_s": timing.map_s,
            "compile_s": timing.compile_s, "min_ess": float(results[1].population()["ess_bulk"].min()),
            "divergences": int(results[1].diagnostics().divergences)}


# ------------------------------------------------------------------------------------------------ the report
def run_case(key: str, data: Path, args: argparse.Namespace, folder: Path) -> None:
    case = CASES[key]
    out = {"hiermodels": folder / f"{key}_ours.json", "pm.sample": folder / f"{key}_plain.json"}
    script = folder / f"{key}_plain.py"
    extra = f", target_accept={args.plain_target_accept}" if args.plain_target_accept is not None else ""
    script.write_text(PLAIN_SCRIPT.format(bench=str(Path(__file__).resolve().parent), key=key, data=str(data),
                                          draws=DRAWS, tune=TUNE, chains=CHAINS, seed=SEED, extra=extra,
                                          out=str(out["pm.sample"])), encoding="utf-8")
    commands = {"hiermodels": ours_command(case, data, out["hiermodels"]), "pm.sample": [str(PYTHON), str(script)]}
    read = {"hiermodels": lambda: ours_summary(out["hiermodels"], case),
            "pm.sample": lambda: json.loads(out["pm.sample"].read_text(encoding="utf-8"))}
    print(f"{key}: {shlex.join(commands['hiermodels'])}\n{key}: {shlex.join(commands['pm.sample'])}", flush=True)
    if not args.no_warmup:
        for command in commands.values():
            timed(command)
    runs: dict[str, list[tuple[float, dict]]] = {side: [] for side in commands}
    for _ in range(args.runs):
        for side, command in commands.items():
            wall, _rss = timed(command)
            summary = read[side]()
            runs[side].append((wall, summary))
            print(f"  {side:10s} {wall:7.2f} s  min bulk ESS {min_ess(summary):6.0f}  "
                  f"{min_ess(summary) / wall:7.1f} ESS/s  divergences {summary['divergences']}", flush=True)

    load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    accept = args.plain_target_accept or "PyMC's default 0.8"
    ours_accept = runs["hiermodels"][-1][1]["target_accept"] if runs["hiermodels"] else "?"
    print(f"\n{sample_of(case).name} ({data.name}), partial pooling, {CHAINS} x {DRAWS} draws after {TUNE}, whole "
          f"process, {args.runs} alternating run(s) each{'' if args.no_warmup else ' after a warm-up'}; "
          f"target acceptance {ours_accept} (hiermodels), {accept} (pm.sample); {load}")
    medians = {}
    for side, values in runs.items():
        wall = statistics.median(w for w, _ in values)
        rate = statistics.median(min_ess(s) / w for w, s in values)
        medians[side] = (wall, rate)
        walls = ", ".join(f"{w:.2f}" for w, _ in values)
        print(f"  {side:10s} median {wall:7.2f} s  {rate:7.1f} ESS/s  (min bulk ESS "
              f"{', '.join(f'{min_ess(s):.0f}' for _, s in values)}; divergences "
              f"{', '.join(str(s['divergences']) for _, s in values)}; runs {walls})")
    (ours_wall, ours_rate), (plain_wall, plain_rate) = medians["hiermodels"], medians["pm.sample"]
    z, name = worst_disagreement(runs["hiermodels"][-1][1], runs["pm.sample"][-1][1])
    print(f"  pm.sample / hiermodels wall: {plain_wall / ours_wall:.2f}x; hiermodels / pm.sample ESS/s: "
          f"{ours_rate / plain_rate:.2f}x (goal: both > 1)")
    print(f"  agreement: largest |mean difference| / combined MCSE {z:.2f} ({name}; above about 4 the two sides "
          "do not fit the same posterior)")
    if case.warm:
        child = subprocess.run([str(PYTHON), __file__, "--child-warm", key], cwd=REPO, capture_output=True,
                               text=True, check=False)
        if child.returncode != 0:
            raise SystemExit(f"the warm-server fit of {key} failed:\n{child.stderr}")
        w = json.loads(child.stdout.strip().splitlines()[-1])
        verdict = "met" if w["second_s"] < WARM_GOAL_S else "NOT met"
        print(f"  warm server (the sample's own priors, fit() twice on one CompiledModelCache, MAP included): second "
              f"fit {w['second_s']:.2f} s (sampling {w['sample_s']:.2f}, MAP {w['map_s']:.2f}, compile "
              f"{w['compile_s']:.2f}; min bulk ESS {w['min_ess']:.0f}, divergences {w['divergences']}); first "
              f"{w['first_s']:.2f} s; goal < {WARM_GOAL_S:.0f} s: {verdict}")
    print(flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each side (default 3)")
    parser.add_argument("--only", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--insteval", type=Path, metavar="PATH",
                        help="the full InstEval file (scripts/make_sample_data.py --full-insteval PATH)")
    parser.add_argument("--plain-target-accept", type=float, metavar="P",
                        help="pm.sample's target acceptance (default: PyMC's own, 0.8)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up run of each side")
    parser.add_argument("--child-warm", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_warm:
        import warnings

        warnings.filterwarnings("ignore")
        print(json.dumps(warm_server(args.child_warm)))
        return 0
    chosen = [key.strip() for key in args.only.split(",") if key.strip()]
    unknown = [key for key in chosen if key not in CASES]
    if unknown:
        parser.error(f"--only: no model {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if args.insteval is not None and not args.insteval.is_file():
        parser.error(f"--insteval {args.insteval}: no such file; write it with "
                     f"scripts/make_sample_data.py --full-insteval {args.insteval}")
    with tempfile.TemporaryDirectory() as folder:
        for key in chosen:
            if key == "insteval" and args.insteval is None:
                print("insteval: skipped (give --insteval PATH, the full 73,421 ratings written by "
                      "scripts/make_sample_data.py --full-insteval PATH)\n", flush=True)
                continue
            data = args.insteval.resolve() if key == "insteval" else sample_of(CASES[key]).path
            run_case(key, data, args, Path(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
