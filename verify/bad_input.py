"""Refusal of bad input: a catalog of valid calls of every public function, and the bad values fed to them.

For every public function of :mod:`eulerian`, :mod:`lagrangian` and :mod:`verify.gaussian`, :data:`CALLS` holds a
small VALID call (milliseconds to run). :func:`bad_values` lists the bad values tried for one argument of it:
complex scalars and arrays (object arrays of complex numbers too), NaN, ±inf, zero or negative numbers, bools,
strings, None, arrays of the wrong shape or dimension, non-symmetric square matrices, huge integers, callables
returning NaN, complex or wrongly shaped values, objects of the wrong type.
:func:`refusal_gap` replaces one argument by one bad value and says what went wrong, or None when the call

* raised ValueError, TypeError or a project exception (:data:`EXPECTED`) with a one-line message that names the
  argument (or says which two arguments must match), or
* returned, and nothing it returned holds a NaN or a complex value (arrays, floats, dataclass fields, Gaussian
  moments; a returned vector field is evaluated once on valid input and checked the same way), and every field
  of a returned dataclass declared ``bool``, ``int`` or ``str`` holds one (:func:`type_paths`).

A call may also list its own edge values (``ValidCall.accepts``: a range's ends, ``inf`` where it means "no
limit"), which must be accepted (:func:`acceptance_gap`), and its own must-refuse values (``ValidCall.refuses``:
the first float beyond a documented range, an option that its other arguments exclude), which must be refused up
front with a ValueError or TypeError naming the argument (``refusal_gap(..., must_refuse=True)``).

A returned vector field is also evaluated at bad points and at bad values of its leading arguments (the time,
or the grid and density of a mean-field velocity; :func:`point_gaps`): it must refuse complex, string, object and
boolean points and points of the wrong dimension, naming its points argument, and each bad time, grid or density
naming it too, unless it returns a real result without NaN.

Every call runs with warnings turned into errors, so a silent cast (ComplexWarning) or an overflow RuntimeWarning
counts as a gap, like any other exception (IndexError, AttributeError, ZeroDivisionError, LinAlgError, ...), and
so does a call that runs longer than :data:`CALL_LIMIT_S` (where a timer can be set: the main thread on POSIX).

The report's ``bad-input-*`` cases run every bad value of every argument (:func:`gaps`) and compare which of them
were refused with the record in :mod:`verify.refusal_record` (:func:`outcome_changes`; rewrite it after a change
made on purpose with ``python -m verify.bad_input --record``); the test suite draws from the same catalog with
Hypothesis. The same holds your own functions to this standard::

    from verify.bad_input import ValidCall, gaps
    tried, found = gaps(ValidCall(my_solver, [("grid", grid), ("rho0", rho0)], {"dt": 0.01}), label="my_solver")
    assert not found, "\\n".join(found)   # e.g. "my_solver(dt=nan) returned NaN in ['result']"
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib
import inspect
import math
import os
import pprint
import re
import signal
import sys
import sysconfig
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

import eulerian
import lagrangian
from eulerian import Grid, benamou_brenier, solve_continuity, solve_fokker_planck
from eulerian.diffusion import Diffusion
from verify import gaussian as vg

EXPECTED = (ValueError, TypeError, eulerian.NumericalError, eulerian.BackendUnavailable,
            eulerian.MemoryLimitError, lagrangian.LagrangianError, vg.FiniteTimeBlowUp)

# ------------------------------------------------------------------------------------------------ valid data
RNG = np.random.default_rng(1)
TINY = float(np.finfo(float).tiny)       # the least normal float64
X = RNG.standard_normal((8, 2))          # a small 2-D cloud
Y = RNG.standard_normal((10, 2)) + 0.5
GRID = Grid((-3.0,), (3.0,), (8,))
GRID_CENTERS = GRID.centers()[..., 0]
RHO0 = np.exp(-GRID_CENTERS ** 2)
RHO1 = np.exp(-(GRID_CENTERS - 0.5) ** 2)
RHO1 *= RHO0.sum() / RHO1.sum()  # equal masses
A = np.array([[-1.0, 0.3], [0.0, -0.5]])
G2 = vg.Gaussian([0.0, 1.0], [[1.0, 0.2], [0.2, 0.5]])
G2B = vg.Gaussian([1.0, -1.0], [[2.0, 0.0], [0.0, 1.0]])
G3 = vg.Gaussian([0.0, 0.5, -0.5], np.diag([1.0, 0.5, 2.0]))   # neurons (w, a) in R^{2+1}
DRIFT = vg.Affine(A, [0.1, 0.0])
Q = np.array([[0.5, 0.1]])
K = np.array([[0.2, -0.3]])
V = np.array([[0.1, 0.0], [0.0, -0.2]])
S_DATA, R_DATA, Y2 = vg.data_moments(X, X[:, 0] - X[:, 1])
THETA = RNG.standard_normal((6, 3))
VALUES = np.zeros((4, 4, 2)) + [0.1, -0.2]   # grid velocities on [-4, 4]^2


def _decay(t, x):
    return -x


def _score(t, x):
    return -x


def _grad_v(x):
    return x


def _confining(x):
    return 0.5 * x[..., 0] ** 2


def _attract(z):
    return 0.5 * z


class _ShapeOnly:
    """An object with a ``shape`` and nothing else (no dtype, no values): not an array of numbers."""

    def __init__(self, shape: tuple) -> None:
        self.shape = shape

    def __repr__(self) -> str:
        return f"_ShapeOnly({self.shape})"


@dataclasses.dataclass
class ValidCall:
    """A valid call of ``func``: ``pos`` and ``kw`` hold its arguments (names and values)."""

    func: Callable
    pos: list            # [(name, value), ...] passed positionally
    kw: dict             # passed by keyword
    probe: Callable | None = None   # evaluates a returned callable on valid input
    aliases: dict = dataclasses.field(default_factory=dict)  # argument -> extra words a message may use
    # argument -> valid values at the edge of what it takes (a range's ends, inf where inf means "no limit", a list
    # where an array is taken): each must be ACCEPTED (a real result without NaN)
    accepts: dict = dataclasses.field(default_factory=dict)
    # keyword arguments kept when the call is also made with every other keyword left at its default
    needs: tuple = ()
    # argument -> bad values specific to this call (the first number beyond a range's end, an option the call's
    # other arguments exclude): each must be REFUSED up front (ValueError/TypeError naming the argument); an
    # error met while running or a return is a gap
    refuses: dict = dataclasses.field(default_factory=dict)
    # make the valid call once, untimed, before the timed ones: for calls whose first run imports a large library
    # (FiPy's import alone may take the whole time limit on a loaded machine)
    warm_up: bool = False

    def names(self) -> list[str]:
        return [n for n, _ in self.pos] + list(self.kw)

    def value(self, name: str) -> Any:
        return dict(self.pos)[name] if name in dict(self.pos) else self.kw[name]

    def call(self, name: str, bad: Any) -> Any:
        args = [bad if n == name else v for n, v in self.pos]
        kw = {n: (bad if n == name else v) for n, v in self.kw.items()}
        return self.func(*args, **kw)

    def probed(self, result: Any) -> Any:
        """``result``, with the probe's evaluation of it when the call returned a callable (a vector field)."""
        return (result, self.probe(result)) if self.probe is not None and callable(result) else result

    def call_defaults(self) -> Any:
        """The call with every keyword argument but ``needs`` left at the function's default."""
        return self.func(*[v for _, v in self.pos], **{n: v for n, v in self.kw.items() if n in self.needs})


@dataclasses.dataclass(frozen=True)
class FieldProbe:
    """Evaluates a returned vector field at valid ``points`` (after the leading ``args``: t, or t, grid, rho), and
    at bad ones (:func:`bad_points`)."""

    points: np.ndarray
    args: tuple = (0.5,)

    def __call__(self, f: Callable, points: Any = ...) -> Any:
        return f(*self.args, self.points if points is ... else points)   # (None is one of the bad points)


def _field_probe(x: np.ndarray = X) -> FieldProbe:
    return FieldProbe(x)


def beyond(x: float, toward: float = math.inf) -> float:
    """The next float after ``x`` toward ``toward``: the first value beyond a documented range's closed end."""
    return float(np.nextafter(x, toward))


def past(t: float, span: float) -> float:
    """A save time 1e-9 of the time span past the end ``t`` of [0, span]: save times within round-off (1e-12 of
    the span) of the interval's ends are taken as the ends, beyond that they are refused."""
    return t + (1e-9 * span if t > 0 else -1e-9 * span)


BOX = {"lower": ["box"], "upper": ["box"]}  # "particles lie outside the box [lower, upper]"
DT = {"t_final": ["dt"], "steps": ["dt"]}   # "the time step dt = t_final/steps ..."

NET_GRID = Grid((-1.0, -1.0), (1.0, 1.0), (6, 5))
NET_RHO = np.exp(-(NET_GRID.centers() ** 2).sum(-1))

WALL_GRID = Grid((-1.0, 0.0), (1.0, 0.5), (6, 4))   # 2-D, different spacing per axis
WALL_RHO = np.exp(-(WALL_GRID.centers() ** 2).sum(-1))
WALLS = [(eulerian.Dirichlet(0.2), eulerian.Flux(0.1)), "zero-flux"]   # open walls on axis 0
CROSS_D = [[0.5, 0.1], [0.1, 0.4]]                                     # SPD with an off-diagonal term
# diffusion values that a 2-D solve must refuse up front: a non-symmetric matrix (also in units where the
# asymmetry, 1e-10, lies below NumPy's default absolute tolerance) and an indefinite one, cell values
# with a zero or a negative cell, a (3, 3) array (neither cell values nor a 2 x 2 matrix), D(x) reaching 0,
# complex cell values, a matrix with NaN
BAD_DIFFUSIONS = [[[0.5, 0.1], [0.0, 0.4]], [[5e-10, 1e-10], [0.0, 4e-10]], [[0.1, 0.5], [0.5, 0.1]],
                  np.where(np.arange(WALL_GRID.size).reshape(WALL_GRID.shape) == 5, 0.0, 0.5),
                  np.full(WALL_GRID.shape, -0.5), np.ones((3, 3)), lambda x: 0.5 - x[..., 0],
                  lambda x: np.where(x[..., 0] < 0.0, 0.5, 0.0),   # D(x) exactly 0 on half the box
                  np.full(WALL_GRID.shape, 0.5, dtype=complex), [[0.5, np.nan], [np.nan, 0.4]],
                  # the explicit constructors with arrays of another shape, and an unknown kind
                  Diffusion.matrix(np.eye(3)), Diffusion.cells(np.ones((3, 3))), Diffusion("spline", 0.5)]
# boundary specs that a 2-D solve must refuse up front: three conditions for one axis, a periodic side facing a
# wall, a Dirichlet value g(t, x) < 0 and one of the wrong shape, an outflow wall (lower, and upper) where the
# equation has none (Fokker-Planck), one entry for two axes
BAD_WALLS = [[(eulerian.Dirichlet(0.2), eulerian.Flux(0.1), eulerian.ZeroFlux()), "zero-flux"],
             [(eulerian.Periodic(), eulerian.ZeroFlux()), "zero-flux"],
             [(eulerian.Dirichlet(lambda t, x: np.full(x.shape[:-1], -1.0)), eulerian.Flux(0.1)), "zero-flux"],
             [(eulerian.Dirichlet(lambda t, x: np.ones(7)), eulerian.Flux(0.1)), "zero-flux"],
             [(eulerian.Outflow(), eulerian.Flux(0.1)), "zero-flux"], [(eulerian.Flux(0.1), eulerian.Outflow()),
                                                                        "zero-flux"], ["zero-flux"]]

UNIT_TIME = {"accepts": {"t": [0.0, 1.0]}, "refuses": {"t": [beyond(1.0), beyond(0.0, -1.0)]}}  # t in [0, 1]
TIME_FROM_0 = {"accepts": {"t": [0.0]}, "refuses": {"t": [beyond(0.0, -1.0)]}}                   # t in [0, inf)

_OTHER_JKO_STEP = eulerian.jko_step(GRID, RHO0, 0.1, potential=lambda x: 0.5 * (x ** 2).sum(-1), time_steps=3,
                                    max_iter=10, on_failure="return")

@functools.lru_cache(maxsize=1)
def _small_geodesic() -> "eulerian.BBResult":
    """A Benamou-Brenier result to call methods on: 20 iterations between two 1-D densities (not converged;
    its velocity field is defined all the same)."""
    return benamou_brenier(GRID, RHO0, RHO1, 3, max_iter=20)


@functools.lru_cache(maxsize=1)
def _grid_flow_matching_field() -> Callable:
    """The flow-matching field between RHO0 and RHO1 on GRID, to evaluate at the ends of its time range."""
    return eulerian.flow_matching_grid_field(GRID, RHO0, RHO1)


CALLS: dict[str, ValidCall] = {
    # ------------------------------------------------------------------------------------------- eulerian
    "eulerian.Grid": ValidCall(Grid, [("lower", (-1.0, 0.0)), ("upper", (1.0, 2.0)), ("shape", (4, 3))], {},
                               # shape: beyond int64 indices. upper: cells of volume 0.5 * (6 TINY / 3) = TINY, the
                               # least normal float, the least volume accepted; a third of it is refused
                               accepts={"upper": [(1.0, 6 * TINY)]},
                               refuses={"shape": [(2**63, 2)], "upper": [(1.0, 2 * TINY)]}),
    "eulerian.get_backend": ValidCall(eulerian.get_backend, [], {"name": "numpy"}, aliases={"name": ["backend"]}),
    # integer cell counts are densities too; NumPy complex scalars in a list, an object with a shape but no dtype
    "eulerian.Grid.mass": ValidCall(GRID.mass, [("rho", RHO0)], {}, accepts={"rho": [RHO0.tolist(), np.arange(1, 9)]},
                                    refuses={"rho": [list(RHO0 * (1 + 1j)), _ShapeOnly(RHO0.shape)]}),
    "eulerian.Grid.mean": ValidCall(WALL_GRID.mean, [("rho", WALL_RHO)], {},
                                    accepts={"rho": [WALL_RHO.tolist(), np.arange(1, 25).reshape(6, 4)]}),
    "eulerian.Grid.point_values": ValidCall(WALL_GRID.point_values, [("f", lambda x: x[..., 0] * x[..., 1])], {}),
    "eulerian.Grid.cell_averages": ValidCall(WALL_GRID.cell_averages, [("f", lambda x: x[..., 0] ** 2)],
                                             {"order": 4, "name": "f"}, accepts={"order": [1, 64]},
                                             refuses={"order": [65]}),
    "eulerian.Grid.faces": ValidCall(WALL_GRID.faces, [("axis", 1)], {}, accepts={"axis": [0]}, refuses={"axis": [2]}),
    "eulerian.Grid.covariance": ValidCall(WALL_GRID.covariance, [("rho", WALL_RHO)], {"sheppard": True},
                                          accepts={"rho": [WALL_RHO.tolist()], "sheppard": [False]}),
    "eulerian.solve_fokker_planck": ValidCall(
        solve_fokker_planck,
        [("grid", GRID), ("rho0", RHO0), ("drift", _decay), ("diffusion", 0.5), ("t_final", 0.1), ("steps", 2)],
        {"flux": "scharfetter-gummel", "time": "bdf2", "boundary": "zero-flux", "backend": "numpy",
         "save_at": [0.05, 0.1], "source": None, "solver": "auto", "rtol": 1e-12, "time_dependent": None,
         "damped_steps": None},
        aliases=DT, accepts={"save_at": [[0.0, 0.1]]},
        refuses={"save_at": [[0.05, past(0.1, 0.1)], [past(0.0, 0.1)], [0.03], [0.05 * (1 + 1e-6)]]}),
    "eulerian.solve_fokker_planck on FiPy": ValidCall(
        solve_fokker_planck,
        [("grid", GRID), ("rho0", RHO0), ("drift", _decay), ("diffusion", 0.5), ("t_final", 0.1), ("steps", 2)],
        {"time": "crank-nicolson", "backend": "fipy", "solver": "auto", "damped_steps": None},
        aliases=DT, warm_up=True,
        # FiPy solves with its own LU and has no Douglas ADI
        refuses={"solver": ["lu", "multigrid"], "time": ["douglas-adi"]}),
    "eulerian.solve_fokker_planck, open walls in 2-D": ValidCall(
        solve_fokker_planck,
        [("grid", WALL_GRID), ("rho0", WALL_RHO), ("drift", _decay), ("diffusion", 0.5), ("t_final", 0.05),
         ("steps", 2)],
        {"flux": "scharfetter-gummel", "time": "crank-nicolson", "boundary": WALLS, "backend": "numpy"},
        aliases=DT,
        # Douglas ADI and an off-diagonal D take closed walls only
        refuses={"time": ["douglas-adi"], "diffusion": [CROSS_D, *BAD_DIFFUSIONS], "boundary": BAD_WALLS},
        accepts={"time": ["bdf2", "implicit-euler"], "diffusion": [np.diag([0.5, 0.1]).tolist()],
                 "boundary": [[(eulerian.Dirichlet(lambda t, x: 0.2), eulerian.Flux(lambda t, x: 0.1)),
                               "zero-flux"],      # wall values from callables returning one number
                              # a wall density g(t, x) of exactly 0 (an absorbing wall): the end of g >= 0
                              [(eulerian.Dirichlet(lambda t, x: 0.0 * x[..., 1]), eulerian.Flux(0.1)), "zero-flux"]]}),
    "eulerian.solve_fokker_planck, Douglas ADI in 2-D": ValidCall(
        solve_fokker_planck,
        [("grid", WALL_GRID), ("rho0", WALL_RHO), ("drift", _decay), ("diffusion", np.diag([0.5, 0.2]).tolist()),
         ("t_final", 0.05), ("steps", 2)],
        {"time": "douglas-adi", "boundary": "zero-flux", "backend": "numpy", "solver": "auto", "damped_steps": None,
         "save_at": [0.025, 0.05]},
        aliases=DT, accepts={"damped_steps": [0]},
        # ADI has no damped start, solves its line systems itself, runs on the array backends only; with steps
        # given, save times fall on steps; a density of 5e-324 in one cell of volume 1/24 has a mass that
        # underflows to 0
        refuses={"damped_steps": [1], "solver": ["lu", "multigrid"], "backend": ["fipy"], "save_at": [[0.03]],
                 "rho0": [np.where(np.arange(WALL_GRID.size).reshape(WALL_GRID.shape) == 0, 5e-324, 0.0)]}),
    "eulerian.Dirichlet": ValidCall(eulerian.Dirichlet, [("value", 0.2)], {}, accepts={"value": [0.0]},
                                    refuses={"value": [beyond(0.0, -1.0)]}),    # a density on the wall: >= 0
    "eulerian.Flux": ValidCall(eulerian.Flux, [("value", 0.1)], {}, accepts={"value": [-0.1]}),  # either sign
    "eulerian.solve_stationary": ValidCall(
        eulerian.solve_stationary, [("grid", GRID), ("drift", _decay), ("diffusion", 0.5)],
        {"boundary": "zero-flux", "flux": "scharfetter-gummel", "source": None, "mass": 1.0, "backend": "numpy"}),
    "eulerian.solve_stationary, a Dirichlet wall in 2-D": ValidCall(
        eulerian.solve_stationary, [("grid", WALL_GRID), ("drift", _decay), ("diffusion", 0.5)],
        {"boundary": [eulerian.Dirichlet(0.3), "zero-flux"], "source": lambda t, x: 1.0 + x[..., 0]},
        refuses={"diffusion": [CROSS_D]}),    # an off-diagonal D takes closed walls only
    "eulerian.solve_meanfield": ValidCall(
        eulerian.solve_meanfield, [("grid", GRID), ("rho0", RHO0), ("velocity", lambda t, g, rho, x: -x),
                                   ("t_final", 0.1)],
        {"diffusion": 0.1, "cfl": 0.4, "limiter": "mc", "boundary": "zero-flux", "backend": "numpy",
         "save_at": None, "steps": 3, "max_steps": 100},
        accepts={"cfl": [1.0]}, refuses={"cfl": [beyond(1.0)]}),
    "eulerian.flow_matching_grid_field": ValidCall(
        eulerian.flow_matching_grid_field, [("grid", GRID), ("rho0", RHO0), ("rho1", RHO1)],
        {"grid1": None, "backend": "numpy", "chunk_bytes": 1 << 20},
        accepts={"chunk_bytes": [1024]},    # the least chunk
        refuses={"grid1": [WALL_GRID],      # a 2-D target grid for 1-D densities
                 "rho0": [RHO0 * 1e308],    # finite cell values whose mass overflows
                 "chunk_bytes": [1023]},
        probe=_field_probe(np.array([[0.2], [-0.4]]))),
    # its field at both ends of t in [0, 1] (rho0's and rho1's), and at one point of shape (d,) = (1,)
    "eulerian.flow_matching_grid_field(...)(t, z)": ValidCall(
        lambda t, z: _grid_flow_matching_field()(t, z), [("t", 0.5), ("z", [[0.2], [-0.4]])], {},
        accepts={**UNIT_TIME["accepts"], "z": [[0.2]]}, refuses=UNIT_TIME["refuses"]),
    "eulerian.attention_velocity": ValidCall(
        eulerian.attention_velocity, [("Q", np.eye(2)), ("K", 0.5 * np.eye(2)), ("V", -np.eye(2))],
        {"scale": 1.0, "chunk_bytes": 1 << 20, "wall_mass": None, "method": "exact"},
        # the guard's threshold at the probe's own wall fraction (not exceeded), the least chunk
        accepts={"wall_mass": [0.999, eulerian.wall_fraction(NET_RHO)], "chunk_bytes": [1024]},
        refuses={"wall_mass": [1.0], "chunk_bytes": [1023]}, needs=("wall_mass",),
        probe=FieldProbe(np.array([[0.2, -0.3], [0.5, 0.1]]), (0.0, NET_GRID, NET_RHO))),
    "eulerian.wall_fraction": ValidCall(eulerian.wall_fraction, [("rho", NET_RHO)], {}),
    "eulerian.jko_step": ValidCall(
        eulerian.jko_step, [("grid", GRID), ("rho", RHO0), ("tau", 0.1)],
        {"potential": _confining, "diffusion": 0.5, "internal": ("power", 2.0), "time_steps": 2, "max_iter": 300,
         "tol": 1e-3, "on_failure": "return", "sigma": 0.2, "relaxation": 1.9, "warm_start": None,
         "residual_tol": 1e-3, "check_every": 5, "boundary": "zero-flux", "backend": "numpy"},
        # sigma's documented range [1e-6, 1e6]: its ends taken, the next floats beyond them refused
        accepts={"sigma": [1e-6, 1e6], "relaxation": [1.99]},
        refuses={"sigma": [beyond(1e-6, 0.0), beyond(1e6)], "relaxation": [2.0],
                 "internal": [("entropy", 2.0), ("power", 1.0)],      # only power energies, with m > 1
                 "warm_start": [_OTHER_JKO_STEP]}),                   # the state of a step with 3 time steps
    "eulerian.jko_flow": ValidCall(
        eulerian.jko_flow, [("grid", GRID), ("rho0", RHO0), ("tau", 0.1), ("t_final", 0.2)],
        {"potential": _confining, "diffusion": 0.5, "time_steps": 2, "max_iter": 300, "tol": 1e-3,
         "on_failure": "return", "max_steps": 1000, "internal": ("power", 2.0), "warm_start": True},
        # t_final / tau within 1e-9 (relative) of a whole number of steps, here of 1 step; a cap of exactly the 2
        # steps runs, one less is refused
        accepts={"t_final": [0.1 * (1 + 5e-10)], "max_steps": [2]},
        refuses={"t_final": [0.1 * (1 + 1.5e-9)], "max_steps": [1]}),
    "eulerian.free_energy": ValidCall(
        eulerian.free_energy, [("grid", GRID), ("rho", RHO0)],
        {"potential": _confining, "diffusion": 0.5, "internal": ("power", 2.0)}),
    "eulerian.network_velocity": ValidCall(
        eulerian.network_velocity, [("data_x", X[:, 0]), ("data_y", X[:, 1])],
        {"activation": "relu", "chunk_bytes": 2**20}, accepts={"chunk_bytes": [1024]}, refuses={"chunk_bytes": [1023]},
        probe=FieldProbe(np.array([[0.2, -0.3], [0.5, 0.1]]), (0.0, NET_GRID, NET_RHO))),
    "eulerian.network_risk": ValidCall(
        eulerian.network_risk, [("grid", NET_GRID), ("rho", NET_RHO), ("data_x", X[:, 0]), ("data_y", X[:, 1])],
        {"activation": "relu"}),
    "eulerian.solve_continuity": ValidCall(
        solve_continuity, [("grid", GRID), ("rho0", RHO0), ("velocity", _decay), ("t_final", 0.1)],
        {"cfl": 0.4, "limiter": "mc", "boundary": "zero-flux", "backend": "numpy", "save_at": None, "steps": 3,
         "source": None, "time_dependent": None, "max_steps": 100},
        accepts={"cfl": [1.0], "save_at": [[0.0, 0.1]], "max_steps": [3]},   # a cap of exactly the 3 steps runs
        refuses={"cfl": [beyond(1.0)], "save_at": [[past(0.1, 0.1)], [0.05]],   # dt = 1/30: 0.05 is no step
                 "max_steps": [2]}),
    "eulerian.solve_continuity on FiPy": ValidCall(
        solve_continuity, [("grid", GRID), ("rho0", RHO0), ("velocity", _decay), ("t_final", 0.1)],
        {"cfl": 0.4, "backend": "fipy", "save_at": None, "steps": 3, "max_steps": 100}, warm_up=True,
        accepts={"cfl": [1.0], "save_at": [[0.0, 0.1]]},
        refuses={"cfl": [beyond(1.0)], "save_at": [[past(0.1, 0.1)], [0.05]]}),
    "eulerian.solve_continuity, open walls in 2-D": ValidCall(
        solve_continuity, [("grid", WALL_GRID), ("rho0", WALL_RHO), ("velocity", lambda t, x: 0.5 - x),
                           ("t_final", 0.05)],
        {"cfl": 0.4, "limiter": "minmod", "boundary": [(eulerian.Dirichlet(0.2), eulerian.Outflow()), "periodic"],
         "backend": "numpy", "steps": 3, "max_steps": 100},
        accepts={"cfl": [1.0], "limiter": ["none"]}, refuses={"cfl": [beyond(1.0)]}),
    "eulerian.benamou_brenier": ValidCall(
        benamou_brenier, [("grid", GRID), ("rho0", RHO0), ("rho1", RHO1), ("time_steps", 3)],
        {"method": "douglas-rachford", "max_iter": 20, "tol": 1e-5, "residual_tol": 5e-4, "backend": "numpy",
         "normalize": False, "boundary": "zero-flux", "gamma": None, "alpha": 1.8, "relaxation": 1.9,
         "workers": 1, "check_every": 10, "multilevel": False, "dtype": None, "gap_tol": 1e-3,
         "step_rule": "adaptive"},
        # gap_tol 1e-3: with an edge max_iter (1e9, 2^62, ...) the run converges in 530 iterations (0.2 s; 3 970
        # with 1e-4, 1-3 s, near CALL_LIMIT_S on a loaded machine). method: 20 iterations of the primal-dual do not converge, and say so (converged False); the ranges of
        # alpha and relaxation (0, 2) and of gamma [1e-8, 1e8]
        accepts={"method": ["primal-dual"], "gamma": [1e-8, 1e8], "alpha": [1.99], "relaxation": [1.99]},
        # dtype: NumPy's abstract scalar types name no dtype
        refuses={"alpha": [2.0], "relaxation": [2.0], "gamma": [beyond(1e-8, 0.0), beyond(1e8)],
                 "dtype": [np.floating]}),
    "eulerian.BBResult.velocity": ValidCall(lambda t, threshold=1e-3: _small_geodesic().velocity(t, threshold),
                                            [("t", 0.5)], {"threshold": 1e-3}, **UNIT_TIME),
    "eulerian.PowerEnergy": ValidCall(eulerian.PowerEnergy, [("m", 2.0)], {"coefficient": 1.0},
                                      aliases={"m": ["exponent"]}, refuses={"m": [1.0]}),    # m > 1
    "eulerian.default_tol": ValidCall(eulerian.default_tol, [("grid", GRID), ("time_steps", 3)], {}),
    "eulerian.default_gamma": ValidCall(eulerian.default_gamma, [("method", "primal-dual"), ("dim", 1)], {},
                                       accepts={"dim": [2, 3]}, refuses={"dim": [0, 4]}),
    "eulerian.solve_porous_medium": ValidCall(
        eulerian.solve_porous_medium, [("grid", GRID), ("rho0", RHO0), ("m", 2.0), ("t_final", 0.1)],
        {"diffusion": 1.0, "potential": _confining, "time": "ssp-rk2", "reconstruction": "muscl", "cfl": 0.5,
         "steps": 4, "save_at": [0.05, 0.1], "backend": "numpy", "max_steps": 1000},
        # rho0 of compact support: cells of exactly 0 stay >= 0
        aliases=DT, accepts={"cfl": [1.0], "save_at": [[0.0, 0.1]], "rho0": [np.maximum(1.0 - GRID_CENTERS ** 2, 0.0)]},
        refuses={"cfl": [beyond(1.0)], "save_at": [[past(0.1, 0.1)], [0.03], [0.05 * (1 + 1e-6)]],
                 "m": [1.0],   # m > 1: the heat equation is solve_fokker_planck's
                 # max rho0 = 3.2e153: the energy 8 rho² stays finite, the flux bound 8 d D m/(m-1) rho²/h² = 28 rho²
                 # does not (a bound without its factor m, 7 rho², would let the run start)
                 "rho0": [np.asarray(RHO0) * (3.2e153 / np.max(RHO0))]}),
    "eulerian.porous_medium_energy": ValidCall(
        eulerian.porous_medium_energy, [("grid", GRID), ("rho", RHO0), ("m", 2.0)],
        {"diffusion": 1.0, "potential": _confining}),
    # ----------------------------------------------------------------------------------------- lagrangian
    "lagrangian.get_namespace": ValidCall(lagrangian.get_namespace, [("name", "numpy")], {}, aliases={"name": ["backend"]}),
    "lagrangian.deposit": ValidCall(
        lagrangian.deposit, [("x", X), ("lower", [-6.0, -6.0]), ("upper", [6.0, 6.0]), ("shape", (4, 4))],
        {"weights": np.ones(8), "method": "cic", "outside": "raise"}, aliases=BOX,
        accepts={"shape": [(1, 4)]},   # one cell on an axis
        # weights whose density (weight per cell volume 9) overflows float64
        refuses={"weights": [np.full(8, 1e308)]}),
    "lagrangian.gaussian_kde": ValidCall(lagrangian.gaussian_kde, [("x", X), ("points", Y)],
                                    {"bandwidth": None, "weights": np.ones(8), "chunk_bytes": 2**20},
                                    # one sample carries all the weight: no covariance to estimate
                                    refuses={"weights": [np.eye(8)[0]]},
                                    # their sum overflows; the top of the bandwidth factor's range, sqrt(max)
                                    accepts={"weights": [np.full(8, 1e308)],
                                             "bandwidth": [float(np.sqrt(np.finfo(float).max))]}),
    # the bottom of the bandwidth factor's range, sqrt(TINY): the kernel's width is 1.5e-154 standard deviations,
    # so the samples' whitened coordinates, |x| / (c sigma), stay below sqrt(max) / 2 only for samples within one
    # standard deviation of the origin (here -1 and 1, sigma = sqrt(2))
    "lagrangian.gaussian_kde, narrowest kernel": ValidCall(
        lagrangian.gaussian_kde, [("x", [[-1.0], [1.0]]), ("points", [[0.0], [0.5]])], {"bandwidth": 1.0},
        accepts={"bandwidth": [float(np.sqrt(TINY))]}),
    "lagrangian.kde_bandwidth_factor": ValidCall(lagrangian.kde_bandwidth_factor, [("n", 20), ("d", 2), ("rule", "scott")],
                                            {}),
    "lagrangian.affine_field": ValidCall(lagrangian.affine_field, [("matrix", A), ("offset", [0.1, 0.2])], {},
                                    probe=_field_probe()),
    "lagrangian.flow_matching_field_from_samples": ValidCall(
        lagrangian.flow_matching_field_from_samples, [("x0", X), ("x1", Y[:8])],
        {"bandwidth": "scott", "chunk_bytes": 2**20}, probe=_field_probe()),
    "lagrangian.gradient_field": ValidCall(lagrangian.gradient_field, [("grad_V", _grad_v)], {}, probe=_field_probe(),
                                      aliases={"grad_V": ["grad_V(x)"]}),
    "lagrangian.grid_velocity_field": ValidCall(
        lagrangian.grid_velocity_field, [("lower", [-4.0, -4.0]), ("upper", [4.0, 4.0]), ("values", VALUES)],
        {"times": None, "outside": "raise"}, probe=_field_probe(), aliases=BOX,
        refuses={"times": [[0.0]]}),     # one time for values without a time axis
    "lagrangian.grid_velocity_field, time-dependent": ValidCall(
        lagrangian.grid_velocity_field, [("lower", [-4.0, -4.0]), ("upper", [4.0, 4.0]),
                                         ("values", np.stack([VALUES, -2.0 * VALUES]))],
        {"times": [0.0, 1.0], "outside": "clamp"}, probe=_field_probe(), aliases=BOX, needs=("times",),
        refuses={"times": [[1.0, 0.0], [0.0, 0.0], [0.0, 0.5, 1.0]]}),   # increasing, one per slice of values
    "lagrangian.probability_flow_field": ValidCall(
        lagrangian.probability_flow_field, [("drift", _decay), ("diffusion", 0.5), ("score", _score)], {},
        # semi-definite: singular too; symmetric within 1e-12 of its largest entry (or of 1)
        accepts={"diffusion": [[[0.5, 0.1], [0.1, 0.4]], [[0.5, 0.0], [0.0, 0.0]], [[0.5, 5e-13], [0.0, 0.4]]]},
        # a diffusion matrix that is not symmetric (by 0.1, and by 1e-10), or not positive semi-definite, or of
        # rank 3, or not square
        refuses={"diffusion": [[[0.5, 0.1], [0.0, 0.4]], [[0.5, 1e-10], [0.0, 0.4]], [[0.5, 0.0], [0.0, -0.1]],
                               np.ones((2, 2, 2)), np.full((2, 3), 0.1)]},
        probe=_field_probe()),
    # a (d, d) diffusion: the field refuses points of another dimension against it
    "lagrangian.probability_flow_field, diffusion matrix": ValidCall(
        lagrangian.probability_flow_field, [("drift", _decay), ("diffusion", [[0.5, 0.1], [0.1, 0.4]]),
                                            ("score", _score)], {}, probe=_field_probe()),
    "lagrangian.integrate_ode": ValidCall(
        lagrangian.integrate_ode, [("field", _decay), ("x0", X), ("t0", 0.0), ("t1", 0.3), ("steps", 3)],
        {"method": "rk4", "save_at": [0.1, 0.3]},
        accepts={"save_at": [[0.0, 0.3]]},
        refuses={"save_at": [[past(0.3, 0.3)], [past(0.0, 0.3)], [0.15], [0.1 * (1 + 1e-6)]]}),
    "lagrangian.integrate_sde": ValidCall(
        lagrangian.integrate_sde,
        [("drift", _decay), ("diffusion", 0.5), ("x0", X), ("t0", 0.0), ("t1", 0.3), ("steps", 3)],
        {"rng": np.random.default_rng(0), "method": "euler-maruyama", "save_at": None}, needs=("rng",),
        accepts={"diffusion": [[0.5, 0.0]]},                    # one coefficient per axis, zero allowed
        refuses={"diffusion": [[0.5, -0.1], [[0.5, 0.1], [0.0, 0.4]], [[0.5, 0.0], [0.0, -0.1]],
                               np.full((2, 3), 0.1)],           # not square
                 "t1": [0.0, -0.3]}),                           # t1 = t0 and t1 < t0: SDEs run forward
    "lagrangian.noise_factor": ValidCall(lagrangian.noise_factor, [("diffusion", np.diag([0.5, 1.0])), ("dim", 2)], {}),
    "lagrangian.attention_field": ValidCall(lagrangian.attention_field, [("Q", Q), ("K", K), ("V", V)],
                                       {"scale": 1.0, "chunk_bytes": 2**20}, probe=_field_probe()),
    "lagrangian.network_field": ValidCall(lagrangian.network_field, [("data_x", X), ("data_y", X[:, 0])],
                                     {"activation": "linear", "chunk_bytes": 2**20},
                                     probe=_field_probe(THETA)),
    "lagrangian.network_loss": ValidCall(lagrangian.network_loss, [("theta", THETA), ("data_x", X), ("data_y", X[:, 0])],
                                    {"activation": "linear"}),
    "lagrangian.network_output": ValidCall(lagrangian.network_output, [("theta", THETA), ("u", X)],
                                      {"activation": "linear"}),
    "lagrangian.softmax_attention": ValidCall(
        lagrangian.softmax_attention, [("queries", X), ("keys", Y), ("Q", Q), ("K", K), ("V", V)],
        {"scale": 1.0, "chunk_bytes": 2**20}),
    "lagrangian.sliced_w2": ValidCall(lagrangian.sliced_w2, [("x", X), ("y", Y[:8])],
                                 {"projections": 8, "rng": np.random.default_rng(0)}, needs=("rng",)),
    "lagrangian.w2": ValidCall(lagrangian.w2, [("x", X), ("y", Y)],
                          {"weights_x": np.ones(8), "weights_y": None, "max_bytes": 2**20},
                          # inf: no limit; weights whose sum overflows
                          accepts={"max_bytes": [math.inf], "weights_x": [np.full(8, 1e308)]}),
    # m > 1; a mass whose share per particle, times the kernel's peak 0.64, underflows (n times it would not)
    "lagrangian.blob_velocity": ValidCall(lagrangian.blob_velocity, [("x", X), ("m", 2.0), ("epsilon", 0.5)],
                                     {"mass": 1.0, "diffusion": 1.0}, refuses={"m": [1.0], "mass": [2e-307]}),
    "lagrangian.blob_density": ValidCall(lagrangian.blob_density, [("x", X), ("points", Y), ("epsilon", 0.5)],
                                    {"mass": 1.0}),
    "lagrangian.blob_energy": ValidCall(lagrangian.blob_energy, [("x", X), ("m", 2.0), ("epsilon", 0.5)],
                                   {"mass": 1.0, "diffusion": 1.0}),
    "lagrangian.blob_flow": ValidCall(
        lagrangian.blob_flow, [("x0", X), ("m", 2.0), ("epsilon", 0.5), ("t_final", 0.1), ("steps", 4)],
        {"mass": 1.0, "diffusion": 1.0, "save_at": [0.0, 0.05, 0.1], "method": "rk4"}, aliases=DT,
        # save times within 1e-8 of a step of the step grid are on it (dt = 0.025): the next values are refused
        accepts={"save_at": [[0.0, 0.025 * (1 + 5e-9), 0.1]]},
        refuses={"save_at": [[past(0.1, 0.1)], [past(0.0, 0.1)], [0.03], [0.05 * (1 + 1e-6)],
                             [0.025 * (1 + 1.5e-8)]]}),
    "lagrangian.implicit_euler_step": ValidCall(
        lagrangian.implicit_euler_step, [("x", X), ("tau", 0.1)],
        {"potential_grad": _grad_v, "interaction_grad": _attract, "mass": 1.0, "tol": 1e-12, "max_iter": 500},
        needs=("potential_grad",)),
    "lagrangian.implicit_euler_step, potential only": ValidCall(
        lagrangian.implicit_euler_step, [("x", X), ("tau", 0.1)], {"potential_grad": _grad_v, "interaction_grad": None},
        needs=("potential_grad",), refuses={"potential_grad": [None]}),   # neither gradient: the identity step
    "lagrangian.implicit_euler_flow": ValidCall(
        lagrangian.implicit_euler_flow, [("x0", X), ("tau", 0.1), ("steps", 3)],
        {"potential_grad": _grad_v, "interaction_grad": _attract, "mass": 1.0, "tol": 1e-12, "max_iter": 500},
        needs=("potential_grad",)),
    "lagrangian.w2_squared": ValidCall(lagrangian.w2_squared, [("x", X), ("y", Y)],
                                  {"weights_x": None, "weights_y": np.ones(10), "max_bytes": 2**20},
                                  # the 8 x 10 cost matrix takes 640 bytes: a budget of exactly that suffices
                                  accepts={"max_bytes": [math.inf, 640], "weights_y": [np.full(10, 1e308)]}),
    # ---------------------------------------------------------------------------------------- verify.gaussian
    "gaussian.jko_gaussian_step": ValidCall(vg.jko_gaussian_step, [("g", G2), ("H", [[1.0, 0.2], [0.2, 0.5]]),
                                                             ("b", [0.1, 0.0]), ("diffusion", 0.3), ("tau", 0.1)], {},
                                            # H may be indefinite while I + tau H stays positive definite
                                            accepts={"H": [[[1.0, 0.0], [0.0, -5.0]]]},
                                            # I + tau H indefinite, and singular (1 + 0.1 (-10) = 0 exactly)
                                            refuses={"H": [[[1.0, 0.0], [0.0, -20.0]], [[1.0, 0.0], [0.0, -10.0]]]}),
    "gaussian.jko_gaussian": ValidCall(vg.jko_gaussian, [("g0", G2), ("H", [[1.0, 0.2], [0.2, 0.5]]), ("b", [0.1, 0.0]),
                                                   ("diffusion", 0.3), ("tau", 0.1), ("steps", 3)],
                                          {"max_steps": 1000}, accepts={"max_steps": [3]}, refuses={"max_steps": [2]}),
    "gaussian.gaussian_free_energy": ValidCall(vg.gaussian_free_energy, [("g", G2), ("H", [[1.0, 0.2], [0.2, 0.5]]),
                                                                   ("b", [0.1, 0.0]), ("diffusion", 0.3)], {}),
    # symmetry is judged relative to the largest entry: an asymmetry of 1e-3 of it is refused at the scale 1e-6,
    # one of 1e-12 of it taken at the scale 1e6
    "gaussian.Gaussian": ValidCall(vg.Gaussian, [("mean", [0.0, 1.0]), ("cov", [[1.0, 0.2], [0.2, 0.5]])], {},
                                   refuses={"cov": [[[1e-6, 2.01e-7], [2e-7, 5e-7]]]},
                                   accepts={"cov": [[[1e6, 200000.000001], [200000.0, 5e5]]]}),
    "gaussian.Affine": ValidCall(vg.Affine, [("matrix", A), ("offset", [0.1, 0.0])], {}),
    "gaussian.Gaussian.sample": ValidCall(G2.sample, [("n", 5), ("rng", np.random.default_rng(0))], {},
                                          accepts={"n": [1]}),
    "gaussian.Gaussian.pdf": ValidCall(G2.pdf, [("x", X)], {}),
    # a 1-D law takes a scalar point (shape (), the dimension implied)
    "gaussian.Gaussian.logpdf, 1-D": ValidCall(vg.Gaussian([0.2], [[0.5]]).logpdf, [("x", [[0.3], [-0.1]])], {},
                                               accepts={"x": [0.3]}),
    "gaussian.Affine.__call__": ValidCall(vg.Affine(A, [0.1, 0.0]), [("x", X)], {}),
    "gaussian.Affine.push": ValidCall(vg.Affine(A, [0.1, 0.0]).push, [("g", G2)], {},
                                      refuses={"g": [vg.Gaussian([0.0], [[1.0]])]}),     # a 1-D law, a 2-D map
    "gaussian.w2": ValidCall(vg.w2, [("g0", G2), ("g1", G2B)], {}),
    "gaussian.w2_squared": ValidCall(vg.w2_squared, [("g0", G2), ("g1", G2B)], {}),
    "gaussian.brenier_map": ValidCall(vg.brenier_map, [("g0", G2), ("g1", G2B)], {}),
    "gaussian.mccann": ValidCall(vg.mccann, [("g0", G2), ("g1", G2B), ("t", 0.5)], {}, **UNIT_TIME),
    "gaussian.mccann_field": ValidCall(vg.mccann_field, [("g0", G2), ("g1", G2B), ("t", 0.5)], {}),
    "gaussian.linear_sde": ValidCall(vg.linear_sde, [("g0", G2), ("drift", DRIFT), ("diffusion", 0.3), ("t", 0.5)], {},
                                     accepts={**TIME_FROM_0["accepts"], "diffusion": [[[0.3, 0.1], [0.1, 0.2]]]},
                                     # a diffusion matrix that is not symmetric, not positive semi-definite, or
                                     # of another dimension than g0
                                     refuses={**TIME_FROM_0["refuses"],
                                              "diffusion": [[[0.3, 0.1], [0.0, 0.2]], [[0.3, 0.0], [0.0, -0.1]],
                                                            0.3 * np.eye(3), np.full((2, 3), 0.1)]}),
    "gaussian.linear_sde_transition": ValidCall(vg.linear_sde_transition,
                                           [("drift", DRIFT), ("diffusion", 0.3), ("t", 0.5)], {}, **TIME_FROM_0),
    "gaussian.linear_moment_rhs": ValidCall(vg.linear_moment_rhs, [("drift", DRIFT), ("diffusion", 0.3),
                                                              ("mean", G2.mean), ("cov", G2.cov)], {}),
    "gaussian.expectation": ValidCall(vg.expectation, [("g", G2), ("f", lambda x: x[..., 0] ** 2)], {"order": 4},
                                      refuses={"g": [vg.Gaussian(np.zeros(4), np.eye(4))],   # d <= 3
                                               "order": [0, 101]},
                                      accepts={"order": [1, 100]}),   # the ends of 1 <= order <= 100
    "gaussian.stationary": ValidCall(vg.stationary, [("drift", DRIFT), ("diffusion", 0.3)], {}),
    "gaussian.flow_matching_marginal": ValidCall(vg.flow_matching_marginal, [("g0", G2), ("g1", G2B), ("t", 0.5)], {},
                                   **UNIT_TIME),
    "gaussian.flow_matching_field": ValidCall(vg.flow_matching_field, [("g0", G2), ("g1", G2B), ("t", 0.5)], {}),
    "gaussian.flow_matching_map": ValidCall(vg.flow_matching_map, [("g0", G2), ("g1", G2B), ("t", 0.5)], {},
                                   **UNIT_TIME),
    "gaussian.least_squares_field": ValidCall(vg.least_squares_field, [("g", G2), ("dmean", [0.1, 0.0]),
                                                                  ("dcov", [[0.1, 0.0], [0.0, -0.1]])], {}),
    "gaussian.attention": ValidCall(vg.attention, [("g0", G2), ("Q", Q), ("K", K), ("V", V), ("t", 0.2)],
                               {"scale": 1.0}, **TIME_FROM_0),
    "gaussian.attention_map": ValidCall(vg.attention_map, [("g", G2), ("Q", Q), ("K", K), ("V", V)], {"scale": 1.0}),
    "gaussian.attention_moment_rhs": ValidCall(vg.attention_moment_rhs, [("mean", G2.mean), ("cov", G2.cov), ("Q", Q),
                                                                    ("K", K), ("V", V)], {"scale": 1.0}),
    "gaussian.data_moments": ValidCall(vg.data_moments, [("u", X), ("y", X[:, 0])], {}),
    "gaussian.linear_network": ValidCall(vg.linear_network, [("g0", G3), ("S", S_DATA), ("r", R_DATA), ("t", 0.2)], {},
                                         accepts=TIME_FROM_0["accepts"],
                                         refuses={**TIME_FROM_0["refuses"],   # neurons (w, a) of dimension >= 2
                                                  "g0": [vg.Gaussian([0.0], [[1.0]])]}),
    "gaussian.linear_network_rhs": ValidCall(vg.linear_network_rhs, [("mean", G3.mean), ("cov", G3.cov), ("S", S_DATA),
                                                                ("r", R_DATA)], {}),
    "gaussian.linear_network_risk": ValidCall(vg.linear_network_risk, [("g", G3), ("S", S_DATA), ("r", R_DATA),
                                                                  ("y2", Y2)], {}),
}

# ------------------------------------------------------------------------------------------------ bad values
def _nan_callable(t=None, x=None):
    return np.full(np.shape(x if x is not None else t), np.nan)


def _complex_callable(t=None, x=None):
    a = np.asarray(x if x is not None else t, dtype=float)
    return a * (1 + 1j)


def _wrong_shape_callable(t=None, x=None):
    a = np.asarray(x if x is not None else t, dtype=float)
    return np.zeros(a.shape + (3,))


def _complex_later(t, x):
    """1 at t = 0, 1 + 0.001i after: real where a callable is first checked, complex later."""
    return np.full(np.shape(x)[:-1], 1.0 if t == 0 else 1.0 + 1e-3j)


def _none_callable(*args):
    return None


SCALARS = [None, "abc", True, False, 1j, 1.0 + 1.0j, np.complex128(0.5), math.nan, math.inf, -math.inf, 0, 0.0,
           -1, -0.5, 2**62, -(2**62), 2**70, 1.5, 1e308, -1e308, 5e-324, np.nan, np.float32(np.inf), [], (),
           [math.nan], np.array([]), np.array(1.0 + 0.5j), object(), {"a": 1}]
CALLABLES = [_nan_callable, _complex_callable, _wrong_shape_callable, _none_callable]


def _array_variants(v: np.ndarray) -> list:
    out = [v * (1 + 1j), v.astype(complex), np.full_like(v, np.nan), np.full_like(v, np.inf), -v, np.zeros_like(v),
           v * 1e300, v.astype(str), v.astype(bool), v.astype(object), (v * (1 + 1j)).astype(object), v[None],
           v.ravel()[:1], np.zeros((0,) + v.shape[1:])]
    if v.ndim >= 1:
        out += [v[..., :-1], np.concatenate([v, v[..., :1]], axis=-1), v[..., None]]
    if v.ndim >= 2:
        out += [v.T.copy(), v.ravel(), v[:1]]
    if v.ndim == 2 and v.shape[0] == v.shape[1]:
        scale = np.abs(v).max() or 1.0
        out.append(np.eye(v.shape[0] + 1) * scale)   # a square matrix of another size (an SPD one)
        if v.shape[0] > 1:   # a non-symmetric one: refused where symmetry is required, taken where it is not
            w = v.astype(float).copy()
            w[0, -1] += 0.5 * scale
            out.append(w)
    if v.ndim >= 1 and v.size:
        w = v.astype(float).copy()
        w.flat[0] = np.nan
        out.append(w)
    return out


def _ragged(v: np.ndarray) -> list:
    """A nested list like ``v.tolist()`` whose rows differ in length (its last entry one shorter, or, in 1-D, a
    list itself): NumPy cannot make an array of it. Empty when ``v`` has no such variant."""
    if v.size < 2:
        return []
    nested = v.tolist()
    if v.ndim == 1:
        nested[-1] = [nested[-1], nested[-1]]
    else:
        node = nested
        for _ in range(v.ndim - 2):
            node = node[-1]
        if len(node) < 2:
            return []
        node[-1] = node[-1][:-1]
    return [nested]


def _grid_variants() -> list:
    return [Grid((-1.0, -1.0), (1.0, 1.0), (4, 4)), Grid((0.0,), (1.0,), (4,)), RHO0, "grid"]


def _gaussian_variants(g: vg.Gaussian) -> list:
    other = vg.Gaussian(np.zeros(g.dim + 1), np.eye(g.dim + 1))
    huge = vg.Gaussian(np.full(g.dim, 1e300), np.eye(g.dim) * 1e300)
    tiny = vg.Gaussian(np.zeros(g.dim), np.eye(g.dim) * 1e-300)
    return [other, huge, tiny, vg.Affine(np.eye(g.dim)), (g.mean, g.cov)]


def _affine_variants(a: vg.Affine) -> list:
    d = a.dim if hasattr(a, "dim") else a.matrix.shape[0]
    return [vg.Affine(np.eye(d + 1)), vg.Affine(np.eye(d) * 1e300), vg.Affine(np.eye(d)), vg.Affine(np.zeros((d, d))),
            G2, a.matrix, lambda t, x: x]


def bad_values(case: ValidCall, name: str) -> list:
    """The bad values tried for argument ``name`` of ``case``: the scalars and callables for every argument, plus
    variants of the valid value's kind (arrays: complex, NaN, inf, wrong shapes and dtypes, ragged lists; grids, Gaussians,
    affine maps, generators and strings: wrong kinds and near misses)."""
    v = case.value(name)
    vals = list(SCALARS) + list(CALLABLES)
    if isinstance(v, Grid):
        vals += _grid_variants()
    elif isinstance(v, vg.Gaussian):
        vals += _gaussian_variants(v)
    elif isinstance(v, vg.Affine):
        vals += _affine_variants(v)
    elif isinstance(v, (np.ndarray, list, tuple)) and not isinstance(v, str):
        try:
            arr = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            arr = None
        if arr is not None:
            vals += _array_variants(arr)
            vals += [list(arr.tolist()) + ["x"] if arr.ndim == 1 else arr.tolist()[:-1]]
            vals += _ragged(arr)
            if arr.ndim == 1:
                vals += [tuple(int(2**40) for _ in arr), tuple(int(2**62) for _ in arr), tuple(-1 for _ in arr),
                         tuple(0 for _ in arr), tuple(1.5 for _ in arr), tuple(True for _ in arr)]
    elif isinstance(v, np.random.Generator):
        vals += [np.random.RandomState(0), 0, np.random.default_rng]
    elif isinstance(v, str):
        vals += [v.upper() + "x", v[:-1], "", " " + v]
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        vals += [np.int64(-3), np.uint8(0), np.float64(np.nan), np.array([v, v]), np.array(v), 2**31, 10**9,
                 float(2**62)]
    return vals


def _names(message: str, words: list[str]) -> bool:
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(w)}(?![A-Za-z0-9_])", message) for w in words)


CONSISTENCY = re.compile(r"match|equal size|different|same|must each have|expected from the other", re.I)


def _message_names(exc: BaseException, case: ValidCall, name: str, bad: Any) -> bool:
    """The message names the argument (or an alias). Two further messages are clear without it:

    * a consistency error between two arguments (a shape or size that must match): which of them is wrong is
      the caller's call, so naming the other one (and saying what must match) is enough;
    * an overflow of a result ("... overflows float64 ...; rescale the problem"), and numerical trouble
      (NumericalError, FiniteTimeBlowUp) from finite but extreme real numbers, which are valid input.
    """
    message = str(exc)
    if _names(message, [name] + case.aliases.get(name, [])):
        return True
    others = [n for n in case.names() if n != name]
    if CONSISTENCY.search(message) and _names(message, others):
        return True
    if "overflow" in message:
        return True
    extreme_real = (isinstance(bad, (int, float, np.integer, np.floating)) and not isinstance(bad, (bool, np.bool_))
                    and math.isfinite(bad))
    return extreme_real and isinstance(exc, (eulerian.NumericalError, lagrangian.NumericalError, vg.FiniteTimeBlowUp))


# ------------------------------------------------------------------------------------------------ NaN check
def nan_paths(obj: Any, path: str = "result", seen: set | None = None) -> list[str]:
    """Paths of the NaN values in ``obj`` (arrays, floats, containers, dataclasses, Gaussian/Affine)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, (bool, int, str, bytes)) or obj is None:
        return []
    if isinstance(obj, (float, np.floating, complex, np.complexfloating)):
        return [path] if np.isnan(obj) else []
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc":
            return [path] if np.isnan(obj).any() else []
        if obj.dtype.kind == "O":
            return [p for i, o in enumerate(obj.ravel()[:50]) for p in nan_paths(o, f"{path}[{i}]", seen)]
        return []
    if isinstance(obj, dict):
        return [p for k, o in obj.items() for p in nan_paths(o, f"{path}[{k!r}]", seen)]
    if isinstance(obj, (list, tuple)):
        return [p for i, o in enumerate(obj) for p in nan_paths(o, f"{path}[{i}]", seen)]
    if isinstance(obj, vg.Gaussian):
        return nan_paths(obj.mean, f"{path}.mean", seen) + nan_paths(obj.cov, f"{path}.cov", seen)
    if isinstance(obj, vg.Affine):
        return nan_paths(obj.matrix, f"{path}.matrix", seen) + nan_paths(obj.offset, f"{path}.offset", seen)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [p for f in dataclasses.fields(obj) if not isinstance(getattr(obj, f.name, None), Grid)
                for p in nan_paths(getattr(obj, f.name, None), f"{path}.{f.name}", seen)]
    return []


# ------------------------------------------------------------------------------------------------ numerical trouble
@dataclasses.dataclass(frozen=True)
class Trouble:
    """Valid input that runs into numerical trouble: ``call()`` must raise one of ``raises`` with a one-line
    message holding each of ``words`` (before any garbage is returned); with ``raises`` empty it must return a
    real result without NaN, and, given ``same_as``, the array that ``same_as()`` returns to ``rtol`` (relative to
    its largest value): the same problem at an ordinary scale, for a result that does not depend on the scale."""

    call: Callable[[], Any]
    raises: tuple = ()
    words: tuple = ()
    same_as: Callable[[], Any] | None = None
    rtol: float = 1e-10


def _stationary_source(c: float) -> Callable:
    """c S(t, x), S = 1 + x_0: a source of the stationary problems (its state does not depend on c)."""
    return lambda t, x: c * (1.0 + x[..., 0])


def _scaled(g: vg.Gaussian, s: float) -> vg.Gaussian:
    """The law of s X for X ~ g."""
    return vg.Gaussian(g.mean * s, g.cov * (s * s))


_T_GRID = Grid((-3.0,), (3.0,), (16,))
_T_RHO = np.exp(-_T_GRID.centers()[..., 0] ** 2)
_SQUARE = Grid((-1.0, -1.0), (1.0, 1.0), (2, 2))
_BIG_GRID = Grid((-3.0, -3.0), (3.0, 3.0), (512, 512))
_BIG_LINE = Grid((0.0,), (1.0,), (2 ** 20,))   # with 2^20 time steps: beyond any memory for Benamou–Brenier


def _line(n: int) -> np.ndarray:
    """n points spread over [-1, 1], as an (n, 1) cloud."""
    return np.linspace(-1.0, 1.0, n)[:, None]


def _crowd(n: int) -> np.ndarray:
    """n particles at x = 0.5, an (n, 1) read-only broadcast view with no memory behind it: a refusal on size is
    judged without first allocating the cloud (fresh pages cost up to ~10 ms per MB on a loaded VM)."""
    return np.broadcast_to(np.float64(0.5), (n, 1))


def _n1(mean: float, var: float) -> vg.Gaussian:
    """The 1-D Gaussian N(mean, var)."""
    return vg.Gaussian([mean], [[var]])


A_SLOW = np.array([[-1.0, 0.3], [0.0, -2.0]])
D_SLOW = np.array([[1.0, 0.2], [0.2, 0.5]])


def _heavy_corner(grid: Grid, mass: float) -> np.ndarray:
    """A density of total ``mass`` in the last cell of ``grid``."""
    rho = np.zeros(grid.shape)
    rho[(-1,) * grid.dim] = mass / grid.cell_volume
    return rho


def _without(module: str, call: Callable[[], Any]) -> Callable[[], Any]:
    """``call`` run as on a machine where ``module`` cannot be imported (``sys.modules[module] = None`` for the
    duration of the call, then put back): the refusal a user without CuPy or FiPy sees, on any machine."""
    def run() -> Any:
        saved = sys.modules.get(module)
        sys.modules[module] = None
        try:
            return call()
        finally:
            if saved is None:
                del sys.modules[module]
            else:
                sys.modules[module] = saved
    return run


TROUBLES: dict[str, Trouble] = {
    "eulerian.get_backend('cupy') where CuPy cannot be imported": Trouble(
        _without("cupy", lambda: eulerian.get_backend("cupy")), (eulerian.BackendUnavailable,),
        ("backend='cupy'", "pip install twinflow[gpu]", "backend='numpy'")),
    "eulerian.solve_fokker_planck(backend='fipy') where FiPy cannot be imported": Trouble(
        _without("fipy", lambda: solve_fokker_planck(_T_GRID, _T_RHO, _decay, 0.5, 0.1, 2, backend="fipy")),
        (eulerian.BackendUnavailable,), ("backend='fipy'", "pip install fipy")),
    "lagrangian.get_namespace('cupy') where CuPy cannot be imported": Trouble(
        _without("cupy", lambda: lagrangian.get_namespace("cupy")), (lagrangian.BackendUnavailable,),
        ("backend='cupy'", "pip install twinflow[gpu]", "'numpy'")),
    "eulerian.solve_continuity: velocity 1e8, about 7e8 CFL steps": Trouble(
        lambda: solve_continuity(_T_GRID, _T_RHO, lambda t, x: np.full_like(x, 1e8), 1.0),
        (ValueError,), ("max_steps",)),
    "eulerian.solve_continuity: velocity growing 20x over the run, max_steps = 60 (3x the estimate at t = 0)": Trouble(
        lambda: solve_continuity(_T_GRID, _T_RHO, lambda t, x: -(1.0 + 20.0 * t) * x, 1.0, max_steps=60),
        (ValueError,), ("reached max_steps=60",)),
    "eulerian.solve_continuity on FiPy: velocity growing 20x over the run, max_steps = 60": Trouble(
        lambda: solve_continuity(_T_GRID, _T_RHO, lambda t, x: -(1.0 + 20.0 * t) * x, 1.0, max_steps=60,
                                 backend="fipy"),
        (ValueError,), ("solve_continuity", "reached max_steps=60")),
    "eulerian.solve_continuity: velocity infinite after t = 0.05": Trouble(
        lambda: solve_continuity(_T_GRID, _T_RHO, lambda t, x: np.where(t > 0.05, np.inf, -x), 0.1, steps=4),
        (eulerian.NumericalError,), ("velocity", "t = ")),
    # the step estimate counts the wall faces' speed (here 1 000x the interior's): refused before stepping
    "eulerian.solve_continuity: wall faces 1 000x faster than the interior, max_steps = 50 (about 67 needed)": Trouble(
        lambda: solve_continuity(_T_GRID, _T_RHO, lambda t, x: np.where(np.abs(x) > 2.99, 100.0, 0.1), 0.1,
                                 boundary=[(eulerian.Dirichlet(0.2), eulerian.Outflow())], max_steps=50),
        (ValueError,), ("about 67 time steps", "max_steps=50")),
    "eulerian.solve_continuity: velocity complex after t = 0.05": Trouble(
        lambda: solve_continuity(_T_GRID, _T_RHO, lambda t, x: -x * (1.0 + (1j if t > 0.05 else 0.0)), 0.1, steps=4,
                                 time_dependent=True),
        (TypeError,), ("velocity(t, x) must be real", "take .real")),
    "eulerian.solve_fokker_planck: drift NaN after t = 0.05": Trouble(
        lambda: solve_fokker_planck(_T_GRID, _T_RHO, lambda t, x: np.where(t > 0.05, np.nan, -x), 0.5, 0.1, 4,
                                    time_dependent=True),
        (eulerian.NumericalError,), ("drift", "t = ")),
    "eulerian.solve_fokker_planck: drift complex after t = 0.05": Trouble(
        lambda: solve_fokker_planck(_T_GRID, _T_RHO, lambda t, x: -x * (1.0 + (1j if t > 0.05 else 0.0)), 0.5, 0.1,
                                    4, time_dependent=True),
        (TypeError,), ("drift(t, x) must be real", "take .real")),
    "eulerian.solve_meanfield: velocity growing 20x over the run, max_steps = 60 (3x the estimate at t = 0)": Trouble(
        lambda: eulerian.solve_meanfield(_T_GRID, _T_RHO, lambda t, grid, rho, x: -(1.0 + 20.0 * t) * x, 1.0,
                                         max_steps=60),
        (ValueError,), ("solve_meanfield", "reached max_steps=60")),
    "eulerian.solve_meanfield: velocity NaN after t = 0.05": Trouble(
        lambda: eulerian.solve_meanfield(_T_GRID, _T_RHO, lambda t, grid, rho, x: np.where(t > 0.05, np.nan, -x), 0.1,
                                         steps=4),
        (eulerian.NumericalError,), ("velocity", "t = ")),
    "eulerian.solve_fokker_planck: a Dirichlet value g(t, x) NaN after t = 0.01": Trouble(
        lambda: solve_fokker_planck(WALL_GRID, WALL_RHO, _decay, 0.5, 0.05, 2, boundary=[(eulerian.Dirichlet(
            lambda t, x: np.full(x.shape[:-1], np.nan if t > 0.01 else 0.2)), eulerian.Flux(0.1)), "zero-flux"]),
        (eulerian.NumericalError,), ("Dirichlet value g(t, x)", "t = 0.0125")),
    # a finite Flux value whose wall source q / h overflows while the wall diagonal stays finite
    "eulerian.solve_fokker_planck: a Flux wall of 1e308 on cells 1/3 wide (the wall source overflows)": Trouble(
        lambda: solve_fokker_planck(WALL_GRID, WALL_RHO, _decay, 0.5, 0.05, 2,
                                    boundary=[(eulerian.Dirichlet(0.2), eulerian.Flux(1e308)), "zero-flux"]),
        (eulerian.NumericalError,), ("wall terms overflow float64", "t = 0", "rescale")),
    # a (2, 2) array on a 2 x 2 grid: cell values, or a diffusion matrix?
    "eulerian.solve_fokker_planck: diffusion of shape (2, 2) on a 2 x 2 grid": Trouble(
        lambda: solve_fokker_planck(_SQUARE, np.ones((2, 2)), _decay, CROSS_D, 0.1, 2),
        (ValueError,), ("could be cell values or a matrix", "Diffusion.cells(values)")),
    "eulerian.solve_porous_medium: potential NaN for x > 1": Trouble(
        lambda: eulerian.solve_porous_medium(_T_GRID, _T_RHO, 2.0, 0.1,
                                             potential=lambda x: np.where(x[..., 0] > 1.0, np.nan, 0.0)),
        (ValueError,), ("potential(x) returned NaN", "cell centres")),
    # a tiny density keeps the energy and the fluxes finite, but the potential's jump of 3.4e308 between two cells
    # gives an infinite velocity: refused before any step (it was a ZeroDivisionError in the step size)
    "eulerian.solve_porous_medium: density 1e-10 in a potential jumping from -1.7e308 to 1.7e308": Trouble(
        lambda: eulerian.solve_porous_medium(_T_GRID, np.full(_T_GRID.shape, 1e-10), 2.0, 0.1,
                                             potential=lambda x: np.where(x[..., 0] < 0.0, -1.7e308, 1.7e308)),
        (ValueError,), ("step condition's rate", "rescale rho0", "potential")),
    # energy 6.4e307 and flux bound 9.6e307 finite, but the step condition's rate bound 8 (D m/(m-1) rho + |V|) / h²
    # = 8 (2e307 + 1e307) overflows: refused before any step (with its terms' sum, not their difference or D/m)
    "eulerian.solve_porous_medium: D = 5e307, rho = 0.2, potential 1e307, h = 1 in 2-D": Trouble(
        lambda: eulerian.solve_porous_medium(Grid((0.0, 0.0), (4.0, 4.0), (4, 4)), np.full((4, 4), 0.2), 2.0, 0.1,
                                             diffusion=5e307, potential=lambda x: np.full(x.shape[:-1], 1e307)),
        (ValueError,), ("step condition's rate", "rescale rho0")),
    "eulerian.attention_velocity: K^T Q of 1e400 (each 1e200)": Trouble(
        lambda: eulerian.attention_velocity([[1e200, 0.0]], [[1e200, 0.0]], np.eye(2)),
        (ValueError,), ("overflows float64", "rescale Q, K or scale")),
    "eulerian.network_velocity: evaluated at a NaN point": Trouble(
        lambda: eulerian.network_velocity(X[:, 0], X[:, 1])(0.0, NET_GRID, NET_RHO, np.array([[0.1, np.nan]])),
        (ValueError,), ("x contains NaN",)),
    # mass 10 at (w, a) = (0.83, 0.8) and data 1e308: the output int a sigma(w u) dmu is 6.7e308
    "eulerian.network_risk: network output of 6.7e308 (mass 10 at w = 0.83, a = 0.8; data_x 1e308)": Trouble(
        lambda: eulerian.network_risk(NET_GRID, _heavy_corner(NET_GRID, 10.0), [1e308, 1e308, 0.5], [0.1, 0.2, 0.3]),
        (eulerian.NumericalError,), ("network output", "overflowed", "rescale data_x")),
    "eulerian.network_velocity: first variation at theta = (1e200, 1e200) (overflows)": Trouble(
        lambda: eulerian.network_velocity(X[:, 0], X[:, 1]).first_variation(0.0, NET_GRID, NET_RHO,
                                                                            np.array([[1e200, 1e200]])),
        (eulerian.NumericalError,), ("first variation overflowed", "rescale")),
    # a finite weight of 1e308 on cells of volume 0.01: the density overflows in the division by the cell volume
    # (the catalog's own value, 8 x 1e308 on cells of volume 9, overflows in the sum already)
    "lagrangian.deposit: one weight of 1e308 on cells of volume 0.01 (the density overflows)": Trouble(
        lambda: lagrangian.deposit(np.array([[0.05, 0.05]]), [0.0, 0.0], [1.0, 1.0], (10, 10), weights=[1e308]),
        (ValueError,), ("density (weight per cell volume) overflows float64", "use larger cells")),
    # D int rho log rho = 0.5 * 1e306 * 705 * 8 cells overflows while int V rho (no potential) is 0: the message
    # names the entropy term alone
    "eulerian.free_energy: rho = 1e306 with diffusion 0.5 (the entropy overflows)": Trouble(
        lambda: eulerian.free_energy(GRID, np.full(GRID.shape, 1e306), diffusion=0.5),
        (ValueError,), ("overflows float64 (entropy D int rho log rho)", "rescale rho")),
    "eulerian.jko_step: stops at max_iter = 2 (on_failure='raise')": Trouble(
        lambda: eulerian.jko_step(_T_GRID, _T_RHO, 0.3, potential=_confining, diffusion=0.5, max_iter=2,
                                  on_failure="raise"),
        (eulerian.NumericalError,), ("did not converge", "max_iter=2 reached")),
    "eulerian.jko_flow: t_final / tau = 1e9 steps": Trouble(
        lambda: eulerian.jko_flow(_T_GRID, _T_RHO, 1e-9, 1.0, potential=_confining, diffusion=0.5),
        (ValueError,), ("max_steps",)),
    # about 900 GiB: refused on any machine with less than 1.8 TiB, before the density is averaged over the cells
    # (the grid itself fits: 0.5 GiB); the size it names counts P + 1 = 100 time levels (P - 1 would say 882 GiB)
    "eulerian.jko_step: 4096 x 4096 cells x 99 time steps, beyond the memory limit": Trouble(
        lambda: eulerian.jko_step(Grid((0.0, 0.0), (1.0, 1.0), (4096, 4096)), lambda x: 1.0 + 0.0 * x[..., 0], 0.1,
                                  diffusion=0.5, time_steps=99),
        (eulerian.MemoryLimitError,), ("jko_step on 16777216 cells x 100 time levels", "use fewer time_steps")),
    "eulerian.jko_flow: 100 steps over max_steps = 50": Trouble(
        lambda: eulerian.jko_flow(_T_GRID, _T_RHO, 0.01, 1.0, potential=_confining, diffusion=0.5, max_steps=50),
        (ValueError,), ("max_steps=50",)),
    # a potential 1e6 x² (its minimiser holds all the mass within 3e-4 of 0, inside one of 16 cells): the step's
    # splitting diverges, and the flow names the step and its time
    "eulerian.jko_flow: potential 1e6 x² (its first step diverges)": Trouble(
        lambda: eulerian.jko_flow(_T_GRID, _T_RHO, 0.1, 0.2, potential=lambda x: 1e6 * x[..., 0] ** 2, max_iter=200),
        (eulerian.NumericalError,), ("jko_flow: step 1 of 2 (t = 0.1) failed", "iteration diverged")),
    "eulerian.jko_flow: its first step stops at max_iter = 2 (on_failure='raise')": Trouble(
        lambda: eulerian.jko_flow(_T_GRID, _T_RHO, 0.1, 0.3, potential=_confining, diffusion=0.5, max_iter=2,
                                  on_failure="raise"),
        (eulerian.NumericalError,), ("step 1 of 3", "max_iter")),
    **{f"eulerian.benamou_brenier: 2^20 cells x 2^20 time steps, dtype {dt!r} (beyond memory)": Trouble(
        lambda dt=dt: eulerian.benamou_brenier(_BIG_LINE, np.ones(2 ** 20), np.ones(2 ** 20), 2 ** 20, dtype=dt),
        (eulerian.MemoryLimitError,), words) for dt, words in (
            ("mixed", ("use fewer time_steps or cells, or dtype='float32'",)),
            ("float32", ("use fewer time_steps or cells",)))},
    "eulerian.solve_stationary: drift, diffusion and source times 1e150 (operator rescaled)": Trouble(
        lambda: eulerian.solve_stationary(WALL_GRID, lambda t, x: -1e150 * x, 5e149, source=_stationary_source(1e150),
                                          boundary=[eulerian.Dirichlet(0.3), "zero-flux"]),
        same_as=lambda: eulerian.solve_stationary(WALL_GRID, lambda t, x: -x, 0.5, source=_stationary_source(1.0),
                                                  boundary=[eulerian.Dirichlet(0.3), "zero-flux"])),
    # an estimate past 2^62 steps is capped there (a count that still fits an int64)
    "eulerian.solve_porous_medium: t_final = 1e300, max_steps = 1000 (the estimate capped at 2^62 = 4.61e18)": Trouble(
        lambda: eulerian.solve_porous_medium(_T_GRID, _T_RHO, 2.0, 1e300, max_steps=1000),
        (ValueError,), ("would take about 4.61e+18 time steps", "pass max_steps=None")),
    "eulerian.solve_porous_medium: confining potential 5|x|², max_steps = 138 (the estimate at t = 0)": Trouble(
        lambda: eulerian.solve_porous_medium(_T_GRID, np.exp(-_T_GRID.centers()[..., 0] ** 2 / 4), 2.0, 0.5,
                                             potential=lambda x: 5.0 * (x ** 2).sum(-1), max_steps=138),
        (ValueError,), ("reached max_steps=138", "tightened")),
    "lagrangian.integrate_ode: dx/dt = x² blows up at t = 1, after a save at 0.5": Trouble(
        lambda: lagrangian.integrate_ode(lambda t, x: x**2, np.ones((4, 1)), 0.0, 3.0, 300, save_at=[0.5]),
        (lagrangian.NumericalError,), ("NaN or infinite",)),
    "lagrangian.integrate_sde: drift x³ from x0 = 2 blows up": Trouble(
        lambda: lagrangian.integrate_sde(lambda t, x: x**3, 0.1, np.full((4, 1), 2.0), 0.0, 3.0, 300,
                                         rng=np.random.default_rng(0)),
        (lagrangian.NumericalError,), ("NaN or infinite",)),
    "lagrangian.w2_squared: a 69 MiB cost matrix under max_bytes = 1 MiB": Trouble(
        lambda: lagrangian.w2_squared(np.zeros((3000, 2)), np.ones((3000, 2)), max_bytes=2**20),
        (lagrangian.LagrangianError,), ("max_bytes",)),
    "lagrangian.w2_squared: 2^20 points a side, a cost matrix of 8 TiB (max_bytes = inf)": Trouble(
        lambda: lagrangian.w2_squared(np.zeros((2**20, 2)), np.ones((2**20, 2)), max_bytes=math.inf),
        (lagrangian.LagrangianError,), ("1048576×1048576", "subsample the clouds or use sliced_w2")),
    # the diagnosis evaluates the field again with floating-point warnings silenced (they are errors here)
    "lagrangian.integrate_ode: Euler, field e^(1000 x) overflowing from t = 0.2 on, last save at 0.2": Trouble(
        lambda: lagrangian.integrate_ode(lambda t, x: np.exp(1000.0 * x) if t >= 0.2 else -x, np.ones((4, 1)), 0.0,
                                         1.0, 10, method="euler", save_at=[0.2]),
        (lagrangian.NumericalError,), ("returned NaN or infinite values", "at t=0.2,")),
    "lagrangian.integrate_ode: Euler, field NaN from t = 0.2 on, last save at 0.2": Trouble(
        lambda: lagrangian.integrate_ode(lambda t, x: np.where(t >= 0.2, np.nan, -x), np.ones((4, 1)), 0.0, 1.0, 10,
                                         method="euler", save_at=[0.2]),
        (lagrangian.NumericalError,), ("returned NaN", "at t=0.2,")),
    "lagrangian.blob_velocity: two particles 1e-120 apart, epsilon = 1e-120 (the velocity overflows)": Trouble(
        lambda: lagrangian.blob_velocity(np.array([[0.0], [1e-120]]), 3.0, 1e-120),
        (ValueError,), ("blob velocity", "m = 3", "mass = 1")),
    "lagrangian.blob_energy: m = 4, two particles 1e-120 apart, epsilon = 1e-120 (the energy overflows)": Trouble(
        lambda: lagrangian.blob_energy(np.array([[0.0], [1e-120]]), 4.0, 1e-120),
        (ValueError,), ("blob energy", "m = 4", "mass = 1")),
    "lagrangian.implicit_euler_step: 2^24 particles with an interaction (pairwise blocks beyond memory)": Trouble(
        lambda: lagrangian.implicit_euler_step(_crowd(2 ** 24), 0.1, interaction_grad=lambda z: z),
        (lagrangian.MemoryBudgetError,), ("pairwise differences", "use fewer particles")),
    # every memory refusal, each with its own estimate: the record holds the size each says it needs, so a wrong
    # estimate is seen (the sizes are beyond any machine; the rates are exact, so the estimates are the same on
    # every CPU)
    "eulerian.solve_continuity: velocity 1e8 until t = 1e8, max_steps=None (mass history beyond memory)": Trouble(
        lambda: solve_continuity(_T_GRID, _T_RHO, lambda t, x: np.full_like(x, 1e8), 1e8, max_steps=None),
        (eulerian.MemoryLimitError,), ("solve_continuity", "mass history", "save fewer densities")),
    "eulerian.solve_fokker_planck: 100 001 saved densities of 512 x 512 cells (beyond memory)": Trouble(
        lambda: solve_fokker_planck(_BIG_GRID, np.ones(_BIG_GRID.shape), lambda t, x: -x, 0.5, 1.0, 100_000,
                                    save_at=np.linspace(0.0, 1.0, 100_001)),
        (eulerian.MemoryLimitError,), ("100001 saved densities of 262144 cells", "save fewer densities")),
    "eulerian.solve_meanfield: t_final = 1e12, max_steps=None (mass history beyond memory)": Trouble(
        lambda: eulerian.solve_meanfield(_T_GRID, _T_RHO, lambda t, grid, rho, x: -x, 1e12, max_steps=None),
        (eulerian.MemoryLimitError,), ("solve_meanfield", "mass history", "save fewer densities")),
    "eulerian.solve_porous_medium: t_final = 1e12, max_steps=None (histories beyond memory)": Trouble(
        lambda: eulerian.solve_porous_medium(_T_GRID, np.ones(16), 2.0, 1e12, max_steps=None),
        (eulerian.MemoryLimitError,), ("solve_porous_medium", "histories", "save fewer densities")),
    "eulerian.jko_flow: t_final / tau = 1e12, max_steps=None (the densities kept beyond memory)": Trouble(
        lambda: eulerian.jko_flow(_T_GRID, _T_RHO, 1e-12, 1.0, potential=_confining, diffusion=0.5, max_steps=None),
        (eulerian.MemoryLimitError,), ("jko_flow keeping", "use a larger tau")),
    **{f"lagrangian.{name}: 2^20 points, chunk_bytes = 2^62 (one chunk beyond memory)": Trouble(
        call, (lagrangian.MemoryBudgetError,), (what, "lower chunk_bytes")) for name, call, what in (
            ("gaussian_kde", lambda: lagrangian.gaussian_kde(_line(2 ** 20), _line(2 ** 20), chunk_bytes=2 ** 62),
             "gaussian_kde distances"),
            ("flow_matching_field_from_samples", lambda: lagrangian.flow_matching_field_from_samples(
                _line(2 ** 20), _line(2 ** 20) + 1.0, chunk_bytes=2 ** 62)(0.5, _line(2 ** 20)),
             "flow-matching kernel weights"),
            ("attention_field", lambda: lagrangian.attention_field(np.eye(1), np.eye(1), np.eye(1),
                                                                   chunk_bytes=2 ** 62)(0.0, _line(2 ** 20)),
             "attention logits"),
            ("network_field", lambda: lagrangian.network_field(_line(2 ** 20), _line(2 ** 20)[:, 0], chunk_bytes=2 ** 62)(
                0.0, np.hstack([_line(2 ** 20), _line(2 ** 20)])),
             "network pre-activations"))},
    "lagrangian.blob_velocity: 2^24 particles (a block of the kernel sums beyond memory)": Trouble(
        lambda: lagrangian.blob_velocity(_crowd(2 ** 24), 2.0, 0.1),
        (lagrangian.MemoryBudgetError,), ("blob kernel block", "use fewer particles")),
    "lagrangian.implicit_euler_flow: 2^20 particles, 10^8 steps (the positions kept beyond memory)": Trouble(
        lambda: lagrangian.implicit_euler_flow(_line(2 ** 20), 0.1, 10 ** 8),
        (lagrangian.MemoryBudgetError,), ("implicit_euler_flow positions", "use fewer steps")),
    "lagrangian.gaussian_kde: x spread 1e150, bandwidth 1e10 (the kernel covariance overflows)": Trouble(
        lambda: lagrangian.gaussian_kde(np.array([[0.0], [1e150], [3e150]]), np.zeros((1, 1)), bandwidth=1e10),
        (ValueError,), ("kernel covariance", "bandwidth")),
    "gaussian.w2: two identical Gaussians with covariance 1e300 I": Trouble(
        lambda: vg.w2(vg.Gaussian([0.0, 0.0], np.eye(2) * 1e300), vg.Gaussian([0.0, 0.0], np.eye(2) * 1e300))),
    **{f"gaussian.w2: the means and covariances of two Gaussians scaled by {s:g} (W2² overflows, W2 does not)":
       Trouble(lambda s=s: vg.w2(_scaled(G2, s), _scaled(G2B, s)) / s, same_as=lambda: vg.w2(G2, G2B), rtol=1e-12)
       for s in (6e153, 9e153)},   # binary exponents of the covariances odd and even
    # the 20-point Gauss-Hermite weights sum to 1 + 2e-16 in float64: E f(X) rounds beyond the largest float
    "gaussian.expectation: f = the largest float64 at every node (order 20)": Trouble(
        lambda: vg.expectation(G2, lambda x: np.full(x.shape[:-1], np.finfo(float).max)),
        (ValueError,), ("E f(X) overflows float64",)),
    "gaussian.w2: means 1e308 and -1e308 (W2 = 2e308 overflows)": Trouble(
        lambda: vg.w2(vg.Gaussian([1e308], [[1.0]]), vg.Gaussian([-1e308], [[1.0]])),
        (ValueError,), ("W2 overflows", "rescale")),
    "gaussian.linear_sde: B = -2, t = 1e308 (B t overflows)": Trouble(
        lambda: vg.linear_sde(vg.Gaussian([0.0], [[1.0]]), vg.Affine([[-2.0]]), 0.1, 1e308),
        (ValueError,), ("t = 1e+308", "stationary")),
    "gaussian.linear_sde: dX = 1000 X dt, mean e^10000 at t = 10": Trouble(
        lambda: vg.linear_sde(vg.Gaussian([0.0], [[1.0]]), vg.Affine([[1e3]]), 0.1, 10.0),
        (ValueError,), ("overflow",)),
    "gaussian.jko_gaussian: 10 steps over max_steps = 5": Trouble(
        lambda: vg.jko_gaussian(vg.Gaussian([0.0], [[1.0]]), [[1.0]], None, 0.5, 0.1, 10, max_steps=5),
        (ValueError,), ("max_steps",)),
    "gaussian.attention: covariance blows up at t = 0.0185, asked at 50": Trouble(
        lambda: vg.attention(vg.Gaussian([0.0, 0.0], np.eye(2)), 3 * np.eye(2), 3 * np.eye(2), 3 * np.eye(2), 50.0),
        (vg.FiniteTimeBlowUp,), ("blow",)),
    # every overflow guard of verify.gaussian (each call of _finite), reached with a value it must refuse: the
    # message names the quantity that overflowed (tests/verify/test_gaussian_guards.py holds the list complete)
    **{f"gaussian.{label}": Trouble(call, (ValueError,), (what, "overflows float64", "rescale"))
       for label, call, what in [
           ("Affine.push: A = 1e200, mean 1e200", lambda: vg.Affine([[1e200]]).push(_n1(1e200, 1.0)),
            "the pushed-forward mean"),
           ("Affine.push: A = 1e200, covariance 1", lambda: vg.Affine([[1e200]]).push(_n1(0.0, 1.0)),
            "the pushed-forward covariance"),
           ("brenier_map: covariances 1e-320 (subnormal) and 1e300 (A = 1e310)",
            lambda: vg.brenier_map(_n1(0.0, 1e-320), _n1(0.0, 1e300)), "the Brenier map matrix"),
           ("brenier_map: A = 1e300 and m0 = 1e10", lambda: vg.brenier_map(_n1(1e10, 1e-300), _n1(0.0, 1e300)),
            "the Brenier map offset m1 − A m0"),
           ("mccann_field: means -1e308 and 1e308", lambda: vg.mccann_field(_n1(-1e308, 1.0), _n1(1e308, 1.0), 0.5),
            "the McCann field offset"),
           ("linear_moment_rhs: B = 1e200, mean 1e200",
            lambda: vg.linear_moment_rhs(vg.Affine([[1e200]]), 0.5, [1e200], [[1.0]]), "dm/dt = Bm + c ("),
           ("linear_moment_rhs: B = 1e200, covariance 1e200",
            lambda: vg.linear_moment_rhs(vg.Affine([[1e200]]), 0.5, [0.0], [[1e200]]), "dΣ/dt = BΣ + ΣBᵀ + 2D ("),
           ("linear_sde: B = 1, mean 1e305 at t = 10",
            lambda: vg.linear_sde(_n1(1e305, 1.0), vg.Affine([[1.0]]), 0.0, 10.0), "the mean at t = 10"),
           ("linear_sde: B = 1, covariance 1e300 at t = 10",
            lambda: vg.linear_sde(_n1(0.0, 1e300), vg.Affine([[1.0]]), 0.0, 10.0), "the covariance at t = 10"),
           ("linear_sde_transition: B = 1, D = 1e300, t = 10",
            lambda: vg.linear_sde_transition(vg.Affine([[1.0]]), 1e300, 10.0), "the transition covariance at t = 10"),
           ("linear_sde_transition: B = 1e10, D = 1e-300, t = 7.1e-8 (e^(Bt) = e^710, the noise 5e305)",
            lambda: vg.linear_sde_transition(vg.Affine([[1e10]]), 1e-300, 7.1e-8), "e^(Bt) at t = 7.1e-08"),
           ("linear_sde_transition: B = 1, c = 1e10, t = 700 (e^(Bt) = 1e304)",
            lambda: vg.linear_sde_transition(vg.Affine([[1.0]], [1e10]), 0.0, 700.0),
            "the transition offset at t = 700"),
           ("stationary: B = -1e-300, D = 1e10 (Σ∞ = 1e310)",
            lambda: vg.stationary(vg.Affine([[-1e-300]]), 1e10), "the stationary covariance Σ∞ ("),
           ("flow_matching_field: means -1e308 and 1e308",
            lambda: vg.flow_matching_field(_n1(-1e308, 1.0), _n1(1e308, 1.0), 0.5), "the flow-matching field offset"),
           ("flow_matching_map: covariances 1e-320 (subnormal) and 1e300",
            lambda: vg.flow_matching_map(_n1(0.0, 1e-320), _n1(0.0, 1e300)), "the flow-matching map matrix"),
           ("flow_matching_map: map 1e300 and m0 = 1e10",
            lambda: vg.flow_matching_map(_n1(1e10, 1e-300), _n1(0.0, 1e300)), "the flow-matching map offset"),
           ("least_squares_field: covariance 1e-300, dΣ/dt = 1e300",
            lambda: vg.least_squares_field(_n1(0.0, 1e-300), [0.0], [[1e300]]), "the least-squares field matrix"),
           ("least_squares_field: S = 1e300, mean 1e10",
            lambda: vg.least_squares_field(_n1(1e10, 1.0), [0.0], [[2e300]]), "the least-squares field offset"),
           ("attention_map: V = 1e200, covariance 1e200",
            lambda: vg.attention_map(_n1(0.0, 1e200), [[1.0]], [[1.0]], [[1e200]]),
            "the attention map matrix s V Σ KᵀQ"),
           ("attention_moment_rhs: V = 1e200, mean 1e200",
            lambda: vg.attention_moment_rhs([1e200], [[1e-300]], [[1.0]], [[1.0]], [[1e200]]), "dμ/dt = Vμ + BΣμ ("),
           ("attention_moment_rhs: V = 1e10, covariance 1e150",
            lambda: vg.attention_moment_rhs([0.0], [[1e150]], [[1.0]], [[1.0]], [[1e10]]),
            "dΣ/dt = BΣ + ΣBᵀ, B = s V Σ KᵀQ ("),
           ("data_moments: u = 1e155", lambda: vg.data_moments([[1e155]], [1.0]), "S = uᵀu / N ("),
           ("data_moments: u = 1e154, y = 1e156 (uᵀu = 1e308 fits)", lambda: vg.data_moments([[1e154]], [1e156]),
            "r = uᵀy / N ("),
           ("data_moments: y = 1e155", lambda: vg.data_moments([[1e-10]], [1e155]), "E[y²] = yᵀy / N ("),
           ("linear_network_rhs: mean (1e150, 1e150)",
            lambda: vg.linear_network_rhs([1e150, 1e150], np.eye(2), [[1.0]], [0.0]), "dm/dt = −B_h m ("),
           ("linear_network_rhs: covariance 1e200, mean 0",
            lambda: vg.linear_network_rhs([0.0, 0.0], [[1e200, 1e199], [1e199, 1e200]], [[1.0]], [0.0]),
            "dΣ/dt = −(B_h Σ + Σ B_h) ("),
           ("linear_network_risk: q = E[a w] = 1e200",
            lambda: vg.linear_network_risk(vg.Gaussian([1e100, 1e100], np.eye(2)), [[1.0]], [0.0], 0.0),
            "the network risk ("),
           ("jko_gaussian_step: tau = 1e300, H = 1e300",
            lambda: vg.jko_gaussian_step(_n1(0.0, 1.0), [[1e300]], tau=1e300), "I + τH (tau = 1e+300)"),
           ("jko_gaussian_step: I + τH = 1e-10, mean 1e300",
            lambda: vg.jko_gaussian_step(_n1(1e300, 1.0), [[-1.0]], tau=1 - 1e-10), "the JKO mean"),
           ("jko_gaussian_step: I + τH = 1e-10, covariance 1e300",
            lambda: vg.jko_gaussian_step(_n1(0.0, 1e300), [[-1.0]], tau=1 - 1e-10), "the JKO covariance"),
           ("gaussian_free_energy: H = 1e300, covariance 1e300",
            lambda: vg.gaussian_free_energy(_n1(0.0, 1e300), [[1e300]]), "the free energy"),
       ]},
    # Σ∞ scales as D / B: a drift of 1e-300 with D = 1e-10 gives 1e290 times the law of B / 1e-300, D / 1e-10
    "gaussian.stationary: B = 1e-300 (-1, 0.3; 0, -2), D = 1e-10 (1, 0.2; 0.2, 0.5) (Σ∞ = 1e290 Σ(B/1e-300))": Trouble(
        lambda: vg.stationary(vg.Affine(1e-300 * A_SLOW), 1e-10 * D_SLOW).cov / 1e290,
        same_as=lambda: vg.stationary(vg.Affine(A_SLOW), D_SLOW).cov, rtol=1e-13),
    "gaussian.stationary: decay rates 1 and 1e-16 (the Lyapunov solve cannot separate them)": Trouble(
        lambda: vg.stationary(vg.Affine([[-1.0, 0.3], [0.0, -1e-16]]), 1.0),
        (ValueError,), ("decay rates of B", "too far apart", "separately")),
    # a user's callable, real where it is first checked (t = 0) and complex later: each place that evaluates it
    # again must refuse it, naming it
    **{f"eulerian.{label}: {what} complex after t = 0": Trouble(call, (TypeError,), (f"{what} must be real",))
       for label, what, call in [
           ("solve_fokker_planck", "source(t, x)",
            lambda: solve_fokker_planck(GRID, RHO0, _decay, 0.5, 0.1, steps=2, source=_complex_later)),
           ("solve_fokker_planck on FiPy", "source(t, x)",
            lambda: solve_fokker_planck(GRID, RHO0, _decay, 0.5, 0.1, steps=2, source=_complex_later, backend="fipy")),
           ("solve_continuity", "source(t, x)",
            lambda: solve_continuity(GRID, RHO0, _decay, 0.1, steps=3, source=_complex_later)),
           ("solve_fokker_planck, a Dirichlet wall", "the boundary's Dirichlet value g(t, x)",
            lambda: solve_fokker_planck(GRID, RHO0, _decay, 0.5, 0.1, steps=2,
                                        boundary=eulerian.Dirichlet(_complex_later))),
           ("solve_fokker_planck, the drift on a Dirichlet wall", "drift(t, x)",
            lambda: solve_fokker_planck(GRID, RHO0, lambda t, x: -x * _complex_later(t, x)[..., None], 0.5, 0.1,
                                        steps=2, boundary=eulerian.Dirichlet(0.1))),
           ("solve_meanfield", "velocity(t, grid, rho, x)",
            lambda: eulerian.solve_meanfield(GRID, RHO0, lambda t, g, rho, x: -x * _complex_later(t, x)[..., None],
                                             0.1)),
       ]},
    # mass/n times the kernel's peak (2 pi eps^2)^(-1) = 1e308 / 8 x 1.6e299
    "lagrangian.blob_density: mass 1e308, epsilon 1e-150 (the density overflows)": Trouble(
        lambda: lagrangian.blob_density(X, X, 1e-150, mass=1e308),
        (ValueError,), ("the blob density (mass/n) Σ_j φ_ε overflows float64", "rescale")),
    # -- inputs that make each np.errstate keyword of the library catch its flag (tests/verify/test_errstate_sites.py):
    # an inf - inf or 0 * inf (invalid), an overflow, an underflow or a division by zero that the block silences
    # and the code after it turns into a refusal (or a correct result)
    # the quadrature's solved points b z + a x beyond float64 lie outside the boxes: weight 0, velocity 0
    "eulerian.flow_matching_grid_field: evaluated at ±1e308 at t = 0.3": Trouble(
        lambda: eulerian.flow_matching_grid_field(GRID, RHO0, RHO1)(0.3, [[1e308], [-1e308], [0.1]]),
        same_as=lambda: eulerian.flow_matching_grid_field(GRID, RHO0, RHO1)(0.3, [[1e30], [-1e30], [0.1]])),
    # source and target boxes 2.7e308 apart: the velocity E[Y | z] - E[X | z] overflows
    "eulerian.flow_matching_grid_field: boxes [-1.7e308, -1e308] and [1e308, 1.7e308]": Trouble(
        lambda: eulerian.flow_matching_grid_field(Grid((-1.7e308,), (-1e308,), (8,)), np.ones(8), np.ones(8),
                                                  grid1=Grid((1e308,), (1.7e308,), (8,)))(0.5, [[0.0]]),
        (eulerian.NumericalError,), ("flow-matching quadrature produced non-finite values", "rescale")),
    # a CFL estimate beyond 2^62 steps is counted as 2^62, and the refusal says so
    "eulerian.solve_continuity: velocity 1e300 (a step count beyond 2^62)": Trouble(
        lambda: solve_continuity(GRID, RHO0, lambda t, x: np.full(x.shape, 1e300), 1.0, max_steps=200),
        (ValueError,), ("about 4.61e+18 time steps", "pass max_steps=None")),
    "eulerian.attention_velocity: scale 1e10, K 1e300, Q 0 (K^T Q = inf * 0)": Trouble(
        lambda: eulerian.attention_velocity([[0.0]], [[1e300]], [[1.0]], scale=1e10),
        (ValueError,), ("scale * K^T Q overflows float64", "rescale Q, K or scale")),
    # forced dt = 1e-30 with cfl = 1e-300: t_final C and dt cfl both underflow; the estimate is steps C / cfl = 14
    "eulerian.solve_continuity: t_final 1e-30, one step, cfl 1e-300 (the step estimate underflows)": Trouble(
        lambda: solve_continuity(GRID, RHO0, lambda t, x: np.full(x.shape, 1e-269), 1e-30, steps=1, cfl=1e-300),
        (eulerian.CFLError,), ("Courant number 1.33e-299 > cfl = 1e-300", "use steps >= 14")),
    "eulerian.free_energy: potential -1e308 and 1e308, rho up to 8.7 (inf - inf)": Trouble(
        lambda: eulerian.free_energy(GRID, RHO0 * 10, potential=lambda x: np.where(x[..., 0] < 0, -1e308, 1e308)),
        (ValueError,), ("free energy overflows float64", "potential int V rho")),
    "eulerian.network_velocity: data_x 1e308 (the first variation overflows, inf * 0)": Trouble(
        lambda: eulerian.network_velocity(np.full(4, 1e308), np.ones(4)).first_variation(
            0.0, NET_GRID, NET_RHO, np.array([[0.2, 0.3], [3.0, 0.0]])),
        (eulerian.NumericalError,), ("first variation overflowed", "rescale data_x")),
    "eulerian.network_velocity: data_x 1.7e308 on neurons w up to 1.7 (the output overflows, inf * 0)": Trouble(
        lambda: eulerian.network_velocity(np.full(4, 1.7e308), np.ones(4))(
            0.0, Grid((-2.0, -1.0), (2.0, 1.0), (6, 5)), np.ones((6, 5)), np.array([[0.2, 0.3]])),
        (eulerian.NumericalError,), ("network output", "overflowed")),
    "eulerian.solve_porous_medium: cells of width 1e-200 (h² underflows to 0)": Trouble(
        lambda: eulerian.solve_porous_medium(Grid((0.0,), (8e-200,), (8,)), RHO0, 2.0, 1e-300),
        (ValueError,), ("m = 2", "fluxes")),
    "eulerian.solve_porous_medium: diffusion 1e308, rho 1e-200 (D m / (m-1) = inf times rho^m = 0)": Trouble(
        lambda: eulerian.solve_porous_medium(GRID, RHO0 * 1e-200, 2.0, 0.1, diffusion=1e308),
        (ValueError,), ("diffusion = 1e+308", "fluxes")),
    "lagrangian.deposit: a box of 1e-160 squared split in 2 x 2 (the cell volume underflows)": Trouble(
        lambda: lagrangian.deposit(np.array([[1e-161, 1e-161]]), [0.0, 0.0], [1e-160, 1e-160], (2, 2)),
        (ValueError,), ("cell volume", "normal float64 range")),
    # a point 1e308 from correlated samples: its whitened square is inf - inf; it lies beyond every kernel: 0
    "lagrangian.gaussian_kde: a point at (1e308, 1e308) (its whitened distance is NaN; the density there is 0)":
        Trouble(lambda: lagrangian.gaussian_kde(X, [[1e308, 1e308], [0.0, 0.0]]),
                same_as=lambda: lagrangian.gaussian_kde(X, [[1e30, 1e30], [0.0, 0.0]])),
    "lagrangian.gaussian_kde: a sample of weight 0 at -1.5e308 (x - mean = -inf, times 0)": Trouble(
        lambda: lagrangian.gaussian_kde([[1.5e308], [1.5e308], [-1.5e308], [1.5e308]], [[0.0]],
                                        weights=[1.0, 1.0, 0.0, 1.0]),
        (ValueError,), ("sample covariance of x overflows",)),
    "lagrangian.flow_matching_field_from_samples: evaluated at (1e308, 1e308)": Trouble(
        lambda: lagrangian.flow_matching_field_from_samples(X, Y[:8])(0.5, [[1e308, 1e308]]),
        (lagrangian.NumericalError,), ("flow-matching field overflows float64", "rescale")),
    # 16 values in one column: NumPy's pairwise sum adds +inf and -inf partial sums
    "lagrangian.flow_matching_field_from_samples: x0 holding 1e308 and -1e308 twice (their std is NaN)": Trouble(
        lambda: lagrangian.flow_matching_field_from_samples(
            np.array([1e308, -1e308, 0, 0, 0, 0, 0, 0, 1e308, -1e308, 0, 0, 0, 0, 0, 0])[:, None], np.zeros((16, 1))),
        (ValueError,), ("standard deviation of x0", "rescale x0 and x1")),
    "lagrangian.blob_density: epsilon 1e154, particles at ±1e308 (|x - y|² / 2 eps² = inf / inf)": Trouble(
        lambda: lagrangian.blob_density([[1e308], [-1e308]], [[0.0]], 1e154),
        (ValueError,), ("blob density (mass/n) Σ_j φ_ε overflows float64",)),
    "lagrangian.blob_density: mass 5e-324 over 30 coincident 3-D blobs (mass/n = 0 times a sum of inf)": Trouble(
        lambda: lagrangian.blob_density(np.zeros((30, 3)), np.zeros((1, 3)), 2e-103, mass=5e-324),
        (ValueError,), ("blob density (mass/n) Σ_j φ_ε overflows float64",)),
    "lagrangian.blob_density: mass 1e-300 far from the particles (the density underflows)": Trouble(
        lambda: lagrangian.blob_density(X, Y + 3.0, 0.5, mass=1e-300),
        same_as=lambda: 1e-300 * lagrangian.blob_density(X, Y + 3.0, 0.5, mass=1.0), rtol=1e-6),
    "lagrangian.blob_velocity: particles at ±1e308 (their difference is inf, their kernel 0)": Trouble(
        lambda: lagrangian.blob_velocity([[1e308], [-1e308]], 2.0, 1.0),
        (ValueError,), ("blob velocity overflows float64",)),
    "lagrangian.blob_energy: diffusion 5e-324, m = 4 (D / (m-1) = 0 times a sum of inf)": Trouble(
        lambda: lagrangian.blob_energy(np.zeros((4, 1)), 4.0, 1.5e-154, diffusion=5e-324),
        (ValueError,), ("blob energy overflows float64",)),
    "lagrangian.implicit_euler_step: interaction z³, tau 10 (the fixed point diverges)": Trouble(
        lambda: lagrangian.implicit_euler_step(np.linspace(-3, 3, 6)[:, None], 10.0, potential_grad=None,
                                               interaction_grad=lambda z: z**3, max_iter=50),
        (lagrangian.NumericalError,), ("non-finite positions", "reduce tau")),
    "lagrangian.implicit_euler_step: stops at max_iter = 3 (grad V = x, tau 0.9: slow contraction)": Trouble(
        lambda: lagrangian.implicit_euler_step(np.linspace(-3, 3, 6)[:, None], 0.9, potential_grad=lambda z: z,
                                               max_iter=3),
        (lagrangian.NumericalError,), ("did not converge in 3 iterations", "raise max_iter")),
    "lagrangian.integrate_ode: t0 = -1e308, t1 = 1e308, save_at 1e308 (the span overflows)": Trouble(
        lambda: lagrangian.integrate_ode(lambda t, x: -x, X, -1e308, 1e308, 2, save_at=[1e308]),
        (ValueError,), ("save_at times must lie between",)),
    "lagrangian.noise_factor: diffusion matrix of 1e308 (sqrt(2 D) overflows)": Trouble(
        lambda: lagrangian.noise_factor([[1e308, 1e307], [1e307, 1e308]], 2),
        (ValueError,), ("noise factor", "overflows float64")),
    "lagrangian.w2_squared: 1-D clouds at ±1e308, one of weight 0": Trouble(
        lambda: lagrangian.w2_squared([[1e308], [0.0]], [[-1e308], [0.0]], weights_x=[1.0, 0.0]),
        (lagrangian.NumericalError,), ("squared distances between the clouds overflow float64",)),
    "lagrangian.w2_squared: 2-D clouds at (1e200, 1e200) (|x|² + |y|² - 2 x.y = inf - inf)": Trouble(
        lambda: lagrangian.w2_squared([[1e200, 1e200], [0.0, 1.0]], [[1e200, 1e200], [1.0, 0.0]]),
        (lagrangian.NumericalError,), ("squared distances between the clouds overflow float64",)),
    "lagrangian.sliced_w2: points at (1.7e308, 1.7e308) (the projections overflow)": Trouble(
        lambda: lagrangian.sliced_w2(np.array([[1.7e308, 1.7e308], [1.0, 1.0]]),
                                     np.array([[1.7e308, 1.7e308], [1.0, 2.0]]), projections=4,
                                     rng=np.random.default_rng(0)),
        (lagrangian.NumericalError,), ("squared distances between the clouds overflow float64",)),
    "gaussian.expectation: f = exp(x) - exp(x) at N(800, 1) (inf - inf inside f)": Trouble(
        lambda: vg.expectation(_n1(800.0, 1.0), lambda x: np.exp(x[..., 0]) - np.exp(x[..., 0])),
        (ValueError,), ("f(x) returned NaN or infinite values",)),
    "gaussian.Affine.push: diag(1e200, 1) of a covariance with -1e199 off the diagonal (inf * 0)": Trouble(
        lambda: vg.Affine([[1e200, 0.0], [0.0, 1.0]], [0.0, 0.0]).push(
            vg.Gaussian([0.0, 0.0], [[1e200, -1e199], [-1e199, 1e200]])),
        (ValueError,), ("pushed-forward covariance overflows float64",)),
}


def trouble_gap(label: str, trouble: Trouble, *, messages: list | None = None) -> str | None:
    """What is wrong with how ``trouble`` ends (see :class:`Trouble`); None when it ends as it must.
    ``messages``: a list that gets the :func:`message_digest` of the error it raised."""
    def message_gap(exc: BaseException) -> str | None:
        if messages is not None:
            messages.append(message_digest(exc))
        missing = [w for w in trouble.words if w not in str(exc)]
        return f"{label}: {type(exc).__name__} message {str(exc)!r} lacks {missing}" if missing else None

    def returned_gap(result: Any) -> str | None:
        if trouble.raises:
            return f"{label} returned {_short(result)} instead of raising {trouble.raises[0].__name__}"
        gap = _returned_gap(label, result)
        if gap is None and trouble.same_as is not None:
            ref = np.asarray(trouble.same_as(), dtype=float)
            err = float(np.abs(np.asarray(result, dtype=float) - ref).max() / np.abs(ref).max())
            if not err <= trouble.rtol:
                return f"{label}: the result differs from the same problem at an ordinary scale by {err:.3g} " \
                       f"(relative; tolerance {trouble.rtol:g})"
        return gap

    return _judge(label, trouble.call, trouble.raises, message_gap, returned_gap)


# ------------------------------------------------------------------------------------------------ the property
CALL_LIMIT_S = 3.0  # a valid call takes milliseconds: a bad value that makes it hang is a gap too


class _Overtime(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise _Overtime in the block after ``seconds`` (a no-op off the main thread or without SIGALRM)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise _Overtime(f"the call ran for more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)


@functools.cache
def _import_lazy_dependencies() -> None:
    """Import POT, which w2_squared imports on its first call, so that no judged call pays for it within the time
    limit (about 1 s, more on a loaded machine)."""
    importlib.import_module("ot")


def _judge(where: str, run: Callable[[], Any], expected: tuple, message_gap: Callable[[BaseException], str | None],
           returned_gap: Callable[[Any], str | None] | None = None) -> str | None:
    """Run ``run()`` with warnings as errors and the time limit. An ``expected`` exception must have a one-line
    message, then ``message_gap(exc)`` judges it; an escaping warning, any other exception or an overrun is a gap;
    a result is judged by ``returned_gap`` (default: no NaN, nothing complex). None when nothing is wrong."""
    _import_lazy_dependencies()
    try:
        with _time_limit(CALL_LIMIT_S), warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                result = run()
            except expected as exc:   # an empty tuple catches nothing
                if "\n" in str(exc).strip():
                    return f"{where}: multi-line message {str(exc)!r}"
                return message_gap(exc)
    except _Overtime as exc:
        return f"{where}: {exc}"
    except Exception as exc:  # noqa: BLE001 - any other exception is a gap
        return f"{where} raised {type(exc).__name__}: {exc}"
    return _returned_gap(where, result) if returned_gap is None else returned_gap(result)


def refusal_gap(call: ValidCall, name: str, bad: Any, *, label: str = "call", must_refuse: bool = False,
                returned: list | None = None, messages: list | None = None) -> str | None:
    """What is wrong with ``call`` when argument ``name`` is replaced by ``bad``; None when the bad value is
    refused clearly (or, unless ``must_refuse``, the call returns without NaN). ``label`` names the call in the
    description. ``returned``: a list that gets "call" appended when the call returned (took the value), then
    "field" when the vector field it returned was evaluated without error too; ``messages``: one that gets the
    :func:`message_digest` of the error when the value was refused (by the call or by its field)."""
    where = f"{label}({name}={_short(bad)})"

    def run() -> Any:
        result = call.call(name, bad)
        if returned is not None:
            returned.append("call")
        probed = call.probed(result)
        if returned is not None:
            returned.append("field")
        return probed

    def message_gap(exc: BaseException) -> str | None:
        if messages is not None:
            messages.append(message_digest(exc))
        if _message_names(exc, call, name, bad):
            return None
        return f"{where}: {type(exc).__name__} does not name {name!r}: {exc}"

    if not must_refuse:
        return _judge(where, run, EXPECTED, message_gap)
    # a value the call must refuse is refused up front, as input (ValueError/TypeError): an error met while
    # running (NumericalError, ...) means the call started work it should have refused
    return _judge(where, run, (ValueError, TypeError), message_gap,
                  lambda result: f"{where} returned {_short(result)} instead of refusing {name}")


def defaults_gap(call: ValidCall, *, label: str = "call") -> str | None:
    """What is wrong with ``call`` made with its keyword arguments at their defaults (:meth:`ValidCall.call_defaults`):
    an exception, an escaping warning, an overrun, or a result with NaN, complex or mistyped values (a default
    that is not a valid value, e.g. a misspelt backend name); None when it runs cleanly."""
    return _judge(f"{label}(with its defaults)", lambda: call.probed(call.call_defaults()), (), lambda exc: None)


def acceptance_gap(call: ValidCall, name: str, value: Any, *, label: str = "call") -> str | None:
    """What is wrong with ``call`` when argument ``name`` takes the valid edge value ``value``: any exception (the
    value was refused), an escaping warning, an overrun, or a result with NaN, complex or mistyped values; None
    when it is accepted."""
    return _judge(f"{label}({name}={_short(value)})", lambda: call.probed(call.call(name, value)), (),
                  lambda exc: None)


def _returned_gap(where: str, result: Any) -> str | None:
    nans = nan_paths(result)
    if nans:
        return f"{where} returned NaN in {nans}"
    complex_out = complex_paths(result)
    if complex_out:
        return f"{where} returned complex values in {complex_out}"
    mistyped = type_paths(result)
    return f"{where} returned fields of the wrong type: {mistyped}" if mistyped else None


_FIELD_TYPES = {"bool": (bool, np.bool_), "int": (int, np.integer), "str": (str,)}


def type_paths(obj: Any, path: str = "result") -> list[str]:
    """Fields of a returned dataclass (or of the dataclasses in a returned tuple) declared ``bool``, ``int`` or
    ``str`` whose value is of another type (e.g. a ``converged`` flag left None), as "path: declared, got type"."""
    if isinstance(obj, (list, tuple)):
        return [p for i, o in enumerate(obj) for p in type_paths(o, f"{path}[{i}]")]
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return []
    out = []
    for f in dataclasses.fields(obj):
        declared = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        value = getattr(obj, f.name, None)
        ok = _FIELD_TYPES.get(declared)
        if ok is not None and (not isinstance(value, ok) or declared == "int" and isinstance(value, (bool, np.bool_))):
            out.append(f"{path}.{f.name}: {declared}, got {type(value).__name__}")
    return out


def complex_paths(obj: Any, path: str = "result") -> list[str]:
    """Paths of complex arrays or numbers in ``obj`` (arrays, containers, dataclasses): every value twinflow
    returns is real, so complex input that comes back complex was taken silently."""
    if isinstance(obj, (complex, np.complexfloating)) or isinstance(obj, np.ndarray) and obj.dtype.kind == "c":
        return [path]
    if isinstance(obj, (list, tuple)):
        return [p for i, o in enumerate(obj) for p in complex_paths(o, f"{path}[{i}]")]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [p for f in dataclasses.fields(obj) if isinstance(getattr(obj, f.name, None), (np.ndarray, complex))
                for p in complex_paths(getattr(obj, f.name), f"{path}.{f.name}")]
    return []


# ------------------------------------------------------------------------------------------------ returned fields
POINT_WORDS = ("points", "particles", "positions", "queries", "tokens", "neurons")


def bad_points(points: np.ndarray) -> list:
    """Bad points for a returned vector field evaluated at valid ``points`` (n, d): complex, strings, objects,
    booleans, a wrong last axis, no axis, None, a ragged nested list. NaN and inf points are not among them: a
    field evaluates them to NaN, and the integrators diagnose non-finite states (NumericalError)."""
    wrong_d = points[..., :-1] if points.shape[-1] > 1 else np.concatenate([points, points], axis=-1)
    return [points * (1 + 1j), points.astype(str), points.astype(object), points.astype(bool), wrong_d,
            float(points.ravel()[0]), "abc", None, *_ragged(points)]


def bad_leading(value: Any) -> list:
    """Bad values of a returned field's leading argument, after the valid ``value``: the time t (NaN, ±inf,
    complex, a string, None), or the grid and density of a mean-field velocity v(t, grid, rho, x) (a grid of
    another dimension or not a grid; a density of zero mass, negative, NaN, complex, of the wrong shape)."""
    if isinstance(value, Grid):
        d = 1 if value.dim > 1 else 2
        return [Grid((-1.0,) * d, (1.0,) * d, (4,) * d), "grid", None]
    if isinstance(value, np.ndarray):
        return [np.zeros_like(value), -value, np.full_like(value, np.nan), value * (1 + 1j), value[:-1],
                value.astype(str), None]
    return [math.nan, math.inf, -math.inf, 1j, "abc", None]


LEADING_WORDS = {"t": ("time",), "rho": ("density", "mass")}  # words a message may use for a leading argument


FIELD_KEY = "(returned field) "   # prefix of the message-record keys of a returned field's arguments


def point_gaps(call: ValidCall, *, label: str = "call", messages: dict | None = None) -> tuple[int, list[str]]:
    """(number of bad evaluations tried, gaps) of the vector field that ``call`` returns (its probe a
    :class:`FieldProbe`), at every :func:`bad_points` value and at every :func:`bad_leading` value of its leading
    arguments (t, or t, grid, rho): each must be refused with a one-line error naming the argument (for the
    points, the field's last parameter or "points", "particles", ...), or give a real result without NaN.
    ``messages``: a dict that gets, per argument of the field (keys FIELD_KEY + its name), the
    :func:`message_digest` of each evaluation in order (:data:`NO_MESSAGE` where it returned or failed otherwise)."""
    if not isinstance(call.probe, FieldProbe):
        return 0, []
    field = call.func(*[v for _, v in call.pos], **call.kw)
    try:
        params = list(inspect.signature(field).parameters)
    except (TypeError, ValueError):
        params = []
    point_words = [*params[-1:], *POINT_WORDS]

    said: dict = {}

    def message_gap(where: str, what: str, words: list[str], key: str) -> Callable[[BaseException], str | None]:
        def judge(exc: BaseException) -> str | None:
            said[key][-1] = message_digest(exc)
            return None if _names(str(exc), words) else f"{where}: {type(exc).__name__} does not name {what}: {exc}"
        return judge

    tried, found = 0, []
    key = FIELD_KEY + (params[-1] if params else "points")
    for bad in bad_points(call.probe.points):
        where = f"{label}(...)({_short(bad)})"
        tried += 1
        said.setdefault(key, []).append(NO_MESSAGE)
        found.append(_judge(where, lambda: call.probe(field, bad), EXPECTED,
                            message_gap(where, "the points", point_words, key)))
    lead = call.probe.args
    for i, valid in enumerate(lead):
        name = params[i] if len(params) > len(lead) else f"argument {i}"
        for bad in bad_leading(valid):
            args = lead[:i] + (bad,) + lead[i + 1:]
            where = f"{label}(...)({name}={_short(bad)})"
            tried += 1
            said.setdefault(FIELD_KEY + name, []).append(NO_MESSAGE)
            found.append(_judge(where, lambda: field(*args, call.probe.points), EXPECTED,
                                message_gap(where, repr(name), [name, *LEADING_WORDS.get(name, ())],
                                            FIELD_KEY + name)))
    if messages is not None:
        messages.update({k: "".join(v) for k, v in said.items()})
    return tried, [g for g in found if g is not None]


def gaps(call: ValidCall, *, label: str = "call", names: list[str] | None = None,
         outcomes: dict | None = None, messages: dict | None = None) -> tuple[int, list[str]]:
    """(number of calls tried, descriptions of the gaps) over every bad value of every argument in ``names``
    (default: all of the call's arguments, the valid call itself, which must run cleanly, and the bad points of a
    returned field, :func:`point_gaps`), the call's
    own ``refuses`` (which must raise) and its ``accepts`` (which must not), and (with ``names`` None) the call with
    its keyword arguments at their defaults (:func:`defaults_gap`). ``outcomes``: a dict that gets, per
    argument, one character per bad value of :func:`bad_values` in order (:data:`OUTCOMES`: "x" when the call
    raised, "f" when it returned a vector field that raised when evaluated, "r" when it returned and took the
    value; see :func:`outcome_changes`). ``messages``: a dict that gets, per argument, the
    :func:`message_digest` of each refusal in the same order, then of each of the call's own ``refuses``,
    :data:`NO_MESSAGE` where the value was taken (see :func:`message_changes`), and those of a returned field's
    refusals (:func:`point_gaps`)."""
    if call.warm_up:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call.func(*[v for _, v in call.pos], **call.kw)
    tried, found = point_gaps(call, label=label, messages=messages) if names is None else (0, [])
    if names is None:   # the valid call itself must run cleanly
        tried += 1
        found.append(_judge(f"{label}(the valid call)", lambda: call.probed(call.func(*[v for _, v in call.pos],
                                                                                      **call.kw)), (),
                            lambda exc: None))
    if names is None and any(n not in call.needs for n in call.kw):
        tried += 1
        found.append(defaults_gap(call, label=label))
    for name in call.names() if names is None else names:
        pattern, digests = [], []
        for bad in bad_values(call, name):
            returned: list = []
            said: list = []
            found.append(refusal_gap(call, name, bad, label=label, returned=returned, messages=said))
            pattern.append(OUTCOMES[len(returned)])
            digests.append(said[0] if said else NO_MESSAGE)
        for bad in call.refuses.get(name, []):
            said = []
            found.append(refusal_gap(call, name, bad, label=label, must_refuse=True, messages=said))
            digests.append(said[0] if said else NO_MESSAGE)
        for ok in call.accepts.get(name, []):
            found.append(acceptance_gap(call, name, ok, label=label))
        tried += len(pattern) + len(call.refuses.get(name, [])) + len(call.accepts.get(name, []))
        if outcomes is not None:
            outcomes[name] = "".join(pattern)
        if messages is not None:
            messages[name] = "".join(digests)
    return tried, [g for g in found if g is not None]


# the outcome of a bad value, by how far it got: refused by the call; taken by the call, refused by the vector
# field it returned (a callable argument whose output the field checks); taken
OUTCOMES = "xfr"
OUTCOME_WORDS = {"x": "refused", "f": "refused by the returned field", "r": "taken"}


def outcome_changes(call: ValidCall, outcomes: dict, recorded: dict, *, label: str = "call") -> list[str]:
    """The bad values whose outcome differs from the recorded one (``recorded``: the ``outcomes`` of :func:`gaps`
    from an earlier run, e.g. :data:`verify.refusal_record.RECORD`): a value refused then (by the call or by the
    field it returns) and taken now is a validation that was weakened; one taken then and refused now, a valid
    input that became an error. Both are changes of the public behaviour, to be made on purpose (then the record
    is rewritten: ``python -m verify.bad_input --record``)."""
    changes = []
    for name, now in outcomes.items():
        then = recorded.get(name)
        if then is None or len(then) != len(now):
            changes.append(f"{label}: argument {name!r} has no record of its {len(now)} bad values; rewrite the "
                           "record")
            continue
        values = bad_values(call, name)
        for i, (a, b) in enumerate(zip(then, now)):
            if a != b:
                changes.append(f"{label}({name}={_short(values[i])}): now {OUTCOME_WORDS.get(b, b)}, was "
                               f"{OUTCOME_WORDS.get(a, a)}")
    return changes


# ------------------------------------------------------------------------------------------------ messages
PACKAGE_DIRS = tuple(str(Path(m.__file__).resolve().parent) + os.sep for m in (eulerian, lagrangian, vg))
LIBRARY_DIRS = tuple(sorted({str(Path(sysconfig.get_paths()[k]).resolve()) + os.sep
                             for k in ("stdlib", "platstdlib", "purelib", "platlib")}))
NO_MESSAGE = "...."   # the value was taken, or refused in a way that is a gap of its own
FOREIGN = "~~~~"      # refused inside an installed library (NumPy, SciPy, ...): its wording is not recorded


def _raised_in(exc: BaseException) -> str:
    tb, filename = exc.__traceback__, ""
    while tb is not None:
        filename, tb = tb.tb_frame.f_code.co_filename, tb.tb_next
    return filename


MACHINE_NUMBERS = [
    (re.compile(r" at 0x[0-9A-Fa-f]+"), " at 0x"),                           # object addresses
    (re.compile(r"\bnp\.[a-z_]+[0-9]*\(([^()]*)\)"), r"\1"),                 # NumPy 1 and 2 scalar reprs
    # memory limits and totals, which depend on the machine; the size a call "needs" depends on its arguments
    # only and stays, so a wrong memory estimate changes the message
    # (and a budget the caller gave, max_bytes=..., stays too)
    (re.compile(r"(?<![\w.+-])(?<!needs )(?<!needs about )(?<!needs a )(?<!max_bytes=)[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)? "
                r"(?=[KMGTP]i?B\b)"), "# "),
    # quantities set by round-off, which differs between BLAS and SciPy builds: a mass drift, the step at which it
    # passes its tolerance (step * MASS_RTOL; a drift of 6.9e-9 passes 1e-9 at step 1 with OpenBLAS's Haswell and
    # SkylakeX kernels, at step 2 with its Sandybridge kernels), the time at which a covariance falls below a
    # relative eigenvalue floor
    (re.compile(r"(drifted by |t ≈ |t < |round-off tolerance )[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"), r"\1#"),
    (re.compile(r"(\(relative\) at step )\d+ \(t = [^)]*\)"), r"\1# (t = #)"),
]


def message_digest(exc: BaseException) -> str:
    """Four hex digits that identify the error ``exc``: its type and message, with what differs between machines
    and versions taken out (object addresses, NumPy's scalar reprs, memory limits, which depend on the machine's
    memory, and round-off quantities). :data:`FOREIGN` when the error was raised inside an installed library other than twinflow (NumPy,
    SciPy, the standard library, ...), whose wording changes with its version. The record holds these digests,
    so a refusal whose wording changed is seen (:func:`message_changes`)."""
    where = str(Path(_raised_in(exc)).resolve())
    if where.startswith(LIBRARY_DIRS) and not where.startswith(PACKAGE_DIRS):
        return FOREIGN
    text = f"{type(exc).__name__}: {exc}"
    for pattern, replacement in MACHINE_NUMBERS:
        text = pattern.sub(replacement, text)
    return hashlib.blake2b(text.encode(), digest_size=2).hexdigest()


def message_changes(call: ValidCall, messages: dict, recorded: dict, *, label: str = "call") -> list[str]:
    """The bad values refused now and then with a different error message (``messages`` from :func:`gaps`,
    ``recorded``: the same from an earlier run, e.g. :data:`verify.refusal_record.MESSAGES`). The messages are
    part of the public behaviour: a refusal that names the wrong argument, a wrong limit or a wrong fix is a
    regression the refusal properties cannot see. Values refused only now or only then are
    :func:`outcome_changes`, and errors raised inside other libraries (:data:`FOREIGN`) are not compared."""
    changes = []
    width = len(NO_MESSAGE)
    for name, now in messages.items():
        then = recorded.get(name)
        if then is None or len(then) != len(now):
            changes.append(f"{label}: argument {name!r} has no record of its {len(now) // width} messages; rewrite "
                           "the record")
            continue
        changed = [i // width for i in range(0, len(now), width)
                   if (a := then[i:i + width]) != (b := now[i:i + width]) and NO_MESSAGE not in (a, b)
                   and FOREIGN not in (a, b)]
        if changed and name.startswith(FIELD_KEY):   # a returned field's argument: its bad values by number
            changes += [f"{label}(...): {name[len(FIELD_KEY):]}, bad value {k + 1}: the error message changed"
                        for k in changed]
        elif changed:   # the values are built only to name them
            values = bad_values(call, name) + list(call.refuses.get(name, []))
            changes += [f"{label}({name}={_short(values[k])}): the error message changed" for k in changed]
    return changes


def trouble_message_changes(messages: dict, recorded: dict) -> list[str]:
    """The troubles of :data:`TROUBLES` (``messages``: {label: digest}) whose error message differs from the
    recorded one (:data:`verify.refusal_record.TROUBLE_MESSAGES`), or that have no record."""
    changes = []
    for label, now in messages.items():
        then = recorded.get(label)
        if then is None:
            changes.append(f"{label}: no record of its message; rewrite the record")
        elif then != now and FOREIGN not in (then, now):
            changes.append(f"{label}: the error message changed")
    return changes


def current_trouble_messages() -> dict[str, str]:
    """{label: :func:`message_digest` of the error it raised, :data:`NO_MESSAGE` for none} of :data:`TROUBLES`."""
    out = {}
    for label, trouble in TROUBLES.items():
        said: list = []
        trouble_gap(label, trouble, messages=said)
        out[label] = said[0] if said else NO_MESSAGE
    return out


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) < 120 else r[:117] + "..."


# ------------------------------------------------------------------------------------------------ the record
RECORD_PATH = Path(__file__).with_name("refusal_record.py")


def current_outcomes(messages: dict | None = None) -> dict[str, dict[str, str]]:
    """{call label: {argument: outcome pattern}} of every call of :data:`CALLS` (see :func:`gaps`); ``messages``:
    a dict that gets {call label: {argument: message digests}}."""
    record = {}
    for label, call in CALLS.items():
        record[label] = {}
        said = messages.setdefault(label, {}) if messages is not None else None
        gaps(call, label=label, outcomes=record[label], messages=said)
    return record


def write_record(path: Path = RECORD_PATH) -> int:
    """Rewrite the record of which bad values each public function refuses (a Python module holding one dict,
    replaced atomically). Returns the number of outcomes recorded."""
    messages: dict = {}
    record = current_outcomes(messages)
    text = ('"""Which bad value of :mod:`verify.bad_input` each public function refuses ("x"), takes while the vector field\n'
            'it returns refuses it ("f"), or takes ("r"), in the order of ``bad_values`` (RECORD), and the digest of each\n'
            'refusal\'s message, four hex digits per value (MESSAGES, ``message_digest``), and of the error each numerical\n'
            'trouble raises (TROUBLE_MESSAGES).\n'
            'Written by ``python -m verify.bad_input --record``; do not edit by hand. The report\'s bad-input cases\n'
            'compare the current outcomes with it (``outcome_changes``, ``message_changes``,\n'
            '``trouble_message_changes``)."""\n'
            "RECORD = " + pprint.pformat(record, width=116, sort_dicts=True) + "\n"
            "MESSAGES = " + pprint.pformat(messages, width=116, sort_dicts=True) + "\n"
            "TROUBLE_MESSAGES = " + pprint.pformat(current_trouble_messages(), width=116, sort_dicts=True) + "\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return sum(len(p) for r in record.values() for p in r.values())


def main(argv: list[str] | None = None) -> int:
    """``python -m verify.bad_input --record [--to PATH]``: rewrite the record. Exit 0, or 2 with one line when
    the file cannot be written (usage errors: argparse's exit 2)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m verify.bad_input",
                                     description="The bad-input catalog: rewrite the record of its outcomes.")
    parser.add_argument("--record", action="store_true", help=f"rewrite {RECORD_PATH.name} from the current code")
    parser.add_argument("--to", type=Path, default=RECORD_PATH, help="where to write it (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.record:
        parser.print_help()
        return 0
    folder = args.to.parent
    why = ("no such directory" if not folder.is_dir() else "a directory" if args.to.is_dir()
           else "no write permission" if not os.access(folder, os.W_OK) else None)
    if why:   # before the catalog runs (about 20 s)
        print(f"python -m verify.bad_input: cannot write {args.to}: {why}", file=sys.stderr)
        return 2
    try:
        print(f"recorded {write_record(args.to)} outcomes in {args.to}")
    except OSError as exc:
        print(f"python -m verify.bad_input: cannot write {args.to}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
