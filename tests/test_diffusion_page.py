"""AppTest of the Graph diffusion page: default render, sampling, forward viewer, inpainting."""

from tests.test_pages import open_page


def test_diffusion_page_samples_and_compares():
    at = open_page("pages/diffusion.py")
    assert not at.exception, at.exception
    assert at.title[0].value == "Graph diffusion"
    at.slider(key="steps").set_value(40)
    at.number_input(key="n").set_value(32)
    at.button(key="sample").click().run()
    assert not at.exception, at.exception
    assert len(at.dataframe) == 1
    table = at.dataframe[0].value
    assert {"diffusion", "linear_interpolation", "full_gaussian"} <= set(table.index)
    at.session_state["diffusion_tab"] = "Forward noising"
    at.run()
    at.slider(key="t_forward").set_value(0.6).run()
    assert not at.exception, at.exception
    at.toggle(key="diffusion_3d").set_value(True).run()  # the WebGL view of the same configuration
    assert not at.exception, at.exception
    at.session_state["diffusion_tab"] = "Inpainting"
    at.run()
    at.button(key="inpaint").click().run()
    assert not at.exception, at.exception


def test_diffusion_page_gaussian_field_on_other_graph():
    at = open_page("pages/diffusion.py")
    at.selectbox(key="dataset").set_value("gmrf")
    at.selectbox(key="graph").set_value("ring of 24")
    at.selectbox(key="sampler").set_value("probability_flow")
    at.slider(key="steps").set_value(40)
    at.number_input(key="n").set_value(32)
    at.button(key="sample").click().run()
    assert not at.exception, at.exception
    assert not at.error
