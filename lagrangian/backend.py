"""Array namespace of the inputs: NumPy or CuPy through one code path.

The namespace is read from the arrays themselves (``cupy.get_array_module`` when CuPy is loaded, NumPy
otherwise): a CuPy array can only exist once CuPy has been imported, so no import is attempted here.
"""
from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

from .errors import BackendUnavailable

__all__ = ["get_xp", "get_namespace", "to_numpy", "as_cloud", "is_cupy"]


def get_xp(*arrays: Any) -> ModuleType:
    """Array module (numpy or cupy) of ``arrays``; NumPy when CuPy is not loaded."""
    cp = sys.modules.get("cupy")
    if cp is None:
        return np
    return cp.get_array_module(*arrays)


def is_cupy(xp: ModuleType) -> bool:
    return xp.__name__ == "cupy"


def get_namespace(name: str = "numpy") -> ModuleType:
    """Module for backend ``name`` ("numpy" or "cupy"); BackendUnavailable when CuPy has no usable GPU."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be 'numpy' or 'cupy', got {type(name).__name__}")
    if name.lower() == "numpy":
        return np
    if name.lower() == "cupy":
        try:
            import cupy

            ok = bool(cupy.cuda.is_available())
        except Exception:  # import error, missing driver
            ok = False
        if not ok:
            raise BackendUnavailable(
                "backend='cupy' needs CuPy and a usable CUDA GPU (cupy.cuda.is_available() is false or CuPy is "
                "not installed); install it with `pip install twinflow[gpu]` on a GPU machine or use 'numpy'")
        return cupy
    raise ValueError(f"unknown backend {name!r}; valid backends are 'numpy' and 'cupy'")


def to_numpy(a: Any) -> np.ndarray:
    """Host NumPy copy (or view) of a NumPy or CuPy array."""
    if hasattr(a, "get") and not isinstance(a, np.ndarray):
        return a.get()
    return np.asarray(a)


def as_cloud(x: Any, name: str = "x", *, dim: int | None = None, allow_empty: bool = False) -> Any:
    """``x`` as a float64 (n, d) array of its own namespace; ValueError naming ``name`` otherwise.

    Rejects 1-D input (pass ``x[:, None]`` for one-dimensional particles), NaN/Inf and a wrong ``dim``.
    """
    xp = get_xp(x)
    try:
        arr = xp.asarray(x, dtype=xp.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real array of shape (n, d): {exc}") from None
    if arr.ndim != 2:
        hint = " (for one-dimensional particles pass x[:, None])" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must have shape (n, d), got shape {arr.shape}{hint}")
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} holds no particles (shape {arr.shape})")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} has dimension {arr.shape[1]} but {dim} was expected from the other arguments")
    if not bool(xp.all(xp.isfinite(arr))):
        raise ValueError(f"{name} contains NaN or infinite values; remove or replace those particles")
    return arr
