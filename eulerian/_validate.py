"""Input checks shared by the solvers (clear ValueError/TypeError naming the argument and the fix)."""
from __future__ import annotations

import difflib
import functools
import math
import os
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from .backend import to_host
from .errors import MemoryLimitError, NumericalError

if TYPE_CHECKING:  # grid.py uses these helpers: Grid is imported where it is needed at run time
    from .grid import Grid

# Memory cap: arrays sized by the arguments (grid cells, time steps, saved states) may use at most this fraction
# of the machine's physical memory (of the GPU's memory for CuPy arrays); larger requests are refused up front
# with MemoryLimitError instead of failing inside NumPy (or swapping). Raise it to allow bigger problems.
MEMORY_FRACTION = 0.5
FALLBACK_MEMORY_BYTES = 16 * 2**30  # assumed physical memory where os.sysconf cannot tell
GRID_ARRAYS = 4  # float64 arrays of the grid's size a Grid must leave room for (density, update, centres)
# Conservative solvers: relative mass-balance tolerance after n steps, n * MASS_RTOL. The drift of a step grows
# with the conditioning of I - dt A (~ dt D / h^2); measured (Fokker-Planck, sparse LU): 1e-16 to 1e-15 per step
# on usual grids, 1e-11 on 1D grids of 10^6 cells (dt = 0.01), 8e-10 with 4 x 10^6 cells (dt = 0.02, the limit
# of this tolerance), and 1e-3 for a time step of 10^12 on 64 cells (the solves have lost their digits).
MASS_RTOL = 1e-9


# -- numbers and arrays ----------------------------------------------------------------------------------------
def check_real(name: str, value: Any, fix: str | None = None) -> float:
    """A real number as float: TypeError for complex values (naming the fix), strings, bools and non-numbers."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    reject_complex(name, value, fix)
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number, got {value!r}") from exc


def reject_complex(name: str, values: Any, fix: str | None = None) -> Any:
    """``values`` unchanged unless complex (NumPy/CuPy arrays, object arrays holding complex numbers, scalars,
    sequences): then a TypeError naming ``name`` and the fix (default: pass ``name``.real) instead of silently
    dropping the imaginary part. A nested sequence that NumPy cannot make an array of (rows of different lengths)
    is refused naming ``name`` too."""
    try:
        is_complex = np.iscomplexobj(values)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name} must be numbers or an array with rows of equal length; NumPy cannot make an "
                        f"array of this {type(values).__name__}: {exc}") from None
    dtype = getattr(values, "dtype", None)
    if not is_complex and getattr(dtype, "kind", "") == "O" and any(   # an object array of Python complex numbers
            isinstance(x, (complex, np.complexfloating)) for x in np.asarray(values).ravel()):
        is_complex, dtype = True, "an object array with complex entries"
    if is_complex:
        dtype = np.asarray(values).dtype if dtype is None else dtype
        fix = fix or f"pass {name}.real if the imaginary part is zero"
        raise TypeError(f"{name} must be real; got {dtype} — {fix}")
    return values


def real_output(name: str, values: Any) -> Any:
    """Values returned by a user callable ``name`` (e.g. "drift(t, x)"), rejected when complex."""
    return reject_complex(name, values, f"return real values from {name.split('(')[0]} "
                                        "(take .real if the imaginary part is zero)")


# -- memory -----------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def physical_memory_bytes() -> int:
    """The machine's physical memory (os.sysconf), or FALLBACK_MEMORY_BYTES where that is not available."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return FALLBACK_MEMORY_BYTES
    return int(total) if total > 0 else FALLBACK_MEMORY_BYTES


def device_memory_bytes(backend: Any) -> int | None:
    """Total memory of the GPU behind a CuPy backend (None for host backends or when it cannot be read)."""
    if getattr(backend, "name", backend) != "cupy":
        return None
    try:
        import cupy

        return int(cupy.cuda.runtime.memGetInfo()[1])
    except Exception:  # no CuPy, no device: the host cap applies
        return None


def check_memory(nbytes: float, what: str, fix: str, backend: Any = None) -> None:
    """MemoryLimitError when ``what`` would need more than MEMORY_FRACTION of the memory (the GPU's for a CuPy
    backend, else the host's): the message gives both sizes in GiB and ``fix``."""
    device = device_memory_bytes(backend)
    total, where = (device, "GPU memory") if device else (physical_memory_bytes(), "physical memory")
    limit = MEMORY_FRACTION * total
    if nbytes > limit:
        gib = float(nbytes) / 2**30 if nbytes < 2**1000 else math.inf
        raise MemoryLimitError(
            f"{what} needs about {gib:.3g} GiB, beyond the limit of {limit / 2**30:.3g} GiB "
            f"({MEMORY_FRACTION:g} of the {total / 2**30:.3g} GiB of {where}, eulerian._validate.MEMORY_FRACTION); "
            f"{fix}"
        )


# -- solver arguments -------------------------------------------------------------------------------------------


def check_grid(grid: Any) -> Grid:
    """``grid`` if it is an eulerian.Grid (TypeError otherwise)."""
    from .grid import Grid

    if not isinstance(grid, Grid):
        raise TypeError(
            f"grid must be an eulerian.Grid, got {type(grid).__name__}; build one with Grid(lower, upper, shape)"
        )
    return grid


def backend_name(backend: Any, valid: Sequence[str]) -> str:
    """Name of a backend given as a string or a Backend object, checked against ``valid``."""
    return check_choice("backend", backend if isinstance(backend, str) else getattr(backend, "name", backend), valid)


def check_choice(name: str, value: Any, valid: Sequence[str]) -> str:
    """``value`` (case-insensitive) if it is one of ``valid``; otherwise a ValueError naming the close matches."""
    if not isinstance(value, str) or value.lower() not in valid:
        close = difflib.get_close_matches(value.lower(), list(valid), n=2) if isinstance(value, str) else []
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise ValueError(f"unknown {name} {value!r}{hint}; choose one of {tuple(valid)}")
    return value.lower()


def check_positive(name: str, value: Any) -> float:
    """A positive finite real number (TypeError for complex, strings, bools; ValueError otherwise)."""
    v = check_real(name, value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def check_nonnegative(name: str, value: Any) -> float:
    """A finite real number >= 0."""
    v = check_real(name, value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def check_bool(name: str, value: Any) -> bool:
    """True or False (NumPy bools too); TypeError otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_optional_bool(name: str, value: Any) -> bool | None:
    """None (let the solver decide), True or False."""
    return None if value is None else check_bool(name, value)


def check_steps(steps: Any, name: str = "steps", minimum: int = 1) -> int:
    """An integer count >= minimum (TypeError for non-integers and bools, ValueError below the minimum)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {steps!r}")
    if steps < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {steps}")
    return int(steps)


def check_density(grid: Grid, rho0: Any, name: str = "rho0", allow_zero_mass: bool = False) -> np.ndarray:
    """``name``: array of cell averages with the grid's shape (NumPy or CuPy), or a callable f(x) -> (...)
    averaged over cells. Returns a NumPy array; rejects NaN, negative cells and (unless ``allow_zero_mass``: mass
    may enter through open walls) zero mass."""
    if callable(rho0):
        f = rho0
        rho0 = grid.cell_averages(lambda x: real_output(f"{name}(x)", f(x)), name=name)
    reject_complex(name, rho0)
    try:
        rho = np.asarray(to_host(rho0), dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers, got {type(rho0).__name__}") from exc
    if rho.shape != grid.shape:
        raise ValueError(
            f"{name} has shape {rho.shape} but the grid has shape {grid.shape}; pass cell averages on the grid"
        )
    if not np.all(np.isfinite(rho)):
        raise ValueError(f"{name} contains NaN or infinite values; pass finite cell averages")
    if rho.min() < 0:
        raise ValueError(f"{name} has negative cells (min {rho.min():.3g}); a density must be >= 0 "
                         "(clip small negative round-off with np.maximum(rho, 0))")
    if not allow_zero_mass and not float(rho.sum()) * grid.cell_volume > 0:   # an overflow to inf is the caller's
        raise ValueError(f"{name} has zero mass; pass a density with positive total mass")
    return rho


def check_field(name: str, f: Any, grid: Grid) -> Callable:
    """A callable field f(t, x) -> (..., d), probed on a few cell centres (real values of x's shape)."""
    if not callable(f):
        raise TypeError(f"{name} must be a callable {name}(t, x) taking points (..., d) and returning (..., d)")
    x = grid.centers()[(slice(0, 2),) * grid.dim]
    out = f(0.0, x)
    real_output(f"{name}(t, x)", out)
    out = np.asarray(to_host(out))
    if out.dtype.kind not in "biuf":
        raise TypeError(f"{name}(t, x) must return real numbers, got an array of dtype {out.dtype}")
    if out.shape != x.shape:
        raise ValueError(
            f"{name}(t, x) must return an array of the same shape as x (..., d={grid.dim}); "
            f"got {out.shape} for x of shape {x.shape}"
        )
    return f


def check_call_signature(name: str, f: Callable, args: Sequence[Any], signature: str) -> Callable:
    """``f`` if it can be called with the positional ``args`` (inspect.signature; callables without one, e.g.
    some builtins, pass unchecked). Otherwise a TypeError naming ``name``, the expected ``signature`` (e.g.
    "velocity(t, grid, rho, x)") and the callable's own, before it is called: a TypeError raised by the call
    itself would name neither (and one raised inside a valid callable must not be mistaken for it)."""
    import inspect

    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return f
    try:
        sig.bind(*args)
    except TypeError as exc:
        raise TypeError(f"{name} must be a callable {signature} taking {len(args)} positional arguments; "
                        f"got {getattr(f, '__name__', type(f).__name__)}{sig} ({exc})") from None
    return f


def check_source(source: Any, grid: Grid) -> Callable | None:
    """None, or a callable S(t, x) returning real values of shape grid.shape (or a scalar) at cell centres."""
    if source is None:
        return None
    if not callable(source):
        raise TypeError("source must be a callable S(t, x) taking points (..., d) and returning (...)")
    out = real_output("source(t, x)", source(0.0, grid.centers()))
    kind = np.asarray(to_host(out)).dtype.kind
    if kind not in "biuf":
        raise TypeError(f"source(t, x) must return real numbers, got {type(out).__name__} "
                        f"(dtype kind {kind!r}); return a float array of shape {grid.shape}")
    shape = tuple(getattr(out, "shape", np.shape(out)))
    if shape not in ((), grid.shape):
        raise ValueError(f"source(t, x) must return one value per point, shape {grid.shape} for the cell centres "
                         f"(..., d); got shape {shape}")
    return source


def check_save_at(save_at: Any, t_final: float) -> np.ndarray | None:
    """None, or the save times as a strictly increasing 1-D NumPy array in [0, t_final] (a CuPy array of times is
    copied to the host)."""
    if save_at is None:
        return None
    reject_complex("save_at", save_at)
    try:
        s = np.atleast_1d(np.asarray(to_host(save_at) if hasattr(save_at, "__cuda_array_interface__") else save_at,
                                     dtype=float))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"save_at must be a sequence of times (real numbers), got {save_at!r}") from exc
    if s.ndim != 1 or not np.all(np.isfinite(s)):
        raise ValueError("save_at must be a 1-D sequence of finite times")
    if np.any(s < 0) or np.any(s > t_final * (1 + 1e-12)):
        raise ValueError(f"save_at times must lie in [0, t_final={t_final}], got {s}")
    if np.any(np.diff(s) <= 0):
        raise ValueError("save_at times must be strictly increasing")
    return s


def check_mass_balance(solver: str, mass: float, expected: float, scale: float, step: int, t: float,
                       fix: str) -> float:
    """Relative mass drift |mass - expected| / scale after ``step`` steps; NumericalError when the mass is not
    finite or drifts beyond step * MASS_RTOL (round-off)."""
    if not math.isfinite(mass):
        raise NumericalError(f"{solver}: non-finite density (NaN or inf) at step {step} (t = {t:g}); {fix}")
    drift = abs(mass - expected) / max(scale, np.finfo(float).tiny)
    tol = step * MASS_RTOL
    if drift > tol:
        raise NumericalError(
            f"{solver}: the mass drifted by {drift:.3g} (relative) at step {step} (t = {t:g}), beyond the "
            f"round-off tolerance {tol:.3g} of a conservative scheme; {fix}"
        )
    return drift
