"""Fitting mechanics: progress reports, cancellation and the pooling comparison (small real fits)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hiermodels import (
    FitCancelled,
    FitProgress,
    ModelSpec,
    SamplerSettings,
    fit,
    fit_poolings,
    limits,
    prepare,
    read_table,
)

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
TINY = SamplerSettings(draws=100, tune=100, chains=2, seed=3)


@pytest.fixture(scope="module")
def eight_schools():
    return read_table(SAMPLE_DATA / "eight_schools.csv")


@pytest.fixture(scope="module")
def comparison(eight_schools):
    spec = ModelSpec("estimate", "school", family="known_se", se="se", sampler=TINY)
    reports: list[FitProgress] = []
    result = fit_poolings(eight_schools, spec, progress=reports.append)
    return result, reports


def test_progress_reports_each_stage_in_order(comparison):
    _, reports = comparison
    for pooling in ("complete", "none", "partial"):
        stages = [r.stage for r in reports if r.pooling == pooling]
        # compiling first, then sampling, then the MAP, then done: each stage once, in that order.
        assert list(dict.fromkeys(stages)) == ["compiling", "sampling", "optimising", "done"]
    fractions = [r.fraction for r in reports]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert {r.fit_count for r in reports} == {3}


def test_shrinkage_table_orders_the_three_estimates(comparison):
    """No pooling with known SEs is conjugate: theta_j ~ N(m0, s0), y_j ~ N(theta_j, se_j) gives the posterior
    mean (y_j/se_j^2 + m0/s0^2) / (1/se_j^2 + 1/s0^2) exactly. Complete pooling gives one common value, and
    partial pooling lies between each school's own estimate and the population mean."""
    result, _ = comparison
    table = result.shrinkage().set_index("group")
    m0, s0 = result["none"].priors["intercept"].params
    groups = result["none"].groups().set_index("group")
    estimates = dict(zip("ABCDEFGH", [28, 8, -3, 7, -1, 1, 18, 12], strict=True))
    ses = dict(zip("ABCDEFGH", [15, 10, 16, 11, 9, 11, 10, 18], strict=True))
    for school, y in estimates.items():
        se = ses[school]
        exact = (y / se**2 + m0 / s0**2) / (1 / se**2 + 1 / s0**2)
        exact_sd = (1 / se**2 + 1 / s0**2) ** -0.5
        # 100 draws x 2 chains: allow 5 Monte-Carlo standard errors (ESS of at least ~100).
        assert table.loc[school, "none"] == pytest.approx(exact, abs=5 * exact_sd / np.sqrt(100))
        assert groups.loc[school, "sd"] == pytest.approx(exact_sd, rel=0.25)
    assert table["complete"].nunique() == 1
    low = np.minimum(table["none"], table["population_mean"]) - 1.0
    high = np.maximum(table["none"], table["population_mean"]) + 1.0
    assert ((table["partial"] >= low) & (table["partial"] <= high)).all()
    assert table["pooling_factor"].dropna().between(-0.2, 1.2).all()


def test_cancel_stops_a_long_fit_quickly(eight_schools, monkeypatch):
    """A fit far too long to finish (2 x 10^6 draws) stops with FitCancelled soon after the event is set."""
    monkeypatch.setattr(limits, "MAX_DRAWS", 10**7)  # far beyond what the app allows, to be sure to interrupt
    spec = ModelSpec("estimate", "school", family="known_se", se="se", pooling="complete",
                     sampler=SamplerSettings(draws=2_000_000, tune=100, chains=2))
    cancel = threading.Event()
    set_at: list[float] = []

    def on_progress(progress: FitProgress) -> None:
        if progress.stage == "sampling" and progress.draws_done > 0 and not cancel.is_set():
            set_at.append(time.perf_counter())
            cancel.set()

    with pytest.raises(FitCancelled):
        fit(eight_schools, spec, progress=on_progress, cancel=cancel, compute_map=False)
    assert set_at, "the sampler never reported progress"
    # Cancelling discards the sampler: its threads are gone once fit() returns.
    assert not [t for t in threading.enumerate() if "nutpie" in t.name.lower()]


def test_callback_exception_stops_the_sampler(eight_schools, monkeypatch):
    """A progress callback that raises (as Streamlit does when the tab closes) aborts the fit with that error."""
    monkeypatch.setattr(limits, "MAX_DRAWS", 10**7)
    spec = ModelSpec("estimate", "school", family="known_se", se="se", pooling="complete",
                     sampler=SamplerSettings(draws=2_000_000, tune=100, chains=2))

    class PageGone(Exception):
        pass

    def on_progress(progress: FitProgress) -> None:
        if progress.stage == "sampling" and progress.draws_done > 0:
            raise PageGone

    with pytest.raises(PageGone):
        fit(eight_schools, spec, progress=on_progress, compute_map=False)


def test_posterior_netcdf_round_trips(comparison):
    """The NetCDF download opens with xarray and holds the same draws, group labels included."""
    import io

    import xarray as xr

    result = comparison[0]["partial"]
    reopened = xr.open_datatree(io.BytesIO(result.netcdf_bytes()), engine="h5netcdf")
    original = result.draws["b"]
    assert list(reopened["posterior"]["b"].coords["group"].values) == list("ABCDEFGH")
    np.testing.assert_array_equal(reopened["posterior"]["b"].to_numpy(), original.to_numpy())


def test_two_users_share_one_queue_and_one_compile_and_get_their_own_answers(eight_schools):
    """Two threads fit at once through one FitQueue (one slot) and one compiled-model cache: the second waits
    its turn (it hears stage "waiting"), the model is compiled once, and each gets the answer for its own data
    (the second data set is the first shifted by +10, so its population mean is higher by about 10)."""
    from hiermodels.engine.compiled import CompiledModelCache
    from hiermodels.inference.queue import FitQueue

    spec = ModelSpec("estimate", "school", family="known_se", se="se", sampler=TINY)
    shifted = eight_schools.assign(estimate=(eight_schools["estimate"].astype(float) + 10).astype(str))
    queue, cache = FitQueue(slots=1, poll_seconds=0.02), CompiledModelCache()
    results, stages = {}, {}

    def user(name, frame):
        stages[name] = []
        results[name] = fit(frame, spec, queue=queue, compiled_cache=cache, compute_map=False,
                            progress=lambda p: stages[name].append(p.stage))

    threads = [threading.Thread(target=user, args=("first", eight_schools)),
               threading.Thread(target=user, args=("second", shifted))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert cache.misses == 1
    assert any("waiting" in s for s in stages.values())
    means = {name: r.population().set_index("name").loc["intercept", "mean"] for name, r in results.items()}
    assert means["second"] - means["first"] == pytest.approx(10, abs=2)
    assert (queue.running, queue.waiting) == (0, 0)


def test_gaussian_modes_converge_and_complete_pooling_is_least_squares():
    """The mode finder runs the gaussian Ops (hiermodels.model.gaussian_ops) under L-BFGS, which probes extreme values.

    Complete pooling on radon: with priors 2.5 outcome-sds wide and 919 houses, the joint mode is ordinary least
    squares to within 1e-3 (closed form: beta = (X'X)^-1 X'y, sigma = sqrt(RSS / n)). The no-pooling and
    partial-pooling modes must converge too.
    """
    from hiermodels.inference.mode import find_mode

    spec = ModelSpec("log_radon", "county", ("floor",))
    data = prepare(read_table(SAMPLE_DATA / "radon.csv"), spec)
    ols, rss, *_ = np.linalg.lstsq(data.X, data.y, rcond=None)
    point, message = find_mode(data, spec.with_pooling("complete"))
    assert message == ""
    np.testing.assert_allclose(point["beta"], ols, atol=1e-3)
    assert float(point["sigma"]) == pytest.approx(np.sqrt(rss[0] / data.n_rows), rel=1e-3)
    for pooling in ("none", "partial"):
        point, message = find_mode(data, spec.with_pooling(pooling))
        assert message == "" and point, pooling
