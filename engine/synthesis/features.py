"""Physics-informed features of a recipe for the surrogates, as scikit-learn transformers.

:class:`PhysicsFeatures` turns recipe columns into quantities the kinetics depend on: the initial
supersaturation ln S0 of the ion-activity product, the classical nucleation exponent ΔG*/kT = B / ln² S0,
the critical size l_c / ln S0 (nm), 1/T (Arrhenius), log ratios and totals of precursors and ligands, the
free ammonium and surface coverage of the ligand equilibrium, and a few interactions. It does not
validate ranges, so recipes outside the training domain (for out-of-distribution tests) can be featurised;
the inference entry points validate first. :func:`feature_pipeline` adds a :class:`StandardScaler`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from engine.synthesis.physics.precursors import conditions, supersaturation
from engine.synthesis.schemas import FIELD_SPECS, NUMERIC_FIELDS, SOLVENT_NAMES

T_LOW, T_HIGH = FIELD_SPECS["temperature_c"].low, FIELD_SPECS["temperature_c"].high


def recipe_columns(X) -> dict[str, np.ndarray]:
    """Float columns (``solvent`` as an index) from a DataFrame or dict of recipe columns, without range checks."""
    if isinstance(X, pd.DataFrame):
        X = {name: X[name].to_numpy() for name in X.columns}
    out = {name: np.asarray(X[name], dtype=float) for name in NUMERIC_FIELDS}
    solvent = np.asarray(X["solvent"])
    if solvent.dtype.kind not in "iu":
        names, inverse = np.unique(solvent.astype(str), return_inverse=True)  # look up each distinct name once
        solvent = np.array([SOLVENT_NAMES.index(name) for name in names], dtype=np.int64)[inverse.ravel()]
    out["solvent"] = solvent.astype(np.int64)
    return out


def physics_features(columns: dict) -> tuple[np.ndarray, list[str]]:
    """``(N, F)`` feature matrix and the feature names (see module docstring)."""
    cond = conditions(columns)
    ln_s0 = np.log(supersaturation(np.zeros_like(cond["pb0"]), cond))
    ln_s_pos = np.maximum(ln_s0, 0.05)
    feats = {
        "t_norm": (columns["temperature_c"] - T_LOW) / (T_HIGH - T_LOW),
        "inv_t_1000_k": 1000.0 / cond["temperature_k"],
        "ln_cs_pb": np.log(columns["cs_pb_ratio"]),
        "ln_pb_m": np.log(columns["pb_concentration_m"]),
        "ln_oa_ml": np.log(columns["oleic_acid_ml"]),
        "ln_ola_ml": np.log(columns["oleylamine_ml"]),
        "ln_oa_over_ola": np.log(columns["oleic_acid_ml"] / columns["oleylamine_ml"]),
        "ln_ligand_over_pb": np.log((cond["acid"] + cond["amine"]) / cond["pb0"]),
        "ln_time_s": np.log(columns["reaction_time_s"]),
        "ln1p_water_ppm": np.log1p(columns["water_ppm"]),
        "ln_ammonium": np.log(np.maximum(cond["ammonium"], 1e-9)),
        "coverage": cond["coverage"],
        "ln_s0": ln_s0,
        "nucleation_exponent": np.log1p(cond["barrier"] / ln_s_pos**2),
        "critical_size_nm": np.log(cond["capillary_nm"] / ln_s_pos),
        "ln_growth_time": np.log(np.maximum(cond["growth_rate"], 1e-30) * columns["reaction_time_s"]),
        "ln_ripening_time": np.log(np.maximum(cond["ripening_nm3_s"], 1e-30) * columns["reaction_time_s"]),
        "ln_x_max": np.log(cond["x_max"]),
        "ln_s0_x_t": ln_s0 * (columns["temperature_c"] - T_LOW) / (T_HIGH - T_LOW),
        "ln_cs_pb_x_ln_ammonium": np.log(columns["cs_pb_ratio"]) * np.log(np.maximum(cond["ammonium"], 1e-9)),
    }
    for i, name in enumerate(SOLVENT_NAMES):
        feats[f"solvent_{name}"] = (columns["solvent"] == i).astype(float)
    matrix = np.column_stack(list(feats.values()))
    return np.nan_to_num(matrix, nan=0.0, posinf=50.0, neginf=-50.0), list(feats)


class PhysicsFeatures(TransformerMixin, BaseEstimator):
    """Stateless transformer: recipe DataFrame/dict → physics-informed feature matrix."""

    def fit(self, X, y=None):
        self.feature_names_out_ = np.array(physics_features(recipe_columns(_head(X)))[1], dtype=object)
        self.n_features_out_ = len(self.feature_names_out_)
        return self

    def transform(self, X) -> np.ndarray:
        return physics_features(recipe_columns(X))[0]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return self.feature_names_out_


def _head(X):
    return X.iloc[:2] if isinstance(X, pd.DataFrame) else {k: np.atleast_1d(v)[:2] for k, v in X.items()}


def feature_pipeline() -> Pipeline:
    """Physics features followed by standardisation (fit on training rows only)."""
    return Pipeline([("physics", PhysicsFeatures()), ("scale", StandardScaler())])


def pipeline_state(pipe: Pipeline) -> dict:
    """Tensors-only state of a fitted :func:`feature_pipeline` (for weights-only checkpoints)."""
    scale = pipe.named_steps["scale"]
    return {"mean": np.asarray(scale.mean_, dtype=np.float64), "scale": np.asarray(scale.scale_, dtype=np.float64)}


def pipeline_from_state(state: dict) -> Pipeline:
    """Rebuild a fitted :func:`feature_pipeline` from :func:`pipeline_state`."""
    pipe = feature_pipeline()
    physics, scale = pipe.named_steps["physics"], pipe.named_steps["scale"]
    names = physics_features(recipe_columns({n: np.array([1.0]) for n in NUMERIC_FIELDS} | {
        "solvent": np.array([0]), "temperature_c": np.array([170.0])}))[1]
    physics.feature_names_out_, physics.n_features_out_ = np.array(names, dtype=object), len(names)
    scale.mean_, scale.scale_ = np.asarray(state["mean"]), np.asarray(state["scale"])
    scale.var_, scale.n_features_in_ = scale.scale_**2, len(names)
    return pipe
