"""Non-learned baselines fitted to training samples [n, nodes, dim], registered by name.

* ``linear_interpolation``: (1-w) a + w b for random training pairs a, b and w ~ U(0, 1).
* ``uniform``: unit vectors uniform on the sphere per node for spins; otherwise uniform in the
  per-coordinate training range.
* ``iid_gaussian``: independent normal per node and component (training mean and variance).
* ``full_gaussian``: multivariate normal with the training mean and full covariance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def linear_interpolation(train: np.ndarray, n: int, rng: np.random.Generator, unit_norm: bool) -> np.ndarray:
    a, b = train[rng.integers(0, len(train), n)], train[rng.integers(0, len(train), n)]
    w = rng.random((n, 1, 1))
    return (1 - w) * a + w * b


def uniform(train: np.ndarray, n: int, rng: np.random.Generator, unit_norm: bool) -> np.ndarray:
    shape = (n, *train.shape[1:])
    if unit_norm:
        v = rng.standard_normal(shape)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)
    lo, hi = train.min(axis=0), train.max(axis=0)
    return lo + (hi - lo) * rng.random(shape)


def iid_gaussian(train: np.ndarray, n: int, rng: np.random.Generator, unit_norm: bool) -> np.ndarray:
    return train.mean(axis=0) + train.std(axis=0) * rng.standard_normal((n, *train.shape[1:]))


def full_gaussian(train: np.ndarray, n: int, rng: np.random.Generator, unit_norm: bool) -> np.ndarray:
    flat = train.reshape(len(train), -1)
    draws = rng.multivariate_normal(flat.mean(axis=0), np.cov(flat, rowvar=False), size=n, method="eigh")
    return draws.reshape(n, *train.shape[1:])


BASELINES: dict[str, Callable] = {
    "linear_interpolation": linear_interpolation,
    "uniform": uniform,
    "iid_gaussian": iid_gaussian,
    "full_gaussian": full_gaussian,
}
