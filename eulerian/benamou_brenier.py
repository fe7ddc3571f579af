"""Dynamic optimal transport (Benamou–Brenier) by proximal splitting.

Solves  W2^2(rho0, rho1) = min  int_0^1 int |m|^2 / rho dx dt  subject to  d_t rho + div m = 0,
rho(0) = rho0, rho(1) = rho1, with zero-flux walls (or periodic space), following Papadakis, Peyré, Oudet,
"Optimal transport with proximal splitting", SIAM J. Imaging Sci. 7 (2014) — PPO below. Note: no 1/2 in the
cost (docs/theory.md, Conventions), so W2^2 is the kinetic energy itself.

Discretisation (see eulerian/staggered.py for the operators): staggered (rho, m) satisfying the discrete
continuity equation exactly, a centred copy U = I V on which the perspective cost J(U) = sum |m|^2/rho acts,

    min_{U, V}  J(U) + i_C(V) + i_{U = I V}(U, V)                                     (PPO eq. 3.5)

* ``method="douglas-rachford"`` (PPO Alg. 1): G1(U, V) = J(U) + i_C(V) (cell-wise cubic prox + space-time
  Poisson projection), G2 = i_{U = I V} (one tridiagonal line solve per component);
  z <- z + alpha (prox_{gamma G1}(2 prox_{gamma G2}(z) - z) - prox_{gamma G2}(z)).
* ``method="primal-dual"`` (Chambolle–Pock, PPO §4.2, over-relaxed as in Condat 2013): min_V J(I V) + i_C(V)
  with K = I, ||I|| <= 1; one Poisson projection and one cubic prox per iteration, no line solves. About
  two thirds of the cost of a DR iteration and fewer iterations (benchmarks/benamou_brenier.py).

Stopping: the two KKT residuals (stationarity, continuity) and, for primal-dual, the relative duality gap
|<y, U - I V>| / J(U), which bounds how far the returned cost is from the discrete optimum. Primal-dual steps are
adaptive by default (``step_rule``): residual balancing after Goldstein, Esser and Baraniuk (2013/2015).

Optional coarse-to-fine start (``multilevel=True``): solve on the grid with half the cells and time steps,
interpolate, project onto the fine constraint, continue.

Performance notes (NumPy): every hot loop works in place on preallocated arrays (fresh 1 MB temporaries cost
page faults that dominated the elementwise time) and is arranged for the fewest passes over memory, which
bounds the elementwise work on the CPU; the cubic prox uses Newton steps warm-started from the previous
iterate (two or three steps, no transcendental functions); on the CPU the Poisson solve transforms space only
and solves the time direction by a factorised recursion (see eulerian.staggered.StaggeredGrid).

Densities are internally divided by their mean value and space by the largest box side, so the default step
parameters do not depend on the units; results are returned in the caller's units.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .staggered import (NewtonCount, StaggeredGrid, can_coarsen, perspective_cost, perspective_root,
                        prolong_staggered, prox_perspective, restrict_density)
from ._validate import (check_bool, check_choice, check_density, check_grid, check_memory, check_nonnegative,
                        check_positive, check_real, check_steps)
from .backend import Backend, get_backend
from .errors import NumericalError
from .grid import Grid

METHODS = ("douglas-rachford", "primal-dual")
STEP_RULES = ("adaptive", "fixed")
GAP_TOL_FACTOR = 5.0  # default gap_tol = 5 tol = 0.1 h^2 / d (relative duality gap, see benamou_brenier)
# ... but at least this: with vacuum the gap can stall near 1e-5 (bb-1d-exact's periodic tent, 64 cells, tol 1e-6:
# 7.5e-6 after 20 000 iterations, stationarity 5e-10)
GAP_TOL_FLOOR = 1e-5
COARSE_MAX_ITER = 1000  # iteration cap of each coarse level of the multilevel start (a start needs no more)
DTYPES = ("float64", "float32", "mixed")
# floors of (tol, residual_tol, gap_tol) in float32 (its round-off stalls the dual residual near 4e-6)
FLOAT32_TOL = (1e-5, 1e-4, 1e-5)
BOUNDARIES = ("zero-flux", "periodic")
DEFAULT_TOL_FACTOR = 0.02  # default tol = 0.02 h^2 / d (see default_tol)
GAMMA_RANGE = (1e-8, 1e8)  # proximal / dual step in normalised units (the cubic of the prox holds gamma^3)
MAX_WORKERS = 4096  # scipy.fft thread counts

# Default step parameters (densities of mean 1 on a box of largest side 1), measured best within a factor 2
# on the Gaussian cases of the issue: Douglas–Rachford gamma = d^2 (1D 64x64 and 64x32: 1; 2D 32^2x32: 4);
# primal-dual sigma = 0.5 in 1D, 0.25 beyond (2D 64^2x32), with over-relaxation 1.9, which halves the
# iterations the density needs (1D 64x64, sigma 0.3: L1 at t = 1/2 of 2.9e-3 after 600 iterations instead
# of 1000).
# 3D defaults follow the 2D ones, unmeasured. See benchmarks/benamou_brenier.py.
DEFAULT_ALPHA = 1.8
# Adaptive primal-dual steps (step="adaptive", see _balance): initial relative change, its decay per change, the
# imbalance that triggers one, and how far sigma may move from its start (both ways).
BALANCE_ALPHA = 0.5
BALANCE_DECAY = 0.95
BALANCE_DELTA = 1.5
SIGMA_SPREAD = 10.0  # 100 let bb-1d-exact's periodic tent stall at sigma = 33 (20 000 its; 10: 8 130)
DEFAULT_RELAXATION = 1.9
# Peak memory of a run in units of 8 * (time_steps + 1) * cells * (d + 1) bytes (one float64 copy of the
# space-time unknowns (rho, m)), per dtype; measured peaks with the KKT stopping tests and the dual potential
# (tracemalloc, 1D 128x64 and 2D 48^2x24, both methods, multilevel or not): float64 14.7-21.8, mixed 20.5-26.7,
# float32 9.8-14.7 (the float64 measurement of the dual residual on float32 iterates included). The host keeps
# BB_RESULT_ARRAYS of them for the results.
BB_WORK_ARRAYS = {"float64": 24, "mixed": 28, "float32": 16}
BB_RESULT_ARRAYS = 4
# Sign of the returned densities (see BBResult): measured -min(density) / (max(density) * residual) on 1D
# Gaussian cases (32-128 cells, 16-64 time steps, both methods, float32/float64, converged or not): 0.3 to 10.6.
DENSITY_NEGATIVITY_FACTOR = 12.0


def default_tol(grid: Grid, time_steps: int) -> float:
    """Default stationarity tolerance 0.02 h^2 / d, h = min(smallest cell side / largest box side, 1 / time_steps)
    (see benamou_brenier's ``tol``)."""
    check_grid(grid)
    time_steps = check_steps(time_steps, "time_steps (number of time steps on [0, 1])", 2)
    box = max(u - l for l, u in zip(grid.lower, grid.upper))
    h = min(min(grid.spacing) / box, 1.0 / time_steps)
    return DEFAULT_TOL_FACTOR * h * h / grid.dim


def default_gamma(method: str, dim: int) -> float:
    """Default proximal step gamma (DR: d^2) or dual step sigma (PD: 0.5 in 1D, else 0.25), normalised units."""
    method = check_choice("method", method, METHODS)
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)) or dim not in (1, 2, 3):
        raise ValueError(f"dim must be the grid dimension 1, 2 or 3, got {dim!r}")
    if method == "douglas-rachford":
        return float(dim**2)
    return 0.5 if dim == 1 else 0.25


@dataclass
class BBResult:
    """Solution of the Benamou–Brenier problem.

    Attributes
    ----------
    w2_squared : float
        W2^2 = dt * cell_volume * sum |m_c|^2 / rho_c (no 1/2) at the last proximal iterate (centred,
        rho_c >= 0), in the caller's units (mass-weighted: for masses M the value is M times the W2^2 of the
        probability measures). At convergence it equals the cost of the interpolation of (density,
        momentum_faces); history["continuity"] measures the remaining gap.
    w2 : float
        sqrt(w2_squared).
    density : ndarray
        (time_steps + 1, *shape), rho at t_j = j / time_steps (staggered in time, satisfies the discrete
        continuity equation with the momentum faces exactly; density[0] = rho0, density[-1] = rho1). Not
        sign-constrained: see Notes.
    momentum : ndarray
        (time_steps, *shape, d), centred momentum m = rho v at (t_{j+1/2}, cell centres).
    momentum_faces : tuple
        d arrays, m_a on the faces normal to axis a at time centres.
    centred_density : ndarray
        (time_steps, *shape), rho at (t_{j+1/2}, cell centres). Not sign-constrained: see Notes.
    potential : ndarray
        (time_steps, *shape), the dual potential phi at (t_{j+1/2}, cell centres), in the caller's units
        (length^2 / time), zero mean: the velocity is v = grad phi and phi solves the Hamilton–Jacobi equation
        d phi / dt + |grad phi|^2 / 2 = 0 (up to the discretisation). It is the multiplier of the continuity
        constraint (divided by 2, since the cost has no 1/2), recovered from the last dual iterate by a least-
        squares Poisson solve. Meaningful where the density is positive (elsewhere the dual is not determined).
    history : dict
        1-D arrays, one entry per check: "cost" (W2^2 estimate), "continuity" (the primal residual: relative
        distance between the centred pair used in the cost and the interpolation of a pair satisfying the
        discrete continuity equation exactly), "stationarity" (the dual residual: the relative part of I* y
        that is not a gradient, zero at a saddle point), "gap" (the relative duality gap |J(U) - <y, I V>| / J(U)
        between the cost of the centred pair U and the Lagrangian at the staggered V, which satisfies the
        discrete continuity equation; y is the dual point), "change" (relative change of the cost; not used to
        stop), "step" (the step in force at the check: sigma for primal-dual, gamma for Douglas–Rachford).
    converged : bool
        Both KKT residuals and the duality gap below their tolerances at two consecutive checks before max_iter
        (the complementarity holds by construction: the dual point is a subgradient of the cost at the primal
        one).
    status : str
        "converged", or why not (max_iter reached, with the residuals and their tolerances).
    iterations, seconds: work done.
    extras : dict
        "coarse_iterations" and "float32_iterations" (see ``multilevel`` and ``dtype``), and "newton": the Newton
        steps of the finest level's perspective proxes (a NewtonCount: calls, steps in all, most in one call;
        with warm starts about 2 per call).

    Notes
    -----
    Sign of the densities: density[0] and density[-1] are rho0 and rho1 (>= 0). The other levels of ``density``
    and ``centred_density`` come from the projection onto the discrete continuity equation, which has no sign
    constraint (non-negativity holds for the centred copy the cost is evaluated on, which is not returned): they
    may be slightly negative where the exact density is about 0 (the tails). The negative part is bounded by
    the continuity residual r = history["continuity"][-1] (that of the returned iterate). Exactly, up to
    round-off: ||min(centred_density, 0)||_2 <= r * sqrt(||centred_density||_2^2 + ||momentum||_2^2 / L^2),
    sums over all space-time cells, L the largest box side. Measured: min(density) >= -12 r max(density)
    (DENSITY_NEGATIVITY_FACTOR; 1D Gaussians, 32-128 cells, both methods: up to 10.6 r). With the default
    stopping tests the negative values stay within 2e-3 max(density), usually 1e-4 to 5e-4 of it. Clip with
    np.maximum(density, 0) where a sign is needed.
    """

    w2_squared: float
    w2: float
    density: np.ndarray
    momentum: np.ndarray
    momentum_faces: tuple
    centred_density: np.ndarray
    history: dict
    converged: bool
    iterations: int
    potential: np.ndarray
    seconds: float
    grid: Grid
    time_steps: int
    method: str
    boundary: str
    gamma: float
    status: str = "converged"
    extras: dict = field(default_factory=dict)

    @property
    def potential_times(self) -> np.ndarray:
        """Times of ``potential`` and ``gradient``: (j + 1/2) / time_steps."""
        return (np.arange(self.time_steps) + 0.5) / self.time_steps

    @property
    def gradient(self) -> np.ndarray:
        """grad phi at (t_{j+1/2}, cell centres), shape (time_steps, *shape, d): second-order central differences
        of ``potential`` (one-sided at walls, wrapped when periodic). At convergence it is the velocity m / rho
        where the density is positive."""
        out = []
        for a, h in enumerate(self.grid.spacing):
            axis = a + 1
            if self.boundary == "periodic":
                out.append((np.roll(self.potential, -1, axis) - np.roll(self.potential, 1, axis)) / (2.0 * h))
            elif self.potential.shape[axis] > 2:
                out.append(np.gradient(self.potential, h, axis=axis, edge_order=2))
            else:
                out.append(np.gradient(self.potential, h, axis=axis, edge_order=1))
        return np.stack(out, axis=-1)

    def brenier_map(self) -> np.ndarray:
        """The optimal map T(x) = x + grad phi(0, x) at the cell centres, shape (*shape, d) (particles move on
        straight lines at the velocity they start with). grad phi(0, .) is extrapolated to second order from
        the first two time centres. Periodic boxes: T is the displacement in the covering space (not wrapped).
        Meaningful where rho0 > 0."""
        g = self.gradient
        return self.grid.centers() + 1.5 * g[0] - 0.5 * g[1]

    @property
    def times(self) -> np.ndarray:
        """Times of ``density``: j / time_steps, j = 0..time_steps."""
        return np.linspace(0.0, 1.0, self.time_steps + 1)

    def velocity(self, t: float, threshold: float = 1e-3) -> np.ndarray:
        """Velocity m / rho at time t on the cell centres, shape (*shape, d).

        Linear interpolation in time between the centred levels t_{j+1/2} (constant before the first and after
        the last). Cells where rho < threshold * max(rho) get velocity 0 (the velocity is undefined where there
        is no mass).
        """
        t = check_real("t", t)
        threshold = check_nonnegative("threshold", threshold)
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must lie in [0, 1], got {t}")
        P = self.time_steps
        s = min(max(t * P - 0.5, 0.0), P - 1.0)
        j = min(int(math.floor(s)), P - 2)
        w = s - j
        rho = (1 - w) * self.centred_density[j] + w * self.centred_density[j + 1]
        m = (1 - w) * self.momentum[j] + w * self.momentum[j + 1]
        cut = threshold * float(self.centred_density.max())
        keep = rho > cut
        v = np.zeros_like(m)
        v[keep] = m[keep] / rho[keep][:, None]
        return v


def benamou_brenier(
    grid: Grid,
    rho0: Any,
    rho1: Any,
    time_steps: int,
    *,
    method: str = "primal-dual",
    max_iter: int = 20_000,
    tol: float | None = None,
    residual_tol: float | None = None,
    gap_tol: float | None = None,
    backend: "str | Backend" = "numpy",
    normalize: bool = False,
    boundary: str = "zero-flux",
    gamma: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    relaxation: float = DEFAULT_RELAXATION,
    workers: int | None = 1,
    check_every: int = 10,
    multilevel: bool = False,
    dtype: Any = None,
    step_rule: str = "adaptive",
) -> BBResult:
    """W2 geodesic between two grid densities by proximal splitting (PPO 2014).

    Parameters
    ----------
    grid : Grid of the space box (1-3 D); rho0, rho1 : cell averages, shape grid.shape, >= 0, finite, real.
    time_steps : P >= 2 time steps on [0, 1].
    method : "primal-dual" (default: over-relaxed Chambolle–Pock, 2-4x fewer iterations to the same accuracy in
        the report's cases) or "douglas-rachford" (PPO's Algorithm 1).
    max_iter : iteration cap; reaching it gives ``converged=False`` and says so in ``status``.
    tol : tolerance of the dual (stationarity) residual, history["stationarity"]: the relative part of I* y that
        is not a gradient, y the dual point (a subgradient of the cost at the primal point, so the
        complementarity condition holds by construction). At a saddle point it is 0. Default (None):
        0.02 h^2 / d with h the smallest normalised step (cells per box side, time steps on [0, 1]): the
        density error from stopping early is then measured at half the discretisation error or less (1D
        Gaussians with 32-128 cells, 2D 32^2x16 and 64^2x32; its ratio to the residual is about 200 in 1D and
        400 in 2D, whatever the grid, while the discretisation error falls as h^2).
    residual_tol : tolerance of the primal residual, history["continuity"]; default (None) 10 tol.
    gap_tol : tolerance of the relative duality gap, history["gap"]: |J(U) - <y, I V>| / J(U), which equals
        |<y, U - I V>| / J(U) (J(U) = <y, U>: J is 1-homogeneous and y a subgradient at U), the first-order error
        of the cost evaluated on the centred pair U, which does not satisfy the continuity equation exactly.
        Once the stationarity residual is small too, the returned W2^2 lies within about 1.3 gap_tol (relative)
        of the discrete optimum (1D and 2D Gaussians: gap / |W2^2 - optimum| = 0.75 to 0.85). Default (None):
        max(5 tol, 1e-5) for primal-dual (5 tol = 0.1 h^2 / d, below the discretisation error of W2^2, about
        0.7 h^2 relative for the 1D Gaussians; the floor because the gap can stall near 1e-5 where the density
        vanishes); none (inf) for Douglas–Rachford, whose gap falls slowly (bb-anisotropic-2d: 5 430 iterations
        with it instead of 2 040). All three tests must hold at two consecutive checks (``check_every``
        iterations apart). With the defaults the 1D 64x64 Gaussian case has its t = 1/2 density within 5e-3 of
        McCann's in L1 (measured 2.4e-3) and its W2^2 1.88e-4 from the exact value (relative; the
        discretisation error is 1.68e-4; without the gap test 2.50e-4).
    backend : "numpy" or "cupy" (or a Backend).
    normalize : rescale rho0 and rho1 to unit mass; otherwise their masses must agree (rtol 1e-8).
    boundary : "zero-flux" (walls) or "periodic" (every space axis).
    gamma : proximal step (DR) or dual step sigma (PD; the primal step is tau = 0.99 / sigma) in normalised units
        (densities of mean 1, box side 1), within [1e-8, 1e8]; default ``default_gamma(method, d)``. With
        step_rule="adaptive" it is the first sigma. alpha : DR relaxation in (0, 2) (PD ignores it).
    relaxation : primal-dual over-relaxation rho in (0, 2) (Condat 2013; 1 is plain Chambolle–Pock, which
        needs no copies of the iterates; DR ignores it).
    workers : threads for scipy.fft (NumPy backend). check_every : evaluate the stopping tests every k steps.
    dtype : "mixed", "float64" or "float32": storage of the iterates; default (None) "mixed" on NumPy and
        "float64" on other backends (on a GPU the iteration is launch-bound and float32 gains little: H100, 2D
        256^2x64, 5.9 ms float64 vs 4.2 ms float32 per iteration; both are tested there). float32 halves the
        memory traffic that bounds an iteration (2D 64^2x32 on the 2-core CPU: 5.8 instead of 11.8 ms, the
        same W2^2 and density errors); costs and norms are still summed in float64, but the discrete
        continuity equation then holds to float32 round-off (2e-5 to 1.1e-4 relative, measured over OpenBLAS's
        CPU kernels) instead of 1e-13, and the tolerances are raised to at least FLOAT32_TOL.
        "mixed" iterates in float32 until the stopping tests hold at (max(tol, 1e-5), max(residual_tol,
        1e-4), max(gap_tol, 1e-5)) (FLOAT32_TOL: float32 round-off stalls the dual residual near 4e-6; it is
        measured in float64),
        then continues the same iteration (its full state and stopping history) in float64 to (tol,
        residual_tol): float64 results (continuity to round-off) at close to float32 speed. ``iterations`` and
        ``history`` cover both phases and extras["float32_iterations"] counts the first; max_iter caps the
        total, the last 2 * check_every iterations being reserved for float64 (with max_iter <= 2 *
        check_every, "mixed" is float64).
    step_rule : primal-dual steps: "adaptive" (default) balances the residuals by changing sigma (with sigma tau
        fixed) after each check, as in Goldstein, Esser and Baraniuk's adaptive primal-dual hybrid gradient
        (2013/2015): after each check that does not stop the run, with s the stationarity residual over tol and
        p the larger of the continuity residual and the gap over theirs, sigma falls when s > 1.5 p and rises
        when p > 1.5 s, by a factor 1 - a with a = 0.5 shrinking by 0.95 at each change (so the steps settle and
        convergence is that of a fixed step), within 10 times of its start; history["step"] records it. The gap
        needs it: with the default tolerances the 2D 64^2x32 Gaussian case converges in 1 610 iterations
        instead of 6 270 with the fixed step. "fixed" keeps sigma = gamma. DR ignores it.
    multilevel : coarse-to-fine warm start: while every size (cells per axis and time steps) is even and
        >= 32, first solve on the grid with half the cells and time steps (block-averaged densities), then
        start from its solution, interpolated and projected onto the fine constraint. The history, iterations
        and converged flag are those of the finest level; extras["coarse_iterations"] lists the others
        (each capped at COARSE_MAX_ITER). Only the primal iterate is carried over. It saves iterations on
        smooth problems with walls (1D 64x64 Gaussians: Douglas–Rachford 1 470 instead of 2 940) but can cost
        more on others (periodic tent and smooth cases at tol=1e-6: 2.4 to 3.5 times more): docs/theory.md.

    The returned densities are not sign-constrained: see BBResult for the bound on their negative part.
    Arguments are checked up front (TypeError for complex densities or parameters, ValueError otherwise); a run
    whose arrays (about BB_WORK_ARRAYS[dtype] float64 copies of the (time_steps + 1) x cells x (d + 1) unknowns)
    would exceed the memory cap raises MemoryLimitError before allocating.
    """
    be = get_backend(backend)
    xp = be.xp
    check_grid(grid)
    P = check_steps(time_steps, "time_steps (number of time steps on [0, 1])", 2)
    if not isinstance(method, str) or method not in METHODS:
        check_choice("method", method, METHODS)
    if not isinstance(boundary, str) or boundary not in BOUNDARIES:
        check_choice("boundary", boundary, BOUNDARIES)
    check_steps(max_iter, "max_iter")
    check_steps(check_every, "check_every")
    tol = default_tol(grid, P) if tol is None else check_nonnegative("tol", tol)
    residual_tol = 10.0 * tol if residual_tol is None else check_nonnegative("residual_tol", residual_tol)
    if gap_tol is None:
        gap_tol = max(GAP_TOL_FACTOR * tol, GAP_TOL_FLOOR) if method == "primal-dual" else math.inf
    else:
        gap_tol = check_nonnegative("gap_tol", gap_tol)
    if not isinstance(step_rule, str) or step_rule not in STEP_RULES:
        check_choice("step_rule", step_rule, STEP_RULES)
    adaptive = step_rule == "adaptive"
    normalize = check_bool("normalize", normalize)
    multilevel = check_bool("multilevel", multilevel)
    if workers is not None:
        if isinstance(workers, (bool, np.bool_)) or not isinstance(workers, (int, np.integer)):
            raise TypeError(f"workers must be None or a non-zero integer (threads for scipy.fft), got {workers!r}")
        if workers == 0 or abs(workers) > MAX_WORKERS:
            raise ValueError(f"workers must be None or a non-zero integer of size at most {MAX_WORKERS} (threads for "
                             f"scipy.fft, -1: all cores), got {workers}")
    alpha = check_real("alpha", alpha)
    if not 0.0 < alpha < 2.0:
        raise ValueError(f"alpha must lie in (0, 2), got {alpha}")
    relaxation = check_real("relaxation", relaxation)
    if not 0.0 < relaxation < 2.0:
        raise ValueError(f"relaxation must lie in (0, 2), got {relaxation}")
    if dtype is None:
        dtype = "mixed" if be.name == "numpy" else "float64"
    try:
        dtype = str(np.dtype(dtype) if isinstance(dtype, type) else dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be one of {DTYPES} (or None), got {dtype!r}") from exc
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES} (or None), got {dtype!r}")
    if dtype == "mixed" and max_iter <= 2 * check_every:
        dtype = "float64"  # no room for a float32 phase
    mixed = dtype == "mixed"
    if gamma is None:
        gamma = default_gamma(method, grid.dim)
    gamma = check_positive("gamma", gamma)
    if not GAMMA_RANGE[0] <= gamma <= GAMMA_RANGE[1]:
        raise ValueError(f"gamma must lie in [{GAMMA_RANGE[0]:g}, {GAMMA_RANGE[1]:g}] (normalised units; the "
                         f"defaults are 0.25 to 9), got {gamma:g}: beyond it the proximal cubic overflows single "
                         "precision and the splitting stalls")
    unknowns = 8.0 * (P + 1) * grid.size * (grid.dim + 1)  # one float64 copy of (rho, m) on the space-time grid
    what = f"benamou_brenier on {grid.size} cells x {P + 1} time levels (dtype {dtype!r})"
    fix = "use fewer time_steps or cells" + (", or dtype='float32'" if dtype != "float32" else "")
    check_memory(unknowns * (BB_RESULT_ARRAYS if be.name != "numpy" else BB_WORK_ARRAYS[dtype]), what, fix)
    if be.name != "numpy":
        check_memory(unknowns * BB_WORK_ARRAYS[dtype], what, fix, be)
    r0 = check_density(grid, rho0, "rho0")
    r1 = check_density(grid, rho1, "rho1")
    cell = grid.cell_volume
    m0, m1 = float(r0.sum()) * cell, float(r1.sum()) * cell
    if normalize:
        r0, r1 = r0 / m0, r1 / m1
        m0 = m1 = 1.0
    elif abs(m0 - m1) > 1e-8 * max(m0, m1):
        raise ValueError(
            f"rho0 and rho1 have different masses ({m0!r} and {m1!r}); optimal transport needs equal masses: "
            "rescale them or pass normalize=True"
        )
    # Normalised units: density mean 1, largest side 1.
    box = [u - l for l, u in zip(grid.lower, grid.upper)]
    length = max(box)
    mean_density = m0 / float(np.prod(box))
    spacing = tuple(h / length for h in grid.spacing)

    def fine_grid(dtype: str) -> StaggeredGrid:
        return StaggeredGrid(tuple(grid.shape), spacing, P, boundary == "periodic", xp, be.fft, workers, dtype=dtype)

    data = (be.asarray(r0 / mean_density), be.asarray(r1 / mean_density))  # float64, normalised units
    sg = fine_grid("float32" if mixed else dtype)
    a0, a1 = (a.astype(sg.dtype) for a in data)
    weight = sg.dt * float(np.prod(spacing))  # cost = weight * J(U)
    to_user = mean_density * length ** (grid.dim + 2)  # W2^2 (user units) = to_user * weight * J

    start = time.perf_counter()
    levels = [(sg, a0, a1)]
    while multilevel and can_coarsen(levels[-1][0].space_shape, levels[-1][0].time_steps):
        fine, b0, b1 = levels[-1]
        coarse = StaggeredGrid(tuple(n // 2 for n in fine.space_shape), tuple(2 * h for h in fine.spacing),
                               fine.time_steps // 2, fine.periodic, xp, be.fft, workers, dtype=sg.dtype)
        levels.append((coarse, restrict_density(b0), restrict_density(b1)))
    V_init = None
    coarse_iterations = []
    for level, (g, b0, b1) in reversed(list(enumerate(levels))):
        if V_init is not None:
            V_init = prolong_staggered(g, V_init)
        w = g.dt * float(np.prod(g.spacing))
        cap = max_iter if level == 0 else min(max_iter, COARSE_MAX_ITER)
        if mixed and level == 0:
            cap -= 2 * check_every  # reserved for the float64 phase
        single = mixed or dtype == "float32"
        tols = (max(tol, FLOAT32_TOL[0]), max(residual_tol, FLOAT32_TOL[1]), max(gap_tol, FLOAT32_TOL[2])) \
            if single else (tol, residual_tol, gap_tol)
        if method == "douglas-rachford":
            state = _douglas_rachford(g, b0, b1, gamma, alpha, cap, tols, w, check_every, V_init)
        else:  # a finer level starts from the coarser one's last step
            sigma = gamma if level == len(levels) - 1 else state[5][2]
            state = _primal_dual(g, b0, b1, sigma, relaxation, cap, tols, w, check_every, V_init,
                                 adaptive=adaptive)
        V_init = state[0]
        if level > 0:
            coarse_iterations.append(state[4])
    float32_iterations = None
    newton = NewtonCount()
    newton += sg.scratch.newton
    if mixed:  # continue the same iteration in float64 from the float32 state, to the user's stopping tests
        float32_iterations, history32 = state[4], state[2]
        sg = fine_grid("float64")
        b0, b1 = data
        cap = max_iter - float32_iterations
        if method == "douglas-rachford":
            state = _douglas_rachford(sg, b0, b1, gamma, alpha, cap, (tol, residual_tol, gap_tol), weight,
                                      check_every, resume=state[5], history=history32)
        else:
            state = _primal_dual(sg, b0, b1, gamma, relaxation, cap, (tol, residual_tol, gap_tol), weight,
                                 check_every, resume=state[5], history=history32, adaptive=adaptive)
        state = state[:4] + (float32_iterations + state[4],) + state[5:]
        newton += sg.scratch.newton
    V, U, history, converged, iterations, _, ydual = state
    seconds = time.perf_counter() - start

    cost = weight * perspective_cost(U[0], U[1:], xp) * to_user
    if not math.isfinite(cost):
        raise NumericalError("Benamou–Brenier: the final cost is not finite (iteration diverged)")
    IV = sg.interpolate(V)
    scale_m = mean_density * length  # momentum units: density * length / time
    to_np = lambda a: be.to_numpy(a).astype(np.float64)  # noqa: E731
    density = to_np(V[0]) * mean_density
    density[0], density[-1] = r0, r1  # the boundary data, exactly
    momentum = np.stack([to_np(c) for c in IV[1:]], axis=-1) * scale_m
    faces = tuple(to_np(c) * scale_m for c in V[1:])
    hist = {k: np.asarray(v, dtype=float) for k, v in history.items()}
    hist["cost"] = hist["cost"] * to_user
    # phi = lambda / 2 (the cost has no 1/2), from normalised units (box side 1) to the caller's: length^2
    potential = to_np(sg.potential(ydual)) * (0.5 * length**2)
    status = "converged" if converged else (
        f"max_iter={max_iter} reached: stationarity {hist['stationarity'][-1]:.3g} (tol {tol:g}), continuity "
        f"{hist['continuity'][-1]:.3g} (residual_tol {residual_tol:g}), gap {hist['gap'][-1]:.3g} (gap_tol "
        f"{gap_tol:g}); raise max_iter or use multilevel=True")
    return BBResult(
        w2_squared=cost,
        w2=math.sqrt(cost),
        density=density,
        momentum=momentum,
        momentum_faces=faces,
        centred_density=to_np(IV[0]) * mean_density,
        history=hist,
        converged=converged,
        iterations=iterations,
        potential=potential,
        seconds=seconds,
        grid=grid,
        time_steps=P,
        method=method,
        boundary=boundary,
        gamma=float(gamma),
        status=status,
        extras={"coarse_iterations": coarse_iterations, "float32_iterations": float32_iterations,
                "newton": newton},
    )


# ------------------------------------------------------------------------------------------------------------
def _initial_guess(sg: StaggeredGrid, a0: Any, a1: Any, V_init: Any = None) -> list:
    """V_init (or the linear interpolation of the densities in time, zero momentum) projected onto C."""
    if V_init is not None:
        return sg.project_continuity(V_init, a0, a1)
    xp = sg.xp
    V = sg.zeros_staggered()
    t = xp.linspace(0.0, 1.0, sg.time_steps + 1).reshape((-1,) + (1,) * sg.dim)
    V[0][...] = (1 - t) * a0[None] + t * a1[None]
    return sg.project_continuity(V, a0, a1)


def _norm(arrays: list, xp: Any) -> float:
    return math.sqrt(sum(float(xp.sum(a * a, dtype=xp.float64)) for a in arrays))


def _stationarity(sg: StaggeredGrid, y: list) -> float:
    """Relative dual residual ||P (I* y)|| / ||I* y|| on the free unknowns, P the projection onto the kernel of the
    discrete divergence: at a saddle point I* y is a gradient D^T lambda (the KKT condition of V), so P I* y = 0."""
    s = sg.free_adjoint(y)   # in float64: float32 round-off in the projection would floor the residual at ~1e-5
    size = _norm(s, sg.xp)
    tangent = sg.float64_twin().project_continuity(s, 0.0, 0.0, out=s)
    return _norm(tangent, sg.xp) / max(size, 1e-300)


def _stopping(sg: StaggeredGrid, U: list, V: list, weight: float, history: dict, tols: tuple, y: list) -> bool:
    """Record the cost, the primal (continuity) residual of the centred pair U used in the cost against the
    staggered V (which satisfies the discrete continuity equation), the dual (stationarity) residual of the dual
    point y, and the relative change of the cost (recorded only); True when both residuals were below their
    tolerances at this check and the previous one (an oscillating iterate can pass one check by chance)."""
    xp = sg.xp
    cost = weight * perspective_cost(U[0], U[1:], xp)
    IV = sg.interpolate(V)
    residual = _norm([a - b for a, b in zip(U, IV)], xp) / max(_norm(IV, xp), 1e-300)
    previous = history["cost"][-1] if history["cost"] else math.inf
    change = abs(cost - previous) / max(abs(cost), 1e-300) if math.isfinite(previous) else math.inf
    history["cost"].append(cost)
    history["continuity"].append(residual)
    history["change"].append(change)
    history["stationarity"].append(_stationarity(sg, y))
    # relative duality gap: J(U) = <y, U> (y is a subgradient of the 1-homogeneous J at U) and <y, I V> is the
    # Lagrangian at the feasible V, so J(U) - <y, I V> = <y, U - I V> is the cost's first-order error
    gap = weight * sum(float(xp.sum(c * (u - v), dtype=xp.float64)) for c, u, v in zip(y, U, IV))
    history["gap"].append(abs(gap) / max(abs(cost), 1e-300))
    if not math.isfinite(cost) and cost != math.inf:
        raise NumericalError("Benamou–Brenier: NaN in the cost (iteration diverged)")
    tol, residual_tol, gap_tol = tols
    passed = [d <= tol and r <= residual_tol and g <= gap_tol
              for d, r, g in zip(history["stationarity"][-2:], history["continuity"][-2:], history["gap"][-2:])]
    return len(passed) == 2 and all(passed)


def _new_history() -> dict:
    return {"cost": [], "continuity": [], "change": [], "stationarity": [], "gap": [], "step": []}


def _balance(sigma: float, alpha: float, history: dict, tols: tuple, bounds: tuple) -> tuple[float, float]:
    """Residual balancing of the primal-dual steps (Goldstein, Esser, Baraniuk, "Adaptive primal-dual hybrid
    gradient methods", 2013/2015, with sigma tau fixed): compare the dual residual s = stationarity / tol with the
    primal ones p = max(continuity / residual_tol, gap / gap_tol). If s > BALANCE_DELTA p the primal iterate lags:
    sigma <- sigma (1 - alpha) (so tau = 0.99 / sigma grows); if p > BALANCE_DELTA s, sigma <- sigma / (1 - alpha);
    each change multiplies alpha by BALANCE_DECAY, so the steps settle (alpha -> 0) and the iteration converges
    as a fixed-step one from then on. sigma stays within ``bounds``. Returns (sigma, alpha)."""
    tol, residual_tol, gap_tol = tols
    s = history["stationarity"][-1] / max(tol, 1e-300)
    p = max(history["continuity"][-1] / max(residual_tol, 1e-300), history["gap"][-1] / max(gap_tol, 1e-300))
    if s > BALANCE_DELTA * p:
        new = sigma * (1.0 - alpha)
    elif p > BALANCE_DELTA * s:
        new = sigma / (1.0 - alpha)
    else:
        return sigma, alpha
    new = min(max(new, bounds[0]), bounds[1])
    return (new, alpha * BALANCE_DECAY) if new != sigma else (sigma, alpha)


def _douglas_rachford(sg, a0, a1, gamma, alpha, max_iter, tols, weight, check_every, V_init=None,
                      resume=None, history=None):
    """PPO Alg. 1 on z = (U_z, V_z), in place on preallocated arrays:

    x = prox_{gamma G2}(z) (projection onto {U = I V});  y = prox_{gamma G1}(2 x - z) (cubic prox of J on U,
    projection onto the continuity constraint on V);  z <- z + alpha (y - x).
    ``resume``: the iterate (V_z, U_z) of an earlier run to continue from (e.g. in another precision), and
    ``history`` its stopping-test history (appended to).
    Returns (V_y, U_y, history, converged, iterations, (V_z, U_z), y) with y = (w - prox(w)) / gamma, the dual
    point of the last check.
    """
    xp = sg.xp
    if resume is not None:
        Vz = [xp.asarray(v, dtype=sg.dtype) for v in resume[0]]
        Uz = [xp.asarray(u, dtype=sg.dtype) for u in resume[1]]
    else:
        Vz = _initial_guess(sg, a0, a1, V_init)
        Uz = sg.interpolate(Vz)
    Ux, Uy, Uw = sg.zeros_centred(), sg.zeros_centred(), sg.zeros_centred()
    Vx, Vy = sg.zeros_staggered(), sg.zeros_staggered()
    history = history if history is not None else _new_history()
    converged = False
    it = 0
    guess = None
    for it in range(1, max_iter + 1):
        # x: V_x = (Id + I* I)^-1 (V_z + I* U_z), U_x = I V_x
        sg.interpolate_adjoint(Uz, out=Vx)
        for x, v in zip(Vx, Vz):
            x += v
        sg.solve_interpolation(Vx, out=Vx)
        sg.interpolate(Vx, out=Ux)
        # y: reflected point 2 x - z, then the two proximal maps
        for w, x, z in zip(Uw, Ux, Uz):
            xp.multiply(x, 2.0, out=w)
            w -= z
        prox_perspective(Uw[0], Uw[1:], gamma, xp, guess=guess, scratch=sg.scratch, out=Uy)
        guess = Uy[0]
        check = it % check_every == 0 or it == max_iter
        if check:  # the dual point (w - prox(w)) / gamma, a subgradient of J at U_y
            ydual = [(w - u) / gamma for w, u in zip(Uw, Uy)]
        for y, x, z in zip(Vy, Vx, Vz):
            xp.multiply(x, 2.0, out=y)
            y -= z
        sg.project_continuity(Vy, a0, a1, out=Vy)
        # z <- z + alpha (y - x)
        for z, y, x in zip(Uz, Uy, Ux):
            xp.subtract(y, x, out=x)
            x *= alpha
            z += x
        for z, y, x in zip(Vz, Vy, Vx):
            xp.subtract(y, x, out=x)
            x *= alpha
            z += x
        if check:
            history["step"].append(gamma)
        if check and _stopping(sg, Uy, Vy, weight, history, tols, ydual):
            converged = True
            break
    return Vy, Uy, history, converged, it, (Vz, Uz), ydual


def _primal_dual(sg, a0, a1, sigma, relaxation, max_iter, tols, weight, check_every, V_init=None,
                 resume=None, history=None, adaptive=False):
    """Chambolle–Pock on min_V J(I V) + i_C(V) (theta = 1) with over-relaxation rho (Condat 2013), in place on
    preallocated arrays; the dual variable is stored as W = U / sigma so that no step rescales it:

    V~ = P_C(V - tau sigma I* W);  w = W + I (2 V~ - V);  W~ = w - prox_{J / sigma}(w)   (Moreau)
    (V, W) <- (V, W) + rho ((V~, W~) - (V, W))      (rho = 1: plain Chambolle–Pock, no copies).
    The prox momenta need no arrays of their own: w_m - p_m = w_m 2 gamma / (r + 2 gamma), gamma = 1 / sigma,
    and I (2 V~ - V) = 2 I H with H = V~ - V / 2.
    ``adaptive``: after each check, balance the residuals by changing sigma (tau = 0.99 / sigma), see _balance;
    W is rescaled so that the dual point y = sigma W is unchanged.
    ``resume``: the state (V, W, sigma, alpha) of an earlier run to continue from (e.g. in another precision; V is
    projected onto the constraint again; its sigma replaces the argument), and ``history`` its stopping-test
    history (appended to).
    Returns (V, U, history, converged, iterations, (V, W, sigma, alpha), y) with y = sigma W~ at the last check.
    """
    xp = sg.xp
    alpha = BALANCE_ALPHA
    bounds = (max(sigma / SIGMA_SPREAD, GAMMA_RANGE[0]), min(sigma * SIGMA_SPREAD, GAMMA_RANGE[1]))
    if resume is not None:
        sigma, alpha = resume[2], resume[3]
    gamma = 1.0 / sigma
    tau = 0.99 / sigma  # sigma * tau * ||I||^2 < 1 since ||I|| <= 1
    relaxed = relaxation != 1.0
    if resume is not None:
        V = _initial_guess(sg, a0, a1, [xp.asarray(v, dtype=sg.dtype) for v in resume[0]])
        W = [xp.asarray(w, dtype=sg.dtype) for w in resume[1]]
    else:
        V = _initial_guess(sg, a0, a1, V_init)
        W = sg.zeros_centred()
    H = sg.zeros_staggered()
    Vt = sg.zeros_staggered() if relaxed else V
    W_old = sg.zeros_centred() if relaxed else None
    g = sg.scratch.get("pd_factor", sg.cell_shape)
    history = history if history is not None else _new_history()
    converged = False
    it = 0
    r = None
    primal = None
    for it in range(1, max_iter + 1):
        check = it % check_every == 0 or it == max_iter
        # primal step V~ = P_C(V - tau sigma I* W) (in place on V when not relaxed)
        for h, v, vt in zip(H, V, Vt):
            xp.multiply(v, -0.5, out=h)
            if relaxed:
                xp.copyto(vt, v)
        sg.add_interpolation_adjoint(W, Vt, scale=-tau * sigma)
        sg.project_continuity(Vt, a0, a1, out=Vt)
        for h, vt in zip(H, Vt):
            h += vt                                  # H = V~ - V / 2
        # dual step W~ = w - prox(w), w = W + I (2 V~ - V)
        if relaxed:
            for wo, wc in zip(W_old, W):
                xp.copyto(wo, wc)
        sg.add_interpolation_sum(H, W)
        if check:
            w = [c.copy() for c in W]
        r = perspective_root(W[0], W[1:], gamma, xp, guess=r, scratch=sg.scratch)
        W[0] -= r
        xp.add(r, 2.0 * gamma, out=g)
        xp.divide(2.0 * gamma, g, out=g)
        for Wc in W[1:]:
            Wc *= g
        if check:  # the prox output and the dual point sigma W~ = (w - prox(w)) / gamma, a subgradient of J there
            primal = [wc - Wc for wc, Wc in zip(w, W)]
            ydual = [sigma * c for c in W]
        if relaxed:
            for wc, wo in zip(W, W_old):
                wc -= wo
                wc *= relaxation
                wc += wo
            for v, vt in zip(V, Vt):
                vt -= v
                vt *= relaxation
                v += vt
        if check:
            history["step"].append(sigma)
        if check and _stopping(sg, primal, V, weight, history, tols, ydual):
            converged = True
            break
        if check and adaptive:
            new_sigma, alpha = _balance(sigma, alpha, history, tols, bounds)
            if new_sigma != sigma:
                for c in W:
                    c *= sigma / new_sigma
                sigma = new_sigma
                gamma = 1.0 / sigma
                tau = 0.99 / sigma
                # the last root stays a valid Newton start (any start >= 0 converges, see perspective_root)
    return V, primal, history, converged, it, (V, W, sigma, alpha), ydual
