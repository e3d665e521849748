r"""The scale a person reads a coefficient on: the outcome's own (natural) scale, or the model's link scale.

The families with a link (:mod:`hiermodels.model.build`) have a linear predictor :math:`\eta` on the link scale:
binomial :math:`\eta = \mathrm{logit}\,p`, poisson :math:`\eta = \log \lambda` (per unit of exposure), gamma
:math:`\eta = \log \mathrm{E}[y]`. Nobody reads a batting average as −0.88, so every estimate is shown on the
natural scale by default:

- the **intercept** (a group's own, a population mean, a common one) through the inverse link
  :math:`g^{-1}`: a probability (logistic), a rate per unit of exposure (exp), a mean (exp). With other
  predictors in the model it is the value at the reference point (every other term 0);
- a **slope** :math:`\beta` as the factor it multiplies by per unit of its predictor, :math:`e^{\beta}`: an
  odds ratio (binomial), a rate ratio (poisson), a ratio of means (gamma);
- scales (``sd(term)``, ``sigma``, ``alpha``) and correlations have no natural-scale counterpart and stay as
  they are (a group-level sd is on the link scale: say so where it is shown).

Gaussian and known-SE models have the identity link: both scales are the same.

The transforms act on **draws**: a summary (mean, interval) is taken after transforming each draw, so an
interval's ends are the quantiles of the transformed draws. (For a monotone transform the quantiles commute,
the mean does not: :math:`\mathrm{E}[g^{-1}(\eta)] \ne g^{-1}(\mathrm{E}[\eta])`.) A mode (the MAP) is a point,
and is transformed as a point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from scipy import special

from hiermodels.model.spec import INTERCEPT, Family

Scale = Literal["natural", "link"]
SCALES: tuple[Scale, ...] = get_args(Scale)
SCALE_LABELS: dict[Scale, str] = {"natural": "the outcome's scale", "link": "the link scale"}

_IDENTITY_FAMILIES = ("gaussian", "known_se")
# What an intercept is on the natural scale, and what a slope's exp() is, per family with a link.
_INTERCEPT_NAMES = {"binomial": "probability", "poisson": "rate per unit of exposure", "gamma": "mean"}
_SLOPE_NAMES = {"binomial": "odds ratio", "poisson": "rate ratio", "gamma": "ratio of means"}
_LINK_NAMES = {"binomial": "log-odds", "poisson": "log rate", "gamma": "log mean"}


def has_link(family: Family) -> bool:
    """Whether the family's link is not the identity (so that the natural and link scales differ)."""
    return family not in _IDENTITY_FAMILIES


def inverse_link(family: Family, eta: np.ndarray) -> np.ndarray:
    """:math:`g^{-1}(\\eta)`: the probability (binomial), rate (poisson), mean (gamma), or eta itself."""
    if family == "binomial":
        return special.expit(eta)
    if family in ("poisson", "gamma"):
        return np.exp(eta)
    return np.asarray(eta, dtype=float)


@dataclass(frozen=True)
class Transform:
    """How one coefficient is shown: ``apply`` maps link-scale values (draws or a point) to the shown ones."""

    label: str  # what the shown number is, e.g. "probability", "odds ratio", or "" when nothing changes
    apply: Callable[[np.ndarray], np.ndarray]

    @property
    def identity(self) -> bool:
        return not self.label


_IDENTITY = Transform("", lambda values: np.asarray(values, dtype=float))


def coefficient_transform(family: Family, term: str, scale: Scale = "natural") -> Transform:
    """The transform of a regression coefficient (``term``: ``intercept``, a predictor or a dummy) to ``scale``."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if scale == "link" or not has_link(family):
        return _IDENTITY
    if term == INTERCEPT:
        return Transform(_INTERCEPT_NAMES[family], lambda values: inverse_link(family, np.asarray(values, float)))
    return Transform(_SLOPE_NAMES[family], lambda values: np.exp(np.asarray(values, dtype=float)))


def scale_note(family: Family, scale: Scale) -> str:
    """One sentence saying which scale the estimates are on, for captions."""
    if not has_link(family):
        return ""
    if scale == "link":
        return (f"Estimates are on the link scale ({_LINK_NAMES[family]}), as the model writes them: the intercept "
                "and slopes add up to the linear predictor.")
    return (f"Estimates are on the outcome's scale: the intercept as a {_INTERCEPT_NAMES[family]} (at the reference "
            f"point of any other predictors), slopes as the {_SLOPE_NAMES[family]} per unit; group-level sds stay on "
            f"the link scale ({_LINK_NAMES[family]}). Each draw is transformed before it is summarised.")
