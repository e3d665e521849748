"""Real NUTS fits (small draws, fixed seed) checked against published analyses and exact computations.

Each test states its source. Posterior means are compared with the references within tolerances that reflect
both Monte-Carlo error and the known gap between a Bayesian posterior mean and a (RE)ML point estimate: group
scales have right-skewed posteriors, so their posterior means sit somewhat above the REML estimates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import integrate

from hiermodels import ModelSpec, Prior, SamplerSettings, fit, read_table

pytestmark = pytest.mark.reference

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
SAMPLER = SamplerSettings(draws=600, tune=600, chains=2, seed=20261121, target_accept=0.95)


@pytest.fixture(scope="module")
def sleepstudy_spec():
    return ModelSpec("Reaction", "Subject", ("Days",), varying=("intercept", "Days"), correlated=True,
                     sampler=SAMPLER)


@pytest.fixture(scope="module")
def sleepstudy_fit(sleepstudy_spec):
    """The default path: group effects integrated out, then drawn from their exact conditional."""
    return fit(read_table(SAMPLE_DATA / "sleepstudy.csv"), sleepstudy_spec, compute_map=False)


@pytest.fixture(scope="module")
def radon_spec():
    return ModelSpec("log_radon", "county", ("floor",), varying=("intercept",), sampler=SAMPLER)


@pytest.fixture(scope="module")
def radon_fit(radon_spec):
    return fit(read_table(SAMPLE_DATA / "radon.csv"), radon_spec, compute_map=False)


def test_sleepstudy_matches_lme4(sleepstudy_fit):
    """lme4's ``lmer(Reaction ~ Days + (Days | Subject), sleepstudy)`` (REML), as printed by ``summary()``.

    R 4.x, lme4 1.1: fixed effects (Intercept) 251.405, Days 10.467; random effects SD: Subject (Intercept) 24.741,
    Days 5.922, corr 0.066; Residual 25.592 (Bates et al. 2015, J. Stat. Softw. 67(1), section 3).
    """
    result = sleepstudy_fit
    population = result.population().set_index("name")["mean"]

    assert population["intercept"] == pytest.approx(251.405, abs=3.0)  # REML SE 6.8
    assert population["Days"] == pytest.approx(10.467, abs=0.8)  # REML SE 1.5
    assert population["sd(intercept)"] == pytest.approx(24.74, rel=0.25)
    assert population["sd(Days)"] == pytest.approx(5.92, rel=0.25)
    assert population["sigma"] == pytest.approx(25.59, rel=0.06)
    assert -0.6 < population["corr(intercept,Days)"] < 0.7  # weakly identified around 0.07
    assert result.diagnostics().divergences == 0


def test_radon_varying_intercept_matches_gelman_hill(radon_fit):
    """Gelman & Hill (2007), section 12.4: ``lmer(y ~ x + (1 | county))`` on the 919 Minnesota houses gives
    intercept 1.46, floor -0.69, sigma_county 0.33, sigma_y 0.76."""
    result = radon_fit
    population = result.population().set_index("name")["mean"]

    assert population["intercept"] == pytest.approx(1.46, abs=0.05)
    assert population["floor"] == pytest.approx(-0.69, abs=0.05)
    assert population["sd(intercept)"] == pytest.approx(0.33, abs=0.05)
    assert population["sigma"] == pytest.approx(0.76, abs=0.02)

    groups = result.groups()
    intercepts = groups[groups["term"] == "intercept"].set_index("group")
    # Lac qui Parle (2 houses, both high) is Gelman & Hill's example of strong shrinkage toward the mean.
    assert intercepts.loc["LAC QUI PARLE", "n"] == 2
    assert intercepts["n"].sum() == 919


@pytest.fixture(scope="module")
def radon_uranium_fit():
    """Partial pooling with the county's uranium as a group-level predictor, fitted directly (no pooling would
    refuse it: see tests/test_group_level.py)."""
    spec = ModelSpec("log_radon", "county", ("floor", "log_uranium"), varying=("intercept",), sampler=SAMPLER)
    return fit(read_table(SAMPLE_DATA / "radon.csv"), spec, compute_map=False)


def test_radon_with_county_uranium_matches_gelman_hill(radon_uranium_fit):
    """Gelman & Hill (2007), section 12.6: ``lmer(y ~ x + u.full + (1 | county))`` on the 919 Minnesota houses
    (sample_data/radon.csv is HLMdiag's copy of their data, 919 rows, 85 counties; ``u.full`` is our
    ``log_uranium``), printed by ``display()``: intercept 1.47 (se 0.04), floor -0.67 (0.07), u.full 0.72 (0.09);
    sigma_county 0.16, sigma_y 0.76.

    Tolerances: the coefficients within 0.05, about one of lmer's standard errors (the posterior means differ
    from lmer's REML point estimates by much less, and the Monte-Carlo error of 1,200 draws is about 0.003);
    sigma_y within 0.02 (it is estimated from 919 rows: posterior sd 0.018). sigma_county within 0.06: with
    uranium explaining most of the between-county variation it is small and poorly determined (posterior sd
    about 0.05, its posterior skewed away from 0), so its posterior mean may sit a little off the REML estimate.
    Uranium shrinks the county scale from 0.33 (section 12.4, no uranium) to about half, the point of the
    section.
    """
    result = radon_uranium_fit
    population = result.population().set_index("name")["mean"]

    assert population["intercept"] == pytest.approx(1.47, abs=0.05)
    assert population["floor"] == pytest.approx(-0.67, abs=0.05)
    assert population["log_uranium"] == pytest.approx(0.72, abs=0.05)
    assert population["sd(intercept)"] == pytest.approx(0.16, abs=0.06)
    assert population["sigma"] == pytest.approx(0.76, abs=0.02)
    assert population["sd(intercept)"] < 0.33 - 0.1  # uranium explains much of the counties' differences
    assert result.diagnostics().divergences == 0


@pytest.mark.parametrize("case", ["sleepstudy", "radon"])
def test_integrating_group_effects_out_agrees_with_the_full_model(case, request):
    """The default gaussian path (group effects integrated out, then drawn from their exact conditional) and the
    textbook row-by-row non-centred model target the same posterior: every population parameter and every
    group coefficient agrees within 5 combined Monte-Carlo standard errors (sd / sqrt(ESS) of each fit)."""
    spec = request.getfixturevalue(f"{case}_spec")
    fast = request.getfixturevalue(f"{case}_fit")
    full = fit(read_table(SAMPLE_DATA / f"{case}.csv"), spec, compute_map=False, method="rows")
    for a, b in ((fast.population(), full.population()),):
        merged = a.merge(b, on="name", suffixes=("_fast", "_full"))
        mcse = np.hypot(merged["sd_fast"] / np.sqrt(merged["ess_bulk_fast"]),
                        merged["sd_full"] / np.sqrt(merged["ess_bulk_full"]))
        assert (np.abs(merged["mean_fast"] - merged["mean_full"]) < 5 * mcse).all(), merged
    groups = fast.groups().merge(full.groups(), on=["group", "term"], suffixes=("_fast", "_full"))
    groups = groups[groups["varies_fast"]]
    # ESS of group coefficients is at least a few hundred in both fits; use a conservative 200.
    mcse = np.hypot(groups["sd_fast"], groups["sd_full"]) / np.sqrt(200)
    assert (np.abs(groups["mean_fast"] - groups["mean_full"]) < 5 * mcse).all()
    assert groups["sd_fast"].to_numpy() == pytest.approx(groups["sd_full"].to_numpy(), rel=0.2)


# ------------------------------------------------------------------------------------------------ eight schools
SCHOOL_ESTIMATES = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SCHOOL_SES = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def exact_eight_schools_posterior_means() -> dict[str, float | np.ndarray]:
    """Posterior means under the uniform prior p(mu, tau) ∝ 1 (tau > 0), by integrating over tau.

    BDA3 (Gelman et al. 2013), section 5.4, eqs. 5.17-5.21: given tau, mu | tau, y ~ N(mu_hat, V_mu) with
    V_mu = 1 / sum 1/(s_j^2 + tau^2), mu_hat = V_mu sum y_j/(s_j^2 + tau^2); theta_j | tau, y has mean
    (y_j/s_j^2 + mu_hat/tau^2) / (1/s_j^2 + 1/tau^2); and p(tau | y) ∝ V_mu^(1/2) prod (s_j^2 + tau^2)^(-1/2)
    exp(-(y_j - mu_hat)^2 / (2 (s_j^2 + tau^2))).
    """
    y, s2 = SCHOOL_ESTIMATES, SCHOOL_SES**2

    def conditional(tau: float):
        weights = 1.0 / (s2 + tau**2)
        v_mu = 1.0 / weights.sum()
        mu_hat = v_mu * (weights * y).sum()
        log_density = 0.5 * np.log(v_mu) + (0.5 * np.log(weights) - 0.5 * weights * (y - mu_hat) ** 2).sum()
        theta = y if tau == 0 else (y / s2 + mu_hat / tau**2) / (1 / s2 + 1 / tau**2)
        return np.exp(log_density), mu_hat, theta

    def integral(f) -> float:
        return integrate.quad(f, 0, np.inf, limit=200, epsabs=1e-13)[0]

    norm = integral(lambda t: conditional(t)[0])
    mean_tau = integral(lambda t: t * conditional(t)[0]) / norm
    mean_mu = integral(lambda t: conditional(t)[1] * conditional(t)[0]) / norm
    mean_theta = np.array([integral(lambda t, j=j: conditional(t)[2][j] * conditional(t)[0]) / norm
                           for j in range(8)])
    return {"mu": mean_mu, "tau": mean_tau, "theta": mean_theta}


@pytest.fixture(scope="module")
def eight_schools_flat():
    spec = ModelSpec(
        "estimate", "school", family="known_se", se="se",
        priors={"intercept": Prior("flat"), "sd(intercept)": Prior("halfflat")},
        sampler=SamplerSettings(draws=1500, tune=1000, chains=2, seed=8, target_accept=0.99),
    )
    return fit(read_table(SAMPLE_DATA / "eight_schools.csv"), spec)


def test_exact_integration_reproduces_bda():
    """BDA3 section 5.5 reports for the uniform prior a posterior mean effect of about 8 points with every school
    shrunk strongly toward it; school A's posterior median is about 10 (Table 5.3)."""
    exact = exact_eight_schools_posterior_means()
    assert exact["mu"] == pytest.approx(8.0, abs=0.5)
    assert exact["theta"][0] == pytest.approx(11.0, abs=1.5)
    assert np.all(np.abs(exact["theta"] - exact["mu"]) < np.abs(SCHOOL_ESTIMATES - exact["mu"]))


def test_eight_schools_flat_prior_matches_exact_integration(eight_schools_flat):
    """NUTS posterior means agree with the exact ones within 4 Monte-Carlo standard errors (sd / sqrt(ESS))."""
    exact = exact_eight_schools_posterior_means()
    population = eight_schools_flat.population().set_index("name")
    for name, reference in (("intercept", exact["mu"]), ("sd(intercept)", exact["tau"])):
        row = population.loc[name]
        mcse = row["sd"] / np.sqrt(row["ess_bulk"])
        assert abs(row["mean"] - reference) < 4 * mcse + 0.05, name

    groups = eight_schools_flat.groups().set_index("group")
    draws = eight_schools_flat.draws["b"].sel(varying_term="intercept")
    for j, school in enumerate("ABCDEFGH"):
        mcse = groups.loc[school, "sd"] / np.sqrt(_ess(draws.sel(group=school).to_numpy()))
        assert abs(groups.loc[school, "mean"] - exact["theta"][j]) < 4 * mcse + 0.05, school


def test_eight_schools_map_collapses_while_posterior_mean_does_not(eight_schools_flat):
    """The joint mode of the centred hierarchical model sits at tau -> 0, where every school equals mu (the
    density is unbounded there: BDA3 section 5.4 and Gelman 2006, "Prior distributions for variance
    parameters"). The posterior mean keeps the schools apart."""
    result = eight_schools_flat
    assert result.map_collapsed() == {"sd(intercept)": True}
    population = result.population().set_index("name")
    assert population.loc["sd(intercept)", "map"] < 0.01 * population.loc["sd(intercept)", "mean"]
    assert population.loc["sd(intercept)", "mean"] > 2.0

    schools = result.groups().set_index("group")
    assert np.ptp(schools["map"]) < 0.01 * np.ptp(schools["mean"])
    assert np.ptp(schools["mean"]) > 3.0
    # At the collapsed mode each school equals the population mean.
    assert schools["map"].to_numpy() == pytest.approx(population.loc["intercept", "map"], abs=0.05)


def _ess(samples: np.ndarray) -> float:
    from arviz_stats.base import array_stats

    return float(array_stats.ess(samples, chain_axis=0, draw_axis=1, method="bulk"))
