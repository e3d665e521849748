r"""Gaussian models with several grouping factors: one factor's intercepts integrated out, row by row.

With several grouping factors no group's rows carry all of a row's effects, so the per-group sufficient
statistics of :mod:`hiermodels.model.gaussian` do not apply. One factor A can still be integrated out exactly
when its only varying term is the intercept: given everything else, the rows of A's group j have residuals
:math:`r_i = y_i - \eta^{\setminus A}_i` (:math:`\eta^{\setminus A}` the linear predictor without A's deviations
:math:`u_j \sim \mathcal N(0, \tau_A)`), jointly :math:`r_j \sim \mathcal N(0, V_j)`,
:math:`V_j = \sigma^2 I + \tau_A^2 \mathbf 1\mathbf 1^T`. With :math:`n_j` rows, :math:`S_j = \sum_{i \in j} r_i`,
:math:`Q_j = \sum_{i \in j} r_i^2` and :math:`d_j = \sigma^2 + n_j\tau_A^2`,

.. math:: \log|V_j| = (n_j - 1)\log\sigma^2 + \log d_j, \qquad
          r_j^TV_j^{-1}r_j = \big(Q_j - \tau_A^2 S_j^2 / d_j\big) / \sigma^2

(:func:`integrated_loglik`; an empty padding group adds exactly 0). NUTS samples the rest, one dimension per
group of A fewer, and without the ridge between :math:`\tau_A` and :math:`\sigma` that groups of two or three rows
make (the InstEval subsample's students: bulk ESS of sd(intercept|s) 256 of 4,000 draws row by row). Afterwards
each draw's :math:`u_j` is drawn from its exact conditional (:func:`draw_integrated_effects`)

.. math:: u_j \mid \text{rest}, y \sim \mathcal N\big(\tau_A^2 S_j / d_j,\ \sigma\tau_A/\sqrt{d_j}\big),

so the draws are from the same joint posterior as the row-by-row model. A is the factor with the most groups
(:func:`integrated_factor`), where integrating saves the most dimensions.

**Under no pooling** a further factor's deviations are fixed effects in effect coding, :math:`u \sim`
``ZeroSumNormal`` :math:`(\tau_A)` with :math:`\tau_A` the sd of the intercept's fixed prior: the density
:math:`(2\pi\tau_A^2)^{-(J-1)/2}\exp(-\lVert u\rVert^2/2\tau_A^2)` on the hyperplane :math:`H = \{\sum_j u_j
= 0\}`, that is :math:`\sqrt{2\pi\tau_A^2}\prod_j \mathcal N(u_j \mid 0, \tau_A)` there. The groups are no longer
independent, but the integral over H of the product above is: :math:`\prod_j \mathcal N(u_j \mid 0, \tau_A)
\times \text{rows of } j = Z_j\, \mathcal N(u_j \mid m_j, \sqrt{w_j})` with :math:`Z_j` group j's factor above,
:math:`m_j = \tau_A^2 S_j / d_j` and :math:`w_j = \sigma^2\tau_A^2 / d_j`, and a product of independent normals
integrated over H is :math:`\sqrt J` times the density of their sum at 0. So the log-likelihood is the one above
plus (J counting every group of A)

.. math:: C = \tfrac12\log(2\pi\tau_A^2) + \tfrac12\log J + \log\mathcal N\big(0 \mid M, \sqrt V\big),
          \qquad M = \sum_j m_j, \quad V = \sum_j w_j,

(0 when no group has rows: :math:`M = 0`, :math:`V = J\tau_A^2`), and each draw of u is a draw of the independent
conditionals above moved onto H by :math:`u_j \leftarrow u_j - w_j \sum_k u_k / V` (conditioning a normal vector
on a linear constraint). The InstEval subsample's no-pooling model then samples its 47 lecturers and
:math:`\sigma` instead of 1,094 values besides.

The draws need only each group's residual sum :math:`S_j` per posterior draw, not the residuals. As
:math:`\eta^{\setminus A}` is a sum of parts :math:`x_{ik}\,c_{h[i],k}` (a coefficient c of group h[i] of
another factor times a column x; the common coefficients are one "group" of every row),
:math:`S_j = \sum_{i\in j} y_i - \sum_{h,k} M_{j,hk}\, c_{hk}` with :math:`M_{j,hk} = \sum_{i \in j,\,
h[i] = h} x_{ik}`, a sparse matrix to which each row adds one entry per column k, built once
(:func:`residual_sums`): 4,000 draws of InstEval's 73,421 rows take one sparse product per part instead of
4,000 x 73,421 residuals.

The value and its gradient are one numba Op (:mod:`hiermodels.model.gaussian_ops`, which states the gradient):
two passes over the rows instead of the eight a PyTensor graph of scatter-adds and its automatic gradient make.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np
import pytensor.tensor as pt

from hiermodels.data.preparing import PreparedData
from hiermodels.model import gaussian_ops
from hiermodels.model.spec import INTERCEPT, ModelSpec


def integrated_factor(data: PreparedData, spec: ModelSpec) -> int | None:
    """Which grouping factor to integrate out (0: the first, k: ``spec.factors[k - 1]``), or None when the
    model is not one this module covers: gaussian, partial or no pooling, one residual scale, several factors,
    and at least one factor whose only varying term is the intercept (under no pooling a further factor, whose
    deviations sum to zero; the first factor's coefficients there have priors of their own). Of those, the one
    with the most groups. The other factors keep the spec's parameterisation."""
    if spec.family != "gaussian" or spec.pooling == "complete" or spec.group_noise or not spec.factors:
        return None
    sizes = [data.n_groups, *(d.n_groups for d in data.factors)]
    first = 0 if spec.pooling == "partial" else 1
    candidates = [k for k, factor in enumerate(spec.all_factors)
                  if k >= first and tuple(factor.varying) == (INTERCEPT,)]
    if not candidates:
        return None
    return max(candidates, key=lambda k: (sizes[k], -k))


def sums_to_zero(spec: ModelSpec) -> bool:
    """Whether the integrated factor's deviations sum to zero: under no pooling, where a further factor's effects
    are fixed effects in effect coding (module docstring)."""
    return spec.pooling == "none"


def integrated_loglik(residual: pt.TensorVariable, index: pt.TensorVariable, count: pt.TensorVariable,
                      tau: pt.TensorVariable, sigma: pt.TensorVariable, zero_sum: bool = False) -> pt.TensorVariable:
    """The log-likelihood of the rows with the factor's intercepts integrated out (module docstring; ``count``
    the rows of each group; with ``zero_sum`` the deviations sum to zero), as one Op with its gradient written
    out (:class:`hiermodels.model.gaussian_ops.IntegratedGaussianLoglik`)."""
    return gaussian_ops.integrated_loglik(residual, index, count, tau, sigma, zero_sum)


# One part of the linear predictor without the integrated factor: the columns x (N, q), each row's group h[i]
# of the factor the coefficients belong to (N,), and the coefficients c per posterior draw (S, H, q).
LinearPart = tuple[np.ndarray, np.ndarray, np.ndarray]


def residual_sums(y: np.ndarray, index: np.ndarray, n_groups: int, parts: Sequence[LinearPart]) -> np.ndarray:
    """Each posterior draw's residual sum :math:`S_j = \\sum_{i \\in j} (y_i - \\eta^{\\setminus A}_i)` of every
    group j of the integrated factor (``index``), shape (S, J), through the sparse sums M of the module
    docstring."""
    from scipy import sparse  # only fits that integrate a factor out need it

    draws = max((coefficients.shape[0] for _, _, coefficients in parts), default=1)
    matrices = []
    for columns, other_index, coefficients in parts:
        n_other, q = coefficients.shape[1:]
        rows = np.repeat(index, q)
        cells = (other_index[:, None] * q + np.arange(q)[None, :]).ravel()
        sums = sparse.csr_array((columns.ravel().astype(float), (rows, cells)), shape=(n_groups, n_other * q))
        matrices.append((sums, coefficients.reshape(coefficients.shape[0], n_other * q)))  # duplicates add up
    totals = np.empty((draws, n_groups))
    totals[:] = np.bincount(index, weights=y, minlength=n_groups)
    # In blocks of draws, so that the products' temporaries stay small: arrays above 32 MB are mapped fresh from
    # the system on every allocation (glibc's largest reuse threshold), which cost more than the products.
    for start in range(0, draws, RESIDUAL_BLOCK):
        block = slice(start, start + RESIDUAL_BLOCK)
        for sums, coefficients in matrices:
            totals[block] -= (sums @ coefficients[block].T).T
    return totals


RESIDUAL_BLOCK = 256  # draws per block of residual_sums and draw_integrated_effects


def draw_integrated_effects(totals: np.ndarray, count: np.ndarray, tau: np.ndarray, sigma: np.ndarray,
                            rng: np.random.Generator, zero_sum: bool = False,
                            overwrite_totals: bool = False) -> np.ndarray:
    """Draws of the integrated factor's deviations u, shape (S, J), one per posterior draw.

    ``totals`` (S, J) is each draw's residual sum :math:`S_j` (:func:`residual_sums`), ``count`` (J,) the rows
    :math:`n_j` of each group; ``tau`` and ``sigma`` are (S,). With ``zero_sum`` each draw is conditioned on
    :math:`\\sum_j u_j = 0` (module docstring). With ``overwrite_totals`` the draws are written over ``totals``
    (a C-ordered float array), which saves a second (S, J) array: on this machine a fresh array above 32 MB costs
    about 5 ms per MB in page faults, 0.1-0.2 s for the subsample's 4,000 x 1,047 draws."""
    u = totals if overwrite_totals else np.array(totals, dtype=float)
    count, tau, sigma = (np.asarray(x, dtype=float) for x in (count, tau, sigma))
    for start in range(0, u.shape[0], RESIDUAL_BLOCK):  # the standard normals a block of draws at a time
        block = slice(start, start + RESIDUAL_BLOCK)
        normals = rng.standard_normal(u[block].shape)
        _conditional_draws(u[block], count, tau[block], sigma[block], zero_sum, normals)
    return u


def warm_draws() -> None:
    """Load the draws' numba kernel from numba's disk cache (or compile it) now, as a server's warm start does,
    rather than at the end of the first fit in a new process (0.4 s)."""
    for zero_sum in (False, True):
        draw_integrated_effects(np.zeros((1, 2)), np.ones(2), np.ones(1), np.ones(1), np.random.default_rng(0),
                                zero_sum)


@numba.njit(cache=True)
def _conditional_draws(u, count, tau, sigma, zero_sum, normals):
    # In place: the residual sums u (S, J) become the draws, with the standard normals ``normals``; one pass and no
    # (S, J) temporaries (in NumPy the temporaries of the subsample's 4,000 x 1,047 draws took 0.3-0.8 s, most of
    # it in fresh pages).
    draws, groups = u.shape
    variances = np.empty(groups)
    for s in range(draws):
        v, t = sigma[s] * sigma[s], tau[s] * tau[s]
        total, total_variance = 0.0, 0.0
        for j in range(groups):
            d = v + count[j] * t
            variances[j] = v * t / d
            u[s, j] = t * u[s, j] / d + math.sqrt(variances[j]) * normals[s, j]
            total += u[s, j]
            total_variance += variances[j]
        if zero_sum:
            shift = total / total_variance
            for j in range(groups):
                u[s, j] -= variances[j] * shift
