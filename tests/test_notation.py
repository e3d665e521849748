r"""The model written down: lme4/brms formulas, KaTeX maths, and a sentence. No data, no sampling.

The expected formulas are written by hand from lme4's and brms's conventions: ``(1 + x | g)`` correlated
group effects, brms's ``(1 + x || g)`` uncorrelated ones, ``0 + g + g:x`` one coefficient per group,
``y | trials(n)``, ``y | se(s)``, ``offset(log(e))`` and the distributional ``sigma ~ ...`` part.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace

import pytest

from hiermodels.errors import SpecError
from hiermodels.model.notation import describe, escape_latex, formula, group_term, latex, latex_text, r_name
from hiermodels.model.spec import FAMILIES, POOLINGS, GroupingFactor, ModelSpec, Prior

RADON = ModelSpec(outcome="log_radon", group="county", predictors=("floor",))
VARYING_SLOPE = replace(RADON, varying=("intercept", "floor"))
CORRELATED = replace(VARYING_SLOPE, correlated=True)

HOSTILE = (
    "a_b",
    "50%",
    r"x}\href{javascript:alert(1)}{y",
    "$x$",
    r"\htmlClass{evil}{text}",
    "{",
    "}}",
    "\\",
    "a&b#c~d^e",
    "<script>|</script>",
    'quote"back`tick',
    "new\nline",
    "%comment",
    "é中 ü",
)

# Every control sequence the LaTeX may contain; anything else would have come from a user's string.
ALLOWED_COMMANDS = frozenset(
    {
        "begin", "end", "text", "mathcal", "mathrm", "sim", "in", "dots", "quad", "big", "log", "times",
        "eta", "beta", "mu", "tau", "sigma", "Sigma", "alpha",
        "textbackslash", "textdollar", "textasciicircum", "textasciitilde", "textless", "textgreater", "textbar",
        "\\", ",", " ", "{", "}", "_", "&", "%", "#",
    }
)


def tex_tokens(tex: str) -> list[tuple[str, str]]:
    """("cmd", name) for each control sequence (``\\href`` -> "href", ``\\{`` -> "{"), ("char", c) otherwise."""
    tokens = []
    i = 0
    while i < len(tex):
        if tex[i] == "\\":
            word = re.match(r"[A-Za-z]+", tex[i + 1 :])
            name = word.group() if word else tex[i + 1 : i + 2]
            tokens.append(("cmd", name))
            i += 1 + len(name)
        else:
            tokens.append(("char", tex[i]))
            i += 1
    return tokens


def assert_safe_tex(tex: str) -> None:
    depth = 0
    for kind, value in tex_tokens(tex):
        if kind == "char" and value == "{":
            depth += 1
        elif kind == "char" and value == "}":
            depth -= 1
            assert depth >= 0, f"a closing brace without an opening one in {tex!r}"
    assert depth == 0, f"unbalanced braces in {tex!r}"
    commands = {value for kind, value in tex_tokens(tex) if kind == "cmd"}
    assert commands <= ALLOWED_COMMANDS, f"unexpected commands {commands - ALLOWED_COMMANDS} in {tex!r}"
    assert "$" not in tex
    raw = "".join(value if kind == "char" else " " for kind, value in tex_tokens(tex))
    assert not set(raw) & set("%#~"), f"a raw comment, parameter or tie character in {tex!r}"
    assert re.findall(r"\^.", raw) == re.findall(r"\^\{", raw), f"a raw superscript in {tex!r}"
    assert re.findall(r"_.", raw) == re.findall(r"_[{ijR]", raw), f"a raw subscript in {tex!r}"
    rows = raw.split("\n")[1:-1]
    assert all(row.count("&") == 1 for row in rows), f"a raw alignment character in {tex!r}"
    environments = re.findall(r"\\(?:begin|end)\{([^}]*)\}", tex)
    assert environments == ["aligned", "aligned"]
    assert tex.startswith("\\begin{aligned}\n") and tex.endswith("\n\\end{aligned}")


# ------------------------------------------------------------------------------------------------ formula
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (CORRELATED, "log_radon ~ 1 + floor + (1 + floor | county)"),
        (VARYING_SLOPE, "log_radon ~ 1 + floor + (1 + floor || county)"),
        (RADON, "log_radon ~ 1 + floor + (1 | county)"),
        (replace(RADON, varying=("floor",)), "log_radon ~ 1 + floor + (0 + floor | county)"),
        (replace(RADON, predictors=()), "log_radon ~ 1 + (1 | county)"),
        (replace(VARYING_SLOPE, pooling="none"), "log_radon ~ 0 + county + county:floor"),
        (replace(RADON, pooling="none"), "log_radon ~ 0 + county + floor"),
        (replace(RADON, pooling="none", varying=("floor",)), "log_radon ~ 1 + county:floor"),
        (replace(RADON, pooling="complete"), "log_radon ~ 1 + floor"),
        # complete pooling ignores what varies, and has no group noise
        (replace(CORRELATED, pooling="complete", group_noise=True), "log_radon ~ 1 + floor"),
        (replace(RADON, pooling="complete", predictors=(), varying=()), "log_radon ~ 1"),
        (
            replace(RADON, predictors=("floor", "log_uranium"), varying=("intercept", "floor"), correlated=True),
            "log_radon ~ 1 + floor + log_uranium + (1 + floor | county)",
        ),
        (
            replace(RADON, predictors=("floor", "log_uranium"), varying=("intercept", "floor"), pooling="none"),
            "log_radon ~ 0 + county + county:floor + log_uranium",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_formula_gaussian(spec, expected):
    assert formula(spec) == expected


CBPP = ModelSpec(
    outcome="incidence", group="herd", predictors=("period",), family="binomial", trials="size",
    categorical=(("period", "1"),),
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (CBPP, "incidence | trials(size) ~ 1 + period + (1 | herd), family = binomial"),
        (replace(CBPP, pooling="none"), "incidence | trials(size) ~ 0 + herd + period, family = binomial"),
        (replace(CBPP, pooling="complete"), "incidence | trials(size) ~ 1 + period, family = binomial"),
        (
            ModelSpec(outcome="sick", group="herd", predictors=("age",), family="binomial"),
            "sick ~ 1 + age + (1 | herd), family = bernoulli",
        ),
        (
            ModelSpec(outcome="count", group="county", predictors=("x",), family="poisson", exposure="exposure"),
            "count ~ 1 + x + offset(log(exposure)) + (1 | county), family = poisson",
        ),
        (
            ModelSpec(outcome="count", group="county", family="poisson", exposure="exposure", pooling="none"),
            "count ~ 0 + county + offset(log(exposure)), family = poisson",
        ),
        (
            ModelSpec(outcome="count", group="county", family="poisson", pooling="complete"),
            "count ~ 1, family = poisson",
        ),
        (
            ModelSpec(outcome="cost", group="hospital", predictors=("age",), family="gamma"),
            'cost ~ 1 + age + (1 | hospital), family = Gamma(link = "log")',
        ),
        (
            ModelSpec(outcome="estimate", group="school", family="known_se", se="se"),
            "estimate | se(se) ~ 1 + (1 | school)",
        ),
        (
            ModelSpec(outcome="estimate", group="school", family="known_se", se="se", pooling="none"),
            "estimate | se(se) ~ 0 + school",
        ),
        (
            ModelSpec(outcome="estimate", group="school", family="known_se", se="se", pooling="complete"),
            "estimate | se(se) ~ 1",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_formula_families(spec, expected):
    assert formula(spec) == expected


def test_formula_group_noise_is_a_distributional_sigma_part():
    assert formula(replace(RADON, group_noise=True)) == (
        "log_radon ~ 1 + floor + (1 | county) ; sigma ~ 1 + (1 | county)"
    )
    assert formula(replace(RADON, group_noise=True, pooling="none")) == (
        "log_radon ~ 0 + county + floor ; sigma ~ 0 + county"
    )


def test_formula_categorical_predictor_by_name():
    exam = ModelSpec(
        outcome="normexam", group="school", predictors=("standLRT", "sex"), varying=("intercept", "sex"),
        correlated=True, categorical=(("sex", "F"),),
    )
    assert formula(exam) == "normexam ~ 1 + standLRT + sex + (1 + sex | school)"


def test_formula_backticks_names_that_are_not_r_identifiers():
    spec = ModelSpec(
        outcome="log radon", group="if", predictors=("50%", "a_b", "2x"), varying=("intercept", "50%"),
        family="binomial", trials="n-trials",
    )
    assert formula(spec) == (
        "`log radon` | trials(`n-trials`) ~ 1 + `50%` + a_b + `2x` + (1 + `50%` || `if`), family = binomial"
    )


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("log_radon", "log_radon"),
        ("log.radon", "log.radon"),
        (".hidden", ".hidden"),
        ("x2", "x2"),
        ("_x", "`_x`"),
        (".2x", "`.2x`"),
        ("2x", "`2x`"),
        ("a b", "`a b`"),
        ("TRUE", "`TRUE`"),
        ("function", "`function`"),
        ("...", "`...`"),
        ("..1", "`..1`"),
        ("a`b", "`a\\`b`"),
        ("a\\b", "`a\\\\b`"),
        ("a\nb", "`a\\nb`"),
        ("é", "`é`"),
    ],
)
def test_r_name(column, expected):
    assert r_name(column) == expected


# ------------------------------------------------------------------------------------------------ LaTeX
def test_latex_partial_pooling_independent():
    tex = latex(VARYING_SLOPE)
    assert r"\text{log\_radon}_i &\sim \mathcal{N}(\eta_i,\ \sigma)" in tex
    assert r"\eta_i &= b_{0,g[i]} + b_{\text{floor},g[i]}\,\text{floor}_i" in tex
    assert r"g[i] &\in \{1, \dots, J\} \quad \text{(the county of row }i\text{)}" in tex
    assert r"b_{0,j} &\sim \mathcal{N}(\mu_{0},\ \tau_{0})" in tex
    assert r"b_{\text{floor},j} &\sim \mathcal{N}(\mu_{\text{floor}},\ \tau_{\text{floor}})" in tex
    assert "LKJ" not in tex and "MVN" not in tex
    assert_safe_tex(tex)


def test_latex_partial_pooling_correlated():
    tex = latex(CORRELATED)
    assert r"(b_{0,j},\ b_{\text{floor},j}) &\sim \mathcal{MVN}\big((\mu_{0},\ \mu_{\text{floor}}),\ \Sigma\big)" in tex
    assert r"\Sigma &= \mathrm{diag}(\tau)\, R\, \mathrm{diag}(\tau)" in tex
    assert r"R &\sim \mathrm{LKJ}(\eta_R)" in tex
    assert r"R &\sim \mathrm{LKJ}(2)" in latex(CORRELATED, priors={"corr": Prior("lkj", (2,))})
    assert_safe_tex(tex)


def test_latex_partial_pooling_common_slope():
    tex = latex(RADON)
    assert r"\eta_i &= b_{0,g[i]} + \beta_{\text{floor}}\,\text{floor}_i" in tex
    assert r"b_{0,j} &\sim \mathcal{N}(\mu_{0},\ \tau_{0})" in tex
    assert r"\tau_{\text{floor}}" not in tex


def test_latex_no_pooling():
    tex = latex(replace(VARYING_SLOPE, pooling="none"))
    assert r"b_{0,j} &\sim p_{0} \quad \text{(fixed prior, independently for each county)}" in tex
    assert r"b_{\text{floor},j} &\sim p_{\text{floor}}" in tex
    assert "g[i]" in tex
    assert r"\mu" not in tex and r"\tau" not in tex
    assert_safe_tex(tex)


def test_latex_complete_pooling():
    tex = latex(replace(CORRELATED, pooling="complete"))
    assert r"\eta_i &= \beta_{0} + \beta_{\text{floor}}\,\text{floor}_i" in tex
    assert "g[i]" not in tex and "b_" not in tex and "LKJ" not in tex and "county" not in tex
    assert_safe_tex(tex)


@pytest.mark.parametrize(
    ("spec", "pieces"),
    [
        (CBPP, [r"\text{incidence}_i &\sim \mathrm{Binomial}(\text{size}_i,\ \mathrm{logit}^{-1}(\eta_i))"]),
        (replace(CBPP, trials=None), [r"\mathrm{Bernoulli}(\mathrm{logit}^{-1}(\eta_i))"]),
        (
            ModelSpec(outcome="count", group="county", family="poisson", exposure="exposure"),
            [r"\mathrm{Poisson}(e^{\eta_i})", r"\eta_i &= b_{0,g[i]} + \log \text{exposure}_i"],
        ),
        (ModelSpec(outcome="cost", group="hospital", family="gamma"), [r"\mathrm{Gamma}(\alpha,\ \alpha e^{-\eta_i})"]),
        (
            ModelSpec(outcome="estimate", group="school", family="known_se", se="se"),
            [r"\text{estimate}_i &\sim \mathcal{N}(\eta_i,\ \text{se}_i)", "(standard errors known)"],
        ),
        (replace(RADON, group_noise=True), [r"\mathcal{N}(\eta_i,\ \sigma_{g[i]})", r"\log \sigma_j &\sim"]),
        (replace(RADON, group_noise=True, pooling="none"), [r"\sigma_j &\sim p_{\sigma}"]),
    ],
)
def test_latex_families(spec, pieces):
    tex = latex(spec)
    for piece in pieces:
        assert piece in tex
    assert_safe_tex(tex)


def test_latex_categorical_terms_are_indicators():
    tex = latex(CBPP, terms=("intercept", "period[2]", "period[3]"))
    assert r"\beta_{\text{period[2]}}\,[\text{period}_i = \text{2}]" in tex
    assert r"\beta_{\text{period[3]}}\,[\text{period}_i = \text{3}]" in tex
    with pytest.raises(SpecError, match="'age'"):
        latex(CBPP, terms=("intercept", "age"))


def test_latex_priors_rounded_to_three_significant_digits():
    priors = {
        "intercept": Prior("normal", (1.23456, 2.04)),
        "floor": Prior("normal", (0.0, 3.5e-5)),
        "sd(intercept)": Prior("halfnormal", (0.8197,)),
        "sd(floor)": Prior("halfnormal", (123456.0,)),
        "corr": Prior("lkj", (2.0,)),
        "sigma": Prior("halfnormal", (0.8197,)),
    }
    tex = latex(CORRELATED, priors=priors)
    assert r"\mu_{0} &\sim \mathcal{N}(1.23,\ 2.04)" in tex
    assert r"\mu_{\text{floor}} &\sim \mathcal{N}(0,\ 3.5 \times 10^{-5})" in tex
    assert r"\tau_{0} &\sim \mathrm{HalfNormal}(0.82)" in tex
    assert r"\tau_{\text{floor}} &\sim \mathrm{HalfNormal}(1.23 \times 10^{5})" in tex
    assert r"\sigma &\sim \mathrm{HalfNormal}(0.82)" in tex
    assert_safe_tex(tex)
    # no pooling: each group's coefficient shows its term's fixed prior; complete pooling: the betas
    none = latex(replace(RADON, pooling="none"), priors=priors)
    assert r"b_{0,j} &\sim \mathcal{N}(1.23,\ 2.04)" in none
    assert r"\beta_{\text{floor}} &\sim \mathcal{N}(0,\ 3.5 \times 10^{-5})" in none
    complete = latex(replace(RADON, pooling="complete"), priors=priors)
    assert r"\beta_{0} &\sim \mathcal{N}(1.23,\ 2.04)" in complete
    assert r"\tau" not in complete


def test_latex_prior_names():
    gamma = ModelSpec(outcome="cost", group="hospital", family="gamma")
    tex = latex(gamma, priors={"alpha": Prior("halfcauchy", (1.0,)), "intercept": Prior("flat"),
                               "sd(intercept)": Prior("exponential", (2.0,))})
    assert r"\alpha &\sim \mathrm{HalfCauchy}(1)" in tex
    assert r"\mu_{0} &\sim \mathrm{Flat}" in tex
    assert r"\tau_{0} &\sim \mathrm{Exponential}(2)" in tex
    studentt = latex(RADON, priors={"floor": Prior("studentt", (3, -0.0001234, 10))})
    assert r"\beta_{\text{floor}} &\sim \mathrm{StudentT}(3,\ -0.000123,\ 10)" in studentt


# ------------------------------------------------------------------------------------------------ escaping
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a_b", r"a\_b"),
        ("50%", r"50\%"),
        (r"x}\href{javascript:alert(1)}{y", r"x\}\textbackslash{}href\{javascript:alert(1)\}\{y"),
        ("$x$", r"\textdollar{}x\textdollar{}"),
        ("a&b#c~d^e", r"a\&b\#c\textasciitilde{}d\textasciicircum{}e"),
        ("<b>|", r"\textless{}b\textgreater{}\textbar{}"),
        ('quote"back`tick', "quote?back?tick"),
        ("new\nline\ttab", "new line tab"),
        ("é中 ü", "é中 ü"),
        ("e\u0301", "e?"),  # a combining accent is not a letter on its own
        ("floor (m²)", "floor (m²)"),
        ("x[b]", "x[b]"),
    ],
)
def test_escape_latex(text, expected):
    assert escape_latex(text) == expected
    assert latex_text(text) == rf"\text{{{expected}}}"


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_stay_text(name):
    spec = ModelSpec(
        outcome=f"y {name}", group=f"g {name}", predictors=(f"x {name}", f"c {name}"),
        varying=("intercept", f"x {name}"), correlated=True, categorical=((f"c {name}", "ref"),),
    )
    terms = ("intercept", f"x {name}", f"c {name}[{name}]")
    tex = latex(spec, terms, priors={f"x {name}": Prior("normal", (0, 1)), "sigma": Prior("halfnormal", (1,))})
    assert_safe_tex(tex)
    commands = {value for kind, value in tex_tokens(tex) if kind == "cmd"}
    assert not commands & {"href", "htmlClass", "url", "def", "newcommand", "includegraphics"}


def test_newline_in_a_name_does_not_add_a_row():
    plain = latex(ModelSpec(outcome="y", group="g", predictors=("x",)))
    hostile = latex(ModelSpec(outcome="y\n$$\n", group="g\r\n", predictors=("x\n\\\\",)))
    assert hostile.count("\n") == plain.count("\n")
    assert_safe_tex(hostile)


def test_hostile_href_is_not_a_command():
    name = r"x}\href{javascript:alert(1)}{y"
    tex = latex(ModelSpec(outcome=name, group="county"))
    assert r"\href" not in tex
    assert r"\text{x\}\textbackslash{}href\{javascript:alert(1)\}\{y}_i" in tex


def _spec_variants():
    """Many valid specs (hostile and plain names, every pooling and family); invalid combinations are skipped."""
    names = ("log_radon", *HOSTILE[:8])
    varyings = (("intercept",), ("x",), ("intercept", "x"), ("intercept", "x", "c"))
    for name, pooling, family, varying, correlated, noise in itertools.product(
        names, POOLINGS, FAMILIES, varyings, (False, True), (False, True)
    ):
        renamed = tuple(f"{v} {name}" if v != "intercept" else v for v in varying)
        extra = {"binomial": {"trials": f"n {name}"}, "poisson": {"exposure": f"e {name}"},
                 "known_se": {"se": f"se {name}"}}.get(family, {})
        try:
            yield ModelSpec(
                outcome=f"y {name}", group=f"g {name}", predictors=(f"x {name}", f"c {name}"), pooling=pooling,
                varying=renamed, correlated=correlated, group_noise=noise, family=family,
                categorical=((f"c {name}", "ref"),), **extra,
            )
        except SpecError:
            continue


def test_latex_is_safe_for_many_specs():
    specs = list(_spec_variants())
    assert len(specs) > 300
    for spec in specs:
        name = spec.outcome[2:]
        terms = ("intercept", f"x {name}", f"c {name}[lvl {name}]")
        priors = {
            "intercept": Prior("normal", (1, 2)), terms[1]: Prior("normal", (0, 1e-7)),
            terms[2]: Prior("studentt", (3, 0, 1)), f"sd({terms[1]})": Prior("halfcauchy", (5,)),
            "sd(intercept)": Prior("halfnormal", (0.8197,)), "corr": Prior("lkj", (2,)),
            "sigma": Prior("halfnormal", (1,)), "sd(log_sigma)": Prior("exponential", (1,)),
            "alpha": Prior("halfcauchy", (1,)),
        }
        assert_safe_tex(latex(spec))
        assert_safe_tex(latex(spec, terms, priors))


# ------------------------------------------------------------------------------------------------ in words
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            CORRELATED,
            "Partial pooling: each county has its own intercept and floor slope, drawn from a common population "
            "(correlated), so small counties borrow strength from the rest.",
        ),
        (
            VARYING_SLOPE,
            "Partial pooling: each county has its own intercept and floor slope, drawn from a common population "
            "(independent), so small counties borrow strength from the rest.",
        ),
        (
            RADON,
            "Partial pooling: each county has its own intercept, drawn from a common population, while the floor "
            "slope is shared by all counties, so small counties borrow strength from the rest.",
        ),
        (
            replace(RADON, pooling="none"),
            "No pooling: each county has its own intercept, estimated from that county's rows alone, while the "
            "floor slope is shared by all counties, so counties with few rows get noisy estimates.",
        ),
        (
            replace(RADON, pooling="complete"),
            "Complete pooling: a single intercept and floor slope shared by all counties, as if the county of a row "
            "did not matter.",
        ),
        (
            replace(RADON, group_noise=True),
            "Partial pooling: each county has its own intercept, drawn from a common population, while the floor "
            "slope is shared by all counties, so small counties borrow strength from the rest; the residual noise "
            "also varies by county, partially pooled.",
        ),
        (
            replace(CBPP, varying=("intercept", "period"), pooling="none"),
            "No pooling: each herd has its own intercept and period effect, estimated from that herd's rows alone, "
            "so herds with few rows get noisy estimates.",
        ),
        (
            ModelSpec(outcome="y", group="county_id", predictors=("a", "b"), varying=("a",)),
            "Partial pooling: each county_id group has its own a slope, drawn from a common population, while the "
            "intercept and b slope are shared by all county_id groups, so small county_id groups borrow strength "
            "from the rest.",
        ),
    ],
)
def test_describe(spec, expected):
    assert describe(spec) == expected


@pytest.mark.parametrize(
    ("group", "plural"),
    [("school", "schools"), ("family", "families"), ("player", "players"), ("box", "boxes"),
     ("COUNTY", "COUNTIES"), ("g", "g groups")],
)
def test_describe_plurals(group, plural):
    assert f"small {plural} borrow" in describe(ModelSpec(outcome="y", group=group))


# ------------------------------------------------------------------------------------------------ several factors
PENICILLIN = ModelSpec("diameter", "plate", factors=(GroupingFactor("sample"),))
NESTED = ModelSpec("strength", "batch", predictors=("x",),
                   factors=(GroupingFactor("cask", ("intercept", "x"), correlated=True, within="batch"),))


def test_group_term_writes_a_factor_as_lme4_does():
    assert group_term(GroupingFactor("sample")) == "(1 | sample)"
    assert group_term(GroupingFactor("g", ("intercept", "x"))) == "(1 + x || g)"
    assert group_term(GroupingFactor("g", ("x",), )) == "(0 + x | g)"
    assert group_term(GroupingFactor("cask", ("intercept", "x"), correlated=True, within="batch")) == \
        "(1 + x | batch:cask)"
    assert group_term(GroupingFactor("my sample")) == "(1 | `my sample`)"


@pytest.mark.parametrize(("pooling", "expected"), [
    ("partial", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    ("none", "diameter ~ 0 + plate + sample"),
    ("complete", "diameter ~ 1"),
])
def test_formula_with_a_crossed_factor(pooling, expected):
    assert formula(PENICILLIN.with_pooling(pooling)) == expected


def test_formula_with_a_nested_factor_and_a_varying_slope():
    assert formula(NESTED) == "strength ~ 1 + x + (1 | batch) + (1 + x | batch:cask)"
    assert formula(NESTED.with_pooling("none")) == "strength ~ 0 + batch + x + batch:cask + batch:cask:x"


def test_latex_shows_every_level():
    priors = {"intercept": Prior("normal", (23, 5)), "sd(intercept|plate)": Prior("halfnormal", (1,)),
              "sd(intercept|sample)": Prior("halfnormal", (2,)), "sigma": Prior("halfnormal", (1,))}
    tex = latex(PENICILLIN, priors=priors)
    assert r"\eta_i &= b_{0,g[i]} + u^{(\text{sample})}_{0,h_{1}[i]}" in tex
    assert r"h_{1}[i] &\in \{1, \dots, H_{1}\} \quad \text{(the sample of row }i\text{)}" in tex
    assert r"u^{(\text{sample})}_{0,h} &\sim \mathcal{N}(0,\ \tau^{(\text{sample})}_{0})" in tex
    assert r"\tau_{0} &\sim \mathrm{HalfNormal}(1)" in tex  # the first factor's sd(intercept|plate)
    assert r"\tau^{(\text{sample})}_{0} &\sim \mathrm{HalfNormal}(2)" in tex
    assert_safe_tex(tex)
    none = latex(PENICILLIN.with_pooling("none"), priors=priors)
    assert r"u^{(\text{sample})}_{0,h} &\sim \mathcal{N}(0,\ 5)" in none and "sum to 0" in none
    assert r"\tau" not in none
    assert_safe_tex(none)
    complete = latex(PENICILLIN.with_pooling("complete"), priors=priors)
    assert "u^" not in complete and "h_" not in complete
    assert_safe_tex(complete)


def test_latex_of_a_nested_correlated_factor():
    tex = latex(NESTED, priors={"corr|cask:batch": Prior("lkj", (2,))})
    assert r"u^{(\text{cask:batch})}_{\text{x},h_{1}[i]}\,\text{x}_i" in tex
    assert r"\text{(the cask within batch of row }i\text{)}" in tex
    assert (r"(u^{(\text{cask:batch})}_{0,h},\ u^{(\text{cask:batch})}_{\text{x},h}) &\sim "
            r"\mathcal{MVN}\big(0,\ \Sigma^{(\text{cask:batch})}\big)") in tex
    assert r"R^{(\text{cask:batch})} &\sim \mathrm{LKJ}(2)" in tex
    assert_safe_tex(tex)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_factor_names_stay_text(name):
    spec = ModelSpec("y", "g", predictors=("x",), factors=(
        GroupingFactor(f"f {name}", ("intercept", "x"), correlated=True),))
    for pooling in POOLINGS:
        assert_safe_tex(latex(spec.with_pooling(pooling)))


def test_describe_names_each_further_factor():
    assert describe(PENICILLIN) == (
        "Partial pooling: each plate has its own intercept, drawn from a common population, so small plates borrow "
        "strength from the rest. Crossed with the plates, each sample also shifts the intercept, drawn from a "
        "common population around the overall value, so small samples borrow strength from the rest.")
    assert describe(PENICILLIN.with_pooling("none")).endswith(
        "Crossed with the plates, each sample also shifts the intercept, estimated from that sample's rows (the "
        "samples' deviations sum to 0).")
    assert describe(PENICILLIN.with_pooling("complete")).endswith("as if the plate and sample of a row did not matter.")
    assert "Within each batch, each cask also shifts the intercept and x slope" in describe(NESTED)
