"""Hypothesis strategies for property tests: SPD matrices, Gaussians and stable matrices.

Every strategy draws bounded floats and *builds* the object (no filtering), so Hypothesis never
rejects examples and raises no health-check warnings. Each guarantees its promise exactly up to
float64 rounding (a relative safety margin of 1e-6 is kept inside every bound):

* ``spd_matrices(d)``: symmetric (exactly), eigenvalues in [scale[0], scale[1]], condition ≤ max_condition.
* ``gaussians(d)``: ``verify.gaussian.Gaussian(mean, cov)`` with |mean_i| ≤ mean_bound, cov as above.
* ``stable_matrices(d)``: every eigenvalue has real part in [−scale[1], −scale[0]] (strictly
  negative), 2-norm condition number ≤ max_condition; non-normal and non-symmetric in general.

``d`` may be an int or a strategy of ints (e.g. ``st.integers(1, 3)``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

__all__ = ["spd_matrices", "gaussians", "stable_matrices", "rotations"]

_MARGIN = 1e-6  # relative margin kept inside each promised bound against float64 rounding


def _dims(d: int | st.SearchStrategy[int]) -> st.SearchStrategy[int]:
    if isinstance(d, st.SearchStrategy):
        return d
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise TypeError(f"d must be an int or a strategy of ints, got {type(d).__name__}")
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    return st.just(int(d))


def _check_dim_value(d: Any) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"the dimension strategy must produce ints >= 1, got {d!r}")
    return int(d)


def _check_scale(scale: tuple[float, float], name: str = "scale") -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (low, high) of floats, got {scale!r}") from None
    if not (0 < lo <= hi < math.inf):
        raise ValueError(f"{name} must satisfy 0 < low <= high < inf, got {scale!r}")
    return lo, hi


def _check_condition(max_condition: float) -> float:
    c = float(max_condition)
    if not (1.0 <= c < math.inf):
        raise ValueError(f"max_condition must be a finite number >= 1, got {max_condition!r}")
    return c


def _givens_rotation(d: int, angles: list[float]) -> np.ndarray:
    """Product of Givens rotations G(i, j, θ_ij) over i < j: exactly orthogonal up to rounding."""
    u = np.eye(d)
    k = 0
    for i in range(d):
        for j in range(i + 1, d):
            c, s = math.cos(angles[k]), math.sin(angles[k])
            g = np.eye(d)
            g[i, i] = g[j, j] = c
            g[i, j], g[j, i] = -s, s
            u = u @ g
            k += 1
    return u


@st.composite
def _rotation(draw: st.DrawFn, d: int) -> np.ndarray:
    n = d * (d - 1) // 2
    angles = draw(st.lists(st.floats(-math.pi, math.pi), min_size=n, max_size=n))
    return _givens_rotation(d, angles)


def rotations(d: int | st.SearchStrategy[int]) -> st.SearchStrategy[np.ndarray]:
    """Orthogonal d×d matrices with determinant +1 (products of Givens rotations)."""
    return _dims(d).flatmap(lambda k: _rotation(_check_dim_value(k)))


@st.composite
def _spectrum(draw: st.DrawFn, d: int, lo: float, hi: float, max_condition: float) -> np.ndarray:
    """d values in [lo, hi] whose ratio max/min is ≤ max_condition (drawn in log space)."""
    log_lo, log_hi = math.log(lo), math.log(hi)
    shrink = 1.0 - _MARGIN
    log_lo_in = log_lo + _MARGIN if log_hi - log_lo > 2 * _MARGIN else log_lo
    log_hi_in = log_hi - _MARGIN if log_hi - log_lo > 2 * _MARGIN else log_hi
    top = draw(st.floats(log_lo_in, log_hi_in))
    bottom = max(log_lo_in, top - math.log(max_condition) * shrink)
    rest = draw(st.lists(st.floats(bottom, top), min_size=d - 1, max_size=d - 1))
    return np.exp(np.array([top, *rest]))


@st.composite
def _spd(draw: st.DrawFn, d: int, lo: float, hi: float, max_condition: float) -> np.ndarray:
    lam = draw(_spectrum(d, lo, hi, max_condition))
    u = draw(_rotation(d))
    a = (u * lam) @ u.T
    return 0.5 * (a + a.T)


def spd_matrices(
    d: int | st.SearchStrategy[int],
    *,
    max_condition: float = 1e3,
    scale: tuple[float, float] = (0.1, 10.0),
) -> st.SearchStrategy[np.ndarray]:
    """Symmetric positive-definite (d, d) float64 matrices U diag(λ) Uᵀ.

    λ are drawn log-uniformly (Hypothesis floats) inside [scale[0], scale[1]] with
    max λ / min λ ≤ max_condition; U is a product of Givens rotations. The result is exactly
    symmetric; its eigenvalues and 2-norm condition number respect the bounds up to rounding.
    """
    c = _check_condition(max_condition)
    lo, hi = _check_scale(scale)
    return _dims(d).flatmap(lambda k: _spd(_check_dim_value(k), lo, hi, c))


def gaussians(
    d: int | st.SearchStrategy[int],
    *,
    mean_bound: float = 10.0,
    max_condition: float = 1e3,
    scale: tuple[float, float] = (0.1, 10.0),
) -> st.SearchStrategy[Any]:
    """``verify.gaussian.Gaussian(mean, cov)`` with |mean_i| ≤ mean_bound and cov from
    :func:`spd_matrices` (same ``max_condition`` and ``scale``)."""
    c = _check_condition(max_condition)
    lo, hi = _check_scale(scale)
    bound = float(mean_bound)
    if not (0 <= bound < math.inf):
        raise ValueError(f"mean_bound must be finite and >= 0, got {mean_bound!r}")

    @st.composite
    def build(draw: st.DrawFn, k: int) -> Any:
        from verify.gaussian import Gaussian  # lazy: strategies stay importable on their own

        mean = np.array(draw(st.lists(st.floats(-bound, bound), min_size=k, max_size=k)), float)
        return Gaussian(mean, draw(_spd(k, lo, hi, c)))

    return _dims(d).flatmap(lambda k: build(_check_dim_value(k)))


@st.composite
def _stable(draw: st.DrawFn, d: int, lo: float, hi: float, max_condition: float) -> np.ndarray:
    # A = −S (P + W) S⁻¹ with P SPD (spectrum in [lo, hi]), W antisymmetric, S = U diag(σ) Vᵀ.
    # Eigenvalues of P + W have real parts in [λmin(P), λmax(P)] (Re v*(P+W)v = v*Pv), so those of
    # A lie in [−hi, −lo]. cond(P + W) ≤ (λmax(P) + ‖W‖₂)/λmin(P) (σmin(P + W) ≥ λmin(P)) and
    # cond(A) ≤ cond(S)² cond(P + W): the budget max_condition is split between the three parts.
    log_c = math.log(max_condition) * (1.0 - _MARGIN)
    f_sim = draw(st.floats(0.0, 0.5))  # share of log-condition spent on the similarity S
    f_rot = draw(st.floats(0.0, 1.0))  # share of the rest spent on the rotation part W
    kappa_s = math.exp(0.5 * f_sim * log_c)  # cond(S) = kappa_s, cond(S)² = exp(f_sim log_c)
    inner = math.exp((1.0 - f_sim) * log_c)  # allowed cond(P + W)
    kappa_p = math.exp((1.0 - f_rot) * math.log(inner))
    p_lam = draw(_spectrum(d, lo, hi, kappa_p))
    u = draw(_rotation(d))
    p = (u * p_lam) @ u.T
    p = 0.5 * (p + p.T)
    n = d * (d - 1) // 2
    raw = draw(st.lists(st.floats(-1.0, 1.0), min_size=n, max_size=n))
    w = np.zeros((d, d))
    w[np.triu_indices(d, 1)] = raw
    w = w - w.T
    budget = max(0.0, inner * p_lam.min() - p_lam.max()) * (1.0 - _MARGIN)  # allowed ‖W‖₂
    norm = float(np.linalg.norm(w))  # Frobenius ≥ 2-norm
    if norm > 0.0:
        w *= draw(st.floats(0.0, 1.0)) * budget / norm
    sig = np.exp(np.array(draw(st.lists(st.floats(0.0, math.log(kappa_s)), min_size=d, max_size=d))))
    left, right = draw(_rotation(d)), draw(_rotation(d))
    s = (left * sig) @ right.T
    s_inv = (right / sig) @ left.T  # exact inverse of U diag(σ) Vᵀ up to rounding
    return -(s @ (p + w) @ s_inv)


def stable_matrices(
    d: int | st.SearchStrategy[int],
    *,
    max_condition: float = 1e3,
    scale: tuple[float, float] = (0.1, 10.0),
) -> st.SearchStrategy[np.ndarray]:
    """Hurwitz-stable (d, d) float64 matrices A = −S (P + W) S⁻¹.

    P is SPD with spectrum in [scale[0], scale[1]], W antisymmetric (a rotation part) and S a
    well-conditioned similarity, so A is non-symmetric and non-normal in general (its symmetric part
    may be indefinite). Every eigenvalue has real part in [−scale[1], −scale[0]] (strictly negative)
    and the 2-norm condition number of A is ≤ max_condition.
    """
    c = _check_condition(max_condition)
    lo, hi = _check_scale(scale)
    return _dims(d).flatmap(lambda k: _stable(_check_dim_value(k), lo, hi, c))
