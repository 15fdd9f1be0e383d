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

from engine.astrochem.compiled import decode_rows_, exp2_, project_rows_, rollout_
from engine.astrochem.models import MODEL_DIR, Autoencoder, LatentEmulator
from engine.astrochem.network import Network, load_network
from engine.astrochem.physics import PARAM_NAMES, PARAM_SPECS, VALID_BOX, initial_abundances
from engine.astrochem.processing import Scaling, time_feature
from engine.checkpoints import CheckpointError
from engine.errors import InputError


def project_conserved(x: np.ndarray, stoichiometry: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Correct abundances ``x`` (..., n_species) so that ``x @ stoichiometry == totals`` (charge last, 0).

    Minimises sum(((x' - x) / x)^2) subject to the constraints (Lagrange): ``x' = x + x^2 (S mu)`` with
    ``(S^T X^2 S) mu = r``, r the violations. Each constraint is divided by its total (charge by the total
    abundance of charged species) so the small system is well conditioned. A species' correction scales
    with its abundance squared, so the main carriers of each element take it and trace species keep
    their values (species below ``SIGNIFICANT`` in every row are not corrected). Works in the dtype of ``x``
    (float32 for speed, float64 for exactness); the small systems are solved in float64; results are
    floored at FLOOR. Returns a new array.
    """
    shape = x.shape
    out = np.array(x, copy=True).reshape(-1, shape[-1])
    _Projector(stoichiometry, totals, out.dtype).apply_(out)
    return out.reshape(shape)


class _Projector:
    """:func:`project_conserved` with its constant matrices prepared once (in the dtype of the rows it corrects)."""

    def __init__(self, stoichiometry: np.ndarray, totals: np.ndarray, dtype=np.float32):
        s = np.asarray(stoichiometry, dtype=np.float64)
        upper_i, upper_j = np.triu_indices(s.shape[1])
        self.totals = np.asarray(totals, dtype=np.float64)  # (C,): elements, then charge (0)
        self.scale = np.where(self.totals[:-1] > 0, self.totals[:-1], 1.0)  # element totals
        self.with_charge_t = np.ascontiguousarray(np.column_stack([s, np.abs(s[:, -1])]).T.astype(dtype))
        pairs = s[:, upper_i] * s[:, upper_j]  # (S, C(C+1)/2): S^T X^2 S = pairs^T x^2, upper half by rows
        species, self.pair_index = np.nonzero(pairs)  # sparse by species, for the compiled kernel
        self.pair_value = pairs[species, self.pair_index].astype(dtype)
        self.pair_start = np.searchsorted(species, np.arange(len(s) + 1))
        self.transposed = np.ascontiguousarray(s.T.astype(dtype))

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        return (self.with_charge_t, self.pair_start, self.pair_index, self.pair_value, self.transposed, self.totals,
                self.scale)

    def apply_(self, x: np.ndarray) -> None:
        """Project the rows of ``x`` (b, n_species, C order) onto the conserved totals, in place, block by block
        (:func:`~engine.astrochem.compiled.project_block_`). Species below ``SIGNIFICANT`` in every row of a
        block are left out of the correction (never of the totals); included, they would have moved by less
        than ~2e-4 of themselves (measured on 256 held-out clouds)."""
        project_rows_(x, x.view(np.int32 if x.dtype == np.float32 else np.int64), *self.arrays)


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
        self._decoder: tuple[np.ndarray, ...] | None = None  # decoder arrays, output scaling folded in
        self._projection: _Projector | None = None
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
        """The stepper's rollout in one compiled call (:func:`~engine.astrochem.compiled.rollout_`; same maths as
        :meth:`LatentEmulator.rollout`, which a test checks). The latent standardisation and the constant
        inputs are folded into the first layer once per call, the output standardisation into the last."""
        if self._numpy_layers is None:
            self._numpy_layers = [(layer.weight.detach().cpu().numpy().T.copy(), layer.bias.detach().cpu().numpy())
                                  for layer in self.stepper._linears]
        layers = self._numpy_layers
        mean, std = (self.stepper.latent_mean.cpu().numpy(), self.stepper.latent_std.cpu().numpy())
        low, high = self.stepper.latent_low.cpu().numpy(), self.stepper.latent_high.cpu().numpy()
        first, bias = layers[0]
        n_params = params.shape[1]
        w_latent = np.ascontiguousarray(first[n_params + 1:] / std[:, None], dtype=np.float32)
        constant = np.ascontiguousarray(params @ first[:n_params] + bias - (mean / std) @ first[n_params + 1:],
                                        dtype=np.float32)
        hidden = layers[1:-1]
        width = first.shape[1]
        w_hidden = np.array([weight for weight, _ in hidden], dtype=np.float32).reshape(len(hidden), width, width)
        b_hidden = np.array([b for _, b in hidden], dtype=np.float32).reshape(len(hidden), width)
        t_next = self._t_next.cpu().numpy()
        out = np.empty((len(params), len(t_next) + 1, len(mean)), dtype=np.float32)
        rollout_(np.ascontiguousarray(z0, dtype=np.float32), constant, w_latent, first[n_params].copy(), t_next,
                 w_hidden, b_hidden, np.ascontiguousarray(layers[-1][0] * std), layers[-1][1] * std, low, high, out)
        return out

    def emulate(self, params, initial: np.ndarray | None = None, times_yr=None, conserve: bool = True) -> np.ndarray:
        """Abundances (n, n_times, n_species, float32) relative to n_H for parameter rows (n, 5).

        ``initial`` (n_species,) or (n, n_species): state at t = 0 (default: the dense-cloud start the
        emulator was trained from; other starts are outside its training data). ``times_yr``: output
        times (default: the training grid); only the grid points around them are decoded.
        """
        params = self.check_params(params)
        start = None
        if initial is not None:
            initial = np.asarray(initial, dtype=np.float64)
            if initial.shape[-1] != self.network.n_species or not np.all(np.isfinite(initial)) or np.any(initial < 0):
                raise InputError(f"initial abundances must be {self.network.n_species} finite values >= 0 per row")
            start = np.broadcast_to(self.encode(initial), (len(params), self.latent_size))
        latents = self.latent_emulate(params, start)[:, 1:]
        if times_yr is None:
            return self._abundances(latents, conserve)
        position = np.interp(np.log10(self.check_times(times_yr)), np.log10(self.times_yr),
                             np.arange(len(self.times_yr), dtype=np.float64))
        low = np.minimum(np.floor(position).astype(int), len(self.times_yr) - 2)
        needed, where = np.unique(np.concatenate([low, low + 1]), return_inverse=True)
        logs = self._log2_abundances(latents[:, needed])
        weight = (position - low).astype(np.float32)[None, :, None]
        abundances = logs[:, where[:len(low)]] * (1.0 - weight) + logs[:, where[len(low):]] * weight
        abundances = np.ascontiguousarray(abundances)  # so that the reshape below is a view
        exp2_(abundances, np.empty(abundances.size, dtype=np.int32))
        if conserve:
            self._projector.apply_(abundances.reshape(-1, abundances.shape[-1]))
        return abundances

    @property
    def _projector(self) -> _Projector:
        if self._projection is None:
            self._projection = _Projector(self.network.stoichiometry, self._totals)
        return self._projection

    def _decoder_arrays(self) -> tuple[np.ndarray, ...]:
        """The decoder as arrays: (W_in^T, b_in, W_out^T, b_out), the output scaling folded into the last
        layer so that it yields base-2 log abundances (2^x is cheaper than e^x: no argument scaling)."""
        if self._decoder is None:
            ae = self.autoencoder
            tensors = (ae.w2, ae.dec_b1, ae.w1, ae.dec_b2)
            w_in, b_in, w_out, b_out = (tensor.detach().cpu().numpy() for tensor in tensors)
            factor = np.float32(self.scaling.species_scale * np.log2(10.0))
            shift = (self.scaling.species_mean * np.log2(10.0)).astype(np.float32)
            self._decoder = (w_in.copy(), b_in.copy(), w_out * factor, b_out * factor + shift)
        return self._decoder

    def _log2_abundances(self, latents: np.ndarray) -> np.ndarray:
        """Base-2 log abundances (..., n_species, float32) of latents (..., L)."""
        return self._decode(latents, exponentiate=False, conserve=False)

    def _abundances(self, latents: np.ndarray, conserve: bool) -> np.ndarray:
        """Abundances (..., n_species, float32) of latents (..., L), projected if ``conserve``."""
        return self._decode(latents, exponentiate=True, conserve=conserve)

    def _decode(self, latents: np.ndarray, exponentiate: bool, conserve: bool) -> np.ndarray:
        """Decode (and exponentiate, project) every latent in one compiled pass over row blocks that stay in
        cache through all the steps (:func:`~engine.astrochem.compiled.decode_rows_`)."""
        flat = np.ascontiguousarray(latents, dtype=np.float32).reshape(-1, latents.shape[-1])
        out = np.empty((len(flat), self.network.n_species), dtype=np.float32)
        decode_rows_(flat, *self._decoder_arrays(), out, exponentiate, conserve, *self._projector.arrays)
        return out.reshape(*latents.shape[:-1], -1)
