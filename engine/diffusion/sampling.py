"""Reverse-time samplers in the Laplacian eigenbasis, registered by name.

All samplers integrate from t = 1 (prior N(0, Σ(1))) down to t₁ = 1/steps on a uniform grid and finish
with the Tweedie denoise x̂₀ = Φ⁻¹(x - sqrt(Σ) ε̂) at t₁. Per mode k the score is s_k = -ε̂_k / sqrt(Σ_k).

* ``ancestral``: exact Gaussian posterior q(x_s | x_t, x̂₀) per mode (DDPM in the eigenbasis).
* ``euler_maruyama``: the reverse SDE dx = [f - β s] dt + sqrt(β) dW̄, f = -½ β a_k x.
* ``predictor_corrector``: Euler–Maruyama predictor + one Langevin corrector step preconditioned by
  Σ_k(t), step size from a signal-to-noise ratio (Song et al. 2021).
* ``probability_flow``: the deterministic ODE dx/dt = -½ β (a_k x + s) by explicit Euler.

Inpainting (``known``): after every step the known nodes are replaced by a fresh forward-noised copy of
[known values at known nodes, x̂₀ elsewhere] at the new time (replacement method); the returned samples
hold the known values exactly. State is kept as eigenbasis coefficients z = Uᵀx, node-major
[nodes, batch, dim]; ε-functions take and return modal arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from engine.diffusion.models import torch_threads
from engine.diffusion.process import LaplacianDiffusion
from engine.errors import InputError
from engine.progress import JobStopped, report

MAX_STEPS = 5000
MAX_BATCH = 20_000


class NetworkEps:
    """Wrap a :class:`~engine.diffusion.models.Denoiser` as modal ε̂(z = Uᵀx [nodes, b, dim], t)."""

    def __init__(self, net):
        self.net = net.eval()

    def __call__(self, z: torch.Tensor, t: float) -> torch.Tensor:
        return self.net.forward_modes(z, torch.full((1,), t, dtype=z.dtype))


class ExactGaussianEps:
    """The exact ε̂ for zero-mean Gaussian data whose covariance is diagonal in the Laplacian eigenbasis.

    With data mode variances c_k: ε̂_k = sqrt(Σ_k) x_k / (Φ_k² c_k + Σ_k) (e.g. the GMRF, c_k = 1/(κ²+λ_k)).
    """

    def __init__(self, process: LaplacianDiffusion, mode_variance: np.ndarray):
        self.process = process
        self.c = np.asarray(mode_variance, float)

    def __call__(self, z: torch.Tensor, t: float) -> torch.Tensor:
        phi, sig = self.process.phi(t), self.process.sigma(t)
        return torch.tensor(np.sqrt(sig) / (phi**2 * self.c + sig), dtype=z.dtype)[:, None, None] * z


@dataclass
class SampleResult:
    """Samples [n, nodes, dim]; trajectory [frames, shown, nodes, dim] and its times [frames] if recorded."""

    samples: np.ndarray
    trajectory: np.ndarray | None
    times: np.ndarray | None


class _Schedule:
    """Per-step modal coefficients (float32 tensors [nodes, 1, 1]) on the grid t_i = i / steps."""

    def __init__(self, process: LaplacianDiffusion, steps: int):
        self.t = np.linspace(0.0, 1.0, steps + 1)
        self.phi = process.phi(self.t)
        self.sigma = process.sigma(self.t)
        self.beta = process.beta(self.t)
        self.rates = process.rates
        self.dt = 1.0 / steps

    def col(self, values) -> torch.Tensor:
        return torch.tensor(np.asarray(values, float), dtype=torch.float32)[:, None, None]


def _x0_hat(z, eps_z, sched, i):
    return (z - sched.col(np.sqrt(sched.sigma[i])) * eps_z) / sched.col(sched.phi[i])


def _ancestral(z, eps_z, sched, i, noise, eps_fn):
    phi_t, sig_t, phi_s, sig_s = sched.phi[i], sched.sigma[i], sched.phi[i - 1], sched.sigma[i - 1]
    ratio = phi_t / phi_s
    sig_ts = sig_t - ratio**2 * sig_s
    x0 = _x0_hat(z, eps_z, sched, i)
    mean = sched.col(phi_s * sig_ts / sig_t) * x0 + sched.col(ratio * sig_s / sig_t) * z
    return mean + sched.col(np.sqrt(sig_s * sig_ts / sig_t)) * noise()


def _reverse_drift(z, eps_z, sched, i):
    """f - β s in modal form (per unit time, pointing forward in t)."""
    score = -eps_z / sched.col(np.sqrt(sched.sigma[i]))
    return -0.5 * sched.beta[i] * sched.col(sched.rates) * z - sched.beta[i] * score


def _euler_maruyama(z, eps_z, sched, i, noise, eps_fn):
    return z - _reverse_drift(z, eps_z, sched, i) * sched.dt + np.sqrt(sched.beta[i] * sched.dt) * noise()


def _predictor_corrector(z, eps_z, sched, i, noise, eps_fn, snr: float = 0.1):
    z = _euler_maruyama(z, eps_z, sched, i, noise, eps_fn)
    eps_new = eps_fn(z, float(sched.t[i - 1]))
    xi = noise()
    ratio = xi.norm(dim=(0, 2), keepdim=True) / eps_new.norm(dim=(0, 2), keepdim=True).clamp_min(1e-8)
    step = 2 * (snr * ratio) ** 2
    root = sched.col(np.sqrt(sched.sigma[i - 1]))
    return z - step * root * eps_new + torch.sqrt(2 * step) * root * xi


def _probability_flow(z, eps_z, sched, i, noise, eps_fn):
    score = -eps_z / sched.col(np.sqrt(sched.sigma[i]))
    drift = -0.5 * sched.beta[i] * (sched.col(sched.rates) * z + score)
    return z - drift * sched.dt


SAMPLERS: dict[str, Callable] = {
    "ancestral": _ancestral,
    "euler_maruyama": _euler_maruyama,
    "predictor_corrector": _predictor_corrector,
    "probability_flow": _probability_flow,
}


def check_sampler_args(sampler: str, n: int, steps: int) -> None:
    """Validate sampler name, batch size and step count (clear messages)."""
    if sampler not in SAMPLERS:
        raise InputError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}.")
    for name, value, high in (("n", n, MAX_BATCH), ("steps", steps, MAX_STEPS)):
        if isinstance(value, bool) or not float(value).is_integer() or not 1 <= int(value) <= high:
            raise InputError(f"{name} must be an integer in [1, {high}], got {value!r}.")
    if int(steps) < 2:
        raise InputError(f"steps must be an integer in [2, {MAX_STEPS}], got {steps!r}.")


@torch.inference_mode()
def sample(eps_fn: Callable, process: LaplacianDiffusion, n: int, dim: int, steps: int = 500,
           sampler: str = "ancestral", seed: int = 0, record_every: int | None = None, n_shown: int = 4,
           known_mask: np.ndarray | None = None, known_values: np.ndarray | None = None,
           progress: Callable[[float], bool | None] | None = None) -> SampleResult:
    """Draw ``n`` graphs [n, nodes, dim] (model units) with the named reverse-time sampler.

    ``progress(fraction)`` is called every 25 steps; a truthy return raises :class:`engine.progress.JobStopped`.
    """
    with torch_threads(1):
        return _sample(eps_fn, process, n, dim, steps, sampler, seed, record_every, n_shown, known_mask,
                       known_values, progress)


def _sample(eps_fn, process, n, dim, steps, sampler, seed, record_every, n_shown, known_mask, known_values,
            progress):
    check_sampler_args(sampler, n, steps)
    n, steps = int(n), int(steps)
    if record_every is not None and not 1 <= int(record_every) <= steps:
        raise InputError(f"record_every must be an integer in [1, {steps}], got {record_every!r}.")
    step_fn = SAMPLERS[sampler]
    gen = torch.Generator().manual_seed(int(seed))
    nodes = process.n_nodes
    u = torch.tensor(process.eigenvectors, dtype=torch.float32)
    ut = u.T.contiguous()
    shape = (nodes, n, dim)

    def to_modes(xn):
        return (ut @ xn.reshape(nodes, -1)).view(shape)

    def to_nodes(z):
        return (u @ z.reshape(nodes, -1)).view(shape)

    def noise():
        return torch.randn(shape, generator=gen)

    sched = _Schedule(process, steps)
    inpaint = known_mask is not None
    if inpaint:
        mask = torch.tensor(np.asarray(known_mask, bool))[:, None, None]
        values = torch.tensor(np.asarray(known_values, float), dtype=torch.float32)[:, None, :]
    z = sched.col(np.sqrt(sched.sigma[-1])) * noise()
    frames, times = [], []

    def record(z_modes, t):
        frames.append(to_nodes(z_modes)[:, :n_shown].permute(1, 0, 2).numpy().copy())
        times.append(t)

    if record_every:
        record(z, 1.0)
    for i in range(steps, 1, -1):
        eps_z = eps_fn(z, float(sched.t[i]))
        x0 = _x0_hat(z, eps_z, sched, i) if inpaint else None
        z = step_fn(z, eps_z, sched, i, noise, eps_fn)
        if inpaint:
            x0 = torch.where(mask, values, to_nodes(x0))
            noised = sched.col(sched.phi[i - 1]) * to_modes(x0) + sched.col(np.sqrt(sched.sigma[i - 1])) * noise()
            z = to_modes(torch.where(mask, to_nodes(noised), to_nodes(z)))
        if record_every and (steps - i + 1) % int(record_every) == 0:
            record(z, float(sched.t[i - 1]))
        if i % 25 == 0 and report(progress, (steps - i + 1) / steps):
            raise JobStopped(f"sampling stopped by the user after {steps - i + 1} of {steps} steps; no samples kept.")
    x = to_nodes(_x0_hat(z, eps_fn(z, float(sched.t[1])), sched, 1))
    if inpaint:
        x = torch.where(mask, values, x)
    if record_every:
        frames.append(x[:, :n_shown].permute(1, 0, 2).numpy().copy())
        times.append(0.0)
    samples = x.permute(1, 0, 2).numpy().astype(np.float64)
    trajectory = np.stack(frames) if record_every else None
    return SampleResult(samples, trajectory, np.array(times) if record_every else None)


def project_unit(x: np.ndarray) -> np.ndarray:
    """Normalise every node vector to unit length (the documented last step for spin samples)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 1e-12, norm, 1.0)
