"""Parameter names: build -> parse round trips for every kind, what is a coefficient, and agreement with the
names that real models report (``results.population_parameters``) and take priors for (``priors.default_priors``).

The models are built, never sampled: a name is checked against the PyMC variable and coordinates it refers to.
"""

from __future__ import annotations

import pandas as pd
import pytest

from hiermodels.data.preparing import PreparedData, prepare
from hiermodels.model import build as m
from hiermodels.model import names
from hiermodels.model.build import build_model
from hiermodels.model.priors import default_priors
from hiermodels.model.spec import ModelSpec
from hiermodels.results.fit_result import population_parameters

# Terms as prepare() makes them, including categorical levels holding a comma and parentheses.
TERMS = ("intercept", "floor", "c[u,v]", "c[x(1)]", "sd", "corr_x")


@pytest.mark.parametrize("term", TERMS)
def test_group_sd_round_trip(term: str) -> None:
    name = names.group_sd(term)
    assert name == f"sd({term})"
    assert names.parse(name) == ("group_sd", (term,))
    assert names.parse(name, TERMS) == ("group_sd", (term,))
    assert names.support(name) == "scale" and names.is_group_sd(name) and names.is_group_level_scale(name)
    assert not names.is_coefficient(name)


@pytest.mark.parametrize(("a", "b"), [(a, b) for a in TERMS for b in TERMS if a != b])
def test_correlation_round_trip_with_the_terms(a: str, b: str) -> None:
    name = names.correlation(a, b)
    assert name == f"corr({a},{b})"
    assert names.parse(name, TERMS) == ("correlation", (a, b))
    assert names.kind(name) == "correlation" and names.support(name) == "correlation"
    assert not names.is_coefficient(name) and not names.is_group_sd(name)


def test_correlation_without_terms_splits_outside_brackets() -> None:
    assert names.parse("corr(intercept,floor)") == ("correlation", ("intercept", "floor"))
    assert names.parse("corr(c[u,v],c[x(1)])") == ("correlation", ("c[u,v]", "c[x(1)]"))
    # Two commas outside brackets: only the model's terms can tell which one separates the terms.
    with pytest.raises(ValueError, match="pass the model's terms"):
        names.parse("corr(a,b,c)")
    assert names.parse("corr(a,b,c)", ("a", "b,c")) == ("correlation", ("a", "b,c"))
    with pytest.raises(ValueError, match="does not name two of the terms"):
        names.parse("corr(a,b)", ("a", "c"))


@pytest.mark.parametrize(("name", "kind", "support"), [
    (names.SIGMA, "sigma", "scale"),
    (names.GAMMA_SHAPE, "gamma_shape", "scale"),
    (names.CORRELATION_PRIOR, "correlation_prior", "correlation"),
    (names.LOG_SIGMA_SD, "log_sigma_sd", "scale"),
])
def test_model_wide_names(name: str, kind: str, support: str) -> None:
    assert names.parse(name) == (kind, ())
    assert names.support(name) == support
    assert not names.is_coefficient(name) and not names.is_group_sd(name)
    assert names.is_group_level_scale(name) == (kind == "log_sigma_sd")
    assert names.LOG_SIGMA_SD == "sd(log_sigma)"


@pytest.mark.parametrize("name", [*TERMS, "sigma_x", "alphabet", "correlated", "sd(", "sdx)", "corr()", "sd()"])
def test_everything_else_is_a_coefficient(name: str) -> None:
    # Names that merely start like a scale ("sigma_x") or are not closed ("sd(") are terms, as a predictor
    # column may be called so; sd() and corr() name no term.
    assert names.parse(name) == ("coefficient", (name,))
    assert names.is_coefficient(name) and names.support(name) == "location"


def test_every_kind_is_covered() -> None:
    built = {names.parse(n)[0] for n in ("floor", names.group_sd("floor"), names.correlation("a", "b"),
                                         names.CORRELATION_PRIOR, names.SIGMA, names.LOG_SIGMA_SD, names.GAMMA_SHAPE)}
    assert built == set(names.KINDS)


# ------------------------------------------------------------------------------------ against real models
def comma_frame() -> pd.DataFrame:
    """Eight rows, four groups; categorical ``c`` with levels holding a comma and parentheses (``w`` reference)."""
    return pd.DataFrame({
        "g": list("aabbccdd"),
        "y": ["1", "2.5", "0.3", "4.1", "2.2", "3", "1", "2"],
        "pos": ["1.2", "0.7", "3.1", "2.2", "0.4", "1.9", "1.1", "2.5"],
        "x": ["0.1", "0.5", "0.9", "0.2", "0.4", "0.8", "0.3", "0.6"],
        "c": ["u,v", "w", "u,v", "w", "x(1)", "w", "u,v", "x(1)"],
    }, dtype="string")


BASE = ModelSpec(outcome="y", group="g", predictors=("x", "c"), categorical=(("c", "w"),))
MODELS = {
    "complete": BASE.with_pooling("complete"),
    "none": BASE.with_pooling("none"),
    "none, all varying": ModelSpec(outcome="y", group="g", predictors=("x",), varying=("intercept", "x"),
                                   pooling="none"),
    "partial, correlated": ModelSpec(outcome="y", group="g", predictors=("x", "c"), categorical=(("c", "w"),),
                                     varying=("intercept", "x", "c"), correlated=True),
    "partial, group noise": ModelSpec(outcome="y", group="g", predictors=("x",), varying=("intercept", "x"),
                                      group_noise=True),
    "gamma": ModelSpec(outcome="pos", group="g", predictors=("x",), family="gamma"),
}


def check_ref(ref, data: PreparedData, model) -> None:
    kind, terms = names.parse(ref.name, data.terms)
    coords = dict(ref.coords)
    assert names.support(ref.name) == ref.kind, ref
    assert ref.var in model.named_vars, ref
    for dim, label in coords.items():
        assert label in model.coords[dim], ref
    expected_var = {"group_sd": m.GROUP_SD, "correlation": m.CORRELATION, "sigma": m.SIGMA,
                    "log_sigma_sd": m.LOG_SIGMA_SD, "gamma_shape": m.GAMMA_SHAPE}
    if kind == "coefficient":
        assert ref.var in (m.COMMON, m.POPULATION_MEAN)
        assert terms == (coords.get(m.COMMON_DIM, coords.get(m.VARYING_DIM)),)
    else:
        assert ref.var == expected_var[kind], ref
        assert terms == tuple(coords.values()), ref


@pytest.mark.parametrize("label", list(MODELS))
def test_reported_names_parse_to_the_variables_they_refer_to(label: str) -> None:
    spec = MODELS[label]
    data = prepare(comma_frame(), spec)
    model = build_model(data, spec, method="rows")
    refs = population_parameters(spec, data)
    kinds = {names.parse(ref.name, data.terms)[0] for ref in refs}
    for ref in refs:
        check_ref(ref, data, model)
    # Each model reports the kinds its spec implies, and no others.
    common, _ = m.term_split(data, spec)
    # Under no pooling the varying terms are each group's own coefficients, not population parameters.
    expected = {"coefficient"} if common or spec.pooling == "partial" else set()
    if spec.pooling == "partial":
        expected.add("group_sd")
    expected |= {"correlation"} if spec.correlated else set()
    expected |= {"sigma"} if spec.family == "gaussian" else set()
    expected |= {"log_sigma_sd"} if spec.group_noise else set()
    expected |= {"gamma_shape"} if spec.family == "gamma" else set()
    assert kinds == expected


@pytest.mark.parametrize("label", list(MODELS))
def test_prior_names_are_the_reported_names_but_one_corr(label: str) -> None:
    """Priors are set under the names results report, except that the correlations share one LKJ prior, corr."""
    spec = MODELS[label]
    data = prepare(comma_frame(), spec)
    priors = set(default_priors(data, spec))
    reported = {ref.name for ref in population_parameters(spec, data)}
    correlations = {n for n in reported if names.kind(n) == "correlation"}
    assert (names.CORRELATION_PRIOR in priors) == bool(correlations)
    # Under no pooling the group coefficients have priors but are not population parameters.
    group_terms = set(data.terms) if spec.pooling == "none" else set()
    assert priors - {names.CORRELATION_PRIOR} == (reported - correlations) | group_terms
    for name in priors:
        kind, terms = names.parse(name, data.terms)
        assert set(terms) <= set(data.terms)
        assert (kind == "coefficient") == names.is_coefficient(name) == (name in data.terms)
