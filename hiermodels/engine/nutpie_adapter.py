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

4. **nutpie's compile of a PyMC model, with its two C callbacks kept on disk** (:func:`compile_pymc_model`, which
   ``hiermodels.engine.compiled`` calls for every model nutpie compiles). ``nutpie.compile_pymc_model`` turns
   the model into two PyTensor functions compiled by numba, which PyTensor caches on disk, and then wraps each
   in a ``numba.cfunc`` that unpacks the shared data from the user-data record with generic numba code
   (``literal_unroll`` over the arrays, a fancy ``out[...] =``). That wrapping is compiled afresh in every
   process and was most of a compile: with every disk cache warm, 9.4 s of Penicillin's 12.2 s command-line
   run (0.4 s more per shared array), 5.5 s for the textbook model. nutpie has no option for it (passing
   ``cache=True`` through its ``**kwargs`` gives a callback that numba will not cache: it closes over the
   PyTensor function). So this module writes the two callbacks as Python source specialised to the model
   (:data:`CALLBACK_SOURCE`: the parameter count, and each shared array's dtype, rank and slots in nutpie's
   record, as literals), to a file named by a hash of that source, of PyTensor's cache keys of the two inner
   functions, of this file and of numba's version, and compiles them with ``cache=True``: a new process loads
   them in about 0.1 s (1.6 s the first time on a machine). The model it returns is nutpie's own
   ``CompiledPyMCModel`` with nutpie's own fields, so ``with_data``, the initial point and sampling are
   unchanged; the same seed gives the same draws as nutpie's compile (``tests/test_nutpie_adapter.py``).
   Where PyTensor gives a function no cache key (an Op it cannot cache), it is nutpie's own compile. This
   uses ``compile_pymc._make_functions`` (the two PyTensor functions, the initial point, the shape
   information), ``_prepare_dims_and_coords``, ``make_user_data`` and its record's layout
   (``shared.data``, ``shared.size``, ``shared.shape``, one field per shared variable's key), and
   PyTensor's ``pytensor.link.numba.cache.CACHED_SRC_FUNCTIONS`` (generated function -> its cache key).

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
import hashlib
import importlib.util
import os
import sys
import threading
import types as python_types
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

CHECKED_NUTPIE = "0.16.11"
CHECKED_NUMBA = "0.68.0"
# The callbacks numba caches on disk are keyed by this file's text too: an edit here (as_pointer, the source
# below) compiles them afresh.
_ADAPTER_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()

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


# ------------------------------------------------------------------------------------------------ PyMC models
# The two callbacks of a PyMC model, as nutpie's own (compile_pymc._make_c_logp_func / _make_c_expand_func) but
# with the shared arrays' slots in the user-data record written in as literals. {arrays} builds s0, s1, ... from
# the record (meta: the record as uint64 words); {args} passes them to the PyTensor function, in its order.
CALLBACK_SOURCE = """\
import numba
import numpy as np

from hiermodels.engine.nutpie_adapter import as_pointer

LOGP_INNER = None  # PyTensor's compiled log-density and gradient, set before compiling
EXPAND_INNER = None  # PyTensor's compiled stored variables


def logp(dim, x_, out_, logp_, user_data_):
    if dim != {n_dim}:
        return -1
    meta = numba.carray(user_data_, ({record_words},), np.uint64)
    x = numba.carray(x_, ({n_dim},))
    out = numba.carray(out_, ({n_dim},))
    value_out = numba.carray(logp_, (1,))
{logp_arrays}
    try:
        value, gradient = LOGP_INNER(x{logp_args})
    except Exception:  # noqa: BLE001
        return 1
    value_out[0] = value
    finite = True
    for i in range({n_dim}):
        out[i] = gradient[i]
        finite = finite and np.isfinite(gradient[i])
    if not finite:
        return {nonfinite_gradient}
    if not np.isfinite(value):
        return {nonfinite_logp}
    return 0


def expand(dim, expanded, x_, out_, user_data_):
    if dim != {n_dim} or expanded != {n_expanded}:
        return -1
    meta = numba.carray(user_data_, ({record_words},), np.uint64)
    x = numba.carray(x_, ({n_dim},))
    out = numba.carray(out_, ({n_expanded},))
{expand_arrays}
    try:
        (values,) = EXPAND_INNER(x{expand_args})
    except Exception:  # noqa: BLE001
        return -2
    for i in range({n_expanded}):
        out[i] = values[i]
    return 0
"""


def _record_slots(user_data: np.ndarray, key: str, ndim: int) -> tuple[int, tuple[int, ...]]:
    """The uint64 words of nutpie's user-data record that hold one shared array's address and its shape."""
    def offset(dtype: np.dtype, field: str) -> int:
        fields = dtype.fields
        assert fields is not None, f"nutpie's user-data record has no field {field}"
        return int(fields[field][1])

    record = user_data.dtype
    shared = record["shared"]

    def word(part: str) -> int:
        return (offset(record, "shared") + offset(shared, part) + offset(shared[part], key)) // 8

    return word("data"), tuple(word("shape") + axis for axis in range(ndim))


def _array_lines(keys: Sequence[str], shared_data: Mapping[str, np.ndarray],
                 user_data: np.ndarray) -> tuple[str, str]:
    """The source lines that rebuild the shared arrays ``keys`` from the record, and the call's arguments."""
    lines, args = [], ""
    for position, key in enumerate(keys):
        array = shared_data[key]
        data_word, shape_words = _record_slots(user_data, key, array.ndim)
        shape = "(" + "".join(f"meta[{word}], " for word in shape_words) + ")"
        lines.append(f"    s{position} = numba.carray(as_pointer(meta[{data_word}]), {shape}, np.{array.dtype.name})")
        args += f", s{position}"
    return "\n".join(lines) or "    pass", args


def _callback_folder() -> Path:
    """Where the callbacks' source (and numba's cache of them, in its ``__pycache__``) lives: beside PyTensor's
    own compile cache, so that clearing one clears both."""
    from pytensor import config

    folder = Path(config.base_compiledir) / "hiermodels_callbacks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _callback_module(source: str, name: str) -> python_types.ModuleType:
    """The callbacks' module, from a file written once (atomically: other processes may be writing it too) and
    registered in ``sys.modules`` (numba's cached code finds its module there by name when it is loaded)."""
    if name in sys.modules:
        return sys.modules[name]
    path = _callback_folder() / f"{name}.py"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_text(source, encoding="utf-8")
        os.replace(partial, path)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def compile_pymc_model(model) -> NutpieModel:
    """nutpie's numba compile of a PyMC model, with the C callbacks cached on disk (group 4 of the module
    docstring); nutpie's own compile where PyTensor cannot cache a function. Callers hold
    ``compiled.COMPILE_LOCK``."""
    from nutpie import compile_pymc as nutpie_compile
    from pymc.initial_point import make_initial_point_fn
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    # nutpie's defaults: the support point, jittered for every free variable, one chain at a time.
    pymc_start = make_initial_point_fn(model=model, default_strategy="support_point",
                                       jitter_rvs=set(model.free_RVs), return_transformed=True)
    lock = threading.Lock()

    def locked_start(seed):
        with lock:
            return pymc_start(seed)

    (n_dim, n_expanded, logp_function, expand_function, initial_point, shape_info,
     reparameterized_names) = nutpie_compile._make_functions(model, mode="NUMBA", compute_grad=True, join_expanded=True,
                                              pymc_initial_point_fn=locked_start)
    logp_inner, expand_inner = logp_function.vm.jit_fn, expand_function.vm.jit_fn
    inner_keys = [CACHED_SRC_FUNCTIONS.get(inner.py_func) for inner in (logp_inner, expand_inner)]
    if not all(inner_keys):
        return nutpie_compile.compile_pymc_model(model, backend="numba")

    # The shared arrays and the user-data record, exactly as nutpie makes them (with_data rewrites the record).
    shared_data, shared_var_keys = {}, {}
    for variable in [*logp_function.get_shared(), *expand_function.get_shared()]:
        if variable not in shared_var_keys:
            key = uuid.uuid4().hex
            shared_data[key] = np.array(variable.get_value(), order="C", copy=True)
            shared_data[key].flags.writeable = False
            shared_var_keys[variable] = key
    user_data = nutpie_compile.make_user_data(shared_var_keys, shared_data)

    logp_arrays, logp_args = _array_lines([shared_var_keys[v] for v in logp_function.get_shared()], shared_data,
                                          user_data)
    expand_arrays, expand_args = _array_lines([shared_var_keys[v] for v in expand_function.get_shared()],
                                              shared_data, user_data)
    source = CALLBACK_SOURCE.format(n_dim=n_dim, n_expanded=n_expanded, record_words=user_data.dtype.itemsize // 8,
                                    logp_arrays=logp_arrays, logp_args=logp_args, expand_arrays=expand_arrays,
                                    expand_args=expand_args, nonfinite_gradient=NONFINITE_GRADIENT,
                                    nonfinite_logp=NONFINITE_LOGP)
    digest = hashlib.sha256("\0".join([source, *map(str, inner_keys), _ADAPTER_HASH, numba.__version__]).encode())
    module = _callback_module(source, f"hiermodels_callbacks_{digest.hexdigest()[:32]}")
    # numba reads the module's globals when it compiles (a cache miss); a cache hit does not need them.
    vars(module).update(LOGP_INNER=logp_inner, EXPAND_INNER=expand_inner)
    logp_callback, expand_callback = c_callbacks(vars(module)["logp"], vars(module)["expand"])

    dims, coords = nutpie_compile._prepare_dims_and_coords(model, shape_info, reparameterized_names)
    return nutpie_compile.CompiledPyMCModel(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp_callback, compiled_expand_func=expand_callback, initial_point_func=initial_point,
        shared_data=shared_data, shared_var_keys=shared_var_keys, user_data=user_data, n_expanded=n_expanded,
        shape_info=shape_info, logp_func=logp_function, expand_func=expand_function,
        reparameterized_names=reparameterized_names)


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
