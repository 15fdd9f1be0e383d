"""Run history: every job can be saved, listed, reopened, compared and deleted."""

from engine.runs.store import Run, RunStore

__all__ = ["Run", "RunStore"]
