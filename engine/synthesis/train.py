"""`python -m engine train synth`: the training set from the physics, a stratified 60/20/20 split, the three
network surrogates (deep ensemble, MC dropout, last-layer Laplace) trained with early stopping and
calibrated on the validation split, saved to ``models/synthesis/`` with model cards."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from engine.registry import trainer
from engine.synthesis.simulation import PHASE_NAMES

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "synthesis"
NETWORK_KINDS = ("deep_ensemble", "mc_dropout", "laplace")


@dataclass(frozen=True)
class TrainConfig:
    """Size of the physics training set (rows after phase stratification), candidate oversampling, seed."""

    rows: int = 12_000
    oversample: int = 2
    seed: int = 0


@dataclass
class Split:
    """Recipe frames, phase indices and targets (edge length nm, PL peak nm) of train/validation/test."""

    frames: dict
    labels: dict
    targets: dict
    manifest: dict


def make_split(config: TrainConfig) -> Split:
    """Physics dataset (deterministic in the seed) split 60/20/20, stratified by phase."""
    from engine.synthesis.dataset import build_dataset

    frame, manifest = build_dataset(config.rows, config.seed, oversample=config.oversample)
    labels = frame["phase"].map({p: i for i, p in enumerate(PHASE_NAMES)}).to_numpy()
    idx = np.arange(len(frame))
    train, rest = train_test_split(idx, test_size=0.4, stratify=labels, random_state=config.seed)
    val, test = train_test_split(rest, test_size=0.5, stratify=labels[rest], random_state=config.seed)
    parts = {"train": train, "val": val, "test": test}
    return Split(frames={k: frame.iloc[v].reset_index(drop=True) for k, v in parts.items()},
                 labels={k: labels[v] for k, v in parts.items()},
                 targets={k: frame[["edge_length_nm", "pl_peak_nm"]].to_numpy()[v] for k, v in parts.items()},
                 manifest={**manifest, "split": {k: int(v.size) for k, v in parts.items()},
                           "split_rule": "stratified by phase, 60/20/20, sklearn train_test_split(seed)"})


def fit_model(kind: str, split: Split, seed: int):
    """Fit one estimator of ``kind`` on the train split with the validation split for stopping/calibration."""
    from engine.synthesis.models.estimators import ESTIMATORS

    model = ESTIMATORS[kind](seed=seed)
    return model.fit(split.frames["train"], split.labels["train"], split.targets["train"],
                     eval_set=(split.frames["val"], split.labels["val"], split.targets["val"]))


def validation_metrics(model, split: Split) -> dict:
    from engine.synthesis.models import calibration as cal

    out = model.predict_with_uncertainty(split.frames["val"])
    y = split.labels["val"]
    return {"val_accuracy": float(np.mean(out["phase"] == y)), "val_ece": cal.ece(out["proba"], y),
            "val_nll": cal.nll(out["proba"], y), "temperature": float(model.temperature_)}


def train_all(config: TrainConfig, out_dir: Path = MODEL_DIR, kinds=NETWORK_KINDS) -> dict:
    """Train and save every network surrogate; returns their model cards."""
    import torch

    from engine.checkpoints import save_checkpoint

    torch.set_num_threads(1)  # threads that wait on a shared, loaded CPU cost more than they gain
    split = make_split(config)
    cards = {}
    for kind in kinds:
        start = time.perf_counter()
        model = fit_model(kind, split, config.seed)
        seconds = time.perf_counter() - start
        card = {"name": f"synthesis/{kind}", "estimator": type(model).__name__, "params": model.get_params(),
                "seed": config.seed, "train_config": asdict(config), "data": split.manifest,
                "targets": ["phase (5 classes)", "edge_length_nm (log space)", "pl_peak_nm (cube/platelet)"],
                "training_seconds": round(seconds, 1), "history": model.history_,
                "metrics": validation_metrics(model, split),
                "reproduce": f"python -m engine train synth --seed {config.seed}"}
        cards[kind] = save_checkpoint(model.state(), out_dir / f"{kind}.pt", card)
    return cards


@trainer("synth")
def train_synth(args) -> dict:
    cards = train_all(TrainConfig(seed=args.seed))
    return {kind: {"file": c["file"], "sha256": c["sha256"], "bytes": c["bytes"], "metrics": c["metrics"],
                   "training_seconds": c["training_seconds"]} for kind, c in cards.items()}


