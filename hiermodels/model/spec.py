"""What a model *is*: frozen, hashable specifications, validated on construction.

A :class:`ModelSpec` names the columns and the modelling choices; it holds no data and builds nothing (that is
:mod:`hiermodels.model.build`). Because it is frozen and made of tuples it can key a cache, and
``dataclasses.replace(spec, pooling="none")`` gives the same model under another pooling.

Option strings are ``Literal`` types, and validation reads the allowed values from the types themselves
(``typing.get_args``), so a user interface can fill its choices from the same tuples.

Vocabulary
----------
term
    ``"intercept"`` or a predictor column; a categorical predictor ``x`` with levels ``a`` (reference), ``b``
    and ``c`` contributes the terms ``x[b]`` and ``x[c]``.
varying term
    a term whose coefficient differs by group (an lme4 ``(term | group)``). Under complete pooling nothing
    varies; ``varying`` is then ignored, so that one spec can be fitted under all three poolings.
parameter names
    ``intercept`` and each term for the population means (partial pooling) or common coefficients;
    ``sd(term)`` for the group-level scales; ``corr`` for the LKJ prior of correlated effects; ``sigma`` for
    the residual scale (gaussian); ``sd(log_sigma)`` for its group-level scale when the noise varies by group;
    ``alpha`` for the gamma shape.
grouping factors
    ``group`` is the first grouping factor (the one the views open on); ``factors`` adds more, each a
    :class:`GroupingFactor`: crossed (``(1 | plate) + (1 | sample)``: a row belongs to a plate *and* a sample)
    or nested (``(1 | batch/cask)``: cask labels repeat across batches, so a cask is a (batch, cask) pair). The
    pooling applies to every factor. With several factors every group-level name carries its factor:
    ``sd(intercept|plate)``, ``corr(intercept,floor|county)`` (:mod:`hiermodels.model.names`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

from hiermodels import limits
from hiermodels.errors import PriorSyntaxError, SpecError
from hiermodels.model.names import interaction_parts
from hiermodels.model.names import support as parameter_support
from hiermodels.model.prior_families import PRIOR_DISTRIBUTIONS, PRIOR_FAMILIES, PriorDistribution

Pooling = Literal["complete", "none", "partial"]
Family = Literal["gaussian", "binomial", "poisson", "gamma", "known_se"]
Parameterization = Literal["noncentered", "centered"]

POOLINGS: tuple[Pooling, ...] = get_args(Pooling)
FAMILIES: tuple[Family, ...] = get_args(Family)
PARAMETERIZATIONS: tuple[Parameterization, ...] = get_args(Parameterization)

INTERCEPT = "intercept"

POOLING_LABELS: Mapping[Pooling, str] = {
    "complete": "complete pooling",
    "none": "no pooling",
    "partial": "partial pooling",
}

FAMILY_LABELS: Mapping[Family, str] = {
    "gaussian": "Gaussian (continuous outcome)",
    "binomial": "Binomial (successes out of trials, or 0/1)",
    "poisson": "Poisson (counts, optional exposure)",
    "gamma": "Gamma (positive outcome, log link)",
    "known_se": "Known standard error (one estimate + SE per group)",
}

_PRIOR_PATTERN = re.compile(r"^\s*([A-Za-z_]+)\s*\(\s*(.*?)\s*\)\s*$")


@dataclass(frozen=True)
class Prior:
    """A prior distribution written as in the CLI: ``normal(0, 5)``, ``halfcauchy(5)``, ``lkj(2)``.

    What each family takes (how many numbers, which must be positive) and where it puts its mass come from the
    table of prior families, :mod:`hiermodels.model.prior_families`.
    """

    distribution: PriorDistribution
    params: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.distribution not in PRIOR_DISTRIBUTIONS:
            raise PriorSyntaxError(
                f"unknown prior distribution {self.distribution!r}; use one of {', '.join(PRIOR_DISTRIBUTIONS)}"
            )
        family = PRIOR_FAMILIES[self.distribution]
        names = family.parameters
        object.__setattr__(self, "params", tuple(float(p) for p in self.params))
        if len(self.params) != len(names):
            raise PriorSyntaxError(
                f"{self.distribution} takes {len(names)} parameter(s), {family.signature()}, "
                f"but got {len(self.params)}"
            )
        for name, value in zip(names, self.params, strict=True):
            if not math.isfinite(value):
                raise PriorSyntaxError(f"{self}: parameter {name} must be a finite number")
            if name in family.positive and value <= 0:
                raise PriorSyntaxError(f"{self}: parameter {name} must be positive, got {value:g}")
        if family.support == "interval" and not self.params[0] < self.params[1]:
            raise PriorSyntaxError(f"{self}: the lower bound must be below the upper bound")

    @classmethod
    def parse(cls, text: str) -> Prior:
        """Read ``"normal(0, 5)"``. Only a distribution name and numbers are accepted; nothing is evaluated."""
        match = _PRIOR_PATTERN.match(text)
        if match is None:
            raise PriorSyntaxError(
                f"cannot read the prior {text!r}: write it as name(numbers), for example normal(0, 5)"
            )
        name = match.group(1).lower().replace("_", "")
        if name not in PRIOR_DISTRIBUTIONS:
            raise PriorSyntaxError(
                f"unknown prior distribution {match.group(1)!r} in {text!r}; "
                f"use one of {', '.join(PRIOR_DISTRIBUTIONS)}"
            )
        arguments = [a.strip() for a in match.group(2).split(",")] if match.group(2) else []
        values: list[float] = []
        for argument in arguments:
            try:
                values.append(float(argument))
            except ValueError:
                raise PriorSyntaxError(
                    f"prior {text!r}: {argument!r} is not a number; parameters must be plain numbers"
                ) from None
        return cls(name, tuple(values))  # name is a PriorDistribution: the check above narrows it

    @property
    def support(self) -> Literal["real", "positive", "correlation"]:
        """Where this prior puts its mass: an interval family's (uniform's) counts as positive when its lower
        bound is >= 0, so that it can be a scale's prior."""
        support = PRIOR_FAMILIES[self.distribution].support
        if support == "interval":
            return "positive" if self.params[0] >= 0 else "real"
        return support

    def __str__(self) -> str:
        return f"{self.distribution}({', '.join(f'{p:g}' for p in self.params)})"


def parse_prior_assignment(text: str) -> tuple[str, Prior]:
    """Read ``"sd(intercept)=halfcauchy(5)"`` into ``("sd(intercept)", Prior("halfcauchy", (5,)))``."""
    # The parameter name may itself contain parentheses ("sd(x)"), so split at the first "=".
    name, sep, prior_text = text.partition("=")
    if not sep or not name.strip() or not prior_text.strip():
        raise PriorSyntaxError(
            f"cannot read the prior {text!r}: write NAME=DIST(ARGS), for example \"sd(intercept)=halfnormal(1)\""
        )
    return name.strip(), Prior.parse(prior_text)


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings. ``seed`` makes a fit reproducible; ``target_accept`` near 1 trades speed for fewer
    divergences (raise it when the sampler reports divergences).

    The defaults (the app's Quick preset) are the least that fits every bundled sample under every pooling with
    R-hat below 1.01, at least 400 effective draws in bulk and tail, and no divergent transition
    (``benchmarks/bench_samples.py``; ``tests/test_sample_matrix.py`` checks it): four chains, so that R-hat
    can see a chain that wandered off and 100 effective draws per chain is 400; 1,000 draws, because with fewer
    the largest R-hat over a hundred group coefficients exceeds 1.01 by chance alone.

    ``target_accept=None`` (the default) leaves the target acceptance to the model (:meth:`target_accept_for`,
    decided by the fit plan): ``FUNNEL_TARGET_ACCEPT`` (0.99) where NUTS moves in group effects together with
    the group-level sd that scales them (partial pooling), whose funnels under binomial and gamma models need it
    (0.95 left cbpp's R-hat at 1.011 and one divergence in the daughters' gamma model);
    ``SMOOTH_TARGET_ACCEPT`` (0.9) where there is no such funnel (complete pooling; no pooling, whose group
    effects have fixed priors; the group effects integrated out), where a higher target only shortens the steps.
    On every such fit of the bundled samples (4 x 1,000 draws) 0.9 took 1.5 to 4 times fewer gradient
    evaluations than 0.99, with no divergence, R-hat at most 1.0067 and bulk and tail ESS at least 975, larger
    than at 0.99 in all but three cases (the largest drop: the nested paste sample's no-pooling bulk ESS, 1,376
    against 1,601). With several grouping factors and one of them integrated out (Penicillin, the pastes, the
    InstEval subsample; partial pooling, seeds 1 to 3) 0.9 sampled 1.5 to 2 times faster with no divergence,
    R-hat at most 1.0066 and bulk ESS at least 853; the weakest tail ESS, the InstEval students' sd, was 792 to
    1,169 at 0.9 and 371 to 567 at 0.99, where the longer trajectories did not help it.
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int = 20261121
    target_accept: float | None = None

    def __post_init__(self) -> None:
        problems = []
        for name in ("draws", "tune", "chains"):
            value = getattr(self, name)
            if not _is_whole(value) or value < 1:
                problems.append(f"{name} must be a positive whole number, got {value!r}")
            elif name == "draws" and value < 10:
                problems.append(f"draws must be at least 10 to summarise a posterior, got {value}")
            elif name in ("draws", "tune") and value > limits.MAX_DRAWS:
                problems.append(f"{name} must be at most {limits.MAX_DRAWS:,} per chain, got {value:,}")
            elif name == "chains" and value > limits.MAX_CHAINS:
                problems.append(f"chains must be at most {limits.MAX_CHAINS}, got {value}")
        if not _is_whole(self.seed) or self.seed < 0:
            problems.append(f"seed must be a non-negative whole number, got {self.seed!r}")
        accept = self.target_accept
        if accept is not None and (isinstance(accept, bool) or not isinstance(accept, (int, float))
                                   or not 0.5 <= accept < 1):
            problems.append(f"target_accept must be a number in [0.5, 1), got {accept!r}")
        if problems:
            raise SpecError("; ".join(problems))

    def target_accept_for(self, funnel: bool) -> float:
        """The target acceptance NUTS runs with: the one set, or the default for a model whose sampled
        parameters can form a funnel or not (the class docstring)."""
        if self.target_accept is not None:
            return float(self.target_accept)
        return FUNNEL_TARGET_ACCEPT if funnel else SMOOTH_TARGET_ACCEPT


FUNNEL_TARGET_ACCEPT = 0.99  # NUTS moves in group effects and their sd (SamplerSettings' docstring)
SMOOTH_TARGET_ACCEPT = 0.9  # no funnel in the sampled parameters


QUICK_SAMPLER = SamplerSettings()
CAREFUL_SAMPLER = SamplerSettings(draws=2000, tune=2000, chains=4, target_accept=0.995)


def describe_sampler(settings: SamplerSettings) -> str:
    """'4 chains × 1,000 draws after 1,000 tuning, target acceptance 0.995', for help texts and advice."""
    accept = (f"{settings.target_accept:g}" if settings.target_accept is not None else
              f"{FUNNEL_TARGET_ACCEPT:g} under partial pooling of sampled group effects, else {SMOOTH_TARGET_ACCEPT:g}")
    return (f"{settings.chains} chains × {settings.draws:,} draws after {settings.tune:,} tuning, "
            f"target acceptance {accept}")


@dataclass(frozen=True)
class GroupingFactor:
    """A grouping factor and the terms that vary over its groups: lme4's ``(varying | column)``.

    ``within`` nests it in another factor's column (lme4's ``(1 | within/column)``): its groups are the
    (within, column) pairs, so a label repeated under two parents names two groups. Its name is then lme4's
    ``column:within``, or ``column:(parent's name)`` when the parent is nested itself (``d:(c:p)`` for
    ``(1 | p/c/d)``; :class:`ModelSpec` fills ``within_name`` in). The first factor's groups carry the population
    means of the varying terms; the groups of every further factor are deviations around zero (otherwise the
    means would not be identified).
    """

    column: str
    varying: tuple[str, ...] = (INTERCEPT,)
    correlated: bool = False
    within: str | None = None
    # The name of a nested parent (``c:p``), set by ModelSpec from the factors before this one; derived, so it
    # takes no part in equality.
    within_name: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "varying", _as_tuple(self.varying))

    @property
    def name(self) -> str:
        """The factor's name in parameter names, coords and messages: the column, ``column:within``, or
        ``column:(parent's name)`` under a nested parent."""
        if self.within_name:
            return f"{self.column}:({self.within_name})"
        return f"{self.column}:{self.within}" if self.within else self.column


def _with_parent_names(factors: tuple[GroupingFactor, ...]) -> tuple[GroupingFactor, ...]:
    """Each factor nested in a nested factor before it with that parent's name (``GroupingFactor.within_name``)."""
    names: dict[str, str] = {}
    resolved = []
    for factor in factors:
        if isinstance(factor, GroupingFactor):
            parent = names.get(factor.within or "")
            factor = replace(factor, within_name=parent if parent and ":" in parent else None)
            names[factor.column] = factor.name
        resolved.append(factor)
    return tuple(resolved)


@dataclass(frozen=True)
class ModelSpec:
    """Which columns play which role, and how the groups share information.

    Lists and dicts given to the constructor are turned into tuples, so the spec stays hashable. ``correlated``
    and ``parameterization`` only concern partial pooling; ``group_noise`` concerns partial and no pooling.
    """

    outcome: str
    group: str
    predictors: tuple[str, ...] = ()
    pooling: Pooling = "partial"
    varying: tuple[str, ...] = (INTERCEPT,)
    correlated: bool = False
    parameterization: Parameterization = "noncentered"
    group_noise: bool = False
    family: Family = "gaussian"
    trials: str | None = None
    exposure: str | None = None
    se: str | None = None
    # (predictor, reference level) for each predictor to dummy-code; the others must be numeric.
    categorical: tuple[tuple[str, str], ...] = ()
    priors: tuple[tuple[str, Prior], ...] = ()
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    # Grouping factors besides ``group`` (crossed or nested), each with its own varying terms.
    factors: tuple[GroupingFactor, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "factors", _with_parent_names(tuple(self.factors)))
        object.__setattr__(self, "predictors", _as_tuple(self.predictors))
        object.__setattr__(self, "varying", _as_tuple(self.varying))
        object.__setattr__(self, "categorical", _as_pairs(self.categorical))
        object.__setattr__(self, "priors", _as_pairs(self.priors))
        object.__setattr__(
            self, "priors", tuple((n, p if isinstance(p, Prior) else Prior.parse(str(p))) for n, p in self.priors)
        )
        problems = self._problems()
        if problems:
            raise SpecError("; ".join(problems))

    # ------------------------------------------------------------------ validation
    def _problems(self) -> list[str]:
        problems: list[str] = []
        if self.pooling not in POOLINGS:
            problems.append(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.family not in FAMILIES:
            problems.append(f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if self.parameterization not in PARAMETERIZATIONS:
            problems.append(
                f"parameterization must be one of {', '.join(PARAMETERIZATIONS)}, got {self.parameterization!r}"
            )
        if not self.outcome:
            problems.append("choose an outcome column")
        if not self.group:
            problems.append("choose a group column")
        roles = {"outcome": self.outcome, "group": self.group, "trials": self.trials, "exposure": self.exposure,
                 "se": self.se}
        used = [c for c in roles.values() if c]
        if len(set(used)) != len(used):
            problems.append(
                "one column is given two roles ("
                + ", ".join(f"{role}={column}" for role, column in roles.items() if column)
                + "); each role needs its own column"
            )
        duplicates = sorted({p for p in self.predictors if self.predictors.count(p) > 1})
        if duplicates:
            problems.append(f"predictor(s) listed twice: {', '.join(duplicates)}")
        clashes = [p for p in self.predictors if p in used]
        if clashes:
            problems.append(f"{', '.join(clashes)} cannot be both a predictor and the outcome/group/trials column")
        if INTERCEPT in self.predictors:
            problems.append(f"{INTERCEPT!r} is reserved for the intercept; rename that column")
        # A predictor's name is also the name of its coefficient's prior, so it cannot be a scale's or corr's name.
        reserved = [p for p in self.predictors if parameter_support(p) != "location"]
        if reserved:
            problems.append(
                f"{', '.join(map(repr, reserved))} cannot be a predictor: sigma, alpha, corr and sd(...) name model "
                "parameters (and their priors); rename that column"
            )
        allowed_varying = (INTERCEPT, *self.predictors)
        unknown = [v for v in self.varying if v not in allowed_varying]
        if unknown:
            problems.append(
                f"varying term(s) {', '.join(unknown)} are not the intercept or a predictor; "
                f"choose from {', '.join(allowed_varying)}"
            )
        if len(set(self.varying)) != len(self.varying):
            problems.append("a varying term is listed twice")
        if self.pooling in ("none", "partial") and not self.varying:
            problems.append(
                f"{POOLING_LABELS.get(self.pooling, self.pooling)} needs at least one term that varies by group "
                "(for example the intercept); with nothing varying, use complete pooling"
            )
        if self.correlated and len(self.varying) < 2:
            problems.append("correlated varying effects need at least two varying terms (e.g. intercept and a slope)")
        # A categorical column is a predictor, or a part of an interaction (``x:g``) that is one.
        parts = {part for p in self.predictors for part in interaction_parts(p)}
        for predictor, _ in self.categorical:
            if predictor not in self.predictors and predictor not in parts:
                problems.append(f"categorical column {predictor!r} is not among the predictors")
        problems.extend(self._family_problems())
        problems.extend(self._factor_problems(used))
        problems.extend(self._prior_problems())
        return problems

    def _factor_problems(self, used: list[str]) -> list[str]:
        problems: list[str] = []
        if not self.factors:
            return problems
        allowed_varying = (INTERCEPT, *self.predictors)
        names = [f.name for f in self.all_factors]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"the grouping factor {name!r} is given twice; give each factor once")
        for factor in self.factors:
            if not isinstance(factor, GroupingFactor):
                problems.append(f"a grouping factor must be a GroupingFactor, got {factor!r}")
                continue
            if not factor.column:
                problems.append("a grouping factor needs a column")
            if factor.column in used and factor.column != self.group:
                problems.append(f"{factor.column!r} cannot be both a grouping factor and the outcome/trials/"
                                "exposure/se column")
            if factor.column in self.predictors:
                problems.append(f"{factor.column!r} cannot be both a grouping factor and a predictor")
            if factor.column == self.group and not factor.within:
                problems.append(f"{factor.column!r} is already the first grouping factor")
            unknown = [v for v in factor.varying if v not in allowed_varying]
            if unknown:
                problems.append(f"({' + '.join(factor.varying)} | {factor.name}): {', '.join(unknown)} is not "
                                f"the intercept or a predictor; choose from {', '.join(allowed_varying)}")
            if not factor.varying:
                problems.append(f"the grouping factor {factor.name!r} needs at least one term that varies over it")
            if factor.correlated and len(factor.varying) < 2:
                problems.append(f"correlated effects over {factor.name!r} need at least two varying terms")
            if factor.within is not None and factor.within not in (self.group, *(f.column for f in self.factors)):
                problems.append(f"{factor.name!r} is nested within {factor.within!r}, which is not a grouping factor")
        if self.family == "known_se":
            problems.append("the known_se family has one row per group, so it takes one grouping factor only")
        if self.group_noise:
            problems.append("group-specific residual noise needs a single grouping factor")
        return problems

    def _family_problems(self) -> list[str]:
        problems = []
        if self.trials and self.family != "binomial":
            problems.append("a trials column only makes sense with the binomial family")
        if self.exposure and self.family != "poisson":
            problems.append("an exposure column only makes sense with the poisson family")
        if self.se and self.family != "known_se":
            problems.append("a standard-error column only makes sense with the known_se family")
        if self.family == "known_se":
            if not self.se:
                problems.append("the known_se family needs a standard-error column (--se)")
            if tuple(self.varying) not in ((INTERCEPT,), ()):
                problems.append(
                    "with known_se there is one row per group, so only the intercept can vary by group"
                )
        if self.group_noise and self.family != "gaussian":
            problems.append("group-specific residual noise is available for the gaussian family only")
        return problems

    def _prior_problems(self) -> list[str]:
        problems = []
        names = [n for n, _ in self.priors]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"the prior for {name!r} is given twice")
        for name, prior in self.priors:
            kind = parameter_support(name)
            if kind == "scale" and prior.support != "positive":
                problems.append(
                    f"{name} is a scale and needs a prior on positive numbers "
                    f"(halfnormal, halfcauchy, exponential, ...), not {prior}"
                )
            elif kind == "location" and prior.support == "correlation":
                problems.append(f"{name} needs a prior on the real line (normal, studentt, ...), not {prior}")
            elif kind == "correlation" and prior.support != "correlation":
                problems.append(f"corr takes an lkj(eta) prior, not {prior}")
        return problems

    # ------------------------------------------------------------------ derived views
    @property
    def prior_overrides(self) -> dict[str, Prior]:
        return dict(self.priors)

    @property
    def categorical_levels(self) -> dict[str, str]:
        """Predictor -> reference level, for the predictors to dummy-code."""
        return dict(self.categorical)

    @property
    def varying_terms(self) -> tuple[str, ...]:
        """Terms whose coefficient varies by group under this spec's pooling (none under complete pooling)."""
        return () if self.pooling == "complete" else self.varying

    @property
    def all_factors(self) -> tuple[GroupingFactor, ...]:
        """Every grouping factor, ``group`` first (with the spec's own varying terms and correlation)."""
        return (GroupingFactor(self.group, self.varying, self.correlated), *self.factors)

    def factor_tag(self, factor: str) -> str | None:
        """The factor a group-level parameter name carries (``sd(x|plate)``): None with one grouping factor."""
        return factor if self.factors else None

    def with_pooling(self, pooling: Pooling) -> ModelSpec:
        """The same model under another pooling."""
        return replace(self, pooling=pooling)

    def required_columns(self) -> tuple[str, ...]:
        columns = [self.outcome, self.group, *self.predictors, self.trials, self.exposure, self.se,
                   *(f.column for f in self.factors)]
        return tuple(dict.fromkeys(c for c in columns if c))


def _as_tuple(value: Iterable[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _as_pairs(value: Mapping | Iterable | None) -> tuple:
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return tuple(value.items())
    return tuple(tuple(pair) for pair in value)
