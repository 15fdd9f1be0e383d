"""Differentiable physical models: every model is an ``nn.Module`` whose ``forward(state)`` advances ``dt``.

States are tensors ``[batch, channels, *space]`` on a periodic :class:`~engine.hybrid.spectral.Grid`:

========== ======== ===============================================================================
equation   channels  dynamics (learnable parameter)
========== ======== ===============================================================================
burgers    1 or 2   ``u_t + (u . grad) u = nu Lap u + r u (1 - u^2)``  (``nu``; ``r`` = 0 unless set)
heat       1        ``u_t = kappa Lap u``                                  (``kappa``)
advection  1        ``u_t + c . grad u = 0``                               (``velocity``)
smoke      3        density + incompressible velocity, buoyancy ``b rho`` up (``buoyancy``)
========== ======== ===============================================================================

Burgers uses a Fourier pseudo-spectral discretisation with a smooth dealiasing filter and Lawson
(integrating-factor) RK4 in time: diffusion is exact, transport is sub-stepped to Courant number <= 0.5.
Heat and advection are integrated exactly in Fourier space. Smoke is semi-Lagrangian advection, buoyancy,
exact viscous diffusion and a spectral pressure projection (periodic box).
"""

from __future__ import annotations

from enum import StrEnum

import torch
from torch import nn

from engine.errors import InputError
from engine.hybrid import spectral as sp
from engine.hybrid.spectral import Grid


class Equation(StrEnum):
    BURGERS = "burgers"
    HEAT = "heat"
    ADVECTION = "advection"
    SMOKE = "smoke"


class PhysicalModel(nn.Module):
    """Base: a grid, an output interval ``dt`` and named learnable scalars (``nn.Parameter``, float64)."""

    channels: int = 1

    def __init__(self, grid: Grid, dt: float):
        super().__init__()
        if not dt > 0:
            raise InputError(f"dt = {dt} must be > 0.")
        self.grid, self.dt = grid, float(dt)

    def _scalar(self, name: str, value: float, low: float, high: float) -> None:
        if not low <= value <= high:
            raise InputError(f"{name} = {value} is outside the allowed range [{low}, {high}].")
        self.register_parameter(name, nn.Parameter(torch.tensor(float(value), dtype=torch.float64)))

    def values(self) -> dict[str, float]:
        """Current learnable parameters as plain floats."""
        return {name: float(p.detach()) for name, p in self.named_parameters()}

    def check_state(self, state: torch.Tensor) -> None:
        expected = (self.channels, *self.grid.shape)
        if tuple(state.shape[1:]) != expected:
            shape = ", ".join(map(str, expected))
            raise InputError(f"state has shape {tuple(state.shape)}; expected [batch, {shape}].")


class Burgers(PhysicalModel):
    """Viscous Burgers in 1-D (1 channel) or 2-D (channels ``u_x, u_y``), optional reaction ``r u (1 - u^2)``."""

    def __init__(self, grid: Grid, dt: float, nu: float, reaction: float = 0.0):
        super().__init__(grid, dt)
        self.channels = grid.dim
        self._scalar("nu", nu, 0.0, 10.0)
        self.reaction = float(reaction)
        self.register_buffer("filt", sp.spectral_filter(grid), persistent=False)
        self.register_buffer("ksq", sp.wavenumber_squared(grid), persistent=False)
        for axis, k in enumerate(sp.wavevectors(grid)):
            self.register_buffer(f"k{axis}", k, persistent=False)

    def _ks(self, dtype) -> list[torch.Tensor]:
        return [getattr(self, f"k{axis}").to(dtype) for axis in range(self.grid.dim)]

    def tendency(self, u_hat: torch.Tensor) -> torch.Tensor:
        """Fourier transform of the explicit (non-diffusive) right-hand side."""
        u = sp.ifft(u_hat, self.grid)
        filt = self.filt.to(u.dtype)
        out = sp.advection_tendency(u, self.grid, self._ks(u.dtype), filt)
        if self.reaction:
            out = out + self.reaction * filt * sp.fft(u * (1 - u * u), self.grid.dim)
        return out

    def step(self, u: torch.Tensor, h: float) -> torch.Tensor:
        """One Lawson RK4 step of size ``h`` (raises if its Courant number exceeds the limit)."""
        sp.check_cfl(float(u.detach().abs().max()), h, self.grid.dx)
        e_half = torch.exp(-self.nu * self.ksq * (h / 2)).to(u.dtype)
        e_full = e_half * e_half
        v = sp.fft(u, self.grid.dim)
        k1 = self.tendency(v)
        k2 = self.tendency(e_half * (v + h / 2 * k1))
        k3 = self.tendency(e_half * v + h / 2 * k2)
        k4 = self.tendency(e_full * v + h * e_half * k3)
        v = e_full * v + h / 6 * (e_full * k1 + 2 * e_half * (k2 + k3) + k4)
        return sp.ifft(v, self.grid)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        self.check_state(state)
        n = sp.substeps(float(state.detach().abs().max()), self.dt, self.grid.dx)
        for _ in range(n):
            state = self.step(state, self.dt / n)
        return state


class Heat(PhysicalModel):
    """Heat equation, integrated exactly in Fourier space."""

    def __init__(self, grid: Grid, dt: float, kappa: float):
        super().__init__(grid, dt)
        self._scalar("kappa", kappa, 0.0, 10.0)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        self.check_state(state)
        return sp.diffuse(state, self.kappa, self.dt, self.grid)


class Advection(PhysicalModel):
    """Linear advection by a constant velocity (one component per axis, ``x`` last), exact in Fourier space."""

    def __init__(self, grid: Grid, dt: float, velocity: float):
        super().__init__(grid, dt)
        self._scalar("velocity", velocity, -100.0, 100.0)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        self.check_state(state)
        c = torch.stack([self.velocity] * self.grid.dim)  # same speed along every axis (diagonal in 2-D)
        return sp.translate(state, c, self.dt, self.grid)


class Smoke(PhysicalModel):
    """Buoyant incompressible smoke in a periodic box: channels ``(density, u_x, u_y)``.

    Per sub-step: inflow adds ``inflow`` density/s in a Gaussian blob near the bottom; density and velocity
    are advected semi-Lagrangianly; buoyancy adds ``b * density`` to ``u_y``; viscosity ``nu`` diffuses the
    velocity exactly; a spectral projection makes it divergence-free.
    """

    channels = 3

    def __init__(self, grid: Grid, dt: float, buoyancy: float, nu: float = 1e-3, inflow: float = 1.0):
        super().__init__(grid, dt)
        if grid.dim != 2:
            raise InputError("smoke needs a 2-D grid (give --ny).")
        self._scalar("buoyancy", buoyancy, -100.0, 100.0)
        if not 0 <= nu <= 10:
            raise InputError(f"nu = {nu} is outside the allowed range [0, 10].")
        self.nu = float(nu)
        y, x = (torch.tensor(a) for a in grid.axes())
        blob = torch.exp(-((x[None, :]) ** 2 + (y[:, None] + 0.6 * grid.length / 2) ** 2) / (0.1 * grid.length) ** 2)
        self.register_buffer("source", inflow * blob, persistent=False)

    def step(self, state: torch.Tensor, h: float) -> torch.Tensor:
        density = state[:, :1] + self.source.to(state.dtype) * h
        velocity = state[:, 1:]
        moved = sp.advect_semi_lagrangian(torch.cat([density, velocity], dim=1), velocity, h, self.grid)
        density, velocity = moved[:, :1], moved[:, 1:]
        lift = torch.cat([torch.zeros_like(density), self.buoyancy.to(state.dtype) * density * h], dim=1)
        velocity = sp.project(sp.diffuse(velocity + lift, self.nu, h, self.grid), self.grid)
        return torch.cat([density, velocity], dim=1)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        self.check_state(state)
        lift = abs(float(self.buoyancy)) * float(state[:, :1].detach().abs().max()) * self.dt
        speed = float(state[:, 1:].detach().abs().max()) + lift
        n = sp.substeps(speed, self.dt, self.grid.dx, target=0.8)
        for _ in range(n):
            state = self.step(state, self.dt / n)
        return state


def rollout(model: nn.Module, state: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Apply ``model.forward`` ``n_steps`` times: returns ``[batch, n_steps + 1, channels, *space]``."""
    frames = [state]
    for _ in range(n_steps):
        state = model(state)
        frames.append(state)
    return torch.stack(frames, dim=1)
