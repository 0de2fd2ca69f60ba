"""Shape explorer: how each layer changes the shape of the data and where the parameters live."""

import streamlit as st

st.title("📐 Shape explorer")
st.info("The shape explorer is being built.")
