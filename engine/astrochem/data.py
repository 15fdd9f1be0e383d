"""Training data for the emulator: many solver runs over the parameter box in one HDF5 file.

Parameters are a Latin hypercube in log space (``scipy.stats.qmc``) over :data:`VALID_BOX`; runs go
through :func:`engine.execution.stream` (this process, joblib workers or a Dask cluster) and are written
by the parent as they finish, so memory holds only a few trajectories.

HDF5 layout (one file):

* attribute ``manifest``: JSON with the network sha256, parameter names, ranges, seed, n, t_end_yr,
  n_out, solver tolerances and the layout version; a resumed run must match it exactly;
* ``times_yr`` (n_out), ``species`` (n_species, UTF-8), ``params`` (n, 5: n_H, T, G0, A_V, zeta);
* ``abundances`` (n, n_out, n_species) float32 relative to n_H, chunked per trajectory, gzip+shuffle;
* ``status`` (n, int8: 0 pending, 1 done, 2 failed), ``error`` (UTF-8 message of failed runs),
  ``wall_time_s``, ``n_steps``, ``conservation_error`` per trajectory.

Resuming: rerunning with the same arguments keeps every finished or failed trajectory and solves only
the pending ones. Each result is flushed as it is written, so an interrupted run (Ctrl-C, an exception,
or SIGKILL while trajectories are being solved, which is nearly all of the time; all tested) loses at
most the trajectories in flight. A kill in the middle of the few-millisecond write itself can still
damage the file: HDF5 has no journal.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np
from scipy.stats import qmc

from engine.astrochem.network import load_network
from engine.astrochem.physics import PARAM_NAMES, VALID_BOX, ElementalAbundances, PhysicalParams, time_grid_yr
from engine.astrochem.solver import SolverConfig, SolverError, solve
from engine.errors import InputError
from engine.execution import ExecutionSpec, stream

LAYOUT_VERSION = 1
MAX_TRAJECTORIES = 100_000  # trajectories one dataset file may hold
PENDING, DONE, FAILED = 0, 1, 2


def sample_parameters(n: int, seed: int, box: dict[str, tuple[float, float]] = VALID_BOX) -> np.ndarray:
    """``n`` parameter sets (n, 5), a Latin hypercube in log10 space over ``box`` (columns: PARAM_NAMES)."""
    if isinstance(n, bool) or not (isinstance(n, int | np.integer) and 1 <= n <= MAX_TRAJECTORIES):
        raise InputError(f"n must be an integer in [1, {MAX_TRAJECTORIES}]; got {n!r}")
    low = np.log10([box[name][0] for name in PARAM_NAMES])
    high = np.log10([box[name][1] for name in PARAM_NAMES])
    unit = qmc.LatinHypercube(d=len(PARAM_NAMES), seed=seed).random(int(n))
    return 10.0 ** qmc.scale(unit, low, high)


# log10(BDF steps) ~ 2.449 + 0.092 log10(n_H / cm^-3) - 0.038 log10(T / K): a least-squares fit to the 1,000
# trajectories of the emulator's training set (`astro dataset --n 1000 --seed 1`), R^2 = 0.97; G0, A_V and
# zeta move it by < 0.01 dex per decade
STEP_MODEL = (2.449, 0.092, -0.038)


def expected_steps(params: np.ndarray) -> np.ndarray:
    """Expected BDF steps of a 1-Myr run per parameter row (n, 5): its relative cost, for scheduling."""
    params = np.atleast_2d(np.asarray(params, dtype=np.float64))
    intercept, density, temperature = STEP_MODEL
    return 10.0 ** (intercept + density * np.log10(params[:, 0]) + temperature * np.log10(params[:, 1]))


def _manifest(n: int, seed: int, t_end_yr: float, n_out: int, config: SolverConfig) -> dict:
    network = load_network()
    return {"layout_version": LAYOUT_VERSION, "network_sha256": network.sha256, "network_source": network.source,
            "param_names": list(PARAM_NAMES), "param_units": ["cm^-3", "K", "Habing", "mag", "s^-1"],
            "param_box": {k: list(v) for k, v in VALID_BOX.items()}, "sampling": "latin hypercube in log10",
            "seed": int(seed), "n": int(n), "t_end_yr": float(t_end_yr), "n_out": int(n_out),
            "solver": {"method": "BDF", **asdict(config)}, "abundance_units": "relative to n_H",
            "elemental_abundances": asdict(ElementalAbundances())}


def _create(handle: h5py.File, manifest: dict, params: np.ndarray) -> None:
    network = load_network()
    n, n_out, n_species = manifest["n"], manifest["n_out"], network.n_species
    handle.attrs["manifest"] = json.dumps(manifest, sort_keys=True)
    handle.create_dataset("times_yr", data=time_grid_yr(manifest["t_end_yr"], n_out))
    handle.create_dataset("species", data=np.array(network.species, dtype=object), dtype=h5py.string_dtype())
    handle.create_dataset("params", data=params)
    handle.create_dataset("abundances", shape=(n, n_out, n_species), dtype="f4", chunks=(1, n_out, n_species),
                          compression="gzip", compression_opts=4, shuffle=True, fillvalue=np.nan)
    handle.create_dataset("status", shape=(n,), dtype="i1", fillvalue=PENDING)
    handle.create_dataset("error", shape=(n,), dtype=h5py.string_dtype())
    for name in ("wall_time_s", "conservation_error"):
        handle.create_dataset(name, shape=(n,), dtype="f8", fillvalue=np.nan)
    handle.create_dataset("n_steps", shape=(n,), dtype="i4", fillvalue=-1)


def read_manifest(path: str | Path) -> dict:
    """The manifest of a dataset file; an unreadable or foreign file is an :class:`InputError`."""
    try:
        with h5py.File(path, "r") as handle:
            return _parsed_manifest(handle, path)
    except OSError as error:
        raise InputError(f"{path} is not a readable HDF5 file ({error}).") from None


def _parsed_manifest(handle: h5py.File, path) -> dict:
    try:
        manifest = json.loads(handle.attrs["manifest"])
    except KeyError:
        raise InputError(f"{path} is not an `astro dataset` file (no manifest).") from None
    except (TypeError, ValueError):
        raise InputError(f"{path} has a corrupt manifest (not JSON).") from None
    if not isinstance(manifest, dict):
        raise InputError(f"{path} has a corrupt manifest (not a JSON object).")
    return manifest


def _run_one(task: dict) -> dict:
    """Solve one trajectory (``task``: row, t_end_yr, n_out, config); a solver failure is data, not a crash."""
    try:
        trajectory = solve(PhysicalParams.from_array(task["row"]), t_end_yr=task["t_end_yr"], n_out=task["n_out"],
                           config=task["config"])
    except SolverError as error:
        return {"error": str(error)}
    return {"abundances": trajectory.abundances.astype(np.float32),
            "wall_time_s": trajectory.wall_time_s, "n_steps": trajectory.n_steps,
            "conservation_error": trajectory.conservation_error}


def generate_dataset(path: str | Path, n: int, seed: int = 0, spec: ExecutionSpec | None = None,
                     t_end_yr: float = 1e6, n_out: int = 64, config: SolverConfig | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     on_cluster: Callable[[str | None], None] | None = None) -> dict:
    """Create or resume the dataset at ``path``, solving on ``spec`` (default: this process).

    ``progress(finished, total)`` is called after every written trajectory (finished includes those of
    earlier, interrupted runs); ``on_cluster`` receives the Dask dashboard link when one starts.
    """
    config = config or SolverConfig()
    if not (isinstance(n, int | np.integer) and n >= 1):
        raise InputError(f"n must be a positive integer; got {n!r}")
    time_grid_yr(t_end_yr, n_out)  # validates the grid arguments
    manifest = json.loads(json.dumps(_manifest(n, seed, t_end_yr, n_out, config)))  # as stored (JSON types)
    path = Path(path)
    start = time.perf_counter()
    try:
        handle = h5py.File(path, "a")
    except OSError as error:
        raise InputError(f"cannot open the dataset file {path} for writing: {error}") from None
    with handle:
        if "manifest" in handle.attrs:
            found = _parsed_manifest(handle, path)
            if found != manifest:
                changed = sorted(k for k in manifest if found.get(k) != manifest[k])
                raise InputError(f"{path} holds a different dataset (differs in: {', '.join(changed)}); "
                                 "use another --out file or the original arguments to resume")
        elif len(handle) or len(handle.attrs):  # someone else's HDF5 file: never modify it
            raise InputError(f"{path} is an HDF5 file but not an `astro dataset` file; choose another --out file")
        else:
            _create(handle, manifest, sample_parameters(n, seed))
        status = handle["status"][:]
        pending = np.flatnonzero(status == PENDING)
        params = handle["params"][:]
        finished = int(n - len(pending))
        # longest first: the short runs fill the gaps at the end, so no worker idles behind a straggler
        pending = pending[np.argsort(-expected_steps(params[pending]), kind="stable")] if len(pending) else pending
        tasks = [(int(i), {"row": params[i], "t_end_yr": t_end_yr, "n_out": n_out, "config": config})
                 for i in pending]
        for i, result, crash in stream(_run_one, tasks, spec, retries=1, on_client=on_cluster):
            if crash is not None or "error" in result:
                handle["error"][i] = crash or result["error"]
                handle["status"][i] = FAILED
            else:
                handle["abundances"][i] = result["abundances"]
                for key in ("wall_time_s", "n_steps", "conservation_error"):
                    handle[key][i] = result[key]
                handle["status"][i] = DONE
            handle.flush()
            finished += 1
            if progress is not None:
                progress(finished, n)
        status = handle["status"][:]
        walls = handle["wall_time_s"][:][status == DONE]
        worst = handle["conservation_error"][:][status == DONE]
    return {"path": str(path), "n": int(n), "done": int(np.sum(status == DONE)),
            "failed": int(np.sum(status == FAILED)), "pending": int(np.sum(status == PENDING)),
            "solved_this_run": int(len(pending)), "wall_time_s": time.perf_counter() - start,
            "median_s_per_trajectory": float(np.median(walls)) if len(walls) else math.nan,
            "worst_conservation_error": float(np.max(worst)) if len(worst) else math.nan}
