"""hiermodels: see partial pooling.

Fit complete-, no- and partial-pooling models of grouped data with PyMC, and compare them: shrinkage, the joint
mode (MAP) beside the posterior mean, and what the population says about a new group.

>>> from hiermodels import ModelSpec, fit, read_table
>>> frame = read_table("sample_data/radon.csv")
>>> result = fit(frame, ModelSpec(outcome="log_radon", group="county", predictors=("floor",)))  # doctest: +SKIP
>>> result.population()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hiermodels.data.preparing import PreparedData, prepare
    from hiermodels.data.reading import read_table
    from hiermodels.errors import DataError, FileReadError, FitCancelled, FitFailed, HierModelsError, SpecError
    from hiermodels.inference.fitting import FitProgress, fit, fit_poolings
    from hiermodels.model.spec import (
        CAREFUL_SAMPLER,
        FAMILIES,
        POOLINGS,
        QUICK_SAMPLER,
        ModelSpec,
        Prior,
        SamplerSettings,
    )
    from hiermodels.results.comparison import PoolingComparison
    from hiermodels.results.fit_result import FitResult

# Each public name and the module that defines it. They load on first use (``__getattr__`` below), so that
# ``import hiermodels.cli`` or ``import hiermodels.model.spec`` does not import PyMC, nutpie and the fitting code.
_HOMES = {
    "PreparedData": "hiermodels.data.preparing",
    "prepare": "hiermodels.data.preparing",
    "read_table": "hiermodels.data.reading",
    "DataError": "hiermodels.errors",
    "FileReadError": "hiermodels.errors",
    "FitCancelled": "hiermodels.errors",
    "FitFailed": "hiermodels.errors",
    "HierModelsError": "hiermodels.errors",
    "SpecError": "hiermodels.errors",
    "FitProgress": "hiermodels.inference.fitting",
    "fit": "hiermodels.inference.fitting",
    "fit_poolings": "hiermodels.inference.fitting",
    "CAREFUL_SAMPLER": "hiermodels.model.spec",
    "FAMILIES": "hiermodels.model.spec",
    "POOLINGS": "hiermodels.model.spec",
    "QUICK_SAMPLER": "hiermodels.model.spec",
    "ModelSpec": "hiermodels.model.spec",
    "Prior": "hiermodels.model.spec",
    "SamplerSettings": "hiermodels.model.spec",
    "PoolingComparison": "hiermodels.results.comparison",
    "FitResult": "hiermodels.results.fit_result",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'hiermodels' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "CAREFUL_SAMPLER",
    "FAMILIES",
    "POOLINGS",
    "QUICK_SAMPLER",
    "DataError",
    "FileReadError",
    "FitCancelled",
    "FitFailed",
    "FitProgress",
    "FitResult",
    "HierModelsError",
    "ModelSpec",
    "PoolingComparison",
    "PreparedData",
    "Prior",
    "SamplerSettings",
    "SpecError",
    "fit",
    "fit_poolings",
    "prepare",
    "read_table",
]
