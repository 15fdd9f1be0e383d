"""Distance of recipes to the training data in recipe space: the out-of-domain score.

A network's disagreement (mutual information, spread of its samples) need not grow away from the data, so
every surrogate also reports ``domain_distance``. Recipes are encoded as their numeric fields (log for Cs:Pb,
[Pb] and time) scaled to [0, 1] over the training rows' range, plus the solvent one-hot; the score is the mean
Euclidean distance to the ``k`` nearest training recipes (a fixed random reference subset), divided by the
99th percentile of the same distance for held-in training recipes that are not in the reference subset.
Values ≲ 1 are typical of the training domain; larger values mean the recipe lies where the surrogate has no data.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from engine.synthesis.schemas import NUMERIC_FIELDS, SOLVENT_NAMES

REFERENCE_ROWS = 4096
NEIGHBOURS = 10
LEVEL_QUANTILE = 0.99
LOG_FIELDS = ("cs_pb_ratio", "pb_concentration_m", "reaction_time_s")


def encode(columns: dict) -> np.ndarray:
    """(N, 7 + solvents) recipe coordinates: numeric fields (log where log-scaled) and the solvent one-hot."""
    cols = [np.log(columns[n]) if n in LOG_FIELDS else np.asarray(columns[n], dtype=float) for n in NUMERIC_FIELDS]
    cols += [(np.asarray(columns["solvent"]) == i).astype(float) for i in range(len(SOLVENT_NAMES))]
    return np.column_stack(cols)


def knn_mean_distance(query: np.ndarray, tree: cKDTree, k: int = NEIGHBOURS) -> np.ndarray:
    """Mean distance of each query row (N, F) to its ``k`` nearest reference rows (exact k-d tree search)."""
    return tree.query(query, k=k)[0].mean(axis=1)


class DomainDistance:
    """Fitted on training recipe columns; ``score(columns)`` → distance in units of the 99 % level."""

    def fit(self, columns: dict, seed: int = 0) -> DomainDistance:
        raw = encode(columns)
        self.low_, self.high_ = raw.min(axis=0), raw.max(axis=0)
        unit = self._unit(raw)
        order = np.random.default_rng(seed).permutation(unit.shape[0])
        n_ref = min(REFERENCE_ROWS, max(unit.shape[0] // 2, NEIGHBOURS))
        self.reference_ = torch.as_tensor(unit[order[:n_ref]], dtype=torch.float32)
        self.tree_ = cKDTree(self.reference_.numpy().astype(float))
        held = unit[order[n_ref:n_ref + 2048]]
        self.level_ = float(np.quantile(knn_mean_distance(held, self.tree_), LEVEL_QUANTILE)) if held.size else 1.0
        return self

    def _unit(self, raw: np.ndarray) -> np.ndarray:
        return (raw - self.low_) / np.maximum(self.high_ - self.low_, 1e-12)

    def score(self, columns: dict) -> np.ndarray:
        return knn_mean_distance(self._unit(encode(columns)), self.tree_) / max(self.level_, 1e-12)

    def state(self) -> dict:
        return {"reference": self.reference_, "level": self.level_, "low": torch.tensor(self.low_),
                "high": torch.tensor(self.high_)}

    @classmethod
    def from_state(cls, state: dict) -> DomainDistance:
        out = cls()
        out.reference_, out.level_ = state["reference"].float(), float(state["level"])
        out.low_, out.high_ = state["low"].numpy(), state["high"].numpy()
        out.tree_ = cKDTree(out.reference_.numpy().astype(float))
        return out
