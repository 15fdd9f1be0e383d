"""PDF export of a run's report: the HTML report printed by a headless Chromium.

Plotly draws the figures as vector SVG inside the browser, so the PDF keeps them sharp. Chromium is
the image engine: when it is not installed the export raises :class:`ReportError` with what to
install, and the HTML report still works.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from engine.errors import TwinLabError
from engine.reports.html import render_html
from engine.runs import Run

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class ReportError(TwinLabError):
    """A report could not be produced (e.g. no PDF engine on this machine)."""


def find_browser() -> str | None:
    """Path of a headless-capable Chromium/Chrome, or ``None`` (``TWINLAB_CHROMIUM`` overrides)."""
    override = os.environ.get("TWINLAB_CHROMIUM")
    if override:
        return override if Path(override).exists() else None
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def render_pdf(run: Run, timeout_s: float = 120) -> bytes:
    """The report of ``run`` as PDF bytes."""
    browser = find_browser()
    if browser is None:
        raise ReportError("PDF export needs Chromium (Debian: apt-get install chromium); "
                          "download the HTML report instead — it has the same content.")
    with tempfile.TemporaryDirectory(prefix="twinlab-report-") as folder:
        source, target = Path(folder) / "report.html", Path(folder) / "report.pdf"
        source.write_text(render_html(run), encoding="utf-8")
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                   "--no-first-run", f"--user-data-dir={folder}/profile", "--no-pdf-header-footer",
                   "--virtual-time-budget=10000", f"--print-to-pdf={target}", source.as_uri()]
        try:
            subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise ReportError(f"PDF export timed out after {timeout_s:.0f} s; use the HTML report.") from None
        if not target.exists() or target.stat().st_size == 0:
            raise ReportError("Chromium did not produce a PDF; use the HTML report.")
        return target.read_bytes()
