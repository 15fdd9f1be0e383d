"""Property-based tests (Hypothesis): hostile values always give a clear error, never a traceback."""

from __future__ import annotations

import html

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import InputError
from engine.execution import ExecutionSpec
from engine.reports import render_html
from engine.runs import RunStore

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
hostile_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | hostile_text,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner,
                                                                                        max_size=4), max_leaves=12)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return RunStore(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'runs.db'}")


@SETTINGS
@given(kind=hostile_text, title=hostile_text, params=st.dictionaries(hostile_text, json_values, max_size=5),
       note=hostile_text)
def test_saving_any_values_either_lands_whole_or_is_a_clear_error(store, kind, title, params, note):
    before = len(store.list(limit=10_000))
    try:
        run_id = store.save(kind, title, params, note=note)
    except InputError as error:
        assert str(error)
        assert len(store.list(limit=10_000)) == before
        return
    run = store.get(run_id)
    assert run.note == note and run.title == title.strip()
    page = render_html(run)
    assert f"<h1>{html.escape(run.title, quote=True)}</h1>" in page  # shown as text, never as markup


@SETTINGS
@given(array=st.sampled_from([np.array([object()], dtype=object), np.array(["a", "b"]), np.zeros((2, 3)),
                              np.array([np.nan, np.inf]), np.array([], dtype=float)]))
def test_arrays_round_trip_or_are_rejected(store, array):
    try:
        run_id = store.save("prop.arrays", "arrays", {}, arrays={"a": array})
    except InputError as error:
        assert "dtype" in str(error)
        return
    np.testing.assert_array_equal(store.get(run_id).arrays["a"], array)


@SETTINGS
@given(dask=st.none() | hostile_text, scheduler=st.none() | hostile_text,
       workers=st.none() | st.integers(min_value=-5, max_value=64))
def test_execution_options_parse_or_name_the_flag(dask, scheduler, workers):
    try:
        spec = ExecutionSpec.from_options(dask=dask, scheduler=scheduler, workers=workers, env={})
    except InputError as error:
        assert any(flag in str(error) for flag in ("--dask", "--scheduler", "--workers", "not both"))
        return
    assert spec.mode in ("inprocess", "joblib", "dask")


hostile_numbers = (st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-10**30, max_value=10**30)
                   | st.text(max_size=20) | st.none() | st.booleans())


@SETTINGS
@given(field=st.sampled_from(["temperature_c", "cs_pb_ratio", "pb_concentration_m", "oleic_acid_ml",
                              "oleylamine_ml", "reaction_time_s", "water_ppm", "solvent", "colour"]),
       value=hostile_numbers)
def test_synthesis_recipe_accepts_or_names_the_field(field, value):
    from engine.synthesis.schemas import recipe_from_mapping

    try:
        recipe = recipe_from_mapping({field: value})
    except InputError as error:
        assert field in str(error)
        return
    assert recipe.to_dict()[field] == value or field == "solvent"


@SETTINGS
@given(field=st.sampled_from(["density", "temperature", "g0", "av", "zeta"]), value=hostile_numbers)
def test_astro_parameters_accept_or_name_the_field(field, value):
    from engine.astrochem.physics import PhysicalParams

    try:
        params = PhysicalParams(**{field: value})
    except InputError as error:
        assert field in str(error) or field.replace("_", " ") in str(error)
        return
    assert np.isfinite(getattr(params, field))


@SETTINGS
@given(field=st.sampled_from(["nx", "nu", "t_end", "n_out", "velocity", "buoyancy", "seed"]), value=hostile_numbers)
def test_pde_simulation_config_accepts_or_names_the_field(field, value):
    from engine.hybrid.inference import SimulationConfig

    try:
        SimulationConfig(**{field: value})
    except InputError as error:
        assert field.replace("_", "-") in str(error) or field in str(error)


@pytest.mark.parametrize("suffix,args", [
    (".h5", ["astro", "solve", "--density", "1e4", "--temperature", "10", "--g0", "1", "--av", "10",
             "--zeta", "1.3e-17", "--t-end-yr", "10", "--n-out", "4", "--out"]),
    (".npz", ["pde", "fit", "--equation", "burgers", "--json", "--data"]),
])
def test_cli_with_garbage_or_truncated_files_gives_one_line_errors(tmp_path, capsys, suffix, args):
    from engine.cli import main

    for content in (b"", b"\x89HDF\r\n\x1a\n" + b"\0" * 40, b"PK\x03\x04garbage", "naïve ✓".encode()):
        path = tmp_path / f"bad{suffix}"
        path.write_bytes(content)
        if args[-1] == "--out":  # an output path that is a directory cannot be written
            target = tmp_path / "a_directory"
            target.mkdir(exist_ok=True)
            code = main([*args, str(target)])
        else:
            code = main([*args, str(path)])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and "Traceback" not in err
