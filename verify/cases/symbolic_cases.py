"""SymPy derivations (verify.symbolic) against the numeric closed forms (verify.gaussian).

Checks, each a pure function a test can feed a wrong input:
* the Gaussian closure of ∂ρ/∂t + div(ρ(Bx + c)) = div(D∇ρ) leaves an exactly zero residual
  (d = 1, 2, 3; scalar and matrix D) — :func:`check_closure_residual`;
* its lambdified right-hand sides equal ``verify.gaussian.linear_moment_rhs`` (and the attention
  closure ``attention_moment_rhs``) at random points to 1e-12 — :func:`check_rhs_agreement`;
* the attention tilt identity, symbolically and by Gauss–Hermite quadrature — :func:`check_tilt`;
* a manufactured source against central finite differences of the lambdified ρ and b: observed
  order 2 ± 0.2 — :func:`check_manufactured_source`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from verify import gaussian as G
from verify.harness import CaseContext, Check, case, make_check
from verify.metrics import observed_order
from verify.symbolic import (
    ManufacturedSolution,
    attention_closure,
    attention_tilt,
    closure_residual,
    gaussian_closure,
    manufactured_source,
)

RHS_TOL = 1e-12  # float64 evaluation of the same polynomial two ways: a few ulps of O(10) values
QUADRATURE_TOL = 1e-10  # 80-node Gauss–Hermite on an entire integrand with a moderate tilt
FD_STEPS = (4e-2, 2e-2, 1e-2)  # central differences, dyadic steps


def _spd(d: int, rng: np.random.Generator, low: float = 0.3, high: float = 3.0) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q = q * np.sign(np.diag(r))
    a = (q * np.exp(rng.uniform(np.log(low), np.log(high), d))) @ q.T
    return 0.5 * (a + a.T)


def _nonzero_terms(expr: sp.Expr) -> int:
    return 0 if expr == 0 else len(sp.Add.make_args(sp.expand(expr)))


def check_closure_residual(d: int, diffusion: str, mean_rhs: Callable | None = None,
                           cov_rhs: Callable | None = None) -> Check:
    """Number of non-zero terms of the exact PDE residual R/ρ of a Gaussian closure (must be 0).

    Without candidates, the derived closure of :func:`verify.symbolic.gaussian_closure` is used;
    ``mean_rhs(B, c, D, m, S)``/``cov_rhs(...)`` (SymPy matrices) substitute a candidate instead.
    """
    start = time.perf_counter()
    if mean_rhs is None and cov_rhs is None:
        cl = gaussian_closure(d, diffusion=diffusion)
        residual, how = cl.residual, "derived: dm = Bm + c, dΣ = BΣ + ΣBᵀ + 2D"
    else:
        residual, how = closure_residual(d, mean_rhs, cov_rhs, diffusion=diffusion), "candidate"
    return make_check(f"d={d} D {diffusion}: closure residual terms (exact)", _nonzero_terms(residual),
                      upper=0, detail=f"{how}; SymPy exact cancellation",
                      seconds=time.perf_counter() - start)


def linear_instance(d: int, diffusion: str, rng: np.random.Generator):
    B = rng.standard_normal((d, d))
    c, m = rng.standard_normal(d), rng.standard_normal(d)
    S = _spd(d, rng)
    D = float(rng.uniform(0.1, 2.0)) if diffusion == "scalar" else _spd(d, rng, 0.1, 2.0)
    return B, c, D, m, S


def check_rhs_agreement(name: str, sym_rhs: Callable, num_rhs: Callable, instances: Sequence[tuple],
                        *, tol: float = RHS_TOL) -> Check:
    """max |sym − num| over the instances of two (dmean, dcov) functions taking the same arguments."""
    worst = 0.0
    for args in instances:
        for a, b in zip(sym_rhs(*args), num_rhs(*args)):
            worst = max(worst, float(np.max(np.abs(np.asarray(a) - np.asarray(b)))))
    return make_check(f"{name}: lambdified SymPy RHS vs verify.gaussian (max abs diff)", worst,
                      upper=tol, detail=f"{len(instances)} random instances")


def tilted_mean_by_quadrature(mu, cov, Q, K, x, s, nodes: int = 80) -> np.ndarray:
    """∫ y e^{s⟨Qx,Ky⟩} dN(μ,Σ) / ∫ e^{s⟨Qx,Ky⟩} dN(μ,Σ) by tensor Gauss–Hermite quadrature."""
    d = len(mu)
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    pts = np.stack([g.ravel() for g in np.meshgrid(*([z] * d), indexing="ij")], axis=-1)
    wts = np.prod(np.meshgrid(*([w] * d), indexing="ij"), axis=0).ravel()
    y = np.asarray(mu) + pts @ np.linalg.cholesky(cov).T
    logw = s * (y @ np.asarray(K).T) @ (np.asarray(Q) @ np.asarray(x))
    weights = wts * np.exp(logw - logw.max())
    return weights @ y / weights.sum()


def check_tilt(d: int, rng: np.random.Generator, *, method: str | None = None,
               formula: Callable | None = None, instances: int = 5) -> list[Check]:
    """Tilt identity: exact symbolic residual (0 entries non-zero) and a quadrature comparison of
    ``formula(mu, cov, Q, K, x, s)`` (default μ + sΣKᵀQx) for d ≤ 2."""
    start = time.perf_counter()
    tilt = attention_tilt(d, method=method)
    nonzero = sum(_nonzero_terms(r) for r in tilt.residual)
    if tilt.exponent_residual is not None:
        nonzero += _nonzero_terms(tilt.exponent_residual)
    checks = [make_check(f"d={d}: tilt identity residual terms ({tilt.method})", nonzero, upper=0,
                         detail="E_tilt[y] = μ + sΣKᵀQx, exact", seconds=time.perf_counter() - start)]
    if formula is None:
        formula = lambda mu, cov, Q, K, x, s: mu + s * cov @ K.T @ Q @ x  # noqa: E731
    if d <= 2:
        worst = 0.0
        for _ in range(instances):
            mu, cov = rng.standard_normal(d), 0.5 * _spd(d, rng)
            Q, K = 0.5 * rng.standard_normal((d, d)), 0.5 * rng.standard_normal((d, d))
            x, s = rng.standard_normal(d), 1.0 / np.sqrt(d)
            worst = max(worst, float(np.abs(tilted_mean_by_quadrature(mu, cov, Q, K, x, s)
                                           - formula(mu, cov, Q, K, x, s)).max()))
        checks.append(make_check(f"d={d}: tilted mean, formula vs Gauss–Hermite quadrature", worst,
                                 upper=QUADRATURE_TOL, detail=f"{instances} instances, 80 nodes/axis"))
    return checks


def fd_source(ms: ManufacturedSolution, t: float, pts: np.ndarray, h: float, D) -> np.ndarray:
    """Central differences (O(h²)) of the lambdified ρ, b: ∂tρ + div(ρb) − Σ D_ij ∂i∂jρ."""
    d = pts.shape[-1]
    Dm = float(D) * np.eye(d) if np.ndim(D) == 0 else np.asarray(D, dtype=float)
    out = (ms.rho(t + h, pts) - ms.rho(t - h, pts)) / (2 * h)
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        out += ((ms.rho(t, pts + e) * ms.drift(t, pts + e)[..., i])
                - (ms.rho(t, pts - e) * ms.drift(t, pts - e)[..., i])) / (2 * h)
        for j in range(d):
            f = np.zeros(d)
            f[j] = h
            out -= Dm[i, j] * (ms.rho(t, pts + e + f) - ms.rho(t, pts + e - f)
                               - ms.rho(t, pts - e + f) + ms.rho(t, pts - e - f)) / (4 * h * h)
    return out


def check_manufactured_source(name: str, ms: ManufacturedSolution, D, rng: np.random.Generator, *,
                              hs: Sequence[float] = FD_STEPS, t: float = 0.3,
                              points: int = 64) -> tuple[Check, list[float]]:
    """Observed order of max |S_fd(h) − S| over random points; central differences give 2 ± 0.2.
    A wrong source leaves an h-independent gap, so the slope collapses towards 0."""
    pts = rng.uniform(-1.5, 1.5, size=(points, ms.dim))
    exact = ms.source(t, pts)
    errs = [float(np.abs(fd_source(ms, t, pts, h, D) - exact).max()) for h in hs]
    p = observed_order(hs, errs)
    return (make_check(f"{name}: source vs finite differences, observed order", p, lower=1.8,
                       upper=2.2, reference=2.0,
                       detail=f"h = {list(hs)}, max errors = {[f'{e:.2e}' for e in errs]}"), errs)


def manufactured_examples() -> list[tuple[str, ManufacturedSolution, object]]:
    t, x, y = sp.symbols("t x y", real=True)
    rho2 = sp.exp(-t) * sp.exp(-(x**2 + 2 * y**2) / 2) * (1 + sp.sin(x * y) / 4)
    drift2 = [-x * y + sp.sin(t), y + 1]
    rho1 = (2 + sp.cos(t)) * sp.exp(-x**2) * (1 + x**2 / 3)
    out = [("1D, D = 0.3", manufactured_source(rho1, [sp.tanh(x) - t], 0.3, t, [x]), 0.3),
           ("2D, D = 0.5", manufactured_source(rho2, drift2, 0.5, t, [x, y]), 0.5)]
    Dm = [[0.6, 0.2], [0.2, 0.3]]
    out.append(("2D, D matrix", manufactured_source(rho2, drift2, Dm, t, [x, y]), Dm))
    return out


@case("symbolic-closure", title="SymPy: Gaussian closure proof, attention tilt, manufactured "
      "sources vs verify.gaussian and finite differences", tags=("symbolic", "gaussian"))
def symbolic_closure(ctx: CaseContext) -> None:
    dims = (1, 2) if ctx.quick else (1, 2, 3)
    rng = ctx.rng("instances")
    for d in dims:
        for diffusion in ("scalar", "matrix"):
            ctx.add(check_closure_residual(d, diffusion))
            cl = gaussian_closure(d, diffusion=diffusion)
            instances = [linear_instance(d, diffusion, rng) for _ in range(20)]
            ctx.add(check_rhs_agreement(
                f"d={d} D {diffusion} linear closure",
                lambda B, c, D, m, S, cl=cl: (cl.mean_rhs(B, c, D, m, S), cl.cov_rhs(B, c, D, m, S)),
                lambda B, c, D, m, S: G.linear_moment_rhs(G.Affine(B, c), D, m, S), instances))
            ctx.note(f"closure d={d} {diffusion} derivation seconds", round(cl.seconds, 3))
        ac = attention_closure(d)
        att = [(rng.standard_normal(d), _spd(d, rng), *(rng.standard_normal((d, d)) for _ in range(3)),
                float(rng.uniform(0.2, 2.0))) for _ in range(20)]
        ctx.add(check_rhs_agreement(f"d={d} attention closure", ac.moment_rhs,
                                    lambda *a: G.attention_moment_rhs(*a[:5], scale=a[5]), att,
                                    tol=1e-11))
        # tilt: SymPy integration in 1D for the full report (≈ 3 s); completing the square otherwise
        method = "complete-square" if (ctx.quick or d > 1) else "integrate"
        ctx.add_all(check_tilt(d, ctx.rng(f"tilt-{d}"), method=method))
    for name, ms, D in manufactured_examples():
        check, errs = check_manufactured_source(name, ms, D, ctx.rng(name))
        ctx.add(check)
        ctx.series("manufactured source: FD error", FD_STEPS, errs, xlabel="h",
                   ylabel="max |S_fd − S|", logx=True, logy=True, label=name)
