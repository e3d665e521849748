"""hiermodels: see partial pooling.

Fit complete-, no- and partial-pooling models of grouped data with PyMC, and compare them: shrinkage, the joint
mode (MAP) beside the posterior mean, and what the population says about a new group.

>>> from hiermodels import ModelSpec, fit, read_table
>>> frame = read_table("sample_data/radon.csv")
>>> result = fit(frame, ModelSpec(outcome="log_radon", group="county", predictors=("floor",)))  # doctest: +SKIP
>>> result.population()  # doctest: +SKIP
"""

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
