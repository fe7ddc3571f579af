"""The report's replay of the primal-dual step rule (verify/cases/benamou_brenier_cases.py, check_step_rule) on
the 1D Gaussians of bb-gaussian-1d: it passes the solver's runs and catches step rules that depart from the
documented one, in either phase of a "mixed" run, exactly (not through an iteration bound at a margin).

It closes the thin catch of the sample at 8e97288: benamou_brenier's float64 phase called without ``adaptive``
(eulerian.benamou_brenier.x_benamou_brenier__mutmut_599) was caught only by an iteration bound, 1 970 against
1 890 (margin 1.04)."""
import numpy as np
import pytest

from eulerian import Grid
from eulerian.benamou_brenier import benamou_brenier, default_tol
from tests.verify.mutants import mutated
from verify.cases import benamou_brenier_cases as B

GRID = Grid((0.0,), (1.0,), (64,))
RHO0, RHO1 = B.gaussian_cells_1d(GRID, 0.3, 0.05), B.gaussian_cells_1d(GRID, 0.7, 0.08)
TOLS = B.documented_tols(GRID, 64)


def _run(solve=benamou_brenier, **kwargs):
    return solve(GRID, RHO0, RHO1, 64, method="primal-dual", **kwargs)


def test_documented_tols_are_the_solvers_defaults():
    grid = Grid((0.0, -1.0), (2.0, 0.5), (40, 24))   # unequal sides and cell counts
    tol, rtol, gtol = B.documented_tols(grid, 16)
    assert tol == pytest.approx(default_tol(grid, 16), rel=1e-15)
    assert (rtol, gtol) == (10 * tol, max(5 * tol, 1e-5))


@pytest.mark.parametrize("kwargs, adaptive", [({}, True), ({"relaxation": 1.0}, True), ({"dtype": "float64"}, True),
                                              ({"dtype": "float32"}, True), ({"step_rule": "fixed"}, False)])
def test_the_solvers_runs_follow_the_rule(kwargs, adaptive):
    res = _run(**kwargs)
    tols = tuple(map(max, TOLS, B.MIXED_FLOORS)) if kwargs.get("dtype") == "float32" else TOLS
    assert B.step_rule_departures(res, tols, adaptive=adaptive) == []
    steps = np.asarray(res.history["step"])
    assert (np.count_nonzero(np.diff(steps)) > 0) == adaptive   # the rule changed the step in these runs


@pytest.mark.parametrize("old, new", [
    # the float64 phase of a mixed run without the rule (mutmut_599 at 8e97288)
    ("history=history32, adaptive=adaptive)", "history=history32, )"),
    # the float32 phase without it
    ("check_every, V_init,\n                                 adaptive=adaptive)",
     "check_every, V_init,\n                                 adaptive=False)"),
    ("BALANCE_DELTA = 1.5", "BALANCE_DELTA = 1.2"),        # another imbalance threshold
    ("BALANCE_DECAY = 0.95", "BALANCE_DECAY = 0.9"),       # another decay
    ("    if s > BALANCE_DELTA * p:", "    if s > BALANCE_DELTA * p * 2:"),  # one branch's threshold
    ("new = sigma * (1.0 - alpha)", "new = sigma * (1.0 - alpha / 2)"),     # a smaller cut
])
def test_departures_from_the_rule_are_caught(monkeypatch, old, new):
    mod = mutated(monkeypatch, "eulerian.benamou_brenier", old, new)
    res = _run(mod.benamou_brenier, relaxation=1.0)
    check = B.check_step_rule("relaxation 1", res, TOLS)
    assert not check.passed and check.value >= 1, check


def test_a_fixed_rule_that_drifts_and_a_wrong_first_step_are_caught():
    res = _run(step_rule="fixed")
    assert B.check_step_rule("fixed", res, TOLS, adaptive=False).passed
    steps = res.history["step"]
    steps[5:] = [s * 1.01 for s in steps[5:]]
    assert len(B.step_rule_departures(res, TOLS, adaptive=False)) == len(steps) - 5   # each step off gamma
    res = _run()
    res.history["step"][0] *= 2
    assert any("first step" in d for d in B.step_rule_departures(res, TOLS))


def test_wrong_tolerances_in_the_replay_are_departures():
    """The replay needs the tolerances the run used: twice tol reads the residuals differently."""
    res = _run(relaxation=1.0)
    assert B.step_rule_departures(res, (2 * TOLS[0],) + TOLS[1:])
