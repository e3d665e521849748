"""Turning a table into model-ready arrays, with every problem reported at once.

:func:`prepare` checks a table against a :class:`~hiermodels.model.spec.ModelSpec` and returns a
:class:`PreparedData`: the outcome ``y``, the design matrix ``X`` (one column per term, the first being the
intercept's column of ones), the group index of every row and the labels of the groups. Rows with a missing
value in a used column are left out **and counted** (``PreparedData.dropped``); a group or level label of only
spaces counts as missing ("NA" and "null" are labels). Every other problem (a missing column, text in a numeric
column, infinite or too large values, a single group, too many groups or terms, a constant predictor, a family
constraint) is collected, and all of them are raised together as one :class:`~hiermodels.errors.DataError`.
Labels and column names quoted in messages are cut to ``limits.MAX_LABEL_LENGTH`` characters (only in the
message).

A categorical predictor g (reference r) has one 0/1 column per other level l, ``g[l]``. An interaction ``a:b``
(a predictor so named that is not itself a column) is the product of its columns, each categorical one entering
as its dummies: one column per cell of its categorical parts' non-reference levels, the product of the numeric
parts times the cell's dummies (``x:g[l]``, ``g[l]:h[m]``; names from :mod:`hiermodels.model.names`). A cell no
row falls in, or where the numeric parts are 0 in every row, would be a column of zeros: it is refused, naming
the cell, never dropped.

:func:`design_row` builds the same row for one case from the values of its predictor columns (a number for a
numeric column, a level for a categorical one, :class:`PredictorColumn`): the dummies and products follow, so a
prediction is always for a case that could be a row of the table (never ``x:g[l]`` set apart from ``x``, nor two
levels of one category at once).

A **group-level predictor** is the same in every row of each group (:func:`group_level_predictors`): within
group j it is a constant x_j, so x_j * beta only shifts the group's level, as its own intercept a_j does. Beside
a varying intercept it is therefore not identified under no pooling, and a slope of it that varies by group is
confounded with the intercept under any pooling; :func:`identification_problems` says so, and
:func:`check_identified` (called by ``fitting.fit``) refuses such a model before anything is compiled. Under
partial pooling a common coefficient of x is identified: it explains the differences between groups.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from hiermodels import limits
from hiermodels.data.reading import _QUICK_LOOK, _list, _rows, _short, _shown, _to_numbers, _verb
from hiermodels.errors import DataError, SpecError
from hiermodels.model import names
from hiermodels.model.spec import INTERCEPT, ModelSpec


@dataclass(frozen=True, eq=False)
class FactorData:
    """A grouping factor besides the first (``ModelSpec.factors``): row ``i`` belongs to its group
    ``labels[index[i]]``. A nested factor's labels are lme4's ``child:parent`` pairs (cask ``a`` of batch ``1``
    is ``a:1``), so a label repeated under two parents names two groups."""

    name: str
    index: np.ndarray
    labels: tuple[str, ...]

    @property
    def n_groups(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class PredictorColumn:
    """A column of the table that predictors are made of: a predictor itself, or a part of an interaction.

    Numeric: ``levels`` is None, ``mean`` is its mean over the rows kept and ``binary`` says whether it holds only
    0 and 1 there. Categorical: ``levels`` are its levels in the rows kept, the reference first, then the others
    in the order of their terms (``mean`` and ``binary`` are unused)."""

    name: str
    levels: tuple[str, ...] | None = None
    mean: float = 0.0
    binary: bool = False

    @property
    def reference(self) -> str | None:
        """The reference level of a categorical column (None for a numeric one)."""
        return None if self.levels is None else self.levels[0]


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
    # Predictor -> the terms it contributes (a categorical predictor contributes one per level but the reference).
    predictor_terms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rows_read: int = 0
    # Column -> number of rows left out because that column was missing there (a row is counted once, under
    # the first used column where it is missing).
    dropped: dict[str, int] = field(default_factory=dict)
    # The grouping factors besides the first, in the order of ModelSpec.factors.
    factors: tuple[FactorData, ...] = ()
    # Predictor -> the columns it is the product of, as written (``a:b`` -> (a, b)); a predictor not here (data
    # built by hand) is a column itself.
    predictor_parts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Column -> its description (see PredictorColumn), for every column of predictor_parts.
    columns: dict[str, PredictorColumn] = field(default_factory=dict)

    def factor(self, name: str) -> FactorData:
        """The further grouping factor called ``name`` (KeyError naming the factors otherwise)."""
        for factor in self.factors:
            if factor.name == name:
                return factor
        raise KeyError(f"no grouping factor {name!r}; the further factors are {[f.name for f in self.factors]}")

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

    @cached_property
    def _group_level(self) -> tuple[str, ...]:
        # Computed once per prepared table (fit_poolings and each fit ask): see group_level_predictors.
        return _group_level_predictors(self)

    def terms_of(self, varying: Sequence[str]) -> tuple[str, ...]:
        """The design-matrix terms behind a list of varying terms (``intercept`` and predictor names)."""
        out: list[str] = []
        for name in varying:
            out.extend((INTERCEPT,) if name == INTERCEPT else self.predictor_terms[name])
        return tuple(out)

    def design(self, terms: Sequence[str]) -> np.ndarray:
        """The design-matrix columns of ``terms`` (rows x terms), in that order."""
        return self.X[:, [self.terms.index(t) for t in terms]]

    def predictor_columns(self) -> tuple[PredictorColumn, ...]:
        """The columns the predictors (``predictor_terms``) are made of, each once, in the order first used. A
        column not in ``columns`` (data built by hand) is numeric, described by its design column when it has one."""
        out: dict[str, PredictorColumn] = {}
        for predictor in self.predictor_terms:
            for name in self.predictor_parts.get(predictor, (predictor,)):
                if name in out:
                    continue
                column = self.columns.get(name)
                if column is None and name in self.terms:
                    column = _numeric_column(name, self.X[:, self.terms.index(name)])
                out[name] = column or PredictorColumn(name)
        return tuple(out.values())

    def fingerprint(self) -> str:
        """A hash of everything a fit depends on, to key caches: equal data give equal fingerprints."""
        digest = hashlib.sha256()
        arrays = (self.y, self.X, self.group_index, self.trials, self.exposure, self.se,
                  *(f.index for f in self.factors))
        for array in arrays:
            if array is not None:
                digest.update(np.ascontiguousarray(array).tobytes())
            digest.update(b"|")
        for factor in self.factors:
            digest.update(factor.name.encode() + b"\x1e" + "\x1f".join(factor.labels).encode())
        digest.update("\x1f".join(self.terms).encode())
        digest.update("\x1f".join(self.group_labels).encode())
        return digest.hexdigest()[:16]


def prepare(frame: pd.DataFrame, spec: ModelSpec) -> PreparedData:
    """Check ``frame`` against ``spec`` and build the arrays; raise :class:`DataError` listing every problem."""
    problems: list[str] = []
    if len(frame) > limits.MAX_ROWS:
        raise DataError([
            f"the table has {len(frame):,} rows, more than the {limits.MAX_ROWS:,} that can be modelled: aggregate "
            "or sample the rows (for example a random sample of groups), or keep a subset of the groups"
        ])
    columns = [str(c) for c in frame.columns]
    counts = pd.Series(columns).value_counts()
    duplicated = sorted(counts.index[counts > 1])
    if duplicated:
        problems.append(
            f"the file has more than one column named {_list(duplicated)}; rename them so that "
            "every column name is unique"
        )
    interactions = _interactions(spec, columns)
    needed = [part for c in spec.required_columns() for part in interactions.get(c, (c,))]
    missing = [c for c in dict.fromkeys(needed) if c not in columns]
    for column in missing:
        problems.append(_missing_column_message(column, columns))
    if missing or duplicated:
        raise DataError(problems)

    categorical = spec.categorical_levels
    numeric_columns = [spec.outcome, *(p for p in spec.predictors if p not in categorical)]
    numeric_columns += [c for c in (spec.trials, spec.exposure, spec.se) if c]
    numbers: dict[str, pd.Series] = {}
    for column in numeric_columns:
        if column in interactions:
            continue  # the product of its parts, below
        values, column_problems = _to_numbers(frame[column], column)
        numbers[column] = values
        problems.extend(column_problems)
    for interaction, parts in interactions.items():
        # The product of the numeric parts (1 when there is none); the dummies of the categorical parts multiply
        # it when the design matrix is built, one column per cell of their non-reference levels.
        product = pd.Series(1.0, index=frame.index, dtype="Float64")
        for part in parts:
            if part in categorical:
                continue
            if part not in numbers:
                values, column_problems = _to_numbers(frame[part], part)
                numbers[part] = values
                problems.extend(column_problems)
            product = product * numbers[part]
        numbers[interaction] = product

    # Rows with a missing value in any used column are left out, and counted per column.
    keep = np.ones(len(frame), dtype=bool)
    dropped: dict[str, int] = {}
    text_columns = [spec.group, *categorical, *(f.column for f in spec.factors)]
    for column in dict.fromkeys([*numeric_columns, *text_columns]):
        is_missing = numbers[column].isna().to_numpy() if column in numbers else _blank(frame[column])
        newly = int(np.count_nonzero(is_missing & keep))
        if newly:
            dropped[column] = newly
        keep &= ~is_missing
    if not keep.any():
        problems.append(
            "no row has a value in every column the model uses ("
            + ", ".join(_short(c) for c in spec.required_columns())
            + "); fill in the missing values or choose other columns"
        )
        raise DataError(problems)

    labels = _labels(frame[spec.group])[keep]
    group_labels, group_index = _factorize(labels)
    if len(group_labels) < 2:
        problems.append(
            f"the group column {_shown(spec.group)} has a single group ({_shown(group_labels[0])}); pooling compares "
            "groups, so it needs at least two: choose another group column"
        )
    if len(group_labels) > limits.MAX_GROUPS:
        problems.append(
            f"the group column {_shown(spec.group)} has {len(group_labels):,} groups, more than the "
            f"{limits.MAX_GROUPS:,} that can be fitted: group at a coarser level (e.g. schools instead of pupils), "
            "or keep a sample of the groups. Is it an identifier of each row rather than of a group?"
        )
    factors = _factor_data(frame, spec, keep, labels, problems)
    levels_of = {p: _labels(frame[p])[keep] for p in categorical}
    level_counts = {p: len(pd.unique(levels)) for p, levels in levels_of.items()}
    # A predictor has one term per cell of its categorical parts' non-reference levels (1 when it has none).
    n_terms = 1 + sum(int(np.prod([level_counts[c] - 1 for c in interactions.get(p, (p,)) if c in level_counts]))
                      for p in spec.predictors)
    if n_terms > limits.MAX_TERMS:
        many = [f"{_shown(p)} ({n:,} levels)" for p, n in level_counts.items()]
        problems.append(
            f"these predictors make {n_terms:,} terms (coefficients), more than the {limits.MAX_TERMS} a model can "
            f"have here{': ' + ', '.join(many) if many else ''}. Each level of a categorical predictor but the "
            "reference is a term: merge rare levels, or use fewer predictors"
        )
        raise DataError(problems)

    kept = {column: values.to_numpy(dtype=float, na_value=np.nan)[keep] for column, values in numbers.items()}
    for column, values in kept.items():
        huge = np.flatnonzero(np.isfinite(values) & (np.abs(values) > limits.MAX_ABS_VALUE))
        if huge.size:
            problems.append(
                f"the column {_shown(column)} has numbers too large to compute with (beyond ±{limits.MAX_ABS_VALUE:g}) "
                f"in {_rows(np.flatnonzero(keep)[huge])}: rescale it (e.g. thousands instead of units)"
            )
    y = kept[spec.outcome]
    # Messages name rows by their position in the file, not among the rows kept.
    problems.extend(_outcome_problems(y, spec, kept, np.flatnonzero(keep)))
    if spec.family == "known_se" and len(group_labels) != len(labels):
        repeated = [g for g, n in zip(group_labels, np.bincount(group_index), strict=True) if n > 1]
        problems.append(
            f"with known standard errors each group needs exactly one row, but {_list(repeated)} "
            "appear more than once; keep one estimate per group"
        )

    # The design matrix: the intercept, then each predictor (numeric as is, categorical as 0/1 dummies, an
    # interaction with a categorical part as the products of its numeric parts and the dummies).
    design_columns: list[np.ndarray] = [np.ones(len(y))]
    terms: list[str] = [INTERCEPT]
    predictor_terms: dict[str, tuple[str, ...]] = {}
    contrasts: dict[str, tuple[str, ...] | None] = {}  # filled where a column is first used, said there once
    for predictor in spec.predictors:
        parts = interactions.get(predictor, (predictor,))
        if any(part in categorical for part in parts):
            for part in parts:
                if part in categorical and part not in contrasts:
                    contrasts[part] = _contrast_levels(part, levels_of[part], categorical[part], problems)
            if all(contrasts[part] is not None for part in parts if part in categorical):
                numeric = kept[predictor] if predictor in interactions else np.ones(len(y))
                products = _dummy_products(predictor, parts, numeric, levels_of, contrasts, problems)
                design_columns.extend(products.values())
                terms.extend(products)
                predictor_terms[predictor] = tuple(products)
        else:
            x = kept[predictor]
            finite = x[np.isfinite(x)]
            if finite.size and np.all(finite == finite[0]):
                problems.append(
                    f"the predictor {_shown(predictor)} has the same value ({finite[0]:g}) in every row, so its slope "
                    "cannot be told apart from the intercept: remove it from the predictors"
                )
            design_columns.append(x)
            terms.append(predictor)
            predictor_terms[predictor] = (predictor,)

    if problems:
        raise DataError(problems)
    parts_of = {p: interactions.get(p, (p,)) for p in spec.predictors}
    described = {
        name: PredictorColumn(name, levels=(categorical[name], *(contrasts[name] or ())))
        if name in categorical else _numeric_column(name, kept[name])
        for name in dict.fromkeys(part for parts in parts_of.values() for part in parts)
    }
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
        factors=factors,
        predictor_parts=parts_of,
        columns=described,
    )


def _numeric_column(name: str, values: np.ndarray) -> PredictorColumn:
    return PredictorColumn(name, mean=float(np.mean(values)), binary=bool(np.isin(values, (0.0, 1.0)).all()))


def design_row(data: PreparedData, values: Mapping[str, float | str] | None = None) -> np.ndarray:
    """The design-matrix row (one value per term of ``data.terms``) of one case, given by its predictor columns.

    ``values`` maps each column of :meth:`PreparedData.predictor_columns` to a finite number (a numeric column)
    or to one of its levels (a categorical one, the reference included). A column not given is 0, or its
    reference level, so ``{}`` is the reference case: 1 for the intercept and 0 for every other term. Each term
    follows as :func:`prepare` builds its column (its parts read back by :func:`names.split_design_term`): a
    numeric part contributes its value, a categorical part ``g[l]`` 1 when g is l and 0 otherwise, and a term is
    the product of its parts' contributions. So ``design_row(data, row i's values)`` is ``data.X[i]``.

    Raises :class:`SpecError` naming every column that is not a predictor column, every level not in the data and
    every value that is not a finite number, each with the values allowed.
    """
    columns = {column.name: column for column in data.predictor_columns()}
    problems: list[str] = []
    given: dict[str, float | str] = {}
    for name, value in (values or {}).items():
        column = columns.get(name)
        if column is None:
            problems.append(_not_a_column_message(data, name, columns))
        elif column.levels is not None:
            if isinstance(value, str) and value in column.levels:
                given[name] = value
            else:
                problems.append(f"{_shown(value)} is not a level of {_shown(name)} in the data; choose one of "
                                f"{_list(column.levels)} (the reference is {_shown(column.reference)})")
        else:
            number = _finite_number(value)
            if number is None:
                shown = f"the text {_shown(value)}" if isinstance(value, str) else _short(repr(value))
                problems.append(f"the value of {_shown(name)} must be a finite number within "
                                f"±{limits.MAX_ABS_VALUE:g}, not {shown}")
            else:
                given[name] = number
    if problems:
        raise SpecError("; ".join(problems))

    categorical = {name: column.reference for name, column in columns.items() if column.levels is not None}
    x = np.zeros(len(data.terms))
    x[data.terms.index(INTERCEPT)] = 1.0
    for predictor, terms in data.predictor_terms.items():
        parts = data.predictor_parts.get(predictor, (predictor,))
        for term in terms:
            cell = names.split_design_term(term, parts, categorical)
            if cell is None:
                raise ValueError(f"the term {term!r} is not one of the predictor {predictor!r} made of {parts}")
            value = 1.0
            for part, level in cell:
                if level is None:
                    value *= float(given.get(part, 0.0))
                else:
                    value *= float(given.get(part, categorical[part]) == level)
            x[data.terms.index(term)] = value
    return x


def _finite_number(value: object) -> float | None:
    """``value`` as a float when it is a number (not text) that is finite and within ``limits.MAX_ABS_VALUE``."""
    if isinstance(value, str | bytes):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and abs(number) <= limits.MAX_ABS_VALUE else None


def _not_a_column_message(data: PreparedData, name: str, columns: Mapping[str, PredictorColumn]) -> str:
    """Why ``name`` takes no value: the predictor columns that do; for a design term, the columns it follows from."""
    allowed = f"give values for {_list(list(columns))}" if columns else "the model has no predictor (only an intercept)"
    for predictor, terms in data.predictor_terms.items():
        if name in terms and data.predictor_parts.get(predictor, (predictor,)) != (name,):
            categorical = [c for c, column in columns.items() if column.levels is not None]
            cell = names.split_design_term(name, data.predictor_parts.get(predictor, (predictor,)), categorical) or ()
            example = ", ".join(_short(c) if level is None else f"{_short(c)} = {_shown(level)}" for c, level in cell)
            return (f"{_shown(name)} is a term of the design, computed from the predictor columns ({example}), not "
                    f"a column: {allowed}")
    return f"{_shown(name)} is not a predictor column of this model: {allowed}"


def _interactions(spec: ModelSpec, columns: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Predictor -> its parts, for each predictor written ``a:b`` (lme4's interaction) that is not itself a
    column: its values are the product of the columns a and b, a categorical part entering as its dummies."""
    parts = {p: names.interaction_parts(p) for p in spec.predictors}
    return {p: parts[p] for p in spec.predictors if len(parts[p]) > 1 and p not in columns and all(parts[p])}


def _contrast_levels(column: str, levels: np.ndarray, reference: str, problems: list[str]) -> tuple[str, ...] | None:
    """A categorical column's levels but the reference, sorted (each has a term); None, said in ``problems``, when
    the reference does not occur or it is the only level."""
    present = sorted(set(levels.tolist()))
    if reference not in present:
        problems.append(f"the reference level {_shown(reference)} of {_shown(column)} does not occur in the data; "
                        f"choose one of {_list(present)}")
        return None
    if len(present) == 1:
        problems.append(f"{_shown(column)} has a single level ({_shown(reference)}) and cannot be a predictor")
        return None
    return tuple(level for level in present if level != reference)


def _dummy_products(predictor: str, parts: Sequence[str], numeric: np.ndarray, levels_of: dict[str, np.ndarray],
                    contrasts: dict[str, tuple[str, ...] | None], problems: list[str]) -> dict[str, np.ndarray]:
    """Term -> design column of a predictor with categorical parts: for each cell (one non-reference level of
    each categorical part) the product ``numeric`` (of the numeric parts) * prod of the cell's 0/1 dummies, named
    by :func:`names.interaction`. A cell without rows, or where the numeric parts are 0 in every row, would be a
    column of zeros whose coefficient the data cannot inform: it is said in ``problems``, never dropped."""
    out: dict[str, np.ndarray] = {}
    choices = [[(part, level) for level in contrasts[part] or ()] if part in contrasts else [(part, None)]
               for part in parts]
    for cell in itertools.product(*choices):
        indicator = np.ones(len(numeric), dtype=bool)
        for part, level in cell:
            if level is not None:
                indicator &= levels_of[part] == level
        name = names.interaction(cell)
        where = " and ".join(f"{_shown(part)} = {_shown(level)}" for part, level in cell if level is not None)
        if not indicator.any():
            problems.append(
                f"the interaction {_shown(predictor)} has no row with {where} (an empty cell), so its term "
                f"{_shown(name)} cannot be estimated: merge levels so that every combination occurs, or drop "
                f"{_shown(predictor)} from the predictors")
            continue
        column = numeric * indicator
        if not np.any(column):
            numeric_parts = " * ".join(_shown(part) for part, level in cell if level is None)
            problems.append(
                f"{numeric_parts} is 0 in every row with {where}, so the term {_shown(name)} of the interaction "
                f"{_shown(predictor)} is 0 everywhere and cannot be estimated: drop the interaction")
            continue
        out[name] = column
    return out


def _factor_data(frame: pd.DataFrame, spec: ModelSpec, keep: np.ndarray, first_labels: np.ndarray,
                 problems: list[str]) -> tuple[FactorData, ...]:
    """The further grouping factors' indices (appending what is wrong with them to ``problems``).

    A nested factor's groups are (parent, child) pairs. Refused: a factor with one level; a factor with a
    different label in every row (an identifier of rows, not of groups); a nesting the labels contradict (the
    parent is nested in the child instead: each parent label sits under one child label)."""
    label_of = {spec.group: first_labels}
    for factor in spec.factors:
        label_of[factor.column] = _labels(frame[factor.column])[keep]
    n_rows = int(np.count_nonzero(keep))
    nested_label_of: dict[str, np.ndarray] = {}
    out: list[FactorData] = []
    for factor in spec.factors:
        child = label_of[factor.column]
        labels = child
        if factor.within is not None:
            parent = nested_label_of.get(factor.within, label_of[factor.within])  # a/b/c: c within (a, b) pairs
            labels = np.array([f"{c}:{p}" for c, p in zip(child, parent, strict=True)], dtype=object)
            child_labels, child_index = _factorize(child)
            parent_labels, parent_index = _factorize(parent)
            pairs = np.unique(np.stack([parent_index, child_index]), axis=1)
            parents_per_child = np.bincount(pairs[1], minlength=len(child_labels))
            children_per_parent = np.bincount(pairs[0], minlength=len(parent_labels))
            terms = " + ".join("1" if v == INTERCEPT else v for v in factor.varying)
            if len(child_labels) < len(parent_labels) and np.all(children_per_parent == 1) \
                    and np.any(parents_per_child > 1):
                problems.append(
                    f"the labels say {_shown(factor.within)} is nested in {_shown(factor.column)} (each "
                    f"{_shown(factor.within)} sits under one {_shown(factor.column)}), not the other way round: "
                    f"write ({terms} | {factor.column}/{factor.within})")
        nested_label_of[factor.column] = labels
        names, index = _factorize(labels)
        if len(names) < 2:
            problems.append(f"the grouping factor {_shown(factor.name)} has a single level ({_shown(names[0])}); "
                            "a factor needs at least two groups: remove it from the model")
        elif len(names) == n_rows:
            problems.append(f"the grouping factor {_shown(factor.name)} has a different value in every row, so it "
                            "identifies rows, not groups: each group would be one observation, confounded with "
                            "the residual. Remove it, or choose the column that names the groups")
        elif len(names) > limits.MAX_GROUPS:
            problems.append(f"the grouping factor {_shown(factor.name)} has {len(names):,} groups, more than the "
                            f"{limits.MAX_GROUPS:,} that can be fitted: keep a sample of them")
        out.append(FactorData(factor.name, index, names))
    if spec.factors and len(first_labels) and len(pd.unique(first_labels)) == n_rows:
        problems.append(f"the grouping factor {_shown(spec.group)} has a different value in every row, so it "
                        "identifies rows, not groups: choose the column that names the groups")
    return tuple(out)


def _missing_column_message(column: str, columns: Sequence[str]) -> str:
    by_lower = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(column, columns, n=1, cutoff=0.6)
    suggestion = by_lower.get(column.lower()) or (close[0] if close else None)
    hint = f"did you mean {_shown(suggestion)}?" if suggestion else f"the columns are {_list(columns)}"
    return f"there is no column {_shown(column)}: {hint}"


def _outcome_problems(
    y: np.ndarray, spec: ModelSpec, kept: dict[str, np.ndarray], file_rows: np.ndarray
) -> list[str]:
    """Family constraints on the kept rows; ``file_rows[i]`` is kept row i's position in the file."""
    problems = []
    name = _shown(spec.outcome)
    if y.size > 1 and np.all(y == y[0]):
        problems.append(
            f"the outcome {name} has the same value ({y[0]:g}) in every row: there is nothing to model"
        )
    if spec.family == "binomial":
        if spec.trials:
            trials = kept[spec.trials]
            if np.any(trials < 1) or np.any(trials != np.round(trials)):
                problems.append(f"the trials column {_shown(spec.trials)} must hold whole numbers of at least 1")
            if np.any(y < 0) or np.any(y != np.round(y)):
                problems.append(f"the outcome {name} counts successes and must hold whole numbers of 0 or more")
            over = np.flatnonzero(y > trials)
            if over.size:
                problems.append(
                    f"the outcome {name} exceeds the trials {_shown(spec.trials)} in {_rows(file_rows[over])}: "
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
            problems.append(f"the exposure column {_shown(spec.exposure)} must be positive in every row")
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
                f"standard errors in {_shown(spec.se)} must be positive, but {_rows(file_rows[nonpositive])} "
                f"{_verb(nonpositive, 'is', 'are')} not"
            )
    return problems


def _labels(series: pd.Series) -> np.ndarray:
    """Group or level labels as text exactly as read (text columns are untouched; numbers are printed)."""
    if pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_object_dtype(series.dtype):
        return series.to_numpy(dtype=object)

    def as_text(value: object) -> str:
        if isinstance(value, float) and value.is_integer():
            # A Parquet float column of whole numbers labels groups "3", not "3.0".
            return str(int(value))
        return str(value)

    # Each distinct value is printed once (a column may have millions of rows but few groups).
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = np.array([as_text(v) for v in np.asarray(uniques, dtype=object)] + ["nan"], dtype=object)
    return texts[codes]


def _blank(series: pd.Series) -> np.ndarray:
    """Missing text cells: empty, or only spaces (a label nobody could see). "NA" and "null" are labels."""
    missing = series.isna().to_numpy().copy()
    if pd.api.types.is_string_dtype(series.dtype) or pd.api.types.is_object_dtype(series.dtype):
        present = np.flatnonzero(~missing)
        stripped = series.iloc[present].astype(str).str.strip()
        missing[present[(stripped == "").to_numpy(dtype=bool)]] = True
    return missing


def _factorize(labels: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Stable group order: by first appearance in the file, which is how a user reads their own table."""
    codes, uniques = pd.factorize(pd.Series(labels, dtype=object), sort=False)
    return tuple(str(u) for u in uniques), codes.astype(np.int64)


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """Columns whose non-empty cells all read as numbers (the candidates for an outcome or numeric predictor)."""
    out = []
    for column in frame.columns:
        series = frame[column]
        if len(series) > _QUICK_LOOK and _to_numbers(series.iloc[:_QUICK_LOOK], str(column))[1]:
            continue  # text (or infinity) among the first rows: no need to parse the rest
        values, column_problems = _to_numbers(series, str(column))
        if not column_problems and values.notna().any():
            out.append(str(column))
    return out


def constant_within_groups(columns: Sequence[np.ndarray], group_index: np.ndarray) -> list[bool]:
    """For each column, whether it holds one value in every group (``group_index``, -1 for no group) of two or more
    rows, with at least one such group; a group of one row says nothing either way, and missing values (NaN) are
    left aside. The rows are sorted by group once; each column is then one min and one max per group."""
    grouped = group_index >= 0
    everything = bool(grouped.all())
    codes = group_index if everything else group_index[grouped]
    sizes = np.bincount(codes)
    sizes = sizes[sizes > 0]
    informative = sizes >= 2
    if not informative.any():
        return [False] * len(columns)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    out = []
    for values in columns:
        x = (values if everything else values[grouped])[order]
        spread = np.fmax.reduceat(x, starts) - np.fmin.reduceat(x, starts)
        out.append(bool(np.all(spread[informative] == 0)))
    return out


def group_level_predictors(data: PreparedData) -> tuple[str, ...]:
    """The predictors that are a property of the group: the same in every row of each group.

    A predictor counts when each of its design-matrix columns (one for a number, one dummy per level but the
    reference for a categorical predictor) is constant within every group of two or more rows, and at least one
    group has two or more rows; a group of one row says nothing either way. Such a predictor can explain
    differences *between* groups, but within a group it only shifts the level, exactly as the group's own
    intercept does (see :func:`identification_problems`).
    """
    return data._group_level


def _group_level_predictors(data: PreparedData) -> tuple[str, ...]:
    terms = [t for t in data.terms if t != INTERCEPT]
    constant = dict(zip(terms, constant_within_groups([data.X[:, data.terms.index(t)] for t in terms],
                                                       data.group_index), strict=True))
    return tuple(p for p, names in data.predictor_terms.items() if names and all(constant[t] for t in names))


def slope_modifiers(data: PreparedData, spec: ModelSpec) -> dict[str, str]:
    """Common predictors that, within every group, are a multiple of one slope that varies by group (of its
    level columns, for a categorical slope): predictor -> that slope's term (the first grouping factor's varying
    terms).

    A cross-level interaction x:u of a row predictor x with a property u of the group is u_j * x within group j:
    a change of group j's slope of x. Under partial pooling it predicts the slopes (as a group-level predictor
    predicts the intercepts); under no pooling, where each group's slope b_j has its own fixed prior, only
    b_j + u_j * beta is informed and beta is not identified. Checked on the design columns: column c is, within
    group j, a combination V k_j of the slope's columns V (one for a numeric slope; a categorical slope has a
    column per level) when c - V k_j vanishes in every row, k_j the least-squares solution over the group's rows
    (pseudo-inverse of the group's Gram matrix V'V, which is singular where a level does not occur in the
    group). A predictor that varies by group itself, or is a property of the group (the intercept's case, in
    :func:`identification_problems`), is not listed.
    """
    slopes = [t for t in spec.varying if t != INTERCEPT and t in data.predictor_terms]
    if not slopes:
        return {}
    skip = {*spec.varying, *group_level_predictors(data)}
    groups, n_groups = data.group_index, data.n_groups
    out: dict[str, str] = {}
    for predictor, terms in data.predictor_terms.items():
        if predictor in skip or predictor not in spec.predictors or not terms:
            continue
        for slope in slopes:
            v = data.design(data.predictor_terms[slope])  # (N, m)
            m = v.shape[1]
            gram = np.stack([np.bincount(groups, weights=v[:, a] * v[:, b], minlength=n_groups)
                             for a in range(m) for b in range(m)], axis=-1).reshape(n_groups, m, m)
            inverse = np.linalg.pinv(gram)  # (J, m, m); 0 for a group where the slope's columns are all 0
            proportional = True
            for term in terms:
                c = data.X[:, data.terms.index(term)]
                cross = np.stack([np.bincount(groups, weights=c * v[:, a], minlength=n_groups) for a in range(m)],
                                 axis=-1)
                k = np.einsum("jab,jb->ja", inverse, cross)
                if not np.allclose(c, np.einsum("im,im->i", v, k[groups]), rtol=0.0,
                                   atol=1e-9 * (1.0 + np.abs(c).max())):
                    proportional = False
                    break
            if proportional:
                out[predictor] = slope
                break
    return out


def group_level_notes(data: PreparedData, spec: ModelSpec) -> list[str]:
    """One plain sentence per predictor that is a property of the group, for the Data page."""
    return [
        f"{_shown(p)} is a property of {_shown(spec.group)} (the same in every row of a group): it can explain "
        "differences between groups under complete and partial pooling, but not under no pooling"
        for p in group_level_predictors(data)
    ]


def identification_problems(data: PreparedData, spec: ModelSpec) -> list[str]:
    """Why ``spec`` cannot be fitted to ``data`` because a predictor is a property of the group; empty when fine.

    Within a group, a group-level predictor x is a constant x_j, so its term x_j * beta only shifts that group's
    level, which is what a varying intercept a_j does:

    - under no pooling, with a varying intercept, y_ij = a_j + beta * x_j + ...: only a_j + beta * x_j is
      informed by the data (each a_j has its own fixed prior and nothing ties the groups together), so beta is
      not identified: its estimate is whatever the priors make of it;
    - in any pooling, a slope of x that varies by group beside a varying intercept, a_j + b_j * x_j: within each
      group the two are one number, so b_j is confounded with a_j (under no pooling neither is identified; under
      partial pooling only the population distributions tell them apart).

    Under partial pooling a *common* coefficient of x is identified: it says how the group means differ with x,
    and the intercepts vary around that. Complete pooling has nothing that varies by group.
    """
    problems = _further_factor_problems(data, spec)
    varying = spec.varying_terms
    if spec.pooling == "none":
        for predictor, slope in slope_modifiers(data, spec).items():
            within = (f"a multiple of {_shown(slope)}" if len(data.predictor_terms[slope]) == 1
                      else f"a combination of the level columns of {_shown(slope)}")
            problems.append(
                f"{_shown(predictor)} is {_shown(slope)} times a property of {_shown(spec.group)} (within each group "
                f"{within}), so under no pooling each group's own slope of {_shown(slope)} "
                f"absorbs it and its coefficient is not identified: remove {_shown(predictor)} from the predictors "
                f"to fit no pooling, or fit partial pooling (where it predicts the slopes)")
    if INTERCEPT not in varying:
        return problems
    for predictor in group_level_predictors(data):
        if predictor not in spec.predictors:
            continue
        name = _shown(predictor)
        constant = f"{name} is constant within each {_shown(spec.group)} (a property of the group)"
        if predictor in varying:
            neither = " (under no pooling neither is identified)" if spec.pooling == "none" else ""
            problems.append(
                f"{constant}, so a slope of {name} that varies by group is confounded with each group's own "
                f"intercept: within a group both only shift the level{neither}. Remove {name} from the terms that "
                "vary by group (as a common term it explains differences between groups under complete and "
                "partial pooling)"
            )
        elif spec.pooling == "none":
            problems.append(
                f"{constant}, so under no pooling each group's own intercept absorbs it and its coefficient is not "
                f"identified: remove {name} from the predictors to fit no pooling, or fit complete or partial "
                f"pooling instead (where {name} explains differences between groups)"
            )
    return problems


def _further_factor_problems(data: PreparedData, spec: ModelSpec) -> list[str]:
    """A slope varying over a further factor whose predictor is constant within that factor's groups (and so
    confounded with its intercept there), as for the first factor below."""
    if spec.pooling == "complete":
        return []
    problems = []
    for factor, factor_data in zip(spec.factors, data.factors, strict=True):
        if INTERCEPT not in factor.varying:
            continue
        slopes = [p for p in factor.varying if p != INTERCEPT]
        columns = [data.X[:, data.terms.index(t)] for p in slopes for t in data.predictor_terms[p]]
        constant = iter(constant_within_groups(columns, factor_data.index))
        for predictor in slopes:
            if all([next(constant) for _ in data.predictor_terms[predictor]]):
                name = _shown(predictor)
                problems.append(
                    f"{name} is constant within each {_shown(factor.name)} (a property of that factor's groups), "
                    f"so a slope of {name} that varies over {_shown(factor.name)} is confounded with each group's "
                    f"own intercept there: remove {name} from the terms that vary over {_shown(factor.name)}")
    return problems


def check_identified(data: PreparedData, specs: Sequence[ModelSpec]) -> None:
    """Raise :class:`~hiermodels.errors.SpecError` listing :func:`identification_problems` of every spec (each
    problem once), before anything is compiled or sampled."""
    problems = list(dict.fromkeys(m for spec in specs for m in identification_problems(data, spec)))
    if problems:
        raise SpecError("; ".join(problems))
