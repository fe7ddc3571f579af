"""Barenblatt self-similar solutions of the porous-medium equation ∂ρ/∂t = Δ(ρ^m), m > 1, in R^d.

Closed forms (NumPy, float64) and a SymPy proof that they solve the equation.

With the self-similar time s > 0 (the Barenblatt–Pattle solution is a Dirac mass at s = 0)::

    ρ(s, x) = s^(-a) (C - k |x|² s^(-2β))_+^(1/(m-1)),
    a = d / (d (m-1) + 2),   β = a / d = 1 / (d (m-1) + 2),   k = a (m-1) / (2 m d),

C > 0 fixed by the mass M (conserved). With p = 1/(m-1) and ω(q) = π^(d/2) Γ(q+1) / Γ(q+1+d/2)
(= ∫_{|z|<1} (1-|z|²)^q dz)::

    M          = C^(p + d/2) k^(-d/2) ω(p)
    R(s)       = sqrt(C / k) s^β                      (support radius: ρ > 0 exactly for |x| < R(s))
    ∫|x|²ρ dx  = M R(s)² d / (d + 2p + 2)             (second moment, grows like s^(2β))
    ∫ρ^m dx    = s^(-a(m-1)) C^(pm + d/2) k^(-d/2) ω(pm)   (so the energy ∫ρ^m/(m-1) decays like s^(-a(m-1)))

**Time convention.** A run starts from a smooth Barenblatt profile: :class:`Barenblatt` carries a time shift
``t0 > 0`` and every method takes the *elapsed* time t ≥ 0 since the initial datum, evaluating the formulas
at s = t0 + t. So ``Barenblatt(m, d, t0=0.1).density(0.0, x)`` is the initial datum of a solver run and
``density(T, x)`` the exact solution after running it for a time T. The exact Lagrangian flow is the dilation
x ↦ x ((t0 + t) / t0)^β (:meth:`Barenblatt.dilation`): particles started at x move to x · dilation(t).

Equation convention: ∂ρ/∂t = Δ(ρ^m) = div(ρ ∇(m/(m-1) ρ^(m-1))), the Wasserstein gradient flow of
∫ρ^m/(m-1) dx (the generalised entropy g(s) = s^m/(m-1) of Peyré 2025, Eq. 16). With a factor D (∂ρ/∂t = D Δρ^m) the
solution is the same profile at the time D·t: use ``Barenblatt(..., diffusion=D)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import gammaln

__all__ = ["Barenblatt", "BarenblattProof", "barenblatt_proof", "MAX_DIM"]

MAX_DIM = 3


def _real(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if np.iscomplexobj(value):
        raise TypeError(f"{name} must be real, got {value!r}; pass {name}.real if the imaginary part is zero")
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number, got {value!r}") from exc
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


def _omega(q: float, d: int) -> float:
    """∫_{|z|<1} (1 - |z|²)^q dz = π^(d/2) Γ(q+1) / Γ(q+1+d/2)."""
    return math.exp(0.5 * d * math.log(math.pi) + gammaln(q + 1.0) - gammaln(q + 1.0 + 0.5 * d))


@dataclass(frozen=True)
class Barenblatt:
    """The Barenblatt solution of ∂ρ/∂t = D Δ(ρ^m) in R^d with mass ``mass``, started at self-similar time t0.

    Parameters
    ----------
    m : exponent > 1 (m = 2: ρ is Lipschitz with a kink at the edge of its support).
    dim : space dimension d in {1, 2, 3}.
    mass : total mass M > 0 (conserved).
    t0 : self-similar time of the initial datum, > 0 (the module docstring states the convention).
    diffusion : factor D > 0 of the equation (self-similar time s = D (t0 + t); t0 is in the units of t).
    center : (d,) centre of the profile (default the origin).

    Methods take the elapsed time t ≥ 0 (scalar) and points x of shape (..., d) (points last).
    """

    m: float
    dim: int
    mass: float = 1.0
    t0: float = 0.1
    diffusion: float = 1.0
    center: Any = None

    def __post_init__(self) -> None:
        m = _real("m", self.m)
        if not m > 1.0:
            raise ValueError(f"m must be > 1 (the porous-medium equation; m = 1 is the heat equation, m < 1 fast "
                             f"diffusion, which has no compactly supported Barenblatt profile), got {self.m!r}")
        if isinstance(self.dim, (bool, np.bool_)) or not isinstance(self.dim, (int, np.integer)):
            raise TypeError(f"dim must be an integer in 1..{MAX_DIM}, got {self.dim!r}")
        if not 1 <= int(self.dim) <= MAX_DIM:
            raise ValueError(f"dim must be in 1..{MAX_DIM}, got {self.dim}")
        for name in ("mass", "t0", "diffusion"):
            if not _real(name, getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        d = int(self.dim)
        c = np.zeros(d) if self.center is None else np.asarray(self.center)
        if np.iscomplexobj(c):
            raise TypeError("center must be real; pass center.real if the imaginary part is zero")
        c = np.asarray(c, dtype=float).reshape(-1) if c.ndim <= 1 else c
        if c.shape != (d,) or not np.all(np.isfinite(c)):
            raise ValueError(f"center must be {d} finite real numbers (one per axis), got {self.center!r}")
        object.__setattr__(self, "m", m)
        object.__setattr__(self, "dim", d)
        for name in ("mass", "t0", "diffusion"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "center", c)

    # -- constants ------------------------------------------------------------------------------------------
    @property
    def alpha(self) -> float:
        """a = d / (d (m-1) + 2): the peak decays like s^(-a)."""
        return self.dim / (self.dim * (self.m - 1.0) + 2.0)

    @property
    def beta(self) -> float:
        """β = a / d = 1 / (d (m-1) + 2): lengths grow like s^β."""
        return 1.0 / (self.dim * (self.m - 1.0) + 2.0)

    @property
    def k(self) -> float:
        """k = a (m-1) / (2 m d)."""
        return self.alpha * (self.m - 1.0) / (2.0 * self.m * self.dim)

    @property
    def C(self) -> float:
        """The constant C of the profile, fixed by the mass: M = C^(p + d/2) k^(-d/2) ω(p)."""
        d, p = self.dim, 1.0 / (self.m - 1.0)
        return (self.mass * self.k ** (0.5 * d) / _omega(p, d)) ** (1.0 / (p + 0.5 * d))

    def self_similar_time(self, t: Any) -> np.ndarray | float:
        """s = D (t0 + t) for elapsed times t ≥ 0."""
        t = np.asarray(t, dtype=float) if np.ndim(t) else _real("t", t)
        if np.iscomplexobj(t):
            raise TypeError("t must be real")
        if np.any(~np.isfinite(t)) or np.any(np.asarray(t) < 0):
            raise ValueError(f"t must be finite and >= 0 (elapsed time since the initial datum), got {t!r}")
        return self.diffusion * (self.t0 + t)

    # -- closed forms -----------------------------------------------------------------------------------------
    def density(self, t: float, x: Any) -> np.ndarray:
        """ρ(t, x), x of shape (..., d) -> (...)."""
        s = self.self_similar_time(t)
        x = self._points(x)
        r2 = np.sum((x - self.center) ** 2, axis=-1)
        base = np.maximum(self.C - self.k * r2 * s ** (-2.0 * self.beta), 0.0)
        return s ** (-self.alpha) * base ** (1.0 / (self.m - 1.0))

    def pressure(self, t: float, x: Any) -> np.ndarray:
        """The pressure m/(m-1) ρ^(m-1), a concave parabola on the support (its gradient is -velocity / D)."""
        return self.m / (self.m - 1.0) * self.density(t, x) ** (self.m - 1.0)

    def support_radius(self, t: Any) -> np.ndarray | float:
        """R(t) = sqrt(C / k) s^β: ρ(t, x) > 0 exactly for |x - center| < R(t)."""
        return math.sqrt(self.C / self.k) * self.self_similar_time(t) ** self.beta

    def level_radius(self, t: float, fraction: float) -> float:
        """Radius where ρ equals ``fraction`` (in (0, 1)) of its maximum: R sqrt(1 - fraction^(m-1))."""
        f = _real("fraction", fraction)
        if not 0.0 < f < 1.0:
            raise ValueError(f"fraction must lie in (0, 1), got {fraction!r}")
        return float(self.support_radius(t)) * math.sqrt(1.0 - f ** (self.m - 1.0))

    def max_density(self, t: Any) -> np.ndarray | float:
        """ρ(t, center) = s^(-a) C^(1/(m-1))."""
        return self.self_similar_time(t) ** (-self.alpha) * self.C ** (1.0 / (self.m - 1.0))

    def total_mass(self, t: Any = 0.0) -> float:
        """∫ρ dx from the closed form (equals ``mass`` at every t)."""
        self.self_similar_time(t)  # validates t; the mass does not depend on it
        d, p = self.dim, 1.0 / (self.m - 1.0)
        return self.C ** (p + 0.5 * d) * self.k ** (-0.5 * d) * _omega(p, d)

    def second_moment(self, t: Any) -> np.ndarray | float:
        """∫|x - center|² ρ dx = M R(t)² d / (d + 2p + 2), p = 1/(m-1)."""
        d, p = self.dim, 1.0 / (self.m - 1.0)
        return self.mass * self.support_radius(t) ** 2 * d / (d + 2.0 * p + 2.0)

    def variance(self, t: Any) -> np.ndarray | float:
        """Per-axis variance of the normalised density: second_moment / (M d)."""
        return self.second_moment(t) / (self.mass * self.dim)

    def internal_energy(self, t: Any) -> np.ndarray | float:
        """∫ρ^m/(m-1) dx = s^(-a(m-1)) C^(pm + d/2) k^(-d/2) ω(pm) / (m-1)."""
        s = self.self_similar_time(t)
        d, p = self.dim, 1.0 / (self.m - 1.0)
        pm = p * self.m
        return (s ** (-self.alpha * (self.m - 1.0)) * self.C ** (pm + 0.5 * d) * self.k ** (-0.5 * d)
                * _omega(pm, d) / (self.m - 1.0))

    def dilation(self, t: Any) -> np.ndarray | float:
        """((t0 + t) / t0)^β: the exact flow map is x ↦ center + dilation(t) (x - center)."""
        return (self.self_similar_time(t) / self.self_similar_time(0.0)) ** self.beta

    def quantiles(self, n: int) -> np.ndarray:
        """1-D only: the n points at the quantile levels (i + 1/2)/n of the initial datum, shape (n, 1)
        (deterministic particles; by Newton on the closed-form CDF, |CDF - level| < 1e-13)."""
        if self.dim != 1:
            raise ValueError("quantiles are defined for dim = 1; sample radii and angles for d > 1")
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        from scipy.special import betainc

        p = 1.0 / (self.m - 1.0)
        levels = (np.arange(n) + 0.5) / n
        # CDF of z = x / R on [-1, 1]: density ∝ (1 - z²)^p; with u = z², P(|z| < u^(1/2)) = I_u(1/2, p + 1)
        target = np.abs(2.0 * levels - 1.0)
        z = np.sqrt(np.clip(target, 0.0, 1.0))
        for _ in range(100):
            f = betainc(0.5, p + 1.0, z * z) - target
            dens = 2.0 * (1.0 - z * z) ** p / (math.exp(gammaln(0.5) + gammaln(p + 1.0) - gammaln(p + 1.5)))
            step = np.where(dens > 0, f / np.where(dens > 0, dens, 1.0), 0.0)
            z = np.clip(z - step, 0.0, 1.0)
            if np.max(np.abs(f)) < 1e-14:
                break
        z = np.sign(2.0 * levels - 1.0) * z
        return (self.center[0] + float(self.support_radius(0.0)) * z)[:, None]

    def _points(self, x: Any) -> np.ndarray:
        if np.iscomplexobj(x):
            raise TypeError("x must be real points (..., d); pass x.real if the imaginary part is zero")
        x = np.asarray(x, dtype=float)
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise ValueError(f"x must have shape (..., {self.dim}) (points last), got {x.shape}")
        return x


# ------------------------------------------------------------------------------------------------- SymPy
@dataclass(frozen=True)
class BarenblattProof:
    """Outcome of :func:`barenblatt_proof`: the simplified PDE residual inside the support (0 when proven),
    the simplified d/dt of the mass (0), and the mass integral against the closed form (difference 0)."""

    dim: int
    m: Any
    residual: Any
    mass_derivative: Any
    mass_difference: Any

    @property
    def holds(self) -> bool:
        return self.residual == 0 and self.mass_derivative == 0 and self.mass_difference == 0


def barenblatt_proof(dim: int, m: Any, *, k: Any = None) -> BarenblattProof:
    """Prove with SymPy that the Barenblatt profile solves ∂ρ/∂t = Δ(ρ^m) inside its support and keeps its mass.

    ``dim`` in {1, 2, 3}; ``m`` a rational number > 1 (int, fractions.Fraction or sympy.Rational; floats are
    refused: pass sympy.Rational(3, 2) for 1.5). Symbols: t > 0 (self-similar time s), C > 0, Cartesian
    x_1..x_d; the Laplacian is the Cartesian one (sum of second derivatives), applied to (C - k|x|²t^(-2β))^(pm)
    where the base is positive, i.e. inside the support. The mass is the radial integral
    |S^(d-1)| ∫_0^R ρ r^(d-1) dr with R = sqrt(C/k) t^β; its t-derivative must simplify to 0 and its value to
    C^(p+d/2) k^(-d/2) ω(p). ``k``: replace the constant k = a(m-1)/(2md) by another rational (a wrong
    profile, to see the proof fail: the residual is then not 0). The residual is divided by
    t^(-a-1) (C - k|x|²t^(-2β))^(p-1) > 0 before simplification. At the edge of the support ρ^m is C¹
    (pm = p + 1 > 1), so the flux vanishes there and the piecewise profile is a weak solution on R^d.
    """
    import sympy as sp

    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)) or not 1 <= dim <= MAX_DIM:
        raise ValueError(f"dim must be an integer in 1..{MAX_DIM}, got {dim!r}")
    if isinstance(m, (float, np.floating, complex, bool, str)) or not isinstance(m, (int, np.integer, sp.Rational)) \
            and type(m).__name__ != "Fraction":
        raise TypeError(f"m must be an exact rational (int, fractions.Fraction or sympy.Rational), got {m!r}; "
                        "e.g. sympy.Rational(3, 2)")
    M = sp.Rational(m.numerator, m.denominator) if type(m).__name__ == "Fraction" else sp.Rational(m)
    if not M > 1:
        raise ValueError(f"m must be > 1, got {m}")
    d = int(dim)
    t, C = sp.symbols("t C", positive=True)
    xs = sp.symbols(f"x1:{d + 1}", real=True)
    a = sp.Rational(d) / (d * (M - 1) + 2)
    beta = a / d
    k = a * (M - 1) / (2 * M * d) if k is None else sp.Rational(k)
    p = 1 / (M - 1)
    r2 = sum(x ** 2 for x in xs)
    u = C - k * r2 * t ** (-2 * beta)  # positive inside the support
    rho = t ** (-a) * u ** p
    lap = sum(sp.diff(t ** (-a * M) * u ** (p * M), x, 2) for x in xs)
    residual = sp.simplify(sp.powsimp(sp.expand_power_base((sp.diff(rho, t) - lap) / (t ** (-a - 1) * u ** (p - 1)),
                                                           force=True), force=True))
    residual = sp.simplify(sp.expand(residual))
    # mass: radial integral over the support
    r, z = sp.symbols("r z", positive=True)
    R = sp.sqrt(C / k) * t ** beta
    sphere = 2 * sp.pi ** sp.Rational(d, 2) / sp.gamma(sp.Rational(d, 2))
    rho_r = t ** (-a) * (C - k * r ** 2 * t ** (-2 * beta)) ** p
    mass = sphere * sp.integrate(rho_r * r ** (d - 1), (r, 0, R))
    mass_derivative = sp.simplify(sp.diff(mass, t))
    closed = C ** (p + sp.Rational(d, 2)) * k ** (-sp.Rational(d, 2)) * sp.pi ** sp.Rational(d, 2) \
        * sp.gamma(p + 1) / sp.gamma(p + 1 + sp.Rational(d, 2))
    mass_difference = sp.simplify(sp.gammasimp(mass - closed))
    return BarenblattProof(d, M, residual, mass_derivative, mass_difference)
