"""Public entry points of the synthesis twin: one recipe, a batch of recipes, the reference, a time course.

``simulate_batch(columns) -> dict of arrays`` is the vectorised API (the ML surrogates of part 2 train on it);
``simulate(recipe) -> dict`` gives the JSON-ready result of one recipe; ``simulate_reference`` runs the slow
``solve_ivp`` reference on the same equations; ``time_course(recipe)`` returns the LaMer picture.
"""

from __future__ import annotations

import numpy as np

from engine.synthesis.physics import kinetics, optics, phases, solver
from engine.synthesis.physics.precursors import conditions
from engine.synthesis.schemas import LITERATURE_RECIPE, Recipe, recipes_to_arrays, validate_arrays

PHASE_NAMES = phases.PHASE_NAMES
# Continuous outputs of simulate_batch compared between the fast solver and the reference.
COMPARED_OUTPUTS = ("edge_length_nm", "edge_length_std_nm", "pl_peak_nm", "pl_fwhm_nm", "plqy") + tuple(
    f"p_{name}" for name in PHASE_NAMES)


def _outputs(columns: dict, cond: dict, state: np.ndarray) -> dict[str, np.ndarray]:
    """Ensemble, phase and optical outputs from the final moment state (4, N)."""
    ens = kinetics.summarize(state, cond)
    edge, std = ens["edge_length_nm"], ens["edge_length_std_nm"]
    probs = phases.phase_probabilities(phases.phase_scores(columns, cond, ens["yield"]))
    winner = probs.argmax(axis=1)
    is_cube, is_plate = winner == 0, winner == 1
    layers = phases.platelet_monolayers(edge)
    safe_edge = np.where(np.isfinite(edge), edge, 1.0)
    safe_std = np.where(np.isfinite(std), std, 0.0)
    peak = np.where(is_cube, optics.cube_peak_nm(safe_edge),
                    np.where(is_plate, optics.platelet_peak_nm(layers), np.nan))
    fwhm = np.where(is_cube, optics.cube_fwhm_nm(safe_edge, safe_std),
                    np.where(is_plate, optics.platelet_fwhm_nm(layers), np.nan))
    ligand = cond["acid"] + cond["amine"]
    qy_cube = optics.plqy(safe_edge, ligand, columns["water_ppm"], platelet=False)
    qy_plate = optics.plqy(safe_edge, ligand, columns["water_ppm"], platelet=True)
    out = {f"p_{name}": probs[:, i] for i, name in enumerate(PHASE_NAMES)}
    out.update({
        "phase_index": winner,
        "edge_length_nm": np.where(is_plate, phases.platelet_lateral_nm(edge, layers), edge),
        "edge_length_std_nm": std,
        "cube_equivalent_edge_nm": edge,
        "platelet_thickness_ml": np.where(is_plate, layers, np.nan),
        "pl_peak_nm": peak,
        "pl_fwhm_nm": fwhm,
        # emission-weighted estimate: non-emissive phases (Cs4PbBr6, CsPb2Br5, none) contribute zero
        "plqy": probs[:, 0] * qy_cube + probs[:, 1] * qy_plate,
        "yield": ens["yield"],
        "number_umol_l": ens["number_umol_l"],
        "final_supersaturation": ens["final_supersaturation"],
        "ammonium_m": cond["ammonium"],
    })
    return out


def simulate_batch(columns: dict, path: str | None = None) -> dict[str, np.ndarray]:
    """Simulate N recipes at once with the fast batch solver (``path``: a key of ``solver.PATHS``, default
    the compiled kernel when numba is present, else whole-array steps on NumPy/CuPy).

    ``columns`` maps recipe field names (see :mod:`engine.synthesis.schemas`) to scalars or equal-length
    arrays; missing fields take the literature defaults. Returns 1-D arrays of length N: ``p_<phase>`` for each
    of :data:`PHASE_NAMES`, ``phase_index``, ``edge_length_nm`` (cube edge or platelet lateral size),
    ``edge_length_std_nm``, ``platelet_thickness_ml`` (NaN unless platelet), ``pl_peak_nm`` / ``pl_fwhm_nm``
    (NaN for non-emissive phases), ``plqy``, ``yield`` and diagnostics. Raises ``InputError`` on bad input.
    """
    arrays = validate_arrays(columns)
    cond = conditions(arrays)
    state, _ = solver.integrate(cond, path=path)
    return _outputs(arrays, cond, state)


def simulate_reference(columns: dict) -> dict[str, np.ndarray]:
    """Same outputs as :func:`simulate_batch` from the ``solve_ivp`` reference (slow: one recipe at a time)."""
    arrays = validate_arrays(columns)
    cond = conditions(arrays)
    return _outputs(arrays, cond, kinetics.integrate_reference(cond))


def _none_if_nan(value):
    value = float(value)
    return None if not np.isfinite(value) else value


def simulate(recipe: Recipe = LITERATURE_RECIPE) -> dict:
    """JSON-ready result of one recipe (keys as in ``python -m engine synth simulate --json``)."""
    out = simulate_batch(recipes_to_arrays([recipe]))
    layers = out["platelet_thickness_ml"][0]
    return {
        "recipe": recipe.to_dict(),
        "phase_probabilities": {name: float(out[f"p_{name}"][0]) for name in PHASE_NAMES},
        "phase": PHASE_NAMES[int(out["phase_index"][0])],
        "edge_length_nm": _none_if_nan(out["edge_length_nm"][0]),
        "edge_length_std_nm": _none_if_nan(out["edge_length_std_nm"][0]),
        "platelet_thickness_ml": None if not np.isfinite(layers) else int(layers),
        "pl_peak_nm": _none_if_nan(out["pl_peak_nm"][0]),
        "pl_fwhm_nm": _none_if_nan(out["pl_fwhm_nm"][0]),
        "plqy": float(out["plqy"][0]),
        "yield": float(out["yield"][0]),
    }


def time_course(recipe: Recipe = LITERATURE_RECIPE) -> dict[str, np.ndarray]:
    """The LaMer picture of one recipe at every solver step: time (s), supersaturation, nucleation rate
    (µmol/(L s)), particle number density (µmol/L), mean edge length (nm) and conversion (0–1)."""
    arrays = validate_arrays(recipes_to_arrays([recipe]))
    cond = conditions(arrays)
    times, states = solver.integrate_recorded(cond)
    one = {k: (np.repeat(v, times.size) if isinstance(v, np.ndarray) else v) for k, v in cond.items()}
    rates = kinetics.rates(states.T, kinetics.with_prefactor(one))
    number = rates["number"]
    mean = np.where(number > 1e-9, rates["m1"] / np.maximum(number, 1e-300), np.nan)
    return {"time_s": times, "supersaturation": rates["supersaturation"], "nucleation_rate": rates["nucleation"],
            "number_umol_l": number, "mean_edge_nm": mean,
            "conversion": np.clip(kinetics.crystallised_m(rates["m3"]) / one["x_max"], 0.0, 1.0)}
