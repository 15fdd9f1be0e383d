"""Execution layer: same numbers on every path, resume, retries, failures reported, scheduler errors."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from engine.errors import InputError
from engine.execution import (
    WORKER_THREAD_ENV,
    ExecutionSpec,
    JobFailed,
    dask_client,
    load_chunks,
    run_chunked,
    seeds_for_chunks,
)


def noisy_squares(params: dict) -> dict:
    """A deterministic chunk task: squares plus seeded noise."""
    rng = np.random.default_rng(params["seed"])
    x = np.arange(params["start"], params["stop"], dtype=float)
    return {"x": x, "y": x**2 + rng.normal(size=x.size)}


def failing_on_chunk_two(params: dict) -> dict:
    if params["start"] == 20:
        raise ValueError("solver diverged")
    return noisy_squares(params)


def _chunks(n=5, size=10, seed=7):
    return [{"start": i * size, "stop": (i + 1) * size, "seed": s}
            for i, s in enumerate(seeds_for_chunks(seed, n))]


@pytest.mark.parametrize("spec", [ExecutionSpec(), ExecutionSpec("joblib", 2),
                                  ExecutionSpec("dask", 2)], ids=["inprocess", "joblib", "dask-local"])
def test_every_path_gives_identical_results(tmp_path, spec):
    reference = run_chunked(noisy_squares, _chunks(), tmp_path / "ref", config={"job": "squares"})
    result = run_chunked(noisy_squares, _chunks(), tmp_path / spec.mode, config={"job": "squares"}, spec=spec)
    assert result.computed == 5 and reference.computed == 5
    expected, got = load_chunks(tmp_path / "ref"), load_chunks(tmp_path / spec.mode)
    np.testing.assert_array_equal(expected["x"], np.arange(50.0))
    np.testing.assert_array_equal(got["y"], expected["y"])


def test_resume_keeps_finished_chunks(tmp_path):
    out = tmp_path / "job"
    run_chunked(noisy_squares, _chunks(), out, config={"job": "squares"})
    (out / "part-00003.npz").unlink()  # as if the job died before chunk 3 was written
    stamp = (out / "part-00001.npz").stat().st_mtime_ns
    seen = []
    result = run_chunked(noisy_squares, _chunks(), out, config={"job": "squares"},
                         progress=lambda done, total: seen.append((done, total)))
    assert (result.resumed, result.computed) == (4, 1)
    assert (out / "part-00001.npz").stat().st_mtime_ns == stamp
    assert seen[0] == (4, 5) and seen[-1] == (5, 5)
    fresh = run_chunked(noisy_squares, _chunks(), tmp_path / "fresh", config={"job": "squares"})
    np.testing.assert_array_equal(load_chunks(out)["y"], load_chunks(fresh.out_dir)["y"])


def test_a_different_job_in_the_same_folder_is_refused(tmp_path):
    run_chunked(noisy_squares, _chunks(), tmp_path, config={"job": "squares"})
    with pytest.raises(InputError, match="different job"):
        run_chunked(noisy_squares, _chunks(), tmp_path, config={"job": "cubes"})


def test_failing_chunk_is_retried_then_reported(tmp_path):
    calls = {"n": 0}

    def flaky(params):
        calls["n"] += 1
        return failing_on_chunk_two(params)

    with pytest.raises(JobFailed) as info:
        run_chunked(flaky, _chunks(), tmp_path, config={"job": "flaky"}, retries=2)
    failure = info.value.failures[0]
    assert failure["chunk"] == 2 and failure["params"]["start"] == 20 and "diverged" in failure["error"]
    assert calls["n"] == 4 + 3  # four good chunks once, the bad one 1 + 2 retries
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["complete"] is False and manifest["failures"][0]["chunk"] == 2
    assert sorted(p.name for p in tmp_path.glob("part-*.npz")) == [f"part-0000{i}.npz" for i in (0, 1, 3, 4)]


def worker_settings(dask_worker) -> dict:
    """What a Dask worker process runs with: thread-count variables, malloc trimming, its periodic jobs."""
    names = (*WORKER_THREAD_ENV, "MALLOC_TRIM_THRESHOLD_")
    return {"environ": {name: os.environ.get(name) for name in names}, "jobs": set(dask_worker.periodic_callbacks),
            "memory_poll_ms": dask_worker.periodic_callbacks["memory_monitor"].callback_time}


def test_local_cluster_workers_run_one_thread_and_no_profiler():
    before = dict(os.environ)
    with dask_client(ExecutionSpec("dask", 1)) as client:
        (settings,) = client.run(worker_settings).values()
        assert dict(os.environ) == before  # the nanny's variables do not leak into this process
    assert {settings["environ"][name] for name in WORKER_THREAD_ENV} == {"1"}
    assert settings["environ"]["MALLOC_TRIM_THRESHOLD_"] == before.get("MALLOC_TRIM_THRESHOLD_")
    assert "profile" not in settings["jobs"] and "heartbeat" in settings["jobs"]
    assert settings["memory_poll_ms"] == 1000


@pytest.mark.parametrize("options,expected", [
    ({}, ExecutionSpec()),
    ({"workers": 2}, ExecutionSpec("joblib", 2)),
    ({"dask": "local"}, ExecutionSpec("dask", None)),
    ({"dask": "local:3"}, ExecutionSpec("dask", 3)),
    ({"scheduler": "tcp://10.0.0.5:8786"}, ExecutionSpec("dask", None, "tcp://10.0.0.5:8786")),
    ({"env": {"TWINLAB_DASK_SCHEDULER": "tcp://sched:8786"}}, ExecutionSpec("dask", None, "tcp://sched:8786")),
])
def test_options_parse(options, expected):
    options.setdefault("env", {})
    assert ExecutionSpec.from_options(**options) == expected


@pytest.mark.parametrize("options,field", [
    ({"dask": "cluster"}, "--dask"), ({"dask": "local:0"}, "--dask"), ({"scheduler": "8786"}, "--scheduler"),
    ({"workers": 0}, "--workers"), ({"dask": "local", "scheduler": "tcp://a:1"}, "not both"),
])
def test_bad_options_name_the_flag(options, field):
    with pytest.raises(InputError, match=field):
        ExecutionSpec.from_options(env={}, **options)


def test_unreachable_scheduler_fails_fast_with_a_clear_message(tmp_path):
    from tests.conftest import free_port

    spec = ExecutionSpec("dask", None, f"tcp://127.0.0.1:{free_port()}")
    start = time.monotonic()
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        run_chunked(noisy_squares, _chunks(), tmp_path, config={"job": "squares"}, spec=spec)
    assert time.monotonic() - start < 30
