"""Guessing the roles of a table's columns, for the user to confirm.

:func:`suggest_spec` guesses the roles of an uploaded table's columns as a person would, for the user to confirm:

- an **index column** (row names or row numbers that R or pandas saved with the table: ``rownames``,
  ``Unnamed: 0``, ``...1``, a first column holding 1..n) is recognised by :func:`index_columns` and never given a
  role; the table keeps it (nothing is dropped behind the user's back) and the Data page says it is left out;
- the **group** repeats: at least two groups and fewer groups than rows, ideally groups of two or more rows and
  at least three groups, with the rows of a group next to each other, text before numbers; numbers with decimals
  are measurements, never groups (:func:`guess_group`);
- the **outcome** holds numbers that vary and are not an identifier (whole numbers, different in every row and
  increasing or a renumbering 1..n) nor the group; a column named like an outcome (``y``) first, then measurements
  with decimals, then columns that vary within groups (:func:`guess_outcome`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hiermodels.data.preparing import constant_within_groups, numeric_columns
from hiermodels.data.reading import (
    _MIN_SEQUENCE,
    _all_whole,
    _numbers,
    _short,
    _shown,
    is_row_number_sequence,
)
from hiermodels.model.spec import ModelSpec

# Headers that row names get when a table is saved with them: Rdatasets' CSVs ("rownames"), R's write.table
# ("row.names"), pandas' read_csv of a file with an unnamed first column ("Unnamed: 0"), readr's ("...1"). An empty
# header (R's write.csv, pandas' to_csv) is an index too when a frame is passed in from Python; read_table refuses it.
_INDEX_HEADER = re.compile(r"(|rownames|row\.names|row_names|unnamed: ?\d+|\.\.\.\d+|index)", re.IGNORECASE)


# R's read.csv names an empty header "X"; only the first column, and only with row-name-like values, is one.
_R_INDEX_HEADER = "X"


# A column named like this is the outcome a person would pick first (lme4's InstEval calls its rating y).
OUTCOME_NAMES = frozenset({"y", "outcome", "response", "target", "dv"})


def _unique_per_row(series: pd.Series) -> bool:
    return bool(series.notna().all()) and series.nunique(dropna=False) == len(series)


def index_columns(frame: pd.DataFrame) -> tuple[str, ...]:
    """Columns that hold row names or row numbers rather than data (an R or pandas export's index).

    A column is an index when its header is one that row names get when a table is saved with them (``rownames``,
    ``row.names``, ``Unnamed: 0``, ``...1``, ``index``, an empty header; ``X``, R's name for an empty header, as
    the first column only) and its values differ in every row (and, for ``X``, are whole numbers or text); or when
    it is the first column (where R and pandas write the index) and holds the row numbers 1, 2, ..., n or
    0, 1, ..., n-1 in row order, whatever its name (but ``y``: a column named like an outcome is data). Such a
    column is never guessed for a role and the Data page leaves it out of the choices; the table is not changed."""
    return tuple(str(column) for position, column in enumerate(frame.columns)
                 if _is_index(frame[column], str(column).strip(), position))


def _is_index(series: pd.Series, name: str, position: int) -> bool:
    if _INDEX_HEADER.fullmatch(name):
        # The sequence is the quick test; uniqueness (text row names) hashes every cell.
        return is_row_number_sequence(series) or _unique_per_row(series)
    if position != 0:
        return False
    if name == _R_INDEX_HEADER and _unique_per_row(series):
        numbers = _numbers(series)
        return numbers is None or _all_whole(numbers)  # text row names, or whole numbers (not measurements)
    return name.lower() not in OUTCOME_NAMES and is_row_number_sequence(series)


def index_column_note(frame: pd.DataFrame, column: str) -> str:
    """One sentence for the Data page: which column looks like a row index, with its first values."""
    first = ", ".join(_short(v) for v in frame[column].head(3).tolist())
    more = ", …" if len(frame) > 3 else ""
    return (f"{_shown(column)} looks like a row index ({first}{more}): left out of the roles (the table keeps it; "
            "it is not used)")


@dataclass(frozen=True, eq=False)
class _Profile:
    """What role-guessing needs to know about one column (missing cells left aside)."""

    name: str
    position: int
    numeric: bool
    whole: bool  # numeric, and every value a whole number
    distinct: int
    present: int  # rows with a value
    median_size: float  # median number of rows per distinct value
    contiguous: bool  # the rows of each value form one block (long tables are usually sorted by group)
    id_like: bool  # whole numbers, different in every row, and increasing or a renumbering 1..n: an identifier
    codes: np.ndarray  # each row's value as an integer code (-1 where missing)
    values: np.ndarray | None  # the numbers (NaN where missing); None for a column that is not numbers

    @property
    def repeats(self) -> bool:
        """At least two groups, and fewer groups than rows."""
        return 2 <= self.distinct < self.present


def _profile(frame: pd.DataFrame, column: str, position: int, numeric: bool) -> _Profile:
    series = frame[column]
    values = _numbers(series) if numeric else None
    # Numbers are grouped by value (hashing floats is several times faster than hashing their text).
    codes, uniques = pd.factorize(values if values is not None else series, use_na_sentinel=True)
    present = codes[codes >= 0]
    sizes = np.bincount(present, minlength=len(uniques))
    changes = int(np.count_nonzero(present[1:] != present[:-1]))
    whole = values is not None and _all_whole(values)
    id_like = False
    if whole and values is not None and len(uniques) == present.size >= _MIN_SEQUENCE:
        kept = values[~np.isnan(values)]
        id_like = bool(kept.max() - kept.min() + 1 == kept.size or np.all(np.diff(kept) > 0))
    return _Profile(
        name=column, position=position, numeric=numeric, whole=whole, distinct=len(uniques),
        present=int(present.size), median_size=float(np.median(sizes)) if sizes.size else 0.0,
        contiguous=changes == max(len(uniques) - 1, 0), id_like=id_like, codes=codes, values=values,
    )


def guess_group(profiles: Sequence[_Profile]) -> str | None:
    """The column a person would group by: one whose values repeat (at least two groups, fewer than the rows)
    in groups of two or more rows (the median group), preferring at least three groups, the rows of a group next
    to each other (long tables are usually sorted by group), text over numbers, and then the leftmost. Numbers
    with decimals are measurements, never groups. When no column has such groups (one row per group, as in a
    meta-analysis), the first text column, else a column with some repeats, else the first column."""
    labels = [p for p in profiles if p.repeats and (not p.numeric or p.whole)]
    grouped = [p for p in labels if p.median_size >= 2]
    text = [p for p in profiles if not p.numeric]

    def preference(p: _Profile) -> tuple:
        return p.distinct < 3, not p.contiguous, p.numeric, p.position

    if grouped:
        return min(grouped, key=preference).name
    if text:
        return text[0].name
    if labels:
        return min(labels, key=preference).name
    return profiles[0].name if profiles else None


def guess_outcome(profiles: Sequence[_Profile], group: str | None) -> str | None:
    """The column a person would model: numbers that vary (not an identifier, not the group), preferring a column
    named like an outcome (``y``, ``outcome``, ``response``), then measurements with decimals over whole numbers
    (counts, codes, ages in years), then columns that vary within groups over properties of the group, then the
    leftmost. None when no column holds numbers."""
    candidates = [p for p in profiles if p.values is not None and p.name != group and p.distinct >= 2
                  and not p.id_like]
    if not candidates:
        return None
    group_codes = next((p.codes for p in profiles if p.name == group), None)
    columns = [p.values for p in candidates if p.values is not None]  # all of them: the filter is for the type
    of_group = (constant_within_groups(columns, group_codes) if group_codes is not None
                else [False] * len(candidates))
    best = min(zip(candidates, of_group, strict=True), key=lambda pair: (
        pair[0].name.strip().lower() not in OUTCOME_NAMES, pair[0].whole, pair[1], pair[0].position))
    return best[0].name


def suggest_spec(frame: pd.DataFrame) -> ModelSpec | None:
    """A starting point for an uploaded table: the roles a person would guess (the user confirms or changes them).

    Index columns (:func:`index_columns`) are never guessed for a role. The group is a column whose values repeat
    (:func:`guess_group`); the outcome, numbers that are not an identifier nor the group, measurements first
    (:func:`guess_outcome`). None when the table has fewer than two columns to choose from.

    When no column reads as numbers, the last column other than the group is the outcome anyway, so that
    :func:`prepare` can say which cells are not numbers and why (decimal commas, thousands separators, units),
    rather than the table being refused without a reason."""
    index = set(index_columns(frame))
    columns = [str(c) for c in frame.columns if str(c) not in index]
    numeric = set(numeric_columns(frame[columns])) if columns else set()
    profiles = [_profile(frame, c, i, c in numeric) for i, c in enumerate(columns)]
    named = [p.name for p in profiles if p.numeric and p.name.strip().lower() in OUTCOME_NAMES]
    group = guess_group([p for p in profiles if p.name not in named[:1]])
    outcome = guess_outcome(profiles, group)
    if outcome is None:
        others = [c for c in columns if c != group]
        outcome = others[-1] if others else None
    if group is None or outcome is None:
        return None
    return ModelSpec(outcome=outcome, group=group)
