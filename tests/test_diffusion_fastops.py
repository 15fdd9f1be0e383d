"""The compiled inference kernels of the ε-network give torch's results (layer norm, attention, whole network)."""

import numpy as np
import pytest
import torch

from engine.diffusion import fastops
from engine.diffusion.graphs import ring
from engine.diffusion.inference import generate_samples, pretrained
from engine.diffusion.models import EpsNet, NetConfig, NodeAttention

pytestmark = pytest.mark.skipif(not fastops.ENABLED, reason="numba is not installed: the torch path serves alone")


def _torch_only(module, *args):
    """``module(*args)`` with the compiled kernels switched off."""
    saved, fastops.ENABLED = fastops.ENABLED, False
    try:
        return module(*args)
    finally:
        fastops.ENABLED = saved


@torch.inference_mode()
def test_exp_and_layer_norm_match_numpy_and_torch():
    x = np.linspace(-80, 80, 1001, dtype=np.float32)
    out = x.copy()
    fastops.exp_(out, np.empty(x.size, np.int32))
    np.testing.assert_allclose(out, np.exp(x.astype(np.float64)), rtol=1e-5)  # x log2(e) rounds in float32
    norm = torch.nn.LayerNorm(12)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    h = torch.randn(5, 7, 12) * 3 + 1
    torch.testing.assert_close(fastops.layer_norm_tensor(h, norm), norm(h), atol=2e-6, rtol=1e-5)


@torch.inference_mode()
@pytest.mark.parametrize("nodes,graphs,heads", [(7, 5, 2), (25, 33, 4)])
def test_node_attention_matches_scaled_dot_product_attention(nodes, graphs, heads):
    torch.manual_seed(nodes)
    attention = NodeAttention(16, heads)
    torch.nn.init.normal_(attention.qkv.bias)
    h = torch.randn(nodes, graphs, 16) * 2
    torch.testing.assert_close(attention(h.clone()), _torch_only(attention, h), atol=2e-5, rtol=1e-5)


@torch.inference_mode()
def test_network_forward_is_the_same_with_and_without_the_kernels():
    torch.manual_seed(0)
    net = EpsNet(NetConfig(dim=3, hidden=16, blocks=2, heads=2), ring(7).adjacency.toarray()).eval()
    for parameter in net.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    x, t = torch.randn(11, 7, 3), torch.rand(11)
    torch.testing.assert_close(net(x, t), _torch_only(net, x, t), atol=2e-5, rtol=1e-5)
    cond = net.conditioning(torch.full((1,), 0.3))  # one time for the batch: the fused bias + SiLU serves
    xn = x.transpose(0, 1).contiguous()
    torch.testing.assert_close(net.forward_nodes(xn, cond=cond), _torch_only(net.forward_nodes, xn, None, cond),
                               atol=2e-5, rtol=1e-5)


def test_training_uses_torch_and_gradients_flow():
    net = EpsNet(NetConfig(dim=3, hidden=16, blocks=2, heads=2), ring(7).adjacency.toarray())
    x = torch.randn(4, 7, 3, requires_grad=True)
    assert not fastops.active(x)
    net(x, torch.rand(4)).square().sum().backward()
    assert x.grad is not None and net.attention.qkv.weight.grad is not None


def test_shipped_sampler_gives_the_same_samples_with_and_without_the_kernels():
    twin = pretrained("heisenberg")
    fast = generate_samples(twin, 16, 40, "ancestral", seed=5).samples
    slow = _torch_only(lambda: generate_samples(twin, 16, 40, "ancestral", seed=5).samples)
    np.testing.assert_allclose(fast, slow, atol=1e-4)
