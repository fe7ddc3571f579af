"""Negative tests for the report holes found by the mutation sample at af65154 (seed 20261225): each check is fed
the surviving mutant and must flag it."""
from __future__ import annotations

from tests.verify.mutants import mutated


def test_a_source_dominated_mass_balance_is_checked(monkeypatch):
    """eulerian.fokker_planck.xǁMassBalanceǁcheck__mutmut_40 (the guard's scale counts the outflow twice and the
    source never): heat-2d's run whose mass comes from its source raises a false mass alarm with it."""
    from verify.cases.eulerian_cases import source_dominated_check

    assert source_dominated_check().passed
    mutant = mutated(monkeypatch, "eulerian.fokker_planck", "self.scale += self.dt * (abs(r_new[0]) + abs(r_new[1]))",
                     "self.scale += self.dt * (abs(r_new[1]) + abs(r_new[1]))")
    check = source_dominated_check(mutant.solve_fokker_planck)
    assert not check.passed and "mass drifted" in check.detail
