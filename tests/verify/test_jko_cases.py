"""Negative checks of verify/cases/jko_cases.py: every check is fed a deliberately wrong scheme or value and must
flag it (and the right one must pass)."""
from __future__ import annotations

import numpy as np
import pytest

from eulerian.fokker_planck import solve_fokker_planck
from eulerian.jko import jko_step
from verify import gaussian as G
from verify.cases import jko_cases as J

OU = J.OU


def _exact_flow(K: int, T: float, halve_tau: bool = False):
    """Exact Gaussian JKO iterates; halve_tau: the ½-convention bug (W2²/τ instead of W2²/(2τ): steps of 2τ)."""
    tau = T / K
    g0 = G.Gaussian(OU["mean"], OU["var"])
    gs = G.jko_gaussian(g0, OU["H"], OU["b"], OU["D"], 2 * tau if halve_tau else tau, K)
    F = [G.gaussian_free_energy(g, OU["H"], OU["b"], OU["D"]) for g in gs]
    W = [G.w2_squared(gs[k], gs[k + 1]) for k in range(K)]
    return gs, np.array(F), np.array(W), tau


def _wrong_step(grid, rho, tau, **kw):
    """The ½-convention bug: minimises W2²/(4τ) + F, i.e. a step of 2τ."""
    return jko_step(grid, rho, 2 * tau, **kw)


def test_space_order_and_bound_flag_a_wrong_step():
    cells = (16, 32, 64, 128)
    h = [10.0 / n for n in cells]
    right = J.gaussian_step_errors(cells)
    assert J.check_space_order("right", h, right).passed
    assert J.check_error_bound("right", right[-1], h[-1], J.SPACE_CONSTANT_1D).passed
    coarse = (8, 16, 32, 64)                  # the wrong step's error does not fall: coarse levels show it
    wrong = J.gaussian_step_errors(coarse, step=_wrong_step)
    c = J.check_space_order("wrong", [10.0 / n for n in coarse], wrong)
    assert c.status == "fail", c.detail
    assert not J.check_error_bound("wrong", wrong[-1], 10.0 / 64, J.SPACE_CONSTANT_1D).passed


def test_tau_order_flags_the_half_convention_bug():
    T = 0.5
    Ks = (2, 4, 8, 16)
    exact = G.linear_sde(G.Gaussian(OU["mean"], OU["var"]), G.Affine(-OU["H"], -OU["b"]), OU["D"], T)
    taus = [T / K for K in Ks]
    right = [abs(_exact_flow(K, T)[0][-1].mean[0] - exact.mean[0]) for K in Ks]
    wrong = [abs(_exact_flow(K, T, halve_tau=True)[0][-1].mean[0] - exact.mean[0]) for K in Ks]
    assert J.check_tau_order("right", taus, right).passed
    c = J.check_tau_order("wrong", taus, wrong)
    assert not c.passed and c.status in ("fail", "inconclusive"), c.detail   # the case's 4 levels: flagged
    wrong.append(abs(_exact_flow(32, T, halve_tau=True)[0][-1].mean[0] - exact.mean[0]))
    c = J.check_tau_order("wrong", taus + [T / 32], wrong)
    assert c.status == "fail", c.detail                                        # one level more: a clear fail


def test_reference_check_flags_a_coarse_fokker_planck_reference():
    """Scharfetter–Gummel on 32 cells has a mean error of about 9e-3: not a reference for tau-errors of 7e-3."""
    T = 0.5
    g0 = G.Gaussian(OU["mean"], OU["var"])
    exact = G.linear_sde(g0, G.Affine(-OU["H"], -OU["b"]), OU["D"], T)
    smallest = abs(_exact_flow(16, T)[0][-1].mean[0] - exact.mean[0])
    for n, ok in ((J.FP_CELLS, True), (32, False)):
        grid = J._grid_1d(n)
        fp = solve_fokker_planck(grid, grid.cell_averages(lambda x: g0.pdf(x)),
                                 lambda t, x: -(OU["H"] * x + OU["b"]), OU["D"], T, J.FP_STEPS).to_numpy()
        err = abs(grid.mean(fp)[0] - exact.mean[0])
        assert J.check_reference_error("fp", err, smallest).passed is ok


def test_fixed_point_checks_flag_a_wrong_gibbs_state():
    grid = J._grid_1d(32)
    V = J._potential_1d(OU)
    dev, w2sq, tol = J.equilibrium_step(grid, V, OU["D"], OU["D"])
    assert J.check_fixed_point("right", dev, tol).passed
    assert J.check_small_motion("right", w2sq, tol, 10.0).passed
    dev, w2sq, tol = J.equilibrium_step(grid, V, OU["D"], 2 * OU["D"])   # wrong temperature
    assert not J.check_fixed_point("wrong", dev, tol).passed
    assert not J.check_small_motion("wrong", w2sq, tol, 10.0).passed


def test_energy_checks_flag_a_reversed_sequence():
    _, F, W, tau = _exact_flow(8, 0.5)
    assert J.check_energy_decreases("right", F).passed
    assert J.check_jko_inequality("right", F, W, tau).passed
    assert not J.check_energy_decreases("wrong", F[::-1]).passed
    assert not J.check_jko_inequality("wrong", F[::-1], W[::-1], tau).passed


def test_dissipation_order_flags_the_half_convention_w2():
    T, Ks = 0.5, (2, 4, 8, 16)
    taus, right, wrong = [], [], []
    for K in Ks:
        _, F, W, tau = _exact_flow(K, T)
        taus.append(tau)
        right.append(J.dissipation_gap(F, W, tau))
        wrong.append(J.dissipation_gap(F, W / 2, tau))      # W2² with a ½: the ratio tends to 2
    assert J.check_tau_order("right", taus, right).passed
    assert J.check_tau_order("wrong", taus, wrong).status == "fail"
    assert right[-1] == pytest.approx(0.0170, abs=1e-3)


def test_exact_iterate_and_gap_checks_flag_wrong_values():
    T, K = 0.5, 16
    g0 = G.Gaussian(OU["mean"], OU["var"])
    limit = G.linear_sde(g0, G.Affine(-OU["H"], -OU["b"]), OU["D"], T).mean[0]
    exact = _exact_flow(K, T)[0][-1].mean[0]
    wrong = _exact_flow(K, T, halve_tau=True)[0][-1].mean[0]            # a flow run with the ½-convention bug
    assert J.check_matches_exact_iterates("right", exact + 1e-5, exact, limit).passed
    assert not J.check_matches_exact_iterates("wrong", wrong, exact, limit).passed
    _, F, W, tau = _exact_flow(K, T)
    ref = J.exact_dissipation_gap(T, K)
    assert ref == pytest.approx(J.dissipation_gap(F, W, tau), rel=1e-14)
    assert J.check_relative("right", J.dissipation_gap(F, W, tau), ref, J.GAP_RTOL).passed
    assert not J.check_relative("wrong", J.dissipation_gap(F, W / 2, tau), ref, J.GAP_RTOL).passed
    f_min = G.gaussian_free_energy(G.Gaussian(-OU["b"] / OU["H"], OU["D"] / OU["H"]), OU["H"], OU["b"], OU["D"])
    assert J.check_above_minimum("right", F, f_min).passed
    assert not J.check_above_minimum("wrong", F - 1.0, f_min).passed      # an energy below the minimum


def test_step_record_checks_both_energies_against_a_direct_sum():
    import dataclasses

    grid, V, D = J._grid_1d(16), J._potential_1d(OU), OU["D"]
    record: list = []
    J.equilibrium_step(grid, V, D, D, record=record)
    res, rho = record[0]
    F = lambda r: J.direct_free_energy(grid, r, V, D)   # noqa: E731
    assert J.check_step_record("x", res, rho, J.STEP_TAU, free_energy_of=F).passed
    for wrong in (dataclasses.replace(res, energy_start=res.energy + 1e-6),       # F of another density
                  dataclasses.replace(res, energy=res.energy_start - 1e-6)):
        assert J.check_step_record("x", wrong, rho, J.STEP_TAU, free_energy_of=F).value >= 1
    # the direct sum itself, against a hand value: V = 0 and rho = 2 on half of a unit box, 0 elsewhere
    half = np.where(grid.centers()[..., 0] < grid.lower[0] + 0.5 * (grid.upper[0] - grid.lower[0]), 2.0, 0.0)
    F0, _ = J.direct_free_energy(grid, half, lambda x: np.zeros(x.shape[:-1]), 1.0)
    assert abs(F0 - 2.0 * np.log(2.0) * grid.cell_volume * (half > 0).sum()) < 1e-13
