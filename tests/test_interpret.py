"""hiermodels.results.interpret on fake posteriors with known properties (no sampling; see tests/fakes.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from fakes import constant, fake_data, fake_fit, fake_spec
from scipy import stats

from hiermodels.data.datasets import sample_by_name
from hiermodels.errors import SpecError
from hiermodels.model import build as m
from hiermodels.results import interpret
from hiermodels.results.fit_result import population_parameters

CHAINS, DRAWS = 4, 1000


def _partial_intercept(mu=2.0, tau=0.5, sigma=1.5, b=None, data=None, **spec_options):
    """Gaussian varying-intercept fit whose every draw is the same (mu, tau, sigma, b)."""
    data = data or fake_data()
    b = np.full((data.n_groups, 1), 3.0) if b is None else b
    draws = {
        m.POPULATION_MEAN: constant([mu], CHAINS, DRAWS),
        m.GROUP_SD: constant([tau], CHAINS, DRAWS),
        m.GROUP_COEFFICIENT: constant(b, CHAINS, DRAWS),
        m.SIGMA: constant(sigma, CHAINS, DRAWS),
    }
    return fake_fit(fake_spec("partial", **spec_options), data, draws)


def _random_partial(seed=0, slope=True, correlated=False, map_tau=(1e-7, 0.5), diverging=None):
    """A varying intercept (and slope) fit with random draws; the MAP of sd(intercept) sits at ~0."""
    rng = np.random.default_rng(seed)
    data = fake_data(slope=slope)
    k = 2 if slope else 1
    mu = rng.normal(0, 1, (CHAINS, DRAWS, k))
    tau = rng.lognormal(np.log(0.6), 0.3, (CHAINS, DRAWS, k))
    b = mu[:, :, None, :] + tau[:, :, None, :] * rng.normal(size=(CHAINS, DRAWS, data.n_groups, k))
    draws = {m.POPULATION_MEAN: mu, m.GROUP_SD: tau, m.GROUP_COEFFICIENT: b,
             m.SIGMA: rng.lognormal(0, 0.1, (CHAINS, DRAWS))}
    if correlated:
        draws[m.CORRELATION] = constant([[1.0, 0.3], [0.3, 1.0]], CHAINS, DRAWS)
    map_point = {m.POPULATION_MEAN: np.zeros(k), m.GROUP_SD: np.asarray(map_tau[:k]),
                 m.GROUP_COEFFICIENT: np.full((data.n_groups, k), 0.25), m.SIGMA: np.asarray(1.0)}
    spec = fake_spec("partial", slope=slope, correlated=correlated)
    return fake_fit(spec, data, draws, map_point=map_point, diverging=diverging)


# ------------------------------------------------------------------------------------------------ thinning
@pytest.mark.parametrize(("n", "max_points"), [(4000, 4000), (4000, 1000), (4000, 999), (7, 3), (5, 100)])
def test_thinning_keeps_at_most_max_points_evenly(n, max_points):
    kept = interpret.thinned_indices(n, max_points)
    assert 0 < kept.size <= max_points
    assert kept[0] == 0
    assert len(set(np.diff(kept))) <= 1  # every k-th draw
    if n <= max_points:
        assert kept.size == n


# ------------------------------------------------------------------------------------------------ MAP vs mean
def test_map_vs_mean_flags_the_collapsed_scale_and_its_groups():
    result = _random_partial(map_tau=(1e-7, 0.5))
    table = interpret.map_vs_mean_table(result)

    assert list(table.columns[:3]) == ["level", "name", "term"]
    assert {"mean", "lower", "upper", "map", "collapsed"} <= set(table.columns)
    n_population = len(population_parameters(result.spec, result.data))
    assert (table["level"] == "population").sum() == n_population
    assert (table["level"] == "group").sum() == result.data.n_groups * 2
    population = table[table["level"] == "population"].set_index("name")
    assert population.loc["sd(intercept)", "collapsed"]  # MAP 1e-7 against a mean of ~0.6
    assert not population.loc["sd(x)", "collapsed"]  # MAP 0.5
    assert not population.loc[["intercept", "x", "sigma"], "collapsed"].any()
    groups = table[table["level"] == "group"]
    assert groups.loc[groups["term"] == "intercept", "collapsed"].all()
    assert not groups.loc[groups["term"] == "x", "collapsed"].any()
    assert (groups["map"] == 0.25).all()
    assert set(groups["name"]) == set(result.data.group_labels)
    assert population.loc["sd(x)", "term"] == "x"
    assert table["collapsed"].dtype == bool


def test_map_vs_mean_without_a_map_flags_nothing():
    result = _partial_intercept()
    table = interpret.map_vs_mean_table(result)
    assert table["map"].isna().all()
    assert not table["collapsed"].any()


def test_map_vs_mean_under_no_pooling_has_group_rows_and_no_scale():
    data = fake_data()
    result = fake_fit(fake_spec("none"), data, {
        m.GROUP_COEFFICIENT: constant(np.ones((data.n_groups, 1)), CHAINS, DRAWS),
        m.SIGMA: constant(1.0, CHAINS, DRAWS),
    })
    table = interpret.map_vs_mean_table(result)
    assert table.loc[table["level"] == "population", "name"].tolist() == ["sigma"]
    assert (table["level"] == "group").sum() == data.n_groups
    assert not table["collapsed"].any()


# ------------------------------------------------------------------------------------------------ group scale
def test_scale_draws_are_thinned_draws_of_tau_and_estimates_use_all_draws():
    result = _random_partial()
    tau = result.draws[m.GROUP_SD].sel(varying_term="x").to_numpy().reshape(-1)
    frame = interpret.scale_draws(result, "x", max_points=300)
    assert list(frame.columns) == ["value"]
    assert 0 < len(frame) <= 300
    np.testing.assert_array_equal(frame["value"].to_numpy(), tau[interpret.thinned_indices(tau.size, 300)])
    estimates = interpret.scale_estimates(result, "x")
    assert estimates.name == "sd(x)"
    assert estimates.mean == pytest.approx(tau.mean())
    assert estimates.map == 0.5
    assert not estimates.collapsed
    assert interpret.scale_estimates(result, "intercept").collapsed


def test_scale_draws_need_partial_pooling_and_a_varying_term():
    data = fake_data()
    none = fake_fit(fake_spec("none"), data, {m.GROUP_COEFFICIENT: constant(np.ones((data.n_groups, 1)))})
    with pytest.raises(SpecError, match="partial-pooling"):
        interpret.scale_draws(none, "intercept")
    with pytest.raises(SpecError, match="does not vary"):
        interpret.scale_draws(_random_partial(), "floor")


# ------------------------------------------------------------------------------------------------ funnel
def test_funnel_draws_pair_tau_with_the_groups_deviation():
    diverging = np.zeros((CHAINS, DRAWS), dtype=bool)
    diverging[1, ::7] = True
    result = _random_partial(diverging=diverging)
    frame = interpret.funnel_draws(result, "intercept", "g2", max_points=500)
    assert {"log_sd", "sd", "deviation", "divergent"} <= set(frame.columns)
    assert 0 < len(frame) <= 500
    keep = interpret.thinned_indices(CHAINS * DRAWS, 500)
    posterior = result.draws
    tau = posterior[m.GROUP_SD].sel(varying_term="intercept").to_numpy().reshape(-1)[keep]
    deviation = (posterior[m.GROUP_COEFFICIENT].sel(group="g2", varying_term="intercept")
                 - posterior[m.POPULATION_MEAN].sel(varying_term="intercept")).to_numpy().reshape(-1)[keep]
    np.testing.assert_allclose(frame["sd"], tau)
    np.testing.assert_allclose(frame["log_sd"], np.log(tau))
    np.testing.assert_allclose(frame["deviation"], deviation)
    np.testing.assert_array_equal(frame["divergent"], diverging.reshape(-1)[keep])


def test_funnel_map_point_and_unknown_group():
    result = _random_partial()
    point = interpret.funnel_map_point(result, "intercept", "g0")
    assert point == {"sd": pytest.approx(1e-7), "log_sd": pytest.approx(np.log(1e-7)), "deviation": 0.25}
    assert interpret.funnel_map_point(_partial_intercept(), "intercept", "g0") is None  # no MAP
    with pytest.raises(SpecError, match="no group 'nope'"):
        interpret.funnel_draws(result, "intercept", "nope")


# ------------------------------------------------------------------------------------------------ ellipses
@pytest.mark.parametrize("correlated", [True, False])
def test_population_ellipse_has_the_chi_square_mahalanobis_radius(correlated):
    data = fake_data(slope=True)
    mu, tau, rho = np.array([1.0, -2.0]), np.array([0.5, 2.0]), 0.7
    draws = {
        m.POPULATION_MEAN: constant(mu, CHAINS, DRAWS),
        m.GROUP_SD: constant(tau, CHAINS, DRAWS),
        m.GROUP_COEFFICIENT: constant(np.zeros((data.n_groups, 2)), CHAINS, DRAWS),
        m.SIGMA: constant(1.0, CHAINS, DRAWS),
    }
    if correlated:
        draws[m.CORRELATION] = constant([[1.0, rho], [rho, 1.0]], CHAINS, DRAWS)
    result = fake_fit(fake_spec("partial", slope=True, correlated=correlated), data, draws)

    frame = interpret.population_ellipse(result, "intercept", "x", probs=(0.5, 0.9), n_points=60)
    assert list(frame.columns) == ["prob", "order", "x", "y"]
    assert len(frame) == 120
    r = rho if correlated else 0.0
    cov = np.array([[tau[0] ** 2, r * tau[0] * tau[1]], [r * tau[0] * tau[1], tau[1] ** 2]])
    for p, curve in frame.groupby("prob"):
        offsets = curve[["x", "y"]].to_numpy() - mu
        distance = np.sqrt(np.einsum("ij,jk,ik->i", offsets, np.linalg.inv(cov), offsets))
        np.testing.assert_allclose(distance, np.sqrt(stats.chi2.ppf(p, 2)), rtol=1e-10)
        np.testing.assert_allclose(curve[["x", "y"]].iloc[0], curve[["x", "y"]].iloc[-1])  # closed
        assert curve["order"].tolist() == list(range(60))


# ------------------------------------------------------------------------------------------------ predictions
def test_new_group_prediction_has_mean_mu_and_sd_from_tau_and_sigma():
    """Fixed draws mu=2, tau=0.5, sigma=1.5. With N = 4,000 draws, the sample mean's MC error is
    sd/sqrt(N) (about 0.025 here; we allow 4 of them) and an sd's relative error is about 1/sqrt(2N) = 1.1%
    (we allow 5%)."""
    mu, tau, sigma = 2.0, 0.5, 1.5
    result = _partial_intercept(mu=mu, tau=tau, sigma=sigma)
    frame = interpret.prediction_draws(result, "g1", max_points=4000)
    assert list(frame.columns) == ["target", "group", "quantity", "value"]
    series = frame.groupby(["target", "quantity"])["value"]
    assert series.size().eq(4000).all()

    new_mean = series.get_group(("new group", "group mean"))
    assert new_mean.mean() == pytest.approx(mu, abs=4 * tau / np.sqrt(4000))
    assert new_mean.std() == pytest.approx(tau, rel=0.05)
    new_obs = series.get_group(("new group", "new observation"))
    total = np.sqrt(tau**2 + sigma**2)
    assert new_obs.mean() == pytest.approx(mu, abs=4 * total / np.sqrt(4000))
    assert new_obs.std() == pytest.approx(total, rel=0.05)

    existing_mean = series.get_group(("existing group", "group mean"))
    assert (existing_mean == 3.0).all()  # the group's own coefficient at every draw
    existing_obs = series.get_group(("existing group", "new observation"))
    assert existing_obs.std() == pytest.approx(sigma, rel=0.05)
    assert set(frame.loc[frame["target"] == "existing group", "group"]) == {"g1"}
    assert frame.loc[frame["target"] == "new group", "group"].isna().all()


def test_correlated_new_group_uses_the_correlation():
    """At x = 1 a new group's mean is b0 + b1 with variance tau0^2 + tau1^2 + 2 rho tau0 tau1 = 1.53."""
    data = fake_data(slope=True)
    mu, tau, rho = np.array([1.0, -0.5]), np.array([0.5, 0.8]), 0.8
    result = fake_fit(fake_spec("partial", slope=True, correlated=True), data, {
        m.POPULATION_MEAN: constant(mu, CHAINS, DRAWS),
        m.GROUP_SD: constant(tau, CHAINS, DRAWS),
        m.CORRELATION: constant([[1.0, rho], [rho, 1.0]], CHAINS, DRAWS),
        m.GROUP_COEFFICIENT: constant(np.zeros((data.n_groups, 2)), CHAINS, DRAWS),
        m.SIGMA: constant(1.0, CHAINS, DRAWS),
    })
    frame = interpret.prediction_draws(result, None, {"x": 1.0}, max_points=4000)
    assert set(frame["target"]) == {"new group"}
    means = frame.loc[frame["quantity"] == "group mean", "value"]
    variance = tau[0] ** 2 + tau[1] ** 2 + 2 * rho * tau[0] * tau[1]
    assert means.mean() == pytest.approx(mu.sum(), abs=4 * np.sqrt(variance / 4000))
    assert means.std() == pytest.approx(np.sqrt(variance), rel=0.05)


def test_predictions_are_reproducible_and_thinned():
    result = _random_partial()
    first = interpret.prediction_draws(result, "g0", {"x": 1.0}, max_points=250)
    second = interpret.prediction_draws(result, "g0", {"x": 1.0}, max_points=250)
    pd.testing.assert_frame_equal(first, second)
    assert first.groupby(["target", "quantity"]).size().le(250).all()
    assert len(interpret.prediction_draws(result, "g0")) <= 4 * interpret.MAX_PREDICTION_POINTS < 5000


def test_no_pooling_cannot_predict_a_new_group():
    data = fake_data()
    result = fake_fit(fake_spec("none"), data, {
        m.GROUP_COEFFICIENT: constant(np.arange(data.n_groups, dtype=float)[:, None]),
        m.SIGMA: constant(1.0),
    })
    with pytest.raises(SpecError, match="new group cannot be predicted"):
        interpret.prediction_draws(result, None)
    frame = interpret.prediction_draws(result, "g4")
    assert set(frame["target"]) == {"existing group"}
    assert (frame.loc[frame["quantity"] == "group mean", "value"] == 4.0).all()


def test_complete_pooling_predicts_the_same_for_existing_and_new_groups():
    data = fake_data()
    result = fake_fit(fake_spec("complete"), data, {
        m.COMMON: np.random.default_rng(1).normal(5, 0.1, (CHAINS, DRAWS, 1)),
        m.SIGMA: constant(1.0),
    })
    frame = interpret.prediction_draws(result, "g2")
    existing = frame[frame["target"] == "existing group"].reset_index(drop=True)
    new = frame[frame["target"] == "new group"].reset_index(drop=True)
    np.testing.assert_array_equal(existing["value"], new["value"])
    assert set(interpret.prediction_draws(result, None)["target"]) == {"new group"}


def test_binomial_gives_probabilities_only():
    data = fake_data()
    b = np.linspace(-2, 2, data.n_groups)[:, None]
    result = fake_fit(fake_spec("partial", family="binomial"), data, {
        m.POPULATION_MEAN: constant([0.0]), m.GROUP_SD: constant([1.0]), m.GROUP_COEFFICIENT: constant(b),
    })
    frame = interpret.prediction_draws(result, "g0")
    assert set(frame["quantity"]) == {"group mean"}
    existing = frame.loc[frame["target"] == "existing group", "value"]
    np.testing.assert_allclose(existing, 1 / (1 + np.exp(2.0)))
    assert frame["value"].between(0, 1).all()


@pytest.mark.parametrize("family", ["poisson", "gamma"])
def test_log_link_families_predict_exp_eta_and_the_likelihoods_noise(family):
    """eta = log 3 at every draw: the group mean is 3; new observations have mean 3 and variance 3 (poisson)
    or 3^2 / alpha with alpha = 4 (gamma). 4,000 draws; tolerances of 4 MC standard errors / 8%."""
    data = fake_data()
    draws = {m.POPULATION_MEAN: constant([np.log(3.0)]), m.GROUP_SD: constant([0.1]),
             m.GROUP_COEFFICIENT: constant(np.full((data.n_groups, 1), np.log(3.0)))}
    if family == "gamma":
        draws[m.GAMMA_SHAPE] = constant(4.0)
    result = fake_fit(fake_spec("partial", family=family), data, draws)
    frame = interpret.prediction_draws(result, "g3", max_points=4000)
    existing = frame[frame["target"] == "existing group"]
    np.testing.assert_allclose(existing.loc[existing["quantity"] == "group mean", "value"], 3.0)
    observations = existing.loc[existing["quantity"] == "new observation", "value"]
    variance = 3.0 if family == "poisson" else 9.0 / 4.0
    assert observations.mean() == pytest.approx(3.0, abs=4 * np.sqrt(variance / 4000))
    assert observations.var() == pytest.approx(variance, rel=0.08)
    if family == "poisson":
        assert np.all(observations == np.round(observations))


def test_known_se_uses_the_groups_own_se_and_the_mean_se_for_a_new_group():
    data = fake_data(sizes=(1,) * 8, se=True)
    tau = 2.0
    result = fake_fit(fake_spec("partial", family="known_se", se=True), data, {
        m.POPULATION_MEAN: constant([0.0]), m.GROUP_SD: constant([tau]),
        m.GROUP_COEFFICIENT: constant(np.zeros((data.n_groups, 1))),
    })
    frame = interpret.prediction_draws(result, "g5", max_points=4000)
    series = frame.groupby(["target", "quantity"])["value"]
    assert series.get_group(("existing group", "new observation")).std() == pytest.approx(data.se[5], rel=0.05)
    expected = np.sqrt(tau**2 + data.se.mean() ** 2)
    assert series.get_group(("new group", "new observation")).std() == pytest.approx(expected, rel=0.05)


def test_prediction_rejects_unknown_columns_and_groups():
    result = _random_partial()
    with pytest.raises(SpecError, match="'floor' is not a predictor column"):
        interpret.prediction_draws(result, "g0", {"floor": 1.0})
    with pytest.raises(SpecError, match="no group"):
        interpret.prediction_draws(result, "G0")


# ------------------------------------------------------------------------------------------------ convergence
def test_trace_draws_are_thinned_per_chain():
    result = _random_partial()
    frame = interpret.trace_draws(result, "sd(x)", max_points=1000)
    assert list(frame.columns) == ["name", "chain", "draw", "value"]
    assert len(frame) <= 1000
    assert frame.groupby("chain").size().nunique() == 1
    values = result.draws[m.GROUP_SD].sel(varying_term="x").to_numpy()
    row = frame.iloc[-1]
    assert row["value"] == values[int(row["chain"]), int(row["draw"])]
    with pytest.raises(SpecError, match="no population parameter 'sd\\(y\\)'"):
        interpret.trace_draws(result, "sd(y)")


def test_rank_table_counts_sum_to_the_draws_per_chain():
    result = _random_partial()
    table = interpret.rank_table(result, "intercept", bins=20)
    assert list(table.columns) == ["name", "chain", "bin", "count", "expected"]
    assert len(table) == CHAINS * 20
    assert table.groupby("chain")["count"].sum().eq(DRAWS).all()
    assert (table["expected"] == DRAWS / 20).all()
    # Independent draws: every bin within 5 binomial sds of 50.
    assert (table["count"] - 50).abs().max() < 5 * np.sqrt(50)


def test_rank_table_shows_a_chain_stuck_low():
    data = fake_data()
    rng = np.random.default_rng(3)
    mu = rng.normal(size=(CHAINS, DRAWS, 1))
    mu[0] -= 10  # chain 0 never mixes with the others
    result = fake_fit(fake_spec("partial"), data, {
        m.POPULATION_MEAN: mu, m.GROUP_SD: constant([1.0]), m.GROUP_COEFFICIENT: constant(np.zeros((8, 1))),
        m.SIGMA: constant(1.0),
    })
    table = interpret.rank_table(result, "intercept", bins=4)
    chain0 = table[table["chain"] == 0].set_index("bin")["count"]
    assert chain0[0] == DRAWS and chain0[1:].sum() == 0


def test_group_sizes():
    data = fake_data(sizes=(3, 1, 4))
    frame = interpret.group_sizes(data)
    assert frame.to_dict("list") == {"group": ["g0", "g1", "g2"], "n": [3, 1, 4]}


# ------------------------------------------------------------------------------------------------ funnel shape
def _funnel(low_spread: float, high_spread: float) -> pd.DataFrame:
    """Eight draws with sd 1..8: the quartiles (2.75, 6.25) put sd 1, 2 in the lowest quarter and 7, 8 in the
    highest, whose deviations are +-low_spread and +-high_spread, so the rms ratio is low_spread / high_spread."""
    sd = np.arange(1.0, 9.0)
    deviation = np.array([low_spread, -low_spread, 0.3, -0.2, 0.1, 0.4, high_spread, -high_spread])
    return pd.DataFrame({"sd": sd, "log_sd": np.log(sd), "deviation": deviation, "divergent": False})


@pytest.mark.parametrize(("low", "high", "kind"), [(1.0, 4.0, "neck"), (0.6, 1.0, "narrows a little"),
                                                   (0.76, 1.0, "round"), (2.0, 2.0, "round"), (3.0, 2.0, "round")])
def test_funnel_shape_compares_the_spread_at_small_and_large_sd(low, high, kind):
    shape = interpret.funnel_shape(_funnel(low, high))
    assert shape.ratio == pytest.approx(low / high)
    assert (shape.low_sd, shape.high_sd, shape.min_sd, shape.max_sd) == (2.75, 6.25, 1.0, 8.0)
    assert shape.kind == kind
    text = shape.description
    if kind == "neck":
        assert text.startswith("The cloud narrows to a neck") and f"{low / high:.0%} as wide" in text
    elif kind == "round":
        assert text.startswith("A round cloud: the data pin the group-level sd away from 0")
        assert "no neck" in text and "from 1 to 8" in text
    else:
        assert "hardly a neck" in text


def test_funnel_shape_of_sampled_funnels():
    """A real funnel (log tau ~ N(0, 1), deviation ~ N(0, tau)) has a neck; a posterior whose tau is pinned at
    0.3 +- 5% (like radon's county sd) is a round cloud."""
    rng = np.random.default_rng(7)
    tau = np.exp(rng.normal(0.0, 1.0, 4000))
    neck = interpret.funnel_shape(pd.DataFrame({"sd": tau, "deviation": tau * rng.normal(size=tau.size)}))
    assert neck.kind == "neck" and neck.ratio < 0.3
    tau = 0.3 * np.exp(rng.normal(0.0, 0.05, 4000))
    pinned = interpret.funnel_shape(pd.DataFrame({"sd": tau, "deviation": 0.2 + tau * rng.normal(size=tau.size)}))
    assert pinned.kind == "round" and pinned.ratio > interpret.ROUND_RATIO


def test_funnel_shape_needs_draws():
    with pytest.raises(SpecError, match="at least 8 draws"):
        interpret.funnel_shape(pd.DataFrame({"sd": [1.0, 0.0, np.nan], "deviation": [0.0, 1.0, 2.0]}))
    with pytest.raises(ValueError, match="'deviation'"):
        interpret.funnel_shape(pd.DataFrame({"sd": [1.0]}))


# ------------------------------------------------------------------------------------------------ shrinkage axis
def _shrinkage_table(n, none, se, term="intercept", identified=None) -> pd.DataFrame:
    none, se = np.asarray(none, float), np.asarray(se, float)
    return pd.DataFrame({
        "group": [f"g{i}" for i in range(none.size)], "term": term, "n": n,
        "identified": True if identified is None else identified,
        "none": none, "none_lower": none - 1.96 * se, "none_upper": none + 1.96 * se,
        "partial": none / 2, "partial_lower": none / 2 - se, "partial_upper": none / 2 + se,
    })


def test_shrinkage_axis_is_group_size_when_sizes_differ():
    table = _shrinkage_table([1, 2, 2, 40], [0.5, -1.0, 2.0, 0.1], [1.0, 0.7, 0.7, 0.16])
    axis = interpret.shrinkage_axis(table, "intercept")
    assert axis.kind == "group size" and axis.log
    assert axis.frame["x"].tolist() == [1, 2, 2, 40]  # the true sizes: nothing jittered
    assert "log scale" in axis.title and "fewest rows" in axis.caption


def test_shrinkage_axis_ranks_equally_certain_groups_of_equal_size():
    """sleepstudy: every subject has 10 days and the same design, so n and the interval widths say nothing."""
    none = [251.0, 212.0, 203.0, 290.0, 285.0]
    table = _shrinkage_table(10, none, [10.0, 10.3, 9.8, 10.1, 10.0])
    axis = interpret.shrinkage_axis(table, "intercept")
    assert axis.kind == "rank" and not axis.log
    assert axis.frame["x"].tolist() == [3, 2, 1, 5, 4]  # 1 = lowest own estimate
    assert "order of their own" in axis.title
    assert "n = 10" in axis.caption and "equally certain" in axis.caption


def test_shrinkage_axis_uses_interval_width_when_only_that_differs():
    """Eight schools: one row per school, standard errors 9 to 18."""
    se = np.array([15, 10, 16, 11, 9, 11, 10, 18.0])
    table = _shrinkage_table(1, [28, 8, -3, 7, -1, 1, 18, 12], se)
    axis = interpret.shrinkage_axis(table, "intercept")
    assert axis.kind == "interval width"
    np.testing.assert_allclose(axis.frame["x"], 2 * 1.96 * se)
    assert "n = 1" in axis.caption and "width" in axis.title
    # Widths within a factor 1.5 of each other: ranks instead.
    assert interpret.shrinkage_axis(_shrinkage_table(1, [1, 2, 3], [1.0, 1.2, 1.4]), "intercept").kind == "rank"


def test_shrinkage_axis_ignores_unidentified_groups_widths():
    """A prior-driven interval of an unidentified group does not make the widths 'differ'."""
    table = _shrinkage_table(5, [1.0, 2.0, 0.0], [1.0, 1.1, 50.0], identified=[True, True, False])
    assert interpret.shrinkage_axis(table, "intercept").kind == "rank"


def test_shrinkage_axis_rejects_an_unknown_term():
    with pytest.raises(SpecError, match="no rows for the term 'slope'"):
        interpret.shrinkage_axis(_shrinkage_table(1, [1.0], [1.0]), "slope")


# ------------------------------------------------------------------------------------------------ truth
def _truth_case():
    table = pd.DataFrame({"group": ["a", "b", "c"], "term": "intercept", "n": 4, "identified": True,
                          "none": [0.1, 0.2, 0.35], "partial": [0.15, 0.2, 0.3], "complete": 0.2})
    truth = pd.DataFrame({"group": ["c", "b", "a", "extra"], "truth": [0.25, 0.2, 0.2, 0.9]})
    return table, truth


def test_truth_errors_are_sums_of_squares():
    table, truth = _truth_case()
    errors = interpret.truth_errors(table, truth).set_index("pooling")
    assert errors.index.tolist() == ["none", "partial", "complete"]
    # none: 0.1^2 + 0 + 0.1^2; partial: 0.05^2 + 0 + 0.05^2; complete: 0 + 0 + 0.05^2.
    np.testing.assert_allclose(errors["sum_squared_error"], [0.02, 0.005, 0.0025])
    np.testing.assert_allclose(errors["mean_squared_error"], [0.02 / 3, 0.005 / 3, 0.0025 / 3])
    np.testing.assert_allclose(errors["relative_to_no_pooling"], [1.0, 0.25, 0.125])
    assert (errors["groups"] == 3).all()
    assert errors.loc["partial", "estimate"] == "partial pooling"
    summary = interpret.truth_summary(errors.reset_index())
    assert "closer to the truth" in summary and "25% of no pooling's" in summary


def test_truth_comparison_is_long_with_an_axis_per_estimate():
    table, truth = _truth_case()
    long = interpret.truth_comparison(table, truth)
    assert list(long.columns) == ["group", "axis", "order", "value"]
    assert len(long) == 3 * 4
    by_axis = long.groupby("axis")["order"].first().to_dict()
    assert by_axis == {"no pooling": 0, "partial pooling": 1, "truth": 2, "complete pooling": -1}
    truth_rows = long[long["axis"] == "truth"].set_index("group")["value"]
    assert truth_rows.to_dict() == {"a": 0.2, "b": 0.2, "c": 0.25}  # matched by group, not by position


def test_truth_needs_every_group():
    table, truth = _truth_case()
    with pytest.raises(SpecError, match="no number for the group\\(s\\) 'a'"):
        interpret.truth_errors(table, truth[truth["group"] != "a"])
    with pytest.raises(SpecError, match="more than one value"):
        interpret.truth_comparison(table, pd.concat([truth, truth]))
    with pytest.raises(ValueError, match="needs the column\\(s\\) truth"):
        interpret.truth_errors(table, truth.rename(columns={"truth": "value"}))


def test_baseball_raw_averages_total_squared_error_is_efron_and_morris():
    """Efron & Morris (1975), Table 1, as stated in sample_data/README.md: against the rest-of-season averages,
    the 18 raw averages hits/45 have a total squared error of 0.075, and the James-Stein estimates (shrunk ~79%
    toward the grand mean 0.265, c = 1 - (k - 3) s^2 / sum (z - zbar)^2 with s^2 = zbar (1 - zbar) / 45) 0.021."""
    sample = sample_by_name("Baseball batting averages")
    frame = sample.load()
    raw = pd.to_numeric(frame["hits"]) / pd.to_numeric(frame["at_bats"])
    grand = raw.mean()
    c = 1 - (len(raw) - 3) * grand * (1 - grand) / 45 / ((raw - grand) ** 2).sum()
    table = pd.DataFrame({"group": frame["player"], "term": "intercept", "n": 1, "identified": True,
                          "none": raw, "partial": grand + c * (raw - grand)})
    errors = interpret.truth_errors(table, sample.load_truth()).set_index("pooling")["sum_squared_error"]
    assert round(errors["none"], 3) == 0.075
    assert round(grand, 3) == 0.265 and round(1 - c, 2) == 0.79
    assert round(errors["partial"], 3) == 0.021


def test_samples_with_a_truth_load_it_as_group_and_number():
    baseball = sample_by_name("Baseball batting averages")
    truth = baseball.load_truth()
    assert list(truth.columns) == ["group", "truth"] and len(truth) == 18
    assert truth.set_index("group").loc["Roberto Clemente", "truth"] == 0.346
    daughters = sample_by_name("Daughters' heights")
    truth = daughters.load_truth().set_index("group")["truth"]
    assert truth.index.tolist() == [f"F0{i}" for i in range(1, 9)]
    assert truth["F01"] == 128.895
    assert baseball.truth_applies(baseball.spec) and daughters.truth_applies(daughters.spec)
    assert not baseball.truth_applies(replace(baseball.spec, outcome="remaining_hits", trials="remaining_at_bats"))
    radon = sample_by_name("Minnesota radon")
    assert radon.truth is None and not radon.truth_applies(radon.spec)
    with pytest.raises(SpecError, match="no held-out truth"):
        radon.load_truth()


def test_truth_errors_judge_the_raw_data_summary_too():
    """The shrinkage table's ``raw`` column (hits / at-bats for baseball) gets a first row of its own."""
    table, truth = _truth_case()
    errors = interpret.truth_errors(table.assign(raw=[0.0, 0.2, 0.45]), truth)
    assert errors["pooling"].tolist() == ["raw", "none", "partial", "complete"]
    raw = errors.iloc[0]
    assert raw["estimate"] == interpret.RAW_LABEL
    assert raw["sum_squared_error"] == pytest.approx(0.2**2 + 0 + 0.2**2)
    assert raw["relative_to_no_pooling"] == pytest.approx(0.08 / 0.02)
    # A group without a raw value (a proportion of 0 on the link scale): no raw row rather than a NaN error.
    assert "raw" not in set(interpret.truth_errors(table.assign(raw=[np.nan, 0.2, 0.45]), truth)["pooling"])


def test_own_estimates_read_the_raw_summary_where_the_model_has_an_intercept_only():
    """Baseball's circles are hits / at-bats (Efron & Morris's raw averages), not the no-pooling posterior mean;
    a table without raw values is returned as it is."""
    table = pd.DataFrame({"group": ["a", "b", "c"], "term": "intercept", "none": [0.39, 0.21, 0.30],
                          "partial": [0.30, 0.25, 0.28], "raw": [18 / 45, 9 / 45, np.nan]})
    charted, caption = interpret.own_estimates(table)
    np.testing.assert_array_equal(charted["none"], [18 / 45, 9 / 45, 0.30])
    assert table["none"].tolist() == [0.39, 0.21, 0.30]  # the caller's table is unchanged
    assert "raw proportion" in caption
    plain, no_caption = interpret.own_estimates(table.drop(columns="raw"))
    assert plain is not None and no_caption == ""
    np.testing.assert_array_equal(plain["none"], table["none"])
