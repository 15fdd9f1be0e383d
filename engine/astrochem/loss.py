"""Training losses of the emulator, on log10 abundances (dex) and on element/charge totals.

* :func:`reconstruction`: mean squared error (dex^2) over species and samples;
* :func:`worst_species`: mean over samples of the largest absolute error of any species (dex), so no
  species is sacrificed for the average;
* :func:`conservation`: relative error of each element total and of the net charge, computed from the
  predicted abundances through the stoichiometric matrix (species × (elements, charge)).
"""

from __future__ import annotations

import torch

WORST_WEIGHT = 0.05
CONSERVATION_WEIGHT = 1.0


def reconstruction(pred_log: torch.Tensor, true_log: torch.Tensor) -> torch.Tensor:
    return torch.mean((pred_log - true_log) ** 2)


def worst_species(pred_log: torch.Tensor, true_log: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.amax(torch.abs(pred_log - true_log), dim=-1))


def conservation(pred_log: torch.Tensor, totals: torch.Tensor, stoichiometry: torch.Tensor) -> torch.Tensor:
    """Mean relative violation of element totals and charge neutrality.

    ``pred_log`` (..., n_species) in dex; ``totals`` (n_conserved,) the true element totals (charge last,
    0 for a neutral gas); ``stoichiometry`` (n_species, n_conserved). Elements: |E_pred - E| / E; charge:
    |sum z x| / sum |z| x; averaged as log(1 + error), so that early, wildly wrong predictions do not swamp the other
    terms. Zero exactly when the prediction conserves everything.
    """
    x = torch.pow(10.0, pred_log.double())
    s = stoichiometry.double()
    predicted = x @ s
    elements = torch.abs(predicted[..., :-1] - totals[:-1]) / totals[:-1]
    charge = torch.abs(predicted[..., -1]) / (x @ torch.abs(s[:, -1])).clamp_min(1e-30)
    return torch.log1p(torch.cat([elements, charge.unsqueeze(-1)], dim=-1)).mean().to(pred_log.dtype)


def total(pred_log: torch.Tensor, true_log: torch.Tensor, totals: torch.Tensor,
          stoichiometry: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Weighted sum of the three terms and their values (floats) for the metrics log."""
    parts = {"reconstruction": reconstruction(pred_log, true_log), "worst": worst_species(pred_log, true_log),
             "conservation": conservation(pred_log, totals, stoichiometry)}
    loss = parts["reconstruction"] + WORST_WEIGHT * parts["worst"] + CONSERVATION_WEIGHT * parts["conservation"]
    return loss, {key: float(value.detach()) for key, value in parts.items()}
