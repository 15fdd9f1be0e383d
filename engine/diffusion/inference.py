"""Public entry points shared by the CLI, the benchmarks and the page: pretrained twins, sampling,
reference data and the method × metric comparison table."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.diffusion.baselines import BASELINES
from engine.diffusion.datasets import DatasetSpec, generate, gmrf_covariance
from engine.diffusion.metrics import evaluate
from engine.diffusion.models import mode_variance
from engine.diffusion.process import LaplacianDiffusion, ProcessConfig
from engine.diffusion.sampling import (
    RESIDUAL_T_MAX,
    ExactGaussianEps,
    NetworkEps,
    SampleResult,
    project_unit,
    sample,
)
from engine.diffusion.train import MODEL_DIR, Twin, load_checkpoint
from engine.errors import InputError

DATASETS = ("heisenberg", "gmrf")


def checkpoint_path(dataset: str) -> Path:
    """models/diffusion/<dataset>.pt."""
    if dataset not in DATASETS:
        raise InputError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}.")
    return MODEL_DIR / f"{dataset}.pt"


@lru_cache(maxsize=4)
def pretrained(dataset: str) -> Twin:
    """The shipped checkpoint for ``dataset`` (loaded once per process)."""
    return load_checkpoint(checkpoint_path(dataset))


def gaussian_twin(spec: DatasetSpec, data: np.ndarray, config: ProcessConfig | None = None) -> Twin:
    """A network-free twin on any graph: the Gaussian-optimal ε̂ with mode variances fitted to ``data``.

    This is the skip path of the trained denoiser alone; for the GMRF it is the exact score.
    """
    process = LaplacianDiffusion(spec.graph.laplacian, config or ProcessConfig())
    return Twin(spec, process, None, 1.0, {"denoiser": "gaussian", "mode_variance": mode_variance(process, data)})


def generate_samples(twin: Twin, n: int, steps: int = 500, sampler: str = "ancestral", seed: int = 0,
                     record_every: int | None = None, n_shown: int = 4, known_mask=None, known_values=None,
                     project: bool = True, progress=None, threads: int = 1,
                     residual_t_max: float = RESIDUAL_T_MAX) -> SampleResult:
    """Samples in physical units [n, nodes, dim]; spins are projected to unit norm when ``project``.

    ``threads``: torch threads for sampling; ``residual_t_max``: the network residual is evaluated only at
    t ≤ this (1 = every step; see :class:`~engine.diffusion.sampling.NetworkEps`)."""
    scale = twin.scale
    values = None if known_values is None else np.asarray(known_values, float) * scale
    if twin.net is not None:
        eps_fn = NetworkEps(twin.net, residual_t_max)
    else:
        eps_fn = ExactGaussianEps(twin.process, twin.card["mode_variance"])
    result = sample(eps_fn, twin.process, n, twin.spec.dim, steps, sampler, seed, record_every,
                    n_shown, known_mask, values, progress, threads)
    samples = result.samples / scale
    trajectory = None if result.trajectory is None else result.trajectory / scale
    if project and twin.spec.unit_norm:
        samples = project_unit(samples)
        if known_mask is not None:
            samples[:, np.asarray(known_mask, bool)] = np.asarray(known_values, float)[np.asarray(known_mask, bool)]
    return SampleResult(samples, trajectory, result.times)


@lru_cache(maxsize=8)
def training_data(dataset: str) -> np.ndarray:
    """The pretrained twin's training samples, regenerated deterministically from its config seed."""
    twin = pretrained(dataset)
    cfg = twin.card["config"]
    data, _ = generate(twin.spec, cfg["n_train"] + cfg["n_val"], seed=cfg["seed"])
    return data[: -cfg["n_val"]]


def reference_data(spec: DatasetSpec, n: int, seed: int) -> tuple[np.ndarray, dict]:
    """Held-out reference samples (seed offset 10 000 keeps them apart from training seeds)."""
    return generate(spec, n, seed=10_000 + seed)


def comparison_table(spec: DatasetSpec, samples: dict[str, np.ndarray], reference: np.ndarray,
                     train: np.ndarray, seed: int = 0) -> dict[str, dict]:
    """Metrics for each given sample set plus every baseline (fitted on ``train``), method → metric → value.

    Spin baselines are projected to unit norm like the diffusion samples, so every method gets the same
    final step.
    """
    rng = np.random.default_rng(seed)
    n = len(reference)
    node_cov = gmrf_covariance(spec) if spec.name == "gmrf" else None
    exact = None if node_cov is None else np.kron(node_cov, np.eye(spec.dim))
    laplacian = spec.graph.laplacian.toarray()
    rows = {}
    candidates = dict(samples)
    for name, fn in BASELINES.items():
        drawn = fn(train, n, rng, spec.unit_norm)
        candidates[name] = project_unit(drawn) if spec.unit_norm else drawn
    for name, x in candidates.items():
        rows[name] = evaluate(x, reference, train, spec.energy, laplacian, exact, spec.unit_norm, node_cov)
    return rows
