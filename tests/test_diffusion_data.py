"""Graph diffusion datasets (exact GMRF, Heisenberg MCMC limits), metrics and baselines."""

import numpy as np
import pytest

from engine.diffusion import metrics
from engine.diffusion.baselines import BASELINES
from engine.diffusion.datasets import generate, gmrf_covariance, integrated_autocorrelation, make_spec
from engine.diffusion.graphs import grid
from engine.errors import InputError


def test_gmrf_samples_have_the_exact_covariance():
    spec = make_spec("gmrf", graph=grid((3, 3)), kappa=0.8, dim=2)
    x, _ = generate(spec, 20_000, seed=0)
    exact = np.kron(gmrf_covariance(spec), np.eye(2))
    assert metrics.covariance_error(x, exact=exact) < 0.03


def test_heisenberg_high_temperature_is_disordered():
    spec = make_spec("heisenberg", graph=grid((4, 4)), T=100.0)
    x, info = generate(spec, 256, seed=1, burn_in=50, probe=100)
    np.testing.assert_allclose(np.linalg.norm(x, axis=-1), 1.0, atol=1e-12)
    m = np.linalg.norm(x.mean(axis=1), axis=-1)
    assert m.mean() < 0.3  # ≈ sqrt(8 / (3π N)) = 0.23 for independent spins
    assert abs(spec.energy(x).mean()) < 0.5  # ⟨s_i·s_j⟩ ≈ 1/(3T) per bond
    assert info["tau_int_energy_sweeps"] < 2


def test_heisenberg_low_temperature_is_aligned():
    spec = make_spec("heisenberg", graph=grid((4, 4)), T=0.01)
    x, info = generate(spec, 128, seed=2, burn_in=200, probe=100)
    n_bonds = len(spec.graph.edges)
    # harmonic spin waves: ⟨E⟩ = -J·bonds + N·T (two transverse modes per spin)
    np.testing.assert_allclose(spec.energy(x).mean(), -n_bonds + 16 * 0.01, atol=0.05)
    assert np.linalg.norm(x.mean(axis=1), axis=-1).min() > 0.98
    assert info["spacing_sweeps"] >= 1


def test_autocorrelation_time_of_ar1_process():
    rng = np.random.default_rng(0)
    rho, n = 0.8, 20_000
    x = np.zeros((n, 8))
    for i in range(1, n):
        x[i] = rho * x[i - 1] + rng.standard_normal(8)
    assert integrated_autocorrelation(x) == pytest.approx((1 + rho) / (2 * (1 - rho)), rel=0.15)


def test_dataset_inputs_are_validated():
    with pytest.raises(InputError, match="dataset"):
        make_spec("ising")
    with pytest.raises(InputError, match="temperature"):
        make_spec("heisenberg", T=-1)
    with pytest.raises(InputError, match="n must be"):
        generate(make_spec("gmrf"), 0, seed=0)


def test_metrics_on_known_distributions():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 4, 1))
    b = rng.standard_normal((4000, 4, 1))
    assert metrics.normalised_w1(a.sum(axis=(1, 2)), b.sum(axis=(1, 2))) < 0.05
    ref = b.sum(axis=(1, 2))
    assert metrics.normalised_w1(ref + ref.std(), ref) == pytest.approx(1.0, rel=1e-9)
    assert abs(metrics.mmd_rbf(a[:500], b[:500])) < 0.01
    assert metrics.mmd_rbf(a[:500] + 1.0, b[:500]) > 0.05
    assert metrics.covariance_error(a, exact=np.eye(4)) < 0.05
    assert metrics.covariance_error(2 * a, exact=np.eye(4)) == pytest.approx(3.0, rel=0.05)
    assert metrics.two_point_error(a, exact=np.eye(4)) < 0.05
    assert metrics.two_point_error(np.concatenate([a, a], axis=2), exact=2 * np.eye(4)) == pytest.approx(0.5, abs=0.03)
    unit = a / np.abs(a)
    assert metrics.unit_norm_violation(unit) == 0.0
    assert metrics.unit_norm_violation(2 * unit) == 1.0
    assert metrics.memorisation_ratio(b[:200], b, a[:200]) == 0.0
    assert metrics.memorisation_ratio(a[:200], b, a[200:400]) == pytest.approx(1.0, abs=0.15)
    lap = grid((4,)).laplacian.toarray()
    np.testing.assert_allclose(metrics.smoothness(np.ones((2, 4, 1)), lap), 0.0)


@pytest.mark.parametrize("name", sorted(BASELINES))
@pytest.mark.parametrize("unit_norm", [False, True])
def test_baselines_shapes_and_statistics(name, unit_norm):
    rng = np.random.default_rng(0)
    train = rng.standard_normal((2000, 5, 3)) * np.arange(1, 6)[None, :, None]
    x = BASELINES[name](train, 3000, rng, unit_norm)
    assert x.shape == (3000, 5, 3) and np.all(np.isfinite(x))
    if name in ("iid_gaussian", "full_gaussian"):
        np.testing.assert_allclose(x.std(axis=0), train.std(axis=0), rtol=0.1)
    if name == "uniform" and unit_norm:
        np.testing.assert_allclose(np.linalg.norm(x, axis=-1), 1.0)
