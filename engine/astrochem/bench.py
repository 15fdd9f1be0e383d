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


def _dex_errors(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """|log10 predicted - log10 truth| at the points where the solver gives more than 1e-12 of n_H."""
    from engine.astrochem.processing import log_abundances

    mask = truth > 1e-12
    return np.abs(log_abundances(predicted) - log_abundances(truth))[mask]


def _timed(func) -> tuple[float, float]:
    """Wall seconds and process CPU seconds of one call."""
    start, cpu_start = time.perf_counter(), time.process_time()
    func()
    return time.perf_counter() - start, time.process_time() - cpu_start


def _best_seconds(func, repeats: int) -> tuple[float, float]:
    """Best wall seconds and best process CPU seconds of ``repeats`` calls."""
    times = np.array([_timed(func) for _ in range(repeats)])
    return float(times[:, 0].min()), float(times[:, 1].min())


@benchmark("astro")
def bench_astro_emulator(args) -> dict:
    """Emulator vs solver on 16 held-out Latin-hypercube clouds (a seed the training set never used).

    Accuracy: dex errors over every (cloud, time, species) where the solver gives > 1e-12 of n_H, with
    and without the conservation projection. Speed: seconds per trajectory of the solver and of the
    emulator (a batch of 1024; one cloud, best of 20), one CPU thread each (torch and BLAS), interleaved:
    after each of the 16 solves the emulator is timed once, so both see the same state of a shared
    machine; medians of the 16 rounds (the emulator's best round reported too); wall and process CPU seconds; the
    batch's wall time split into latent rollout, decode (with 2^x) and projection. Speed-ups are for the
    default (projected) output unless marked raw.
    """
    import torch
    from threadpoolctl import threadpool_limits

    from engine.astrochem.inference import Emulator

    torch.set_num_threads(1)
    with threadpool_limits(limits=1):  # NumPy's BLAS threads spin-wait on a shared machine (~10x slower here)
        return _bench_emulator(Emulator.pretrained(), args.seed)


def _bench_emulator(emulator, seed: int) -> dict:
    import os

    from engine.astrochem.data import sample_parameters
    from engine.astrochem.network import load_network
    from engine.astrochem.physics import initial_abundances
    from engine.astrochem.solver import conservation_error, solve

    load_before = os.getloadavg()
    training_seed = emulator.cards["emulator"]["dataset"]["manifest"]["seed"]
    held_out_seed = 10_000 + seed
    if held_out_seed == training_seed:
        held_out_seed += 1
    params = sample_parameters(16, held_out_seed)
    network = load_network()
    start_state = initial_abundances(network)
    batch = sample_parameters(1024, held_out_seed + 1)
    emulator.emulate(batch[:8])  # warm-up
    timings = {"solver": [], "projected": [], "raw": [], "rollout": [], "single": []}  # (wall, cpu) per round
    truths = []
    for row in params:
        cpu_start = time.process_time()
        trajectory = solve(PhysicalParams.from_array(row), t_end_yr=float(emulator.times_yr[-1]),
                           n_out=len(emulator.times_yr))
        timings["solver"].append((trajectory.wall_time_s, time.process_time() - cpu_start))
        truths.append(trajectory.abundances)
        timings["projected"].append(_timed(lambda: emulator.emulate(batch)))
        timings["raw"].append(_timed(lambda: emulator.emulate(batch, conserve=False)))
        timings["rollout"].append(_timed(lambda: emulator.latent_emulate(batch)))
        timings["single"].append(_best_seconds(lambda: emulator.emulate(params[:1]), 20))
    truth = np.stack(truths)
    accuracy = {}
    for name, conserve in (("projected", True), ("raw", False)):
        predicted = emulator.emulate(params, conserve=conserve)
        errors = _dex_errors(predicted, truth)
        accuracy[name] = {
            "median_abs_error_dex": float(np.median(errors)), "p95_abs_error_dex": float(np.percentile(errors, 95)),
            "max_abs_error_dex": float(np.max(errors)), "n_points": int(errors.size),
            "worst_conservation_error": float(max(conservation_error(network, p, start_state) for p in predicted))}
    typical = {name: np.median(np.array(rounds), axis=0) for name, rounds in timings.items()}  # (wall, cpu)
    solver, solver_cpu_median = float(typical["solver"][0]), float(typical["solver"][1])
    batch_seconds = {name: float(typical[name][0]) / len(batch) for name in ("projected", "raw")}
    batch_cpu = {name: float(typical[name][1]) / len(batch) for name in ("projected", "raw")}
    single_seconds, single_cpu = float(typical["single"][0]), float(typical["single"][1])
    rollout_seconds = float(typical["rollout"][0])
    median, p95 = accuracy["projected"]["median_abs_error_dex"], accuracy["projected"]["p95_abs_error_dex"]
    return {
        "benchmark": "astro", "held_out": {"n": len(params), "latin_hypercube_seed": held_out_seed,
                                           "training_seed": training_seed},
        "time_grid": {"t_end_yr": float(emulator.times_yr[-1]), "n_out": len(emulator.times_yr)},
        "accuracy": accuracy, "solver_seconds_per_trajectory": solver,
        "emulator_seconds_per_trajectory_batch1024": batch_seconds["projected"],
        "emulator_seconds_per_trajectory_batch1024_raw": batch_seconds["raw"],
        "emulator_seconds_single_trajectory": single_seconds,
        "speedup_batch1024": solver / batch_seconds["projected"], "speedup_single": solver / single_seconds,
        "speedup_batch1024_raw": solver / batch_seconds["raw"],
        "emulator_batch1024_split_seconds": {  # median wall times; decode includes 2^x and the output allocation
            "latent_rollout": rollout_seconds, "decode": float(typical["raw"][0]) - rollout_seconds,
            "projection": float(typical["projected"][0] - typical["raw"][0])},
        "emulator_seconds_per_trajectory_batch1024_best_round": min(w for w, _ in timings["projected"]) / len(batch),
        "cpu_seconds": {"solver_per_trajectory": solver_cpu_median, "emulator_batch1024_per_trajectory": batch_cpu,
                        "emulator_single_trajectory": single_cpu,
                        "speedup_batch1024": solver_cpu_median / batch_cpu["projected"],
                        "speedup_batch1024_raw": solver_cpu_median / batch_cpu["raw"],
                        "speedup_single": solver_cpu_median / single_cpu},
        "targets": {"median_le_0.1_dex": median <= 0.1, "p95_le_0.5_dex": p95 <= 0.5,
                    "conservation_le_1pct": accuracy["projected"]["worst_conservation_error"] <= 0.01,
                    "speedup_batch_ge_5000": solver / batch_seconds["projected"] >= 5000,
                    "speedup_single_ge_100": solver / single_seconds >= 100},
        "threads": {"solver": 1, "emulator": 1,
                    "note": "torch and BLAS (NumPy's and SciPy's, used by the serial numba kernels) limited to one "
                            "thread for both"},
        "device": str(emulator.device),
        "model": {name: card.get("config") for name, card in emulator.cards.items()},
        "load_average_1min": {"start": load_before[0], "end": os.getloadavg()[0]},
    }
