"""`python -m engine bench synth`: throughput of the fast solver versus the solve_ivp reference, and their
agreement on the same recipes, measured side by side in one run; and the page's 100 × 100 sweep (temperature ×
Cs:Pb over their full ranges, 10,000 recipes through :func:`engine.synthesis.sweeps.sweep`) on each batch path."""

from __future__ import annotations

import time

import numpy as np

from engine.registry import benchmark

BATCH = 100_000
REFERENCE_PER_PHASE = 3  # the reference runs on the first recipes of each predicted phase (15 in all)
SWEEP_SIDE = 100


def agreement(fast: dict, ref: dict) -> dict:
    """Max relative difference of the continuous outputs, max |Δp| of phase probabilities, phase agreement."""
    from engine.synthesis.simulation import COMPARED_OUTPUTS

    rel, prob = {}, 0.0
    for key in COMPARED_OUTPUTS:
        a, b = np.asarray(fast[key], float), np.asarray(ref[key], float)
        if key.startswith("p_"):
            prob = max(prob, float(np.max(np.abs(a - b))))
            continue
        both = np.isfinite(a) & np.isfinite(b) & (np.abs(b) > 1e-12)
        rel[key] = float(np.max(np.abs(a[both] - b[both]) / np.abs(b[both]))) if both.any() else 0.0
    return {"max_relative_difference": max(rel.values()), "relative_difference_by_output": rel,
            "max_abs_probability_difference": prob,
            "phase_agreement": float(np.mean(fast["phase_index"] == ref["phase_index"]))}


def sweep_timing() -> dict:
    """Seconds and recipes/s of the 100 × 100 page sweep on every batch path, and the paths' largest difference."""
    from engine.synthesis.physics.solver import PATHS
    from engine.synthesis.schemas import FIELD_SPECS
    from engine.synthesis.sweeps import make_axis, sweep

    axes = [make_axis(name, FIELD_SPECS[name].low, FIELD_SPECS[name].high, SWEEP_SIDE)
            for name in ("temperature_c", "cs_pb_ratio")]
    result, frames = {"points": SWEEP_SIDE**2, "axes": [a.name for a in axes]}, {}
    for path in PATHS:
        sweep(axes[:1], path=path)  # compile / warm up outside the timing
        start = time.perf_counter()
        frames[path] = sweep(axes, path=path)
        seconds = time.perf_counter() - start
        result[path] = {"seconds": round(seconds, 3), "recipes_per_s": round(SWEEP_SIDE**2 / seconds, 1)}
    numeric = [c for c in frames["numba"].columns if frames["numba"][c].dtype.kind == "f"]
    a, b = (frames[p][numeric].to_numpy() for p in ("numba", "array"))
    both = np.isfinite(a) & np.isfinite(b) & (np.abs(a) > 1e-12)
    result["max_relative_difference_between_paths"] = float(np.max(np.abs(a[both] - b[both]) / np.abs(a[both])))
    result["phase_agreement_between_paths"] = float(np.mean(frames["numba"]["phase"] == frames["array"]["phase"]))
    return result


@benchmark("synth")
def bench_synth(args) -> dict:
    from engine.synthesis.dataset import sample_recipes
    from engine.synthesis.simulation import simulate_batch, simulate_reference

    columns = sample_recipes(BATCH, args.seed)
    simulate_batch({k: v[:4] for k, v in columns.items()})  # compile outside the timing
    start = time.perf_counter()
    fast = simulate_batch(columns)
    fast_seconds = time.perf_counter() - start
    chosen = np.concatenate([np.flatnonzero(fast["phase_index"] == k)[:REFERENCE_PER_PHASE] for k in range(5)])
    subset = {k: v[chosen] for k, v in columns.items()}
    start = time.perf_counter()
    ref = simulate_reference(subset)
    ref_seconds = time.perf_counter() - start
    fast_rate = BATCH / fast_seconds
    ref_rate = chosen.size / ref_seconds
    result = {
        "batch_recipes": BATCH, "vectorized_seconds": round(fast_seconds, 3),
        "vectorized_recipes_per_s": round(fast_rate, 1),
        "reference_recipes": int(chosen.size), "reference_seconds": round(ref_seconds, 3),
        "reference_recipes_per_s": round(ref_rate, 3), "speedup": round(fast_rate / ref_rate, 1),
        **agreement({k: v[chosen] for k, v in fast.items()}, ref),
        "sweep_100x100": sweep_timing(),
        "seed": args.seed,
    }
    result["targets"] = {"speedup_ge_1000": result["speedup"] >= 1000,
                         "max_relative_difference_le_1pct": result["max_relative_difference"] <= 0.01,
                         "sweep_100x100_le_1_5_s": result["sweep_100x100"]["numba"]["seconds"] <= 1.5}
    return result


SWEEP_MEMORY_JOB = """
import json, resource, sys, time
from engine.synthesis.sweeps import make_axis, sweep_to_folder
axes = [make_axis("temperature_c", 80, 250, 100), make_axis("cs_pb_ratio", 0.05, 4, 100),
        make_axis("oleylamine_ml", 0.1, 3, int(sys.argv[2]))]
start = time.perf_counter()
result = sweep_to_folder(axes, sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - start, "chunks": result.n_chunks,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def sweep_memory(points: int) -> dict:
    """Time and peak resident memory of a chunked ``points``-recipe sweep (100 × 100 × points/10⁴ grid of
    temperature × Cs:Pb × oleylamine, Parquet chunks to a temporary folder), measured in a fresh process."""
    import json
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    if points % 10_000 or not 10_000 <= points <= 10_000_000:
        raise ValueError(f"sweep points = {points} must be a multiple of 10,000 in [10^4, 10^7].")
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="twinlab-sweep-memory-") as folder:
        done = subprocess.run([sys.executable, "-c", SWEEP_MEMORY_JOB, folder, str(points // 10_000)], check=True,
                              capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root)})
        stats = json.loads(done.stdout.strip().splitlines()[-1])
        disk = sum(p.stat().st_size for p in Path(folder).glob("part-*"))
    peak_mib = stats["peak_rss_kib"] / 1024
    return {"points": points, "chunks": stats["chunks"], "seconds": round(stats["seconds"], 1),
            "recipes_per_s": round(points / stats["seconds"], 1), "peak_rss_mib": round(peak_mib, 1),
            "output_mib": round(disk / 2**20, 1), "target_peak_mib": 2048, "peak_under_2_gib": peak_mib < 2048}
