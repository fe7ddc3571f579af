"""Two-layer network training as a Wasserstein gradient flow on the neuron grid (issue 16, eulerian side).

Neurons theta = (w, a) in R^2 (scalar inputs): the grid density mu_t of eulerian.network_grid against

* ``linear-network-grid``: Prop 6.2's Gaussian law (verify.gaussian.linear_network) and neuron particles
  (lagrangian.network_field + integrate_ode): the density (L1, observed order 2 with an interval verdict), the risk
  along the flow for all three (grid within its O(h^2), particles within their Monte Carlo interval), the particle
  cloud deposited on the grid against the grid density (L1 with its Monte Carlo floor);
* ``relu-network-grid``: no closed form. The velocity's w-component jumps across the kink line w = 0 (sigma' is a
  step), so the density develops a jump there: the grid is judged in a weak norm (W1 of the two marginals between
  h and h/3, observed order 2 with an interval verdict) and the risk at t = 0 against the exact Gaussian integral
  (midpoint rule, order 2); against neuron particles the risk agrees within the Monte Carlo interval and the
  particle-grid deviation shrinks like n^(-1/2) (fitted exponent with an interval from the replicate scatter).

Both cases also check the grid velocity against lagrangian.network_field on a point-mass cloud (round-off) and
that the risk never increases along the grid flow. Stochastic checks state their false-alarm rate (FALSE_ALARM
per check, Bonferroni over the compared times) and their Monte Carlo standard error.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np
from scipy import stats

import lagrangian as L
from eulerian.grid import Grid
from eulerian.meanfield import cell_quadrature, solve_meanfield
from eulerian.network_grid import NetworkVelocity, network_risk, network_velocity
from verify import gaussian as G
from verify.checks import check_solution_records, compare_l1
from verify.convergence import OrderFit, _verdict_check, fit_order, order_verdict
from verify.harness import CaseContext, Check, Slopes, case, make_check
from verify.metrics import worst


FALSE_ALARM = 1e-3        # per stochastic check (Bonferroni over the times it compares)
ROUNDOFF = 1e-12          # grid velocity vs lagrangian.network_field on the same point masses (relative)
ORDER_BAND = 0.2          # accepted |observed - claimed| for the midpoint-rule order (design: +-0.2)
LIMITED_ORDER_FLOOR = 1.75  # MUSCL with a limiter (mc) on smooth data: at least 1.75, as in continuity-walls-2d
RATE_BAND = 0.2           # accepted |observed - 1/2| for the Monte Carlo rate n^(-1/2)
RISK_ORDER_FLOOR = 1.8    # the grid risk error must fall at least like h^1.8 from the coarsest to the finest level
N_DATA = 12               # data points (deterministic normal quantiles)
PARTICLE_STEPS = 10       # RK4 steps of the neuron particles over [0, T] (time error <= 1e-6 in the risk, measured)

LINEAR_G0 = G.Gaussian([0.3, 0.3], 0.08 * np.eye(2))
LINEAR_T = 0.5
RELU_G0 = G.Gaussian([0.2, 0.4], 0.08 * np.eye(2))   # independent w and a: the exact initial risk below
RELU_T = 0.5
RELU_BOX = ((-1.5, -1.4), (2.1, 2.2))


# ----------------------------------------------------------------------------------------------- problems
def network_data(activation: str, N: int = N_DATA) -> tuple[np.ndarray, np.ndarray]:
    """Scalar inputs u_k = normal quantiles (k + 1/2)/N and targets: y = 1.2 u + 0.15 cos(3u) (linear; not in the
    model, so the risk stays positive) or the kinked y = max(u, 0) + 0.3 min(u, 0) (ReLU)."""
    u = stats.norm.ppf((np.arange(N) + 0.5) / N)
    if activation == "linear":
        return u, 1.2 * u + 0.15 * np.cos(3.0 * u)
    return u, np.maximum(u, 0.0) + 0.3 * np.minimum(u, 0.0)


def gaussian_box(g0: G.Gaussian, laws: Sequence[G.Gaussian], sigmas: float = 6.0) -> tuple[tuple, tuple]:
    """A box holding mean +- ``sigmas`` marginal standard deviations of every law (mass outside < 1e-8)."""
    lo = np.min([g.mean - sigmas * np.sqrt(np.diag(g.cov)) for g in (g0, *laws)], axis=0)
    hi = np.max([g.mean + sigmas * np.sqrt(np.diag(g.cov)) for g in (g0, *laws)], axis=0)
    return tuple(lo.tolist()), tuple(hi.tolist())


def kink_grid(n: int, lower: Sequence[float], upper: Sequence[float]) -> Grid:
    """An n x n grid on about [lower, upper] whose w-axis has the kink w = 0 at a cell centre (never on a face, where
    sigma'(0) = 0 would stop the flux across it): h = (upper_w - lower_w)/n, lower_w = -(j + 1/2) h."""
    h = (upper[0] - lower[0]) / n
    j = round(-lower[0] / h - 0.5)
    low = -(j + 0.5) * h
    return Grid((low, lower[1]), (low + n * h, upper[1]), (n, n))


def linear_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, tuple, tuple]:
    """Data, moments (S, r, E y^2) and the box of the linear case."""
    u, y = network_data("linear")
    S, r, y2 = G.data_moments(u[:, None], y)
    laws = [G.linear_network(LINEAR_G0, S, r, t) for t in np.linspace(0.0, LINEAR_T, 6)]
    lower, upper = gaussian_box(LINEAR_G0, laws)
    return u, y, S, r, y2, lower, upper


def run_grid(grid: Grid, g0: G.Gaussian, velocity: Callable, T: float, times: Sequence[float]):
    """The mean-field PDE on ``grid`` from the cell averages of g0 (MUSCL-mc + SSP-RK3, CFL 0.4)."""
    return solve_meanfield(grid, g0.pdf, velocity, T, save_at=list(times))


def particle_risks(field: Callable, g0: G.Gaussian, n: int, batches: int, rng: np.random.Generator,
                   times: Sequence[float], u: np.ndarray, y: np.ndarray, activation: str, T: float
                   ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """``batches`` independent clouds of n neuron particles from g0 (RK4, PARTICLE_STEPS steps over [0, T]): their
    risks (batches, times), the clouds at T, and the network outputs G(u_k) at T (batches, N)."""
    risks, finals, outputs = [], [], []
    for _ in range(batches):
        traj = L.integrate_ode(field, g0.sample(n, rng), 0.0, T, PARTICLE_STEPS, save_at=list(times))
        risks.append([L.network_loss(th, u[:, None], y, activation=activation) for th in traj])
        finals.append(np.asarray(traj[-1]))
        outputs.append(np.asarray(L.network_output(traj[-1], u[:, None], activation=activation)))
    return np.array(risks), finals, np.array(outputs)


# ----------------------------------------------------------------------------------------------- checks
def check_point_cloud(name: str, activation: str, velocity: Callable | None = None, *, cells: int = 40,
                      seed: int = 0) -> Check:
    """The grid velocity of a density that is uniform on ``cells`` cells (zero elsewhere, mass 1) equals
    lagrangian.network_field of the particles at those cell centres, evaluated at the particles: the midpoint rule
    turns the density into the point masses (1/n) sum_i delta_{c_i} exactly, and V[mu](theta_i) = -n grad_i F.
    Value: max |difference| / max |V| (round-off); a missing 1/n or n, or a wrong sigma', is O(1)."""
    u, y = network_data(activation)
    vel = network_velocity(u, y, activation=activation) if velocity is None else velocity
    grid = Grid((-1.55, -1.45), (1.45, 1.55), (15, 15))   # no centre on w = 0 (no ReLU tie)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(grid.size, size=cells, replace=False)
    rho = np.zeros(grid.size)
    rho[chosen] = 1.0 / (cells * grid.cell_volume)
    rho = rho.reshape(grid.shape)
    pts = grid.centers().reshape(-1, 2)[chosen]
    ours = np.asarray(vel(0.0, grid, rho, pts))
    ref = np.asarray(L.network_field(u[:, None], y, activation=activation)(0.0, pts))
    return make_check(f"{name}: grid velocity = lagrangian.network_field on point masses ({activation}, relative)",
                      float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref))), upper=ROUNDOFF,
                      detail=f"{cells} cells of a 15 x 15 grid, mass 1; N = {u.size} data points")


FIRST_VARIATION_RTOL = 1e-11  # vs exact difference quotients: round-off / step (measured 5e-15 ... 9e-14)


def first_variation_checks(name: str, activation: str, velocity: "NetworkVelocity | None" = None, *,
                           seed: int = 2, directions: int = 4, eps: float = 1e-3, delta: float = 1e-3
                           ) -> list[Check]:
    """NetworkVelocity.first_variation (dR/dmu) two ways, on the 15 x 15 grid of :func:`check_point_cloud` with the
    cell averages of RELU_G0:

    * at the cell centres c_j against network_risk along random directions nu (cell averages): the midpoint risk is
      a quadratic in rho, so the central quotient (R(rho + eps nu) - R(rho - eps nu)) / (2 eps) equals
      dR[nu] = sum_j dR/dmu(c_j) nu_j h_w h_a exactly; what remains is round-off, about ulp(R) / eps ~ 1e-13 of
      the Cauchy-Schwarz scale |dR/dmu|_2 |nu|_2 used as the unit (tolerance FIRST_VARIATION_RTOL);
    * at random points off the grid against the training velocity: -grad_theta dR/dmu = V[mu]. dR/dmu is linear in
      a and, in w, linear (linear activation) or piecewise linear with its only kink at w = 0 (ReLU), so central
      differences with step delta are exact at points with |w| > delta; relative to max |V|, round-off only.
    A missing 1/N, a wrong residual or an a/w mix-up is O(1); a wrong chunk of points is O(1) where it lands."""
    u, y = network_data(activation)
    vel = network_velocity(u, y, activation=activation) if velocity is None else velocity
    grid = Grid((-1.55, -1.45), (1.45, 1.55), (15, 15))
    rho = grid.cell_averages(RELU_G0.pdf)
    rng = np.random.default_rng(seed)
    centres = grid.centers().reshape(-1, 2)
    dR = np.asarray(vel.first_variation(0.0, grid, rho, centres))
    err = 0.0
    for _ in range(directions):
        nu = rng.standard_normal(grid.shape)
        quotient = (network_risk(grid, rho + eps * nu, u, y, activation)
                    - network_risk(grid, rho - eps * nu, u, y, activation)) / (2.0 * eps)
        pairing = float(dR @ nu.reshape(-1)) * grid.cell_volume
        scale = float(np.linalg.norm(dR) * np.linalg.norm(nu)) * grid.cell_volume
        err = worst([err, abs(quotient - pairing) / scale])
    first = make_check(f"{name}: first_variation at the cell centres vs central quotients of network_risk along "
                       f"{directions} random directions ({activation}, relative)", err,
                       upper=FIRST_VARIATION_RTOL, reference=0.0,
                       detail=f"eps = {eps:g}; the midpoint risk is quadratic in rho: the quotient is exact")
    pts = rng.uniform((-1.4, -1.3), (1.3, 1.4), size=(40, 2))
    pts[:, 0] = np.where(np.abs(pts[:, 0]) < 0.1, pts[:, 0] + np.sign(pts[:, 0] + 1e-300) * 0.1, pts[:, 0])
    grad = np.empty_like(pts)
    for k in range(2):
        step = np.zeros(2)
        step[k] = delta
        grad[:, k] = (np.asarray(vel.first_variation(0.0, grid, rho, pts + step))
                      - np.asarray(vel.first_variation(0.0, grid, rho, pts - step))) / (2.0 * delta)
    V = np.asarray(vel(0.0, grid, rho, pts))
    second = make_check(f"{name}: -grad_theta first_variation (central differences) = the training velocity at 40 "
                        f"points off the grid ({activation}, relative)",
                        worst([np.abs(-grad - V).max() / np.abs(V).max()]), upper=FIRST_VARIATION_RTOL, reference=0.0,
                        detail=f"delta = {delta:g}, |w| >= 0.1 (no ReLU kink inside a stencil): exact quotients")
    # eulerian.meanfield.cell_quadrature written out: G_mu(u_k) = sum_j wt_j a_j sigma(w_j u_k) = e_k + y_k
    pts_q, wts = cell_quadrature(grid, rho)
    z = pts_q[:, :1] * u[None, :]
    out = (wts * pts_q[:, 1]) @ (z if activation == "linear" else np.maximum(z, 0.0))
    G_grid = np.asarray(vel.residuals(grid, rho)) + y
    third = make_check(f"{name}: the network output from eulerian.meanfield.cell_quadrature written out = residuals "
                       f"+ y ({activation}, relative)", worst([np.abs(out - G_grid).max() / np.abs(G_grid).max()]),
                       upper=FIRST_VARIATION_RTOL, reference=0.0, detail="the same midpoint sum in another order")
    return [first, second, third]


def check_risk_decreasing(name: str, risks: Sequence[float], times: Sequence[float]) -> Check:
    """dR/dt = -int |V|^2 dmu <= 0 along the Wasserstein gradient flow: the saved risks never increase."""
    r = np.asarray(risks, dtype=float)
    return make_check(f"{name}: the risk never increases along the grid flow", float(np.max(np.diff(r))), upper=0.0,
                      detail=f"risk {r[0]:.6f} -> {r[-1]:.6f} at {len(r)} times in [0, {times[-1]:g}]")


def t_quantile(false_alarm: float, tests: int, dof: int) -> float:
    """Two-sided Student t quantile at level 1 - false_alarm / tests (Bonferroni)."""
    return float(stats.t.isf(false_alarm / (2.0 * tests), dof))


def check_risk_interval(name: str, particle: np.ndarray, reference: Sequence[float], times: Sequence[float], *,
                        allowance: Sequence[float] | float = 0.0, what: str = "exact",
                        false_alarm: float = FALSE_ALARM) -> Check:
    """Particle risks (batches, times) against ``reference`` at every time: the batch mean must lie within
    t * SE (Student t over the batches, Bonferroni over the times) plus ``allowance`` (a deterministic bound on the
    reference's own error, e.g. the grid's). The particles' mean-field bias is O(1/n), below a tenth of the SE
    for the sizes used. Value: max over times of (|mean - reference| - allowance) / SE (in standard errors)."""
    batches = particle.shape[0]
    mean = particle.mean(axis=0)
    se = particle.std(axis=0, ddof=1) / math.sqrt(batches)
    slack = np.broadcast_to(np.asarray(allowance, dtype=float), mean.shape)
    z = float(np.max((np.abs(mean - np.asarray(reference)) - slack) / se))
    crit = t_quantile(false_alarm, len(times), batches - 1)
    return make_check(f"{name}: particle risk vs {what} risk along the flow (standard errors)", z, upper=crit,
                      standard_error=1.0, false_alarm=false_alarm,
                      detail=f"{batches} batches; times {', '.join(f'{t:g}' for t in times)}; largest |mean - "
                             f"{what}| {np.max(np.abs(mean - np.asarray(reference))):.2e}, SE {np.max(se):.1e}, "
                             f"allowance {np.max(slack):.1e}; false-alarm rate {false_alarm:g}")


def marginal_w1(g: Grid, rho: np.ndarray, gf: Grid, rhof: np.ndarray) -> float:
    """Sum over the two axes of the exact W1 distance between the 1-D marginals of two piecewise-constant densities
    (W1 = int |F - F'| with piecewise-linear CDFs, integrated exactly between the union of the cell edges)."""
    total = 0.0
    for axis in (0, 1):
        cdfs, points = [], []
        for grid, r in ((g, rho), (gf, rhof)):
            marginal = np.asarray(r).sum(axis=1 - axis) * grid.cell_volume
            e = np.linspace(grid.lower[axis], grid.upper[axis], grid.shape[axis] + 1)
            cdfs.append((e, np.concatenate([[0.0], np.cumsum(marginal)])))
            points.append(e)
        x = np.union1d(*points)
        diff = np.interp(x, *cdfs[0]) - np.interp(x, *cdfs[1])   # outside a box: 0 below, the mass above
        a, b, dx = diff[:-1], diff[1:], np.diff(x)
        cross = a * b < 0
        piece = np.where(cross, (a * a + b * b) / (2.0 * (np.abs(a) + np.abs(b)) + 1e-300),
                         0.5 * (np.abs(a) + np.abs(b)))
        total += float(np.sum(piece * dx))
    return total


def remap(coarse: Grid, fine: Grid, rho: np.ndarray) -> np.ndarray:
    """Cell averages on ``coarse`` of the piecewise-constant density ``rho`` on ``fine`` (exact overlaps of the cells,
    axis by axis; mass-conserving where the boxes coincide)."""
    out = np.asarray(rho, dtype=float)
    for axis in (0, 1):
        ec = np.linspace(coarse.lower[axis], coarse.upper[axis], coarse.shape[axis] + 1)
        ef = np.linspace(fine.lower[axis], fine.upper[axis], fine.shape[axis] + 1)
        overlap = np.clip(np.minimum(ec[1:, None], ef[None, 1:]) - np.maximum(ec[:-1, None], ef[None, :-1]), 0.0,
                          None) / np.diff(ec)[:, None]
        out = np.moveaxis(np.tensordot(overlap, np.moveaxis(out, axis, 0), axes=(1, 0)), 0, axis)
    return out


def exact_relu_risk(g0: G.Gaussian, u: np.ndarray, y: np.ndarray) -> float:
    """R(mu_0) for mu_0 = N(m, diag(s_w^2, s_a^2)) (independent w and a): G(u) = m_a E[max(w u, 0)] with
    E[max(w u, 0)] = |u| E[(sign(u) w)^+] and E[X^+] = m Phi(m/s) + s phi(m/s) for X ~ N(m, s^2)."""
    if abs(g0.cov[0, 1]) > 0:
        raise ValueError("exact_relu_risk needs independent w and a (a diagonal covariance)")
    mw, ma = g0.mean
    s = math.sqrt(g0.cov[0, 0])
    sign = np.sign(u)
    m = sign * mw
    positive_part = m * stats.norm.cdf(m / s) + s * stats.norm.pdf(m / s)
    out = ma * np.abs(u) * positive_part
    return 0.5 * float(np.mean((out - y) ** 2))


def rate_fit(sizes: Sequence[int], deviations: Sequence[np.ndarray]) -> OrderFit:
    """The exponent p of RMS(n) = C n^(-p) of the particle-grid deviations (one array of replicate deviations per n)
    by weighted least squares of log RMS on log n; the variance of each log RMS from its replicates by the delta
    method, Var(log RMS) = Var(D^2) / (4 K MSE^2). Degrees of freedom: the smallest replicate count - 1."""
    x = np.log(np.asarray(sizes, dtype=float))
    ys, var = [], []
    for d in deviations:
        d2 = np.asarray(d, dtype=float) ** 2
        mse = float(d2.mean())
        ys.append(0.5 * math.log(mse))
        var.append(float(d2.var(ddof=1)) / (4.0 * d2.size * mse * mse))
    w = 1.0 / np.asarray(var)
    xm = float(np.sum(w * x) / np.sum(w))
    slope = float(np.sum(w * (x - xm) * np.asarray(ys)) / np.sum(w * (x - xm) ** 2))
    se = math.sqrt(1.0 / float(np.sum(w * (x - xm) ** 2)))
    return OrderFit(-slope, se, float(min(np.size(d) for d in deviations) - 1), model="RMS = C n^-p")


def check_rate(name: str, sizes: Sequence[int], deviations: Sequence[np.ndarray]) -> Check:
    """The particle-grid deviation shrinks like n^(-1/2): fitted exponent with its interval (rate_fit) against
    1/2 +- RATE_BAND (pass / fail at level 1 - 1e-3 / inconclusive)."""
    fit = rate_fit(sizes, deviations)
    verdict = order_verdict(fit, 0.5, RATE_BAND, what="exponent",
                            advice="add replicates per size or a larger size")
    rms = [float(np.sqrt(np.mean(np.asarray(d) ** 2))) for d in deviations]
    return _verdict_check(name, verdict, "RMS deviations " + ", ".join(f"{v:.2e}" for v in rms) + " at n = "
                          + ", ".join(str(n) for n in sizes), standard_error=fit.standard_error,
                          false_alarm=FALSE_ALARM)


# ----------------------------------------------------------------------------------------------- linear case
def linear_grid_errors(sizes: Sequence[int], times: Sequence[float], velocity: Callable | None = None
                       ) -> tuple[list[float], np.ndarray, list]:
    """L1 errors at T against the cell averages of the exact Gaussian law, and risk errors (levels, times)
    against linear_network_risk, at every grid size; also the (grid, solution) of each level."""
    u, y, S, r, y2, lower, upper = linear_problem()
    vel = network_velocity(u, y) if velocity is None else velocity
    exact_risk = [G.linear_network_risk(G.linear_network(LINEAR_G0, S, r, t), S, r, y2) for t in times]
    exact_T = G.linear_network(LINEAR_G0, S, r, times[-1])
    l1, risk_err, runs = [], [], []
    for n in sizes:
        grid = Grid(lower, upper, (n, n))
        sol = run_grid(grid, LINEAR_G0, vel, times[-1], times)
        l1.append(float(np.abs(sol.to_numpy() - grid.cell_averages(exact_T.pdf)).sum() * grid.cell_volume))
        risk_err.append([network_risk(grid, rho, u, y) - e for rho, e in zip(sol.densities, exact_risk)])
        runs.append((grid, sol))
    return l1, np.array(risk_err), runs


def check_grid_order(name: str, sizes: Sequence[int], errors: Sequence[float], width: float, *,
                     limited: bool = True, expected: float = 2.0) -> Check:
    """Observed order of the grid errors (h = width / n; a power law C h^p fitted over the levels) with its interval:
    for the limited MUSCL scheme (``limited``) at least LIMITED_ORDER_FLOOR (clipping at extrema costs a little of
    the order 2), otherwise ``expected`` +- ORDER_BAND."""
    fit = fit_order([width / n for n in sizes], errors)
    band = (expected - LIMITED_ORDER_FLOOR, math.inf) if limited else ORDER_BAND
    verdict = order_verdict(fit, expected, band, advice="add finer levels")
    return _verdict_check(name, verdict, "errors " + ", ".join(f"{e:.3e}" for e in errors) + " at n = "
                          + ", ".join(str(n) for n in sizes))


@case("linear-network-grid", title="Two-layer linear network on the neuron grid: the density against Prop 6.2's "
      "Gaussian law and neuron particles, the risk for all three, observed order 2",
      tags=("eulerian", "mean-field", "network", "particles"))
def linear_network_grid(ctx: CaseContext) -> None:
    ctx.add(check_point_cloud("linear", "linear"))
    ctx.add_all(first_variation_checks("linear", "linear"))
    # MUSCL-mc on this Gaussian: pairwise orders 1.37 (16 -> 24), 1.87, 2.06, 1.98, 1.79 (64 -> 96): the levels start
    # where the Gaussian is resolved (sd / h >= 1.6)
    sizes = (24, 32, 48, 64) if ctx.quick else (24, 32, 48, 64, 96)
    times = np.linspace(0.0, LINEAR_T, 6)
    u, y, S, r, y2, lower, upper = linear_problem()
    started = time.perf_counter()
    l1, risk_err, runs = linear_grid_errors(sizes, times)
    ctx.add(check_solution_records("solve_meanfield with network_velocity, save_at, zero-flux box",
                                   [sol for _, sol in runs], closed=True, elapsed=time.perf_counter() - started))
    width = upper[0] - lower[0]
    order = check_grid_order("grid density vs the Prop 6.2 Gaussian law: L1 order", sizes, l1, width)
    ctx.add(order)
    hs = [width / n for n in sizes]
    ctx.series("L1 error at T", hs, l1, xlabel="h (w axis)", ylabel="L1 error", logx=True, logy=True, label="grid",
               slopes=Slopes(order.value, order.interval or (order.value, order.value), 2.0,
                             (LIMITED_ORDER_FLOOR, math.inf)))
    largest = np.max(np.abs(risk_err), axis=1)
    ctx.check(f"grid risk error along the flow: n = {sizes[-1]} / n = {sizes[0]}", largest[-1] / largest[0],
              upper=(sizes[0] / sizes[-1]) ** RISK_ORDER_FLOOR,
              detail=f"max over {len(times)} times of |R_grid - linear_network_risk|: "
                     + ", ".join(f"{e:.2e}" for e in largest) + f"; bound (h ratio)^{RISK_ORDER_FLOOR}")
    grid, sol = runs[-1]
    grid_risk = [network_risk(grid, rho, u, y) for rho in sol.densities]
    exact_risk = [G.linear_network_risk(G.linear_network(LINEAR_G0, S, r, t), S, r, y2) for t in times]
    ctx.add(check_risk_decreasing("linear", grid_risk, times))
    ctx.series("risk along the flow", times, grid_risk, xlabel="t", ylabel="risk", label=f"grid n = {sizes[-1]}")
    ctx.series("risk along the flow", times, exact_risk, xlabel="t", ylabel="risk", label="Prop 6.2")
    # neuron particles: independent batches, the risk against the exact law and against the grid
    n, batches = (1000, 12) if ctx.quick else (2000, 16)
    field = L.network_field(u[:, None], y)
    risks, finals, _ = particle_risks(field, LINEAR_G0, n, batches, ctx.rng("particles"), times, u, y,
                                      "linear", LINEAR_T)
    ctx.series("risk along the flow", times, risks.mean(0), xlabel="t", ylabel="risk",
               label=f"particles ({batches} x {n})")
    ctx.add(check_risk_interval("linear", risks, exact_risk, times, what="exact"))
    ctx.add(check_risk_interval("linear", risks, grid_risk, times, allowance=np.abs(risk_err[-1]), what="grid"))
    exact_T = G.linear_network(LINEAR_G0, S, r, LINEAR_T)
    cmp_ = compare_l1(grid, sol.to_numpy(), finals[:4], grid.cell_averages(exact_T.pdf))
    ctx.add(cmp_.check(f"{n} neuron particles at T = {LINEAR_T:g} deposited on the grid"))
    ctx.note("risk at t = 0 / T (exact)", f"{exact_risk[0]:.6f} / {exact_risk[-1]:.6f}")


# ----------------------------------------------------------------------------------------------- ReLU case
def relu_grid_runs(sizes: Sequence[int], times: Sequence[float], velocity: Callable | None = None,
                   ratio: int = 3) -> list[tuple]:
    """(grid, solution) at n and ratio * n for every n of ``sizes`` (odd ratio: w = 0 stays a cell centre)."""
    u, y = network_data("relu")
    vel = network_velocity(u, y, activation="relu") if velocity is None else velocity
    out = {}
    for n in sorted(set(sizes) | {ratio * n for n in sizes}):
        grid = kink_grid(n, *RELU_BOX)
        out[n] = (grid, run_grid(grid, RELU_G0, vel, times[-1], times))
    return [(out[n], out[ratio * n]) for n in sizes]


def relu_self_errors(pairs: list[tuple]) -> list[float]:
    """W1 of the marginals between the densities at T on n and 3n cells per axis."""
    return [marginal_w1(g, s.to_numpy(), gf, sf.to_numpy()) for (g, s), (gf, sf) in pairs]


@case("relu-network-grid", title="Two-layer ReLU network on the neuron grid: self-convergence in h (weak norm), "
      "the exact initial risk, neuron particles converging like n^-1/2",
      tags=("eulerian", "mean-field", "network", "particles"))
def relu_network_grid(ctx: CaseContext) -> None:
    ctx.add(check_point_cloud("relu", "relu"))
    u, y = network_data("relu")   # the smallest chunk budget: one row of neurons or cells per chunk
    ctx.add(check_point_cloud("relu, chunk_bytes = 1024", "relu",
                              network_velocity(u, y, activation="relu", chunk_bytes=1024)))
    ctx.add_all(first_variation_checks("relu, chunk_bytes = 1024", "relu",
                                       network_velocity(u, y, activation="relu", chunk_bytes=1024)))
    u, y = network_data("relu")
    # pairwise orders of the W1 self-differences: 2.08, 1.89, 1.83, 1.78, 1.93, 1.80 (n = 9 ... 41)
    sizes = (9, 13, 17, 21) if ctx.quick else (9, 13, 17, 21, 27, 33)
    times = np.linspace(0.0, RELU_T, 6)
    started = time.perf_counter()
    pairs = relu_grid_runs(sizes, times)
    ctx.add(check_solution_records("solve_meanfield with network_velocity (relu), save_at, zero-flux box",
                                   [sol for pair in pairs for _, sol in pair], closed=True,
                                   elapsed=time.perf_counter() - started))
    width = RELU_BOX[1][0] - RELU_BOX[0][0]
    w1 = relu_self_errors(pairs)
    order = check_grid_order("grid density, W1 of the marginals between h and h/3 at T: order", sizes, w1, width)
    ctx.add(order)
    ctx.series("W1(h, h/3) at T", [width / n for n in sizes], w1, xlabel="h", ylabel="W1 (marginals)", logx=True,
               logy=True, label="grid")
    exact0 = exact_relu_risk(RELU_G0, u, y)
    all_grids = [p[0] for p in pairs] + [pairs[-1][1]]
    init_err = [abs(network_risk(g, s.densities[0], u, y, "relu") - exact0) for g, s in all_grids]
    ctx.add(check_grid_order("network_risk at t = 0 vs the exact Gaussian integral: order (midpoint rule)",
                             [*sizes, 3 * sizes[-1]], init_err, width, limited=False))
    (gc, sc), (gf, sf) = pairs[-1]
    grid_risk = np.array([network_risk(gf, rho, u, y, "relu") for rho in sf.densities])
    coarse_risk = np.array([network_risk(gc, rho, u, y, "relu") for rho in sc.densities])
    ctx.add(check_risk_decreasing("relu", grid_risk, times))
    ctx.series("risk along the flow", times, grid_risk, xlabel="t", ylabel="risk", label=f"grid n = {gf.shape[0]}")
    # neuron particles: the risk against the grid, and the rate in n of the network function's deviation
    grid_output = np.asarray(network_velocity(u, y, activation="relu").residuals(gf, sf.density)) + y
    field = L.network_field(u[:, None], y, activation="relu")
    # replicates ∝ 1/n (equal cost per size); the mean-field bias O(1/n) and the grid's error stay below 5 % of the
    # RMS deviation at every size (measured: sqrt(n) RMS = 0.11-0.14 for n = 250 ... 4000). G_n - G_grid lives in
    # the 2-D space of the output slopes (G(u) = q+ u for u > 0, q- u for u < 0) and is dominated by one direction,
    # so Var(log RMS) ≈ 0.47 / K: these counts give a standard error of about 0.045 on the exponent (quick)
    plan = ((100, 128), (400, 64), (1600, 32)) if ctx.quick else ((100, 256), (400, 128), (1600, 64), (6400, 32))
    deviations, largest = [], None
    for n, batches in plan:
        risks, finals, outputs = particle_risks(field, RELU_G0, n, batches, ctx.rng(f"particles-{n}"), times, u,
                                                y, "relu", RELU_T)
        deviations.append(np.sqrt(np.mean((outputs - grid_output) ** 2, axis=1)))
        largest = (n, risks, finals)
    n, risks, finals = largest
    ctx.series("risk along the flow", times, risks.mean(0), xlabel="t", ylabel="risk",
               label=f"particles ({risks.shape[0]} x {n})")
    # the grid's own error: bounded by its change from n to 3n cells (it converges at order >= 1.8: the change
    # over-estimates the finer grid's error)
    ctx.add(check_risk_interval("relu", risks, grid_risk, times, allowance=np.abs(grid_risk - coarse_risk),
                                what="grid"))
    ctx.add(check_rate("network function at T, particles vs grid: RMS over the data of G_n - G_grid ~ n^-1/2 "
                       "(fitted exponent)", [n for n, _ in plan], deviations))
    # the density: every cloud of the largest n deposited on the n-cell grid (the floor from all pairs: with 1600
    # particles on 21^2 cells one pair spreads by ~12 %, the mean over 32 clouds by ~2 %), against the 3n-cell
    # density remapped there; its error is bounded by half the coarse-fine difference (the L1 error falls by >= 2
    # from n to 3n: L1 order >= 0.63, measured about 1 with the jump at w = 0)
    fine_on_coarse = remap(gc, gf, sf.to_numpy())
    cmp_ = compare_l1(gc, fine_on_coarse, finals)
    cmp_ = replace(cmp_, grid_error=0.5 * float(np.abs(sc.to_numpy() - fine_on_coarse).sum() * gc.cell_volume))
    ctx.add(cmp_.check(f"{n} neuron particles at T = {RELU_T:g} deposited on the {gc.shape[0]}-cell grid"))
    ctx.note("risk at t = 0 (exact) / T (grid)", f"{exact0:.6f} / {grid_risk[-1]:.6f}")
