"""Calibration and uncertainty metrics (pure numpy): entropy, mutual information, ECE, Brier, NLL,
reliability bins, temperature scaling and a Gaussian interval scale fitted on validation data."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

Z90 = 1.6448536269514722  # two-sided 90 % Gaussian quantile


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row of ``probs`` (N, K)."""
    return -np.sum(probs * np.log(np.clip(probs, 1e-12, 1.0)), axis=-1)


def mean_and_mutual_information(sample_logits: np.ndarray, temperature: float = 1.0):
    """From sampled logits (S, N, K): the calibrated predictive probabilities softmax(log p̄ / T), where p̄ is the
    mean of the samples' probabilities, their entropy, and its epistemic part (nats). The epistemic part is the
    samples' mutual information (entropy of p̄ minus their mean entropy) as a share of the entropy of p̄, applied to
    the calibrated entropy: the temperature rescales the predictive distribution, not the samples' disagreement,
    and the epistemic part never exceeds the total."""
    probs = softmax(sample_logits, axis=-1)
    mean = probs.mean(axis=0)
    raw = entropy(mean)
    mutual = np.maximum(raw - entropy(probs).mean(axis=0), 0.0)
    if temperature == 1.0:
        return mean, raw, mutual
    calibrated = softmax(np.log(np.maximum(mean, np.finfo(mean.dtype).tiny)) / temperature, axis=-1)
    total = entropy(calibrated)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(raw > 0, np.minimum(mutual / raw, 1.0), 0.0)
    return calibrated, total, share * total


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood (nats) of the true labels."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(labels.size), labels], 1e-12, 1.0))))


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Multi-class Brier score: mean squared distance to the one-hot label (0 best, 2 worst)."""
    onehot = np.eye(probs.shape[1])[labels]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict:
    """Confidence-binned accuracy: per bin the mean confidence, accuracy and count (equal-width bins)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore"):
        conf = np.bincount(index, confidence, bins) / count
        acc = np.bincount(index, correct.astype(float), bins) / count
    return {"confidence": conf, "accuracy": acc, "count": count}


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence (equal-width bins)."""
    rel = reliability(probs, labels, bins)
    used = rel["count"] > 0
    gaps = np.abs(rel["confidence"][used] - rel["accuracy"][used])
    return float(np.sum(gaps * rel["count"][used]) / labels.size)


def fit_temperature(sample_logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T > 0 minimising the NLL of softmax(log p̄ / T), p̄ the mean of the samples' probabilities
    (S, N, K): exactly the probabilities :func:`mean_and_mutual_information` returns. (Tempering each sample
    before the average instead turns a sharpened MC-dropout average into a vote count, which one temperature
    cannot calibrate.)"""
    mean = softmax(sample_logits, axis=-1).mean(axis=0)
    log_mean = np.log(np.maximum(mean, np.finfo(mean.dtype).tiny))
    rows = np.arange(labels.size)

    def loss(log_t: float) -> float:
        return float(-np.mean(log_softmax(log_mean / np.exp(log_t), axis=-1)[rows, labels]))

    return float(np.exp(minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded").x))


def smallest_scale(coverage_of, target: float = 0.9, low: float = 0.05, high: float = 50.0, steps: int = 40) -> float:
    """Smallest factor c in [low, high] with ``coverage_of(c) >= target`` (bisection in log c; the coverage of
    intervals that widen with c is non-decreasing in c): split-conformal calibration of an interval width."""
    if coverage_of(high) < target:
        return high
    for _ in range(steps):
        mid = np.sqrt(low * high)
        low, high = (low, mid) if coverage_of(mid) >= target else (mid, high)
    return float(high)
