"""Registries of headless jobs, filled by each twin's ``cli`` module.

``BENCHMARKS[name](args) -> dict`` measures speed/accuracy targets side by side and returns JSON-able
results; ``TRAINERS[name](args) -> dict`` reproduces a shipped checkpoint and returns its model card.
"""

from __future__ import annotations

from collections.abc import Callable

BENCHMARKS: dict[str, Callable] = {}
TRAINERS: dict[str, Callable] = {}


def benchmark(name: str):
    """Decorator: register a benchmark under ``name`` (``python -m engine bench NAME``)."""

    def add(func: Callable) -> Callable:
        BENCHMARKS[name] = func
        return func

    return add


def trainer(name: str):
    """Decorator: register a training job under ``name`` (``python -m engine train NAME``)."""

    def add(func: Callable) -> Callable:
        TRAINERS[name] = func
        return func

    return add
