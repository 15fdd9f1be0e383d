"""Uncertainty-aware surrogates of the synthesis physics with the scikit-learn estimator API.

Each estimator predicts the phase (5 classes) and, in log space, the cube-equivalent edge length and the width
of the size distribution (:mod:`engine.synthesis.models.targets`); the reported edge length, PL peak and FWHM
follow through the physics' own geometry and optics maps. ``fit(X, y, targets=, eval_set=)`` takes recipe
columns ``X`` (DataFrame or dict), phase indices ``y`` and targets (N, 2) in nm with NaN where undefined; the
eval set drives early stopping and then the calibration: a temperature for the class probabilities and one
scale per reported quantity (edge length, PL peak) so that the 90 % intervals cover 90 % of the eval set.
``predict_with_uncertainty(X)`` returns the calibrated probabilities, predictive entropy and mutual information
(epistemic part, nats); per quantity the mean, 90 % interval and epistemic standard deviation (spread of the
samples); and ``domain_distance``, the distance to the training data (:mod:`engine.synthesis.models.domain`).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from engine.synthesis.features import feature_pipeline, pipeline_from_state, pipeline_state, recipe_columns
from engine.synthesis.models import calibration as cal
from engine.synthesis.models import targets as tg
from engine.synthesis.models.domain import DomainDistance
from engine.synthesis.models.nets import N_CLASSES, MultiTaskNet, NetConfig, train_net

REPORTED = {"edge_length_nm": tg.edge_length_nm, "pl_peak_nm": tg.pl_peak_nm}


def reported_truth(labels: np.ndarray, targets: np.ndarray) -> dict:
    """True edge length and PL peak (nm) from the true phase and cube-equivalent edge (NaN where undefined)."""
    return {name: fn(np.asarray(targets, dtype=float)[:, 0], labels) for name, fn in REPORTED.items()}


class UncertaintyEstimator(ClassifierMixin, BaseEstimator):
    """Shared fit/calibrate/predict logic; subclasses implement ``_fit_core`` and ``_samples``."""

    def fit(self, X, y, targets=None, eval_set=None):
        y = np.asarray(y, dtype=np.int64)
        targets = np.full((y.size, 2), np.nan) if targets is None else np.asarray(targets, dtype=float)
        if eval_set is None:
            idx_tr, idx_va = train_test_split(np.arange(y.size), test_size=0.2, stratify=y,
                                              random_state=self.seed)
            take = (lambda X, idx: X.iloc[idx]) if hasattr(X, "iloc") else (
                lambda X, idx: {k: np.asarray(v)[idx] for k, v in X.items()})
            eval_set = (take(X, idx_va), y[idx_va], targets[idx_va])
            X, y, targets = take(X, idx_tr), y[idx_tr], targets[idx_tr]
        self.classes_ = np.arange(N_CLASSES)
        self.features_ = feature_pipeline().fit(X)
        z = tg.encode(targets)
        self.target_mean_ = np.nanmean(z, axis=0)
        self.target_std_ = np.nanstd(z, axis=0)
        x_tr = self.features_.transform(X)
        self.domain_ = DomainDistance().fit(recipe_columns(X), self.seed)
        x_va, y_va, t_va = eval_set
        self.history_ = self._fit_core(x_tr, y, self._scale(z), self.features_.transform(x_va), np.asarray(y_va),
                                       self._scale(tg.encode(t_va)))
        self.temperature_, self.interval_scale_ = 1.0, np.ones(2)
        self.calibrate(x_va, y_va, t_va)
        return self

    def _scale(self, z: np.ndarray) -> np.ndarray:
        return (z - self.target_mean_) / self.target_std_

    def calibrate(self, X, y, targets) -> dict:
        """Fit the temperature, then the interval scales (smallest factor whose 90 % intervals cover 90 % of the
        held-out edge lengths and PL peaks), on held-out data; returns ECE before/after and the coverages."""
        y = np.asarray(y)
        samples = self._samples(self.features_.transform(X))
        before = cal.mean_and_mutual_information(samples[0])[0]
        self.temperature_ = cal.fit_temperature(samples[0], y)
        truth = reported_truth(y, targets)
        coverage = {}
        for j, name in enumerate(REPORTED):
            ok = np.isfinite(truth[name])
            subset = tuple(a[:, ok] for a in samples)

            def covered(scale: float, j=j, name=name, ok=ok, subset=subset) -> float:
                self.interval_scale_[j] = scale
                out, true = self._from_samples(*subset, quantities=(name,)), truth[name][ok]
                return float(np.mean((true >= out[f"{name}_low"]) & (true <= out[f"{name}_high"])))

            self.interval_scale_[j] = cal.smallest_scale(covered, 0.9)
            coverage[name] = covered(self.interval_scale_[j])
        after = self._from_samples(*samples, quantities=())["proba"]
        return {"temperature": self.temperature_, "ece_before": cal.ece(before, y), "ece_after": cal.ece(after, y),
                "coverage": coverage}

    @staticmethod
    def _moments(mean: np.ndarray, var: np.ndarray):
        """Mixture mean and total std over samples (S, N, 2), standardised units."""
        mu = mean.mean(axis=0)
        return mu, np.sqrt(var.mean(axis=0) + mean.var(axis=0))

    def predict_with_uncertainty(self, X, quantities=tuple(REPORTED)) -> dict:
        """Probabilities, entropy, mutual information, ``domain_distance``, the cube-equivalent edge and, for each
        of ``quantities``, mean, 90 % interval and epistemic std (nm); PL peak and FWHM refer to the more
        likely emissive phase (cube or platelet)."""
        features = self.features_.transform(X)
        out = self._from_samples(*self._samples(features), quantities=quantities)
        if quantities:
            out["domain_distance"] = self.domain_.score(recipe_columns(X))
        return out

    def _from_samples(self, logits, mean, var, quantities) -> dict:
        proba, total, mutual = cal.mean_and_mutual_information(logits, self.temperature_)
        phase = proba.argmax(axis=1)
        out = {"proba": proba, "phase": phase, "entropy": total, "mutual_information": mutual}
        if not quantities:
            return out
        mu, std = self._moments(mean, var)
        ln_edge = mu[:, 0] * self.target_std_[0] + self.target_mean_[0]
        sd_edge = std[:, 0] * self.target_std_[0]
        samples = np.exp(mean[:, :, 0] * self.target_std_[0] + self.target_mean_[0])
        emissive = np.where(proba[:, tg.PLATELET] > proba[:, tg.CUBE], tg.PLATELET, tg.CUBE)
        edge = np.exp(ln_edge)
        out["cube_equivalent_edge_nm"] = edge
        for j, name in enumerate(REPORTED):
            if name not in quantities:
                continue
            fn, which = REPORTED[name], (phase if name == "edge_length_nm" else emissive)
            half = cal.Z90 * self.interval_scale_[j] * sd_edge
            out[name] = fn(edge, which)
            out[f"{name}_low"], out[f"{name}_high"] = tg.mapped_interval(fn, ln_edge - half, ln_edge + half, which)
            out[f"{name}_epistemic_std"] = fn(samples, which).std(axis=0)
        width = np.exp(mu[:, 1] * self.target_std_[1] + self.target_mean_[1])
        out["pl_fwhm_nm"] = tg.pl_fwhm_nm(edge, width, emissive)
        return out

    def predict_proba(self, X) -> np.ndarray:
        return self.predict_with_uncertainty(X, quantities=())["proba"]

    def predict(self, X) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)


class _TorchEstimator(UncertaintyEstimator):
    """Common state handling of the network-based estimators."""

    kind = ""

    def _forward(self, net: MultiTaskNet, x: np.ndarray):
        with torch.inference_mode():
            logits, mean, logvar, hidden = net(torch.as_tensor(x, dtype=torch.float32))
        return logits.numpy(), mean.numpy(), logvar.exp().numpy(), hidden.numpy()

    def state(self) -> dict:
        """Weights-only checkpoint state (tensors and plain values)."""
        return {"kind": self.kind, "params": self.get_params(), "n_in": int(self.features_[-1].n_features_in_),
                "features": {k: torch.tensor(v) for k, v in pipeline_state(self.features_).items()},
                "target_mean": torch.tensor(self.target_mean_), "target_std": torch.tensor(self.target_std_),
                "temperature": float(self.temperature_), "interval_scale": torch.tensor(self.interval_scale_),
                "domain": self.domain_.state(), "nets": [net.state_dict() for net in self.nets_],
                **self._extra_state()}

    def _extra_state(self) -> dict:
        return {}

    def _load_extra(self, state: dict) -> None:
        return None

    @classmethod
    def from_state(cls, state: dict):
        model = cls(**state["params"])
        model.classes_ = np.arange(N_CLASSES)
        model.features_ = pipeline_from_state({k: v.numpy() for k, v in state["features"].items()})
        model.target_mean_, model.target_std_ = state["target_mean"].numpy(), state["target_std"].numpy()
        model.temperature_, model.interval_scale_ = state["temperature"], state["interval_scale"].numpy()
        model.domain_ = DomainDistance.from_state(state["domain"])
        config = model._config()
        model.nets_ = []
        for weights in state["nets"]:
            net = MultiTaskNet(state["n_in"], config.width, config.depth, config.dropout)
            net.load_state_dict(weights)
            net.eval()
            model.nets_.append(net)
        model._load_extra(state)
        return model

    def _config(self) -> NetConfig:
        return NetConfig(width=self.width, depth=self.depth, dropout=self.dropout, max_epochs=self.max_epochs,
                         lr=self.lr)


def _train_single_thread(*args):
    torch.set_num_threads(1)  # worker processes: threads that wait on a shared CPU cost more than they gain
    return train_net(*args)


class DeepEnsemble(_TorchEstimator):
    """``n_members`` independently initialised and shuffled networks; uncertainty from their disagreement."""

    kind = "deep_ensemble"

    def __init__(self, n_members: int = 5, width: int = 128, depth: int = 3, dropout: float = 0.05,
                 max_epochs: int = 60, lr: float = 3e-3, n_jobs: int = 1, seed: int = 0):
        self.n_members, self.width, self.depth, self.dropout = n_members, width, depth, dropout
        self.max_epochs, self.lr, self.n_jobs, self.seed = max_epochs, lr, n_jobs, seed

    def _fit_core(self, x, y, t, xv, yv, tv):
        """Members train independently (seeds ``1000·seed + m``), in ``n_jobs`` processes when > 1."""
        from joblib import Parallel, delayed

        fits = Parallel(n_jobs=self.n_jobs)(delayed(_train_single_thread)(
            x, y, t, xv, yv, tv, self._config(), self.seed * 1000 + m) for m in range(self.n_members))
        self.nets_ = [net for net, _ in fits]
        return [h for _, h in fits]

    def _samples(self, x):
        outs = [self._forward(net, x) for net in self.nets_]
        return tuple(np.stack([o[i] for o in outs]) for i in range(3))


class MCDropout(_TorchEstimator):
    """One network with dropout kept on at prediction: ``n_samples`` thinned networks (seeded dropout masks,
    each shared by all rows) evaluated in one batched pass."""

    kind = "mc_dropout"

    def __init__(self, n_samples: int = 30, width: int = 64, depth: int = 3, dropout: float = 0.1,
                 max_epochs: int = 60, lr: float = 3e-3, seed: int = 0):
        self.n_samples, self.width, self.depth, self.dropout = n_samples, width, depth, dropout
        self.max_epochs, self.lr, self.seed = max_epochs, lr, seed

    def _fit_core(self, x, y, t, xv, yv, tv):
        net, history = train_net(x, y, t, xv, yv, tv, self._config(), self.seed)
        self.nets_ = [net]
        return [history]

    def _samples(self, x):
        net = self.nets_[0]
        masks = net.dropout_masks(self.n_samples, torch.Generator().manual_seed(self.seed))
        with torch.inference_mode():
            logits, mean, logvar = net.forward_sampled(torch.as_tensor(x, dtype=torch.float32), masks)
        return logits.numpy(), mean.numpy(), logvar.exp().numpy()


class LastLayerLaplace(_TorchEstimator):
    """Bayesian last layer: a Laplace (generalised Gauss–Newton) posterior over the phase head of a MAP
    network, prior precision chosen on validation NLL; ``n_samples`` weight samples at prediction.
    Regression intervals come from the heteroscedastic heads (no epistemic part for them)."""

    kind = "laplace"
    PRIORS = (0.01, 0.1, 1.0, 10.0, 100.0)

    def __init__(self, n_samples: int = 30, width: int = 128, depth: int = 3, dropout: float = 0.05,
                 max_epochs: int = 60, lr: float = 3e-3, seed: int = 0):
        self.n_samples, self.width, self.depth, self.dropout = n_samples, width, depth, dropout
        self.max_epochs, self.lr, self.seed = max_epochs, lr, seed

    def _fit_core(self, x, y, t, xv, yv, tv):
        net, history = train_net(x, y, t, xv, yv, tv, self._config(), self.seed)
        self.nets_ = [net]
        logits, _, _, hidden = self._forward(net, x)
        phi = np.hstack([hidden, np.ones((hidden.shape[0], 1))])
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        lam = p[:, :, None] * (np.eye(N_CLASSES)[None] - p[:, None, :])  # (N, K, K) = diag(p) − p pᵀ
        k, d = N_CLASSES, phi.shape[1]
        self.ggn_ = np.einsum("nkl,nd,ne->kdle", lam, phi, phi, optimize=True).reshape(k * d, k * d)
        best = np.inf
        for prior in self.PRIORS:
            self._set_posterior(prior)
            nll = cal.nll(cal.mean_and_mutual_information(self._samples(xv)[0])[0], yv)
            if nll < best:
                best, choice = nll, prior
        self._set_posterior(choice)
        self.prior_precision_ = choice
        return [history | {"prior_precision": choice}]

    def _set_posterior(self, prior: float) -> None:
        precision = self.ggn_ + prior * np.eye(self.ggn_.shape[0])
        self.cov_chol_ = np.linalg.cholesky(np.linalg.inv(precision))

    def _extra_state(self) -> dict:
        return {"cov_chol": torch.tensor(self.cov_chol_), "prior_precision": float(self.prior_precision_)}

    def _load_extra(self, state: dict) -> None:
        self.cov_chol_, self.prior_precision_ = state["cov_chol"].numpy(), state["prior_precision"]

    def _samples(self, x):
        net = self.nets_[0]
        _, mean, var, hidden = self._forward(net, x)
        phi = np.hstack([hidden, np.ones((hidden.shape[0], 1))])
        head = net.logits
        theta = torch.cat([head.weight, head.bias[:, None]], dim=1).detach().numpy().ravel()
        noise = np.random.default_rng(self.seed).standard_normal((self.n_samples, theta.size))
        weights = (theta + noise @ self.cov_chol_.T).reshape(self.n_samples, N_CLASSES, -1)
        logits = np.einsum("nd,skd->snk", phi, weights, optimize=True)
        return logits, mean[None], var[None]


class GradientBoosting(UncertaintyEstimator):
    """Baseline: scikit-learn histogram gradient boosting — a class-balanced classifier, a squared-error regressor
    of the log size (its mean), 5 % / 95 % quantile regressors that shape the interval (its width is then set by
    the split-conformal scale) and a regressor of the log size spread (FWHM). Learning rate 0.3 with early
    stopping, and ``interval_iter`` rounds for the interval and spread models: the prediction cost is one tree
    walk per round and model. No epistemic part: the mutual information is zero by construction."""

    kind = "gradient_boosting"

    def __init__(self, max_iter: int = 300, interval_iter: int = 100, learning_rate: float = 0.3, seed: int = 0):
        self.max_iter, self.interval_iter, self.learning_rate, self.seed = max_iter, interval_iter, learning_rate, seed

    def _fit_core(self, x, y, t, xv, yv, tv):
        with threadpool_limits(1):  # OpenMP spinning on a shared CPU costs far more than it gains here
            return self._fit_boosters(x, y, t)

    def _fit_boosters(self, x, y, t):
        common = {"learning_rate": self.learning_rate, "random_state": self.seed, "early_stopping": True}
        self.classifier_ = HistGradientBoostingClassifier(class_weight="balanced", max_iter=self.max_iter,
                                                          **common).fit(x, y)
        edge, spread = np.isfinite(t[:, 0]), np.isfinite(t[:, 1])
        quantile = [HistGradientBoostingRegressor(loss="quantile", quantile=q, max_iter=self.interval_iter, **common)
                    .fit(x[edge], t[edge, 0]) for q in (0.05, 0.95)]
        self.regressors_ = [
            [quantile[0], HistGradientBoostingRegressor(max_iter=self.max_iter, **common).fit(x[edge], t[edge, 0]),
             quantile[1]],
            [HistGradientBoostingRegressor(max_iter=self.interval_iter, **common).fit(x[spread], t[spread, 1])]]
        return []

    def _samples(self, x):
        with threadpool_limits(1):
            return self._predict_boosters(x)

    def _predict_boosters(self, x):
        logits = np.log(np.clip(self.classifier_.predict_proba(x), 1e-12, 1.0))[None]
        edge = np.column_stack([r.predict(x) for r in self.regressors_[0]])
        spread = self.regressors_[1][0].predict(x)
        std = np.maximum(edge[:, 2] - edge[:, 0], 1e-6) / (2 * cal.Z90)
        mean = np.column_stack([edge[:, 1], spread])
        var = np.column_stack([std**2, np.full_like(std, 1e-12)])
        return logits, mean[None], var[None]


ESTIMATORS = {cls.kind: cls for cls in (DeepEnsemble, MCDropout, LastLayerLaplace, GradientBoosting)}
