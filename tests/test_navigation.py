"""The page table: every page file exists, and no page, the frame or the UI glue spells a page path itself."""

from __future__ import annotations

from pathlib import Path

from hiermodels_ui import navigation

ROOT = Path(__file__).resolve().parent.parent


def test_every_page_in_the_table_exists_once() -> None:
    paths = [page.path for page in navigation.PAGES]
    assert len(set(paths)) == len(paths) == len(list((ROOT / "pages").glob("*.py")))
    for path in [*paths, navigation.APP]:
        assert (ROOT / path).is_file(), path
    assert set(navigation.RESULT_PAGES) <= set(navigation.PAGES)
    assert navigation.PAGES[0] is navigation.DATA


def test_page_paths_are_spelled_in_the_table_only() -> None:
    sources = [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "hiermodels_ui").glob("*.py")]
    for source in sources:
        if source.name == "navigation.py":
            continue
        text = source.read_text(encoding="utf-8")
        for page in navigation.PAGES:
            assert f'"{page.path}"' not in text, f"{source.name} spells {page.path}: use hiermodels_ui.navigation"
