"""Public entry points shared by the CLI and the page: simulate an equation, fit a viscosity to a trajectory."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import InputError
from engine.hybrid.data import InitKind, initial_state
from engine.hybrid.fit import FitResult, denoise_first_frame, fit_parameters, unrolled_loss
from engine.hybrid.physical import Advection, Burgers, Equation, Heat, PhysicalModel, Smoke, rollout
from engine.hybrid.spectral import Grid

FIELDS: dict[Equation, tuple[str, ...]] = {
    Equation.BURGERS: ("u", "v"),  # 1-D Burgers has only "u"
    Equation.HEAT: ("u",),
    Equation.ADVECTION: ("u",),
    Equation.SMOKE: ("density", "u", "v"),
}


@dataclass(frozen=True)
class SimulationConfig:
    """One simulation request (units: box [-1, 1) per axis, time in the same units)."""

    equation: Equation = Equation.BURGERS
    nx: int = 256
    ny: int | None = None
    nu: float = 0.01 / math.pi  # viscosity (burgers, smoke) or diffusivity (heat)
    velocity: float = 1.0  # advection speed
    buoyancy: float = 1.0  # smoke buoyancy
    t_end: float = 1.0
    n_out: int = 51
    init: InitKind = InitKind.SINE
    seed: int = 0

    def __post_init__(self):
        if self.equation not in FIELDS:
            raise InputError(f"equation = {self.equation!r}; allowed: {', '.join(map(str, Equation))}.")
        integers = [("nx", self.nx, 8, 4096), ("n_out", self.n_out, 2, 2001), ("seed", self.seed, 0, 2**32 - 1)]
        if self.ny is not None:
            integers.append(("ny", self.ny, 8, 512))
        for name, value, low, high in integers:
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or not low <= value <= high:
                raise InputError(f"{name} = {value!r} must be an integer in [{low}, {high}].")
        reals = [("t_end", self.t_end, 1e-6, 100.0), ("nu", self.nu, 0.0, 10.0),
                 ("velocity", self.velocity, -10.0, 10.0), ("buoyancy", self.buoyancy, -10.0, 10.0)]
        for name, value, low, high in reals:
            if isinstance(value, bool) or not (isinstance(value, int | float) and math.isfinite(value)
                                               and low <= value <= high):
                raise InputError(f"{name} = {value!r} is outside the allowed range [{low}, {high}].")
        if self.equation is Equation.SMOKE and (self.ny is None or self.nx > 512):
            raise InputError("smoke is 2-D: give ny in [8, 512] and nx <= 512.")
        if self.ny is not None and self.nx > 512:
            raise InputError(f"nx = {self.nx} is outside [8, 512] for a 2-D grid.")

    @property
    def grid(self) -> Grid:
        return Grid((self.nx,) if self.ny is None else (self.ny, self.nx))


COORDINATES = ("x", "y", "t")


def add_noise(arrays: dict[str, np.ndarray], noise: float, seed: int = 0) -> dict[str, np.ndarray]:
    """A copy of :func:`simulate`'s ``arrays`` with Gaussian noise of standard deviation ``noise`` x RMS added
    to each field (coordinates untouched), drawn in field order from ``default_rng(seed)``."""
    if not (math.isfinite(noise) and 0 <= noise <= 1):
        raise InputError(f"noise = {noise} is outside the allowed range [0, 1] (a fraction of the field's RMS).")
    rng = np.random.default_rng(seed)
    out = dict(arrays)
    for name, field in arrays.items():
        if name not in COORDINATES:
            out[name] = field + noise * np.sqrt(np.mean(field**2)) * rng.standard_normal(field.shape)
    return out


BUILDERS: dict[Equation, Callable[[SimulationConfig, float], PhysicalModel]] = {
    Equation.BURGERS: lambda c, dt: Burgers(c.grid, dt, c.nu),
    Equation.HEAT: lambda c, dt: Heat(c.grid, dt, c.nu),
    Equation.ADVECTION: lambda c, dt: Advection(c.grid, dt, c.velocity),
    Equation.SMOKE: lambda c, dt: Smoke(c.grid, dt, c.buoyancy, nu=c.nu),
}


def build_model(config: SimulationConfig) -> PhysicalModel:
    """The physical model for ``config`` with ``dt`` = output interval."""
    return BUILDERS[config.equation](config, config.t_end / (config.n_out - 1))


def _initial(config: SimulationConfig, channels: int) -> np.ndarray:
    if config.equation is Equation.SMOKE:
        density = np.clip(initial_state(config.init, config.grid, 1, config.seed), 0, None)
        return np.concatenate([density, np.zeros((2, *config.grid.shape))])
    return initial_state(config.init, config.grid, channels, config.seed)


def simulate(config: SimulationConfig, on_frame: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """Run the solver (float64) and return ``x`` (and ``y``), ``t [K]`` and each field ``[K, (ny,) nx]``."""
    model = build_model(config)
    state = torch.tensor(_initial(config, model.channels))[None]
    frames = [state]
    with torch.no_grad():
        for k in range(1, config.n_out):
            state = model(state)
            frames.append(state)
            if on_frame is not None:
                on_frame(k, config.n_out - 1)
    traj = torch.cat(frames).numpy()  # [K, C, *space]
    axes = config.grid.axes()
    out = {"x": axes[-1], "t": np.linspace(0.0, config.t_end, config.n_out)}
    if config.ny is not None:
        out["y"] = axes[0]
    for index, name in enumerate(FIELDS[config.equation][: model.channels]):
        out[name] = traj[:, index]
    return out


def fit_viscosity(x: np.ndarray, t: np.ndarray, u: np.ndarray, nu0: float = 0.01, max_iter: int = 30,
                  bounds: tuple[float, float] = (1e-5, 1.0)) -> FitResult:
    """Fit Burgers' viscosity to a 1-D trajectory ``u [K, nx]`` sampled at uniform times ``t [K]`` on the
    periodic grid ``x [nx]`` (``x`` in ``[-1, 1)``): roll out from the denoised first frame, match the rest."""
    x, t, u = (np.asarray(a, dtype=float) for a in (x, t, u))
    if u.ndim != 2 or u.shape != (len(t), len(x)) or len(t) < 2:
        raise InputError(f"u must be [K, nx] with K = len(t) >= 2 and nx = len(x); got {u.shape}, "
                         f"len(t) = {len(t)}, len(x) = {len(x)}.")
    if not np.all(np.isfinite(u)):
        raise InputError("u contains NaN or inf values.")
    dts = np.diff(t)
    if np.any(dts <= 0) or np.ptp(dts) > 1e-6 * dts.mean():
        raise InputError("t must be strictly increasing with a uniform step.")
    dx = np.diff(x)
    length = len(x) * dx.mean()
    if np.ptp(dx) > 1e-6 * dx.mean():
        raise InputError("x must be a uniform periodic grid.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or not 1 <= max_iter <= 1000:
        raise InputError(f"max_iter = {max_iter!r} must be an integer in [1, 1000].")
    if not bounds[0] <= nu0 <= bounds[1]:
        raise InputError(f"initial nu = {nu0} is outside the bounds [{bounds[0]}, {bounds[1]}].")
    model = Burgers(Grid((len(x),), length=length), float(dts.mean()), nu0)
    start = torch.tensor(denoise_first_frame(u[0]))[None, None]
    targets = torch.tensor(u[1:])[None, :, None]
    return fit_parameters(model, lambda: unrolled_loss(model, start, targets), bounds={"nu": bounds},
                          max_iter=max_iter)


def trajectory(model: torch.nn.Module, start: np.ndarray, n_steps: int) -> np.ndarray:
    """Roll any stepper (physical, synthetic or hybrid) out from ``start [C, *space]``: ``[n_steps+1, C, ...]``."""
    with torch.no_grad():
        return rollout(model, torch.tensor(start, dtype=torch.float32)[None], n_steps)[0].numpy()
