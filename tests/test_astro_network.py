"""Astrochemistry network: RATE22 parsing, element/charge bookkeeping, rate laws against hand values."""

import math

import numpy as np
import pytest

from engine.astrochem.network import CONSERVED, composition, load_network, parse_network
from engine.astrochem.physics import VALID_BOX, PhysicalParams, unshielded_co_loss
from engine.astrochem.rates import (
    RateTable,
    arrhenius_kooij,
    cosmic_ray_direct,
    cosmic_ray_photon,
    h2_grain,
    interstellar_photon,
)
from engine.errors import InputError

HEADER = "# id:type:R1:R2:P1:P2:P3:P4:nTranges:alpha:beta:gamma:Tmin:Tmax:source:accuracy:doi:reference:\n"
TAIL = ':L:C:"10.1051/0004-6361:20020882":"a ref: with colons":'


def _row(rid, rtype, names, fits):
    blocks = "".join(f"{a}:{b}:{g}:{lo}:{hi}{TAIL}" for a, b, g, lo, hi in fits)
    return f"{rid}:{rtype}:{':'.join(names)}:{len(fits)}:{blocks}\n"


def test_multi_range_reaction_picks_the_fit_for_the_temperature():
    text = HEADER + _row(1, "NN", ["C", "OH", "CO", "H", "", ""], [(1e-10, 0.0, 0.0, 10, 100),
                                                                  (5e-10, 0.5, 20.0, 101, 1000)])
    network = parse_network(text, add_h2_grain=False)
    (reaction,) = network.reactions
    assert len(reaction.ranges) == 2 and reaction.ranges[1].alpha == 5e-10 and reaction.ranges[1].tmax == 1000
    table = RateTable(network)
    assert table.coefficients(PhysicalParams(temperature=50))[0] == pytest.approx(1e-10, rel=1e-14)
    hot = table.coefficients(PhysicalParams(temperature=200))[0]
    assert hot == pytest.approx(5e-10 * (200 / 300) ** 0.5 * math.exp(-20 / 200), rel=1e-14)


def test_negative_gamma_fit_is_held_at_its_range_edge_below_tmin():
    text = HEADER + _row(2, "NN", ["C", "OH", "CO", "H", "", ""], [(2e-10, -0.5, -30.0, 50, 300)])
    k = RateTable(parse_network(text, add_h2_grain=False)).coefficients(PhysicalParams(temperature=20))[0]
    assert k == pytest.approx(8.926522623377882e-10, rel=1e-12)  # 2e-10 (50/300)^-0.5 exp(30/50), not at 20 K


def test_unknown_species_is_reported_with_its_line_number():
    text = HEADER + _row(1, "NN", ["C", "OH", "CO", "H", "", ""], [(1e-10, 0, 0, 10, 300)])
    text += _row(2, "NN", ["Si", "OH", "SiO", "H", "", ""], [(1e-10, 0, 0, 10, 300)])
    with pytest.raises(InputError, match=r":3: unknown species 'Si'"):
        parse_network(text)


def test_unbalanced_reaction_is_reported_with_its_line_number():
    text = HEADER + _row(7, "NN", ["C", "O", "CO", "H", "", ""], [(1e-10, 0, 0, 10, 300)])
    with pytest.raises(InputError, match=r":2: reaction 7 .* is unbalanced .*'H': -1"):
        parse_network(text)
    charge = HEADER + _row(8, "IN", ["C+", "O", "CO", "", "", ""], [(1e-10, 0, 0, 10, 300)])
    with pytest.raises(InputError, match="'charge': 1"):
        parse_network(charge)


def test_malformed_rows_are_clear_errors():
    with pytest.raises(InputError, match=":2: nTranges=2"):
        parse_network(HEADER + _row(1, "NN", ["C", "OH", "CO", "H", "", ""], [(1e-10, 0, 0, 10, 300)])
                      .replace(":1:1e-10", ":2:1e-10"))
    with pytest.raises(InputError, match="unknown reaction type 'XX'"):
        parse_network(HEADER + _row(1, "XX", ["C", "OH", "CO", "H", "", ""], [(1e-10, 0, 0, 10, 300)]))


def test_species_composition_and_charge():
    assert composition("HeH+") == {"He": 1, "H": 1, "charge": 1}
    assert composition("C3CCH") == {"C": 5, "H": 1, "charge": 0}
    assert composition("CH3OH") == {"C": 1, "H": 4, "O": 1, "charge": 0}
    assert composition("e-") == {"charge": -1}
    with pytest.raises(ValueError):
        composition("GRAIN0")


def test_real_network_loads_balanced_with_its_stoichiometric_matrix():
    network = load_network()
    assert network.n_species == 294 and network.n_reactions == 4106 + 1  # + H2 formation on grains
    assert sum(len(r.ranges) > 1 for r in network.reactions) == 43
    row = network.stoichiometry[network.index["HCO+"]]
    assert dict(zip(CONSERVED, row.tolist(), strict=True)) == {"H": 1, "He": 0, "C": 1, "N": 0, "O": 1, "S": 0,
                                                                "Mg": 0, "charge": 1}
    assert network.reactions[-1].label == "H + H + GRAIN -> H2"
    assert len(network.sha256) == 64
    assert {"H2", "e-", "H", "H3+"} <= set(network.species[-6:])  # the most coupled species come last


def test_rate_laws_against_hand_computed_values():
    assert arrhenius_kooij(1e-10, 0.5, 100.0, 30.0) == pytest.approx(1.1281107221101164e-12, rel=1e-13)
    assert cosmic_ray_direct(2.3e-17, 2.6e-17) == pytest.approx(4.6e-17, rel=1e-13)
    assert cosmic_ray_photon(1.3e-17, 0.0, 250.0, 10.0, 1.3e-17) == pytest.approx(6.5e-15, rel=1e-13)
    assert interstellar_photon(1e-9, 2.0, 1.7, 1.0) == pytest.approx(1.353352832366127e-10, rel=1e-12)
    assert h2_grain(100.0) == pytest.approx(3e-17, rel=1e-13)


def test_real_rates_match_the_file_for_known_reactions():
    network = load_network()
    k = RateTable(network).coefficients(PhysicalParams(temperature=10, g0=1.7, av=0.01, zeta=1.3e-17))
    by_label = {r.label: k[j] for j, r in enumerate(network.reactions)}
    assert by_label["H2 + CRP -> H2+ + e-"] == pytest.approx(1.2e-17)
    assert by_label["CO + PHOTON -> O + C"] == pytest.approx(2.4e-10 * math.exp(-3.88 * 0.01))
    assert by_label["H3+ + CO -> HCO+ + H2"] > 1e-9


def test_valid_box_keeps_unshielded_co_photodissociation_negligible():
    worst = PhysicalParams(g0=VALID_BOX["g0"][1], av=VALID_BOX["av"][0])
    assert unshielded_co_loss(worst, 1e6) < 0.01
    assert unshielded_co_loss(PhysicalParams(g0=1.0, av=0.5), 1e6) > 10


@pytest.mark.parametrize("field,value", [("density", 1e9), ("temperature", 5.0), ("zeta", float("nan")),
                                         ("av", "ten")])
def test_out_of_range_parameters_name_the_field_and_range(field, value):
    with pytest.raises(InputError, match=field):
        PhysicalParams(**{field: value})


def test_rate_table_is_vectorised_over_all_reactions():
    k = RateTable(load_network()).coefficients(PhysicalParams())
    assert k.shape == (4107,) and np.all(np.isfinite(k)) and np.all(k >= 0)
