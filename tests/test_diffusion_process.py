"""Graph diffusion: graphs, exact Φ(t)/Σ(t) against expm / Van Loan, Euler reference, noising moments."""

import numpy as np
import pytest
from scipy.linalg import expm, solve_continuous_lyapunov

from engine.diffusion.graphs import from_edges, grid, random_geometric, ring
from engine.diffusion.process import LaplacianDiffusion, ProcessConfig, euler_reference
from engine.errors import InputError


def van_loan(generator: np.ndarray, b: float):
    """Φ, Σ of dX = -½ M X du + dW_u over u ∈ [0, b] by Van Loan's block exponential."""
    n = len(generator)
    a = -0.5 * generator
    block = np.block([[-a, np.eye(n)], [np.zeros((n, n)), a.T]]) * b
    e = expm(block)
    phi = e[n:, n:].T
    return phi, phi @ e[:n, n:]


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("mass", [1.0, 0.0])
@pytest.mark.parametrize("graph", [ring(6), grid((3, 3), periodic=True), random_geometric(10, 0.6, seed=2)],
                         ids=["ring", "torus", "rgg"])
def test_phi_sigma_match_expm_and_van_loan(graph, mass, schedule):
    process = LaplacianDiffusion(graph.laplacian, ProcessConfig(gamma=0.7, mass=mass, schedule=schedule))
    generator = mass * np.eye(graph.n_nodes) + 0.7 * graph.laplacian.toarray()
    for t in (0.05, 0.2, 0.4):  # Van Loan's block exponential loses accuracy once exp(a B / 2) is huge
        b = float(process.integrated_beta(t))
        phi_ref, sigma_ref = van_loan(generator, b)
        np.testing.assert_allclose(process.phi_matrix(t), expm(-0.5 * b * generator), atol=1e-10)
        np.testing.assert_allclose(process.phi_matrix(t), phi_ref, atol=1e-8)
        np.testing.assert_allclose(process.sigma_matrix(t), sigma_ref, atol=1e-8)
    if mass > 0:  # at t = 1: Σ = Σ∞ - Φ Σ∞ Φᵀ with the Lyapunov solution A Σ∞ + Σ∞ Aᵀ + I = 0
        stationary = solve_continuous_lyapunov(-0.5 * generator, -np.eye(graph.n_nodes))
        phi = process.phi_matrix(1.0)
        np.testing.assert_allclose(process.sigma_matrix(1.0), stationary - phi @ stationary @ phi.T, atol=1e-9)
    if mass == 0.0:  # the zero mode is Brownian motion: Σ_0 = B(t)
        np.testing.assert_allclose(process.sigma(0.5)[0], process.integrated_beta(0.5))


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_beta_is_derivative_of_integrated_beta(schedule):
    process = LaplacianDiffusion(ring(4).laplacian, ProcessConfig(schedule=schedule))
    t = np.linspace(0.05, 0.95, 7)
    h = 1e-6
    numeric = (process.integrated_beta(t + h) - process.integrated_beta(t - h)) / (2 * h)
    np.testing.assert_allclose(process.beta(t), numeric, rtol=1e-5)


def test_euler_reference_converges_to_exact_at_first_order():
    process = LaplacianDiffusion(grid((3, 3)).laplacian, ProcessConfig())
    times = [0.2, 0.5]
    errors = []
    for steps in (200, 400):
        phis, sigmas = euler_reference(process, times, steps)
        errors.append(max(np.abs(sigmas[i] - process.sigma_matrix(t)).max() for i, t in enumerate(times)))
    assert errors[1] < 0.6 * errors[0] and errors[1] < 5e-3


def test_forward_noising_has_exact_moments():
    graph = grid((3, 3))
    process = LaplacianDiffusion(graph.laplacian, ProcessConfig(gamma=1.5))
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((graph.n_nodes, 2))
    batch = np.broadcast_to(x0, (40_000, *x0.shape))
    xt, eps = process.noise(batch, np.full(len(batch), 0.3), rng)
    np.testing.assert_allclose(xt.mean(axis=0), process.phi_matrix(0.3) @ x0, atol=0.02)
    centred = xt[..., 0] - xt[..., 0].mean(axis=0)
    np.testing.assert_allclose(centred.T @ centred / len(xt), process.sigma_matrix(0.3), atol=0.02)
    assert abs(eps.std() - 1) < 0.01


def test_graph_builders_and_laplacians():
    assert len(grid((5, 5)).edges) == 40
    assert len(grid((4, 4), periodic=True).edges) == 32
    assert len(grid((3, 3, 3)).edges) == 54
    assert len(ring(7).edges) == 7
    for graph in (grid((4,)), grid((3, 4), periodic=True), ring(5), random_geometric(20, 0.5, seed=1)):
        lap = graph.laplacian.toarray()
        np.testing.assert_allclose(lap.sum(axis=1), 0, atol=1e-12)
        np.testing.assert_allclose(lap, lap.T)
        assert np.linalg.eigvalsh(lap)[1] > 1e-9  # connected: one zero eigenvalue


@pytest.mark.parametrize("edges,n,message", [
    ([[0, 0], [0, 1]], 2, "self-loop"),
    ([[0, 1], [2, 3]], 4, "connected"),
    ([[0, 5]], 3, "node indices"),
    ([[0, 1]], 10_000, "n_nodes"),
    ([[0.5, 1]], 2, "integer"),
])
def test_edge_list_validation_names_the_problem(edges, n, message):
    with pytest.raises(InputError, match=message):
        from_edges(edges, n)


def test_bad_process_config_is_an_input_error():
    with pytest.raises(InputError, match="schedule"):
        ProcessConfig(schedule="quadratic")
    with pytest.raises(InputError, match="gamma"):
        ProcessConfig(gamma=-1)
