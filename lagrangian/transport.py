"""Empirical Wasserstein-2 distances between particle clouds.

``w2`` returns the distance, ``w2_squared`` its square (POT's ``emd2`` returns the *square* of W2 for the
squared-Euclidean cost; we never leave that ambiguous). Clouds are (n, d) arrays with optional
non-negative weights (normalised to probability vectors; uniform when omitted).

* d = 1: exact, via quantile functions (sorting): W2² = ∫_0^1 |F⁻¹(u) − G⁻¹(u)|² du, O(n log n).
* d ≥ 2: exact discrete OT (network simplex, ``ot.emd2``) on the (n, m) squared-distance matrix; refused
  with :class:`~lagrangian.errors.MemoryBudgetError` when n·m·8 bytes exceeds ``max_bytes`` or
  :data:`lagrangian.backend.MAX_MEMORY_FRACTION` of the machine's physical memory.
* :func:`sliced_w2`: Monte Carlo over random directions θ on the sphere of
  SW2² = E_θ W2²(θ·X, θ·Y); cheap for large n, and SW2 ≤ W2.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .backend import (as_cloud, as_positive_int, as_real_scalar, as_weights, check_pairwise, on_one_device,
                      probabilities, to_numpy)
from .errors import MemoryBudgetError, NumericalError

__all__ = ["w2", "w2_squared", "sliced_w2", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB for the dense cost matrix of exact OT


def _weights(w: Any, n: int, name: str) -> np.ndarray:
    """Host probability vector from optional weights (uniform when None); errors name ``name``."""
    if w is None:
        return np.full(n, 1.0 / n)
    return probabilities(as_weights(w, n, name, xp=np))


def _max_bytes(max_bytes: Any) -> float:
    """Validated ``max_bytes``: a positive number."""
    value = as_real_scalar(max_bytes, "max_bytes", finite=False)
    if not value > 0:
        raise ValueError(f"max_bytes must be a positive number of bytes, got {max_bytes!r}")
    return value


def _finite_w2(value: float) -> float:
    """``value`` (a squared distance) if finite, else NumericalError: squared distances overflowed."""
    if not np.isfinite(value):
        raise NumericalError("squared distances between the clouds overflow float64 (coordinates near 1e154 "
                             "or beyond); rescale both clouds by a common factor and rescale W2 back")
    return float(value)


def _w2_squared_1d(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Exact W2² between weighted 1-D measures by merging their quantile functions."""
    ix, iy = np.argsort(x, kind="stable"), np.argsort(y, kind="stable")
    xs, ys, a, b = x[ix], y[iy], a[ix], b[iy]
    if xs.size == ys.size and np.array_equal(a, b) and np.allclose(a, a[0]):
        return float(np.mean((xs - ys) ** 2))  # equal uniform weights: match sorted samples
    ca, cb = np.cumsum(a), np.cumsum(b)
    ca[-1] = cb[-1] = 1.0
    u = np.union1d(ca, cb)  # right ends of the intervals where both quantile functions are constant
    du = np.diff(np.concatenate(([0.0], u)))
    qx = xs[np.minimum(np.searchsorted(ca, u, side="left"), xs.size - 1)]
    qy = ys[np.minimum(np.searchsorted(cb, u, side="left"), ys.size - 1)]
    return float(np.sum(du * (qx - qy) ** 2))


def w2_squared(x: Any, y: Any, *, weights_x: Any = None, weights_y: Any = None,
               max_bytes: int = DEFAULT_MAX_BYTES) -> float:
    """Squared empirical W2 between clouds x (n, d) and y (m, d) (squared-Euclidean cost, no ½).

    Exact in every dimension (sorting in 1D, ``ot.emd2`` otherwise). Raises MemoryBudgetError when the
    (n, m) float64 cost matrix would exceed ``max_bytes`` or MAX_MEMORY_FRACTION of physical memory (use
    :func:`sliced_w2` or subsample), and NumericalError when the network simplex does not converge or the
    squared distances overflow float64.
    """
    max_bytes = _max_bytes(max_bytes)
    x = as_cloud(x, "x")
    y = as_cloud(y, "y", dim=x.shape[1])
    a = _weights(weights_x, x.shape[0], "weights_x")
    b = _weights(weights_y, y.shape[0], "weights_y")
    xh, yh = to_numpy(x), to_numpy(y)
    if x.shape[1] == 1:
        with np.errstate(over="ignore", invalid="ignore"):
            return _finite_w2(_w2_squared_1d(xh[:, 0], yh[:, 0], a, b))
    need = 8 * xh.shape[0] * yh.shape[0]
    if need > max_bytes:
        raise MemoryBudgetError(
            f"exact W2 between {xh.shape[0]} and {yh.shape[0]} points needs a {need / 2**20:.3g} MiB cost "
            f"matrix ({need} bytes), above max_bytes={max_bytes:.6g} bytes; raise max_bytes, subsample, or use "
            "sliced_w2")
    check_pairwise(xh.shape[0], yh.shape[0], "exact W2 (the OT cost matrix)",
                   "subsample the clouds or use sliced_w2")
    import ot

    with np.errstate(over="ignore", invalid="ignore"):
        cost = ot.dist(xh, yh, metric="sqeuclidean")
    if not np.all(np.isfinite(cost)):
        _finite_w2(np.inf)
    value, log = ot.emd2(a, b, cost, numItermax=max(100_000, 50 * (xh.shape[0] + yh.shape[0]) ** 2 // 100),
                         log=True)
    if log.get("result_code", 1) != 1:
        raise NumericalError(f"exact OT did not converge: {log.get('warning')}")
    return _finite_w2(max(float(value), 0.0))


def w2(x: Any, y: Any, *, weights_x: Any = None, weights_y: Any = None,
       max_bytes: int = DEFAULT_MAX_BYTES) -> float:
    """Empirical W2 distance (the square root of :func:`w2_squared`)."""
    return float(np.sqrt(w2_squared(x, y, weights_x=weights_x, weights_y=weights_y, max_bytes=max_bytes)))


def sliced_w2(x: Any, y: Any, *, projections: int = 128, rng: np.random.Generator) -> float:
    """Sliced W2 distance sqrt(mean_θ W2²(θ·x, θ·y)) over ``projections`` uniform random unit directions.

    Clouds must have equal sizes (uniform weights); each 1-D W2 is exact by sorting. In 1D it equals w2.
    Runs in the namespace of ``x`` (NumPy or CuPy); directions are drawn from the NumPy ``rng``.
    MemoryBudgetError when the (n, projections) projections would exceed MAX_MEMORY_FRACTION of memory.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator, e.g. numpy.random.default_rng(seed)")
    projections = as_positive_int(projections, "projections")
    x = as_cloud(x, "x")
    y = as_cloud(y, "y", dim=x.shape[1])
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"sliced_w2 needs clouds x and y of equal size, got {x.shape[0]} and {y.shape[0]} "
                         f"points; subsample the larger one")
    xp, (x, y) = on_one_device(x, y)
    check_pairwise(x.shape[0], projections, "sliced_w2 (projections of each cloud)",
                   "use fewer projections or subsample the clouds", xp=xp)
    theta = rng.standard_normal((x.shape[1], int(projections)))
    theta /= np.linalg.norm(theta, axis=0, keepdims=True)
    theta = xp.asarray(theta)
    with np.errstate(over="ignore", invalid="ignore"):   # projections beyond float64: inf - inf, refused below
        px = xp.sort(x @ theta, axis=0)  # (n, projections)
        py = xp.sort(y @ theta, axis=0)
        return float(np.sqrt(_finite_w2(float(xp.mean((px - py) ** 2)))))
