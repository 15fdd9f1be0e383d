"""Inverse design: recipes whose PL peak hits a target, searched on a surrogate, verified by the physics.

Search: a scrambled Sobol batch of candidate recipes (fixed fields pinned) is screened by the surrogate
(score = expected distance to the target plus a penalty for a wrong phase), the best are simulated by the
physics engine, then two rounds of local refinement perturb the best verified recipes in the unit cube
(log scale for Cs:Pb, [Pb] and time), screen again and verify again. Only physics-verified recipes are
returned, ranked by verified error, each with the surrogate's prediction and uncertainty.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from engine.errors import InputError
from engine.synthesis.dataset import LOG_FIELDS, TRAINING_BOX, sample_recipes
from engine.synthesis.schemas import FIELD_SPECS, NUMERIC_FIELDS, SOLVENT_NAMES, SOLVENTS, check_solvent
from engine.synthesis.simulation import PHASE_NAMES, simulate_batch

PL_RANGE_NM = (400.0, 530.0)
EMISSIVE = ("cube", "platelet")


@dataclass(frozen=True)
class DesignTarget:
    """What to hit: PL peak (nm) within ``tolerance_nm``, the phase, an optional FWHM cap, fixed fields."""

    pl_nm: float
    phase: str = "cube"
    max_fwhm_nm: float | None = None
    tolerance_nm: float = 2.0
    fixed: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not PL_RANGE_NM[0] <= self.pl_nm <= PL_RANGE_NM[1]:
            raise InputError(f"target_pl_nm = {self.pl_nm!r} is outside the reachable range "
                             f"[{PL_RANGE_NM[0]:g}, {PL_RANGE_NM[1]:g}] nm.")
        if self.phase not in EMISSIVE:
            raise InputError(f"phase {self.phase!r} cannot be designed for PL; allowed: {', '.join(EMISSIVE)}.")
        if self.max_fwhm_nm is not None and not 5.0 <= self.max_fwhm_nm <= 200.0:
            raise InputError(f"max_fwhm_nm = {self.max_fwhm_nm!r} must be in [5, 200] nm.")
        if not 0.1 <= self.tolerance_nm <= 50.0:
            raise InputError(f"tolerance_nm = {self.tolerance_nm!r} must be in [0.1, 50] nm.")
        for name, value in self.fixed.items():
            if name == "solvent":
                check_solvent(value)
            elif name in FIELD_SPECS:
                spec = FIELD_SPECS[name]
                if not spec.low <= float(value) <= spec.high:
                    raise InputError(f"fixed {name} = {value!r} is outside [{spec.low:g}, {spec.high:g}] {spec.unit}.")
            else:
                raise InputError(f"cannot fix {name!r}; allowed: {', '.join(NUMERIC_FIELDS + ('solvent',))}.")


def parse_fix(items: list[str]) -> dict:
    """``["FIELD=VALUE", ...]`` → dict (numbers as float, solvent as name)."""
    fixed = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--fix {item!r} must look like FIELD=VALUE, e.g. temperature_c=170.")
        try:
            fixed[name.strip()] = value.strip() if name.strip() == "solvent" else float(value)
        except ValueError:
            raise InputError(f"--fix {item!r}: VALUE must be a number.") from None
    return fixed


def _pin(columns: dict, fixed: dict) -> dict:
    """Apply fixed fields; drop rows whose temperature exceeds the solvent's boiling point."""
    n = columns["temperature_c"].size
    for name, value in fixed.items():
        columns[name] = np.full(n, SOLVENT_NAMES.index(value) if name == "solvent" else float(value))
    columns["solvent"] = columns["solvent"].astype(np.int64)
    boiling = np.array([SOLVENTS[s].boiling_c for s in SOLVENT_NAMES])[columns["solvent"]]
    ok = columns["temperature_c"] <= boiling
    return {k: v[ok] for k, v in columns.items()}


def _to_unit(columns: dict) -> np.ndarray:
    cols = []
    for name in NUMERIC_FIELDS:
        spec, v = FIELD_SPECS[name], columns[name]
        if name in LOG_FIELDS:
            cols.append((np.log(v) - np.log(spec.low)) / (np.log(spec.high) - np.log(spec.low)))
        else:
            cols.append((v - spec.low) / (spec.high - spec.low))
    return np.column_stack(cols)


def _from_unit(unit: np.ndarray, solvent: np.ndarray) -> dict:
    unit = np.clip(unit, 0.0, 1.0)
    out = {}
    for j, name in enumerate(NUMERIC_FIELDS):
        spec = FIELD_SPECS[name]
        if name in LOG_FIELDS:
            out[name] = np.exp(np.log(spec.low) + unit[:, j] * (np.log(spec.high) - np.log(spec.low)))
        else:
            out[name] = spec.low + unit[:, j] * (spec.high - spec.low)
    out["solvent"] = solvent
    return out


def _screen(model, columns: dict, target: DesignTarget, keep: int) -> dict:
    pred = model.predict_with_uncertainty(columns)
    p_phase = pred["proba"][:, PHASE_NAMES.index(target.phase)]
    sigma = (pred["pl_peak_nm_high"] - pred["pl_peak_nm_low"]) / (2 * 1.6449)
    score = np.sqrt((pred["pl_peak_nm"] - target.pl_nm) ** 2 + sigma**2) + 30.0 * (1.0 - p_phase)
    best = np.argsort(score)[:keep]
    return {k: v[best] for k, v in columns.items()}


def _verify(columns: dict, target: DesignTarget) -> tuple[dict, np.ndarray]:
    sim = simulate_batch(columns)
    error = np.abs(sim["pl_peak_nm"] - target.pl_nm)
    bad = (sim["phase_index"] != PHASE_NAMES.index(target.phase)) | ~np.isfinite(error)
    if target.max_fwhm_nm is not None:
        bad |= ~(sim["pl_fwhm_nm"] <= target.max_fwhm_nm)
    return sim, np.where(bad, np.inf, error)


def design(model, target: DesignTarget, *, candidates: int = 16384, verify: int = 64, rounds: int = 2,
           top: int = 5, seed: int = 0) -> dict:
    """Physics-verified recipes for ``target`` found with surrogate ``model`` (see module docstring)."""
    if isinstance(top, bool) or not isinstance(top, int | np.integer) or not 1 <= top <= 100:
        raise InputError(f"top = {top!r} must be an integer in [1, 100].")
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    pool = _screen(model, _pin(sample_recipes(candidates, seed, TRAINING_BOX), target.fixed), target, verify)
    verified, errors, evaluated = [], [], 0
    for round_index in range(rounds + 1):
        sim, err = _verify(pool, target)
        evaluated += err.size
        verified.append((pool, sim))
        errors.append(err)
        if round_index == rounds:
            break
        all_err = np.concatenate(errors)
        all_cols = {k: np.concatenate([v[0][k] for v in verified]) for k in pool}
        parents = np.argsort(all_err)[:8]
        unit = _to_unit({k: v[parents] for k, v in all_cols.items()})
        width = 0.05 / (round_index + 1)
        children = np.repeat(unit, 256, axis=0) + rng.normal(0.0, width, (unit.shape[0] * 256, unit.shape[1]))
        cols = _pin(_from_unit(children, np.repeat(all_cols["solvent"][parents], 256)), target.fixed)
        pool = _screen(model, cols, target, verify)
    all_err = np.concatenate(errors)
    cols = {k: np.concatenate([v[0][k] for v in verified]) for k in pool}
    sims = {k: np.concatenate([v[1][k] for v in verified]) for k in ("pl_peak_nm", "pl_fwhm_nm", "edge_length_nm",
                                                                      "plqy")}
    order = [i for i in np.argsort(all_err) if np.isfinite(all_err[i])][:top]
    chosen = {k: v[order] for k, v in cols.items()}
    pred = model.predict_with_uncertainty(chosen) if order else {}
    rows = []
    for r, i in enumerate(order):
        recipe = {name: round(float(cols[name][i]), 5) for name in NUMERIC_FIELDS}
        recipe["solvent"] = SOLVENT_NAMES[int(cols["solvent"][i])]
        rows.append({
            "recipe": recipe,
            "verified": {"pl_peak_nm": float(sims["pl_peak_nm"][i]), "pl_fwhm_nm": float(sims["pl_fwhm_nm"][i]),
                         "edge_length_nm": float(sims["edge_length_nm"][i]), "plqy": float(sims["plqy"][i]),
                         "abs_error_nm": float(all_err[i]),
                         "within_tolerance": bool(all_err[i] <= target.tolerance_nm)},
            "predicted": {"pl_peak_nm": float(pred["pl_peak_nm"][r]),
                          "pl_interval_90_nm": [float(pred["pl_peak_nm_low"][r]), float(pred["pl_peak_nm_high"][r])],
                          "p_phase": float(pred["proba"][r, PHASE_NAMES.index(target.phase)]),
                          "entropy_nats": float(pred["entropy"][r]),
                          "mutual_information_nats": float(pred["mutual_information"][r])},
        })
    return {"target": {"pl_nm": target.pl_nm, "phase": target.phase, "max_fwhm_nm": target.max_fwhm_nm,
                       "tolerance_nm": target.tolerance_nm, "fixed": target.fixed},
            "found": bool(rows and rows[0]["verified"]["within_tolerance"]), "recipes": rows,
            "physics_evaluations": int(evaluated), "seconds": round(time.perf_counter() - start, 3)}
