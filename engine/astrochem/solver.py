"""Stiff integration of the gas-phase rate equations with an analytic sparse Jacobian.

State: fractional abundances x (relative to n_H). Reaction j proceeds at
``R_j = kf_j x[r1_j] x[r2_j]`` per n_H per second (``x[r2]`` is 1 for one-body laws; ``kf`` from
:meth:`RateTable.pseudo_first_order`), and ``dx/dt = S R`` with S the net stoichiometry
(species × reactions). The Jacobian ``J = S dR/dx`` is assembled analytically on its fixed sparsity
pattern. Integrator: SciPy's variable-order BDF (the usual choice for stiff chemical kinetics, as
DVODE/CVODE in UCLCHEM and KROME) stepped directly so progress can be reported. Element and charge
totals are linear invariants (``C^T S = 0``, hence ``C^T J = 0``); BDF with a Newton solve on
``I - h gamma J`` keeps them up to round-off and linear-solve error, which every run measures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from scipy.integrate import BDF
from scipy.sparse.linalg import splu

from engine.astrochem.network import Network, load_network
from engine.astrochem.physics import (
    SECONDS_PER_YEAR,
    ElementalAbundances,
    PhysicalParams,
    initial_abundances,
    time_grid_yr,
)
from engine.astrochem.rates import LAWS, law_name, rate_table
from engine.errors import InputError, TwinLabError


class SolverError(TwinLabError):
    """The integrator failed; the message names the physical parameters of the failing run."""


@dataclass(frozen=True)
class SolverConfig:
    """Tolerances of the BDF integrator: relative, absolute (abundance units, relative to n_H), step cap."""

    rtol: float = 1e-6
    atol: float = 1e-20
    max_steps: int = 20_000


@dataclass
class Trajectory:
    """A solved run: abundances (n_out, n_species) relative to n_H at ``times_yr``, plus diagnostics."""

    params: PhysicalParams
    times_yr: np.ndarray
    species: tuple[str, ...]
    abundances: np.ndarray
    wall_time_s: float
    n_steps: int
    conservation_error: float
    elements: ElementalAbundances = field(default_factory=ElementalAbundances)
    stats: dict = field(default_factory=dict)

    def final(self) -> dict[str, float]:
        """Final abundance of every species."""
        return dict(zip(self.species, self.abundances[-1].tolist(), strict=True))


class Kinetics:
    """RHS and analytic sparse Jacobian of one network under fixed physical conditions."""

    def __init__(self, network: Network, params: PhysicalParams):
        self.network = network
        self.structure = _structure(network)
        self.kf = rate_table(network).pseudo_first_order(params)
        self._x = np.ones(network.n_species + 1)  # last slot = 1: the "second reactant" of one-body laws

    def rates(self, x: np.ndarray) -> np.ndarray:
        """Reaction rates R_j (per n_H per s)."""
        s = self.structure
        self._x[:-1] = x
        return self.kf * self._x[s.r1] * self._x[s.r2]

    def rhs(self, t: float, x: np.ndarray) -> np.ndarray:
        return self.structure.net @ self.rates(x)

    def jacobian(self, t: float, x: np.ndarray) -> sp.csc_matrix:
        s = self.structure
        self._x[:-1] = x
        values = s.term_coef * self.kf[s.term_reaction] * self._x[s.term_other]
        data = np.bincount(s.term_slot, weights=values, minlength=s.nnz)
        return sp.csc_matrix((data, s.jac_indices, s.jac_indptr), shape=s.shape)


@dataclass(frozen=True)
class _Structure:
    r1: np.ndarray
    r2: np.ndarray
    net: sp.csr_matrix
    term_slot: np.ndarray
    term_coef: np.ndarray
    term_reaction: np.ndarray
    term_other: np.ndarray
    jac_indices: np.ndarray
    jac_indptr: np.ndarray
    nnz: int
    shape: tuple[int, int]


@lru_cache(maxsize=4)
def _structure(network: Network) -> _Structure:
    """Index arrays of the rate expressions and of the Jacobian's sparsity pattern (built once)."""
    n, m = network.n_species, network.n_reactions
    idx = network.index
    r1, r2 = np.empty(m, dtype=np.int64), np.full(m, n, dtype=np.int64)
    rows, cols, vals = [], [], []
    for j, reaction in enumerate(network.reactions):
        r1[j] = idx[reaction.reactants[0]]
        if LAWS[law_name(reaction.rtype)].rate_reactants == 2:
            r2[j] = idx[reaction.reactants[1]]
        change: dict[int, int] = {}
        for name in reaction.reactants:
            change[idx[name]] = change.get(idx[name], 0) - 1
        for name in reaction.products:
            change[idx[name]] = change.get(idx[name], 0) + 1
        for i, c in change.items():
            if c:
                rows.append(i)
                cols.append(j)
                vals.append(c)
    net = sp.csr_matrix((vals, (rows, cols)), shape=(n, m), dtype=float)
    # dR_j/dx[r1] = kf x[r2]; dR_j/dx[r2] = kf x[r1]. J[s, col] += S[s, j] * dR_j/dx[col].
    t_row, t_col, t_coef, t_reac, t_other = [], [], [], [], []
    coo = net.tocoo()
    for s_i, j, c in zip(coo.row, coo.col, coo.data, strict=True):
        t_row.append(s_i), t_col.append(r1[j]), t_coef.append(c), t_reac.append(j), t_other.append(r2[j])
        if r2[j] < n:
            t_row.append(s_i), t_col.append(r2[j]), t_coef.append(c), t_reac.append(j), t_other.append(r1[j])
    t_row, t_col = np.array(t_row), np.array(t_col)
    pattern = sp.csc_matrix((np.ones(len(t_row)), (t_row, t_col)), shape=(n, n))
    pattern.sum_duplicates()
    pattern.sort_indices()
    # slot of (row, col) in the CSC data array
    slot_of = {}
    for col in range(n):
        for k in range(pattern.indptr[col], pattern.indptr[col + 1]):
            slot_of[(int(pattern.indices[k]), col)] = k
    slots = np.array([slot_of[(int(r), int(c))] for r, c in zip(t_row, t_col, strict=True)], dtype=np.int64)
    return _Structure(r1, r2, net, slots, np.array(t_coef, dtype=float), np.array(t_reac, dtype=np.int64),
                      np.array(t_other, dtype=np.int64), pattern.indices.copy(), pattern.indptr.copy(),
                      int(pattern.nnz), (n, n))


def _use_natural_order_lu(integrator: BDF) -> None:
    """Factorise BDF's Newton matrix in the species order (see :func:`coupling_order`), mild pivoting."""

    def lu(matrix):
        integrator.nlu += 1
        return splu(matrix, permc_spec="NATURAL", diag_pivot_thresh=0.1)

    integrator.lu = lu


def conservation_error(network: Network, abundances: np.ndarray, initial: np.ndarray) -> float:
    """Worst relative drift of any element total or of the net charge over the rows of ``abundances``.

    Elements: |E(t) - E(0)| / E(0). Charge: |sum z x| / (total abundance of charged particles).
    """
    stoich = network.stoichiometry
    totals, start = abundances @ stoich, initial @ stoich
    elements = stoich.shape[1] - 1
    present = start[:elements] > 0
    worst = np.max(np.abs(totals[:, :elements][:, present] - start[:elements][present]) / start[:elements][present])
    charged = np.abs(abundances) @ np.abs(stoich[:, -1])
    charge = np.max(np.abs(totals[:, -1]) / np.maximum(charged, 1e-300))
    return float(max(worst, charge))


def describe_params(params: PhysicalParams) -> str:
    return (f"n_H={params.density:.3g} cm^-3, T={params.temperature:.3g} K, G0={params.g0:.3g} Habing, "
            f"A_V={params.av:.3g} mag, zeta={params.zeta:.3g} s^-1")


def solve(params: PhysicalParams, t_end_yr: float = 1e6, n_out: int = 64, network: Network | None = None,
          config: SolverConfig | None = None, elements: ElementalAbundances | None = None,
          progress: Callable[[float], None] | None = None, initial: np.ndarray | None = None) -> Trajectory:
    """Integrate from the initial abundances to ``t_end_yr``; output on the log grid from 1 yr.

    ``initial`` (n_species, relative to n_H) overrides the start built from ``elements``.
    ``progress(fraction)`` is called after each step past 1 yr with the fraction of log-time done (0..1).
    Raises :class:`SolverError` (naming the parameters) if the integrator fails.
    """
    network = network or load_network()
    config = config or SolverConfig()
    times_yr = time_grid_yr(t_end_yr, n_out)
    t_eval = times_yr * SECONDS_PER_YEAR
    x0 = initial_abundances(network, elements) if initial is None else np.asarray(initial, dtype=float).copy()
    if x0.shape != (network.n_species,) or not np.all(np.isfinite(x0)) or np.any(x0 < 0):
        raise InputError(f"initial abundances must be {network.n_species} finite values >= 0")
    start = time.perf_counter()
    kinetics = Kinetics(network, params)
    integrator = BDF(kinetics.rhs, 0.0, x0, t_eval[-1], rtol=config.rtol, atol=config.atol,
                     jac=kinetics.jacobian)
    _use_natural_order_lu(integrator)
    out = np.empty((len(t_eval), network.n_species))
    filled, steps, log_end = 0, 0, math.log(times_yr[-1])
    while filled < len(t_eval):
        message = integrator.step()
        steps += 1
        if integrator.status == "failed" or steps > config.max_steps or not np.all(np.isfinite(integrator.y)):
            reason = message or (f"more than {config.max_steps} steps" if steps > config.max_steps else "non-finite")
            raise SolverError(f"BDF solver failed at t={integrator.t / SECONDS_PER_YEAR:.3g} yr ({reason}) for "
                              f"{describe_params(params)}")
        upto = np.searchsorted(t_eval, integrator.t, side="right")
        if upto > filled:
            dense = integrator.dense_output()
            out[filled:upto] = dense(t_eval[filled:upto]).T
            filled = upto
        if progress is not None and integrator.t > SECONDS_PER_YEAR:
            progress(min(1.0, math.log(integrator.t / SECONDS_PER_YEAR) / log_end))
    wall = time.perf_counter() - start
    stats = {"nfev": integrator.nfev, "njev": integrator.njev, "nlu": integrator.nlu,
             "min_abundance": float(out.min())}
    return Trajectory(params, times_yr, network.species, out, wall, steps,
                      conservation_error(network, out, x0), elements or ElementalAbundances(), stats)
