"""Result tables: which no-pooling coefficients a group's own data can identify; R-hat and ESS of a real
posterior (radon) equal to arviz-stats' one scalar at a time, computed once per result."""

from __future__ import annotations

import fakes
import numpy as np
import pandas as pd
import pytest
from test_diagnostics import arviz_reference

from hiermodels import ModelSpec, prepare
from hiermodels.inference.fitting import fit
from hiermodels.model import build as m
from hiermodels.model.spec import SamplerSettings
from hiermodels.results import fit_result as results_module
from hiermodels.results.diagnostics import convergence
from hiermodels.results.fit_result import draws_of, identified_matrix, population_parameters


def test_identifiability_follows_each_groups_design():
    """one: a single row (its slope needs a second x); flat: x constant within the group (slope confounded with
    the intercept); zeros: x always 0 (the intercept is still identified, the slope is not); good: varied x."""
    rows = [("one", 1.0, 2.0)]
    rows += [("flat", y, 3.0) for y in (1.0, 2.0, 4.0)]
    rows += [("zeros", y, 0.0) for y in (1.0, 2.0, 3.0)]
    rows += [("good", y, x) for y, x in ((1.0, 0.0), (2.0, 1.0), (2.5, 2.0))]
    frame = pd.DataFrame(rows, columns=["g", "y", "x"])
    spec = ModelSpec("y", "g", ("x",), pooling="none", varying=("intercept", "x"))
    data = prepare(frame, spec)
    table = pd.DataFrame(identified_matrix(data, ("intercept", "x")), index=list(data.group_labels),
                         columns=["intercept", "x"])
    assert table.loc["good"].tolist() == [True, True]
    assert table.loc["one"].tolist() == [True, False]
    assert table.loc["flat"].tolist() == [True, False]
    assert table.loc["zeros"].tolist() == [True, False]
    # Only the slope varies: a group whose x is all 0 cannot identify it; a constant non-zero x can.
    slope_only = identified_matrix(data, ("x",))[:, 0]
    assert dict(zip(data.group_labels, slope_only, strict=True)) == {
        "one": True, "flat": True, "zeros": False, "good": True}


# ------------------------------------------------------------------------------------------------- diagnostics
@pytest.fixture(scope="module")
def radon_fit(radon):
    """Radon's default model (varying intercept, floor common) fitted for real, 4 chains x 300 draws."""
    spec = ModelSpec("log_radon", "county", ("floor",), varying=("intercept",),
                     sampler=SamplerSettings(draws=300, tune=300, chains=4, seed=11))
    return fit(radon, spec, compute_map=False)


def test_radon_convergence_equals_arviz_stats_one_scalar_at_a_time(radon_fit):
    """The vectorised R-hat, bulk and tail ESS of every population parameter and group coefficient equal what
    arviz-stats gives one scalar at a time (the per-variable computation this replaced) to 1e-10."""
    posterior = radon_fit.draws
    refs = population_parameters(radon_fit.spec, radon_fit.data)
    scalars = np.concatenate(
        [np.stack([draws_of(posterior, ref) for ref in refs], axis=-1),
         posterior[m.GROUP_COEFFICIENT].transpose("chain", "draw", ...).to_numpy().reshape(4, 300, -1)], axis=-1)
    assert scalars.shape[-1] == len(refs) + radon_fit.data.n_groups == 4 + 85  # intercept, floor, sd, sigma
    expected = arviz_reference(scalars)
    got = radon_fit.convergence
    assert np.allclose(np.column_stack([got.r_hat, got.ess_bulk, got.ess_tail]), expected, rtol=1e-10, atol=0)
    population = radon_fit.population()
    assert population["name"].tolist() == [ref.name for ref in refs]
    assert np.allclose(population[["r_hat", "ess_bulk", "ess_tail"]].to_numpy(), expected[:len(refs)],
                       rtol=1e-10, atol=0)
    d = radon_fit.diagnostics()
    assert d.max_r_hat == pytest.approx(expected[:, 0].max(), rel=1e-10)
    assert d.min_ess_bulk == pytest.approx(expected[:, 1].min(), rel=1e-10)
    assert d.min_ess_tail == pytest.approx(expected[:, 2].min(), rel=1e-10)
    assert (d.chains, d.draws) == (4, 300)


def test_diagnostics_are_computed_once_per_result(monkeypatch):
    """The CLI and the pages ask a result for its diagnostics and population table several times: R-hat and ESS
    are computed on the first request only, and the natural-scale table reads the same numbers."""
    calls = []

    def counting(draws):
        calls.append(draws.shape)
        return convergence(draws)

    monkeypatch.setattr(results_module, "convergence", counting)
    result = fakes.comparison()["partial"]
    first = result.diagnostics()
    assert result.diagnostics() is first
    link, natural = result.population(), result.population(scale="natural")
    result.to_json_dict()
    assert len(calls) == 1
    # 3 population parameters (intercept, sd(intercept), sigma), then the 8 groups' coefficients.
    assert calls[0] == (2, 200, 3 + 8)
    assert link[["r_hat", "ess_bulk", "ess_tail"]].equals(natural[["r_hat", "ess_bulk", "ess_tail"]])
