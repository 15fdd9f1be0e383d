"""Twin Lab: Streamlit entry point. Navigation over the pages in ``pages/``; no science here."""

from pathlib import Path

import streamlit as st

from engine.settings import configure_logging
from pages.common import ASSETS, keep_full_collections_short
from pages.navigation import PAGE_TABLE

configure_logging()
keep_full_collections_short()

st.set_page_config(page_icon=str(ASSETS / "icon.svg"), layout="wide")
st.markdown(f"<style>{(ASSETS / 'style.css').read_text()}</style>", unsafe_allow_html=True)

pages = [
    st.Page(str(Path(script)), title=title, icon=icon, url_path=url or None, default=(index == 0))
    for index, (script, title, icon, url) in enumerate(PAGE_TABLE)
]
with st.sidebar:
    st.caption("Twin Lab · physics + ML digital twins")
st.navigation(pages).run()
