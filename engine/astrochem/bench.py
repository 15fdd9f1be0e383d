"""``python -m engine bench astro-solver``: solver speed, conservation and accuracy, measured in one run."""

from __future__ import annotations

import itertools
import time

import numpy as np

from engine.astrochem.physics import PhysicalParams
from engine.registry import benchmark

REFERENCE_TOLERANCES = {"rtol": 1e-9, "atol": 1e-25}


def accuracy_vs_reference(params: PhysicalParams, t_end_yr: float = 1e6) -> dict:
    """Deviation of the default-tolerance run from a tight-tolerance one (species above 1e-12 of n_H)."""
    from engine.astrochem.solver import SolverConfig, solve

    default = solve(params, t_end_yr=t_end_yr, n_out=32)
    reference = solve(params, t_end_yr=t_end_yr, n_out=32,
                      config=SolverConfig(**REFERENCE_TOLERANCES, max_steps=100_000))
    mask = reference.abundances > 1e-12
    ratio = np.abs(default.abundances[mask] / reference.abundances[mask] - 1.0)
    return {"max_rel_dev_above_1e-12": float(ratio.max()), "median_rel_dev_above_1e-12": float(np.median(ratio)),
            "reference": REFERENCE_TOLERANCES}


def box_corners() -> dict:
    """Solve all 32 corners of the dataset box to 1 Myr: failures, worst drift, CPU seconds."""
    from engine.astrochem.physics import PARAM_NAMES, VALID_BOX
    from engine.astrochem.solver import SolverError, solve

    failures, drifts, cpu = [], [], []
    for corner in itertools.product(*(VALID_BOX[name] for name in PARAM_NAMES)):
        start = time.process_time()
        try:
            drifts.append(solve(PhysicalParams(*corner), t_end_yr=1e6, n_out=16).conservation_error)
        except SolverError as error:
            failures.append(str(error))
        cpu.append(time.process_time() - start)
    return {"n": len(cpu), "failures": failures, "worst_conservation_error": float(max(drifts, default=np.nan)),
            "cpu_seconds_median": float(np.median(cpu)), "cpu_seconds_max": float(np.max(cpu))}


@benchmark("astro-solver")
def bench_astro_solver(args) -> dict:
    """Seconds per 1-Myr trajectory (median over the dark-cloud default + 4 Latin-hypercube sets).

    Wall time and process CPU time are both reported: on a shared machine the CPU time is the steadier one.
    """
    from engine.astrochem.data import sample_parameters
    from engine.astrochem.network import load_network
    from engine.astrochem.solver import SolverConfig, solve

    load_network()
    solve(PhysicalParams(), t_end_yr=10.0, n_out=2)  # warm caches (network parse, index arrays)
    sets = [PhysicalParams()] + [PhysicalParams.from_array(row) for row in sample_parameters(4, args.seed)]
    runs = []
    for params in sets:
        start, cpu_start = time.perf_counter(), time.process_time()
        trajectory = solve(params, t_end_yr=1e6, n_out=64)
        runs.append({"params": params.as_dict(), "seconds": time.perf_counter() - start,
                     "cpu_seconds": time.process_time() - cpu_start,
                     "n_steps": trajectory.n_steps, "conservation_error": trajectory.conservation_error})
    seconds = [run["seconds"] for run in runs]
    config = SolverConfig()
    return {"benchmark": "astro-solver", "t_end_yr": 1e6, "n_out": 64,
            "solver": "scipy BDF, analytic sparse Jacobian, degree-ordered SuperLU",
            "tolerances": {"rtol": config.rtol, "atol": config.atol},
            "seconds_per_trajectory_median": float(np.median(seconds)), "seconds_max": float(np.max(seconds)),
            "cpu_seconds_per_trajectory_median": float(np.median([run["cpu_seconds"] for run in runs])),
            "worst_conservation_error": float(max(run["conservation_error"] for run in runs)),
            "accuracy_dark_cloud": accuracy_vs_reference(PhysicalParams()), "box_corners": box_corners(),
            "runs": runs}
