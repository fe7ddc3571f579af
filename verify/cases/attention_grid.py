"""The transformer PDE on a grid: the attention triangle grid / tokens / Gaussian closure (case ``attention-grid-2d``).

d mu/dt + div(mu Gamma[mu]) = 0 with Gamma[mu](x) = V int y e^{s<Qx,Ky>} dmu(y) / int e^{s<Qx,Ky>} dmu(y), solved by
eulerian.meanfield.solve_meanfield with eulerian.attention.attention_velocity (MUSCL + SSP-RK3, Gamma of the
cell averages by the midpoint rule at every stage), is checked three ways:

* against the Gaussian closure verify.gaussian.attention (Thm 7.1) started from the grid's own initial moments:
  errors of the mean, the covariance and the L1 distance to the closure's law (cell averages) with observed
  spatial orders (claimed 2: unlimited MUSCL on smooth data, dt proportional to h so the dt^3 time error is
  h^3), judged by verify.convergence as "at least 2 - 0.2" (the levels approach 2 from above);
* against self-attention tokens (lagrangian.attention_field + integrate_ode, RK4): each replicate's moment error
  is paired, its final moments minus the closure's prediction from its own initial moments, against the grid's
  final moments minus the closure from the grid's initial moments; the median of the paired difference over
  the initial sampling error must stay below half of it (the bound of the case attention-tokens-2d);
* the default velocity's Chebyshev interpolant in the logit vector s K^T Q x (read directly, so that a refused
  interpolant hidden behind the exact fallback fails) against the exact midpoint sum at every face of a 64²
  (quick) or 128² grid;
* with diffusion D (solve_meanfield's ``diffusion=``): the law stays Gaussian, the closure's covariance equation
  gains 2 D I (:func:`diffusion_closure`); mean and covariance errors with observed orders as above;
* blow-up: for Q = K = V = I, s = 1, Sigma_0 = sigma_0^2 I the closure blows up at t* = 1/(2 sigma_0^2). The
  case's grid run is refused up front when the closure blows up before t_final (FiniteTimeBlowUp with t*), and
  the solver itself, run towards t* anyway, must stop with eulerian.attention.MassAtWallsError before t* and not
  before the exact law has brought mass to the walls (instead of returning a density piled up at the walls).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from scipy.integrate import solve_ivp

import lagrangian as L
from eulerian import Grid
from eulerian.attention import (INTERP_ROWS_PER_NODE, INTERP_START, UNDERFLOW, VERIFY_RTOL, WALL_MASS,
                                AttentionVelocity, MassAtWallsError, attention_velocity, wall_fraction)
from eulerian.backend import get_backend
from eulerian.operators import face_points
from eulerian.meanfield import solve_meanfield
from verify import gaussian as G
from verify.checks import check_solution_records
from verify.cases.particles import ATT_K, ATT_Q, ATT_SCALE, ATT_V, moment_error, sampling_scale
from verify.convergence import _verdict_check, fit_order, order_verdict
from verify.harness import CaseContext, Check, case, make_check
from verify.metrics import worst


# the problem: the attention parameters of attention-tokens-2d, a narrower Gaussian so that coarse grids
# resolve it, depth T = 0.5 (the closure's covariance eigenvalues go from 0.18/0.32 to 0.19/0.35)
G0 = G.Gaussian([0.3, -0.2], [[0.3, 0.05], [0.05, 0.2]])
T_FINAL = 0.5
BOX = ((-3.0, -3.0), (3.0, 3.0))     # mass in the outermost cell layer <= 2e-5 at every level and time
OFF_CENTRE_BOX = ((-3.0, -3.0), (5.0, 3.0))   # centre (1, 0): the logit box's centre is not 0 either; a larger
# shift (centre (1, -0.5)) widens the logit range past what 16-64 nodes resolve and the velocity refuses to interpolate
LIMITER = "none"                    # unlimited MUSCL: second order on smooth data (limiters clip extrema)
ORDER = 2.0
# at least 2 - 0.2 (one-sided, as jko_cases.SPACE_BAND): the levels approach 2 from above (pairwise orders of the
# covariance error 2.43, 2.39, 2.35, 2.31, 2.27, 2.22 over 16, 20, 24, 28, 32, 40, 48 cells: an h^3 term of the
# upwind-biased reconstruction with about twice the weight of h^2 at h = 6/16), which a two-sided band would call
# a failure of a correct second-order scheme
ORDER_BAND = (0.2, math.inf)
QUICK_SIZES = (16, 20, 24, 28, 32)
FULL_SIZES = (16, 24, 32, 48, 64, 96)
DIFFUSION_FULL_SIZES = (16, 24, 32, 48, 64)
PAIRED_RATIO = 0.5                  # as check_attention_pairing (attention-tokens-2d)
TOKEN_STEPS = 8                     # RK4 steps to T = 0.5 (dt = 1/16 as attention-tokens-2d)
# blow-up: Q = K = V = I, s = 1, Sigma_0 = sigma_0^2 I: dSigma/dt = 2 Sigma^2, t* = 1 / (2 sigma_0^2)
BLOWUP_SIGMA0_SQ = 0.25
BLOWUP_BOX = ((-3.0, -3.0), (3.0, 3.0))
BLOWUP_CELLS = 24
BLOWUP_LOWER_FRACTION = 0.1         # the flag may not come before the exact law has wall_mass / 10 at the walls


def grid(n: int, box: tuple = BOX) -> Grid:
    return Grid(box[0], box[1], (n, n))


@dataclass(frozen=True)
class GridRun:
    """One grid solution at T with the closure started from the grid's own initial moments."""

    grid: Grid
    rho0: np.ndarray
    rho: np.ndarray
    start: G.Gaussian      # the grid's initial moments (Sheppard-corrected covariance)
    exact: G.Gaussian      # the closure at T from ``start``
    steps: int
    seconds: float
    solution: Any = None   # the eulerian Solution (its records are checked)

    @property
    def errors(self) -> tuple[float, float, float]:
        """(|mean - exact|, |cov - exact|_F, L1 distance to the closure's cell averages)."""
        g = self.grid
        return (float(np.linalg.norm(g.mean(self.rho) - self.exact.mean)),
                float(np.linalg.norm(g.covariance(self.rho) - self.exact.cov)),
                float(np.abs(self.rho - g.cell_averages(self.exact.pdf)).sum() * g.cell_volume))


def grid_attention_run(n: int, *, Q=ATT_Q, K=ATT_K, V=ATT_V, scale: float = ATT_SCALE, g0: G.Gaussian = G0,
                       t_final: float = T_FINAL, box: tuple = BOX, closure_scale: float | None = None,
                       paired: bool = True) -> GridRun:
    """Solve the attention PDE on an n x n grid from the cell averages of g0 and pair it with the closure.

    The closure (with ``closure_scale``, default ``scale``, and Q, K, V as given) is computed first from the
    grid's initial moments (``paired``; else from g0): a FiniteTimeBlowUp there refuses the grid run before it
    starts (the PDE has no solution on R^d at t_final)."""
    g = grid(n, box)
    rho0 = g.cell_averages(g0.pdf)
    start = G.Gaussian(g.mean(rho0), g.covariance(rho0)) if paired else g0
    exact = G.attention(start, Q, K, V, t_final, scale if closure_scale is None else closure_scale)
    sol = solve_meanfield(g, rho0, attention_velocity(Q, K, V, scale=scale), t_final, limiter=LIMITER)
    return GridRun(g, rho0, sol.to_numpy(), start, exact, sol.steps, sol.wall_time, sol)


def check_grid_orders(sizes: Sequence[int], runs_errors: Sequence[Sequence[float]], box: tuple = BOX,
                      band: tuple = ORDER_BAND) -> list[Check]:
    """Observed orders (least-squares power law over the levels, residuals widen the interval) of the mean,
    covariance and L1 errors, judged against ORDER_BAND."""
    h = [(box[1][0] - box[0][0]) / n for n in sizes]
    e = np.asarray(runs_errors, dtype=float)
    checks = []
    for j, what in enumerate(("mean |m - m*|", "covariance |S - S*|_F", "L1 distance to the closure's law")):
        try:
            fit = fit_order(h, e[:, j])
        except ValueError as exc:     # non-positive or non-finite errors: no order at all
            checks.append(make_check(f"grid vs closure, {what}: observed order", float("nan"), detail=str(exc)))
            continue
        verdict = order_verdict(fit, ORDER, band, advice="add finer levels (48, 64 cells)")
        checks.append(_verdict_check(f"grid vs closure, {what}: observed order", verdict,
                                     "errors " + ", ".join(f"{x:.3e}" for x in e[:, j])
                                     + f" at {list(sizes)} cells per axis"))
    return checks


def interpolant(velocity: AttentionVelocity, g: Grid, rho: np.ndarray, x: np.ndarray) -> np.ndarray | None:
    """Gamma at x from the Chebyshev interpolant alone (AttentionVelocity._interpolated, the default method's fast
    path, with the weights and logit vectors that __call__ gives it), or None when the velocity refuses its
    interpolant (the default method then falls back to the exact midpoint sum)."""
    w = rho * g.cell_volume
    a = np.asarray(x) @ velocity.logit_matrix.T
    out = velocity._interpolated(np, get_backend("numpy"), g, w / float(np.abs(w).max()), a)
    return None if out is None else out @ velocity.V.T


def check_interpolation(name: str, n: int, g0: G.Gaussian = G0,
                        fast_path: Callable = interpolant, box: tuple = BOX) -> Check:
    """The default velocity's Chebyshev interpolation in the logit vector against method="exact" (the midpoint
    sum itself) at every flux-carrying face of an n x n grid: max difference / box size <= VERIFY_RTOL, the
    tolerance the velocity's own spot checks enforce. The interpolant is read directly (``fast_path``): the
    default method would hide a refused (or broken) interpolant behind its exact fallback, so a refusal fails.
    The faces must number at least INTERP_ROWS_PER_NODE x INTERP_START² (n >= 33): below that the velocity
    evaluates exactly by design. ``box``: the grid's box; on one not centred at 0 the logit box is not either
    (OFF_CENTRE_BOX), which a centring slip needs to show."""
    g = grid(n, box)
    rho = g.cell_averages(g0.pdf)
    x = np.concatenate([face_points(g, k, False).reshape(-1, 2) for k in range(2)])
    if x.shape[0] < INTERP_ROWS_PER_NODE * INTERP_START ** 2:
        raise ValueError(f"check_interpolation needs n >= 33 (at least {INTERP_ROWS_PER_NODE * INTERP_START ** 2} "
                         f"faces, where the default velocity interpolates), got n = {n}")
    label = f"{name}: interpolated vs exact attention velocity at {x.shape[0]} faces (/ box size)"
    fast = fast_path(attention_velocity(ATT_Q, ATT_K, ATT_V, scale=ATT_SCALE), g, rho, x)
    if fast is None:
        return make_check(label, float("nan"), detail="the interpolant was refused: the default velocity fell back "
                          "to the exact midpoint sum (a smooth Gaussian density must be interpolated)")
    default = attention_velocity(ATT_Q, ATT_K, ATT_V, scale=ATT_SCALE)(0.0, g, rho, x)
    exact = attention_velocity(ATT_Q, ATT_K, ATT_V, scale=ATT_SCALE, method="exact")(0.0, g, rho, x)
    size = max(max(abs(a), abs(b)) for a, b in zip(g.lower, g.upper))
    return make_check(label, worst([np.abs(fast - exact).max(), np.abs(default - exact).max()]) / size,
                      upper=VERIFY_RTOL, reference=0.0)


EXACT_RTOL = 1e-12   # the midpoint sum computed twice (two summation orders): round-off only


def midpoint_sum(g: Grid, rho: np.ndarray, x: np.ndarray, Q=ATT_Q, K=ATT_K, V=ATT_V, scale: float = ATT_SCALE
                 ) -> np.ndarray:
    """Gamma(x) = V sum_j w_j exp(s <Q x, K y_j>) y_j / sum_j w_j exp(s <Q x, K y_j>) over the cell centres y_j,
    w_j = rho_j h^d (the definition, written out here with no code of eulerian.attention), shape (m, d)."""
    y = g.centers().reshape(-1, g.dim)
    w = rho.reshape(-1) * g.cell_volume
    logits = scale * (x @ np.asarray(Q).T) @ (y @ np.asarray(K).T).T          # (m, n)
    e = w[None, :] * np.exp(logits - logits.max(axis=1, keepdims=True))
    return ((e @ y) / e.sum(axis=1, keepdims=True)) @ np.asarray(V).T


def check_exact_method(name: str, n: int, g0: G.Gaussian = G0) -> Check:
    """attention_velocity(method="exact") against the midpoint sum written out (:func:`midpoint_sum`) at every
    face of an n x n grid: max difference / box size <= EXACT_RTOL (round-off: the method must be the sum itself,
    not an interpolant of it)."""
    g = grid(n)
    rho = g.cell_averages(g0.pdf)
    x = np.concatenate([face_points(g, k, False).reshape(-1, 2) for k in range(2)])
    exact = attention_velocity(ATT_Q, ATT_K, ATT_V, scale=ATT_SCALE, method="exact")(0.0, g, rho, x)
    size = max(max(abs(a), abs(b)) for a, b in zip(g.lower, g.upper))
    return make_check(f"{name}: method='exact' vs the midpoint sum written out, {x.shape[0]} faces (/ box size)",
                      float(np.abs(exact - midpoint_sum(g, rho, x)).max()) / size, upper=EXACT_RTOL, reference=0.0)


# ------------------------------------------------------------------ the underflow fallback and the refinement
# the dense log-sum-exp fallback: logits s <Q x, K y> = <M x, y> with M = diag(UNDERFLOW_SLOPE, 1), a density with
# no mass above y_0 = 0 and queries on both sides of x_0 = 0. For x_0 > 0 the factorised sum, shifted by the
# logit at the top wall y_0 = 2.875, keeps at most exp(-UNDERFLOW_SLOPE x_0 * 3) of it (< 1e-250 for x_0 >= 0.5):
# those rows are recomputed densely; for x_0 < 0 the shift sits at the bottom wall, where the density is positive
UNDERFLOW_SLOPE = 400.0
UNDERFLOW_CELLS = 24
UNDERFLOW_M = np.diag([UNDERFLOW_SLOPE, 1.0])
UNDERFLOW_V = np.array([[0.5, -0.3], [0.2, 0.4]])


def half_plane_density(g: Grid, g0: G.Gaussian = G0) -> np.ndarray:
    """Cell averages of g0 with every cell whose centre has y_0 > 0 emptied (no mass above y_0 = 0)."""
    rho = g.cell_averages(g0.pdf)
    rho[g.axes()[0] > 0.0] = 0.0
    return rho


def lse_reference(g: Grid, rho: np.ndarray, x: np.ndarray, M: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Gamma(x) = V sum_j w_j e^{<M x, y_j>} y_j / sum_j w_j e^{<M x, y_j>} over the cells with w_j > 0, in
    float64 by the log-sum-exp written out here (log w_j added to the logits, shifted by each row's largest):
    finite for any logits, no code of eulerian.attention. Shape (m, d)."""
    y = g.centers().reshape(-1, g.dim)
    w = rho.reshape(-1) * g.cell_volume
    keep = w > 0
    z = (x @ M.T) @ y[keep].T + np.log(w[keep])[None, :]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return ((e @ y[keep]) / e.sum(axis=1, keepdims=True)) @ V.T


def underflowing_rows(g: Grid, rho: np.ndarray, x: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Which queries have a factorised normaliser below eulerian.attention.UNDERFLOW: log of sum_j (w_j / max w)
    e^{<a, y_j>} minus the per-axis shifts sum_k max(a_k y_k[0], a_k y_k[-1]), a = M x (bool (m,))."""
    y = g.centers().reshape(-1, g.dim)
    w = rho.reshape(-1)
    keep = w > 0
    a = x @ M.T
    z = a @ y[keep].T + np.log(w[keep] / w.max())[None, :]
    top = z.max(axis=1)
    log_z = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    shift = sum(np.maximum(a[:, k] * ax[0], a[:, k] * ax[-1]) for k, ax in enumerate(g.axes()))
    return log_z - shift < math.log(UNDERFLOW)


def check_underflow_fallback(velocity_factory: Callable = attention_velocity) -> Check:
    """method="exact" with logits so steep that the factorised sum underflows for some rows (they are recomputed
    by the dense stabilised log-sum-exp) against :func:`lse_reference` at queries on both sides of y_0 = 0 (both
    paths, and their merge by rows): max difference / box size <= EXACT_RTOL (the same sum in another order:
    round-off only). The problem must give both kinds of rows (else NaN: the fallback would not be exercised)."""
    g = grid(UNDERFLOW_CELLS)
    rho = half_plane_density(g)
    x0 = np.array([-1.5, -0.5, 0.5, 1.0, 2.0])
    x1 = np.array([-2.0, -0.3, 0.4, 1.7])
    x = np.stack(np.meshgrid(x0, x1, indexing="ij"), axis=-1).reshape(-1, 2)
    under = underflowing_rows(g, rho, x, UNDERFLOW_M)
    label = (f"steep logits (M = diag({UNDERFLOW_SLOPE:g}, 1)), {UNDERFLOW_CELLS}² cells: method='exact' with the "
             "dense fallback for underflowing rows vs the log-sum-exp written out (/ box size)")
    detail = f"{int(under.sum())} of {x.shape[0]} query rows underflow the factorised sum"
    if under.all() or not under.any():
        return make_check(label, float("nan"), detail=detail + ": the problem must give both kinds of rows")
    vel = velocity_factory(UNDERFLOW_M, np.eye(2), UNDERFLOW_V, method="exact")
    ours = np.asarray(vel(0.0, g, rho, x))
    size = max(max(abs(a), abs(b)) for a, b in zip(g.lower, g.upper))
    err = worst([np.abs(ours - lse_reference(g, rho, x, UNDERFLOW_M, UNDERFLOW_V)).max()]) / size
    return make_check(label, err, upper=EXACT_RTOL, reference=0.0, detail=detail)


# the interpolant's refinement: 1D, s = REFINE_SCALE, a Gaussian on [-3, 3] and REFINE_QUERIES queries (enough
# rows for p = 32 nodes); the tilted mean R(a) over |a| <= 6 needs more than 16 Chebyshev nodes, 32 suffice
REFINE_SCALE = 2.0
REFINE_QUERIES = 512
REFINE_CELLS = 64


def check_refined_interpolant(fast_path: Callable = None) -> Check:
    """1D, a logit range that 16 Chebyshev nodes do not resolve (the case verifies that: the high coefficients of
    the interpolant of the written-out midpoint sum at 16 nodes exceed INTERP_RTOL x the box size), so the
    velocity refines to 32 nodes: the interpolant alone (``fast_path``, read directly: a refusal fails) and the
    default method against :func:`midpoint_sum` at REFINE_QUERIES points: max difference / box size <=
    VERIFY_RTOL (the tolerance of the velocity's own spot checks)."""
    from eulerian.attention import INTERP_RTOL

    fast_path = interpolant if fast_path is None else fast_path
    g = Grid((-3.0,), (3.0,), (REFINE_CELLS,))
    rho = g.cell_averages(G.Gaussian([0.3], [[0.3]]).pdf)
    x = np.linspace(-3.0, 3.0, REFINE_QUERIES)[:, None]
    one = np.eye(1)
    size = 3.0
    label = (f"1D, s = {REFINE_SCALE:g}, {REFINE_QUERIES} queries: the refined (32-node) interpolant and the default "
             "method vs the midpoint sum written out (/ box size)")
    # the 16-node interpolant's tail, from the written-out sum (the refinement must be needed)
    p = INTERP_START
    theta = np.pi * (2 * np.arange(p) + 1) / (2 * p)
    a = x[:, 0] * REFINE_SCALE
    lo, hi = a.min(), a.max()
    nodes = 0.5 * (lo + hi) + 0.5 * (hi - lo) * np.cos(theta)
    R = midpoint_sum(g, rho, nodes[:, None], one, one, one, 1.0)[:, 0]
    coef = (2.0 / p) * np.cos(np.outer(np.arange(p), theta)) @ R
    tail = float(np.abs(coef[p - p // 8:]).max())
    detail = f"16-node Chebyshev tail {tail:.2e} (refinement needed above {INTERP_RTOL * size:.0e})"
    if tail <= INTERP_RTOL * size:
        return make_check(label, float("nan"), detail=detail + ": the problem no longer exercises the refinement")
    vel = attention_velocity(one, one, one, scale=REFINE_SCALE)
    fast = fast_path(vel, g, rho, x)
    if fast is None:
        return make_check(label, float("nan"), detail=detail + "; the interpolant was refused")
    ref = midpoint_sum(g, rho, x, one, one, one, REFINE_SCALE)
    err = worst([np.abs(fast - ref).max(), np.abs(vel(0.0, g, rho, x) - ref).max()]) / size
    return make_check(label, err, upper=VERIFY_RTOL, reference=0.0, detail=detail)


def check_barycentric(p: int = 9, degree: int = 8, barycentric: Callable | None = None) -> Check:
    """The velocity's barycentric interpolation matrix (eulerian.attention._barycentric) on p first-kind Chebyshev
    nodes, at the nodes themselves and at 40 other points of [-1, 1] (and its ends): applied to the node values of
    x^k, k <= degree < p, it must give t^k (interpolation is exact for such polynomials), a node's row the unit
    row. Value: the largest error, <= 1e-13."""
    from eulerian.attention import _barycentric

    bary = _barycentric if barycentric is None else barycentric
    theta = np.pi * (2 * np.arange(p) + 1) / (2 * p)
    nodes = np.cos(theta)
    weights = (-1.0) ** np.arange(p) * np.sin(theta)
    t = np.concatenate([nodes, np.linspace(-1.0, 1.0, 40), [nodes[0] + 1e-9]])
    C = bary(np, t, nodes, weights)
    powers = np.arange(degree + 1)
    err = float(np.abs(C @ nodes[:, None] ** powers[None, :] - t[:, None] ** powers[None, :]).max())
    err = max(err, float(np.abs(C[:p] - np.eye(p)).max()))
    return make_check(f"Chebyshev barycentric interpolation on {p} nodes: polynomials of degree <= {degree} and the "
                      "nodes' unit rows", err, upper=1e-13, reference=0.0)


def check_wall_fraction(shapes=((9,), (7, 5), (4, 6, 3)), seed: int = 3, fraction: Callable = wall_fraction
                        ) -> Check:
    """wall_fraction against the mass of the cells with an index 0 or shape[k] - 1 on some axis, counted with an
    explicit mask, for random positive cell averages on asymmetric grids in 1-3 dimensions, each scaled by 1e-9,
    1 and 1e9 (a fraction does not depend on the unit of rho): the largest difference, <= 1e-14."""
    rng = np.random.default_rng(seed)
    err = 0.0
    for shape in shapes:
        idx = np.indices(shape)
        outer = np.zeros(shape, dtype=bool)
        for k, n in enumerate(shape):
            outer |= (idx[k] == 0) | (idx[k] == n - 1)
        rho1 = rng.uniform(0.1, 2.0, shape)
        for rho in (1e-9 * rho1, rho1, 1e9 * rho1):
            err = max(err, abs(fraction(rho) - float(rho[outer].sum() / rho.sum())))
    return make_check(f"wall_fraction vs an explicit mask of the outermost cells, shapes {list(shapes)}, rho "
                      "scaled by 1e-9, 1, 1e9", err, upper=1e-14, reference=0.0)


# ------------------------------------------------------------------------------------------ with diffusion
DIFFUSION = 0.1    # d mu/dt + div(mu Gamma[mu]) = D Lap mu: the covariance grows by about 2 D T = 0.1 per axis


def diffusion_closure(start: G.Gaussian, D: float, t_final: float = T_FINAL) -> G.Gaussian:
    """The law of the attention PDE with diffusion D from a Gaussian start: Gamma[N(m, S)] is affine (Thm 7.1), so
    the law stays Gaussian with dm/dt = V m + B m and dS/dt = B S + S B^T + 2 D I, B = s V S K^T Q (the moment
    ODE of verify.gaussian.attention_moment_rhs plus the diffusion term), DOP853 at rtol 1e-12."""
    d = start.dim

    def rhs(_s: float, y: np.ndarray) -> np.ndarray:
        dm, dS = G.attention_moment_rhs(y[:d], y[d:].reshape(d, d), ATT_Q, ATT_K, ATT_V, ATT_SCALE)
        return np.concatenate([dm, (dS + 2.0 * D * np.eye(d)).ravel()])

    y = solve_ivp(rhs, (0.0, t_final), np.concatenate([start.mean, start.cov.ravel()]), method="DOP853",
                  rtol=1e-12, atol=1e-14).y[:, -1]
    return G.Gaussian(y[:d], y[d:].reshape(d, d))


def diffusion_errors(n: int, D: float = DIFFUSION, grid_D: float | None = None) -> tuple[float, float]:
    """(|mean - exact|, |cov - exact|_F) of solve_meanfield(diffusion=grid_D, default D) on an n x n grid against
    diffusion_closure(D) from the grid's own initial moments."""
    g = grid(n)
    rho0 = g.cell_averages(G0.pdf)
    exact = diffusion_closure(G.Gaussian(g.mean(rho0), g.covariance(rho0)), D)
    rho = solve_meanfield(g, rho0, attention_velocity(ATT_Q, ATT_K, ATT_V, scale=ATT_SCALE), T_FINAL,
                          limiter=LIMITER, diffusion=D if grid_D is None else grid_D).to_numpy()
    return (float(np.linalg.norm(g.mean(rho) - exact.mean)), float(np.linalg.norm(g.covariance(rho) - exact.cov)))


def check_diffusion_orders(sizes: Sequence[int], errors: Sequence[Sequence[float]], D: float = DIFFUSION
                           ) -> list[Check]:
    """Observed orders of the mean and covariance errors with diffusion (explicit central diffusion, O(h^2), on
    top of the second-order transport) against the diffusion closure, judged as check_grid_orders."""
    h = [(BOX[1][0] - BOX[0][0]) / n for n in sizes]
    e = np.asarray(errors, dtype=float)
    checks = []
    for j, what in enumerate(("mean |m - m*|", "covariance |S - S*|_F")):
        name = f"with diffusion D = {D:g}: grid vs closure (dS/dt + 2 D I), {what}: observed order"
        try:
            fit = fit_order(h, e[:, j])
        except ValueError as exc:
            checks.append(make_check(name, float("nan"), detail=str(exc)))
            continue
        verdict = order_verdict(fit, ORDER, ORDER_BAND, advice="add finer levels (48, 64 cells)")
        checks.append(_verdict_check(name, verdict, "errors " + ", ".join(f"{x:.3e}" for x in e[:, j])
                                     + f" at {list(sizes)} cells per axis"))
    return checks


# ------------------------------------------------------------------------------------------ grid vs tokens
def paired_differences(run: GridRun, n: int, replicates: int, rng_for: Callable[[int], np.random.Generator], *,
                       paired: bool = True, V=ATT_V, g0: G.Gaussian = G0) -> np.ndarray:
    """Per replicate: the relative moment error (moment_error) of the token moments at T against the grid's,
    paired: token moments minus closure(token initial moments) against grid moments minus closure(grid
    initial moments) (the closure as a control variate for the initial sampling error); unpaired: token
    moments against the grid's directly. ``V``: the tokens' value matrix (the grid run has its own)."""
    field = L.attention_field(ATT_Q, ATT_K, V, scale=ATT_SCALE)
    g = run.grid
    m_grid, c_grid = g.mean(run.rho), g.covariance(run.rho)
    out = []
    for r in range(replicates):
        x0 = g0.sample(n, rng_for(r))
        x1 = L.integrate_ode(field, x0, 0.0, T_FINAL, TOKEN_STEPS)
        if paired:
            own = G.attention(G.Gaussian(x0.mean(0), np.cov(x0.T, bias=True)), ATT_Q, ATT_K, ATT_V, T_FINAL,
                              ATT_SCALE)
            # compare x1 with the grid's law shifted by what the closure predicts for the tokens' start
            target = G.Gaussian(m_grid + own.mean - run.exact.mean, c_grid + own.cov - run.exact.cov)
        else:
            target = G.Gaussian(m_grid, c_grid)
        out.append(moment_error(x1, target))
    return np.array(out)


def check_grid_tokens(name: str, sizes: Sequence[int], differences: Sequence[np.ndarray],
                      g0: G.Gaussian = G0) -> Check:
    """The median over replicates and sizes of paired difference / initial sampling error must be <= 0.5 (the
    pairing removes the n^-1/2 initial sampling error; an unpaired comparison sits near 1, a wrong grid above)."""
    scaled = np.concatenate([np.asarray(d) / sampling_scale(g0, int(n)) for n, d in zip(sizes, differences)])
    medians = [float(np.median(d)) for d in differences]
    return make_check(f"{name}: median paired difference / initial sampling error", float(np.median(scaled)),
                      upper=PAIRED_RATIO, detail="median differences " + ", ".join(f"{m:.2e}" for m in medians)
                      + f" at n = {list(sizes)} tokens")


# ------------------------------------------------------------------------------------------ blow-up
def blowup_start() -> G.Gaussian:
    return G.Gaussian([0.0, 0.0], BLOWUP_SIGMA0_SQ * np.eye(2))


def blowup_time() -> float:
    return 1.0 / (2.0 * BLOWUP_SIGMA0_SQ)


def check_refused(name: str, t_request: float) -> Check:
    """The case's grid run towards t_request is refused up front (FiniteTimeBlowUp from the closure) with the
    exact t* = 1/(2 sigma_0^2) to 1e-3."""
    exact = blowup_time()
    try:
        grid_attention_run(BLOWUP_CELLS, Q=np.eye(2), K=np.eye(2), V=np.eye(2), scale=1.0, g0=blowup_start(),
                           t_final=t_request, box=BLOWUP_BOX, paired=False)
    except G.FiniteTimeBlowUp as exc:
        return make_check(f"{name}: run refused, blow-up time (relative error)", abs(exc.blowup_time - exact) / exact,
                          upper=1e-3, reference=exact, detail=f"t* = {exc.blowup_time:.6g}, exact {exact:.6g}")
    return make_check(f"{name}: run refused", float("nan"), detail=f"the grid run to t = {t_request} was not refused")


def exact_wall_fraction(g: Grid, t: float) -> float:
    """Fraction of the exact (closure) law's mass in the outermost cell layer of g at t < t*."""
    law = G.attention(blowup_start(), np.eye(2), np.eye(2), np.eye(2), t, 1.0)
    return wall_fraction(g.cell_averages(law.pdf))


def flag_lower_time(g: Grid, wall_mass: float = WALL_MASS) -> float:
    """The time at which the exact law's outer-layer fraction reaches BLOWUP_LOWER_FRACTION x wall_mass
    (bisection; the fraction grows monotonically with the covariance)."""
    lo, hi = 0.0, blowup_time() * (1 - 1e-6)
    target = BLOWUP_LOWER_FRACTION * wall_mass
    for _ in range(24):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if exact_wall_fraction(g, mid) < target else (lo, mid)
    return 0.5 * (lo + hi)


def flagged_time(velocity: Callable, t_final: float) -> float:
    """Run the grid towards t_final > t*; the time of the MassAtWallsError, or NaN when the run returned."""
    g = grid(BLOWUP_CELLS, BLOWUP_BOX)
    try:
        solve_meanfield(g, blowup_start().pdf, velocity, t_final, limiter="mc")
    except MassAtWallsError as exc:
        return exc.t
    return float("nan")


def check_flagged(name: str, t_flag: float) -> Check:
    """t_flag within [the time the exact law has wall_mass/10 at the walls, t*]."""
    g = grid(BLOWUP_CELLS, BLOWUP_BOX)
    lower, upper = flag_lower_time(g), blowup_time()
    return make_check(f"{name}: the grid run stops at the walls before t* (MassAtWallsError time)", t_flag,
                      lower=lower, upper=upper, reference=upper,
                      detail=f"flagged at t = {t_flag:.4g}; t* = {upper:g}; the exact law reaches "
                             f"{BLOWUP_LOWER_FRACTION * WALL_MASS:g} at the walls at t = {lower:.4g}")


# ------------------------------------------------------------------------------------------ the case
@case("attention-grid-2d", title="Transformer PDE on a grid vs the Gaussian attention closure (observed orders) and "
      "vs tokens (paired), with blow-up refused or flagged", tags=("eulerian", "attention", "mean-field"))
def attention_grid_2d(ctx: CaseContext) -> None:
    sizes = QUICK_SIZES if ctx.quick else FULL_SIZES
    started = time.perf_counter()
    runs = [grid_attention_run(n) for n in sizes]
    ctx.add(check_solution_records("solve_meanfield with attention_velocity, zero-flux box",
                                   [r.solution for r in runs], closed=True, elapsed=time.perf_counter() - started))
    errors = [r.errors for r in runs]
    ctx.add_all(check_grid_orders(sizes, errors))
    ctx.add(check_interpolation(f"G0 on {64 if ctx.quick else 128}²", 64 if ctx.quick else 128))
    ctx.add(check_interpolation("G0 on 64², box [-3, 5] x [-3, 3] (off-centre)", 64, box=OFF_CENTRE_BOX))
    ctx.add(check_exact_method("G0 on 36²", 36))   # enough faces for the default method to interpolate
    ctx.add(check_barycentric())
    ctx.add(check_wall_fraction())
    ctx.add(check_underflow_fallback())
    ctx.add(check_refined_interpolant())
    # the same PDE with diffusion (solve_meanfield's diffusion=): the law stays Gaussian, dS/dt gains 2 D I
    dsizes = QUICK_SIZES if ctx.quick else DIFFUSION_FULL_SIZES
    ctx.add_all(check_diffusion_orders(dsizes, [diffusion_errors(n) for n in dsizes]))
    for j, label in enumerate(("mean", "covariance", "L1")):
        ctx.series("grid vs closure errors", [(BOX[1][0] - BOX[0][0]) / n for n in sizes], [e[j] for e in errors],
                   xlabel="h", ylabel="error", logx=True, logy=True, label=label)
    ctx.note("grid seconds per level", [round(r.seconds, 3) for r in runs])
    ctx.note("closure law at T (mean, covariance)", [runs[-1].exact.mean.tolist(), runs[-1].exact.cov.tolist()])
    finest = runs[-1]
    tok_sizes, work = ((250, 500), 1000) if ctx.quick else ((250, 500, 1000, 2000), 4000)
    diffs = [paired_differences(finest, n, work // n, lambda r, n=n: ctx.rng(f"tokens-{n}-{r}")) for n in tok_sizes]
    ctx.add(check_grid_tokens(f"grid ({sizes[-1]}²) vs tokens", tok_sizes, diffs))
    g = finest.grid
    ctx.image("density at T", {"grid": finest.rho, "closure": g.cell_averages(finest.exact.pdf)},
              extent=(BOX[0][0], BOX[1][0], BOX[0][1], BOX[1][1]), difference=("grid", "closure"))
    t_star = blowup_time()
    ctx.add(check_refused(f"blow-up sigma0² = {BLOWUP_SIGMA0_SQ}", 1.5 * t_star))
    t_flag = flagged_time(attention_velocity(np.eye(2), np.eye(2), np.eye(2)), 1.5 * t_star)
    ctx.add(check_flagged(f"blow-up sigma0² = {BLOWUP_SIGMA0_SQ}", t_flag))
    ctx.note("blow-up: closure covariance trace at the flag time",
             float(np.trace(G.attention(blowup_start(), np.eye(2), np.eye(2), np.eye(2), t_flag, 1.0).cov))
             if math.isfinite(t_flag) and t_flag < t_star else None)
