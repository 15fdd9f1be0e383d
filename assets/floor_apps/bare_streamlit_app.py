"""`bench ui` floor reference: bare streamlit app."""

import streamlit as st

st.title("Floor")
st.write("one line")
