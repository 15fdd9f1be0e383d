"""What the surrogates regress and how the reported sizes and PL peaks follow from it.

The surrogates learn the kinetic size variable of the physics, the cube-equivalent edge length (nm, defined for
every phase that crystallises), and the width of the size distribution, both in log space. The reported
quantities then follow through the same closed-form maps as in :mod:`engine.synthesis.simulation`: a platelet's
thickness in monolayers and lateral size from its cube-equivalent edge, the PL peak from the cube confinement
fit or the platelet line of that thickness. A learned PL head would have to smear the platelet's discrete lines;
here the discreteness is exact and only the size is learned.
"""

from __future__ import annotations

import numpy as np

from engine.synthesis.physics import optics, phases

TARGET_COLUMNS = ("cube_equivalent_edge_nm", "edge_length_std_nm")
CUBE, PLATELET = 0, 1


def encode(targets: np.ndarray) -> np.ndarray:
    """Model space of the targets (N, 2): natural logs; NaN (no crystals) stays NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(np.asarray(targets, dtype=float))


def edge_length_nm(cube_edge_nm: np.ndarray, phase_index: np.ndarray) -> np.ndarray:
    """Reported edge length: the platelet's lateral size for platelets, the cube-equivalent edge otherwise."""
    edge = np.asarray(cube_edge_nm, dtype=float)
    safe = np.where(np.isfinite(edge), edge, 1.0)
    lateral = phases.platelet_lateral_nm(safe, phases.platelet_monolayers(safe))
    return np.where(np.asarray(phase_index) == PLATELET, np.where(np.isfinite(edge), lateral, np.nan), edge)


def pl_peak_nm(cube_edge_nm: np.ndarray, phase_index: np.ndarray) -> np.ndarray:
    """PL peak (nm) of cubes and platelets of that cube-equivalent edge; NaN for non-emissive phases."""
    edge = np.asarray(cube_edge_nm, dtype=float)
    safe = np.where(np.isfinite(edge), edge, 1.0)
    phase = np.asarray(phase_index)
    peak = np.where(phase == CUBE, optics.cube_peak_nm(safe),
                    optics.platelet_peak_nm(phases.platelet_monolayers(safe)))
    return np.where(np.isin(phase, (CUBE, PLATELET)) & np.isfinite(edge), peak, np.nan)


def pl_fwhm_nm(cube_edge_nm: np.ndarray, edge_std_nm: np.ndarray, phase_index: np.ndarray) -> np.ndarray:
    """PL FWHM (nm) of cubes (size-distribution broadening) and platelets (line width); NaN otherwise."""
    edge = np.asarray(cube_edge_nm, dtype=float)
    phase = np.asarray(phase_index)
    width = np.where(phase == CUBE, optics.cube_fwhm_nm(edge, np.asarray(edge_std_nm, dtype=float)),
                     optics.platelet_fwhm_nm(phases.platelet_monolayers(edge)))
    return np.where(np.isin(phase, (CUBE, PLATELET)), width, np.nan)


def mapped_interval(fn, ln_low: np.ndarray, ln_high: np.ndarray, phase_index: np.ndarray, points: int = 9):
    """Range (min, max) of ``fn(edge, phase)`` over edges in [exp(ln_low), exp(ln_high)] (grid in log space;
    exact for the monotone PL maps, close for the saw-tooth platelet lateral size)."""
    grid = np.linspace(0.0, 1.0, points)[:, None]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # very wide intervals reach inf
        values = fn(np.exp(ln_low[None] + grid * (ln_high - ln_low)[None]), np.broadcast_to(phase_index, ln_low.shape))
    return values.min(axis=0), values.max(axis=0)
