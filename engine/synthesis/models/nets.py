"""The multi-task network (phase logits + heteroscedastic heads for log edge length and PL peak) and its
training loop: class-weighted cross-entropy plus masked Gaussian NLL, AdamW, ReduceLROnPlateau, early
stopping on the validation loss, deterministic in the seed."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

N_CLASSES = 5
LOGVAR_MIN, LOGVAR_MAX = -12.0, 4.0


@dataclass(frozen=True)
class NetConfig:
    """Width/depth of the trunk, dropout, optimiser and stopping settings."""

    width: int = 64
    depth: int = 3
    dropout: float = 0.05
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 512
    max_epochs: int = 60
    patience: int = 16  # four of the scheduler's LR halvings (patience 3) before giving up


class MultiTaskNet(nn.Module):
    """Trunk of (Linear → BatchNorm → SiLU → Dropout) blocks; heads: 5 logits, (μ, log σ²) × 2 targets."""

    def __init__(self, n_in: int, width: int = 64, depth: int = 3, dropout: float = 0.05):
        super().__init__()
        layers, d = [], n_in
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.BatchNorm1d(width), nn.SiLU(), nn.Dropout(dropout)]
            d = width
        self.trunk = nn.Sequential(*layers)
        self.logits = nn.Linear(width, N_CLASSES)
        self.regress = nn.Linear(width, 4)  # μ_edge, logvar_edge, μ_pl, logvar_pl (standardised units)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor):
        return self._heads(self.trunk(x))

    def _heads(self, hidden: torch.Tensor):
        reg = self.regress(hidden)
        mean = reg[..., 0::2]
        logvar = reg[..., 1::2].clamp(LOGVAR_MIN, LOGVAR_MAX)
        return self.logits(hidden), mean, logvar, hidden

    def dropout_masks(self, n_samples: int, generator: torch.Generator) -> list[torch.Tensor]:
        """One Bernoulli keep-mask per sample and dropout layer, (S, 1, width), scaled by 1 / (1 − p)."""
        p = next(m.p for m in self.trunk if isinstance(m, nn.Dropout))
        width = self.logits.in_features
        return [(torch.rand(n_samples, 1, width, generator=generator) >= p).float() / (1.0 - p)
                for m in self.trunk if isinstance(m, nn.Dropout)]

    def forward_sampled(self, x: torch.Tensor, masks: list[torch.Tensor]):
        """Eval-mode forward of S thinned networks at once: sample s drops the same units for every row (a
        weight sample, as in MC dropout). ``x`` (N, F) → logits, mean, log-variance with a leading sample axis
        (S, N, ...). Batch norm is folded into its linear layer and each mask into the next layer's weights,
        so the first block runs once and no (S, N, width) mask product is formed."""
        blocks = [self.trunk[i:i + 4] for i in range(0, len(self.trunk), 4)]  # Linear, BatchNorm, SiLU, Dropout
        h = x
        for index, (linear, norm, _, _) in enumerate(blocks):
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            weight, bias = linear.weight * scale[:, None], (linear.bias - norm.running_mean) * scale + norm.bias
            if index:  # (S, out, in): drop input units of sample s
                h = torch.baddbmm(bias, h.expand(len(masks[0]), -1, -1), (weight * masks[index - 1]).transpose(1, 2))
            else:
                h = torch.addmm(bias, h, weight.T)
            h = nn.functional.silu(h, inplace=True)
        heads = torch.cat([self.logits.weight, self.regress.weight]) * masks[len(blocks) - 1]
        out = torch.baddbmm(torch.cat([self.logits.bias, self.regress.bias]), h, heads.transpose(1, 2))
        logits, reg = out[..., :N_CLASSES], out[..., N_CLASSES:]
        return logits, reg[..., 0::2], reg[..., 1::2].clamp(LOGVAR_MIN, LOGVAR_MAX)


def multitask_loss(out, labels, targets, mask, class_weight) -> torch.Tensor:
    """Class-weighted cross-entropy + Gaussian NLL of the regression targets where ``mask`` is true."""
    logits, mean, logvar, _ = out
    ce = nn.functional.cross_entropy(logits, labels, weight=class_weight)
    safe = torch.where(mask, targets, mean.detach())
    gauss = 0.5 * (logvar + (safe - mean) ** 2 / logvar.exp())
    return ce + (gauss * mask).sum() / mask.sum().clamp(min=1)


def train_net(x_tr, y_tr, t_tr, x_va, y_va, t_va, config: NetConfig, seed: int) -> tuple[MultiTaskNet, dict]:
    """Train one network; targets ``t`` (N, 2) standardised with NaN where undefined. Returns (net, history)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    counts = np.bincount(y_tr, minlength=N_CLASSES).astype(float)
    class_weight = torch.tensor(counts.sum() / (N_CLASSES * np.maximum(counts, 1.0)), dtype=torch.float32)
    tensors = [torch.as_tensor(a, dtype=dt) for a, dt in ((x_tr, torch.float32), (y_tr, torch.long),
                                                             (np.nan_to_num(t_tr), torch.float32),
                                                             (np.isfinite(t_tr), torch.bool))]
    val = [torch.as_tensor(a, dtype=dt) for a, dt in ((x_va, torch.float32), (y_va, torch.long),
                                                         (np.nan_to_num(t_va), torch.float32),
                                                         (np.isfinite(t_va), torch.bool))]
    net = MultiTaskNet(x_tr.shape[1], config.width, config.depth, config.dropout)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=3)
    best, best_state, stale, history = np.inf, None, 0, []
    n = len(tensors[0])
    for _ in range(config.max_epochs):
        net.train()
        order = torch.randperm(n, generator=gen)
        for start in range(0, n - 1, config.batch_size):
            idx = order[start:start + config.batch_size]
            if idx.numel() < 2:
                continue
            opt.zero_grad()
            loss = multitask_loss(net(tensors[0][idx]), *(t[idx] for t in tensors[1:]), class_weight)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            val_loss = float(multitask_loss(net(val[0]), *val[1:], class_weight))
        sched.step(val_loss)
        history.append(val_loss)
        if val_loss < best - 1e-4:
            best, best_state, stale = val_loss, copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    net.load_state_dict(best_state)
    net.eval()
    return net, {"epochs": len(history), "best_val_loss": best}
