"""Datasets with known ground truth on graphs: a Gaussian Markov random field and Heisenberg spins.

* ``gmrf``: each of ``dim`` components is N(0, Q⁻¹) with precision Q = κ² I + L, sampled exactly in
  the Laplacian eigenbasis. Energy ½ Σ_c s_cᵀ Q s_c (dimensionless).
* ``heisenberg``: classical unit 3-vectors with H = -J Σ_<ij> s_i·s_j at temperature T (units of J,
  k_B = 1), sampled by Metropolis + over-relaxation MCMC over independent chains, burned in and
  thinned by the measured integrated autocorrelation time of the energy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.diffusion.graphs import Graph, grid
from engine.errors import InputError

MAX_SAMPLES = 100_000


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: its graph, vector dimension and physical parameters."""

    name: str
    graph: Graph
    dim: int
    params: dict = field(default_factory=dict)

    @property
    def unit_norm(self) -> bool:
        """True when every node carries a unit vector (spins)."""
        return self.name == "heisenberg"

    def energy(self, x: np.ndarray) -> np.ndarray:
        """Energy per configuration, [n] (J for spins; dimensionless for the GMRF)."""
        return ENERGIES[self.name](self, np.asarray(x, float))


def heisenberg_energy(spec: DatasetSpec, x: np.ndarray) -> np.ndarray:
    """H = -J Σ_<ij> s_i·s_j over the graph's edges (no normalisation of s)."""
    i, j = spec.graph.edges[:, 0], spec.graph.edges[:, 1]
    return -spec.params.get("J", 1.0) * np.einsum("bed,bed->b", x[:, i], x[:, j])


def gmrf_energy(spec: DatasetSpec, x: np.ndarray) -> np.ndarray:
    """½ Σ_c s_cᵀ (κ² I + L) s_c."""
    kappa2 = spec.params["kappa"] ** 2
    lx = np.einsum("nm,bmd->bnd", spec.graph.laplacian.toarray(), x)
    return 0.5 * (kappa2 * np.einsum("bnd,bnd->b", x, x) + np.einsum("bnd,bnd->b", x, lx))


ENERGIES: dict[str, Callable] = {"heisenberg": heisenberg_energy, "gmrf": gmrf_energy}


def gmrf_covariance(spec: DatasetSpec) -> np.ndarray:
    """Exact covariance of one component, (κ² I + L)⁻¹, [nodes, nodes]."""
    q = spec.params["kappa"] ** 2 * np.eye(spec.graph.n_nodes) + spec.graph.laplacian.toarray()
    return np.linalg.inv(q)


def sample_gmrf(spec: DatasetSpec, n: int, seed: int) -> tuple[np.ndarray, dict]:
    """Exact samples [n, nodes, dim] of N(0, (κ² I + L)⁻¹) per component via the eigenbasis."""
    evals, evecs = np.linalg.eigh(spec.graph.laplacian.toarray())
    scale = 1.0 / np.sqrt(spec.params["kappa"] ** 2 + np.clip(evals, 0, None))
    xi = np.random.default_rng(seed).standard_normal((n, spec.graph.n_nodes, spec.dim))
    return np.einsum("nk,bkd->bnd", evecs * scale, xi), {"method": "exact eigenbasis sampling"}


def _colour_classes(graph: Graph) -> list[np.ndarray]:
    """Greedy colouring: sites of one class share no edge, so they can be updated together."""
    neighbours = [set() for _ in range(graph.n_nodes)]
    for i, j in graph.edges:
        neighbours[i].add(j)
        neighbours[j].add(i)
    colour = -np.ones(graph.n_nodes, int)
    for node in np.argsort(-np.array([len(s) for s in neighbours]), kind="stable"):
        used = {colour[k] for k in neighbours[node]}
        colour[node] = next(c for c in range(graph.n_nodes) if c not in used)
    return [np.flatnonzero(colour == c) for c in range(colour.max() + 1)]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


class HeisenbergChains:
    """Independent MCMC chains [chains, nodes, 3]: Metropolis (adaptive step) + over-relaxation sweeps."""

    def __init__(self, spec: DatasetSpec, n_chains: int, rng: np.random.Generator):
        self.spec, self.rng = spec, rng
        self.temperature, self.coupling = spec.params["T"], spec.params.get("J", 1.0)
        self.adjacency = spec.graph.adjacency.toarray()
        self.classes = _colour_classes(spec.graph)
        self.spins = _unit(rng.standard_normal((n_chains, spec.graph.n_nodes, 3)))
        self.step, self.accepted, self.proposed = 0.5, 0, 0

    def _field(self, sites: np.ndarray) -> np.ndarray:
        return self.coupling * np.einsum("sm,bmd->bsd", self.adjacency[sites], self.spins)

    def sweep(self, n_overrelax: int = 2) -> None:
        """One Metropolis sweep then ``n_overrelax`` energy-conserving reflections about the local field."""
        for sites in self.classes:
            old = self.spins[:, sites]
            h = self._field(sites)
            new = _unit(old + self.step * self.rng.standard_normal(old.shape))
            delta = -np.einsum("bsd,bsd->bs", new - old, h)
            accept = self.rng.random(delta.shape) < np.exp(-np.clip(delta, 0, None) / self.temperature)
            self.spins[:, sites] = np.where(accept[..., None], new, old)
            self.accepted += int(accept.sum())
            self.proposed += accept.size
        for _ in range(n_overrelax):
            for sites in self.classes:
                s, h = self.spins[:, sites], self._field(sites)
                h2 = np.einsum("bsd,bsd->bs", h, h)[..., None]
                reflected = 2 * np.einsum("bsd,bsd->bs", s, h)[..., None] * h / np.where(h2 > 0, h2, 1) - s
                self.spins[:, sites] = np.where(h2 > 1e-12, _unit(reflected), s)

    def adapt(self) -> None:
        """Tune the Metropolis step toward ~50 % acceptance (burn-in only)."""
        rate = self.accepted / max(self.proposed, 1)
        self.step = float(np.clip(self.step * np.exp(rate - 0.5), 0.02, 2.0))
        self.accepted = self.proposed = 0


def integrated_autocorrelation(series: np.ndarray, c: float = 5.0) -> float:
    """Integrated autocorrelation time τ_int (sweeps) of [steps, chains], Sokal's automatic window."""
    x = series - series.mean(axis=0)
    n = len(x)
    spectrum = np.fft.rfft(x, n=2 * n, axis=0)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), axis=0)[:n].mean(axis=1)
    if acf[0] <= 0:
        return 0.5
    rho = acf / acf[0]
    tau = 0.5
    for window in range(1, n):
        tau += rho[window]
        if window >= c * tau:
            break
    return float(max(tau, 0.5))


def sample_heisenberg(spec: DatasetSpec, n: int, seed: int, n_chains: int = 256,
                      burn_in: int = 300, probe: int = 200) -> tuple[np.ndarray, dict]:
    """Decorrelated spin samples [n, nodes, 3] and MCMC diagnostics (τ_int, spacing, acceptance)."""
    rng = np.random.default_rng(seed)
    chains = HeisenbergChains(spec, min(n_chains, n), rng)
    for sweep in range(burn_in):
        chains.sweep()
        if sweep % 10 == 9:
            chains.adapt()
    energies, magnet = [], []
    for _ in range(probe):
        chains.sweep()
        energies.append(spec.energy(chains.spins))
        magnet.append(np.linalg.norm(chains.spins.mean(axis=1), axis=-1))
    tau_e = integrated_autocorrelation(np.array(energies))
    tau_m = integrated_autocorrelation(np.array(magnet))
    spacing = int(np.ceil(2 * max(tau_e, tau_m)))
    rate = chains.accepted / max(chains.proposed, 1)
    samples = []
    while sum(len(s) for s in samples) < n:
        for _ in range(spacing):
            chains.sweep()
        samples.append(chains.spins.copy())
    info = {"method": "Metropolis + over-relaxation", "chains": len(chains.spins), "burn_in_sweeps": burn_in,
            "tau_int_energy_sweeps": tau_e, "tau_int_magnetisation_sweeps": tau_m, "spacing_sweeps": spacing,
            "acceptance": rate, "metropolis_step": chains.step}
    return np.concatenate(samples)[:n], info


SAMPLERS: dict[str, Callable] = {"gmrf": sample_gmrf, "heisenberg": sample_heisenberg}


def make_spec(name: str, graph: Graph | None = None, **params) -> DatasetSpec:
    """The dataset ``name`` on ``graph`` (default: the 5×5 open grid used by the benchmarks)."""
    defaults = {"gmrf": {"kappa": 0.5, "dim": 3}, "heisenberg": {"T": 0.5, "J": 1.0, "dim": 3}}
    if name not in defaults:
        raise InputError(f"dataset must be one of {', '.join(defaults)}, got {name!r}.")
    given = {k: v for k, v in params.items() if v is not None}
    foreign = sorted(set(given) - set(defaults[name]))
    if foreign:
        raise InputError(f"{', '.join(foreign)} does not apply to the {name} dataset; its parameters: "
                         f"{', '.join(defaults[name])}.")
    merged = {**defaults[name], **given}
    dim = int(merged.pop("dim"))
    if name == "heisenberg" and dim != 3:
        raise InputError(f"heisenberg spins have dim 3, got {dim}.")
    if not 1 <= dim <= 8:
        raise InputError(f"dim must lie in [1, 8], got {dim}.")
    if name == "heisenberg" and not 0.01 <= merged["T"] <= 100:
        raise InputError(f"temperature T must lie in [0.01, 100] (units of J), got {merged['T']}.")
    if name == "gmrf" and not 0.01 <= merged["kappa"] <= 100:
        raise InputError(f"kappa must lie in [0.01, 100], got {merged['kappa']}.")
    return DatasetSpec(name, graph if graph is not None else grid((5, 5)), dim, merged)


def generate(spec: DatasetSpec, n: int, seed: int, **mcmc) -> tuple[np.ndarray, dict]:
    """``n`` samples [n, nodes, dim] of ``spec`` with a diagnostics dict (``mcmc``: chain options)."""
    if isinstance(n, bool) or not float(n).is_integer() or not 1 <= int(n) <= MAX_SAMPLES:
        raise InputError(f"n must be an integer in [1, {MAX_SAMPLES}], got {n!r}.")
    return SAMPLERS[spec.name](spec, int(n), seed, **mcmc)
