"""Every bundled sample, with its default model, under all three poolings, fitted for real the way the app fits it.

The app's Fit button calls ``fit_poolings(prepared, spec, poolings, compiled_cache=..., queue=...)`` on the
compiled-model cache that every session shares; so does this module, with the app's default sampler preset
(``QUICK_SAMPLER``), one cache for all samples, and no patching. A sample added to
``hiermodels.data.datasets.SAMPLES`` joins the matrix by itself.

Besides "it runs", each fit must give finite estimates for every group and parameter on both scales, clean
diagnostics (the default preset must be clean in front of a class: R-hat < 1.01, ESS >= 400, no divergence),
and, where the joint mode collapses, the limit mode (``fitting.limit_mode``) with its closed forms.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from hiermodels.data.datasets import SAMPLES, sample_by_name
from hiermodels.model import names
from hiermodels.model.build import GROUP_COEFFICIENT, factor_name
from hiermodels.model.priors import resolve_priors
from hiermodels.model.spec import POOLINGS
from hiermodels.results.diagnostics import R_HAT_LIMIT
from hiermodels.results.pooling_dial import pooling_dial

pytestmark = pytest.mark.reference

SAMPLE_NAMES = [sample.name for sample in SAMPLES]


@pytest.fixture(scope="module")
def fits(sample_fits):
    """Each sample's default spec with the app's default preset, all three poolings, one shared compiled cache
    (``conftest.SampleFits``: the same fits serve the pooling dial's tests)."""
    return sample_fits


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_estimate_is_finite_on_both_scales(fits, name):
    comparison = fits[name]
    assert comparison.poolings == POOLINGS
    for scale in ("natural", "link"):
        for pooling in POOLINGS:
            result = comparison[pooling]
            population = result.population(scale=scale)
            # No pooling of a model whose every coefficient varies, without sigma or alpha, has none at all.
            assert len(population) > 0 or pooling == "none"
            assert np.isfinite(population[["mean", "lower", "upper"]].to_numpy(float)).all(), (pooling, scale)
            groups = result.groups(scale=scale)
            assert set(groups["group"]) == set(result.data.group_labels)
            assert np.isfinite(groups[["mean", "lower", "upper"]].to_numpy(float)).all(), (pooling, scale)
        shrinkage = comparison.shrinkage(scale=scale)
        assert np.isfinite(shrinkage[["none", "partial", "complete", "population_mean"]].to_numpy(float)).all()


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_default_preset_gives_clean_diagnostics(fits, name):
    for pooling in POOLINGS:
        diagnostics = fits[name][pooling].diagnostics()
        assert diagnostics.warnings == (), (pooling, diagnostics)
        assert diagnostics.max_r_hat < R_HAT_LIMIT
        assert min(diagnostics.min_ess_bulk, diagnostics.min_ess_tail) >= 400
        assert diagnostics.divergences == 0


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_a_collapsed_mode_is_reported_as_its_limit(fits, name):
    """Where the joint mode collapses, every group sits on the population value and the sd is exactly 0."""
    result = fits[name]["partial"]
    collapsed = [term for term, flag in result.map_collapsed().items() if flag]
    if result.map_kind != "limit":
        assert collapsed == []
        return
    assert collapsed
    population = result.population().set_index("name")
    for name_sd in collapsed:
        assert population.loc[name_sd, "map"] == 0.0
        (term,) = names.parse(name_sd)[1]
        factor = names.split_factor(name_sd)[1] or result.spec.group
        if result.spec.factors and "not computed" in result.map_message:
            # Several factors whose smaller model is not built here: only the collapsed scale's limit is reported.
            if factor == result.spec.group:
                continue
        if factor == result.spec.group:  # the first factor's groups sit on the population mean
            groups = result.groups()
            np.testing.assert_array_equal(groups.loc[groups["term"] == term, "map"], population.loc[term, "map"])
        else:  # a further factor's groups are deviations: all exactly 0
            number = result.factor_names.index(factor)
            effects = result.map_point[factor_name(GROUP_COEFFICIENT, number)]
            column = result.data.terms_of(result.spec.factors[number - 1].varying).index(term)
            np.testing.assert_array_equal(effects[:, column], 0.0)


def test_radon_limit_mode_is_complete_pooling_least_squares(fits):
    """Radon ``log_radon ~ floor + (1 | county)``: the joint mode collapses (sd(intercept) -> 0), and at the limit
    mode the intercept and floor are complete pooling's mode, i.e. least squares (the priors, normal with sds of
    2.5 sd(y) and 2.5 sd(y)/sd(floor), move it by less than 1e-4 here), to 1e-3."""
    result = fits["Minnesota radon"]["partial"]
    assert result.map_kind == "limit"
    data = result.data
    least_squares, *_ = np.linalg.lstsq(data.X, data.y, rcond=None)
    population = result.population().set_index("name")
    np.testing.assert_allclose([population.loc["intercept", "map"], population.loc["floor", "map"]], least_squares,
                               atol=1e-3)
    complete = fits["Minnesota radon"]["complete"].population().set_index("name")
    # The complete-pooling fit's own mode: the same numbers (the same priors, the same optimiser).
    np.testing.assert_allclose(population.loc[["intercept", "floor", "sigma"], "map"],
                               complete.loc[["intercept", "floor", "sigma"], "map"], atol=1e-6)


def test_penicillin_limit_mode_is_the_mode_without_the_plates(fits):
    """Penicillin, ``diameter ~ 1 + (1 | plate) + (1 | sample)``: the plates' scale (the first factor's) collapses
    at the joint mode; the limit is the joint mode of ``diameter ~ 1 + (1 | sample)``, every plate on the
    intercept. In that model a sample's deviation at the mode is the conditional mode given the scales, in
    closed form (normal-normal): (ybar_k - mu) n tau^2 / (n tau^2 + sigma^2) with n = 24 plates per sample; and
    as the design is balanced, mu is the grand mean (the deviations sum to zero; the prior's pull is below
    1e-6)."""
    result = fits["Penicillin plates and samples"]["partial"]
    assert result.map_kind == "limit"
    assert result.map_message.startswith("the group-level scale of 'plate' collapsed at the joint mode")
    population = result.population().set_index("name")["map"]
    mu, tau, sigma = population["intercept"], population["sd(intercept|sample)"], population["sigma"]
    assert population["sd(intercept|plate)"] == 0.0 and tau > 0 and sigma > 0
    data = result.data
    samples = data.factors[0].index
    n = np.bincount(samples)
    assert set(n) == {24}
    means = np.bincount(samples, weights=data.y) / n
    np.testing.assert_allclose(result.map_point["b_f1"][:, 0], (means - mu) * n * tau**2 / (n * tau**2 + sigma**2),
                               rtol=1e-6, atol=1e-8)
    assert mu == pytest.approx(data.y.mean(), abs=1e-6)
    np.testing.assert_array_equal(result.groups()["map"], mu)
    # A sample's MAP coefficient (lme4's coef()): the intercept plus its deviation.
    np.testing.assert_allclose(result.groups(factor="sample")["map"], mu + result.map_point["b_f1"][:, 0])


def test_pastes_limit_mode_is_complete_pooling(fits):
    """The pastes, ``strength ~ 1 + (1 | batch/cask)``: the casks' scale collapses at the joint mode, and so does
    the batches' in the model without the casks (mode.pin_collapsed_scales); the limit is then complete
    pooling's mode, which the complete-pooling fit finds by itself (same priors, same optimiser), and that is
    the mean strength and nearly its sd (the priors, scaled to 2.5 sd(y), move them by less than 1 %)."""
    result = fits["Paste strength (nested)"]["partial"]
    assert result.map_kind == "limit"
    assert "'cask:batch', and then that of 'batch' without it," in result.map_message
    population = result.population().set_index("name")
    assert population.loc[["sd(intercept|batch)", "sd(intercept|cask:batch)"], "map"].tolist() == [0.0, 0.0]
    complete = fits["Paste strength (nested)"]["complete"].population().set_index("name")
    np.testing.assert_allclose(population.loc[["intercept", "sigma"], "map"],
                               complete.loc[["intercept", "sigma"], "map"], atol=1e-6)
    y = result.data.y
    assert population.loc["intercept", "map"] == pytest.approx(y.mean(), rel=1e-3)
    assert population.loc["sigma", "map"] == pytest.approx(y.std(), rel=0.01)


def test_insteval_limit_mode_is_the_mode_without_the_students(fits):
    """The InstEval subsample, ``y ~ 1 + (1 | d) + (1 | s)``: the students' scale collapses at the joint mode
    (1,047 students with 2.5 ratings each); the limit has every student's deviation 0 and the rest at the joint
    mode of ``y ~ 1 + (1 | d)``, found here on its own (its priors: the same defaults, named without the
    factor)."""
    from dataclasses import replace

    from hiermodels.inference.mode import find_mode

    result = fits["Lecture evaluations (InstEval)"]["partial"]
    assert result.map_kind == "limit"
    assert result.map_message.startswith("the group-level scale of 's' collapsed at the joint mode")
    np.testing.assert_array_equal(result.map_point["b_f1"], 0.0)
    without, message = find_mode(replace(result.data, factors=()), replace(result.spec, factors=()))
    assert message == ""
    population = result.population().set_index("name")
    np.testing.assert_allclose(population.loc[["intercept", "sd(intercept|d)", "sigma"], "map"],
                               [without["mu"][0], without["tau"][0], without["sigma"]], rtol=1e-9)
    assert population.loc["sd(intercept|s)", "map"] == 0.0
    lecturers = result.groups(factor="d")
    np.testing.assert_allclose(lecturers["map"], without["b"][:, 0], rtol=1e-9)
    np.testing.assert_array_equal(result.groups(factor="s")["map"], population.loc["intercept", "map"])


def test_eight_schools_limit_mode_is_the_precision_weighted_mean(fits):
    """Eight schools at tau = 0: y_j ~ N(mu, se_j), mu ~ N(m0, s0) (the default prior), whose mode is
    (sum y_j/se_j^2 + m0/s0^2) / (sum 1/se_j^2 + 1/s0^2); BDA3 section 5.5 gives 7.69 with a flat prior."""
    result = fits["Eight schools"]["partial"]
    assert result.map_kind == "limit"
    data = result.data
    m0, s0 = resolve_priors(data, result.spec)["intercept"].params
    weights = 1 / data.se**2
    expected = (np.sum(data.y * weights) + m0 / s0**2) / (np.sum(weights) + 1 / s0**2)
    mode = result.population().set_index("name").loc["intercept", "map"]
    assert mode == pytest.approx(expected, abs=1e-4)
    assert mode == pytest.approx(7.69, abs=0.02)
    assert set(result.groups()["map"].round(9)) == {round(mode, 9)}


def test_baseball_reads_as_batting_averages(fits):
    """Efron & Morris (1975): the no-pooling estimate with an intercept only is the raw average hits / 45; on the
    natural scale each draw goes through the logistic before it is summarised (not the summary afterwards)."""
    comparison = fits["Baseball batting averages"]
    frame = sample_by_name("Baseball batting averages").load()
    raw = frame.set_index("player")["hits"].astype(float) / frame.set_index("player")["at_bats"].astype(float)
    table = comparison.shrinkage(scale="natural").set_index("group")
    np.testing.assert_allclose(table.loc[raw.index, "raw"], raw, rtol=0, atol=1e-12)
    assert (table["shown_as"] == "probability").all()
    # The no-pooling posterior mean sits within 0.01 of the raw average (its prior is weak).
    assert np.abs(table.loc[raw.index, "none"] - raw).max() < 0.01
    # Partial pooling pulls every average toward the overall one: between its raw value and the population mean.
    population_mean = table["population_mean"].iloc[0]
    assert 0.2 < population_mean < 0.3
    between = (table["partial"] - raw.reindex(table.index)) * (population_mean - raw.reindex(table.index)) >= 0
    assert between.all()

    partial = comparison["partial"]
    draws = partial.draws["b"].sel(varying_term="intercept").stack(sample=("chain", "draw")).transpose(
        "group", "sample").to_numpy()
    natural = partial.groups(scale="natural").set_index("group")
    link = partial.groups(scale="link").set_index("group")
    labels = list(partial.draws["b"]["group"].to_numpy())
    np.testing.assert_allclose(natural.loc[labels, "mean"], special.expit(draws).mean(axis=1), rtol=1e-12)
    # Quantiles commute with a monotone transform (up to the interpolation between two draws); the mean does not.
    np.testing.assert_allclose(natural.loc[labels, "lower"], special.expit(link.loc[labels, "lower"]), rtol=1e-6)
    assert not np.allclose(natural.loc[labels, "mean"], special.expit(link.loc[labels, "mean"]), rtol=1e-6)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_the_pooling_dial_of_every_factor_and_term(fits, name):
    """The pooling dial (:mod:`hiermodels.results.pooling_dial`) of each grouping factor's varying terms: finite,
    complete pooling at tau = 0, pooling that only weakens as tau grows, and its average over the fit's draws of
    tau within a quarter of the groups' spread of the posterior means (exact dials agree to Monte Carlo error;
    the others hold effects fixed or approximate the likelihood, and say so)."""
    result = fits[name]["partial"]
    for number, factor in enumerate(result.spec.all_factors):
        for term in result.data.terms_of(factor.varying):
            dial = pooling_dial(result, term=term, factor=factor.name)
            curve = dial.curve
            assert np.isfinite(curve[["estimate", "lower", "upper", "pooling_factor", "population"]]).all().all()
            at_zero = curve[curve["position"] == 0]
            np.testing.assert_allclose(at_zero["estimate"], at_zero["population"], rtol=1e-9)
            wide = curve.pivot(index="position", columns="group", values="pooling_factor").to_numpy()
            assert np.all(np.diff(wide, axis=0) <= 1e-12) and wide.min() >= 0 and wide.max() <= 1  # a weight
            spread = dial.groups["posterior_mean"].std()
            assert dial.groups["approximation_error"].abs().max() <= 0.25 * spread, (factor.name, term)
            assert dial.exact == (number == 0 and len(dial.groups) and result.spec.family in ("gaussian", "known_se")
                                  and not result.spec.factors and len(factor.varying) == 1
                                  and not result.spec.group_noise)
