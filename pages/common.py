"""Shared page helpers (UI only): asset paths, a cached system description, error display."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from engine.errors import TwinLabError

ASSETS = Path(__file__).resolve().parent.parent / "assets"

# (script, title, material icon, url path): the navigation, in order; the first is the home page at "/".
PAGE_TABLE = [
    ("pages/home.py", "Twin Lab", ":material/science:", ""),
    ("pages/synthesis.py", "Synthesis twin", ":material/deployed_code:", "synthesis"),
    ("pages/astrochem.py", "Astrochemistry", ":material/nights_stay:", "astrochem"),
    ("pages/diffusion.py", "Graph diffusion", ":material/hub:", "diffusion"),
    ("pages/hybrid_pde.py", "Hybrid PDE", ":material/waves:", "hybrid-pde"),
]


@st.cache_resource
def system_info() -> dict:
    """Backend, device and versions, resolved once per server process."""
    from engine.backend import describe

    return describe()


@contextmanager
def user_errors():
    """Show engine input errors as a red message box instead of a traceback."""
    try:
        yield
    except TwinLabError as error:
        st.error(str(error), icon=":material/error:")
