"""Default priors, scaled to the data, and their translation into PyMC distributions.

The defaults follow rstanarm's "weakly informative, autoscaled" idea: they fix the order of magnitude from the
data and let the likelihood do the rest. With ``s`` the outcome's scale on the link scale (``sd(y)`` for the
gaussian family; ``sqrt(var(y) + mean(se^2))`` for known_se; 1 for the logit and log links) and ``sd(x_t)`` the
standard deviation of term ``t``'s column:

=====================  ===============================================================================
parameter name         default prior
=====================  ===============================================================================
``intercept``          ``normal(m, 2.5 s)``, ``m`` the outcome's mean on the link scale
``t`` (a slope)        ``normal(0, 2.5 s / sd(x_t))``
``sd(intercept)``      ``halfnormal(s)``
``sd(t)``              ``halfnormal(s / sd(x_t))``
``corr``               ``lkj(2)`` (mildly favours small correlations)
``sd(t|f)``, ``corr|f``  the same, for each grouping factor f when there are several
``sigma``              ``halfnormal(s)`` (gaussian residual scale; with group noise, the typical group's)
``sd(log_sigma)``      ``halfnormal(1)`` (spread of the log residual scales across groups)
``alpha``              ``halfcauchy(mean(y)^2 / var(y))`` (gamma shape; heavy tail, so it does not bind)
=====================  ===============================================================================

Under no pooling each group's coefficient gets the prior of its term (``intercept``, ``t``); the groups of a
further grouping factor get it centred at 0, as they are deviations. Every default can
be replaced by name (``ModelSpec.priors``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from hiermodels import limits
from hiermodels.data.preparing import PreparedData, group_level_predictors, slope_modifiers
from hiermodels.errors import SpecError
from hiermodels.model import names
from hiermodels.model.prior_families import PRIOR_FAMILIES
from hiermodels.model.spec import INTERCEPT, ModelSpec, Pooling, Prior

# How wide location priors are, in units of the outcome's scale (rstanarm's 2.5).
_LOCATION_WIDTH = 2.5


def outcome_scale(data: PreparedData, spec: ModelSpec) -> tuple[float, float]:
    """The outcome's centre and scale on the link scale: ``(m, s)`` of the module docstring."""
    y = data.y
    if spec.family == "gaussian":
        return float(np.mean(y)), float(np.std(y)) or 1.0
    if spec.family == "known_se":
        se = data.se if data.se is not None else np.zeros_like(y)
        return float(np.mean(y)), float(np.sqrt(np.var(y) + np.mean(se**2))) or 1.0
    if spec.family == "binomial":
        trials = data.trials if data.trials is not None else np.ones_like(y)
        p = np.clip(y.sum() / trials.sum(), 0.01, 0.99)
        return float(np.log(p / (1 - p))), 1.0
    if spec.family == "poisson":
        exposure = data.exposure if data.exposure is not None else np.ones_like(y)
        return float(np.log(max(y.sum() / exposure.sum(), 1e-3))), 1.0
    return float(np.log(np.mean(y))), 1.0  # gamma, log link


def default_priors(data: PreparedData, spec: ModelSpec) -> dict[str, Prior]:
    """Every parameter name of this model, with its default prior (see the module docstring)."""
    centre, scale = outcome_scale(data, spec)
    priors: dict[str, Prior] = {INTERCEPT: Prior("normal", (centre, _LOCATION_WIDTH * scale))}
    spread = {t: float(np.std(data.X[:, k])) for k, t in enumerate(data.terms) if t != INTERCEPT}
    for term, sd_x in spread.items():
        priors[term] = Prior("normal", (0.0, _LOCATION_WIDTH * scale / sd_x))
    if spec.pooling == "partial":
        for factor in spec.all_factors:
            tag = spec.factor_tag(factor.name)
            for term in data.terms_of(factor.varying):
                priors[names.group_sd(term, tag)] = Prior("halfnormal",
                                                          (scale / spread[term] if term in spread else scale,))
            if factor.correlated:
                priors[names.correlation_prior(tag)] = Prior("lkj", (2.0,))
    if spec.family == "gaussian":
        priors[names.SIGMA] = Prior("halfnormal", (scale,))
        if spec.group_noise and spec.pooling == "partial":
            priors[names.LOG_SIGMA_SD] = Prior("halfnormal", (1.0,))
    if spec.family == "gamma":
        variance = float(np.var(data.y)) or 1.0
        priors[names.GAMMA_SHAPE] = Prior("halfcauchy", (max(float(np.mean(data.y)) ** 2 / variance, 1.0),))
    return priors


def resolve_priors(data: PreparedData, spec: ModelSpec) -> dict[str, Prior]:
    """Defaults overridden by the spec's priors; an override for a parameter this model lacks is an error."""
    priors = default_priors(data, spec)
    unknown = [name for name in spec.prior_overrides if name not in priors]
    if unknown:
        raise SpecError(
            f"this model has no parameter named {', '.join(map(repr, unknown))}; "
            f"priors can be set for {', '.join(priors)}"
        )
    priors.update(spec.prior_overrides)
    return priors


def specs_for_poolings(data: PreparedData, spec: ModelSpec, poolings: Sequence[Pooling]) -> dict[Pooling, ModelSpec]:
    """``spec`` under each pooling, each keeping the prior overrides its own model has.

    Fitted under several poolings, ``sd(intercept)=...`` concerns partial pooling only; a name that none of the
    poolings has is an error listing the valid names. The no-pooling spec leaves out the group-level predictors
    that sit beside a varying intercept (:func:`dropped_under_no_pooling`, which says why); fit it to
    :func:`data_for` its spec. A spec asked for directly (``fitting.fit``) is never changed: there such a
    predictor is refused.
    """
    dropped = dropped_under_no_pooling(data, spec)
    pooled = {p: _without(spec.with_pooling(p), dropped if p == "none" else ()) for p in poolings}
    defaults = {p: default_priors(data_for(data, pooled[p]), pooled[p]) for p in poolings}
    known = {name: None for p in poolings for name in defaults[p]}
    unknown = [name for name in spec.prior_overrides if name not in known]
    if unknown:
        raise SpecError(
            f"this model has no parameter named {', '.join(map(repr, unknown))}; "
            f"priors can be set for {', '.join(known)}"
        )
    return {
        p: replace(pooled[p], priors=tuple((n, prior) for n, prior in spec.priors if n in defaults[p]))
        for p in poolings
    }


def dropped_under_no_pooling(data: PreparedData, spec: ModelSpec) -> tuple[str, ...]:
    """The predictors that :func:`specs_for_poolings` leaves out of the no-pooling fit of ``spec``.

    A group-level predictor x (:func:`~hiermodels.data.preparing.group_level_predictors`) beside a varying
    intercept: under no pooling y_ij = a_j + beta * x_j + ..., and each a_j has its own fixed prior, so only
    a_j + beta * x_j is informed by the data and beta is not identified. Leaving x out changes nothing else: each
    a_j then is the group's own level, x_j * beta included. A slope of x that itself varies by group is not
    dropped (it is confounded with the intercept under every pooling, and refused). Likewise a common predictor
    that within every group is a multiple of a varying slope (a cross-level interaction x:u,
    :func:`~hiermodels.data.preparing.slope_modifiers`): each group's own slope of x absorbs it.
    """
    return tuple(_absorbed_under_no_pooling(data, spec))


def _absorbed_under_no_pooling(data: PreparedData, spec: ModelSpec) -> dict[str, str | None]:
    """Each predictor :func:`dropped_under_no_pooling` leaves out -> the varying slope that absorbs it, or None
    when the intercept does."""
    varying = {term for factor in spec.all_factors for term in factor.varying}
    absorbed: dict[str, str | None] = {}
    if INTERCEPT in spec.varying:
        absorbed.update((p, None) for p in group_level_predictors(data) if p in spec.predictors and p not in varying)
    for predictor, slope in slope_modifiers(data, spec).items():
        absorbed.setdefault(predictor, slope)
    return absorbed


def no_pooling_notes(data: PreparedData, spec: ModelSpec) -> list[str]:
    """One plain sentence per predictor :func:`dropped_under_no_pooling`, for the app and the command line."""
    group = limits.shown(spec.group)
    return [
        f"{limits.shown(p)} is a property of {group}: under no pooling each group's own intercept absorbs it, so it "
        "is left out of the no-pooling fit" if slope is None else
        f"{limits.shown(p)} changes the slope of {limits.shown(slope)} by {group}: under no pooling each "
        f"group's own slope of {limits.shown(slope)} absorbs it, so it is left out of the no-pooling fit"
        for p, slope in _absorbed_under_no_pooling(data, spec).items()
    ]


def data_for(data: PreparedData, spec: ModelSpec) -> PreparedData:
    """``data`` with only the design-matrix columns of ``spec``'s predictors (``data`` itself when it has no
    others): the data a spec of :func:`specs_for_poolings` is fitted to. Rows stay as they are, so every
    pooling is fitted to the same rows."""
    unknown = [p for p in spec.predictors if p not in data.predictor_terms]
    if unknown:
        raise SpecError(f"the prepared data have no predictor {', '.join(map(repr, unknown))}; prepare the data "
                        "with this spec first")
    terms = data.terms_of((INTERCEPT, *spec.predictors))
    if terms == data.terms:
        return data
    return replace(data, X=data.design(terms), terms=terms,
                   predictor_terms={p: data.predictor_terms[p] for p in spec.predictors})


def _without(spec: ModelSpec, predictors: Sequence[str]) -> ModelSpec:
    """``spec`` without ``predictors`` (none of which varies)."""
    if not predictors:
        return spec
    kept = tuple(p for p in spec.predictors if p not in predictors)
    # A categorical column stays categorical while a kept predictor uses it, itself or inside an interaction
    # (schgend dropped beside a varying intercept, standLRT:schgend kept).
    used = {part for p in kept for part in (p, *names.interaction_parts(p))}
    return replace(spec, predictors=kept, categorical=tuple((c, ref) for c, ref in spec.categorical if c in used))


def prior_distribution(prior: Prior) -> tuple[type[pm.Distribution], dict[str, float]]:
    """The PyMC distribution class and keyword arguments for a :class:`Prior`: the family's parameter names
    (:mod:`hiermodels.model.prior_families`) are PyMC's own, so they pass straight through."""
    family = PRIOR_FAMILIES[prior.distribution]
    return family.pymc_class, dict(zip(family.parameters, prior.params, strict=True))


def add_prior(name: str, prior: Prior, *, dims: str | tuple[str, ...] | None = None) -> pm.Distribution:
    """Add ``name ~ prior`` to the model on the context stack; the prior's numbers are ``pm.Data``.

    Keeping the numbers as data (not constants) means that a compiled model serves every data set of the same
    structure: default priors are scaled to the data, and new data swap in new prior parameters.
    """
    cls, kwargs = prior_distribution(prior)
    return cls(name, **{arg: prior_parameter(name, arg, value) for arg, value in kwargs.items()}, dims=dims)


def prior_parameter(name: str, argument: str, value) -> pt.TensorVariable:
    """The prior parameter ``argument`` of ``name`` as a ``pm.Data`` container (see :func:`add_prior`)."""
    return pm.Data(f"prior[{name}].{argument}", np.asarray(value, dtype=float))


def add_vector_prior(
    name: str, priors: Sequence[Prior], labels: Sequence[str], *, dims: str | tuple[str, ...] | None = None
) -> pt.TensorVariable:
    """One vector-valued variable ``name`` whose element ``labels[k]`` has prior ``priors[k]``.

    When every prior is of one distribution family this is a single PyMC variable with vector parameters (which
    broadcasts over leading dims, e.g. ``(group, varying_term)``); otherwise each element is its own scalar
    variable ``name[label]`` and ``name`` is their stack (a Deterministic with the same dims).
    """
    kinds = {p.distribution for p in priors}
    if len(kinds) == 1:
        cls, _ = prior_distribution(priors[0])
        argument_names = PRIOR_FAMILIES[priors[0].distribution].parameters
        kwargs: Mapping[str, pt.TensorVariable] = {
            arg: prior_parameter(name, arg, [p.params[i] for p in priors]) for i, arg in enumerate(argument_names)
        }
        return cls(name, **kwargs, dims=dims)
    leading = dims[:-1] if isinstance(dims, tuple) else ()
    elements = [add_prior(f"{name}[{label}]", prior, dims=leading or None)
                for label, prior in zip(labels, priors, strict=True)]
    return pm.Deterministic(name, pt.stack(elements, axis=-1), dims=dims)

