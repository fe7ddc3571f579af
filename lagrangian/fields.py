"""Vector fields for particles: callables ``f(t, x)`` taking a cloud x (n, d) and returning (n, d).

* :func:`affine_field` v(t, x) = A(t) x + c(t) (constant or time-dependent).
* :func:`gradient_field` b = −∇V.
* :func:`flow_matching_field_from_samples` the conditional-expectation field of flow matching,
  v_t(z) = E[X1 − X0 | (1−t) X0 + t X1 = z] (Peyré 2025, Prop 3.1, Eq. 7), estimated by Nadaraya–Watson
  kernel regression on samples of α0 (source) and α1 (target) under the independent coupling.
* :func:`probability_flow_field` b − D∇log ρ: the deterministic field with the Fokker–Planck marginals.
* :func:`grid_velocity_field` multilinear interpolation of a cell-centred grid velocity.

Every field works in the namespace (NumPy or CuPy) of the positions it is called with.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .backend import (all_finite, as_cloud, as_points, as_positive_int, as_real_array, as_real_scalar,
                      check_finite_result, check_pairwise, check_real_output, get_xp, largest,
                      on_one_device)
from .deposit import _numeric_bandwidth
from .errors import NumericalError

__all__ = [
    "AffineField", "affine_field", "gradient_field", "FlowMatchingKernelField",
    "flow_matching_field_from_samples", "probability_flow_field", "GridVelocityField", "grid_velocity_field",
]


def _add_row_vector(out: Any, c: Any, xp: Any, block: int = 512) -> None:
    """out += c for out (..., d) and c (d,), in place.

    NumPy broadcasting over a short last axis runs a length-d inner loop (≈6x slower than a flat add for
    d = 2), so for C-contiguous out the bulk of the rows is added as a (n // block, block · d) array plus c tiled
    ``block`` times.
    """
    if out.ndim != 2:
        if out.ndim > 2 and out.flags.c_contiguous:
            _add_row_vector(out.reshape(-1, out.shape[-1]), c, xp, block)   # a view: adds in place
        else:
            out += c
        return
    n, d = out.shape
    m = (n // block) * block
    if m == 0 or not out.flags.c_contiguous:
        out += c
        return
    if getattr(xp, "__name__", "") != "numpy":  # GPU broadcasting has no short-inner-loop penalty
        out += c
        return
    bulk = out[:m].reshape(m // block, block * d)
    bulk += xp.tile(c, block)
    if m < n:
        out[m:] += c


@dataclass(frozen=True)
class AffineField:
    """v(t, x) = A(t) x + c(t); ``matrix`` (d, d) and ``offset`` (d,) are arrays or callables of t.

    Constant coefficients are checked when the field is made and converted once per array namespace (no
    host-to-device copy per call); a callable's values are checked at each call.
    """

    matrix: Any
    offset: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cache", {})
        if not callable(self.matrix):
            m = as_real_array(self.matrix, "matrix", xp=np)
            if m.ndim != 2 or m.shape[0] != m.shape[1]:
                raise ValueError(f"matrix must be a finite square (d, d) array, got shape {m.shape}")
            object.__setattr__(self, "matrix", m.copy())   # the caller's array may change later
        if self.offset is not None and not callable(self.offset):
            c = as_real_array(self.offset, "offset", xp=np)
            if not callable(self.matrix) and c.shape != (self.matrix.shape[0],):
                raise ValueError(f"offset must be a finite ({self.matrix.shape[0]},) vector to match matrix "
                                 f"{self.matrix.shape}, got shape {c.shape}")
            object.__setattr__(self, "offset", c.copy())

    def _constant(self, xp: Any) -> tuple[Any, Any]:
        """(Aᵀ, c) of the constant coefficients (checked in __post_init__) in namespace ``xp``, kept per namespace;
        None where a coefficient is callable or absent."""
        key = xp.__name__
        if key not in self._cache:
            at = None if callable(self.matrix) else xp.asarray(self.matrix.T.copy())
            c = None if self.offset is None or callable(self.offset) else xp.asarray(self.offset)
            self._cache[key] = (at, c)
        return self._cache[key]

    def _coefficients(self, t: float, xp: Any) -> tuple[Any, Any]:
        at, c = self._constant(xp)
        if callable(self.matrix):
            at = as_real_array(self.matrix(t), "matrix(t)", xp=xp).T
        if callable(self.offset):
            c = as_real_array(self.offset(t), "offset(t)", xp=xp)
        return at, c

    def __call__(self, t: float, x: Any) -> Any:
        x = as_points(x, "x")
        xp = get_xp(x)
        at, c = self._coefficients(t, xp)
        if at.shape != (x.shape[-1], x.shape[-1]):
            raise ValueError(f"x has points of dimension {x.shape[-1]}, but the affine field's matrix has shape "
                             f"{at.shape}")
        if c is not None and c.shape != (x.shape[-1],):
            name = "offset(t)" if callable(self.offset) else "offset"
            raise ValueError(f"{name} must be a ({x.shape[-1]},) vector like the points, got shape {c.shape}")
        out = x @ at
        if c is not None:
            _add_row_vector(out, c, xp)
        return out


def affine_field(matrix: Any, offset: Any = None) -> AffineField:
    """Affine field v(t, x) = A x + c (A (d, d), c (d,)); each may also be a callable of t."""
    return AffineField(matrix, offset)


def gradient_field(grad_V: Callable[[Any], Any]) -> Callable[[float, Any], Any]:
    """Gradient-descent field b(t, x) = −∇V(x), with ``grad_V`` mapping (n, d) to (n, d)."""
    if not callable(grad_V):
        raise TypeError(f"grad_V must be a callable x (n, d) -> ∇V(x) (n, d), got {type(grad_V).__name__}")

    def field(t: float, x: Any) -> Any:
        x = as_points(x, "x")
        g = grad_V(x)
        check_real_output(g, "grad_V(x)", shape=x.shape, at=x)
        return -g

    return field


@dataclass(frozen=True)
class FlowMatchingKernelField:
    """Nadaraya–Watson estimate of v_t(z) = E[X1 − X0 | Z_t = z], Z_t = (1−t) X0 + t X1 (Eq. 7).

    v̂_t(z) = Σ_k K_H(z − Z_t^k) (X1^k − X0^k) / Σ_k K_H(z − Z_t^k), Gaussian kernel with diagonal bandwidth
    H_t = c · std(Z_t) per axis, c = ``factor`` (Scott's rule m^(-1/(d+4)) by default). Bias O(c²), variance
    O(1/(m c^d)). Queries are processed in chunks whose (chunk, m) weight matrix, the only work array of that
    size, takes at most ``chunk_bytes`` (peak memory about ``chunk_bytes`` + O((m + queries) d)).
    """

    x0: Any
    x1: Any
    factor: float
    chunk_bytes: int = 1 << 26

    def __call__(self, t: float, z: Any) -> Any:
        t = as_real_scalar(t, "t")
        z = as_points(z, "z", dim=np.shape(self.x0)[1], ndim=2)
        xp = get_xp(z)
        with np.errstate(over="ignore", invalid="ignore"):   # bw > 0 and each row's sum >= 1: no division by 0
            out = self._estimate(t, z, xp)
        if not all_finite(out, xp) and all_finite(z, xp):
            raise NumericalError(
                f"the flow-matching field overflows float64 at t={t:g}: the kernel exponents |z − Z_t|² / "
                f"(2 (c·std Z_t)²) do not fit (bandwidth factor c = {self.factor:.3g}, |z| up to {largest(z):.3g}, "
                f"|x0| up to {largest(self.x0):.3g}, |x1| up to {largest(self.x1):.3g}); rescale x0, x1 and the "
                f"positions by a common factor, or use a larger bandwidth")
        return out

    def _estimate(self, t: float, z: Any, xp: Any) -> Any:
        m = self.x0.shape[0]
        chunk = max(1, int(self.chunk_bytes // (8 * m)))   # one (chunk, m) float64 array, worked on in place
        check_pairwise(min(chunk, z.shape[0]), m, "the flow-matching kernel weights of one chunk",
                       "lower chunk_bytes or use fewer samples", xp=xp)
        x0, x1 = xp.asarray(self.x0), xp.asarray(self.x1)
        zt = (1.0 - t) * x0 + t * x1
        disp = x1 - x0
        bw = self.factor * xp.std(zt, axis=0)
        bw = xp.where(bw > 0, bw, 1.0)
        zs, qs = zt / bw, z / bw
        zsq = xp.sum(zs**2, axis=1)
        out = xp.empty_like(z)
        for s in range(0, z.shape[0], chunk):
            q = qs[s:s + chunk]
            k = q @ zs.T
            k -= 0.5 * zsq[None, :]  # −½|q − z_k|² up to a per-row constant
            k -= xp.max(k, axis=1, keepdims=True)  # stable softmax
            xp.exp(k, out=k)
            out[s:s + chunk] = (k @ disp) / xp.sum(k, axis=1, keepdims=True)
            del k   # free the chunk before the next one is allocated
        return out


def flow_matching_field_from_samples(x0: Any, x1: Any, *, bandwidth: Any = "scott",
                                     chunk_bytes: int = 1 << 26) -> FlowMatchingKernelField:
    """Flow-matching field estimated from paired samples x0 ~ α0 (source) and x1 ~ α1 (target), both (m, d).

    The pairs (x0[k], x1[k]) must be independent draws (independent coupling). ``bandwidth``: "scott"
    (c = m^(-1/(d+4))), "silverman", or a positive float c in [1.5e-154, 1.3e154] (c² must be a normal float64
    number); the kernel width per axis is c · std(Z_t). ValueError when the spread of x0 or x1 overflows
    float64; evaluating the field raises NumericalError when its kernel exponents overflow.
    """
    a = as_cloud(x0, "x0")
    b = as_cloud(x1, "x1", dim=a.shape[1])
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"x0 and x1 must hold the same number of samples (pairs), got {a.shape[0]} and "
                         f"{b.shape[0]}")
    m, d = a.shape
    chunk_bytes = as_positive_int(chunk_bytes, "chunk_bytes")
    if isinstance(bandwidth, str):
        if bandwidth == "scott":
            c = m ** (-1.0 / (d + 4))
        elif bandwidth == "silverman":
            c = (m * (d + 2) / 4.0) ** (-1.0 / (d + 4))
        else:
            raise ValueError(f"unknown bandwidth rule {bandwidth!r}; use 'scott', 'silverman' or a float > 0")
    else:
        c = _numeric_bandwidth(bandwidth)
    xp, (a, b) = on_one_device(a, b)
    for name, cloud in (("x0", a), ("x1", b)):  # the kernel width is c · std(Z_t), Z_t between x0 and x1
        with np.errstate(over="ignore", invalid="ignore"):
            spread = xp.std(cloud, axis=0)
        check_finite_result(spread, f"the per-axis standard deviation of {name} (the kernel width)", {name: cloud},
                            "coordinates beyond ~1.3e154 overflow when squared: rescale x0 and x1 by a common factor")
    return FlowMatchingKernelField(a, b, float(c), chunk_bytes)


def _check_psd(m: np.ndarray, name: str) -> None:
    """ValueError unless the square matrix ``m`` is symmetric positive semi-definite."""
    scale = max(1.0, float(np.abs(m).max()))
    if not np.allclose(m, m.T, rtol=0, atol=1e-12 * scale):
        raise ValueError(f"{name} matrix must be symmetric; symmetrise it, e.g. (D + D.T) / 2")
    low = float(np.linalg.eigvalsh(0.5 * (m + m.T))[0])
    if low < -1e-12 * scale:
        raise ValueError(f"{name} matrix must be positive semi-definite, smallest eigenvalue {low:.3g}")


def probability_flow_field(drift: Callable[[float, Any], Any], diffusion: Any,
                           score: Callable[[float, Any], Any]) -> Callable[[float, Any], Any]:
    """v(t, x) = b(t, x) − D ∇log ρ_t(x): ODE particles with the marginals of dX = b dt + sqrt(2D) dW.

    ∂ρ/∂t + div(ρb) = div(D∇ρ) = div(ρ D∇log ρ), so ∂ρ/∂t + div(ρ v) = 0. ``score(t, x)`` returns
    ∇log ρ_t(x) (n, d); D is a scalar ≥ 0, a (d,) vector or a symmetric (d, d) matrix.
    """
    for name, f in (("drift", drift), ("score", score)):
        if not callable(f):
            raise TypeError(f"{name} must be a callable {name}(t, x) returning (n, d), got {type(f).__name__}")
    dmat = as_real_array(diffusion, "diffusion", xp=np)
    if dmat.ndim > 2 or dmat.ndim == 2 and dmat.shape[0] != dmat.shape[1] or dmat.size == 0:
        raise ValueError(f"diffusion must be a finite scalar, (d,) vector or (d, d) matrix with d >= 1, got shape "
                         f"{dmat.shape}")
    if dmat.ndim == 0 and dmat < 0 or dmat.ndim == 1 and np.any(dmat < 0):
        raise ValueError(f"diffusion must be ≥ 0, got {dmat.tolist()}")
    if dmat.ndim == 2:
        _check_psd(dmat, "diffusion")

    def field(t: float, x: Any) -> Any:
        x = as_points(x, "x")
        xp = get_xp(x)
        if dmat.ndim and dmat.shape[0] != x.shape[-1]:
            raise ValueError(f"diffusion has shape {dmat.shape} but particles have dimension {x.shape[-1]}")
        s = score(t, x)
        check_real_output(s, "score(t, x)", shape=x.shape, at=x)
        if dmat.ndim == 2:
            s = s @ xp.asarray(dmat).T
        else:
            s = s * (float(dmat) if dmat.ndim == 0 else xp.asarray(dmat))
        b = drift(t, x)
        check_real_output(b, "drift(t, x)", shape=x.shape, at=x)
        return b - s

    return field


@dataclass(frozen=True)
class GridVelocityField:
    """Multilinear interpolation of a velocity given at cell centres of the box [lower, upper].

    ``values`` has shape (*shape, d) ('ij' indexing) or, with ``times`` (nt,), (nt, *shape, d) and linear
    interpolation in t (constant outside [times[0], times[-1]]). Between the outermost centres and the box
    faces the field is extrapolated linearly from the last two centres (exact for affine fields). Positions
    outside the box: ``outside="raise"`` (ValueError), "extrapolate" (linear) or "clamp" (nearest face).
    """

    lower: np.ndarray
    upper: np.ndarray
    values: Any
    times: np.ndarray | None = None
    outside: str = "raise"

    def _spatial(self, vals: Any, x: Any) -> Any:
        xp = get_xp(x)
        d = x.shape[1]
        shape = vals.shape[:d]
        lo, hi = xp.asarray(self.lower), xp.asarray(self.upper)
        if self.outside == "raise":
            bad = int(xp.sum(xp.any((x < lo) | (x > hi), axis=1)))
            if bad:
                raise ValueError(f"{bad} particles left the grid box [{self.lower.tolist()}, "
                                 f"{self.upper.tolist()}]; enlarge the grid or use outside='extrapolate'")
        elif self.outside == "clamp":
            x = xp.minimum(xp.maximum(x, lo), hi)
        h = (self.upper - self.lower) / np.asarray(shape)
        s = (x - lo) / xp.asarray(h) - 0.5  # centre i sits at s = i
        nmax = xp.asarray(np.maximum(np.asarray(shape) - 2, 0))
        i0 = xp.clip(xp.floor(s), 0, nmax).astype(xp.int64)
        frac = s - i0  # outside [0, 1] near the faces: linear extrapolation
        frac = xp.where(xp.asarray(np.asarray(shape) == 1), 0.0, frac)  # one-cell axes: constant
        top = xp.asarray(np.asarray(shape) - 1)
        out = xp.zeros((x.shape[0], vals.shape[-1]))
        for corner in np.ndindex(*(2,) * d):
            c = xp.asarray(corner)
            wt = xp.prod(xp.where(c == 1, frac, 1.0 - frac), axis=1)
            idx = xp.minimum(i0 + c, top)
            out += wt[:, None] * vals[tuple(idx[:, k] for k in range(d))]
        return out

    def __call__(self, t: float, x: Any) -> Any:
        x = as_points(x, "x", dim=len(self.lower), ndim=2)
        xp = get_xp(x)
        vals = xp.asarray(self.values)
        if self.times is None:
            return self._spatial(vals, x)
        times = self.times
        t = as_real_scalar(t, "t", finite=False)
        if t != t:
            raise ValueError("t must be a time, got NaN")
        if t <= times[0]:
            return self._spatial(vals[0], x)
        if t >= times[-1]:
            return self._spatial(vals[-1], x)
        j = int(np.searchsorted(times, t, side="right")) - 1
        w = (t - times[j]) / (times[j + 1] - times[j])
        return (1 - w) * self._spatial(vals[j], x) + w * self._spatial(vals[j + 1], x)


def grid_velocity_field(lower: Sequence[float], upper: Sequence[float], values: Any, *,
                        times: Sequence[float] | None = None, outside: str = "raise") -> GridVelocityField:
    """Field interpolating cell-centred grid velocities ``values`` (*shape, d) at particle positions.

    See :class:`GridVelocityField` for the conventions (multilinear, 'ij' indexing, optional ``times``).
    """
    for name, corner in (("lower", lower), ("upper", upper)):
        try:
            kind = np.asarray(corner).dtype.kind
        except (TypeError, ValueError):
            kind = ""   # refused by as_real_array below, with its own message
        if kind == "b":
            raise TypeError(f"{name} must be the coordinates of the box's corner (real numbers), got booleans "
                            f"{corner!r}")
    lo = np.atleast_1d(as_real_array(lower, "lower", xp=np))
    hi = np.atleast_1d(as_real_array(upper, "upper", xp=np))
    d = lo.size
    if lo.ndim != 1 or hi.shape != lo.shape or not np.all(hi > lo):
        raise ValueError(f"need lower < upper with equal lengths, got {lo.tolist()} and {hi.tolist()}")
    xp = get_xp(values)
    vals = as_real_array(values, "values", xp=xp, finite=False)
    lead = 0 if times is None else 1
    if vals.ndim != d + 1 + lead or vals.shape[-1] != d:
        want = "(*shape, d) (times=None)" if times is None else "(len(times), *shape, d)"
        raise ValueError(f"values must have shape {want} with d={d}, got {vals.shape}")
    if min(vals.shape[:-1]) < 1:
        raise ValueError(f"values has an empty axis (shape {vals.shape}); every grid axis needs at least one cell"
                         + ("" if times is None else " and times at least one entry"))
    if not bool(xp.all(xp.isfinite(vals))):
        raise ValueError("values contain NaN or infinite entries; fill them before interpolating")
    tarr = None
    if times is not None:
        tarr = as_real_array(times, "times", xp=np)
        if tarr.ndim != 1 or tarr.size != vals.shape[0] or np.any(np.diff(tarr) <= 0):
            raise ValueError("times must be strictly increasing with one entry per leading slice of values")
    if not isinstance(outside, str) or outside not in ("raise", "extrapolate", "clamp"):
        raise ValueError(f"outside must be 'raise', 'extrapolate' or 'clamp', got {outside!r}")
    return GridVelocityField(lo, hi, vals, tarr, outside)
