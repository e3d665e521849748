"""Reading tables, with every problem reported at once.

:func:`read_table` reads CSV, TSV, Parquet or Excel. Delimited text and Excel are read **as text**, so that a
group label is kept exactly as written (``01`` and ``1`` stay two groups) and nothing is converted behind the
user's back; numbers are parsed later, column by column, by :func:`prepare`, which says which rows hold text
that is not a number instead of guessing.

Bad files get a :class:`~hiermodels.errors.FileReadError` saying what is wrong and how to fix it, never a
traceback, and nothing is changed silently:

- the size is checked before anything is parsed, then columns and rows (the limits are in
  :mod:`hiermodels.limits`);
- files of another kind under a table's name (an image, a PDF, a ZIP, a workbook or Parquet file renamed .csv)
  are recognised by their first bytes and named;
- text must be UTF-8 (with or without a byte-order mark) or UTF-16/32 with one. Other encodings are refused with
  the line and byte where decoding failed, never guessed: a wrong guess garbles labels without a sign;
- the header is taken as written: a name used twice, or a column without a name that holds data, is an error
  (pandas would rename them ``y.1`` and ``Unnamed: 0``); a column with neither name nor values (a trailing
  delimiter) is left out, with a note;
- a line with more or fewer fields than the header is an error naming the line (the values would shift into
  the wrong columns), as is a quote that never closes;
- whatever was read differently from the file as it stands is said in ``frame.attrs["notes"]`` (only the first
  sheet of a workbook, an index saved in a Parquet file, an empty unnamed column left out).

Delimited text is parsed by pandas' pyarrow engine (multithreaded, straight from the bytes), except files with a
line break inside a quoted value: the pyarrow engine splits the file into blocks at line breaks, and pandas does
not pass pyarrow's ``newlines_in_values``, so a quoted value spanning a block boundary would be silently cut.
Those files go through the C engine.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hiermodels import limits
from hiermodels.errors import FileReadError

# Cells that mean "missing" in a numeric column (R writes NA, pandas NaN, databases NULL).
MISSING_MARKERS = frozenset({"", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "-", "."})


TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".parquet", ".pq", ".xlsx")


# How many offending rows a message lists before it says "and N more".
_ROWS_SHOWN = 5


# Rows looked at first when deciding whether a column holds numbers.
_QUICK_LOOK = 1000


# Text that is a number written with a comma: a decimal comma (1,5; 1.234,5) or thousands separators (1,234.5).
_COMMA_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d{3})*,\d+|\d{1,3}(,\d{3})+(\.\d+)?)\s*$")


def read_table(source: str | Path | bytes | BinaryIO, filename: str | None = None) -> pd.DataFrame:
    """Read a table from a path, bytes or a binary file object; ``filename`` gives the format by its suffix.

    Text formats are read with every column as text (see the module docstring). Nothing is executed or
    unpickled: CSV/TSV go through pandas' parser, Parquet through pyarrow, Excel through openpyxl.

    The size is checked before anything is parsed, then the columns and rows (:mod:`hiermodels.limits`). The
    header is checked as written: a duplicated name or a nameless column holding data is an error, never renamed.
    Whatever was read differently from the file as it stands is said in ``frame.attrs["notes"]`` (a tuple of
    sentences; empty when the table is the file).
    """
    raw, name = _read_bytes(source, filename)
    suffix = Path(name).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise FileReadError(
            f"{_shown(name)} has an unknown file type; use one of {', '.join(TABLE_SUFFIXES)} "
            "(CSV, TSV, Parquet, Excel)"
        )
    if not raw:
        raise FileReadError(f"{_shown(name)} is empty: choose a file with a header row and at least one data row")
    kind = {".parquet": "Parquet", ".pq": "Parquet", ".xlsx": "Excel"}.get(suffix, "delimited text")
    notes: list[str] = []
    try:
        if kind == "Parquet":
            frame = _read_parquet(raw, name, notes)
        elif kind == "Excel":
            frame = _read_excel(raw, name, notes)
        else:
            frame = _read_delimited(raw, name, "\t" if suffix in (".tsv", ".tab") else None, notes)
    except FileReadError:
        raise
    except Exception as error:  # the parsers raise many types; the user needs one message
        raise FileReadError(
            f"could not read {_shown(name)} as {kind}: {_first_line(error)}. Check that the file really is {kind}"
        ) from None
    if frame.shape[1] == 0 or frame.empty:
        raise FileReadError(
            f"{_shown(name)} has no data rows: it needs a header row and at least one data row"
        )
    _check_rows(len(frame), name)
    frame.attrs["notes"] = tuple(notes)
    return frame


def _shown(text: object) -> str:
    return limits.shown(text)


def _short(text: object) -> str:
    """``text`` cut for a message, without quotes."""
    value = str(text)
    return value if len(value) <= limits.MAX_LABEL_LENGTH else value[: limits.MAX_LABEL_LENGTH] + "…"


def _read_bytes(source: str | Path | bytes | BinaryIO, filename: str | None) -> tuple[bytes, str]:
    """The file's bytes, refusing before reading anything above ``limits.MAX_UPLOAD_MB``."""
    cap = limits.max_upload_bytes()
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = filename or path.name
        if not path.is_file():
            raise FileReadError(f"no file at {str(path)!r}: check the path")
        size = path.stat().st_size
        if size > cap:
            raise _too_big(name, size)
        return path.read_bytes(), name
    name = filename or "data.csv"
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
        if len(raw) > cap:
            raise _too_big(name, len(raw))
        return raw, name
    raw = source.read(cap + 1)  # a stream's size is unknown: read at most one byte past the limit
    if len(raw) > cap:
        raise _too_big(name, None)
    return raw, name


def _too_big(name: str, size: int | None) -> FileReadError:
    megabytes = f"{(size or 0) / 2**20:,.1f}"
    how_big = "is larger than" if float(megabytes) <= limits.MAX_UPLOAD_MB else f"is {megabytes} MB, above"
    return FileReadError(
        f"{_shown(name)} {how_big} the limit of {limits.MAX_UPLOAD_MB} MB: keep only the columns the model needs, "
        "aggregate or sample the rows, or save it as Parquet (much smaller than CSV)"
    )


def _check_rows(rows: int, name: str) -> None:
    if rows > limits.MAX_ROWS:
        raise FileReadError(
            f"{_shown(name)} has more than {limits.MAX_ROWS:,} data rows, the most that can be read: aggregate or "
            "sample the rows (for example a random sample of groups, or one row per group and predictor value "
            "with the mean outcome), or keep a subset of the groups"
        )


def _check_columns(columns: int, name: str) -> None:
    if columns > limits.MAX_COLUMNS:
        raise FileReadError(
            f"{_shown(name)} has {columns:,} columns, more than the {limits.MAX_COLUMNS:,} that can be read: keep "
            "only the columns the model needs (outcome, group, predictors). If each group is a column, the table "
            "is 'wide': reshape it to one row per observation (a 'long' table, e.g. pandas.melt or tidyr's "
            "pivot_longer)"
        )


# File signatures (the first bytes) of formats people upload by mistake.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PAR1", "a Parquet file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Office file (.xls or .doc)"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
)


_EXCEL = "an Excel workbook"


_PARQUET = "a Parquet file"


def _sniff(raw: bytes) -> str | None:
    """What a binary file is, from its first bytes (None for anything else, text included)."""
    for signature, description in _SIGNATURES:
        if raw.startswith(signature):
            return description
    if raw.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:  # lists the members; nothing is extracted
                members = set(archive.namelist())
                kind = archive.read("mimetype")[:100] if "mimetype" in members else b""
        except (zipfile.BadZipFile, OSError, KeyError, RuntimeError):
            return "a ZIP archive"
        if "xl/workbook.xml" in members:
            return _EXCEL
        if "word/document.xml" in members:
            return "a Word document"
        if b"opendocument.spreadsheet" in kind:
            return "an OpenDocument spreadsheet (.ods)"
        return "a ZIP archive"
    return None


def _not_a_table(name: str, found: str, suffix_kind: str) -> FileReadError:
    if found == _EXCEL:
        fix = "give it the .xlsx extension, or save it from Excel as 'CSV UTF-8'"
    elif found == _PARQUET:
        fix = "give it the .parquet extension"
    elif "spreadsheet" in found or "Office" in found:
        fix = "save it from your spreadsheet as .xlsx or as 'CSV UTF-8'"
    else:
        fix = "upload the table itself, saved as CSV (UTF-8), TSV, Parquet or Excel (.xlsx)"
    if suffix_kind == "delimited text":
        return FileReadError(f"{_shown(name)} is {found}, not a table saved as text: {fix}")
    return FileReadError(f"could not read {_shown(name)} as {suffix_kind}: it is {found}: {fix}")


_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


_QUOTED = re.compile(r'"[^"]*"')


_NOT_SPACE = re.compile(r"\S")


_CHUNK = 8 * 2**20  # bytes looked at at once when looking for quoted line breaks


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their endings (any of \\n, \\r\\n, \\r), lazily."""
    for match in _LINE.finditer(text):
        yield match.group()


def _read_delimited(raw: bytes, name: str, sep: str | None, notes: list[str]) -> pd.DataFrame:
    """CSV/TSV as text. pandas' pyarrow engine reads it (fast, multithreaded, no intermediate copies); the C
    engine reads files with a line break inside a quoted value, which the pyarrow engine cannot split into blocks
    safely (pandas does not expose pyarrow's ``newlines_in_values``, and without it a value that spans a block
    boundary is silently cut). Ragged lines are an error naming the line in both cases."""
    found = _sniff(raw)
    if found is not None:
        raise _not_a_table(name, found, "delimited text")
    data, text = _decode(raw, name)
    if _NOT_SPACE.search(text) is None:  # (text.strip() would copy the whole text)
        raise FileReadError(
            f"could not read {_shown(name)} as delimited text: it holds only empty lines; choose a file with a "
            "header row and at least one data row"
        )
    first_line = next(line for line in _lines(text) if line.strip())
    if sep is None:
        # The delimiter the header uses most outside quotes; commas when it has none of them.
        unquoted = _QUOTED.sub("", first_line)
        sep = max(_DELIMITERS, key=unquoted.count) if any(d in unquoted for d in _DELIMITERS) else ","
    header = _header(text, sep, name)
    _check_columns(len(header), name)
    _check_header_duplicates(header, name, excel=False)

    newlines = data.count(b"\n") or data.count(b"\r")
    if newlines > limits.MAX_ROWS:
        # Possibly too many rows (a line break is at most one row): count up to one past the limit, one column.
        counted = pd.read_csv(io.BytesIO(data), sep=sep, usecols=[0], nrows=limits.MAX_ROWS + 1, dtype=str,
                              keep_default_na=False, on_bad_lines="skip", engine="c")
        _check_rows(len(counted), name)

    # Only empty cells are missing at read time: "NA" may be a group (North America). Numeric columns treat the
    # usual missing-value markers as missing when they are parsed (``MISSING_MARKERS``).
    options = {"sep": sep, "dtype": str, "keep_default_na": False, "na_values": [""]}
    if _has_quoted_line_break(data):
        problem = _line_problem(text, sep, len(header), name)
        if problem:
            raise FileReadError(problem)
        frame = pd.read_csv(io.BytesIO(data), engine="c", **options)
    else:
        try:
            frame = pd.read_csv(io.BytesIO(data), engine="pyarrow", **options)
        except Exception as error:
            problem = _line_problem(text, sep, len(header), name)
            raise FileReadError(
                problem or f"could not read {_shown(name)} as delimited text: {_first_line(error)}"
            ) from None
    return _name_columns(frame, header, name, notes, excel=False)


def _decode(raw: bytes, name: str) -> tuple[bytes, str]:
    """The file as UTF-8 bytes without a byte-order mark, and as text. UTF-8 (with or without a BOM), and
    UTF-16/UTF-32 with a BOM, are read; anything else is an error saying how to save the file, never a guess
    at the encoding (a wrong guess garbles labels without a sign)."""
    for bom, codec in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                       (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if raw.startswith(bom):
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError:
                raise FileReadError(
                    f"{_shown(name)} starts like {codec.upper()} text but is not valid {codec.upper()}; save it "
                    "from your spreadsheet as 'CSV UTF-8' and upload again"
                ) from None
            return text.encode("utf-8"), text
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    if b"\x00" in body:
        half = max(len(body) // 2, 1)
        if max(body[0::2].count(0), body[1::2].count(0)) > 0.4 * half:  # every other byte NUL
            what = "looks like UTF-16 text without a byte-order mark"
        else:
            what = "is not a text file (it holds NUL bytes, which text never has)"
        raise FileReadError(
            f"{_shown(name)} {what}: upload a table saved as 'CSV UTF-8', TSV, Parquet or Excel (.xlsx)"
        )
    try:
        return body, body.decode("utf-8")
    except UnicodeDecodeError as error:
        line = body.count(b"\n", 0, error.start) + 1
        byte = body[error.start]
        guess = bytes([byte]).decode("cp1252", errors="replace")
        raise FileReadError(
            f"{_shown(name)} is not UTF-8 text: line {line} has the byte 0x{byte:02X} ({guess!r} in Windows-1252 "
            "or Latin-1, so the file was probably saved in one of those); save it from your spreadsheet as "
            "'CSV UTF-8' and upload again"
        ) from None


def _header(text: str, sep: str, name: str) -> list[str]:
    """The header record as written (quotes removed, nothing renamed)."""
    reader = csv.reader(_lines(text), delimiter=sep, quotechar='"')
    try:
        for record in reader:
            if record:
                return record
    except csv.Error as error:
        why = (f"a name is longer than {csv.field_size_limit():,} characters, most likely because a quote (\") "
               "opens it and never closes" if "field limit" in str(error) else str(error))
        raise FileReadError(f"could not read the header of {_shown(name)}: {why}") from None
    raise FileReadError(f"{_shown(name)} has no header row")


def _has_quoted_line_break(data: bytes) -> bool:
    """Whether a line break falls inside quotes (a quoted value spanning lines), i.e. after an odd number of
    quote characters. Exact for well-formed CSV; a stray quote in an unquoted value also counts (the C engine
    then reads the file, which is always safe). Works through the bytes in chunks, in bounded memory."""
    if b'"' not in data:
        return False
    array = np.frombuffer(data, dtype=np.uint8)
    parity_before = 0
    for start in range(0, len(array), _CHUNK):
        chunk = array[start : start + _CHUNK]
        parity = np.bitwise_xor.accumulate((chunk == ord('"')).view(np.uint8)) ^ parity_before
        breaks = (chunk == ord("\n")) | (chunk == ord("\r"))
        if np.any(breaks & parity.view(bool)):
            return True
        parity_before = int(parity[-1])
    return False


def _line_problem(text: str, sep: str, fields: int, name: str) -> str | None:
    """The first lines whose number of fields differs from the header's, or a quote that never closes, as a
    message naming the lines; None when every line is fine."""
    reader = csv.reader(_lines(text), delimiter=sep, quotechar='"')
    bad: list[tuple[int, int]] = []
    spaces_only = False  # the first bad line holds nothing but spaces
    start = 1
    header_seen = False
    last: tuple[int, list[str]] = (0, [])
    try:
        for record in reader:
            if record:
                last = (start, record)
                if not header_seen:
                    header_seen = True
                elif len(record) != fields:
                    spaces_only = spaces_only or (not bad and not "".join(record).strip())
                    bad.append((start, len(record)))
                    if len(bad) > _ROWS_SHOWN:
                        break
            start = reader.line_num + 1
    except csv.Error as error:
        if "field limit" in str(error):
            return (
                f"could not read {_shown(name)} as delimited text: a value starting on line {start} is longer than "
                f"{csv.field_size_limit():,} characters, most likely because a quote (\") opens it and never "
                "closes: close the quote, or remove it"
            )
        return f"could not read {_shown(name)} as delimited text: line {start}: {error}"
    if text.count('"') % 2 and any("\n" in f or "\r" in f for f in last[1]):
        return (
            f"could not read {_shown(name)} as delimited text: line {last[0]} opens a quoted value (\") that is "
            "never closed, so the rest of the file would be one value: close the quote, or remove it"
        )
    if not bad:
        return None
    separator = _DELIMITERS.get(sep, repr(sep))
    line, count = bad[0]
    more = [str(n) for n, _ in bad[1:_ROWS_SHOWN]]
    also = f" (also line{'s' if len(more) > 1 else ''} {', '.join(more)}"
    also += " and more)" if len(bad) > _ROWS_SHOWN else ")"
    message = (
        f"could not read {_shown(name)} as delimited text: line {line} has {count} field{'s' if count != 1 else ''}"
        f", but the header has {fields}{also if more else ''}. Every line needs one field per column, or the "
        f"values would shift into the wrong columns: put values that contain a {separator} in double quotes, and "
        f"keep the {separator} of an empty cell"
    )
    if spaces_only:
        message += f"; line {line} holds only spaces: delete it"
    if fields == 1:
        message += "; if the table starts below a title, delete the lines above its header"
    return message


def _column_label(index: int, excel: bool) -> str:
    if not excel:
        return f"column {index + 1}"
    from openpyxl.utils import get_column_letter  # here, not at the top: only Excel files need openpyxl (0.2 s)

    return f"column {get_column_letter(index + 1)}"


def _check_header_duplicates(header: Sequence[str], name: str, *, excel: bool) -> None:
    positions: dict[str, list[int]] = {}
    for index, column in enumerate(header):
        if str(column).strip():
            positions.setdefault(str(column), []).append(index)
    repeated = {column: where for column, where in positions.items() if len(where) > 1}
    if repeated:
        listed = "; ".join(
            f"{_shown(column)} ({', '.join(_column_label(i, excel) for i in where)})"
            for column, where in list(repeated.items())[:_ROWS_SHOWN]
        )
        raise FileReadError(
            f"the header of {_shown(name)} names more than one column the same: {listed}. Rename them so that "
            "every column name is unique, and upload again"
        )


def _name_columns(frame: pd.DataFrame, header: Sequence[str], name: str, notes: list[str], *,
                  excel: bool) -> pd.DataFrame:
    """Give the parsed columns their names as written in the header (by position), leave out columns with
    neither a name nor a value (trailing delimiters, formatted empty spreadsheet columns, with a note), and
    refuse a nameless column that holds data."""
    if frame.shape[1] != len(header):
        raise FileReadError(
            f"could not read {_shown(name)}: the header has {len(header)} names but {frame.shape[1]} columns were "
            "read; check that every line has one field per column"
        )
    frame.columns = [str(c) for c in header]
    blank = [i for i, column in enumerate(frame.columns) if not column.strip()]
    if not blank:
        return frame
    empty = [i for i in blank if frame.iloc[:, i].isna().all()]
    named_data = [i for i in blank if i not in empty]
    if named_data:
        listed = ", ".join(_column_label(i, excel) for i in named_data[:_ROWS_SHOWN])
        where = "the first row of the first sheet" if excel else "the header row"
        numbers = [i for i in named_data if is_row_number_sequence(frame.iloc[:, i])]
        if numbers:
            head = _numbers(frame.iloc[:3, numbers[0]])
            assert head is not None, "is_row_number_sequence read this column as numbers"
            first = int(head[0])
            row_numbers = (
                f"; {_column_label(numbers[0], excel)} holds the row numbers {first}, {first + 1}, {first + 2}, … "
                "that R's write.csv and pandas' to_csv add by default: delete it, or save the table without them "
                "(row.names = FALSE in R, index=False in pandas)"
            )
        else:
            row_numbers = "; a column of row numbers can be deleted"
        raise FileReadError(
            f"{_shown(name)}: {listed} {'has' if len(named_data) == 1 else 'have'} no name in {where} "
            "(it is empty or only spaces) but holds data. Give every column a name"
            + (" (merged header cells count as empty: unmerge them)" if excel else "")
            + row_numbers
        )
    listed = ", ".join(_column_label(i, excel) for i in empty[:_ROWS_SHOWN])
    notes.append(f"left out {len(empty)} empty column{'s' if len(empty) > 1 else ''} without a name ({listed})")
    return frame.drop(columns=frame.columns[empty])


def _read_excel(raw: bytes, name: str, notes: list[str]) -> pd.DataFrame:
    found = _sniff(raw)
    if found != _EXCEL:
        if found is None:
            found = "text (CSV? then give it the .csv extension)" if _looks_like_text(raw) else "not a workbook"
            raise FileReadError(f"could not read {_shown(name)} as Excel: it is {found}")
        raise _not_a_table(name, found, "Excel")
    with pd.ExcelFile(io.BytesIO(raw), engine="openpyxl") as book:
        sheets = book.sheet_names
        first = book.book.worksheets[0]
        # The sheet's recorded dimensions, checked before reading every cell.
        _check_columns(first.max_column or 0, name)
        _check_rows(max((first.max_row or 0) - 1, 0), name)
        cells = pd.read_excel(book, sheet_name=0, header=None, dtype=str)
    if len(sheets) > 1:
        others = ", ".join(_shown(s) for s in sheets[1:_ROWS_SHOWN + 1])
        notes.append(
            f"only the first sheet, {_shown(sheets[0])}, was read; the workbook also has {others}"
            + (" and more" if len(sheets) > _ROWS_SHOWN + 1 else "")
            + ": if the table is on another sheet, move it to the first"
        )
    if cells.empty:
        return cells
    header = ["" if pd.isna(v) else str(v) for v in cells.iloc[0]]
    _check_columns(len(header), name)
    _check_header_duplicates(header, name, excel=True)
    frame = cells.iloc[1:].reset_index(drop=True)
    return _name_columns(frame, header, name, notes, excel=True)


def _read_parquet(raw: bytes, name: str, notes: list[str]) -> pd.DataFrame:
    found = _sniff(raw)
    if found != _PARQUET:
        if found is None:
            found = "text (CSV? then give it the .csv extension)" if _looks_like_text(raw) else "not Parquet"
            raise FileReadError(f"could not read {_shown(name)} as Parquet: it is {found}")
        raise _not_a_table(name, found, "Parquet")
    parquet = pq.ParquetFile(pa.BufferReader(raw))
    schema = parquet.schema_arrow
    _check_columns(len(schema.names), name)
    _check_rows(parquet.metadata.num_rows, name)
    _check_header_duplicates(schema.names, name, excel=False)
    unusable = [
        (field.name, "lists or records" if pa.types.is_nested(field.type) else "binary values")
        for field in schema
        if pa.types.is_nested(field.type) or pa.types.is_binary(field.type)
        or pa.types.is_large_binary(field.type) or pa.types.is_fixed_size_binary(field.type)
    ]
    if unusable:
        listed = ", ".join(f"{_shown(column)} ({what})" for column, what in unusable[:_ROWS_SHOWN])
        raise FileReadError(
            f"{_shown(name)} has columns that do not hold one number or text per cell: {listed}. Remove them, or "
            "flatten them into plain columns (one value per cell), and save the file again"
        )
    frame = parquet.read().to_pandas()
    if not isinstance(frame.index, pd.RangeIndex):
        # A table saved with its index (pandas' to_parquet): the index holds data, often the group.
        index_names = [str(n) if n is not None else "index" for n in frame.index.names]
        frame = frame.reset_index()
        notes.append(f"the row index saved in the file was read as the column(s) {', '.join(map(_shown, index_names))}")
    header = [str(c) for c in frame.columns]
    _check_header_duplicates(header, name, excel=False)
    return _name_columns(frame, header, name, notes, excel=False)


def _looks_like_text(raw: bytes) -> bool:
    head = raw[:4096]
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start > len(head) - 4  # a character cut at the end of the sample
    return True


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _to_numbers(series: pd.Series, column: str) -> tuple[pd.Series, list[str]]:
    """Parse a column as numbers; report (not coerce) every cell that is text, and infinite values."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    if pd.api.types.is_bool_dtype(series):
        series = pd.Series(series.to_numpy(dtype=float, na_value=np.nan), index=series.index)
    elif pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(series):
        series = series.astype(str).where(series.notna())  # dates are not numbers: reported as text
    fast = _arrow_numbers(series)
    if fast is not None:
        return fast, _infinite_problems(fast, column)
    try:
        values = pd.to_numeric(series, errors="coerce")
    except (TypeError, ValueError):  # cells that are neither text nor numbers (lists, records): shown as text
        series = series.astype(str).where(series.notna())
        values = pd.to_numeric(series, errors="coerce")
    bad_text = values.isna().to_numpy() & series.notna().to_numpy()
    if bad_text.any():
        # Blank cells and missing-value markers are missing, not text.
        candidates = np.flatnonzero(bad_text)
        marker = series.iloc[candidates].astype(str).str.strip().isin(MISSING_MARKERS).to_numpy()
        bad_text[candidates[marker]] = False
    problems = []
    if bad_text.any():
        rows = np.flatnonzero(bad_text)
        bad_values = [str(v) for v in pd.unique(series.iloc[rows[:_QUICK_LOOK]])]  # enough for examples and a hint
        examples = ", ".join(_shown(v) for v in bad_values[:3])
        found = (f"the column {_shown(column)} should hold numbers, but {_rows(rows)} "
                 f"{_verb(rows, 'holds', 'hold')} text")
        if all(_COMMA_NUMBER.match(v) for v in bad_values):
            problems.append(
                f"{found} ({examples}): numbers written with a comma, as a decimal comma (1,5 for 1.5) or a "
                "thousands separator (1,234); save the file with a decimal point and no thousands separators, or "
                "fix those cells"
            )
        else:
            problems.append(
                f"{found} ({examples}); fix those cells (a decimal comma? a unit? a note?) or choose another column"
            )
    return values, problems + _infinite_problems(values, column)


def _arrow_numbers(series: pd.Series) -> pd.Series | None:
    """A text column read by pyarrow, parsed by pyarrow when every cell is a number or empty (about 8 times
    faster than ``pd.to_numeric``, and the same numbers); None when a cell is not, so that the general path
    finds and reports those cells."""
    if not isinstance(series.array, pd.arrays.ArrowStringArray):
        return None
    try:
        parsed = pc.cast(pa.array(series.array), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return pd.Series(parsed.to_numpy(zero_copy_only=False), index=series.index, name=series.name)


def _infinite_problems(values: pd.Series, column: str) -> list[str]:
    infinite = np.flatnonzero(np.isinf(values.to_numpy(dtype=float, na_value=np.nan)))
    if not infinite.size:
        return []
    return [
        f"the column {_shown(column)} has infinite values in {_rows(infinite)}; "
        "replace them with real numbers or leave the cells empty"
    ]


def _verb(rows: np.ndarray, singular: str, plural: str) -> str:
    return singular if len(rows) == 1 else plural


def _rows(indices: np.ndarray) -> str:
    """'data rows 3, 8 and 12' (1-based positions among the rows used)."""
    shown = [str(i + 1) for i in indices[:_ROWS_SHOWN]]
    more = len(indices) - len(shown)
    word = "data row" if len(indices) == 1 else "data rows"
    listed = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    return f"{word} {listed}"


def _list(values: Sequence[str]) -> str:
    shown = [_shown(v) for v in list(values)[:8]]
    more = len(values) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


# A row-number sequence must be at least this long to be recognised by its values alone.
_MIN_SEQUENCE = 3


def _numbers(series: pd.Series) -> np.ndarray | None:
    """The column as floats (NaN where a cell is missing), or None when a cell is text or infinite."""
    values, problems = _to_numbers(series, str(series.name))
    return None if problems else values.to_numpy(dtype=float, na_value=np.nan)


def _all_whole(values: np.ndarray) -> bool:
    """Every value present is a whole number (and at least one is present)."""
    present = values[~np.isnan(values)]
    return bool(present.size) and bool(np.all(present == np.round(present)))


def is_row_number_sequence(series: pd.Series) -> bool:
    """Whether a column holds 1, 2, ..., n or 0, 1, ..., n-1 in row order (row numbers, saved as a column).

    The first cells are looked at before the whole column is parsed, so other columns cost almost nothing."""
    n = len(series)
    if n < _MIN_SEQUENCE:
        return False
    head = _numbers(series.iloc[:_MIN_SEQUENCE])
    if head is None or head[0] not in (0.0, 1.0) or not np.array_equal(head, head[0] + np.arange(_MIN_SEQUENCE)):
        return False
    values = _numbers(series)
    return values is not None and np.array_equal(values, values[0] + np.arange(n))
