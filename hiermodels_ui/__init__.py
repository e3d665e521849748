"""The Streamlit side of hiermodels: session state, caching and small widgets shared by the pages.

``hiermodels`` (the core) never imports Streamlit; this package is the only place that does, apart from the
pages themselves. ``state`` holds the typed session-state accessors, ``cache`` every ``st.cache_*``, and
``widgets`` the helpers that show user-supplied text safely and give every chart a caption and downloads.
"""
