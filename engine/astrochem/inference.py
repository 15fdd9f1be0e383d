"""The emulator as users see it: abundances in, abundances out, many clouds at once, no gradients.

``Emulator.pretrained()`` loads the shipped autoencoder + latent stepper (verified checkpoints), then
``emulate(params, initial=None, times_yr=None)`` rolls a batch of clouds over the training time grid
(1 yr .. t_end, log-spaced) from the initial state at t = 0. Other output times inside that range are
interpolated linearly in log t between grid points (in log abundance); times outside it are an error:
the stepper only knows the steps it was trained on. Parameters must lie in the training box
(:data:`~engine.astrochem.physics.VALID_BOX`); outside it the emulator would extrapolate, so it refuses.

``conserve=True`` (default) finishes with a projection onto the element and charge totals: the smallest
change in relative terms, so the main carriers of each element take the correction and trace species are
left as predicted (see :func:`project_conserved`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.astrochem.models import MODEL_DIR, Autoencoder, LatentEmulator
from engine.astrochem.network import Network, load_network
from engine.astrochem.physics import PARAM_NAMES, PARAM_SPECS, VALID_BOX, initial_abundances
from engine.astrochem.processing import FLOOR, Scaling, time_feature
from engine.checkpoints import CheckpointError
from engine.errors import InputError

SIGNIFICANT = 1e-12  # relative to n_H: species below this everywhere in a batch are not corrected


def project_conserved(x: np.ndarray, stoichiometry: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Correct abundances ``x`` (..., n_species) so that ``x @ stoichiometry == totals`` (charge last, 0).

    Minimises sum(((x' - x) / x)^2) subject to the constraints (Lagrange): ``x' = x + x^2 (S mu)`` with
    ``(S^T X^2 S) mu = r``, r the violations. Each constraint is divided by its total (charge by the total
    abundance of charged species) so the small system is well conditioned. Species never above
    ``SIGNIFICANT`` in the batch would take corrections below 1e-12 relative: they are left out (unchanged).
    Works in the dtype of ``x`` (float32 for speed, float64 for exactness); results floored at FLOOR.
    """
    shape, dtype, n_conserved = x.shape, x.dtype, stoichiometry.shape[1]
    x = x.reshape(-1, shape[-1])
    s = stoichiometry.astype(dtype)
    norm = np.empty((len(x), n_conserved))
    norm[:, :-1] = np.where(totals[:-1] > 0, totals[:-1], 1.0)
    norm[:, -1] = np.maximum(x @ np.abs(s[:, -1]), FLOOR)
    residual = (np.asarray(totals, dtype=np.float64) - x @ s) / norm
    keep = np.flatnonzero(x.max(axis=0) > SIGNIFICANT)
    kept, s_kept = x[:, keep], s[keep]
    pairs = (s_kept[:, :, None] * s_kept[:, None, :]).reshape(len(keep), -1)  # (k, C*C)
    weight = np.maximum(kept, 1e-18)  # x^2 stays a normal float32 (denormals make BLAS ~100x slower)
    system = ((weight * weight) @ pairs).astype(np.float64).reshape(-1, n_conserved, n_conserved)
    system /= norm[:, :, None] * norm[:, None, :]
    system += 1e-9 * np.eye(n_conserved)
    mu = (np.linalg.solve(system, residual[:, :, None])[:, :, 0] / norm).astype(dtype)
    out = x.copy()
    out[:, keep] = np.maximum(kept + weight * weight * (mu @ s_kept.T), FLOOR)
    return out.reshape(shape)

class Emulator:
    """Autoencoder + latent stepper + scaling, ready to emulate batches of clouds (numpy in and out)."""

    def __init__(self, autoencoder: Autoencoder, stepper: LatentEmulator, scaling: Scaling, times_yr: np.ndarray,
                 network: Network | None = None, cards: dict | None = None):
        self.autoencoder, self.stepper, self.scaling = autoencoder, stepper, scaling
        self.times_yr = np.asarray(times_yr, dtype=np.float64)
        self.network = network or load_network()
        self.cards = cards or {}
        self.device = next(stepper.parameters()).device
        self._t_next = torch.as_tensor(time_feature(self.times_yr, self.times_yr[-1]), dtype=torch.float32,
                                       device=self.device)
        self._totals = self.network.totals(initial_abundances(self.network))
        self._totals[-1] = 0.0
        self._ln_output: tuple[torch.Tensor, torch.Tensor] | None = None  # folded last decoder layer
        self._numpy_layers: list | None = None  # the stepper's (weight^T, bias) as arrays, for CPU rollouts
        self._start_latent: np.ndarray | None = None  # latent of the training start state, computed once

    @classmethod
    def pretrained(cls, directory: str | Path = MODEL_DIR) -> Emulator:
        """Load ``autoencoder.pt`` and ``emulator.pt`` from ``directory`` (CheckpointError if unusable)."""
        directory = Path(directory)
        autoencoder, ae_state, ae_card = Autoencoder.pretrained(directory / "autoencoder.pt")
        stepper, em_state, em_card = LatentEmulator.pretrained(directory / "emulator.pt")
        network = load_network()
        if em_state.get("autoencoder_sha256") != ae_card["sha256"]:
            raise CheckpointError("emulator.pt was trained on another autoencoder.pt; retrain both with "
                                  "`python -m engine train astro`.")
        if list(ae_state.get("species", [])) != list(network.species):
            raise CheckpointError("autoencoder.pt was trained on another species list than the shipped network.")
        try:
            scaling = Scaling.from_state(ae_state["scaling"])
            times_yr = np.asarray(em_state["times_yr"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"the emulator checkpoints lack their scaling or time grid ({error}).") from None
        return cls(autoencoder, stepper, scaling, times_yr, network, {"autoencoder": ae_card, "emulator": em_card})

    @property
    def latent_size(self) -> int:
        return int(self.stepper.latent_mean.shape[0])

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.array(array, dtype=np.float32), device=self.device)

    @torch.inference_mode()
    def encode(self, abundances: np.ndarray) -> np.ndarray:
        """Latent vectors (..., L) of abundance vectors (..., n_species) relative to n_H."""
        return self.autoencoder.encode(self._tensor(self.scaling.to_model(np.asarray(abundances)))).cpu().numpy()

    @torch.inference_mode()
    def decode(self, latent: np.ndarray) -> np.ndarray:
        """Abundances (..., n_species) relative to n_H of latent vectors (..., L)."""
        scaled = self.autoencoder.decode(self._tensor(latent)).cpu().numpy().astype(np.float64)
        return 10.0 ** self.scaling.from_model(scaled)

    def check_params(self, params) -> np.ndarray:
        """Parameter rows (n, 5) in physical units, each inside the training box, else InputError."""
        try:
            array = np.atleast_2d(np.asarray(params, dtype=np.float64))
        except (TypeError, ValueError):
            raise InputError("params must be numbers: rows of (density, temperature, g0, av, zeta)") from None
        if array.ndim != 2 or array.shape[1] != len(PARAM_NAMES) or len(array) == 0:
            raise InputError(f"params must have shape (n, 5) with columns {', '.join(PARAM_NAMES)}; "
                             f"got {array.shape}")
        for column, name in enumerate(PARAM_NAMES):
            low, high = VALID_BOX[name]
            values = array[:, column]
            bad = ~(np.isfinite(values) & (values >= low * (1 - 1e-9)) & (values <= high * (1 + 1e-9)))
            if bad.any():
                unit = PARAM_SPECS[name].unit
                raise InputError(f"{name} = {values[bad][0]:g} {unit} is outside the emulator's training box "
                                 f"[{low:g}, {high:g}] {unit}; use the solver there")
        return array

    def check_times(self, times_yr) -> np.ndarray:
        """Requested output times (yr): increasing, inside the training grid [first, last]."""
        times = np.atleast_1d(np.asarray(times_yr, dtype=np.float64))
        first, last = self.times_yr[0], self.times_yr[-1]
        if times.ndim != 1 or not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
            raise InputError("times_yr must be finite and strictly increasing")
        if times[0] < first * (1 - 1e-9) or times[-1] > last * (1 + 1e-9):
            raise InputError(f"times_yr must lie in [{first:g}, {last:g}] yr, the time grid the emulator was "
                             f"trained on; got {times[0]:g}..{times[-1]:g} yr")
        return np.clip(times, first, last)

    @torch.inference_mode()
    def latent_emulate(self, params, initial_latent: np.ndarray | None = None) -> np.ndarray:
        """Latent trajectories (n, 1 + n_grid, L): the start (t = 0) then every training-grid time."""
        params = self.check_params(params)
        if initial_latent is None:
            if self._start_latent is None:
                self._start_latent = self.encode(initial_abundances(self.network))
            initial_latent = np.broadcast_to(self._start_latent, (len(params), self.latent_size))
        scaled = self.scaling.params_to_model(params)
        if self.device.type == "cpu":
            return self._cpu_rollout(scaled.astype(np.float32), np.asarray(initial_latent, dtype=np.float32))
        z0 = self._tensor(initial_latent)
        rolled = self.stepper.rollout(self._tensor(scaled), self._t_next, z0)
        return torch.cat([z0[:, None], rolled], dim=1).cpu().numpy()

    def _cpu_rollout(self, params: np.ndarray, z0: np.ndarray) -> np.ndarray:
        """The stepper's rollout in NumPy (same maths as :meth:`LatentEmulator.rollout`, which a test checks):
        on a CPU, NumPy's per-call overhead is several times lower than PyTorch's over 64 small steps.
        The latent standardisation and the constant inputs are folded into the first layer once per call."""
        if self._numpy_layers is None:
            self._numpy_layers = [(layer.weight.detach().cpu().numpy().T.copy(), layer.bias.detach().cpu().numpy())
                                  for layer in self.stepper._linears]
        layers = self._numpy_layers
        mean, std = (self.stepper.latent_mean.cpu().numpy(), self.stepper.latent_std.cpu().numpy())
        low, high = self.stepper.latent_low.cpu().numpy(), self.stepper.latent_high.cpu().numpy()
        first, bias = layers[0]
        n_params = params.shape[1]
        w_time, w_latent = first[n_params], first[n_params + 1:] / std[:, None]
        constant = params @ first[:n_params] + bias - (mean / std) @ first[n_params + 1:]
        t_next = self._t_next.cpu().numpy()
        out = np.empty((len(params), len(t_next) + 1, len(mean)), dtype=np.float32)
        out[:, 0] = z = z0
        with np.errstate(over="ignore"):
            for k, t in enumerate(t_next):
                h = constant + t * w_time + z @ w_latent
                h = h / (1.0 + np.exp(-h))
                for weight, b in layers[1:-1]:
                    h = h @ weight + b
                    h = h / (1.0 + np.exp(-h))
                z = np.clip(z + (h @ layers[-1][0] + layers[-1][1]) * std, low, high)
                out[:, k + 1] = z
        return out

    def emulate(self, params, initial: np.ndarray | None = None, times_yr=None, conserve: bool = True) -> np.ndarray:
        """Abundances (n, n_times, n_species, float32) relative to n_H for parameter rows (n, 5).

        ``initial`` (n_species,) or (n, n_species): state at t = 0 (default: the dense-cloud start the
        emulator was trained from; other starts are outside its training data). ``times_yr``: output
        times (default: the training grid).
        """
        params = self.check_params(params)
        start = None
        if initial is not None:
            initial = np.asarray(initial, dtype=np.float64)
            if initial.shape[-1] != self.network.n_species or not np.all(np.isfinite(initial)) or np.any(initial < 0):
                raise InputError(f"initial abundances must be {self.network.n_species} finite values >= 0 per row")
            start = np.broadcast_to(self.encode(initial), (len(params), self.latent_size))
        latents = self.latent_emulate(params, start)[:, 1:]
        logs = self._ln_abundances(latents)
        if times_yr is not None:
            logs = _interpolate_log_time(self.times_yr, logs, self.check_times(times_yr)).astype(np.float32)
        abundances = np.exp(logs, out=logs)
        if conserve:
            abundances = project_conserved(abundances, self.network.stoichiometry, self._totals)
        return abundances

    @torch.inference_mode()
    def _ln_abundances(self, latents: np.ndarray) -> np.ndarray:
        """Natural-log abundances of latents: the decoder with the output scaling folded into its last layer."""
        ae = self.autoencoder
        if self._ln_output is None:
            factor = self.scaling.species_scale * np.log(10.0)
            mean = torch.as_tensor(self.scaling.species_mean * np.log(10.0), dtype=torch.float32, device=self.device)
            self._ln_output = (ae.w1.t() * factor, ae.dec_b2 * factor + mean)
        hidden = torch.nn.functional.silu(torch.nn.functional.linear(self._tensor(latents), ae.w2.t(), ae.dec_b1))
        return torch.nn.functional.linear(hidden, *self._ln_output).cpu().numpy()


def _interpolate_log_time(grid_yr: np.ndarray, values: np.ndarray, times_yr: np.ndarray) -> np.ndarray:
    """Linear interpolation in log10 t of ``values`` (n, len(grid), S) at ``times_yr``."""
    position = np.interp(np.log10(times_yr), np.log10(grid_yr), np.arange(len(grid_yr), dtype=np.float64))
    low = np.minimum(np.floor(position).astype(int), len(grid_yr) - 2)
    weight = (position - low)[None, :, None]
    return values[:, low] * (1.0 - weight) + values[:, low + 1] * weight

