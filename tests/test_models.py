"""The PyMC models: their structure under each pooling, and their log density at a fixed point against scipy.

The log-density tests evaluate ``model.compile_logp(jacobian=False)`` (the density in the original space, the
one ``pm.find_MAP`` maximises) at a hand-picked point and compare it with the sum of scipy log densities of the
priors (taken from :func:`hiermodels.model.priors.resolve_priors`, i.e. the model's own) and of the likelihood written
out from the equations in the docstring of :mod:`hiermodels.model.build`. Nothing is sampled.

Default priors follow rstanarm's autoscaling ("Prior Distributions for rstanarm Models", Gabry & Goodrich):
location priors ``normal(m, 2.5 s)`` and slopes ``normal(0, 2.5 s / sd(x))``, as documented in
:mod:`hiermodels.model.priors`.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import betaln, expit, logit

from hiermodels.data.preparing import PreparedData, prepare
from hiermodels.errors import SpecError
from hiermodels.inference.mode import model_for_mode
from hiermodels.inference.plan import plan_fit
from hiermodels.model.build import build_model
from hiermodels.model.priors import default_priors, resolve_priors
from hiermodels.model.spec import ModelSpec, Prior

# PyMC writes some constants as integer tensors (``pt.log(2)`` in HalfCauchy, Cauchy, StudentT), which PyTensor
# evaluates in float32: a few 1e-8 per term. A wrong parameter or term moves the log density by far more.
TOL = {"rel": 1e-10, "abs": 1e-6}
BASE = ModelSpec(outcome="y", group="g", predictors=("x",), varying=("intercept", "x"))
GROUPS = ("a", "b", "c")


def names(variables) -> set[str]:
    return {v.name for v in variables}


def arrays(data: PreparedData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, x, group index) of a prepared small_frame."""
    return data.y, data.X[:, data.terms.index("x")] if "x" in data.terms else None, data.group_index


# ---------------------------------------------------------------------------------------------------- structure
STRUCTURES = {
    # name: (spec, free RVs, deterministics, dims of the group-level variables)
    "complete": (BASE.with_pooling("complete"), {"beta", "sigma"}, set(), {"beta": ("common_term",)}),
    "none": (BASE.with_pooling("none"), {"b", "sigma"}, set(), {"b": ("group", "varying_term")}),
    "partial noncentred": (
        BASE, {"mu", "tau", "z", "sigma"}, {"b"},
        {"mu": ("varying_term",), "tau": ("varying_term",), "z": ("group", "varying_term"),
         "b": ("group", "varying_term")},
    ),
    "partial centred": (
        replace(BASE, parameterization="centered"), {"mu", "tau", "b", "sigma"}, set(),
        {"b": ("group", "varying_term"), "tau": ("varying_term",)},
    ),
    "no pooling, group noise": (
        replace(BASE, pooling="none", group_noise=True), {"b", "sigma_group"}, set(),
        {"sigma_group": ("group",), "b": ("group", "varying_term")},
    ),
    "partial, group noise, noncentred": (
        replace(BASE, group_noise=True), {"mu", "tau", "z", "sigma", "sd_log_sigma", "z_sigma"},
        {"b", "sigma_group"}, {"z_sigma": ("group",), "sigma_group": ("group",)},
    ),
    "partial, group noise, centred": (
        replace(BASE, group_noise=True, parameterization="centered"),
        {"mu", "tau", "b", "sigma", "sd_log_sigma", "sigma_group"}, set(), {"sigma_group": ("group",)},
    ),
    "complete ignores group noise": (
        replace(BASE, pooling="complete", group_noise=True), {"beta", "sigma"}, set(), {"beta": ("common_term",)},
    ),
}


@pytest.mark.parametrize("variant", list(STRUCTURES))
def test_model_structure(variant, small_frame):
    spec, free, deterministic, dims = STRUCTURES[variant]
    data = prepare(small_frame, spec)
    model = build_model(data, spec, "rows")
    assert names(model.free_RVs) == free
    assert names(model.deterministics) == deterministic
    assert names(model.observed_RVs) == {"y_obs"}
    for name, expected in dims.items():
        assert model.named_vars_to_dims[name] == expected, name
    assert model.coords["group"] == GROUPS
    varying = () if spec.pooling == "complete" else ("intercept", "x")
    assert model.coords["varying_term"] == varying
    assert model.coords["common_term"] == (("intercept", "x") if spec.pooling == "complete" else ())
    # The data are containers, so the posterior is labelled and a model can be reused with new values.
    np.testing.assert_array_equal(model["X"].get_value(), data.X)
    np.testing.assert_array_equal(model["group_index"].get_value(), data.group_index)
    np.testing.assert_array_equal(model["y"].get_value(), data.y)


@pytest.mark.parametrize("parameterization", ["noncentered", "centered"])
def test_correlated_model_structure(parameterization, small_frame):
    """What results.py reads: tau[varying_term], corr[varying_term, varying_term_2] and b[group, varying_term]."""
    spec = replace(BASE, correlated=True, parameterization=parameterization)
    model = build_model(prepare(small_frame, spec), spec, "rows")
    dims = model.named_vars_to_dims
    assert dims["tau"] == ("varying_term",)
    assert dims["corr"] == ("varying_term", "varying_term_2")
    assert dims["b"] == ("group", "varying_term")
    assert model.coords["varying_term_2"] == ("intercept", "x")
    free = names(model.free_RVs)
    assert {"mu", "sigma"} <= free
    if parameterization == "noncentered":
        assert "z" in free and "b" in names(model.deterministics)
    else:
        assert "b" in free and "z" not in model.named_vars


def test_a_common_slope_beside_a_varying_intercept(small_frame):
    spec = ModelSpec(outcome="y", group="g", predictors="x")
    model = build_model(prepare(small_frame, spec), spec, "rows")
    assert names(model.free_RVs) == {"beta", "mu", "tau", "z", "sigma"}
    assert model.coords["common_term"] == ("x",)
    assert model.coords["varying_term"] == ("intercept",)


@pytest.mark.parametrize(
    ("spec", "likelihood", "extra", "absent"),
    [
        (ModelSpec(outcome="k", group="g", family="binomial", trials="n"), "rows", {"trials"}, {"sigma"}),
        (ModelSpec(outcome="yb", group="g", family="binomial"), "rows", set(), {"sigma", "trials"}),
        (ModelSpec(outcome="k", group="g", family="poisson", exposure="e"), "rows", {"exposure"}, {"sigma"}),
        (ModelSpec(outcome="pos", group="g", family="gamma"), "rows", {"alpha"}, {"sigma"}),
        (ModelSpec(outcome="y", group="g", family="gaussian"), "NormalRV", {"sigma"}, {"alpha"}),
    ],
)
def test_each_family_has_its_likelihood(spec, likelihood, extra, absent, small_frame):
    """Gaussian rows are PyMC's Normal; binomial, poisson and gamma rows are the family's likelihood on per-row
    terms (grouped.FamilySums.of_rows; tests/test_grouped.py checks it against scipy), without a design copy."""
    model = build_model(prepare(small_frame, spec), spec, "rows")
    if likelihood == "rows":
        assert model["y_obs"] in model.potentials
        assert {"grouped_sum_y", "grouped_sum_weight", "grouped_constant"} <= set(model.named_vars)
        assert "grouped_design" not in model.named_vars
    else:
        assert type(model["y_obs"].owner.op).__name__ == likelihood
    assert extra <= set(model.named_vars)
    assert not absent & set(model.named_vars)


def test_known_se_has_no_sigma_and_uses_the_se_column(eight_schools):
    spec = ModelSpec(outcome="estimate", group="school", se="se", family="known_se")
    data = prepare(eight_schools, spec)
    model = build_model(data, spec, "rows")
    assert names(model.free_RVs) == {"mu", "tau", "z"}
    assert "sigma" not in model.named_vars
    np.testing.assert_array_equal(model["se"].get_value(), data.se)


def test_model_for_mode_is_the_centred_model(small_frame):
    data = prepare(small_frame, BASE)
    assert "z" in names(build_model(data, BASE, "rows").free_RVs)
    mode_model = model_for_mode(data, plan_fit(data, BASE))
    assert names(mode_model.free_RVs) == {"mu", "tau", "b", "sigma"}
    complete = BASE.with_pooling("complete")
    assert names(model_for_mode(data, plan_fit(data, complete)).free_RVs) == {"beta", "sigma"}


# ---------------------------------------------------------------------------------------------------- log density
def test_complete_pooling_gaussian_logp(small_frame, logp_at, prior_logpdf):
    """y_i ~ N(b0 + b1 x_i, sigma), b0 ~ p_intercept, b1 ~ p_x, sigma ~ p_sigma."""
    spec = BASE.with_pooling("complete")
    data = prepare(small_frame, spec)
    priors = resolve_priors(data, spec)
    model = build_model(data, spec, "rows")
    y, x, _ = arrays(data)
    b0, b1, sigma = 0.7, 1.3, 0.9
    expected = (prior_logpdf(priors["intercept"], b0) + prior_logpdf(priors["x"], b1)
                + prior_logpdf(priors["sigma"], sigma) + stats.norm.logpdf(y, b0 + b1 * x, sigma).sum())
    values = {"beta": [b0, b1], "sigma_log__": np.log(sigma)}
    assert logp_at(model, values) == pytest.approx(expected, **TOL)
    # With the Jacobian of sigma's log transform the density gains log(d sigma / d log sigma) = log(sigma).
    assert logp_at(model, values, jacobian=True) == pytest.approx(expected + np.log(sigma), **TOL)


def test_partial_pooling_centred_varying_intercept_logp(small_frame, logp_at, prior_logpdf):
    """b_j ~ N(mu, tau); y_i ~ N(b_g[i] + beta x_i, sigma) with a common slope beta."""
    spec = ModelSpec(outcome="y", group="g", predictors="x", parameterization="centered")
    data = prepare(small_frame, spec)
    priors = resolve_priors(data, spec)
    model = build_model(data, spec, "rows")
    y, x, g = arrays(data)
    beta, mu, tau, sigma = 1.3, 0.4, 0.6, 0.8
    b = np.array([0.2, 0.9, -0.1])
    expected = (prior_logpdf(priors["x"], beta) + prior_logpdf(priors["intercept"], mu)
                + prior_logpdf(priors["sd(intercept)"], tau) + prior_logpdf(priors["sigma"], sigma)
                + stats.norm.logpdf(b, mu, tau).sum() + stats.norm.logpdf(y, b[g] + beta * x, sigma).sum())
    values = {"beta": [beta], "mu": [mu], "tau_log__": [np.log(tau)], "b": b, "sigma_log__": np.log(sigma)}
    assert logp_at(model, values) == pytest.approx(expected, **TOL)


def test_partial_pooling_noncentred_intercept_and_slope_logp(small_frame, logp_at, prior_logpdf, values_at):
    """b_jk = mu_k + tau_k z_jk with z_jk ~ N(0, 1); y_i ~ N(b_g[i],0 + b_g[i],1 x_i, sigma)."""
    data = prepare(small_frame, BASE)
    priors = resolve_priors(data, BASE)
    model = build_model(data, BASE, "rows")
    y, x, g = arrays(data)
    mu, tau, sigma = np.array([0.5, 1.2]), np.array([0.7, 0.3]), 1.1
    z = np.array([[0.3, -1.0], [1.4, 0.2], [-0.6, 0.8]])
    b = mu + tau * z
    expected = (prior_logpdf(priors["intercept"], mu[0]) + prior_logpdf(priors["x"], mu[1])
                + prior_logpdf(priors["sd(intercept)"], tau[0]) + prior_logpdf(priors["sd(x)"], tau[1])
                + prior_logpdf(priors["sigma"], sigma) + stats.norm.logpdf(z).sum()
                + stats.norm.logpdf(y, b[g, 0] + b[g, 1] * x, sigma).sum())
    values = {"mu": mu, "tau_log__": np.log(tau), "z": z, "sigma_log__": np.log(sigma)}
    assert logp_at(model, values) == pytest.approx(expected, **TOL)
    np.testing.assert_allclose(values_at(model, values)["b"], b, rtol=1e-12)


def test_no_pooling_logp_with_a_different_prior_per_term(small_frame, logp_at, prior_logpdf):
    """b_j0 ~ p_intercept and b_j1 ~ studentt(3, 0, 2) independently for every group; nothing is shared."""
    spec = replace(BASE, pooling="none", priors={"x": "studentt(3, 0, 2)"})
    data = prepare(small_frame, spec)
    priors = resolve_priors(data, spec)
    model = build_model(data, spec, "rows")
    assert names(model.free_RVs) == {"b[intercept]", "b[x]", "sigma"}
    assert model.named_vars_to_dims["b"] == ("group", "varying_term")
    y, x, g = arrays(data)
    b = np.array([[0.1, 2.0], [1.5, -0.5], [0.9, 0.4]])
    sigma = 0.5
    expected = (prior_logpdf(priors["intercept"], b[:, 0]) + prior_logpdf(Prior("studentt", (3, 0, 2)), b[:, 1])
                + prior_logpdf(priors["sigma"], sigma) + stats.norm.logpdf(y, b[g, 0] + b[g, 1] * x, sigma).sum())
    values = {"b[intercept]": b[:, 0], "b[x]": b[:, 1], "sigma_log__": np.log(sigma)}
    assert logp_at(model, values) == pytest.approx(expected, **TOL)


def test_known_se_partial_centred_eight_schools_logp(eight_schools, logp_at, prior_logpdf):
    """BDA3 section 5.5: theta_j ~ N(mu, tau), y_j ~ N(theta_j, sigma_j) with sigma_j known."""
    spec = ModelSpec(outcome="estimate", group="school", se="se", family="known_se", parameterization="centered")
    data = prepare(eight_schools, spec)
    priors = resolve_priors(data, spec)
    model = build_model(data, spec, "rows")
    mu, tau = 8.0, 5.0
    theta = 0.5 * data.y + 4.0
    expected = (prior_logpdf(priors["intercept"], mu) + prior_logpdf(priors["sd(intercept)"], tau)
                + stats.norm.logpdf(theta, mu, tau).sum() + stats.norm.logpdf(data.y, theta, data.se).sum())
    values = {"mu": [mu], "tau_log__": [np.log(tau)], "b": theta}
    assert logp_at(model, values) == pytest.approx(expected, **TOL)


def test_binomial_with_trials_logp(small_frame, logp_at, prior_logpdf):
    """k_i ~ Binomial(n_i, logit^-1(b0 + b1 x_i))."""
    spec = ModelSpec(outcome="k", group="g", predictors="x", family="binomial", trials="n", pooling="complete")
    data = prepare(small_frame, spec)
    priors = resolve_priors(data, spec)
    model = build_model(data, spec, "rows")
    b0, b1 = -0.8, 0.6
    x = data.X[:, 1]
    expected = (prior_logpdf(priors["intercept"], b0) + prior_logpdf(priors["x"], b1)
                + stats.binom.logpmf(data.y, data.trials, expit(b0 + b1 * x)).sum())
    assert logp_at(model, {"beta": [b0, b1]}) == pytest.approx(expected, **TOL)


def test_bernoulli_without_trials_logp(small_frame, logp_at, prior_logpdf):
    """y_i ~ Bernoulli(logit^-1(b_g[i])), no pooling."""
    spec = ModelSpec(outcome="yb", group="g", family="binomial", pooling="none")
    data = prepare(small_frame, spec)
    priors = resolve_priors(data, spec)
    model = build_model(data, spec, "rows")
    b = np.array([-0.3, 0.4, 1.1])
    expected = (prior_logpdf(priors["intercept"], b)
                + stats.bernoulli.logpmf(data.y, expit(b[data.group_index])).sum())
    assert logp_at(model, {"b": b}) == pytest.approx(expected, **TOL)


def test_poisson_with_exposure_logp(small_frame, logp_at, prior_logpdf):
    """k_i ~ Poisson(e_i exp(b_g[i])), b_j = mu + tau z_j (non-centred partial pooling)."""
    spec = ModelSpec(outcome="k", group="g", family="poisson", exposure="e")
    data = prepare(small_frame, spec)
    priors = resolve_priors(data, spec)
    model = build_model(data, spec, "rows")
    mu, tau = 0.2, 0.5
    z = np.array([0.4, -1.2, 0.7])
    b = mu + tau * z
    expected = (prior_logpdf(priors["intercept"], mu) + prior_logpdf(priors["sd(intercept)"], tau)
                + stats.norm.logpdf(z).sum()
                + stats.poisson.logpmf(data.y, data.exposure * np.exp(b[data.group_index])).sum())
    values = {"mu": [mu], "tau_log__": [np.log(tau)], "z": z}
    assert logp_at(model, values) == pytest.approx(expected, **TOL)


def test_gamma_logp(small_frame, logp_at, prior_logpdf):
    """y_i ~ Gamma(shape alpha, rate alpha exp(-eta_i)): mean exp(eta_i)."""
    spec = ModelSpec(outcome="pos", group="g", predictors="x", family="gamma", pooling="complete")
    data = prepare(small_frame, spec)
    priors = resolve_priors(data, spec)
    model = build_model(data, spec, "rows")
    b0, b1, alpha = 0.3, 0.5, 2.5
    mean = np.exp(b0 + b1 * data.X[:, 1])
    expected = (prior_logpdf(priors["intercept"], b0) + prior_logpdf(priors["x"], b1)
                + prior_logpdf(priors["alpha"], alpha)
                + stats.gamma.logpdf(data.y, a=alpha, scale=mean / alpha).sum())
    values = {"beta": [b0, b1], "alpha_log__": np.log(alpha)}
    assert logp_at(model, values) == pytest.approx(expected, **TOL)


def test_group_noise_partial_noncentred_logp(small_frame, logp_at, prior_logpdf, values_at):
    """log sigma_j = log sigma + s z_j with z_j ~ N(0, 1); y_i ~ N(b_g[i], sigma_g[i])."""
    spec = ModelSpec(outcome="y", group="g", group_noise=True)
    data = prepare(small_frame, spec)
    priors = resolve_priors(data, spec)
    model = build_model(data, spec, "rows")
    g = data.group_index
    mu, tau, sigma, spread = 2.0, 1.0, 0.8, 0.4
    z = np.array([0.5, -0.5, 1.0])
    z_sigma = np.array([-1.0, 0.3, 2.0])
    sigma_group = np.exp(np.log(sigma) + spread * z_sigma)
    expected = (prior_logpdf(priors["intercept"], mu) + prior_logpdf(priors["sd(intercept)"], tau)
                + prior_logpdf(priors["sigma"], sigma) + prior_logpdf(priors["sd(log_sigma)"], spread)
                + stats.norm.logpdf(z).sum() + stats.norm.logpdf(z_sigma).sum()
                + stats.norm.logpdf(data.y, (mu + tau * z)[g], sigma_group[g]).sum())
    values = {"mu": [mu], "tau_log__": [np.log(tau)], "z": z, "sigma_log__": np.log(sigma),
              "sd_log_sigma_log__": np.log(spread), "z_sigma": z_sigma}
    assert logp_at(model, values) == pytest.approx(expected, **TOL)
    np.testing.assert_allclose(values_at(model, values)["sigma_group"], sigma_group, rtol=1e-12)


def test_group_noise_no_pooling_logp(small_frame, logp_at, prior_logpdf):
    """Under no pooling each group's sigma_j has the fixed prior of sigma."""
    spec = ModelSpec(outcome="y", group="g", group_noise=True, pooling="none")
    data = prepare(small_frame, spec)
    priors = resolve_priors(data, spec)
    model = build_model(data, spec, "rows")
    b = np.array([1.5, 2.0, 2.6])
    sigma_group = np.array([0.5, 1.5, 0.9])
    g = data.group_index
    expected = (prior_logpdf(priors["intercept"], b) + prior_logpdf(priors["sigma"], sigma_group)
                + stats.norm.logpdf(data.y, b[g], sigma_group[g]).sum())
    values = {"b": b, "sigma_group_log__": np.log(sigma_group)}
    assert logp_at(model, values) == pytest.approx(expected, **TOL)


@pytest.mark.parametrize("parameterization", ["noncentered", "centered"])
def test_correlated_effects_logp(parameterization, small_frame, logp_at, values_at, prior_logpdf):
    """Sigma = diag(tau) R diag(tau), R ~ LKJ(eta); b_j = mu + L z_j (non-centred) or b_j ~ MVN(mu, Sigma).

    For two terms R has one correlation r, and the LKJ density of r is (1 - r^2)^(eta - 1) / (2^(2 eta - 1)
    B(eta, eta)) (Lewandowski, Kurowicka & Joe 2009; for n = 2, (r + 1)/2 ~ Beta(eta, eta)). The model's
    variables are tau (each with its own sd prior) and R through its Cholesky factor, whose free element is r
    itself, so the density in the original space is p(mu) p(tau) p(r) p(b or z | ...) p(y | ...). The point is
    random in the transformed space.
    """
    spec = replace(BASE, correlated=True, parameterization=parameterization)
    data = prepare(small_frame, spec)
    priors = resolve_priors(data, spec)
    model = build_model(data, spec, "rows")
    rng = np.random.default_rng(20261121)
    point = {name: 0.5 * rng.normal(size=np.shape(value)) for name, value in model.initial_point().items()}
    values = values_at(model, point)
    R, tau, mu, sigma = values["corr"], values["tau"], values["mu"], values["sigma"]
    np.testing.assert_allclose(R, R.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(R), 1.0, atol=1e-12)
    r = R[0, 1]
    assert 0 < abs(r) < 1
    cov = np.diag(tau) @ R @ np.diag(tau)
    eta = priors["corr"].params[0]
    lkj = (eta - 1) * np.log1p(-(r**2)) - (2 * eta - 1) * np.log(2) - betaln(eta, eta)
    if parameterization == "noncentered":
        z = values["z"]
        b = mu + z @ np.linalg.cholesky(cov).T
        np.testing.assert_allclose(values["b"], b, rtol=1e-10)
        group_level = stats.norm.logpdf(z).sum()
    else:
        b = values["b"]
        group_level = stats.multivariate_normal.logpdf(b, mean=mu, cov=cov).sum()
    y, x, g = arrays(data)
    expected = (prior_logpdf(priors["intercept"], mu[0]) + prior_logpdf(priors["x"], mu[1])
                + prior_logpdf(priors["sd(intercept)"], tau[0]) + prior_logpdf(priors["sd(x)"], tau[1]) + lkj
                + group_level + prior_logpdf(priors["sigma"], sigma)
                + stats.norm.logpdf(y, b[g, 0] + b[g, 1] * x, sigma).sum())
    assert logp_at(model, point) == pytest.approx(expected, **TOL)


# ---------------------------------------------------------------------------------------------------- priors
def scaled(frame: pd.DataFrame, column: str, factor: float) -> pd.DataFrame:
    out = frame.copy()
    out[column] = (out[column].astype(float) * factor).astype(str)
    return out


def test_default_priors_follow_the_documented_autoscaling(small_frame):
    spec = BASE
    data = prepare(small_frame, spec)
    priors = default_priors(data, spec)
    y, x = data.y, data.X[:, 1]
    s = np.std(y)
    assert set(priors) == {"intercept", "x", "sd(intercept)", "sd(x)", "sigma"}
    assert priors["intercept"].distribution == "normal"
    np.testing.assert_allclose(priors["intercept"].params, (np.mean(y), 2.5 * s), rtol=1e-12)
    np.testing.assert_allclose(priors["x"].params, (0.0, 2.5 * s / np.std(x)), rtol=1e-12)
    np.testing.assert_allclose(priors["sd(intercept)"].params, (s,), rtol=1e-12)
    np.testing.assert_allclose(priors["sd(x)"].params, (s / np.std(x),), rtol=1e-12)
    np.testing.assert_allclose(priors["sigma"].params, (s,), rtol=1e-12)
    assert default_priors(data, replace(spec, correlated=True))["corr"] == Prior("lkj", (2.0,))


def test_default_priors_scale_with_the_outcome_and_the_predictor(small_frame):
    spec = BASE
    base = default_priors(prepare(small_frame, spec), spec)
    times_100 = default_priors(prepare(scaled(small_frame, "y", 100), spec), spec)
    for name in ("intercept", "x", "sd(intercept)", "sd(x)", "sigma"):
        np.testing.assert_allclose(times_100[name].params, 100 * np.array(base[name].params), rtol=1e-12,
                                   err_msg=name)
    x_times_10 = default_priors(prepare(scaled(small_frame, "x", 10), spec), spec)
    assert x_times_10["x"].params[1] == pytest.approx(base["x"].params[1] / 10, rel=1e-12)
    assert x_times_10["sd(x)"].params[0] == pytest.approx(base["sd(x)"].params[0] / 10, rel=1e-12)
    assert x_times_10["intercept"] == base["intercept"]


def test_known_se_and_binomial_default_scales(eight_schools, small_frame):
    """known_se: s = sqrt(var(y) + mean(se^2)); binomial: m = logit(pooled rate), s = 1."""
    spec = ModelSpec(outcome="estimate", group="school", se="se", family="known_se")
    data = prepare(eight_schools, spec)
    s = np.sqrt(np.var(data.y) + np.mean(data.se**2))
    priors = default_priors(data, spec)
    np.testing.assert_allclose(priors["intercept"].params, (np.mean(data.y), 2.5 * s), rtol=1e-12)
    np.testing.assert_allclose(priors["sd(intercept)"].params, (s,), rtol=1e-12)
    assert "sigma" not in priors
    binomial = ModelSpec(outcome="k", group="g", family="binomial", trials="n")
    data = prepare(small_frame, binomial)
    priors = default_priors(data, binomial)
    np.testing.assert_allclose(priors["intercept"].params, (logit(data.y.sum() / data.trials.sum()), 2.5),
                               rtol=1e-12)
    assert priors["sd(intercept)"] == Prior("halfnormal", (1.0,))


def test_overriding_a_prior_changes_the_logp_exactly_as_scipy_says(small_frame, logp_at, prior_logpdf):
    spec = BASE.with_pooling("complete")
    data = prepare(small_frame, spec)
    default = resolve_priors(data, spec)["intercept"]
    override = Prior("studentt", (4.0, 1.0, 3.0))
    values = {"beta": [0.7, 1.3], "sigma_log__": np.log(0.9)}
    before = logp_at(build_model(data, spec, "rows"), values)
    # Both coefficients share one vector prior, so the slope's override must be of the same family.
    changed = replace(spec, priors={"intercept": override, "x": Prior("studentt", (30.0, 0.0, 5.0))})
    after = logp_at(build_model(data, changed, "rows"), values)
    expected_change = (prior_logpdf(override, 0.7) - prior_logpdf(default, 0.7)
                       + prior_logpdf(Prior("studentt", (30.0, 0.0, 5.0)), 1.3)
                       - prior_logpdf(resolve_priors(data, spec)["x"], 1.3))
    assert after - before == pytest.approx(expected_change, **TOL)
    assert resolve_priors(data, changed)["intercept"] == override


def test_overriding_a_group_scale_prior(small_frame, logp_at, prior_logpdf):
    spec = ModelSpec(outcome="y", group="g", parameterization="centered")
    data = prepare(small_frame, spec)
    values = {"mu": [2.0], "tau_log__": [np.log(0.7)], "b": [1.8, 2.1, 2.5], "sigma_log__": np.log(1.0)}
    before = logp_at(build_model(data, spec, "rows"), values)
    cauchy = Prior("halfcauchy", (5.0,))
    after = logp_at(build_model(data, replace(spec, priors={"sd(intercept)": cauchy}), "rows"), values)
    default = resolve_priors(data, spec)["sd(intercept)"]
    assert after - before == pytest.approx(prior_logpdf(cauchy, 0.7) - prior_logpdf(default, 0.7), **TOL)


def test_an_unknown_prior_name_is_rejected_with_the_valid_names(small_frame):
    spec = ModelSpec(outcome="y", group="g", predictors="x", pooling="complete", priors={"sd(x)": "halfnormal(1)"})
    data = prepare(small_frame, spec)
    message = "this model has no parameter named 'sd(x)'; priors can be set for intercept, x, sigma"
    with pytest.raises(SpecError, match=re.escape(message)):
        resolve_priors(data, spec)
    with pytest.raises(SpecError, match=re.escape(message)):
        build_model(data, spec, "rows")
