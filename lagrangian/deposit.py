"""Particles to densities: deposition on a cell-centred grid (NGP, CIC) and Gaussian kernel density estimates.

Grid convention (docs/theory.md, Conventions): the box [lower, upper] is split into ``shape`` equal cells, 'ij' indexing
(axis k is coordinate k), cell centres at lower + (i + ½) h. :func:`deposit` returns a **density**
ρ = mass in cell / cell volume, so Σ ρ · cell_volume equals the total particle weight (1 by default).
"""
from __future__ import annotations

from itertools import product
from typing import Any, Sequence

import numpy as np

from .backend import (as_cloud, as_positive_int, as_real_array, as_real_scalar, as_weights, check_memory,
                      check_pairwise, get_xp)

__all__ = ["deposit", "gaussian_kde", "kde_bandwidth_factor"]


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
    return lo, hi, shp


def deposit(x: Any, lower: Sequence[float], upper: Sequence[float], shape: Sequence[int], *,
            weights: Any = None, method: str = "cic", outside: str = "raise") -> Any:
    """Density (*shape) of particles x (n, d) with ``weights`` (default 1/n each) on a cell-centred grid.

    ``method="ngp"``: all weight to the containing cell. ``method="cic"`` (cloud in cell): multilinear
    weights to the 2^d nearest cell centres; it reproduces the particle mean exactly when no particle lies
    within half a cell of the boundary (there, the weight of a missing neighbour is folded back into the
    boundary cell, so mass is still conserved). ``outside``: "raise" (ValueError if a particle is outside
    the closed box) or "clip" (such particles are moved to the nearest boundary point, conserving mass).
    Result: ρ with Σ ρ · Π h_k = Σ weights. Runs in the namespace of ``x``.
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
            raise ValueError(f"{nbad} of {n} particles lie outside the box [{lo.tolist()}, {hi.tolist()}]; "
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
    return mass.reshape(shp) / float(np.prod(h))


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


def gaussian_kde(x: Any, points: Any, *, bandwidth: Any = None, weights: Any = None,
                 chunk_bytes: int = 1 << 26) -> Any:
    """Gaussian KDE of samples x (n, d) evaluated at ``points`` (m, d); returns densities (m,).

    Kernel covariance c² Σ̂ with Σ̂ the (weighted) sample covariance and c from ``bandwidth``: None or
    "scott" (n^(-1/(d+4))), "silverman", or a positive float used as c (same convention as
    scipy.stats.gaussian_kde). Evaluated in chunks of points so memory stays near ``chunk_bytes``;
    MemoryBudgetError when even one chunk would exceed ``MAX_MEMORY_FRACTION`` of memory.
    """
    x = as_cloud(x, "x")
    xp = get_xp(x)
    n, d = x.shape
    pts = as_cloud(points, "points", dim=d, allow_empty=True)
    chunk_bytes = as_positive_int(chunk_bytes, "chunk_bytes")
    if weights is None:
        w = xp.full(n, 1.0 / n)
        n_eff = float(n)
    else:
        w = as_weights(weights, n, "weights", xp=xp)
        w = w / xp.sum(w)
        n_eff = float(1.0 / xp.sum(w**2))
    if bandwidth is None or isinstance(bandwidth, str):
        c = kde_bandwidth_factor(n_eff, d, bandwidth or "scott")
    else:
        c = as_real_scalar(bandwidth, "bandwidth")
        if not c > 0:
            raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    if n < 2 or n_eff <= 1.0:
        raise ValueError(f"gaussian_kde needs at least two samples with positive weight to estimate a covariance, "
                         f"got n={n} (effective {n_eff:.3g})")
    mean = w @ x
    xc = x - mean
    cov = (xc * w[:, None]).T @ xc / (1.0 - float(xp.sum(w**2)))
    kcov = cov * c**2
    try:
        chol = xp.linalg.cholesky(kcov)
        ok = bool(xp.all(xp.isfinite(chol)))  # CuPy returns NaN instead of raising
    except Exception:
        ok = False
    if not ok:
        raise ValueError("the samples' covariance is singular (all samples on a subspace); KDE needs "
                         "full-dimensional samples")
    # whitened coordinates: |L^{-1}(p - x)|² gives the Gaussian exponent
    linv = xp.linalg.inv(chol)
    xw = x @ linv.T
    pw = pts @ linv.T
    log_norm = -0.5 * d * np.log(2 * np.pi) - float(xp.sum(xp.log(xp.diag(chol))))
    xsq = xp.sum(xw**2, axis=1)
    out = xp.empty(pts.shape[0])
    chunk = max(1, int(chunk_bytes // (8 * n * 2)))
    check_pairwise(min(chunk, pts.shape[0]), n, "gaussian_kde distances of one chunk of points",
                   "lower chunk_bytes or subsample x", xp=xp)
    for start in range(0, pts.shape[0], chunk):
        p = pw[start:start + chunk]
        d2 = xp.sum(p**2, axis=1)[:, None] + xsq[None, :] - 2.0 * (p @ xw.T)
        out[start:start + chunk] = xp.exp(-0.5 * xp.maximum(d2, 0.0) + log_norm) @ w
    return out
