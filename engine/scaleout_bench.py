"""``python -m engine bench scaleout``: the execution layer's speed-up, memory bound and resume, measured.

* astro: the same astrochemistry dataset job (48 trajectories to 1 Myr, longest first) on a 1-worker and a
  2-worker Dask ``LocalCluster``, twice each in alternating order (``TWINLAB_BENCH_SCALEOUT_REPEATS``);
  speed-up and parallel efficiency of the solving (first task to last result written). Cluster start-up,
  the workers' warm-up (importing the task's modules, parsing the network: the same on every worker, in
  parallel) and teardown are timed apart, and the speed-ups including them are reported too, with the
  share of the cores the workers actually got (other processes on the machine lower it).
* resume: a chunked job in a child process is killed (SIGKILL) mid-way and rerun; every chunk
  finished before the kill is kept byte-for-byte and the result equals an uninterrupted run.
* synthesis sweep memory (off by default, it takes about an hour for 10^7 recipes on 2 cores): with
  ``TWINLAB_BENCH_SWEEP_POINTS=10000000`` a chunked sweep of that many recipes runs in a fresh process and its
  time and peak resident memory are reported (target < 2 GiB).
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.registry import benchmark


def warm_worker() -> None:
    """What every worker does once before its first trajectory: import the task's modules, parse the network."""
    from engine.astrochem.data import sample_parameters  # the task's module (it imports h5py, scipy.stats)
    from engine.astrochem.physics import PhysicalParams
    from engine.astrochem.solver import solve

    solve(PhysicalParams.from_array(sample_parameters(1, 0)[0]), t_end_yr=10.0, n_out=2)


def process_cpu_s() -> float:
    """CPU seconds (user + system) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _astro_job(path: Path, workers: int, n: int, seed: int) -> dict:
    """One timed dataset job into ``path``: cluster start-up, warm-up, solving (first task to last result), teardown.

    Also the CPU the workers got while solving (``worker_cpu_share``: their CPU seconds over workers ×
    solving seconds; below 1 when other processes took the cores) and the CPU this process (client,
    scheduler, nannies, HDF5 writer) used, as a share of one core.
    """
    from distributed import default_client

    from engine.astrochem.data import generate_dataset
    from engine.execution import ExecutionSpec

    marks, cpu = {}, {}

    def on_cluster(_link) -> None:
        marks["up"] = time.perf_counter()
        default_client().run(warm_worker)
        marks["warm"] = time.perf_counter()
        cpu["workers"], cpu["here"] = default_client().run(process_cpu_s), process_cpu_s()

    def progress(finished: int, total: int) -> None:
        if finished == total:
            marks["last"] = time.perf_counter()
            after = default_client().run(process_cpu_s)
            cpu["workers"] = sum(after[name] - cpu["workers"][name] for name in after)
            cpu["here"] = process_cpu_s() - cpu["here"]

    start = time.perf_counter()
    summary = generate_dataset(path, n=n, seed=seed, n_out=32,
                               spec=ExecutionSpec("dask", workers), on_cluster=on_cluster, progress=progress)
    end = time.perf_counter()
    solving = marks["last"] - marks["warm"]
    return {"workers": workers, "trajectories": summary["done"], "failed": summary["failed"],
            "startup_s": round(marks["up"] - start, 2), "warmup_s": round(marks["warm"] - marks["up"], 2),
            "compute_s": round(solving, 2), "teardown_s": round(end - marks["last"], 2),
            "total_s": round(end - start, 2), "worker_cpu_share": round(cpu["workers"] / (workers * solving), 3),
            "client_scheduler_cpu_share": round(cpu["here"] / solving, 3)}


def _astro_speedup(folder: Path, n: int, seed: int, repeats: int) -> dict:
    """1 vs 2 workers, ``repeats`` times in alternating order (1-2, 2-1, ...) so a drifting load hits both."""
    runs = {1: [], 2: []}
    for repeat in range(repeats):
        for workers in (1, 2) if repeat % 2 == 0 else (2, 1):
            runs[workers].append(_astro_job(folder / f"astro_{workers}w_{repeat}.h5", workers, n, seed))

    def mean(workers: int, key: str) -> float:
        return float(np.mean([run[key] for run in runs[workers]]))

    speedup = mean(1, "compute_s") / mean(2, "compute_s")
    with_warmup = (mean(1, "warmup_s") + mean(1, "compute_s")) / (mean(2, "warmup_s") + mean(2, "compute_s"))
    return {"trajectories": n, "repeats": repeats, "one_worker": runs[1], "two_workers": runs[2],
            "speedup": round(speedup, 3), "efficiency": round(speedup / 2, 3),
            "speedup_per_repeat": [round(one["compute_s"] / two["compute_s"], 3)
                                   for one, two in zip(runs[1], runs[2], strict=True)],
            "speedup_including_warmup": round(with_warmup, 3),
            "speedup_including_startup_and_teardown": round(mean(1, "total_s") / mean(2, "total_s"), 3),
            "target_speedup": 1.7, "met": speedup >= 1.7}


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
    repeats = int(os.environ.get(REPEATS_ENV, "2"))
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="twinlab-scaleout-") as folder:
        folder = Path(folder)
        astro = _astro_speedup(folder, 48, args.seed, repeats)
        load_end = os.getloadavg()
        resume = _resume_check(folder)
    astro.update(cpu_count=os.cpu_count(), load_average_1min={"start": round(load_start[0], 2),
                                                              "end": round(load_end[0], 2)})
    return {"astro_dataset": astro, "resume_after_sigkill": resume, "synth_sweep_memory": _sweep_memory()}


REPEATS_ENV = "TWINLAB_BENCH_SCALEOUT_REPEATS"
SWEEP_POINTS_ENV = "TWINLAB_BENCH_SWEEP_POINTS"


def _sweep_memory() -> dict:
    from engine.synthesis.bench import sweep_memory

    points = os.environ.get(SWEEP_POINTS_ENV)
    if not points:
        return {"run": False, "how": f"set {SWEEP_POINTS_ENV}=10000000 to measure a 10^7-recipe sweep"}
    return sweep_memory(int(points))
