"""The records of solve_meanfield's runs in meanfield-periodic-2d (periodic box, with diffusion) are checked by
check_solution_records: a solver that stops recording its mass history, or misreports its wall time, is caught
(the cases themselves run in the quick report, tests/test_option_coverage.py)."""
import time

import pytest

from tests.verify.mutants import mutated
from verify.cases.meanfield_periodic import check_record
from verify.checks import check_solution_records


def records_check(solve=None):
    solutions, started = [], time.perf_counter()
    kw = {} if solve is None else {"solve": solve}
    check_record(solutions=solutions, **kw)
    return check_solution_records("periodic", solutions, closed=True, elapsed=time.perf_counter() - started)


def test_the_records_check_passes_the_solver():
    check = records_check()
    assert check.passed and check.value == 0.0, check.detail


@pytest.mark.parametrize("old, new", [
    ("        mass_times.append(t)\n", "        pass\n"),
    ("wall_time=_time.perf_counter() - start", "wall_time=_time.perf_counter()"),
])
def test_the_records_check_catches_a_wrong_record(monkeypatch, old, new):
    mod = mutated(monkeypatch, "eulerian.meanfield", old, new)
    check = records_check(mod.solve_meanfield)
    assert not check.passed and check.value == 2.0, check.detail    # both runs
