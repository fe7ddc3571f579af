"""Boundary conditions of the finite-volume solvers, one object per side of the box.

A box in d dimensions has 2d sides: the lower and the upper wall of every axis. ``boundary=`` of
``solve_fokker_planck`` and ``solve_continuity`` takes

* a name or a condition for every side: ``"zero-flux"`` (default), ``"periodic"``, ``Dirichlet(g)``, ...;
* a sequence with one entry per axis, each a name/condition for both sides of that axis or a pair
  ``(lower, upper)``, e.g. ``[(Dirichlet(1.0), Flux(-1.0)), "periodic"]``.

Conditions (the flux is the total flux J = rho b - D grad rho of Fokker-Planck, J = rho v of continuity; n the
outward unit normal of the wall)::

    ZeroFlux()      J . n = 0                       mass conserved
    Periodic()      both walls of an axis joined    mass conserved
    Dirichlet(g)    rho = g(t, x) on the wall (g >= 0; for continuity: the density that flows IN where
                    v . n < 0; where v . n > 0 the cell's own reconstructed value flows out)
    Flux(q)         J . n = q(t, x) (q > 0: mass leaves, q < 0: mass enters)
    Outflow()       continuity only: what reaches the wall leaves (upwind, J . n = max(v . n, 0) rho), nothing
                    enters; the same as Dirichlet(0) for continuity

Values ``g`` and ``q`` are constants or callables f(t, x) of the wall's face centres x (shape (..., d)) returning
one real value per face, (...). With open walls the solvers report the mass that left through them
(``Solution.boundary_outflow``) and check the balance mass(t) - mass(0) = -outflow(t) (+ source) to round-off.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np

from ._validate import real_output
from .errors import NumericalError
from .grid import Grid


def _check_value(cls: str, value: Any, nonnegative: bool) -> Any:
    if callable(value):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{cls} value must be a real number or a callable f(t, x), got {value!r}")
    if isinstance(value, (complex, np.complexfloating)):
        raise TypeError(f"{cls} value must be real, got the complex {value!r}; pass its real part")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{cls} value must be a real number or a callable f(t, x), got {value!r}") from exc
    if not math.isfinite(number):
        raise ValueError(f"{cls} value must be finite, got {number}")
    if nonnegative and number < 0:
        raise ValueError(f"{cls} value is a density on the wall and must be >= 0, got {number:g}")
    return number


@dataclass(frozen=True)
class BoundaryCondition:
    """One side's condition; subclasses declare ``name`` and whether the wall is ``open`` (mass may cross)."""

    name: ClassVar[str] = ""
    open: ClassVar[bool] = False

    def values(self, t: float, x: np.ndarray) -> np.ndarray:  # pragma: no cover - only for valued conditions
        raise NotImplementedError


@dataclass(frozen=True)
class ZeroFlux(BoundaryCondition):
    """J . n = 0 on the wall (a reflecting wall: mass conserved)."""

    name: ClassVar[str] = "zero-flux"


@dataclass(frozen=True)
class Periodic(BoundaryCondition):
    """The lower and the upper wall of the axis are identified (a torus along that axis)."""

    name: ClassVar[str] = "periodic"


@dataclass(frozen=True)
class _Valued(BoundaryCondition):
    value: Any = 0.0
    nonnegative: ClassVar[bool] = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _check_value(type(self).__name__, self.value, self.nonnegative))

    def values(self, t: float, x: np.ndarray) -> np.ndarray:
        """The condition's value at the face centres x (shape (..., d)), shape x.shape[:-1]; checked."""
        label = f"the boundary's {type(self).__name__} value"
        if not callable(self.value):
            return np.full(x.shape[:-1], self.value)
        out = np.asarray(real_output(f"{label} g(t, x)", self.value(t, x)), dtype=float)
        if out.shape == ():
            out = np.full(x.shape[:-1], float(out))
        if out.shape != x.shape[:-1]:
            raise ValueError(f"{label} g(t, x) must return one value per face centre, shape {x.shape[:-1]}; "
                             f"got {out.shape}")
        if not np.all(np.isfinite(out)):
            raise NumericalError(f"{label} g(t, x) returned non-finite values at t = {t:g}")
        if self.nonnegative and out.min() < 0:
            raise ValueError(f"{label} g(t, x) is a density on the wall and must be >= 0; got {out.min():.3g} "
                             f"at t = {t:g}")
        return out


@dataclass(frozen=True)
class Dirichlet(_Valued):
    """rho = g(t, x) on the wall (g >= 0, a constant or a callable of the face centres)."""

    name: ClassVar[str] = "dirichlet"
    open: ClassVar[bool] = True
    nonnegative: ClassVar[bool] = True


@dataclass(frozen=True)
class Flux(_Valued):
    """Prescribed outward normal flux J . n = q(t, x) (mass per unit wall area and time; q < 0 injects)."""

    name: ClassVar[str] = "flux"
    open: ClassVar[bool] = True


@dataclass(frozen=True)
class Outflow(BoundaryCondition):
    """Continuity only: upwind outflow, J . n = max(v . n, 0) rho_wall, nothing flows in."""

    name: ClassVar[str] = "outflow"
    open: ClassVar[bool] = True


BOUNDARY_CONDITIONS: dict[str, type[BoundaryCondition]] = {
    c.name: c for c in (ZeroFlux, Periodic, Dirichlet, Flux, Outflow)
}
NAMED = {"zero-flux": ZeroFlux(), "periodic": Periodic(), "outflow": Outflow()}


@dataclass(frozen=True)
class BoxBoundary:
    """The conditions of every side: ``sides[k] = (lower, upper)`` of axis k."""

    sides: tuple[tuple[BoundaryCondition, BoundaryCondition], ...]

    @property
    def periodic(self) -> tuple[bool, ...]:
        """Per axis, whether it is periodic."""
        return tuple(isinstance(lo, Periodic) for lo, _ in self.sides)

    @property
    def open(self) -> bool:
        """Whether mass may cross some wall."""
        return any(c.open for pair in self.sides for c in pair)

    @property
    def label(self) -> str:
        """"zero-flux" or "periodic" when every side has that condition; else one entry per axis."""
        names = {c.name for pair in self.sides for c in pair}
        if len(names) == 1:
            return names.pop()
        return "; ".join(f"axis {k}: {lo.name}/{hi.name}" for k, (lo, hi) in enumerate(self.sides))

    def walls(self) -> list[tuple[int, int, BoundaryCondition]]:
        """(axis, side (0 lower, 1 upper), condition) of every non-periodic side."""
        return [(k, s, c) for k, pair in enumerate(self.sides) for s, c in enumerate(pair)
                if not isinstance(c, Periodic)]


def _condition(entry: Any, where: str, allowed: Sequence[str]) -> BoundaryCondition:
    if isinstance(entry, str):
        if entry not in NAMED:
            valued = [n for n in allowed if n not in NAMED]
            raise ValueError(f"unknown boundary {entry!r} for {where}; choose one of "
                             f"{[n for n in allowed if n in NAMED]} or a condition object "
                             f"({', '.join(BOUNDARY_CONDITIONS[n].__name__ + '(value)' for n in valued)})")
        entry = NAMED[entry]
    if not isinstance(entry, BoundaryCondition):
        raise TypeError(f"boundary for {where} must be a name or a condition from eulerian.boundary "
                        f"(ZeroFlux(), Periodic(), Dirichlet(g), Flux(q), Outflow()), got {entry!r}")
    if entry.name not in allowed:
        raise ValueError(f"boundary {entry.name!r} ({where}) is not available here; choose one of {list(allowed)}")
    return entry


def parse_boundary(boundary: Any, dim: int, allowed: Sequence[str]) -> BoxBoundary:
    """The BoxBoundary of ``boundary`` (see the module docstring) for a box of ``dim`` axes.

    ValueError for an unknown name, a condition not in ``allowed``, a periodic condition on one side only, or a
    sequence whose length is not ``dim`` (one entry per axis); TypeError for anything else.
    """
    if isinstance(boundary, (str, BoundaryCondition)):
        entries: list = [boundary] * dim
    elif isinstance(boundary, (list, tuple)):
        if len(boundary) != dim:
            raise ValueError(f"boundary has {len(boundary)} entries but the grid has {dim} axes: give one entry per "
                             "axis (a condition for both sides, or a (lower, upper) pair), or one condition for all")
        entries = list(boundary)
    else:
        raise TypeError(f"boundary must be a name, a condition, or one entry per axis, got {boundary!r}")
    sides = []
    for k, entry in enumerate(entries):
        if isinstance(entry, (list, tuple)):
            if len(entry) != 2:
                raise ValueError(f"boundary of axis {k} must be one condition or a (lower, upper) pair, got "
                                 f"{len(entry)} entries")
            pair = (_condition(entry[0], f"the lower side of axis {k}", allowed),
                    _condition(entry[1], f"the upper side of axis {k}", allowed))
        else:
            c = _condition(entry, f"axis {k}", allowed)
            pair = (c, c)
        if isinstance(pair[0], Periodic) != isinstance(pair[1], Periodic):
            raise ValueError(f"boundary of axis {k} is periodic on one side only; a periodic axis joins both walls: "
                             "use 'periodic' for both sides or for neither")
        sides.append(pair)
    return BoxBoundary(tuple(sides))


def wall_points(grid: Grid, axis: int, side: int) -> np.ndarray:
    """Centres of the faces on one wall, shape (*face_shape, d) with the axis of length 1 ('ij')."""
    axes = grid.axes()
    axes[axis] = np.array([grid.lower[axis] if side == 0 else grid.upper[axis]])
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)


def wall_cells(grid: Grid, axis: int, side: int) -> np.ndarray:
    """Flattened (C-order) indices of the cells next to one wall, in the order of wall_points."""
    idx = np.arange(grid.size).reshape(grid.shape)
    return np.take(idx, [0 if side == 0 else grid.shape[axis] - 1], axis=axis).reshape(-1)
