"""What a fit gives back: tidy DataFrames computed from the posterior, the MAP and the diagnostics.

The functions here *compute* (numbers in, DataFrames out); :mod:`hiermodels.charts` *draws* from those
DataFrames. Every parameter a user sees has a **name** (``intercept``, ``floor``, ``sd(intercept)``,
``corr(intercept,floor)``, ``sigma``...; built and read by :mod:`hiermodels.model.names`) and a **reference** into the
PyMC model (variable + coordinates); :func:`population_parameters` is the one place that maps one to the other.

Intervals are equal-tailed (``lower`` = the ``(1 - prob)/2`` quantile) at ``DEFAULT_INTERVAL_PROB``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from hiermodels.data.preparing import PreparedData
from hiermodels.model import build as m
from hiermodels.model import names
from hiermodels.model.spec import INTERCEPT, GroupingFactor, ModelSpec, Pooling, Prior
from hiermodels.results.diagnostics import Convergence, Diagnostics, assess, convergence
from hiermodels.results.scales import Scale, coefficient_transform

DEFAULT_INTERVAL_PROB = 0.95
# A MAP group scale below this fraction of its posterior mean sits at the boundary: the mode has collapsed.
COLLAPSE_RATIO = 0.01

MapKind = Literal["mode", "limit"]


@dataclass(frozen=True)
class ParameterRef:
    """A named scalar of the model: variable ``var`` at coordinates ``coords`` (dim -> label)."""

    name: str
    var: str
    coords: tuple[tuple[str, str], ...] = ()
    kind: str = "location"  # "location", "scale", "correlation"


def population_parameters(spec: ModelSpec, data: PreparedData) -> list[ParameterRef]:
    """The population-level parameters of ``spec`` fitted to ``data``, in display order."""
    common, varying = m.term_split(data, spec)
    refs: list[ParameterRef] = []
    for term in data.terms:
        if term in common:
            refs.append(ParameterRef(term, m.COMMON, ((m.COMMON_DIM, term),)))
        elif spec.pooling == "partial":
            refs.append(ParameterRef(term, m.POPULATION_MEAN, ((m.VARYING_DIM, term),)))
    if spec.pooling == "partial":
        for number, factor in enumerate(spec.all_factors):
            refs += _group_level_refs(spec, factor, number, varying if number == 0 else data.terms_of(factor.varying))
    if spec.family == "gaussian" and not (spec.group_noise and spec.pooling == "none"):
        refs.append(ParameterRef(names.SIGMA, m.SIGMA, (), "scale"))
        if spec.group_noise and spec.pooling == "partial":
            refs.append(ParameterRef(names.LOG_SIGMA_SD, m.LOG_SIGMA_SD, (), "scale"))
    if spec.family == "gamma":
        refs.append(ParameterRef(names.GAMMA_SHAPE, m.GAMMA_SHAPE, (), "scale"))
    return refs


def _group_level_refs(spec: ModelSpec, factor: GroupingFactor, number: int,
                      varying: tuple[str, ...]) -> list[ParameterRef]:
    """sd(term) and corr(a,b) of grouping factor ``number`` (0: the first; ``m.factor_name`` numbers the rest)."""
    tag = spec.factor_tag(factor.name)

    def named(name: str) -> str:
        return m.factor_name(name, number) if number else name

    term_dim, second_dim = named(m.VARYING_DIM), named(f"{m.VARYING_DIM}_2")
    refs = [ParameterRef(names.group_sd(t, tag), named(m.GROUP_SD), ((term_dim, t),), "scale") for t in varying]
    if factor.correlated:
        refs += [ParameterRef(names.correlation(a, b, tag), named(m.CORRELATION), ((term_dim, a), (second_dim, b)),
                              "correlation")
                 for a, b in itertools.combinations(varying, 2)]
    return refs


def factor_coefficient_names(spec: ModelSpec) -> list[str]:
    """The model variables holding the group effects of every grouping factor: ``b``, then ``b_f1``, ..."""
    further = spec.factors if spec.pooling != "complete" else ()
    return [m.GROUP_COEFFICIENT, *(m.factor_name(m.GROUP_COEFFICIENT, k) for k in range(1, len(further) + 1))]


def draws_of(posterior: xr.Dataset, ref: ParameterRef) -> np.ndarray:
    """All draws of one scalar, shape (chain, draw)."""
    return posterior[ref.var].sel(dict(ref.coords)).to_numpy()


def value_at(point: Mapping[str, np.ndarray], model_coords: Mapping[str, list], ref: ParameterRef,
             dims: tuple[str, ...]) -> float:
    """The value of one scalar in a point dict (the MAP), located by the variable's dims and coords."""
    array = np.asarray(point[ref.var])
    index = tuple(list(model_coords[d]).index(dict(ref.coords)[d]) for d in dims)
    return float(array[index]) if index else float(array)


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of each stage of a fit."""

    compile_s: float = 0.0
    sample_s: float = 0.0
    map_s: float = 0.0
    wait_s: float = 0.0  # waiting for a slot of a FitQueue
    total_s: float = 0.0


@dataclass(frozen=True, eq=False)
class FitResult:
    """One pooling mode fitted to one data set.

    ``posterior`` is the sampler's ``xarray.DataTree`` (groups ``posterior``, ``sample_stats``...);
    ``map_point`` the joint mode found by ``pm.find_MAP`` (variable name -> value).
    """

    spec: ModelSpec
    data: PreparedData
    posterior: xr.DataTree
    map_point: dict[str, np.ndarray]
    priors: dict[str, Prior]
    timing: Timing
    map_message: str = ""
    # "mode": the optimiser's joint mode; "limit": a group scale collapsed, so the mode does not exist and
    # map_point is its limit as that scale goes to 0 (fitting.limit_mode).
    map_kind: MapKind = "mode"
    var_dims: dict[str, tuple[str, ...]] = field(default_factory=dict)
    coords: dict[str, list] = field(default_factory=dict)
    # The target acceptance NUTS ran with (the fit plan's choice where the spec left it open); None: the spec's.
    target_accept: float | None = None

    @property
    def pooling(self) -> Pooling:
        return self.spec.pooling

    @property
    def draws(self) -> xr.Dataset:
        return self.posterior["posterior"].to_dataset()

    # ------------------------------------------------------------------ tidy tables
    def population(self, prob: float = DEFAULT_INTERVAL_PROB, scale: Scale = "link") -> pd.DataFrame:
        """One row per population-level parameter: name, kind, mean, sd, lower, upper, map, r_hat, ess_bulk,
        ess_tail, shown_as.

        With ``scale="natural"`` the coefficients (``intercept``, slopes) are summarised on the outcome's scale,
        draw by draw (:mod:`hiermodels.results.scales`); ``shown_as`` names what a row's numbers are ("probability",
        "odds ratio"...; empty where nothing was transformed). R-hat and ESS are those of the model's own
        parameter (a monotone transform leaves rank-based R-hat and ESS unchanged).
        """
        rows = []
        posterior = self.draws
        for i, ref in enumerate(population_parameters(self.spec, self.data)):
            samples = draws_of(posterior, ref)
            transform = (coefficient_transform(self.spec.family, ref.name, scale) if ref.kind == "location"
                         else coefficient_transform(self.spec.family, ref.name, "link"))
            rows.append({
                "name": ref.name,
                "kind": ref.kind,
                **_summary(transform.apply(samples), prob),
                "map": float(transform.apply(np.asarray(self._map_value(ref)))),
                **self.convergence.row(i),  # population parameters come first
                "shown_as": transform.label,
            })
        return pd.DataFrame(rows, columns=["name", "kind", "mean", "sd", "lower", "upper", "map", "r_hat",
                                           "ess_bulk", "ess_tail", "shown_as"])

    @property
    def factor_names(self) -> tuple[str, ...]:
        """Every grouping factor's name, the first (``spec.group``) first."""
        return tuple(f.name for f in self.spec.all_factors)

    def groups(self, prob: float = DEFAULT_INTERVAL_PROB, scale: Scale = "link",
               factor: str | None = None) -> pd.DataFrame:
        """One row per (group, term): each group's own coefficient, like lme4's ``coef()``.

        ``factor`` picks a grouping factor other than the first (``spec.group``): see :meth:`factor_groups`.

        Columns: pooling, group, term, n, varies, mean, sd, lower, upper, map, identified. ``identified`` is
        False where the group's own data cannot determine a no-pooling coefficient (e.g. a slope from one
        observation, or a predictor constant within the group): its estimate there comes from the prior.
        With ``scale="natural"`` each draw is transformed to the outcome's scale before it is summarised
        (:mod:`hiermodels.results.scales`).

        Computed once per (prob, scale, factor) and handed out as a copy: the shrinkage table, the JSON and the
        pages ask for the same table (on 4,000 draws of 1,000 groups each asking costs about 0.1 s).
        """
        key = (prob, scale, factor or self.spec.group)
        if key not in self._group_tables:
            self._group_tables[key] = (self._first_factor_groups(prob, scale) if key[2] == self.spec.group
                                       else self.factor_groups(key[2], prob, scale))
        return self._group_tables[key].copy()

    @cached_property
    def _group_tables(self) -> dict[tuple, pd.DataFrame]:
        return {}

    def _first_factor_groups(self, prob: float, scale: Scale) -> pd.DataFrame:
        posterior = self.draws
        common, varying = m.term_split(self.data, self.spec)
        identified = identified_matrix(self.data, varying)
        labels = np.asarray(self.data.group_labels, dtype=object)
        n_groups = len(labels)
        frames = []
        # One summary per term over every group at once (vectorised: 1,000 groups cost no more than 10).
        for position, term in enumerate(self.data.terms):
            if term in varying:
                k = varying.index(term)
                samples = (posterior[m.GROUP_COEFFICIENT].sel({m.VARYING_DIM: term})
                           .transpose("chain", "draw", m.GROUP_DIM).to_numpy().reshape(-1, n_groups))
                mode = (np.asarray(self.map_point[m.GROUP_COEFFICIENT])[:, k]
                        if m.GROUP_COEFFICIENT in self.map_point else np.full(n_groups, np.nan))
                known = identified[:, k]
            else:
                samples = posterior[m.COMMON].sel({m.COMMON_DIM: term}).to_numpy().reshape(-1, 1)
                mode = np.full(n_groups, float(np.asarray(self.map_point[m.COMMON])[common.index(term)])
                               if m.COMMON in self.map_point else np.nan)
                known = np.ones(n_groups, dtype=bool)
            transform = coefficient_transform(self.spec.family, term, scale)
            summary = {key: np.broadcast_to(value, (n_groups,))
                       for key, value in _summaries(transform.apply(samples), prob).items()}
            frames.append(pd.DataFrame({
                "pooling": self.pooling, "group": labels, "term": term, "n": self.data.group_sizes,
                "varies": term in varying, **summary, "map": transform.apply(mode), "identified": known,
                "_order": np.arange(n_groups) * len(self.data.terms) + position,
            }))
        table = pd.concat(frames, ignore_index=True).sort_values("_order", kind="stable")
        return table.drop(columns="_order").reset_index(drop=True)

    def factor_groups(self, factor: str, prob: float = DEFAULT_INTERVAL_PROB,
                      scale: Scale = "link") -> pd.DataFrame:
        """:meth:`groups` for a further grouping factor: its groups' coefficients of the terms that vary over it,
        as lme4's ``coef()`` gives them: the population value of the term plus the group's deviation u (module
        :mod:`hiermodels.model.build`), draw by draw. The population value is the term's population mean (partial
        pooling), its common coefficient, or, where the term varies by the first factor under no pooling, the
        average of the first factor's group coefficients. Complete pooling has no group effects: every group gets
        the common value. Same columns as :meth:`groups`; the MAP is the same sum at the joint mode (or its limit,
        :func:`hiermodels.inference.mode.pin_collapsed_scales`), NaN where the mode has no value for it."""
        number = self.factor_names.index(factor)  # ValueError for an unknown factor
        if number == 0:
            return self.groups(prob, scale)
        spec, data = self.spec, self.data
        factor_data = data.factors[number - 1]
        terms = data.terms_of(spec.factors[number - 1].varying)
        posterior = self.draws
        common, varying = m.term_split(data, spec)
        effect_name = m.factor_name(m.GROUP_COEFFICIENT, number)
        point = self.map_point
        sizes = np.bincount(factor_data.index, minlength=factor_data.n_groups)
        n_groups = factor_data.n_groups

        def drawn(name: str) -> np.ndarray | None:
            """The draws of ``name``, one row per draw (chains stacked)."""
            return posterior[name].to_numpy().reshape(-1, *posterior[name].shape[2:]) if name in posterior else None

        def at_mode(name: str) -> np.ndarray | None:
            """The joint mode's value of ``name`` as a single "draw"."""
            return np.asarray(point[name], dtype=float)[None] if name in point else None

        def population_value(values: Callable[[str], np.ndarray | None], term: str) -> np.ndarray:
            """Per draw (S, 1): the term's common coefficient, its population mean (partial pooling), or the
            average of the first factor's group coefficients (no pooling); NaN where ``values`` has none."""
            if term in common:
                name, pick = m.COMMON, (lambda v: v[:, common.index(term)])
            elif spec.pooling == "partial":
                name, pick = m.POPULATION_MEAN, (lambda v: v[:, varying.index(term)])
            else:
                name, pick = m.GROUP_COEFFICIENT, (lambda v: v[:, :data.n_groups, varying.index(term)].mean(axis=1))
            found = values(name)
            return pick(found)[:, None] if found is not None else np.full((1, 1), np.nan)

        frames = []
        for position, term in enumerate(terms):
            # Draw by draw, and at the joint mode: the term's population value plus the group's deviation.
            samples = population_value(drawn, term)
            effects = drawn(effect_name)
            if effects is not None:
                samples = samples + effects[:, :n_groups, position]
            mode = population_value(at_mode, term)[0]
            mode_effects = at_mode(effect_name)
            if mode_effects is not None:
                mode = mode + mode_effects[0, :n_groups, position]
            elif effects is not None:  # the effects vary, but the mode has no value for them
                mode = np.full(n_groups, np.nan)
            mode = np.broadcast_to(mode, (n_groups,))
            transform = coefficient_transform(spec.family, term, scale)
            summary = {key: np.broadcast_to(value, (n_groups,))
                       for key, value in _summaries(transform.apply(samples), prob).items()}
            frames.append(pd.DataFrame({
                "pooling": self.pooling, "group": np.asarray(factor_data.labels, dtype=object), "term": term,
                "n": sizes, "varies": effect_name in posterior, **summary,
                "map": transform.apply(mode), "identified": np.ones(n_groups, dtype=bool),
                "_order": np.arange(n_groups) * len(terms) + position,
            }))
        table = pd.concat(frames, ignore_index=True).sort_values("_order", kind="stable")
        return table.drop(columns="_order").reset_index(drop=True)

    def all_groups(self, prob: float = DEFAULT_INTERVAL_PROB, scale: Scale = "link") -> pd.DataFrame:
        """:meth:`groups` of every grouping factor, one table with a ``factor`` column (first factor first)."""
        return pd.concat([self.groups(prob, scale, factor).assign(factor=factor) for factor in self.factor_names],
                         ignore_index=True)

    @cached_property
    def convergence(self) -> Convergence:
        """R-hat and bulk/tail ESS of every population parameter (in :func:`population_parameters` order), then
        of every group coefficient (a sticky group effect shows in its R-hat first), all at once
        (:func:`hiermodels.results.diagnostics.convergence`), computed on first use and kept with the result."""
        posterior = self.draws
        chains, n_draws = posterior.sizes["chain"], posterior.sizes["draw"]
        columns = [draws_of(posterior, ref).reshape(chains, n_draws, 1)
                   for ref in population_parameters(self.spec, self.data)]
        for name in factor_coefficient_names(self.spec):
            if name in posterior:
                b = posterior[name].transpose("chain", "draw", ...)
                columns.append(b.to_numpy().reshape(chains, n_draws, -1))
        return convergence(np.concatenate(columns, axis=-1) if columns else np.empty((chains, n_draws, 0)))

    def diagnostics(self) -> Diagnostics:
        """R-hat, ESS and divergences, with plain-language advice (:mod:`hiermodels.results.diagnostics` thresholds);
        computed once per result (the CLI and the pages ask again)."""
        return self._diagnostics

    @cached_property
    def _diagnostics(self) -> Diagnostics:
        posterior = self.draws
        stats = self.posterior["sample_stats"].to_dataset()
        divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
        return assess(self.spec, self.convergence, divergences, chains=posterior.sizes["chain"],
                      draws=posterior.sizes["draw"], target_accept=self.target_accept)

    def map_collapsed(self) -> dict[str, bool]:
        """For each group scale sd(term) (partial pooling): did the joint mode collapse it to ~0?"""
        table = self.population()
        scales = table[table["name"].map(names.is_group_sd).astype(bool)]
        return {
            row.name: bool(row.map < COLLAPSE_RATIO * row.mean)
            for row in scales.itertuples(index=False)
        }

    def _map_value(self, ref: ParameterRef) -> float:
        if ref.var not in self.map_point:
            return float("nan")
        return value_at(self.map_point, self.coords, ref, self.var_dims.get(ref.var, ()))

    def netcdf_bytes(self) -> bytes:
        """The whole posterior DataTree as a NetCDF-4 file (open with ``xarray.open_datatree``)."""
        return bytes(self.posterior.to_netcdf(engine="h5netcdf"))

    def to_json_dict(self, prob: float = DEFAULT_INTERVAL_PROB) -> dict[str, Any]:
        population = self.population(prob).set_index("name")
        diagnostics = self.diagnostics()
        return {
            "population": {
                name: {k: _json_number(row[k]) for k in ("mean", "sd", "lower", "upper", "map", "r_hat",
                                                         "ess_bulk")}
                for name, row in population.iterrows()
            },
            # With several grouping factors each record names its factor.
            "groups": json.loads((self.all_groups(prob) if self.spec.factors else self.groups(prob))
                                 .to_json(orient="records")),
            "diagnostics": {**asdict(diagnostics), "map_collapsed": self.map_collapsed(),
                            "map_message": self.map_message},
            "timing": asdict(self.timing),
            "priors": {name: str(prior) for name, prior in self.priors.items()},
            "data": {"rows_used": self.data.n_rows, "rows_read": self.data.rows_read,
                     "rows_dropped": self.data.dropped, "groups": self.data.n_groups,
                     **({"factor_groups": {f.name: f.n_groups for f in self.data.factors}} if self.data.factors
                        else {})},
        }


def identified_matrix(data: PreparedData, varying: tuple[str, ...]) -> np.ndarray:
    """(J, q) booleans: whether group j's own rows determine its no-pooling coefficient for varying term k.

    A group's varying coefficients are determined by its rows when the group's columns of those terms are
    linearly independent, i.e. when the q × q Gram matrix :math:`Z_j^TZ_j` has full rank. When it does not, a
    term is flagged when the other terms alone reach the same rank (its column lies in their span: a slope from
    a single row, a predictor constant within the group); the intercept is excused when a slope is to blame.
    The Gram matrices come from one pass over the rows, so this costs O(N q^2), not O(N J).
    """
    q = len(varying)
    if q == 0:
        return np.ones((data.n_groups, 0), dtype=bool)
    columns = [data.terms.index(t) for t in varying]
    gram = np.zeros((data.n_groups, q, q))
    for a, ca in enumerate(columns):
        for b, cb in enumerate(columns[a:], start=a):
            gram[:, a, b] = gram[:, b, a] = np.bincount(
                data.group_index, weights=data.X[:, ca] * data.X[:, cb], minlength=data.n_groups)
    full_rank = _rank(gram) == q
    out = np.ones((data.n_groups, q), dtype=bool)
    for j in np.flatnonzero(~full_rank):
        rank = _rank(gram[j][None])[0]
        if rank == 0:
            out[j] = False
            continue
        # A term is redundant when the others alone reach the same rank: its column lies in their span.
        redundant = [_rank(np.delete(np.delete(gram[j], k, 0), k, 1)[None])[0] == rank for k in range(q)]
        for k, term in enumerate(varying):
            # With one row, intercept and slope are both redundant; the slope is the one the data cannot give.
            excused = term == INTERCEPT and any(redundant[o] for o in range(q) if o != k)
            out[j, k] = not redundant[k] or excused
    return out


def _rank(gram: np.ndarray) -> np.ndarray:
    """Ranks of a stack of symmetric positive semi-definite matrices (eigenvalues above a relative tolerance)."""
    if gram.shape[-1] == 0:
        return np.zeros(gram.shape[0], dtype=int)
    eigenvalues = np.linalg.eigvalsh(gram)
    tolerance = 1e-10 * np.maximum(eigenvalues.max(axis=-1, keepdims=True), 1e-300)
    return (eigenvalues > tolerance).sum(axis=-1)


def _summaries(samples: np.ndarray, prob: float) -> dict[str, np.ndarray]:
    """Mean, sd and equal-tailed interval of each column of ``samples`` (draws along axis 0)."""
    tail = (1 - prob) / 2
    lower, upper = np.quantile(samples, [tail, 1 - tail], axis=0)
    return {"mean": samples.mean(axis=0), "sd": samples.std(axis=0, ddof=1), "lower": lower, "upper": upper}


def _summary(samples: np.ndarray, prob: float) -> dict[str, float]:
    """Mean, sd and equal-tailed interval of one scalar's draws (any shape)."""
    return {key: float(value[0]) for key, value in _summaries(samples.reshape(-1, 1), prob).items()}


def _json_number(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)

