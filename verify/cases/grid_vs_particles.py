"""Grid against particles: the same evolution solved by `eulerian` finite volumes and by `lagrangian`
particles, compared with each other and with the exact Gaussian law.

The L1 comparison of deposited particles with a grid density and its Monte Carlo floor is
:func:`verify.checks.compare_l1`. The nearest-grid-point deposit is checked as a histogram (Pearson χ²) against
the exact cell masses, Gaussian KDEs of the particles against scipy.stats.gaussian_kde and their exact moments, and
the probability-flow field of lagrangian against the exact law it must transport.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats
from scipy.linalg import expm

from typing import Callable

from eulerian import Grid, solve_continuity
from lagrangian import (deposit, gaussian_kde, grid_velocity_field, integrate_ode, kde_bandwidth_factor,
                        probability_flow_field)
from verify import gaussian as G
from verify.adapters import FokkerPlanckSolver, ODESampler, SDESampler
from verify.checks import check_samples_match, compare_l1
from verify.cases._pictures import density_picture
from verify.harness import CaseContext, Check, case, make_check
from verify.metrics import relative_error
from verify.problems import Problem, get_problem, grid_for

# One problem solved both ways: the ou-2d Fokker–Planck problem on the grid and its SDE twin with particles
def ou_twins() -> tuple[Problem, Problem]:
    """(ou-2d, the same evolution as an SDE problem): dX = (BX + c) dt + sqrt(2D) dW ⇔ Fokker–Planck."""
    grid_problem = get_problem("ou-2d")
    return grid_problem, grid_problem.with_(name="ou-2d particles", kind="sde")


def ou_grid(n_cells: int) -> tuple[Grid, np.ndarray, np.ndarray]:
    """Grid solution of ou-2d (Scharfetter–Gummel + BDF2, steps = N/2) and the exact cell averages at T."""
    problem, _ = ou_twins()
    grid = grid_for(problem, n_cells)
    return grid, FokkerPlanckSolver()(problem, grid, n_cells // 2).to_numpy(), problem.exact_cell_averages(grid)


def ou_particles(n: int, rng: np.random.Generator, *, sampler: Callable | None = None, steps: int = 32) -> np.ndarray:
    """Particles of the SDE twin of ou-2d (stochastic Heun, weak order 2, unless ``sampler`` is given)."""
    _, problem = ou_twins()
    sampler = SDESampler("heun") if sampler is None else sampler
    return sampler(problem, problem.sample_initial(n, rng), steps, rng)


# ------------------------------------------------------------------------------------- NGP deposits
NGP_FALSE_ALARM = 1e-4
NGP_MIN_EXPECTED = 20   # cells expecting fewer particles are pooled into one bin


def check_ngp_histogram(name: str, grid: Grid, rho: np.ndarray, n: int, exact_cells: np.ndarray, *,
                        false_alarm: float = NGP_FALSE_ALARM) -> Check:
    """A nearest-grid-point deposit ``rho`` of n particles drawn from a law with exact cell averages ``exact_cells``.

    NGP gives each particle's whole weight to the cell that contains it: n ρ_i |cell| are the counts of a histogram,
    multinomial with the exact cell masses p_i = exact_i |cell|. Its expectation is exactly the cell average (no
    bias of any order in h; CIC smooths with a hat of width 2h and is not a histogram). Pearson's
    χ² = Σ (N_i − n p_i)² / (n p_i), over the cells with n p_i ≥ 20 plus one pooled bin for the rest, is χ²(K − 1)
    for a correct deposit; the check is two-sided at total false-alarm rate ``false_alarm``: too large flags
    misplaced mass (a shift by half a cell: χ² ≈ 10 K; transposed axes; a wrong cell volume), too small flags a
    smoothed deposit (CIC instead of NGP: χ² ≈ K/2). Under the null, 2000 multinomial draws at n = 80 000 on 64² cells
    gave a mean 375.8 and sd 27.3 for K − 1 = 376 (χ² predicts 376 and 27.4); 200 seeds of the case's own Heun
    particles (whose discrete bias adds a noncentrality of 0.004) gave 377.6 ± 29.0, range 302-462, inside the band."""
    e = n * np.asarray(exact_cells, dtype=float).ravel() * grid.cell_volume
    counts = n * np.asarray(rho, dtype=float).ravel() * grid.cell_volume
    big = e >= NGP_MIN_EXPECTED
    obs = np.r_[counts[big], counts[~big].sum()]
    exp = np.r_[e[big], e[~big].sum()]
    dof = obs.size - 1
    chi2 = float(np.sum((obs - exp) ** 2 / exp))
    lo, hi = float(stats.chi2.ppf(false_alarm / 2, dof)), float(stats.chi2.isf(false_alarm / 2, dof))
    return make_check(f"{name}: Pearson χ² of the NGP counts vs the exact cell masses", chi2, lower=lo, upper=hi,
                      reference=float(dof), standard_error=float(np.sqrt(2.0 * dof)), false_alarm=false_alarm,
                      detail=f"n = {n}, {int(big.sum())} cells with n p ≥ {NGP_MIN_EXPECTED} + 1 pooled bin: "
                             f"χ²({dof}), two-sided, false alarm {false_alarm:g}")


def check_deposit_refuses_outside(name: str, grid: Grid, x: np.ndarray, deposit_fn: Callable = deposit) -> Check:
    """``deposit(..., outside="raise")`` must refuse a cloud with one particle outside the closed box (ValueError)
    and accept the cloud itself (all inside): value 1 when both hold, 0 otherwise."""
    outside = np.array(x, dtype=float, copy=True)
    outside[0] = np.asarray(grid.upper) + 0.5 * np.asarray(grid.spacing)
    try:
        deposit_fn(x, grid.lower, grid.upper, grid.shape, method="ngp", outside="raise")
    except ValueError as exc:
        return make_check(f"{name}: outside='raise' accepts particles inside the box", 0.0, lower=1.0, detail=str(exc))
    try:
        deposit_fn(outside, grid.lower, grid.upper, grid.shape, method="ngp", outside="raise")
    except ValueError as exc:
        return make_check(f"{name}: outside='raise' refuses a particle outside the box", 1.0, lower=1.0,
                          detail=f"raised: {str(exc)[:120]}")
    return make_check(f"{name}: outside='raise' refuses a particle outside the box", 0.0, lower=1.0,
                      detail="no ValueError for a particle half a cell beyond the upper corner")


# ------------------------------------------------------------------------------------- Gaussian KDE
KDE_TOL = 1e-10        # two float64 evaluations of the same kernel sum (relative to the largest density)
KDE_MOMENT_TOL = 1e-9  # midpoint quadrature at ≤ 0.6 kernel sd: aliasing error ~ exp(−2π²/0.36) ≈ 1e-24, round-off


def kde_factor_formula(n_eff: float, d: int, rule: str) -> float:
    """Scott's n^(−1/(d+4)) and Silverman's (n (d+2)/4)^(−1/(d+4)) rules, as printed in Scott (1992, Eq. 6.42) and
    Silverman (1986, Eq. 4.14), and as scipy.stats.gaussian_kde implements them."""
    return {"scott": n_eff ** (-1.0 / (d + 4)), "silverman": (n_eff * (d + 2) / 4.0) ** (-1.0 / (d + 4))}[rule]


def check_bandwidth_factor(name: str, factor: Callable = kde_bandwidth_factor,
                           cases: tuple = ((1000, 2), (37.5, 1), (10**6, 3))) -> Check:
    """kde_bandwidth_factor(n, d, rule) for "scott" and "silverman" vs the published formulas and scipy's
    scotts_factor/silverman_factor (n may be an effective, non-integer size), and with the rule left at its
    default (Scott's, as in scipy): max relative difference."""
    worst = 0.0
    for n, d in cases:
        for rule in ("scott", "silverman"):
            worst = max(worst, abs(factor(n, d, rule) / kde_factor_formula(n, d, rule) - 1.0))
    sample = np.random.default_rng(0).standard_normal((2, 50))
    ref = stats.gaussian_kde(sample)
    worst = max(worst, abs(factor(50, 2, "scott") / ref.scotts_factor() - 1.0),
                abs(factor(50, 2, "silverman") / ref.silverman_factor() - 1.0),
                abs(factor(37.5, 1) / kde_factor_formula(37.5, 1, "scott") - 1.0))   # (in 2-D both rules agree)
    return make_check(f"{name}: kde_bandwidth_factor vs Scott/Silverman formulas (relative)", worst, upper=1e-13,
                      detail=f"rules scott, silverman at (n, d) = {list(cases)}, scipy at (50, 2); the default rule at (37.5, 1)")


def check_kde_vs_scipy(name: str, x: np.ndarray, points: np.ndarray, *, bandwidth=None, weights=None,
                       kde: Callable = gaussian_kde) -> Check:
    """gaussian_kde against scipy.stats.gaussian_kde (the same convention: kernel covariance c²Σ̂, Σ̂ the weighted
    sample covariance with the 1/(1 − Σw²) correction, c from n_eff = 1/Σw²): max |difference| / max density."""
    ref = stats.gaussian_kde(x.T, bw_method=bandwidth, weights=weights)(points.T)
    value = np.asarray(kde(x, points, bandwidth=bandwidth, weights=weights))
    label = "default (Scott)" if bandwidth is None else repr(bandwidth)
    return make_check(f"{name}: gaussian_kde bandwidth={label}{' weighted' if weights is not None else ''} vs "
                      "scipy.stats.gaussian_kde (relative)", float(np.max(np.abs(value - ref)) / np.max(ref)),
                      upper=KDE_TOL, detail=f"{x.shape[0]} samples, {points.shape[0]} points")


def kde_parameters(x: np.ndarray, *, bandwidth=None, weights=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(normalised weights w, mean Σ w_j x_j, covariance Σ̂ = Σ w_j (x_j − m)(x_j − m)ᵀ / (1 − Σw²), factor c) of a
    Gaussian KDE, c from :func:`kde_factor_formula` at n_eff = 1/Σw² (or the number given)."""
    n, d = x.shape
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, float) / np.sum(weights)
    m = w @ x
    cov = ((x - m) * w[:, None]).T @ (x - m) / (1.0 - np.sum(w**2))
    c = float(bandwidth) if isinstance(bandwidth, (int, float)) else \
        kde_factor_formula(1.0 / np.sum(w**2), d, bandwidth or "scott")
    return w, m, cov, c


def kde_moments(x: np.ndarray, *, bandwidth=None, weights=None, kde: Callable = gaussian_kde
                ) -> tuple[np.ndarray, np.ndarray, float]:
    """(mean, covariance, mass) of the KDE density by the midpoint rule on a grid of spacing 0.6 times the smallest
    kernel standard deviation, covering the samples ± 9 kernel standard deviations. For a Gaussian the midpoint
    rule's error is aliasing only, ~ exp(−2π² (sd/step)²)."""
    d = x.shape[1]
    _, _, cov, c = kde_parameters(x, bandwidth=bandwidth, weights=weights)
    sd = c * np.sqrt(np.linalg.eigvalsh(cov))
    step = 0.6 * sd.min()
    axes = [np.arange(x[:, k].min() - 9 * sd.max(), x[:, k].max() + 9 * sd.max() + step, step) for k in range(d)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, d)
    dens = np.asarray(kde(x, pts, bandwidth=bandwidth, weights=weights)) * step**d
    mean = dens @ pts / dens.sum()
    centred = pts - mean
    return mean, (centred * dens[:, None]).T @ centred / dens.sum(), float(dens.sum())


def check_kde_moments(name: str, x: np.ndarray, *, bandwidth=None, weights=None,
                      kde: Callable = gaussian_kde) -> Check:
    """Exact moments of a Gaussian KDE (a mixture of N(x_j, c²Σ̂) with weights w_j): mass 1, mean m = Σ w_j x_j and
    covariance Σ w_j (x_j − m)(x_j − m)ᵀ + c²Σ̂ = (1 − Σw² + c²) Σ̂, with Σ̂ the weighted sample covariance divided
    by 1 − Σw² (as the kernel uses it) and c from the rule's formula at n_eff = 1/Σw²; measured by quadrature of
    the KDE (independent of scipy). A kernel covariance cΣ̂ instead of c²Σ̂, or a rule at n instead of n_eff, moves
    the covariance by ≥ 3e-3 relative."""
    w, m, cov, c = kde_parameters(x, bandwidth=bandwidth, weights=weights)
    qm, qc, mass = kde_moments(x, bandwidth=bandwidth, weights=weights, kde=kde)
    err = max(abs(mass - 1.0), float(np.linalg.norm(qm - m)) / (1.0 + float(np.linalg.norm(m))),
              relative_error(qc, (1.0 - np.sum(w**2) + c**2) * cov))
    label = "default (Scott)" if bandwidth is None else repr(bandwidth)
    return make_check(f"{name}: KDE (bandwidth={label}{', weighted' if weights is not None else ''}) mass, mean, "
                      "covariance (1 − Σw² + c²)Σ̂ (relative)", err, upper=KDE_MOMENT_TOL,
                      detail=f"c = {c:.6g}; quadrature mass {mass:.12f}, mean {np.round(qm, 8).tolist()}")


@case("grid-vs-particles-ou-2d", title="OU 2D: SDE particles deposited on the grid against the "
      "Fokker–Planck solution and the exact law", tags=("grid", "particles", "sde"))
def grid_vs_particles_ou_2d(ctx: CaseContext) -> None:
    n_cells, n, sets = (64, 20_000, 4) if ctx.quick else (128, 100_000, 4)
    grid, rho, exact = ou_grid(n_cells)
    law = ou_twins()[0].exact_law()
    clouds = [ou_particles(n, ctx.rng(f"set-{k}")) for k in range(sets)]
    cmp_ = compare_l1(grid, rho, clouds, exact)
    ctx.add(cmp_.check("SDE particles"))
    density_picture(ctx, f"OU 2D at t = {ou_twins()[0].t_final:g}: Fokker–Planck grid, SDE particles, exact", grid, rho,
                    particles=clouds[0], exact=exact)
    ctx.note("L1(grid, exact cell averages)", cmp_.grid_error)
    ctx.note("L1 Monte Carlo floor", cmp_.floor)
    for k, x in enumerate(clouds[:2]):
        ctx.add_all(check_samples_match(f"set {k} vs exact law", x, law))
        ctx.add_all(check_samples_match(f"set {k} vs grid moments", x,
                                        G.Gaussian(grid.mean(rho), grid.covariance(rho))))
    # nearest-grid-point deposit of all sets (an exact histogram) against the exact cell masses; the particles lie
    # inside the box (≥ 7 standard deviations from its faces), so outside="raise" must accept them
    pooled = np.vstack(clouds)
    ngp = deposit(pooled, grid.lower, grid.upper, grid.shape, method="ngp", outside="raise")
    ctx.add(check_ngp_histogram("SDE particles", grid, ngp, pooled.shape[0], exact))
    ctx.add(check_deposit_refuses_outside("deposit", grid, clouds[0]))
    # Gaussian KDE of the particles: scipy's implementation and the KDE's exact moments
    sub = clouds[0][:1000]
    points = grid.centers()[::3, ::3].reshape(-1, 2)
    ctx.add(check_bandwidth_factor("KDE"))
    kde_weights = np.exp(0.5 * sub[:, 0])   # importance-like weights: n_eff < n
    for bandwidth, weights in ((None, None), ("scott", None), ("silverman", kde_weights), (0.3, None)):
        ctx.add(check_kde_vs_scipy("set 0", sub, points, bandwidth=bandwidth, weights=weights))
    for bandwidth, weights in (("scott", None), ("silverman", kde_weights[:300]), (0.3, None)):
        ctx.add(check_kde_moments("set 0", sub[:300], bandwidth=bandwidth, weights=weights))


def _probability_flow(problem: Problem) -> Callable:
    """v(t, x) = b(x) − D ∇log ρ_t(x) with the exact Gaussian score (affine), by lagrangian.probability_flow_field."""
    return probability_flow_field(problem.drift, problem.diffusion, lambda t, x: problem.exact_law(t).score(x))


PFLOW_TOL = 1e-6   # RK4 at dt = T/40: measured relative errors 9e-8 (ou-2d: ‖DΣ0⁻¹‖ ≈ 1.9) and 2e-8 (ou-sde-2d)


def check_probability_flow_law(name: str, problem: Problem, field: Callable, steps: int = 40) -> Check:
    """Particles of the probability-flow ODE carry the initial law to the exact law at T, without sampling.

    For an affine drift the exact law stays Gaussian and the field b − D∇log ρ_t is affine in x, so the RK4
    particle map x0 ↦ X_T is affine: it is read off the 1 + d particles 0, e_1, …, e_d, the initial Gaussian is pushed
    through it, and the result is compared with problem.exact_law(T) (Van Loan, independent of the field): max of
    the relative mean and covariance errors. A wrong sign or factor of D, or the score of the wrong time, moves it
    by O(1); RK4's own error is ~1e-7 (PFLOW_TOL)."""
    d = problem.dim
    T = problem.t_final
    probes = np.vstack([np.zeros(d), np.eye(d)])
    out = integrate_ode(field, probes, 0.0, T, steps, method="rk4")
    pushed = G.Affine((out[1:] - out[0]).T, out[0]).push(problem.initial)
    exact = problem.exact_law(T)
    err = max(float(np.linalg.norm(pushed.mean - exact.mean)) / (1.0 + float(np.linalg.norm(exact.mean))),
              relative_error(pushed.cov, exact.cov))
    kind = "matrix" if np.ndim(problem.diffusion) == 2 else "scalar"
    return make_check(f"{name}: RK4 flow map pushes the initial law to the exact law at T (relative, {kind} D)", err,
                      upper=PFLOW_TOL, detail=f"{steps} RK4 steps; affine particle map read off {d + 1} particles")


@case("probability-flow-ou-2d", title="OU 2D: probability-flow ODE particles share the SDE's "
      "marginals and the grid solution, not its paths", tags=("grid", "particles", "ode", "sde"))
def probability_flow_ou_2d(ctx: CaseContext) -> None:
    n_cells, n, sets = (64, 20_000, 4) if ctx.quick else (128, 100_000, 4)
    grid, rho, exact = ou_grid(n_cells)
    problem, sde = ou_twins()
    flow = problem.with_(name="ou-2d probability flow", kind="ode", diffusion=0.0, drift=_probability_flow(problem))
    T = problem.t_final
    ctx.add(check_probability_flow_law("ou-2d", problem, flow.drift))
    anisotropic = get_problem("ou-sde-2d")   # a non-normal drift and a matrix D
    ctx.add(check_probability_flow_law("ou-sde-2d", anisotropic, _probability_flow(anisotropic)))
    starts = [problem.sample_initial(n, ctx.rng(f"start-{k}")) for k in range(sets)]
    ode = [ODESampler("rk4")(flow, x0, 40, None) for x0 in starts]
    ctx.add(compare_l1(grid, rho, ode, exact).check("probability-flow particles"))
    density_picture(ctx, f"OU 2D at t = {T:g}: Fokker–Planck grid, probability-flow particles, exact", grid, rho,
                    particles=ode[0], exact=exact)
    ctx.add_all(check_samples_match("probability flow vs exact law", ode[0], problem.exact_law(T)))
    # the SDE from the same starting points: same marginal law, different paths
    sde_x = SDESampler("heun")(sde, starts[0], 32, ctx.rng("sde"))
    ctx.add_all(check_samples_match("SDE from the same starts vs exact law", sde_x, problem.exact_law(T)))
    gap = float(np.sqrt(np.mean(np.sum((sde_x - ode[0]) ** 2, axis=1))))
    scale = float(np.sqrt(np.trace(problem.exact_law(T).cov)))
    ctx.check("paths differ: rms |X_sde − X_ode| / sqrt(tr Σ_T)", gap / scale, lower=0.1,
              detail="non-uniqueness of Lagrangian fields: same marginals, different couplings")


def check_snapshot_interpolation(name: str, rng: np.random.Generator, make: Callable = grid_velocity_field) -> Check:
    """A velocity affine in x and linear in t, v(t, x) = (1 + 2t)(A x + b), given as snapshots at uneven times on
    a 9 x 7 grid: multilinear interpolation in space and linear in time reproduce it exactly, in every snapshot
    interval, the last included, and outside [times[0], times[-1]] the field is the first or last snapshot
    (constant in time): max relative error against v(clip(t, times[0], times[-1]), x)."""
    A, b = np.array([[0.3, -1.0], [0.7, 0.2]]), np.array([0.1, -0.4])
    v = lambda t, x: (1.0 + 2.0 * t) * (x @ A.T + b)              # noqa: E731
    grid = Grid((-1.0, -2.0), (2.0, 1.0), (9, 7))
    times = np.array([0.05, 0.1, 0.35, 0.6, 1.0])
    field = make(grid.lower, grid.upper, np.stack([v(t, grid.centers()) for t in times]), times=times)
    x = np.asarray(grid.lower) + rng.random((200, 2)) * (np.asarray(grid.upper) - np.asarray(grid.lower))
    ts = np.concatenate([0.5 * (times[:-1] + times[1:]), rng.uniform(0.0, 1.0, 6), [-0.5, 0.0, 1.3]])
    ref = lambda t: v(float(np.clip(t, times[0], times[-1])), x)   # noqa: E731
    err = max(float(np.abs(field(t, x) - ref(t)).max() / np.abs(ref(t)).max()) for t in ts)
    return make_check(f"{name}: snapshot field vs v(t, x) at interval midpoints, random times and before/after the "
                      "snapshots", err, upper=1e-12,
                      detail="exact for fields affine in x and linear in t; constant outside the snapshot times")


def check_outside_modes(name: str, rng: np.random.Generator, make: Callable = grid_velocity_field) -> list[Check]:
    """The three ``outside`` modes of a grid velocity at positions up to one box side beyond the faces, for the
    snapshot field of :func:`check_snapshot_interpolation` (affine in x, 9 x 7 cells of unequal sides):
    "extrapolate" continues the interpolant linearly, so it must reproduce v(t, x) itself; "clamp" must give
    v(t, x clipped to the box); "raise" must refuse the points with a ValueError (and take points inside)."""
    A, b = np.array([[0.3, -1.0], [0.7, 0.2]]), np.array([0.1, -0.4])
    v = lambda t, x: (1.0 + 2.0 * t) * (x @ A.T + b)              # noqa: E731
    grid = Grid((-1.0, -2.0), (2.0, 1.0), (9, 7))
    lo, hi = np.asarray(grid.lower), np.asarray(grid.upper)
    times = np.array([0.05, 0.35, 1.0])
    snaps = np.stack([v(t, grid.centers()) for t in times])
    x = lo - (hi - lo) + rng.random((300, 2)) * 3.0 * (hi - lo)    # the box and a band of one side around it
    x = x[np.any((x < lo) | (x > hi), axis=1)]                    # only points outside
    t = 0.2
    ref = {"extrapolate": v(t, x), "clamp": v(t, np.clip(x, lo, hi))}
    checks = []
    for mode, want in ref.items():
        got = make(grid.lower, grid.upper, snaps, times=times, outside=mode)(t, x)
        checks.append(make_check(f"{name}: outside={mode!r} at {len(x)} points beyond the faces", float(
            np.abs(got - want).max() / np.abs(want).max()), upper=1e-12,
            detail="extrapolate: v(t, x), exact for affine fields; clamp: v(t, x clipped to the box)"))
    field = make(grid.lower, grid.upper, snaps, times=times, outside="raise")
    try:
        field(t, x[:1])
        refused, detail = 0.0, "returned a value for a point outside the box"
    except ValueError as exc:
        refused, detail = 1.0, str(exc)
    checks.append(make_check(f"{name}: outside='raise' refuses a point beyond the faces", refused, lower=1.0,
                             detail=detail))
    try:  # the closed box is inside: the clipped points lie on its faces
        err, detail = float(np.abs(field(t, np.clip(x, lo, hi)) - ref["clamp"]).max() / np.abs(ref["clamp"]).max()), ""
    except ValueError as exc:
        err, detail = math.inf, f"refused: {exc}"
    checks.append(make_check(f"{name}: outside='raise' takes the points on the faces", err, upper=1e-12,
                             detail=detail))
    return checks


@case("particles-driven-by-grid", title="Affine continuity: particles pushed by the interpolated "
      "grid velocity against the grid solution and the exact flow", tags=("grid", "particles", "ode"))
def particles_driven_by_grid(ctx: CaseContext) -> None:
    n_cells, n, sets = (64, 20_000, 4) if ctx.quick else (128, 100_000, 4)
    A = np.array([[-0.3, -1.0], [1.0, -0.3]]) + np.array([[0.0, 0.4], [0.0, 0.0]])  # rotation, shear, contraction
    g0 = G.Gaussian([0.8, 0.0], [[0.15, 0.03], [0.03, 0.10]])
    T = 1.0
    grid = Grid((-3.0, -3.0), (3.0, 3.0), (n_cells, n_cells))
    velocity = lambda t, x: x @ A.T
    sol = solve_continuity(grid, grid.cell_averages(g0.pdf), velocity, T, limiter="mc")
    law = G.linear_sde(g0, G.Affine(A), 0.0, T)
    exact = grid.cell_averages(law.pdf)
    v_grid = grid_velocity_field(grid.lower, grid.upper, velocity(0.0, grid.centers()))
    starts = [g0.sample(n, ctx.rng(f"start-{k}")) for k in range(sets)]
    clouds = [integrate_ode(v_grid, x0, 0.0, T, 40, method="rk4") for x0 in starts]
    ctx.add(compare_l1(grid, sol.to_numpy(), clouds, exact).check("grid-driven particles"))
    density_picture(ctx, f"affine continuity at t = {T:g}: grid (MC limiter), grid-driven particles, exact", grid,
                    sol.to_numpy(), particles=clouds[0], exact=exact)
    phi = expm(A * T)
    ctx.check("pathwise error vs exact flow e^{AT}x (RK4, 40 steps)",
              float(np.max(np.abs(clouds[0] - starts[0] @ phi.T))), upper=1e-6,
              detail="multilinear interpolation is exact for affine fields; RK4 error ~ (hA)^4")
    ctx.add_all(check_samples_match("particles vs exact law", clouds[0], law))
    ctx.note("L1(grid, exact)", float(np.sum(np.abs(sol.to_numpy() - exact)) * grid.cell_volume))
    ctx.add(check_snapshot_interpolation("time-dependent grid velocity", ctx.rng("snapshots")))
    ctx.add_all(check_outside_modes("grid velocity", ctx.rng("outside")))
