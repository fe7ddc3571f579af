"""run_case's check that no warning escapes twinflow's own code: a library line that warns fails the case's
check, other code's warnings are not counted and reach the caller's filters after the case."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.verify.mutants import mutated
from verify import harness

NAME = "warnings raised by twinflow's own code (eulerian, lagrangian, verify) during the case"


def _register(monkeypatch, fn):
    monkeypatch.setitem(harness._REGISTRY, "t-warn", harness.CaseSpec("t-warn", "warnings", (), fn))


def _warning_check(result):
    (check,) = [c for c in result.checks if c.name == NAME]
    return check


def test_a_quiet_case_passes_the_check(monkeypatch):
    _register(monkeypatch, lambda ctx: ctx.check("one", 1.0, upper=2.0))
    check = _warning_check(harness.run_case("t-warn"))
    assert check.passed and check.value == 0


def test_a_warning_from_a_library_line_fails_the_check(monkeypatch):
    """The Bernoulli function without its cap z <= EXP_MAX: expm1 overflows in eulerian/operators.py (and B(800)
    is 0, within the check's band)."""
    mod = mutated(monkeypatch, "eulerian.operators", "z = xp.minimum(z, EXP_MAX)", "z = z")

    def fn(ctx):
        ctx.check("B(800) >= 0", float(mod.bernoulli(np, np.array([800.0]))[0]), lower=0.0)
    _register(monkeypatch, fn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the re-emitted warning, after the case
        result = harness.run_case("t-warn")
    check = _warning_check(result)
    assert result.error is None and not check.passed and check.value >= 1
    assert "operators.py" in check.detail and "RuntimeWarning" in check.detail


def test_other_code_warnings_are_not_counted_and_reach_the_caller(monkeypatch):
    def fn(ctx):
        warnings.warn("a user's own warning", UserWarning)
        ctx.check("one", 1.0, upper=2.0)
    _register(monkeypatch, fn)
    with pytest.warns(UserWarning, match="a user's own warning"):
        result = harness.run_case("t-warn")
    assert result.passed and _warning_check(result).value == 0


def test_warnings_made_errors_fail_the_case_without_escaping(monkeypatch):
    def fn(ctx):
        warnings.warn("a user's own warning", UserWarning)
        ctx.check("one", 1.0, upper=2.0)
    _register(monkeypatch, fn)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = harness.run_case("t-warn")
    assert not result.passed and "a user's own warning" in result.error


def test_a_warning_raised_at_every_step_is_kept_once_and_counted(monkeypatch):
    """100 000 warnings from one line: one entry in the log, shown once after the case, counted in full."""
    mod = mutated(monkeypatch, "eulerian.operators", "z = xp.minimum(z, EXP_MAX)", "z = z")
    log = harness.WarningLog()

    def fn(ctx):
        for _ in range(100_000):
            mod.bernoulli(np, np.array([800.0]))
        ctx.check("one", 1.0, upper=2.0)
    _register(monkeypatch, fn)
    monkeypatch.setattr(harness, "WarningLog", lambda: log)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        result = harness.run_case("t-warn")
    assert len(log.counts) == 1 and sum(log.counts.values()) == 100_000
    assert len(shown) == 1 and shown[0].category is RuntimeWarning
    assert _warning_check(result).value == 100_000 and "(x100000)" in _warning_check(result).detail
