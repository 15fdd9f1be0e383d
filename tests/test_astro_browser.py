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
        assert page.locator(".js-plotly-plot").count() == 2  # abundances and the open view, the animated rollout
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        page.close()
