"""Grid against particles: the same evolution solved by `eulerian` finite volumes and by `lagrangian`
particles, compared with each other and with the exact Gaussian law.

The L1 comparison of deposited particles with a grid density and its Monte Carlo floor is
:func:`verify.checks.compare_l1`.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import expm

from typing import Callable

from eulerian import Grid, solve_continuity
from lagrangian import grid_velocity_field, integrate_ode
from verify import gaussian as G
from verify.adapters import FokkerPlanckSolver, ODESampler, SDESampler
from verify.checks import check_samples_match, compare_l1
from verify.cases._pictures import density_picture
from verify.harness import CaseContext, case
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


def _probability_flow(problem: Problem) -> Callable:
    """v(t, x) = b(x) − D ∇log ρ_t(x) with the exact Gaussian score (affine)."""
    def field(t, x):
        return problem.drift(t, x) - problem.diffusion * problem.exact_law(t).score(x)
    return field


@case("probability-flow-ou-2d", title="OU 2D: probability-flow ODE particles share the SDE's "
      "marginals and the grid solution, not its paths", tags=("grid", "particles", "ode", "sde"))
def probability_flow_ou_2d(ctx: CaseContext) -> None:
    n_cells, n, sets = (64, 20_000, 4) if ctx.quick else (128, 100_000, 4)
    grid, rho, exact = ou_grid(n_cells)
    problem, sde = ou_twins()
    flow = problem.with_(name="ou-2d probability flow", kind="ode", diffusion=0.0, drift=_probability_flow(problem))
    T = problem.t_final
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
