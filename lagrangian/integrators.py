"""Fixed-step integrators for particle ODEs dX/dt = v(t, X) and additive-noise SDEs.

SDE convention (docs/theory.md, Conventions): ``dX = b(t, X) dt + sqrt(2 D) dW``, so the law solves the Fokker–Planck
equation ∂ρ/∂t + div(ρ b) = div(D ∇ρ). ``D`` is a scalar ≥ 0, a vector of per-axis coefficients ≥ 0, or a
symmetric positive semi-definite (d, d) matrix; the noise factor is its symmetric square root σ = sqrt(2D).

Fields are callables ``f(t, x)`` taking the **whole cloud** x of shape (n, d) and returning (n, d). A
field of independent particles acts row by row; a mean-field (interacting) field such as
:func:`lagrangian.attention_field` uses all rows, i.e. the empirical measure (1/n) Σ δ_{x_i}. Every
stage of every scheme calls the field with the full (n, d) cloud, so both kinds work unchanged.

Steppers live in registries (:data:`ODE_STEPPERS`, :data:`SDE_STEPPERS`) and declare their orders, so
tests cover each scheme automatically. One code path serves NumPy and CuPy: the namespace is read from
``x0``; CuPy noise is drawn with ``cupy.random.default_rng`` seeded from the NumPy ``rng``.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .backend import (all_finite, as_cloud, as_positive_int, as_real_array, as_real_scalar, check_real_output,
                      get_xp, is_cupy, largest)
from .errors import NumericalError

__all__ = [
    "ODEStepper", "SDEStepper", "ODE_STEPPERS", "SDE_STEPPERS", "integrate_ode", "integrate_sde",
    "noise_factor", "MAX_STEPS",
]

MAX_STEPS = 10**8
"""Largest ``steps`` accepted by :func:`integrate_ode` / :func:`integrate_sde` (a Python loop of 10⁸ steps
already takes hours); split the interval into several calls if more are really needed."""

Field = Callable[[float, Any], Any]


# --------------------------------------------------------------------------------------------- ODE steppers
@dataclass(frozen=True)
class ODEStepper:
    """One-step ODE scheme ``x_{k+1} = step(field, t_k, x_k, h)`` of global order ``order``."""

    name: str
    order: int
    stages: int
    step: Callable[[Field, float, Any, float], Any]
    description: str = ""


def _euler_step(field: Field, t: float, x: Any, h: float) -> Any:
    # x_{k+1} = x_k + h v(t_k, x_k)
    return x + h * field(t, x)


def _heun_step(field: Field, t: float, x: Any, h: float) -> Any:
    # k1 = v(t, x); k2 = v(t + h, x + h k1); x_{k+1} = x + h (k1 + k2) / 2
    k1 = field(t, x)
    k2 = field(t + h, x + h * k1)
    return x + (0.5 * h) * (k1 + k2)


def _rk4_step(field: Field, t: float, x: Any, h: float) -> Any:
    # classical Runge–Kutta: x_{k+1} = x + h (k1 + 2 k2 + 2 k3 + k4) / 6
    k1 = field(t, x)
    k2 = field(t + 0.5 * h, x + (0.5 * h) * k1)
    k3 = field(t + 0.5 * h, x + (0.5 * h) * k2)
    k4 = field(t + h, x + h * k3)
    return x + (h / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)


ODE_STEPPERS: Mapping[str, ODEStepper] = MappingProxyType({
    "euler": ODEStepper("euler", 1, 1, _euler_step, "explicit Euler"),
    "heun": ODEStepper("heun", 2, 2, _heun_step, "Heun (explicit trapezoidal, RK2)"),
    "rk4": ODEStepper("rk4", 4, 4, _rk4_step, "classical fourth-order Runge–Kutta"),
})


# --------------------------------------------------------------------------------------------- SDE steppers
@dataclass(frozen=True)
class SDEStepper:
    """One-step scheme for additive noise: ``x_{k+1} = step(drift, t_k, x_k, h, dn)``.

    ``dn = σ ΔW_k`` is the noise increment (σ = sqrt(2D), ΔW_k ~ N(0, h I)). Orders are for additive noise
    and smooth drifts: ``strong_order`` (pathwise, mean-square) and ``weak_order`` (expectations).
    """

    name: str
    strong_order: float
    weak_order: float
    step: Callable[[Field, float, Any, float, Any], Any]
    description: str = ""


def _axpy(a: float, x: Any, y: Any) -> None:
    """y += a x in place (one pass: BLAS daxpy for contiguous NumPy float64 arrays)."""
    if isinstance(y, np.ndarray) and isinstance(x, np.ndarray) and y.flags.c_contiguous \
            and x.flags.c_contiguous and x.dtype == y.dtype == np.float64 and x.shape == y.shape:
        from scipy.linalg.blas import daxpy

        daxpy(x.reshape(-1), y.reshape(-1), a=a)
    else:
        y += a * x


def _euler_maruyama_step(drift: Field, t: float, x: Any, h: float, dn: Any) -> Any:
    # X_{k+1} = X_k + h b(t_k, X_k) + σ ΔW_k   (the drift's output is read, never modified)
    out = x + dn
    _axpy(h, drift(t, x), out)
    return out


def _stochastic_heun_step(drift: Field, t: float, x: Any, h: float, dn: Any) -> Any:
    # Ῡ = X + h b(t, X) + σΔW;  X_{k+1} = X + h (b(t, X) + b(t + h, Ῡ)) / 2 + σΔW
    # (Kloeden–Platen §15.1, explicit weak order 2.0 scheme, which reduces to this for additive noise)
    b0 = drift(t, x)
    support = x + dn
    _axpy(h, b0, support)
    b1 = drift(t + h, support)
    out = x + dn
    _axpy(0.5 * h, b0, out)
    _axpy(0.5 * h, b1, out)
    return out


SDE_STEPPERS: Mapping[str, SDEStepper] = MappingProxyType({
    "euler-maruyama": SDEStepper("euler-maruyama", 1.0, 1.0, _euler_maruyama_step,
                                 "Euler–Maruyama (strong order 1 for additive noise, weak order 1)"),
    "heun": SDEStepper("heun", 1.0, 2.0, _stochastic_heun_step,
                       "stochastic Heun = Platen's explicit weak order 2.0 scheme for additive noise"),
})


# --------------------------------------------------------------------------------------------- helpers
def _lookup(registry: Mapping[str, Any], method: Any, kind: str) -> Any:
    if isinstance(method, (ODEStepper, SDEStepper)):
        return method
    if not isinstance(method, str):
        raise TypeError(f"method must be a string naming a {kind} scheme, got {type(method).__name__}")
    try:
        return registry[method.lower()]
    except KeyError:
        close = difflib.get_close_matches(method.lower(), list(registry), n=2)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise ValueError(f"unknown {kind} method {method!r}{hint}; valid methods are {sorted(registry)}") from None


def _check_steps(steps: Any) -> int:
    """``steps`` as an int in [1, MAX_STEPS]; TypeError for bool/float, ValueError out of range."""
    if isinstance(steps, (int, np.integer)) and not isinstance(steps, (bool, np.bool_)) and steps > MAX_STEPS:
        raise ValueError(f"steps={steps} exceeds MAX_STEPS={MAX_STEPS:.0e}; use a higher-order method with "
                         f"fewer steps, or split [t0, t1] into several calls")
    return as_positive_int(steps, "steps")


def _check_span(t0: Any, t1: Any) -> tuple[float, float]:
    """Finite real t0 != t1 as floats."""
    t0, t1 = as_real_scalar(t0, "t0"), as_real_scalar(t1, "t1")
    if t0 == t1:
        raise ValueError(f"need t0 != t1, got t0 = t1 = {t0}; pass the end time as t1")
    return t0, t1


def _save_indices(save_at: Sequence[float] | None, t0: float, t1: float, steps: int) -> list[int] | None:
    """Step indices k with t0 + k h equal to the requested save times (they must lie on the step grid)."""
    if save_at is None:
        return None
    times = np.atleast_1d(as_real_array(save_at, "save_at", xp=np))
    if times.ndim != 1 or times.size == 0:
        raise ValueError("save_at must be a non-empty 1-D sequence of times")
    span = t1 - t0
    with np.errstate(over="ignore", invalid="ignore"):  # times far outside [t0, t1] give ±inf: refused below
        frac = (times - t0) / span
    if np.any(~np.isfinite(frac)) or np.any(frac < -1e-12) or np.any(frac > 1 + 1e-12):
        raise ValueError(f"save_at times must lie between t0={t0} and t1={t1}, got {times.tolist()}")
    k = np.rint(frac * steps).astype(int)
    if np.any(np.abs(frac * steps - k) > 1e-8 * max(1, steps)):
        raise ValueError(f"save_at times must be step times t0 + k (t1 - t0)/steps; with steps={steps} "
                         f"{times.tolist()} are not all on that grid (choose steps as a multiple)")
    return k.tolist()


def _checked(field: Field, shape: tuple[int, ...], name: str) -> Field:
    """Wrap ``field`` so a wrong output shape (ValueError) or a complex/non-numeric output (TypeError)
    gives a clear error instead of a silent cast. (NaN/Inf outputs are diagnosed only when the particles
    stop being finite, see :func:`_march`: checking every stage would cost a pass over the cloud.)"""
    if not callable(field):
        raise TypeError(f"{name} must be a callable {name}(t, x) returning an array shaped like x, got "
                        f"{type(field).__name__}")

    def wrapped(t: float, x: Any) -> Any:
        out = field(t, x)
        check_real_output(out, f"{name}(t, x)", shape=shape)
        return out

    return wrapped


def _require_finite(xp: Any, x: Any, t: float, field: Field, name: str, last: tuple[float, Any]) -> None:
    """NumericalError when the particles ``x`` at time ``t`` hold NaN/Inf. ``field`` (named ``name``) is
    evaluated once more at ``last`` = (time, particles) of the last finite state: if it returns NaN/Inf
    there, the message blames it; otherwise the particles blew up."""
    if all_finite(x, xp):
        return
    t_ok, x_ok = last
    try:
        with np.errstate(all="ignore"):
            culprit = not all_finite(field(t_ok, x_ok), xp)
    except Exception:  # noqa: BLE001 - a diagnosis only: report the blow-up below
        culprit = False
    if culprit:
        raise NumericalError(f"{name}(t, x) returned NaN or infinite values at t={t_ok:g}, where every particle "
                             f"is finite (the particles are NaN or infinite by t={t:g}); fix {name} there (e.g. a "
                             f"division by zero, a log of a negative number or an overflow)")
    raise NumericalError(f"particles became NaN or infinite by t={t:g} (blow-up, or a step size too large for "
                         f"the {name}); reduce the step or stop before the blow-up time")


def noise_factor(diffusion: Any, dim: int) -> np.ndarray | float:
    """σ = sqrt(2 D): a float for scalar D, a (d,) vector for per-axis D, else the symmetric (d, d) root.

    Raises ValueError for negative, non-symmetric or non-positive-semi-definite D, mismatched dims, and D so
    large that σ overflows float64 (D beyond ~9e307).
    """
    return _noise_factor(diffusion, as_positive_int(dim, "dim"), "dim")


def _noise_factor(diffusion: Any, dim: int, source: str) -> np.ndarray | float:
    """:func:`noise_factor` for a validated ``dim``; ``source`` names where dim comes from ("dim", "x0")."""
    d = as_real_array(diffusion, "diffusion", xp=np)
    with np.errstate(over="ignore", invalid="ignore"):
        sigma = _sqrt_2d(d, dim, source)
    if not np.all(np.isfinite(sigma)):
        raise ValueError(f"diffusion has entries up to {largest(d):.3g}: the noise factor σ = sqrt(2D) overflows "
                         f"float64 (D beyond {np.finfo(float).max / 2:.3g}); rescale time or space")
    return sigma


def _sqrt_2d(d: np.ndarray, dim: int, source: str) -> np.ndarray | float:
    if d.ndim == 0:
        if d < 0:
            raise ValueError(f"diffusion must be ≥ 0 (it is D in ∂ρ/∂t = DΔρ), got {float(d)}")
        return float(np.sqrt(2.0 * d))
    if d.ndim == 1:
        if d.shape != (dim,):
            raise ValueError(f"diffusion vector has shape {d.shape} but particles have dimension {dim} "
                             f"({source})")
        if np.any(d < 0):
            raise ValueError(f"diffusion coefficients must be ≥ 0, got {d.tolist()}")
        return np.sqrt(2.0 * d)
    if d.shape != (dim, dim):
        raise ValueError(f"diffusion matrix has shape {d.shape} but particles have dimension {dim} ({source}); "
                         f"pass a scalar, a ({dim},) vector or a ({dim}, {dim}) matrix")
    scale = max(1.0, float(np.abs(d).max()))
    if not np.allclose(d, d.T, rtol=0, atol=1e-12 * scale):
        raise ValueError("diffusion matrix must be symmetric")
    w, u = np.linalg.eigh(0.5 * d + 0.5 * d.T)  # not 0.5 (d + dᵀ), which overflows for entries near 1e308
    if w.min() < -1e-12 * scale:
        raise ValueError(f"diffusion matrix must be positive semi-definite, smallest eigenvalue {w.min():.3g}")
    return (u * np.sqrt(2.0 * np.clip(w, 0.0, None))) @ u.T


class _Noise:
    """Draws σ ΔW increments (n, d) with ΔW ~ N(0, h I) in the namespace of the particles."""

    def __init__(self, xp: Any, rng: np.random.Generator, sigma: Any, shape: tuple[int, int], h: float):
        self.xp = xp
        self.shape = shape
        if is_cupy(xp):
            seed = int(rng.integers(0, 2**63 - 1))
            self.gen = xp.random.default_rng(seed)
        else:
            self.gen = rng
        self.buf = None if is_cupy(xp) else np.empty(shape)
        if np.ndim(sigma) == 2:
            self.matrix = xp.asarray(np.sqrt(h) * np.asarray(sigma).T)
            self.scale = None
        else:
            self.matrix = None
            self.scale = xp.asarray(np.sqrt(h) * np.asarray(sigma)) if np.ndim(sigma) == 1 else np.sqrt(h) * sigma

    def draw(self) -> Any:
        if is_cupy(self.xp):
            xi = self.gen.standard_normal(size=self.shape, dtype=self.xp.float64)
        else:
            xi = self.gen.standard_normal(out=self.buf)
        if self.matrix is not None:
            return xi @ self.matrix
        xi *= self.scale
        return xi


def _march(advance: Callable[[float, Any], Any], x: Any, xp: Any, t0: float, t1: float, h: float,
           steps: int, saves: list[int] | None, field: Field, name: str) -> Any:
    """Apply ``x ← advance(t, x)`` at t = t0 + k h, k < steps; keep copies at the step indices ``saves``
    (returned stacked in the order asked) and check finiteness there and at the end (``field``, the field
    or drift called ``name``, is evaluated again to diagnose non-finite particles)."""
    out = []
    last = (t0, x)  # the last state known to be finite
    with np.errstate(over="ignore", invalid="ignore"):
        if saves is not None and 0 in saves:
            out.extend([x.copy()] * saves.count(0))
        for k in range(steps):
            x = advance(t0 + k * h, x)
            if saves is not None and (k + 1) in saves:
                _require_finite(xp, x, t0 + (k + 1) * h, field, name, last)
                last = (t0 + (k + 1) * h, x)
                out.extend([x.copy()] * saves.count(k + 1))
    _require_finite(xp, x, t1, field, name, last)
    if saves is None:
        return x
    order = np.argsort(np.argsort(saves, kind="stable"), kind="stable")
    return xp.stack([out[i] for i in order])


# --------------------------------------------------------------------------------------------- drivers
def integrate_ode(field: Field, x0: Any, t0: float, t1: float, steps: int, *, method: str = "rk4",
                  save_at: Sequence[float] | None = None) -> Any:
    """Integrate dX/dt = field(t, X) for a cloud x0 (n, d) from t0 to t1 in ``steps`` equal steps.

    ``field`` is called with the whole (n, d) cloud at every stage (mean-field fields use all rows).
    ``method`` is a key of :data:`ODE_STEPPERS` ("euler", "heun", "rk4") or an :class:`ODEStepper`.
    Returns the final positions (n, d), or, with ``save_at`` (times on the step grid t0 + k (t1-t0)/steps),
    an array (len(save_at), n, d) of positions at those times. t1 < t0 integrates backwards.
    Raises NumericalError if particles become NaN/Inf (checked at save times and at the end), TypeError
    for complex input or a field returning complex values, ValueError for ``steps`` outside [1, MAX_STEPS].
    """
    stepper = _lookup(ODE_STEPPERS, method, "ODE")
    x = as_cloud(x0, "x0")
    xp = get_xp(x)
    steps = _check_steps(steps)
    t0, t1 = _check_span(t0, t1)
    saves = _save_indices(save_at, t0, t1, steps)
    f = _checked(field, x.shape, "field")
    h = (t1 - t0) / steps
    return _march(lambda t, y: stepper.step(f, t, y, h), x, xp, t0, t1, h, steps, saves, f, "field")


def integrate_sde(drift: Field, diffusion: Any, x0: Any, t0: float, t1: float, steps: int, *,
                  rng: np.random.Generator, method: str = "euler-maruyama",
                  save_at: Sequence[float] | None = None) -> Any:
    """Integrate dX = drift(t, X) dt + sqrt(2 D) dW (additive noise) for a cloud x0 (n, d), t0 < t1.

    ``diffusion`` D: scalar ≥ 0, (d,) per-axis, or symmetric PSD (d, d) matrix (law: ∂ρ/∂t + div(ρb) =
    div(D∇ρ)). ``method``: "euler-maruyama" (weak order 1) or "heun" (weak order 2), see
    :data:`SDE_STEPPERS`. ``rng`` is a NumPy Generator (CuPy runs seed a CuPy generator from it).
    ``drift`` is called with the whole cloud (mean-field drifts use all rows: McKean–Vlasov particles).
    Returns final positions (n, d), or (len(save_at), n, d) at step-grid times ``save_at``.
    """
    stepper = _lookup(SDE_STEPPERS, method, "SDE")
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator, e.g. numpy.random.default_rng(seed)")
    x = as_cloud(x0, "x0")
    xp = get_xp(x)
    steps = _check_steps(steps)
    t0, t1 = _check_span(t0, t1)
    if not t1 > t0:
        raise ValueError(f"integrate_sde needs t0 < t1 (SDEs run forward in time), got t0={t0}, t1={t1}")
    sigma = _noise_factor(diffusion, x.shape[1], f"x0 has shape {x.shape}")
    saves = _save_indices(save_at, t0, t1, steps)
    f = _checked(drift, x.shape, "drift")
    h = (t1 - t0) / steps
    noise = _Noise(xp, rng, sigma, x.shape, h)
    return _march(lambda t, y: stepper.step(f, t, y, h, noise.draw()), x, xp, t0, t1, h, steps,
                  saves, f, "drift")
