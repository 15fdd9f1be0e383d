"""The typed recipe of a hot-injection CsPbBr3 synthesis, its allowed ranges and its validation.

Defaults reproduce the standard recipe of Protesescu et al., Nano Lett. 15, 3692 (2015), SI:
0.188 mmol PbBr2 in 5 mL 1-octadecene (ODE) with 0.5 mL oleic acid (OA) and 0.5 mL oleylamine (OLA),
dried at 120 °C, heated to 140–200 °C (170 °C used here, mid-range), swift injection of 0.4 mL of
0.125 M Cs-oleate in ODE (0.05 mmol Cs), quenched in an ice bath about 5 s later. Hence
Cs:Pb = 0.05/0.188 = 0.266 and [Pb] = 0.188 mmol / 6.4 mL = 0.0294 mol/L in the final mixture.

The reaction scale is fixed to that recipe: 5.0 mL solvent plus the ligand volumes plus a 0.4 mL
injection; concentrations refer to the final mixture.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from engine.errors import InputError


@dataclass(frozen=True)
class Solvent:
    """A non-coordinating high-boiling solvent (handbook values, CRC Handbook of Chemistry and Physics).

    ``boiling_c``: normal boiling point (°C), an upper bound on the reaction temperature;
    ``dielectric``: static relative permittivity near 25 °C; ``viscosity_mpas``: viscosity near 25 °C (mPa s).
    """

    label: str
    boiling_c: float
    dielectric: float
    viscosity_mpas: float


# Registry of supported solvents (key -> properties). 1-Octadecene is the solvent of Protesescu 2015.
SOLVENTS: dict[str, Solvent] = {
    "octadecene": Solvent("1-octadecene (ODE)", 315.0, 2.0, 3.4),
    "dioctyl_ether": Solvent("dioctyl ether", 286.0, 2.8, 3.0),
    "mesitylene": Solvent("mesitylene", 164.7, 2.28, 1.04),
}
SOLVENT_NAMES: tuple[str, ...] = tuple(SOLVENTS)


@dataclass(frozen=True)
class FieldSpec:
    """Unit, allowed closed range [low, high] and a one-line description of a numeric recipe field."""

    unit: str
    low: float
    high: float
    help: str


FIELD_SPECS: dict[str, FieldSpec] = {
    "temperature_c": FieldSpec("°C", 80.0, 250.0, "reaction (injection) temperature"),
    "cs_pb_ratio": FieldSpec("mol/mol", 0.05, 4.0, "Cs:Pb molar ratio in the flask"),
    "pb_concentration_m": FieldSpec("mol/L", 0.005, 0.2, "PbBr2 concentration in the final mixture"),
    "oleic_acid_ml": FieldSpec("mL", 0.1, 3.0, "oleic acid volume (per 5 mL solvent)"),
    "oleylamine_ml": FieldSpec("mL", 0.1, 3.0, "oleylamine volume (per 5 mL solvent)"),
    "reaction_time_s": FieldSpec("s", 1.0, 3600.0, "time from injection to quench"),
    "water_ppm": FieldSpec("ppm (mass)", 0.0, 2000.0, "residual water in the solvent"),
}
NUMERIC_FIELDS: tuple[str, ...] = tuple(FIELD_SPECS)


@dataclass(frozen=True)
class Recipe:
    """One hot-injection recipe. Units: see :data:`FIELD_SPECS`; ``solvent`` is a key of :data:`SOLVENTS`."""

    temperature_c: float = 170.0
    cs_pb_ratio: float = 0.266
    pb_concentration_m: float = 0.0294
    oleic_acid_ml: float = 0.5
    oleylamine_ml: float = 0.5
    reaction_time_s: float = 5.0
    solvent: str = "octadecene"
    water_ppm: float = 0.0

    def __post_init__(self) -> None:
        validate_recipe(self)

    def to_dict(self) -> dict:
        return asdict(self)



def _check_value(name: str, value) -> float:
    spec = FIELD_SPECS[name]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number in [{spec.low:g}, {spec.high:g}] {spec.unit}; "
                         f"got {value!r}.") from None
    if not math.isfinite(number) or not spec.low <= number <= spec.high:
        raise InputError(f"{name} = {number!r} is outside the allowed range [{spec.low:g}, {spec.high:g}] "
                         f"{spec.unit}.")
    return number


def check_solvent(solvent) -> str:
    if solvent not in SOLVENTS:
        raise InputError(f"solvent {solvent!r} is not supported; allowed: {', '.join(SOLVENT_NAMES)}.")
    return solvent


def _check_boiling(temperature_c: float, solvent: str) -> None:
    props = SOLVENTS[solvent]
    if temperature_c > props.boiling_c:
        low = FIELD_SPECS["temperature_c"].low
        raise InputError(f"temperature_c = {temperature_c:g} °C is above the boiling point of {props.label}; "
                         f"allowed range with this solvent: [{low:g}, {props.boiling_c:g}] °C.")


def validate_recipe(recipe: Recipe) -> None:
    """Raise :class:`InputError` naming the first field that is non-finite, mistyped or out of range."""
    for name in NUMERIC_FIELDS:
        object.__setattr__(recipe, name, _check_value(name, getattr(recipe, name)))
    check_solvent(recipe.solvent)
    _check_boiling(recipe.temperature_c, recipe.solvent)


LITERATURE_RECIPE = Recipe()


def recipe_from_mapping(values: dict) -> Recipe:
    """A :class:`Recipe` from a mapping; unknown keys are an error, missing keys take the defaults."""
    known = {f.name for f in fields(Recipe)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"unknown recipe field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}.")
    return Recipe(**values)


def recipes_to_arrays(recipes) -> dict[str, np.ndarray]:
    """Column arrays (float64; ``solvent`` as an int index into :data:`SOLVENT_NAMES`) from recipes."""
    recipes = list(recipes)
    columns = {name: np.array([getattr(r, name) for r in recipes], dtype=float) for name in NUMERIC_FIELDS}
    columns["solvent"] = np.array([SOLVENT_NAMES.index(r.solvent) for r in recipes], dtype=np.int64)
    return columns


def validate_arrays(arrays: dict) -> dict[str, np.ndarray]:
    """Check a dict of recipe columns (any numeric field may be a scalar; all broadcast to one length).

    ``solvent`` may be names or indices. Returns float64/int64 1-D arrays of equal length. Raises
    :class:`InputError` naming the field and its range for the first bad entry.
    """
    unknown = sorted(set(arrays) - set(NUMERIC_FIELDS) - {"solvent"})
    if unknown:
        raise InputError(f"unknown recipe field(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(NUMERIC_FIELDS + ('solvent',))}.")
    default = LITERATURE_RECIPE
    out = {}
    for name in NUMERIC_FIELDS:
        spec = FIELD_SPECS[name]
        try:
            values = np.atleast_1d(np.asarray(arrays.get(name, getattr(default, name)), dtype=float))
        except (TypeError, ValueError):
            raise InputError(f"{name} must be numeric in [{spec.low:g}, {spec.high:g}] {spec.unit}.") from None
        bad = ~np.isfinite(values) | (values < spec.low) | (values > spec.high)
        if bad.any():
            raise InputError(f"{name} = {float(values[bad][0])!r} is outside the allowed range "
                             f"[{spec.low:g}, {spec.high:g}] {spec.unit} ({int(bad.sum())} bad value(s)).")
        out[name] = values
    solvent = np.atleast_1d(np.asarray(arrays.get("solvent", default.solvent)))
    if solvent.dtype.kind in "iu":
        if ((solvent < 0) | (solvent >= len(SOLVENT_NAMES))).any():
            raise InputError(f"solvent index out of range; allowed 0..{len(SOLVENT_NAMES) - 1} "
                             f"({', '.join(SOLVENT_NAMES)}).")
        out["solvent"] = solvent.astype(np.int64)
    else:
        out["solvent"] = np.array([SOLVENT_NAMES.index(check_solvent(str(s))) for s in solvent], dtype=np.int64)
    try:
        shaped = np.broadcast_arrays(*out.values())
    except ValueError:
        raise InputError("recipe columns have incompatible lengths; give scalars or equal-length arrays.") \
            from None
    out = {name: np.ascontiguousarray(col) for name, col in zip(out, shaped, strict=True)}
    boiling = np.array([SOLVENTS[s].boiling_c for s in SOLVENT_NAMES])[out["solvent"]]
    too_hot = out["temperature_c"] > boiling
    if too_hot.any():
        i = int(np.argmax(too_hot))
        _check_boiling(float(out["temperature_c"][i]), SOLVENT_NAMES[out["solvent"][i]])
    return out
