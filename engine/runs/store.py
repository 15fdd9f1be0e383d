"""The run store: save, list, open and delete runs, each written in one transaction.

A run is one simulate / sweep / design / solve / emulate / sample / PDE job: its kind, parameters,
metrics, software and model versions, the CLI command that reproduces it, a note, and its arrays and
figures. Works on SQLite (default, in the data directory) and PostgreSQL (``TWINLAB_DATABASE_URL``).
"""

from __future__ import annotations

import io
import json
import math
import platform
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import create_engine, event, or_, select

import engine as engine_pkg
from engine.errors import InputError
from engine.runs.schema import artifacts, runs, upgrade
from engine.settings import database_url

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
MAX_TITLE, MAX_NOTE = 200, 10_000


@dataclass
class Run:
    """One saved run. ``arrays`` and ``figures`` are filled by :meth:`RunStore.get` only."""

    id: str
    kind: str
    title: str
    params: dict
    metrics: dict
    versions: dict
    command: str
    note: str
    created_at: datetime
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    figures: list[dict] = field(default_factory=list)


def _finite_json(value, name: str) -> str:
    def check(item, path):
        if isinstance(item, float) and not math.isfinite(item):
            raise InputError(f"{name}: {path} is {item}; values must be finite numbers.")
        if isinstance(item, dict):
            for key, sub in item.items():
                check(sub, f"{path}.{key}")
        elif isinstance(item, list | tuple):
            for index, sub in enumerate(item):
                check(sub, f"{path}[{index}]")

    check(value, name)
    try:
        return json.dumps(value, sort_keys=True, default=_json_default)
    except TypeError as error:
        raise InputError(f"{name} must be JSON-serialisable: {error}") from None


def _json_default(item):
    if isinstance(item, np.generic):
        return item.item()
    if isinstance(item, np.ndarray):
        return item.tolist()
    raise TypeError(f"{type(item).__name__} is not JSON-serialisable")


def _pack_arrays(arrays: dict) -> bytes:
    clean = {}
    for name, value in arrays.items():
        array = np.asarray(value)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", str(name)):
            raise InputError(f"array name {name!r} must be a Python-style identifier of ≤ 64 characters.")
        if array.dtype.kind not in "biufcSU":
            raise InputError(f"array {name!r} has dtype {array.dtype}; only numeric and string arrays are stored.")
        clean[name] = array
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **clean)
    return buffer.getvalue()


def _unpack_arrays(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def software_versions() -> dict:
    """Versions recorded with every run."""
    return {"twinlab": engine_pkg.__version__, "python": platform.python_version(), "numpy": np.__version__}


class RunStore:
    """Runs in a SQL database (``url`` default: :func:`engine.settings.database_url`)."""

    def __init__(self, url: str | None = None):
        self.url = url or database_url()
        sqlite = self.url.startswith("sqlite")
        self.engine = create_engine(self.url, connect_args={"timeout": 30} if sqlite else {},
                                    pool_pre_ping=not sqlite)
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        with self.engine.begin() as conn:
            upgrade(conn)

    def save(self, kind: str, title: str, params: dict, *, metrics: dict | None = None,
             arrays: dict | None = None, figures: list | None = None, command: str = "", note: str = "",
             versions: dict | None = None) -> str:
        """Store a run with everything it needs in one transaction; returns its id."""
        if not isinstance(kind, str) or not KIND_PATTERN.match(kind):
            raise InputError(f"kind {kind!r} must be 1-64 lowercase letters, digits, '_', '.', '-'.")
        title, note = str(title).strip(), str(note)
        if not 1 <= len(title) <= MAX_TITLE:
            raise InputError(f"title must have 1 to {MAX_TITLE} characters (got {len(title)}).")
        if len(note) > MAX_NOTE:
            raise InputError(f"note must have at most {MAX_NOTE} characters (got {len(note)}).")
        row = {
            "id": uuid.uuid4().hex, "kind": kind, "title": title, "note": note, "command": str(command),
            "params": _finite_json(params, "params"), "metrics": _finite_json(metrics or {}, "metrics"),
            "versions": _finite_json({**software_versions(), **(versions or {})}, "versions"),
            "created_at": datetime.now(UTC),
        }
        blob = _pack_arrays(arrays or {})
        figures_json = json.dumps([_figure_dict(fig) for fig in figures or []], default=_json_default)
        with self.engine.begin() as conn:
            conn.execute(runs.insert().values(**row))
            conn.execute(artifacts.insert().values(run_id=row["id"], arrays_npz=blob, figures_json=figures_json))
        return row["id"]

    def list(self, text: str = "", kind: str | None = None, limit: int = 500) -> list[Run]:
        """Runs newest first, optionally filtered by kind and a case-insensitive search text."""
        query = select(runs).order_by(runs.c.created_at.desc()).limit(limit)
        if kind:
            query = query.where(runs.c.kind == kind)
        if text.strip():
            literal = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{literal}%"  # the user's text is matched literally (no LIKE wildcards)
            query = query.where(or_(*(column.ilike(pattern, escape="\\") for column in
                                      (runs.c.title, runs.c.note, runs.c.kind, runs.c.params, runs.c.id))))
        with self.engine.connect() as conn:
            return [_to_run(row) for row in conn.execute(query).mappings()]

    def get(self, run_id: str) -> Run:
        """One run with its arrays and figures; unknown ids are an :class:`InputError`."""
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == str(run_id))).mappings().first()
            art = conn.execute(select(artifacts).where(artifacts.c.run_id == str(run_id))).mappings().first()
        if row is None or art is None:
            raise InputError(f"run {run_id!r} does not exist (it may have been deleted).")
        run = _to_run(row)
        run.arrays = _unpack_arrays(art["arrays_npz"])
        run.figures = json.loads(art["figures_json"])
        return run

    def delete(self, run_id: str, *, confirm: str) -> None:
        """Delete a run; ``confirm`` must repeat its id (deleting is explicit)."""
        if confirm != run_id:
            raise InputError("confirm must repeat the run id to delete it.")
        with self.engine.begin() as conn:
            gone = conn.execute(runs.delete().where(runs.c.id == run_id)).rowcount
            conn.execute(artifacts.delete().where(artifacts.c.run_id == run_id))
        if not gone:
            raise InputError(f"run {run_id!r} does not exist.")


def _figure_dict(figure) -> dict:
    """A Plotly figure (object or dict) as a plain dict."""
    return json.loads(figure.to_json()) if hasattr(figure, "to_json") else dict(figure)


def _to_run(row) -> Run:
    created = row["created_at"]
    if created.tzinfo is None:  # SQLite drops the zone; everything is stored in UTC
        created = created.replace(tzinfo=UTC)
    return Run(id=row["id"], kind=row["kind"], title=row["title"], params=json.loads(row["params"]),
               metrics=json.loads(row["metrics"]), versions=json.loads(row["versions"]),
               command=row["command"], note=row["note"], created_at=created)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
