"""Eulerian cases: finite-volume Fokker-Planck and continuity solvers against exact laws.

The cases run the built-in problems of :mod:`verify.problems` through the adapters of :mod:`verify.adapters` and
the studies of :mod:`verify.convergence`, the same path a user's solver takes (``twinflow study``). Order
verdicts come from the studies (95 % interval inside the band); the other comparisons are pure functions
returning Check(s), so tests can feed a wrong scheme or value and see it flagged. Densities are compared as cell
averages (L1 norm, sum |rho - exact| * cell volume).
"""
from __future__ import annotations

import math
import re
import time
from typing import Any, Callable, Sequence

import numpy as np
from scipy.special import ndtr

from eulerian import Dirichlet, Flux, Grid, NumericalError, Solution, solve_continuity, solve_fokker_planck
from eulerian.backend import get_backend
from eulerian.continuity import LIMITERS
from eulerian.operators import FLUX_SCHEMES, FLUXES, assemble_generator, face_drift
from eulerian.time_schemes import TIME_SCHEMES
from verify import gaussian as G
from verify.adapters import ContinuitySolver, FokkerPlanckSolver
from verify.checks import check_solution_records
from verify.cases._pictures import density_picture
from verify.convergence import ConvergenceStudy, _verdict_check, convergence_study, fit_order, order_verdict
from verify.harness import CaseContext, Check, case, make_check
from verify.metrics import grid_error, relative_error, worst
from verify.problems import get_problem, grid_for

MASS_TOL = 1e-12  # relative mass drift allowed with zero-flux or periodic boundaries (round-off)
AGREEMENT_TOL = 1e-8  # array vs FiPy, same scheme
ORDER_BAND = 0.15  # observed order within +-0.15 of the theoretical order
SOLVER_AGREEMENT_TOL = 1e-9  # multigrid (BiCGStab, rtol 1e-12) against sparse LU, relative max difference
MULTIGRID_MAX_ITERATIONS = 6  # BiCGStab iterations per step (measured <= 5 on 64x48 ... 128x96, see the case)
# the mean over a run's solves (measured 3.00-4.00 per scheme, 4.12 at dt D / h² ≈ 40, 4.36-4.44 with a cell-valued
# D; a component that costs one iteration more per solve, e.g. wrong prolongation weights, gives 5)
MULTIGRID_MEAN_ITERATIONS = 4.75
LIMITED_ORDER_FLOOR = 1.75  # MUSCL with a limiter on smooth data: L1 order >= 1.75 (measured 1.87-2.3)


# ----------------------------------------------------------------------------------------- pure checks
def check_mass(name: str, sol: Solution, tol: float = MASS_TOL) -> Check:
    """Relative mass drift max_n |m_n - m_0| / m_0 below tol (conservative boundaries, no source)."""
    return make_check(f"{name}: relative mass drift", sol.mass_drift, upper=tol, reference=0.0)


def check_nonnegative(name: str, sol: Solution, rel_floor: float = 0.0) -> Check:
    """Minimum density over the run divided by the final maximum, >= -rel_floor."""
    dmax = float(np.asarray(sol.to_numpy()).max())
    return make_check(f"{name}: min density / max density", sol.min_density / dmax, lower=-rel_floor)


def check_agreement(name: str, a: Any, b: Any, tol: float = AGREEMENT_TOL) -> Check:
    """max |a - b| / max |a| below tol."""
    a, b = np.asarray(a), np.asarray(b)
    return make_check(f"{name}: max relative difference", float(np.abs(a - b).max() / np.abs(a).max()),
                      upper=tol, reference=0.0)


def check_gaussian_moments(name: str, grid: Grid, rho: Any, exact: G.Gaussian, tol: float) -> list[Check]:
    """Mean and covariance (Sheppard-corrected) of the grid density against the exact Gaussian law."""
    rho = np.asarray(rho)
    return [
        make_check(f"{name}: |mean - exact|_max", float(np.abs(grid.mean(rho) - exact.mean).max()), upper=tol),
        make_check(f"{name}: |cov - exact|_max", float(np.abs(grid.covariance(rho) - exact.cov).max()), upper=tol),
    ]


def gibbs_deviation(grid: Grid, drift: Callable, D: float, rho_eq: np.ndarray, flux: str, time_scheme: str,
                    steps: int = 20, t_final: float = 2.0, boundary: str = "zero-flux") -> float:
    """max |rho(T) - rho_eq| / max rho_eq starting from the discrete Gibbs state."""
    sol = solve_fokker_planck(grid, rho_eq, drift, D, t_final, steps, flux=flux, time=time_scheme,
                              boundary=boundary)
    return float(np.abs(sol.to_numpy() - rho_eq).max() / rho_eq.max())


def check_equilibrium(name: str, deviation: float, tol: float = 1e-12) -> Check:
    """The discrete Gibbs state stays stationary to round-off."""
    return make_check(f"{name}: Gibbs-state deviation", deviation, upper=tol, reference=0.0)


def record_study(ctx: CaseContext, label: str, study: ConvergenceStudy, expected: float,
                 band: float | tuple[float, float] = ORDER_BAND) -> None:
    """The study's order verdict, its error series and notes, recorded on the case."""
    ctx.add_all(study.checks(expected, band, name=label))
    ctx.series(f"{label}: {study.norm} error vs h", study.h, study.errors, xlabel="h" if study.refine != "time"
               else "dt", ylabel=f"{study.norm} error", logx=True, logy=True, slopes=study.slopes(expected, band))
    ctx.note(f"{label} errors", [float(e) for e in study.errors])


# --------------------------------------------------------------------------------------------- cases
# (C_L1, C_moments): the L1 error at every saved time and the mean/covariance errors at t_final must stay below
# C h^2 at the finest level (h the largest cell side). Frozen at about twice the measured ratios (SG + BDF2 and
# Douglas ADI, steps = N/2, quick and full levels alike): ou-1d L1 0.117 h^2, moments 0.098 h^2; ou-2d L1
# 0.149 h^2, moments 0.123 h^2. A tolerance from the run's own error would grow with a wrong scheme's error.
OU_ERROR_CONSTANTS = {"ou-1d": (0.25, 0.2), "ou-2d": (0.3, 0.25)}


def run_ou(ctx: CaseContext, name: str, levels: tuple[int, ...], label: str, **kw: Any) -> ConvergenceStudy:
    """Space-time study (steps = N/2) of SG fluxes with ``kw`` (time=...) on a Gaussian Fokker-Planck problem;
    mass, positivity, intermediate times and moments at the finest level."""
    problem = get_problem(name)
    T = problem.t_final
    solver = FokkerPlanckSolver(save_at=(0.25 * T, 0.5 * T, T), **kw)
    study = convergence_study(solver, problem, levels)
    for lv, sol in zip(study.levels, study.outputs):
        ctx.add(check_mass(f"{label} N={lv.cells[0]}", sol))
        ctx.add(check_nonnegative(f"{label} N={lv.cells[0]} (second-order tails)", sol, rel_floor=1e-10))
    grid = grid_for(problem, levels[-1])
    sol = study.outputs[-1]
    c_l1, c_moments = OU_ERROR_CONSTANTS[name]
    h2 = max(grid.spacing) ** 2
    for t, rho in zip(sol.times, sol.densities_numpy()):
        e = grid_error(rho, problem.exact_cell_averages(grid, float(t)), grid.cell_volume)
        ctx.check(f"{label} N={levels[-1]} t={t:g}: L1 error", e, upper=c_l1 * h2,
                  detail=f"bounded by {c_l1:g} h^2 (a constant measured once and frozen)")
    record_study(ctx, f"{label} L1", study, solver.order)
    if grid.dim == 2:
        density_picture(ctx, f"{label}: density at t = {T:g}, N = {levels[-1]}", grid, sol.to_numpy(),
                        exact=problem.exact_cell_averages(grid))
    ctx.add_all(check_gaussian_moments(f"{label} N={levels[-1]} t={T:g}", grid, sol.to_numpy(),
                                       problem.exact_law(), tol=c_moments * h2))
    ctx.note(f"{label} wall time finest (s)", round(sol.wall_time, 3))
    return study


@case("ou-1d", title="Ornstein-Uhlenbeck Fokker-Planck 1D (SG + BDF2) vs exact Gaussian law",
      tags=("eulerian", "fokker-planck"))
def ou_1d(ctx: CaseContext) -> None:
    run_ou(ctx, "ou-1d", (64, 128, 256) if ctx.quick else (128, 256, 512), "ou-1d")


# ---------------------------------------------------------------- Douglas ADI: the factorised line systems
# eulerian.adi.TridiagonalLines solves (c0 I - c1 A_k) x = r on every grid line along axis k: LAPACK ?gttrf/?gttrs on
# NumPy, the batched Thomas recursion without pivoting elsewhere (the algorithm of the CUDA kernels, run here on the
# CPU with lapack=False). Both against the operator itself, applied in flux form by eulerian.adi.axis_apply (the
# explicit half of every Douglas step, no line factorisation): relative residual
# max |c0 x - c1 A_k x - r| / ((c0 + c1 max_i sum_j |A_k|_ij) max |x|). Gaussian elimination is backward stable on
# these column diagonally dominant M-matrices (and Sherman-Morrison adds one more solve on periodic lines): the
# residual is a few n u, u = 1.1e-16, n <= 24 cells per line; LINE_SOLVE_TOL = 1e-13 is ~40 n u.
LINE_SOLVE_TOL = 1e-13
# c1 of the systems c0 I - c1 A_k (c0 = 1): a mild step, and a stiff one (c1 |A_k| of order 10^3), where the
# scale of the Sherman-Morrison correction decides the accuracy of the periodic lines (1/size for size: 1.8e-11)
LINE_C1 = (0.3, 30.0)
LINE_GRID = ((-2.0, -1.0), (2.0, 2.0), (24, 14))   # anisotropic cells, lines of 24 and 14 cells


def _line_drift(t: float, x: np.ndarray) -> np.ndarray:
    """Varies along every line (so no two pivots of a line coincide), periodic along both axes of LINE_GRID."""
    return np.stack([1.5 * np.sin(0.5 * np.pi * x[..., 0]) + np.cos(2.0 * np.pi * x[..., 1] / 3.0),
                     -np.sin(2.0 * np.pi * x[..., 1] / 3.0) + 0.5 * np.cos(0.5 * np.pi * x[..., 0])], -1)


def line_solve_residuals(lines_class: Any = None, c0: float = 1.0, c1: float = 0.3) -> dict:
    """{(boundary, solver path, axis): relative residual} of the line solves (see above) for a random right-hand
    side; ``lines_class``: the TridiagonalLines to test (a wrong one feeds the negative tests)."""
    from eulerian.adi import TridiagonalLines, axis_apply
    from eulerian.operators import face_rates

    cls = TridiagonalLines if lines_class is None else lines_class
    be = get_backend("numpy")
    grid = Grid(*LINE_GRID)
    rng = np.random.default_rng(20261130)
    out = {}
    for periodic in (False, True):
        rates = face_rates(be, grid, face_drift(be, grid, _line_drift, 0.0, periodic), 0.4, "scharfetter-gummel")
        for k, (a, b) in enumerate(rates):
            faces = grid.shape[:k] + (grid.shape[k] - (not periodic),) + grid.shape[k + 1:]
            af, bf = a.reshape(faces), b.reshape(faces)
            norm_A = max(float(np.abs(a).max()), float(np.abs(b).max())) * 4.0   # >= max row sum of |A_k|
            r = rng.standard_normal(grid.size)
            for lapack in (True, False):
                x = cls(be, grid.shape, k, a, b, c0, c1, periodic, lapack=lapack).solve(r)
                Ax = axis_apply(np, x.reshape(grid.shape), af, bf, k, periodic).reshape(-1)
                res = float(np.abs(c0 * x - c1 * Ax - r).max()) / ((c0 + c1 * norm_A) * float(np.abs(x).max()))
                out[("periodic" if periodic else "walls", "LAPACK" if lapack else "Thomas", k)] = res
    return out


def check_line_solves(residuals: dict, tol: float = LINE_SOLVE_TOL) -> Check:
    """The largest relative residual of the line solves within round-off."""
    worst = max(residuals, key=residuals.get)
    return make_check("Douglas ADI line solves (LAPACK and the Thomas recursion, walls and periodic lines): largest "
                      "relative residual against the flux-form operator", residuals[worst], upper=tol,
                      reference=0.0, detail=f"worst {worst}; " + ", ".join(
                          f"{'/'.join(map(str, key))} {v:.2g}" for key, v in residuals.items()))


def check_adi_paths(steps: int = 4, dt: float = 0.05) -> Check:
    """Whole Douglas ADI steps (eulerian.adi.DouglasADI) with lapack=False, the batched Thomas recursion of the
    CUDA kernels run on the CPU, against lapack=True (LAPACK ?gttrs): two independent line-solve algorithms on
    LINE_GRID, periodic on both axes (Sherman-Morrison on every line), the drift _line_drift moved with time
    (refactorised every step). Value: the largest relative difference after ``steps`` steps (round-off)."""
    from eulerian.adi import DouglasADI
    from eulerian.operators import face_rates

    be, grid = get_backend("numpy"), Grid(*LINE_GRID)

    def rates(t: float) -> list:
        drift = lambda s, x: _line_drift(s, x - [t, 0.5 * t])   # noqa: E731 - translated with t
        return face_rates(be, grid, face_drift(be, grid, drift, t, True), 0.4, "scharfetter-gummel")

    rho = np.random.default_rng(20261201).uniform(0.5, 1.5, grid.size)
    runs = [DouglasADI(be, grid, rates, True, dt, True, lapack=lapack) for lapack in (True, False)]
    x, y = rho, rho
    for n in range(steps):
        x, y = (adi.step(z, dt * n, dt * (n + 1)) for adi, z in zip(runs, (x, y)))
    ran = [adi.line_solver for adi in runs]
    return make_check("Douglas ADI steps with lapack=False (the Thomas recursion) vs LAPACK, periodic lines, drift "
                      "moving with t: relative difference (2-norm)",
                      relative_error(y, x) if ran == ["lapack", "thomas"] else math.inf, upper=LINE_SOLVE_TOL,
                      reference=0.0, detail=f"{steps} steps of dt = {dt} on {grid.shape} cells; line solvers {ran}")


# Grid moments of exact cell averages: a Gaussian N(MOMENT_MEAN, diag(MOMENT_STD²)) on a box of +-10 standard
# deviations with unequal spacing per axis (h / s = 0.83 and 0.5). For a density this smooth, grouping adds h²/12
# to each variance up to terms of order exp(-2 pi² s² / h²) (Sheppard 1898), 4e-13 here, so the corrected moments
# are exact to about that and the uncorrected variance exceeds s² by h²/12.
MOMENT_GRID = Grid((-6.0, -5.0), (6.0, 5.0), (24, 40))
MOMENT_MEAN, MOMENT_STD = (0.3, -0.2), (0.6, 0.5)


def separable_gaussian_cells(grid: Grid, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Exact cell averages of N(mean, diag(std²)) on ``grid``: products of normal CDF differences per axis."""
    per_axis = [np.diff(ndtr((grid.faces(k) - mean[k]) / std[k])) / grid.spacing[k] for k in range(grid.dim)]
    out = per_axis[0]
    for p in per_axis[1:]:
        out = np.multiply.outer(out, p)
    return out


def check_grid_moments(grid: Grid = MOMENT_GRID) -> Check:
    """Grid.mean and Grid.covariance of exact Gaussian cell averages: the mean and the Sheppard-corrected
    covariance against the exact ones, and the uncorrected (sheppard=False) variances against s² + h²/12.
    Value: the largest difference relative to the smallest variance (round-off to pass; a correction h²/13
    instead of h²/12 is off by 4e-3)."""
    rho = separable_gaussian_cells(grid, MOMENT_MEAN, MOMENT_STD)
    exact = np.diag(np.square(MOMENT_STD))
    grouped = exact + np.diag(np.square(grid.spacing) / 12.0)
    scale = float(np.min(np.square(MOMENT_STD)))
    errors = {"mean": float(np.max(np.abs(grid.mean(rho) - MOMENT_MEAN))) / math.sqrt(scale),
              "covariance": float(np.max(np.abs(grid.covariance(rho) - exact))) / scale,
              "covariance, sheppard=False": float(np.max(np.abs(grid.covariance(rho, sheppard=False) - grouped)))
              / scale}
    return make_check("Grid.mean and Grid.covariance of exact Gaussian cell averages (h_x = 0.5, h_y = 0.25) vs the "
                      "exact moments, Sheppard's h²/12 (relative)", max(errors.values()), upper=1e-10,
                      reference=0.0, detail=", ".join(f"{k} {e:.1e}" for k, e in errors.items()))


@case("ou-2d", title="Ornstein-Uhlenbeck Fokker-Planck 2D (SG + BDF2 and Douglas ADI, steps = N/2) vs exact law",
      tags=("eulerian", "fokker-planck"))
def ou_2d(ctx: CaseContext) -> None:
    levels = (32, 64, 128) if ctx.quick else (64, 128, 256)
    run_ou(ctx, "ou-2d", levels, "ou-2d")
    # the extra splitting scheme: tridiagonal line solves, same order, error within 1 % of the full solves
    run_ou(ctx, "ou-2d", levels, "ou-2d Douglas ADI", time="douglas-adi")
    ctx.add(check_line_solves({(*key, f"c1 {c1:g}"): r for c1 in LINE_C1 for key, r in
                               line_solve_residuals(c1=c1).items()}))
    ctx.add(check_adi_paths())
    ctx.add(check_grid_moments())
    if not ctx.quick:  # target: L1 <= 5e-4 at N = 256 (FiPy IE, 128 steps: 2.7e-3)
        for label in ("ou-2d", "ou-2d Douglas ADI"):
            ctx.check(f"{label} N=256: L1 error (target 5e-4)", ctx.notes[f"{label} L1 errors"][-1], upper=5e-4)


# ------------------------------------------------------------------ the mass-balance guard of conservative solvers
# solve_fokker_planck's docstring states the guard: after n steps a relative mass drift beyond n * 1e-9 raises
# NumericalError (eulerian._validate.check_mass_balance, shared by the conservative solvers). Planted slips at 0.9 and
# 1.1 times that tolerance, after several step counts and with an unnormalised mass, must be let through and refused.
STATED_MASS_RTOL = 1e-9
GUARD_PLANTS = ((1, 3.7), (7, 0.023), (250, 41.0))   # (steps so far, mass)


def mass_guard_misjudged(guard: Callable | None = None) -> tuple[int, list[str]]:
    """(count, descriptions) of planted mass slips that ``guard`` (default check_mass_balance) judges wrongly: a
    slip of 0.9 n STATED_MASS_RTOL must pass and return that drift (to 1e-6 relative: the planted mass carries
    one rounding of the mass, 1e-16 / 1e-9), one of 1.1 n STATED_MASS_RTOL and a NaN mass must raise
    NumericalError."""
    from eulerian._validate import check_mass_balance

    guard = check_mass_balance if guard is None else guard
    wrong = []
    for n, m0 in GUARD_PLANTS:
        for factor, sign in ((0.9, 1.0), (0.9, -1.0), (1.1, 1.0), (1.1, -1.0), (math.nan, 1.0)):
            slip = factor * n * STATED_MASS_RTOL
            mass = m0 * (1.0 + sign * slip)
            try:
                drift = guard("planted slip", mass, m0, m0, n, 0.1 * n, "(a planted slip)")
            except NumericalError:
                if factor < 1.0:
                    wrong.append(f"n={n}, slip {sign * slip:.3g}: refused")
                continue
            if not factor < 1.0:
                wrong.append(f"n={n}, slip {sign * slip:.3g}: let through")
            elif abs(drift - slip) > 1e-6 * slip:
                wrong.append(f"n={n}, slip {sign * slip:.3g}: reported drift {drift:.6g}")
    return len(wrong), wrong


def check_mass_guard(guard: Callable | None = None) -> Check:
    """No planted slip misjudged (see mass_guard_misjudged)."""
    count, wrong = mass_guard_misjudged(guard)
    return make_check(f"mass-balance guard: planted slips at 0.9 and 1.1 x n·{STATED_MASS_RTOL:g} misjudged",
                      float(count), upper=0.0, detail="; ".join(wrong) or
                      f"{5 * len(GUARD_PLANTS)} plants at n = {[n for n, _ in GUARD_PLANTS]} judged right")


# ------------------------------------------------------------------- a constant (scalar) source on the heat equation
# source(t, x) may return one number, the same in every cell. With zero drift and zero-flux walls the generator
# annihilates constants (A 1 = 0), so the solution with the source S is the one without plus S t in every cell, and
# the mass grows as m0 + S |box| t, for every time scheme (each integrates a constant forcing exactly). Tolerance:
# round-off, 1e-13 of the largest density (measured <= 1.5e-15 after 10 steps).
SCALAR_SOURCE = {"S": 0.7, "D": 0.3, "T": 0.5, "steps": 10, "box": ((-2.0, -1.5), (2.0, 1.5)), "cells": (16, 12)}
SCALAR_SOURCE_TOL = 1e-13


def scalar_source_checks(schemes: Sequence[str] = tuple(TIME_SCHEMES), value: float | None = None) -> list[Check]:
    """Per time scheme: max |rho_S(T) - rho_0(T) - S T| / max rho_S(T) and max_n |m_n - m_0 - S |box| t_n| / m(T)
    for the source ``lambda t, x: S`` (a number; ``value``: what the source returns instead of S, for the
    negative tests)."""
    p = SCALAR_SOURCE
    grid = Grid(*p["box"], p["cells"])
    rho0 = grid.cell_averages(lambda x: np.exp(-np.sum(x ** 2, axis=-1)))
    S, T = p["S"], p["T"]
    given = S if value is None else value
    area = float(np.prod(np.subtract(p["box"][1], p["box"][0])))
    checks = []
    for scheme in schemes:
        a = solve_fokker_planck(grid, rho0, _no_drift, p["D"], T, p["steps"], time=scheme, source=lambda t, x: given)
        b = solve_fokker_planck(grid, rho0, _no_drift, p["D"], T, p["steps"], time=scheme)
        ra = a.to_numpy()
        scale = float(np.abs(ra).max())
        checks.append(make_check(f"heat + constant source S = {S:g} (a number), {scheme}: max |rho_S - rho_0 - S T| / "
                                 "max rho_S", float(np.abs(ra - b.to_numpy() - S * T).max()) / scale,
                                 upper=SCALAR_SOURCE_TOL, reference=0.0))
        gap = np.asarray(a.mass) - a.mass[0] - S * area * np.asarray(a.mass_times)
        checks.append(make_check(f"heat + constant source S = {S:g}, {scheme}: max over steps |m_n - m_0 - S |box| "
                                 "t_n| / m(T)", float(np.abs(gap).max()) / float(a.mass[-1]),
                                 upper=SCALAR_SOURCE_TOL, reference=0.0))
    return checks


# The mass guard's scale counts the mass a source brings in: from rho0 of mass 1e-12 the source S = 0.7 brings 4.2 by
# T, so a guard scaled by |m0| alone would read the round-off of the final mass (1e-16 x 4.2) as a relative drift
# of 4e-4, far beyond its n x 1e-9, and raise on a correct run.
SOURCE_DOMINATED_MASS = 1e-12


def source_dominated_check(solve: Callable = solve_fokker_planck) -> Check:
    """Heat + the constant source S of SCALAR_SOURCE from a density of mass SOURCE_DOMINATED_MASS (implicit
    Euler): no mass alarm, and max over steps |m_n - m_0 - S |box| t_n| / m(T) within SCALAR_SOURCE_TOL (measured
    6.3e-16). A NumericalError gives inf, its message in the detail."""
    p = SCALAR_SOURCE
    grid = Grid(*p["box"], p["cells"])
    rho0 = grid.cell_averages(lambda x: np.exp(-np.sum(x ** 2, axis=-1)))
    rho0 *= SOURCE_DOMINATED_MASS / (float(rho0.sum()) * grid.cell_volume)
    S, area = p["S"], float(np.prod(np.subtract(p["box"][1], p["box"][0])))
    name = (f"heat + constant source S = {S:g} from a mass of {SOURCE_DOMINATED_MASS:g}, implicit-euler: no mass "
            "alarm, max over steps |m_n - m_0 - S |box| t_n| / m(T)")
    try:
        sol = solve(grid, rho0, _no_drift, p["D"], p["T"], p["steps"], time="implicit-euler",
                    source=lambda t, x: S)
    except NumericalError as exc:
        return make_check(name, math.inf, upper=SCALAR_SOURCE_TOL, reference=0.0, detail=str(exc)[:300])
    gap = np.asarray(sol.mass) - sol.mass[0] - S * area * np.asarray(sol.mass_times)
    return make_check(name, float(np.abs(gap).max()) / float(sol.mass[-1]), upper=SCALAR_SOURCE_TOL, reference=0.0)


# The distinct matrices c0 I - c1 A that each scheme (with its default damped start) solves with for a drift
# independent of t: implicit Euler I - dt A; Crank–Nicolson I - dt/2 A, the matrix of the damped start's half steps
# too; BDF2 3/2 I - dt A and the half steps' I - dt/2 A; Douglas ADI none (tridiagonal line solves)
DISTINCT_MATRICES = {"implicit-euler": 1, "crank-nicolson": 1, "bdf2": 2, "douglas-adi": 0}


def solver_build_checks(solve: Callable = solve_fokker_planck) -> list[Check]:
    """Per time scheme and linear solver: the LU factorisations or multigrid set-ups of a run with a drift
    independent of t (Solution.info["solver_builds"]) equal its distinct matrices, whatever the number of steps:
    a second factorisation of the same matrix costs what the whole run costs at 256² cells (about 0.5 s).
    Each run must also record that it found the drift independent of t (info["time_dependent"] False) and a
    set-up time (info["setup_time"]) within [0, the wall time of the call].
    ``solve``: another solve_fokker_planck, for the negative tests."""
    p = SCALAR_SOURCE
    grid = Grid(*p["box"], p["cells"])
    rho0 = grid.cell_averages(lambda x: np.exp(-np.sum(x ** 2, axis=-1)))
    wrong = []
    for scheme, expected in DISTINCT_MATRICES.items():
        for solver in ("lu", "multigrid") if expected else ("auto",):
            start = time.perf_counter()
            info = solve(grid, rho0, _no_drift, p["D"], p["T"], p["steps"], time=scheme, solver=solver).info
            elapsed = time.perf_counter() - start
            built = info.get("solver_builds")
            if built != expected:
                wrong.append(f"{scheme} + {solver}: {built} for {expected}")
            if info.get("time_dependent") is not False:
                wrong.append(f"{scheme} + {solver}: time_dependent {info.get('time_dependent')!r}")
            if not 0.0 <= info.get("setup_time", -1.0) <= elapsed:
                wrong.append(f"{scheme} + {solver}: setup_time {info.get('setup_time')!r} outside [0, {elapsed:.3g}]")
    return [make_check(f"linear solvers built for a drift independent of t, {p['steps']} steps, every scheme and "
                       "solver: runs whose count differs from the scheme's distinct matrices", len(wrong), upper=0,
                       reference=0, detail="; ".join(wrong) or f"as stated: {DISTINCT_MATRICES}")]


def evaluation_times_check(solve: Callable = solve_fokker_planck, continuity: Callable = solve_continuity) -> Check:
    """The times at which the solvers call the user's field: all within [0, t_final] (to 1e-12 t_final). A drift
    may be defined on the run's interval only (interpolated data, a schedule), so a probe of its time dependence
    or a stage beyond t_final is a bug even when the values agree. Runs: solve_fokker_planck with every time
    scheme and solve_continuity, each with a field that depends on t and one that does not (detected by probing:
    only a field found constant meets every probe), on a 16 x 12 grid of a 4 x 3 box to t_final = 0.7. Value:
    the runs that called their field outside [0, t_final]."""
    grid = Grid((-2.0, -1.5), (2.0, 1.5), (16, 12))
    rho0 = grid.cell_averages(lambda x: np.exp(-np.sum(x ** 2, axis=-1)))
    T = 0.7
    outside = []

    def recorded(run: Callable, label: str, field: Callable) -> None:
        times: list = []
        run(lambda t, x: (times.append(float(t)), field(t, x))[1])
        if not times or min(times) < -1e-12 * T or max(times) > T * (1 + 1e-12):
            outside.append(f"{label}: {len(times)} calls in [{min(times, default=math.nan):.6g}, "
                           f"{max(times, default=math.nan):.6g}]")

    for scheme in TIME_SCHEMES:
        for label, drift in (("b(t, x)", lambda t, x: -(x - 0.2 * np.sin(3.0 * t))), ("b(x)", lambda t, x: -x)):
            recorded(lambda b, scheme=scheme: solve(grid, rho0, b, 0.3, T, 7, time=scheme), f"{scheme}, {label}",
                     drift)
    for label, velocity in (("v(t, x)", lambda t, x: np.stack([np.full(x.shape[:-1], 0.3),
                                                               np.full(x.shape[:-1], 0.1 * np.sin(t))], axis=-1)),
                            ("v(x)", lambda t, x: np.stack([np.full(x.shape[:-1], 0.3), 0.1 * x[..., 0]], axis=-1))):
        recorded(lambda v: continuity(grid, rho0, v, T), f"solve_continuity, {label}", velocity)
    return make_check("times at which the solvers call the drift or velocity, within [0, t_final] (every time "
                      "scheme, fields depending on t or not): runs outside", len(outside), upper=0, reference=0,
                      detail="; ".join(outside) or f"{2 * len(TIME_SCHEMES) + 2} runs, all within [0, {T}]")


# Douglas ADI with a time-dependent source: rho(t, x) = 1 + t cos(2 pi x_k / L_k) on a periodic box, for the axis k
# along which the profile varies, solves d rho/dt = A rho + S exactly for S = (1 + lam t) cos(.) with lam = D (2 - 2
# cos(2 pi h_k / L_k)) / h_k^2 (A cos = -lam cos on the cells, A 1 = 0). On a profile constant along the other
# axis that axis's operator vanishes, and the Douglas scheme (stage 0 carrying theta dt (S^{n+1} - S^n), then the
# other axes) is Crank–Nicolson, exact for a solution linear in t: round-off, tolerance 1e-12 of max rho (measured
# <= 1e-15 after 10 steps). The source's correction given to a later stage leaves theta^2 dt^3 lam^2 per step.
ADI_SOURCE = {"D": 0.1, "T": 0.5, "steps": 5, "box": ((0.0, 0.0), (1.0, 0.75)), "cells": (16, 12)}
ADI_SOURCE_TOL = 1e-12


def adi_source_checks(axes: Sequence[int] = (0, 1)) -> list[Check]:
    """Per axis k: max |rho(T) - (1 + T cos(2 pi x_k / L_k))| / max rho(T) for Douglas ADI with the source above."""
    p = ADI_SOURCE
    grid = Grid(*p["box"], p["cells"])
    D, T, x = p["D"], p["T"], grid.centers()
    checks = []
    for k in axes:
        L, h = p["box"][1][k] - p["box"][0][k], grid.spacing[k]
        w = 2.0 * math.pi / L
        lam = D * (2.0 - 2.0 * math.cos(w * h)) / h ** 2
        sol = solve_fokker_planck(grid, np.ones(grid.shape), _no_drift, D, T, p["steps"], time="douglas-adi",
                                  boundary="periodic", source=lambda t, x: (1.0 + lam * t) * np.cos(w * x[..., k]))
        exact = 1.0 + T * np.cos(w * x[..., k])
        rho = sol.to_numpy()
        checks.append(make_check(f"douglas-adi + source (1 + lam t) cos(2 pi x{k} / L), periodic, {p['steps']} steps: "
                                 "max |rho - (1 + t cos)| / max rho (Crank–Nicolson, exact)",
                                 float(np.abs(rho - exact).max() / np.abs(rho).max()), upper=ADI_SOURCE_TOL,
                                 reference=0.0))
    return checks


def check_point_values(grid: Grid | None = None) -> Check:
    """Grid.point_values(f) is f at the cell centres: for f(x) = x_0² x_1 on a box with unequal sides and cell
    counts it must equal the outer product of the per-axis centre arrays (Grid.faces midpoints), to round-off."""
    grid = grid or Grid((-1.0, 0.5), (2.0, 1.5), (6, 4))
    c0, c1 = (0.5 * (grid.faces(k)[1:] + grid.faces(k)[:-1]) for k in range(2))
    err = float(np.abs(grid.point_values(lambda x: x[..., 0] ** 2 * x[..., 1]) - np.outer(c0**2, c1)).max())
    return make_check("Grid.point_values(x_0² x_1) vs the face midpoints' outer product", err, upper=1e-14,
                      reference=0.0, detail=f"{grid.shape} cells on [-1, 2] x [0.5, 1.5]")


@case("heat-2d", title="Heat equation 2D: covariance Sigma0 + 2 D t I", tags=("eulerian", "fokker-planck"))
def heat_2d(ctx: CaseContext) -> None:
    problem = get_problem("heat-2d")
    levels = (32, 64, 128) if ctx.quick else (64, 128, 256)
    study = convergence_study(FokkerPlanckSolver(), problem, levels)
    for lv, sol in zip(study.levels, study.outputs):
        ctx.add(check_mass(f"heat-2d N={lv.cells[0]}", sol))
    record_study(ctx, "heat-2d L1", study, 2.0)
    ctx.add(check_mass_guard())
    ctx.add_all(scalar_source_checks())
    ctx.add(source_dominated_check())
    ctx.add_all(solver_build_checks())
    ctx.add(evaluation_times_check())
    ctx.add(check_point_values())
    exact = problem.exact_law()
    ctx.check("heat-2d: exact covariance is Σ0 + 2DTI", float(np.abs(
        exact.cov - (problem.initial.cov + 2 * problem.diffusion * problem.t_final * np.eye(2))).max()),
              upper=1e-13, detail="linear_sde with a zero drift against the heat-equation closed form")
    grid = grid_for(problem, levels[-1])
    ctx.add_all(check_gaussian_moments("heat-2d", grid, study.outputs[-1].to_numpy(), exact, tol=4 * study.errors[-1]))
    density_picture(ctx, f"heat-2d: density at t = {problem.t_final:g}, N = {levels[-1]}", grid,
                    study.outputs[-1].to_numpy(), exact=problem.exact_cell_averages(grid))


@case("affine-continuity-2d", title="Continuity 2D with an affine field (MUSCL + SSP-RK3) vs closed form",
      tags=("eulerian", "continuity"))
def affine_continuity_2d(ctx: CaseContext) -> None:
    problem = get_problem("affine-continuity-2d")
    for limiter, at_least in (("none", 1.8), ("mc", 1.4)):
        # limited slopes give no clean power law: a fourth level keeps the interval decidable
        levels = ((24, 48, 96) if ctx.quick else (32, 64, 128)) if limiter == "none" else (
            (16, 32, 64, 128) if ctx.quick else (24, 48, 96, 192))
        study = convergence_study(ContinuitySolver(limiter=limiter), problem, levels)
        for lv, sol in zip(study.levels, study.outputs):
            ctx.add(check_mass(f"continuity {limiter} N={lv.cells[0]}", sol))
            if limiter != "none":
                ctx.add(check_nonnegative(f"continuity {limiter} N={lv.cells[0]}", sol, rel_floor=1e-15))
        # limited slopes lose order at extrema: one-sided bands (at least 1.8 unlimited, 1.4 with MC)
        record_study(ctx, f"continuity limiter={limiter} L1", study, 2.0, band=(2.0 - at_least, float("inf")))
    grid = grid_for(problem, levels[-1])
    ctx.add_all(check_gaussian_moments("continuity mc", grid, study.outputs[-1].to_numpy(), problem.exact_law(),
                                       tol=4 * study.errors[-1]))
    density_picture(ctx, f"continuity, MC limiter: density at t = {problem.t_final:g}, N = {levels[-1]}", grid,
                    study.outputs[-1].to_numpy(), exact=problem.exact_cell_averages(grid))


@case("mms-fokker-planck-2d", title="Manufactured solution, Fokker-Planck 2D periodic, time-dependent drift",
      tags=("eulerian", "fokker-planck", "mms"))
def mms_fokker_planck_2d(ctx: CaseContext) -> None:
    problem = get_problem("mms-fokker-planck-2d")
    study = convergence_study(FokkerPlanckSolver(time="crank-nicolson"), problem, (16, 32, 64))
    record_study(ctx, "mms-fp spatial (CN, steps = N)", study, 2.0)
    grid = grid_for(problem, 64)
    density_picture(ctx, f"manufactured Fokker–Planck (CN): density at t = {problem.t_final:g}, N = 64", grid,
                    study.outputs[-1].to_numpy(), exact=problem.exact_cell_averages(grid))
    # Douglas ADI on periodic lines (the cyclic corner terms) against the exact solution, not only itself
    study = convergence_study(FokkerPlanckSolver(time="douglas-adi"), problem, (16, 32, 64))
    record_study(ctx, "mms-fp spatial (Douglas ADI, periodic, steps = N)", study, 2.0)
    for scheme, order in (("implicit-euler", 1.0), ("crank-nicolson", 2.0), ("bdf2", 2.0), ("douglas-adi", 2.0)):
        study = convergence_study(FokkerPlanckSolver(time=scheme), problem, (8, 16, 32, 64), refine="time", cells=12)
        ctx.add_all(study.checks(order, ORDER_BAND, name=f"mms-fp temporal {scheme} (self-convergence)"))


@case("mms-continuity-2d", title="Manufactured solution, continuity 2D periodic, time-dependent velocity",
      tags=("eulerian", "continuity", "mms"))
def mms_continuity_2d(ctx: CaseContext) -> None:
    problem = get_problem("mms-continuity-2d")
    # pairwise orders 2.38, 2.25, ..., 2.02 approach 2 from above (h² space error, dt³ ∝ h³ time error): the fit
    # carries the first correction term, the interval being the union over its powers h and h²
    study = convergence_study(ContinuitySolver(), problem, (24, 32, 48, 64, 96, 128, 192), correction=True)
    record_study(ctx, "mms-continuity spatial (steps = N/2)", study, 2.0)
    grid = grid_for(problem, 192)
    density_picture(ctx, f"manufactured continuity: density at t = {problem.t_final:g}, N = 192", grid,
                    study.outputs[-1].to_numpy(), exact=problem.exact_cell_averages(grid))
    study = convergence_study(ContinuitySolver(cfl=1.0), problem, (10, 20, 40, 80), refine="time", cells=24)
    ctx.add_all(study.checks(3.0, 0.2, name="mms-continuity temporal SSP-RK3 (self-convergence)"))


def check_multigrid_iterations(name: str, sol: Solution, bound: int = MULTIGRID_MAX_ITERATIONS) -> Check:
    """The most BiCGStab iterations any step took stays within the bound (a weakened smoother needs more)."""
    its = sol.info["linear_iterations"]
    return make_check(f"{name}: most BiCGStab iterations in a step", float(max(its)), upper=bound,
                      detail=f"mean {np.mean(its):.2f} over {len(its)} solves")


BDF2_START_SAVING = 0.5  # BiCGStab iterations per solve that BDF2's extrapolated start saves (measured 1.0)


def check_bdf2_start(name: str, mean_iterations: dict[str, float]) -> Check:
    """BDF2 starts each solve from the extrapolation 2 rho^n - rho^(n-1), within O(dt²) of rho^(n+1); implicit
    Euler starts from rho^n, within O(dt). So BDF2's multigrid-preconditioned BiCGStab needs fewer iterations per
    solve: at least BDF2_START_SAVING fewer on average (measured 3.00 against 4.00 on 48x36 cells; starting BDF2
    from rho^n gives 3.96, from zero 4.92)."""
    saving = mean_iterations["implicit-euler"] - mean_iterations["bdf2"]
    return make_check(f"{name}: BiCGStab iterations per solve saved by BDF2's extrapolated start (implicit Euler "
                      "minus BDF2, mean)", saving, lower=BDF2_START_SAVING,
                      detail=", ".join(f"{k} {v:.2f}" for k, v in mean_iterations.items()))


# solve_fokker_planck's rtol on the multigrid path: BiCGStab + multigrid cuts the residual about 1000-fold per
# iteration (to 1e-12 in 4 on the 48x36 cells of the manufactured box), so rtol = 1e-6 instead of the default 1e-12
# saves at least MG_RTOL_SAVING iterations per solve (measured 2.6: 4.00 -> 1.38), and each solve's residual of rtol,
# over n implicit-Euler steps (stable in L1: no growth), keeps the density within n rtol of LU's (measured 2.5e-6
# against 4.8e-5). An rtol not passed on to the solver saves nothing.
MG_LOOSE_RTOL, MG_RTOL_SAVING = 1e-6, 1.5


def multigrid_rtol_checks(name: str, lu: Solution, default: Solution, loose: Solution, steps: int) -> list[Check]:
    """``loose``, a multigrid implicit-Euler run at rtol = MG_LOOSE_RTOL, against ``default`` (the same at rtol
    1e-12) and ``lu`` (the LU path): the iterations saved per solve, and the distance from LU within steps rtol."""
    saved = float(np.mean(default.info["linear_iterations"]) - np.mean(loose.info["linear_iterations"]))
    ref = lu.to_numpy()
    diff = float(np.abs(loose.to_numpy() - ref).max() / np.abs(ref).max())
    return [make_check(f"{name}: BiCGStab iterations per solve saved by rtol = {MG_LOOSE_RTOL:g} against the default "
                       "1e-12 (mean)", saved, lower=MG_RTOL_SAVING,
                       detail=f"means {np.mean(default.info['linear_iterations']):.2f} and "
                              f"{np.mean(loose.info['linear_iterations']):.2f}"),
            make_check(f"{name}, rtol = {MG_LOOSE_RTOL:g}: max |rho - rho_LU| / max rho_LU (at most steps x rtol)",
                       diff, upper=steps * MG_LOOSE_RTOL, reference=0.0)]


def check_multigrid_mean_iterations(name: str, sol: Solution, bound: float = MULTIGRID_MEAN_ITERATIONS) -> Check:
    """The mean BiCGStab iterations per solve of a multigrid run stays within the bound (a weaker coarse-grid
    correction or smoother costs about one more per solve, below the per-step bound)."""
    its = sol.info["linear_iterations"]
    return make_check(f"{name}: mean BiCGStab iterations per solve", float(np.mean(its)), upper=bound,
                      detail=f"{len(its)} solves, most {max(its)}")


def check_direct_solver_record(name: str, lu: Solution, mg: Solution) -> Check:
    """The LU path's record of its linear solves: solver "lu" and 0 iterations for each of as many solves as the
    multigrid run of the same problem made. The value is the number of wrong entries, which must be 0."""
    its, ref = list(lu.info.get("linear_iterations", [])), mg.info.get("linear_iterations", [])
    wrong = [] if lu.info.get("solver") == "lu" else [f"solver {lu.info.get('solver')!r}"]
    wrong += [] if len(its) == len(ref) and not any(its) else [f"linear_iterations {its[:8]}"]
    return make_check(f"{name}: the LU run records 0 iterations per solve (wrong entries)", len(wrong), upper=0,
                      reference=0, detail="; ".join(wrong) or f"{len(its)} solves")


# ----------------------------------------------------- the multigrid cycle against its definition, densely
# The preconditioner B (one V- or W-cycle, float32 by default) of eulerian.multigrid.MultigridSolver, applied to every
# unit vector, against the cycle its docstring defines, built here with dense NumPy matrices from scratch: per level
# the damped Jacobi smoother S = I - w D^-1 M (w = 2 / (lmin + lmax) from the Gershgorin bound lmax of D^-1 M,
# lmin = max(2 - lmax, lmax / 2d)), the cell-centred linear prolongation (weights 3/4, 1/4; constant extrapolation at
# walls, wrapped on periodic axes), the averaging restriction, the re-discretised coarse operator and an exact solve
# on the coarsest level: error propagator E = S^nu (I - P B_c R M) S^nu, B = (I - E) M^-1, B_c the coarse cycle
# (2 B_c - B_c M_c B_c for a W-cycle above the coarsest level). The iteration counts of the cases barely move when a
# smoother loses its damping (BiCGStab makes up for a weaker cycle: 3 -> 4 iterations), the cycle itself does not.
MG_CYCLE_SHAPE = (24, 16)      # with coarse_size 32: levels 24x16, 12x8 and 6x4 (solved exactly)
MG_CYCLE_COARSE_SIZE = 32
MG_CYCLE_BOX = ((-2.0, -1.0), (2.0, 1.5))   # h = 1/6 and 5/32: anisotropic cells
MG_CYCLE_PERIODIC = (True, False)           # one periodic axis, one with walls
MG_CYCLE_D, MG_CYCLE_DT = 0.5, 0.2          # dt D / h^2 = 3.6 and 4.1: a diffusion-dominated implicit step
MG_CYCLE_NU = 2   # the sweeps of MultigridSolver's default (the solver is built with its defaults)
# float32 cycle against the float64 reference: unit round-off 6e-8 over the ~4 nu + 3 operations of each of the three
# levels (rows of D^-1 |M| sum to at most 2 here) stays below 1e-5 of max |B|; a smoother with another damping or
# sweep count changes B by 1e-2 or more
MG_CYCLE_TOL = 1e-5


def _mg_cycle_drift(t: float, x: np.ndarray) -> np.ndarray:
    """Periodic along axis 0 (period 4), varying along both axes."""
    return np.stack([np.sin(0.5 * np.pi * x[..., 0]) + 0.3 * x[..., 1],
                     -0.8 * x[..., 1] + 0.4 * np.cos(0.5 * np.pi * x[..., 0])], -1)


def mg_cycle_matrix(shape: tuple[int, ...]) -> Any:
    """M = I - dt A (SG fluxes, the drift above) on the box with ``shape`` cells: sparse CSR."""
    be = get_backend("numpy")
    g = Grid(*MG_CYCLE_BOX, shape)
    A = assemble_generator(be, g, face_drift(be, g, _mg_cycle_drift, 0.0, MG_CYCLE_PERIODIC), MG_CYCLE_D,
                           "scharfetter-gummel", MG_CYCLE_PERIODIC)
    return (be.sparse.identity(g.size, format="csr") - MG_CYCLE_DT * A).tocsr()


def _dense_prolongation_1d(n: int, periodic: bool) -> np.ndarray:
    nc = n // 2
    P = np.zeros((n, nc))
    for j in range(nc):
        left, right = ((j - 1) % nc, (j + 1) % nc) if periodic else (max(j - 1, 0), min(j + 1, nc - 1))
        P[2 * j, j] += 0.75
        P[2 * j, left] += 0.25
        P[2 * j + 1, j] += 0.75
        P[2 * j + 1, right] += 0.25
    return P


def _dense_restriction_1d(n: int) -> np.ndarray:
    R = np.zeros((n // 2, n))
    for j in range(n // 2):
        R[j, 2 * j] = R[j, 2 * j + 1] = 0.5
    return R


def _kron_dense(mats: Sequence[np.ndarray]) -> np.ndarray:
    out = np.ones((1, 1))
    for m in mats:
        out = np.kron(out, m)
    return out


def dense_cycle_reference(shape: tuple[int, ...], matrix: Callable, periodic: Sequence[bool], nu: int,
                          cycle: str, coarse_size: int, omega: float | None = None) -> tuple[np.ndarray, list]:
    """(B, dampings per level): the cycle's approximate inverse as a dense matrix (see the comment above), built
    without eulerian.multigrid. Axes are halved while even with >= 2 coarse cells, until a level has at most
    ``coarse_size`` cells. ``omega``: one damping for every level instead of the Gershgorin choice."""
    Ms, Ps, Rs, shapes = [matrix(shape).toarray()], [], [], [tuple(shape)]
    while Ms[-1].shape[0] > coarse_size:
        cur = shapes[-1]
        halve = [n % 2 == 0 and n // 2 >= 2 for n in cur]
        if not any(halve):
            break
        Ps.append(_kron_dense([_dense_prolongation_1d(n, p) if h else np.eye(n)
                               for n, p, h in zip(cur, periodic, halve)]))
        Rs.append(_kron_dense([_dense_restriction_1d(n) if h else np.eye(n) for n, h in zip(cur, halve)]))
        shapes.append(tuple(n // 2 if h else n for n, h in zip(cur, halve)))
        Ms.append(matrix(shapes[-1]).toarray())
    dim = len(shape)
    dampings = []
    for M in Ms[:-1]:
        lmax = float((np.abs(M).sum(axis=1) / np.abs(np.diag(M))).max())
        dampings.append(2.0 / (max(2.0 - lmax, lmax / (2.0 * dim)) + lmax) if omega is None else float(omega))
    B = np.linalg.inv(Ms[-1])
    for k in range(len(Ms) - 2, -1, -1):
        M, n = Ms[k], Ms[k].shape[0]
        if cycle == "W" and k + 1 < len(Ms) - 1:   # the coarse cycle twice, the second from the first's result
            B = 2.0 * B - B @ Ms[k + 1] @ B
        S = np.linalg.matrix_power(np.eye(n) - dampings[k] * M / np.diag(M)[:, None], nu)
        E = S @ (np.eye(n) - Ps[k] @ B @ Rs[k] @ M) @ S
        B = np.linalg.solve(M.T, (np.eye(n) - E).T).T
    return B, dampings


def cycle_matrix(solver: Any) -> np.ndarray:
    """The preconditioner of a MultigridSolver as a dense matrix: its cycle applied to every unit vector."""
    n = solver.M.shape[0]
    eye = np.eye(n)
    return np.stack([solver.vcycle(eye[:, j]) for j in range(n)], axis=1)


def check_multigrid_cycle(name: str, solver: Any, reference: np.ndarray, tol: float = MG_CYCLE_TOL) -> Check:
    """max |B_solver - B_reference| / max |B_reference| within the float32 round-off of the cycle."""
    B = cycle_matrix(solver)
    return make_check(f"{name}: max |B - B_dense| / max |B_dense| of the preconditioner", float(
        np.abs(B - reference).max() / np.abs(reference).max()), upper=tol, reference=0.0,
        detail=f"{len(solver.levels)} levels, dampings {[round(float(lv.omega), 4) for lv in solver.levels]}")


def multigrid_cycle_checks(cycles: Sequence[str] = ("V", "W"), solver_class: Any = None) -> list[Check]:
    """The solver's V- and W-cycles (default mixed precision, damping per level) on MG_CYCLE_SHAPE against the dense
    reference. ``solver_class``: the MultigridSolver to test (a wrong one feeds the negative tests)."""
    from eulerian.multigrid import MultigridSolver

    cls = MultigridSolver if solver_class is None else solver_class
    checks = []
    for cycle in cycles:
        solver = cls(get_backend("numpy"), mg_cycle_matrix(MG_CYCLE_SHAPE), MG_CYCLE_SHAPE,
                     periodic=MG_CYCLE_PERIODIC, coarse_matrix=mg_cycle_matrix, coarse_size=MG_CYCLE_COARSE_SIZE,
                     cycle=cycle)
        ref, _ = dense_cycle_reference(MG_CYCLE_SHAPE, mg_cycle_matrix, MG_CYCLE_PERIODIC, MG_CYCLE_NU, cycle,
                                       MG_CYCLE_COARSE_SIZE)
        checks.append(check_multigrid_cycle(f"multigrid {cycle}({MG_CYCLE_NU},{MG_CYCLE_NU}) cycle, "
                                            f"{MG_CYCLE_SHAPE[0]}x{MG_CYCLE_SHAPE[1]} cells", solver, ref))
    return checks


MG_LU_COARSE_SHAPE = (70, 33)   # one halving to 35 x 33 = 1 155 cells (> DENSE_COARSE_MAX): a factorised coarse level


def hierarchy_dtypes(solver: Any) -> dict[str, str]:
    """{array: dtype} of a MultigridSolver's hierarchy: every level's Jacobi-scaled matrix K, work vectors c, x, res,
    transfers P, R, and what the coarse solve returns."""
    out = {}
    for i, lev in enumerate(solver.levels):
        for name in ("K", "c", "x", "res", "P", "R"):
            a = getattr(lev, name)
            if a is not None:   # (a TensorProlongation holds its stage buffers)
                out[f"level {i} {name}"] = str(a.dtype if hasattr(a, "dtype") else a.scratch.dtype)
    out["coarse solve"] = str(solver.coarse_solve(solver.levels[-1].c).dtype)
    return out


def check_mixed_precision(solver_class: Any = None) -> Check:
    """precision="mixed" (MultigridSolver's default) keeps the whole hierarchy in float32, as its docstring
    states (half the memory traffic of every cycle; the Krylov iteration around it stays float64): on the cycle
    check's solver (dense coarsest level) and on MG_LU_COARSE_SHAPE (factorised coarsest level). The float64
    arrays would change no result beyond round-off, only the cost. Value: the arrays that are not float32."""
    from eulerian.multigrid import MultigridSolver

    cls = MultigridSolver if solver_class is None else solver_class
    wrong = []
    for shape in (MG_CYCLE_SHAPE, MG_LU_COARSE_SHAPE):
        solver = cls(get_backend("numpy"), mg_cycle_matrix(shape), shape, periodic=MG_CYCLE_PERIODIC,
                     coarse_matrix=mg_cycle_matrix, coarse_size=MG_CYCLE_COARSE_SIZE)
        wrong += [f"{shape}: {k} {v}" for k, v in hierarchy_dtypes(solver).items() if v != "float32"]
    return make_check("multigrid precision='mixed': arrays of the hierarchy that are not float32", len(wrong), upper=0,
                      reference=0, detail="; ".join(wrong) or f"shapes {MG_CYCLE_SHAPE} and {MG_LU_COARSE_SHAPE}")


MG_SHORT_SHAPE, MG_SHORT_COARSE = (24, 4), 8   # levels 24x4, 12x2, 6x2 and 3x2: an axis stops at 2 cells


def _cycle_check(shape: tuple[int, int], coarse_size: int, what: str, solver_class: Any = None) -> Check:
    """MultigridSolver's V-cycle on ``shape`` (coarsest level at most ``coarse_size`` cells) against the dense
    reference built without eulerian.multigrid."""
    from eulerian.multigrid import MultigridSolver

    cls = MultigridSolver if solver_class is None else solver_class
    solver = cls(get_backend("numpy"), mg_cycle_matrix(shape), shape, periodic=MG_CYCLE_PERIODIC,
                 coarse_matrix=mg_cycle_matrix, coarse_size=coarse_size)
    ref, _ = dense_cycle_reference(shape, mg_cycle_matrix, MG_CYCLE_PERIODIC, MG_CYCLE_NU, "V", coarse_size)
    return check_multigrid_cycle(f"multigrid V({MG_CYCLE_NU},{MG_CYCLE_NU}) cycle, {shape[0]}x{shape[1]} cells "
                                 f"({what})", solver, ref)


def short_axis_cycle_check(solver_class: Any = None) -> Check:
    """The V-cycle on MG_SHORT_SHAPE against the dense reference: the short axis is halved down to 2 cells and then
    left alone while the other goes on (a hierarchy that stops one level early changes B by 0.15)."""
    return _cycle_check(MG_SHORT_SHAPE, MG_SHORT_COARSE, "an axis coarsened to 2 cells", solver_class)


MG_ODD_SHAPE, MG_ODD_COARSE = (4, 25), 8   # levels 4x25 and 2x25 (50 cells, solved exactly): the odd axis is kept


def odd_axis_cycle_check(solver_class: Any = None) -> Check:
    """The V-cycle on MG_ODD_SHAPE against the dense reference: the periodic 4-cell axis is halved once although
    the other axis (25 cells, odd) never is, so the hierarchy has two levels (one that stops at 4x25 solves 100
    cells exactly and changes B by its whole coarse correction)."""
    return _cycle_check(MG_ODD_SHAPE, MG_ODD_COARSE, "one axis odd, the other halved to 2 cells", solver_class)


# ------------------------------------------ the axis-by-axis prolongation of the fine levels against its definition
# Levels of at least eulerian.multigrid.TENSOR_PROLONGATION_MIN (2**15) cells prolong axis by axis without a matrix
# (TensorProlongation), which the cycle check above (24x16 cells) never reaches. Here it is applied directly, x += P e,
# to random coarse vectors on asymmetric fine levels of 2**15 cells (walls and periodic axes, every axis halved),
# against the Kronecker product of the 1D prolongations built above (weights 3/4, 1/4; constant at walls, wrapped on
# periodic axes), made sparse. Tolerance: every fine value is the stage-by-stage sum of positive weights summing to 1,
# one stage per axis of ~3 roundings each and the final add to x: |error| <= (3 d + 1) u (max |e| + max |x|), u the
# unit round-off of the dtype; a wrong weight, index or missing stage changes values by O(max |e|).
TENSOR_PROLONGATION_CASES = (((64, 32, 16), (True, False, True)), ((256, 128), (False, True)))
TENSOR_PROLONGATION_DTYPES = (np.float32, np.float64)   # float32: the mixed-precision cycle's dtype


def sparse_prolongation_reference(shape: Sequence[int], periodic: Sequence[bool]) -> Any:
    """P = P_0 ⊗ P_1 ⊗ ... (C order: the last axis varies fastest) of the dense 1D prolongations above, CSR
    float64, every axis halved; built without eulerian.multigrid."""
    import scipy.sparse as sp

    P = None
    for n, p in zip(shape, periodic):
        Pk = sp.csr_matrix(_dense_prolongation_1d(n, p))
        P = Pk if P is None else sp.kron(P, Pk, format="csr")
    return P


def tensor_prolongation_checks(prolongation_class: Any = None, cases: Sequence = TENSOR_PROLONGATION_CASES,
                               dtypes: Sequence = TENSOR_PROLONGATION_DTYPES, seed: int = 5) -> list[Check]:
    """x += P e by eulerian.multigrid.TensorProlongation (or ``prolongation_class``, for the negative tests) on
    each fine shape of ``cases`` (shape, periodic per axis), for 3 random coarse vectors e and a random x, against
    x + P_ref e in float64: max |error| / (max |e| + max |x|) within (3 d + 1) u. An exception counts as a failure."""
    from eulerian.multigrid import TensorProlongation

    cls = TensorProlongation if prolongation_class is None else prolongation_class
    be = get_backend("numpy")
    rng = np.random.default_rng(seed)
    checks = []
    for shape, periodic in cases:
        coarse = tuple(n // 2 for n in shape)
        P = sparse_prolongation_reference(shape, periodic)
        label = "x".join(map(str, shape)) + " (" + ", ".join("periodic" if p else "walls" for p in periodic) + ")"
        for dtype in dtypes:
            tol = (3 * len(shape) + 1) * float(np.finfo(dtype).eps) / 2
            worst, detail = 0.0, "3 random coarse vectors"
            try:
                tp = cls(be, shape, coarse, periodic, dtype)
                for _ in range(3):
                    e = rng.standard_normal(P.shape[1]).astype(dtype)
                    x = rng.standard_normal(P.shape[0]).astype(dtype)
                    expected = x.astype(np.float64) + P @ e.astype(np.float64)
                    scale = float(np.abs(e).max()) + float(np.abs(x).max())
                    out = tp.add(e, x)
                    if out is not x or x.dtype != dtype:
                        worst, detail = math.inf, "add() did not return x in place, in its dtype"
                        break
                    worst = max(worst, float(np.abs(x - expected).max()) / scale)
            except Exception as exc:   # noqa: BLE001 - a broken prolongation fails the check, not the case
                worst, detail = math.inf, f"raised {type(exc).__name__}: {exc}"
            checks.append(make_check(f"TensorProlongation x += P e, {label}, {np.dtype(dtype).name}: max |x - x_ref| / "
                                     f"(max |e| + max |x|)", worst, upper=tol, reference=0.0, detail=detail))
    return checks


# ------------------------------------------------- the multigrid paths the cases above do not reach, in actual solves
# * other backends' code path: MultigridSolver and LUSolver take array expressions instead of NumPy's in-place SciPy
#   CSR kernel and BLAS axpy whenever the backend is not NumPy's (CuPy). The same path runs here on NumPy arrays
#   behind a Backend of another name (generic_backend), with a damping omega given (not chosen per level): its cycle
#   against the dense reference built with that omega (MG_CYCLE_TOL), a solve against SuperLU on the same matrix
#   (SOLVER_AGREEMENT_TOL: BiCGStab stops at ||b - M x|| <= 1e-12 ||b||, and cond_2(M) = 34 at 24 x 16 cells), its
#   relative residual (the stated stopping test, <= rtol) and iterations (<= MG_GENERIC_MAX_ITERATIONS), and the
#   generic LUSolver against SuperLU (LU_AGREEMENT_TOL: two backward-stable factorisations, cond(M) = 34 times the
#   unit round-off and the growth, with a margin).
# * a zero right-hand side: the solve returns exact zeros (BiCGStab would divide by ||b|| = 0).
# * TensorProlongation inside a solve: a fine level of 2^15 cells (256 x 128) with a re-discretised coarse operator
#   takes it; the solve against SuperLU and its iterations (<= MG_TENSOR_MAX_ITERATIONS), and the cycle with that
#   level's P replaced by the Kronecker product of the 1D prolongations (sparse_prolongation_reference): the two
#   cycles on a random vector agree to float32 round-off (MG_CYCLE_TOL), an error in the prolongation does not.
# * the Krylov recurrence itself: with a weak preconditioner (one smoothing step of damping MG_WEAK_OMEGA, float64
#   cycle) BiCGStab needs ~17 iterations, so an error in its recurrence (a wrong beta, a stale omega) shows as many
#   more. Its iteration count against SciPy's bicgstab (an independent implementation) with the same preconditioner,
#   b and rtol: at most MG_KRYLOV_EXTRA more (ours tests the true residual b - M x, SciPy its recurrence; measured:
#   0 or 1 more on six right-hand sides).
MG_OMEGA = 0.9                 # a damping given by the caller (the default chooses 0.81, 0.85, 0.95 here)
MG_WEAK_OMEGA = 0.2            # 24x16 cells, nu = 1: 15-18 iterations (a beta with alpha * omega: 26-35)
MG_KRYLOV_EXTRA = 2
MG_GENERIC_MAX_ITERATIONS = 8  # MG_CYCLE_SHAPE with omega = 0.9: measured 7
MG_TENSOR_SHAPE = (256, 128)   # 2^15 cells on MG_CYCLE_BOX, h = 1/64 and 5/256: dt D / h^2 = 410 and 262
MG_TENSOR_MAX_ITERATIONS = 8   # measured 6
LU_AGREEMENT_TOL = 1e-12


def generic_backend() -> Any:
    """NumPy and SciPy behind a Backend not named "numpy": the solvers' code path for other backends (CuPy)."""
    import scipy.fft
    import scipy.sparse
    import scipy.sparse.linalg

    from eulerian.backend import Backend

    return Backend("numpy (generic path)", np, scipy.fft, scipy.sparse, scipy.sparse.linalg)


def superlu_reference(M: Any, b: np.ndarray) -> np.ndarray:
    """M^-1 b by SciPy's SuperLU directly (minimum-degree ordering on M + M^T), independent of eulerian.multigrid."""
    from scipy.sparse.linalg import splu

    return splu(M.tocsc(), permc_spec="MMD_AT_PLUS_A").solve(b)


def multigrid_path_checks(solver_class: Any = None, lu_class: Any = None, seed: int = 11) -> list[Check]:
    """The checks described above. ``solver_class`` / ``lu_class``: the MultigridSolver / LUSolver to test (wrong
    ones feed the negative tests)."""
    from eulerian.multigrid import LUSolver, MultigridSolver, TensorProlongation

    cls = MultigridSolver if solver_class is None else solver_class
    lu_cls = LUSolver if lu_class is None else lu_class
    rng = np.random.default_rng(seed)
    gen = generic_backend()
    label = f"{MG_CYCLE_SHAPE[0]}x{MG_CYCLE_SHAPE[1]} cells, generic (non-NumPy) array path, omega = {MG_OMEGA:g}"
    M = mg_cycle_matrix(MG_CYCLE_SHAPE)
    solver = cls(gen, M, MG_CYCLE_SHAPE, periodic=MG_CYCLE_PERIODIC, coarse_matrix=mg_cycle_matrix,
                 coarse_size=MG_CYCLE_COARSE_SIZE, omega=MG_OMEGA)
    ref, _ = dense_cycle_reference(MG_CYCLE_SHAPE, mg_cycle_matrix, MG_CYCLE_PERIODIC, MG_CYCLE_NU, "V",
                                   MG_CYCLE_COARSE_SIZE, omega=MG_OMEGA)
    checks = [check_multigrid_cycle(f"multigrid V({MG_CYCLE_NU},{MG_CYCLE_NU}) cycle, {label}", solver, ref)]
    b = rng.standard_normal(M.shape[0])
    exact = superlu_reference(M, b)
    checks += _solve_checks(f"multigrid, {label}", solver, M, b, exact, MG_GENERIC_MAX_ITERATIONS)
    x = lu_cls(gen, M).solve(b)
    checks.append(make_check(f"LUSolver, {label.split(', omega')[0]}: max |x - x_SuperLU| / max |x_SuperLU|",
                             float(np.abs(np.asarray(x) - exact).max() / np.abs(exact).max()), upper=LU_AGREEMENT_TOL,
                             reference=0.0))
    zero = solver.solve(np.zeros(M.shape[0]))
    checks.append(make_check("multigrid, b = 0: max |x| of the solution (exact zeros expected)",
                             float(np.abs(np.asarray(zero)).max()) if np.shape(zero) == (M.shape[0],) else math.inf,
                             upper=0.0, reference=0.0))
    checks.append(krylov_iteration_check(cls, M, rng.standard_normal(M.shape[0])))
    # the tensor-product prolongation inside a solve
    shape = MG_TENSOR_SHAPE
    M = mg_cycle_matrix(shape)
    solver = cls(get_backend("numpy"), M, shape, periodic=MG_CYCLE_PERIODIC, coarse_matrix=mg_cycle_matrix)
    tlabel = f"{shape[0]}x{shape[1]} cells (TensorProlongation on the finest level)"
    tensor = type(solver.levels[0].P).__name__ == TensorProlongation.__name__   # (a mutant module's class too)
    checks.append(make_check(f"multigrid, {tlabel}: the finest level prolongs axis by axis (count of other "
                             "prolongations)", float(not tensor), upper=0.0, reference=0.0,
                             detail=f"finest P: {type(solver.levels[0].P).__name__}"))
    b = rng.standard_normal(M.shape[0])
    checks += _solve_checks(f"multigrid, {tlabel}", solver, M, b, superlu_reference(M, b), MG_TENSOR_MAX_ITERATIONS)
    r = rng.standard_normal(M.shape[0])
    y = np.array(solver.vcycle(r))
    P, solver.levels[0].P = solver.levels[0].P, sparse_prolongation_reference(shape, MG_CYCLE_PERIODIC).astype(
        np.float32)
    try:
        y_ref = np.array(solver.vcycle(r))
    finally:
        solver.levels[0].P = P
    checks.append(make_check(f"multigrid cycle, {tlabel}, vs the same cycle with the Kronecker-product P: max |B r - "
                             "B_ref r| / max |B_ref r|", float(np.abs(y - y_ref).max() / np.abs(y_ref).max()),
                             upper=MG_CYCLE_TOL, reference=0.0))
    return checks


def krylov_iteration_check(cls: Any, M: Any, b: np.ndarray) -> Check:
    """BiCGStab iterations of ``cls`` (a MultigridSolver) with a weak float64 preconditioner against those of SciPy's
    bicgstab with the same preconditioner on M x = b (MG_KRYLOV_EXTRA more at most)."""
    from scipy.sparse.linalg import LinearOperator, bicgstab

    solver = cls(get_backend("numpy"), M, MG_CYCLE_SHAPE, periodic=MG_CYCLE_PERIODIC, coarse_matrix=mg_cycle_matrix,
                 coarse_size=MG_CYCLE_COARSE_SIZE, omega=MG_WEAK_OMEGA, nu=1, precision="float64")
    scipy_its = [0]

    def count(_: Any) -> None:
        scipy_its[0] += 1

    B = LinearOperator(M.shape, matvec=lambda r: np.asarray(solver.vcycle(r), dtype=np.float64), dtype=np.float64)
    _, info = bicgstab(M, b, rtol=solver.rtol, atol=0.0, M=B, callback=count, maxiter=solver.maxiter)
    try:
        solver.solve(b)
        its, detail = float(solver.iterations[-1]), ""
    except NumericalError as exc:
        its, detail = math.inf, f"raised NumericalError: {exc}"
    if info != 0:   # no reference: the check fails
        its, detail = math.nan, f"SciPy's bicgstab did not converge (info {info})"
    reference = float(scipy_its[0])
    return make_check(f"multigrid, {MG_CYCLE_SHAPE[0]}x{MG_CYCLE_SHAPE[1]} cells, weak float64 preconditioner (nu = 1, "
                      f"omega = {MG_WEAK_OMEGA:g}): BiCGStab iterations against SciPy's bicgstab with it",
                      its, upper=reference + MG_KRYLOV_EXTRA, reference=reference,
                      detail=detail or f"SciPy: {scipy_its[0]} iterations (info {info})")


def _solve_checks(label: str, solver: Any, M: Any, b: np.ndarray, exact: np.ndarray, bound: int) -> list[Check]:
    """A multigrid solve of M x = b against the SuperLU solution: agreement, the float64 relative residual against
    the solver's rtol, the BiCGStab iterations against ``bound``. A solve that raises NumericalError (no
    convergence in maxiter) fails all three."""
    try:
        x = np.asarray(solver.solve(b))
    except NumericalError as exc:
        return [make_check(f"{label}: {what}", math.nan, detail=f"raised NumericalError: {exc}")
                for what in ("max |x - x_SuperLU| / max |x_SuperLU|", "||b - M x|| / ||b||", "BiCGStab iterations")]
    its = solver.iterations[-1] if solver.iterations else math.inf
    return [make_check(f"{label}: max |x - x_SuperLU| / max |x_SuperLU|",
                       float(np.abs(x - exact).max() / np.abs(exact).max()), upper=SOLVER_AGREEMENT_TOL, reference=0.0),
            make_check(f"{label}: ||b - M x|| / ||b||", float(np.linalg.norm(b - M @ x) / np.linalg.norm(b)),
                       upper=solver.rtol, reference=0.0),
            make_check(f"{label}: BiCGStab iterations", float(its), upper=bound)]


# ------------------------------------------------------------- the flux functions at every cell Peclet number
# * B(z) = z / (e^z - 1) (Scharfetter-Gummel, as the pair (B(-z), B(z))) and the Chang-Cooper weight
#   delta(w) = 1/w - 1/(e^w - 1) against mpmath at 50 digits over |z| from 1e-8 to 1e200 (no overflow on the way,
#   in the branches not taken either: floating-point errors raise): errors relative to
#   1 + |z| (the size of B(-|z|) = B(|z|) + |z|, the upwind coefficient) within BERNOULLI_TOL for B (expm1, a
#   division and the pair's sum: a few units of round-off, measured 1 ulp, also on the series 1 - z/2 + z^2/12
#   just below its switch at |z| = 1e-6, whose next term is z^4/720) and FLUX_FUNCTION_TOL for delta, whose own
#   cancellation 1/w - 1/(e^w - 1) near the series switch |w| = 1e-4 costs ~ 2 u / |w| = 2e-12 of it.
# * a drift at cell Peclet numbers b h / D = +-1e3 and +-1e4 (D = 1e-5, 1e-6, h = 1/100, periodic, BDF2): for every
#   flux the first moment of F = alpha rho_L - beta rho_R moves at alpha - beta = b exactly (B(-z) - B(z) = z, and
#   the weights of Chang-Cooper and the central flux sum to 1), whatever the numerical diffusion: the mean's shift
#   against b T (HIGH_PECLET_TOL: the Gaussian's tails at the periodic wrap, at least 6.8 standard deviations
#   away: measured 9e-10 and, for the central flux, 1e-12).
#   A Bernoulli function clipped at |z| = 700 (as it was until 2026-12-01) moved the mass at 0.7 b (Pe 1e3) and
#   0.07 b (Pe 1e4). At Pe = +-1e4 the whole density is also compared with the FiPy backend's (measured 2e-15 to
#   2e-14, the central flux the largest).
FLUX_FUNCTION_TOL = 1e-11
BERNOULLI_TOL = 4 * np.finfo(float).eps
FLUX_FUNCTION_Z = (0.0, 1e-8, 5e-7, 9.9e-7, 1.01e-6, 1e-5, 9e-5, 1.1e-4, 1e-3, 0.1, 1.0, 10.0, 100.0, 699.0, 700.0,
                   701.0, 745.0, 1e3, 1e4, 1e6, 1e200)
HIGH_PECLET = dict(cells=100, start=0.5, std=0.05, T=0.1, steps=100, pecl=(1e3, 1e4))
HIGH_PECLET_TOL = 1e-7


def flux_function_checks(operators: Any = None) -> list[Check]:
    """bernoulli_pair and chang_cooper_delta of eulerian.operators (``operators``: another module, for the negative
    tests) at +-FLUX_FUNCTION_Z against mpmath (see above)."""
    import mpmath

    from eulerian import operators as default

    ops = default if operators is None else operators
    z = np.array(sorted({s * v for v in FLUX_FUNCTION_Z for s in (1.0, -1.0)}))
    with mpmath.workdps(50):
        def B(x: float) -> float:
            return 1.0 if x == 0 else float(mpmath.mpf(x) / mpmath.expm1(x))

        def delta(x: float) -> float:
            return 0.5 if x == 0 else float(1 / mpmath.mpf(x) - 1 / mpmath.expm1(x))

        b_minus = np.array([B(-x) for x in z])
        b_plus = np.array([B(x) for x in z])
        d_ref = np.array([delta(x) for x in z])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):   # overflow on the way fails
        try:
            bm, bp = (np.asarray(v, dtype=float) for v in ops.bernoulli_pair(np, z))
            b = np.asarray(ops.bernoulli(np, z), dtype=float)
        except FloatingPointError:
            bm = bp = b = np.full(z.shape, math.nan)
        try:
            delta_z = np.asarray(ops.chang_cooper_delta(np, z), dtype=float)
        except FloatingPointError:
            delta_z = np.full(z.shape, math.nan)
    with np.errstate(under="ignore"):
        pair = worst((np.maximum.reduce([np.abs(bm - b_minus), np.abs(bp - b_plus), np.abs(b - b_plus)])
                      / (1.0 + np.abs(z))).tolist())
        cc = worst(np.abs(delta_z - d_ref).tolist())
    span = f"{z.size} values of z in [-1e200, 1e200]"
    return [make_check("Scharfetter-Gummel B(z) and (B(-z), B(z)) vs mpmath: max error / (1 + |z|)", pair,
                       upper=BERNOULLI_TOL, reference=0.0, detail=span),
            make_check("Chang-Cooper delta(w) vs mpmath: max error", cc, upper=FLUX_FUNCTION_TOL, reference=0.0,
                       detail=span)]


def high_peclet_runs() -> tuple[Grid, np.ndarray, list[tuple[float, float, tuple]]]:
    """The HIGH_PECLET set-up: the grid, rho0, and per cell Peclet number Pe and drift b = +-1 the positional
    arguments of solve_fokker_planck (grid, rho0, drift b, D = |b| h / Pe, T, steps; a periodic 1D grid)."""
    p = HIGH_PECLET
    grid = Grid((0.0,), (1.0,), (p["cells"],))
    rho0 = grid.cell_averages(lambda y: np.exp(-0.5 * ((y[..., 0] - p["start"]) / p["std"]) ** 2))
    runs = [(pecl, b, (grid, rho0, lambda t, y, b=b: np.full_like(y, b), abs(b) * grid.spacing[0] / pecl, p["T"],
                       p["steps"])) for pecl in p["pecl"] for b in (1.0, -1.0)]
    return grid, rho0, runs


def high_peclet_checks(flux: str, solve: Callable = solve_fokker_planck, fipy_runs: dict | None = None
                       ) -> list[Check]:
    """The worst relative error of the mean's shift against b T at cell Peclet numbers +-HIGH_PECLET["pecl"]
    (see above), and the density at Pe = +-1e4 against the FiPy backend's (whose exponential scheme takes the
    large-Peclet limits in closed form; AGREEMENT_TOL). ``solve``: another solve_fokker_planck (the array
    backend), for the negative tests. ``fipy_runs``: FiPy's densities kept between the calls for each flux
    (FiPy runs its ExponentialConvectionTerm for both Scharfetter-Gummel and Chang-Cooper, the same flux at
    constant D)."""
    fipy_runs = {} if fipy_runs is None else fipy_runs
    p = HIGH_PECLET
    grid, rho0, runs = high_peclet_runs()
    x = grid.centers()[..., 0]
    worst_err, fipy_diff, detail = 0.0, 0.0, []
    for pecl, b, args in runs:
        rho = np.asarray(solve(*args, flux=flux, boundary="periodic").to_numpy())
        shift = float((rho * x).sum() / rho.sum() - (rho0 * x).sum() / rho0.sum())
        err = abs(shift - b * p["T"]) / (abs(b) * p["T"])
        worst_err = worst([worst_err, err])
        detail.append(f"Pe {b * pecl:+.0e}: {shift:+.6f}")
        if pecl == max(p["pecl"]):
            key = ("central" if flux == "central" else "exponential", b)
            if key not in fipy_runs:
                fipy_runs[key] = solve_fokker_planck(*args, flux=flux, boundary="periodic",
                                                     backend="fipy").to_numpy()
            f = fipy_runs[key]
            fipy_diff = worst([fipy_diff, float(np.abs(rho - f).max() / np.abs(f).max())])
    label = f"{flux} + bdf2, constant drift at cell Peclet numbers"
    return [make_check(f"{label} +-1e3, +-1e4 (periodic, 100 cells): mean shift vs b T (relative)", worst_err,
                       upper=HIGH_PECLET_TOL, reference=0.0, detail=f"b T = +-{p['T']:g}; " + ", ".join(detail)),
            make_check(f"{label} +-1e4: FiPy vs array, max relative difference", fipy_diff, upper=AGREEMENT_TOL,
                       reference=0.0)]


# Douglas ADI at high cell Peclet numbers: in 1D the Douglas step (theta = 1/2) is Crank-Nicolson exactly, so on
# the HIGH_PECLET problem it must equal an undamped Crank-Nicolson run on the LU path to round-off (ADI_CN_TOL:
# the same systems solved by Sherman-Morrison on LAPACK's tridiagonal LU and by SuperLU, 100 steps; measured at
# most 3e-15 for the fitted fluxes and 2.4e-14 for the central one). The periodic line systems have corners
# alpha = -c1 b_0 and beta = -c1 a_0 that differ by a factor exp(Pe), so a slip in the Sherman-Morrison scale
# (sqrt(|alpha / beta|) for sqrt(|alpha beta|)) overflows for a drift of one sign and not the other: both run.
ADI_CN_TOL = 1e-12


def adi_high_peclet_check(flux: str) -> Check:
    """Max relative difference of douglas-adi and crank-nicolson (damped_steps=0, solver="lu") densities at cell
    Peclet numbers +-1e3 and +-1e4 (the HIGH_PECLET set-up, periodic, 100 cells and steps); a run that raises
    counts as a failure (NaN)."""
    diff, detail = 0.0, ""
    for pecl, b, args in high_peclet_runs()[2]:
        cn = solve_fokker_planck(*args, flux=flux, time="crank-nicolson", damped_steps=0, solver="lu",
                                 boundary="periodic").to_numpy()
        try:
            adi = solve_fokker_planck(*args, flux=flux, time="douglas-adi", boundary="periodic").to_numpy()
            d = float(np.abs(adi - cn).max() / np.abs(cn).max())
        except (ValueError, NumericalError) as exc:
            d, detail = math.nan, f"Pe {b * pecl:+.0e}: {type(exc).__name__}: {str(exc)[:120]}"
        diff = worst([diff, d])
    return make_check(f"{flux} + douglas-adi, constant drift at cell Peclet numbers +-1e3, +-1e4 (periodic, 100 cells; "
                      "in 1D Douglas is Crank-Nicolson): max relative difference from crank-nicolson on LU", diff,
                      upper=ADI_CN_TOL, reference=0.0, detail=detail)


def cell_diffusion(grid: Grid, D0: float) -> np.ndarray:
    """Cell values D0 (1 + 0.6 sin(pi x) cos(2 pi y)) on the 2:1 box of the manufactured problem: in [0.4, 1.6] D0,
    varying along both axes, so every multigrid level needs its own block averages."""
    x = grid.centers()
    return D0 * (1.0 + 0.6 * np.sin(np.pi * x[..., 0]) * np.cos(2.0 * np.pi * x[..., 1]))


@case("fokker-planck-options-2d", title="Fokker–Planck, every flux × time scheme × linear solver: zero flux on a "
      "2:1 box with 4:3 cells, time-dependent drift, manufactured solution", tags=("eulerian", "fokker-planck", "mms"))
def fokker_planck_options_2d(ctx: CaseContext) -> None:
    """Asymmetric on purpose: h_x ≠ h_y and N_x ≠ N_y (an axis mix-up shows), a drift that depends on t and x
    (a stage at the wrong time shows in the temporal order), walls (zero normal flux) rather than periodicity,
    and the multigrid path forced at sizes where "auto" would pick LU."""
    problem = get_problem("mms-fokker-planck-box-2d")
    levels = (12, 24, 48) if ctx.quick else (16, 32, 64)
    steps = 2 * levels[-1]  # fixed: the time error stays well below the space error of every scheme
    for flux in FLUXES:
        study = convergence_study(FokkerPlanckSolver(flux=flux, solver="lu"), problem, levels, refine="space",
                                  steps=steps)
        record_study(ctx, f"{flux} + bdf2 (LU) spatial", study, 2.0)
        for scheme in TIME_SCHEMES:
            study = convergence_study(FokkerPlanckSolver(flux=flux, time=scheme), problem, (8, 16, 32, 64, 128),
                                      refine="time", cells=12)
            ctx.add_all(study.checks(FokkerPlanckSolver(time=scheme).time_order, ORDER_BAND,
                                     name=f"{flux} + {scheme} temporal (self-convergence, 12x9 cells)"))
    study = convergence_study(FokkerPlanckSolver(time="douglas-adi"), problem, levels, refine="space", steps=steps)
    record_study(ctx, "scharfetter-gummel + douglas-adi spatial", study, 2.0)
    grid = grid_for(problem, levels[-1])
    label = f"{grid.shape[0]}x{grid.shape[1]} cells, {levels[-1]} steps"
    for flux in FLUXES:
        mean_its = {}
        for scheme in ("implicit-euler", "crank-nicolson", "bdf2"):
            start = time.perf_counter()
            lu = FokkerPlanckSolver(flux=flux, time=scheme, solver="lu")(problem, grid, levels[-1])
            # "auto" takes the multigrid path here (a time-dependent drift on more than 1 024 cells in 2D)
            mg = FokkerPlanckSolver(flux=flux, time=scheme, solver="auto")(problem, grid, levels[-1])
            ctx.add(check_solution_records(f"{flux} + {scheme}, LU and multigrid, {label}", [lu, mg], closed=True,
                                           elapsed=time.perf_counter() - start))
            mean_its[scheme] = float(np.mean(mg.info["linear_iterations"]))
            ctx.check(f"{flux} + {scheme}, {label}: solver='auto' runs multigrid", float(mg.info["solver"] ==
                      "multigrid"), lower=1.0, detail=f"ran {mg.info['solver']}")
            ctx.add(check_agreement(f"{flux} + {scheme}, multigrid vs LU, {label}", lu.to_numpy(), mg.to_numpy(),
                                    SOLVER_AGREEMENT_TOL))
            ctx.add(check_multigrid_iterations(f"{flux} + {scheme}, {label}", mg))
            ctx.add(check_multigrid_mean_iterations(f"{flux} + {scheme}, {label}", mg))
            if scheme == "bdf2":
                ctx.add(check_direct_solver_record(f"{flux} + {scheme}, {label}", lu, mg))
            if scheme == "implicit-euler" and flux == FLUXES[0]:
                loose = FokkerPlanckSolver(flux=flux, time=scheme, solver="multigrid", rtol=MG_LOOSE_RTOL)(
                    problem, grid, levels[-1])
                ctx.add_all(multigrid_rtol_checks(f"{flux} + {scheme}, multigrid, {label}", lu, mg, loose,
                                                  levels[-1]))
        ctx.add(check_bdf2_start(f"{flux}, {label}", mean_its))
    # an odd axis (27 cells) stops the coarsening of that axis early: the other branch of the transfer operators
    odd = grid_for(problem, (50, 27))
    lu = FokkerPlanckSolver(solver="lu")(problem, odd, 32)
    mg_odd = FokkerPlanckSolver(solver="multigrid")(problem, odd, 32)
    ctx.add(check_agreement("scharfetter-gummel + bdf2, multigrid vs LU, 50x27 cells", lu.to_numpy(),
                            mg_odd.to_numpy(), SOLVER_AGREEMENT_TOL))
    ctx.add(check_multigrid_iterations("scharfetter-gummel + bdf2, 50x27 cells", mg_odd))
    ctx.add(check_multigrid_mean_iterations("scharfetter-gummel + bdf2, 50x27 cells", mg_odd))
    # cell-valued D: the coarse levels average it over blocks of 2, 4, ... cells (three levels at 48x36); the drift
    # frozen at t = T/2, so that each solver is built once
    dgrid = grid_for(problem, levels[-1])
    D_cells = cell_diffusion(dgrid, problem.diffusion)
    rho0 = dgrid.cell_averages(problem.initial_density)
    frozen = lambda t, x: problem.drift(0.5 * problem.t_final, x)   # noqa: E731
    runs = {s: solve_fokker_planck(dgrid, rho0, frozen, D_cells, problem.t_final, levels[-1] // 2, solver=s,
                                   boundary=problem.boundary) for s in ("lu", "multigrid")}
    dlabel = f"cell-valued D, {dgrid.shape[0]}x{dgrid.shape[1]} cells"
    ctx.add(check_agreement(f"scharfetter-gummel + bdf2, multigrid vs LU, {dlabel}", runs["lu"].to_numpy(),
                            runs["multigrid"].to_numpy(), SOLVER_AGREEMENT_TOL))
    ctx.add(check_multigrid_iterations(f"scharfetter-gummel + bdf2, {dlabel}", runs["multigrid"]))
    ctx.add(check_multigrid_mean_iterations(f"scharfetter-gummel + bdf2, {dlabel}", runs["multigrid"]))
    ctx.add_all(flux_function_checks())
    fipy_runs: dict = {}
    for flux in FLUXES:
        ctx.add_all(high_peclet_checks(flux, fipy_runs=fipy_runs))
        ctx.add(adi_high_peclet_check(flux))
    ctx.add_all(adi_source_checks())
    ctx.add_all(multigrid_cycle_checks())
    ctx.add(short_axis_cycle_check())
    ctx.add(odd_axis_cycle_check())
    ctx.add(check_mixed_precision())
    ctx.add_all(tensor_prolongation_checks())
    ctx.add_all(multigrid_path_checks())
    if not ctx.quick:  # a stiffer step (dt D / h² ≈ 40) on a larger grid
        stiff = FokkerPlanckSolver(solver="multigrid")(problem, grid_for(problem, 128), 16)
        ctx.add(check_multigrid_iterations("scharfetter-gummel + bdf2, 128x96 cells, 16 steps", stiff))
        ctx.add(check_multigrid_mean_iterations("scharfetter-gummel + bdf2, 128x96 cells, 16 steps", stiff))
    density_picture(ctx, f"manufactured Fokker–Planck on the box: density at t = {problem.t_final:g}, {label}",
                    grid, mg.to_numpy(), exact=problem.exact_cell_averages(grid))


def check_fipy_ran(name: str, solutions: Sequence[Solution]) -> Check:
    """solve_continuity(backend="fipy") must hand the run to FiPy's VanLeerConvectionTerm: every solution says
    backend 'fipy' and names the FiPy term. The order check above is one-sided (FiPy's first order must clear
    0.85), so a dispatch that silently ran the second-order array scheme instead would pass it (order 2.35)."""
    wrong = [i for i, s in enumerate(solutions)
             if s.backend != "fipy" or s.info.get("fipy_term") != "VanLeerConvectionTerm"]
    return make_check(f"{name}: solutions computed by FiPy (count of others)", float(len(wrong)), upper=0.0,
                      detail=f"backends {[s.backend for s in solutions]}")


def check_continuity_snapshots(backend: str = "fipy", solve: Callable = solve_continuity) -> Check:
    """Snapshots of a continuity run on ``backend`` (12 x 9 cells, walls, the manufactured box's velocity,
    16 forced steps) at save_at = (0, T/2, T): the one at t = 0 is rho0, the one at T/2 the final density of the
    same run stopped there (8 steps), the one at T the final density: max relative difference, exact up to
    round-off (1e-13). ``solve``: another solve_continuity, for the negative tests."""
    problem = get_problem("mms-continuity-box-2d")
    grid = grid_for(problem, 12)
    rho0 = grid.cell_averages(problem.initial_density)
    T = problem.t_final

    def run(t_final: float, steps: int, save_at: Any = None) -> Solution:
        return solve(grid, rho0, problem.drift, t_final, steps=steps, save_at=save_at, backend=backend,
                     boundary=problem.boundary)

    try:
        sol = run(T, 16, (0.0, 0.5 * T, T))
        saved = sol.densities_numpy()
        refs = [rho0, run(0.5 * T, 8).to_numpy(), sol.to_numpy()]
        err = worst(float(np.abs(np.asarray(a) - b).max() / np.abs(b).max()) for a, b in zip(saved, refs)) \
            if len(saved) == 3 else math.inf
        detail = f"saved at t = {[float(t) for t in sol.times]}"
    except (TypeError, ValueError, AttributeError) as exc:
        err, detail = math.nan, f"{type(exc).__name__}: {exc}"
    return make_check(f"continuity ({backend} backend), snapshots at t = 0, T/2, T vs rho0, a run to T/2 and the final "
                      "density: max relative difference", err, upper=1e-13, reference=0.0, detail=detail)


def check_min_density_record(backend: str = "fipy", solve: Callable = solve_continuity) -> Check:
    """Solution.min_density of a continuity run on ``backend`` (12 x 9 cells, walls, the manufactured box's
    velocity, 16 forced steps, a snapshot at every step): the smallest cell value over the run, so it must equal the
    minimum over the 17 snapshots exactly. Value: their difference (NaN when it is missing or not a number)."""
    problem = get_problem("mms-continuity-box-2d")
    grid = grid_for(problem, 12)
    T = problem.t_final
    sol = solve(grid, grid.cell_averages(problem.initial_density), problem.drift, T, steps=16,
                save_at=np.linspace(0.0, T, 17), backend=backend, boundary=problem.boundary)
    lowest = min(float(np.min(d)) for d in sol.densities_numpy())
    recorded = sol.min_density
    diff = abs(float(recorded) - lowest) if isinstance(recorded, (float, np.floating)) else math.nan
    return make_check(f"continuity ({backend} backend): min_density vs the minimum over a snapshot at every step",
                      diff, upper=0.0, reference=0.0, detail=f"recorded {recorded!r}, snapshots {lowest:.6g}")


CONTINUITY_TIME = {"numpy": "ssp-rk3", "fipy": "explicit (FiPy)"}   # the time scheme each backend runs


def check_continuity_info(solutions: Sequence[Solution], cfl: float, limiters: Sequence[str]) -> Check:
    """Every continuity run (one per limiter on the array backend, then FiPy's) describes itself in
    Solution.info: the Courant number it was given ("cfl"), its walls ("boundary", the same for all), its time
    scheme ("time": CONTINUITY_TIME of its backend) and, on the array backend, its limiter in the order run.
    Value: the number of missing or wrong entries (0 passes)."""
    wrong = [f"{s.backend} cfl {s.info.get('cfl')!r}" for s in solutions if s.info.get("cfl") != cfl]
    wrong += [f"{s.backend} boundary {s.info.get('boundary')!r}" for s in solutions
              if s.info.get("boundary") != solutions[0].info.get("boundary") or "boundary" not in s.info]
    wrong += [f"{s.backend} time {s.info.get('time')!r}" for s in solutions
              if s.info.get("time") != CONTINUITY_TIME.get(s.backend)]
    wrong += [f"limiter {s.info.get('limiter')!r} for {want!r}" for s, want in zip(solutions, limiters)
              if s.info.get("limiter") != want]
    return make_check("continuity: every run describes itself in info (cfl, boundary, time, limiter)", len(wrong),
                      upper=0, reference=0, detail="; ".join(wrong) or f"cfl {cfl}, limiters {list(limiters)}")


# the discrete maximum principle of the limited MUSCL scheme: an oblique constant velocity on a periodic 1:2 box
# with 24x40 cells (h_x = 1/24, h_y = 1/20), a square of 1 on 0.1 carried for 0.5 time units (cfl 0.4 on the
# sum over axes of |v_k|/h_k, within the 1/2 under which every SSP stage is a convex combination of cell values)
MAX_PRINCIPLE = {"upper": (1.0, 2.0), "shape": (24, 40), "v": (0.7, -1.3), "T": 0.5, "cfl": 0.4}


def velocity_calls_steady(d: int) -> int:
    """The most evaluations of a velocity independent of t that solve_continuity may make in a d-D run with
    time_dependent=None: the argument probe, the detection probes at t = 0, T/2 and T, and one per axis."""
    return 1 + 3 + d


def maximum_principle_checks(solve: Callable = solve_continuity,
                             limiters: Sequence[str] = ("mc", "minmod", "vanleer")) -> list[Check]:
    """Each limited scheme keeps the density of a divergence-free transport within the bounds of the initial one
    (the exact solution's bounds: a translate of rho0): the value is the excursion beyond [min rho0, max rho0]
    relative to max rho0, which must stay at round-off (1e-12). An unlimited (or wrongly limited) slope
    overshoots at the square's edges by about 10 %.

    And the cost of the velocity: it does not depend on t, so every run evaluates it at most
    velocity_calls_steady(d) times (solve_continuity's docstring), not at each of the 3 stages of each of the 72
    steps (432 more calls), and records in info["time_dependent"] that it found so."""
    p = MAX_PRINCIPLE
    grid = Grid((0.0, 0.0), p["upper"], p["shape"])
    x = grid.centers()
    rho0 = np.where((np.abs(x[..., 0] - 0.5) < 0.2) & (np.abs(x[..., 1] - 1.0) < 0.5), 1.0, 0.1)
    v = np.array(p["v"])
    checks, calls = [], []

    def velocity(t: float, y: np.ndarray) -> np.ndarray:
        calls[-1] += 1
        return np.broadcast_to(v, y.shape)

    detected = []
    for limiter in limiters:
        calls.append(0)
        sol = solve(grid, rho0, velocity, p["T"], limiter=limiter, boundary="periodic", cfl=p["cfl"])
        detected.append(sol.info.get("time_dependent"))
        rho = sol.to_numpy()
        excursion = max(float(rho.max()) - 1.0, 0.1 - float(rho.min()), 0.0)   # max rho0 = 1
        checks.append(make_check(f"continuity limiter={limiter}, periodic {p['shape'][0]}x{p['shape'][1]} box, "
                                 "oblique velocity: excursion beyond the initial bounds / max", excursion,
                                 upper=1e-12, reference=0.0, detail=f"min {rho.min():.6g}, max {rho.max():.6g}"))
    bound = velocity_calls_steady(grid.dim)
    checks.append(make_check(f"continuity, a velocity independent of t: evaluations per run (at most {bound}: "
                             "the argument probe, 3 time probes, one per axis)", max(calls), upper=bound,
                             detail=f"per limiter {dict(zip(limiters, calls))}"))
    checks.append(make_check("continuity, a velocity independent of t: runs whose info does not record "
                             "time_dependent False (what the probes found)", sum(d is not False for d in detected),
                             upper=0, reference=0, detail=f"per limiter {dict(zip(limiters, detected))}"))
    return checks


# solve_meanfield's step cap met while running: the CFL estimate from V[rho0] at t = 0 passes max_steps, but the
# velocity -(1 + 20 t) x grows 11-fold by T = 0.5, so the run needs about 6 times the estimate (integral of the
# rate); with max_steps twice the estimate it must stop with the ValueError that names max_steps and says where
MEANFIELD_CAP = {"cells": 16, "box": (-3.0, 3.0), "T": 0.5, "cfl": 0.4, "growth": 20.0}


# A slow constant velocity on a coarse periodic box: the CFL rate r = sum_k |v_k| / h_k = 0.14 per unit time is
# below 1, so a step rule that treats small rates as zero (one step to t_final) shows here and nowhere else
SLOW_VELOCITY = (0.02, -0.01)


def constant_flow_box(v: Sequence[float]) -> tuple[Grid, np.ndarray, Callable]:
    """[0, 2] x [0, 1] with 8 x 6 cells, a smooth positive density and the constant velocity field v(t, x) = v."""
    grid = Grid((0.0, 0.0), (2.0, 1.0), (8, 6))
    rho0 = grid.cell_averages(lambda x: 1.0 + 0.5 * np.cos(np.pi * x[..., 0]) * np.cos(2 * np.pi * x[..., 1]))

    def velocity(t, x):
        return np.stack([np.full(x.shape[:-1], c) for c in v], axis=-1)

    return grid, rho0, velocity


def check_slow_step_counts(solve: Callable = solve_continuity) -> Check:
    """solve_continuity on both backends, v = SLOW_VELOCITY on [0, 2] x [0, 1] (8 x 6 cells, periodic), t_final
    = 10, cfl = 0.4: each takes ceil(t_final r / cfl) = 4 steps (dt = cfl / r). Value: the number of runs whose
    step count differs."""
    grid, rho0, velocity = constant_flow_box(SLOW_VELOCITY)
    cfl, t_final = 0.4, 10.0
    rate = sum(abs(v) / h for v, h in zip(SLOW_VELOCITY, grid.spacing))
    expected = math.ceil(t_final * rate / cfl - 1e-9)
    steps = {b: solve(grid, rho0, velocity, t_final, cfl=cfl, boundary="periodic", backend=b).steps
             for b in ("numpy", "fipy")}
    return make_check(f"continuity, slow velocity (CFL rate {rate:.3g} < 1 per unit time), both backends: steps = "
                      f"ceil(t_final r / cfl) = {expected} (runs that differ)",
                      sum(n != expected for n in steps.values()), upper=0, reference=0,
                      detail=", ".join(f"{b}: {n} steps" for b, n in steps.items()))


def continuity_step_estimate_checks(solve: Callable = solve_continuity) -> list[Check]:
    """The up-front step count of solve_continuity's max_steps cap, on a faster constant velocity (20 SLOW_VELOCITY)
    over the box of check_slow_step_counts: the estimate is ceil(t_final r / cfl) plus one step per save_at time
    (r = sum_k |v_k| / h_k, computed here). With and without save_at, a cap one below the estimate must be refused
    up front, its message suggesting exactly the estimate (value |suggested - expected|, no refusal counting as
    infinite), and a cap equal to it must run (value: the steps beyond the cap; a refusal counts as infinite)."""
    cfl, t_final, v = 0.4, 1.1, [20.0 * c for c in SLOW_VELOCITY]   # t_final r / cfl = 7.7
    grid, rho0, velocity = constant_flow_box(v)
    base = math.ceil(t_final * sum(abs(c) / h for c, h in zip(v, grid.spacing)) / cfl)
    checks = []
    for save_at in (None, (0.1, 0.35, t_final)):
        expected = base + (0 if save_at is None else len(save_at))
        saves = "" if save_at is None else f", {len(save_at)} save_at times"
        try:
            solve(grid, rho0, velocity, t_final, cfl=cfl, boundary="periodic", save_at=save_at,
                  max_steps=expected - 1)
            refused, detail = math.inf, f"max_steps={expected - 1} was not refused up front"
        except ValueError as exc:
            found = re.search(r"pass max_steps=(\d+)", str(exc))
            refused = abs(int(found.group(1)) - expected) if found else math.inf
            detail = str(exc)[:160]
        checks.append(make_check(f"continuity, v = {v}{saves}: step estimate in the max_steps refusal vs "
                                 f"ceil(t_final r / cfl) = {base}", float(refused), upper=0.0,
                                 reference=float(expected), detail=detail))
        try:
            steps = solve(grid, rho0, velocity, t_final, cfl=cfl, boundary="periodic", save_at=save_at,
                          max_steps=expected).steps
            beyond, detail = float(max(steps - expected, 0)), f"{steps} steps"
        except ValueError as exc:
            beyond, detail = math.inf, str(exc)[:160]
        checks.append(make_check(f"continuity, v = {v}{saves}: a cap max_steps = {expected} (the estimate) runs "
                                 "(steps beyond it)", beyond, upper=0.0, reference=0.0, detail=detail))
    return checks


def meanfield_step_cap_check(solver: Callable | None = None) -> Check:
    """1 when solve_meanfield (``solver``: another one, for the negative tests) stops at max_steps with a
    ValueError saying it reached max_steps before t_final, else 0."""
    from eulerian.meanfield import solve_meanfield

    p = MEANFIELD_CAP
    grid = Grid((p["box"][0],), (p["box"][1],), (p["cells"],))
    h = grid.spacing[0]
    cap = 2 * math.ceil(p["T"] * p["box"][1] / h / p["cfl"])   # twice the largest t = 0 estimate
    rho0 = grid.cell_averages(lambda x: np.exp(-x[..., 0] ** 2))
    run = solver or solve_meanfield
    try:
        run(grid, rho0, lambda t, g, rho, x: -(1.0 + p["growth"] * t) * x, p["T"], cfl=p["cfl"], max_steps=cap)
        outcome, ok = "ran to t_final", False
    except ValueError as exc:
        outcome, ok = f"ValueError: {exc}", f"reached max_steps={cap}" in str(exc)
    except Exception as exc:   # noqa: BLE001 - any other outcome is the failure this check reports
        outcome, ok = f"{type(exc).__name__}: {exc}", False
    return make_check(f"solve_meanfield, velocity growing 11-fold, max_steps = {cap}: stops with the step-cap "
                      "ValueError", float(ok), lower=1.0, reference=1.0, detail=outcome[:200])


@case("continuity-options-2d", title="Continuity, every limiter and the FiPy backend: zero flux on a 2:1 box with "
      "4:3 cells, time-dependent velocity, manufactured solution", tags=("eulerian", "continuity", "mms", "fipy"))
def continuity_options_2d(ctx: CaseContext) -> None:
    problem = get_problem("mms-continuity-box-2d")
    levels = (16, 24, 32, 48, 64) if ctx.quick else (24, 32, 48, 64, 96)
    array_runs = []
    start = time.perf_counter()
    for limiter in LIMITERS:
        study = convergence_study(ContinuitySolver(limiter=limiter), problem, levels)
        array_runs.append(study.outputs[0])
        floor = 2.0 - ORDER_BAND if limiter == "none" else LIMITED_ORDER_FLOOR
        # limited slopes clip at extrema: at least the floor (one-sided), second order without a limiter
        record_study(ctx, f"continuity limiter={limiter} L1", study, 2.0, band=(2.0 - floor, float("inf")))
        ctx.add(check_nonnegative(f"continuity limiter={limiter} N={levels[-1]}", study.outputs[-1]))
    # FiPy's VanLeerConvectionTerm with explicit Euler steps: first order (the interval must clear 0.85)
    study = convergence_study(ContinuitySolver(backend="fipy"), problem, levels[:4])
    record_study(ctx, "continuity FiPy backend L1", study, 1.0, band=(ORDER_BAND, float("inf")))
    ctx.add(check_fipy_ran("continuity FiPy backend", study.outputs))
    ctx.add(check_solution_records("continuity, zero-flux box, every limiter and FiPy",
                                   array_runs + list(study.outputs), closed=True,
                                   elapsed=time.perf_counter() - start))
    ctx.add(check_continuity_snapshots())
    for backend in ("numpy", "fipy"):
        ctx.add(check_min_density_record(backend))
    ctx.add(check_continuity_info(array_runs + [study.outputs[0]], ContinuitySolver().cfl, LIMITERS))
    ctx.add_all(maximum_principle_checks())
    ctx.add(meanfield_step_cap_check())
    ctx.add(check_slow_step_counts())
    ctx.add_all(continuity_step_estimate_checks())
    grid = grid_for(problem, levels[3])
    density_picture(ctx, f"manufactured continuity on the box, FiPy: density at t = {problem.t_final:g}, "
                    f"{grid.shape[0]}x{grid.shape[1]} cells", grid, study.outputs[-1].to_numpy(),
                    exact=problem.exact_cell_averages(grid))


# ------------------------------------------------------------------- rough data: the heat equation from a step
STEP = {"D": 1.0, "T": 0.05, "L": 4.0, "a": 1.0}   # rho0 = 1 on [-a, a] in the box [-L, L]; mass at the walls ~0
DAMPED_GAIN = 10.0  # undamped / damped Crank–Nicolson time error at 5 steps must exceed this (measured 20)


def heat_step_exact(grid: Grid, t: float) -> np.ndarray:
    """Cell averages of the heat kernel applied to the indicator of [-a, a] on the whole line:
    rho = (erf((x + a)/s) - erf((x - a)/s)) / 2, s = sqrt(4 D t), averaged with the antiderivative
    F(u) = u erf(u/s) + s exp(-u²/s²) / sqrt(pi) of erf(u/s)."""
    from scipy.special import erf

    s, a, f = math.sqrt(4.0 * STEP["D"] * t), STEP["a"], grid.faces(0)
    F = lambda u: u * erf(u / s) + s / math.sqrt(math.pi) * np.exp(-(u / s) ** 2)   # noqa: E731
    return np.diff(0.5 * (F(f + a) - F(f - a))) / np.diff(f)


def heat_step_problem(cells: int) -> tuple[Grid, np.ndarray, np.ndarray]:
    """The grid, the cell averages of the step and the semi-discrete solution exp(T A) rho0 at T (the same
    finite-volume operator integrated exactly in time by scipy's expm_multiply: the reference of the time
    error)."""
    from scipy.sparse.linalg import expm_multiply

    grid = Grid((-STEP["L"],), (STEP["L"],), (cells,))
    f = grid.faces(0)
    rho0 = np.diff(np.clip(f, -STEP["a"], STEP["a"])) / np.diff(f)
    be = get_backend("numpy")
    A = assemble_generator(be, grid, face_drift(be, grid, _no_drift, 0.0, False), STEP["D"], "scharfetter-gummel",
                           False)
    return grid, rho0, expm_multiply(A * STEP["T"], rho0)


def _no_drift(t: float, x: np.ndarray) -> np.ndarray:
    return np.zeros_like(x)


def time_errors(grid: Grid, rho0: np.ndarray, semi: np.ndarray, scheme: str, steps: tuple[int, ...],
                damped_steps: int | None = None) -> list[float]:
    """L1 distance of the scheme's solution at T to the semi-discrete solution, for each step count."""
    return [grid_error(solve_fokker_planck(grid, rho0, _no_drift, STEP["D"], STEP["T"], k, time=scheme,
                                           damped_steps=damped_steps).to_numpy(), semi, grid.cell_volume)
            for k in steps]


def check_damped_implicit_euler(grid: Grid, rho0: np.ndarray, steps: int = 5,
                                solve: Callable = solve_fokker_planck) -> Check:
    """Implicit Euler with damped_steps=1 takes its first step as two implicit-Euler half steps, so (the problem
    being autonomous) it equals plain implicit Euler run as 2 steps over [0, dt] and then steps - 1 steps over
    [dt, T]: L1 distance over the L1 norm, to 1e-12 (the same LU solves in another order)."""
    T, D = STEP["T"], STEP["D"]
    dt = T / steps
    damped = solve(grid, rho0, _no_drift, D, T, steps, time="implicit-euler", damped_steps=1)
    first = solve(grid, rho0, _no_drift, D, dt, 2, time="implicit-euler").to_numpy()
    plain = solve(grid, first, _no_drift, D, T - dt, steps - 1, time="implicit-euler").to_numpy()
    dev = grid_error(damped.to_numpy(), plain, grid.cell_volume) / grid_error(plain, 0.0 * plain, grid.cell_volume)
    return make_check(f"implicit Euler, damped_steps=1, {steps} steps vs 2 half steps then {steps - 1} plain steps "
                      "(relative L1)", dev, upper=1e-12, reference=0.0)


def check_time_order(name: str, steps: tuple[int, ...], errors: list[float], expected: float) -> Check:
    """Order verdict (95 % interval inside expected ± ORDER_BAND) of the time errors against dt = T / steps."""
    verdict = order_verdict(fit_order([STEP["T"] / k for k in steps], errors), expected, ORDER_BAND)
    return _verdict_check(f"{name}: time order", verdict, "errors " + ", ".join(f"{e:.3e}" for e in errors)
                          + " at steps " + ", ".join(map(str, steps)))


@case("heat-step-1d", title="Rough data: the heat equation from a step, Rannacher's damped start recovers "
      "Crank–Nicolson's order 2", tags=("eulerian", "fokker-planck"))
def heat_step_1d(ctx: CaseContext) -> None:
    """Time errors against the semi-discrete solution (expm_multiply, so the spatial error cancels), space
    errors of that solution against the exact heat kernel: the two halves of the error, each with its order."""
    cells = 200 if ctx.quick else 400   # multiples of 8: the jumps of the step fall on faces
    grid, rho0, semi = heat_step_problem(cells)
    steps = (10, 20, 40, 80, 160)   # from 5 steps the pairwise orders are 2.18, 2.16, 2.00: pre-asymptotic
    damped = time_errors(grid, rho0, semi, "crank-nicolson", steps)
    ctx.add(check_time_order("Crank–Nicolson, damped start (default)", steps, damped, 2.0))
    ctx.add(check_time_order("BDF2, damped start (default)", steps, time_errors(grid, rho0, semi, "bdf2", steps),
                             2.0))
    for scheme in ("crank-nicolson", "bdf2"):
        ctx.add(check_time_order(f"{'Crank–Nicolson' if scheme == 'crank-nicolson' else 'BDF2'}, two damped steps",
                                 steps, time_errors(grid, rho0, semi, scheme, steps, damped_steps=2), 2.0))
    undamped, first = (time_errors(grid, rho0, semi, "crank-nicolson", (5,), damped_steps=k)[0] for k in (0, 1))
    ctx.check("undamped Crank–Nicolson / damped, 5 steps (negative check: rough data are not damped)",
              undamped / first, lower=DAMPED_GAIN, detail=f"undamped {undamped:.3e}, damped {first:.3e}")
    ctx.add(check_damped_implicit_euler(grid, rho0))
    ctx.series("time error vs dt (against the semi-discrete solution)", [STEP["T"] / k for k in steps], damped,
               xlabel="dt", ylabel="L1 error", logx=True, logy=True, label="Crank–Nicolson, damped start")
    # space: the semi-discrete solution against the exact heat kernel (the step is smoothed: second order)
    sizes = (80, 160, 320) if ctx.quick else (80, 160, 320, 640)   # the jumps at ±a fall on faces
    space = []
    for n in sizes:
        g, _, sd = heat_step_problem(n)
        space.append(grid_error(sd, heat_step_exact(g, STEP["T"]), g.cell_volume))
    verdict = order_verdict(fit_order([2 * STEP["L"] / n for n in sizes], space), 2.0, ORDER_BAND)
    ctx.add(_verdict_check("semi-discrete solution vs the exact heat kernel: space order", verdict,
                           "errors " + ", ".join(f"{e:.3e}" for e in space)))


def gibbs_problem() -> tuple[Grid, G.Affine, float, np.ndarray]:
    H = np.array([[1.0, 0.4], [0.4, 0.7]])
    c = np.array([0.3, -0.2])
    grid = Grid((-5.0, -5.0), (5.0, 5.0), (20, 24))
    x = grid.centers()
    V = 0.5 * np.einsum("...i,ij,...j", x, H, x) - x @ c
    D = 0.5
    rho = np.exp(-(V - V.min()) / D)
    return grid, G.Affine(-H, c), D, rho / grid.mass(rho)


def periodic_drift(t: float, x: np.ndarray) -> np.ndarray:
    """b(x, y) = (sin x + cos(x) / 2, 4/5 sin 2y): each component varies along its own axis."""
    return np.stack([np.sin(x[..., 0]) + 0.5 * np.cos(x[..., 0]), 0.8 * np.sin(2.0 * x[..., 1])], axis=-1)


def periodic_gibbs_problem() -> tuple[Grid, Callable, float, np.ndarray]:
    """A periodic Gibbs state on [0, 2 pi)^2 (20 x 24 cells, D = 1/2) for ``periodic_drift``, whose components vary
    along their own axes, so the cyclic corner terms of every line solve (Douglas ADI) and of the periodic
    generator carry a drift that differs from the neighbouring faces'. Exponentially fitted fluxes vanish on a face
    when rho_{i+1} / rho_i = exp(b(face) h / D); b_k depends on x_k only, so rho = r(x) s(y) with r, s the
    cumulative products of those ratios, and the product around a periodic line is exp(sum_faces b h / D) = 1
    (the face values of sin and cos over a whole period sum to zero): a discrete state with zero flux through
    every face, built from the face drift alone (no solver)."""
    grid, D = Grid((0.0, 0.0), (2 * np.pi, 2 * np.pi), (20, 24)), 0.5
    logs = []
    for k, (n, h) in enumerate(zip(grid.shape, grid.spacing)):
        faces = np.zeros((n - 1, 2))
        faces[:, k] = grid.lower[k] + h * np.arange(1, n)   # the faces between cells i and i + 1
        logs.append(np.concatenate([[0.0], np.cumsum(periodic_drift(0.0, faces)[:, k] * h / D)]))
    rho = np.exp(logs[0][:, None] + logs[1][None, :])
    return grid, periodic_drift, D, rho / grid.mass(rho)


@case("equilibrium", title="Discrete Gibbs state: stationary for exponentially fitted fluxes, not for central",
      tags=("eulerian", "fokker-planck"))
def equilibrium(ctx: CaseContext) -> None:
    grid, drift, D, rho_eq = gibbs_problem()
    for flux in [name for name, f in FLUX_SCHEMES.items() if f.exact_equilibrium]:
        for scheme in TIME_SCHEMES:
            ctx.add(check_equilibrium(f"{flux} + {scheme}", gibbs_deviation(grid, drift, D, rho_eq, flux, scheme)))
    # periodic walls, a drift varying along each line (the cyclic terms of Douglas ADI's line solves)
    pgrid, pdrift, pD, prho = periodic_gibbs_problem()
    for flux in [name for name, f in FLUX_SCHEMES.items() if f.exact_equilibrium]:
        for scheme in TIME_SCHEMES:
            ctx.add(check_equilibrium(f"periodic, {flux} + {scheme}",
                                      gibbs_deviation(pgrid, pdrift, pD, prho, flux, scheme, boundary="periodic")))
    dev = gibbs_deviation(grid, drift, D, rho_eq, "central", "bdf2")
    ctx.check("central + bdf2 departs from the Gibbs state (negative check, expected > 1e-4)", dev, lower=1e-4)
    be = get_backend("numpy")
    A = assemble_generator(be, grid, face_drift(be, grid, drift, 0.0, False), D, "scharfetter-gummel", False)
    ctx.check("SG generator: |A rho_eq|_max / |A|_max", float(np.abs(A @ rho_eq.ravel()).max() / abs(A).max()),
              upper=1e-13)


SCHEME_INFO = ("flux", "time", "boundary", "dt", "damped_steps", "diffusion")   # Solution.info of both backends


def check_scheme_info(name: str, a: Solution, b: Solution, t_final: float) -> Check:
    """The two backends describe the same scheme in ``Solution.info`` (the keys SCHEME_INFO, equal values), both
    report dt = t_final / steps, and each names itself (``Solution.backend``: "numpy" for ``a``, "fipy" for ``b``):
    the number of keys missing or different, plus 1 per wrong dt or backend name (0 passes)."""
    wrong = [k for k in SCHEME_INFO if k not in a.info or k not in b.info or a.info[k] != b.info[k]]
    wrong += [f"backend {s.backend!r} (expected {name!r})" for s, name in ((a, "numpy"), (b, "fipy"))
              if s.backend != name]
    wrong += [f"dt of {s.backend}" for s in (a, b) if not math.isclose(s.info.get("dt", math.nan), t_final / s.steps,
                                                                        rel_tol=1e-14)]
    return make_check(f"{name}: both backends describe the same scheme in info ({', '.join(SCHEME_INFO)}; "
                      "dt = t_final / steps) and name themselves", len(wrong), upper=0, reference=0,
                      detail=f"missing or different: {wrong}" if wrong else f"info {b.info}")


def check_fp_min_density_record(backend: str, scheme: str, solver: Callable = FokkerPlanckSolver) -> Check:
    """Solution.min_density of a Fokker–Planck run (the manufactured box, 16 x 12 cells, 8 steps, a snapshot at
    every step): the smallest cell value over the run, so it must equal the minimum over the 9 snapshots exactly.
    Value: their difference (NaN when it is missing or not a number)."""
    problem = get_problem("mms-fokker-planck-box-2d")
    sol = solver(time=scheme, backend=backend, save_at=tuple(np.linspace(0.0, problem.t_final, 9)))(
        problem, grid_for(problem, 16), 8)
    lowest = min(float(np.min(d)) for d in sol.densities_numpy())
    recorded = sol.min_density
    diff = abs(float(recorded) - lowest) if isinstance(recorded, (float, np.floating)) else math.nan
    return make_check(f"Fokker–Planck ({backend} backend, {scheme}): min_density vs the minimum over a snapshot at "
                      "every step", diff, upper=0.0, reference=0.0,
                      detail=f"recorded {recorded!r}, snapshots {lowest:.6g}")


# 3-D boxes periodic on two axes: FiPy names their meshes by the pair (PeriodicGrid3DLeftRightTopBottom, ...)
PERIODIC_PAIRS_3D = (("periodic", "periodic", "zero-flux"), ("zero-flux", "periodic", "periodic"),
                     ("periodic", "zero-flux", "periodic"))


def fipy_agreement_3d(name: str, drift: Callable, D: Any, boundary: Any, solve: Callable = solve_fokker_planck,
                      fipy_solve: Callable = solve_fokker_planck) -> Check:
    """FiPy against the array backend (``solve`` and ``fipy_solve``: other solve_fokker_planck functions, for the
    negative tests) on a 3-D box of 6 x 5 x 4 cells of different spacing per axis, from a Gaussian bump, implicit
    Euler, 4 steps to t = 0.2: max relative difference <= AGREEMENT_TOL. A run that raises fails the check."""
    grid = Grid((-1.5, -1.0, -1.0), (1.5, 1.5, 1.0), (6, 5, 4))
    args = (grid, grid.cell_averages(lambda x: np.exp(-(x ** 2).sum(-1))), drift, D, 0.2, 4)
    try:
        a = solve(*args, time="implicit-euler", boundary=boundary)
        b = fipy_solve(*args, time="implicit-euler", boundary=boundary, backend="fipy")
    except Exception as exc:   # noqa: BLE001 - any failure of either backend fails the check
        return make_check(f"{name}, FiPy vs array: max relative difference", math.nan,
                          detail=f"raised {type(exc).__name__}: {exc}"[:300])
    return check_agreement(f"{name}, FiPy vs array", a.to_numpy(), b.to_numpy())


def periodic_3d_checks(solve: Callable = solve_fokker_planck) -> list[Check]:
    """The 3-D box periodic on two of its axes, for each pair, with a constant drift and D = 0.2 (FiPy names these
    meshes by the pair). ``solve``: another solve_fokker_planck for the FiPy runs (the negative tests)."""
    drift = lambda t, x: np.broadcast_to(np.array([0.4, -0.3, 0.2]), x.shape)   # noqa: E731
    return [fipy_agreement_3d("3-D box periodic on axes " + " and ".join(str(k) for k, w in enumerate(walls)
                                                                          if w == "periodic"),
                              drift, 0.2, list(walls), fipy_solve=solve) for walls in PERIODIC_PAIRS_3D]


# open walls on two axes of the 3-D box: Dirichlet and flux on x, a Dirichlet value g(t, x) varying along y on the
# lower z side; the walls of a 3-D box are planes of faces, whose wall values and D(x) must be laid out as the faces
OPEN_WALLS_3D = [(Dirichlet(0.1), Flux(0.05)), "zero-flux",
                 (Dirichlet(lambda t, x: 0.05 + 0.01 * x[..., 1]), "zero-flux")]


def open_walls_3d_check(solve: Callable = solve_fokker_planck) -> Check:
    """The 3-D box with D(x) = 0.2 + 0.05 x + 0.03 z², drift -x/2 and OPEN_WALLS_3D. ``solve``: another
    solve_fokker_planck for the array run (the negative tests)."""
    return fipy_agreement_3d("3-D box, D(x) and open walls on two axes", lambda t, x: -0.5 * x,
                             lambda x: 0.2 + 0.05 * x[..., 0] + 0.03 * x[..., 2] ** 2, OPEN_WALLS_3D, solve=solve)


@case("fipy-vs-array", title="Same scheme on the array (NumPy) and FiPy backends: OU, 3-D boxes periodic on two "
      "axes, and a time-dependent drift with a source on an anisotropic box", tags=("eulerian", "fipy"))
def fipy_vs_array(ctx: CaseContext) -> None:
    problem = get_problem("ou-2d")
    n = 16 if ctx.quick else 48
    grid = grid_for(problem, n)
    for scheme in ("implicit-euler", "crank-nicolson", "bdf2"):
        t0 = time.perf_counter()
        a = FokkerPlanckSolver(time=scheme)(problem, grid, n // 2)
        t1 = time.perf_counter()
        b = FokkerPlanckSolver(time=scheme, backend="fipy")(problem, grid, n // 2)
        t2 = time.perf_counter()
        ctx.add(check_agreement(f"SG + {scheme}, N={n}", a.to_numpy(), b.to_numpy()))
        ctx.add(check_scheme_info(f"SG + {scheme}, N={n}", a, b, problem.t_final))
        if scheme == "bdf2":
            density_picture(ctx, f"SG + BDF2, N = {n}: the two backends", grid, a.to_numpy(), exact=b.to_numpy(),
                            labels=("NumPy", "FiPy"))
        ctx.add(check_mass(f"FiPy SG + {scheme}", b))
        ctx.add(check_fp_min_density_record("fipy", scheme))
        ctx.note(f"FiPy / array wall time, {scheme}", round((t2 - t1) / max(t1 - t0, 1e-9), 1))
    # a drift that depends on t and x, a source, walls and 4:3 cells on a 2:1 box: the time levels of the drift
    # and the source in each scheme must be the same on both backends
    ctx.add_all(periodic_3d_checks())
    ctx.add(open_walls_3d_check())
    problem = get_problem("mms-fokker-planck-box-2d")
    grid = grid_for(problem, 16)
    saves = (0.0, 0.125 * problem.t_final, 0.5 * problem.t_final)   # snapshots on the step grid (8 steps), t = 0 too
    for flux in FLUXES:
        for scheme in ("implicit-euler", "crank-nicolson", "bdf2"):
            a = FokkerPlanckSolver(flux=flux, time=scheme, save_at=saves)(problem, grid, 8)
            b = FokkerPlanckSolver(flux=flux, time=scheme, backend="fipy", save_at=saves)(problem, grid, 8)
            ctx.add(check_agreement(f"manufactured box, {flux} + {scheme}, 16x12 cells, saved at t = "
                                    + ", ".join(f"{t:g}" for t in saves), np.stack(a.densities_numpy()),
                                    np.stack(b.densities_numpy())))
            ctx.check(f"manufactured box, {flux} + {scheme}: the saved times agree", float(np.abs(
                np.asarray(a.times) - np.asarray(b.times)).max()), upper=1e-15, detail=f"times {list(b.times)}")
