import numpy as np
import pytest

from eulerian import CFLError, Grid, Solution, solve_continuity, solve_fokker_planck
from tests.eulerian.eulerian_helpers import affine_continuity, l1_error, mms_fokker_planck, ou_problem, slope

pytest.importorskip("fipy")


def relative_difference(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(a)).max())


def ou_pair(shape, steps=6, **kw):
    d = len(shape)
    drift, D, g0, _ = ou_problem(d)
    grid = Grid((-6.0,) * d, (6.0,) * d, shape)
    rho0 = grid.cell_averages(g0.pdf)
    a = solve_fokker_planck(grid, rho0, drift, D, 1.0, steps, **kw)
    b = solve_fokker_planck(grid, rho0, drift, D, 1.0, steps, backend="fipy", **kw)
    return a, b


@pytest.mark.parametrize("time", ["implicit-euler", "crank-nicolson", "bdf2"])
def test_fipy_matches_array_backend_2d_scharfetter_gummel(time):
    a, b = ou_pair((12, 14), time=time)
    assert isinstance(b, Solution) and b.backend == "fipy"
    assert relative_difference(a.density, b.density) < 1e-8
    assert b.mass_drift < 1e-12
    if time == "implicit-euler":  # M-matrix: positive (the second-order schemes may undershoot in the tails)
        assert b.min_density >= 0.0


@pytest.mark.parametrize("flux", ["central", "chang-cooper"])
def test_fipy_matches_array_backend_1d(flux):
    a, b = ou_pair((30,), flux=flux, time="bdf2")
    assert relative_difference(a.density, b.density) < 1e-8


@pytest.mark.parametrize("time", ["implicit-euler", "bdf2"])
def test_fipy_matches_array_backend_periodic_source_time_dependent(time):
    exact, drift, source = mms_fokker_planck()
    grid = Grid((0.0, 0.0), (2 * np.pi, 2 * np.pi), (10, 12))
    kw = dict(boundary="periodic", source=source, time=time, save_at=[0.25, 0.5])
    a = solve_fokker_planck(grid, exact(0.0), drift, 0.3, 0.5, 6, **kw)
    b = solve_fokker_planck(grid, exact(0.0), drift, 0.3, 0.5, 6, backend="fipy", **kw)
    for x, y in zip(a.densities, b.densities_numpy()):
        assert relative_difference(x, y) < 1e-8
    np.testing.assert_allclose(b.times, [0.25, 0.5])


def test_agreement_check_flags_a_different_scheme():
    """Negative check: central flux on one side, Scharfetter-Gummel on the other, differ far above 1e-8."""
    drift, D, g0, _ = ou_problem(1)
    grid = Grid((-6.0,), (6.0,), (30,))
    rho0 = grid.cell_averages(g0.pdf)
    a = solve_fokker_planck(grid, rho0, drift, D, 1.0, 6, flux="central")
    b = solve_fokker_planck(grid, rho0, drift, D, 1.0, 6, backend="fipy")
    assert relative_difference(a.density, b.density) > 1e-4


def test_fipy_fokker_planck_converges_to_exact_law():
    """FiPy (SG + BDF2, steps = N/2) against the exact OU law, 1D: second order (+-0.15)."""
    drift, D, g0, law = ou_problem(1)
    hs, errs = [], []
    for n in (24, 48, 96):
        grid = Grid((-6.0,), (6.0,), (n,))
        sol = solve_fokker_planck(grid, g0.pdf, drift, D, 1.0, n // 2, backend="fipy")
        errs.append(l1_error(grid, sol.density, grid.cell_averages(law(1.0).pdf)))
        hs.append(grid.spacing[0])
    assert abs(slope(hs, errs) - 2.0) < 0.15, errs


def test_fipy_continuity_conserves_mass_and_converges():
    field, g0, law = affine_continuity()
    hs, errs = [], []
    for n in (12, 24, 48):
        grid = Grid((-5.0, -5.0), (5.0, 5.0), (n, n))
        sol = solve_continuity(grid, g0.pdf, field, 0.5, backend="fipy")
        assert sol.mass_drift < 1e-12 and sol.backend == "fipy"
        errs.append(l1_error(grid, sol.density, grid.cell_averages(law(0.5).pdf)))
        hs.append(grid.spacing[0])
    assert slope(hs, errs) >= 1.4, errs
    arr = solve_continuity(grid, g0.pdf, field, 0.5)
    assert l1_error(grid, arr.density, sol.density) < 2 * errs[-1]


def test_fipy_continuity_forced_dt_breaking_cfl():
    field, g0, _ = affine_continuity()
    grid = Grid((-5.0, -5.0), (5.0, 5.0), (16, 16))
    with pytest.raises(CFLError):
        solve_continuity(grid, g0.pdf, field, 1.0, steps=2, backend="fipy")


def test_fipy_rejects_solver_option():
    drift, D, g0, _ = ou_problem(1)
    grid = Grid((-6.0,), (6.0,), (16,))
    with pytest.raises(ValueError, match="solver"):
        solve_fokker_planck(grid, g0.pdf, drift, D, 1.0, 2, backend="fipy", solver="lu")
