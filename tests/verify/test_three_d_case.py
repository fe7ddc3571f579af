"""The 3D report case (verify/cases/three_d.py): it passes, and each of its checks flags a wrong scheme or value."""
import functools
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from verify import gaussian as G
from verify.cases import three_d as tc
from verify.harness import CaseContext
from verify.problems import grid_for


@dataclass(frozen=True)
class WrongDiffusion(tc.FokkerPlanck3DSolver):
    """Solves with D 10 % too large: a consistent-looking scheme for the wrong equation."""

    factor: float = 1.1

    def __call__(self, problem, grid, steps):
        return super().__call__(problem.with_(diffusion=problem.diffusion * self.factor), grid, steps)


def _order_checks(ctx):
    return [c for c in ctx.checks if "L1 order" in c.name]


def test_the_3d_box_is_anisotropic():
    """(The quick case itself, with its two orders near 2, is run by tests/test_option_coverage.py.)"""
    problem = tc.ou_3d_problem()
    grid = grid_for(problem, 16)
    assert grid.shape == (16, 12, 20) and len(set(grid.spacing)) == 3


def test_order_verdict_flags_a_wrong_diffusion():
    ctx = CaseContext("wrong-diffusion", quick=True)
    tc.run_ou_3d(ctx, "D x 1.1", WrongDiffusion(time="douglas-adi"), tc.QUICK_LEVELS)
    (order,) = _order_checks(ctx)
    assert not order.passed and order.value < 1.0  # the error stalls at the O(1) model error
    assert not all(c.passed for c in ctx.checks if "|cov - exact|" in c.name)


def test_order_verdict_flags_a_first_order_time_scheme():
    ctx = CaseContext("implicit-euler", quick=True)
    tc.run_ou_3d(ctx, "implicit Euler", tc.FokkerPlanck3DSolver(time="implicit-euler"), tc.QUICK_LEVELS)
    (order,) = _order_checks(ctx)
    assert not order.passed and order.value < 1.7


def test_moment_check_flags_a_wrong_law():
    problem = tc.ou_3d_problem()
    grid = grid_for(problem, 16)
    rho = problem.exact_cell_averages(grid)
    from verify.cases.eulerian_cases import check_gaussian_moments

    exact = problem.exact_law()
    assert all(c.passed for c in check_gaussian_moments("right", grid, rho, exact, tol=5e-3))
    wrong = G.linear_sde(problem.initial, problem.drift, 0.55, problem.t_final)
    assert not all(c.passed for c in check_gaussian_moments("wrong", grid, rho, wrong, tol=5e-3))


def test_solver_path_check_flags_another_solver():
    sol = SimpleNamespace(info={"solver": "lu"})
    assert not tc.check_solver_used("lu instead", sol, "multigrid").passed
    assert tc.check_solver_used("right", SimpleNamespace(info={"solver": "multigrid"}), "multigrid").passed


def test_iteration_bound_flags_a_weakened_smoother_in_3d(monkeypatch):
    import eulerian.fokker_planck as fpm
    from eulerian.multigrid import MultigridSolver
    from verify.cases.eulerian_cases import check_multigrid_iterations

    problem = tc.ou_3d_problem()
    grid = grid_for(problem, 24)
    good = tc.FokkerPlanck3DSolver(solver="multigrid")(problem, grid, 12)
    assert check_multigrid_iterations("default", good, tc.MULTIGRID_MAX_ITERATIONS_3D).passed
    monkeypatch.setattr(fpm, "MultigridSolver", functools.partial(MultigridSolver, omega=0.04))  # 20x weaker
    weak = tc.FokkerPlanck3DSolver(solver="multigrid")(problem, grid, 12)
    assert not check_multigrid_iterations("weak", weak, tc.MULTIGRID_MAX_ITERATIONS_3D).passed


# W2² of the 16³ x 16 run of the full case (benchmarks/benamou_brenier_3d.py, default stopping: converged after
# 2230 iterations), relative error +6.05e-3 against the exact Gaussian value
BB_16_W2_SQUARED = 0.08541626


def test_bb_value_check_flags_wrong_references():
    res = SimpleNamespace(w2_squared=BB_16_W2_SQUARED, converged=True, iterations=2230, seconds=8.4, status="")
    exact = G.w2_squared(tc.BB_G0, tc.BB_G1)
    assert tc.check_bb_value("exact", res, exact, tc.BB_RTOL_16).passed
    # the 1/2 convention, and the translation part alone (no Bures term for the covariances)
    assert not tc.check_bb_value("half", res, exact / 2, tc.BB_RTOL_16).passed
    mean_only = float(np.sum((tc.BB_G0.mean - tc.BB_G1.mean) ** 2))
    assert not tc.check_bb_value("means only", res, mean_only, tc.BB_RTOL_16).passed
    not_converged = SimpleNamespace(**{**res.__dict__, "converged": False, "status": "max_iter"})
    assert not tc.check_bb_value("not converged", not_converged, exact, tc.BB_RTOL_16).passed


def test_gelbrich_value_of_fine_data_is_the_exact_w2():
    from eulerian.grid import Grid
    from verify.cases.benamou_brenier_cases import gaussian_cells

    grid = Grid((0.0,) * 3, (1.0,) * 3, (16,) * 3)
    exact = G.w2_squared(tc.BB_G0, tc.BB_G1)
    gel = tc.gelbrich_w2_squared(grid, gaussian_cells(grid, tc.BB_G0), gaussian_cells(grid, tc.BB_G1))
    assert abs(gel - exact) / exact < 2e-5  # truncation and cell averages change the moments by ~5e-6 relative
    shifted = gaussian_cells(grid, G.Gaussian(tc.BB_G1.mean + 0.01, tc.BB_G1.cov))
    assert abs(tc.gelbrich_w2_squared(grid, gaussian_cells(grid, tc.BB_G0), shifted) - exact) / exact > 1e-2
