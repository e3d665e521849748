"""Small display helpers shared by the pages.

Text that comes from users (column names, group labels, messages quoting them) goes through ``st.text`` or
into dataframes and charts, never through markdown or HTML. Every chart gets a title (in the chart), a
one-sentence caption and PNG/SVG downloads; every table a CSV download with spreadsheet formulas neutralised.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import altair as alt
import pandas as pd
import streamlit as st

from hiermodels import charts
from hiermodels.model import notation
from hiermodels.model.spec import POOLING_LABELS
from hiermodels.results.comparison import PoolingComparison
from hiermodels.results.fit_result import FitResult
from hiermodels.results.scales import SCALE_LABELS, SCALES, Scale, has_link, scale_note
from hiermodels_ui import cache, navigation, state

# Every top-level Altair chart: what st.altair_chart takes.
type Figure = (alt.Chart | alt.LayerChart | alt.FacetChart | alt.ConcatChart | alt.HConcatChart | alt.VConcatChart
               | alt.RepeatChart)

# Cells that a spreadsheet would run as a formula (OWASP "CSV injection").
_FORMULA_START = re.compile(r"^[=+\-@\t\r]")


def problems(header: str, messages: Sequence[str]) -> None:
    """An error box with a fixed header, then each (possibly user-quoting) message as plain text."""
    st.error(header, icon=":material/error:")
    st.text("\n".join(f"• {message}" for message in messages))


def chart(
    figure: Figure,
    caption: str,
    filename: str,
    *,
    key: str | None = None,
    selectable: bool = False,
):
    """Show a chart with its caption and downloads; with ``selectable`` return Streamlit's selection state."""
    if isinstance(figure, (alt.Chart, alt.LayerChart)):
        # Fit the width to the page but keep the chart's own height (the default squeezes title and legend
        # into it). Exports keep the chart's own size.
        shown: Figure = figure.properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
    else:
        shown = figure.properties()  # a shallow copy: the caller's chart object is left as it was
    _skip_schema_validation(shown)
    event = st.altair_chart(
        shown, theme=None, key=key, on_select="rerun" if selectable else "ignore",
        selection_mode=["group_pick"] if selectable else None,
    )
    st.caption(caption)
    left, right, _ = st.columns([1, 1, 6])
    left.download_button("PNG", data=lambda: charts.to_png(figure), file_name=f"{filename}.png", mime="image/png",
                         key=f"png_{key or filename}", on_click="ignore", icon=":material/download:")
    right.download_button("SVG", data=lambda: charts.to_svg(figure), file_name=f"{filename}.svg",
                          mime="image/svg+xml", key=f"svg_{key or filename}", on_click="ignore",
                          icon=":material/download:")
    return event


def _skip_schema_validation(figure: alt.TopLevelMixin) -> None:
    """Make Streamlit's ``figure.to_dict()`` skip Altair's JSON-schema validation for this chart object.

    Validation takes about half of a results page's script run (~100 ms per layered chart) and can only fail
    for a chart our own code built; tests/test_charts.py validates every chart builder's output instead.
    """
    to_dict = figure.to_dict
    object.__setattr__(figure, "to_dict", lambda *args, **kwargs: to_dict(*args, **{**kwargs, "validate": False}))


def selected_group(event) -> str | None:
    """The group clicked in a selectable chart, if any."""
    if not event:
        return None
    points = event.get("selection", {}).get("group_pick", [])
    if isinstance(points, list) and points:
        group = points[0].get("group")
        return None if group is None else str(group)
    return None


def table(frame: pd.DataFrame, filename: str, *, key: str | None = None, height: int | None = None) -> None:
    """A dataframe and its CSV download."""
    st.dataframe(frame, hide_index=True, height=height or "auto")
    st.download_button("CSV", data=lambda: safe_csv(frame), file_name=f"{filename}.csv", mime="text/csv",
                       key=f"csv_{key or filename}", on_click="ignore", icon=":material/download:")


def safe_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes in which text cells that a spreadsheet would evaluate start with an apostrophe."""
    safe = frame.copy()
    for column in safe.columns:
        if pd.api.types.is_object_dtype(safe[column]) or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(
                lambda v: f"'{v}" if isinstance(v, str) and _FORMULA_START.match(v) else v
            )
    safe.columns = [f"'{c}" if _FORMULA_START.match(str(c)) else c for c in safe.columns]
    buffer = io.StringIO()
    safe.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def need_fit() -> None:
    """What a results page says before anything has been fitted."""
    st.info("Nothing fitted yet: choose the data, then fit a model on the **Model & fit** page.",
            icon=":material/info:")
    navigation.link(navigation.MODEL, "Go to Model & fit")


def require_frame() -> None:
    """Pages need ``app.py`` to have run (theme, default data). On a fresh server Streamlit may run a deep-linked
    page on its own first; send the browser through the frame instead."""
    if state.table() is None:
        # A page switch clears the query parameters: pass the link on to the frame, which reads it.
        st.switch_page(navigation.APP, query_params=[(key, st.query_params.get_all(key)) for key in st.query_params])


def current_fit() -> tuple[state.FitKey, PoolingComparison]:
    """The fit the results pages show: only a fit of the table and roles loaded now.

    The session's last fit if it is one; otherwise a stored fit of the choices now in the session (another
    session's, or this one's before a reload or a change of data and back). Without either, say why (nothing
    fitted, or the data changed since the last fit) and stop the page.
    """
    key = state.fit_key()
    fit = cache.fit_store().get(key)  # None without a key
    if key is not None and fit is not None and state.fits_loaded(key):
        return key, fit
    choices = state.key_for_choices()
    stored = cache.fit_store().get(choices)
    if choices is not None and stored is not None:
        state.set_fit_key(choices)
        return choices, stored
    if key is None or fit is None:
        need_fit()
    else:
        data_changed(key)
    st.stop()


def data_changed(key: state.FitKey) -> None:
    """What a results page says when the last fit is of other data or other roles than those loaded now."""
    loaded, spec = state.table(), state.spec()
    st.info("The data or the roles of the columns changed since the last fit, so its results are not shown. Fit "
            "the model to the data loaded now on the **Model & fit** page.", icon=":material/info:")
    # Names and formulas quote user strings: plain text.
    st.text(f"Fitted:      {state.fitted_table_name(key)}: {notation.formula(key.spec)}\n"
            f"Loaded now:  {loaded.name if loaded is not None else 'no table'}: {notation.formula(spec)}")
    navigation.link(navigation.MODEL, "Fit on Model & fit")


def fitted_model(fit: PoolingComparison) -> None:
    """Which model was fitted under which poolings: one formula per pooling, in a code block (plain text)."""
    width = max(len(POOLING_LABELS[p]) for p in fit.poolings) + 1
    lines = [f"{POOLING_LABELS[p] + ':':<{width}}  {notation.formula(fit[p].spec)}" for p in fit.poolings]
    st.code("\n".join(lines), language=None)


def pooling_choice(label: str, key: str, fit: PoolingComparison) -> str:
    """A radio over the fitted poolings, partial pooling first choice, remembered across page changes."""
    poolings = fit.poolings
    state.seed(key, "partial" if "partial" in poolings else poolings[0], poolings)
    return st.radio(label, poolings, format_func=POOLING_LABELS.get, key=key, horizontal=True)


SCALE_KEY = "w_scale"


def _remember_scale() -> None:
    state.set_scale(st.session_state[SCALE_KEY])


def scale_choice(fit: PoolingComparison) -> Scale:
    """The scale to show estimates on: the outcome's own by default, the link scale one click away; only offered
    for families with a link (binomial, poisson, gamma). Remembered across pages; says which scale is shown."""
    family = fit[fit.poolings[0]].spec.family
    if not has_link(family):
        return "natural"
    state.seed(SCALE_KEY, state.scale(), SCALES)
    scale = st.radio("Show estimates on", SCALES, key=SCALE_KEY, horizontal=True,
                     format_func=lambda s: SCALE_LABELS[s].capitalize(), on_change=_remember_scale)
    st.caption(scale_note(family, scale))
    return scale



FACTOR_KEY = "w_factor"


def _remember_factor() -> None:
    state.set_factor(st.session_state[FACTOR_KEY])


def factor_choice(fit: PoolingComparison) -> str | None:
    """With several grouping factors, a "Grouping factor" choice above the views (remembered across pages; a
    selectbox, whose options are plain text, since factor names are column names): the chosen factor's name.
    None with one grouping factor."""
    factors = list(fit[fit.poolings[0]].factor_names)
    if len(factors) < 2:
        return None
    # Set on every run, as the shrinkage page's highlight is: a widget of another page keeps no value here, and the
    # callback has stored a new choice before the page runs.
    st.session_state[FACTOR_KEY] = state.factor() if state.factor() in factors else factors[0]
    return st.selectbox("Grouping factor", factors, key=FACTOR_KEY, on_change=_remember_factor,
                        help="The views below show the groups of this factor. The first factor's groups carry the "
                             "population means; a further factor's groups are deviations around them.")


def is_first_factor(result: FitResult, factor: str | None) -> bool:
    """Whether ``factor`` (from :func:`factor_choice`) is the first grouping factor, ``spec.group``."""
    return factor is None or factor == result.spec.group


def factor_labels(result: FitResult, factor: str | None) -> list[str]:
    """The group labels of ``factor`` (the first grouping factor's when None)."""
    if is_first_factor(result, factor):
        return list(result.data.group_labels)
    return list(result.data.factors[result.factor_names.index(factor) - 1].labels)
