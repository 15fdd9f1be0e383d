"""Adapting a surrogate to the user's lab data, with cross-validation that shows whether it helped.

Two corrections, both fitted on the lab rows only and applied by wrapping the shipped model (which is never
modified or saved over): a temperature for the phase probabilities (rows with a measured phase), and a residual
correction per measured quantity (PL peak and FWHM in nm, edge length in log space): a ridge regression of the
residual (measured − surrogate) on the standardised recipe features, its strength chosen by inner
cross-validation. Each correction is scored by K-fold cross-validation on the lab rows (fit on K − 1 folds,
score the held-out fold): negative log-likelihood of the measured phase, and mean absolute error, before and
after. ``helped`` says whether the held-out error went down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold

from engine.errors import InputError
from engine.synthesis.models import calibration as cal
from engine.synthesis.schemas import NUMERIC_FIELDS
from engine.synthesis.simulation import PHASE_NAMES

QUANTITIES = {"pl_peak_nm": False, "pl_fwhm_nm": False, "edge_length_nm": True}  # name -> corrected in log space
MIN_ROWS = 6
ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)


def _columns(frame: pd.DataFrame) -> dict:
    return {name: frame[name].to_numpy(float) for name in NUMERIC_FIELDS} | {"solvent": frame["solvent"].to_numpy()}


def _folds(n: int, folds: int, seed: int):
    return KFold(min(folds, n), shuffle=True, random_state=seed).split(np.arange(n))


def _residual_fit(features: np.ndarray, residual: np.ndarray) -> RidgeCV:
    return RidgeCV(alphas=ALPHAS).fit(features, residual)


@dataclass
class AdaptedSurrogate:
    """The shipped model plus lab-fitted corrections; :meth:`predict` applies them (the model is unchanged)."""

    model: object
    temperature: float | None = None
    corrections: dict = field(default_factory=dict)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Surrogate and adapted predictions (``adapted_<quantity>``, ``adapted_p_<phase>``) for recipe rows, and
        each row's distance to the training data (``domain_distance`` > 1: outside the surrogate's domain)."""
        columns = _columns(frame)
        out = self.model.predict_with_uncertainty(columns)
        table = pd.DataFrame({f"surrogate_{q}": out[q] for q in QUANTITIES} | {
            "domain_distance": out["domain_distance"], "outside_training_domain": out["domain_distance"] > 1.0})
        features = self.model.features_.transform(columns)
        for name, ridge in self.corrections.items():
            base = np.log(out[name]) if QUANTITIES[name] else out[name]
            fixed = base + ridge.predict(features)
            table[f"adapted_{name}"] = np.exp(fixed) if QUANTITIES[name] else fixed
        if self.temperature is not None:
            logits = self.model._samples(features)[0]
            proba = cal.mean_and_mutual_information(logits, self.temperature)[0]
            for i, phase in enumerate(PHASE_NAMES):
                table[f"adapted_p_{phase}"] = proba[:, i]
        return table


def adapt(model, lab: pd.DataFrame, folds: int = 5, seed: int = 0) -> tuple[AdaptedSurrogate, dict]:
    """Fit the corrections on validated lab rows (see :func:`engine.synthesis.lab.read_lab_csv`) and report
    their K-fold cross-validated effect per quantity. Quantities with fewer than ``MIN_ROWS`` measured rows are
    reported as skipped."""
    if lab.empty:
        raise InputError("no valid lab rows to adapt to; import a CSV with measured values first.")
    columns = _columns(lab)
    features = model.features_.transform(columns)
    pred = model.predict_with_uncertainty(columns)
    adapted, report = AdaptedSurrogate(model), {}
    for name, in_log in QUANTITIES.items():
        measured = lab[name].to_numpy(float) if name in lab else np.full(len(lab), np.nan)
        ok = np.flatnonzero(np.isfinite(measured) & np.isfinite(pred[name]))
        if ok.size < MIN_ROWS:
            report[name] = {"rows": int(ok.size), "skipped": f"fewer than {MIN_ROWS} measured rows"}
            continue
        base = np.log(pred[name][ok]) if in_log else pred[name][ok]
        target = np.log(measured[ok]) if in_log else measured[ok]
        back = np.exp if in_log else (lambda v: v)
        before, after = np.empty(ok.size), np.empty(ok.size)
        for fit, held in _folds(ok.size, folds, seed):
            ridge = _residual_fit(features[ok][fit], target[fit] - base[fit])
            before[held] = np.abs(back(base[held]) - measured[ok][held])
            after[held] = np.abs(back(base[held] + ridge.predict(features[ok][held])) - measured[ok][held])
        adapted.corrections[name] = _residual_fit(features[ok], target - base)
        report[name] = {"rows": int(ok.size), "folds": int(min(folds, ok.size)), "cv_mae_before": float(before.mean()),
                        "cv_mae_after": float(after.mean()), "helped": bool(after.mean() < before.mean())}
    phases = lab["phase"].astype(str).str.strip() if "phase" in lab else pd.Series([""] * len(lab))
    rows = np.flatnonzero(phases.isin(PHASE_NAMES).to_numpy())
    if rows.size >= MIN_ROWS:
        labels = np.array([PHASE_NAMES.index(p) for p in phases.iloc[rows]])
        logits = model._samples(features[rows])[0]
        before, after = np.empty(rows.size), np.empty(rows.size)
        for fit, held in _folds(rows.size, folds, seed):
            t = cal.fit_temperature(logits[:, fit], labels[fit])
            for out, temp in ((before, model.temperature_), (after, t)):
                proba = cal.mean_and_mutual_information(logits[:, held], temp)[0]
                out[held] = -np.log(np.clip(proba[np.arange(held.size), labels[held]], 1e-12, 1.0))
        adapted.temperature = cal.fit_temperature(logits, labels)
        report["phase"] = {"rows": int(rows.size), "folds": int(min(folds, rows.size)),
                           "cv_nll_before": float(before.mean()), "cv_nll_after": float(after.mean()),
                           "helped": bool(after.mean() < before.mean()), "temperature": adapted.temperature,
                           "shipped_temperature": float(model.temperature_)}
    else:
        report["phase"] = {"rows": int(rows.size), "skipped": f"fewer than {MIN_ROWS} rows with a measured phase"}
    return adapted, report
