"""Compile once per model structure (hiermodels.engine.compiled): the cache, and a real reuse (buckets and
structure keys: tests/test_plan.py)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hiermodels import ModelSpec, Prior, SamplerSettings, fit, prepare, read_table
from hiermodels.engine.compiled import CompiledModelCache
from hiermodels.inference.plan import choose_method
from hiermodels.model.build import PADDING_LABEL, build_model

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="module")
def radon():
    return read_table(SAMPLE_DATA / "radon.csv")


def test_one_compile_serves_another_group_count(radon):
    """Radon compiled with 85 counties, then the first 70 counties (both padded to 96): the cache is hit and the
    posterior equals a fit compiled afresh for the 70 counties (same seed, same padding). For structures nutpie
    compiles, with a parameter per group: the centred model, and no pooling with a Student-t prior. (The
    gaussian models without one need no compile of their own: test_gaussian_engine.)"""
    spec = ModelSpec("log_radon", "county", ("floor",), varying=("intercept", "floor"),
                     sampler=SamplerSettings(draws=100, tune=100, chains=1, seed=5))
    subset = radon[radon["county"].isin(sorted(radon["county"].unique())[:70])]
    cache = CompiledModelCache()
    for pooled in (replace(spec, parameterization="centered"),
                   replace(spec.with_pooling("none"), priors={"intercept": Prior("studentt", (4, 1, 3))})):
        fit(radon, pooled, compiled_cache=cache, compute_map=False)
        reused = fit(subset, pooled, compiled_cache=cache, compute_map=False)
        fresh = fit(subset, pooled, compiled_cache=CompiledModelCache(), compute_map=False)
        assert cache.hits == cache.misses == len(cache)
        assert reused.groups()["mean"].to_numpy() == pytest.approx(fresh.groups()["mean"].to_numpy(), abs=1e-12)
        assert set(reused.groups()["group"]) == set(subset["county"])


def test_padded_groups_change_nothing_for_the_real_ones(radon):
    """Empty groups add exactly 0 to the marginal log-likelihood, so the log-density is unchanged."""
    spec = ModelSpec("log_radon", "county", ("floor",), varying=("intercept", "floor"), correlated=True)
    data = prepare(radon, spec)
    plain, padded = build_model(data, spec, "marginal"), build_model(data, spec, "marginal", n_groups=96)
    assert padded.coords["group"][-1].startswith(PADDING_LABEL) and len(padded.coords["group"]) == 96
    point = plain.initial_point()
    assert padded.compile_logp()(point) == pytest.approx(plain.compile_logp()(point), rel=1e-12)


def test_cache_compiles_each_structure_once_even_from_two_threads():
    cache = CompiledModelCache(max_entries=2)
    calls = []

    def slow_compile():
        calls.append(1)
        time.sleep(0.2)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compile("a", slow_compile)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert results[0][0] is results[1][0]
    assert sorted(hit for _, hit in results) == [False, True]
    cache.get_or_compile("b", object)
    cache.get_or_compile("c", object)
    assert len(cache) == 2 and "a" not in cache  # least recently used dropped


def test_a_second_data_set_of_the_same_structure_reuses_the_compile(radon):
    """New numbers and new group labels, one compile: the second fit reflects its own data (the outcome is
    shifted by +1, so the intercept moves by 1 and nothing else), under its own labels, without padding."""
    spec = ModelSpec("log_radon", "county", ("floor",), parameterization="centered",
                     sampler=SamplerSettings(draws=300, tune=300, chains=2))
    assert choose_method(prepare(radon, spec), spec) == "sufficient"
    cache = CompiledModelCache()
    first = fit(radon, spec, compiled_cache=cache, compute_map=False)
    shifted = radon.assign(log_radon=(radon["log_radon"].astype(float) + 1).astype(str),
                           county="X-" + radon["county"])
    second = fit(shifted, spec, compiled_cache=cache, compute_map=False)
    assert (cache.hits, cache.misses) == (1, 1)
    before = first.population().set_index("name")
    after = second.population().set_index("name")
    assert after.loc["intercept", "mean"] - before.loc["intercept", "mean"] == pytest.approx(1.0, abs=0.05)
    for name in ("floor", "sd(intercept)", "sigma"):
        assert after.loc[name, "mean"] == pytest.approx(before.loc[name, "mean"], abs=3 * before.loc[name, "sd"])
    groups = second.groups()["group"].unique()
    assert len(groups) == 85 and all(g.startswith("X-") for g in groups)
    assert second.draws.sizes["group"] == 85
    np.testing.assert_array_equal(second.data.group_sizes, first.data.group_sizes)
