"""eulerian.porous_medium: conservation, positivity, energy decay, accuracy against Barenblatt, time orders, drift
steady state and bad input."""
import numpy as np
import pytest

from eulerian.backend import cupy_available
from eulerian.errors import BackendUnavailable, CFLError
from eulerian.grid import Grid
from eulerian.porous_medium import porous_medium_energy, solve_porous_medium
from verify.barenblatt import Barenblatt
from verify.convergence import fit_order


def _bb(d=1, m=2.0):
    return Barenblatt(m, d, t0=0.05)


def _setup(N=64, d=1, m=2.0, L=2.0):
    b = _bb(d, m)
    g = Grid((-L,) * d, (L,) * d, (N,) * d)
    return b, g, g.cell_averages(lambda x: b.density(0.0, x))


def _l1(g, a, b):
    return float(np.abs(a - b).sum() * g.cell_volume)


def test_barenblatt_1d_second_order_and_invariants():
    b, errors, hs = _bb(), [], []
    for N in (48, 96, 192):
        _, g, r0 = _setup(N)
        sol = solve_porous_medium(g, r0, 2.0, 0.5)
        exact = g.cell_averages(lambda x: b.density(0.5, x))
        errors.append(_l1(g, sol.to_numpy(), exact))
        hs.append(g.spacing[0])
        assert sol.mass_drift < 1e-13
        assert sol.min_density >= 0.0
        assert np.all(np.diff(sol.info["energy"]) <= 0.0)
        assert sol.info["energy"][0] == pytest.approx(porous_medium_energy(g, r0, 2.0), rel=1e-14)
    # measured 2.52e-3, 7.01e-4, 1.84e-4 (L1); observed order 1.89
    assert errors[-1] < 2.0e-4
    assert 1.8 < fit_order(hs, errors).order < 2.1


def test_upwind_reconstruction_is_first_order():
    b, errors, hs = _bb(), [], []
    for N in (32, 64, 128):
        _, g, r0 = _setup(N)
        sol = solve_porous_medium(g, r0, 2.0, 0.5, reconstruction="upwind")
        errors.append(_l1(g, sol.to_numpy(), g.cell_averages(lambda x: b.density(0.5, x))))
        hs.append(g.spacing[0])
    # measured 4.28e-2, 2.40e-2, 1.29e-2: order 0.86, approaching 1 from below
    assert 0.8 < fit_order(hs, errors).order < 1.1


def test_barenblatt_2d_m3_and_symmetry():
    b, g, r0 = _setup(40, d=2, m=3.0, L=1.5)
    sol = solve_porous_medium(g, r0, 3.0, 0.2)
    rho = sol.to_numpy()
    np.testing.assert_allclose(rho, rho.T, rtol=0, atol=1e-14 * rho.max())
    np.testing.assert_allclose(rho, rho[::-1], rtol=0, atol=1e-14 * rho.max())
    exact = g.cell_averages(lambda x: b.density(0.2, x))
    assert _l1(g, rho, exact) < 0.01  # measured 4.6e-3 (the sqrt edge of m = 3)
    assert np.trace(g.covariance(rho)) == pytest.approx(b.second_moment(0.2), rel=0.02)
    assert sol.mass_drift < 1e-13 and sol.min_density >= 0


@pytest.mark.parametrize("scheme,order", [("euler", 1.0), ("ssp-rk2", 2.0)])
def test_time_orders(scheme, order):
    _, g, r0 = _setup(48)
    T, base = 0.1, 92  # 92 steps: the adaptive count at cfl = 0.5 (the step condition holds)
    ref = solve_porous_medium(g, r0, 2.0, T, steps=32 * base, time=scheme).to_numpy()
    dts, errs = [], []
    for k in (1, 2, 4):
        sol = solve_porous_medium(g, r0, 2.0, T, steps=k * base, time=scheme)
        errs.append(_l1(g, sol.to_numpy(), ref))
        dts.append(T / (k * base))
    # measured 1.06 (euler) and 2.02 (ssp-rk2) against 64x the steps
    assert abs(fit_order(dts, errs).order - order) < 0.15


def test_forced_steps_breaking_the_condition_raise_cfl_error():
    _, g, r0 = _setup(64)
    with pytest.raises(CFLError, match="step condition"):
        solve_porous_medium(g, r0, 2.0, 0.5, steps=10)


def test_drift_steady_state_is_kept_and_reached():
    # d rho/dt = Lap rho^2 + div(rho x): steady states rho = max(C - x^2/2, 0) / 2 (xi = 2 rho + V constant)
    g = Grid((-3.0,), (3.0,), (60,))
    V = lambda x: 0.5 * x[..., 0] ** 2  # noqa: E731
    Vc = V(g.centers())
    steady = np.maximum(1.0 - Vc, 0.0) / 2.0
    sol = solve_porous_medium(g, steady, 2.0, 1.0, potential=V)
    assert np.abs(sol.to_numpy() - steady).max() < 1e-15
    # from a shifted bump of the same mass the flow reaches the steady state, energy decreasing
    start = np.roll(steady, 7)
    sol = solve_porous_medium(g, start, 2.0, 8.0, potential=V, save_at=[2.0, 4.0, 6.0, 8.0])
    assert np.all(np.diff(sol.info["energy"]) <= 1e-15)
    d = np.array([_l1(g, r, steady) for r in sol.densities_numpy()])
    # exponential convergence at the rate lambda = 1 of the confinement V'' = 1 (measured ratios 7.37, 7.83, 7.84)
    np.testing.assert_allclose(d[:-1] / d[1:], np.exp(2.0), rtol=0.1)
    assert d[-1] < 3e-4
    assert sol.info["energy"][-1] == pytest.approx(porous_medium_energy(g, steady, 2.0, potential=V), rel=1e-6)
    # diffusion = D: xi = 2 D rho + V
    steady_d = np.maximum(1.0 - Vc, 0.0) / 4.0
    sol = solve_porous_medium(g, steady_d, 2.0, 0.5, potential=V, diffusion=2.0)
    assert np.abs(sol.to_numpy() - steady_d).max() < 1e-15


def test_save_at_and_solution_fields():
    _, g, r0 = _setup(32)
    sol = solve_porous_medium(g, r0, 2.0, 0.2, save_at=[0.0, 0.1, 0.2])
    np.testing.assert_allclose(sol.times, [0.0, 0.1, 0.2])
    assert len(sol.densities) == 3 and sol.mass.shape == sol.info["energy"].shape == sol.mass_times.shape
    assert sol.mass_times[-1] == pytest.approx(0.2) and 0.1 in set(np.round(sol.mass_times, 15))
    assert sol.backend == "numpy" and sol.info["time_order"] == 2


def test_bad_input():
    _, g, r0 = _setup(16)
    for m in (1.0, 0.5, -2.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="m must be"):
            solve_porous_medium(g, r0, m, 0.1)
    with pytest.raises(TypeError, match="real"):
        solve_porous_medium(g, r0, 2.0 + 1j, 0.1)
    with pytest.raises(ValueError, match="negative"):
        solve_porous_medium(g, r0 - 0.5, 2.0, 0.1)
    with pytest.raises(ValueError, match="zero mass"):
        solve_porous_medium(g, np.zeros(16), 2.0, 0.1)
    bad = r0.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        solve_porous_medium(g, bad, 2.0, 0.1)
    with pytest.raises(ValueError, match="shape"):
        solve_porous_medium(g, r0[:-1], 2.0, 0.1)
    with pytest.raises(TypeError, match="real"):
        solve_porous_medium(g, r0 + 0j, 2.0, 0.1)
    with pytest.raises(ValueError, match="t_final"):
        solve_porous_medium(g, r0, 2.0, 0.0)
    with pytest.raises(ValueError, match="diffusion"):
        solve_porous_medium(g, r0, 2.0, 0.1, diffusion=-1.0)
    with pytest.raises(ValueError, match="cfl"):
        solve_porous_medium(g, r0, 2.0, 0.1, cfl=1.5)
    with pytest.raises(ValueError, match="time"):
        solve_porous_medium(g, r0, 2.0, 0.1, time="rk4")
    with pytest.raises(ValueError, match="reconstruction"):
        solve_porous_medium(g, r0, 2.0, 0.1, reconstruction="weno")
    with pytest.raises(TypeError, match="steps"):
        solve_porous_medium(g, r0, 2.0, 0.1, steps=10.0)
    with pytest.raises(ValueError, match="max_steps"):
        solve_porous_medium(g, r0, 2.0, 10.0, max_steps=5)
    with pytest.raises(ValueError, match="potential"):
        solve_porous_medium(g, r0, 2.0, 0.1, potential=lambda x: x)
    with pytest.raises(TypeError, match="potential"):
        solve_porous_medium(g, r0, 2.0, 0.1, potential=3.0)
    with pytest.raises(TypeError, match="real"):
        solve_porous_medium(g, r0, 2.0, 0.1, potential=lambda x: x[..., 0] + 1j)
    with pytest.raises(ValueError, match="NaN"):
        solve_porous_medium(g, r0, 2.0, 0.1, potential=lambda x: np.where(x[..., 0] > 0, np.nan, 0.0))
    with pytest.raises(TypeError, match="Grid"):
        solve_porous_medium("grid", r0, 2.0, 0.1)
    with pytest.raises(ValueError, match="backend"):
        solve_porous_medium(g, r0, 2.0, 0.1, backend="jax")
    with pytest.raises(ValueError, match="save_at"):
        solve_porous_medium(g, r0, 2.0, 0.1, save_at=[0.2])


@pytest.mark.skipif(cupy_available(), reason="CuPy usable here: the refusal is not exercised")
def test_cupy_without_gpu_is_refused():
    _, g, r0 = _setup(16)
    with pytest.raises(BackendUnavailable):
        solve_porous_medium(g, r0, 2.0, 0.1, backend="cupy")


@pytest.mark.gpu
def test_cupy_matches_numpy(cupy):
    _, g, r0 = _setup(64)
    a = solve_porous_medium(g, r0, 2.0, 0.1).to_numpy()
    b = solve_porous_medium(g, r0, 2.0, 0.1, backend="cupy")
    assert b.backend == "cupy"
    np.testing.assert_allclose(b.to_numpy(), a, rtol=1e-10, atol=1e-13)
