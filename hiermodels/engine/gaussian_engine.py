r"""Gaussian models whose group effects integrate out, sampled by one numba program compiled once per machine.

Why: nutpie compiles every PyMC model afresh (PyTensor graph -> numba), and numba's type inference made that
15-18 s for the radon model on an empty cache (60 s with correlated group effects), against 9-10 s for the
PyMC primer's own model. Yet every gaussian model of this app whose group effects integrate out has the same
shape: priors on a handful of scalars, and :mod:`hiermodels.model.gaussian`'s marginal likelihood. So the whole
log-density is written once here, with the structure (which terms, which prior families) read from arrays at
run time rather than baked into the compiled code. numba compiles it once per machine (``cache=True`` keeps
the machine code on disk), and then any data set, any priors and any pooling below start sampling at once.

Models covered (:func:`supports`): the gaussian family with one residual scale, and

- partial pooling, non-centred: :math:`b_j = \mu + u_j`, :math:`u_j \sim \mathcal N(0, \Sigma)`,
  :math:`\Sigma = \mathrm{diag}(\tau)\,R\,\mathrm{diag}(\tau)` with :math:`R = I` or, correlated,
  :math:`R \sim \mathrm{LKJ}(\eta)`; integrated out;
- no pooling with normal coefficient priors: the same with :math:`\mu` and :math:`\tau` fixed at each term's
  prior mean and sd (``models.build_no_pooling_marginal``);
- complete pooling: no varying terms (:math:`q = 0`), the likelihood on the sums of all groups added into one
  (``GroupSums.pooled``).

The parameter vector :math:`y` that NUTS moves in is unconstrained; in this order,

    ``beta`` (the C common coefficients) | ``mu`` (q) | ``tau`` (q) | ``sigma`` | correlations (q(q-1)/2)

(``mu``, ``tau`` and the correlations only under partial pooling, the correlations only when correlated).
Each scalar has a prior, given as a row ``(family code, p1, p2, p3)`` of :data:`FAMILIES` with PyMC's
parameters in PyMC's order, and the transform PyMC gives that family (both from the one table of prior families,
:mod:`hiermodels.model.prior_families`): ``uniform(l, u)`` the interval transform
:math:`x = l + (u - l)\,\mathrm{logistic}(y)`, the families on the positive line the log transform
:math:`x = e^y`, the others none. The correlations are Stan's: canonical
partial correlations :math:`z = \tanh(y)` build the Cholesky factor :math:`L` of :math:`R` row by row
(:func:`_cholesky_corr`), and LKJ(:math:`\eta`) is the density of :math:`L`,
:math:`\sum_{i\ge1}(q - i - 1 + 2\eta - 2)\log L_{ii}` (PyMC's ``LKJCorr`` up to its normalising constant). The
log-density is

.. math:: \log p(y) = \sum_i \big[\log \pi_i(x_i(y_i)) + \log|dx_i/dy_i|\big] + \log p(L) + \log|dL/dy|
          + \ell(\beta, \mu, \Sigma, \sigma)

with :math:`\ell` the marginal log-likelihood (``gaussian_ops._marginal_kernel``), equal to the PyMC model's
``logp()`` (tested on every family) with its exact gradient by the chain rule. The joint mode (the MAP) is
the maximum of the *centred* model's density without the Jacobian terms, over the same block followed by
every group's :math:`b_j` (:func:`mode_log_density_independent`), found by L-BFGS-B as ``pm.find_MAP`` does.

nutpie calls the log-density through a C callback (a numba ``cfunc``) with one pointer of user data: an int64
array holding the sizes and the addresses of the arrays (:meth:`EngineModel.user_data`). The sampler object is
nutpie's own ``CompiledPyMCModel`` (so ``pyproject.toml`` pins nutpie's minor version), and sampling,
progress, cancelling and the trace are exactly those of a PyMC model. Every nutpie or numba internal this
takes (the model's fields, the C signatures and return codes, the pointer intrinsic) is in
:mod:`hiermodels.engine.nutpie_adapter`, with the measurement of the alternative through Python callables
(nutpie's ``from_pyfunc``: over three times slower on radon).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from hiermodels.data.preparing import PreparedData
from hiermodels.engine.nutpie_adapter import NONFINITE_GRADIENT, NONFINITE_LOGP, as_pointer, c_callbacks, callback_model
from hiermodels.model.gaussian import GroupSums
from hiermodels.model.gaussian_ops import _inverse_from_cholesky, _marginal_kernel, _sufficient_kernel
from hiermodels.model.names import CORRELATION_PRIOR, group_sd
from hiermodels.model.prior_families import ENGINE_PARAMETERS, PRIOR_FAMILIES, engine_codes
from hiermodels.model.spec import ModelSpec, Prior

_LOG_2PI = math.log(2 * math.pi)
_LOG_PI = math.log(math.pi)
_LOG_2 = math.log(2.0)

# Family codes of the prior rows, read from the table of prior families. numba freezes these module constants
# into the compiled program: the branches of _prior_logp name the codes, the transforms test membership.
FAMILIES = engine_codes()  # PriorDistribution -> code
(_NORMAL, _STUDENTT, _CAUCHY, _FLAT, _UNIFORM, _HALFNORMAL, _HALFCAUCHY, _HALFSTUDENTT, _EXPONENTIAL, _GAMMA,
 _HALFFLAT) = (FAMILIES[name] for name in ("normal", "studentt", "cauchy", "flat", "uniform", "halfnormal",
                                           "halfcauchy", "halfstudentt", "exponential", "gamma", "halfflat"))
_LOG_CODES = np.array(sorted(engine_codes("log").values()), dtype=np.int64)
_INTERVAL_CODES = np.array(sorted(engine_codes("interval").values()), dtype=np.int64)

_njit = numba.njit(cache=True, fastmath=False, boundscheck=False, error_model="numpy")


# ------------------------------------------------------------------------------------------------ the density
@_njit
def _prior_logp(code, a, b, c, x):
    """(log pi(x), d log pi / dx) of family ``code`` with PyMC's parameters (a, b, c), normalised as in PyMC."""
    if code == _NORMAL:  # normal(mu, sigma)
        z = (x - a) / b
        return -0.5 * z * z - math.log(b) - 0.5 * _LOG_2PI, -z / b
    if code == _STUDENTT or code == _HALFSTUDENTT:
        # studentt(nu, mu, sigma); halfstudentt(nu, sigma) is twice studentt(nu, 0, sigma)
        nu, centre, scale = (a, b, c) if code == _STUDENTT else (a, 0.0, b)
        z = (x - centre) / scale
        value = (math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
                 - math.log(scale) - (nu + 1) / 2 * math.log1p(z * z / nu))
        if code == _HALFSTUDENTT:
            value += _LOG_2
        return value, -(nu + 1) * z / (scale * (nu + z * z))
    if code == _CAUCHY or code == _HALFCAUCHY:  # cauchy(alpha, beta); halfcauchy(beta) is twice cauchy(0, beta)
        centre, scale = (a, b) if code == _CAUCHY else (0.0, a)
        z = (x - centre) / scale
        value = -_LOG_PI - math.log(scale) - math.log1p(z * z)
        if code == _HALFCAUCHY:
            value += _LOG_2
        return value, -2.0 * z / (scale * (1.0 + z * z))
    if code == _UNIFORM:  # uniform(lower, upper); the interval transform keeps x inside
        return -math.log(b - a), 0.0
    if code == _HALFNORMAL:  # halfnormal(sigma)
        z = x / a
        return 0.5 * (_LOG_2 - _LOG_PI) - math.log(a) - 0.5 * z * z, -z / a
    if code == _EXPONENTIAL:  # exponential(lam)
        return math.log(a) - a * x, -a
    if code == _GAMMA:  # gamma(alpha, beta)
        return a * math.log(b) - math.lgamma(a) + (a - 1) * math.log(x) - b * x, (a - 1) / x - b
    if code == _FLAT or code == _HALFFLAT:
        return 0.0, 0.0
    # A code of the table without a branch here: NaN, which the sampler rejects, rather than a silent flat prior.
    return math.nan, math.nan


@_njit
def _softplus(y):
    return max(y, 0.0) + math.log1p(math.exp(-abs(y)))


@_njit
def _is_one_of(code, codes):
    for member in codes:
        if code == member:
            return True
    return False


@_njit
def _is_positive_family(code):
    """Whether family ``code`` lives on the positive line (PyMC's log transform)."""
    return _is_one_of(code, _LOG_CODES)


@_njit
def _to_constrained(code, a, b, y):
    """(x, log|dx/dy|, dx/dy, d log|dx/dy| / dy) of PyMC's transform for family ``code``; an interval family's
    bounds are its first two parameters (a, b)."""
    if _is_one_of(code, _INTERVAL_CODES):
        logistic = 1.0 / (1.0 + math.exp(-y))
        width = b - a
        return (a + width * logistic, math.log(width) - _softplus(-y) - _softplus(y),
                width * logistic * (1.0 - logistic), 1.0 - 2.0 * logistic)
    if _is_positive_family(code):
        x = math.exp(y)
        return x, y, x, 1.0
    return y, 0.0, 1.0, 0.0


@_njit
def constrained_values(y, priors):
    """Every parameter on its own scale: x_i(y_i)."""
    out = np.empty(y.shape[0])
    for i in range(y.shape[0]):
        out[i] = _to_constrained(int(priors[i, 0]), priors[i, 1], priors[i, 2], y[i])[0]
    return out


@_njit
def _log_sech2(y):
    """log(1 - tanh(y)^2), stable for large |y|."""
    return 2.0 * (_LOG_2 - abs(y) - math.log1p(math.exp(-2.0 * abs(y))))


@_njit
def _cholesky_corr(y_corr, q):
    r"""The Cholesky factor L of a correlation matrix from unconstrained values (Stan's ``cholesky_corr``):
    canonical partial correlations :math:`z = \tanh(y)`, then row by row :math:`L_{i0} = z`,
    :math:`L_{ij} = z\sqrt{1 - \sum_{k<j} L_{ik}^2}`, :math:`L_{ii} = \sqrt{1 - \sum_{k<i} L_{ik}^2}`.

    Returns L, dL/dy_t for each t (m, q, q), the log-Jacobian of y -> L's free entries (tanh, then the
    rows) and its gradient."""
    m = y_corr.shape[0]
    L = np.zeros((q, q))
    dL = np.zeros((m, q, q))
    log_jac = 0.0
    d_log_jac = np.zeros(m)
    z = np.empty(m)
    for t in range(m):
        z[t] = math.tanh(y_corr[t])
        log_jac += _log_sech2(y_corr[t])
        d_log_jac[t] = -2.0 * z[t]
    L[0, 0] = 1.0
    d_sum = np.zeros(m)
    k = 0
    for i in range(1, q):
        total_sq = 0.0
        for t in range(m):
            d_sum[t] = 0.0
        for j in range(i):
            if j == 0:
                L[i, 0] = z[k]
                dL[k, i, 0] = 1.0 - z[k] * z[k]
            else:
                root = math.sqrt(1.0 - total_sq)
                log_jac += 0.5 * math.log(1.0 - total_sq)
                L[i, j] = z[k] * root
                for t in range(m):
                    d_log_jac[t] += -0.5 * d_sum[t] / (1.0 - total_sq)
                    dL[t, i, j] = -0.5 * z[k] * d_sum[t] / root
                dL[k, i, j] += (1.0 - z[k] * z[k]) * root
            total_sq += L[i, j] * L[i, j]
            for t in range(m):
                d_sum[t] += 2.0 * L[i, j] * dL[t, i, j]
            k += 1
        L[i, i] = math.sqrt(1.0 - total_sq)
        for t in range(m):
            dL[t, i, i] = -0.5 * d_sum[t] / L[i, i]
    return L, dL, log_jac, d_log_jac


@_njit
def _product(A, B):
    """A B for small matrices, as a loop: numba's matrix product goes through BLAS and costs seconds to compile."""
    out = np.zeros((A.shape[0], B.shape[1]))
    for i in range(A.shape[0]):
        for k in range(A.shape[1]):
            for j in range(B.shape[1]):
                out[i, j] += A[i, k] * B[k, j]
    return out


@_njit
def _diagonal_covariance(tau):
    """Sigma^{-1} = diag(1/tau^2) and log|Sigma| = 2 sum log tau (uncorrelated group effects)."""
    q = tau.shape[0]
    precision = np.zeros((q, q))
    log_det = 0.0
    for a in range(q):
        precision[a, a] = 1.0 / (tau[a] * tau[a])
        log_det += 2.0 * math.log(tau[a])
    return precision, log_det


@_njit
def _covariance(tau, L):
    """Sigma^{-1} = diag(1/tau) R^{-1} diag(1/tau) with R = L L^T, R^{-1} itself, and log|Sigma|."""
    q = tau.shape[0]
    R_inv = np.empty((q, q))
    _inverse_from_cholesky(L, np.empty((q, q)), R_inv)
    precision = np.empty((q, q))
    log_det = 0.0
    for a in range(q):
        log_det += 2.0 * math.log(tau[a]) + 2.0 * math.log(L[a, a])
        for c in range(q):
            precision[a, c] = R_inv[a, c] / (tau[a] * tau[c])
    return precision, R_inv, log_det


@_njit
def _covariance_gradient(d_precision, d_log_det, tau, L, precision, R_inv):
    """The gradient reaching tau and L through (Sigma^{-1}, log|Sigma|) of :func:`_covariance`, from
    G = d/d Sigma^{-1} (entries independent) and d/d log|Sigma|: with H = diag(1/tau) G diag(1/tau),
    d/dR = -R^{-1} H R^{-1} and d/dL = (d/dR + d/dR^T) L (+ 2 d/d log|Sigma| / L_ii on the diagonal)."""
    q = tau.shape[0]
    d_tau = np.empty(q)
    H = np.empty((q, q))
    for a in range(q):
        acc = 0.0
        for c in range(q):
            acc += d_precision[a, c] * precision[a, c] + d_precision[c, a] * precision[c, a]
            H[a, c] = d_precision[a, c] / (tau[a] * tau[c])
        d_tau[a] = -acc / tau[a] + 2.0 * d_log_det / tau[a]
    d_R = _product(_product(R_inv, H), R_inv)  # minus d/dR
    d_L = np.zeros((q, q))
    for i in range(q):
        for j in range(q):
            for k in range(q):
                d_L[i, j] -= (d_R[i, k] + d_R[k, i]) * L[k, j]
        d_L[i, i] += 2.0 * d_log_det / L[i, i]
    return d_tau, d_L


@_njit
def _population(y, sizes, priors, fixed, jacobian, gradient):
    """The priors of the scalar parameters (and, with ``jacobian``, their log-Jacobians), their gradient written
    into ``gradient``; returns (log density, x, dx/dy, mu, tau)."""
    C, q, partial = sizes[0], sizes[1], sizes[2]
    P = priors.shape[0]
    x = np.empty(P)
    dx_dy = np.empty(P)
    total = 0.0
    for i in range(P):
        code = int(priors[i, 0])
        x[i], log_jac, dx_dy[i], dlog_jac = _to_constrained(code, priors[i, 1], priors[i, 2], y[i])
        value, slope = _prior_logp(code, priors[i, 1], priors[i, 2], priors[i, 3], x[i])
        total += value
        gradient[i] = slope * dx_dy[i]
        if jacobian:
            total += log_jac
            gradient[i] += dlog_jac
    if partial:
        mu = x[C:C + q].copy()
        tau = x[C + q:C + 2 * q].copy()
    else:
        mu = fixed[:q].copy()
        tau = fixed[q:2 * q].copy()
    return total, x, dx_dy, mu, tau


@_njit
def _correlation_prior(y, P, q, eta, jacobian, gradient):
    """The correlation block y[P:P+m]: LKJ(eta) as a density of L's free entries (Stan's lkj_corr_cholesky,
    sum_{i >= 1} (q - i - 1 + 2 eta - 2) log L_ii) and, with ``jacobian``, the log-Jacobian of y -> L; the
    gradient is added into ``gradient``. Returns (log density, L, dL/dy)."""
    m = q * (q - 1) // 2
    L, dL, log_jac, d_log_jac = _cholesky_corr(y[P:P + m], q)
    total = 0.0
    for i in range(1, q):
        weight = q - i - 1 + 2.0 * eta - 2.0
        total += weight * math.log(L[i, i])
        for t in range(m):
            gradient[P + t] += weight * dL[t, i, i] / L[i, i]
    if jacobian:
        total += log_jac
        for t in range(m):
            gradient[P + t] += d_log_jac[t]
    return total, L, dL


@_njit
def _add_covariance_gradient(gradient, P, C, q, d_precision, d_log_det, tau, L, dL, precision, R_inv, dx_dy):
    """Add the gradient that reaches tau (y[C+q:C+2q]) and the correlations (y[P:]) through the covariance."""
    d_tau, d_L = _covariance_gradient(d_precision, d_log_det, tau, L, precision, R_inv)
    for a in range(q):
        gradient[C + q + a] += d_tau[a] * dx_dy[C + q + a]
    for t in range(dL.shape[0]):
        acc = 0.0
        for i in range(q):
            for j in range(i + 1):
                acc += d_L[i, j] * dL[t, i, j]
        gradient[P + t] += acc


@_njit
def log_density_independent(y, sizes, priors, columns, fixed, n, DtD, Dty, yty, jacobian):
    """(log p(y), gradient) of the module docstring, for uncorrelated group effects; ``jacobian=False`` leaves
    out log|dx/dy|.

    ``sizes`` = (C, q, partial, correlated): the numbers of common and of varying terms; 1 when ``mu`` and
    ``tau`` are parameters (partial pooling), 0 when they are fixed at ``fixed`` = (means, sds) (no pooling);
    1 when the group effects are correlated (:func:`log_density_correlated`, ``fixed`` = (eta,), the LKJ
    shape). ``priors`` (P, 4) one row per scalar parameter; ``columns`` the design columns of the common, then
    the varying, terms; ``n``, ``DtD``, ``Dty``, ``yty`` the group sums
    (:class:`hiermodels.model.gaussian.GroupSums`). Kept apart from the correlated density, and written flat, so
    that the common case compiles in a few seconds.
    """
    C, q, partial = sizes[0], sizes[1], sizes[2]
    P = priors.shape[0]
    gradient = np.zeros(P)
    total, x, dx_dy, mu, tau = _population(y, sizes, priors, fixed, jacobian, gradient)
    precision, log_det = _diagonal_covariance(tau)
    loglik, d_beta, d_mu, d_precision, d_log_det, d_sigma = _marginal_kernel(
        n, DtD, Dty, yty, x[:C].copy(), columns[:C], mu, columns[C:C + q], precision, log_det, x[P - 1:P].copy())
    total += loglik
    for i in range(C):
        gradient[i] += d_beta[i] * dx_dy[i]
    if partial:
        for a in range(q):
            gradient[C + a] += d_mu[a] * dx_dy[C + a]
            # precision_aa = tau_a^-2 and log|Sigma| = 2 sum log tau.
            d_tau = d_precision[a, a] * (-2.0 / (tau[a] ** 3)) + d_log_det * 2.0 / tau[a]
            gradient[C + q + a] += d_tau * dx_dy[C + q + a]
    gradient[P - 1] += d_sigma[0] * dx_dy[P - 1]
    return total, gradient


@_njit
def log_density_correlated(y, sizes, priors, columns, fixed, n, DtD, Dty, yty, jacobian):
    """:func:`log_density_independent` for correlated group effects (partial pooling): the correlation block
    y[P:] follows the scalar parameters, LKJ(``fixed[0]``) (:func:`_correlation_prior`), and
    Sigma = diag(tau) L L' diag(tau)."""
    C, q = sizes[0], sizes[1]
    P = priors.shape[0]
    gradient = np.zeros(y.shape[0])
    total, x, dx_dy, mu, tau = _population(y, sizes, priors, fixed, jacobian, gradient)
    lkj, L, dL = _correlation_prior(y, P, q, fixed[0], jacobian, gradient)
    precision, R_inv, log_det = _covariance(tau, L)
    loglik, d_beta, d_mu, d_precision, d_log_det, d_sigma = _marginal_kernel(
        n, DtD, Dty, yty, x[:C].copy(), columns[:C], mu, columns[C:C + q], precision, log_det, x[P - 1:P].copy())
    total += lkj + loglik
    for i in range(C):
        gradient[i] += d_beta[i] * dx_dy[i]
    for a in range(q):
        gradient[C + a] += d_mu[a] * dx_dy[C + a]
    _add_covariance_gradient(gradient, P, C, q, d_precision, d_log_det, tau, L, dL, precision, R_inv, dx_dy)
    gradient[P - 1] += d_sigma[0] * dx_dy[P - 1]
    return total, gradient


@_njit
def mode_log_density_independent(y, sizes, priors, columns, fixed, n, DtD, Dty, yty):
    """(log density, gradient) of the *centred* model, without the Jacobian: the function whose maximum is the
    joint mode (``mode.model_for_mode``). ``y`` is the population block of :func:`log_density_independent`
    followed by the group coefficients ``b`` (J x q, row by row), with b_j ~ N(mu, diag(tau^2)) (or the fixed
    no-pooling prior) and the likelihood on the group sums given every b_j."""
    C, q, partial = sizes[0], sizes[1], sizes[2]
    P = priors.shape[0]
    gradient = np.zeros(y.shape[0])
    total, x, dx_dy, mu, tau = _population(y, sizes, priors, fixed, False, gradient)
    precision, log_det = _diagonal_covariance(tau)
    value, d_precision, groups = _mode_core(y, sizes, columns, n, DtD, Dty, yty, P, x, dx_dy, mu, precision,
                                            log_det, gradient)
    if partial:
        for a in range(q):
            d_tau = d_precision[a, a] * (-2.0 / (tau[a] ** 3)) - groups / tau[a]
            gradient[C + q + a] += d_tau * dx_dy[C + q + a]
    return total + value, gradient


@_njit
def mode_log_density_correlated(y, sizes, priors, columns, fixed, n, DtD, Dty, yty):
    """:func:`mode_log_density_independent` with b_j ~ N(mu, Sigma), Sigma = diag(tau) L L' diag(tau), and
    the correlation block (before ``b``) under LKJ(``fixed[0]``) as a density of L."""
    C, q = sizes[0], sizes[1]
    P = priors.shape[0]
    gradient = np.zeros(y.shape[0])
    total, x, dx_dy, mu, tau = _population(y, sizes, priors, fixed, False, gradient)
    lkj, L, dL = _correlation_prior(y, P, q, fixed[0], False, gradient)
    precision, R_inv, log_det = _covariance(tau, L)
    value, d_precision, groups = _mode_core(y, sizes, columns, n, DtD, Dty, yty, P + dL.shape[0], x, dx_dy, mu,
                                            precision, log_det, gradient)
    _add_covariance_gradient(gradient, P, C, q, d_precision, -0.5 * groups, tau, L, dL, precision, R_inv,
                             dx_dy)
    return total + lkj + value, gradient


@_njit
def _mode_core(y, sizes, columns, n, DtD, Dty, yty, start, x, dx_dy, mu, precision, log_det, gradient):
    """The group coefficients' prior and the likelihood given them, for the mode densities: b = y[start:]
    (J x q). Adds every gradient but the covariance's into ``gradient``; returns (log density,
    d/d Sigma^{-1}, the number of groups with coefficients)."""
    C, q, partial = sizes[0], sizes[1], sizes[2]
    P = x.shape[0]
    J = n.shape[0]
    groups = J if q > 0 else 0
    b = np.empty((J, q) if q > 0 else (1, 0))  # complete pooling: no group coefficients
    d_precision = np.zeros((q, q))
    total = -0.5 * groups * (q * _LOG_2PI + log_det)
    for j in range(groups):
        for a in range(q):
            b[j, a] = y[start + j * q + a]
        # log N(b_j | mu, Sigma) = -q/2 log 2 pi - log|Sigma| / 2 - u' Sigma^{-1} u / 2, u = b_j - mu
        for a in range(q):
            Pu = 0.0
            for c in range(q):
                Pu += precision[a, c] * (b[j, c] - mu[c])
                d_precision[a, c] += -0.5 * (b[j, a] - mu[a]) * (b[j, c] - mu[c])
            total += -0.5 * (b[j, a] - mu[a]) * Pu
            gradient[start + j * q + a] += -Pu
            if partial:
                gradient[C + a] += Pu * dx_dy[C + a]
    loglik, d_beta, d_b, d_sigma = _sufficient_kernel(n, DtD, Dty, yty, x[:C].copy(), columns[:C], b,
                                                      columns[C:C + q], x[P - 1:P].copy())
    for i in range(C):
        gradient[i] += d_beta[i] * dx_dy[i]
    gradient[P - 1] += d_sigma[0] * dx_dy[P - 1]
    for j in range(groups):
        for a in range(q):
            gradient[start + j * q + a] += d_b[j, a]
    return total + loglik, d_precision, groups


# ------------------------------------------------------------------------------------------------ nutpie's callbacks
# The C interface itself (signatures, return codes, the pointer intrinsic) is nutpie's and numba's:
# hiermodels.engine.nutpie_adapter holds it.
# The user data (an int64 array; EngineModel.user_data): P (prior rows), J, K, then sizes (C, q, partial,
# correlated), then the addresses of priors, columns, fixed, n, DtD, Dty, yty.
_N_HEADER = 7


@_njit
def _unpack(header_pointer):
    header = numba.carray(header_pointer, (_N_HEADER + 7,), np.int64)
    P, J, K, C, q = header[0], header[1], header[2], header[3], header[4]
    sizes = header[3:7]
    addresses = header[_N_HEADER:]
    priors = numba.carray(as_pointer(addresses[0]), (P, 4), np.float64)
    columns = numba.carray(as_pointer(addresses[1]), (C + q,), np.int64)
    fixed = numba.carray(as_pointer(addresses[2]), (2 * q + 1,), np.float64)
    n = numba.carray(as_pointer(addresses[3]), (J,), np.float64)
    DtD = numba.carray(as_pointer(addresses[4]), (J, K, K), np.float64)
    Dty = numba.carray(as_pointer(addresses[5]), (J, K), np.float64)
    yty = numba.carray(as_pointer(addresses[6]), (J,), np.float64)
    return sizes, priors, columns, fixed, n, DtD, Dty, yty


@_njit
def expanded_values(y, sizes, priors):
    """What nutpie stores per draw: every scalar parameter on its own scale, then (correlated) the correlation
    matrix R row by row."""
    q, correlated = sizes[1], sizes[3]
    P = priors.shape[0]
    out = np.empty(P + (q * q if correlated else 0))
    for i in range(P):
        out[i] = _to_constrained(int(priors[i, 0]), priors[i, 1], priors[i, 2], y[i])[0]
    if correlated:
        L = _cholesky_corr(y[P:P + q * (q - 1) // 2], q)[0]
        for a in range(q):
            for c in range(q):
                acc = 0.0
                for k in range(q):
                    acc += L[a, k] * L[c, k]
                out[P + a * q + c] = acc
    return out


@_njit
def _write_logp(value, grad, dim, gradient_pointer, logp_pointer):
    """Store the log-density and its gradient where nutpie asked; the return codes are nutpie's own
    (``nutpie_adapter``): a non-finite gradient, a non-finite log-density (both end the trajectory as a
    divergence)."""
    gradient = numba.carray(gradient_pointer, (dim,))
    logp = numba.carray(logp_pointer, (1,))
    logp[0] = value
    finite = True
    for i in range(dim):
        gradient[i] = grad[i]
        if not np.isfinite(grad[i]):
            finite = False
    if not finite:
        return NONFINITE_GRADIENT
    if not np.isfinite(value):
        return NONFINITE_LOGP
    return 0


@_njit
def _write_expanded(values, n_expanded, out_pointer):
    out = numba.carray(out_pointer, (n_expanded,))
    for i in range(n_expanded):
        out[i] = values[i]
    return 0


# Two pairs of module-level callbacks (numba caches each under its own name): a model without correlations
# never compiles their code.
def _logp_independent(dim, x_pointer, gradient_pointer, logp_pointer, user_data):
    sizes, priors, columns, fixed, n, DtD, Dty, yty = _unpack(user_data)
    value, grad = log_density_independent(numba.carray(x_pointer, (dim,)), sizes, priors, columns, fixed, n, DtD,
                                          Dty, yty, True)
    return _write_logp(value, grad, dim, gradient_pointer, logp_pointer)


def _logp_correlated(dim, x_pointer, gradient_pointer, logp_pointer, user_data):
    sizes, priors, columns, fixed, n, DtD, Dty, yty = _unpack(user_data)
    value, grad = log_density_correlated(numba.carray(x_pointer, (dim,)), sizes, priors, columns, fixed, n, DtD,
                                         Dty, yty, True)
    return _write_logp(value, grad, dim, gradient_pointer, logp_pointer)


def _expand_independent(dim, n_expanded, x_pointer, out_pointer, user_data):
    priors = _unpack(user_data)[1]
    return _write_expanded(constrained_values(numba.carray(x_pointer, (dim,)), priors), n_expanded, out_pointer)


def _expand_correlated(dim, n_expanded, x_pointer, out_pointer, user_data):
    sizes, priors = _unpack(user_data)[:2]
    return _write_expanded(expanded_values(numba.carray(x_pointer, (dim,)), sizes, priors), n_expanded,
                           out_pointer)


_CALLBACKS: dict[bool, tuple] = {}  # correlated -> (log-density callback, expand callback)


def compiled(correlated: bool = False) -> bool:
    """Whether this process has the callbacks for models with (or without) correlations already."""
    return bool(correlated) in _CALLBACKS


def callbacks(correlated: bool = False):
    """The two C callbacks (log-density, expand) for models with or without correlated group effects, compiled
    on first use (and loaded from numba's disk cache in a new process). Callers hold ``compiled.COMPILE_LOCK``
    (numba's compiler is not thread-safe)."""
    correlated = bool(correlated)
    if correlated not in _CALLBACKS:
        logp, expand = ((_logp_correlated, _expand_correlated) if correlated
                        else (_logp_independent, _expand_independent))
        _CALLBACKS[correlated] = c_callbacks(logp, expand)
    return _CALLBACKS[correlated]


# ------------------------------------------------------------------------------------------------ the model
def supports(spec: ModelSpec, method: str) -> bool:
    """Whether :class:`EngineModel` covers this model (module docstring): gaussian, one residual scale, and
    either complete pooling, or the group effects integrated out without a correlation."""
    if spec.family != "gaussian" or spec.group_noise or method == "rows":
        return False
    if spec.pooling == "complete":
        return True
    return method == "marginal"


def has_correlations(spec: ModelSpec) -> bool:
    """Whether the engine samples this model with correlated group effects (partial pooling only)."""
    return spec.pooling == "partial" and spec.correlated


def supports_mode(spec: ModelSpec) -> bool:
    """Whether :meth:`EngineModel.find_mode` covers this model's joint mode (of its centred form): as
    :func:`supports`, whatever the parameterisation."""
    from hiermodels.model.build import normal_coefficient_priors

    if spec.family != "gaussian" or spec.group_noise:
        return False
    return spec.pooling in ("partial", "complete") or normal_coefficient_priors(spec)


def prior_row(prior: Prior) -> list[float]:
    """``(family code, p1, p2, p3)`` of a prior, parameters in PyMC's order, unused ones 0."""
    code = PRIOR_FAMILIES[prior.distribution].engine_code
    if code is None:
        raise ValueError(f"the gaussian engine takes no scalar {prior.distribution!r} prior")
    return [float(code), *prior.params, *[0.0] * (ENGINE_PARAMETERS - len(prior.params))]


def support_point(prior: Prior) -> float:
    """Where PyMC starts a variable with this prior (its ``support_point``), on the prior's own scale."""
    start = PRIOR_FAMILIES[prior.distribution].support_point
    if start is None:
        raise ValueError(f"a {prior.distribution!r} prior has no scalar support point")
    return float(start(prior.params))


def to_unconstrained(prior: Prior, value: float) -> float:
    """The inverse of the prior's transform (module docstring)."""
    transform = PRIOR_FAMILIES[prior.distribution].transform
    if transform == "interval":
        lower, upper = prior.params[:2]
        share = (value - lower) / (upper - lower)
        return math.log(share / (1 - share))
    if transform == "log":
        return math.log(value)
    if transform == "none":
        return value
    raise ValueError(f"the gaussian engine has no scalar {transform!r} transform (a {prior.distribution!r} prior)")


@dataclass(frozen=True, eq=False)
class EngineModel:
    """One gaussian model for the engine: its priors (one per parameter, in the order of the module
    docstring), its design columns and its group sums.

    ``names`` and ``shapes`` are the variables nutpie stores (:func:`expanded_values`): ``beta``, ``mu``,
    ``tau``, ``sigma`` and, when correlated, ``corr`` (named as in ``hiermodels.model.build``).
    """

    priors: tuple[Prior, ...]
    common_columns: tuple[int, ...]
    varying_columns: tuple[int, ...]
    partial: bool
    correlated: bool
    # No pooling: the prior's means then sds; correlated partial pooling: (eta,), the LKJ shape.
    fixed: tuple[float, ...]
    sums: GroupSums
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    _arrays: dict = field(default_factory=dict, repr=False)

    @property
    def n_correlations(self) -> int:
        q = len(self.varying_columns)
        return q * (q - 1) // 2 if self.correlated else 0

    @property
    def n_dim(self) -> int:
        """The length of the parameter vector: one per prior, then the correlations' unconstrained values."""
        return len(self.priors) + self.n_correlations

    def arrays(self) -> dict[str, np.ndarray]:
        """The model's numbers as the contiguous arrays :func:`_log_density` takes (made once)."""
        if not self._arrays:
            q = len(self.varying_columns)
            self._arrays.update(
                sizes=np.array([len(self.common_columns), q, int(self.partial), int(self.correlated)],
                               dtype=np.int64),
                priors=np.ascontiguousarray([prior_row(p) for p in self.priors], dtype=np.float64).reshape(-1, 4),
                columns=np.array([*self.common_columns, *self.varying_columns], dtype=np.int64),
                fixed=np.array([*self.fixed, *[0.0] * (2 * q + 1 - len(self.fixed))], dtype=np.float64),
                n=np.ascontiguousarray(self.sums.n, dtype=np.float64),
                DtD=np.ascontiguousarray(self.sums.DtD, dtype=np.float64),
                Dty=np.ascontiguousarray(self.sums.Dty, dtype=np.float64),
                yty=np.ascontiguousarray(self.sums.yty, dtype=np.float64),
            )
        return self._arrays

    def log_density(self, y: np.ndarray, jacobian: bool = True) -> tuple[float, np.ndarray]:
        """(log p(y), gradient) at an unconstrained point ``y`` (module docstring)."""
        a = self.arrays()
        density = log_density_correlated if self.correlated else log_density_independent
        return density(np.asarray(y, dtype=np.float64), a["sizes"], a["priors"], a["columns"], a["fixed"],
                       a["n"], a["DtD"], a["Dty"], a["yty"], jacobian)

    def constrained(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """The variables at an unconstrained point ``y``, by name."""
        a = self.arrays()
        values = expanded_values(np.asarray(y, dtype=np.float64), a["sizes"], a["priors"])
        out, start = {}, 0
        for name, shape in zip(self.names, self.shapes, strict=True):
            size = int(np.prod(shape))
            out[name] = values[start:start + size].reshape(shape)
            start += size
        return out

    def initial_point(self, seed: int) -> np.ndarray:
        """PyMC's start for nutpie: each prior's support point, moved by uniform(-1, 1) jitter on the
        unconstrained scale."""
        return self._start() + np.random.default_rng(seed).uniform(-1, 1, self.n_dim)

    def _start(self) -> np.ndarray:
        """Each prior's support point on the unconstrained scale; correlations 0 (R = I, LKJ's support point)."""
        return np.array([*(to_unconstrained(p, support_point(p)) for p in self.priors),
                         *[0.0] * self.n_correlations])

    def find_mode(self, options: dict[str, float]) -> tuple[dict[str, np.ndarray], str]:
        """The joint mode of the centred model (:func:`_mode_log_density`) by L-BFGS-B, as ``pm.find_MAP`` finds
        it: from the support points without jitter, in the unconstrained space, without the Jacobian. Returns
        the point (the variables of :meth:`constrained` and ``b``) and a message, empty when the optimiser
        converged. ``options`` are scipy's (``hiermodels.inference.mode.LBFGSB_OPTIONS``, the same for every mode)."""
        from scipy import optimize
        from threadpoolctl import threadpool_limits

        from hiermodels.model.build import GROUP_COEFFICIENT

        a = self.arrays()
        J, q = a["n"].shape[0], len(self.varying_columns)
        start = self._start()
        group_start = self.constrained(start).get("mu", np.asarray(self.fixed[:q]))
        x0 = np.concatenate([start, np.tile(group_start, J if q else 0)])
        arguments = (a["sizes"], a["priors"], a["columns"], a["fixed"], a["n"], a["DtD"], a["Dty"], a["yty"])
        density = mode_log_density_correlated if self.correlated else mode_log_density_independent

        def negative(y):
            value, gradient = density(y, *arguments)
            # A probe where the density is 0 or undefined: reject it (as CompiledModeFinder does).
            return (-value if np.isfinite(value) else 1e300), -np.nan_to_num(gradient)

        # One BLAS thread: L-BFGS-B's small vector products cost more in OpenBLAS's hand-offs between threads than
        # they save (radon's mode: 1.0 s with two threads on a busy two-core machine, 0.2 s with one), and give the
        # same numbers (the density is numba loops, no BLAS). A fit finds its mode inside its queue slot, after its
        # sampling, while other fits wait for theirs.
        with threadpool_limits(limits=1, user_api="blas"):
            result = optimize.minimize(negative, x0, jac=True, method="L-BFGS-B",
                                       options=options)
        point = self.constrained(result.x[:self.n_dim])
        if q:
            point[GROUP_COEFFICIENT] = result.x[self.n_dim:].reshape(J, q)
        message = "" if result.success else f"the optimiser stopped early: {result.message}"
        return point, message

    def user_data(self) -> np.ndarray:
        """The int64 array the callbacks read (sizes, then addresses); valid while this model lives."""
        a = self.arrays()
        J, K = a["Dty"].shape
        header = [len(self.priors), J, K, *a["sizes"]]
        addresses = [a[name].ctypes.data for name in ("priors", "columns", "fixed", "n", "DtD", "Dty", "yty")]
        return np.array([*header, *addresses], dtype=np.int64)

    def for_nutpie(self, coords: dict[str, Sequence], dims: dict[str, tuple[str, ...]]):
        """A nutpie model sampling this one through the engine's C callbacks (``nutpie_adapter.callback_model``;
        callers hold ``compiled.COMPILE_LOCK`` if the callbacks may not be compiled yet)."""
        logp, expand = callbacks(self.correlated)
        return callback_model(n_dim=self.n_dim, variables=tuple(zip(self.names, self.shapes, strict=True)),
                              coords=coords, dims=dims, logp=logp, expand=expand, user_data=self.user_data(),
                              keep_alive=self.arrays(), initial_point=self.initial_point)

    def for_pyfunc(self, coords: dict[str, Sequence], dims: dict[str, tuple[str, ...]]):
        """The same nutpie model through nutpie's public ``from_pyfunc`` (``nutpie_adapter.pyfunc_model``):
        Python callables around the same numba kernels, called by nutpie under the GIL. Not the route
        :func:`hiermodels.engine.compiled.sampler_for` takes (``nutpie_adapter``'s docstring has the measurement);
        the fallback should an upgrade of nutpie break :meth:`for_nutpie`."""
        from hiermodels.engine.nutpie_adapter import pyfunc_model

        a = self.arrays()
        arguments = (a["sizes"], a["priors"], a["columns"], a["fixed"], a["n"], a["DtD"], a["Dty"], a["yty"])
        density = log_density_correlated if self.correlated else log_density_independent
        sizes, priors = a["sizes"], a["priors"]

        def logp(y: np.ndarray) -> tuple[float, np.ndarray]:
            return density(y, *arguments, True)

        def expand(y: np.ndarray) -> np.ndarray:
            return expanded_values(y, sizes, priors)

        return pyfunc_model(n_dim=self.n_dim, variables=tuple(zip(self.names, self.shapes, strict=True)),
                            coords=coords, dims=dims, logp=logp, expand=expand, initial_point=self.initial_point)


def engine_model(data: PreparedData, spec: ModelSpec) -> EngineModel:
    """The :class:`EngineModel` of ``spec`` on ``data`` (:func:`supports` must hold)."""
    from hiermodels.model.build import (
        COMMON,
        CORRELATION,
        GROUP_SD,
        POPULATION_MEAN,
        SIGMA,
        no_pooling_prior,
        term_split,
    )
    from hiermodels.model.priors import resolve_priors

    priors = resolve_priors(data, spec)
    common, varying = term_split(data, spec)
    partial = spec.pooling == "partial"
    ordered = [priors[t] for t in common]
    names: list[str] = []
    shapes: list[tuple[int, ...]] = []
    if common:
        names.append(COMMON)
        shapes.append((len(common),))
    fixed: tuple[float, ...] = ()
    if partial:
        ordered += [priors[t] for t in varying] + [priors[group_sd(t)] for t in varying]
        names += [POPULATION_MEAN, GROUP_SD]
        shapes += [(len(varying),), (len(varying),)]
    elif varying:
        means, sds = no_pooling_prior(priors, varying)
        fixed = (*map(float, means), *map(float, sds))
    ordered.append(priors[SIGMA])
    names.append(SIGMA)
    shapes.append(())
    if has_correlations(spec):
        fixed = (float(priors[CORRELATION_PRIOR].params[0]),)
        names.append(CORRELATION)
        shapes.append((len(varying), len(varying)))
    unknown = [p.distribution for p in ordered if p.distribution not in FAMILIES]
    if unknown:  # pragma: no cover - spec validation admits "lkj" for the correlation only
        raise ValueError(f"the gaussian engine has no {unknown[0]!r} prior")
    return EngineModel(
        priors=tuple(ordered),
        common_columns=tuple(data.terms.index(t) for t in common),
        varying_columns=tuple(data.terms.index(t) for t in varying),
        partial=partial,
        correlated=has_correlations(spec),
        fixed=fixed,
        # Complete pooling: one likelihood term for all groups (GroupSums.pooled).
        sums=GroupSums.from_data(data) if varying else GroupSums.from_data(data).pooled(),
        names=tuple(names),
        shapes=tuple(shapes),
    )
