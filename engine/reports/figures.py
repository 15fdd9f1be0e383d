"""Figures for a run that saved none of its own: one Plotly figure per array, chosen by shape."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go


def default_figures(arrays: dict[str, np.ndarray], limit: int = 6) -> list[dict]:
    """Line plots for 1-D numeric arrays, heatmaps for 2-D ones (at most ``limit`` figures)."""
    figures = []
    for name, array in arrays.items():
        if array.dtype.kind not in "biuf" or array.size < 2:
            continue
        if array.ndim == 1:
            trace = go.Scatter(y=array, mode="lines", name=name)
            axes = {"xaxis_title": "index", "yaxis_title": name}
        elif array.ndim == 2:
            trace = go.Heatmap(z=array, colorbar={"title": name})
            axes = {"xaxis_title": "column", "yaxis_title": "row"}
        else:
            continue
        figures.append(go.Figure(trace, layout={"title": name, "template": "plotly_white", **axes}).to_dict())
        if len(figures) == limit:
            break
    return figures
