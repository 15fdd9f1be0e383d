"""Progress callbacks of long jobs, and how a caller asks a job to stop.

A job takes ``progress(fraction) -> bool | None`` (``fraction`` done in [0, 1]); it calls it at each chunk
boundary, and a truthy return asks it to stop there. Jobs whose finished chunks make sense on their own
(sweeps, training epochs) return them; jobs with nothing usable before the end (a reverse-diffusion run)
raise :class:`JobStopped`.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.errors import TwinLabError

ProgressFn = Callable[[float], "bool | None"]


class JobStopped(TwinLabError):
    """The caller asked the job to stop before it had a usable result."""


def report(progress: ProgressFn | None, fraction: float) -> bool:
    """Report ``fraction`` to ``progress`` (if any); True when the caller asks to stop."""
    return progress is not None and bool(progress(min(max(float(fraction), 0.0), 1.0)))
