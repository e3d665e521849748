r"""The gaussian log-likelihoods of :mod:`hiermodels.model.gaussian` and :mod:`hiermodels.model.integrated` as
single PyTensor Ops with hand-written gradients, written as numba loops.

Why: written as a PyTensor graph, the marginal likelihood (unrolled q × q Cholesky factors over the groups, and
its automatic gradient) becomes over a hundred small numba functions, and compiling them took 20 s on a cold
cache against 6 s for the whole PyMC radon primer model. As one Op it is one loop over the groups, the same code
for every structure; the graph left around it (priors, transforms) is as small as a textbook model's.

Each Op returns the log-likelihood and its gradient with respect to every parameter input in one pass (the
gradient costs little more than the value), and ``pullback`` hands those gradients to PyTensor's autodiff. Data inputs
(the group sums) are never differentiated.

``SufficientGaussianLoglik`` (:func:`sufficient_loglik`), per group j with coefficients :math:`c_j` (``coef``)
and noise sd :math:`\sigma_j` (``sigma``); ``rss_j`` :math:`= y_j^Ty_j - 2c_j^TD_j^Ty_j + c_j^TD_j^TD_jc_j`:

.. math:: \ell_j = -\tfrac{n_j}{2}\log 2\pi - n_j\log\sigma_j - \frac{rss_j}{2\sigma_j^2},\quad
          \frac{\partial\ell_j}{\partial c_j} = \frac{D_j^Ty_j - D_j^TD_jc_j}{\sigma_j^2},\quad
          \frac{\partial\ell_j}{\partial\sigma_j} = -\frac{n_j}{\sigma_j} + \frac{rss_j}{\sigma_j^3}

``MarginalGaussianLoglik`` (:func:`marginal_loglik`): with :math:`s_j = \sigma_j^2`, :math:`P = \Sigma^{-1}`
(``precision``), :math:`M_j = s_jP + Z_j^TZ_j`, :math:`z_j = Z_j^Tr_j`, :math:`v_j = M_j^{-1}z_j` and
``log_det`` :math:`=\log|\Sigma|` (see :mod:`hiermodels.model.gaussian` for the derivation of the value),

.. math::
    \ell_j &= -\tfrac12\big[n_j\log 2\pi + (n_j - q)\log s_j + \log|\Sigma| + \log|M_j|
              + (rss_j - z_j^Tv_j)/s_j\big] \\
    \partial\ell_j/\partial\theta &= \big(D_j^Ty_j - D_j^TD_j\theta - D_j^TZ_jv_j\big)/s_j \\
    \partial\ell_j/\partial P &= -\tfrac12\big(s_jM_j^{-1} + v_jv_j^T\big), \qquad
    \partial\ell_j/\partial\log|\Sigma| = -\tfrac12 \\
    \partial\ell_j/\partial\sigma_j &= -\sigma_j\big[(n_j - q)/s_j + \mathrm{tr}(M_j^{-1}P)
              - (rss_j - z_j^Tv_j)/s_j^2 + v_j^TPv_j/s_j\big]

``IntegratedGaussianLoglik`` (:func:`integrated_loglik`): the rows of one grouping factor's group j, with that
factor's intercepts integrated out (:mod:`hiermodels.model.integrated` derives the value). With residuals
:math:`r_i` (``residual``), :math:`n_j, S_j = \sum_{i\in j} r_i, Q_j = \sum_{i\in j} r_i^2`, :math:`v = \sigma^2`,
:math:`t = \tau^2`, :math:`d_j = v + n_jt`, :math:`m_j = tS_j/d_j` and :math:`A_j = Q_j - tS_j^2/d_j`,

.. math::
    \ell_j &= -\tfrac12\big[n_j\log 2\pi + (n_j - 1)\log v + \log d_j + A_j/v\big] \\
    \partial\ell/\partial r_i &= -(r_i - m_{j(i)})/v \\
    \partial\ell_j/\partial t &= -\tfrac12\big(n_j/d_j - S_j^2/d_j^2\big), \qquad
    \partial\ell_j/\partial v = -\tfrac12\big[(n_j - 1)/v + 1/d_j + tS_j^2/(d_j^2v) - A_j/v^2\big]

and :math:`\partial/\partial\tau = 2\tau\,\partial/\partial t`,
:math:`\partial/\partial\sigma = 2\sigma\,\partial/\partial v`. An empty (padding) group adds exactly 0 to the value and
the gradients. With ``zero_sum`` (no pooling's effect coding) the value gains
:math:`C = \tfrac12\log(tJ/V) - M^2/(2V)`, :math:`M = t\sum_j S_j/d_j`, :math:`V = vt\sum_j 1/d_j` (J groups, every
one counting), whose derivatives follow from :math:`\partial M/\partial r_i = t/d_{j(i)}`,
:math:`\partial M/\partial t = v\sum_j S_j/d_j^2`, :math:`\partial M/\partial v = -t\sum_j S_j/d_j^2`,
:math:`\partial V/\partial t = v^2\sum_j 1/d_j^2`, :math:`\partial V/\partial v = t^2\sum_j n_j/d_j^2` and
:math:`\partial C/\partial M = -M/V`, :math:`\partial C/\partial V = -1/(2V) + M^2/(2V^2)`,
:math:`\partial C/\partial t \mathrel{+}= 1/(2t)`.

Why an Op and not a PyTensor graph of scatter-adds (as this was first written): the graph and its automatic
gradient make eight passes over the rows (a gather per sum's gradient, a scatter-add per sum) in separate numba
functions; the Op makes two, and a log-density with its gradient on InstEval's 73,421 rows fell from 1.26 ms to
0.63 ms per call (``python benchmarks/bench_log_density.py --insteval PATH``, load about 1.5; the textbook model of the
same data: 0.43 ms, with 4,104 values against our 1,540).

``P`` is treated as a full matrix of independent entries (the caller builds it symmetric, and the chain rule
through the caller's graph adds the two halves). A group whose :math:`M_j` is not positive definite makes the
log-likelihood :math:`-\infty` (NUTS treats that as a divergence), with a zero gradient.
"""

from __future__ import annotations

import functools
import hashlib
import math
from pathlib import Path
from typing import cast

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import grad_undefined
from pytensor.graph.basic import Apply, Variable
from pytensor.graph.op import Op

_LOG_2PI = math.log(2 * math.pi)

# cache=True: numba keeps the machine code in __pycache__ (or NUMBA_CACHE_DIR), so a restarted server skips it.
# error_model="numpy": a division by zero gives inf or nan (a divergence, or a step the optimiser rejects), not a
# ZeroDivisionError; the mode finder's L-BFGS probes such extreme points.
_jit = functools.partial(numba.njit, cache=True, fastmath=False, boundscheck=False, error_model="numpy")
_njit = _jit()
# PyTensor caches the compiled Op functions on disk under a key made of the Op and this number: a hash of this
# file, so that any change to the kernels invalidates the cache.
_CACHE_VERSION = int(hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12], 16)


@_njit
def _assemble(beta, common_cols, per_term, varying_cols, out):
    """out[k] = the coefficient of design column k: beta for common columns, per_term for varying ones."""
    for i in range(common_cols.shape[0]):
        out[common_cols[i]] = beta[i]
    for a in range(varying_cols.shape[0]):
        out[varying_cols[a]] = per_term[a]


@_njit
def _inverse_from_cholesky(L, L_inv, out):
    """A^{-1} = L^{-T} L^{-1} for A = L L^T, into out; ``L_inv`` (q x q) is scratch space for L^{-1}, passed in
    so that the loops over groups allocate nothing."""
    q = L.shape[0]
    for c in range(q):  # column c of L^{-1}: forward substitution on the unit vector e_c
        for i in range(q):
            if i < c:
                L_inv[i, c] = 0.0
                continue
            acc = 1.0 if i == c else 0.0
            for m in range(c, i):
                acc -= L[i, m] * L_inv[m, c]
            L_inv[i, c] = acc / L[i, i]
    for a in range(q):
        for c in range(q):
            acc = 0.0
            for m in range(q):
                acc += L_inv[m, a] * L_inv[m, c]
            out[a, c] = acc


@_njit
def _sufficient_kernel(n, DtD, Dty, yty, beta, common_cols, b, varying_cols, sigma):
    J, K = Dty.shape
    total = 0.0
    d_beta = np.zeros(beta.shape)
    d_b = np.zeros(b.shape)
    d_sigma = np.zeros(sigma.shape)
    coef = np.empty(K)
    for j in range(J):
        jb = j if b.shape[0] > 1 else 0
        js = j if sigma.shape[0] > 1 else 0
        _assemble(beta, common_cols, b[jb], varying_cols, coef)
        s = sigma[js]
        rss = yty[j]
        for k in range(K):
            gram_c = 0.0
            for m in range(K):
                gram_c += DtD[j, k, m] * coef[m]
            rss += coef[k] * (gram_c - 2.0 * Dty[j, k])
            # d rss / d coef_k = -2 (Dty - DtD coef)_k
            d_coef_k = (Dty[j, k] - gram_c) / (s * s)
            for i in range(common_cols.shape[0]):
                if common_cols[i] == k:
                    d_beta[i] += d_coef_k
            for a in range(varying_cols.shape[0]):
                if varying_cols[a] == k:
                    d_b[jb, a] += d_coef_k
        total += -0.5 * n[j] * _LOG_2PI - n[j] * math.log(s) - 0.5 * rss / (s * s)
        d_sigma[js] += -n[j] / s + rss / (s * s * s)
    return total, d_beta, d_b, d_sigma


@_jit(inline="always")  # numba inlines it: as a call it cost time per group
def _residual_sum_of_squares(DtD, Dty, yty, j, theta, gram_theta):
    """rss_j = y_j'y_j - 2 theta'D_j'y_j + theta'D_j'D_j theta of group j, with D_j'D_j theta written into
    ``gram_theta`` (the gradients use it). Inlined into both marginal loops."""
    K = theta.shape[0]
    rss = yty[j]
    for k in range(K):
        acc = 0.0
        for m in range(K):
            acc += DtD[j, k, m] * theta[m]
        gram_theta[k] = acc
        rss += theta[k] * (acc - 2.0 * Dty[j, k])
    return rss


@_njit
def _marginal_kernel(n, DtD, Dty, yty, beta, common_cols, mu, cols, precision, log_det, sigma):
    J, K = Dty.shape
    q = cols.shape[0]
    theta = np.empty(K)
    _assemble(beta, common_cols, mu, cols, theta)
    if q == 1:
        return _marginal_one_term(n, DtD, Dty, yty, beta, common_cols, mu, cols, precision, log_det, sigma, theta)
    total = 0.0
    d_theta = np.zeros(K)
    d_precision = np.zeros((q, q))
    d_sigma = np.zeros(sigma.shape)
    gram_theta = np.empty(K)
    z = np.empty(q)
    M = np.empty((q, q))
    L = np.zeros((q, q))
    L_inv = np.zeros((q, q))
    M_inv = np.empty((q, q))
    w = np.empty(q)
    v = np.empty(q)
    failed = (-np.inf, np.zeros(beta.shape), np.zeros(q), np.zeros((q, q)), 0.0, np.zeros(sigma.shape))
    shared = sigma.shape[0] == 1
    s = sigma[0] * sigma[0]
    log_s = math.log(s)  # one logarithm per call, not per group, when the groups share sigma
    for j in range(J):
        js = 0 if shared else j
        if not shared:
            s = sigma[j] * sigma[j]
            log_s = math.log(s)
        rss = _residual_sum_of_squares(DtD, Dty, yty, j, theta, gram_theta)
        for a in range(q):
            z[a] = Dty[j, cols[a]] - gram_theta[cols[a]]
            for c in range(q):
                M[a, c] = s * precision[a, c] + DtD[j, cols[a], cols[c]]
        # Cholesky M = L L^T, row by row.
        log_det_M = 0.0
        for i in range(q):
            for k in range(i + 1):
                acc = M[i, k]
                for m in range(k):
                    acc -= L[i, m] * L[k, m]
                if i == k:
                    if not acc > 0.0:
                        return failed
                    L[i, i] = math.sqrt(acc)
                    log_det_M += 2.0 * math.log(L[i, i])
                else:
                    L[i, k] = acc / L[k, k]
        # w = L^{-1} z, v = L^{-T} w = M^{-1} z, and M^{-1} = L^{-T} L^{-1}.
        quadratic = 0.0
        for i in range(q):
            acc = z[i]
            for m in range(i):
                acc -= L[i, m] * w[m]
            w[i] = acc / L[i, i]
            quadratic += w[i] * w[i]
        for i in range(q - 1, -1, -1):
            acc = w[i]
            for m in range(i + 1, q):
                acc -= L[m, i] * v[m]
            v[i] = acc / L[i, i]
        _inverse_from_cholesky(L, L_inv, M_inv)
        trace_M_inv_P = 0.0
        v_P_v = 0.0
        for a in range(q):
            for c in range(q):
                trace_M_inv_P += M_inv[a, c] * precision[c, a]
                v_P_v += v[a] * precision[a, c] * v[c]
        remainder = rss - quadratic
        total += -0.5 * (n[j] * _LOG_2PI + (n[j] - q) * log_s + log_det + log_det_M + remainder / s)
        for k in range(K):
            acc = Dty[j, k] - gram_theta[k]
            for a in range(q):
                acc -= DtD[j, k, cols[a]] * v[a]
            d_theta[k] += acc / s
        for a in range(q):
            for c in range(q):
                d_precision[a, c] += -0.5 * (s * M_inv[a, c] + v[a] * v[c])
        d_sigma[js] += -sigma[js] * ((n[j] - q) / s + trace_M_inv_P - remainder / (s * s) + v_P_v / s)
    d_beta = np.empty(beta.shape)
    for i in range(common_cols.shape[0]):
        d_beta[i] = d_theta[common_cols[i]]
    d_mu = np.empty(q)
    for a in range(q):
        d_mu[a] = d_theta[cols[a]]
    return total, d_beta, d_mu, d_precision, -0.5 * J, d_sigma


@_njit
def _marginal_one_term(n, DtD, Dty, yty, beta, common_cols, mu, cols, precision, log_det, sigma, theta):
    """``_marginal_kernel`` for one varying term (q = 1, ``theta`` assembled): the same sums with the 1 x 1 matrices
    as scalars. Why a second loop: the general one (a Cholesky factor, two triangular solves and an inverse per
    group, in scratch arrays) spent 72 us on 1,000 groups where this spends a third of that, and one varying
    intercept is the most common model (``tests/test_gaussian.py`` checks both loops against the PyMC model)."""
    J, K = Dty.shape
    c0 = cols[0]
    p = precision[0, 0]
    total = 0.0
    d_theta = np.zeros(K)
    d_precision = 0.0
    d_sigma = np.zeros(sigma.shape)
    gram_theta = np.empty(K)
    shared = sigma.shape[0] == 1
    s = sigma[0] * sigma[0]
    log_s, inv_s = math.log(s), 1.0 / s
    for j in range(J):
        js = 0 if shared else j
        if not shared:
            s = sigma[j] * sigma[j]
            log_s, inv_s = math.log(s), 1.0 / s
        rss = _residual_sum_of_squares(DtD, Dty, yty, j, theta, gram_theta)
        z = Dty[j, c0] - gram_theta[c0]
        M = s * p + DtD[j, c0, c0]
        if not M > 0.0:
            return -np.inf, np.zeros(beta.shape), np.zeros(1), np.zeros((1, 1)), 0.0, np.zeros(sigma.shape)
        M_inv = 1.0 / M
        v = z * M_inv
        remainder = rss - z * v
        total += n[j] * _LOG_2PI + (n[j] - 1.0) * log_s + math.log(M) + remainder * inv_s
        for k in range(K):
            d_theta[k] += (Dty[j, k] - gram_theta[k] - DtD[j, k, c0] * v) * inv_s
        d_precision += s * M_inv + v * v
        d_sigma[js] += -sigma[js] * ((n[j] - 1.0) * inv_s + M_inv * p - remainder * inv_s * inv_s + v * v * p * inv_s)
    d_beta = np.empty(beta.shape)
    for i in range(common_cols.shape[0]):
        d_beta[i] = d_theta[common_cols[i]]
    d_mu = np.array([d_theta[c0]])
    return -0.5 * (total + J * log_det), d_beta, d_mu, np.array([[-0.5 * d_precision]]), -0.5 * J, d_sigma


@_njit
def _integrated_kernel(residual, index, count, tau, sigma, zero_sum):
    # One pass over the rows for the sums, one for the gradient. d_j = v + n_j t depends on the group only through
    # its row count n_j (``count``, data): its log and inverse are computed once per distinct count (the InstEval
    # subsample's 1,047 students have 7; a log per group and the counts recounted on every call made this kernel
    # 28 us where it now takes 11, measured in a numba loop).
    N, n_groups = residual.shape[0], count.shape[0]
    total = np.zeros(n_groups)
    squares = 0.0
    for i in range(N):
        total[index[i]] += residual[i]
        squares += residual[i] * residual[i]
    largest = 0
    for j in range(n_groups):
        largest = max(largest, count[j])
    groups_of_count = np.zeros(largest + 1)
    for j in range(n_groups):
        groups_of_count[count[j]] += 1.0
    v, t = sigma * sigma, tau * tau
    inverse_v = 1.0 / v  # multiplications in the loops below: a division costs several times more
    inverse_d = np.zeros(largest + 1)
    log_det = 0.0  # sum_j log d_j
    sum_inverse = 0.0  # sum_j 1/d_j
    sum_count_inverse = 0.0  # sum_j n_j/d_j
    sum_inverse_squared = 0.0  # sum_j 1/d_j^2
    sum_count_inverse_squared = 0.0  # sum_j n_j/d_j^2
    for c in range(largest + 1):
        if groups_of_count[c] > 0.0:
            d = v + c * t
            inverse_d[c] = 1.0 / d
            log_det += groups_of_count[c] * math.log(d)
            sum_inverse += groups_of_count[c] / d
            sum_count_inverse += groups_of_count[c] * c / d
            sum_inverse_squared += groups_of_count[c] / (d * d)
            sum_count_inverse_squared += groups_of_count[c] * c / (d * d)
    weighted = 0.0  # sum_j S_j^2/d_j
    weighted_squared = 0.0  # sum_j S_j^2/d_j^2
    sum_ratio = 0.0  # sum_j S_j/d_j
    sum_ratio_inverse = 0.0  # sum_j S_j/d_j^2
    pull = np.empty(n_groups)  # d/d r_i = -r_i/v + pull_j(i)
    for j in range(n_groups):
        inverse = inverse_d[count[j]]
        ratio = total[j] * inverse
        weighted += total[j] * ratio
        weighted_squared += ratio * ratio
        sum_ratio += ratio
        sum_ratio_inverse += ratio * inverse
        pull[j] = t * inverse_v * ratio  # m_j / v
    quadratic = squares - t * weighted  # sum_j A_j
    value = -0.5 * (N * _LOG_2PI + (N - n_groups) * math.log(v) + log_det + quadratic / v)
    d_t = -0.5 * (sum_count_inverse - weighted_squared)
    d_v = -0.5 * ((N - n_groups) / v + sum_inverse + t * weighted_squared / v - quadratic / (v * v))
    if zero_sum:
        # The deviations sum to zero: the correction C of the module docstring, with M = t sum S_j/d_j and
        # V = v t sum 1/d_j the mean and variance of sum_j u_j under the unconstrained conditional.
        M, V = t * sum_ratio, v * t * sum_inverse
        slope = M / V
        value += 0.5 * math.log(t * n_groups / V) - 0.5 * M * slope
        d_M, d_V = -slope, -0.5 / V + 0.5 * slope * slope
        d_t += 0.5 / t + d_M * v * sum_ratio_inverse + d_V * v * v * sum_inverse_squared
        d_v += -d_M * t * sum_ratio_inverse + d_V * t * t * sum_count_inverse_squared
        for j in range(n_groups):
            pull[j] -= slope * t * inverse_d[count[j]]
    d_residual = np.empty(N)
    for i in range(N):
        d_residual[i] = pull[index[i]] - residual[i] * inverse_v
    return value, d_residual, 2.0 * tau * d_t, 2.0 * sigma * d_v


def _as_float_tensor(x) -> pt.TensorVariable:
    return pt.as_tensor_variable(x).astype("float64")


def _columns(columns) -> pt.TensorVariable:
    """Column indices as an int64 constant (lists from callers) or tensor (when PyTensor clones a node)."""
    if isinstance(columns, list | tuple | np.ndarray):
        columns = np.asarray(columns, dtype=np.int64)
    return pt.as_tensor_variable(columns).astype("int64")


class SufficientGaussianLoglik(Op):
    """Outputs (log-likelihood, d/d beta, d/d b, d/d sigma); inputs n (J,), DtD (J,K,K), Dty (J,K), yty (J,),
    beta (C,), common_cols (C,), b (1 or J, q), varying_cols (q,), sigma (1 or J,)."""

    __props__ = ()

    def make_node(self, n, DtD, Dty, yty, beta, common_cols, b, varying_cols, sigma):
        _register_numba()
        inputs = [_as_float_tensor(x) for x in (n, DtD, Dty, yty, beta)]
        inputs += [_columns(common_cols), _as_float_tensor(b), _columns(varying_cols), _as_float_tensor(sigma)]
        return Apply(self, inputs, [pt.dscalar(), inputs[4].type(), inputs[6].type(), inputs[8].type()])

    def perform(self, node, inputs, output_storage):
        for storage, out in zip(output_storage, _sufficient_kernel(*inputs), strict=True):
            storage[0] = np.asarray(out, dtype=float)

    def infer_shape(self, node, shapes):
        return [(), shapes[4], shapes[6], shapes[8]]

    def pullback(self, inputs, outputs, output_grads):
        g = output_grads[0]
        grads = [grad_undefined(self, i, x, "the group sums and column indices are data") for i, x in enumerate(inputs)]
        grads[4], grads[6], grads[8] = g * outputs[1], g * outputs[2], g * outputs[3]
        return grads


class MarginalGaussianLoglik(Op):
    """Outputs (log-likelihood, d/d beta, d/d mu, d/d precision, d/d log_det, d/d sigma); inputs n, DtD, Dty,
    yty, beta (C,), common_cols (C,), mu (q,), varying_cols (q,), precision (q,q), log_det (), sigma (1 or J,)."""

    __props__ = ()

    def make_node(self, n, DtD, Dty, yty, beta, common_cols, mu, varying_cols, precision, log_det, sigma):
        _register_numba()
        inputs = [_as_float_tensor(x) for x in (n, DtD, Dty, yty, beta)]
        inputs += [_columns(common_cols), _as_float_tensor(mu), _columns(varying_cols)]
        inputs += [_as_float_tensor(x) for x in (precision, log_det, sigma)]
        outputs = [pt.dscalar(), inputs[4].type(), inputs[6].type(), inputs[8].type(), pt.dscalar(), inputs[10].type()]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, output_storage):
        inputs = [*inputs[:9], float(inputs[9]), inputs[10]]
        for storage, out in zip(output_storage, _marginal_kernel(*inputs), strict=True):
            storage[0] = np.asarray(out, dtype=float)

    def infer_shape(self, node, shapes):
        return [(), shapes[4], shapes[6], shapes[8], (), shapes[10]]

    def pullback(self, inputs, outputs, output_grads):
        g = output_grads[0]
        grads = [grad_undefined(self, i, x, "the group sums and column indices are data") for i, x in enumerate(inputs)]
        for position, output in zip((4, 6, 8, 9, 10), outputs[1:], strict=True):
            grads[position] = g * output
        return grads


class IntegratedGaussianLoglik(Op):
    """Outputs (log-likelihood, d/d residual, d/d tau, d/d sigma); inputs residual (N,), index (N,) the group of
    each row, count (J,) the rows of each group, tau (), sigma (), zero_sum () whether the deviations sum to
    zero."""

    __props__ = ()

    def make_node(self, residual, index, count, tau, sigma, zero_sum):
        _register_numba()
        inputs = [_as_float_tensor(residual), pt.as_tensor_variable(index).astype("int64"),
                  pt.as_tensor_variable(count).astype("int64"), _as_float_tensor(tau), _as_float_tensor(sigma),
                  pt.as_tensor_variable(zero_sum).astype("int64")]
        return Apply(self, inputs, [pt.dscalar(), inputs[0].type(), pt.dscalar(), pt.dscalar()])

    def perform(self, node, inputs, output_storage):
        residual, index, count, tau, sigma, zero_sum = inputs
        outputs = _integrated_kernel(residual, index, count, float(tau), float(sigma), bool(zero_sum))
        for storage, out in zip(output_storage, outputs, strict=True):
            storage[0] = np.asarray(out, dtype=float)

    def infer_shape(self, node, shapes):
        return [(), shapes[0], (), ()]

    def pullback(self, inputs, outputs, output_grads):
        g = output_grads[0]
        grads = [grad_undefined(self, i, x, "the group index, count and constraint are data")
                 for i, x in enumerate(inputs)]
        grads[0], grads[3], grads[4] = g * outputs[1], g * outputs[2], g * outputs[3]
        return grads


_sufficient_op = SufficientGaussianLoglik()
_marginal_op = MarginalGaussianLoglik()
_integrated_op = IntegratedGaussianLoglik()

_NO_COMMON = (np.zeros(0), np.zeros(0, dtype=np.int64))


def _log_likelihood(outputs: Variable | list[Variable]) -> pt.TensorVariable:
    """The first output of the ops above, the log-likelihood (the others are its gradients, for ``pullback``).

    ``Op.__call__`` is typed for every op; these have several outputs, so it returns their list, and their
    ``make_node`` makes each output a tensor."""
    assert isinstance(outputs, list), "the gaussian ops have several outputs"
    return cast(pt.TensorVariable, outputs[0])


def sufficient_loglik(sums: dict, beta: pt.TensorVariable | None, common_columns: list[int],
                      b: pt.TensorVariable | None, varying_columns: list[int],
                      sigma: pt.TensorVariable) -> pt.TensorVariable:
    """Gaussian log-likelihood of all rows from the group sums. Design column ``common_columns[i]`` has the
    coefficient ``beta[i]`` in every group; ``varying_columns[a]`` has ``b[j, a]`` in group j (``b`` is (J, q),
    or (q,) for one value shared by all groups). ``sigma`` is a scalar or (J,)."""
    coefficients, common = (beta, common_columns) if beta is not None else _NO_COMMON
    effects: pt.TensorVariable | np.ndarray
    if b is None:
        effects, varying_columns = np.zeros((1, 0)), []
    else:
        effects = b[None, :] if b.ndim == 1 else b
    sigma_vector = sigma if sigma.ndim == 1 else sigma[None]
    return _log_likelihood(_sufficient_op(sums["n"], sums["DtD"], sums["Dty"], sums["yty"], coefficients, common,
                                          effects, varying_columns, sigma_vector))


def marginal_loglik(sums: dict, beta: pt.TensorVariable | None, common_columns: list[int], mu: pt.TensorVariable,
                    varying_columns: list[int], precision: pt.TensorVariable, log_det_sigma: pt.TensorVariable,
                    sigma: pt.TensorVariable) -> pt.TensorVariable:
    r"""Log-likelihood with the group effects integrated out: ``beta`` the common coefficients (columns
    ``common_columns``), ``mu`` the population means of the varying ones, ``precision`` :math:`\Sigma^{-1}`
    (q, q), ``log_det_sigma`` :math:`\log|\Sigma|`, ``sigma`` a scalar or (J,)."""
    coefficients, common = (beta, common_columns) if beta is not None else _NO_COMMON
    sigma_vector = sigma if sigma.ndim == 1 else sigma[None]
    return _log_likelihood(_marginal_op(sums["n"], sums["DtD"], sums["Dty"], sums["yty"], coefficients, common, mu,
                                        varying_columns, precision, log_det_sigma, sigma_vector))


def integrated_loglik(residual: pt.TensorVariable, index: pt.TensorVariable, count: pt.TensorVariable,
                      tau: pt.TensorVariable, sigma: pt.TensorVariable, zero_sum: bool = False) -> pt.TensorVariable:
    """Log-likelihood of rows with residuals ``residual`` whose group (``index``; ``count`` rows in each of the
    J groups) has an intercept deviation N(0, tau) integrated out (:mod:`hiermodels.model.integrated`); with
    ``zero_sum`` the deviations of the J groups sum to zero (``pm.ZeroSumNormal(tau)``; every group then counts,
    so no padding groups). ``tau`` and ``sigma`` scalars."""
    return _log_likelihood(_integrated_op(residual, index, count, tau, sigma, int(zero_sum)))


@functools.cache
def _register_numba() -> None:
    """Give PyTensor's numba backend the two ops' implementations, once, when the first op node is built
    (``make_node``): that backend takes about 0.4 s to import, and a fit through the gaussian engine, which builds
    no PyTensor graph of these ops, never needs it."""
    from pytensor.link.numba.dispatch import basic as numba_basic

    @numba_basic.register_funcify_default_op_cache_key(SufficientGaussianLoglik)
    def _numba_sufficient(op, node, **kwargs):
        @numba_basic.numba_njit
        def sufficient(n, DtD, Dty, yty, beta, common_cols, b, varying_cols, sigma):
            value, d_beta, d_b, d_sigma = _sufficient_kernel(n, DtD, Dty, yty, beta, common_cols, b, varying_cols,
                                                             sigma)
            return np.asarray(value), d_beta, d_b, d_sigma

        return sufficient, _CACHE_VERSION

    @numba_basic.register_funcify_default_op_cache_key(MarginalGaussianLoglik)
    def _numba_marginal(op, node, **kwargs):
        @numba_basic.numba_njit
        def marginal(n, DtD, Dty, yty, beta, common_cols, mu, varying_cols, precision, log_det, sigma):
            value, d_beta, d_mu, d_precision, d_log_det, d_sigma = _marginal_kernel(
                n, DtD, Dty, yty, beta, common_cols, mu, varying_cols, precision, log_det[()], sigma)
            return np.asarray(value), d_beta, d_mu, d_precision, np.asarray(d_log_det), d_sigma

        return marginal, _CACHE_VERSION

    @numba_basic.register_funcify_default_op_cache_key(IntegratedGaussianLoglik)
    def _numba_integrated(op, node, **kwargs):
        @numba_basic.numba_njit
        def integrated(residual, index, count, tau, sigma, zero_sum):
            value, d_residual, d_tau, d_sigma = _integrated_kernel(residual, index, count, tau[()], sigma[()],
                                                                   zero_sum[()] != 0)
            return np.asarray(value), d_residual, np.asarray(d_tau), np.asarray(d_sigma)

        return integrated, _CACHE_VERSION
