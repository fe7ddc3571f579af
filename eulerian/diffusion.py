"""Diffusion coefficients of the Fokker-Planck solver: a constant, a field D(x), cell values, or an SPD matrix.

The equation is  d rho/dt + div(rho b) = div(D grad rho)  (the flux J = rho b - D grad rho). For a matrix D this
is sum_jk D_jk d_j d_k rho (dX = b dt + sqrt(2 D) dW with a constant matrix D). For a space-dependent D(x) the
Ito SDE dX = b dt + sqrt(2 D(x)) dW has d rho/dt + div(rho b) = Lap(D rho) = div(D grad rho + rho grad D): pass the
drift b - grad D to solve it here.

Discretisation, per face (eulerian.operators): the normal coefficient D_kk enters the face's exponentially fitted
flux (Scharfetter-Gummel, Chang-Cooper) or the central flux. Its face value is::

    constant / matrix : D (resp. D_kk)
    field D(x)        : D at the face centre (the face's own value, as FiPy's FaceVariable coefficients)
    cell values       : the harmonic mean 2 D_L D_R / (D_L + D_R) of the two cells (exact flux for a D that is
                        constant in each cell), the wall cell's value on a wall

so the discrete Gibbs state rho_R / rho_L = exp(b_f h / D_f) of every face stays stationary for a zero-flux
problem with any positive D(x). The off-diagonal entries of a matrix add the cross fluxes -D_kj d_j rho on the
faces normal to axis k, d_j rho taken as the mean of the central differences of the two cells (walls: mirrored
cells); they are second order but not exponentially fitted, so with off-diagonal entries the discrete Gibbs state
is exact only to O(h^2) and positivity is no longer guaranteed (the matrix is not an M-matrix).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ._validate import real_output, reject_complex
from .backend import Backend, to_host
from .grid import Grid
from .operators import face_points, per_axis
from .boundary import wall_cells, wall_points

KINDS = ("constant", "field", "cells", "matrix")


@dataclass(frozen=True)
class Diffusion:
    """A checked diffusion coefficient. ``kind`` in KINDS; ``value``: float, callable D(x) -> (...), cell values
    of the grid's shape, or a (d, d) symmetric positive definite matrix. Build with ``check_diffusion``, or
    ``Diffusion.cells(values)`` / ``Diffusion.matrix(M)`` when an array could be read either way."""

    kind: str
    value: Any

    @classmethod
    def cells(cls, values: Any) -> "Diffusion":
        """Cell values D_i > 0 (an array of the grid's shape)."""
        return cls("cells", values)

    @classmethod
    def matrix(cls, M: Any) -> "Diffusion":
        """A constant symmetric positive definite (d, d) matrix."""
        return cls("matrix", M)

    @property
    def cross(self) -> np.ndarray | None:
        """The off-diagonal part of a matrix with a non-zero off-diagonal entry, else None."""
        if self.kind != "matrix":
            return None
        off = self.value - np.diag(np.diag(self.value))
        return off if np.any(off != 0) else None

    def normal(self, grid: Grid, periodic: Any) -> list[Any]:
        """Per axis k, D_kk on the flux-carrying faces: a number, or a NumPy array in face order."""
        periodic = per_axis(periodic, grid.dim)
        out = []
        for k in range(grid.dim):
            if self.kind == "constant":
                out.append(self.value)
            elif self.kind == "matrix":
                out.append(float(self.value[k, k]))
            elif self.kind == "field":
                out.append(_field_values(self.value, face_points(grid, k, periodic[k])).reshape(-1))
            else:
                D, n = self.value, grid.shape[k]
                if periodic[k]:  # face i joins cell i - 1 and cell i
                    lower, upper = np.roll(D, 1, axis=k), D
                else:
                    lower, upper = np.take(D, np.arange(0, n - 1), axis=k), np.take(D, np.arange(1, n), axis=k)
                out.append((2.0 * lower * upper / (lower + upper)).reshape(-1))
        return out

    def wall(self, grid: Grid, axis: int, side: int) -> Any:
        """D_kk on the faces of one wall: a number or one value per wall face (order of boundary.wall_points)."""
        if self.kind == "constant":
            return self.value
        if self.kind == "matrix":
            return float(self.value[axis, axis])
        if self.kind == "field":
            return _field_values(self.value, wall_points(grid, axis, side)).reshape(-1)
        return self.value.reshape(-1)[wall_cells(grid, axis, side)]

    def smallest(self, grid: Grid) -> float:
        """The smallest coefficient: the least eigenvalue of a matrix, the least value at the cell centres of a
        field."""
        if self.kind == "constant":
            return self.value
        if self.kind == "matrix":
            return float(np.linalg.eigvalsh(self.value)[0])
        values = self.value if self.kind == "cells" else _field_values(self.value, grid.centers())
        return float(values.min())

    def coarsen(self, grid: Grid, coarse: Grid) -> "Diffusion":
        """The coefficient on a coarser grid of the same box (multigrid levels): cell values are averaged over
        the children of every coarse cell (halving an axis as often as it takes: a level several times coarser
        than ``grid`` averages blocks of 2^j cells); the other kinds do not depend on the grid."""
        if self.kind != "cells" or coarse.shape == grid.shape:
            return self
        D = self.value
        for k, m in enumerate(coarse.shape):
            while D.shape[k] != m:
                n = D.shape[k]
                if n % 2 or n // 2 < m:
                    raise ValueError(f"coarse shape {coarse.shape} is not {grid.shape} halved along axis {k}")
                D = 0.5 * (np.take(D, np.arange(0, n, 2), axis=k) + np.take(D, np.arange(1, n, 2), axis=k))
        return Diffusion("cells", D)

    def describe(self) -> str:
        return {"constant": "constant", "field": "D(x)", "cells": "cell values", "matrix": "matrix"}[self.kind]


def _field_values(D: Callable, x: np.ndarray) -> np.ndarray:
    values = np.asarray(real_output("diffusion D(x)", D(x)), dtype=float)
    if values.shape == ():
        values = np.full(x.shape[:-1], float(values))
    if values.shape != x.shape[:-1]:
        raise ValueError(f"diffusion D(x) must return one value per point, shape {x.shape[:-1]}; got {values.shape}")
    if not np.all(np.isfinite(values)) or values.min() <= 0:
        bad = values[~np.isfinite(values) | (values <= 0)]
        raise ValueError(f"diffusion D(x) must be finite and > 0 everywhere; got {bad.reshape(-1)[0]:g} "
                         "(use a positive floor, e.g. max(D(x), 1e-12))")
    return values


def check_diffusion(diffusion: Any, grid: Grid) -> Diffusion:
    """The Diffusion of ``diffusion``: a number D > 0, a callable D(x), cell values (grid.shape) or an SPD (d, d)
    matrix. ValueError (naming the argument and the fix) for D <= 0, NaN, a non-symmetric or indefinite matrix,
    a wrong shape; TypeError for complex values or other types."""
    if isinstance(diffusion, Diffusion):
        kind, value = diffusion.kind, diffusion.value
    elif callable(diffusion):
        kind, value = "field", diffusion
    elif isinstance(diffusion, (str, bytes, bool, np.bool_)):
        raise TypeError(f"diffusion must be a real number, a callable D(x), cell values or a matrix, got "
                        f"{diffusion!r}")
    elif np.ndim(reject_complex("diffusion", diffusion)) == 0:  # (ragged lists refused here)
        kind, value = "constant", diffusion
    else:
        shape = np.shape(diffusion)
        as_cells, as_matrix = shape == grid.shape, shape == (grid.dim, grid.dim)
        if as_cells and as_matrix and grid.dim > 1:
            raise ValueError(f"diffusion of shape {shape} could be cell values or a matrix on this {grid.shape} "
                             "grid: pass Diffusion.cells(values) or Diffusion.matrix(M) from eulerian.diffusion")
        if not (as_cells or as_matrix):
            raise ValueError(f"diffusion must be a number, a callable D(x), cell values of shape {grid.shape} or a "
                             f"({grid.dim}, {grid.dim}) matrix on this {grid.dim}-D grid; got an array of shape "
                             f"{shape}")
        kind, value = ("cells" if as_cells else "matrix"), diffusion
    if kind not in KINDS:
        raise ValueError(f"diffusion: a Diffusion's kind must be one of {KINDS}, got {kind!r}; build it with "
                         "Diffusion.cells(values) or Diffusion.matrix(M), or pass a number or a callable D(x)")
    if kind == "field":
        _field_values(value, grid.centers())  # probe: real, finite, positive at the cell centres
        return Diffusion("field", value)
    if hasattr(value, "__cuda_array_interface__"):   # cell values or a matrix on the GPU: checked on the host
        value = to_host(value)
    reject_complex("diffusion", value)
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"diffusion must be real numbers, a callable D(x) or a matrix, got {value!r}") from exc
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"diffusion must be a real number, got {value!r}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("diffusion contains NaN or infinite values; pass finite coefficients")
    if kind == "constant":
        if not arr > 0:
            raise ValueError(f"diffusion must be > 0, got {float(arr):g} (use solve_continuity for D = 0)")
        return Diffusion("constant", float(arr))
    if kind == "cells":
        if arr.shape != grid.shape:
            raise ValueError(f"diffusion cell values must have the grid's shape {grid.shape}, got {arr.shape}")
        if arr.min() <= 0:
            raise ValueError(f"diffusion cell values must be > 0 everywhere, got min {arr.min():g}")
        return Diffusion("cells", arr)
    if arr.shape != (grid.dim, grid.dim):
        raise ValueError(f"a diffusion matrix must be ({grid.dim}, {grid.dim}) for this grid, got {arr.shape}")
    if not np.allclose(arr, arr.T, rtol=1e-12, atol=1e-14 * np.abs(arr).max()):
        raise ValueError("the diffusion matrix must be symmetric (the antisymmetric part of D does not diffuse; "
                         "pass (D + D.T) / 2)")
    arr = 0.5 * (arr + arr.T)
    lam = np.linalg.eigvalsh(arr)
    if lam[0] <= 0:
        raise ValueError(f"the diffusion matrix must be positive definite (SPD), smallest eigenvalue {lam[0]:.3g}")
    if grid.dim == 1:
        return Diffusion("constant", float(arr[0, 0]))
    return Diffusion("matrix", arr)


def _central_difference(be: Backend, n: int, h: float, periodic: bool) -> Any:
    """(rho_{i+1} - rho_{i-1}) / (2h) on n cells; walls mirror the end cells. Shape (n, n)."""
    xp = be.xp
    i = xp.arange(n)
    up, down = i + 1, i - 1
    if periodic:
        up, down = up % n, down % n
    else:
        up, down = xp.minimum(up, n - 1), xp.maximum(down, 0)
    rows = xp.concatenate([i, i])
    cols = xp.concatenate([up, down])
    vals = xp.concatenate([xp.full(n, 0.5 / h), xp.full(n, -0.5 / h)])
    return be.sparse.coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()


def _faces_1d(be: Backend, n: int, h: float, periodic: bool) -> tuple[Any, Any]:
    """(average to the flux-carrying faces (nf, n), divergence (n, nf)): face f joins cells L and R;
    d rho_L/dt -= F/h, d rho_R/dt += F/h."""
    xp = be.xp
    if periodic:
        f = xp.arange(n)
        L, R, nf = (f - 1) % n, f, n
    else:
        f = xp.arange(n - 1)
        L, R, nf = f, f + 1, n - 1
    half = xp.full(nf, 0.5)
    avg = be.sparse.coo_matrix((xp.concatenate([half, half]), (xp.concatenate([f, f]), xp.concatenate([L, R]))),
                               shape=(nf, n)).tocsr()
    one = xp.full(nf, 1.0 / h)
    div = be.sparse.coo_matrix((xp.concatenate([-one, one]), (xp.concatenate([L, R]), xp.concatenate([f, f]))),
                               shape=(n, nf)).tocsr()
    return avg, div


def _kron_axis(be: Backend, shape: tuple[int, ...], axis: int, op: Any) -> Any:
    """The 1D operator ``op`` (square, or rectangular: it changes the length of ``axis``) applied along ``axis``
    of a C-ordered field of ``shape``."""
    out = None
    for k, n in enumerate(shape):
        factor = op if k == axis else be.sparse.identity(n, format="csr")
        out = factor if out is None else be.sparse.kron(out, factor, format="csr")
    return out


def cross_diffusion(be: Backend, grid: Grid, cross: np.ndarray, periodic: Any) -> Any:
    """Sparse (size, size) operator of the cross fluxes F_k = -sum_{j != k} D_kj d_j rho on the flux-carrying faces
    normal to every axis k (see the module docstring); its columns sum to zero. ``cross``: the off-diagonal part
    of the matrix, with a non-zero entry (Diffusion.cross)."""
    periodic = per_axis(periodic, grid.dim)
    C = None
    for k in range(grid.dim):
        avg, div = _faces_1d(be, grid.shape[k], grid.spacing[k], periodic[k])
        for j in range(grid.dim):
            if j == k or cross[k, j] == 0:
                continue
            G = _kron_axis(be, grid.shape, j, _central_difference(be, grid.shape[j], grid.spacing[j], periodic[j]))
            term = (-float(cross[k, j])) * (_kron_axis(be, grid.shape, k, div) @
                                            (_kron_axis(be, grid.shape, k, avg) @ G))
            C = term if C is None else C + term
    return C.tocsr()


def peclet_guard(D: Diffusion, grid: Grid) -> None:
    """ValueError when the cell Peclet numbers b h / D would overflow for the smallest D."""
    low = D.smallest(grid)   # a Python float > 0: the division overflows to inf without a warning
    if not math.isfinite(max(grid.spacing) / low):
        raise ValueError(f"diffusion D = {low:g} is too small for cells of size {max(grid.spacing):g}: the cell "
                         "Péclet numbers b h / D overflow. Use a larger D, or solve_continuity for D = 0")
