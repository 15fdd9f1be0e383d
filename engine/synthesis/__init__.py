"""Perovskite synthesis twin: hot-injection CsPbBr3 nanocrystals (physics engine, sweeps, datasets).

Public API: :class:`Recipe`, :func:`simulate`, :func:`simulate_batch`, :func:`simulate_reference`,
:func:`time_course`, :func:`sweep`, :data:`PHASE_NAMES`.
"""

from engine.synthesis.schemas import FIELD_SPECS, LITERATURE_RECIPE, SOLVENT_NAMES, Recipe
from engine.synthesis.simulate import PHASE_NAMES, simulate, simulate_batch, simulate_reference, time_course
from engine.synthesis.sweep import make_axis, sweep

__all__ = ["FIELD_SPECS", "LITERATURE_RECIPE", "PHASE_NAMES", "SOLVENT_NAMES", "Recipe", "make_axis", "simulate",
           "simulate_batch", "simulate_reference", "sweep", "time_course"]
