"""Project exceptions of the Lagrangian package (all subclass RuntimeError)."""
from __future__ import annotations


class LagrangianError(RuntimeError):
    """Base class of the errors raised by :mod:`lagrangian` for trouble that is not bad input."""


class NumericalError(LagrangianError):
    """Numerical trouble: particles became NaN/Inf (blow-up), a solver did not converge."""


class BackendUnavailable(LagrangianError):
    """The requested array backend cannot be used here (e.g. CuPy without a usable CUDA GPU)."""


class MemoryBudgetError(LagrangianError):
    """A computation would need more memory than the caller's budget (e.g. an exact OT cost matrix)."""
