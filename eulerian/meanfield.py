"""Continuity equations whose velocity depends on the density itself (mean-field PDEs on a grid).

    d mu/dt + div(mu V[mu](t, .)) = D Lap mu        (D >= 0; zero-flux or periodic walls)

The velocity is a callable ``velocity(t, grid, rho, x) -> (m, d)`` that reads the current density (cell
averages ``rho`` on ``grid``, a backend array) and returns V[mu](t, x) at the points x (a NumPy array (m, d));
eulerian.attention, eulerian.network_grid and eulerian.flow_matching_grid provide the velocities of the survey
(self-attention, two-layer network training, flow matching). Space: the MUSCL upwind fluxes of
eulerian.continuity with V evaluated at the face centres of the current stage density; the diffusion, when
D > 0, by the two-point central flux (explicit). Time: three-stage SSP Runge-Kutta (Shu-Osher), V re-evaluated
at every stage. Step: dt = cfl / (sum_k max|V_k| / h_k + sum_k D / h_k^2) from the velocity of the step's start
(positive for cfl <= 1/2); ``steps`` forces dt and raises CFLError when that breaks the condition. Mass is
conserved to round-off and checked after every step (NumericalError otherwise).
"""
from __future__ import annotations

import time as _time
from typing import Any, Callable, Protocol

import numpy as np

from . import _validate as v
from .backend import get_backend, to_host
from .continuity import LIMITERS, MAX_STEPS, check_step_count, divergence_flux, raise_step_cap
from .errors import CFLError, NumericalError
from .grid import Grid
from .operators import assemble_generator, face_points
from .solution import SaveSchedule, Solution

BOUNDARIES = ("zero-flux", "periodic")
BACKENDS = ("numpy", "cupy")


class DensityVelocity(Protocol):
    """V[mu](t, x): ``velocity(t, grid, rho, x)`` with rho the cell averages (backend array of grid.shape) and x
    NumPy points (m, d); returns (m, d) real values (NumPy or backend array)."""

    def __call__(self, t: float, grid: Grid, rho: Any, x: np.ndarray) -> Any: ...


class FaceVelocities:
    """V[mu] on the flux-carrying faces of every axis: one call of the velocity per evaluation (all faces at once),
    the normal component of axis k kept on the faces normal to k."""

    def __init__(self, be: Any, grid: Grid, velocity: Callable, periodic: bool) -> None:
        self.be, self.grid, self.velocity = be, grid, velocity
        pts = [face_points(grid, k, periodic).reshape(-1, grid.dim) for k in range(grid.dim)]
        self.sizes = [p.shape[0] for p in pts]
        self.shapes = [face_points(grid, k, periodic).shape[:-1] for k in range(grid.dim)]
        self.points = np.concatenate(pts, axis=0)
        self.evaluations = 0

    def __call__(self, t: float, rho: Any) -> list[Any]:
        out = self.velocity(t, self.grid, rho, self.points)
        v.real_output("velocity(t, grid, rho, x)", out)
        out = self.be.asarray(out)
        if tuple(out.shape) != self.points.shape:
            raise ValueError(f"velocity(t, grid, rho, x) must return an array of the shape of x, {self.points.shape}; "
                             f"got {tuple(out.shape)}")
        if not bool(self.be.xp.all(self.be.xp.isfinite(out))):
            raise NumericalError(f"the mean-field velocity returned non-finite values at t = {t:g}")
        self.evaluations += 1
        faces, start = [], 0
        for k, (size, shape) in enumerate(zip(self.sizes, self.shapes)):
            faces.append(out[start:start + size, k].reshape(shape))
            start += size
        return faces


def solve_meanfield(
    grid: Grid,
    rho0: Any,
    velocity: DensityVelocity,
    t_final: float,
    *,
    diffusion: float = 0.0,
    cfl: float = 0.4,
    limiter: str = "mc",
    boundary: str = "zero-flux",
    backend: str = "numpy",
    save_at: Any = None,
    steps: int | None = None,
    max_steps: int | None = MAX_STEPS,
) -> Solution:
    """Advance d mu/dt + div(mu V[mu]) = D Lap mu from t = 0 to t_final (MUSCL + SSP-RK3, V at every stage).

    Parameters
    ----------
    grid : Grid (1-3 D). rho0 : cell averages (grid.shape) >= 0 with positive mass, or a callable f(x) -> (...).
    velocity : V[mu](t, x) as ``velocity(t, grid, rho, x) -> (m, d)`` (see DensityVelocity); evaluated at the
        face centres, once per Runge-Kutta stage.
    t_final : final time > 0.
    diffusion : D >= 0 (dX = V dt + sqrt(2 D) dW for the particles of the same PDE).
    cfl : dt (sum_k max|V_k| / h_k + sum_k D / h_k^2) (0 < cfl <= 1; positivity needs <= 0.5).
    limiter : as solve_continuity ("mc", "minmod", "vanleer", "none").
    boundary : "zero-flux" (mass conserved) or "periodic".
    backend : "numpy" or "cupy" (the velocity receives rho on that backend).
    save_at : increasing times in [0, t_final]; steps are shortened to land on them.
    steps : force dt = t_final / steps (CFLError when that breaks the step condition at some step).
    max_steps : cap on the number of steps (estimated from V[rho0] before stepping; ValueError beyond).

    Returns a Solution (info: "velocity_evaluations", the limiter, cfl, D). Mass is checked every step.
    """
    grid = v.check_grid(grid)
    be = get_backend(v.backend_name(backend, BACKENDS))
    limiter = v.check_choice("limiter", limiter, LIMITERS)
    boundary = v.check_choice("boundary", boundary, BOUNDARIES)
    cfl = v.check_positive("cfl", cfl)
    if cfl > 1.0:
        raise ValueError(f"cfl must be <= 1 (SSP-RK3 + MUSCL is unstable beyond), got {cfl}; use <= 0.5 for positivity")
    t_final = v.check_positive("t_final", t_final)
    D = v.check_nonnegative("diffusion", diffusion)
    if steps is not None:
        steps = v.check_steps(steps)
    if max_steps is not None:
        max_steps = v.check_steps(max_steps, "max_steps")
    if not callable(velocity):
        raise TypeError("velocity must be a callable velocity(t, grid, rho, x) -> (m, d) (see "
                        "eulerian.meanfield.DensityVelocity), e.g. eulerian.attention.attention_velocity(Q, K, V)")
    rho_init = v.check_density(grid, rho0)
    v.check_call_signature("velocity", velocity, (0.0, grid, rho_init, grid.centers().reshape(-1, grid.dim)),
                           "velocity(t, grid, rho, x) -> (m, d) (see eulerian.meanfield.DensityVelocity)")
    save = v.check_save_at(save_at, t_final)
    xp = be.xp
    periodic = boundary == "periodic"
    faces = FaceVelocities(be, grid, velocity, periodic)
    A_D = None
    if D > 0:
        zero = [xp.zeros(int(np.prod(s))) for s in faces.shapes]
        A_D = assemble_generator(be, grid, zero, D, "central", periodic)
    diffusion_rate = sum(D / h**2 for h in grid.spacing)

    def rate(fv: list[Any]) -> float:
        return sum(float(xp.abs(f).max()) / h for f, h in zip(fv, grid.spacing)) + diffusion_rate

    rho = be.asarray(rho_init)
    start = _time.perf_counter()
    v0 = faces(0.0, rho)
    estimate = check_step_count(t_final, rate(v0), cfl, steps, save, max_steps, solver="solve_meanfield")
    v.check_memory(8.0 * grid.size * (1 if save is None else len(save)) + 48.0 * (estimate + 1),
                   f"solve_meanfield: saved densities of {grid.size} cells and a mass history of about "
                   f"{estimate + 1} values", "save fewer densities (save_at) or use fewer cells", be.name)

    def rhs(t: float, r: Any, fv: list[Any] | None = None) -> tuple[Any, list[Any]]:
        fv = faces(t, r) if fv is None else fv
        out = divergence_flux(xp, r, fv, grid.spacing, limiter, periodic)
        if A_D is not None:
            out = out + (A_D @ r.reshape(-1)).reshape(grid.shape)
        return out, fv

    t, n = 0.0, 0
    masses, mass_times = [grid.mass(rho_init)], [0.0]
    min_rho = float(rho_init.min())
    schedule = SaveSchedule(save, t_final, rho, lambda r: r.copy())
    fv_start = v0
    while t < t_final * (1 - 1e-14):
        if max_steps is not None and n >= max_steps:
            raise_step_cap(n, t, t_final, max_steps, "solve_meanfield")
        r_now = rate(fv_start)
        if steps is not None:
            dt = t_final / steps if n < steps - 1 else t_final - t
            if dt * r_now > cfl * (1 + 1e-12):
                raise CFLError(f"forced dt = t_final/steps = {t_final / steps:g} gives dt * (sum_k max|V_k|/h_k + "
                               f"sum_k D/h_k^2) = {dt * r_now:.3g} > cfl = {cfl:g} at t = {t:g}; use more steps or "
                               "steps=None")
        else:
            dt = schedule.clip(t, cfl / r_now if r_now > 0 else t_final - t)
        k1, _ = rhs(t, rho, fv_start)
        r1 = rho + dt * k1
        k2, _ = rhs(t + dt, r1)
        r2 = 0.75 * rho + 0.25 * (r1 + dt * k2)
        k3, _ = rhs(t + 0.5 * dt, r2)
        rho = rho / 3.0 + (2.0 / 3.0) * (r2 + dt * k3)
        n += 1
        t = t_final if (steps is not None and n == steps) else t + dt
        m = float(rho.sum()) * grid.cell_volume
        v.check_mass_balance("solve_meanfield", m, masses[0], abs(masses[0]), n, t,
                             "reduce cfl, or check the velocity (it must be finite and bounded on the grid)")
        masses.append(m)
        mass_times.append(t)
        min_rho = min(min_rho, float(rho.min()))
        schedule.record(t, rho)
        if t < t_final * (1 - 1e-14):
            fv_start = faces(t, rho)
    times, saved = schedule.result(rho)
    return Solution(
        grid=grid, times=times, density=rho, densities=saved, mass=np.array(masses),
        mass_times=np.array(mass_times), min_density=min_rho, steps=n, wall_time=_time.perf_counter() - start,
        backend=be.name,
        info={"limiter": limiter, "boundary": boundary, "cfl": cfl, "time": "ssp-rk3", "diffusion": D,
              "velocity_evaluations": faces.evaluations},
    )


def cell_quadrature(grid: Grid, rho: Any) -> tuple[np.ndarray, np.ndarray]:
    """(points (N, d), weights (N,)) of the midpoint rule for a density of cell averages: the cell centres and
    rho_i * cell_volume (host NumPy; integrals of smooth f against mu to O(h^2))."""
    r = np.asarray(to_host(rho), dtype=float).reshape(-1)
    return grid.centers().reshape(-1, grid.dim), r * grid.cell_volume
