"""Closed-form reference solutions used by tests and benchmarks (NumPy, float64)."""

from __future__ import annotations

import numpy as np

from engine.errors import InputError


def burgers_cole_hopf(x: np.ndarray, t: float, nu: float, n_nodes: int = 200) -> np.ndarray:
    """Exact viscous Burgers solution for ``u0 = -sin(pi x)`` (period 2) at time ``t`` > 0, viscosity ``nu``.

    Cole–Hopf: ``u = -int sin(pi(x-e)) f(x-e) G(e) de / int f(x-e) G(e) de`` with
    ``f(y) = exp(-cos(pi y) / (2 pi nu))`` and the heat kernel ``G(e) ~ exp(-e^2 / (4 nu t))``. Substituting
    ``e = sqrt(4 nu t) z`` turns both integrals into Gauss–Hermite sums with ``n_nodes`` nodes; exponents are
    shifted by their maximum per ``x`` so nothing overflows for small ``nu``.
    """
    if t <= 0 or nu <= 0:
        raise InputError(f"Cole-Hopf needs t > 0 and nu > 0 (got t={t}, nu={nu}).")
    z, w = np.polynomial.hermite.hermgauss(n_nodes)
    y = np.asarray(x, dtype=float)[:, None] - np.sqrt(4 * nu * t) * z[None, :]
    log_f = -np.cos(np.pi * y) / (2 * np.pi * nu)
    weight = w[None, :] * np.exp(log_f - log_f.max(axis=1, keepdims=True))
    return -(np.sin(np.pi * y) * weight).sum(axis=1) / weight.sum(axis=1)


def heat_modes(x: np.ndarray, t: float, kappa: float, modes: dict[int, float], length: float = 2.0) -> np.ndarray:
    """Exact heat solution for ``u0 = sum_m a_m sin(2 pi m x / L)``: each mode decays as ``exp(-kappa k^2 t)``."""
    out = np.zeros_like(np.asarray(x, dtype=float))
    for m, amp in modes.items():
        k = 2 * np.pi * m / length
        out += amp * np.exp(-kappa * k * k * t) * np.sin(k * x)
    return out


def advection_shift(u0, x: np.ndarray, t: float, velocity: float, length: float = 2.0) -> np.ndarray:
    """Exact linear advection: ``u(x, t) = u0(x - c t)`` wrapped onto the periodic box ``[-L/2, L/2)``."""
    shifted = (np.asarray(x, dtype=float) - velocity * t + length / 2) % length - length / 2
    return u0(shifted)
