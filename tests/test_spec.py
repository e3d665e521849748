"""ModelSpec, Prior and SamplerSettings: validation on construction, parsing, hashing.

Every rejected spec must raise :class:`SpecError` (a ``ValueError``) whose message names the problem and the way
out, as ``hiermodels.errors`` promises; these tests pin the substance of each message.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from hiermodels.errors import PriorSyntaxError, SpecError
from hiermodels.model import names
from hiermodels.model.spec import (
    FAMILIES,
    POOLINGS,
    PRIOR_DISTRIBUTIONS,
    ModelSpec,
    Prior,
    SamplerSettings,
    parse_prior_assignment,
)


def spec(**changes) -> ModelSpec:
    """A valid gaussian varying-intercept spec with one predictor, changed by ``changes``."""
    return ModelSpec(**{"outcome": "y", "group": "g", "predictors": ("x",), **changes})


# ---------------------------------------------------------------------------------------------------- ModelSpec
def test_a_valid_spec_keeps_its_defaults():
    s = spec()
    assert (s.pooling, s.family, s.varying, s.parameterization) == ("partial", "gaussian", ("intercept",),
                                                                    "noncentered")
    assert s.required_columns() == ("y", "g", "x")


def test_option_tuples_come_from_the_literal_types():
    assert POOLINGS == ("complete", "none", "partial")
    assert FAMILIES == ("gaussian", "binomial", "poisson", "gamma", "known_se")
    assert "lkj" in PRIOR_DISTRIBUTIONS and "halfnormal" in PRIOR_DISTRIBUTIONS


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pooling": "some"}, "pooling must be one of complete, none, partial, got 'some'"),
        ({"family": "lognormal"},
         "family must be one of gaussian, binomial, poisson, gamma, known_se, got 'lognormal'"),
        ({"parameterization": "sideways"}, "parameterization must be one of noncentered, centered, got 'sideways'"),
        ({"outcome": ""}, "choose an outcome column"),
        ({"group": ""}, "choose a group column"),
        ({"group": "y"}, "one column is given two roles (outcome=y, group=y); each role needs its own column"),
        ({"family": "binomial", "trials": "y"}, "one column is given two roles (outcome=y, group=g, trials=y)"),
        ({"predictors": ("x", "w", "x")}, "predictor(s) listed twice: x"),
        ({"predictors": ("x", "g")}, "g cannot be both a predictor and the outcome/group/trials column"),
        ({"predictors": ("intercept",)}, "'intercept' is reserved for the intercept; rename that column"),
        ({"varying": ("intercept", "w")},
         "varying term(s) w are not the intercept or a predictor; choose from intercept, x"),
        ({"varying": ("x", "x")}, "a varying term is listed twice"),
        ({"varying": ("intercept",), "correlated": True}, "correlated varying effects need at least two varying terms"),
        ({"categorical": {"c": "u"}}, "categorical column 'c' is not among the predictors"),
        ({"trials": "n"}, "a trials column only makes sense with the binomial family"),
        ({"exposure": "e"}, "an exposure column only makes sense with the poisson family"),
        ({"se": "s"}, "a standard-error column only makes sense with the known_se family"),
        ({"family": "known_se", "predictors": ()}, "the known_se family needs a standard-error column (--se)"),
        ({"family": "known_se", "se": "s", "varying": ("intercept", "x")},
         "with known_se there is one row per group, so only the intercept can vary by group"),
        ({"family": "poisson", "group_noise": True},
         "group-specific residual noise is available for the gaussian family only"),
    ],
)
def test_each_inconsistent_spec_is_rejected_with_a_message(changes, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        spec(**changes)


@pytest.mark.parametrize(("pooling", "label"), [("none", "no pooling"), ("partial", "partial pooling")])
def test_nothing_varying_is_rejected_under_no_and_partial_pooling(pooling, label):
    with pytest.raises(SpecError, match=f"{label} needs at least one term that varies by group.*use complete pooling"):
        spec(pooling=pooling, varying=())


def test_nothing_varying_is_fine_under_complete_pooling():
    s = spec(pooling="complete", varying=())
    assert s.varying_terms == ()


@pytest.mark.parametrize("name", ["sigma", "alpha", "corr", "sd(x)"])
def test_predictor_named_like_a_parameter_is_rejected(name):
    """A predictor's coefficient and its prior share the predictor's name, so it cannot be a scale's name."""
    with pytest.raises(SpecError, match=re.escape(f"'{name}' cannot be a predictor")):
        spec(predictors=(name,))


def test_several_spec_problems_are_reported_together():
    with pytest.raises(SpecError) as caught:
        spec(pooling="some", family="lognormal", predictors=("x", "x"), trials="n")
    message = str(caught.value)
    parts = message.split("; ")
    assert any(p.startswith("pooling must be one of") for p in parts)
    assert any(p.startswith("family must be one of") for p in parts)
    assert "predictor(s) listed twice: x" in parts
    assert "a trials column only makes sense with the binomial family" in parts


def test_known_se_spec_with_intercept_varying_is_valid():
    s = ModelSpec(outcome="estimate", group="school", se="se", family="known_se")
    assert s.required_columns() == ("estimate", "school", "se")


# ---------------------------------------------------------------------------------------------------- priors
@pytest.mark.parametrize(
    ("priors", "message"),
    [
        ({"sd(x)": "normal(0, 1)"}, "sd(x) is a scale and needs a prior on positive numbers"),
        ({"sigma": "studentt(3, 0, 1)"}, "sigma is a scale and needs a prior on positive numbers"),
        ({"sd(intercept)": "uniform(-1, 5)"}, "sd(intercept) is a scale and needs a prior on positive numbers"),
        ({"sd(intercept)": "lkj(2)"}, "sd(intercept) is a scale"),
        ({"corr": "normal(0, 1)"}, "corr takes an lkj(eta) prior, not normal(0, 1)"),
        ({"corr": "halfnormal(1)"}, "corr takes an lkj(eta) prior, not halfnormal(1)"),
        ({"x": "lkj(2)"}, "x needs a prior on the real line (normal, studentt, ...), not lkj(2)"),
        ((("x", "normal(0, 1)"), ("x", "normal(0, 2)")), "the prior for 'x' is given twice"),
    ],
)
def test_prior_with_the_wrong_support_or_given_twice_is_rejected(priors, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        spec(priors=priors)


def test_priors_with_the_right_support_are_accepted_and_parsed():
    s = spec(priors={"sd(intercept)": "uniform(0, 10)", "x": "uniform(-1, 1)", "sigma": "exponential(1)",
                     "intercept": Prior("studentt", (3, 0, 10))})
    assert s.prior_overrides == {
        "sd(intercept)": Prior("uniform", (0.0, 10.0)),
        "x": Prior("uniform", (-1.0, 1.0)),
        "sigma": Prior("exponential", (1.0,)),
        "intercept": Prior("studentt", (3.0, 0.0, 10.0)),
    }


def test_a_bad_prior_string_in_a_spec_raises_prior_syntax_error():
    with pytest.raises(PriorSyntaxError, match="unknown prior distribution 'gauss'"):
        spec(priors={"x": "gauss(0, 1)"})


@pytest.mark.parametrize(
    ("name", "kind"),
    [("sigma", "scale"), ("alpha", "scale"), ("sd(x)", "scale"), ("sd(log_sigma)", "scale"), ("corr", "correlation"),
     ("intercept", "location"), ("floor", "location"), ("sd", "location"), ("x[b]", "location")],
)
def test_parameter_kind(name, kind):
    assert names.support(name) == kind


# ---------------------------------------------------------------------------------------------------- hashing
def test_lists_and_dicts_become_tuples_and_the_spec_is_hashable():
    s = ModelSpec(outcome="y", group="g", predictors=["x", "c"], varying=["intercept", "x"],
                  categorical={"c": "u"}, priors={"x": "normal(0, 1)"})
    assert s.predictors == ("x", "c")
    assert s.varying == ("intercept", "x")
    assert s.categorical == (("c", "u"),)
    assert s.priors == (("x", Prior("normal", (0.0, 1.0))),)
    twin = ModelSpec(outcome="y", group="g", predictors=("x", "c"), varying=("intercept", "x"),
                     categorical=[("c", "u")], priors=[("x", Prior("normal", (0, 1)))])
    assert s == twin and hash(s) == hash(twin)
    cache = {s: "fitted"}
    assert cache[twin] == "fitted"
    assert spec(pooling="none") not in cache


def test_a_single_string_predictor_is_one_predictor():
    assert spec(predictors="x").predictors == ("x",)


def test_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec().pooling = "none"  # type: ignore[misc]


def test_with_pooling_changes_only_the_pooling():
    partial = spec(varying=("intercept", "x"), priors={"x": "normal(0, 1)"})
    none = partial.with_pooling("none")
    assert none.pooling == "none" and partial.pooling == "partial"
    assert dataclasses.replace(none, pooling="partial") == partial
    assert none.with_pooling("partial") == partial
    complete = partial.with_pooling("complete")
    assert complete.varying == ("intercept", "x") and complete.varying_terms == ()
    assert none.varying_terms == ("intercept", "x")


def test_with_pooling_validates():
    with pytest.raises(SpecError, match="pooling must be one of"):
        spec().with_pooling("some")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------- Prior.parse
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("normal(0, 5)", Prior("normal", (0.0, 5.0))),
        ("  Normal ( 0 ,5 )  ", Prior("normal", (0.0, 5.0))),
        ("HALFCAUCHY(5)", Prior("halfcauchy", (5.0,))),
        ("half_normal(2.5)", Prior("halfnormal", (2.5,))),
        ("studentt(3, -1e-3, 2E1)", Prior("studentt", (3.0, -0.001, 20.0))),
        ("flat()", Prior("flat", ())),
        ("uniform(-1, 1)", Prior("uniform", (-1.0, 1.0))),
        ("lkj(2)", Prior("lkj", (2.0,))),
        ("cauchy(-1, 2)", Prior("cauchy", (-1.0, 2.0))),  # alpha is the location: any sign
    ],
)
def test_prior_parse_reads_name_and_numbers(text, expected):
    assert Prior.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("normal 0 5", "cannot read the prior 'normal 0 5': write it as name(numbers)"),
        ("normal(0, 5", "cannot read the prior"),
        ("gaussian(0, 1)", "unknown prior distribution 'gaussian' in 'gaussian(0, 1)'; use one of normal, studentt"),
        ("normal(0, five)", "prior 'normal(0, five)': 'five' is not a number"),
        ("normal(0, 2*3)", "'2*3' is not a number"),
        ("normal(0,)", "'' is not a number"),
        ("normal(0)", "normal takes 2 parameter(s), normal(mu, sigma), but got 1"),
        ("halfnormal(1, 2)", "halfnormal takes 1 parameter(s), halfnormal(sigma), but got 2"),
        ("halfnormal(-1)", "parameter sigma must be positive, got -1"),
        ("normal(0, 0)", "parameter sigma must be positive, got 0"),
        ("cauchy(0, 0)", "parameter beta must be positive, got 0"),
        ("lkj(0)", "parameter eta must be positive"),
        ("normal(0, inf)", "parameter sigma must be a finite number"),
        ("normal(nan, 1)", "parameter mu must be a finite number"),
        ("uniform(2, 1)", "the lower bound must be below the upper bound"),
        ("uniform(1, 1)", "the lower bound must be below the upper bound"),
        ("__import__('os')", "unknown prior distribution '__import__'"),
    ],
)
def test_prior_parse_rejects_bad_text(text, message):
    with pytest.raises(PriorSyntaxError, match=re.escape(message)):
        Prior.parse(text)


def test_prior_parse_never_evaluates_its_argument(tmp_path):
    """Text that would create a file if it were evaluated is rejected as 'not a number', and no file appears."""
    target = tmp_path / "created"
    with pytest.raises(PriorSyntaxError, match="is not a number"):
        Prior.parse(f"normal(open({str(target)!r}, 'w').close() or 0, 1)")
    assert not target.exists()


def test_prior_syntax_error_is_a_spec_error_and_a_value_error():
    with pytest.raises(SpecError):
        Prior.parse("nope")
    with pytest.raises(ValueError):
        Prior.parse("nope")


@pytest.mark.parametrize(
    "prior",
    [Prior("normal", (0, 2.5)), Prior("studentt", (3, 0, 1)), Prior("halfcauchy", (5,)), Prior("flat"),
     Prior("uniform", (-3, 3)), Prior("lkj", (2,))],
)
def test_prior_text_round_trips(prior):
    assert Prior.parse(str(prior)) == prior


@pytest.mark.parametrize(
    ("prior", "support"),
    [(Prior("normal", (0, 1)), "real"), (Prior("flat"), "real"), (Prior("halfnormal", (1,)), "positive"),
     (Prior("gamma", (2, 1)), "positive"), (Prior("uniform", (0, 1)), "positive"), (Prior("uniform", (-1, 1)), "real"),
     (Prior("lkj", (2,)), "correlation")],
)
def test_prior_support(prior, support):
    assert prior.support == support


def test_prior_constructor_validates_the_name():
    with pytest.raises(PriorSyntaxError, match="unknown prior distribution 'lognormal'"):
        Prior("lognormal", (0, 1))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------- assignments
@pytest.mark.parametrize(
    ("text", "name", "prior"),
    [
        ("sd(intercept)=halfcauchy(5)", "sd(intercept)", Prior("halfcauchy", (5.0,))),
        (" sd(floor) = halfnormal(0.5) ", "sd(floor)", Prior("halfnormal", (0.5,))),
        ("corr=lkj(4)", "corr", Prior("lkj", (4.0,))),
        ("intercept=normal(1.5, 10)", "intercept", Prior("normal", (1.5, 10.0))),
    ],
)
def test_parse_prior_assignment(text, name, prior):
    assert parse_prior_assignment(text) == (name, prior)


@pytest.mark.parametrize("text", ["halfcauchy(5)", "=halfcauchy(5)", "sd(intercept)=", "sd(intercept)=  "])
def test_parse_prior_assignment_needs_name_and_prior(text):
    with pytest.raises(PriorSyntaxError, match=re.escape("write NAME=DIST(ARGS)")):
        parse_prior_assignment(text)


def test_parse_prior_assignment_reports_a_bad_prior():
    with pytest.raises(PriorSyntaxError, match="'x' is not a number"):
        parse_prior_assignment("sigma=halfnormal(x)")


# ---------------------------------------------------------------------------------------------------- sampler
def test_sampler_settings_defaults_are_valid():
    s = SamplerSettings()
    assert s.draws >= 10 and s.tune >= 1 and s.chains >= 1 and s.target_accept is None


def test_an_open_target_acceptance_follows_the_sampled_parameters():
    """None: 0.99 where the sampled parameters can form a funnel, else 0.9; a value set stays."""
    assert SamplerSettings().target_accept_for(funnel=True) == 0.99
    assert SamplerSettings().target_accept_for(funnel=False) == 0.9
    assert SamplerSettings(target_accept=0.95).target_accept_for(funnel=False) == 0.95


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"draws": 0}, "draws must be a positive whole number, got 0"),
        ({"draws": 5}, "draws must be at least 10 to summarise a posterior, got 5"),
        ({"draws": 100.0}, "draws must be a positive whole number, got 100.0"),
        ({"draws": "100"}, "draws must be a positive whole number, got '100'"),
        ({"draws": True}, "draws must be a positive whole number, got True"),
        ({"tune": -1}, "tune must be a positive whole number, got -1"),
        ({"chains": 0}, "chains must be a positive whole number, got 0"),
        ({"seed": -1}, "seed must be a non-negative whole number, got -1"),
        ({"seed": 1.5}, "seed must be a non-negative whole number, got 1.5"),
        ({"target_accept": 1.0}, "target_accept must be a number in [0.5, 1), got 1.0"),
        ({"target_accept": 0.3}, "target_accept must be a number in [0.5, 1), got 0.3"),
        ({"target_accept": float("nan")}, "target_accept must be a number in [0.5, 1), got nan"),
        ({"target_accept": "0.9"}, "target_accept must be a number in [0.5, 1), got '0.9'"),
    ],
)
def test_sampler_settings_validation(changes, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        SamplerSettings(**changes)


def test_sampler_settings_report_every_problem():
    with pytest.raises(SpecError) as caught:
        SamplerSettings(draws=5, chains=0, target_accept=2.0)
    assert len(str(caught.value).split("; ")) == 3


def test_sampler_settings_minimum_is_accepted():
    s = SamplerSettings(draws=10, tune=1, chains=1, seed=0, target_accept=0.5)
    assert (s.draws, s.tune, s.chains, s.seed, s.target_accept) == (10, 1, 1, 0, 0.5)
