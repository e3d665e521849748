r"""Binomial, poisson and gamma likelihoods on per-group sums, when the linear predictor is constant in a group.

Notation as in :mod:`hiermodels.model.build`. When every design column is constant within each group (an
intercept-only model, or predictors that are properties of the group), every row of group j has the same linear
predictor :math:`\eta_j = d_j^T c_j`, with :math:`d_j` the group's design row (``design``) and :math:`c_j` its
coefficients. The row-by-row log-likelihood then depends on the rows only through a few sums per group
(:class:`FamilySums`), exactly:

binomial (``trials`` :math:`m_i`; Bernoulli: :math:`m_i = 1`)
    .. math:: \sum_{i \in j} \log \mathrm{Bin}(y_i \mid m_i, \mathrm{logit}^{-1}\eta_j)
              = S^y_j \log \mathrm{logit}^{-1}\eta_j + (S^m_j - S^y_j) \log(1 - \mathrm{logit}^{-1}\eta_j)
              + \sum_{i \in j} \log\tbinom{m_i}{y_i}
poisson (exposure :math:`e_i`, 1 without)
    .. math:: \sum_{i \in j} \log \mathrm{Pois}(y_i \mid e_i e^{\eta_j})
              = S^y_j \eta_j - S^e_j e^{\eta_j} + \sum_{i \in j} \big(y_i \log e_i - \log y_i!\big)
gamma (shape :math:`\alpha`, mean :math:`e^{\eta_j}`)
    .. math:: \sum_{i \in j} \log \mathrm{Gamma}(y_i \mid \alpha, \alpha e^{-\eta_j})
              = n_j(\alpha\log\alpha - \log\Gamma(\alpha)) - \alpha n_j \eta_j + (\alpha - 1) S^{\log y}_j
              - \alpha e^{-\eta_j} S^y_j

with :math:`n_j` the group's row count (``n``), :math:`S^y_j = \sum y_i` (``sum_y``), :math:`S^m_j` the trials or
:math:`S^e_j` the exposure summed (``sum_weight``), :math:`S^{\log y}_j = \sum \log y_i` (``sum_log_y``) and the
terms that do not involve a parameter summed over every row into one number (``constant``), so that the
log-density equals the row-by-row model's to rounding (``tests/test_grouped.py``). A gradient then costs
:math:`O(J)` instead of :math:`O(N)`: the daughters' 1,091 heights in 8 families become 8 terms.

An empty group (a padding group of :mod:`hiermodels.engine.compiled`) has every sum 0 and adds exactly 0.

Where the linear predictor varies within groups the model keeps its rows, and the same likelihood is written with
every row a cell of its own (:meth:`FamilySums.of_rows`: :math:`n = 1`, each row's :math:`y_i`, trials or
exposure, :math:`\log y_i`, and the same ``constant``), computed once instead of on every call.

The sums are written by hand rather than taken from a library: PyMC's distributions take rows, and the
exponential-family identity above is three lines per family.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy import special

from hiermodels.data.preparing import PreparedData, group_level_predictors
from hiermodels.errors import SpecError

# The families with a likelihood on group sums, and the pm.Data names of the sums.
FAMILIES = ("binomial", "poisson", "gamma")
FIELDS = ("n", "sum_y", "sum_weight", "sum_log_y", "constant", "design")


@dataclass(frozen=True, eq=False)
class FamilySums:
    """Per-group sums of one family's sufficient statistics (see the module docstring)."""

    n: np.ndarray  # (J,)
    sum_y: np.ndarray  # (J,)
    sum_weight: np.ndarray  # (J,) trials (binomial) or exposure (poisson); n otherwise
    sum_log_y: np.ndarray  # (J,) gamma only; 0 otherwise
    constant: np.ndarray  # () the parameter-free terms over every row
    design: np.ndarray  # (J, K) each group's design row; 0 for empty groups

    @classmethod
    def from_data(cls, data: PreparedData, family: str, n_groups: int | None = None) -> FamilySums:
        """The sums of ``data`` under ``family``; groups beyond the data's (up to ``n_groups``) are empty."""
        if family not in FAMILIES:
            raise SpecError(f"the grouped likelihood covers {', '.join(FAMILIES)}, not {family!r}")
        if not design_constant_within_groups(data):
            raise SpecError("the grouped likelihood needs every predictor to be constant within each group")
        J = max(n_groups or 0, data.n_groups)
        g = data.group_index

        def per_group(values: np.ndarray) -> np.ndarray:
            return np.bincount(g, weights=values, minlength=J)

        rows = cls.of_rows(data, family)
        design = np.zeros((J, data.X.shape[1]))
        first_row = np.unique(g, return_index=True)
        design[first_row[0]] = data.X[first_row[1]]
        return cls(n=np.bincount(g, minlength=J).astype(float), sum_y=per_group(rows.sum_y),
                   sum_weight=per_group(rows.sum_weight), sum_log_y=per_group(rows.sum_log_y),
                   constant=rows.constant, design=design)

    @classmethod
    def of_rows(cls, data: PreparedData, family: str) -> FamilySums:
        """Every row a cell of its own (n = 1, its own design row): the row-by-row model's likelihood
        (``method="rows"``, where the linear predictor varies within groups) in the same form.

        Why not PyMC's ``Binomial``, ``Poisson`` and ``Gamma`` there: on every call they recompute the
        parameter-free terms (log C(m, y), log y!) and check their parameters, which made a gradient of the
        cattle-disease model twice as costly (its partial-pooling fit took 2.05 s against 1.12 s in this form,
        with the same draws to the last digit)."""
        if family not in FAMILIES:
            raise SpecError(f"the grouped likelihood covers {', '.join(FAMILIES)}, not {family!r}")
        y = data.y.astype(float)
        weight = np.ones_like(y)
        log_y = np.zeros_like(y)
        if family == "binomial":
            if data.trials is not None:
                weight = data.trials.astype(float)
            # log C(m, y), as lgamma so that non-integer counts do not break it
            constant = (special.gammaln(weight + 1) - special.gammaln(y + 1) - special.gammaln(weight - y + 1)).sum()
        elif family == "poisson":
            if data.exposure is not None:
                weight = data.exposure.astype(float)
            constant = (special.xlogy(y, weight) - special.gammaln(y + 1)).sum()
        else:
            log_y = np.log(y)
            constant = 0.0
        return cls(n=np.ones_like(y), sum_y=y, sum_weight=weight, sum_log_y=log_y,
                   constant=np.asarray(float(constant)), design=data.X)


def design_constant_within_groups(data: PreparedData) -> bool:
    """Whether every design column takes one value within each group (so each group has one linear predictor):
    trivially so when no group has two rows, otherwise when every predictor is a property of the group
    (:func:`hiermodels.data.preparing.group_level_predictors`, computed once per prepared table; the intercept's
    column is constant anyway)."""
    if data.n_rows == 0 or data.group_sizes.max() <= 1:
        return True
    return set(data.predictor_terms) <= set(group_level_predictors(data))


def add_sums_data(sums: FamilySums, fields: tuple[str, ...] = FIELDS) -> dict[str, pt.TensorVariable]:
    """The sums' ``fields`` as ``pm.Data`` containers (``grouped_<field>``) of the model on the context stack
    (a row-by-row model leaves out ``design``: its rows are ``X`` already)."""
    return {name: pm.Data(f"grouped_{name}", getattr(sums, name)) for name in fields}


def sums_of(model: pm.Model) -> dict[str, pt.TensorVariable]:
    """The sums' containers of a model built with :func:`add_sums_data`, by field name."""
    return {name: model[f"grouped_{name}"] for name in FIELDS if f"grouped_{name}" in model.named_vars}


def loglik(family: str, sums: dict[str, pt.TensorVariable], eta: pt.TensorVariable,
           alpha: pt.TensorVariable | None = None) -> pt.TensorVariable:
    """The whole log-likelihood from the group sums and each group's linear predictor ``eta`` (J,)."""
    if family == "binomial":
        # log logit^{-1}(eta) = -log(1 + e^{-eta}); log(1 - logit^{-1}(eta)) = -log(1 + e^{eta})
        per_group = -sums["sum_y"] * pt.log1pexp(-eta) - (sums["sum_weight"] - sums["sum_y"]) * pt.log1pexp(eta)
    elif family == "poisson":
        per_group = sums["sum_y"] * eta - sums["sum_weight"] * pt.exp(eta)
    elif family == "gamma":
        if alpha is None:
            raise SpecError("the gamma likelihood needs its shape alpha")
        per_group = (sums["n"] * (alpha * pt.log(alpha) - pt.gammaln(alpha)) - alpha * sums["n"] * eta
                     + (alpha - 1) * sums["sum_log_y"] - alpha * pt.exp(-eta) * sums["sum_y"])
    else:
        raise SpecError(f"the grouped likelihood covers {', '.join(FAMILIES)}, not {family!r}")
    return per_group.sum() + sums["constant"]
