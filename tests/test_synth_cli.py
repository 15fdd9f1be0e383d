"""`python -m engine synth ...`: JSON shape, defaults, errors, files."""

import json

import pandas as pd

from engine.cli import main

KEYS = {"phase_probabilities", "phase", "edge_length_nm", "edge_length_std_nm", "platelet_thickness_ml",
        "pl_peak_nm", "pl_fwhm_nm", "plqy"}


def test_simulate_json_shape_and_defaults(capsys):
    assert main(["synth", "simulate", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert KEYS <= set(out)
    assert set(out["phase_probabilities"]) == {"cube", "platelet", "Cs4PbBr6", "CsPb2Br5", "none"}
    assert out["phase"] == "cube" and out["platelet_thickness_ml"] is None
    assert 490 < out["pl_peak_nm"] < 512


def test_simulate_platelet_flags(capsys):
    assert main(["synth", "simulate", "--temperature-c", "100", "--oleic-acid-ml", "1.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["phase"] == "platelet" and isinstance(out["platelet_thickness_ml"], int)


def test_simulate_bad_value_is_a_clear_error(capsys):
    assert main(["synth", "simulate", "--cs-pb-ratio", "9", "--json"]) == 2
    err = capsys.readouterr().err
    assert "cs_pb_ratio = 9.0 is outside the allowed range [0.05, 4]" in err and "Traceback" not in err


def test_sweep_writes_csv_and_parquet(tmp_path, capsys):
    csv = tmp_path / "s.csv"
    assert main(["synth", "sweep", "--vary", "temperature_c=120:200:5", "--vary", "water_ppm=0:1000:2",
                 "--oleylamine-ml", "1.0", "--out", str(csv)]) == 0
    summary = json.loads(capsys.readouterr().out)
    frame = pd.read_csv(csv)
    assert summary["rows"] == len(frame) == 10 and (frame["oleylamine_ml"] == 1.0).all()
    parquet = tmp_path / "s.parquet"
    assert main(["synth", "sweep", "--vary", "cs_pb_ratio=0.1:3:3", "--out", str(parquet)]) == 0
    assert len(pd.read_parquet(parquet)) == 3
    assert main(["synth", "sweep", "--vary", "cs_pb_ratio=0.1:3:3", "--out", str(tmp_path / "s.txt")]) == 2


def test_dataset_command_writes_manifest(tmp_path, capsys):
    out = tmp_path / "d.parquet"
    assert main(["synth", "dataset", "--n", "20", "--seed", "3", "--out", str(out)]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["rows"] == 20 and manifest["seed"] == 3 and "class_balance" in manifest
    assert (tmp_path / "d.parquet.manifest.json").exists()


def test_design_recipe_is_verified_by_the_physics(capsys):
    from engine.synthesis import Recipe, simulate

    assert main(["synth", "design", "--target-pl-nm", "490", "--phase", "cube", "--fix", "solvent=octadecene",
                 "--top", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["found"] and len(out["recipes"]) == 3
    best = out["recipes"][0]
    assert best["recipe"]["solvent"] == "octadecene"
    again = simulate(Recipe(**best["recipe"]))  # re-run the physics on the returned (rounded) recipe
    assert again["phase"] == "cube" and abs(again["pl_peak_nm"] - 490.0) <= 2.0
    low, high = best["predicted"]["pl_interval_90_nm"]
    assert low < best["predicted"]["pl_peak_nm"] < high


def test_design_bad_input_names_the_field(capsys):
    assert main(["synth", "design", "--target-pl-nm", "490", "--phase", "none", "--json"]) == 2
    assert "phase 'none'" in capsys.readouterr().err
    assert main(["synth", "design", "--target-pl-nm", "700", "--json"]) == 2
    assert "target_pl_nm" in capsys.readouterr().err
    assert main(["synth", "design", "--target-pl-nm", "490", "--fix", "water_ppm=9000", "--json"]) == 2
    assert "water_ppm" in capsys.readouterr().err
