"""The stated iteration bounds of the report's cold-start Benamou–Brenier and JKO runs: they pass at HEAD and catch
solvers that still converge, only later (a worse starting point, a smaller primal step), which the value checks
and the warm/cold ratios cannot see."""
from __future__ import annotations

import numpy as np

from eulerian.benamou_brenier import benamou_brenier
from tests.verify.mutants import mutated
from verify import gaussian as G
from verify.cases import benamou_brenier_cases as B
from verify.cases import jko_cases as J


def anisotropic_cells():
    grid, g0, g1 = B.anisotropic_problem()
    return grid, B.gaussian_cells(grid, g0), B.gaussian_cells(grid, g1)


def test_bb_bound_passes_the_default_start_and_catches_a_worse_one(monkeypatch):
    """The start (1 - t) a0 - t a1 (sign slip) still converges to the same W2², in ~15 % more primal-dual
    iterations (1 860 against 1 590 at float64, bound 1 750)."""
    grid, rho0, rho1 = anisotropic_cells()
    bound = B.BB_ITERATION_BOUNDS["2d primal-dual"]
    good = benamou_brenier(grid, rho0, rho1, 16, method="primal-dual", dtype="float64")
    assert B.check_bb_iterations("default start", good, bound).passed, good.iterations
    mod = mutated(monkeypatch, "eulerian.benamou_brenier", "V[0][...] = (1 - t) * a0[None] + t * a1[None]",
                  "V[0][...] = (1 - t) * a0[None] - t * a1[None]")
    bad = mod.benamou_brenier(grid, rho0, rho1, 16, method="primal-dual", dtype="float64")
    assert bad.converged and abs(bad.w2_squared - good.w2_squared) <= 1e-5 * good.w2_squared
    assert not B.check_bb_iterations("worse start", bad, bound).passed, bad.iterations


def test_bb_bound_fails_a_run_that_did_not_converge():
    grid, rho0, rho1 = anisotropic_cells()
    res = benamou_brenier(grid, rho0, rho1, 16, method="primal-dual", max_iter=20)
    assert not res.converged
    check = B.check_bb_iterations("capped", res, 10_000)
    assert not check.passed and check.value == np.inf


def cold_flow(jko_flow=J.jko_flow):
    """The cold flow of jko-vs-fokker-planck in quick mode (32 cells, tau = 1/32, 8 steps)."""
    grid = J._grid_1d(32)
    g0 = G.Gaussian(J.OU["mean"], J.OU["var"])
    rho0 = grid.cell_averages(lambda x: g0.pdf(x))
    return jko_flow(grid, rho0, 0.25 / 8, 0.25, potential=J._potential_1d(J.OU), diffusion=J.OU["D"],
                    time_steps=J.FLOW_TIME_STEPS, tol=J.FLOW_TOL, warm_start=False)


def test_cold_flow_bound_catches_a_smaller_primal_step(monkeypatch):
    """The primal step of JKO's Chambolle–Pock halved (max(2, ...) for max(1, ...)): every step converges, in about
    twice the iterations (14 930 against 7 690 over 8 steps, bound 8 300). The default flow passes the bound in
    the quick report, which tests/test_option_coverage.py runs whole."""
    bound = J.COLD_FLOW_ITERATIONS[True]
    mod = mutated(monkeypatch, "eulerian.jko", "tau_p = 0.99 / (sigma * max(1.0,", "tau_p = 0.99 / (sigma * max(2.0,")
    bad = cold_flow(mod.jko_flow)
    assert bool(np.all(bad.converged))
    assert not J.check_cold_iterations("halved primal step", bad, bound).passed, bad.iterations
