"""Graph diffusion samplers (exact GMRF score), inpainting, training, checkpoints, CLI."""

import json

import numpy as np
import pytest
import torch

from engine.cli import main
from engine.diffusion.datasets import generate, gmrf_covariance, make_spec
from engine.diffusion.graphs import grid
from engine.diffusion.metrics import covariance_error
from engine.diffusion.models import NetConfig
from engine.diffusion.process import LaplacianDiffusion, ProcessConfig
from engine.diffusion.sampling import SAMPLERS, ExactGaussianEps, NetworkEps, sample
from engine.diffusion.train import TrainConfig, load_checkpoint, save_checkpoint, train
from engine.errors import InputError


@pytest.fixture(scope="module")
def gmrf():
    spec = make_spec("gmrf", graph=grid((4, 4)), kappa=0.5, dim=2)
    process = LaplacianDiffusion(spec.graph.laplacian, ProcessConfig(gamma=1.0, schedule="cosine"))
    eps = ExactGaussianEps(process, 1.0 / (0.25 + process.eigenvalues))
    return spec, process, eps


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_samplers_recover_gmrf_covariance_with_exact_score(gmrf, sampler):
    spec, process, eps = gmrf
    result = sample(eps, process, 2500, 2, steps=100, sampler=sampler, seed=1)
    exact = np.kron(gmrf_covariance(spec), np.eye(2))
    assert covariance_error(result.samples, exact=exact) < 0.1


def test_inpainting_fixes_known_nodes_and_records_trajectory(gmrf):
    spec, process, eps = gmrf
    mask = np.zeros(16, bool)
    mask[:4] = True
    values = np.full((16, 2), 1.5)
    result = sample(eps, process, 300, 2, steps=60, sampler="ancestral", seed=2, record_every=20, n_shown=3,
                    known_mask=mask, known_values=values)
    np.testing.assert_allclose(result.samples[:, :4], 1.5, atol=1e-6)
    assert result.trajectory.shape == (4, 3, 16, 2)
    np.testing.assert_allclose(result.times, [1.0, 40 / 60, 20 / 60, 0.0], atol=1e-9)
    # neighbours of the clamped row are pulled toward it (the field is positively correlated)
    assert result.samples[:, 4:8].mean() > 0.3


def test_sampler_arguments_are_validated(gmrf):
    _, process, eps = gmrf
    with pytest.raises(InputError, match="sampler"):
        sample(eps, process, 4, 2, steps=10, sampler="ddim")
    with pytest.raises(InputError, match="steps"):
        sample(eps, process, 4, 2, steps=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    spec = make_spec("heisenberg", graph=grid((3, 3)), T=0.5)
    data, _ = generate(spec, 400, seed=0, burn_in=100, probe=50)
    cfg = TrainConfig(dataset="heisenberg", n_train=300, n_val=100, steps=90, batch=64, eval_every=30,
                      patience=50, net=NetConfig(hidden=16, blocks=2, heads=2), energy_weight=0.1,
                      alignment_weight=0.05, smoothness_weight=0.01)
    net, history = train(cfg, spec, data)
    return spec, cfg, net, history, tmp_path_factory.mktemp("ckpt")


def test_short_training_lowers_loss(trained):
    _, _, _, history, _ = trained
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert history["best_val_loss"] == min(history["val_loss"])


def test_checkpoint_round_trip_with_weights_only(trained):
    spec, cfg, net, _, directory = trained
    path = directory / "tiny.pt"
    save_checkpoint(path, net, cfg, spec)
    assert "state_dict" in torch.load(path, weights_only=True)
    twin = load_checkpoint(path)
    x, t = torch.randn(5, 9, 3), torch.rand(5)
    with torch.no_grad():
        torch.testing.assert_close(twin.net(x, t), net(x, t))
    out = sample(NetworkEps(twin.net), twin.process, 8, 3, steps=20, seed=0).samples
    assert out.shape == (8, 9, 3) and np.all(np.isfinite(out))


def test_network_eps_uses_only_the_gaussian_skip_above_residual_t_max(trained):
    _, _, net, _, _ = trained
    eps = NetworkEps(net, residual_t_max=0.5)
    times = np.linspace(0.0, 1.0, 11)[1:]
    eps.prepare(times)
    assert eps.network_evaluations(times) == 5
    z = torch.randn(9, 4, 3)
    with torch.inference_mode():
        gain = net.context(torch.tensor([0.8]))[0]
        torch.testing.assert_close(eps(z, 0.8), gain * z)
        torch.testing.assert_close(eps(z, 0.3), net.forward_modes(z, torch.tensor([0.3])))
        full = net.forward_modes(z, torch.tensor([0.8]))
    assert not torch.allclose(full, gain * z)  # the residual is non-zero there; the gate really skips it


def test_two_threads_split_the_batch_with_the_same_result(trained):
    _, _, net, _, _ = trained
    process = net.process
    one = sample(NetworkEps(net, 1.0), process, 7, 3, steps=12, sampler="predictor_corrector", seed=3).samples
    two = sample(NetworkEps(net, 1.0), process, 7, 3, steps=12, sampler="predictor_corrector", seed=3,
                 threads=2).samples
    np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-5)
    with pytest.raises(InputError, match="threads"):
        sample(NetworkEps(net), process, 7, 3, steps=12, threads=0)


def test_cli_sample_writes_npz_with_trajectory(tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["diffusion", "sample", "--dataset", "heisenberg", "--n", "6", "--steps", "20",
                 "--sampler", "probability_flow", "--seed", "1", "--record-every", "5", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    arrays = np.load(out)
    assert arrays["samples"].shape == (6, 25, 3) and arrays["adjacency"].shape == (25, 25)
    assert arrays["trajectory"].shape == (5, 6, 25, 3) and summary["trajectory_shape"] == [5, 6, 25, 3]
    np.testing.assert_allclose(np.linalg.norm(arrays["samples"], axis=-1), 1.0, atol=1e-9)


def test_cli_bad_input_is_a_clear_error(tmp_path, capsys):
    assert main(["diffusion", "sample", "--dataset", "heisenberg", "--n", "0", "--out", str(tmp_path / "s.npz")]) == 2
    assert "n must be an integer" in capsys.readouterr().err
