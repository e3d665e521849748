"""read_table and prepare: file formats, the design matrix, missing values, and every data problem at once.

Facts about the bundled samples come from sample_data/README.md (row and group counts, the radon floor coding) and
from lme4's ``lmList(Reaction ~ Days | Subject, sleepstudy)`` for the per-subject slopes.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest

from hiermodels.data.preparing import PreparedData, prepare
from hiermodels.data.reading import read_table
from hiermodels.errors import DataError, FileReadError
from hiermodels.model.spec import ModelSpec

CSV = "g,y,x\n01,1.5,0.1\n1,2.5,0.2\n01,3,0.4\n"
EXPECTED = {"g": ["01", "1", "01"], "y": ["1.5", "2.5", "3"], "x": ["0.1", "0.2", "0.4"]}


def as_lists(frame: pd.DataFrame) -> dict[str, list]:
    return {c: frame[c].tolist() for c in frame.columns}


def problems_of(frame: pd.DataFrame, spec: ModelSpec) -> tuple[str, ...]:
    with pytest.raises(DataError) as caught:
        prepare(frame, spec)
    return caught.value.problems


def table(text: str) -> pd.DataFrame:
    return read_table(text.encode(), "data.csv")


# ---------------------------------------------------------------------------------------------------- reading
def test_csv_is_read_as_text_so_labels_01_and_1_stay_distinct(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(CSV, encoding="utf-8")
    frame = read_table(path)
    assert as_lists(frame) == EXPECTED
    prepared = prepare(frame, ModelSpec(outcome="y", group="g"))
    assert prepared.group_labels == ("01", "1")
    assert prepared.group_index.tolist() == [0, 1, 0]


def test_read_table_accepts_a_path_string_bytes_and_a_file_object(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(CSV, encoding="utf-8")
    assert as_lists(read_table(str(path))) == EXPECTED
    assert as_lists(read_table(CSV.encode(), "upload.csv")) == EXPECTED
    assert as_lists(read_table(io.BytesIO(CSV.encode()), "upload.csv")) == EXPECTED


@pytest.mark.parametrize(("filename", "delimiter"), [("data.tsv", "\t"), ("data.tab", "\t"), ("data.csv", ";"),
                                                     ("data.csv", "\t"), ("data.txt", "|")])
def test_delimited_text_with_other_delimiters(filename, delimiter):
    assert as_lists(read_table(CSV.replace(",", delimiter).encode(), filename)) == EXPECTED


def test_semicolon_file_with_decimal_commas_keeps_them_as_text_and_prepare_names_the_rows():
    """A European CSV (';' with decimal commas) is read, and prepare says which cells are not numbers."""
    frame = read_table(b"g;y\na;1,5\nb;2\na;3,25\nc;4\n", "data.csv")
    assert frame["y"].tolist() == ["1,5", "2", "3,25", "4"]
    (problem,) = problems_of(frame, ModelSpec(outcome="y", group="g"))
    assert "the column 'y' should hold numbers, but data rows 1, 3 hold text ('1,5', '3,25')" in problem
    assert "decimal comma" in problem


def test_utf8_bom_is_not_part_of_the_first_column_name():
    frame = read_table(b"\xef\xbb\xbf" + CSV.encode(), "data.csv")
    assert list(frame.columns) == ["g", "y", "x"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark(encoding):
    raw = CSV.encode(encoding)
    if encoding != "utf-16":  # the -le/-be codecs write no BOM: add the one a spreadsheet would write
        raw = "\ufeff".encode(encoding) + raw
    assert as_lists(read_table(raw, "data.csv")) == EXPECTED


def test_non_utf8_text_gives_a_clear_error():
    raw = "g,y\nZürich,1\nGenève,2\n".encode("latin-1")
    with pytest.raises(FileReadError, match=re.escape("'data.csv' is not UTF-8 text") + ".*CSV UTF-8"):
        read_table(raw, "data.csv")


def test_non_ascii_utf8_labels_are_kept():
    frame = read_table("g,y\nZürich,1\nGenève,2\n".encode(), "data.csv")
    assert frame["g"].tolist() == ["Zürich", "Genève"]


def test_parquet_keeps_numeric_types_and_whole_number_group_labels_print_without_decimals(tmp_path):
    frame = pd.DataFrame({"g": [3.0, 1.0, 3.0, 1.0], "label": ["01", "1", "01", "2"], "y": [1.5, 2.5, 3.0, 0.5]})
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)
    read = read_table(path)
    assert read["y"].tolist() == [1.5, 2.5, 3.0, 0.5]
    assert pd.api.types.is_float_dtype(read["y"])
    by_number = prepare(read, ModelSpec(outcome="y", group="g"))
    assert by_number.group_labels == ("3", "1")
    by_text = prepare(read, ModelSpec(outcome="y", group="label"))
    assert by_text.group_labels == ("01", "1", "2")


def test_excel_is_read_as_text(tmp_path):
    frame = pd.DataFrame({"g": ["01", "1", "01"], "y": [1.5, 2.5, 3.0]})
    path = tmp_path / "data.xlsx"
    frame.to_excel(path, index=False)
    read = read_table(path)
    assert read["g"].tolist() == ["01", "1", "01"]
    prepared = prepare(read, ModelSpec(outcome="y", group="g"))
    assert prepared.y.tolist() == [1.5, 2.5, 3.0]
    assert prepared.group_labels == ("01", "1")


@pytest.mark.parametrize(
    ("raw", "filename", "message"),
    [
        (b"", "data.csv", "'data.csv' is empty"),
        (b"g,y\n", "data.csv", "'data.csv' has no data rows"),
        (b"\n\n", "data.csv", "could not read 'data.csv' as delimited text"),
        (b"g,y\na,1\n", "data.json", "'data.json' has an unknown file type; use one of .csv, .tsv"),
        (b"g,y\na,1\n", "data", "'data' has an unknown file type"),
        (b"not parquet", "data.parquet", "could not read 'data.parquet' as Parquet"),
        (b"not excel", "data.xlsx", "could not read 'data.xlsx' as Excel"),
        (b"g,y\na,1\nb,2,3\n", "data.csv", "could not read 'data.csv' as delimited text"),
    ],
)
def test_unreadable_input_raises_file_read_error(raw, filename, message):
    with pytest.raises(FileReadError, match=re.escape(message)):
        read_table(raw, filename)


def test_missing_path(tmp_path):
    with pytest.raises(FileReadError, match=re.escape(f"no file at {str(tmp_path / 'nope.csv')!r}: check the path")):
        read_table(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------------------------------- problems
def test_missing_column_suggests_the_closest_name(radon):
    problems = problems_of(radon, ModelSpec(outcome="log_radn", group="County"))
    assert problems == (
        "there is no column 'log_radn': did you mean 'log_radon'?",
        "there is no column 'County': did you mean 'county'?",
    )


def test_missing_column_without_a_close_name_lists_the_columns(radon):
    (problem,) = problems_of(radon, ModelSpec(outcome="zzz", group="county"))
    assert problem == "there is no column 'zzz': the columns are 'county', 'floor', 'log_radon', 'log_uranium'"


def test_duplicate_column_names_are_reported():
    frame = pd.DataFrame([["a", "1", "2"], ["b", "3", "4"]], columns=["g", "y", "y"])
    (problem,) = problems_of(frame, ModelSpec(outcome="y", group="g"))
    assert "more than one column named 'y'" in problem


def test_text_in_a_numeric_column_names_the_rows():
    frame = table("g,y\na,1\na,oops\nb,3\nb,n/a?\n" + "c,x\n" * 5 + "c,2\n")
    (problem,) = problems_of(frame, ModelSpec(outcome="y", group="g"))
    assert problem.startswith("the column 'y' should hold numbers, but data rows 2, 4, 5, 6, 7 and 2 more hold text "
                              "('oops', 'n/a?', 'x')")


def test_infinite_values_are_reported():
    frame = table("g,y\na,1\na,inf\nb,3\nb,-inf\n")
    (problem,) = problems_of(frame, ModelSpec(outcome="y", group="g"))
    assert problem.startswith("the column 'y' has infinite values in data rows 2, 4")


def test_single_group():
    frame = table("g,y\na,1\na,2\n")
    (problem,) = problems_of(frame, ModelSpec(outcome="y", group="g"))
    assert problem.startswith("the group column 'g' has a single group ('a')")
    assert "needs at least two" in problem


def test_constant_predictor():
    frame = table("g,y,x\na,1,2\na,2,2\nb,3,2\n")
    (problem,) = problems_of(frame, ModelSpec(outcome="y", group="g", predictors="x"))
    assert problem.startswith("the predictor 'x' has the same value (2) in every row")


def test_constant_outcome():
    frame = table("g,y\na,4\na,4\nb,4\n")
    (problem,) = problems_of(frame, ModelSpec(outcome="y", group="g"))
    assert problem == "the outcome 'y' has the same value (4) in every row: there is nothing to model"


def test_binomial_successes_above_trials_and_bad_trials():
    frame = table("g,y,n\na,1,3\na,4,3\nb,0,2\nb,2.5,3\nc,1,0\n")
    problems = problems_of(frame, ModelSpec(outcome="y", group="g", family="binomial", trials="n"))
    assert problems == (
        "the trials column 'n' must hold whole numbers of at least 1",
        "the outcome 'y' counts successes and must hold whole numbers of 0 or more",
        "the outcome 'y' exceeds the trials 'n' in data rows 2, 5: successes cannot outnumber trials",
    )


def test_binomial_without_trials_needs_zeros_and_ones():
    frame = table("g,y\na,1\na,0\nb,2\n")
    (problem,) = problems_of(frame, ModelSpec(outcome="y", group="g", family="binomial"))
    assert problem.startswith("without a trials column the binomial outcome 'y' must be 0 or 1 in every row")


@pytest.mark.parametrize("value", ["-1", "2.5"])
def test_poisson_needs_counts(value):
    frame = table(f"g,y\na,1\na,{value}\nb,3\n")
    (problem,) = problems_of(frame, ModelSpec(outcome="y", group="g", family="poisson"))
    assert problem == "the poisson outcome 'y' must hold counts: whole numbers of 0 or more"


def test_poisson_exposure_must_be_positive():
    frame = table("g,y,e\na,1,1\na,0,0\nb,3,2\n")
    (problem,) = problems_of(frame, ModelSpec(outcome="y", group="g", family="poisson", exposure="e"))
    assert problem == "the exposure column 'e' must be positive in every row"


def test_gamma_needs_a_positive_outcome():
    frame = table("g,y\na,1\na,0\nb,-2\nb,3\n")
    (problem,) = problems_of(frame, ModelSpec(outcome="y", group="g", family="gamma"))
    assert problem.startswith("the gamma outcome 'y' must be positive, but data rows 2, 3 are zero or negative")


def test_known_se_needs_positive_se_and_one_row_per_group():
    frame = table("g,y,se\na,1,1\na,0,0\nb,-2,-1\nc,3,2\n")
    problems = problems_of(frame, ModelSpec(outcome="y", group="g", family="known_se", se="se"))
    assert problems[0] == "standard errors in 'se' must be positive, but data rows 2, 3 are not"
    assert problems[1].startswith("with known standard errors each group needs exactly one row, but 'a' appear")


def test_categorical_reference_level_must_occur(small_frame):
    spec = ModelSpec(outcome="y", group="g", predictors="c", categorical={"c": "z"})
    (problem,) = problems_of(small_frame, spec)
    assert problem == "the reference level 'z' of 'c' does not occur in the data; choose one of 'u', 'v', 'w'"


def test_categorical_with_a_single_level():
    frame = table("g,y,c\na,1,u\na,2,u\nb,3,u\n")
    (problem,) = problems_of(frame, ModelSpec(outcome="y", group="g", predictors="c", categorical={"c": "u"}))
    assert problem == "'c' has a single level ('u') and cannot be a predictor"


def test_several_problems_are_reported_together_in_one_error():
    """A single group, text in the outcome, a constant predictor and a missing reference level: all four at once."""
    frame = table("g,y,x,c\na,1,5,u\na,oops,5,v\na,3,5,u\n")
    spec = ModelSpec(outcome="y", group="g", predictors=("x", "c"), categorical={"c": "w"})
    with pytest.raises(DataError) as caught:
        prepare(frame, spec)
    error = caught.value
    assert len(error.problems) == 4
    assert str(error).startswith("4 problems with the data: ")
    assert " | ".join(error.problems) in str(error)
    assert [p.split(" ")[:3] for p in error.problems] == [
        ["the", "column", "'y'"], ["the", "group", "column"], ["the", "predictor", "'x'"], ["the", "reference", "level"]
    ]


def test_data_error_needs_a_problem_and_counts_them():
    with pytest.raises(ValueError, match="at least one problem"):
        DataError([])
    assert str(DataError(["it is wrong"])) == "1 problem with the data: it is wrong"


# ---------------------------------------------------------------------------------------------------- missing values
def test_rows_with_missing_values_are_dropped_and_counted_per_column():
    # Each row is counted once, under the first used column (outcome, numeric predictors, then group, categorical).
    frame = table("g,y,x,c\na,1,0.1,u\na,,0.2,v\nb,3,,u\n,4,0.3,v\nb,5,0.5,\nb,,,\nc,2,0.7,v\nc,2.5,0.9,w\n"
                  "b,6,0.6,u\nb, ,0.1,u\n")
    spec = ModelSpec(outcome="y", group="g", predictors=("x", "c"), categorical={"c": "u"})
    prepared = prepare(frame, spec)
    assert prepared.dropped == {"y": 3, "x": 1, "g": 1, "c": 1}
    assert prepared.rows_dropped == 6
    assert prepared.rows_read == 10
    assert prepared.n_rows == 4
    assert prepared.y.tolist() == [1.0, 2.0, 2.5, 6.0]
    assert prepared.group_labels == ("a", "c", "b")


def test_missing_values_in_unused_columns_are_ignored(small_frame):
    frame = small_frame.copy()
    frame.loc[2, "pos"] = pd.NA
    prepared = prepare(frame, ModelSpec(outcome="y", group="g"))
    assert prepared.dropped == {}
    assert prepared.n_rows == 6


def test_no_complete_row_is_an_error():
    (problem,) = problems_of(table("g,y\na,\nb,\n"), ModelSpec(outcome="y", group="g"))
    assert problem.startswith("no row has a value in every column the model uses (y, g)")


# ---------------------------------------------------------------------------------------------------- design matrix
def test_design_matrix_numeric_and_categorical(small_frame):
    spec = ModelSpec(outcome="y", group="g", predictors=("x", "c"), categorical={"c": "v"})
    prepared = prepare(small_frame, spec)
    assert prepared.terms == ("intercept", "x", "c[u]", "c[w]")
    assert prepared.predictor_terms == {"x": ("x",), "c": ("c[u]", "c[w]")}
    c = small_frame["c"].to_numpy()
    expected = np.column_stack([np.ones(6), small_frame["x"].astype(float), c == "u", c == "w"]).astype(float)
    np.testing.assert_array_equal(prepared.X, expected)
    np.testing.assert_array_equal(prepared.y, small_frame["y"].astype(float))
    assert prepared.terms_of(("intercept", "c")) == ("intercept", "c[u]", "c[w]")


def test_groups_are_numbered_in_order_of_first_appearance():
    frame = table("g,y\nb,1\na,2\nb,3\nc,4\na,5\n")
    prepared = prepare(frame, ModelSpec(outcome="y", group="g"))
    assert prepared.group_labels == ("b", "a", "c")
    assert prepared.group_index.tolist() == [0, 1, 0, 2, 1]
    assert prepared.group_sizes.tolist() == [2, 2, 1]
    assert prepared.n_groups == 3


def test_family_columns_are_carried(small_frame):
    binomial = prepare(small_frame, ModelSpec(outcome="k", group="g", family="binomial", trials="n"))
    assert binomial.trials.tolist() == [5, 5, 6, 6, 7, 7]
    assert binomial.exposure is None and binomial.se is None
    poisson = prepare(small_frame, ModelSpec(outcome="k", group="g", family="poisson", exposure="e"))
    assert poisson.exposure.tolist() == [1.0, 2.0, 0.5, 3.0, 2.0, 1.5]


# ---------------------------------------------------------------------------------------------------- fingerprint
def test_fingerprint_equal_for_equal_data_and_different_when_one_value_changes(small_frame):
    spec = ModelSpec(outcome="y", group="g", predictors="x")
    first = prepare(small_frame, spec).fingerprint()
    assert prepare(small_frame.copy(), spec).fingerprint() == first
    changed = small_frame.copy()
    changed.loc[3, "x"] = "0.21"
    assert prepare(changed, spec).fingerprint() != first
    relabelled = small_frame.copy()
    relabelled["g"] = relabelled["g"].str.upper()
    assert prepare(relabelled, spec).fingerprint() != first
    assert prepare(small_frame, ModelSpec(outcome="y", group="g")).fingerprint() != first


def test_prepared_data_is_frozen(small_frame):
    prepared = prepare(small_frame, ModelSpec(outcome="y", group="g"))
    assert isinstance(prepared, PreparedData)
    with pytest.raises(AttributeError):
        prepared.y = np.zeros(6)  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------------- sample files
def test_radon_sample(radon):
    """README: 919 houses in 85 counties; floor 0 = basement (766 houses), 1 = first floor (153);
    St Louis has 116 houses, Hennepin 105 and Dakota 63; three counties have a single house."""
    prepared = prepare(radon, ModelSpec(outcome="log_radon", group="county", predictors="floor"))
    assert (prepared.n_rows, prepared.n_groups, prepared.rows_dropped) == (919, 85, 0)
    assert prepared.group_labels[0] == "AITKIN"
    assert prepared.X[:, 1].sum() == 153
    sizes = dict(zip(prepared.group_labels, prepared.group_sizes.tolist(), strict=True))
    assert (sizes["ST LOUIS"], sizes["HENNEPIN"], sizes["DAKOTA"]) == (116, 105, 63)
    assert sorted(sizes.values())[:4] == [1, 1, 1, 2]
    # 4 readings of 0 were set to 0.1 pCi/L before the log (Gelman & Hill).
    assert np.sum(np.isclose(prepared.y, np.log(0.1))) == 4


def test_sleepstudy_sample_per_subject_slopes(sleepstudy):
    """lme4: coef(lmList(Reaction ~ Days | Subject, sleepstudy)) gives Days slopes 21.764702 (subject 308) and
    -2.881034 (subject 335); each subject has 10 days."""
    prepared = prepare(sleepstudy, ModelSpec(outcome="Reaction", group="Subject", predictors="Days"))
    assert (prepared.n_rows, prepared.n_groups) == (180, 18)
    assert set(prepared.group_sizes.tolist()) == {10}
    slopes = {}
    for j, subject in enumerate(prepared.group_labels):
        rows = prepared.group_index == j
        coefficients, *_ = np.linalg.lstsq(prepared.X[rows], prepared.y[rows], rcond=None)
        slopes[subject] = coefficients[1]
    assert slopes["308"] == pytest.approx(21.764702, abs=1e-5)
    assert slopes["335"] == pytest.approx(-2.881034, abs=1e-5)


def test_eight_schools_sample_for_known_se(eight_schools):
    prepared = prepare(eight_schools, ModelSpec(outcome="estimate", group="school", se="se", family="known_se"))
    assert prepared.group_labels == tuple("ABCDEFGH")
    assert prepared.y.tolist() == [28, 8, -3, 7, -1, 1, 18, 12]  # BDA3 Table 5.2
    assert prepared.se.tolist() == [15, 10, 16, 11, 9, 11, 10, 18]
