"""The table of prior families (hiermodels.model.prior_families), held against PyMC itself: each row's parameter names,
positive parameters, support, transform and support point are what PyMC's class does, and every place that
needs a family (the spec's validation, the PyMC builder, the gaussian engine) knows exactly the table's
families."""

from __future__ import annotations

import dataclasses
import math
from typing import get_args

import numpy as np
import pymc as pm
import pytest

from hiermodels.engine import gaussian_engine as engine
from hiermodels.errors import PriorSyntaxError
from hiermodels.model import spec
from hiermodels.model.prior_families import ENGINE_PARAMETERS, PRIOR_FAMILIES, PriorDistribution, PriorFamily
from hiermodels.model.priors import add_prior, prior_distribution
from hiermodels.model.spec import Prior

# Valid parameters for every family, each differing from the others so that a swapped pair shows.
EXAMPLES: dict[str, tuple[float, ...]] = {
    "normal": (0.5, 2.0), "studentt": (4.0, -0.2, 1.5), "cauchy": (-0.1, 2.0), "flat": (), "uniform": (-5.0, 3.0),
    "halfnormal": (1.5,), "halfcauchy": (0.7,), "halfstudentt": (3.0, 1.2), "exponential": (2.0,),
    "gamma": (2.0, 3.0), "halfflat": (), "lkj": (2.0,),
}
FAMILIES = list(PRIOR_FAMILIES.values())
SCALAR = [f for f in FAMILIES if f.support != "correlation"]
# PyMC's default transform class for each of the table's transforms.
TRANSFORM_CLASSES = {"none": None, "log": "LogTransform", "interval": "Interval",
                     "cholesky_corr": "CholeskyCorrTransform"}


def family_ids(family: PriorFamily) -> str:
    return family.name


def pymc_dist(family: PriorFamily, params):
    """The family as an unnamed PyMC distribution; LKJ needs its dimension, 3 here. The parameters are float64
    arrays, as in the app's models (``priors.add_prior``): PyTensor would make a Python 2.0 a float32 constant."""
    kwargs = {name: np.asarray(value, dtype=np.float64) for name, value in zip(family.parameters, params, strict=True)}
    return family.pymc_class.dist(**kwargs, **({"n": 3} if family.support == "correlation" else {}))


def logp(family: PriorFamily, params, value) -> float:
    return float(pm.logp(pymc_dist(family, params), np.asarray(value, dtype=float)).eval())


# ------------------------------------------------------------------------------------------------ one table
def test_the_table_has_one_row_per_name_the_spec_accepts():
    """The spec's validation accepts exactly the table's families, and the Literal type names the same ones."""
    assert tuple(PRIOR_FAMILIES) == get_args(PriorDistribution) == spec.PRIOR_DISTRIBUTIONS
    assert set(EXAMPLES) == set(PRIOR_FAMILIES)  # a new family needs an example here
    for name, family in PRIOR_FAMILIES.items():
        assert family.name == name
        prior = Prior.parse(f"{name}({', '.join(map(str, EXAMPLES[name]))})")
        assert prior == Prior(name, EXAMPLES[name])
    with pytest.raises(PriorSyntaxError, match="use one of normal, studentt"):
        Prior.parse("lognormal(0, 1)")


def test_the_table_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRIOR_FAMILIES["normal"].engine_code = 99  # type: ignore[misc]
    with pytest.raises(TypeError):
        PRIOR_FAMILIES["lognormal"] = PRIOR_FAMILIES["normal"]  # type: ignore[index]


@pytest.mark.parametrize("family", FAMILIES, ids=family_ids)
def test_the_spec_counts_the_parameters_from_the_table(family):
    with pytest.raises(PriorSyntaxError, match=rf"takes {len(family.parameters)} parameter\(s\), "
                                               rf"{family.name}\({', '.join(family.parameters)}\)"):
        Prior(family.name, (*EXAMPLES[family.name], 1.0))


# ------------------------------------------------------------------------------------------------ against PyMC
@pytest.mark.parametrize("family", FAMILIES, ids=family_ids)
def test_parameters_are_the_pymc_classes_keywords_in_its_order(family):
    import inspect

    signature = list(inspect.signature(family.pymc_class.dist).parameters)
    positions = [signature.index(p) for p in family.parameters]
    assert positions == sorted(positions)
    if family.support != "correlation":
        cls, kwargs = prior_distribution(Prior(family.name, EXAMPLES[family.name]))
        assert cls is family.pymc_class and list(kwargs) == list(family.parameters)


@pytest.mark.parametrize("family", FAMILIES, ids=family_ids)
def test_positive_parameters_are_those_pymc_rejects_below_zero(family):
    """Setting one parameter to -1: PyMC's logp raises (its parameter check) exactly for the table's positive
    parameters, and so does the spec's Prior, with a message naming the parameter; any other parameter (a
    location, a bound) may be negative, and PyMC's density is finite at the support point."""
    for k, name in enumerate(family.parameters):
        params = list(EXAMPLES[family.name])
        params[k] = -1.0
        if family.support == "correlation":
            inside = np.eye(3)
        else:
            inside = 0.5 if name in family.positive else family.support_point(params)
        if name in family.positive:
            with pytest.raises(pm.logprob.utils.ParameterValueError):
                logp(family, params, inside)
            with pytest.raises(PriorSyntaxError, match=f"parameter {name} must be positive"):
                Prior(family.name, tuple(params))
        else:
            assert math.isfinite(logp(family, params, inside))
            Prior(family.name, tuple(params))


@pytest.mark.parametrize("family", SCALAR, ids=family_ids)
def test_support_is_where_pymc_puts_mass(family):
    params = EXAMPLES[family.name]
    prior = Prior(family.name, params)
    if family.support == "real":
        assert all(math.isfinite(logp(family, params, x)) for x in (-30.0, 0.0, 30.0))
        assert prior.support == "real"
    elif family.support == "positive":
        assert all(math.isfinite(logp(family, params, x)) for x in (1e-3, 30.0))
        assert logp(family, params, -1e-3) == -math.inf
        assert prior.support == "positive"
    else:  # an interval: its bounds are its first two parameters
        lower, upper = params[:2]
        assert math.isfinite(logp(family, params, (lower + upper) / 2))
        assert logp(family, params, lower - 1e-3) == logp(family, params, upper + 1e-3) == -math.inf
        # A scale may take it when the interval lies on the positive line.
        assert prior.support == "real"
        assert Prior(family.name, (0.0, upper)).support == "positive"


@pytest.mark.parametrize("family", FAMILIES, ids=family_ids)
def test_transform_is_pymcs_default(family):
    with pm.Model() as model:
        if family.support == "correlation":
            variable = family.pymc_class("x", n=3, **dict(zip(family.parameters, EXAMPLES[family.name],
                                                                strict=True)))
        else:
            variable = add_prior("x", Prior(family.name, EXAMPLES[family.name]))
    transform = model.rvs_to_transforms[variable]
    assert (None if transform is None else type(transform).__name__) == TRANSFORM_CLASSES[family.transform]


@pytest.mark.parametrize("family", FAMILIES, ids=family_ids)
def test_the_engines_start_is_pymcs_initial_point(family):
    """PyMC starts a variable at its support point, on the unconstrained scale: the engine's start
    (support_point, then to_unconstrained) is the same number. LKJ has no scalar start: PyMC starts its
    unconstrained values at 0 (R = I), as the engine does."""
    prior = Prior(family.name, EXAMPLES[family.name])
    with pm.Model() as model:
        if family.support == "correlation":
            family.pymc_class("x", n=3, eta=prior.params[0])
        else:
            add_prior("x", prior)
    (start,) = model.initial_point().values()
    if family.support_point is None:
        np.testing.assert_array_equal(start, 0.0)
        with pytest.raises(ValueError, match="no scalar support point"):
            engine.support_point(prior)
    else:
        assert engine.to_unconstrained(prior, engine.support_point(prior)) == pytest.approx(float(start), rel=1e-12,
                                                                                              abs=1e-12)


# ------------------------------------------------------------------------------------------------ the engine
def test_engine_codes_are_the_tables():
    assert engine.FAMILIES == {f.name: f.engine_code for f in FAMILIES if f.engine_code is not None}
    assert {f.name for f in FAMILIES if f.engine_code is None} == {"lkj"}  # the engine's own correlation block
    assert max(len(f.parameters) for f in FAMILIES if f.engine_code is not None) <= ENGINE_PARAMETERS
    with pytest.raises(ValueError, match="takes no scalar 'lkj' prior"):
        engine.prior_row(Prior("lkj", (2.0,)))


@pytest.mark.parametrize("family", [f for f in FAMILIES if f.engine_code is not None], ids=family_ids)
def test_every_engine_code_has_its_branches(family):
    """The compiled engine (numba freezes the codes in) agrees with the table: the row's code, the transform,
    and a log-density equal to PyMC's at the support point (each code has its branch in _prior_logp)."""
    prior = Prior(family.name, EXAMPLES[family.name])
    row = engine.prior_row(prior)
    assert row[0] == family.engine_code and len(row) == 1 + ENGINE_PARAMETERS
    x = engine.support_point(prior)
    value, _ = engine._prior_logp(family.engine_code, *row[1:], x)
    # abs 1e-8: PyMC's half families add log(2) of an integer constant, which PyTensor computes in float32 (2e-9
    # off); the engine's exact log 2 is held to PyMC's whole-model density to 1e-11 in test_gaussian_engine.py.
    assert value == pytest.approx(logp(family, prior.params, x), rel=1e-12, abs=1e-8)
    assert engine._is_positive_family(family.engine_code) == (family.transform == "log")
    y = engine.to_unconstrained(prior, x)
    assert engine._to_constrained(family.engine_code, row[1], row[2], y)[0] == pytest.approx(x, rel=1e-12)


def test_a_code_without_a_branch_is_rejected_not_flat():
    unused = max(engine.FAMILIES.values()) + 1
    assert all(math.isnan(v) for v in engine._prior_logp(unused, 1.0, 1.0, 0.0, 0.5))
