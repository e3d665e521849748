"""Compile once per model *structure*, sample many data sets: a bounded cache of compiled nutpie models.

(Gaussian models whose group effects integrate out skip all of this: :mod:`hiermodels.engine.gaussian_engine`
samples them with one program compiled once per machine. Which route a fit takes, its group axis and its
structure key are decided in :mod:`hiermodels.inference.plan`; :func:`sampler_for` follows the plan.)

Compiling a model (PyTensor graph -> numba) takes seconds; sampling a gaussian model on sufficient statistics
takes a fraction of a second. Everything that varies between data sets of the same structure is a ``pm.Data``
container (the sufficient statistics or rows, and the prior parameters, which are scaled to the data), so a
compiled model serves a new data set through nutpie's ``CompiledPyMCModel.with_data``
(:class:`CompiledSampler`).

What stays baked into the compiled function is the **structure** (:func:`hiermodels.inference.plan.structure_key`):
family, pooling, likelihood method, which design columns vary, correlation and parameterisation, group noise,
the prior *families*, the LKJ shape, the number of terms and the number of groups. The number of groups is
rounded up to a bucket (:func:`hiermodels.inference.plan.padded_group_count`: 8, 12, 16, 24, 32, 48, ...) and the extra
groups carry no data: with sums of zero they add exactly nothing to the likelihood (the marginal term of an
empty group is 0), and in other models their coefficients just follow the prior; they are dropped from the
results. So one compile serves every data set whose group count falls in the same bucket.

Compiling is not thread-safe (numba, PyTensor's compile directory): one process-wide lock,
:data:`COMPILE_LOCK`, serialises it.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import cast

import pymc as pm

from hiermodels.data.preparing import PreparedData
from hiermodels.engine import gaussian_engine, nutpie_adapter
from hiermodels.engine.nutpie_adapter import NutpieModel
from hiermodels.inference.plan import FitPlan
from hiermodels.model.build import build_model

COMPILE_LOCK = threading.Lock()
DEFAULT_MAX_ENTRIES = 16


class CompiledModelCache:
    """Bounded map from a structure key (:func:`hiermodels.inference.plan.structure_key`) to compiled nutpie models
    (least recently used dropped first).

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

    def get_or_compile[Compiled](self, key: Hashable, compile_model: Callable[[], Compiled]) -> tuple[Compiled, bool]:
        """The compiled model for ``key`` and whether it was already there.

        One cache holds several kinds of compiled object (a :class:`CompiledSampler` per structure key, a
        ``CompiledModeFinder`` per mode key): a key's value is what the ``compile_model`` given with that key
        built, and keys of different kinds never meet (the plan's mode keys start with ``"mode"``).
        """
        with self._lock:
            if key in self._compiled:
                self._compiled.move_to_end(key)
                self.hits += 1
                return cast(Compiled, self._compiled[key]), True
        with COMPILE_LOCK:
            with self._lock:  # another thread may have compiled it while this one waited
                if key in self._compiled:
                    self.hits += 1
                    return cast(Compiled, self._compiled[key]), True
            compiled = compile_model()
        with self._lock:
            self.misses += 1
            self._compiled[key] = compiled
            while len(self._compiled) > self.max_entries:
                self._compiled.popitem(last=False)
        return compiled, False


def compile_pymc(model: pm.Model) -> NutpieModel:
    """nutpie's numba compile of a PyMC model, its C callbacks cached on disk
    (:func:`hiermodels.engine.nutpie_adapter.compile_pymc_model`; callers hold :data:`COMPILE_LOCK`)."""
    with warnings.catch_warnings():
        # PyTensor warns that it found no BLAS; numba does its own, and users cannot act on the warning.
        warnings.simplefilter("ignore")
        return nutpie_adapter.compile_pymc_model(model)


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

    def for_data(self, model: pm.Model) -> NutpieModel:
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


def sampler_for(data: PreparedData, plan: FitPlan,
                cache: CompiledModelCache | None = None) -> tuple[pm.Model, NutpieModel]:
    """The PyMC model of the plan on ``data`` and the nutpie model that samples it.

    The gaussian engine's models (``plan.sampler == "engine"``) need no compile of their own: the engine's
    program, compiled once per machine, takes their numbers; the PyMC model is built for its coords and dims
    only. Others are compiled by nutpie, once per structure (``plan.structure_key``) when a ``cache`` is given,
    with the group axis the plan gives (padded where it shapes the compiled function).
    """
    spec, method = plan.spec, plan.method
    if plan.sampler == "engine":
        model = build_model(data, spec, method)
        with COMPILE_LOCK:
            gaussian_engine.callbacks(gaussian_engine.has_correlations(spec))
        dims = {name: tuple(dims) for name, dims in model.named_vars_to_dims.items()}
        return model, gaussian_engine.engine_model(data, spec).for_nutpie(model.coords, dims)
    if cache is None:
        model = build_model(data, spec, method)
        with COMPILE_LOCK:
            return model, compile_pymc(model)
    model = build_model(data, spec, method, plan.n_groups)
    compiled, _ = cache.get_or_compile(plan.structure_key, lambda: CompiledSampler(model))
    return model, compiled.for_data(model)
