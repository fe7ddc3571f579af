"""Gaussian flow matching (Prop 3.1/3.2): marginals, the conditional-expectation field, end maps."""
from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

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
