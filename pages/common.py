"""Shared page helpers (UI only): asset paths, a cached system description, error display, saving runs and
reopening them from a ``?run=ID`` link."""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from engine.errors import TwinLabError
from pages.navigation import RUN_PAGES

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


# A full (generation-2) garbage collection walks every tracked object; with torch, plotly, pandas, scipy, numba and
# the models loaded that is about 310 thousand objects and 130 ms on a quiet core (170-270 ms while the browser
# draws), and one fell inside nearly every rerun, holding the GIL. Those objects live as long as the server.
SLOW_FULL_COLLECTION_S = 0.025
_collection_started: list[float] = []


def _freeze_after_slow_full_collection(phase: str, info: dict) -> None:
    """gc callback: after a full collection that took longer than ``SLOW_FULL_COLLECTION_S``, move the
    survivors (modules, cached models, caches: all reachable at that moment) to the permanent generation, so
    later full collections walk only objects created since. Objects frozen there are still freed by reference
    counting; only garbage cycles among them would stay, and a freeze happens once per large heap growth."""
    if phase == "start":
        _collection_started[:] = [time.perf_counter()]
    elif info["generation"] == 2 and _collection_started and (
            time.perf_counter() - _collection_started[0] > SLOW_FULL_COLLECTION_S):
        gc.freeze()


def keep_full_collections_short() -> None:
    """Install the freeze-after-slow-collection policy in this server process (once; app.py calls it)."""
    if _freeze_after_slow_full_collection not in gc.callbacks:
        gc.callbacks.append(_freeze_after_slow_full_collection)


_RESTORED = "_twinlab_restored_run"  # session key: id of the run whose parameters were last seeded into widgets
_RUN_CACHE = "_twinlab_linked_run"  # session key: the Run object of the open link


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
                   arrays: dict | None = None, figures: list | Callable[[], list] | None = None, command: str = "",
                   versions: dict | None = None, key: str = "run") -> None:
    """An expander to save the current result as a run, or download its report straight away.

    ``figures``: Plotly figures (or dicts) for the report, or a function returning them; a function is called
    only when the run is saved or its report downloaded, so a page's reruns do not build report-only figures.
    """
    from datetime import UTC, datetime

    from engine.reports import render_html
    from engine.runs import Run
    from engine.runs.store import software_versions

    def report_figures() -> list:
        return [fig.to_dict() if hasattr(fig, "to_dict") else fig for fig in
                (figures() if callable(figures) else figures or [])]

    with st.expander("Save this run / share a report", icon=":material/save:"):
        run_title = st.text_input("Title", value=title, max_chars=200, key=f"{key}_title")
        note = st.text_area("Note (optional)", max_chars=10_000, key=f"{key}_note")
        left, right = st.columns(2)
        if left.button("Save run", icon=":material/save:", key=f"{key}_save", type="primary"):
            with user_errors():
                run_id = run_store().save(kind, run_title, params, metrics=metrics, arrays=arrays,
                                          figures=report_figures(), command=command, note=note, versions=versions)
                st.success(f"Saved as run {run_id[:8]}. Open it on the Runs page or share ?run={run_id}.")

        def report() -> str:
            return render_html(Run(id="unsaved", kind=kind, title=run_title or title, params=params,
                                   metrics=metrics or {}, versions={**software_versions(), **(versions or {})},
                                   command=command, note=note, created_at=datetime.now(UTC), arrays=arrays or {},
                                   figures=report_figures()))

        right.download_button("Download HTML report", data=report, file_name=f"{kind}.html",
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


def run_page(kind: str) -> str | None:
    """The page script that reopens runs of ``kind`` (None when no twin page owns it)."""
    return RUN_PAGES.get(re.split(r"[.-]", kind, maxsplit=1)[0])


def open_run(run_id: str, kind: str) -> None:
    """Go to the page that made a run with ``?run=ID``; that page restores its parameters and results."""
    st.session_state.pop(_RESTORED, None)  # reopening the same run seeds its parameters again
    st.switch_page(run_page(kind), query_params={"run": run_id})


def follow_run_link() -> None:
    """On the home page: send a ``/?run=ID`` link on to the twin page that made the run."""
    run_id = st.query_params.get("run")
    run = _linked_run(run_id) if run_id else None
    if run is not None and run_page(run.kind):
        open_run(run.id, run.kind)


def restore_run(page: str, seeders: dict[str, Callable | None]):
    """Reopen the run named by the ``?run=ID`` link on twin page ``page``; returns it, else None.

    Call it before the page creates its widgets. ``seeders`` maps each run kind the page can restore to a
    function ``seed(run)`` writing the run's parameters into the widgets' ``st.session_state`` keys (None:
    the kind's controls cannot be restored, e.g. an uploaded file; its saved results are still shown).
    Seeding happens once per opened link, so the user can change the parameters afterwards. A banner names
    the run and holds its saved metrics, figures and arrays. Unknown ids and runs of another page are a
    clear error message (with a link to the right page), never a traceback.
    """
    run_id = st.query_params.get("run")
    if not run_id:
        return None
    run = _linked_run(run_id)
    if run is None:
        return None
    owner = run_page(run.kind)
    if owner != page:
        st.error(f"Run {run.id[:8]} is a {run.kind} run, which this page does not open.", icon=":material/error:")
        st.page_link(owner or "pages/runs.py", label="Open it where it was made" if owner else "Open it on the "
                     "Runs page", icon=":material/open_in_new:", query_params={"run": run.id})
        return None
    seed = seeders.get(run.kind)
    if st.session_state.get(_RESTORED) != run.id:
        st.session_state[_RESTORED] = run.id
        if seed is not None:
            try:
                seed(run)
            except (KeyError, TypeError, ValueError) as error:
                st.error(f"Run {run.id[:8]}'s parameters could not be set on this page ({error!r}); its saved "
                         "results are shown below.", icon=":material/error:")
    _restored_banner(run, restored_controls=seed is not None)
    return run


def _linked_run(run_id: str):
    """The run of the link (kept for the session, so reruns do not reload it), or None with an error shown."""
    cached = st.session_state.get(_RUN_CACHE)
    if cached is not None and cached.id == run_id:
        return cached
    try:
        run = run_store().get(run_id)
    except TwinLabError as error:
        st.error(f"The link asks for a run that cannot be opened: {error}", icon=":material/error:")
        return None
    st.session_state[_RUN_CACHE] = run
    return run


def _markdown_text(text: str) -> str:
    """User text shown literally inside Markdown (no links, emphasis or HTML)."""
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~-])", r"\\\1", text)


def _close_run_link() -> None:
    st.query_params.pop("run", None)
    st.session_state.pop(_RESTORED, None)


def _restored_banner(run, restored_controls: bool) -> None:
    """"Restored run …" with the run's saved metrics, figures and arrays in an expander."""
    import pandas as pd

    done = ("Its parameters are set in the controls below; change any to explore from here." if restored_controls
            else "This page cannot set its controls from this kind of run; its saved results are below.")
    left, right = st.columns([6, 1], vertical_alignment="center")
    left.info(f"Restored run **{_markdown_text(run.title)}** ({run.created_at:%Y-%m-%d %H:%M} UTC). {done}",
              icon=":material/history:")
    right.button("Close run", key="restored_close", on_click=_close_run_link, icon=":material/close:",
                 help="Remove ?run= from the address; the controls keep their values")
    with st.expander(f"Saved results of run {run.id[:8]}", icon=":material/inventory_2:"):
        if run.note.strip():
            st.text(run.note)
        if run.metrics:
            st.dataframe(pd.DataFrame({"metric": list(run.metrics), "value": [str(v) for v in run.metrics.values()]}),
                         hide_index=True, width="stretch")
        for number, figure in enumerate(run.figures):
            st.plotly_chart(figure, key=f"restored_fig_{number}")
        columns = {name: array for name, array in run.arrays.items() if array.ndim == 1}
        if columns and len({len(array) for array in columns.values()}) == 1:
            st.dataframe(pd.DataFrame(columns), hide_index=True, width="stretch", height=240)
        others = {name: array.shape for name, array in run.arrays.items() if name not in columns}
        if others:
            st.caption("Arrays: " + ", ".join(f"{name} {shape}" for name, shape in others.items())
                       + " (download them as NPZ on the Runs page)")
        if run.command:
            st.code(run.command, language="bash")


def frame_arrays(frame) -> dict:
    """A table's columns as arrays a run can store: identifier names (``"|error| (nm)"`` -> ``error_nm``),
    numbers as float, everything else as text."""
    arrays = {}
    for name, column in frame.items():
        key = re.sub(r"[^A-Za-z0-9_]+", "_", str(name)).strip("_") or "column"
        key = f"c_{key}" if key[0].isdigit() else key
        arrays[key[:64]] = column.to_numpy(float) if column.dtype.kind in "biuf" else column.astype(str).to_numpy(str)
    return arrays
