"""The compiled (numba) CPU forward of the denoiser against the torch module, and the samplers on both paths."""

import numpy as np
import torch

from engine.diffusion.compiled import CompiledDenoiser
from engine.diffusion.graphs import ring
from engine.diffusion.inference import pretrained
from engine.diffusion.models import Denoiser, EpsNet, NetConfig
from engine.diffusion.process import LaplacianDiffusion, ProcessConfig
from engine.diffusion.sampling import NetworkEps, sample


def _max_error(denoiser, batch: int, times, seed: int, block_graphs: int = 8) -> float:
    """Largest |compiled - torch| of the modal ε̂ over ``times``, on a strided (non-contiguous) batch slice."""
    compiled = CompiledDenoiser(denoiser)
    gen = torch.Generator().manual_seed(seed)
    nodes, dim = denoiser.u.shape[0], denoiser.net.config.dim
    worst = 0.0
    for t in times:
        context = denoiser.context(torch.tensor([t], dtype=torch.float32))
        z = 2.0 * torch.randn((nodes, batch + 3, dim), generator=gen)[:, 3:]
        with torch.inference_mode():
            expected = denoiser.forward_modes(z, context=context)
        got = compiled(z, compiled.context(context), block_graphs)
        assert torch.isfinite(got).all()
        worst = max(worst, float((got - expected).abs().max()))
    return worst


def test_compiled_matches_torch_on_the_shipped_checkpoint():
    assert _max_error(pretrained("heisenberg").net.eval(), 19, (0.002, 0.1, 0.35, 0.6), seed=0) <= 1e-4


def test_compiled_matches_a_random_net_on_another_graph():
    graph = ring(7)
    process = LaplacianDiffusion(graph.laplacian, ProcessConfig(schedule="cosine"))
    torch.manual_seed(3)
    net = EpsNet(NetConfig(dim=2, hidden=16, blocks=2, heads=2), graph.adjacency.toarray())
    with torch.no_grad():
        for p in net.parameters():  # untrained but not zero (the head starts at zero)
            p.normal_(0.0, 0.5)
    denoiser = Denoiser(net, process, np.linspace(0.5, 2.0, 7)).eval()
    assert _max_error(denoiser, 13, (0.01, 0.3, 0.9), seed=1, block_graphs=4) <= 1e-4


def test_samples_agree_on_both_paths_and_the_torch_fallback_works():
    twin = pretrained("heisenberg")
    compiled, fallback = NetworkEps(twin.net), NetworkEps(twin.net, compiled=False)
    assert compiled.compiled is not None and fallback.compiled is None
    runs = [sample(eps, twin.process, 12, twin.spec.dim, 40, "ancestral", seed=4, threads=2).samples
            for eps in (compiled, fallback)]
    assert np.isfinite(runs[1]).all()
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-4)


def test_unprepared_times_use_the_same_path():
    twin = pretrained("heisenberg")
    z = torch.randn((25, 6, 3), generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        got, expected = NetworkEps(twin.net)(z, 0.25), NetworkEps(twin.net, compiled=False)(z, 0.25)
    assert float((got - expected).abs().max()) <= 1e-4
