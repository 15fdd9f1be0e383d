"""Phase selection: probabilities of the competing products from their driving forces.

Each candidate gets a dimensionless score (a driving force in units of an effective kT; the cube is the
reference, score 0) and the probabilities are their softmax — a Boltzmann-like competition. Trends encoded:

* ``platelet``: favoured below ~140 °C and by oleylammonium (Bekenstein et al., JACS 137, 16008 (2015);
  Almeida et al., ACS Nano 12, 1704 (2018); Akkerman et al., JACS 138, 1010 (2016)).
* ``Cs4PbBr6``: Cs-rich flasks and excess oleylamine (Palazon et al., Chem. Mater. 29, 4167 (2017); Akkerman
  et al., Nano Lett. 17, 1924 (2017)); water converts it back to CsPbBr3 (Wu et al., JACS 139, 5210 (2017)).
* ``CsPb2Br5``: PbBr2-rich flasks (Balakrishnan & Kamat, Chem. Mater. 30, 74 (2018)) and water, which strips
  CsBr (Turedi et al., ACS Energy Lett. 1, 1279 (2016)).
* ``none``: the kinetics crystallised almost nothing by the quench (yield below a few per cent).

Platelet thickness: the volume-equivalent cube edge sets the slab thickness h = f·L (f from the aspect of
Bekenstein's platelets); n = round(h / a) monolayers, 1 ≤ n ≤ 5.
"""

from __future__ import annotations

import numpy as np

from engine.synthesis.physics.parameters import LATTICE_NM, PHASES, PhaseParams

PHASE_NAMES: tuple[str, ...] = ("cube", "platelet", "Cs4PbBr6", "CsPb2Br5", "none")
PLATELET_THICKNESS_FRACTION = 0.35
MAX_MONOLAYERS = 5


def phase_scores(arrays: dict, cond: dict, yield_fraction, params: PhaseParams = PHASES) -> np.ndarray:
    """(N, 5) driving-force scores in the order of :data:`PHASE_NAMES`."""
    ratio = arrays["cs_pb_ratio"]
    water_k = arrays["water_ppm"] / 1000.0
    amine_excess = np.log(cond["amine"] / cond["acid"])
    ammonium_rel = np.log(cond["ammonium"] / params.platelet_ammonium_ref_m)
    platelet = ((params.platelet_temperature_c - arrays["temperature_c"]) / params.platelet_temperature_width_c
                + params.platelet_ammonium_gain * ammonium_rel)
    cs4 = (params.cs4_ratio_gain * np.log(ratio / params.cs4_ratio_threshold)
           + params.cs4_amine_gain * amine_excess - params.cs4_water_gain * water_k)
    cspb2 = (params.cspb2_ratio_gain * np.log(params.cspb2_ratio_threshold / ratio)
             + params.cspb2_water_gain * water_k)
    none = params.none_gain * np.log(params.none_yield_threshold / np.maximum(yield_fraction, 1e-12))
    return np.stack([np.zeros_like(ratio), platelet, cs4, cspb2, none], axis=1)


def phase_probabilities(scores: np.ndarray) -> np.ndarray:
    """Softmax of the scores along the phase axis (rows sum to 1)."""
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def platelet_monolayers(edge_nm) -> np.ndarray:
    """Platelet thickness in monolayers from the volume-equivalent edge (integer 1..5; 1 for NaN)."""
    edge = np.nan_to_num(np.asarray(edge_nm, dtype=float), nan=0.0)
    return np.clip(np.rint(PLATELET_THICKNESS_FRACTION * edge / LATTICE_NM), 1, MAX_MONOLAYERS).astype(int)


def platelet_lateral_nm(edge_nm, monolayers) -> np.ndarray:
    """Lateral edge (nm) of a square platelet with the volume of a cube of edge ``edge_nm``."""
    return np.sqrt(np.asarray(edge_nm) ** 3 / (np.asarray(monolayers) * LATTICE_NM))
