"""Reading tables and turning them into model-ready arrays, with every problem reported at once.

:func:`read_table` reads CSV, TSV, Parquet or Excel. Delimited text and Excel are read **as text**, so that a
group label is kept exactly as written (``01`` and ``1`` stay two groups) and nothing is converted behind the
user's back; numbers are parsed later, column by column, by :func:`prepare`, which says which rows hold text
that is not a number instead of guessing.

:func:`prepare` checks a table against a :class:`~hiermodels.spec.ModelSpec` and returns a
:class:`PreparedData`: the outcome ``y``, the design matrix ``X`` (one column per term, the first being the
intercept's column of ones), the group index of every row and the labels of the groups. Rows with a missing
value in a used column are left out **and counted** (``PreparedData.dropped``); every other problem (a missing
column, text in a numeric column, infinite values, a single group, a constant predictor, a family constraint) is
collected, and all of them are raised together as one :class:`~hiermodels.errors.DataError`.
"""

from __future__ import annotations

import difflib
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from hiermodels.errors import DataError, FileReadError
from hiermodels.spec import INTERCEPT, ModelSpec

# Cells that mean "missing" in a numeric column (R writes NA, pandas NaN, databases NULL).
MISSING_MARKERS = frozenset({"", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "-", "."})
TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".parquet", ".pq", ".xlsx")
# How many offending rows a message lists before it says "and N more".
_ROWS_SHOWN = 5


# ---------------------------------------------------------------------------------------------------- reading
def read_table(source: str | Path | bytes | BinaryIO, filename: str | None = None) -> pd.DataFrame:
    """Read a table from a path, bytes or a binary file object; ``filename`` gives the format by its suffix.

    Text formats are read with every column as text (see the module docstring). Nothing is executed or
    unpickled: CSV/TSV go through pandas' parser, Parquet through pyarrow, Excel through openpyxl.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        filename = filename or path.name
        if not path.is_file():
            raise FileReadError(f"no file at {str(path)!r}: check the path")
        raw: bytes = path.read_bytes()
    elif isinstance(source, bytes):
        raw = source
    else:
        raw = source.read()
    name = filename or "data.csv"
    suffix = Path(name).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise FileReadError(
            f"{name!r} has an unknown file type; use one of {', '.join(TABLE_SUFFIXES)} (CSV, TSV, Parquet, Excel)"
        )
    if not raw:
        raise FileReadError(f"{name!r} is empty: choose a file with a header row and at least one data row")
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(io.BytesIO(raw), engine="pyarrow")
        elif suffix == ".xlsx":
            frame = pd.read_excel(io.BytesIO(raw), dtype=str, engine="openpyxl")
        else:
            frame = _read_delimited(raw, name, sep="\t" if suffix in (".tsv", ".tab") else None)
    except FileReadError:
        raise
    except Exception as error:  # the parsers raise many types; the user needs one message
        kind = {".parquet": "Parquet", ".pq": "Parquet", ".xlsx": "Excel"}.get(suffix, "delimited text")
        raise FileReadError(
            f"could not read {name!r} as {kind}: {_first_line(error)}. Check that the file really is {kind}"
        ) from None
    frame.columns = [str(c) for c in frame.columns]
    if frame.shape[1] == 0 or frame.empty:
        raise FileReadError(f"{name!r} has no data rows: it needs a header row and at least one data row")
    return frame


def _read_delimited(raw: bytes, name: str, sep: str | None) -> pd.DataFrame:
    text = _decode(raw, name)
    if sep is None:
        first_line = text.split("\n", 1)[0]
        # Pick the delimiter that the header uses most; commas when the header has none of them.
        sep = max((",", ";", "\t", "|"), key=first_line.count) if any(d in first_line for d in ",;\t|") else ","
    # Only empty cells are missing at read time: "NA" may be a group (North America). Numeric columns treat the
    # usual missing-value markers as missing when they are parsed (``MISSING_MARKERS``).
    return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""])


def _decode(raw: bytes, name: str) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileReadError(
            f"{name!r} is not UTF-8 text (or is not a text file at all); "
            "save it from your spreadsheet as 'CSV UTF-8' and upload again"
        ) from None


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# ---------------------------------------------------------------------------------------------------- preparing
@dataclass(frozen=True, eq=False)
class PreparedData:
    """Model-ready arrays.

    ``X[:, k]`` is term ``terms[k]``; row ``i`` belongs to group ``group_labels[group_index[i]]``.
    """

    y: np.ndarray
    X: np.ndarray
    terms: tuple[str, ...]
    group_index: np.ndarray
    group_labels: tuple[str, ...]
    trials: np.ndarray | None = None
    exposure: np.ndarray | None = None
    se: np.ndarray | None = None
    # Varying predictor -> the terms it contributes (a categorical predictor contributes one per level).
    predictor_terms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rows_read: int = 0
    # Column -> number of rows left out because that column was missing there (a row is counted once, under
    # the first used column where it is missing).
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_groups(self) -> int:
        return len(self.group_labels)

    @property
    def group_sizes(self) -> np.ndarray:
        return np.bincount(self.group_index, minlength=self.n_groups)

    @property
    def rows_dropped(self) -> int:
        return int(sum(self.dropped.values()))

    def terms_of(self, varying: Sequence[str]) -> tuple[str, ...]:
        """The design-matrix terms behind a list of varying terms (``intercept`` and predictor names)."""
        out: list[str] = []
        for name in varying:
            out.extend((INTERCEPT,) if name == INTERCEPT else self.predictor_terms[name])
        return tuple(out)

    def fingerprint(self) -> str:
        """A hash of everything a fit depends on, to key caches: equal data give equal fingerprints."""
        digest = hashlib.sha256()
        for array in (self.y, self.X, self.group_index, self.trials, self.exposure, self.se):
            if array is not None:
                digest.update(np.ascontiguousarray(array).tobytes())
            digest.update(b"|")
        digest.update("\x1f".join(self.terms).encode())
        digest.update("\x1f".join(self.group_labels).encode())
        return digest.hexdigest()[:16]


def prepare(frame: pd.DataFrame, spec: ModelSpec) -> PreparedData:
    """Check ``frame`` against ``spec`` and build the arrays; raise :class:`DataError` listing every problem."""
    problems: list[str] = []
    columns = [str(c) for c in frame.columns]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        problems.append(
            f"the file has more than one column named {', '.join(map(repr, duplicated))}; rename them so that "
            "every column name is unique"
        )
    missing = [c for c in dict.fromkeys(spec.required_columns()) if c not in columns]
    for column in missing:
        problems.append(_missing_column_message(column, columns))
    if missing or duplicated:
        raise DataError(problems)

    categorical = spec.categorical_levels
    numeric_columns = [spec.outcome, *(p for p in spec.predictors if p not in categorical)]
    numeric_columns += [c for c in (spec.trials, spec.exposure, spec.se) if c]
    numbers: dict[str, pd.Series] = {}
    for column in numeric_columns:
        values, column_problems = _to_numbers(frame[column], column)
        numbers[column] = values
        problems.extend(column_problems)

    # Rows with a missing value in any used column are left out, and counted per column.
    keep = np.ones(len(frame), dtype=bool)
    dropped: dict[str, int] = {}
    text_columns = [spec.group, *categorical]
    for column in [*numeric_columns, *text_columns]:
        is_missing = numbers[column].isna().to_numpy() if column in numbers else frame[column].isna().to_numpy()
        newly = int(np.count_nonzero(is_missing & keep))
        if newly:
            dropped[column] = newly
        keep &= ~is_missing
    if not keep.any():
        problems.append(
            "no row has a value in every column the model uses ("
            + ", ".join(spec.required_columns())
            + "); fill in the missing values or choose other columns"
        )
        raise DataError(problems)

    labels = _labels(frame[spec.group])[keep]
    group_labels, group_index = _factorize(labels)
    if len(group_labels) < 2:
        problems.append(
            f"the group column {spec.group!r} has a single group ({group_labels[0]!r}); pooling compares groups, "
            "so it needs at least two: choose another group column"
        )

    kept = {column: values.to_numpy(dtype=float)[keep] for column, values in numbers.items()}
    y = kept[spec.outcome]
    # Messages name rows by their position in the file, not among the rows kept.
    problems.extend(_outcome_problems(y, spec, kept, np.flatnonzero(keep)))
    if spec.family == "known_se" and len(group_labels) != len(labels):
        repeated = [g for g, n in zip(group_labels, np.bincount(group_index), strict=True) if n > 1]
        problems.append(
            f"with known standard errors each group needs exactly one row, but {_list(repeated)} "
            "appear more than once; keep one estimate per group"
        )

    # The design matrix: the intercept, then each predictor (numeric as is, categorical as 0/1 dummies).
    design_columns: list[np.ndarray] = [np.ones(len(y))]
    terms: list[str] = [INTERCEPT]
    predictor_terms: dict[str, tuple[str, ...]] = {}
    for predictor in spec.predictors:
        if predictor in categorical:
            levels = _labels(frame[predictor])[keep]
            reference = categorical[predictor]
            present = sorted(set(levels.tolist()))
            if reference not in present:
                problems.append(
                    f"the reference level {reference!r} of {predictor!r} does not occur in the data; "
                    f"choose one of {_list(present)}"
                )
                continue
            names = tuple(f"{predictor}[{level}]" for level in present if level != reference)
            if not names:
                problems.append(f"{predictor!r} has a single level ({reference!r}) and cannot be a predictor")
                continue
            for level, name in zip([lv for lv in present if lv != reference], names, strict=True):
                design_columns.append((levels == level).astype(float))
                terms.append(name)
            predictor_terms[predictor] = names
        else:
            x = kept[predictor]
            finite = x[np.isfinite(x)]
            if finite.size and np.all(finite == finite[0]):
                problems.append(
                    f"the predictor {predictor!r} has the same value ({finite[0]:g}) in every row, so its slope "
                    "cannot be told apart from the intercept: remove it from the predictors"
                )
            design_columns.append(x)
            terms.append(predictor)
            predictor_terms[predictor] = (predictor,)

    if problems:
        raise DataError(problems)
    return PreparedData(
        y=y,
        X=np.column_stack(design_columns),
        terms=tuple(terms),
        group_index=group_index,
        group_labels=group_labels,
        trials=kept.get(spec.trials) if spec.trials else None,
        exposure=kept.get(spec.exposure) if spec.exposure else None,
        se=kept.get(spec.se) if spec.se else None,
        predictor_terms=predictor_terms,
        rows_read=len(frame),
        dropped=dropped,
    )


def _missing_column_message(column: str, columns: Sequence[str]) -> str:
    by_lower = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(column, columns, n=1, cutoff=0.6)
    suggestion = by_lower.get(column.lower()) or (close[0] if close else None)
    hint = f"did you mean {suggestion!r}?" if suggestion else f"the columns are {_list(columns)}"
    return f"there is no column {column!r}: {hint}"


def _to_numbers(series: pd.Series, column: str) -> tuple[pd.Series, list[str]]:
    """Parse a column as numbers; report (not coerce) every cell that is text, and infinite values."""
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(float)
    values = pd.to_numeric(series, errors="coerce")
    bad_text = values.isna() & series.notna()
    if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
        # Blank cells and missing-value markers are missing, not text.
        marker = series.astype(str).str.strip().isin(MISSING_MARKERS) & series.notna()
        bad_text &= ~marker
        values = values.where(~marker, np.nan)
    problems = []
    if bad_text.any():
        rows = np.flatnonzero(bad_text.to_numpy())
        examples = ", ".join(repr(str(v)) for v in pd.unique(series[bad_text])[:3])
        problems.append(
            f"the column {column!r} should hold numbers, but {_rows(rows)} {_verb(rows, 'holds', 'hold')} text "
            f"({examples}); fix those cells (a decimal comma? a unit? a note?) or choose another column"
        )
    infinite = np.flatnonzero(np.isinf(values.to_numpy(dtype=float)))
    if infinite.size:
        problems.append(
            f"the column {column!r} has infinite values in {_rows(infinite)}; "
            "replace them with real numbers or leave the cells empty"
        )
    return values, problems


def _verb(rows: np.ndarray, singular: str, plural: str) -> str:
    return singular if len(rows) == 1 else plural


def _outcome_problems(
    y: np.ndarray, spec: ModelSpec, kept: dict[str, np.ndarray], file_rows: np.ndarray
) -> list[str]:
    """Family constraints on the kept rows; ``file_rows[i]`` is kept row i's position in the file."""
    problems = []
    name = repr(spec.outcome)
    if y.size > 1 and np.all(y == y[0]):
        problems.append(
            f"the outcome {name} has the same value ({y[0]:g}) in every row: there is nothing to model"
        )
    if spec.family == "binomial":
        if spec.trials:
            trials = kept[spec.trials]
            if np.any(trials < 1) or np.any(trials != np.round(trials)):
                problems.append(f"the trials column {spec.trials!r} must hold whole numbers of at least 1")
            if np.any(y < 0) or np.any(y != np.round(y)):
                problems.append(f"the outcome {name} counts successes and must hold whole numbers of 0 or more")
            over = np.flatnonzero(y > trials)
            if over.size:
                problems.append(
                    f"the outcome {name} exceeds the trials {spec.trials!r} in {_rows(file_rows[over])}: "
                    "successes cannot outnumber trials"
                )
        elif not np.all(np.isin(y, (0.0, 1.0))):
            problems.append(
                f"without a trials column the binomial outcome {name} must be 0 or 1 in every row; "
                "for counts of successes, choose the column holding the number of trials"
            )
    elif spec.family == "poisson":
        if np.any(y < 0) or np.any(y != np.round(y)):
            problems.append(f"the poisson outcome {name} must hold counts: whole numbers of 0 or more")
        if spec.exposure and np.any(kept[spec.exposure] <= 0):
            problems.append(f"the exposure column {spec.exposure!r} must be positive in every row")
    elif spec.family == "gamma":
        nonpositive = np.flatnonzero(y <= 0)
        if nonpositive.size:
            problems.append(
                f"the gamma outcome {name} must be positive, but {_rows(file_rows[nonpositive])} "
                f"{_verb(nonpositive, 'is', 'are')} zero or negative; "
                "use the gaussian family or remove those rows"
            )
    elif spec.family == "known_se":
        nonpositive = np.flatnonzero(kept[spec.se] <= 0) if spec.se else np.array([], dtype=int)
        if nonpositive.size:
            problems.append(
                f"standard errors in {spec.se!r} must be positive, but {_rows(file_rows[nonpositive])} "
                f"{_verb(nonpositive, 'is', 'are')} not"
            )
    return problems


def _labels(series: pd.Series) -> np.ndarray:
    """Group or level labels as text exactly as read (text columns are untouched; numbers are printed)."""
    def as_text(value: object) -> str:
        if isinstance(value, float) and value.is_integer():
            # A Parquet float column of whole numbers labels groups "3", not "3.0".
            return str(int(value))
        return str(value)

    return np.array([as_text(v) for v in series.to_numpy(dtype=object)], dtype=object)


def _factorize(labels: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Stable group order: by first appearance in the file, which is how a user reads their own table."""
    codes, uniques = pd.factorize(pd.Series(labels, dtype=object), sort=False)
    return tuple(str(u) for u in uniques), codes.astype(np.int64)


def _rows(indices: np.ndarray) -> str:
    """'data rows 3, 8 and 12' (1-based positions among the rows used)."""
    shown = [str(i + 1) for i in indices[:_ROWS_SHOWN]]
    more = len(indices) - len(shown)
    word = "data row" if len(indices) == 1 else "data rows"
    listed = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    return f"{word} {listed}"


def _list(values: Sequence[str]) -> str:
    shown = [repr(v) for v in list(values)[:8]]
    more = len(values) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """Columns whose non-empty cells all read as numbers (the candidates for an outcome or numeric predictor)."""
    out = []
    for column in frame.columns:
        values, column_problems = _to_numbers(frame[column], str(column))
        if not column_problems and values.notna().any():
            out.append(str(column))
    return out


def suggest_spec(frame: pd.DataFrame) -> ModelSpec | None:
    """A starting point for an uploaded table: the first text column as the group, the last numeric column as
    the outcome (None when the table has no such pair). The user confirms or changes the roles."""
    numeric = numeric_columns(frame)
    columns = [str(c) for c in frame.columns]
    text = [c for c in columns if c not in numeric]
    group = text[0] if text else (columns[0] if columns else None)
    outcomes = [c for c in numeric if c != group]
    if group is None or not outcomes:
        return None
    return ModelSpec(outcome=outcomes[-1], group=group)
