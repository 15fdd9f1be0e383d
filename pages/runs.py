"""Runs: search, open, compare and delete saved runs; download their reports. "Open on its page" goes to the
twin page that made a run with `?run=ID`, which restores its parameters and results."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import streamlit as st

from pages.common import open_run, run_page, run_store, user_errors
from pages.navigation import PAGE_TABLE

URL_PATHS = {script: url_path for script, _title, _icon, url_path in PAGE_TABLE}

st.title("Runs")
st.caption("Every saved simulate, sweep, solve, emulate, sample or PDE job. **Open on its page** restores a run's "
           "parameters and results on the twin page that made it; share that page's address (`…/synthesis?run=ID`).")

store = run_store()
left, right = st.columns([3, 1])
search = left.text_input("Search", placeholder="title, note, kind or parameter value", key="runs_search")
saved = store.list()
kinds = sorted({run.kind for run in saved})
kind = right.selectbox("Kind", ["all kinds", *kinds], key="runs_kind")
found = store.list(search, None if kind == "all kinds" else kind)

if not saved:
    st.info("No runs saved yet. Every twin page has a “Save this run” panel under its results.",
            icon=":material/info:")
    st.stop()

table = pd.DataFrame([{"id": run.id[:8], "title": run.title, "kind": run.kind,
                       "saved (UTC)": run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                       "parameters": ", ".join(f"{k}={v}" for k, v in list(run.params.items())[:4]),
                       "metrics": ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                            for k, v in list(run.metrics.items())[:3])} for run in found])
st.dataframe(table, hide_index=True, width="stretch")
st.caption(f"{len(found)} of {len(saved)} runs shown · click a column header to sort")

labels = {run.id: f"{run.title} · {run.kind} · {run.id[:8]}" for run in saved}
requested = st.query_params.get("run")
if requested and requested not in labels:
    st.error(f"The link asks for run {requested!r}, which does not exist (it may have been deleted).",
             icon=":material/error:")
    requested = None
ids = [run.id for run in found] or [run.id for run in saved]
if requested and requested not in ids:
    ids = [requested, *ids]

# Lazy tabs: only the open tab loads its runs and draws their figures (a tab switch reruns the page).
open_tab, compare_tab = st.tabs(["Open", "Compare two"], key="runs_tab", on_change="rerun")

if open_tab.open:
    with open_tab:
        index = ids.index(requested) if requested in ids else 0
        chosen = st.selectbox("Run", ids, index=index, format_func=labels.get, key="runs_open")
        st.query_params["run"] = chosen
        with user_errors():
            run = store.get(chosen)
            st.subheader(run.title)
            st.caption(f"{run.kind} · run {run.id} · saved {run.created_at:%Y-%m-%d %H:%M:%S} UTC")
            owner = run_page(run.kind)
            if owner is None:
                st.caption("No twin page reopens this kind of run; everything saved is shown here.")
            else:
                link_col, button_col = st.columns([3, 1], vertical_alignment="center")
                link_col.markdown(f"Link: `/{URL_PATHS[owner]}?run={run.id}`")
                if button_col.button("Open on its page", icon=":material/open_in_new:", key="open_on_page",
                                     type="primary", help="The twin page restores this run's parameters and results"):
                    open_run(run.id, run.kind)
            if run.note.strip():
                st.text(run.note)
            params_col, metrics_col = st.columns(2)
            params_col.markdown("**Parameters**")
            params_col.dataframe(pd.DataFrame({"parameter": list(run.params), "value": [str(v) for v in
                                               run.params.values()]}), hide_index=True, width="stretch")
            metrics_col.markdown("**Metrics**")
            metrics_col.dataframe(pd.DataFrame({"metric": list(run.metrics), "value": [str(v) for v in
                                                run.metrics.values()]}), hide_index=True, width="stretch")
            for number, figure in enumerate(run.figures):
                st.plotly_chart(figure, key=f"run_fig_{number}")
            if run.command:
                st.markdown("**Reproduce**")
                st.code(run.command, language="bash")
            st.caption("Versions: " + ", ".join(f"{k} {v}" for k, v in run.versions.items()))

            def arrays_npz(arrays=run.arrays) -> bytes:
                buffer = io.BytesIO()
                np.savez_compressed(buffer, **arrays)
                return buffer.getvalue()

            def report_html(run=run) -> str:
                from engine.reports import render_html

                return render_html(run)

            a, b, c, d = st.columns(4)
            a.download_button("HTML report", report_html, f"twinlab-{run.id[:8]}.html", "text/html",
                              icon=":material/description:", key="dl_html")
            b.download_button("Arrays (NPZ)", arrays_npz, f"twinlab-{run.id[:8]}.npz", "application/octet-stream",
                              icon=":material/download:", key="dl_npz")
            if c.button("Make PDF", icon=":material/picture_as_pdf:", key="make_pdf"):
                from engine.reports import render_pdf

                with st.spinner("Printing the report to PDF…"):
                    st.session_state["pdf"] = (run.id, render_pdf(run))
            if st.session_state.get("pdf", (None,))[0] == run.id:
                c.download_button("Download PDF", st.session_state["pdf"][1], f"twinlab-{run.id[:8]}.pdf",
                                  "application/pdf", key="dl_pdf")
            with d.popover("Delete", icon=":material/delete:"):
                st.warning("Deleting a run is permanent.")
                sure = st.checkbox(f"Yes, delete run {run.id[:8]}", key="delete_sure")
                if st.button("Delete run", disabled=not sure, type="primary", key="delete_run"):
                    store.delete(run.id, confirm=run.id)
                    st.query_params.clear()
                    st.session_state.pop("delete_sure", None)
                    st.rerun()

if compare_tab.open:
    with compare_tab:
        if len(saved) < 2:
            st.info("Save at least two runs to compare them.")
        else:
            first_col, second_col = st.columns(2)
            first = first_col.selectbox("First run", ids, format_func=labels.get, key="cmp_a")
            second = second_col.selectbox("Second run", ids, index=min(1, len(ids) - 1), format_func=labels.get,
                                          key="cmp_b")
            run_a, run_b = store.get(first), store.get(second)
            rows = []
            for section, (da, db) in {"parameter": (run_a.params, run_b.params),
                                      "metric": (run_a.metrics, run_b.metrics)}.items():
                for name in sorted(set(da) | set(db)):
                    va, vb = da.get(name, "—"), db.get(name, "—")
                    rows.append({"": section, "name": name, "first": str(va), "second": str(vb),
                                 "differs": "●" if va != vb else ""})
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
            fig_a, fig_b = st.columns(2)
            for column, chosen_run, tag in ((fig_a, run_a, "a"), (fig_b, run_b, "b")):
                for number, figure in enumerate(chosen_run.figures[:3]):
                    column.plotly_chart(figure, key=f"cmp_{tag}_{number}")
