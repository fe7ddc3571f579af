"""Array namespace of the inputs: NumPy or CuPy through one code path.

The namespace is read from the arrays themselves (``cupy.get_array_module`` when CuPy is loaded, NumPy
otherwise): a CuPy array can only exist once CuPy has been imported, so no import is attempted here.
"""
from __future__ import annotations

import functools
import os
import sys
from types import ModuleType
from typing import Any

import numpy as np

from .errors import BackendUnavailable, MemoryBudgetError, NumericalError

__all__ = ["get_xp", "on_one_device", "get_namespace", "to_numpy", "as_cloud", "is_cupy", "as_real_array",
           "as_real_scalar", "as_weights", "as_positive_int", "check_real_output", "check_finite_result", "all_finite", "largest",
           "check_memory", "check_pairwise", "memory_bytes", "MAX_MEMORY_FRACTION", "SQRT_MAX"]

MAX_MEMORY_FRACTION = 0.25
"""Largest share of the machine's memory (host RAM, or GPU memory for CuPy arrays) that one dense array may
take before a function refuses up front (:func:`check_memory`); the rest is left for the solver's workspace."""

_REAL_KINDS = "biuf"  # bool, signed/unsigned integer, float: converted to float64

SQRT_MAX = float(np.sqrt(np.finfo(np.float64).max))
"""≈ 1.34e154: float64 numbers of larger magnitude overflow when squared (squared distances, covariances)."""


def get_xp(*arrays: Any) -> ModuleType:
    """Array module (numpy or cupy) of ``arrays``; NumPy when CuPy is not loaded."""
    cp = sys.modules.get("cupy")
    if cp is None:
        return np
    return cp.get_array_module(*arrays)


def on_one_device(*clouds: Any) -> tuple[ModuleType, list[Any]]:
    """(xp, the clouds in xp) for arrays that enter one computation together (two point clouds, neurons and
    inputs): CuPy when any of them is a CuPy array, and then the host arrays are copied to the device."""
    xp = get_xp(*clouds)
    return xp, [xp.asarray(c) for c in clouds]


def is_cupy(xp: ModuleType) -> bool:
    """True for the CuPy namespace."""
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


def _is_device_array(a: Any) -> bool:
    """True for a CuPy (device) array."""
    return type(a).__module__.split(".")[0] == "cupy"


def to_numpy(a: Any) -> np.ndarray:
    """Host NumPy copy (or view) of a NumPy or CuPy array."""
    if hasattr(a, "get") and not isinstance(a, np.ndarray):
        return a.get()
    return np.asarray(a)


def _real_dtype_error(name: str, dtype: Any, what: str = "array") -> TypeError:
    """TypeError for a complex or non-numeric ``name`` (``what``: "array" or "number")."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return TypeError(f"{name} must be real; got {dtype} — pass {name}.real if the imaginary part is zero")
    fix = f"float({name})" if what == "number" else f"numpy.asarray({name}, dtype=float)"
    return TypeError(f"{name} must be a real {what}; got dtype {dtype} — convert it with {fix}")


def as_points(x: Any, name: str = "x", *, dim: int | None = None, ndim: int | None = None) -> Any:
    """Points (..., d) at which a vector field is evaluated, as an array of their own namespace (array-likes become
    NumPy arrays). TypeError naming ``name`` for complex, boolean, string or object values; ValueError for 0-d
    input, another number of axes than ``ndim`` or a last axis other than ``dim``. Cheap (no pass over the
    values): finiteness is left to the integrators, which diagnose non-finite states."""
    if not (hasattr(x, "dtype") and hasattr(x, "shape")):
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be an array of points (..., d), got {type(x).__name__}") from exc
    kind = x.dtype.kind
    if kind not in "fiu":
        raise _real_dtype_error(name, x.dtype) if kind != "b" else \
            TypeError(f"{name} must be real points (..., d); got booleans — convert them with {name}.astype(float)")
    if x.ndim == 0 or ndim is not None and x.ndim != ndim:
        want = "(n, d)" if ndim == 2 else "(..., d)"
        raise ValueError(f"{name} must be points of shape {want}, got shape {tuple(x.shape)}")
    if dim is not None and x.shape[-1] != dim:
        raise ValueError(f"{name} has points of dimension {x.shape[-1]}, but the field acts in dimension {dim}")
    return x


def all_finite(a: Any, xp: ModuleType | None = None) -> bool:
    """True when every entry of the array ``a`` is finite.

    One read pass without a temporary: the sum is finite unless an entry is NaN/±inf or the sum overflows
    (then every entry is checked).
    """
    xp = get_xp(a) if xp is None else xp
    with np.errstate(over="ignore", invalid="ignore"):
        total = xp.sum(a)
    return bool(xp.isfinite(total)) or bool(xp.all(xp.isfinite(a)))


def largest(a: Any) -> float:
    """Largest magnitude in the array ``a`` as a float (0 for an empty array); for error messages."""
    a = to_numpy(a)
    return float(np.max(np.abs(a))) if a.size else 0.0


def check_real_output(out: Any, name: str, *, shape: tuple[int, ...] | None = None, at: Any = None) -> None:
    """Check the value ``out`` returned by the callable ``name`` (e.g. "drift(t, x)").

    TypeError unless it is an array of a real numeric dtype (bool, integer, float): complex results are
    never cast silently. With ``shape``: ValueError unless ``out`` has that shape. With ``at`` (the positions
    the callable was given): NumericalError when ``out`` holds NaN or ±inf although ``at`` is finite (at
    non-finite positions the trouble is a blow-up upstream, which the integrators report themselves).
    """
    dtype = getattr(out, "dtype", None)
    if dtype is None or dtype.kind not in _REAL_KINDS:
        got = np.dtype(dtype) if dtype is not None else type(out).__name__
        fix = "return its .real part if the imaginary part is zero" if dtype is not None and dtype.kind == "c" \
            else "return a float array"
        raise TypeError(f"{name} must return real values; got {got} — {fix}")
    if shape is not None and out.shape != tuple(shape):
        raise ValueError(f"{name} must return an array of shape {tuple(shape)} like x, got {out.shape}")
    if at is not None and not all_finite(out) and all_finite(at):
        raise NumericalError(f"{name} returned NaN or infinite values at finite positions; fix "
                             f"{name.split('(')[0]} there (e.g. a division by zero, a log of a negative number "
                             f"or an overflow)")


def check_finite_result(value: Any, what: str, sizes: dict[str, Any], fix: str, *,
                        error: type[Exception] = ValueError) -> Any:
    """``value`` if every entry is finite (compute it under ``np.errstate(over="ignore", invalid="ignore")``),
    else ``error`` saying that ``what`` overflows float64, with the largest magnitude of each array in
    ``sizes`` (the arguments that set its size, by name) and ``fix``."""
    if all_finite(value):
        return value
    listed = ", ".join(f"|{name}| up to {largest(a):.3g}" for name, a in sizes.items())
    raise error(f"{what} overflows float64 ({listed}); {fix}")


def as_real_array(x: Any, name: str, *, xp: ModuleType | None = None, finite: bool = True) -> Any:
    """``x`` as a float64 array of namespace ``xp`` (default: the namespace of ``x``).

    TypeError naming ``name`` for complex, string, object or otherwise non-numeric input (never a silent
    cast to real); ValueError for NaN/Inf when ``finite``.
    """
    xp = get_xp(x) if xp is None else xp
    if xp is np and _is_device_array(x):
        x = x.get()
    try:
        arr = xp.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real numeric array: {exc}") from None
    if arr.dtype.kind == "O":  # Python objects (Fraction, Decimal, ...): convert, refusing complex values
        try:
            arr = xp.asarray(np.asarray(arr, dtype=np.float64))
        except (TypeError, ValueError):
            kinds = {np.asarray(v).dtype.kind for v in arr.ravel()[:1000] if v is not None}
            raise _real_dtype_error(name, np.complex128 if "c" in kinds else arr.dtype) from None
    if arr.dtype.kind not in _REAL_KINDS:
        raise _real_dtype_error(name, arr.dtype)
    arr = arr.astype(xp.float64, copy=False)
    if finite and not bool(xp.all(xp.isfinite(arr))):
        raise ValueError(f"{name} contains NaN or infinite values; remove or replace them")
    return arr


def as_real_scalar(value: Any, name: str, *, finite: bool = True) -> float:
    """``value`` as a Python float; TypeError for bool, complex or non-numeric input, ValueError for NaN/Inf."""
    if value is None or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if _is_device_array(value):
        value = value.get()
    try:
        arr = np.asarray(value)
        if arr.dtype.kind == "O":  # Fraction, Decimal, ...
            arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}") from None
    if arr.dtype.kind not in "iuf":
        raise _real_dtype_error(name, arr.dtype, "number")
    if arr.ndim != 0:
        raise TypeError(f"{name} must be a real number, got an array of shape {arr.shape}")
    out = float(arr)
    if finite and not np.isfinite(out):
        raise ValueError(f"{name} must be finite, got {out}")
    return out


def as_positive_int(value: Any, name: str) -> int:
    """``value`` as a Python int ≥ 1; TypeError for bool, float and other non-integers."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        kind = type(value).__name__
        raise TypeError(f"{name} must be a positive integer, got {kind} {value!r}; pass int({name}) if it is "
                        f"a whole number")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}; pass {name} ≥ 1")
    return int(value)


def as_weights(w: Any, n: int, name: str = "weights", *, xp: ModuleType = np) -> Any:
    """Non-negative finite float64 weights of shape (n,), not all zero (not normalised), in namespace ``xp``."""
    arr = as_real_array(w, name, xp=xp, finite=False)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the {n} particles, got {arr.shape}")
    if not bool(xp.all(xp.isfinite(arr))):
        raise ValueError(f"{name} contains NaN or infinite values; give every particle a finite weight")
    if bool(xp.any(arr < 0)) or not bool(xp.any(arr > 0)):   # (no sum: weights near 1e308 would overflow it)
        raise ValueError(f"{name} must be non-negative and not all zero; pass None for uniform weights")
    return arr


def probabilities(w: Any, xp: ModuleType = np) -> Any:
    """Weights from :func:`as_weights` divided by their sum, scaled by their largest first (no overflow)."""
    w = w / xp.max(w)
    return w / xp.sum(w)


# --------------------------------------------------------------------------------------------- memory
def memory_bytes(xp: ModuleType = np) -> int | None:
    """Total memory where ``xp`` allocates: physical RAM for NumPy, the current device's for CuPy.

    None when it cannot be read (then :func:`check_memory` checks nothing).
    """
    if is_cupy(xp):
        try:
            return _device_memory(int(xp.cuda.Device().id))
        except Exception:  # no device query possible: fall back to host memory
            pass
    return _host_memory()


@functools.lru_cache(maxsize=None)
def _device_memory(device: int) -> int:
    """Total memory of CUDA device ``device`` (queried once: the fields call this at every evaluation)."""
    import cupy

    with cupy.cuda.Device(device):
        return int(cupy.cuda.Device().mem_info[1])


@functools.lru_cache(maxsize=1)
def _host_memory() -> int | None:
    """Physical memory of the machine (os.sysconf, read once), None where it cannot be read."""
    try:
        total = int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None
    return total if total > 0 else None


def check_memory(nbytes: int, what: str, fix: str, *, xp: ModuleType = np) -> None:
    """MemoryBudgetError, before allocating, when ``nbytes`` for ``what`` exceeds
    :data:`MAX_MEMORY_FRACTION` of :func:`memory_bytes`; the message names the sizes and ``fix``."""
    total = memory_bytes(xp)
    if total is None:
        return
    limit = MAX_MEMORY_FRACTION * total
    if nbytes > limit:
        where = "GPU" if is_cupy(xp) else "physical"
        raise MemoryBudgetError(
            f"{what} needs {nbytes / 2**30:.3g} GiB, above the limit of {limit / 2**30:.3g} GiB "
            f"(MAX_MEMORY_FRACTION={MAX_MEMORY_FRACTION:g} of {total / 2**30:.3g} GiB {where} memory); {fix}")


def check_pairwise(n: int, m: int, what: str, fix: str, *, xp: ModuleType = np) -> None:
    """:func:`check_memory` for a dense (n, m) float64 matrix built by ``what``."""
    check_memory(8 * int(n) * int(m), f"{what} (a {n}×{m} float64 matrix)", fix, xp=xp)


def as_cloud(x: Any, name: str = "x", *, dim: int | None = None, allow_empty: bool = False) -> Any:
    """``x`` as a float64 (n, d) array of its own namespace; ValueError naming ``name`` otherwise.

    Rejects complex or non-numeric input (TypeError), 1-D input (pass ``x[:, None]`` for one-dimensional
    particles), NaN/Inf and a wrong ``dim``.
    """
    xp = get_xp(x)
    arr = as_real_array(x, name, xp=xp, finite=False)
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
