"""The pure check functions of verify/cases/eulerian_cases.py, each with a negative test."""
import numpy as np

from eulerian import Grid, solve_fokker_planck
from verify.cases import eulerian_cases as ec
from verify.harness import run_case
from verify.problems import get_problem


def test_check_agreement_and_mass_flag_wrong_values():
    a = np.ones((4, 4))
    assert ec.check_agreement("same", a, a + 1e-12).passed
    assert not ec.check_agreement("different", a, a + 1e-6).passed
    p = get_problem("ou-1d")
    grid = Grid((-6.0,), (6.0,), (32,))
    sol = solve_fokker_planck(grid, p.initial_density, p.drift, 0.5, 0.5, 4)
    assert ec.check_mass("conservative", sol).passed
    sol.mass = sol.mass * np.linspace(1.0, 1.0 + 1e-9, sol.mass.size)  # a leaking scheme
    assert not ec.check_mass("leaking", sol).passed
    sol.min_density = -1e-3
    assert not ec.check_nonnegative("negative", sol).passed


def test_equilibrium_check_flags_central_flux():
    grid, drift, D, rho_eq = ec.gibbs_problem()
    assert ec.check_equilibrium("sg", ec.gibbs_deviation(grid, drift, D, rho_eq, "scharfetter-gummel", "bdf2")).passed
    assert not ec.check_equilibrium("central", ec.gibbs_deviation(grid, drift, D, rho_eq, "central", "bdf2")).passed


def test_gaussian_moment_check_flags_a_wrong_law():
    g0 = get_problem("ou-2d").initial
    grid = Grid((-6.0, -6.0), (6.0, 6.0), (32, 32))
    rho = grid.cell_averages(g0.pdf)
    assert all(c.passed for c in ec.check_gaussian_moments("right", grid, rho, g0, tol=1e-4))
    wrong = ec.G.Gaussian(g0.mean, g0.cov * 1.01)
    assert not all(c.passed for c in ec.check_gaussian_moments("wrong", grid, rho, wrong, tol=1e-4))


def test_equilibrium_case_runs_and_passes():
    result = run_case("equilibrium", quick=True)
    assert result.error is None and all(c.passed for c in result.checks)
