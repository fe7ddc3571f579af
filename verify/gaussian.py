"""Numeric Gaussian closed forms (float64): the exact answers every twinflow check rests on.

Conventions (see docs/theory.md; proposition numbers follow Peyré, Optimal and Diffusion Transports in Machine
Learning, 2025):

* A Gaussian is N(mean, cov) with cov symmetric positive definite; points are arrays (..., d).
* ``Affine(matrix, offset)`` is x ↦ matrix·x + offset; used both as maps and as vector fields.
* W2 is the Bures–Wasserstein distance (Prop 4.3); ``w2`` returns the distance, ``w2_squared`` the square.
* Diffusion D means ∂ρ/∂t + div(ρ(Bx + c)) = div(D∇ρ), i.e. dX = (BX + c) dt + sqrt(2D) dW.
* Flow matching uses the independent coupling, X_t = (1 − t) X0 + t X1, X0 ~ g0 (source), X1 ~ g1.
* Attention: Γ[μ](x) = V ∫ y e^{s⟨Qx,Ky⟩} dμ(y) / ∫ e^{s⟨Qx,Ky⟩} dμ(y), scale s (s = 1 in the survey,
  s = 1/√d in Castin et al.).

Matrix square roots use the symmetric eigendecomposition; results that are symmetric in exact
arithmetic are returned exactly symmetric.
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
import scipy.linalg
from scipy.integrate import solve_ivp

from eulerian._validate import check_memory

__all__ = [
    "Gaussian", "Affine", "FiniteTimeBlowUp", "w2", "w2_squared", "brenier_map", "mccann",
    "mccann_field", "linear_sde", "linear_sde_transition", "expectation", "stationary", "linear_moment_rhs",
    "flow_matching_marginal",
    "flow_matching_field", "flow_matching_map", "least_squares_field", "attention",
    "attention_map", "attention_moment_rhs", "data_moments", "linear_network", "linear_network_rhs",
    "linear_network_risk", "jko_gaussian_step", "jko_gaussian", "gaussian_free_energy",
]

_SYM_RTOL = 1e-10
_PD_RTOL = 1e-14  # a covariance needs smallest eigenvalue > _PD_RTOL × largest (see _spd)
_SETTLED_RTOL = 1e-13  # linear_network stops once the moments move by less than this (see _settled_event)
_SETTLED_NOISE = 1e-12  # ... or once |S q − r| ≤ this × (|S q| + |r|), the integration's rtol (ditto)


class FiniteTimeBlowUp(ArithmeticError):
    """A moment ODE leaves every bounded set before the requested time.

    ``blowup_time`` is the estimated blow-up time; ``reached`` the last time integrated accurately.
    """

    def __init__(self, message: str, blowup_time: float, reached: float):
        super().__init__(message)
        self.blowup_time = float(blowup_time)
        self.reached = float(reached)


# ---------------------------------------------------------------------------------------------
# validation and symmetric-matrix helpers


def _symmetrize(a: np.ndarray) -> np.ndarray:
    return 0.5 * a + 0.5 * a.T  # not 0.5 (a + aᵀ): that overflows for entries near the float64 maximum


def _real(a, name: str, what: str = "array", *, copy: bool = True) -> np.ndarray:
    """``a`` as a float64 array (a fresh copy when ``copy``); TypeError for complex or non-numeric input,
    which is never cast silently to real."""
    try:
        arr = np.asarray(a)
        if arr.dtype.kind == "O":  # Fraction, Decimal, ...
            arr = np.asarray(a, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real {what}, got {type(a).__name__}") from exc
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real; got {arr.dtype} — pass {name}.real if the imaginary part is zero")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real {what}; got dtype {arr.dtype} — convert it with "
                        f"numpy.asarray({name}, dtype=float)")
    return np.array(arr, dtype=float) if copy else arr.astype(float, copy=False)


def _real_scalar(x, name: str) -> float:
    """``x`` as a Python float; TypeError for bool, complex or non-numeric input."""
    if x is None or isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {x!r}")
    arr = _real(x, name, "number", copy=False)
    if arr.ndim != 0:
        raise TypeError(f"{name} must be a real number, got an array of shape {arr.shape}")
    return float(arr)


def _finite(a: np.ndarray, what: str) -> np.ndarray:
    """``a`` if every entry is finite, else a ValueError saying that ``what`` overflows float64."""
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} overflows float64 (entries beyond {np.finfo(float).max:.3g}); rescale the "
                         f"problem, e.g. change units so means and covariances are nearer 1")
    return a


def _overflow_checked(func):
    """Run ``func`` with float overflow warnings silenced: its results go through :func:`_finite` (or the
    validation of :class:`Gaussian` / :class:`Affine`), which raise a ValueError instead."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore"):
            return func(*args, **kwargs)

    return wrapper


def _sizes(**arrays) -> str:
    """"|name| up to <largest magnitude>" for each array (argument) ``name``, for overflow messages."""
    def size(a) -> float:
        return float(np.max(np.abs(a))) if np.size(a) else 0.0

    return ", ".join(f"|{name}| {'=' if np.ndim(a) == 0 else 'up to'} {size(a):.3g}" for name, a in arrays.items())


def _moment_start(rhs, y0: np.ndarray, size0: float, what: str, sizes: str, fix: str) -> None:
    """Check a moment ODE y' = rhs(t, y) before integrating it (call under ignored overflow): ValueError when
    rhs(0, y0) or the size ``size0`` of the initial moments overflows float64."""
    if not (np.isfinite(size0) and np.all(np.isfinite(rhs(0.0, y0)))):
        raise ValueError(f"{what} overflows float64 at t = 0 ({sizes}); {fix}")


def _stalled_at_start(sol, rhs, what: str, sizes: str, fix: str) -> None:
    """ValueError when DOP853 could not take a single step (status -1 at t = 0): the ODE's time scale
    |y| / |dy/dt| is below what float64 step sizes resolve."""
    if sol.status == -1 and sol.t[-1] == 0.0:
        y = sol.y[:, 0]
        rate = float(np.max(np.abs(rhs(0.0, y)))) / max(float(np.max(np.abs(y))), np.finfo(float).tiny)
        raise ValueError(f"{what} cannot be integrated from t = 0: its relative rate max|dy/dt| / max|y| ≈ "
                         f"{rate:.3g} is too fast for float64 step sizes ({sol.message.rstrip('.')}; {sizes}); {fix}")


def _collapse_event(d: int, offset: int):
    """Terminal solve_ivp event: the d×d covariance stored from ``y[offset]`` on stops being positive definite in
    float64, i.e. its smallest eigenvalue falls to _PD_RTOL × its largest (as :class:`Gaussian` requires)."""

    def collapse(_s, y):
        cov = y[offset:offset + d * d].reshape(d, d)
        if not np.all(np.isfinite(cov)):
            return 1.0  # a blow-up: reported by the caller
        lam = np.linalg.eigvalsh(_symmetrize(cov))
        return lam[0] - _PD_RTOL * lam[-1]

    collapse.terminal = True
    collapse.direction = -1
    return collapse


def _collapse_error(what: str, t: float, t_c: float, fix: str) -> ValueError:
    return ValueError(f"{what} becomes singular before t = {t}: by t ≈ {t_c:.6g} its smallest eigenvalue falls "
                      f"below {_PD_RTOL:g} × its largest, so the law concentrates near a subspace and has no "
                      f"density in float64; ask for t < {t_c:.6g}, or {fix}")


def _as_matrix(a, name: str, d: int | None = None) -> np.ndarray:
    m = _real(a, name, "matrix")
    if m.ndim == 0 and d == 1:
        m = m.reshape(1, 1)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {m.shape}")
    if d is not None and m.shape[0] != d:
        raise ValueError(f"{name} must be {d}×{d} to match dimension {d}, got {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return m


def _as_vector(v, name: str, d: int | None = None) -> np.ndarray:
    x = _real(v, name, "vector")
    if x.ndim == 0:
        x = x.reshape(1)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a vector of shape (d,), got shape {x.shape}")
    if d is not None and x.shape[0] != d:
        raise ValueError(f"{name} must have length {d} to match dimension {d}, got {x.shape[0]}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must have at least one entry (the dimension d >= 1), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return x


def _check_symmetric(m: np.ndarray, name: str) -> np.ndarray:
    scale = max(float(np.max(np.abs(m))), np.finfo(float).tiny)
    asym = float(np.max(np.abs(m - m.T)))
    if asym > _SYM_RTOL * scale:
        raise ValueError(f"{name} must be symmetric: max |{name} − {name}ᵀ| = {asym:.3g} "
                         f"(relative {asym / scale:.3g}); symmetrise it, e.g. (C + C.T) / 2")
    return _symmetrize(m)


def _spd(m, name: str, d: int | None = None) -> np.ndarray:
    """Validate a symmetric positive-definite matrix; return it exactly symmetric."""
    m = _check_symmetric(_as_matrix(m, name, d), name)
    lam = np.linalg.eigvalsh(m)
    if lam[0] <= 0 or lam[0] <= _PD_RTOL * lam[-1]:
        raise ValueError(f"{name} must be positive definite: its smallest eigenvalue is "
                         f"{lam[0]:.3g} (largest {lam[-1]:.3g}); a covariance needs every "
                         f"eigenvalue > 0")
    return m


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix by eigendecomposition."""
    lam, u = np.linalg.eigh(_symmetrize(m))
    root = (u * np.sqrt(np.clip(lam, 0.0, None))) @ u.T
    return _symmetrize(root)


def _sqrtm_and_inv(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lam, u = np.linalg.eigh(m)
    s = np.sqrt(lam)
    return _symmetrize((u * s) @ u.T), _symmetrize((u / s) @ u.T)


def _check_time(t, name: str = "t", lower: float = 0.0, upper: float | None = 1.0) -> float:
    t = _real_scalar(t, name)
    if not np.isfinite(t) or t < lower or (upper is not None and t > upper):
        rng = f"[{lower}, {upper}]" if upper is not None else f"[{lower}, ∞)"
        raise ValueError(f"{name} must lie in {rng}, got {t}")
    return t


def _same_dim(g0: "Gaussian", g1: "Gaussian") -> int:
    for name, g in (("g0", g0), ("g1", g1)):
        if not isinstance(g, Gaussian):
            raise TypeError(f"{name} must be a verify.gaussian.Gaussian, got {type(g).__name__}")
    if g0.dim != g1.dim:
        raise ValueError(f"g0 and g1 have different dimensions ({g0.dim} and {g1.dim})")
    return g0.dim


def _diffusion_matrix(diffusion, d: int) -> np.ndarray:
    """D as a d×d symmetric PSD matrix (a scalar means D·I)."""
    arr = _real(diffusion, "diffusion")
    if arr.ndim == 0:
        if not np.isfinite(arr) or arr < 0:
            raise ValueError(f"diffusion D must be a finite number ≥ 0 (∂ρ/∂t = DΔρ, "
                             f"dX = sqrt(2D) dW), got {float(arr)}")
        return float(arr) * np.eye(d)
    m = _check_symmetric(_as_matrix(arr, "diffusion", d), "diffusion")
    lam = np.linalg.eigvalsh(m)
    if lam[0] < -1e-14 * max(1.0, lam[-1]):
        raise ValueError(f"diffusion matrix D must be positive semi-definite, smallest eigenvalue "
                         f"{lam[0]:.3g}")
    return m


# ---------------------------------------------------------------------------------------------
# objects


class Gaussian:
    """The normal law N(mean, cov) on R^d.

    ``mean`` has shape (d,), ``cov`` shape (d, d), symmetric positive definite (validated, stored
    exactly symmetric and read-only). Scalars are accepted for d = 1.
    """

    __slots__ = ("mean", "cov", "dim", "_chol")

    def __init__(self, mean, cov):
        mean = _as_vector(mean, "mean")
        d = mean.shape[0]
        cov = _spd(cov, "cov", d)
        mean.setflags(write=False)
        cov.setflags(write=False)
        self.mean = mean
        self.cov = cov
        self.dim = d
        self._chol = np.linalg.cholesky(cov)

    def __repr__(self) -> str:
        return f"Gaussian(mean={self.mean.tolist()}, cov={self.cov.tolist()})"

    def _points(self, x) -> np.ndarray:
        x = _real(x, "x", copy=False)
        if x.ndim == 0 and self.dim == 1:
            x = x.reshape(1)
        if x.shape[-1:] != (self.dim,) or x.size == 0:
            raise ValueError(f"x must be points of shape (..., {self.dim}) (this law's dimension), got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("points x contain NaN or infinite values; the density is defined at finite points")
        return x

    def logpdf(self, x) -> np.ndarray:
        """log density at points x (..., d) → (...)."""
        x = self._points(x)
        z = scipy.linalg.solve_triangular(self._chol, (x - self.mean).reshape(-1, self.dim).T,
                                          lower=True)
        logdet = 2.0 * np.sum(np.log(np.diag(self._chol)))
        with np.errstate(over="ignore"):  # |z|² beyond float64: the log density is -inf to working precision
            out = -0.5 * (np.sum(z * z, axis=0) + logdet + self.dim * np.log(2 * np.pi))
        return out.reshape(x.shape[:-1])

    def pdf(self, x) -> np.ndarray:
        """Density at points x (..., d) → (...)."""
        return np.exp(self.logpdf(x))

    def score(self, x) -> np.ndarray:
        """∇ log ρ(x) = −cov⁻¹ (x − mean), points (..., d) → (..., d)."""
        x = self._points(x)
        flat = (x - self.mean).reshape(-1, self.dim).T
        return -scipy.linalg.cho_solve((self._chol, True), flat).T.reshape(x.shape)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n exact draws, shape (n, d): mean + L z with cov = L Lᵀ. ``n`` a positive integer (an integral float is
        taken); a sample beyond eulerian's memory cap is refused (MemoryLimitError) before drawing."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError("rng must be a numpy.random.Generator, e.g. np.random.default_rng(0)")
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer, float, np.floating)):
            raise TypeError(f"n must be a positive integer, got {n!r}; pass e.g. n=1000")
        if not (np.isfinite(float(n)) and int(n) == n and n >= 1):
            raise ValueError(f"n must be a positive integer, got {n!r}; pass e.g. n=1000")
        check_memory(16.0 * float(n) * self.dim, f"Gaussian.sample(n={int(n)}) of {self.dim}-D points",
                     "draw fewer points n, in batches if needed")
        z = rng.standard_normal((int(n), self.dim))
        return self.mean + z @ self._chol.T


class Affine:
    """The affine map (or vector field) x ↦ matrix · x + offset on points (..., d)."""

    __slots__ = ("matrix", "offset", "dim")

    def __init__(self, matrix, offset=None):
        matrix = _real(matrix, "matrix", "matrix")
        matrix = _as_matrix(matrix, "matrix", 1 if matrix.ndim == 0 else None)
        d = matrix.shape[0]
        offset = np.zeros(d) if offset is None else _as_vector(offset, "offset", d)
        matrix.setflags(write=False)
        offset.setflags(write=False)
        self.matrix = matrix
        self.offset = offset
        self.dim = d

    def __repr__(self) -> str:
        return f"Affine(matrix={self.matrix.tolist()}, offset={self.offset.tolist()})"

    def __call__(self, x, *args) -> np.ndarray:
        """Apply to points x (..., d). As a field f(t, x), call ``field(t, x)``: t is ignored."""
        if args:  # field convention f(t, x)
            x = args[0]
        x = _real(x, "x", copy=False)
        if x.shape[-1:] != (self.dim,):
            raise ValueError(f"x must be points of shape (..., {self.dim}) (the map's dimension), got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("points x contain NaN or infinite values; pass finite points")
        if self.dim == 1:  # the same numbers as the product below, without a matmul over (n, 1)
            return x * self.matrix[0, 0] + self.offset
        return x @ self.matrix.T + self.offset

    def push(self, g: Gaussian) -> Gaussian:
        """Push-forward of N(m, Σ): N(A m + b, A Σ Aᵀ)."""
        if not isinstance(g, Gaussian):
            raise TypeError(f"g must be a Gaussian, got {type(g).__name__}")
        if g.dim != self.dim:
            raise ValueError(f"cannot push g, a {g.dim}-D Gaussian, through a {self.dim}-D map")
        with np.errstate(over="ignore", invalid="ignore"):
            mean = _finite(self.matrix @ g.mean + self.offset, "the pushed-forward mean")
            cov = _finite(_symmetrize(self.matrix @ g.cov @ self.matrix.T), "the pushed-forward covariance")
        return Gaussian(mean, cov)


# ---------------------------------------------------------------------------------------------
# optimal transport (Prop 4.3) and McCann interpolation


def _exponent(*arrays: np.ndarray) -> int:
    """Binary exponent e with max |entry| / 2^e in [0.5, 1) (0 for all-zero input).

    Scaling by 2^e (``np.ldexp``) is exact, so closed forms computed on matrices scaled this way and
    rescaled afterwards equal the unscaled ones wherever those do not under- or overflow.
    """
    top = max(float(np.max(np.abs(a))) for a in arrays)
    return int(np.frexp(top)[1]) if top > 0 else 0


def _pow2(k: int) -> float:
    """2^(k/2) for an integer k, computed without rounding when k is even."""
    return float(np.ldexp(np.sqrt(2.0) if k % 2 else 1.0, k // 2))


def _bures_scaled(a0: np.ndarray, a1: np.ndarray) -> float:
    """tr(A0 + A1 − 2 (A0^{1/2} A1 A0^{1/2})^{1/2}) ≥ 0 for matrices of order-one entries."""
    if np.array_equal(a0, a1):
        return 0.0  # identical covariances: exactly zero, not a rounding residue
    r0 = _sqrtm_psd(a0)
    cross = np.trace(_sqrtm_psd(r0 @ a1 @ r0))
    return max(float(np.trace(a0) + np.trace(a1) - 2.0 * cross), 0.0)


def _w2_parts(g0: Gaussian, g1: Gaussian) -> tuple[float, int, float, int]:
    """(p, em, b, ec) with |m0 − m1|² = p·2^(2 em) and the Bures term B² = b·2^ec, p and b of order one.

    The means and the covariances are each scaled by a power of two first (a common one per pair), so
    nothing under- or overflows in between: only the final rescaling can, and the callers check it.
    """
    _same_dim(g0, g1)
    em = _exponent(g0.mean, g1.mean)
    dm = np.ldexp(g0.mean, -em) - np.ldexp(g1.mean, -em)
    ec = _exponent(g0.cov, g1.cov)
    b = _bures_scaled(np.ldexp(g0.cov, -ec), np.ldexp(g1.cov, -ec))
    return float(dm @ dm), em, b, ec


@_overflow_checked
def w2_squared(g0: Gaussian, g1: Gaussian) -> float:
    """W2² = |m0 − m1|² + tr(Σ0 + Σ1 − 2 (Σ0^{1/2} Σ1 Σ0^{1/2})^{1/2})  (Prop 4.3).

    Computed on power-of-two-scaled means and covariances, then rescaled: exactly 0 for identical
    Gaussians, accurate for huge or tiny covariances; ValueError when W2² itself exceeds float64.
    """
    p, em, b, ec = _w2_parts(g0, g1)
    value = float(np.ldexp(p, 2 * em)) + float(np.ldexp(b, ec))
    if not np.isfinite(value):
        dist = _w2_from_parts(p, em, b, ec)
        hint = f"W2 ≈ {dist:.6g}; use w2, which returns the distance itself" if np.isfinite(dist) else \
            "so does W2 itself; rescale the problem, e.g. change units"
        raise ValueError(f"W2² overflows float64 ({hint})")
    return value


def _w2_from_parts(p: float, em: int, b: float, ec: int) -> float:
    """sqrt(p·4^em + b·2^ec) without forming the squares (inf only if W2 itself overflows)."""
    mean_part = float(np.ldexp(np.sqrt(p), em))
    cov_part = float(np.ldexp(np.sqrt(b * (2.0 if ec % 2 else 1.0)), ec // 2))
    return float(np.hypot(mean_part, cov_part))


@_overflow_checked
def w2(g0: Gaussian, g1: Gaussian) -> float:
    """The Bures–Wasserstein distance W2(g0, g1) (the square root of :func:`w2_squared`).

    Finite whenever the distance is, even when its square overflows; ValueError when it does not fit
    in float64 either.
    """
    p, em, b, ec = _w2_parts(g0, g1)
    square = float(np.ldexp(p, 2 * em)) + float(np.ldexp(b, ec))
    value = float(np.sqrt(square)) if np.isfinite(square) else _w2_from_parts(p, em, b, ec)
    if not np.isfinite(value):
        raise ValueError("W2 overflows float64 (the means or covariances are too far apart to represent "
                         "the distance); rescale the problem, e.g. change units")
    return value


def _brenier_matrix(s0: np.ndarray, s1: np.ndarray) -> np.ndarray:
    """A = Σ0^{-1/2}(Σ0^{1/2}Σ1Σ0^{1/2})^{1/2}Σ0^{-1/2}, from Σk = 2^ek Ãk as 2^((e1−e0)/2) Ã(Ã0, Ã1).

    Exactly I for identical covariances; ValueError when A does not fit in float64.
    """
    if np.array_equal(s0, s1):
        return np.eye(s0.shape[0])
    e0, e1 = _exponent(s0), _exponent(s1)
    r0, r0inv = _sqrtm_and_inv(np.ldexp(s0, -e0))
    a = _symmetrize(r0inv @ _sqrtm_psd(r0 @ np.ldexp(s1, -e1) @ r0) @ r0inv)
    return _finite(a * _pow2(e1 - e0), "the Brenier map matrix")


@_overflow_checked
def brenier_map(g0: Gaussian, g1: Gaussian) -> Affine:
    """Optimal map T(x) = m1 + A (x − m0), A = Σ0^{-1/2}(Σ0^{1/2}Σ1Σ0^{1/2})^{1/2}Σ0^{-1/2} (SPD)."""
    _same_dim(g0, g1)
    a = _brenier_matrix(g0.cov, g1.cov)
    return Affine(a, _finite(g1.mean - a @ g0.mean, "the Brenier map offset m1 − A m0"))


@_overflow_checked
def mccann(g0: Gaussian, g1: Gaussian, t: float) -> Gaussian:
    """McCann interpolant at t ∈ [0, 1]: N((1−t)m0 + t m1, T_t Σ0 T_t), T_t = (1−t)I + tA.

    T_t and Σ0 are scaled by powers of two before the product, so huge or tiny covariances stay
    accurate; ValueError when Σ_t does not fit in float64.
    """
    d = _same_dim(g0, g1)
    t = _check_time(t)
    tt = (1 - t) * np.eye(d) + t * _brenier_matrix(g0.cov, g1.cov)
    et, e0 = _exponent(tt), _exponent(g0.cov)
    ts = np.ldexp(tt, -et)
    cov = np.ldexp(_symmetrize(ts @ np.ldexp(g0.cov, -e0) @ ts), e0 + 2 * et)
    return Gaussian((1 - t) * g0.mean + t * g1.mean, _finite(cov, "the McCann interpolant covariance"))


@_overflow_checked
def mccann_field(g0: Gaussian, g1: Gaussian, t: float) -> Affine:
    """Velocity of the McCann geodesic at t ∈ [0, 1]:
    v_t(x) = (m1 − m0) + (A − I)((1−t)I + tA)^{-1}(x − m_t) (a symmetric matrix, so a gradient)."""
    _same_dim(g0, g1)
    t = _check_time(t)
    a = _brenier_matrix(g0.cov, g1.cov)
    lam, u = np.linalg.eigh(a)  # every matrix here is a function of A: diagonal in A's eigenbasis
    m = _symmetrize((u * ((lam - 1.0) / ((1 - t) + t * lam))) @ u.T)
    mt = (1 - t) * g0.mean + t * g1.mean
    dm = g1.mean - g0.mean
    return Affine(m, _finite(dm - m @ mt, "the McCann field offset"))


# ---------------------------------------------------------------------------------------------
# linear SDEs: dX = (B X + c) dt + sqrt(2D) dW


def _as_drift(drift) -> Affine:
    if isinstance(drift, Affine):
        return drift
    raise TypeError("drift must be a verify.gaussian.Affine(B, c) describing b(x) = B x + c, got "
                    f"{type(drift).__name__}")


@_overflow_checked
def linear_moment_rhs(drift: Affine, diffusion, mean, cov) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian closure of ∂ρ/∂t + div(ρ(Bx + c)) = div(D∇ρ): (dm/dt, dΣ/dt) = (Bm + c, BΣ + ΣBᵀ + 2D)."""
    drift = _as_drift(drift)
    d = drift.dim
    mean = _as_vector(mean, "mean", d)
    cov = _as_matrix(cov, "cov", d)
    b = drift.matrix
    dmat = _diffusion_matrix(diffusion, d)
    sizes = _sizes(B=b, c=drift.offset, diffusion=dmat, mean=mean, cov=cov)
    return (_finite(b @ mean + drift.offset, f"dm/dt = Bm + c ({sizes})"),
            _finite(_symmetrize(b @ cov + cov @ b.T + 2.0 * dmat), f"dΣ/dt = BΣ + ΣBᵀ + 2D ({sizes})"))


def _van_loan_noise(b: np.ndarray, dmat: np.ndarray, t: float) -> np.ndarray:
    """Q(t) = ∫_0^t e^{Bs} 2D e^{Bᵀs} ds.

    Van Loan: exp([[−B, 2D], [0, Bᵀ]] h) = [[·, F12], [0, F22]] gives Q(h) = F22ᵀ F12 on a step h with
    ‖B‖h ≤ 1 (e^{−Bh} stays well conditioned); then doubling, Q(2h) = Φ(h) Q(h) Φ(h)ᵀ + Q(h) and
    Φ(2h) = Φ(h)², reaches t without forming e^{−Bt}.
    """
    d = b.shape[0]
    b_norm = float(np.linalg.norm(b, 1))
    norm = b_norm * t
    if np.isfinite(norm):
        k = max(0, int(np.ceil(np.log2(norm)))) if norm > 1 else 0
    else:  # ‖B‖ t beyond float64 (t near 1e308): the same k from the logarithms
        k = int(np.ceil(np.log2(b_norm) + np.log2(t)))
    h = float(np.ldexp(t, -k))  # t / 2^k, exact (t / 2 ** k overflows converting 2^k to float for k > 1023)
    vl = np.zeros((2 * d, 2 * d))
    vl[:d, :d] = -b * h
    vl[:d, d:] = 2.0 * dmat * h
    vl[d:, d:] = b.T * h
    f = scipy.linalg.expm(vl)
    phi = f[d:, d:].T
    q = _symmetrize(phi @ f[:d, d:])
    for _ in range(k):
        q = _symmetrize(phi @ q @ phi.T + q)
        phi = phi @ phi
    return q


def _expm(a: np.ndarray) -> np.ndarray:
    """scipy.linalg.expm(a); where that is not finite (its scaling and squaring returns NaN for norms beyond
    about 1e100, e.g. B t for t = 1e308), exp(a) = exp(a / 2^k)^(2^k) with ‖a / 2^k‖₁ ≤ 1 instead, which stays
    finite whenever the exponential is (e^{Bt} → 0 for a stable B)."""
    e = scipy.linalg.expm(a)
    if np.all(np.isfinite(e)):
        return e
    k = max(0, _exponent(a) + int(np.ceil(np.log2(a.shape[0]))))  # ‖a‖₁ ≤ n max|a| ≤ 2^k
    e = scipy.linalg.expm(np.ldexp(a, -k))
    for _ in range(k):
        e = e @ e
    return e


def _augmented(drift: Affine, t: float) -> np.ndarray:
    """[[B t, c t], [0, 0]], whose exponential holds e^{Bt} and ∫_0^t e^{Bs} ds c; ValueError naming t when
    B t or c t overflows float64."""
    d = drift.dim
    aug = np.zeros((d + 1, d + 1))
    aug[:d, :d] = drift.matrix * t
    aug[:d, d] = drift.offset * t
    if not np.all(np.isfinite(aug)):
        raise ValueError(f"t = {t:g} is too large: B t or c t overflows float64 "
                         f"({_sizes(B=drift.matrix, c=drift.offset)}); for a stable B the law at such times is "
                         f"stationary(drift, diffusion)")
    return aug


@_overflow_checked
def linear_sde(g0: Gaussian, drift: Affine, diffusion, t: float) -> Gaussian:
    """Exact law at time t ≥ 0 of dX = (B X + c) dt + sqrt(2D) dW with X_0 ~ g0.

    m_t = e^{Bt} m0 + ∫_0^t e^{Bs} ds c and Σ_t = e^{Bt} Σ0 e^{Bᵀt} + ∫_0^t e^{Bs} 2D e^{Bᵀs} ds, both
    from block matrix exponentials (the covariance integral by Van Loan's method), valid for any real
    B (Van Loan on a short step, then exact doubling). ``diffusion`` is a scalar D ≥ 0 (meaning
    D·I) or a symmetric PSD d×d matrix.
    """
    if not isinstance(g0, Gaussian):
        raise TypeError(f"g0 must be a Gaussian, got {type(g0).__name__}")
    drift = _as_drift(drift)
    d = g0.dim
    if drift.dim != d:
        raise ValueError(f"drift is {drift.dim}-D but g0 is {d}-D")
    t = _check_time(t, upper=None)
    dmat = _diffusion_matrix(diffusion, d)
    b = drift.matrix
    # mean: exp([[B, c], [0, 0]] t) = [[e^{Bt}, ∫ e^{Bs} ds c], [0, 1]]
    e = _expm(_augmented(drift, t))
    phi = e[:d, :d]
    mean = phi @ g0.mean + e[:d, d]
    q = _van_loan_noise(b, dmat, t)
    cov = _symmetrize(phi @ g0.cov @ phi.T + _symmetrize(q))
    return Gaussian(_finite(mean, f"the mean at t = {t}"), _finite(cov, f"the covariance at t = {t}"))


@_overflow_checked
def linear_sde_transition(drift: Affine, diffusion, t: float) -> tuple[Affine, np.ndarray]:
    """Transition law of dX = (B X + c) dt + sqrt(2D) dW over a time t ≥ 0:
    X_t | X_0 = x ~ N(Φ x + φ, Q), returned as (Affine(Φ, φ), Q).

    Φ = e^{Bt}, φ = ∫_0^t e^{Bs} ds c and Q = ∫_0^t e^{Bs} 2D e^{Bᵀs} ds (Q may be singular: D = 0
    gives Q = 0). Same matrix exponentials as :func:`linear_sde`, which is this kernel applied to g0.
    """
    drift = _as_drift(drift)
    d = drift.dim
    t = _check_time(t, upper=None)
    dmat = _diffusion_matrix(diffusion, d)
    e = _expm(_augmented(drift, t))
    noise = _finite(_symmetrize(_van_loan_noise(drift.matrix, dmat, t)), f"the transition covariance at t = {t}")
    phi = _finite(e[:d, :d], f"e^(Bt) at t = {t}")
    return Affine(phi, _finite(e[:d, d], f"the transition offset at t = {t}")), noise


def expectation(g: Gaussian, f, *, order: int = 20) -> np.ndarray:
    """E f(X) for X ~ g by tensor Gauss–Hermite quadrature with ``order`` nodes per axis (d ≤ 3).

    ``f`` maps points (..., d) to values (...) or (..., k); exact for polynomials of degree
    ≤ 2·order − 1 and spectrally accurate for smooth f of moderate growth. Returns a float array of
    shape () or (k,).
    """
    if not isinstance(g, Gaussian):
        raise TypeError(f"g must be a Gaussian, got {type(g).__name__}")
    if g.dim > 3:
        raise ValueError(f"expectation supports g of dimension d ≤ 3 (the grid has order**d nodes), got d = {g.dim}")
    if not (isinstance(order, (int, np.integer)) and not isinstance(order, (bool, np.bool_))):
        value = _real_scalar(order, "order")  # TypeError for bools, complex, strings, arrays
        if not value.is_integer():
            raise ValueError(f"order must be an integer in [1, 100], got {order!r}")
    if not 1 <= order <= 100:
        raise ValueError(f"order must be an integer in [1, 100], got {order}")
    z, w = np.polynomial.hermite_e.hermegauss(int(order))  # weight e^{-z²/2}
    w = w / np.sqrt(2.0 * np.pi)
    grids = np.meshgrid(*([z] * g.dim), indexing="ij")
    nodes = np.stack([a.ravel() for a in grids], axis=-1)
    weights = np.prod(np.stack(np.meshgrid(*([w] * g.dim), indexing="ij"), axis=-1).reshape(-1, g.dim),
                      axis=1)
    if not callable(f):
        raise TypeError(f"f must be a callable mapping points (n, d) to values, got {type(f).__name__}")
    with np.errstate(over="ignore", invalid="ignore"):
        points = g.mean + nodes @ g._chol.T
        values = _real(f(points), "f(x)", copy=False)  # overflow inside f is reported below
    if values.shape[:1] != (nodes.shape[0],):
        raise ValueError(f"f must map points (n, {g.dim}) to values (n,) or (n, k), got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"f(x) returned NaN or infinite values at the quadrature nodes mean + L z of g (|x| up to "
                         f"{float(np.max(np.abs(points))):.3g}); E f(X) is undefined or overflows float64")
    with np.errstate(over="ignore", invalid="ignore"):
        return _finite(np.tensordot(weights, values, axes=(0, 0)), "E f(X)")


@_overflow_checked
def stationary(drift: Affine, diffusion) -> Gaussian:
    """Invariant law of dX = (BX + c) dt + sqrt(2D) dW: N(−B⁻¹c, Σ∞) with BΣ∞ + Σ∞Bᵀ + 2D = 0.

    Exists iff every eigenvalue of B has negative real part and Σ∞ is positive definite
    (e.g. D positive definite); otherwise a ValueError says which condition fails. B and D are scaled by powers of
    two before the solve, so any finite sizes work; decay rates of B more than about 1e15 apart (time scales that
    float64 cannot solve together) are refused with a ValueError naming them.
    """
    drift = _as_drift(drift)
    d = drift.dim
    dmat = _diffusion_matrix(diffusion, d)
    b = drift.matrix
    growth = float(np.max(np.linalg.eigvals(b).real))
    if growth >= 0:
        raise ValueError(f"no stationary law: the drift matrix B has an eigenvalue with real part "
                         f"{growth:.3g} ≥ 0 (all must be negative for a stable process)")
    # Σ∞ is linear in D and scales as 1/B: solve for B / 2^eb and D / 2^e (entries of order one) and scale back by
    # 2^(e − eb), exactly, so neither 2D overflows nor a tiny B reads as a zero eigenvalue pair to the solver
    e, eb = _exponent(dmat), _exponent(b)
    with warnings.catch_warnings():   # SciPy perturbs B when some λi + λj ≈ 0 relative to |B|: refuse instead
        warnings.filterwarnings("error", message=".*eigenvalue pair", category=RuntimeWarning)
        try:
            sigma = scipy.linalg.solve_continuous_lyapunov(np.ldexp(b, -eb), -2.0 * np.ldexp(dmat, -e))
        except RuntimeWarning:
            rates = np.abs(np.linalg.eigvals(b).real)
            raise ValueError(f"the stationary covariance cannot be computed in float64: the decay rates of B "
                             f"(|Re λ| from {rates.min():.3g} to {rates.max():.3g}) are too far apart for the "
                             "Lyapunov solve BΣ∞ + Σ∞Bᵀ = −2D (time scales beyond about 1e15 apart); solve the "
                             "slow and fast directions separately") from None
    sigma = _finite(np.ldexp(_symmetrize(sigma), e - eb),
                    f"the stationary covariance Σ∞ ({_sizes(B=b, diffusion=dmat)})")
    lam = np.linalg.eigvalsh(sigma)
    if lam[0] <= 1e-14 * max(lam[-1], 1e-300):
        raise ValueError("no stationary Gaussian with a density: the stationary covariance is singular or nearly "
                         f"so (eigenvalues {lam[0]:.3g} to {lam[-1]:.3g}, a ratio below 1e-14); the diffusion D "
                         "does not reach every direction, or the decay rates of B are too far apart")
    return Gaussian(-np.linalg.solve(b, drift.offset), sigma)


# ---------------------------------------------------------------------------------------------
# flow matching (Prop 3.1 / 3.2) and the least-squares (Otto) field


def flow_matching_marginal(g0: Gaussian, g1: Gaussian, t: float) -> Gaussian:
    """Law of X_t = (1 − t) X0 + t X1, X0 ~ g0 and X1 ~ g1 independent: N(m_t, (1−t)²Σ0 + t²Σ1)."""
    _same_dim(g0, g1)
    t = _check_time(t)
    return Gaussian((1 - t) * g0.mean + t * g1.mean,
                    _symmetrize((1 - t) ** 2 * g0.cov + t ** 2 * g1.cov))


@_overflow_checked
def flow_matching_field(g0: Gaussian, g1: Gaussian, t: float) -> Affine:
    """Conditional-expectation field E[X1 − X0 | X_t = z] (Prop 3.1/3.2), t ∈ [0, 1]:
    v_t(z) = (m1 − m0) + A_t (z − m_t), A_t = (tΣ1 − (1−t)Σ0) Σ_t⁻¹ (not symmetric in general)."""
    _same_dim(g0, g1)
    t = _check_time(t)
    sigma_t = flow_matching_marginal(g0, g1, t).cov
    n = t * g1.cov - (1 - t) * g0.cov
    a = np.linalg.solve(sigma_t, n.T).T  # A Σ_t = N  ⇔  Σ_t Aᵀ = Nᵀ
    mt = (1 - t) * g0.mean + t * g1.mean
    return Affine(a, _finite((g1.mean - g0.mean) - a @ mt, "the flow-matching field offset"))


@_overflow_checked
def flow_matching_map(g0: Gaussian, g1: Gaussian, t: float = 1.0) -> Affine:
    """Flow map of the flow-matching ODE from time 0 to t (affine):
    T_t(x) = m_t + Σ0^{1/2}((1−t)²I + t²C)^{1/2}Σ0^{-1/2}(x − m0), C = Σ0^{-1/2}Σ1Σ0^{-1/2}.
    At t = 1 it equals the Brenier map iff Σ0Σ1 = Σ1Σ0."""
    _same_dim(g0, g1)
    t = _check_time(t)
    # Σk = 2^ek Ãk: C = 2^k C̃ with k = e1 − e0. The larger of (1−t)² and t² 2^k, about 2^j, is taken out of
    # the square root, so neither C nor the root under- or overflows for covariances of very different sizes
    e0, e1 = _exponent(g0.cov), _exponent(g1.cov)
    k = e1 - e0
    with np.errstate(divide="ignore"):
        j = int(np.rint(max(2 * np.log2(1 - t), 2 * np.log2(t) + k)))
    r0, r0inv = _sqrtm_and_inv(np.ldexp(g0.cov, -e0))
    c = _symmetrize(r0inv @ np.ldexp(g1.cov, -e1) @ r0inv)
    root = _sqrtm_psd(np.ldexp((1 - t) ** 2, -j) * np.eye(g0.dim) + np.ldexp(t ** 2 * c, k - j))
    m = _finite(r0 @ root @ r0inv * _pow2(j), "the flow-matching map matrix")
    mt = (1 - t) * g0.mean + t * g1.mean
    return Affine(m, _finite(mt - m @ g0.mean, "the flow-matching map offset"))


@_overflow_checked
def least_squares_field(g: Gaussian, dmean, dcov) -> Affine:
    """Least-squares (gradient, Otto) field moving N(m, Σ) with velocity (dm/dt, dΣ/dt):
    v(x) = dm/dt + S (x − m), S = Sᵀ the solution of S Σ + Σ S = dΣ/dt (Eqs. 4–6)."""
    if not isinstance(g, Gaussian):
        raise TypeError(f"g must be a Gaussian, got {type(g).__name__}")
    d = g.dim
    dmean = _as_vector(dmean, "dmean", d)
    dcov = _check_symmetric(_as_matrix(dcov, "dcov", d), "dcov")
    # Σ = 2^e Σ̃, dΣ/dt = 2^f D̃: S = 2^(f−e) S̃ with S̃ Σ̃ + Σ̃ S̃ = D̃ (no overflow in λi + λj)
    e, f = _exponent(g.cov), _exponent(dcov)
    lam, u = np.linalg.eigh(np.ldexp(g.cov, -e))
    s = u @ ((u.T @ np.ldexp(dcov, -f) @ u) / (lam[:, None] + lam[None, :])) @ u.T
    s = _finite(np.ldexp(_symmetrize(s), f - e), "the least-squares field matrix")
    return Affine(s, _finite(dmean - s @ g.mean, "the least-squares field offset"))


# ---------------------------------------------------------------------------------------------
# attention dynamics (Thm 7.1)


def _attention_matrices(Q, K, V, d: int) -> tuple[np.ndarray, np.ndarray]:
    q = np.array(_real(Q, "Q"), ndmin=2)
    k = np.array(_real(K, "K"), ndmin=2)
    v = _as_matrix(V, "V", d)
    if q.ndim != 2 or q.shape[1] != d:
        raise ValueError(f"Q must have shape (r, {d}), got {q.shape}")
    if k.shape != q.shape:
        raise ValueError(f"K must have the same shape as Q {q.shape}, got {k.shape}")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(k))):
        raise ValueError("Q and K must be finite")
    return k.T @ q, v


def _scale(scale) -> float:
    """The softmax scale s as a finite float."""
    scale = _real_scalar(scale, "scale")
    if not np.isfinite(scale):
        raise ValueError(f"scale must be finite, got {scale}")
    return scale


@_overflow_checked
def attention_map(g: Gaussian, Q, K, V, scale: float = 1.0) -> Affine:
    """The attention field of a Gaussian token law, Γ[N(μ, Σ)](x) = V(μ + s Σ KᵀQ x) (affine):
    exponential tilting of N(μ, Σ) by e^{s⟨Qx, Ky⟩} shifts its mean by s Σ KᵀQ x (Thm 7.1)."""
    if not isinstance(g, Gaussian):
        raise TypeError(f"g must be a Gaussian, got {type(g).__name__}")
    ktq, v = _attention_matrices(Q, K, V, g.dim)
    return Affine(_finite(_scale(scale) * v @ g.cov @ ktq, "the attention map matrix s V Σ KᵀQ"), v @ g.mean)


@_overflow_checked
def attention_moment_rhs(mean, cov, Q, K, V, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Moment ODE of the attention PDE for N(μ, Σ) (Thm 7.1, derived mean equation):
    dμ/dt = V μ + s V Σ KᵀQ μ,  dΣ/dt = BΣ + ΣBᵀ with B = s V Σ KᵀQ."""
    mean = _as_vector(mean, "mean")
    d = mean.shape[0]
    cov = _as_matrix(cov, "cov", d)
    ktq, v = _attention_matrices(Q, K, V, d)
    scale = _scale(scale)
    b = scale * v @ cov @ ktq
    sizes = _sizes(mean=mean, cov=cov, Q=Q, K=K, V=v, scale=scale)
    return (_finite(v @ mean + b @ mean, f"dμ/dt = Vμ + BΣμ ({sizes})"),
            _finite(_symmetrize(b @ cov + cov @ b.T), f"dΣ/dt = BΣ + ΣBᵀ, B = s V Σ KᵀQ ({sizes})"))


@_overflow_checked
def attention(g0: Gaussian, Q, K, V, t: float, scale: float = 1.0) -> Gaussian:
    """Law at depth t ≥ 0 of the attention PDE ∂μ/∂t + div(μ Γ[μ]) = 0 from μ_0 = g0 (Thm 7.1).

    Q, K have shape (r, d), V (d, d), constant in t; ``scale`` s multiplies ⟨Qx, Ky⟩ in the softmax.
    The moment ODE is integrated by DOP853 at rtol 1e-12. If the covariance blows up before t,
    raises :class:`FiniteTimeBlowUp` naming the estimated blow-up time; if it becomes singular (smallest
    eigenvalue below 1e-14 × the largest, e.g. for a large negative scale), or the moment ODE overflows
    float64, a ValueError.
    """
    if not isinstance(g0, Gaussian):
        raise TypeError(f"g0 must be a Gaussian, got {type(g0).__name__}")
    t = _check_time(t, upper=None)
    scale = _scale(scale)
    d = g0.dim
    ktq, v = _attention_matrices(Q, K, V, d)
    if t == 0.0:
        return g0

    def rhs(_s, y):
        mu, sigma = y[:d], y[d:].reshape(d, d)
        b = scale * v @ sigma @ ktq
        return np.concatenate([v @ mu + b @ mu, (b @ sigma + sigma @ b.T).ravel()])

    size0 = 1.0 + np.linalg.norm(g0.cov) + np.linalg.norm(g0.mean)
    limit = 1e10 * size0

    def escape(_s, y):
        return limit - np.linalg.norm(y)

    escape.terminal = True
    y0 = np.concatenate([g0.mean, g0.cov.ravel()])
    what = "the attention moment ODE"
    sizes = _sizes(scale=scale, Q=Q, K=K, V=v, **{"g0.mean": g0.mean, "g0.cov": g0.cov})
    fix = "rescale Q, K, V, scale or g0"
    _moment_start(rhs, y0, size0, what, sizes, fix)
    sol = solve_ivp(rhs, (0.0, t), y0, method="DOP853", rtol=1e-12, atol=1e-14 * size0,
                    events=(escape, _collapse_event(d, d)))
    if sol.status == 1 and sol.t_events[1].size:
        raise _collapse_error("the attention covariance", t, float(sol.t_events[1][0]),
                              "a smaller |scale| (the collapse rate grows like |scale| |V| |KᵀQ| |g0.cov|)")
    _stalled_at_start(sol, rhs, what, sizes, fix)
    if sol.status != 0 or sol.t[-1] < t:
        y = sol.y[:, -1]
        reached = float(sol.t[-1])
        # near a quadratic blow-up |y|' ≈ k |y|², so the remaining time is ≈ |y| / |y|'
        rate = float(np.linalg.norm(rhs(reached, y)))
        t_star = reached + float(np.linalg.norm(y)) / rate if rate > 0 else reached
        raise FiniteTimeBlowUp(
            f"the attention covariance blows up before t = {t}: estimated blow-up time "
            f"t* ≈ {t_star:.6g} (integrated accurately up to {reached:.6g}); ask for t < t*",
            blowup_time=t_star, reached=reached)
    y = sol.y[:, -1]
    return Gaussian(y[:d], _symmetrize(y[d:].reshape(d, d)))


# ---------------------------------------------------------------------------------------------
# two-layer linear networks (Prop 6.2)


@_overflow_checked
def data_moments(u, y) -> tuple[np.ndarray, np.ndarray, float]:
    """Data moments of a regression set: S = (1/N)Σ u_k u_kᵀ, r = (1/N)Σ y_k u_k, E[y²].

    u has shape (N, d), y shape (N,).
    """
    u = _real(u, "u", copy=False)
    y = _real(y, "y", copy=False)
    if u.ndim != 2 or y.shape != (u.shape[0],):
        raise ValueError(f"u must be (N, d) and y (N,), got {u.shape} and {y.shape}")
    if u.shape[0] == 0 or u.shape[1] == 0:
        raise ValueError(f"u must hold at least one sample (N >= 1) of dimension d >= 1, got shape {u.shape}")
    for name, a in (("u", u), ("y", y)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or infinite values; remove those samples")
    n = u.shape[0]
    return (_finite(_symmetrize(u.T @ u / n), f"S = uᵀu / N ({_sizes(u=u)})"),
            _finite(u.T @ y / n, f"r = uᵀy / N ({_sizes(u=u, y=y)})"),
            float(_finite(np.asarray(y @ y / n), f"E[y²] = yᵀy / N ({_sizes(y=y)})")))


def _network_data(g0: Gaussian, S, r, name: str = "g0") -> tuple[int, np.ndarray, np.ndarray]:
    if not isinstance(g0, Gaussian):
        raise TypeError(f"{name} must be a Gaussian, got {type(g0).__name__}")
    d = g0.dim - 1
    if d < 1:
        raise ValueError(f"{name} is a law of neurons θ = (w, a), of dimension d + 1 ≥ 2; got dimension {g0.dim}")
    s = _check_symmetric(_as_matrix(S, "S", d), "S")
    return d, s, _as_vector(r, "r", d)


def linear_network_rhs(mean, cov, S, r) -> tuple[np.ndarray, np.ndarray]:
    """Prop 6.2 moment ODE for neurons θ = (w, a) ∈ R^{d+1} under the mean-field W2 flow:
    dm/dt = −B_h m, dΣ/dt = −(B_h Σ + Σ B_h), B_h = [[0, h], [hᵀ, 0]], h = S q − r,
    q = E[a w] = (Σ + m mᵀ)_{1:d, d+1}."""
    mean = _as_vector(mean, "mean")
    d = mean.shape[0] - 1
    cov = _as_matrix(cov, "cov", d + 1)
    s = _as_matrix(S, "S", d)
    r = _as_vector(r, "r", d)
    with np.errstate(over="ignore", invalid="ignore"):
        dm, dc = _network_rhs(mean, cov, s, r)
    sizes = _sizes(mean=mean, cov=cov, S=s, r=r)
    return (_finite(dm, f"dm/dt = −B_h m ({sizes})"),
            _finite(dc, f"dΣ/dt = −(B_h Σ + Σ B_h) ({sizes})"))


def _network_rhs(mean: np.ndarray, cov: np.ndarray, s: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`linear_network_rhs` for validated float arrays (no checks: overflow gives inf)."""
    d = mean.shape[0] - 1
    q = cov[:d, d] + mean[:d] * mean[d]
    h = s @ q - r
    b = np.zeros((d + 1, d + 1))
    b[:d, d] = h
    b[d, :d] = h
    return -b @ mean, -(b @ cov + cov @ b)


def _settled_event(s: np.ndarray, r: np.ndarray, d: int):
    """Terminal solve_ivp event of the linear-network moment ODE: the flow has settled (None when S is not
    positive definite).

    h = S q − r obeys dh/dt = −S (W + αI) h exactly, with W = E[w wᵀ] and α = E[a²]; in the S⁻¹-norm it
    decays at least at the rate κ = λmin(S) (α + λmin(W)), so ∫|h| ≤ sqrt(cond S) |h| / κ from any time on.
    The moments change at relative rates ≤ 2|h| (|B_h| = |h|): once 2 sqrt(cond S) |h| / κ ≤ 1e-13, they
    move by less than 1e-13 relative for all later times, below the solver's rtol of 1e-12. The integrated
    moments carry relative errors of about that rtol, so h, computed from them, has a noise floor near
    1e-12 (|S q| + |r|) (measured: it wanders between 1e-14 and 2e-11 of it) and the first test alone may
    never fire (it then took 1.2 s at t = 1e4 and more than 100 s at t = 1e12 on a 2-D instance with
    cond S = 1.6). The event also fires once |h| ≤ 1e-12 (|S q| + |r|), where h is indistinguishable from 0
    at the integration's precision; the law then moves by at most 2e-12 sqrt(cond S) (|S q| + |r|) / κ
    relative. Stopping there avoids the ~t·κ
    steps an explicit solver needs at the (stiff) equilibrium: any t is fast.
    """
    lam = np.linalg.eigvalsh(s)
    if not lam[0] > 0:
        return None
    factor = 2.0 * np.sqrt(lam[-1] / lam[0])

    def settled(_s, y):
        m, c = y[:d + 1], y[d + 1:].reshape(d + 1, d + 1)
        second = c + np.outer(m, m)  # E[θ θᵀ]: q = E[a w], W, α
        if not np.all(np.isfinite(second)):
            return 1.0
        sq = s @ second[:d, d]
        h = float(np.linalg.norm(sq - r))
        kappa = lam[0] * (second[d, d] + np.linalg.eigvalsh(_symmetrize(second[:d, :d]))[0])
        noise = _SETTLED_NOISE * (float(np.linalg.norm(sq)) + float(np.linalg.norm(r)))
        return min(factor * h - _SETTLED_RTOL * kappa, h - noise)

    settled.terminal = True
    settled.direction = -1
    return settled


@_overflow_checked
def linear_network_risk(g: Gaussian, S, r, y2: float) -> float:
    """Risk f(α) = (1/2N) Σ_k (⟨q, u_k⟩ − y_k)² = ½ qᵀSq − rᵀq + ½E[y²] of the network with
    neuron law g (q = E[a w])."""
    d, s, r = _network_data(g, S, r, "g")
    y2 = _real_scalar(y2, "y2")
    if not (np.isfinite(y2) and y2 >= 0):
        raise ValueError(f"y2 = E[y²] must be finite and ≥ 0, got {y2}")
    q = g.cov[:d, d] + g.mean[:d] * g.mean[d]
    return float(_finite(np.asarray(0.5 * q @ s @ q - r @ q + 0.5 * y2),
                         f"the network risk ({_sizes(S=s, r=r, **{'g.mean': g.mean, 'g.cov': g.cov})})"))


@_overflow_checked
def linear_network(g0: Gaussian, S, r, t: float) -> Gaussian:
    """Law at time t ≥ 0 of the neurons θ = (w, a) ∈ R^{d+1} of the two-layer linear network
    G(u) = ∫ a⟨w, u⟩ dα(θ) trained by the W2 gradient flow of the squared loss (Prop 6.2).

    ``g0`` is the initial Gaussian law of θ on R^{d+1}; S (d, d) and r (d,) are the data moments
    (see :func:`data_moments`). Time is the mean-field PDE time: n particles follow it with
    dθ_i/dt = −n ∇_{θ_i} F. Integrated by DOP853 at rtol 1e-12; once the flow has settled (it moves by
    less than 1e-13 relative for all later times, or its driving term S q − r is below the integration's own
    precision, see ``_settled_event``) the settled law is returned, so any t is fast. ValueError when the covariance becomes singular (smallest eigenvalue below 1e-14 × the
    largest) or the moment ODE overflows float64.
    """
    d, s, r = _network_data(g0, S, r)
    t = _check_time(t, upper=None)
    if t == 0.0:
        return g0
    p = d + 1

    def rhs(_s, y):
        dm, dc = _network_rhs(y[:p], y[p:].reshape(p, p), s, r)
        return np.concatenate([dm, dc.ravel()])

    size0 = 1.0 + np.linalg.norm(g0.cov) + np.linalg.norm(g0.mean)
    y0 = np.concatenate([g0.mean, g0.cov.ravel()])
    what = "the linear-network moment ODE"
    sizes = _sizes(S=s, r=r, **{"g0.mean": g0.mean, "g0.cov": g0.cov})
    fix = "rescale S and r (the data u and y) or g0"
    _moment_start(rhs, y0, size0, what, sizes, fix)
    settled = _settled_event(s, r, d)
    if settled is not None and settled(0.0, y0) <= 0:
        return g0  # already settled (see _settled_event)
    sol = solve_ivp(rhs, (0.0, t), y0, method="DOP853", rtol=1e-12, atol=1e-14 * size0,
                    events=(_collapse_event(p, p),) + (() if settled is None else (settled,)))
    if sol.status == 1 and sol.t_events[0].size:
        raise _collapse_error("the neuron covariance", t, float(sol.t_events[0][0]),
                              f"rescale S and r ({sizes})")
    _stalled_at_start(sol, rhs, what, sizes, fix)
    if sol.status == -1:
        raise ArithmeticError(f"linear_network: the moment ODE failed before t = {t}: "
                              f"{sol.message}")
    y = sol.y[:, -1]  # at t, or where the flow settled
    return Gaussian(y[:p], _symmetrize(y[p:].reshape(p, p)))


# ---------------------------------------------------------------------------------------------
# JKO (minimizing-movement) iterates on Gaussians: the Wasserstein gradient flow of
# F(ρ) = ∫ V ρ + D ∫ ρ log ρ with V = ½ xᵀHx + bᵀx (theory §4, Eq. 13), whose limit τ → 0 is the
# Fokker–Planck law of dX = −(HX + b) dt + sqrt(2D) dW (linear_sde with Affine(−H, −b)).


def _energy_data(H, b, diffusion, d: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The symmetric H (d, d), the vector b (zeros for None) and the entropy weight D >= 0 of the free energy
    F(ρ) = ∫ (½ xᵀHx + bᵀx) ρ + D ∫ ρ log ρ, checked."""
    h = _check_symmetric(_as_matrix(H, "H", d), "H")
    bb = np.zeros(d) if b is None else _as_vector(b, "b", d)
    D = _real_scalar(diffusion, "diffusion")
    if not np.isfinite(D) or D < 0:
        raise ValueError(f"diffusion D must be a finite number ≥ 0 (the entropy weight), got {D}")
    return h, bb, D


def _jko_data(H, b, diffusion, tau, d: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    h, bb, D = _energy_data(H, b, diffusion, d)
    tau = _real_scalar(tau, "tau")
    if not np.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau must be a finite time step > 0, got {tau}")
    with np.errstate(over="ignore"):   # tau and H are finite: tau H may overflow, never NaN
        M = np.eye(d) + tau * h
    _finite(M, f"I + τH (tau = {tau:g})")
    if tau * D > np.finfo(float).max / 16:
        raise ValueError(f"τ·D = {tau:g}·{D:g} overflows float64; use a smaller tau or diffusion")
    lam = np.linalg.eigvalsh(M)
    if lam[0] <= 0:
        raise ValueError(f"I + τH must be positive definite for the JKO step to have a unique minimiser "
                         f"(smallest eigenvalue {lam[0]:.3g}); use a smaller tau (τ < 1/|λ_min(H)|)")
    return h, bb, D, tau


@_overflow_checked
def jko_gaussian_step(g: Gaussian, H, b=None, diffusion: float = 0.0, tau: float = 0.1) -> Gaussian:
    """Exact JKO step N(m, Σ) ↦ argmin_ρ W2²(g, ρ) / (2τ) + ∫ V ρ + D ∫ ρ log ρ,  V(x) = ½ xᵀHx + bᵀx.

    The minimiser is Gaussian (W2² with no ½, Prop 4.3; H symmetric with I + τH ≻ 0, D ≥ 0). With
    M = I + τH, the optimal map from g is T(x) = m' + A(x − m), A symmetric positive definite, and the
    optimality condition T(x) − x = −τ ∇(V + D log ρ')(T(x)) gives

        m' = M⁻¹ (m − τ b),       A M A − A = τ D Σ⁻¹,       Σ' = A Σ A,

    solved by A = M^{-1/2} B M^{-1/2}, B = ½ (I + (I + 4 τ D M^{1/2} Σ⁻¹ M^{1/2})^{1/2}) (B² − B = C). In 1D with
    standard deviations σ: σ' = (σ + sqrt(σ² + 4(1 + τH) D τ)) / (2(1 + τH)) — for H = 0 the heat iterate
    σ' = ½(σ + sqrt(σ² + 4Dτ)) of theory §4 (σ a standard deviation there: σ² → σ0² + 2t). The SymPy derivation
    is verify.symbolic.jko_gaussian_update_1d.
    """
    if not isinstance(g, Gaussian):
        raise TypeError(f"g must be a verify.gaussian.Gaussian, got {type(g).__name__}")
    d = g.dim
    h, bb, D, tau = _jko_data(H, b, diffusion, tau, d)
    M = np.eye(d) + tau * h
    mean = np.linalg.solve(M, g.mean - tau * bb)
    m_half, m_half_inv = _sqrtm_and_inv(_symmetrize(M))
    c = tau * D * _symmetrize(m_half @ np.linalg.solve(g.cov, m_half))
    lam, u = np.linalg.eigh(c)
    B = _symmetrize((u * (0.5 * (1.0 + np.sqrt(1.0 + 4.0 * np.clip(lam, 0.0, None))))) @ u.T)
    A = _symmetrize(m_half_inv @ B @ m_half_inv)
    cov = _symmetrize(A @ g.cov @ A)
    return Gaussian(_finite(mean, "the JKO mean"), _finite(cov, "the JKO covariance"))


JKO_MAX_STEPS = 100_000  # default cap on jko_gaussian's steps (max_steps=): about 25 s at 0.24 ms a step (2-D)


def jko_gaussian(g0: Gaussian, H, b=None, diffusion: float = 0.0, tau: float = 0.1,
                 steps: int = 1, *, max_steps: int | None = JKO_MAX_STEPS) -> list[Gaussian]:
    """The exact JKO iterates g_0 = g0, g_1, ..., g_steps (see :func:`jko_gaussian_step`), at times k τ.

    As τ → 0 with k τ = t fixed, g_k → linear_sde(g0, Affine(−H, −b), D, t) at first order in τ (implicit Euler
    on the moment equations; tests/verify/test_gaussian_jko.py measures it).

    ``max_steps`` caps ``steps`` (default JKO_MAX_STEPS = 100 000, about 25 s and one Gaussian kept per step;
    None: no cap): a larger count raises ValueError up front, before any step (pass a larger max_steps)."""
    if not isinstance(g0, Gaussian):
        raise TypeError(f"g0 must be a verify.gaussian.Gaussian, got {type(g0).__name__}")
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"steps must be an integer ≥ 0, got {steps!r}")
    if steps < 0:
        raise ValueError(f"steps must be an integer ≥ 0, got {steps!r}")
    if max_steps is not None:
        if isinstance(max_steps, (bool, np.bool_)) or not isinstance(max_steps, (int, np.integer)):
            raise TypeError(f"max_steps must be an integer ≥ 0 or None, got {max_steps!r}")
        if max_steps < 0:
            raise ValueError(f"max_steps must be an integer ≥ 0 or None, got {max_steps!r}")
        if steps > max_steps:
            raise ValueError(f"steps={steps} is more than max_steps={max_steps} (jko_gaussian keeps every iterate, "
                             f"about 0.24 ms a step); pass max_steps={steps} (or None) to run it anyway, or use "
                             "fewer steps (a larger tau)")
    out = [g0]
    for _ in range(int(steps)):
        out.append(jko_gaussian_step(out[-1], H, b, diffusion, tau))
    return out


@_overflow_checked
def gaussian_free_energy(g: Gaussian, H, b=None, diffusion: float = 0.0) -> float:
    """F(N(m, Σ)) = ½ tr(HΣ) + ½ mᵀHm + bᵀm − (D/2) (log det Σ + d log(2π e)) (= ∫ V ρ + D ∫ ρ log ρ)."""
    if not isinstance(g, Gaussian):
        raise TypeError(f"g must be a verify.gaussian.Gaussian, got {type(g).__name__}")
    d = g.dim
    h, bb, D = _energy_data(H, b, diffusion, d)
    logdet = 2.0 * float(np.sum(np.log(np.diag(np.linalg.cholesky(g.cov)))))
    value = (0.5 * np.trace(h @ g.cov) + 0.5 * g.mean @ h @ g.mean + bb @ g.mean
             - 0.5 * D * (logdet + d * np.log(2.0 * np.pi * np.e)))
    return _finite_scalar(value, "the free energy")


def _finite_scalar(x: float, what: str) -> float:
    return float(_finite(np.asarray(x, dtype=float), what))
