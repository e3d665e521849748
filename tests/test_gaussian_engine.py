"""The gaussian engine (hiermodels.gaussian_engine): one compiled program for every gaussian model whose group
effects integrate out. Its log-density and gradient must be the PyMC model's, exactly, for every prior family,
transform and pooling; and a fit through it must be a fit of that model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hiermodels import ModelSpec, Prior, SamplerSettings, fit, prepare
from hiermodels import gaussian_engine as engine
from hiermodels.models import build_model, default_method
from hiermodels.priors import specs_for_poolings

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
    model = build_model(data, spec, default_method(spec))
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
            for (name, w), part in zip(where, np.split(dlogp(point), np.cumsum(
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
    assert engine.supports(spec, default_method(spec))
    assert_same_density(prepare(radon, spec), spec, np.random.default_rng(1))


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
    assert engine.supports(spec, default_method(spec))
    assert_same_density(data, spec, np.random.default_rng(2))


def test_which_models_the_engine_covers():
    spec = ModelSpec("y", "g", ("x",), varying=("intercept", "x"))
    assert engine.supports(spec, "marginal")
    assert engine.supports(spec.with_pooling("complete"), "sufficient")
    assert engine.supports(spec.with_pooling("none"), "marginal")
    assert not engine.supports(spec.with_pooling("none"), "sufficient")  # non-normal priors keep b
    assert not engine.supports(replace(spec, correlated=True), "marginal")
    assert not engine.supports(replace(spec, group_noise=True), "marginal")
    assert not engine.supports(replace(spec, parameterization="centered"), "sufficient")
    assert not engine.supports(replace(spec, family="poisson"), "rows")
    assert not engine.supports(spec, "rows")


def test_transforms_round_trip_and_start_where_pymc_does():
    """x(y) inverts to_unconstrained, and the start before jitter is PyMC's support point."""
    import pymc as pm

    from hiermodels.priors import prior_distribution

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
    from hiermodels.compiled import CompiledModelCache

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
