"""hiermodels — the partial pooling explorer. The frame: page config, theme, shared state, navigation.

Run with ``streamlit run app.py``. The pages in ``pages/`` are thin scripts; the modelling lives in
``hiermodels`` and the Streamlit glue (state, caches, widgets) in ``hiermodels_ui``.
"""

import os
import sys

import streamlit as st

from hiermodels import charts
from hiermodels.data.datasets import DEFAULT_SAMPLE
from hiermodels_ui import cache, navigation, state

st.set_page_config(page_title="hiermodels: see partial pooling", page_icon=":material/scatter_plot:",
                   layout="wide")
charts.use_theme()
# The server thread answers requests (health checks, every session's websocket) between the Python work of
# compiles, samplers' progress loops and other sessions' reruns. Python hands the GIL over every 5 ms by default;
# 1 ms keeps the server's answers prompt: benchmarks/health_during_compile.py measured the 95th percentile of the
# health check's latency during a cold compile at 31 ms with 5 ms and 10 ms with 1 ms.
sys.setswitchinterval(0.001)
# HIERMODELS_WARM_START: "all" (the default: every bundled sample), "default" (the default sample only), "0" (off).
warm_start = os.environ.get("HIERMODELS_WARM_START", "all")
if warm_start != "0":
    cache.warm_start(everything=warm_start != "default")

if state.table() is None:
    # A new session opens what its link says (a reload, or a link from a colleague), else the radon sample, ready
    # to fit. Links are read once per session; from then on the session writes them (state.sync_query).
    link = state.read_query(st.query_params)
    sample, notes = state.sample_from_query(link)
    sample = sample or DEFAULT_SAMPLE
    state.set_table(state.LoadedTable(cache.sample_table(sample.name), sample.name, f"sample:{sample.name}", sample),
                    sample.spec)
    state.add_link_notes(notes)
    state.apply_query(link)

page = st.navigation(navigation.st_pages())

with st.sidebar:
    loaded = state.table()
    st.caption("Data")
    st.text(f"{loaded.name}\n{len(loaded.frame):,} rows")
    if loaded.sample is None:
        st.caption("An uploaded table cannot travel in a link: a colleague opening this link gets the model choices "
                   "but must upload the file.")
    last_key = state.fit_key()
    fitted = cache.fit_store().get(last_key)
    st.caption("Last fit")
    if fitted is None:
        st.text("none yet")
    else:
        st.text(", ".join(fitted.poolings) + " pooling"
                + ("" if state.fits_loaded(last_key) else f"\nof {state.fitted_table_name(last_key)}, not the data "
                   "or roles loaded now"))

if state.link_pending():
    st.info(state.UPLOAD_LINK, icon=":material/link:")
link_notes = state.pop_link_notes()
if link_notes:
    st.info("Some of this link could not be used:", icon=":material/link_off:")
    st.text("\n".join(f"• {note}" for note in link_notes))  # the notes quote the link: plain text

# Written before the page runs (the page may stop early) and after it (its widgets may have changed the view).
state.sync_query()
page.run()
state.sync_query()
