"""How fast hiermodels fits, against plain ``pm.sample()`` on the textbook model, on this machine.

Run from the repository root:  ``.venv/bin/python benchmarks/bench_fit.py`` (about 5-10 minutes on 2 cores;
``--only warm,cold,large,pages`` picks scenarios). Every scenario runs in a fresh Python process, one after
another. The cold ones and ``large`` start with empty compile caches: a new PyTensor ``base_compiledir`` (which
holds PyTensor's numba cache) and a new ``NUMBA_CACHE_DIR`` (numba's cache of hiermodels' own kernels). The
parent prints one table.

Scenarios (issue 4's targets):

warm   Radon, varying intercept + slope, 4 chains x 1000 draws after 1000 tuning. A warm process fits the radon
       data once, then "new data of the same structure" (log radon plus seeded N(0, 0.1) noise) is timed:
       plain ``pm.sample()`` on the PyMC radon primer's model (target 1 baseline) against ``hiermodels.fit`` with
       its compiled-model cache (target 1: < 1 s). Effective samples per second of the slowest population
       parameter, wall clock of the whole call (target 2: >= 3x). Agreement: every population mean and every
       county coefficient within 5 combined Monte-Carlo standard errors of the plain model's (same priors as
       the primer). A fast wrong answer fails here.
cold   The same first fit in a fresh process with an empty compile cache, plain against hiermodels
       (target 3: no slower).
large  1,000,000 rows x 1,000 groups, gaussian, varying intercept and slope, from a Parquet file to the
       shrinkage table (all three poolings; no MAP), wall clock and peak RSS (target 4: < 15 s, < 2 GB), in a
       process with empty compile caches; then a second file of the same structure in the same process (the
       structure compiled, as in a server that has fitted it before).
pages  Streamlit script run time (AppTest) when switching pages and pooling with fits cached, the median of 5 runs
       per page (target 5: < 300 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DRAWS, TUNE, CHAINS, SEED = 1000, 1000, 4, 20261121
VISITS = 5  # script runs per page (after the first) in the pages scenario
POPULATION = {  # hiermodels name -> primer variable
    "intercept": "mu_a", "floor": "mu_b", "sd(intercept)": "sigma_a", "sd(floor)": "sigma_b", "sigma": "sigma_y",
}


# ------------------------------------------------------------------------------------------------ the models
def radon(noise_seed: int | None = None):
    from hiermodels import read_table

    frame = read_table(REPO / "sample_data" / "radon.csv")
    if noise_seed is not None:
        rng = np.random.default_rng(noise_seed)
        y = frame["log_radon"].astype(float).to_numpy() + rng.normal(0, 0.1, len(frame))
        frame = frame.assign(log_radon=[repr(float(v)) for v in y])
    return frame


def primer_model(frame):
    """The varying intercept and slope model as the PyMC radon primer writes it (non-centred)."""
    import pandas as pd
    import pymc as pm

    county_idx, counties = pd.factorize(frame["county"])
    floor = frame["floor"].astype(float).to_numpy()
    log_radon = frame["log_radon"].astype(float).to_numpy()
    with pm.Model(coords={"county": counties, "obs_id": np.arange(len(frame))}) as model:
        floor_idx = pm.Data("floor_idx", floor, dims="obs_id")
        county = pm.Data("county_idx", county_idx, dims="obs_id")
        mu_a = pm.Normal("mu_a", mu=0.0, sigma=10.0)
        sigma_a = pm.Exponential("sigma_a", 1)
        mu_b = pm.Normal("mu_b", mu=0.0, sigma=10.0)
        sigma_b = pm.Exponential("sigma_b", 1)
        z_a = pm.Normal("z_a", mu=0, sigma=1, dims="county")
        z_b = pm.Normal("z_b", mu=0, sigma=1, dims="county")
        alpha = pm.Deterministic("alpha", mu_a + z_a * sigma_a, dims="county")
        beta = pm.Deterministic("beta", mu_b + z_b * sigma_b, dims="county")
        sigma_y = pm.Exponential("sigma_y", 1)
        y_hat = alpha[county] + beta[county] * floor_idx
        pm.Normal("y_like", mu=y_hat, sigma=sigma_y, observed=log_radon, dims="obs_id")
    return model


def our_spec():
    from hiermodels import ModelSpec, Prior, SamplerSettings

    return ModelSpec(
        "log_radon", "county", ("floor",), varying=("intercept", "floor"),
        priors={"intercept": Prior("normal", (0, 10)), "floor": Prior("normal", (0, 10)),
                "sd(intercept)": Prior("exponential", (1,)), "sd(floor)": Prior("exponential", (1,)),
                "sigma": Prior("exponential", (1,))},
        sampler=SamplerSettings(draws=DRAWS, tune=TUNE, chains=CHAINS, seed=SEED),
    )


def plain_fit(frame):
    import pymc as pm

    started = time.perf_counter()
    idata = pm.sample(model=primer_model(frame), draws=DRAWS, tune=TUNE, chains=CHAINS, random_seed=SEED,
                      progressbar=False, compute_convergence_checks=False)
    return idata, time.perf_counter() - started


def plain_summary(idata):
    from arviz_stats.base import array_stats

    posterior = idata["posterior"]
    out = {}
    for ours, theirs in POPULATION.items():
        x = posterior[theirs].to_numpy()
        out[ours] = {"mean": float(x.mean()), "sd": float(x.std()),
                     "ess": float(array_stats.ess(x, chain_axis=0, draw_axis=1, method="bulk"))}
    groups = {}
    for term, var in (("intercept", "alpha"), ("floor", "beta")):
        x = posterior[var].to_numpy()
        for j, county in enumerate(posterior[var].coords["county"].to_numpy()):
            groups[(str(county), term)] = (float(x[..., j].mean()), float(x[..., j].std()))
    return out, groups


def our_summary(result):
    population = result.population().set_index("name")
    out = {name: {"mean": float(row["mean"]), "sd": float(row["sd"]), "ess": float(row["ess_bulk"])}
           for name, row in population.iterrows()}
    table = result.groups()
    groups = {(row.group, row.term): (float(row.mean), float(row.sd)) for row in table.itertuples() if row.varies}
    return out, groups


# ------------------------------------------------------------------------------------------------ scenarios
def scenario_warm() -> dict:
    from hiermodels import fit
    from hiermodels.engine.compiled import CompiledModelCache
    from hiermodels.inference.mode import find_mode

    first, second = radon(), radon(noise_seed=1)
    plain_fit(first)  # warm the process: imports, numba, PyTensor caches
    plain_idata, plain_s = plain_fit(second)
    cache = CompiledModelCache()
    fit(first, our_spec(), compiled_cache=cache)  # compiles the sampler's and the mode finder's functions
    started = time.perf_counter()
    result = fit(second, our_spec(), compiled_cache=cache, compute_map=False)
    ours_s = time.perf_counter() - started
    map_started = time.perf_counter()
    find_mode(result.data, result.spec, cache)
    map_s = time.perf_counter() - map_started

    plain_pop, plain_groups = plain_summary(plain_idata)
    our_pop, our_groups = our_summary(result)
    worst = 0.0
    for name in POPULATION:
        a, b = plain_pop[name], our_pop[name]
        mcse = np.hypot(a["sd"] / np.sqrt(a["ess"]), b["sd"] / np.sqrt(b["ess"]))
        worst = max(worst, abs(a["mean"] - b["mean"]) / mcse)
    worst_group = 0.0
    for key, (mean, sd) in our_groups.items():
        plain_mean, plain_sd = plain_groups[key]
        # Group coefficients mix well in both (ESS >= 400 of 4000); 400 is a conservative ESS for the MCSE.
        mcse = np.hypot(sd, plain_sd) / np.sqrt(400)
        worst_group = max(worst_group, abs(mean - plain_mean) / mcse)
    plain_ess = min(v["ess"] for v in plain_pop.values())
    our_ess = min(our_pop[name]["ess"] for name in POPULATION)
    return {
        "plain_warm_s": plain_s, "ours_warm_s": ours_s, "ours_map_s": map_s,
        "ours_sample_s": result.timing.sample_s, "ours_compile_s": result.timing.compile_s,
        "plain_ess_per_s": plain_ess / plain_s, "ours_ess_per_s": our_ess / ours_s,
        "plain_min_ess": plain_ess, "ours_min_ess": our_ess,
        "agreement_population_z": worst, "agreement_groups_z": worst_group,
    }


def scenario_cold_plain() -> dict:
    _, seconds = plain_fit(radon())
    return {"plain_cold_s": seconds}


def scenario_cold_ours() -> dict:
    from hiermodels import fit
    from hiermodels.engine.compiled import CompiledModelCache

    started = time.perf_counter()
    result = fit(radon(), our_spec(), compiled_cache=CompiledModelCache(), compute_map=False)
    seconds = time.perf_counter() - started
    return {"ours_cold_s": seconds, "ours_cold_compile_s": result.timing.compile_s}


def make_large(path: Path, seed: int, n_rows: int = 1_000_000, n_groups: int = 1000) -> None:
    """Seeded gaussian data: y = (1 + a_j) + (0.5 + c_j) x + e, a_j ~ N(0, 0.5), c_j ~ N(0, 0.3), e ~ N(0, 1)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    group = rng.integers(0, n_groups, n_rows)
    x = rng.normal(size=n_rows)
    a, c = rng.normal(0, 0.5, n_groups), rng.normal(0, 0.3, n_groups)
    y = 1 + a[group] + (0.5 + c[group]) * x + rng.normal(size=n_rows)
    frame = pd.DataFrame({"group": pd.Series([f"g{g:04d}" for g in range(n_groups)]).to_numpy()[group],
                          "x": x, "y": y})
    frame.to_parquet(path, index=False)


def scenario_large() -> dict:
    from hiermodels import ModelSpec, fit_poolings, prepare, read_table
    from hiermodels.engine.compiled import CompiledModelCache

    spec = ModelSpec("y", "group", ("x",), varying=("intercept", "x"))
    cache = CompiledModelCache()
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"large_{k}.parquet" for k in (1, 2)]
        for k, path in enumerate(paths):
            make_large(path, seed=k)
        for label, path in zip(("first", "second"), paths, strict=True):
            started = time.perf_counter()
            frame = read_table(path)
            read_s = time.perf_counter() - started
            data = prepare(frame, spec)
            comparison = fit_poolings(data, spec, compiled_cache=cache, compute_map=False)
            table = comparison.shrinkage()
            out[f"large_{label}_s"] = time.perf_counter() - started
            out[f"large_{label}_read_s"] = read_s
            out[f"large_{label}_compile_s"] = sum(comparison[p].timing.compile_s for p in comparison.poolings)
            assert len(table) == 2000, len(table)
    out["large_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def scenario_pages() -> dict:
    from streamlit.testing.v1 import AppTest

    from hiermodels import QUICK_SAMPLER, fit_poolings, prepare
    from hiermodels.data.datasets import DEFAULT_SAMPLE
    from hiermodels_ui import cache
    from hiermodels_ui.state import FitKey

    os.environ["HIERMODELS_WARM_START"] = "0"
    spec = DEFAULT_SAMPLE.spec
    from dataclasses import replace

    spec = replace(spec, sampler=QUICK_SAMPLER)
    data = prepare(DEFAULT_SAMPLE.load(), spec)
    comparison = fit_poolings(data, spec)
    key = FitKey(f"sample:{DEFAULT_SAMPLE.name}", spec, ("complete", "none", "partial"))
    cache.fit_store().put(key, comparison)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.session_state["hm_fit_key"] = key
    timings: dict[str, list[float]] = {}
    pages = ["pages/3_shrinkage.py", "pages/4_map_vs_mean.py", "pages/5_population.py", "pages/6_diagnostics.py"]
    # The first visit fills the per-fit table caches; the later ones are what a user feels. One script run
    # varies by 2-3x on this shared machine (garbage collection, other tenants), so the median of 5 is reported
    # and the slowest alongside.
    for _ in range(1 + VISITS):
        for page in pages:
            started = time.perf_counter()
            at.switch_page(page).run()
            timings.setdefault(page, []).append(time.perf_counter() - started)
            assert not at.exception, at.exception
    at.switch_page("pages/4_map_vs_mean.py").run()
    switches = []
    for pooling in ["none", "partial"] * ((VISITS + 1) // 2):
        started = time.perf_counter()
        at.radio[0].set_value(pooling).run()
        switches.append(time.perf_counter() - started)
    return {"pages_first_ms": {p: round(t[0] * 1000) for p, t in timings.items()},
            "pages_cached_ms": {p: round(float(np.median(t[1:])) * 1000) for p, t in timings.items()},
            "pages_slowest_ms": round(max(max(t[1:]) for t in timings.values()) * 1000),
            "pooling_switch_ms": round(float(np.median(switches)) * 1000),
            "pooling_switch_slowest_ms": round(max(switches) * 1000)}


SCENARIOS = {
    "warm": scenario_warm,
    "cold_plain": scenario_cold_plain,
    "cold_ours": scenario_cold_ours,
    "large": scenario_large,
    "pages": scenario_pages,
}


# ------------------------------------------------------------------------------------------------ orchestration
def run_child(name: str) -> dict:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as compiledir, tempfile.TemporaryDirectory() as numba_cache:
        if name.startswith("cold") or name == "large":
            env["PYTENSOR_FLAGS"] = f"base_compiledir={compiledir}"
            env["NUMBA_CACHE_DIR"] = numba_cache
        done = subprocess.run([sys.executable, __file__, "--child", name], cwd=REPO, env=env,
                              capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scenario {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: dict) -> str:
    lines = ["| target | measured | goal | verdict |", "|---|---|---|---|"]

    def row(target, measured, goal, ok):
        lines.append(f"| {target} | {measured} | {goal} | {'met' if ok else 'NOT met'} |")

    if "ours_warm_s" in results:
        r = results
        row("1. radon, compiled structure, new data: posterior wall", f"{r['ours_warm_s']:.2f} s (plain "
            f"pm.sample warm {r['plain_warm_s']:.2f} s; ratio {r['plain_warm_s'] / r['ours_warm_s']:.1f}x; MAP "
            f"another {r['ours_map_s']:.2f} s)", "< 1 s", r["ours_warm_s"] < 1)
        ratio = r["ours_ess_per_s"] / r["plain_ess_per_s"]
        row("2. ESS/s of the slowest population parameter", f"{r['ours_ess_per_s']:.0f} vs {r['plain_ess_per_s']:.0f}"
            f" /s ({ratio:.1f}x; min ESS {r['ours_min_ess']:.0f} vs {r['plain_min_ess']:.0f})", ">= 3x", ratio >= 3)
        row("   agreement with the plain model (max |difference| / MCSE)",
            f"population {r['agreement_population_z']:.2f}, county coefficients {r['agreement_groups_z']:.2f}",
            "< 5", max(r["agreement_population_z"], r["agreement_groups_z"]) < 5)
    if "ours_cold_s" in results and "plain_cold_s" in results:
        r = results
        row("3. first fit, empty compile cache", f"{r['ours_cold_s']:.1f} s (compile {r['ours_cold_compile_s']:.1f})"
            f" vs plain {r['plain_cold_s']:.1f} s", "no slower", r["ours_cold_s"] <= r["plain_cold_s"])
    if "large_first_s" in results:
        r = results
        row("4a. 1M rows x 1000 groups, Parquet to shrinkage table, empty compile caches",
            f"{r['large_first_s']:.1f} s (compiling {r['large_first_compile_s']:.1f} s, reading "
            f"{r['large_first_read_s']:.1f} s); peak RSS {r['large_peak_rss_mb']:.0f} MB", "< 15 s, < 2 GB",
            r["large_first_s"] < 15 and r["large_peak_rss_mb"] < 2048)
        row("4b. the same for a second file, structure compiled", f"{r['large_second_s']:.1f} s (compiling "
            f"{r['large_second_compile_s']:.2f} s); peak RSS {r['large_peak_rss_mb']:.0f} MB", "< 15 s, < 2 GB",
            r["large_second_s"] < 15 and r["large_peak_rss_mb"] < 2048)
    if "pages_cached_ms" in results:
        r = results
        worst = max(max(r["pages_cached_ms"].values()), r["pooling_switch_ms"])
        row("5. page or pooling switch with fits cached (script run, median of 5)", f"pages {r['pages_cached_ms']}"
            f" ms; pooling switch {r['pooling_switch_ms']} ms (slowest single runs {r['pages_slowest_ms']} and "
            f"{r['pooling_switch_slowest_ms']} ms; first visits {r['pages_first_ms']} ms)", "< 300 ms", worst < 300)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--only", default="warm,cold,large,pages")
    args = parser.parse_args()
    if args.child:
        warnings.filterwarnings("ignore")
        print(json.dumps(SCENARIOS[args.child]()))
        return 0
    chosen = args.only.split(",")
    names = [n for n in SCENARIOS if n in chosen or n.split("_")[0] in chosen]
    results: dict = {}
    for name in names:
        print(f"running {name}...", file=sys.stderr, flush=True)
        results.update(run_child(name))
    print(report(results))
    print(json.dumps(results, indent=1, default=str), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
