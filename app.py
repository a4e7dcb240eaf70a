"""Tastemaker dashboard (placeholder until the dashboard issue lands)."""

import streamlit as st

st.set_page_config(page_title="Tastemaker", layout="wide")
st.title("Tastemaker")
st.write("A recommender studio for creative teams.")
