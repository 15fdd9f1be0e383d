"""Hybrid PDE page (placeholder until its twin lands in the engine)."""

import streamlit as st

import pages.common  # noqa: F401  (every page imports it: see _leave_pages_directory_mode)

st.title("Hybrid PDE")
st.info(
    "Coming next: physical solvers, neural surrogates and hybrid training."
    " This page fills in as the twin's engine lands.",
    icon=":material/construction:",
)
