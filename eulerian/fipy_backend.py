"""The Fokker-Planck and continuity problems built from FiPy terms (an independent reference implementation).

Fokker-Planck (``solve_fokker_planck(..., backend="fipy")``)::

    TransientTerm() == DiffusionTerm(D) - <convection>(b) [+ S]

with <convection> = ExponentialConvectionTerm (Scharfetter-Gummel; also used for "chang-cooper", which is the
same flux for constant D) or CentralDifferenceConvectionTerm ("central"), b the normal drift on face centres
(zero on the walls for "zero-flux"). Time schemes, all through FiPy's implicit TransientTerm::

    damped start   : the first ``damped_steps`` steps (see solve_fokker_planck) are two implicit-Euler solves of
                     size dt/2 each, as on the array backend;
    implicit-euler : one solve of size dt;
    crank-nicolson : the trapezoidal rule of the array backend: an explicit half step
                     rho* = rho^n + dt/2 (A(t_n) rho^n + S(t_n)), with A(t_n) rho^n from FiPy's residual of the
                     operator terms (divided by the cell volume), then an implicit-Euler solve of size dt/2 with
                     the drift and source at t_{n+1};
    bdf2           : TransientTerm(coeff=3/2) solved from the value (4 rho^n - rho^{n-1}) / 3 after the damped
                     start.

Linear systems: FiPy's SciPy LinearLUSolver with tolerance 1e-12 (FiPy's default 1e-5 hides errors).
FiPy's exponential weights switch to central (alpha = 1/2) for |Pe| < 1e-3, a relative flux perturbation
below ~1e-7 there.

Continuity (``solve_continuity(..., backend="fipy")``): TransientTerm() + VanLeerConvectionTerm(v) == 0, FiPy's
explicit second-order (Lax-Wendroff corrected, van Leer limited) upwind scheme, one stage per step, with
dt from the same Courant number as the array solver. The ``limiter`` argument does not apply.
"""
from __future__ import annotations

import time as _time
from typing import Any, Callable

import numpy as np

from ._validate import real_output
from .errors import CFLError, NumericalError
from .grid import Grid
from .solution import Solution

FIPY_TOLERANCE = 1e-12


def _fipy() -> Any:
    try:
        import fipy
    except ImportError as exc:  # pragma: no cover - fipy is a dependency
        from .errors import BackendUnavailable

        raise BackendUnavailable("backend='fipy' needs FiPy (`pip install fipy`)") from exc
    return fipy


def fipy_mesh(grid: Grid, periodic: bool) -> Any:
    """FiPy mesh of the grid (FiPy numbers cells with axis 0 fastest: use order='F' to flatten)."""
    fp = _fipy()
    h = grid.spacing
    n = grid.shape
    if grid.dim == 1:
        mesh = (fp.PeriodicGrid1D if periodic else fp.Grid1D)(dx=h[0], nx=n[0])
    elif grid.dim == 2:
        mesh = (fp.PeriodicGrid2D if periodic else fp.Grid2D)(dx=h[0], dy=h[1], nx=n[0], ny=n[1])
    else:
        mesh = (fp.PeriodicGrid3D if periodic else fp.Grid3D)(dx=h[0], dy=h[1], dz=h[2], nx=n[0], ny=n[1], nz=n[2])
    return mesh + tuple((lo,) for lo in grid.lower)


def _to_fipy(rho: np.ndarray) -> np.ndarray:
    return np.asarray(rho).reshape(-1, order="F")


def _from_fipy(values: Any, shape: tuple) -> np.ndarray:
    return np.array(values, dtype=float).reshape(shape, order="F")


class _FaceField:
    """Normal-to-face field b(t, x) on the FiPy mesh as a rank-1 FaceVariable (zero on walls unless periodic)."""

    def __init__(self, mesh: Any, field: Callable, periodic: bool, name: str = "drift") -> None:
        fp = _fipy()
        self.mesh = mesh
        self.field = field
        self.name = f"{name}(t, x)"
        self.x = np.array(mesh.faceCenters).T  # (nfaces, d)
        self.mask = np.ones(self.x.shape[0]) if periodic else np.array(mesh.interiorFaces, dtype=float)
        self.var = fp.FaceVariable(mesh=mesh, rank=1, value=self._values(0.0))

    def _values(self, t: float) -> np.ndarray:
        b = np.asarray(real_output(self.name, self.field(t, self.x)), dtype=float)
        if not np.all(np.isfinite(b)):
            raise NumericalError(f"the {self.name} returned non-finite values at t = {t:g}")
        return (b * self.mask[:, None]).T

    def set_time(self, t: float) -> None:
        self.var.setValue(self._values(t))


def _source_var(mesh: Any, source: Callable | None) -> tuple[Any, Callable[[float], None]]:
    fp = _fipy()
    if source is None:
        return None, lambda t: None
    x = np.array(mesh.cellCenters).T
    var = fp.CellVariable(mesh=mesh, value=0.0)

    def update(t: float) -> None:
        var.setValue(np.asarray(real_output("source(t, x)", source(t, x)), dtype=float))

    return var, update


def fokker_planck_fipy(
    grid: Grid, rho0: np.ndarray, drift: Callable, D: float, t_final: float, steps: int, *, flux: str,
    time: str, boundary: str, save_idx: np.ndarray | None, source: Callable | None, damped_steps: int = 0,
) -> Solution:
    """FiPy implementation behind solve_fokker_planck(backend='fipy') (arguments already validated)."""
    fp = _fipy()
    from fipy.solvers.scipy import LinearLUSolver

    from .fokker_planck import MassBalance

    start = _time.perf_counter()
    periodic = boundary == "periodic"
    mesh = fipy_mesh(grid, periodic)
    var = fp.CellVariable(mesh=mesh, value=_to_fipy(rho0))
    b = _FaceField(mesh, drift, periodic)
    S, set_source = _source_var(mesh, source)
    conv = fp.CentralDifferenceConvectionTerm if flux == "central" else fp.ExponentialConvectionTerm
    operator = fp.DiffusionTerm(coeff=D) - conv(coeff=b.var)   # A ρ (per unit volume) with zero-flux faces
    rhs = operator if S is None else operator + S
    eq_unit = fp.TransientTerm(coeff=1.0) == rhs
    eq_bdf2 = fp.TransientTerm(coeff=1.5) == rhs
    solver = LinearLUSolver(tolerance=FIPY_TOLERANCE, iterations=10)
    dt = t_final / steps
    cv = grid.cell_volume
    rho = np.asarray(rho0, dtype=float).reshape(-1, order="F")
    rho_prev = None
    masses = [float(rho.sum()) * cv]
    balance = MassBalance(masses[0], dt * cv)

    def source_values() -> Any:  # S after set_source (None without a source), for the mass balance
        return None if S is None else np.asarray(S.value) * np.ones(grid.size)
    min_rho = float(rho.min())
    saved = [] if save_idx is None else [_from_fipy(rho, grid.shape) for i in save_idx if i == 0]
    for n in range(steps):
        t_new = (n + 1) * dt
        scheme = "damped" if n < damped_steps else time
        if scheme == "damped":  # Rannacher's start: two implicit-Euler half steps
            rho_half = rho
            for t in (t_new - 0.5 * dt, t_new):
                b.set_time(t)
                set_source(t)
                if t < t_new:
                    S_half = source_values()
                var.setValue(rho_half)
                eq_unit.solve(var=var, dt=0.5 * dt, solver=solver)
                rho_half = np.array(var.value)
            new = rho_half
            balanced = ("crank-nicolson", S_half, source_values())
        elif scheme == "implicit-euler":
            b.set_time(t_new)
            set_source(t_new)
            var.setValue(rho)
            eq_unit.solve(var=var, dt=dt, solver=solver)
            new = np.array(var.value)
            balanced = ("implicit-euler", None, source_values())
        elif scheme == "crank-nicolson":
            # the trapezoidal rule of the array backend: an explicit half step with A(t_n), S(t_n), then an
            # implicit one with A(t_{n+1}), S(t_{n+1}); FiPy's residual of the operator terms is cell volume × A ρ
            b.set_time(t_new - dt)
            set_source(t_new - dt)
            S_old = source_values()
            var.setValue(rho)
            half = rho + 0.5 * dt * np.asarray(operator.justResidualVector(var=var)) / cv
            if S_old is not None:
                half = half + 0.5 * dt * S_old
            b.set_time(t_new)
            set_source(t_new)
            var.setValue(half)
            eq_unit.solve(var=var, dt=0.5 * dt, solver=solver)
            new = np.array(var.value)
            balanced = ("crank-nicolson", S_old, source_values())
        else:
            b.set_time(t_new)
            set_source(t_new)
            var.setValue((4.0 * rho - rho_prev) / 3.0)
            eq_bdf2.solve(var=var, dt=dt, solver=solver)
            new = np.array(var.value)
            balanced = ("bdf2", None, source_values())
        rho_prev, rho = rho, new
        m = float(rho.sum()) * cv
        balance.check(m, *balanced, n + 1, t_new)
        masses.append(m)
        min_rho = min(min_rho, float(rho.min()))
        if save_idx is not None:
            saved += [_from_fipy(rho, grid.shape) for i in save_idx if i == n + 1]
    final = _from_fipy(rho, grid.shape)
    if save_idx is None:
        times, saved = np.array([t_final]), [final]
    else:
        times = save_idx * dt
    return Solution(
        grid=grid, times=times, density=final, densities=saved, mass=np.array(masses),
        mass_times=dt * np.arange(steps + 1), min_density=min_rho, steps=steps,
        wall_time=_time.perf_counter() - start, backend="fipy",
        info={"flux": flux, "time": time, "boundary": boundary, "solver": "fipy-LinearLUSolver", "dt": dt,
              "damped_steps": damped_steps,
              "fipy_term": conv.__name__},
    )


def continuity_fipy(
    grid: Grid, rho0: np.ndarray, velocity: Callable, t_final: float, *, cfl: float, boundary: str,
    save_at: np.ndarray | None, steps: int | None, source: Callable | None, max_steps: int | None = None,
) -> Solution:
    """FiPy implementation behind solve_continuity(backend='fipy') (arguments already validated)."""
    fp = _fipy()
    start = _time.perf_counter()
    periodic = boundary == "periodic"
    mesh = fipy_mesh(grid, periodic)
    var = fp.CellVariable(mesh=mesh, value=_to_fipy(rho0), hasOld=True)
    v = _FaceField(mesh, velocity, periodic, "velocity")
    S, set_source = _source_var(mesh, source)
    eq = fp.TransientTerm() + fp.VanLeerConvectionTerm(coeff=v.var) == (0.0 if S is None else S)
    cv = grid.cell_volume
    h = np.asarray(grid.spacing)
    normals = np.abs(np.array(mesh.faceNormals)).T  # (nfaces, d), unit axis vectors

    def rate(t: float) -> float:
        v.set_time(t)
        vals = np.array(v.var.value).T
        return float(sum(np.abs(vals[:, k] * normals[:, k]).max() / h[k] for k in range(grid.dim)))

    t = 0.0
    masses, mass_times = [grid.mass(rho0)], [0.0]
    min_rho = float(rho0.min())
    targets = [] if save_at is None else list(save_at)
    saved, saved_times = [], []
    while targets and targets[0] <= 0.0:
        saved.append(np.array(rho0))
        saved_times.append(targets.pop(0))
    n = 0
    while t < t_final * (1 - 1e-14):
        if max_steps is not None and n >= max_steps:
            from .continuity import raise_step_cap

            raise_step_cap(n, t, t_final, max_steps)
        r = rate(t)
        if steps is not None:
            dt = t_final / steps if n < steps - 1 else t_final - t
            if dt * r > cfl * (1 + 1e-12):
                raise CFLError(f"forced dt = {dt:g} gives Courant number {dt * r:.3g} > cfl = {cfl:g}")
        else:
            dt = cfl / r if r > 0 else t_final - t
            stop = targets[0] if targets else t_final
            if t + dt >= stop * (1 - 1e-12):
                dt = stop - t
        set_source(t)
        var.updateOld()
        eq.solve(var=var, dt=dt)
        n += 1
        t = t_final if (steps is not None and n == steps) else t + dt
        rho = np.array(var.value)
        m = float(rho.sum()) * cv
        if not np.isfinite(m):
            raise NumericalError(f"FiPy produced a non-finite density at step {n}")
        masses.append(m)
        mass_times.append(t)
        min_rho = min(min_rho, float(rho.min()))
        while targets and t >= targets[0] * (1 - 1e-12):
            saved.append(_from_fipy(rho, grid.shape))
            saved_times.append(targets.pop(0))
    final = _from_fipy(var.value, grid.shape)
    if save_at is None:
        saved, saved_times = [final], [t_final]
    return Solution(
        grid=grid, times=np.array(saved_times), density=final, densities=saved, mass=np.array(masses),
        mass_times=np.array(mass_times), min_density=min_rho, steps=n, wall_time=_time.perf_counter() - start,
        backend="fipy", info={"fipy_term": "VanLeerConvectionTerm", "boundary": boundary, "cfl": cfl,
                              "time": "explicit (FiPy)"},
    )
