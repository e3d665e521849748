"""Gaussian models on sufficient statistics and with the group effects integrated out (hiermodels.model.gaussian).

The sufficient-statistics likelihood is an algebraic identity, so its log-density must equal the row-by-row
model's at any point. The marginal likelihood must equal the multivariate normal density of each group's rows,
y_j ~ N(D_j theta, sigma^2 I + Z_j Sigma Z_j^T), computed directly with scipy. The conditional draws of the group
effects must have the closed-form mean and covariance. Both likelihoods are Ops with hand-written gradients
(hiermodels.model.gaussian_ops): the sufficient one's gradient must equal the row-by-row model's autodiff gradient, and
the marginal one's must match central finite differences. No sampling here; test_reference.py compares whole fits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hiermodels import ModelSpec, Prior, prepare, read_table
from hiermodels.inference.plan import choose_method
from hiermodels.model.build import build_model
from hiermodels.model.gaussian import GroupSums, draw_group_effects

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="module")
def sleepstudy():
    return read_table(SAMPLE_DATA / "sleepstudy.csv")


def values_of(model, point):
    names = [v.name for v in model.unobserved_value_vars]
    function = model.compile_fn(model.unobserved_value_vars, inputs=model.value_vars, on_unused_input="ignore")
    return dict(zip(names, function(point), strict=True))


def random_point(model, seed):
    rng = np.random.default_rng(seed)
    return {k: v + rng.normal(0, 0.3, size=np.shape(v)) for k, v in model.initial_point().items()}


VARIANTS = [
    dict(pooling="complete"),
    dict(pooling="none"),
    dict(pooling="none", group_noise=True),
    dict(pooling="partial", parameterization="centered"),
    dict(pooling="partial", parameterization="centered", correlated=True),
    dict(pooling="partial", parameterization="centered", group_noise=True),
    dict(pooling="partial", parameterization="noncentered", correlated=True),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(f"{k}={val}" for k, val in v.items()))
def test_sufficient_statistics_reproduce_the_row_by_row_logp(variant, sleepstudy):
    spec = ModelSpec("Reaction", "Subject", ("Days",), varying=("intercept", "Days"), **variant)
    data = prepare(sleepstudy, spec)
    rows, sufficient = build_model(data, spec, "rows"), build_model(data, spec, "sufficient")
    assert {v.name for v in rows.free_RVs} == {v.name for v in sufficient.free_RVs}
    for seed in (1, 2):
        point = random_point(rows, seed)
        assert sufficient.compile_logp()(point) == pytest.approx(rows.compile_logp()(point), rel=1e-10)
        np.testing.assert_allclose(_raveled(sufficient.compile_dlogp()(point)),
                                   _raveled(rows.compile_dlogp()(point)), rtol=1e-8, atol=1e-8)


def _raveled(gradient):
    return np.concatenate([np.ravel(g) for g in gradient]) if isinstance(gradient, list) else np.ravel(gradient)


@pytest.mark.parametrize("variant", [dict(), dict(correlated=True), dict(group_noise=True),
                                     dict(correlated=True, group_noise=True),
                                     # one varying term: the kernel's scalar loop (gaussian_ops._marginal_one_term)
                                     dict(varying=("intercept",)), dict(varying=("Days",), group_noise=True)],
                         ids=str)
def test_marginal_gradient_matches_finite_differences(variant, sleepstudy):
    """d logp / d (every unconstrained parameter) of the marginal model against central differences (h = 1e-6)."""
    from pymc.blocking import DictToArrayBijection, RaveledVars

    spec = ModelSpec("Reaction", "Subject", ("Days",), **{"varying": ("intercept", "Days"), **variant})
    model = build_model(prepare(sleepstudy, spec), spec, "marginal")
    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    start = DictToArrayBijection.map(random_point(model, 3))

    def at(x):
        return DictToArrayBijection.rmap(RaveledVars(x, start.point_map_info))

    analytic = _raveled(dlogp(at(start.data)))
    numeric = np.empty_like(start.data)
    for k in range(start.data.size):
        step = np.zeros_like(start.data)
        step[k] = 1e-6
        numeric[k] = (logp(at(start.data + step)) - logp(at(start.data - step))) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(("varying", "correlated"), [(("intercept", "Days"), False), (("intercept", "Days"), True),
                                                     (("intercept",), False), (("Days",), False)])
@pytest.mark.parametrize("group_noise", [False, True])
def test_marginal_likelihood_is_the_multivariate_normal_of_each_group(varying, correlated, group_noise, sleepstudy):
    """Against scipy's multivariate normal of each group's rows, with two varying terms (the kernel's general loop)
    and with one (its scalar loop, gaussian_ops._marginal_one_term)."""
    spec = ModelSpec("Reaction", "Subject", ("Days",), varying=varying, correlated=correlated,
                     group_noise=group_noise)
    data = prepare(sleepstudy, spec)
    assert choose_method(data, spec) == "marginal"
    model = build_model(data, spec, "marginal")
    assert "b" not in model.named_vars and "z" not in model.named_vars
    point = random_point(model, 3)
    values = values_of(model, point)
    tau = values["tau"]
    R = values["corr"] if correlated else np.eye(len(varying))
    covariance = np.diag(tau) @ R @ np.diag(tau)
    Z = data.X[:, [data.terms.index(term) for term in varying]]
    common = [term for term in data.terms if term not in varying]
    mean = Z @ values["mu"] + (data.X[:, [data.terms.index(t) for t in common]] @ values["beta"] if common else 0.0)
    sigma = values["sigma_group"] if group_noise else np.full(data.n_groups, values["sigma"])
    expected = sum(
        stats.multivariate_normal(mean[data.group_index == j],
                                  sigma[j] ** 2 * np.eye((data.group_index == j).sum())
                                  + Z[data.group_index == j] @ covariance @ Z[data.group_index == j].T
                                  ).logpdf(data.y[data.group_index == j])
        for j in range(data.n_groups)
    )
    marginal = model.compile_fn(model.logp(vars=model.potentials), inputs=model.value_vars,
                                on_unused_input="ignore")(point)
    assert marginal == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("group_noise", [False, True])
def test_no_pooling_integrates_out_conjugate_group_effects(group_noise, sleepstudy):
    """No pooling with normal priors b_j ~ N(m, diag(s^2)): y_j ~ N(D_j m, sigma_j^2 I + Z_j diag(s^2) Z_j^T)."""
    from hiermodels.model.priors import resolve_priors

    spec = ModelSpec("Reaction", "Subject", ("Days",), varying=("intercept", "Days"), pooling="none",
                     group_noise=group_noise)
    data = prepare(sleepstudy, spec)
    assert choose_method(data, spec) == "marginal"
    model = build_model(data, spec, "marginal")
    assert "b" not in model.named_vars
    priors = resolve_priors(data, spec)
    m = np.array([priors[t].params[0] for t in data.terms])
    s = np.array([priors[t].params[1] for t in data.terms])
    point = random_point(model, 5)
    values = values_of(model, point)
    sigma = values["sigma_group"] if group_noise else np.full(data.n_groups, values["sigma"])
    expected = 0.0
    for j in range(data.n_groups):
        X = data.X[data.group_index == j]
        covariance = sigma[j] ** 2 * np.eye(len(X)) + X @ np.diag(s**2) @ X.T
        expected += stats.multivariate_normal(X @ m, covariance).logpdf(data.y[data.group_index == j])
    marginal = model.compile_fn(model.logp(vars=model.potentials), inputs=model.value_vars,
                                on_unused_input="ignore")(point)
    assert marginal == pytest.approx(expected, rel=1e-10)
    # A prior that is not normal is not conjugate: the group effects stay parameters.
    heavy = ModelSpec("Reaction", "Subject", ("Days",), pooling="none", priors={"Days": Prior("studentt", (3, 0, 10))})
    assert choose_method(data, heavy) == "sufficient"


def test_a_common_term_enters_the_mean_structure():
    """Radon-like: varying intercept, common slope. The marginal density uses theta = (mu_0, beta_floor)."""
    frame = read_table(SAMPLE_DATA / "radon.csv")
    spec = ModelSpec("log_radon", "county", ("floor",))
    data = prepare(frame, spec)
    model = build_model(data, spec, choose_method(data, spec))
    point = random_point(model, 4)
    values = values_of(model, point)
    theta = np.array([values["mu"][0], values["beta"][0]])
    expected = 0.0
    for j in range(data.n_groups):
        rows = data.group_index == j
        X = data.X[rows]
        covariance = values["sigma"] ** 2 * np.eye(rows.sum()) + values["tau"][0] ** 2 * np.ones((rows.sum(),) * 2)
        expected += stats.multivariate_normal(X @ theta, covariance).logpdf(data.y[rows])
    marginal = model.compile_fn(model.logp(vars=model.potentials), inputs=model.value_vars,
                                on_unused_input="ignore")(point)
    assert marginal == pytest.approx(expected, rel=1e-10)


def test_conditional_draws_have_the_closed_form_moments():
    """For one group, u | y ~ N(M^{-1} Z^T r, sigma^2 M^{-1}) with M = sigma^2 Sigma^{-1} + Z^T Z."""
    rng = np.random.default_rng(0)
    n, sigma = 6, 2.0
    Z = np.column_stack([np.ones(n), np.arange(n, dtype=float)])
    y = rng.normal(size=n)
    theta = np.array([0.5, -0.2])
    covariance = np.array([[1.0, 0.3], [0.3, 0.5]])
    sums = GroupSums(n=np.array([n], dtype=float), DtD=(Z.T @ Z)[None], Dty=(Z.T @ y)[None], yty=np.array([y @ y]))
    S = 40_000
    u = draw_group_effects(sums, [0, 1], np.tile(theta, (S, 1)), np.tile(covariance, (S, 1, 1)),
                           np.full(S, sigma), np.random.default_rng(1))[:, 0, :]
    M = sigma**2 * np.linalg.inv(covariance) + Z.T @ Z
    mean = np.linalg.solve(M, Z.T @ (y - Z @ theta))
    exact_covariance = sigma**2 * np.linalg.inv(M)
    standard_error = np.sqrt(np.diag(exact_covariance) / S)
    np.testing.assert_array_less(np.abs(u.mean(axis=0) - mean), 5 * standard_error)
    np.testing.assert_allclose(np.cov(u.T), exact_covariance, rtol=0.05, atol=0.005)


def test_one_varying_term_draws_the_closed_form_with_the_same_noise():
    """q = 1 (the draw's scalar loop): u_j = z_j / M_j + sigma_j e_j / sqrt(M_j), M_j = sigma_j^2 / tau^2 + Z_j^T Z_j,
    z_j = Z_j^T (y_j - D_j theta), with e the generator's standard normals in (draw, group, term) order."""
    rng = np.random.default_rng(4)
    J, n, S = 5, 7, 30
    D = np.stack([np.column_stack([np.ones(n), rng.normal(size=n)]) for _ in range(J)])  # (J, n, K)
    y = rng.normal(size=(J, n))
    sums = GroupSums(n=np.full(J, float(n)), DtD=np.einsum("jrk,jrm->jkm", D, D), Dty=np.einsum("jrk,jr->jk", D, y),
                     yty=(y * y).sum(axis=1))
    theta, tau, sigma = rng.normal(size=(S, 2)), rng.uniform(0.5, 2, size=S), rng.uniform(0.5, 2, size=(S, J))
    u = draw_group_effects(sums, [0], theta, tau[:, None, None] ** 2, sigma, np.random.default_rng(9))
    e = np.random.default_rng(9).standard_normal((S, J, 1))[..., 0]
    M = sigma**2 / tau[:, None] ** 2 + sums.DtD[None, :, 0, 0]
    z = sums.Dty[None, :, 0] - np.einsum("jk,sk->sj", sums.DtD[:, 0, :], theta)
    np.testing.assert_allclose(u[..., 0], z / M + sigma * e / np.sqrt(M), rtol=1e-12)


def test_non_gaussian_families_keep_the_rows():
    """With a predictor that varies within groups (without, they run on group sums: tests/test_grouped.py), and
    known standard errors always."""
    frame = pd.DataFrame({"g": ["a", "a", "b", "b"], "y": [1, 3, 2, 5], "x": [0.1, 0.4, 0.2, 0.9],
                          "se": [1.0, 2.0, 1.5, 1.0]})
    spec = ModelSpec("y", "g", ("x",), family="poisson")
    assert choose_method(prepare(frame, spec), spec) == "rows"
    known_se = ModelSpec("y", "g", family="known_se", se="se")
    one_per_group = frame.drop_duplicates("g")
    assert choose_method(prepare(one_per_group, known_se), known_se) == "rows"
    centred = ModelSpec("y", "g", parameterization="centered")
    assert choose_method(prepare(frame, centred), centred) == "sufficient"
