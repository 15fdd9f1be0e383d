"""Training of the epsilon network, checkpoints and the pretrained per-dataset twins.

Loss: E_t w(t) ‖ε̂(S_t, t) - ε‖² with S_t drawn exactly from the Laplacian forward process, t ~ U(t_min, 1).
Optional physics regularisers act on the Tweedie estimate x̂₀ for t < ``reg_t_max`` (energy match,
graph smoothness ‖L x̂₀‖² match, unit-norm alignment for spins). Spin data are augmented by random global
rotations (the Heisenberg distribution is O(3)-invariant). Early stopping on a fixed validation set;
the best weights are kept. Checkpoints are plain dicts of tensors and JSON-able values so that
``torch.load(..., weights_only=True)`` reads them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.checkpoints import CheckpointError, sha256_of, verified_torch_load
from engine.diffusion.datasets import DatasetSpec, generate, make_spec
from engine.diffusion.graphs import Graph, from_edges
from engine.diffusion.models import Denoiser, EpsNet, NetConfig, mode_variance, parameter_count, torch_threads
from engine.diffusion.process import LaplacianDiffusion, ProcessConfig
from engine.errors import InputError

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "diffusion"


@dataclass(frozen=True)
class TrainConfig:
    """One training run: data, optimisation, loss weighting and regulariser weights."""

    dataset: str = "heisenberg"
    n_train: int = 6000
    n_val: int = 512
    steps: int = 4000
    batch: int = 128
    lr: float = 2e-3
    weighting: str = "uniform"
    t_min: float = 1e-3
    energy_weight: float = 0.0
    smoothness_weight: float = 0.0
    alignment_weight: float = 0.0
    reg_t_max: float = 0.2
    rotate: bool = True
    scale: float = 1.0
    eval_every: int = 250
    patience: int = 6
    seed: int = 0
    net: NetConfig = field(default_factory=NetConfig)
    process: ProcessConfig = field(default_factory=ProcessConfig)


def _uniform_weight(snr: np.ndarray) -> np.ndarray:
    return np.ones_like(snr)


def _min_snr_weight(snr: np.ndarray, cap: float = 5.0) -> np.ndarray:
    """Min-SNR-5 weighting for the ε-loss, min(SNR, 5) / SNR (Hang et al. 2023), SNR of the zero mode."""
    return np.minimum(snr, cap) / np.maximum(snr, 1e-8)


WEIGHTINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"uniform": _uniform_weight, "min_snr": _min_snr_weight}


def random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    """n uniformly random 3×3 rotation matrices (QR of Gaussian matrices with sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    q[np.linalg.det(q) < 0, :, 0] *= -1
    return q


class Twin:
    """A dataset spec, its forward process and a trained network: everything needed to sample."""

    def __init__(self, spec: DatasetSpec, process: LaplacianDiffusion, net: Denoiser | None, scale: float,
                 card: dict):
        self.spec, self.process, self.net, self.scale, self.card = spec, process, net, scale, card
        if net is not None:
            net.eval()


def _torch_energy(spec: DatasetSpec, x: torch.Tensor, lap: torch.Tensor) -> torch.Tensor:
    if spec.unit_norm:
        e = torch.tensor(spec.graph.edges)
        return -(x[:, e[:, 0]] * x[:, e[:, 1]]).sum(dim=(1, 2))
    lx = torch.einsum("nm,bmd->bnd", lap, x)
    return 0.5 * (spec.params["kappa"] ** 2 * (x * x).sum(dim=(1, 2)) + (x * lx).sum(dim=(1, 2)))


class _Batcher:
    """Draws training batches: random rows, rotations for spins, exact noising at random times."""

    def __init__(self, cfg: TrainConfig, spec: DatasetSpec, process: LaplacianDiffusion, data: np.ndarray):
        self.cfg, self.spec, self.process, self.data = cfg, spec, process, data

    def draw(self, rng: np.random.Generator, size: int, rotate: bool):
        x0 = self.data[rng.integers(0, len(self.data), size)]
        if rotate and self.spec.unit_norm:
            x0 = np.einsum("bij,bnj->bni", random_rotations(size, rng), x0)
        t = self.cfg.t_min + (1 - self.cfg.t_min) * rng.random(size)
        xt, eps = self.process.noise(x0 * self.cfg.scale, t, rng)
        snr = self.process.phi(t)[:, 0] ** 2 / self.process.sigma(t)[:, 0]
        w = WEIGHTINGS[self.cfg.weighting](snr)
        return [torch.tensor(a, dtype=torch.float32) for a in (x0, xt, eps, t, w)]


def _loss(net, batch, cfg: TrainConfig, spec: DatasetSpec, tensors: dict) -> torch.Tensor:
    x0, xt, eps, t, w = batch
    pred = net(xt, t)
    loss = (w * ((pred - eps) ** 2).mean(dim=(1, 2))).mean()
    if not (cfg.energy_weight or cfg.smoothness_weight or cfg.alignment_weight):
        return loss
    low = t < cfg.reg_t_max
    if not bool(low.any()):
        return loss
    u, phi, sig = tensors["u"], tensors["phi_fn"](t[low]), tensors["sigma_fn"](t[low])
    zt = torch.einsum("nk,bnd->bkd", u, xt[low])
    ze = torch.einsum("nk,bnd->bkd", u, pred[low])
    x0_hat = torch.einsum("nk,bkd->bnd", u, (zt - sig.sqrt()[..., None] * ze) / phi[..., None]) / cfg.scale
    target = x0[low]
    if cfg.energy_weight:
        e_hat, e_ref = _torch_energy(spec, x0_hat, tensors["lap"]), _torch_energy(spec, target, tensors["lap"])
        loss = loss + cfg.energy_weight * ((e_hat - e_ref) ** 2).mean() / tensors["energy_var"]
    if cfg.smoothness_weight:
        def smooth(x):
            return (torch.einsum("nm,bmd->bnd", tensors["lap"], x) ** 2).sum(dim=(1, 2))
        loss = loss + cfg.smoothness_weight * ((smooth(x0_hat) - smooth(target)) ** 2).mean() / tensors["smooth_var"]
    if cfg.alignment_weight and spec.unit_norm:
        loss = loss + cfg.alignment_weight * ((x0_hat.norm(dim=-1) - 1) ** 2).mean()
    return loss


def train(cfg: TrainConfig, spec: DatasetSpec | None = None, data: np.ndarray | None = None,
          progress: Callable[[float, float], None] | None = None) -> tuple[Denoiser, dict]:
    """Train a denoiser; returns (the best-validation weights, history dict). Runs on one torch thread."""
    with torch_threads(1):
        return _train(cfg, spec, data, progress)


def _train(cfg, spec, data, progress):
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    spec = spec or make_spec(cfg.dataset)
    if data is None:
        data, _ = generate(spec, cfg.n_train + cfg.n_val, seed=cfg.seed)
    train_x, val_x = data[: -cfg.n_val], data[-cfg.n_val:]
    process = LaplacianDiffusion(spec.graph.laplacian, cfg.process)
    net = Denoiser(EpsNet(cfg.net, spec.graph.adjacency.toarray()), process,
                   mode_variance(process, train_x * cfg.scale))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.05)
    batcher = _Batcher(cfg, spec, process, train_x)
    val_batch = _Batcher(cfg, spec, process, val_x).draw(np.random.default_rng(cfg.seed + 1), 4 * cfg.n_val, True)
    u = torch.tensor(process.eigenvectors, dtype=torch.float32)
    ref_energy = spec.energy(train_x)
    lap = torch.tensor(spec.graph.laplacian.toarray(), dtype=torch.float32)
    smooth_ref = (np.einsum("nm,bmd->bnd", lap.numpy(), train_x) ** 2).sum(axis=(1, 2))
    tensors = {"u": u, "lap": lap, "energy_var": float(ref_energy.var()) + 1e-8,
               "smooth_var": float(smooth_ref.var()) + 1e-8,
               "phi_fn": lambda t: torch.tensor(process.phi(t.numpy()), dtype=torch.float32),
               "sigma_fn": lambda t: torch.tensor(process.sigma(t.numpy()), dtype=torch.float32)}
    best, best_state, bad, history = np.inf, None, 0, {"step": [], "train_loss": [], "val_loss": []}
    running, start = [], time.perf_counter()
    for step in range(1, cfg.steps + 1):
        net.train()
        loss = _loss(net, batcher.draw(rng, cfg.batch, cfg.rotate), cfg, spec, tensors)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        running.append(loss.item())
        if step % cfg.eval_every == 0 or step == cfg.steps:
            net.eval()
            with torch.no_grad():
                x0, xt, eps, t, w = val_batch
                val = float((w * ((net(xt, t) - eps) ** 2).mean(dim=(1, 2))).mean())
            history["step"].append(step)
            history["train_loss"].append(float(np.mean(running)))
            history["val_loss"].append(val)
            running = []
            if progress is not None:
                progress(step / cfg.steps, val)
            if val < best - 1e-5:
                best, bad = val, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
                if bad >= cfg.patience:
                    break
    net.load_state_dict(best_state)
    history.update(best_val_loss=best, seconds=time.perf_counter() - start, steps_run=step,
                   parameters=parameter_count(net))
    return net.eval(), history


def _config_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)


def config_from_dict(raw: dict) -> TrainConfig:
    """Inverse of ``asdict`` for :class:`TrainConfig` (nested net/process configs)."""
    raw = dict(raw)
    return TrainConfig(**{**raw, "net": NetConfig(**raw["net"]), "process": ProcessConfig(**raw["process"])})


def save_checkpoint(path: Path, net: Denoiser, cfg: TrainConfig, spec: DatasetSpec) -> str:
    """Write weights + config + graph as a weights-only-loadable dict and a minimal model card beside it
    (``<name>.json``: file and sha256; :func:`train_pretrained` writes the full card); returns the sha256."""
    payload = {"state_dict": net.state_dict(), "config": json.dumps(_config_dict(cfg)),
               "spec": json.dumps({"name": spec.name, "dim": spec.dim, "params": spec.params,
                                   "n_nodes": spec.graph.n_nodes, "graph_name": spec.graph.name}),
               "edges": torch.tensor(spec.graph.edges), "positions": torch.tensor(spec.graph.positions)}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    sha = sha256_of(path)
    path.with_suffix(".json").write_text(json.dumps({"file": path.name, "sha256": sha}, indent=2) + "\n")
    return sha


def load_checkpoint(path: Path) -> Twin:
    """Load a :class:`Twin` from a checkpoint with ``torch.load(weights_only=True)``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"checkpoint {path} does not exist; run `python -m engine train diffusion`.")
    card_path = path.with_suffix(".json")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, json.JSONDecodeError):
        raise CheckpointError(f"model card {card_path.name} is missing or unreadable beside {path.name}.") from None
    payload = verified_torch_load(path, card)
    cfg = config_from_dict(json.loads(payload["config"]))
    meta = json.loads(payload["spec"])
    graph = from_edges(payload["edges"].numpy(), meta["n_nodes"])
    graph = Graph(meta["graph_name"], graph.n_nodes, graph.edges, payload["positions"].numpy())
    spec = DatasetSpec(meta["name"], graph, meta["dim"], meta["params"])
    process = LaplacianDiffusion(graph.laplacian, cfg.process)
    net = Denoiser(EpsNet(cfg.net, graph.adjacency.toarray()), process, np.ones(graph.n_nodes))
    net.load_state_dict(payload["state_dict"])
    return Twin(spec, process, net, cfg.scale, card | {"config": asdict(cfg)})


PRETRAINED: dict[str, tuple[TrainConfig, dict]] = {
    "heisenberg": (TrainConfig(dataset="heisenberg", steps=4000), {"T": 0.25}),
    "gmrf": (TrainConfig(dataset="gmrf", steps=800, rotate=False), {"kappa": 0.5}),
}


def _quick_metrics(net: Denoiser, cfg: TrainConfig, spec: DatasetSpec, train_x: np.ndarray, seed: int) -> dict:
    from engine.diffusion.metrics import evaluate
    from engine.diffusion.sampling import NetworkEps, project_unit, sample

    process = LaplacianDiffusion(spec.graph.laplacian, cfg.process)
    reference, _ = generate(spec, 1000, seed=10_000 + seed)
    x = sample(NetworkEps(net), process, 1000, spec.dim, 250, "predictor_corrector", seed).samples / cfg.scale
    if spec.unit_norm:
        x = project_unit(x)
    return evaluate(x, reference, train_x, spec.energy, spec.graph.laplacian.toarray(), unit_norm=spec.unit_norm)


def regulariser_ablation(seed: int = 0, steps: int = 1000) -> dict:
    """Heisenberg: the same short run with and without the physics regularisers, then sample metrics."""
    base, params = PRETRAINED["heisenberg"]
    spec = make_spec("heisenberg", **params)
    data, _ = generate(spec, base.n_train + base.n_val, seed=seed)
    out = {}
    variants = {"no_regularisers": {}, "energy+smoothness+alignment": {
        "energy_weight": 0.1, "smoothness_weight": 0.01, "alignment_weight": 0.05}}
    for name, weights in variants.items():
        cfg = TrainConfig(**{**asdict(base), "net": base.net, "process": base.process, "steps": steps,
                             "seed": seed, **weights})
        net, history = train(cfg, spec, data)
        out[name] = {"weights": weights, "best_val_loss": history["best_val_loss"],
                     **_quick_metrics(net, cfg, spec, data[: -cfg.n_val], seed)}
    return out


def train_pretrained(seed: int = 0, datasets=("heisenberg", "gmrf"), directory: Path = MODEL_DIR,
                     ablation: bool = True) -> dict:
    """Reproduce the shipped checkpoints and model cards (models/diffusion/<dataset>.pt / .json)."""
    cards = {}
    for name in datasets:
        base, params = PRETRAINED[name]
        cfg = TrainConfig(**{**asdict(base), "net": base.net, "process": base.process, "seed": seed})
        spec = make_spec(name, **params)
        data, info = generate(spec, cfg.n_train + cfg.n_val, seed=cfg.seed)
        net, history = train(cfg, spec, data)
        path = Path(directory) / f"{name}.pt"
        sha = save_checkpoint(path, net, cfg, spec)
        card = {
            "model": f"graph diffusion ε-network ({name})", "file": path.name, "sha256": sha,
            "size_bytes": path.stat().st_size, "parameters": history["parameters"],
            "data": {"dataset": name, "graph": spec.graph.name, "params": spec.params, "dim": spec.dim,
                     "n_train": cfg.n_train, "n_val": cfg.n_val, "seed": cfg.seed, "generator": info},
            "seed": cfg.seed, "config": asdict(cfg),
            "training": {k: history[k] for k in ("best_val_loss", "seconds", "steps_run")},
            "metrics_1000_samples_250_predictor_corrector_steps": _quick_metrics(net, cfg, spec, data[: -cfg.n_val],
                                                                                 seed),
            "reproduce": "python -m engine train diffusion",
        }
        if ablation and name == "heisenberg":
            card["regulariser_ablation_1000_steps"] = regulariser_ablation(seed)
        path.with_suffix(".json").write_text(json.dumps(card, indent=2, default=float) + "\n")
        cards[name] = card
    return cards
