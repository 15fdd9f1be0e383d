"""Synthesis surrogates: features, calibration math, estimator API, calibration and OOD behaviour of the
shipped checkpoints, checkpoint round trip and corrupt-file handling."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from engine.checkpoints import save_checkpoint
from engine.synthesis.dataset import build_dataset, sample_recipes
from engine.synthesis.features import feature_pipeline, pipeline_from_state, pipeline_state
from engine.synthesis.inference import load_surrogates
from engine.synthesis.ml_bench import ood_recipes
from engine.synthesis.models import calibration as cal
from engine.synthesis.models.estimators import ESTIMATORS
from engine.synthesis.schemas import NUMERIC_FIELDS
from engine.synthesis.simulation import PHASE_NAMES

TINY = {"deep_ensemble": {"n_members": 2, "width": 16, "max_epochs": 12},
        "mc_dropout": {"n_samples": 8, "width": 16, "max_epochs": 12},
        "laplace": {"n_samples": 8, "width": 16, "max_epochs": 12},
        "gradient_boosting": {"max_iter": 15}}


@pytest.fixture(scope="module")
def data():
    frame, _ = build_dataset(500, seed=7, oversample=2)
    labels = frame["phase"].map({p: i for i, p in enumerate(PHASE_NAMES)}).to_numpy()
    return frame, labels, frame[["edge_length_nm", "pl_peak_nm"]].to_numpy()


@pytest.fixture(scope="module")
def shipped():
    surrogates = load_surrogates()
    assert not surrogates.errors, surrogates.errors
    return surrogates


def test_features_finite_and_state_round_trip():
    columns = sample_recipes(64, seed=1)
    pipe = feature_pipeline().fit(columns)
    x = pipe.transform(columns)
    assert x.shape == (64, len(pipe.named_steps["physics"].get_feature_names_out())) and np.isfinite(x).all()
    assert np.allclose(pipeline_from_state(pipeline_state(pipe)).transform(columns), x)
    # hotter recipes have a lower 1/T feature: the transformer encodes the physics, not just the inputs
    names = list(pipe.named_steps["physics"].get_feature_names_out())
    j = names.index("inv_t_1000_k")
    hot = np.argmax(columns["temperature_c"])
    assert x[hot, j] == x[:, j].min()


def test_entropy_and_mutual_information_values():
    agree = np.log(np.array([[[0.5, 0.5]], [[0.5, 0.5]]]))
    probs, total, mutual = cal.mean_and_mutual_information(agree)
    assert np.isclose(total[0], np.log(2)) and np.isclose(mutual[0], 0.0)
    disagree = np.log(np.array([[[1 - 1e-9, 1e-9]], [[1e-9, 1 - 1e-9]]]))
    _, total, mutual = cal.mean_and_mutual_information(disagree)
    assert np.isclose(mutual[0], np.log(2), atol=1e-6)


def test_temperature_scaling_lowers_ece_of_overconfident_probabilities():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, (6000, 5))
    p_true = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    labels = np.array([rng.choice(5, p=p) for p in p_true])
    logits = 3.0 * z  # three times over-confident
    t = cal.fit_temperature(logits[None, :3000], labels[:3000])
    assert 2.5 < t < 3.5
    before = cal.ece(cal.mean_and_mutual_information(logits[None, 3000:])[0], labels[3000:])
    after = cal.ece(cal.mean_and_mutual_information(logits[None, 3000:], t)[0], labels[3000:])
    assert after < 0.5 * before and after < 0.03
    assert cal.brier(np.eye(5)[labels], labels) == 0.0 and cal.nll(np.eye(5)[labels], labels) < 1e-9


def test_interval_scale_hits_coverage():
    rng = np.random.default_rng(1)
    target = rng.normal(0, 2.0, 5000)
    c = cal.fit_interval_scale(np.zeros(2500), np.ones(2500), target[:2500])
    assert np.isclose(c, 2.0, rtol=0.08)
    assert 0.87 < np.mean(np.abs(target[2500:]) <= cal.Z90 * c) < 0.93


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_estimator_api_conformance(kind, data):
    frame, labels, targets = data
    train, test = train_test_split(np.arange(len(frame)), test_size=0.3, stratify=labels, random_state=0)
    model = ESTIMATORS[kind](seed=0, **TINY[kind])
    assert clone(model).get_params() == model.get_params()
    assert model.fit(frame.iloc[train], labels[train], targets[train]) is model
    out = model.predict_with_uncertainty(frame.iloc[test])
    n = test.size
    assert out["proba"].shape == (n, 5) and np.allclose(out["proba"].sum(1), 1.0)
    assert np.array_equal(model.predict(frame.iloc[test]), out["proba"].argmax(1))
    assert np.allclose(model.predict_proba(frame.iloc[test]), out["proba"])
    assert (out["entropy"] >= out["mutual_information"] - 1e-9).all() and (out["mutual_information"] >= 0).all()
    for name in ("edge_length_nm", "pl_peak_nm"):
        assert (out[f"{name}_low"] <= out[name]).all() and (out[name] <= out[f"{name}_high"]).all()
    assert np.mean(out["phase"] == labels[test]) > 0.3  # learns something even from 350 rows and 12 epochs
    if kind != "gradient_boosting":
        again = ESTIMATORS[kind].from_state(model.state()).predict_with_uncertainty(frame.iloc[test])
        assert np.allclose(again["proba"], out["proba"]) and np.allclose(again["pl_peak_nm"], out["pl_peak_nm"])


def test_checkpoint_round_trip_and_corrupt_file(tmp_path, data):
    frame, labels, targets = data
    model = ESTIMATORS["mc_dropout"](seed=0, **TINY["mc_dropout"]).fit(frame, labels, targets)
    save_checkpoint(model.state(), tmp_path / "mc_dropout.pt", {"seed": 0})
    loaded = load_surrogates(tmp_path, kinds=("mc_dropout", "deep_ensemble"))
    assert "not exist" in loaded.errors["deep_ensemble"]
    assert np.allclose(loaded.models["mc_dropout"].predict_proba(frame), model.predict_proba(frame))
    path = tmp_path / "mc_dropout.pt"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    broken = load_surrogates(tmp_path, kinds=("mc_dropout",))
    assert not broken.models and "corrupt" in broken.errors["mc_dropout"]
    assert broken.default() == (None, None)


def test_shipped_cards_and_held_out_calibration(shipped):
    frame, _ = build_dataset(1000, seed=123, oversample=2)  # recipes not in the training set
    labels = frame["phase"].map({p: i for i, p in enumerate(PHASE_NAMES)}).to_numpy()
    for kind, model in shipped.models.items():
        card = shipped.cards[kind]
        assert card["seed"] == 0 and card["data"]["rows"] > 0 and card["bytes"] < 5_000_000
        proba = model.predict_proba(frame)
        assert np.mean(proba.argmax(1) == labels) > 0.9, kind
        raw = model.temperature_
        model.temperature_ = 1.0
        before = cal.ece(model.predict_proba(frame), labels)
        model.temperature_ = raw
        assert cal.ece(proba, labels) <= before + 0.005, kind


def test_epistemic_uncertainty_higher_out_of_domain(shipped):
    base = sample_recipes(400, seed=5)
    inside = shipped.models["deep_ensemble"].predict_with_uncertainty(base)
    outside = shipped.models["deep_ensemble"].predict_with_uncertainty(
        ood_recipes({k: base[k] for k in NUMERIC_FIELDS}, seed=6))
    assert np.mean(outside["mutual_information"]) > 1.5 * np.mean(inside["mutual_information"])
    assert np.median(outside["pl_peak_nm_epistemic_std"]) > np.median(inside["pl_peak_nm_epistemic_std"])
