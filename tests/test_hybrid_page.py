"""Hybrid PDE page: renders with shipped models, switches equations, fits, and trains a tiny hybrid."""

from tests.test_pages import open_page

PAGE = "pages/hybrid_pde.py"


def test_page_simulates_fits_and_trains():
    at = open_page(PAGE)
    assert not at.exception, at.exception
    assert at.title[0].value == "Hybrid PDE"
    assert len(at.dataframe) >= 1  # pretrained nRMSE table shown without training
    at.selectbox(key="pde_equation").set_value("smoke").run()
    assert not at.exception, at.exception
    at.selectbox(key="pde_equation").set_value("heat").run()
    at.toggle(key="pde_2d").set_value(True).run()
    assert not at.exception, at.exception
    at.number_input(key="fit_nu").set_value(0.05)
    at.button(key="fit_run").click().run()
    assert not at.exception, at.exception
    assert any(m.label == "Fitted viscosity" for m in at.metric)
    at.slider(key="live_cycles").set_value(1)
    at.slider(key="live_epochs").set_value(5)
    at.button(key="live_train").click().run()
    assert not at.exception, at.exception
    assert not at.error
