"""The stated iteration bounds of the report's cold-start Benamou–Brenier and JKO runs: they pass at HEAD and catch
solvers that still converge, only later (a worse starting point, a smaller primal step), which the value checks
and the warm/cold ratios cannot see."""
from __future__ import annotations

import numpy as np

from eulerian.benamou_brenier import benamou_brenier
from eulerian.errors import NumericalError
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


# ------------------------------------------------------------------------------------------------------------
# the Newton steps of the pointwise proxes (NEWTON_BOUNDS, COLD_NEWTON_STEPS)
# ------------------------------------------------------------------------------------------------------------
def gaussian_1d_cells():
    """The 1D problem of bb-gaussian-1d (64 cells)."""
    grid = B.Grid((0.0,), (1.0,), (64,))
    return grid, B.gaussian_cells_1d(grid, 0.3, 0.05), B.gaussian_cells_1d(grid, 0.7, 0.08)


def _newton_checks_pass(name, count, kind):
    return all(c.passed for c in B.check_newton_steps(name, count, kind))


def test_newton_bounds_pass_the_default_and_catch_a_stopping_test_one_step_late(monkeypatch):
    """perspective_root's stopping test from the third step on (k >= 2): the same roots, 3.0 steps per call
    instead of 2.1 (bound 2.4)."""
    import sys

    grid, rho0, rho1 = gaussian_1d_cells()
    bb_module = sys.modules["eulerian.benamou_brenier"]
    mod = mutated(monkeypatch, "eulerian.staggered", "        if k >= 1:\n            f *= active",
                  "        if k >= 2:\n            f *= active")
    for method in ("primal-dual",):    # Douglas–Rachford calls the same root through prox_perspective
        good = benamou_brenier(grid, rho0, rho1, 64, method=method)
        assert _newton_checks_pass("default", good.extras["newton"], "perspective"), good.extras["newton"]
        with monkeypatch.context() as m:
            m.setattr(bb_module, "perspective_root", mod.perspective_root)
            m.setattr(bb_module, "prox_perspective", mod.prox_perspective)
            bad = benamou_brenier(grid, rho0, rho1, 64, method=method)
        assert bad.converged and abs(bad.w2_squared - good.w2_squared) <= 1e-6 * good.w2_squared
        assert not _newton_checks_pass("late stop", bad.extras["newton"], "perspective"), bad.extras["newton"]


def test_newton_bound_catches_a_primal_dual_that_drops_the_warm_start_of_its_prox(monkeypatch):
    grid, rho0, rho1 = gaussian_1d_cells()
    mod = mutated(monkeypatch, "eulerian.benamou_brenier",
                  "r = perspective_root(W[0], W[1:], gamma, xp, guess=r, scratch=sg.scratch)",
                  "r = perspective_root(W[0], W[1:], gamma, xp, guess=None, scratch=sg.scratch)")
    bad = mod.benamou_brenier(grid, rho0, rho1, 64, method="primal-dual")
    assert bad.converged
    assert not _newton_checks_pass("cold prox", bad.extras["newton"], "perspective"), bad.extras["newton"]


def test_newton_bound_catches_jko_end_prox_without_its_warm_start(monkeypatch):
    """With entropy (Newton in log rho): the end prox warm-started from max(guess, 1) instead of the guess (the
    survivor mutmut 44 of the sample at cbbc575) takes 10 steps per call instead of 3.1 (bound 3.5), as does a
    start from the top of the bracket at every iteration. The default flow passes in the quick report."""
    mod = mutated(monkeypatch, "eulerian.jko", "x = xp.log(xp.maximum(guess, 1e-300))", "x = xp.log(xp.maximum(guess, 1.0))")
    bad = cold_flow(mod.jko_flow)
    assert bool(np.all(bad.converged))
    assert _newton_checks_pass("perspective", bad.newton["perspective"], "perspective")
    assert not _newton_checks_pass("end", bad.newton["end"], "end, entropy"), bad.newton["end"]


def test_newton_bound_catches_a_wrong_derivative_in_jko_end_prox_without_entropy(monkeypatch):
    """The porous-medium JKO flow (internal energy rho^2, no entropy: Newton in rho, exact in one step for m = 2, so
    that its warm start does not matter there) at its largest tau, with phi' = 2 + ... for 1 + ...: the
    safeguarded iteration still converges, in more steps."""
    from verify.cases import porous_medium as PM

    mod = mutated(monkeypatch, "eulerian.jko", "return r + t - c, 1.0 + e * t", "return r + t - c, 2.0 + e * t")
    monkeypatch.setattr(PM, "jko_flow", mod.jko_flow)
    bad = PM.jko_study(PM.JKO_TAUS[:1])     # the default passes in porous-medium-barenblatt (test_option_coverage)
    assert abs(bad.l1[0] - 0.0382683) <= 1e-4 * 0.0382683   # the same flow: L1 error at the largest tau as measured
    assert not _newton_checks_pass("end", bad.flows[0].newton["end"], "end, no entropy"), bad.flows[0].newton


def test_cold_newton_checks_catch_a_lost_cube_root_start_and_a_float64_round_off_floor(monkeypatch):
    import eulerian.staggered as S

    assert all(c.passed for c in B.staggered_checks(S))
    for old, new in (("            upper[low_c] = xp.minimum(upper[low_c], xp.cbrt(q[low_c]) - two_gamma)",
                      "            pass"),
                     ("ROUNDOFF_STEPS * float(xp.finfo(s.dtype).eps)", "ROUNDOFF_STEPS * float(xp.finfo(xp.float64).eps)")):
        try:
            checks = B.staggered_checks(mutated(monkeypatch, "eulerian.staggered", old, new))
        except NumericalError as exc:   # float32 steps never below float64's round-off: max_newton reached
            assert "did not converge in max_newton=100 steps" in str(exc)
            continue
        cold = [c for c in checks if "cold start" in c.name]
        assert len(cold) == 3 and not all(c.passed for c in cold), (new, [c.value for c in cold])


def test_perspective_root_in_float32_has_no_nan_where_the_density_is_below_minus_two_gamma():
    """The second upper bound of the cold start divides by (rho + 2 gamma)^2, clamped; a clamp of 1e-150 is 0 in
    float32, which made 0 / 0 = NaN where there is no momentum (and warned where there is)."""
    import warnings

    import eulerian.staggered as S

    rho = np.array([-1.0, -1.0, 0.5, 2.0], dtype=np.float32)
    m = [np.array([0.0, 0.3, 0.0, 1.0], dtype=np.float32)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = S.perspective_root(rho, m, 0.1, np)
    assert r.dtype == np.float32 and np.all(np.isfinite(r))
    for i in range(4):
        expected = B.prox_reference(float(rho[i]), np.array([float(m[0][i])]), 0.1)[0]
        assert abs(float(r[i]) - expected) <= 1e-5 * max(expected, 0.2), (i, r[i], expected)
