"""Exact laws of linear SDEs, attention dynamics (Thm 7.1) and linear networks (Prop 6.2)."""
from __future__ import annotations

import itertools
import math
from typing import Any, Callable

import numpy as np
from scipy.integrate import quad_vec, solve_ivp

from verify import gaussian as G
from verify.cases._instances import random_gaussian, random_spd, random_stable
from verify.checks import ROUNDOFF, check_samples_match, path_derivative
from verify.harness import CaseContext, Check, case, make_check
from verify.metrics import max_standardised_deviation, relative_error, z_score_for

DIMS = (1, 2, 3)


def sample_linear_sde_by_quadrature(g0: G.Gaussian, drift: G.Affine, diffusion, t: float, n: int,
                                    rng: np.random.Generator, *, noise_factor: float = 2.0) -> np.ndarray:
    """Exact draws of X_t for dX = (BX + c) dt + sqrt(2D) dW, independent of verify.gaussian's
    Van Loan route (eigendecomposition of B and adaptive quadrature): X_t = e^{Bt} X0 + ∫_0^t e^{Bs} c ds + ξ
    with Cov ξ = ∫_0^t e^{Bs} (2D) e^{Bᵀs} ds by adaptive quadrature (quad_vec, epsrel 1e-10).
    ``noise_factor`` 2 is the convention dX = sqrt(2D) dW; 1 would be the other (½Δ) convention."""
    b, c = drift.matrix, drift.offset
    d = g0.dim
    dmat = diffusion * np.eye(d) if np.ndim(diffusion) == 0 else np.asarray(diffusion)
    lam, vec = np.linalg.eig(b)  # e^{Bs} = V e^{Λs} V⁻¹ (random B is diagonalisable)
    vinv = np.linalg.inv(vec)

    def flow(s: float) -> np.ndarray:
        return ((vec * np.exp(lam * s)) @ vinv).real

    shift, _ = quad_vec(lambda s: flow(s) @ c, 0.0, t, epsrel=1e-10, epsabs=1e-13)
    noise, _ = quad_vec(lambda s: flow(s) @ (noise_factor * dmat) @ flow(s).T, 0.0, t,
                        epsrel=1e-10, epsabs=1e-13)
    noise = 0.5 * (noise + noise.T)
    x0 = g0.sample(n, rng)
    xi = rng.standard_normal((n, d)) @ np.linalg.cholesky(noise).T
    return x0 @ flow(t).T + shift + xi


def check_attention_map(name: str, gamma: G.Affine, g: G.Gaussian, Q, K, V, xs: np.ndarray,
                        scale: float, n: int, rng: np.random.Generator, *,
                        false_alarm: float = 1e-4) -> Check:
    """``gamma`` is the attention field of g: Γ[g](x) = V ∫e^{s⟨Qx,Ky⟩} y dg(y) / ∫e^{s⟨Qx,Ky⟩} dg(y)
    at the points xs (k, d), by self-normalised Monte Carlo on n draws of g with delta-method
    standard errors; Bonferroni over the k·d entries."""
    y = g.sample(n, rng)
    V = np.asarray(V, dtype=float)
    devs = []
    for x in np.atleast_2d(xs):
        logw = scale * (y @ np.asarray(K).T) @ (np.asarray(Q) @ x)
        w = np.exp(logw - logw.max())
        w /= w.sum()
        est = w @ y
        # delta method for the ratio estimator: Cov(est) ≈ Σ_i w_i² (y_i − est)(y_i − est)ᵀ
        wr = w[:, None] * (y - est)
        c = wr.T @ wr
        se_v = np.sqrt(np.diag(V @ c @ V.T))
        devs.append(max_standardised_deviation(V @ est, gamma(x), se_v))
    k = len(devs)
    return make_check(f"{name}: Γ[g](x) vs tilted Monte Carlo (standard errors)", max(devs),
                      upper=z_score_for(false_alarm, k * g.dim),
                      detail=f"n = {n}, {k} points, false-alarm rate {false_alarm:g}", standard_error=1.0,
                      false_alarm=false_alarm)


def gaussian_moments(g: G.Gaussian) -> tuple[list[tuple], np.ndarray]:
    """Monomials of degree 1-4 of X ~ g and their exact expectations, as (keys, values). Raw moments to degree 3,
    key (i, j, ...): E x_i = m_i, E x_i x_j = Σ_ij + m_i m_j, E x_i x_j x_k = m_i m_j m_k + m_i Σ_jk + m_j Σ_ik +
    m_k Σ_ij; central fourth moments by Isserlis, key ("c", i, j, k, l): E z_i z_j z_k z_l = Σ_ij Σ_kl + Σ_ik Σ_jl +
    Σ_il Σ_jk (z = x − m); in 1D also key ("x4",): E x⁴ = m⁴ + 6m²σ² + 3σ⁴."""
    m, S = g.mean, g.cov
    keys: list[tuple] = []
    exact: list[float] = []
    for deg in (1, 2, 3):
        for key in itertools.combinations_with_replacement(range(g.dim), deg):
            keys.append(key)
            if deg == 1:
                exact.append(m[key[0]])
            elif deg == 2:
                i, j = key
                exact.append(S[i, j] + m[i] * m[j])
            else:
                i, j, k = key
                exact.append(m[i] * m[j] * m[k] + m[i] * S[j, k] + m[j] * S[i, k] + m[k] * S[i, j])
    for i, j, k, l in itertools.combinations_with_replacement(range(g.dim), 4):
        keys.append(("c", i, j, k, l))
        exact.append(S[i, j] * S[k, l] + S[i, k] * S[j, l] + S[i, l] * S[j, k])
    if g.dim == 1:
        keys.append(("x4",))
        exact.append(m[0] ** 4 + 6 * m[0] ** 2 * S[0, 0] + 3 * S[0, 0] ** 2)
    return keys, np.array(exact, dtype=float)


def monomials(keys: list[tuple], center: np.ndarray) -> Callable:
    """f(x) on points (n, d) → (n, k): the monomials named by ``keys`` (see :func:`gaussian_moments`)."""
    def f(x: np.ndarray) -> np.ndarray:
        cols = []
        for key in keys:
            if key[0] == "c":
                cols.append(np.prod([(x - center)[..., k] for k in key[1:]], axis=0))
            elif key == ("x4",):
                cols.append(x[..., 0] ** 4)
            else:
                cols.append(np.prod([x[..., k] for k in key], axis=0))
        return np.stack(cols, axis=-1)
    return f


def check_gaussian_expectations(name: str, g: G.Gaussian, *, order: int = 3,
                                expectation: Callable = G.expectation) -> list[Check]:
    """verify.gaussian.expectation against exact Gaussian moments. (1) All monomials of degree ≤ 4 (raw moments to
    degree 3, central fourth moments by Isserlis, and E x⁴ in 1D) with ``order`` nodes per axis: Gauss–Hermite with
    k nodes is exact for degree ≤ 2k − 1, so order = 3 must reproduce them to round-off (order = 2 cannot: degree 4).
    (2) The moment generating function E e^{aᵀx} = e^{aᵀm + aᵀΣa/2} at the default 20 nodes (spectral accuracy on an
    entire function). Values: max |error| / max(1, |exact|)."""
    keys, exact = gaussian_moments(g)
    got = np.atleast_1d(expectation(g, monomials(keys, g.mean), order=order))
    poly = float(np.max(np.abs(got - exact) / np.maximum(1.0, np.abs(exact))))
    a = np.linspace(0.3, -0.2, g.dim)
    mgf = float(np.exp(a @ g.mean + 0.5 * a @ g.cov @ a))
    got_mgf = float(expectation(g, lambda x: np.exp(x @ a)))
    return [make_check(f"{name}: expectation (order {order}) of {len(keys)} monomials of degree ≤ 4 vs exact moments",
                       poly, upper=ROUNDOFF, detail="Σ + mmᵀ, third raw moments, Isserlis fourth central moments"),
            make_check(f"{name}: expectation of e^(aᵀx) vs e^(aᵀm + aᵀΣa/2) (relative)", abs(got_mgf - mgf) / mgf,
                       upper=ROUNDOFF, reference=mgf, detail=f"default order 20, a = {np.round(a, 3).tolist()}")]


HUGE_T = 1e308   # every entry of B t finite, but ‖B‖₁ t = 2e308 overflows: Van Loan's doubling count from logarithms


def check_law_at_huge_time(linear_sde: Any = None) -> Check:
    """linear_sde at t = 1e308 for a stable, non-normal B = [[-1, 0], [-1, -1]] (a column sum of 2, so ‖B‖₁ t
    overflows while B t does not) against the stationary law (G.stationary: -B⁻¹c and the Lyapunov solve, another
    computation): max |Δm|, |ΔΣ| relative to the stationary values, to round-off (1e-12). ``linear_sde``: another
    one, for the negative tests."""
    law = G.linear_sde if linear_sde is None else linear_sde
    drift, D = G.Affine([[-1.0, 0.0], [-1.0, -1.0]], [0.3, -0.2]), np.array([[0.5, 0.1], [0.1, 0.3]])
    inf = G.stationary(drift, D)
    try:
        late = law(G.Gaussian([1.0, 2.0], np.eye(2)), drift, D, HUGE_T)
        err = max(relative_error(late.mean, inf.mean), relative_error(late.cov, inf.cov))
        detail = f"mean {np.round(late.mean, 12).tolist()}, cov {np.round(late.cov, 12).tolist()}"
    except (ValueError, TypeError, ArithmeticError) as exc:
        err, detail = math.nan, f"{type(exc).__name__}: {exc}"
    return make_check(f"law at t = {HUGE_T:g} (‖B‖₁ t overflows, B t does not) vs the stationary law", err,
                      upper=1e-12, reference=0.0, detail=detail)


@case("linear-sde-laws", title="Linear SDE: exact law vs independent quadrature sampling, "
      "stationary law, moment ODE", tags=("gaussian", "sde"))
def linear_sde_laws(ctx: CaseContext) -> None:
    rng = ctx.rng("instances")
    n = 20_000 if ctx.quick else 200_000
    for d in DIMS:
        g0 = random_gaussian(d, rng)
        drift = G.Affine(random_stable(d, rng), rng.uniform(-1, 1, d))
        for diffusion, label in ((0.5, "D=0.5"), (random_spd(d, rng, low=0.2, high=1.0), "D SPD")):
            t = 0.7
            x = sample_linear_sde_by_quadrature(g0, drift, diffusion, t, n, ctx.rng(f"{d}{label}"))
            law = G.linear_sde(g0, drift, diffusion, t)
            ctx.add_all(check_samples_match(f"d={d} {label} t={t}", x, law))
            ctx.add_all(check_gaussian_expectations(f"d={d} {label} law at t={t}", law))
            # the law solves the moment ODE dm = Bm + c, dΣ = BΣ + ΣBᵀ + 2D (independent integration)
            y0 = np.concatenate([g0.mean, g0.cov.ravel()])

            def rhs(_t, y, drift=drift, diffusion=diffusion, d=d):
                dm, dc = G.linear_moment_rhs(drift, diffusion, y[:d], y[d:].reshape(d, d))
                return np.concatenate([dm, dc.ravel()])

            sol = solve_ivp(rhs, (0.0, 2.0), y0, method="DOP853", rtol=1e-12, atol=1e-13)
            exact = G.linear_sde(g0, drift, diffusion, 2.0)
            ctx.check(f"d={d} {label}: exact law vs moment ODE at t=2",
                      max(relative_error(sol.y[d:, -1].reshape(d, d), exact.cov),
                          relative_error(sol.y[:d, -1], exact.mean)), upper=1e-9,
                      detail="DOP853 at rtol 1e-12")
            inf = G.stationary(drift, diffusion)
            late = G.linear_sde(g0, drift, diffusion, 60.0)
            ctx.check(f"d={d} {label}: law at t=60 → stationary law",
                      relative_error(late.cov, inf.cov) + relative_error(late.mean, inf.mean),
                      upper=1e-9, detail="|e^{Bt}| ≤ e^{−30} at t = 60")
    ctx.add(check_law_at_huge_time())
    ts = np.linspace(0, 3, 31)
    ctx.series("OU variance", ts, [G.linear_sde(G.Gaussian([2.0], [[0.2]]), G.Affine([[-1.0]]),
                                                0.5, t).cov[0, 0] for t in ts],
               xlabel="t", ylabel="Var X_t", label="dX = −X dt + dW, X0 ~ N(2, 0.2)")


@case("attention-closed-form", title="Attention dynamics: tilt identity, 1D blow-up formula, "
      "blow-up detection", tags=("gaussian", "attention"))
def attention_closed_form(ctx: CaseContext) -> None:
    rng = ctx.rng("instances")
    n = 50_000 if ctx.quick else 400_000
    for d in (1, 2, 3):
        g = random_gaussian(d, rng, low=0.3, high=1.0)
        Q, K, V = (0.5 * rng.standard_normal((d, d)) for _ in range(3))
        s = 1.0 / np.sqrt(d)
        xs = rng.uniform(-1, 1, (3, d))
        ctx.add(check_attention_map(f"d={d}", G.attention_map(g, Q, K, V, s), g, Q, K, V, xs, s, n,
                                    ctx.rng(f"tilt-{d}")))
    # d = 1, V = Q = K = 1, μ = 0: dσ²/dt = 2sσ⁴, σ²(t) = σ0²/(1 − 2sσ0² t), t* = 1/(2sσ0²)
    for s, var0 in ((1.0, 1.0), (0.5, 0.8)):
        t_star = 1.0 / (2 * s * var0)
        ts = t_star * np.array([0.1, 0.5, 0.9, 0.99])
        errs = [abs(G.attention(G.Gaussian([0.0], [[var0]]), [[1.0]], [[1.0]], [[1.0]], t, scale=s
                                ).cov[0, 0] - var0 / (1 - 2 * s * var0 * t)) / (var0 / (1 - 2 * s * var0 * t))
                for t in ts]
        ctx.check(f"1D blow-up formula s={s} σ0²={var0}", max(errs), upper=1e-9,
                  detail="σ²(t) = σ0²/(1 − 2sσ0²t) up to 0.99 t*")
        try:
            G.attention(G.Gaussian([0.0], [[var0]]), [[1.0]], [[1.0]], [[1.0]], 2 * t_star, scale=s)
            ctx.check(f"blow-up detected s={s}", float("nan"), detail="no FiniteTimeBlowUp raised")
        except G.FiniteTimeBlowUp as err:
            ctx.check(f"blow-up time estimate s={s}", abs(err.blowup_time - t_star) / t_star,
                      upper=1e-3, reference=t_star, detail=str(err))
    ts = np.linspace(0, 0.49, 50)
    ctx.series("1D attention variance", ts,
               [G.attention(G.Gaussian([0.0], [[1.0]]), [[1.0]], [[1.0]], [[1.0]], t).cov[0, 0]
                for t in ts], xlabel="depth t", ylabel="σ²(t)", logy=True,
               label="σ0² = 1, blow-up at t* = 0.5")


def raw_moment_rhs(M: np.ndarray, S, r) -> np.ndarray:
    """dM/dt = −(B(M)M + MB(M)) for the raw second moment M = Σ + mmᵀ of the linear network's neurons,
    B(M) = [[0, h], [hᵀ, 0]], h = S M_{1:d, d+1} − r (Peyré 2025, Prop 6.2, written for M directly)."""
    d = M.shape[0] - 1
    h = S @ M[:d, d] - r
    b = np.zeros_like(M)
    b[:d, d] = h
    b[d, :d] = h
    return -(b @ M + M @ b)


def raw_moment_network(g0: G.Gaussian, S, r, t: float) -> np.ndarray:
    """Second moment M = Σ + m mᵀ of the linear network's neurons by the closed Riccati-type ODE
    dM/dt = −(B(M)M + MB(M)), B(M) = [[0, h], [hᵀ, 0]], h = S M_{1:d, d+1} − r (Peyré 2025, Prop 6.2):
    an independent formulation of :func:`verify.gaussian.linear_network`."""
    p = g0.dim

    def rhs(_t, y):
        return raw_moment_rhs(y.reshape(p, p), S, r).ravel()

    m0 = g0.cov + np.outer(g0.mean, g0.mean)
    sol = solve_ivp(rhs, (0.0, t), m0.ravel(), method="DOP853", rtol=1e-12, atol=1e-13)
    return sol.y[:, -1].reshape(p, p)


def check_network_rhs_raw_moments(name: str, g: G.Gaussian, S, r, *, rhs: Callable = G.linear_network_rhs) -> Check:
    """linear_network_rhs against the independent raw-moment form: the (dm, dΣ) it returns imply
    dM/dt = dΣ + dm mᵀ + m dmᵀ for M = Σ + mmᵀ, which must equal :func:`raw_moment_rhs` (relative, round-off)."""
    dm, dc = rhs(g.mean, g.cov, S, r)
    implied = dc + np.outer(dm, g.mean) + np.outer(g.mean, dm)
    ref = raw_moment_rhs(g.cov + np.outer(g.mean, g.mean), S, r)
    return make_check(f"{name}: linear_network_rhs vs the raw-moment Riccati right-hand side (relative)",
                      relative_error(implied, ref), upper=ROUNDOFF, detail="d(Σ + mmᵀ)/dt = dΣ + dm mᵀ + m dmᵀ")


def check_network_rhs_derivative(name: str, g0: G.Gaussian, S, r, times=(0.5, 1.5), *,
                                 rhs: Callable = G.linear_network_rhs, tol: float = 1e-7) -> Check:
    """linear_network_rhs is the time derivative of the law linear_network(g0, S, r, t): compare it, at the law of time
    t, with 4th-order central differences of the mean and covariance along the path (step 1e-3: truncation ~1e-12;
    the DOP853 solutions at rtol 1e-12 contribute ~1e-9; measured ≤ 3e-13). linear_network integrates this same
    right-hand side, so this checks the integration (time scale, packing of m and Σ), and the raw-moment check
    above the formula itself. Value: max over t of the relative residuals, as in verify.checks.check_continuity."""
    path = lambda t: G.linear_network(g0, S, r, t)  # noqa: E731
    worst = 0.0
    for t in times:
        dm, dc = path_derivative(path, t)
        g = path(t)
        fm, fc = rhs(g.mean, g.cov, S, r)
        worst = max(worst, float(np.linalg.norm(dm - fm)) / (1 + float(np.linalg.norm(dm))),
                    float(np.linalg.norm(dc - fc)) / (1 + float(np.linalg.norm(dc))))
    return make_check(f"{name}: linear_network_rhs vs d/dt of linear_network (relative)", worst, upper=tol,
                      detail=f"4th-order central differences, step 1e-3, t ∈ {list(times)}")


# A fixed 1D instance for the long-time check (fixed, not drawn: the time linear_network needs to detect that the flow
# has settled depends on the instance, see check_network_settled).
SETTLED_S = np.array([[1.3]])
SETTLED_R = np.array([0.4])
SETTLED_Y2 = 1.0
SETTLED_G0 = G.Gaussian([0.2, 0.3], [[0.25, 0.05], [0.05, 0.15]])
SETTLED_T = 1e12
SETTLED_TOL = 1e-12  # relative to 1 + |optimum|: round-off of the risk ½qᵀSq − rᵀq + ½E[y²] with O(1) terms


def check_network_settled(name: str, g0: G.Gaussian = SETTLED_G0, S=SETTLED_S, r=SETTLED_R, y2: float = SETTLED_Y2,
                          t: float = SETTLED_T, *, scale: float = 1.0, law: Callable = G.linear_network) -> Check:
    """The law at a huge time t (1e12: linear_network promises that any t is fast, stopping once the flow has
    settled) is the long-time limit of the gradient flow: its risk equals the least-squares optimum
    ½E[y²] − ½rᵀS⁻¹r (the risk exceeds it by exactly ½hᵀS⁻¹h, h = Sq − r, which the settled criterion makes
    ~1e-27): value risk − optimum, band ± 1e-12 (scale + |optimum|), the round-off of the risk. A solver that
    marches to t instead of stopping at the settled state (~1e-4 s per unit of time) never finishes. ``scale``
    multiplies S, r and E[y²] (data u scaled by its square root): the flow is the same, slower by that factor, and
    the settled test must scale with it (its noise floor is relative to |S q| + |r|; an absolute floor stops a
    flow on data scaled by 1e-6 while its risk is still 2.5e-8 above the optimum)."""
    S, r, y2 = scale * np.asarray(S, dtype=float), scale * np.asarray(r, dtype=float), scale * y2
    g = law(g0, S, r, t)
    optimum = 0.5 * y2 - 0.5 * float(r @ np.linalg.solve(S, r))
    tol = SETTLED_TOL * (scale + abs(optimum))
    return make_check(f"{name}: risk at t = {t:g} (settled) − least-squares optimum",
                      G.linear_network_risk(g, S, r, y2) - optimum, lower=-tol, upper=tol, reference=optimum,
                      detail=f"S = {np.asarray(S).tolist()}, r = {np.asarray(r).tolist()}, E[y²] = {y2:g}")


def check_network_fixed_point(name: str, *, law: Callable = G.linear_network) -> Check:
    """A start at the least-squares solution (q = E[a w] = S⁻¹r, so h = Sq − r = 0) is a fixed point of the flow:
    B_h = 0 makes both moment derivatives vanish (Prop 6.2), so the law at any time is g0 exactly. Here
    m = (q, 1) with no covariance between w and a, and r = S q computed as the law computes h, so h = 0 in
    float64 too. Value: the largest relative change of the moments at t = 5 (0 exactly)."""
    S = np.array([[2.0, 0.3], [0.3, 0.5]])
    q = np.array([0.4, -0.7])
    g0 = G.Gaussian(np.r_[q, 1.0], np.diag([0.2, 0.1, 0.3]))
    g = law(g0, S, S @ q, 5.0)
    return make_check(f"{name}: law at t = 5 vs its start (relative change)",
                      max(relative_error(g.mean, g0.mean), relative_error(g.cov, g0.cov)), upper=ROUNDOFF,
                      detail="h = Sq − r = 0: dm/dt = dΣ/dt = 0")


@case("linear-network-closed-form", title="Linear two-layer network: moment ODE, raw-moment "
      "closure, risk decreases to the least-squares optimum", tags=("gaussian", "network"))
def linear_network_closed_form(ctx: CaseContext) -> None:
    rng = ctx.rng("instances")
    for d in (1, 2, 3):
        u = rng.standard_normal((200, d))
        y = u @ rng.uniform(-1, 1, d) + 0.1 * rng.standard_normal(200)
        S, r, y2 = G.data_moments(u, y)
        g0 = G.Gaussian(np.r_[0.2 * rng.standard_normal(d), 0.3], 0.25 * np.eye(d + 1))
        g = G.linear_network(g0, S, r, 1.5)
        ctx.add(check_network_rhs_raw_moments(f"d={d} law at t=1.5", g, S, r))
        ctx.add(check_network_rhs_derivative(f"d={d}", g0, S, r))
        ctx.check(f"d={d}: second moment vs raw-moment Riccati ODE",
                  relative_error(g.cov + np.outer(g.mean, g.mean), raw_moment_network(g0, S, r, 1.5)),
                  upper=1e-9)
        ts = np.linspace(0.0, 20.0, 11)
        risks = [G.linear_network_risk(G.linear_network(g0, S, r, t), S, r, y2) for t in ts]
        optimum = 0.5 * y2 - 0.5 * r @ np.linalg.solve(S, r)
        ctx.check(f"d={d}: risk non-increasing", max(np.diff(risks)), upper=1e-12,
                  detail="max increase between consecutive times")
        ctx.check(f"d={d}: final risk − least-squares optimum", risks[-1] - optimum,
                  lower=-1e-12, upper=1e-6 * (1 + abs(optimum)), reference=optimum)
        if d == 2:
            ctx.series("risk", ts, np.array(risks) - optimum + 1e-16, xlabel="t",
                       ylabel="risk − optimum", logy=True, label="d = 2")
    ctx.add(check_network_settled("d=1 fixed instance"))
    ctx.add(check_network_settled("d=1 fixed instance, S, r and E[y²] scaled by 1e-6", scale=1e-6))
    ctx.add(check_network_fixed_point("d=2, q = S⁻¹r at t = 0"))
