"""AppTest of the Synthesis twin page: single recipe, reset, a 2-D sweep, and a clear input error."""

from tests.test_pages import open_page


def test_single_recipe_and_two_parameter_sweep():
    at = open_page("pages/synthesis.py")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Most likely phase"] == "cube" and metrics["PL peak"].endswith("nm")
    assert not at.get("multiselect")  # lazy tabs: the hidden Sweep tab did not run
    # lazy figure views: only the open one (the PL spectrum, a Vega-Lite area) is drawn
    spectra = at.get("vega_lite_chart")
    assert len(spectra) == 1 and not at.get("plotly_chart") and "PL: " in spectra[0].proto.spec
    at.session_state["synth_view"] = "Phase probabilities"
    at.run()
    assert not at.exception and "Phase probabilities" in at.get("vega_lite_chart")[0].proto.spec
    at.session_state["synth_view"] = "LaMer time course"
    at.run()
    charts = at.get("plotly_chart")
    assert not at.exception and len(charts) == 1 and "LaMer time course" in charts[0].proto.spec
    assert not at.get("vega_lite_chart")
    at.session_state["synth_tab"] = "Sweep"
    at.run()
    at.multiselect(key="sweep_fields").set_value(["temperature_c", "cs_pb_ratio"]).run()
    at.slider(key="sweep_n_0_temperature_c").set_value(6)
    at.slider(key="sweep_n_1_cs_pb_ratio").set_value(5)
    at.button(key="sweep_run").click().run()
    assert not at.exception and not at.error
    axes, frame, _ = at.session_state["sweep_result"]
    assert len(frame) == 30 and len(at.get("plotly_chart")) == 6  # phase, 3 uncertainty, size and PL maps


def test_bad_recipe_shows_error_and_reset_restores_literature():
    at = open_page("pages/synthesis.py")
    at.selectbox(key="synth_solvent").set_value("mesitylene").run()
    assert not at.exception and "boiling point of mesitylene" in at.error[0].value
    at.button(key="synth_reset").click().run()
    assert not at.exception and not at.error
    assert at.number_input(key="synth_temperature_c").value == 170.0


def test_design_and_models_tabs():
    at = open_page("pages/synthesis.py")
    assert not at.exception
    labels = [t.label for t in at.tabs]
    assert [label for label in labels if label in ("One recipe", "Sweep", "Design", "Models")] == [
        "One recipe", "Sweep", "Design", "Models"]
    at.session_state["synth_tab"] = "Design"
    at.run()
    at.button(key="design_run").click().run()
    assert not at.exception and not at.error
    _, result = at.session_state["design_result"]
    assert result["found"] and abs(result["recipes"][0]["verified"]["pl_peak_nm"] - 490.0) <= 2.0
    at.session_state["synth_tab"] = "Models"
    at.run()
    assert any(m.label == "Validation accuracy" for m in at.metric)
    at.button(key="models_reliability").click().run()
    assert not at.exception and any("ECE" in c.value for c in at.caption)


def test_missing_checkpoints_leave_the_page_physics_only(monkeypatch, tmp_path):
    import streamlit as st

    import engine.synthesis.inference as inference

    original = inference.load_surrogates
    monkeypatch.setattr(inference, "load_surrogates", lambda: original(tmp_path))
    st.cache_resource.clear()
    try:
        at = open_page("pages/synthesis.py")
        assert not at.exception
        assert {m.label: m.value for m in at.metric}["Most likely phase"] == "cube"
        at.session_state["synth_tab"] = "Design"
        at.run()
        assert not at.exception
        assert any("physics engine only" in w.value for w in at.warning)
    finally:
        st.cache_resource.clear()


def test_my_experiments_tab_with_the_example_file():
    at = open_page("pages/synthesis.py")
    at.session_state["synth_tab"] = "My experiments"
    at.run()
    at.button(key="lab_example").click().run()
    assert not at.exception and not at.error
    assert any("6 valid row(s)" in s.value for s in at.success)
    assert any(c.value.startswith("No systematic drift") for c in at.caption)
    at.button(key="lab_adapt").click().run()
    assert not at.exception and not at.error
    assert any(c.value.startswith("Model: ") for c in at.caption)
