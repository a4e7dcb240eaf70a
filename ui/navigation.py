"""The studio's pages, and the rule that every visit to one goes through ``app.py``.

Streamlit treats a ``pages/`` folder beside the main script as its old file-based multipage mode until some
session calls ``st.navigation``: in that mode a first visit straight to ``/train`` after the server starts
runs ``pages/train.py`` on its own (no page config, no sidebar, and no password gate: ``app.py``'s
``access.require_access`` never runs). So ``app.py`` runs a page
only through :func:`run`, which leaves a one-shot mark in the session, and every page file starts with
:func:`through_app`: a page that finds no mark was started on its own, so it declares the app's pages with
the public ``st.navigation`` (which ends the old mode for the whole server) and reruns, and the rerun, on
the same URL and query parameters, goes through ``app.py``. The browser test
``test_a_first_visit_straight_to_a_page_goes_through_the_app`` holds this behaviour.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from streamlit.navigation.page import StreamlitPage

ROOT = Path(__file__).resolve().parents[1]
PAGES_DIR = ROOT / "pages"
_MARK = "_tm_run_by_app"  # set by run(), taken by through_app(): a page run that finds it came through app.py

# (file in pages/, title, icon): the order of the sidebar; the first is the default page.
PAGES: tuple[tuple[str, str, str], ...] = (
    ("data.py", "Data", "📁"),
    ("train.py", "Train", "🏋️"),
    ("results.py", "Results", "🏆"),
    ("explore.py", "Explore", "🧭"),
    ("recommend.py", "Recommendations", "🎯"),
)


def pages() -> list[StreamlitPage]:
    """The studio's pages for ``st.navigation``, by absolute path (the URL is the file name: ``/train``)."""
    return [
        st.Page(path(name), title=title, icon=icon, default=index == 0)
        for index, (name, title, icon) in enumerate(PAGES)
    ]


def path(name: str) -> str:
    """The absolute path of the page file ``name`` (``"train.py"``), for ``st.page_link``: a relative one
    is resolved against whichever script Streamlit was started with."""
    return str(PAGES_DIR / name)


def run(page: StreamlitPage) -> None:
    """Run ``page`` from ``app.py``, marked as having come through it."""
    st.session_state[_MARK] = True
    page.run()


def through_app() -> None:
    """First call of every page file: when this run did not come through ``app.py`` (Streamlit's old
    ``pages/`` mode ran the file on its own), switch that mode off with ``st.navigation`` and rerun."""
    if st.session_state.pop(_MARK, False):
        return
    st.navigation(pages(), position="hidden")
    st.rerun()
