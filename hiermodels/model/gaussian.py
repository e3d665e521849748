r"""Gaussian models on per-group sufficient statistics, and partial pooling with the group effects integrated out.

Notation as in :mod:`hiermodels.model.build`; :math:`D` is the whole design matrix (``X``, every term), :math:`Z` its
columns of the varying terms, :math:`c_j` group j's coefficient for every term (``beta`` for common terms,
``b_j`` for varying ones) and :math:`\theta` the coefficients of the mean structure (``beta`` and ``mu``).

Sufficient statistics (:class:`GroupSums`)
    per group: :math:`n_j`, :math:`D_j^TD_j` (``DtD``), :math:`D_j^Ty_j` (``Dty``), :math:`y_j^Ty_j` (``yty``).
    The gaussian log-likelihood of group j is exactly

    .. math:: -\tfrac{n_j}{2}\log(2\pi\sigma_j^2) - \frac{y_j^Ty_j - 2c_j^TD_j^Ty_j + c_j^TD_j^TD_jc_j}{2\sigma_j^2}

    so a fit costs :math:`O(J K^2)` per gradient instead of :math:`O(N K)` (``sufficient_loglik``).

Integrating the group effects out (``build_partial_pooling_marginal``)
    With :math:`b_j = \mu + u_j`, :math:`u_j \sim \mathcal N(0, \Sigma)`, the rows of group j are jointly
    :math:`y_j \sim \mathcal N(D_j\theta,\ V_j)`, :math:`V_j = \sigma_j^2 I + Z_j\Sigma Z_j^T`. With
    :math:`M_j = \sigma_j^2\Sigma^{-1} + Z_j^TZ_j` (q × q), :math:`r_j = y_j - D_j\theta` and Woodbury's identity,

    .. math:: \log|V_j| = 2(n_j - q)\log\sigma_j + \log|\Sigma| + \log|M_j|, \qquad
              r_j^TV_j^{-1}r_j = \sigma_j^{-2}\big(r_j^Tr_j - (Z_j^Tr_j)^T M_j^{-1} Z_j^Tr_j\big)

    (``marginal_loglik``). NUTS then samples only the population parameters (:math:`\theta`, :math:`\tau`, the
    correlation, :math:`\sigma`), and the group effects are drawn afterwards from their exact conditional

    .. math:: u_j \mid \theta, \Sigma, \sigma, y \sim \mathcal N\big(M_j^{-1}Z_j^Tr_j,\ \sigma_j^2M_j^{-1}\big)

    (``draw_group_effects``), which gives draws from the same joint posterior as the full model.

Integrating the group effects out under no pooling (``models.build_no_pooling_marginal``)
    With normal priors :math:`b_j \sim \mathcal N(m, \mathrm{diag}(s^2))` (the defaults), no pooling is the
    same marginal likelihood with :math:`\mu = m` and :math:`\Sigma = \mathrm{diag}(s^2)` fixed: NUTS samples
    only :math:`\sigma` (and common coefficients), and ``b`` is drawn from the same conditional.

Both log-likelihoods are single PyTensor Ops with hand-written gradients (:mod:`hiermodels.model.gaussian_ops`,
re-exported here): written as graphs they compiled three times slower than the whole textbook model.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from hiermodels.data.preparing import PreparedData
from hiermodels.model.gaussian_ops import _inverse_from_cholesky, _njit, marginal_loglik, sufficient_loglik

__all__ = ["SUMS_FIELDS", "GroupSums", "add_sums_data", "draw_group_effects", "marginal_loglik", "sufficient_loglik",
           "sums_of"]

@dataclass(frozen=True, eq=False)
class GroupSums:
    """Per-group sufficient statistics of a gaussian linear model (see the module docstring)."""

    n: np.ndarray  # (J,)
    DtD: np.ndarray  # (J, K, K)
    Dty: np.ndarray  # (J, K)
    yty: np.ndarray  # (J,)

    @classmethod
    def from_data(cls, data: PreparedData, n_groups: int | None = None) -> GroupSums:
        """The sums of ``data``; with ``n_groups`` larger than the data's, the extra groups are empty (all 0).

        Computed once per data set and group count and shared (a fit asks up to three times: the sampled model,
        the mode and the group effects' draws; on 1,000,000 rows each pass over the rows took about 0.1 s), so
        callers must not write into the arrays."""
        J = max(n_groups or 0, data.n_groups)
        known = _SUMS.setdefault(data, {})
        if J not in known:
            known[J] = cls._computed(data, J)
        return known[J]

    @classmethod
    def _computed(cls, data: PreparedData, J: int) -> GroupSums:
        K = data.X.shape[1]
        g = data.group_index
        DtD = np.zeros((J, K, K))
        Dty = np.zeros((J, K))
        for k in range(K):
            Dty[:, k] = np.bincount(g, weights=data.X[:, k] * data.y, minlength=J)
            for m in range(k, K):
                DtD[:, k, m] = DtD[:, m, k] = np.bincount(g, weights=data.X[:, k] * data.X[:, m], minlength=J)
        return cls(n=np.bincount(g, minlength=J).astype(float), DtD=DtD, Dty=Dty,
                   yty=np.bincount(g, weights=data.y**2, minlength=J))

    def pooled(self) -> GroupSums:
        """The sums of every group added into one: a model without group effects or group-specific noise (complete
        pooling) depends on the data only through these, so its likelihood is one term instead of one per group."""
        return GroupSums(n=self.n.sum(keepdims=True), DtD=self.DtD.sum(axis=0, keepdims=True),
                         Dty=self.Dty.sum(axis=0, keepdims=True), yty=self.yty.sum(keepdims=True))


SUMS_FIELDS = ("n", "DtD", "Dty", "yty")
# PreparedData (compared and hashed by identity) -> group count -> its sums; an entry goes with its data.
_SUMS: weakref.WeakKeyDictionary[PreparedData, dict[int, GroupSums]] = weakref.WeakKeyDictionary()


def add_sums_data(sums: GroupSums) -> dict[str, pt.TensorVariable]:
    """The statistics as ``pm.Data`` containers (``sums_<field>``) of the model on the context stack."""
    return {name: pm.Data(f"sums_{name}", getattr(sums, name)) for name in SUMS_FIELDS}


def sums_of(model: pm.Model) -> dict[str, pt.TensorVariable]:
    """The statistics' containers of a model built with :func:`add_sums_data`, by field name."""
    return {name: model[f"sums_{name}"] for name in SUMS_FIELDS}


def draw_group_effects(
    sums: GroupSums,
    varying_columns: list[int],
    theta: np.ndarray,
    sigma_cov: np.ndarray,
    sigma: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw u_j from its exact conditional for every posterior draw (module docstring).

    ``theta`` (S, K), ``sigma_cov`` (S, q, q) the covariance Σ of the group effects, ``sigma`` (S,) or (S, J).
    Returns u with shape (S, J, q).
    """
    S, J = theta.shape[0], sums.n.shape[0]
    q = len(varying_columns)
    sigma = np.broadcast_to(sigma.reshape(S, -1), (S, J)) if sigma.ndim == 1 else sigma
    noise = rng.standard_normal((S, J, q))
    return _conditional_draws(np.ascontiguousarray(sums.DtD, dtype=float), np.ascontiguousarray(sums.Dty, dtype=float),
                              np.asarray(varying_columns, dtype=np.int64), np.ascontiguousarray(theta, dtype=float),
                              np.ascontiguousarray(sigma_cov, dtype=float), np.ascontiguousarray(sigma, dtype=float),
                              noise)


@_njit
def _conditional_draws(DtD, Dty, cols, theta, sigma_cov, sigma, noise):
    """One loop over draws and groups (a million small q x q problems took 3.5 s as batched numpy linear
    algebra). With M = L L^T, the draw is M^{-1} z + sigma L^{-T} e = L^{-T} (L^{-1} z + sigma e)."""
    S, J, q = noise.shape
    K = theta.shape[1]
    out = np.empty((S, J, q))
    if q == 1:  # the same draw with 1 x 1 matrices as scalars, L = sqrt(M): a fifth of the time on 4,000 x 1,000
        c0 = cols[0]
        for s in range(S):
            p = 1.0 / sigma_cov[s, 0, 0]
            for j in range(J):
                acc = Dty[j, c0]
                for k in range(K):
                    acc -= DtD[j, c0, k] * theta[s, k]
                root = math.sqrt(sigma[s, j] * sigma[s, j] * p + DtD[j, c0, c0])
                out[s, j, 0] = (acc / root + sigma[s, j] * noise[s, j, 0]) / root
        return out
    precision = np.empty((q, q))
    M = np.empty((q, q))
    L = np.zeros((q, q))
    L_inv = np.empty((q, q))
    z = np.empty(q)
    r = np.empty(q)
    for s in range(S):
        _cholesky(sigma_cov[s], L)
        _inverse_from_cholesky(L, L_inv, precision)
        for j in range(J):
            variance = sigma[s, j] * sigma[s, j]
            for a in range(q):
                acc = Dty[j, cols[a]]
                for k in range(K):
                    acc -= DtD[j, cols[a], k] * theta[s, k]
                z[a] = acc
                for c in range(q):
                    M[a, c] = variance * precision[a, c] + DtD[j, cols[a], cols[c]]
            _cholesky(M, L)
            sd = math.sqrt(variance)
            for i in range(q):  # r = L^{-1} z + sigma e
                acc = z[i]
                for m in range(i):
                    acc -= L[i, m] * (r[m] - sd * noise[s, j, m])
                r[i] = acc / L[i, i] + sd * noise[s, j, i]
            for i in range(q - 1, -1, -1):  # out = L^{-T} r
                acc = r[i]
                for m in range(i + 1, q):
                    acc -= L[m, i] * out[s, j, m]
                out[s, j, i] = acc / L[i, i]
    return out


@_njit
def _cholesky(A, L):
    """The lower Cholesky factor of the small symmetric positive definite A, into L."""
    q = A.shape[0]
    for i in range(q):
        for k in range(i + 1):
            acc = A[i, k]
            for m in range(k):
                acc -= L[i, m] * L[k, m]
            L[i, k] = math.sqrt(acc) if i == k else acc / L[k, k]
        for k in range(i + 1, q):
            L[i, k] = 0.0
