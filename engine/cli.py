"""`python -m engine`: every headless job of Twin Lab.

Top-level commands: ``info``, ``bench NAME``, ``train NAME``, plus one command group per twin.
A twin plugs in through a module listed in ``TWIN_CLIS`` that defines ``register(subparsers)`` and may
add entries to :data:`engine.registry.BENCHMARKS` and :data:`engine.registry.TRAINERS`.
User errors (:class:`engine.errors.TwinLabError`) print one clear line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

import engine.benchmarks  # noqa: F401  (registers `bench all`)
import engine.scaleout_bench  # noqa: F401  (registers `bench scaleout`)
import engine.ui_bench  # noqa: F401  (registers `bench ui`)
from engine.errors import InputError, TwinLabError
from engine.registry import BENCHMARKS, TRAINERS

MAX_SEED = 2**32 - 1  # numpy's Generator accepts seeds in [0, 2^32) as plain integers

TWIN_CLIS: list[str] = [
    "engine.runs.cli",
    "engine.synthesis.cli",
    "engine.astrochem.cli",
    "engine.diffusion.cli",
    "engine.hybrid.cli",
    "engine.audit",
]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one ``error: ...`` line (exit 2), like every other user error."""

    def error(self, message: str):
        raise InputError(f"{message} (see `{self.prog} --help`).")


def _info(args: argparse.Namespace) -> dict:
    from engine.backend import describe

    return describe()


def _run_registered(table: dict, kind: str):
    def run(args: argparse.Namespace):
        if args.name not in table:
            choices = ", ".join(sorted(table)) or "none yet"
            raise TwinLabError(f"unknown {kind} {args.name!r}; available: {choices}.")
        return table[args.name](args)

    return run


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every twin's commands registered."""
    parser = _Parser(prog="python -m engine", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    info = sub.add_parser("info", help="versions, array backend and device as JSON")
    info.set_defaults(func=_info, as_json=True)

    for kind, table in (("bench", BENCHMARKS), ("train", TRAINERS)):
        cmd = sub.add_parser(kind, help=f"run a registered {kind} job ({kind} NAME)")
        cmd.add_argument("name", help=f"which {kind} job to run")
        cmd.add_argument("--json", dest="as_json", action="store_true", help="print the result as JSON")
        cmd.add_argument("--out", help="also write the JSON result to this file")
        cmd.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        cmd.add_argument("--data", help="input data file, for jobs that need one (e.g. train astro)")
        cmd.add_argument("--tune", action="store_true", help="hyper-parameter search first (train synth: Optuna)")
        cmd.set_defaults(func=_run_registered(table, kind))

    for module in TWIN_CLIS:
        importlib.import_module(module).register(sub)
    return parser


def _emit(result, args: argparse.Namespace) -> None:
    if result is None:
        return
    text = json.dumps(result, indent=2, default=float)
    if getattr(args, "out", None) and getattr(args, "command", "") in ("bench", "train"):
        try:
            with open(args.out, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except OSError as error:
            raise InputError(f"--out {args.out!r} cannot be written ({error.strerror}).") from None
    if getattr(args, "as_json", False) or not isinstance(result, str):
        print(text)
    else:
        print(result)


def _check_common(args: argparse.Namespace) -> None:
    """Checks shared by every command, done before any work starts."""
    seed = getattr(args, "seed", None)
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise InputError(f"--seed = {seed} must be an integer in [0, {MAX_SEED}].")
    out = getattr(args, "out", None)
    if out and getattr(args, "command", "") in ("bench", "train") and os.path.isdir(out):
        raise InputError(f"--out {out!r} is a folder; give a .json file path.")


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the process exit status."""
    try:
        args = build_parser().parse_args(argv)
        _check_common(args)
        _emit(args.func(args), args)
    except TwinLabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
