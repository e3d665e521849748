"""Predictions take the values of the predictor columns, and the design row follows (preparing.design_row).

The closed check: for rows of the data, the design row built from the row's column values is that row of
``prepare``'s design matrix, exactly (dummies, numeric and categorical interactions, a numeric column used only in
an interaction). Then ``prediction_draws`` on a small real fit against the linear predictor computed here from the
posterior draws, and the Population page: one input per column (a selectbox of levels for a category), none for
an interaction.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fakes import fake_fit_poolings

from hiermodels.data.preparing import PredictorColumn, design_row, prepare
from hiermodels.data.reading import read_table
from hiermodels.errors import SpecError
from hiermodels.model import build as m
from hiermodels.model.formula import spec_from_formula
from hiermodels.model.spec import INTERCEPT, POOLINGS, ModelSpec, SamplerSettings
from hiermodels.results import interpret

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
EXAM_FORMULA = 'normexam ~ standLRT * C(schgend, Treatment("mixed")) + C(sex, Treatment("F")) + (1 | school)'


@pytest.fixture(scope="module")
def exam() -> pd.DataFrame:
    return read_table(SAMPLE_DATA / "exam.csv")


@pytest.fixture(scope="module")
def exam_spec(exam) -> ModelSpec:
    return spec_from_formula(EXAM_FORMULA, list(exam.columns)).spec


@pytest.fixture(scope="module")
def exam_data(exam, exam_spec):
    return prepare(exam, exam_spec)


def _synthetic() -> tuple[pd.DataFrame, ModelSpec]:
    """Every kind of term at once: a numeric interaction a:b (without a or b), x:g without x (x enters only
    through the interaction), g:h of two categories, and the 0/1 column d. Each (g, h) cell has rows."""
    rng = np.random.default_rng(3)
    n = 72
    frame = pd.DataFrame({
        "y": rng.normal(size=n),
        "grp": [f"s{i % 6}" for i in range(n)],
        "a": rng.normal(size=n).round(3),
        "b": rng.normal(size=n).round(3),
        "x": rng.normal(2.0, 1.0, size=n).round(3),
        "d": (np.arange(n) % 3 == 0).astype(float),
        "g": [("p", "q", "r")[i % 3] for i in range(n)],
        "h": [("u", "v")[(i // 3) % 2] for i in range(n)],
    })
    spec = ModelSpec(outcome="y", group="grp", predictors=("a:b", "x:g", "g:h", "d"),
                     categorical=(("g", "q"), ("h", "u")), varying=(INTERCEPT,), pooling="partial")
    return frame, spec


# ------------------------------------------------------------------------------------------------ the design row
def test_design_row_of_a_rows_columns_is_that_row_of_the_design_matrix(exam, exam_data):
    data = exam_data
    assert data.terms == (INTERCEPT, "standLRT", "schgend[boys]", "schgend[girls]", "standLRT:schgend[boys]",
                          "standLRT:schgend[girls]", "sex[M]")
    assert [c.name for c in data.predictor_columns()] == ["standLRT", "schgend", "sex"]
    # One row of each school type and sex (and a few more): every term is non-zero somewhere among them.
    rows = [0, 100, 2000, 4000, *exam.groupby(["schgend", "sex"]).head(1).index]
    for i in rows:
        row = exam.loc[i]
        values = {"standLRT": float(row["standLRT"]), "schgend": row["schgend"], "sex": row["sex"]}
        assert np.array_equal(design_row(data, values), data.X[i]), (i, values)
    seen = np.array([design_row(data, {"standLRT": float(exam.loc[i, "standLRT"]), "schgend": exam.loc[i, "schgend"],
                                       "sex": exam.loc[i, "sex"]}) for i in rows])
    assert (seen[:, 1:] != 0).any(axis=0).all()


def test_design_row_reproduces_numeric_and_categorical_interactions():
    frame, spec = _synthetic()
    data = prepare(frame, spec)
    assert data.terms == (INTERCEPT, "a:b", "x:g[p]", "x:g[r]", "g[p]:h[v]", "g[r]:h[v]", "d")
    columns = {c.name: c for c in data.predictor_columns()}
    assert list(columns) == ["a", "b", "x", "g", "h", "d"]
    # A category's levels with the reference first; x, never a term itself, still has its mean.
    assert columns["g"] == PredictorColumn("g", levels=("q", "p", "r"))
    assert columns["h"].reference == "u"
    assert columns["x"].mean == pytest.approx(frame["x"].mean()) and not columns["x"].binary
    assert columns["d"].binary and columns["d"].mean == pytest.approx(1 / 3)
    for i in range(len(frame)):
        row = frame.loc[i]
        values = {name: row[name] for name in columns}
        assert np.array_equal(design_row(data, values), data.X[i]), i


def test_columns_not_given_are_zero_or_the_reference(exam_data):
    data = exam_data
    assert np.array_equal(design_row(data), np.eye(len(data.terms))[0])
    assert np.array_equal(design_row(data, {"schgend": "mixed", "sex": "F"}), np.eye(len(data.terms))[0])
    row = dict(zip(data.terms, design_row(data, {"standLRT": 2.0, "schgend": "girls"}), strict=True))
    assert row == {INTERCEPT: 1.0, "standLRT": 2.0, "schgend[boys]": 0.0, "schgend[girls]": 1.0,
                   "standLRT:schgend[boys]": 0.0, "standLRT:schgend[girls]": 2.0, "sex[M]": 0.0}


def test_every_bad_value_is_said_at_once_with_what_is_allowed(exam_data):
    with pytest.raises(SpecError) as caught:
        design_row(exam_data, {"standLRT": float("nan"), "schgend": "coed", "height": 1.0, "sex": 1})
    message = str(caught.value)
    assert "the value of 'standLRT' must be a finite number" in message and "not nan" in message
    assert "'coed' is not a level of 'schgend' in the data; choose one of 'mixed', 'boys', 'girls'" in message
    assert "'height' is not a predictor column of this model: give values for 'standLRT', 'schgend', 'sex'" in message
    assert "'1' is not a level of 'sex'" in message  # a level is text, as read: never a number
    assert message.count(";") >= 3


@pytest.mark.parametrize(("term", "hint"), [
    ("sex[M]", "(sex = 'M')"),
    ("standLRT:schgend[girls]", "(standLRT, schgend = 'girls')"),
])
def test_a_design_term_is_refused_naming_the_columns_it_follows_from(exam_data, term, hint):
    with pytest.raises(SpecError, match="is a term of the design") as caught:
        design_row(exam_data, {term: 1.0})
    assert hint in str(caught.value)


@pytest.mark.parametrize("value", [np.inf, -np.inf, 1e101, "2.5", None])
def test_a_numeric_column_takes_a_finite_number_only(exam_data, value):
    with pytest.raises(SpecError, match="'standLRT' must be a finite number"):
        design_row(exam_data, {"standLRT": value})


# ------------------------------------------------------------------------------------------------ predictions
def test_prediction_from_column_values_is_the_linear_predictor_of_the_draws(exam, exam_spec):
    """A small real fit (partial pooling, varying intercept). The existing school's group mean at draw s is
    beta(s) . x_common + b_j(s) . x_varying, with x written out here by hand for standLRT = 0.5 in a girls'
    school, a boy: the old path's arithmetic on the design terms the columns imply. A new school's mean differs by
    tau(s) z(s) with z ~ N(0, 1), so its average over the draws is that of beta . x_c + mu . x_v, within 4 Monte
    Carlo standard errors."""
    from hiermodels.inference.fitting import fit

    spec = replace(exam_spec, sampler=SamplerSettings(draws=200, tune=200, chains=1, seed=7))
    result = fit(exam, spec, compute_map=False)
    x = {INTERCEPT: 1.0, "standLRT": 0.5, "schgend[boys]": 0.0, "schgend[girls]": 1.0,
         "standLRT:schgend[boys]": 0.0, "standLRT:schgend[girls]": 0.5, "sex[M]": 1.0}
    assert set(x) == set(result.data.terms)
    school = result.data.group_labels[3]
    frame = interpret.prediction_draws(result, school, {"standLRT": 0.5, "schgend": "girls", "sex": "M"},
                                       max_points=10_000)

    common, varying = m.term_split(result.data, result.spec)
    assert varying == (INTERCEPT,)
    draws = result.draws
    beta = draws[m.COMMON].sel({m.COMMON_DIM: list(common)}).to_numpy().reshape(-1, len(common))
    b = draws[m.GROUP_COEFFICIENT].sel({m.GROUP_DIM: school, m.VARYING_DIM: list(varying)})
    b = b.to_numpy().reshape(-1, len(varying))
    x_common, x_varying = np.array([x[t] for t in common]), np.array([x[t] for t in varying])
    expected = beta @ x_common + b @ x_varying
    means = frame.groupby(["target", "quantity"])["value"]
    existing = means.get_group(("existing group", "group mean")).to_numpy()
    np.testing.assert_allclose(existing, expected, rtol=0, atol=1e-12)

    mu = draws[m.POPULATION_MEAN].sel({m.VARYING_DIM: list(varying)}).to_numpy().reshape(-1, len(varying))
    tau = draws[m.GROUP_SD].sel({m.VARYING_DIM: list(varying)}).to_numpy().reshape(-1, len(varying))
    new = means.get_group(("new group", "group mean")).to_numpy()
    centre = beta @ x_common + mu @ x_varying
    spread = np.sqrt(np.var(centre) + np.mean(tau[:, 0] ** 2))
    assert new.mean() == pytest.approx(centre.mean(), abs=4 * spread / np.sqrt(new.size))

    # The same case given as design terms is refused: a term is not a column.
    with pytest.raises(SpecError, match="is a term of the design"):
        interpret.prediction_draws(result, school, {"standLRT": 0.5, "schgend[girls]": 1.0})


# ------------------------------------------------------------------------------------------------ the page
def test_population_page_has_one_input_per_column_and_none_for_an_interaction(exam_data, exam_spec):
    from test_app_results import POPULATION, charts, frame_with, open_page

    spec = replace(exam_spec, sampler=replace(exam_spec.sampler, seed=5))
    fit = fake_fit_poolings(exam_data, spec, POOLINGS)
    at = open_page(POPULATION, fit)
    schgend = at.selectbox(key="w_predict_level_schgend")
    assert list(schgend.options) == ["mixed", "boys", "girls"] and schgend.value == "mixed"
    assert at.selectbox(key="w_predict_level_sex").value == "F"
    assert at.number_input(key="w_predict_value_standLRT").value == pytest.approx(
        float(f"{exam_data.X[:, 1].mean():.4g}"))
    keys = [w.key for kind in ("number_input", "selectbox") for w in getattr(at, kind)]
    predict_keys = [k for k in keys if k.startswith(("w_predict_value_", "w_predict_level_"))]
    assert sorted(predict_keys) == sorted(["w_predict_value_standLRT", "w_predict_level_schgend",
                                           "w_predict_level_sex"])
    assert any("computed from these values" in str(c.value) for c in at.caption)
    before = frame_with(charts(at)[-1], "target", "quantity", "value")

    at.selectbox(key="w_predict_level_schgend").select("girls").run()
    assert not at.exception, [e.value for e in at.exception]
    after = frame_with(charts(at)[-1], "target", "quantity", "value")
    assert not np.allclose(np.sort(after["value"]), np.sort(before["value"]))

    # Under no pooling schgend (constant within each school) is left out, but standLRT:schgend is not: the column
    # keeps its selectbox, for the interaction.
    at.radio(key="w_predict_pooling").set_value("none").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "schgend" not in fit["none"].data.predictor_terms
    assert at.selectbox(key="w_predict_level_schgend").value == "girls"

    # A level remembered from another table that this column lacks goes back to the reference.
    at = open_page(POPULATION, fit, w_predict_level_schgend="coed")
    assert at.selectbox(key="w_predict_level_schgend").value == "mixed"

