"""Parameter sweeps: grids over one or two recipe fields around a base recipe, simulated in one batch."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.errors import InputError, TwinLabError
from engine.synthesis.schemas import FIELD_SPECS, LITERATURE_RECIPE, NUMERIC_FIELDS, SOLVENT_NAMES, Recipe
from engine.synthesis.simulation import PHASE_NAMES, simulate_batch

MAX_POINTS = 250_000  # in memory (the page and a single table file)
MAX_CHUNKED_POINTS = 100_000_000  # streamed to a folder of chunk files
_SPEC = re.compile(r"^\s*([a-z_]+)\s*=\s*([^:]+):([^:]+):([^:]+)\s*$")


@dataclass(frozen=True)
class Axis:
    """One swept field: ``count`` evenly spaced values from ``start`` to ``stop`` (inclusive)."""

    name: str
    start: float
    stop: float
    count: int

    def values(self) -> np.ndarray:
        return np.linspace(self.start, self.stop, self.count)


def make_axis(name: str, start: float, stop: float, count: int) -> Axis:
    """Validated :class:`Axis` (field must be numeric; ends within its range; 1 ≤ count ≤ 1000)."""
    if name not in FIELD_SPECS:
        raise InputError(f"cannot sweep {name!r}; sweepable fields: {', '.join(NUMERIC_FIELDS)}.")
    spec = FIELD_SPECS[name]
    for label, value in (("start", start), ("stop", stop)):
        if not np.isfinite(value) or not spec.low <= value <= spec.high:
            raise InputError(f"{name} sweep {label} = {value!r} is outside the allowed range "
                             f"[{spec.low:g}, {spec.high:g}] {spec.unit}.")
    if not 1 <= int(count) <= 1000 or int(count) != count:
        raise InputError(f"{name} sweep count = {count!r} must be an integer in [1, 1000].")
    return Axis(name, float(start), float(stop), int(count))


def parse_axis(text: str) -> Axis:
    """Parse ``NAME=START:STOP:N`` (as given to ``--vary``)."""
    match = _SPEC.match(text)
    if not match:
        raise InputError(f"--vary {text!r} must look like NAME=START:STOP:N, e.g. temperature_c=140:200:31.")
    name, start, stop, count = match.groups()
    try:
        return make_axis(name, float(start), float(stop), int(count))
    except ValueError:
        raise InputError(f"--vary {text!r}: START and STOP must be numbers and N an integer.") from None


def _check_axes(axes: list[Axis], max_axes: int, max_points: int) -> int:
    if not 1 <= len(axes) <= max_axes or len({a.name for a in axes}) != len(axes):
        raise InputError(f"give one to {max_axes} different fields to sweep.")
    total = int(np.prod([axis.count for axis in axes]))
    if total > max_points:
        raise InputError(f"sweep has {total} points; the maximum is {max_points}.")
    return total


def grid_rows(axes: list[Axis], base: Recipe, start: int, stop: int) -> dict[str, np.ndarray]:
    """Recipe columns of grid points ``start`` … ``stop - 1`` (C order over ``axes``), built lazily."""
    index = np.unravel_index(np.arange(start, stop), [axis.count for axis in axes])
    columns = {name: np.full(stop - start, float(getattr(base, name))) for name in NUMERIC_FIELDS}
    for axis, positions in zip(axes, index, strict=True):
        columns[axis.name] = axis.values()[positions]
    columns["solvent"] = np.full(stop - start, SOLVENT_NAMES.index(base.solvent))
    return columns


def simulate_rows(axes: list[Axis], base: Recipe, start: int, stop: int,
                  path: str | None = None) -> dict[str, np.ndarray]:
    """Recipe columns and every output of grid points ``start`` … ``stop - 1`` (``phase`` as names)."""
    columns = grid_rows(axes, base, start, stop)
    results = simulate_batch(columns, path)
    rows = {name: columns[name] for name in NUMERIC_FIELDS}
    rows.update({key: values for key, values in results.items() if key != "phase_index"})
    rows["phase"] = np.asarray(PHASE_NAMES)[results["phase_index"]]
    return rows


def sweep(axes: list[Axis], base: Recipe = LITERATURE_RECIPE, chunk: int = 2000,
          progress: Callable[[float], bool | None] | None = None, spec=None,
          on_client: Callable[[str | None], None] | None = None, path: str | None = None) -> pd.DataFrame:
    """Simulate the full grid of ``axes`` (1 or 2) around ``base``; one row per grid point.

    Columns: the swept fields, every recipe field, the phase probabilities ``p_<phase>``, ``phase`` and the
    outputs of :func:`engine.synthesis.simulation.simulate_batch`; the index is the grid point (C order).
    ``progress(fraction)`` is called per chunk; a truthy return stops the sweep there and the frame holds
    the finished chunks only (``frame.attrs["stopped"]``). ``spec`` (an :class:`engine.execution.ExecutionSpec`)
    runs the chunks on joblib or Dask instead of in this process; ``on_client`` gets the Dask dashboard link;
    ``path`` picks the batch solver (see ``simulate_batch``).
    """
    from engine.execution import stream
    from engine.progress import report

    total = _check_axes(axes, 2, MAX_POINTS)
    axes_spec = [[axis.name, axis.start, axis.stop, axis.count] for axis in axes]
    todo = [(index, {"axes": axes_spec, "base": base.to_dict(), "start": start, "stop": min(total, start + chunk),
                     "path": path})
            for index, start in enumerate(range(0, total, chunk))]
    parts, stopped, rows_done = {}, False, 0
    if spec is None or spec.mode == "inprocess":
        results = ((index, _sweep_chunk(params), None) for index, params in todo)
    else:
        results = stream(_sweep_chunk, todo, spec, on_client=on_client)
    for index, rows, error in results:
        if error is not None:
            raise TwinLabError(f"sweep chunk {index} failed: {error}")
        parts[index] = rows
        rows_done += todo[index][1]["stop"] - todo[index][1]["start"]
        if report(progress, rows_done / total) and len(parts) < len(todo):
            stopped = True
            break
    if hasattr(results, "close"):
        results.close()  # a stopped Dask run cancels its chunks in flight
    order = sorted(parts)
    frame = pd.DataFrame({key: np.concatenate([parts[i][key] for i in order]) for key in parts[order[0]]},
                         index=np.concatenate([np.arange(todo[i][1]["start"], todo[i][1]["stop"]) for i in order])
                         if stopped else None)
    frame.insert(len(NUMERIC_FIELDS), "solvent", base.solvent)
    frame["phase"] = frame["phase"].astype(object)
    frame.attrs["stopped"] = stopped
    frame.attrs["total"] = total
    return frame


def _sweep_chunk(params: dict) -> dict[str, np.ndarray]:
    axes = [Axis(*axis) for axis in params["axes"]]
    return simulate_rows(axes, Recipe(**params["base"]), params["start"], params["stop"], params.get("path"))


def sweep_to_folder(axes: list[Axis], out_dir: str, base: Recipe = LITERATURE_RECIPE, spec=None,
                    chunk_rows: int = 50_000, progress: Callable[[int, int], None] | None = None,
                    on_client: Callable[[str | None], None] | None = None):
    """Stream a sweep of up to three axes (≤ :data:`MAX_CHUNKED_POINTS` points) to Parquet chunks in ``out_dir``.

    Runs through :func:`engine.execution.run_chunked` (in-process, joblib or Dask per ``spec``); memory holds a
    few chunks of ``chunk_rows`` rows; rerunning the same sweep into the same folder resumes it.
    """
    from engine.execution import run_chunked

    total = _check_axes(axes, 3, MAX_CHUNKED_POINTS)
    axes_spec = [[axis.name, axis.start, axis.stop, axis.count] for axis in axes]
    config = {"job": "synth.sweep", "axes": axes_spec, "base": base.to_dict(), "chunk_rows": chunk_rows}
    chunks = [{"axes": axes_spec, "base": base.to_dict(), "start": start, "stop": min(total, start + chunk_rows)}
              for start in range(0, total, chunk_rows)]
    return run_chunked(_sweep_chunk, chunks, out_dir, config=config, spec=spec, progress=progress,
                       on_client=on_client, fmt="parquet")


def write_table(frame: pd.DataFrame, path: str) -> None:
    """Write ``frame`` as CSV or Parquet, chosen by the file extension."""
    if path.endswith(".csv"):
        frame.to_csv(path, index=False)
    elif path.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        raise InputError(f"--out {path!r} must end in .csv or .parquet, or be a folder (no extension) for a "
                         "chunked sweep.")
