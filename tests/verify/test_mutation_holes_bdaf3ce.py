"""Negative tests for the report hole found by the mutation sample at bdaf3ce (seed 20261227): the check is fed
the surviving mutant and must flag it."""
from __future__ import annotations

from tests.verify.mutants import mutated


def test_the_recorded_cost_is_in_the_callers_units(monkeypatch):
    """eulerian.benamou_brenier.x_benamou_brenier__mutmut_668 (history["cost"] left in the solver's normalised
    units): on bb-anisotropic-2d's 1.2 x 0.8 box (mass 1) the factor is (1 / 0.96) 1.2^4 = 2.16, not 1."""
    import verify.cases.benamou_brenier_cases as C

    grid, g0, g1 = C.anisotropic_problem()
    args = (grid, C.gaussian_cells(grid, g0), C.gaussian_cells(grid, g1), 16)
    assert C.check_history_cost("right", C.benamou_brenier(*args)).value == 0.0
    mutant = mutated(monkeypatch, "eulerian.benamou_brenier", 'hist["cost"] = hist["cost"] * to_user',
                     'hist["COST"] = hist["cost"] * to_user')
    check = C.check_history_cost("mutant", mutant.benamou_brenier(*args))
    assert not check.passed and abs(check.value - (1 - 0.96 / 1.2**4)) < 1e-9


def test_a_run_that_did_not_converge_fails_the_history_check():
    import verify.cases.benamou_brenier_cases as C

    grid, g0, g1 = C.anisotropic_problem()
    res = C.benamou_brenier(grid, C.gaussian_cells(grid, g0), C.gaussian_cells(grid, g1), 16, max_iter=5)
    assert not C.check_history_cost("stopped", res).passed
