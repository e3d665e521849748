"""Fake fits from numpy draws with known properties (no sampling), in the manner of ``arviz_base.testing``.

:func:`fake_data` builds a :class:`PreparedData` by hand, :func:`fake_fit` wraps draws (variable name -> array of
shape ``(chain, draw, *dims)``) into a :class:`FitResult` whose posterior has the dims and coords that
:mod:`hiermodels.model.build` gives the real one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import xarray as xr

from hiermodels.data.preparing import PreparedData
from hiermodels.model import build as m
from hiermodels.model.priors import resolve_priors
from hiermodels.model.spec import ModelSpec, SamplerSettings
from hiermodels.results.comparison import PoolingComparison
from hiermodels.results.fit_result import FitResult, Timing

SAMPLER = SamplerSettings(draws=1000, tune=10, chains=4, seed=1234)

# The dims of every variable a model can have (see hiermodels.model.build).
VAR_DIMS: dict[str, tuple[str, ...]] = {
    m.COMMON: (m.COMMON_DIM,),
    m.POPULATION_MEAN: (m.VARYING_DIM,),
    m.GROUP_SD: (m.VARYING_DIM,),
    m.GROUP_COEFFICIENT: (m.GROUP_DIM, m.VARYING_DIM),
    m.STANDARDISED: (m.GROUP_DIM, m.VARYING_DIM),
    m.CORRELATION: (m.VARYING_DIM, f"{m.VARYING_DIM}_2"),
    m.SIGMA: (),
    m.GROUP_SIGMA: (m.GROUP_DIM,),
    m.LOG_SIGMA_SD: (),
    m.GAMMA_SHAPE: (),
}


def var_dims(name: str) -> tuple[str, ...]:
    """The dims of model variable ``name``: :data:`VAR_DIMS`, or for further grouping factor k's variables
    (``b_f1``, ``tau_f1``...) the same dims with the factor's suffix (:func:`hiermodels.model.build.factor_name`)."""
    if name in VAR_DIMS:
        return VAR_DIMS[name]
    base, _, number = name.rpartition("_f")
    if base not in VAR_DIMS or not number.isdigit():
        raise KeyError(f"no variable {name!r} in a fake fit")
    return tuple(m.factor_name(d, int(number)) for d in VAR_DIMS[base])


def fake_data(
    sizes: Sequence[int] = (1, 2, 3, 5, 8, 13, 21, 40),
    *,
    slope: bool = False,
    se: bool = False,
    seed: int = 0,
) -> PreparedData:
    """Groups ``g0, g1, ...`` with the given sizes; a 0/1 predictor ``x`` when ``slope`` (the first group, of
    one row, then cannot identify its own slope)."""
    rng = np.random.default_rng(seed)
    group_index = np.repeat(np.arange(len(sizes)), sizes)
    n = group_index.size
    columns = [np.ones(n)]
    terms = ["intercept"]
    predictor_terms = {}
    if slope:
        columns.append((np.arange(n) % 2).astype(float))
        terms.append("x")
        predictor_terms["x"] = ("x",)
    return PreparedData(
        y=rng.normal(size=n),
        X=np.column_stack(columns),
        terms=tuple(terms),
        group_index=group_index,
        group_labels=tuple(f"g{j}" for j in range(len(sizes))),
        se=rng.uniform(5, 15, size=n) if se else None,
        predictor_terms=predictor_terms,
        rows_read=n,
    )


def fake_spec(pooling: str = "partial", *, slope: bool = False, correlated: bool = False, family: str = "gaussian",
              se: bool = False, sampler: SamplerSettings = SAMPLER) -> ModelSpec:
    return ModelSpec(
        outcome="y", group="g", predictors=("x",) if slope else (), pooling=pooling,
        varying=("intercept", "x") if slope else ("intercept",), correlated=correlated, family=family,
        se="se" if se else None, sampler=sampler,
    )


def fake_fit(
    spec: ModelSpec,
    data: PreparedData,
    draws: Mapping[str, np.ndarray],
    *,
    map_point: Mapping[str, np.ndarray] | None = None,
    diverging: np.ndarray | None = None,
) -> FitResult:
    """A FitResult whose posterior holds ``draws`` (each ``(chain, draw, *VAR_DIMS[name])``)."""
    common, varying = m.term_split(data, spec)
    coords = {
        m.GROUP_DIM: list(data.group_labels),
        m.COMMON_DIM: list(common),
        m.VARYING_DIM: list(varying),
        f"{m.VARYING_DIM}_2": list(varying),
    }
    for number, (factor, factor_data) in enumerate(zip(spec.factors, data.factors, strict=False), start=1):
        terms = list(data.terms_of(factor.varying))
        coords[m.factor_name(m.GROUP_DIM, number)] = list(factor_data.labels)
        coords[m.factor_name(m.VARYING_DIM, number)] = terms
        coords[m.factor_name(f"{m.VARYING_DIM}_2", number)] = terms
    first = np.asarray(next(iter(draws.values())))
    chains, n_draws = first.shape[:2]
    variables = {}
    used_dims: set[str] = set()
    for name, values in draws.items():
        dims = var_dims(name)
        used_dims.update(dims)
        variables[name] = (("chain", "draw", *dims), np.asarray(values, dtype=float))
    posterior = xr.Dataset(
        variables,
        coords={"chain": np.arange(chains), "draw": np.arange(n_draws), **{d: coords[d] for d in used_dims}},
    )
    if diverging is None:
        diverging = np.zeros((chains, n_draws), dtype=bool)
    stats = xr.Dataset({"diverging": (("chain", "draw"), diverging)},
                       coords={"chain": np.arange(chains), "draw": np.arange(n_draws)})
    tree = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})
    return FitResult(
        spec=replace(spec, sampler=replace(spec.sampler, chains=chains, draws=n_draws)),
        data=data,
        posterior=tree,
        map_point={k: np.asarray(v) for k, v in (map_point or {}).items()},
        priors=resolve_priors(data, spec),
        timing=Timing(),
        var_dims={**VAR_DIMS, **{name: var_dims(name) for name in draws}},
        coords=coords,
    )


def constant(value, chains: int = 4, n_draws: int = 1000) -> np.ndarray:
    """The same value at every draw: ``(chain, draw, *shape(value))``."""
    value = np.asarray(value, dtype=float)
    return np.broadcast_to(value, (chains, n_draws, *value.shape)).copy()


def comparison(data: PreparedData | None = None, *, slope: bool = False, correlated: bool = False,
               seed: int = 0) -> PoolingComparison:
    """All three poolings of a gaussian model, with draws that shrink small groups the most."""
    data = data or fake_data(slope=slope)
    rng = np.random.default_rng(seed)
    chains, n_draws = 2, 200
    n_groups = data.n_groups
    varying = ("intercept", "x") if slope else ("intercept",)
    k = len(varying)
    truth = rng.normal(0, 1, size=(n_groups, k)) + np.array([1.0, -0.5][:k])
    sizes = data.group_sizes[:, None]
    noise = rng.normal(0, 0.05, size=(chains, n_draws, n_groups, k))
    own = truth + 1.0 / np.sqrt(sizes) * np.array([1.5, -1.0][:k])
    mu = np.array([1.0, -0.5][:k])
    weight = sizes / (sizes + 4.0)
    partial = weight * own + (1 - weight) * mu
    results = {
        "complete": fake_fit(fake_spec("complete", slope=slope), data, {
            m.COMMON: constant(mu, chains, n_draws) + rng.normal(0, 0.02, (chains, n_draws, k)),
            m.SIGMA: constant(1.0, chains, n_draws),
        }),
        "none": fake_fit(fake_spec("none", slope=slope), data, {
            m.GROUP_COEFFICIENT: own + noise,
            m.SIGMA: constant(1.0, chains, n_draws),
        }),
    }
    partial_draws = {
        m.POPULATION_MEAN: constant(mu, chains, n_draws) + rng.normal(0, 0.02, (chains, n_draws, k)),
        m.GROUP_SD: constant(np.full(k, 0.6), chains, n_draws) * rng.lognormal(0, 0.3, (chains, n_draws, k)),
        m.GROUP_COEFFICIENT: partial + noise,
        m.SIGMA: constant(1.0, chains, n_draws),
    }
    if correlated:
        corr = np.array([[1.0, -0.4], [-0.4, 1.0]])
        partial_draws[m.CORRELATION] = constant(corr, chains, n_draws)
    results["partial"] = fake_fit(fake_spec("partial", slope=slope, correlated=correlated), data, partial_draws,
                                  map_point={m.POPULATION_MEAN: mu, m.GROUP_SD: np.full(k, 1e-7),
                                             m.GROUP_COEFFICIENT: np.broadcast_to(mu, (n_groups, k)).copy(),
                                             m.SIGMA: np.asarray(1.0)})
    return PoolingComparison(results)


def fake_fit_poolings(data: PreparedData, spec: ModelSpec, poolings: Sequence[str], *, progress=None,
                      cancel=None, compute_map: bool = True, compiled_cache=None,
                      queue=None) -> PoolingComparison:
    """A stand-in for :func:`hiermodels.inference.fitting.fit_poolings` with the same signature: no sampling, draws that
    have the right variables, dims and group labels for any data and spec, and progress reports as a real
    fit sends them (compiling, sampling, done)."""
    from hiermodels.inference.fitting import FitProgress
    from hiermodels.model.priors import data_for, specs_for_poolings

    rng = np.random.default_rng(spec.sampler.seed)
    chains, n_draws = 2, 100
    specs = specs_for_poolings(data, spec, poolings)  # as fit_poolings: no pooling may leave a predictor out
    full_data = data
    results = {}
    for index, pooling in enumerate(poolings):
        if progress is not None:
            for stage, done in (("compiling", 0), ("sampling", 50), ("sampling", 100), ("done", 1)):
                progress(FitProgress(pooling=pooling, stage=stage, draws_done=done, draws_total=100,
                                     sampling_s=0.1, fit_index=index, fit_count=len(poolings)))
        pooled = specs[pooling]
        data = data_for(full_data, pooled)
        common, varying = m.term_split(data, pooled)
        draws: dict[str, np.ndarray] = {}
        if common:
            draws[m.COMMON] = rng.normal(0.5, 0.05, (chains, n_draws, len(common)))
        if varying:
            draws[m.GROUP_COEFFICIENT] = rng.normal(0.0, 0.3, (chains, n_draws, data.n_groups, len(varying)))
        if pooling == "partial":
            draws[m.POPULATION_MEAN] = rng.normal(0.0, 0.05, (chains, n_draws, len(varying)))
            draws[m.GROUP_SD] = rng.lognormal(-1.0, 0.2, (chains, n_draws, len(varying)))
            if pooled.correlated:
                draws[m.CORRELATION] = constant(np.eye(len(varying)) * 0.7 + 0.3, chains, n_draws)
        for number, factor in enumerate(pooled.factors if pooling != "complete" else (), start=1):
            terms = data.terms_of(factor.varying)
            n_factor_groups = data.factors[number - 1].n_groups
            draws[m.factor_name(m.GROUP_COEFFICIENT, number)] = rng.normal(
                0.0, 0.3, (chains, n_draws, n_factor_groups, len(terms)))
            if pooling == "partial":
                draws[m.factor_name(m.GROUP_SD, number)] = rng.lognormal(-0.5, 0.2, (chains, n_draws, len(terms)))
                if factor.correlated:
                    draws[m.factor_name(m.CORRELATION, number)] = constant(np.eye(len(terms)) * 0.7 + 0.3, chains,
                                                                          n_draws)
        if spec.family == "gaussian":
            draws[m.SIGMA] = rng.lognormal(-0.3, 0.05, (chains, n_draws))
        if spec.family == "gamma":
            draws[m.GAMMA_SHAPE] = rng.lognormal(3.0, 0.1, (chains, n_draws))
        map_point = {name: values.mean(axis=(0, 1)) for name, values in draws.items()}
        results[pooling] = fake_fit(pooled, data, draws, map_point=map_point)
    return PoolingComparison(results)
