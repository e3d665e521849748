r"""The group-level regression: each group's level against a predictor of the group (Gelman & Hill's figure).

A group-level predictor :math:`u` is the same in every row of group j (:math:`u_j`;
:func:`hiermodels.data.preparing.group_level_predictors`). Under partial pooling with a varying intercept and a
common coefficient :math:`\gamma_1` of :math:`u`, row i of group j has the linear predictor

.. math::  \eta_i = b_j + \gamma_1 u_j + \beta x_i, \qquad b_j \sim \mathcal N(\gamma_0, \tau),

with :math:`\gamma_0` the population mean of the intercept (``mu``), :math:`b_j` the group's own intercept
(``b``) and :math:`x_i` the row-level predictors (radon's ``floor``). So the group's **level**
:math:`a_j = b_j + \gamma_1 u_j \sim \mathcal N(\gamma_0 + \gamma_1 u_j, \tau)`: Gelman & Hill's (2007, section
12.6) group-level regression. Each group is pulled toward **its own predicted value**
:math:`\gamma_0 + \gamma_1 u_j`, not toward one flat mean. With several group-level predictors each adds its
:math:`\gamma_p u_{pj}` to the level and to the predicted value.

:func:`group_level_regression` computes, per group: :math:`u_j`, the rows :math:`n_j`, the no-pooling estimate of
the level (no pooling leaves every group-level predictor out, ``priors.dropped_under_no_pooling``, so each
group's own intercept *is* its level), the partial-pooling level :math:`a_j` and the predicted value
:math:`\gamma_0 + \gamma_1 u_j` (posterior mean and interval); and the line :math:`\gamma_0 + \gamma_1 u` over a
grid of :math:`u` (mean and band). Every number is the level **at the reference point of the row-level
predictors** (each at 0, e.g. ``floor = 0``: a house with a basement), where the intercept is read; other
group-level predictors take each group's own value, and on the line their mean over the groups.

On the natural scale (binomial, poisson, gamma) each draw goes through the inverse link before it is summarised
(:mod:`hiermodels.results.scales`): the level is then a probability, rate or mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hiermodels.data.preparing import PreparedData, group_level_predictors
from hiermodels.errors import SpecError
from hiermodels.model import build as m
from hiermodels.model.spec import INTERCEPT
from hiermodels.results.fit_result import DEFAULT_INTERVAL_PROB, FitResult, _summaries
from hiermodels.results.scales import Scale, coefficient_transform

if TYPE_CHECKING:  # comparison.py reads the levels from here
    from hiermodels.results.comparison import PoolingComparison

# Points on the line's grid of u, from the smallest group value to the largest.
LINE_POINTS = 60


@dataclass(frozen=True)
class GroupLevelRegression:
    """The frames of Gelman & Hill's figure for one group-level predictor.

    ``groups``: one row per group: group, n, u, none, none_lower, none_upper, identified, partial,
    partial_lower, partial_upper, predicted, predicted_lower, predicted_upper (no-pooling columns NaN when no
    pooling was not fitted). ``line``: u, mean, lower, upper. ``reference`` says at which values of the other
    predictors the levels are read; ``shown_as`` what the numbers are on the chosen scale ("" = link scale or
    identity link, "probability"...); ``prob`` the intervals' probability.
    """

    predictor: str
    group: str
    groups: pd.DataFrame
    line: pd.DataFrame
    reference: str
    shown_as: str
    prob: float = DEFAULT_INTERVAL_PROB

    @property
    def value_title(self) -> str:
        """The vertical axis: what the level is, and where it is read."""
        what = f"{self.group} intercept" + (f" ({self.shown_as})" if self.shown_as else "")
        return f"{what}, {self.reference}" if self.reference else what


def numeric_group_predictors(result: FitResult) -> tuple[str, ...]:
    """The numeric group-level predictors of a partial-pooling fit that the figure can put on its horizontal axis:
    constant within every group, a common (not varying) coefficient, beside a varying intercept. Empty for any
    other fit."""
    if result.pooling != "partial" or INTERCEPT not in result.spec.varying:
        return ()
    data = result.data
    return tuple(p for p in group_level_predictors(data)
                 if data.predictor_terms.get(p) == (p,) and p not in result.spec.categorical_levels
                 and p not in result.spec.varying)


def group_level_regression(
    comparison: PoolingComparison,
    predictor: str,
    *,
    prob: float = DEFAULT_INTERVAL_PROB,
    scale: Scale = "natural",
    line_points: int = LINE_POINTS,
) -> GroupLevelRegression:
    """Each group's level against ``predictor`` (see the module docstring), from the partial-pooling fit (and
    the no-pooling fit when there is one)."""
    if "partial" not in comparison.poolings:
        raise SpecError("the group-level regression needs the partial-pooling fit: fit partial pooling (or all "
                        "three)")
    partial = comparison["partial"]
    allowed = numeric_group_predictors(partial)
    if predictor not in allowed:
        raise SpecError(
            f"{predictor!r} is not a numeric group-level predictor of this partial-pooling fit with a varying "
            f"intercept; " + (f"choose one of {', '.join(map(repr, allowed))}" if allowed else
                              "the fit has none (a predictor that is the same in every row of each group)")
        )
    data = partial.data
    group_level = [p for p in group_level_predictors(data) if p not in partial.spec.varying]
    group_values = _group_values(data, [t for p in group_level for t in data.predictor_terms[p]])
    draws = partial.draws
    gamma0 = _flat(draws[m.POPULATION_MEAN].sel({m.VARYING_DIM: INTERCEPT}).to_numpy())  # (S,)
    line_shift = np.zeros_like(gamma0)  # the other group-level terms at their mean over the groups
    for term, values in group_values.items():
        if term != predictor:
            line_shift += _flat(draws[m.COMMON].sel({m.COMMON_DIM: term}).to_numpy()) * values.mean()
    transform = coefficient_transform(partial.spec.family, INTERCEPT, scale)
    level = _summaries(transform.apply(level_draws(partial, group_level)), prob)
    predicted = _summaries(transform.apply(predicted_draws(partial, group_level)), prob)

    u = group_values[predictor]
    frame = pd.DataFrame({"group": list(data.group_labels), "n": data.group_sizes, "u": u})
    frame = frame.join(_no_pooling(comparison, prob, scale), on="group")
    for name, summary in (("partial", level), ("predicted", predicted)):
        frame[name] = summary["mean"]
        frame[f"{name}_lower"] = summary["lower"]
        frame[f"{name}_upper"] = summary["upper"]

    grid = np.linspace(u.min(), u.max(), line_points)
    slope = _flat(draws[m.COMMON].sel({m.COMMON_DIM: predictor}).to_numpy())
    band = _summaries(transform.apply((gamma0 + line_shift)[:, None] + slope[:, None] * grid[None, :]), prob)
    line = pd.DataFrame({"u": grid, "mean": band["mean"], "lower": band["lower"], "upper": band["upper"]})

    row_level = [p for p in data.predictor_terms if p not in group_level]
    reference = "at " + ", ".join(f"{p} = 0" if data.predictor_terms[p] == (p,) else f"{p} = its reference level"
                                  for p in row_level) if row_level else ""
    return GroupLevelRegression(predictor=predictor, group=partial.spec.group, groups=frame, line=line,
                                reference=reference, shown_as=transform.label, prob=prob)


def level_draws(result: FitResult, predictors: Sequence[str]) -> np.ndarray:
    """Draws (on the link scale, shape (draws, groups)) of each group's level: its intercept (its own under no or
    partial pooling, the common one under complete pooling) plus gamma_p * u_pj for each of ``predictors``
    (group-level predictors with a common coefficient; all terms of a categorical one)."""
    data = result.data
    draws = result.draws
    if INTERCEPT in m.term_split(data, result.spec)[1]:
        own = (draws[m.GROUP_COEFFICIENT].sel({m.VARYING_DIM: INTERCEPT, m.GROUP_DIM: list(data.group_labels)})
               .transpose("chain", "draw", m.GROUP_DIM).to_numpy())
        own = own.reshape(-1, own.shape[-1])
    else:
        own = np.repeat(_flat(draws[m.COMMON].sel({m.COMMON_DIM: INTERCEPT}).to_numpy())[:, None], data.n_groups,
                        axis=1)
    return own + _shift(result, predictors)


def predicted_draws(result: FitResult, predictors: Sequence[str]) -> np.ndarray:
    """Draws (link scale, (draws, groups)) of each group's predicted level under partial pooling: the population
    mean of the intercept gamma_0 plus gamma_p * u_pj for each of ``predictors``."""
    gamma0 = _flat(result.draws[m.POPULATION_MEAN].sel({m.VARYING_DIM: INTERCEPT}).to_numpy())
    return gamma0[:, None] + _shift(result, predictors)


def _shift(result: FitResult, predictors: Sequence[str]) -> np.ndarray:
    """sum_p gamma_p u_pj, draw by draw: (draws, groups)."""
    data = result.data
    values = _group_values(data, [t for p in predictors for t in data.predictor_terms[p]])
    chains, n_draws = result.draws.sizes["chain"], result.draws.sizes["draw"]
    shift = np.zeros((chains * n_draws, data.n_groups))
    for term, u in values.items():
        shift += _flat(result.draws[m.COMMON].sel({m.COMMON_DIM: term}).to_numpy())[:, None] * u[None, :]
    return shift


def _no_pooling(comparison: PoolingComparison, prob: float, scale: Scale) -> pd.DataFrame:
    """The no-pooling fit's intercept per group (its level: no pooling leaves the group-level predictors out),
    indexed by group; NaN columns when no pooling was not fitted."""
    columns = ["none", "none_lower", "none_upper", "identified"]
    if "none" not in comparison.poolings:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="group"), dtype=float)
    groups = comparison["none"].groups(prob, scale)
    own = groups[groups["term"] == INTERCEPT].set_index("group")
    return own[["mean", "lower", "upper", "identified"]].set_axis(columns, axis=1)


def _group_values(data: PreparedData, terms: list[str]) -> dict[str, np.ndarray]:
    """Each term's value in each group (the terms are constant within every group): its value in the group's
    first row."""
    first = np.empty(data.n_groups, dtype=np.int64)
    rows = np.arange(data.n_rows)
    first[data.group_index[::-1]] = rows[::-1]  # the last write for each group is its first row
    return {t: data.X[first, data.terms.index(t)] for t in terms}


def _flat(values: np.ndarray) -> np.ndarray:
    """(chain, draw) -> (chain * draw,)."""
    return values.reshape(-1)
