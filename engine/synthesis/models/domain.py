"""Distance of recipes to the training data in standardised feature space: the out-of-domain score.

A network's disagreement (mutual information, spread of its samples) need not grow away from the data, so
every surrogate also reports ``domain_distance``: the mean Euclidean distance of a recipe's standardised
features to its ``k`` nearest training recipes (a fixed random reference subset), divided by the 99th
percentile of the same distance for held-in training recipes that are not in the reference subset. Values
≲ 1 are typical of the training domain; larger values mean the recipe lies where the surrogate has no data.
"""

from __future__ import annotations

import numpy as np
import torch

REFERENCE_ROWS = 4096
NEIGHBOURS = 10
LEVEL_QUANTILE = 0.99


def knn_mean_distance(query: np.ndarray, reference: torch.Tensor, k: int = NEIGHBOURS, chunk: int = 4096) -> np.ndarray:
    """Mean distance of each query row (N, F) to its ``k`` nearest rows of ``reference`` (R, F)."""
    out = np.empty(query.shape[0])
    q = torch.as_tensor(query, dtype=torch.float32)
    with torch.inference_mode():
        for start in range(0, q.shape[0], chunk):
            d = torch.cdist(q[start:start + chunk], reference)
            out[start:start + chunk] = d.topk(k, dim=1, largest=False).values.mean(dim=1).numpy()
    return out


class DomainDistance:
    """Fitted on standardised training features; ``score(features)`` → distance in units of the 99 % level."""

    def fit(self, features: np.ndarray, seed: int = 0) -> DomainDistance:
        order = np.random.default_rng(seed).permutation(features.shape[0])
        n_ref = min(REFERENCE_ROWS, max(features.shape[0] // 2, NEIGHBOURS))
        self.reference_ = torch.as_tensor(features[order[:n_ref]], dtype=torch.float32)
        held = features[order[n_ref:n_ref + 2048]]
        self.level_ = float(np.quantile(knn_mean_distance(held, self.reference_), LEVEL_QUANTILE)) if held.size else 1.0
        return self

    def score(self, features: np.ndarray) -> np.ndarray:
        return knn_mean_distance(features, self.reference_) / max(self.level_, 1e-12)

    def state(self) -> dict:
        return {"reference": self.reference_, "level": self.level_}

    @classmethod
    def from_state(cls, state: dict) -> DomainDistance:
        out = cls()
        out.reference_, out.level_ = state["reference"].float(), float(state["level"])
        return out
