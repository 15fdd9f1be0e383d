"""Checkpoints: round trip, sha256 verification, corrupt and missing files give clear errors."""

import json

import pytest
import torch

from engine.checkpoints import CheckpointError, card_path, load_checkpoint, save_checkpoint


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint({"weight": torch.arange(6.0).reshape(2, 3), "hidden": 16}, path, {"seed": 3})
    return path


def test_round_trip(checkpoint):
    state, card = load_checkpoint(checkpoint)
    assert torch.equal(state["weight"], torch.arange(6.0).reshape(2, 3)) and state["hidden"] == 16
    assert card["seed"] == 3 and len(card["sha256"]) == 64 and card["file"] == "model.pt"


def test_corrupt_file_is_rejected_before_loading(checkpoint):
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its model card"):
        load_checkpoint(checkpoint)


def test_truncated_file_matching_a_forged_card_is_still_a_clear_error(checkpoint):
    from engine.checkpoints import sha256_of

    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    card = json.loads(card_path(checkpoint).read_text())
    card_path(checkpoint).write_text(json.dumps({**card, "sha256": sha256_of(checkpoint)}))
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(checkpoint)


def test_missing_file_and_card(tmp_path, checkpoint):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "absent.pt")
    card_path(checkpoint).unlink()
    with pytest.raises(CheckpointError, match="model card .* is missing"):
        load_checkpoint(checkpoint)


def test_shipped_diffusion_checkpoint_is_verified_before_loading(tmp_path):
    import shutil

    from engine.diffusion.train import load_checkpoint as load_diffusion
    from tests.conftest import ROOT

    for suffix in (".pt", ".json"):
        shutil.copy(ROOT / "models" / "diffusion" / f"gmrf{suffix}", tmp_path / f"gmrf{suffix}")
    assert load_diffusion(tmp_path / "gmrf.pt").card["sha256"]
    data = bytearray((tmp_path / "gmrf.pt").read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "gmrf.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its model card"):
        load_diffusion(tmp_path / "gmrf.pt")
