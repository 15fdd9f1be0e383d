"""Rate coefficients of the RATE22 reaction types, vectorised over all reactions.

Rate laws (McElroy et al. 2013, A&A 550, A36, Sect. 2; unchanged in RATE22; normalisations as in
UCLCHEM, Holdship et al. 2017, AJ 154, 38):

* two-body (Arrhenius-Kooij), cm^3 s^-1:      k = alpha (T/300)^beta exp(-gamma/T)
* CP, direct cosmic-ray ionisation, s^-1:      k = alpha zeta/zeta0
* CR, cosmic-ray-induced photons, s^-1:        k = alpha (T/300)^beta gamma/(1 - omega) zeta/zeta0
* PH, interstellar photons, s^-1:              k = alpha (G0/1.7) exp(-gamma A_V)
* H2 formation on grains, cm^3 s^-1 per n_H:   k = 3e-18 sqrt(T)  (rate = k n_H n(H), Hollenbach & McKee
  1979 form with unit sticking/efficiency; 3e-17 cm^3 s^-1 at 100 K as in Jura 1975)

zeta0 = 1.3e-17 s^-1 is the ionisation rate the CP/CR alphas are tabulated for (the CR alphas are 1.3e-17
and UCLCHEM's zeta unit is 1.3e-17 s^-1); omega = 0.5 is the grain albedo (UCLCHEM default); the PH
alphas are for the Draine field, 1.7 Habing, so G0 in Habing is divided by 1.7.

Temperature ranges: of a reaction's fits, the one whose [Tmin, Tmax] contains T is used, else the
nearest one. Outside its range a fit is extrapolated, except fits with gamma < 0 (rates growing as
exp(|gamma|/T)), which are held at their value at the range edge so they cannot blow up at low T.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from engine.astrochem.network import H2_GRAIN_TYPE, Network
from engine.astrochem.physics import HABING_PER_DRAINE, PhysicalParams

ZETA0 = 1.3e-17  # s^-1
GRAIN_ALBEDO = 0.5
H2_GRAIN_COEFF = 3e-18  # cm^3 s^-1 K^-1/2


def arrhenius_kooij(alpha, beta, gamma, temperature):
    """Two-body rate coefficient (cm^3 s^-1)."""
    return alpha * (temperature / 300.0) ** beta * np.exp(-gamma / temperature)


def cosmic_ray_direct(alpha, zeta):
    """Direct cosmic-ray ionisation/dissociation rate (s^-1) at ionisation rate ``zeta`` (s^-1)."""
    return alpha * (zeta / ZETA0)


def cosmic_ray_photon(alpha, beta, gamma, temperature, zeta):
    """Cosmic-ray-induced photoreaction rate (s^-1)."""
    return alpha * (temperature / 300.0) ** beta * gamma / (1.0 - GRAIN_ALBEDO) * (zeta / ZETA0)


def interstellar_photon(alpha, gamma, g0, av):
    """Photoreaction rate (s^-1) in a field of ``g0`` Habing attenuated by ``av`` magnitudes."""
    return alpha * (g0 / HABING_PER_DRAINE) * np.exp(-gamma * av)


def h2_grain(temperature):
    """H2 formation on grains, cm^3 s^-1 per hydrogen nucleus: d n(H2)/dt = k n_H n(H)."""
    return H2_GRAIN_COEFF * np.sqrt(temperature)


@dataclass(frozen=True)
class RateLaw:
    """How one reaction type turns (alpha, beta, gamma, T_eval, params) into k, and the rate's form.

    The rate per n_H is ``k * n_H**density_power * x[r1] * (x[r2] if rate_reactants == 2 else 1)``.
    """

    coefficient: Callable
    rate_reactants: int
    density_power: int


LAWS: dict[str, RateLaw] = {
    "two_body": RateLaw(lambda a, b, g, t, p: arrhenius_kooij(a, b, g, t), 2, 1),
    "CP": RateLaw(lambda a, b, g, t, p: cosmic_ray_direct(a, p.zeta), 1, 0),
    "CR": RateLaw(lambda a, b, g, t, p: cosmic_ray_photon(a, b, g, t, p.zeta), 1, 0),
    "PH": RateLaw(lambda a, b, g, t, p: interstellar_photon(a, g, p.g0, p.av), 1, 0),
    H2_GRAIN_TYPE: RateLaw(lambda a, b, g, t, p: h2_grain(t), 1, 1),
}
TYPE_TO_LAW = {"CP": "CP", "CR": "CR", "PH": "PH", H2_GRAIN_TYPE: H2_GRAIN_TYPE}


def law_name(rtype: str) -> str:
    """The :data:`LAWS` key for a RATE22 type (every two-body type shares one law)."""
    return TYPE_TO_LAW.get(rtype, "two_body")


def select_range(temperature: float, tmin: np.ndarray, tmax: np.ndarray) -> np.ndarray:
    """Per row of ``(n_reactions, n_ranges)`` arrays (padding: tmin=inf), the index of the range to use."""
    distance = np.where(temperature < tmin, tmin - temperature, np.maximum(temperature - tmax, 0.0))
    return np.argmin(distance, axis=1)


@dataclass(frozen=True)
class RateTable:
    """A network's fits as padded arrays, grouped by rate law, for vectorised evaluation."""

    network: Network

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        reactions = self.network.reactions
        width = max(len(r.ranges) for r in reactions)
        shape = (len(reactions), width)
        out = {key: np.zeros(shape) for key in ("alpha", "beta", "gamma")}
        out["tmin"], out["tmax"] = np.full(shape, np.inf), np.full(shape, np.inf)
        for j, reaction in enumerate(reactions):
            for k, fit in enumerate(reaction.ranges):
                for key in ("alpha", "beta", "gamma", "tmin", "tmax"):
                    out[key][j, k] = getattr(fit, key)
        return out

    @cached_property
    def law_members(self) -> dict[str, np.ndarray]:
        """Law name -> indices of the reactions that follow it."""
        names = np.array([law_name(r.rtype) for r in self.network.reactions])
        return {name: np.flatnonzero(names == name) for name in LAWS if np.any(names == name)}

    @cached_property
    def density_power(self) -> np.ndarray:
        power = np.zeros(self.network.n_reactions)
        for name, members in self.law_members.items():
            power[members] = LAWS[name].density_power
        return power

    def coefficients(self, params: PhysicalParams) -> np.ndarray:
        """Rate coefficient k of every reaction (cm^3 s^-1 for two-body, s^-1 for one-body)."""
        a = self.arrays
        rows = np.arange(self.network.n_reactions)
        pick = select_range(params.temperature, a["tmin"], a["tmax"])
        alpha, beta, gamma = a["alpha"][rows, pick], a["beta"][rows, pick], a["gamma"][rows, pick]
        tmin, tmax = a["tmin"][rows, pick], a["tmax"][rows, pick]
        t_eval = np.where(gamma < 0, np.clip(params.temperature, tmin, tmax), params.temperature)
        k = np.zeros(self.network.n_reactions)
        for name, members in self.law_members.items():
            k[members] = LAWS[name].coefficient(alpha[members], beta[members], gamma[members], t_eval[members],
                                                params)
        return k

    def pseudo_first_order(self, params: PhysicalParams) -> np.ndarray:
        """k * n_H**density_power: the factor that multiplies the reactant abundances in d x/dt (s^-1)."""
        return self.coefficients(params) * params.density ** self.density_power


@lru_cache(maxsize=4)
def rate_table(network: Network) -> RateTable:
    """The (cached) :class:`RateTable` of a network."""
    return RateTable(network)
