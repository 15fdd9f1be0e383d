"""Lab results as CSV: per-row validation that keeps every valid row and explains every rejected one.

A lab CSV holds the recipe columns of :data:`engine.synthesis.schemas.FIELD_SPECS` plus ``solvent``, at least
one measured column (:data:`MEASURED`) and optionally ``sample_id`` and ``date``. Lines starting with ``#``
are comments. Each problem is reported as ``{"row", "column", "problem", "allowed"}`` (row = line number in
the file, header = 1); a row with any problem is rejected, the others are kept.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.synthesis.schemas import FIELD_SPECS, NUMERIC_FIELDS, SOLVENT_NAMES, SOLVENTS
from engine.synthesis.simulation import PHASE_NAMES

MAX_BYTES = 50 * 1024 * 1024
# Measured quantities: (low, high, unit) of physically plausible values.
MEASURED = {"pl_peak_nm": (380.0, 600.0, "nm"), "pl_fwhm_nm": (1.0, 200.0, "nm"),
            "edge_length_nm": (0.5, 1000.0, "nm")}
OPTIONAL = ("sample_id", "date", "phase")
ALLOWED_COLUMNS = NUMERIC_FIELDS + ("solvent",) + tuple(MEASURED) + OPTIONAL


@dataclass
class LabImport:
    """Valid rows (a DataFrame with the allowed columns) and the problems of the rejected rows."""

    valid: pd.DataFrame
    rejected: list[dict]


def _problems(frame: pd.DataFrame) -> list[dict]:
    issues = []
    for i, row in frame.iterrows():
        line = int(i) + 2
        for name in NUMERIC_FIELDS + tuple(k for k in MEASURED if k in frame.columns):
            low, high, unit = (FIELD_SPECS[name].low, FIELD_SPECS[name].high, FIELD_SPECS[name].unit) \
                if name in FIELD_SPECS else MEASURED[name]
            raw = row[name]
            if name in MEASURED and (raw is None or (isinstance(raw, str) and not raw.strip()) or pd.isna(raw)):
                continue  # measured values are optional per row
            value = pd.to_numeric(raw, errors="coerce")
            if pd.isna(value) or not np.isfinite(value):
                issues.append({"row": line, "column": name, "problem": f"not a finite number ({raw!r})",
                               "allowed": f"{low:g}–{high:g} {unit}"})
            elif not low <= value <= high:
                issues.append({"row": line, "column": name, "problem": f"{value:g} is out of range",
                               "allowed": f"{low:g}–{high:g} {unit}"})
        solvent = str(row["solvent"]).strip()
        if solvent not in SOLVENTS:
            issues.append({"row": line, "column": "solvent", "problem": f"unknown solvent {solvent!r}",
                           "allowed": ", ".join(SOLVENT_NAMES)})
        else:
            temp = pd.to_numeric(row["temperature_c"], errors="coerce")
            in_range = FIELD_SPECS["temperature_c"].low <= temp <= FIELD_SPECS["temperature_c"].high
            if in_range and temp > SOLVENTS[solvent].boiling_c:
                issues.append({"row": line, "column": "temperature_c", "problem": f"{temp:g} °C is above the "
                               f"boiling point of {solvent}", "allowed": f"≤ {SOLVENTS[solvent].boiling_c:g} °C"})
        if "phase" in frame.columns and not pd.isna(row["phase"]) and str(row["phase"]).strip() \
                and str(row["phase"]).strip() not in PHASE_NAMES:
            issues.append({"row": line, "column": "phase", "problem": f"unknown phase {row['phase']!r}",
                           "allowed": ", ".join(PHASE_NAMES)})
        measured = \
            [k for k in (*MEASURED, "phase") if k in frame.columns and not pd.isna(row[k]) and str(row[k]).strip()]
        if not measured:
            issues.append({"row": line, "column": "(measurements)", "problem": "no measured value in this row",
                           "allowed": "at least one of " + ", ".join((*MEASURED, "phase"))})
    return issues


def read_lab_csv(data: bytes | str) -> LabImport:
    """Validate a lab CSV (bytes or text, ≤ 50 MB). File-level problems (size, columns) raise InputError."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_BYTES:
        raise InputError(f"the CSV is {len(raw) / 1e6:.0f} MB; the limit is {MAX_BYTES // (1024 * 1024)} MB.")
    try:
        frame = pd.read_csv(io.BytesIO(raw), comment="#", dtype=str, skipinitialspace=True, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InputError(f"the file is not a readable CSV ({error}).") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    unknown = [c for c in frame.columns if c not in ALLOWED_COLUMNS]
    missing = [c for c in NUMERIC_FIELDS + ("solvent",) if c not in frame.columns]
    if unknown or missing:
        parts = ([f"unknown column(s) {', '.join(unknown)}"] if unknown else []) + (
            [f"missing recipe column(s) {', '.join(missing)}"] if missing else [])
        raise InputError(f"{'; '.join(parts)}. Allowed columns: {', '.join(ALLOWED_COLUMNS)} "
                         "(units as in the template data/synthesis/lab_template.csv).")
    issues = _problems(frame)
    duplicated = frame.duplicated(keep="first")  # empty cells are "" (keep_default_na=False): "nan" is an error
    if "sample_id" in frame.columns:
        duplicated |= frame["sample_id"].notna() & frame["sample_id"].duplicated(keep="first")
    for i in np.flatnonzero(duplicated.to_numpy()):
        issues.append({"row": int(i) + 2, "column": "(row)", "problem": "duplicate of an earlier row or sample_id",
                       "allowed": "each sample once"})
    bad_lines = {issue["row"] for issue in issues}
    keep = [i for i in range(len(frame)) if i + 2 not in bad_lines]
    valid = frame.iloc[keep].reset_index(drop=True)
    for name in NUMERIC_FIELDS + tuple(k for k in MEASURED if k in valid.columns):
        valid[name] = pd.to_numeric(valid[name], errors="coerce")
    valid["solvent"] = valid["solvent"].str.strip()
    return LabImport(valid=valid, rejected=sorted(issues, key=lambda x: x["row"]))


def compare_with_twin(valid: pd.DataFrame) -> pd.DataFrame:
    """Twin outputs beside the measurements: ``twin_<quantity>`` and ``residual_<quantity>`` (measured − twin)."""
    from engine.synthesis.simulation import simulate_batch

    if valid.empty:
        return valid.copy()
    sim = simulate_batch({name: valid[name].to_numpy(float) for name in NUMERIC_FIELDS} | {
        "solvent": valid["solvent"].to_numpy()})
    out = valid.copy()
    out["twin_phase"] = np.asarray(PHASE_NAMES, dtype=object)[sim["phase_index"]]
    for name in MEASURED:
        out[f"twin_{name}"] = sim[name]
        if name in out.columns:
            out[f"residual_{name}"] = out[name] - sim[name]
    return out


def _standardise(r: np.ndarray) -> np.ndarray:
    """Residuals (..., n) in robust standard deviations of their reference window (the first third, ≥ 5 rows)."""
    ref = r[..., : max(5, r.shape[-1] // 3)]
    centre = np.median(ref, axis=-1, keepdims=True)
    scale = 1.4826 * np.median(np.abs(ref - centre), axis=-1, keepdims=True)
    return (r - centre) / np.maximum(scale, 1e-9)


def _cusum_paths(z: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    upper, lower = np.zeros_like(z), np.zeros_like(z)
    for i in range(z.shape[-1]):
        upper[..., i] = np.maximum(0.0, (upper[..., i - 1] if i else 0.0) + z[..., i] - k)
        lower[..., i] = np.maximum(0.0, (lower[..., i - 1] if i else 0.0) - z[..., i] - k)
    return upper, lower


@lru_cache(maxsize=64)
def cusum_threshold(n: int, k: float = 0.5, false_alarm: float = 0.01, sims: int = 2000, seed: int = 0) -> float:
    """Decision limit h (standard deviations) at which a steady Gaussian series of ``n`` residuals, standardised
    like :func:`cusum` does, raises an alarm with probability ``false_alarm`` (Monte Carlo, seeded). Calibrating
    h to the series length and the short reference window keeps the false-alarm rate at its target."""
    z = _standardise(np.random.default_rng(seed).standard_normal((sims, n)))
    upper, lower = _cusum_paths(z, k)
    return float(np.quantile(np.maximum(upper, lower).max(axis=1), 1.0 - false_alarm))


def cusum(residuals: np.ndarray, k: float = 0.5, false_alarm: float = 0.01, h: float | None = None) -> dict:
    """Two-sided tabular CUSUM of residuals in time order, standardised by the median and robust scale (MAD) of
    a reference window (the first third, at least 5 rows), with allowance ``k``. The decision limit ``h`` (in
    standard deviations) defaults to :func:`cusum_threshold` for this length and ``false_alarm`` (1 %), so a
    steady series raises a false alarm about once in 100 series; ``alarm`` is the first index where either sum
    exceeds ``h`` (None if none)."""
    r = np.asarray(residuals, dtype=float)
    r = r[np.isfinite(r)]
    if r.size < 6:
        return {"upper": np.zeros(r.size), "lower": np.zeros(r.size), "alarm": None, "h": h}
    h = cusum_threshold(int(r.size), float(k), float(false_alarm)) if h is None else float(h)
    upper, lower = _cusum_paths(_standardise(r), k)
    hits = np.flatnonzero((upper > h) | (lower > h))
    return {"upper": upper, "lower": lower, "alarm": int(hits[0]) if hits.size else None, "h": h}
