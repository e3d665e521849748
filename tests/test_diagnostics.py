"""Convergence diagnostics (hiermodels.results.diagnostics): the vectorised R-hat and ESS against arviz-stats' own
per-scalar functions, against closed forms, and the thresholds and grading that the CLI and the Diagnostics page
read. The parity on a real posterior (radon) is in tests/test_results.py."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from arviz_stats.base import array_stats

from hiermodels.model.spec import CAREFUL_SAMPLER, ModelSpec
from hiermodels.results.diagnostics import (
    DIVERGENCE_PROBLEM,
    ESS_PER_CHAIN,
    ESS_PROBLEM,
    R_HAT_LIMIT,
    R_HAT_PROBLEM,
    STATUSES,
    TAIL_PROB,
    Convergence,
    Diagnostics,
    assess,
    checks,
    convergence,
    grade,
)


def arviz_reference(draws: np.ndarray) -> np.ndarray:
    """(n, 3): R-hat, bulk ESS, tail ESS of each column of (chain, draw, n), one arviz-stats call per scalar
    (what results.py computed before the vectorised version; a constant or NaN column has none)."""
    rows = []
    for k in range(draws.shape[-1]):
        samples = draws[:, :, k]
        if not np.ptp(samples) > 0:
            rows.append((np.nan, np.nan, np.nan))
            continue
        rows.append((
            float(array_stats.rhat(samples, chain_axis=0, draw_axis=1)),
            float(array_stats.ess(samples, chain_axis=0, draw_axis=1, method="bulk")),
            float(array_stats.ess(samples, chain_axis=0, draw_axis=1, method="tail", prob=TAIL_PROB)),
        ))
    return np.array(rows).reshape(-1, 3)


def as_matrix(result: Convergence) -> np.ndarray:
    return np.column_stack([result.r_hat, result.ess_bulk, result.ess_tail])


def ar1(rng: np.random.Generator, chains: int, n_draws: int, n: int, phi: float) -> np.ndarray:
    """AR(1) chains x_t = phi x_{t-1} + e_t, started from the stationary distribution."""
    out = np.empty((chains, n_draws, n))
    out[:, 0] = rng.normal(size=(chains, n)) / math.sqrt(1 - phi**2)
    for t in range(1, n_draws):
        out[:, t] = phi * out[:, t - 1] + rng.normal(size=(chains, n))
    return out


def _cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20261130)
    with_constants = rng.normal(size=(4, 100, 5))
    with_constants[:, :, 0] = 3.0  # constant: no R-hat or ESS
    with_constants[0, 5, 1] = np.nan  # a NaN draw: none either
    with_constants[:, :, 2] = 0.0
    with_constants[0, 0, 2] = 1.0  # one draw apart: tail indicators constant at 5%, not at 95%
    return {
        "independent": rng.normal(size=(4, 1000, 30)),
        "sticky": ar1(rng, 4, 1000, 10, 0.95),  # Geyer's sequence runs long
        "alternating": ar1(rng, 4, 1000, 10, -0.7),  # negative autocorrelation: ESS above the draw count
        "odd draws": ar1(rng, 3, 101, 10, 0.5),  # the split leaves each chain's middle draw out
        "one chain": ar1(rng, 1, 200, 5, 0.5),  # no R-hat, ESS still
        "ties": rng.integers(0, 3, size=(4, 100, 8)).astype(float),  # average ranks, tied folded values
        "chains apart": rng.normal(size=(4, 500, 6)) + np.arange(4)[:, None, None],
        "four draws": rng.normal(size=(2, 4, 3)),  # the fewest arviz-stats accepts
        "constants and NaN": with_constants,
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_vectorised_equals_arviz_stats_per_scalar(case):
    draws = _cases()[case]
    assert np.allclose(as_matrix(convergence(draws)), arviz_reference(draws), rtol=1e-10, atol=0, equal_nan=True)


def test_nan_exactly_where_arviz_stats_has_no_number():
    draws = _cases()["constants and NaN"]
    got = as_matrix(convergence(draws))
    assert np.isnan(got[:2]).all() and np.isfinite(got[2:]).all()
    assert np.isnan(convergence(_cases()["one chain"]).r_hat).all()
    assert np.isfinite(convergence(_cases()["one chain"]).ess_bulk).all()
    assert np.isnan(as_matrix(convergence(np.random.default_rng(0).normal(size=(4, 3, 2))))).all()  # < 4 draws


def test_columns_are_independent_of_their_neighbours_and_of_chunking():
    """Columns are processed in chunks: a column's numbers do not depend on which others come with it."""
    draws = ar1(np.random.default_rng(5), 4, 200, 600, 0.3)  # more columns than one chunk
    together = as_matrix(convergence(draws))
    alone = np.vstack([as_matrix(convergence(draws[:, :, k])) for k in (0, 255, 256, 599)])
    assert np.array_equal(together[[0, 255, 256, 599]], alone)


def test_ess_of_ar1_chains_matches_the_closed_form():
    """For AR(1) chains the integrated autocorrelation time is (1 + phi) / (1 - phi), so ESS = S (1 - phi) /
    (1 + phi): 1/3 of the draws at phi = 0.5, 3 times the draws at phi = -0.5 (antithetic). Estimated from 4 x
    5,000 draws per column and averaged over 20 columns, within 5%."""
    rng = np.random.default_rng(7)
    total = 4 * 5000
    for phi in (0.5, -0.5):
        result = convergence(ar1(rng, 4, 5000, 20, phi))
        expected = total * (1 - phi) / (1 + phi)
        assert result.ess_bulk.mean() == pytest.approx(expected, rel=0.05)
        assert np.all(np.abs(result.r_hat - 1) < 0.01)


def test_r_hat_sees_chains_that_disagree_in_location_or_in_scale():
    rng = np.random.default_rng(3)
    agree = rng.normal(size=(4, 1000, 1))
    apart = agree + np.array([0.0, 0.0, 0.0, 1.0])[:, None, None]
    wider = agree * np.array([1.0, 1.0, 1.0, 3.0])[:, None, None]  # same mean: only the folded R-hat sees it
    assert convergence(agree).r_hat[0] < R_HAT_LIMIT
    assert convergence(apart).r_hat[0] > R_HAT_PROBLEM
    assert convergence(wider).r_hat[0] > R_HAT_PROBLEM


def test_bad_shape_is_refused_with_the_expected_shape():
    with pytest.raises(ValueError, match=r"\(chain, draw, n\)"):
        convergence(np.zeros((2, 3, 4, 5)))


def test_worst_ignores_scalars_without_numbers():
    result = Convergence(np.array([np.nan, 1.002, 1.02]), np.array([500.0, np.nan, 300.0]),
                         np.array([np.nan, np.nan, np.nan]))
    r_hat, bulk, tail = result.worst()
    assert r_hat == 1.02 and bulk == 300.0 and math.isnan(tail)


# ------------------------------------------------------------------------------------------- thresholds, grading
def test_thresholds_are_vehtari_et_al_2021():
    """Vehtari et al. (2021) recommend R-hat below 1.01 and bulk and tail ESS above 100 per chain."""
    assert R_HAT_LIMIT == 1.01 and ESS_PER_CHAIN == 100
    assert R_HAT_PROBLEM > R_HAT_LIMIT and ESS_PROBLEM <= ESS_PER_CHAIN and 0 < DIVERGENCE_PROBLEM < 1


def test_grade_orders_ok_check_problem_and_says_na_without_a_number():
    assert grade(1.0, ok=True, problem=False) == "ok"
    assert grade(1.0, ok=False, problem=False) == "check"
    assert grade(1.0, ok=False, problem=True) == "problem"
    assert grade(float("nan"), ok=False, problem=True) == "n/a"
    assert set(STATUSES) == {"ok", "check", "problem", "n/a"}


def diagnostics(r_hat=1.002, bulk=900.0, tail=800.0, divergences=0, chains=4, draws=1000) -> Diagnostics:
    return Diagnostics(divergences, draws, chains, r_hat, bulk, tail)


def status(d: Diagnostics, check: str) -> str:
    table = checks(d).set_index("check")
    return table.loc[check, "status"]


@pytest.mark.parametrize(("r_hat", "expected"), [
    (1.0, "ok"), (1.0099, "ok"), (1.01, "check"), (1.049, "check"), (1.05, "problem"), (2.0, "problem"),
    (float("nan"), "n/a"),
])
def test_r_hat_grades(r_hat, expected):
    assert status(diagnostics(r_hat=r_hat), "largest R-hat") == expected


@pytest.mark.parametrize(("ess", "chains", "expected"), [
    (400, 4, "ok"), (399, 4, "check"), (100, 4, "check"), (99, 4, "problem"), (200, 2, "ok"), (199, 2, "check"),
    (float("nan"), 4, "n/a"),
])
def test_ess_grades_per_chain(ess, chains, expected):
    d = diagnostics(bulk=ess, tail=ess, chains=chains)
    assert status(d, "smallest bulk ESS") == expected and status(d, "smallest tail ESS") == expected


@pytest.mark.parametrize(("divergences", "expected"), [(0, "ok"), (1, "check"), (39, "check"), (40, "problem")])
def test_divergence_grades_by_share_of_draws(divergences, expected):
    """4 chains x 1,000 draws: 1% is 40 divergent transitions."""
    assert status(diagnostics(divergences=divergences), "divergent transitions") == expected


def test_checks_table_shows_values_and_targets():
    table = checks(diagnostics(r_hat=1.0234, bulk=812.4, tail=95.6, divergences=3, chains=4))
    assert list(table.columns) == ["check", "value", "target", "status"]
    assert table["value"].tolist() == ["1.023", "812", "96", "3"]
    assert table["target"].tolist() == ["below 1.01", "at least 400", "at least 400", "0"]
    assert table["status"].tolist() == ["check", "ok", "problem", "check"]


# ------------------------------------------------------------------------------------------------- the advice
SPEC = ModelSpec("y", "g", pooling="partial")


def measured(r_hat: float = 1.001, ess: float = 2000.0) -> Convergence:
    return Convergence(np.array([r_hat, 1.0]), np.array([ess, 3000.0]), np.array([ess, 3000.0]))


def test_a_clean_fit_has_no_warning():
    d = assess(SPEC, measured(), divergences=0, chains=4, draws=1000)
    assert d.ok and d.warnings == () and d.ess_target == 400
    assert (d.max_r_hat, d.min_ess_bulk, d.min_ess_tail) == (1.001, 2000.0, 2000.0)


def test_r_hat_and_ess_warnings_name_the_numbers_and_the_careful_preset():
    d = assess(SPEC, measured(r_hat=1.03, ess=250.0), divergences=0, chains=4, draws=1000)
    assert len(d.warnings) == 2
    assert d.warnings[0].startswith("R-hat reaches 1.030 (should be below 1.01)")
    assert d.warnings[1].startswith("the effective sample size is as low as 250 (want at least 400 for 4 chains)")
    assert all("Careful preset" in w for w in d.warnings)


def test_no_r_hat_warning_without_a_number():
    """One chain has no R-hat (NaN): not a warning."""
    no_r_hat = Convergence(np.full(2, np.nan), np.array([500.0, 800.0]), np.array([450.0, 900.0]))
    d = assess(SPEC, no_r_hat, divergences=0, chains=1, draws=1000)
    assert d.ok and math.isnan(d.max_r_hat) and d.min_ess_tail == 450.0


def test_divergence_advice_follows_the_settings():
    centred = replace(SPEC, parameterization="centered")
    assert "non-centred" in assess(centred, measured(), 5, 4, 1000).warnings[0]
    assert "raise the target acceptance from 0.99 to 0.995" in assess(SPEC, measured(), 5, 4, 1000).warnings[0]
    # The target acceptance the plan chose (0.9 with the group effects integrated out) is the one advised on.
    smooth = assess(SPEC, measured(), 5, 4, 1000, target_accept=0.9)
    assert "raise the target acceptance from 0.9 to 0.995" in smooth.warnings[0] and smooth.target_accept == 0.9
    # Non-centred partial pooling also names the centred form (data-rich groups); no pooling has no such choice.
    assert "the centred parameterisation may suit better" in smooth.warnings[0]
    unpooled = assess(SPEC.with_pooling("none"), measured(), 5, 4, 1000, target_accept=0.9)
    assert "centred" not in unpooled.warnings[0]
    careful = replace(SPEC, sampler=CAREFUL_SAMPLER)
    assert "already high" in assess(careful, measured(), 5, 4, 2000).warnings[0]
    assert assess(SPEC, measured(), 5, 4, 1000).warnings[0].startswith("5 divergent transition(s)")
