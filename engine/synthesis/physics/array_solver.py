"""The batch integrator of :mod:`engine.synthesis.physics.solver` written with whole-array operations.

Same equations, same ROS34PW2 scheme, same error norm and step-size controller, but every recipe of the batch is
advanced at once with the array module of :mod:`engine.backend` (NumPy on the CPU, CuPy on a GPU): each
iteration attempts one step of its own size for every unfinished recipe, and finished recipes leave the
working arrays. This is the path without numba and the GPU path; the tests check it against the compiled
kernel and the ``solve_ivp`` reference.
"""

from __future__ import annotations

from engine.backend import to_numpy, xp
from engine.synthesis.physics.solver import _A, _B, _C, _E, _G, _GAMMA

_SEED = 1e-12
_LN_FLOOR = 1e-3
_MAX_EXP = 30.0
_MAX_W = 1e4


def rhs_column(a, y, c, lattice: float, vol: float, want_col: bool):
    """dy/dt (4, n) of the moment equations for states ``y`` (4, n) and constants ``c`` (11, n), and with
    ``want_col`` the column ∂(dy/dt)/∂M3 (else None). ``a`` is the array module. Mirrors ``solver._rhs_column``.
    """
    n, m1, v2 = (a.maximum(y[i], 0.0) for i in range(3))
    positive = y[3] > 0.0
    m3 = a.maximum(y[3], 0.0)
    x = m3 / vol * 1e-6
    cs0, pb0 = c[1], c[2]
    s_raw = c[0] * (cs0 - x) * (pb0 - x) * (2.0 * pb0 - 3.0 * x) / (2.0 * pb0)
    clamped = s_raw < 1e-12
    s = a.where(clamped, 1e-12, s_raw)
    ln_s = a.log(s)
    floored = ln_s < _LN_FLOOR
    ln_pos = a.where(floored, _LN_FLOOR, ln_s)
    nuc = c[8] * a.exp(-c[3] / (ln_pos * ln_pos))
    crit0 = c[4] / ln_pos
    crit = a.sqrt(crit0 * crit0 + lattice * lattice)
    mean = (m1 + _SEED * crit) / (n + _SEED)
    size = a.sqrt(mean * mean + lattice * lattice)
    exponent = c[4] / size
    capped = exponent >= _MAX_EXP
    s_eq = a.exp(a.minimum(exponent, _MAX_EXP))
    damping = 1.0 / (1.0 + size / c[6])
    driving = c[5] * (s - s_eq)
    grow = driving * damping
    slope = -driving * damping * damping / c[6]
    ratio = s_eq / s
    denom = 1.0 + ratio * ratio / _MAX_W
    weight = ratio * ratio / denom
    size3 = size * size * size
    rip = c[7] * weight / size3
    m2 = v2 + mean * m1
    gap = crit - mean
    out = a.stack([
        nuc - rip * n,
        grow * n + nuc * crit - (2.0 / 3.0) * rip * m1,
        2.0 * slope * v2 + nuc * gap * gap - (1.0 / 3.0) * rip * v2,
        3.0 * (grow * m2 + slope * (m3 - mean * m2)) + nuc * crit * crit * crit,
    ])
    if not want_col:
        return out, None
    dx = a.where(positive, 1e-6 / vol, 0.0)
    explicit = a.where(positive, 1.0, 0.0)
    dprod = -((pb0 - x) * (2.0 * pb0 - 3.0 * x) + (cs0 - x) * (2.0 * pb0 - 3.0 * x)
              + 3.0 * (cs0 - x) * (pb0 - x)) / (2.0 * pb0)
    ds = a.where(clamped, 0.0, c[0] * dprod * dx)
    dln = a.where(floored, 0.0, ds / s)
    dnuc = nuc * 2.0 * c[3] / (ln_pos * ln_pos * ln_pos) * dln
    dcrit0 = -crit0 / ln_pos * dln
    dcrit = crit0 / crit * dcrit0
    dmean = _SEED / (n + _SEED) * dcrit
    dsize = mean / size * dmean
    ds_eq = a.where(capped, 0.0, -s_eq * exponent / size * dsize)
    ddamping = -damping * damping / c[6] * dsize
    ddriving = c[5] * (ds - ds_eq)
    dgrow = ddriving * damping + driving * ddamping
    dslope = -(ddriving * damping * damping + 2.0 * driving * damping * ddamping) / c[6]
    dratio = ds_eq / s - s_eq * ds / (s * s)
    dweight = 2.0 * ratio / (denom * denom) * dratio
    drip = c[7] * (dweight / size3 - 3.0 * weight / (size3 * size) * dsize)
    dm2 = dmean * m1
    col = a.stack([
        dnuc - drip * n,
        dgrow * n + dnuc * crit + nuc * dcrit - (2.0 / 3.0) * drip * m1,
        2.0 * dslope * v2 + dnuc * gap * gap + 2.0 * nuc * gap * (dcrit - dmean) - (1.0 / 3.0) * drip * v2,
        (3.0 * (dgrow * m2 + grow * dm2 + dslope * (m3 - mean * m2) + slope * (explicit - dmean * m2 - mean * dm2))
         + dnuc * crit * crit * crit + 3.0 * nuc * crit * crit * dcrit),
    ])
    return out, col


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
