"""Project exceptions of the Eulerian package."""
from __future__ import annotations


class NumericalError(RuntimeError):
    """Numerical trouble: NaN/Inf, negative density, non-convergence of a linear solve."""


class CFLError(NumericalError):
    """A time step forced by the caller breaks the CFL (stability/positivity) condition."""


class BackendUnavailable(RuntimeError):
    """The requested array backend cannot be used here (e.g. CuPy without a usable CUDA GPU)."""


class MemoryLimitError(ValueError, MemoryError):
    """Arrays sized by the arguments (grid cells, time steps, saved states) would exceed the memory cap
    (eulerian._validate.MEMORY_FRACTION of the machine's memory): refused before anything is allocated."""
