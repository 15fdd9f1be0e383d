"""Live-server helpers for browser tests and the load test (shared with ``engine.ui_bench``)."""

from __future__ import annotations

from pathlib import Path

from engine.ui_bench import CHROMIUM, CHROMIUM_ARGS, RENDERED_JS, ROOT, free_port, serve_app

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "RENDERED_JS", "ROOT", "free_port", "rss_mib", "serve_app"]


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
