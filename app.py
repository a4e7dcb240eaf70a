"""Tastemaker dashboard: page setup, navigation and the shared sidebar. Pages live in ``views/``.

The folder is deliberately not called ``pages/``: Streamlit treats a ``pages/`` folder beside the main
script as its old file-based multipage mode, where a first visit straight to ``/train`` after the server
starts would run that file on its own (no page config, no sidebar, no navigation). With ``views/``, every
URL goes through the ``st.navigation`` below.
"""

from pathlib import Path

import streamlit as st

import ui
from ui import access, layout, state

ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "assets"

st.set_page_config(
    page_title="Tastemaker",
    page_icon=str(ASSETS / "logo-mark.svg"),
    layout="wide",
    initial_sidebar_state="expanded",
)
st.logo(str(ASSETS / "logo.svg"), icon_image=str(ASSETS / "logo-mark.svg"), size="large")
layout.inject_css()
access.require_access()  # serves only the sign-in page (or the refusal) unless this session may go on

PAGES = [
    st.Page(str(ROOT / "views/data.py"), title="Data", icon="📁", default=True),
    st.Page(str(ROOT / "views/train.py"), title="Train", icon="🏋️"),
    st.Page(str(ROOT / "views/results.py"), title="Results", icon="🏆"),
    st.Page(str(ROOT / "views/explore.py"), title="Explore", icon="🧭"),
    st.Page(str(ROOT / "views/recommend.py"), title="Recommendations", icon="🎯"),
]
page = st.navigation(PAGES)

with ui.guard("opening the studio") as outcome:
    state.start_session()
if outcome.ok:
    layout.sidebar()
    with ui.guard("showing this page"):
        page.run()
