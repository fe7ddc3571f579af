"""Eulerian cases (issue 3): finite-volume Fokker-Planck and continuity solvers against exact laws.

Every comparison is a pure function returning Check(s) so that tests can feed a wrong scheme or value and
see it flagged. Densities are compared as cell averages (L1 norm, sum |rho - exact| * cell volume).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np
import sympy as sp

from eulerian import Grid, Solution, solve_continuity, solve_fokker_planck
from eulerian.backend import get_backend
from eulerian.operators import assemble_generator, face_drift
from verify import gaussian as G
from verify.harness import CaseContext, Check, case, make_check
from verify.metrics import observed_order
from verify.symbolic import manufactured_source

MASS_TOL = 1e-12  # relative mass drift allowed with zero-flux or periodic boundaries (round-off)
AGREEMENT_TOL = 1e-8  # array vs FiPy, same scheme (issue 3)
ORDER_BAND = 0.15  # observed order within +-0.15 of the theoretical order (issue 3)


# ----------------------------------------------------------------------------------------- pure checks
def l1_error(grid: Grid, rho: Any, exact: np.ndarray) -> float:
    """sum |rho - exact| * cell_volume for cell averages."""
    return float(np.abs(np.asarray(rho) - exact).sum() * grid.cell_volume)


def check_order(name: str, h: Sequence[float], errors: Sequence[float], order: float, *,
                band: float = ORDER_BAND, at_least: bool = False) -> Check:
    """Observed order (least-squares slope of log error vs log h) within ``order +- band``
    (or >= order when ``at_least``)."""
    p = observed_order(h, errors)
    detail = "errors " + ", ".join(f"{e:.3e}" for e in errors)
    if at_least:
        return make_check(f"{name}: observed order >= {order}", p, lower=order, reference=order, detail=detail)
    return make_check(f"{name}: observed order {order} +- {band}", p, lower=order - band, upper=order + band,
                      reference=order, detail=detail)


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
                    steps: int = 20, t_final: float = 2.0) -> float:
    """max |rho(T) - rho_eq| / max rho_eq starting from the discrete Gibbs state."""
    sol = solve_fokker_planck(grid, rho_eq, drift, D, t_final, steps, flux=flux, time=time_scheme)
    return float(np.abs(sol.to_numpy() - rho_eq).max() / rho_eq.max())


def check_equilibrium(name: str, deviation: float, tol: float = 1e-12) -> Check:
    """The discrete Gibbs state stays stationary to round-off."""
    return make_check(f"{name}: Gibbs-state deviation", deviation, upper=tol, reference=0.0)


# --------------------------------------------------------------------------------------------- problems
H2 = np.array([[1.0, 0.4], [0.4, 0.7]])
C2 = np.array([0.2, -0.1])
M2 = np.array([1.0, -0.5])
S2 = np.array([[0.5, 0.1], [0.1, 0.3]])
D_OU = 0.5


def ou(d: int) -> tuple[G.Affine, G.Gaussian]:
    return G.Affine(-H2[:d, :d], C2[:d]), G.Gaussian(M2[:d], S2[:d, :d])


def run_ou(ctx: CaseContext, d: int, levels: Sequence[int], T: float, label: str, **kw: Any) -> None:
    drift, g0 = ou(d)
    save = [0.25 * T, 0.5 * T, T]
    hs, errs = [], []
    for n in levels:
        grid = Grid((-6.0,) * d, (6.0,) * d, (n,) * d)
        steps = max(n // 2, 4)
        sol = solve_fokker_planck(grid, grid.cell_averages(g0.pdf), drift, D_OU, T, steps, save_at=save, **kw)
        exact = G.linear_sde(g0, drift, D_OU, T)
        errs.append(l1_error(grid, sol.to_numpy(), grid.cell_averages(exact.pdf)))
        hs.append(grid.spacing[0])
        ctx.add(check_mass(f"{label} N={n}", sol))
        ctx.add(check_nonnegative(f"{label} N={n} (second-order tails)", sol, rel_floor=1e-10))
    for t, rho in zip(sol.times, sol.densities_numpy()):
        ex = G.linear_sde(g0, drift, D_OU, float(t))
        e = l1_error(grid, rho, grid.cell_averages(ex.pdf))
        ctx.check(f"{label} N={levels[-1]} t={t:g}: L1 error", e, upper=4.0 * errs[-1],
                  detail="bounded by 4x the final-time error at this level")
    ctx.add(check_order(f"{label} L1", hs, errs, 2.0))
    ctx.add_all(check_gaussian_moments(f"{label} N={levels[-1]} t={T:g}", grid, sol.to_numpy(),
                                       G.linear_sde(g0, drift, D_OU, T), tol=4.0 * errs[-1]))
    ctx.series(f"{label}: L1 error vs h", hs, errs, xlabel="h", ylabel="L1 error", logx=True, logy=True)
    ctx.note(f"{label} L1 errors", [float(e) for e in errs])
    ctx.note(f"{label} wall time finest (s)", round(sol.wall_time, 3))


@case("ou-1d", title="Ornstein-Uhlenbeck Fokker-Planck 1D (SG + BDF2) vs exact Gaussian law",
      tags=("eulerian", "fokker-planck"))
def ou_1d(ctx: CaseContext) -> None:
    run_ou(ctx, 1, (64, 128, 256) if ctx.quick else (128, 256, 512), 1.0, "ou-1d")


@case("ou-2d", title="Ornstein-Uhlenbeck Fokker-Planck 2D (SG + BDF2 and Douglas ADI, steps = N/2) vs exact law",
      tags=("eulerian", "fokker-planck"))
def ou_2d(ctx: CaseContext) -> None:
    levels = (32, 64, 128) if ctx.quick else (64, 128, 256)
    run_ou(ctx, 2, levels, 1.0, "ou-2d")
    # the extra splitting scheme: tridiagonal line solves, same order, error within 1 % of the full solves
    run_ou(ctx, 2, levels, 1.0, "ou-2d Douglas ADI", time="douglas-adi")
    if not ctx.quick:  # issue 3 target: L1 <= 5e-4 at N = 256 (FiPy IE, 128 steps: 2.7e-3)
        for label in ("ou-2d", "ou-2d Douglas ADI"):
            ctx.check(f"{label} N=256: L1 error (target 5e-4)", ctx.notes[f"{label} L1 errors"][-1], upper=5e-4)


@case("heat-2d", title="Heat equation 2D: covariance Sigma0 + 2 D t I", tags=("eulerian", "fokker-planck"))
def heat_2d(ctx: CaseContext) -> None:
    D, T = 0.5, 1.0
    g0 = G.Gaussian([0.3, -0.2], [[0.6, 0.2], [0.2, 0.4]])
    zero = G.Affine(np.zeros((2, 2)))
    hs, errs = [], []
    for n in (32, 64, 128) if ctx.quick else (64, 128, 256):
        grid = Grid((-7.0, -7.0), (7.0, 7.0), (n, n))
        sol = solve_fokker_planck(grid, grid.cell_averages(g0.pdf), zero, D, T, n // 2)
        exact = G.Gaussian(g0.mean, g0.cov + 2 * D * T * np.eye(2))
        errs.append(l1_error(grid, sol.to_numpy(), grid.cell_averages(exact.pdf)))
        hs.append(grid.spacing[0])
        ctx.add(check_mass(f"heat-2d N={n}", sol))
    ctx.add(check_order("heat-2d L1", hs, errs, 2.0))
    ctx.add_all(check_gaussian_moments("heat-2d", grid, sol.to_numpy(), exact, tol=4 * errs[-1]))
    ctx.series("heat-2d: L1 error vs h", hs, errs, xlabel="h", ylabel="L1 error", logx=True, logy=True)


def affine_problem() -> tuple[G.Affine, G.Gaussian]:
    """Rotation + shear + contraction field from a Gaussian; exact law = linear_sde with D = 0."""
    return G.Affine([[-0.3, -1.0], [0.6, -0.2]], [0.2, 0.1]), G.Gaussian([0.5, 0.0], [[0.4, 0.1], [0.1, 0.3]])


@case("affine-continuity-2d", title="Continuity 2D with an affine field (MUSCL + SSP-RK3) vs closed form",
      tags=("eulerian", "continuity"))
def affine_continuity_2d(ctx: CaseContext) -> None:
    field, g0 = affine_problem()
    T = 1.0
    exact = G.linear_sde(g0, field, 0.0, T)
    levels = (24, 48, 96) if ctx.quick else (32, 64, 128)
    for limiter, order in (("none", 1.8), ("mc", 1.4)):
        hs, errs = [], []
        for n in levels:
            grid = Grid((-5.0, -5.0), (5.0, 5.0), (n, n))
            sol = solve_continuity(grid, g0.pdf, field, T, limiter=limiter)
            errs.append(l1_error(grid, sol.to_numpy(), grid.cell_averages(exact.pdf)))
            hs.append(grid.spacing[0])
            ctx.add(check_mass(f"continuity {limiter} N={n}", sol))
            if limiter != "none":
                ctx.add(check_nonnegative(f"continuity {limiter} N={n}", sol, rel_floor=1e-15))
        ctx.add(check_order(f"continuity limiter={limiter} L1", hs, errs, order, at_least=True))
        ctx.series(f"continuity {limiter}: L1 error vs h", hs, errs, xlabel="h", ylabel="L1 error",
                   logx=True, logy=True, label=limiter)
    ctx.add_all(check_gaussian_moments("continuity mc", grid, sol.to_numpy(), exact, tol=4 * errs[-1]))


def mms_fp() -> Any:
    t, x, y = sp.symbols("t x y", real=True)
    rho = 1 + sp.Rational(1, 2) * sp.sin(x - t) * sp.cos(y)
    b = (sp.Rational(3, 5) * sp.sin(y) + sp.Rational(3, 10) * sp.cos(t), sp.Rational(1, 2) * sp.cos(x))
    return manufactured_source(rho, b, sp.Rational(3, 10), t, (x, y))


def mms_ct() -> Any:
    t, x, y = sp.symbols("t x y", real=True)
    rho = 1 + sp.Rational(1, 2) * sp.sin(x + y - t) + sp.Rational(1, 4) * sp.cos(2 * y)
    v = (1 + sp.Rational(1, 2) * sp.sin(y) * sp.cos(t), sp.Rational(1, 2) + sp.Rational(1, 3) * sp.cos(x))
    return manufactured_source(rho, v, 0, t, (x, y))


@case("mms-fokker-planck-2d", title="Manufactured solution, Fokker-Planck 2D periodic, time-dependent drift",
      tags=("eulerian", "fokker-planck", "mms"))
def mms_fokker_planck_2d(ctx: CaseContext) -> None:
    m = mms_fp()
    L, T, D = 2 * np.pi, 0.5, 0.3
    rho_at = lambda tt: (lambda p: m.rho(tt, p))  # noqa: E731
    hs, errs = [], []
    for n in (16, 32, 64):
        grid = Grid((0.0, 0.0), (L, L), (n, n))
        sol = solve_fokker_planck(grid, rho_at(0.0), m.drift, D, T, n, boundary="periodic", source=m.source,
                                  time="crank-nicolson")
        errs.append(l1_error(grid, sol.to_numpy(), grid.cell_averages(rho_at(T))))
        hs.append(grid.spacing[0])
    ctx.add(check_order("mms-fp spatial (CN, steps = N)", hs, errs, 2.0))
    grid = Grid((0.0, 0.0), (L, L), (12, 12))
    for scheme, order in (("implicit-euler", 1.0), ("crank-nicolson", 2.0), ("bdf2", 2.0), ("douglas-adi", 2.0)):
        ks = (8, 16, 32, 64)
        u = [solve_fokker_planck(grid, rho_at(0.0), m.drift, D, T, k, boundary="periodic", source=m.source,
                                 time=scheme).to_numpy() for k in ks]
        diffs = [l1_error(grid, u[i], u[i + 1]) for i in range(3)]
        ctx.add(check_order(f"mms-fp temporal {scheme} (self-convergence)", [T / k for k in ks[:3]], diffs, order))


@case("mms-continuity-2d", title="Manufactured solution, continuity 2D periodic, time-dependent velocity",
      tags=("eulerian", "continuity", "mms"))
def mms_continuity_2d(ctx: CaseContext) -> None:
    m = mms_ct()
    L, T = 2 * np.pi, 0.5
    rho_at = lambda tt: (lambda p: m.rho(tt, p))  # noqa: E731
    hs, errs = [], []
    for n in (48, 96, 192):  # pre-asymptotic below 48
        grid = Grid((0.0, 0.0), (L, L), (n, n))
        sol = solve_continuity(grid, rho_at(0.0), m.drift, T, limiter="none", boundary="periodic", source=m.source)
        errs.append(l1_error(grid, sol.to_numpy(), grid.cell_averages(rho_at(T))))
        hs.append(grid.spacing[0])
    ctx.add(check_order("mms-continuity spatial (dt from CFL)", hs, errs, 2.0))
    grid = Grid((0.0, 0.0), (L, L), (24, 24))
    ks = (10, 20, 40, 80)
    u = [solve_continuity(grid, rho_at(0.0), m.drift, T, steps=k, cfl=1.0, limiter="none", boundary="periodic",
                          source=m.source).to_numpy() for k in ks]
    diffs = [l1_error(grid, u[i], u[i + 1]) for i in range(3)]
    ctx.add(check_order("mms-continuity temporal SSP-RK3 (self-convergence)", [T / k for k in ks[:3]], diffs,
                        3.0, band=0.2))


def gibbs_problem() -> tuple[Grid, G.Affine, float, np.ndarray]:
    H = np.array([[1.0, 0.4], [0.4, 0.7]])
    c = np.array([0.3, -0.2])
    grid = Grid((-5.0, -5.0), (5.0, 5.0), (20, 24))
    x = grid.centers()
    V = 0.5 * np.einsum("...i,ij,...j", x, H, x) - x @ c
    rho = np.exp(-(V - V.min()) / D_OU)
    return grid, G.Affine(-H, c), D_OU, rho / grid.mass(rho)


@case("equilibrium", title="Discrete Gibbs state: stationary for exponentially fitted fluxes, not for central",
      tags=("eulerian", "fokker-planck"))
def equilibrium(ctx: CaseContext) -> None:
    grid, drift, D, rho_eq = gibbs_problem()
    for flux in ("scharfetter-gummel", "chang-cooper"):
        for scheme in ("implicit-euler", "crank-nicolson", "bdf2", "douglas-adi"):
            ctx.add(check_equilibrium(f"{flux} + {scheme}", gibbs_deviation(grid, drift, D, rho_eq, flux, scheme)))
    dev = gibbs_deviation(grid, drift, D, rho_eq, "central", "bdf2")
    ctx.check("central + bdf2 departs from the Gibbs state (negative check, expected > 1e-4)", dev, lower=1e-4)
    be = get_backend("numpy")
    A = assemble_generator(be, grid, face_drift(be, grid, drift, 0.0, False), D, "scharfetter-gummel", False)
    ctx.check("SG generator: |A rho_eq|_max / |A|_max", float(np.abs(A @ rho_eq.ravel()).max() / abs(A).max()),
              upper=1e-13)


@case("fipy-vs-array", title="Same scheme on the array (NumPy) and FiPy backends", tags=("eulerian", "fipy"))
def fipy_vs_array(ctx: CaseContext) -> None:
    drift, g0 = ou(2)
    n = 16 if ctx.quick else 48
    grid = Grid((-6.0, -6.0), (6.0, 6.0), (n, n))
    rho0 = grid.cell_averages(g0.pdf)
    for scheme in ("implicit-euler", "crank-nicolson", "bdf2"):
        t0 = time.perf_counter()
        a = solve_fokker_planck(grid, rho0, drift, D_OU, 1.0, n // 2, time=scheme)
        t1 = time.perf_counter()
        b = solve_fokker_planck(grid, rho0, drift, D_OU, 1.0, n // 2, time=scheme, backend="fipy")
        t2 = time.perf_counter()
        ctx.add(check_agreement(f"SG + {scheme}, N={n}", a.to_numpy(), b.to_numpy()))
        ctx.add(check_mass(f"FiPy SG + {scheme}", b))
        ctx.note(f"FiPy / array wall time, {scheme}", round((t2 - t1) / max(t1 - t0, 1e-9), 1))
