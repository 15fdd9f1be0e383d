"""Fitting a physical model's learnable scalars to data with scipy's L-BFGS-B (bounded, warm-started).

Gradients come from backpropagation through the differentiable solver. Positive parameters (viscosity,
diffusivity) are optimised in log space, others in their own units; the bounds are in physical units.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
import torch
from torch import nn

from engine.errors import InputError

POSITIVE = frozenset({"nu", "kappa"})  # parameters optimised as log(value)
DEFAULT_BOUNDS = {"nu": (1e-5, 1.0), "kappa": (1e-5, 1.0), "velocity": (-10.0, 10.0), "buoyancy": (-10.0, 10.0)}


@contextmanager
def one_thread():
    """Run torch on one intra-op thread: these small tensors are far faster without thread hand-offs
    (on a busy 2-core machine, 1 thread was ~25x faster than 2 for the U-Net convolutions)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def single_threaded(func):
    """Decorator form of :func:`one_thread`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with one_thread():
            return func(*args, **kwargs)

    return wrapper


@dataclass
class FitResult:
    """Fitted values, final loss (mean squared error), iterations and the loss after each evaluation."""

    values: dict[str, float]
    loss: float
    iterations: int
    history: list[float] = field(default_factory=list)


def _encode(name: str, value: float) -> float:
    return math.log(value) if name in POSITIVE else value


def _decode(name: str, value: float) -> float:
    return math.exp(value) if name in POSITIVE else value


def unrolled_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """MSE of ``model`` rolled out from ``inputs [M, C, ...]`` against ``targets [M, m, C, ...]``."""
    state, loss = inputs, 0.0
    for step in range(targets.shape[1]):
        state = model(state)
        loss = loss + torch.mean((state - targets[:, step]) ** 2)
    return loss / targets.shape[1]


@single_threaded
def fit_parameters(
    physical: nn.Module,
    loss_fn: Callable[[], torch.Tensor],
    bounds: dict[str, tuple[float, float]] | None = None,
    max_iter: int = 30,
) -> FitResult:
    """Minimise ``loss_fn()`` over ``physical``'s named parameters, starting from their current values.

    ``loss_fn`` must build its graph from ``physical`` (it may include other, frozen, models). The fitted
    values are written back into ``physical``.
    """
    params = dict(physical.named_parameters())
    if not params:
        raise InputError("the physical model has no learnable parameters to fit.")
    names = list(params)
    bounds = {**DEFAULT_BOUNDS, **(bounds or {})}
    box = []
    for name in names:
        low, high = bounds[name]
        value = float(params[name].detach())
        if not low <= value <= high:
            raise InputError(f"initial {name} = {value:g} is outside the fitting bounds [{low:g}, {high:g}].")
        box.append((_encode(name, low), _encode(name, high)))
    history: list[float] = []

    def objective(z: np.ndarray) -> tuple[float, np.ndarray]:
        with torch.no_grad():
            for name, value in zip(names, z, strict=True):
                params[name].fill_(_decode(name, float(value)))
        for p in params.values():
            p.grad = None
        loss = loss_fn()
        if not torch.isfinite(loss):
            raise InputError("the fitting loss became non-finite; check the data and the parameter bounds.")
        loss.backward()
        grad = [float(params[n].grad) * (float(params[n].detach()) if n in POSITIVE else 1.0) for n in names]
        history.append(float(loss.detach()))
        return float(loss.detach()), np.array(grad)

    z0 = np.array([_encode(n, float(params[n].detach())) for n in names])
    result = scipy.optimize.minimize(objective, z0, jac=True, method="L-BFGS-B", bounds=box,
                                     options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-10})
    with torch.no_grad():
        for name, value in zip(names, result.x, strict=True):
            params[name].fill_(_decode(name, float(value)))
    final = float(loss_fn().detach())
    return FitResult(values={n: float(params[n].detach()) for n in names}, loss=final,
                     iterations=int(result.nit), history=history)


def denoise_first_frame(u: np.ndarray, factor: float = 4.0) -> np.ndarray:
    """Low-pass the last axis of ``u``: keep Fourier modes above ``factor`` x the noise floor.

    The noise floor is the median amplitude of the upper half of the spectrum, where a smooth initial
    condition has no energy; used to start a fit from a noisy first frame without injecting noise.
    """
    u_hat = np.fft.rfft(u, axis=-1)
    amp = np.abs(u_hat)
    floor = np.median(amp[..., amp.shape[-1] // 2 :], axis=-1, keepdims=True)
    return np.fft.irfft(np.where(amp > factor * floor, u_hat, 0), n=u.shape[-1], axis=-1)
