"""Growth and ripening of the nanocrystal population.

Growth law (edge length, nm/s): G(L) = k (S − S_eq(⟨L⟩)) / (1 + L/δ). S_eq(L) = exp(l_c/L) is the Gibbs–Thomson
saturation over a cube of edge L, taken at the mean edge (mean-field); 1/(1 + L/δ) interpolates between
reaction-limited growth (L ≪ δ, size independent) and diffusion-limited growth (L ≫ δ, G ∝ 1/L, which narrows
the distribution: "size focusing", Peng et al., JACS 120, 5343 (1998); Sugimoto, Adv. Colloid Interface Sci.
28, 65 (1987)). k falls with oleylammonium surface coverage (Almeida et al., ACS Nano 12, 1704 (2018)).

Ripening: Lifshitz–Slyozov–Wagner coarsening d⟨L⟩³/dt = K (Lifshitz & Slyozov, J. Phys. Chem. Solids 19, 35
(1961)), weighted by w = (S_eq(⟨L⟩)/S)² so that it switches on as the solution approaches the saturation of the
mean particle (and is negligible during the supersaturated burst).
"""

from __future__ import annotations

import numpy as np

_MAX_EXPONENT = 30.0  # caps exp(l_c/L) for vanishing particles
_MAX_RIPENING_WEIGHT = 1e4


def equilibrium_saturation(edge_nm, capillary_nm):
    """Gibbs–Thomson saturation ratio S_eq(L) = exp(l_c / L) of a cube of edge L (capped)."""
    return np.exp(np.minimum(capillary_nm / edge_nm, _MAX_EXPONENT))


def growth_rate(edge_nm, supersat, rate, capillary_nm, diffusion_nm):
    """G(⟨L⟩) (nm/s) and its slope dG/dL (1/s) at the mean edge length ``edge_nm``."""
    damping = 1.0 / (1.0 + edge_nm / diffusion_nm)
    driving = rate * (supersat - equilibrium_saturation(edge_nm, capillary_nm))
    return driving * damping, -driving * damping * damping / diffusion_nm


def ripening_rate(edge_nm, supersat, ripening_nm3_s, capillary_nm):
    """Relative number loss rate r (1/s) of LSW coarsening: r = K w / ⟨L⟩³, w = (S_eq(⟨L⟩)/S)² (bounded)."""
    ratio = equilibrium_saturation(edge_nm, capillary_nm) / supersat
    weight = ratio * ratio / (1.0 + ratio * ratio / _MAX_RIPENING_WEIGHT)
    return ripening_nm3_s * weight / edge_nm**3
