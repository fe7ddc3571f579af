"""Shared test fixtures: the CuPy namespace (skips cleanly without a usable CUDA GPU)."""
import pytest


@pytest.fixture
def cupy():
    try:
        import cupy as cp

        ok = bool(cp.cuda.is_available())
    except Exception:  # not installed, or no driver
        ok = False
    if not ok:
        pytest.skip("CuPy with a usable CUDA GPU is not available")
    return cp
