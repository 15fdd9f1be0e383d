"""`?run=ID` links: a twin page restores a saved run's parameters and results; the Runs page opens runs on
the page that made them; bad links are a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from engine.runs import RunStore
from engine.synthesis import FIELD_SPECS, LITERATURE_RECIPE, Recipe, make_axis, sweep
from pages.common import frame_arrays, run_page
from pages.navigation import PAGE_TABLE, RUN_PAGES
from tests.conftest import ROOT

RECIPE = {**{name: float(getattr(LITERATURE_RECIPE, name)) for name in FIELD_SPECS}, "solvent": "dioctyl_ether",
          "temperature_c": 152.0, "oleylamine_ml": 0.75}


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("TWINLAB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TWINLAB_DATABASE_URL", raising=False)
    return RunStore()


def open_link(script: str, run_id: str) -> AppTest:
    """Open ``script`` as the address ``/page?run=ID`` would."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.query_params["run"] = run_id
    return at.switch_page(script).run()


def test_every_run_family_maps_to_a_twin_page():
    scripts = {row[0] for row in PAGE_TABLE}
    assert set(RUN_PAGES.values()) <= scripts
    assert run_page("synth.design") == "pages/synthesis.py"
    assert run_page("astrochem-solver") == "pages/astrochem.py"
    assert run_page("pde.simulate") == "pages/hybrid_pde.py"
    assert run_page("notes") is None


def test_frame_arrays_names_are_storable(store):
    import pandas as pd

    frame = pd.DataFrame({"|error| (nm)": [1.5, 2.0], "90% interval (nm)": ["1–2", "2–3"], "P(cube)": [0.9, 0.8]})
    arrays = frame_arrays(frame)
    assert list(arrays) == ["error_nm", "c_90_interval_nm", "P_cube"]
    run = store.get(store.save("synth.design", "t", {}, arrays=arrays))
    assert run.arrays["c_90_interval_nm"].tolist() == ["1–2", "2–3"]


def test_link_restores_a_synthesis_recipe_and_sweep(store):
    simulate_id = store.save("synth.simulate", "warm <b>cubes</b>", RECIPE)
    at = open_link("pages/synthesis.py", simulate_id)
    assert not at.exception, at.exception
    assert at.number_input(key="synth_temperature_c").value == 152.0
    assert at.number_input(key="synth_oleylamine_ml").value == 0.75
    assert at.selectbox(key="synth_solvent").value == "dioctyl_ether"
    assert "Restored run" in at.info[0].value and r"\<b\>cubes\</b\>" in at.info[0].value  # title shown as text
    at.number_input(key="synth_temperature_c").set_value(160.0).run()  # seeded once: the user's edit stays
    assert at.number_input(key="synth_temperature_c").value == 160.0

    frame = sweep([make_axis("temperature_c", 140.0, 180.0, 5)], base=Recipe(**RECIPE))
    sweep_id = store.save("synth.sweep", "sweep", {"axes": [["temperature_c", 140.0, 180.0, 5]], "base": RECIPE},
                          metrics={"recipes": 5, "seconds": 0.1}, arrays=frame_arrays(frame))
    at.query_params["run"] = sweep_id
    at.run()
    assert not at.exception, at.exception
    assert at.multiselect(key="sweep_fields").value == ["temperature_c"]
    assert at.number_input(key="sweep_stop_0_temperature_c").value == 180.0
    assert at.slider(key="sweep_n_0_temperature_c").value == 5
    axes, restored, _ = at.session_state["sweep_result"]  # the saved table is shown, not re-simulated
    np.testing.assert_allclose(restored["pl_peak_nm"].to_numpy(float), frame["pl_peak_nm"].to_numpy(float))
    assert restored["phase"].tolist() == frame["phase"].tolist()


def test_bad_links_are_clear_errors(store):
    at = open_link("pages/synthesis.py", "no-such-run")
    assert not at.exception, at.exception
    assert any("does not exist" in error.value for error in at.error)
    other = store.save("astrochem-solver", "cloud", {"density": 1e4})
    at.query_params["run"] = other
    at.run()
    assert not at.exception, at.exception
    assert any("astrochem-solver run, which this page does not open" in error.value for error in at.error)


def test_runs_page_opens_a_run_on_its_page(store):
    run_id = store.save("synth.simulate", "from the runs page", RECIPE)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    assert f"/synthesis?run={run_id}" in " ".join(m.value for m in at.markdown)
    at.button(key="open_on_page").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Synthesis twin"
    assert at.query_params["run"] == run_id
    assert at.number_input(key="synth_temperature_c").value == 152.0

    home = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    home.query_params["run"] = run_id
    home.run()  # `/?run=ID` goes on to the page that made the run
    assert not home.exception, home.exception
    assert home.title[0].value == "Synthesis twin" and "Restored run" in home.info[0].value


@pytest.mark.parametrize("script,kind,params,widgets", [
    ("pages/hybrid_pde.py", "pde.simulate",
     {"equation": "heat", "nx": 64, "ny": None, "nu": 0.02, "velocity": 1.0, "buoyancy": 1.0, "t_end": 0.5,
      "n_out": 7, "init": "gaussian", "seed": 0},
     [("selectbox", "pde_equation", "heat"), ("select_slider", "pde_nx", 64), ("number_input", "pde_nu", 0.02),
      ("number_input", "pde_tend", 0.5), ("slider", "pde_nout", 7), ("selectbox", "pde_init", "gaussian")]),
    ("pages/hybrid_pde.py", "pde.fit",
     {"equation": "burgers", "data": "synthetic", "nu0": 0.07, "nu_true": 0.03, "noise": 0.1},
     [("number_input", "fit_nu0", 0.07), ("number_input", "fit_nu", 0.03), ("slider", "fit_noise", 10)]),
    ("pages/hybrid_pde.py", "pde.hybrid", {"mode": "augment", "cycles": 3, "epochs": 20, "seed": 0},
     [("selectbox", "live_mode", "augment"), ("slider", "live_cycles", 3), ("slider", "live_epochs", 20)]),
    ("pages/astrochem.py", "astrochem-emulator",  # slider stops are log10 values: 10^4.5 = 3.16e4, 10^(4/3) = 21.5
     {"density": 3.16e4, "temperature": 21.5, "g0": 1.0, "av": 10.0, "zeta": 1.3e-17},
     [("radio", "astro_mode", "Emulator"), ("select_slider", "astro_em_density", 4.5),
      ("select_slider", "astro_em_temperature", 1.3333)]),
    ("pages/astrochem.py", "astrochem-solver",
     {"density": 3.16e3, "temperature": 20.0, "g0": 1.0, "av": 10.0, "zeta": 1.3e-17, "t_end_yr": 1e4,
      "elements": "low-metal"},
     [("radio", "astro_mode", "Solver"), ("select_slider", "astro_density", 3.5),
      ("select_slider", "astro_temperature", 1.3), ("select_slider", "astro_t_end", 1e4),
      ("selectbox", "astro_elements", "low-metal")]),
    ("pages/diffusion.py", "diffusion.sample",
     {"dataset": "gmrf", "graph": "ring of 24", "sampler": "probability_flow", "steps": 20, "n": 16, "seed": 3},
     [("selectbox", "dataset", "gmrf"), ("selectbox", "graph", "ring of 24"),
      ("selectbox", "sampler", "probability_flow"), ("slider", "steps", 20), ("number_input", "n", 16),
      ("number_input", "seed", 3)]),
], ids=["pde", "pde-fit", "pde-hybrid", "astro-emulator", "astro-solver", "diffusion"])
def test_link_restores_each_twin(store, script, kind, params, widgets):
    at = open_link(script, store.save(kind, f"{kind} run", params))
    assert not at.exception, at.exception
    assert "Restored run" in at.info[0].value
    for widget, key, value in widgets:
        assert getattr(at, widget)(key=key).value == value, key


def test_design_is_saved_and_reopened(store):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.switch_page("pages/synthesis.py")
    at.session_state["synth_tab"] = "Design"
    at.run()
    at.number_input(key="design_target").set_value(500.0)
    at.multiselect(key="design_fix").set_value(["solvent"])
    at.button(key="design_run").click().run()
    assert not at.exception, at.exception
    at.button(key="synth_run_design_save").click().run()
    [run] = store.list(kind="synth.design")
    assert run.params["target_nm"] == 500.0 and run.params["fixed"] == {"solvent": "octadecene"}
    assert "--target-pl-nm 500 --phase cube" in run.command and "--fix solvent=octadecene" in run.command
    saved = store.get(run.id).arrays
    assert len(saved["verified_PL_nm"]) == len(at.session_state["design_result"][1]["recipes"])

    reopened = open_link("pages/synthesis.py", run.id)
    assert not reopened.exception, reopened.exception
    assert reopened.number_input(key="design_target").value == 500.0
    assert reopened.multiselect(key="design_fix").value == ["solvent"]
    _, result = reopened.session_state["design_result"]  # recomputed: the design is deterministic
    np.testing.assert_allclose([r["verified"]["pl_peak_nm"] for r in result["recipes"]], saved["verified_PL_nm"])
