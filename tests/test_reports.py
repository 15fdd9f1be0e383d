"""Reports: escaped user text, offline rendering in Chromium with the network blocked, PDF, CLI, page."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from engine.cli import main
from engine.reports import render_html, render_pdf
from engine.reports.pdf import find_browser
from engine.runs import RunStore
from tests.conftest import ROOT

HOSTILE = "<script>window.__pwned = 1; alert('x')</script>"


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("TWINLAB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TWINLAB_DATABASE_URL", raising=False)
    return RunStore()


@pytest.fixture
def saved_run(store):
    figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[4, 1, 2], name=HOSTILE), layout={"title": HOSTILE})
    run_id = store.save("synth.sweep", f"Title {HOSTILE}", {"solvent": HOSTILE, "temperature_c": 180.0},
                        metrics={"pl_peak_nm": 512.0}, arrays={"x": np.linspace(0, 1, 20)},
                        figures=[figure], command="python -m engine synth sweep --vary temperature_c=140:200:7",
                        note=f"note {HOSTILE}\nsecond line")
    return store.get(run_id)


def test_user_text_is_escaped(saved_run):
    page = render_html(saved_run)
    assert HOSTILE not in page
    assert "&lt;script&gt;window.__pwned" in page
    assert page.count("<script>") == 1 + len(saved_run.figures)  # plotly.js + one per figure


def test_run_without_figures_gets_default_plots(store):
    run = store.get(store.save("astro.solve", "plain", {}, arrays={"abundances": np.random.default_rng(0)
                                                                     .random((5, 4)), "t": np.arange(5.0)}))
    page = render_html(run)
    assert page.count("data-plotly-figure") == 2


@pytest.mark.browser
def test_report_renders_offline_and_runs_no_injected_script(saved_run, browser, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(render_html(saved_run), encoding="utf-8")
    context = browser.new_context(offline=True)
    requests = []

    def block_network(route):
        requests.append(route.request.url)
        return route.continue_() if route.request.url.startswith("file:") else route.abort()

    context.route("**/*", block_network)
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        page.goto(path.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
        assert page.locator(".js-plotly-plot").count() == len(saved_run.figures)
        assert page.evaluate("() => window.__pwned") is None
        assert dialogs == []
        assert HOSTILE in page.locator("h1").inner_text()  # shown as text
        assert [url for url in requests if not url.startswith("file:")] == []
    finally:
        context.close()


@pytest.mark.browser
def test_pdf_export(saved_run):
    if find_browser() is None:
        pytest.fail("Chromium missing: run `make browser`")
    pdf = render_pdf(saved_run)
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000


def test_pdf_without_engine_is_a_clear_error(saved_run, monkeypatch):
    from engine.reports import pdf

    monkeypatch.setattr(pdf, "find_browser", lambda: None)
    with pytest.raises(pdf.ReportError, match="HTML report"):
        pdf.render_pdf(saved_run)


def test_cli_report_and_runs(saved_run, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", saved_run.id, "--out", str(out)]) == 0
    assert "Plotly.newPlot" in out.read_text()
    assert main(["report", saved_run.id, "--out", str(tmp_path / "r.docx")]) == 2
    assert "--out must end in .html or .pdf" in capsys.readouterr().err
    assert main(["runs", "list", "--search", "Title"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"] == saved_run.id
    assert main(["runs", "delete", saved_run.id]) == 2
    assert "--yes" in capsys.readouterr().err
    assert main(["runs", "delete", saved_run.id, "--yes"]) == 0


def _runs_page(run_id: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/runs.py")
    if run_id:
        at.query_params["run"] = run_id
    return at.run()


def test_runs_page_lists_opens_and_deletes(store, saved_run):
    other = store.save("astro.solve", "dark cloud", {"density": 1e4}, metrics={"co": 1e-4})
    at = _runs_page()
    assert not at.exception
    assert at.title[0].value == "Runs"
    assert len(at.dataframe[0].value) == 2
    at.selectbox(key="runs_open").set_value(other).run()
    assert at.subheader[0].value == "dark cloud"
    at.text_input(key="runs_search").input("Title").run()
    assert len(at.dataframe[0].value) == 1
    at.checkbox(key="delete_sure").check().run()
    at.button(key="delete_run").click().run()
    assert not at.exception
    assert [run.id for run in store.list()] == [saved_run.id]


def test_run_link_opens_that_run(store, saved_run):
    store.save("astro.solve", "newer run", {})
    at = _runs_page(saved_run.id)
    assert not at.exception
    assert at.subheader[0].value == saved_run.title
    missing = _runs_page("deadbeef")
    assert "does not exist" in missing.error[0].value


def test_pde_page_saves_a_run_with_its_arrays(store):
    from tests.test_pages import open_page

    at = open_page("pages/hybrid_pde.py")
    assert not at.exception
    at.text_area(key="pde_run_note").input("<b>shock</b> test").run()
    at.button(key="pde_run_save").click().run()
    assert not at.exception
    [run] = store.list(kind="pde.simulate")
    saved = store.get(run.id)
    assert saved.note == "<b>shock</b> test" and saved.params["equation"] == "burgers"
    assert saved.arrays["u"].shape == (saved.params["n_out"], saved.params["nx"])
    assert saved.command.startswith("python -m engine pde simulate --equation burgers")
    assert len(saved.figures) == 1
