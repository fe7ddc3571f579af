"""SymPy derivations behind twinflow's numbers: Gaussian closures, the attention tilt,
manufactured solutions and a safe parser for user expressions.

Conventions (docs/theory.md, Conventions): diffusion D means ∂ρ/∂t = DΔρ (dX = sqrt(2D) dW); the Fokker–Planck
equation is ∂ρ/∂t + div(ρb) = div(D∇ρ); points are last, x has shape (..., d).

* :func:`gaussian_closure` substitutes the Gaussian ansatz into the Fokker–Planck equation with an
  affine drift, matches polynomial coefficients, solves for dm/dt and dΣ/dt, and proves that the PDE
  residual vanishes identically (exact rational-function cancellation, no floating point).
* :func:`attention_tilt` proves the exponential-tilt identity behind Thm 7.1 (Castin et al. 2025);
  :func:`attention_closure` turns it into the moment ODE of the transformer PDE.
* :func:`manufactured_source` returns S = ∂ρ/∂t + div(ρb) − div(D∇ρ) for given ρ, b, D.
* :func:`safe_parse` turns user text such as ``"-x*y + sin(t)"`` into SymPy through an AST whitelist.
"""

from __future__ import annotations

import ast
import functools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.polyerrors import CoercionFailed
from sympy.polys.rings import ring

__all__ = [
    "GaussianClosure",
    "TiltIdentity",
    "AttentionClosure",
    "ManufacturedSolution",
    "gaussian_closure",
    "closure_residual",
    "attention_tilt",
    "attention_closure",
    "manufactured_source",
    "field_function",
    "safe_parse",
    "SymbolicError",
    "JKOGaussianUpdate",
    "jko_gaussian_update_1d",
]

_MAX_CLOSURE_DIM = 3


class SymbolicError(RuntimeError):
    """A symbolic derivation did not close (no unique solution, non-zero residual)."""


# ----------------------------------------------------------------------------------------------
# Symbols
# ----------------------------------------------------------------------------------------------


def _symmetric(name: str, d: int) -> sp.Matrix:
    """d×d symmetric matrix of real symbols name{ij}, i ≤ j (one symbol per independent entry)."""
    return sp.Matrix(d, d, lambda i, j: sp.Symbol(f"{name}{min(i, j)}{max(i, j)}", real=True))


def _general(name: str, d: int) -> sp.Matrix:
    return sp.Matrix(d, d, lambda i, j: sp.Symbol(f"{name}{i}{j}", real=True))


def _vector(name: str, d: int) -> sp.Matrix:
    return sp.Matrix([sp.Symbol(f"{name}{i}", real=True) for i in range(d)])


def _upper(M: sp.Matrix) -> list[sp.Expr]:
    """Independent entries of a symmetric matrix, row-major upper triangle."""
    d = M.shape[0]
    return [M[i, j] for i in range(d) for j in range(i, d)]


def _check_dim(d: Any, *, limit: int | None = _MAX_CLOSURE_DIM) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise TypeError(f"d must be an int, got {type(d).__name__}")
    if d < 1 or (limit is not None and d > limit):
        raise ValueError(f"d must be between 1 and {limit}, got {d}")
    return int(d)


def _check_diffusion_kind(diffusion: str) -> str:
    if diffusion not in ("scalar", "matrix"):
        raise ValueError(f"diffusion must be 'scalar' or 'matrix', got {diffusion!r}")
    return diffusion


@dataclass(frozen=True)
class _ClosureSymbols:
    d: int
    diffusion: str
    x: sp.Matrix  # (d, 1) space variable
    B: sp.Matrix  # (d, d) drift matrix
    c: sp.Matrix  # (d, 1) drift offset
    D: sp.Expr | sp.Matrix  # scalar symbol or symmetric (d, d)
    m: sp.Matrix  # (d, 1) mean
    S: sp.Matrix  # (d, d) symmetric covariance Σ
    P: sp.Matrix  # (d, d) symmetric precision P = Σ⁻¹
    Pdot: sp.Matrix  # unknown dP/dt (symmetric)
    mdot: sp.Matrix  # unknown dm/dt
    detP: sp.Symbol  # stands for det P in the normalising constant

    @property
    def D_matrix(self) -> sp.Matrix:
        return self.D * sp.eye(self.d) if self.diffusion == "scalar" else self.D

    @property
    def D_args(self) -> list[sp.Expr]:
        return [self.D] if self.diffusion == "scalar" else _upper(self.D)


@functools.lru_cache(maxsize=None)
def _closure_symbols(d: int, diffusion: str) -> _ClosureSymbols:
    D = sp.Symbol("D", real=True) if diffusion == "scalar" else _symmetric("D", d)
    return _ClosureSymbols(
        d=d,
        diffusion=diffusion,
        x=_vector("x", d),
        B=_general("B", d),
        c=_vector("c", d),
        D=D,
        m=_vector("m", d),
        S=_symmetric("S", d),
        P=_symmetric("P", d),
        Pdot=_symmetric("Pdot", d),
        mdot=_vector("mdot", d),
        detP=sp.Symbol("detP", positive=True),
    )


# ----------------------------------------------------------------------------------------------
# Gaussian closure of the Fokker–Planck equation with affine drift
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _fokker_planck_coefficients(d: int, diffusion: str) -> dict[tuple[int, ...], sp.Expr]:
    """Coefficients (in x) of R/ρ for the Gaussian ansatz with unknown rates dP/dt, dm/dt.

    ρ(t, x) = (2π)^{-d/2} (det P)^{1/2} exp(−½ (x−m)ᵀ P (x−m)), P = Σ⁻¹ and m depending on t.
    R = ∂ρ/∂t + div(ρ(Bx + c)) − div(D∇ρ) is formed by literal differentiation of ρ (the time
    derivative by the chain rule through the independent entries of P and m, det P included);
    R/ρ is then a quadratic polynomial in x whose coefficients are returned, keyed by exponent.
    """
    sy = _closure_symbols(d, diffusion)
    x, m, P = sy.x, sy.m, sy.P
    detP_expr = P.det()
    y = x - m
    log_rho = (
        -sp.Rational(1, 2) * (y.T * P * y)[0, 0]
        + sp.log(sy.detP) / 2
        - sp.Rational(d, 2) * sp.log(2 * sp.pi)
    )
    rho = sp.exp(log_rho)

    # SymPy splits exp(log ρ) into (det P)^{1/2} (2π)^{-d/2} · exp(q): keep the exponential factor.
    (gauss,) = [f for f in sp.Mul.make_args(rho) if isinstance(f, sp.exp)]
    prefactor = sp.Mul(*[f for f in sp.Mul.make_args(rho) if f is not gauss])

    exponent = gauss.args[0]
    verified: set[sp.Expr] = {exponent}

    def over_rho(derivative: sp.Expr) -> sp.Expr:
        # (∂ρ)/ρ term by term: each term is (something free of exp) · exp(q), where SymPy may have
        # rewritten q (e.g. (x−m)² as (m−x)²); each exponent is checked to equal q exactly.
        out = []
        for term in sp.Add.make_args(derivative):
            factors = sp.Mul.make_args(term)
            exps = [f for f in factors if isinstance(f, sp.exp)]
            if len(exps) != 1:
                raise SymbolicError(f"unexpected term in a derivative of the Gaussian: {term}")
            arg = exps[0].args[0]
            if arg not in verified:
                if sp.expand(arg - exponent) != 0:
                    raise SymbolicError(f"unexpected exponential in a derivative: {exps[0]}")
                verified.add(arg)
            free = sp.Mul(*[f for f in factors if f is not exps[0]])
            out.append(free / prefactor)
        return sp.Add(*out)

    terms: list[sp.Expr] = []
    # ∂ρ/∂t by the chain rule over the independent entries of P (detP is a function of P) and m.
    drho_ddet = over_rho(sp.diff(rho, sy.detP))
    for i in range(d):
        for j in range(i, d):
            dP = over_rho(sp.diff(rho, P[i, j])) + drho_ddet * sp.diff(detP_expr, P[i, j])
            terms.append(dP * sy.Pdot[i, j])
        terms.append(over_rho(sp.diff(rho, m[i])) * sy.mdot[i])
    drift = sy.B * x + sy.c
    terms += [over_rho(sp.diff(rho * drift[i], x[i])) for i in range(d)]  # + div(ρ(Bx + c))
    if diffusion == "scalar":
        terms += [-sy.D * over_rho(sp.diff(rho, x[i], 2)) for i in range(d)]  # − DΔρ
    else:
        terms += [
            -sy.D[i, j] * over_rho(sp.diff(rho, x[i], x[j])) for i in range(d) for j in range(d)
        ]  # − div(D∇ρ)
    inv_det = sp.Symbol("invdetP", positive=True)
    over = sp.Add(*terms)
    if over.has(sp.exp):
        raise SymbolicError("the Gaussian factor did not cancel from the residual")
    ratio = over.xreplace({sy.detP: 1 / inv_det})
    others = sorted(ratio.free_symbols - set(x), key=str)
    R, *_ = ring(list(x) + others, QQ)
    try:
        poly = R.from_expr(ratio)
    except (ValueError, CoercionFailed) as exc:
        raise SymbolicError(f"R/ρ is not a polynomial in x: {exc}") from None
    grouped: dict[tuple[int, ...], dict[tuple[int, ...], Any]] = {}
    for monom, coeff in poly.terms():
        grouped.setdefault(monom[:d], {})[monom[d:]] = coeff
    if any(sum(k) > 2 for k in grouped):
        raise SymbolicError("R/ρ is not a quadratic polynomial in x")
    R_other, *_ = ring(others, QQ)
    return {
        k: R_other.from_dict(v).as_expr().xreplace({inv_det: 1 / sy.detP}) for k, v in grouped.items()
    }


def _reduce_inverse_det(expr: sp.Expr, u: sp.Symbol, det_expr: sp.Expr) -> sp.Expr:
    """Simplify an expression that is polynomial in u, where u stands for 1/det_expr, exactly.

    Writes expr = Σ_k c_k u^k with sparse polynomial arithmetic (no Expr expansion), forms
    N = Σ_k c_k det^{K−k} and returns N / det^K, divided out exactly when det^K | N (0 when N is the
    zero polynomial). Expressions that are not polynomial in u and the other symbols fall back to
    SymPy's cancel with u = 1/det.
    """
    gens = sorted((expr.free_symbols | det_expr.free_symbols) - {u}, key=str)
    R, *_ = ring([u, *gens], QQ)
    R_rest, *_ = ring(gens, QQ) if gens else ring("_dummy", QQ)
    try:
        poly = R.from_expr(expr)
    except (ValueError, CoercionFailed):
        return sp.cancel(sp.together(expr.xreplace({u: 1 / det_expr})))
    if not poly:
        return sp.Integer(0)
    by_degree: dict[int, dict[tuple[int, ...], Any]] = {}
    for monom, coeff in poly.terms():
        by_degree.setdefault(monom[0], {})[monom[1:]] = coeff
    if not gens:
        return poly.as_expr().xreplace({u: 1 / det_expr})
    delta = R_rest.from_expr(det_expr)
    top = max(by_degree)
    numerator = R_rest.zero
    for k, terms in by_degree.items():
        numerator += R_rest.from_dict(terms) * delta ** (top - k)
    if not numerator:
        return sp.Integer(0)
    quotient, remainder = divmod(numerator, delta**top)
    if not remainder:
        return quotient.as_expr()
    return numerator.as_expr() / det_expr**top


def _residual_from_coefficients(
    sy: _ClosureSymbols, coeffs: Mapping[tuple[int, ...], sp.Expr], subs: Mapping[sp.Expr, sp.Expr],
    inv_det: sp.Symbol,
) -> sp.Expr:
    """Σ_α coeff_α|subs x^α with every coefficient reduced exactly (u = inv_det = 1/det P)."""
    full = dict(subs)
    full[sy.detP] = 1 / inv_det
    det_expr = sy.P.det()
    total = sp.Integer(0)
    for exps, coeff in coeffs.items():
        value = _reduce_inverse_det(coeff.xreplace(full), inv_det, det_expr)
        if value != 0:
            total += value * sp.Mul(*[xi**e for xi, e in zip(sy.x, exps)])
    return total


def closure_residual(
    d: int,
    mean_rhs: Callable[..., sp.Matrix],
    cov_rhs: Callable[..., sp.Matrix],
    *,
    diffusion: str = "scalar",
) -> sp.Expr:
    """PDE residual R/ρ (a polynomial in x) of a candidate Gaussian closure; exactly 0 iff it is right.

    ``mean_rhs(B, c, D, m, S)`` and ``cov_rhs(B, c, D, m, S)`` take SymPy matrices (D a symbol for
    ``diffusion="scalar"``, a symmetric matrix otherwise) and return dm/dt (d×1) and dΣ/dt (d×d).
    The candidate is substituted into ∂ρ/∂t + div(ρ(Bx + c)) − div(D∇ρ) for ρ = N(m, Σ), written
    with the precision P = Σ⁻¹ (dP/dt = −P (dΣ/dt) P and Σ = adj(P)/det P exactly), and every
    x-coefficient is reduced exactly (rational functions with denominator a power of det P).
    A wrong candidate, e.g. dΣ/dt = BΣ + ΣBᵀ + D (the ½Δ convention), gives a non-zero polynomial.
    """
    d = _check_dim(d)
    diffusion = _check_diffusion_kind(diffusion)
    sy = _closure_symbols(d, diffusion)
    coeffs = _fokker_planck_coefficients(d, diffusion)
    inv_det = sp.Symbol("invdetP", positive=True)  # stands for 1/det P
    S_of_P = sy.P.adjugate() * inv_det  # Σ = P⁻¹ = adj(P)/det(P), exactly
    mdot = sp.Matrix(mean_rhs(sy.B, sy.c, sy.D, sy.m, S_of_P))
    sdot = sp.Matrix(cov_rhs(sy.B, sy.c, sy.D, sy.m, S_of_P))
    if mdot.shape != (d, 1) or sdot.shape != (d, d):
        raise ValueError(
            f"mean_rhs must return a {d}x1 matrix and cov_rhs a {d}x{d} matrix, "
            f"got {mdot.shape} and {sdot.shape}"
        )
    pdot = -sy.P * sdot * sy.P  # d(Σ⁻¹)/dt = −Σ⁻¹ (dΣ/dt) Σ⁻¹
    subs: dict[sp.Expr, sp.Expr] = {}
    for i in range(d):
        subs[sy.mdot[i]] = mdot[i]
        for j in range(i, d):
            subs[sy.Pdot[i, j]] = pdot[i, j]
    return _residual_from_coefficients(sy, coeffs, subs, inv_det)


@dataclass(frozen=True)
class GaussianClosure:
    """Moment ODE of ∂ρ/∂t + div(ρ(Bx + c)) = div(D∇ρ) for ρ = N(m, Σ), derived and proved.

    ``mean_expr`` (d×1) and ``cov_expr`` (d×d) are the derived right-hand sides in the symbols
    ``B, c, D, m, S`` (S = Σ); the expected forms are dm/dt = Bm + c, dΣ/dt = BΣ + ΣBᵀ + 2D.
    ``residual`` is the exact PDE residual with these right-hand sides substituted (SymPy 0).
    ``mean_rhs(B, c, D, m, S) -> (d,)`` and ``cov_rhs(B, c, D, m, S) -> (d, d)`` evaluate them in
    float64 (B (d, d), c (d,), D a float for ``diffusion="scalar"`` else symmetric (d, d),
    m (d,), S symmetric (d, d)).
    """

    d: int
    diffusion: str
    B: sp.Matrix
    c: sp.Matrix
    D: sp.Expr | sp.Matrix
    m: sp.Matrix
    S: sp.Matrix
    mean_expr: sp.Matrix
    cov_expr: sp.Matrix
    precision_expr: sp.Matrix  # derived dP/dt in terms of P = Σ⁻¹ (symbols P..)
    residual: sp.Expr
    seconds: float
    _mean_fn: Callable[..., Any]
    _cov_fn: Callable[..., Any]

    @property
    def proved(self) -> bool:
        """True when the residual is identically zero (exact cancellation)."""
        return self.residual == 0

    def _args(self, B: Any, c: Any, D: Any, m: Any, S: Any) -> list[float]:
        d = self.d
        B = _as_float_array(B, "B", (d, d))
        c = _as_float_array(c, "c", (d,))
        m = _as_float_array(m, "m", (d,))
        S = _as_float_array(S, "S", (d, d))
        _check_symmetric(S, "S")
        if self.diffusion == "scalar":
            D_arr = _as_float_array(D, "D", ())
            D_args = [float(D_arr)]
        else:
            D_arr = _as_float_array(D, "D", (d, d))
            _check_symmetric(D_arr, "D")
            D_args = [D_arr[i, j] for i in range(d) for j in range(i, d)]
        return (
            list(B.ravel())
            + list(c)
            + D_args
            + list(m)
            + [S[i, j] for i in range(d) for j in range(i, d)]
        )

    def mean_rhs(self, B: Any, c: Any, D: Any, m: Any, S: Any) -> np.ndarray:
        """dm/dt at (B, c, D, m, S), shape (d,)."""
        return np.asarray(self._mean_fn(*self._args(B, c, D, m, S)), dtype=float).reshape(self.d)

    def cov_rhs(self, B: Any, c: Any, D: Any, m: Any, S: Any) -> np.ndarray:
        """dΣ/dt at (B, c, D, m, S), shape (d, d)."""
        out = np.asarray(self._cov_fn(*self._args(B, c, D, m, S)), dtype=float)
        return out.reshape(self.d, self.d)


def _as_float_array(a: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like of floats: {exc}") from None
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def _check_symmetric(a: np.ndarray, name: str) -> None:
    if not np.allclose(a, a.T, rtol=1e-12, atol=1e-12 * max(1.0, float(np.abs(a).max()))):
        raise ValueError(f"{name} must be symmetric; symmetrise it with ({name} + {name}.T) / 2")


def _lambdify_matrix(args: Sequence[sp.Symbol], M: sp.Matrix) -> Callable[..., Any]:
    return sp.lambdify(list(args), [M[i, j] for i in range(M.rows) for j in range(M.cols)], "numpy")


@functools.lru_cache(maxsize=None)
def _gaussian_closure_cached(d: int, diffusion: str) -> GaussianClosure:
    start = time.perf_counter()
    sy = _closure_symbols(d, diffusion)
    coeffs = _fokker_planck_coefficients(d, diffusion)

    def equations(order: int) -> list[sp.Expr]:
        return [cf for exps, cf in coeffs.items() if sum(exps) == order]

    # 1. Quadratic coefficients: linear in dP/dt (constant coefficients).
    pdot_unknowns = _upper(sy.Pdot)
    sol = sp.linsolve(equations(2), pdot_unknowns)
    if len(sol) != 1:
        raise SymbolicError("quadratic coefficients do not determine dP/dt uniquely")
    (pdot_values,) = sol
    pdot_sub = dict(zip(pdot_unknowns, pdot_values))
    if any(v.free_symbols & set(pdot_unknowns) for v in pdot_values):
        raise SymbolicError("dP/dt is not determined uniquely")
    # 2. Linear coefficients: linear in dm/dt (coefficient matrix P), given dP/dt.
    lin = [sp.expand(eq.xreplace(pdot_sub)) for eq in equations(1)]
    sol = sp.linsolve(lin, list(sy.mdot))
    if len(sol) != 1:
        raise SymbolicError("linear coefficients do not determine dm/dt uniquely")
    (mdot_values,) = sol
    mdot_values = [sp.factor(sp.cancel(v)) for v in mdot_values]
    if any(v.free_symbols & set(sy.mdot) for v in mdot_values):
        raise SymbolicError("dm/dt is not determined uniquely")
    # 3. dP/dt as a matrix in P, then dΣ/dt = −Σ (dP/dt) Σ with P = Σ⁻¹ = adj(Σ)/det(Σ).
    precision_expr = sp.Matrix(d, d, lambda i, j: sp.expand(pdot_sub[sy.Pdot[i, j]]))
    inv_det_S = sp.Symbol("invdetS", positive=True)  # stands for 1/det Σ
    P_of_S = sy.S.adjugate() * inv_det_S  # P = Σ⁻¹ = adj(Σ)/det(Σ)
    to_S = {sy.P[i, j]: P_of_S[i, j] for i in range(d) for j in range(i, d)}
    pdot_in_S = precision_expr.xreplace(to_S)
    det_S = sy.S.det()
    cov_expr = (-sy.S * pdot_in_S * sy.S).applyfunc(
        lambda e: sp.expand(_reduce_inverse_det(e, inv_det_S, det_S))
    )
    mean_expr = sp.Matrix(
        [sp.expand(_reduce_inverse_det(v.xreplace(to_S), inv_det_S, det_S)) for v in mdot_values]
    )
    for e in list(cov_expr) + list(mean_expr):
        if e.free_symbols & (set(sy.P) | {inv_det_S}) or not e.is_polynomial():
            raise SymbolicError("the moment equations still depend on the precision matrix")
    # 4. Proof: substitute the Σ-form right-hand sides back into the PDE residual.
    S_syms = _upper(sy.S)

    def in_S(expr_matrix: sp.Matrix) -> Callable[..., sp.Matrix]:
        def fn(B, c, D, m, S):  # noqa: ANN001 - SymPy matrices
            return expr_matrix.xreplace({s: S[i, j] for s, (i, j) in zip(S_syms, _upper_index(d))})

        return fn

    residual = closure_residual(d, in_S(mean_expr), in_S(cov_expr), diffusion=diffusion)
    if residual != 0:
        raise SymbolicError(f"the derived closure leaves a non-zero residual: {residual}")
    args = list(sy.B) + list(sy.c) + sy.D_args + list(sy.m) + S_syms
    return GaussianClosure(
        d=d,
        diffusion=diffusion,
        B=sy.B,
        c=sy.c,
        D=sy.D,
        m=sy.m,
        S=sy.S,
        mean_expr=mean_expr,
        cov_expr=cov_expr,
        precision_expr=precision_expr,
        residual=residual,
        seconds=time.perf_counter() - start,
        _mean_fn=_lambdify_matrix(args, mean_expr),
        _cov_fn=_lambdify_matrix(args, cov_expr),
    )


def _upper_index(d: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(d) for j in range(i, d)]


def gaussian_closure(d: int, *, diffusion: str = "scalar") -> GaussianClosure:
    """Derive and prove the Gaussian moment ODE of the Fokker–Planck equation with affine drift.

    Ansatz ρ = N(m(t), Σ(t)) in ∂ρ/∂t + div(ρ(Bx + c)) = div(D∇ρ) (= DΔρ for scalar D), d = 1, 2, 3,
    all entries symbolic. Steps: (1) R/ρ is a quadratic polynomial in x (the ansatz is written with
    the precision P = Σ⁻¹ so that no inverse appears); (2) its quadratic coefficients give
    dP/dt = −(PB + BᵀP) − 2PDP, its linear ones dm/dt; (3) dΣ/dt = −Σ (dP/dt) Σ; (4) the Σ-form
    right-hand sides are substituted back and every coefficient of R/ρ cancels exactly. Result:
    dm/dt = Bm + c, dΣ/dt = BΣ + ΣBᵀ + 2D. Cached; d = 3 takes a few seconds the first time.
    """
    return _gaussian_closure_cached(_check_dim(d), _check_diffusion_kind(diffusion))


# ----------------------------------------------------------------------------------------------
# Attention: exponential tilt of a Gaussian and the moment ODE of the transformer PDE
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TiltIdentity:
    """∫ e^{s⟨Qx,Ky⟩} y dN(μ,Σ)(y) / ∫ e^{s⟨Qx,Ky⟩} dN(μ,Σ)(y) = μ + sΣKᵀQx, proved symbolically.

    ``derived`` is the tilted mean obtained by ``method`` ("integrate": SymPy evaluates both Gaussian
    integrals, d = 1; "complete-square": the exponent identity
    aᵀy − ½(y−μ)ᵀP(y−μ) = aᵀμ + ½aᵀΣa − ½(y−μ−Σa)ᵀP(y−μ−Σa), P = Σ⁻¹, a = sKᵀQx, shows the tilted
    law is N(μ + Σa, Σ)); ``expected`` = μ + sΣKᵀQx; ``residual`` = derived − expected (all zero).
    Symbols: ``x`` (query point), ``mu``, ``Sigma`` (d×d symmetric; for "integrate" σ² with σ > 0),
    ``Q``, ``K``, ``scale``.
    """

    d: int
    method: str
    x: sp.Matrix
    mu: sp.Matrix
    Sigma: sp.Matrix
    Q: sp.Matrix
    K: sp.Matrix
    scale: sp.Expr
    derived: sp.Matrix
    expected: sp.Matrix
    residual: sp.Matrix
    exponent_residual: sp.Expr | None  # the completing-the-square identity (0), when used
    seconds: float

    @property
    def proved(self) -> bool:
        return all(r == 0 for r in self.residual) and (
            self.exponent_residual is None or self.exponent_residual == 0
        )


def _scale_symbol(scale: Any) -> sp.Expr:
    if scale is None:
        return sp.Symbol("s", real=True)
    if isinstance(scale, sp.Basic):
        return scale
    if isinstance(scale, str):
        return safe_parse(scale, [])
    if isinstance(scale, (int, float, np.floating, np.integer)) and math.isfinite(float(scale)):
        return sp.nsimplify(scale) if isinstance(scale, (int, np.integer)) else sp.Float(scale)
    raise TypeError(f"scale must be None (symbolic s), a number or a SymPy expression, got {scale!r}")


@functools.lru_cache(maxsize=None)
def _attention_tilt_cached(d: int, scale: sp.Expr, method: str) -> TiltIdentity:
    start = time.perf_counter()
    x = _vector("x", d)
    mu = _vector("mu", d)
    Q = _general("Q", d)
    K = _general("K", d)
    a = scale * K.T * Q * x  # the tilt vector: s⟨Qx, Ky⟩ = aᵀy
    exponent_residual = None
    if method == "integrate":
        y = sp.Symbol("y", real=True)
        sigma = sp.Symbol("sigma", positive=True)
        Sigma = sp.Matrix([[sigma**2]])
        density = sp.exp(-((y - mu[0]) ** 2) / (2 * sigma**2)) / sp.sqrt(2 * sp.pi * sigma**2)
        tilt = sp.Symbol("a", real=True)  # a = s·k·q·x, substituted after integrating
        weight = sp.exp(tilt * y) * density
        numerator = sp.integrate(y * weight, (y, -sp.oo, sp.oo), conds="none", risch=False)
        denominator = sp.integrate(weight, (y, -sp.oo, sp.oo), conds="none", risch=False)
        if numerator.has(sp.Integral) or denominator.has(sp.Integral):
            raise SymbolicError("SymPy could not evaluate the tilted Gaussian integrals")
        derived = sp.Matrix([sp.simplify(numerator / denominator).xreplace({tilt: a[0]})])
    else:
        y = _vector("y", d)
        Sigma = _symmetric("Sigma", d)
        inv_det = sp.Symbol("invdetSigma", positive=True)  # stands for 1/det Σ
        P = Sigma.adjugate() * inv_det  # Σ⁻¹, exactly
        shifted = y - mu - Sigma * a
        lhs = (a.T * y)[0, 0] - ((y - mu).T * P * (y - mu))[0, 0] / 2
        rhs = (a.T * mu)[0, 0] + (a.T * Sigma * a)[0, 0] / 2 - (shifted.T * P * shifted)[0, 0] / 2
        exponent_residual = _reduce_inverse_det(lhs - rhs, inv_det, Sigma.det())
        # e^{aᵀy} N(μ,Σ)(y) = e^{aᵀμ + ½aᵀΣa} N(μ+Σa, Σ)(y): the normalised tilted law is N(μ+Σa, Σ).
        derived = mu + Sigma * a
    expected = mu + scale * Sigma * K.T * Q * x
    residual = (derived - expected).applyfunc(sp.expand)
    if any(r != 0 for r in residual):  # only a non-polynomial form (integrate path) can need this
        residual = residual.applyfunc(sp.simplify)
    return TiltIdentity(
        d=d,
        method=method,
        x=x,
        mu=mu,
        Sigma=Sigma,
        Q=Q,
        K=K,
        scale=scale,
        derived=derived,
        expected=expected,
        residual=residual,
        exponent_residual=exponent_residual,
        seconds=time.perf_counter() - start,
    )


def attention_tilt(d: int, scale: Any = None, *, method: str | None = None) -> TiltIdentity:
    """Prove the softmax-tilted Gaussian mean: E_tilt[y] = μ + sΣKᵀQx (Thm 7.1 mechanism).

    ``scale`` is the temperature s (None: a real symbol ``s``; s = 1 in the survey, s = 1/√d in
    Castin et al.). ``method``: "integrate" (SymPy evaluates the two integrals over ℝ; d = 1 only,
    about 2 s — a 2D run took about 50 s and is not offered) or "complete-square" (any d ≥ 1;
    default for d > 1). Q, K are square d×d here.
    """
    d = _check_dim(d, limit=None)
    if method is None:
        method = "integrate" if d == 1 else "complete-square"
    if method not in ("integrate", "complete-square"):
        raise ValueError(f"method must be 'integrate' or 'complete-square', got {method!r}")
    if method == "integrate" and d != 1:
        raise ValueError("method='integrate' is available for d = 1 only; use 'complete-square'")
    return _attention_tilt_cached(d, _scale_symbol(scale), method)


@dataclass(frozen=True)
class AttentionClosure:
    """Moment ODE of the transformer PDE ∂α/∂t + div(α Γ[α]) = 0 for α = N(μ, Σ).

    Γ[α](x) = V (μ + sΣKᵀQx) (the tilt identity) is affine, x ↦ Ax + b with A = sVΣKᵀQ, b = Vμ,
    so the D = 0 Gaussian closure gives dμ/dt = Vμ + sVΣKᵀQμ and dΣ/dt = AΣ + ΣAᵀ.
    ``mean_rhs(mean, cov, Q, K, V, scale=1.0) -> (d,)``, ``cov_rhs(...) -> (d, d)`` (float64, Q, K,
    V square (d, d)), ``moment_rhs(...) -> (dmean, dcov)`` matches
    ``verify.gaussian.attention_moment_rhs``.
    """

    d: int
    mu: sp.Matrix
    Sigma: sp.Matrix
    Q: sp.Matrix
    K: sp.Matrix
    V: sp.Matrix
    scale: sp.Symbol
    mean_expr: sp.Matrix
    cov_expr: sp.Matrix
    tilt: TiltIdentity
    closure: GaussianClosure
    _mean_fn: Callable[..., Any]
    _cov_fn: Callable[..., Any]

    def _args(self, mean: Any, cov: Any, Q: Any, K: Any, V: Any, scale: Any) -> list[float]:
        d = self.d
        mean = _as_float_array(mean, "mean", (d,))
        cov = _as_float_array(cov, "cov", (d, d))
        _check_symmetric(cov, "cov")
        mats = [_as_float_array(M, name, (d, d)) for M, name in ((Q, "Q"), (K, "K"), (V, "V"))]
        s = float(_as_float_array(scale, "scale", ()))
        return (
            list(mean)
            + [cov[i, j] for i, j in _upper_index(d)]
            + [v for M in mats for v in M.ravel()]
            + [s]
        )

    def mean_rhs(self, mean: Any, cov: Any, Q: Any, K: Any, V: Any, scale: float = 1.0) -> np.ndarray:
        return np.asarray(self._mean_fn(*self._args(mean, cov, Q, K, V, scale)), float).reshape(self.d)

    def cov_rhs(self, mean: Any, cov: Any, Q: Any, K: Any, V: Any, scale: float = 1.0) -> np.ndarray:
        out = np.asarray(self._cov_fn(*self._args(mean, cov, Q, K, V, scale)), float)
        return out.reshape(self.d, self.d)

    def moment_rhs(
        self, mean: Any, cov: Any, Q: Any, K: Any, V: Any, scale: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        return (
            self.mean_rhs(mean, cov, Q, K, V, scale),
            self.cov_rhs(mean, cov, Q, K, V, scale),
        )


@functools.lru_cache(maxsize=None)
def _attention_closure_cached(d: int) -> AttentionClosure:
    tilt = attention_tilt(d, None, method="complete-square")
    closure = gaussian_closure(d, diffusion="matrix")
    V = _general("V", d)
    s, mu, Sigma, Q, K = tilt.scale, tilt.mu, tilt.Sigma, tilt.Q, tilt.K
    # Γ(x) = V · (tilted mean) = V(μ + sΣKᵀQx) = A x + b: read A and b off the proved identity.
    gamma = V * tilt.expected
    A = gamma.jacobian(tilt.x)
    b = gamma.xreplace({xi: 0 for xi in tilt.x})
    subs: dict[sp.Expr, sp.Expr] = {}
    for i in range(d):
        subs[closure.c[i]] = b[i]
        subs[closure.m[i]] = mu[i]
        for j in range(d):
            subs[closure.B[i, j]] = A[i, j]
    for (i, j), Dij in zip(_upper_index(d), _upper(closure.D)):
        subs[Dij] = sp.Integer(0)
        subs[closure.S[i, j]] = Sigma[i, j]
    mean_expr = closure.mean_expr.xreplace(subs).applyfunc(sp.expand)
    cov_expr = closure.cov_expr.xreplace(subs).applyfunc(sp.expand)
    args = list(mu) + _upper(Sigma) + list(Q) + list(K) + list(V) + [s]
    return AttentionClosure(
        d=d,
        mu=mu,
        Sigma=Sigma,
        Q=Q,
        K=K,
        V=V,
        scale=s,
        mean_expr=mean_expr,
        cov_expr=cov_expr,
        tilt=tilt,
        closure=closure,
        _mean_fn=_lambdify_matrix(args, mean_expr),
        _cov_fn=_lambdify_matrix(args, cov_expr),
    )


def attention_closure(d: int) -> AttentionClosure:
    """Gaussian moment ODE of the transformer PDE, derived from the tilt identity and the D = 0 closure.

    dμ/dt = Vμ + sVΣKᵀQμ, dΣ/dt = BΣ + ΣBᵀ with B = sVΣKᵀQ (Thm 7.1, Eq. 30 with the mean line).
    """
    return _attention_closure_cached(_check_dim(d))


# ----------------------------------------------------------------------------------------------
# Manufactured solutions
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManufacturedSolution:
    """ρ, b and the source S = ∂ρ/∂t + div(ρb) − div(D∇ρ), symbolic and as array functions.

    Callables take ``(t, x)`` with x of shape (..., d) (points last) and return ``rho`` (...),
    ``drift`` (..., d), ``source`` (...), as arrays of the selected backend (NumPy or CuPy).
    """

    t: sp.Symbol
    xs: tuple[sp.Symbol, ...]
    rho_expr: sp.Expr
    drift_expr: tuple[sp.Expr, ...]
    diffusion: sp.Expr | sp.Matrix
    source_expr: sp.Expr
    backend: str
    rho: Callable[[Any, Any], Any]
    drift: Callable[[Any, Any], Any]
    source: Callable[[Any, Any], Any]

    @property
    def dim(self) -> int:
        return len(self.xs)


def _array_module(backend: str) -> Any:
    """NumPy, or CuPy when a usable GPU is present (eulerian.backend raises BackendUnavailable)."""
    if backend not in ("numpy", "cupy"):
        raise ValueError(f"backend must be 'numpy' or 'cupy', got {backend!r}")
    from eulerian.backend import get_backend

    return get_backend(backend).xp


def _points_last(exprs: Sequence[sp.Expr], t: sp.Symbol, xs: Sequence[sp.Symbol], backend: str,
                 stack: bool) -> Callable[[Any, Any], Any]:
    xp = _array_module(backend)
    fn = sp.lambdify([t, *xs], list(exprs), modules=backend)
    d = len(xs)

    def evaluate(time_: Any, x: Any) -> Any:
        x = xp.asarray(x, dtype=xp.float64)
        if x.ndim == 0 or x.shape[-1] != d:
            raise ValueError(f"x must have shape (..., {d}) (points last), got {tuple(x.shape)}")
        cols = [x[..., k] for k in range(d)]
        zero = xp.zeros(x.shape[:-1], dtype=xp.float64)
        values = [xp.asarray(v, dtype=xp.float64) + zero for v in fn(time_, *cols)]
        return xp.stack(values, axis=-1) if stack else values[0]

    return evaluate


def _only_symbols(exprs: Sequence[sp.Expr], allowed: set, what: str) -> None:
    extra = set().union(*(sp.sympify(e).free_symbols for e in exprs)) - allowed
    if extra:
        names = ", ".join(sorted(str(s) for s in extra))
        raise ValueError(f"{what} uses unknown symbols {names}; only t and the space variables are allowed")


def field_function(exprs: Sequence[sp.Expr], t: sp.Symbol, xs: Sequence[sp.Symbol], *,
                   backend: str = "numpy") -> Callable[[Any, Any], Any]:
    """The vector field v(t, x) = (exprs[0], ..., exprs[d−1]) as an array function: x (..., d) → (..., d).

    ``exprs`` are SymPy expressions in ``t`` and ``xs`` (d = len(xs) of them), e.g. from
    :func:`safe_parse`; no other free symbol is allowed."""
    xs = _as_symbol_tuple(xs)
    exprs = [sp.Integer(e) if isinstance(e, int) else e for e in exprs]
    if len(exprs) != len(xs) or not all(isinstance(e, sp.Basic) for e in exprs):
        raise ValueError(f"a field in {len(xs)} dimensions needs {len(xs)} SymPy expressions, got {len(exprs)}")
    _only_symbols(exprs, {t, *xs}, "the field")
    return _points_last(exprs, t, xs, backend, stack=True)


def _as_symbol_tuple(xs: Any) -> tuple[sp.Symbol, ...]:
    if isinstance(xs, sp.Symbol):
        xs = (xs,)
    xs = tuple(xs)
    if not xs or not all(isinstance(v, sp.Symbol) for v in xs):
        raise TypeError("xs must be a non-empty sequence of SymPy symbols (the space variables)")
    if len(set(xs)) != len(xs):
        raise ValueError("xs must not repeat a symbol")
    return xs


def manufactured_source(
    rho: sp.Expr,
    drift: Sequence[sp.Expr] | sp.Expr,
    diffusion: Any,
    t: sp.Symbol,
    xs: Sequence[sp.Symbol],
    *,
    backend: str = "numpy",
    parameters: Mapping[sp.Symbol | str, float] | None = None,
) -> ManufacturedSolution:
    """Source S = ∂ρ/∂t + div(ρb) − div(D∇ρ) of a manufactured solution (− DΔρ for scalar D),
    symbolic and lambdified for NumPy (or CuPy with ``backend="cupy"``).

    ``rho``: SymPy expression in ``t`` and ``xs``; ``drift``: d expressions (one per component);
    ``diffusion``: a number, a SymPy symbol/expression, or a symmetric d×d matrix (nested sequence or
    SymPy Matrix). Other free symbols must be given numeric values in ``parameters`` before the
    callables are built (the symbolic ``source_expr`` keeps them).
    """
    if not isinstance(t, sp.Symbol):
        raise TypeError("t must be a SymPy Symbol (the time variable)")
    xs = _as_symbol_tuple(xs)
    d = len(xs)
    if t in xs:
        raise ValueError("t must not be one of the space variables xs")
    if isinstance(rho, (int, float)):
        rho = sp.Integer(rho) if isinstance(rho, int) else sp.Float(rho)
    if not isinstance(rho, sp.Basic):
        raise TypeError("rho must be a SymPy expression (use safe_parse for text)")
    if isinstance(drift, sp.Basic) and not isinstance(drift, sp.MatrixBase):
        drift = [drift]
    drift_t = tuple(sp.Integer(b) if isinstance(b, int) else b for b in drift)
    if len(drift_t) != d or not all(isinstance(b, sp.Basic) for b in drift_t):
        raise ValueError(f"drift must hold {d} SymPy expressions (one per space variable), got {len(drift_t)}")
    if isinstance(diffusion, (list, tuple, sp.MatrixBase, np.ndarray)):
        Dm = sp.Matrix(diffusion)
        if Dm.shape != (d, d):
            raise ValueError(f"a matrix diffusion must be {d}x{d}, got {Dm.shape}")
        if Dm != Dm.T:
            raise ValueError("a matrix diffusion must be symmetric")
        D_val: sp.Expr | sp.Matrix = Dm
        diff_term = sum(Dm[i, j] * sp.diff(rho, xs[i], xs[j]) for i in range(d) for j in range(d))
    else:
        if isinstance(diffusion, (int, float, np.integer, np.floating)):
            if not math.isfinite(float(diffusion)) or float(diffusion) < 0:
                raise ValueError(f"diffusion must be finite and >= 0, got {diffusion}")
            D_val = sp.nsimplify(diffusion) if isinstance(diffusion, (int, np.integer)) else sp.Float(diffusion)
        elif isinstance(diffusion, sp.Basic):
            D_val = diffusion
        else:
            raise TypeError("diffusion must be a number, a SymPy expression or a d×d matrix")
        diff_term = D_val * sum(sp.diff(rho, xi, 2) for xi in xs)  # DΔρ
    source = sp.diff(rho, t) + sum(sp.diff(rho * b, xi) for b, xi in zip(drift_t, xs)) - diff_term

    subs = {}
    for key, value in (parameters or {}).items():
        sym = sp.Symbol(key) if isinstance(key, str) else key
        subs[sym] = sp.Float(value) if isinstance(value, float) else value
    # String parameter names match symbols by name regardless of assumptions.
    by_name = {}
    for key, value in subs.items():
        by_name[key.name] = value
    allowed = {t, *xs}

    def numeric(expr: sp.Expr) -> sp.Expr:
        given = {s: by_name[s.name] for s in expr.free_symbols if s.name in by_name and s not in allowed}
        expr = expr.xreplace(given)
        extra = expr.free_symbols - allowed
        if extra:
            names = ", ".join(sorted(str(s) for s in extra))
            raise ValueError(f"free symbols {names} need numeric values: pass parameters={{...}}")
        return expr

    rho_n, source_n = numeric(rho), numeric(source)
    drift_n = [numeric(b) for b in drift_t]
    return ManufacturedSolution(
        t=t,
        xs=xs,
        rho_expr=rho,
        drift_expr=drift_t,
        diffusion=D_val,
        source_expr=source,
        backend=backend,
        rho=_points_last([rho_n], t, xs, backend, stack=False),
        drift=_points_last(drift_n, t, xs, backend, stack=True),
        source=_points_last([source_n], t, xs, backend, stack=False),
    )


# ----------------------------------------------------------------------------------------------
# Safe parsing of user expressions
# ----------------------------------------------------------------------------------------------

MAX_EXPRESSION_LENGTH = 2000
MAX_EXPRESSION_DEPTH = 200
_MAX_POWER_BITS = 10_000  # numeric a**b may not produce more than ~10⁴ bits

_FUNCTIONS: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "tanh": sp.tanh,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "atan": sp.atan,
    "abs": sp.Abs,
}
_CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "E": sp.E}
_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: None,  # handled with a size guard
}
_NODE_WORDS = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.Compare: "comparisons",
    ast.BoolOp: "boolean operators",
    ast.IfExp: "conditional expressions",
    ast.NamedExpr: "assignment expressions",
    ast.Starred: "starred arguments",
    ast.JoinedStr: "f-strings",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "slices",
}


def _describe(node: ast.AST) -> str:
    for kind, word in _NODE_WORDS.items():
        if isinstance(node, kind):
            return word
    return type(node).__name__


def safe_parse(text: str, names: Iterable[str | sp.Symbol]) -> sp.Expr:
    """Parse a user formula into SymPy through a strict whitelist; nothing is evaluated as Python.

    Allowed: int/decimal literals (decimals become exact rationals: "0.1" → 1/10), the given
    variable ``names`` (strings become real SymPy symbols; Symbol objects are used as given),
    ``pi``, ``E``, binary + - * / **, unary + and -, parentheses, and one-argument calls of
    sin cos tan exp log sqrt tanh sinh cosh atan abs. Anything else (attributes, subscripts,
    lambdas, comprehensions, strings, keywords, dunder or unknown names, inputs over
    2000 characters, nesting deeper than 200, huge numeric powers, division by zero) raises
    ValueError naming what is not allowed. The text is parsed with :mod:`ast` and the SymPy
    expression is built node by node: no eval, sympify or parse_expr on the string.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ValueError(f"expression too long ({len(text)} > {MAX_EXPRESSION_LENGTH} characters)")
    symbols: dict[str, sp.Symbol] = {}
    for name in names:
        sym = name if isinstance(name, sp.Symbol) else None
        key = sym.name if sym is not None else name
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"variable name {key!r} is not a valid identifier")
        if key.startswith("_"):
            raise ValueError(f"variable name {key!r} may not start with an underscore")
        if key in _FUNCTIONS or key in _CONSTANTS:
            raise ValueError(f"variable name {key!r} clashes with a built-in function or constant")
        symbols[key] = sym if sym is not None else sp.Symbol(key, real=True)
    if not text.strip():
        raise ValueError("expression is empty")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not a valid expression: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError(f"expression nested too deeply (limit {MAX_EXPRESSION_DEPTH})") from None
    allowed = ", ".join(sorted(symbols)) or "(none)"
    _reject_forbidden_nodes(tree)

    def build(node: ast.AST, depth: int) -> sp.Expr:
        if depth > MAX_EXPRESSION_DEPTH:
            raise ValueError(f"expression nested too deeply (limit {MAX_EXPRESSION_DEPTH})")
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"literal {value!r} is not allowed (only int and decimal numbers)")
            if isinstance(value, float):
                if not math.isfinite(value):
                    raise ValueError("non-finite number literal is not allowed")
                return sp.Rational(repr(value))
            return sp.Integer(value)
        if isinstance(node, ast.Name):
            if node.id.startswith("__") or node.id.startswith("_"):
                raise ValueError(f"name {node.id!r} is not allowed (no underscore/dunder names)")
            if node.id in symbols:
                return symbols[node.id]
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            if node.id in _FUNCTIONS:
                raise ValueError(f"function {node.id!r} must be called with one argument")
            raise ValueError(f"unknown name {node.id!r} (allowed variables: {allowed})")
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -build(node.operand, depth + 1)
            if isinstance(node.op, ast.UAdd):
                return build(node.operand, depth + 1)
            raise ValueError(f"unary operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.BinOp):
            op = type(node.op)
            if op not in _BINARY:
                raise ValueError(f"operator {op.__name__} is not allowed (only + - * / **)")
            left = build(node.left, depth + 1)
            right = build(node.right, depth + 1)
            if op is ast.Pow:
                return _guarded_power(left, right)
            return _BINARY[op](left, right)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise ValueError(f"calls of {_describe(node.func)} are not allowed (only named functions)")
            fname = node.func.id
            if fname not in _FUNCTIONS:
                raise ValueError(
                    f"function {fname!r} is not allowed (allowed: {', '.join(sorted(_FUNCTIONS))})"
                )
            if node.keywords:
                raise ValueError(f"keyword arguments are not allowed in {fname}(...)")
            if len(node.args) != 1:
                raise ValueError(f"{fname} takes exactly one argument, got {len(node.args)}")
            (arg,) = node.args
            if isinstance(arg, ast.Starred):
                raise ValueError("starred arguments are not allowed")
            return _FUNCTIONS[fname](build(arg, depth + 1))
        raise ValueError(f"not allowed in expressions: {_describe(node)}")

    try:
        expr = build(tree.body, 1)
    except RecursionError:
        raise ValueError(f"expression nested too deeply (limit {MAX_EXPRESSION_DEPTH})") from None
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ValueError("expression is undefined (division by zero or an infinite value)")
    return expr


def _reject_forbidden_nodes(tree: ast.AST) -> None:
    """First pass (outermost first): name the first attribute, subscript, string, dunder... found."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            raise ValueError(f"not allowed in expressions: attribute access ('.{node.attr}')")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ValueError(f"not allowed in expressions: underscore/dunder name {node.id!r}")
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            raise ValueError(f"not allowed in expressions: string literal {node.value!r}")
        if isinstance(node, tuple(_NODE_WORDS)):
            raise ValueError(f"not allowed in expressions: {_describe(node)}")


def _guarded_power(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
    """base**exponent, refusing numeric powers whose exact value would be enormous."""
    if exponent.is_Number and abs(exponent) > 10_000:
        raise ValueError(f"exponent {exponent} too large (limit 10000)")
    if base.is_Rational and exponent.is_Number:
        if base == 0 and exponent.is_negative:
            raise ValueError("expression is undefined (division by zero)")
        p, q = abs(int(base.p)), int(base.q)
        log2_base = max(p.bit_length(), q.bit_length())  # |log2 |base|| ≤ this
        if abs(exponent) * log2_base > _MAX_POWER_BITS:
            raise ValueError(f"numeric power too large ({base}**{exponent}): over {_MAX_POWER_BITS} bits")
    return base**exponent


# ----------------------------------------------------------------------------------------------
# JKO iterates on Gaussians: the 1D update, derived (theory §4, Eq. 13)
# ----------------------------------------------------------------------------------------------
# One JKO step from N(m_k, σ_k²) for F(ρ) = ∫ (H x²/2 + b x) ρ + D ∫ ρ log ρ stays Gaussian (the optimal map is
# affine); restricted to N(m, σ²), W2² = (m − m_k)² + (σ − σ_k)² (no ½) and F = H (m² + σ²)/2 + b m − D log σ
# + const, so the step minimises  ((m − m_k)² + (σ − σ_k)²) / (2τ) + H (m² + σ²)/2 + b m − D log σ  over σ > 0.


@dataclass(frozen=True)
class JKOGaussianUpdate:
    """The derived 1D JKO update: ``mean`` and ``std`` (σ_{k+1}, a standard deviation) as SymPy expressions
    of the ``symbols`` (m_k, σ_k, τ, H, b, D); ``objective`` the function minimised; ``mean_rate`` and
    ``variance_rate`` the τ → 0 limits of (m_{k+1} − m_k)/τ and (σ_{k+1}² − σ_k²)/τ (the OU moment
    equations: consistency at first order); ``residual`` the simplified gradient of the objective at the update
    (0)."""

    mean: sp.Expr
    std: sp.Expr
    symbols: tuple[sp.Symbol, ...]
    objective: sp.Expr
    mean_rate: sp.Expr
    variance_rate: sp.Expr
    residual: tuple[sp.Expr, sp.Expr]

    def numeric(self) -> Callable[..., tuple[float, float]]:
        """f(m_k, σ_k, τ, H, b, D) -> (m_{k+1}, σ_{k+1}) as floats (NumPy through lambdify)."""
        f = sp.lambdify(self.symbols, (self.mean, self.std), modules="numpy")
        return lambda *args: tuple(float(v) for v in f(*args))


@functools.lru_cache(maxsize=1)
def jko_gaussian_update_1d() -> JKOGaussianUpdate:
    """Derive the 1D Gaussian JKO step with SymPy (stationarity of the convex objective above, the positive
    root), check that the gradient vanishes there, and expand it in τ.

    Result: m_{k+1} = (m_k − τ b) / (1 + τH), σ_{k+1} = (σ_k + sqrt(σ_k² + 4(1 + τH) D τ)) / (2(1 + τH)); with
    H = b = 0 the heat iterate σ_{k+1} = ½(σ_k + sqrt(σ_k² + 4Dτ)) of theory §4. Rates: −(H m_k + b) and
    2D − 2H σ_k², the Fokker–Planck moment equations of dX = −(HX + b) dt + sqrt(2D) dW (verify.gaussian
    linear_sde), so the iterates are consistent at first order in τ. Raises SymbolicError if a step fails.
    """
    mk, b = sp.symbols("m_k b", real=True)
    sk, tau, D = sp.symbols("sigma_k tau D", positive=True)
    H = sp.Symbol("H", nonnegative=True)
    m, s = sp.Symbol("m", real=True), sp.Symbol("sigma", positive=True)
    J = ((m - mk) ** 2 + (s - sk) ** 2) / (2 * tau) + H * (m**2 + s**2) / 2 + b * m - D * sp.log(s)
    mean_sol = sp.solve(sp.diff(J, m), m)
    if len(mean_sol) != 1:
        raise SymbolicError(f"the mean equation has {len(mean_sol)} solutions, expected 1")
    # σ-equation times σ τ: the quadratic (1 + τH) σ² − σ_k σ − D τ = 0; its positive root
    quad = sp.expand(sp.diff(J, s) * s * tau)
    roots = sp.solve(quad, s)
    positive = [r for r in roots if r.is_positive is not False and sp.simplify(r.subs(
        {sk: 1, tau: 1, D: 1, H: 0})).is_positive]
    if len(positive) != 1:
        raise SymbolicError(f"the variance equation has {len(positive)} positive roots, expected 1: {roots}")
    mean, std = sp.simplify(mean_sol[0]), sp.simplify(positive[0])
    expected = (sk + sp.sqrt(sk**2 + 4 * (1 + tau * H) * D * tau)) / (2 * (1 + tau * H))
    if sp.simplify(std - expected) != 0 or sp.simplify(mean - (mk - tau * b) / (1 + tau * H)) != 0:
        raise SymbolicError(f"the derived update differs from the closed form: mean {mean}, std {std}")
    residual = (sp.simplify(sp.diff(J, m).subs(m, mean)), sp.simplify(sp.diff(J, s).subs(s, std)))
    if any(r != 0 for r in residual):
        raise SymbolicError(f"the gradient does not vanish at the update: {residual}")
    mean_rate = sp.simplify(sp.limit((mean - mk) / tau, tau, 0))
    variance_rate = sp.simplify(sp.limit((std**2 - sk**2) / tau, tau, 0))
    return JKOGaussianUpdate(mean=mean, std=std, symbols=(mk, sk, tau, H, b, D), objective=J,
                             mean_rate=mean_rate, variance_rate=variance_rate, residual=residual)
