"""Compiled (numba) CPU inference forward of the :class:`~engine.diffusion.models.Denoiser` in the eigenbasis.

Same maths as :meth:`Denoiser.forward_modes` (the torch module stays the training and reference path):
whitening and the eigenvector products, the embedding, the message-passing blocks, node attention, the
output head and the Gaussian skip path. The batch is processed ``BLOCK_GRAPHS`` graphs at a time, so one
block's activations (a few tens of kB) stay in the L1/L2 cache through the whole network; layer norm, bias +
SiLU (a vectorised polynomial exponential, :mod:`engine.fastexp`), the sparse normalised adjacency and a
numerically stable softmax are fused loops; the hidden-width products are BLAS calls on contiguous float32
blocks. The kernel releases the GIL, so the sampler's batch-split threads run it in parallel. These loops are
compiled without fast-math: with it, a fresh compile and the on-disk cache gave samples differing by ~3e-7
(summation order), which broke the bit-identical chunks of a job spread over processes.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from engine.backend import get_backend, jit
from engine.fastexp import exp2_, silu_

BLOCK_GRAPHS = 8  # graphs per block: 8 x 25 nodes x (32 + 64 + 96 + ...) float32 activations ~ 0.1 MB


@jit(cache=True, nogil=True)
def _layer_norm(h, gamma, beta, out, eps):
    """``out = (h - mean) / sqrt(var + eps) * gamma + beta`` per row of ``h`` (rows, width)."""
    width = h.shape[1]
    inverse = np.float32(1.0 / width)
    for r in range(h.shape[0]):
        row, target = h[r], out[r]
        mean = np.float32(0.0)
        for j in range(width):
            mean += row[j]
        mean *= inverse
        var = np.float32(0.0)
        for j in range(width):
            d = row[j] - mean
            var += d * d
        scale = np.float32(1.0) / np.sqrt(var * inverse + eps)
        for j in range(width):
            target[j] = (row[j] - mean) * scale * gamma[j] + beta[j]


@jit(cache=True, nogil=True)
def _add_product_(h, x, weight_t, bias, scratch):
    """``h += x @ weight_t + bias`` (a residual update; ``scratch`` has the shape of ``h``)."""
    np.dot(x, weight_t, scratch)
    for r in range(h.shape[0]):
        for j in range(h.shape[1]):
            h[r, j] += scratch[r, j] + bias[j]


@jit(cache=True, nogil=True)
def _attend(flat, graphs, nodes, heads, scale, span, out, scores, bits):
    """Multi-head self-attention over the nodes of each graph, feature-major in, node-major out.

    ``flat``: q, k, v of each head feature-major, (3 x width, graphs x nodes) in C order, feature
    ``part x width + head x head_dim + d``, followed by at least ``span - nodes`` finite floats; ``out``
    (graphs x nodes, width) receives ``P v``. Scores are kept transposed, ``scores[j, i]`` (key j, query i),
    the query index running over ``span`` (a multiple of the vector width; the extra queries are discarded),
    so every inner loop is a full-width vector loop: softmax of ``scale q·k`` in base 2 (``scale`` includes
    log2 e) over the keys, with the maximum subtracted (numerically stable).
    """
    width = out.shape[1]
    head_dim = width // heads
    stride = graphs * nodes
    acc = np.empty((head_dim, span), np.float32)
    top = np.empty(span, np.float32)
    for g in range(graphs):
        base = g * nodes
        for head in range(heads):
            q0 = head * head_dim * stride + base
            k0 = (width + head * head_dim) * stride + base
            v0 = (2 * width + head * head_dim) * stride + base
            for j in range(nodes):
                row = scores[j]
                row[:] = 0.0
                for d in range(0, head_dim - 3, 4):  # four feature rows per pass over the scores row
                    a, b, c, e = flat[k0 + d * stride + j], flat[k0 + (d + 1) * stride + j], \
                        flat[k0 + (d + 2) * stride + j], flat[k0 + (d + 3) * stride + j]
                    qa = flat[q0 + d * stride:q0 + d * stride + span]
                    qb = flat[q0 + (d + 1) * stride:q0 + (d + 1) * stride + span]
                    qc = flat[q0 + (d + 2) * stride:q0 + (d + 2) * stride + span]
                    qe = flat[q0 + (d + 3) * stride:q0 + (d + 3) * stride + span]
                    for i in range(span):
                        row[i] += scale * (a * qa[i] + b * qb[i] + c * qc[i] + e * qe[i])
                for d in range(head_dim - head_dim % 4, head_dim):
                    key = flat[k0 + d * stride + j] * scale
                    query = flat[q0 + d * stride:q0 + d * stride + span]
                    for i in range(span):
                        row[i] += key * query[i]
            top[:] = scores[0]
            for j in range(1, nodes):
                row = scores[j]
                for i in range(span):
                    top[i] = max(top[i], row[i])
            for j in range(nodes):
                row = scores[j]
                for i in range(span):
                    row[i] -= top[i]
            exp2_(scores, bits)
            top[:] = 0.0
            acc[:] = 0.0
            for j in range(0, nodes - 3, 4):  # four keys per pass over the accumulators
                ra, rb, rc, re = scores[j], scores[j + 1], scores[j + 2], scores[j + 3]
                for i in range(span):
                    top[i] += ra[i] + rb[i] + rc[i] + re[i]
                for d in range(head_dim):
                    base_v = v0 + d * stride + j
                    a, b, c, e = flat[base_v], flat[base_v + 1], flat[base_v + 2], flat[base_v + 3]
                    target = acc[d]
                    for i in range(span):
                        target[i] += a * ra[i] + b * rb[i] + c * rc[i] + e * re[i]
            for j in range(nodes - nodes % 4, nodes):
                row = scores[j]
                for i in range(span):
                    top[i] += row[i]
                for d in range(head_dim):
                    value, target = flat[v0 + d * stride + j], acc[d]
                    for i in range(span):
                        target[i] += value * row[i]
            for i in range(nodes):
                inverse = np.float32(1.0) / top[i]
                target = out[base + i]
                for d in range(head_dim):
                    target[head * head_dim + d] = acc[d, i] * inverse


@jit(cache=True, nogil=True)
def denoise_modes(z, gain, whiten, u, node_constant, embed_t, norms, mix_t, time_terms, out_t, out_b, adj_start,
                  adj_index, adj_value, qkv_w, qkv_b, attn_t, attn_b, head_t, head_b, heads, eps, block_graphs, out):
    """Modal ε̂ of the denoiser: ``out[k, g] = gain_k z[k, g] + (Uᵀ net(U (whiten z)))[k, g]`` for z (nodes, b, dim).

    ``node_constant`` (nodes, width): degree term + embedding bias + time embedding; ``embed_t`` (dim, width);
    ``norms`` (blocks + 2, 2, width): layer-norm weight and bias of each block, the attention, the output;
    ``mix_t`` (blocks, width, 2 width) = [W₁ᵃᵀ | W₁ᵇᵀ]; ``time_terms`` (blocks, width); ``out_t``/``out_b`` the
    blocks' output layers; the normalised adjacency as CSR (``adj_start``, ``adj_index``, ``adj_value``);
    ``qkv_w`` (3 width, width) as stored, ``attn_t`` (width, width), ``head_t`` (width, dim), with their biases.
    """
    nodes, batch, dim = z.shape
    width = embed_t.shape[1]
    blocks = mix_t.shape[0]
    half = blocks // 2
    rows_max = block_graphs * nodes
    h_all = np.empty((rows_max, width), np.float32)
    u_all = np.empty((rows_max, width), np.float32)
    act_all = np.empty((rows_max, width), np.float32)
    tmp_all = np.empty((rows_max, width), np.float32)
    pair_all = np.empty((rows_max, 2 * width), np.float32)
    span = (nodes + 7) // 8 * 8  # attention queries padded to whole 8-float vectors
    qkv_all = np.zeros(3 * width * rows_max + span, np.float32)  # feature-major q, k, v, then readable padding
    y_all = np.empty((rows_max, dim), np.float32)
    x = np.empty((nodes, dim), np.float32)
    bits = np.empty(max(rows_max * width, nodes * span), np.int32)
    spare = np.empty(rows_max * width, np.float32)
    scores = np.empty((nodes, span), np.float32)
    scale = np.float32(1.0 / math.sqrt(width // heads) * math.log2(math.e))
    for start in range(0, batch, block_graphs):
        graphs = min(block_graphs, batch - start)
        rows = graphs * nodes
        h, v, act, tmp = h_all[:rows], u_all[:rows], act_all[:rows], tmp_all[:rows]
        pair, y = pair_all[:rows], y_all[:rows]
        qkv_t = qkv_all[:3 * width * rows].reshape(3 * width, rows)
        for g in range(graphs):  # x = U (whiten z), then h = x W_eᵀ + constant
            for k in range(nodes):
                for d in range(dim):
                    x[k, d] = whiten[k] * z[k, start + g, d]
            for n in range(nodes):
                target = h[g * nodes + n]
                target[:] = node_constant[n]
                for d in range(dim):
                    value = np.float32(0.0)
                    for k in range(nodes):
                        value += u[n, k] * x[k, d]
                    for j in range(width):
                        target[j] += value * embed_t[d, j]
        for layer in range(blocks + 1):
            if layer == half:
                _layer_norm(h, norms[blocks, 0], norms[blocks, 1], v, eps)
                np.dot(qkv_w, v.T, qkv_t)
                for f in range(3 * width):
                    qkv_t[f] += qkv_b[f]
                _attend(qkv_all, graphs, nodes, heads, scale, span, act, scores, bits)
                _add_product_(h, act, attn_t, attn_b, tmp)
                continue
            block = layer if layer < half else layer - 1
            _layer_norm(h, norms[block, 0], norms[block, 1], v, eps)
            np.dot(v, mix_t[block], pair)
            term = time_terms[block]
            for g in range(graphs):
                base = g * nodes
                for n in range(nodes):
                    target, own = act[base + n], pair[base + n]
                    for j in range(width):
                        target[j] = own[j] + term[j]
                    for p in range(adj_start[n], adj_start[n + 1]):
                        weight, other = adj_value[p], pair[base + adj_index[p]]
                        for j in range(width):
                            target[j] += weight * other[width + j]
            silu_(act, bits, spare)
            _add_product_(h, act, out_t[block], out_b[block], tmp)
        _layer_norm(h, norms[blocks + 1, 0], norms[blocks + 1, 1], v, eps)
        np.dot(v, head_t, y)
        for g in range(graphs):  # out = Uᵀ (y + head bias) + gain z
            for k in range(nodes):
                for d in range(dim):
                    value = gain[k] * z[k, start + g, d]
                    for n in range(nodes):
                        value += u[n, k] * (y[g * nodes + n, d] + head_b[d])
                    out[k, start + g, d] = value


def _array(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)


def usable(denoiser) -> bool:
    """True when numba is active and the denoiser's weights are float32 on the CPU."""
    tensors = list(denoiser.parameters()) + list(denoiser.buffers())
    return get_backend().numba and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


class CompiledDenoiser:
    """Float32 NumPy copies of a :class:`~engine.diffusion.models.Denoiser`'s weights and graph (read once, when
    built: build a new one after training further or after ``set_graph``) and its modal forward."""

    def __init__(self, denoiser):
        net = denoiser.net
        self.heads, self.eps = net.config.heads, np.float32(net.out_norm.eps)
        dim, width = net.config.dim, net.config.hidden
        self.u = _array(denoiser.u)
        embed = _array(net.embed.weight)
        self.embed_t = np.ascontiguousarray(embed[:, :dim].T)
        self.node_constant = _array(net.degree[:, 0, 0])[:, None] * embed[:, dim] + _array(net.embed.bias)
        self.norms = np.stack([[_array(m.weight), _array(m.bias)] for m in
                               [b.norm for b in net.blocks] + [net.attention.norm, net.out_norm]])
        self.mix_t = np.stack([np.ascontiguousarray(np.concatenate(
            [_array(b.mix.weight)[:, :width].T, _array(b.mix.weight)[:, width:].T], axis=1)) for b in net.blocks])
        self.out_t = np.ascontiguousarray(np.stack([_array(b.out.weight).T for b in net.blocks]))
        self.out_b = np.stack([_array(b.out.bias) for b in net.blocks])
        adj = _array(net.adj)
        rows, cols = np.nonzero(adj)
        self.adj_start = np.searchsorted(rows, np.arange(len(adj) + 1)).astype(np.int64)
        self.adj_index, self.adj_value = cols.astype(np.int64), adj[rows, cols]
        self.qkv_w, self.qkv_b = _array(net.attention.qkv.weight), _array(net.attention.qkv.bias)
        self.attn_t = np.ascontiguousarray(_array(net.attention.out.weight).T)
        self.attn_b = _array(net.attention.out.bias)
        self.head_t, self.head_b = np.ascontiguousarray(_array(net.head.weight).T), _array(net.head.bias)

    def context(self, context: tuple) -> tuple:
        """A single-time :meth:`Denoiser.context` → (gain, whiten, node constant, time terms) as float32 arrays."""
        gain, whiten, (temb, terms) = context
        return (_array(gain).reshape(-1), _array(whiten).reshape(-1), self.node_constant + _array(temb).reshape(-1),
                np.stack([_array(term).reshape(-1) for term in terms]))

    def __call__(self, z: torch.Tensor, context: tuple, block_graphs: int = BLOCK_GRAPHS) -> torch.Tensor:
        """Modal ε̂ for z (nodes, b, dim) and a prepared :meth:`context`."""
        gain, whiten, node_constant, time_terms = context
        out = np.empty(tuple(z.shape), np.float32)
        denoise_modes(z.numpy(), gain, whiten, self.u, node_constant, self.embed_t, self.norms, self.mix_t,
                      time_terms, self.out_t, self.out_b, self.adj_start, self.adj_index, self.adj_value, self.qkv_w,
                      self.qkv_b, self.attn_t, self.attn_b, self.head_t, self.head_b, self.heads, self.eps,
                      block_graphs, out)
        return torch.from_numpy(out)
