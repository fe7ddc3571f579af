"""Array backends: one code path for NumPy and CuPy through an ``xp`` namespace.

``get_backend("numpy")`` or ``get_backend("cupy")`` returns a :class:`Backend` bundling the array module,
its FFT module, its sparse module and its sparse linear-algebra module. CuPy is optional; selecting it without
a usable CUDA GPU raises :class:`~eulerian.errors.BackendUnavailable`.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .errors import BackendUnavailable

ARRAY_BACKENDS = ("numpy", "cupy")


def to_host(a: Any) -> np.ndarray:
    """NumPy copy of a CuPy array, or ``np.asarray(a)`` for anything else."""
    if hasattr(a, "get") and not isinstance(a, np.ndarray):
        return a.get()
    return np.asarray(a)


@dataclass(frozen=True)
class Backend:
    """An array namespace and its companions (FFT, sparse matrices, sparse linear algebra)."""

    name: str
    xp: ModuleType
    fft: ModuleType
    sparse: ModuleType
    splinalg: ModuleType

    def asarray(self, a: Any, dtype: Any = np.float64) -> Any:
        """Array on this backend's device with the given dtype (default float64)."""
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a: Any) -> np.ndarray:
        """Host NumPy copy (or view) of an array of this backend."""
        return to_host(a)


def cupy_available() -> bool:
    """True when CuPy imports and a CUDA device is usable."""
    try:
        import cupy  # noqa: F401

        return bool(cupy.cuda.is_available())
    except Exception:  # import error, missing driver, ...
        return False


def get_backend(name: "str | Backend" = "numpy") -> Backend:
    """Backend named ``name`` ("numpy" or "cupy"); a Backend instance is returned unchanged.

    Raises ValueError for unknown names and BackendUnavailable for "cupy" without a usable GPU.
    """
    if isinstance(name, Backend):
        return name
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string such as 'numpy' or 'cupy', got {type(name).__name__}")
    key = name.lower()
    if key == "numpy":
        import scipy.fft
        import scipy.sparse
        import scipy.sparse.linalg

        return Backend("numpy", np, scipy.fft, scipy.sparse, scipy.sparse.linalg)
    if key == "cupy":
        if not cupy_available():
            raise BackendUnavailable(
                "backend='cupy' needs CuPy and a usable CUDA GPU (cupy.cuda.is_available() is false or CuPy "
                "is not installed); install it with `pip install twinflow[gpu]` on a machine with a GPU, "
                "or use backend='numpy'"
            )
        import cupy
        import cupyx.scipy.fft
        import cupyx.scipy.sparse
        import cupyx.scipy.sparse.linalg

        return Backend("cupy", cupy, cupyx.scipy.fft, cupyx.scipy.sparse, cupyx.scipy.sparse.linalg)
    raise ValueError(
        f"unknown backend {name!r}; valid array backends are {ARRAY_BACKENDS} (solvers also accept 'fipy')"
    )
