r"""The seam between hiermodels and nutpie's (and numba's) internals: every private name of theirs that this
project relies on is used here and nowhere else, and ``tests/test_nutpie_adapter.py`` checks each of them, so
that a nutpie or numba upgrade that changes one fails there, loudly and by name, instead of deep inside a fit.

Checked against nutpie 0.16.11 and numba 0.68.0 (:data:`CHECKED_NUTPIE`, :data:`CHECKED_NUMBA`); nutpie is
pinned to ``>=0.16.11,<0.17`` in ``pyproject.toml`` because of the first group below.

What is relied on, and why:

1. **nutpie's C callback route** (the gaussian engine, :func:`callback_model`). nutpie samples a PyMC model
   through two C functions compiled by numba and one pointer of user data; the engine hands it its own two
   callbacks instead of a compiled PyTensor graph, so that one program compiled once per machine serves every
   gaussian model (``hiermodels.engine.gaussian_engine``'s docstring says why). This uses

   - ``nutpie.compile_pymc.CompiledPyMCModel``, a frozen dataclass, built directly with its fields
     ``_n_dim``, ``dims``, ``_coords``, ``_shapes``, ``compiled_logp_func``, ``compiled_expand_func``,
     ``initial_point_func``, ``shared_data``, ``shared_var_keys``, ``user_data``, ``n_expanded``,
     ``shape_info``, ``logp_func``, ``expand_func`` (:data:`CALLBACK_MODEL_FIELDS`). Its ``_make_model`` reads
     ``compiled_logp_func.address``, ``compiled_expand_func.address``, ``user_data.ctypes.data`` (the pointer
     the callbacks get), ``shape_info`` (names, slices, shapes of the stored variables), ``_coords``, ``dims``
     and ``initial_point_func``.
   - the C signatures nutpie calls (``compile_pymc._make_c_logp_func`` / ``_make_c_expand_func``):
     :data:`LOGP_SIGNATURE` ``int64(uint64 dim, double* x, double* gradient, double* logp, void* user_data)``
     and :data:`EXPAND_SIGNATURE` ``int64(uint64 dim, uint64 n_expanded, double* x, double* out, void*
     user_data)``, and the meaning of the return code: 0 success, a positive code a recoverable failure that
     ends the trajectory as a divergence (nutpie's ``src/pymc.rs``, ``is_recoverable``: ``code > 0``); nutpie's
     own callback returns :data:`NONFINITE_GRADIENT` (3) and :data:`NONFINITE_LOGP` (4), and so do ours.

2. **A compiled PyMC model with new data** (``hiermodels.engine.compiled.CompiledSampler``: compile once per
   structure, sample many data sets). ``CompiledPyMCModel.with_data(**updates)`` is public, but it refuses a
   name the compiled function does not read, and which names those are is only in the private field
   ``shared_var_keys`` (shared variable -> key) (:func:`data_inputs`); the initial point is the private field
   ``initial_point_func`` (seed -> flat array), replaced with ``dataclasses.replace``
   (:func:`initial_point_function`, :func:`with_initial_point`).

3. **numba** (:func:`as_pointer`): the callbacks receive the addresses of the engine's arrays as integers and
   turn each into a pointer with an ``@intrinsic`` (``numba.extending.intrinsic`` is public;
   ``numba.core.cgutils.voidptr_t`` is not). nutpie itself uses the same intrinsic
   (``compile_pymc.address_as_void_pointer``). numba's on-disk cache of ``gaussian_engine`` does not see edits
   to this file: after changing :func:`as_pointer`, clear the cache (or touch ``gaussian_engine.py``).

The public alternative, measured
--------------------------------
nutpie's ``nutpie.compiled_pyfunc.from_pyfunc`` takes Python callables instead of C callbacks (:func:`pyfunc_model`;
``EngineModel.for_pyfunc``). It needs none of the internals of group 1 and would lift the pin, but nutpie
then calls back into Python, under the GIL, for every gradient and every stored draw. The two routes give the
same draws from the same seed (``tests/test_nutpie_adapter.py``). Measured by ``benchmarks/bench_from_pyfunc.py``
on radon's default model (varying intercept, partial pooling; 4 chains x 1,000 draws after 1,000 tuning,
seed 20261121, 97,648 gradient evaluations per run), 5 alternating runs per route in one warm process, on 2
cores shared with other jobs (load average 4.6 before, 6.0 after; 2026-11-30)::

    route                median s   min s   us/evaluation   runs (s)
    C callbacks (today)      2.74    2.55           28.06   2.60 2.74 2.55 3.18 3.24
    from_pyfunc              9.35    5.96           95.78   8.97 11.09 5.96 9.35 11.90

from_pyfunc costs +241 % wall time (median against median; +134 % best against best; an earlier look on a
quieter machine, the second run of each with seed 1: 0.82 s against 3.41 s, +315 %). The threshold of issue 11
was +25 %.

Decision: keep the C callbacks and the pin. The cost is structural, not noise: every gradient crosses into
Python (a new array, a call, a tuple back) and takes the GIL, so the chains that run in parallel on the C route
(two threads on two cores) queue for one interpreter; radon's gradient is cheap enough that this overhead is
most of the time. Note also that ``from_pyfunc`` is not exported by ``nutpie/__init__`` in 0.16.11 nor
documented, so it is only less internal, not a promised interface. It stays here, tested to give the same draws,
as the fallback should an upgrade break the C route.
"""

from __future__ import annotations

import dataclasses
import sys
import types as python_types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

CHECKED_NUTPIE = "0.16.11"
CHECKED_NUMBA = "0.68.0"

# ------------------------------------------------------------------------------------------------ what nutpie samples
class NutpieModel(Protocol):
    """What ``nutpie.sample`` takes: nutpie's ``CompiledModel`` (``nutpie/sample.py``), whichever route built it
    (nutpie's own compile, :func:`callback_model`, :func:`pyfunc_model`). nutpie ships no type information, so
    this names the members ``sample`` reads; ``tests/test_nutpie_adapter.py`` checks that ``CompiledModel`` still
    defines each of them. Every member is read-only: nutpie's models are frozen dataclasses."""

    @property
    def dims(self) -> dict[str, tuple[str, ...]] | None:
        """The dims of each stored variable, by name."""
        ...

    @property
    def reparameterized_names(self) -> list[str] | None:
        """The transformed value variables (``sigma_log__``, ...) that ``sample`` moves out of the posterior."""
        ...

    @property
    def n_dim(self) -> int:
        """The number of unconstrained parameters (``sample`` starts every chain's mass matrix from it)."""
        ...

    @property
    def coords(self) -> Any:
        """Labels of each dim, put on the draws."""
        ...

    @property
    def shapes(self) -> dict[str, tuple[int, ...]] | None:
        """The stored variables' shapes."""
        ...

    def _make_sampler(self, *args: Any, **kwargs: Any) -> Any:
        """nutpie's own entry to its Rust sampler (private: called by ``sample`` only)."""
        ...


# ------------------------------------------------------------------------------------------------ the C callbacks
LOGP_SIGNATURE = types.int64(types.uint64, types.CPointer(types.double), types.CPointer(types.double),
                             types.CPointer(types.double), types.voidptr)
EXPAND_SIGNATURE = types.int64(types.uint64, types.uint64, types.CPointer(types.double),
                               types.CPointer(types.double), types.voidptr)
NONFINITE_GRADIENT = 3
NONFINITE_LOGP = 4


@intrinsic
def as_pointer(typingctx, address):
    """The void pointer at an integer address (inside numba-compiled code)."""

    def codegen(context, builder, signature, arguments):
        return builder.inttoptr(arguments[0], cgutils.voidptr_t)

    return types.voidptr(address), codegen


def c_callbacks(logp: Callable, expand: Callable) -> tuple[Any, Any]:
    """The two Python functions compiled as C callbacks of nutpie's signatures, cached on disk next to the module
    that defines them (callers hold ``compiled.COMPILE_LOCK``: numba's compiler is not thread-safe)."""
    return numba.cfunc(LOGP_SIGNATURE, cache=True)(logp), numba.cfunc(EXPAND_SIGNATURE, cache=True)(expand)


# ------------------------------------------------------------------------------------------------ nutpie's model
CALLBACK_MODEL_FIELDS = ("_n_dim", "dims", "_coords", "_shapes", "compiled_logp_func", "compiled_expand_func",
                         "initial_point_func", "shared_data", "shared_var_keys", "user_data", "n_expanded",
                         "shape_info", "logp_func", "expand_func")


def callback_model(*, n_dim: int, variables: Sequence[tuple[str, tuple[int, ...]]],
                   coords: Mapping[str, Sequence], dims: Mapping[str, tuple[str, ...]], logp: Any, expand: Any,
                   user_data: np.ndarray, keep_alive: Mapping[str, np.ndarray],
                   initial_point: Callable[[int], np.ndarray]) -> NutpieModel:
    """A nutpie model that samples through the C callbacks ``logp`` and ``expand`` (:func:`c_callbacks`).

    ``variables`` are the stored variables, in the order ``expand`` writes them (name, shape); ``user_data`` is
    the array whose address the callbacks receive, ``keep_alive`` the arrays whose addresses it holds (kept
    alive with the model); ``initial_point(seed)`` gives the unconstrained start of a chain.
    """
    from nutpie.compile_pymc import CompiledPyMCModel

    names = [name for name, _ in variables]
    shapes = [tuple(shape) for _, shape in variables]
    slices, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        slices.append(slice(start, start + size))
        start += size
    fields = dict(
        _n_dim=n_dim,
        dims=dict(dims),
        _coords={name: list(values) for name, values in coords.items()},
        _shapes=dict(zip(names, shapes, strict=True)),
        compiled_logp_func=logp,
        compiled_expand_func=expand,
        initial_point_func=initial_point,
        shared_data=dict(keep_alive),
        shared_var_keys={},  # no PyMC shared variable: with_data does not apply
        user_data=user_data,
        n_expanded=start,
        shape_info=(names, slices, shapes),
        logp_func=None,
        expand_func=None,
    )
    return CompiledPyMCModel(**fields)


# ------------------------------------------------------------------------------------------------ new data
def data_inputs(compiled) -> frozenset[str]:
    """The names of the ``pm.Data`` containers the compiled functions read: the only names ``with_data`` takes
    (a container no sampled quantity depends on is pruned from the compiled function)."""
    return frozenset(variable.name for variable in compiled.shared_var_keys)


def with_data(compiled, values: Mapping[str, object]) -> NutpieModel:
    """The compiled model with new values of its data containers (nutpie's public ``with_data``)."""
    return compiled.with_data(**values)


def initial_point_function(compiled) -> Callable[[int], np.ndarray]:
    """The function nutpie calls for a chain's start (seed -> flat unconstrained array)."""
    return compiled.initial_point_func


def with_initial_point(compiled, initial_point: Callable[[int], np.ndarray]) -> NutpieModel:
    """The compiled model with another start function (it is a frozen dataclass)."""
    return dataclasses.replace(compiled, initial_point_func=initial_point)


# ------------------------------------------------------------------------------------------------ the public route
class NonFiniteGradient(ArithmeticError):
    """A gradient with a NaN or infinity: nutpie ends the trajectory as a divergence (``is_recoverable``), as
    the C route's :data:`NONFINITE_GRADIENT` does."""

    is_recoverable = True


def pyfunc_model(*, n_dim: int, variables: Sequence[tuple[str, tuple[int, ...]]],
                 coords: Mapping[str, Sequence], dims: Mapping[str, tuple[str, ...]],
                 logp: Callable[[np.ndarray], tuple[float, np.ndarray]],
                 expand: Callable[[np.ndarray], np.ndarray], initial_point: Callable[[int], np.ndarray]
                 ) -> NutpieModel:
    """The same model through nutpie's public ``from_pyfunc``: ``logp(x)`` gives (log-density, gradient) and
    ``expand(x)`` the stored variables as one flat array in the order of ``variables``. A non-finite gradient
    raises :class:`NonFiniteGradient` (a divergence); a non-finite log-density nutpie treats as one itself."""
    from nutpie.compiled_pyfunc import from_pyfunc

    names = [name for name, _ in variables]
    shapes = [tuple(shape) for _, shape in variables]
    bounds, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        bounds.append((start, start + size))
        start += size

    def checked_logp(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = logp(x)
        if not np.isfinite(gradient).all():
            raise NonFiniteGradient("the gradient is not finite")
        return value, gradient

    def split(x: np.ndarray) -> dict[str, np.ndarray]:
        flat = expand(x)
        return {name: flat[a:b].reshape(shape) for name, shape, (a, b) in zip(names, shapes, bounds, strict=True)}

    return from_pyfunc(
        n_dim, lambda: checked_logp, lambda seed1, seed2, chain: split, [np.dtype("float64")] * len(names),
        shapes, names, coords={name: list(values) for name, values in coords.items()}, dims=dict(dims),
        make_initial_point_fn=initial_point)


# ------------------------------------------------------------------------------------------------ nutpie's arviz
NUTPIE_ARVIZ_NAMES = ("from_dict", "dict_to_dataset")  # what nutpie.sample reads from arviz (checked for 0.16.11)


def defer_full_arviz() -> None:
    """Let nutpie load without the whole ``arviz`` namespace, which costs about a second of every CLI run.

    ``nutpie.sample`` imports ``arviz`` at its top and uses two of its names, :data:`NUTPIE_ARVIZ_NAMES`, which
    ``arviz`` re-exports from arviz-base (the same functions); importing ``arviz`` also imports arviz-stats and
    arviz-plots, and through them ``scipy.stats``, which a fit does not use. So the command line (a process of
    its own; the app uses arviz and never calls this) puts a stand-in ``arviz`` module in ``sys.modules`` first:
    it holds those two functions, and any other name loads the real ``arviz`` (which then replaces it). Nothing
    changes if ``arviz`` was already imported. ``tests/test_cli.py`` checks that nutpie still reads only those
    two names.
    """
    if "arviz" in sys.modules:
        return
    import arviz_base

    class _Deferred(python_types.ModuleType):
        def __getattr__(self, name: str) -> object:
            import importlib

            if sys.modules.get("arviz") is self:
                del sys.modules["arviz"]
            return getattr(importlib.import_module("arviz"), name)

    stand_in = _Deferred("arviz", "arviz-base's from_dict and dict_to_dataset; anything else loads arviz")
    for name in NUTPIE_ARVIZ_NAMES:
        setattr(stand_in, name, getattr(arviz_base, name))
    sys.modules["arviz"] = stand_in
