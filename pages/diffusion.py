"""Graph diffusion page (placeholder until its twin lands in the engine)."""

import streamlit as st

st.title("Graph diffusion")
st.info(
    "Coming next: Laplacian-driven diffusion sampling with live trajectories."
    " This page fills in as the twin's engine lands.",
    icon=":material/construction:",
)
