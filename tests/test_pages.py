"""AppTest: the entry script and every page in the navigation run without an exception."""

import pytest
from streamlit.testing.v1 import AppTest

from pages.common import PAGE_TABLE
from tests.conftest import ROOT


def test_app_entry_renders_home():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Twin Lab"


@pytest.mark.parametrize("script", [row[0] for row in PAGE_TABLE])
def test_page_runs_without_exception(script):
    at = AppTest.from_file(str(ROOT / script), default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.title, f"{script} shows no title"
