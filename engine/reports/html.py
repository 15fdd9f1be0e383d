"""A self-contained HTML report of a run: opens offline, makes no network request.

Everything the user typed (title, note, parameters) is HTML-escaped; figure JSON is embedded with
``<`` written as ``\\u003c`` so no string can close the script element.
"""

from __future__ import annotations

import html
import json
from functools import lru_cache

import numpy as np

from engine.reports.figures import default_figures
from engine.runs import Run

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1b2631;max-width:1100px;margin:2rem auto;
padding:0 1rem;line-height:1.45}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #d5dbe1;padding-bottom:.2rem;margin-top:2rem}
.meta{color:#5d6d7e}.note{white-space:pre-wrap;background:#f2f5f8;padding:.8rem;border-radius:8px}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #d5dbe1;padding:.25rem .6rem;text-align:left;
font-variant-numeric:tabular-nums}th{background:#f2f5f8}pre{background:#f2f5f8;padding:.8rem;overflow-x:auto}
.figure{page-break-inside:avoid;margin:1rem 0}
@media print{body{margin:0;max-width:none}.modebar-container{display:none}h2{page-break-after:avoid}
.figure{break-inside:avoid}}
"""


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _text(value) -> str:
    return html.escape(str(value), quote=True)


def _table(mapping: dict, header: tuple[str, str]) -> str:
    if not mapping:
        return "<p class='meta'>none</p>"
    rows = "".join(f"<tr><td>{_text(key)}</td><td>{_text(_format(value))}</td></tr>"
                   for key, value in mapping.items())
    return f"<table><tr><th>{header[0]}</th><th>{header[1]}</th></tr>{rows}</table>"


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _script_json(value) -> str:
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _figures(figures: list[dict]) -> str:
    parts = []
    for index, figure in enumerate(figures):
        data, layout = figure.get("data", []), figure.get("layout", {})
        parts.append(
            f"<div class='figure' id='figure-{index}' data-plotly-figure='{index}'></div>"
            f"<script>Plotly.newPlot('figure-{index}', {_script_json(data)}, {_script_json(layout)},"
            " {responsive: true, displaylogo: false});</script>"
        )
    return "".join(parts) or "<p class='meta'>This run has no figures.</p>"


# No network: nothing may be fetched; only the inline plotly.js and figure scripts run.
CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src data:")


def render_html(run: Run) -> str:
    """The report of ``run`` (opened with its arrays, from :meth:`RunStore.get`) as one HTML document."""
    figures = run.figures or default_figures(run.arrays)
    arrays = array_summary(run.arrays)
    saved = _text(run.created_at.isoformat(timespec="seconds"))
    note = f"<h2>Note</h2><div class='note'>{_text(run.note)}</div>" if run.note.strip() else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>{_text(run.title)} · Twin Lab report</title><style>{STYLE}</style>
<script>{_plotly_js()}</script></head>
<body>
<h1>{_text(run.title)}</h1>
<p class="meta">Twin Lab report · {_text(run.kind)} · run {_text(run.id)} · saved {saved}</p>
{note}
<h2>Parameters</h2>{_table(run.params, ("parameter", "value"))}
<h2>Key metrics</h2>{_table(run.metrics, ("metric", "value"))}
<h2>Figures</h2>{_figures(figures)}
<h2>Data</h2>{_table(arrays, ("array", "dtype and shape"))}
<h2>Software and models</h2>{_table(run.versions, ("component", "version / sha256"))}
<h2>Reproduce</h2><pre>{_text(run.command or "(no command recorded)")}</pre>
</body></html>
"""


def array_summary(arrays: dict[str, np.ndarray]) -> dict[str, str]:
    """Name → "dtype [shape]" for a run's arrays."""
    return {name: f"{array.dtype} {list(array.shape)}" for name, array in arrays.items()}
