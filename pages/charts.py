"""Vega-Lite charts for what a page shows before any click, and for what it redraws on every input change.

Measured in `bench ui` (headless Chromium, new tab, browser cache warm): an app with one Vega-Lite chart renders
in about 1.9 s, one with the smallest Plotly chart in about 3.8 s (the Plotly bundle is loaded and run in every
new tab), and after a slider change a Vega-Lite chart is redrawn about 100 ms sooner than the same Plotly
chart. So the first views use these; animations, multi-panel figures and exported reports (self-contained HTML
with plotly.js) stay Plotly. Data go in long form (one row per point) as a DataFrame.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

HEIGHT = 380


def show(frame: pd.DataFrame, spec: dict, key: str | None = None) -> None:
    """Draw ``spec`` over ``frame`` at the container's width."""
    st.vega_lite_chart(frame, spec, width="stretch", key=key)


def axis(field: str, title: str, log: bool = False, domain: list | None = None, kind: str = "quantitative") -> dict:
    """A positional encoding: ``title`` carries the unit; log axes are labelled at powers of ten."""
    encoding = {"field": field, "type": kind, "title": title}
    scale = {}
    if log:
        scale["type"] = "log"
        encoding["axis"] = {"format": "~e", "tickCount": 8}
    if domain is not None:
        scale["domain"] = domain
        scale["clamp"] = True
    if scale:
        encoding["scale"] = scale
    return encoding


def spec(mark: dict, encoding: dict, title: str | None = None, height: int = HEIGHT) -> dict:
    """A single-view Vega-Lite spec with a left-anchored title."""
    out = {"mark": mark, "encoding": encoding, "height": height}
    if title:
        out["title"] = {"text": title, "anchor": "start"}
    return out


def tooltip(*fields: tuple[str, str, str]) -> list[dict]:
    """Tooltip rows from (field, title, d3 format) triples."""
    return [{"field": field, "title": name, "type": "quantitative" if fmt else "nominal", **({"format": fmt} if fmt
                                                                                               else {})}
            for field, name, fmt in fields]


def lines(x: dict, y: dict, colour: dict | None = None, title: str | None = None, height: int = HEIGHT,
          dash: dict | None = None, tips: list | None = None) -> dict:
    """Lines of ``y`` over ``x``, one per ``colour`` group (and per ``dash`` group)."""
    encoding = {"x": x, "y": y}
    if colour is not None:
        encoding["color"] = colour
    if dash is not None:
        encoding["strokeDash"] = dash
    if tips:
        encoding["tooltip"] = tips
    return spec({"type": "line", "clip": True}, encoding, title, height)


def heatmap(x: str, x2: str, y: str, y2: str, value: str, x_title: str, y_title: str, value_title: str,
            tips: list, mid: float | None = None, title: str | None = None, height: int = HEIGHT) -> dict:
    """Cells spanning [x, x2] × [y, y2] coloured by ``value`` (red–blue, centred on ``mid``), with ``tips``."""
    scale = {"scheme": "redblue", "reverse": True}
    if mid is not None:
        scale["domainMid"] = mid
    colour = {"field": value, "type": "quantitative", "title": value_title, "scale": scale,
              "legend": {"type": "gradient"}}
    tight = {"scale": {"nice": False, "zero": False}}
    encoding = {"x": axis(x, x_title) | tight, "x2": {"field": x2}, "y": axis(y, y_title) | tight, "y2": {"field": y2},
                "color": colour, "tooltip": tips}
    return spec({"type": "rect"}, encoding, title, height)
