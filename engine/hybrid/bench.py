"""``python -m engine bench pde``: accuracy against exact solutions, parameter recovery, the partially
known physics task and solver speed, all measured in one run."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from engine.hybrid import exact, phiflow_reference
from engine.hybrid.experiment import PartialPhysicsConfig, run
from engine.hybrid.fit import single_threaded
from engine.hybrid.inference import fit_viscosity
from engine.hybrid.physical import Advection, Burgers, Heat
from engine.hybrid.spectral import Grid
from engine.registry import benchmark

NU_COLE_HOPF = 0.01 / math.pi


def burgers_error(nx: int, t_end: float = 1.0, nu: float = NU_COLE_HOPF) -> float:
    """Relative L2 error of the Burgers solver against Cole–Hopf for ``u0 = -sin(pi x)``."""
    grid = Grid((nx,))
    x = grid.axes()[0]
    with torch.no_grad():
        u = Burgers(grid, t_end, nu)(torch.tensor(-np.sin(np.pi * x))[None, None])[0, 0].numpy()
    ref = exact.burgers_cole_hopf(x, t_end, nu)
    return float(np.linalg.norm(u - ref) / np.linalg.norm(ref))


def heat_error(nx: int = 128, kappa: float = 0.1, t_end: float = 0.5) -> float:
    grid = Grid((nx,))
    x = grid.axes()[0]
    modes = {1: 1.0, 3: 0.5, 7: 0.25}
    with torch.no_grad():
        u = Heat(grid, t_end, kappa)(torch.tensor(exact.heat_modes(x, 0.0, kappa, modes))[None, None])[0, 0]
    ref = exact.heat_modes(x, t_end, kappa, modes)
    return float(np.linalg.norm(u.numpy() - ref) / np.linalg.norm(ref))


def advection_error(nx: int = 128, velocity: float = 1.0, t_end: float = 0.7) -> float:
    grid = Grid((nx,))
    x = grid.axes()[0]

    def u0(xx):
        return np.exp(np.sin(np.pi * xx))

    with torch.no_grad():
        u = Advection(grid, t_end, velocity)(torch.tensor(u0(x))[None, None])[0, 0].numpy()
    ref = exact.advection_shift(u0, x, t_end, velocity)
    return float(np.linalg.norm(u - ref) / np.linalg.norm(ref))


def viscosity_recovery(nu_true: float = 0.05 / math.pi, noise: float = 0.05, seed: int = 0) -> dict:
    """Fit nu to a noisy Cole–Hopf-resolution trajectory: data from the solver at nx = 1024, subsampled to
    256 points, 21 frames on t in [0, 1], Gaussian noise of ``noise`` x RMS(u); fit starts at 2.5 x nu."""
    fine = Grid((1024,))
    x = fine.axes()[0]
    model = Burgers(fine, 0.05, nu_true)
    with torch.no_grad():
        frames = [torch.tensor(-np.sin(np.pi * x))[None, None]]
        for _ in range(20):
            frames.append(model(frames[-1]))
    u = torch.cat(frames)[:, 0, ::4].numpy()
    rng = np.random.default_rng(seed)
    noisy = u + noise * np.sqrt(np.mean(u**2)) * rng.standard_normal(u.shape)
    start = time.perf_counter()
    result = fit_viscosity(x[::4], np.linspace(0, 1, 21), noisy, nu0=2.5 * nu_true)
    nu = result.values["nu"]
    return {"nu_true": nu_true, "nu_fit": nu, "rel_error": abs(nu - nu_true) / nu_true, "noise": noise,
            "iterations": result.iterations, "seconds": time.perf_counter() - start, "target_rel_error": 0.02,
            "met": abs(nu - nu_true) / nu_true <= 0.02}


@single_threaded
def steps_per_second(nx: int = 1024, repeats: int = 200) -> float:
    """Burgers solver steps per second (1-D, float64, batch 1, Courant number 0.5, one torch thread)."""
    grid = Grid((nx,))
    model = Burgers(grid, 1.0, NU_COLE_HOPF)
    u = torch.tensor(-np.sin(np.pi * grid.axes()[0]))[None, None]
    h = 0.5 * grid.dx
    with torch.no_grad():
        for _ in range(10):
            u = model.step(u, h)
        start = time.perf_counter()
        for _ in range(repeats):
            u = model.step(u, h)
    return repeats / (time.perf_counter() - start)


def phiflow_agreement(nx: int = 256, nu: float = NU_COLE_HOPF, t_end: float = 1.0) -> dict:
    """Ours and PhiFlow on the Cole–Hopf problem at equal nx and dt = 1/nx (PhiFlow's Courant number 0.5):
    each one's relative L2 error against the exact solution and their relative L2 difference."""
    x = Grid((nx,)).axes()[0]
    dt = 1.0 / nx
    n_steps = round(t_end / dt)
    theirs = phiflow_reference.solve(-np.sin(np.pi * x), nu, dt, n_steps)
    with torch.no_grad():
        ours = Burgers(Grid((nx,)), dt, nu)
        u = torch.tensor(-np.sin(np.pi * x))[None, None]
        for _ in range(n_steps):
            u = ours(u)
    u = u[0, 0].numpy()
    ref = exact.burgers_cole_hopf(x, n_steps * dt, nu)

    def rel(a, b):
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    return {"nx": nx, "nu": nu, "t_end": n_steps * dt, "dt": dt, "ours_rel_l2_vs_exact": rel(u, ref),
            "phiflow_rel_l2_vs_exact": rel(theirs, ref), "ours_vs_phiflow_rel_l2": rel(u, theirs)}


def solver_speed(nx: int = 1024) -> dict:
    """Our steps/s and, when PhiFlow is installed, PhiFlow's on the same problem, measured back to back."""
    ours = steps_per_second(nx)
    out = {"nx": nx, "ours_steps_per_s": ours, "ours": "pseudo-spectral Lawson RK4, torch float64, one thread",
           "dt": 0.5 * 2.0 / nx, "nu": NU_COLE_HOPF}
    if not phiflow_reference.available():
        return {**out, "phiflow": "skipped: PhiFlow is not installed (pip install -r requirements-dev.txt)"}
    theirs = phiflow_reference.steps_per_second(nx, NU_COLE_HOPF)
    return {**out, "phiflow": theirs, "speedup_ours_over_phiflow": ours / theirs["steps_per_s"]}


@benchmark("pde")
def bench_pde(args) -> dict:
    sizes = [256, 512, 1024, 2048]
    errors = [burgers_error(n) for n in sizes]
    orders = [math.log(errors[i] / errors[i + 1]) / math.log(sizes[i + 1] / sizes[i]) for i in range(len(sizes) - 1)]
    burgers = {"nx": sizes, "rel_l2": errors, "observed_order": orders,
               "target": {"512": 1e-2, "2048": 1e-3},
               "met": errors[1] <= 1e-2 and errors[3] <= 1e-3}
    config = PartialPhysicsConfig(seed=args.seed)
    start = time.perf_counter()
    partial = run(config)
    test = partial["test_nrmse"]
    best_single = min(test["physical"], test["neural"], test["neural_local"])
    return {
        "burgers_cole_hopf": burgers,
        "heat_rel_l2": heat_error(),
        "advection_rel_l2": advection_error(),
        "viscosity_recovery": viscosity_recovery(seed=args.seed),
        "partial_physics": {"test_nrmse": test, "ratio_hybrid_to_best_single": test["hybrid"] / best_single,
                            "target_ratio": 0.5, "met": test["hybrid"] <= 0.5 * best_single,
                            "selection": "coupling chosen on validation rollouts; test split scored once, after",
                            "val_nrmse": partial["val_nrmse"], "couplings_on_validation": partial["couplings"],
                            "chosen_coupling": partial["chosen_coupling"], "n_test": config.n_test,
                            "physical_nu": partial["physical_nu"], "hybrid_nu": partial["hybrid_nu"],
                            "true_nu": config.nu, "seconds": time.perf_counter() - start},
        "solver_speed": solver_speed(),
        "phiflow_agreement": phiflow_agreement() if phiflow_reference.available()
        else "skipped: PhiFlow is not installed (pip install -r requirements-dev.txt)",
    }
