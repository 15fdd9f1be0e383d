"""Perovskite synthesis twin: hot-injection CsPbBr3 nanocrystals (physics engine, sweeps, datasets).

Public API: :class:`Recipe`, :func:`simulate`, :func:`simulate_batch`, :func:`simulate_reference`,
:func:`time_course`, :func:`sweep`, :func:`make_axis`, :data:`PHASE_NAMES`. Names are resolved on first use
so that importing the package (e.g. for the CLI parser) does not load the compiled solver.
"""

from importlib import import_module

_EXPORTS = {
    "FIELD_SPECS": "schemas", "LITERATURE_RECIPE": "schemas", "SOLVENT_NAMES": "schemas", "Recipe": "schemas",
    "PHASE_NAMES": "simulation", "simulate": "simulation", "simulate_batch": "simulation",
    "simulate_reference": "simulation", "time_course": "simulation", "make_axis": "sweeps", "sweep": "sweeps",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'engine.synthesis' has no attribute {name!r}")
    return getattr(import_module(f"engine.synthesis.{_EXPORTS[name]}"), name)
