"""Training sets for the surrogates: quasi-random recipes, stratified by phase, with a manifest.

Recipes are drawn with a scrambled Sobol sequence (``scipy.stats.qmc``) over a box of ranges (Cs:Pb, [Pb] and
reaction time log-uniform; temperature capped at each solvent's boiling point). The surrogates train on
:data:`TRAINING_BOX`, a box strictly inside the allowed ranges of the schema, so that valid recipes outside it
exist and the surrogates' out-of-domain flag can be tested; :data:`SCHEMA_BOX` is the full allowed range. ``oversample``
times more candidates than requested are simulated; each phase (most likely phase) then gets an equal
quota, filled from the others when a phase is rarer than its quota. The class balance is reported.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import qmc

import engine
from engine.errors import InputError
from engine.synthesis.schemas import FIELD_SPECS, NUMERIC_FIELDS, SOLVENT_NAMES, SOLVENTS
from engine.synthesis.simulation import PHASE_NAMES, simulate_batch

LOG_FIELDS = ("cs_pb_ratio", "pb_concentration_m", "reaction_time_s")
MAX_ROWS = 1_000_000
SCHEMA_BOX: dict[str, tuple[float, float]] = {name: (spec.low, spec.high) for name, spec in FIELD_SPECS.items()}
# Training domain of the surrogates (units of FIELD_SPECS): every field narrower than the schema's allowed range;
# the literature recipe lies well inside.
TRAINING_BOX: dict[str, tuple[float, float]] = {
    "temperature_c": (100.0, 230.0), "cs_pb_ratio": (0.08, 2.5), "pb_concentration_m": (0.008, 0.12),
    "oleic_acid_ml": (0.2, 2.5), "oleylamine_ml": (0.2, 2.5), "reaction_time_s": (2.0, 1800.0),
    "water_ppm": (0.0, 1500.0)}


def sample_recipes(n: int, seed: int, box: dict | None = None, start: int = 0) -> dict[str, np.ndarray]:
    """Recipes ``start`` … ``start + n - 1`` of the scrambled Sobol sequence of ``seed`` (deterministic) over
    ``box`` (default :data:`SCHEMA_BOX`), as columns."""
    box = SCHEMA_BOX if box is None else box
    sobol = qmc.Sobol(d=len(NUMERIC_FIELDS) + 1, scramble=True, seed=seed)
    if start:
        sobol.fast_forward(start)
        unit = sobol.random(n)
    else:
        unit = sobol.random_base2(max(int(np.ceil(np.log2(max(n, 2)))), 1))[:n]
    columns = {}
    solvent = np.minimum((unit[:, -1] * len(SOLVENT_NAMES)).astype(int), len(SOLVENT_NAMES) - 1)
    for j, name in enumerate(NUMERIC_FIELDS):
        low, high = box[name]
        if name == "temperature_c":
            high = np.minimum(high, np.array([SOLVENTS[s].boiling_c for s in SOLVENT_NAMES])[solvent])
        if name in LOG_FIELDS:
            columns[name] = np.exp(np.log(low) + unit[:, j] * (np.log(high) - np.log(low)))
        else:
            columns[name] = low + unit[:, j] * (high - low)
    columns["solvent"] = solvent
    return columns


def stratified_indices(labels: np.ndarray, n: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` rows with as equal a count per label as the candidates allow."""
    pools = [rng.permutation(np.flatnonzero(labels == k)) for k in range(n_classes)]
    take = np.zeros(n_classes, dtype=int)
    remaining = n
    while remaining > 0:
        open_classes = [k for k in range(n_classes) if take[k] < pools[k].size]
        if not open_classes:
            break
        share = max(1, remaining // len(open_classes))
        for k in open_classes:
            extra = min(share, pools[k].size - take[k], remaining)
            take[k] += extra
            remaining -= extra
    return np.sort(np.concatenate([pool[:count] for pool, count in zip(pools, take, strict=True)]))


def _candidate_chunk(params: dict) -> dict[str, np.ndarray]:
    """Recipe columns and simulated outputs of Sobol candidates ``start`` … ``stop - 1`` (one execution chunk)."""
    columns = sample_recipes(params["stop"] - params["start"], params["seed"], params["box"], params["start"])
    return {**columns, **simulate_batch(columns)}


def simulate_candidates(n: int, seed: int, box: dict, spec=None, chunk_rows: int = 50_000,
                        progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """The first ``n`` Sobol candidates of ``seed`` over ``box`` and their outputs, simulated in chunks on ``spec``
    (:class:`engine.execution.ExecutionSpec`: in-process, joblib or Dask); the same numbers on every path."""
    from engine.execution import JobFailed, stream

    chunks = [{"seed": seed, "box": box, "start": start, "stop": min(n, start + chunk_rows)}
              for start in range(0, n, chunk_rows)]
    parts, failures = {}, []
    for index, arrays, error in stream(_candidate_chunk, list(enumerate(chunks)), spec):
        if error is None:
            parts[index] = arrays
        else:
            failures.append({"chunk": index, "params": chunks[index], "error": error})
        if progress is not None:
            progress(len(parts) + len(failures), len(chunks))
    if failures:
        raise JobFailed(failures)
    return {key: np.concatenate([parts[i][key] for i in range(len(chunks))]) for key in parts[0]}


def build_dataset(n: int, seed: int, oversample: int = 4, box: dict | None = None, spec=None,
                  chunk_rows: int = 50_000, progress: Callable[[int, int], None] | None = None
                  ) -> tuple[pd.DataFrame, dict]:
    """A stratified table of ``n`` simulated recipes drawn from ``box`` (default :data:`SCHEMA_BOX`) and its
    manifest (dict).

    The ``oversample * n`` candidates are simulated through :func:`simulate_candidates` (``spec``, ``chunk_rows``,
    ``progress``); the table does not depend on the execution path or the chunk size.
    """
    if not 10 <= n <= MAX_ROWS:
        raise InputError(f"--n = {n} must be in [10, {MAX_ROWS}].")
    start = time.perf_counter()
    box = SCHEMA_BOX if box is None else box
    simulated = simulate_candidates(oversample * n, seed, box, spec, chunk_rows, progress)
    candidates = {name: simulated.pop(name) for name in (*NUMERIC_FIELDS, "solvent")}
    results = simulated
    chosen = stratified_indices(results["phase_index"], n, len(PHASE_NAMES), np.random.default_rng(seed))
    frame = pd.DataFrame({name: candidates[name][chosen] for name in NUMERIC_FIELDS})
    frame["solvent"] = np.asarray(SOLVENT_NAMES, dtype=object)[candidates["solvent"][chosen]]
    for key, values in results.items():
        if key != "phase_index":
            frame[key] = values[chosen]
    frame["phase"] = np.asarray(PHASE_NAMES, dtype=object)[results["phase_index"][chosen]]
    balance = {name: int((frame["phase"] == name).sum()) for name in PHASE_NAMES}
    candidate_balance = {name: int((results["phase_index"] == i).sum()) for i, name in enumerate(PHASE_NAMES)}
    manifest = {
        "twin": "synthesis", "engine_version": engine.__version__, "rows": int(len(frame)), "seed": seed,
        "sampler": "scipy.stats.qmc.Sobol(scramble=True)", "oversample": oversample,
        "ranges": {name: {"low": box[name][0], "high": box[name][1],
                          "unit": FIELD_SPECS[name].unit, "scale": "log" if name in LOG_FIELDS else "linear"}
                   for name in NUMERIC_FIELDS},
        "solvents": list(SOLVENT_NAMES), "class_balance": balance, "candidate_class_balance": candidate_balance,
        "min_class_fraction": min(balance.values()) / len(frame), "seconds": round(time.perf_counter() - start, 2),
    }
    return frame, manifest


def write_dataset(frame: pd.DataFrame, manifest: dict, path: str) -> dict:
    """Write Parquet (``path`` must end in ``.parquet``) plus ``<path>.manifest.json``."""
    out = Path(path)
    if out.suffix != ".parquet":
        raise InputError(f"--out {path!r} must end in .parquet.")
    frame.to_parquet(out, index=False)
    manifest = {**manifest, "data_file": out.name}
    out.with_name(out.name + ".manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
