"""Shared fixtures: a live Streamlit server and a headless Chromium page for real-browser tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import TwinLabError
from engine.ui_bench import wait_until_settled
from tests.live_server import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, serve_app

__all__ = ["ROOT", "free_port", "wait_for_render"]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """Start `streamlit run app.py` on a free loopback port; yield its base URL; always shut it down."""
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    try:
        with serve_app(log, tmp_path_factory.mktemp("data")) as (url, _process):
            yield url
    except TwinLabError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def browser():
    """A headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def wait_for_render(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has drawn the page and finished running its script."""
    page.wait_for_selector("[data-testid='stMain']", timeout=timeout_ms)
    wait_until_settled(page, timeout_ms)
