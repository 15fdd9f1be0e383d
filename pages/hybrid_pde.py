"""Hybrid PDE page (placeholder until its twin lands in the engine)."""

import streamlit as st

st.title("Hybrid PDE")
st.info(
    "Coming next: physical solvers, neural surrogates and hybrid training."
    " This page fills in as the twin's engine lands.",
    icon=":material/construction:",
)
