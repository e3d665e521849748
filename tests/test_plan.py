"""Where a fit is decided (hiermodels.inference.plan): how the data enter, who samples and who finds the mode, the group
axis and the structure keys, for every bundled sample under every pooling; and that the plan's compile decision
is the one the compiled cache and the Model page act on."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from hiermodels import ModelSpec, Prior, prepare, read_table
from hiermodels.data.datasets import SAMPLES, sample_by_name
from hiermodels.engine.compiled import CompiledModelCache, sampler_for
from hiermodels.inference.plan import group_count_shapes, padded_group_count, plan_fit, structure_key
from hiermodels.model.priors import specs_for_poolings
from hiermodels.model.spec import POOLINGS

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="module")
def radon():
    return read_table(SAMPLE_DATA / "radon.csv")


@pytest.mark.parametrize(("groups", "bucket"), [(1, 8), (8, 8), (9, 12), (12, 12), (13, 16), (17, 24), (85, 96),
                                                 (96, 96), (97, 128), (1000, 1024), (1025, 1536)])
def test_group_counts_round_up_to_buckets(groups, bucket):
    assert padded_group_count(groups) == bucket


def test_bucket_never_adds_more_than_half():
    ratios = [padded_group_count(g) / g for g in range(9, 5000)]
    assert max(ratios) <= 1.5 and min(ratios) >= 1.0


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


# (method, sampler) of each bundled sample's default model under complete, no and partial pooling. Gaussian
# models go to the engine except the centred one; binomial/gamma without row-level predictors on group sums.
EXPECTED = {
    "Minnesota radon": [("sufficient", "engine"), ("marginal", "engine"), ("marginal", "engine")],
    "Radon with county uranium": [("sufficient", "engine"), ("marginal", "engine"), ("marginal", "engine")],
    "Sleep deprivation": [("sufficient", "engine"), ("marginal", "engine"), ("marginal", "engine")],
    "Eight schools": [("rows", "nutpie")] * 3,
    "Baseball batting averages": [("grouped", "nutpie")] * 3,
    "Cattle disease (cbpp)": [("rows", "nutpie")] * 3,
    "School exam scores": [("sufficient", "engine"), ("marginal", "engine"), ("marginal", "engine")],
    "Daughters' heights": [("grouped", "nutpie")] * 3,
    # Several grouping factors: the factor of most groups integrated out (under no pooling the further factor's
    # zero-sum effects); complete pooling drops every factor.
    "Penicillin plates and samples": [("sufficient", "engine"), ("integrated", "nutpie"), ("integrated", "nutpie")],
    "Paste strength (nested)": [("sufficient", "engine"), ("integrated", "nutpie"), ("integrated", "nutpie")],
    "Lecture evaluations (InstEval)": [("sufficient", "engine"), ("integrated", "nutpie"), ("integrated", "nutpie")],
}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.filename)
def test_every_bundled_sample_has_the_plan_its_family_and_terms_call_for(sample):
    data = prepare(sample.load(), sample.spec)
    plans = [plan_fit(data, pooled) for pooled in specs_for_poolings(data, sample.spec, POOLINGS).values()]
    assert [(p.method, p.sampler) for p in plans] == EXPECTED[sample.name]
    for plan in plans:
        assert plan.mode_spec.parameterization == "centered"
        assert plan.mode_method != "marginal"  # the mode is of the density over b and tau themselves
        assert (plan.structure_key is None) == (plan.sampler == "engine")
        assert (plan.mode_key is None) == (plan.mode_finder == "engine")
        assert plan.draws_group_effects == (plan.method in ("marginal", "integrated"))
        if plan.sampler == "nutpie" and plan.spec.pooling != "complete":  # a parameter per group: padded
            assert plan.n_groups == padded_group_count(data.n_groups) >= data.n_groups
        if plan.mode_finder == "nutpie":
            assert plan.mode_key[-1] == (data.n_rows if plan.mode_method == "rows" else None)
        # Decision 7: 0.99 where NUTS moves in group effects and their sd (partial pooling), else 0.9.
        funnel = plan.spec.pooling == "partial" and plan.method not in ("marginal", "integrated")
        assert plan.target_accept == (0.99 if funnel else 0.9)


def test_a_target_acceptance_the_spec_sets_is_the_plans():
    sample = sample_by_name("Minnesota radon")
    data = prepare(sample.load(), sample.spec)
    set_by_user = replace(sample.spec, sampler=replace(sample.spec.sampler, target_accept=0.97))
    assert plan_fit(data, set_by_user).target_accept == 0.97
    assert plan_fit(data, replace(sample.spec, group_noise=True)).target_accept == 0.99  # sigma_j are sampled


def test_the_engine_never_needs_a_compile_and_nutpie_needs_one_until_its_structure_is_compiled():
    """The Model page's preview decision: ``needs_compile`` is False for the engine whatever the cache holds;
    for a nutpie model it turns False once sampler_for has compiled that structure into the cache, and stays
    False for another data set of the same structure (other numbers, fewer groups in the same bucket)."""
    radon_sample = sample_by_name("Minnesota radon")
    radon_data = prepare(radon_sample.load(), radon_sample.spec)
    assert not plan_fit(radon_data, radon_sample.spec).needs_compile(CompiledModelCache())
    assert not plan_fit(radon_data, radon_sample.spec).needs_compile(None)

    sample = sample_by_name("Daughters' heights")
    spec = sample.spec.with_pooling("complete")
    table = sample.load()
    data = prepare(table, spec)
    plan = plan_fit(data, spec)
    cache = CompiledModelCache()
    assert plan.needs_compile(cache) and plan.needs_compile(None)
    sampler_for(data, plan, cache)
    assert len(cache) == 1 and not plan.needs_compile(cache)
    fewer = table[table["family"] != table["family"].iloc[0]].assign(
        height_cm=lambda t: (t["height_cm"].astype(float) * 1.1).astype(str))
    other = prepare(fewer, spec)
    assert other.n_groups < data.n_groups and not plan_fit(other, spec).needs_compile(cache)
    assert plan_fit(data, replace(spec, priors={"alpha": Prior("exponential", (0.1,))})).needs_compile(cache)


def test_predictors_constant_within_groups_run_on_group_sums():
    """The grouped likelihood follows the data, not the spec: a predictor that is a property of the group
    keeps one linear predictor per group."""
    table = sample_by_name("Baseball batting averages").load()
    table = table.assign(team_size=(table.index % 3).astype(float))  # one value per player (one row each)
    spec = ModelSpec("hits", "player", ("team_size",), family="binomial", trials="at_bats", pooling="complete")
    assert plan_fit(prepare(table, spec), spec).method == "grouped"
    rows = plan_fit(prepare(table, spec), spec, method="rows")
    assert rows.method == "rows" and rows.structure_key != plan_fit(prepare(table, spec), spec).structure_key


def test_a_coefficient_named_like_a_scale_is_still_a_coefficient():
    """No pooling integrates its group effects out only when every coefficient prior is normal; a Student-t
    prior on a predictor called ``sigma_x`` must count (a prefix test on "sigma" once skipped it)."""
    frame = pd.DataFrame({"g": list("aabbcc"), "y": [1.0, 2.0, 1.5, 2.5, 3.0, 2.0],
                          "sigma_x": [0.1, 0.5, 0.2, 0.9, 0.3, 0.4]})
    plain = ModelSpec("y", "g", ("sigma_x",), varying=("intercept", "sigma_x"), pooling="none")
    heavy = replace(plain, priors=(("sigma_x", Prior("studentt", (3, 0, 2))),))
    data = prepare(frame, plain)
    assert plan_fit(data, plain).method == "marginal"
    assert plan_fit(data, heavy).method == "sufficient"
    assert plan_fit(data, heavy).mode_finder == "nutpie"
