"""Hybrid PDE twin: spectral operators, solvers against exact solutions, conservation, stability, fitting."""

import math

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.hybrid import exact
from engine.hybrid import spectral as sp
from engine.hybrid.fit import denoise_first_frame
from engine.hybrid.inference import SimulationConfig, fit_viscosity, simulate
from engine.hybrid.physical import Advection, Burgers, Equation, Heat, Smoke, rollout
from engine.hybrid.spectral import Grid


def _t(a):
    return torch.tensor(a)[None, None]


def test_spectral_gradient_of_sine_is_exact():
    grid = Grid((32,))
    x = grid.axes()[0]
    (du,) = sp.gradient(torch.tensor(np.sin(3 * np.pi * x)), grid)
    assert np.allclose(du.numpy(), 3 * np.pi * np.cos(3 * np.pi * x), atol=1e-11)


def test_projection_is_divergence_free_and_idempotent():
    grid = Grid((16, 24))
    vel = torch.tensor(np.random.default_rng(0).standard_normal((2, 16, 24)))
    once = sp.project(vel, grid)
    assert float(sp.divergence(once, grid).abs().max()) < 1e-10
    assert torch.allclose(sp.project(once, grid), once, atol=1e-12)
    assert float(sp.divergence(vel, grid).abs().max()) > 1.0  # the input was not divergence-free


def test_sample_periodic_wraps_and_interpolates():
    field = torch.arange(12.0).reshape(3, 4)
    ys, xs = torch.full((3, 4), 2.0), torch.full((3, 4), 3.5)  # halfway between column 3 and (wrapped) 0
    assert torch.allclose(sp.sample_periodic(field, ys, xs), torch.full((3, 4), (11.0 + 8.0) / 2))


def test_cole_hopf_reference_matches_independent_quadrature():
    nu, t = 0.01 / math.pi, 1.0
    x = np.linspace(-1, 1, 200, endpoint=False)
    z = np.linspace(-12, 12, 20001)
    y = x[:, None] - np.sqrt(4 * nu * t) * z[None]
    log_f = -np.cos(np.pi * y) / (2 * np.pi * nu)
    w = np.exp(-(z**2)) * np.exp(log_f - log_f.max(axis=1, keepdims=True))
    trapezoid = -(np.sin(np.pi * y) * w).sum(axis=1) / w.sum(axis=1)
    assert np.abs(exact.burgers_cole_hopf(x, t, nu) - trapezoid).max() < 1e-9


def test_burgers_matches_cole_hopf_at_small_scale():
    nu, grid = 0.01 / math.pi, Grid((256,))
    x = grid.axes()[0]
    with torch.no_grad():
        u = Burgers(grid, 1.0, nu)(_t(-np.sin(np.pi * x)))[0, 0].numpy()
    ref = exact.burgers_cole_hopf(x, 1.0, nu)
    assert np.linalg.norm(u - ref) / np.linalg.norm(ref) < 5e-3


def test_heat_fourier_modes_decay_exactly():
    grid, kappa, modes = Grid((32,)), 0.2, {1: 1.0, 2: -0.3, 5: 0.1}
    x = grid.axes()[0]
    with torch.no_grad():
        u = Heat(grid, 0.3, kappa)(_t(exact.heat_modes(x, 0.0, kappa, modes)))[0, 0].numpy()
    assert np.abs(u - exact.heat_modes(x, 0.3, kappa, modes)).max() < 1e-12


def test_advection_is_an_exact_periodic_shift():
    grid = Grid((64,))
    x = grid.axes()[0]

    def u0(xx):
        return np.exp(np.sin(np.pi * xx))

    with torch.no_grad():
        u = rollout(Advection(grid, 0.35, -1.3), _t(u0(x)), 3)[0, -1, 0].numpy()
    assert np.abs(u - exact.advection_shift(u0, x, 3 * 0.35, -1.3)).max() < 1e-11


@pytest.mark.parametrize("model", [Burgers(Grid((64,)), 0.1, 0.02), Heat(Grid((64,)), 0.1, 0.1),
                                   Advection(Grid((64,)), 0.1, 0.7)])
def test_mean_is_conserved(model):
    u0 = _t(np.cos(np.pi * Grid((64,)).axes()[0]) + 0.3)
    with torch.no_grad():
        traj = rollout(model, u0, 5)
    assert torch.allclose(traj.mean(dim=-1), u0.mean(dim=-1).unsqueeze(1), atol=1e-12)


def test_smoke_keeps_velocity_divergence_free_and_rises():
    grid = Grid((32, 32))
    smoke = Smoke(grid, 0.1, buoyancy=2.0)
    with torch.no_grad():
        traj = rollout(smoke, torch.zeros(1, 3, 32, 32, dtype=torch.float64), 6)
    last = traj[0, -1]
    assert float(sp.divergence(last[1:], grid).abs().max()) < 1e-9
    assert float(last[0].sum()) > 0 and float((last[2] * last[0]).sum()) > 0  # smoke exists and moves up


def test_burgers_2d_runs_and_stays_bounded():
    grid = Grid((16, 16))
    y, x = np.meshgrid(*grid.axes(), indexing="ij")
    u0 = torch.tensor(np.stack([-np.sin(np.pi * x), -np.sin(np.pi * y)]))[None]
    with torch.no_grad():
        out = Burgers(grid, 0.2, 0.05)(u0)
    assert out.shape == u0.shape and float(out.abs().max()) <= 1.0 + 1e-6


def test_explicit_step_beyond_cfl_limit_raises_with_a_clear_message():
    grid = Grid((64,))
    model = Burgers(grid, 0.1, 0.01)
    u = _t(-np.sin(np.pi * grid.axes()[0]))
    with pytest.raises(InputError, match="CFL number"):
        model.step(u, 2 * grid.dx)
    assert sp.substeps(1.0, 0.1, grid.dx) == math.ceil(0.1 / grid.dx / 0.5)
    model.step(u, 0.5 * grid.dx)  # within the limit: no error


@pytest.mark.parametrize("kwargs,field", [({"nx": 4}, "nx"), ({"n_out": 1}, "n_out"), ({"nu": -1.0}, "nu"),
                                          ({"equation": Equation.SMOKE}, "ny"), ({"t_end": float("nan")}, "t_end")])
def test_bad_simulation_requests_name_the_field(kwargs, field):
    with pytest.raises(InputError, match=field):
        SimulationConfig(**kwargs)


def test_simulate_returns_documented_arrays():
    out = simulate(SimulationConfig(nx=32, ny=16, equation=Equation.HEAT, nu=0.05, n_out=3))
    assert out["x"].shape == (32,) and out["y"].shape == (16,) and out["t"].shape == (3,)
    assert out["u"].shape == (3, 16, 32)
    sine = simulate(SimulationConfig(nx=32, n_out=2, t_end=0.1))
    assert np.allclose(sine["u"][0], -np.sin(np.pi * sine["x"]))


def test_denoise_first_frame_removes_white_noise():
    x = Grid((128,)).axes()[0]
    clean = -np.sin(np.pi * x) + 0.3 * np.cos(3 * np.pi * x)
    noisy = clean + 0.05 * np.random.default_rng(1).standard_normal(128)
    assert np.abs(denoise_first_frame(noisy) - clean).std() < 0.3 * np.abs(noisy - clean).std()


def test_viscosity_is_recovered_from_noisy_data():
    nu_true, grid = 0.05, Grid((64,))
    x = grid.axes()[0]
    with torch.no_grad():
        traj = rollout(Burgers(grid, 0.1, nu_true), _t(-np.sin(np.pi * x)), 10)[0, :, 0].numpy()
    noisy = traj + 0.05 * np.sqrt(np.mean(traj**2)) * np.random.default_rng(0).standard_normal(traj.shape)
    result = fit_viscosity(x, np.arange(11) * 0.1, noisy, nu0=0.12)
    assert abs(result.values["nu"] - nu_true) / nu_true < 0.02
    assert result.history[-1] < result.history[0]


def test_fit_rejects_bad_inputs():
    with pytest.raises(InputError, match="uniform"):
        fit_viscosity(np.linspace(-1, 1, 8, endpoint=False), np.array([0, 0.1, 0.3]), np.zeros((3, 8)))
    with pytest.raises(InputError, match=r"u must be \[K, nx\]"):
        fit_viscosity(np.linspace(-1, 1, 8, endpoint=False), np.array([0, 0.1]), np.zeros((3, 8)))
