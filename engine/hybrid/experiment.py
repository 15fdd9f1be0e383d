"""The "partially known physics" experiment: truth = Burgers + reaction ``r u (1 - u^2)``; the physical
model is plain Burgers (no reaction). Compares physical-only (fitted viscosity), neural-only (a U-Net and a
local CNN, each trained on the same data) and the hybrid (Burgers + local-CNN correction) on held-out
trajectories by rollout nRMSE from t = 0. The data are scarce on purpose: one training trajectory.

Model selection never sees the test split: each candidate coupling (:attr:`PartialPhysicsConfig.couplings`)
trains a hybrid, the one with the lowest validation rollout nRMSE is kept, and only then are the chosen models
scored on the test trajectories. The test split's seed offset (4) was drawn fresh after every setting here was
frozen, so no choice was made while looking at it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from engine.hybrid.data import DataSpec, load_or_generate, random_modes
from engine.hybrid.fit import fit_parameters, single_threaded, unrolled_loss
from engine.hybrid.hybrid import HybridConfig, HybridMode, HybridModel, train_hybrid
from engine.hybrid.physical import Burgers
from engine.hybrid.spectral import Grid
from engine.hybrid.synthetic import Architecture, NetConfig, build
from engine.hybrid.train import TrainConfig, rollout_nrmse, train_synthetic, windows


@dataclass(frozen=True)
class PartialPhysicsConfig:
    """Sizes and settings of the experiment (defaults are the shipped/benchmarked run)."""

    nx: int = 64
    nu: float = 0.01  # true viscosity
    reaction: float = 1.0  # true reaction rate r (absent from the physical model)
    dt: float = 0.1
    n_steps: int = 20
    n_train: int = 1
    n_val: int = 4
    n_test: int = 32
    n_augment: int = 64
    nu_guess: float = 0.05  # initial viscosity of the physical model
    seed: int = 0
    net: NetConfig = field(default_factory=lambda: NetConfig(width=16))  # neural-only model
    closure: NetConfig = field(default_factory=lambda: NetConfig(architecture=Architecture.LOCAL, width=32))
    neural: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=150, batch_size=8, lr=3e-3, unroll=4))
    hybrid: HybridConfig = field(default_factory=lambda: HybridConfig(
        mode=HybridMode.INTERACTION, synthetic=TrainConfig(epochs=80, batch_size=8, lr=3e-3, unroll=4)))
    # candidate couplings (mode, weight: alpha for augment, lambda for interaction), chosen on validation
    couplings: tuple[tuple[HybridMode, float], ...] = ((HybridMode.AUGMENT, 0.05), (HybridMode.INTERACTION, 0.05),
                                                       (HybridMode.INTERACTION, 0.5))

    def spec(self, split: str) -> DataSpec:
        offsets = {"train": (self.n_train, 0), "val": (self.n_val, 1), "test": (self.n_test, 4)}
        n, offset = offsets[split]
        return DataSpec(nx=self.nx, nu=self.nu, reaction=self.reaction, dt=self.dt, n_steps=self.n_steps,
                        n_traj=n, seed=1000 * self.seed + offset)


def datasets(config: PartialPhysicsConfig) -> dict[str, torch.Tensor]:
    """Train / validation / test trajectories (HDF5-cached) as float32 tensors."""
    return {split: torch.tensor(load_or_generate(config.spec(split))) for split in ("train", "val", "test")}


def augment_states(config: PartialPhysicsConfig) -> torch.Tensor:
    """Unlabelled initial states for the hybrid coupling (fresh random fields, no trajectories)."""
    rng = np.random.default_rng(1000 * config.seed + 3)
    grid = Grid((config.nx,))
    return torch.tensor(np.stack([random_modes(grid, rng)[None] for _ in range(config.n_augment)]),
                        dtype=torch.float32)


def fit_physical_only(config: PartialPhysicsConfig, train: torch.Tensor, max_iter: int = 20) -> Burgers:
    """Plain Burgers with its viscosity fitted (L-BFGS-B) to one-step pairs of the training data."""
    model = Burgers(Grid((config.nx,)), config.dt, config.nu_guess)
    pairs = windows(train, 1)
    fit_parameters(model, lambda: unrolled_loss(model, *pairs), max_iter=max_iter)
    return model


def train_hybrid_only(config: PartialPhysicsConfig, data: dict[str, torch.Tensor] | None = None,
                      on_cycle: Callable[[dict], None] | None = None,
                      on_epoch: Callable[[int, float, float | None], None] | None = None
                      ) -> tuple[HybridModel, list[dict]]:
    """Build the hybrid (Burgers at ``nu_guess`` + fresh closure) and run its cycles; returns model and records."""
    data = datasets(config) if data is None else data
    hybrid = HybridModel(Burgers(Grid((config.nx,)), config.dt, config.nu_guess), build(config.closure, config.seed))
    records = train_hybrid(hybrid, data["train"], data["val"], augment_states(config), config.hybrid,
                           seed=config.seed, on_cycle=on_cycle, on_epoch=on_epoch)
    return hybrid, records


def quick_config(mode: HybridMode, cycles: int, epochs: int, seed: int = 0) -> PartialPhysicsConfig:
    """The short hybrid run of the page and of ``python -m engine pde hybrid`` (16 coupling states, 4 L-BFGS
    iterations per physical phase, ``epochs`` per synthetic phase)."""
    base = PartialPhysicsConfig(seed=seed)
    return replace(base, n_augment=16, hybrid=replace(
        base.hybrid, mode=HybridMode(mode), cycles=cycles, fit_iter=4,
        synthetic=replace(base.hybrid.synthetic, epochs=epochs, validate_every=5)))


def with_coupling(config: PartialPhysicsConfig, mode: HybridMode, weight: float) -> PartialPhysicsConfig:
    """``config`` with its hybrid coupling set to ``mode`` at ``weight`` (alpha or lambda)."""
    name = "alpha" if HybridMode(mode) is HybridMode.AUGMENT else "interaction"
    return replace(config, hybrid=replace(config.hybrid, mode=HybridMode(mode), **{name: weight}))


def select_hybrid(config: PartialPhysicsConfig, data: dict[str, torch.Tensor],
                  on_cycle: Callable[[dict], None] | None = None,
                  on_epoch: Callable[[int, float, float | None], None] | None = None
                  ) -> tuple[HybridModel, list[dict], list[dict]]:
    """Train one hybrid per candidate coupling; keep the lowest validation rollout nRMSE (test data unused).

    Returns the chosen model, its cycle records and one row per candidate (mode, weight, val_nrmse, chosen).
    """
    best, table = None, []
    for mode, weight in config.couplings:
        model, records = train_hybrid_only(with_coupling(config, mode, weight), data, on_cycle, on_epoch)
        score = rollout_nrmse(model, data["val"])
        table.append({"mode": str(mode), "weight": weight, "val_nrmse": score, "chosen": False})
        if best is None or score < best[0]:
            best = (score, model, records, len(table) - 1)
    _, model, records, index = best
    table[index]["chosen"] = True
    return model, records, table


@single_threaded
def run(config: PartialPhysicsConfig, on_cycle: Callable[[dict], None] | None = None,
        on_epoch: Callable[[int, float, float | None], None] | None = None) -> dict:
    """Train every model and choose the hybrid's coupling on validation; then score all on the test split.

    Returns validation and test nRMSE per model, the coupling table, the hybrid history and the models.
    ``neural_local`` (the closure architecture trained alone) is there so "neural-only" is not judged on a
    single architecture.
    """
    data = datasets(config)
    physical = fit_physical_only(config, data["train"])
    neural, neural_local = build(config.net, seed=config.seed), build(config.closure, seed=config.seed)
    neural_history = train_synthetic(neural, data["train"], data["val"], config.neural, on_epoch=on_epoch)
    train_synthetic(neural_local, data["train"], data["val"], config.neural)
    hybrid, records, couplings = select_hybrid(config, data, on_cycle, on_epoch)
    models = {"physical": physical, "neural": neural, "neural_local": neural_local, "hybrid": hybrid}
    val = {name: rollout_nrmse(model, data["val"]) for name, model in models.items()}
    test = {name: rollout_nrmse(model, data["test"]) for name, model in models.items()}
    chosen = next(row for row in couplings if row["chosen"])
    return {"val_nrmse": val, "test_nrmse": test,
            "couplings": couplings, "chosen_coupling": {"mode": chosen["mode"], "weight": chosen["weight"]},
            "physical_nu": physical.values()["nu"], "hybrid_nu": hybrid.physical.values()["nu"],
            "hybrid_history": records, "neural_history": neural_history, "models": models}
