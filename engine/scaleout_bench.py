"""``python -m engine bench scaleout``: the execution layer's speed-up, memory bound and resume, measured.

* astro: the same astrochemistry dataset job (48 trajectories to 1 Myr) on a 1-worker and a 2-worker Dask
  ``LocalCluster``; speed-up and parallel efficiency of the solving. Cluster start-up and the workers'
  warm-up (importing the engine, parsing the network: the same on every worker, in parallel) are timed
  and reported separately, and the speed-up including them is reported too.
* resume: a chunked job in a child process is killed (SIGKILL) mid-way and rerun; every chunk
  finished before the kill is kept byte-for-byte and the result equals an uninterrupted run.
* synthesis sweep memory (off by default, it takes about an hour for 10^7 recipes on 2 cores): with
  ``TWINLAB_BENCH_SWEEP_POINTS=10000000`` a chunked sweep of that many recipes runs in a fresh process and its
  time and peak resident memory are reported (target < 2 GiB).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.registry import benchmark


def warm_worker() -> None:
    """What every worker does once before its first trajectory: import the solver, parse the network."""
    from engine.astrochem.physics import PhysicalParams
    from engine.astrochem.solver import solve

    solve(PhysicalParams(), t_end_yr=10.0, n_out=2)


def _astro_job(folder: Path, workers: int, n: int, seed: int) -> dict:
    from distributed import default_client

    from engine.astrochem.data import generate_dataset
    from engine.execution import ExecutionSpec

    marks = {}

    def on_cluster(_link) -> None:
        marks["up"] = time.perf_counter()
        default_client().run(warm_worker)
        marks["warm"] = time.perf_counter()

    start = time.perf_counter()
    summary = generate_dataset(folder / f"astro_{workers}.h5", n=n, seed=seed, n_out=32,
                               spec=ExecutionSpec("dask", workers), on_cluster=on_cluster)
    end = time.perf_counter()
    return {"workers": workers, "trajectories": summary["done"], "failed": summary["failed"],
            "startup_s": round(marks["up"] - start, 2), "warmup_s": round(marks["warm"] - marks["up"], 2),
            "compute_s": round(end - marks["warm"], 2)}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


RESUME_JOB = """
import sys
from engine.execution import run_chunked, seeds_for_chunks
from engine.scaleout_bench import slow_chunk
chunks = [{"index": i, "seed": s} for i, s in enumerate(seeds_for_chunks(5, 12))]
run_chunked(slow_chunk, chunks, sys.argv[1], config={"job": "resume-demo"})
"""


def slow_chunk(params: dict) -> dict:
    """A deterministic chunk that takes ~0.3 s (stands in for a real simulation chunk)."""
    time.sleep(0.3)
    rng = np.random.default_rng(params["seed"])
    return {"index": np.array([params["index"]]), "values": rng.normal(size=1000)}


def _resume_check(folder: Path) -> dict:
    from engine.execution import load_chunks

    killed, clean = folder / "killed", folder / "clean"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    child = subprocess.Popen([sys.executable, "-c", RESUME_JOB, str(killed)], env=env)
    deadline = time.monotonic() + 120
    while len(list(killed.glob("part-*.npz"))) < 5 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    before = {path.name: _digest(path) for path in killed.glob("part-*.npz")}
    subprocess.run([sys.executable, "-c", RESUME_JOB, str(killed)], env=env, check=True)
    subprocess.run([sys.executable, "-c", RESUME_JOB, str(clean)], env=env, check=True)
    kept = all(_digest(killed / name) == digest for name, digest in before.items())
    same = all(np.array_equal(a, b) for a, b in zip(load_chunks(killed).values(), load_chunks(clean).values(),
                                                     strict=True))
    return {"chunks": 12, "finished_before_kill": len(before), "kept_unchanged": kept,
            "result_equals_uninterrupted": same}


@benchmark("scaleout")
def bench_scaleout(args) -> dict:
    """Speed-up of 2 vs 1 Dask workers on an astrochemistry dataset, and kill-and-resume."""
    n, load_start = 48, os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="twinlab-scaleout-") as folder:
        folder = Path(folder)
        one = _astro_job(folder, 1, n, args.seed)
        two = _astro_job(folder, 2, n, args.seed)
        speedup = one["compute_s"] / two["compute_s"]
        with_warmup = (one["warmup_s"] + one["compute_s"]) / (two["warmup_s"] + two["compute_s"])
        resume = _resume_check(folder)
    return {"astro_dataset": {"trajectories": n, "one_worker": one, "two_workers": two,
                              "speedup": round(speedup, 3), "efficiency": round(speedup / 2, 3),
                              "speedup_including_warmup": round(with_warmup, 3), "target_speedup": 1.7,
                              "met": speedup >= 1.7, "cpu_count": os.cpu_count(),
                              "load_average_1min": {"start": round(load_start, 2),
                                                    "end": round(os.getloadavg()[0], 2)}},
            "resume_after_sigkill": resume, "synth_sweep_memory": _sweep_memory()}


SWEEP_POINTS_ENV = "TWINLAB_BENCH_SWEEP_POINTS"


def _sweep_memory() -> dict:
    from engine.synthesis.bench import sweep_memory

    points = os.environ.get(SWEEP_POINTS_ENV)
    if not points:
        return {"run": False, "how": f"set {SWEEP_POINTS_ENV}=10000000 to measure a 10^7-recipe sweep"}
    return sweep_memory(int(points))
