"""Neural networks of the emulator: a tied-weight autoencoder and a latent time-stepper.

* :class:`Autoencoder`: scaled log abundances (n_species) -> latent (8-16) -> back. The decoder reuses the
  encoder's weight matrices transposed (tied weights: half the parameters).
* :class:`LatentEmulator`: one step on the training time grid, ``z_next = z + f(params, t_next, z)`` with
  ``f`` an MLP on the scaled log parameters, the scaled log time of the step's end and the standardised
  latent (the grid is log-spaced, so the step length depends on where we are: the time is an input).
  Each step is clamped to the box of the training latents, so a rollout never leaves the region the
  decoder was trained on.

Both are plain ``nn.Module``s; ``pretrained(path)`` loads a verified checkpoint (see
:mod:`engine.checkpoints`) onto :func:`engine.backend.torch_device`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from engine.checkpoints import CheckpointError, load_checkpoint

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "astrochem"
N_PARAMS = 5


@dataclass(frozen=True)
class AutoencoderConfig:
    """Widths of the autoencoder and how long to train it."""

    latent: int = 12
    hidden: int = 32
    epochs: int = 80
    lr: float = 2e-3


@dataclass(frozen=True)
class EmulatorConfig:
    """Widths of the latent stepper and how long to train it (unrolled over up to ``rollout`` steps)."""

    hidden: int = 32
    depth: int = 3
    epochs: int = 120
    lr: float = 1e-3
    rollout: int = 64


class Autoencoder(nn.Module):
    """Tied-weight autoencoder on scaled log abundances."""

    def __init__(self, n_species: int, config: AutoencoderConfig = AutoencoderConfig()):
        super().__init__()
        self.config = config
        self.w1 = nn.Parameter(torch.empty(config.hidden, n_species))
        self.w2 = nn.Parameter(torch.empty(config.latent, config.hidden))
        nn.init.xavier_uniform_(self.w1)
        nn.init.xavier_uniform_(self.w2)
        self.enc_b1 = nn.Parameter(torch.zeros(config.hidden))
        self.enc_b2 = nn.Parameter(torch.zeros(config.latent))
        self.dec_b1 = nn.Parameter(torch.zeros(config.hidden))
        self.dec_b2 = nn.Parameter(torch.zeros(n_species))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.silu(F.linear(x, self.w1, self.enc_b1)), self.w2, self.enc_b2)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return F.linear(F.silu(F.linear(z, self.w2.t(), self.dec_b1)), self.w1.t(), self.dec_b2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @classmethod
    def pretrained(cls, path: str | Path = MODEL_DIR / "autoencoder.pt") -> tuple[Autoencoder, dict, dict]:
        """``(model, extras, card)`` from a verified checkpoint; extras hold the fitted scaling and species."""
        state, card = load_checkpoint(path)
        model = _build(cls, state, lambda config: cls(len(state["species"]), AutoencoderConfig(**config)), path)
        return model, state, card


class LatentEmulator(nn.Module):
    """Residual MLP stepping the latent state from one output time to the next."""

    def __init__(self, latent: int, config: EmulatorConfig = EmulatorConfig()):
        super().__init__()
        self.config = config
        layers, width = [], N_PARAMS + 1 + latent
        for _ in range(config.depth):
            layers += [nn.Linear(width, config.hidden), nn.SiLU()]
            width = config.hidden
        layers.append(nn.Linear(width, latent))
        self.net = nn.Sequential(*layers)
        self._linears = [layer for layer in self.net if isinstance(layer, nn.Linear)]  # plain list: not re-registered
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.register_buffer("latent_mean", torch.zeros(latent))
        self.register_buffer("latent_std", torch.ones(latent))
        self.register_buffer("latent_low", torch.full((latent,), -torch.inf))
        self.register_buffer("latent_high", torch.full((latent,), torch.inf))

    def forward(self, params: torch.Tensor, t_next: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Latent at the next output time. ``params`` (B, 5) scaled, ``t_next`` (B, 1) scaled, ``z`` (B, L)."""
        h = torch.cat([params, t_next, (z - self.latent_mean) / self.latent_std], dim=-1)
        layers = self._linears  # called directly (SiLU in between): ~2x less overhead per step than nn.Sequential
        for layer in layers[:-1]:
            h = F.silu(F.linear(h, layer.weight, layer.bias))
        step = F.linear(h, layers[-1].weight, layers[-1].bias) * self.latent_std
        return torch.clamp(z + step, self.latent_low, self.latent_high)

    def rollout(self, params: torch.Tensor, t_next: torch.Tensor, z0: torch.Tensor) -> torch.Tensor:
        """Latents after each of the steps in ``t_next`` (S,) starting from ``z0`` (B, L): (B, S, L)."""
        out, z = [], z0
        for k in range(t_next.shape[0]):
            z = self(params, t_next[k].expand(z.shape[0], 1), z)
            out.append(z)
        return torch.stack(out, dim=1)

    @classmethod
    def pretrained(cls, path: str | Path = MODEL_DIR / "emulator.pt") -> tuple[LatentEmulator, dict, dict]:
        """``(model, extras, card)`` from a verified checkpoint; extras hold the time grid."""
        state, card = load_checkpoint(path)
        model = _build(cls, state, lambda config: cls(int(state["latent"]), EmulatorConfig(**config)), path)
        return model, state, card


def _build(cls, state: dict, make, path) -> nn.Module:
    """Instantiate from the stored config and load the weights; any mismatch is a CheckpointError."""
    from engine.backend import torch_device

    try:
        model = make(state["config"])
        model.load_state_dict(state["weights"])
    except (KeyError, TypeError, RuntimeError) as error:
        raise CheckpointError(f"{Path(path).name} is not a {cls.__name__} checkpoint ({error}); "
                              "rebuild it with `python -m engine train astro`.") from None
    return model.to(torch_device()).eval()


def checkpoint_state(model: nn.Module, **extras) -> dict:
    """What we store: the config, the weights (on CPU) and plain extras."""
    weights = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    return {"config": asdict(model.config), "weights": weights, **extras}
