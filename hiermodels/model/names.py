r"""The names of model parameters, built and read in one place.

Every parameter a user sees (the population table, the CLI's text and JSON, the charts' titles) and every
prior a user sets (``--prior NAME=DIST(...)``, the Model page) has one of these names. Symbols as in
:mod:`hiermodels.model.build`; ``term`` is a column of the design matrix: ``intercept``, a numeric predictor
(``floor``), or a level of a categorical one (``county_type[rural]``).

==================  ====================  =================================================================
name                kind                  meaning
==================  ====================  =================================================================
``term``            ``coefficient``       a regression coefficient: the common :math:`\beta_k` (complete
                                          pooling, or a term that does not vary), else the population mean
                                          :math:`\mu_k` of a varying term (partial pooling)
``sd(term)``        ``group_sd``          :math:`\tau_k`, the group-level scale of a varying term (partial
                                          pooling)
``corr(a,b)``       ``correlation``       :math:`R_{ab}`, the correlation of the group effects of the varying
                                          terms a and b (partial pooling, correlated effects); reported only
``corr``            ``correlation_prior`` the LKJ prior of the whole correlation matrix :math:`R`; a prior only
``sigma``           ``sigma``             :math:`\sigma`, the residual scale (gaussian family)
``sd(log_sigma)``   ``log_sigma_sd``      :math:`\tau_\sigma`, the spread of the groups' log residual scales
                                          (gaussian, noise varying by group, partial pooling)
``alpha``           ``gamma_shape``       :math:`\alpha`, the shape of the gamma family
==================  ====================  =================================================================

Scales (``group_sd``, ``sigma``, ``log_sigma_sd``, ``gamma_shape``) are positive; coefficients are locations;
``corr`` and ``corr(a,b)`` are correlations. :mod:`hiermodels.model.spec` keeps predictors from taking a name that is
not a coefficient, so the kinds never collide.

With several grouping factors (:class:`~hiermodels.model.spec.GroupingFactor`) every group-level name carries
its factor after a bar, as lme4 prints them: ``sd(intercept|plate)``, ``corr(intercept,floor|county)``, and
``corr|county`` for the LKJ prior of that factor's correlations. With one factor the names have no bar.

A design term's name is built here too (:func:`dummy`, :func:`interaction`) and read back by
:func:`split_design_term`: a numeric predictor is its column (``floor``); a level of a categorical predictor is
``column[level]`` (``sex[M]``); an interaction term joins its parts' names with ``:`` in the order the interaction
is written, a categorical part as the level's dummy (``standLRT:schgend[girls]``, ``sex[M]:schgend[girls]``),
the product of the numeric columns and of the dummies, as lme4 and formulae name its columns.

A term may itself hold commas and brackets (a level ``[a,b]`` of a categorical predictor), so
:func:`parse` splits ``corr(a,b)`` at the one comma outside every bracket, or, given the model's terms, at the
comma that leaves a term on each side.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Literal, get_args

Kind = Literal["coefficient", "group_sd", "correlation", "correlation_prior", "sigma", "log_sigma_sd",
               "gamma_shape"]
KINDS: tuple[Kind, ...] = get_args(Kind)
Support = Literal["location", "scale", "correlation"]

SIGMA = "sigma"
GAMMA_SHAPE = "alpha"
CORRELATION_PRIOR = "corr"
# What the group-level scale of the group noise is the scale *of*.
LOG_SIGMA = "log_sigma"

_SD = ("sd(", ")")
_CORR = ("corr(", ")")
_SUPPORT: dict[Kind, Support] = {
    "coefficient": "location",
    "group_sd": "scale",
    "correlation": "correlation",
    "correlation_prior": "correlation",
    "sigma": "scale",
    "log_sigma_sd": "scale",
    "gamma_shape": "scale",
}


INTERACTION_SEPARATOR = ":"


def interaction_parts(predictor: str) -> tuple[str, ...]:
    """The columns a predictor is written with, in order: ``standLRT:schgend`` -> ("standLRT", "schgend"); a
    plain column is its one part."""
    return tuple(predictor.split(INTERACTION_SEPARATOR))


def dummy(column: str, level: str) -> str:
    """``sex[M]``: the term of one level (not the reference) of a categorical predictor, its 0/1 indicator."""
    return f"{column}[{level}]"


def interaction(parts: Sequence[tuple[str, str | None]]) -> str:
    """The design term of one cell of a product of columns, each part ``(column, level)`` with level None for a
    numeric column: ``[("standLRT", None), ("schgend", "girls")]`` -> ``standLRT:schgend[girls]``. One part is
    the column itself or its :func:`dummy`, so a main effect is the one-part case."""
    return INTERACTION_SEPARATOR.join(column if level is None else dummy(column, level) for column, level in parts)


def split_design_term(term: str, columns: Sequence[str],
                      categorical: Mapping[str, str] | Collection[str]) -> tuple[tuple[str, str | None], ...] | None:
    """Read :func:`interaction` back: the ``(column, level)`` parts of ``term`` when it is a term of the predictor
    made of ``columns`` (its parts in order; a categorical column, one of ``categorical``, as a level), else None.

    A level may hold ``]`` or ``:``, so each way of cutting the name is tried; the first that reproduces ``term``
    is taken (two cuts can only both fit with levels written to look like another column's name)."""

    def cut(position: int, index: int) -> tuple[tuple[str, str | None], ...] | None:
        column = columns[index]
        last = index == len(columns) - 1
        if not term.startswith(column, position):
            return None
        after = position + len(column)
        if column not in categorical:
            if last:
                return ((column, None),) if after == len(term) else None
            if not term.startswith(INTERACTION_SEPARATOR, after):
                return None
            rest = cut(after + len(INTERACTION_SEPARATOR), index + 1)
            return None if rest is None else ((column, None), *rest)
        if not term.startswith("[", after):
            return None
        if last:
            return ((column, term[after + 1:-1]),) if term.endswith("]") and len(term) > after + 1 else None
        close = term.find("]" + INTERACTION_SEPARATOR, after + 1)
        while close != -1:
            rest = cut(close + 1 + len(INTERACTION_SEPARATOR), index + 1)
            if rest is not None:
                return ((column, term[after + 1:close]), *rest)
            close = term.find("]" + INTERACTION_SEPARATOR, close + 1)
        return None

    return cut(0, 0) if columns else None


def _with_factor(inner: str, factor: str | None) -> str:
    return inner if factor is None else f"{inner}|{factor}"


def group_sd(term: str, factor: str | None = None) -> str:
    """``sd(term)``: the group-level scale of a varying term; ``sd(term|factor)`` with several factors."""
    return f"{_SD[0]}{_with_factor(term, factor)}{_SD[1]}"


def correlation_prior(factor: str | None = None) -> str:
    """``corr`` (one factor) or ``corr|factor``: the name of the LKJ prior of a factor's correlation matrix."""
    return _with_factor(CORRELATION_PRIOR, factor)


def split_factor(name: str) -> tuple[str, str | None]:
    """``sd(x|plate)`` -> ``("sd(x)", "plate")``; ``corr|plate`` -> ``("corr", "plate")``; a name without a
    factor -> ``(name, None)``. The bar is the last one inside the parentheses (a term may not end in one)."""
    if name.startswith(CORRELATION_PRIOR + "|") and len(name) > len(CORRELATION_PRIOR) + 1:
        return CORRELATION_PRIOR, name[len(CORRELATION_PRIOR) + 1:]
    for wrapper in (_SD, _CORR):
        inner = _inside(name, wrapper)
        if inner is not None and "|" in inner:
            head, _, factor = inner.rpartition("|")
            if head and factor:
                return f"{wrapper[0]}{head}{wrapper[1]}", factor
    return name, None


LOG_SIGMA_SD = group_sd(LOG_SIGMA)


def correlation(a: str, b: str, factor: str | None = None) -> str:
    """``corr(a,b)``: the correlation of the group effects of varying terms a and b (no space after the comma);
    ``corr(a,b|factor)`` with several factors."""
    return f"{_CORR[0]}{_with_factor(f'{a},{b}', factor)}{_CORR[1]}"


def _inside(name: str, wrapper: tuple[str, str]) -> str | None:
    """The text between ``wrapper``'s opening and closing, or None when ``name`` is not wrapped in it."""
    start, end = wrapper
    if name.startswith(start) and name.endswith(end) and len(name) > len(start) + len(end):
        return name[len(start):-len(end)]
    return None


def _split_pair(inner: str, terms: Collection[str] | None) -> tuple[str, str]:
    commas = [i for i, c in enumerate(inner) if c == ","]
    if terms is not None:
        fits = [i for i in commas if inner[:i] in terms and inner[i + 1:] in terms]
        if len(fits) == 1:
            return inner[:fits[0]], inner[fits[0] + 1:]
        raise ValueError(f"corr({inner}) does not name two of the terms {', '.join(map(repr, terms))}")
    depth, outside = 0, []
    for i, c in enumerate(inner):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "," and depth == 0:
            outside.append(i)
    if len(outside) != 1:
        raise ValueError(f"cannot tell the two terms of corr({inner}) apart: pass the model's terms to parse()")
    return inner[:outside[0]], inner[outside[0] + 1:]


def parse(name: str, terms: Collection[str] | None = None) -> tuple[Kind, tuple[str, ...]]:
    """The kind of a parameter name (see the module docstring) and the terms it is about.

    ``intercept`` -> ``("coefficient", ("intercept",))``; ``sd(floor)`` -> ``("group_sd", ("floor",))``;
    ``corr(intercept,floor)`` -> ``("correlation", ("intercept", "floor"))``; ``sigma``, ``alpha``, ``corr`` and
    ``sd(log_sigma)`` -> their kind and ``()``. Any other name is a coefficient (a term). ``terms`` (the
    model's) settle which comma of a ``corr(a,b)`` separates the two terms; without them the one comma outside
    brackets does, and a name with no such single comma is a ValueError. A factor (``|plate``) is set aside
    (:func:`split_factor`).
    """
    name, _ = split_factor(name)
    if name == SIGMA:
        return "sigma", ()
    if name == GAMMA_SHAPE:
        return "gamma_shape", ()
    if name == CORRELATION_PRIOR:
        return "correlation_prior", ()
    if name == LOG_SIGMA_SD:
        return "log_sigma_sd", ()
    term = _inside(name, _SD)
    if term is not None:
        return "group_sd", (term,)
    pair = _inside(name, _CORR)
    if pair is not None:
        return "correlation", _split_pair(pair, terms)
    return "coefficient", (name,)


def kind(name: str) -> Kind:
    """The kind alone of :func:`parse` (never raises: the terms of ``corr(a,b)`` are not split)."""
    name, _ = split_factor(name)
    if name not in (SIGMA, GAMMA_SHAPE, CORRELATION_PRIOR, LOG_SIGMA_SD) and _inside(name, _CORR) is not None:
        return "correlation"
    return parse(name)[0]


def support(name: str) -> Support:
    """Whether a parameter is a location (a coefficient), a scale (positive) or a correlation."""
    return _SUPPORT[kind(name)]


def is_coefficient(name: str) -> bool:
    """Whether ``name`` is a regression coefficient (a term), rather than a scale or a correlation."""
    return kind(name) == "coefficient"


def is_group_sd(name: str) -> bool:
    """Whether ``name`` is ``sd(term)``, the group-level scale of a varying term (not ``sd(log_sigma)``)."""
    return kind(name) == "group_sd"


def is_group_level_scale(name: str) -> bool:
    """``sd(term)`` or ``sd(log_sigma)``: a scale of group-level effects, one that a joint mode can collapse."""
    return kind(name) in ("group_sd", "log_sigma_sd")
