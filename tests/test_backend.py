"""engine.backend: defaults, environment overrides, GPU fallbacks and bad values."""

import numpy as np
import pytest

from engine import backend
from engine.errors import BackendError


def test_default_is_numpy_on_cpu_without_gpu(monkeypatch):
    monkeypatch.setattr(backend, "cupy_usable", lambda: False)
    monkeypatch.setattr(backend, "torch_cuda_usable", lambda: False)
    chosen = backend.resolve({})
    assert (chosen.name, chosen.device) == ("numpy", "cpu")
    assert chosen.xp is np


def test_auto_prefers_gpu_when_present(monkeypatch):
    monkeypatch.setattr(backend, "cupy_usable", lambda: True)
    monkeypatch.setattr(backend, "torch_cuda_usable", lambda: True)
    chosen = backend.resolve({})
    assert (chosen.name, chosen.device) == ("cupy", "cuda")


def test_env_forces_numpy_and_cpu_even_with_gpu(monkeypatch):
    monkeypatch.setattr(backend, "cupy_usable", lambda: True)
    monkeypatch.setattr(backend, "torch_cuda_usable", lambda: True)
    chosen = backend.resolve({"TWINLAB_BACKEND": "NumPy", "TWINLAB_DEVICE": "cpu"})
    assert (chosen.name, chosen.device) == ("numpy", "cpu")


def test_cupy_absent_falls_back_to_numpy():
    # On this CPU-only test machine cupy is not installed: auto must pick numpy without error.
    if backend.cupy_usable():
        pytest.skip("a CUDA device is present")
    assert backend.resolve({}).name == "numpy"


def test_requesting_missing_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(backend, "cupy_usable", lambda: False)
    monkeypatch.setattr(backend, "torch_cuda_usable", lambda: False)
    with pytest.raises(BackendError, match="TWINLAB_BACKEND=cupy"):
        backend.resolve({"TWINLAB_BACKEND": "cupy"})
    with pytest.raises(BackendError, match="TWINLAB_DEVICE=cuda"):
        backend.resolve({"TWINLAB_DEVICE": "cuda"})


@pytest.mark.parametrize("var,value", [("TWINLAB_BACKEND", "jax"), ("TWINLAB_DEVICE", "tpu")])
def test_bad_value_names_variable_and_allowed(var, value):
    with pytest.raises(BackendError) as info:
        backend.resolve({var: value})
    message = str(info.value)
    assert var in message and value in message and "allowed values" in message


def test_jit_compiles_or_passes_through():
    @backend.jit(cache=False)
    def add(a, b):
        return a + b

    def double(x):
        return 2 * x

    assert add(2, 3) == 5
    assert backend.jit(double)(4) == 8


def test_to_numpy_and_describe():
    assert backend.to_numpy(np.arange(3)).tolist() == [0, 1, 2]
    info = backend.describe()
    assert info["backend"] in backend.BACKENDS and info["device"] in backend.DEVICES
    assert info["versions"]["numpy"] == np.__version__
