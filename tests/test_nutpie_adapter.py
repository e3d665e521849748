"""The contract with nutpie's and numba's internals (``hiermodels.engine.nutpie_adapter``): each test names the internal
it checks, so that an upgrade that changes one fails here, by name, before any fit does. When one fails, read
the adapter's docstring (what is relied on and why), adapt the adapter, and move ``CHECKED_NUTPIE`` /
``CHECKED_NUMBA``; ``EngineModel.for_pyfunc`` is the fallback that needs no internal.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import weakref

import numpy as np
import nutpie
import pymc as pm
import pytest

from hiermodels import ModelSpec, Prior, prepare, read_table
from hiermodels.engine import gaussian_engine, nutpie_adapter
from hiermodels.engine.compiled import COMPILE_LOCK, CompiledSampler
from hiermodels.model.build import build_model

UPGRADED = (f"nutpie {nutpie.__version__} (the adapter was checked against {nutpie_adapter.CHECKED_NUTPIE}): "
            "see hiermodels/engine/nutpie_adapter.py")


def compiled_pymc_model():
    from nutpie.compile_pymc import CompiledPyMCModel

    return CompiledPyMCModel


def test_compiled_pymc_model_is_the_dataclass_the_adapter_builds():
    """``CompiledPyMCModel``: a frozen dataclass with every field ``callback_model`` sets, and no required field
    it leaves out."""
    cls = compiled_pymc_model()
    assert dataclasses.is_dataclass(cls), f"{UPGRADED}: CompiledPyMCModel is no longer a dataclass"
    assert cls.__dataclass_params__.frozen, f"{UPGRADED}: CompiledPyMCModel is no longer frozen"
    fields = {f.name: f for f in dataclasses.fields(cls)}
    missing = [name for name in nutpie_adapter.CALLBACK_MODEL_FIELDS if name not in fields]
    assert not missing, f"{UPGRADED}: CompiledPyMCModel has no field {missing} (callback_model sets them)"
    required = [name for name, f in fields.items()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    unset = [name for name in required if name not in nutpie_adapter.CALLBACK_MODEL_FIELDS]
    assert not unset, f"{UPGRADED}: CompiledPyMCModel requires {unset}, which callback_model does not set"


def test_nutpie_reads_the_callbacks_and_user_data_where_the_adapter_puts_them():
    """``CompiledPyMCModel._make_model`` passes nutpie the callbacks' addresses, the user data's address, the
    stored variables from ``shape_info`` and the start from ``initial_point_func``."""
    source = inspect.getsource(compiled_pymc_model()._make_model)
    for read in ("self.compiled_logp_func.address", "self.compiled_expand_func.address",
                 "self.user_data.ctypes.data", "self.shape_info[0]", "self.shape_info[2]", "self.initial_point_func",
                 "self._coords", "self.dims", "self.n_expanded"):
        assert read in source, f"{UPGRADED}: CompiledPyMCModel._make_model no longer reads {read}"


def test_every_route_gives_the_compiled_model_nutpie_samples():
    """``nutpie.sample`` takes a ``CompiledModel``; both routes' classes are one, and it defines every member of
    the adapter's ``NutpieModel`` protocol (the type ``compiled.sampler_for`` returns)."""
    from nutpie.compile_pymc import CompiledPyMCModel
    from nutpie.compiled_pyfunc import PyFuncModel
    from nutpie.sample import CompiledModel

    taken = inspect.signature(nutpie.sample).parameters["compiled_model"].annotation
    assert taken in (CompiledModel, "CompiledModel"), f"{UPGRADED}: nutpie.sample now takes {taken}"
    for route in (CompiledPyMCModel, PyFuncModel):
        assert issubclass(route, CompiledModel), f"{UPGRADED}: {route.__name__} is no longer a CompiledModel"
    protocol = nutpie_adapter.NutpieModel
    members = set(inspect.get_annotations(protocol)) | {
        name for name, value in vars(protocol).items()
        if isinstance(value, property | types.FunctionType) and not name.startswith("__")}
    assert members == {"dims", "reparameterized_names", "n_dim", "coords", "shapes", "_make_sampler"}
    undefined = [name for name in sorted(members)
                 if not any(name in vars(cls) or name in inspect.get_annotations(cls) for cls in CompiledModel.__mro__)]
    assert not undefined, f"{UPGRADED}: nutpie's CompiledModel no longer defines {undefined} (NutpieModel names them)"


def tiny_model() -> pm.Model:
    """A one-parameter PyMC model: y_i ~ N(mu, 1), mu ~ N(0, 10), y a ``pm.Data``."""
    with pm.Model() as model:
        y = pm.Data("y", np.array([1.0, 2.0, 3.0]))
        pm.Data("unused", np.zeros(2))  # read by nothing that is sampled: pruned from the compiled function
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("obs", mu, 1, observed=y)
    return model


@pytest.fixture(scope="module")
def tiny_compiled():
    """The adapter's compile of :func:`tiny_model` (nutpie's model, the callbacks cached on disk)."""
    with COMPILE_LOCK:
        return CompiledSampler(tiny_model()).compiled


def shared_data_model(rows: int) -> pm.Model:
    """A model whose compiled functions read shared data of every kind this project's models have: a 0-d, a
    1-d and a 2-d float array and an int32 index. y_i ~ N(a[g_i] + X_i b, s), a_j ~ N(0, tau), tau's scale
    and b's scale from ``pm.Data``; a stored deterministic, so that the expand function reads data too."""
    rng = np.random.default_rng(rows)
    with pm.Model(coords={"group": range(4), "column": range(2)}) as model:
        index = pm.Data("index", rng.integers(0, 4, rows).astype("int32"))
        x = pm.Data("x", rng.normal(size=(rows, 2)))
        y = pm.Data("y", rng.normal(size=rows))
        scale = pm.Data("scale", 2.0)
        offset = pm.Data("offset", np.array([0.5, -0.5]))
        tau = pm.HalfNormal("tau", scale)
        a = pm.Normal("a", 0, tau, dims="group")
        b = pm.Normal("b", offset, 1, dims="column")
        pm.Deterministic("b_shifted", b + offset, dims="column")
        pm.Normal("obs", a[index] + pm.math.dot(x, b), pm.HalfNormal("s", 1), observed=y)
    return model


def test_the_cached_callbacks_sample_nutpies_draws_and_load_from_disk():
    """The adapter's compile of a PyMC model (group 4) against nutpie's own: the same draws from the same seed,
    to the last bit, before and after ``with_data`` changes the number of rows (the callbacks read each array's
    address and shape from nutpie's record); and a second compile of the same model loads both callbacks from
    numba's disk cache instead of compiling them."""
    from nutpie import compile_pymc

    model = shared_data_model(30)
    with COMPILE_LOCK:
        nutpies = compile_pymc.compile_pymc_model(model, backend="numba")
        ours = nutpie_adapter.compile_pymc_model(model)
        again = nutpie_adapter.compile_pymc_model(model)
    assert ours.compiled_logp_func._pyfunc.__module__.startswith("hiermodels_callbacks_")
    assert (again.compiled_logp_func.cache_hits, again.compiled_expand_func.cache_hits) == (1, 1)
    new_rows = {variable.name: variable.get_value() for variable in shared_data_model(45).data_vars}
    for a, b in ((nutpies, ours), (nutpies.with_data(**new_rows), ours.with_data(**new_rows))):
        traces = [nutpie.sample(route, draws=60, tune=60, chains=2, cores=1, seed=9, progress_bar=False).posterior
                  for route in (a, b)]
        for name in ("tau", "a", "b", "b_shifted", "s"):
            np.testing.assert_array_equal(traces[0][name].to_numpy(), traces[1][name].to_numpy(),
                                          err_msg=f"{UPGRADED}: the cached callbacks disagree with nutpie's on {name}")


def test_nutpies_compile_functions_and_user_data_record():
    """What group 4 reads of nutpie's compile: ``_make_functions``'s keywords and its seven results,
    ``_prepare_dims_and_coords``, and ``make_user_data``'s record (``shared`` holding ``data``, ``size`` and
    ``shape``, each one field per shared variable's key); and PyTensor's table of cache keys."""
    from nutpie import compile_pymc
    from pytensor.link.numba import cache

    parameters = inspect.signature(compile_pymc._make_functions).parameters
    for name in ("mode", "compute_grad", "join_expanded", "pymc_initial_point_fn"):
        assert name in parameters, f"{UPGRADED}: compile_pymc._make_functions no longer takes {name}"
    assert list(inspect.signature(compile_pymc._prepare_dims_and_coords).parameters) == [
        "model", "shape_info", "reparameterized_names"], f"{UPGRADED}: _prepare_dims_and_coords changed"
    model = shared_data_model(5)
    variables = list(model.data_vars)
    record = compile_pymc.make_user_data({v: str(i) for i, v in enumerate(variables)},
                                         {str(i): np.asarray(v.get_value()) for i, v in enumerate(variables)})
    shared = record.dtype["shared"]
    assert shared.names == ("data", "size", "shape"), f"{UPGRADED}: nutpie's user-data record changed"
    for i, variable in enumerate(variables):
        value = np.asarray(variable.get_value())
        assert int(record["shared"]["data"][str(i)]) == value.ctypes.data or value.size == 0
        assert tuple(record["shared"]["shape"][str(i)].reshape(-1)) == value.shape
    assert isinstance(cache.CACHED_SRC_FUNCTIONS, weakref.WeakKeyDictionary)


def test_a_function_pytensor_does_not_cache_gets_nutpies_own_compile():
    """Without PyTensor's cache key for the inner functions (here PyTensor's numba cache is switched off, as a
    user may do), the adapter compiles the model as nutpie does (its callbacks are nutpie's), and it samples."""
    import pytensor

    with COMPILE_LOCK, pytensor.config.change_flags(numba__cache=False):
        compiled = nutpie_adapter.compile_pymc_model(tiny_model())
    assert compiled.compiled_logp_func._pyfunc.__module__ == "nutpie.compile_pymc"
    trace = nutpie.sample(compiled, draws=100, tune=100, chains=1, seed=3, progress_bar=False)
    assert abs(float(trace.posterior["mu"].mean()) - 6 / 3.01) < 0.5


def test_callback_signatures_and_return_codes_are_nutpies(tiny_compiled):
    """The C signatures of the callbacks nutpie compiles for a PyMC model are the adapter's (compared as the
    ctypes prototypes numba gives both), and nutpie's own log-density callback
    (``compile_pymc._make_c_logp_func``) returns the adapter's codes for a non-finite gradient and value."""
    from nutpie import compile_pymc

    with COMPILE_LOCK:
        engine = gaussian_engine.callbacks(False)
        nutpies = compile_pymc.compile_pymc_model(tiny_model(), backend="numba")
    for what, theirs, ours in (("log-density", nutpies.compiled_logp_func, engine[0]),
                               ("log-density", nutpies.compiled_logp_func, tiny_compiled.compiled_logp_func),
                               ("expand", nutpies.compiled_expand_func, engine[1]),
                               ("expand", nutpies.compiled_expand_func, tiny_compiled.compiled_expand_func)):
        prototype = (theirs.ctypes.restype, theirs.ctypes.argtypes)
        assert prototype == (ours.ctypes.restype, ours.ctypes.argtypes), (
            f"{UPGRADED}: nutpie's {what} callback is now {prototype}, the adapter's "
            f"{(ours.ctypes.restype, ours.ctypes.argtypes)}")
    source = inspect.getsource(compile_pymc._make_c_logp_func)
    for code in (nutpie_adapter.NONFINITE_GRADIENT, nutpie_adapter.NONFINITE_LOGP):
        assert f"return {code}" in source, f"{UPGRADED}: nutpie's log-density callback no longer returns {code}"


def test_with_data_shared_var_keys_and_initial_point_func(tiny_compiled):
    """``with_data(**updates)`` by container name, ``shared_var_keys`` (shared variable -> key; its names are
    what ``with_data`` takes) and ``initial_point_func`` (seed -> flat start), on a compiled PyMC model."""
    signature = inspect.signature(compiled_pymc_model().with_data)
    kinds = [p.kind for p in signature.parameters.values()]
    assert kinds == [inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.VAR_KEYWORD], (
        f"{UPGRADED}: CompiledPyMCModel.with_data{signature} no longer takes the new values by keyword")
    compiled = tiny_compiled
    assert nutpie_adapter.data_inputs(compiled) == {"y"}, f"{UPGRADED}: shared_var_keys changed"
    start = nutpie_adapter.initial_point_function(compiled)(7)
    assert isinstance(start, np.ndarray) and start.shape == (1,), f"{UPGRADED}: initial_point_func changed"
    moved = nutpie_adapter.with_initial_point(nutpie_adapter.with_data(compiled, {"y": np.array([40.0, 42.0])}),
                                              lambda seed: np.array([41.0]))
    trace = nutpie.sample(moved, draws=200, tune=200, chains=1, seed=3, progress_bar=False)
    # Posterior of mu with the new data: N(82 / (2 + 1/100), ...) ~ mean 40.8, sd 0.71.
    assert abs(float(trace.posterior["mu"].mean()) - 82 / 2.01) < 0.4


@pytest.fixture(scope="module")
def small_engine_model():
    """Radon's first eight counties, varying intercept (the engine's route), with its coords and dims."""
    frame = read_table("sample_data/radon.csv")
    frame = frame[frame["county"].isin(frame["county"].unique()[:8])]
    spec = ModelSpec("log_radon", "county", ("floor",), varying=("intercept",),
                     priors={"sigma": Prior("halfnormal", (1,))})
    data = prepare(frame, spec)
    model = build_model(data, spec, "marginal")
    dims = {name: tuple(d) for name, d in model.named_vars_to_dims.items()}
    engine = gaussian_engine.engine_model(data, spec)
    with COMPILE_LOCK:
        gaussian_engine.callbacks(engine.correlated)
    return engine, model.coords, dims


def test_the_engine_samples_the_same_draws_through_both_routes(small_engine_model):
    """The C callbacks inside ``CompiledPyMCModel`` (today's route) and nutpie's public ``from_pyfunc`` around
    the same kernels: the same draws from the same seed, to the last bit, and a posterior that is the data's."""
    engine, coords, dims = small_engine_model
    traces = [nutpie.sample(route, draws=100, tune=100, chains=2, cores=1, seed=11, progress_bar=False).posterior
              for route in (engine.for_nutpie(coords, dims), engine.for_pyfunc(coords, dims))]
    assert set(traces[0].data_vars) == set(engine.names)
    for name in engine.names:
        np.testing.assert_array_equal(traces[0][name].to_numpy(), traces[1][name].to_numpy(),
                                      err_msg=f"{UPGRADED}: the two routes disagree on {name}")
    assert (traces[0]["sigma"].to_numpy() > 0).all()
    # The residual scale of log radon within counties is about 0.7-0.8 (Gelman & Hill 2007, ch. 12): far from
    # the halfnormal(1) prior's mean 0.8 only if the callbacks read the wrong data.
    assert 0.5 < float(traces[0]["sigma"].mean()) < 1.1
    assert abs(float(traces[0]["beta"].mean()) + 0.6) < 0.6  # floor: ground floor lowers log radon


def test_a_nonfinite_gradient_is_a_divergence_in_the_public_route():
    """nutpie's pyfunc route ends a trajectory as a divergence on an exception with ``is_recoverable``
    (``src/pyfunc.rs``), as the C route does on a positive return code: a standard normal whose gradient is NaN
    above 1 samples to the end, with divergences and no draw above 1."""

    def logp(x: np.ndarray) -> tuple[float, np.ndarray]:
        return float(-0.5 * x[0] ** 2), (np.array([np.nan]) if x[0] > 1 else -x)

    model = nutpie_adapter.pyfunc_model(n_dim=1, variables=(("x", ()),), coords={}, dims={}, logp=logp,
                                        expand=lambda x: x.copy(), initial_point=lambda seed: np.array([-0.5]))
    trace = nutpie.sample(model, draws=200, tune=100, chains=1, seed=5, progress_bar=False)
    assert int(trace.sample_stats["diverging"].sum()) > 0
    assert float(trace.posterior["x"].max()) <= 1
