"""Compile once per model *structure*, sample many data sets: a bounded cache of compiled nutpie models.

(Gaussian models whose group effects integrate out skip all of this: :mod:`hiermodels.gaussian_engine`
samples them with one program compiled once per machine; :func:`sampler_for` picks the route.)

Compiling a model (PyTensor graph -> numba) takes seconds; sampling a gaussian model on sufficient statistics
takes a fraction of a second. Everything that varies between data sets of the same structure is a ``pm.Data``
container (the sufficient statistics or rows, and the prior parameters, which are scaled to the data), so a
compiled model serves a new data set through nutpie's ``CompiledPyMCModel.with_data``
(:class:`CompiledSampler`).

What stays baked into the compiled function is the **structure** (:func:`structure_key`): family, pooling,
likelihood method, which design columns vary, correlation and parameterisation, group noise, the prior
*families*, the LKJ shape, the number of terms and the number of groups. The number of groups is rounded up to a
bucket (:func:`padded_group_count`: 8, 12, 16, 24, 32, 48, ...) and the extra groups carry no data: with
sufficient statistics of zero they add exactly nothing to the likelihood (the marginal term of an empty group is
0), and in other models their coefficients just follow the prior; they are dropped from the results. So one
compile serves every data set whose group count falls in the same bucket.

Compiling is not thread-safe (numba, PyTensor's compile directory): one process-wide lock,
:data:`COMPILE_LOCK`, serialises it.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np
import nutpie
import pymc as pm
from pymc.blocking import DictToArrayBijection, RaveledVars

from hiermodels import nutpie_adapter
from hiermodels.data import PreparedData
from hiermodels.models import Method, term_split
from hiermodels.priors import resolve_priors
from hiermodels.spec import ModelSpec

COMPILE_LOCK = threading.Lock()
DEFAULT_MAX_ENTRIES = 16


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
    value per group. Gaussian models on group sums without such a parameter (complete pooling; group effects
    integrated out, one residual scale) take any number of groups through ``with_data``."""
    if method == "rows" or spec.group_noise:
        return True
    return not (spec.pooling == "complete" or method == "marginal")


def compile_layout(data: PreparedData, spec: ModelSpec, method: Method) -> tuple[int, Hashable]:
    """The group count to build the model with (padded to a bucket where it shapes the compiled function) and
    the cache key of its structure."""
    if group_count_shapes(spec, method):
        n_groups = padded_group_count(data.n_groups)
        return n_groups, structure_key(data, spec, method, n_groups)
    return data.n_groups, structure_key(data, spec, method, None)


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
        priors["corr"].params if "corr" in priors else None,
        n_groups,
    )


class CompiledModelCache:
    """Bounded map from :func:`structure_key` to compiled nutpie models (least recently used dropped first).

    Thread-safe; a model missing from the cache is compiled under :data:`COMPILE_LOCK`, so two sessions asking
    for the same structure at once compile it once.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._compiled: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._compiled)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._compiled

    def get_or_compile(self, key: Hashable, compile_model: Callable[[], object]) -> tuple[object, bool]:
        """The compiled model for ``key`` and whether it was already there."""
        with self._lock:
            if key in self._compiled:
                self._compiled.move_to_end(key)
                self.hits += 1
                return self._compiled[key], True
        with COMPILE_LOCK:
            with self._lock:  # another thread may have compiled it while this one waited
                if key in self._compiled:
                    self.hits += 1
                    return self._compiled[key], True
            compiled = compile_model()
        with self._lock:
            self.misses += 1
            self._compiled[key] = compiled
            while len(self._compiled) > self.max_entries:
                self._compiled.popitem(last=False)
        return compiled, False


def compile_pymc(model: pm.Model):
    """nutpie's numba compile of a PyMC model (callers hold :data:`COMPILE_LOCK`)."""
    with warnings.catch_warnings():
        # PyTensor warns that it found no BLAS; numba does its own, and users cannot act on the warning.
        warnings.simplefilter("ignore")
        return nutpie.compile_pymc_model(model, backend="numba")


def data_values(model: pm.Model) -> dict[str, object]:
    """The current values of every ``pm.Data`` container, by name, for ``with_data``."""
    return {variable.name: variable.get_value() for variable in model.data_vars}


class CompiledSampler:
    """A nutpie model compiled once, with the PyMC model it was compiled from, ready for new data.

    ``with_data`` swaps new data into the log-density, but nutpie's initial-point function still reads the
    compile-time model's ``pm.Data`` containers (the prior parameters set the starting point). :meth:`for_data`
    points those at the new data too, under a lock, so that a fit depends only on its data and seed and not on
    which data set compiled the structure.
    """

    def __init__(self, model: pm.Model) -> None:
        self.model = model
        self.compiled = compile_pymc(model)
        self._lock = threading.Lock()

    def for_data(self, model: pm.Model):
        """The compiled model with ``model``'s data (a model of the same structure).

        Only the containers the compiled log-density reads are swapped in: a container that no sampled quantity
        depends on (a complete-pooling model's ``group_index``) is pruned from the compiled function, and nutpie
        refuses to set it. It still feeds the initial point, which reads every container of the model.
        """
        values = data_values(model)
        inputs = nutpie_adapter.data_inputs(self.compiled)
        initial_point = nutpie_adapter.initial_point_function(self.compiled)

        def initial_point_for_these_data(seed):
            with self._lock:
                for variable in self.model.data_vars:
                    variable.set_value(values[variable.name])
                return initial_point(seed)

        swapped = nutpie_adapter.with_data(self.compiled,
                                           {name: value for name, value in values.items() if name in inputs})
        return nutpie_adapter.with_initial_point(swapped, initial_point_for_these_data)


def sampler_for(data: PreparedData, spec: ModelSpec, method: Method,
                cache: CompiledModelCache | None = None) -> tuple[pm.Model, object]:
    """The PyMC model of ``spec`` on ``data`` and the nutpie model that samples it.

    Models the gaussian engine covers (:func:`hiermodels.gaussian_engine.supports`) need no compile of their
    own: the engine's program, compiled once per machine, takes their numbers; the PyMC model is built for its
    coords and dims only. Others are compiled by nutpie, once per structure when a ``cache`` is given (the
    group axis padded to a bucket where it shapes the compiled function).
    """
    from hiermodels import gaussian_engine
    from hiermodels.models import build_model

    if gaussian_engine.supports(spec, method):
        model = build_model(data, spec, method)
        with COMPILE_LOCK:
            gaussian_engine.callbacks(gaussian_engine.has_correlations(spec))
        dims = {name: tuple(dims) for name, dims in model.named_vars_to_dims.items()}
        return model, gaussian_engine.engine_model(data, spec).for_nutpie(model.coords, dims)
    if cache is None:
        model = build_model(data, spec, method)
        with COMPILE_LOCK:
            return model, compile_pymc(model)
    n_groups, key = compile_layout(data, spec, method)
    model = build_model(data, spec, method, n_groups)
    compiled, _ = cache.get_or_compile(key, lambda: CompiledSampler(model))
    return model, compiled.for_data(model)


def warm(cache: CompiledModelCache, data: PreparedData, spec: ModelSpec, poolings) -> list[bool]:
    """Compile ``spec`` under each pooling into ``cache`` ahead of time (e.g. when a server starts): the sampler's
    model and the mode finder's. Returns, per pooling, whether the sampler's model was already there."""
    from hiermodels import gaussian_engine
    from hiermodels.fitting import find_mode
    from hiermodels.models import build_model, default_method
    from hiermodels.priors import specs_for_poolings

    found = []
    for pooled in specs_for_poolings(data, spec, poolings).values():
        method = default_method(pooled)
        if gaussian_engine.supports(pooled, method):
            with COMPILE_LOCK:
                found.append(gaussian_engine.compiled(gaussian_engine.has_correlations(pooled)))
                gaussian_engine.callbacks(gaussian_engine.has_correlations(pooled))
        else:
            n_groups, key = compile_layout(data, pooled, method)
            _, hit = cache.get_or_compile(
                key, lambda p=pooled, m=method, j=n_groups: CompiledSampler(build_model(data, p, m, j)))
            found.append(hit)
        find_mode(data, pooled, cache)
    return found


class CompiledModeFinder:
    """The joint mode (MAP) of one model structure, compiled once: L-BFGS-B on ``logp(jacobian=False)``.

    The same optimisation as ``pm.find_MAP`` (scipy's L-BFGS-B from the model's initial point, in the
    transformed space, without the Jacobian, so the mode is the density's mode in the original space), but the
    log-density, its gradient and the map back to every variable are compiled once and new data are set into
    the model's ``pm.Data`` containers. Setting data mutates shared state, so each finder has its own lock.
    """

    def __init__(self, model: pm.Model) -> None:
        self.model = model
        self._logp = model.compile_logp(jacobian=False)
        self._dlogp = model.compile_dlogp(jacobian=False)
        self._names = [v.name for v in model.unobserved_value_vars]
        self._values = model.compile_fn(model.unobserved_value_vars, inputs=model.value_vars,
                                        on_unused_input="ignore")
        self._lock = threading.Lock()

    def find(self, data: dict[str, object], start: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], str]:
        """The mode for these data containers, from ``start`` (a point of the value variables)."""
        from scipy import optimize

        with self._lock:
            for variable in self.model.data_vars:
                variable.set_value(data[variable.name])
            x0 = DictToArrayBijection.map({v.name: np.asarray(start[v.name]) for v in self.model.value_vars})

            def point(x: np.ndarray) -> dict[str, np.ndarray]:
                return DictToArrayBijection.rmap(RaveledVars(x, x0.point_map_info))

            def negative_logp(x: np.ndarray) -> float:
                value = float(self._logp(point(x)))
                return -value if np.isfinite(value) else 1e300

            def negative_gradient(x: np.ndarray) -> np.ndarray:
                return -np.nan_to_num(np.asarray(self._dlogp(point(x)), dtype=float))

            result = optimize.minimize(negative_logp, x0.data, jac=negative_gradient, method="L-BFGS-B")
            values = dict(zip(self._names, self._values(point(result.x)), strict=True))
        message = "" if result.success else f"the optimiser stopped early: {result.message}"
        return {name: np.asarray(value) for name, value in values.items()}, message
