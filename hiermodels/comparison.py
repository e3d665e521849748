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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hiermodels.results import DEFAULT_INTERVAL_PROB, FitResult
from hiermodels.spec import POOLINGS, Pooling

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

    def groups(self, prob: float = DEFAULT_INTERVAL_PROB) -> pd.DataFrame:
        return pd.concat([self.results[p].groups(prob) for p in self.poolings], ignore_index=True)

    def population(self, prob: float = DEFAULT_INTERVAL_PROB) -> pd.DataFrame:
        tables = [self.results[p].population(prob).assign(pooling=p) for p in self.poolings]
        table = pd.concat(tables, ignore_index=True)
        return table[["pooling", *[c for c in table.columns if c != "pooling"]]]

    def shrinkage(self, prob: float = DEFAULT_INTERVAL_PROB) -> pd.DataFrame:
        """One row per (group, varying term): the estimate under each pooling, and the pooling factor.

        Columns: group, term, n, identified, and for each fitted pooling ``<pooling>`` (posterior mean),
        ``<pooling>_lower``, ``<pooling>_upper``; then ``population_mean`` and ``pooling_factor`` when no
        and partial pooling are both fitted.
        ``identified`` is False where the group's own data cannot determine its no-pooling coefficient.
        """
        any_result = next(iter(self.results.values()))
        varying = any_result.data.terms_of(any_result.spec.varying)
        table: pd.DataFrame | None = None
        for pooling in self.poolings:
            groups = self.results[pooling].groups(prob)
            groups = groups[groups["term"].isin(varying)]
            renamed = groups[["group", "term", "n", "mean", "lower", "upper"]].rename(
                columns={"mean": pooling, "lower": f"{pooling}_lower", "upper": f"{pooling}_upper"}
            )
            if pooling == "none":
                renamed["identified"] = groups["identified"].to_numpy()
            table = renamed if table is None else table.merge(renamed, on=["group", "term", "n"])
        assert table is not None
        if "identified" not in table:
            table["identified"] = True
        if "none" in self.results and "partial" in self.results:
            population = self.results["partial"].population(prob).set_index("name")["mean"]
            table["population_mean"] = table["term"].map(population)
            denominator = table["none"] - table["population_mean"]
            spread = (table["partial_upper"] - table["partial_lower"]).abs()
            usable = (denominator.abs() > _MIN_DISTANCE_FRACTION * spread) & table["identified"]
            table["pooling_factor"] = np.where(usable, (table["none"] - table["partial"]) / denominator, np.nan)
        return table

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
