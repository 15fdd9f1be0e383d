"""Training the emulator from an ``astro dataset`` file: the autoencoder first, then the latent stepper.

Trajectories (never time steps) are split into train / validation / test (80 / 10 / 10 %, seeded). Each
trajectory gets its initial state (t = 0) prepended to its output times. Both stages use Adam,
ReduceLROnPlateau, gradient clipping at norm 1, early stopping and keep the best state; every epoch's
metrics are appended to ``training_log.json``. The stepper is trained on unrolled autoregressive
rollouts whose length doubles every 5 epochs from 8 steps to the whole grid, and validated on whole rollouts from t = 0
(mean absolute error in dex over points above 1e-12 of n_H, the benchmark's measure).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from engine.astrochem import loss as losses
from engine.astrochem.data import DONE, read_manifest
from engine.astrochem.models import (
    MODEL_DIR,
    Autoencoder,
    AutoencoderConfig,
    EmulatorConfig,
    LatentEmulator,
    checkpoint_state,
)
from engine.astrochem.network import load_network
from engine.astrochem.physics import initial_abundances
from engine.astrochem.processing import FLOOR, Scaling, log_abundances, time_feature
from engine.checkpoints import save_checkpoint
from engine.errors import InputError

DETECTION = 1e-12  # abundances (relative to n_H) counted by the accuracy metrics
PATIENCE = 20
MAX_THREADS = 1  # with 2 threads on a shared 2-core machine, OpenMP spin-waits made steps 25x slower


@dataclass
class TrainingData:
    """Finished trajectories of a dataset: params (n, 5), abundances (n, 1 + n_out, n_species) from t = 0."""

    params: np.ndarray
    abundances: np.ndarray
    times_yr: np.ndarray
    manifest: dict

    def split(self, seed: int) -> dict[str, np.ndarray]:
        """Trajectory indices of the train / validation / test sets (80 / 10 / 10 %, at least 1 each)."""
        n = len(self.params)
        if n < 3:
            raise InputError(f"the dataset has {n} finished trajectories; at least 3 are needed to train")
        order = np.random.default_rng(seed).permutation(n)
        n_hold = max(1, round(0.1 * n))
        return {"test": order[:n_hold], "validation": order[n_hold:2 * n_hold], "train": order[2 * n_hold:]}


def load_training_data(path: str | Path) -> TrainingData:
    """Read the finished (status 1) trajectories of an ``astro dataset`` file, initial state prepended."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"dataset file {path} does not exist; build one with `python -m engine astro dataset`")
    try:
        manifest = read_manifest(path)
        with h5py.File(path, "r") as handle:
            done = np.flatnonzero(handle["status"][:] == DONE)
            params = handle["params"][:][done]
            abundances = np.stack([handle["abundances"][i] for i in done]) if len(done) else None
            times_yr = handle["times_yr"][:]
    except (OSError, KeyError) as error:
        raise InputError(f"{path} is not a readable astro dataset ({error})") from None
    network = load_network()
    if manifest.get("network_sha256") != network.sha256:
        raise InputError(f"{path} was built with another reaction network (sha256 differs from the shipped one)")
    if abundances is None:
        raise InputError(f"{path} has no finished trajectories yet")
    start = np.broadcast_to(initial_abundances(network), (len(done), 1, network.n_species))
    return TrainingData(params, np.concatenate([start, abundances], axis=1).astype(np.float32), times_yr, manifest)


class _Context:
    """Constant tensors shared by both stages."""

    def __init__(self, data: TrainingData, scaling: Scaling):
        network = load_network()
        self.stoichiometry = torch.as_tensor(network.stoichiometry, dtype=torch.float64)
        self.totals = torch.as_tensor(initial_abundances(network) @ network.stoichiometry, dtype=torch.float64)
        self.totals[-1] = 0.0
        self.scaled = torch.as_tensor(scaling.to_model(data.abundances), dtype=torch.float32)
        self.true_log = torch.as_tensor(log_abundances(data.abundances), dtype=torch.float32)
        self.params = torch.as_tensor(scaling.params_to_model(data.params), dtype=torch.float32)
        self.t_next = torch.as_tensor(time_feature(data.times_yr, data.times_yr[-1]), dtype=torch.float32)
        self.detected = torch.as_tensor(data.abundances[:, 1:] > DETECTION)
        self.scaling = scaling

    def loss(self, pred_scaled: torch.Tensor, true_log: torch.Tensor) -> tuple[torch.Tensor, dict]:
        pred_log = pred_scaled * self.scaling.species_scale + torch.as_tensor(self.scaling.species_mean,
                                                                              dtype=torch.float32)
        return losses.total(pred_log, true_log, self.totals, self.stoichiometry)


def _optimiser(model: torch.nn.Module, lr: float):
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    return optimiser, torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=6)


def _step(model, optimiser, loss: torch.Tensor) -> None:
    optimiser.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimiser.step()


def train_autoencoder(ctx: _Context, split: dict, config: AutoencoderConfig, log: Callable[[dict], None],
                      generator: torch.Generator) -> Autoencoder:
    """Fit the autoencoder on all states of the training trajectories; best validation state returned."""
    n_species = ctx.scaled.shape[-1]
    model = Autoencoder(n_species, config)
    optimiser, scheduler = _optimiser(model, config.lr)
    x_train = ctx.scaled[split["train"]].reshape(-1, n_species)
    y_train = ctx.true_log[split["train"]].reshape(-1, n_species)
    x_val = ctx.scaled[split["validation"]].reshape(-1, n_species)
    y_val = ctx.true_log[split["validation"]].reshape(-1, n_species)
    best, best_state, waited = np.inf, None, 0
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        parts = []
        for batch in order.split(256):
            loss, part = ctx.loss(model(x_train[batch]), y_train[batch])
            _step(model, optimiser, loss)
            parts.append(part)
        model.eval()
        with torch.no_grad():
            val_loss, val_parts = ctx.loss(model(x_val), y_val)
            val_mae = float(torch.mean(torch.abs(ctx.scaling.species_scale * (model(x_val) - x_val))))
        scheduler.step(float(val_loss))
        log({"stage": "autoencoder", "epoch": epoch, "lr": optimiser.param_groups[0]["lr"],
             **{f"train_{k}": float(np.mean([p[k] for p in parts])) for k in parts[0]},
             **{f"val_{k}": v for k, v in val_parts.items()}, "val_mae_dex": val_mae})
        if float(val_loss) < best:
            best, best_state, waited = float(val_loss), {k: v.clone() for k, v in model.state_dict().items()}, 0
        else:
            waited += 1
            if waited >= PATIENCE:
                break
    model.load_state_dict(best_state)
    return model.eval()


def rollout_errors(pred_log: torch.Tensor, true_log: torch.Tensor, detected: torch.Tensor) -> np.ndarray:
    """Absolute errors (dex) of rolled-out log abundances at the points the solver puts above 1e-12."""
    return torch.abs(pred_log - true_log)[detected].numpy()


def train_emulator(ctx: _Context, autoencoder: Autoencoder, split: dict, config: EmulatorConfig,
                   log: Callable[[dict], None], generator: torch.Generator) -> LatentEmulator:
    """Fit the latent stepper on unrolled rollouts; early stopping on whole validation rollouts."""
    with torch.no_grad():
        latents = autoencoder.encode(ctx.scaled)  # (n, 1 + n_out, L)
    train, val = split["train"], split["validation"]
    model = LatentEmulator(latents.shape[-1], config)
    model.latent_mean.copy_(latents[train].reshape(-1, latents.shape[-1]).mean(0))
    model.latent_std.copy_(latents[train].reshape(-1, latents.shape[-1]).std(0).clamp_min(1e-6))
    margin = 0.05 * (latents[train].amax((0, 1)) - latents[train].amin((0, 1)))
    model.latent_low.copy_(latents[train].amin((0, 1)) - margin)
    model.latent_high.copy_(latents[train].amax((0, 1)) + margin)
    for parameter in autoencoder.parameters():
        parameter.requires_grad_(False)
    optimiser, scheduler = _optimiser(model, config.lr)
    n_steps = latents.shape[1] - 1
    best, best_state, waited = np.inf, None, 0
    for epoch in range(config.epochs):
        length = min(config.rollout, n_steps, 8 * 2 ** (epoch // 5))
        model.train()
        parts = []
        for batch in torch.as_tensor(train)[torch.randperm(len(train), generator=generator)].split(16):
            start = int(torch.randint(0, n_steps - length + 1, (1,), generator=generator))
            window = slice(start + 1, start + 1 + length)
            z = model.rollout(ctx.params[batch], ctx.t_next[start:start + length], latents[batch, start])
            latent_term = torch.mean(((z - latents[batch, window]) / model.latent_std) ** 2)
            loss, part = ctx.loss(autoencoder.decode(z), ctx.true_log[batch, window])
            _step(model, optimiser, loss + latent_term)
            parts.append({**part, "latent": float(latent_term.detach())})
        model.eval()
        with torch.no_grad():
            z = model.rollout(ctx.params[val], ctx.t_next, latents[val, 0])
            decoded = autoencoder.decode(z)
            val_loss, val_parts = ctx.loss(decoded, ctx.true_log[val, 1:])
            errors = rollout_errors(decoded * ctx.scaling.species_scale
                                    + torch.as_tensor(ctx.scaling.species_mean, dtype=torch.float32),
                                    ctx.true_log[val, 1:], ctx.detected[val])
        score = float(np.mean(errors))
        log({"stage": "emulator", "epoch": epoch, "rollout": length, "lr": optimiser.param_groups[0]["lr"],
             **{f"train_{k}": float(np.mean([p[k] for p in parts])) for k in parts[0]},
             **{f"val_{k}": v for k, v in val_parts.items()}, "val_rollout_mae_dex": score,
             "val_rollout_median_dex": float(np.median(errors)),
             "val_rollout_p95_dex": float(np.percentile(errors, 95))})
        if length < min(config.rollout, n_steps):
            continue  # learning-rate schedule and model selection only once rollouts span the whole grid
        scheduler.step(score)
        if score < best:
            best, best_state, waited = score, {k: v.clone() for k, v in model.state_dict().items()}, 0
        else:
            waited += 1
            if waited >= PATIENCE:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval()


def nearest_neighbour_errors(ctx: _Context, pool: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Errors (dex, points above 1e-12) of the baseline that answers with the pool trajectory whose scaled
    log parameters are closest to each held-out one."""
    distance = torch.cdist(ctx.params[indices], ctx.params[pool])
    nearest = pool[distance.argmin(dim=1).numpy()]
    return rollout_errors(ctx.true_log[nearest, 1:], ctx.true_log[indices, 1:], ctx.detected[indices])


def held_out_metrics(ctx: _Context, autoencoder: Autoencoder, emulator: LatentEmulator, split: dict) -> dict:
    """Whole-rollout errors (dex, points above 1e-12) of the emulator, the autoencoder alone and the
    nearest-neighbour baseline (pool: the training trajectories) on the test trajectories."""
    indices = split["test"]
    mean = torch.as_tensor(ctx.scaling.species_mean, dtype=torch.float32)
    scale = ctx.scaling.species_scale
    with torch.no_grad():
        z0 = autoencoder.encode(ctx.scaled[indices, 0])
        rolled = autoencoder.decode(emulator.rollout(ctx.params[indices], ctx.t_next, z0)) * scale + mean
        rebuilt = autoencoder(ctx.scaled[indices, 1:]) * scale + mean
    truth, detected = ctx.true_log[indices, 1:], ctx.detected[indices]
    rollout, recon = rollout_errors(rolled, truth, detected), rollout_errors(rebuilt, truth, detected)
    baseline = nearest_neighbour_errors(ctx, split["train"], indices)
    return {"n_trajectories": int(len(indices)), "rollout_median_dex": float(np.median(rollout)),
            "nearest_neighbour_median_dex": float(np.median(baseline)),
            "nearest_neighbour_p95_dex": float(np.percentile(baseline, 95)),
            "rollout_p95_dex": float(np.percentile(rollout, 95)), "rollout_mean_dex": float(np.mean(rollout)),
            "autoencoder_median_dex": float(np.median(recon)), "autoencoder_p95_dex": float(np.percentile(recon, 95))}


def train(data_path: str | Path, out_dir: str | Path = MODEL_DIR, seed: int = 0,
          autoencoder_config: AutoencoderConfig | None = None, emulator_config: EmulatorConfig | None = None,
          verbose: bool = False) -> dict:
    """Train both models on ``data_path`` and write ``autoencoder.pt``, ``emulator.pt`` (+ cards) and
    ``training_log.json`` to ``out_dir``; returns the emulator's model card."""
    autoencoder_config = autoencoder_config or AutoencoderConfig()
    emulator_config = emulator_config or EmulatorConfig()
    torch.manual_seed(seed)
    torch.set_num_threads(min(MAX_THREADS, torch.get_num_threads()))
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    data = load_training_data(data_path)
    split = data.split(seed)
    scaling = Scaling.fit(data.abundances[split["train"]], data.params[split["train"]])
    ctx = _Context(data, scaling)
    history: list[dict] = []

    def log(row: dict) -> None:
        history.append(row)
        if verbose:
            keys = ("val_mae_dex", "val_rollout_mae_dex", "val_rollout_median_dex", "val_rollout_p95_dex")
            shown = " ".join(f"{k}={row[k]:.4f}" for k in keys if k in row)
            print(f"{row['stage']} epoch {row['epoch']}: {shown} ({time.perf_counter() - started:.0f} s)",
                  file=sys.stderr, flush=True)

    autoencoder = train_autoencoder(ctx, split, autoencoder_config, log, generator)
    emulator = train_emulator(ctx, autoencoder, split, emulator_config, log, generator)
    metrics = held_out_metrics(ctx, autoencoder, emulator, split)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "training_log.json").write_text(json.dumps(history, indent=1) + "\n")
    network = load_network()
    dataset = {"manifest": data.manifest, "file": Path(data_path).name, "n_finished": int(len(data.params)),
               "split_trajectories": {k: int(len(v)) for k, v in split.items()}}
    common = {"seed": seed, "dataset": dataset, "floor": FLOOR, "species": list(network.species),
              "reproduce": f"python -m engine astro dataset --n {data.manifest['n']} --seed {data.manifest['seed']} "
                           f"--out FILE && python -m engine train astro --data FILE --seed {seed}",
              "training_seconds": round(time.perf_counter() - started, 1), "torch": torch.__version__}
    ae_card = save_checkpoint(
        checkpoint_state(autoencoder, scaling=scaling.state(), species=list(network.species)),
        out_dir / "autoencoder.pt",
        {**common, "model": "tied-weight autoencoder, scaled log10 abundances -> latent",
         "config": asdict(autoencoder_config),
         "metrics": {k: v for k, v in metrics.items() if k.startswith("autoencoder") or k == "n_trajectories"}})
    return save_checkpoint(
        checkpoint_state(emulator, latent=autoencoder_config.latent, times_yr=torch.as_tensor(data.times_yr),
                         autoencoder_sha256=ae_card["sha256"]),
        out_dir / "emulator.pt",
        {**common, "model": "latent residual MLP stepping the output time grid", "config": asdict(emulator_config),
         "autoencoder_sha256": ae_card["sha256"], "times_yr": {"first": float(data.times_yr[0]),
                                                               "last": float(data.times_yr[-1]),
                                                               "n": int(len(data.times_yr))},
         "metrics": {"test": metrics, "epochs": {"autoencoder": sum(r["stage"] == "autoencoder" for r in history),
                                                 "emulator": sum(r["stage"] == "emulator" for r in history)}}})
