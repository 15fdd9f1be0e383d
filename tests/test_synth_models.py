"""Synthesis surrogates: features, calibration math, target maps, batched MC dropout, estimator API, calibration
and OOD behaviour of the shipped checkpoints, checkpoint round trip and corrupt-file handling."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from engine.checkpoints import save_checkpoint
from engine.synthesis.dataset import TRAINING_BOX, build_dataset, sample_recipes
from engine.synthesis.features import feature_pipeline, pipeline_from_state, pipeline_state
from engine.synthesis.inference import load_surrogates
from engine.synthesis.ml_bench import ood_recipes
from engine.synthesis.models import calibration as cal
from engine.synthesis.models import targets as tg
from engine.synthesis.models.estimators import ESTIMATORS, reported_truth
from engine.synthesis.models.nets import MultiTaskNet
from engine.synthesis.schemas import NUMERIC_FIELDS, validate_arrays
from engine.synthesis.simulation import PHASE_NAMES, simulate_batch

TINY = {"deep_ensemble": {"n_members": 2, "width": 16, "max_epochs": 12},
        "mc_dropout": {"n_samples": 8, "width": 16, "max_epochs": 12},
        "laplace": {"n_samples": 8, "width": 16, "max_epochs": 12},
        "gradient_boosting": {"max_iter": 15}}


@pytest.fixture(scope="module")
def data():
    frame, _ = build_dataset(500, seed=7, oversample=2, box=TRAINING_BOX)
    labels = frame["phase"].map({p: i for i, p in enumerate(PHASE_NAMES)}).to_numpy()
    return frame, labels, frame[list(tg.TARGET_COLUMNS)].to_numpy()


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


def test_temperature_is_fitted_on_the_averaged_samples_it_calibrates():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 1.5, (6000, 5))
    p_true = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    labels = np.array([rng.choice(5, p=p) for p in p_true])
    samples = 0.5 * z[None] + rng.normal(0, 1.0, (30, 1, 5))  # under-confident, disagreeing MC samples
    t = cal.fit_temperature(samples[:, :3000], labels[:3000])
    raw, _, mutual = cal.mean_and_mutual_information(samples[:, 3000:])
    proba, total, mutual_t = cal.mean_and_mutual_information(samples[:, 3000:], t)
    assert 0.3 < t < 0.6 and np.allclose(proba, np.exp(np.log(raw) / t) / np.exp(np.log(raw) / t).sum(1, keepdims=True))
    assert cal.ece(proba, labels[3000:]) < 0.1 * cal.ece(raw, labels[3000:]) and cal.ece(proba, labels[3000:]) < 0.02
    assert np.allclose(total, cal.entropy(proba)) and (mutual_t <= total + 1e-12).all()
    assert np.allclose(mutual_t / total, mutual / cal.entropy(raw))  # the epistemic share does not depend on T


def test_smallest_scale_hits_coverage():
    rng = np.random.default_rng(1)
    target = rng.normal(0, 2.0, 5000)

    def coverage(c, t=target[:2500]):
        return float(np.mean(np.abs(t) <= cal.Z90 * c))

    c = cal.smallest_scale(coverage, 0.9)
    assert np.isclose(c, 2.0, rtol=0.08) and coverage(c) >= 0.9 > coverage(0.99 * c)
    assert 0.87 < np.mean(np.abs(target[2500:]) <= cal.Z90 * c) < 0.93


def test_target_maps_reproduce_the_physics_outputs():
    columns = sample_recipes(300, seed=3, box=TRAINING_BOX)
    sim = simulate_batch(columns)
    truth = reported_truth(sim["phase_index"], np.column_stack([sim["cube_equivalent_edge_nm"],
                                                               sim["edge_length_std_nm"]]))
    for name in ("edge_length_nm", "pl_peak_nm"):
        ok = np.isfinite(sim[name])
        assert np.array_equal(ok, np.isfinite(truth[name])) and np.allclose(truth[name][ok], sim[name][ok])
    emissive = np.isin(sim["phase_index"], (0, 1))
    fwhm = tg.pl_fwhm_nm(sim["cube_equivalent_edge_nm"], sim["edge_length_std_nm"], sim["phase_index"])
    assert np.allclose(fwhm[emissive], sim["pl_fwhm_nm"][emissive])
    low, high = tg.mapped_interval(tg.pl_peak_nm, np.log(np.full(3, 6.0)), np.log(np.full(3, 9.0)), np.zeros(3))
    assert np.allclose(low, tg.pl_peak_nm(np.full(3, 6.0), 0)) and np.allclose(high, tg.pl_peak_nm(np.full(3, 9.0), 0))


def test_batched_dropout_samples_equal_masked_passes():
    import torch

    torch.manual_seed(0)
    net = MultiTaskNet(7, 16, 3, 0.2)
    net.train()
    for _ in range(3):
        net(torch.randn(64, 7))  # running statistics of the batch norms
    net.eval()
    x = torch.randn(20, 7)
    masks = net.dropout_masks(4, torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits, mean, logvar = net.forward_sampled(x, masks)
        for s in range(4):
            h, it = x, iter(masks)
            for module in net.trunk:
                h = h * next(it)[s] if isinstance(module, torch.nn.Dropout) else module(h)
            ref = net._heads(h)
            assert torch.allclose(logits[s], ref[0], atol=1e-5) and torch.allclose(mean[s], ref[1], atol=1e-5)
            assert torch.allclose(logvar[s], ref[2], atol=1e-5)


def test_ood_recipes_are_valid_and_outside_the_training_box():
    base = sample_recipes(200, seed=2, box=TRAINING_BOX)
    ood = ood_recipes(base, seed=3)
    validate_arrays(ood)  # valid recipes of the schema
    outside = np.zeros(200, dtype=bool)
    for name in NUMERIC_FIELDS:
        low, high = TRAINING_BOX[name]
        outside |= (ood[name] < low) | (ood[name] > high)
    assert outside.all()


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
        assert (out[f"{name}_low"] <= out[name] + 1e-9).all() and (out[name] <= out[f"{name}_high"] + 1e-9).all()
    assert (out["domain_distance"] >= 0).all() and np.isfinite(out["pl_fwhm_nm"]).all()
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
    frame, _ = build_dataset(1000, seed=123, oversample=2, box=TRAINING_BOX)  # recipes not in the training set
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
    base = sample_recipes(400, seed=5, box=TRAINING_BOX)
    outside_recipes = ood_recipes(base, seed=6)
    for kind, model in shipped.models.items():
        inside, outside = model.predict_with_uncertainty(base), model.predict_with_uncertainty(outside_recipes)
        scores = np.concatenate([inside["domain_distance"], outside["domain_distance"]])
        assert roc_auc_score(np.repeat([0, 1], 400), scores) > 0.85, kind
        assert np.median(inside["domain_distance"]) < 1.0, kind
    ensemble = shipped.models["deep_ensemble"]
    inside, outside = ensemble.predict_with_uncertainty(base), ensemble.predict_with_uncertainty(outside_recipes)
    assert np.mean(outside["edge_length_nm_epistemic_std"]) > np.mean(inside["edge_length_nm_epistemic_std"])


def test_cross_validation_report_and_optuna_search():
    from engine.synthesis.train import Split, TrainConfig, cross_validate, tune

    frame, _ = build_dataset(300, seed=9, oversample=2, box=TRAINING_BOX)
    labels = frame["phase"].map({p: i for i, p in enumerate(PHASE_NAMES)}).to_numpy()
    targets = frame[list(tg.TARGET_COLUMNS)].to_numpy()
    split = Split(frames={"train": frame.iloc[:240].reset_index(drop=True), "val": frame.iloc[240:]},
                  labels={"train": labels[:240], "val": labels[240:]},
                  targets={"train": targets[:240], "val": targets[240:]}, manifest={})
    config = TrainConfig(cv_rows=200, cv_epochs=2)
    report = cross_validate(split, config, params={"width": 16, "n_samples": 4})
    assert report["folds"] == 5 and len(report["per_fold"]) == 5 and 0.0 <= report["macro_f1_mean"] <= 1.0
    pytest.importorskip("optuna")
    search = tune(split, config, trials=2, rows=120, epochs=2)
    assert search["trials"] == 2 and {"width", "depth", "dropout", "lr"} <= set(search["best_params"])
