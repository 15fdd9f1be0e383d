"""Hybrid PDE page: renders with shipped models, switches equations, fits, trains a tiny hybrid, saves runs."""

from engine.runs import RunStore
from tests.test_pages import open_page

PAGE = "pages/hybrid_pde.py"


def test_page_simulates_fits_trains_and_saves_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("TWINLAB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TWINLAB_DATABASE_URL", raising=False)
    at = open_page(PAGE, timeout=600)  # generous: the shared 2-core machine is often heavily loaded
    assert not at.exception, at.exception
    assert at.title[0].value == "Hybrid PDE"
    assert len(at.get("vega_lite_chart")) == 1 and not at.get("plotly_chart")  # lazy views: the snapshots only
    at.session_state["pde_line_view"] = "Space–time map"
    at.run()
    assert not at.exception and "\"type\": \"rect\"" in at.get("vega_lite_chart")[0].proto.spec  # the heatmap
    at.session_state["pde_line_view"] = "Play u(x, t)"
    at.run()
    assert not at.exception and len(at.get("plotly_chart")) == 1 and not at.get("vega_lite_chart")
    at.selectbox(key="pde_equation").set_value("smoke").run()
    assert not at.exception, at.exception
    at.selectbox(key="pde_equation").set_value("heat").run()
    at.toggle(key="pde_2d").set_value(True).run()
    assert not at.exception, at.exception
    at.session_state["pde_tab"] = "Fit viscosity"  # lazy tabs: the open tab's content only
    at.run()
    at.number_input(key="fit_nu").set_value(0.05)
    at.button(key="fit_run").click().run()
    assert not at.exception, at.exception
    assert any(m.label == "Fitted viscosity" for m in at.metric)
    at.button(key="pde_fit_run_save").click().run()  # a rerun: the fit result must survive it to be saved
    assert not at.exception, at.exception
    at.session_state["pde_tab"] = "Hybrid models"
    at.run()
    assert len(at.dataframe) >= 1  # pretrained nRMSE table shown without training
    at.slider(key="live_cycles").set_value(1)
    at.slider(key="live_epochs").set_value(5)
    at.button(key="live_train").click().run()
    assert not at.exception, at.exception
    at.button(key="pde_hybrid_run_save").click().run()
    assert not at.exception, at.exception
    assert not at.error
    store = RunStore()
    [fit] = [store.get(run.id) for run in store.list(kind="pde.fit")]
    assert fit.params["nu_true"] == 0.05 and abs(fit.metrics["nu_fit"] - 0.05) < 0.01
    assert fit.arrays["u"].shape == (21, 128) and len(fit.arrays["loss_history"]) == fit.metrics["evaluations"]
    assert "pde simulate --equation burgers --nx 128 --nu 0.05" in fit.command and "--noise 0.05" in fit.command
    assert fit.command.endswith("python -m engine pde fit --equation burgers --data u.npz --nu0 0.05 --json")
    [hybrid] = [store.get(run.id) for run in store.list(kind="pde.hybrid")]
    assert hybrid.command == "python -m engine pde hybrid --mode augment --cycles 1 --epochs 5 --seed 0 --json"
    assert len(hybrid.arrays["train_loss"]) == hybrid.metrics["epochs_run"] and len(hybrid.figures) == 1
