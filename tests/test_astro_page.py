"""AppTest of the Astrochemistry page (solver mode)."""

from tests.test_pages import open_page


def test_astrochem_page_runs_default_cloud_and_reruns_on_button():
    at = open_page("pages/astrochem.py")
    assert not at.exception, at.exception
    assert at.title[0].value == "Astrochemistry"
    assert len(at.get("vega_lite_chart")) == 1  # abundances; the budget and reaction views open on demand
    assert not at.get("plotly_chart")  # the first view is Vega-Lite only (see pages/charts.py)
    assert not at.dataframe  # the reaction tables are built when their tab is opened
    at.session_state["astro_budget"] = "Formation and destruction"
    at.run()
    assert not at.exception and len(at.get("vega_lite_chart")) == 1
    table = at.dataframe[0].value
    assert table.iloc[0]["reaction"] == "H3+ + CO -> HCO+ + H2"
    assert at.dataframe[1].value.iloc[0]["reaction"].startswith("HCO+ + e- ->")  # destruction table
    at.session_state["astro_budget"] = "Nitrogen"
    at.run()
    assert not at.exception and len(at.get("vega_lite_chart")) == 2
    assert "fraction of all N atoms" in at.get("vega_lite_chart")[1].proto.spec
    at.session_state["astro_budget"] = None
    at.run()
    assert not at.exception and len(at.get("vega_lite_chart")) == 1
    assert [m.label for m in at.metric][0] == "Solver wall time"
    assert at.metric[3].value.startswith("1.1")  # x(e-) = 1.1e-6: the default zeta 1.3e-17 really was used

    at.select_slider(key="astro_density").set_value(3.0)  # sliders carry log10 values
    at.select_slider(key="astro_t_end").set_value(1e4).run()
    assert not at.exception, at.exception
    assert any("Run solver" in info.value for info in at.info)

    at.button(key="astro_run").click().run()
    assert not at.exception, at.exception
    assert not any("Run solver" in info.value for info in at.info)
    assert len(at.session_state["astro_runs"]) == 2

    at.select_slider(key="astro_av").set_value(-1.0).run()  # outside the validated box: warned, not hidden
    assert any("UV-exposed gas" in warning.value for warning in at.warning)


def test_astrochem_page_emulator_mode_rolls_out_compares_and_sweeps():
    at = open_page("pages/astrochem.py")
    at.sidebar.radio(key="astro_mode").set_value("Emulator").run()
    assert not at.exception, at.exception
    assert [m.label for m in at.metric][:2] == ["Emulator time", "Worst element/charge drift"]
    assert len(at.get("vega_lite_chart")) == 1 and not at.get("plotly_chart")  # extra views: built when opened
    for view in ("Rollout, step by step", "Latent trajectory", "Parameter sweep"):
        at.session_state["astro_em_view"] = view
        at.run()
        assert not at.exception and len(at.get("plotly_chart")) == 1, view
    assert any("clouds emulated in one batch" in caption.value for caption in at.caption)

    at.select_slider(key="astro_em_density").set_value(5.0).run()  # instant: no button needed
    assert not at.exception, at.exception
    assert "Speed-up vs solver" not in [m.label for m in at.metric]

    at.button(key="astro_em_compare").click().run()
    assert not at.exception, at.exception
    assert "strokeDash" in at.get("vega_lite_chart")[0].proto.spec  # the solver's curves, dotted
    labels = [m.label for m in at.metric]
    assert "Speed-up vs solver" in labels and "Median error (species > 1e-12)" in labels
    errors = at.dataframe[0].value
    assert list(errors.columns[:2]) == ["species", "max error [dex]"]

    at.selectbox(key="astro_em_sweep_param").set_value("zeta").run()
    assert not at.exception, at.exception


def test_astrochem_page_without_emulator_checkpoint_explains_and_solver_mode_works(tmp_path, monkeypatch):
    from engine.astrochem import models

    monkeypatch.setattr(models, "MODEL_DIR", tmp_path)  # an empty directory: no checkpoint
    at = open_page("pages/astrochem.py")
    at.sidebar.radio(key="astro_mode").set_value("Emulator").run()
    assert not at.exception, at.exception
    assert any("cannot be loaded" in error.value and "does not exist" in error.value for error in at.error)
    at.sidebar.radio(key="astro_mode").set_value("Solver").run()
    assert not at.exception, at.exception
    assert len(at.get("vega_lite_chart")) == 1
