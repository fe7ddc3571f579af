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
from .operators import per_axis
from .solution import SaveSchedule, Solution

FIPY_TOLERANCE = 1e-12


def _fipy() -> Any:
    try:
        import fipy
    except ImportError as exc:  # pragma: no cover - fipy is a dependency
        from .errors import BackendUnavailable

        raise BackendUnavailable("backend='fipy' needs FiPy (`pip install fipy`)") from exc
    return fipy


_PERIODIC_SUFFIX = ("LeftRight", "TopBottom", "FrontBack")  # FiPy's names of the axes x, y, z


def fipy_mesh(grid: Grid, periodic: Any) -> Any:
    """FiPy mesh of the grid (FiPy numbers cells with axis 0 fastest: use order='F' to flatten). ``periodic``:
    one flag for every axis or one per axis (FiPy's PeriodicGrid2DLeftRight etc.)."""
    fp = _fipy()
    h = grid.spacing
    n = grid.shape
    flags = per_axis(periodic, grid.dim)
    if not any(flags):
        name = f"Grid{grid.dim}D"
    elif all(flags):
        name = f"PeriodicGrid{grid.dim}D"
    else:
        name = f"PeriodicGrid{grid.dim}D" + "".join(_PERIODIC_SUFFIX[k] for k in range(grid.dim) if flags[k])
    kw = {f"d{a}": h[k] for k, a in enumerate("xyz"[:grid.dim])}
    kw.update({f"n{a}": n[k] for k, a in enumerate("xyz"[:grid.dim])})
    mesh = getattr(fp, name)(**kw)
    return mesh + tuple((lo,) for lo in grid.lower)


def _wall_mask(mesh: Any, grid: Grid, axis: int, side: int) -> np.ndarray:
    """Boolean mask of FiPy's exterior faces on one wall."""
    x = np.array(mesh.faceCenters)[axis]
    wall = grid.lower[axis] if side == 0 else grid.upper[axis]
    normal = np.abs(np.array(mesh.faceNormals)[axis]) > 0.5
    return np.array(mesh.exteriorFaces, dtype=bool) & normal & np.isclose(x, wall, rtol=0.0,
                                                                           atol=1e-9 * grid.spacing[axis])


def _to_fipy(rho: np.ndarray) -> np.ndarray:
    return np.asarray(rho).reshape(-1, order="F")


def _from_fipy(values: Any, shape: tuple) -> np.ndarray:
    return np.array(values, dtype=float).reshape(shape, order="F")


class _FaceField:
    """Normal-to-face field b(t, x) on the FiPy mesh as a rank-1 FaceVariable: zero on the exterior faces except
    where ``keep`` (a mask of faces: Dirichlet walls) says otherwise (periodic meshes have no exterior faces)."""

    def __init__(self, mesh: Any, field: Callable, periodic: Any, keep: Any = None, name: str = "drift") -> None:
        fp = _fipy()
        self.mesh = mesh
        self.field = field
        self.name = f"{name}(t, x)"
        self.x = np.array(mesh.faceCenters).T  # (nfaces, d)
        normals = np.abs(np.array(mesh.faceNormals)) > 0.5  # (d, nfaces)
        flags = per_axis(periodic, self.x.shape[1])
        mask = ~np.array(mesh.exteriorFaces, dtype=bool)
        for k, wrap in enumerate(flags):
            if wrap:  # FiPy's periodic meshes keep the joined faces among the exterior ones
                mask = mask | normals[k]
        if keep is not None:
            mask = mask | keep
        self.mask = mask.astype(float)
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


def _diffusion_coefficient(fp: Any, mesh: Any, D: Any) -> Any:
    """FiPy's diffusion coefficient for an eulerian.diffusion.Diffusion: a number, a FaceVariable of D at the face
    centres, the harmonic face mean of cell values (FiPy's own harmonicFaceValue), or a rank-2 tensor."""
    if D.kind == "constant":
        return D.value
    if D.kind == "matrix":  # a rank-2 FaceVariable (a tuple would mean a higher-order DiffusionTerm to FiPy)
        value = np.repeat(np.asarray(D.value, dtype=float)[:, :, None], mesh.numberOfFaces, axis=2)
        return fp.FaceVariable(mesh=mesh, rank=2, value=value)
    if D.kind == "field":
        x = np.array(mesh.faceCenters).T
        return fp.FaceVariable(mesh=mesh, value=np.asarray(D.value(x), dtype=float))
    return fp.CellVariable(mesh=mesh, value=_to_fipy(D.value)).harmonicFaceValue


class _Walls:
    """Dirichlet values (FiPy constraints on a FaceVariable updated in time) and prescribed fluxes (a rank-1
    FaceVariable q n whose divergence leaves the cells) on FiPy's exterior faces."""

    def __init__(self, fp: Any, mesh: Any, grid: Grid, box: Any, var: Any) -> None:
        from .boundary import Dirichlet, Flux

        self.fp, self.grid = fp, grid
        self.x = np.array(mesh.faceCenters).T
        self.dirichlet, self.flux = [], []
        nfaces = self.x.shape[0]
        self.dirichlet_faces = np.zeros(nfaces, dtype=bool)
        for k, side, cond in box.walls():
            mask = _wall_mask(mesh, grid, k, side)
            if isinstance(cond, Dirichlet):
                self.dirichlet.append((mask, cond))
                self.dirichlet_faces |= mask
            elif isinstance(cond, Flux):
                self.flux.append((mask, cond))
        self.g = fp.FaceVariable(mesh=mesh, value=0.0)
        if self.dirichlet:
            var.constrain(self.g, where=self.dirichlet_faces)
        self.normals = np.array(mesh.faceNormals)  # outward on exterior faces
        self.q = fp.FaceVariable(mesh=mesh, rank=1, value=0.0) if self.flux else None

    def set_time(self, t: float) -> None:
        if self.dirichlet:
            g = np.zeros(self.x.shape[0])
            for mask, cond in self.dirichlet:
                g[mask] = cond.values(t, self.x[mask])
            self.g.setValue(g)
        if self.flux:
            q = np.zeros(self.x.shape[0])
            for mask, cond in self.flux:
                q[mask] = cond.values(t, self.x[mask])
            self.q.setValue(q * self.normals)


def fokker_planck_fipy(
    grid: Grid, rho0: np.ndarray, drift: Callable, D: Any, t_final: float, steps: int, *, flux: str,
    time: str, box: Any, save_idx: np.ndarray | None, source: Callable | None, damped_steps: int = 0,
) -> Solution:
    """FiPy implementation behind solve_fokker_planck(backend='fipy') (arguments already validated; D an
    eulerian.diffusion.Diffusion, box an eulerian.boundary.BoxBoundary)."""
    fp = _fipy()
    from fipy.solvers.scipy import LinearLUSolver

    from .backend import get_backend
    from .fokker_planck import MassBalance
    from .operators import WallTerms

    start = _time.perf_counter()
    periodic = box.periodic
    mesh = fipy_mesh(grid, periodic)
    var = fp.CellVariable(mesh=mesh, value=_to_fipy(rho0))
    walls = _Walls(fp, mesh, grid, box, var)
    b = _FaceField(mesh, drift, periodic, keep=walls.dirichlet_faces)
    S, set_source = _source_var(mesh, source)
    conv = fp.CentralDifferenceConvectionTerm if flux == "central" else fp.ExponentialConvectionTerm
    diffusion = _diffusion_coefficient(fp, mesh, D)
    terms: dict = {}

    def build() -> None:
        """The operator and the two equations, built afresh: FiPy 4 computes a convection term's fixed-value
        wall contributions once per term object (constraintL/B) and keeps them when the velocity changes."""
        operator = fp.DiffusionTerm(coeff=diffusion) - conv(coeff=b.var)
        if walls.q is not None:
            operator = operator - walls.q.divergence   # d rho/dt -= (1/V) sum over the cell's wall faces of area q
        rhs = operator if S is None else operator + S
        terms.update(operator=operator, unit=fp.TransientTerm(coeff=1.0) == rhs,
                     bdf2=fp.TransientTerm(coeff=1.5) == rhs)
    solver = LinearLUSolver(tolerance=FIPY_TOLERANCE, iterations=10)
    dt = t_final / steps
    cv = grid.cell_volume
    rho = np.asarray(rho0, dtype=float).reshape(-1, order="F")
    rho_prev = None
    masses = [float(rho.sum()) * cv]
    outflows = [0.0]
    balance = MassBalance(masses[0], dt)
    be = get_backend("numpy")

    def set_time(t: float) -> None:
        b.set_time(t)
        set_source(t)
        walls.set_time(t)
        if walls.dirichlet or not terms:
            build()

    def rates(rho_f: np.ndarray, t: float) -> tuple[float, float]:
        """(source mass rate, mass rate leaving through the walls) of the FiPy density rho_f (FiPy order) at t;
        the outflow from the same face fluxes as the array backend (so the balance checks FiPy's walls)."""
        s_rate = 0.0 if source is None else cv * float(np.sum(
            np.asarray(real_output("source(t, x)", source(t, grid.centers())), dtype=float)
            * np.ones(grid.shape)))
        if not box.open:
            return s_rate, 0.0
        w = WallTerms(be, grid, box, drift, lambda k, side: D.wall(grid, k, side), flux, t)
        return s_rate, w.outflow(_from_fipy(rho_f, grid.shape).reshape(-1))

    set_time(0.0)
    r_old = rates(rho, 0.0)
    min_rho = float(rho.min())
    saved = [] if save_idx is None else [_from_fipy(rho, grid.shape) for i in save_idx if i == 0]
    for n in range(steps):
        t_new = (n + 1) * dt
        scheme = "damped" if n < damped_steps else time
        if scheme == "damped":  # Rannacher's start: two implicit-Euler half steps
            rho_half = rho
            for t in (t_new - 0.5 * dt, t_new):
                set_time(t)
                var.setValue(rho_half)
                terms['unit'].solve(var=var, dt=0.5 * dt, solver=solver)
                rho_half = np.array(var.value)
                if t < t_new:
                    r_old = rates(rho_half, t)  # the balance of two half steps: M + dt (r_half + r_new) / 2
            new, balanced = rho_half, "crank-nicolson"
        elif scheme == "implicit-euler":
            set_time(t_new)
            var.setValue(rho)
            terms['unit'].solve(var=var, dt=dt, solver=solver)
            new, balanced = np.array(var.value), "implicit-euler"
        elif scheme == "crank-nicolson":
            # the trapezoidal rule of the array backend: an explicit half step with A(t_n), S(t_n), then an
            # implicit one with A(t_{n+1}), S(t_{n+1}); FiPy's residual of the operator terms (walls included) is
            # cell volume x (A rho + wall terms)
            set_time(t_new - dt)
            var.setValue(rho)
            half = rho + 0.5 * dt * np.asarray(terms['operator'].justResidualVector(var=var)) / cv
            if S is not None:
                half = half + 0.5 * dt * np.asarray(S.value) * np.ones(grid.size)
            set_time(t_new)
            var.setValue(half)
            terms['unit'].solve(var=var, dt=0.5 * dt, solver=solver)
            new, balanced = np.array(var.value), "crank-nicolson"
        else:
            set_time(t_new)
            var.setValue((4.0 * rho - rho_prev) / 3.0)
            terms['bdf2'].solve(var=var, dt=dt, solver=solver)
            new, balanced = np.array(var.value), "bdf2"
        rho_prev, rho = rho, new
        m = float(rho.sum()) * cv
        r_new = rates(rho, t_new)
        balance.check(m, balanced, r_old, r_new, n + 1, t_new)
        r_old = r_new
        masses.append(m)
        outflows.append(balance.outflow)
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
        boundary_outflow=np.array(outflows) if box.open else None,
        info={"flux": flux, "time": time, "boundary": box.label, "solver": "fipy-LinearLUSolver", "dt": dt,
              "damped_steps": damped_steps, "diffusion": D.describe(), "fipy_term": conv.__name__},
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
    v = _FaceField(mesh, velocity, periodic, name="velocity")
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
    schedule = SaveSchedule(save_at, t_final, _to_fipy(rho0), lambda r: _from_fipy(r, grid.shape))
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
            dt = schedule.clip(t, cfl / r if r > 0 else t_final - t)
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
        schedule.record(t, rho)
    final = _from_fipy(var.value, grid.shape)
    times, saved = schedule.result(final)
    return Solution(
        grid=grid, times=times, density=final, densities=saved, mass=np.array(masses),
        mass_times=np.array(mass_times), min_density=min_rho, steps=n, wall_time=_time.perf_counter() - start,
        backend="fipy", info={"fipy_term": "VanLeerConvectionTerm", "boundary": boundary, "cfl": cfl,
                              "time": "explicit (FiPy)"},
    )
