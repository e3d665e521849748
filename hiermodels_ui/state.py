"""Typed accessors for everything the pages share through ``st.session_state``, and the link that carries it.

Widget state is dropped by Streamlit when a page stops rendering the widget, so what must survive a page change
lives under the ``hm_`` keys below; widgets are seeded from it (:func:`seed`) and write back after rendering.

The link: the chosen sample, the roles of the columns and the model choices are written to the URL's query
parameters on every rerun (:func:`sync_query`) and read once when a session starts (:func:`read_query`,
:func:`apply_query`), so that a reload or a link sent to a colleague opens the same view (the page is the URL's
path, through ``st.navigation``). Every value read from a URL is a plain string, checked against a fixed list
(samples, families, poolings, ...) or the loaded table's columns; what does not fit is left out and said so. An
uploaded table cannot travel in a link: a link made with one carries the roles and model choices, which are kept
until the colleague uploads a table with those columns.

Query parameters (repeated keys give lists)::

    sample=radon  outcome=COL  group=COL  predictor=COL...  family=gaussian|binomial|poisson|gamma|known_se
    categorical=COL... reference=LEVEL... (pairwise)  trials=COL  exposure=COL  se=COL
    pooling=all|complete|none|partial  vary=intercept|COL...  correlated=true|false
    parameterization=noncentered|centered  group_noise=true|false  preset=quick|careful
    prior=NAME=DIST(NUMBERS)...  (as on the command line; read by the prior parser, never evaluated)
    formula=lme4 formula  (only where grouping factors beyond the first are concerned: the view's model has some,
                           or the sample's own model has; read by the formula reader last, never evaluated)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import streamlit as st

from hiermodels.data.datasets import DEFAULT_SAMPLE, SAMPLES, SampleDataset
from hiermodels.errors import SpecError
from hiermodels.model.formula import formula_of, spec_from_formula, spec_options
from hiermodels.model.spec import (
    CAREFUL_SAMPLER,
    FAMILIES,
    INTERCEPT,
    PARAMETERIZATIONS,
    POOLINGS,
    QUICK_SAMPLER,
    ModelSpec,
    Pooling,
    SamplerSettings,
    parse_prior_assignment,
)
from hiermodels.results.scales import Scale

_TABLE = "hm_table"
_SPEC = "hm_spec"
_POOLING_OPTION = "hm_pooling_option"
_FIT_KEY = "hm_fit_key"
_FIT_TABLE_NAME = "hm_fit_table_name"
_HIGHLIGHT = "hm_highlight"
_SCALE = "hm_scale"
_FACTOR = "hm_factor"
_LINK_NOTES = "hm_link_notes"
_LINK_PENDING = "hm_link_pending"

PoolingOption = Literal["all", "complete", "none", "partial"]  # "all": fit the three poolings
POOLING_OPTIONS: tuple[PoolingOption, ...] = ("all", *POOLINGS)
SAMPLER_PRESETS: dict[str, SamplerSettings] = {"Quick": QUICK_SAMPLER, "Careful": CAREFUL_SAMPLER}
# The fields of a spec that say what the data are (which column plays which role); the rest is the model.
ROLE_FIELDS = ("outcome", "group", "predictors", "categorical", "family", "trials", "exposure", "se")


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
    """A new table, with the spec to start from (the sample's own, or guessed roles for an upload).

    A new table opens with its own defaults: fitting all three poolings, nothing highlighted, and no widget
    keeping its value from the previous table. A link made with an uploaded table gives its roles and model
    choices to the first upload (when its columns are there); choosing a sample drops them.
    """
    st.session_state[_TABLE] = loaded
    st.session_state[_POOLING_OPTION] = "all"
    st.session_state[_HIGHLIGHT] = None
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith("w_")]:
        del st.session_state[key]
    pending = st.session_state.pop(_LINK_PENDING, None)
    if pending is not None and loaded.sample is None:
        choices = choices_from_query(pending, loaded.frame, spec)
        spec = choices.spec
        st.session_state[_POOLING_OPTION] = choices.pooling_option
        add_link_notes(choices.notes)
    st.session_state[_SPEC] = spec


def spec() -> ModelSpec:
    return st.session_state.get(_SPEC, DEFAULT_SAMPLE.spec)


def set_spec(value: ModelSpec) -> None:
    st.session_state[_SPEC] = value


def pooling_option() -> PoolingOption:
    """"all" or one pooling."""
    return st.session_state.get(_POOLING_OPTION, "all")


def set_pooling_option(value: PoolingOption) -> None:
    st.session_state[_POOLING_OPTION] = value


def poolings_of(option: PoolingOption) -> tuple[Pooling, ...]:
    """The poolings a pooling option fits."""
    return POOLINGS if option == "all" else (option,)


def preset_of(sampler: SamplerSettings) -> str | None:
    """The name of the sampler preset these settings are, if any."""
    return next((name for name, preset in SAMPLER_PRESETS.items() if preset == sampler), None)


def fit_key() -> FitKey | None:
    return st.session_state.get(_FIT_KEY)


def set_fit_key(key: FitKey | None) -> None:
    st.session_state[_FIT_KEY] = key
    loaded = table()
    # Remembered to name the fitted data once another table is loaded (a fingerprint is no name).
    if key is not None and loaded is not None and loaded.fingerprint == key.fingerprint:
        st.session_state[_FIT_TABLE_NAME] = loaded.name
    else:
        st.session_state[_FIT_TABLE_NAME] = None


def fitted_table_name(key: FitKey) -> str:
    """The name of the table ``key`` was fitted on, as well as it is known."""
    name = st.session_state.get(_FIT_TABLE_NAME) if fit_key() == key else None
    if name:
        return name
    return key.fingerprint.removeprefix("sample:") if key.fingerprint.startswith("sample:") else "an earlier table"


def key_for_choices() -> FitKey | None:
    """The fit key of the table, roles and model choices now in the session (what Fit would store)."""
    loaded = table()
    if loaded is None:
        return None
    option = pooling_option()
    return FitKey(loaded.fingerprint, replace(spec(), pooling="partial" if option == "all" else option),
                  poolings_of(option))


def same_roles(a: ModelSpec, b: ModelSpec) -> bool:
    """Whether two specs read the data the same way (outcome, group, predictors, family, ...)."""
    return all(getattr(a, name) == getattr(b, name) for name in ROLE_FIELDS)


def fits_loaded(key: FitKey) -> bool:
    """Whether ``key`` is a fit of the table and roles loaded now."""
    loaded = table()
    return loaded is not None and key.fingerprint == loaded.fingerprint and same_roles(key.spec, spec())


def highlight() -> str | None:
    return st.session_state.get(_HIGHLIGHT)


def set_highlight(group: str | None) -> None:
    st.session_state[_HIGHLIGHT] = group


def scale() -> Scale:
    """The scale the results pages show estimates on (the outcome's own unless the user chose the link scale)."""
    return st.session_state.get(_SCALE, "natural")


def set_scale(value: Scale) -> None:
    st.session_state[_SCALE] = value


def factor() -> str | None:
    """The grouping factor the results pages show (None: the first, until one is chosen)."""
    return st.session_state.get(_FACTOR)


def set_factor(value: str | None) -> None:
    st.session_state[_FACTOR] = value


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


# ------------------------------------------------------------------------------------------------ the link
QUERY_KEYS = ("sample", "outcome", "group", "predictor", "family", "categorical", "reference", "trials", "exposure",
              "se", "pooling", "vary", "correlated", "parameterization", "group_noise", "preset", "prior", "formula")
_MAX_VALUE_CHARS = 500  # longer values are cut, so a crafted link cannot make the checks slow
_MAX_VALUES = 200
_BOOLEANS = {"true": True, "false": False}
UPLOAD_LINK = ("This link was made with an uploaded table, which cannot travel in a link. Upload the same file on "
               "the Data page to get the link's roles and model choices; until then a sample is open.")

Query = dict[str, list[str]]


@dataclass(frozen=True)
class LinkChoices:
    """What a link says about a table: the spec, the pooling option, and what was left out (plain text)."""

    spec: ModelSpec
    pooling_option: PoolingOption
    notes: tuple[str, ...] = ()


def sample_slug(sample: SampleDataset) -> str:
    """A sample's name in a link: its file name without the extension (radon, sleepstudy, ...)."""
    return Path(sample.filename).stem


def to_query(loaded: LoadedTable, spec: ModelSpec, pooling_option: PoolingOption) -> Query:
    """The query parameters of a view: the sample (none for an upload), every role and every model choice."""
    query: Query = {}
    if loaded.sample is not None:
        query["sample"] = [sample_slug(loaded.sample)]
    query["outcome"] = [spec.outcome]
    query["group"] = [spec.group]
    if spec.predictors:
        query["predictor"] = list(spec.predictors)
    query["family"] = [spec.family]
    if spec.categorical:
        query["categorical"] = [column for column, _ in spec.categorical]
        query["reference"] = [reference for _, reference in spec.categorical]
    for role in ("trials", "exposure", "se"):
        if getattr(spec, role):
            query[role] = [getattr(spec, role)]
    query["pooling"] = [pooling_option]
    if spec.varying:
        query["vary"] = list(spec.varying)
    query["correlated"] = [str(spec.correlated).lower()]
    query["parameterization"] = [spec.parameterization]
    query["group_noise"] = [str(spec.group_noise).lower()]
    preset = preset_of(spec.sampler)
    if preset is not None:
        query["preset"] = [preset.lower()]
    if spec.priors:
        # repr, not str(prior): the shortest text that reads back as the same number, so the fit key matches.
        query["prior"] = [f"{name}={prior.distribution}({', '.join(repr(v) for v in prior.params)})"
                          for name, prior in spec.priors]
    # The formula carries the further grouping factors, which the keys above do not (and says that a sample's own
    # further factor was taken out). A name a formula cannot hold leaves it out: the link then has the first factor.
    if spec.factors or (loaded.sample is not None and loaded.sample.spec.factors):
        try:
            query["formula"] = [formula_of(spec)]
        except SpecError:
            pass
    return query


def read_query(params: Any) -> Query:
    """The known keys of ``st.query_params`` (or anything with ``get_all``), values cut to a sane size."""
    return {key: [value[:_MAX_VALUE_CHARS] for value in params.get_all(key)[:_MAX_VALUES]]
            for key in QUERY_KEYS if params.get_all(key)}


def sample_from_query(query: Query) -> tuple[SampleDataset | None, tuple[str, ...]]:
    """The sample a link names, if it names a known one; a note when it names an unknown one."""
    slug = _last(query, "sample")
    if slug is None:
        return None, ()
    sample = next((s for s in SAMPLES if slug in (sample_slug(s), s.name)), None)
    if sample is None:
        known = ", ".join(sample_slug(s) for s in SAMPLES)
        return None, (f"The link names a sample {slug!r} that does not exist (known: {known}); opened "
                      f"{DEFAULT_SAMPLE.name} instead.",)
    return sample, ()


def is_upload_link(query: Query) -> bool:
    """A link made with an uploaded table: roles but no sample."""
    return "sample" not in query and "outcome" in query


def choices_from_query(query: Query, frame: pd.DataFrame, base: ModelSpec) -> LinkChoices:
    """The spec and pooling option a link gives ``frame``, starting from ``base`` (the table's own spec).

    The roles are taken together or not at all (a column missing from the table, or roles that do not make a
    model, keep the table's own); each model choice on its own. Unknown values are left out with a note.
    """
    notes: list[str] = []
    spec = base
    if "outcome" in query:
        roles = _roles_from_query(query, frame, notes)
        if roles is not None:
            varying = tuple(v for v in base.varying if v == INTERCEPT or v in roles["predictors"]) or (INTERCEPT,)
            try:
                spec = replace(base, **roles, varying=varying, correlated=base.correlated and len(varying) > 1,
                               group_noise=base.group_noise and roles["family"] == "gaussian", priors=())
            except SpecError as error:
                notes.append(f"The link's roles do not make a model ({error}): the table's own roles are used.")

    option = _choice(query, "pooling", POOLING_OPTIONS, notes) or "all"
    model: dict[str, Any] = {"pooling": "partial" if option == "all" else option}
    if "vary" in query:
        terms = (INTERCEPT, *spec.predictors)
        unknown = [v for v in query["vary"] if v not in terms]
        if unknown:
            notes.append(f"The link lets {', '.join(map(repr, unknown))} vary by group, which is not a term of this "
                         "model: left out.")
        model["varying"] = tuple(dict.fromkeys(v for v in query["vary"] if v in terms)) or spec.varying
    for name in ("correlated", "group_noise"):
        value = _choice(query, name, tuple(_BOOLEANS), notes)
        if value is not None:
            model[name] = _BOOLEANS[value]
    parameterization = _choice(query, "parameterization", PARAMETERIZATIONS, notes)
    if parameterization is not None:
        model["parameterization"] = parameterization
    preset = _choice(query, "preset", tuple(name.lower() for name in SAMPLER_PRESETS), notes)
    if preset is not None:
        model["sampler"] = SAMPLER_PRESETS[preset.capitalize()]
    varying = model.get("varying", spec.varying)
    model["correlated"] = model.get("correlated", spec.correlated) and len(varying) > 1
    model["group_noise"] = model.get("group_noise", spec.group_noise) and spec.family == "gaussian"
    try:
        spec = replace(spec, **model)
    except SpecError as error:
        notes.append(f"The link's model choices do not make a model ({error}): the table's own are used.")
    if "formula" in query:  # last: it sets the roles, the terms and every grouping factor at once
        try:
            spec = spec_from_formula(query["formula"][-1], [str(c) for c in frame.columns],
                                     **{**spec_options(spec), "priors": ()}).spec
        except SpecError as error:
            notes.append(f"The link's formula could not be used ({error}): left out.")
    # Each prior on its own: one that cannot be read or used is left out, not the rest.
    for text in query.get("prior", []):
        try:
            name, prior = parse_prior_assignment(text)
            spec = replace(spec, priors=(*((n, p) for n, p in spec.priors if n != name), (name, prior)))
        except SpecError as error:
            notes.append(f"The link's prior could not be used ({error}): left out.")
    return LinkChoices(spec, option, tuple(notes))


def _roles_from_query(query: Query, frame: pd.DataFrame, notes: list[str]) -> dict[str, Any] | None:
    columns = {str(c) for c in frame.columns}
    family = _last(query, "family") or "gaussian"
    roles: dict[str, Any] = {
        "outcome": _last(query, "outcome"), "group": _last(query, "group"),
        "predictors": tuple(dict.fromkeys(query.get("predictor", []))), "family": family,
        # As on the Data page, each family's extra column only with that family.
        "trials": _last(query, "trials") if family == "binomial" else None,
        "exposure": _last(query, "exposure") if family == "poisson" else None,
        "se": _last(query, "se") if family == "known_se" else None,
    }
    named = [roles["outcome"], roles["group"], *roles["predictors"], roles["trials"], roles["exposure"], roles["se"],
             *query.get("categorical", [])]
    missing = [c for c in dict.fromkeys(named) if c is not None and c not in columns]
    problems = []
    if missing:
        problems.append(f"column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
                        f"{'are' if len(missing) > 1 else 'is'} not in this table")
    if family not in FAMILIES:
        problems.append(f"family {family!r} is not one of {', '.join(FAMILIES)}")
    categorical, references = query.get("categorical", []), query.get("reference", [])
    if len(categorical) != len(references):
        problems.append("each categorical predictor needs one reference level")
    elif not missing:
        for column, reference in zip(categorical, references, strict=True):
            levels = set(frame[column].dropna().astype(str))
            if reference not in levels:
                problems.append(f"{reference!r} is not a level of {column!r}")
    if problems:
        notes.append("The link's roles do not fit this table (" + "; ".join(problems) + "): the table's own roles "
                     "are used.")
        return None
    roles["categorical"] = tuple(zip(categorical, references, strict=True))
    return roles


def _last(query: Query, key: str) -> str | None:
    values = query.get(key)
    return values[-1] if values else None


def _choice[Choice: str](query: Query, key: str, allowed: tuple[Choice, ...], notes: list[str]) -> Choice | None:
    value = _last(query, key)
    if value is None:
        return None
    chosen = next((option for option in allowed if option == value.lower()), None)
    if chosen is None:
        notes.append(f"The link's {key} {value!r} is not one of {', '.join(allowed)}: left out.")
    return chosen


def apply_query(query: Query) -> None:
    """Once per new session, after the link's sample (or the default one) is loaded: its roles and model choices,
    or, for a link made with an upload, keep them for the first upload."""
    if is_upload_link(query):
        st.session_state[_LINK_PENDING] = query
        return
    loaded = table()
    if loaded is None or not query:
        return
    choices = choices_from_query(query, loaded.frame, spec())
    set_spec(choices.spec)
    set_pooling_option(choices.pooling_option)
    add_link_notes(choices.notes)


def link_pending() -> bool:
    """Whether a link's roles wait for an upload."""
    return _LINK_PENDING in st.session_state


def add_link_notes(notes: tuple[str, ...] | list[str]) -> None:
    if notes:
        st.session_state[_LINK_NOTES] = [*st.session_state.get(_LINK_NOTES, []), *notes]


def pop_link_notes() -> list[str]:
    """What was left out of the link, to say once."""
    return st.session_state.pop(_LINK_NOTES, [])


def sync_query() -> None:
    """Write the view to the URL's query parameters (only when it changed: each write is a message)."""
    loaded = table()
    if loaded is None:
        return
    wanted = st.session_state.get(_LINK_PENDING) or to_query(loaded, spec(), pooling_option())
    params = st.query_params
    current = {key: params.get_all(key) for key in params if key.lower() not in ("embed", "embed_options")}
    if current != wanted:
        params.from_dict(wanted)
