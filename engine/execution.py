"""One execution layer for heavy jobs: chunked work on this process, local cores, or a Dask cluster.

A job is a list of chunks; each chunk is a picklable ``task(chunk_params) -> dict of 1-D/2-D arrays``
that is deterministic in its parameters (chunks derive their seeds from the job seed, never from
the order they run in), so every path gives the same numbers. Results stream to one NPZ file per
chunk plus ``manifest.json`` in the output folder, so memory stays bounded and a job that dies is
resumed from its finished chunks. A failing chunk is retried ``retries`` times, then reported with
its parameters.

Paths (:class:`ExecutionSpec`): ``inprocess`` (the default), ``joblib`` over local cores, ``dask``
on a ``LocalCluster`` (``--dask local[:N]``) or an existing scheduler (``--scheduler tcp://HOST:8786``
or ``TWINLAB_DASK_SCHEDULER``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import InputError, TwinLabError

MODES = ("inprocess", "joblib", "dask")
MAX_WORKERS = 256  # local processes or Dask LocalCluster workers one job may ask for
Progress = Callable[[int, int], None]


class JobFailed(TwinLabError):
    """Some chunks still failed after their retries; ``failures`` lists them with their parameters."""

    def __init__(self, failures: list[dict]):
        self.failures = failures
        shown = "; ".join(f"chunk {f['chunk']} {json.dumps(f['params'])}: {f['error']}" for f in failures[:3])
        super().__init__(f"{len(failures)} chunk(s) failed after retries: {shown}")


@dataclass(frozen=True)
class ExecutionSpec:
    """Where chunks run: ``mode`` in :data:`MODES`, ``workers`` (None = all cores), ``address`` (Dask)."""

    mode: str = "inprocess"
    workers: int | None = None
    address: str | None = None

    @classmethod
    def from_options(cls, dask: str | None = None, scheduler: str | None = None, workers: int | None = None,
                     env: dict | None = None) -> ExecutionSpec:
        """Parse the CLI options ``--dask local[:N]``, ``--scheduler ADDR`` and ``--workers K``."""
        env = os.environ if env is None else env
        for flag, value in (("--dask", dask), ("--scheduler", scheduler)):
            if value is not None and not value.strip():
                raise InputError(f"{flag} was given an empty value; omit the flag or give a value.")
        scheduler = scheduler or env.get("TWINLAB_DASK_SCHEDULER") or None
        if workers is not None and not 1 <= workers <= MAX_WORKERS:
            raise InputError(f"--workers must be a whole number in [1, {MAX_WORKERS}] (got {workers}).")
        if dask and scheduler:
            raise InputError("give either --dask local[:N] or --scheduler ADDRESS, not both.")
        if scheduler:
            if not re.fullmatch(r"(tcp|tls|inproc|ucx)://[^\s]+", scheduler):
                raise InputError(f"--scheduler {scheduler!r} must look like tcp://HOST:8786.")
            return cls("dask", workers, scheduler)
        if dask:
            match = re.fullmatch(r"local(?::(\d+))?", dask)
            if not match or (match.group(1) and not 1 <= int(match.group(1)) <= MAX_WORKERS):
                raise InputError(f"--dask {dask!r} must be 'local' or 'local:N' with 1 ≤ N ≤ {MAX_WORKERS} workers.")
            return cls("dask", int(match.group(1)) if match.group(1) else workers, None)
        if workers and workers > 1:
            return cls("joblib", workers, None)
        return cls()


@dataclass
class JobResult:
    """What a finished job produced: the output folder, chunk counts and where the Dask dashboard was."""

    out_dir: Path
    n_chunks: int
    computed: int
    resumed: int
    seconds: float
    dashboard: str | None = None
    failures: list[dict] = field(default_factory=list)


def fingerprint(config: dict) -> str:
    """A stable hash of a job's configuration (what must match for a resume to be valid)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


FORMATS = ("npz", "parquet")


def chunk_path(out_dir: Path, index: int, fmt: str = "npz") -> Path:
    return out_dir / f"part-{index:05d}.{fmt}"


def read_chunk(path: Path) -> dict[str, np.ndarray]:
    """One chunk file's arrays (NPZ without pickles, or a Parquet table's columns)."""
    if path.suffix == ".parquet":
        import pandas as pd

        frame = pd.read_parquet(path)
        return {name: frame[name].to_numpy() for name in frame.columns}
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def load_chunks(out_dir: str | Path) -> dict[str, np.ndarray]:
    """Concatenate every chunk's arrays in chunk order (for results that fit in memory)."""
    out_dir = Path(out_dir)
    manifest = json.loads((out_dir / "manifest.json").read_text())
    parts = [read_chunk(chunk_path(out_dir, index, manifest.get("format", "npz")))
             for index in range(manifest["n_chunks"])]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]} if parts else {}


def _write_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "wb") as stream:
        if path.suffix == ".parquet":
            import pandas as pd

            pd.DataFrame({name: np.asarray(value) for name, value in arrays.items()}).to_parquet(stream, index=False)
        else:
            np.savez(stream, **{name: np.asarray(value) for name, value in arrays.items()})
    os.replace(tmp, path)


def _attempt(task: Callable, params: dict, retries: int) -> tuple[dict | None, str | None]:
    """Run one chunk, retrying up to ``retries`` times; returns (arrays, None) or (None, error)."""
    error = None
    for _ in range(retries + 1):
        try:
            return task(params), None
        except Exception as exc:  # reported with the chunk's parameters, never fatal to other chunks
            error = f"{type(exc).__name__}: {exc}"
    return None, error


def _run_inprocess(task, todo, retries, spec) -> Iterator[tuple[int, dict | None, str | None]]:
    for index, params in todo:
        yield (index, *_attempt(task, params, retries))


def _run_joblib(task, todo, retries, spec) -> Iterator[tuple[int, dict | None, str | None]]:
    from joblib import Parallel, delayed

    runner = Parallel(n_jobs=spec.workers or -1, return_as="generator_unordered", pre_dispatch="2*n_jobs")
    yield from runner(delayed(_indexed_attempt)(task, index, params, retries) for index, params in todo)


def _indexed_attempt(task, index, params, retries):
    return (index, *_attempt(task, params, retries))


@contextmanager
def dask_client(spec: ExecutionSpec, connect_timeout_s: float = 10):
    """A connected ``distributed.Client``: a new LocalCluster, or the scheduler at ``spec.address``."""
    import dask
    from distributed import Client, LocalCluster

    if spec.address:
        try:
            client = Client(spec.address, timeout=f"{connect_timeout_s}s")
        except (OSError, TimeoutError) as error:
            raise InputError(f"cannot reach the Dask scheduler at {spec.address} within "
                             f"{connect_timeout_s:.0f} s ({type(error).__name__}); check the address "
                             "(tcp://HOST:8786) and that the scheduler is running.") from None
        with client:
            yield client
        return
    workers = spec.workers or os.cpu_count() or 1
    config = local_cluster_config()
    saved = {name: os.environ.get(name) for name in config["distributed.nanny.pre-spawn-environ"]}
    try:  # the settings are read as the scheduler, nannies and workers start
        with dask.config.set(config):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                                   silence_logs=40)
    finally:  # a nanny writes its workers' variables into our environment too: undo that
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    with cluster, Client(cluster) as client:
        yield client


# One thread of everything per worker process (threads_per_worker=1): BLAS, OpenMP, numba's parallel loops.
WORKER_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def local_cluster_config() -> dict:
    """Dask settings for the LocalClusters we start: the cores go to the chunks, not to bookkeeping.

    Dask's defaults suit long-lived shared clusters, not a job that owns every core of a small machine:
    each worker samples its own stack 100 times a second for the dashboard's profile page, and each
    worker, nanny and scheduler wakes its event loop 50 times a second (tick) and polls memory 10 times
    a second, every wake-up taking the GIL from the solving thread. Measured on the astrochemistry
    dataset job: a worker's event loop used ~5 % of a core (~20 % of its solving CPU under load) and
    the client/scheduler/nanny process ~5 %; with these settings ~0.7 % and ~1.2 %. Dask also starts
    workers with ``MALLOC_TRIM_THRESHOLD_``, which returns freed memory to the OS at once, so large
    temporaries come back as fresh page faults (5× as many; the solver took ~20 % more CPU). Our clusters
    live for one job, so glibc keeps its defaults. The dashboard keeps its task stream and progress.
    """
    import dask

    environ = {name: value for name, value in dask.config.get("distributed.nanny.pre-spawn-environ").items()
               if name != "MALLOC_TRIM_THRESHOLD_"}
    return {"distributed.worker.profile.enabled": False,
            "distributed.admin.tick.interval": "1s",
            "distributed.admin.system-monitor.interval": "2s",
            "distributed.worker.memory.monitor-interval": "1s",
            "distributed.nanny.pre-spawn-environ": {**environ, **dict.fromkeys(WORKER_THREAD_ENV, 1)}}


def _run_dask(task, todo, retries, spec, on_client=None) -> Iterator[tuple[int, dict | None, str | None]]:
    from distributed import as_completed

    with dask_client(spec) as client:
        if on_client:
            on_client(client.dashboard_link)  # an external scheduler's link names the host it reported
        # keep at most two chunks per worker in flight, so results never pile up in memory
        in_flight = 2 * max(1, len(client.scheduler_info().get("workers", {})))
        pending = iter(todo)
        running = as_completed([client.submit(_indexed_attempt, task, *item, retries, pure=False) for item in
                                (next(pending, None) for _ in range(in_flight)) if item is not None])
        for future in running:
            yield future.result()
            future.release()
            item = next(pending, None)
            if item is not None:
                running.add(client.submit(_indexed_attempt, task, *item, retries, pure=False))


def stream(task: Callable[[dict], dict], todo: Sequence[tuple[int, dict]], spec: ExecutionSpec | None = None,
           retries: int = 2, on_client: Callable[[str | None], None] | None = None
           ) -> Iterator[tuple[int, dict | None, str | None]]:
    """Run ``task(params)`` for each ``(index, params)`` on ``spec``; yield ``(index, result, error)``.

    Results arrive in completion order, with at most a few in flight per worker. ``error`` is the
    last exception's text after ``retries`` retries (``result`` is then None). ``on_client`` gets
    the Dask dashboard link (``client.dashboard_link``) once the cluster is up.
    """
    spec = spec or ExecutionSpec()
    if spec.mode not in MODES:
        raise InputError(f"execution mode {spec.mode!r} is not one of {', '.join(MODES)}.")
    if spec.mode == "dask":
        return _run_dask(task, todo, retries, spec, on_client)
    runner = _run_joblib if spec.mode == "joblib" else _run_inprocess
    return runner(task, todo, retries, spec)


def run_chunked(task: Callable[[dict], dict], chunks: Sequence[dict], out_dir: str | Path, *, config: dict,
                spec: ExecutionSpec | None = None, retries: int = 2, progress: Progress | None = None,
                on_client: Callable[[str | None], None] | None = None, fmt: str = "npz") -> JobResult:
    """Run ``task`` over ``chunks`` into ``out_dir``, resuming finished chunks of the same ``config``.

    ``config`` describes the whole job (it is hashed into the manifest: rerunning with a different
    config into the same folder is refused rather than mixing results). Chunk files are ``fmt``
    (``npz``, or ``parquet`` for tables of equal-length 1-D columns). Raises :class:`JobFailed`
    after writing every chunk that succeeded.
    """
    if fmt not in FORMATS:
        raise InputError(f"chunk format {fmt!r} is not one of {', '.join(FORMATS)}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    key = fingerprint({"config": config, "format": fmt})
    if manifest_path.exists():
        try:
            previous = json.loads(manifest_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            previous = None
        if not isinstance(previous, dict):
            raise InputError(f"{manifest_path} is not a readable job manifest; choose another output folder.")
        if previous.get("fingerprint") != key:
            raise InputError(f"{out_dir} holds a different job (config differs); choose another output folder.")
    manifest = {"fingerprint": key, "config": config, "n_chunks": len(chunks), "format": fmt, "failures": [],
                "chunks": [dict(params) for params in chunks]}
    _write_text_atomic(manifest_path, manifest)
    done = {index for index in range(len(chunks)) if chunk_path(out_dir, index, fmt).exists()}
    todo = [(index, params) for index, params in enumerate(chunks) if index not in done]
    start, failures, finished = time.perf_counter(), [], len(done)
    if progress:
        progress(finished, len(chunks))
    dashboard = []

    def cluster_up(link: str | None) -> None:
        dashboard.append(link)
        if on_client:
            on_client(link)

    for index, arrays, error in stream(task, todo, spec, retries, on_client=cluster_up):
        if error is None:
            _write_atomic(chunk_path(out_dir, index, fmt), arrays)
        else:
            failures.append({"chunk": index, "params": chunks[index], "error": error})
        finished += 1
        if progress:
            progress(finished, len(chunks))
    manifest["failures"] = sorted(failures, key=lambda f: f["chunk"])
    manifest["complete"] = not failures
    _write_text_atomic(manifest_path, manifest)
    result = JobResult(out_dir, len(chunks), len(todo) - len(failures), len(done),
                       time.perf_counter() - start, dashboard[0] if dashboard else None, manifest["failures"])
    if failures:
        raise JobFailed(manifest["failures"])
    return result


def _write_text_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=str))
    os.replace(tmp, path)


def add_execution_arguments(parser) -> None:
    """The CLI flags every heavy job shares: ``--workers``, ``--dask``, ``--scheduler``."""
    parser.add_argument("--workers", type=int, default=None, help="local worker processes via joblib (default 1)")
    parser.add_argument("--dask", default=None, metavar="local[:N]",
                        help="run on a new Dask LocalCluster with N workers (default: all cores)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                        help="run on an existing Dask cluster (or set TWINLAB_DASK_SCHEDULER)")


def spec_from_args(args) -> ExecutionSpec:
    """The :class:`ExecutionSpec` chosen by :func:`add_execution_arguments` flags."""
    return ExecutionSpec.from_options(dask=args.dask, scheduler=args.scheduler, workers=args.workers)


def text_progress(label: str, stream_=None) -> Progress:
    """A one-line text progress bar (on stderr): returns ``update(done, total)``."""
    import sys

    out = stream_ or sys.stderr
    start = time.perf_counter()

    def update(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        elapsed = time.perf_counter() - start
        out.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {elapsed:6.1f} s")
        if done >= total:
            out.write("\n")
        out.flush()

    return update


def seeds_for_chunks(seed: int, n_chunks: int) -> list[int]:
    """Independent, order-free integer seeds for each chunk of a job with master ``seed``."""
    return [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(n_chunks)]
