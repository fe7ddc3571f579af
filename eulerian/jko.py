"""Wasserstein gradient flows on the grid: JKO steps by the Benamou–Brenier proximal machinery.

One JKO (minimizing-movement) step of length tau from a density rho_k solves

    rho_{k+1} = argmin_rho  W2^2(rho_k, rho) / (2 tau) + F(rho),
    F(rho) = int V rho dx + D int rho log rho dx + int g(rho) dx,      g(s) = c s^m / (m - 1)  (optional),

whose limit tau -> 0 is the gradient flow d rho/dt = div(rho grad(V + D log rho + g'(rho))), i.e. the
Fokker–Planck equation d rho/dt = div(rho grad V) + D Lap rho (plus c Lap rho^m with the power energy).

Formulation (the dynamic JKO problem of Benamou, Carlier, Laborde, "An augmented Lagrangian approach to
Wasserstein gradient flows and applications", ESAIM Proc. 54 (2016), which solve it by ALG2; also the starting
point of Carrillo, Craig, Wang, Wei, "Primal dual methods for Wasserstein gradient flows", FoCM 22 (2022), who
use a three-operator primal-dual splitting; equation numbers of those papers not checked here): with Benamou–Brenier
time on [0, 1] and W2^2 = min int_0^1 int |m|^2 / rho (no 1/2, as in eulerian.benamou_brenier),

    min_{(rho, m)}  int_0^1 int |m|^2 / rho dx dt + 2 tau F(rho(1))                                    (*)
    subject to  d_t rho + div m = 0,  rho(0) = rho_k,  zero flux at walls (or periodic space),

whose end-time density rho(1) is rho_{k+1}; (*) is the JKO objective times 2 tau.

Discretisation: that of eulerian.benamou_brenier (staggered (rho, m) satisfying the discrete continuity equation
exactly, centred copy U = I V carrying the perspective cost), except that the last time level rho_s[P] is an
unknown, and F acts cell by cell on it. In normalised units (density mean 1, box side 1; see
benamou_brenier) the discrete problem is

    min_V  J(I V) + kappa sum_i f_i(rhobar E V_i) + i_{C'}(V),      kappa = 2 tau / (rhobar L^2 dt),

E V = rho_s[P], f_i(s) = V_i s + D s log s + g(s), rhobar the mean density, L the largest box side, and C' the
discrete continuity constraint with rho_s[0] = rho_k only. It is solved by the over-relaxed Chambolle–Pock
iteration of benamou_brenier's ``method="primal-dual"`` (PPO §4.2, Condat 2013) with K = (I, E): the primal
step is the projection onto C' (a space–time Poisson solve with Neumann condition at t = 0 and the free end at
t = 1: transforms in space, a tridiagonal recursion along time); the dual step is the cubic prox of J on the
centred cells and the prox of kappa f on the end level (a safeguarded Newton iteration per cell, on log rho
when D > 0). The dual step of the end block is sigma / 2 (diagonal preconditioning, Pock–Chambolle 2011:
||Sigma^(1/2) K||^2 <= sigma since the row sums of I* I are at most 1/2 at the end level).

Stopping: the KKT residuals of benamou_brenier: the primal (continuity) residual — relative distance between
the prox outputs (U, rho_end) and (I V, E V) — and the dual (stationarity) residual — the relative part of
K* y that is not in the range of the transposed constraint, relative to |K* y| or at least to the end dual that
the energy's slope alone gives — both below their tolerances at two consecutive checks. C' fixes the mass of the
end level, so a constant added to f' changes nothing: the end block works with f' less its rho_k-weighted mean,
which keeps its dual near 0 in any units of rho (a density of mean 1e-200 steps as one of mean 1).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validate import (check_bool, check_choice, check_density, check_grid, check_memory, check_nonnegative,
                        check_positive, check_real, check_steps, reject_complex)
from .backend import Backend, get_backend, to_host
from .benamou_brenier import BB_WORK_ARRAYS, DEFAULT_RELAXATION, default_tol
from .errors import NumericalError
from .grid import Grid
from .staggered import (NewtonCount, StaggeredGrid, _neumann_path_factor, _solve_neumann_path,
                        perspective_cost, perspective_root)

__all__ = ["PowerEnergy", "JKOStepResult", "JKOFlowResult", "FreeEndGrid", "jko_step", "jko_flow", "free_energy",
           "DEFAULT_TIME_STEPS", "DEFAULT_SIGMA", "MAX_STEPS"]

BOUNDARIES = ("zero-flux", "periodic")
ON_FAILURE = ("raise", "return")
DEFAULT_TIME_STEPS = 8      # inner Benamou–Brenier time steps of one JKO step
DEFAULT_SIGMA = 0.2         # dual step (normalised units); see jko_step
LOG_FLOOR = -700.0          # log of the smallest end density the entropy prox resolves (exp(-700) ~ 1e-304)
NEWTON_MAX = 200
END_DUAL_RATIO = 0.5     # dual step of the end block / sigma (<= 1/2 keeps the primal step 0.99 / sigma)
MAX_STEPS = 100_000      # default cap on the number of JKO steps t_final / tau of jko_flow (max_steps=)
WEIGHT_MAX = 1e300       # largest weight of the end-time energy the prox handles without overflowing float64


# ------------------------------------------------------------------------------------------------------------
# Internal energy
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PowerEnergy:
    """Internal energy int g(rho) dx with g(s) = coefficient * s^m / (m - 1), m > 1, coefficient > 0.

    Its Wasserstein gradient flow is the porous-medium equation d rho/dt = coefficient * Lap rho^m (theory:
    g~'(s) = s g''(s), so g~(s) = coefficient s^m). Pass it as ``internal=PowerEnergy(m)`` (or the tuple
    ``("power", m)`` / ``("power", m, coefficient)``) to :func:`jko_step` / :func:`jko_flow`.
    """

    m: float
    coefficient: float = 1.0

    def __post_init__(self) -> None:
        m = check_real("internal m (the exponent of g(s) = s^m / (m - 1))", self.m)
        if not math.isfinite(m) or m <= 1.0:
            raise ValueError(f"internal energy exponent m must be a finite number > 1 (g(s) = s^m / (m - 1); "
                             f"m = 1 is the entropy: use diffusion=D instead), got {self.m!r}")
        c = check_positive("internal coefficient", self.coefficient)
        object.__setattr__(self, "m", m)
        object.__setattr__(self, "coefficient", c)

    def value(self, s: Any) -> Any:
        """g(s) = coefficient s^m / (m - 1) (s >= 0)."""
        return self.coefficient * s**self.m / (self.m - 1.0)

    def derivative(self, s: Any) -> Any:
        """g'(s) = coefficient m s^(m-1) / (m - 1)."""
        return self.coefficient * self.m * s ** (self.m - 1.0) / (self.m - 1.0)


def _check_internal(internal: Any) -> PowerEnergy | None:
    if internal is None or isinstance(internal, PowerEnergy):
        return internal
    if isinstance(internal, tuple) and len(internal) in (2, 3) and isinstance(internal[0], str):
        if internal[0].lower() != "power":
            raise ValueError(f"internal energy kind must be 'power' (g(s) = s^m / (m - 1)), got {internal[0]!r}")
        return PowerEnergy(*internal[1:])
    raise TypeError("internal must be None, a PowerEnergy(m, coefficient=1.0), or a tuple ('power', m) / "
                    f"('power', m, coefficient), got {internal!r}")


def _check_potential(grid: Grid, potential: Any) -> np.ndarray:
    """V at the cell centres, shape grid.shape (from an array of that shape or a callable V(x), x (..., d))."""
    fix = ("pass V at the cell centres (a real array of the grid's shape) or a callable V(x) taking points "
           "(..., d) and returning x.shape[:-1]")
    if potential is None:
        return np.zeros(grid.shape)
    if callable(potential):
        values = potential(grid.centers())
        where = "potential(x) on the cell centres (x of shape (*grid.shape, d))"
    else:
        values = potential
        where = "potential"
    if isinstance(values, (str, bytes, dict, set, bool, np.bool_)) or values is None:
        raise TypeError(f"{where} must be real numbers, got {type(values).__name__}; {fix}")
    reject_complex(where, values)
    try:
        values = np.asarray(to_host(values) if hasattr(values, "__cuda_array_interface__") else values)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where} must be an array of real numbers, got {type(values).__name__}; {fix}") from exc
    if values.dtype.kind not in "biuf" or values.dtype.kind == "b":
        raise TypeError(f"{where} must be real numbers, got an array of dtype {values.dtype}; {fix}")
    values = values.astype(float)
    if values.shape != grid.shape:
        raise ValueError(f"{where} has shape {values.shape} but the grid has shape {grid.shape}; {fix}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{where} contains NaN or infinite values; pass a finite potential")
    return values


def free_energy(grid: Grid, rho: Any, *, potential: Any = None, diffusion: float = 0.0,
                internal: Any = None) -> float:
    """F(rho) = cell_volume * sum_i (V_i rho_i + D rho_i log rho_i + g(rho_i)) (0 log 0 = 0), caller's units.

    ``potential``: V at the cell centres (array of grid.shape) or a callable V(x), x (..., d) -> (...).
    ValueError (naming rho) when F(rho) or one of its terms overflows float64.
    """
    check_grid(grid)
    r = check_density(grid, rho, "rho")
    V = _check_potential(grid, potential)
    D = check_nonnegative("diffusion", diffusion)
    g = _check_internal(internal)
    return _energy(grid, r, V, D, g)


def _energy(grid: Grid, r: np.ndarray, V: np.ndarray, D: float, g: PowerEnergy | None, name: str = "rho") -> float:
    """F(r) (see free_energy); ValueError naming ``name`` when a term or the sum overflows float64 (the terms
    are summed separately, and each per-cell product is formed with overflow silenced, then checked)."""
    with np.errstate(over="ignore", invalid="ignore"):
        terms = {"potential int V rho": float(np.sum(V * r))}
        if D > 0:
            pos = r > 0
            terms["entropy D int rho log rho"] = D * float(np.sum(np.where(pos, r * np.log(np.where(pos, r, 1.0)),
                                                                            0.0)))
        if g is not None:
            terms["internal energy int g(rho)"] = float(np.sum(g.value(r)))
        total = sum(terms.values()) * grid.cell_volume
    if not math.isfinite(total):
        bad = [k for k, t in terms.items() if not math.isfinite(t)] or ["their sum"]
        raise ValueError(f"the free energy overflows float64 ({', '.join(bad)}) with {name} up to "
                         f"{float(r.max()):.3g}, diffusion = {D:g}, |potential| up to {float(np.abs(V).max()):.3g}; "
                         f"rescale {name} (density units), diffusion, the potential or the internal coefficient")
    return float(total)


# ------------------------------------------------------------------------------------------------------------
# The staggered grid with a free end density
# ------------------------------------------------------------------------------------------------------------
class FreeEndGrid(StaggeredGrid):
    """StaggeredGrid whose last time level rho_s[P] is an unknown (the JKO end density).

    Overrides the projection onto the continuity constraint: C' = {div V = 0, rho_s[0] = rho0, zero normal
    momentum on walls}. The space–time Poisson matrix D D^T is then, per space mode with eigenvalue lambda,
    (T + dt^2 lambda) / dt^2 with T = tridiag(-1, (1, 2, ..., 2), -1) (Neumann at t = 0, the free level at the
    end makes it non-singular); solved by transforms in space and a factorised recursion along time.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        mu = self.dt**2 * self._lam_space.reshape(1, -1)   # the space eigenvalues of the parent's Poisson solve
        self._free_inv = _neumann_path_factor(self.time_steps, mu, self.xp, free_end=True).astype(self.dtype)

    def set_free_boundary(self, V: list, rho0: Any) -> None:
        """rho_s[0] = rho0 and zero normal momentum on walls (in place); rho_s[P] untouched."""
        V[0][0] = rho0
        if not self.periodic:
            for a in range(self.dim):
                m = V[a + 1]
                idx = [slice(None)] * m.ndim
                idx[a + 1] = 0
                m[tuple(idx)] = 0.0
                idx[a + 1] = -1
                m[tuple(idx)] = 0.0

    def _solve_free_poisson(self, r: Any) -> Any:
        """psi with (T + dt^2 lambda) psi = r per space mode (r: (P, *n), destroyed)."""
        hat = self._forward_space(r, overwrite=True)
        _solve_neumann_path(self._free_inv, hat.reshape(self.time_steps, -1), self.scratch)
        return self._inverse_space(hat)

    def project_free(self, V: list, rho0: Any, out: "list | None" = None) -> list:
        """Euclidean projection onto C' (see the class docstring); ``out`` may be V (in place)."""
        xp = self.xp
        W = self.output_copy(V, out)
        self.set_free_boundary(W, rho0)
        dt_div = self.divergence(W, out=self.scratch.get("div", self.cell_shape), scale=self.dt)
        # D D^T phi = div  <=>  (T + dt^2 lambda) psi = dt div with psi = phi / dt
        psi = self._solve_free_poisson(dt_div)
        W[0][1:] -= psi                                 # rho_s[j] += psi[j] - psi[j-1], rho_s[P] -= psi[P-1]
        W[0][1:-1] += psi[1:]
        for a in range(self.dim):
            c = a + 1
            if self.periodic:
                W[c] += (psi - xp.roll(psi, 1, axis=c)) * (self.dt / self.spacing[a])
            else:
                idx_hi = [slice(None)] * psi.ndim
                idx_lo = [slice(None)] * psi.ndim
                idx_hi[c] = slice(1, None)
                idx_lo[c] = slice(0, -1)
                g = (psi[tuple(idx_hi)] - psi[tuple(idx_lo)]) * (self.dt / self.spacing[a])
                idx_w = [slice(None)] * psi.ndim
                idx_w[c] = slice(1, -1)
                W[c][tuple(idx_w)] += g
        return W

    def free_divergence_residual(self, V: list, rho0: Any) -> float:
        """max |discrete continuity residual| of V with rho_s[0] = rho0 (for tests)."""
        W = [v.copy() for v in V]
        W[0][0] = rho0
        return float(self.xp.max(self.xp.abs(self.divergence(W))))


# ------------------------------------------------------------------------------------------------------------
# The pointwise prox of the end-time energy
# ------------------------------------------------------------------------------------------------------------
def _end_prox(z: Any, a: float, A: Any, D: float, g: PowerEnergy | None, rhobar: float, guess: Any,
              xp: Any, count: NewtonCount | None = None) -> Any:
    """argmin_r  a f(rhobar r) / rhobar + (r - z)^2 / 2 per cell, f(s) = V s + D s log s + g(s), r >= 0.

    Root of phi(r) = r - c + a D log r + C r^(m-1), c = z - A with A = a V - offset (see _primal_dual: the
    constant part of a f' is free),
    C = a coefficient m rhobar^(m-1) / (m - 1). With D > 0 in u = log r, phi(u) = e^u + aD u + C e^((m-1) u) - c
    is convex increasing, the root lies in [LOG_FLOOR, log max(c, 1)]; without D in r on [0, max(c, 0)].
    Safeguarded Newton (bisection when a step leaves the bracket), warm-started from ``guess``; ``count`` (a
    NewtonCount) gets the steps taken.
    """
    c = z - A
    B = a * D
    if g is not None:
        C = a * g.coefficient * g.m * rhobar ** (g.m - 1.0) / (g.m - 1.0)
        e = g.m - 1.0
    else:
        C, e = 0.0, 1.0
    if B > 0:
        lo = xp.full(c.shape, LOG_FLOOR)
        hi = xp.log(xp.maximum(c, 1.0))
        x = xp.log(xp.maximum(guess, 1e-300)) if guess is not None else hi.copy()

        def phi(u):
            eu = xp.exp(u)
            f = eu + B * u - c
            fp = eu + B
            if C:
                t = C * xp.exp(e * u)
                f = f + t
                fp = fp + e * t
            return f, fp
    else:
        if g is None:   # r - c = 0 on [0, inf): the projection, no Newton step
            if count is not None:
                count.add(0)
            return xp.maximum(c, 0.0)
        lo = xp.zeros(c.shape)
        hi = xp.maximum(c, 0.0)
        x = guess if guess is not None else hi.copy()

        def phi(r):
            t = C * r**e
            return r + t - c, 1.0 + e * t / xp.maximum(r, 1e-300)
    x = xp.minimum(xp.maximum(x, lo), hi)
    for k in range(NEWTON_MAX):
        f, fp = phi(x)
        pos = f > 0
        hi = xp.where(pos, x, hi)
        lo = xp.where(pos, lo, x)
        xn = x - f / fp
        bad = ~((xn >= lo) & (xn <= hi))   # NaN steps too
        xn = xp.where(bad, 0.5 * (lo + hi), xn)
        step = float(xp.max(xp.abs(xn - x)))
        x = xn
        if step <= 1e-13 * (1.0 + float(xp.max(xp.abs(x)))):
            if count is not None:
                count.add(k + 1)
            break
    else:
        stiff = f", internal weight a c m rhobar^(m-1) / (m - 1) = {C:.3g}" if C else ""
        raise NumericalError("jko_step: the prox of the end-time energy did not converge in "
                             f"{NEWTON_MAX} safeguarded Newton steps (last step {step:.3g}): the energy is too stiff "
                             f"for the step (weight a = {a:.3g}, rhobar = mean of rho = {rhobar:.3g}{stiff}); "
                             "lower tau, or rescale rho (density units) or the internal coefficient")
    if B > 0:
        r = xp.exp(x)
        return xp.where(x <= LOG_FLOOR, 0.0, r)
    return x


# ------------------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------------------
@dataclass
class JKOStepResult:
    """One JKO step rho_k -> rho_{k+1} (caller's units).

    Attributes
    ----------
    density : ndarray, grid.shape
        rho_{k+1}: the prox output of the end-time energy (>= 0; > 0 where D > 0), rescaled to the mass of
        rho_k (the rescaling is within the continuity residual). Cell averages.
    w2_squared : float
        W2^2(rho_k, rho_{k+1}) = dt * cell_volume * sum |m_c|^2 / rho_c over the inner space–time grid (no 1/2).
    energy : float
        F(rho_{k+1}) (see :func:`free_energy`). ``energy_start``: F(rho_k).
    objective : float
        w2_squared / (2 tau) + energy: the JKO objective at the returned iterate.
    path : ndarray, (time_steps + 1, *shape)
        The staggered density of the inner geodesic (path[0] = rho_k), satisfying the discrete continuity
        equation exactly with the momenta; not sign-constrained (as BBResult.density).
    history : dict of 1-D arrays, one entry per check: "cost" (W2^2 estimate, caller's units), "continuity" (the
        primal residual), "stationarity" (the dual residual); see the module docstring.
    converged, status, iterations, seconds : as in BBResult.
    state : the solver's iterates (for warm starts: pass as ``warm_start`` to the next step).
    newton : the Newton steps of the two pointwise proxes, {"perspective": NewtonCount, "end": NewtonCount}
        (calls, steps in all, most in one call; warm-started, about 2 per call).
    """

    density: np.ndarray
    w2_squared: float
    energy: float
    energy_start: float
    objective: float
    tau: float
    path: np.ndarray
    history: dict
    converged: bool
    status: str
    iterations: int
    seconds: float
    grid: Grid
    time_steps: int
    state: dict = field(default_factory=dict, repr=False)
    newton: dict = field(default_factory=dict)


@dataclass
class JKOFlowResult:
    """JKO iterates rho_0, rho_1, ..., rho_K at times k tau (caller's units).

    times (K+1,), densities (K+1, *shape), energies (K+1,) F(rho_k), w2_squared (K,) W2^2(rho_k, rho_{k+1}),
    iterations (K,), converged (K,) bool, statuses (K,) str per step; ``status``: "converged" when every step
    converged, else which step did not (only with on_failure="return"; the default raises). ``newton``: the
    Newton steps of the steps' proxes together (see JKOStepResult.newton).
    """

    times: np.ndarray
    densities: np.ndarray
    energies: np.ndarray
    w2_squared: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    statuses: list
    status: str
    tau: float
    seconds: float
    grid: Grid
    newton: dict = field(default_factory=dict)

    @property
    def dissipation(self) -> np.ndarray:
        """(F(rho_k) - F(rho_{k+1})) / tau, shape (K,)."""
        return -np.diff(self.energies) / self.tau

    @property
    def metric_dissipation(self) -> np.ndarray:
        """W2^2(rho_k, rho_{k+1}) / tau^2, shape (K,): the squared metric speed, equal to the dissipation to
        first order in tau."""
        return self.w2_squared / self.tau**2


# ------------------------------------------------------------------------------------------------------------
# One step
# ------------------------------------------------------------------------------------------------------------
def jko_step(
    grid: Grid,
    rho: Any,
    tau: float,
    *,
    potential: Any = None,
    diffusion: float = 0.0,
    internal: Any = None,
    time_steps: int = DEFAULT_TIME_STEPS,
    max_iter: int = 20_000,
    tol: float | None = None,
    residual_tol: float | None = None,
    sigma: float = DEFAULT_SIGMA,
    relaxation: float = DEFAULT_RELAXATION,
    check_every: int = 10,
    boundary: str = "zero-flux",
    backend: "str | Backend" = "numpy",
    warm_start: "JKOStepResult | None" = None,
    on_failure: str = "raise",
) -> JKOStepResult:
    """One JKO step: rho_{k+1} = argmin_rho W2^2(rho_k, rho) / (2 tau) + F(rho) on the grid (module docstring).

    Parameters
    ----------
    grid : Grid (1-3 D). rho : rho_k, cell averages of shape grid.shape, >= 0, finite, positive mass (or a
        callable f(x) -> (...) averaged over cells).
    tau : the step, a time > 0 (caller's units; the limit flow is d rho/dt = div(rho grad delta F)).
    potential : V at the cell centres, an array of grid.shape, or a callable V(x), x (..., d) -> (...) evaluated
        at the centres; F gets int V rho. None: V = 0.
    diffusion : D >= 0, the entropy weight D int rho log rho (limit: D Lap rho, i.e. dX = -grad V dt + sqrt(2D) dW).
    internal : None, or the internal energy int g(rho): ``PowerEnergy(m, coefficient=1.0)`` or the tuple
        ``("power", m)`` / ``("power", m, coefficient)``, g(s) = coefficient s^m / (m - 1), m > 1 (limit:
        coefficient Lap rho^m, the porous-medium equation).
    time_steps : P >= 2 inner Benamou–Brenier time steps on [0, 1].
    max_iter, tol, residual_tol, check_every : as in benamou_brenier (default tol 0.02 h^2 / d, h the smallest
        normalised step; residual_tol 10 tol).
    sigma : dual step of the centred block in normalised units (density mean 1, box side 1), default 0.2; the
        primal step is 0.99 / sigma and the end block's dual step sigma / 2 (see the measurements below).
    relaxation : over-relaxation in (0, 2) (Condat 2013; benamou_brenier's default 1.9).
    boundary : "zero-flux" or "periodic". backend : "numpy" or "cupy" (one code path).
    warm_start : the JKOStepResult of the previous step: its space–time iterates (density path shifted by
        its last increment) and dual variables start this one (same grid, time_steps and backend).
    on_failure : "raise" (default): a step that misses its tolerances in max_iter iterations raises
        NumericalError naming the residuals; "return": it is returned with converged=False and the reason in
        ``status``.

    Bad input raises ValueError/TypeError naming the argument, up front; so do scales whose free energy F(rho_k)
    or end-time prox weights (4 tau time_steps / (L^2 sigma) times the energy's coefficients) overflow float64.

    Returns a JKOStepResult. The returned density has rho_k's mass (the path satisfies the discrete continuity
    equation to round-off; the end density is the energy's prox output, rescaled by at most the continuity
    residual).

    Accuracy and cost (measured on the report's problems, 2-core CPU, NumPy): against the exact Gaussian JKO
    iterate (V = x^2/2 + x/2, D = 1/2, tau = 0.2) the L1 error is about 0.09 h^2 (16 to 128 cells, observed
    order 2.03); the inner time grid barely matters (64 cells: variance error -2.5e-4 with 4 inner steps,
    -3.3e-4 with 16). The error left by the stopping tests is 5-6 % of the grid's in L1 with the default
    sigma = 0.2 (1D, 64 and 128 cells, against a run to 1e-9); the iterations grow about linearly with sigma
    (2D 16^2: 980, 2280, 4350, 8320 for sigma = 0.1, 0.25, 0.5, 1) while sigma = 0.1 doubles the stopping
    error. Iterations: 290 to 3440 in 1D (16 to 128 cells, 8 inner steps), 2840 in 2D 32^2 x 8; one costs about
    twice one of benamou_brenier (2D 64^2 x 16: 18.6 against 9.8 ms; benchmarks/jko.py). Warm starts between
    steps save 10-20 %.
    """
    be = get_backend(backend)
    xp = be.xp
    check_grid(grid)
    P = check_steps(time_steps, "time_steps (inner Benamou–Brenier steps on [0, 1])", 2)
    unknowns = 8.0 * (P + 1) * grid.size * (grid.dim + 1)
    check_memory(unknowns * BB_WORK_ARRAYS["float64"], f"jko_step on {grid.size} cells x {P + 1} time levels",
                 "use fewer time_steps or cells", be if be.name != "numpy" else None)
    tau = check_positive("tau (the JKO time step)", tau)
    D = check_nonnegative("diffusion", diffusion)
    g = _check_internal(internal)
    V = _check_potential(grid, potential)
    check_steps(max_iter, "max_iter")
    check_steps(check_every, "check_every")
    boundary = check_choice("boundary", boundary, BOUNDARIES)
    on_failure = check_choice("on_failure", on_failure, ON_FAILURE)
    sigma = check_positive("sigma", sigma)
    if not 1e-6 <= sigma <= 1e6:
        raise ValueError(f"sigma must lie in [1e-6, 1e6] (normalised units; default {DEFAULT_SIGMA}), got {sigma:g}")
    relaxation = check_real("relaxation", relaxation)
    if not 0.0 < relaxation < 2.0:
        raise ValueError(f"relaxation must lie in (0, 2), got {relaxation}")
    tol = default_tol(grid, P) if tol is None else check_nonnegative("tol", tol)
    residual_tol = 10.0 * tol if residual_tol is None else check_nonnegative("residual_tol", residual_tol)
    if warm_start is not None and not isinstance(warm_start, JKOStepResult):
        raise TypeError(f"warm_start must be None or the JKOStepResult of the previous step, got "
                        f"{type(warm_start).__name__}")
    r0 = check_density(grid, rho, "rho")
    energy0 = _energy(grid, r0, V, D, g)   # ValueError naming rho when F(rho_k) overflows

    cell = grid.cell_volume
    mass = float(r0.sum()) * cell
    box = [u - l for l, u in zip(grid.lower, grid.upper)]
    length = max(box)
    rhobar = mass / float(np.prod(box))
    log_spread = float(np.abs(np.log(r0[r0 > 0]) - math.log(rhobar)).max())   # largest |log(rho_k / rhobar)|
    _check_weights(tau, D, V, g, rhobar, length, P, sigma, log_spread)
    spacing = tuple(h / length for h in grid.spacing)
    fg = FreeEndGrid(tuple(grid.shape), spacing, P, boundary == "periodic", xp, be.fft, 1, poisson="dct")
    weight = fg.dt * float(np.prod(spacing))
    to_user = rhobar * length ** (grid.dim + 2)
    kappa = 2.0 * tau / (rhobar * length**2 * fg.dt)
    a0 = be.asarray(r0 / rhobar)
    Vd = be.asarray(V)

    state = None
    if warm_start is not None:
        ws = warm_start.state
        if ws and ws.get("shape") != (tuple(grid.shape), P, be.name, boundary):
            raise ValueError("warm_start comes from a step on another grid, time_steps, backend or boundary; "
                             "pass the previous step of the same flow (or None)")
        state = ws or None

    start = time.perf_counter()
    if D == 0.0 and g is None and float(np.ptp(V)) == 0.0:
        # F is constant on densities of this mass: rho_k is the minimiser (no motion)
        return JKOStepResult(density=r0.copy(), w2_squared=0.0, energy=energy0, energy_start=energy0,
                             objective=energy0, tau=tau, path=np.repeat(r0[None], P + 1, axis=0), history={},
                             converged=True, status="converged", iterations=0, seconds=0.0, grid=grid,
                             time_steps=P, state={})
    out = _primal_dual(fg, a0, Vd, kappa, D, g, rhobar, sigma, relaxation, max_iter, tol, residual_tol,
                       check_every, weight, state)
    seconds = time.perf_counter() - start
    Vs, U, pE, history, converged, iterations, new_state, newton = out

    to_np = lambda a: np.asarray(be.to_numpy(a), dtype=np.float64)  # noqa: E731
    end = to_np(pE) * rhobar
    end_mass = float(end.sum()) * cell
    if not (math.isfinite(end_mass) and end_mass > 0):
        raise NumericalError("jko_step: the end density has no mass (iteration diverged); lower sigma or tau")
    end *= mass / end_mass
    w2sq = weight * perspective_cost(U[0], U[1:], xp) * to_user
    if not math.isfinite(w2sq):
        raise NumericalError("jko_step: the kinetic cost is not finite (iteration diverged)")
    energy = _energy(grid, end, V, D, g)
    hist = {k: np.asarray(v, dtype=float) for k, v in history.items()}
    hist["cost"] = hist["cost"] * to_user
    status = "converged" if converged else (
        f"max_iter={max_iter} reached: stationarity {hist['stationarity'][-1]:.3g} (tol {tol:g}), continuity "
        f"{hist['continuity'][-1]:.3g} (residual_tol {residual_tol:g}); raise max_iter, or lower tau or sigma")
    if not converged and on_failure == "raise":
        raise NumericalError(f"jko_step did not converge: {status}")
    path = to_np(Vs[0]) * rhobar
    path[0] = r0
    new_state.update(shape=(tuple(grid.shape), P, be.name, boundary), rho0=a0)
    return JKOStepResult(density=end, w2_squared=float(w2sq), energy=energy, energy_start=energy0,
                         objective=float(w2sq) / (2.0 * tau) + energy, tau=tau, path=path, history=hist,
                         converged=converged, status=status, iterations=iterations, seconds=seconds, grid=grid,
                         time_steps=P, state=new_state, newton=newton)


def _check_weights(tau: float, D: float, V: np.ndarray, g: PowerEnergy | None, rhobar: float, length: float,
                   P: int, sigma: float, log_spread: float) -> None:
    """ValueError, before iterating, when the coefficients of the end-time prox (see _end_prox and _primal_dual)
    would overflow float64: a = gamma_E kappa rhobar = 4 tau P / (L^2 sigma), a (|V| + D (log_spread + 1)) with
    log_spread the largest |log(rho_k / rhobar)| (the offset of the end block's gauge),
    a D |LOG_FLOOR| and a c m rhobar^(m-1) / (m - 1) must stay below WEIGHT_MAX (the last one in logarithms)."""
    vmax = float(np.abs(V).max()) if V.size else 0.0
    a = 4.0 * tau * P / (length**2 * sigma)
    weight = a * (1.0 + vmax + D * (log_spread + 1.0 - LOG_FLOOR))
    internal = ""
    log_c = -math.inf
    if g is not None:
        log_c = (math.log(a) + math.log(g.coefficient * g.m / (g.m - 1.0)) + (g.m - 1.0) * math.log(max(rhobar, 1e-308))
                 if a > 0 else -math.inf)
        internal = f", internal energy weight a c m rhobar^(m-1) / (m - 1) ~ 10^{log_c / math.log(10):.0f}"
    if not (weight <= WEIGHT_MAX and log_c <= math.log(WEIGHT_MAX)):
        raise ValueError(f"jko_step: the weights of the end-time energy overflow float64 (a = 4 tau time_steps / "
                         f"(L^2 sigma) = {a:.3g} for tau = {tau:g}; diffusion = {D:g}, |potential| up to {vmax:.3g}, "
                         f"rho of mean {rhobar:.3g}{internal}); use a smaller tau, or rescale the energy (diffusion, "
                         "potential, internal coefficient) or rho (density units)")


def _norm(arrays: list, xp: Any) -> float:
    return math.sqrt(sum(float(xp.sum(a * a)) for a in arrays))


def _mean_slope(a0: Any, Vd: Any, D: float, g: PowerEnergy | None, rhobar: float, xp: Any) -> tuple[float, float]:
    """(mean, spread): the a0-weighted mean of s = V + D log a0 + g'(rhobar a0) over the cells (f'(rho_k) averaged
    over rho_k, without the constant D (log rhobar + 1); 0 log 0 = 0) and the l2 norm of s - mean over all cells."""
    slope = Vd + (D * xp.log(xp.where(a0 > 0, a0, 1.0)) if D > 0 else 0.0)
    if g is not None:
        slope = slope + g.coefficient * g.m / (g.m - 1.0) * (rhobar * a0) ** (g.m - 1.0)
    mean = float(xp.sum(a0 * slope)) / float(xp.sum(a0))
    return mean, _norm([slope - mean], xp)


def _primal_dual(fg: FreeEndGrid, a0: Any, Vd: Any, kappa: float, D: float, g: PowerEnergy | None, rhobar: float,
                 sigma: float, relaxation: float, max_iter: int, tol: float, residual_tol: float,
                 check_every: int, weight: float, state: dict | None):
    """Over-relaxed Chambolle–Pock on min_V J(I V) + h(E V) + i_{C'}(V), h(r) = kappa sum f(rhobar r).

    Duals stored scaled: W = y_U / sigma, WE = y_E / sigma_E (sigma_E = sigma / 2), so that
    V~ = P_C'(V - tau_p (sigma I* W + sigma_E E* WE)),  Vbar = 2 V~ - V,
    W~ = w - prox_{J / sigma}(w), w = W + I Vbar;   WE~ = wE - prox_{h / sigma_E}(wE), wE = WE + E Vbar,
    then (V, W, WE) += relaxation ((V~, W~, WE~) - (V, W, WE)). In place on preallocated arrays.
    """
    xp = fg.xp
    sigma_E = END_DUAL_RATIO * sigma
    tau_p = 0.99 / (sigma * max(1.0, 0.5 + END_DUAL_RATIO))
    gamma, gamma_E = 1.0 / sigma, 1.0 / sigma_E
    # h(r) = kappa f(rhobar r): h'(r) = kappa rhobar f'(rhobar r); the prox of gamma_E h solves
    # r - z + a f'(rhobar r) = 0 with a = gamma_E kappa rhobar
    a = gamma_E * kappa * rhobar
    # A: the part of a f'(rhobar r) that _end_prox does not write out (a D log r and C r^(m-1) it does), less a
    # constant: a f' is taken less its rho_k-weighted mean (``offset``), which is free since C' fixes the end
    # level's mass (h changes by a constant there). This keeps the end block's dual near 0 whatever the units of
    # rho (with a (V + D (log rhobar + 1)) it had to travel a D |log rhobar|: 460 a D for a mean of 1e-200).
    mean, spread = _mean_slope(a0, Vd, D, g, rhobar, xp)
    offset = a * mean
    A = a * Vd - offset
    # the stationarity residual is relative to |K* y|, or at least to the end dual that the energy's slope alone
    # gives, sigma_E a (D per cell + the l2 spread of f'(rho_k)) (|K* y| -> 0 where rho_k is the minimiser)
    floor = max(sigma_E * a * (D * math.sqrt(float(a0.size)) + spread), 1e-300)
    if state is not None:
        shift = a0 - state["rho0"]
        V = [v.copy() for v in state["V"]]
        V[0] += shift[None]
        W = [w.copy() for w in state["W"]]
        WE = state["WE"] + (state["offset"] - offset)   # the previous step's dual in this step's gauge
        pE = xp.maximum(state["end"] + shift, 0.0)
    else:
        V = fg.zeros_staggered()
        V[0][...] = a0[None]
        W = fg.zeros_centred()
        WE = xp.zeros_like(a0)
        pE = a0.copy()
    V = fg.project_free(V, a0, out=V)
    Vt, Vbar = fg.zeros_staggered(), fg.zeros_staggered()
    w = fg.zeros_centred()
    factor = fg.scratch.get("jko_factor", fg.cell_shape)
    history = {"cost": [], "continuity": [], "stationarity": []}
    converged = False
    r = None
    primal = None
    it = 0
    end_newton = NewtonCount()
    for it in range(1, max_iter + 1):
        check = it % check_every == 0 or it == max_iter
        # primal step V~ = P_C'(V - tau_p K* y)
        for vt, v in zip(Vt, V):
            xp.copyto(vt, v)
        fg.add_interpolation_adjoint(W, Vt, scale=-tau_p * sigma)
        Vt[0][-1] -= (tau_p * sigma_E) * WE
        fg.project_free(Vt, a0, out=Vt)
        for vb, vt, v in zip(Vbar, Vt, V):
            xp.multiply(vt, 2.0, out=vb)
            vb -= v
        # dual step, centred block: W~ = w - prox_{gamma J}(w), w = W + I Vbar (w becomes W~ in place)
        fg.interpolate(Vbar, out=w)
        for wc, Wc in zip(w, W):
            wc += Wc
        if check:
            w_in = [c.copy() for c in w]
        r = perspective_root(w[0], w[1:], gamma, xp, guess=r, scratch=fg.scratch)
        w[0] -= r
        xp.add(r, 2.0 * gamma, out=factor)
        xp.divide(2.0 * gamma, factor, out=factor)
        for wc in w[1:]:
            wc *= factor                      # w_m - p_m = w_m 2 gamma / (r + 2 gamma)
        # dual step, end block
        wE = WE + Vbar[0][-1]
        pE = _end_prox(wE, a, A, D, g, rhobar, pE, xp, end_newton)
        WEt = wE - pE
        if check:
            primal = [wi - wt for wi, wt in zip(w_in, w)]
            ydual = [sigma * c for c in w]
            ydual_E = sigma_E * WEt
        # relaxation (V, W, WE) += relaxation ((V~, W~, WE~) - (V, W, WE))
        for vt, v in zip(Vt, V):
            vt -= v
            vt *= relaxation
            v += vt
        for wt, Wc in zip(w, W):
            wt -= Wc
            wt *= relaxation
            Wc += wt
        WE += relaxation * (WEt - WE)
        if check:
            cost = weight * perspective_cost(primal[0], primal[1:], xp)
            IV = fg.interpolate(V)
            num = _norm([u - iv for u, iv in zip(primal, IV)] + [pE - V[0][-1]], xp)
            den = max(_norm(IV + [V[0][-1]], xp), 1e-300)
            # stationarity: K* y on the free unknowns, y = (sigma W~, sigma_E WE~)
            s = fg.interpolate_adjoint(ydual)
            s[0][-1] += ydual_E
            fg.set_free_boundary(s, 0.0)
            size = _norm(s, xp)
            tangent = fg.project_free(s, 0.0, out=s)
            stat = _norm(tangent, xp) / max(size, floor)
            history["cost"].append(cost)
            history["continuity"].append(num / den)
            history["stationarity"].append(stat)
            if not (math.isfinite(cost) or cost == math.inf) or not math.isfinite(num) or not math.isfinite(stat):
                raise NumericalError("jko_step: NaN in the iteration (diverged); lower sigma or tau")
            passed = [d <= tol and q <= residual_tol
                      for d, q in zip(history["stationarity"][-2:], history["continuity"][-2:])]
            if len(passed) == 2 and all(passed):
                converged = True
                break
    new_state = {"V": V, "W": W, "WE": WE, "end": pE, "offset": offset}
    return V, primal, pE, history, converged, it, new_state, {"perspective": fg.scratch.newton, "end": end_newton}


# ------------------------------------------------------------------------------------------------------------
# The flow
# ------------------------------------------------------------------------------------------------------------
def jko_flow(
    grid: Grid,
    rho0: Any,
    tau: float,
    t_final: float,
    *,
    potential: Any = None,
    diffusion: float = 0.0,
    internal: Any = None,
    warm_start: bool = True,
    on_failure: str = "raise",
    max_steps: int | None = MAX_STEPS,
    **step_options: Any,
) -> JKOFlowResult:
    """JKO iterates rho_{k+1} = argmin W2^2(rho_k, rho) / (2 tau) + F(rho), k = 0 .. K - 1, K = t_final / tau.

    The other arguments are those of :func:`jko_step` (``step_options``: time_steps, max_iter, tol, residual_tol,
    sigma, relaxation, check_every, boundary, backend). t_final must be a whole number of steps (relative 1e-9).

    Parameters
    ----------
    warm_start : bool
        start each step from the previous one's iterates (True) or from rest (False).
    on_failure : str
        "raise" (default): a step that does not converge raises NumericalError naming the step; "return": the
        flow stops there and is returned with that step's status (``status`` says which step).
    max_steps : int or None
        cap on the number of JKO steps K = t_final / tau (default MAX_STEPS = 100 000; None: no cap), checked
        before any step: a larger K raises ValueError naming it (pass a larger max_steps to run it anyway). Each
        step is a primal-dual solve (milliseconds on 8 cells, seconds on 2D grids).

    The limit tau -> 0 is the gradient flow d rho/dt = div(rho grad(V + D log rho + g'(rho))), first order in
    tau (report case jko-vs-fokker-planck).
    """
    check_grid(grid)
    tau = check_positive("tau (the JKO time step)", tau)
    t_final = check_positive("t_final", t_final)
    if max_steps is not None:
        max_steps = check_steps(max_steps, "max_steps")
    ratio = t_final / tau   # may be inf (tau = 5e-324): compared and sized as a float before any int()
    if max_steps is not None and not ratio <= max_steps + 0.5:
        count = f"{ratio:.3g}"
        again = f"pass max_steps={math.ceil(ratio)} (or None)" if ratio < 2.0**62 else "pass max_steps=None"
        raise ValueError(f"jko_flow would take t_final / tau = {t_final:g} / {tau:g} = {count} JKO steps, more than "
                         f"max_steps={max_steps}; {again} to run it anyway, or use a larger tau or a shorter t_final")
    check_memory(8.0 * (ratio + 1.0) * grid.size, f"jko_flow keeping t_final / tau + 1 = {ratio + 1.0:.3g} "
                 f"densities of {grid.size} cells", "use a larger tau or a shorter t_final")
    K = int(round(ratio))
    if K < 1 or abs(ratio - K) > 1e-9 * max(ratio, 1.0):
        raise ValueError(f"t_final / tau must be a whole number of steps, got {t_final!r} / {tau!r} = {ratio!r}; "
                         "choose tau = t_final / K")
    warm_start = check_bool("warm_start", warm_start)
    on_failure = check_choice("on_failure", on_failure, ON_FAILURE)
    g = _check_internal(internal)
    V = _check_potential(grid, potential)
    r = check_density(grid, rho0, "rho0")
    densities = [r]
    energies = [_energy(grid, r, V, check_nonnegative("diffusion", diffusion), g, "rho0")]
    w2sq, iters, conv, statuses = [], [], [], []
    newton = {"perspective": NewtonCount(), "end": NewtonCount()}
    prev = None
    status = "converged"
    start = time.perf_counter()
    for k in range(K):
        try:
            res = jko_step(grid, densities[-1], tau, potential=V, diffusion=diffusion, internal=g,
                           warm_start=prev if warm_start else None, on_failure="return", **step_options)
        except NumericalError as exc:
            raise NumericalError(f"jko_flow: step {k + 1} of {K} (t = {(k + 1) * tau:g}) failed: {exc}") from exc
        if not res.converged:
            if on_failure == "raise":
                raise NumericalError(f"jko_flow: step {k + 1} of {K} (t = {(k + 1) * tau:g}) did not converge: "
                                     f"{res.status}")
            status = f"step {k + 1} of {K} did not converge: {res.status}"
        densities.append(res.density)
        energies.append(res.energy)
        w2sq.append(res.w2_squared)
        iters.append(res.iterations)
        for part, count in res.newton.items():
            newton[part] += count
        conv.append(res.converged)
        statuses.append(res.status)
        prev = res
        if not res.converged:
            break
    n = len(densities)
    return JKOFlowResult(times=tau * np.arange(n), densities=np.stack(densities), energies=np.asarray(energies),
                         w2_squared=np.asarray(w2sq), iterations=np.asarray(iters, dtype=int),
                         converged=np.asarray(conv, dtype=bool), statuses=statuses, status=status, tau=tau,
                         seconds=time.perf_counter() - start, grid=grid, newton=newton)
