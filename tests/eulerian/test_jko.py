"""Grid JKO steps and flows (eulerian.jko): exact references, conservation, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft

from eulerian.benamou_brenier import default_tol
from eulerian.errors import NumericalError
from eulerian.grid import Grid
from eulerian.jko import FreeEndGrid, JKOFlowResult, PowerEnergy, free_energy, jko_flow, jko_step
from verify import gaussian as G

H, B, D = 1.0, 0.5, 0.5


def V1(x):
    return 0.5 * H * x[..., 0] ** 2 + B * x[..., 0]


def grid1(n=32):
    return Grid((-4.5,), (5.5,), (n,))


def gauss_rho(grid, g):
    return grid.cell_averages(lambda x: g.pdf(x))


# -- the free-end projection --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, periodic", [((7,), False), ((6, 5), False), ((8,), True), ((6, 4), True)])
def test_free_end_projection_is_orthogonal_and_exact(shape, periodic):
    fg = FreeEndGrid(shape, tuple(1.0 / n for n in shape), 5, periodic, np, scipy.fft, 1, poisson="dct")
    rng = np.random.default_rng(1)
    a0 = rng.random(shape)
    X = [rng.standard_normal(z.shape) for z in fg.zeros_staggered()]
    Y = [rng.standard_normal(z.shape) for z in fg.zeros_staggered()]
    PX, PY = fg.project_free(X, a0), fg.project_free(Y, a0)
    assert fg.free_divergence_residual(PX, a0) < 1e-12
    assert np.abs(PX[0][0] - a0).max() == 0.0
    again = fg.project_free(PX, a0)
    assert max(np.abs(a - b).max() for a, b in zip(again, PX)) < 1e-13
    assert abs(sum(np.sum((x - px) * (py - px)) for x, px, py in zip(X, PX, PY))) < 1e-11


# -- one step against exact references ------------------------------------------------------------------------
def test_step_matches_exact_gaussian_iterate_to_grid_accuracy():
    g0 = G.Gaussian(1.0, 0.25)
    g1 = G.jko_gaussian_step(g0, H, B, D, 0.2)
    grid = grid1(32)
    res = jko_step(grid, gauss_rho(grid, g0), 0.2, potential=V1, diffusion=D)
    h = grid.spacing[0]
    err = np.abs(res.density - gauss_rho(grid, g1)).sum() * h
    assert res.converged and res.status == "converged"
    assert err <= 0.2 * h * h            # frozen constant of the report case (measured 0.098 h^2 here)
    assert abs(grid.mass(res.density) - grid.mass(gauss_rho(grid, g0))) < 1e-12
    assert res.density.min() > 0
    assert res.w2_squared == pytest.approx(G.w2_squared(g0, g1), rel=0.05)
    assert res.objective == pytest.approx(res.w2_squared / 0.4 + res.energy, rel=1e-14)
    assert res.path.shape == (9, 32) and np.array_equal(res.path[0], gauss_rho(grid, g0))
    assert res.energy < res.energy_start


def test_pure_potential_step_is_implicit_euler_of_the_particles():
    """D = 0, V = x²/2: the step pushes N(m, s²) to N(m / (1 + τ), s² / (1 + τ)²) (theory Eq. 14)."""
    g0 = G.Gaussian(1.0, 0.25)
    grid = grid1(32)
    tau = 0.2
    res = jko_step(grid, gauss_rho(grid, g0), tau, potential=lambda x: 0.5 * x[..., 0] ** 2, diffusion=0.0,
                   tol=1e-4)
    assert grid.mean(res.density)[0] == pytest.approx(1.0 / 1.2, abs=2e-3)
    assert grid.covariance(res.density)[0, 0] == pytest.approx(0.25 / 1.44, rel=2e-2)


def test_zero_energy_leaves_the_density_in_place():
    grid = grid1(16)
    rho = gauss_rho(grid, G.Gaussian(0.0, 1.0))
    res = jko_step(grid, rho, 0.1)
    assert np.abs(res.density - rho).max() < 1e-12 and res.w2_squared < 1e-20


def test_power_energy_equilibrium_is_a_fixed_point():
    """F = ∫Vρ + ∫ρ^m/(m−1): ρ = ((C − V)(m−1)/m)_+^(1/(m−1)) (V + g'(ρ) = C on the support) does not move."""
    m = 2.0
    grid = grid1(32)
    x = grid.centers()[..., 0]
    Vx = 0.5 * x**2
    rho = np.maximum((1.0 - Vx) * (m - 1) / m, 0.0) ** (1 / (m - 1))   # not rescaled: C = 1 fixes the mass
    res = jko_step(grid, rho, 0.2, potential=0.5 * x**2, internal=("power", m))
    assert np.abs(res.density - rho).sum() * grid.cell_volume <= default_tol(grid, 8) * grid.mass(rho)
    moved = jko_step(grid, rho, 0.2, potential=0.5 * x**2, internal=PowerEnergy(m, coefficient=4.0))
    assert np.abs(moved.density - rho).sum() * grid.cell_volume > 1e-2   # a different energy moves it


def test_power_energy_spreads_and_dissipates():
    grid = grid1(32)
    rho = gauss_rho(grid, G.Gaussian(0.5, 0.2))
    flow = jko_flow(grid, rho, 0.05, 0.1, internal=("power", 2.0), tol=1e-4)
    assert isinstance(flow, JKOFlowResult)
    assert np.all(np.diff(flow.energies) < 0)
    assert grid.covariance(flow.densities[-1])[0, 0] > 0.2
    assert np.all(-np.diff(flow.energies) >= flow.w2_squared / (2 * 0.05))
    assert abs(grid.mass(flow.densities[-1]) - 1.0) < 1e-8
    assert flow.densities.min() >= 0.0


def test_free_energy_matches_the_gaussian_closed_form():
    g = G.Gaussian(0.5, 0.3)
    grid = Grid((-6.0,), (7.0,), (400,))
    rho = grid.point_values(lambda x: g.pdf(x))
    F = free_energy(grid, rho, potential=V1, diffusion=D)
    assert F == pytest.approx(G.gaussian_free_energy(g, H, B, D), abs=1e-4)


# -- the flow ------------------------------------------------------------------------------------------------
def test_flow_fields_and_first_steps_against_exact_iterates():
    g0 = G.Gaussian(1.0, 0.25)
    grid = grid1(32)
    flow = jko_flow(grid, gauss_rho(grid, g0), 0.1, 0.2, potential=V1, diffusion=D, time_steps=2, tol=1e-4)
    assert flow.times.tolist() == pytest.approx([0.0, 0.1, 0.2])
    assert flow.densities.shape == (3, 32) and flow.w2_squared.shape == (2,)
    assert flow.converged.all() and flow.status == "converged" and len(flow.statuses) == 2
    exact = G.jko_gaussian(g0, H, B, D, 0.1, 2)
    for k in (1, 2):
        assert grid.mean(flow.densities[k])[0] == pytest.approx(exact[k].mean[0], abs=1e-3)
    assert flow.dissipation.shape == (2,) and np.all(flow.dissipation > 0)
    assert np.all(flow.metric_dissipation > 0)
    cold = jko_flow(grid, gauss_rho(grid, g0), 0.1, 0.2, potential=V1, diffusion=D, time_steps=2, tol=1e-4,
                    warm_start=False)
    # warm and cold starts stop at different points within the tolerance: they agree to the grid's accuracy
    assert np.abs(cold.densities[-1] - flow.densities[-1]).sum() * grid.cell_volume < 0.1 * grid.spacing[0] ** 2


def test_non_converged_step_raises_or_is_reported():
    grid = grid1(16)
    rho = gauss_rho(grid, G.Gaussian(1.0, 0.25))
    with pytest.raises(NumericalError, match="did not converge"):
        jko_step(grid, rho, 0.2, potential=V1, diffusion=D, max_iter=20)
    res = jko_step(grid, rho, 0.2, potential=V1, diffusion=D, max_iter=20, on_failure="return")
    assert not res.converged and "max_iter=20" in res.status
    with pytest.raises(NumericalError, match="step 1 of 2"):
        jko_flow(grid, rho, 0.1, 0.2, potential=V1, diffusion=D, max_iter=20)
    flow = jko_flow(grid, rho, 0.1, 0.2, potential=V1, diffusion=D, max_iter=20, on_failure="return")
    assert flow.status.startswith("step 1 of 2 did not converge") and len(flow.times) == 2
    assert not flow.converged[0]


def test_periodic_heat_step_conserves_mass_and_symmetry():
    grid = Grid((-3.0,), (3.0,), (32,))
    rho = gauss_rho(grid, G.Gaussian(0.0, 0.3))
    res = jko_step(grid, rho, 0.1, diffusion=0.5, boundary="periodic")
    assert abs(grid.mass(res.density) - grid.mass(rho)) < 1e-12
    assert np.abs(res.density - res.density[::-1]).max() < 1e-4
    var = grid.covariance(res.density)[0, 0]
    s1 = 0.5 * (math.sqrt(0.3) + math.sqrt(0.3 + 4 * 0.5 * 0.1))
    assert var == pytest.approx(s1**2, rel=2e-2)


def test_2d_step_runs_and_conserves_mass():
    Hm = np.array([[1.5, 0.5], [0.5, 1.0]])
    grid = Grid((-3.5, -4.0), (4.0, 3.5), (12, 12))
    g0 = G.Gaussian([0.8, -0.5], [[0.3, 0.1], [0.1, 0.2]])
    rho = gauss_rho(grid, g0)
    res = jko_step(grid, rho, 0.2, potential=lambda x: 0.5 * np.einsum("...i,ij,...j->...", x, Hm, x),
                   diffusion=0.5, time_steps=2)
    g1 = G.jko_gaussian_step(g0, Hm, None, 0.5, 0.2)
    assert abs(grid.mass(res.density) - 1.0) < 1e-6
    np.testing.assert_allclose(grid.mean(res.density), g1.mean, atol=2e-2)


@pytest.mark.gpu
def test_cupy_matches_numpy(cupy):
    grid = grid1(32)
    rho = gauss_rho(grid, G.Gaussian(1.0, 0.25))
    a = jko_step(grid, rho, 0.2, potential=V1, diffusion=D)
    b = jko_step(grid, rho, 0.2, potential=V1, diffusion=D, backend="cupy")
    assert np.abs(a.density - b.density).max() < 1e-10


# -- bad input -----------------------------------------------------------------------------------------------
def _rho():
    grid = grid1(16)
    return grid, gauss_rho(grid, G.Gaussian(1.0, 0.25))


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"tau": 0.0}, ValueError, "tau"),
    ({"tau": -0.1}, ValueError, "tau"),
    ({"tau": float("nan")}, ValueError, "tau"),
    ({"tau": 1j}, TypeError, "tau"),
    ({"diffusion": -0.5}, ValueError, "diffusion"),
    ({"internal": ("power", 1.0)}, ValueError, "m must be a finite number > 1"),
    ({"internal": ("power", 0.5)}, ValueError, "> 1"),
    ({"internal": PowerEnergy}, TypeError, "internal"),
    ({"internal": ("heat", 2.0)}, ValueError, "power"),
    ({"internal": ("power", 2.0, -1.0)}, ValueError, "coefficient"),
    ({"potential": np.zeros(15)}, ValueError, "shape"),
    ({"potential": lambda x: x}, ValueError, "shape"),
    ({"potential": np.full(16, np.nan)}, ValueError, "NaN"),
    ({"potential": np.zeros(16) + 0j}, TypeError, "real"),
    ({"time_steps": 1}, ValueError, "time_steps"),
    ({"sigma": 1e9}, ValueError, "sigma"),
    ({"relaxation": 2.0}, ValueError, "relaxation"),
    ({"boundary": "dirichlet"}, ValueError, "boundary"),
    ({"on_failure": "ignore"}, ValueError, "on_failure"),
    ({"warm_start": "yes"}, TypeError, "warm_start"),
])
def test_step_bad_input(kwargs, exc, match):
    grid, rho = _rho()
    args = {"tau": 0.1, "diffusion": 0.5} | kwargs
    tau = args.pop("tau")
    with pytest.raises(exc, match=match):
        jko_step(grid, rho, tau, **args)


def test_bad_densities():
    grid, rho = _rho()
    bad = rho.copy()
    bad[3] = -1e-3
    with pytest.raises(ValueError, match="negative"):
        jko_step(grid, bad, 0.1, diffusion=0.5)
    with pytest.raises(ValueError, match="zero mass"):
        jko_step(grid, np.zeros(16), 0.1, diffusion=0.5)
    with pytest.raises(ValueError, match="shape"):
        jko_step(grid, rho[:-1], 0.1, diffusion=0.5)
    with pytest.raises(TypeError):
        jko_step(grid, rho + 0j, 0.1, diffusion=0.5)
    with pytest.raises(TypeError, match="Grid"):
        jko_step("grid", rho, 0.1, diffusion=0.5)


def test_flow_bad_input():
    grid, rho = _rho()
    with pytest.raises(ValueError, match="whole number"):
        jko_flow(grid, rho, 0.3, 1.0, diffusion=0.5)
    with pytest.raises(ValueError, match="t_final"):
        jko_flow(grid, rho, 0.1, -1.0, diffusion=0.5)
    with pytest.raises(ValueError, match="tau"):
        jko_flow(grid, rho, 0.0, 1.0, diffusion=0.5)
    with pytest.raises(ValueError, match="> 1"):
        jko_flow(grid, rho, 0.1, 0.1, internal=("power", 1.0))
    with pytest.raises(TypeError, match="warm_start"):
        jko_flow(grid, rho, 0.1, 0.1, diffusion=0.5, warm_start=1)
    with pytest.raises(ValueError, match="diffusion"):
        jko_flow(grid, rho, 0.1, 0.1, diffusion=-1.0)
    with pytest.raises(ValueError, match="shape"):
        free_energy(grid, rho, potential=np.zeros((2, 8)))


def test_warm_start_from_another_grid_is_refused():
    grid, rho = _rho()
    prev = jko_step(grid, rho, 0.1, diffusion=0.5)
    other = grid1(32)
    with pytest.raises(ValueError, match="warm_start"):
        jko_step(other, gauss_rho(other, G.Gaussian(1.0, 0.25)), 0.1, diffusion=0.5, warm_start=prev)
