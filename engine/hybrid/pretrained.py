"""Shipped checkpoints of the partially-known-physics experiment (``models/hybrid/``) and their model card.

``python -m engine train pde`` reproduces them; :func:`load` verifies each file's sha256 against the card
before loading it with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from engine.checkpoints import CheckpointError, sha256_of, verified_torch_load
from engine.errors import InputError
from engine.hybrid.experiment import PartialPhysicsConfig, run
from engine.hybrid.hybrid import HybridModel
from engine.hybrid.physical import Burgers
from engine.hybrid.spectral import Grid
from engine.hybrid.synthetic import build
from engine.registry import trainer

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "hybrid"
FILES = {"physical": "physical.pt", "neural": "neural.pt", "hybrid": "hybrid.pt"}  # U-Net is the shipped neural


def _card(config: PartialPhysicsConfig, result: dict, directory: Path) -> dict:
    return {
        "name": "hybrid-pde partially-known-physics",
        "data": (f"1-D periodic Burgers + reaction r u (1 - u^2), nu = {config.nu}, r = {config.reaction}, "
                 f"nx = {config.nx}, dt = {config.dt}, {config.n_steps} steps; random Fourier-mode initial "
                 f"conditions; {config.n_train} training / {config.n_val} validation / {config.n_test} test "
                 "trajectories from the project's spectral solver. The physical model lacks the reaction term. "
                 "The hybrid's coupling is chosen on the validation split; the test split is scored once."),
        "seed": config.seed,
        "config": json.loads(json.dumps(asdict(config), default=str)),
        "metrics": {"test_nrmse": result["test_nrmse"], "val_nrmse": result["val_nrmse"],
                    "couplings_on_validation": result["couplings"], "chosen_coupling": result["chosen_coupling"],
                    "physical_nu": result["physical_nu"], "hybrid_nu": result["hybrid_nu"],
                    "hybrid_cycles": result["hybrid_history"]},
        "files": {name: {"path": file, "sha256": sha256_of(directory / file)} for name, file in FILES.items()},
        "reproduce": "python -m engine train pde",
    }


@trainer("pde")
def train_pde(args, directory: Path = MODEL_DIR) -> dict:
    """Run the experiment with seed ``args.seed`` and write checkpoints + ``card.json`` to ``directory``."""
    config = PartialPhysicsConfig(seed=args.seed)
    result = run(config)
    directory.mkdir(parents=True, exist_ok=True)
    for name, file in FILES.items():
        torch.save(result["models"][name].state_dict(), directory / file)
    card = _card(config, result, directory)
    (directory / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def load(directory: Path = MODEL_DIR) -> tuple[dict[str, torch.nn.Module], dict]:
    """The three shipped models (eval mode) and the card; a missing or altered file is a :class:`CheckpointError`."""
    card_path = directory / "card.json"
    if not card_path.is_file():
        raise InputError(f"no pretrained hybrid models in {directory}; run `python -m engine train pde`.")
    try:
        card = json.loads(card_path.read_text())
        files = {name: card["files"][name] for name in FILES}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise CheckpointError(f"model card {card_path} is not valid JSON with a 'files' entry per model.") from None
    config = PartialPhysicsConfig(seed=card["seed"])
    grid = Grid((config.nx,))
    models = {"physical": Burgers(grid, config.dt, config.nu_guess), "neural": build(config.net),
              "hybrid": HybridModel(Burgers(grid, config.dt, config.nu_guess), build(config.closure))}
    for name, model in models.items():
        model.load_state_dict(verified_torch_load(directory / FILES[name], files[name]))
        model.eval()
    return models, card
