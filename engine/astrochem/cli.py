"""`python -m engine astro ...`: solve or emulate one cloud, build a dataset; registers the ``astro-solver``
and ``astro`` (emulator) benchmarks and the ``astro`` trainer.

The solver and torch stacks are imported inside the handlers so other commands start fast.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import engine.astrochem.bench  # noqa: F401  (registers the astro-solver benchmark)
from engine.astrochem.physics import ELEMENT_SETS, PARAM_SPECS, PhysicalParams, element_set
from engine.errors import InputError
from engine.execution import add_execution_arguments, spec_from_args, text_progress
from engine.registry import trainer

FLAGS = {"density": "--density", "temperature": "--temperature", "g0": "--g0", "av": "--av", "zeta": "--zeta"}


def _solve(args: argparse.Namespace) -> dict:
    from engine.astrochem.output import write_run_hdf5
    from engine.astrochem.solver import solve

    params = PhysicalParams(**{name: getattr(args, name) for name in FLAGS})
    trajectory = solve(params, t_end_yr=args.t_end_yr, n_out=args.n_out, elements=element_set(args.elements))
    if args.out:
        write_run_hdf5(trajectory, args.out)
    result = {"out": args.out, "params": params.as_dict(), "elements": args.elements,
              "wall_time_s": trajectory.wall_time_s, "n_steps": trajectory.n_steps,
              "conservation_error": trajectory.conservation_error, "solver_stats": trajectory.stats}
    if args.as_json:
        result["t_end_yr"] = float(trajectory.times_yr[-1])
        result["final_abundances"] = trajectory.final()
    return result


def _dataset(args: argparse.Namespace) -> dict:
    from engine.astrochem.data import generate_dataset

    spec = spec_from_args(args)
    bar = None if args.no_progress else text_progress("trajectories")
    return generate_dataset(args.out, n=args.n, seed=args.seed, spec=spec, t_end_yr=args.t_end_yr,
                            n_out=args.n_out, progress=bar,
                            on_cluster=lambda link: link and print(f"Dask dashboard: {link}", file=sys.stderr))


def _emulate(args: argparse.Namespace) -> dict:
    from engine.astrochem.inference import Emulator
    from engine.astrochem.output import write_run_hdf5
    from engine.astrochem.physics import initial_abundances, time_grid_yr
    from engine.astrochem.solver import Trajectory, conservation_error

    params = PhysicalParams(**{name: getattr(args, name) for name in FLAGS})
    emulator = Emulator.pretrained()
    times = time_grid_yr(args.t_end_yr, args.n_out)
    start = time.perf_counter()
    abundances = emulator.emulate(params.as_array(), times_yr=times)[0].astype(np.float64)
    wall = time.perf_counter() - start
    drift = conservation_error(emulator.network, abundances, initial_abundances(emulator.network))
    trajectory = Trajectory(params, times, emulator.network.species, abundances, wall, len(emulator.times_yr),
                            drift, stats={"emulator": emulator.cards["emulator"]["sha256"]})
    if args.out:
        write_run_hdf5(trajectory, args.out)
    result = {"out": args.out, "params": params.as_dict(), "wall_time_s": wall, "conservation_error": drift,
              "emulator_sha256": emulator.cards["emulator"]["sha256"],
              "training_grid_yr": [float(emulator.times_yr[0]), float(emulator.times_yr[-1]), len(emulator.times_yr)]}
    if args.as_json:
        result["final_abundances"] = trajectory.final()
    return result


@trainer("astro")
def train_astro(args: argparse.Namespace) -> dict:
    """Reproduce models/astrochem/ from an `astro dataset` file (--data)."""
    from engine.astrochem.train import train

    if not getattr(args, "data", None):
        raise InputError("train astro needs --data FILE, an `python -m engine astro dataset` output "
                         "(the shipped models used: astro dataset --n 1000 --seed 1 --out FILE)")
    return train(args.data, seed=args.seed, verbose=True)


def _add_param_flags(command) -> None:
    defaults = PhysicalParams()
    for name, flag in FLAGS.items():
        spec = PARAM_SPECS[name]
        command.add_argument(flag, dest=name, type=float, default=getattr(defaults, name),
                             help=f"{spec.label} [{spec.unit}], {spec.low:g}..{spec.high:g} "
                                  f"(default {getattr(defaults, name):g})")


def register(subparsers) -> None:
    astro = subparsers.add_parser("astro", help="astrochemistry twin: gas-phase network solver and datasets")
    sub = astro.add_subparsers(dest="astro_command", required=True, metavar="ASTRO_COMMAND")

    solve_cmd = sub.add_parser("solve", help="integrate one cloud model and write it to HDF5")
    _add_param_flags(solve_cmd)
    solve_cmd.add_argument("--elements", default="dense", choices=list(ELEMENT_SETS),
                           help="elemental abundance set (default dense: UCLCHEM; low-metal: S, Mg depleted)")
    solve_cmd.add_argument("--t-end-yr", type=float, default=1e6, help="end time [yr] (default 1e6)")
    solve_cmd.add_argument("--n-out", type=int, default=64, help="log-spaced output times from 1 yr (default 64)")
    solve_cmd.add_argument("--out", help="HDF5 file to write (times_yr, species, abundances)")
    solve_cmd.add_argument("--json", dest="as_json", action="store_true",
                           help="also print the final abundances and wall time as JSON")
    solve_cmd.set_defaults(func=_solve)

    emulate_cmd = sub.add_parser("emulate", help="emulate one cloud with the pretrained model (same HDF5 as solve)")
    _add_param_flags(emulate_cmd)
    emulate_cmd.add_argument("--t-end-yr", type=float, default=1e6,
                             help="end time [yr], at most the training grid's end (1e6; default 1e6)")
    emulate_cmd.add_argument("--n-out", type=int, default=64,
                             help="log-spaced output times from 1 yr (default 64 = the training grid; other "
                                  "counts are interpolated in log time between the trained steps)")
    emulate_cmd.add_argument("--out", help="HDF5 file to write (times_yr, species, abundances)")
    emulate_cmd.add_argument("--json", dest="as_json", action="store_true", help="also print the final abundances")
    emulate_cmd.set_defaults(func=_emulate)

    data_cmd = sub.add_parser("dataset", help="solve a Latin hypercube of clouds into one resumable HDF5 file")
    data_cmd.add_argument("--n", type=int, required=True, help="number of trajectories")
    data_cmd.add_argument("--seed", type=int, default=0, help="Latin hypercube seed (default 0)")
    add_execution_arguments(data_cmd)
    data_cmd.add_argument("--out", required=True, help="HDF5 file (rerun the same command to resume)")
    data_cmd.add_argument("--t-end-yr", type=float, default=1e6, help="end time [yr] (default 1e6)")
    data_cmd.add_argument("--n-out", type=int, default=64, help="output times per trajectory (default 64)")
    data_cmd.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    data_cmd.set_defaults(func=_dataset, as_json=True)
