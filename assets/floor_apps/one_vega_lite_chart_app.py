"""`bench ui` floor reference: one vega lite chart app."""

import streamlit as st

st.title("Floor")
st.vega_lite_chart({"data": {"values": [{"x": 0, "y": 1}, {"x": 1, "y": 3}, {"x": 2, "y": 2}]},
                    "mark": "line", "height": 300,
                    "encoding": {"x": {"field": "x", "type": "quantitative"},
                                 "y": {"field": "y", "type": "quantitative"}}})
