r"""Numbers behind the charts: every function here *computes* and returns a tidy DataFrame.

:mod:`hiermodels.charts` *draws* from these frames and never touches a posterior. Notation as in
:mod:`hiermodels.model.build`: group j, varying term k, population mean :math:`\mu_k` (``mu``), group-level scale
:math:`\tau_k` (``tau``, shown as ``sd(k)``), group coefficient :math:`b_{jk}` (``b``), common coefficient
:math:`\beta_k` (``beta``), correlation matrix :math:`R` (``corr``). A draw is one (chain, draw) pair of the
posterior, flattened chain by chain into :math:`s = 1..S`.

Posterior mean against joint mode (:func:`map_vs_mean_table`)
    The MAP maximises the joint density of *all* parameters. Under partial pooling the density of the centred
    model, :math:`\prod_j \mathcal N(b_{jk} \mid \mu_k, \tau_k)`, grows without bound as :math:`\tau_k \to 0`
    with every :math:`b_{jk} = \mu_k`, so the mode can sit at the neck of the funnel while almost no posterior
    *mass* is there. A scale row is ``collapsed`` when its MAP is below ``COLLAPSE_RATIO`` (1%) of its posterior
    mean; the group rows of that term inherit the flag (their MAPs all equal :math:`\mu_k`).
The funnel (:func:`funnel_draws`)
    Draws of :math:`(\log\tau_k,\; b_{jk} - \mu_k)`. Given :math:`\tau_k` the deviation is roughly
    :math:`\mathcal N(0, \tau_k)`, so the cloud narrows to a neck as :math:`\log \tau_k \to -\infty`.
Population ellipses (:func:`population_ellipse`)
    For two varying terms x, y at the posterior means :math:`\bar\mu, \bar\tau, \bar\rho` (:math:`\bar\rho = 0`
    when the effects are independent), :math:`\Sigma = \begin{pmatrix}\bar\tau_x^2 & \bar\rho\bar\tau_x\bar\tau_y
    \\ \cdot & \bar\tau_y^2\end{pmatrix}`. The ellipse holding probability p of that bivariate normal is
    :math:`\{\bar\mu + r_p A u : |u| = 1\}` with :math:`AA^T = \Sigma` and Mahalanobis radius
    :math:`r_p = \sqrt{\chi^2_2(p)} = \sqrt{-2\log(1-p)}`.
Predictions (:func:`prediction_draws`)
    At the design row x of the case whose predictor columns take ``predictor_values``
    (:func:`~hiermodels.data.preparing.design_row`: dummies and interaction products follow from the columns, a
    column not given is 0 or its reference level), draw s gives
    :math:`\eta^{(s)} = \sum_{k\in C}\beta^{(s)}_k x_k + \sum_{k\in V} b^{(s)}_k x_k`. An *existing* group uses
    its own :math:`b^{(s)}_{jk}`; a *new* group draws :math:`b^{(s)} = \mu^{(s)} + \tau^{(s)} \odot z` (or
    :math:`\mu^{(s)} + \mathrm{diag}(\tau^{(s)}) R^{(s)\,1/2} z` when correlated), :math:`z \sim \mathcal N(0, I)`.
    The **group mean** is :math:`g^{-1}(\eta)` (identity for gaussian/known_se, logistic for binomial (a
    probability), exp for poisson (per unit of exposure) and gamma); a **new observation** adds the
    likelihood's noise with the same draw's :math:`\sigma` or :math:`\alpha`.
The funnel's shape (:func:`funnel_shape`)
    Whether the cloud *has* a neck depends on the fit: it narrows only where the posterior of :math:`\tau_k` reaches
    towards 0. Split the draws at the quartiles of :math:`\tau_k` and compare the root mean square of the deviation
    (its spread about 0, where the neck closes) in the lowest quarter with that in the highest:
    :math:`r = \mathrm{rms}(b - \mu \mid \tau \le q_{1/4}) / \mathrm{rms}(b - \mu \mid \tau \ge q_{3/4})`. A funnel
    has :math:`r \approx` the ratio of typical :math:`\tau` in the two quarters, far below 1; when the data pin
    :math:`\tau` away from 0 the quarters' sds differ little and so do the spreads: a round cloud. Below
    ``NECK_RATIO`` (0.5) the cloud is called a neck, from 0.5 to ``ROUND_RATIO`` (0.65) it narrows a little, above
    it is round. Real fits (QUICK_SAMPLER, each sample's smallest group): eight schools 0.10 (a neck), radon 0.76
    and sleepstudy 0.80-0.88 (round clouds on the chart).
Shrinkage against what (:func:`shrinkage_axis`)
    How far partial pooling moves group j depends on how precisely its own data fix its estimate: roughly the
    pooling factor is :math:`v_j / (v_j + \tau^2)`, with :math:`v_j` the variance of the no-pooling estimate. When
    group sizes differ, :math:`v_j \propto 1/n_j` and the horizontal axis is n on a log scale. When every group has
    the same n, n says nothing: the axis is then the width of the no-pooling interval if the widths differ by at
    least ``EQUAL_WIDTH_RATIO`` (1.5; known standard errors, or a binomial's :math:`p(1-p)`), and otherwise the
    rank of the no-pooling estimate (every group is equally certain, so only its distance from the population
    mean decides how far it moves). Nothing is jittered: a position always means a difference that is there.
Against a held-out truth (:func:`truth_comparison`, :func:`truth_errors`)
    Where a data set carries each group's true value :math:`\theta_j` (:class:`hiermodels.data.datasets.Truth`), each
    pooling's estimate :math:`\hat\theta_j` (posterior mean of the term, on the truth's natural scale) is judged by
    its total squared error :math:`\sum_j (\hat\theta_j - \theta_j)^2` and mean squared error (divided by the
    number of groups J). Efron & Morris (1975): the raw averages of 18 batters after 45 at-bats have a total
    squared error of 0.075 against their rest-of-season averages; shrunken averages do better.
Convergence (:func:`trace_draws`, :func:`rank_table`)
    Rank plots (Vehtari et al. 2021): rank all draws of one scalar pooled over chains, then histogram each
    chain's ranks; well-mixed chains give flat histograms of height draws / bins.

Every function thins *deterministically* (every k-th draw, :func:`thinned_indices`) so that a chart's inline
data stays under Altair's 5,000-row limit, and random numbers come from a generator seeded with the fit's
``spec.sampler.seed``, so the same fit always gives the same frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from hiermodels.data.preparing import PreparedData, design_row
from hiermodels.errors import SpecError
from hiermodels.model import build as m
from hiermodels.model import names
from hiermodels.model.spec import INTERCEPT, POOLING_LABELS, Pooling
from hiermodels.results.fit_result import (
    COLLAPSE_RATIO,
    DEFAULT_INTERVAL_PROB,
    FitResult,
    ParameterRef,
    draws_of,
    population_parameters,
    value_at,
)
from hiermodels.results.scales import Scale, inverse_link

# Defaults chosen so that each chart's inline data stays well under Altair's 5,000 rows.
MAX_SCALE_POINTS = 4000
MAX_FUNNEL_POINTS = 2000
MAX_TRACE_POINTS = 4000
# Per (target, quantity) series: at most 4 series, so at most 4,000 rows.
MAX_PREDICTION_POINTS = 1000

# Funnel shapes (module docstring): rms ratio below NECK_RATIO is a neck, at or above ROUND_RATIO a round cloud.
NECK_RATIO = 0.5
ROUND_RATIO = 0.65
MIN_FUNNEL_DRAWS = 8
# No-pooling interval widths within this factor of each other count as equal (Monte Carlo noise is far smaller;
# a binomial's p(1-p) over averages .15-.40 gives 1.35).
EQUAL_WIDTH_RATIO = 1.5
TRUTH_AXIS = "truth"
# The shrinkage table's ``raw`` column (when the model has an intercept only): each group's own data summary,
# e.g. hits / at-bats, Efron & Morris's "raw average". Judged against the truth beside the poolings.
RAW_LABEL = "raw (the group's own data)"

TARGET_EXISTING = "existing group"
TARGET_NEW = "new group"
QUANTITY_MEAN = "group mean"
QUANTITY_OBSERVATION = "new observation"


class ScaleEstimates(NamedTuple):
    """The joint mode (MAP) and posterior mean of one group-level scale ``sd(term)``."""

    name: str
    map: float
    mean: float

    @property
    def collapsed(self) -> bool:
        return bool(np.isfinite(self.map) and self.map < COLLAPSE_RATIO * self.mean)


# ------------------------------------------------------------------------------------------------ helpers
def thinned_indices(n: int, max_points: int) -> np.ndarray:
    """Every k-th index of ``range(n)``, with the smallest k that keeps at most ``max_points`` of them."""
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    step = max(1, math.ceil(n / max_points))
    return np.arange(0, n, step)


def _flat(values: np.ndarray) -> np.ndarray:
    """(chain, draw, ...) -> (chain * draw, ...), chain by chain."""
    return values.reshape(-1, *values.shape[2:])


def _posterior(result: FitResult) -> xr.Dataset:
    return result.draws


def _varying_terms(result: FitResult) -> tuple[str, ...]:
    return m.term_split(result.data, result.spec)[1]


def _check_partial_term(result: FitResult, term: str, what: str) -> None:
    if result.pooling != "partial":
        raise SpecError(
            f"{what} needs a partial-pooling fit, but this one is {result.pooling!r}: only partial pooling "
            "learns a group-level scale"
        )
    varying = _varying_terms(result)
    if term not in varying:
        raise SpecError(f"{term!r} does not vary by group in this model; choose one of {', '.join(varying)}")


def _check_group(result: FitResult, group: str) -> None:
    if group not in result.data.group_labels:
        shown = ", ".join(repr(g) for g in result.data.group_labels[:8])
        more = result.data.n_groups - 8
        raise SpecError(f"there is no group {group!r}; the groups are {shown}" + (f" and {more} more" if more > 0
                                                                                    else ""))


def _map_of(result: FitResult, ref: ParameterRef) -> float:
    if ref.var not in result.map_point:
        return float("nan")
    return value_at(result.map_point, result.coords, ref, result.var_dims.get(ref.var, ()))


def _term_of(ref: ParameterRef) -> str | None:
    coords = dict(ref.coords)
    if ref.kind == "correlation":
        return None
    return coords.get(m.VARYING_DIM, coords.get(m.COMMON_DIM))


def _scale_ref(term: str) -> ParameterRef:
    return ParameterRef(names.group_sd(term), m.GROUP_SD, ((m.VARYING_DIM, term),), "scale")


def _population_ref(result: FitResult, name: str) -> ParameterRef:
    refs = population_parameters(result.spec, result.data)
    for ref in refs:
        if ref.name == name:
            return ref
    raise SpecError(f"no population parameter {name!r} in this fit; choose one of {', '.join(r.name for r in refs)}")


# ------------------------------------------------------------------------------------------------ MAP vs mean
def map_vs_mean_table(result: FitResult, prob: float = DEFAULT_INTERVAL_PROB, scale: Scale = "link") -> pd.DataFrame:
    """Posterior mean (with its equal-tailed interval) beside the MAP, for every population parameter and every
    group coefficient of a varying term.

    Columns: level (``"population"`` / ``"group"``), name (the parameter name, or the group label), term (the
    term a row is about; empty for ``corr(...)``, ``sigma``...), kind (location, scale, correlation, group),
    mean, lower, upper, map, collapsed (see the module docstring). The MAP is NaN where the fit has none.
    """
    population = result.population(prob, scale)
    term_of = {ref.name: _term_of(ref) for ref in population_parameters(result.spec, result.data)}
    rows = pd.DataFrame({
        "level": "population",
        "name": population["name"],
        "term": population["name"].map(term_of),
        "kind": population["kind"],
        "mean": population["mean"],
        "lower": population["lower"],
        "upper": population["upper"],
        "map": population["map"],
    })
    is_scale = rows["name"].map(names.is_group_level_scale).astype(bool)
    with np.errstate(invalid="ignore"):
        rows["collapsed"] = is_scale & (rows["map"] < COLLAPSE_RATIO * rows["mean"]).fillna(False)
    collapsed_terms = {t for t, c in zip(rows["term"], rows["collapsed"], strict=True) if c and t is not None}

    groups = result.groups(prob, scale)
    groups = groups[groups["varies"]]
    group_rows = pd.DataFrame({
        "level": "group",
        "name": groups["group"],
        "term": groups["term"],
        "kind": "group",
        "mean": groups["mean"],
        "lower": groups["lower"],
        "upper": groups["upper"],
        "map": groups["map"],
        "collapsed": groups["term"].isin(collapsed_terms),
    })
    table = pd.concat([rows, group_rows], ignore_index=True)
    table["collapsed"] = table["collapsed"].astype(bool)
    return table


# ------------------------------------------------------------------------------------------------ group scale
def scale_draws(result: FitResult, term: str, max_points: int = MAX_SCALE_POINTS) -> pd.DataFrame:
    """Posterior draws of the group-level scale ``sd(term)`` (column ``value``), every k-th draw kept."""
    _check_partial_term(result, term, "the group-level scale")
    values = _flat(draws_of(_posterior(result), _scale_ref(term)))
    return pd.DataFrame({"value": values[thinned_indices(values.size, max_points)]})


def scale_estimates(result: FitResult, term: str) -> ScaleEstimates:
    """MAP and posterior mean (over all draws, not the thinned ones) of ``sd(term)``."""
    _check_partial_term(result, term, "the group-level scale")
    ref = _scale_ref(term)
    return ScaleEstimates(ref.name, _map_of(result, ref), float(draws_of(_posterior(result), ref).mean()))


# ------------------------------------------------------------------------------------------------ funnel
def funnel_draws(result: FitResult, term: str, group: str, max_points: int = MAX_FUNNEL_POINTS) -> pd.DataFrame:
    """Draws of ``sd(term)`` against group ``group``'s deviation ``b[group, term] - mu[term]``.

    Columns: log_sd, sd, deviation, divergent (whether the sampler diverged at that draw), term, group.
    """
    _check_partial_term(result, term, "the funnel")
    _check_group(result, group)
    posterior = _posterior(result)
    tau = _flat(draws_of(posterior, _scale_ref(term)))
    b = _flat(posterior[m.GROUP_COEFFICIENT].sel({m.GROUP_DIM: group, m.VARYING_DIM: term}).to_numpy())
    mu = _flat(posterior[m.POPULATION_MEAN].sel({m.VARYING_DIM: term}).to_numpy())
    divergent = _divergent(result, tau.size)
    keep = thinned_indices(tau.size, max_points)
    with np.errstate(divide="ignore"):
        log_sd = np.log(tau[keep])
    return pd.DataFrame({
        "log_sd": log_sd,
        "sd": tau[keep],
        "deviation": (b - mu)[keep],
        "divergent": divergent[keep],
        "term": term,
        "group": group,
    })


def funnel_map_point(result: FitResult, term: str, group: str) -> dict[str, float] | None:
    """The MAP in funnel coordinates (keys sd, log_sd, deviation), or None when the fit has no MAP."""
    _check_partial_term(result, term, "the funnel")
    _check_group(result, group)
    coords = ((m.VARYING_DIM, term),)
    sd = _map_of(result, _scale_ref(term))
    b = _map_of(result, ParameterRef(term, m.GROUP_COEFFICIENT, ((m.GROUP_DIM, group), *coords)))
    mu = _map_of(result, ParameterRef(term, m.POPULATION_MEAN, coords))
    if not np.all(np.isfinite([sd, b, mu])):
        return None
    return {"sd": sd, "log_sd": math.log(sd) if sd > 0 else -math.inf, "deviation": b - mu}


def _divergent(result: FitResult, n: int) -> np.ndarray:
    if "sample_stats" in result.posterior.children:
        stats = result.posterior["sample_stats"].to_dataset()
        if "diverging" in stats:
            flags = stats["diverging"].to_numpy().astype(bool).reshape(-1)
            if flags.size == n:
                return flags
    return np.zeros(n, dtype=bool)


# ------------------------------------------------------------------------------------------------ ellipses
def population_ellipse(
    result: FitResult,
    x_term: str,
    y_term: str,
    probs: tuple[float, ...] = (0.5, 0.9),
    n_points: int = 100,
) -> pd.DataFrame:
    """Contours of the population distribution of two varying terms at posterior-mean mu, tau and correlation.

    Columns: prob, order (0..n_points-1 along the closed curve; the last point repeats the first), x, y.
    """
    for term in (x_term, y_term):
        _check_partial_term(result, term, "the population distribution")
    if x_term == y_term:
        raise SpecError("choose two different varying terms for the two axes")
    if not all(0 < p < 1 for p in probs):
        raise ValueError(f"probabilities must lie strictly between 0 and 1, got {probs}")
    posterior = _posterior(result)
    mu = np.array([float(posterior[m.POPULATION_MEAN].sel({m.VARYING_DIM: t}).mean()) for t in (x_term, y_term)])
    tau = np.array([float(posterior[m.GROUP_SD].sel({m.VARYING_DIM: t}).mean()) for t in (x_term, y_term)])
    rho = 0.0
    if result.spec.correlated and m.CORRELATION in posterior:
        rho = float(posterior[m.CORRELATION].sel({m.VARYING_DIM: x_term, f"{m.VARYING_DIM}_2": y_term}).mean())
    cov = np.array([[tau[0] ** 2, rho * tau[0] * tau[1]], [rho * tau[0] * tau[1], tau[1] ** 2]])
    root = _matrix_root(cov)
    angle = np.linspace(0.0, 2 * np.pi, n_points)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    frames = []
    for p in probs:
        radius = math.sqrt(-2.0 * math.log1p(-p))  # sqrt of the chi-square(2) quantile at p
        xy = mu[:, None] + radius * root @ circle
        frames.append(pd.DataFrame({"prob": p, "order": np.arange(n_points), "x": xy[0], "y": xy[1]}))
    return pd.concat(frames, ignore_index=True)


def _matrix_root(cov: np.ndarray) -> np.ndarray:
    """A with A A^T = cov for symmetric positive semi-definite matrices (stacked on leading axes), via eigh."""
    values, vectors = np.linalg.eigh(cov)
    return vectors * np.sqrt(np.clip(values, 0.0, None))[..., None, :]


# ------------------------------------------------------------------------------------------------ predictions
def prediction_draws(
    result: FitResult,
    group: str | None,
    predictor_values: Mapping[str, float | str] | None = None,
    max_points: int = MAX_PREDICTION_POINTS,
    factor_groups: Mapping[str, str | None] | None = None,
) -> pd.DataFrame:
    """Posterior predictions for an existing group and for a new, unseen group.

    ``group`` is a group of the first grouping factor. With several factors, ``factor_groups`` says which group of
    each further factor the prediction is for: a label (a known group: its effect u is added, draw by draw), or
    None, a new group of that factor (partial pooling: u ~ N(0, Sigma_f) drawn per draw, so a new student rating
    a known lecturer is ``group="lecturer 7", factor_groups={"s": None}``). A factor left out is a new group
    under partial pooling and its average group (u = 0) under no pooling, where a new group cannot be predicted.

    Columns: target (``"existing group"`` / ``"new group"``), group (the label, or None for the new group),
    quantity (``"group mean"`` / ``"new observation"``), value. At most ``max_points`` draws per (target,
    quantity); see the module docstring for the maths.

    ``group=None`` gives the new group only. ``predictor_values`` maps the model's predictor columns
    (:meth:`PreparedData.predictor_columns`) to a number (numeric) or a level (categorical), never design terms: an
    interaction ``x:g[l]`` or a dummy ``g[l]`` follows from the columns (:func:`design_row`). A column not given is
    0 or its reference level, so the default is the intercept's case. Under **no pooling** there is no
    population to draw a new group from: only the existing group's rows are returned (and ``group=None`` is an
    error). Under **complete pooling** every group shares the
    coefficients, so the new group's rows equal the existing group's. Binomial models give the probability only
    (no "new observation" rows); poisson group means are per unit of exposure; known_se new observations use
    the existing group's own standard error, and the mean of all standard errors for a new group.
    """
    spec, data = result.spec, result.data
    if group is not None:
        _check_group(result, group)
    elif spec.pooling == "none":
        raise SpecError(
            "under no pooling each group has its own coefficients and nothing is learned about groups in general, "
            "so a new group cannot be predicted: choose an existing group, or fit with partial pooling"
        )
    x = design_row(data, predictor_values)
    posterior = _posterior(result)
    n_draws = posterior.sizes["chain"] * posterior.sizes["draw"]
    keep = thinned_indices(n_draws, max_points)
    rng = np.random.default_rng(spec.sampler.seed)

    def flat(var: str) -> np.ndarray:
        return _flat(posterior[var].to_numpy())[keep]

    common, varying = m.term_split(data, spec)
    eta_common = np.zeros(keep.size)
    if common:
        beta = flat(m.COMMON)
        eta_common = beta @ np.array([x[data.terms.index(t)] for t in common])
    x_varying = np.array([x[data.terms.index(t)] for t in varying])
    eta_common = eta_common + _further_factor_effects(result, x, factor_groups or {}, flat, rng)

    frames = []
    existing_eta = None
    if group is not None:
        j = data.group_labels.index(group)
        existing_eta = eta_common + (flat(m.GROUP_COEFFICIENT)[:, j, :] @ x_varying if varying else 0.0)
        frames += _outcome_frames(result, existing_eta, rng, keep, TARGET_EXISTING, group, j)
    if spec.pooling == "complete":
        if existing_eta is not None:
            frames += [f.assign(target=TARGET_NEW, group=None) for f in list(frames)]
        else:
            frames += _outcome_frames(result, eta_common, rng, keep, TARGET_NEW, None, None)
    elif spec.pooling == "partial":
        mu, tau = flat(m.POPULATION_MEAN), flat(m.GROUP_SD)
        z = rng.standard_normal(mu.shape)
        if spec.correlated:
            root = _matrix_root(flat(m.CORRELATION))
            z = np.einsum("skl,sl->sk", root, z)
        b_new = mu + tau * z
        frames += _outcome_frames(result, eta_common + b_new @ x_varying, rng, keep, TARGET_NEW, None, None)
    table = pd.concat(frames, ignore_index=True)
    return table[["target", "group", "quantity", "value"]]


def _further_factor_effects(result: FitResult, x: np.ndarray, factor_groups: Mapping[str, str | None], flat,
                            rng: np.random.Generator) -> np.ndarray | float:
    """Each kept draw's sum over the further grouping factors of x . u (see :func:`prediction_draws`)."""
    spec, data = result.spec, result.data
    unknown = [name for name in factor_groups if name not in result.factor_names[1:]]
    if unknown:
        further = ", ".join(result.factor_names[1:]) or "none"
        raise SpecError(f"{', '.join(map(repr, unknown))} is not a further grouping factor of this model "
                        f"(those are: {further})")
    if spec.pooling == "complete":
        return 0.0
    total: np.ndarray | float = 0.0
    for number, (factor, factor_data) in enumerate(zip(spec.factors, data.factors, strict=True), start=1):
        x_factor = np.array([x[data.terms.index(t)] for t in data.terms_of(factor.varying)])
        label = factor_groups.get(factor.name, None)
        if label is not None:
            if label not in factor_data.labels:
                raise SpecError(f"{label!r} is not a group of {factor.name!r}")
            effects = flat(m.factor_name(m.GROUP_COEFFICIENT, number))[:, factor_data.labels.index(label), :]
            total = total + effects @ x_factor
        elif spec.pooling == "partial":
            tau = flat(m.factor_name(m.GROUP_SD, number))
            z = rng.standard_normal(tau.shape)
            if factor.correlated:
                z = np.einsum("skl,sl->sk", _matrix_root(flat(m.factor_name(m.CORRELATION, number))), z)
            total = total + (tau * z) @ x_factor
        elif factor.name in factor_groups:
            raise SpecError(f"under no pooling nothing is learned about the groups of {factor.name!r} in general, "
                            "so a new one cannot be predicted: choose one of its groups")
    return total


def _outcome_frames(
    result: FitResult,
    eta: np.ndarray,
    rng: np.random.Generator,
    keep: np.ndarray,
    target: str,
    group: str | None,
    j: int | None,
) -> list[pd.DataFrame]:
    """The group mean g^-1(eta) and a new observation, for one target."""
    spec, data = result.spec, result.data
    posterior = _posterior(result)

    def flat(var: str) -> np.ndarray:
        return _flat(posterior[var].to_numpy())[keep]

    family = spec.family
    mean = inverse_link(family, eta)
    if family == "binomial":
        observation = None
    elif family in ("poisson", "gamma"):
        if family == "poisson":
            observation = rng.poisson(mean).astype(float)
        else:
            alpha = flat(m.GAMMA_SHAPE)
            observation = rng.gamma(shape=alpha, scale=mean / alpha)
    elif family == "known_se":
        assert data.se is not None
        se = float(data.se[data.group_index == j].mean()) if j is not None else float(data.se.mean())
        observation = rng.normal(mean, se)
    else:  # gaussian
        observation = rng.normal(mean, _residual_sd(result, flat, rng, j))

    def frame(quantity: str, values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"target": target, "group": group, "quantity": quantity, "value": values})

    frames = [frame(QUANTITY_MEAN, mean)]
    if observation is not None:
        frames.append(frame(QUANTITY_OBSERVATION, observation))
    return frames


def _residual_sd(result: FitResult, flat, rng: np.random.Generator, j: int | None) -> np.ndarray:
    """sigma for each kept draw: common, the group's own, or a new group's drawn from the population of sigmas."""
    spec = result.spec
    if not spec.group_noise or spec.pooling == "complete":
        return flat(m.SIGMA)
    if j is not None:
        return flat(m.GROUP_SIGMA)[:, j]
    # partial pooling, new group: log sigma_new ~ Normal(log sigma, sd_log_sigma)
    sigma, spread = flat(m.SIGMA), flat(m.LOG_SIGMA_SD)
    return np.exp(np.log(sigma) + spread * rng.standard_normal(sigma.shape))


# ------------------------------------------------------------------------------------------------ convergence
def trace_draws(result: FitResult, name: str, max_points: int = MAX_TRACE_POINTS) -> pd.DataFrame:
    """Draws of the population parameter ``name`` by chain, every k-th draw of each chain.

    Columns: name, chain, draw (the draw's index within its chain), value. At most ``max_points`` rows.
    """
    values = draws_of(_posterior(result), _population_ref(result, name))
    chains, n_draws = values.shape
    keep = thinned_indices(n_draws, max(1, max_points // chains))
    return pd.DataFrame({
        "name": name,
        "chain": np.repeat(np.arange(chains), keep.size),
        "draw": np.tile(keep, chains),
        "value": values[:, keep].reshape(-1),
    })


def rank_table(result: FitResult, name: str, bins: int = 20) -> pd.DataFrame:
    """Rank-plot data for the population parameter ``name``: all draws ranked together, histogram per chain.

    Columns: name, chain, bin (0..bins-1), count, expected (draws per chain / bins: the flat line of well-mixed
    chains). Each chain's counts sum to its number of draws.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    values = draws_of(_posterior(result), _population_ref(result, name))
    chains, n_draws = values.shape
    ranks = pd.Series(values.reshape(-1)).rank(method="average").to_numpy().reshape(chains, n_draws)
    total = chains * n_draws
    which = np.minimum(np.floor((ranks - 1) * bins / total).astype(int), bins - 1)
    counts = np.stack([np.bincount(which[c], minlength=bins) for c in range(chains)])
    return pd.DataFrame({
        "name": name,
        "chain": np.repeat(np.arange(chains), bins),
        "bin": np.tile(np.arange(bins), chains),
        "count": counts.reshape(-1),
        "expected": n_draws / bins,
    })


# ------------------------------------------------------------------------------------------------ data
def group_sizes(data: PreparedData) -> pd.DataFrame:
    """Rows per group (columns group, n), in the groups' order of first appearance."""
    return pd.DataFrame({"group": list(data.group_labels), "n": data.group_sizes.astype(int)})


# ------------------------------------------------------------------------------------------------ funnel shape
FunnelKind = Literal["neck", "narrows a little", "round"]


class FunnelShape(NamedTuple):
    """What a funnel chart shows for one fit (see the module docstring): ``ratio`` is the rms deviation in the
    lowest quarter of the scale's draws over that in the highest quarter, split at ``low_sd`` and ``high_sd``."""

    kind: FunnelKind
    ratio: float
    low_sd: float
    high_sd: float
    min_sd: float
    max_sd: float

    @property
    def description(self) -> str:
        """One or two sentences for the chart's caption (plain text: no group or term names, which are users')."""
        low, high = format(self.low_sd, ".3g"), format(self.high_sd, ".3g")
        spread = (f"in the lowest quarter of the group-level sd's draws (below {low}) this group's deviations spread "
                  f"{self.ratio:.0%} as wide as in the highest quarter (above {high})")
        if self.kind == "neck":
            return (f"The cloud narrows to a neck: {spread}. The joint density is highest in the neck, so the MAP "
                    "can sit there while the posterior mass does not.")
        span = f"its draws run from {self.min_sd:.3g} to {self.max_sd:.3g}"
        if self.kind == "narrows a little":
            return (f"The cloud narrows only a little toward small sds ({spread}): the data keep the group-level "
                    f"sd away from 0 ({span}), so there is hardly a neck.")
        return (f"A round cloud: the data pin the group-level sd away from 0 ({span}), so there is no neck here; "
                f"{spread}.")


def funnel_shape(funnel_df: pd.DataFrame) -> FunnelShape:
    """Whether the draws of :func:`funnel_draws` narrow to a neck, as ``FunnelShape`` (module docstring)."""
    for column in ("sd", "deviation"):
        if column not in funnel_df:
            raise ValueError(f"funnel_shape needs the column {column!r}; got {', '.join(map(str, funnel_df.columns))}")
    sd = funnel_df["sd"].to_numpy(dtype=float)
    deviation = funnel_df["deviation"].to_numpy(dtype=float)
    usable = np.isfinite(sd) & np.isfinite(deviation) & (sd > 0)
    sd, deviation = sd[usable], deviation[usable]
    if sd.size < MIN_FUNNEL_DRAWS:
        raise SpecError(f"the funnel needs at least {MIN_FUNNEL_DRAWS} draws with a positive sd, got {sd.size}")
    low, high = np.quantile(sd, [0.25, 0.75])
    rms_low = math.sqrt(float(np.mean(deviation[sd <= low] ** 2)))
    rms_high = math.sqrt(float(np.mean(deviation[sd >= high] ** 2)))
    ratio = rms_low / rms_high if rms_high > 0 else 1.0
    kind: FunnelKind = "neck" if ratio < NECK_RATIO else "narrows a little" if ratio < ROUND_RATIO else "round"
    return FunnelShape(kind, ratio, float(low), float(high), float(sd.min()), float(sd.max()))


# ------------------------------------------------------------------------------------------------ shrinkage axis
ShrinkageAxisKind = Literal["group size", "interval width", "rank"]


class ShrinkageAxis(NamedTuple):
    """The horizontal axis of a shrinkage chart for one term (see the module docstring).

    ``frame`` holds the term's rows of the shrinkage table with the column ``x``: n, the width of the
    no-pooling interval, or the rank (1 = lowest) of the no-pooling estimate. ``title`` is the axis title,
    ``caption`` says in plain words which axis it is and where to look (no user strings in either).
    """

    kind: ShrinkageAxisKind
    frame: pd.DataFrame
    title: str
    caption: str

    @property
    def log(self) -> bool:
        return self.kind == "group size"


def own_estimates(shrinkage_df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The shrinkage table with each group's own estimate (the ``none`` column) read straight from its data where
    the model has an intercept only (``raw``: hits / at-bats, the mean, the rate), and a sentence saying so.

    That raw summary is the no-pooling estimate without a prior (the maximum-likelihood estimate), the number a
    person computes by hand and the one Efron & Morris shrink; the no-pooling fit's posterior mean differs from it
    only through its weak prior (by less than 0.01 in batting average on the baseball sample). The table's own
    ``none`` column (the posterior mean) is left as it is in the returned copy wherever there is no raw value.
    """
    if "raw" not in shrinkage_df or shrinkage_df["raw"].isna().all():
        return shrinkage_df, ""
    out = shrinkage_df.copy()
    out["none"] = out["raw"].where(out["raw"].notna(), out["none"])
    return out, ("Circles: each group's own data summary (its raw proportion, rate or mean: the no-pooling estimate "
                 "without a prior); the table below gives the no-pooling posterior mean beside it.")


def shrinkage_axis(shrinkage_df: pd.DataFrame, term: str) -> ShrinkageAxis:
    """Choose what to plot shrinkage against, so that the axis never suggests a difference that is not there:
    group size n (log axis) when the sizes differ; otherwise the width of the no-pooling interval when it
    differs by at least ``EQUAL_WIDTH_RATIO``; otherwise the rank of the no-pooling estimate."""
    for column in ("group", "term", "n", "none"):
        if column not in shrinkage_df:
            raise ValueError(f"shrinkage_axis needs the column {column!r} of the shrinkage table (with no pooling "
                             f"fitted); got {', '.join(map(str, shrinkage_df.columns))}")
    d = shrinkage_df[shrinkage_df["term"] == term].reset_index(drop=True).copy()
    if d.empty:
        raise SpecError(f"the shrinkage table has no rows for the term {term!r}")
    if d["n"].nunique() > 1:
        d["x"] = d["n"].astype(int)
        return ShrinkageAxis(
            "group size", d, "rows in the group, n (log scale)",
            "Horizontal axis: rows in the group, n, on a log scale (groups of the same size stand side by side). "
            "Look at the left: the groups with the fewest rows move furthest toward the population mean.",
        )
    n = int(d["n"].iloc[0])
    same = f"every group has the same number of rows (n = {n})"
    identified = d["identified"].astype(bool) if "identified" in d else pd.Series(True, index=d.index)
    if {"none_lower", "none_upper"} <= set(d.columns):
        width = (d["none_upper"] - d["none_lower"]).abs()
        own = width[identified & np.isfinite(width) & (width > 0)]
        if len(own) >= 2 and own.max() >= EQUAL_WIDTH_RATIO * own.min():
            d["x"] = width
            return ShrinkageAxis(
                "interval width", d, f"width of the group's own {DEFAULT_INTERVAL_PROB:.0%} interval (no pooling)",
                f"Horizontal axis: the width of each group's own {DEFAULT_INTERVAL_PROB:.0%} interval (no pooling), "
                f"because {same}. Look at the right: the least certain estimates move furthest toward the "
                "population mean.",
            )
        same += " and their own estimates are about equally certain"
    d["x"] = d["none"].rank(method="first").astype(int)
    return ShrinkageAxis(
        "rank", d, "groups, in order of their own estimate (no pooling)",
        f"Horizontal axis: the groups in order of their own (no-pooling) estimate, because {same}. Look at the two "
        "ends: the estimates furthest from the population mean move the most.",
    )


# ------------------------------------------------------------------------------------------------ truth
def _with_truth(shrinkage_df: pd.DataFrame, truth_df: pd.DataFrame, term: str) -> pd.DataFrame:
    """The term's rows of the shrinkage table with a ``truth`` column; every group must have a truth."""
    for frame, columns, what in ((shrinkage_df, ("group", "term"), "the shrinkage table"),
                                 (truth_df, ("group", "truth"), "the truth")):
        missing = [c for c in columns if c not in frame]
        if missing:
            raise ValueError(f"{what} needs the column(s) {', '.join(missing)}; got "
                             f"{', '.join(map(str, frame.columns))}")
    d = shrinkage_df[shrinkage_df["term"] == term]
    if d.empty:
        raise SpecError(f"the shrinkage table has no rows for the term {term!r}")
    if truth_df["group"].astype(str).duplicated().any():
        raise SpecError("the truth has more than one value for some group; give one value per group")
    truth = pd.Series(pd.to_numeric(truth_df["truth"], errors="coerce").to_numpy(dtype=float),
                      index=truth_df["group"].astype(str).to_numpy())
    merged = d.assign(truth=d["group"].astype(str).map(truth))
    lacking = merged.loc[merged["truth"].isna(), "group"].astype(str).tolist()
    if lacking:
        shown = ", ".join(repr(g) for g in lacking[:5]) + (f" and {len(lacking) - 5} more" if len(lacking) > 5 else "")
        raise SpecError(f"the truth has no number for the group(s) {shown}; give every group a truth")
    return merged.reset_index(drop=True)


def _estimate_columns(d: pd.DataFrame) -> list[Pooling]:
    """The fitted poolings among the table's columns, from raw to fully pooled."""
    raw_to_pooled: tuple[Pooling, ...] = ("none", "partial", "complete")
    return [p for p in raw_to_pooled if p in d]


def truth_comparison(shrinkage_df: pd.DataFrame, truth_df: pd.DataFrame, term: str = INTERCEPT) -> pd.DataFrame:
    """Long frame for the raw -> shrunken -> truth chart: columns group, axis, order, value.

    ``axis`` is ``"no pooling"``, ``"partial pooling"`` and ``"truth"`` (order 0, 1, 2), plus ``"complete
    pooling"`` (order -1: not an axis of its own, one value for every group) when fitted. ``shrinkage_df`` is
    :meth:`PoolingComparison.shrinkage` on the truth's natural scale; ``truth_df`` has columns group and truth
    (:meth:`SampleDataset.load_truth`).
    """
    d = _with_truth(shrinkage_df, truth_df, term)
    order = {"none": 0, "partial": 1, "complete": -1}
    frames = [pd.DataFrame({"group": d["group"], "axis": POOLING_LABELS[p], "order": order[p], "value": d[p]})
              for p in _estimate_columns(d)]
    frames.append(pd.DataFrame({"group": d["group"], "axis": TRUTH_AXIS, "order": 2, "value": d["truth"]}))
    out = pd.concat(frames, ignore_index=True)
    out["value"] = out["value"].astype(float)
    return out


def truth_errors(shrinkage_df: pd.DataFrame, truth_df: pd.DataFrame, term: str = INTERCEPT) -> pd.DataFrame:
    """How close each pooling's estimates come to the truth, one row per fitted pooling.

    Columns: pooling, estimate (its label), groups (J), sum_squared_error :math:`\\sum_j (\\hat\\theta_j -
    \\theta_j)^2` of the posterior means against the truth, mean_squared_error (the sum over J), and
    relative_to_no_pooling (the sum over no pooling's sum; NaN without no pooling). Compare estimates and truth
    on the same, natural scale (batting averages, not log-odds). When the table has the ``raw`` column (each
    group's own data summary) with a value for every group, a first row ``raw`` judges it too.
    """
    d = _with_truth(shrinkage_df, truth_df, term)
    raw = ["raw"] if "raw" in d and d["raw"].notna().all() else []
    labels: dict[str, str] = dict(POOLING_LABELS.items())  # a pooling's label, or raw's
    labels["raw"] = RAW_LABEL
    rows = []
    for pooling in raw + _estimate_columns(d):
        squared = (d[pooling].astype(float) - d["truth"]) ** 2
        rows.append({"pooling": pooling, "estimate": labels[pooling], "groups": len(d),
                     "sum_squared_error": float(squared.sum()), "mean_squared_error": float(squared.mean())})
    out = pd.DataFrame(rows)
    baseline = out.loc[out["pooling"] == "none", "sum_squared_error"]
    out["relative_to_no_pooling"] = out["sum_squared_error"] / float(baseline.iloc[0]) if len(baseline) else np.nan
    return out


def truth_summary(errors_df: pd.DataFrame) -> str:
    """One sentence on :func:`truth_errors`: whether partial pooling came closer to the truth than no pooling,
    with the share of no pooling's total squared error (plain text, no user strings)."""
    sse = errors_df.set_index("pooling")["sum_squared_error"]
    if not {"none", "partial"} <= set(sse.index):
        return "Fit no pooling and partial pooling to compare their errors."
    share = sse["partial"] / sse["none"] if sse["none"] > 0 else math.inf
    # Near 100%, one more digit, so that "closer" never comes with "100%".
    shown = f"{share:.1%}" if abs(share - 1) < 0.01 else f"{share:.0%}"
    if share < 1:
        return (f"Partial pooling's estimates are closer to the truth than the groups' own: their total squared "
                f"error is {shown} of no pooling's.")
    return (f"Here the groups' own estimates are at least as close to the truth as partial pooling's: partial "
            f"pooling's total squared error is {shown} of no pooling's.")
