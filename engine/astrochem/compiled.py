"""Compiled (numba) kernels of the emulator's CPU path (latent rollout, then the output path), run block by
block so each block stays in cache.

For every block of ``BLOCK_ROWS`` (cloud x time) rows: decode the latents (two BLAS products), turn base-2
log abundances into abundances (a vectorised polynomial ``2^x``), then project onto the element and charge
totals (see :func:`engine.astrochem.inference.project_conserved` for the maths). One compiled call does
all blocks: no Python between the steps, and a block (256 rows x 294 species, 0.3 MB) fits in the L2
cache through all of them. The rollout (:func:`rollout_`) likewise steps 256 clouds at a time.
"""

from __future__ import annotations

import numpy as np

from engine.astrochem.processing import FLOOR
from engine.backend import jit
from engine.fastexp import FASTMATH as _FAST
from engine.fastexp import exp2_, silu_

SIGNIFICANT = 1e-9  # relative to n_H: species below this in every row of a block take no conservation correction
BLOCK_ROWS = 256  # rows (cloud x time) per block: 0.3 MB of float32 abundances, inside a 0.5 MB L2 cache
_FLOOR32, _TINY32, _ONE32 = np.float32(FLOOR), np.float32(1e-18), np.float32(1.0)


@jit(cache=True)
def column_max_bits(bits):
    """Largest value of each column of an int view ``bits`` (b, n) of floats: for floats >= 0 the order of
    the bit patterns is the order of the values (integer maxima vectorise; float ones do not here), and a
    negative float's pattern is below every non-negative one's."""
    out = bits[0].copy()
    for r in range(1, len(bits)):
        row = bits[r]
        for c in range(len(out)):
            out[c] = max(out[c], row[c])
    return out


@jit(cache=True, fastmath=_FAST)
def row_sums(x, weights_t, sums):
    """``sums = weights_t @ x.T``: (m, b) products of the rows of ``x`` (b, n) with the rows of ``weights_t``
    (m, n), four rows of ``x`` at a time (each weight loaded once for four rows)."""
    stop = len(x) - len(x) % 4
    zero = x[0, 0] - x[0, 0]
    for r in range(0, stop, 4):
        a, b, c, d = x[r], x[r + 1], x[r + 2], x[r + 3]
        for k in range(len(weights_t)):
            w = weights_t[k]
            s0, s1, s2, s3 = zero, zero, zero, zero
            for j in range(len(w)):
                s0 += a[j] * w[j]
                s1 += b[j] * w[j]
                s2 += c[j] * w[j]
                s3 += d[j] * w[j]
            sums[k, r], sums[k, r + 1], sums[k, r + 2], sums[k, r + 3] = s0, s1, s2, s3
    for r in range(stop, len(x)):
        for k in range(len(weights_t)):
            s0 = zero
            for j in range(x.shape[1]):
                s0 += x[r, j] * weights_t[k, j]
            sums[k, r] = s0


@jit(cache=True, fastmath=_FAST)
def gather_pair_sums(x, keep, pair_start, pair_index, pair_value, kept, upper):
    """``kept = x[:, keep].T`` (K, b) and ``upper`` (P, b): the upper half of S^T X^2 S row by row, with
    ``X = max(kept, 1e-18)`` (a normal float32 when squared). The pair products of species ``j`` are
    ``pair_value[pair_start[j]:pair_start[j + 1]]`` at rows ``pair_index[...]`` (sparse: ~6 of P per species)."""
    upper[:] = 0
    weight = np.empty(len(x), x.dtype)
    for j in range(len(keep)):
        column = keep[j]
        for r in range(len(x)):
            value = x[r, column]
            kept[j, r] = value
            value = max(value, _TINY32)
            weight[r] = value * value
        for entry in range(pair_start[column], pair_start[column + 1]):
            row, product = upper[pair_index[entry]], pair_value[entry]
            for r in range(len(x)):
                row[r] += product * weight[r]


@jit(cache=True, fastmath=_FAST)
def scatter_corrected(x, keep, kept, mu, transposed_kept):
    """``x[:, keep] = max(kept (1 + max(kept, FLOOR) (S mu)), FLOOR)``, ``kept`` (K, b) and ``mu`` (C, b) batch
    last: the projection's step in relative terms (``x' = x (1 + x S mu)``), so the small terms stay normal."""
    factor = np.empty(len(x), x.dtype)
    for j in range(len(keep)):
        factor[:] = 0
        for c in range(len(mu)):
            s = transposed_kept[c, j]
            if s != 0:
                for r in range(len(x)):
                    factor[r] += s * mu[c, r]
        column = keep[j]
        for r in range(len(x)):
            value = kept[j, r]
            value = value * (_ONE32 + max(value, _FLOOR32) * factor[r])
            x[r, column] = max(value, _FLOOR32)


@jit(cache=True)
def lagrange_multipliers(sums, upper, totals, scale, out):
    """Multipliers ``mu`` of the projection, one small system per batch column, written into ``out`` (C, b).

    Column r: with ``norm`` the element totals (``scale``) and, for charge, the charged mass ``sums[C, r]``,
    solve ``(A / norm norm^T + 1e-9 I) y = (totals - sums[:C, r]) / norm``, ``A = S^T X^2 S`` (symmetric
    positive definite) given by its upper half row by row in ``upper[:, r]``; then ``mu = y / norm``.
    Symmetric Gaussian elimination (upper half only, no pivoting) in float64; the batch is the innermost
    loop everywhere, so each step runs over contiguous memory.
    """
    size, n = len(totals), out.shape[1]
    index = np.empty((size, size), dtype=np.int64)  # position of (i, j), i <= j, in the packed upper half
    entry = 0
    for i in range(size):
        for j in range(i, size):
            index[i, j] = entry
            entry += 1
    inverse = np.empty((size, n))
    for i in range(size - 1):
        inverse[i] = 1.0 / scale[i]
    for r in range(n):
        inverse[size - 1, r] = 1.0 / max(float(sums[size, r]), FLOOR)
    a = np.empty((entry, n))
    for i in range(size):
        for r in range(n):
            out[i, r] = (totals[i] - float(sums[i, r])) * inverse[i, r]
        for j in range(i, size):
            e = index[i, j]
            for r in range(n):
                a[e, r] = float(upper[e, r]) * inverse[i, r] * inverse[j, r]
        for r in range(n):
            a[index[i, i], r] += 1e-9
    factor, pivot = np.empty(n), np.empty((size, n))  # pivot: 1 / a[k, k], one division per pivot and column
    for k in range(size - 1):
        kk = index[k, k]
        for r in range(n):
            pivot[k, r] = 1.0 / a[kk, r]
        for i in range(k + 1, size):
            ki = index[k, i]
            for r in range(n):
                factor[r] = a[ki, r] * pivot[k, r]
            for j in range(i, size):
                e, kj = index[i, j], index[k, j]
                for r in range(n):
                    a[e, r] -= factor[r] * a[kj, r]
            for r in range(n):
                out[i, r] -= factor[r] * out[k, r]
    for k in range(size - 1, -1, -1):
        for j in range(k + 1, size):
            kj = index[k, j]
            for r in range(n):
                out[k, r] -= a[kj, r] * out[j, r]
        if k == size - 1:
            kk = index[k, k]
            for r in range(n):
                pivot[k, r] = 1.0 / a[kk, r]
        for r in range(n):
            out[k, r] *= pivot[k, r]
    for i in range(size):
        for r in range(n):
            out[i, r] *= inverse[i, r]


@jit(cache=True)
def project_block_(x, bits, with_charge_t, pair_start, pair_index, pair_value, transposed, totals, scale):
    """Project the rows of one block ``x`` (b, n_species, C order) onto the conserved totals, in place.

    ``bits``: ``x`` viewed as integers of its width; ``with_charge_t`` (C + 1, n_species): the stoichiometry
    (elements, charge) then |charge|, transposed; ``pair_*``: per species, the products of its stoichiometry
    entries that make the upper half of S^T X^2 S (see :func:`gather_pair_sums`); ``transposed``: S^T.
    Species below ``SIGNIFICANT`` in every row of the block are left out of the correction (never of the
    totals).
    """
    keep = np.flatnonzero(column_max_bits(bits).view(x.dtype) > SIGNIFICANT)
    kept = np.empty((len(keep), len(x)), x.dtype)
    upper = np.empty((len(totals) * (len(totals) + 1) // 2, len(x)), x.dtype)  # S^T X^2 S, upper half
    gather_pair_sums(x, keep, pair_start, pair_index, pair_value, kept, upper)
    sums = np.empty((len(with_charge_t), len(x)), x.dtype)  # (C + 1, b): totals, then the charged mass
    row_sums(x, with_charge_t, sums)
    mu = np.empty((len(totals), len(x)))  # (C, b): batch last, so the small solves vectorise
    lagrange_multipliers(sums, upper, totals, scale, mu)
    scatter_corrected(x, keep, kept, mu.astype(x.dtype), np.ascontiguousarray(transposed[:, keep]))


@jit(cache=True)
def project_rows_(x, bits, with_charge_t, pair_start, pair_index, pair_value, transposed, totals, scale):
    """:func:`project_block_` over all rows of ``x`` (n, n_species, C order), ``BLOCK_ROWS`` at a time."""
    for start in range(0, len(x), BLOCK_ROWS):
        stop = start + BLOCK_ROWS
        project_block_(x[start:stop], bits[start:stop], with_charge_t, pair_start, pair_index, pair_value, transposed,
                       totals, scale)


@jit(cache=True)
def decode_rows_(latents, w_in, b_in, w_out, b_out, out, exponentiate, conserve, with_charge_t, pair_start,
                 pair_index, pair_value, transposed, totals, scale):
    """Decode latents (n, L) into ``out`` (n, n_species, float32), per block: base-2 log abundances
    ``silu(z W_in + b_in) W_out + b_out`` (the decoder with its output scaling folded in); if ``exponentiate``,
    abundances ``2^(...)``; if also ``conserve``, projected as in :func:`project_block_`."""
    width = w_in.shape[1]
    hidden_all = np.empty((BLOCK_ROWS, width), np.float32)
    bits = np.empty(BLOCK_ROWS * max(width, out.shape[1]), np.int32)
    spare = np.empty(BLOCK_ROWS * width, np.float32)
    for start in range(0, len(latents), BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, len(latents))
        hidden = hidden_all[:stop - start]
        block = out[start:stop]
        np.dot(latents[start:stop], w_in, hidden)
        hidden += b_in
        silu_(hidden, bits, spare)
        np.dot(hidden, w_out, block)
        block += b_out
        if exponentiate:
            exp2_(block, bits)
        if exponentiate and conserve:
            project_block_(block, block.view(np.int32), with_charge_t, pair_start, pair_index, pair_value, transposed,
                           totals, scale)


@jit(cache=True, fastmath=_FAST)
def _add_bias_silu_(h, bias, bits, spare):
    """``h <- silu(h + bias)`` for a C-ordered block (b, H)."""
    for r in range(len(h)):
        row = h[r]
        for j in range(len(row)):
            row[j] += bias[j]
    silu_(h, bits, spare)


@jit(cache=True, fastmath=_FAST)
def rollout_(z0, constant, w_latent, w_time, t_next, w_hidden, b_hidden, w_last, b_last, low, high, out):
    """The latent stepper's rollout (same maths as :meth:`engine.astrochem.models.LatentEmulator.rollout`),
    ``BLOCK_ROWS`` clouds at a time so the block's activations stay in cache through all the steps.

    Per step ``k``: ``h = silu(z W_latent + constant + t_k w_time)``, then ``h = silu(h W + b)`` for each
    hidden layer (``w_hidden`` (D, H, H), ``b_hidden`` (D, H)), then ``z = clip(z + h W_last + b_last, low,
    high)``. ``constant`` (n, H) holds the parameter inputs and first bias (and the latent standardisation);
    ``out`` (n, 1 + S, L) receives ``z0`` then every step.
    """
    n, width, size = len(z0), w_latent.shape[1], z0.shape[1]
    h, spare_h = np.empty((BLOCK_ROWS, width), np.float32), np.empty((BLOCK_ROWS, width), np.float32)
    z, step = np.empty((BLOCK_ROWS, size), np.float32), np.empty((BLOCK_ROWS, size), np.float32)
    bits, spare = np.empty(BLOCK_ROWS * width, np.int32), np.empty(BLOCK_ROWS * width, np.float32)
    for start in range(0, n, BLOCK_ROWS):
        rows = min(BLOCK_ROWS, n - start)
        a, b, zb, sb = h[:rows], spare_h[:rows], z[:rows], step[:rows]
        zb[:] = z0[start:start + rows]
        out[start:start + rows, 0] = zb
        for k in range(len(t_next)):
            np.dot(zb, w_latent, a)
            t = t_next[k]
            for r in range(rows):
                row, fixed = a[r], constant[start + r]
                for j in range(width):
                    row[j] += fixed[j] + t * w_time[j]
            silu_(a, bits, spare)
            for layer in range(len(w_hidden)):
                np.dot(a, w_hidden[layer], b)
                _add_bias_silu_(b, b_hidden[layer], bits, spare)
                a, b = b, a
            np.dot(a, w_last, sb)
            for r in range(rows):
                target = out[start + r, k + 1]
                for j in range(size):
                    value = min(max(zb[r, j] + sb[r, j] + b_last[j], low[j]), high[j])
                    zb[r, j] = value
                    target[j] = value
