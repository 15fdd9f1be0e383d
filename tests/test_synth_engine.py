"""Synthesis twin engine: fast solver vs solve_ivp reference, schema errors, batch API, sweeps, datasets."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from engine.errors import InputError
from engine.execution import ExecutionSpec
from engine.synthesis import Recipe, make_axis, simulate, simulate_batch, simulate_reference, sweep, time_course
from engine.synthesis.bench import agreement
from engine.synthesis.dataset import build_dataset, sample_recipes, stratified_indices, write_dataset
from engine.synthesis.schemas import recipe_from_mapping, validate_arrays
from engine.synthesis.sweeps import parse_axis


def test_fast_solver_agrees_with_reference_within_one_percent():
    columns = {"temperature_c": [170.0, 120.0, 230.0], "cs_pb_ratio": [0.266, 1.5, 0.1],
               "reaction_time_s": [5.0, 300.0, 2000.0], "oleylamine_ml": [0.5, 2.0, 0.3]}
    fast, ref = simulate_batch(columns), simulate_reference(columns)
    result = agreement(fast, ref)
    assert result["max_relative_difference"] <= 0.01, result
    assert result["max_abs_probability_difference"] <= 0.01 and result["phase_agreement"] == 1.0


def test_defaults_are_the_protesescu_recipe():
    recipe = Recipe()
    assert recipe.temperature_c == 170.0 and recipe.solvent == "octadecene"
    assert recipe.cs_pb_ratio == pytest.approx(0.05 / 0.188, rel=0.01)
    assert recipe.pb_concentration_m == pytest.approx(0.188e-3 / 6.4e-3, rel=0.01)
    assert (recipe.oleic_acid_ml, recipe.oleylamine_ml, recipe.reaction_time_s) == (0.5, 0.5, 5.0)


@pytest.mark.parametrize("field,value,fragment", [
    ("temperature_c", 300.0, "temperature_c = 300.0 is outside the allowed range [80, 250]"),
    ("cs_pb_ratio", math.nan, "cs_pb_ratio = nan is outside the allowed range"),
    ("water_ppm", math.inf, "water_ppm = inf"),
    ("oleic_acid_ml", "lots", "oleic_acid_ml must be a number in [0.1, 3]"),
    ("solvent", "water", "solvent 'water' is not supported; allowed: octadecene"),
])
def test_schema_errors_name_the_field_and_range(field, value, fragment):
    with pytest.raises(InputError, match=None) as info:
        Recipe(**{field: value})
    assert fragment in str(info.value)


def test_temperature_above_solvent_boiling_point_is_refused():
    with pytest.raises(InputError, match=r"boiling point of mesitylene.*\[80, 164.7\]"):
        Recipe(solvent="mesitylene")
    with pytest.raises(InputError, match="unknown recipe field"):
        recipe_from_mapping({"temprature_c": 100})


def test_batch_validation_reports_bad_entries():
    with pytest.raises(InputError, match=r"reaction_time_s = 0.5 is outside .* \(1 bad value"):
        validate_arrays({"reaction_time_s": [5.0, 0.5, 10.0]})
    with pytest.raises(InputError, match="incompatible lengths"):
        validate_arrays({"temperature_c": [150.0, 160.0], "water_ppm": [0.0, 1.0, 2.0]})


def test_batch_equals_single_recipes_in_any_order():
    temps = [130.0, 170.0, 210.0]
    batch = simulate_batch({"temperature_c": temps})
    reverse = simulate_batch({"temperature_c": temps[::-1]})
    np.testing.assert_allclose(batch["edge_length_nm"], reverse["edge_length_nm"][::-1])
    single = simulate(Recipe(temperature_c=210.0))
    assert single["edge_length_nm"] == pytest.approx(batch["edge_length_nm"][2])
    assert sum(single["phase_probabilities"].values()) == pytest.approx(1.0)


def test_time_course_shows_a_lamer_burst():
    course = time_course(Recipe())
    s, j, n = course["supersaturation"], course["nucleation_rate"], course["number_umol_l"]
    assert s[0] == s.max() and s[-1] < 0.05 * s[0]  # supersaturation collapses
    peak = int(np.argmax(j))
    assert j[-1] < 1e-6 * j[peak]  # nucleation switches off ...
    assert np.all(np.diff(course["conversion"]) >= -1e-9) and n.max() > 0  # ... while crystals keep growing
    assert course["time_s"][-1] == pytest.approx(5.0)


def test_sweep_grid_and_axis_parsing(tmp_path):
    axis = parse_axis("temperature_c=140:200:4")
    assert axis == make_axis("temperature_c", 140.0, 200.0, 4)
    frame = sweep([axis, make_axis("cs_pb_ratio", 0.1, 2.0, 3)])
    assert len(frame) == 12 and set(frame["phase"]) <= {"cube", "platelet", "Cs4PbBr6", "CsPb2Br5", "none"}
    np.testing.assert_allclose(frame[[c for c in frame if c.startswith("p_")]].sum(axis=1), 1.0)
    for bad in ("temperature_c=140:200", "solvent=1:2:3", "temperature_c=10:200:5", "water_ppm=0:10:0"):
        with pytest.raises(InputError):
            parse_axis(bad)


def test_stratified_indices_balance_classes():
    labels = np.array([0] * 50 + [1] * 5 + [2] * 45)
    chosen = stratified_indices(labels, 30, 3, np.random.default_rng(0))
    counts = np.bincount(labels[chosen], minlength=3)
    assert counts.sum() == 30 and counts[1] == 5 and abs(counts[0] - counts[2]) <= 1


def test_dataset_is_stratified_and_reproducible_on_every_execution_path(tmp_path):
    frame, manifest = build_dataset(60, seed=7)
    again, _ = build_dataset(60, seed=7, spec=ExecutionSpec("joblib", 2), chunk_rows=70)  # 4 chunks, 2 processes
    pd.testing.assert_frame_equal(frame, again)
    whole, part = sample_recipes(40, seed=7), sample_recipes(15, seed=7, start=20)
    assert all(np.array_equal(whole[k][20:35], part[k]) for k in whole)
    assert len(frame) == 60 and manifest["seed"] == 7 and set(manifest["ranges"]) >= {"temperature_c"}
    assert all(count >= 6 for count in manifest["class_balance"].values()), manifest["class_balance"]
    written = write_dataset(frame, manifest, str(tmp_path / "d.parquet"))
    assert pd.read_parquet(tmp_path / "d.parquet").shape == frame.shape
    assert json.loads((tmp_path / "d.parquet.manifest.json").read_text())["rows"] == written["rows"] == 60
