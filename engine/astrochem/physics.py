"""Physical conditions of a one-zone cloud model: typed parameters with units and ranges, initial
abundances and the output time grid.

Abundances are fractional, relative to the total hydrogen nuclei density n_H (cm^-3).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from engine.errors import InputError

SECONDS_PER_YEAR = 3.15576e7  # Julian year (s)


@dataclass(frozen=True)
class ParamSpec:
    """Unit, allowed range and meaning of one physical parameter."""

    unit: str
    low: float
    high: float
    label: str


PARAM_SPECS: dict[str, ParamSpec] = {
    "density": ParamSpec("cm^-3", 1e1, 1e7, "gas density n_H (hydrogen nuclei)"),
    "temperature": ParamSpec("K", 10.0, 300.0, "gas temperature"),
    "g0": ParamSpec("Habing", 1e-2, 1e4, "far-UV field G0 at the cloud edge"),
    "av": ParamSpec("mag", 1e-2, 30.0, "visual extinction A_V to the cloud edge"),
    "zeta": ParamSpec("s^-1", 1e-18, 1e-14, "cosmic-ray ionisation rate of H2"),
}

# Where the gas-phase network is trustworthy (the dataset box): the file has no H2 photodissociation and
# its CO photodissociation has no self-shielding, so we stay where interstellar photons barely reach:
# at the worst corner (G0=100, A_V=5) the unshielded CO photodissociation rate is 5e-17 s^-1, i.e. it
# would destroy < 0.2 % of CO in 1 Myr (see ``unshielded_co_loss``). T stops at 100 K because many
# RATE22 fits are only given up to 300 K and dense clouds are cold.
VALID_BOX: dict[str, tuple[float, float]] = {
    "density": (1e3, 1e6),
    "temperature": (10.0, 100.0),
    "g0": (1.0, 100.0),
    "av": (5.0, 20.0),
    "zeta": (1e-17, 1e-15),
}
CO_PHOTO_ALPHA, CO_PHOTO_GAMMA = 2.40e-10, 3.88  # RATE22 CO + PHOTON -> O + C (Heays et al. 2017), Draine field
HABING_PER_DRAINE = 1.7  # RATE22 photorates are for the Draine (1978) field = 1.7 Habing


@dataclass(frozen=True)
class PhysicalParams:
    """One cloud: n_H (cm^-3), T (K), G0 (Habing), A_V (mag), zeta (s^-1). Defaults: a dark cloud core."""

    density: float = 1e4
    temperature: float = 10.0
    g0: float = 1.0
    av: float = 10.0
    zeta: float = 1.3e-17

    def __post_init__(self):
        for name, spec in PARAM_SPECS.items():
            value = getattr(self, name)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise InputError(f"{name} must be a number in [{spec.low:g}, {spec.high:g}] {spec.unit}; "
                                 f"got {value!r}") from None
            if not math.isfinite(value) or not spec.low <= value <= spec.high:
                raise InputError(f"{name} = {value:g} {spec.unit} is outside the allowed range "
                                 f"[{spec.low:g}, {spec.high:g}] {spec.unit} ({spec.label})")
            object.__setattr__(self, name, value)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def as_array(self) -> np.ndarray:
        return np.array([getattr(self, f.name) for f in fields(self)])

    @classmethod
    def from_array(cls, values) -> PhysicalParams:
        return cls(*(float(v) for v in values))


PARAM_NAMES = tuple(f.name for f in fields(PhysicalParams))


def unshielded_co_loss(params: PhysicalParams, t_end_yr: float) -> float:
    """Fraction-of-CO e-folds in ``t_end_yr`` by the (unshielded) RATE22 CO photodissociation rate."""
    rate = CO_PHOTO_ALPHA * params.g0 / HABING_PER_DRAINE * math.exp(-CO_PHOTO_GAMMA * params.av)
    return rate * t_end_yr * SECONDS_PER_YEAR


def validity_warnings(params: PhysicalParams, t_end_yr: float) -> list[str]:
    """Plain-language warnings when ``params`` lie where the gas-phase-only network is not trustworthy."""
    warnings = []
    if unshielded_co_loss(params, t_end_yr) > 0.05:
        warnings.append(
            "UV-exposed gas: the network has no H2 photodissociation and no CO self-shielding, so H2 stays "
            "molecular and CO is over-destroyed here; trust the dataset box A_V >= 5 mag instead.")
    for name, (low, high) in VALID_BOX.items():
        value = getattr(params, name)
        if name != "av" and not low <= value <= high:
            spec = PARAM_SPECS[name]
            warnings.append(f"{name} = {value:g} {spec.unit} is outside the validated box "
                            f"[{low:g}, {high:g}] {spec.unit}.")
    return warnings


@dataclass(frozen=True)
class ElementalAbundances:
    """Total elemental abundances relative to n_H (UCLCHEM defaults for dense clouds; H is 1 by definition)."""

    He: float = 0.1
    C: float = 1.77e-4
    N: float = 6.18e-5
    O: float = 3.34e-4  # noqa: E741  (element symbols as field names)
    S: float = 3.51e-6
    Mg: float = 2.256e-6


# Named elemental abundance sets. "dense": UCLCHEM's dense-cloud defaults. "low-metal": the same C, N, O,
# He with S and Mg depleted to the classic low-metal values (Graedel et al. 1982; Wakelam & Herbst 2008,
# set EA1: S 8e-8, Mg 7e-9), which brings the electron fraction of a dark cloud down to ~1e-8 without grains.
ELEMENT_SETS: dict[str, ElementalAbundances] = {
    "dense": ElementalAbundances(),
    "low-metal": ElementalAbundances(S=8e-8, Mg=7e-9),
}


def element_set(name: str) -> ElementalAbundances:
    """The elemental abundance set called ``name`` (see :data:`ELEMENT_SETS`)."""
    if name not in ELEMENT_SETS:
        raise InputError(f"elements must be one of {', '.join(ELEMENT_SETS)}; got {name!r}")
    return ELEMENT_SETS[name]


# Starting form of each element: hydrogen fully molecular, the low-ionisation-potential elements C, S, Mg
# singly ionised (as in UV-exposed gas before the cloud condensed), the others neutral atoms.
INITIAL_CARRIER = {"He": "He", "C": "C+", "N": "N", "O": "O", "S": "S+", "Mg": "Mg+"}


def initial_abundances(network, elements: ElementalAbundances | None = None) -> np.ndarray:
    """Initial abundance vector (relative to n_H) over ``network.species``; electrons balance the charge."""
    elements = elements or ElementalAbundances()
    x = np.zeros(network.n_species)
    x[network.index["H2"]] = 0.5
    electrons = 0.0
    for element, carrier in INITIAL_CARRIER.items():
        value = getattr(elements, element)
        if not math.isfinite(value) or value < 0:
            raise InputError(f"elemental abundance of {element} must be >= 0; got {value!r}")
        x[network.index[carrier]] += value
        electrons += value if carrier.endswith("+") else 0.0
    x[network.index["e-"]] += electrons
    return x


def time_grid_yr(t_end_yr: float = 1e6, n_out: int = 64) -> np.ndarray:
    """Output times (yr): ``n_out`` points log-spaced from 1 yr to ``t_end_yr`` inclusive."""
    if not (isinstance(n_out, int | np.integer) and 2 <= n_out <= 10_000):
        raise InputError(f"n_out must be an integer in [2, 10000]; got {n_out!r}")
    if not (math.isfinite(t_end_yr) and 10.0 <= t_end_yr <= 1e8):
        raise InputError(f"t_end_yr must be in [10, 1e8] yr; got {t_end_yr!r}")
    return np.logspace(0.0, math.log10(t_end_yr), int(n_out))
