"""lme4 formulas to specs and back (hiermodels.model.formula).

The expected specs follow lme4's documented semantics (Bates et al. 2015, "Fitting linear mixed-effects models
using lme4", J. Stat. Softw. 67(1), Table 2): terms within one bar are correlated, ``||`` and separate bars are
not, ``(1 | a/b)`` is ``(1 | a) + (1 | a:b)``, and a bar's intercept is implicit unless removed with 0 or -1.
"""

from __future__ import annotations

import os

import pytest

from hiermodels.data.datasets import SAMPLES
from hiermodels.errors import FormulaError, SpecError
from hiermodels.model.formula import FormulaSpec, _tokens, formula_of, spec_from_formula, spec_options
from hiermodels.model.spec import INTERCEPT, GroupingFactor, ModelSpec, Prior, SamplerSettings

COLUMNS = ("y", "x", "z", "w", "g", "h", "a", "b", "c", "batch", "cask", "plate", "sample", "period", "n",
           "my col", "log_radon", "floor", "county")


def read(text: str, **options) -> FormulaSpec:
    return spec_from_formula(text, COLUMNS, **options)


def problems(text: str) -> tuple[str, ...]:
    with pytest.raises(FormulaError) as caught:
        read(text)
    return caught.value.problems


# ---------------------------------------------------------------------------------------------------- semantics
@pytest.mark.parametrize(
    ("text", "group", "varying", "correlated"),
    [
        ("y ~ x + (1 + x | g)", "g", (INTERCEPT, "x"), True),       # one bar: correlated
        ("y ~ x + (x | g)", "g", (INTERCEPT, "x"), True),           # the bar's intercept is implicit
        ("y ~ x + (1 + x || g)", "g", (INTERCEPT, "x"), False),     # || : uncorrelated
        ("y ~ x + (1 | g) + (0 + x | g)", "g", (INTERCEPT, "x"), False),  # two bars, one factor: merged
        ("y ~ x + (0 + x | g)", "g", ("x",), False),
        ("y ~ x + (x - 1 | g)", "g", ("x",), False),                # formulae alone fails on Term - Intercept
        ("y ~ x + (-1 + x | g)", "g", ("x",), False),
        ("y ~ x + (x + 1 | g)", "g", ("x", INTERCEPT), True),       # written order kept
        ("y ~ x + z + (1 + x + z | g)", "g", (INTERCEPT, "x", "z"), True),
        ("y ~ 1 + (1 | g)", "g", (INTERCEPT,), False),
        ("y ~ (1 | g)", "g", (INTERCEPT,), False),
        ("y ~ x + ((1 | g))", "g", (INTERCEPT,), False),
    ],
)
def test_one_factor(text, group, varying, correlated):
    spec = read(text).spec
    assert (spec.group, spec.varying, spec.correlated, spec.factors) == (group, varying, correlated, ())


def test_the_fixed_part_keeps_the_written_order_and_expands_crossings():
    assert read("y ~ z + x*w + (1 | g)").spec.predictors == ("z", "x", "w", "x:w")
    assert read("y ~ x:z + x + (1 | g)").spec.predictors == ("x:z", "x")
    assert read("y ~ (x + z + w)**2 + (1 | g)").spec.predictors == ("x", "z", "w", "x:z", "x:w", "z:w")
    assert read("y ~ (x + z + w)^2 + (1 | g)").spec == read("y ~ (x + z + w)**2 + (1 | g)").spec  # R's spelling
    assert read("y ~ x*z - x + (1 | g)").spec.predictors == ("z", "x:z")
    assert read("y ~ x/z + (1 | g)").spec.predictors == ("x", "x:z")
    assert read("y ~ 1 + x + x + (1 | g)").spec.predictors == ("x",)
    assert read("y ~ x + `my col` + (1 | g)").spec.predictors == ("x", "my col")


def test_an_interaction_can_vary():
    spec = read("y ~ x*z + (1 + x:z | g)").spec
    assert spec.varying == (INTERCEPT, "x:z") and spec.correlated


def test_crossed_factors():
    spec = read("y ~ 1 + (1 | plate) + (1 | sample)").spec
    assert (spec.group, spec.varying) == ("plate", (INTERCEPT,))
    assert spec.factors == (GroupingFactor("sample"),)
    assert [f.name for f in spec.all_factors] == ["plate", "sample"]


def test_crossed_factors_each_with_their_own_terms():
    spec = read("y ~ x + z + (1 + x | g) + (0 + z || h) + (1 + z || a)").spec
    assert (spec.group, spec.varying, spec.correlated) == ("g", (INTERCEPT, "x"), True)
    assert spec.factors == (GroupingFactor("h", ("z",)), GroupingFactor("a", (INTERCEPT, "z"), correlated=False))


def test_nested_factors():
    result = read("y ~ 1 + (1 | batch/cask)")
    assert (result.spec.group, result.spec.varying) == ("batch", (INTERCEPT,))
    assert result.spec.factors == (GroupingFactor("cask", within="batch"),)
    assert result.spec.factors[0].name == "cask:batch"
    assert result.notes == ("cask is nested in batch: the same cask label under two batch labels names two groups "
                            "(lme4's batch:cask).",)


def test_a_nested_slope_varies_at_both_levels():
    spec = read("y ~ x + (x | a/b)").spec
    assert (spec.group, spec.varying, spec.correlated) == ("a", (INTERCEPT, "x"), True)
    assert spec.factors == (GroupingFactor("b", (INTERCEPT, "x"), correlated=True, within="a"),)
    uncorrelated = read("y ~ x + (x || a/b)").spec
    assert not uncorrelated.correlated and not uncorrelated.factors[0].correlated


def test_three_levels_chain():
    spec = read("y ~ (1 | a/b/c)").spec
    assert spec.group == "a"
    assert spec.factors == (GroupingFactor("b", within="a"), GroupingFactor("c", within="b"))


def test_lme4s_own_expansion_of_a_nesting_reads_as_the_nesting():
    written = read("y ~ (1 | batch) + (1 | batch:cask)")
    assert written.spec == read("y ~ (1 | batch/cask)").spec
    assert "(1 | batch:cask) is read as cask nested in batch, as in (1 | batch/cask)." in written.notes


def test_categorical_with_a_stated_reference():
    for text in ('y ~ C(period, Treatment("1")) + (1 | g)', "y ~ C(period, Treatment('1')) + (1 | g)",
                 'y ~ C(period, Treatment(reference="1")) + (1 | g)', "y ~ C(period, Treatment(1)) + (1 | g)"):
        spec = read(text).spec
        assert spec.predictors == ("period",) and spec.categorical == (("period", "1"),), text
    spec = read('y ~ x + C(period, Treatment("2")) + (1 + period | g)').spec
    assert spec.categorical == (("period", "2"),) and spec.varying == (INTERCEPT, "period")
    # A text column without a stated reference is left to the data preparation.
    assert read("y ~ period + (1 | g)").spec.categorical == ()


def test_a_term_that_varies_but_is_not_fixed_is_added_with_a_note():
    result = read("y ~ 1 + (1 + x | g) + (0 + z | h)")
    assert result.spec.predictors == ("x", "z")
    assert result.notes == (
        "x varies over g but is not in the fixed part; it is added there, so its population mean is estimated "
        "(lme4 and brms would fix that mean at 0). Write x in the fixed part to say so.",
        "z varies over h but is not in the fixed part; it is added there, so its population mean is estimated "
        "(lme4 and brms would fix that mean at 0). Write z in the fixed part to say so.",
    )


def test_separate_bars_are_noted_as_uncorrelated():
    assert read("y ~ x + (1 | g) + (0 + x | g)").notes == (
        "the terms varying over g are given in separate bars, so they are uncorrelated.",)
    assert read("y ~ x + (1 + x | g)").notes == ()


def test_options_pass_through():
    sampler = SamplerSettings(draws=100, tune=100, chains=2)
    spec = read("y ~ x + (1 | g)", family="binomial", trials="n", pooling="none", sampler=sampler,
                priors=(("x", Prior("normal", (0, 1))),), parameterization="centered").spec
    assert (spec.family, spec.trials, spec.pooling, spec.sampler, spec.parameterization) == (
        "binomial", "n", "none", sampler, "centered")
    assert spec.prior_overrides == {"x": Prior("normal", (0, 1))}


def test_the_formula_fields_cannot_also_be_options():
    with pytest.raises(SpecError, match="group, varying are given by the formula"):
        read("y ~ x + (1 | g)", group="h", varying=("intercept",))


def test_an_inconsistent_spec_is_the_specs_error():
    # Every name exists and the formula reads, but a grouping column cannot also be a predictor.
    with pytest.raises(SpecError, match="cannot be both a predictor and the outcome/group"):
        read("y ~ g + (1 | g)")


# ---------------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("y ~ 0 + x + (1 | g)", "a model without population intercept (0 + ... or - 1 in the fixed part)"),
        ("y ~ x - 1 + (1 | g)", "a model without population intercept"),
        ("y ~ x", "the formula has no group term: add one, e.g. (1 | group)"),
        ("x + (1 | g)", "the formula has no '~'"),
        ("y ~ x + s(z) + (1 | g)", "s(z): smooth terms are not supported"),
        ("y ~ x + gp(z) + (1 | g)", "gp(z): smooth terms are not supported"),
        ("y ~ poly(x, 2) + (1 | g)", "poly(x, 2): poly() is not supported"),
        ("y ~ x + offset(log(n)) + (1 | g)", "offsets are not written in the formula; for a Poisson model give the "
                                             "exposure column as an option (--exposure COL"),
        ("y ~ log(x) + (1 | g)", "log(x): function calls are not supported in a formula"),
        ("y ~ I(x**2) + (1 | g)", "function calls are not supported"),
        ("y ~ {x + 1} + (1 | g)", "function calls are not supported"),
        ("log(y) ~ x + (1 | g)", "log(y): function calls are not supported"),
        ("y | trials(n) ~ x + (1 | g)", "brms's y | trials(n) and y | se(s) are not written in the formula"),
        ("y ~ C(x) + (1 | g)", 'C(x) needs its reference level, the level the others are compared with'),
        ("y ~ C(x, Sum) + (1 | g)", "only treatment (dummy) coding against a stated reference level"),
        ('y ~ C(x, Treatment("a")) + C(x, Treatment("b")) + (1 | g)', "x is given two reference levels"),
        ('y ~ x + (1 | C(g, Treatment("a")))', "g is a grouping factor, whose labels are always categories"),
        ("y ~ x + (1 | a:b)", "(1 | a:b): a factor of pairs needs a as a grouping factor too"),
        ("y ~ x + (1 | a:b:c) + (1 | a)", "a factor a:b:c of more than two columns is not supported"),
        ("y ~ x + (1 | g + h)", "give each grouping factor its own bar, e.g. (1 | plate) + (1 | sample)"),
        ("y ~ x + (1 | 1)", "after | comes the column of the groups"),
        ("y ~ x + (1 | g/g)", "g cannot be nested in itself"),
        ("y ~ (0 | g)", "(0 | g) lets nothing vary over g"),
        ("y ~ x + (1 | g) + (1 | g)", "intercept varies over g twice"),
        ("y ~ x + z + (1 + x | g) + (0 + z | g)", "write (1 + x + z | g) for all correlated or (1 + x + z || g)"),
        ("y ~ x + (1 | g) - (1 | h)", "a group term cannot be subtracted"),
        ("y ~ x*(1 | g)", "a group term (terms | factor) is added on its own"),
        ("y ~ x + 2 + (1 | g)", "2 is not a term"),
        ("y ~ x + True + (1 | g)", "True is not a term"),
        ('y ~ x + "x" + (1 | g)', '"x" is not a term'),
    ],
)
def test_refused_with_what_to_write_instead(text, message):
    found = problems(text)
    assert any(message in p for p in found), found


def test_every_problem_is_reported_at_once():
    found = problems("y ~ flor + s(x) + (1 | contry) + (1 | g) + (1 | g)")
    assert found == (
        "s(x): smooth terms are not supported; hiermodels fits linear terms (a column, an interaction a:b, a "
        "categorical C(...))",
        "intercept varies over g twice; give each term once per factor",
        "there is no column 'flor': did you mean 'floor'?",
        "there is no column 'contry': did you mean 'county'?",
    )
    with pytest.raises(FormulaError, match=r"^4 problems with the formula: s\(x\): smooth terms"):
        read("y ~ flor + s(x) + (1 | contry) + (1 | g) + (1 | g)")


def test_a_refused_call_is_shown_as_dots_in_the_other_messages():
    found = problems("y ~ x + z + (1 + x + log(z) | g) + (0 + z | g)")
    assert found[0].startswith("log(z): function calls are not supported")
    assert found[1].startswith("(1 + x + ... | g) + (0 + z | g): lme4 correlates the terms within each bar")


def test_a_missing_column_without_a_close_name_lists_the_columns():
    (message,) = problems("y ~ qqqq + (1 | g)")
    assert message.startswith("there is no column 'qqqq': the columns are ")


@pytest.mark.parametrize(
    ("text", "position", "detail"),
    [
        ("y ~ x + (1 + x | g", 18, "a '(' is not closed: add its ')'"),
        ("y ~ x | g", 6, "unexpected '|': a group term is written in parentheses, (1 | group)"),
        ("y ~ x + (1 + x | g))", 19, "unexpected ')'; terms are joined with +"),
        ("y ~ x ~ z", 6, "a formula has one '~', between the outcome and the terms"),
        ("~ x + (1 | g)", 0, "the outcome is missing before '~'"),
        ("y ~ x + ", 8, "a term is missing after the last operator"),
        ("y ~ x + $z + (1 | g)", 8, "unexpected character '$'"),
        ("y ~ `my col + (1 | g)", 4, "a backquoted name is not closed"),
        ('y ~ C(x, Treatment("a)) + (1 | g)', 19, "a quoted text is not closed"),
        ("y ~ x[2] + (1 | g)", 7, "a level in brackets is not supported"),
        ("y ~ x + (1 ||| g)", 13, "unexpected '|'"),
    ],
)
def test_a_syntax_error_points_at_its_character(text, position, detail):
    with pytest.raises(FormulaError) as caught:
        read(text)
    error = caught.value
    assert error.position == position
    (problem,) = error.problems
    where = "its end" if position == len(text) else f"character {position + 1}"
    assert problem.startswith(f"cannot read the formula at {where}: {detail}")
    assert str(error).split("\n") == [problem, f"  {text}", "  " + " " * position + "^"]


def test_the_empty_formula():
    for text in ("", "   "):
        with pytest.raises(FormulaError, match="the formula is empty: write outcome ~ terms"):
            read(text)


def test_nothing_written_is_evaluated(monkeypatch, tmp_path):
    """A formula is parsed, never run: neither a Python expression nor a call that formulae would evaluate when
    building a design matrix does anything."""
    calls = []
    monkeypatch.setattr(os, "system", lambda command: calls.append(command))
    target = tmp_path / "touched"
    for text in ("y ~ __import__('os').system('x')",
                 f"y ~ os.system('touch {target}') + (1 | g)",
                 f"y ~ x + (1 | g) + exec(\"open('{target}', 'w')\")",
                 "y ~ x + (1 | g) + __builtins__"):
        with pytest.raises(FormulaError):
            read(text)
    assert calls == [] and not target.exists()


def test_formula_error_is_a_spec_error():
    # The CLI and the app report a SpecError as bad input, not as a crash.
    assert issubclass(FormulaError, SpecError)


def test_token_positions_and_double_bars():
    """The contract with formulae's scanner that positions rely on: each token's text starts at its position."""
    text = "log_radon ~ C(floor, Treatment('0')) + `my col`:x + (1 + x || county/house) - 1"
    tokens = _tokens(text)
    for token in tokens[:-1]:
        assert text[token.position:].startswith(token.lexeme if token.kind != "STRING" else token.lexeme[:1])
    assert [t.lexeme for t in tokens if t.kind == "PIPE"] == ["||"]
    assert tokens[-1].kind == "EOF" and tokens[-1].position == len(text)


# ---------------------------------------------------------------------------------------------------- writing
@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (ModelSpec("log_radon", "county", ("floor",)), "log_radon ~ floor + (1 | county)"),
        (ModelSpec("y", "g", ("x",), varying=(INTERCEPT, "x"), correlated=True), "y ~ x + (1 + x | g)"),
        (ModelSpec("y", "g", ("x",), varying=(INTERCEPT, "x")), "y ~ x + (1 + x || g)"),
        (ModelSpec("y", "g", ("x",), varying=("x",)), "y ~ x + (0 + x | g)"),
        (ModelSpec("y", "plate", factors=(GroupingFactor("sample"),)), "y ~ 1 + (1 | plate) + (1 | sample)"),
        (ModelSpec("y", "batch", factors=(GroupingFactor("cask", within="batch"),)), "y ~ 1 + (1 | batch/cask)"),
        (ModelSpec("y", "a", ("x",), factors=(GroupingFactor("b", (INTERCEPT, "x"), within="a"),)),
         "y ~ x + (1 | a) + (1 + x || a:b)"),
        (ModelSpec("y", "g", ("period", "x", "x:period"), categorical=(("period", "1"),)),
         'y ~ C(period, Treatment("1")) + x + x:period + (1 | g)'),
        (ModelSpec("y", "g", ("my col",)), "y ~ `my col` + (1 | g)"),
    ],
)
def test_formula_of(spec, text):
    assert formula_of(spec) == text


def round_trip(spec: ModelSpec, columns) -> ModelSpec:
    return spec_from_formula(formula_of(spec), columns, **spec_options(spec)).spec


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_round_trip_of_every_sample(sample):
    assert round_trip(sample.spec, [str(c) for c in sample.load().columns]) == sample.spec


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec("y", "g", ("x", "z", "x:z"), varying=(INTERCEPT, "x", "x:z"), correlated=True, pooling="none"),
        ModelSpec("y", "g", ("x",), varying=("x", INTERCEPT)),
        ModelSpec("y", "plate", ("x",), varying=(INTERCEPT, "x"), correlated=True,
                  factors=(GroupingFactor("sample", ("x",)), GroupingFactor("h", (INTERCEPT, "x")))),
        ModelSpec("y", "a", factors=(GroupingFactor("b", within="a"), GroupingFactor("c", within="b"))),
        ModelSpec("y", "a", ("x",), factors=(GroupingFactor("plate"), GroupingFactor("b", ("x",), within="a"))),
        ModelSpec("y", "g", ("period", "n"), family="poisson", exposure="w", categorical=(("period", "b"),),
                  priors=(("sd(intercept)", Prior("halfnormal", (1,))),), sampler=SamplerSettings(draws=50)),
        ModelSpec("my col", "g", ("x",), family="binomial", trials="n", group_noise=False, pooling="complete"),
    ],
)
def test_round_trip(spec):
    assert round_trip(spec, COLUMNS) == spec


def test_spec_options_are_the_fields_outside_the_formula():
    spec = ModelSpec("y", "g", family="binomial", trials="n", pooling="none")
    options = spec_options(spec)
    assert {"outcome", "group", "predictors", "varying", "correlated", "categorical", "factors"}.isdisjoint(options)
    assert (options["family"], options["trials"], options["pooling"]) == ("binomial", "n", "none")


def test_unwritable_names_are_refused():
    with pytest.raises(SpecError, match="holds a backquote"):
        formula_of(ModelSpec("y", "g", ("a`b",)))
    with pytest.raises(SpecError, match="holds a quote"):
        formula_of(ModelSpec("y", "g", ("x",), categorical=(("x", 'say "hi"'),)))


def test_what_formulae_cannot_do_that_this_module_does():
    """The contract with formulae 0.9 that the module docstring describes: if an upgrade lifts one of these
    limits, this fails, and the hand-written part can shrink."""
    from formulae import model_description
    from formulae.parser import ParseError
    from formulae.scanner import ScanError

    def group_terms(text):
        return [str(t) for t in model_description(text).group_terms]

    # Bars are split into one term per (term, factor): correlation and nesting are invisible in the description.
    assert group_terms("y ~ (1 + x | g)") == group_terms("y ~ (1 | g) + (0 + x | g)")
    assert group_terms("y ~ (1 | a/b)") == group_terms("y ~ (1 | a) + (1 | a:b)")
    with pytest.raises(ParseError):
        model_description("y ~ (1 + x || g)")
    with pytest.raises(TypeError):
        model_description("y ~ (x + 1 | g)")
    with pytest.raises(ScanError):
        model_description("y ~ (x + z)^2")


def test_prior_overrides_follow_their_factor_when_a_formula_adds_or_removes_one() -> None:
    """The app's formula box (pages/2_model.py) carries the priors set before: sd(intercept) of county becomes
    sd(intercept|county) once a second factor is added, and back; an override of a factor that is gone is left
    out with a note, and other overrides are kept."""
    from hiermodels.model.formula import carry_priors
    from hiermodels.model.spec import ModelSpec, Prior

    one = ModelSpec(outcome="y", group="county", predictors=("x",), varying=("intercept", "x"), correlated=True,
                    priors=(("sd(intercept)", Prior.parse("halfnormal(2)")), ("corr", Prior.parse("lkj(4)")),
                            ("x", Prior.parse("normal(0, 3)"))))
    two = spec_from_formula("y ~ x + (1 + x | county) + (1 | city)", ["y", "x", "county", "city"]).spec
    carried, notes = carry_priors(one, two)
    assert dict(carried.priors) == {"sd(intercept|county)": Prior.parse("halfnormal(2)"),
                                    "corr|county": Prior.parse("lkj(4)"), "x": Prior.parse("normal(0, 3)")}
    assert any("now named sd(intercept|county)" in note for note in notes)
    back, _ = carry_priors(carried, one)
    assert dict(back.priors) == dict(one.priors)
    other = spec_from_formula("y ~ x + (1 | city)", ["y", "x", "county", "city"]).spec
    dropped, notes = carry_priors(one, other)
    assert dict(dropped.priors) == {"x": Prior.parse("normal(0, 3)")}
    assert any("no grouping factor county" in note for note in notes)
