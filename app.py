"""Tastemaker dashboard: page setup, navigation and the shared sidebar. Pages live in ``pages/``.

Every URL goes through the ``st.navigation`` below, even a first visit straight to ``/train`` after the
server starts (Streamlit's old ``pages/``-folder mode would run that file on its own): see
``ui/navigation.py``.
"""

from pathlib import Path

import streamlit as st

import ui
from ui import access, layout, navigation, state

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

page = st.navigation(navigation.pages())

with ui.guard("opening the studio") as outcome:
    state.start_session()
if outcome.ok:
    layout.sidebar()
    with ui.guard("showing this page"):
        navigation.run(page)
