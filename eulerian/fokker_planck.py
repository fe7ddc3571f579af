"""Implicit finite-volume solver for the Fokker-Planck equation  d rho/dt + div(rho b) = D Lap rho (+ S).

Space: cell averages on a Grid, one flux per face (eulerian.operators), drift evaluated at face centres::

    d rho_i/dt = (A(t) rho)_i + S(t, x_i),   A = -div_h F_h,   columns of A sum to zero.

Time (dt = t_final / steps)::

    implicit-euler  (I - dt A^{n+1}) rho^{n+1} = rho^n + dt S^{n+1}                                  (order 1)
    crank-nicolson  (I - dt/2 A^{n+1}) rho^{n+1} = (I + dt/2 A^n) rho^n + dt/2 (S^n + S^{n+1})        (order 2)
    bdf2            (3/2 I - dt A^{n+1}) rho^{n+1} = 2 rho^n - 1/2 rho^{n-1} + dt S^{n+1}             (order 2;
                    the first step is implicit Euler, which keeps global order 2)
    douglas-adi     Douglas alternating-direction implicit steps, theta = 1/2 (eulerian.adi)         (order 2;
                    an extra scheme WITH a splitting error O(dt^2): tridiagonal line solves, no linear solver)

Each scheme is a small registered object that declares its order (eulerian.time_schemes.SCHEMES); the fluxes
are registered the same way (eulerian.operators.FLUX_SCHEMES), the walls in eulerian.boundary and the kinds of
diffusion in eulerian.diffusion, so tests and report cases iterate over the registries.

The implicit systems of the other schemes are solved in full (no splitting): BiCGStab preconditioned by geometric
multigrid (O(cells) per iteration, rtol 1e-12 by default) or a sparse LU factorised once per distinct matrix. For
a time-independent drift each distinct matrix is assembled and set up once.
"""
from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import _validate as v
from .adi import DouglasADI
from .backend import get_backend
from .errors import NumericalError
from .grid import Grid
from .multigrid import LUSolver, MultigridSolver
from .boundary import parse_boundary
from .diffusion import check_diffusion, cross_diffusion, peclet_guard
from .operators import FLUXES, WallTerms, assemble_generator, face_drift, face_rates
from .solution import Solution
from .time_schemes import DAMPED, SCHEMES, TIME_SCHEMES

SOLVERS = ("auto", "multigrid", "lu")
BACKENDS = ("numpy", "cupy", "fipy")
FP_BOUNDARIES = ("zero-flux", "periodic", "dirichlet", "flux")  # eulerian.boundary conditions taken here
# solver="auto" on NumPy: sparse LU (factorised once per matrix) up to these sizes, multigrid beyond. 1D systems
# are banded (LU is O(cells)); in 2D one factorisation at 256^2 costs ~0.5 s and a solve ~20 ms, about half the
# multigrid solve at rtol 1e-12 on the 2-core machine; 3D fill-in grows fast.
AUTO_LU_CELLS = {1: 10**7, 2: 66_000, 3: 8_000}
AUTO_LU_CELLS_REFACTOR = {1: 10**6, 2: 1_024, 3: 512}  # drift depends on time: refactorised every step


def check_operator_scale(big: float, dt: float, t: float) -> None:
    """NumericalError when the generator A (per unit time; ``big``: its largest |entry|) or dt A, which the
    implicit schemes factorise, holds values beyond float64 (diffusion / h^2 or |drift| / h near 1e308, or a time
    step that large against them)."""
    if not (math.isfinite(big) and math.isfinite(big * dt)):
        raise NumericalError(f"solve_fokker_planck: the finite-volume operator overflows float64 at t = {t:g} "
                             f"(|A| up to {big:.3g} per unit time, dt = {dt:.3g}); rescale space and time "
                             "(diffusion, drift, t_final) or use more steps")


def advance(value: float, previous: float, scheme: str, dt: float, r_old: float, r_new: float) -> float:
    """The time scheme's own quadrature of dM/dt = r for a total M (mass, or mass that left through walls):
    M' = M + dt r' (implicit Euler), M + dt (r + r') / 2 (Crank-Nicolson, Douglas ADI, a damped step with r the
    rate at its half step), (2 M - M_prev / 2 + dt r') / (3/2) (BDF2). r = r(rho, t) at the step's time levels."""
    if scheme == "implicit-euler":
        return value + dt * r_new
    if scheme == "bdf2":
        return (2.0 * value - 0.5 * previous + dt * r_new) / 1.5
    return value + 0.5 * dt * (r_old + r_new)  # crank-nicolson, douglas-adi


@dataclass
class ArrayStepper:
    """The services a time scheme (eulerian.time_schemes) uses on the array backends: dt, the generator A(t),
    the forcing f(t), solve(c0, c1, t, rhs, guess) for (c0 I - c1 A(t)) x = rhs, the mass rates, and the
    Douglas ADI line solver when that scheme runs."""

    dt: float
    A: Callable[[float], Any]
    forcing: Callable[[float], Any]
    solve: Callable[..., Any]
    rates: Callable[[Any, float], tuple[float, float]]
    adi: Any = None


class MassBalance:
    """Expected mass of the conservative time schemes, step by step. With A's columns summing to zero inside,
    d(mass)/dt = r(rho, t) = cell_volume sum(S) - (mass per unit time leaving through open walls); the scheme
    integrates r by its own quadrature (``advance``), so the computed mass must follow it to round-off.
    ``outflow`` accumulates, by the same quadrature, the mass that left through the walls."""

    def __init__(self, mass0: float, dt: float) -> None:
        self.expected, self.previous, self.dt = mass0, mass0, dt
        self.outflow, self.outflow_previous = 0.0, 0.0
        self.scale = abs(mass0)  # |M_0| + the mass increments: the size of the masses involved

    def check(self, mass: float, scheme: str, r_old: tuple[float, float], r_new: tuple[float, float], step: int,
              t: float) -> float:
        """Relative drift of ``mass`` (NumericalError beyond the round-off tolerance, see check_mass_balance).
        r_old, r_new: (source rate, outflow rate) at the two time levels of the step."""
        expected = advance(self.expected, self.previous, scheme, self.dt, r_old[0] - r_old[1], r_new[0] - r_new[1])
        outflow = advance(self.outflow, self.outflow_previous, scheme, self.dt, r_old[1], r_new[1])
        self.scale += self.dt * (abs(r_new[0]) + abs(r_new[1]))
        self.previous, self.expected = self.expected, expected
        self.outflow_previous, self.outflow = self.outflow, outflow
        return v.check_mass_balance("solve_fokker_planck", mass, expected, self.scale, step, t,
                                    f"the time step dt = {t / step:g} is too large for accurate linear solves or "
                                    "the drift is too large: use more steps (or check the drift and source)")


def check_damped_steps(damped_steps: Any, time: str, steps: int) -> int:
    """The number of damped (two implicit-Euler half steps) steps at the start; its default per time scheme."""
    if damped_steps is None:
        return min(steps, {"crank-nicolson": 1, "bdf2": 1}.get(time, 0))
    damped_steps = v.check_steps(damped_steps, "damped_steps", 0)
    if damped_steps and time not in ("crank-nicolson", "bdf2", "implicit-euler"):
        raise ValueError(f"damped_steps applies to 'crank-nicolson', 'bdf2' and 'implicit-euler', not {time!r}: "
                         "pass damped_steps=0 (or None)")
    if time == "bdf2" and damped_steps == 0:
        raise ValueError("damped_steps=0 with time='bdf2': BDF2 needs a one-step start; use damped_steps >= 1")
    return min(damped_steps, steps)


def _drift_is_time_dependent(grid: Grid, drift: Callable, t_final: float) -> bool:
    x = grid.centers()
    b0 = np.asarray(drift(0.0, x))
    return any(
        not np.array_equal(b0, np.asarray(drift(t, x))) for t in (0.5 * t_final, t_final, 0.3217 * t_final)
    )


def solve_fokker_planck(
    grid: Grid,
    rho0: Any,
    drift: Callable,
    diffusion: Any,
    t_final: float,
    steps: int,
    *,
    flux: str = "scharfetter-gummel",
    time: str = "bdf2",
    boundary: Any = "zero-flux",
    backend: str = "numpy",
    save_at: Any = None,
    source: Callable | None = None,
    solver: str = "auto",
    rtol: float = 1e-12,
    time_dependent: bool | None = None,
    damped_steps: int | None = None,
) -> Solution:
    """Advance d rho/dt + div(rho b) = D Lap rho + S from t = 0 to t_final in ``steps`` equal steps.

    Parameters
    ----------
    grid : Grid (1-3 D).
    rho0 : cell averages, shape grid.shape, >= 0 with positive mass (zero allowed with Dirichlet/Flux walls, through
        which mass can enter), or a callable f(x) -> (...), averaged over cells.
    drift : b(t, x), x of shape (..., d) -> (..., d); evaluated at face centres.
    diffusion : D > 0 (dX = b dt + sqrt(2 D) dW); or a callable D(x) -> (...) > 0 (evaluated at face centres),
        cell values of the grid's shape, or a constant SPD (d, d) matrix (anisotropic, off-diagonal terms
        included): d rho/dt + div(rho b) = div(D grad rho). See eulerian.diffusion for the discretisation, when
        the discrete Gibbs state stays exact, and the drift to use for an Ito SDE with D(x).
    t_final : final time > 0; steps : number of equal time steps.
    flux : "scharfetter-gummel" (default), "chang-cooper", "central".
    time : "bdf2" (default), "crank-nicolson", "implicit-euler", or "douglas-adi" (Douglas ADI, second order with
        a splitting error: each step solves tridiagonal systems along grid lines, O(cells) with a small constant;
        on OU-2D the cheapest way to a given accuracy; array backends only, solver= does not apply).
    boundary : "zero-flux" (mass conserved), "periodic", or per side (eulerian.boundary): one entry per axis, a
        condition or a (lower, upper) pair of ZeroFlux(), Periodic(), Dirichlet(g) (rho = g(t, x) >= 0 on the
        wall) and Flux(q) (outward normal flux J . n = q(t, x)). With Dirichlet or Flux walls the mass that
        leaves is accumulated in Solution.boundary_outflow and the balance mass(t) - mass(0) =
        -outflow(t) (+ source) is checked to round-off, like the conservation of closed boxes.
    backend : "numpy", "cupy" or "fipy" (FiPy terms; see eulerian.fipy_backend).
    save_at : increasing times in [0, t_final] on the step grid (multiples of dt); densities saved there.
        The saved densities and the mass history must fit the memory cap (MemoryLimitError otherwise).
    source : S(t, x) -> (...), real, added as point values at cell centres (manufactured solutions).
    solver : "auto" (NumPy: sparse LU up to 66 000 cells in 2D, 8 000 in 3D, any 1D grid for time-independent
        drifts; 1 024 / 512 cells in 2D / 3D when the drift depends on time; multigrid otherwise and on CuPy),
        "multigrid" (BiCGStab + geometric multigrid, O(cells) per iteration), "lu".
    rtol : relative residual tolerance of the multigrid-preconditioned BiCGStab.
    time_dependent : whether the drift depends on t (None: detected by probing the drift at a few times).
    damped_steps : Rannacher's damped start for rough data: the first ``damped_steps`` steps are each made of two
        implicit-Euler half steps (L-stable: they damp the high frequencies of a discontinuous rho0 that
        Crank-Nicolson would carry along undamped). Default (None): 1 for "crank-nicolson" and "bdf2" (for
        BDF2 it is the one-step start its history needs), 0 otherwise. The order stays 2 (a first-order start
        of a fixed number of steps adds O(dt^2) to the global error). Heat equation from a step, 1D, 400
        cells, time error against the semi-discrete solution: Crank-Nicolson undamped 3.4e-2 at 5 steps and
        pairwise orders 1.5, 3.7, 5.3 before 2; with one damped step 1.7e-3 and orders 2.08, 2.14, 2.08, 2.00
        (two damped steps: twice that error); on smooth OU-2D it costs about 1 % (report case heat-step-1d).
        Not available for "douglas-adi".

    "douglas-adi" takes zero-flux and periodic walls and a diagonal diffusion (constant, D(x), cell values or a
    diagonal matrix); Dirichlet/Flux walls and off-diagonal matrices need one of the other schemes (ValueError).
    Matrices with off-diagonal entries need zero-flux or periodic walls.

    Returns a Solution; its info holds the scheme, the solver ("lu", "multigrid", or "tridiagonal-lines" for
    douglas-adi, with "line_solver": "lapack" on NumPy, "cuda-thomas" on CuPy), the linear iteration counts
    ("linear_iterations", one per multigrid solve) and "solver_builds": the LU factorisations or multigrid set-ups
    made. A drift independent of t gives one per distinct matrix c0 I -
    c1 A (implicit Euler 1; Crank–Nicolson 1, shared with its damped start's half steps; BDF2 2), one that depends
    on t one per solve.
    Positivity is guaranteed for implicit-euler with the exponentially fitted fluxes (M-matrix); the second-order
    schemes may produce tiny negative values far in the tails (reported in Solution.min_density).

    Mass: both boundaries conserve it to round-off (with a source, the discrete balance of the time scheme
    holds to round-off). After every step the relative drift from that balance is checked against
    1e-9 * (steps so far) (eulerian._validate.MASS_RTOL); beyond it, or on a NaN/inf density, NumericalError is
    raised instead of returning. The drift of a step grows with the conditioning of I - dt A (~ dt D / h^2):
    about 1e-15 on usual grids, 1e-11 on a 1D grid of 10^6 cells with dt = 0.01, 1e-3 for dt = 10^12 (the
    solves have lost their digits: use more steps).
    Arguments are checked up front: TypeError for complex densities, drift values, sources or coefficients,
    ValueError (or MemoryLimitError) otherwise.
    """
    grid = v.check_grid(grid)
    backend_name = v.backend_name(backend, BACKENDS)
    flux = v.check_choice("flux", flux, FLUXES)
    time = v.check_choice("time", time, TIME_SCHEMES)
    box = parse_boundary(boundary, grid.dim, FP_BOUNDARIES)
    solver = v.check_choice("solver", solver, SOLVERS)
    D = check_diffusion(diffusion, grid)
    peclet_guard(D, grid)
    t_final = v.check_positive("t_final", t_final)
    steps = v.check_steps(steps)
    rtol = v.check_positive("rtol", rtol)
    time_dependent = v.check_optional_bool("time_dependent", time_dependent)
    damped_steps = check_damped_steps(damped_steps, time, steps)
    rho_init = v.check_density(grid, rho0, allow_zero_mass=box.open)
    drift = v.check_field("drift", drift, grid)
    source = v.check_source(source, grid)
    save = v.check_save_at(save_at, t_final)
    if D.cross is not None and box.open:
        raise ValueError("a diffusion matrix with off-diagonal entries takes zero-flux or periodic walls only; "
                         "use a diagonal matrix with Dirichlet/Flux walls, or close the walls")
    if time == "douglas-adi" and (box.open or D.cross is not None):
        raise ValueError("time='douglas-adi' takes zero-flux/periodic walls and a diagonal diffusion; use "
                         "time='bdf2' or 'crank-nicolson' for Dirichlet/Flux walls or an off-diagonal matrix")
    # memory first: it caps steps (the mass history), so that the step indices of save_at below fit in int64
    v.check_memory(8.0 * grid.size * (0 if save is None else len(save)) + 48.0 * (steps + 1),
                   f"solve_fokker_planck: {0 if save is None else len(save)} saved densities of "
                   f"{grid.size} cells and a mass history of {steps + 1} values",
                   "save fewer densities (save_at) or use fewer steps or cells",
                   backend_name if save is not None else None)
    dt = t_final / steps
    save_idx = None
    if save is not None:
        k = save / dt
        save_idx = np.rint(k).astype(int)
        if np.any(np.abs(k - save_idx) > 1e-8 * np.maximum(1.0, k)):
            raise ValueError(
                f"save_at times must be multiples of dt = t_final/steps = {dt:g}; got {save}. "
                "Choose steps so that every save time falls on a step"
            )
    if time == "douglas-adi" and (backend_name == "fipy" or solver != "auto"):
        raise ValueError(
            "time='douglas-adi' runs on the array backends ('numpy', 'cupy') and solves its tridiagonal line "
            "systems directly: use backend='numpy' or 'cupy' with solver='auto', or another time scheme"
        )
    if backend_name == "fipy":
        if solver != "auto":
            raise ValueError("solver= applies to the array backends; FiPy uses its own LU solver")
        from .fipy_backend import fokker_planck_fipy

        return fokker_planck_fipy(
            grid, rho_init, drift, D, t_final, steps, flux=flux, time=time, box=box,
            save_idx=save_idx, source=source, damped_steps=damped_steps,
        )

    be = get_backend(backend_name)
    periodic = box.periodic
    if time_dependent is None:
        time_dependent = _drift_is_time_dependent(grid, drift, t_final)
    if time == "douglas-adi":
        solver = "tridiagonal-lines"
    elif solver == "auto":
        lu_cells = (AUTO_LU_CELLS_REFACTOR if time_dependent else AUTO_LU_CELLS)[grid.dim]
        solver = "lu" if (be.name == "numpy" and grid.size <= lu_cells) else "multigrid"
    if solver == "lu" and not hasattr(be.splinalg, "splu"):
        raise ValueError(f"solver='lu' is not available on backend {be.name!r}; use solver='multigrid'")
    x_centres = grid.centers() if source is not None else None  # sources are evaluated on NumPy points
    cv = grid.cell_volume

    start = _time.perf_counter()
    identity = be.sparse.identity(grid.size, format="csr")
    normal_D: dict = {}  # per grid shape: D_kk on the flux-carrying faces (time independent)

    def face_D(g: Grid) -> list:
        if g.shape not in normal_D:
            normal_D[g.shape] = [d if np.ndim(d) == 0 else be.asarray(d)
                                 for d in D.coarsen(grid, g).normal(g, periodic)]
        return normal_D[g.shape]

    def walls(t: float, g: Grid = grid) -> WallTerms:
        Dg = D.coarsen(grid, g)
        return WallTerms(be, g, box, drift, lambda k, side: Dg.wall(g, k, side), flux, t)

    def generator(t: float, g: Grid = grid) -> Any:
        A = assemble_generator(be, g, face_drift(be, g, drift, t, periodic), face_D(g), flux, periodic)
        if D.cross is not None:
            A = A + cross_diffusion(be, g, D.cross, periodic)
        if box.open:
            A = A + be.sparse.diags(walls(t, g).diagonal, format="csr")
        check_operator_scale(float(be.xp.abs(A.data).max()) if A.nnz else 0.0, dt, t)
        return A.tocsr()

    def adi_rates(t: float) -> list:
        """The face rates of each axis at time t, which Douglas ADI factorises as I - dt/2 A_k (|A_k| <= twice
        the largest rate: a cell's diagonal sums two of them)."""
        rates = face_rates(be, grid, face_drift(be, grid, drift, t, periodic), face_D(grid), flux)
        check_operator_scale(2.0 * max((float(be.xp.abs(z).max()) for ab in rates for z in ab if z.size),
                                       default=0.0), dt, t)
        return rates

    recent: dict = {}  # forcing and wall terms of the last few time levels

    def at(t: float) -> tuple[Any, WallTerms | None]:
        """(forcing f = S + the walls' source, or None; the wall terms) at time t, cached for a few times."""
        if t not in recent:
            w = walls(t) if box.open else None
            f = None
            if source is not None:
                f = be.asarray(v.real_output("source(t, x)", source(t, x_centres))).reshape(-1)
                if f.size != grid.size:
                    f = f * be.xp.ones(grid.size)  # a scalar source: the same in every cell
            s_rate = 0.0 if f is None else cv * float(f.sum())
            if w is not None and w.source is not None:
                f = w.source if f is None else f + w.source
            if len(recent) >= 4:
                recent.pop(min(recent))
            recent[t] = (f, w, s_rate)
        return recent[t][:2]

    def rates(rho: Any, t: float) -> tuple[float, float]:
        """(source mass rate, wall outflow rate) for rho at time t."""
        _, w = at(t)
        return recent[t][2], (0.0 if w is None else w.outflow(rho))

    solvers: dict = {}
    transfers: dict = {}   # the multigrid transfer operators, the same for every hierarchy of this run
    stats: list[int] = []
    builds = [0]   # linear solvers built: LU factorisations or multigrid hierarchies

    def linear_solver(c0: float, c1: float, A: Any, t: float) -> Any:
        """Solver for M = c0 I - c1 A(t), cached by (c0, c1) when the drift is time independent (Crank–Nicolson
        and its damped start's half steps share I - dt/2 A: one factorisation)."""
        key = (c0, c1)
        if key in solvers:
            return solvers[key]
        builds[0] += 1
        M = (c0 * identity - c1 * A).tocsr()
        if solver == "lu":
            s = LUSolver(be, M)
        else:
            def coarse(shape: tuple) -> Any:
                g = Grid(grid.lower, grid.upper, shape)
                return c0 * be.sparse.identity(g.size, format="csr") - c1 * generator(t, g)

            s = MultigridSolver(be, M, grid.shape, periodic=periodic, coarse_matrix=coarse, rtol=rtol,
                                transfers=transfers)
        s.iterations = stats
        if not time_dependent:
            solvers[key] = s
        return s

    def implicit_solve(s: Any, c0: float, rhs: Any, guess: Any) -> Any:
        x = s.solve(rhs, guess)
        if solver == "multigrid" and not box.open:
            # The exact solution of c0 x - c1 A x = rhs has sum(x) = sum(rhs) / c0 (columns of A sum to 0);
            # project the Krylov iterate (error <= rtol) onto that exact mass.
            x = x * (float(rhs.sum()) / (c0 * float(x.sum())))
        return x

    rho = be.asarray(rho_init).reshape(-1)
    rho_prev = None
    adi = A_const = None
    if time == "douglas-adi":
        adi = DouglasADI(be, grid, adi_rates, periodic, dt, time_dependent)
        adi.operators(0.0)  # set-up: factorised once for a time-independent drift
    else:
        A_const = None if time_dependent else generator(0.0)
    generators: dict = {}

    def A_at(t: float) -> Any:
        """A(t): assembled once for a time-independent drift, else for the last two times asked."""
        if A_const is not None:
            return A_const
        if t not in generators:
            if len(generators) >= 2:
                generators.pop(min(generators))
            generators[t] = generator(t)
        return generators[t]

    def solve(c0: float, c1: float, t: float, rhs: Any, guess: Any) -> Any:
        return implicit_solve(linear_solver(c0, c1, A_at(t), t), c0, rhs, guess)

    stepper = ArrayStepper(dt=dt, A=A_at, forcing=lambda t: at(t)[0], solve=solve, rates=rates, adi=adi)
    masses = [grid.mass(rho_init)]
    outflows = [0.0]
    balance = MassBalance(masses[0], dt)
    r_old = rates(rho, 0.0)
    min_rho = float(rho_init.min())
    saved: list = []
    if save_idx is not None:
        saved = [rho.reshape(grid.shape).copy() for i in save_idx if i == 0]

    setup_time = _time.perf_counter() - start
    for n in range(steps):
        t_old, t_new = n * dt, (n + 1) * dt
        scheme = DAMPED if n < damped_steps else SCHEMES[time]
        new, r_half = scheme.step(stepper, t_old, t_new, rho, rho_prev)
        m = float(new.sum()) * cv
        r_new = rates(new, t_new)
        balance.check(m, scheme.balance, r_old if r_half is None else r_half, r_new, n + 1, t_new)
        rho_prev, rho, r_old = rho, new, r_new
        masses.append(m)
        outflows.append(balance.outflow)
        min_rho = min(min_rho, float(rho.min()))
        if save_idx is not None:
            saved += [rho.reshape(grid.shape).copy() for i in save_idx if i == n + 1]

    wall = _time.perf_counter() - start
    final = rho.reshape(grid.shape)
    if save_idx is None:
        times = np.array([t_final])
        saved = [final]
    else:
        times = save_idx * dt
    return Solution(
        grid=grid, times=times, density=final, densities=saved, mass=np.array(masses),
        mass_times=dt * np.arange(steps + 1), min_density=min_rho, steps=steps, wall_time=wall,
        backend=be.name, boundary_outflow=np.array(outflows) if box.open else None,
        info={"flux": flux, "time": time, "boundary": box.label, "solver": solver, "dt": dt,
              "time_dependent": time_dependent, "linear_iterations": list(stats), "solver_builds": builds[0],
              "setup_time": setup_time,
              "damped_steps": damped_steps, "diffusion": D.describe(),
              **({"line_solver": adi.line_solver} if adi is not None else {})},
    )


def solve_stationary(
    grid: Grid,
    drift: Callable,
    diffusion: Any,
    *,
    boundary: Any = "zero-flux",
    flux: str = "scharfetter-gummel",
    source: Callable | None = None,
    mass: float = 1.0,
    backend: str = "numpy",
) -> Any:
    """The stationary density of the finite-volume Fokker-Planck operator: 0 = A rho + S + (wall terms).

    The same discretisation as solve_fokker_planck (drift b(0, x) at face centres, ``diffusion``, ``boundary``
    and ``flux`` as there), solved directly (sparse LU). With Dirichlet or Flux walls the solution is unique;
    in a closed box (zero-flux/periodic walls, no source) A is singular and the solution of total mass ``mass``
    is returned (the bordered system [[A, 1], [h^d 1^T, 0]]). Returns cell values, shape grid.shape, on the
    backend. The relative residual |A rho + f| / (|A| |rho| + |f|) is checked (NumericalError above 1e-10), as
    the conservation of the time steppers is.
    """
    grid = v.check_grid(grid)
    be = get_backend(v.backend_name(backend, ("numpy", "cupy")))
    flux = v.check_choice("flux", flux, FLUXES)
    box = parse_boundary(boundary, grid.dim, FP_BOUNDARIES)
    D = check_diffusion(diffusion, grid)
    peclet_guard(D, grid)
    drift = v.check_field("drift", drift, grid)
    source = v.check_source(source, grid)
    mass = v.check_positive("mass", mass)
    if D.cross is not None and box.open:
        raise ValueError("a diffusion matrix with off-diagonal entries takes zero-flux or periodic walls only")
    periodic = box.periodic
    A = assemble_generator(be, grid, face_drift(be, grid, drift, 0.0, periodic),
                           [d if np.ndim(d) == 0 else be.asarray(d) for d in D.normal(grid, periodic)], flux, periodic)
    if D.cross is not None:
        A = A + cross_diffusion(be, grid, D.cross, periodic)
    f = be.xp.zeros(grid.size)
    if box.open:
        walls = WallTerms(be, grid, box, drift, lambda k, side: D.wall(grid, k, side), flux, 0.0)
        A = A + be.sparse.diags(walls.diagonal, format="csr")
        if walls.source is not None:
            f = f + walls.source
    if source is not None:
        S = be.asarray(v.real_output("source(t, x)", source(0.0, grid.centers()))).reshape(-1)
        f = f + (S if S.size == grid.size else S * be.xp.ones(grid.size))
    A = A.tocsr()
    # scale before solving: the stationary state of (A, f) is that of (A / s, f / s); with entries near the float64
    # maximum (diffusion / h^2 ~ 1e308) the bordered LU and the residual norms below would overflow
    big = float(be.xp.abs(A.data).max()) if A.nnz else 0.0
    if not np.isfinite(big) or not bool(be.xp.all(be.xp.isfinite(f))):
        raise ValueError("solve_stationary: the finite-volume operator overflows float64 (diffusion / h^2 or "
                         "|drift| / h, or the wall and source terms, beyond 1.8e308); divide diffusion, drift and "
                         "source by a common factor (the stationary state is unchanged)")
    if big > 1e100:
        A = (A * (1.0 / big)).tocsr()
        f = f * (1.0 / big)
    if box.open or source is not None:
        rho = be.splinalg.spsolve(A.tocsc(), -f)
    else:
        n = grid.size
        ones = be.xp.ones((n, 1))
        bordered = be.sparse.bmat([[A, be.sparse.csr_matrix(ones)],
                                   [be.sparse.csr_matrix(grid.cell_volume * ones.T), None]], format="csc")
        rhs = be.xp.concatenate([-f, be.xp.asarray([mass])])
        rho = be.splinalg.spsolve(bordered, rhs)[:n]
    norm_A = float(abs(A).sum(axis=0).max())
    residual = float(be.xp.abs(A @ rho + f).max())
    scale = norm_A * float(be.xp.abs(rho).max()) + float(be.xp.abs(f).max())
    if not (np.isfinite(residual) and residual <= 1e-10 * scale):
        raise NumericalError(f"solve_stationary: the linear solve failed (relative residual {residual / scale:.3g}); "
                             "the problem may have no stationary state (e.g. a source without an open wall)")
    return rho.reshape(grid.shape)
