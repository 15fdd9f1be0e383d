"""Shared page helpers (UI only): asset paths, a cached system description, error display."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from engine.errors import TwinLabError

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def _leave_pages_directory_mode() -> None:
    """Make sure the app runs through app.py's ``st.navigation``, even on a deep link.

    Streamlit decides once per server whether the app is a legacy ``pages/``-directory app; until a run
    calls ``st.navigation`` it serves a deep link such as ``/synthesis`` by running ``pages/synthesis.py``
    alone (no page config, a raw file list as navigation). Every page imports this module, so the first
    such run switches the server to ``st.navigation`` mode and reruns through app.py.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_pages_directory_mode()

# (script, title, material icon, url path): the navigation, in order; the first is the home page at "/".
PAGE_TABLE = [
    ("pages/home.py", "Twin Lab", ":material/science:", ""),
    ("pages/synthesis.py", "Synthesis twin", ":material/deployed_code:", "synthesis"),
    ("pages/astrochem.py", "Astrochemistry", ":material/nights_stay:", "astrochem"),
    ("pages/diffusion.py", "Graph diffusion", ":material/hub:", "diffusion"),
    ("pages/hybrid_pde.py", "Hybrid PDE", ":material/waves:", "hybrid_pde"),
    ("pages/runs.py", "Runs", ":material/history:", "runs"),
]


@st.cache_resource
def system_info() -> dict:
    """Backend, device and versions, resolved once per server process."""
    from engine.backend import describe

    return describe()


def run_store():
    """The run store of the configured database (one connection pool per URL and server process)."""
    from engine.settings import database_url

    return _run_store(database_url())


@st.cache_resource
def _run_store(url: str):
    from engine.runs import RunStore

    return RunStore(url)


def save_run_panel(kind: str, title: str, params: dict, *, metrics: dict | None = None,
                   arrays: dict | None = None, figures: list | None = None, command: str = "",
                   versions: dict | None = None, key: str = "run") -> None:
    """An expander to save the current result as a run, or download its report straight away."""
    from datetime import UTC, datetime

    from engine.reports import render_html
    from engine.runs import Run
    from engine.runs.store import software_versions

    with st.expander("Save this run / share a report", icon=":material/save:"):
        run_title = st.text_input("Title", value=title, max_chars=200, key=f"{key}_title")
        note = st.text_area("Note (optional)", max_chars=10_000, key=f"{key}_note")
        left, right = st.columns(2)
        if left.button("Save run", icon=":material/save:", key=f"{key}_save", type="primary"):
            with user_errors():
                run_id = run_store().save(kind, run_title, params, metrics=metrics, arrays=arrays,
                                          figures=figures, command=command, note=note, versions=versions)
                st.success(f"Saved as run {run_id[:8]}. Open it on the Runs page or share ?run={run_id}.")
        preview = Run(id="unsaved", kind=kind, title=run_title or title, params=params, metrics=metrics or {},
                      versions={**software_versions(), **(versions or {})}, command=command, note=note,
                      created_at=datetime.now(UTC), arrays=arrays or {},
                      figures=[fig.to_dict() if hasattr(fig, "to_dict") else fig for fig in figures or []])
        right.download_button("Download HTML report", data=lambda: render_html(preview), file_name=f"{kind}.html",
                              mime="text/html", icon=":material/download:", key=f"{key}_report")


def fast_figure(data: list[dict], layout: dict, frames: list[dict] | None = None) -> go.Figure:
    """A Plotly figure from plain trace/layout dicts, built without Plotly's per-property validation.

    Validation dominates the page's server time (about 0.25 s per small figure on a busy 2-core machine, 5–10×
    the unvalidated build); the dicts here are written by the pages and checked by the browser tests.
    """
    figure = {"data": data, "layout": layout}
    if frames is not None:
        figure["frames"] = frames
    return go.Figure(figure, _validate=False)


class JobProgress:
    """A progress bar with a Stop button for a long job launched from a page.

    Pass the instance as the engine's ``progress(fraction) -> bool`` callback: it redraws the bar and returns
    True once the user has pressed Stop (or changed any other input), so the engine stops at its next chunk
    boundary and returns what it finished. Streamlit signals that click by interrupting the script at the
    bar's redraw; the interruption is held back until :meth:`finish`, after the page has stored the partial
    result, and then re-raised so the new run goes ahead as Streamlit intended.
    """

    def __init__(self, text: str, key: str, dashboard: str | None = None):
        self.text = text
        self.bar = st.progress(0.0, text=text)
        self.link = st.empty()
        self.stop_button = st.empty()
        self.stop_button.button("Stop", key=f"{key}_stop", icon=":material/stop_circle:",
                                help="Stop at the next chunk boundary; finished work is kept")
        self.interrupted: ScriptControlException | None = None
        self.fraction = 0.0

    @property
    def stopped(self) -> bool:
        return self.interrupted is not None

    def dashboard(self, link: str | None) -> None:
        """Show a link to the Dask dashboard while the job runs (``on_client`` callback of the engine)."""
        if link:
            self.link.markdown(f"Running on Dask · [open the Dask dashboard]({link})")

    def __call__(self, fraction: float, text: str | None = None) -> bool:
        if self.interrupted is None:
            self.fraction = min(max(float(fraction), 0.0), 1.0)
            try:
                self.bar.progress(self.fraction, text=f"{text or self.text} {self.fraction:.0%}")
            except ScriptControlException as interruption:
                self.interrupted = interruption
        return self.interrupted is not None

    def draw(self, show) -> None:
        """Run ``show()`` (an extra live element, e.g. a loss chart), holding back an interruption like the bar."""
        if self.interrupted is None:
            try:
                show()
            except ScriptControlException as interruption:
                self.interrupted = interruption

    def chunks(self, done: int, total: int) -> bool:
        """The ``progress(done, total)`` form used by :mod:`engine.execution` jobs."""
        return self(done / max(total, 1))

    def finish(self) -> None:
        """Remove the bar and button; re-raise a held-back interruption (after the caller kept its results)."""
        self.bar.empty()
        self.link.empty()
        self.stop_button.empty()
        if self.interrupted is not None:
            raise self.interrupted


@contextmanager
def user_errors():
    """Show engine input errors as a red message box instead of a traceback."""
    try:
        yield
    except TwinLabError as error:
        st.error(str(error), icon=":material/error:")
