r"""Gaussian models on per-group sufficient statistics, and partial pooling with the group effects integrated out.

Notation as in :mod:`hiermodels.models`; :math:`D` is the whole design matrix (``X``, every term), :math:`Z` its
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

Both log-likelihoods are single PyTensor Ops with hand-written gradients (:mod:`hiermodels.gaussian_ops`,
re-exported here): written as graphs they compiled three times slower than the whole textbook model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from hiermodels.data import PreparedData
from hiermodels.gaussian_ops import marginal_loglik, sufficient_loglik

__all__ = ["GroupSums", "add_sums_data", "draw_group_effects", "marginal_loglik", "sufficient_loglik"]

@dataclass(frozen=True, eq=False)
class GroupSums:
    """Per-group sufficient statistics of a gaussian linear model (see the module docstring)."""

    n: np.ndarray  # (J,)
    DtD: np.ndarray  # (J, K, K)
    Dty: np.ndarray  # (J, K)
    yty: np.ndarray  # (J,)

    @classmethod
    def from_data(cls, data: PreparedData, n_groups: int | None = None) -> GroupSums:
        """The sums of ``data``; with ``n_groups`` larger than the data's, the extra groups are empty (all 0)."""
        J, K = max(n_groups or 0, data.n_groups), data.X.shape[1]
        g = data.group_index
        DtD = np.zeros((J, K, K))
        Dty = np.zeros((J, K))
        for k in range(K):
            Dty[:, k] = np.bincount(g, weights=data.X[:, k] * data.y, minlength=J)
            for m in range(k, K):
                DtD[:, k, m] = DtD[:, m, k] = np.bincount(g, weights=data.X[:, k] * data.X[:, m], minlength=J)
        return cls(n=np.bincount(g, minlength=J).astype(float), DtD=DtD, Dty=Dty,
                   yty=np.bincount(g, weights=data.y**2, minlength=J))


def add_sums_data(sums: GroupSums) -> dict[str, pt.TensorVariable]:
    """The statistics as ``pm.Data`` containers of the model on the context stack."""
    return {name: pm.Data(f"sums_{name}", getattr(sums, name)) for name in ("n", "DtD", "Dty", "yty")}


def draw_group_effects(
    sums: GroupSums,
    varying_columns: list[int],
    theta: np.ndarray,
    sigma_cov: np.ndarray,
    sigma: np.ndarray,
    rng: np.random.Generator,
    chunk: int = 500,
) -> np.ndarray:
    """Draw u_j from its exact conditional for every posterior draw (module docstring).

    ``theta`` (S, K), ``sigma_cov`` (S, q, q) the covariance Σ of the group effects, ``sigma`` (S,) or (S, J).
    Returns u with shape (S, J, q). Draws are processed in chunks to bound memory.
    """
    S = theta.shape[0]
    J = sums.n.shape[0]
    q = len(varying_columns)
    V = np.asarray(varying_columns)
    ZtZ = sums.DtD[:, V][:, :, V]  # (J, q, q)
    ZtD = sums.DtD[:, V, :]  # (J, q, K)
    Zty = sums.Dty[:, V]  # (J, q)
    out = np.empty((S, J, q))
    sigma = np.broadcast_to(sigma.reshape(S, -1), (S, J)) if sigma.ndim == 1 else sigma
    for start in range(0, S, chunk):
        stop = min(S, start + chunk)
        variance = sigma[start:stop] ** 2  # (s, J)
        precision = np.linalg.inv(sigma_cov[start:stop])  # (s, q, q)
        M = variance[:, :, None, None] * precision[:, None] + ZtZ[None]  # (s, J, q, q)
        z_residual = Zty[None] - np.einsum("jqk,sk->sjq", ZtD, theta[start:stop])  # (s, J, q)
        L = np.linalg.cholesky(M)
        mean = np.linalg.solve(M, z_residual[..., None])[..., 0]
        noise = rng.standard_normal((stop - start, J, q))
        # cov = sigma^2 M^{-1} = sigma^2 L^{-T} L^{-1}: draw L^{-T} e, scaled by sigma.
        Lt = np.swapaxes(L, -1, -2)
        out[start:stop] = mean + np.sqrt(variance)[..., None] * np.linalg.solve(Lt, noise[..., None])[..., 0]
    return out
