"""`python -m engine train synth [--tune]`: the training set from the physics (recipes of the training box), a
stratified 60/20/20 split, a 5-fold stratified cross-validation report, the three network surrogates (deep
ensemble, MC dropout, last-layer Laplace) trained with early stopping and calibrated on the validation split,
saved to ``models/synthesis/`` with model cards. ``--tune`` first runs a small Optuna search (optional
dependency) of the network's width, depth, dropout and learning rate on the validation loss."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from engine.errors import InputError
from engine.registry import trainer
from engine.synthesis.models.targets import TARGET_COLUMNS
from engine.synthesis.simulation import PHASE_NAMES

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "synthesis"
NETWORK_KINDS = ("deep_ensemble", "mc_dropout", "laplace")


@dataclass(frozen=True)
class TrainConfig:
    """Size of the physics training set (rows after phase stratification), candidate oversampling, seed, and the
    rows / epochs of the 5-fold cross-validation report."""

    rows: int = 30_000
    oversample: int = 2
    seed: int = 0
    cv_rows: int = 6_000
    cv_epochs: int = 25
    jobs: int = 3


@dataclass
class Split:
    """Recipe frames, phase indices and targets (cube-equivalent edge and size spread, nm) of
    train/validation/test."""

    frames: dict
    labels: dict
    targets: dict
    manifest: dict


def make_split(config: TrainConfig) -> Split:
    """Physics dataset (deterministic in the seed) split 60/20/20, stratified by phase."""
    from engine.synthesis.dataset import TRAINING_BOX, build_dataset

    frame, manifest = build_dataset(config.rows, config.seed, oversample=config.oversample, box=TRAINING_BOX)
    labels = frame["phase"].map({p: i for i, p in enumerate(PHASE_NAMES)}).to_numpy()
    idx = np.arange(len(frame))
    train, rest = train_test_split(idx, test_size=0.4, stratify=labels, random_state=config.seed)
    val, test = train_test_split(rest, test_size=0.5, stratify=labels[rest], random_state=config.seed)
    parts = {"train": train, "val": val, "test": test}
    return Split(frames={k: frame.iloc[v].reset_index(drop=True) for k, v in parts.items()},
                 labels={k: labels[v] for k, v in parts.items()},
                 targets={k: frame[list(TARGET_COLUMNS)].to_numpy()[v] for k, v in parts.items()},
                 manifest={**manifest, "split": {k: int(v.size) for k, v in parts.items()},
                           "split_rule": "stratified by phase, 60/20/20, sklearn train_test_split(seed)"})


def fit_model(kind: str, split: Split, seed: int, params: dict | None = None):
    """Fit one estimator of ``kind`` on the train split with the validation split for stopping/calibration."""
    from engine.synthesis.models.estimators import ESTIMATORS

    model = ESTIMATORS[kind](seed=seed, **(params or {}))
    return model.fit(split.frames["train"], split.labels["train"], split.targets["train"],
                     eval_set=(split.frames["val"], split.labels["val"], split.targets["val"]))


def validation_metrics(model, split: Split) -> dict:
    from engine.synthesis.models import calibration as cal

    out = model.predict_with_uncertainty(split.frames["val"])
    y = split.labels["val"]
    return {"val_accuracy": float(np.mean(out["phase"] == y)), "val_ece": cal.ece(out["proba"], y),
            "val_nll": cal.nll(out["proba"], y), "temperature": float(model.temperature_)}


def fold_metrics(model, frame, labels, targets) -> dict:
    """Macro-F1, accuracy, MAE of the edge length (recipes ≤ 20 nm) and of the PL peak on one held-out fold."""
    from engine.synthesis.models.estimators import reported_truth

    out, truth = model.predict_with_uncertainty(frame), reported_truth(labels, targets)
    small = truth["edge_length_nm"] <= 20.0
    pl_ok = np.isfinite(truth["pl_peak_nm"])
    return {"macro_f1": float(f1_score(labels, out["phase"], average="macro")),
            "accuracy": float(np.mean(out["phase"] == labels)),
            "edge_mae_nm_le_20nm": float(np.mean(np.abs(out["edge_length_nm"] - truth["edge_length_nm"])[small])),
            "pl_mae_nm": float(np.mean(np.abs(out["pl_peak_nm"] - truth["pl_peak_nm"])[pl_ok]))}


def cross_validate(split: Split, config: TrainConfig, kind: str = "mc_dropout", params: dict | None = None) -> dict:
    """5-fold stratified cross-validation of one network configuration on ``config.cv_rows`` rows of the
    training split (each fold: 4/5 to train, of which 1/5 stops early and calibrates; 1/5 to score)."""
    rng = np.random.default_rng(config.seed)
    rows = rng.permutation(len(split.labels["train"]))[:config.cv_rows]
    frame, labels, targets = (split.frames["train"].iloc[rows].reset_index(drop=True), split.labels["train"][rows],
                              split.targets["train"][rows])
    folds = []
    for fit_idx, score_idx in StratifiedKFold(5, shuffle=True, random_state=config.seed).split(rows, labels):
        from engine.synthesis.models.estimators import ESTIMATORS

        model = ESTIMATORS[kind](seed=config.seed, **{**(params or {}), "max_epochs": config.cv_epochs})
        model.fit(frame.iloc[fit_idx], labels[fit_idx], targets[fit_idx])
        folds.append(fold_metrics(model, frame.iloc[score_idx], labels[score_idx], targets[score_idx]))
    return {"estimator": kind, "rows": int(rows.size), "folds": 5, "max_epochs": config.cv_epochs,
            "per_fold": folds, **{f"{key}_mean": float(np.mean([f[key] for f in folds])) for key in folds[0]},
            **{f"{key}_std": float(np.std([f[key] for f in folds], ddof=1)) for key in folds[0]}}


def tune(split: Split, config: TrainConfig, trials: int = 12, rows: int = 6_000, epochs: int = 15) -> dict:
    """Optuna TPE search (seeded) of width, depth, dropout and learning rate of the MC-dropout network on the
    validation loss, with ``rows`` training rows and ``epochs`` epochs per trial. Returns the best parameters."""
    try:
        import optuna
    except ImportError:
        raise InputError("--tune needs the optional package optuna (pip install optuna==5.0.0).") from None
    from engine.synthesis.models.estimators import MCDropout

    take = np.random.default_rng(config.seed).permutation(len(split.labels["train"]))[:rows]
    frame, labels, targets = split.frames["train"].iloc[take], split.labels["train"][take], split.targets["train"][take]
    eval_set = (split.frames["val"], split.labels["val"], split.targets["val"])

    def objective(trial) -> float:
        params = {"width": trial.suggest_categorical("width", [48, 64, 96, 128]),
                  "depth": trial.suggest_int("depth", 2, 4), "dropout": trial.suggest_float("dropout", 0.02, 0.2),
                  "lr": trial.suggest_float("lr", 1e-3, 1e-2, log=True)}
        model = MCDropout(seed=config.seed, max_epochs=epochs, **params).fit(frame, labels, targets, eval_set=eval_set)
        return model.history_[0]["best_val_loss"]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=config.seed))
    study.optimize(objective, n_trials=trials)
    return {"best_params": study.best_params, "best_val_loss": float(study.best_value), "trials": trials,
            "rows": int(take.size), "epochs": epochs}


def _timed_fit(kind: str, split: Split, seed: int, params: dict):
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    model = fit_model(kind, split, seed, params)
    return model, time.perf_counter() - start


def train_all(config: TrainConfig, out_dir: Path = MODEL_DIR, kinds=NETWORK_KINDS, tuned: bool = False) -> dict:
    """Cross-validate, optionally tune, then train and save every network surrogate; returns the cards."""
    import torch

    from engine.checkpoints import save_checkpoint

    torch.set_num_threads(1)  # threads that wait on a shared, loaded CPU cost more than they gain
    split = make_split(config)
    search = tune(split, config) if tuned else None
    params = {k: v for k, v in search["best_params"].items() if k in ("width", "depth", "lr")} if search else {}
    # Every fit is deterministic in its own seed, so running them side by side in processes changes nothing: the
    # ensemble's members first, then the cross-validation and the other networks.
    first = [_timed_fit(kind, split, config.seed, params | {"n_jobs": config.jobs}) for kind in kinds
             if kind == "deep_ensemble"]
    cv, *rest = Parallel(n_jobs=config.jobs)(
        [delayed(cross_validate)(split, config, params=params)] +
        [delayed(_timed_fit)(kind, split, config.seed, params) for kind in kinds if kind != "deep_ensemble"])
    fits = dict(zip([k for k in kinds if k == "deep_ensemble"] + [k for k in kinds if k != "deep_ensemble"],
                    first + rest, strict=True))
    cards = {}
    for kind in kinds:
        model, seconds = fits[kind]
        card = {"name": f"synthesis/{kind}", "estimator": type(model).__name__, "params": model.get_params(),
                "seed": config.seed, "train_config": asdict(config), "data": split.manifest,
                "targets": ["phase (5 classes)", "cube_equivalent_edge_nm (log)", "edge_length_std_nm (log)",
                            "edge_length_nm and pl_peak_nm derived through the physics' geometry and optics maps"],
                "training_seconds": round(seconds, 1), "history": model.history_,
                "metrics": validation_metrics(model, split), "cross_validation": cv, "tuning": search,
                "reproduce": f"python -m engine train synth --seed {config.seed}" + (" --tune" if tuned else "")}
        cards[kind] = save_checkpoint(model.state(), out_dir / f"{kind}.pt", card)
    return cards


@trainer("synth")
def train_synth(args) -> dict:
    cards = train_all(TrainConfig(seed=args.seed), tuned=bool(getattr(args, "tune", False)))
    first = next(iter(cards.values()))
    return {"cross_validation": {k: v for k, v in first["cross_validation"].items() if k != "per_fold"},
            "tuning": first["tuning"],
            **{kind: {"file": c["file"], "sha256": c["sha256"], "bytes": c["bytes"], "metrics": c["metrics"],
                      "training_seconds": c["training_seconds"]} for kind, c in cards.items()}}
