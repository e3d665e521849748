"""Guessing the roles of an uploaded table's columns, and predictors that are properties of the group.

The Orthodont rows are the first rows of each sex of nlme's ``Orthodont`` (Potthoff & Roy 1964: distance in mm
from the pituitary to the pterygomaxillary fissure at ages 8, 10, 12 and 14), written the ways R and pandas
export a data frame: Rdatasets' CSV (``"rownames"`` first), ``write.csv`` (an empty first header, which pandas
reads back as ``Unnamed: 0`` and R's read.csv as ``X``) and readr (``...1``). The InstEval-like table is
synthetic, with the columns of lme4's ``InstEval`` (s = student, d = lecturer, studage, lectage, service, dept,
y = rating 1..5).
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from hiermodels.data.datasets import SAMPLES, sample_by_name
from hiermodels.data.preparing import (
    check_identified,
    group_level_notes,
    group_level_predictors,
    identification_problems,
    prepare,
)
from hiermodels.data.reading import is_row_number_sequence, read_table
from hiermodels.data.roles import index_column_note, index_columns, suggest_spec
from hiermodels.errors import FileReadError, SpecError
from hiermodels.inference import fitting
from hiermodels.model.priors import specs_for_poolings
from hiermodels.model.spec import INTERCEPT, POOLINGS, QUICK_SAMPLER, ModelSpec

APP = str(Path(__file__).resolve().parent.parent / "app.py")

# nlme's Orthodont, subjects M01-M03 (rows 1-12) and F01-F02 (rows 65-72).
ORTHODONT = (
    ("M01", "Male", (26, 25, 29, 31)),
    ("M02", "Male", (21.5, 22.5, 23, 26.5)),
    ("M03", "Male", (23, 22.5, 24, 27.5)),
    ("F01", "Female", (21, 20, 21.5, 23)),
    ("F02", "Female", (21, 21.5, 24, 25.5)),
)


def orthodont_csv(first_header: str | None = '"rownames"', rownames: str = "r") -> bytes:
    """The rows as R writes them: quoted row names and text, numbers as they print (21.5, 26).

    ``rownames="r"`` gives R's row names of the full data (1-12, then 65-72), ``"n"`` the row numbers 1..20 of
    this subset; ``first_header=None`` leaves the row names out."""
    lines = ([] if first_header is None else [first_header]) + ['"distance"', '"age"', '"Subject"', '"Sex"']
    out = [",".join(lines)]
    row = 0
    for index, (subject, sex, distances) in enumerate(ORTHODONT):
        for age, distance in zip((8, 10, 12, 14), distances, strict=True):
            row += 1
            name = row if rownames == "n" else (row if index < 3 else 64 + row - 12)
            cells = [f'"{name}"'] if first_header is not None else []
            out.append(",".join([*cells, f"{distance:g}", str(age), f'"{subject}"', f'"{sex}"']))
    return ("\n".join(out) + "\n").encode()


def insteval_like(seed: int = 1, *, shuffle: bool = False, rownames: bool = False) -> pd.DataFrame:
    """InstEval's columns: students rate lecturers; studage is a property of the student, dept of the lecturer."""
    rng = np.random.default_rng(seed)
    students, lecturers = 60, 25
    lecturer_dept = rng.integers(1, 15, lecturers)
    student_age = rng.choice([2, 4, 6, 8], students)
    rows = []
    for s in range(1, students + 1):
        for d in sorted(rng.choice(lecturers, size=rng.integers(3, 12), replace=False) + 1):
            rows.append({"s": s, "d": d, "studage": student_age[s - 1], "lectage": rng.integers(1, 7),
                         "service": rng.integers(0, 2), "dept": lecturer_dept[d - 1], "y": rng.integers(1, 6)})
    frame = pd.DataFrame(rows)
    if shuffle:
        frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    if rownames:
        frame.insert(0, "rownames", np.arange(1, len(frame) + 1))
    return read_table(frame.to_csv(index=False).encode(), "InstEval.csv")  # all text, as an upload is read


# ------------------------------------------------------------------------------------------------ index columns
def test_an_rdatasets_export_has_its_rownames_recognised_and_kept_in_the_table():
    frame = read_table(orthodont_csv(), "Orthodont.csv")
    assert index_columns(frame) == ("rownames",)  # by name: the row names 65.. of a subset are not 1..n
    assert list(frame.columns) == ["rownames", "distance", "age", "Subject", "Sex"]  # the table as read
    spec = suggest_spec(frame)
    assert (spec.outcome, spec.group) == ("distance", "Subject")
    note = index_column_note(frame, "rownames")
    assert note.startswith("'rownames' looks like a row index (1, 2, 3, …)") and "left out of the roles" in note


@pytest.mark.parametrize("header", ['"X"', '"...1"', '"Unnamed: 0"', '"row.names"', '"index"'])
def test_the_headers_row_names_get_mark_an_index(header):
    frame = read_table(orthodont_csv(header), "Orthodont.csv")
    name = header.strip('"')
    assert index_columns(frame) == (name,)
    spec = suggest_spec(frame)
    assert (spec.outcome, spec.group) == ("distance", "Subject")


def test_an_unnamed_first_column_from_pandas_read_csv_is_an_index():
    """R's write.csv writes an empty first header; pandas' read_csv calls that column 'Unnamed: 0'."""
    frame = pd.read_csv(io.BytesIO(orthodont_csv('""')))
    assert frame.columns[0] == "Unnamed: 0"
    assert index_columns(frame) == ("Unnamed: 0",)
    spec = suggest_spec(frame)
    assert (spec.outcome, spec.group) == ("distance", "Subject")


def test_read_table_refuses_an_unnamed_column_of_row_numbers_and_says_how_to_save_without_it():
    with pytest.raises(FileReadError) as caught:
        read_table(orthodont_csv('""', rownames="n"), "Orthodont.csv")
    message = str(caught.value)
    assert "column 1 has no name in the header" in message
    assert "row numbers 1, 2, 3" in message and "row.names = FALSE" in message and "index=False" in message


def test_a_first_column_of_row_numbers_is_an_index_whatever_its_name():
    frame = read_table(orthodont_csv('"obs"', rownames="n"), "Orthodont.csv")
    assert index_columns(frame) == ("obs",)
    zero_based = pd.DataFrame({"i": ["0", "1", "2", "3"], "g": list("aabb"), "v": ["1.5", "2", "3", "4.5"]})
    assert index_columns(zero_based) == ("i",)


def test_columns_that_are_data_are_not_taken_for_an_index():
    frame = pd.DataFrame({
        "X": [0.3, 1.7, 2.2, 0.9],  # R's name for an empty header, but measurements: a predictor
        "y": [1, 2, 3, 4],  # the outcome, even though it counts 1..n
        "g": list("aabb"),
        "t": [1, 2, 3, 4],  # 1..n, but not where an index is written (the first column)
    })
    assert index_columns(frame) == ()
    assert is_row_number_sequence(frame["t"]) and not is_row_number_sequence(frame["X"])
    assert not is_row_number_sequence(pd.Series([1, 2, 4, 5]))
    assert not is_row_number_sequence(pd.Series([2, 3, 4]))
    # Named like an index but with repeated values (a column of data someone called "index").
    assert index_columns(pd.DataFrame({"index": [1, 1, 2, 2], "y": [0.5, 1, 2, 3]})) == ()


def test_text_row_names_are_an_index():
    """mtcars-style: the row names are labels, different in every row."""
    frame = pd.DataFrame({"rownames": ["Mazda RX4", "Datsun 710", "Valiant", "Duster 360"],
                          "mpg": [21.0, 22.8, 18.1, 14.3], "cyl": [6, 4, 6, 8]})
    assert index_columns(frame) == ("rownames",)
    spec = suggest_spec(frame)
    assert "rownames" not in (spec.outcome, spec.group)
    assert (spec.outcome, spec.group) == ("mpg", "cyl")


def test_no_bundled_sample_has_an_index_column():
    for sample in SAMPLES:
        assert index_columns(sample.load()) == (), sample.name


# ------------------------------------------------------------------------------------------------ outcome and group
def test_orthodont_without_row_names_and_in_any_row_order():
    frame = read_table(orthodont_csv(None), "Orthodont.csv")
    spec = suggest_spec(frame)
    assert (spec.outcome, spec.group) == ("distance", "Subject")  # not age (whole numbers), not Sex (2 groups)
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    spec = suggest_spec(shuffled)
    assert (spec.outcome, spec.group) == ("distance", "Subject")


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("rownames", [False, True])
def test_insteval_like_table_groups_by_a_column_that_repeats(shuffle, rownames):
    frame = insteval_like(shuffle=shuffle, rownames=rownames)
    spec = suggest_spec(frame)
    assert spec.outcome == "y"
    counts = frame[spec.group].value_counts()
    assert 2 <= len(counts) < len(frame) and counts.median() >= 2  # a grouping, never one row per group
    assert spec.group == "s"  # the students: many groups of several rows each


def test_an_identifier_is_not_the_outcome():
    frame = pd.DataFrame({"pupil": [1001, 1002, 1003, 1004, 1005, 1006], "school": list("aabbcc"),
                          "score": [12, 15, 9, 11, 14, 10]})
    spec = suggest_spec(frame)
    assert (spec.outcome, spec.group) == ("score", "school")


def test_a_measurement_is_preferred_over_whole_numbers_and_over_a_property_of_the_group():
    frame = pd.DataFrame({"g": list("aaabbbccc"), "year": [1, 2, 3] * 3,
                          "g_mean": [1.5] * 3 + [2.25] * 3 + [0.75] * 3,  # constant within each group
                          "weight": [3.1, 2.9, 3.3, 4.0, 4.2, 3.8, 2.2, 2.5, 2.4]})
    spec = suggest_spec(frame)
    assert (spec.outcome, spec.group) == ("weight", "g")


@pytest.mark.parametrize("name", ["Minnesota radon", "Sleep deprivation", "Eight schools", "School exam scores",
                                  "Daughters' heights"])
def test_the_guess_for_a_bundled_sample_is_its_own_spec(name):
    """Uploaded as files, these samples get the outcome and group of their ready-made specs (cbpp's binomial
    outcome and baseball's first-45-at-bats outcome need the user)."""
    sample = sample_by_name(name)
    spec = suggest_spec(sample.load())
    assert (spec.outcome, spec.group) == (sample.spec.outcome, sample.spec.group)


def test_a_table_with_nothing_to_choose_from_gets_no_suggestion():
    assert suggest_spec(pd.DataFrame({"y": ["1.5", "2"]})) is None
    assert suggest_spec(pd.DataFrame({"rownames": ["1", "2", "3"], "y": ["1.5", "2", "3"]})) is None


# ---------------------------------------------------------------------------------------- group-level predictors
def hand_table() -> pd.DataFrame:
    """Groups a, b (3 rows) and c (one row: says nothing). x_g and kind_g are constant within a and b."""
    return pd.DataFrame({
        "g": ["a", "a", "a", "b", "b", "b", "c"],
        "y": [1.0, 2.0, 1.5, 3.0, 2.5, 3.5, 2.0],
        "x_row": [0.1, 0.5, 0.9, 0.2, 0.4, 0.8, 0.3],
        "x_g": [2.0, 2.0, 2.0, 5.0, 5.0, 5.0, 7.0],
        "kind_g": ["big", "big", "big", "small", "small", "small", "mid"],
        "kind_row": ["u", "v", "u", "v", "u", "v", "u"],
    })


HAND_SPEC = ModelSpec("y", "g", ("x_row", "x_g", "kind_g", "kind_row"),
                      categorical=(("kind_g", "big"), ("kind_row", "u")))


def test_predictors_constant_within_groups_are_found_numeric_and_categorical():
    data = prepare(hand_table(), HAND_SPEC)
    assert group_level_predictors(data) == ("x_g", "kind_g")


def test_groups_of_one_row_say_nothing():
    frame = hand_table()
    frame.loc[6, "x_g"] = 2.0  # the single row of c may hold anything
    assert group_level_predictors(prepare(frame, HAND_SPEC)) == ("x_g", "kind_g")
    one_each = frame.drop_duplicates("g").reset_index(drop=True)  # no group has two rows
    spec = ModelSpec("y", "g", ("x_row",))
    assert group_level_predictors(prepare(one_each, spec)) == ()


def test_a_predictor_that_varies_in_one_group_is_row_level():
    frame = hand_table()
    frame.loc[4, "x_g"] = 5.5  # b is no longer constant
    frame.loc[1, "kind_g"] = "small"  # a holds two levels
    assert group_level_predictors(prepare(frame, HAND_SPEC)) == ()


def test_the_bundled_samples_group_level_columns():
    """Radon's log_uranium is the county's (Gelman & Hill's county-level predictor); the exam data's schavg and
    schgend are the school's; floor, standLRT and sex vary within groups."""
    radon = sample_by_name("Minnesota radon")
    data = prepare(radon.load(), replace(radon.spec, predictors=("floor", "log_uranium")))
    assert group_level_predictors(data) == ("log_uranium",)
    exam = sample_by_name("School exam scores")
    spec = replace(exam.spec, predictors=("standLRT", "sex", "schavg", "schgend"),
                   categorical=(("sex", "F"), ("schgend", "mixed")))
    assert group_level_predictors(prepare(exam.load(), spec)) == ("schavg", "schgend")


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_no_bundled_sample_is_refused_under_any_pooling(sample, pooling):
    data = prepare(sample.load(), sample.spec)
    spec = specs_for_poolings(data, sample.spec, [pooling])[pooling]  # as the app and the CLI fit it
    assert identification_problems(data, spec) == []


def test_identification_under_each_pooling():
    data = prepare(hand_table(), HAND_SPEC)
    assert identification_problems(data, HAND_SPEC.with_pooling("complete")) == []
    assert identification_problems(data, HAND_SPEC.with_pooling("partial")) == []
    none = identification_problems(data, HAND_SPEC.with_pooling("none"))
    assert len(none) == 2
    assert none[0].startswith("'x_g' is constant within each 'g' (a property of the group)")
    assert "not identified" in none[0] and "remove 'x_g' from the predictors" in none[0]
    assert none[1].startswith("'kind_g' is constant within each 'g'")


def test_a_varying_slope_of_a_group_level_predictor_is_confounded_with_the_varying_intercept():
    data = prepare(hand_table(), HAND_SPEC)
    slope = replace(HAND_SPEC, varying=(INTERCEPT, "x_g"))
    partial = identification_problems(data, slope.with_pooling("partial"))
    assert len(partial) == 1 and "confounded" in partial[0] and "Remove 'x_g' from the terms that vary" in partial[0]
    assert "neither is identified" not in partial[0]
    none = identification_problems(data, slope.with_pooling("none"))
    assert "neither is identified" in none[0] and "'kind_g'" in none[1]
    assert identification_problems(data, slope.with_pooling("complete")) == []
    # Without a varying intercept there is nothing for the group-level term to be confounded with.
    assert identification_problems(data, replace(slope, varying=("x_g",), pooling="partial")) == []


def test_a_row_level_predictor_is_never_refused():
    data = prepare(hand_table(), HAND_SPEC)
    spec = replace(HAND_SPEC, predictors=("x_row", "kind_row"), categorical=(("kind_row", "u"),),
                   varying=(INTERCEPT, "x_row", "kind_row"))
    for pooling in POOLINGS:
        assert identification_problems(data, spec.with_pooling(pooling)) == []


def test_group_level_notes_say_which_predictors_belong_to_the_group():
    notes = group_level_notes(prepare(hand_table(), HAND_SPEC), HAND_SPEC)
    assert notes == [
        f"'{p}' is a property of 'g' (the same in every row of a group): it can explain differences between "
        "groups under complete and partial pooling, but not under no pooling"
        for p in ("x_g", "kind_g")
    ]


def test_fit_refuses_before_compiling_or_sampling(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a refused model must not be compiled")

    monkeypatch.setattr(fitting, "sampler_for", never)
    spec = replace(HAND_SPEC, predictors=("x_row", "x_g"), categorical=(), pooling="none", sampler=QUICK_SAMPLER)
    with pytest.raises(SpecError) as caught:
        fitting.fit(hand_table(), spec)
    assert "'x_g' is constant within each 'g'" in str(caught.value)
    slope = replace(spec, varying=(INTERCEPT, "x_g"))
    with pytest.raises(SpecError) as caught:  # all three: refused before complete pooling is fitted
        fitting.fit_poolings(hand_table(), slope.with_pooling("partial"))
    assert "confounded" in str(caught.value)
    data = prepare(hand_table(), spec)
    check_identified(data, [spec.with_pooling("complete"), spec.with_pooling("partial")])  # these are fine


# ------------------------------------------------------------------------------------------------ the Data page
def texts(at: AppTest, kind: str) -> list[str]:
    return [element.value for element in getattr(at, kind)]


def test_data_page_leaves_the_row_index_out_and_the_model_page_drops_sex_from_no_pooling():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.file_uploader[0].set_value(("Orthodont.csv", orthodont_csv(), "text/csv"))
    at.run()
    assert not at.exception
    assert at.selectbox(key="w_outcome").value == "distance"
    assert at.selectbox(key="w_group").value == "Subject"
    assert "rownames" not in at.selectbox(key="w_outcome").options
    assert "rownames" not in at.multiselect(key="w_predictors").options
    shown = "\n".join(texts(at, "text"))
    assert "'rownames' looks like a row index (1, 2, 3, …): left out of the roles" in shown
    at.multiselect(key="w_predictors").set_value(["age", "Sex"]).run()
    assert not at.exception
    assert any("ready to fit" in s for s in texts(at, "success"))
    shown = "\n".join(texts(at, "text"))
    assert "'Sex' is a property of 'Subject'" in shown and "'age' is a property" not in shown

    at.switch_page("pages/2_model.py").run()
    assert not at.exception
    # All three poolings: no pooling leaves Sex out, and says so; nothing is refused.
    assert not any("cannot be fitted" in e for e in texts(at, "error"))
    assert ("'Sex' is a property of 'Subject': under no pooling each group's own intercept absorbs it, so it is "
            "left out of the no-pooling fit") in "\n".join(texts(at, "text"))
    assert [b for b in at.button if b.label == "Fit"]
    at.radio(key="w_pooling").set_value("partial").run()
    assert not at.exception
    assert not any("cannot be fitted" in e for e in texts(at, "error"))
    assert "left out of the no-pooling fit" not in "\n".join(texts(at, "text"))
    assert [b for b in at.button if b.label == "Fit"]
