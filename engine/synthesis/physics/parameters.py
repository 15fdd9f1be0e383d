"""Model constants of the synthesis twin, each with its source or the observation it is calibrated to.

Units: lengths nm, time s, concentration mol/L (particle moments in µmol/L), energy J or eV as named.
Literature fixes the material constants; the kinetic prefactors (nucleation, growth, ripening) and the
phase-selection weights are calibrated so the model reproduces published trends:

* Protesescu et al., Nano Lett. 15, 3692 (2015): 4–15 nm cubes over 140–200 °C, growth complete in
  seconds (quench after ~5 s), PL 50–90 % QY, FWHM 12–42 nm.
* Almeida et al., ACS Nano 12, 1704 (2018): the oleylammonium/oleate acid–base equilibrium sets size and
  shape; more ammonium (low temperature, acid-rich) gives smaller crystals and then platelets.
* Bekenstein et al., J. Am. Chem. Soc. 137, 16008 (2015): nanoplatelets at 90–130 °C, cubes above ~150 °C.
* Palazon et al., Chem. Mater. 29, 4167 (2017); Akkerman et al., Nano Lett. 17, 1924 (2017): Cs4PbBr6
  under excess oleylamine and Cs-rich conditions.
* Balakrishnan & Kamat, Chem. Mater. 30, 74 (2018): CsPb2Br5 under PbBr2-rich conditions; water-assisted
  CsBr stripping favours CsPb2Br5 (Turedi et al., ACS Energy Lett. 1, 1279 (2016)).
"""

from __future__ import annotations

from dataclasses import dataclass

K_B = 1.380649e-23  # J/K
R_GAS = 8.314462618  # J/(mol K)
N_A = 6.02214076e23  # 1/mol
EV_NM = 1239.84198  # eV nm (photon energy <-> wavelength)

# Pseudo-cubic lattice parameter of CsPbBr3, 0.587 nm (Protesescu 2015; ICSD orthorhombic Pnma cell / 2).
LATTICE_NM = 0.587
FORMULA_VOLUME_NM3 = LATTICE_NM**3  # one CsPbBr3 unit per pseudo-cubic cell

# Reaction scale of the Protesescu recipe: 5.0 mL solvent + ligands + 0.4 mL Cs-oleate injection.
SOLVENT_ML = 5.0
INJECTION_ML = 0.4
# Neat ligands: oleic acid 0.895 g/mL, 282.46 g/mol; oleylamine 0.813 g/mL, 267.49 g/mol (supplier data).
OA_MOL_PER_ML = 0.895 / 282.46 * 1e3 * 1e-3  # mol per mL of neat OA (3.17 mmol/mL)
OLA_MOL_PER_ML = 0.813 / 267.49 * 1e3 * 1e-3  # mol per mL of neat OLA (3.04 mmol/mL)
WATER_MOL_L_PER_PPM = 0.789 * 1e3 * 1e-6 / 18.015  # mol/L of water per mass-ppm in ODE (0.789 g/mL)


@dataclass(frozen=True)
class KineticParams:
    """Constants of supersaturation, nucleation, growth and ripening (reference temperature ``t_ref_k``)."""

    t_ref_k: float = 443.15  # 170 °C, the default recipe temperature
    # Acid-base OA + OLA <-> OLAH+ + oleate- (Almeida 2018): exothermic, so ammonium falls as T rises.
    k_acid_base_ref: float = 0.6
    dh_acid_base_j: float = -45e3
    # Complexation (1/M): Pb by oleate and amine, Cs solvated by free oleic acid.
    k_pb_oleate: float = 25.0
    k_pb_amine: float = 6.0
    k_cs_acid: float = 4.0
    # Ion-activity solubility product of CsPbBr3 (M^2) and its dissolution enthalpy (endothermic).
    ksp_ref: float = 3.0e-7
    dh_solution_j: float = 52e3
    solvent_polarity_gain: float = 1.2  # d ln Ksp / d(dielectric constant): polar media dissolve ions better
    # Effective surface energy of the ligand-capped cube (J/m^2); cube CNT: dG* = 32 g^3 v^2 / (kT ln S)^2.
    surface_energy_j_m2: float = 0.032
    nucleation_prefactor: float = 7.0e4  # µmol/(L s)
    # Growth dL/dt = k (S - exp(l_c/L)) / (1 + L/delta), Arrhenius in T, slowed by ammonium surface coverage.
    growth_rate_ref: float = 0.5  # nm/s per unit supersaturation
    growth_activation_j: float = 60e3
    diffusion_length_ref_nm: float = 6.0  # reaction/diffusion crossover size at the reference state
    k_ammonium_adsorption: float = 8.0  # 1/M, Langmuir constant of OLAH+ on the A-site surface
    # LSW ripening d<L>^3/dt = K (nm^3/s) at the reference state, scaled by solubility and diffusivity.
    ripening_ref_nm3_s: float = 0.6
    time_scale_s: float = 1.0  # s, log-time origin: tau = ln(1 + t / time_scale_s)


@dataclass(frozen=True)
class PhaseParams:
    """Weights of the phase driving forces (dimensionless scores -> softmax probabilities)."""

    platelet_temperature_c: float = 125.0  # Bekenstein 2015: platelets at 90-130 °C, cubes above ~140 °C
    platelet_temperature_width_c: float = 10.0
    platelet_ammonium_gain: float = 2.0
    platelet_ammonium_ref_m: float = 0.106  # [OLAH+] of the default recipe at 170 °C
    cs4_ratio_threshold: float = 1.2  # Cs:Pb above which Cs4PbBr6 competes (Palazon 2017, Akkerman 2017)
    cs4_ratio_gain: float = 3.0
    cs4_amine_gain: float = 1.8  # per unit ln(OLA/OA)
    cs4_water_gain: float = 1.0  # per 1000 ppm water (water converts Cs4PbBr6 back to CsPbBr3; negative sign)
    cspb2_ratio_threshold: float = 0.09  # Cs:Pb below which CsPb2Br5 competes (Balakrishnan & Kamat 2018)
    cspb2_ratio_gain: float = 3.0
    cspb2_water_gain: float = 2.5  # per 1000 ppm water
    none_yield_threshold: float = 0.05  # below ~5 % conversion nothing crystalline is recovered
    none_gain: float = 1.5


@dataclass(frozen=True)
class OpticsParams:
    """Linewidth and quantum-yield constants."""

    homogeneous_fwhm_ev: float = 0.070  # room-T single-particle linewidth ~60-80 meV (Ramade 2018, Utzat 2017)
    platelet_fwhm_ev: float = 0.075  # NPL ensembles: ~10-14 nm FWHM at 430-460 nm (Akkerman 2016, Bohn 2018)
    plqy_max_cube: float = 0.9  # Protesescu 2015: 50-90 %
    plqy_max_platelet: float = 0.45  # untreated NPLs are dimmer (Bohn 2018: ~10-50 % before repair)
    surface_trap_nm: float = 1.2  # QY ~ 1/(1 + L_trap/L): more surface, more traps
    water_quench_ppm: float = 800.0  # QY ~ exp(-ppm/scale)
    ligand_half_coverage_m: float = 0.08  # ligand passivation ~ c/(c + c_half)


KINETICS = KineticParams()
PHASES = PhaseParams()
OPTICS = OpticsParams()
