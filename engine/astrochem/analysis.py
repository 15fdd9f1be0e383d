"""Reading a solved run: which reactions make and destroy a species, and where each element resides."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.astrochem.network import CONSERVED, Network
from engine.astrochem.physics import PhysicalParams
from engine.astrochem.solver import Kinetics
from engine.errors import InputError


def _species_index(network: Network, species: str) -> int:
    if species not in network.index:
        raise InputError(f"species {species!r} is not in the network ({network.n_species} species, e.g. CO, HCO+)")
    return network.index[species]


def dominant_reactions(network: Network, params: PhysicalParams, abundances: np.ndarray, species: str,
                       top: int = 8) -> pd.DataFrame:
    """Formation and destruction reactions of ``species`` at the state ``abundances`` (relative to n_H).

    Columns: direction (formation/destruction), reaction, type, rate (cm^-3 s^-1 of ``species`` made or
    destroyed), share (of that direction's total). At most ``top`` rows per direction, largest first.
    """
    i = _species_index(network, species)
    kinetics = Kinetics(network, params)
    rates = kinetics.rates(np.asarray(abundances, dtype=float)) * params.density
    change = kinetics.structure.net.getrow(i).toarray().ravel()
    rows = []
    for direction, sign in (("formation", 1), ("destruction", -1)):
        members = np.flatnonzero(change * sign > 0)
        flux = rates[members] * np.abs(change[members])
        total = flux.sum()
        for k in np.argsort(flux)[::-1][:top]:
            reaction = network.reactions[members[k]]
            rows.append({"direction": direction, "reaction": reaction.label, "type": reaction.rtype,
                         "rate": float(flux[k]), "share": float(flux[k] / total) if total > 0 else 0.0})
    return pd.DataFrame(rows, columns=["direction", "reaction", "type", "rate", "share"])


def element_budget(network: Network, abundances: np.ndarray, element: str, top: int = 5) -> pd.DataFrame:
    """Fraction of ``element`` held by each of its ``top`` main carriers over time (rows: output times).

    The carriers are ranked by their largest share at any time; the rest is summed into ``other``.
    """
    if element not in CONSERVED[:-1]:
        raise InputError(f"element must be one of {', '.join(CONSERVED[:-1])}; got {element!r}")
    atoms = network.stoichiometry[:, CONSERVED.index(element)].astype(float)
    held = np.asarray(abundances) * atoms  # (n_times, n_species)
    total = held.sum(axis=1, keepdims=True)
    share = held / np.where(total > 0, total, 1.0)
    carriers = np.argsort(share.max(axis=0))[::-1][:top]
    frame = pd.DataFrame(share[:, carriers], columns=[network.species[c] for c in carriers])
    frame["other"] = 1.0 - frame.sum(axis=1)
    return frame
