"""Negative tests for the report holes found by the mutation sample at bd04d6d (seed 20261224): each check is fed
the surviving mutant and must flag it."""
from __future__ import annotations

from tests.verify.mutants import catalog_catches, mutated


def test_the_douglas_rachford_history_of_a_mixed_run_is_checked(monkeypatch):
    """eulerian.benamou_brenier.x__douglas_rachford__mutmut_29 (the float32 phase's history dropped when
    Douglas–Rachford continues in float64): bb-gaussian-1d's run with check_every = 1 (dtype "mixed", the NumPy
    default) must hold one history entry per iteration."""
    from eulerian import Grid, benamou_brenier
    from verify.cases.benamou_brenier_cases import gaussian_cells_1d, step_parameter_checks

    grid = Grid((0.0,), (1.0,), (64,))
    rho0, rho1 = gaussian_cells_1d(grid, 0.3, 0.05), gaussian_cells_1d(grid, 0.7, 0.08)
    single = {m: benamou_brenier(grid, rho0, rho1, 64, method=m) for m in ("primal-dual", "douglas-rachford")}
    dr = "    Vx, Vy = sg.zeros_staggered(), sg.zeros_staggered()\n    history = "   # Douglas–Rachford's line only
    mutant = mutated(monkeypatch, "eulerian.benamou_brenier", dr + "history if history is not None else _new_history()",
                     dr + "_new_history()")
    failed = [c.name for c in step_parameter_checks(grid, rho0, rho1, 0.4 ** 2 + 0.03 ** 2, single,
                                                    solve=mutant.benamou_brenier) if not c.passed]
    assert failed == ["douglas-rachford, gamma = 2, check_every = 1: recorded step = 2 at every test, one test per "
                      "iteration (wrong entries)"]


def test_default_gamma_in_three_dimensions_is_checked(monkeypatch):
    """eulerian.benamou_brenier.x_default_gamma__mutmut_16 (dim 3 refused, 4 accepted): the catalog accepts 3."""
    assert catalog_catches(monkeypatch, "eulerian.default_gamma", "dim", "eulerian.benamou_brenier",
                           "dim not in (1, 2, 3):", "dim not in (1, 2, 4):", "default_gamma")
