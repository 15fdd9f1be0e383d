"""Neural ("synthetic") time steppers: a periodic U-Net, a Fourier neural operator and a local CNN (1-D/2-D).

Every model maps a state ``[batch, channels, *space]`` to the next state with ``forward(state)``, as a
residual update ``state + increment(state)``; :meth:`increment` alone is what a hybrid model adds to a
physical step. The last layer starts at zero, so an untrained model is the identity (zero increment).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

import torch
from torch import nn

from engine.errors import InputError


class Architecture(StrEnum):
    UNET = "unet"
    FNO = "fno"
    LOCAL = "local"


@dataclass(frozen=True)
class NetConfig:
    """Architecture and size of a synthetic model (``modes`` is used by the FNO only)."""

    architecture: Architecture = Architecture.UNET
    dim: int = 1
    channels: int = 1
    width: int = 16
    modes: int = 12

    def __post_init__(self):
        if self.dim not in (1, 2):
            raise InputError(f"dim = {self.dim}; allowed 1 or 2.")
        if not 1 <= self.width <= 256:
            raise InputError(f"width = {self.width} is outside [1, 256].")

    def to_dict(self) -> dict:
        return {**asdict(self), "architecture": str(self.architecture)}


def _conv(dim: int, c_in: int, c_out: int, kernel: int = 3) -> nn.Module:
    cls = nn.Conv1d if dim == 1 else nn.Conv2d
    return cls(c_in, c_out, kernel, padding=kernel // 2, padding_mode="circular")


def _block(dim: int, c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(_conv(dim, c_in, c_out), nn.GELU(), _conv(dim, c_out, c_out), nn.GELU())


def _zero_last(module: nn.Module) -> None:
    nn.init.zeros_(module.weight)
    nn.init.zeros_(module.bias)


class SyntheticModel(nn.Module):
    """Base: residual time stepper ``forward(state) = state + increment(state)``."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config

    def increment(self, state: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return state + self.increment(state)


class UNet(SyntheticModel):
    """Two-level U-Net with circular padding (periodic), average-pool down, nearest up, skip connections."""

    def __init__(self, config: NetConfig):
        super().__init__(config)
        d, c, w = config.dim, config.channels, config.width
        self.enc1, self.enc2, self.mid = _block(d, c, w), _block(d, w, 2 * w), _block(d, 2 * w, 2 * w)
        self.dec2, self.dec1 = _block(d, 4 * w, w), _block(d, 2 * w, w)
        self.pool = nn.AvgPool1d(2) if d == 1 else nn.AvgPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = _conv(d, w, c, kernel=1)
        _zero_last(self.head)

    def increment(self, state: torch.Tensor) -> torch.Tensor:
        if any(n % 4 for n in state.shape[2:]):
            raise InputError(f"U-Net needs grid sizes divisible by 4; got {tuple(state.shape[2:])}.")
        e1 = self.enc1(state)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up(m), e2], dim=1))
        return self.head(self.dec1(torch.cat([self.up(d2), e1], dim=1)))


class SpectralConv(nn.Module):
    """Fourier layer: multiply the lowest ``modes`` Fourier coefficients by learned complex matrices."""

    def __init__(self, dim: int, width: int, modes: int):
        super().__init__()
        self.dim, self.modes = dim, modes
        shape = (width, width, modes) if dim == 1 else (2, width, width, modes, modes)
        scale = 1.0 / (width * width)
        self.weight = nn.Parameter(scale * torch.randn(*shape, dtype=torch.cfloat))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.modes
        if self.dim == 1:
            x_hat = torch.fft.rfft(x)
            out = torch.zeros_like(x_hat)
            out[..., :m] = torch.einsum("bix,iox->box", x_hat[..., :m], self.weight)
            return torch.fft.irfft(out, n=x.shape[-1])
        x_hat = torch.fft.rfft2(x)
        out = torch.zeros_like(x_hat)
        out[..., :m, :m] = torch.einsum("biyx,ioyx->boyx", x_hat[..., :m, :m], self.weight[0])
        out[..., -m:, :m] = torch.einsum("biyx,ioyx->boyx", x_hat[..., -m:, :m], self.weight[1])
        return torch.fft.irfft2(out, s=x.shape[-2:])


class FNO(SyntheticModel):
    """Fourier neural operator (Li et al. 2021): lift, four Fourier+pointwise layers with GELU, project."""

    def __init__(self, config: NetConfig, layers: int = 4):
        super().__init__(config)
        d, c, w = config.dim, config.channels, config.width
        self.lift = _conv(d, c, w, kernel=1)
        self.spectral = nn.ModuleList(SpectralConv(d, w, config.modes) for _ in range(layers))
        self.pointwise = nn.ModuleList(_conv(d, w, w, kernel=1) for _ in range(layers))
        self.proj = nn.Sequential(_conv(d, w, 2 * w, kernel=1), nn.GELU(), _conv(d, 2 * w, c, kernel=1))
        _zero_last(self.proj[-1])

    def increment(self, state: torch.Tensor) -> torch.Tensor:
        if min(state.shape[2:]) < 2 * self.config.modes:
            raise InputError(f"FNO with {self.config.modes} modes needs grid sizes >= {2 * self.config.modes}.")
        h = self.lift(state)
        for spectral, pointwise in zip(self.spectral, self.pointwise, strict=True):
            h = nn.functional.gelu(spectral(h) + pointwise(h))
        return self.proj(h)


class LocalCNN(SyntheticModel):
    """Three 3-point convolutions (receptive field 7 points): a local closure, as missing physics usually is."""

    def __init__(self, config: NetConfig):
        super().__init__(config)
        d, c, w = config.dim, config.channels, config.width
        self.body = nn.Sequential(_conv(d, c, w), nn.GELU(), _conv(d, w, w), nn.GELU(), _conv(d, w, w), nn.GELU())
        self.head = _conv(d, w, c, kernel=1)
        _zero_last(self.head)

    def increment(self, state: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(state))


ARCHITECTURES: dict[Architecture, type[SyntheticModel]] = {
    Architecture.UNET: UNet, Architecture.FNO: FNO, Architecture.LOCAL: LocalCNN}


def build(config: NetConfig, seed: int = 0) -> SyntheticModel:
    """A freshly initialised synthetic model (deterministic for a given ``seed``)."""
    torch.manual_seed(seed)
    return ARCHITECTURES[Architecture(config.architecture)](config)
