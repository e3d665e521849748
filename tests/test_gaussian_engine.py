"""The gaussian engine (hiermodels.engine.gaussian_engine): one compiled program for every gaussian model whose group
effects integrate out. Its log-density and gradient must be the PyMC model's, exactly, for every prior family,
transform and pooling; and a fit through it must be a fit of that model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hiermodels import ModelSpec, Prior, SamplerSettings, fit, prepare
from hiermodels.engine import gaussian_engine as engine
from hiermodels.inference.mode import LBFGSB_OPTIONS
from hiermodels.inference.plan import choose_method
from hiermodels.model.build import build_model
from hiermodels.model.priors import specs_for_poolings

REAL_LINE = [Prior("normal", (0.5, 2)), Prior("studentt", (4, -0.2, 1.5)), Prior("cauchy", (0.1, 2)),
             Prior("flat", ()), Prior("uniform", (-5, 5))]
POSITIVE = [Prior("halfnormal", (1.5,)), Prior("halfcauchy", (0.7,)), Prior("halfstudentt", (3, 1.2)),
            Prior("exponential", (2,)), Prior("gamma", (2, 3)), Prior("halfflat", ()), Prior("uniform", (0, 4))]


def positions(model, engine_model) -> list[tuple[str, slice | int]]:
    """For each PyMC value variable, where it sits in the engine's parameter vector (the transforms are the
    same, so the unconstrained values are equal element by element)."""
    starts, start = {}, 0
    for name, shape in zip(engine_model.names, engine_model.shapes, strict=True):
        starts[name] = (start, int(np.prod(shape)))
        start += int(np.prod(shape))
    # The mode's parameter vector continues with the group coefficients b (J x q, row by row).
    starts["b"] = (start, engine_model.sums.n.shape[0] * len(engine_model.varying_columns))
    out = []
    for rv in model.free_RVs:
        value = model.rvs_to_values[rv].name
        if "[" in rv.name:  # one element of a vector whose priors are of different families: "mu[floor]"
            base, label = rv.name[:-1].split("[")
            dim = model.named_vars_to_dims[base][-1]
            out.append((value, starts[base][0] + list(model.coords[dim]).index(label)))
        else:
            first, size = starts[rv.name]
            out.append((value, slice(first, first + size)))
    return out


def assert_same_density(data, spec, rng, points=3):
    model = build_model(data, spec, choose_method(data, spec))
    engine_model = engine.engine_model(data, spec)
    where = positions(model, engine_model)
    assert sum(1 if isinstance(w, int) else w.stop - w.start for _, w in where) == engine_model.n_dim
    initial = model.initial_point()
    for jacobian in (True, False):
        # PyTensor's Python linker: no numba compile per case, the same graph.
        logp = model.compile_logp(jacobian=jacobian, mode="FAST_COMPILE")
        dlogp = model.compile_dlogp(jacobian=jacobian, mode="FAST_COMPILE")
        for _ in range(points):
            y = rng.normal(0, 0.7, engine_model.n_dim)
            point = {name: np.reshape(y[w], np.shape(initial[name])) for name, w in where}
            value, gradient = engine_model.log_density(y, jacobian=jacobian)
            assert value == pytest.approx(float(logp(point)), rel=1e-11)
            expected = np.empty(engine_model.n_dim)
            for (_, w), part in zip(where, np.split(dlogp(point), np.cumsum(
                    [np.size(initial[n]) for n, _ in where])[:-1]), strict=True):
                expected[w] = part if isinstance(w, slice) else part.item()
            np.testing.assert_allclose(gradient, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("location", "scale"), [(REAL_LINE[k % len(REAL_LINE)], p) for k, p in enumerate(POSITIVE)],
                         ids=lambda p: f"{p.distribution}{len(p.params)}")
def test_partial_pooling_density_equals_the_pymc_models_for_every_prior_family(radon, location, scale):
    """Partial pooling of intercept and floor; one family on the intercept's population mean, another on its
    group sd and on sigma (every family appears). Families that differ within a vector make PyMC split it into
    scalars ("mu[intercept]"), which is covered too."""
    spec = ModelSpec("log_radon", "county", ("floor",), varying=("intercept", "floor"),
                     priors={"intercept": location, "sd(intercept)": scale, "sigma": scale})
    data = prepare(radon, spec)
    assert engine.supports(spec, choose_method(data, spec))
    assert_same_density(data, spec, np.random.default_rng(1))


@pytest.mark.parametrize(("pooling", "slope_prior"), [("complete", Prior("studentt", (5, 0, 2))),
                                                      ("none", Prior("normal", (0.3, 2))),
                                                      ("partial", Prior("cauchy", (0, 2)))])
def test_every_pooling_with_common_terms(radon, pooling, slope_prior):
    """A common slope (floor) next to a varying intercept, each pooling: beta, fixed no-pooling priors, q = 0.
    (No pooling integrates the group effects out only when the coefficient priors are normal.)"""
    base = ModelSpec("log_radon", "county", ("floor",), priors={"floor": slope_prior,
                                                                  "sigma": Prior("exponential", (1,))})
    data = prepare(radon, base)
    spec = specs_for_poolings(data, base, [pooling])[pooling]
    assert engine.supports(spec, choose_method(data, spec))
    assert_same_density(data, spec, np.random.default_rng(2))


def test_which_models_the_engine_covers():
    spec = ModelSpec("y", "g", ("x",), varying=("intercept", "x"))
    assert engine.supports(spec, "marginal")
    assert engine.supports(spec.with_pooling("complete"), "sufficient")
    assert engine.supports(spec.with_pooling("none"), "marginal")
    assert not engine.supports(spec.with_pooling("none"), "sufficient")  # non-normal priors keep b
    assert engine.supports(replace(spec, correlated=True), "marginal")
    assert not engine.supports(replace(spec, group_noise=True), "marginal")
    assert not engine.supports(replace(spec, parameterization="centered"), "sufficient")
    assert not engine.supports(replace(spec, family="poisson"), "rows")
    assert not engine.supports(spec, "rows")


def test_transforms_round_trip_and_start_where_pymc_does():
    """x(y) inverts to_unconstrained, and the start before jitter is PyMC's support point."""
    import pymc as pm

    from hiermodels.model.priors import prior_distribution

    for prior in REAL_LINE + POSITIVE:
        x = engine.support_point(prior)
        cls, kwargs = prior_distribution(prior)
        assert x == pytest.approx(float(pm.distributions.distribution.support_point(cls.dist(**kwargs)).eval()),
                                  rel=1e-6)
        y = engine.to_unconstrained(prior, x)
        rows = np.array([engine.prior_row(prior)])
        assert engine.constrained_values(np.array([y]), rows)[0] == pytest.approx(x, rel=1e-12)


def test_engine_fits_are_reproducible_and_need_no_cache(radon):
    """The same data and seed give the same draws, whatever was fitted in between; no compiled-model cache
    entry is made."""
    from hiermodels.engine.compiled import CompiledModelCache

    spec = ModelSpec("log_radon", "county", ("floor",), varying=("intercept", "floor"),
                     sampler=SamplerSettings(draws=200, tune=200, chains=2, seed=11))
    cache = CompiledModelCache()
    first = fit(radon, spec, compiled_cache=cache, compute_map=False)
    fit(radon.assign(log_radon=radon["log_radon"].astype(float).mul(2).astype(str)), spec,
        compiled_cache=cache, compute_map=False)
    again = fit(radon, spec, compiled_cache=cache, compute_map=False)
    assert len(cache) == 0
    for name in ("mu", "tau", "sigma", "b"):
        np.testing.assert_array_equal(first.draws[name].to_numpy(), again.draws[name].to_numpy())


@pytest.mark.parametrize("pooling", ["complete", "none", "partial"])
def test_mode_density_equals_the_centred_pymc_models(radon, pooling):
    """The density whose maximum is the MAP: the centred model with b as parameters, without the Jacobian."""
    base = ModelSpec("log_radon", "county", ("floor",), varying=("intercept", "floor"),
                     priors={"sigma": Prior("halfcauchy", (2,))})
    data = prepare(radon, base)
    spec = specs_for_poolings(data, base, [pooling])[pooling]
    assert engine.supports_mode(spec) and engine.supports_mode(replace(spec, parameterization="centered"))
    model = build_model(data, replace(spec, parameterization="centered"), "sufficient")
    engine_model = engine.engine_model(data, spec)
    where = positions(model, engine_model)
    arrays = engine_model.arrays()
    size = engine_model.n_dim + (len(data.group_labels) * 2 if pooling != "complete" else 0)
    initial = model.initial_point()
    logp = model.compile_logp(jacobian=False, mode="FAST_COMPILE")
    dlogp = model.compile_dlogp(jacobian=False, mode="FAST_COMPILE")
    rng = np.random.default_rng(3)
    for _ in range(3):
        y = rng.normal(0, 0.7, size)
        point = {name: np.reshape(y[w], np.shape(initial[name])) for name, w in where}
        value, gradient = engine.mode_log_density_independent(y, *(arrays[k] for k in (
            "sizes", "priors", "columns", "fixed", "n", "DtD", "Dty", "yty")))
        assert value == pytest.approx(float(logp(point)), rel=1e-11)
        expected = np.empty(size)
        for (_, w), part in zip(where, np.split(dlogp(point), np.cumsum(
                [np.size(initial[n]) for n, _ in where])[:-1]), strict=True):
            expected[w] = part
        np.testing.assert_allclose(gradient, expected, rtol=1e-9, atol=1e-9)


def test_no_pooling_mode_is_ridge_regression_at_its_sigma(radon):
    """At the joint mode of no pooling, each group's b is the posterior mode given sigma, in closed form:
    b_j = (D_j'D_j + sigma^2 S^-1)^-1 (D_j'y_j + sigma^2 S^-1 m), with N(m, S) the terms' normal priors."""
    base = ModelSpec("log_radon", "county", ("floor",), varying=("intercept", "floor"))
    data = prepare(radon, base)
    spec = specs_for_poolings(data, base, ["none"])["none"]
    engine_model = engine.engine_model(data, spec)
    point, message = engine_model.find_mode(LBFGSB_OPTIONS)
    assert message == ""
    sigma2 = float(point["sigma"]) ** 2
    means, sds = np.array(engine_model.fixed[:2]), np.array(engine_model.fixed[2:])
    sums = engine_model.sums
    precision = np.diag(sigma2 / sds**2)
    expected = np.linalg.solve(sums.DtD + precision, (sums.Dty + precision @ means)[..., None])[..., 0]
    np.testing.assert_allclose(point["b"], expected, atol=2e-4)
    # And sigma solves its own stationarity equation (halfnormal(s) prior, no Jacobian):
    # -sigma / s^2 + sum_j (-n_j / sigma + rss_j / sigma^3) = 0.
    b = point["b"]
    rss = sums.yty - 2 * np.einsum("jk,jk->j", b, sums.Dty) + np.einsum("jk,jkm,jm->j", b, sums.DtD, b)
    sigma, scale = float(point["sigma"]), engine_model.priors[-1].params[0]
    assert engine_model.priors[-1].distribution == "halfnormal"
    assert -sigma / scale**2 + np.sum(-sums.n / sigma + rss / sigma**3) == pytest.approx(0, abs=0.05)


# ---------------------------------------------------------------------------------------------------- correlations
def test_lkj_density_of_the_correlations_is_lkj():
    """y -> L (tanh, then Stan's cholesky_corr rows) with the LKJ(eta) weights and the log-Jacobian gives the
    free entries of R = L L' the density c * det(R)^(eta - 1): checked through a finite-difference Jacobian of
    y -> (R10, R20, R21), at random points (the constant c cancels in differences)."""
    q, eta = 3, 2.5
    rng = np.random.default_rng(4)

    def log_p_y(y):
        L, _, log_jac, _ = engine._cholesky_corr(y, q)
        return sum((q - i - 1 + 2 * eta - 2) * np.log(L[i, i]) for i in range(1, q)) + log_jac

    def free_r(y):
        L = engine._cholesky_corr(y, q)[0]
        R = L @ L.T
        return np.array([R[1, 0], R[2, 0], R[2, 1]])

    values = []
    for _ in range(4):
        y = rng.normal(0, 0.8, 3)
        h = 1e-6
        jacobian = np.column_stack([(free_r(y + h * e) - free_r(y - h * e)) / (2 * h) for e in np.eye(3)])
        R = engine._cholesky_corr(y, q)[0] @ engine._cholesky_corr(y, q)[0].T
        log_p_r = log_p_y(y) - np.log(abs(np.linalg.det(jacobian)))
        values.append(log_p_r - (eta - 1) * np.log(np.linalg.det(R)))
    assert np.ptp(values) < 1e-7


def test_lkj_weights_are_pymcs_density_of_the_cholesky_factor():
    """Without the Jacobian (the mode), the engine's LKJ term is PyMC's LKJCorr log-density of L up to PyMC's
    normalising constant."""
    import pymc as pm

    q, eta = 3, 2.0
    rng = np.random.default_rng(5)
    differences = []
    for _ in range(3):
        L = engine._cholesky_corr(rng.normal(0, 0.8, 3), q)[0]
        ours = sum((q - i - 1 + 2 * eta - 2) * np.log(L[i, i]) for i in range(1, q))
        differences.append(float(pm.logp(pm.LKJCorr.dist(n=q, eta=eta), L).eval()) - ours)
    assert np.ptp(differences) < 1e-10


def central_difference(function, y, h=1e-6):
    return np.array([(function(y + h * e) - function(y - h * e)) / (2 * h) for e in np.eye(len(y))])


@pytest.mark.parametrize("jacobian", [True, False])
def test_correlated_gradient_is_the_derivative_of_the_density(sleepstudy, jacobian):
    """Sleepstudy, correlated intercept and slope (q = 2): the gradient against central finite differences."""
    spec = ModelSpec("Reaction", "Subject", ("Days",), varying=("intercept", "Days"), correlated=True)
    engine_model = engine.engine_model(prepare(sleepstudy, spec), spec)
    assert engine_model.n_correlations == 1 and engine_model.names[-1] == "corr"
    rng = np.random.default_rng(6)
    for _ in range(2):
        y = engine_model._start() + rng.normal(0, 0.3, engine_model.n_dim)
        _, gradient = engine_model.log_density(y, jacobian=jacobian)
        expected = central_difference(lambda v: engine_model.log_density(v, jacobian=jacobian)[0], y)
        np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-4)


def test_correlated_gradients_with_three_varying_terms(radon):
    """q = 3 (three correlations): radon with a seeded extra predictor x3 varying too."""
    frame = radon.assign(x3=np.random.default_rng(8).normal(size=len(radon)).astype(str))
    spec = ModelSpec("log_radon", "county", ("floor", "x3"), varying=("intercept", "floor", "x3"),
                     correlated=True)
    engine_model = engine.engine_model(prepare(frame, spec), spec)
    assert engine_model.n_correlations == 3
    arrays = engine_model.arrays()
    arguments = [arrays[k] for k in ("sizes", "priors", "columns", "fixed", "n", "DtD", "Dty", "yty")]
    rng = np.random.default_rng(7)
    y = engine_model._start() + rng.normal(0, 0.3, engine_model.n_dim)
    _, gradient = engine_model.log_density(y)
    expected = central_difference(lambda v: engine_model.log_density(v)[0], y)
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-4)
    full = np.concatenate([y, rng.normal(0, 0.5, len(engine_model.sums.n) * 3)])
    _, gradient = engine.mode_log_density_correlated(full, *arguments)
    expected = central_difference(lambda v: engine.mode_log_density_correlated(v, *arguments)[0], full)
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-4)
