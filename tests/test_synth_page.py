"""AppTest of the Synthesis twin page: single recipe, reset, a 2-D sweep, and a clear input error."""

from tests.test_pages import open_page


def test_single_recipe_and_two_parameter_sweep():
    at = open_page("pages/synthesis.py")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Most likely phase"] == "cube" and metrics["PL peak"].endswith("nm")
    at.multiselect(key="sweep_fields").set_value(["temperature_c", "cs_pb_ratio"]).run()
    at.slider(key="sweep_n_0_temperature_c").set_value(6)
    at.slider(key="sweep_n_1_cs_pb_ratio").set_value(5)
    at.button(key="sweep_run").click().run()
    assert not at.exception and not at.error
    axes, frame, _ = at.session_state["sweep_result"]
    assert len(frame) == 30 and len(at.get("plotly_chart")) >= 7


def test_bad_recipe_shows_error_and_reset_restores_literature():
    at = open_page("pages/synthesis.py")
    at.selectbox(key="synth_solvent").set_value("mesitylene").run()
    assert not at.exception and "boiling point of mesitylene" in at.error[0].value
    at.button(key="synth_reset").click().run()
    assert not at.exception and not at.error
    assert at.number_input(key="synth_temperature_c").value == 170.0
