"""Astrochemistry page (placeholder until its twin lands in the engine)."""

import streamlit as st

st.title("Astrochemistry")
st.info(
    "Coming next: the UMIST RATE22 network, the stiff solver and the emulator."
    " This page fills in as the twin's engine lands.",
    icon=":material/construction:",
)
