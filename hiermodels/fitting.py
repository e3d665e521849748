"""Fitting: NUTS through nutpie, the joint mode by L-BFGS-B (as ``pm.find_MAP``), with progress and cancellation.

:func:`fit` fits one pooling mode; :func:`fit_poolings` fits several and returns a
:class:`~hiermodels.comparison.PoolingComparison`. Both accept a raw DataFrame (validated here) or a
:class:`~hiermodels.data.PreparedData`.

Progress is reported through a callback called **on the caller's thread** (nutpie's own callback runs on a
sampler thread and only records the latest state), so a user interface may draw from it directly. Cancelling
is cooperative: set the ``cancel`` event from anywhere and the sampler is aborted within one polling interval
(``POLL_SECONDS``), raising :class:`~hiermodels.errors.FitCancelled`; the callback itself may also raise
``FitCancelled`` (or anything else) to stop, e.g. when the page it draws on has gone.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import nutpie
import pandas as pd
import pymc as pm
import xarray as xr

from hiermodels import gaussian, gaussian_engine
from hiermodels.compiled import (
    CompiledModeFinder,
    CompiledModelCache,
    data_values,
    sampler_for,
    structure_key,
)
from hiermodels.data import PreparedData, check_identified, prepare
from hiermodels.errors import FitCancelled, FitFailed
from hiermodels.models import (
    COMMON,
    CORRELATION,
    GAMMA_SHAPE,
    GROUP_COEFFICIENT,
    GROUP_DIM,
    GROUP_SD,
    GROUP_SIGMA,
    LOG_SIGMA_SD,
    POPULATION_MEAN,
    SIGMA,
    VARYING_DIM,
    Method,
    default_method,
    model_for_mode,
    no_pooling_prior,
    term_split,
)
from hiermodels.priors import default_priors, resolve_priors, specs_for_poolings
from hiermodels.queue import FitQueue
from hiermodels.results import COLLAPSE_RATIO, FitResult, MapKind, Timing
from hiermodels.spec import POOLINGS, ModelSpec, Pooling

POLL_SECONDS = 0.1
Stage = Literal["compiling", "waiting", "sampling", "optimising", "done"]


@dataclass(frozen=True)
class FitProgress:
    """A snapshot of a fit under way, for a progress bar."""

    pooling: Pooling
    stage: Stage
    draws_done: int = 0
    draws_total: int = 0
    divergences: int = 0
    sampling_s: float = 0.0
    # Which of several fits this is (``fit_poolings``): index and count.
    fit_index: int = 0
    fit_count: int = 1
    # While waiting for a slot of a FitQueue: 1 = next in line.
    queue_position: int = 0

    @property
    def fraction(self) -> float:
        """Share of the whole job done, counting each fit in a multi-fit job equally."""
        within = self.draws_done / self.draws_total if self.draws_total else (1.0 if self.stage == "done" else 0.0)
        return min(1.0, (self.fit_index + within) / self.fit_count)

    @property
    def draws_per_second(self) -> float:
        return self.draws_done / self.sampling_s if self.sampling_s > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        """Time left for this fit's sampling, from the current rate (None before the rate is known)."""
        rate = self.draws_per_second
        if rate <= 0:
            return None
        return (self.draws_total - self.draws_done) / rate


ProgressCallback = Callable[[FitProgress], None]


def fit(
    data: pd.DataFrame | PreparedData,
    spec: ModelSpec,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    compute_map: bool = True,
    method: Method | None = None,
    compiled_cache: CompiledModelCache | None = None,
    queue: FitQueue | None = None,
    _fit_index: int = 0,
    _fit_count: int = 1,
) -> FitResult:
    """Fit ``spec`` to ``data`` with NUTS (nutpie) and find the joint mode; see the module docstring.

    ``method`` says how the data enter the model (``models.default_method``: gaussian models use per-group
    sufficient statistics, and non-centred gaussian partial pooling, or no pooling with normal priors, integrates
    the group effects out and draws them afterwards from their exact conditional); ``"rows"`` forces the
    textbook row-by-row model. With a ``compiled_cache`` (``hiermodels.compiled``) a model of the same structure
    compiled before is reused with this data swapped in (models with a parameter per group pad the group axis
    to a bucket first). With a ``queue`` the sampling and the
    mode wait for a slot (the progress callback hears ``stage="waiting"`` with the queue position).
    """
    prepared = data if isinstance(data, PreparedData) else prepare(data, spec)
    check_identified(prepared, [spec])  # a predictor of the group beside its own intercept: refused, not fitted
    method = method or default_method(spec)
    started = time.perf_counter()

    def report(**fields) -> None:
        _check_cancel(cancel)
        if progress is not None:
            progress(FitProgress(pooling=spec.pooling, fit_index=_fit_index, fit_count=_fit_count, **fields))

    report(stage="compiling")
    compile_started = time.perf_counter()
    model, compiled = sampler_for(prepared, spec, method, compiled_cache)
    compile_s = time.perf_counter() - compile_started

    # Sampling and the mode share the cores: wait for a slot (compiling, above, happens outside the queue).
    waited = time.perf_counter()
    slot = queue.slot(lambda position: report(stage="waiting", queue_position=position)) if queue else nullcontext()
    with slot:
        wait_s = time.perf_counter() - waited
        sample_started = time.perf_counter()
        posterior = _relabel(_sample(compiled, spec, report, cancel), model, prepared.n_groups)
        var_dims = {name: tuple(dims) for name, dims in model.named_vars_to_dims.items()}
        if method == "marginal":
            posterior = _with_group_effects(posterior, prepared, spec)
            var_dims[GROUP_COEFFICIENT] = (GROUP_DIM, VARYING_DIM)
        sample_s = time.perf_counter() - sample_started

        map_point: dict[str, np.ndarray] = {}
        map_message = ""
        map_kind: MapKind = "mode"
        map_s = 0.0
        if compute_map:
            report(stage="optimising", draws_done=1, draws_total=1)
            map_started = time.perf_counter()
            map_point, map_message = find_mode(prepared, spec, compiled_cache)
            collapsed = collapsed_terms(prepared, spec, map_point, posterior)
            if collapsed:
                map_point, map_message = limit_mode(prepared, spec, collapsed, compiled_cache)
                map_kind = "limit"
            map_s = time.perf_counter() - map_started

    report(stage="done", draws_done=1, draws_total=1)
    return FitResult(
        spec=spec,
        data=prepared,
        posterior=posterior,
        map_point=map_point,
        priors=resolve_priors(prepared, spec),
        timing=Timing(compile_s=compile_s, sample_s=sample_s, map_s=map_s, wait_s=wait_s,
                      total_s=time.perf_counter() - started),
        map_message=map_message,
        map_kind=map_kind,
        var_dims=var_dims,
        coords={name: list(values) for name, values in model.coords.items()},
    )


def fit_poolings(
    data: pd.DataFrame | PreparedData,
    spec: ModelSpec,
    poolings: Sequence[Pooling] = POOLINGS,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    compute_map: bool = True,
    compiled_cache: CompiledModelCache | None = None,
    queue: FitQueue | None = None,
):
    """Fit the same model under several poolings (default all three), one after another."""
    from hiermodels.comparison import PoolingComparison

    prepared = data if isinstance(data, PreparedData) else prepare(data, spec)
    specs = specs_for_poolings(prepared, spec, poolings)
    check_identified(prepared, list(specs.values()))  # refuse before the first fit starts
    results = {}
    for index, pooling in enumerate(poolings):
        results[pooling] = fit(
            prepared, specs[pooling], progress=progress, cancel=cancel, compute_map=compute_map,
            compiled_cache=compiled_cache, queue=queue, _fit_index=index, _fit_count=len(poolings),
        )
    return PoolingComparison(results)


def find_mode(data: PreparedData, spec: ModelSpec,
              compiled_cache: CompiledModelCache | None = None) -> tuple[dict[str, np.ndarray], str]:
    """The joint mode (MAP) of the model, in its centred form (see ``models.model_for_mode``).

    Returns the point (variable name -> value, deterministics included) and a message that is empty when the
    optimiser converged and otherwise says what happened; a failed optimisation gives an empty point. With a
    ``compiled_cache`` the optimiser's functions are compiled once per structure and data set size.
    """
    try:
        if gaussian_engine.supports_mode(spec):  # no compile per structure (hiermodels.gaussian_engine)
            return gaussian_engine.engine_model(data, spec).find_mode()
        model = model_for_mode(data, spec)
        if compiled_cache is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                finder = CompiledModeFinder(model)
        else:
            key = ("mode", structure_key(data, replace(spec, parameterization="centered"), "mode", data.n_groups),
                   data.n_rows if default_method(spec) == "rows" else None)
            finder, _ = compiled_cache.get_or_compile(key, lambda: CompiledModeFinder(model))
        # No jitter: the optimiser starts from the model's initial point, so the mode found is reproducible.
        return finder.find(data_values(model), model.initial_point())
    except Exception as error:  # scipy and pytensor raise many types; the fit itself is still valid
        return {}, f"the optimiser failed: {str(error).splitlines()[0] if str(error) else type(error).__name__}"


def collapsed_terms(data: PreparedData, spec: ModelSpec, point: dict[str, np.ndarray],
                    posterior: xr.DataTree) -> tuple[str, ...]:
    """The varying terms whose group-level scale the joint mode collapsed: tau_k at the mode below
    ``COLLAPSE_RATIO`` of its posterior mean (partial pooling only; none when there is no mode)."""
    if spec.pooling != "partial" or GROUP_SD not in point:
        return ()
    _, varying = term_split(data, spec)
    tau_mode = np.asarray(point[GROUP_SD], dtype=float)
    tau_mean = posterior["posterior"][GROUP_SD].mean(("chain", "draw")).to_numpy()
    return tuple(t for k, t in enumerate(varying) if tau_mode[k] < COLLAPSE_RATIO * tau_mean[k])


def limit_mode(data: PreparedData, spec: ModelSpec, collapsed: Sequence[str],
               compiled_cache: CompiledModelCache | None = None) -> tuple[dict[str, np.ndarray], str]:
    r"""The joint mode in the limit :math:`\tau_k \to 0` of the ``collapsed`` terms, where the mode does not exist.

    The centred density grows without bound as :math:`\tau_k \to 0` with every :math:`b_{jk} = \mu_k`, so the
    optimiser's other values are wherever it stopped. In the limit, term k is common to all groups: the other
    parameters are at the mode of the same model with those terms common (the complete-pooling model when every
    varying term collapsed), under the same priors (:math:`\mu_k`'s prior becomes the common coefficient's,
    which is the same default). Returned in this model's variables: :math:`\tau_k = 0`, :math:`b_{jk} = \mu_k`
    for every group, correlations involving a collapsed term undefined (NaN).
    """
    common, varying = term_split(data, spec)
    collapsed_predictors = {name for name in spec.varying if set(data.terms_of((name,))) <= set(collapsed)}
    kept = tuple(name for name in spec.varying if name not in collapsed_predictors)
    if kept:
        reduced = replace(spec, varying=kept, correlated=spec.correlated and len(data.terms_of(kept)) > 1)
    else:
        reduced = spec.with_pooling("complete")
    resolved = resolve_priors(data, spec)
    reduced = replace(reduced, priors=tuple((name, resolved[name]) for name in default_priors(data, reduced)
                                            if name in resolved))
    found, message = find_mode(data, reduced, compiled_cache)
    if not found:
        return {}, message
    reduced_common, reduced_varying = term_split(data, reduced)

    def coefficient(term: str) -> float:
        """The reduced mode's value of a term that is common there (beta) or varies there (mu)."""
        if term in reduced_common:
            return float(np.asarray(found[COMMON])[reduced_common.index(term)])
        return float(np.asarray(found[POPULATION_MEAN])[reduced_varying.index(term)])

    q, n_groups = len(varying), data.n_groups
    point: dict[str, np.ndarray] = {name: np.asarray(found[name]) for name in (SIGMA, GROUP_SIGMA, LOG_SIGMA_SD,
                                                                                 GAMMA_SHAPE) if name in found}
    if common:
        point[COMMON] = np.array([coefficient(t) for t in common])
    point[POPULATION_MEAN] = np.array([coefficient(t) for t in varying])
    point[GROUP_SD] = np.array([0.0 if t not in reduced_varying else
                                float(np.asarray(found[GROUP_SD])[reduced_varying.index(t)]) for t in varying])
    b = np.tile(point[POPULATION_MEAN], (n_groups, 1))
    for k, term in enumerate(varying):
        if term in reduced_varying:
            b[:, k] = np.asarray(found[GROUP_COEFFICIENT])[:n_groups, reduced_varying.index(term)]
    point[GROUP_COEFFICIENT] = b
    if spec.correlated:
        correlation = np.full((q, q), np.nan)
        np.fill_diagonal(correlation, 1.0)
        if CORRELATION in found:
            kept_index = [k for k, t in enumerate(varying) if t in reduced_varying]
            reduced_corr = np.asarray(found[CORRELATION])
            for a, ka in enumerate(kept_index):
                for c, kc in enumerate(kept_index):
                    correlation[ka, kc] = reduced_corr[a, c]
        point[CORRELATION] = correlation
    return point, message


def _relabel(posterior: xr.DataTree, model: pm.Model, n_groups: int) -> xr.DataTree:
    """This model's labels on every dim (a reused compile carries the labels of the data it was compiled for),
    and only the real groups (padding dropped)."""
    groups = {}
    for name, node in posterior.children.items():
        dataset = node.to_dataset()
        labels = {dim: list(values) for dim, values in model.coords.items() if dim in dataset.dims}
        dataset = dataset.assign_coords(labels)
        if GROUP_DIM in dataset.dims:
            dataset = dataset.isel({GROUP_DIM: slice(0, n_groups)})
        groups[name] = dataset
    return xr.DataTree.from_dict(groups)


def _with_group_effects(posterior: xr.DataTree, data: PreparedData, spec: ModelSpec) -> xr.DataTree:
    """Add ``b`` to a marginal fit's posterior: one exact conditional draw per posterior draw."""
    draws = posterior["posterior"].to_dataset()
    chains, n_draws = draws.sizes["chain"], draws.sizes["draw"]
    common, varying = term_split(data, spec)

    def flat(name: str) -> np.ndarray:
        values = draws[name].to_numpy()
        return values.reshape(chains * n_draws, *values.shape[2:])

    beta = flat(COMMON) if common else None
    q = len(varying)
    if spec.pooling == "partial":
        mu, tau = flat(POPULATION_MEAN), flat(GROUP_SD)
    else:  # no pooling: the group effects' prior is each term's fixed normal prior
        means, sds = no_pooling_prior(resolve_priors(data, spec), varying)
        mu, tau = (np.broadcast_to(values, (chains * n_draws, q)) for values in (means, sds))
    theta = np.stack([mu[:, varying.index(t)] if t in varying else beta[:, common.index(t)] for t in data.terms],
                     axis=-1)
    if spec.pooling == "partial" and spec.correlated:
        correlation = flat(CORRELATION)
    else:
        correlation = np.broadcast_to(np.eye(q), (len(tau), q, q))
    covariance = tau[:, :, None] * correlation * tau[:, None, :]
    sigma = flat(GROUP_SIGMA) if spec.group_noise else flat(SIGMA)
    u = gaussian.draw_group_effects(
        gaussian.GroupSums.from_data(data), [data.terms.index(t) for t in varying], theta, covariance, sigma,
        np.random.default_rng(spec.sampler.seed),
    )
    b = (mu[:, None, :] + u).reshape(chains, n_draws, data.n_groups, len(varying))
    draws = draws.assign({GROUP_COEFFICIENT: (("chain", "draw", GROUP_DIM, VARYING_DIM), b)}).assign_coords(
        {GROUP_DIM: list(data.group_labels), VARYING_DIM: list(varying)})
    groups = {name: node.to_dataset() for name, node in posterior.children.items()}
    groups["posterior"] = draws
    return xr.DataTree.from_dict(groups)


def _sample(compiled, spec: ModelSpec, report: Callable[..., None], cancel: threading.Event | None):
    settings = spec.sampler
    latest: list = []  # nutpie's callback (sampler thread) stores; the loop below (caller's thread) reports.

    def on_progress(chains) -> None:
        latest[:] = [chains]

    sampler = nutpie.sample(
        compiled,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        cores=min(settings.chains, os.cpu_count() or 1),
        seed=settings.seed,
        target_accept=settings.target_accept,
        save_warmup=False,
        progress_bar=False,
        progress_callback=on_progress,
        progress_rate=200,
        blocking=False,
    )
    total = (settings.draws + settings.tune) * settings.chains
    try:
        while not _finished(sampler):
            if latest:
                chains = latest[0]
                report(
                    stage="sampling",
                    draws_done=int(sum(c.finished_draws for c in chains)),
                    draws_total=total,
                    divergences=int(sum(c.divergences for c in chains)),
                    sampling_s=max((c.runtime_ms for c in chains), default=0) / 1000,
                )
            else:
                report(stage="sampling", draws_total=total)
            time.sleep(POLL_SECONDS)
    except BaseException:
        # Cancelled, or the caller's callback raised (e.g. the browser tab closed): stop the sampler threads.
        sampler.cancel()
        raise
    try:
        return sampler.wait()
    except Exception as error:
        raise FitFailed(f"sampling failed: {str(error).splitlines()[0]}") from error


def _finished(sampler) -> bool:
    # nutpie 0.16's ``is_finished`` raises TimeoutError (rather than returning False) while chains still run.
    try:
        return bool(sampler.is_finished)
    except TimeoutError:
        return False


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise FitCancelled("the fit was cancelled")
