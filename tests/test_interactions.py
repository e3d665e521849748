"""Interactions with categorical predictors (issue 12): design columns, names, formulas, priors, density, a fit.

A categorical column g with reference r and other levels l_1..l_k enters a model as the 0/1 dummies
d_l(i) = [g_i = l]. An interaction multiplies its parts: ``x:g`` has one column per non-reference level,
x_i * d_l(i), named ``x:g[l]``; ``g:h`` one per pair of non-reference levels, d_l(i) * e_m(i), named ``g[l]:h[m]``
(:func:`hiermodels.model.names.interaction`). A pair of levels that no row has (an empty cell) would be a column of
zeros: it is refused, never dropped.

* **Design.** Checked row by row against the products computed here from the raw table: on the exam data
  (Goldstein et al. 1993, pupils in 65 London schools; schgend, mixed/boys/girls, is a property of the school) and
  on a small hand-made table for categorical x categorical.
* **Formula.** ``formula_of`` writes each reference level once, where its column first appears, so that
  ``spec_from_formula(formula_of(spec)).spec == spec``.
* **Density.** The model fitted by default for a gaussian varying intercept integrates the group effects out:
  y_j ~ MVN(X_j beta + mu, sigma^2 I + tau^2 1 1') for the rows of group j; the row-by-row model is
  y_i ~ N(mu + tau z_g[i] + X_i beta, sigma) with z ~ N(0, 1). Both are compared with scipy at a fixed point.
* **A fit.** The posterior means of the common coefficients of ``normexam ~ standLRT * schgend + (1 | school)``
  against statsmodels' MixedLM (REML) on the same data (see the test's docstring for the tolerance).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hiermodels import ModelSpec, prepare, read_table
from hiermodels.data.preparing import group_level_predictors, identification_problems
from hiermodels.errors import DataError
from hiermodels.inference.plan import plan_fit
from hiermodels.model import names, notation
from hiermodels.model.build import build_model
from hiermodels.model.formula import FormulaError, formula_of, spec_from_formula, spec_options
from hiermodels.model.priors import resolve_priors
from hiermodels.model.spec import SamplerSettings

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
EXAM_FORMULA = 'normexam ~ standLRT * C(schgend, Treatment("mixed")) + (1 + standLRT | school)'
TOL = {"rel": 1e-8}


@pytest.fixture(scope="module")
def exam() -> pd.DataFrame:
    return read_table(SAMPLE_DATA / "exam.csv")


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].astype(float).to_numpy()


def _column(data, term: str) -> np.ndarray:
    return data.X[:, data.terms.index(term)]


# ------------------------------------------------------------------------------------------------ design
def test_exam_numeric_by_categorical_columns_are_the_products_row_by_row(exam):
    spec = spec_from_formula(EXAM_FORMULA, list(exam.columns)).spec
    assert spec.predictors == ("standLRT", "schgend", "standLRT:schgend")
    assert spec.categorical == (("schgend", "mixed"),)
    # The same model from the spec's own categorical option.
    assert spec == ModelSpec("normexam", "school", ("standLRT", "schgend", "standLRT:schgend"),
                             varying=("intercept", "standLRT"), correlated=True, categorical={"schgend": "mixed"})
    data = prepare(exam, spec)
    assert data.n_rows == len(exam) == 4059
    assert data.terms == ("intercept", "standLRT", "schgend[boys]", "schgend[girls]",
                          "standLRT:schgend[boys]", "standLRT:schgend[girls]")
    assert data.predictor_terms["standLRT:schgend"] == ("standLRT:schgend[boys]", "standLRT:schgend[girls]")
    lrt = _numbers(exam, "standLRT")
    schgend = exam["schgend"].to_numpy(dtype=object)
    for level in ("boys", "girls"):
        dummy = (schgend == level).astype(float)
        np.testing.assert_array_equal(_column(data, f"schgend[{level}]"), dummy)
        np.testing.assert_array_equal(_column(data, f"standLRT:schgend[{level}]"), lrt * dummy)
        assert dummy.sum() > 0
    np.testing.assert_array_equal(data.y, _numbers(exam, "normexam"))


def test_categorical_by_categorical_columns_are_the_dummy_products():
    """g (reference a; b, c) times h (reference P; Q): two columns g[b]:h[Q], g[c]:h[Q], and x:g:h one per cell
    too, the numeric column times both dummies. The order of a product's parts is the order written."""
    g = np.array(list("abcabcabcabc"))
    h = np.array(["P", "Q"] * 6)
    x = np.arange(12) / 4 - 1
    frame = pd.DataFrame({"y": np.sin(np.arange(12)), "x": x, "g": g, "h": h, "s": np.repeat(["u", "v", "w"], 4)})
    spec = ModelSpec("y", "s", ("g", "h", "g:h", "x:g:h"), categorical={"g": "a", "h": "P"})
    data = prepare(frame, spec)
    assert data.terms == ("intercept", "g[b]", "g[c]", "h[Q]", "g[b]:h[Q]", "g[c]:h[Q]", "x:g[b]:h[Q]",
                          "x:g[c]:h[Q]")
    for level in "bc":
        cell = ((g == level) & (h == "Q")).astype(float)
        assert cell.sum() == 2
        np.testing.assert_array_equal(_column(data, f"g[{level}]:h[Q]"), cell)
        np.testing.assert_array_equal(_column(data, f"x:g[{level}]:h[Q]"), x * cell)
    # Written the other way round, the names follow the order written.
    swapped = prepare(frame, replace(spec, predictors=("g", "h", "h:g")))
    assert swapped.predictor_terms["h:g"] == ("h[Q]:g[b]", "h[Q]:g[c]")
    np.testing.assert_array_equal(_column(swapped, "h[Q]:g[c]"), _column(data, "g[c]:h[Q]"))


def test_names_build_and_read_back_an_interaction_term():
    parts = (("standLRT", None), ("schgend", "girls"))
    assert names.interaction(parts) == "standLRT:schgend[girls]" == f"standLRT:{names.dummy('schgend', 'girls')}"
    assert names.split_design_term("standLRT:schgend[girls]", ["standLRT", "schgend"], {"schgend"}) == parts
    # A level holding ':' and ']' is still read back when the cut is unique.
    term = names.interaction((("g", "x]:y"), ("h", "Q")))
    assert names.split_design_term(term, ["g", "h"], {"g", "h"}) == (("g", "x]:y"), ("h", "Q"))
    assert names.split_design_term("sex[M]", ["floor"], {}) is None
    assert names.split_design_term("x:g[b]", ["x", "g"], {}) is None  # g is not categorical here


def test_an_empty_cell_is_refused_with_the_cell_named():
    frame = pd.DataFrame({"y": np.arange(10.0) ** 1.5, "g": list("abcabcabab"), "h": list("PQPQQPPQPQ"),
                          "s": list("uuuuuvvvvv")})
    assert not ((frame["g"] == "c") & (frame["h"] == "Q")).any()
    spec = ModelSpec("y", "s", ("g", "h", "g:h"), categorical={"g": "a", "h": "P"})
    with pytest.raises(DataError) as caught:
        prepare(frame, spec)
    message = str(caught.value)
    assert "the interaction 'g:h' has no row with 'g' = 'c' and 'h' = 'Q' (an empty cell)" in message
    assert "'g[c]:h[Q]'" in message and "merge levels" in message and "drop 'g:h'" in message
    assert len(caught.value.problems) == 1  # g[b]:h[Q] has rows: only the empty cell is a problem


def test_an_empty_cell_through_a_numeric_interaction_on_exam(exam):
    """exam: no boy attends a girls' school, so standLRT:sex:schgend has no row for (sex M, schgend girls)."""
    formula = ('normexam ~ standLRT:C(sex, Treatment("F")):C(schgend, Treatment("mixed")) + (1 | school)')
    spec = spec_from_formula(formula, list(exam.columns)).spec
    with pytest.raises(DataError, match=r"no row with 'sex' = 'M' and 'schgend' = 'girls' \(an empty cell\)"):
        prepare(exam, spec)


def test_a_numeric_part_that_is_zero_over_a_whole_level_is_refused():
    frame = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 7], "x": [0.0, 1, 0, 2, 0, 3], "g": list("bababa"),
                          "s": list("uuuvvv")})
    spec = ModelSpec("y", "s", ("x", "x:g"), categorical={"g": "a"})
    with pytest.raises(DataError, match=r"'x' is 0 in every row with 'g' = 'b', so the term 'x:g\[b\]'"):
        prepare(frame, spec)


def test_a_typo_in_the_interaction_suggests_the_closest_column(exam):
    with pytest.raises(FormulaError, match="there is no column 'schgnd': did you mean 'schgend'"):
        spec_from_formula('normexam ~ standLRT:C(schgnd, Treatment("mixed")) + (1 | school)', list(exam.columns))
    spec = ModelSpec("normexam", "school", ("standLRT:schgnd",), categorical={"schgnd": "mixed"})
    with pytest.raises(DataError, match="there is no column 'schgnd': did you mean 'schgend'"):
        prepare(exam, spec)


def test_a_missing_reference_level_is_said_once():
    frame = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [1.0, 2, 3, 5], "g": list("abab"), "s": list("uuvv")})
    spec = ModelSpec("y", "s", ("x", "g", "x:g"), categorical={"g": "z"})
    with pytest.raises(DataError) as caught:
        prepare(frame, spec)
    # g is used by two predictors, g and x:g: its problem is said once.
    assert list(caught.value.problems) == ["the reference level 'z' of 'g' does not occur in the data; choose one "
                                           "of 'a', 'b'"]


# ------------------------------------------------------------------------------------------------ identification
def test_identification_checks_see_the_dummy_product_columns(exam):
    """schavg (the school's mean intake score) and schgend are properties of the school, so is their product:
    beside a varying intercept it cannot vary by school, and under no pooling it is not identified. The product
    standLRT:schgend varies within schools and is fine either way."""
    spec = ModelSpec("normexam", "school", ("standLRT", "standLRT:schgend", "schavg:schgend"),
                     categorical={"schgend": "mixed"})
    data = prepare(exam, spec)
    assert group_level_predictors(data) == ("schavg:schgend",)
    assert identification_problems(data, spec) == []
    no_pooling = identification_problems(data, replace(spec, pooling="none"))
    assert len(no_pooling) == 1 and "'schavg:schgend' is constant within each 'school'" in no_pooling[0]
    varying = identification_problems(data, replace(spec, varying=("intercept", "schavg:schgend")))
    assert len(varying) == 1 and "a slope of 'schavg:schgend' that varies by group is confounded" in varying[0]
    assert identification_problems(data, replace(spec, varying=("intercept", "standLRT:schgend"))) == []


# ------------------------------------------------------------------------------------------------ formulas
@pytest.mark.parametrize("formula", [
    EXAM_FORMULA,
    'normexam ~ standLRT * C(schgend, Treatment("mixed")) + (1 | school)',
    'normexam ~ standLRT:C(schgend, Treatment("girls")) + (1 | school)',
    'normexam ~ C(sex, Treatment("F")) * C(schgend, Treatment("mixed")) + (1 + sex | school)',
    'normexam ~ C(schgend, Treatment("mixed")):standLRT + standLRT + (1 + standLRT:schgend || school)',
])
def test_formula_round_trip(formula, exam):
    spec = spec_from_formula(formula, list(exam.columns)).spec
    written = formula_of(spec)
    assert written.count("Treatment(") == len(spec.categorical)  # each reference stated once
    assert spec_from_formula(written, list(exam.columns), **spec_options(spec)).spec == spec
    assert spec_from_formula(written, list(exam.columns)).spec == spec


def test_formula_writes_the_reference_where_the_column_first_appears():
    spec = ModelSpec("y", "s", ("x:g", "g"), categorical={"g": "a"})
    assert formula_of(spec) == 'y ~ x:C(g, Treatment("a")) + g + (1 | s)'
    spec = ModelSpec("y", "s", ("x", "g", "x:g"), categorical={"g": "a"})
    assert formula_of(spec) == 'y ~ x + C(g, Treatment("a")) + x:g + (1 | s)'


def test_an_interaction_without_its_margin_has_a_note(exam):
    read = spec_from_formula('normexam ~ standLRT:C(schgend, Treatment("mixed")) + (1 | school)', list(exam.columns))
    assert read.spec.predictors == ("standLRT:schgend",)
    assert any("schgend is coded against its reference level 'mixed' here too" in n for n in read.notes)
    full = spec_from_formula('normexam ~ standLRT * C(schgend, Treatment("mixed")) + (1 | school)',
                             list(exam.columns))
    assert full.notes == ()


def test_notation_shows_the_products(exam):
    spec = spec_from_formula(EXAM_FORMULA, list(exam.columns)).spec
    data = prepare(exam, spec)
    assert notation.formula(spec) == "normexam ~ 1 + standLRT + schgend + standLRT:schgend + (1 + standLRT | school)"
    latex = notation.latex(spec, data.terms)
    assert (r"\beta_{\text{standLRT:schgend[girls]}}\,\text{standLRT}_i\,[\text{schgend}_i = \text{girls}]"
            in latex)
    assert "standLRT:schgend interaction" in notation.describe(spec)


# ------------------------------------------------------------------------------------------------ priors, density
@pytest.fixture(scope="module")
def small_frame() -> pd.DataFrame:
    """24 rows in 4 groups g, a numeric x and a categorical sex (F reference, M), gaussian y."""
    rng = np.random.default_rng(20261130)
    rows = np.arange(24)
    x = rng.normal(size=24)
    sex = np.array(["F", "M"])[(rows // 4) % 2]
    y = 1.0 + 0.5 * x + 0.8 * (sex == "M") * x + rng.normal(size=24)
    return pd.DataFrame({"y": y, "x": x, "sex": sex, "g": np.array(list("abcd"))[rows % 4]})


SMALL_SPEC = ModelSpec("y", "g", ("x", "sex", "x:sex"), categorical={"sex": "F"})


def test_each_new_term_gets_the_default_prior_scaled_to_its_column(small_frame):
    """normal(0, 2.5 s / sd(x_t)) for every slope t, the interaction's columns included (s = sd(y))."""
    data = prepare(small_frame, SMALL_SPEC)
    priors = resolve_priors(data, SMALL_SPEC)
    s = np.std(data.y)
    for term in ("x", "sex[M]", "x:sex[M]"):
        assert priors[term].distribution == "normal"
        assert priors[term].params == pytest.approx((0.0, 2.5 * s / np.std(_column(data, term))), rel=1e-12)


def test_planned_model_log_density_against_scipy(small_frame, logp_at, values_at, prior_logpdf):
    """The plan integrates the varying intercept out (gaussian): the rows of group j are
    MVN(mu + X_j beta, sigma^2 I + tau^2 1 1'), beta the common coefficients of x, sex[M] and x:sex[M]."""
    data = prepare(small_frame, SMALL_SPEC)
    plan = plan_fit(data, SMALL_SPEC)
    assert plan.method == "marginal"
    model = build_model(data, SMALL_SPEC, plan.method, plan.n_groups)
    priors = resolve_priors(data, SMALL_SPEC)
    rng = np.random.default_rng(3)
    point = {name: 0.5 * rng.normal(size=np.shape(value)) for name, value in model.initial_point().items()}
    values = values_at(model, point)
    beta, mu, tau, sigma = values["beta"], values["mu"], values["tau"], values["sigma"]
    common = ("x", "sex[M]", "x:sex[M]")
    assert beta.shape == (3,)
    expected = prior_logpdf(priors["sigma"], sigma) + prior_logpdf(priors["intercept"], mu[0])
    expected += prior_logpdf(priors["sd(intercept)"], tau[0])
    expected += sum(prior_logpdf(priors[t], beta[k]) for k, t in enumerate(common))
    eta = mu[0] + data.X[:, [data.terms.index(t) for t in common]] @ beta
    for j in range(data.n_groups):
        rows = data.group_index == j
        cov = sigma**2 * np.eye(rows.sum()) + tau[0] ** 2
        expected += stats.multivariate_normal.logpdf(data.y[rows], eta[rows], cov)
    assert logp_at(model, point) == pytest.approx(expected, **TOL)


def test_row_by_row_log_density_against_scipy(small_frame, logp_at, values_at, prior_logpdf):
    """Non-centred, the intercept and x:sex[M] varying: b_j = mu + tau * z_j, y_i ~ N(sum_t x_it b_g[i],t +
    sum_c x_ic beta_c, sigma)."""
    spec = replace(SMALL_SPEC, varying=("intercept", "x:sex"))
    data = prepare(small_frame, spec)
    model = build_model(data, spec, "rows")
    priors = resolve_priors(data, spec)
    rng = np.random.default_rng(5)
    point = {name: 0.5 * rng.normal(size=np.shape(value)) for name, value in model.initial_point().items()}
    values = values_at(model, point)
    varying, common = ("intercept", "x:sex[M]"), ("x", "sex[M]")
    mu, tau, sigma, z, b, beta = (values[k] for k in ("mu", "tau", "sigma", "z", "b", "beta"))
    np.testing.assert_allclose(b, mu + z * tau, rtol=1e-10)
    expected = prior_logpdf(priors["sigma"], sigma)
    for k, t in enumerate(varying):
        expected += prior_logpdf(priors[t], mu[k]) + prior_logpdf(priors[f"sd({t})"], tau[k])
    expected += sum(prior_logpdf(priors[t], beta[k]) for k, t in enumerate(common))
    expected += stats.norm.logpdf(z).sum()
    Xv = data.X[:, [data.terms.index(t) for t in varying]]
    Xc = data.X[:, [data.terms.index(t) for t in common]]
    eta = (Xv * b[data.group_index]).sum(axis=1) + Xc @ beta
    expected += stats.norm.logpdf(data.y, eta, sigma).sum()
    assert logp_at(model, point) == pytest.approx(expected, **TOL)


# ------------------------------------------------------------------------------------------------ a real fit
def test_exam_fit_agrees_with_statsmodels_mixedlm_reml(exam):
    """``normexam ~ standLRT * schgend + (1 | school)`` (schgend against mixed) against statsmodels'
    ``smf.mixedlm("normexam ~ standLRT * C(schgend, Treatment('mixed'))", groups=school).fit(reml=True)``.

    With 4,059 pupils in 65 schools the weakly informative priors barely move the common coefficients, and REML's
    estimate of a coefficient is its posterior mean given the variance components, which are well determined;
    so each posterior mean should be within a quarter of a posterior sd of the REML estimate (2 chains x 500
    draws give about 600 effective draws, a Monte Carlo error of 0.04 sd; two seeds landed within 0.05 sd), and
    each posterior sd within 15% of REML's standard error (the Monte Carlo error of an sd is about 3%). A wrong
    column (the dummy instead of the product, or the product with the wrong level) moves an estimate by more.
    statsmodels 0.15, REML: standLRT 0.5741 (SE 0.0172), standLRT:boys -0.0129 (0.0366), standLRT:girls -0.0266
    (0.0278), boys 0.0964 (0.1117), girls 0.2450 (0.0872), intercept -0.0870 (0.0524), residual sd 0.7524.
    """
    import statsmodels.formula.api as smf

    frame = exam.assign(**{c: exam[c].astype(float) for c in ("normexam", "standLRT")})
    reml = smf.mixedlm("normexam ~ standLRT * C(schgend, Treatment('mixed'))", frame,
                       groups=frame["school"]).fit(reml=True)
    spec = spec_from_formula('normexam ~ standLRT * C(schgend, Treatment("mixed")) + (1 | school)',
                             list(exam.columns), sampler=SamplerSettings(draws=500, tune=500, chains=2, seed=12)).spec
    from hiermodels.inference.fitting import fit

    result = fit(exam, spec, compute_map=False)
    population = result.population().set_index("name")
    ours = {"intercept": "Intercept", "standLRT": "standLRT",
            "schgend[boys]": "C(schgend, Treatment('mixed'))[T.boys]",
            "schgend[girls]": "C(schgend, Treatment('mixed'))[T.girls]",
            "standLRT:schgend[boys]": "standLRT:C(schgend, Treatment('mixed'))[T.boys]",
            "standLRT:schgend[girls]": "standLRT:C(schgend, Treatment('mixed'))[T.girls]"}
    for name, theirs in ours.items():
        mean, sd = population.loc[name, "mean"], population.loc[name, "sd"]
        assert abs(mean - reml.fe_params[theirs]) < 0.25 * sd, (name, mean, sd, reml.fe_params[theirs])
        assert sd == pytest.approx(reml.bse_fe[theirs], rel=0.15), name
    assert population.loc["sigma", "mean"] == pytest.approx(np.sqrt(reml.scale), rel=0.03)


# ------------------------------------------------------------------------------------------------ every pooling
def test_a_cross_level_interaction_beside_a_varying_slope_is_left_out_of_no_pooling(exam):
    """standLRT:schgend[l] is, within each school, standLRT times a constant (the school's type): beside a slope of
    standLRT that varies by school, no pooling gives each school its own slope, which absorbs it
    (preparing.slope_modifiers). The no-pooling spec of "all three" leaves it out with a note (and schgend, a
    property of the school, beside the intercept); a no-pooling fit asked for directly is refused; a common slope
    of standLRT leaves it identified (within a school it then changes the one common slope)."""
    from hiermodels.data.preparing import slope_modifiers
    from hiermodels.model.priors import no_pooling_notes, specs_for_poolings

    spec = spec_from_formula(EXAM_FORMULA, list(exam.columns)).spec
    data = prepare(exam, spec)
    assert slope_modifiers(data, spec) == {"standLRT:schgend": "standLRT"}
    pooled = specs_for_poolings(data, spec, ("complete", "none", "partial"))
    assert pooled["none"].predictors == ("standLRT",)
    assert pooled["partial"].predictors == spec.predictors
    notes = " ".join(no_pooling_notes(data, spec))
    assert "'standLRT:schgend' changes the slope of 'standLRT' by 'school'" in notes
    assert "'schgend' is a property of 'school'" in notes
    refused = " ".join(identification_problems(data, spec.with_pooling("none")))
    assert "each group's own slope of 'standLRT' absorbs it" in refused
    common_slope = replace(spec, varying=("intercept",), correlated=False)
    assert slope_modifiers(prepare(exam, common_slope), common_slope) == {}


def test_a_categorical_slope_times_a_property_of_the_group_is_left_out_of_no_pooling():
    """A varying slope of a three-level categorical (two level columns) and its interaction with a property u of
    the group: within each group arm[b]:u and arm[c]:u are u_j times the level columns, which each group's own
    slopes absorb under no pooling. The same interaction with a row predictor x is identified."""
    from hiermodels.data.preparing import slope_modifiers
    from hiermodels.model.priors import specs_for_poolings

    rng = np.random.default_rng(0)
    group = np.repeat(np.arange(6), 12)
    frame = pd.DataFrame({"g": [f"g{j}" for j in group], "arm": np.tile(["a", "b", "c"], 24),
                          "u": rng.normal(size=6)[group], "x": rng.normal(size=72), "y": rng.normal(size=72)})
    arm = 'C(arm, Treatment("a"))'
    spec = spec_from_formula(f"y ~ {arm} * u + (1 + arm | g)", list(frame.columns)).spec
    data = prepare(frame, spec)
    assert data.predictor_terms["arm"] == ("arm[b]", "arm[c]")
    assert slope_modifiers(data, spec) == {"arm:u": "arm"}
    assert specs_for_poolings(data, spec, ("none",))["none"].predictors == ("arm",)
    refused = " ".join(identification_problems(data, spec.with_pooling("none")))
    assert "'arm:u' is 'arm' times a property of 'g' (within each group a combination of the level columns" in refused
    row_level = spec_from_formula(f"y ~ {arm} * x + (1 + arm | g)", list(frame.columns)).spec
    assert slope_modifiers(prepare(frame, row_level), row_level) == {}


def test_the_model_notation_of_every_pooling_of_a_cross_level_interaction(exam):
    """The Model page writes each pooling's model (formula and LaTeX) from its own spec and data: the no-pooling
    spec keeps schgend categorical for standLRT:schgend's sake only if it keeps that term (it does not)."""
    from hiermodels.model.priors import data_for, specs_for_poolings

    spec = spec_from_formula(EXAM_FORMULA, list(exam.columns)).spec
    data = prepare(exam, spec)
    for pooling, pooled in specs_for_poolings(data, spec, ("complete", "none", "partial")).items():
        pooled_data = data_for(data, pooled)
        text = notation.latex(pooled, pooled_data.terms, resolve_priors(pooled_data, pooled))
        assert ("girls" in text) == (pooling != "none"), pooling


def test_a_cross_level_interaction_fitted_for_real_under_all_three_poolings(exam):
    """fit_poolings (the app's path) of the README's cross-level formula, small and seeded: every estimate finite,
    the no-pooling fit without the unidentified terms, and the interaction's coefficients under complete and
    partial pooling within 0.1 of each other (both say a school's type barely changes the slope of standLRT: the
    REML estimates are -0.01 and -0.02, with standard errors near 0.04)."""
    from hiermodels.inference.fitting import fit_poolings

    spec = replace(spec_from_formula(EXAM_FORMULA, list(exam.columns)).spec,
                   sampler=SamplerSettings(draws=300, tune=300, chains=2, seed=4))
    comparison = fit_poolings(exam, spec, ("complete", "none", "partial"))
    for pooling in ("complete", "none", "partial"):
        population = comparison[pooling].population()
        assert np.isfinite(population["mean"]).all(), pooling
        assert np.isfinite(comparison[pooling].groups()["mean"]).all(), pooling
    assert not any("schgend" in name for name in comparison["none"].population()["name"])
    complete = comparison["complete"].population().set_index("name")
    partial = comparison["partial"].population().set_index("name")
    for term in ("standLRT:schgend[boys]", "standLRT:schgend[girls]"):
        assert abs(complete.loc[term, "mean"]) < 0.15 and abs(partial.loc[term, "mean"]) < 0.15
        assert complete.loc[term, "mean"] == pytest.approx(partial.loc[term, "mean"], abs=0.1)
