"""``python -m engine pde simulate|fit|hybrid|data`` (and, via the registry, ``bench pde`` and ``train pde``)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.execution import add_execution_arguments, spec_from_args, text_progress
from engine.hybrid import bench, pretrained  # noqa: F401  (register "bench pde" and "train pde")
from engine.hybrid.data import DataSpec, InitKind, generate_to_folder
from engine.hybrid.hybrid import HybridMode
from engine.hybrid.inference import SimulationConfig, add_noise, fit_viscosity, simulate
from engine.hybrid.physical import Equation


def _simulate(args: argparse.Namespace) -> dict:
    config = SimulationConfig(equation=Equation(args.equation), nx=args.nx, ny=args.ny, nu=args.nu,
                              velocity=args.velocity, buoyancy=args.buoyancy, t_end=args.t_end, n_out=args.n_out,
                              init=InitKind(args.init), seed=args.seed)
    arrays = add_noise(simulate(config), args.noise, args.seed) if args.noise else simulate(config)
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


def _hybrid(args: argparse.Namespace) -> dict:
    from engine.hybrid.experiment import quick_config, train_hybrid_only

    losses: list[float] = []
    config = quick_config(HybridMode(args.mode), args.cycles, args.epochs, args.seed)
    _, records = train_hybrid_only(config, on_epoch=lambda epoch, loss, score: losses.append(loss))
    return {"mode": args.mode, "cycles": records, "train_loss": losses}


def _data(args: argparse.Namespace) -> dict:
    spec = DataSpec(nx=args.nx, nu=args.nu, reaction=args.reaction, dt=args.dt, n_steps=args.n_steps, seed=args.seed)
    result = generate_to_folder(spec, args.n, args.out, chunk_size=args.chunk_size, execution=spec_from_args(args),
                                progress=None if args.no_progress else text_progress("chunks"),
                                on_client=lambda link: link and print(f"Dask dashboard: {link}", file=sys.stderr))
    return {"out": str(result.out_dir), "n": args.n, "chunks": result.n_chunks, "computed_chunks": result.computed,
            "resumed_chunks": result.resumed, "seconds": round(result.seconds, 3), "dashboard": result.dashboard}


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
    sim.add_argument("--seed", type=int, default=0, help="seed of random initial conditions and of --noise")
    sim.add_argument("--noise", type=float, default=0.0,
                     help="add Gaussian noise of this fraction of each field's RMS (0 to 1; default 0)")
    sim.add_argument("--out", required=True, help="output .npz path")
    sim.set_defaults(func=_simulate, as_json=True)

    fit = sub.add_parser("fit", help="fit Burgers' viscosity to a 1-D trajectory (.npz with x, t, u)")
    fit.add_argument("--equation", choices=["burgers"], default="burgers")
    fit.add_argument("--data", required=True, help=".npz with x [nx], t [K], u [K, nx]")
    fit.add_argument("--nu0", type=float, default=0.01, help="initial viscosity (warm start)")
    fit.add_argument("--max-iter", type=int, default=30, help="L-BFGS-B iterations, 1..1000")
    fit.add_argument("--json", dest="as_json", action="store_true", help="print JSON (always JSON)")
    fit.set_defaults(func=_fit, as_json=True)

    hyb = sub.add_parser("hybrid", help="train the partially-known-physics hybrid briefly (the page's live run)")
    hyb.add_argument("--mode", choices=[str(m) for m in HybridMode], default="augment", help="coupling")
    hyb.add_argument("--cycles", type=int, default=2, help="alternating cycles (1-100)")
    hyb.add_argument("--epochs", type=int, default=15, help="epochs per synthetic phase")
    hyb.add_argument("--seed", type=int, default=0)
    hyb.add_argument("--json", dest="as_json", action="store_true", help="print JSON (always JSON)")
    hyb.set_defaults(func=_hybrid, as_json=True)

    data = sub.add_parser("data", help="generate Burgers(+reaction) trajectories from random initial conditions "
                                       "into a folder of NPZ chunks (resumable; local cores or Dask)")
    data.add_argument("--n", type=int, required=True, help="number of trajectories")
    data.add_argument("--seed", type=int, default=0, help="job seed (each chunk's seed derives from it)")
    data.add_argument("--out", required=True, help="output folder (rerun the same command to resume)")
    data.add_argument("--nx", type=int, default=64, help="grid points on x in [-1, 1)")
    data.add_argument("--nu", type=float, default=0.01, help="viscosity")
    data.add_argument("--reaction", type=float, default=0.0, help="reaction rate r of r u (1 - u^2)")
    data.add_argument("--dt", type=float, default=0.05, help="time between stored frames")
    data.add_argument("--n-steps", type=int, default=20, help="stored steps after t = 0")
    data.add_argument("--chunk-size", type=int, default=16, help="trajectories per chunk file")
    add_execution_arguments(data)
    data.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    data.set_defaults(func=_data, as_json=True)
