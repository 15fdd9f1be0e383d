"""Real browser: the Astrochemistry page's log sliders reach the server with their default values."""

import pytest

from tests.conftest import wait_for_render

pytestmark = pytest.mark.browser


def test_default_cloud_uses_the_default_cosmic_ray_rate(app_server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{app_server}/astrochem", wait_until="domcontentloaded")
        wait_for_render(page)
        sidebar = page.locator("[data-testid='stSidebar']")
        assert sidebar.get_by_text("1.3e-17", exact=True).count() == 1  # zeta slider thumb label
        electrons = page.locator("[data-testid='stMetric']").filter(has_text="Electron fraction at end")
        assert "1.14e-06" in electrons.inner_text()  # x(e-) of the default dark cloud (dense set)
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()


def test_emulator_mode_renders_rollout_and_sweep(app_server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{app_server}/astrochem", wait_until="domcontentloaded")
        wait_for_render(page)
        page.locator("[data-testid='stSidebar']").get_by_text("Emulator", exact=True).click()
        page.wait_for_selector("text=Latent trajectory", timeout=60_000)
        wait_for_render(page)
        assert page.locator("[data-testid='stMetric']").filter(has_text="Emulator time").count() == 1
        assert page.locator("[data-testid='stVegaLiteChart'] :is(canvas, svg)").count() == 1  # abundances, drawn
        assert page.locator(".js-plotly-plot").count() == 0  # extra views are built only when opened
        page.get_by_text("Rollout, step by step", exact=True).click()
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length === 1", timeout=60_000)
        wait_for_render(page)
        assert page.locator(".updatemenu-button").count() >= 1  # the animated rollout has its play controls
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()
