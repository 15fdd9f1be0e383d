"""`bench ui` floor reference: one plotly chart app."""

import streamlit as st

st.title("Floor")
st.plotly_chart({"data": [{"type": "scatter", "y": [1, 3, 2]}], "layout": {"height": 300}})
