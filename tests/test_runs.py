"""Run store: round trip, validation, crash safety, concurrent writers, deletion, PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.exc import OperationalError

from engine.errors import InputError
from engine.runs import RunStore
from engine.runs import store as store_module
from tests.conftest import free_port


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("TWINLAB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TWINLAB_DATABASE_URL", raising=False)
    return RunStore()


def _save(store, title="sweep", **extra):
    arrays = {"temperature_c": np.linspace(140, 200, 7), "phase": np.array(["cube"] * 7),
              "grid": np.arange(12, dtype=np.float32).reshape(3, 4)}
    return store.save("synth.sweep", title, {"cs_pb_ratio": 0.5, "solvent": "octadecene"},
                      metrics={"max_pl_nm": 512.3}, arrays=arrays, command="python -m engine synth sweep",
                      note="first try", **extra), arrays


def round_trip(store):
    run_id, arrays = _save(store)
    listed = store.list()
    assert [run.id for run in listed] == [run_id]
    run = store.get(run_id)
    assert run.params == {"cs_pb_ratio": 0.5, "solvent": "octadecene"}
    assert run.metrics == {"max_pl_nm": 512.3}
    assert set(run.arrays) == set(arrays)
    for name, array in arrays.items():
        np.testing.assert_array_equal(run.arrays[name], array)
        assert run.arrays[name].dtype == array.dtype
    assert run.versions["twinlab"] and run.command.startswith("python -m engine")
    assert run.created_at.tzinfo is not None


def test_round_trip_sqlite(store):
    round_trip(store)


def test_search_and_kind_filter(store):
    first, _ = _save(store, title="hot injection at 180 C")
    store.save("astro.solve", "dark cloud", {"density": 1e4})
    assert [run.id for run in store.list("injection")] == [first]
    assert [run.kind for run in store.list(kind="astro.solve")] == ["astro.solve"]
    assert [run.kind for run in store.list("10000")] == ["astro.solve"]  # parameters are searchable


@pytest.mark.parametrize("kwargs,field", [
    ({"kind": "Bad Kind"}, "kind"),
    ({"title": ""}, "title"),
    ({"params": {"t": float("nan")}}, "params"),
    ({"params": {"nested": [1.0, float("inf")]}}, "params"),
    ({"arrays": {"x": np.array([object()], dtype=object)}}, "array"),
    ({"arrays": {"bad name": np.zeros(2)}}, "array name"),
    ({"note": "x" * 10_001}, "note"),
])
def test_invalid_runs_are_rejected_with_the_field_named(store, kwargs, field):
    args = {"kind": "synth.simulate", "title": "ok", "params": {"a": 1}, **kwargs}
    kind, title, params = args.pop("kind"), args.pop("title"), args.pop("params")
    with pytest.raises(InputError, match=field):
        store.save(kind, title, params, **args)
    assert store.list() == []


def test_crash_mid_save_leaves_nothing(store, monkeypatch):
    real_insert = store_module.artifacts.insert

    class Boom(RuntimeError):
        pass

    def failing_insert():
        raise Boom("disk full")

    monkeypatch.setattr(store_module.artifacts, "insert", failing_insert)
    with pytest.raises(Boom):
        _save(store)
    monkeypatch.setattr(store_module.artifacts, "insert", real_insert)
    assert store.list() == []
    run_id, _ = _save(store)
    assert [run.id for run in store.list()] == [run_id]


def test_two_concurrent_writers_both_land(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = RunStore(url), RunStore(url)
    errors = []

    def writer(target, tag):
        try:
            for index in range(15):
                target.save("synth.simulate", f"{tag}-{index}", {"i": index}, arrays={"x": np.arange(1000)})
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(s, tag)) for s, tag in ((first, "a"), (second, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    titles = {run.title for run in RunStore(url).list()}
    assert titles == {f"{tag}-{i}" for tag in "ab" for i in range(15)}


def test_delete_is_explicit(store):
    run_id, _ = _save(store)
    with pytest.raises(InputError, match="confirm"):
        store.delete(run_id, confirm="yes")
    store.delete(run_id, confirm=run_id)
    assert store.list() == []
    with pytest.raises(InputError, match="does not exist"):
        store.get(run_id)


def test_reopening_keeps_data_and_schema_version(store):
    run_id, _ = _save(store)
    again = RunStore(store.url)
    assert again.get(run_id).title == "sweep"


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server on loopback (Debian's postgresql package), run as user postgres."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries are not installed (Debian package postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="twinlab-pg-"))  # outside pytest's root-only tmp tree
    data = folder / "data"
    os.chmod(folder, 0o777)
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*as_pg, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True)
    port = free_port()
    subprocess.run([*as_pg, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                    f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"], check=True,
                   capture_output=True, timeout=60)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                RunStore(url)
                break
            except OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield url
    finally:
        subprocess.run([*as_pg, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def test_round_trip_postgresql(postgres_url, monkeypatch):
    store = RunStore(postgres_url)
    for run in store.list():
        store.delete(run.id, confirm=run.id)
    round_trip(store)
    assert store.engine.dialect.name == "postgresql"
