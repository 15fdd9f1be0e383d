"""The one place that decides the array backend and compute device.

Everything else asks this module; nothing else probes hardware.

* Array backend: NumPy on the CPU by default; CuPy when it is installed and a CUDA device is present.
* Torch device: ``cuda`` when torch sees a CUDA device, else ``cpu``.
* Numba: ``jit`` compiles with ``numba.njit`` when numba imports, else returns the function unchanged.

Overrides (environment): ``TWINLAB_BACKEND=numpy|cupy`` and ``TWINLAB_DEVICE=cpu|cuda``. Asking for a
GPU path that is not there raises :class:`BackendError` rather than silently falling back.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType

from engine.errors import BackendError

BACKENDS = ("numpy", "cupy")
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Backend:
    """The resolved choice: array module name, torch device name, and whether numba JIT is active."""

    name: str
    device: str
    numba: bool

    @property
    def xp(self) -> ModuleType:
        """The array module (``numpy`` or ``cupy``)."""
        return importlib.import_module(self.name)


def _import_optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except Exception:  # an optional package may be absent or broken (e.g. no CUDA driver)
        return None


def cupy_usable() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    cupy = _import_optional("cupy")
    if cupy is None:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def torch_cuda_usable() -> bool:
    """True when torch imports and reports an available CUDA device."""
    torch = _import_optional("torch")
    return bool(torch is not None and torch.cuda.is_available())


def numba_usable() -> bool:
    """True when numba imports."""
    return _import_optional("numba") is not None


def _dist_version(dist: str | None) -> str | None:
    """Installed version of a distribution without importing it (None when absent)."""
    from importlib import metadata

    try:
        return metadata.version(dist) if dist else None
    except metadata.PackageNotFoundError:
        return None


def _cupy_dist() -> str | None:
    """CuPy ships under several wheel names (cupy, cupy-cuda12x, …): the installed one, if any."""
    from importlib import metadata

    return next((d.metadata["Name"] for d in metadata.distributions()
                 if (d.metadata["Name"] or "").lower().startswith("cupy")), None)


def _choice(env: Mapping[str, str], var: str, allowed: tuple[str, ...]) -> str | None:
    raw = env.get(var, "").strip().lower()
    if not raw:
        return None
    if raw not in allowed:
        raise BackendError(f"{var}={env[var]!r} is not valid; allowed values: {', '.join(allowed)}.")
    return raw


def resolve(env: Mapping[str, str] | None = None) -> Backend:
    """Decide the backend from the environment ``env`` (default ``os.environ``) and the hardware."""
    env = os.environ if env is None else env
    name = _choice(env, "TWINLAB_BACKEND", BACKENDS)
    if name == "cupy" and not cupy_usable():
        raise BackendError(
            "TWINLAB_BACKEND=cupy but CuPy is not installed or sees no CUDA device; "
            "install requirements-gpu.txt on a GPU machine or set TWINLAB_BACKEND=numpy."
        )
    if name is None:
        name = "cupy" if cupy_usable() else "numpy"
    device = _choice(env, "TWINLAB_DEVICE", DEVICES)
    if device == "cuda" and not torch_cuda_usable():
        raise BackendError(
            "TWINLAB_DEVICE=cuda but torch sees no CUDA device; set TWINLAB_DEVICE=cpu or unset it."
        )
    if device is None:
        device = "cuda" if torch_cuda_usable() else "cpu"
    return Backend(name=name, device=device, numba=numba_usable())


@lru_cache(maxsize=1)
def get_backend() -> Backend:
    """The process-wide backend (resolved once from ``os.environ``)."""
    return resolve()


def xp() -> ModuleType:
    """The array module every vectorised kernel should use."""
    return get_backend().xp


def to_numpy(array):
    """Bring an array from the active backend to a NumPy array (a no-op on NumPy)."""
    return array.get() if hasattr(array, "get") else array


def torch_device():
    """The ``torch.device`` models and tensors should live on."""
    import torch

    return torch.device(get_backend().device)


def jit(*args, **kwargs):
    """``numba.njit`` when numba is importable, else the identity decorator (same call forms)."""
    if get_backend().numba:
        import numba

        return numba.njit(*args, **kwargs)
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda func: func


def describe() -> dict:
    """Versions, backend and device, for ``python -m engine info`` and the app's system panel."""
    import platform

    import numpy
    import scipy

    import engine

    backend = get_backend()
    versions = {"twinlab": engine.__version__, "python": platform.python_version(),
                "numpy": numpy.__version__, "scipy": scipy.__version__}
    for name, dist in (("torch", "torch"), ("pandas", "pandas"), ("sklearn", "scikit-learn"), ("h5py", "h5py"),
                       ("plotly", "plotly"), ("streamlit", "streamlit"), ("numba", "numba"), ("cupy", None)):
        versions[name] = _dist_version(dist or _cupy_dist())
    return {"backend": backend.name, "device": backend.device, "numba": backend.numba,
            "platform": platform.platform(), "cpu_count": os.cpu_count(), "versions": versions}
