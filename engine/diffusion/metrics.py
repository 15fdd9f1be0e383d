"""Sample-quality metrics against reference samples (all inputs [n, nodes, dim]).

* energy W1: Wasserstein-1 distance between energy distributions, divided by the reference energy std.
* MMD²: unbiased RBF-kernel maximum mean discrepancy of flattened configurations, bandwidth by the
  median heuristic on the pooled sample (median pairwise squared distance).
* Gram MMD²: the same on the rotation-invariant pair products s_i·s_j (i < j); the data are O(dim)-
  invariant, so this removes the global orientation that dominates the raw median bandwidth.
* covariance error: ‖C_s - C_ref‖_F / ‖C_ref‖_F of the [nodes·dim]² covariance (exact C_ref if given).
* two-point error: the same relative Frobenius error for the node-node covariance ⟨s_i·s_j⟩/dim
  (components pooled; the exact GMRF covariance is C ⊗ I, so this is its node block C).
* smoothness W1: W1 of ‖L S‖² per configuration, divided by its reference std.
* unit-norm violation: mean | |s_i| - 1 | over nodes (spins).
* memorisation ratio: median distance of samples to their nearest training sample divided by the same
  for held-out reference samples (≈ 1: no copying; ≪ 1: memorised training data).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist
from scipy.stats import wasserstein_distance


def _flat(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, float).reshape(len(x), -1)


def normalised_w1(values: np.ndarray, reference: np.ndarray) -> float:
    """W1(values, reference) / std(reference)."""
    return float(wasserstein_distance(values, reference) / max(np.std(reference), 1e-12))


def mmd_rbf(x: np.ndarray, y: np.ndarray, bandwidth2: float | None = None) -> float:
    """Unbiased MMD² with k(a, b) = exp(-‖a-b‖² / h²), h² = median pooled squared distance by default."""
    x, y = _flat(x), _flat(y)
    dxx, dyy, dxy = cdist(x, x, "sqeuclidean"), cdist(y, y, "sqeuclidean"), cdist(x, y, "sqeuclidean")
    if bandwidth2 is None:
        pooled = np.concatenate([dxx[np.triu_indices(len(x), 1)], dyy[np.triu_indices(len(y), 1)], dxy.ravel()])
        bandwidth2 = float(np.median(pooled))
    kxx, kyy, kxy = (np.exp(-d / bandwidth2) for d in (dxx, dyy, dxy))
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def gram_features(x: np.ndarray) -> np.ndarray:
    """Rotation-invariant features: s_i·s_j for all node pairs i < j, [n, nodes(nodes-1)/2]."""
    i, j = np.triu_indices(x.shape[1], 1)
    return np.einsum("bnd,bmd->bnm", x, x)[:, i, j]


def covariance(x: np.ndarray) -> np.ndarray:
    """Sample covariance of flattened configurations [nodes·dim, nodes·dim]."""
    return np.cov(_flat(x), rowvar=False)


def covariance_error(x: np.ndarray, reference: np.ndarray | None = None, exact: np.ndarray | None = None) -> float:
    """Relative Frobenius error of the sample covariance against ``exact`` (else the reference's)."""
    target = exact if exact is not None else covariance(reference)
    return float(np.linalg.norm(covariance(x) - target) / np.linalg.norm(target))


def two_point(x: np.ndarray) -> np.ndarray:
    """Node-node covariance pooled over components, Σ_c cov(s_ic, s_jc) / dim, [nodes, nodes]."""
    centred = x - x.mean(axis=0)
    return np.einsum("bnd,bmd->nm", centred, centred) / ((len(x) - 1) * x.shape[2])


def two_point_error(x: np.ndarray, reference: np.ndarray | None = None, exact: np.ndarray | None = None) -> float:
    """Relative Frobenius error of :func:`two_point` against ``exact`` [nodes, nodes] (else the reference's)."""
    target = exact if exact is not None else two_point(reference)
    return float(np.linalg.norm(two_point(x) - target) / np.linalg.norm(target))


def smoothness(x: np.ndarray, laplacian: np.ndarray) -> np.ndarray:
    """‖L S‖² per configuration [n]."""
    return (np.einsum("nm,bmd->bnd", laplacian, x) ** 2).sum(axis=(1, 2))


def unit_norm_violation(x: np.ndarray) -> float:
    """Mean | |s_i| - 1 | over all nodes and configurations."""
    return float(np.mean(np.abs(np.linalg.norm(x, axis=-1) - 1)))


def memorisation_ratio(samples: np.ndarray, train: np.ndarray, held_out: np.ndarray) -> float:
    """median NN-distance(samples → train) / median NN-distance(held-out → train)."""
    train = _flat(train)
    d_s = cdist(_flat(samples), train).min(axis=1)
    d_h = cdist(_flat(held_out), train).min(axis=1)
    return float(np.median(d_s) / np.median(d_h))


def evaluate(samples: np.ndarray, reference: np.ndarray, train: np.ndarray, energy, laplacian: np.ndarray,
             exact_covariance: np.ndarray | None = None, unit_norm: bool = False,
             exact_two_point: np.ndarray | None = None) -> dict:
    """All metrics of ``samples`` against held-out ``reference`` (and ``train`` for memorisation)."""
    e_ref = energy(reference)
    out = {
        "energy_w1": normalised_w1(energy(samples), e_ref),
        "energy_mean": float(np.mean(energy(samples))),
        "mmd": mmd_rbf(samples, reference),
        "mmd_gram": mmd_rbf(gram_features(samples), gram_features(reference)),
        "covariance_error": covariance_error(samples, reference, exact_covariance),
        "two_point_error": two_point_error(samples, reference, exact_two_point),
        "smoothness_w1": normalised_w1(smoothness(samples, laplacian), smoothness(reference, laplacian)),
        "memorisation_ratio": memorisation_ratio(samples, train, reference),
    }
    if unit_norm:
        out["unit_norm_violation"] = unit_norm_violation(samples)
    return out
