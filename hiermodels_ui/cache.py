"""Every cache of the app, in one place, each bounded.

- ``st.cache_data`` for tables read from samples or uploads, prepared data and the tidy tables computed from a
  fit (keyed by the data fingerprint and the frozen spec; unhashable payloads are passed as ``_arguments``).
- ``st.cache_resource`` for the fit store: finished fits are immutable, so one store serves every session, and
  switching back to an earlier choice of model is instant.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict

import pandas as pd
import streamlit as st

from hiermodels.data.datasets import DEFAULT_SAMPLE, SAMPLES, sample_by_name
from hiermodels.data.preparing import PreparedData, prepare
from hiermodels.data.reading import read_table
from hiermodels.engine.compiled import CompiledModelCache
from hiermodels.inference.fitting import warm
from hiermodels.inference.queue import FitQueue
from hiermodels.model.spec import POOLINGS, ModelSpec, Pooling
from hiermodels.results import interpret
from hiermodels.results.comparison import PoolingComparison
from hiermodels.results.diagnostics import Diagnostics
from hiermodels.results.pooling_dial import PoolingDial
from hiermodels.results.pooling_dial import pooling_dial as compute_pooling_dial
from hiermodels.results.scales import Scale
from hiermodels.results.variance import VarianceDecomposition, variance_decomposition
from hiermodels_ui.state import FitKey

MAX_STORED_FITS = 24
MAX_COMPILED_MODELS = 24
MAX_WAITING_FITS = 40


@st.cache_data(max_entries=16, show_spinner=False)
def sample_table(name: str) -> pd.DataFrame:
    return sample_by_name(name).load()


@st.cache_data(max_entries=8, show_spinner="Reading the file…")
def uploaded_table(content: bytes, filename: str) -> pd.DataFrame:
    return read_table(content, filename)


def content_fingerprint(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]


@st.cache_data(max_entries=32, show_spinner=False)
def prepared_data(_frame: pd.DataFrame, fingerprint: str, spec: ModelSpec) -> PreparedData:
    """``prepare`` keyed by the table's fingerprint (the frame itself is not hashed) and the spec."""
    return prepare(_frame, spec)


class FitStore:
    """A bounded, thread-safe map from :class:`FitKey` to finished fits (least recently used dropped first)."""

    def __init__(self, max_entries: int) -> None:
        self._fits: OrderedDict[FitKey, PoolingComparison] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def get(self, key: FitKey | None) -> PoolingComparison | None:
        if key is None:
            return None
        with self._lock:
            fit = self._fits.get(key)
            if fit is not None:
                self._fits.move_to_end(key)
            return fit

    def put(self, key: FitKey, fit: PoolingComparison) -> None:
        with self._lock:
            self._fits[key] = fit
            self._fits.move_to_end(key)
            while len(self._fits) > self._max_entries:
                self._fits.popitem(last=False)

    def __len__(self) -> int:
        return len(self._fits)


@st.cache_resource(show_spinner=False)
def fit_store() -> FitStore:
    return FitStore(MAX_STORED_FITS)


@st.cache_resource(show_spinner=False)
def compiled_models() -> CompiledModelCache:
    """Compiled models shared by every session: compile once per model structure (hiermodels.engine.compiled)."""
    return CompiledModelCache(MAX_COMPILED_MODELS)


@st.cache_resource(show_spinner=False)
def fit_queue() -> FitQueue:
    """One queue per server: sampling uses every core, so fits take turns (first come, first served)."""
    return FitQueue(slots=max(1, (os.cpu_count() or 2) // 2), max_waiting=MAX_WAITING_FITS)


@st.cache_resource(show_spinner=False)
def warm_start(everything: bool = True) -> threading.Thread:
    """Once per server: compile every bundled sample's default model under the three poolings in the background
    (the default sample first), so that the first Fit of any sample with its defaults does not wait for a compile.

    Compiled code also stays on disk, but nutpie's compile of a non-gaussian model still takes 8-15 s in a new
    process; the warm start pays it while nobody waits (benchmarks/bench_samples.py measures both). With
    ``everything=False``, the default sample only."""
    samples = [DEFAULT_SAMPLE, *(sample for sample in SAMPLES if sample is not DEFAULT_SAMPLE and everything)]

    def compile_all() -> None:
        for sample in samples:
            try:
                warm(compiled_models(), prepare(sample.load(), sample.spec), sample.spec, POOLINGS)
            except Exception:  # one sample's failure must not stop the others; its Fit compiles on demand
                logging.getLogger(__name__).exception("warm start of %s failed", sample.name)

    thread = threading.Thread(target=compile_all, name="hiermodels-warm-start", daemon=True)
    thread.start()
    return thread


# ------------------------------------------------------------------ tables computed from a fit, per fit key
@st.cache_data(max_entries=32, show_spinner=False)
def shrinkage_table(_fit: PoolingComparison, key: FitKey, scale: Scale = "natural",
                    factor: str | None = None) -> pd.DataFrame:
    return _fit.shrinkage(scale=scale, factor=factor)


@st.cache_data(max_entries=32, show_spinner=False)
def population_table(_fit: PoolingComparison, key: FitKey, scale: Scale = "natural") -> pd.DataFrame:
    return _fit.population(scale=scale)


@st.cache_data(max_entries=32, show_spinner=False)
def map_vs_mean_table(_fit: PoolingComparison, key: FitKey, pooling: Pooling,
                      scale: Scale = "natural", factor: str | None = None) -> pd.DataFrame:
    """:func:`interpret.map_vs_mean_table`; for a further grouping factor, its population rows with that factor's
    groups in place of the first factor's. The joint mode is not computed per group of a further factor
    (``FitResult.factor_groups``: map NaN), so those rows carry the posterior mean and interval only."""
    result = _fit[pooling]
    table = interpret.map_vs_mean_table(result, scale=scale)
    if factor is None or factor == result.spec.group:
        return table
    groups = result.groups(scale=scale, factor=factor)
    groups = groups[groups["varies"]]
    group_rows = pd.DataFrame({
        "level": "group", "name": groups["group"], "term": groups["term"], "kind": "group", "mean": groups["mean"],
        "lower": groups["lower"], "upper": groups["upper"], "map": groups["map"], "collapsed": False,
    })
    return pd.concat([table[table["level"] == "population"], group_rows], ignore_index=True)


@st.cache_data(max_entries=16, show_spinner="Turning the dial: every group's estimate at every τ…")
def pooling_dial(_fit: PoolingComparison, key: FitKey, factor: str | None, term: str | None,
                 scale: Scale = "natural") -> PoolingDial:
    """The partial-pooling fit's :func:`hiermodels.results.pooling_dial.pooling_dial` of ``term`` over ``factor``
    (raises its ValueError when the fit cannot be dialled; errors are not cached)."""
    return compute_pooling_dial(_fit["partial"], term=term, factor=factor, scale=scale)


@st.cache_data(max_entries=32, show_spinner=False)
def variance_table(_fit: PoolingComparison, key: FitKey) -> VarianceDecomposition | None:
    """The partial-pooling fit's variance decomposition (None where it has none, or without that fit)."""
    return variance_decomposition(_fit["partial"]) if "partial" in _fit.poolings else None


@st.cache_data(max_entries=32, show_spinner=False)
def diagnostics_table(_fit: PoolingComparison, key: FitKey) -> pd.DataFrame:
    rows = []
    for pooling in _fit.poolings:
        table = _fit[pooling].population()
        rows.append(table.assign(pooling=pooling)[["pooling", "name", "mean", "r_hat", "ess_bulk", "ess_tail"]])
    return pd.concat(rows, ignore_index=True)


def diagnostics(fit: PoolingComparison) -> dict[Pooling, Diagnostics]:
    """Each pooling's diagnostics. Not an ``st.cache_data``: each FitResult computes them once and keeps them, and
    the fits outlive reruns in the fit store, so a second cache would only copy them on every rerun."""
    return {pooling: fit[pooling].diagnostics() for pooling in fit.poolings}
