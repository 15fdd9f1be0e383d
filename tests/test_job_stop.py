"""Long jobs stop at a chunk boundary when their progress callback asks, keeping what they finished."""

import numpy as np
import pytest
import torch

from engine.diffusion import graphs
from engine.diffusion.process import LaplacianDiffusion
from engine.diffusion.sampling import sample
from engine.hybrid.data import DataSpec, load_or_generate
from engine.hybrid.hybrid import HybridConfig, HybridMode, HybridModel, train_hybrid
from engine.hybrid.physical import Burgers
from engine.hybrid.spectral import Grid
from engine.hybrid.synthetic import Architecture, NetConfig, build
from engine.hybrid.train import TrainConfig
from engine.progress import JobStopped, report
from engine.synthesis import make_axis, sweep


def test_report_passes_the_fraction_and_reads_a_stop_request():
    seen = []
    assert report(None, 0.5) is False
    assert report(lambda f: seen.append(f), 1.5) is False and seen == [1.0]
    assert report(lambda f: True, 0.2) is True


def test_stopped_sweep_keeps_its_finished_chunks_at_their_grid_points():
    axes = [make_axis("temperature_c", 140, 200, 10)]
    calls = []
    frame = sweep(axes, chunk=4, progress=lambda f: calls.append(f) or len(calls) == 2)
    full = sweep(axes, chunk=4)
    assert calls == [0.4, 0.8]  # 3 chunks of ≤ 4 rows; stopped after the second
    assert frame.attrs["stopped"] and frame.attrs["total"] == 10 and list(frame.index) == list(range(8))
    assert np.allclose(frame["edge_length_nm"], full["edge_length_nm"][:8], equal_nan=True)
    assert not full.attrs["stopped"] and len(full) == 10


def test_stopped_sampling_raises_job_stopped():
    process = LaplacianDiffusion(graphs.ring(6).laplacian)
    with pytest.raises(JobStopped, match="stopped by the user"):
        sample(lambda z, t: torch.zeros_like(z), process, n=2, dim=1, steps=50, progress=lambda f: True)


def test_stopped_hybrid_training_ends_after_the_current_cycle(tmp_path, monkeypatch):
    monkeypatch.setenv("TWINLAB_DATA_DIR", str(tmp_path))
    train = torch.tensor(load_or_generate(DataSpec(nx=32, reaction=1.0, n_steps=6, n_traj=2, seed=1)))
    hybrid = HybridModel(Burgers(Grid((32,)), 0.05, 0.05), build(NetConfig(Architecture.LOCAL, width=8), seed=0))
    config = HybridConfig(mode=HybridMode.AUGMENT, cycles=3, fit_iter=2,
                          synthetic=TrainConfig(epochs=5, batch_size=8, validate_every=5))
    epochs = []
    records = train_hybrid(hybrid, train, train, train[:, 0].clone(), config,
                           on_epoch=lambda epoch, loss, score: epochs.append(epoch) or len(epochs) == 2)
    assert epochs == [1, 2] and len(records) == 1 and records[0]["stopped"]
