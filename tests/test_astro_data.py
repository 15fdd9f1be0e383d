"""Astrochemistry dataset pipeline (resumable HDF5) and the `astro` CLI."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from engine.astrochem.data import (
    DONE,
    FAILED,
    PENDING,
    expected_steps,
    generate_dataset,
    read_manifest,
    sample_parameters,
)
from engine.astrochem.network import load_network
from engine.astrochem.physics import PARAM_NAMES, VALID_BOX
from engine.astrochem.solver import SolverConfig
from engine.cli import main
from engine.errors import InputError
from engine.execution import ExecutionSpec
from tests.conftest import ROOT

SMALL = {"n": 3, "seed": 7, "t_end_yr": 300.0, "n_out": 6}


def test_latin_hypercube_is_log_uniform_inside_the_box_and_seeded():
    a, b = sample_parameters(50, seed=3), sample_parameters(50, seed=3)
    np.testing.assert_array_equal(a, b)
    for column, name in enumerate(PARAM_NAMES):
        low, high = VALID_BOX[name]
        assert low <= a[:, column].min() and a[:, column].max() <= high
        # one sample per stratum of log10 space
        strata = np.floor(50 * (np.log10(a[:, column]) - np.log10(low)) / (np.log10(high) - np.log10(low)))
        assert sorted(strata.astype(int)) == list(range(50))


def test_killed_dataset_run_resumes_to_the_same_result(tmp_path):
    reference = tmp_path / "reference.h5"
    generate_dataset(reference, **SMALL)

    resumed = tmp_path / "resumed.h5"
    command = [sys.executable, "-m", "engine", "astro", "dataset", "--n", "3", "--seed", "7", "--t-end-yr", "300",
               "--n-out", "6", "--out", str(resumed)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = ""
    while "1/3" not in seen:  # the progress bar reports the first written trajectory
        char = process.stderr.read(1)
        assert char, f"dataset run ended before the first trajectory: {seen}"
        seen += char
    process.kill()  # SIGKILL mid-way: no clean-up in the child
    process.wait(timeout=60)
    with h5py.File(resumed, "r") as handle:
        finished = int((handle["status"][:] == DONE).sum())
    assert 1 <= finished < 3

    summary = generate_dataset(resumed, **SMALL)
    assert summary["solved_this_run"] == 3 - finished and summary["done"] == 3
    assert summary["worst_conservation_error"] <= 1e-6
    with h5py.File(reference, "r") as ref, h5py.File(resumed, "r") as new:
        np.testing.assert_array_equal(ref["params"][:], new["params"][:])
        np.testing.assert_array_equal(ref["abundances"][:], new["abundances"][:])
        assert new["abundances"].chunks == (1, 6, load_network().n_species)
        assert new["abundances"].compression == "gzip"
        assert [s.decode() for s in new["species"][:]] == list(load_network().species)
        np.testing.assert_allclose(new["times_yr"][:], np.logspace(0, np.log10(300.0), 6))
    manifest = read_manifest(resumed)
    assert manifest["network_sha256"] == load_network().sha256 and manifest["seed"] == 7
    assert manifest["param_box"]["av"] == list(VALID_BOX["av"])


def test_interrupted_run_keeps_finished_trajectories(tmp_path):
    path = tmp_path / "interrupted.h5"

    def interrupt(done, total):
        raise KeyboardInterrupt  # what Ctrl-C does between two trajectories

    with pytest.raises(KeyboardInterrupt):
        generate_dataset(path, progress=interrupt, **SMALL)
    with h5py.File(path, "r") as handle:
        assert list(handle["status"][:]).count(DONE) == 1 and list(handle["status"][:]).count(PENDING) == 2


def test_failures_are_recorded_not_fatal_and_manifest_mismatch_is_refused(tmp_path):
    path = tmp_path / "failing.h5"
    summary = generate_dataset(path, config=SolverConfig(max_steps=3), **SMALL)
    assert summary["failed"] == 3 and summary["done"] == 0
    with h5py.File(path, "r") as handle:
        assert (handle["status"][:] == FAILED).all()
        assert "BDF solver failed" in handle["error"][0].decode() and "n_H=" in handle["error"][0].decode()
    with pytest.raises(InputError, match="differs in: seed"):
        generate_dataset(path, config=SolverConfig(max_steps=3), **{**SMALL, "seed": 8})


@pytest.mark.parametrize("spec", [ExecutionSpec("joblib", 2), ExecutionSpec("dask", 2)], ids=["joblib", "dask"])
def test_every_execution_path_gives_the_same_trajectories(tmp_path, spec):
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    generate_dataset(one, n=3, seed=1, t_end_yr=100.0, n_out=4)
    generate_dataset(two, n=3, seed=1, t_end_yr=100.0, n_out=4, spec=spec)
    with h5py.File(one, "r") as a, h5py.File(two, "r") as b:
        np.testing.assert_array_equal(a["abundances"][:], b["abundances"][:])


def test_cli_solve_writes_the_documented_hdf5_layout(tmp_path, capsys):
    out = tmp_path / "run.h5"
    code = main(["astro", "solve", "--density", "1e4", "--temperature", "10", "--g0", "1", "--av", "10",
                 "--zeta", "1.3e-17", "--t-end-yr", "1e3", "--n-out", "8", "--out", str(out), "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["wall_time_s"] > 0 and printed["final_abundances"]["CO"] >= 0
    with h5py.File(out, "r") as handle:
        assert handle["abundances"].shape == (8, 294) and handle["times_yr"].shape == (8,)
        assert handle["species"][0].decode() == load_network().species[0]
        assert handle.attrs["density"] == 1e4 and handle.attrs["zeta"] == 1.3e-17
        assert handle.attrs["units_density"] == "cm^-3"


def test_cli_bad_input_is_one_clear_line(capsys):
    assert main(["astro", "solve", "--temperature", "3"]) == 2
    err = capsys.readouterr().err
    assert "temperature = 3 K is outside the allowed range [10, 300] K" in err and "Traceback" not in err
    assert main(["astro", "dataset", "--n", "0", "--out", "x.h5"]) == 2


def test_unreadable_or_unwritable_files_are_clear_errors(tmp_path, capsys):
    bad = tmp_path / "not_hdf5.h5"
    bad.write_text("plain text")
    assert main(["astro", "dataset", "--n", "2", "--out", str(bad), "--no-progress"]) == 2
    assert main(["astro", "solve", "--t-end-yr", "100", "--n-out", "4", "--out", str(tmp_path / "no" / "r.h5")]) == 2
    err = capsys.readouterr().err
    assert "cannot open the dataset file" in err and "cannot write the run" in err and "Traceback" not in err
    assert bad.read_text() == "plain text"  # the user's file is untouched


def test_expected_steps_model_orders_runs_by_cost():
    # log10 steps = 2.449 + 0.092 log10 n_H - 0.038 log10 T: 10^2.779 at n_H = 1e4 cm^-3, T = 10 K
    rows = np.array([[1e4, 10.0, 1.0, 10.0, 1.3e-17], [1e6, 10.0, 1.0, 10.0, 1.3e-17],
                     [1e4, 100.0, 1.0, 10.0, 1.3e-17]])
    steps = expected_steps(rows)
    assert steps[0] == pytest.approx(10 ** 2.779, rel=1e-9)
    assert steps[1] > steps[0] > steps[2]
