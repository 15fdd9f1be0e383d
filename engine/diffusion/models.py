"""The epsilon network: predicts the forward-process noise ε from (S_t, t) on a graph.

:class:`Denoiser` = Gaussian skip path + learnt residual. With the data's variance c_k per Laplacian
mode (fitted on training data), the exact ε̂ for Gaussian data diagonal in the eigenbasis is
ε̂_k = sqrt(Σ_k) x_k / (Φ_k² c_k + Σ_k); the network adds a correction computed from the mode-whitened
input x_k / sqrt(Φ_k² c_k + Σ_k). This keeps the reverse process stable for the fast-decaying
high-frequency modes (Φ_k(1) ~ e⁻⁴⁵) and leaves the network only the non-Gaussian structure.

:class:`EpsNet` (the residual): node inputs are the (whitened) noisy vectors and the scaled degree;
blocks of message passing over the symmetric-normalised adjacency D^-1/2 A D^-1/2, each conditioned
on a sinusoidal time embedding; one multi-head self-attention layer over the nodes of each graph for
global structure (e.g. the magnetisation direction); pre-layer-norm residual connections throughout.
Everything that depends on t only (time embedding and its per-block projections, the skip gains) is
computed once per sampling grid (:meth:`Denoiser.context`). Rotational symmetry of spin data is learnt
from random global rotations during training (see ``train``), not built in.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class NetConfig:
    """Architecture: vector dim, hidden width, message-passing blocks, attention heads."""

    dim: int = 3
    hidden: int = 32
    blocks: int = 3
    heads: int = 4

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoidal_embedding(t: torch.Tensor, width: int) -> torch.Tensor:
    """[b] times in [0, 1] → [b, width] sin/cos features at geometric frequencies 1 … 1000."""
    half = width // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=t.dtype, device=t.device) / max(half - 1, 1))
    angles = 1000.0 * t[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def normalised_adjacency(adjacency: np.ndarray) -> torch.Tensor:
    """D^-1/2 A D^-1/2 as a dense float32 tensor [n, n]."""
    a = np.asarray(adjacency, float)
    d = 1.0 / np.sqrt(np.maximum(a.sum(axis=1), 1e-12))
    return torch.tensor(d[:, None] * a * d[None, :], dtype=torch.float32)


def residual_linear(h: torch.Tensor, x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """h + linear(x) for [..., width] tensors as one in-place GEMM into h + bias (no broadcast bias copy)."""
    width = h.shape[-1]
    out = h + linear.bias
    out.view(-1, width).addmm_(x.reshape(-1, x.shape[-1]), linear.weight.t())
    return out


class MessageBlock(nn.Module):
    """h ← h + W₂ SiLU(W₁ [LN h, Â LN h] + W_t τ): one time-conditioned message-passing step."""

    def __init__(self, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.mix = nn.Linear(2 * hidden, hidden)
        self.time = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, hidden)

    def time_term(self, temb: torch.Tensor) -> torch.Tensor:
        """W_t τ plus the bias of W₁ [b, hidden] (depends on t only, so samplers precompute it)."""
        return self.time(temb) + self.mix.bias

    def forward(self, h, adj, time_term):
        """h [nodes, b, hidden] (node-major so Â acts as one matrix product), time_term from :meth:`time_term`
        [b or 1, hidden]. W₁ [u, Âu] is computed as W₁ᵃ u + Â (W₁ᵇ u): no concatenation."""
        nodes, width = h.shape[0], h.shape[-1]
        u = self.norm(h)
        pre = torch.nn.functional.linear(u, self.mix.weight[:, :width])
        neighbours = torch.nn.functional.linear(u, self.mix.weight[:, width:])
        pre.view(nodes, -1).addmm_(adj, neighbours.view(nodes, -1))
        pre.add_(time_term)
        inference = not torch.is_grad_enabled()
        act = torch.nn.functional.silu(pre, inplace=inference)
        return residual_linear(h, act, self.out)


class NodeAttention(nn.Module):
    """Multi-head self-attention over the nodes of each graph, h [nodes, b, hidden] → residual update."""

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, h):
        n, b, width = h.shape
        head_dim = width // self.heads
        # q, k, v projected graph-major [b, nodes, 3, heads, head_dim], so each graph's block is contiguous and the
        # CPU attention kernel reads the strided [b, heads, nodes, head_dim] views directly (no head-permute copy)
        u = self.norm(h).transpose(0, 1)
        qkv = torch.nn.functional.linear(u, self.qkv.weight, self.qkv.bias).view(b, n, 3, self.heads, head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attended = torch.nn.functional.scaled_dot_product_attention(q, k, v)  # [b, heads, nodes, head_dim]
        return residual_linear(h, attended.permute(2, 0, 1, 3).reshape(n, b, width), self.out)


class EpsNet(nn.Module):
    """ε̂(S_t, t): [b, nodes, dim] × [b] → [b, nodes, dim] on the graph given by ``adjacency``."""

    def __init__(self, config: NetConfig, adjacency: np.ndarray):
        super().__init__()
        self.config = config
        h = config.hidden
        self.register_buffer("adj", normalised_adjacency(adjacency))
        degree = np.asarray(adjacency, float).sum(axis=1)
        self.register_buffer("degree", torch.tensor(degree / 4.0, dtype=torch.float32)[:, None, None])
        self.time_mlp = nn.Sequential(nn.Linear(h, h), nn.SiLU(), nn.Linear(h, h))
        self.embed = nn.Linear(config.dim + 1, h)
        self.blocks = nn.ModuleList(MessageBlock(h) for _ in range(config.blocks))
        self.attention = NodeAttention(h, config.heads)
        self.out_norm = nn.LayerNorm(h)
        self.head = nn.Linear(h, config.dim)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def set_graph(self, adjacency: np.ndarray) -> EpsNet:
        """Run the same weights on another graph (returns self)."""
        self.adj = normalised_adjacency(adjacency).to(self.head.weight.device)
        degree = np.asarray(adjacency, float).sum(axis=1)
        self.degree = torch.tensor(degree / 4.0, dtype=torch.float32, device=self.adj.device)[:, None, None]
        return self

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x [b, nodes, dim], t [b] → ε̂ [b, nodes, dim]."""
        return self.forward_nodes(x.transpose(0, 1), t).transpose(0, 1)

    def conditioning(self, t: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Everything that depends on t [B] only: the time embedding τ [B, hidden] and each block's
        :meth:`MessageBlock.time_term`."""
        temb = self.time_mlp(sinusoidal_embedding(t, self.config.hidden))
        return temb, [block.time_term(temb) for block in self.blocks]

    def forward_nodes(self, xn: torch.Tensor, t: torch.Tensor | None = None, cond=None) -> torch.Tensor:
        """Node-major form used by the samplers: xn [nodes, b, dim], t [b] or [1] (or its precomputed
        :meth:`conditioning`) → ε̂ [nodes, b, dim]."""
        temb, time_terms = self.conditioning(t) if cond is None else cond
        dim = xn.shape[-1]  # embed([x, degree]) + τ with the per-node degree term added to τ (no concatenation)
        constant = self.degree * self.embed.weight[:, dim] + self.embed.bias + temb
        h = torch.nn.functional.linear(xn, self.embed.weight[:, :dim]).add_(constant)
        half = len(self.blocks) // 2
        for block, term in zip(self.blocks[:half], time_terms[:half], strict=True):
            h = block(h, self.adj, term)
        h = self.attention(h)
        for block, term in zip(self.blocks[half:], time_terms[half:], strict=True):
            h = block(h, self.adj, term)
        return self.head(self.out_norm(h))


@contextmanager
def torch_threads(n: int = 1):
    """Run torch ops on ``n`` threads inside the block (tiny graphs: one thread avoids contention stalls)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Denoiser(nn.Module):
    """ε̂ = Gaussian-optimal ε̂ (per Laplacian mode) + EpsNet residual on the whitened input."""

    def __init__(self, net: EpsNet, process, mode_variance: np.ndarray):
        super().__init__()
        self.net, self.process = net, process
        self.register_buffer("u", torch.tensor(process.eigenvectors, dtype=torch.float32))
        self.register_buffer("c", torch.tensor(np.asarray(mode_variance, float), dtype=torch.float32))

    def context(self, t: torch.Tensor) -> tuple:
        """Everything that depends on t [B] only: the skip gain and whitening per mode [nodes, B, 1]
        (exact Φ, Σ in float64, then float32) and the network's :meth:`EpsNet.conditioning`."""
        tt = t.detach().cpu().numpy().astype(float)
        phi = torch.tensor(self.process.phi(tt), dtype=torch.float32)
        sig = torch.tensor(self.process.sigma(tt), dtype=torch.float32)
        var = phi**2 * self.c + sig
        return (sig.sqrt() / var).T[:, :, None], var.rsqrt().T[:, :, None], self.net.conditioning(t)

    @staticmethod
    def split_context(context: tuple) -> list[tuple]:
        """A context computed for B times → B single-time contexts (views, no copies)."""
        gain, whiten, (temb, terms) = context
        return [(gain[:, i:i + 1], whiten[:, i:i + 1], (temb[i:i + 1], [term[i:i + 1] for term in terms]))
                for i in range(gain.shape[1])]

    def forward_modes(self, z: torch.Tensor, t: torch.Tensor | None = None, context: tuple | None = None):
        """Eigenbasis form used by the samplers: z = Uᵀx [nodes, b, dim], t [b] or [1] (or its precomputed
        :meth:`context`) → Uᵀε̂."""
        gain, whiten, cond = self.context(t) if context is None else context
        shape = z.shape
        x_in = (self.u @ (whiten * z).reshape(shape[0], -1)).view(shape)
        residual = self.net.forward_nodes(x_in, cond=cond)
        return torch.addcmul((self.u.T @ residual.reshape(shape[0], -1)).view(shape), gain, z)

    def forward_nodes(self, xn: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """xn [nodes, b, dim], t [b] or [1] → ε̂ [nodes, b, dim]."""
        shape = xn.shape
        z = (self.u.T @ xn.reshape(shape[0], -1)).view(shape)
        return (self.u @ self.forward_modes(z, t).reshape(shape[0], -1)).view(shape)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x [b, nodes, dim], t [b] → ε̂ [b, nodes, dim]."""
        return self.forward_nodes(x.transpose(0, 1), t).transpose(0, 1)


def mode_variance(process, data: np.ndarray) -> np.ndarray:
    """Data variance per Laplacian mode c_k = mean over samples and components of (Uᵀx)_k²."""
    return np.mean(process.to_modes(data) ** 2, axis=(0, 2))


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
