"""Binomial, poisson and gamma likelihoods on per-group sums (hiermodels.model.grouped).

With one linear predictor per group the grouped likelihood is an algebraic identity (the exponential-family sums
of the module docstring), so the model's log-density and its gradient must equal the row-by-row model's at any
point, constants included, under every pooling, with empty padding groups, with trials and exposure. No sampling
here: tests/test_sample_matrix.py fits the daughters' gamma model through this path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hiermodels import ModelSpec, prepare, read_table
from hiermodels.errors import SpecError
from hiermodels.inference.plan import choose_method
from hiermodels.model.build import PADDING_LABEL, build_model
from hiermodels.model.grouped import FamilySums, design_constant_within_groups

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"


def counts_table(seed: int = 0) -> pd.DataFrame:
    """Uneven groups (1 to 12 rows) of counts with trials, exposure and positive heights."""
    rng = np.random.default_rng(seed)
    sizes = [1, 2, 3, 5, 12]
    group = np.repeat([f"g{k}" for k in range(len(sizes))], sizes)
    trials = rng.integers(5, 30, size=len(group))
    exposure = rng.uniform(0.5, 3.0, size=len(group))
    return pd.DataFrame({
        "g": group,
        "hits": rng.binomial(trials, 0.3),
        "trials": trials,
        "success": rng.integers(0, 2, size=len(group)),
        "count": rng.poisson(2.0 * exposure),
        "exposure": exposure,
        "height": rng.gamma(20.0, 6.0, size=len(group)),
    })


FAMILY_SPECS = {
    "binomial-trials": dict(outcome="hits", family="binomial", trials="trials"),
    "bernoulli": dict(outcome="success", family="binomial"),
    "poisson-exposure": dict(outcome="count", family="poisson", exposure="exposure"),
    "poisson": dict(outcome="count", family="poisson"),
    "gamma": dict(outcome="height", family="gamma"),
}
# (The non-centred partial-pooling model has the same likelihood term as the centred one.)
POOLINGS = [dict(pooling="complete"), dict(pooling="none"), dict(pooling="partial", parameterization="centered")]


def random_point(model, seed):
    rng = np.random.default_rng(seed)
    return {k: v + rng.normal(0, 0.4, size=np.shape(v)) for k, v in model.initial_point().items()}


def _raveled(gradient):
    return np.concatenate([np.ravel(g) for g in gradient]) if isinstance(gradient, list) else np.ravel(gradient)


@pytest.mark.parametrize("pooling", POOLINGS, ids=lambda v: "-".join(map(str, v.values())))
@pytest.mark.parametrize("family", FAMILY_SPECS)
def test_group_sums_reproduce_the_row_by_row_logp(family, pooling):
    spec = ModelSpec(group="g", **FAMILY_SPECS[family], **pooling)
    data = prepare(counts_table(), spec)
    assert choose_method(data, spec) == "grouped"
    rows, grouped = build_model(data, spec, "rows"), build_model(data, spec, "grouped")
    assert {v.name for v in rows.free_RVs} == {v.name for v in grouped.free_RVs}
    assert "X" not in grouped.named_vars and "y" not in grouped.named_vars  # the rows are not in the model
    for seed in (1, 2):
        point = random_point(rows, seed)
        assert grouped.compile_logp()(point) == pytest.approx(rows.compile_logp()(point), rel=1e-10)
        np.testing.assert_allclose(_raveled(grouped.compile_dlogp()(point)),
                                   _raveled(rows.compile_dlogp()(point)), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("family", ["binomial-trials", "gamma"])
def test_empty_padding_groups_add_nothing(family):
    """The compiled cache pads the group axis: a padded model's logp at the real groups' values equals the
    unpadded one's, whatever the padding groups' own values (their prior terms aside)."""
    spec = ModelSpec(group="g", pooling="none", **FAMILY_SPECS[family])
    data = prepare(counts_table(), spec)
    plain, padded = build_model(data, spec, "grouped"), build_model(data, spec, "grouped", n_groups=8)
    assert padded.coords["group"][-1].startswith(PADDING_LABEL)
    point = random_point(plain, 3)
    padded_point = dict(point)
    padded_point["b"] = np.vstack([point["b"], np.full((3, 1), 5.0)])
    padded_likelihood = padded.compile_logp(vars=padded.potentials)(padded_point)
    assert padded_likelihood == pytest.approx(plain.compile_logp(vars=plain.potentials)(point), rel=1e-12)


def test_daughters_run_on_eight_family_sums():
    """The bundled gamma sample: 1,091 heights enter as 8 families' sums, with the same log-density."""
    spec = ModelSpec("height_cm", "family", family="gamma", parameterization="centered")
    data = prepare(read_table(SAMPLE_DATA / "daughters.csv"), spec)
    sums = FamilySums.from_data(data, "gamma")
    assert sums.n.sum() == data.n_rows == 1091 and sums.n.shape == (8,)
    np.testing.assert_allclose(sums.sum_log_y.sum(), np.log(data.y).sum(), rtol=1e-12)
    rows, grouped = build_model(data, spec, "rows"), build_model(data, spec, "grouped")
    point = random_point(rows, 4)
    assert grouped.compile_logp()(point) == pytest.approx(rows.compile_logp()(point), rel=1e-10)


@pytest.mark.parametrize("family", FAMILY_SPECS)
def test_the_row_by_row_likelihood_is_scipys(family):
    """With a predictor that varies within groups the model keeps its rows, each a cell of its own
    (FamilySums.of_rows): its likelihood is the sum of scipy's per-row log-probabilities, constants included
    (log C(m, y), log y!, the exposure), at a random point."""
    from scipy import stats

    table = counts_table().assign(x=np.linspace(-1, 1, 23))
    spec = ModelSpec(group="g", predictors=("x",), pooling="complete", **FAMILY_SPECS[family])
    data = prepare(table, spec)
    assert choose_method(data, spec) == "rows"
    model = build_model(data, spec, "rows")
    point = random_point(model, 5)
    values = dict(zip([v.name for v in model.unobserved_value_vars],
                      model.compile_fn(model.unobserved_value_vars, inputs=model.value_vars,
                                       on_unused_input="ignore")(point), strict=True))
    eta = data.X @ values["beta"]
    y = data.y
    if family.startswith("binomial"):
        expected = stats.binom(data.trials, 1 / (1 + np.exp(-eta))).logpmf(y)
    elif family == "bernoulli":
        expected = stats.bernoulli(1 / (1 + np.exp(-eta))).logpmf(y)
    elif family.startswith("poisson"):
        exposure = data.exposure if data.exposure is not None else 1.0
        expected = stats.poisson(exposure * np.exp(eta)).logpmf(y)
    else:
        alpha = values["alpha"]
        expected = stats.gamma(alpha, scale=np.exp(eta) / alpha).logpdf(y)
    likelihood = model.compile_fn(model.logp(vars=model.potentials), inputs=model.value_vars,
                                  on_unused_input="ignore")(point)
    assert likelihood == pytest.approx(expected.sum(), rel=1e-10)


def test_predictors_that_vary_within_groups_keep_the_rows():
    table = counts_table().assign(x=np.arange(23, dtype=float))
    spec = ModelSpec("count", "g", ("x",), family="poisson")
    data = prepare(table, spec)
    assert choose_method(data, spec) == "rows"
    assert not design_constant_within_groups(data)
    with pytest.raises(SpecError, match="constant within each group"):
        build_model(data, spec, "grouped")
    group_level = prepare(table.assign(x=table["g"].str[1:].astype(float)), spec)
    assert design_constant_within_groups(group_level)
    with pytest.raises(SpecError, match="grouped likelihood exists for the binomial, poisson, gamma"):
        build_model(data, ModelSpec("count", "g"), "grouped")
