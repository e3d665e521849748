r"""Every prior family in one table: what it is called, what it takes, where it lives and how PyMC moves it.

A prior is written ``name(p1, p2, ...)`` (``normal(0, 2.5)``); :data:`PRIOR_FAMILIES` maps each ``name`` to one
frozen :class:`PriorFamily` row, and every place that needs a fact about a family reads it from that row:

===========================  ==========================================================================
fact (field)                 read by
===========================  ==========================================================================
``parameters``               ``spec.Prior`` (how many numbers, their names in messages), ``priors`` (PyMC's
                             keyword arguments, which are these names), the engine's prior rows
``positive``                 ``spec.Prior`` (which numbers must be > 0)
``support``                  ``spec.Prior.support``, hence which parameter may take the prior
``pymc_name``                ``priors.prior_distribution`` (the PyMC class, resolved on use)
``transform``                the gaussian engine (``_to_constrained`` and ``to_unconstrained``)
``engine_code``              the gaussian engine's prior rows and the branches of its numba ``_prior_logp``
``support_point``            the gaussian engine's start (PyMC's ``support_point``)
``latex``                    ``notation`` (the model in formulas)
===========================  ==========================================================================

Supports and transforms are PyMC's (``tests/test_prior_families.py`` checks each row against PyMC itself):
``real`` families have no transform; ``positive`` families the log transform :math:`x = e^y`; the ``interval``
family ``uniform(lower, upper)`` the interval transform :math:`x = l + (u - l)\,\mathrm{logistic}(y)`, whose
bounds are its first two parameters; ``lkj(eta)`` is a distribution of correlation matrices (PyMC's
``LKJCorr``, transformed by ``CholeskyCorrTransform``) and has no engine code: the engine handles the
correlation block itself.

Adding a family: add its name to :data:`PriorDistribution`, a row to :data:`PRIOR_FAMILIES` and, when the gaussian
engine should take it, the next unused ``engine_code`` and a branch of ``gaussian_engine._prior_logp``. Codes never
change: numba keeps the compiled engine on disk keyed by ``gaussian_engine.py``'s own source, with the codes
frozen in, so a code changed here alone would leave a stale program (a new family's logp branch edits that file,
which recompiles it).

This module imports nothing heavy (no PyMC, no numba), so that ``spec`` can read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    import pymc as pm

PriorDistribution = Literal[
    "normal",
    "studentt",
    "cauchy",
    "flat",
    "uniform",
    "halfnormal",
    "halfcauchy",
    "halfstudentt",
    "exponential",
    "gamma",
    "halfflat",
    "lkj",
]
Support = Literal["real", "positive", "interval", "correlation"]
Transform = Literal["none", "log", "interval", "cholesky_corr"]

# A prior row of the gaussian engine holds at most this many parameters (studentt's nu, mu, sigma).
ENGINE_PARAMETERS = 3


@dataclass(frozen=True)
class PriorFamily:
    """One prior family (see the module docstring for who reads which field)."""

    name: PriorDistribution
    # PyMC's keyword arguments, in the order a prior is written: normal(mu, sigma).
    parameters: tuple[str, ...]
    # The parameters that must be strictly positive (cauchy's alpha is its location, so it is not).
    positive: tuple[str, ...]
    support: Support
    # The PyMC class, by name: ``pymc`` is imported only when a model is built (:attr:`pymc_class`).
    pymc_name: str
    transform: Transform
    # The family's code in the gaussian engine's prior rows; None when the engine does not take it as a scalar.
    engine_code: int | None
    # PyMC's support_point of a scalar with this prior, from its parameters (None: not a scalar).
    support_point: Callable[[Sequence[float]], float] | None
    latex: str

    @property
    def pymc_class(self) -> type[pm.Distribution]:
        """The PyMC distribution class (``pm.Normal`` for ``normal``)."""
        import pymc as pm

        return getattr(pm, self.pymc_name)

    def signature(self) -> str:
        """``normal(mu, sigma)``, for messages."""
        return f"{self.name}({', '.join(self.parameters)})"


_ROWS = (
    PriorFamily("normal", ("mu", "sigma"), ("sigma",), "real", "Normal", "none", 0,
                lambda p: p[0], r"\mathcal{N}"),
    PriorFamily("studentt", ("nu", "mu", "sigma"), ("nu", "sigma"), "real", "StudentT", "none", 1,
                lambda p: p[1], r"\mathrm{StudentT}"),
    PriorFamily("cauchy", ("alpha", "beta"), ("beta",), "real", "Cauchy", "none", 2,
                lambda p: p[0], r"\mathrm{Cauchy}"),
    PriorFamily("flat", (), (), "real", "Flat", "none", 3,
                lambda p: 0.0, r"\mathrm{Flat}"),
    PriorFamily("uniform", ("lower", "upper"), (), "interval", "Uniform", "interval", 4,
                lambda p: (p[0] + p[1]) / 2, r"\mathrm{Uniform}"),
    PriorFamily("halfnormal", ("sigma",), ("sigma",), "positive", "HalfNormal", "log", 5,
                lambda p: p[0], r"\mathrm{HalfNormal}"),
    PriorFamily("halfcauchy", ("beta",), ("beta",), "positive", "HalfCauchy", "log", 6,
                lambda p: p[0], r"\mathrm{HalfCauchy}"),
    PriorFamily("halfstudentt", ("nu", "sigma"), ("nu", "sigma"), "positive", "HalfStudentT", "log", 7,
                lambda p: p[1], r"\mathrm{HalfStudentT}"),
    PriorFamily("exponential", ("lam",), ("lam",), "positive", "Exponential", "log", 8,
                lambda p: 1 / p[0], r"\mathrm{Exponential}"),
    PriorFamily("gamma", ("alpha", "beta"), ("alpha", "beta"), "positive", "Gamma", "log", 9,
                lambda p: p[0] / p[1], r"\mathrm{Gamma}"),
    PriorFamily("halfflat", (), (), "positive", "HalfFlat", "log", 10,
                lambda p: 1.0, r"\mathrm{HalfFlat}"),
    PriorFamily("lkj", ("eta",), ("eta",), "correlation", "LKJCorr", "cholesky_corr", None,
                None, r"\mathrm{LKJ}"),
)

PRIOR_FAMILIES: Mapping[PriorDistribution, PriorFamily] = MappingProxyType({row.name: row for row in _ROWS})
PRIOR_DISTRIBUTIONS: tuple[PriorDistribution, ...] = get_args(PriorDistribution)


def _check_table() -> None:
    """The table agrees with itself (a wrong row fails at import, not in a fit)."""
    if tuple(PRIOR_FAMILIES) != PRIOR_DISTRIBUTIONS or len(_ROWS) != len(PRIOR_FAMILIES):
        raise RuntimeError("PRIOR_FAMILIES needs exactly one row per PriorDistribution name, in the same order")
    codes = [row.engine_code for row in _ROWS if row.engine_code is not None]
    if len(set(codes)) != len(codes):
        raise RuntimeError(f"two prior families share a gaussian engine code: {sorted(codes)}")
    for row in _ROWS:
        if not set(row.positive) <= set(row.parameters):
            raise RuntimeError(f"{row.name}: its positive parameters must be among {row.parameters}")
        if row.engine_code is not None and (len(row.parameters) > ENGINE_PARAMETERS or row.support_point is None):
            raise RuntimeError(f"{row.name}: an engine family takes at most {ENGINE_PARAMETERS} parameters and "
                               "needs a support point")
        if row.support == "interval" and row.parameters[:2] != ("lower", "upper"):
            raise RuntimeError(f"{row.name}: an interval family's first two parameters are its bounds")


_check_table()


def engine_codes(transform: Transform | None = None) -> dict[PriorDistribution, int]:
    """Name -> gaussian engine code of every family the engine takes (with ``transform``, of those only)."""
    return {row.name: row.engine_code for row in _ROWS
            if row.engine_code is not None and transform in (None, row.transform)}
