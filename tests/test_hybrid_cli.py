"""Hybrid PDE twin: `python -m engine pde ...` commands (in-process) and their error messages."""

import json

import numpy as np
import pytest

from engine.cli import main


def test_simulate_then_fit_round_trip(tmp_path, capsys):
    out = tmp_path / "u.npz"
    args = ["pde", "simulate", "--equation", "burgers", "--nx", "64", "--nu", "0.05", "--t-end", "0.5",
            "--n-out", "6", "--init", "sine", "--seed", "0", "--out", str(out)]
    assert main(args) == 0
    with np.load(out) as data:
        assert data["x"].shape == (64,) and data["t"].shape == (6,) and data["u"].shape == (6, 64)
        assert np.allclose(data["u"][0], -np.sin(np.pi * data["x"]))
    capsys.readouterr()
    assert main(["pde", "fit", "--equation", "burgers", "--data", str(out), "--nu0", "0.1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"nu", "loss"} and abs(result["nu"] - 0.05) < 1e-3


def test_smoke_simulation_writes_2d_fields(tmp_path):
    out = tmp_path / "s.npz"
    assert main(["pde", "simulate", "--equation", "smoke", "--nx", "16", "--ny", "16", "--t-end", "0.2",
                 "--n-out", "3", "--init", "gaussian", "--out", str(out)]) == 0
    with np.load(out) as data:
        assert data["density"].shape == (3, 16, 16) and data["y"].shape == (16,)


@pytest.mark.parametrize("args,message", [
    (["pde", "simulate", "--nx", "4", "--out", "X"], "nx = 4"),
    (["pde", "simulate", "--equation", "smoke", "--nx", "16", "--out", "X"], "ny"),
    (["pde", "fit", "--data", "missing.npz"], "not found"),
])
def test_bad_input_exits_2_with_a_message(args, message, tmp_path, capsys):
    args = [str(tmp_path / a) if a == "X" else a for a in args]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_fit_rejects_a_file_without_arrays(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, y=np.zeros(3))
    assert main(["pde", "fit", "--data", str(bad)]) == 2
    assert "lacks arrays" in capsys.readouterr().err


def test_data_generation_is_identical_in_process_and_on_joblib(tmp_path, capsys):
    import torch

    from engine.execution import load_chunks
    from engine.hybrid.physical import Burgers, rollout
    from engine.hybrid.spectral import Grid

    common = ["pde", "data", "--n", "5", "--chunk-size", "2", "--nx", "16", "--n-steps", "3", "--seed", "4",
              "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--out", str(tmp_path / "b"), "--workers", "2"]) == 0
    assert json.loads(capsys.readouterr().out.split("}\n")[0] + "}")["chunks"] == 3
    a, b = load_chunks(tmp_path / "a"), load_chunks(tmp_path / "b")
    assert a["u"].shape == (5, 4, 1, 16) and list(a["index"]) == [0, 1, 2, 3, 4]
    assert np.array_equal(a["u"], b["u"]) and len({float(u[0].std()) for u in a["u"][:, 0]}) == 5  # distinct ICs
    with torch.no_grad():  # the stored frames are the solver's own rollout of the stored initial state
        again = rollout(Burgers(Grid((16,)), 0.05, 0.01), torch.tensor(a["u"][:, 0], dtype=torch.float64), 3)
    assert np.allclose(again.numpy(), a["u"], atol=1e-6)
    assert main([*common, "--out", str(tmp_path / "a")]) == 0  # rerun: everything resumed, nothing recomputed
    assert json.loads(capsys.readouterr().out)["resumed_chunks"] == 3


def test_simulate_noise_is_seeded_and_range_checked(tmp_path):
    runs = []
    for name, noise in (("a", "0.05"), ("b", "0.05"), ("c", "0")):
        out = tmp_path / f"{name}.npz"
        assert main(["pde", "simulate", "--nx", "16", "--n-out", "3", "--t-end", "0.1", "--noise", noise,
                     "--seed", "1", "--out", str(out)]) == 0
        with np.load(out) as data:
            runs.append((data["x"], data["u"]))
    (xa, ua), (_, ub), (xc, uc) = runs
    assert np.array_equal(ua, ub) and np.array_equal(xa, xc)  # same seed, same noise; coordinates untouched
    assert 0.02 < np.sqrt(np.mean((ua - uc) ** 2)) / np.sqrt(np.mean(uc**2)) < 0.08
    assert main(["pde", "simulate", "--noise", "2", "--out", str(tmp_path / "d.npz")]) == 2
