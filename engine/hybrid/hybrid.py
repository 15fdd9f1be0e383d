"""Hybrid-cooperative training of a physical model P and a neural correction N (after HYCO).

The hybrid stepper is ``H(u) = P(u) + N.increment(u)``: the physical model carries the known dynamics and
the synthetic network learns what the physics lacks. Training alternates, for ``cycles`` cycles:

1. physical phase — L-BFGS-B (warm-started, bounded) on P's parameters, fitting the hybrid (N frozen) to the
   training data, coupled on unlabelled states ``a`` (fresh initial conditions): P alone is pulled towards
   ``H(a)``;
2. synthetic phase — Adam on N's weights over sliding windows of the data, coupled to P on the same states.

The coupling (:class:`HybridMode`) is either *cross-augmentation*: the other model's predictions on
``a`` are added as extra training samples, a fraction ``alpha`` of the real ones; or the *interaction
loss* of Liverani, Steynberg & Zuazua (2025, HYCO): ``lambda * |P(a) - H(a)|^2`` is added to both phases'
losses. After each cycle the hybrid is validated by rollouts from t = 0; the best cycle is checkpointed
and kept, and training stops after ``patience`` cycles without improvement.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import torch
from torch import nn

from engine.errors import InputError
from engine.hybrid.fit import fit_parameters, single_threaded, unrolled_loss
from engine.hybrid.physical import PhysicalModel, rollout
from engine.hybrid.synthetic import SyntheticModel
from engine.hybrid.train import TrainConfig, rollout_nrmse, train_synthetic, windows


class HybridMode(StrEnum):
    AUGMENT = "augment"
    INTERACTION = "interaction"


@dataclass(frozen=True)
class HybridConfig:
    """One hybrid experiment's training settings."""

    mode: HybridMode = HybridMode.AUGMENT
    cycles: int = 3
    alpha: float = 0.05  # cross-augmentation: augmented samples per real sample
    interaction: float = 0.05  # interaction-loss weight lambda
    fit_iter: int = 8  # L-BFGS-B iterations per physical phase
    patience: int = 2  # cycles without a better validation rollout before stopping
    synthetic: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=60))

    def __post_init__(self):
        if not 1 <= self.cycles <= 100:
            raise InputError(f"cycles = {self.cycles} is outside [1, 100].")
        if not 0 <= self.alpha <= 1:
            raise InputError(f"alpha = {self.alpha} is outside [0, 1].")
        if not 0 <= self.interaction <= 100:
            raise InputError(f"interaction = {self.interaction} is outside [0, 100].")


class HybridModel(nn.Module):
    """``forward(state) = physical(state) + synthetic.increment(state)``."""

    def __init__(self, physical: PhysicalModel, synthetic: SyntheticModel):
        super().__init__()
        self.physical, self.synthetic = physical, synthetic

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.physical(state) + self.synthetic.increment(state)


def _freeze(module: nn.Module, frozen: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(not frozen)


def _physical_phase(hybrid: HybridModel, pairs, aug: torch.Tensor, config: HybridConfig):
    physical = hybrid.physical
    with torch.no_grad():
        pseudo = hybrid(aug).float()  # the hybrid's view of the unlabelled states, fixed for this phase
    n_real, n_aug = len(pairs[0]), len(aug)
    weight = (config.alpha * n_real / n_aug) if config.mode is HybridMode.AUGMENT else config.interaction

    def loss_fn():
        data = unrolled_loss(hybrid, *pairs)
        coupling = torch.mean((physical(aug) - pseudo) ** 2)
        if config.mode is HybridMode.AUGMENT:
            return (data + weight * coupling) / (1 + weight)
        return data + weight * coupling

    _freeze(hybrid.synthetic, True)
    _freeze(physical, False)
    result = fit_parameters(physical, loss_fn, max_iter=config.fit_iter)
    _freeze(hybrid.synthetic, False)
    _freeze(physical, True)
    return result


def _synthetic_phase(hybrid, train, validation, aug, config: HybridConfig, seed: int, on_epoch):
    cfg = config.synthetic
    cfg = TrainConfig(**{**cfg.__dict__, "seed": seed})
    if config.mode is HybridMode.AUGMENT:
        n_real = len(windows(train, min(cfg.unroll, train.shape[1] - 1))[0])
        n_aug = min(len(aug), max(1, round(config.alpha * n_real)))
        with torch.no_grad():
            targets = rollout(hybrid.physical, aug[:n_aug], cfg.unroll)[:, 1:].float()
        return train_synthetic(hybrid, train, validation, cfg, extra_windows=(aug[:n_aug], targets),
                               on_epoch=on_epoch)

    def interaction():
        pick = torch.randint(len(aug), (min(len(aug), cfg.batch_size),))
        return config.interaction * torch.mean(hybrid.synthetic.increment(aug[pick]) ** 2)

    return train_synthetic(hybrid, train, validation, cfg, extra_loss=interaction, on_epoch=on_epoch)


@single_threaded
def train_hybrid(
    hybrid: HybridModel,
    train: torch.Tensor,
    validation: torch.Tensor,
    augment_states: torch.Tensor,
    config: HybridConfig,
    seed: int = 0,
    checkpoint_dir: Path | None = None,
    on_cycle: Callable[[dict], None] | None = None,
    on_epoch: Callable[[int, float, float | None], None] | None = None,
) -> list[dict]:
    """Run the alternating cycles in place on ``hybrid``; returns one record per cycle.

    ``train``/``validation`` are trajectories ``[N, T, C, *space]``; ``augment_states`` ``[A, C, *space]``
    are unlabelled states for the coupling. A truthy ``on_epoch`` return stops after the current cycle's
    records (the record says ``"stopped": True``). The best cycle (validation rollout nRMSE) is restored at the
    end and, with ``checkpoint_dir``, saved as ``best.pt`` (each cycle as ``cycle_K.pt``).
    """
    torch.manual_seed(seed)
    pairs = windows(train, 1)
    best, best_state, since_best, records = rollout_nrmse(hybrid, validation), copy.deepcopy(hybrid.state_dict()), 0, []
    _freeze(hybrid.physical, True)
    for cycle in range(1, config.cycles + 1):
        fit = _physical_phase(hybrid, pairs, augment_states, config)
        history = _synthetic_phase(hybrid, train, validation, augment_states, config, seed + cycle, on_epoch)
        score = rollout_nrmse(hybrid, validation)
        record = {"cycle": cycle, **hybrid.physical.values(), "physical_loss": fit.loss,
                  "synthetic_loss": history["train_loss"][-1], "val_nrmse": score,
                  "val_nrmse_physical": rollout_nrmse(hybrid.physical, validation), "stopped": history["stopped"]}
        records.append(record)
        if checkpoint_dir is not None:
            checkpoint_dir.mkdir(parents=True, exist_ok=True)
            torch.save(hybrid.state_dict(), checkpoint_dir / f"cycle_{cycle}.pt")
        if score < best:
            best, best_state, since_best = score, copy.deepcopy(hybrid.state_dict()), 0
        else:
            since_best += 1
        if on_cycle is not None:
            on_cycle(record)
        if since_best >= config.patience or history["stopped"]:
            break
    _freeze(hybrid.physical, False)
    hybrid.load_state_dict(best_state)
    if checkpoint_dir is not None:
        torch.save(hybrid.state_dict(), checkpoint_dir / "best.pt")
    return records
