"""Make every visit go through ``app.py``, even the very first one after the server starts.

Streamlit keeps one process-wide flag, ``PagesManager.uses_pages_directory``, that is True while a
``pages/`` folder sits next to the main script and no session has yet called ``st.navigation``. While it
is True, a first visit straight to ``/train`` runs ``pages/train.py`` on its own (the old multipage mode):
no page config, no logo, no sidebar, a page list built from file names. The flag turns False only once
``app.py`` runs ``st.navigation`` in some session. This module, imported by ``ui`` (so by every page),
turns it off at once and reruns, so the rerun goes through ``app.py``'s navigation.
"""

from __future__ import annotations

import streamlit as st


def leave_legacy_multipage_mode() -> None:
    """Switch off Streamlit's old ``pages/`` folder mode and rerun when this run was started in it."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without this internal: nothing to fix
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
