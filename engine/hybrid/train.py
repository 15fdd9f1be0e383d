"""Metric (PDEBench nRMSE), sliding-window training of time steppers and rollout validation from t = 0.

Training always uses every sliding window of ``unroll`` steps from the training trajectories; validation
always rolls the model out from each validation trajectory's first frame over its whole length.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.errors import InputError
from engine.hybrid.fit import single_threaded
from engine.hybrid.physical import rollout


def nrmse(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """PDEBench nRMSE: per sample, time and channel, RMS error over space / RMS of the target; averaged.

    Arrays are ``[N, T, C, *space]``.
    """
    pred, target = (np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=float)
                    for a in (pred, target))
    if pred.shape != target.shape or pred.ndim < 4:
        raise InputError(f"nrmse needs equal [N, T, C, *space] shapes; got {pred.shape} and {target.shape}.")
    space = tuple(range(3, pred.ndim))
    err = np.sqrt(np.mean((pred - target) ** 2, axis=space))
    norm = np.sqrt(np.mean(target**2, axis=space))
    return float(np.mean(err / np.maximum(norm, 1e-12)))


def windows(trajectories: torch.Tensor, unroll: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every sliding window: inputs ``[M, C, ...]`` (frame t) and targets ``[M, unroll, C, ...]`` (t+1..t+unroll)."""
    n, t = trajectories.shape[:2]
    if not 1 <= unroll < t:
        raise InputError(f"unroll = {unroll} must be in [1, {t - 1}] for trajectories of {t} frames.")
    starts = range(t - unroll)
    inputs = torch.cat([trajectories[:, s] for s in starts])
    targets = torch.cat([trajectories[:, s + 1 : s + 1 + unroll] for s in starts])
    return inputs, targets


def rollout_nrmse(model: nn.Module, trajectories: torch.Tensor) -> float:
    """nRMSE of ``model`` rolled out from each trajectory's t = 0 frame over all later frames."""
    with torch.no_grad():
        pred = rollout(model, trajectories[:, 0], trajectories.shape[1] - 1)
    return nrmse(pred[:, 1:], trajectories[:, 1:])


@dataclass(frozen=True)
class TrainConfig:
    """Adam with a cosine schedule over ``epochs``; validation every ``validate_every`` epochs; early stop
    after ``patience`` epochs without a better validation rollout (the best weights are restored)."""

    epochs: int = 150
    lr: float = 2e-3
    batch_size: int = 32
    unroll: int = 2
    validate_every: int = 5
    patience: int = 40
    seed: int = 0

    def __post_init__(self):
        if not 1 <= self.epochs <= 100_000:
            raise InputError(f"epochs = {self.epochs} is outside [1, 100000].")
        if not 0 < self.lr <= 1:
            raise InputError(f"lr = {self.lr} is outside (0, 1].")


@single_threaded
def train_synthetic(
    model: nn.Module,
    train: torch.Tensor,
    validation: torch.Tensor,
    config: TrainConfig,
    extra_windows: tuple[torch.Tensor, torch.Tensor] | None = None,
    extra_loss: Callable[[], torch.Tensor] | None = None,
    on_epoch: Callable[[int, float, float | None], None] | None = None,
) -> dict:
    """Train ``model``'s trainable parameters on sliding windows of ``train`` (plus ``extra_windows``),
    validating by rollouts over ``validation``.

    ``extra_loss()`` is added to every batch loss (e.g. a hybrid interaction term). A truthy return of
    ``on_epoch(epoch, loss, score)`` stops training after that epoch (``history["stopped"]``). Returns the
    history: per-epoch training loss, validation rollout nRMSE per check, the best value and epochs run.
    """
    torch.manual_seed(config.seed)
    inputs, targets = windows(train, min(config.unroll, train.shape[1] - 1))
    if extra_windows is not None:
        inputs = torch.cat([inputs, extra_windows[0]])
        targets = torch.cat([targets, extra_windows[1][:, : targets.shape[1]]])
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    best, best_state, since_best = rollout_nrmse(model, validation), copy.deepcopy(model.state_dict()), 0
    history = {"train_loss": [], "val_epochs": [0], "val_nrmse": [best], "stopped": False}
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(inputs))
        total = 0.0
        for start in range(0, len(inputs), config.batch_size):
            batch = order[start : start + config.batch_size]
            state, loss = inputs[batch], 0.0
            for step in range(targets.shape[1]):
                state = model(state)
                loss = loss + torch.mean((state - targets[batch, step]) ** 2)
            loss = loss / targets.shape[1]
            if extra_loss is not None:
                loss = loss + extra_loss()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        schedule.step()
        history["train_loss"].append(total / len(inputs))
        score = None
        if epoch % config.validate_every == 0 or epoch == config.epochs:
            score = rollout_nrmse(model, validation)
            history["val_epochs"].append(epoch)
            history["val_nrmse"].append(score)
            if score < best:
                best, best_state, since_best = score, copy.deepcopy(model.state_dict()), 0
            else:
                since_best += config.validate_every
        if on_epoch is not None and on_epoch(epoch, history["train_loss"][-1], score):
            history["stopped"] = True
            break
        if since_best >= config.patience:
            break
    model.load_state_dict(best_state)
    history.update(best_val=best, epochs_run=epoch)
    return history
