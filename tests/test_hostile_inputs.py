"""A corpus of malformed and hostile inputs, each through the core (read_table, prepare) and through the app.

Every case has an expected outcome: a :class:`FileReadError` or :class:`DataError` whose message holds given
words (what is wrong and how to fix it), or a successful read and prepare with asserted values (labels exactly as
written). Through the app (AppTest, no fitting) every case must end without an exception, show its message as text,
keep user strings out of markdown, and leave the session usable (choosing a sample again is ready to fit).

Files are generated here; nothing is stored under tests/hostile/.
"""

from __future__ import annotations

import gzip
import io
import re
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from hiermodels import limits
from hiermodels.data.preparing import PreparedData, numeric_columns, prepare
from hiermodels.data.reading import read_table
from hiermodels.errors import DataError, FileReadError
from hiermodels.model.spec import ModelSpec
from hiermodels_ui.widgets import safe_csv

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
TIMEOUT = 60

SCRIPT = "<script>alert(1)</script>"
HTML = "<b>bold</b><img src=x onerror=alert(2)>"
MD_LINK = "[click](javascript:alert(3))"
MD_BOLD = "**bold** _it_ `code` # heading"
FORMULAS = ('=HYPERLINK("http://x","y")', "+1", "-2", "@SUM(A1:A2)")
LONG = "L" * 10_000


# ---------------------------------------------------------------------------------------------------- builders
def csv(text: str) -> bytes:
    return text.encode("utf-8")


def csv_of(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def xlsx(*sheets: tuple[str, list[list]], merge: str | None = None) -> bytes:
    book = openpyxl.Workbook()
    for number, (title, rows) in enumerate(sheets):
        sheet = book.active if number == 0 else book.create_sheet()
        sheet.title = title
        for row in rows:
            sheet.append(row)
        if merge and number == 0:
            sheet.merge_cells(merge)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def parquet_of(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


GOOD = "g,y\na,1.5\nb,2.5\na,3\nb,0.5\n"
EXCEL_ROWS = [["g", "y"], ["a", 1.5], ["b", 2.5], ["a", 3.0], ["b", 0.5]]


def labels_file(labels: list[str], repeat: int = 2) -> bytes:
    """A CSV with the given group labels (quoted as a spreadsheet would), each ``repeat`` times."""
    frame = pd.DataFrame({"g": [label for label in labels for _ in range(repeat)],
                          "y": [round(0.7 * i % 3, 2) for i in range(len(labels) * repeat)]})
    return csv_of(frame)


def too_big() -> bytes:
    return b"g,y\n" + b"a,1\n" * (limits.max_upload_bytes() // 4)  # 4 bytes past the limit


def too_many_rows() -> bytes:
    return b"g,y\n" + b"a,1\nb,2\n" * ((limits.MAX_ROWS + 2) // 2)


def wide() -> bytes:
    header = ",".join(["g", *(f"c{i}" for i in range(9_999))])
    row = ",".join(["a", *("1" for _ in range(9_999))])
    return f"{header}\n{row}\n{row}\n".encode()


# ---------------------------------------------------------------------------------------------------- the corpus
@dataclass(frozen=True)
class Case:
    """One input and its expected outcome.

    ``read_error``: words the FileReadError message holds (the read must fail). Otherwise the read succeeds,
    ``spec`` is prepared, and either ``prepare_error`` holds words of one DataError problem, or ``check`` asserts
    values of the frame and prepared data. ``hostile``: strings that must never reach markdown in the app.
    """

    name: str
    filename: str
    content: Callable[[], bytes]
    read_error: tuple[str, ...] = ()
    spec: dict = field(default_factory=lambda: {"outcome": "y", "group": "g"})
    prepare_error: tuple[str, ...] = ()
    check: Callable[[pd.DataFrame, PreparedData], None] | None = None
    hostile: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # words of frame.attrs["notes"]
    app_message: tuple[str, ...] = ()  # words the app shows instead (when the app stops before prepare)
    in_app: bool = True  # False: the uploader itself refuses the file (its type list), so read_table never sees it

    @property
    def outcome(self) -> str:
        if self.read_error:
            return "FileReadError: " + self.read_error[0]
        if self.app_message:
            return "app: " + self.app_message[0]
        if self.prepare_error:
            return "DataError: " + self.prepare_error[0]
        return "reads and prepares"


def labels_are(*expected: str) -> Callable[[pd.DataFrame, PreparedData], None]:
    def check(frame: pd.DataFrame, prepared: PreparedData) -> None:
        assert prepared.group_labels == expected

    return check


def check_utf16(frame: pd.DataFrame, prepared: PreparedData) -> None:
    assert list(frame.columns) == ["g", "y"]
    assert prepared.group_labels == ("Zürich", "01", "1")
    assert prepared.y.tolist() == [1.5, 2.0, 3.0, 4.0]


def check_quoted_newline(frame: pd.DataFrame, prepared: PreparedData) -> None:
    assert prepared.group_labels == ("multi\nline", "b, with comma", 'say "hi"')
    assert prepared.y.tolist() == [1.0, 2.0, 3.0, 4.0]


def check_dropped(frame: pd.DataFrame, prepared: PreparedData) -> None:
    assert prepared.dropped == {"y": 3}
    assert prepared.y.tolist() == [1.0, 3.0, 2.0]
    assert prepared.group_labels == ("a", "b", "c")


def check_size_one(frame: pd.DataFrame, prepared: PreparedData) -> None:
    assert prepared.n_groups == 30
    assert prepared.group_sizes.tolist() == [1] * 30


def check_separated(frame: pd.DataFrame, prepared: PreparedData) -> None:
    x = prepared.X[:, 1]
    assert np.all(prepared.y[x < 0] == 0) and np.all(prepared.y[x > 0] == 1)


def check_whitespace(frame: pd.DataFrame, prepared: PreparedData) -> None:
    assert prepared.group_labels == (" a", "a", "a ")
    assert prepared.dropped == {"g": 2}  # the two labels of only spaces are missing, and counted


def check_plain(frame: pd.DataFrame, prepared: PreparedData) -> None:
    assert list(frame.columns) == ["g", "y"]
    assert frame["g"].tolist() == ["a", "b", "a", "b"]
    assert frame["y"].tolist() == ["1.5", "2.5", "3", "0.5"]
    assert prepared.y.tolist() == [1.5, 2.5, 3.0, 0.5]


def check_excel(frame: pd.DataFrame, prepared: PreparedData) -> None:
    assert list(frame.columns) == ["g", "y"]
    assert prepared.group_labels == ("a", "b")
    assert prepared.y.tolist() == [1.5, 2.5, 3.0, 0.5]


def check_index(frame: pd.DataFrame, prepared: PreparedData) -> None:
    assert list(frame.columns) == ["g", "y"]
    assert prepared.group_labels == ("a", "b")


def check_empty_column_left_out(frame: pd.DataFrame, prepared: PreparedData) -> None:
    assert list(frame.columns) == ["g", "y"]
    assert prepared.y.tolist() == [1.0, 2.0, 3.0]


def check_formulas(frame: pd.DataFrame, prepared: PreparedData) -> None:
    assert prepared.group_labels == FORMULAS
    exported = safe_csv(pd.DataFrame({"group": list(prepared.group_labels), "mean": [-1.5, 2.0, -3.25, 0.5]}))
    back = pd.read_csv(io.BytesIO(exported), dtype=str, keep_default_na=False)
    assert back["group"].tolist() == ["'" + label for label in FORMULAS]
    assert back["mean"].tolist() == ["-1.5", "2.0", "-3.25", "0.5"]


def check_cr_only(frame: pd.DataFrame, prepared: PreparedData) -> None:
    assert frame["g"].tolist() == ["a", "b", "a"]
    assert prepared.y.tolist() == [1.0, 2.0, 3.0]


HUNDRED_THOUSAND = "g,y\n" + "".join(f"id{i},{i % 7}\n" for i in range(100_000))

CASES = [
    # -------------------------------------------------------------- not a table at all
    Case("empty file", "empty.csv", lambda: b"", read_error=("'empty.csv' is empty", "header row")),
    Case("header only", "header.csv", lambda: csv("g,y\n"), read_error=("has no data rows", "at least one data row")),
    Case("only blank lines", "blank.csv", lambda: csv("\n \n\r\n"), read_error=("holds only empty lines",)),
    Case("binary garbage", "garbage.csv", lambda: bytes(range(256)) * 4,
         read_error=("is not a text file", "NUL bytes", "CSV UTF-8")),
    Case("PNG renamed .csv", "photo.csv", lambda: b"\x89PNG\r\n\x1a\n" + bytes(200),
         read_error=("'photo.csv' is a PNG image, not a table", "CSV (UTF-8)")),
    Case("JPEG renamed .csv", "photo2.csv", lambda: b"\xff\xd8\xff\xe0" + bytes(200),
         read_error=("is a JPEG image",)),
    Case("PDF renamed .csv", "report.csv", lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
         read_error=("is a PDF document, not a table",)),
    Case("ZIP renamed .csv", "archive.csv", lambda: zipped({"data.csv": GOOD.encode()}),
         read_error=("is a ZIP archive",)),
    Case("Excel workbook renamed .csv", "book.csv", lambda: xlsx(("Data", EXCEL_ROWS)),
         read_error=("is an Excel workbook", ".xlsx extension")),
    Case("Parquet renamed .csv", "table.csv", lambda: parquet_of(pd.DataFrame({"g": ["a"], "y": [1.0]})),
         read_error=("is a Parquet file", ".parquet extension")),
    Case("gzip-compressed CSV", "data.csv", lambda: gzip.compress(GOOD.encode()),
         read_error=("gzip-compressed",)),
    Case("old .xls renamed .csv", "old.csv", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500),
         read_error=("old-style Office file", "save it from your spreadsheet")),
    Case("CSV named .xlsx", "data.xlsx", lambda: csv(GOOD),
         read_error=("could not read 'data.xlsx' as Excel", "CSV? then give it the .csv extension")),
    Case("CSV named .parquet", "data.parquet", lambda: csv(GOOD),
         read_error=("could not read 'data.parquet' as Parquet", ".csv extension")),
    Case("unknown extension", "data.json", lambda: b'{"g": 1}', read_error=("unknown file type", ".csv"),
         in_app=False),
    Case("NUL byte inside text", "nul.csv", lambda: b"g,y\na\x00b,1\nc,2\n", read_error=("NUL bytes",)),
    # -------------------------------------------------------------- encodings
    Case("UTF-16 LE with BOM", "u16le.csv",
         lambda: "\ufeffg,y\nZürich,1.5\n01,2\n1,3\nZürich,4\n".encode("utf-16-le"), check=check_utf16),
    Case("UTF-16 BE with BOM", "u16be.csv",
         lambda: "\ufeffg,y\nZürich,1.5\n01,2\n1,3\nZürich,4\n".encode("utf-16-be"), check=check_utf16),
    Case("UTF-16 without BOM", "u16.csv", lambda: "g,y\na,1\nb,2\n".encode("utf-16-le"),
         read_error=("looks like UTF-16 text without a byte-order mark", "CSV UTF-8")),
    Case("Latin-1 with accented labels", "latin1.csv", lambda: "g,y\nZürich,1\nGenève,2\n".encode("latin-1"),
         read_error=("'latin1.csv' is not UTF-8 text", "line 2", "0xFC", "'ü'", "CSV UTF-8")),
    Case("UTF-8 with BOM", "bom.csv", lambda: b"\xef\xbb\xbf" + csv(GOOD), check=check_plain),
    # -------------------------------------------------------------- layout
    Case("semicolons with decimal commas", "euro.csv", lambda: csv("g;y\na;1,5\nb;2\na;3,25\nc;4\n"),
         prepare_error=("'y' should hold numbers, but data rows 1, 3 hold text ('1,5', '3,25')", "decimal comma",
                        "decimal point")),
    Case("quoted newline, comma and quotes in labels", "quoted.csv",
         lambda: csv('g,y\n"multi\nline",1\n"b, with comma",2\n"say ""hi""",3\n"multi\nline",4\n'),
         check=check_quoted_newline),
    Case("ragged row with an extra field", "ragged.csv", lambda: csv("g,y\na,1\nSmith, John,2\nc,4\nd,5,6\n"),
         read_error=("line 3 has 3 fields, but the header has 2 (also line 5)", "double quotes")),
    Case("short row", "short.csv", lambda: csv("g,y,x\na,1,2\nb,2\nc,3,4\n"),
         read_error=("line 3 has 2 fields, but the header has 3", "keep the comma of an empty cell")),
    Case("quote never closed", "unclosed.csv", lambda: csv('g,y\na,1\n"b,2\nc,3\n'),
         read_error=("line 3 opens a quoted value", "never closed")),
    Case("quote never closed in a big file", "unclosed_big.csv",
         lambda: csv('g,y\na,1\n"b,2\n' + "c,3\n" * 100_000),
         read_error=("a value starting on line 3 is longer than 131,072 characters", "never closes")),
    Case("a line of spaces", "spaceline.csv", lambda: csv("g,y\na,1\n   \nb,2\n"),
         read_error=("line 3 has 1 field, but the header has 2", "line 3 holds only spaces: delete it")),
    Case("title line above the header", "titled.csv", lambda: csv("Survey 2024\ng,y\na,1\nb,2\n"),
         read_error=("line 2 has 2 fields, but the header has 1", "delete the lines above its header")),
    Case("duplicate column names", "dup.csv", lambda: csv("g,y,y\na,1,2\nb,3,4\n"),
         read_error=("names more than one column the same: 'y' (column 2, column 3)", "Rename them")),
    Case("10,000 columns", "wide.csv", wide, read_error=("has 10,000 columns", "1,000", "long")),
    Case("file above the size limit", "big.csv", too_big,
         read_error=("larger than the limit of 50 MB", "aggregate or sample the rows")),
    Case("2,000,001 rows", "tall.csv", too_many_rows,
         read_error=("more than 2,000,000 data rows", "aggregate or sample the rows")),
    Case("TSV named .csv", "tabs.csv", lambda: csv(GOOD.replace(",", "\t")), check=check_plain),
    Case("CRLF line endings", "crlf.csv", lambda: csv(GOOD.replace("\n", "\r\n")), check=check_plain),
    Case("CR-only line endings", "cr.csv", lambda: csv("g,y\ra,1\rb,2\ra,3\r"), check=check_cr_only),
    Case("trailing empty lines", "trailing.csv", lambda: csv(GOOD + "\n\n\r\n\n"), check=check_plain),
    Case("empty column name holding data", "unnamed.csv", lambda: csv(",g,y\n0,a,1\n1,b,2\n"),
         read_error=("column 1 has no name in the header", "holds data", "Give every column a name")),
    Case("whitespace column name", "spaces.csv", lambda: csv("g,  ,y\na,1,2\nb,3,4\n"),
         read_error=("column 2 has no name", "only spaces")),
    Case("trailing delimiters (empty unnamed column)", "trailcomma.csv", lambda: csv("g,y,\na,1,\nb,2,\na,3,\n"),
         check=check_empty_column_left_out, notes=("left out 1 empty column without a name (column 3)",)),
    Case("thousands separators in quotes", "thousands.csv", lambda: csv('g,y\na,"1,234"\nb,"2,500"\nc,7\na,3\nb,4\n'),
         prepare_error=("data rows 1, 2 hold text ('1,234', '2,500')", "thousands separator")),
    # -------------------------------------------------------------- values
    Case("NaN, inf and empty outcome", "naninf.csv", lambda: csv("g,y\na,1\na,NaN\nb,\nb,inf\nc,2\nc,-inf\n"),
         prepare_error=("the column 'y' has infinite values in data rows 4, 6",)),
    Case("NaN, NA and empty outcome are left out and counted", "nan.csv",
         lambda: csv("g,y\na,1\na,NaN\nb,\nb,3\nc,2\nc,NA\n"), check=check_dropped),
    Case("every row in one group", "onegroup.csv", lambda: csv("g,y\na,1\na,2\na,3\n"),
         prepare_error=("has a single group ('a')", "at least two")),
    Case("every group of size 1", "singletons.csv", lambda: csv_of(pd.DataFrame(
        {"g": [f"s{i}" for i in range(30)], "y": [i * 0.5 for i in range(30)]})), check=check_size_one),
    Case("100,000 groups", "ids.csv", lambda: csv(HUNDRED_THOUSAND),
         prepare_error=("has 100,000 groups", "20,000", "coarser level")),
    Case("constant outcome", "const.csv", lambda: csv("g,y\na,4\na,4\nb,4\n"),
         prepare_error=("the outcome 'y' has the same value (4) in every row",)),
    Case("constant predictor", "constx.csv", lambda: csv("g,y,x\na,1,2\na,2,2\nb,3,2\n"),
         spec={"outcome": "y", "group": "g", "predictors": ("x",)},
         prepare_error=("the predictor 'x' has the same value (2) in every row", "remove it")),
    Case("perfectly separated binomial", "separated.csv", lambda: csv_of(pd.DataFrame(
        {"g": ["a", "b"] * 10, "x": [i - 9.5 for i in range(20)], "y": [int(i >= 10) for i in range(20)]})),
         spec={"outcome": "y", "group": "g", "predictors": ("x",), "family": "binomial"}, check=check_separated),
    Case("negative counts (poisson)", "negative.csv", lambda: csv("g,y\na,1\na,-2\nb,3\nb,0\n"),
         spec={"outcome": "y", "group": "g", "family": "poisson"},
         prepare_error=("the poisson outcome 'y' must hold counts",)),
    Case("successes above trials", "overtrials.csv", lambda: csv("g,y,n\na,1,3\na,4,3\nb,0,2\nb,2,3\n"),
         spec={"outcome": "y", "group": "g", "family": "binomial", "trials": "n"},
         prepare_error=("exceeds the trials 'n' in data row 2", "cannot outnumber")),
    Case("numbers too large to compute with", "huge.csv", lambda: csv("g,y\na,1e300\na,2\nb,3\nb,-4e200\n"),
         prepare_error=("too large to compute with", "data rows 1, 4", "rescale")),
    Case("categorical predictor with 60 levels", "levels.csv", lambda: csv_of(pd.DataFrame(
        {"g": ["a", "b"] * 60, "id": [f"p{i % 60}" for i in range(120)], "y": [i % 7 for i in range(120)]})),
         spec={"outcome": "y", "group": "g", "predictors": ("id",), "categorical": {"id": "p0"}},
         prepare_error=("60 terms", "more than the 50", "'id' (60 levels)", "merge rare levels")),
    Case("a single column", "single.csv", lambda: csv("y\n1\n2\n3\n"), spec={"outcome": "y", "group": "g"},
         prepare_error=("there is no column 'g'",),
         app_message=("needs at least one column of numbers (the outcome) and another column naming the groups",)),
    # -------------------------------------------------------------- labels
    Case("HTML, script and markdown labels", "hostile.csv",
         lambda: labels_file([SCRIPT, HTML, MD_LINK, MD_BOLD]),
         check=labels_are(SCRIPT, HTML, MD_LINK, MD_BOLD), hostile=(SCRIPT, HTML, MD_LINK, MD_BOLD)),
    Case("HTML and markdown in column names", "names.csv",
         lambda: csv(f'"{SCRIPT}","{MD_LINK}"\na,1\nb,2\na,3\n'),
         spec={"outcome": MD_LINK, "group": SCRIPT}, check=labels_are("a", "b"), hostile=(SCRIPT, MD_LINK)),
    Case("hostile file name", "<img src=x onerror=alert(1)>**x**.csv", lambda: csv(GOOD), check=check_plain,
         hostile=("<img src=x onerror=alert(1)>", "**x**")),
    Case("emoji labels", "emoji.csv", lambda: labels_file(["🐱", "👩‍👩‍👧", "東京", "ça"]),
         check=labels_are("🐱", "👩‍👩‍👧", "東京", "ça")),
    Case("10,000-character label", "long.csv", lambda: labels_file([LONG, "short"]),
         check=labels_are(LONG, "short")),
    Case("10,000-character label in a message", "longone.csv", lambda: labels_file([LONG]),
         prepare_error=("has a single group ('LLLL", "(10,000 characters)")),
    Case("leading zeros", "zeros.csv", lambda: labels_file(["01", "1", "001", "1.0"]),
         check=labels_are("01", "1", "001", "1.0")),
    Case("whitespace-only labels", "wslabels.csv", lambda: csv('g,y\n" a",1\n"  ",2\na,3\n" ",4\n"a ",5\n'),
         check=check_whitespace),
    Case("labels NA and null", "na.csv", lambda: labels_file(["NA", "null", "None", "NaN"]),
         check=labels_are("NA", "null", "None", "NaN")),
    Case("spreadsheet formulas in labels", "formulas.csv", lambda: labels_file(list(FORMULAS), repeat=1),
         check=check_formulas, hostile=FORMULAS[:1]),
    # -------------------------------------------------------------- Parquet and Excel
    Case("Parquet with a list column", "nested.parquet", lambda: parquet(pa.table(
        {"g": ["a", "b"], "y": [1.0, 2.0], "tags": [[1, 2], [3]]})),
         read_error=("'tags' (lists or records)", "flatten them")),
    Case("Parquet saved with its index", "indexed.parquet",
         lambda: parquet_of(pd.DataFrame({"g": ["a", "b", "a"], "y": [1.0, 2.0, 3.0]}).set_index("g")),
         check=check_index, notes=("the row index saved in the file was read as the column(s) 'g'",)),
    Case("Excel with two sheets", "two.xlsx", lambda: xlsx(("Data", EXCEL_ROWS), ("Notes", [["about"], ["x"]])),
         check=check_excel, notes=("only the first sheet, 'Data', was read", "'Notes'")),
    Case("Excel with a merged header", "merged.xlsx",
         lambda: xlsx(("Data", [["Group info", None, "Outcome"], ["g", "x", "y"], ["a", 1, 2.5]]), merge="A1:B1"),
         read_error=("column B has no name in the first row", "merged header cells")),
]


def test_the_corpus_has_at_least_40_cases_with_distinct_names():
    names = [case.name for case in CASES]
    assert len(names) >= 40
    assert len(set(names)) == len(names)


@cache
def content(name: str) -> bytes:
    return next(case for case in CASES if case.name == name).content()


# ---------------------------------------------------------------------------------------------------- core
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_core(case: Case):
    raw = content(case.name)
    if case.read_error:
        with pytest.raises(FileReadError) as caught:
            read_table(raw, case.filename)
        for words in case.read_error:
            assert words in str(caught.value)
        return
    frame = read_table(raw, case.filename)
    for words in case.notes:
        assert any(words in note for note in frame.attrs["notes"]), frame.attrs["notes"]
    if not case.notes:
        assert frame.attrs["notes"] == ()
    spec = ModelSpec(**case.spec)
    if case.prepare_error:
        with pytest.raises(DataError) as caught:
            prepare(frame, spec)
        assert any(all(words in problem for words in case.prepare_error) for problem in caught.value.problems), (
            caught.value.problems)
        assert all(len(problem) < 1_000 for problem in caught.value.problems)  # long labels are cut when shown
        return
    prepared = prepare(frame, spec)
    assert case.check is not None
    case.check(frame, prepared)


def test_read_errors_are_the_same_from_a_path_and_from_a_stream(tmp_path):
    for case in CASES:
        if case.read_error and case.name not in ("file above the size limit", "2,000,001 rows"):
            path = tmp_path / case.filename.replace("<", "_").replace(">", "_").replace("*", "_")
            path.write_bytes(content(case.name))
            with pytest.raises(FileReadError):
                read_table(path, case.filename)
            with pytest.raises(FileReadError):
                read_table(io.BytesIO(content(case.name)), case.filename)


# ---------------------------------------------------------------------------------------------------- limits
def test_upload_limit_equals_the_streamlit_setting():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] == limits.MAX_UPLOAD_MB == 50
    assert limits.max_upload_bytes() == 50 * 1024 * 1024  # Streamlit counts maxUploadSize in MiB too


def test_size_is_checked_before_a_file_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_bytes(b"g,y\n" + b"a,1\n" * 300_000)  # 1.1 MiB
    monkeypatch.setattr(limits, "MAX_UPLOAD_MB", 1)

    def never(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "read_bytes", never)
    with pytest.raises(FileReadError, match=r"'big.csv' is 1\.1 MB, above the limit of 1 MB"):
        read_table(path)
    stream = io.BytesIO(b"g,y\n" + b"a,1\n" * 300_000)
    with pytest.raises(FileReadError, match=re.escape("'data.csv' is larger than the limit of 1 MB")):
        read_table(stream)
    assert stream.tell() == 1024 * 1024 + 1  # a stream is read one byte past the limit, no further


@pytest.mark.parametrize(
    ("filename", "content"),
    [("rows.csv", lambda: csv("g,y\n" + "a,1\n" * 11)),
     ("rows.xlsx", lambda: xlsx(("Data", [["g", "y"], *[["a", 1]] * 11]))),
     ("rows.parquet", lambda: parquet_of(pd.DataFrame({"g": ["a"] * 11, "y": [1.0] * 11})))],
)
def test_row_limit_in_every_format(filename, content, monkeypatch):
    raw = content()
    monkeypatch.setattr(limits, "MAX_ROWS", 11)
    assert len(read_table(raw, filename)) == 11
    monkeypatch.setattr(limits, "MAX_ROWS", 10)
    with pytest.raises(FileReadError, match="more than 10 data rows"):
        read_table(raw, filename)


def test_row_limit_counts_rows_not_line_breaks(monkeypatch):
    """Blank lines and line breaks inside quotes are not rows: a file just under the limit is read."""
    monkeypatch.setattr(limits, "MAX_ROWS", 4)
    frame = read_table(csv('g,y\n"a\nb\nc",1\n\n\n\nb,2\nc,3\nd,4\n'), "data.csv")
    assert frame["g"].tolist() == ["a\nb\nc", "b", "c", "d"]


@pytest.mark.parametrize(
    ("filename", "content"),
    [("cols.csv", lambda: csv(",".join(f"c{i}" for i in range(11)) + "\n" + ",".join("1" * 11) + "\n")),
     ("cols.xlsx", lambda: xlsx(("Data", [[f"c{i}" for i in range(11)], [1] * 11]))),
     ("cols.parquet", lambda: parquet_of(pd.DataFrame({f"c{i}": [1.0] for i in range(11)})))],
)
def test_column_limit_in_every_format(filename, content, monkeypatch):
    raw = content()
    monkeypatch.setattr(limits, "MAX_COLUMNS", 10)
    with pytest.raises(FileReadError, match="has 11 columns, more than the 10"):
        read_table(raw, filename)


def test_prepare_enforces_rows_and_groups_on_a_frame_built_in_python(monkeypatch):
    frame = pd.DataFrame({"g": ["a", "b", "c", "d"], "y": [1.0, 2.0, 3.0, 4.0]})
    spec = ModelSpec(outcome="y", group="g")
    monkeypatch.setattr(limits, "MAX_GROUPS", 3)
    with pytest.raises(DataError, match="has 4 groups, more than the 3"):
        prepare(frame, spec)
    monkeypatch.setattr(limits, "MAX_ROWS", 3)
    with pytest.raises(DataError, match="the table has 4 rows, more than the 3 that can be modelled"):
        prepare(frame, spec)


def test_shown_cuts_only_what_is_shown():
    assert limits.shown("abc") == "'abc'"
    assert limits.shown(LONG) == repr("L" * limits.MAX_LABEL_LENGTH) + "… (10,000 characters)"


# ---------------------------------------------------------------------------------------------------- reading details
def test_a_quoted_line_break_near_a_block_boundary_is_read_exactly():
    """pandas' pyarrow engine cuts a quoted value that spans its 1 MB block boundary (without a sign); such
    files are read by the C engine, so every label is as written."""
    labels = [f"lab\nel {i}" if i % 3 == 1 else f"g{i}" for i in range(200_000)]
    frame = read_table(csv_of(pd.DataFrame({"g": labels, "y": range(200_000)})), "data.csv")
    assert frame["g"].tolist() == labels


def test_the_pyarrow_engine_reads_what_the_c_engine_reads():
    rows = [f'{"0" * (i % 3)}{i % 97},{i * 0.25},{"" if i % 11 == 0 else "NA" if i % 13 == 0 else "x y"}'
            for i in range(5_000)]
    raw = csv("g,y,z\n" + "\n".join(rows) + "\n")
    frame = read_table(raw, "data.csv")
    expected = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, na_values=[""], engine="c")
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    assert frame["g"].iloc[:3].tolist() == ["0", "01", "002"]


def test_latin1_is_refused_not_guessed():
    """No silent re-decoding: 'Zürich' in Latin-1 is an error naming the line, never a guessed label."""
    raw = "g,y\nBern,1\nZürich,2\n".encode("latin-1")
    with pytest.raises(FileReadError, match=r"line 3 has the byte 0xFC \('ü' in Windows-1252 or Latin-1"):
        read_table(raw, "data.csv")


def test_numeric_columns_are_the_same_after_a_quick_look():
    frame = pd.DataFrame({"num": [str(i) for i in range(3_000)],
                          "late_text": [str(i) for i in range(2_999)] + ["oops"],
                          "early_text": ["oops"] + [str(i) for i in range(2_999)],
                          "empty": [None] * 3_000}, dtype="str")
    assert numeric_columns(frame) == ["num"]


def test_odd_parquet_types_give_messages_not_tracebacks():
    frame = pd.DataFrame({
        "g": pd.Categorical(["a", "b", "a", "b"]),
        "y": pd.array([1, None, 3, 4], dtype="Int64"),
        "flag": pd.array([True, None, False, True], dtype="boolean"),
        "when": pd.to_datetime(["2024-01-01"] * 4),
    })
    read = read_table(parquet_of(frame), "odd.parquet")
    prepared = prepare(read, ModelSpec(outcome="y", group="g", predictors=("flag",)))
    assert prepared.group_labels == ("a", "b")
    assert prepared.y.tolist() == [1.0, 3.0, 4.0]  # the row with a missing y and flag is left out
    assert prepared.dropped == {"y": 1}
    assert numeric_columns(read) == ["y", "flag"]
    with pytest.raises(DataError, match="'when' should hold numbers"):
        prepare(read, ModelSpec(outcome="when", group="g"))


# ---------------------------------------------------------------------------------------------------- the app
def texts(at: AppTest, kind: str) -> list[str]:
    return [str(element.value) for element in getattr(at, kind)]


def markdown_like(at: AppTest) -> str:
    """Everything rendered through markdown (where user strings must never go)."""
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader"):
        parts += texts(at, kind)
    return "\n".join(parts)


def set_roles(at: AppTest, spec: dict) -> None:
    at.selectbox(key="w_outcome").set_value(spec["outcome"])
    at.selectbox(key="w_group").set_value(spec["group"])
    at.selectbox(key="w_family").set_value(spec.get("family", "gaussian"))
    at.run()
    at.multiselect(key="w_predictors").set_value(list(spec.get("predictors", ())))
    if "trials" in spec:
        at.selectbox(key="w_trials").set_value(spec["trials"])
    at.run()
    for predictor, reference in spec.get("categorical", {}).items():
        at.selectbox(key=f"w_ref_{predictor}").set_value(reference)
    if spec.get("categorical"):
        at.run()


@pytest.mark.parametrize("case", [case for case in CASES if case.in_app], ids=lambda case: case.name)
def test_app(case: Case):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.file_uploader[0].set_value((case.filename, content(case.name), "text/csv"))
    at.run()
    assert not at.exception
    shown = "\n".join(texts(at, "text"))
    if case.read_error or case.app_message:
        assert "That file could not be used." in texts(at, "error")
        for words in case.read_error or case.app_message:
            assert words in shown
    else:
        set_roles(at, case.spec)
        assert not at.exception
        shown = "\n".join(texts(at, "text"))
        if case.prepare_error:
            assert any("with these data" in e for e in texts(at, "error"))
            assert all(words in shown for words in case.prepare_error)
        else:
            assert any("ready to fit" in s for s in texts(at, "success"))
            prepared = prepare(read_table(content(case.name), case.filename), ModelSpec(**case.spec))
            assert f"Ready: {prepared.n_rows:,} rows in {prepared.n_groups:,} groups." in shown
        for words in case.notes:
            assert words in shown
    for hostile in case.hostile:
        assert hostile not in markdown_like(at)
    # The session stays usable.
    at.selectbox(key="sample_choice").set_value("Eight schools").run()
    assert not at.exception
    assert any("ready to fit" in s for s in texts(at, "success"))
    assert any("8 rows in 8 groups" in t for t in texts(at, "text"))
