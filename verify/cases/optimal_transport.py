"""Gaussian optimal transport (Prop 4.3): Brenier map, McCann geodesic, agreement with POT."""
from __future__ import annotations

import numpy as np

from verify import gaussian as G
from verify.cases._instances import random_gaussian
from verify.checks import (ROUNDOFF, check_continuity, check_geodesic, check_kinetic_energy,
                           check_pushforward, check_samples_match, check_symmetric_pd,
                           path_derivative)
from verify.harness import CaseContext, case
from verify.metrics import relative_error

DIMS = (1, 2, 3)
PAIRS = ((0.0, 1.0), (0.0, 0.25), (0.2, 0.7), (0.5, 0.9), (0.9, 0.3))
TIMES = (0.1, 0.35, 0.5, 0.8, 0.95)


@case("brenier-pushforward", title="Brenier map pushes g0 to g1 and is the gradient of a convex map",
      tags=("gaussian", "ot"))
def brenier_pushforward(ctx: CaseContext) -> None:
    rng = ctx.rng("instances")
    n = 20_000 if ctx.quick else 200_000
    for d in DIMS:
        g0, g1 = random_gaussian(d, rng), random_gaussian(d, rng)
        T = G.brenier_map(g0, g1)
        ctx.add_all(check_pushforward(f"d={d}", T, g0, g1))
        ctx.add_all(check_symmetric_pd(f"d={d} Brenier matrix", T.matrix))
        x = T(g0.sample(n, ctx.rng(f"samples-{d}")))
        ctx.add_all(check_samples_match(f"d={d} Monte Carlo T(X0)", x, g1))


@case("mccann-geodesic", title="McCann interpolation: constant-speed geodesic, energy W2², "
      "least-squares field", tags=("gaussian", "ot"))
def mccann_geodesic(ctx: CaseContext) -> None:
    rng = ctx.rng("instances")
    for d in DIMS:
        g0, g1 = random_gaussian(d, rng), random_gaussian(d, rng)
        dist = G.w2(g0, g1)
        path = lambda t, g0=g0, g1=g1: G.mccann(g0, g1, t)
        field = lambda t, g0=g0, g1=g1: G.mccann_field(g0, g1, t)
        scale = np.trace(g0.cov) + np.trace(g1.cov)
        ctx.check(f"d={d}: endpoints",
                  max(G.w2_squared(path(0.0), g0), G.w2_squared(path(1.0), g1)) / scale,
                  upper=ROUNDOFF, detail="W2²(μ0, g0), W2²(μ1, g1) relative to tr Σ0 + tr Σ1")
        ctx.add(check_geodesic(f"d={d}", path, dist, PAIRS))
        ctx.add(check_kinetic_energy(f"d={d} McCann field", field, path, dist ** 2))
        ctx.add(check_continuity(f"d={d} McCann field", field, path, TIMES))
        # the geodesic velocity is the least-squares (gradient) field of its own path (Eqs. 4-6)
        worst = 0.0
        for t in TIMES:
            dm, dc = path_derivative(path, t)
            ls = G.least_squares_field(path(t), dm, dc)
            worst = max(worst, relative_error(ls.matrix, field(t).matrix),
                        float(np.linalg.norm(ls.offset - field(t).offset)))
        ctx.check(f"d={d}: McCann field = least-squares field", worst, upper=1e-8,
                  detail="path derivative by 4th-order differences")
    ctx.series("W2(μ0, μt) / W2", [t for t in np.linspace(0, 1, 11)],
               [G.w2(G.mccann(g0, g1, 0.0), G.mccann(g0, g1, t)) / dist
                for t in np.linspace(0, 1, 11)], xlabel="t", ylabel="W2(μ0, μt)/W2(μ0, μ1)",
               label=f"d={d}")


@case("pot-gaussian", title="Agreement with POT's ot.gaussian (Bures–Wasserstein)",
      tags=("gaussian", "ot", "peer"))
def pot_gaussian(ctx: CaseContext) -> None:
    import ot

    rng = ctx.rng("instances")
    for d in DIMS:
        for k in range(3):
            g0, g1 = random_gaussian(d, rng), random_gaussian(d, rng)
            a_pot, b_pot = ot.gaussian.bures_wasserstein_mapping(g0.mean, g1.mean, g0.cov, g1.cov)
            T = G.brenier_map(g0, g1)
            ctx.check(f"d={d} #{k}: Brenier matrix vs POT", relative_error(T.matrix, a_pot),
                      upper=1e-9, detail="POT uses scipy.linalg.sqrtm; we use eigh")
            ctx.check(f"d={d} #{k}: Brenier offset vs POT",
                      relative_error(T.offset, np.ravel(b_pot)), upper=1e-9)
            dist_pot = float(ot.gaussian.bures_wasserstein_distance(g0.mean, g1.mean, g0.cov, g1.cov))
            ctx.check(f"d={d} #{k}: W2 vs POT", abs(G.w2(g0, g1) - dist_pot) / dist_pot,
                      upper=1e-9, reference=dist_pot)
