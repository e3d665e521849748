"""The variance decomposition (hiermodels.results.variance) against its closed forms, on fake draws (no sampling)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from fakes import constant, fake_data, fake_fit, fake_spec

from hiermodels.data.preparing import FactorData
from hiermodels.model import build as m
from hiermodels.model.spec import GroupingFactor
from hiermodels.results.variance import LOGISTIC_VARIANCE, unavailable_reason, variance_decomposition

RNG = np.random.default_rng(7)
CHAINS, DRAWS = 2, 300


def positive(*shape: int, scale: float = 1.0) -> np.ndarray:
    return scale * RNG.lognormal(0.0, 0.5, (CHAINS, DRAWS, *shape))


def one_factor_fit(family: str = "gaussian"):
    data = fake_data()
    tau, sigma = positive(1), positive(scale=0.8)
    draws = {m.POPULATION_MEAN: constant([0.0], CHAINS, DRAWS), m.GROUP_SD: tau,
             m.GROUP_COEFFICIENT: RNG.normal(size=(CHAINS, DRAWS, data.n_groups, 1))}
    if family == "gaussian":
        draws[m.SIGMA] = sigma
    return fake_fit(fake_spec(family=family), data, draws), tau[..., 0].reshape(-1), sigma.reshape(-1)


def test_one_intercept_factor_gives_the_intraclass_correlation_in_every_draw():
    fit, tau, sigma = one_factor_fit()
    decomposition = variance_decomposition(fit)
    assert decomposition is not None
    shares = decomposition.draws
    assert list(shares.columns) == ["g", "residual"]
    np.testing.assert_allclose(shares["g"], tau**2 / (tau**2 + sigma**2), rtol=1e-12)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-12)
    summary = decomposition.summary.set_index("component")
    icc = tau**2 / (tau**2 + sigma**2)
    assert summary.at["g", "mean"] == pytest.approx(icc.mean(), rel=1e-12)
    assert summary.at["g", "lower"] == pytest.approx(np.quantile(icc, 0.025), rel=1e-12)
    assert summary.at["residual", "upper"] == pytest.approx(np.quantile(1 - icc, 0.975), rel=1e-12)
    assert list(summary["kind"]) == ["factor", "residual"]


def crossed_fit(family: str = "gaussian"):
    """Groups g (the fake data's eight) crossed with three groups of a second factor h."""
    data = fake_data()
    index = np.arange(data.n_rows) % 3
    data = replace(data, factors=(FactorData("h", index, ("h0", "h1", "h2")),))
    spec = replace(fake_spec(family=family), factors=(GroupingFactor("h"),))
    tau, tau_h, sigma = positive(1), positive(1, scale=2.0), positive(scale=0.5)
    draws = {m.POPULATION_MEAN: constant([0.0], CHAINS, DRAWS), m.GROUP_SD: tau,
             m.GROUP_COEFFICIENT: RNG.normal(size=(CHAINS, DRAWS, data.n_groups, 1)),
             m.factor_name(m.GROUP_SD, 1): tau_h,
             m.factor_name(m.GROUP_COEFFICIENT, 1): RNG.normal(size=(CHAINS, DRAWS, 3, 1))}
    if family == "gaussian":
        draws[m.SIGMA] = sigma
    flat = [v[..., 0].reshape(-1) if v.ndim == 3 else v.reshape(-1) for v in (tau, tau_h, sigma)]
    return fake_fit(spec, data, draws), *flat


def test_crossed_intercept_factors_share_the_variance_by_their_squared_sds():
    fit, tau, tau_h, sigma = crossed_fit()
    decomposition = variance_decomposition(fit)
    assert decomposition is not None
    shares = decomposition.draws
    total = tau**2 + tau_h**2 + sigma**2
    assert list(shares.columns) == ["g", "h", "residual"]
    np.testing.assert_allclose(shares["g"], tau**2 / total, rtol=1e-12)
    np.testing.assert_allclose(shares["h"], tau_h**2 / total, rtol=1e-12)
    np.testing.assert_allclose(shares["residual"], sigma**2 / total, rtol=1e-12)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-12)


def test_binomial_uses_the_logistic_latent_residual():
    fit, tau, tau_h, _ = crossed_fit("binomial")
    decomposition = variance_decomposition(fit)
    assert decomposition is not None
    total = tau**2 + tau_h**2 + math.pi**2 / 3
    np.testing.assert_allclose(decomposition.draws["residual"], LOGISTIC_VARIANCE / total, rtol=1e-12)
    assert LOGISTIC_VARIANCE == pytest.approx(3.2899, abs=1e-4)
    assert "latent" in decomposition.residual_note


def test_a_correlated_slope_counts_its_variance_at_the_rows():
    """x alternates 0, 1 over the rows, so with Sigma = [[a², r a b], [r a b, b²]] the mean over rows of
    x_i' Sigma x_i is a² + 2 r a b p + b² p, with p the share of rows where x = 1."""
    data = fake_data(slope=True)
    a, b = positive(), positive(scale=0.5)
    r = RNG.uniform(-0.9, 0.9, (CHAINS, DRAWS))
    corr = np.ones((CHAINS, DRAWS, 2, 2))
    corr[..., 0, 1] = corr[..., 1, 0] = r
    sigma = positive()
    fit = fake_fit(fake_spec(slope=True, correlated=True), data, {
        m.POPULATION_MEAN: constant([0.0, 0.0], CHAINS, DRAWS), m.GROUP_SD: np.stack([a, b], axis=-1),
        m.CORRELATION: corr, m.GROUP_COEFFICIENT: RNG.normal(size=(CHAINS, DRAWS, data.n_groups, 2)),
        m.SIGMA: sigma,
    })
    p = data.X[:, 1].mean()
    assert 0 < p < 1
    a, b, r, sigma = (v.reshape(-1) for v in (a, b, r, sigma))
    factor = a**2 + 2 * r * a * b * p + b**2 * p
    decomposition = variance_decomposition(fit)
    assert decomposition is not None
    np.testing.assert_allclose(decomposition.draws["g"], factor / (factor + sigma**2), rtol=1e-12)


def test_group_specific_noise_averages_each_rows_residual_variance():
    data = fake_data()
    tau, sigma_group = positive(1), positive(data.n_groups)
    fit = fake_fit(replace(fake_spec(), group_noise=True), data, {
        m.POPULATION_MEAN: constant([0.0], CHAINS, DRAWS), m.GROUP_SD: tau,
        m.GROUP_COEFFICIENT: RNG.normal(size=(CHAINS, DRAWS, data.n_groups, 1)), m.SIGMA: positive(),
        m.GROUP_SIGMA: sigma_group, m.LOG_SIGMA_SD: positive(),
    })
    flat_sigma = sigma_group.reshape(-1, data.n_groups)
    residual = (flat_sigma**2 * data.group_sizes).sum(axis=1) / data.n_rows
    tau = tau.reshape(-1)
    decomposition = variance_decomposition(fit)
    assert decomposition is not None
    np.testing.assert_allclose(decomposition.draws["g"], tau**2 / (tau**2 + residual), rtol=1e-12)


@pytest.mark.parametrize("family", ["poisson", "gamma"])
def test_no_decomposition_where_no_standard_latent_residual_exists(family):
    fit, _, _ = one_factor_fit(family)
    assert variance_decomposition(fit) is None
    assert family in unavailable_reason(fit) and "latent" in unavailable_reason(fit)


def test_no_decomposition_without_partial_pooling():
    data = fake_data()
    fit = fake_fit(fake_spec("none"), data, {
        m.GROUP_COEFFICIENT: RNG.normal(size=(CHAINS, DRAWS, data.n_groups, 1)), m.SIGMA: positive()})
    assert variance_decomposition(fit) is None
    assert "partial pooling" in unavailable_reason(fit)


def test_the_variance_chart_carries_each_share_and_its_interval():
    from hiermodels import charts

    fit, *_ = crossed_fit()
    decomposition = variance_decomposition(fit)
    assert decomposition is not None
    chart = charts.variance_chart(decomposition.summary, decomposition.residual_note, prob=decomposition.prob)
    spec = chart.to_dict()  # validates against Vega-Lite's schema
    assert spec["title"]["text"] == "Where the variance lies"
    # The note is in the subtitle, wrapped so that no line runs past the chart (the binomial's note is long).
    assert " ".join(spec["title"]["subtitle"][1:]) == decomposition.residual_note
    assert max(len(line) for line in spec["title"]["subtitle"]) <= charts.SUBTITLE_CHARACTERS
    long_note = "Residual: π²/3 ≈ 3.29, the variance of the logistic distribution, on the latent (log-odds) scale; " \
                "the shares are those of that latent variable."
    wrapped = charts.variance_chart(decomposition.summary, long_note).to_dict()["title"]["subtitle"]
    assert len(wrapped) == 3 and " ".join(wrapped[1:]) == long_note
    rows = next(iter(spec["datasets"].values()))
    assert [row["component"] for row in rows] == ["g", "h", "residual"]
    first = rows[0]
    assert first["label"] == f"{first['mean']:.1%}  [{first['lower']:.1%}, {first['upper']:.1%}]"
    with pytest.raises(Exception, match="no variance components"):
        charts.variance_chart(decomposition.summary.iloc[:0])


def test_penicillin_at_lme4s_estimates():
    """At lme4's REML estimates for ``lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)`` (Bates,
    Maechler, Bolker & Walker 2015, lme4 vignette: sd(plate) 0.847, sd(sample) 1.932, sigma 0.550) the shares are
    0.847² : 1.932² : 0.550² = 0.717 : 3.733 : 0.3025 of 4.753, i.e. 15.1%, 78.5% and 6.4%."""
    data = fake_data()
    data = replace(data, factors=(FactorData("sample", np.arange(data.n_rows) % 6, tuple("ABCDEF")),))
    spec = replace(fake_spec(), factors=(GroupingFactor("sample"),))
    fit = fake_fit(spec, data, {
        m.POPULATION_MEAN: constant([22.97], CHAINS, DRAWS), m.GROUP_SD: constant([0.847], CHAINS, DRAWS),
        m.GROUP_COEFFICIENT: constant(np.full((data.n_groups, 1), 22.97), CHAINS, DRAWS),
        m.factor_name(m.GROUP_SD, 1): constant([1.932], CHAINS, DRAWS),
        m.factor_name(m.GROUP_COEFFICIENT, 1): constant(np.zeros((6, 1)), CHAINS, DRAWS),
        m.SIGMA: constant(0.550, CHAINS, DRAWS),
    })
    decomposition = variance_decomposition(fit)
    assert decomposition is not None
    shares = decomposition.summary.set_index("component")["mean"]
    assert [round(100 * shares[c], 1) for c in ("g", "sample", "residual")] == [15.1, 78.5, 6.4]
