"""Tables of the run store and their versioned upgrade path.

Schema version 1: ``runs`` (one row per saved job: kind, title, JSON parameters/metrics/versions,
the reproducing CLI command, a note, timestamps) and ``artifacts`` (per run: NPZ bytes of its arrays and
the Plotly JSON of its figures). Arrays live in the database so that a run and its data are written
in one transaction and survive hosts whose disks are wiped. ``schema_info`` records the version;
:func:`upgrade` applies each step from the stored version to :data:`SCHEMA_VERSION` in order.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, LargeBinary, MetaData, String, Table, Text, inspect, select
from sqlalchemy.engine import Connection

SCHEMA_VERSION = 1
metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(64), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("params", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("versions", Text, nullable=False),
    Column("command", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)

artifacts = Table(
    "artifacts", metadata,
    Column("run_id", String(32), primary_key=True),
    Column("arrays_npz", LargeBinary, nullable=False),
    Column("figures_json", Text, nullable=False),
)

schema_info = Table("schema_info", metadata, Column("version", Integer, nullable=False))


def _create_v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[runs, artifacts])


# step k upgrades a database at version k-1 to version k
UPGRADES = {1: _create_v1}


def upgrade(conn: Connection) -> int:
    """Bring the database to :data:`SCHEMA_VERSION`; returns the version it was at (0 when new)."""
    if not inspect(conn).has_table("schema_info"):
        schema_info.create(conn)
        conn.execute(schema_info.insert().values(version=0))
    current = conn.execute(select(schema_info.c.version)).scalar_one()
    for step in range(current + 1, SCHEMA_VERSION + 1):
        UPGRADES[step](conn)
        conn.execute(schema_info.update().values(version=step))
    return current
