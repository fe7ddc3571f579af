"""One test per registered verification case, run in quick mode (the mutation run's "report" suite).

``benchmarks/mutation.py`` points the mutation tool at this module: a test passes iff
``run_case(name, quick=True)`` ran (``error is None``) and every check passed.  With one test per case the
tool's per-test coverage maps each mutated function to exactly the report cases that execute it, and only
those cases run for a mutant.  The case list is read from the registry at collection time, so a new case
is picked up without editing this file.
"""
from __future__ import annotations

import pytest

from verify.harness import registry, run_case

CASES = sorted(registry())


@pytest.mark.parametrize("name", CASES)
def test_report_case(name):
    result = run_case(name, quick=True)
    assert result.error is None, f"{name} did not run:\n{result.error}"
    failed = [f"{c.name}: value {c.value!r} band {c.band()} ({c.status})" for c in result.checks if not c.passed]
    assert not failed, f"{name}: {len(failed)} of {len(result.checks)} checks failed:\n" + "\n".join(failed)
