"""Lab CSV import: valid rows kept, every rejected row explained (row, column, problem, allowed values)."""

import pytest

from engine.errors import InputError
from engine.synthesis.lab import MAX_BYTES, read_lab_csv
from tests.conftest import ROOT

HEADER = ("sample_id,temperature_c,cs_pb_ratio,pb_concentration_m,oleic_acid_ml,oleylamine_ml,reaction_time_s,"
          "water_ppm,solvent,pl_peak_nm,phase\n")
GOOD = "A1,170,0.266,0.0294,0.5,0.5,5,0,octadecene,501,cube\n"


def test_shipped_example_and_template_are_valid():
    example = read_lab_csv((ROOT / "data/synthesis/lab_example.csv").read_bytes())
    assert len(example.valid) == 6 and not example.rejected
    template = read_lab_csv((ROOT / "data/synthesis/lab_template.csv").read_bytes())
    assert len(template.valid) == 0 and not template.rejected


def test_bad_rows_are_rejected_with_reasons_and_good_rows_kept():
    text = HEADER + GOOD + (
        "A2,170,0.266,0.0294,0.5,0.5,5,0,octadecene,nan,cube\n"        # NaN measurement
        "A3,443,0.266,0.0294,0.5,0.5,5,0,octadecene,501,cube\n"        # temperature in K, not °C
        "A4,170,0.266,0.0294,0.5,0.5,5,0,toluene,501,cube\n"           # unknown solvent
        "A5,170,0.266,0.0294,0.5,0.5,5,0,octadecene,501,cubic\n"       # unknown phase
        "A1,150,0.266,0.0294,0.5,0.5,5,0,octadecene,490,cube\n"        # duplicate sample_id
        "A6,150,0.266,0.0294,0.5,0.5,5,0,octadecene,490,cube\n")       # valid
    result = read_lab_csv(text)
    assert list(result.valid["sample_id"]) == ["A1", "A6"]
    by_row = {(p["row"], p["column"]): p for p in result.rejected}
    assert "finite" in by_row[(3, "pl_peak_nm")]["problem"]
    assert by_row[(4, "temperature_c")]["allowed"] == "80–250 °C"
    assert "octadecene" in by_row[(5, "solvent")]["allowed"]
    assert "cube" in by_row[(6, "phase")]["allowed"]
    assert "duplicate" in by_row[(7, "(row)")]["problem"]


def test_file_level_errors_name_the_columns_and_limit():
    with pytest.raises(InputError, match="unknown column.*temp_K.*missing recipe column.*temperature_c"):
        read_lab_csv(HEADER.replace("temperature_c", "temp_K") + GOOD)
    with pytest.raises(InputError, match="limit is 50 MB"):
        read_lab_csv(HEADER + GOOD * (MAX_BYTES // len(GOOD) + 1))


def test_cusum_threshold_holds_the_false_alarm_rate_and_flags_a_shift():
    import numpy as np

    from engine.synthesis.lab import cusum

    rng = np.random.default_rng(1)
    steady = [rng.normal(0, 1, 60) for _ in range(200)]  # in-distribution residuals, fresh seed
    alarms = sum(cusum(r)["alarm"] is not None for r in steady)
    assert alarms <= 6  # target 1 % (2 expected of 200); the old fixed h = 8 gave about 25
    assert cusum(steady[0])["alarm"] is None
    shifted = np.concatenate([steady[0][:30], steady[0][30:] + 3.0])
    alarm = cusum(shifted)["alarm"]
    assert alarm is not None and 30 <= alarm <= 45


def test_adapt_corrects_an_offset_and_keeps_the_shipped_model():
    import numpy as np
    import pandas as pd

    from engine.synthesis.adapt import adapt
    from engine.synthesis.dataset import TRAINING_BOX, sample_recipes
    from engine.synthesis.inference import load_surrogates
    from engine.synthesis.schemas import NUMERIC_FIELDS, SOLVENT_NAMES
    from engine.synthesis.simulation import PHASE_NAMES, simulate_batch

    model = load_surrogates(kinds=("mc_dropout",)).models["mc_dropout"]
    columns = sample_recipes(256, seed=11, box=TRAINING_BOX)
    sim = simulate_batch(columns)
    keep = np.flatnonzero(np.isin(sim["phase_index"], (0, 1)))[:40]
    rng = np.random.default_rng(0)
    lab = pd.DataFrame({name: columns[name][keep] for name in NUMERIC_FIELDS})
    lab["solvent"] = np.asarray(SOLVENT_NAMES)[columns["solvent"][keep]]
    lab["pl_peak_nm"] = sim["pl_peak_nm"][keep] + 6.0 + rng.normal(0, 0.5, keep.size)  # a systematic 6 nm offset
    lab["phase"] = np.asarray(PHASE_NAMES)[sim["phase_index"][keep]]
    before = {k: v.clone() for k, v in model.nets_[0].state_dict().items()}
    adapted, report = adapt(model, lab)
    assert report["pl_peak_nm"]["helped"] and report["pl_peak_nm"]["cv_mae_after"] < 2.0
    assert "skipped" in report["edge_length_nm"]
    assert all((before[k] == v).all() for k, v in model.nets_[0].state_dict().items())
    table = adapted.predict(lab)
    assert np.mean(np.abs(table["adapted_pl_peak_nm"] - lab["pl_peak_nm"])) < np.mean(
        np.abs(table["surrogate_pl_peak_nm"] - lab["pl_peak_nm"]))


def test_compare_with_twin_residuals():
    from engine.synthesis.lab import compare_with_twin

    example = read_lab_csv((ROOT / "data/synthesis/lab_example.csv").read_bytes()).valid
    table = compare_with_twin(example)
    assert list(table["twin_phase"]) == list(example["phase"])
    assert abs(table["residual_pl_peak_nm"].iloc[0] - 2.0) < 0.1  # the example row 1 is the twin + 2 nm


def test_lab_rows_persist_in_the_run_store(tmp_path):
    import numpy as np

    from engine.runs import RunStore
    from engine.synthesis.lab import compare_with_twin

    table = compare_with_twin(read_lab_csv((ROOT / "data/synthesis/lab_example.csv").read_bytes()).valid)
    arrays = {c: table[c].to_numpy(float) for c in table.columns if table[c].dtype.kind in "fi"}
    url = f"sqlite:///{tmp_path}/runs.db"
    run_id = RunStore(url).save("synth.lab", "lab", {"rows": len(table)}, arrays=arrays)
    again = RunStore(url).get(run_id)  # a second store on the same database: what a restart would see
    assert again.kind == "synth.lab" and np.allclose(again.arrays["pl_peak_nm"], arrays["pl_peak_nm"])
