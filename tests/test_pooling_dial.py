"""The pooling dial (:mod:`hiermodels.results.pooling_dial`): its closed forms against BDA3 and against dense
linear algebra, then dials of real fits against their own posterior draws and against REML.

References
----------
- Gelman, Carlin, Stern, Dunson, Vehtari & Rubin, *Bayesian Data Analysis*, 3rd ed. (BDA3), section 5.4, eqs.
  5.17-5.21: the eight schools with a flat prior on mu and a uniform prior on tau. Given tau,
  ``mu | tau, y ~ N(mu_hat, V_mu)`` with ``mu_hat = sum(y_j / (s_j^2 + tau^2)) / sum(1 / (s_j^2 + tau^2))``,
  ``V_mu^-1 = sum(1 / (s_j^2 + tau^2))`` (5.20); ``theta_j | mu, tau, y`` normal with mean
  ``(y_j / s_j^2 + mu / tau^2) / (1 / s_j^2 + 1 / tau^2)`` and variance ``1 / (1 / s_j^2 + 1 / tau^2)`` (5.17), so
  ``E(theta_j | tau, y)`` is that mean at ``mu_hat`` and its variance adds ``(tau^-2 / (s_j^-2 + tau^-2))^2 V_mu``;
  ``p(tau | y) ∝ p(tau) V_mu^1/2 prod (s_j^2 + tau^2)^-1/2 exp(-(y_j - mu_hat)^2 / (2 (s_j^2 + tau^2)))`` (5.21).
- lme4 ``lmer(log_radon ~ floor + (1 | county), radon)`` (REML): sd(county) 0.3282, sigma 0.7556; Gelman & Hill
  (2007), *Data Analysis Using Regression and Multilevel/Hierarchical Models*, p. 259 round them to 0.33 and 0.76.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from hiermodels.model import build as m
from hiermodels.model.spec import Prior
from hiermodels.results.diagnostics import convergence
from hiermodels.results.pooling_dial import (
    DialProblem,
    conditional_estimates,
    pooling_dial,
    prior_log_density,
)

SCHOOL_Y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
SCHOOL_SE = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])


def eight_schools_problem() -> DialProblem:
    """BDA3's model: flat prior on mu (precision 0), uniform prior on tau (a constant log-density)."""
    return DialProblem(y=SCHOOL_Y, D=np.ones((8, 1)), z=np.ones(8), group=np.arange(8), n_groups=8,
                       variance=SCHOOL_SE**2, theta_prior_mean=np.zeros(1), theta_prior_precision=np.zeros(1),
                       theta_weights=np.ones(1))


def bda_closed_forms(tau: np.ndarray) -> dict[str, np.ndarray]:
    """BDA3 eqs. 5.17-5.21 evaluated directly (tau > 0)."""
    V = SCHOOL_SE[None] ** 2 + tau[:, None] ** 2
    mu_hat = (SCHOOL_Y / V).sum(1) / (1 / V).sum(1)
    V_mu = 1 / (1 / V).sum(1)
    precision = 1 / SCHOOL_SE[None] ** 2 + 1 / tau[:, None] ** 2
    theta = (SCHOOL_Y / SCHOOL_SE**2 + mu_hat[:, None] / tau[:, None] ** 2) / precision
    weight = (1 / tau[:, None] ** 2) / precision
    variance = 1 / precision + weight**2 * V_mu[:, None]
    log_p = 0.5 * np.log(V_mu) - 0.5 * np.log(V).sum(1) - 0.5 * ((SCHOOL_Y - mu_hat[:, None]) ** 2 / V).sum(1)
    return {"theta": theta, "sd": np.sqrt(variance), "mu": mu_hat, "mu_sd": np.sqrt(V_mu), "log_p": log_p}


def test_eight_schools_conditionals_equal_bda3_closed_forms() -> None:
    tau = np.concatenate([np.linspace(0.25, 30, 120), [50.0, 100.0]])
    dial = conditional_estimates(eight_schools_problem(), tau)
    bda = bda_closed_forms(tau)
    np.testing.assert_allclose(dial.mean, bda["theta"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(dial.sd, bda["sd"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(dial.population, bda["mu"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(dial.population_sd, bda["mu_sd"], rtol=0, atol=1e-8)
    # p(tau | y) up to a constant: compare log-density differences from the first grid point.
    np.testing.assert_allclose(dial.log_marginal - dial.log_marginal[0], bda["log_p"] - bda["log_p"][0],
                               rtol=0, atol=1e-8)


def test_eight_schools_at_the_two_ends_of_the_dial() -> None:
    """tau = 0: every school on the precision-weighted mean, 7.69 (BDA3 p. 119); tau -> inf: each its own y_j."""
    dial = conditional_estimates(eight_schools_problem(), np.array([0.0, 1e6]))
    weighted = np.sum(SCHOOL_Y / SCHOOL_SE**2) / np.sum(1 / SCHOOL_SE**2)
    assert round(weighted, 2) == 7.69
    np.testing.assert_allclose(dial.mean[0], weighted, rtol=0, atol=1e-10)
    np.testing.assert_allclose(dial.pooling[0], 1.0)
    np.testing.assert_allclose(dial.mean[1], SCHOOL_Y, rtol=0, atol=1e-6)
    assert np.all(dial.pooling[1] < 1e-6)


def test_the_joint_profile_rises_without_bound_as_tau_goes_to_zero() -> None:
    tau = np.geomspace(1e-6, 100, 200)
    profile = conditional_estimates(eight_schools_problem(), np.concatenate([[0.0], tau])).log_joint_profile
    assert profile[0] == np.inf
    assert np.all(np.diff(profile[1:]) < 0)  # monotone: highest at the smallest tau
    assert profile[1] - profile[-1] > 8 * np.log(1e6)  # about J log(1/tau): eight groups, six decades


def _rows_problem(rng: np.random.Generator, sigma_known: bool) -> tuple[DialProblem, dict[str, np.ndarray]]:
    """Unbalanced groups, a slope z, a covariate in D with a proper normal prior on theta."""
    sizes = np.array([1, 2, 5, 9, 3])
    group = np.repeat(np.arange(5), sizes)
    R = group.size
    D = np.column_stack([np.ones(R), rng.normal(size=R)])
    z = rng.normal(1.0, 0.5, size=R)
    y = D @ np.array([1.0, -0.5]) + z * rng.normal(0, 0.8, 5)[group] + rng.normal(0, 0.6, R)
    prior_mean, prior_precision = np.array([0.5, 0.0]), np.array([0.25, 1.0])
    problem = DialProblem(y=y, D=D, z=z, group=group, n_groups=5, variance=np.ones(R),
                          theta_prior_mean=prior_mean, theta_prior_precision=prior_precision,
                          theta_weights=np.array([1.0, 0.0]), sigma_known=sigma_known,
                          log_prior_sigma=prior_log_density(Prior("halfnormal", (2.0,))),
                          sigma_bracket=(1e-3, 50.0))
    return problem, {"y": y, "D": D, "z": z, "group": group, "m": prior_mean, "P": prior_precision}


def _dense(parts: dict[str, np.ndarray], tau: float, sigma: float, shift: np.ndarray | None = None,
           kappa: float = 1.0) -> tuple[float, np.ndarray]:
    """log p(y | tau, sigma) and E[b_j | tau, sigma, y] by dense linear algebra: with theta ~ N(m, P^-1)
    integrated and u_j ~ N(tau s_j, kappa^2 tau^2), y ~ N(D m + tau Z s, sigma^2 I + kappa^2 tau^2 Z Z^T +
    D P^-1 D^T); b_j = theta_0 + u_j."""
    y, D, z, group = parts["y"], parts["D"], parts["z"], parts["group"]
    shift = np.zeros(5) if shift is None else shift
    Z = np.zeros((y.size, 5))
    Z[np.arange(y.size), group] = z
    prior_cov = np.diag(1 / parts["P"])
    cov = sigma**2 * np.eye(y.size) + (kappa * tau) ** 2 * Z @ Z.T + D @ prior_cov @ D.T
    mean_y = D @ parts["m"] + tau * Z @ shift
    log_p = stats.multivariate_normal(mean_y, cov).logpdf(y)
    # Cov(b, y) with b = e_0' theta + u
    cov_by = (kappa * tau) ** 2 * Z.T + (prior_cov @ D.T)[0][None, :]
    mean_b = parts["m"][0] + tau * shift + cov_by @ np.linalg.solve(cov, y - mean_y)
    return log_p, mean_b


def test_row_model_matches_dense_linear_algebra() -> None:
    """With sigma known (here as v_r = sigma^2) the sums give the same marginal likelihood and conditional
    means as the dense multivariate normal of every row."""
    rng = np.random.default_rng(7)
    problem, parts = _rows_problem(rng, sigma_known=True)
    pairs = [(0.3, 0.6), (1.0, 0.6), (2.5, 1.3)]
    for tau, sigma in pairs:
        scaled = replace(problem, variance=np.full(problem.y.size, sigma**2))
        dial = conditional_estimates(scaled, np.array([tau]))
        dense_log_p, dense_mean = _dense(parts, tau, sigma)
        np.testing.assert_allclose(dial.mean[0], dense_mean, rtol=0, atol=1e-10)
        # constants dropped by the dial: (2 pi) terms and the prior's log|P|, the same at every (tau, sigma)
        constant = -0.5 * problem.y.size * np.log(2 * np.pi) + 0.5 * np.log(parts["P"]).sum()
        assert dial.log_marginal[0] + constant == pytest.approx(dense_log_p, abs=1e-9)


def test_a_correlated_effect_held_partner_shifts_its_prior_mean_with_tau() -> None:
    """Correlated effects, the others held: u_j ~ N(tau s_j, kappa^2 tau^2) (``prior_shift``, ``tau_scale``)
    against the same dense computation."""
    rng = np.random.default_rng(3)
    problem, parts = _rows_problem(rng, sigma_known=True)
    shift, kappa = rng.normal(size=5), 0.6
    for tau, sigma in [(0.4, 0.7), (1.7, 1.1)]:
        scaled = replace(problem, variance=np.full(problem.y.size, sigma**2), prior_shift=shift, tau_scale=kappa)
        dial = conditional_estimates(scaled, np.array([0.8 * tau, tau]))
        base = conditional_estimates(scaled, np.array([0.8 * tau]))
        dense_log_p, dense_mean = _dense(parts, tau, sigma, shift, kappa)
        dense_base, _ = _dense(parts, 0.8 * tau, sigma, shift, kappa)
        np.testing.assert_allclose(dial.mean[1], dense_mean, rtol=0, atol=1e-10)
        assert dial.log_marginal[1] - base.log_marginal[0] == pytest.approx(dense_log_p - dense_base, abs=1e-9)


def test_sigma_is_integrated_out_numerically_to_quadrature_accuracy() -> None:
    """Against scipy's adaptive quadrature over sigma of p(sigma) p(y | tau, sigma) and of the conditional mean."""
    rng = np.random.default_rng(11)
    problem, parts = _rows_problem(rng, sigma_known=False)
    log_prior = prior_log_density(Prior("halfnormal", (2.0,)))
    tau = np.array([0.2, 0.9, 3.0])
    dial = conditional_estimates(problem, tau)
    log_marginals, means = [], []
    for t in tau:
        def weight(s: float, t: float = t) -> float:
            return float(np.exp(_dense(parts, t, s)[0] + log_prior(np.array([s]))[0]))

        total = integrate.quad(weight, 1e-3, 50, limit=200, epsabs=0, epsrel=1e-11)[0]
        first = [integrate.quad(lambda s, j=j, t=t: weight(s) * _dense(parts, t, s)[1][j], 1e-3, 50, limit=200,
                                epsabs=0, epsrel=1e-11)[0] / total for j in range(5)]
        log_marginals.append(np.log(total))
        means.append(first)
    np.testing.assert_allclose(dial.mean, np.array(means), rtol=0, atol=1e-6)
    differences = dial.log_marginal - dial.log_marginal[0]
    np.testing.assert_allclose(differences, np.array(log_marginals) - log_marginals[0], rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------- dials of real fits
@pytest.fixture(scope="module")
def radon_fit(sample_fits):
    return sample_fits["Minnesota radon"]["partial"]


@pytest.fixture(scope="module")
def schools_fit(sample_fits):
    return sample_fits["Eight schools"]["partial"]


def _monte_carlo_errors(result) -> np.ndarray:
    """Each group intercept's Monte Carlo standard error, sd / sqrt(bulk ESS)."""
    b = result.draws[m.GROUP_COEFFICIENT].sel({m.VARYING_DIM: "intercept"}).transpose("chain", "draw", m.GROUP_DIM)
    values = b.to_numpy()
    ess = convergence(values).ess_bulk
    return values.reshape(-1, values.shape[-1]).std(0) / np.sqrt(ess)


@pytest.mark.reference
@pytest.mark.parametrize("name", ["radon", "schools"])
def test_averaging_the_conditionals_over_tau_gives_the_posterior_mean(name, radon_fit, schools_fit) -> None:
    """E[b_j | y] = E_tau[E[b_j | tau, y]]: the dial's average over the fit's draws of tau matches the fit's
    posterior mean of each group within 4 Monte Carlo standard errors (both are estimates of the same mean)."""
    result = radon_fit if name == "radon" else schools_fit
    dial = pooling_dial(result, scale="link")
    assert dial.exact
    errors = _monte_carlo_errors(result)
    difference = (dial.groups["posterior_mean"] - dial.groups["averaged"]).to_numpy()
    assert np.all(np.abs(difference) <= 4 * errors), np.max(np.abs(difference) / errors)
    assert np.sqrt(np.mean((difference / errors) ** 2)) < 1.5


@pytest.mark.reference
def test_radon_marginal_mode_is_near_reml_and_the_joint_profile_only_rises_toward_zero(radon_fit) -> None:
    """The mode of p(tau | y) sits within 0.02 of lme4's REML 0.3282: REML integrates the coefficients with a
    flat prior and profiles sigma, the dial integrates sigma and the coefficients under the fit's weak priors and
    multiplies by the halfnormal prior of tau; with 919 rows in 85 counties these move the mode by far less."""
    dial = pooling_dial(radon_fit)
    marginal_mode = float(dial.summaries.set_index("summary").at["marginal mode", "tau"])
    assert marginal_mode == pytest.approx(0.3282, abs=0.02)
    profile = dial.tau["log_joint_profile"].to_numpy()[1:]
    assert np.all(np.diff(profile) < 0)
    assert dial.summaries["summary"].tolist() == ["joint mode", "marginal mode", "posterior mean"]
    assert dial.summaries.set_index("summary").at["joint mode", "tau"] == 0
    tau_mean = float(radon_fit.draws[m.GROUP_SD].mean())
    assert dial.summaries.set_index("summary").at["posterior mean", "tau"] == pytest.approx(tau_mean)


@pytest.mark.reference
def test_radon_dial_tables(radon_fit) -> None:
    dial = pooling_dial(radon_fit)
    curve, J = dial.curve, radon_fit.data.n_groups
    positions = dial.tau["position"].to_numpy()
    assert len(curve) == len(positions) * J
    assert dial.tau["tau"].iloc[0] == 0 and np.all(np.diff(dial.tau["tau"]) > 0)
    at_zero = curve[curve["position"] == 0]
    np.testing.assert_allclose(at_zero["estimate"], at_zero["population"])  # complete pooling
    np.testing.assert_allclose(at_zero["pooling_factor"], 1.0)
    wide = curve.pivot(index="position", columns="group", values="pooling_factor")
    assert np.all(np.diff(wide.to_numpy(), axis=0) <= 1e-12)  # pooling only weakens as tau grows
    assert wide.iloc[-1].max() <= 0.0101
    # The no-pooling end is each county's own estimate: its mean residual after the floor effect, roughly.
    own = dial.groups.set_index("group")["own_estimate"]
    raw = radon_fit.data.y
    assert own.corr(pd.Series(np.bincount(radon_fit.data.group_index, raw) / radon_fit.data.group_sizes,
                              index=list(radon_fit.data.group_labels))) > 0.9
    # n0 = sigma^2 / tau^2 rows for a gaussian intercept: about 0.76^2 / 0.33^2 = 5 rows at the posterior mean.
    assert dial.groups["prior_rows"].median() == pytest.approx(0.7556**2 / 0.334**2, rel=0.15)
    np.testing.assert_allclose(dial.tau["density"].sum() > 0, True)
    assert np.trapezoid(dial.tau["density"], dial.tau["tau"]) == pytest.approx(1.0)
    assert dial.start_position == int(dial.summaries.set_index("summary").at["posterior mean", "position"])
    story = dial.story()
    assert "MAHNOMEN" in story and "0.33" in story


@pytest.mark.reference
def test_baseball_normal_approximation_is_close_to_the_posterior_means(sample_fits) -> None:
    """Binomial: the dial is labelled approximate, and its average over tau lands within 0.01 of each player's
    posterior batting average (the posterior sd of a player's average is about 0.02)."""
    dial = pooling_dial(sample_fits["Baseball batting averages"]["partial"])
    assert not dial.exact and "approximat" in dial.method_note.lower()
    assert dial.value_title == "intercept (probability)"
    assert dial.groups["approximation_error"].abs().max() < 0.01
    assert dial.curve["estimate"].between(0, 1).all()


@pytest.mark.reference
def test_a_dial_for_each_grouping_factor(sample_fits) -> None:
    result = sample_fits["Penicillin plates and samples"]["partial"]
    for factor, count in (("plate", 24), ("sample", 6)):
        dial = pooling_dial(result, factor=factor)
        assert dial.factor == factor and len(dial.groups) == count
        assert not dial.exact and "posterior means" in dial.method_note
        assert dial.tau_title == f"sd(intercept|{factor})"
        assert dial.groups["approximation_error"].abs().max() < 0.05


@pytest.mark.reference
def test_a_dial_needs_partial_pooling_and_a_varying_term(sample_fits, schools_fit) -> None:
    with pytest.raises(ValueError, match="no grouping factor 'district'"):
        pooling_dial(schools_fit, factor="district")
    with pytest.raises(ValueError, match="does not vary over school"):
        pooling_dial(schools_fit, term="year")
    with pytest.raises(ValueError, match="this fit is complete pooling"):
        pooling_dial(sample_fits["Eight schools"]["complete"])
