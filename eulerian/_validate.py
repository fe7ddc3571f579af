"""Input checks shared by the solvers (clear ValueError/TypeError naming the argument and the fix)."""
from __future__ import annotations

import difflib
import math
from typing import Any, Callable, Sequence

import numpy as np

from .backend import to_host
from .grid import Grid


def check_grid(grid: Any) -> Grid:
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
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a positive real number, got {value!r}") from exc
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def check_steps(steps: Any, name: str = "steps", minimum: int = 1) -> int:
    """An integer count >= minimum (TypeError for non-integers and bools, ValueError below the minimum)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {steps!r}")
    if steps < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {steps}")
    return int(steps)


def check_density(grid: Grid, rho0: Any, name: str = "rho0") -> np.ndarray:
    """``name``: array of cell averages with the grid's shape (NumPy or CuPy), or a callable f(x) -> (...)
    averaged over cells. Returns a NumPy array; rejects NaN, negative cells and zero mass."""
    if callable(rho0):
        rho0 = grid.cell_averages(rho0)
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
    if not grid.mass(rho) > 0:
        raise ValueError(f"{name} has zero mass; pass a density with positive total mass")
    return rho


def check_field(name: str, f: Any, grid: Grid) -> Callable:
    if not callable(f):
        raise TypeError(f"{name} must be a callable {name}(t, x) taking points (..., d) and returning (..., d)")
    x = grid.centers()[(slice(0, 2),) * grid.dim]
    out = np.asarray(to_host(f(0.0, x)))
    if out.shape != x.shape:
        raise ValueError(
            f"{name}(t, x) must return an array of the same shape as x (..., d={grid.dim}); "
            f"got {out.shape} for x of shape {x.shape}"
        )
    return f


def check_save_at(save_at: Any, t_final: float) -> np.ndarray | None:
    if save_at is None:
        return None
    s = np.atleast_1d(np.asarray(save_at, dtype=float))
    if s.ndim != 1 or not np.all(np.isfinite(s)):
        raise ValueError("save_at must be a 1-D sequence of finite times")
    if np.any(s < 0) or np.any(s > t_final * (1 + 1e-12)):
        raise ValueError(f"save_at times must lie in [0, t_final={t_final}], got {s}")
    if np.any(np.diff(s) <= 0):
        raise ValueError("save_at times must be strictly increasing")
    return s
