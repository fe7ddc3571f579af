"""The solver protocol, and twinflow's own solvers behind it.

A **grid solver** is any callable ``solve(problem, grid, steps)`` returning the cell averages of the density at
``problem.t_final`` (an array of shape ``grid.shape``; an :class:`eulerian.Solution` is accepted too). It reads
what it needs from the :class:`~verify.problems.Problem`: ``initial_density(x)``, ``drift(t, x)``,
``diffusion``, ``source`` (a callable S(t, x), or None), ``boundary``, ``t_final``; ``steps`` equal time steps.

A **particle solver** (sampler) is any callable ``sample(problem, x0, steps, rng)`` returning the positions
(n, d) at ``problem.t_final`` of the particles that start at ``x0`` (n, d), using ``rng`` (a NumPy Generator)
for its noise.

Adapters of twinflow's own solvers satisfy these protocols and declare their orders, so the built-in report
cases and users' schemes go through the same studies (:mod:`verify.convergence`):

    FokkerPlanckSolver(flux="scharfetter-gummel", time="bdf2")   # any flux × time scheme, any backend
    ContinuitySolver(limiter="none")
    SDESampler("heun"), ODESampler("rk4")
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

import lagrangian as L
from eulerian import Grid, Solution, solve_continuity, solve_fokker_planck
from eulerian.time_schemes import SCHEMES, TIME_SCHEMES
from eulerian.operators import FLUXES
from verify.problems import Problem

__all__ = [
    "GridSolver", "ParticleSolver", "FokkerPlanckSolver", "ContinuitySolver", "SDESampler", "ODESampler",
    "default_solver", "solver_name", "declared_order",
]



def _close(value: Any, valid: Any) -> str:
    """" (did you mean 'x'?)" for a misspelt scheme name, else ""."""
    close = difflib.get_close_matches(value, list(valid), n=2) if isinstance(value, str) else []
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""

@runtime_checkable
class GridSolver(Protocol):
    """``solve(problem, grid, steps) -> density``: cell averages (grid.shape) at problem.t_final."""

    def __call__(self, problem: Problem, grid: Grid, steps: int) -> Any: ...


@runtime_checkable
class ParticleSolver(Protocol):
    """``sample(problem, x0, steps, rng) -> positions``: (n, d) at problem.t_final from x0 (n, d)."""

    def __call__(self, problem: Problem, x0: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray: ...


def _require(problem: Problem, kind: str, who: str) -> None:
    if not isinstance(problem, Problem):
        raise TypeError(f"{who} needs a verify.problems.Problem, got {type(problem).__name__}")
    if problem.kind != kind:
        raise ValueError(f"{who} solves {kind} problems; {problem.name!r} is a {problem.kind} problem")


@dataclass(frozen=True)
class FokkerPlanckSolver:
    """:func:`eulerian.solve_fokker_planck` as a grid solver: any flux × time scheme, any backend.

    Orders: space 2 for every flux (exponentially fitted or central), time 1 (implicit Euler) or 2; ``order``
    is the order of a space–time study (dt ∝ h). ``save_at`` (absolute times) is passed through, so the
    returned Solution also holds densities at those times; ``rtol``, the relative residual tolerance of each
    linear solve on the multigrid path, too (the LU path solves exactly)."""

    flux: str = "scharfetter-gummel"
    time: str = "bdf2"
    backend: str = "numpy"
    solver: str = "auto"
    save_at: tuple[float, ...] | None = None
    rtol: float = 1e-12

    def __post_init__(self) -> None:
        if self.flux not in FLUXES:
            raise ValueError(f"flux must be one of {', '.join(FLUXES)}; got {self.flux!r}{_close(self.flux, FLUXES)}")
        if self.time not in TIME_SCHEMES:
            raise ValueError(f"time must be one of {', '.join(TIME_SCHEMES)}; got {self.time!r}"
                             f"{_close(self.time, TIME_SCHEMES)}")

    @property
    def space_order(self) -> float:
        return 2.0

    @property
    def time_order(self) -> float:
        return float(SCHEMES[self.time].order)   # declared by the registered scheme

    @property
    def order(self) -> float:
        return min(self.space_order, self.time_order)

    @property
    def name(self) -> str:
        extra = "" if self.backend == "numpy" else f", {self.backend}"
        return f"twinflow Fokker–Planck ({self.flux} + {self.time}{extra})"

    def __call__(self, problem: Problem, grid: Grid, steps: int) -> Solution:
        _require(problem, "fokker-planck", "FokkerPlanckSolver")
        if np.ndim(problem.diffusion) != 0:
            raise ValueError(f"FokkerPlanckSolver takes a scalar diffusion; {problem.name!r} has a matrix D")
        return solve_fokker_planck(
            grid, grid.cell_averages(problem.initial_density), problem.drift, problem.diffusion, problem.t_final,
            steps, flux=self.flux, time=self.time, boundary=problem.boundary, backend=self.backend,
            solver=self.solver, source=problem.source, save_at=self.save_at, time_dependent=problem.time_dependent,
            rtol=self.rtol)


@dataclass(frozen=True)
class ContinuitySolver:
    """:func:`eulerian.solve_continuity` (MUSCL + SSP-RK3) as a grid solver with ``steps`` forced.

    ``cfl`` bounds the Courant number of the forced step (CFLError beyond it). Orders: 2 in space and 3 in
    time without a limiter (``order`` 2); limited slopes lose order at extrema (``order`` 1 is guaranteed,
    about 1.5-2 is observed in L1); SSP-RK3 is third order in time (``time_order``)."""

    limiter: str = "none"
    cfl: float = 0.5
    backend: str = "numpy"

    @property
    def space_order(self) -> float:
        return 2.0 if self.limiter == "none" else 1.0

    @property
    def time_order(self) -> float:
        return 3.0

    @property
    def order(self) -> float:
        return min(self.space_order, self.time_order)

    @property
    def name(self) -> str:
        return f"twinflow continuity (MUSCL {self.limiter} + SSP-RK3)"

    def __call__(self, problem: Problem, grid: Grid, steps: int) -> Solution:
        _require(problem, "continuity", "ContinuitySolver")
        return solve_continuity(grid, grid.cell_averages(problem.initial_density), problem.drift, problem.t_final,
                                cfl=self.cfl, limiter=self.limiter, boundary=problem.boundary, backend=self.backend,
                                steps=steps, source=problem.source, time_dependent=problem.time_dependent)


@dataclass(frozen=True)
class SDESampler:
    """:func:`lagrangian.integrate_sde` as a particle solver: a registered method name or an
    :class:`lagrangian.SDEStepper` (weak order declared)."""

    method: str | L.SDEStepper = "heun"

    def __post_init__(self) -> None:
        if not isinstance(self.method, L.SDEStepper) and self.method not in L.SDE_STEPPERS:
            raise ValueError(f"method must be one of {', '.join(L.SDE_STEPPERS)} or an SDEStepper; got {self.method!r}"
                             f"{_close(self.method, L.SDE_STEPPERS)}")

    @property
    def stepper(self) -> L.SDEStepper:
        return self.method if isinstance(self.method, L.SDEStepper) else L.SDE_STEPPERS[self.method]

    @property
    def weak_order(self) -> float:
        return float(self.stepper.weak_order)

    order = weak_order

    @property
    def name(self) -> str:
        return f"twinflow SDE ({self.stepper.name})"

    def __call__(self, problem: Problem, x0: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
        _require(problem, "sde", "SDESampler")
        return L.integrate_sde(problem.drift, problem.diffusion, x0, 0.0, problem.t_final, steps, rng=rng,
                               method=self.method)


@dataclass(frozen=True)
class ODESampler:
    """:func:`lagrangian.integrate_ode` as a particle solver: a registered method name or an
    :class:`lagrangian.ODEStepper` (order declared)."""

    method: str | L.ODEStepper = "rk4"

    def __post_init__(self) -> None:
        if not isinstance(self.method, L.ODEStepper) and self.method not in L.ODE_STEPPERS:
            raise ValueError(f"method must be one of {', '.join(L.ODE_STEPPERS)} or an ODEStepper; got {self.method!r}"
                             f"{_close(self.method, L.ODE_STEPPERS)}")

    @property
    def stepper(self) -> L.ODEStepper:
        return self.method if isinstance(self.method, L.ODEStepper) else L.ODE_STEPPERS[self.method]

    @property
    def order(self) -> float:
        return float(self.stepper.order)

    @property
    def name(self) -> str:
        return f"twinflow ODE ({self.stepper.name})"

    def __call__(self, problem: Problem, x0: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
        _require(problem, "ode", "ODESampler")
        return L.integrate_ode(problem.drift, x0, 0.0, problem.t_final, steps, method=self.method)


def default_solver(problem: Problem) -> Any:
    """twinflow's default solver for the problem's kind: SG + BDF2, unlimited MUSCL, Euler–Maruyama, RK4.

    For SDE problems the default is Euler–Maruyama because a study at the default budget decides its weak order
    on mean and covariance; stochastic Heun's covariance error is a (λ dt)²/4 relative effect that needs ~10⁹
    particle steps to resolve (``SDESampler("heun")`` from Python, or pass more samples)."""
    if problem.kind == "sde":
        return SDESampler("euler-maruyama")
    return {"fokker-planck": FokkerPlanckSolver, "continuity": ContinuitySolver, "ode": ODESampler}[problem.kind]()


def solver_name(solver: Any) -> str:
    """A readable name: the solver's ``name`` attribute, else module:qualname."""
    name = getattr(solver, "name", None)
    if isinstance(name, str) and name:
        return name
    mod, qual = getattr(solver, "__module__", None), getattr(solver, "__qualname__", None)
    if mod and qual:
        return f"{mod}:{qual}"
    return type(solver).__name__


def declared_order(solver: Any, refine: str | None = None) -> float | None:
    """The order a solver declares for a study that refines ``refine``: ``space_order`` for "space",
    ``time_order`` for "time" (when the solver has them), else ``order`` (``weak_order`` for samplers); None when
    it declares nothing."""
    names = {"space": ("space_order",), "time": ("time_order",)}.get(refine or "", ())
    for attr in (*names, "order", "weak_order"):
        value = getattr(solver, attr, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None
