"""Fixtures of the verify tests."""
import sys

import pytest

from verify.cupy_standin import cupy_standin, is_standin


@pytest.fixture
def cp():
    """The CPU stand-in of CuPy, installed for the test (skipped where a real CuPy is imported in the process)."""
    if "cupy" in sys.modules and not is_standin(sys.modules["cupy"]):
        pytest.skip("a real CuPy is imported in this process")
    with cupy_standin() as module:
        yield module
