"""Physics of the synthesis twin: each assertion is a published trend or a conservation law."""

from pathlib import Path

import numpy as np
import pytest

from engine.synthesis import simulate_batch
from engine.synthesis.physics import kinetics, optics, phases, solver
from engine.synthesis.physics.growth import equilibrium_saturation
from engine.synthesis.physics.nucleation import critical_edge_nm, nucleation_rate
from engine.synthesis.physics.parameters import KINETICS
from engine.synthesis.physics.precursors import ammonium_concentration, conditions, supersaturation
from engine.synthesis.schemas import validate_arrays


def test_acid_base_root_satisfies_equilibrium():
    acid, amine, k = np.array([0.25, 0.5, 0.1]), np.array([0.24, 0.1, 0.6]), np.array([0.6, 3.0, 0.2])
    x = ammonium_concentration(acid, amine, k)
    assert np.all((x > 0) & (x < np.minimum(acid, amine)))
    np.testing.assert_allclose(x**2, k * (acid - x) * (amine - x), rtol=1e-10)


def test_nucleation_rate_rises_with_supersaturation_and_vanishes_at_saturation():
    ln_s = np.array([0.0, 1.0, 2.0, 4.0, 6.0])
    rate = nucleation_rate(ln_s, barrier=150.0, prefactor=1e5)
    assert rate[0] < 1e-100 and np.all(np.diff(rate) > 0)
    crit = critical_edge_nm(ln_s[1:], capillary_nm=4.0, lattice_nm=0.587)
    assert np.all(np.diff(crit) < 0) and crit[-1] > 0.587  # smaller nuclei at higher S, never below one cell


def test_gibbs_thomson_small_crystals_need_more_supersaturation():
    sizes = np.array([1.0, 2.0, 5.0, 20.0])
    s_eq = equilibrium_saturation(sizes, 4.0)
    assert np.all(np.diff(s_eq) < 0) and s_eq[-1] == pytest.approx(np.exp(0.2))


def test_mass_balance_never_crystallises_more_than_the_limiting_precursor():
    rng = np.random.default_rng(3)
    columns = validate_arrays({"temperature_c": rng.uniform(80, 250, 200), "cs_pb_ratio": rng.uniform(0.05, 4, 200),
                               "reaction_time_s": rng.uniform(1, 3600, 200)})
    cond = conditions(columns)
    state, _ = solver.integrate(cond)
    crystallised = kinetics.crystallised_m(state[3])
    assert np.all(crystallised >= 0)
    assert np.all(crystallised <= cond["x_max"] * (1 + 1e-6))
    assert np.all(supersaturation(crystallised, cond) > 0)
    # Cs, Pb and Br still in solution are non-negative (Br: 2 per PbBr2, 3 per CsPbBr3)
    assert np.all(cond["cs0"] - crystallised >= -1e-12) and np.all(2 * cond["pb0"] - 3 * crystallised >= -1e-12)


def test_long_reaction_ends_saturated_over_the_crystals_and_ripens():
    out = simulate_batch({"reaction_time_s": [5.0, 600.0, 3600.0]})
    assert out["yield"][-1] > 0.9
    cond = conditions(validate_arrays({"reaction_time_s": 3600.0}))
    s_eq = equilibrium_saturation(out["cube_equivalent_edge_nm"][-1], cond["capillary_nm"][0])
    assert out["final_supersaturation"][-1] == pytest.approx(s_eq, rel=0.2)
    assert np.all(np.diff(out["cube_equivalent_edge_nm"]) > 0)  # Ostwald ripening coarsens with time
    assert np.all(np.diff(out["number_umol_l"]) < 0)  # ... by dissolving the small crystals


def test_higher_temperature_gives_larger_cubes_protesescu_range():
    out = simulate_batch({"temperature_c": [140.0, 170.0, 200.0]})
    edge = out["edge_length_nm"]
    assert np.all(np.diff(edge) > 0)
    assert 3.5 < edge[0] < 6.5 and 9.0 < edge[2] < 16.0  # Protesescu 2015: ~4 nm at 140 °C, up to ~15 nm at 200 °C
    assert np.all(out["phase_index"][1:] == 0)  # cubes at 170-200 °C


def test_default_recipe_matches_protesescu_standard_product():
    out = simulate_batch({})
    assert phases.PHASE_NAMES[out["phase_index"][0]] == "cube" and out["p_cube"][0] > 0.8
    assert 6.0 < out["edge_length_nm"][0] < 10.0
    assert 490 < out["pl_peak_nm"][0] < 512  # green emission of ~8 nm cubes
    assert 12 < out["pl_fwhm_nm"][0] < 42  # Protesescu: 12-42 nm FWHM
    assert 0.5 <= out["plqy"][0] <= 0.9  # Protesescu: 50-90 %


def test_pl_red_shifts_with_size_and_approaches_bulk():
    sizes = np.array([3.0, 4.0, 6.0, 8.0, 12.0, 20.0, 100.0])
    peak = optics.cube_peak_nm(sizes)
    assert np.all(np.diff(peak) > 0)
    bulk_ev = optics.EV_NM / peak[-1]
    assert 2.33 < bulk_ev < 2.40  # bulk CsPbBr3 band-edge emission ~2.36-2.4 eV
    assert optics.cube_fit()["max_residual_ev"] < 0.015  # the fit follows the published points
    assert 455 < optics.cube_peak_nm(4.0) < 475  # Protesescu/Brennan: ~4 nm cubes emit near 460-470 nm


def test_platelet_lines_blue_shift_with_thinner_slabs():
    lines = optics.platelet_peak_nm(np.arange(1, 6))
    assert np.all(np.diff(lines) > 0) and 395 < lines[0] < 410 and lines[-1] < 485


def test_linewidth_grows_with_size_dispersion():
    narrow, broad = optics.cube_fwhm_nm(6.0, np.array([0.3, 1.2]))
    assert broad > narrow > 10.0


def test_cs_rich_amine_rich_favours_cs4pbbr6():
    out = simulate_batch({"cs_pb_ratio": [0.266, 2.5], "oleylamine_ml": [0.5, 2.0]})
    assert out["p_Cs4PbBr6"][1] > 0.8 > out["p_Cs4PbBr6"][0]
    assert np.isnan(out["pl_peak_nm"][1]) and out["plqy"][1] < 0.05  # Cs4PbBr6 is not a visible emitter


def test_pb_rich_favours_cspb2br5():
    out = simulate_batch({"cs_pb_ratio": [0.266, 0.12, 0.08, 0.05], "pb_concentration_m": 0.1})
    assert np.all(np.diff(out["p_CsPb2Br5"]) > 0)
    assert phases.PHASE_NAMES[out["phase_index"][-1]] == "CsPb2Br5"


def test_low_temperature_ammonium_rich_favours_blue_platelets():
    out = simulate_batch({"temperature_c": [100.0, 170.0], "oleic_acid_ml": [1.5, 0.5]})
    assert phases.PHASE_NAMES[out["phase_index"][0]] == "platelet" and out["p_platelet"][0] > 0.9
    assert out["p_platelet"][1] < 0.05
    assert out["platelet_thickness_ml"][0] in (1, 2, 3, 4, 5)
    assert 400 < out["pl_peak_nm"][0] < 470  # Bekenstein/Akkerman: blue platelet emission
    assert out["ammonium_m"][0] > out["ammonium_m"][1]  # acid-base equilibrium (Almeida 2018)


def test_water_quenches_emission():
    out = simulate_batch({"water_ppm": [0.0, 1500.0]})
    assert out["plqy"][1] < 0.5 * out["plqy"][0]


def test_solver_kernel_matches_numpy_rhs_and_its_jacobian_column():
    columns = validate_arrays({"temperature_c": [120.0, 200.0]})
    cond = kinetics.with_prefactor(conditions(columns))
    state = np.array([[1.0, 0.5], [6.0, 4.0], [0.8, 0.3], [300.0, 150.0]])
    consts = solver.constant_matrix(conditions(columns), KINETICS)
    for i in range(2):
        one = {k: (v[i:i + 1] if isinstance(v, np.ndarray) else v) for k, v in cond.items()}
        values = solver._moment_rhs_kernel(*state[:, i], consts[i], 0.587, 0.587**3, True)
        out, col = np.array(values[:4]), np.array(values[4:])
        np.testing.assert_allclose(out, kinetics.rhs(state[:, i:i + 1], one)[:, 0], rtol=1e-12)
        step = 1e-6 * state[3, i]
        bumped = state[:, i:i + 1].copy()
        bumped[3] += step
        finite = (kinetics.rhs(bumped, one)[:, 0] - out) / step
        np.testing.assert_allclose(col, finite, rtol=1e-4, atol=1e-9 * np.abs(finite).max())


def test_array_path_matches_the_compiled_kernel():
    """The whole-array path (NumPy here, CuPy on a GPU) takes the same steps as the numba kernel."""
    from engine.synthesis.dataset import sample_recipes

    cond = conditions(validate_arrays(sample_recipes(12, seed=3)))
    (kernel, kernel_steps), (arrays, array_steps) = (solver.integrate(cond, path=p) for p in ("numba", "array"))
    np.testing.assert_array_equal(kernel_steps, array_steps)
    np.testing.assert_allclose(arrays, kernel, rtol=1e-9, atol=0)


def test_both_paths_reproduce_the_results_from_before_the_shared_right_hand_side():
    """300 recipes: the numbers both batch paths gave while each had its own copy of the equations."""
    from engine.synthesis.dataset import sample_recipes

    golden = np.load(Path(__file__).parent / "data" / "synth_solver_golden.npz")
    cond = conditions(validate_arrays(sample_recipes(300, seed=11)))
    for path in ("numba", "array"):
        states, steps = solver.integrate(cond, path=path)
        np.testing.assert_array_equal(steps, golden[f"{path}_steps"])
        np.testing.assert_allclose(states, golden[f"{path}_states"], rtol=1e-12, atol=0)
    times, states = solver.integrate_recorded(conditions(validate_arrays(sample_recipes(1, seed=4))))
    np.testing.assert_allclose(times, golden["recorded_times"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(states, golden["recorded_states"], rtol=1e-12, atol=0)
