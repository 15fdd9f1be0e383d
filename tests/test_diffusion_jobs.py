"""`diffusion sample` on the execution layer: same numbers in-process and on joblib workers, resume."""

import numpy as np
import pytest

from engine.diffusion.inference import generate_samples, pretrained
from engine.diffusion.jobs import plan, sample_in_memory, sample_to_folder
from engine.errors import InputError
from engine.execution import ExecutionSpec, chunk_path, load_chunks

JOB = {"dataset": "heisenberg", "n": 5, "steps": 4, "sampler": "ancestral", "seed": 3, "chunk": 2}


def test_inprocess_and_joblib_give_the_same_samples_and_resume(tmp_path):
    first = sample_to_folder(tmp_path / "a", **JOB)
    assert (first.n_chunks, first.computed) == (3, 3)
    local = load_chunks(tmp_path / "a")
    assert local["samples"].shape == (5, 25, 3) and local["energy"].shape == (5,)
    parallel = sample_to_folder(tmp_path / "b", **JOB, spec=ExecutionSpec("joblib", 2))
    assert parallel.computed == 3
    for name, values in load_chunks(tmp_path / "b").items():
        np.testing.assert_array_equal(values, local[name])
    chunk_path(tmp_path / "a", 1).unlink()  # an interrupted job: one chunk missing
    resumed = sample_to_folder(tmp_path / "a", **JOB)
    assert (resumed.resumed, resumed.computed) == (2, 1)
    np.testing.assert_array_equal(load_chunks(tmp_path / "a")["samples"], local["samples"])
    np.testing.assert_array_equal(sample_in_memory(**JOB)["samples"], local["samples"])
    # chunk 0 is the plain draw with the job seed (what the page shows for the same arguments)
    direct = generate_samples(pretrained("heisenberg"), 2, JOB["steps"], JOB["sampler"], JOB["seed"]).samples
    np.testing.assert_array_equal(direct, local["samples"][:2])


def test_job_arguments_are_validated():
    with pytest.raises(InputError, match="chunk"):
        plan("heisenberg", 10, 4, "ancestral", 0, chunk=0)
    with pytest.raises(InputError, match="n must"):
        plan("heisenberg", 0, 4, "ancestral", 0)
    with pytest.raises(InputError, match="dataset"):
        plan("ising", 10, 4, "ancestral", 0)
    with pytest.raises(InputError, match="record_every"):
        sample_in_memory(**JOB, record_every=9)
