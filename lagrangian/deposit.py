"""Particles to densities: deposition on a cell-centred grid (NGP, CIC) and Gaussian kernel density estimates.

Grid convention (docs/theory.md, Conventions): the box [lower, upper] is split into ``shape`` equal cells, 'ij' indexing
(axis k is coordinate k), cell centres at lower + (i + ½) h. :func:`deposit` returns a **density**
ρ = mass in cell / cell volume, so Σ ρ · cell_volume equals the total particle weight (1 by default).
"""
from __future__ import annotations

from itertools import product
from typing import Any, Sequence

import numpy as np

from .backend import (SQRT_MAX, as_cloud, as_positive_int, as_real_array, as_real_scalar, as_weights,
                      check_finite_result, check_memory, check_pairwise, get_xp, largest, on_one_device,
                      probabilities)

__all__ = ["deposit", "gaussian_kde", "kde_bandwidth_factor"]

_FLOAT = np.finfo(np.float64)
# numeric bandwidths accepted by gaussian_kde and flow_matching_field_from_samples, ≈ [1.5e-154, 1.3e154]: the
# kernel scales with bandwidth², which must be a normal float64 number
_BANDWIDTH_RANGE = (float(np.sqrt(_FLOAT.tiny)), SQRT_MAX)


def _box(lower: Sequence[float], upper: Sequence[float], shape: Sequence[int], d: int):
    """Validated (lower, upper, shape) of a d-dimensional grid."""
    lo = np.atleast_1d(as_real_array(lower, "lower", xp=np, finite=False))
    hi = np.atleast_1d(as_real_array(upper, "upper", xp=np, finite=False))
    entries = tuple(np.atleast_1d(np.asarray(shape, dtype=object)).tolist())
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in entries):
        raise TypeError(f"shape must hold integers (cells per axis), got {entries!r}; pass e.g. (64, 64)")
    if any(s < 1 for s in entries):
        raise ValueError(f"shape entries must be positive integers (cells per axis), got {entries!r}")
    shp = tuple(int(s) for s in entries)
    if lo.shape != (d,) or hi.shape != (d,) or len(shp) != d:
        raise ValueError(f"lower, upper and shape must each have {d} entries (the particle dimension), got "
                         f"{lo.tolist()}, {hi.tolist()}, {shp}")
    if not np.all(hi > lo) or not np.all(np.isfinite(lo)) or not np.all(np.isfinite(hi)):
        raise ValueError(f"need finite lower < upper in every axis, got {lo.tolist()} and {hi.tolist()}")
    with np.errstate(over="ignore", under="ignore"):
        volume = float(np.prod((hi - lo) / np.asarray(shp)))
    if not _FLOAT.tiny <= volume <= _FLOAT.max:
        raise ValueError(f"the box [lower, upper] = [{lo.tolist()}, {hi.tolist()}] split into {shp} cells gives a "
                         f"cell volume of {volume:.3g}, outside the normal float64 range [{_FLOAT.tiny:.3g}, "
                         f"{_FLOAT.max:.3g}]; rescale the problem (change units)")
    return lo, hi, shp


def deposit(x: Any, lower: Sequence[float], upper: Sequence[float], shape: Sequence[int], *,
            weights: Any = None, method: str = "cic", outside: str = "raise") -> Any:
    """Density (*shape) of particles x (n, d) with ``weights`` (default 1/n each) on a cell-centred grid.

    ``method="ngp"``: all weight to the containing cell. ``method="cic"`` (cloud in cell): multilinear
    weights to the 2^d nearest cell centres; it reproduces the particle mean exactly when no particle lies
    within half a cell of the boundary (there, the weight of a missing neighbour is folded back into the
    boundary cell, so mass is still conserved). ``outside``: "raise" (ValueError if a particle is outside
    the closed box) or "clip" (such particles are moved to the nearest boundary point, conserving mass).
    Result: ρ with Σ ρ · Π h_k = Σ weights. Runs in the namespace of ``x``. ValueError when the cell volume
    Π h_k is outside float64's normal range or ρ overflows float64.
    """
    x = as_cloud(x, "x")
    xp = get_xp(x)
    n, d = x.shape
    lo, hi, shp = _box(lower, upper, shape, d)
    if not isinstance(method, str) or method not in ("cic", "ngp"):
        raise ValueError(f"unknown deposit method {method!r}; valid methods are 'cic' and 'ngp'")
    if not isinstance(outside, str) or outside not in ("raise", "clip"):
        raise ValueError(f"outside must be 'raise' or 'clip', got {outside!r}")
    w = xp.full(n, 1.0 / n) if weights is None else as_weights(weights, n, "weights", xp=xp)
    size = int(np.prod(shp, dtype=object))
    check_memory(2 * 8 * size, f"deposit on a grid of shape {shp}", "use a coarser grid (smaller shape)", xp=xp)
    lo_x, hi_x = xp.asarray(lo), xp.asarray(hi)
    if outside == "raise":
        bad = xp.any((x < lo_x) | (x > hi_x), axis=1)
        nbad = int(xp.sum(bad))
        if nbad:
            raise ValueError(f"{nbad} of {n} particles of x lie outside the box [{lo.tolist()}, {hi.tolist()}]; "
                             f"enlarge the box or pass outside='clip'")
    else:
        x = xp.minimum(xp.maximum(x, lo_x), hi_x)
    h = (hi - lo) / np.asarray(shp)
    s = (x - lo_x) / xp.asarray(h)  # position in cell units; cell i covers [i, i+1)
    strides = np.cumprod((1,) + shp[::-1])[:-1][::-1]  # C-order flat index strides
    nmax = xp.asarray(np.asarray(shp) - 1)
    if method == "ngp":
        idx = xp.minimum(xp.floor(s).astype(xp.int64), nmax)
        flat = idx @ xp.asarray(strides, dtype=xp.int64)
        mass = xp.bincount(flat, weights=w, minlength=size)
    else:
        s = s - 0.5
        i0 = xp.floor(s)
        frac = s - i0
        i0 = i0.astype(xp.int64)
        mass = xp.zeros(size)
        for corner in product((0, 1), repeat=d):
            c = xp.asarray(corner)
            idx = xp.clip(i0 + c, 0, nmax)  # missing neighbours fold back into the boundary cell
            wc = w * xp.prod(xp.where(c == 1, frac, 1.0 - frac), axis=1)
            mass += xp.bincount(idx @ xp.asarray(strides, dtype=xp.int64), weights=wc, minlength=size)
    with np.errstate(over="ignore"):
        rho = mass.reshape(shp) / float(np.prod(h))
    return check_finite_result(rho, "the density (weight per cell volume)", {"weights": w},
                               "use larger cells (a wider box or a smaller shape) or smaller weights")


def kde_bandwidth_factor(n: int, d: int, rule: str = "scott") -> float:
    """Bandwidth factor c of the kernel covariance c² Σ̂: Scott n^(-1/(d+4)), Silverman (n(d+2)/4)^(-1/(d+4)).

    ``n`` (a positive, possibly effective, sample size) and the dimension ``d`` ≥ 1 are validated.
    """
    n = as_real_scalar(n, "n")
    if not n > 0:
        raise ValueError(f"n must be a positive sample size, got {n}")
    d = as_positive_int(d, "d")
    if not isinstance(rule, str):
        raise TypeError(f"rule must be 'scott' or 'silverman', got {type(rule).__name__}")
    if rule == "scott":
        return float(n ** (-1.0 / (d + 4)))
    if rule == "silverman":
        return float((n * (d + 2) / 4.0) ** (-1.0 / (d + 4)))
    raise ValueError(f"unknown bandwidth rule {rule!r}; use 'scott', 'silverman' or a positive number")


def _numeric_bandwidth(bandwidth: Any) -> float:
    """A numeric ``bandwidth`` factor c as a float in ``_BANDWIDTH_RANGE``; errors name ``bandwidth``."""
    c = as_real_scalar(bandwidth, "bandwidth")
    if not c > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    low, high = _BANDWIDTH_RANGE
    if not low <= c <= high:
        raise ValueError(f"bandwidth={c:.3g} is outside [{low:.2g}, {high:.2g}]: the kernel scales with bandwidth², "
                         f"which must be a normal float64 number; rescale the samples instead")
    return c


_QUARTER_MAX = _FLOAT.max / 4  # whitened squared norms up to this keep |p|² + |x|² − 2⟨p, x⟩ finite


def gaussian_kde(x: Any, points: Any, *, bandwidth: Any = None, weights: Any = None,
                 chunk_bytes: int = 1 << 26) -> Any:
    """Gaussian KDE of samples x (n, d) evaluated at ``points`` (m, d); returns densities (m,).

    Kernel covariance c² Σ̂ with Σ̂ the (weighted) sample covariance and c from ``bandwidth``: None or
    "scott" (n^(-1/(d+4))), "silverman", or a positive float used as c (same convention as
    scipy.stats.gaussian_kde), in [1.5e-154, 1.3e154] so that c² is a normal float64 number. Evaluated in
    chunks of points whose (chunk, n) work array takes at most ``chunk_bytes`` (peak memory about
    ``chunk_bytes`` + O((n + m) d)); MemoryBudgetError when even one chunk would exceed
    ``MAX_MEMORY_FRACTION`` of memory. ValueError when the covariance of x overflows float64 or x lies
    beyond ~1e154 kernel widths from the origin; points that far from every sample get density 0.
    """
    x = as_cloud(x, "x")
    n, d = x.shape
    xp, (x, pts) = on_one_device(x, as_cloud(points, "points", dim=d, allow_empty=True))
    chunk_bytes = as_positive_int(chunk_bytes, "chunk_bytes")
    chunk = max(1, int(chunk_bytes // (8 * n)))   # one (chunk, n) float64 array, worked on in place
    check_pairwise(min(chunk, pts.shape[0]), n, "gaussian_kde distances of one chunk of points",
                   "lower chunk_bytes or subsample x", xp=xp)
    if weights is None:
        w = xp.full(n, 1.0 / n)
        n_eff = float(n)
    else:
        w = probabilities(as_weights(weights, n, "weights", xp=xp), xp)
        n_eff = float(1.0 / xp.sum(w**2))
    if bandwidth is None or isinstance(bandwidth, str):
        c = kde_bandwidth_factor(n_eff, d, bandwidth or "scott")
    else:
        c = _numeric_bandwidth(bandwidth)
    if n < 2 or n_eff <= 1.0:
        raise ValueError(f"gaussian_kde needs at least two samples x with positive weights to estimate a covariance, "
                         f"got n={n} (effective {n_eff:.3g}); pass more samples or spread the weights")
    with np.errstate(over="ignore", invalid="ignore"):
        mean = w @ x
        xc = x - mean
        cov = check_finite_result((xc * w[:, None]).T @ xc / (1.0 - float(xp.sum(w**2))),
                                  "the sample covariance of x", {"x": x},
                                  "coordinates beyond ~1.3e154 overflow when squared: rescale x and points by a "
                                  "common factor")
        kcov = check_finite_result(cov * c**2, "the kernel covariance bandwidth² · cov(x)", {"x": x, "bandwidth": c},
                                   "use a smaller bandwidth or rescale x and points")
    try:
        chol = xp.linalg.cholesky(kcov)
        ok = bool(xp.all(xp.isfinite(chol)))  # CuPy returns NaN instead of raising
    except Exception:
        ok = False
    if not ok:
        raise ValueError(f"the kernel covariance bandwidth² · cov(x) is singular (bandwidth = {c:.3g}): the samples x "
                         f"lie on a subspace, or the product underflows float64; KDE needs full-dimensional samples")
    # whitened coordinates: |L^{-1}(p - x)|² gives the Gaussian exponent
    linv = xp.linalg.inv(chol)
    with np.errstate(over="ignore", invalid="ignore"):
        xw = x @ linv.T
        pw = pts @ linv.T
        xsq = xp.sum(xw**2, axis=1)
    if not float(xp.max(xsq)) <= _QUARTER_MAX:
        raise ValueError(f"x lies too far from the origin for its spread: its whitened coordinates (in kernel widths) "
                         f"reach {largest(xw):.3g} and their squares exceed {_QUARTER_MAX:.3g}, where the squared "
                         f"distances overflow float64; shift x and points by a common offset (e.g. x.mean(axis=0)) "
                         f"or use a larger bandwidth")
    log_norm = -0.5 * d * np.log(2 * np.pi) - float(xp.sum(xp.log(xp.diag(chol))))
    out = xp.empty(pts.shape[0])
    for start in range(0, pts.shape[0], chunk):
        p = pw[start:start + chunk]
        with np.errstate(over="ignore", invalid="ignore"):
            psq = xp.sum(p**2, axis=1)
            e = p @ xw.T                   # becomes |p - x|² = |p|² + |x|² - 2 p.x, then the log-kernel
            e *= -2.0
            e += psq[:, None]
            e += xsq[None, :]
        far = ~(psq <= _QUARTER_MAX)  # beyond ~6.7e153 kernel widths from every sample: the density is 0
        if bool(xp.any(far)):
            e[far] = xp.inf
        xp.maximum(e, 0.0, out=e)
        e *= -0.5
        e += log_norm
        out[start:start + chunk] = xp.exp(e, out=e) @ w
        del e   # free the chunk before the next one is allocated
    return out
