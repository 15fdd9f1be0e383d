"""Emulator: scaling, models, losses, a short training run on a tiny dataset, the shipped checkpoint, CLI."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch

from engine.astrochem import loss
from engine.astrochem.compiled import (
    column_max_bits,
    exp2_,
    gather_pair_sums,
    lagrange_multipliers,
    row_sums,
    silu_,
)
from engine.astrochem.data import generate_dataset, sample_parameters
from engine.astrochem.inference import Emulator, project_conserved
from engine.astrochem.models import MODEL_DIR, Autoencoder, AutoencoderConfig, EmulatorConfig, LatentEmulator
from engine.astrochem.network import load_network
from engine.astrochem.physics import PhysicalParams, initial_abundances
from engine.astrochem.processing import FLOOR, Scaling
from engine.astrochem.solver import conservation_error, solve
from engine.astrochem.train import load_training_data, train
from engine.checkpoints import CheckpointError
from engine.cli import main
from engine.errors import InputError

TINY = {"n": 6, "seed": 3, "t_end_yr": 1e3, "n_out": 8}


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("astro") / "tiny.h5"
    generate_dataset(path, **TINY)
    return path


@pytest.fixture(scope="module")
def tiny_models(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    card = train(tiny_dataset, out, seed=0, autoencoder_config=AutoencoderConfig(latent=8, hidden=32, epochs=12),
                 emulator_config=EmulatorConfig(hidden=32, depth=2, epochs=12, rollout=8))
    return out, card


def test_scaling_round_trip_and_parameter_range():
    rng = np.random.default_rng(0)
    abundances = 10.0 ** rng.uniform(-25, -1, size=(4, 5, 294))
    params = sample_parameters(4, 0)
    scaling = Scaling.fit(abundances, params)
    back = scaling.from_model(scaling.to_model(abundances))
    np.testing.assert_allclose(back, np.log10(np.maximum(abundances, FLOOR)), atol=1e-9)
    scaled = scaling.params_to_model(params)
    assert scaled.min() == pytest.approx(-1.0) and scaled.max() == pytest.approx(1.0)
    tensor = scaling.to_model(torch.as_tensor(abundances))
    np.testing.assert_allclose(tensor.numpy(), scaling.to_model(abundances), atol=1e-9)
    restored = Scaling.from_state(scaling.state())
    np.testing.assert_allclose(restored.to_model(abundances), scaling.to_model(abundances))


def test_model_shapes_tied_weights_and_identity_start():
    autoencoder = Autoencoder(294, AutoencoderConfig(latent=10, hidden=40))
    x = torch.randn(7, 294)
    assert autoencoder.encode(x).shape == (7, 10)
    assert autoencoder(x).shape == (7, 294)
    assert sum(p.numel() for p in autoencoder.parameters()) == 40 * 294 + 40 * 10 + 40 + 10 + 40 + 294
    stepper = LatentEmulator(10, EmulatorConfig(hidden=16, depth=2))
    z = torch.randn(7, 10)
    params, times = torch.zeros(7, 5), torch.linspace(0, 1, 5)
    np.testing.assert_allclose(stepper(params, times[:1].expand(7, 1), z).detach(), z)  # zero-initialised residual
    assert stepper.rollout(params, times, z).shape == (7, 5, 10)


def test_conservation_loss_zero_for_conserving_input_and_positive_otherwise(tiny_dataset):
    network = load_network()
    trajectory = load_training_data(tiny_dataset).abundances[0].astype(np.float64)
    totals = torch.as_tensor(network.totals(initial_abundances(network)))
    totals[-1] = 0.0
    stoich = torch.as_tensor(network.stoichiometry, dtype=torch.float64)
    logs = torch.log10(torch.as_tensor(np.maximum(trajectory, FLOOR)))
    assert float(loss.conservation(logs, totals, stoich)) < 1e-6  # float32 storage rounding only
    broken = logs.clone()
    broken[:, network.index["CO"]] += 0.3
    broken[:, network.index["H2"]] -= 0.01
    assert float(loss.conservation(broken, totals, stoich)) > 1e-3


def test_projection_restores_totals_and_leaves_trace_species():
    network = load_network()
    x = solve(PhysicalParams(), t_end_yr=1e4, n_out=4).abundances
    start = initial_abundances(network)
    noisy = x * 10.0 ** np.random.default_rng(1).uniform(-0.1, 0.1, size=x.shape)
    assert conservation_error(network, noisy, start) > 1e-2
    totals = network.totals(start)
    totals[-1] = 0.0
    fixed = project_conserved(noisy, network.stoichiometry, totals)
    assert conservation_error(network, fixed, start) < 1e-8
    trace = (noisy > 1e-18) & (noisy < 1e-10)
    np.testing.assert_allclose(fixed[trace], noisy[trace], rtol=1e-3)


def test_projection_kernels_match_dense_linear_algebra():
    rng = np.random.default_rng(4)
    size, n = 4, 5
    x = rng.uniform(0.1, 1.0, (n, 6))
    x[0, 0], x[:, 1] = -2.0, -rng.uniform(1e-3, 1.0, n)  # one negative entry; an all-negative column
    top = column_max_bits(x.view(np.int64)).view(np.float64)
    np.testing.assert_array_equal(top[[0, *range(2, 6)]], x.max(axis=0)[[0, *range(2, 6)]])
    assert top[1] < 0  # the order of negative floats is lost, their sign is not: such columns are never kept
    weights = rng.uniform(0.0, 2.0, (3, 6))
    products = np.empty((3, n))
    row_sums(x, weights, products)
    np.testing.assert_allclose(products, weights @ x.T, rtol=1e-12)
    sums = rng.uniform(0.5, 2.0, (size + 1, n))
    totals, scale = rng.uniform(1.0, 2.0, size), rng.uniform(0.5, 1.5, size - 1)
    roots = rng.normal(size=(n, size, size))
    spd = roots @ roots.transpose(0, 2, 1) + size * np.eye(size)
    upper = np.stack([m[np.triu_indices(size)] for m in spd], axis=1)  # (P, n), rows of the upper half
    mu = np.empty((size, n))
    lagrange_multipliers(sums, upper, totals, scale, mu)
    for r in range(n):
        norm = np.append(scale, sums[size, r])
        system = spd[r] / np.outer(norm, norm) + 1e-9 * np.eye(size)
        expected = np.linalg.solve(system, (totals - sums[:size, r]) / norm) / norm
        np.testing.assert_allclose(mu[:, r], expected, rtol=1e-10)


def test_pair_sums_match_dense_products():
    rng = np.random.default_rng(5)
    x = rng.uniform(1e-12, 1.0, (7, 9)).astype(np.float32)
    stoichiometry = rng.integers(0, 3, (9, 4)).astype(np.float64)
    upper_i, upper_j = np.triu_indices(4)
    pairs = stoichiometry[:, upper_i] * stoichiometry[:, upper_j]
    species, index = np.nonzero(pairs)
    start = np.searchsorted(species, np.arange(10))
    keep = np.array([0, 2, 3, 8])
    kept, upper = np.empty((4, 7), np.float32), np.empty((10, 7), np.float32)
    gather_pair_sums(x, keep, start, index, pairs[species, index].astype(np.float32), kept, upper)
    np.testing.assert_array_equal(kept, x[:, keep].T)
    np.testing.assert_allclose(upper, pairs[keep].T @ (x[:, keep].astype(np.float64) ** 2).T, rtol=1e-6)


def test_compiled_exp2_and_silu_are_float32_accurate():
    rng = np.random.default_rng(6)
    x = np.concatenate([rng.uniform(-70.0, 5.0, 5000), np.arange(-66.0, 3.0)]).astype(np.float32)
    bits, spare = np.empty(x.size, np.int32), np.empty(x.size, np.float32)
    powers = x.copy()
    exp2_(powers, bits)
    np.testing.assert_allclose(powers, np.exp2(x.astype(np.float64)), rtol=2e-7)
    h = np.concatenate([rng.normal(0.0, 4.0, 5000), [-200.0, -30.0, 0.0, 30.0, 200.0]]).astype(np.float32)
    exact = h / (1.0 + np.exp(-h.astype(np.float64)))
    silu_(h, bits, spare)
    np.testing.assert_allclose(h, exact, rtol=2e-6, atol=2e-6)


def test_short_training_lowers_losses_and_writes_loadable_checkpoints(tiny_models):
    out, card = tiny_models
    import json

    log = json.loads((out / "training_log.json").read_text())
    ae = [row for row in log if row["stage"] == "autoencoder"]
    em = [row for row in log if row["stage"] == "emulator"]
    assert ae[-1]["train_reconstruction"] < ae[0]["train_reconstruction"]
    assert min(row["val_rollout_mae_dex"] for row in em) < em[0]["val_rollout_mae_dex"]
    assert card["dataset"]["manifest"]["seed"] == TINY["seed"] and card["seed"] == 0
    assert {"rollout_median_dex", "nearest_neighbour_median_dex"} <= set(card["metrics"]["test"])
    emulator = Emulator.pretrained(out)
    params = sample_parameters(2, 11)
    assert emulator.emulate(params).shape == (2, TINY["n_out"], 294)
    assert emulator.latent_emulate(params).shape == (2, TINY["n_out"] + 1, 8)
    assert emulator.emulate(params, times_yr=[1.0, 10.0, 1e3]).shape == (2, 3, 294)
    with pytest.raises(InputError, match="times_yr must lie in"):
        emulator.emulate(params, times_yr=[1.0, 1e4])
    with pytest.raises(InputError, match="density = 10 cm"):
        emulator.emulate([[10.0, 10.0, 1.0, 10.0, 1e-17]])


@pytest.fixture(scope="module")
def shipped():
    return Emulator.pretrained()


def test_shipped_emulator_beats_nearest_neighbour_on_held_out_clouds(shipped):
    grid = (float(shipped.times_yr[-1]), len(shipped.times_yr))
    pool_params, held_params = sample_parameters(6, 901), sample_parameters(3, 902)
    pool = np.stack([solve(PhysicalParams.from_array(p), t_end_yr=grid[0], n_out=grid[1]).abundances
                     for p in pool_params])
    truth = np.stack([solve(PhysicalParams.from_array(p), t_end_yr=grid[0], n_out=grid[1]).abundances
                      for p in held_params])
    scaled = shipped.scaling.params_to_model
    nearest = np.argmin(((scaled(held_params)[:, None] - scaled(pool_params)[None]) ** 2).sum(-1), axis=1)
    mask = truth > 1e-12

    def median_error(predicted):
        return np.median(np.abs(np.log10(np.maximum(predicted, FLOOR)) - np.log10(np.maximum(truth, FLOOR)))[mask])

    emulated, baseline = median_error(shipped.emulate(held_params)), median_error(pool[nearest])
    assert emulated < baseline, (emulated, baseline)


def test_corrupt_or_mismatched_checkpoint_is_a_clear_error(tmp_path):
    for name in ("autoencoder", "emulator"):
        for suffix in (".pt", ".card.json"):
            shutil.copy(MODEL_DIR / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
    Emulator.pretrained(tmp_path)  # the copy loads
    data = bytearray((tmp_path / "emulator.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "emulator.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its model card"):
        Emulator.pretrained(tmp_path)
    (tmp_path / "emulator.pt").unlink()
    with pytest.raises(CheckpointError, match="does not exist"):
        Emulator.pretrained(tmp_path)


def test_cli_emulate_writes_the_solve_layout_and_rejects_other_grids(tmp_path, capsys):
    out = tmp_path / "em.h5"
    assert main(["astro", "emulate", "--density", "3e4", "--temperature", "20", "--out", str(out)]) == 0
    with h5py.File(out, "r") as handle:
        assert handle["abundances"].shape == (64, 294)
        assert handle["times_yr"][-1] == pytest.approx(1e6)
        assert handle.attrs["density"] == pytest.approx(3e4)
        assert [s.decode() for s in handle["species"][:3]] == list(load_network().species[:3])
    capsys.readouterr()
    assert main(["astro", "emulate", "--t-end-yr", "1e7"]) == 2
    assert "trained on" in capsys.readouterr().err
    assert main(["astro", "emulate", "--density", "1e7"]) == 2
    assert "training box" in capsys.readouterr().err
    assert main(["train", "astro"]) == 2
    assert "--data" in capsys.readouterr().err


def test_cpu_rollout_matches_the_torch_stepper(shipped):
    params = sample_parameters(5, 77)
    fast = shipped.latent_emulate(params)
    start = torch.as_tensor(fast[:, 0])
    scaled = torch.as_tensor(shipped.scaling.params_to_model(params), dtype=torch.float32)
    with torch.no_grad():
        reference = shipped.stepper.rollout(scaled, shipped._t_next, start).numpy()
    np.testing.assert_allclose(fast[:, 1:], reference, atol=1e-4)


def test_output_times_match_the_grid_and_projection_is_per_cloud(shipped):
    params = sample_parameters(3, 78)
    full = shipped.emulate(params)
    picked = shipped.emulate(params, times_yr=shipped.times_yr[[2, 30, 63]])
    np.testing.assert_allclose(picked, full[:, [2, 30, 63]], rtol=1e-3, atol=1e-18)
    np.testing.assert_allclose(shipped.emulate(params[1:2]), full[1:2], rtol=1e-3, atol=1e-18)
