"""Shared fixtures: paths to the bundled samples, small hand-made tables, and the helpers the log-density tests use.

The log-density helpers compile with PyTensor's ``FAST_COMPILE`` mode (Python implementations, no C compiler),
which takes a fraction of a second per model and gives the same numbers as the default mode.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats

from hiermodels.data.reading import read_table
from hiermodels.model.spec import Prior

# The app compiles the default sample's models in a background thread when it starts; AppTest runs the app in
# this process many times, where that would only compete for the two cores. (A browser test that wants it sets
# the variable back to 1 for its server.)
os.environ.setdefault("HIERMODELS_WARM_START", "0")

# The browser tests' fixtures (a streamlit server, Chromium, a fresh page per test): see browser_support.py.
from browser_support import browser, page, server  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "sample_data"


class SampleFits:
    """Each bundled sample's default model under all three poolings, fitted for real the way the app fits it
    (``fit_poolings`` with the app's ``QUICK_SAMPLER`` preset, one shared compiled-model cache and a fit queue),
    on first use and once per test session: the sample matrix, the pooling dial and the charts read the same
    fits instead of each fitting its own."""

    def __init__(self) -> None:
        from hiermodels.engine.compiled import CompiledModelCache
        from hiermodels.inference.queue import FitQueue

        self._cache = CompiledModelCache(64)
        self._queue = FitQueue(slots=1, max_waiting=4)
        self._fits: dict[str, object] = {}

    def __getitem__(self, name: str):
        if name not in self._fits:
            from dataclasses import replace

            from hiermodels.data.datasets import sample_by_name
            from hiermodels.data.preparing import prepare
            from hiermodels.inference.fitting import fit_poolings
            from hiermodels.model.spec import POOLINGS, QUICK_SAMPLER

            sample = sample_by_name(name)
            spec = replace(sample.spec, sampler=QUICK_SAMPLER)
            self._fits[name] = fit_poolings(prepare(sample.load(), spec), spec, POOLINGS,
                                            compiled_cache=self._cache, queue=self._queue)
        return self._fits[name]


@pytest.fixture(scope="session")
def sample_fits() -> SampleFits:
    return SampleFits()


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The folder of the bundled sample files (see sample_data/README.md)."""
    return SAMPLE_DATA


@pytest.fixture(scope="session")
def radon() -> pd.DataFrame:
    """Minnesota radon (Gelman & Hill 2007, ch. 12) as read_table reads it: 919 rows, 85 counties, all text."""
    return read_table(SAMPLE_DATA / "radon.csv")


@pytest.fixture(scope="session")
def sleepstudy() -> pd.DataFrame:
    """lme4's sleepstudy (Belenky et al. 2003): 180 rows, 18 subjects with 10 days each."""
    return read_table(SAMPLE_DATA / "sleepstudy.csv")


@pytest.fixture(scope="session")
def eight_schools() -> pd.DataFrame:
    """Rubin (1981) / BDA3 Table 5.2: one estimate and standard error per school."""
    return read_table(SAMPLE_DATA / "eight_schools.csv")


@pytest.fixture
def small_frame() -> pd.DataFrame:
    """Six rows in three groups, every column text (as read_table gives it); ``x`` varies within each group.

    Columns: ``g`` group, ``y`` gaussian outcome, ``x`` numeric predictor, ``c`` categorical (levels u, v, w),
    ``k`` successes out of ``n`` trials, ``yb`` 0/1, ``e`` exposure, ``pos`` positive outcome.
    """
    return pd.DataFrame(
        {
            "g": ["a", "a", "b", "b", "c", "c"],
            "y": ["1.0", "2.5", "0.3", "4.1", "2.2", "3.0"],
            "x": ["0.1", "0.5", "0.9", "0.2", "0.4", "0.8"],
            "c": ["u", "v", "w", "u", "v", "u"],
            "k": ["1", "2", "0", "4", "2", "3"],
            "n": ["5", "5", "6", "6", "7", "7"],
            "yb": ["0", "1", "0", "1", "1", "0"],
            "e": ["1.0", "2.0", "0.5", "3.0", "2.0", "1.5"],
            "pos": ["1.2", "0.7", "3.1", "2.2", "0.4", "1.9"],
        },
        dtype="string",
    )


def _scipy_logpdf(prior: Prior, x) -> float:
    """Sum of log densities of ``prior`` at ``x``, computed by scipy (not PyMC)."""
    x = np.asarray(x, dtype=float)
    p = prior.params
    match prior.distribution:
        case "normal":
            values = stats.norm.logpdf(x, loc=p[0], scale=p[1])
        case "studentt":
            values = stats.t.logpdf(x, df=p[0], loc=p[1], scale=p[2])
        case "cauchy":
            values = stats.cauchy.logpdf(x, loc=p[0], scale=p[1])
        case "uniform":
            values = stats.uniform.logpdf(x, loc=p[0], scale=p[1] - p[0])
        case "halfnormal":
            values = stats.halfnorm.logpdf(x, scale=p[0])
        case "halfcauchy":
            values = stats.halfcauchy.logpdf(x, scale=p[0])
        case "halfstudentt":
            values = np.log(2) + stats.t.logpdf(x, df=p[0], scale=p[1])
        case "exponential":
            values = stats.expon.logpdf(x, scale=1 / p[0])
        case "gamma":
            values = stats.gamma.logpdf(x, a=p[0], scale=1 / p[1])
        case other:
            raise AssertionError(f"no scipy density for {other}")
    return float(np.sum(values))


@pytest.fixture(scope="session")
def prior_logpdf() -> Callable[[Prior, object], float]:
    """``prior_logpdf(prior, x)``: the summed scipy log density of a hiermodels Prior at ``x``."""
    return _scipy_logpdf


@pytest.fixture(scope="session")
def logp_at() -> Callable[..., float]:
    """``logp_at(model, values, jacobian=False)``: the model's joint log density at a point.

    ``values`` maps *value-variable* names (the transformed space: ``sigma_log__``, ``tau_log__``...) to arrays;
    the others keep their ``model.initial_point()`` values.
    """

    def evaluate(model: pm.Model, values: Mapping[str, object], *, jacobian: bool = False) -> float:
        point = model.initial_point()
        unknown = set(values) - set(point)
        assert not unknown, f"not value variables of the model: {unknown}; it has {sorted(point)}"
        for name, value in values.items():
            point[name] = np.asarray(value, dtype=point[name].dtype).reshape(point[name].shape)
        return float(model.compile_logp(jacobian=jacobian, mode="FAST_COMPILE")(point))

    return evaluate


@pytest.fixture(scope="session")
def values_at() -> Callable[..., dict[str, np.ndarray]]:
    """``values_at(model, values)``: every free variable and deterministic, in the original (constrained) space, at
    a point given as in ``logp_at``."""

    def evaluate(model: pm.Model, values: Mapping[str, object]) -> dict[str, np.ndarray]:
        point = model.initial_point()
        for name, value in values.items():
            point[name] = np.asarray(value, dtype=point[name].dtype).reshape(point[name].shape)
        variables = [*model.free_RVs, *model.deterministics]
        function = model.compile_fn(model.replace_rvs_by_values(variables), inputs=model.value_vars,
                                    mode="FAST_COMPILE", point_fn=True, on_unused_input="ignore")
        return {v.name: np.asarray(out) for v, out in zip(variables, function(point), strict=True)}

    return evaluate


# The suite runs on two processes (pytest-xdist, ``-n 2 --dist loadgroup`` in pyproject.toml): much of it is
# single-threaded Python (numba's and PyTensor's compiles, AppTest), which one process cannot spread over two
# cores. Each test module is one xdist group, so that a module's fixtures (a streamlit server, a real fit) are
# built once, on one worker; the modules that read ``sample_fits`` share a group, so that those fits are made
# once, and so do the browser modules. The longest groups are handed out first (longest-first keeps one worker
# from finishing alone with a long module at the end); their rough lengths, from ``--durations``, only order them.
SHARED_GROUPS = {"test_sample_matrix": "sample_fits", "test_pooling_dial": "sample_fits",
                 # The browser modules run one after another on one worker: ten sessions fitting at once
                 # (test_load) beside another module's browser made a dropdown's options re-render for 30 s.
                 **dict.fromkeys(("test_browser_samples", "test_browser", "test_load", "test_browser_factors"),
                                 "browser")}
LONGEST_FIRST = ("browser", "sample_fits", "test_compiled", "test_app_dial", "test_app_results", "test_app",
                 "test_reference", "test_cli", "test_fitting", "test_charts_dial", "test_factors", "test_gaussian",
                 "test_grouped")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def group(item: pytest.Item) -> str:
        module = item.path.stem
        return SHARED_GROUPS.get(module, module)

    for item in items:
        item.add_marker(pytest.mark.xdist_group(group(item)))
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(group(item), len(rank)))  # stable: the order within a group is kept


def pytest_configure(config: pytest.Config) -> None:
    # PyTensor's C backend warns once that it found no BLAS; it changes no number these tests check.
    config.addinivalue_line("filterwarnings", "ignore:PyTensor could not link to a BLAS installation:UserWarning")
