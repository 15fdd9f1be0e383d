"""Real browser: every page opens in headless Chromium with the right title and no error shown."""

import pytest

from engine.runs import RunStore
from pages.navigation import PAGE_TABLE
from tests.conftest import ROOT, wait_for_render
from tests.live_server import serve_app

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("script,title,icon,url_path", PAGE_TABLE, ids=[row[3] or "home" for row in PAGE_TABLE])
def test_page_renders_in_chromium(app_server, browser, tmp_path, script, title, icon, url_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{app_server}/{url_path}", wait_until="domcontentloaded")
        wait_for_render(page)
        assert title in page.title()
        assert page.locator("[data-testid='stException']").count() == 0
        assert page.locator("[data-testid='stAlertContentError']").count() == 0
        assert page.locator("h1").first.inner_text().strip() == title
        page.screenshot(path=str(tmp_path / f"{url_path or 'home'}.png"), full_page=True)
    finally:
        page.close()


def test_every_page_imports_common():
    """pages.common switches a fresh server out of Streamlit's legacy pages/ mode (see its docstring)."""
    for script, *_ in PAGE_TABLE:
        text = (ROOT / script).read_text()
        assert "from pages.common import" in text or "import pages.common" in text, script


@pytest.mark.parametrize("url_path,title", [("synthesis", "Synthesis twin"), ("hybrid_pde", "Hybrid PDE")])
def test_deep_link_as_first_request_uses_the_app_navigation(browser, tmp_path, url_path, title):
    with serve_app(tmp_path / "log", tmp_path) as (url, _process):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{url}/{url_path}", wait_until="domcontentloaded")
            wait_for_render(page)
            assert title in page.title()
            links = page.locator("[data-testid='stSidebarNav'] a").all_inner_texts()
            assert [text.split("\n")[-1] for text in links] == [row[1] for row in PAGE_TABLE]
        finally:
            page.close()


def test_run_link_restores_the_run_in_chromium(browser, tmp_path):
    """A shared address `/synthesis?run=ID`, as the first request of a fresh server, reopens the run."""
    from tests.test_run_links import RECIPE

    run_id = RunStore(f"sqlite:///{tmp_path / 'twinlab.db'}").save("synth.simulate", "Shared cubes", RECIPE)
    with serve_app(tmp_path / "log", tmp_path) as (url, _process):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{url}/synthesis?run={run_id}", wait_until="domcontentloaded")
            wait_for_render(page, timeout_ms=180_000)  # a fresh server loads the synthesis models first
            assert "Restored run Shared cubes" in page.locator("[data-testid='stAlert']").first.inner_text()
            assert page.locator(".st-key-synth_temperature_c input").input_value() == "152.00"
            assert page.locator("[data-testid='stException']").count() == 0
        finally:
            page.close()
