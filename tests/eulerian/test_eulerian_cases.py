"""The pure check functions of verify/cases/eulerian_cases.py, each with a negative test."""
import numpy as np
import pytest

from eulerian import Grid, solve_fokker_planck
from verify.cases import eulerian_cases as ec
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


# --------------------------------------------------------------- the option cases catch wrong schemes
def _box():
    return get_problem("mms-fokker-planck-box-2d")


def test_box_problems_are_anisotropic_and_validate_their_aspect():
    from verify.problems import grid_for

    for name in ("mms-fokker-planck-box-2d", "mms-continuity-box-2d"):
        grid = grid_for(get_problem(name), 16)
        assert grid.shape == (16, 12) and grid.spacing[0] != grid.spacing[1]
    with pytest.raises(ValueError, match="aspect"):
        _box().with_(aspect=(1.0,))
    with pytest.raises(ValueError, match="aspect"):
        _box().with_(aspect=(1.0, -0.5))


def test_multigrid_iteration_bound_catches_a_weakened_smoother(monkeypatch):
    import functools

    import eulerian.fokker_planck as fpm
    from eulerian.multigrid import MultigridSolver
    from verify.adapters import FokkerPlanckSolver
    from verify.problems import grid_for

    problem, grid = _box(), grid_for(_box(), 48)
    good = FokkerPlanckSolver(solver="multigrid")(problem, grid, 48)
    assert ec.check_multigrid_iterations("default smoother", good).passed
    monkeypatch.setattr(fpm, "MultigridSolver", functools.partial(MultigridSolver, omega=0.04))  # 20x weaker
    weak = FokkerPlanckSolver(solver="multigrid")(problem, grid, 48)
    assert not ec.check_multigrid_iterations("weakened smoother", weak).passed


def test_multigrid_vs_lu_agreement_catches_a_loose_solve(monkeypatch):
    """A multigrid path that ignores the requested rtol (stops at 1e-5)."""
    import eulerian.fokker_planck as fpm
    from eulerian.multigrid import MultigridSolver
    from verify.adapters import FokkerPlanckSolver
    from verify.problems import grid_for

    problem, grid = _box(), grid_for(_box(), 24)
    lu = FokkerPlanckSolver(solver="lu")(problem, grid, 24).to_numpy()
    mg = FokkerPlanckSolver(solver="multigrid")(problem, grid, 24).to_numpy()
    assert ec.check_agreement("multigrid", lu, mg, ec.SOLVER_AGREEMENT_TOL).passed
    monkeypatch.setattr(fpm, "MultigridSolver", lambda *a, **k: MultigridSolver(*a, **{**k, "rtol": 1e-5}))
    loose = FokkerPlanckSolver(solver="multigrid")(problem, grid, 24).to_numpy()
    assert not ec.check_agreement("loose multigrid", lu, loose, ec.SOLVER_AGREEMENT_TOL).passed


def test_temporal_order_catches_a_drift_evaluated_one_step_late():
    """A user's Crank–Nicolson that evaluates the time-dependent drift and source a step late: first order."""
    from verify.convergence import convergence_study

    problem = _box()

    def late(problem, grid, steps):
        dt = problem.t_final / steps
        return solve_fokker_planck(grid, grid.cell_averages(problem.initial_density),
                                   lambda t, x: problem.drift(max(t - dt, 0.0), x), problem.diffusion,
                                   problem.t_final, steps, time="crank-nicolson",
                                   source=lambda t, x: problem.source(max(t - dt, 0.0), x))

    study = convergence_study(late, problem, (8, 16, 32, 64, 128), refine="time", cells=12)
    assert not all(c.passed for c in study.checks(2.0, ec.ORDER_BAND, name="late drift"))


def test_limiter_order_floor_catches_zero_slopes(monkeypatch):
    """MUSCL whose slopes vanish is first-order upwind: below the floor of every limiter."""
    import eulerian.continuity as cm
    from verify.adapters import ContinuitySolver
    from verify.convergence import convergence_study

    problem = get_problem("mms-continuity-box-2d")
    monkeypatch.setattr(cm, "slopes", lambda xp, dm, dp, limiter: 0.0 * dm)
    study = convergence_study(ContinuitySolver(limiter="mc"), problem, (16, 24, 32, 48, 64))
    band = (2.0 - ec.LIMITED_ORDER_FLOOR, float("inf"))
    assert not all(c.passed for c in study.checks(2.0, band, name="zero slopes"))


def test_time_order_check_catches_undamped_crank_nicolson_on_a_step():
    grid, rho0, semi = ec.heat_step_problem(200)
    steps = (10, 20, 40, 80, 160)
    assert ec.check_time_order("damped", steps, ec.time_errors(grid, rho0, semi, "crank-nicolson", steps), 2.0).passed
    undamped = ec.time_errors(grid, rho0, semi, "crank-nicolson", steps, damped_steps=0)
    assert not ec.check_time_order("undamped", steps, undamped, 2.0).passed
    ie = ec.time_errors(grid, rho0, semi, "implicit-euler", steps)
    assert not ec.check_time_order("first order", steps, ie, 2.0).passed


def test_heat_step_reference_is_the_heat_kernel():
    """The semi-discrete reference conserves mass and approaches the exact cell averages."""
    grid, rho0, semi = ec.heat_step_problem(320)
    assert abs(semi.sum() - rho0.sum()) <= 1e-10 * rho0.sum()
    exact = ec.heat_step_exact(grid, ec.STEP["T"])
    assert abs(exact.sum() * grid.cell_volume - 2.0) <= 1e-9        # the step has mass 2 a = 2
    assert np.abs(semi - exact).sum() * grid.cell_volume <= 1e-3    # measured 4.4e-4


def test_ou_moment_tolerance_is_frozen_and_flags_a_wrong_diffusion():
    """The ou-2d moment bound C h^2 does not grow with the run's own error: a scheme whose diffusion is 10 % too
    large (its L1 error, and a tolerance built from it, grow together) fails it; the right scheme passes."""
    from verify.problems import grid_for

    p = get_problem("ou-2d")
    grid = grid_for(p, 64)
    _, c_moments = ec.OU_ERROR_CONSTANTS["ou-2d"]
    tol = c_moments * max(grid.spacing) ** 2
    for factor, ok in ((1.0, True), (1.1, False)):
        sol = solve_fokker_planck(grid, p.initial_density, p.drift, factor * p.diffusion, p.t_final, 32)
        checks = ec.check_gaussian_moments("ou-2d", grid, sol.to_numpy(), p.exact_law(), tol=tol)
        assert all(c.passed for c in checks) is ok
