"""Graph diffusion page (placeholder until its twin lands in the engine)."""

import streamlit as st

import pages.common  # noqa: F401  (every page imports it: see _leave_pages_directory_mode)

st.title("Graph diffusion")
st.info(
    "Coming next: Laplacian-driven diffusion sampling with live trajectories."
    " This page fills in as the twin's engine lands.",
    icon=":material/construction:",
)
