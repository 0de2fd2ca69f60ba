"""Losses: binary cross-entropy and cross-entropy with the numbers a student types (being written)."""

import streamlit as st

st.title("📉 Losses")
st.info("This page is being written.")
