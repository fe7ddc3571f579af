"""Walls and diffusion coefficients of the Fokker–Planck solver against peers' problems and exact solutions.

* ``fipy-mesh1d``: FiPy's own 1D diffusion example (``examples/diffusion/mesh1D.py``): Dirichlet values at both
  ends, a time-dependent value (1 + sin t)/2, a piecewise diffusivity with a fixed flux, each against its
  analytic solution at the tolerance FiPy's example states, and FiPy itself on the same problem (also with
  Crank–Nicolson from the first step, damped_steps=0: density and mass through the walls, to 1e-8); D given as the
  (1, 1) matrix [[D]] gives the scalar D's run; solve_stationary with the source S = 2 + 2t taken at t = 0 (the
  parabola plus the half-cell wall shift h^2/4, exact on the cells);
* ``walls-and-diffusion-2d``: a manufactured solution on an anisotropic box with Dirichlet and Flux walls, with a
  constant and a space-dependent D(x) (observed order 2 ± 0.15), the mass that left through the walls against
  its exact value, and the FiPy backend on every new wall and diffusion option (to 1e-8; with open walls also the
  mass that left through them, step by step), including a cell-valued D on periodic axes (harmonic means across
  the wrap) and at Dirichlet walls;
* ``ou-matrix-diffusion-2d``: Ornstein–Uhlenbeck with a non-symmetric drift matrix and a full diffusion matrix
  against the Gaussian law (order 2 ± 0.15), and the FiPy backend with a full matrix and zero-flux (and, full
  periodic x) walls against the array backend (to 1e-8); solve_stationary with the full matrix against the
  invariant Gaussian law (order 2 ± 0.15); solve_stationary's every flux and a mass of 2.5, on a reversible OU
  process with a non-symmetric drift and an anisotropic grid: the exponentially fitted fluxes give the invariant
  law at the cell centres (the discrete Gibbs state, round-off), the central flux converges at order 2 ± 0.15 and
  within C h², and the mass given is kept to round-off with the law scaled by it;
* ``fplanck-nonuniform-diffusion``: fplanck's position-dependent-drag example (D(x) = D0 / (x − xc)², an Itô
  SDE) against its analytic stationary density ∝ 1 / D(x);
* ``continuity-walls-2d``: the continuity equation with inflow (Dirichlet) and outflow walls, every limiter; the
  FiPy backend's walls (constrained inflow, FiPy's implicit-source outflow) against the exact solution (order at
  least 1) and its mass balance (round-off); the step size with open walls: a velocity largest on the outflow
  walls, each step's Courant number dt Σ_k max|v_k| / h_k (walls included) equal to cfl, forced steps
  N = ceil(T rate / cfl) accepted and N − 1 refused (CFLError), and forcing the solver's own count where the
  Courant number is exactly cfl (array and FiPy backends) reproducing the automatic run; Dirichlet walls through
  which the flow leaves (FiPy backend, a constant state kept by a source): the mass balance at every step
  (round-off) and the outflow against the array backend's (to 1e-8), whatever the walls' values; prescribed-flux
  walls Flux(q(t, x)): the mass balance mass(t) − mass(0) = −∫∫q at every step on both backends (round-off) and
  the manufactured solution with Flux(ρ v·n) outflow walls (order 2 ± 0.15); save_at on the FiPy backend: the
  density saved at T/2 equals the run to T/2 (round-off) and the last saved one the final density.
"""
from __future__ import annotations

import math
from time import perf_counter
from typing import Any, Callable, Sequence

import numpy as np
from scipy.special import erf, erfc

from eulerian import Grid, solve_continuity, solve_fokker_planck
from eulerian.boundary import Dirichlet, Flux, Outflow
from eulerian.continuity import LIMITERS
from eulerian.diffusion import Diffusion
from eulerian.errors import CFLError, NumericalError
from eulerian.operators import FLUXES
from eulerian import solve_stationary
from verify import gaussian as G
from verify.checks import check_solution_records
from verify.convergence import _verdict_check, fit_order, order_verdict
from verify.harness import CaseContext, Check, case, make_check
from verify.metrics import grid_error, observed_order

ORDER_BAND = 0.15
AGREEMENT_TOL = 1e-8   # FiPy backend against the array backend, same scheme (measured <= 8e-10)
LIMITED_ORDER_FLOOR = 1.75   # MUSCL with a limiter on smooth data (as in continuity-options-2d)
# FiPy's mesh1D example: nx = 50, dx = 1, D = 1, phi = 1 at x = 0 and 0 at x = 50, semi-infinite erfc profile
MESH1D = {"L": 50.0, "cells": 50, "D": 1.0, "T": 45.0}
MESH1D_ATOL = {"implicit-euler": 2e-2, "crank-nicolson": 3e-3}   # the example's own tolerances
STEADY_ATOL = {"linear": 1e-10, "piecewise": 1e-8}                               # idem, steady states


def _no_drift(t: float, x: np.ndarray) -> np.ndarray:
    return np.zeros_like(x)


# ----------------------------------------------------------------------------------------------- fipy-mesh1d
def mesh1d_grid(cells: int = 50) -> Grid:
    return Grid((0.0,), (MESH1D["L"],), (cells,))


def mesh1d_transient(time: str, steps: int, backend: str = "numpy", damped_steps: int | None = None,
                     diffusion: Any = None) -> np.ndarray:
    """FiPy's transient problem: phi = 0 at t = 0, phi(0) = 1, phi(L) = 0, to t = 45 (``diffusion``: default
    MESH1D["D"])."""
    g = mesh1d_grid()
    D = MESH1D["D"] if diffusion is None else diffusion
    sol = solve_fokker_planck(g, np.zeros(g.shape), _no_drift, D, MESH1D["T"], steps, time=time,
                              boundary=[(Dirichlet(1.0), Dirichlet(0.0))], backend=backend,
                              damped_steps=damped_steps)
    return sol.to_numpy()


def mesh1d_exact(g: Grid, t: float) -> np.ndarray:
    """1 - erf(x / (2 sqrt(D t))) at the cell centres (the example's semi-infinite reference)."""
    return 1.0 - erf(g.axes()[0] / (2.0 * math.sqrt(MESH1D["D"] * t)))


MATRIX_1X1_TOL = 1e-14   # a (1, 1) matrix [[D]] is the scalar D: the same run, to round-off


def check_one_by_one_matrix(scalar_run: np.ndarray, matrix: Any = None) -> Check:
    """In 1D a diffusion matrix is (1, 1): [[D]] must give the run of the scalar D (Crank–Nicolson, 10 steps):
    max |phi_matrix - phi_scalar| (phi <= 1). ``matrix``: the (1, 1) matrix (default [[MESH1D["D"]]]; a wrong
    one feeds the negative tests)."""
    M = np.array([[MESH1D["D"]]]) if matrix is None else matrix
    phi = mesh1d_transient("crank-nicolson", 10, diffusion=M)
    return make_check("diffusion given as the (1, 1) matrix [[D]] vs the scalar D, Crank–Nicolson: max difference",
                      float(np.abs(phi - scalar_run).max()), upper=MATRIX_1X1_TOL, reference=0.0)


def check_max_error(name: str, phi: np.ndarray, exact: np.ndarray, atol: float) -> Check:
    return make_check(f"{name}: max |phi - exact|", float(np.abs(phi - exact).max()), upper=atol, reference=0.0)


def timed_value(t: float) -> float:
    """FiPy's time-dependent wall value (1 + sin t) / 2."""
    return 0.5 * (1.0 + math.sin(t))


def timed_exact(x: np.ndarray, t: float, D: float = 1.0) -> np.ndarray:
    """Semi-infinite heat equation, phi(0, t) = g(t), phi = 0 at t = 0 (Duhamel):
    phi = g(0) erfc(x / (2 sqrt(D t))) + int_0^t g'(s) erfc(x / (2 sqrt(D (t - s)))) ds, g'(s) = cos(s) / 2."""
    # with s = t - u^2 the integral is int_0^sqrt(t) cos(t - u^2) erfc(x / (2 sqrt(D) u)) u du, whose erfc turns
    # from 0 to 1 around u ~ x: Gauss-Legendre (20 nodes) on panels halving towards u = 0 resolves every x > 0
    # (agrees with scipy's adaptive quad to 1e-13)
    nodes, weights = np.polynomial.legendre.leggauss(20)
    edges = math.sqrt(t) * np.concatenate([[0.0], 2.0 ** -np.arange(40.0, -1.0, -1.0)])
    u = np.concatenate([0.5 * (b - a) * (nodes + 1) + a for a, b in zip(edges[:-1], edges[1:])])
    w = np.concatenate([0.5 * (b - a) * weights for a, b in zip(edges[:-1], edges[1:])])
    integrand = (np.cos(t - u * u) * u)[None, :] * erfc(x[:, None] / (2.0 * math.sqrt(D) * u)[None, :])
    return timed_value(0.0) * erfc(x / (2.0 * math.sqrt(D * t))) + integrand @ w


def timed_run(cells: int, steps: int, T: float, time: str = "bdf2", backend: str = "numpy",
              value: Callable | None = None, L: float = MESH1D["L"]) -> np.ndarray:
    g = Grid((0.0,), (L,), (cells,))
    g_value = value or (lambda t, x: np.full(x.shape[:-1], timed_value(t)))
    sol = solve_fokker_planck(g, np.zeros(g.shape), _no_drift, 1.0, T, steps, time=time, backend=backend,
                              boundary=[(Dirichlet(g_value), Dirichlet(0.0))])
    return sol.to_numpy()


def timed_solution(cells: int, steps: int, T: float, time: str, backend: str, damped_steps: int | None = None) -> Any:
    """The Solution of FiPy's time-dependent wall value problem (timed_run), with its boundary_outflow."""
    g = Grid((0.0,), (MESH1D["L"],), (cells,))
    return solve_fokker_planck(g, np.zeros(g.shape), _no_drift, 1.0, T, steps, time=time, backend=backend,
                               damped_steps=damped_steps,
                               boundary=[(Dirichlet(lambda t, x: np.full(x.shape[:-1], timed_value(t))),
                                         Dirichlet(0.0))])


# Crank–Nicolson from the first step (damped_steps=0): the trapezoidal mass balance of step 1 takes the wall
# outflow of rho0 at t = 0, where the wall value is g(0) = 1/2 (g(1) = 0.92): both backends, same scheme, to 1e-8
TIMED_CN = {"cells": 50, "steps": 6, "T": 1.2}


def timed_cn_checks(fipy_solution: Any = None) -> list[Check]:
    """FiPy vs array backend, Crank–Nicolson with damped_steps=0 and the time-dependent wall value: the density at
    T (max difference) and the mass through the walls at every step (check_outflow_agreement)."""
    p = TIMED_CN
    a = timed_solution(p["cells"], p["steps"], p["T"], "crank-nicolson", "numpy", damped_steps=0)
    f = fipy_solution if fipy_solution is not None else timed_solution(p["cells"], p["steps"], p["T"],
                                                                       "crank-nicolson", "fipy", damped_steps=0)
    label = "time-dependent wall value, Crank–Nicolson without damped start"
    return [make_check(f"{label}, FiPy vs array backend: max difference",
                       float(np.abs(f.to_numpy() - a.to_numpy()).max()), upper=AGREEMENT_TOL, reference=0.0),
            check_outflow_agreement(label, a, f)]


def periodic_stationary_check(solve: Callable = solve_stationary) -> Check:
    """solve_stationary on a periodic 2:1 box (16 x 10 cells, h_x != h_y) with the constant drift (0.7, -0.4) and
    D = 0.3: every face carries the same flux for a uniform density, so the stationary state is uniform, mass 1
    over the box's area 2 (the zero-flux walls would pile it up against two sides instead). Value: max relative
    difference from 0.5 (round-off)."""
    g = Grid((0.0, 0.0), (2.0, 1.0), (16, 10))
    rho = np.asarray(solve(g, lambda t, x: np.broadcast_to(np.array([0.7, -0.4]), x.shape), 0.3,
                           boundary="periodic"))
    return make_check("solve_stationary, periodic 2:1 box, constant drift: the uniform density 1 / area (max "
                      "relative difference)", float(np.abs(rho / 0.5 - 1.0).max()), upper=1e-10, reference=0.0)


# solve_stationary takes the coefficients at t = 0 (the drift b(0, x), the source S(0, x)). With S = 2 + 2t, D = 1
# and Dirichlet(1), Dirichlet(0): 0 = phi'' + 2 gives phi = 1 - x / L + x (L - x). The cell-centred scheme is exact
# for this quadratic inside; at each wall the half-cell gradient (phi_0 - g) / (h / 2) shifts every cell by h^2 / 4
# (put q = -x^2 + L x + C in the wall cell's balance: C = h^2 / 4), so the cell values are phi + h^2 / 4 exactly
def stationary_source_check(phi: np.ndarray | None = None, solve: Callable = solve_stationary) -> Check:
    """max |phi_h - e| / max |e|, e = phi + h^2 / 4, for solve_stationary with source(t, x) = 2 + 2 t, which at t = 0
    is 2 (STEADY_ATOL["linear"]): catches the source's sign, its factor and its time (at t = 1 it is 4)."""
    g = mesh1d_grid()
    x = g.axes()[0]
    L, h = MESH1D["L"], g.spacing[0]
    if phi is None:
        phi = np.asarray(solve(g, _no_drift, 1.0, boundary=[(Dirichlet(1.0), Dirichlet(0.0))],
                               source=lambda t, x: np.full(x.shape[:-1], 2.0 + 2.0 * t)))
    exact = 1.0 - x / L + x * (L - x) + h**2 / 4
    return make_check("steady state, source S(t, x) = 2 + 2 t taken at t = 0: the parabola 1 - x/L + x (L - x) "
                      "plus the wall shift h^2/4 (max relative difference)",
                      float(np.abs(phi - exact).max() / np.abs(exact).max()), upper=STEADY_ATOL["linear"],
                      reference=0.0)


def piecewise_D(x: np.ndarray) -> np.ndarray:
    """The example's diffusivity: 1 on [0, L/4), 0.1 on [L/4, 3L/4), 1 beyond (evaluated on faces)."""
    L = MESH1D["L"]
    return np.where((L / 4 <= x[..., 0]) & (x[..., 0] < 3 * L / 4), 0.1, 1.0)


def piecewise_exact(x: np.ndarray) -> np.ndarray:
    L = MESH1D["L"]
    return np.where(x < L / 4, x, np.where(x < 3 * L / 4, 10 * x - 9 * L / 4, x + 18 * L / 4))


@case("fipy-mesh1d", title="FiPy's 1D diffusion example: Dirichlet ends, a time-dependent wall value and a "
      "piecewise D with a fixed flux, at the example's own tolerances", tags=("eulerian", "fokker-planck", "fipy"))
def fipy_mesh1d(ctx: CaseContext) -> None:
    g = mesh1d_grid()
    exact = mesh1d_exact(g, MESH1D["T"])
    # the example's implicit runs: implicit Euler (10 steps, atol 2e-2), Crank-Nicolson + a final implicit step
    # (10 steps, 3e-3). Its explicit run (100 steps of 0.45, atol 7e-4) meets 7e-4 through explicit Euler's
    # cancellation of time and space errors at D dt / h^2 = 0.45: converged in time, this grid's spatial error
    # is 7.24e-4 (BDF2 or Crank-Nicolson with 100-400 steps), so there is no implicit counterpart to check
    ctx.add(check_max_error("implicit Euler, 10 steps", mesh1d_transient("implicit-euler", 10), exact,
                            MESH1D_ATOL["implicit-euler"]))
    cn = mesh1d_transient("crank-nicolson", 10)
    ctx.add(check_max_error("Crank–Nicolson (damped start), 10 steps", cn, exact, MESH1D_ATOL["crank-nicolson"]))
    ctx.add(make_check("FiPy backend vs array backend, Crank–Nicolson: max difference",
                       float(np.abs(mesh1d_transient("crank-nicolson", 10, "fipy") - cn).max()),
                       upper=AGREEMENT_TOL, reference=0.0))
    ctx.add(check_one_by_one_matrix(cn))
    x = g.axes()[0]
    steady = np.asarray(solve_stationary(g, _no_drift, 1.0, boundary=[(Dirichlet(1.0), Dirichlet(0.0))]))
    ctx.add(check_max_error("steady state, linear profile", steady, 1.0 - x / MESH1D["L"], STEADY_ATOL["linear"]))
    ctx.add(stationary_source_check())
    ctx.add(periodic_stationary_check())
    piecewise = np.asarray(solve_stationary(g, _no_drift, piecewise_D, boundary=[(Dirichlet(0.0), Flux(-1.0))]))
    ctx.add(make_check("steady state, piecewise D and fixed flux D dphi/dx = 1: max |phi - exact| / max phi",
                       float(np.abs(piecewise - piecewise_exact(x)).max() / piecewise_exact(x).max()),
                       upper=STEADY_ATOL["piecewise"], reference=0.0))
    # time-dependent wall value: FiPy's run (dt = 0.1 to t = 15), then the order in space against Duhamel's
    T = 15.0
    fipy_run = timed_run(50, 150, T, "implicit-euler", "fipy")
    array_run = timed_run(50, 150, T, "implicit-euler")
    ctx.add(make_check("time-dependent wall value, FiPy vs array backend: max difference",
                       float(np.abs(fipy_run - array_run).max()), upper=AGREEMENT_TOL, reference=0.0))
    ctx.add_all(timed_cn_checks())
    # the order: a shorter box (erfc(20 / (2 sqrt 3)) ~ 1e-15: still semi-infinite to round-off), dt ∝ h
    T_order, L_order = 3.0, 20.0
    # pairwise orders 1.89, 1.95, ... approach 2 slowly: the fit with the next term of the error expansion
    sizes = (40, 80, 160, 320, 640) if ctx.quick else (40, 80, 160, 320, 640, 1280)
    errors = []
    for n in sizes:
        phi = timed_run(n, 4 * n, T_order, L=L_order)
        errors.append(float(np.abs(phi - timed_exact(Grid((0.0,), (L_order,), (n,)).axes()[0], T_order)).max()))
    verdict = order_verdict(fit_order([L_order / n for n in sizes], errors, correction=True), 2.0, ORDER_BAND)
    ctx.add(_verdict_check("time-dependent wall value (1 + sin t)/2, BDF2 vs Duhamel's solution: space order",
                           verdict, "max errors " + ", ".join(f"{e:.3e}" for e in errors)))
    ctx.series("steady state with a piecewise D", list(x), list(piecewise), xlabel="x", ylabel="phi",
               label="twinflow")


# ------------------------------------------------------------------------------------ walls-and-diffusion-2d
BOX = ((0.0, 0.0), (2.0, 1.0))


def mms_exact(t: float, x: np.ndarray) -> np.ndarray:
    """rho = exp(-t/2) (2 + sin(2 x + y))."""
    return math.exp(-0.5 * t) * (2.0 + np.sin(2.0 * x[..., 0] + x[..., 1]))


def mms_drift(t: float, x: np.ndarray) -> np.ndarray:
    """b = (1 - x + 0.3 sin t, 0.5 y + 0.2 x): time dependent, non-gradient, asymmetric."""
    return np.stack([1.0 - x[..., 0] + 0.3 * math.sin(t), 0.5 * x[..., 1] + 0.2 * x[..., 0]], axis=-1)


def mms_D(x: np.ndarray) -> np.ndarray:
    return 0.2 + 0.1 * x[..., 0] + 0.05 * x[..., 1] ** 2


def mms_flux(t: float, x: np.ndarray, D: Any) -> np.ndarray:
    """The exact total flux J = rho b - D grad rho at points x, shape (..., 2)."""
    e = math.exp(-0.5 * t)
    c = e * np.cos(2.0 * x[..., 0] + x[..., 1])
    Dx = D(x) if callable(D) else D
    grad = np.stack([2.0 * c, c], axis=-1)
    return mms_exact(t, x)[..., None] * mms_drift(t, x) - np.asarray(Dx)[..., None] * grad


def mms_source(D: Any) -> Callable:
    """S = d rho/dt + div(rho b) - div(D grad rho) for the exact rho (written out by hand)."""
    def S(t: float, x: np.ndarray) -> np.ndarray:
        e = math.exp(-0.5 * t)
        arg = 2.0 * x[..., 0] + x[..., 1]
        rho, c, s = mms_exact(t, x), e * np.cos(arg), e * np.sin(arg)
        b = mms_drift(t, x)
        div_rho_b = b[..., 0] * 2.0 * c + b[..., 1] * c + rho * (-1.0 + 0.5)
        if callable(D):
            Dx, gx, gy = D(x), 0.1, 0.1 * x[..., 1]
        else:
            Dx, gx, gy = D, 0.0, 0.0
        div_D_grad = Dx * (-5.0 * s) + gx * 2.0 * c + gy * c
        return -0.5 * rho + div_rho_b - div_D_grad
    return S


def mms_walls(D: Any) -> list:
    """Dirichlet (exact value) on the lower x wall and the lower y wall, the exact outward flux on the others."""
    def outward(axis: int) -> Callable:
        return lambda t, x: mms_flux(t, x, D)[..., axis]
    return [(Dirichlet(lambda t, x: mms_exact(t, x)), Flux(outward(0))),
            (Dirichlet(lambda t, x: mms_exact(t, x)), Flux(outward(1)))]


def mms_run(n: int, D: Any, *, time: str = "bdf2", backend: str = "numpy", T: float = 0.5,
            steps: int | None = None) -> tuple[Grid, Any]:
    g = Grid(*BOX, (n, 3 * n // 4))
    sol = solve_fokker_planck(g, lambda x: mms_exact(0.0, x), mms_drift, D, T, steps or n // 2, time=time,
                              backend=backend, boundary=mms_walls(D), source=mms_source(D))
    return g, sol


def wall_integral(flux: Callable[[float, np.ndarray], np.ndarray], T: float) -> float:
    """int_0^T of the outward normal flux over the four walls of BOX (Gauss-Legendre, 24 nodes in t and along
    each wall); flux(t, x) returns the flux vector, shape (..., 2)."""
    nodes, weights = np.polynomial.legendre.leggauss(24)
    (x0, y0), (x1, y1) = BOX
    total = 0.0
    for tt, wt in zip(0.5 * T * (nodes + 1), 0.5 * T * weights):
        for (a, b), fixed, axis, sign in (((y0, y1), x0, 0, -1.0), ((y0, y1), x1, 0, 1.0),
                                          ((x0, x1), y0, 1, -1.0), ((x0, x1), y1, 1, 1.0)):
            s = 0.5 * (b - a) * (nodes + 1) + a
            pts = np.stack([np.full_like(s, fixed), s], -1) if axis == 0 else np.stack([s, np.full_like(s, fixed)], -1)
            total += wt * sign * float(0.5 * (b - a) * weights @ flux(tt, pts)[..., axis])
    return total


def exact_outflow(D: Any, T: float) -> float:
    """The mass that leaves the box by t = T (Fokker-Planck flux of the manufactured solution)."""
    return wall_integral(lambda t, x: mms_flux(t, x, D), T)


def check_order(name: str, sizes: tuple[int, ...], errors: list[float], expected: float = 2.0) -> Check:
    verdict = order_verdict(fit_order([BOX[1][0] / n for n in sizes], errors), expected, ORDER_BAND)
    return _verdict_check(name, verdict, "errors " + ", ".join(f"{e:.3e}" for e in errors) + " at N = "
                          + ", ".join(map(str, sizes)))


def check_outflow_agreement(label: str, a: Any, f: Any) -> Check:
    """FiPy's boundary_outflow (the mass that left through the open walls after every step) against the array
    backend's, same scheme: max difference / max |array outflow| <= AGREEMENT_TOL (NaN when FiPy returns none)."""
    if f.boundary_outflow is None or np.shape(f.boundary_outflow) != np.shape(a.boundary_outflow):
        return make_check(f"FiPy vs array, {label}: mass through the walls", float("nan"),
                          detail=f"FiPy boundary_outflow {f.boundary_outflow!r}")
    scale = float(np.abs(a.boundary_outflow).max())
    return make_check(f"FiPy vs array, {label}: mass through the walls at every step, max relative difference",
                      float(np.abs(np.asarray(f.boundary_outflow) - a.boundary_outflow).max()) / scale,
                      upper=AGREEMENT_TOL, reference=0.0, detail=f"outflow at T {a.boundary_outflow[-1]:.6f}")


def cell_D_values(g: Grid) -> np.ndarray:
    """mms_D at the cell centres: 0.2 + 0.1 x + 0.05 y², not periodic (a jump of 0.2 across the x wrap of BOX)."""
    return mms_D(g.centers())


CELL_D_OPTIONS = ("cell-valued D, periodic x and y (harmonic means across the wrap)",
                  "cell-valued D, Dirichlet g(t, x) + flux q(t, x) walls (the wall cell's D on the wall)")
# open walls that come after zero-flux ones in the box's order of walls (x lower, x upper, y lower, y upper)
WALL_ORDER_OPTION = "zero-flux x, flux q(t) / Dirichlet y, constant D"


def diffusion_options(g: Grid) -> dict:
    """{label: keyword arguments of solve_fokker_planck} of the wall and diffusion options run on both backends.
    The last two (CELL_D_OPTIONS) check the cell-valued D where the array backend takes its own paths: the
    harmonic face means across a periodic wrap (FiPy: harmonicFaceValue on its periodic mesh, every axis
    periodic) and the coefficient on a Dirichlet wall's faces (FiPy: the exterior face's value of a
    harmonicFaceValue is its one cell's)."""
    cells = Diffusion.cells(cell_D_values(g))
    return {
        "Dirichlet g(t, x) + flux q(t, x) walls, D(x)": dict(diffusion=mms_D, boundary=mms_walls(mms_D),
                                                           source=mms_source(mms_D)),
        "periodic x, Dirichlet/flux y, constant D": dict(diffusion=0.3, boundary=[
            "periodic", (Dirichlet(0.2), Flux(lambda t, x: 0.1 * np.cos(3 * t) * np.ones(x.shape[:-1])))]),
        WALL_ORDER_OPTION: dict(diffusion=0.3, boundary=[
            "zero-flux", (Flux(lambda t, x: -0.2 * (1.0 + t) * np.ones(x.shape[:-1])), Dirichlet(0.1))]),
        "cell-valued D (harmonic face means), zero flux": dict(diffusion=cells),
        CELL_D_OPTIONS[0]: dict(diffusion=cells, boundary="periodic"),
        CELL_D_OPTIONS[1]: dict(diffusion=cells, boundary=mms_walls(mms_D), source=mms_source(mms_D)),
    }


def fipy_option_checks(g: Grid, label: str, kw: dict, time: str) -> list[Check]:
    """The array and FiPy backends on one option of ``diffusion_options`` (8 steps to t = 0.4 from mms_exact):
    max relative difference <= AGREEMENT_TOL, and with open walls the mass that left, step by step. A run that
    raises NumericalError (e.g. its mass balance, which takes the walls' D from the array code) fails the check."""
    name = f"FiPy vs array, {label}, {time}: max relative difference"
    start = perf_counter()
    try:
        a = solve_fokker_planck(g, lambda x: mms_exact(0.0, x), mms_drift, t_final=0.4, steps=8, time=time, **kw)
        f = solve_fokker_planck(g, lambda x: mms_exact(0.0, x), mms_drift, t_final=0.4, steps=8, time=time,
                                backend="fipy", **kw)
    except NumericalError as exc:
        return [make_check(name, float("nan"), detail=f"raised NumericalError: {exc}")]
    ra, rf = a.to_numpy(), f.to_numpy()
    checks = [make_check(name,
                         float(np.abs(ra - rf).max() / np.abs(ra).max()), upper=AGREEMENT_TOL, reference=0.0)]
    if a.boundary_outflow is not None:   # open walls: the mass that left, step by step
        checks.append(check_outflow_agreement(f"{label}, {time}", a, f))
    checks.append(check_solution_records(f"{label}, {time}, array and FiPy", [a, f],
                                         closed=closed_walls(kw.get("boundary", "zero-flux")),
                                         elapsed=perf_counter() - start))
    return checks


def closed_walls(boundary: Any) -> bool:
    """Whether a boundary specification has zero-flux and periodic walls only, read from the specification
    itself (a name for every wall, or per axis, or per side), not from the library's parse of it."""
    flat = boundary if isinstance(boundary, (list, tuple)) else [boundary]
    flat = [w for entry in flat for w in (entry if isinstance(entry, (list, tuple)) else [entry])]
    return all(isinstance(w, str) and w in ("zero-flux", "periodic") for w in flat)


@case("walls-and-diffusion-2d", title="Dirichlet and flux walls, D(x) and cell-valued D: manufactured solution on a "
      "2:1 box (order 2), the mass through the walls, FiPy on every new option", tags=("eulerian", "fokker-planck"))
def walls_and_diffusion_2d(ctx: CaseContext) -> None:
    sizes = (16, 32, 64) if ctx.quick else (16, 32, 64, 128)
    T = 0.5
    for label, D in (("constant D = 0.3", 0.3), ("D(x) = 0.2 + 0.1 x + 0.05 y²", mms_D)):
        errors, outflow_errors = [], []
        for n in sizes:
            g, sol = mms_run(n, D)
            exact = g.cell_averages(lambda x: mms_exact(T, x))
            errors.append(grid_error(sol.to_numpy(), exact, g.cell_volume))
            outflow_errors.append(abs(sol.boundary_outflow[-1] - exact_outflow(D, T)))
        ctx.add(check_order(f"{label}, Dirichlet + flux walls: L1 order", sizes, errors))
        ctx.add(check_order(f"{label}: order of the error of the mass that left through the walls", sizes,
                            outflow_errors))
    # every new option against FiPy: the same scheme, two implementations
    g = Grid(*BOX, (20, 12))
    for label, kw in diffusion_options(g).items():
        # the cell-valued D on periodic axes and at Dirichlet walls, and the order of the walls: one scheme in quick
        # mode (the coefficient or the walls, not the time scheme, is what they add)
        one = (*CELL_D_OPTIONS, WALL_ORDER_OPTION)
        times = ("implicit-euler",) if ctx.quick and label in one else ("implicit-euler", "crank-nicolson", "bdf2")
        for time in times:
            ctx.add_all(fipy_option_checks(g, label, kw, time))
    g, sol = mms_run(32, 0.3)
    ctx.series("mass that left through the walls", list(sol.mass_times), list(sol.boundary_outflow), xlabel="t",
               ylabel="mass", label="N = 32")


# ------------------------------------------------------------------------------------ ou-matrix-diffusion-2d
OU_B = np.array([[-1.0, 0.6], [-0.2, -0.8]])        # non-symmetric, stable
OU_D = np.array([[0.35, 0.15], [0.15, 0.2]])        # full SPD diffusion matrix
OU_START = G.Gaussian(np.array([0.8, -0.5]), np.array([[0.6, 0.2], [0.2, 0.4]]))
OU_BOX = ((-4.0, -3.0), (4.0, 3.0))


def ou_matrix_run(n: int, time: str = "bdf2", T: float = 0.6, steps: int | None = None
                  ) -> tuple[Grid, np.ndarray, np.ndarray]:
    g = Grid(*OU_BOX, (n, 3 * n // 4))
    drift = G.Affine(OU_B, np.zeros(2))
    sol = solve_fokker_planck(g, lambda x: OU_START.pdf(x), lambda t, x: x @ OU_B.T, OU_D, T, steps or n // 2,
                              time=time)
    exact = G.linear_sde(OU_START, drift, OU_D, T)
    return g, sol.to_numpy(), g.cell_averages(exact.pdf)


def ou_drift(t: float, x: np.ndarray) -> np.ndarray:
    """The OU drift B (x - 1) of the FiPy comparisons, B = OU_B."""
    return (x - 1.0) @ OU_B.T


OU_FIPY_D = np.array([[0.3, 0.2], [0.2, 0.25]])     # |D_xy| / sqrt(D_xx D_yy) = 0.73: slow sweeps, a hard test


def ou_matrix_fipy_pair(time: str, boundary: Any, diffusion: Any = None, n: int = 12, steps: int = 4,
                        T: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """(array backend, FiPy backend) densities for the OU drift and a full diffusion matrix from the smooth,
    non-decaying density mms_exact(0, x) on BOX (large at the walls, so the cross fluxes next to the walls
    matter). ``diffusion`` (default OU_FIPY_D) is given to the array backend only: a wrong one must be flagged."""
    g = Grid(*BOX, (n, 3 * n // 4))
    rho0 = g.cell_averages(lambda x: mms_exact(0.0, x))
    a = solve_fokker_planck(g, rho0, ou_drift, OU_FIPY_D if diffusion is None else diffusion, T, steps, time=time,
                            boundary=boundary).to_numpy()
    f = solve_fokker_planck(g, rho0, ou_drift, OU_FIPY_D, T, steps, time=time, boundary=boundary, backend="fipy")
    return a, f.to_numpy()


# What a Fokker-Planck run records of itself in Solution.info (solve_fokker_planck's docstring), on both backends:
# the call's flux, time scheme, walls (one label per axis), linear solver, step and damped start, and the kind of
# diffusion (here a full matrix); FiPy also names the term it ran. Written out by hand, not read from the library.
INFO_RUN = {"flux": "chang-cooper", "time": "crank-nicolson", "boundary": ["periodic", "zero-flux"], "T": 0.2,
            "steps": 2}
INFO_EXPECTED = {"flux": "chang-cooper", "time": "crank-nicolson", "dt": 0.1, "damped_steps": 1, "diffusion": "matrix",
                 "boundary": "axis 0: periodic/periodic; axis 1: zero-flux/zero-flux"}
INFO_BACKEND = {"numpy": {"solver": "lu"},
                "fipy": {"solver": "fipy-LinearLUSolver", "fipy_term": "ExponentialConvectionTerm"}}


def check_fokker_planck_info() -> Check:
    """solve_fokker_planck on both backends (8x6 cells of BOX, the OU drift, the full matrix OU_FIPY_D, INFO_RUN):
    the entries of Solution.info that differ from INFO_EXPECTED and INFO_BACKEND (0 passes)."""
    r = INFO_RUN
    g = Grid(*BOX, (8, 6))
    rho0 = g.cell_averages(lambda x: mms_exact(0.0, x))
    wrong = []
    for backend, own in INFO_BACKEND.items():
        info = solve_fokker_planck(g, rho0, ou_drift, OU_FIPY_D, r["T"], r["steps"],
                                   flux=r["flux"], time=r["time"], boundary=r["boundary"], backend=backend).info
        wrong += [f"{backend} {k}: {info.get(k, 'missing')!r}" for k, v in {**INFO_EXPECTED, **own}.items()
                  if info.get(k) != v]
    return make_check("Fokker-Planck with a full D matrix, both backends: Solution.info entries that differ from the "
                      "call (flux, time, boundary, solver, dt, damped_steps, diffusion, FiPy's term)", len(wrong),
                      upper=0, reference=0, detail="; ".join(wrong) or "as called")


# FiPy sweeps the lagged off-diagonal diffusion of a full D until the iterate changes by less than 1e-13 (relative):
# on 12 x 9 cells of BOX with OU_FIPY_D (|D_xy| / sqrt(D_xx D_yy) = 0.73), 4 implicit-Euler steps took 20 sweeps per
# step (measured; 15 to 17 per solve with Crank-Nicolson and BDF2), after which the iterate no longer changes at all
# (the same count with the tolerance 0). The bound leaves half as much again; a diagonal D has nothing to sweep.
FIPY_SWEEPS_PER_STEP = 30


def fipy_sweep_checks(solve: Callable = solve_fokker_planck) -> list[Check]:
    """The cost of FiPy's sweeps (Solution.info["fipy_sweeps"]): per step of the run above at most
    FIPY_SWEEPS_PER_STEP and at least 2 (one sweep, one that confirms), and 0 for the diagonal part of OU_FIPY_D."""
    g = Grid(*BOX, (12, 9))
    rho0 = g.cell_averages(lambda x: mms_exact(0.0, x))
    counts = {}
    for kind, D in (("full", OU_FIPY_D), ("diagonal", np.diag(np.diag(OU_FIPY_D)))):
        try:
            info = solve(g, rho0, ou_drift, D, 0.2, 4, time="implicit-euler", backend="fipy").info
            counts[kind] = float(info.get("fipy_sweeps", math.nan))
        except NumericalError:   # the sweeps did not converge within MAX_SWEEPS
            counts[kind] = math.inf
    return [make_check("FiPy, full D matrix, 12 x 9 cells, 4 implicit-Euler steps: sweeps of the off-diagonal "
                       f"diffusion per step, at most {FIPY_SWEEPS_PER_STEP}", counts["full"] / 4, lower=2.0,
                       upper=FIPY_SWEEPS_PER_STEP, detail=f"{counts['full']:g} sweeps (measured 80)"),
            make_check("FiPy, the diagonal of that D: sweeps (nothing to sweep)", counts["diagonal"], upper=0.0,
                       reference=0.0)]


def check_fipy_agreement(label: str, a: np.ndarray, f: np.ndarray) -> Check:
    return make_check(f"FiPy vs array, {label}: max relative difference", float(np.abs(a - f).max() / np.abs(a).max()),
                      upper=AGREEMENT_TOL, reference=0.0)


STATIONARY_SIZES = (32, 48, 64, 96, 128)   # N x 3N/4 cells on OU_BOX


def stationary_matrix_errors(sizes: tuple[int, ...], diffusion: Any = None) -> list[float]:
    """L1 distance of solve_stationary (drift OU_B x, the full matrix OU_D, zero-flux walls of OU_BOX) to the
    cell averages of the invariant law G.stationary (mass outside the box ~1e-9, below every level's error).
    ``diffusion`` (default OU_D, given as Diffusion.matrix(OU_D): the constructor for arrays that could be read
    either way) is given to the solver only: a wrong one must be flagged."""
    law = G.stationary(G.Affine(OU_B, np.zeros(2)), OU_D)
    errors = []
    for n in sizes:
        g = Grid(*OU_BOX, (n, 3 * n // 4))
        D = Diffusion.matrix(OU_D) if diffusion is None else diffusion
        rho = np.asarray(solve_stationary(g, lambda t, x: x @ OU_B.T, D))
        errors.append(grid_error(rho, g.cell_averages(law.pdf), g.cell_volume))
    return errors


def check_stationary_matrix(sizes: tuple[int, ...], diffusion: Any = None) -> Check:
    """Order verdict (2 ± ORDER_BAND) of stationary_matrix_errors: the normal fluxes are exponentially fitted, the
    cross fluxes central, both second order; dropping or mis-signing the cross fluxes leaves an O(1) error."""
    errors = stationary_matrix_errors(sizes, diffusion)
    # pairwise orders 1.76, 1.92, 1.98 from N = 32 (as for the time-dependent problem above): the fit with the
    # next term of the error expansion
    verdict = order_verdict(fit_order([8.0 / n for n in sizes], errors, correction=True), 2.0, ORDER_BAND)
    return _verdict_check("solve_stationary with the full D matrix vs the invariant Gaussian law: L1 order", verdict,
                          "errors " + ", ".join(f"{e:.3e}" for e in errors) + " at N = " + ", ".join(map(str, sizes)))


# solve_stationary's other options, on a reversible OU process with a non-symmetric drift: B = D S (S symmetric
# negative definite, D diagonal) makes B non-symmetric while D⁻¹B = S stays symmetric, so the invariant law
# N(m, -S⁻¹) is a Gibbs state ρ ∝ exp(½ (x - m)ᵀ S (x - m)). On an anisotropic grid (cell counts and spacings differ
# per axis, the box off-centre around m) the exponentially fitted fluxes keep the discrete Gibbs state of every face,
# ρ_R / ρ_L = exp(b h / D_kk) with b at the face centre, which for a linear drift is exactly the ratio of the law's
# values at the two cell centres: the stationary state is the Gaussian at the cell centres, normalised by the
# midpoint rule (exact to ~2 exp(-2π² Σ_kk / h_k²) for a Gaussian: 3e-50 at 40 x 48 cells, 7e-13 at 20 x 24, where
# 5.5e-13 was measured) and truncated at the box (8σ: 6e-16). The central flux has no exact discrete equilibrium: an
# O(h²) error.
REV_D = np.diag([0.35, 0.2])
REV_S = np.array([[-3.0, 1.0], [1.0, -4.0]])
REV_B = REV_D @ REV_S                               # [[-1.05, 0.35], [0.2, -0.8]]: non-symmetric
REV_MEAN = np.array([0.3, -0.2])
REV_BOX = ((-4.5, -4.6), (5.5, 4.2))                # walls at least 7.96 σ_x and 8.4 σ_y from the mean
REV_CELLS = ((40, 48), (80, 96))                    # h = (0.25, 0.183) and (0.125, 0.0917)
# Fluxes whose stationary state is the discrete Gibbs state: max |ρ − ρ_exact| / max ρ_exact measured 1.6e-15
# (scharfetter-gummel; 1.5e-15 at mass 2.5) and 1.3e-15 (chang-cooper) at 40 x 48 cells: round-off of the sparse
# LU. The bound leaves two orders of magnitude for other platforms' pivoting; a wrong face coefficient gives O(h).
STATIONARY_GIBBS_TOL = 1e-13
# The central flux: L1 distance (unit mass) 2.447e-2 at 40 x 48 cells and 6.049e-3 at 80 x 96, observed order 2.016;
# L1 / h_x² = 0.392 and 0.387: frozen at about twice that
STATIONARY_CENTRAL_C = 0.8
# what each registered flux's stationary state must satisfy: "gibbs" (the discrete Gibbs state to round-off) or the
# order p of its L1 error (checked at the two resolutions REV_CELLS and bounded by C h_x² at the finer one)
STATIONARY_FLUX_EXPECT: dict[str, Any] = {"scharfetter-gummel": "gibbs", "chang-cooper": "gibbs", "central": 2}
# an order is read from two errors only when both lie above round-off (a scheme exact here has no order)
ORDER_FLOOR = 1e-12
STATIONARY_MASS = 2.5
STATIONARY_MASS_TOL = 1e-13   # |h_x h_y Σρ / mass − 1|: measured 2.2e-16 (a sum of 1920 positive values)


def reversible_drift(t: float, x: np.ndarray) -> np.ndarray:
    """b(x) = REV_B (x − REV_MEAN) = −REV_D ∇U, U(x) = −½ (x − REV_MEAN)ᵀ REV_S (x − REV_MEAN)."""
    return (x - REV_MEAN) @ REV_B.T


def reversible_law_at_centres(g: Grid) -> np.ndarray:
    """The density of N(REV_MEAN, −REV_S⁻¹) at the cell centres (unit mass), written out here (not from
    verify.gaussian): exp(½ (x − m)ᵀ S (x − m)) sqrt(det(−S)) / (2π)."""
    y = g.centers() - REV_MEAN
    quad = np.einsum("...i,ij,...j->...", y, REV_S, y)
    return np.exp(0.5 * quad) * math.sqrt(np.linalg.det(-REV_S)) / (2.0 * math.pi)


def order_above_round_off(errors: Sequence[float], h: Sequence[float]) -> float:
    """The observed order of the errors in h; NaN when one lies below ORDER_FLOOR (no order in round-off)."""
    return math.nan if min(errors) < ORDER_FLOOR else observed_order(h, errors)


def stationary_flux_checks(solve: Callable = solve_stationary, fluxes: Sequence[str] | None = None) -> list[Check]:
    """solve_stationary(flux=f) for every flux f of eulerian.operators.FLUXES (or ``fluxes``) on REV_BOX, drift
    reversible_drift, diffusion REV_D (unit mass), against the exact invariant law at the cell centres (densities,
    1 / length²). A flux in STATIONARY_FLUX_EXPECT as "gibbs": max |ρ − ρ_exact| / max ρ_exact at 40 x 48 cells
    (round-off, STATIONARY_GIBBS_TOL). A flux of order p: the observed order of the L1 distance between 40 x 48 and
    80 x 96 cells (p ± ORDER_BAND; NaN when the errors are at round-off, e.g. the Gibbs state of another flux) and
    L1 <= STATIONARY_CENTRAL_C h_x² at 80 x 96. A registered flux without an expectation fails."""
    checks = []
    for flux in FLUXES if fluxes is None else fluxes:
        expect = STATIONARY_FLUX_EXPECT.get(flux)
        label = f"solve_stationary, flux={flux!r}, reversible OU (non-symmetric B), anisotropic grid"
        if expect is None:
            checks.append(make_check(f"{label}: an expectation for this flux", math.nan,
                                     detail="registered flux not in STATIONARY_FLUX_EXPECT"))
            continue
        runs = []
        for cells in REV_CELLS[:1] if expect == "gibbs" else REV_CELLS:
            g = Grid(*REV_BOX, cells)
            rho = np.asarray(solve(g, reversible_drift, Diffusion.matrix(REV_D), flux=flux), dtype=float)
            runs.append((g, rho, reversible_law_at_centres(g)))
        if expect == "gibbs":
            g, rho, exact = runs[0]
            checks.append(make_check(f"{label}, {g.shape[0]} x {g.shape[1]} cells: max |ρ − ρ_exact| / max ρ_exact "
                                     "(the discrete Gibbs state: round-off)",
                                     float(np.abs(rho - exact).max() / exact.max()), upper=STATIONARY_GIBBS_TOL,
                                     reference=0.0))
            continue
        errors = [grid_error(rho, exact, g.cell_volume) for g, rho, exact in runs]
        hx = [g.spacing[0] for g, _, _ in runs]
        detail = "L1 " + ", ".join(f"{e:.3e}" for e in errors) + " at " + ", ".join(
            f"{g.shape[0]} x {g.shape[1]}" for g, _, _ in runs) + " cells"
        checks.append(make_check(f"{label}: observed order of the L1 error (claimed {expect})",
                                 order_above_round_off(errors, hx), lower=expect - ORDER_BAND,
                                 upper=expect + ORDER_BAND, reference=float(expect), detail=detail))
        checks.append(make_check(f"{label}, {runs[-1][0].shape[0]} x {runs[-1][0].shape[1]} cells: L1 error / h_x²",
                                 errors[-1] / hx[-1] ** 2, upper=STATIONARY_CENTRAL_C,
                                 detail=f"{detail}; bound C h_x², C = {STATIONARY_CENTRAL_C:g} (measured 0.39)"))
    return checks


def stationary_mass_checks(mass: float = STATIONARY_MASS, solve: Callable = solve_stationary) -> list[Check]:
    """solve_stationary(mass=mass) (default flux) on REV_BOX, 40 x 48 cells: the total mass h_x h_y Σρ against
    STATIONARY_MASS (relative, round-off), and max |ρ − STATIONARY_MASS ρ_exact| / (STATIONARY_MASS max ρ_exact)
    with ρ_exact the unit-mass invariant law at the cell centres (the Gibbs state, round-off). ``mass`` is what is
    given to the solver: another value must be flagged."""
    g = Grid(*REV_BOX, REV_CELLS[0])
    rho = np.asarray(solve(g, reversible_drift, Diffusion.matrix(REV_D), mass=mass), dtype=float)
    exact = STATIONARY_MASS * reversible_law_at_centres(g)
    label = f"solve_stationary, mass={STATIONARY_MASS:g}, reversible OU, {g.shape[0]} x {g.shape[1]} cells"
    total = float(rho.sum()) * g.cell_volume
    return [make_check(f"{label}: |h_x h_y Σρ / mass − 1|", abs(total / STATIONARY_MASS - 1.0),
                       upper=STATIONARY_MASS_TOL, reference=0.0, detail=f"total mass {total:.15g}"),
            make_check(f"{label}: max |ρ − mass ρ_exact| / (mass max ρ_exact)",
                       float(np.abs(rho - exact).max() / exact.max()), upper=STATIONARY_GIBBS_TOL, reference=0.0)]


@case("ou-matrix-diffusion-2d", title="Ornstein–Uhlenbeck with a full diffusion matrix and a non-symmetric drift vs "
      "the Gaussian law (order 2)", tags=("eulerian", "fokker-planck"))
def ou_matrix_diffusion_2d(ctx: CaseContext) -> None:
    # the errors approach C h^2 slowly (pairwise orders 1.82, 1.90, 1.96, 1.98, 2.00 from N = 32): the fit
    # with the next term of the expansion, C h^p (1 + a h^q), over 6-7 levels
    sizes = (32, 48, 64, 96, 128, 192) if ctx.quick else (32, 48, 64, 96, 128, 192, 256)
    errors = []
    for n in sizes:
        g, rho, exact = ou_matrix_run(n)
        errors.append(grid_error(rho, exact, g.cell_volume))
    verdict = order_verdict(fit_order([8.0 / n for n in sizes], errors, correction=True), 2.0, ORDER_BAND)
    ctx.add(_verdict_check("BDF2 + SG normal fluxes + central cross fluxes: L1 order", verdict,
                           "errors " + ", ".join(f"{e:.3e}" for e in errors)))
    g, rho, exact = ou_matrix_run(64)
    diagonal_only = solve_fokker_planck(g, lambda x: OU_START.pdf(x), lambda t, x: x @ OU_B.T,
                                        np.diag(np.diag(OU_D)), 0.6, 32).to_numpy()
    ctx.check("dropping the off-diagonal D (negative check): L1 error / full-matrix error",
              grid_error(diagonal_only, exact, g.cell_volume) / grid_error(rho, exact, g.cell_volume), lower=10.0)
    cov = g.covariance(rho)
    ctx.check("covariance entry Σ_xy against the Gaussian law", float(cov[0, 1]),
              lower=float(g.covariance(exact)[0, 1]) - 2e-3, upper=float(g.covariance(exact)[0, 1]) + 2e-3)
    # the FiPy backend: normal fluxes from FiPy's terms, the cross fluxes as a FiPy source swept to convergence
    # every step (implicit at convergence), the same discrete operator as the array backend (measured <= 2e-12)
    # periodic x: the cross fluxes on the wrapped faces (FiPy: Gauss gradients on its periodic mesh); in quick mode
    # one scheme and two steps (FiPy's sweeps of the cross fluxes are the cost)
    boundaries = {"zero-flux walls": "zero-flux", "periodic x, zero-flux y": ["periodic", "zero-flux"]}
    for label, boundary in boundaries.items():
        short = ctx.quick and label != "zero-flux walls"
        for time in ("implicit-euler",) if short else ("implicit-euler", "crank-nicolson", "bdf2"):
            name = f"full D matrix, {label}, {time}" + (", 2 steps" if short else "")
            ctx.add(check_fipy_agreement(name, *ou_matrix_fipy_pair(time, boundary, n=8 if ctx.quick else 12,
                                                                    steps=2 if short else 4)))
    # the stationary solver with the full matrix (solve_stationary adds the cross fluxes itself) against the
    # invariant Gaussian law N(0, Σ∞), B Σ∞ + Σ∞ Bᵀ + 2 D = 0
    ctx.add(check_stationary_matrix(STATIONARY_SIZES if ctx.quick else STATIONARY_SIZES + (192, 256)))
    # the other fluxes and a mass other than 1, against the exact invariant law of a reversible OU process
    ctx.add_all(stationary_flux_checks())
    ctx.add_all(stationary_mass_checks())
    ctx.add(check_fokker_planck_info())
    ctx.add_all(fipy_sweep_checks())


# ------------------------------------------------------------------------------ fplanck-nonuniform-diffusion
FPLANCK = {"xc": -5.0, "D0": 25.0, "L": 5.0}


def fplanck_D(x: np.ndarray) -> np.ndarray:
    """fplanck's example in our units: drag ∝ (x - xc)², so D = D0 / (x - xc)² (kT / drag)."""
    return FPLANCK["D0"] / (x[..., 0] - FPLANCK["xc"]) ** 2


def fplanck_drift(t: float, x: np.ndarray) -> np.ndarray:
    """The Itô SDE dX = sqrt(2 D(X)) dW has d rho/dt = Lap(D rho): drift -D'(x) in our div(D grad rho) form."""
    return (2.0 * FPLANCK["D0"] / (x[..., 0] - FPLANCK["xc"]) ** 3)[..., None]


def fplanck_stationary_exact(g: Grid) -> np.ndarray:
    """rho ∝ 1 / D ∝ (x - xc)², normalised on [-L, L], cell averages."""
    L, xc = FPLANCK["L"], FPLANCK["xc"]
    edges = g.faces(0)
    primitive = (edges - xc) ** 3 / 3.0
    return np.diff(primitive) / g.spacing[0] / (((L - xc) ** 3 - (-L - xc) ** 3) / 3.0)


def periodic_cell_diffusion_check(sizes: Sequence[int] = (32, 64, 128), solve: Callable = solve_stationary) -> Check:
    """The torus [0, 1) with V = cos(2 pi x) and D(x) = 0.5 + 0.3 sin(2 pi x) given as cell values (harmonic means
    on the faces, the periodic face included), drift b = -D V': zero flux b rho = D rho' holds for the Gibbs
    state rho ∝ exp(-V), whatever D. L1 order of solve_stationary against it (``solve``: another
    solve_stationary, for the negative tests)."""
    def D(x: np.ndarray) -> np.ndarray:
        return 0.5 + 0.3 * np.sin(2 * np.pi * x)

    errors = []
    for n in sizes:
        g = Grid((0.0,), (1.0,), (n,))
        rho = np.asarray(solve(g, lambda t, x: D(x) * 2 * np.pi * np.sin(2 * np.pi * x),   # b = -D V'
                               g.cell_averages(lambda x: D(x[..., 0])), boundary="periodic"))
        gibbs = g.cell_averages(lambda x: np.exp(-np.cos(2 * np.pi * x[..., 0])))
        errors.append(grid_error(rho, gibbs / g.mass(gibbs), g.cell_volume))
    verdict = order_verdict(fit_order([1.0 / n for n in sizes], errors), 2.0, ORDER_BAND)
    return _verdict_check("periodic cosine potential, D(x) = 0.5 + 0.3 sin(2 pi x) as cell values: Gibbs state "
                          "exp(-V), L1 order", verdict, "errors " + ", ".join(f"{e:.3e}" for e in errors))


@case("fplanck-nonuniform-diffusion", title="fplanck's position-dependent drag: D(x) = D0/(x − xc)², stationary "
      "density ∝ 1/D, order 2", tags=("eulerian", "fokker-planck"))
def fplanck_nonuniform(ctx: CaseContext) -> None:
    sizes = (50, 100, 200) if ctx.quick else (50, 100, 200, 400)
    errors = []
    L = FPLANCK["L"]
    for n in sizes:
        g = Grid((-L,), (L,), (n,))
        rho = np.asarray(solve_stationary(g, fplanck_drift, fplanck_D))
        errors.append(grid_error(rho, fplanck_stationary_exact(g), g.cell_volume))
    # at least second order (measured 2.97-2.99 up to 800 cells: the fitted fluxes do better on this profile)
    verdict = order_verdict(fit_order([2 * L / n for n in sizes], errors), 2.0, (ORDER_BAND, math.inf))
    ctx.add(_verdict_check("stationary density vs (x − xc)² (normalised): L1 order (at least 2)", verdict,
                           "errors " + ", ".join(f"{e:.3e}" for e in errors)))
    g = Grid((-L,), (L,), (200,))   # fplanck's resolution 0.05
    rho0 = g.cell_averages(lambda x: np.exp(-(x[..., 0] + 3.0) ** 2 / 0.02))
    sol = solve_fokker_planck(g, rho0 / g.mass(rho0), fplanck_drift, fplanck_D, 400.0, 200)
    stationary = np.asarray(solve_stationary(g, fplanck_drift, fplanck_D))
    ctx.check("time-evolved density at t = 400 vs the discrete stationary density: L1",
              grid_error(sol.to_numpy(), stationary, g.cell_volume), upper=1e-6)
    # fplanck's periodic example on a torus: V = cos(2 pi x), D = 0.5, stationary density ∝ exp(-V / D)
    sizes_p = (32, 64, 128)
    errors_p = []
    for n in sizes_p:
        gp = Grid((0.0,), (1.0,), (n,))
        rho = np.asarray(solve_stationary(gp, lambda t, x: 2 * np.pi * np.sin(2 * np.pi * x), 0.5,
                                          boundary="periodic"))
        gibbs = gp.cell_averages(lambda x: np.exp(-np.cos(2 * np.pi * x[..., 0]) / 0.5))
        errors_p.append(grid_error(rho, gibbs / gp.mass(gibbs), gp.cell_volume))
    verdict = order_verdict(fit_order([1.0 / n for n in sizes_p], errors_p), 2.0, ORDER_BAND)
    ctx.add(_verdict_check("periodic cosine potential (fplanck's periodic example on a torus): Gibbs state, L1 "
                           "order", verdict, "errors " + ", ".join(f"{e:.3e}" for e in errors_p)))
    ctx.add(periodic_cell_diffusion_check(sizes_p))
    naive = np.asarray(solve_stationary(g, _no_drift, fplanck_D))
    ctx.check("without the Itô drift -D'(x) (negative check): L1 from the exact stationary density",
              grid_error(naive, fplanck_stationary_exact(g), g.cell_volume), lower=0.1)


# ------------------------------------------------------------------------------------------ continuity-walls-2d
def transport_velocity(t: float, x: np.ndarray) -> np.ndarray:
    """v = (1 + 0.3 sin t + 0.2 y, 0.5 + 0.1 x): divergence free, time dependent, inflow through the lower walls
    of [0, 2] x [0, 1] and outflow through the upper ones."""
    return np.stack([1.0 + 0.3 * math.sin(t) + 0.2 * x[..., 1], 0.5 + 0.1 * x[..., 0]], axis=-1)


def transport_source(t: float, x: np.ndarray) -> np.ndarray:
    """S = d rho/dt + v . grad rho (div v = 0) for rho = mms_exact."""
    v = transport_velocity(t, x)
    grad = math.exp(-0.5 * t) * np.cos(2.0 * x[..., 0] + x[..., 1])
    return -0.5 * mms_exact(t, x) + grad * (2.0 * v[..., 0] + v[..., 1])


INFLOW_OUTFLOW = [(Dirichlet(lambda t, x: mms_exact(t, x)), Outflow()),
                  (Dirichlet(lambda t, x: mms_exact(t, x)), Outflow())]


def transport_run(n: int, limiter: str, boundary: Any = None, T: float = 0.5) -> tuple[Grid, Any]:
    g = Grid(*BOX, (n, 3 * n // 4))
    return g, solve_continuity(g, lambda x: mms_exact(0.0, x), transport_velocity, T, limiter=limiter,
                               boundary=INFLOW_OUTFLOW if boundary is None else boundary, source=transport_source)


def transport_outflow(T: float) -> float:
    """The exact mass that leaves by t = T: the wall integral of rho v."""
    return wall_integral(lambda t, x: mms_exact(t, x)[..., None] * transport_velocity(t, x), T)


FIPY_CONTINUITY_ORDER = 1.0   # FiPy's explicit van Leer step: one stage, the velocity and the source at t_n
FIPY_BALANCE_TOL = 1e-12       # mass(T) - mass(0) + outflow(T) - int S: round-off of ~10^2 steps of O(1) sums


def transport_fipy_run(n: int, boundary: Any = None, T: float = 0.5) -> tuple[Grid, Any]:
    """The FiPy backend on the continuity-walls problem (Dirichlet inflow, Outflow walls, the source)."""
    g = Grid(*BOX, (n, 3 * n // 4))
    return g, solve_continuity(g, g.cell_averages(lambda x: mms_exact(0.0, x)), transport_velocity, T, cfl=0.4,
                               backend="fipy",
                               boundary=INFLOW_OUTFLOW if boundary is None else boundary, source=transport_source)


# save_at on the FiPy backend: the steps are clipped to land on each save time, so the run to T saving at T/2 takes
# the very steps of the run to T/2 up to there: its saved density equals that run's final one (round-off, 1e-14 of
# max rho), and the last saved density is the final one (exactly)
FIPY_SAVED = {"n": 8, "T": 0.5}
FIPY_SAVED_TOL = 1e-14


def fipy_saved_checks(saved: Any = None) -> list[Check]:
    """The FiPy continuity run with save_at = (T/2, T) (``saved``: another Solution, for the negative tests):
    its density at T/2 against the run to T/2, its last saved density against its final density."""
    n, T = FIPY_SAVED["n"], FIPY_SAVED["T"]
    g = Grid(*BOX, (n, 3 * n // 4))
    kw = dict(cfl=0.4, backend="fipy", boundary=INFLOW_OUTFLOW, source=transport_source)
    rho0 = g.cell_averages(lambda x: mms_exact(0.0, x))
    if saved is None:
        saved = solve_continuity(g, rho0, transport_velocity, T, save_at=(0.5 * T, T), **kw)
    half = solve_continuity(g, rho0, transport_velocity, 0.5 * T, **kw).to_numpy()
    times, dens = np.asarray(saved.times), [np.asarray(d) for d in saved.densities]
    ok = times.shape == (2,) and np.allclose(times, (0.5 * T, T), rtol=0, atol=1e-15) and len(dens) == 2 \
        and all(d.shape == g.shape for d in dens)
    detail = f"times {times.tolist()}, shapes {[d.shape for d in dens]}"
    if not ok:
        return [make_check("FiPy continuity, save_at = (T/2, T): saved times and shapes", float("nan"), detail=detail)]
    scale = float(np.abs(half).max())
    return [make_check(f"FiPy continuity, save_at = (T/2, T), N = {n}: max |saved(T/2) − run to T/2| / max rho",
                       float(np.abs(dens[0] - half).max()) / scale, upper=FIPY_SAVED_TOL, reference=0.0,
                       detail=detail),
            make_check("FiPy continuity, save_at: max |saved(T) − final density|",
                       float(np.abs(dens[1] - saved.to_numpy()).max()), upper=0.0, reference=0.0)]


def source_mass(g: Grid, sol: Any) -> float:
    """The mass the source adds in FiPy's explicit steps: sum over steps of dt_n V sum_cells S(t_n, x_c)."""
    t, x = np.asarray(sol.mass_times), g.centers()
    return float(sum((b - a) * g.cell_volume * transport_source(a, x).sum() for a, b in zip(t[:-1], t[1:])))


def check_mass_balance(label: str, g: Grid, sol: Any) -> Check:
    """|mass(T) - mass(0) + outflow(T) - int S| / mass(0): the outflow is summed from FiPy's wall fluxes."""
    gap = sol.mass[-1] - sol.mass[0] + sol.boundary_outflow[-1] - source_mass(g, sol)
    return make_check(f"{label}: |mass(T) − mass(0) + outflow − ∫S| / mass(0)", abs(gap) / sol.mass[0],
                      upper=FIPY_BALANCE_TOL, reference=0.0)


def check_fipy_transport(sizes: tuple[int, ...], runs: list[tuple[Grid, Any]], T: float) -> list[Check]:
    """FiPy with walls against the exact solution: L1 order (at least FIPY_CONTINUITY_ORDER - ORDER_BAND), the
    outflow error shrinking at that order, the mass balance at every size."""
    errors = [grid_error(sol.to_numpy(), g.cell_averages(lambda x: mms_exact(T, x)), g.cell_volume)
              for g, sol in runs]
    exact_out = transport_outflow(T)
    out_errors = [abs(sol.boundary_outflow[-1] - exact_out) for _, sol in runs]
    floor = FIPY_CONTINUITY_ORDER - ORDER_BAND
    verdict = order_verdict(fit_order([BOX[1][0] / n for n in sizes], errors), FIPY_CONTINUITY_ORDER,
                            (ORDER_BAND, math.inf))
    checks = [_verdict_check("FiPy backend, Dirichlet inflow + Outflow walls: L1 order (at least 1)", verdict,
                             "errors " + ", ".join(f"{e:.3e}" for e in errors)),
              make_check(f"FiPy backend: |outflow − exact| at N = {sizes[-1]} / at N = {sizes[0]}",
                         out_errors[-1] / out_errors[0], upper=(sizes[0] / sizes[-1]) ** floor,
                         detail=f"exact outflow {exact_out:.6f}; errors " + ", ".join(f"{e:.2e}" for e in out_errors))]
    checks += [check_mass_balance(f"FiPy backend, N = {n}", g, sol) for n, (g, sol) in zip(sizes, runs)]
    return checks


# the Courant number with open walls: C = dt sum_k max|v_k| / h_k over the flux-carrying faces AND the open walls
def wall_velocity(t: float, x: np.ndarray) -> np.ndarray:
    """v = (0.5 + x, 0.3 + 0.5 y) on BOX: inflow through the lower walls, its largest normal components on the
    upper (outflow) walls, so the open walls, not the interior faces, set the Courant number."""
    return np.stack([0.5 + x[..., 0], 0.3 + 0.5 * x[..., 1]], axis=-1)


WALL_CFL = {"cells": (16, 12), "T": 0.45, "cfl": 0.4}   # T rate / cfl = 33.3 (walls), 31.6 (interior faces only)


def all_faces_rate(g: Grid, velocity: Callable, t: float) -> float:
    """sum_k max |v_k(t, .)| / h_k over every face normal to axis k, the two walls included (evaluated here on
    the faces' centres, independently of the solver)."""
    total = 0.0
    for k in range(g.dim):
        coords = [np.linspace(g.lower[j], g.upper[j], g.shape[j] + 1) if j == k else g.axes()[j]
                  for j in range(g.dim)]
        x = np.stack(np.meshgrid(*coords, indexing="ij"), axis=-1)
        total += float(np.abs(np.asarray(velocity(t, x))[..., k]).max()) / g.spacing[k]
    return total


def slowing_wall_velocity(t: float, x: np.ndarray) -> np.ndarray:
    """(1 - 0.8 t) wall_velocity: the Courant rate falls with time, to a fifth at t = 1, so a step chosen from
    the velocity at any time but the step's start breaks (or wastes) the CFL condition."""
    return (1.0 - 0.8 * t) * wall_velocity(t, x)


def wall_cfl_run(steps: int | None = None, velocity: Callable = wall_velocity, cells: tuple = WALL_CFL["cells"],
                 T: float = WALL_CFL["T"], cfl: float = WALL_CFL["cfl"], backend: str = "numpy") -> tuple[Grid, Any]:
    """Dirichlet inflow (mms_exact) + Outflow walls, no source, on BOX."""
    g = Grid(*BOX, cells)
    rho0 = g.cell_averages(lambda x: mms_exact(0.0, x))
    return g, solve_continuity(g, rho0, velocity, T, cfl=cfl, steps=steps, boundary=INFLOW_OUTFLOW,
                               backend=backend, limiter="mc")


def check_step_courant(name: str, g: Grid, sol: Any, velocity: Callable, cfl: float) -> Check:
    """Each step of a run with dt chosen by the solver has Courant number C_n = dt_n rate(t_n) = cfl (the last one,
    cut to land on t_final, at most cfl), rate from all_faces_rate: max over steps of |C_n / cfl - 1| (last step:
    only its excess). Tolerance: the round-off of dt_n = t_{n+1} - t_n, 4 eps per step accumulated in t_n."""
    t = np.asarray(sol.mass_times)
    c = np.array([(b - a) * all_faces_rate(g, velocity, a) / cfl for a, b in zip(t[:-1], t[1:])])
    dev = max(float(np.abs(c[:-1] - 1.0).max()) if len(c) > 1 else 0.0, float(c[-1] - 1.0))
    return make_check(f"{name}: max over steps of |C_n / cfl − 1| (C_n = dt_n Σ_k max|v_k| / h_k, walls included)",
                      dev, upper=4.0 * np.finfo(float).eps * len(c), reference=0.0,
                      detail=f"{len(c)} steps; C_n / cfl from {c.min():.6f} to {c.max():.6f}")


def forced_step_outcomes(run: Callable[[int], Any], n_min: int) -> tuple[bool, bool]:
    """(steps = n_min accepted, steps = n_min - 1 refused with CFLError)."""
    try:
        run(n_min)
        accepted = True
    except CFLError:
        accepted = False
    try:
        run(n_min - 1)
        refused = False
    except CFLError:
        refused = True
    return accepted, refused


def check_forced_steps(name: str, n_min: int, accepted: bool, refused: bool) -> Check:
    return make_check(f"{name}: forced steps N = ceil(T rate / cfl) = {n_min} accepted, N − 1 refused (CFLError): "
                      "wrong outcomes", float((not accepted) + (not refused)), upper=0.0, reference=0.0,
                      detail=f"N accepted: {accepted}; N − 1 refused: {refused}")


def uniform_velocity(t: float, x: np.ndarray) -> np.ndarray:
    """v = (1, 1/2): with 8 x 8 cells on BOX, rate = 1/0.25 + 0.5/0.125 = 8 exactly in binary floating point."""
    return np.broadcast_to(np.array([1.0, 0.5]), x.shape).copy()


EXACT_CFL = {"cells": (8, 8), "T": 0.5, "cfl": 0.5}   # dt = cfl / rate = 1/16: 8 steps with C = cfl exactly


def check_forced_at_cfl(name: str, auto: Any, forced: Callable[[int], Any]) -> Check:
    """Forcing the solver's own step count (Courant number exactly cfl, representable) must be accepted and give
    the automatic run (the same dt): max |forced − automatic| / max |automatic| to round-off (NaN on CFLError)."""
    label = f"{name}: forced steps = the automatic count ({auto.steps}, C = cfl exactly)"
    try:
        f = forced(auto.steps).to_numpy()
    except CFLError as exc:
        return make_check(f"{label} accepted", float("nan"), detail=f"refused: {exc}")
    a = auto.to_numpy()
    return make_check(f"{label} vs the automatic run: max relative difference",
                      float(np.abs(f - a).max() / np.abs(a).max()), upper=FIPY_BALANCE_TOL, reference=0.0)


def wall_cfl_checks() -> list[Check]:
    """The CFL step with open walls: the solver's own steps (array backend), forced steps at the limit and at
    exactly C = cfl (array and FiPy backends)."""
    T, cfl = WALL_CFL["T"], WALL_CFL["cfl"]
    g, auto = wall_cfl_run()
    checks = [check_step_courant("v = (0.5 + x, 0.3 + 0.5 y), largest on the outflow walls", g, auto, wall_velocity,
                                 cfl)]
    g, slowing = wall_cfl_run(velocity=slowing_wall_velocity)
    checks.append(check_step_courant("v = (1 − 0.8 t)(0.5 + x, 0.3 + 0.5 y), slowing down", g, slowing,
                                     slowing_wall_velocity, cfl))
    n_min = math.ceil(T * all_faces_rate(g, wall_velocity, 0.0) / cfl)
    for backend in ("numpy", "fipy"):
        label = "v largest on the outflow walls" + (", fipy backend" if backend == "fipy" else "")
        checks.append(check_forced_steps(label, n_min, *forced_step_outcomes(
            lambda n, backend=backend: wall_cfl_run(n, backend=backend), n_min)))
    for backend in ("numpy", "fipy"):
        kw = dict(velocity=uniform_velocity, cells=EXACT_CFL["cells"], T=EXACT_CFL["T"], cfl=EXACT_CFL["cfl"],
                  backend=backend)
        _, auto = wall_cfl_run(**kw)
        checks.append(check_forced_at_cfl(f"{backend} backend, v = (1, 1/2) on 8 x 8 cells", auto,
                                          lambda n, kw=kw: wall_cfl_run(n, **kw)[1]))
    return checks


# a Dirichlet wall through which the flow LEAVES: its value g must not enter the outflow (upwind: v.n rho_P there)
DIRICHLET_OUT = {"c": 1.3, "cells": (10, 6), "T": 0.25, "steps": 6, "div": 0.2}   # h = 1/5 and 1/6, C <= 0.37


def dirichlet_out_velocity(t: float, x: np.ndarray) -> np.ndarray:
    """v = (0.6 + 0.4 x + 0.2 sin t, 0.3 - 0.2 y) on BOX: positive along both axes (inflow through the lower walls,
    outflow through the upper ones), div v = 0.2 at every t."""
    return np.stack([0.6 + 0.4 * x[..., 0] + 0.2 * math.sin(t), 0.3 - 0.2 * x[..., 1] + 0.0 * x[..., 0]], axis=-1)


def dirichlet_out_source(t: float, x: np.ndarray) -> np.ndarray:
    """S = c div v: with rho = c (and g = c on the inflow walls) d rho/dt = -div(c v) + S = 0."""
    return np.full(np.shape(x)[:-1], DIRICHLET_OUT["c"] * DIRICHLET_OUT["div"])


# Dirichlet on both sides of both axes; the outflow (upper) walls hold values far from c, one varying in t and x
DIRICHLET_BOTH = [(Dirichlet(DIRICHLET_OUT["c"]), Dirichlet(lambda t, x: 2.5 + x[..., 1] + t)),
                  (Dirichlet(DIRICHLET_OUT["c"]), Dirichlet(0.7))]


def dirichlet_out_run(backend: str) -> tuple[Grid, Any]:
    """rho0 = c on BOX, Dirichlet walls everywhere, S = c div v, fixed steps (the same times on both backends)."""
    p = DIRICHLET_OUT
    g = Grid(*BOX, p["cells"])
    return g, solve_continuity(g, np.full(g.shape, p["c"]), dirichlet_out_velocity, p["T"], steps=p["steps"],
                               boundary=DIRICHLET_BOTH, source=dirichlet_out_source, backend=backend)


def dirichlet_outflow_checks(fipy_run: Callable[[], tuple[Grid, Any]] | None = None) -> list[Check]:
    """Outflow through Dirichlet walls (FiPy backend): rho = c stays exact for both backends (a constant state,
    fluxes linear in x), so the mass that left by t_n is exactly c div(v) |BOX| t_n = ∫S, independent of the
    outflow walls' values g. Checks: FiPy's mass balance mass(t_n) − mass(0) + outflow(t_n) − ∫S at every step
    (round-off, FIPY_BALANCE_TOL, relative to mass(0)), and FiPy's outflow against the array backend's step by
    step (AGREEMENT_TOL). ``fipy_run``: the FiPy run to check (a wrong one feeds the negative tests)."""
    p = DIRICHLET_OUT
    g, f = dirichlet_out_run("fipy") if fipy_run is None else fipy_run()
    _, a = dirichlet_out_run("numpy")
    t = np.asarray(f.mass_times)
    source = p["c"] * p["div"] * float(np.prod(np.subtract(BOX[1], BOX[0]))) * t   # S constant in t and x
    gap = np.asarray(f.mass) - f.mass[0] + np.asarray(f.boundary_outflow) - source
    label = f"Dirichlet walls with outflow (g ≠ ρ there), {p['cells'][0]}x{p['cells'][1]} cells"
    return [make_check(f"FiPy backend, {label}: max over steps |mass(t) − mass(0) + outflow(t) − ∫S| / mass(0)",
                       float(np.abs(gap).max()) / f.mass[0], upper=FIPY_BALANCE_TOL, reference=0.0,
                       detail=f"{len(t) - 1} steps; outflow at T {f.boundary_outflow[-1]:.6f}, exact "
                       f"{source[-1]:.6f}"),
            check_outflow_agreement(label, a, f)]


# prescribed-flux walls of the continuity equation: q(t, x) is the outward normal flux through the wall, whatever
# the velocity there. Mass balance: mass(t) - mass(0) = -int_0^t int_walls q, exactly for both backends' time
# integration when q is polynomial: the array backend's SSP-RK3 evaluates the walls at t_n, t_n + dt, t_n + dt/2
# with weights 1/6, 1/6, 2/3 (Simpson's rule: exact for q quadratic in t), FiPy's explicit step at t_n (the left
# Riemann sum over its own steps, summed here from its step times); the face-centre sums over a wall are exact for
# q linear along it. Tolerance FIPY_BALANCE_TOL (round-off of ~10^2 steps of O(1) sums, relative to mass(0)).
FLUX_WALLS = {"cells": (16, 12), "T": 0.4}


def flux_wall_rates(t: float) -> tuple[float, float]:
    """(time factor of the lower x wall's q, of the upper's): inflow -(0.3 + 0.8 t - 0.5 t²) (0.5 + y) on x = 0,
    outflow (0.2 + 0.4 t²)(1 + 0.5 y) on x = 2."""
    return 0.3 + 0.8 * t - 0.5 * t * t, 0.2 + 0.4 * t * t


FLUX_WALL_BOUNDARY = [(Flux(lambda t, x: -flux_wall_rates(t)[0] * (0.5 + x[..., 1])),
                       Flux(lambda t, x: flux_wall_rates(t)[1] * (1.0 + 0.5 * x[..., 1]))), "zero-flux"]


def flux_wall_outflow(t: Any) -> Any:
    """The exact mass that left through the two Flux walls by time t (the y-integrals of 0.5 + y and 1 + 0.5 y
    over [0, 1] are 1 and 1.25)."""
    t = np.asarray(t, dtype=float)
    return -(0.3 * t + 0.4 * t ** 2 - t ** 3 / 6.0) + 1.25 * (0.2 * t + 0.4 * t ** 3 / 3.0)


def flux_wall_rate(t: float) -> float:
    """d/dt of flux_wall_outflow: the mass per unit time leaving at t."""
    lo, hi = flux_wall_rates(t)
    return -lo + 1.25 * hi


def flux_wall_run(backend: str) -> tuple[Grid, Any]:
    """rho0 = mms_exact(0) on BOX, transport_velocity (it points out of the x = 2 wall: the Flux wall replaces
    the convective flux there), Flux walls in x, zero-flux walls in y, no source, limiter "none"."""
    g = Grid(*BOX, FLUX_WALLS["cells"])
    return g, solve_continuity(g, g.cell_averages(lambda x: mms_exact(0.0, x)), transport_velocity,
                               FLUX_WALLS["T"], boundary=FLUX_WALL_BOUNDARY, backend=backend, limiter="none")


def flux_wall_checks(runs: dict | None = None) -> list[Check]:
    """Per backend: max over steps |mass(t_n) - mass(0) + exact outflow(t_n)| / mass(0) (array: the integral of q;
    FiPy: the left Riemann sum of its explicit steps), and the solver's boundary_outflow against the same exact
    values. ``runs``: {backend: (grid, solution)} to check instead (a wrong one feeds the negative tests)."""
    runs = {b: flux_wall_run(b) for b in ("numpy", "fipy")} if runs is None else runs
    checks = []
    for backend, (g, sol) in runs.items():
        t = np.asarray(sol.mass_times)
        if backend == "fipy":
            exact = np.concatenate([[0.0], np.cumsum(np.diff(t) * np.array([flux_wall_rate(a) for a in t[:-1]]))])
            how = "left Riemann sum of q over FiPy's explicit steps"
        else:
            exact = flux_wall_outflow(t)
            how = "exact integral of q (SSP-RK3 = Simpson for q quadratic in t)"
        m0 = float(sol.mass[0])
        gap = np.asarray(sol.mass) - m0 + exact
        label = f"{backend} backend, Flux(q(t, x)) walls in x, zero flux in y"
        checks.append(make_check(f"{label}: max over steps |mass(t) − mass(0) + ∫∫q| / mass(0)",
                                 float(np.abs(gap).max()) / m0, upper=FIPY_BALANCE_TOL, reference=0.0,
                                 detail=f"{len(t) - 1} steps; {how}: {exact[-1]:.6f} by T"))
        out = np.asarray(sol.boundary_outflow) if sol.boundary_outflow is not None else np.full_like(t, np.nan)
        checks.append(make_check(f"{label}: max over steps |boundary_outflow − ∫∫q| / mass(0)",
                                 float(np.abs(out - exact).max()) / m0, upper=FIPY_BALANCE_TOL, reference=0.0))
    return checks


# prescribed outflow walls on the manufactured solution: Flux(rho v . n) of the exact solution on the upper walls
# (the flow leaves there), Dirichlet inflow on the lower ones: order 2 (unlimited, fit with the correction term, as
# for the inflow/outflow walls), the q of a wall applied to the wrong cells or with the wrong sign shows.
FLUX_MMS_SIZES = (16, 24, 32, 48, 64)
INFLOW_FLUX = [(Dirichlet(lambda t, x: mms_exact(t, x)),
                Flux(lambda t, x: mms_exact(t, x) * transport_velocity(t, x)[..., 0])),
               (Dirichlet(lambda t, x: mms_exact(t, x)),
                Flux(lambda t, x: mms_exact(t, x) * transport_velocity(t, x)[..., 1]))]


def check_flux_wall_order(sizes: tuple[int, ...] = FLUX_MMS_SIZES, boundary: Any = None, T: float = 0.5) -> Check:
    """L1 order (2 ± ORDER_BAND) of the unlimited array scheme with INFLOW_FLUX (or ``boundary``) walls against
    the manufactured solution."""
    errors = []
    for n in sizes:
        g, sol = transport_run(n, "none", boundary=INFLOW_FLUX if boundary is None else boundary, T=T)
        errors.append(grid_error(sol.to_numpy(), g.cell_averages(lambda x: mms_exact(T, x)), g.cell_volume))
    verdict = order_verdict(fit_order([BOX[1][0] / n for n in sizes], errors, correction=True), 2.0, ORDER_BAND)
    return _verdict_check("limiter none, Dirichlet inflow + Flux(ρ v·n) outflow walls: L1 order", verdict,
                          "errors " + ", ".join(f"{e:.3e}" for e in errors))


def check_time_dependent_inflow(solve: Callable = solve_continuity, T: float = 0.5) -> Check:
    """A wall value that changes in time under a velocity that does not: v = 1 on [0, 2] (40 cells), inflow
    Dirichlet g(t) = 1 + t at x = 0, zero flux at x = 2 (nothing reaches it by T). The mass gains exactly
    ∫_0^T v g dt = T + T²/2 (SSP-RK3 integrates the linear inflow exactly): |m(T) - m(0) - (T + T²/2)| over
    m(T), to 1e-12. Wall data frozen at t = 0 would give T."""
    grid = Grid((0.0,), (2.0,), (40,))
    rho0 = np.full(40, 0.1)
    sol = solve(grid, rho0, lambda t, x: np.ones_like(x), T,
                boundary=[(Dirichlet(lambda t, x: 1.0 + t + 0.0 * x[..., 0]), "zero-flux")])
    m0, m = grid.mass(rho0), grid.mass(sol.to_numpy())
    gain = T + 0.5 * T**2
    return make_check("1D, v = 1, inflow g(t) = 1 + t: mass gained vs ∫ v g dt = T + T²/2 (relative to the mass)",
                      abs(m - m0 - gain) / m, upper=1e-12, reference=0.0,
                      detail=f"gained {m - m0:.15g}, exact {gain:.15g}")


@case("continuity-walls-2d", title="Continuity with inflow (Dirichlet) and outflow walls: manufactured solution on a "
      "2:1 box, every limiter, the mass through the walls", tags=("eulerian", "continuity"))
def continuity_walls_2d(ctx: CaseContext) -> None:
    # unlimited, the errors approach C h^2 from above (pairwise orders 2.2-2.4 from N = 16): the fit with the
    # next term of the error expansion, C h^p (1 + a h^q), over 5-7 levels
    sizes = (16, 24, 32, 48, 64) if ctx.quick else (16, 24, 32, 48, 64, 96, 128)
    T = 0.5
    exact_out = transport_outflow(T)
    ctx.add(check_time_dependent_inflow())
    for limiter in LIMITERS:
        errors, outflow_errors = [], []
        for n in sizes:
            g, sol = transport_run(n, limiter)
            errors.append(grid_error(sol.to_numpy(), g.cell_averages(lambda x: mms_exact(T, x)), g.cell_volume))
            outflow_errors.append(abs(sol.boundary_outflow[-1] - exact_out))
        # limited slopes converge irregularly (clipping at extrema): a power law with a one-sided floor for them
        fit = fit_order([BOX[1][0] / n for n in sizes], errors, correction=limiter == "none")
        band = ORDER_BAND if limiter == "none" else (2.0 - LIMITED_ORDER_FLOOR, math.inf)
        ctx.add(_verdict_check(f"limiter {limiter}: L1 order", order_verdict(fit, 2.0, band),
                               "errors " + ", ".join(f"{e:.3e}" for e in errors)))
        ctx.check(f"limiter {limiter}: |outflow - exact| at N = {sizes[-1]} / at N = {sizes[0]}",
                  outflow_errors[-1] / outflow_errors[0], upper=(sizes[0] / sizes[-1]) ** LIMITED_ORDER_FLOOR,
                  detail=f"exact outflow {exact_out:.6f}; errors " + ", ".join(f"{e:.2e}" for e in outflow_errors))
    g, wrong = transport_run(32, "mc", boundary=[Outflow(), Outflow()])
    _, right = transport_run(32, "mc")
    exact = g.cell_averages(lambda x: mms_exact(T, x))
    ctx.check("outflow walls where mass flows in (negative check): L1 error / with the inflow values",
              grid_error(wrong.to_numpy(), exact, g.cell_volume) / grid_error(right.to_numpy(), exact, g.cell_volume),
              lower=10.0)
    # the FiPy backend (explicit, one stage, implicit wall outflow): its own order against the exact solution
    # (first order: the velocity and the source at the start of each step), the outflow, and the mass balance
    fipy_sizes = (8, 12, 16, 24) if ctx.quick else (8, 12, 16, 24, 32)
    for check in check_fipy_transport(fipy_sizes, [transport_fipy_run(n) for n in fipy_sizes], T):
        ctx.add(check)
    ctx.add_all(fipy_saved_checks())
    # the step size with open walls: their velocity enters the Courant number (the solver's dt and forced steps)
    ctx.add_all(wall_cfl_checks())
    # outflow through Dirichlet walls (FiPy): the walls' values must not count as outflow
    ctx.add_all(dirichlet_outflow_checks())
    # prescribed-flux walls: the exact mass balance (both backends) and the manufactured solution (array)
    ctx.add_all(flux_wall_checks())
    ctx.add(check_flux_wall_order())
