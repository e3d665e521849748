r"""The same model under several poolings, side by side: the shrinkage table.

For group j and varying term k, with :math:`\hat b^{\text{none}}_{jk}` and :math:`\hat b^{\text{partial}}_{jk}` the
posterior means of the group's coefficient under no and partial pooling and :math:`\hat\mu_k` the partial-pooling
population mean (``population_mean``), the **pooling factor** is

.. math::  \lambda_{jk} = \frac{\hat b^{\text{none}}_{jk} - \hat b^{\text{partial}}_{jk}}
                              {\hat b^{\text{none}}_{jk} - \hat\mu_k}

the share of the way the group's estimate has moved from its own data toward the population: 0 = no shrinkage,
1 = all the way. In the gaussian varying-intercept model it estimates :math:`\sigma_y^2 / (\sigma_y^2 + n_j
\tau^2)` (Gelman & Hill 2007, section 12.2), so it falls as the group size :math:`n_j` grows. It is left empty
where the group's own estimate lies within a tenth of an interval width of the population mean (the ratio is
then noise) and where the group's data cannot identify its own coefficient. The complete-pooling estimate is
reported beside them.

With a **group-level predictor** u (radon's county uranium) no pooling leaves u out
(``priors.dropped_under_no_pooling``): its intercept :math:`\hat b^{\text{none}}_j` is the group's whole level.
So that like is compared with like, the intercept of the other poolings is then their level too, draw by draw
(:func:`hiermodels.results.group_level.level_draws`: the intercept plus :math:`\gamma u_j`), and the population
mean of the intercept is each group's **predicted** level :math:`\hat\gamma_0 + \hat\gamma u_j`; the pooling
factor measures the way moved toward it (Gelman & Hill 2007, section 12.6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from hiermodels.data.preparing import PreparedData
from hiermodels.model.spec import INTERCEPT, POOLINGS, ModelSpec, Pooling
from hiermodels.results.fit_result import DEFAULT_INTERVAL_PROB, FitResult, _summaries
from hiermodels.results.group_level import level_draws, predicted_draws
from hiermodels.results.scales import Scale, coefficient_transform, has_link

# Within this fraction of the partial-pooling interval width of the population mean, a group's own estimate
# counts as equal to it: the pooling factor's denominator is then smaller than the estimates' uncertainty.
_MIN_DISTANCE_FRACTION = 0.1


@dataclass(frozen=True, eq=False)
class PoolingComparison:
    """Fits of one model under several poolings, keyed by pooling."""

    results: Mapping[Pooling, FitResult]

    @property
    def poolings(self) -> tuple[Pooling, ...]:
        return tuple(p for p in POOLINGS if p in self.results)

    def __getitem__(self, pooling: Pooling) -> FitResult:
        return self.results[pooling]

    def groups(self, prob: float = DEFAULT_INTERVAL_PROB, scale: Scale = "link") -> pd.DataFrame:
        return pd.concat([self.results[p].groups(prob, scale) for p in self.poolings], ignore_index=True)

    def population(self, prob: float = DEFAULT_INTERVAL_PROB, scale: Scale = "link") -> pd.DataFrame:
        tables = [self.results[p].population(prob, scale).assign(pooling=p) for p in self.poolings]
        table = pd.concat(tables, ignore_index=True)
        return table[["pooling", *[c for c in table.columns if c != "pooling"]]]

    def shrinkage(self, prob: float = DEFAULT_INTERVAL_PROB, scale: Scale = "link",
                  factor: str | None = None) -> pd.DataFrame:
        """One row per (group, varying term): the estimate under each pooling, and the pooling factor.

        ``factor`` picks a grouping factor other than the first (``FitResult.factor_names``): its groups'
        coefficients are the term's population value plus the group's deviation (``FitResult.factor_groups``), so
        the population mean is the term's, as for the first factor. The group-level-predictor adjustment and
        ``raw`` concern the first factor only.

        Columns: group, term, n, identified, and for each fitted pooling ``<pooling>`` (posterior mean),
        ``<pooling>_lower``, ``<pooling>_upper``; then ``population_mean`` and ``pooling_factor`` when no
        and partial pooling are both fitted; ``raw`` when the model has an intercept only (the group's own data
        summary, :func:`raw_estimates`); ``shown_as`` (what the numbers are on ``scale``,
        :mod:`hiermodels.results.scales`).
        ``identified`` is False where the group's own data cannot determine its no-pooling coefficient.
        The estimates are on ``scale``; the pooling factor is always computed on the link scale, where the model
        is linear (the module docstring).
        """
        any_result = next(iter(self.results.values()))
        first = factor is None or factor == any_result.spec.group
        table = self._estimates(prob, scale, factor)
        if "none" in self.results and "partial" in self.results:
            link = table if scale == "link" else self._estimates(prob, "link", factor)
            partial = self.results["partial"]
            link_mean = partial.population(prob).set_index("name")["mean"]
            shown_mean = link_mean if scale == "link" else partial.population(prob, scale).set_index("name")["mean"]
            table["population_mean"] = table["term"].map(shown_mean)
            population_link = link["term"].map(link_mean).to_numpy(dtype=float, copy=True)
            dropped = self.dropped_under_no_pooling() if first else ()
            if dropped:  # the intercept's population mean is each group's predicted level
                intercept = (table["term"] == INTERCEPT).to_numpy()
                groups = table.loc[intercept, "group"]
                predicted = predicted_draws(partial, dropped)
                table.loc[intercept, "population_mean"] = groups.map(
                    self._summarised(predicted, prob, scale)["mean"]).to_numpy()
                population_link[intercept] = groups.map(self._summarised(predicted, prob, "link")["mean"]).to_numpy()
            denominator = link["none"] - population_link
            spread = (link["partial_upper"] - link["partial_lower"]).abs()
            usable = (denominator.abs() > _MIN_DISTANCE_FRACTION * spread) & link["identified"]
            table["pooling_factor"] = np.where(usable, (link["none"] - link["partial"]) / denominator, np.nan)
        raw = raw_estimates(any_result.data, any_result.spec, scale) if first else None
        if raw is not None:
            table["raw"] = table["group"].map(raw).where(table["term"] == INTERCEPT)
        family = any_result.spec.family
        table["shown_as"] = table["term"].map(lambda term: coefficient_transform(family, term, scale).label)
        return table

    def _estimates(self, prob: float, scale: Scale, factor: str | None = None) -> pd.DataFrame:
        any_result = next(iter(self.results.values()))
        first = factor is None or factor == any_result.spec.group
        number = 0 if first else any_result.factor_names.index(factor)
        varying = any_result.data.terms_of(any_result.spec.all_factors[number].varying)
        table: pd.DataFrame | None = None
        dropped = self.dropped_under_no_pooling() if first else ()
        for pooling in self.poolings:
            groups = self.results[pooling].groups(prob, scale, factor)
            groups = groups[groups["term"].isin(varying)].copy()
            if dropped and pooling != "none":  # the group's level, as no pooling's intercept is
                levels = self._summarised(level_draws(self.results[pooling], dropped), prob, scale)
                intercept = groups["term"] == INTERCEPT
                for column in ("mean", "lower", "upper"):
                    groups.loc[intercept, column] = groups.loc[intercept, "group"].map(levels[column]).to_numpy()
            renamed = groups[["group", "term", "n", "mean", "lower", "upper"]].rename(
                columns={"mean": pooling, "lower": f"{pooling}_lower", "upper": f"{pooling}_upper"}
            )
            if pooling == "none":
                renamed["identified"] = groups["identified"].to_numpy()
            table = renamed if table is None else table.merge(renamed, on=["group", "term", "n"])
        assert table is not None
        if "identified" not in table:
            table["identified"] = True
        return table.reset_index(drop=True)

    def dropped_under_no_pooling(self) -> tuple[str, ...]:
        """The group-level predictors that the no-pooling fit left out and the other fits have
        (``priors.dropped_under_no_pooling``); empty without a no-pooling fit."""
        if "none" not in self.results:
            return ()
        kept = set(self.results["none"].spec.predictors)
        other = next((self.results[p] for p in self.poolings if p != "none"), None)
        return tuple(p for p in other.spec.predictors if p not in kept) if other is not None else ()

    def _summarised(self, draws: np.ndarray, prob: float, scale: Scale) -> pd.DataFrame:
        """Summaries of (draws, groups) link-scale draws of the intercept on ``scale``, indexed by group."""
        any_result = next(iter(self.results.values()))
        transform = coefficient_transform(any_result.spec.family, INTERCEPT, scale)
        return pd.DataFrame(_summaries(transform.apply(draws), prob), index=list(any_result.data.group_labels))

    def to_json_dict(self, prob: float = DEFAULT_INTERVAL_PROB) -> dict[str, Any]:
        parts = {p: self.results[p].to_json_dict(prob) for p in self.poolings}
        return {
            "population": {p: parts[p]["population"] for p in self.poolings},
            "groups": [record for p in self.poolings for record in parts[p]["groups"]],
            "shrinkage": self.shrinkage(prob).replace({np.nan: None}).to_dict(orient="records"),
            "diagnostics": {p: parts[p]["diagnostics"] for p in self.poolings},
            "timing": {p: parts[p]["timing"] for p in self.poolings},
            "priors": {p: parts[p]["priors"] for p in self.poolings},
            "data": parts[self.poolings[0]]["data"],
        }


def raw_estimates(data: PreparedData, spec: ModelSpec, scale: Scale = "natural") -> pd.Series | None:
    """Each group's own data summary, the estimate a person computes by hand, for a model with an intercept only
    (None otherwise): the proportion of successes (binomial: successes / trials, or the share of 1s), the rate
    (poisson: counts / exposure, or the mean count), the mean (gaussian, gamma), or the precision-weighted mean of
    the estimates (known-SE: the estimate itself when a group has one). This is the no-pooling estimate without a
    prior (the maximum-likelihood estimate). On the link scale it goes through the link (a proportion of 0 or 1
    has none: NaN). Indexed by group label.
    """
    if data.terms != (INTERCEPT,):
        return None
    n_groups = data.n_groups

    def group_sum(values: np.ndarray) -> np.ndarray:
        return np.bincount(data.group_index, weights=values, minlength=n_groups)

    if spec.family == "binomial":
        trials = data.trials if data.trials is not None else np.ones_like(data.y)
        value = group_sum(data.y) / group_sum(trials)
    elif spec.family == "poisson":
        exposure = data.exposure if data.exposure is not None else np.ones_like(data.y)
        value = group_sum(data.y) / group_sum(exposure)
    elif spec.family == "known_se":
        assert data.se is not None
        weight = 1.0 / data.se**2
        value = group_sum(data.y * weight) / group_sum(weight)
    else:
        value = group_sum(data.y) / data.group_sizes
    if scale == "link" and has_link(spec.family):
        with np.errstate(divide="ignore", invalid="ignore"):
            value = special.logit(value) if spec.family == "binomial" else np.log(value)
        value = np.where(np.isfinite(value), value, np.nan)
    return pd.Series(value, index=list(data.group_labels), name="raw")
