"""Chunked synthesis sweeps: same rows as the in-memory sweep on every execution path; CLI flags."""

import numpy as np
import pytest

from engine.cli import main
from engine.execution import ExecutionSpec, load_chunks
from engine.synthesis.sweeps import make_axis, sweep, sweep_to_folder

AXES = [make_axis("temperature_c", 140, 200, 4), make_axis("cs_pb_ratio", 0.1, 2.0, 3)]


@pytest.mark.parametrize("spec", [ExecutionSpec(), ExecutionSpec("joblib", 2)], ids=["inprocess", "joblib"])
def test_chunked_sweep_matches_in_memory_sweep(tmp_path, spec):
    expected = sweep(AXES)
    result = sweep_to_folder(AXES, tmp_path / "sweep", spec=spec, chunk_rows=5)
    assert result.n_chunks == 3
    rows = load_chunks(tmp_path / "sweep")
    for column in ("temperature_c", "cs_pb_ratio", "edge_length_nm", "p_cube", "pl_peak_nm"):
        np.testing.assert_allclose(rows[column], expected[column].to_numpy(), rtol=0, atol=0, equal_nan=True)
    assert list(rows["phase"]) == list(expected["phase"])


def test_three_axis_sweep_and_resume(tmp_path):
    axes = [*AXES, make_axis("oleylamine_ml", 0.5, 1.5, 2)]
    first = sweep_to_folder(axes, tmp_path, chunk_rows=8)
    again = sweep_to_folder(axes, tmp_path, chunk_rows=8)
    assert (first.computed, again.computed, again.resumed) == (3, 0, 3)
    assert len(load_chunks(tmp_path)["phase"]) == 24


def test_cli_folder_sweep_and_flag_errors(tmp_path, capsys):
    args = ["synth", "sweep", "--vary", "temperature_c=150:190:3", "--vary", "cs_pb_ratio=0.2:1:2"]
    assert main([*args, "--out", str(tmp_path / "folder"), "--workers", "2"]) == 0
    assert len(load_chunks(tmp_path / "folder")["phase"]) == 6
    assert main([*args, "--out", str(tmp_path / "t.csv"), "--dask", "local"]) == 2
    assert "need --out to be a folder" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "x"), "--dask", "remote"]) == 2
    assert "--dask 'remote'" in capsys.readouterr().err
