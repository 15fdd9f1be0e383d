"""Initial conditions, trajectory generation from the solvers, and an HDF5 cache of trajectory sets.

Trajectory sets are arrays ``[n_traj, n_steps + 1, channels, *space]`` (float32). The cache lives in
``$TWINLAB_DATA_DIR/hybrid`` (default ``~/.cache/twinlab/hybrid``), one file per spec, keyed by a hash
of the spec; a file whose stored spec differs is regenerated, never trusted.

Large sets (``python -m engine pde data``) go through :mod:`engine.execution`: chunks of trajectories, each
seeded from the job seed by chunk index, written as one NPZ per chunk plus a manifest (resumable), on this
process, local joblib workers or a Dask cluster, with the same numbers on every path.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path

import h5py
import numpy as np
import torch

from engine.errors import InputError
from engine.execution import ExecutionSpec, JobResult, run_chunked, seeds_for_chunks
from engine.hybrid.fit import one_thread
from engine.hybrid.physical import Burgers, rollout
from engine.hybrid.spectral import Grid


class InitKind(StrEnum):
    SINE = "sine"
    GAUSSIAN = "gaussian"
    RANDOM = "random"


def random_modes(grid: Grid, rng: np.random.Generator, max_mode: int = 4) -> np.ndarray:
    """Sum of random Fourier modes ``1..max_mode`` (per axis) with random phases, scaled to max |u| = 1."""
    coords = np.meshgrid(*grid.axes(), indexing="ij")
    field = np.zeros(grid.shape)
    for coord in coords:
        for m in range(1, max_mode + 1):
            field += rng.normal() / m * np.sin(2 * np.pi * m * coord / grid.length + rng.uniform(0, 2 * np.pi))
    return field / np.abs(field).max()


def initial_field(kind: InitKind, grid: Grid, rng: np.random.Generator) -> np.ndarray:
    """One scalar field on ``grid``: ``sine`` is ``-sin(pi x)`` (times ``-sin(pi y)`` in 2-D), ``gaussian`` a
    bump of width 0.2 at the centre (unit height), ``random`` :func:`random_modes`."""
    coords = np.meshgrid(*grid.axes(), indexing="ij")
    kind = InitKind(kind)
    if kind is InitKind.SINE:
        return np.prod([-np.sin(2 * np.pi * c / grid.length) for c in coords], axis=0)
    if kind is InitKind.GAUSSIAN:
        return np.exp(-sum(c**2 for c in coords) / (2 * 0.2**2))
    return random_modes(grid, rng)


def initial_state(kind: InitKind, grid: Grid, channels: int, seed: int = 0) -> np.ndarray:
    """A state ``[channels, *space]``: one independent :func:`initial_field` per channel (same ``kind``)."""
    rng = np.random.default_rng(seed)
    return np.stack([initial_field(kind, grid, rng) for _ in range(channels)])


@dataclass(frozen=True)
class DataSpec:
    """A set of 1-D Burgers(+reaction) trajectories from random initial conditions."""

    nx: int = 64
    nu: float = 0.01
    reaction: float = 0.0
    dt: float = 0.05
    n_steps: int = 20
    n_traj: int = 8
    seed: int = 0

    def __post_init__(self):
        if not 8 <= self.nx <= 4096:
            raise InputError(f"nx = {self.nx} is outside [8, 4096].")
        if not 1 <= self.n_traj <= 10_000 or not 1 <= self.n_steps <= 10_000:
            raise InputError("n_traj and n_steps must be in [1, 10000].")

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def generate(spec: DataSpec) -> np.ndarray:
    """Simulate ``spec.n_traj`` trajectories (float64 solver) from seeded random initial conditions."""
    grid = Grid((spec.nx,))
    rng = np.random.default_rng(spec.seed)
    u0 = np.stack([random_modes(grid, rng)[None] for _ in range(spec.n_traj)])
    model = Burgers(grid, spec.dt, spec.nu, reaction=spec.reaction)
    with torch.no_grad():
        traj = rollout(model, torch.tensor(u0), spec.n_steps)
    return traj.numpy().astype(np.float32)


def _chunk_task(params: dict) -> dict[str, np.ndarray]:
    """One chunk of a job: ``params`` are a :class:`DataSpec`'s fields plus ``first`` (global index of its
    first trajectory). One torch thread, so the numbers do not depend on the worker's thread count."""
    fields = {name: value for name, value in params.items() if name != "first"}
    spec, first = DataSpec(**fields), params["first"]
    with one_thread():
        u = generate(spec)
    return {"u": u, "index": np.arange(first, first + spec.n_traj)}


def generate_to_folder(spec: DataSpec, n: int, out_dir: str | Path, chunk_size: int = 16,
                       execution: ExecutionSpec | None = None, progress: Callable[[int, int], None] | None = None,
                       on_client: Callable[[str | None], None] | None = None) -> JobResult:
    """``n`` trajectories of ``spec``'s problem (``spec.n_traj`` is ignored) into ``out_dir``: chunk files
    ``part-NNNNN.npz`` with ``u [m, n_steps + 1, 1, nx]`` (float32) and ``index [m]``, and ``manifest.json``.

    Chunk ``i`` draws its initial conditions from ``seeds_for_chunks(spec.seed, n_chunks)[i]``, so the set
    depends on (spec, n, chunk_size) only, never on where or in which order chunks run. Rerunning the same
    command resumes from the finished chunks.
    """
    if not (isinstance(n, int | np.integer) and 1 <= n <= 10_000_000):
        raise InputError(f"--n = {n!r} must be a whole number in [1, 10000000].")
    if not (isinstance(chunk_size, int | np.integer) and 1 <= chunk_size <= 10_000):
        raise InputError(f"--chunk-size = {chunk_size!r} must be a whole number in [1, 10000].")
    n_chunks = -(-int(n) // int(chunk_size))
    seeds = seeds_for_chunks(spec.seed, n_chunks)
    chunks = [{**asdict(replace(spec, n_traj=min(chunk_size, n - i * chunk_size), seed=seeds[i])),
               "first": i * chunk_size} for i in range(n_chunks)]
    config = {"kind": "pde.burgers", "spec": asdict(spec), "n": int(n), "chunk_size": int(chunk_size),
              "layout": "u [m, n_steps + 1, 1, nx] float32 on x = -1 + 2 i / nx, t = k dt; index [m]"}
    return run_chunked(_chunk_task, chunks, out_dir, config=config, spec=execution, progress=progress,
                       on_client=on_client)


def cache_dir() -> Path:
    root = os.environ.get("TWINLAB_DATA_DIR") or Path.home() / ".cache" / "twinlab"
    return Path(root) / "hybrid"


def load_or_generate(spec: DataSpec) -> np.ndarray:
    """Trajectories for ``spec`` from the HDF5 cache, generating and caching them on a miss."""
    path = cache_dir() / f"burgers_{spec.key()}.h5"
    stored = json.dumps(asdict(spec), sort_keys=True)
    if path.exists():
        try:
            with h5py.File(path, "r") as handle:
                if handle.attrs.get("spec") == stored:
                    return handle["u"][...]
        except OSError:
            pass  # unreadable/partial file: regenerate below
    data = generate(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle_fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")  # unique: concurrent writers never collide
    os.close(handle_fd)
    with h5py.File(tmp, "w") as handle:
        handle.create_dataset("u", data=data, compression="gzip")
        handle.attrs["spec"] = stored
    os.replace(tmp, path)
    return data


def read_trajectory_npz(source: str | Path | bytes, label: str = "--data") -> dict[str, np.ndarray]:
    """Arrays ``x`` [nx], ``t`` [K], ``u`` [K, nx] from a user's .npz (a path or the file's bytes).

    Never unpickles; an empty, truncated or foreign file, or missing arrays, is an :class:`InputError`
    that starts with ``label`` (the CLI flag or the upload's name).
    """
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise InputError(f"{label}: file {source} not found.")
    try:
        with np.load(io.BytesIO(source) if isinstance(source, bytes) else source, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise InputError(f"{label}: not a readable .npz file ({type(error).__name__}: {error}).") from None
    missing = {"x", "t", "u"} - set(arrays)
    if missing:
        raise InputError(f"{label}: lacks arrays {sorted(missing)} (needs x [nx], t [K], u [K, nx]).")
    return arrays
