"""``python -m engine pde simulate|fit`` (and, via the registry, ``bench pde`` and ``train pde``)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.hybrid import bench, pretrained  # noqa: F401  (register "bench pde" and "train pde")
from engine.hybrid.data import InitKind
from engine.hybrid.inference import SimulationConfig, fit_viscosity, simulate
from engine.hybrid.physical import Equation


def _simulate(args: argparse.Namespace) -> dict:
    config = SimulationConfig(equation=Equation(args.equation), nx=args.nx, ny=args.ny, nu=args.nu,
                              velocity=args.velocity, buoyancy=args.buoyancy, t_end=args.t_end, n_out=args.n_out,
                              init=InitKind(args.init), seed=args.seed)
    arrays = simulate(config)
    out = Path(args.out)
    if not out.parent.exists():
        raise InputError(f"--out: directory {out.parent} does not exist.")
    np.savez_compressed(out, **arrays)
    return {"out": str(out), "arrays": {name: list(a.shape) for name, a in arrays.items()}}


def _fit(args: argparse.Namespace) -> dict:
    from engine.hybrid.data import read_trajectory_npz

    arrays = read_trajectory_npz(args.data)
    result = fit_viscosity(arrays["x"], arrays["t"], arrays["u"], nu0=args.nu0, max_iter=args.max_iter)
    return {"nu": result.values["nu"], "loss": result.loss, "iterations": result.iterations}


def register(subparsers) -> None:
    pde = subparsers.add_parser("pde", help="hybrid PDE twin: simulate equations, fit parameters")
    sub = pde.add_subparsers(dest="pde_command", required=True, metavar="SUBCOMMAND")

    sim = sub.add_parser("simulate", help="run a physical solver and save x, (y,) t and fields to .npz")
    sim.add_argument("--equation", choices=[str(e) for e in Equation], default="burgers")
    sim.add_argument("--nx", type=int, default=256, help="grid points along x (domain [-1, 1))")
    sim.add_argument("--ny", type=int, default=None, help="grid points along y: makes the problem 2-D")
    sim.add_argument("--nu", type=float, default=0.01 / math.pi, help="viscosity / diffusivity")
    sim.add_argument("--velocity", type=float, default=1.0, help="advection speed, -10..10")
    sim.add_argument("--buoyancy", type=float, default=1.0, help="smoke buoyancy, -10..10")
    sim.add_argument("--t-end", type=float, default=1.0, help="final time")
    sim.add_argument("--n-out", type=int, default=51, help="number of output frames, t = 0 .. t-end")
    sim.add_argument("--init", choices=[str(k) for k in InitKind], default="sine")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--out", required=True, help="output .npz path")
    sim.set_defaults(func=_simulate, as_json=True)

    fit = sub.add_parser("fit", help="fit Burgers' viscosity to a 1-D trajectory (.npz with x, t, u)")
    fit.add_argument("--equation", choices=["burgers"], default="burgers")
    fit.add_argument("--data", required=True, help=".npz with x [nx], t [K], u [K, nx]")
    fit.add_argument("--nu0", type=float, default=0.01, help="initial viscosity (warm start)")
    fit.add_argument("--max-iter", type=int, default=30, help="L-BFGS-B iterations, 1..1000")
    fit.add_argument("--json", dest="as_json", action="store_true", help="print JSON (always JSON)")
    fit.set_defaults(func=_fit, as_json=True)
