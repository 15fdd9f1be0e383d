"""Classical nucleation of cube-shaped CsPbBr3 nuclei (LaMer burst).

For a cube of edge L built from units of volume v: ΔG(L) = −(L³/v) kT ln S + 6 γ L². The maximum gives the
critical edge L* = 4γv/(kT ln S) = l_c / ln S and barrier ΔG*/kT = 32 (γ v^(2/3)/kT)³ / ln² S, so the rate is
J = J₀ exp(−B / ln² S) (Mullin, *Crystallization*, 4th ed., ch. 5; LaMer & Dinegar, JACS 72, 4847 (1950)).
"""

from __future__ import annotations

import numpy as np

LN_S_FLOOR = 1e-3  # below this ln S the barrier is effectively infinite


def nucleation_rate(ln_s, barrier, prefactor):
    """J (µmol/(L s)) for ln S (≤ 0 gives 0), reduced barrier B and prefactor J₀."""
    ln_pos = np.maximum(ln_s, LN_S_FLOOR)
    return prefactor * np.exp(-barrier / (ln_pos * ln_pos))


def critical_edge_nm(ln_s, capillary_nm, lattice_nm):
    """Edge of a new nucleus (nm): the critical L* = l_c / ln S, smoothly kept above one unit cell.

    CNT loses meaning once L* falls below the lattice parameter a (very high S); there the smallest
    crystal is one cell, so the birth size is sqrt(L*² + a²).
    """
    critical = capillary_nm / np.maximum(ln_s, LN_S_FLOOR)
    return np.sqrt(critical * critical + lattice_nm * lattice_nm)
