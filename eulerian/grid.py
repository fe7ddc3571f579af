"""Uniform cell-centred boxes in 1-3 dimensions.

A :class:`Grid` is the box ``[lower_0, upper_0] x ... x [lower_{d-1}, upper_{d-1}]`` cut into
``shape[0] x ... x shape[d-1]`` equal cells. Grid arrays use 'ij' indexing (axis k is coordinate k);
coordinates of cell centres are returned points-last, shape ``(*shape, d)``. Densities are cell averages, and
``mass(rho) = sum(rho) * cell_volume``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import _validate as v
from .backend import to_host

MAX_QUADRATURE_ORDER = 64   # Gauss-Legendre points per axis of Grid.cell_averages (leggauss builds order^2 values)

MAX_CELLS_PER_AXIS = 2**62  # cell indices must fit NumPy's int64 (the memory cap binds far earlier)
TINY = float(np.finfo(float).tiny)  # smallest normal float64: the least admissible cell volume


@dataclass(frozen=True)
class Grid:
    """Uniform cell-centred grid on a box.

    Parameters
    ----------
    lower, upper : tuples of real numbers, length d in {1, 2, 3}, with lower[k] < upper[k].
    shape : tuple of ints, number of cells per axis (each >= 2).

    Checked at construction: integer shapes, real finite bounds, a cell volume that is a normal positive
    float64 (ValueError for boxes so small or large that it underflows or overflows), and a cell count whose
    arrays fit in memory: eulerian._validate.GRID_ARRAYS float64 arrays of the grid's size within
    eulerian._validate.MEMORY_FRACTION of the physical memory, MemoryLimitError (a ValueError) otherwise.
    """

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        def as_tuple(value: Any, name: str) -> tuple[float, ...]:
            try:
                items = list((value,) if np.ndim(value) == 0 else value)
            except (TypeError, ValueError) as exc:  # not iterable, or ragged
                raise TypeError(f"Grid {name} must be a sequence of real numbers, got {value!r}") from exc
            fix = f"pass real bounds ({name}.real if the imaginary part is zero)"
            return tuple(v.check_real(f"Grid {name}[{k}]", x, fix) for k, x in enumerate(items))

        lower = as_tuple(self.lower, "lower")
        upper = as_tuple(self.upper, "upper")
        try:
            raw_shape = (self.shape,) if np.ndim(self.shape) == 0 else tuple(self.shape)
        except TypeError as exc:
            raise TypeError(f"Grid shape must be a tuple of integers, got {self.shape!r}") from exc
        raw_shape = tuple(n[()] if isinstance(n, np.ndarray) and n.ndim == 0 else n for n in raw_shape)
        for n in raw_shape:
            if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
                raise TypeError(f"Grid shape entries must be integers, got {raw_shape!r}")
        shape = tuple(int(n) for n in raw_shape)
        d = len(shape)
        if d not in (1, 2, 3):
            raise ValueError(f"Grid supports 1-3 dimensions, got shape {shape}")
        if len(lower) != d or len(upper) != d:
            raise ValueError(
                f"Grid lower/upper must have one entry per axis (len(shape)={d}), got {len(lower)} and {len(upper)}"
            )
        if not all(math.isfinite(a) and math.isfinite(b) for a, b in zip(lower, upper)):
            raise ValueError(f"Grid bounds must be finite, got lower={lower}, upper={upper}")
        if any(b <= a for a, b in zip(lower, upper)):
            raise ValueError(f"Grid needs lower[k] < upper[k] on every axis, got lower={lower}, upper={upper}")
        if any(n < 2 for n in shape):
            raise ValueError(f"Grid needs at least 2 cells per axis, got shape={shape}")
        if any(n > MAX_CELLS_PER_AXIS for n in shape):
            raise ValueError(f"Grid shape {shape} has more than 2**62 cells on an axis (int64 indices); "
                             "use fewer cells")
        cells = math.prod(shape)
        v.check_memory(cells * 8 * v.GRID_ARRAYS,
                       f"Grid shape {shape} ({float(cells):.3g} cells, {v.GRID_ARRAYS} float64 arrays of that size)",
                       "use fewer cells per axis (a coarser shape), or raise eulerian._validate.MEMORY_FRACTION")
        spacing = tuple((b - a) / n for a, b, n in zip(lower, upper, shape))
        volume = math.prod(spacing)
        if not TINY <= volume < math.inf:   # a zero or infinite spacing gives a volume of 0, inf or NaN
            raise ValueError(
                f"Grid cell volume {volume:g} (spacing {spacing}) is not a normal positive float64: densities "
                "(mass / volume) and masses would underflow or overflow; rescale the coordinates to a box side "
                "of order 1 (or change the number of cells)"
            )
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        object.__setattr__(self, "shape", shape)

    # -- geometry -----------------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Number of space dimensions d."""
        return len(self.shape)

    @property
    def spacing(self) -> tuple[float, ...]:
        """Cell widths h_k = (upper_k - lower_k) / shape_k."""
        return tuple((b - a) / n for a, b, n in zip(self.lower, self.upper, self.shape))

    @property
    def cell_volume(self) -> float:
        """Volume of one cell, prod_k h_k."""
        return float(math.prod(self.spacing))

    @property
    def size(self) -> int:
        """Number of cells."""
        return math.prod(self.shape)

    def axes(self) -> list[np.ndarray]:
        """Cell-centre coordinates per axis, list of d arrays of shape (shape[k],)."""
        return [a + h * (np.arange(n) + 0.5) for a, h, n in zip(self.lower, self.spacing, self.shape)]

    def faces(self, axis: int) -> np.ndarray:
        """Face coordinates along ``axis``, shape (shape[axis] + 1,), from lower to upper."""
        if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or not 0 <= axis < self.dim:
            raise ValueError(f"axis must be in [0, {self.dim}), got {axis}")
        return self.lower[axis] + self.spacing[axis] * np.arange(self.shape[axis] + 1)

    def centers(self) -> np.ndarray:
        """Cell centres, shape (*shape, d), 'ij' indexing."""
        return np.stack(np.meshgrid(*self.axes(), indexing="ij"), axis=-1)

    # -- sampling ---------------------------------------------------------------------------------------
    def point_values(self, f: Callable[[np.ndarray], Any]) -> np.ndarray:
        """f evaluated at cell centres; f takes (..., d) and returns (...). Result shape (*shape)."""
        if not callable(f):
            raise TypeError(f"f must be a callable f(x) taking points (..., d) and returning (...), got {f!r}")
        values = np.asarray(v.real_output("f(x)", f(self.centers())), dtype=float)
        if values.shape != self.shape:
            raise ValueError(
                f"f must map (..., d) points to (...) values; got shape {values.shape}, expected {self.shape}"
            )
        return values

    def cell_averages(self, f: Callable[[np.ndarray], Any], order: int = 6, *, name: str = "f") -> np.ndarray:
        """Cell averages of f by tensor Gauss-Legendre quadrature with ``order`` points per axis per cell.

        Exact for polynomials of degree 2*order-1 in each variable; error O(h^(2*order)) for smooth f.
        f takes (..., d) and returns (...). Result shape (*shape). ``name``: how error messages call f
        (e.g. "rho0" when a solver averages its initial density).
        """
        if not callable(f):
            raise TypeError(f"f must be a callable f(x) taking points (..., d) and returning (...), got {f!r}")
        order = v.check_steps(order, "order (Gauss-Legendre points per axis)")
        if order > MAX_QUADRATURE_ORDER:
            raise ValueError(f"order (Gauss-Legendre points per axis) must be at most {MAX_QUADRATURE_ORDER}, got "
                             f"{order}: {MAX_QUADRATURE_ORDER} points are exact to degree "
                             f"{2 * MAX_QUADRATURE_ORDER - 1}; refine the grid instead")
        nodes, weights = np.polynomial.legendre.leggauss(order)
        nodes, weights = 0.5 * nodes, 0.5 * weights  # on [-1/2, 1/2], weights sum to 1
        centres = self.centers()
        h = np.asarray(self.spacing)
        total = np.zeros(self.shape)
        for idx in np.ndindex(*(order,) * self.dim):
            offset = np.array([nodes[i] for i in idx]) * h
            w = float(np.prod([weights[i] for i in idx]))
            values = np.asarray(v.real_output(f"{name}(x)", f(centres + offset)), dtype=float)
            if values.shape != self.shape:
                raise ValueError(
                    f"{name} must map (..., d) points to (...) values; got shape {values.shape}, expected {self.shape}"
                )
            total += w * values
        return total

    # -- moments ----------------------------------------------------------------------------------------
    def _check_density(self, rho: Any) -> Any:
        """rho as an array (NumPy or CuPy; lists are converted) of real numbers with the grid's shape."""
        v.reject_complex("rho", rho)
        if not hasattr(rho, "shape"):
            try:
                rho = np.asarray(rho, dtype=float)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"rho must be an array of cell averages (real numbers), got {type(rho).__name__}"
                                ) from exc
        if getattr(getattr(rho, "dtype", None), "kind", None) not in ("i", "u", "f"):
            raise TypeError(f"rho must hold real numbers, got dtype {getattr(rho, 'dtype', type(rho).__name__)}; "
                            "pass cell averages as a float array")
        if tuple(rho.shape) != self.shape:
            raise ValueError(f"rho has shape {tuple(rho.shape)} but the grid has shape {self.shape}; pass cell "
                             "averages on the grid")
        return rho

    def _weights(self, rho: Any) -> np.ndarray:
        """Host float64 copy of a density whose sum is finite and positive (moments of a normalised density)."""
        rho = np.asarray(to_host(self._check_density(rho)), dtype=float)
        total = float(rho.sum())
        if not (math.isfinite(total) and total > 0):
            raise ValueError(f"rho must have a finite positive total (got sum {total:g}) to normalise it; "
                             "pass a density with positive mass and no NaN/inf")
        return rho

    def mass(self, rho: Any) -> float:
        """Total mass sum(rho) * cell_volume (rho: cell averages, shape (*shape); signed values are summed as
        they are). ValueError when the sum is NaN or infinite."""
        rho = self._check_density(rho)
        total = float(rho.sum())
        if not math.isfinite(total):
            raise ValueError(f"rho sums to {total} (NaN, infinite or overflowing values); pass finite cell "
                             "averages")
        return total * self.cell_volume

    def mean(self, rho: Any) -> np.ndarray:
        """Mean of the normalised density with cell centres as nodes, shape (d,) (O(h^4) for cell averages)."""
        rho = self._weights(rho)
        x = self.centers().reshape(-1, self.dim)
        w = rho.reshape(-1)
        return (w @ x) / w.sum()

    def covariance(self, rho: Any, sheppard: bool = True) -> np.ndarray:
        """Covariance of the normalised density, shape (d, d).

        Cell centres as nodes; with ``sheppard=True`` (default) the diagonal gets Sheppard's correction
        -h_k^2/12. For cell averages of a smooth density the midpoint sum over-estimates the variance by
        h^2/12 (rho_avg = rho(x_c) + h^2 rho''/24), so the corrected value is accurate to O(h^4); the same
        correction applies to nearest-grid-point histograms.
        """
        sheppard = v.check_bool("sheppard", sheppard)
        rho = self._weights(rho)
        x = self.centers().reshape(-1, self.dim)
        w = rho.reshape(-1) / rho.sum()
        m = w @ x
        xc = x - m
        cov = (xc * w[:, None]).T @ xc
        if sheppard:
            cov -= np.diag(np.asarray(self.spacing) ** 2 / 12.0)
        return cov
