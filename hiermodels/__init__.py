"""hiermodels: see partial pooling.

Fit complete-, no- and partial-pooling models of grouped data with PyMC, and compare them: shrinkage, the joint
mode (MAP) beside the posterior mean, and what the population says about a new group.

>>> from hiermodels import ModelSpec, fit, read_table
>>> frame = read_table("sample_data/radon.csv")
>>> result = fit(frame, ModelSpec(outcome="log_radon", group="county", predictors=("floor",)))  # doctest: +SKIP
>>> result.population()  # doctest: +SKIP
"""

from hiermodels.comparison import PoolingComparison
from hiermodels.data import PreparedData, prepare, read_table
from hiermodels.errors import DataError, FileReadError, FitCancelled, FitFailed, HierModelsError, SpecError
from hiermodels.fitting import FitProgress, fit, fit_poolings
from hiermodels.results import FitResult
from hiermodels.spec import (
    CAREFUL_SAMPLER,
    FAMILIES,
    POOLINGS,
    QUICK_SAMPLER,
    ModelSpec,
    Prior,
    SamplerSettings,
)

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
