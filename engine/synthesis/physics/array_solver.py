"""The batch integrator of :mod:`engine.synthesis.physics.solver` written with whole-array operations.

The same right-hand side (:func:`engine.synthesis.physics.solver.moment_rhs`, run here on arrays), the same
ROS34PW2 scheme, error norm and step-size controller, but every recipe of the batch is
advanced at once with the array module of :mod:`engine.backend` (NumPy on the CPU, CuPy on a GPU): each
iteration attempts one step of its own size for every unfinished recipe, and finished recipes leave the
working arrays. This is the path without numba and the GPU path; the tests check it against the compiled
kernel and the ``solve_ivp`` reference.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from engine.backend import to_numpy, xp
from engine.synthesis.physics.solver import _A, _B, _C, _E, _G, _GAMMA, with_array_ops


@lru_cache(maxsize=4)
def _rhs_for(a) -> Callable:
    return with_array_ops(a)


def rhs_column(a, y, c, lattice: float, vol: float, want_col: bool):
    """dy/dt (4, n) of the moment equations for states ``y`` (4, n) and constants ``c`` (11, n), and with
    ``want_col`` the column ∂(dy/dt)/∂M3 (else None): :func:`solver.moment_rhs` on whole arrays of module ``a``.
    """
    values = _rhs_for(a)(y[0], y[1], y[2], y[3], c, lattice, vol, want_col)
    return a.stack(values[:4]), (a.stack(values[4:]) if want_col else None)


def step(a, tau, h, y, c, t0: float, lattice: float, vol: float, floor3, rtol: float):
    """One ROS34PW2 step of size ``h`` (n,) from (``tau``, ``y``) for every column: new states and error norms
    (the stages of ``solver._step``, on whole arrays)."""
    f, col = rhs_column(a, y, c, lattice, vol, True)
    col = col * (t0 * a.exp(tau))
    diag = a.minimum(col[3], 0.0)
    hg = h * _GAMMA
    inverse = 1.0 / (1.0 - hg * diag)
    ks = []
    for stage in range(4):
        if stage > 0:
            ytmp = y
            for j in range(stage):
                ytmp = ytmp + float(_A[stage, j]) * ks[j]
            f, _ = rhs_column(a, ytmp, c, lattice, vol, False)
        f = f * (t0 * a.exp(tau + float(_C[stage]) * h))
        coupling = 0.0
        for j in range(stage):
            coupling = coupling + float(_G[stage, j]) * ks[j][3]
        last = h * (f[3] + diag * coupling) * inverse
        ks.append(a.concatenate([h * (f[:3] + col[:3] * coupling) + hg * col[:3] * last, last[None]]))
    y_new, estimate = y, 0.0
    for stage in range(4):
        y_new = y_new + float(_B[stage]) * ks[stage]
        estimate = estimate + float(_E[stage]) * ks[stage]
    # the same error scales as the kernel: relative per moment with population-tied floors
    mean = a.maximum(y[1], 0.0) / a.maximum(y[0], 1e-300)
    floors = a.stack([a.full_like(floor3, 1e-300), a.full_like(floor3, 1e-300),
                      a.maximum(5e-2 * mean * a.maximum(y[1], 0.0), 1e-300), floor3])
    scale = rtol * a.maximum(a.maximum(a.abs(y), a.abs(y_new)), floors)
    err = a.max(a.abs(estimate) / scale, axis=0)
    return y_new, err


def integrate(consts, t0: float, lattice: float, vol: float, rtol: float, max_steps: int):
    """Final states (4, N) and accepted step counts (N,) as NumPy arrays, from the (N, 11) NumPy constants."""
    a = xp()
    c = a.asarray(consts.T)
    size = c.shape[1]
    out = a.zeros((4, size))
    counts = a.zeros(size, dtype=a.int64)
    ids = a.arange(size)
    tau_end = a.log1p(c[9] / t0)
    floor3 = 5e-2 * c[10] * 1e6 * vol
    y = a.zeros((4, size))
    tau = a.zeros(size)
    h = a.full(size, 1e-3)
    accepted = a.zeros(size, dtype=a.int64)
    for _ in range(max_steps):
        if ids.size == 0:
            break
        h = a.minimum(h, tau_end - tau)
        y_new, err = step(a, tau, h, y, c, t0, lattice, vol, floor3, rtol)
        ok = (err <= 1.0) | (h < 1e-9)
        tau = a.where(ok, tau + h, tau)
        y = a.where(ok, y_new, y)
        accepted = accepted + ok
        h = h * a.minimum(4.0, a.maximum(0.2, 0.9 * a.maximum(err, 1e-10) ** (-1.0 / 3.0)))
        done = tau >= tau_end
        if bool(done.any()):
            out[:, ids[done]] = y[:, done]
            counts[ids[done]] = accepted[done]
            keep = ~done
            ids, y, c, tau, h, accepted, tau_end, floor3 = (
                ids[keep], y[:, keep], c[:, keep], tau[keep], h[keep], accepted[keep], tau_end[keep], floor3[keep])
    if ids.size:  # out of steps: return where the integration stopped, like the kernel
        out[:, ids] = y
        counts[ids] = accepted
    return to_numpy(out), to_numpy(counts)
