"""Fitting: NUTS through nutpie, the joint mode by L-BFGS-B (as ``pm.find_MAP``), with progress and cancellation.

:func:`fit` fits one pooling mode; :func:`fit_poolings` fits several and returns a
:class:`~hiermodels.results.comparison.PoolingComparison`. Both accept a raw DataFrame (validated here) or a
:class:`~hiermodels.data.preparing.PreparedData`.

Progress is reported through a callback called **on the caller's thread** (nutpie's own callback runs on a
sampler thread and only records the latest state), so a user interface may draw from it directly. Cancelling
is cooperative: set the ``cancel`` event from anywhere and the sampler is aborted within one polling interval
(``POLL_SECONDS``), raising :class:`~hiermodels.errors.FitCancelled`; the callback itself may also raise
``FitCancelled`` (or anything else) to stop, e.g. when the page it draws on has gone. The sampler is polled every
``POLL_SECONDS`` (so a fit's end is seen within 20 ms: a warmed fit of a bundled sample takes 0.2-2 s, and 100 ms
polls cost about 50 ms of each) and the callback called at most every ``REPORT_SECONDS``.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Literal

import numpy as np
import nutpie
import pandas as pd
import pymc as pm
import xarray as xr

from hiermodels.data.preparing import PreparedData, check_identified, prepare
from hiermodels.engine import gaussian_engine
from hiermodels.engine.compiled import COMPILE_LOCK, CompiledModelCache, CompiledSampler, sampler_for
from hiermodels.engine.nutpie_adapter import NutpieModel
from hiermodels.errors import FitCancelled, FitFailed
from hiermodels.inference.mode import collapsed_terms, find_mode, limit_mode, pin_collapsed_scales
from hiermodels.inference.plan import FitPlan, plan_fit, several_factors
from hiermodels.inference.queue import FitQueue
from hiermodels.model import gaussian, integrated
from hiermodels.model.build import (
    COMMON,
    CORRELATION,
    GROUP_COEFFICIENT,
    GROUP_DIM,
    GROUP_SD,
    GROUP_SIGMA,
    POPULATION_MEAN,
    SIGMA,
    VARYING_DIM,
    Method,
    build_model,
    factor_name,
    no_pooling_prior,
    term_split,
    zero_sum_sd,
)
from hiermodels.model.priors import data_for, resolve_priors, specs_for_poolings
from hiermodels.model.spec import INTERCEPT, POOLINGS, ModelSpec, Pooling
from hiermodels.results.fit_result import FitResult, MapKind, Timing

POLL_SECONDS = 0.02
REPORT_SECONDS = 0.1
# The time left is estimated from the draws of the last RATE_WINDOW_S seconds (the first tuning draws, with the
# step size still adapting, are much slower than the rest), and only once MIN_ESTIMATE_FRACTION of the draws are
# done: before that any estimate is mostly the slow start.
RATE_WINDOW_S = 10.0
MIN_ESTIMATE_FRACTION = 0.05
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
    # Draws per second over the last RATE_WINDOW_S seconds of sampling (0: not known yet).
    recent_draws_per_second: float = 0.0

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
        """Time left for this fit's sampling, from the recent rate (else the average one); None before
        ``MIN_ESTIMATE_FRACTION`` of the draws are done or the rate is known."""
        rate = self.recent_draws_per_second or self.draws_per_second
        if rate <= 0 or self.draws_done < MIN_ESTIMATE_FRACTION * self.draws_total:
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

    Every decision about the fit (how the data enter, who samples and who finds the mode, the group axis, the
    compiled structure) is the :class:`~hiermodels.inference.plan.FitPlan` of ``(data, spec)``; ``method`` overrides how
    the data enter (``"rows"`` forces the textbook row-by-row model). With a ``compiled_cache``
    (``hiermodels.engine.compiled``) a model of the same structure compiled before is reused with this data swapped
    in. With a ``queue`` the sampling and the mode wait for a slot (the progress callback hears
    ``stage="waiting"`` with the queue position).
    """
    prepared = data if isinstance(data, PreparedData) else prepare(data, spec)
    check_identified(prepared, [spec])  # a predictor of the group beside its own intercept: refused, not fitted
    plan = plan_fit(prepared, spec, method)
    started = time.perf_counter()

    def report(**fields) -> None:
        _check_cancel(cancel)
        if progress is not None:
            progress(FitProgress(pooling=spec.pooling, fit_index=_fit_index, fit_count=_fit_count, **fields))

    report(stage="compiling")
    compile_started = time.perf_counter()
    model, compiled = sampler_for(prepared, plan, compiled_cache)
    compile_s = time.perf_counter() - compile_started

    # Sampling and the mode share the cores: wait for a slot (compiling, above, happens outside the queue).
    waited = time.perf_counter()
    slot = queue.slot(lambda position: report(stage="waiting", queue_position=position)) if queue else nullcontext()
    with slot:
        wait_s = time.perf_counter() - waited
        sample_started = time.perf_counter()
        posterior = _relabel(_sample(compiled, plan, report, cancel), model, prepared.n_groups)
        var_dims = {name: tuple(dims) for name, dims in model.named_vars_to_dims.items()}
        if plan.method == "integrated":
            posterior, name, dims = _with_integrated_effects(posterior, prepared, spec)
            var_dims[name] = dims
        elif plan.draws_group_effects:
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
            if several_factors(spec):
                # A collapsed scale: its limit (mode.pin_collapsed_scales).
                pinned, message = pin_collapsed_scales(prepared, spec, map_point, posterior, compiled_cache)
                if message:
                    map_point, map_message, map_kind = pinned, message, "limit"
            elif collapsed := collapsed_terms(prepared, spec, map_point, posterior):
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
        target_accept=plan.target_accept,
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
    from hiermodels.results.comparison import PoolingComparison

    prepared = data if isinstance(data, PreparedData) else prepare(data, spec)
    specs = specs_for_poolings(prepared, spec, poolings)
    check_identified(prepared, list(specs.values()))  # refuse before the first fit starts
    results = {}
    for index, pooling in enumerate(poolings):
        results[pooling] = fit(
            data_for(prepared, specs[pooling]), specs[pooling], progress=progress, cancel=cancel,
            compute_map=compute_map, compiled_cache=compiled_cache, queue=queue, _fit_index=index,
            _fit_count=len(poolings),
        )
    return PoolingComparison(results)


def warm(cache: CompiledModelCache, data: PreparedData, spec: ModelSpec, poolings: Sequence[Pooling]) -> list[bool]:
    """Compile ``spec`` under each pooling into ``cache`` ahead of time (e.g. when a server starts): the sampler's
    model and the mode finder's, as their plans say. Returns, per pooling, whether the sampler's model was
    already compiled."""
    found = []
    for pooled in specs_for_poolings(data, spec, poolings).values():
        plan = plan_fit(data, pooled)
        if plan.sampler == "engine":
            with COMPILE_LOCK:
                found.append(gaussian_engine.compiled(gaussian_engine.has_correlations(pooled)))
                gaussian_engine.callbacks(gaussian_engine.has_correlations(pooled))
        else:
            def compile_sampler(p: FitPlan = plan) -> CompiledSampler:
                return CompiledSampler(build_model(data, p.spec, p.method, p.n_groups))

            _, hit = cache.get_or_compile(plan.structure_key, compile_sampler)
            found.append(hit)
            if plan.method == "integrated":
                integrated.warm_draws()
        find_mode(data, pooled, cache)
    return found


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

    beta = flat(COMMON) if common else np.empty((chains * n_draws, 0))  # no common term: no column is read
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


def _with_integrated_effects(posterior: xr.DataTree, data: PreparedData,
                             spec: ModelSpec) -> tuple[xr.DataTree, str, tuple[str, str]]:
    """Add the integrated factor's group effects (:mod:`hiermodels.model.integrated`) to the posterior: one exact
    conditional draw per posterior draw. Returns the posterior, the variable added and its dims."""
    draws = posterior["posterior"].to_dataset()
    chains, n_draws = draws.sizes["chain"], draws.sizes["draw"]
    total = chains * n_draws
    number = integrated.integrated_factor(data, spec)
    assert number is not None  # the plan chose "integrated"
    common, varying = term_split(data, spec)
    zero_sum = integrated.sums_to_zero(spec)

    def flat(name: str) -> np.ndarray:
        values = draws[name].to_numpy()
        return values.reshape(total, *values.shape[2:])

    if number == 0:
        index, labels, tau = data.group_index, data.group_labels, flat(GROUP_SD)[:, 0]
        name, dims = GROUP_COEFFICIENT, (GROUP_DIM, VARYING_DIM)
    else:
        index, labels = data.factors[number - 1].index, data.factors[number - 1].labels
        name = factor_name(GROUP_COEFFICIENT, number)
        if zero_sum:  # no pooling: the fixed sd of the effect coding's prior
            tau = np.full(total, zero_sum_sd(resolve_priors(data, spec)[INTERCEPT]))
        else:
            tau = flat(factor_name(GROUP_SD, number))[:, 0]
        dims = (factor_name(GROUP_DIM, number), factor_name(VARYING_DIM, number))
    # The linear predictor without the integrated factor's deviations, in parts (integrated.residual_sums):
    # the common coefficients (every row in one "group"), the first factor's coefficients (its population means
    # when it is the factor integrated out) and every other factor's effects.
    one_group = np.zeros(data.n_rows, dtype=np.int64)
    parts: list[integrated.LinearPart] = []
    if common:
        parts.append((data.design(common), one_group, flat(COMMON)[:, None, :]))
    if number == 0:
        parts.append((data.design(varying), one_group, flat(POPULATION_MEAN)[:, None, :]))
    else:
        parts.append((data.design(varying), data.group_index, flat(GROUP_COEFFICIENT)))
    parts += [(data.design(data.terms_of(factor.varying)), factor_data.index, flat(factor_name(GROUP_COEFFICIENT, k)))
              for k, (factor, factor_data) in enumerate(zip(spec.factors, data.factors, strict=True), start=1)
              if k != number]
    totals = integrated.residual_sums(data.y, index, len(labels), parts)
    count = np.bincount(index, minlength=len(labels)).astype(float)
    u = integrated.draw_integrated_effects(totals, count, tau, flat(SIGMA), np.random.default_rng(spec.sampler.seed),
                                           zero_sum, overwrite_totals=True)
    if number == 0:
        u += flat(POPULATION_MEAN)  # the coefficients: the population mean plus the deviation
    values = u[:, :, None]
    draws = draws.assign({name: (("chain", "draw", *dims), values.reshape(chains, n_draws, len(labels), 1))})
    draws = draws.assign_coords({dims[0]: list(labels), dims[1]: [INTERCEPT]})
    groups = {key: node.to_dataset() for key, node in posterior.children.items()}
    groups["posterior"] = draws
    return xr.DataTree.from_dict(groups), name, dims


def _sample(compiled: NutpieModel, plan: FitPlan, report: Callable[..., None],
            cancel: threading.Event | None) -> xr.DataTree:
    settings = plan.spec.sampler
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
        target_accept=plan.target_accept,
        adaptation=plan.adaptation,
        save_warmup=False,
        progress_bar=False,
        progress_callback=on_progress,
        progress_rate=200,
        blocking=False,
    )
    total = (settings.draws + settings.tune) * settings.chains
    history: deque[tuple[float, int]] = deque()  # (seconds, draws done) of the last RATE_WINDOW_S seconds
    reported = -math.inf
    try:
        while not _finished(sampler):
            _check_cancel(cancel)
            if time.perf_counter() - reported < REPORT_SECONDS:
                time.sleep(POLL_SECONDS)
                continue
            reported = time.perf_counter()
            if latest:
                chains = latest[0]
                done = int(sum(c.finished_draws for c in chains))
                seconds = max((c.runtime_ms for c in chains), default=0) / 1000
                history.append((seconds, done))
                while history and history[0][0] < seconds - RATE_WINDOW_S:
                    history.popleft()
                elapsed = seconds - history[0][0]
                report(
                    stage="sampling",
                    draws_done=done,
                    draws_total=total,
                    divergences=int(sum(c.divergences for c in chains)),
                    sampling_s=seconds,
                    recent_draws_per_second=(done - history[0][1]) / elapsed if elapsed >= 1 else 0.0,
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
