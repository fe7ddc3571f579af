"""The mean-field continuity solver (eulerian.meanfield) and the grid attention velocity (eulerian.attention)."""
import numpy as np
import pytest

from eulerian import CFLError, Grid, NumericalError, solve_continuity, solve_fokker_planck
from eulerian.attention import attention_velocity
from eulerian.meanfield import cell_quadrature, solve_meanfield
from verify import gaussian as G

GRID = Grid((-3.0, -2.5), (3.0, 2.5), (24, 20))
G0 = G.Gaussian(np.array([0.3, -0.2]), np.array([[0.3, 0.05], [0.05, 0.2]]))


def affine(t, x):
    return x @ np.array([[-0.5, 0.3], [-0.2, -0.4]]).T + np.array([0.1 * np.sin(t), 0.0])


def test_a_density_independent_velocity_reproduces_solve_continuity():
    """V[mu] = b(t, x) for every mu: the same scheme as solve_continuity, step for step."""
    a = solve_meanfield(GRID, G0.pdf, lambda t, g, rho, x: affine(t, x), 0.4, steps=20)
    b = solve_continuity(GRID, G0.pdf, affine, 0.4, steps=20)
    assert np.abs(a.to_numpy() - b.to_numpy()).max() < 1e-13
    assert a.mass_drift < 1e-13 and a.info["velocity_evaluations"] == 60


def test_diffusion_term_converges_to_the_ornstein_uhlenbeck_law():
    """dX = B X dt + sqrt(2 D) dW with V[mu] = B x: the explicit diffusion term is second order in space, like the
    implicit Fokker-Planck solver on the same grid (L1 errors against the exact Gaussian law)."""
    B = np.array([[-0.5, 0.3], [-0.2, -0.4]])
    exact = G.linear_sde(G0, G.Affine(B, np.zeros(2)), 0.2, 0.5)
    errors = []
    for n in (96, 192):   # pairwise orders 1.47, 1.75, 1.88 from n = 24: the asymptotic range starts late
        g = Grid((-4.0, -4.0), (4.0, 4.0), (n, 5 * n // 6))
        sol = solve_meanfield(g, G0.pdf, lambda t, gr, rho, x: x @ B.T, 0.5, diffusion=0.2, limiter="none")
        errors.append(np.abs(sol.to_numpy() - g.cell_averages(exact.pdf)).sum() * g.cell_volume)
    assert abs(np.log2(errors[0] / errors[1]) - 2.0) < 0.2, errors


def test_attention_velocity_equals_the_gaussian_tilt_on_a_fine_grid():
    """For mu Gaussian, Gamma[mu](x) = V (m + Sigma K^T Q x) (the exponential tilt), up to the midpoint rule."""
    Q = np.array([[0.6, 0.2], [-0.1, 0.4]])
    K = np.array([[0.5, 0.0], [0.3, 0.7]])
    V = np.array([[-0.8, 0.3], [0.1, -0.5]])
    x = np.array([[0.2, -0.1], [-1.0, 0.5], [1.5, 1.0]])
    errors = []
    for n in (32, 64):
        g = Grid((-4.0, -4.0), (4.0, 4.0), (n, n))
        rho = g.cell_averages(G0.pdf)
        out = attention_velocity(Q, K, V, chunk_bytes=4096)(0.0, g, rho, x)
        exact = (G0.mean + (G0.cov @ K.T @ Q @ x.T).T) @ V.T
        errors.append(np.abs(out - exact).max())
    assert errors[1] < errors[0] / 3.5 and errors[1] < 1e-3


def test_cell_quadrature_integrates_moments():
    rho = GRID.cell_averages(G0.pdf)
    pts, w = cell_quadrature(GRID, rho)
    assert w.sum() == pytest.approx(GRID.mass(rho))
    assert np.allclose(w @ pts / w.sum(), G0.mean, atol=1e-6)


def test_bad_input():
    with pytest.raises(TypeError, match="velocity"):
        solve_meanfield(GRID, G0.pdf, "attention", 0.1)
    with pytest.raises(ValueError, match="shape of x"):
        solve_meanfield(GRID, G0.pdf, lambda t, g, rho, x: x[:, :1], 0.1)
    with pytest.raises(NumericalError, match="non-finite"):
        solve_meanfield(GRID, G0.pdf, lambda t, g, rho, x: x * np.nan, 0.1)
    with pytest.raises(CFLError):
        solve_meanfield(GRID, G0.pdf, lambda t, g, rho, x: 100.0 * x, 0.1, steps=2)
    with pytest.raises(ValueError, match="diffusion"):
        solve_meanfield(GRID, G0.pdf, lambda t, g, rho, x: x, 0.1, diffusion=-1.0)
    with pytest.raises(ValueError, match="K must have the shape of Q"):
        attention_velocity(np.eye(2), np.eye(3), np.eye(2))
    with pytest.raises(ValueError, match="V must be"):
        attention_velocity(np.eye(2), np.eye(2), np.eye(3))
    with pytest.raises(TypeError, match="complex"):
        attention_velocity(np.eye(2) + 0j * 1j, np.eye(2), np.eye(2))


def test_save_at_lands_on_the_save_times():
    sol = solve_meanfield(GRID, G0.pdf, lambda t, g, rho, x: affine(t, x), 0.4, save_at=[0.0, 0.1337, 0.4])
    assert np.allclose(sol.times, [0.0, 0.1337, 0.4], rtol=0, atol=1e-14)
    assert np.array_equal(sol.densities_numpy()[0], GRID.cell_averages(G0.pdf))
    assert np.array_equal(sol.densities_numpy()[-1], sol.to_numpy())
    ref = solve_continuity(GRID, G0.pdf, affine, 0.4, save_at=[0.0, 0.1337, 0.4])
    assert np.allclose(sol.times, ref.times) and sol.steps == ref.steps
