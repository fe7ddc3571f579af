"""Explicit finite-volume solver for the continuity equation  d rho/dt + div(rho v) = 0 (+ S).

Space (unsplit, dimension by dimension): MUSCL reconstruction of cell averages with a slope limiter, upwind
flux on every face with the velocity evaluated at the face centre::

    d rho_i/dt = - sum_k (F_{k,i+1/2} - F_{k,i-1/2}) / h_k + S(t, x_i),
    F_{k,i+1/2} = max(v, 0) rho^L_{i+1/2} + min(v, 0) rho^R_{i+1/2},
    rho^L_{i+1/2} = rho_i + s_i / 2,  rho^R_{i+1/2} = rho_{i+1} - s_{i+1} / 2.

Slopes s_i from D- = rho_i - rho_{i-1}, D+ = rho_{i+1} - rho_i::

    none    (D- + D+) / 2                (Fromm; second order, no positivity guarantee)
    minmod  minmod(D-, D+)
    mc      minmod(2 D-, (D- + D+) / 2, 2 D+)   (monotonised central)
    vanleer (D- |D+| + |D-| D+) / (|D-| + |D+|)

Time: three-stage SSP Runge-Kutta (Shu-Osher). Courant number C = dt sum_k max|v_k| / h_k; each step takes
C = cfl. With a limiter the face values lie in [0, 2 rho_i] and the two outflows of a cell sum to at most
2 rho_i C, so C <= 1/2 keeps every cell non-negative (SSP coefficient 1).
"""
from __future__ import annotations

import math
import time as _time
from typing import Any, Callable

import numpy as np

from . import _validate as v
from .backend import get_backend
from .errors import CFLError, NumericalError
from .grid import Grid
from .boundary import Dirichlet, Flux, Outflow, parse_boundary, wall_points
from .operators import face_points, per_axis
from .solution import SaveSchedule, Solution

LIMITERS = ("mc", "minmod", "vanleer", "none")
BACKENDS = ("numpy", "cupy", "fipy")
BOUNDARIES = ("zero-flux", "periodic", "dirichlet", "flux", "outflow")  # the eulerian.boundary conditions taken
MAX_STEPS = 1_000_000  # default cap on the number of time steps of solve_continuity (max_steps=)


def _minmod(xp: Any, *args: Any) -> Any:
    a = args[0]
    s = xp.sign(a)
    m = xp.abs(a)
    ok = xp.ones_like(a, dtype=bool)
    for b in args[1:]:
        ok = ok & (xp.sign(b) == s)
        m = xp.minimum(m, xp.abs(b))
    return xp.where(ok, s * m, 0.0)


def slopes(xp: Any, dm: Any, dp: Any, limiter: str) -> Any:
    """Limited slope (per cell) from backward and forward differences dm, dp."""
    if limiter == "none":
        return 0.5 * (dm + dp)
    if limiter == "minmod":
        return _minmod(xp, dm, dp)
    if limiter == "mc":
        return _minmod(xp, 2.0 * dm, 0.5 * (dm + dp), 2.0 * dp)
    if limiter == "vanleer":
        den = xp.abs(dm) + xp.abs(dp)
        num = dm * xp.abs(dp) + xp.abs(dm) * dp
        return xp.where(den > 0, num / xp.where(den > 0, den, 1.0), 0.0)
    raise ValueError(f"unknown limiter {limiter!r}; choose one of {LIMITERS}")


def _sl(ndim: int, axis: int, start: Any, stop: Any) -> tuple:
    idx = [slice(None)] * ndim
    idx[axis] = slice(start, stop)
    return tuple(idx)


def divergence_flux(xp: Any, rho: Any, face_v: list[Any], spacing: tuple, limiter: str, periodic: Any,
                    walls: list | None = None) -> Any:
    """-div_h F(rho) for the MUSCL upwind fluxes (face_v[k]: normal velocity on the flux-carrying faces).

    ``walls`` (open walls, see ``WallData``): per axis a (lower, upper) pair of None (zero flux) or
    (v, g, q) arrays on the wall's faces (the wall's shape: the axis of length 1): q, when given, is the
    prescribed outward flux; otherwise the outward flux is upwinded, max(v_out, 0) rho_wall - max(-v_out, 0) g
    with v_out = v . n and rho_wall the cell's reconstructed value on the wall. With walls the result is
    (-div_h F, the mass per unit time leaving through them divided by the cell volume)."""
    out = xp.zeros_like(rho)
    nd = rho.ndim
    periodic = per_axis(periodic, nd)
    leaving = 0.0
    for k, (vk, h) in enumerate(zip(face_v, spacing)):
        n = rho.shape[k]
        if periodic[k]:
            diff = xp.diff(rho, axis=k, append=rho[_sl(nd, k, 0, 1)])  # diff[i] = rho[i+1] - rho[i] (wrapped)
            dp = diff
            dm = xp.roll(diff, 1, axis=k)
        else:
            d = xp.diff(rho, axis=k)  # n - 1 interior differences
            # ghost differences beyond the walls: zero (a mirrored cell) on closed and Flux walls; on open walls
            # the wall value where mass flows in (rho_wall = g: a difference 2 (rho_0 - g) over the half cell)
            # and a linear extrapolation where it flows out
            ghost = [xp.zeros_like(rho[_sl(nd, k, 0, 1)]), xp.zeros_like(rho[_sl(nd, k, 0, 1)])]
            for side, wall in enumerate(walls[k] if walls is not None else (None, None)):
                if wall is None or wall[2] is not None:
                    continue
                v_wall, g, _ = wall
                if side == 0:
                    ghost[0] = xp.where(v_wall > 0, 2.0 * (rho[_sl(nd, k, 0, 1)] - g), d[_sl(nd, k, 0, 1)])
                else:
                    ghost[1] = xp.where(v_wall < 0, 2.0 * (g - rho[_sl(nd, k, n - 1, n)]),
                                        d[_sl(nd, k, n - 2, n - 1)])
            dp = xp.concatenate([d, ghost[1]], axis=k)
            dm = xp.concatenate([ghost[0], d], axis=k)
        s = slopes(xp, dm, dp, limiter)
        upper = rho + 0.5 * s  # reconstructed value at the upper face of each cell
        lower = rho - 0.5 * s  # ... at the lower face
        for side, wall in enumerate(walls[k] if walls is not None else (None, None)):
            if wall is None:
                continue
            v_wall, g, q = wall
            cells = _sl(nd, k, 0, 1) if side == 0 else _sl(nd, k, n - 1, n)
            if q is None:
                v_out = -v_wall if side == 0 else v_wall
                inside = (lower if side == 0 else upper)[cells]
                q = xp.maximum(v_out, 0.0) * inside - xp.maximum(-v_out, 0.0) * g
            out[cells] -= q / h
            leaving = leaving + q.sum() / h
        if periodic[k]:
            # face i joins cell i-1 (left) and cell i (right)
            F = xp.maximum(vk, 0.0) * xp.roll(upper, 1, axis=k) + xp.minimum(vk, 0.0) * lower
            out -= (xp.roll(F, -1, axis=k) - F) / h
        else:
            F = xp.maximum(vk, 0.0) * upper[_sl(nd, k, 0, n - 1)] + xp.minimum(vk, 0.0) * lower[_sl(nd, k, 1, n)]
            out[_sl(nd, k, 0, n - 1)] -= F / h
            out[_sl(nd, k, 1, n)] += F / h
    return out if walls is None else (out, leaving)


class WallData:
    """The open walls of a continuity problem at one time: per axis (lower, upper), None for zero-flux and
    periodic sides, else (v . e_k on the wall's faces, inflow density g, prescribed outward flux q or None) as
    backend arrays of the wall's shape. Dirichlet(g): inflow density g; Outflow(): g = 0; Flux(q): q."""

    def __init__(self, be: Any, grid: Grid, box: Any, velocity: Callable, t: float) -> None:
        self.sides: list = [[None, None] for _ in range(grid.dim)]
        self.axis_max = [0.0] * grid.dim   # per axis, max |v_k| over its open walls (the CFL condition)
        for k, side, cond in box.walls():
            if not isinstance(cond, (Dirichlet, Flux, Outflow)):
                continue
            x = wall_points(grid, k, side)
            shape = x.shape[:-1]
            if isinstance(cond, Flux):
                self.sides[k][side] = (None, None, be.asarray(cond.values(t, x)).reshape(shape))
                continue
            vk = face_values(be, velocity, t, x, k).reshape(shape)
            g = be.asarray(cond.values(t, x) if isinstance(cond, Dirichlet) else np.zeros(shape)).reshape(shape)
            self.sides[k][side] = (vk, g, None)
            self.axis_max[k] = max(self.axis_max[k], float(be.xp.abs(vk).max()))


def face_values(be: Any, velocity: Callable, t: float, points: np.ndarray, axis: int) -> Any:
    """Normal component ``axis`` of velocity(t, points) on faces, a backend array (real and finite, else an error)."""
    out = be.asarray(v.real_output("velocity(t, x)", velocity(t, points)))[..., axis]
    if not bool(be.xp.all(be.xp.isfinite(out))):
        raise NumericalError(f"the velocity returned non-finite values at t = {t:g}; check velocity(t, x)")
    return out


def check_step_count(t_final: float, rate: float, cfl: float, steps: int | None, save: np.ndarray | None,
                     max_steps: int | None, *, solver: str = "solve_continuity", condition: str | None = None,
                     remedy: str = "shorten t_final, slow the velocity or use a coarser grid") -> int:
    """Number of time steps: ``steps``, or the estimate ceil(t_final * rate / cfl) (+ one per save time, capped at
    2^62) with ``rate`` the inverse of the largest stable step at cfl = 1 at t = 0 (for the continuity equation
    sum_k max|v_k| / h_k); ValueError naming ``solver`` when it exceeds ``max_steps`` (None: no cap), saying how
    the estimate comes about (``condition``, default the CFL condition of a velocity) and what to do (``remedy``)."""
    if steps is not None:
        estimate = steps
    else:
        ratio = t_final * rate / cfl
        estimate = (math.ceil(ratio) if ratio < 2.0**62 else 2**62) + (0 if save is None else len(save))
    if max_steps is not None and estimate > max_steps:
        how = f"steps={steps}" if steps is not None else condition or (
            f"the CFL condition: t_final * sum_k max|v_k| / h_k / cfl = {t_final:g} * {rate:.3g} / {cfl:g} at t = 0")
        again = f"pass max_steps={estimate} (or None)" if estimate < 2**62 else "pass max_steps=None"
        raise ValueError(f"{solver} would take about {estimate:.3g} time steps ({how}), more than "
                         f"max_steps={max_steps}; {again} to run it anyway, or {remedy}")
    return estimate


def raise_step_cap(n: int, t: float, t_final: float, max_steps: int, solver: str = "solve_continuity") -> None:
    """ValueError for a run of ``solver`` that reached max_steps before t_final (the velocity grew after t = 0)."""
    raise ValueError(
        f"{solver} reached max_steps={max_steps} at t = {t:g} < t_final = {t_final:g} (the velocity grew "
        "after t = 0, shrinking the CFL step); pass a larger max_steps (or None), or shorten t_final"
    )


def solve_continuity(
    grid: Grid,
    rho0: Any,
    velocity: Callable,
    t_final: float,
    *,
    cfl: float = 0.4,
    limiter: str = "mc",
    boundary: Any = "zero-flux",
    backend: str = "numpy",
    save_at: Any = None,
    steps: int | None = None,
    source: Callable | None = None,
    time_dependent: bool | None = None,
    max_steps: int | None = MAX_STEPS,
) -> Solution:
    """Advance d rho/dt + div(rho v) = S from t = 0 to t_final with MUSCL + SSP-RK3.

    Parameters
    ----------
    grid : Grid (1-3 D). rho0 : cell averages (grid.shape), >= 0, positive mass (or a callable f(x) -> (...)).
    velocity : v(t, x), x (..., d) -> (..., d), evaluated at face centres.
    t_final : final time > 0.
    cfl : Courant number C = dt sum_k max|v_k| / h_k used to choose dt (0 < cfl <= 1; positivity needs <= 0.5).
    limiter : "mc" (default), "minmod", "vanleer", "none" (unlimited, for smooth data).
    boundary : "zero-flux" (mass conserved to round-off), "periodic", "outflow", or per side (eulerian.boundary):
        one entry per axis, a condition or a (lower, upper) pair of ZeroFlux(), Periodic(), Dirichlet(g) (the
        density g(t, x) >= 0 that flows in where v . n < 0; where v . n > 0 the cell's reconstructed value flows
        out), Outflow() (what reaches the wall leaves, nothing enters) and Flux(q) (outward flux q(t, x)). With
        open walls the mass that left is Solution.boundary_outflow (integrated by the SSP-RK3 weights) and
        mass(t) - mass(0) + outflow(t) - source mass is checked to round-off at every step (NumericalError).
    backend : "numpy", "cupy" or "fipy" (FiPy's upwind scheme, first order; see eulerian.fipy_backend).
    save_at : increasing times in [0, t_final]; steps are shortened to land on them (with ``steps`` given they
        must be multiples of dt).
    steps : force dt = t_final / steps; raises CFLError if that dt gives a Courant number above ``cfl``.
    source : S(t, x) -> (...), real, added as point values at cell centres (manufactured solutions).
    time_dependent : whether v depends on t (None: detected by probing v at t = 0, t_final / 2 and t_final on
        the cell centres). A velocity that does not is evaluated once on the faces of each axis, whatever the
        number of steps (with the probes, 4 + d calls in all); one that does at every stage of every step.
    max_steps : cap on the number of time steps (default MAX_STEPS = 1 000 000; None: no cap). Before
        stepping, the count is estimated from the CFL condition with the velocity at t = 0,
        ceil(t_final * sum_k max|v_k| / h_k / cfl) (plus one per save time), or is ``steps`` when given; a
        count above the cap raises ValueError naming the estimate (pass a larger max_steps to run it anyway).
        A velocity that grows later is caught when the cap is reached while stepping (ValueError as well).
    Complex densities, velocities or sources raise TypeError; the saved densities must fit the memory cap
    (MemoryLimitError). A NaN/inf density raises NumericalError.
    """
    grid = v.check_grid(grid)
    backend_name = v.backend_name(backend, BACKENDS)
    limiter = v.check_choice("limiter", limiter, LIMITERS)
    box = parse_boundary(boundary, grid.dim, BOUNDARIES)
    cfl = v.check_positive("cfl", cfl)
    if cfl > 1.0:
        raise ValueError(
            f"cfl must be <= 1 (SSP-RK3 + MUSCL is unstable beyond), got {cfl}; use cfl <= 0.5 for positivity"
        )
    t_final = v.check_positive("t_final", t_final)
    if steps is not None:
        steps = v.check_steps(steps)
    if max_steps is not None:
        max_steps = v.check_steps(max_steps, "max_steps")
    time_dependent = v.check_optional_bool("time_dependent", time_dependent)
    rho_init = v.check_density(grid, rho0, allow_zero_mass=box.open)
    velocity = v.check_field("velocity", velocity, grid)
    source = v.check_source(source, grid)
    save = v.check_save_at(save_at, t_final)
    if steps is not None and save is not None:
        k = save / (t_final / steps)
        if np.any(np.abs(k - np.rint(k)) > 1e-8 * np.maximum(1.0, k)):
            raise ValueError(f"with steps given, save_at times must be multiples of dt = {t_final / steps:g}")
    be = get_backend("numpy" if backend_name == "fipy" else backend_name)
    xp = be.xp
    periodic = box.periodic
    # fields are evaluated on NumPy points, their values moved to the backend
    points = [face_points(grid, k, periodic[k]) for k in range(grid.dim)]
    v0 = [face_values(be, velocity, 0.0, points[k], k) for k in range(grid.dim)]
    walls0 = WallData(be, grid, box, velocity, 0.0) if box.open else None

    def courant_rate(fv: list[Any], walls: WallData | None = None) -> float:
        """sum_k max |v_k| / h_k over the flux-carrying faces and the open walls of axis k."""
        return sum(max(float(xp.abs(f).max()), 0.0 if walls is None else walls.axis_max[k]) / h
                   for k, (f, h) in enumerate(zip(fv, grid.spacing)))

    estimate = check_step_count(t_final, courant_rate(v0, walls0), cfl, steps, save, max_steps)
    n_saved = 1 if save is None else len(save)
    v.check_memory(8.0 * grid.size * n_saved + 48.0 * (estimate + 1),
                   f"solve_continuity: {n_saved} saved densities of {grid.size} cells and a mass history of "
                   f"about {estimate + 1} values", "save fewer densities (save_at) or use fewer cells",
                   backend_name if save is not None else None)
    if backend_name == "fipy":
        from .fipy_backend import continuity_fipy

        return continuity_fipy(grid, rho_init, velocity, t_final, cfl=cfl, box=box, save_at=save, steps=steps,
                               source=source, max_steps=max_steps)

    start = _time.perf_counter()
    x_centres = grid.centers() if source is not None else None
    if time_dependent is None:
        x = grid.centers()
        c0 = np.asarray(velocity(0.0, x))
        time_dependent = any(not np.array_equal(c0, np.asarray(velocity(t, x))) for t in (0.5 * t_final, t_final))

    def face_velocity(t: float) -> list[Any]:
        """The face velocities at t: those at t = 0 (v0) when the field does not depend on time."""
        if not time_dependent:
            return v0
        return [face_values(be, velocity, t, points[k], k) for k in range(grid.dim)]

    recent: dict = {}

    def wall_data(t: float) -> WallData | None:
        if not box.open:
            return None
        key = t if (time_dependent or box_time_dependent) else 0.0
        if key not in recent:
            if len(recent) >= 3:
                recent.pop(min(recent))
            recent[key] = walls0 if key == 0.0 else WallData(be, grid, box, velocity, t)
        return recent[key]

    def rhs(t: float, rho: Any, dt: float) -> tuple[Any, float, float]:
        """(d rho/dt, the source's mass rate cell_volume sum(S), the mass per unit time leaving through walls)."""
        fv = face_velocity(t)
        walls = wall_data(t)
        if steps is not None:
            c = dt * courant_rate(fv, walls)
            if c > cfl * (1 + 1e-12):
                with np.errstate(over="ignore"):   # steps C / cfl (not t_final C / (dt cfl): 0/0 when both underflow)
                    need = np.ceil(steps * (np.float64(c) / cfl))
                need_txt = f"{int(need)}" if np.isfinite(need) and need < 2.0**62 else f"{need:.3g}"
                raise CFLError(
                    f"forced dt = t_final/steps = {dt:g} gives Courant number {c:.3g} > cfl = {cfl:g} at t = {t:g} "
                    f"(C = dt * sum_k max|v_k| / h_k); use steps >= {need_txt} "
                    "or let the solver choose dt (steps=None)"
                )
        source_rate = leaving = 0.0
        if walls is None:
            out = divergence_flux(xp, rho, fv, grid.spacing, limiter, periodic)
        else:
            out, leaving = divergence_flux(xp, rho, fv, grid.spacing, limiter, periodic, walls.sides)
            leaving = float(leaving) * grid.cell_volume
        if source is not None:
            S = be.asarray(v.real_output("source(t, x)", source(t, x_centres)))
            out = out + S
            source_rate = float(S.sum()) * grid.cell_volume * (1 if np.size(S) == grid.size else grid.size)
        return out, source_rate, leaving

    rho = be.asarray(rho_init)
    t = 0.0
    masses, mass_times = [grid.mass(rho_init)], [0.0]
    expected, scale, outflow = masses[0], abs(masses[0]), [0.0]   # the mass balance, checked every step
    box_time_dependent = any(callable(getattr(c, "value", None)) for _, _, c in box.walls())
    min_rho = float(rho_init.min())
    schedule = SaveSchedule(save, t_final, rho, lambda r: r.copy())
    n = 0
    while t < t_final * (1 - 1e-14):
        if max_steps is not None and n >= max_steps:
            raise_step_cap(n, t, t_final, max_steps)
        if steps is not None:
            dt = t_final / steps
            if n == steps - 1:
                dt = t_final - t
        else:
            rate = courant_rate(face_velocity(t), wall_data(t))
            dt = schedule.clip(t, cfl / rate if rate > 0 else t_final - t)
        # SSP-RK3 (Shu-Osher): rho' = rho + dt (k1 + k2 + 4 k3) / 6, and so is the mass
        k1, s1, q1 = rhs(t, rho, dt)
        r1 = rho + dt * k1
        k2, s2, q2 = rhs(t + dt, r1, dt)
        r2 = 0.75 * rho + 0.25 * (r1 + dt * k2)
        k3, s3, q3 = rhs(t + 0.5 * dt, r2, dt)
        rho = rho / 3.0 + (2.0 / 3.0) * (r2 + dt * k3)
        n += 1
        t = t_final if (steps is not None and n == steps) else t + dt
        m = float(rho.sum()) * grid.cell_volume
        if not np.isfinite(m):
            raise NumericalError(f"non-finite density at step {n} (t = {t:g}); reduce cfl or check the velocity")
        added, left = dt * (s1 + s2 + 4.0 * s3) / 6.0, dt * (q1 + q2 + 4.0 * q3) / 6.0
        expected += added - left
        scale += abs(added) + abs(left)
        outflow.append(outflow[-1] + left)
        v.check_mass_balance("solve_continuity", m, expected, scale, n, t,
                             "reduce cfl or check the velocity (and the source)")
        masses.append(m)
        mass_times.append(t)
        min_rho = min(min_rho, float(rho.min()))
        schedule.record(t, rho)
    wall = _time.perf_counter() - start
    times, saved = schedule.result(rho)
    return Solution(
        grid=grid, times=times, density=rho, densities=saved, mass=np.array(masses),
        mass_times=np.array(mass_times), min_density=min_rho, steps=n, wall_time=wall, backend=be.name,
        boundary_outflow=np.array(outflow) if box.open else None,
        info={"limiter": limiter, "boundary": box.label, "cfl": cfl, "time": "ssp-rk3",
              "time_dependent": time_dependent},
    )
