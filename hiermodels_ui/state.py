"""Typed accessors for everything the pages share through ``st.session_state``.

Widget state is dropped by Streamlit when a page stops rendering the widget, so what must survive a page change
lives under the ``hm_`` keys below; widgets are seeded from it (:func:`seed`) and write back after rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from hiermodels.datasets import DEFAULT_SAMPLE, SampleDataset
from hiermodels.spec import ModelSpec, Pooling

_TABLE = "hm_table"
_SPEC = "hm_spec"
_POOLING_OPTION = "hm_pooling_option"
_FIT_KEY = "hm_fit_key"
_HIGHLIGHT = "hm_highlight"


@dataclass(frozen=True, eq=False)
class LoadedTable:
    """The table the user works on, exactly as read, with a fingerprint that keys every cache."""

    frame: pd.DataFrame
    name: str
    fingerprint: str
    sample: SampleDataset | None = None


@dataclass(frozen=True)
class FitKey:
    """What identifies a fit: the data, the model and the poolings fitted."""

    fingerprint: str
    spec: ModelSpec
    poolings: tuple[Pooling, ...]


def table() -> LoadedTable | None:
    return st.session_state.get(_TABLE)


def set_table(loaded: LoadedTable, spec: ModelSpec) -> None:
    """A new table, with the spec to start from (the sample's own, or guessed roles for an upload)."""
    st.session_state[_TABLE] = loaded
    st.session_state[_SPEC] = spec
    # Widgets of the previous table must not carry their values over to this one.
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith("w_")]:
        del st.session_state[key]


def spec() -> ModelSpec:
    return st.session_state.get(_SPEC, DEFAULT_SAMPLE.spec)


def set_spec(value: ModelSpec) -> None:
    st.session_state[_SPEC] = value


def pooling_option() -> str:
    """"all" or one pooling."""
    return st.session_state.get(_POOLING_OPTION, "all")


def set_pooling_option(value: str) -> None:
    st.session_state[_POOLING_OPTION] = value


def fit_key() -> FitKey | None:
    return st.session_state.get(_FIT_KEY)


def set_fit_key(key: FitKey | None) -> None:
    st.session_state[_FIT_KEY] = key


def highlight() -> str | None:
    return st.session_state.get(_HIGHLIGHT)


def set_highlight(group: str | None) -> None:
    st.session_state[_HIGHLIGHT] = group


def seed(key: str, value: Any, allowed: list | tuple | None = None) -> None:
    """Give widget ``key`` its remembered value, unless the widget already has one that is still allowed."""
    current = st.session_state.get(key, None)
    if key in st.session_state and (allowed is None or _allowed(current, allowed)):
        return
    st.session_state[key] = value


def _allowed(value: Any, allowed: list | tuple) -> bool:
    if isinstance(value, list):
        return all(v in allowed for v in value)
    return value in allowed
