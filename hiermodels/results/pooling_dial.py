r"""The pooling dial: every group's estimate as the group-level scale :math:`\tau` moves from 0 to :math:`\infty`.

For one varying term of one grouping factor, the group coefficients are :math:`b_j = m(\theta) + u_j`,
:math:`u_j \sim \mathcal N(0, \tau^2)`. At :math:`\tau = 0` every group gets the population value (complete
pooling); as :math:`\tau \to \infty` each keeps its own estimate (no pooling). The posterior averages over
:math:`\tau`; this module computes, on a grid of :math:`\tau`, what the model says *given* :math:`\tau`.

The linear-gaussian problem (:class:`DialProblem`)
    Rows :math:`r` of group :math:`j = g[r]` (``group``) with response :math:`y_r` (``y``, after subtracting what
    the dial holds fixed), columns :math:`D_r` of the mean-structure coefficients :math:`\theta` (``D``; the
    population mean of the dialled term and the common coefficients), the dialled term's column :math:`z_r`
    (``z``) and noise variance :math:`\sigma^2 v_r` (``variance`` is :math:`v_r`):

    .. math:: y_r = D_r\theta + z_r u_{g[r]} + \varepsilon_r,\quad \varepsilon_r \sim \mathcal N(0, \sigma^2 v_r),
              \quad \theta \sim \mathcal N(m_\theta, P^{-1})

    with :math:`P` diagonal (``theta_prior_precision``; 0 is a flat prior). :math:`\sigma` is integrated out
    (gaussian outcomes) or known and 1 (``sigma_known``: known standard errors, the normal approximation).

Per-group weighted sums (weights :math:`w_r = 1/v_r`)
    :math:`S^{zz}_j = \sum_r w_r z_r^2`, :math:`S^{zD}_j`, :math:`S^{DD}_j`, :math:`S^{zy}_j`, :math:`S^{Dy}_j`,
    :math:`S^{yy}_j`. With :math:`c_j = \tau^2 / (\sigma^2 + \tau^2 S^{zz}_j)` (finite at :math:`\tau = 0`),
    Woodbury's identity gives the marginal of group j's rows, :math:`V_j = \sigma^2 W_j^{-1} + \tau^2 z_jz_j^T`:

    .. math:: V_j^{-1} = \sigma^{-2}(W_j - c_j W_jz_jz_j^TW_j), \qquad
              \log|V_j| = n_j\log\sigma^2 + \textstyle\sum_r \log v_r + \log(1 + \tau^2 S^{zz}_j/\sigma^2)

Given :math:`\tau, \sigma` (``_Conditional``), exactly
    :math:`\theta \mid \tau,\sigma,y \sim \mathcal N(\hat\theta, Q^{-1})`, :math:`Q = \sigma^{-2}\sum_j(S^{DD}_j -
    c_jS^{zD}_jS^{zD\,T}_j) + P`, :math:`\hat\theta = Q^{-1}(\sigma^{-2}\sum_j(S^{Dy}_j - c_jS^{zD}_jS^{zy}_j) +
    Pm_\theta)`; :math:`u_j \mid \theta,\tau,\sigma,y \sim \mathcal N(c_j(S^{zy}_j - S^{zD\,T}_j\theta),\
    \sigma^2c_j)`, so :math:`E[b_j \mid \tau,\sigma,y] = a_0 + a^T\hat\theta + c_j(S^{zy}_j - S^{zD\,T}_j\hat\theta)`
    (``a_0``, ``a``: the dialled coefficient's population part, ``shift`` and ``theta_weights``) and
    :math:`\mathrm{Var} = \sigma^2c_j + g_j^TQ^{-1}g_j`, :math:`g_j = a - c_jS^{zD}_j`. The **pooling factor**
    :math:`\lambda_j = 1 - c_jS^{zz}_j = \sigma^2/(\sigma^2 + \tau^2S^{zz}_j)` is the weight on the population
    value, and the population is worth :math:`n_{0,j} = n_j\lambda_j/(1-\lambda_j)` of the group's rows (for a
    gaussian intercept :math:`n_0 = \sigma^2/\tau^2`, every group alike; for a known standard error,
    :math:`se_j^2/\tau^2` estimates like the group's own). The marginal likelihood, with :math:`\theta` integrated:

    .. math:: \log p(y\mid\tau,\sigma) = -\tfrac12\textstyle\sum_j\log|V_j| - \tfrac12\log|Q|
              - \tfrac12\big(\sigma^{-2}\sum_j(S^{yy}_j - c_j(S^{zy}_j)^2) + m_\theta^TPm_\theta - h^TQ^{-1}h\big)

    (:math:`h` the bracket of :math:`\hat\theta`, constants dropped), and the **joint** density maximised over
    :math:`(\theta, u)` is :math:`\log p(y\mid\tau,\sigma) + \tfrac12\log|Q| - \tfrac12\sum_j\log(\sigma^2c_j)`,
    which grows without bound as :math:`\tau \to 0` (each :math:`\sigma^2 c_j \to 0`): the collapsed joint mode.

:math:`\sigma` (gaussian outcomes)
    integrated out with adaptive Gauss–Hermite quadrature in :math:`s = \log\sigma` at each :math:`\tau`: the
    integrand :math:`p(\sigma)\,p(y\mid\tau,\sigma)\,\sigma` is maximised by golden-section search, its curvature
    there sets the nodes' spread (as lme4's ``nAGQ`` does for a group effect). So :math:`p(\tau\mid y) \propto
    p(\tau)\int p(\sigma)p(y\mid\tau,\sigma)d\sigma` and :math:`E[b_j\mid\tau,y]` is the quadrature average of
    :math:`E[b_j\mid\tau,\sigma,y]`: exact up to quadrature, with no :math:`\sigma` held fixed. The joint profile
    maximises over :math:`\sigma` instead. Written by hand because no library evaluates these conditionals on a grid
    of :math:`\tau`; the formulas are BDA3's section 5.4 (eqs. 5.17-5.21) generalised to rows and covariates, and
    the tests check them against those equations.

Which fits are exact (:func:`pooling_dial`)
    gaussian and known-SE models with one grouping factor and one varying term are exact. Otherwise what the dial
    does not move is held at its posterior mean and subtracted from :math:`y` (other varying terms, other factors'
    effects; with group noise each group's :math:`\sigma_j`). For binomial, poisson and gamma outcomes each group's
    log-likelihood in :math:`b_j` is replaced by its second-order expansion at the posterior mean
    :math:`\bar b_j` (a normal on the link scale, as in penalised quasi-likelihood): pseudo-estimate
    :math:`\tilde y_j = \bar b_j + \ell_j'(\bar b_j)/h_j` with known standard error :math:`h_j^{-1/2}`,
    :math:`h_j = -\ell_j''(\bar b_j)`. Its error is shown against the fit's posterior means.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import special

from hiermodels.model import build as m
from hiermodels.model import names
from hiermodels.model.spec import Family, Prior
from hiermodels.results.fit_result import FitResult
from hiermodels.results.scales import Scale, coefficient_transform

__all__ = ["DialProblem", "PoolingDial", "conditional_estimates", "pooling_dial", "prior_log_density"]

# Positions of the dial: 0 is tau = 0, then this many log-spaced values (fewer for many groups, so that the
# browser filters a table of at most about MAX_CURVE_ROWS rows).
DIAL_POSITIONS = 120
MAX_CURVE_ROWS = 24_000
# Gauss-Hermite nodes for sigma, golden-section steps for its mode.
HERMITE_NODES = 20
GOLDEN_STEPS = 48
# The no-pooling end: tau large enough that every group keeps at least 99 % weight on its own data.
NO_POOLING_WEIGHT = 0.99
# Posterior draws of tau evaluated at once (memory: chunk x groups x nodes floats).
DRAW_CHUNK = 256
Z_95 = 1.959963984540054

LogDensity = Callable[[np.ndarray], np.ndarray]


def prior_log_density(prior: Prior) -> LogDensity:
    """The log-density of ``prior`` as a vectorised function, evaluated by PyMC itself (one compile), so the dial
    uses the same prior families as the model (:mod:`hiermodels.model.prior_families`)."""
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    from hiermodels.model.priors import prior_distribution

    cls, kwargs = prior_distribution(prior)
    value = pt.dvector("value")
    function = pytensor.function([value], pm.logp(cls.dist(**kwargs), value), mode="FAST_COMPILE")
    return lambda x: np.asarray(function(np.atleast_1d(np.asarray(x, dtype=float))), dtype=float)


def _flat(x: np.ndarray) -> np.ndarray:
    return np.zeros(np.shape(x))


@dataclass(frozen=True, eq=False)
class DialProblem:
    """The linear-gaussian problem behind a dial (see the module docstring for every symbol)."""

    y: np.ndarray  # (R,)
    D: np.ndarray  # (R, P) columns of theta (P may be 0)
    z: np.ndarray  # (R,) the dialled term's column
    group: np.ndarray  # (R,) group index 0..n_groups-1
    n_groups: int
    variance: np.ndarray  # (R,) v_r: noise variance sigma^2 v_r
    theta_prior_mean: np.ndarray  # (P,)
    theta_prior_precision: np.ndarray  # (P,) 0 = flat
    shift: float = 0.0  # a_0
    theta_weights: np.ndarray | None = None  # a (P,); None = 0
    sigma_known: bool = True  # True: sigma = 1; False: sigma integrated with log_prior_sigma
    log_prior_tau: LogDensity = _flat
    log_prior_sigma: LogDensity = _flat
    sigma_bracket: tuple[float, float] = (1e-3, 1e3)
    rows: np.ndarray | None = None  # (J,) rows per group, for n0 (default: counted from group)
    # Correlated effects with the others held: u_j ~ N(tau * prior_shift[j], (tau * tau_scale)^2).
    prior_shift: np.ndarray | None = None  # (J,) s_j
    tau_scale: float = 1.0  # kappa

    @cached_property
    def sums(self) -> dict[str, np.ndarray]:
        J, w, g = self.n_groups, 1.0 / self.variance, self.group
        D, z, y = self.D, self.z, self.y
        P = D.shape[1]

        def by_group(values: np.ndarray) -> np.ndarray:
            return np.bincount(g, weights=values, minlength=J)

        S_zD = np.stack([by_group(w * z * D[:, p]) for p in range(P)], axis=-1) if P else np.zeros((J, 0))
        S_DD = np.zeros((J, P, P))
        for p in range(P):
            for q in range(p, P):
                S_DD[:, p, q] = S_DD[:, q, p] = by_group(w * D[:, p] * D[:, q])
        S_Dy = np.stack([by_group(w * D[:, p] * y) for p in range(P)], axis=-1) if P else np.zeros((J, 0))
        counted = np.bincount(g, minlength=J).astype(float)
        S_zy = by_group(w * z * y)
        return {"zz": by_group(w * z * z), "zD": S_zD,
                "zD_outer": (S_zD[:, :, None] * S_zD[:, None, :]).reshape(J, P * P),
                "DD": S_DD, "zy": S_zy, "Dy": S_Dy,
                "yy": by_group(w * y * y), "n": counted, "log_v": by_group(np.log(self.variance)),
                "rows": counted if self.rows is None else np.asarray(self.rows, dtype=float)}

    @property
    def weights(self) -> np.ndarray:
        P = self.D.shape[1]
        return np.zeros(P) if self.theta_weights is None else np.asarray(self.theta_weights, dtype=float)


@dataclass(frozen=True)
class _Conditional:
    """Everything given (tau, sigma), vectorised over T pairs: arrays (T,) or (T, J)."""

    log_marginal: np.ndarray  # log p(y | tau, sigma), constants dropped
    log_joint: np.ndarray  # joint log-density maximised over (theta, u)
    mean: np.ndarray  # (T, J) E[b_j | tau, sigma, y]
    variance: np.ndarray  # (T, J)
    population: np.ndarray  # (T,) E[m(theta) | tau, sigma, y]
    population_variance: np.ndarray  # (T,)
    pooling: np.ndarray  # (T, J) lambda_j


def _given(problem: DialProblem, tau: np.ndarray, sigma: np.ndarray, moments: bool = True) -> _Conditional:
    """The module docstring's formulas at each pair (tau[t], sigma[t]); without ``moments`` only the two
    log-densities (the rest is zeros), which is all a search over sigma needs."""
    s = problem.sums
    tau = np.asarray(tau, dtype=float)
    tau2 = ((problem.tau_scale * tau) ** 2)[:, None]  # the effects' conditional variance
    sigma2 = (np.asarray(sigma, dtype=float) ** 2)[:, None]
    T, J, P = tau2.shape[0], problem.n_groups, problem.D.shape[1]
    zz = s["zz"][None, :]
    denominator = sigma2 + tau2 * zz
    c = tau2 / denominator  # (T, J)
    pooling = sigma2 / denominator
    log_det_v = (s["n"][None, :] * np.log(sigma2) + s["log_v"][None, :] + np.log1p(tau2 * zz / sigma2)).sum(1)
    zy, yy = np.broadcast_to(s["zy"], (T, J)), np.broadcast_to(s["yy"], (T, J))
    Dy = np.broadcast_to(s["Dy"].sum(0), (T, P))
    shift = np.zeros((T, J))
    if problem.prior_shift is not None:
        # y - tau * z * s_g: the effects' conditional mean given the held ones moves with tau (module docstring).
        shift = tau[:, None] * problem.prior_shift[None, :]
        zy, yy = zy - shift * zz, yy - 2 * shift * s["zy"][None] + shift**2 * zz
        Dy = Dy - shift @ s["zD"]
    yvy = (yy - c * zy**2).sum(1) / sigma2[:, 0]
    a = problem.weights
    residual = zy  # S^zy - S^zD theta, theta subtracted below
    if P:
        A = s["DD"].sum(0)[None] - (c @ s["zD_outer"]).reshape(T, P, P)
        Q = A / sigma2[:, :, None] + np.diag(problem.theta_prior_precision)[None]
        prior_term = problem.theta_prior_precision * problem.theta_prior_mean
        h = (Dy - (c * zy) @ s["zD"]) / sigma2 + prior_term[None]
        chol = np.linalg.cholesky(Q)
        log_det_q = 2 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(1)
        theta = np.linalg.solve(Q, h[:, :, None])[:, :, 0]
        quadratic = yvy + float(prior_term @ problem.theta_prior_mean) - (h * theta).sum(1)
        if moments:
            residual = residual - theta @ s["zD"].T
            q_inverse = np.linalg.inv(Q)  # P x P per t: small
            g = a[None, None, :] - c[:, :, None] * s["zD"][None]  # (T, J, P)
            theta_variance = np.einsum("tjp,tpq,tjq->tj", g, q_inverse, g)
            population = problem.shift + theta @ a
            population_variance = np.einsum("p,tpq,q->t", a, q_inverse, a)
    else:
        log_det_q = np.zeros(T)
        quadratic = yvy
        theta_variance = np.zeros((T, J))
        population = np.full(T, problem.shift)
        population_variance = np.zeros(T)
    log_marginal = -0.5 * (log_det_v + log_det_q + quadratic)
    if not moments:
        theta_variance, population, population_variance = np.zeros((T, J)), np.zeros(T), np.zeros(T)
    with np.errstate(divide="ignore"):
        log_joint = log_marginal + 0.5 * log_det_q - 0.5 * np.log(sigma2 * c).sum(1)
    return _Conditional(
        log_marginal=log_marginal, log_joint=log_joint, mean=population[:, None] + shift + c * residual,
        variance=sigma2 * c + theta_variance, population=population, population_variance=population_variance,
        pooling=pooling,
    )


def _golden_max(objective: Callable[[np.ndarray], np.ndarray], low: float, high: float, T: int) -> np.ndarray:
    """Per-column maximiser of ``objective`` (vectorised over T problems) on [low, high] by golden sections."""
    ratio = (math.sqrt(5) - 1) / 2
    a, b = np.full(T, low), np.full(T, high)
    x1, x2 = b - ratio * (b - a), a + ratio * (b - a)
    f1, f2 = objective(x1), objective(x2)
    for _ in range(GOLDEN_STEPS):
        left = f1 >= f2  # the maximum lies in [a, x2]
        b = np.where(left, x2, b)
        a = np.where(left, a, x1)
        x2_new = np.where(left, x1, a + ratio * (b - a))
        x1_new = np.where(left, b - ratio * (b - a), x2)
        f_new = objective(np.where(left, x1_new, x2_new))
        f2, f1 = np.where(left, f1, f_new), np.where(left, f_new, f2)
        x1, x2 = x1_new, x2_new
    return (a + b) / 2


@dataclass(frozen=True)
class ConditionalEstimates:
    """:func:`conditional_estimates` at T values of tau: arrays (T,) or (T, J)."""

    tau: np.ndarray
    log_marginal: np.ndarray  # log p(tau | y) up to one constant (the prior of tau included)
    log_joint_profile: np.ndarray  # max over everything else of the joint log-density, with priors; +inf at 0
    mean: np.ndarray  # (T, J) E[b_j | tau, y]
    sd: np.ndarray  # (T, J)
    population: np.ndarray  # (T,) E[m(theta) | tau, y]
    population_sd: np.ndarray
    pooling: np.ndarray  # (T, J) E[lambda_j | tau, y]
    sigma: np.ndarray  # (T,) the mode of sigma given tau (1 when known)


def conditional_estimates(problem: DialProblem, tau: np.ndarray, joint: bool = True) -> ConditionalEstimates:
    """Every group's estimate given each value of ``tau``, with :math:`\\sigma` integrated out (module docstring);
    ``joint=False`` skips the joint profile (NaN)."""
    tau = np.asarray(tau, dtype=float)
    T = tau.shape[0]
    log_prior_tau = problem.log_prior_tau(tau)
    if problem.sigma_known:
        given = _given(problem, tau, np.ones(T))
        with np.errstate(invalid="ignore"):
            profile = given.log_joint + log_prior_tau
        return ConditionalEstimates(
            tau=tau, log_marginal=given.log_marginal + log_prior_tau, log_joint_profile=profile,
            mean=given.mean, sd=np.sqrt(given.variance), population=given.population,
            population_sd=np.sqrt(given.population_variance), pooling=given.pooling, sigma=np.ones(T))

    low, high = np.log(problem.sigma_bracket)

    def integrand(log_sigma: np.ndarray, t: np.ndarray = tau) -> np.ndarray:
        sigma = np.exp(log_sigma)
        return _given(problem, t, sigma, moments=False).log_marginal + problem.log_prior_sigma(sigma) + log_sigma

    def joint_density(log_sigma: np.ndarray) -> np.ndarray:
        sigma = np.exp(log_sigma)
        return _given(problem, tau, sigma, moments=False).log_joint + problem.log_prior_sigma(sigma)

    centre = _golden_max(integrand, low, high, T)
    step = 1e-4
    curvature = -(integrand(centre + step) - 2 * integrand(centre) + integrand(centre - step)) / step**2
    spread = 1 / np.sqrt(np.maximum(curvature, 1e-12))
    nodes, weights = np.polynomial.hermite.hermgauss(HERMITE_NODES)
    log_sigma = centre[:, None] + math.sqrt(2) * spread[:, None] * nodes[None, :]  # (T, K)
    flat_tau = np.repeat(tau, HERMITE_NODES)
    at_nodes = _given(problem, flat_tau, np.exp(log_sigma.ravel()))
    log_terms = (at_nodes.log_marginal + problem.log_prior_sigma(np.exp(log_sigma.ravel()))
                 + log_sigma.ravel()).reshape(T, HERMITE_NODES) + np.log(weights)[None] + nodes[None] ** 2
    log_integral = special.logsumexp(log_terms, axis=1) + np.log(math.sqrt(2) * spread)
    omega = np.exp(log_terms - special.logsumexp(log_terms, axis=1, keepdims=True))  # (T, K)

    def average(values: np.ndarray) -> np.ndarray:
        return np.einsum("tk,tk...->t...", omega, values.reshape(T, HERMITE_NODES, *values.shape[1:]))

    mean = average(at_nodes.mean)
    variance = average(at_nodes.variance + at_nodes.mean**2) - mean**2
    population = average(at_nodes.population)
    population_variance = average(at_nodes.population_variance + at_nodes.population**2) - population**2
    profile = np.full(T, np.nan)
    if joint:
        with np.errstate(invalid="ignore"):
            profile = joint_density(_golden_max(joint_density, low, high, T)) + log_prior_tau
    return ConditionalEstimates(
        tau=tau, log_marginal=log_integral + log_prior_tau, log_joint_profile=profile, mean=mean,
        sd=np.sqrt(np.maximum(variance, 0)), population=population,
        population_sd=np.sqrt(np.maximum(population_variance, 0)), pooling=np.clip(average(at_nodes.pooling), 0, 1),
        sigma=np.exp(centre))


# ---------------------------------------------------------------------------------------------------- from a fit
@dataclass(frozen=True, eq=False)
class PoolingDial:
    """The dial of one varying term of one grouping factor (see :func:`pooling_dial` for every table)."""

    term: str
    factor: str
    family: Family
    exact: bool
    method_note: str
    value_title: str
    tau_title: str
    curve: pd.DataFrame
    tau: pd.DataFrame
    groups: pd.DataFrame
    summaries: pd.DataFrame
    start_position: int
    group_noun: str = "group"
    facts: dict[str, float] = field(default_factory=dict)
    facts_note: str = ""  # why the curves are not exact, in a few words

    def story(self) -> str:
        """What a lecturer can say while moving the dial, with this fit's numbers (plain text: it holds group
        names, which come from the user's data)."""
        f, groups, noun = self.facts, self.groups, self.group_noun
        most = groups.loc[groups["pooling_factor"].idxmax()]
        least = groups.loc[groups["pooling_factor"].idxmin()]
        marginal = ("also at 0: the data alone do not rule out that every " + noun + " is the same"
                    if f["marginal_mode"] == 0 else f"at {self.tau_title} = {_short(f['marginal_mode'])}")
        text = [
            f"At the left end, {self.tau_title} = 0: every {noun} gets the population value "
            f"{_short(f['population_at_zero'])}. That is complete pooling. At the right end each {noun} keeps its "
            f"own estimate: no pooling. Between the two, each {noun} is a weighted average of its own data and the "
            "population.",
            f"The data put {self.tau_title} between {_short(f['tau_lower'])} and {_short(f['tau_upper'])} "
            f"(95 % of the posterior), with mean {_short(f['tau_mean'])}.",
            (f"Averaged over the posterior, every {noun} puts about {_percent(most['pooling_factor'])} of its "
             f"weight on the population: their data are equally informative."
             if most["pooling_factor"] - least["pooling_factor"] < 0.005 else
             f"Averaged over the posterior, the most pooled {noun}, {most['group']} ({_rows(most['rows'])}), puts "
             f"{_percent(most['pooling_factor'])} of its weight on the population; the least pooled, "
             f"{least['group']} ({_rows(least['rows'])}), {_percent(least['pooling_factor'])}."),
            f"The joint mode sits at {self.tau_title} = 0, where the joint density grows without bound: a MAP says "
            f"every {noun} is the same. The marginal mode, with the {noun} effects integrated out (what REML and "
            f"empirical Bayes report), is {marginal}. The posterior mean does not pick one value: it averages the "
            f"{noun} estimates over every {self.tau_title} the data allow, weighted by how plausible each is.",
        ]
        if not self.exact:
            text.append(f"These curves are not exact here ({self.facts_note}). Averaged over the posterior they "
                        f"differ from the fit's posterior means by at most {_short(f['max_error'])} on this scale.")
        else:
            text.append(f"These curves are exact. Averaged over the posterior draws of {self.tau_title}, they "
                        f"reproduce the fit's posterior means to within {_short(f['max_error'])}, which is Monte "
                        "Carlo error.")
        return "\n\n".join(text)


def _short(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:.3g}"


def _rows(count: float) -> str:
    return "1 row" if count == 1 else f"{int(count):,} rows"


def _percent(value: float) -> str:
    return f"{100 * value:.0f} %"


def pooling_dial(result: FitResult, term: str | None = None, factor: str | None = None,
                 scale: Scale = "natural") -> PoolingDial:
    """The dial of ``term`` (default: the factor's first varying term) over ``factor`` (default: the first
    grouping factor) of a partial-pooling fit.

    Tables (estimates on ``scale``; a natural-scale estimate is the inverse link of the link-scale one):

    ``curve``, one row per (position, group): ``position`` (0 is tau = 0, then log-spaced), ``tau``, ``group``,
    ``rows``, ``estimate`` (E[b_j | tau, y]), ``lower``/``upper`` (95 % given tau), ``pooling_factor``
    (lambda_j), ``prior_rows`` (n0_j), ``population``.
    ``tau``, one row per position: ``position``, ``tau``, ``density`` (of tau, integrating to 1 on the grid),
    ``log_marginal`` (log p(tau | y) minus its maximum), ``log_joint_profile`` (minus its value at the marginal
    mode; NaN at tau = 0, where it is infinite), ``label``.
    ``groups``, one row per group: ``own_estimate`` (the no-pooling end), ``joint_mode`` (tau = 0),
    ``marginal_mode``, ``posterior_mean`` (the fit's), ``averaged`` (E[b_j | tau, y] averaged over the fit's draws
    of tau), ``approximation_error``, ``pooling_factor`` (averaged likewise), ``prior_rows`` (at the posterior mean
    of tau).
    ``summaries``: joint mode, marginal mode, posterior mean of tau, with their nearest ``position``.
    """
    spec, data = result.spec, result.data
    if result.pooling != "partial":
        raise ValueError(f"The pooling dial moves the group-level sd of partial pooling; this fit is {result.pooling} "
                         "pooling. Fit partial pooling to use it.")
    factor = spec.group if factor is None else factor
    if factor not in result.factor_names:
        raise ValueError(f"no grouping factor {factor!r}; this model's factors are {', '.join(result.factor_names)}")
    number = result.factor_names.index(factor)
    varying = data.terms_of(spec.all_factors[number].varying)
    term = varying[0] if term is None else term
    if term not in varying:
        raise ValueError(f"{term!r} does not vary over {factor}; the terms that do are {', '.join(varying)}")
    setup = _Setup(result, number, term)
    problem = setup.problem()
    posterior_tau = setup.tau_draws
    grid = _grid(problem, posterior_tau, setup.sigma_mean)
    at_grid = conditional_estimates(problem, grid)
    marginal_mode = _marginal_mode(problem, at_grid)
    at_mode = conditional_estimates(problem, np.array([marginal_mode]))
    tau_mean = float(posterior_tau.mean())
    at_mean = conditional_estimates(problem, np.array([tau_mean]))
    averaged_mean, averaged_pooling = _averaged(problem, posterior_tau)

    transform = coefficient_transform(spec.family, term, scale)
    show = transform.apply
    labels = setup.labels
    J, T = len(labels), grid.shape[0]
    rows = problem.sums["rows"]
    with np.errstate(divide="ignore"):
        prior_rows = rows[None, :] * at_grid.pooling / (1 - at_grid.pooling)
    curve = pd.DataFrame({
        "position": np.repeat(np.arange(T), J), "tau": np.repeat(grid, J), "group": np.tile(labels, T),
        "rows": np.tile(rows.astype(int), T), "estimate": show(at_grid.mean).ravel(),
        "lower": show(at_grid.mean - Z_95 * at_grid.sd).ravel(),
        "upper": show(at_grid.mean + Z_95 * at_grid.sd).ravel(),
        "pooling_factor": at_grid.pooling.ravel(), "prior_rows": prior_rows.ravel(),
        "population": np.repeat(show(at_grid.population), J),
    })
    density = _density(grid, at_grid.log_marginal)
    mode_index = int(np.argmax(at_grid.log_marginal))
    profile = at_grid.log_joint_profile.copy()
    profile[~np.isfinite(profile)] = np.nan
    reference = float(np.interp(np.log(max(marginal_mode, grid[1])), np.log(grid[1:]), profile[1:]))
    tau_table = pd.DataFrame({
        "position": np.arange(T), "tau": grid, "density": density,
        "log_marginal": at_grid.log_marginal - at_grid.log_marginal[mode_index],
        "log_joint_profile": profile - reference,
        "label": [f"τ = {_short(t)}" for t in grid],
    })
    posterior_mean = setup.posterior_mean
    with np.errstate(divide="ignore"):
        rows_at_mean = rows * at_mean.pooling[0] / (1 - at_mean.pooling[0])
    groups = pd.DataFrame({
        "group": labels, "rows": rows.astype(int), "own_estimate": show(at_grid.mean[-1]),
        "joint_mode": show(at_grid.mean[0]), "marginal_mode": show(at_mode.mean[0]),
        "posterior_mean": show(posterior_mean), "averaged": show(averaged_mean),
        "approximation_error": show(posterior_mean) - show(averaged_mean), "pooling_factor": averaged_pooling,
        "prior_rows": rows_at_mean,
    })

    def nearest(value: float) -> int:
        return 0 if value <= 0 else 1 + int(np.argmin(np.abs(np.log(grid[1:]) - math.log(value))))

    summaries = pd.DataFrame({
        "summary": ["joint mode", "marginal mode", "posterior mean"],
        "tau": [0.0, marginal_mode, tau_mean],
        "position": [0, nearest(marginal_mode), nearest(tau_mean)],
        "description": [
            "the joint density's supremum: τ collapsed to 0, every group on the population value",
            "the peak of p(τ | y), the group effects integrated out (REML, empirical Bayes)",
            "the average over the posterior: every plausible τ, weighted",
        ],
    })
    lower, upper = np.quantile(posterior_tau, [0.025, 0.975])
    facts = {"marginal_mode": marginal_mode, "tau_mean": tau_mean, "tau_lower": float(lower),
             "tau_upper": float(upper), "population_at_zero": float(show(at_grid.population[:1])[0]),
             "max_error": float(np.nanmax(np.abs(groups["approximation_error"])))}
    value_title = term if transform.identity else f"{term} ({transform.label})"
    return PoolingDial(
        term=term, factor=factor, family=spec.family, exact=setup.exact, method_note=setup.note(scale),
        value_title=value_title, tau_title=names.group_sd(term, spec.factor_tag(factor)), curve=curve,
        tau=tau_table, groups=groups, summaries=summaries, start_position=nearest(tau_mean),
        group_noun=factor, facts=facts, facts_note=setup.short_reason(),
    )


class _Setup:
    """Reads a fit into a :class:`DialProblem`: posterior means of what the dial holds fixed, the priors."""

    def __init__(self, result: FitResult, number: int, term: str) -> None:
        self.result, self.number, self.term = result, number, term
        spec, data = result.spec, result.data
        self.posterior = result.draws
        self.common, self.first_varying = m.term_split(data, spec)
        if number == 0:
            self.index, self.labels = data.group_index, np.asarray(data.group_labels, dtype=object)
        else:
            further = data.factors[number - 1]
            self.index, self.labels = further.index, np.asarray(further.labels, dtype=object)
        self.held: list[str] = []

    def named(self, name: str) -> str:
        return m.factor_name(name, self.number) if self.number else name

    def mean_of(self, var: str) -> np.ndarray:
        return self.posterior[var].mean(("chain", "draw")).to_numpy()

    @cached_property
    def tau_draws(self) -> np.ndarray:
        tau = self.posterior[self.named(m.GROUP_SD)].sel({self.named(m.VARYING_DIM): self.term})
        return tau.to_numpy().ravel()

    @property
    def sigma_mean(self) -> float:
        family, spec = self.result.spec.family, self.result.spec
        return float(self.mean_of(m.SIGMA)) if family == "gaussian" and not spec.group_noise else 1.0

    def column(self, term: str) -> np.ndarray:
        return self.result.data.X[:, self.result.data.terms.index(term)]

    def row_parts(self) -> dict[tuple[int, str], np.ndarray]:
        """Each group effect's posterior-mean contribution to every row, keyed (factor number, term); the
        common coefficients under (-1, term)."""
        spec, data = self.result.spec, self.result.data
        parts: dict[tuple[int, str], np.ndarray] = {}
        b = self.posterior[m.GROUP_COEFFICIENT].mean(("chain", "draw")).transpose(m.GROUP_DIM, m.VARYING_DIM)
        for term in self.first_varying:
            parts[(0, term)] = self.column(term) * b.sel({m.VARYING_DIM: term}).to_numpy()[data.group_index]
        if self.common:
            beta = self.posterior[m.COMMON].mean(("chain", "draw"))
            for term in self.common:
                parts[(-1, term)] = self.column(term) * float(beta.sel({m.COMMON_DIM: term}))
        for k, (factor, factor_data) in enumerate(zip(spec.factors, data.factors, strict=True), start=1):
            name = m.factor_name(m.GROUP_COEFFICIENT, k)
            effects = self.posterior[name].mean(("chain", "draw")).transpose(m.factor_name(m.GROUP_DIM, k), ...)
            for term in data.terms_of(factor.varying):
                values = effects.sel({m.factor_name(m.VARYING_DIM, k): term}).to_numpy()
                parts[(k, term)] = self.column(term) * values[factor_data.index]
        return parts

    @cached_property
    def posterior_mean(self) -> np.ndarray:
        """The fit's posterior mean of each group's dialled coefficient (link scale), as FitResult.groups gives."""
        table = self.result.groups(scale="link", factor=self.result.factor_names[self.number])
        table = table[table["term"] == self.term].set_index("group")
        return table.loc[list(self.labels), "mean"].to_numpy(dtype=float)

    @cached_property
    def correlated_shift(self) -> tuple[np.ndarray | None, float]:
        """With correlated effects, the dialled effect's prior given the factor's other effects held at their
        posterior means :math:`\\bar u_{jo}`: :math:`u_{jk} \\sim \\mathcal N(\\tau s_j, \\kappa^2\\tau^2)`,
        :math:`s_j = R_{ko}R_{oo}^{-1}(\\bar u_{jo}/\\bar\\tau_o)`, :math:`\\kappa^2 = 1 - R_{ko}R_{oo}^{-1}R_{ok}`
        (R and the other scales at their posterior means). ``(None, 1)`` without correlation."""
        spec, number = self.result.spec, self.number
        factor = spec.all_factors[number]
        terms = list(self.result.data.terms_of(factor.varying))
        if not factor.correlated or len(terms) < 2:
            return None, 1.0
        k = terms.index(self.term)
        others = [i for i in range(len(terms)) if i != k]
        R = self.mean_of(self.named(m.CORRELATION))
        tau = self.mean_of(self.named(m.GROUP_SD))
        effects = self.posterior[self.named(m.GROUP_COEFFICIENT)].mean(("chain", "draw")).transpose(
            self.named(m.GROUP_DIM), self.named(m.VARYING_DIM)).to_numpy()
        if number == 0:  # b = mu + u: the deviations are b minus the population mean
            effects = effects - self.mean_of(m.POPULATION_MEAN)[None, :]
        regression = np.linalg.solve(R[np.ix_(others, others)], R[others, k])
        shift = (effects[:, others] / tau[others][None, :]) @ regression
        kappa2 = 1.0 - float(R[k, others] @ regression)
        return shift, math.sqrt(max(kappa2, 1e-6))

    def prior(self, name: str) -> Prior:
        return self.result.priors[name]

    def theta_prior(self, terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Normal priors as (mean, precision); any other family of a location prior is taken as flat."""
        mean, precision = np.zeros(len(terms)), np.zeros(len(terms))
        for i, term in enumerate(terms):
            prior = self.prior(term)
            if prior.distribution == "normal":
                mean[i], precision[i] = prior.params[0], prior.params[1] ** -2
            elif prior.distribution != "flat":
                self.held.append(f"the {prior.distribution} prior of {term} is taken as flat")
        return mean, precision

    @property
    def exact(self) -> bool:
        spec = self.result.spec
        # (read after problem(), which notes any location prior it had to take as flat in ``held``)
        return (spec.family in ("gaussian", "known_se") and not self.held_fixed and not spec.group_noise
                and not self.held)

    @cached_property
    def held_fixed(self) -> list[str]:
        spec = self.result.spec
        others = [t for t in self.first_varying if not (self.number == 0 and t == self.term)]
        held = [f"the {t} effects of {spec.group}" for t in others]
        for k, factor in enumerate(spec.factors, start=1):
            held += [f"the {t} effects of {factor.name}" for t in self.result.data.terms_of(factor.varying)
                     if not (self.number == k and t == self.term)]
        return held

    def short_reason(self) -> str:
        """Why the dial is not exact, in a few words ('' when it is)."""
        spec = self.result.spec
        if spec.family not in ("gaussian", "known_se"):
            return "each group's likelihood is approximated by a normal on the link scale"
        reasons = (["the other group effects are held at their posterior means"] if self.held_fixed else [])
        reasons += ["each group's residual sd is held at its posterior mean"] if spec.group_noise else []
        return "; ".join(reasons)

    def note(self, scale: Scale) -> str:
        spec = self.result.spec
        parts = []
        if spec.family in ("gaussian", "known_se") and not spec.group_noise and not self.held_fixed:
            parts.append("Exact: the population mean and common coefficients are integrated out in closed form"
                         + (", and the residual sd σ numerically" if spec.family == "gaussian" else "") + ".")
        elif spec.family in ("gaussian", "known_se"):
            fixed = list(self.held_fixed) + (["each group's residual sd"] if spec.group_noise else [])
            parts.append("Exact given " + ", ".join(fixed) + " at their posterior means; the rest is integrated "
                         "out in closed form.")
        else:
            parts.append("Approximate: each group's likelihood is replaced by a normal on the link scale, matched "
                         "at the posterior mean (its slope and curvature), with every other coefficient at its "
                         "posterior mean.")
        parts += [f"{h.capitalize()}." for h in self.held]
        if self.correlated_shift[0] is not None:
            parts.append(f"The correlation of {self.term} with the other varying terms is kept: each group's prior "
                         "mean moves with its other effects.")
        if scale == "natural" and spec.family in ("binomial", "poisson", "gamma"):
            parts.append("Estimates are the inverse link of the link-scale averages.")
        return " ".join(parts)

    def problem(self) -> DialProblem:
        spec, data, term, number = self.result.spec, self.result.data, self.term, self.number
        J = len(self.labels)
        rows = np.bincount(self.index, minlength=J)
        tau_prior = prior_log_density(self.prior(names.group_sd(term, spec.factor_tag(spec.all_factors[number].name))))
        parts = self.row_parts()
        dialled = (number, term)
        prior_shift, kappa = self.correlated_shift
        if spec.family in ("gaussian", "known_se"):
            theta_terms = ([term] if number == 0 else []) + list(self.common)
            offset = sum((v for k, v in parts.items() if k != dialled and k[0] != -1), np.zeros(data.n_rows))
            mean, precision = self.theta_prior(theta_terms)
            weights = np.zeros(len(theta_terms))
            shift = 0.0
            if number == 0:
                weights[0] = 1.0
            elif term in self.common:
                weights[theta_terms.index(term)] = 1.0
            else:
                shift = self._base_mean()
            D = np.stack([self.column(t) for t in theta_terms], axis=1) if theta_terms else np.zeros((data.n_rows, 0))
            if spec.family == "known_se":
                assert data.se is not None
                variance, sigma_known = data.se**2, True
            elif spec.group_noise:
                variance, sigma_known = self.mean_of(m.GROUP_SIGMA)[data.group_index] ** 2, True
            else:
                variance, sigma_known = np.ones(data.n_rows), False
            spread = float(np.std(data.y)) or 1.0
            return DialProblem(
                y=data.y - offset, D=D, z=self.column(term), group=self.index, n_groups=J, variance=variance,
                theta_prior_mean=mean, theta_prior_precision=precision, shift=shift, theta_weights=weights,
                sigma_known=sigma_known, log_prior_tau=tau_prior,
                log_prior_sigma=prior_log_density(self.prior(names.SIGMA)) if not sigma_known else _flat,
                sigma_bracket=(spread * 1e-4, spread * 10), rows=rows, prior_shift=prior_shift, tau_scale=kappa)
        # binomial, poisson, gamma: a normal on the link scale per group, at the posterior mean (module docstring)
        eta = sum(parts.values(), np.zeros(data.n_rows))
        if data.exposure is not None:
            eta = eta + np.log(data.exposure)
        slope, curvature = _derivatives(spec.family, data, eta, self)
        z = self.column(term)
        gradient = np.bincount(self.index, weights=z * slope, minlength=J)
        information = np.maximum(np.bincount(self.index, weights=z**2 * curvature, minlength=J), 1e-12)
        if number == 0:
            D, weights, shift = np.ones((J, 1)), np.ones(1), 0.0
            mean, precision = self.theta_prior([term])
        else:
            D, weights, mean, precision = np.zeros((J, 0)), np.zeros(0), np.zeros(0), np.zeros(0)
            shift = self._base_mean()
        return DialProblem(
            y=self.posterior_mean - shift + gradient / information, D=D, z=np.ones(J), group=np.arange(J),
            n_groups=J, variance=1 / information, theta_prior_mean=mean, theta_prior_precision=precision,
            shift=shift, theta_weights=weights, sigma_known=True, log_prior_tau=tau_prior, rows=rows,
            prior_shift=prior_shift, tau_scale=kappa)

    def _base_mean(self) -> float:
        """A further factor's population part of the dialled term: its population mean or common coefficient."""
        if self.term in self.common:
            return float(self.mean_of(m.COMMON)[list(self.common).index(self.term)])
        return float(self.mean_of(m.POPULATION_MEAN)[list(self.first_varying).index(self.term)])


def _derivatives(family: Family, data, eta: np.ndarray, setup: _Setup) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the first derivative of the log-likelihood in eta and minus its second derivative."""
    y = data.y
    if family == "binomial":
        trials = data.trials if data.trials is not None else np.ones_like(y)
        p = special.expit(eta)
        return y - trials * p, trials * p * (1 - p)
    if family == "poisson":
        rate = np.exp(eta)
        return y - rate, rate
    shape = float(setup.mean_of(m.GAMMA_SHAPE))
    scaled = y * np.exp(-eta)
    return shape * (scaled - 1), shape * scaled


def _grid(problem: DialProblem, tau_draws: np.ndarray, sigma: float) -> np.ndarray:
    """tau = 0, then log-spaced from where every group puts ``NO_POOLING_WEIGHT`` of its weight on the population
    (or lower) to where every group keeps that much on its own data (and past the posterior's upper tail)."""
    high_q = float(np.quantile(tau_draws, 0.9995))
    zz = problem.sums["zz"]
    informative = zz[zz > 0] if (zz > 0).any() else np.ones(1)
    odds = NO_POOLING_WEIGHT / (1 - NO_POOLING_WEIGHT)
    # From where every group puts >= 99 % of its weight on the population (and at least two decades below the
    # posterior mean of tau, so that the joint profile's climb toward 0 shows) to where every group keeps >= 99 %.
    low = min(sigma / math.sqrt(odds * float(informative.max())), 0.01 * float(np.mean(tau_draws)))
    high = max(sigma * math.sqrt(odds / float(informative.min())), 3 * high_q, low * 100)
    count = min(DIAL_POSITIONS, max(30, MAX_CURVE_ROWS // max(problem.n_groups, 1)))
    return np.concatenate([[0.0], np.geomspace(low, high, count)])


def _marginal_mode(problem: DialProblem, at_grid: ConditionalEstimates) -> float:
    """The mode of p(tau | y): the grid's best, refined on a fine grid between its neighbours and a parabola
    through the best three points (in log tau); 0 when the density is highest at tau = 0."""
    grid, values = at_grid.tau, at_grid.log_marginal
    best = int(np.argmax(values))
    if best == 0 or (best == 1 and values[0] >= values[2]):
        return 0.0
    if best == len(grid) - 1:
        return float(grid[-1])
    fine = np.geomspace(grid[best - 1], grid[best + 1], 33)
    fine_values = conditional_estimates(problem, fine, joint=False).log_marginal
    i = int(np.clip(np.argmax(fine_values), 1, len(fine) - 2))
    x, f = np.log(fine[i - 1:i + 2]), fine_values[i - 1:i + 2]
    denominator = f[0] - 2 * f[1] + f[2]
    step = 0.5 * (f[0] - f[2]) / denominator * (x[1] - x[0]) if denominator < 0 else 0.0
    return float(np.exp(x[1] + step))


def _averaged(problem: DialProblem, tau_draws: np.ndarray, max_draws: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """E[b_j | tau, y] and lambda_j averaged over the posterior draws of tau (evenly thinned to ``max_draws``):
    the posterior mean and pooling factor, by Rao-Blackwell."""
    draws = tau_draws[np.linspace(0, len(tau_draws) - 1, min(max_draws, len(tau_draws))).astype(int)]
    mean_sum, pooling_sum = np.zeros(problem.n_groups), np.zeros(problem.n_groups)
    for start in range(0, len(draws), DRAW_CHUNK):
        at = conditional_estimates(problem, draws[start:start + DRAW_CHUNK], joint=False)
        mean_sum += at.mean.sum(0)
        pooling_sum += at.pooling.sum(0)
    return mean_sum / len(draws), pooling_sum / len(draws)


def _density(grid: np.ndarray, log_marginal: np.ndarray) -> np.ndarray:
    """p(tau | y) on the grid, normalised by the trapezoid rule over tau (the far end's tail is negligible)."""
    values = np.exp(log_marginal - log_marginal.max())
    return values / np.trapezoid(values, grid)
