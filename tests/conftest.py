"""Shared test fixtures: the CuPy namespace and the array backend name (skip cleanly without a usable CUDA GPU)."""
import pytest
from hypothesis import settings

# Random tests use fixed seeds: every Hypothesis test draws the same examples on every run, with no example
# database (a profile loaded before the test modules build their own settings from it).
settings.register_profile("twinflow", derandomize=True, database=None)
settings.load_profile("twinflow")

CUPY_SKIP_MESSAGE = "CuPy with a usable CUDA GPU is not available"


def _cupy_or_skip():
    """The cupy module, or pytest.skip when CuPy is not installed or no CUDA device is usable."""
    try:
        import cupy as cp

        ok = bool(cp.cuda.is_available())
    except Exception:  # not installed, or no driver
        ok = False
    if not ok:
        pytest.skip(CUPY_SKIP_MESSAGE)
    return cp


@pytest.fixture
def cupy():
    return _cupy_or_skip()


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)], ids=["numpy", "cupy"])
def array_backend(request):
    """Backend name for the array solvers ("numpy", then "cupy"); the CuPy case skips without a usable GPU.

    Pass it as ``backend=array_backend`` and compare densities through ``Solution.to_numpy()``.
    """
    if request.param == "cupy":
        _cupy_or_skip()
    return request.param
