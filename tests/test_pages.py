"""AppTest: the entry script and every page in the navigation run without an exception."""

import pytest
from streamlit.testing.v1 import AppTest

from pages.navigation import PAGE_TABLE
from tests.conftest import ROOT


def open_page(script: str, timeout: float = 120) -> AppTest:
    """Run app.py, then switch to ``script`` through the navigation, as a user click would."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout).run()
    assert not at.exception, at.exception
    return at.switch_page(script).run()


def test_app_entry_renders_home():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Twin Lab"


@pytest.mark.parametrize("script,title", [(row[0], row[1]) for row in PAGE_TABLE])
def test_page_runs_without_exception(script, title):
    at = open_page(script)
    assert not at.exception, at.exception
    assert at.title[0].value == title


def test_home_system_panel_is_built_when_opened():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.dataframe  # collapsed: not built
    at.session_state["home_system"] = True
    at.run()
    assert not at.exception and "CPU cores" in [m.label for m in at.metric] and len(at.dataframe) == 1


def test_slow_full_collection_freezes_its_survivors(monkeypatch):
    """The server's GC policy: survivors of a slow full collection go to the permanent generation (so later
    ones skip them); a fast one freezes nothing; installing twice installs once."""
    import gc

    from pages import common

    policy = common._freeze_after_slow_full_collection
    gc.unfreeze()
    try:
        common.keep_full_collections_short()
        common.keep_full_collections_short()
        assert gc.callbacks.count(policy) == 1
        monkeypatch.setattr(common, "SLOW_FULL_COLLECTION_S", 1e9)
        gc.collect()
        assert gc.get_freeze_count() == 0
        monkeypatch.setattr(common, "SLOW_FULL_COLLECTION_S", 0.0)
        gc.collect()
        assert gc.get_freeze_count() > 1000
    finally:
        gc.callbacks.remove(policy)
        gc.unfreeze()
