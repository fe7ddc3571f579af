"""Gaussian flow matching (Prop 3.1/3.2): marginals, the conditional-expectation field, end maps."""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.integrate import solve_ivp

import lagrangian as L
from verify import gaussian as G
from verify.cases._instances import commuting_pair, non_commuting_pair
from verify.checks import (ROUNDOFF, check_continuity, check_pushforward, check_regression_field,
                           check_samples_match, kinetic_energy)
from verify.harness import CaseContext, Check, case, make_check
from verify.metrics import relative_error

DIMS = (1, 2, 3)
TIMES = (0.1, 0.3, 0.5, 0.7, 0.9)


def integrate_flow_map(field, t1: float = 1.0) -> np.ndarray:
    """Flow-map matrix of an affine field path, dΦ/dt = A_t Φ, Φ(0) = I (DOP853, rtol 1e-12):
    an independent route to the end map."""
    d = field(0.0).dim

    def rhs(t, y):
        return (field(t).matrix @ y.reshape(d, d)).ravel()

    sol = solve_ivp(rhs, (0.0, t1), np.eye(d).ravel(), method="DOP853", rtol=1e-12, atol=1e-13)
    return sol.y[:, -1].reshape(d, d)


# The FM flow map at intermediate times against particles integrated along the FM field with RK4: global error
# C h⁴, C measured 0.01 … 0.06 (max over points of |ΔX| / (1 + max |X|), 18 random non-commuting pairs, d = 1, 2, 3;
# error ratios 16.0 … 17 per halving of h), so ≤ 2.4e-8 at h = 1/40; the tolerance 1e-6 is 40 times that.
FM_MAP_STEPS = 40
FM_MAP_TOL = 1e-6


def check_flow_map_vs_particles(name: str, g0: G.Gaussian, g1: G.Gaussian, x0: np.ndarray, *,
                                times: tuple[float, ...] = TIMES, steps: int = FM_MAP_STEPS,
                                flow_map: Callable = G.flow_matching_map,
                                integrate: Callable = L.integrate_ode) -> Check:
    """flow_matching_map(g0, g1, t) applied to the points x0 against the points pushed from 0 to t along the FM field
    v_t(z) = (m1 − m0) + A_t (z − m_t) (:func:`verify.gaussian.flow_matching_field`, the conditional expectation, an
    independent closed form) by lagrangian.integrate_ode (RK4, ``steps`` steps on [0, 1], save_at = ``times``).
    Value: max over t and points of |T_t(x0) − X_t| / (1 + max |X_t|) (units of x), against the RK4 bound FM_MAP_TOL."""
    def field(t, x):
        v = G.flow_matching_field(g0, g1, t)
        return x @ v.matrix.T + v.offset

    traj = integrate(field, x0, 0.0, 1.0, steps, method="rk4", save_at=list(times))
    errs = [float(np.abs(np.asarray(flow_map(g0, g1, t)(x0)) - xt).max()) / (1.0 + float(np.abs(xt).max()))
            for t, xt in zip(times, traj)]
    return make_check(f"{name}: FM flow map at t = {list(times)} vs particles along the FM field (RK4, relative)",
                      max(errs), upper=FM_MAP_TOL, reference=0.0,
                      detail=f"{x0.shape[0]} points, {steps} RK4 steps; errors by t "
                             + ", ".join(f"{e:.1e}" for e in errs))


def check_end_map_vs_brenier(name: str, g0: G.Gaussian, g1: G.Gaussian, *, commuting: bool) -> Check:
    """The FM end map equals the Brenier map iff Σ0Σ1 = Σ1Σ0: with commuting covariances the
    difference must be round-off; without, it must be visible (relative difference ≥ 1e-3)."""
    diff = relative_error(G.flow_matching_map(g0, g1, 1.0).matrix, G.brenier_map(g0, g1).matrix)
    if commuting:
        return make_check(f"{name}: FM end map = Brenier (commuting)", diff, upper=ROUNDOFF)
    return make_check(f"{name}: FM end map ≠ Brenier (non-commuting)", diff, lower=1e-3)


def energy_ordering(g0: G.Gaussian, g1: G.Gaussian) -> tuple[float, float, float, float]:
    """(W2², ∫tr(SΣS), ∫tr(AΣAᵀ), tr(Σ0 + Σ1)) along the centred FM path (Peyré 2025, Prop 3.2
    extras): a chain of inequalities."""
    c0, c1 = G.Gaussian(np.zeros(g0.dim), g0.cov), G.Gaussian(np.zeros(g1.dim), g1.cov)
    path = lambda t: G.flow_matching_marginal(c0, c1, t)
    fm = lambda t: G.flow_matching_field(c0, c1, t)

    def ls(t):
        dcov = -2 * (1 - t) * c0.cov + 2 * t * c1.cov
        return G.least_squares_field(path(t), np.zeros(g0.dim), dcov)

    return (G.w2_squared(c0, c1), kinetic_energy(ls, path, 40), kinetic_energy(fm, path, 40),
            float(np.trace(c0.cov + c1.cov)))


@case("flow-matching-closed-form", title="Flow matching: marginals, regression field, continuity, "
      "end map vs Brenier, energy ordering", tags=("gaussian", "flow-matching"))
def flow_matching_closed_form(ctx: CaseContext) -> None:
    rng = ctx.rng("instances")
    n = 20_000 if ctx.quick else 200_000
    for d in DIMS:
        g0, g1 = non_commuting_pair(d, rng)
        path = lambda t, g0=g0, g1=g1: G.flow_matching_marginal(g0, g1, t)
        field = lambda t, g0=g0, g1=g1: G.flow_matching_field(g0, g1, t)
        ctx.add(check_continuity(f"d={d} FM field", field, path, TIMES))
        x0 = g0.sample(n, ctx.rng(f"x0-{d}"))
        x1 = g1.sample(n, ctx.rng(f"x1-{d}"))
        for t in (0.3, 0.7):
            zt = (1 - t) * x0 + t * x1
            ctx.add_all(check_samples_match(f"d={d} t={t} interpolant", zt, path(t)))
            ctx.add(check_regression_field(f"d={d} t={t}", field(t), zt, x1 - x0))
        end = G.flow_matching_map(g0, g1, 1.0)
        ctx.add_all(check_pushforward(f"d={d} FM end map", end, g0, g1))
        ctx.check(f"d={d}: FM end map vs integrated flow", relative_error(
            integrate_flow_map(field), end.matrix), upper=1e-9,
            detail="closed form vs DOP853 integration of dΦ/dt = A_t Φ at rtol 1e-12")
        # intermediate times (the end map is checked above): measured 8.7e-9 … 1.0e-8 (the RK4 error)
        ctx.add(check_flow_map_vs_particles(f"d={d}", g0, g1, g0.sample(5, ctx.rng(f"map-points-{d}"))))
        if d >= 2:
            ctx.add(check_end_map_vs_brenier(f"d={d}", g0, g1, commuting=False))
            ctx.add(check_end_map_vs_brenier(f"d={d}", *commuting_pair(d, rng), commuting=True))
            w2sq, e_ls, e_fm, e_ind = energy_ordering(g0, g1)
            gap = min(e_ls - w2sq, e_fm - e_ls, e_ind - e_fm) / e_ind
            ctx.check(f"d={d}: W2² ≤ ∫tr(SΣS) ≤ ∫tr(AΣAᵀ) ≤ tr(Σ0+Σ1)", gap, lower=-ROUNDOFF,
                      detail=f"{w2sq:.4g} ≤ {e_ls:.4g} ≤ {e_fm:.4g} ≤ {e_ind:.4g}")
            if d == 2:
                ts = np.linspace(0.0, 1.0, 21)
                ctx.series("asymmetry of A_t (d=2)", ts,
                           [np.linalg.norm(field(t).matrix - field(t).matrix.T) for t in ts],
                           xlabel="t", ylabel="‖A_t − A_tᵀ‖", label="non-commuting Σ0, Σ1")
