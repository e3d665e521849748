"""Compile once per model structure (hiermodels.compiled): buckets, structure keys, the cache, and a real reuse."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hiermodels import ModelSpec, Prior, SamplerSettings, fit, prepare, read_table
from hiermodels.compiled import CompiledModelCache, group_count_shapes, padded_group_count, structure_key
from hiermodels.models import PADDING_LABEL, build_model, default_method

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.mark.parametrize(("groups", "bucket"), [(1, 8), (8, 8), (9, 12), (12, 12), (13, 16), (17, 24), (85, 96),
                                                 (96, 96), (97, 128), (1000, 1024), (1025, 1536)])
def test_group_counts_round_up_to_buckets(groups, bucket):
    assert padded_group_count(groups) == bucket


def test_bucket_never_adds_more_than_half():
    ratios = [padded_group_count(g) / g for g in range(9, 5000)]
    assert max(ratios) <= 1.5 and min(ratios) >= 1.0


@pytest.fixture(scope="module")
def radon():
    return read_table(SAMPLE_DATA / "radon.csv")


def test_structure_key_ignores_the_data_and_sees_the_structure(radon):
    spec = ModelSpec("log_radon", "county", ("floor",))
    data = prepare(radon, spec)
    shifted = radon.assign(log_radon=(radon["log_radon"].astype(float) * 3 + 1).astype(str),
                           county="new " + radon["county"])
    other_data = prepare(shifted, spec)
    key = structure_key(data, spec, "marginal", 96)
    assert structure_key(other_data, spec, "marginal", 96) == key  # other numbers, labels and prior scales
    assert structure_key(data, spec.with_pooling("none"), "sufficient", 96) != key
    assert structure_key(data, spec, "marginal", 128) != key
    cauchy = ModelSpec("log_radon", "county", ("floor",), priors={"sd(intercept)": Prior("halfcauchy", (1,))})
    assert structure_key(data, cauchy, "marginal", 96) != key  # a prior family is structure
    normal_prior = ModelSpec("log_radon", "county", ("floor",), priors={"intercept": Prior("normal", (0, 9))})
    assert structure_key(data, normal_prior, "marginal", 96) == key  # its numbers are data


def test_which_structures_depend_on_the_group_count():
    """A parameter per group fixes the shapes; group sums alone do not."""
    spec = ModelSpec("log_radon", "county", ("floor",))
    assert not group_count_shapes(spec, "marginal")
    assert not group_count_shapes(spec.with_pooling("complete"), "sufficient")
    assert not group_count_shapes(spec.with_pooling("none"), "marginal")
    assert group_count_shapes(spec.with_pooling("none"), "sufficient")
    assert group_count_shapes(replace(spec, parameterization="centered"), "sufficient")
    assert group_count_shapes(replace(spec, group_noise=True), "marginal")
    assert group_count_shapes(spec.with_pooling("complete"), "rows")


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
    plain, padded = build_model(data, spec), build_model(data, spec, n_groups=96)
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
    assert default_method(spec) == "sufficient"
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
