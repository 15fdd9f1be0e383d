"""Parameter sweeps: grids over one or two recipe fields around a base recipe, simulated in one batch."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.synthesis.schemas import FIELD_SPECS, LITERATURE_RECIPE, NUMERIC_FIELDS, SOLVENT_NAMES, Recipe
from engine.synthesis.simulation import PHASE_NAMES, simulate_batch

MAX_POINTS = 250_000
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


def sweep(axes: list[Axis], base: Recipe = LITERATURE_RECIPE, chunk: int = 2000,
          progress: Callable[[float], None] | None = None) -> pd.DataFrame:
    """Simulate the full grid of ``axes`` (1 or 2) around ``base``; one row per grid point.

    Columns: the swept fields, every recipe field, the phase probabilities ``p_<phase>``, ``phase`` and the
    outputs of :func:`engine.synthesis.simulation.simulate_batch`. ``progress(fraction)`` is called per chunk.
    """
    if not 1 <= len(axes) <= 2 or len({a.name for a in axes}) != len(axes):
        raise InputError("give one or two different fields to sweep.")
    grids = np.meshgrid(*[axis.values() for axis in axes], indexing="ij")
    total = grids[0].size
    if total > MAX_POINTS:
        raise InputError(f"sweep has {total} points; the maximum is {MAX_POINTS}.")
    columns = {name: np.full(total, float(getattr(base, name))) for name in NUMERIC_FIELDS}
    for axis, grid in zip(axes, grids, strict=True):
        columns[axis.name] = grid.ravel()
    columns["solvent"] = np.full(total, SOLVENT_NAMES.index(base.solvent))
    parts = []
    for start in range(0, total, chunk):
        parts.append(simulate_batch({k: v[start:start + chunk] for k, v in columns.items()}))
        if progress is not None:
            progress(min(1.0, (start + chunk) / total))
    results = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    frame = pd.DataFrame({name: columns[name] for name in NUMERIC_FIELDS})
    frame["solvent"] = base.solvent
    for key, values in results.items():
        if key != "phase_index":
            frame[key] = values
    frame["phase"] = np.asarray(PHASE_NAMES, dtype=object)[results["phase_index"]]
    return frame


def write_table(frame: pd.DataFrame, path: str) -> None:
    """Write ``frame`` as CSV or Parquet, chosen by the file extension."""
    if path.endswith(".csv"):
        frame.to_csv(path, index=False)
    elif path.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        raise InputError(f"--out {path!r} must end in .csv or .parquet.")
