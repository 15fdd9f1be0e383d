"""Real browser: every page opens in headless Chromium with the right title and no error shown."""

import pytest

from pages.common import PAGE_TABLE
from tests.conftest import wait_for_render

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
