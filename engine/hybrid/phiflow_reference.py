"""The same 1-D Burgers problem solved by PhiFlow (a test/benchmark-only dependency), for speed and agreement.

PhiFlow's standard Burgers step (as in its demos and the PBDL book) is explicit finite-difference diffusion
(2nd order, forward Euler, sub-stepped so each sub-step's diffusion number is <= 0.25) followed by
semi-Lagrangian self-advection (linear interpolation, 1st order in time). Ours is pseudo-spectral with Lawson
RK4, so at equal nx and dt the two differ by PhiFlow's discretisation error: compare both to Cole–Hopf.

PhiFlow runs on its NumPy backend in float64: its torch backend cannot grid-sample 1-D fields (PhiFlow 3.4).
The grid's cell centres are placed on our nodes ``x_i = -1 + i dx`` (box shifted by ``dx/2``; periodic).
"""

from __future__ import annotations

import importlib.util
import math
import time

import numpy as np


def available() -> bool:
    """Whether PhiFlow can be imported (it is in requirements-dev.txt, not requirements.txt)."""
    return importlib.util.find_spec("phi") is not None


def _stepper(nx: int, nu: float, dt: float):
    """PhiFlow's grid factory and one Burgers step on a periodic box of nx cells centred on our nodes."""
    from phi import math as pmath
    from phi.flow import Box, CenteredGrid, advect, diffuse, extrapolation, vec

    pmath.set_global_precision(64)
    dx = 2.0 / nx
    substeps = max(1, math.ceil(nu * dt / dx**2 / 0.25))
    bounds = Box(x=(-1.0 - dx / 2, 1.0 - dx / 2))

    def make(u0: np.ndarray):
        values = vec(x=pmath.tensor(np.asarray(u0, dtype=float), pmath.spatial("x")))
        return CenteredGrid(values, extrapolation.PERIODIC, x=nx, bounds=bounds)

    def step(u):
        u = diffuse.explicit(u, nu, dt, substeps=substeps)
        return advect.semi_lagrangian(u, u, dt)

    return make, step


def solve(u0: np.ndarray, nu: float, dt: float, n_steps: int) -> np.ndarray:
    """PhiFlow's solution after ``n_steps`` steps of ``dt`` from ``u0`` [nx] on x = -1 + i dx (periodic [-1, 1))."""
    make, step = _stepper(len(u0), nu, dt)
    u = make(u0)
    for _ in range(n_steps):
        u = step(u)
    return u.values.vector["x"].numpy("x")


def steps_per_second(nx: int = 1024, nu: float = 0.01 / math.pi, courant: float = 0.5, repeats: int = 20) -> dict:
    """PhiFlow Burgers steps per second at ``nx`` from u0 = -sin(pi x), dt = courant * dx (after 3 warm-up steps)."""
    dt = courant * 2.0 / nx
    make, step = _stepper(nx, nu, dt)
    u = make(-np.sin(np.pi * (-1 + 2 * np.arange(nx) / nx)))
    for _ in range(3):
        u = step(u)
    start = time.perf_counter()
    for _ in range(repeats):
        u = step(u)
    import phi

    return {"steps_per_s": repeats / (time.perf_counter() - start), "version": phi.__version__, "backend": "numpy",
            "scheme": "explicit diffusion + semi-Lagrangian advection", "dt": dt,
            "diffusion_substeps": max(1, math.ceil(nu * dt / (2.0 / nx) ** 2 / 0.25))}
