"""Scaling between abundances and network inputs, fitted on the training trajectories only.

* Abundances (relative to n_H) -> ``log10(max(x, FLOOR))`` -> minus the per-species training mean, divided
  by one global scale (so a squared error in scaled units is a squared error in dex times a constant).
* Physical parameters -> log10 -> mapped linearly from the training range to [-1, 1].
* Output times (yr) -> ``log10(t) / log10(t_end)`` (0 at 1 yr, 1 at the end of the training grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

FLOOR = 1e-20  # abundances below this are treated as FLOOR (relative to n_H)


def log_abundances(abundances: np.ndarray | torch.Tensor):
    """``log10(max(x, FLOOR))`` for numpy arrays or tensors."""
    if isinstance(abundances, torch.Tensor):
        return torch.log10(torch.clamp(abundances, min=FLOOR))
    return np.log10(np.maximum(abundances, FLOOR))


@dataclass
class Scaling:
    """Fitted constants: per-species mean of log10 x, one global scale (dex), log10 parameter range."""

    species_mean: np.ndarray  # (n_species,) dex
    species_scale: float  # dex
    param_low: np.ndarray  # (5,) log10 of the physical parameters
    param_high: np.ndarray

    @classmethod
    def fit(cls, abundances: np.ndarray, params: np.ndarray) -> Scaling:
        """Fit on training abundances ``(..., n_species)`` and parameters ``(n, 5)`` (physical units)."""
        logs = log_abundances(np.asarray(abundances, dtype=np.float64)).reshape(-1, abundances.shape[-1])
        mean = logs.mean(axis=0)
        scale = float(np.sqrt(np.mean((logs - mean) ** 2)))
        log_params = np.log10(np.asarray(params, dtype=np.float64))
        return cls(mean, max(scale, 1e-6), log_params.min(axis=0), log_params.max(axis=0))

    def to_model(self, abundances):
        """Abundances (relative to n_H) -> scaled log abundances (same type as input)."""
        mean, scale = self._mean_like(abundances), self.species_scale
        return (log_abundances(abundances) - mean) / scale

    def from_model(self, scaled):
        """Scaled log abundances -> log10 abundances (dex)."""
        return scaled * self.species_scale + self._mean_like(scaled)

    def params_to_model(self, params):
        """Physical parameters ``(n, 5)`` -> log10 mapped to [-1, 1] over the training range."""
        low, high = self._like(self.param_low, params), self._like(self.param_high, params)
        logs = torch.log10(params) if isinstance(params, torch.Tensor) else np.log10(params)
        return 2.0 * (logs - low) / (high - low) - 1.0

    def _mean_like(self, reference):
        return self._like(self.species_mean, reference)

    @staticmethod
    def _like(array: np.ndarray, reference):
        if isinstance(reference, torch.Tensor):
            return torch.as_tensor(array, dtype=reference.dtype, device=reference.device)
        return array

    def state(self) -> dict:
        """Tensors for a checkpoint."""
        return {"species_mean": torch.as_tensor(self.species_mean), "species_scale": float(self.species_scale),
                "param_low": torch.as_tensor(self.param_low), "param_high": torch.as_tensor(self.param_high)}

    @classmethod
    def from_state(cls, state: dict) -> Scaling:
        return cls(np.asarray(state["species_mean"], dtype=np.float64), float(state["species_scale"]),
                   np.asarray(state["param_low"], dtype=np.float64), np.asarray(state["param_high"], dtype=np.float64))


def time_feature(times_yr, t_end_yr: float):
    """``log10(t) / log10(t_end)``: the time input of the latent emulator (times from 1 yr)."""
    if isinstance(times_yr, torch.Tensor):
        return torch.log10(times_yr) / np.log10(t_end_yr)
    return np.log10(times_yr) / np.log10(t_end_yr)
