"""Optics of CsPbBr3 nanocrystals: PL peak, linewidth, quantum yield and spectrum.

* Cubes: PL peak energy E(L) = E_bulk + A / L^p, a confinement law fitted (least squares, at import) to the
  published size series in ``data/synthesis/optics_reference.csv`` (Protesescu 2015, Brennan 2017, Dong 2018).
  Large cubes approach the bulk band-edge emission (~2.36 eV, ~525 nm). A pure effective-mass 1/L² law
  overestimates the shift in the intermediate-confinement regime (Brennan 2017; Sercel et al., Nano Lett. 19,
  4068 (2019)); the fitted exponent absorbs that.
* Platelets: the PL line of an n-monolayer platelet is the published value for that thickness (Akkerman 2016,
  Bekenstein 2015, Bohn 2018), from the same table.
* Linewidth: homogeneous room-temperature width combined in quadrature with the inhomogeneous width from the
  size distribution, |dE/dL| σ_L (Gaussian FWHM = 2.355 σ).
* PLQY: an estimate — maximum QY times surface-trap, ligand-passivation and water-quenching factors.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from engine.synthesis.physics.parameters import EV_NM, OPTICS, OpticsParams

REFERENCE_TABLE = Path(__file__).resolve().parents[3] / "data" / "synthesis" / "optics_reference.csv"
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
MAX_MONOLAYERS = 5


@lru_cache(maxsize=1)
def reference_table() -> pd.DataFrame:
    """The published PL-versus-size points (see the file header for sources)."""
    return pd.read_csv(REFERENCE_TABLE, comment="#")


def _confinement(edge_nm, e_bulk, amplitude, exponent):
    return e_bulk + amplitude / np.power(edge_nm, exponent)


@lru_cache(maxsize=1)
def cube_fit() -> dict:
    """Fitted E(L) = E_bulk + A/L^p for cubes: parameters (eV, eV nm^p, p) and the max residual (eV)."""
    cubes = reference_table().query("morphology == 'cube'")
    edge = cubes["size"].to_numpy(float)
    energy = EV_NM / cubes["pl_nm"].to_numpy(float)
    (e_bulk, amplitude, exponent), _ = curve_fit(_confinement, edge, energy, p0=(2.38, 3.0, 1.5),
                                                 bounds=([2.2, 0.0, 0.5], [2.6, 50.0, 2.5]))
    residual = float(np.max(np.abs(_confinement(edge, e_bulk, amplitude, exponent) - energy)))
    return {"e_bulk_ev": float(e_bulk), "amplitude": float(amplitude), "exponent": float(exponent),
            "max_residual_ev": residual}


@lru_cache(maxsize=1)
def platelet_lines_nm() -> np.ndarray:
    """PL peak (nm) of n = 1..5 monolayer platelets (index n − 1): mean of the published values."""
    plates = reference_table().query("morphology == 'platelet'")
    return plates.groupby("size")["pl_nm"].mean().reindex(range(1, MAX_MONOLAYERS + 1)).to_numpy(float)


def cube_peak_ev(edge_nm):
    fit = cube_fit()
    return _confinement(np.asarray(edge_nm, dtype=float), fit["e_bulk_ev"], fit["amplitude"], fit["exponent"])


def cube_peak_nm(edge_nm):
    """PL peak wavelength (nm) of cubes of edge ``edge_nm``."""
    return EV_NM / cube_peak_ev(edge_nm)


def platelet_peak_nm(monolayers):
    """PL peak (nm) of platelets ``monolayers`` thick (integer 1..5)."""
    index = np.clip(np.asarray(monolayers, dtype=int), 1, MAX_MONOLAYERS) - 1
    return platelet_lines_nm()[index]


def _energy_fwhm_to_nm(peak_ev, fwhm_ev):
    return EV_NM / (peak_ev - fwhm_ev / 2.0) - EV_NM / (peak_ev + fwhm_ev / 2.0)


def cube_fwhm_nm(edge_nm, edge_std_nm, params: OpticsParams = OPTICS):
    """Ensemble PL FWHM (nm): homogeneous width ⊕ |dE/dL| σ_L from the size distribution."""
    fit = cube_fit()
    edge = np.asarray(edge_nm, dtype=float)
    slope = fit["amplitude"] * fit["exponent"] / np.power(edge, fit["exponent"] + 1.0)  # |dE/dL| (eV/nm)
    fwhm_ev = np.hypot(params.homogeneous_fwhm_ev, FWHM_PER_SIGMA * slope * np.asarray(edge_std_nm))
    return _energy_fwhm_to_nm(cube_peak_ev(edge), fwhm_ev)


def platelet_fwhm_nm(monolayers, params: OpticsParams = OPTICS):
    """FWHM (nm) of an n-monolayer platelet line (atomically flat: homogeneous width only)."""
    peak_ev = EV_NM / platelet_peak_nm(monolayers)
    return _energy_fwhm_to_nm(peak_ev, np.full_like(peak_ev, params.platelet_fwhm_ev))


def plqy(edge_nm, ligand_m, water_ppm, platelet, params: OpticsParams = OPTICS):
    """PL quantum yield estimate in [0, 1] for cubes (``platelet`` False) or platelets (True)."""
    qmax = np.where(platelet, params.plqy_max_platelet, params.plqy_max_cube)
    edge = np.asarray(edge_nm, dtype=float)
    surface = edge / (edge + params.surface_trap_nm)
    ligand = ligand_m / (ligand_m + params.ligand_half_coverage_m)
    return qmax * surface * ligand * np.exp(-np.asarray(water_ppm) / params.water_quench_ppm)


def spectrum(wavelength_nm, peak_nm, fwhm_nm):
    """Normalised (max 1) PL spectrum on ``wavelength_nm``: a Gaussian in photon energy."""
    energy = EV_NM / np.asarray(wavelength_nm, dtype=float)
    peak_ev = EV_NM / peak_nm
    fwhm_ev = EV_NM / (peak_nm - fwhm_nm / 2.0) - EV_NM / (peak_nm + fwhm_nm / 2.0)
    return np.exp(-0.5 * ((energy - peak_ev) / (fwhm_ev / FWHM_PER_SIGMA)) ** 2)


def wavelength_rgb(wavelength_nm: float) -> str:
    """Approximate perceived colour of monochromatic light (380–780 nm) as '#rrggbb' (piecewise CIE-like)."""
    w = float(wavelength_nm)
    bands = [(380, 440, (-(w - 440) / 60, 0.0, 1.0)), (440, 490, (0.0, (w - 440) / 50, 1.0)),
             (490, 510, (0.0, 1.0, -(w - 510) / 20)), (510, 580, ((w - 510) / 70, 1.0, 0.0)),
             (580, 645, (1.0, -(w - 645) / 65, 0.0)), (645, 781, (1.0, 0.0, 0.0))]
    rgb = next((c for lo, hi, c in bands if lo <= w < hi), (0.0, 0.0, 0.0))
    fade = 0.3 + 0.7 * (w - 380) / 40 if w < 420 else (0.3 + 0.7 * (780 - w) / 80 if w > 700 else 1.0)
    return "#" + "".join(f"{int(round(255 * (max(v, 0.0) * fade) ** 0.8)):02x}" for v in rgb)
