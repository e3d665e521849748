"""Where a fit is decided: one frozen :class:`FitPlan` per (prepared data, spec), read by every caller.

Fitting, the compiled-model cache, the warm start, the CLI and the Model page all ask the same questions; the
answers are computed here, once, in this order:

1. **How the data enter** (``method``, :func:`choose_method`): models with several grouping factors (under
   no or partial pooling) row by row, as no group's rows carry all of a row's effects, gaussian ones with the
   intercepts of the factor with the most groups integrated out (``"integrated"``,
   :mod:`hiermodels.model.integrated`) where that factor varies only its intercept (under no pooling a further
   factor, whose effects sum to zero); gaussian models through
   per-group sufficient statistics (``"sufficient"``), with the group effects integrated out where they are conjugate
   (``"marginal"``: non-centred partial pooling, or no pooling with normal coefficient priors); binomial,
   poisson and gamma models whose linear predictor is constant within each group through per-group sums
   (``"grouped"``); every other model row by row (``"rows"``). Each gives the row-by-row log-density
   (``tests/test_gaussian.py``, ``tests/test_grouped.py``).
2. **Who samples** (``sampler``): the gaussian engine (``"engine"``, :mod:`hiermodels.engine.gaussian_engine`, one
   numba program compiled once per machine) where it covers the model, otherwise the PyMC model compiled by
   nutpie (``"nutpie"``, once per structure with a cache, :mod:`hiermodels.engine.compiled`).
3. **Who finds the joint mode** (``mode_finder``), of the centred form of the model (``mode_spec``, see
   :mod:`hiermodels.inference.mode`): the engine where it covers it, otherwise L-BFGS-B on the compiled PyMC
   model, built with the group effects as parameters (``mode_method``).
4. **The group axis** (``n_groups``): padded to a bucket (:func:`padded_group_count`) where a sampled parameter
   has one value per group, so that the compiled function serves every data set whose group count falls in
   the same bucket (:func:`group_count_shapes`); the padding groups carry no data.
5. **The structure keys** (``structure_key``, ``mode_key``): everything baked into a compiled function, so that
   data sets with equal keys share one compile; ``None`` where the engine needs no compile.
6. **The mass matrix** (``adaptation``): with several grouping factors the effects of one factor trade a
   constant against the population mean and the other factor's effects (Penicillin: the 6 samples' mean
   against the intercept), a correlation a diagonal mass matrix cannot follow (R-hat 1.10, bulk ESS 49 at 4 x
   1,000 draws); nutpie's low-rank modified mass matrix learns that direction (R-hat 1.002, ESS 3,852). It costs
   about 17 us more per leapfrog step (a 48-dimensional standard normal: 23.6 against 6.7 us), and more as the
   dimension grows (the InstEval subsample's 1,094 effects, before they were integrated out: 557 s against 15 s).
   Where many informative groups are sampled it buys nothing: the InstEval subsample's 47 lecturers, seeds 1-3,
   partial pooling sampled 1.8-2.1 s with tail ESS 301-933 against 1.2-1.6 s and 367-865 with the diagonal; no
   pooling 1.5-1.8 s against 1.2-1.5 s, ESS above 2,000 both. Where few are sampled it is needed: Penicillin's
   6 samples (diagonal: R-hat 1.012-1.020, bulk ESS 317-336), the pastes' 10 batches under no pooling (diagonal:
   36 leapfrog steps per draw against 7). So it is used up to ``LOW_RANK_MAX_EFFECTS`` sampled group effects.
   Everything else keeps the diagonal.
7. **The target acceptance** (``target_accept``, :func:`samples_funnel`): the spec's, or when it leaves it
   open (``SamplerSettings.target_accept=None``) 0.99 where NUTS moves in group effects together with the sd
   that scales them (partial pooling: the funnel) and 0.9 elsewhere (complete pooling; no pooling, whose
   group effects have fixed priors; group effects integrated out, also when one factor of several is); the
   measurements are in ``SamplerSettings``' docstring.

``FitPlan.needs_compile(cache)`` says whether sampling will compile first (the Model page shows a REML preview
only then).
"""

from __future__ import annotations

import math
from collections.abc import Container, Hashable
from dataclasses import dataclass, replace
from typing import Literal

from hiermodels.data.preparing import PreparedData
from hiermodels.engine import gaussian_engine
from hiermodels.model import grouped, integrated, names
from hiermodels.model.build import Method, normal_coefficient_priors, term_split
from hiermodels.model.priors import resolve_priors
from hiermodels.model.spec import FUNNEL_TARGET_ACCEPT, ModelSpec

Backend = Literal["engine", "nutpie"]
Adaptation = Literal["diag", "low_rank"]


@dataclass(frozen=True)
class FitPlan:
    """Every decision about one fit of ``spec`` (see the module docstring)."""

    spec: ModelSpec
    method: Method
    sampler: Backend
    n_groups: int  # the group axis of the sampled model (the data's, or padded)
    structure_key: Hashable | None  # the compiled cache's key for the sampled model; None for the engine
    mode_spec: ModelSpec  # the centred model whose joint mode is reported
    mode_method: Method
    mode_finder: Backend
    mode_key: Hashable | None  # the compiled cache's key for the mode finder; None for the engine
    # nutpie's mass-matrix adaptation (decision 6 of the module docstring).
    adaptation: Adaptation = "diag"
    # NUTS's target acceptance (decision 7).
    target_accept: float = FUNNEL_TARGET_ACCEPT

    @property
    def draws_group_effects(self) -> bool:
        """Whether group effects are drawn after sampling, from their exact conditional (``"marginal"``, and
        the integrated factor's of ``"integrated"``)."""
        return self.method in ("marginal", "integrated")

    def needs_compile(self, compiled: Container[Hashable] | None) -> bool:
        """Whether sampling compiles a model first: nutpie's route, and no compiled structure in ``compiled``
        (a :class:`~hiermodels.engine.compiled.CompiledModelCache`; without one every nutpie fit compiles)."""
        return self.sampler == "nutpie" and (compiled is None or self.structure_key not in compiled)


def plan_fit(data: PreparedData, spec: ModelSpec, method: Method | None = None) -> FitPlan:
    """The plan for fitting ``spec`` to ``data``; ``method`` overrides :func:`choose_method` (e.g. ``"rows"`` for
    the textbook model)."""
    method = method or choose_method(data, spec)
    several = several_factors(spec)
    if gaussian_engine.supports(spec, method) and not several:
        sampler: Backend = "engine"
        n_groups, key = data.n_groups, None
    else:
        sampler = "nutpie"
        padded = group_count_shapes(spec, method)
        n_groups = padded_group_count(data.n_groups) if padded else data.n_groups
        key = structure_key(data, spec, method, n_groups if padded else None)
    mode_spec = replace(spec, parameterization="centered")
    mode_method = choose_mode_method(data, spec)
    if gaussian_engine.supports_mode(spec) and not several:
        mode_finder: Backend = "engine"
        mode_key = None
    else:
        mode_finder = "nutpie"
        # The mode finder is compiled for the data's own group count; a row-by-row model also for its row count.
        mode_key = ("mode", structure_key(data, mode_spec, mode_method, data.n_groups),
                    data.n_rows if mode_method == "rows" else None)
    return FitPlan(spec=spec, method=method, sampler=sampler, n_groups=n_groups, structure_key=key,
                   mode_spec=mode_spec, mode_method=mode_method, mode_finder=mode_finder, mode_key=mode_key,
                   adaptation=choose_adaptation(data, spec),
                   target_accept=spec.sampler.target_accept_for(samples_funnel(spec, method)))


def samples_funnel(spec: ModelSpec, method: Method) -> bool:
    """Whether NUTS moves in group-level quantities together with a scale learned from them (decision 7): group
    effects under partial pooling (unless integrated out: ``"marginal"``, or ``"integrated"``, where one factor's
    effects are integrated out and the measured fits were as clean at 0.9, see ``SamplerSettings``), or
    group-specific residual scales (kept at 0.99 under every pooling: not measured otherwise)."""
    if spec.group_noise:
        return True
    return spec.pooling == "partial" and method not in ("marginal", "integrated")


def choose_method(data: PreparedData, spec: ModelSpec) -> Method:
    """How the data enter the model (decision 1 of the module docstring).

    A centred partial-pooling gaussian model keeps its group effects as parameters, so that the centred
    geometry (and its divergences) can still be shown.
    """
    if several_factors(spec):
        return "integrated" if integrated.integrated_factor(data, spec) is not None else "rows"
    if spec.family == "gaussian":
        if spec.pooling == "partial" and spec.parameterization == "noncentered":
            return "marginal"
        if spec.pooling == "none" and normal_coefficient_priors(spec):
            return "marginal"
        return "sufficient"
    if spec.family in grouped.FAMILIES and grouped.design_constant_within_groups(data):
        return "grouped"
    return "rows"


# Above this many sampled group effects nutpie's low-rank adaptation costs more than it saves (decision 6).
LOW_RANK_MAX_EFFECTS = 24


def choose_adaptation(data: PreparedData, spec: ModelSpec) -> Adaptation:
    """nutpie's mass-matrix adaptation (decision 6 of the module docstring)."""
    if not several_factors(spec):
        return "diag"
    sizes = [data.n_groups, *(d.n_groups for d in data.factors)]
    out = integrated.integrated_factor(data, spec)  # its effects are not sampled
    effects = sum(size * len(data.terms_of(f.varying))
                  for k, (f, size) in enumerate(zip(spec.all_factors, sizes, strict=True)) if k != out)
    return "low_rank" if effects <= LOW_RANK_MAX_EFFECTS else "diag"


def several_factors(spec: ModelSpec) -> bool:
    """Whether the model has effects of more than one grouping factor (complete pooling drops them all)."""
    return bool(spec.factors) and spec.pooling != "complete"


def choose_mode_method(data: PreparedData, spec: ModelSpec) -> Method:
    """How the data enter the model whose joint mode is found: its centred form, with the group effects as
    parameters (a marginal likelihood would give the mode of another density)."""
    method = choose_method(data, replace(spec, parameterization="centered"))
    if method == "integrated":
        return "rows"
    return "sufficient" if method == "marginal" else method


def padded_group_count(n_groups: int) -> int:
    """The bucket a group count is padded to: the next of 8, 12, 16, 24, 32, 48, 64, ... (at most 50% extra)."""
    if n_groups <= 8:
        return 8
    power = 2 ** math.floor(math.log2(n_groups))
    for candidate in (power, power * 3 // 2, power * 2):
        if candidate >= n_groups:
            return candidate
    return power * 2  # pragma: no cover - the loop always returns


def group_count_shapes(spec: ModelSpec, method: Method) -> bool:
    """Whether the compiled function depends on the number of groups: it does when a sampled parameter has one
    value per group, or the rows are indexed by group. Models on group sums without such a parameter (complete
    pooling; group effects integrated out, one residual scale) take any number of groups through
    ``with_data``."""
    if method in ("rows", "integrated") or spec.group_noise:
        return True
    return not (spec.pooling == "complete" or method == "marginal")


def structure_key(data: PreparedData, spec: ModelSpec, method: Method, n_groups: int | None) -> Hashable:
    """Everything that shapes the compiled function; data sets with equal keys share one compile.

    ``n_groups`` is the padded group count, or None when the group count does not matter
    (:func:`group_count_shapes`)."""
    common, varying = term_split(data, spec)
    priors = resolve_priors(data, spec)
    return (
        spec.family, spec.pooling, method, spec.correlated, spec.parameterization, spec.group_noise,
        len(data.terms), tuple(data.terms.index(t) for t in varying), tuple(data.terms.index(t) for t in common),
        bool(spec.trials), bool(spec.exposure), bool(spec.se),
        tuple(sorted((name, prior.distribution) for name, prior in priors.items())),
        tuple(prior.params for name, prior in sorted(priors.items()) if names.kind(name) == "correlation_prior"),
        n_groups,
        # further grouping factors: their varying columns, correlation and (unpadded) group counts
        tuple((tuple(data.terms.index(t) for t in data.terms_of(f.varying)), f.correlated, d.n_groups)
              for f, d in zip(spec.factors, data.factors, strict=True)) if several_factors(spec) else (),
    )
