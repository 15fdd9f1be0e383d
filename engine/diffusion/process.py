"""The Laplacian-driven forward process, solved exactly in the Laplacian eigenbasis.

Each vector component of a graph signal S [nodes, dim] follows the linear SDE

    dS = -½ β(t) (m I + γ L) S dt + sqrt(β(t)) dW,     t ∈ [0, 1],

which for a constant β is the Laplacian drift dS = -γ' L S dt + sqrt(β) dW of the issue, plus an
optional mass m ≥ 0 that makes the zero (constant) mode contract as well. With L = U diag(λ) U^T,
a_k = m + γ λ_k and B(t) = ∫₀ᵗ β(s) ds every mode is an independent Ornstein–Uhlenbeck process:

    Φ_k(t) = exp(-½ a_k B(t)),     Σ_k(t) = (1 - exp(-a_k B(t))) / a_k      (Σ_k = B(t) when a_k = 0),

so S_t = U(Φ ⊙ Uᵀ S_0) + U(sqrt(Σ) ⊙ ξ), ξ ~ N(0, I). The zero mode (λ_0 = 0, constant eigenvector)
is set explicitly; with m = 0 it is Brownian motion. For m > 0 the prior at t = 1 is the GMRF
N(0, (m I + γ L)⁻¹). The explicit-Euler matrix ODE is kept only as a reference (:func:`euler_reference`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from engine.errors import InputError

ALPHA_FLOOR = np.exp(-12.0)  # cosine schedule: ᾱ(1) is floored so B(1) stays finite (B ≤ 12)


def _linear(t, beta_min, beta_max):
    """β(t) = β_min + (β_max - β_min) t; returns (β(t), B(t))."""
    return beta_min + (beta_max - beta_min) * t, beta_min * t + 0.5 * (beta_max - beta_min) * t**2


def _cosine(t, beta_min, beta_max, s: float = 0.008):
    """Nichol–Dhariwal cosine ᾱ(t) = cos²(π/2 (t+s)/(1+s)) / cos²(π/2 s/(1+s)), floored; B = -log ᾱ."""
    theta = 0.5 * np.pi * (t + s) / (1 + s)
    norm = np.cos(0.5 * np.pi * s / (1 + s)) ** 2
    alpha = np.cos(theta) ** 2 / norm
    floored = alpha * (1 - ALPHA_FLOOR) + ALPHA_FLOOR
    dalpha = -0.5 * np.pi / (1 + s) * np.sin(2 * theta) / norm
    return -dalpha * (1 - ALPHA_FLOOR) / floored, -np.log(floored)


SCHEDULES: dict[str, Callable] = {"linear": _linear, "cosine": _cosine}


@dataclass(frozen=True)
class ProcessConfig:
    """Forward-process parameters: Laplacian rate γ, mass m, schedule name and its β range (1/time)."""

    gamma: float = 1.0
    mass: float = 1.0
    schedule: str = "linear"
    beta_min: float = 0.1
    beta_max: float = 20.0

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise InputError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}.")
        if not (np.isfinite(self.gamma) and 0 <= self.gamma <= 100):
            raise InputError(f"gamma must lie in [0, 100], got {self.gamma!r}.")
        if not (np.isfinite(self.mass) and 0 <= self.mass <= 100):
            raise InputError(f"mass must lie in [0, 100], got {self.mass!r}.")
        if not 0 < self.beta_min <= self.beta_max <= 1000:
            raise InputError(f"need 0 < beta_min <= beta_max <= 1000, got {self.beta_min}, {self.beta_max}.")


class LaplacianDiffusion:
    """Exact forward process on one graph: modal factors Φ_k(t), Σ_k(t) and batched noising."""

    def __init__(self, laplacian, config: ProcessConfig = ProcessConfig()):
        dense = laplacian.toarray() if sp.issparse(laplacian) else np.asarray(laplacian, dtype=float)
        n = dense.shape[0]
        evals, evecs = np.linalg.eigh(dense)
        evals[0], evecs[:, 0] = 0.0, 1.0 / np.sqrt(n)  # the zero mode of a connected graph, set exactly
        self.laplacian = sp.csr_matrix(dense)
        self.config = config
        self.n_nodes = n
        self.eigenvalues = np.clip(evals, 0.0, None)
        self.eigenvectors = evecs
        self.rates = config.mass + config.gamma * self.eigenvalues

    def beta(self, t) -> np.ndarray:
        """β(t), 1/time."""
        return SCHEDULES[self.config.schedule](np.asarray(t, float), self.config.beta_min, self.config.beta_max)[0]

    def integrated_beta(self, t) -> np.ndarray:
        """B(t) = ∫₀ᵗ β(s) ds (dimensionless)."""
        return SCHEDULES[self.config.schedule](np.asarray(t, float), self.config.beta_min, self.config.beta_max)[1]

    def phi(self, t) -> np.ndarray:
        """Modal decay factors Φ_k(t), shape [*t.shape, nodes]."""
        b = self.integrated_beta(t)[..., None]
        return np.exp(-0.5 * self.rates * b)

    def sigma(self, t) -> np.ndarray:
        """Modal variances Σ_k(t), shape [*t.shape, nodes]; the a_k = 0 mode gives B(t) exactly."""
        b = self.integrated_beta(t)[..., None]
        rates = np.broadcast_to(self.rates, np.broadcast_shapes(b.shape, self.rates.shape))
        safe = np.where(rates > 0, rates, 1.0)
        return np.where(rates > 0, -np.expm1(-safe * b) / safe, b * np.ones_like(rates))

    def phi_matrix(self, t: float) -> np.ndarray:
        """Dense Φ(t) = U diag(Φ_k) Uᵀ [nodes, nodes]."""
        return (self.eigenvectors * self.phi(t)) @ self.eigenvectors.T

    def sigma_matrix(self, t: float) -> np.ndarray:
        """Dense Σ(t) = U diag(Σ_k) Uᵀ [nodes, nodes] (per vector component)."""
        return (self.eigenvectors * self.sigma(t)) @ self.eigenvectors.T

    def to_modes(self, x: np.ndarray) -> np.ndarray:
        """Node basis [..., nodes, dim] → eigenbasis coefficients Uᵀ x."""
        return np.einsum("nk,...nd->...kd", self.eigenvectors, x)

    def from_modes(self, z: np.ndarray) -> np.ndarray:
        """Eigenbasis coefficients → node basis U z."""
        return np.einsum("nk,...kd->...nd", self.eigenvectors, z)

    def noise(self, x0: np.ndarray, t, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Batched exact noising: x0 [b, nodes, dim], t [b] → (x_t, ε) with x_t = Φ x0 + sqrt(Σ) ε."""
        t = np.asarray(t, float)
        eps = rng.standard_normal(x0.shape)
        phi, sig = self.phi(t)[..., None], np.sqrt(self.sigma(t))[..., None]
        return self.from_modes(phi * self.to_modes(x0) + sig * self.to_modes(eps)), eps

    def prior(self, n: int, dim: int, rng: np.random.Generator, t: float = 1.0) -> np.ndarray:
        """Samples of N(0, Σ(t)) per component, [n, nodes, dim] (the reverse process starts here)."""
        xi = rng.standard_normal((n, self.n_nodes, dim))
        return self.from_modes(np.sqrt(self.sigma(t))[:, None] * xi)


def euler_reference(process: LaplacianDiffusion, times, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Φ(t), Σ(t) [len(times), nodes, nodes] by explicit Euler on dΦ/dt = AΦ, dΣ/dt = AΣ + ΣAᵀ + βI.

    A(t) = -½β(t)(mI + γL) is applied as a sparse matrix; ``n_steps`` uniform steps on [0, max(times)].
    Reference only: first-order accurate, O(n_steps · nodes²) work and dense storage.
    """
    times = np.asarray(times, float)
    t_end = float(times.max())
    dt = t_end / n_steps
    n = process.n_nodes
    cfg = process.config
    generator = (cfg.mass * sp.identity(n, format="csr") + cfg.gamma * process.laplacian).tocsr()
    phi, sigma = np.eye(n), np.zeros((n, n))
    marks = {int(round(t / dt)): i for i, t in enumerate(times)}
    phis, sigmas = np.empty((len(times), n, n)), np.empty((len(times), n, n))
    for step in range(n_steps + 1):
        if step in marks:
            phis[marks[step]], sigmas[marks[step]] = phi, sigma
        if step == n_steps:
            break
        beta = float(process.beta(step * dt))
        a_sigma = -0.5 * beta * (generator @ sigma)
        phi = phi - 0.5 * beta * dt * (generator @ phi)
        sigma = sigma + dt * (a_sigma + a_sigma.T)
        sigma[np.diag_indices(n)] += beta * dt
    return phis, sigmas
