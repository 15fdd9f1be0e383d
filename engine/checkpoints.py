"""Checkpoints with model cards: written together, verified by sha256 before anything is loaded.

A checkpoint ``NAME.pt`` (a ``torch.save`` of tensors and plain Python values) sits beside its card
``NAME.card.json`` (data, seed, metrics, ...). Loading checks that the card exists, that the file's
sha256 matches the card, and only then calls ``torch.load(weights_only=True)``, so a corrupt or
swapped file is a clear :class:`CheckpointError` and never executes code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from engine.errors import TwinLabError

log = logging.getLogger(__name__)


class CheckpointError(TwinLabError):
    """A checkpoint is missing, corrupt, or does not match its model card."""


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def card_path(checkpoint: str | Path) -> Path:
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".card.json")


def save_checkpoint(state: dict, path: str | Path, card: dict) -> dict:
    """Write ``state`` to ``path`` and its card (with ``file`` and ``sha256`` added); returns the card."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    card = {**card, "file": path.name, "sha256": sha256_of(path), "bytes": path.stat().st_size}
    card_path(path).write_text(json.dumps(card, indent=2, sort_keys=True, default=float) + "\n")
    return card


def read_card(path: str | Path) -> dict:
    """The model card of checkpoint ``path``."""
    card_file = card_path(path)
    try:
        return json.loads(card_file.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"model card {card_file.name} is missing beside {Path(path).name}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"model card {card_file.name} is not valid JSON ({error}).") from None


def verified_torch_load(path: str | Path, card: dict, map_location: str = "cpu"):
    """``torch.load(weights_only=True)`` of ``path`` once its sha256 matches ``card["sha256"]``."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; rebuild it with `python -m engine train ...`.")
    actual = sha256_of(path)
    if card.get("sha256") != actual:
        raise CheckpointError(f"checkpoint {path.name} does not match its model card (sha256 {actual[:12]}… "
                              f"≠ {str(card.get('sha256'))[:12]}…): the file is corrupt or was replaced.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path.name} cannot be read ({type(error).__name__}).") from None
    log.info("loaded checkpoint %s (sha256 verified)", path.resolve())  # the load test counts these lines
    return state


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> tuple[dict, dict]:
    """``(state, card)`` of a verified checkpoint; any problem is a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; rebuild it with `python -m engine train ...`.")
    card = read_card(path)
    return verified_torch_load(path, card, map_location), card
