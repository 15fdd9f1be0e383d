"""Large sampling jobs on the execution layer (:mod:`engine.execution`): chunked by seeds.

A job of ``n`` graphs is split into chunks of ``chunk`` graphs; chunk k ≥ 1 draws its graphs with the k-th
child seed of :func:`engine.execution.seeds_for_chunks` (master seed → order-free child seeds) and chunk 0
with the job seed itself, so a one-chunk job is exactly ``generate_samples(..., seed)`` (the page's draw).
The numbers are the same whichever path runs the chunks (this process, joblib workers or a Dask cluster)
and whichever chunks were resumed from an earlier, interrupted run. Each chunk holds ``samples`` [m, nodes, dim] and
``energy`` [m] (physical units; spins projected to unit norm). Torch-using modules are imported inside the functions
so that the CLI can read :data:`DEFAULT_CHUNK` cheaply.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.execution import ExecutionSpec, JobResult, run_chunked, seeds_for_chunks, stream

DEFAULT_CHUNK = 2048
MAX_GRAPHS_IN_MEMORY = 200_000  # a single .npz output; a folder output streams chunk files instead
MAX_GRAPHS = 100_000_000


def plan(dataset: str, n: int, steps: int, sampler: str, seed: int, chunk: int = DEFAULT_CHUNK,
         limit: int = MAX_GRAPHS) -> tuple[dict, list[dict]]:
    """Validate a job and return (its config, one parameter dict per chunk)."""
    from engine.diffusion.inference import checkpoint_path
    from engine.diffusion.sampling import MAX_BATCH, check_sampler_args

    checkpoint_path(dataset)  # validates the dataset name
    check_sampler_args(sampler, 1, steps)
    if isinstance(chunk, bool) or not 1 <= int(chunk) <= MAX_BATCH:
        raise InputError(f"chunk must be an integer in [1, {MAX_BATCH}], got {chunk!r}.")
    if isinstance(n, bool) or not float(n).is_integer() or not 1 <= int(n) <= limit:
        raise InputError(f"n must be an integer in [1, {limit:,}], got {n!r}.")
    n, chunk = int(n), int(chunk)
    sizes = [min(chunk, n - start) for start in range(0, n, chunk)]
    config = {"job": "diffusion.sample", "dataset": dataset, "n": n, "steps": int(steps), "sampler": sampler,
              "seed": int(seed), "chunk": chunk}
    seeds = [int(seed)] + seeds_for_chunks(int(seed), len(sizes))[1:]
    chunks = [{"dataset": dataset, "n": size, "steps": int(steps), "sampler": sampler, "seed": child}
              for size, child in zip(sizes, seeds, strict=True)]
    return config, chunks


def sample_chunk(params: dict) -> dict[str, np.ndarray]:
    """One chunk (picklable task): ``params`` from :func:`plan`, optional ``record_every`` / ``n_shown``."""
    from engine.diffusion.inference import generate_samples, pretrained

    twin = pretrained(params["dataset"])
    result = generate_samples(twin, params["n"], params["steps"], params["sampler"], params["seed"],
                              params.get("record_every"), n_shown=params.get("n_shown", 4))
    out = {"samples": result.samples, "energy": twin.spec.energy(result.samples)}
    if result.trajectory is not None:
        out |= {"trajectory": result.trajectory, "trajectory_t": result.times}
    return out


def sample_to_folder(out_dir: str | Path, dataset: str, n: int, steps: int = 500, sampler: str = "ancestral",
                     seed: int = 0, chunk: int = DEFAULT_CHUNK, spec: ExecutionSpec | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     on_client: Callable[[str | None], None] | None = None) -> JobResult:
    """Stream ``n`` samples to NPZ chunk files + manifest in ``out_dir``; rerunning the same job resumes it."""
    config, chunks = plan(dataset, n, steps, sampler, seed, chunk)
    return run_chunked(sample_chunk, chunks, out_dir, config=config, spec=spec, progress=progress,
                       on_client=on_client)


def sample_in_memory(dataset: str, n: int, steps: int = 500, sampler: str = "ancestral", seed: int = 0,
                     chunk: int = DEFAULT_CHUNK, record_every: int | None = None, n_shown: int = 4,
                     spec: ExecutionSpec | None = None, progress: Callable[[int, int], None] | None = None,
                     on_client: Callable[[str | None], None] | None = None) -> dict[str, np.ndarray]:
    """The same chunks as :func:`sample_to_folder`, gathered in memory (n ≤ :data:`MAX_GRAPHS_IN_MEMORY`).

    With ``record_every`` the trajectory of the first ``n_shown`` graphs of chunk 0 is kept as well.
    """
    _, chunks = plan(dataset, n, steps, sampler, seed, chunk, limit=MAX_GRAPHS_IN_MEMORY)
    if record_every is not None:
        if isinstance(record_every, bool) or not 1 <= int(record_every) <= int(steps):
            raise InputError(f"record_every must be an integer in [1, {steps}], got {record_every!r}.")
        chunks[0] = chunks[0] | {"record_every": int(record_every), "n_shown": min(int(n_shown), chunks[0]["n"])}
    parts: dict[int, dict] = {}
    for index, arrays, error in stream(sample_chunk, list(enumerate(chunks)), spec, on_client=on_client):
        if error is not None:
            raise InputError(f"sampling chunk {index} {chunks[index]} failed: {error}")
        parts[index] = arrays
        if progress is not None:
            progress(len(parts), len(chunks))
    ordered = [parts[index] for index in range(len(chunks))]
    out = {key: np.concatenate([part[key] for part in ordered]) for key in ("samples", "energy")}
    if record_every is not None:
        out |= {key: ordered[0][key] for key in ("trajectory", "trajectory_t")}
    return out
