"""Negative tests for the report holes found by the mutation sample at 74b2c6a (seed 20261220): each check is fed
the surviving mutant and must flag it."""
from __future__ import annotations

import sys

import pytest

from tests.verify.mutants import mutated
from verify import bad_input
from verify.cases.eulerian_cases import continuity_step_estimate_checks


@pytest.mark.parametrize("old, new", [
    (") + (0 if save is None", ") - (0 if save is None"),   # the save_at times subtracted
    ("estimate > max_steps", "estimate >= max_steps"),                               # a cap equal to it refused
])
def test_continuity_step_estimate_checks_flag_a_wrong_step_count(monkeypatch, old, new):
    assert all(c.passed for c in continuity_step_estimate_checks())
    mutant = mutated(monkeypatch, "eulerian.continuity", old, new)
    assert not all(c.passed for c in continuity_step_estimate_checks(mutant.solve_continuity))


def test_the_pushed_forward_covariance_refused_under_no_name_is_caught(monkeypatch):
    """Affine.push's covariance guard called with None for its name: no catalog entry made that guard raise
    (now the trouble of tests/verify/test_guard_sites.py's list does)."""
    import verify.gaussian as vg

    label = "gaussian.Affine.push: A = 1e200, covariance 1"
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label]) is None
    mutant = mutated(monkeypatch, "verify.gaussian", '"the pushed-forward covariance")', "None)")
    monkeypatch.setattr(mutant, "Gaussian", vg.Gaussian)   # the mutant's push takes and makes the library's laws
    monkeypatch.setattr(vg.Affine, "push", mutant.Affine.push)
    assert "lacks" in bad_input.trouble_gap(label, bad_input.TROUBLES[label])


@pytest.mark.parametrize("new, passed", [
    ('single = mixed or dtype != "float32"', [False, False]),   # float32's floor on float64 runs, not on float32
    ('single = mixed or dtype == "FLOAT32"', [True, False]),    # on no run: float32 held to the user's 1e-7
])
def test_dtype_tolerance_checks_flag_a_stopping_floor_on_the_wrong_dtype(monkeypatch, new, passed):
    from verify.cases.benamou_brenier_cases import dtype_tolerance_checks

    assert all(c.passed for c in dtype_tolerance_checks())
    mutant = mutated(monkeypatch, "eulerian.benamou_brenier", 'single = mixed or dtype == "float32"', new)
    assert [c.passed for c in dtype_tolerance_checks(mutant.benamou_brenier)] == passed


@pytest.mark.parametrize("old, new", [
    ("sweeps[0] += 1", "sweeps[0] += 2"),                                   # the count recorded wrong
    ("if change <= SWEEP_TOLERANCE * scale:", "if change < 0:"),           # sweeps that never stop
    ('"fipy_sweeps": sweeps[0]', '"sweeps": sweeps[0]'),                    # recorded under another key
])
def test_fipy_sweep_checks_flag_a_wrong_or_costly_sweep_count(monkeypatch, old, new):
    """Solution.info["fipy_sweeps"] was the one entry of a solver's info that no report check read (found by
    recording the reads of the quick report's checks, after the sample at 74b2c6a)."""
    from verify.cases.boundaries import fipy_sweep_checks

    assert all(c.passed for c in fipy_sweep_checks())
    mutant = mutated(monkeypatch, "eulerian.fipy_backend", old, new)
    monkeypatch.setattr(sys.modules["eulerian.fipy_backend"], "fokker_planck_fipy", mutant.fokker_planck_fipy)
    assert not all(c.passed for c in fipy_sweep_checks())

