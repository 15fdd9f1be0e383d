"""Astrochemistry solver: analytic network, Jacobian, conservation, dense and diffuse cloud sanity, analysis."""

import numpy as np
import pytest

from engine.astrochem.analysis import dominant_reactions, element_budget
from engine.astrochem.network import CONSERVED, load_network, parse_network
from engine.astrochem.physics import SECONDS_PER_YEAR, PhysicalParams, element_set, initial_abundances
from engine.astrochem.solver import Kinetics, SolverConfig, SolverError, solve
from engine.errors import InputError

DARK = PhysicalParams(density=1e4, temperature=10.0, g0=1.0, av=10.0, zeta=1.3e-17)
DIFFUSE = PhysicalParams(density=100.0, temperature=50.0, g0=1.0, av=0.5, zeta=1.3e-17)


@pytest.fixture(scope="module")
def dark_run():
    return solve(DARK, t_end_yr=1e6, n_out=32)


def _carbon_share(network, abundances, species):
    carbon = network.stoichiometry[:, CONSERVED.index("C")]
    return carbon[network.index[species]] * abundances[network.index[species]] / (abundances @ carbon)


def test_a_to_b_to_c_matches_the_closed_form():
    # three isomers, photo-driven with gamma=0 and G0=1.7 Habing so that k = alpha exactly
    k1, k2 = 1e-13, 3e-14
    text = (f"1:PH:HCN:PHOTON:HNC::::1:{k1}:0.0:0.0:10:41000:C:C:::\n"
            f"2:PH:HNC:PHOTON:CNH::::1:{k2}:0.0:0.0:10:41000:C:C:::\n")
    network = parse_network(text, add_h2_grain=False)
    a_, b_, c_ = (network.index[name] for name in ("HCN", "HNC", "CNH"))
    start = np.zeros(3)
    start[a_] = 1.0
    run = solve(PhysicalParams(g0=1.7, av=0.01), t_end_yr=1e6, n_out=40, network=network, initial=start,
                config=SolverConfig(rtol=1e-9, atol=1e-14))
    t = run.times_yr * SECONDS_PER_YEAR
    a = np.exp(-k1 * t)
    b = k1 / (k2 - k1) * (np.exp(-k1 * t) - np.exp(-k2 * t))
    np.testing.assert_allclose(run.abundances[:, a_], a, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(run.abundances[:, b_], b, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(run.abundances[:, c_], 1 - a - b, rtol=1e-5, atol=1e-12)


def test_analytic_jacobian_matches_finite_differences():
    network = load_network()
    kinetics = Kinetics(network, DARK)
    rng = np.random.default_rng(0)
    x = initial_abundances(network) + 10.0 ** rng.uniform(-12, -6, network.n_species)
    jac = kinetics.jacobian(0.0, x).toarray()
    numeric = np.empty_like(jac)
    step = 1e-3  # the rates are at most quadratic in x, so a central difference has no truncation error
    for i in range(network.n_species):
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        numeric[:, i] = (kinetics.rhs(0.0, up) - kinetics.rhs(0.0, down)) / (2 * step)
    scale = np.abs(numeric).max()
    assert np.abs(jac - numeric).max() <= 1e-9 * scale


def test_elements_and_charge_are_conserved_on_the_real_network(dark_run):
    network = load_network()
    assert dark_run.conservation_error <= 1e-6
    totals = network.totals(dark_run.abundances)
    start = network.totals(initial_abundances(network))
    np.testing.assert_allclose(totals[:, :-1], np.broadcast_to(start[:-1], totals[:, :-1].shape), rtol=1e-6)
    assert np.abs(totals[:, -1]).max() <= 1e-6 * dark_run.abundances[:, network.index["e-"]].min()


def test_dense_cloud_puts_most_carbon_in_co_after_a_myr(dark_run):
    network = load_network()
    final = dark_run.abundances[-1]
    assert _carbon_share(network, final, "CO") > 0.8
    assert _carbon_share(network, dark_run.abundances[0], "C+") > 0.99  # starts ionised
    assert 1e-12 < final[network.index["HCO+"]] < 1e-8


def test_low_metal_dark_cloud_has_few_electrons_and_abundant_hco_plus():
    network = load_network()
    run = solve(DARK, t_end_yr=1e6, n_out=8, elements=element_set("low-metal"))
    final = run.abundances[-1]
    assert final[network.index["e-"]] < 1e-7  # vs ~1e-6 with the metal-rich set
    assert 1e-9 < final[network.index["HCO+"]] < 3e-8  # TMC-1: a few 1e-9 of n_H
    assert run.conservation_error <= 1e-6


def test_diffuse_cloud_keeps_carbon_mostly_ionised():
    network = load_network()
    run = solve(DIFFUSE, t_end_yr=1e6, n_out=16)
    assert _carbon_share(network, run.abundances[-1], "C+") > 0.9
    assert run.conservation_error <= 1e-6


def test_solver_failure_names_the_parameters():
    with pytest.raises(SolverError, match=r"n_H=1e\+04 cm\^-3, T=10 K"):
        solve(DARK, t_end_yr=1e6, n_out=8, config=SolverConfig(max_steps=5))


def test_progress_reaches_one_and_bad_initial_state_is_rejected():
    seen = []
    solve(DARK, t_end_yr=1e3, n_out=4, progress=seen.append)
    assert seen[-1] == pytest.approx(1.0) and all(0 <= f <= 1 for f in seen)
    with pytest.raises(InputError, match="initial abundances"):
        solve(DARK, t_end_yr=1e3, n_out=4, initial=np.full(3, 1.0))


def test_dominant_reactions_of_hco_plus_in_a_dark_cloud(dark_run):
    network = load_network()
    table = dominant_reactions(network, DARK, dark_run.abundances[-1], "HCO+")
    formation = table[table.direction == "formation"]
    destruction = table[table.direction == "destruction"]
    assert formation.iloc[0]["reaction"] == "H3+ + CO -> HCO+ + H2"
    assert destruction.iloc[0]["reaction"].startswith("HCO+ + e- ->")
    assert formation["share"].sum() <= 1 + 1e-12 and (table["rate"] > 0).all()
    # steady state at 1 Myr: formation and destruction of HCO+ balance
    all_rows = dominant_reactions(network, DARK, dark_run.abundances[-1], "HCO+", top=10_000)
    made = all_rows[all_rows.direction == "formation"]["rate"].sum()
    lost = all_rows[all_rows.direction == "destruction"]["rate"].sum()
    assert made == pytest.approx(lost, rel=0.05)
    with pytest.raises(InputError, match="'XYZ' is not in the network"):
        dominant_reactions(network, DARK, dark_run.abundances[-1], "XYZ")


def test_element_budget_shares_sum_to_one(dark_run):
    budget = element_budget(load_network(), dark_run.abundances, "C", top=4)
    np.testing.assert_allclose(budget.sum(axis=1), 1.0, atol=1e-9)
    assert "CO" in budget.columns and "C+" in budget.columns
