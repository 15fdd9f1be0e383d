"""`python -m engine diffusion data|sample` and the `diffusion` train/bench jobs.

Torch-using modules are imported inside the handlers so that building the CLI parser stays fast;
dataset and sampler names are validated by the engine functions (clear InputError messages).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from engine.diffusion.jobs import DEFAULT_CHUNK
from engine.errors import InputError
from engine.execution import add_execution_arguments
from engine.registry import benchmark, trainer


def _out_path(raw: str) -> Path:
    path = Path(raw)
    if path.suffix != ".npz":
        raise InputError(f"--out must name a .npz file, got {raw!r}.")
    if not path.parent.exists():
        raise InputError(f"--out directory {str(path.parent)!r} does not exist.")
    return path


def _data(args: argparse.Namespace) -> dict:
    from engine.diffusion.datasets import generate, make_spec

    out = _out_path(args.out)
    spec = make_spec(args.dataset, T=args.temperature, kappa=args.kappa)
    samples, info = generate(spec, args.n, args.seed)
    np.savez(out, samples=samples, adjacency=spec.graph.adjacency.toarray(), energy=spec.energy(samples))
    return {"out": str(out), "dataset": spec.name, "graph": spec.graph.name, "params": spec.params,
            "shape": list(samples.shape), "diagnostics": info}


def _sample(args: argparse.Namespace) -> dict:
    """Chunked by seeds on the execution layer: a .npz file (n ≤ 200,000, optional trajectory) or a folder of
    chunk files + manifest (any n, resumable); the same arguments give the same samples on every path."""
    from engine.diffusion.inference import pretrained
    from engine.diffusion.jobs import sample_in_memory, sample_to_folder
    from engine.execution import spec_from_args, text_progress

    spec = spec_from_args(args)
    progress = None if args.no_progress else text_progress("chunks")
    on_client = lambda link: link and print(f"Dask dashboard: {link}", file=sys.stderr)  # noqa: E731
    job = {"dataset": args.dataset, "n": args.n, "steps": args.steps, "sampler": args.sampler, "seed": args.seed,
           "chunk": args.chunk, "spec": spec, "progress": progress, "on_client": on_client}
    if not Path(args.out).suffix:
        if args.record_every is not None:
            raise InputError("--record-every needs --out to be a .npz file, not a folder.")
        if not Path(args.out).parent.exists():
            raise InputError(f"--out parent directory {str(Path(args.out).parent)!r} does not exist.")
        result = sample_to_folder(args.out, **job)
        return {"out": args.out, "dataset": args.dataset, "sampler": args.sampler, "steps": args.steps, "n": args.n,
                "chunks": result.n_chunks, "computed_chunks": result.computed, "resumed_chunks": result.resumed,
                "seconds": round(result.seconds, 3)}
    out = _out_path(args.out)
    arrays = sample_in_memory(**job, record_every=args.record_every, n_shown=16)
    arrays["adjacency"] = pretrained(args.dataset).spec.graph.adjacency.toarray()
    np.savez(out, **arrays)
    return {"out": str(out), "dataset": args.dataset, "sampler": args.sampler, "steps": args.steps,
            "shape": list(arrays["samples"].shape),
            "trajectory_shape": list(arrays["trajectory"].shape) if "trajectory" in arrays else None,
            "energy_mean": float(arrays["energy"].mean())}


@trainer("diffusion")
def train_diffusion(args) -> dict:
    """Retrain both shipped checkpoints (models/diffusion/*.pt) and their model cards."""
    from engine.diffusion.train import train_pretrained

    return train_pretrained(seed=getattr(args, "seed", 0))


@benchmark("diffusion")
def bench_diffusion(args) -> dict:
    """All issue-7 targets (see engine.diffusion.bench)."""
    from engine.diffusion.bench import run_all

    return run_all(getattr(args, "seed", 0))


def register(subparsers) -> None:
    group = subparsers.add_parser("diffusion", help="graph diffusion twin: reference data and sampling")
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    data = sub.add_parser("data", help="reference samples (exact GMRF or Heisenberg MCMC) to .npz")
    data.add_argument("--dataset", required=True, help="heisenberg or gmrf")
    data.add_argument("--n", type=int, default=1000, help="number of configurations")
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--temperature", type=float, default=None, help="heisenberg T in units of J")
    data.add_argument("--kappa", type=float, default=None, help="gmrf mass κ")
    data.add_argument("--out", required=True, help="output .npz (samples, adjacency, energy)")
    data.set_defaults(func=_data, as_json=True)
    samp = sub.add_parser("sample", help="sample the pretrained diffusion model to .npz or a chunk folder")
    samp.add_argument("--dataset", required=True, help="heisenberg or gmrf")
    samp.add_argument("--n", type=int, default=256)
    samp.add_argument("--steps", type=int, default=500)
    samp.add_argument("--sampler", default="ancestral",
                      help="ancestral, euler_maruyama, predictor_corrector or probability_flow")
    samp.add_argument("--seed", type=int, default=0)
    samp.add_argument("--record-every", type=int, default=None, help="store the trajectory every k steps")
    samp.add_argument("--chunk", type=int, default=DEFAULT_CHUNK,
                      help=f"graphs per chunk (each chunk has its own seed; default {DEFAULT_CHUNK})")
    samp.add_argument("--out", required=True,
                      help="output .npz (samples, adjacency, energy[, trajectory]) or a folder (chunk files + "
                           "manifest; resumable)")
    samp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_execution_arguments(samp)
    samp.set_defaults(func=_sample, as_json=True)
