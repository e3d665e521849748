r"""How much of the outcome's variance each grouping factor and the residual carry, draw by draw.

Notation as in :mod:`hiermodels.model.build`. Under partial pooling, grouping factor f (the first, ``spec.group``,
and each of ``spec.factors``) adds to row i's linear predictor the group effects of its varying terms
:math:`V_f`, :math:`u^{(f)}_{h} \sim \mathcal N(\cdot, \Sigma_f)` with

.. math::  \Sigma_f = \mathrm{diag}(\tau_f)\, R_f\, \mathrm{diag}(\tau_f)

(:math:`\tau_f` the factor's group-level sds ``sd(term|f)``, :math:`R_f` its correlation matrix, the identity when
its effects are uncorrelated). At row i, with :math:`x_{i,f}` the row's values of the terms in :math:`V_f` (1 for
the intercept), factor f's effects have variance :math:`x_{i,f}^T \Sigma_f x_{i,f}`. Its **variance** is the mean
of that over the rows,

.. math::  v_f = \frac1N \sum_i x_{i,f}^T \Sigma_f x_{i,f} = \mathrm{tr}(\Sigma_f M_f),
           \qquad M_f = \frac1N \sum_i x_{i,f} x_{i,f}^T,

which for an intercept-only factor is :math:`\tau_f^2` (a varying slope's share thus depends on where its
predictor's values lie, as in Goldstein, Browne & Rasbash 2002 and Johnson 2014). The **residual** variance
:math:`v_\varepsilon` is

- gaussian: :math:`\sigma^2` (with a residual scale varying by group, the mean of :math:`\sigma_{g[i]}^2` over
  the rows);
- binomial: :math:`\pi^2/3`, the variance of the standard logistic distribution: the residual of the latent
  variable :math:`\eta_i + \varepsilon_i` whose sign is the outcome (the *latent scale*; Snijders & Bosker 2012,
  section 17.3; Nakagawa & Schielzeth 2013). The shares are then those of that latent variable, not of the 0/1
  or count outcome itself;
- poisson and gamma: not shown. Their latent residual depends on the mean (Nakagawa, Johnson & Schielzeth 2017
  give approximations such as :math:`\ln(1 + 1/\lambda)`), which this app does not choose for the user.

The **share** of component c in draw s is :math:`v^{(s)}_c / (\sum_f v^{(s)}_f + v^{(s)}_\varepsilon)`, so the
shares of every draw sum to 1; with one intercept-only factor the factor's share is the intraclass correlation
:math:`\tau^2 / (\tau^2 + \sigma^2)`. The variance explained by the population-level coefficients (the fixed
part) is left out: the shares split what remains around the population regression. Each share is summarised by
its posterior mean and equal-tailed interval over the draws. Example: Penicillin at lme4's REML estimates
(sd(plate) 0.847, sd(sample) 1.932, σ 0.550) gives plate 15.1%, sample 78.5%, residual 6.4%.

Only partial pooling learns the :math:`\tau_f`; the other poolings and the known-SE family (whose residual is
each group's known standard error) get no decomposition (:func:`unavailable_reason` says why).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hiermodels.model import build as m
from hiermodels.model.spec import GroupingFactor
from hiermodels.results.fit_result import DEFAULT_INTERVAL_PROB, FitResult, _summaries

RESIDUAL = "residual"
# The latent residual variance of the logit link: the standard logistic distribution's variance.
LOGISTIC_VARIANCE = math.pi**2 / 3


@dataclass(frozen=True)
class VarianceDecomposition:
    """``summary``: one row per component (each grouping factor in the model's order, then the residual):
    component, kind ("factor" or "residual"), mean, lower, upper (shares of the variance, between 0 and 1).
    ``draws``: the share of each component in each posterior draw, one column per component (each row sums to
    1). ``residual_note`` says what the residual variance is; ``prob`` is the intervals' probability."""

    summary: pd.DataFrame
    draws: pd.DataFrame
    residual_note: str
    prob: float


def unavailable_reason(result: FitResult) -> str | None:
    """Why ``result`` has no variance decomposition (plain text), or None when it has one."""
    spec = result.spec
    if spec.pooling != "partial":
        return ("The variance decomposition needs partial pooling: only it learns how much the groups vary "
                "(the group-level sds).")
    if spec.family in ("poisson", "gamma"):
        return (f"The variance decomposition is not shown for the {spec.family} family: its residual variance on "
                "the latent scale depends on the mean, and no single standard value exists.")
    if spec.family == "known_se":
        return ("The variance decomposition is not shown for known standard errors: the residual is each group's "
                "own standard error, not a variance the model learns.")
    return None


def variance_decomposition(result: FitResult, prob: float = DEFAULT_INTERVAL_PROB) -> VarianceDecomposition | None:
    """The share of each grouping factor and of the residual in the outcome's variance (module docstring), or
    None where :func:`unavailable_reason` gives a reason."""
    if unavailable_reason(result) is not None:
        return None
    spec, data = result.spec, result.data
    posterior = result.draws
    components: dict[str, np.ndarray] = {}
    for number, factor in enumerate(spec.all_factors):
        terms = m.term_split(data, spec)[1] if number == 0 else data.terms_of(factor.varying)
        components[factor.name] = _factor_variance(result, factor, number, terms)
    if spec.family == "binomial":
        n_draws = posterior.sizes["chain"] * posterior.sizes["draw"]
        residual = np.full(n_draws, LOGISTIC_VARIANCE)
        note = ("Residual: π²/3 ≈ 3.29, the variance of the logistic distribution, on the latent (log-odds) "
                "scale; the shares are those of that latent variable.")
    elif spec.group_noise and m.GROUP_SIGMA in posterior:
        sigma = _flat(posterior[m.GROUP_SIGMA].transpose("chain", "draw", m.GROUP_DIM).to_numpy())
        residual = (sigma[:, data.group_index] ** 2).mean(axis=1)
        note = "Residual: each group's residual variance σ², averaged over the rows."
    else:
        residual = _flat(posterior[m.SIGMA].to_numpy()) ** 2
        note = "Residual: σ², the variance of the rows around their groups' values."
    residual_name = RESIDUAL if RESIDUAL not in components else f"{RESIDUAL} (within groups)"
    components[residual_name] = residual
    variances = np.column_stack(list(components.values()))
    shares = variances / variances.sum(axis=1, keepdims=True)
    summary = _summaries(shares, prob)
    table = pd.DataFrame({
        "component": list(components),
        "kind": ["factor"] * (len(components) - 1) + ["residual"],
        "mean": summary["mean"], "lower": summary["lower"], "upper": summary["upper"],
    })
    return VarianceDecomposition(table, pd.DataFrame(shares, columns=list(components)), note, prob)


def _factor_variance(result: FitResult, factor: GroupingFactor, number: int, terms: tuple[str, ...]) -> np.ndarray:
    """v_f = tr(Sigma_f M_f) for every draw (module docstring)."""
    posterior, data = result.draws, result.data

    def named(name: str) -> str:
        return m.factor_name(name, number) if number else name

    term_dim, second_dim = named(m.VARYING_DIM), named(f"{m.VARYING_DIM}_2")
    tau = _flat(posterior[named(m.GROUP_SD)].sel({term_dim: list(terms)}).transpose("chain", "draw", term_dim)
                .to_numpy())
    q = len(terms)
    if factor.correlated and named(m.CORRELATION) in posterior:
        corr = _flat(posterior[named(m.CORRELATION)].sel({term_dim: list(terms), second_dim: list(terms)})
                     .transpose("chain", "draw", term_dim, second_dim).to_numpy())
    else:
        corr = np.broadcast_to(np.eye(q), (tau.shape[0], q, q))
    sigma = tau[:, :, None] * corr * tau[:, None, :]
    x = data.design(terms)
    second_moment = x.T @ x / x.shape[0]
    return np.einsum("skl,lk->s", sigma, second_moment)


def _flat(values: np.ndarray) -> np.ndarray:
    """(chain, draw, ...) -> (chain * draw, ...)."""
    return values.reshape(-1, *values.shape[2:])
