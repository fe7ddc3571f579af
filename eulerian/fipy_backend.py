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

A diffusion matrix: DiffusionTerm(D_kk on the faces normal to axis k) (a scalar FaceVariable: FiPy's orthogonal,
fully implicit path), plus the off-diagonal part as a FiPy source variable, div(D_off g) with g the arithmetic
face mean of FiPy's Gauss cell gradient of the unconstrained variable, on the flux-carrying faces only (zero on
the walls): on a uniform grid exactly the array backend's cross fluxes (mean of the two cells' central
differences, mirrored end cells). The source is explicit in rho, so every solve is swept (``eq.sweep``) until
the iterate changes by less than SWEEP_TOLERANCE relative (about 10-20 sweeps for |D_xy| / sqrt(D_xx D_yy)
~ 0.4-0.7), which makes the cross fluxes implicit at the new level as on the array backend (agreement ~1e-12).
As on the array backend, off-diagonal entries take zero-flux and periodic walls only (ValueError otherwise).
FiPy's own rank-2 DiffusionTerm is not used: it takes the non-orthogonal part from the *harmonic* face mean of
the cell gradients (zero where the two cells' gradients differ in sign: fipy/terms/abstractDiffusionTerm.py,
_calcAnisotropySource, unconstrainedVar.grad.harmonicFaceValue), sums it over the exterior faces too (mass
leaves through zero-flux walls) and defers it to the right-hand side (one solve = explicit cross fluxes), so even
swept to convergence it is a different operator (~5e-3 to 5e-2 relative from the array backend).

Continuity (``solve_continuity(..., backend="fipy")``): TransientTerm() + VanLeerConvectionTerm(v) == S, FiPy's
explicit (Lax-Wendroff corrected, van Leer limited) upwind scheme, one stage per step, with dt from the same
Courant number as the array solver (the velocity and the source at the start of the step). The ``limiter``
argument does not apply. FiPy's face value phi_P + g (h - |v.n| dt) / 2 is second order for flow along an axis
but has no transverse (corner) term, so it is first order for oblique flow (L1 orders 1.9-2.2 along x, 1.1 for
v = (1, 0.5), periodic). Open walls (``box``): Dirichlet(g) inflow as a constraint of the variable (FiPy 4's
explicit convection terms carry v.n g through a constrained exterior face), Outflow() and the outgoing part of
a Dirichlet wall as FiPy's outflow idiom ImplicitSourceTerm(divergence of max(v.n, 0) n on those faces), and
Flux(q) as the divergence of the face variable q n; see _ContinuityWalls.
"""
from __future__ import annotations

import time as _time
import warnings
from typing import Any, Callable

import numpy as np

from ._validate import real_output
from .errors import CFLError, NumericalError
from .grid import Grid
from .operators import per_axis
from .solution import SaveSchedule, Solution

FIPY_TOLERANCE = 1e-12
SWEEP_TOLERANCE = 1e-13   # relative change of the iterate that ends the sweeps of a step (cross diffusion)
MAX_SWEEPS = 400
_TINY_STEP = 1.0 / np.finfo(np.float64).max   # shorter steps change nothing in float64, and FiPy's 1/dt overflows


def _fipy() -> Any:
    try:
        with warnings.catch_warnings():   # FiPy 4 imports numpy.core, deprecated in NumPy 2: not the caller's concern
            warnings.filterwarnings("ignore", message="numpy.core is deprecated", category=DeprecationWarning)
            import fipy
    except ImportError as exc:  # FiPy is a dependency: a broken or partial install (a trouble of the catalog)
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


def flux_faces(mesh: Any, periodic: Any) -> np.ndarray:
    """Boolean mask of the faces that carry a flux between two cells: the interior faces, and the faces joined by
    a periodic axis (FiPy's periodic meshes keep those among the exterior faces)."""
    normals = np.abs(np.array(mesh.faceNormals)) > 0.5  # (d, nfaces)
    mask = ~np.array(mesh.exteriorFaces, dtype=bool)
    for k, wrap in enumerate(per_axis(periodic, normals.shape[0])):
        if wrap:
            mask = mask | normals[k]
    return mask


class _FaceField:
    """Normal-to-face field b(t, x) on the FiPy mesh as a rank-1 FaceVariable: zero on the exterior faces except
    where ``keep`` (a mask of faces: Dirichlet walls) says otherwise (periodic meshes have no exterior faces)."""

    def __init__(self, mesh: Any, field: Callable, periodic: Any, keep: Any = None, name: str = "drift") -> None:
        fp = _fipy()
        self.field = field
        self.name = f"{name}(t, x)"
        self.x = np.array(mesh.faceCenters).T  # (nfaces, d)
        mask = flux_faces(mesh, periodic)
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


def _source_var(mesh: Any, source: Callable | None) -> tuple[Any, Callable[[float], None], Callable[[float], Any]]:
    """(FiPy variable S, update(t) setting S to source(t, x), values(t): source(t, x) at the cell centres in FiPy
    order, checked real; 0 without a source), one evaluation of the source per time (the last time's values are
    kept)."""
    fp = _fipy()
    if source is None:
        return None, lambda t: None, lambda t: 0.0
    x = np.array(mesh.cellCenters).T
    var = fp.CellVariable(mesh=mesh, value=0.0)
    last: dict[str, Any] = {}

    def values(t: float) -> Any:
        if last.get("t") != t:
            last.update(t=t, values=np.asarray(real_output("source(t, x)", source(t, x)), dtype=float))
        return last["values"]

    def update(t: float) -> None:
        var.setValue(values(t))

    return var, update, values


def _diffusion_coefficient(fp: Any, mesh: Any, D: Any) -> Any:
    """FiPy's (scalar) diffusion coefficient for an eulerian.diffusion.Diffusion: a number, a FaceVariable of D at
    the face centres, the harmonic face mean of cell values (FiPy's own harmonicFaceValue), or for a matrix its
    normal entry D_kk on the faces normal to axis k (the off-diagonal entries: ``_cross_source``)."""
    if D.kind == "constant":
        return D.value
    if D.kind == "matrix":
        axis = np.argmax(np.abs(np.array(mesh.faceNormals)), axis=0)   # the axis each face is normal to
        return fp.FaceVariable(mesh=mesh, value=np.diag(np.asarray(D.value, dtype=float))[axis])
    if D.kind == "field":
        x = np.array(mesh.faceCenters).T
        return fp.FaceVariable(mesh=mesh, value=np.asarray(D.value(x), dtype=float))
    return fp.CellVariable(mesh=mesh, value=_to_fipy(D.value)).harmonicFaceValue


def _cross_source(fp: Any, mesh: Any, var: Any, D: Any, periodic: Any) -> Any:
    """The off-diagonal part of a diffusion matrix as a FiPy source variable: +div(D_off grad rho), i.e. minus the
    divergence of the face flux F = -D_off g on the flux-carrying faces (zero on walls), where g is the
    arithmetic face mean of FiPy's Gauss cell gradient of the unconstrained variable (on a uniform grid: the mean
    of the two cells' central differences, the end cells' taken with their own value on the wall face, i.e. a
    mirrored cell). Explicit in rho: the caller sweeps every step to convergence, which makes it implicit."""
    off = np.asarray(D.value, dtype=float) - np.diag(np.diag(D.value))
    g = (var + 0).grad.arithmeticFaceValue          # var + 0: the cell gradient without var's wall constraints
    carry = fp.FaceVariable(mesh=mesh, value=flux_faces(mesh, periodic).astype(float))
    return (g.dot(off) * carry).divergence          # -div(F) = div(D_off g), per unit volume


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
        self.normals = np.array(mesh.faceNormals)  # (d, nfaces), outward on exterior faces
        self.q = fp.FaceVariable(mesh=mesh, rank=1, value=0.0) if self.flux else None
        self.q_values = np.zeros(nfaces)           # the outward normal flux q on every face (0 off Flux walls)

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
            self.q_values = q
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
    var = fp.CellVariable(mesh=mesh, value=_to_fipy(rho0), hasOld=True)   # TransientTerm uses var.old
    walls = _Walls(fp, mesh, grid, box, var)
    cross = None if D.cross is None else _cross_source(fp, mesh, var, D, periodic)
    b = _FaceField(mesh, drift, periodic, keep=walls.dirichlet_faces)
    S, set_source, source_values = _source_var(mesh, source)
    conv = fp.CentralDifferenceConvectionTerm if flux == "central" else fp.ExponentialConvectionTerm
    diffusion = _diffusion_coefficient(fp, mesh, D)
    terms: dict = {}

    def build() -> None:
        """The operator and the two equations, built afresh: FiPy 4 computes a convection term's fixed-value
        wall contributions once per term object (constraintL/B) and keeps them when the velocity changes."""
        operator = fp.DiffusionTerm(coeff=diffusion) - conv(coeff=b.var)
        if cross is not None:
            operator = operator + cross                # the off-diagonal diffusion, deferred (swept)
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
        s_rate = cv * float(np.sum(np.broadcast_to(source_values(t), (grid.size,))))   # a scalar: in every cell
        if not box.open:
            return s_rate, 0.0
        w = WallTerms(be, grid, box, drift, lambda k, side: D.wall(grid, k, side), flux, t)
        return s_rate, w.outflow(_from_fipy(rho_f, grid.shape).reshape(-1))

    sweeps = [0]

    def solve_checked(method: Callable, step: float) -> None:
        """FiPy's solve or sweep over ``step``, its SciPy LU failure a NumericalError."""
        try:
            method(var=var, dt=step, solver=solver)
        except RuntimeError as exc:   # SuperLU: "Factor is exactly singular"
            raise NumericalError(f"solve_fokker_planck (FiPy): the LU factorisation of the step's matrix failed "
                                 f"({exc}) with dt = {step:g}: the diffusion or drift is too large for float64 "
                                 "at this dt and grid; rescale space and time, or use smaller steps") from exc

    def checked(new: np.ndarray, step: float) -> np.ndarray:
        if not np.all(np.isfinite(new)):
            raise NumericalError(f"solve_fokker_planck (FiPy): a step with dt = {step:g} produced non-finite values: "
                                 "the operator or the density overflows float64; rescale space and time")
        return new

    def advance(key: str, start: np.ndarray, step: float) -> np.ndarray:
        """Solve the equation ``key`` over one step from var.old = start; with off-diagonal diffusion, sweep
        until the iterate changes by less than SWEEP_TOLERANCE (relative): the cross fluxes at the new level."""
        if step <= _TINY_STEP:   # a denormal step (t_final near 5e-324): FiPy's 1/dt overflows; it is the identity
            return np.array(start)
        var.setValue(start)
        var.updateOld()
        if cross is None:
            solve_checked(terms[key].solve, step)
            return checked(np.array(var.value), step)
        scale = float(np.abs(start).max()) or 1.0
        for _ in range(MAX_SWEEPS):
            before = np.array(var.value)
            solve_checked(terms[key].sweep, step)
            sweeps[0] += 1
            after = checked(np.array(var.value), step)
            change = float(np.abs(after - before).max())
            if not np.isfinite(change):
                raise NumericalError("FiPy's sweeps of the off-diagonal diffusion produced non-finite values")
            if change <= SWEEP_TOLERANCE * scale:
                return after
        raise NumericalError(f"FiPy's sweeps of the off-diagonal diffusion did not converge in {MAX_SWEEPS} sweeps "
                             f"(last change {change / scale:.2e} relative): the matrix is too anisotropic for the "
                             "deferred cross fluxes at this dt; use smaller steps or the array backend")

    r_old = rates(rho, 0.0)
    min_rho = float(rho.min())
    saved = [] if save_idx is None else [_from_fipy(rho, grid.shape) for i in save_idx if i == 0]
    # FiPy's own arithmetic on extreme values (the residual norms of densities near 1e300) may overflow:
    # every step's result is checked instead
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        for n in range(steps):
            t_new = (n + 1) * dt
            scheme = "damped" if n < damped_steps else time
            if scheme == "damped":  # Rannacher's start: two implicit-Euler half steps
                rho_half = rho
                for t in (t_new - 0.5 * dt, t_new):
                    set_time(t)
                    rho_half = advance('unit', rho_half, 0.5 * dt)
                    if t < t_new:
                        r_old = rates(rho_half, t)  # the balance of two half steps: M + dt (r_half + r_new) / 2
                new, balanced = rho_half, "crank-nicolson"
            elif scheme == "implicit-euler":
                set_time(t_new)
                new, balanced = advance('unit', rho, dt), "implicit-euler"
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
                new, balanced = advance('unit', half, 0.5 * dt), "crank-nicolson"
            else:
                set_time(t_new)
                new, balanced = advance('bdf2', (4.0 * rho - rho_prev) / 3.0, dt), "bdf2"
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
              "damped_steps": damped_steps, "diffusion": D.describe(), "fipy_term": conv.__name__,
              "fipy_sweeps": sweeps[0]},
    )


class _ContinuityWalls(_Walls):
    """The open walls of a continuity problem on FiPy's exterior faces, at one time t.

    Dirichlet(g): FiPy's constraint var = g on the wall faces with the velocity kept where it points inwards, so
    FiPy's convection term carries the inflow v.n g (FiPy 4's explicit convection terms take the face value of a
    constrained face for both directions, hence the inflow part only); Outflow() and the outward part of a
    Dirichlet wall: the upwind outflow max(v.n, 0) rho_P through FiPy's idiom for an outflow boundary, an
    ImplicitSourceTerm whose coefficient is the divergence of that exterior-face velocity; Flux(q): the
    divergence of the face variable q n, a source. ``outflow(rho, t)`` is the mass per unit time that leaves
    through these faces for the cell values rho (FiPy order), from the same face fluxes."""

    def __init__(self, fp: Any, mesh: Any, grid: Grid, box: Any, var: Any) -> None:
        from .boundary import Dirichlet, Outflow

        super().__init__(fp, mesh, grid, box, var)     # Dirichlet constraints g and Flux variables q
        nfaces = self.x.shape[0]
        self.areas = np.array(mesh._faceAreas)
        self.cells = np.array(mesh.faceCellIDs[0])         # the one cell of an exterior face
        self.axis_faces = [np.zeros(nfaces, dtype=bool) for _ in range(grid.dim)]   # open walls, per axis
        self.out_faces = self.dirichlet_faces.copy()       # Outflow walls and the outward part of Dirichlet ones
        for k, side, cond in box.walls():
            if isinstance(cond, (Dirichlet, Outflow)):
                mask = _wall_mask(mesh, grid, k, side)
                self.axis_faces[k] |= mask
                self.out_faces |= mask
        self.out_v = fp.FaceVariable(mesh=mesh, rank=1, value=0.0)   # max(v.n, 0) n on the outflow faces
        self.vn = np.zeros(nfaces)

    def set_time(self, t: float, velocity: Callable, name: str = "velocity(t, x)") -> np.ndarray:
        """Update g, q and the outflow velocity at time t; returns the mask of the faces where the velocity
        variable must keep its value (the inflow part of the Dirichlet walls)."""
        if self.out_faces.any():
            v = np.asarray(real_output(name, velocity(t, self.x[self.out_faces])), dtype=float)
            if not np.all(np.isfinite(v)):
                raise NumericalError(f"the {name} returned non-finite values on a wall at t = {t:g}")
            self.vn = np.zeros(self.x.shape[0])
            self.vn[self.out_faces] = np.einsum("fd,df->f", v, self.normals[:, self.out_faces])
        self.out_v.setValue(np.maximum(self.vn, 0.0) * self.out_faces * self.normals)
        super().set_time(t)
        return self.dirichlet_faces & (self.vn < 0.0)

    def axis_max(self, k: int) -> float:
        return float(np.abs(self.vn[self.axis_faces[k]]).max()) if self.axis_faces[k].any() else 0.0

    def outflow(self, rho: np.ndarray) -> float:
        """Mass per unit time through the open walls: inflow v.n g (Dirichlet), upwind max(v.n, 0) rho_P
        (Outflow, Dirichlet) and q (Flux), summed with the face areas."""
        g = np.array(self.g.value)
        inflow = np.where(self.dirichlet_faces & (self.vn < 0.0), self.vn * g, 0.0)
        out = np.where(self.out_faces, np.maximum(self.vn, 0.0) * rho[self.cells], 0.0)
        return float(np.sum(self.areas * (inflow + out + self.q_values)))


def continuity_fipy(
    grid: Grid, rho0: np.ndarray, velocity: Callable, t_final: float, *, cfl: float, box: Any,
    save_at: np.ndarray | None, steps: int | None, source: Callable | None, max_steps: int | None = None,
) -> Solution:
    """FiPy implementation behind solve_continuity(backend='fipy') (arguments already validated; ``box`` the
    eulerian.boundary.BoxBoundary). Open walls: see _ContinuityWalls; the mass that left through them is returned
    as Solution.boundary_outflow (cumulative, from FiPy's own face fluxes, so the mass balance
    mass(t) - mass(0) = int S - boundary_outflow(t) holds to round-off)."""
    fp = _fipy()
    start = _time.perf_counter()
    periodic = list(box.periodic)
    mesh = fipy_mesh(grid, periodic)
    var = fp.CellVariable(mesh=mesh, value=_to_fipy(rho0), hasOld=True)
    walls = _ContinuityWalls(fp, mesh, grid, box, var) if box.open else None
    v = _FaceField(mesh, velocity, periodic, name="velocity",
                   keep=None if walls is None else walls.dirichlet_faces)
    S, set_source, _ = _source_var(mesh, source)
    cv = grid.cell_volume
    h = np.asarray(grid.spacing)
    normals = np.abs(np.array(mesh.faceNormals)).T  # (nfaces, d), unit axis vectors
    interior = flux_faces(mesh, periodic)

    def set_time(t: float) -> None:
        """The velocity (and the walls' g, q, outflow velocity) at t; the velocity is kept on the flux-carrying
        faces and on the Dirichlet faces where it points inwards."""
        if walls is not None:
            v.mask = (interior | walls.set_time(t, velocity)).astype(float)
        v.set_time(t)

    def equation() -> Any:
        lhs = fp.TransientTerm() + fp.VanLeerConvectionTerm(coeff=v.var)
        rhs = 0.0 if S is None else S
        if walls is not None:
            if walls.out_faces.any():
                lhs = lhs + fp.ImplicitSourceTerm(coeff=walls.out_v.divergence)   # d rho_P/dt -= out-rate rho_P
            if walls.q is not None:
                rhs = rhs - walls.q.divergence
        return lhs == rhs

    def rate(t: float) -> float:
        set_time(t)
        vals = np.array(v.var.value).T
        return float(sum(max(np.abs(vals[:, k] * normals[:, k] * interior).max(),
                             0.0 if walls is None else walls.axis_max(k)) / h[k] for k in range(grid.dim)))

    eq = equation()
    t = 0.0
    masses, mass_times = [grid.mass(rho0)], [0.0]
    outflows = [0.0]
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
        if walls is not None and walls.dirichlet:
            eq = equation()   # FiPy 4 keeps a convection term's constraint contributions from its first use
        if dt > _TINY_STEP:   # a denormal dt (t_final near 5e-324): FiPy's 1/dt overflows; the step is the identity
            # FiPy's arithmetic on densities near 1e300 may overflow in intermediate products: the result is checked
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                eq.solve(var=var, dt=dt)
        n += 1
        t = t_final if (steps is not None and n == steps) else t + dt
        rho = np.array(var.value)
        m = float(rho.sum()) * cv
        if not np.isfinite(m):
            raise NumericalError(f"FiPy produced a non-finite density at step {n}")
        if walls is not None:   # the wall fluxes of this step: g, q, velocity at t_n, rho_P at t_{n+1}
            outflows.append(outflows[-1] + dt * walls.outflow(rho))
        masses.append(m)
        mass_times.append(t)
        min_rho = min(min_rho, float(rho.min()))
        schedule.record(t, rho)
    final = _from_fipy(var.value, grid.shape)
    times, saved = schedule.result(final)
    return Solution(
        grid=grid, times=times, density=final, densities=saved, mass=np.array(masses),
        mass_times=np.array(mass_times), min_density=min_rho, steps=n, wall_time=_time.perf_counter() - start,
        backend="fipy", boundary_outflow=np.array(outflows) if walls is not None else None,
        info={"fipy_term": "VanLeerConvectionTerm", "boundary": box.label, "cfl": cfl, "time": "explicit (FiPy)"},
    )
