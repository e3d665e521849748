r"""One PyMC model builder per pooling mode.

Notation (code names in brackets)
---------------------------------
Rows :math:`i = 1..N` (``obs``), groups :math:`j = 1..J` (dim ``group``), :math:`g[i]` the group of row i
(``group_index``), :math:`x_i` the row's design vector (``X``; the first column is the intercept's 1). The
terms are split into the *common* ones :math:`C` (dim ``common_term``) and the *varying* ones :math:`V`
(dim ``varying_term``). The linear predictor is

.. math::  \eta_i = \sum_{k \in C} \beta_k x_{ik} + \sum_{k \in V} b_{g[i],k}\, x_{ik} \;(+ \log e_i)

with :math:`\beta` the common coefficients (``beta``), :math:`b_{jk}` group j's own coefficient for a varying
term (``b``) and :math:`e_i` the exposure (poisson only).

Complete pooling (``build_complete_pooling``)
    :math:`V = \emptyset`: every coefficient is common, :math:`\beta_k \sim p_k`.
No pooling (``build_no_pooling``)
    :math:`b_{jk} \sim p_k` independently for every group, with the fixed prior :math:`p_k` of term k.
Partial pooling (``build_partial_pooling``)
    :math:`b_{jk} \sim \mathcal N(\mu_k, \tau_k)` with learned population means :math:`\mu_k` (``mu``) and
    group-level scales :math:`\tau_k` (``tau``; reported as ``sd(term)``). Non-centred (default):
    :math:`b_{jk} = \mu_k + \tau_k z_{jk}`, :math:`z_{jk} \sim \mathcal N(0, 1)` (``z``), which removes the
    funnel between :math:`\tau` and :math:`b` that makes NUTS diverge. Correlated: :math:`b_j \sim
    \mathcal{MVN}(\mu, \Sigma)`, :math:`\Sigma = \mathrm{diag}(\tau) R\, \mathrm{diag}(\tau)`,
    :math:`R = L_R L_R^T \sim \mathrm{LKJ}(\eta)` (``corr``; its Cholesky factor ``corr_cholesky``),
    non-centred as :math:`b_j = \mu + L z_j` with :math:`L = \mathrm{diag}(\tau) L_R`, so :math:`LL^T=\Sigma`.

Further grouping factors (``ModelSpec.factors``, :math:`f = 1..F`, code suffix ``_f{f}``)
    Row i also belongs to group :math:`h_f[i]` of factor f (``factor_index_f{f}``; dims ``group_f{f}`` and
    ``varying_term_f{f}``), whose varying terms :math:`V_f` add :math:`\sum_{k \in V_f} u^{(f)}_{h_f[i],k}
    x_{ik}` to :math:`\eta_i`. These effects are deviations around zero (the population means sit in
    :math:`\mu` or :math:`\beta`, else they would not be identified): under partial pooling
    :math:`u^{(f)}_{hk} \sim \mathcal N(0, \tau^{(f)}_k)` (``b_f{f}``, ``tau_f{f}``; non-centred through
    ``z_f{f}``; correlated through ``corr_f{f}`` as above), under no pooling
    :math:`u^{(f)}_{hk} \sim \mathcal N(0, s_k)` with :math:`s_k` the sd of term k's fixed prior; complete
    pooling drops them. Such models enter row by row (gaussian ones with one factor's intercepts integrated out,
    :mod:`hiermodels.model.integrated`). Under no pooling the deviations of each term sum to zero
    over the factor's groups (``pm.ZeroSumNormal``, effect coding), so that they cannot trade a constant with
    the first factor's coefficients.

Likelihoods (``y_obs``)
    gaussian :math:`y_i \sim \mathcal N(\eta_i, \sigma)` (``sigma``); with group noise
    :math:`\sigma_j` (``sigma_group``): under partial pooling :math:`\log\sigma_j \sim
    \mathcal N(\log\sigma, s)` (``sd_log_sigma``), under no pooling :math:`\sigma_j \sim p_\sigma`.
    binomial :math:`y_i \sim \mathrm{Bin}(n_i, \mathrm{logit}^{-1}\eta_i)` (Bernoulli without trials);
    poisson :math:`y_i \sim \mathrm{Pois}(e^{\eta_i})`; gamma :math:`y_i \sim \mathrm{Gamma}(\alpha,
    \alpha e^{-\eta_i})`, mean :math:`e^{\eta_i}`, shape :math:`\alpha` (``alpha``); known_se
    :math:`y_j \sim \mathcal N(\eta_j, se_j)` with the standard errors taken as known (eight schools).

How the rows enter (``Method``, chosen by :func:`hiermodels.inference.plan.choose_method`): row by row (``"rows"``);
row by row with one grouping factor's intercepts integrated out (``"integrated"``, several factors,
:mod:`hiermodels.model.integrated`);
gaussian models through per-group sufficient statistics (``"sufficient"``) or with the group effects
integrated out (``"marginal"``, :mod:`hiermodels.model.gaussian`); binomial, poisson and gamma models whose linear
predictor is constant within each group through per-group sums of the family's statistics (``"grouped"``,
:mod:`hiermodels.model.grouped`). Each gives the same log-density as the rows.

Every data array is a ``pm.Data`` container, and every group-level variable carries ``dims="group"``, so the
group labels flow into the posterior and results select by name, never by position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from hiermodels.data.preparing import PreparedData
from hiermodels.errors import SpecError
from hiermodels.model import gaussian, grouped, integrated, names
from hiermodels.model.priors import add_prior, add_vector_prior, prior_parameter, resolve_priors
from hiermodels.model.spec import INTERCEPT, GroupingFactor, ModelSpec, Prior

# Variable names in the PyMC model (see the module docstring).
COMMON = "beta"
POPULATION_MEAN = "mu"
GROUP_SD = "tau"
GROUP_COEFFICIENT = "b"
STANDARDISED = "z"
CORRELATION = "corr"
SIGMA = "sigma"
GROUP_SIGMA = "sigma_group"
LOG_SIGMA_SD = "sd_log_sigma"
GAMMA_SHAPE = "alpha"
OBSERVED = "y_obs"

GROUP_DIM = "group"
COMMON_DIM = "common_term"
VARYING_DIM = "varying_term"


FACTOR_INDEX = "factor_index"
INTEGRATED_COUNT = "integrated_count"  # the rows of each group of the factor integrated out


def factor_name(name: str, factor: int) -> str:
    """The model name of variable or dim ``name`` for further grouping factor number ``factor`` (1-based:
    ``ModelSpec.factors[factor - 1]``): ``b_f1``, ``group_f1``."""
    return f"{name}_f{factor}"


Method = Literal["rows", "sufficient", "marginal", "grouped", "integrated"]
METHODS: tuple[Method, ...] = get_args(Method)


def normal_coefficient_priors(spec: ModelSpec) -> bool:
    """Whether every coefficient's prior is normal (the defaults are), so that no-pooling group effects are
    conjugate and can be integrated out."""
    return all(prior.distribution == "normal" for name, prior in spec.prior_overrides.items()
               if names.is_coefficient(name))


def build_model(data: PreparedData, spec: ModelSpec, method: Method, n_groups: int | None = None) -> pm.Model:
    """The PyMC model of ``spec`` (under its pooling) for ``data``, the data entering as ``method`` says
    (:mod:`hiermodels.inference.plan` chooses it).

    ``n_groups`` pads the group axis with empty groups (``hiermodels.engine.compiled``): they carry no data, so they
    change nothing for the real groups, and their labels are ``PADDING_LABEL`` plus a number.
    """
    n_groups = max(n_groups or 0, data.n_groups)
    if method == "grouped" and spec.family not in grouped.FAMILIES:
        raise SpecError(f"the grouped likelihood exists for the {', '.join(grouped.FAMILIES)} families only, "
                        f"not {spec.family!r}")
    if method == "integrated" and integrated.integrated_factor(data, spec) is None:
        raise SpecError("integrating a factor out needs a gaussian model under partial or no pooling with one "
                        "residual scale and several grouping factors, one of them varying only its intercept (under "
                        "no pooling a further factor)")
    if method in ("sufficient", "marginal") and spec.family != "gaussian":
        raise SpecError(f"the {method!r} likelihood exists for the gaussian family only, not {spec.family!r}")
    if method == "marginal":
        if spec.pooling == "partial":
            return build_partial_pooling_marginal(data, spec, n_groups)
        if spec.pooling == "none" and normal_coefficient_priors(spec):
            return build_no_pooling_marginal(data, spec, n_groups)
        raise SpecError("integrating the group effects out needs partial pooling, or no pooling with normal priors "
                        "on the coefficients")
    builders = {
        "complete": build_complete_pooling,
        "none": build_no_pooling,
        "partial": build_partial_pooling,
    }
    return builders[spec.pooling](data, spec, method, n_groups)


# Labels of the empty groups that pad the group axis (hiermodels.engine.compiled); never a user's label (a NUL byte).
PADDING_LABEL = "\x00padding"


def term_split(data: PreparedData, spec: ModelSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(common terms, varying terms) of the design matrix under the spec's pooling."""
    varying = data.terms_of(spec.varying_terms)
    return tuple(t for t in data.terms if t not in varying), varying


def build_complete_pooling(data: PreparedData, spec: ModelSpec, method: Method = "rows",
                              n_groups: int | None = None) -> pm.Model:
    """One set of coefficients for all groups."""
    priors = resolve_priors(data, spec)
    common, _ = term_split(data, spec)
    with _model_with_data(data, common, (), method, n_groups, spec.family) as model:
        # priors: the common coefficients
        beta = add_vector_prior(COMMON, [priors[t] for t in common], common, dims=COMMON_DIM)
        # expected value and likelihood
        _likelihood(model, data, spec, priors, beta, None, noise="common", method=method)
    return model


def build_no_pooling(data: PreparedData, spec: ModelSpec, method: Method = "rows",
                        n_groups: int | None = None) -> pm.Model:
    """Independent coefficients per group for the varying terms, each with its term's fixed prior."""
    priors = resolve_priors(data, spec)
    common, varying = term_split(data, spec)
    with _model_with_data(data, common, varying, method, n_groups, spec.family, spec.factors) as model:
        beta = add_vector_prior(COMMON, [priors[t] for t in common], common, dims=COMMON_DIM) if common else None
        # group coefficients: independent, fixed weakly informative priors (nothing is learned across groups)
        b = add_vector_prior(GROUP_COEFFICIENT, [priors[t] for t in varying], varying,
                             dims=(GROUP_DIM, VARYING_DIM))
        _add_factor_effects(data, spec, priors, integrated.integrated_factor(data, spec) if method == "integrated"
                            else None)
        _likelihood(model, data, spec, priors, beta, b, noise="independent" if spec.group_noise else "common",
                    method=method)
    return model


def build_partial_pooling(data: PreparedData, spec: ModelSpec, method: Method = "rows",
                             n_groups: int | None = None) -> pm.Model:
    """Group coefficients drawn from a population distribution whose mean and scale are learned."""
    priors = resolve_priors(data, spec)
    common, varying = term_split(data, spec)
    noncentered = spec.parameterization == "noncentered"
    with _model_with_data(data, common, varying, method, n_groups, spec.family, spec.factors) as model:
        beta = add_vector_prior(COMMON, [priors[t] for t in common], common, dims=COMMON_DIM) if common else None
        integrated_out = integrated.integrated_factor(data, spec) if method == "integrated" else None
        _add_factor_effects(data, spec, priors, integrated_out)
        # population distribution: means and scales of the varying coefficients
        mu = add_vector_prior(POPULATION_MEAN, [priors[t] for t in varying], varying, dims=VARYING_DIM)
        tau, corr_cholesky = _group_scales(spec, priors, varying)
        if integrated_out == 0:
            # the first factor's deviations are integrated out: every row gets the population means
            b = mu + pt.zeros((len(model.coords[GROUP_DIM]), len(varying)))
        elif spec.correlated:
            chol = tau[:, None] * corr_cholesky
            # group coefficients: b_j = mu + L z_j
            if noncentered:
                z = pm.Normal(STANDARDISED, 0.0, 1.0, dims=(GROUP_DIM, VARYING_DIM))
                b = pm.Deterministic(GROUP_COEFFICIENT, mu + z @ chol.T, dims=(GROUP_DIM, VARYING_DIM))
            else:
                b = pm.MvNormal(GROUP_COEFFICIENT, mu=mu, chol=chol, dims=(GROUP_DIM, VARYING_DIM))
        else:
            # group coefficients: b_jk = mu_k + tau_k z_jk
            if noncentered:
                z = pm.Normal(STANDARDISED, 0.0, 1.0, dims=(GROUP_DIM, VARYING_DIM))
                b = pm.Deterministic(GROUP_COEFFICIENT, mu + tau * z, dims=(GROUP_DIM, VARYING_DIM))
            else:
                b = pm.Normal(GROUP_COEFFICIENT, mu=mu, sigma=tau, dims=(GROUP_DIM, VARYING_DIM))
        _likelihood(model, data, spec, priors, beta, b, noise="pooled" if spec.group_noise else "common",
                    method=method)
    return model


def build_partial_pooling_marginal(data: PreparedData, spec: ModelSpec, n_groups: int | None = None) -> pm.Model:
    """Gaussian partial pooling with the group effects integrated out (:mod:`hiermodels.model.gaussian`).

    The model has the population parameters only; ``fitting`` draws ``b`` from its exact conditional afterwards.
    """
    priors = resolve_priors(data, spec)
    common, varying = term_split(data, spec)
    with _model_with_data(data, common, varying, "marginal", n_groups) as model:
        beta = add_vector_prior(COMMON, [priors[t] for t in common], common, dims=COMMON_DIM) if common else None
        mu = add_vector_prior(POPULATION_MEAN, [priors[t] for t in varying], varying, dims=VARYING_DIM)
        tau, corr_cholesky = _group_scales(spec, priors, varying)
        if spec.correlated:
            # Sigma^{-1} = diag(1/tau) R^{-1} diag(1/tau); log|Sigma| = 2 sum log tau + 2 sum log diag(L_R)
            precision = _inverse_from_cholesky(corr_cholesky, len(varying)) / (tau[:, None] * tau[None, :])
            log_det = 2 * pt.log(tau).sum() + 2 * pt.log(pt.diagonal(corr_cholesky)).sum()
        else:
            # diag(1 / tau^2), written elementwise: pt.diag adds an Alloc and an OpFromGraph that cost seconds to
            # compile under numba.
            precision = np.eye(len(varying)) / (tau[:, None] * tau[None, :])
            log_det = 2 * pt.log(tau).sum()
        sigma = _group_sigma(model, spec, priors, "pooled" if spec.group_noise else "common")
        pm.Potential(OBSERVED, gaussian.marginal_loglik(
            gaussian.sums_of(model), beta, _columns(data, common), mu, _columns(data, varying), precision, log_det,
            sigma))
    return model


def no_pooling_prior(priors: dict[str, Prior], varying: Sequence[str]) -> tuple[list[float], list[float]]:
    """The means and sds of the normal priors of the no-pooling group coefficients, one per varying term."""
    return [priors[t].params[0] for t in varying], [priors[t].params[1] for t in varying]


def build_no_pooling_marginal(data: PreparedData, spec: ModelSpec, n_groups: int | None = None) -> pm.Model:
    """Gaussian no pooling with the group effects integrated out.

    Under no pooling, b_j ~ N(m, diag(s^2)) independently, with m and s the terms' fixed prior means and sds:
    the marginal likelihood of partial pooling with mu = m and tau = s known (:mod:`hiermodels.model.gaussian`). NUTS
    samples only sigma (and common coefficients); ``fitting`` draws ``b`` from its exact conditional afterwards.
    """
    priors = resolve_priors(data, spec)
    common, varying = term_split(data, spec)
    with _model_with_data(data, common, varying, "marginal", n_groups) as model:
        beta = add_vector_prior(COMMON, [priors[t] for t in common], common, dims=COMMON_DIM) if common else None
        means, sds = no_pooling_prior(priors, varying)
        prior_mean = prior_parameter(GROUP_COEFFICIENT, "mu", means)
        prior_sd = prior_parameter(GROUP_COEFFICIENT, "sigma", sds)
        precision = np.eye(len(varying)) / (prior_sd[:, None] * prior_sd[None, :])
        sigma = _group_sigma(model, spec, priors, "independent" if spec.group_noise else "common")
        pm.Potential(OBSERVED, gaussian.marginal_loglik(
            gaussian.sums_of(model), beta, _columns(data, common), prior_mean, _columns(data, varying), precision,
            2 * pt.log(prior_sd).sum(), sigma))
    return model


# ------------------------------------------------------------------------------------------------ shared pieces
def _group_scales(spec: ModelSpec, priors: dict[str, Prior], varying: Sequence[str], factor: int = 0):
    """tau (the sd(term)s) and, when correlated, the Cholesky factor L_R of the correlation matrix R, of the
    first grouping factor (``factor`` 0) or of further factor number ``factor``."""
    grouping = spec.all_factors[factor]
    tag = spec.factor_tag(grouping.name)

    def named(name: str) -> str:
        return factor_name(name, factor) if factor else name

    tau = add_vector_prior(named(GROUP_SD), [priors[names.group_sd(t, tag)] for t in varying], varying,
                           dims=named(VARYING_DIM))
    if not grouping.correlated:
        return tau, None
    # Sigma = diag(tau) R diag(tau) with R ~ LKJ(eta); tau keeps the same sd(...) priors as the independent model.
    # PyMC 6's LKJCorr is the Cholesky factor L_R of R (R = L_R L_R^T follows the LKJ distribution).
    # (pm.LKJCholeskyCov fails to initialise under nutpie 0.16 here.)
    corr_cholesky = pm.LKJCorr(named("corr_cholesky"), n=len(varying),
                               eta=priors[names.correlation_prior(tag)].params[0])
    pm.Deterministic(named(CORRELATION), corr_cholesky @ corr_cholesky.T,
                     dims=(named(VARYING_DIM), named(f"{VARYING_DIM}_2")))
    return tau, corr_cholesky


def _add_factor_effects(data: PreparedData, spec: ModelSpec, priors: dict[str, Prior],
                        integrated_out: int | None = None) -> None:
    """The effects u^(f) of every further grouping factor (module docstring), added to the model on the stack;
    of factor number ``integrated_out`` only its scale (:mod:`hiermodels.model.integrated`)."""
    if spec.pooling == "complete":
        return
    for number, factor in enumerate(spec.factors, start=1):
        varying = data.terms_of(factor.varying)
        name = factor_name(GROUP_COEFFICIENT, number)
        if number == integrated_out:  # its scale only (under no pooling a fixed one: _likelihood adds it)
            if spec.pooling != "none":
                _group_scales(spec, priors, varying, number)
            continue
        dims = (factor_name(GROUP_DIM, number), factor_name(VARYING_DIM, number))
        if spec.pooling == "none":
            # Fixed effects in effect coding: each term's deviations sum to zero over the factor's groups, with the
            # sd of the term's fixed prior. Without the constraint the first factor's coefficients and these
            # deviations could trade a constant, held only by the priors (a ridge NUTS crawls along).
            columns = [pm.ZeroSumNormal(f"{name}[{t}]", sigma=zero_sum_scale(name, priors[t], t), dims=dims[0])
                       for t in varying]
            pm.Deterministic(name, pt.stack(columns, axis=-1), dims=dims)
            continue
        tau, corr_cholesky = _group_scales(spec, priors, varying, number)
        if spec.parameterization == "noncentered":
            z = pm.Normal(factor_name(STANDARDISED, number), 0.0, 1.0, dims=dims)
            effect = z @ (tau[:, None] * corr_cholesky).T if corr_cholesky is not None else tau * z
            pm.Deterministic(name, effect, dims=dims)
        elif corr_cholesky is not None:
            pm.MvNormal(name, mu=pt.zeros(len(varying)), chol=tau[:, None] * corr_cholesky, dims=dims)
        else:
            pm.Normal(name, mu=0.0, sigma=tau, dims=dims)


def zero_sum_sd(prior: Prior) -> float:
    """The sd of a further factor's zero-sum deviations of a term under no pooling: the sd of the term's fixed
    ``prior`` where that is normal, else 1."""
    return float(prior.params[1]) if prior.distribution == "normal" else 1.0


def zero_sum_scale(name: str, prior: Prior, term: str = INTERCEPT) -> pt.TensorVariable:
    """:func:`zero_sum_sd` as the ``pm.Data`` ``prior[<name>].sigma[<term>]`` (so that a new prior needs no
    compile)."""
    return prior_parameter(name, f"sigma[{term}]", zero_sum_sd(prior))


def _inverse_from_cholesky(L: pt.TensorVariable, q: int) -> pt.TensorVariable:
    """R^{-1} = L^{-T} L^{-1} for the lower-triangular q x q factor L of R, entry by entry (q is small).

    ``pt.linalg.inv`` of a q x q matrix took 40 s to compile under numba on an empty cache; these scalar
    operations take a fraction of that.
    """
    L_inv: list[list] = [[None] * q for _ in range(q)]
    for c in range(q):  # column c of L^{-1}: forward substitution on the unit vector e_c
        for i in range(c, q):
            acc = 1.0 if i == c else 0.0
            for m in range(c, i):
                acc = acc - L[i, m] * L_inv[m][c]
            L_inv[i][c] = acc / L[i, i]
    rows = [[sum(L_inv[m][a] * L_inv[m][b] for m in range(max(a, b), q)) for b in range(q)] for a in range(q)]
    return pt.stack([pt.stack(row) for row in rows])


def _model_with_data(data: PreparedData, common: Sequence[str], varying: Sequence[str], method: Method,
                     n_groups: int | None = None, family: str = "gaussian",
                     spec_factors: Sequence[GroupingFactor] = ()) -> pm.Model:
    if spec_factors and method not in ("rows", "integrated"):
        raise SpecError("a model with several grouping factors enters row by row")
    padding = max(0, (n_groups or 0) - data.n_groups)
    coords = {
        GROUP_DIM: [*data.group_labels, *(f"{PADDING_LABEL}{k}" for k in range(padding))],
        COMMON_DIM: list(common),
        VARYING_DIM: list(varying),
        f"{VARYING_DIM}_2": list(varying),
    }
    for number, (factor, factor_data) in enumerate(zip(spec_factors, data.factors, strict=False), start=1):
        terms = list(data.terms_of(factor.varying))
        coords[factor_name(GROUP_DIM, number)] = list(factor_data.labels)
        coords[factor_name(VARYING_DIM, number)] = terms
        coords[factor_name(f"{VARYING_DIM}_2", number)] = terms
    model = pm.Model(coords=coords)
    with model:
        for number, factor_data in enumerate(data.factors[:len(spec_factors)], start=1):
            pm.Data(factor_name(FACTOR_INDEX, number), factor_data.index)
        if method in ("rows", "integrated"):
            pm.Data("X", data.X)
            pm.Data("group_index", data.group_index)
            pm.Data("y", data.y)
            for name in ("trials", "exposure", "se"):
                values = getattr(data, name)
                if values is not None:
                    pm.Data(name, values)
            if method == "rows" and family in grouped.FAMILIES:  # the likelihood's per-row terms
                grouped.add_sums_data(grouped.FamilySums.of_rows(data, family),
                                      tuple(f for f in grouped.FIELDS if f != "design"))
        elif method == "grouped":
            # The rows enter only through the family's per-group sums.
            grouped.add_sums_data(grouped.FamilySums.from_data(data, family, data.n_groups + padding))
        else:
            # The rows enter only through their per-group sums.
            gaussian.add_sums_data(gaussian.GroupSums.from_data(data, data.n_groups + padding))
    return model


def _columns(data: PreparedData, terms: Sequence[str]) -> list[int]:
    """The design-matrix columns of ``terms``."""
    return [data.terms.index(t) for t in terms]


def _linear_predictor(
    model: pm.Model,
    data: PreparedData,
    spec: ModelSpec,
    beta: pt.TensorVariable | None,
    b: pt.TensorVariable | None,
    design: pt.TensorVariable | None = None,
) -> pt.TensorVariable:
    """eta of every row; with ``design`` (one row per group, :mod:`hiermodels.model.grouped`) eta of every group;
    without a poisson model's exposure either way (the family's likelihood carries it in its sums)."""
    common, varying = term_split(data, spec)
    X = model["X"] if design is None else design
    eta = pt.zeros(X.shape[0])
    if beta is not None and common:
        eta = eta + X[:, [data.terms.index(t) for t in common]] @ beta
    if b is not None and varying and design is not None:
        eta = eta + (X[:, [data.terms.index(t) for t in varying]] * b).sum(axis=1)
    elif b is not None and varying:
        eta = eta + _group_effects(X, data, varying, b, model["group_index"])
    if design is not None:
        return eta
    if spec.pooling != "complete":
        for number, factor in enumerate(spec.factors, start=1):
            if factor_name(GROUP_COEFFICIENT, number) not in model.named_vars:
                continue  # integrated out (hiermodels.model.integrated)
            eta = eta + _group_effects(X, data, data.terms_of(factor.varying),
                                       model[factor_name(GROUP_COEFFICIENT, number)],
                                       model[factor_name(FACTOR_INDEX, number)])
    return eta


def _group_effects(X: pt.TensorVariable, data: PreparedData, terms: Sequence[str], coefficients: pt.TensorVariable,
                   index: pt.TensorVariable) -> pt.TensorVariable:
    """Each row's sum over ``terms`` of its design value times its group's coefficient (``coefficients`` (J, q),
    ``index`` the row's group)."""
    if tuple(terms) == (INTERCEPT,):  # the intercept's column is ones: one gather, and no product over the rows
        return coefficients[:, 0][index]
    return (X[:, _columns(data, terms)] * coefficients[index]).sum(axis=1)


def _likelihood(
    model: pm.Model,
    data: PreparedData,
    spec: ModelSpec,
    priors: dict[str, Prior],
    beta: pt.TensorVariable | None,
    b: pt.TensorVariable | None,
    *,
    noise: str,
    method: Method,
) -> None:
    if method == "sufficient":
        common, varying = term_split(data, spec)
        sigma = _group_sigma(model, spec, priors, noise)
        pm.Potential(OBSERVED, gaussian.sufficient_loglik(
            gaussian.sums_of(model), beta, _columns(data, common), b, _columns(data, varying), sigma))
        return
    if method == "grouped" or spec.family in grouped.FAMILIES:
        # Per group (one linear predictor each), or per row (every row a cell: grouped.FamilySums.of_rows).
        sums = grouped.sums_of(model)
        eta = _linear_predictor(model, data, spec, beta, b, design=sums.get("design"))
        alpha = add_prior(GAMMA_SHAPE, priors[names.GAMMA_SHAPE]) if spec.family == "gamma" else None
        pm.Potential(OBSERVED, grouped.loglik(spec.family, sums, eta, alpha))
        return
    eta = _linear_predictor(model, data, spec, beta, b)
    y = model["y"]
    if method == "integrated":
        number = integrated.integrated_factor(data, spec)
        assert number is not None  # build_model checked
        sigma = _group_sigma(model, spec, priors, noise)
        zero_sum = integrated.sums_to_zero(spec)
        if number == 0:
            tau, index, size = model[GROUP_SD][0], model["group_index"], len(model.coords[GROUP_DIM])
        else:
            name = factor_name(GROUP_COEFFICIENT, number)
            tau = zero_sum_scale(name, priors[INTERCEPT]) if zero_sum else model[factor_name(GROUP_SD, number)][0]
            index = model[factor_name(FACTOR_INDEX, number)]
            size = len(model.coords[factor_name(GROUP_DIM, number)])
        # each group's row count, as data: a new data set of the same structure swaps it in
        count = pm.Data(INTEGRATED_COUNT, np.bincount(index.get_value(), minlength=size))
        pm.Potential(OBSERVED, integrated.integrated_loglik(y - eta, index, count, tau, sigma, zero_sum))
        return
    if spec.family == "gaussian":
        sigma = _group_sigma(model, spec, priors, noise)
        pm.Normal(OBSERVED, mu=eta, sigma=sigma if sigma.ndim == 0 else sigma[model["group_index"]], observed=y)
    elif spec.family == "known_se":
        pm.Normal(OBSERVED, mu=eta, sigma=model["se"], observed=y)
    else:  # pragma: no cover - ModelSpec validates the family
        raise NotImplementedError(spec.family)


def _group_sigma(model: pm.Model, spec: ModelSpec, priors: dict[str, Prior], noise: str) -> pt.TensorVariable:
    """The residual scale: one common value (scalar), or one per group ((J,); no pooling: independent; partial
    pooling: log sigma_j ~ Normal(log sigma, sd_log_sigma))."""
    if noise == "common":
        return add_prior(SIGMA, priors[names.SIGMA])
    if noise == "independent":
        return add_prior(GROUP_SIGMA, priors[names.SIGMA], dims=GROUP_DIM)
    sigma = add_prior(SIGMA, priors[names.SIGMA])
    spread = add_prior(LOG_SIGMA_SD, priors[names.LOG_SIGMA_SD])
    if spec.parameterization == "noncentered":
        z = pm.Normal("z_sigma", 0.0, 1.0, dims=GROUP_DIM)
        return pm.Deterministic(GROUP_SIGMA, pt.exp(pt.log(sigma) + spread * z), dims=GROUP_DIM)
    return pm.LogNormal(GROUP_SIGMA, mu=pt.log(sigma), sigma=spread, dims=GROUP_DIM)
