"""Finite-volume operators on a Grid, assembled as sparse matrices on the array backend.

Face convention: along axis k, the face between cells L = i and R = i + 1 carries the flux
F = alpha * rho_L - beta * rho_R (positive towards R); cell averages change by
d rho_L/dt -= F / h_k and d rho_R/dt += F / h_k, so every column of the assembled operator sums to zero
(mass is conserved to round-off). Zero-flux walls drop the boundary faces; periodic boundaries add the face
between the last and the first cell. Other walls (eulerian.boundary: Dirichlet values, prescribed fluxes) enter
through ``wall_terms``: a diagonal term and a source in the cells next to the wall, and the mass rate that leaves.

``periodic`` arguments are one flag for every axis or a sequence of flags, one per axis. Diffusion arguments are
one coefficient for every face or a list with one entry per axis (a number or the values on that axis's
flux-carrying faces, in face order; see eulerian.diffusion).
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar

import numpy as np

from ._validate import real_output
from .backend import Backend
from .boundary import BoxBoundary, Dirichlet, Flux, wall_cells, wall_points
from .errors import NumericalError
from .grid import Grid



def per_axis(value: Any, dim: int) -> list[Any]:
    """``value`` repeated for every axis, or the list itself when one entry per axis is given."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value] * dim


def face_points(grid: Grid, axis: int, periodic: bool) -> np.ndarray:
    """Centres of the faces normal to ``axis`` that carry a flux, shape (*face_shape, d) ('ij').

    Zero-flux: the interior faces (shape[axis] - 1 of them along ``axis``); periodic: the face at the lower
    wall of every cell (shape[axis] faces, the first one joins the last cell to the first).
    """
    f = grid.faces(axis)
    f = f[:-1] if periodic else f[1:-1]
    axes = grid.axes()
    axes[axis] = f
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)


def face_pairs(be: Backend, grid: Grid, axis: int, periodic: bool) -> tuple[Any, Any]:
    """Flattened (C-order) indices of the left and right cell of every flux-carrying face, in face order."""
    xp = be.xp
    idx = xp.arange(grid.size).reshape(grid.shape)
    n = grid.shape[axis]
    if periodic:
        left = xp.roll(idx, 1, axis=axis)  # face i joins cell i-1 (wrapping) and cell i
        right = idx
    else:
        left = xp.take(idx, xp.arange(0, n - 1), axis=axis)
        right = xp.take(idx, xp.arange(1, n), axis=axis)
    return left.reshape(-1), right.reshape(-1)


def face_drift(be: Backend, grid: Grid, drift: Callable, t: float, periodic: bool) -> list[Any]:
    """Normal drift component b_k at every flux-carrying face centre, one backend array per axis.

    The drift is called on NumPy points (user callables need not know the backend); its values are moved to
    the backend (set-up work: once per run for time-independent drifts).
    """
    out = []
    periodic = per_axis(periodic, grid.dim)
    for k in range(grid.dim):
        x = face_points(grid, k, periodic[k])
        b = be.asarray(real_output("drift(t, x)", drift(t, x)))[..., k]
        if not bool(be.xp.all(be.xp.isfinite(b))):
            raise NumericalError(f"the drift/velocity returned non-finite values at t = {t:g}")
        out.append(b.reshape(-1))
    return out


EXP_MAX = 700.0   # exp(700) ~ 1e304: arguments above it are clipped where the term they feed is below 1e-301


def bernoulli(xp: Any, z: Any) -> Any:
    """B(z) = z / (exp(z) - 1), B(0) = 1, for every real z: exact to round-off for z <= EXP_MAX (B(z) ~ -z for
    large negative z: no clipping there, the upwind coefficient of a cell Peclet number 1e4 is 1e4), and
    B(EXP_MAX) ~ 7e-302 in place of the underflowing B(z) above it."""
    z = xp.minimum(z, EXP_MAX)
    small = xp.abs(z) < 1e-6
    zs, zt = xp.where(small, 1.0, z), xp.where(small, z, 0.0)   # (no overflow in the branch not taken)
    return xp.where(small, 1.0 - 0.5 * zt + zt * zt / 12.0, zs / xp.expm1(zs))


def bernoulli_pair(xp: Any, z: Any) -> tuple[Any, Any]:
    """(B(-z), B(z)) with one exponential: B(-|z|) = B(|z|) + |z| (a sum of positive terms, no cancellation)."""
    a = xp.abs(z)
    b_pos = bernoulli(xp, a)           # B(|z|) in (0, 1]
    b_neg = b_pos + a                  # B(-|z|) >= 1
    up = z >= 0
    return xp.where(up, b_neg, b_pos), xp.where(up, b_pos, b_neg)


def chang_cooper_delta(xp: Any, w: Any) -> Any:
    """Chang-Cooper weight delta(w) = 1/w - 1/(exp(w) - 1), delta(0) = 1/2, for every real w (the exponential's
    argument clipped to EXP_MAX, where 1/(exp(w) - 1) < 1e-304 next to 1/w)."""
    small = xp.abs(w) < 1e-4
    ws, wt = xp.where(small, 1.0, w), xp.where(small, w, 0.0)
    return xp.where(small, 0.5 - wt / 12.0 + wt**3 / 720.0, 1.0 / ws - 1.0 / xp.expm1(xp.minimum(ws, EXP_MAX)))


class FaceFlux:
    """A two-point flux F = alpha rho_L - beta rho_R approximating b rho - D d rho/dx on a face of width h.

    Declares its spatial ``order`` (on smooth data), whether it is ``positive`` (an M-matrix generator for every
    cell Peclet number b h / D, so implicit Euler keeps rho >= 0) and whether it keeps the discrete Gibbs state
    rho_R / rho_L = exp(b h / D) of every face exactly (``exact_equilibrium``)."""

    name: ClassVar[str] = ""
    order: ClassVar[int] = 2
    positive: ClassVar[bool] = True
    exact_equilibrium: ClassVar[bool] = True

    def coefficients(self, xp: Any, b: Any, D: Any, h: float) -> tuple[Any, Any]:
        raise NotImplementedError


FLUX_SCHEMES: dict[str, FaceFlux] = {}


def register_flux(cls: type[FaceFlux]) -> type[FaceFlux]:
    """Class decorator: add an instance of the FaceFlux subclass ``cls`` to FLUX_SCHEMES under ``cls.name``."""
    FLUX_SCHEMES[cls.name] = cls()
    return cls


@register_flux
class ScharfetterGummel(FaceFlux):
    """alpha = (D/h) B(-Pe), beta = (D/h) B(Pe), Pe = b h / D, B(z) = z / (e^z - 1): exact for constant b on the
    face, so the discrete Gibbs state is stationary."""

    name = "scharfetter-gummel"

    def coefficients(self, xp: Any, b: Any, D: Any, h: float) -> tuple[Any, Any]:
        b_minus, b_plus = bernoulli_pair(xp, b * (h / D))
        return (D / h) * b_minus, (D / h) * b_plus


@register_flux
class ChangCooper(FaceFlux):
    """F = b [delta rho_L + (1 - delta) rho_R] - D (rho_R - rho_L) / h with delta = delta(-Pe): for a constant D
    algebraically the Scharfetter-Gummel flux (computed here by its own formula)."""

    name = "chang-cooper"

    def coefficients(self, xp: Any, b: Any, D: Any, h: float) -> tuple[Any, Any]:
        delta = chang_cooper_delta(xp, -b * (h / D))
        d = D / h
        return b * delta + d, d - b * (1.0 - delta)


@register_flux
class Central(FaceFlux):
    """F = b (rho_L + rho_R) / 2 - D (rho_R - rho_L) / h: second order, not positive for |Pe| > 2, no exact
    discrete equilibrium."""

    name, positive, exact_equilibrium = "central", False, False

    def coefficients(self, xp: Any, b: Any, D: Any, h: float) -> tuple[Any, Any]:
        d = D / h
        return 0.5 * b + d, d - 0.5 * b


FLUXES = tuple(FLUX_SCHEMES)


def flux_coefficients(xp: Any, flux: str, b: Any, D: Any, h: float) -> tuple[Any, Any]:
    """(alpha, beta) of F = alpha rho_L - beta rho_R approximating b rho - D d rho/dx on one face of width h, by
    the registered flux ``flux`` (FLUX_SCHEMES)."""
    if flux not in FLUX_SCHEMES:
        raise ValueError(f"unknown flux {flux!r}; choose one of {FLUXES}")
    return FLUX_SCHEMES[flux].coefficients(xp, b, D, h)


def face_rates(be: Backend, grid: Grid, face_b: list[Any], D: Any, flux: str) -> list[tuple[Any, Any]]:
    """Per axis k, (alpha / h_k, beta / h_k) on its flux-carrying faces (flattened, face order): the rates
    with which rho_L and rho_R enter d rho/dt through each face. D: see the module docstring."""
    out = []
    D = per_axis(D, grid.dim)
    for k in range(grid.dim):
        h = grid.spacing[k]
        a, b = flux_coefficients(be.xp, flux, face_b[k], D[k], h)
        out.append((a / h, b / h))
    return out


def assemble_generator(
    be: Backend, grid: Grid, face_b: list[Any], D: Any, flux: str, periodic: Any
) -> Any:
    """Sparse matrix A (size x size, CSR) with d rho/dt = A rho for d rho/dt + div(rho b - D grad rho) = 0
    (the flux-carrying faces only: walls other than zero-flux add ``wall_terms``)."""
    xp = be.xp
    periodic = per_axis(periodic, grid.dim)
    rows, cols, vals = [], [], []
    for k, (a, b) in enumerate(face_rates(be, grid, face_b, D, flux)):
        L, R = face_pairs(be, grid, k, periodic[k])
        rows += [L, L, R, R]
        cols += [L, R, L, R]
        vals += [-a, b, a, -b]
    A = be.sparse.coo_matrix(
        (xp.concatenate(vals), (xp.concatenate(rows), xp.concatenate(cols))), shape=(grid.size, grid.size)
    )
    return A.tocsr()


class WallTerms:
    """The walls of a box other than zero-flux and periodic, at one time t, for d rho/dt = A rho + s.

    Dirichlet wall (value g, drift b and diffusion D at the wall's face centres): the face flux is the same flux
    formula as inside, between the wall value and the next cell centre, a distance h/2 apart (FiPy's treatment
    of a fixed value)::

        lower wall: F = alpha g - beta rho_c   (F along +axis)      upper wall: F = alpha rho_c - beta g
        (alpha, beta) = flux_coefficients(flux, b, D, h / 2)

    Flux wall (outward normal flux q): d rho_c/dt -= q / h.
    ``diagonal`` (size,) adds to the diagonal of A, ``source`` (size,) to s (None when there is none);
    ``outflow(rho)`` is the mass per unit time leaving through the walls, sum over wall faces of
    (face area) x (outward normal flux), computed from the face fluxes themselves.
    """

    def __init__(self, be: Backend, grid: Grid, box: BoxBoundary, drift: Callable, D_wall: Callable[[int, int], Any],
                 flux: str, t: float) -> None:
        xp = be.xp
        self.be, self.grid = be, grid
        self.diagonal = xp.zeros(grid.size)
        source = np.zeros(grid.size)
        self._faces: list[tuple[Any, Any, Any, float]] = []  # (cells, coefficient of rho_c, constant, area)
        has_source = False
        with np.errstate(over="ignore"):   # q / h, alpha g / h beyond float64: refused by the guard below
            for k, side, cond in box.walls():
                if not isinstance(cond, (Dirichlet, Flux)):
                    continue
                h = grid.spacing[k]
                area = grid.cell_volume / h
                cells = wall_cells(grid, k, side)
                x = wall_points(grid, k, side)
                value = cond.values(t, x).reshape(-1)
                if isinstance(cond, Flux):
                    np.add.at(source, cells, -value / h)
                    self._faces.append((be.xp.asarray(cells), 0.0, be.asarray(value), area))
                    has_source = has_source or bool(np.any(value != 0))
                    continue
                b = np.asarray(real_output("drift(t, x)", drift(t, x)), dtype=float)[..., k].reshape(-1)
                if not np.all(np.isfinite(b)):
                    raise NumericalError(f"the drift returned non-finite values on a wall at t = {t:g}")
                Dw = D_wall(k, side)  # a number, or one value per wall face
                alpha, beta = flux_coefficients(np, flux, b, Dw if np.ndim(Dw) == 0 else np.reshape(Dw, -1), 0.5 * h)
                if side == 0:   # outward flux -F = beta rho_c - alpha g
                    rate, inflow = beta, alpha * value
                else:           # outward flux F = alpha rho_c - beta g
                    rate, inflow = alpha, beta * value
                diag = np.zeros(grid.size)
                np.add.at(diag, cells, -rate / h)
                self.diagonal = self.diagonal + be.asarray(diag)
                np.add.at(source, cells, inflow / h)
                has_source = has_source or bool(np.any(inflow != 0))
                self._faces.append((be.xp.asarray(cells), be.asarray(rate), be.asarray(-inflow), area))
        if not (np.all(np.isfinite(source)) and bool(xp.all(xp.isfinite(self.diagonal)))):
            raise NumericalError(f"the wall terms overflow float64 at t = {t:g} (D / h, |drift| or the wall values "
                                 "beyond ~1e308); rescale space, time and density units")
        self.source = be.asarray(source) if has_source else None

    def outflow(self, rho: Any) -> float:
        """Mass per unit time leaving the box through its open walls for the density rho (flattened)."""
        total = 0.0
        for cells, rate, constant, area in self._faces:
            total += area * float((rate * rho[cells] + constant).sum())
        return total
