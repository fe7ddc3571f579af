"""Negative tests for the report holes found by the mutation sample at fac9180 (seed 20261226): each check is fed
the surviving mutant and must flag it."""
from __future__ import annotations

import numpy as np

from tests.verify.mutants import mutated


def test_the_saved_times_of_a_continuity_run_are_checked(monkeypatch):
    """eulerian.continuity.x_solve_continuity__mutmut_623 (the Solution built with times=None): the records check
    that continuity-2d applies to its runs reads ``times``, one per saved density, within the run."""
    from eulerian import Grid, solve_continuity
    from verify.checks import check_solution_records

    grid = Grid((0.0, 0.0), (1.0, 0.5), (8, 6))
    rho0 = grid.cell_averages(lambda x: np.exp(-20 * np.sum((x - 0.4) ** 2, axis=-1)))
    args = (grid, rho0, lambda t, x: np.ones_like(x) * 0.3, 0.1)
    assert check_solution_records("right", [solve_continuity(*args, save_at=[0.05, 0.1])], True, 60.0).passed
    mutant = mutated(monkeypatch, "eulerian.continuity", "grid=grid, times=times, density=rho",
                     "grid=grid, times=None, density=rho")
    check = check_solution_records("mutant", [mutant.solve_continuity(*args, save_at=[0.05, 0.1])], True, 60.0)
    assert not check.passed and "times None" in check.detail


def test_the_stationary_source_sign_is_checked(monkeypatch):
    """eulerian.fokker_planck.x_solve_stationary__mutmut_171 (the source subtracted): fipy-mesh1d's stationary run
    now has S(0, x) = 2, whose exact cell values (a parabola plus h^2 / 4) the check compares."""
    import verify.cases.boundaries as B

    mutant = mutated(monkeypatch, "eulerian.fokker_planck", "f = f + (S if S.size == grid.size",
                     "f = f - (S if S.size == grid.size")
    check = B.stationary_source_check(solve=mutant.solve_stationary)
    assert not check.passed and check.value > 1.0


def test_a_wall_source_overflow_is_refused(monkeypatch):
    """eulerian.operators.xǁWallTermsǁ__init____mutmut_145 (the finiteness guard raising only when both the wall
    source and the diagonal overflow): the catalog's Flux wall of 1e308 on cells 1/3 wide overflows the source
    alone."""
    import eulerian.fokker_planck as fp
    from tests.verify.mutants import trouble_catches

    assert trouble_catches(monkeypatch, "eulerian.solve_fokker_planck: a Flux wall of 1e308", "eulerian.operators",
                           "np.all(np.isfinite(source)) and bool", "np.all(np.isfinite(source)) or bool", fp,
                           "WallTerms")
