"""Shared test fixtures: the CuPy namespace and the array backend name.

Where CuPy has a usable CUDA GPU the CuPy tests run on it; elsewhere they run on the CPU stand-in of CuPy
(verify.cupy_standin), which runs every CuPy branch with CuPy's strictness about host arrays, and simple CUDA C
kernels on the host (verify.cuda_host): a test that needs what it cannot run (cooperating threads, no C++
compiler) skips there.
"""
import pytest
from hypothesis import settings

from verify.cupy_standin import CudaCodeUnsupported, cupy_or_standin

# Random tests use fixed seeds: every Hypothesis test draws the same examples on every run, with no example
# database (a profile loaded before the test modules build their own settings from it).
settings.register_profile("twinflow", derandomize=True, database=None)
settings.load_profile("twinflow")

CUDA_KERNEL_SKIP_MESSAGE = "needs CUDA C that the CPU stand-in of CuPy cannot run (no usable GPU here)"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that reaches CUDA C the stand-in cannot run skips (CudaCodeUnsupported), as it would without a GPU."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(CudaCodeUnsupported):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {CUDA_KERNEL_SKIP_MESSAGE}")


@pytest.fixture
def cupy():
    """The cupy module: CuPy on a usable GPU, else the CPU stand-in installed for the test."""
    with cupy_or_standin() as (module, _):
        yield module


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)], ids=["numpy", "cupy"])
def array_backend(request):
    """Backend name for the array solvers ("numpy", then "cupy": a GPU, else the CPU stand-in of CuPy).

    Pass it as ``backend=array_backend`` and compare densities through ``Solution.to_numpy()``.
    """
    if request.param == "numpy":
        yield "numpy"
        return
    with cupy_or_standin():
        yield "cupy"
