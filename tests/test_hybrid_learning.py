"""Hybrid PDE twin: metric, windows, neural models, HDF5 cache, hybrid cycles, pretrained checkpoints."""

import json
import shutil

import numpy as np
import pytest
import torch

from engine.checkpoints import CheckpointError
from engine.errors import InputError
from engine.hybrid import data as data_mod
from engine.hybrid import pretrained
from engine.hybrid.data import DataSpec, load_or_generate
from engine.hybrid.hybrid import HybridConfig, HybridMode, HybridModel, train_hybrid
from engine.hybrid.physical import Burgers
from engine.hybrid.spectral import Grid
from engine.hybrid.synthetic import Architecture, NetConfig, build
from engine.hybrid.train import TrainConfig, nrmse, rollout_nrmse, windows


def test_nrmse_matches_pdebench_definition():
    target = np.ones((2, 3, 1, 8))
    target[1] *= 2.0
    pred = target * 1.1  # 10 % error everywhere
    assert nrmse(pred, target) == pytest.approx(0.1)
    pred[0, 0, 0, :4] += 1.0  # one sample/time: RMS error sqrt(0.01 + ...) -> averaged, not pooled
    per = np.sqrt(np.mean((pred - target) ** 2, axis=-1)) / np.sqrt(np.mean(target**2, axis=-1))
    assert nrmse(pred, target) == pytest.approx(per.mean())
    with pytest.raises(InputError):
        nrmse(np.ones((2, 3)), np.ones((2, 3)))


def test_sliding_windows_cover_every_start():
    traj = torch.arange(2 * 5, dtype=torch.float32).reshape(2, 5, 1, 1).expand(2, 5, 1, 4)
    inputs, targets = windows(traj, 2)
    assert inputs.shape == (6, 1, 4) and targets.shape == (6, 2, 1, 4)
    assert torch.equal(targets[:, 0], torch.cat([traj[:, s + 1] for s in range(3)]))
    with pytest.raises(InputError, match="unroll"):
        windows(traj, 5)


@pytest.mark.parametrize("arch", list(Architecture))
@pytest.mark.parametrize("dim", [1, 2])
def test_synthetic_models_start_as_identity_and_keep_shape(arch, dim):
    model = build(NetConfig(architecture=arch, dim=dim, channels=2, width=8, modes=4))
    state = torch.randn(3, 2, *([16] * dim))
    out = model(state)
    assert out.shape == state.shape and torch.allclose(out, state)
    loss = ((model(state) - 2 * state) ** 2).mean()
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_hdf5_cache_round_trips(tmp_path, monkeypatch):
    monkeypatch.setenv("TWINLAB_DATA_DIR", str(tmp_path))
    spec = DataSpec(nx=16, n_steps=3, n_traj=2, seed=5)
    first = load_or_generate(spec)
    files = list((tmp_path / "hybrid").glob("*.h5"))
    assert len(files) == 1 and first.shape == (2, 4, 1, 16)
    monkeypatch.setattr(data_mod, "generate", lambda s: pytest.fail("cache miss"))
    assert np.array_equal(load_or_generate(spec), first)


@pytest.mark.parametrize("mode", list(HybridMode))
def test_one_hybrid_cycle_runs_and_lowers_the_loss(mode, tmp_path, monkeypatch):
    monkeypatch.setenv("TWINLAB_DATA_DIR", str(tmp_path))
    train = torch.tensor(load_or_generate(DataSpec(nx=32, reaction=1.0, n_steps=6, n_traj=2, seed=1)))
    val = torch.tensor(load_or_generate(DataSpec(nx=32, reaction=1.0, n_steps=6, n_traj=2, seed=2)))
    aug = train[:, 0].clone()
    grid = Grid((32,))
    hybrid = HybridModel(Burgers(grid, 0.05, 0.05), build(NetConfig(Architecture.LOCAL, width=8), seed=0))
    before = rollout_nrmse(hybrid, val)
    config = HybridConfig(mode=mode, cycles=1, fit_iter=3, synthetic=TrainConfig(epochs=4, batch_size=8,
                                                                                   validate_every=2))
    records = train_hybrid(hybrid, train, val, aug, config, checkpoint_dir=tmp_path / "ckpt")
    assert len(records) == 1 and records[0]["val_nrmse"] < before
    assert (tmp_path / "ckpt" / "best.pt").is_file() and (tmp_path / "ckpt" / "cycle_1.pt").is_file()
    assert rollout_nrmse(hybrid, val) == pytest.approx(records[0]["val_nrmse"])


def test_pretrained_models_load_and_are_verified(tmp_path):
    models, card = pretrained.load()
    assert set(models) == {"physical", "neural", "hybrid"} and "test_nrmse" in card["metrics"]
    copy = tmp_path / "hybrid"
    shutil.copytree(pretrained.MODEL_DIR, copy)
    (copy / "neural.pt").write_bytes(b"tampered")
    with pytest.raises(CheckpointError, match="sha256"):
        pretrained.load(copy)
    card_only = json.loads((copy / "card.json").read_text())
    assert card_only["reproduce"] == "python -m engine train pde"


def test_coupling_is_selected_on_validation_without_the_test_split(tmp_path, monkeypatch):
    from dataclasses import replace

    from engine.hybrid.experiment import PartialPhysicsConfig, datasets, select_hybrid

    monkeypatch.setenv("TWINLAB_DATA_DIR", str(tmp_path))
    base = PartialPhysicsConfig(nx=32, n_steps=6, n_val=2, n_augment=4)
    config = replace(base, couplings=((HybridMode.AUGMENT, 0.05), (HybridMode.INTERACTION, 5.0)),
                     hybrid=replace(base.hybrid, cycles=1, fit_iter=2,
                                    synthetic=TrainConfig(epochs=2, batch_size=8, validate_every=1)))
    data = {split: tensor for split, tensor in datasets(config).items() if split != "test"}  # no test data to peek at
    model, records, table = select_hybrid(config, data)
    assert [row["mode"] for row in table] == ["augment", "interaction"] and len(records) == 1
    chosen = [row for row in table if row["chosen"]]
    assert len(chosen) == 1 and chosen[0]["val_nrmse"] == min(row["val_nrmse"] for row in table)
    assert rollout_nrmse(model, data["val"]) == pytest.approx(chosen[0]["val_nrmse"])
