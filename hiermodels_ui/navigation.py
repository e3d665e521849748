"""The app's pages in one table: file path, title and icon of each, in the order of the sidebar.

``app.py`` builds its ``st.navigation`` from :data:`PAGES`; every link between pages goes through :func:`link`
(or reads ``.path``), so a renamed page file is changed here only. Paths are relative to ``app.py``'s folder,
as Streamlit resolves them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

# The entry point (the frame every page runs inside, see app.py).
APP = "app.py"


@dataclass(frozen=True)
class PageInfo:
    """One page of the app: its script, its title in the sidebar and its Material icon."""

    path: str
    title: str
    icon: str


DATA = PageInfo("pages/1_data.py", "Data", ":material/table:")
MODEL = PageInfo("pages/2_model.py", "Model & fit", ":material/play_arrow:")
POOLING_DIAL = PageInfo("pages/7_pooling_dial.py", "Pooling dial", ":material/tune:")
SHRINKAGE = PageInfo("pages/3_shrinkage.py", "Shrinkage", ":material/compress:")
MAP_VS_MEAN = PageInfo("pages/4_map_vs_mean.py", "MAP vs mean", ":material/balance:")
POPULATION = PageInfo("pages/5_population.py", "Population & prediction", ":material/groups:")
DIAGNOSTICS = PageInfo("pages/6_diagnostics.py", "Diagnostics", ":material/troubleshoot:")

PAGES: tuple[PageInfo, ...] = (DATA, MODEL, POOLING_DIAL, SHRINKAGE, MAP_VS_MEAN, POPULATION, DIAGNOSTICS)
# The pages that show a fit (linked from the Model page once a fit is done).
RESULT_PAGES: tuple[PageInfo, ...] = (POOLING_DIAL, SHRINKAGE, MAP_VS_MEAN, POPULATION, DIAGNOSTICS)


def st_pages() -> list[Any]:
    """The ``st.Page`` of every page, for ``st.navigation``; the Data page opens first."""
    return [st.Page(page.path, title=page.title, icon=page.icon, default=page is DATA) for page in PAGES]


def link(page: PageInfo, label: str | None = None, icon: str | None = None, where: Any = st) -> None:
    """A link to ``page`` (its title and icon unless ``label`` / ``icon`` say otherwise), drawn in ``where``
    (``st`` or a container such as a column)."""
    where.page_link(page.path, label=label or page.title, icon=icon or page.icon)
