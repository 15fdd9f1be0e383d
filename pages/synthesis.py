"""Synthesis twin page (placeholder until its twin lands in the engine)."""

import streamlit as st

st.title("Synthesis twin")
st.info(
    "Coming next: the hot-injection CsPbBr3 physics engine, sweeps and phase maps."
    " This page fills in as the twin's engine lands.",
    icon=":material/construction:",
)
