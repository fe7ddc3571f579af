"""Positive, conservative finite volumes for nonlinear diffusion  ∂ρ/∂t = D Δ(ρ^m) + div(ρ ∇V),  m > 1.

The equation is the Wasserstein gradient flow of the free energy E(ρ) = ∫ D ρ^m/(m-1) + V ρ dx and is written
as a continuity equation with the velocity -∇ξ of the first variation ξ = δE/δρ::

    ∂ρ/∂t + div(ρ u) = 0,   u = -∇ξ,   ξ = D m/(m-1) ρ^(m-1) + V.

Space (the finite-volume scheme of Bailo, Carrillo & Hu, "Fully discrete positivity-preserving and
energy-dissipating schemes for aggregation-diffusion equations with a gradient flow structure", Commun. Math.
Sci. 18 (2020), arXiv:1811.11502): cell averages on an eulerian.Grid, ξ_i at cell centres (V evaluated at
the centres), on every interior face along axis k (cells L = i, R = i + 1)::

    u_{i+1/2} = -(ξ_R - ξ_L) / h_k,   F_{i+1/2} = ρ^E_L max(u, 0) + ρ^W_R min(u, 0),
    dρ_L/dt -= F / h_k,  dρ_R/dt += F / h_k,

with the face values ρ^E_i = ρ_i + s_i/2 (east, upper face) and ρ^W_i = ρ_i - s_i/2 (west) of

    reconstruction="muscl"   s_i = minmod(ρ_{i+1} - ρ_i, ρ_i - ρ_{i-1}) (zero at the walls)   (default; BCH's
                             second-order scheme: 0 <= ρ^E, ρ^W <= 2 ρ_i)
    reconstruction="upwind"  s_i = 0 (BCH's first-order scheme)

Zero-flux walls drop the boundary faces, so the total mass sum(ρ) h^d is conserved to round-off. The
semi-discrete schemes keep ρ ≥ 0, and the first-order one provably dissipates the discrete free energy
E_h = Σ_i (D ρ_i^m/(m-1) + V_i ρ_i) h^d (shown by BCH). The solver records E_h after every step in
Solution.info["energy"]; the report case checks that it never rises, for both reconstructions (for "muscl" this
is measured, not proven).
Orders, measured on Barenblatt profiles (m = 2, whose ρ has a kink at the edge of its support; report case
``porous-medium-barenblatt``): L1 error of "muscl" 1.96-1.99 (1D, N = 48-256) and 1.94 (2D, N = 16-64), of "upwind"
0.95 (1D, N = 32-128; first order). The minmod limiter clips the slope at extrema, so on other data expect
between 1 and 2.

Time (explicit; each stage is a forward-Euler step, so positivity carries over under the step condition)::

    euler     ρ^{n+1} = ρ^n + dt L(ρ^n)                                    (order 1)
    ssp-rk2   ρ* = ρ^n + dt L(ρ^n),  ρ^{n+1} = (ρ^n + ρ* + dt L(ρ*)) / 2   (Heun / SSP-RK2, order 2; default)

Step condition (checked for every stage): positivity of a forward-Euler stage needs dt · r_i ≤ 1 with the
outflow rate r_i = Σ_k (max(u_{k,i+1/2}, 0) + max(-u_{k,i-1/2}, 0)) / h_k ("upwind"), or
r_i = Σ_k 2 max(max(u_{k,i+1/2}, 0), max(-u_{k,i-1/2}, 0)) / h_k ("muscl", since ρ^E + ρ^W = 2 ρ_i); linear
stability of the linearised diffusion (diffusivity D m ρ^(m-1)) needs dt · 2 D m max ρ^(m-1) Σ_k 1/h_k² ≤ 1.
The solver takes dt = cfl / max(max_i r_i, 2 D m max ρ^(m-1) Σ_k h_k^-2) (so dt ∝ h², and the time error
O(dt) or O(dt²) is below the space error), or, with ``steps`` given, dt = t_final / steps and a CFLError when a
stage breaks the condition. Measured time orders (self-convergence, 1D N = 48): euler 1.00, ssp-rk2 2.02 (report case).
"""
from __future__ import annotations

import math
import time as _time
from typing import Any, Callable

import numpy as np

from . import _validate as v
from .backend import get_backend
from .continuity import check_step_count
from .errors import CFLError, NumericalError
from .grid import Grid
from .solution import SaveSchedule, Solution

__all__ = ["solve_porous_medium", "porous_medium_energy", "TIME_SCHEMES", "RECONSTRUCTIONS", "BACKENDS",
           "MAX_STEPS", "TIME_ORDER", "SPACE_ORDER"]

TIME_SCHEMES = ("ssp-rk2", "euler")
RECONSTRUCTIONS = ("muscl", "upwind")
TIME_ORDER = {"euler": 1, "ssp-rk2": 2}
SPACE_ORDER = {"muscl": 2, "upwind": 1}  # L1 orders measured on Barenblatt profiles (module docstring)
BACKENDS = ("numpy", "cupy")
MAX_STEPS = 1_000_000  # default cap on the number of time steps (max_steps=)


def _sl(ndim: int, axis: int, start: Any, stop: Any) -> tuple:
    idx = [slice(None)] * ndim
    idx[axis] = slice(start, stop)
    return tuple(idx)


def _check_m(m: Any) -> float:
    m = v.check_real("m", m, "pass a real exponent m > 1")
    if not math.isfinite(m) or m <= 1.0:
        raise ValueError(f"m must be a finite exponent > 1 (porous-medium equation), got {m!r}; for m = 1 (heat "
                         "equation) use eulerian.fokker_planck.solve_fokker_planck")
    return m


def _check_potential(potential: Any, grid: Grid) -> np.ndarray | None:
    """V at the cell centres (NumPy, grid.shape) from a callable V(x), x (..., d) -> (...)."""
    if potential is None:
        return None
    if not callable(potential):
        raise TypeError("potential must be None or a callable V(x) taking points (..., d) and returning (...)")
    out = v.real_output("potential(x)", potential(grid.centers()))
    out = np.asarray(out)
    if out.dtype.kind not in "biuf":
        raise TypeError(f"potential(x) must return real numbers, got dtype {out.dtype}")
    if out.shape not in ((), grid.shape):
        raise ValueError(f"potential(x) must return one value per point: shape {grid.shape} for the cell centres "
                         f"(..., d={grid.dim}); got shape {out.shape}")
    out = np.broadcast_to(np.asarray(out, dtype=float), grid.shape).copy()
    if not np.all(np.isfinite(out)):
        raise ValueError("potential(x) returned NaN or infinite values at cell centres; V must be finite on the grid")
    return out


def _check_scale(grid: Grid, rho: np.ndarray, m: float, D: float, V: np.ndarray | None, name: str,
                 fluxes: bool = True) -> None:
    """ValueError, before any work, when the largest density makes the energy Σ (D ρ^m/(m-1) + V ρ) h^d or (with
    ``fluxes``) the scheme's rates of change overflow float64. With ξ = D m/(m-1) ρ^(m-1) + V, |ξ| <= ξ_max and
    face values <= 2ρ, every flux divergence is bounded by 8 d ρ_max ξ_max / h_min² (module docstring), and the
    rate of the step condition (outflow per unit density: velocities |Δξ| / h <= 2 ξ_max / h) by 4 d ξ_max / h_min²,
    which a steep potential can overflow at any density."""
    rmax = float(rho.max())
    vmax = 0.0 if V is None else float(np.abs(V).max())
    hmin = min(grid.spacing)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        pm = np.float64(rmax) ** m
        energy = (D / (m - 1.0) * pm + vmax * rmax) * grid.size * max(1.0, grid.cell_volume)
        rate = 8.0 * grid.dim * (D * m / (m - 1.0) * pm + vmax * rmax) / (hmin * hmin)
        step_rate = 4.0 * grid.dim * (D * m / (m - 1.0) * np.float64(rmax) ** (m - 1.0) + vmax) / (hmin * hmin)
    if not (np.isfinite(energy) and (not fluxes or (np.isfinite(rate) and np.isfinite(step_rate)))):
        pot = f", potential V up to {vmax:.3g}" if V is not None else ""
        raise ValueError(f"{name} up to {rmax:.3g} with m = {m:g}, diffusion = {D:g}{pot} makes the free energy, the "
                         f"fluxes ~ D m/(m-1) {name}^m / h² or the step condition's rate ~ (D m/(m-1) {name}^(m-1) + "
                         f"|V|) / h² overflow float64 (h = {hmin:.3g}); rescale {name} (mass units), diffusion or the "
                         "potential")


def porous_medium_energy(grid: Grid, rho: Any, m: float, *, diffusion: float = 1.0,
                         potential: Any = None) -> float:
    """Discrete free energy E_h = Σ_i (D ρ_i^m / (m-1) + V(x_i) ρ_i) · cell_volume (V at cell centres).

    rho : cell averages (grid.shape, NumPy or CuPy), >= 0; potential : None or callable V(x) -> (...).
    ValueError (naming rho) when the energy would overflow float64.
    """
    grid = v.check_grid(grid)
    m = _check_m(m)
    D = v.check_positive("diffusion", diffusion)
    r = v.check_density(grid, rho, "rho")
    V = _check_potential(potential, grid)
    _check_scale(grid, r, m, D, V, "rho", fluxes=False)
    e = D * float(np.sum(r ** m)) / (m - 1.0)
    if V is not None:
        e += float(np.sum(V * r))
    return e * grid.cell_volume


def solve_porous_medium(
    grid: Grid,
    rho0: Any,
    m: float,
    t_final: float,
    *,
    diffusion: float = 1.0,
    potential: Callable | None = None,
    time: str = "ssp-rk2",
    reconstruction: str = "muscl",
    cfl: float = 0.5,
    steps: int | None = None,
    save_at: Any = None,
    backend: str = "numpy",
    max_steps: int | None = MAX_STEPS,
) -> Solution:
    """Advance ∂ρ/∂t = D Δ(ρ^m) + div(ρ∇V) from t = 0 to t_final with zero-flux walls (module docstring).

    Parameters
    ----------
    grid : Grid (1-3 D; the flux loop is dimension-independent, tested in 1D and 2D).
    rho0 : cell averages, shape grid.shape, >= 0 with positive mass (or a callable f(x) -> (...), averaged).
    m : exponent > 1 (ValueError for m <= 1).
    t_final : final time > 0 (same units as the equation: no rescaling).
    diffusion : D > 0, the factor of Δ(ρ^m).
    potential : None (pure porous medium) or V(x), x (..., d) -> (...), real; evaluated once at cell centres
        (the drift is -∇V, a confining V pulls mass towards its minima).
    time : "ssp-rk2" (default, order 2) or "euler" (order 1).
    reconstruction : "muscl" (default, minmod slopes, second order away from extrema) or "upwind" (first order).
    cfl : safety factor in (0, 1] of the step condition (module docstring), default 0.5.
    steps : None (the solver picks dt from the step condition at every step) or a forced number of equal steps
        (CFLError when a stage breaks the condition dt <= 1 / max(...) itself, cfl = 1: pass more steps or
        steps=None).
    save_at : increasing times in [0, t_final]; steps are shortened to land on them (with ``steps`` given they
        must be multiples of dt).
    backend : "numpy" or "cupy" (one array code path).
    max_steps : cap on the number of steps (default MAX_STEPS; None: no cap). The count is estimated before
        stepping from the step condition at t = 0 (ValueError beyond the cap, naming the estimate); a run that
        reaches the cap later (the condition tightened) raises ValueError too.

    Returns an eulerian.Solution: its info holds the scheme, the step condition, ``energy`` (E_h after every
    step, NumPy array aligned with ``mass``) and ``dt_min`` / ``dt_max``. The mass is checked after every step
    against the initial mass (NumericalError beyond step × eulerian._validate.MASS_RTOL, which a conservative
    flux never reaches); a non-finite or negative density raises NumericalError. Before any step, ValueError when
    rho0 is so large that the energy or the fluxes ~ D m/(m-1) ρ^m / h² would overflow float64, or rho0 or the
    potential so large that the step condition's rate ~ (D m/(m-1) ρ^(m-1) + |V|) / h² would.
    """
    grid = v.check_grid(grid)
    backend_name = v.backend_name(backend, BACKENDS)
    m = _check_m(m)
    t_final = v.check_positive("t_final", t_final)
    D = v.check_positive("diffusion", diffusion)
    time = v.check_choice("time", time, TIME_SCHEMES)
    reconstruction = v.check_choice("reconstruction", reconstruction, RECONSTRUCTIONS)
    muscl = reconstruction == "muscl"
    cfl = v.check_positive("cfl", cfl)
    if cfl > 1.0:
        raise ValueError(f"cfl must be in (0, 1] (beyond 1 a forward-Euler stage can make cells negative), got {cfl}")
    if steps is not None:
        steps = v.check_steps(steps)
    if max_steps is not None:
        max_steps = v.check_steps(max_steps, "max_steps")
    rho_init = v.check_density(grid, rho0)
    V_host = _check_potential(potential, grid)
    _check_scale(grid, rho_init, m, D, V_host, "rho0")
    save = v.check_save_at(save_at, t_final)
    if steps is not None and save is not None:
        kk = save / (t_final / steps)
        if np.any(np.abs(kk - np.rint(kk)) > 1e-8 * np.maximum(1.0, kk)):
            raise ValueError(f"with steps given, save_at times must be multiples of dt = {t_final / steps:g}")
    be = get_backend(backend_name)
    xp = be.xp
    nd = grid.dim
    spacing = grid.spacing
    inv_h2 = sum(1.0 / h ** 2 for h in spacing)
    coef = D * m / (m - 1.0)
    V = None if V_host is None else be.asarray(V_host)

    def rhs_and_rate(rho: Any) -> tuple[Any, float]:
        """L(ρ) = -div_h F and the largest step allowed by the step condition (inf for a flat state)."""
        xi = coef * rho ** (m - 1.0)
        if V is not None:
            xi = xi + V
        out = xp.zeros_like(rho)
        rate = xp.zeros_like(rho)
        for k, h in enumerate(spacing):
            n = rho.shape[k]
            lo, hi = _sl(nd, k, 0, n - 1), _sl(nd, k, 1, n)
            u = -(xi[hi] - xi[lo]) / h
            up, um = xp.maximum(u, 0.0), xp.minimum(u, 0.0)
            if muscl:
                dr = xp.diff(rho, axis=k)
                zero = xp.zeros_like(rho[_sl(nd, k, 0, 1)])
                dp = xp.concatenate([dr, zero], axis=k)  # walls: zero one-sided difference
                dm = xp.concatenate([zero, dr], axis=k)
                slope = xp.where(dp * dm > 0, xp.sign(dp) * xp.minimum(xp.abs(dp), xp.abs(dm)), 0.0)  # minmod
                east, west = rho + 0.5 * slope, rho - 0.5 * slope
                F = east[lo] * up + west[hi] * um
                # outflow of cell i <= 2 rho_i max(u+ at its upper face, -u- at its lower face) / h
                # (east + west = 2 rho)
                half = xp.zeros_like(rho)
                half[lo] = up
                half[hi] = xp.maximum(half[hi], -um)
                rate += 2.0 * half / h
            else:
                F = rho[lo] * up + rho[hi] * um
                rate[lo] += up / h
                rate[hi] -= um / h
            out[lo] -= F / h
            out[hi] += F / h
        rmax = max(float(rate.max()), 2.0 * D * m * float(rho.max()) ** (m - 1.0) * inv_h2)
        return out, (1.0 / rmax if rmax > 0 else math.inf)

    rho = be.asarray(rho_init)
    _, dt_allowed0 = rhs_and_rate(rho)
    estimate = check_step_count(
        t_final, 1.0 / dt_allowed0, cfl, steps, save, max_steps, solver="solve_porous_medium",
        condition=f"the step condition dt <= cfl / max(outflow rate, 2 D m max rho^(m-1) sum_k h_k^-2) = "
                  f"{cfl * dt_allowed0:.3g} at t = 0, set by rho0, diffusion, m and the potential",
        remedy="shorten t_final or use a coarser grid")
    n_saved = 1 if save is None else len(save)
    v.check_memory(8.0 * grid.size * (n_saved + 6) + 64.0 * (estimate + 1),
                   f"solve_porous_medium: {n_saved} saved densities and work arrays of {grid.size} cells and "
                   f"histories of about {estimate + 1} values", "save fewer densities (save_at) or use fewer cells",
                   backend_name)

    def energy(r: Any) -> float:
        e = D * float(xp.sum(r ** m)) / (m - 1.0)
        if V is not None:
            e += float(xp.sum(V * r))
        return e * grid.cell_volume

    start = _time.perf_counter()
    mass0 = grid.mass(rho_init)
    t = 0.0
    masses, mass_times, energies = [mass0], [0.0], [energy(rho)]
    min_rho = float(rho_init.min())
    schedule = SaveSchedule(save, t_final, rho, lambda r: r.copy())
    dts: list[float] = []
    n = 0
    fix = "use a smaller cfl or more steps (or check the potential)"
    while t < t_final * (1 - 1e-14):
        if max_steps is not None and n >= max_steps:
            raise ValueError(f"solve_porous_medium reached max_steps={max_steps} at t = {t:g} < t_final = "
                             f"{t_final:g} (the step condition tightened after t = 0); pass a larger max_steps "
                             "(or None), or shorten t_final")
        L0, allowed = rhs_and_rate(rho)
        if steps is not None:
            dt = t_final / steps if n < steps - 1 else t_final - t
        else:
            dt = schedule.clip(t, cfl * allowed)

        def guard(dt_allowed: float, stage: str) -> None:
            if steps is not None and dt > dt_allowed * (1 + 1e-12):
                ratio = t_final / dt_allowed if dt_allowed > 0 else math.inf
                need = (f"steps >= {math.ceil(ratio)}" if ratio < 2.0 ** 62 else f"about {ratio:.3g} steps"
                        if math.isfinite(ratio) else "a shorter t_final")
                raise CFLError(f"forced dt = t_final/steps = {dt:g} breaks the step condition at t = {t:g} ({stage}: "
                               f"dt <= {dt_allowed:.3g}, module docstring of eulerian.porous_medium; the bound "
                               f"shrinks as h² / (D m max ρ^(m-1)): large rho0, diffusion or potential gradients "
                               f"need small steps); use {need} or steps=None")

        guard(allowed, "first stage")
        r1 = rho + dt * L0
        if time == "euler":
            rho = r1
        else:
            L1, allowed1 = rhs_and_rate(r1)
            guard(allowed1, "second stage")
            if steps is None and dt > allowed1 * (1 + 1e-12):
                # the second stage needs dt <= 1/rate(r1) for positivity: redo the step with a safe dt
                dt_new = cfl * min(allowed, allowed1)
                r1 = rho + dt_new * L0
                L1, allowed1 = rhs_and_rate(r1)
                dt = dt_new
                if dt > allowed1 * (1 + 1e-12):
                    raise NumericalError(f"solve_porous_medium: no positive SSP-RK2 step found at t = {t:g}; {fix}")
            rho = 0.5 * (rho + r1 + dt * L1)
        n += 1
        dts.append(dt)
        t = t_final if (steps is not None and n == steps) else t + dt
        mass = float(rho.sum()) * grid.cell_volume
        v.check_mass_balance("solve_porous_medium", mass, mass0, abs(mass0), n, t, fix)
        low = float(rho.min())
        if low < 0.0:
            raise NumericalError(f"solve_porous_medium: negative density {low:.3g} at step {n} (t = {t:g}); {fix}")
        masses.append(mass)
        mass_times.append(t)
        energies.append(energy(rho))
        min_rho = min(min_rho, low)
        schedule.record(t, rho)
    wall = _time.perf_counter() - start
    times, saved = schedule.result(rho)
    return Solution(
        grid=grid, times=times, density=rho, densities=saved, mass=np.array(masses),
        mass_times=np.array(mass_times), min_density=min_rho, steps=n, wall_time=wall, backend=be.name,
        info={"scheme": f"Bailo-Carrillo-Hu finite volumes, {reconstruction} reconstruction", "time": time,
              "reconstruction": reconstruction, "time_order": TIME_ORDER[time],
              "space_order": SPACE_ORDER[reconstruction], "m": m, "diffusion": D, "cfl": cfl,
              "boundary": "zero-flux", "energy": np.array(energies),
              "dt_min": float(min(dts)) if dts else math.nan, "dt_max": float(max(dts)) if dts else math.nan},
    )
