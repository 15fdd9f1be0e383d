"""Precursor and ligand equilibria: from a recipe to the constants of the supersaturation.

Chemistry (vectorised over a batch of recipes, NumPy arrays):

* Acid–base equilibrium OA + OLA ⇌ OLAH⁺ + oleate⁻ with K(T) falling with temperature (exothermic
  proton transfer) — Almeida et al., ACS Nano 12, 1704 (2018). Oleylammonium is the species that caps the
  A-site surface and drives platelet formation.
* Complexation: Pb²⁺ bound by oleate and oleylamine, Cs⁺ solvated by free oleic acid; only the free
  fractions count in the ion-activity product.
* Solubility: van 't Hoff temperature dependence of the CsPbBr3 solubility product (dissolution is
  endothermic, so hotter solutions are less supersaturated and nucleate fewer, larger crystals — the
  origin of the 4→15 nm trend over 140→200 °C of Protesescu et al., Nano Lett. 15, 3692 (2015)).

Supersaturation S(x) = f_Cs (Cs₀ − x) · f_Pb (Pb₀ − x) · (2Pb₀ − 3x)/(2Pb₀) / Ksp(T) where x (mol/L) is the
CsPbBr3 already crystallised; the last factor is the fraction of bromide (from PbBr2) still in solution.
"""

from __future__ import annotations

import numpy as np

from engine.synthesis.physics.parameters import (
    FORMULA_VOLUME_NM3,
    INJECTION_ML,
    K_B,
    KINETICS,
    OA_MOL_PER_ML,
    OLA_MOL_PER_ML,
    R_GAS,
    SOLVENT_ML,
    KineticParams,
)
from engine.synthesis.schemas import SOLVENT_NAMES, SOLVENTS

_SOLVENT_DIELECTRIC = np.array([SOLVENTS[name].dielectric for name in SOLVENT_NAMES])
_SOLVENT_VISCOSITY = np.array([SOLVENTS[name].viscosity_mpas for name in SOLVENT_NAMES])
_REFERENCE_SOLVENT = SOLVENTS["octadecene"]


def van_t_hoff(value_ref, enthalpy_j: float, temperature_k, t_ref_k: float):
    """K(T) = K_ref exp(-ΔH/R (1/T - 1/T_ref))."""
    return value_ref * np.exp(-enthalpy_j / R_GAS * (1.0 / temperature_k - 1.0 / t_ref_k))


def ligand_concentrations(oleic_acid_ml, oleylamine_ml):
    """Total oleic acid and oleylamine (mol/L) in the final mixture (5 mL solvent + ligands + 0.4 mL)."""
    volume_ml = SOLVENT_ML + oleic_acid_ml + oleylamine_ml + INJECTION_ML
    return oleic_acid_ml * OA_MOL_PER_ML / volume_ml * 1e3, oleylamine_ml * OLA_MOL_PER_ML / volume_ml * 1e3


def ammonium_concentration(acid_m, amine_m, k_eq):
    """[OLAH⁺] = [oleate⁻] (mol/L) solving x² = K (A − x)(B − x), the root in [0, min(A, B)]."""
    a = 1.0 - k_eq
    b = k_eq * (acid_m + amine_m)
    c = -k_eq * acid_m * amine_m
    disc = np.sqrt(b * b - 4.0 * a * c)
    # numerically stable root of a x^2 + b x + c = 0 with c < 0: x = 2c / (-b - disc)
    return 2.0 * c / (-b - disc)


def conditions(arrays: dict, params: KineticParams = KINETICS) -> dict[str, np.ndarray]:
    """Per-recipe constants of the kinetic model from validated recipe columns (see ``schemas``)."""
    temperature_k = arrays["temperature_c"] + 273.15
    t_ref = params.t_ref_k
    pb0 = arrays["pb_concentration_m"]
    cs0 = arrays["cs_pb_ratio"] * pb0
    acid, amine = ligand_concentrations(arrays["oleic_acid_ml"], arrays["oleylamine_ml"])
    ammonium = ammonium_concentration(acid, amine,
                                      van_t_hoff(params.k_acid_base_ref, params.dh_acid_base_j, temperature_k, t_ref))
    free_acid, free_amine = acid - ammonium, amine - ammonium
    f_pb = 1.0 / (1.0 + params.k_pb_oleate * ammonium + params.k_pb_amine * free_amine)
    f_cs = 1.0 / (1.0 + params.k_cs_acid * free_acid)
    dielectric = _SOLVENT_DIELECTRIC[arrays["solvent"]]
    viscosity_ratio = _REFERENCE_SOLVENT.viscosity_mpas / _SOLVENT_VISCOSITY[arrays["solvent"]]
    ksp = van_t_hoff(params.ksp_ref, params.dh_solution_j, temperature_k, t_ref) * np.exp(
        params.solvent_polarity_gain * (dielectric - _REFERENCE_SOLVENT.dielectric))
    coverage = params.k_ammonium_adsorption * ammonium / (1.0 + params.k_ammonium_adsorption * ammonium)
    kt = K_B * temperature_k
    gamma_reduced = params.surface_energy_j_m2 * 1e-18 * FORMULA_VOLUME_NM3 ** (2.0 / 3.0) / kt
    diffusivity = temperature_k / t_ref * viscosity_ratio  # Stokes–Einstein, relative to the reference
    x_max = np.minimum(np.minimum(cs0, pb0), 2.0 * pb0 / 3.0)
    return {
        "temperature_k": temperature_k, "cs0": cs0, "pb0": pb0, "x_max": x_max,
        "acid": acid, "amine": amine, "ammonium": ammonium, "coverage": coverage,
        "activity_scale": f_cs * f_pb / ksp,
        # capillary length l_c = 4 Γ a (nm): Gibbs–Thomson S_eq(L) = exp(l_c / L), critical size l_c / ln S
        "capillary_nm": 4.0 * gamma_reduced * FORMULA_VOLUME_NM3 ** (1.0 / 3.0),
        "barrier": 32.0 * gamma_reduced**3,  # ΔG*/kT = barrier / ln² S
        "growth_rate": params.growth_rate_ref * (1.0 - coverage)
        * np.exp(-params.growth_activation_j / R_GAS * (1.0 / temperature_k - 1.0 / t_ref)),
        "diffusion_nm": params.diffusion_length_ref_nm * diffusivity,
        "ripening_nm3_s": params.ripening_ref_nm3_s * diffusivity * (1.0 - coverage)
        * van_t_hoff(1.0, params.dh_solution_j, temperature_k, t_ref),
        "time_end_s": arrays["reaction_time_s"],
    }


def supersaturation(x_m, cond: dict):
    """S(x): ion-activity product over Ksp after x mol/L of CsPbBr3 has crystallised (≥ 1e-12)."""
    pb0 = cond["pb0"]
    product = (cond["cs0"] - x_m) * (pb0 - x_m) * (2.0 * pb0 - 3.0 * x_m) / (2.0 * pb0)
    return np.maximum(cond["activity_scale"] * product, 1e-12)


def crystallised_m(moment3):
    """CsPbBr3 in crystals (mol/L) from the third moment of the edge length (µmol/L · nm³)."""
    return moment3 / FORMULA_VOLUME_NM3 * 1e-6
