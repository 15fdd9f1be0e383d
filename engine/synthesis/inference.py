"""Loading the shipped surrogates and predicting recipes with uncertainty.

:func:`load_surrogates` reads every checkpoint in ``models/synthesis/`` (verified against its model card);
a missing or corrupt file is reported per model in ``errors`` instead of raising, so callers can fall back
to the physics alone. :func:`predict` validates the recipe columns before featurising them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.synthesis.schemas import validate_arrays
from engine.synthesis.train import MODEL_DIR, NETWORK_KINDS

PREFERENCE = ("deep_ensemble", "mc_dropout", "laplace")


@dataclass
class Surrogates:
    """Loaded models and cards by kind, and a readable error for each model that could not be loaded."""

    models: dict = field(default_factory=dict)
    cards: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)

    def default(self):
        """``(kind, model)`` of the preferred available model, or ``(None, None)``."""
        for kind in PREFERENCE:
            if kind in self.models:
                return kind, self.models[kind]
        return None, None


def load_surrogates(model_dir: str | Path = MODEL_DIR, kinds=NETWORK_KINDS) -> Surrogates:
    """Every network surrogate that loads cleanly from ``model_dir``."""
    import torch

    from engine.checkpoints import CheckpointError, load_checkpoint
    from engine.synthesis.models.estimators import ESTIMATORS

    torch.set_num_threads(1)  # on a shared, loaded 2-core CPU a second thread mostly waits
    found = Surrogates()
    for kind in kinds:
        try:
            state, card = load_checkpoint(Path(model_dir) / f"{kind}.pt")
            found.models[kind] = ESTIMATORS[state["kind"]].from_state(state)
            found.cards[kind] = card
        except CheckpointError as error:
            found.errors[kind] = str(error)
        except (KeyError, RuntimeError, TypeError, ValueError) as error:
            found.errors[kind] = f"checkpoint {kind}.pt does not fit the current model code ({error})."
    return found


def predict(model, columns: dict) -> dict:
    """Validated recipe columns → :meth:`predict_with_uncertainty` of ``model``."""
    return model.predict_with_uncertainty(validate_arrays(columns))
