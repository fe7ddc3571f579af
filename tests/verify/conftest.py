"""Fixtures of the verify tests."""
import sys
from types import SimpleNamespace

import pytest

from verify.cupy_standin import cupy_standin, is_standin


@pytest.fixture
def cp():
    """The CPU stand-in of CuPy, installed for the test (skipped where a real CuPy is imported in the process)."""
    if "cupy" in sys.modules and not is_standin(sys.modules["cupy"]):
        pytest.skip("a real CuPy is imported in this process")
    with cupy_standin() as module:
        yield module


@pytest.fixture(scope="session")
def catalog_probes() -> SimpleNamespace:
    """One run of the whole bad-input catalog (its bad values and its troubles, about 12 s) under the three source
    probes at once: ``raised`` (the guards that raise, tests/guard_sites.py), ``hits`` (the range checks met at
    their boundary, tests/boundary_sites.py), ``caught`` (the np.errstate keywords that caught a flag,
    tests/errstate_sites.py)."""
    from tests.boundary_sites import boundary_hits
    from tests.errstate_sites import suppressions
    from tests.guard_sites import raised_sites
    from verify import bad_input

    with raised_sites() as raised, boundary_hits() as hits, suppressions() as caught:
        bad_input.current_outcomes()
        bad_input.current_trouble_messages()
    return SimpleNamespace(raised=raised, hits=hits, caught=caught)
