"""Pure, differentiable PyTorch operators on periodic grids: the building blocks of every solver.

Fields are tensors whose last ``d`` axes are space (``d`` = 1: ``[..., nx]``; ``d`` = 2: ``[..., ny, nx]``)
on the periodic box ``[-L/2, L/2)^d`` (default ``L`` = 2, i.e. ``x`` in ``[-1, 1)``). Derivatives are
pseudo-spectral (exact for band-limited fields), diffusion is integrated exactly in Fourier space (so it has
no diffusion-number limit), and explicit transport steps are guarded by :func:`check_cfl`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import InputError

CFL_LIMIT = 1.0  # largest Courant number accepted by explicit transport steps (RK4 / semi-Lagrangian)


@dataclass(frozen=True)
class Grid:
    """A periodic grid: ``shape`` = ``(nx,)`` or ``(ny, nx)`` points on a box of side ``length``."""

    shape: tuple[int, ...]
    length: float = 2.0

    @property
    def dim(self) -> int:
        return len(self.shape)

    @property
    def dx(self) -> float:
        """Smallest grid spacing (the box has side ``length`` along every axis)."""
        return self.length / max(self.shape)

    @property
    def spacing(self) -> tuple[float, ...]:
        """Grid spacing per axis, in array order."""
        return tuple(self.length / n for n in self.shape)

    def axes(self) -> list[np.ndarray]:
        """Coordinates of each axis, in array order (``[x]`` or ``[y, x]``), from ``-L/2`` inclusive."""
        return [-self.length / 2 + self.length * np.arange(n) / n for n in self.shape]


def wavevectors(grid: Grid, device=None, nyquist: bool = False) -> list[torch.Tensor]:
    """Angular wavenumbers of an ``rfftn`` over the grid axes, each broadcastable to the spectrum shape.

    The Nyquist wavenumber of an even axis is set to 0 (``nyquist=False``, for first derivatives, whose
    Nyquist coefficient cannot be real) or kept (``nyquist=True``, for even operators such as ``|k|^2``).
    """
    out = []
    for axis, n in enumerate(grid.shape):
        last = axis == grid.dim - 1
        freq = np.fft.rfftfreq(n, d=grid.length / n) if last else np.fft.fftfreq(n, d=grid.length / n)
        if not nyquist and n % 2 == 0:
            freq[n // 2] = 0.0
        k = torch.tensor(2 * math.pi * freq, dtype=torch.float64, device=device)
        view = [1] * grid.dim
        view[axis] = -1
        out.append(k.reshape(view))
    return out


def wavenumber_squared(grid: Grid, device=None) -> torch.Tensor:
    """``|k|^2`` on the ``rfftn`` spectrum."""
    return sum(k**2 for k in wavevectors(grid, device, nyquist=True))


def spectral_filter(grid: Grid, order: int = 36, device=None) -> torch.Tensor:
    """Smooth exponential filter ``exp(-36 (|k|/k_max)^order)`` per axis (Hou & Li 2007), for dealiasing."""
    filt = 1.0
    for k, n in zip(wavevectors(grid, device, nyquist=True), grid.shape, strict=True):
        kmax = math.pi * n / grid.length
        filt = filt * torch.exp(-36.0 * (k.abs() / kmax) ** order)
    return filt


def fft(u: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.fft.rfftn(u, dim=tuple(range(-dim, 0)))


def ifft(u_hat: torch.Tensor, grid: Grid) -> torch.Tensor:
    return torch.fft.irfftn(u_hat, s=grid.shape, dim=tuple(range(-grid.dim, 0)))


def gradient(u: torch.Tensor, grid: Grid, ks: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """Spectral partial derivatives of ``u`` along each grid axis (array order ``[y, x]`` in 2-D)."""
    u_hat = fft(u, grid.dim)
    ks = wavevectors(grid, u.device) if ks is None else ks
    return [ifft(1j * k.to(u.dtype) * u_hat, grid) for k in ks]


def diffuse(u: torch.Tensor, nu, dt: float, grid: Grid) -> torch.Tensor:
    """Exact solution of ``u_t = nu * Laplacian(u)`` over time ``dt`` (unconditionally stable)."""
    if dt < 0:
        raise InputError(f"dt = {dt} must be >= 0 for diffusion.")
    decay = torch.exp(-torch.as_tensor(nu, dtype=torch.float64) * dt * wavenumber_squared(grid, u.device))
    return ifft(decay.to(u.dtype) * fft(u, grid.dim), grid)


def translate(u: torch.Tensor, velocity, dt: float, grid: Grid) -> torch.Tensor:
    """Exact solution of ``u_t + c . grad(u) = 0`` over ``dt`` for a constant velocity ``c`` (per axis, x last)."""
    c = torch.as_tensor(velocity, dtype=torch.float64).reshape(-1)
    if c.numel() != grid.dim:
        raise InputError(f"velocity has {c.numel()} components; the grid needs {grid.dim}.")
    phase = sum(k * c[-grid.dim + axis] for axis, k in enumerate(wavevectors(grid, u.device)))
    return ifft(torch.exp(-1j * phase * dt).to(torch.complex128 if u.dtype == torch.float64 else torch.complex64)
                * fft(u, grid.dim), grid)


def cfl_number(speed: float, dt: float, dx: float) -> float:
    """Courant number ``speed * dt / dx``."""
    return float(speed) * float(dt) / float(dx)


def check_cfl(speed: float, dt: float, dx: float, limit: float = CFL_LIMIT) -> None:
    """Raise :class:`InputError` when an explicit transport step would be unstable."""
    courant = cfl_number(speed, dt, dx)
    if not math.isfinite(courant) or courant > limit:
        raise InputError(
            f"CFL number {courant:.3g} (max speed {speed:.3g} * dt {dt:.3g} / dx {dx:.3g}) exceeds the stability "
            f"limit {limit}; reduce dt (allowed dt <= {limit * dx / max(speed, 1e-300):.3g}) or increase nx."
        )


def substeps(speed: float, dt: float, dx: float, target: float = 0.5) -> int:
    """Number of equal sub-steps that keeps the Courant number of each at or below ``target``."""
    if not math.isfinite(speed):
        raise InputError("the solution became non-finite (NaN/inf); the step is unstable for these parameters.")
    return max(1, math.ceil(cfl_number(speed, dt, dx) / target))


def advection_tendency(u: torch.Tensor, grid: Grid, ks: list[torch.Tensor], filt: torch.Tensor) -> torch.Tensor:
    """Fourier transform of ``-(u . grad) u`` for a velocity field ``u`` ``[..., d, *space]`` (filtered).

    ``ks`` are the :func:`wavevectors` and ``filt`` the dealiasing filter, both in ``u``'s real dtype.
    In 1-D this is the conservative Burgers flux ``-d/dx (u^2 / 2)``.
    """
    if grid.dim == 1:
        return -0.5j * ks[0] * filt * fft(u * u, 1)
    d_dy, d_dx = gradient(u, grid, ks)  # each [..., 2, ny, nx]; channels are (u_x, u_y)
    adv = u[..., 0:1, :, :] * d_dx + u[..., 1:2, :, :] * d_dy
    return -filt * fft(adv, grid.dim)


def project(velocity: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Leray projection of a 2-D velocity ``[..., 2, ny, nx]`` (channels ``u_x, u_y``) onto divergence-free fields."""
    ky, kx = wavevectors(grid, velocity.device)
    k2 = kx**2 + ky**2
    k2 = torch.where(k2 == 0, torch.ones_like(k2), k2)
    u_hat, v_hat = fft(velocity[..., 0, :, :], 2), fft(velocity[..., 1, :, :], 2)
    div = kx * u_hat + ky * v_hat
    u_hat = u_hat - kx * div / k2
    v_hat = v_hat - ky * div / k2
    return torch.stack([ifft(u_hat, grid), ifft(v_hat, grid)], dim=-3)


def divergence(velocity: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Spectral divergence of a 2-D velocity ``[..., 2, ny, nx]``."""
    d_dy_v = gradient(velocity[..., 1, :, :], grid)[0]
    d_dx_u = gradient(velocity[..., 0, :, :], grid)[1]
    return d_dx_u + d_dy_v


def sample_periodic(field: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Bilinear interpolation of ``field [..., ny, nx]`` at fractional grid indices ``(ys, xs)`` with wrap-around."""
    ny, nx = field.shape[-2:]
    y0, x0 = torch.floor(ys), torch.floor(xs)
    wy, wx = ys - y0, xs - x0
    y0, x0 = y0.long() % ny, x0.long() % nx
    y1, x1 = (y0 + 1) % ny, (x0 + 1) % nx
    flat = field.reshape(*field.shape[:-2], ny * nx)

    def at(yi, xi):
        index = (yi * nx + xi).reshape(*yi.shape[:-2], ny * nx).expand(*flat.shape[:-1], ny * nx)
        return torch.gather(flat, -1, index).reshape(field.shape)

    return ((1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) + wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1)))


def advect_semi_lagrangian(field: torch.Tensor, velocity: torch.Tensor, dt: float, grid: Grid) -> torch.Tensor:
    """Semi-Lagrangian advection of ``field [..., C, ny, nx]`` by ``velocity [..., 2, ny, nx]`` over ``dt``.

    Each grid value is replaced by the upstream value at ``x - u dt`` (bilinear, periodic). Stable for any
    Courant number, but only accurate below ~1, so :func:`check_cfl` guards it.
    """
    speed = float(velocity.detach().abs().max())
    check_cfl(speed, dt, grid.dx)
    ny, nx = grid.shape
    iy = torch.arange(ny, dtype=field.dtype, device=field.device).reshape(ny, 1)
    ix = torch.arange(nx, dtype=field.dtype, device=field.device).reshape(1, nx)
    dy, dx = grid.spacing
    ys = (iy - velocity[..., 1, :, :] * dt / dy).unsqueeze(-3)
    xs = (ix - velocity[..., 0, :, :] * dt / dx).unsqueeze(-3)
    return sample_periodic(field, ys.expand_as(field), xs.expand_as(field))
