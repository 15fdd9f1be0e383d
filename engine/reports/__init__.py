"""Shareable reports of saved runs: self-contained HTML (plotly.js embedded) and PDF."""

from engine.reports.html import render_html
from engine.reports.pdf import render_pdf

__all__ = ["render_html", "render_pdf"]
