"""`python -m engine bench all`: every registered benchmark in one run, with the machine it ran on."""

from __future__ import annotations

import argparse
import time
import traceback

from engine.errors import TwinLabError
from engine.registry import BENCHMARKS, benchmark


@benchmark("all")
def bench_all(args: argparse.Namespace) -> dict:
    """Run each benchmark in name order; a failing one is recorded with its error, not fatal."""
    from engine.backend import describe

    results, started = {}, time.perf_counter()
    for name in sorted(BENCHMARKS):
        if name == "all":
            continue
        begin = time.perf_counter()
        try:
            results[name] = BENCHMARKS[name](args)
        except TwinLabError as error:
            results[name] = {"error": str(error)}
        except Exception as error:  # a crashed benchmark is reported, and the others still run
            results[name] = {"error": f"{type(error).__name__}: {error}",
                             "traceback": traceback.format_exc(limit=3)}
        results[name]["wall_seconds"] = round(time.perf_counter() - begin, 2)
    return {"machine": describe(), "seed": args.seed, "total_seconds": round(time.perf_counter() - started, 2),
            "benchmarks": results}
