"""`python -m engine synth ...`: simulate one recipe, sweep a grid, build a training set (+ the benchmark).

The solver modules are imported inside the handlers, so building the parser stays light and never touches
the compiled kernels (or the backend) for unrelated commands.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.execution import add_execution_arguments
from engine.synthesis import bench, ml_bench, train  # noqa: F401  (registers `bench synth|synth-ml`, `train synth`)
from engine.synthesis.schemas import FIELD_SPECS, NUMERIC_FIELDS, SOLVENT_NAMES, recipe_from_mapping


def _add_recipe_flags(parser: argparse.ArgumentParser) -> None:
    for name in NUMERIC_FIELDS:
        spec = FIELD_SPECS[name]
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=float, default=None,
                            help=f"{spec.help} [{spec.low:g}-{spec.high:g} {spec.unit}]")
    parser.add_argument("--solvent", default=None, help=f"one of {', '.join(SOLVENT_NAMES)}")


def _recipe(args: argparse.Namespace):
    given = {name: getattr(args, name) for name in NUMERIC_FIELDS + ("solvent",) if getattr(args, name) is not None}
    return recipe_from_mapping(given)


def _simulate(args: argparse.Namespace) -> dict:
    from engine.synthesis.simulation import simulate

    result = simulate(_recipe(args))
    result.pop("recipe")
    return result


def _sweep(args: argparse.Namespace) -> dict:
    from engine.execution import spec_from_args, text_progress
    from engine.synthesis.sweeps import parse_axis, sweep, sweep_to_folder, write_table

    axes = [parse_axis(text) for text in args.vary]
    start = time.perf_counter()
    if not Path(args.out).suffix or Path(args.out).is_dir():
        result = sweep_to_folder(axes, args.out, base=_recipe(args), spec=spec_from_args(args),
                                 progress=text_progress("chunks"),
                                 on_client=lambda link: link and print(f"Dask dashboard: {link}", file=sys.stderr))
        return {"out": args.out, "rows": int(np.prod([axis.count for axis in axes])), "chunks": result.n_chunks,
                "computed_chunks": result.computed, "resumed_chunks": result.resumed,
                "seconds": round(time.perf_counter() - start, 3)}
    if args.dask or args.scheduler or args.workers is not None:
        raise InputError("--workers/--dask/--scheduler need --out to be a folder (chunked sweep), not a file.")
    frame = sweep(axes, base=_recipe(args))
    write_table(frame, args.out)
    return {"out": args.out, "rows": len(frame), "seconds": round(time.perf_counter() - start, 3),
            "phase_counts": {k: int(v) for k, v in frame["phase"].value_counts().items()}}


def _dataset(args: argparse.Namespace) -> dict:
    from engine.execution import spec_from_args, text_progress
    from engine.synthesis.dataset import build_dataset, write_dataset

    frame, manifest = build_dataset(args.n, args.seed, spec=spec_from_args(args), progress=text_progress("chunks"))
    return write_dataset(frame, manifest, args.out)


def _design(args: argparse.Namespace) -> dict:
    from engine.errors import InputError
    from engine.synthesis.design import DesignTarget, design, parse_fix
    from engine.synthesis.inference import load_surrogates

    target = DesignTarget(args.target_pl_nm, args.phase, args.max_fwhm_nm, args.tolerance_nm, parse_fix(args.fix))
    surrogates = load_surrogates(kinds=(args.model,))
    if args.model not in surrogates.models:
        raise InputError(f"surrogate {args.model!r} cannot be loaded: {surrogates.errors.get(args.model)}")
    return design(surrogates.models[args.model], target, top=args.top, seed=args.seed)


def register(subparsers) -> None:
    group = subparsers.add_parser("synth", help="perovskite synthesis twin: simulate, sweep, dataset")
    sub = group.add_subparsers(dest="synth_command", required=True, metavar="SUBCOMMAND")

    one = sub.add_parser("simulate", help="simulate one recipe (unset flags take the Protesescu 2015 defaults)")
    _add_recipe_flags(one)
    one.add_argument("--json", dest="as_json", action="store_true", help="print JSON (the default output)")
    one.set_defaults(func=_simulate)

    grid = sub.add_parser("sweep", help="simulate a grid of recipes (1-2 fields to a table, 1-3 to a folder)")
    grid.add_argument("--vary", action="append", required=True, metavar="NAME=START:STOP:N",
                      help="a swept field (give up to twice for a table file, three times for a folder)")
    grid.add_argument("--out", required=True,
                      help="a .csv or .parquet table, or a folder: Parquet chunks + manifest.json, resumable")
    _add_recipe_flags(grid)
    add_execution_arguments(grid)
    grid.set_defaults(func=_sweep, as_json=True)

    data = sub.add_parser("dataset", help="stratified quasi-random training set (Parquet + manifest)")
    data.add_argument("--n", type=int, required=True, help="rows")
    data.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    data.add_argument("--out", required=True, help="output .parquet (manifest written next to it)")
    add_execution_arguments(data)
    data.set_defaults(func=_dataset, as_json=True)

    inv = sub.add_parser("design", help="inverse design: recipes hitting a PL target, verified by the physics")
    inv.add_argument("--target-pl-nm", type=float, required=True, help="target PL peak [400-530 nm]")
    inv.add_argument("--phase", default="cube", help="cube (default) or platelet")
    inv.add_argument("--max-fwhm-nm", type=float, default=None, help="optional FWHM cap (nm)")
    inv.add_argument("--tolerance-nm", type=float, default=2.0, help="accepted |PL error| (nm, default 2)")
    inv.add_argument("--fix", action="append", default=[], metavar="FIELD=VALUE", help="pin a recipe field")
    inv.add_argument("--model", default="deep_ensemble", choices=("deep_ensemble", "mc_dropout", "laplace"),
                     help="surrogate used for the search (default deep_ensemble)")
    inv.add_argument("--top", type=int, default=5, help="recipes returned, 1..100 (default 5)")
    inv.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    inv.add_argument("--json", dest="as_json", action="store_true", help="print JSON (the default output)")
    inv.set_defaults(func=_design)
