"""Particles for Wasserstein gradient flows: the blob method for porous-medium diffusion and the implicit-Euler
(JKO) particle step for potential and interaction energies.

A cloud x of shape (n, d) with equal masses M/n stands for μ = (M/n) Σ_i δ_{x_i}. Particles follow the velocity
-∇(δE/δρ) of the energy's first variation, the particle form of ∂ρ/∂t = div(ρ ∇ δE/δρ) (Peyré 2025, Eq. 15, with
the time rescaling ẋ_i = -n ∇_{x_i} E(μ) / M built in).

**Blob method** (Carrillo, Craig & Patacchini, "A blob method for diffusion", Calc. Var. PDE 58 (2019) 53,
arXiv:1709.09195): the internal energy E(ρ) = D ∫ρ^m/(m-1) has no meaning on particles, so
one copy of ρ is mollified by a Gaussian φ_ε(z) = (2πε²)^(-d/2) exp(-|z|²/(2ε²))::

    E_ε(μ) = D/(m-1) ∫ (φ_ε * μ)^(m-1) dμ,    ρ̃_i = (φ_ε * μ)(x_i) = (M/n) Σ_j φ_ε(x_i - x_j),
    ẋ_i = -∇ δE_ε/δμ (x_i) = -D (M/n) Σ_j ∇φ_ε(x_i - x_j) (ρ̃_i^(m-2) + ρ̃_j^(m-2)).

For m = 2 this is exactly an interaction energy with the kernel D φ_ε (velocity -2D ∇φ_ε * μ); for other m it is
the same explicit pairwise sum with the weights ρ̃^(m-2). What it approximates: as ε → 0 with the particle
spacing h = n^(-1/d) ≪ ε (CCP prove the convergence of the particle flows for m ≥ 2; for 1 < m < 2 the
formula is used as is, without that guarantee), the mollified particle density φ_ε * μ(t) converges to the
solution of ∂ρ/∂t = D Δ(ρ^m). Limits and bias: the blob energy differs from E by O(ε²) for smooth ρ (and the flow
inherits an O(ε²) bias plus a quadrature error of the particle sums that grows when h/ε is not small: measure
both, e.g. against the Barenblatt dilation); the cost is O(n²) per velocity evaluation (row chunks keep memory
O(chunk · n)); the ODE is stiff with Lipschitz constant ~ D m ρ^(m-1)/ε², so an explicit integrator needs
dt ≲ ε² / (D m max ρ^(m-1)). Deterministic: it takes no random numbers (pass rng-sampled or quantile clouds).
Measured (report case porous-medium-barenblatt, 1D, m = 2, quantile clouds with n = 16 R0/ε, RK4): second moment
and L1 error of φ_ε * μ against the Barenblatt profile of order 1.95 in ε (2.0e-3 and 1.9e-3 at ε = 0.06); the
outermost particle lags its exact position by ≈ 4 ε².

**Implicit-Euler particle step** (Peyré 2025, Eq. 14: x^{k+1} = argmin_x |x - x^k|²/(2τ) + h(x) = (Id + τ∇h)^(-1) x^k),
for the energy E(μ) = ∫V dμ + ½ ∬W(x - y) dμ(x) dμ(y) with W even; per particle::

    x_i^{k+1} = x_i^k - τ [∇V(x_i^{k+1}) + (M/n) Σ_j ∇W(x_i^{k+1} - x_j^{k+1})],

the JKO step restricted to empirical measures (it approximates the aggregation-drift equation
∂ρ/∂t = div(ρ ∇(V + W * ρ)) to first order in τ; with the diffusion missing, a particle cloud can never become a
density: combine it with the blob velocity for diffusion). Solved by a fixed-point iteration
X ← X^k - τ G(X), which contracts when τ · Lip(G) < 1; it stops when the update is below ``tol`` and raises
NumericalError when it does not converge within ``max_iter`` iterations or diverges (reduce τ).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .backend import (all_finite, as_cloud, as_positive_int, as_real_array, as_real_scalar, check_memory, get_xp,
                      largest, on_one_device)
from .errors import NumericalError
from .integrators import MAX_STEPS, integrate_ode

__all__ = ["blob_velocity", "blob_density", "blob_energy", "blob_flow", "BlobFlow", "implicit_euler_step",
           "implicit_euler_flow", "ImplicitStep", "ImplicitFlow", "CHUNK"]

CHUNK = 1024  # rows of the pairwise blocks (memory O(CHUNK · n · d))


def _exponent(m: Any) -> float:
    m = as_real_scalar(m, "m")
    if m <= 1.0:
        raise ValueError(f"m must be > 1 (porous-medium exponent), got {m!r}; for m = 1 use Langevin particles "
                         "(lagrangian.integrate_sde)")
    return m


def _positive(value: Any, name: str) -> float:
    v = as_real_scalar(value, name)
    if not v > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


_TINY = float(np.finfo(np.float64).tiny)


def _kernel_norm(eps: float, d: int) -> float:
    """The peak (2πε²)^(-d/2) of φ_ε; ValueError naming epsilon when ε² or the peak leaves float64's normal
    range (ε tiny or huge for the dimension d), where the kernel sums would divide by zero or vanish."""
    with np.errstate(over="ignore", under="ignore"):   # a product and math.log of eps > 0: no division
        eps2 = float(np.float64(eps) * np.float64(eps))
        log_norm = -0.5 * d * math.log(2.0 * math.pi) - d * math.log(eps)
    if not (_TINY <= eps2 < math.inf and math.log(_TINY) < log_norm < math.log(np.finfo(np.float64).max)):
        raise ValueError(f"epsilon = {eps:g} is out of range for d = {d}: ε² or the kernel peak (2πε²)^(-d/2) "
                         f"leaves float64's normal range; pass a blob width comparable to the particle spacing "
                         f"(rescale x and epsilon together)")
    return math.exp(log_norm)


def _kernel_blocks(x: Any, y: Any, eps: float):
    """An iterator of (rows, differences x_i - y_j (r, k, d), φ_ε of them (r, k)) in row chunks. Pairs so far
    apart that |x_i - y_j|² overflows get φ_ε = 0 (exact in float64); callers check their results for overflow.
    A block beyond the memory budget is refused here, when called, so callers call it before allocating."""
    n, d = x.shape
    check_memory(8 * CHUNK * y.shape[0] * (d + 2), f"blob kernel block ({CHUNK} x {y.shape[0]} pairs)",
                 "use fewer particles", xp=get_xp(x))
    return _blocks(x, y, eps, _kernel_norm(eps, d))


def _blocks(x: Any, y: Any, eps: float, norm: float):
    xp = get_xp(x)
    for start in range(0, x.shape[0], CHUNK):
        rows = slice(start, min(start + CHUNK, x.shape[0]))
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            diff = x[rows, None, :] - y[None, :, :]
            phi = norm * xp.exp(-xp.sum(diff * diff, axis=-1) / (2.0 * eps * eps))
        yield rows, diff, phi


def _blob_args(x: Any, m: Any, epsilon: Any, mass: Any, diffusion: Any,
               x_name: str = "x") -> tuple[Any, float, float, float, float]:
    x = as_cloud(x, x_name)
    m, eps = _exponent(m), _positive(epsilon, "epsilon")
    mass, D = _positive(mass, "mass"), _positive(diffusion, "diffusion")
    norm = _kernel_norm(eps, x.shape[1])
    if not mass / x.shape[0] * norm >= _TINY:
        # ρ̃_i >= (M/n) φ_ε(0) would underflow to 0, and ρ̃^(m-2) divide by zero for m < 2
        raise ValueError(f"mass = {mass:g} is too small for {x.shape[0]} particles and epsilon = {eps:g}: the "
                         f"particle density (mass/n)(2πε²)^(-d/2) underflows float64; rescale the mass")
    return x, m, eps, mass, D


def _finite(value: Any, what: str, x: Any, x_name: str, **scalars: float) -> Any:
    """``value`` (computed under np.errstate) if finite, else ValueError: ``what`` overflows float64."""
    if all_finite(value):
        return value
    listed = ", ".join(f"{k} = {v:.3g}" for k, v in scalars.items())
    raise ValueError(f"{what} overflows float64 (|{x_name}| up to {largest(x):.3g}, {listed}); rescale the "
                     f"problem (smaller mass or diffusion, or x and epsilon scaled together)")


def blob_density(x: Any, points: Any, epsilon: float, *, mass: float = 1.0) -> Any:
    """(φ_ε * μ)(points) = (M/n) Σ_j φ_ε(points - x_j): the particles' mollified density, shape (k,) for points
    (k, d) (x: (n, d) cloud)."""
    x = as_cloud(x, "x")
    p = as_cloud(points, "points", dim=x.shape[1])
    eps, mass = _positive(epsilon, "epsilon"), _positive(mass, "mass")
    xp, (x, p) = on_one_device(x, p)
    blocks = _kernel_blocks(p, x, eps)
    out = xp.zeros(p.shape[0])
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for rows, _, phi in blocks:
            out[rows] = (mass / x.shape[0]) * phi.sum(axis=1)
    return _finite(out, "the blob density (mass/n) Σ_j φ_ε", x, "x", mass=mass, epsilon=eps)


def _velocity(x: Any, m: float, eps: float, mass: float, D: float) -> Any:
    xp = get_xp(x)
    n = x.shape[0]
    w = mass / n
    blocks = _kernel_blocks(x, x, eps)
    single = n <= CHUNK  # one block: keep it for the second pass instead of recomputing the exponentials
    if single:
        blocks = list(blocks)
    rt = xp.zeros(n)
    v = xp.zeros_like(x)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for rows, _, phi in blocks:
            rt[rows] = w * phi.sum(axis=1)
        g = rt ** (m - 2.0)
        for rows, diff, phi in blocks if single else _kernel_blocks(x, x, eps):
            # ∇φ_ε(z) = -z φ_ε(z) / ε²  ->  v_i = D w Σ_j (x_i - x_j) φ_ij (g_i + g_j) / ε²
            weight = phi * (g[rows, None] + g[None, :])
            v[rows] = (D * w / (eps * eps)) * xp.sum(diff * weight[..., None], axis=1)
    return _finite(v, "the blob velocity", x, "x", m=m, epsilon=eps, mass=mass, diffusion=D)


def blob_velocity(x: Any, m: float, epsilon: float, *, mass: float = 1.0, diffusion: float = 1.0) -> Any:
    """Blob velocity v_i = -D (M/n) Σ_j ∇φ_ε(x_i - x_j)(ρ̃_i^(m-2) + ρ̃_j^(m-2)) (module docstring), shape (n, d).

    x : (n, d) cloud (NumPy or CuPy) of equal masses M/n; m > 1; epsilon : blob width ε > 0 (same units as x);
    mass : M > 0; diffusion : D > 0 of ∂ρ/∂t = D Δ(ρ^m). ValueError when ε² or the kernel peak (2πε²)^(-d/2)
    leaves float64's range, when (M/n)(2πε²)^(-d/2) underflows, or when the velocity overflows float64.
    """
    x, m, eps, mass, D = _blob_args(x, m, epsilon, mass, diffusion)
    return _velocity(x, m, eps, mass, D)


def blob_energy(x: Any, m: float, epsilon: float, *, mass: float = 1.0, diffusion: float = 1.0) -> float:
    """E_ε(μ) = D/(m-1) Σ_i (M/n) ρ̃_i^(m-1), the regularised internal energy the blob flow dissipates."""
    x, m, eps, mass, D = _blob_args(x, m, epsilon, mass, diffusion)
    rt = blob_density(x, x, eps, mass=mass)
    xp = get_xp(x)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        e = float(D / (m - 1.0) * (mass / x.shape[0]) * xp.sum(rt ** (m - 1.0)))
    return float(_finite(np.float64(e), "the blob energy", x, "x", m=m, epsilon=eps, mass=mass, diffusion=D))


@dataclass
class BlobFlow:
    """Result of :func:`blob_flow`: ``times`` (k,), ``positions`` (k, n, d) at those times (backend arrays),
    ``energy`` (k,) the blob energy E_ε at those times, and the parameters."""

    times: np.ndarray
    positions: Any
    energy: np.ndarray
    m: float
    epsilon: float
    mass: float
    diffusion: float
    steps: int
    method: str

    @property
    def x(self) -> Any:
        """Final positions (n, d)."""
        return self.positions[-1]


def blob_flow(x0: Any, m: float, epsilon: float, t_final: float, steps: int, *, mass: float = 1.0,
              diffusion: float = 1.0, save_at: Any = None, method: str = "rk4") -> BlobFlow:
    """Move the cloud x0 (n, d) with the blob velocity from t = 0 to t_final in ``steps`` equal steps
    (lagrangian.integrate_ode, ``method`` "rk4" (default), "heun" or "euler").

    Stability: dt = t_final/steps should satisfy dt ≲ ε² / (D m max ρ̃^(m-1)) (stiff pairwise forces); a blow-up
    raises NumericalError (from integrate_ode). save_at : times on the step grid k t_final/steps in [0, t_final]
    (default [0, t_final]; ValueError otherwise); steps <= lagrangian.integrators.MAX_STEPS.
    Returns a :class:`BlobFlow`.
    """
    x0, m, eps, mass, D = _blob_args(x0, m, epsilon, mass, diffusion, "x0")
    T = _positive(t_final, "t_final")
    steps = as_positive_int(steps, "steps")
    if steps > MAX_STEPS:
        raise ValueError(f"steps={steps} exceeds lagrangian.integrators.MAX_STEPS={MAX_STEPS:.0e}; use fewer steps "
                         "(rk4 allows dt up to ~ε²/(D m max ρ̃^(m-1))) or split t_final into several calls")
    dt = T / steps
    if not dt > 0:
        raise ValueError(f"the time step dt = t_final/steps = {T:g}/{steps} underflows to 0; pass a larger t_final "
                         "or fewer steps")
    times = np.array([0.0, T]) if save_at is None else _save_times(save_at, T, steps)

    def field_(t: float, x: Any) -> Any:
        return blob_velocity(x, m, eps, mass=mass, diffusion=D)

    pos = integrate_ode(field_, x0, 0.0, T, steps, method=method, save_at=list(times))
    energy = np.array([blob_energy(p, m, eps, mass=mass, diffusion=D) for p in pos])
    return BlobFlow(times, pos, energy, m, eps, mass, D, steps, method)


def _save_times(save_at: Any, T: float, steps: int) -> np.ndarray:
    """``save_at`` as a 1-D float array of times on the step grid k t_final/steps in [0, t_final]."""
    times = as_real_array(save_at, "save_at", xp=np)  # TypeError for complex, strings, objects; ValueError NaN
    if times.ndim != 1 or times.size == 0:
        raise ValueError(f"save_at must be None (for [0, t_final]) or a non-empty 1-D sequence of times in "
                         f"[0, t_final], got shape {times.shape}")
    if not (np.all(times >= 0.0) and np.all(times <= T * (1 + 1e-12))):
        raise ValueError(f"save_at times must lie in [0, t_final = {T:g}], got {times.tolist()}")
    dt = T / steps   # > 0 (the caller refuses an underflow), so k <= steps (1 + 1e-12): no overflow
    k = times / dt
    if np.any(np.abs(k - np.rint(k)) > 1e-8 * np.maximum(1.0, k)):
        raise ValueError(f"save_at times must be multiples of the step dt = t_final/steps = {dt:g} (t_final = "
                         f"{T:g}, steps = {steps}), got {times.tolist()}; choose steps so they fall on the grid")
    return times


# --------------------------------------------------------------------------------- implicit Euler (JKO) steps
@dataclass(frozen=True)
class ImplicitStep:
    """One implicit-Euler particle step: the new cloud ``x`` (n, d), the fixed-point ``iterations`` and the final
    ``residual`` max_i |x_i - x_i^k + τ G_i(x)| (G the gradient of δE/δμ at the particles)."""

    x: Any
    iterations: int
    residual: float


@dataclass
class ImplicitFlow:
    """Iterates of :func:`implicit_euler_flow`: ``times`` (K+1,), ``positions`` (K+1, n, d), ``iterations`` (K,)."""

    times: np.ndarray
    positions: Any
    iterations: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    @property
    def x(self) -> Any:
        return self.positions[-1]


def _not_finite(name: str) -> NumericalError:
    return NumericalError(f"{name} returned NaN or infinite values at the starting particles x^k (all finite); "
                          f"fix {name.split('(')[0]} there (e.g. a division by zero, a log of a negative number or "
                          "an overflow)")


def _gradient(x: Any, potential_grad: Callable | None, interaction_grad: Callable | None, mass: float,
              check: bool = False) -> Any:
    """G(x) = ∇V(x_i) + (M/n) Σ_j ∇W(x_i - x_j); with ``check`` (at the finite start x^k) NumericalError naming
    the callable that returns NaN/Inf there."""
    xp = get_xp(x)
    g = xp.zeros_like(x)
    if potential_grad is not None:
        gv = potential_grad(x)
        if np.iscomplexobj(gv):
            raise TypeError("potential_grad(x) must return real values (take .real if the imaginary part is zero)")
        gv = xp.asarray(gv, dtype=x.dtype)
        if gv.shape != x.shape:
            raise ValueError(f"potential_grad(x) must return the gradient ∇V at each particle, shape {x.shape}; "
                             f"got {gv.shape}")
        if check and not all_finite(gv, xp):
            raise _not_finite("potential_grad(x)")
        g = g + gv
    if interaction_grad is not None:
        n = x.shape[0]
        for start in range(0, n, CHUNK):
            rows = slice(start, min(start + CHUNK, n))
            diff = x[rows, None, :] - x[None, :, :]
            gw = interaction_grad(diff)
            if np.iscomplexobj(gw):
                raise TypeError("interaction_grad(z) must return real values")
            gw = xp.asarray(gw, dtype=x.dtype)
            if gw.shape != diff.shape:
                raise ValueError(f"interaction_grad(z) must map differences z (..., d) to ∇W(z) (..., d); got "
                                 f"shape {gw.shape} for z of shape {diff.shape}")
            if check and not all_finite(gw, xp):
                raise _not_finite("interaction_grad(z)")
            g[rows] = g[rows] + (mass / n) * gw.sum(axis=1)
    return g


def implicit_euler_step(x: Any, tau: float, *, potential_grad: Callable | None = None,
                        interaction_grad: Callable | None = None, mass: float = 1.0, tol: float = 1e-12,
                        max_iter: int = 500) -> ImplicitStep:
    """One JKO step on particles, x^{k+1} = (Id + τ ∇h)^(-1) x^k (Peyré 2025, Eq. 14), for E = ∫V dμ + ½∬W dμdμ.

    x : (n, d) cloud x^k (NumPy or CuPy), equal masses M/n (``mass`` = M > 0); tau : τ > 0 (time units).
    potential_grad : ∇V, callable (n, d) -> (n, d), or None. interaction_grad : ∇W, callable z (..., d) -> (..., d)
    for the differences z = x_i - x_j (W even, so ∇W(0) = 0), or None (at least one is required).
    tol : stop when max_i |update| <= tol (1 + max|x|); max_iter : iteration cap (NumericalError beyond it, or when
    the iteration diverges: τ · Lip(∇V + ∇W * μ) >= 1, reduce τ). NumericalError naming potential_grad or
    interaction_grad when it returns NaN/Inf at the (finite) starting cloud x^k.
    """
    xk = as_cloud(x, "x")
    tau = _positive(tau, "tau")
    mass = _positive(mass, "mass")
    tol = _positive(tol, "tol")
    max_iter = as_positive_int(max_iter, "max_iter")
    for name, f in (("potential_grad", potential_grad), ("interaction_grad", interaction_grad)):
        if f is not None and not callable(f):
            raise TypeError(f"{name} must be a callable or None, got {type(f).__name__}")
    if potential_grad is None and interaction_grad is None:
        raise ValueError("give potential_grad and/or interaction_grad: with neither the step is the identity")
    xp = get_xp(xk)
    if interaction_grad is not None:   # refused before anything is allocated
        n, d = xk.shape
        check_memory(8 * min(n, CHUNK) * n * d * 2, "pairwise differences", "use fewer particles", xp=xp)
    scale = 1.0 + float(xp.abs(xk).max())
    y = xk
    previous = math.inf
    for it in range(1, max_iter + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            y_new = xk - tau * _gradient(y, potential_grad, interaction_grad, mass, check=it == 1)
        if not all_finite(y_new, xp):
            raise NumericalError(f"implicit_euler_step: the fixed-point iteration produced non-finite positions at "
                                 f"iteration {it} (tau = {tau:g}); reduce tau below 1 / Lip(grad)")
        change = float(xp.abs(y_new - y).max())
        y = y_new
        if change <= tol * scale:
            residual = float(xp.abs(y - xk + tau * _gradient(y, potential_grad, interaction_grad, mass)).max())
            return ImplicitStep(y, it, residual)
        if it > 20 and change > 1e3 * previous:
            break
        previous = min(previous, change)
    raise NumericalError(f"implicit_euler_step: the fixed-point iteration did not converge in {max_iter} iterations "
                         f"(last update {change:.3g} > tol {tol:g} x {scale:.3g}; tau = {tau:g}); it contracts only "
                         "when tau * Lip(grad V + grad W * mu) < 1: reduce tau, or raise max_iter")


def implicit_euler_flow(x0: Any, tau: float, steps: int, **kwargs: Any) -> ImplicitFlow:
    """``steps`` implicit-Euler particle steps of size τ from x0 (n, d) (keywords of :func:`implicit_euler_step`);
    first order in τ towards the particle ODE ẋ = -∇V(x) - ∇W * μ (x). steps <= lagrangian.integrators.MAX_STEPS,
    and the (steps + 1, n, d) positions must fit in memory (MemoryBudgetError otherwise)."""
    x = as_cloud(x0, "x0")
    steps = as_positive_int(steps, "steps")
    if steps > MAX_STEPS:
        raise ValueError(f"steps={steps} exceeds lagrangian.integrators.MAX_STEPS={MAX_STEPS:.0e}; take fewer, "
                         "larger steps (larger tau) or split the run into several calls")
    tau = _positive(tau, "tau")
    xp = get_xp(x)
    check_memory(8 * (steps + 1) * x.shape[0] * x.shape[1], f"implicit_euler_flow positions of {steps} steps",
                 "use fewer steps", xp=xp)
    out, its = [x], []
    for _ in range(steps):
        r = implicit_euler_step(out[-1], tau, **kwargs)
        out.append(r.x)
        its.append(r.iterations)
    return ImplicitFlow(tau * np.arange(steps + 1), xp.stack(out), np.array(its))
