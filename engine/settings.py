"""Where Twin Lab keeps user data: the data directory and the database URL (from the environment).

``TWINLAB_DATA_DIR`` (default ``./twinlab-data``) holds the embedded SQLite database and exports;
``TWINLAB_DATABASE_URL`` (e.g. ``postgresql+psycopg://user:pw@host/db``) selects another database,
which hosted deployments need because their container disks are wiped on restart.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path


def data_dir() -> Path:
    """The data directory, created on first use."""
    path = Path(os.environ.get("TWINLAB_DATA_DIR") or "twinlab-data").expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    """The SQLAlchemy URL of the run store: ``TWINLAB_DATABASE_URL`` or SQLite in the data directory."""
    url = os.environ.get("TWINLAB_DATABASE_URL", "").strip()
    if url.startswith("postgres://"):  # Heroku's legacy scheme
        url = "postgresql+psycopg://" + url[len("postgres://"):]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url or f"sqlite:///{data_dir() / 'twinlab.db'}"


def configure_logging() -> None:
    """Send the engine's log (e.g. each checkpoint load) to stderr at ``TWINLAB_LOG_LEVEL`` (unset: warnings)."""
    logger = logging.getLogger("engine")
    level = os.environ.get("TWINLAB_LOG_LEVEL", "WARNING").upper()
    logger.setLevel(level if level in logging.getLevelNamesMapping() else "WARNING")
    if not logger.handlers:  # idempotent: Streamlit reruns app.py on every interaction
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
