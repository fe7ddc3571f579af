"""Gaussian optimal transport (Prop 4.3): Brenier map, McCann geodesic, agreement with POT."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy import stats

import lagrangian as L
from verify import gaussian as G
from verify.cases._instances import random_gaussian
from verify.checks import (ROUNDOFF, check_continuity, check_geodesic, check_kinetic_energy,
                           check_pushforward, check_samples_match, check_symmetric_pd,
                           path_derivative)
from verify.harness import CaseContext, Check, case, make_check
from verify.metrics import relative_error, z_score_for

DIMS = (1, 2, 3)
PAIRS = ((0.0, 1.0), (0.0, 0.25), (0.2, 0.7), (0.5, 0.9), (0.9, 0.3))
TIMES = (0.1, 0.35, 0.5, 0.8, 0.95)


# ------------------------------------------------------------------------------------- sliced W2
SLICED_FALSE_ALARM = 1e-4
SLICED_N = 2000            # particles per cloud
SLICED_PROJECTIONS = 128
CIRCLE_NODES = 256         # midpoint rule on the half circle: the integrand is smooth and π-periodic (spectral)


def _half_circle(k: int = CIRCLE_NODES) -> np.ndarray:
    theta = np.pi * (np.arange(k) + 0.5) / k
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def sliced_w2_band(g0: G.Gaussian, g1: G.Gaussian, n: int, projections: int) -> tuple[float, float, float]:
    """(SW2²(g0, g1), bias, standard deviation) of the estimator sliced_w2(x, y)² for independent clouds x ~ g1 and
    y ~ g0 of n points each and ``projections`` uniform random directions, in 2D.

    Population: the projections of a Gaussian are Gaussian, θ·X ~ N(θ·m, θᵀΣθ), and the 1-D W2² between Gaussians
    is (θ·(m1 − m0))² + (s1 − s0)², s_k = sqrt(θᵀΣ_kθ): SW2² = E_θ of that over the circle (midpoint rule).
    Bias of the empirical 1-D W2² by sorting: with θ·x_(i) = a + s1 Z_(i), θ·y_(i) = b + s0 Z'_(i) (order statistics
    of independent standard normal samples), E mean_i (θ·x_(i) − θ·y_(i))² = (a − b)² + s1² + s0² − 2 s0 s1 mean_i α_i²,
    α_i = E Z_(i): bias 2 β_n E_θ[s0 s1], β_n = 1 − mean_i α_i² (Blom's α_i ≈ Φ⁻¹((i − 3/8)/(n + 1/4)); it gives
    β_2000 = 0.0023 against 0.0016 by quadrature, a 0.02-sd difference here).
    Spread: directions, Var_θ(w)/P with w(θ) the population 1-D W2²; samples, the delta method on the formula
    at the sample moments (sorting couples the quantiles, so to first order the sliced W2² of the clouds moves like
    SW2² of their Gaussians with the sample mean and covariance): Var = [aᵀ(Σ0 + Σ1)a + 2 tr(B1Σ1B1Σ1) +
    2 tr(B0Σ0B0Σ0)]/n, a = E_θ[2(θ·Δm)θ], B1 = E_θ[(1 − s0/s1)θθᵀ], B0 = E_θ[(1 − s1/s0)θθᵀ]. Over 1500 seeds each of
    4 random pairs at n = 2000, P = 128, (value − SW2² − bias)/sd had mean −0.08 … 0.00, standard deviation 0.98 and
    P(|z| > 3.5) = 3.3e-4 (normal: 4.7e-4); over 300 seeds of 3 pairs at n = 500 … 20 000, P = 32 … 128, its standard
    deviation was 0.99 … 1.06."""
    dirs = _half_circle()
    dm = dirs @ (g1.mean - g0.mean)
    s0 = np.sqrt(np.einsum("ki,ij,kj->k", dirs, g0.cov, dirs))
    s1 = np.sqrt(np.einsum("ki,ij,kj->k", dirs, g1.cov, dirs))
    w = dm**2 + (s1 - s0) ** 2
    outer = dirs[:, :, None] * dirs[:, None, :]
    a = np.mean(2 * dm[:, None] * dirs, axis=0)
    b1 = np.mean((1 - s0 / s1)[:, None, None] * outer, axis=0)
    b0 = np.mean((1 - s1 / s0)[:, None, None] * outer, axis=0)
    var_samples = (a @ (g0.cov + g1.cov) @ a + 2 * np.trace(b1 @ g1.cov @ b1 @ g1.cov)
                   + 2 * np.trace(b0 @ g0.cov @ b0 @ g0.cov)) / n
    i = np.arange(1, n + 1)
    beta = 1.0 - float(np.mean(stats.norm.ppf((i - 0.375) / (n + 0.25)) ** 2))
    return float(w.mean()), 2 * beta * float(np.mean(s0 * s1)), float(np.sqrt(var_samples + w.var() / projections))


def check_sliced_w2(name: str, x: np.ndarray, y: np.ndarray, gx: G.Gaussian, gy: G.Gaussian,
                    rng: np.random.Generator, *, projections: int = SLICED_PROJECTIONS,
                    false_alarm: float = SLICED_FALSE_ALARM, sliced: Callable = L.sliced_w2) -> Check:
    """sliced_w2(x, y)² for independent 2-D clouds x ~ gx, y ~ gy (n points each) against the exact sliced W2² of the
    Gaussians plus the sorting bias, in standard deviations of the estimator (:func:`sliced_w2_band`): two-sided at
    ``false_alarm``. A distance returned squared, directions not normalised or not uniform, or a missing average
    moves it by ≥ 10 standard deviations here."""
    ref, bias, sd = sliced_w2_band(gy, gx, x.shape[0], projections)
    if not sd > 0:
        raise ValueError("check_sliced_w2 needs two different Gaussians: for equal laws the estimator is not "
                         "asymptotically normal (its spread vanishes to first order)")
    value = float(sliced(x, y, projections=projections, rng=rng)) ** 2
    return make_check(f"{name}: sliced_w2² vs exact sliced W2² of the Gaussians (standard deviations)",
                      (value - ref - bias) / sd, lower=-z_score_for(false_alarm), upper=z_score_for(false_alarm),
                      reference=0.0, standard_error=1.0, false_alarm=false_alarm,
                      detail=f"sliced_w2² = {value:.5f}, exact {ref:.5f} + sorting bias {bias:.5f}, sd {sd:.5f} "
                             f"(n = {x.shape[0]}, {projections} projections)")


def check_sliced_w2_1d(name: str, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *,
                       sliced: Callable = L.sliced_w2) -> Check:
    """In 1D every direction is ±1, so sliced_w2 equals W2 exactly: against sqrt(mean (sort x − sort y)²) and w2
    (relative, round-off)."""
    direct = float(np.sqrt(np.mean((np.sort(x[:, 0]) - np.sort(y[:, 0])) ** 2)))
    value = float(sliced(x, y, projections=16, rng=rng))
    err = max(abs(value - direct), abs(value - L.w2(x, y))) / direct
    return make_check(f"{name}: sliced_w2 = W2 in 1D (relative)", err, upper=ROUNDOFF,
                      detail=f"sliced {value:.10f}, sorted samples {direct:.10f}")


def check_read_only(name: str, *objects: G.Gaussian | G.Affine) -> Check:
    """Gaussian laws and affine maps are documented immutable: their mean, cov, matrix and offset arrays are
    read-only, so a law cannot change under a cached Cholesky factor. The value is the number of writeable
    arrays, which must be 0."""
    arrays = {f"{type(o).__name__} {i}.{a}": getattr(o, a) for i, o in enumerate(objects)
              for a in ("mean", "cov", "matrix", "offset") if hasattr(o, a)}
    writeable = [k for k, a in arrays.items() if a.flags.writeable]
    return make_check(f"{name}: writeable arrays of the laws and maps (documented read-only)", float(len(writeable)),
                      upper=0.0, reference=0.0, detail=", ".join(writeable) or f"{len(arrays)} arrays read-only")


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
        ctx.add(check_read_only(f"d={d} g0, g1 and their Brenier map", g0, g1, T))
        x = T(g0.sample(n, ctx.rng(f"samples-{d}")))
        ctx.add_all(check_samples_match(f"d={d} Monte Carlo T(X0)", x, g1))
        # sliced W2 between the pushed particles and an independent sample of g0
        if d == 1:
            ctx.add(check_sliced_w2_1d("d=1 T(X0) vs X0'", x[:SLICED_N], g0.sample(SLICED_N, ctx.rng("sliced-1")),
                                       ctx.rng("directions-1")))
        elif d == 2:
            ctx.add(check_sliced_w2("d=2 T(X0) vs X0'", x[:SLICED_N], g0.sample(SLICED_N, ctx.rng("sliced-2")), g1,
                                    g0, ctx.rng("directions-2")))


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


def check_empirical_w2(name: str, x: np.ndarray, y: np.ndarray, wx: np.ndarray, wy: np.ndarray,
                       w2_squared: Callable = L.w2_squared) -> Check:
    """lagrangian.w2_squared of weighted clouds against POT's exact linear program ot.emd2 on the squared-distance
    cost, relative. In 1D twinflow sorts (an independent computation); in nD it calls POT too, so there the check
    covers what the wrapper adds: the weights, the cost matrix and the units."""
    import ot

    ref = float(ot.emd2(wx, wy, ot.dist(x, y)))
    got = w2_squared(x, y, weights_x=wx, weights_y=wy)
    return make_check(f"{name}: w2_squared vs ot.emd2 (relative)", abs(got - ref) / ref, upper=1e-10,
                      reference=ref, detail=f"w2_squared {got:.12g}, ot.emd2 {ref:.12g}")


def check_weighted_w2(name: str, x: np.ndarray, y: np.ndarray, wx: np.ndarray, wy: np.ndarray,
                      w2: Callable = L.w2) -> Check:
    """lagrangian.w2 (the distance, in the units of x) of clouds of different sizes with non-uniform weights on both
    sides against sqrt of POT's exact linear program ot.emd2 with those weights on the squared-distance cost,
    relative (round-off; measured 1.4e-15 in 1D, 0 in 2D, at most 4.8e-15 over 200 seeds of the pot-gaussian clouds).
    In 1D twinflow merges quantile functions (independent of the LP). Either side's weights taken as uniform moved
    the distance by at least 2.9e-5 relative over those seeds (typically percents)."""
    import ot

    ref = math.sqrt(float(ot.emd2(wx, wy, ot.dist(x, y))))
    got = float(w2(x, y, weights_x=wx, weights_y=wy))
    return make_check(f"{name}: w2 with weights_x and weights_y vs sqrt(ot.emd2) (relative)", abs(got - ref) / ref,
                      upper=1e-10, reference=0.0, detail=f"w2 {got:.12g}, sqrt(ot.emd2) {ref:.12g}")


def check_repeated_points(name: str, x: np.ndarray, y: np.ndarray, counts: np.ndarray,
                          w2_squared: Callable = L.w2_squared) -> Check:
    """Integer weights are the same measure as repeated points: w2_squared(x, y, weights_x = counts / sum) must
    equal w2_squared(repeat(x, counts), y)."""
    weighted = w2_squared(x, y, weights_x=counts / counts.sum())
    repeated = w2_squared(np.repeat(x, counts, axis=0), y)
    return make_check(f"{name}: weights vs repeated points (relative)", abs(weighted - repeated) / repeated,
                      upper=1e-10, reference=repeated)


# identical laws where the Bures formula through matrix square roots is far from exact: a correlation of 0.999999
# (A - I of 5.5e-6), spreads 1e5 and 1e-5 on two axes, covariances near 1e300 and 1e-300
EXTREME_COVARIANCES = (np.array([[1.0, 0.999999], [0.999999, 1.0]]), np.diag([1e5, 1e-5]),
                       1e300 * np.array([[2.0, 0.3], [0.3, 1.0]]), 1e-300 * np.array([[2.0, 0.3], [0.3, 1.0]]))


def check_identical_gaussians(rng: np.random.Generator, dims: tuple[int, ...] = DIMS, per_dim: int = 3) -> Check:
    """W2(g, g) = W2²(g, g) = 0 exactly, as :func:`verify.gaussian.w2_squared` documents, and the Brenier map of g to
    itself exactly the identity (matrix I, offset 0), for random Gaussians and those of EXTREME_COVARIANCES
    (covariances given as equal copies, not the same object). Reference: 0, tolerance 0 — the Bures formula
    evaluated through matrix square roots leaves a rounding residue of ~1e-16 (W2 ~1e-8) for most covariances,
    more for ill-conditioned ones, so only catching identical covariances gives the exact zero."""
    laws = [(f"d={d} #{k}", random_gaussian(d, rng)) for d in dims for k in range(per_dim)]
    laws += [(f"extreme #{k}", G.Gaussian([0.5, -1.0], cov)) for k, cov in enumerate(EXTREME_COVARIANCES)]
    worst, where = 0.0, ""
    for label, g in laws:
        twin = G.Gaussian(g.mean.copy(), g.cov.copy())
        try:
            T = G.brenier_map(g, twin)
            identity = max(float(np.abs(T.matrix - np.eye(g.dim)).max()), float(np.abs(T.offset).max()))
        except ValueError:
            identity = math.inf
        for name, value in (("W2²", G.w2_squared(g, twin)), ("W2", G.w2(g, twin)), ("Brenier map − id", identity)):
            if abs(value) > worst or not where:
                worst, where = abs(value), f"largest: {name} in {label}"
    return make_check(f"identical Gaussians ({len(laws)}, d in {list(dims)} and {len(EXTREME_COVARIANCES)} extreme "
                      "covariances): W2, W2² and the Brenier map's distance from the identity exactly 0", worst,
                      upper=0.0, reference=0.0, detail=where)


@case("pot-gaussian", title="Agreement with POT's ot.gaussian (Bures–Wasserstein) and ot.emd2 (empirical W2)",
      tags=("gaussian", "ot", "peer"))
def pot_gaussian(ctx: CaseContext) -> None:
    import ot

    rng = ctx.rng("clouds")
    for d, (n, m) in ((1, (50, 70)), (2, (40, 60))):   # 1D: the sorting path; 2D: the linear program
        x, y = rng.standard_normal((n, d)), 1.5 * rng.standard_normal((m, d)) + 0.5
        wx, wy = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m))
        ctx.add(check_empirical_w2(f"d={d}, {n} and {m} weighted points", x, y, wx, wy))
        ctx.add(check_weighted_w2(f"d={d}, {n} and {m} weighted points", x, y, wx, wy))  # ≤ 4.8e-15 (400 seeds)
        ctx.add(check_repeated_points(f"d={d}", x[:12], y, rng.integers(1, 5, 12)))

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
    ctx.add(check_identical_gaussians(ctx.rng("identical")))
