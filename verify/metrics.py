"""Error measures, Monte Carlo intervals, observed orders of convergence and measured peak memory.

Conventions: samples are points-last arrays (n, d). Standard errors come from the central limit
theorem with empirical second (means) or fourth (covariances) moments; a check accepts a deviation up
to ``z`` standard errors, with ``z`` from :func:`z_score_for` for a stated false-alarm rate. Against a
Gaussian law, :func:`gaussian_sample_z_scores` gives exact (finite-n) z-equivalents instead.
"""
from __future__ import annotations

import math
import tracemalloc
from typing import Any, Callable

import numpy as np
import scipy.linalg
from scipy import special, stats

__all__ = [
    "relative_error", "max_abs_error", "z_score_for", "mean_standard_error",
    "covariance_standard_error", "gaussian_sample_z_scores", "max_standardised_deviation", "observed_order", "grid_error", "GRID_NORMS",
    "peak_memory",
]

GRID_NORMS = ("L1", "L2", "Linf")


def worst(values) -> float:
    """The largest of ``values`` (errors of several runs), +inf when any is NaN: Python's ``max`` skips a NaN
    that is not the first value, which would let a NaN error pass a check."""
    a = np.asarray(list(values), dtype=float)
    return math.inf if np.isnan(a).any() else float(a.max())


def relative_error(value, reference) -> float:
    """‖value − reference‖ / ‖reference‖ (2-norm of vectors, Frobenius norm of matrices).

    Falls back to the absolute error when the reference is exactly zero.
    """
    value = np.asarray(value, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if value.shape != reference.shape:
        raise ValueError(f"relative_error: value has shape {value.shape} but reference has "
                         f"shape {reference.shape}")
    diff = float(np.linalg.norm((value - reference).ravel()))
    scale = float(np.linalg.norm(reference.ravel()))
    return diff / scale if scale > 0 else diff


def grid_error(rho, exact, cell_volume: float, norm: str = "L1") -> float:
    """Distance of cell averages ``rho`` to ``exact`` (same shape): "L1" Σ|e|·V, "L2" sqrt(Σ|e|²·V) or
    "Linf" max |e|, with V the cell volume (so L1 and L2 approximate the continuous norms)."""
    rho = np.asarray(rho, dtype=float)
    exact = np.asarray(exact, dtype=float)
    if rho.shape != exact.shape:
        raise ValueError(f"grid_error: rho has shape {rho.shape} but exact has shape {exact.shape}")
    if norm not in GRID_NORMS:
        raise ValueError(f"norm must be one of {', '.join(GRID_NORMS)}; got {norm!r}")
    e = np.abs(rho - exact)
    if norm == "L1":
        return float(e.sum() * cell_volume)
    if norm == "L2":
        return float(np.sqrt(float((e * e).sum()) * cell_volume))
    return float(e.max()) if e.size else 0.0


def max_abs_error(value, reference) -> float:
    """max |value − reference| over all entries."""
    value = np.asarray(value, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if value.shape != reference.shape:
        raise ValueError(f"max_abs_error: shapes {value.shape} and {reference.shape} differ")
    return float(np.max(np.abs(value - reference))) if value.size else 0.0


def z_score_for(false_alarm: float, tests: int = 1) -> float:
    """Two-sided normal quantile so that ``tests`` independent-or-not comparisons together raise a
    false alarm with probability at most ``false_alarm`` (Bonferroni)."""
    if not 0.0 < false_alarm < 1.0:
        raise ValueError(f"false_alarm must lie in (0, 1), got {false_alarm}")
    if int(tests) < 1:
        raise ValueError(f"tests must be a positive integer, got {tests}")
    return float(stats.norm.isf(false_alarm / (2.0 * int(tests))))


def _samples(samples) -> np.ndarray:
    x = np.asarray(samples, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"samples must have shape (n, d) with n ≥ 2, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples contain NaN or infinite values")
    return x


def mean_standard_error(samples) -> tuple[np.ndarray, np.ndarray]:
    """Sample mean (d,) and its CLT standard error (d,) = std / sqrt(n)."""
    x = _samples(samples)
    n = x.shape[0]
    return x.mean(axis=0), x.std(axis=0, ddof=1) / np.sqrt(n)


def covariance_standard_error(samples) -> tuple[np.ndarray, np.ndarray]:
    """Sample covariance (d, d) (unbiased) and the CLT standard error of each entry.

    se_ij = sqrt(Var[(X_i − μ_i)(X_j − μ_j)] / n), estimated with the empirical fourth moments.
    """
    x = _samples(samples)
    n = x.shape[0]
    xc = x - x.mean(axis=0)
    cov = xc.T @ xc / (n - 1)
    products = xc[:, :, None] * xc[:, None, :]
    se = products.std(axis=0, ddof=1) / np.sqrt(n)
    return cov, se


def _z_from_log_tail(log_tail) -> np.ndarray:
    """z with P(N(0,1) > z) = exp(log_tail): the normal quantile of a one-sided tail given in logs (no underflow)."""
    return -special.ndtri_exp(np.asarray(log_tail, dtype=float))


def gaussian_sample_z_scores(samples, mean, cov) -> tuple[np.ndarray, np.ndarray]:
    """Exact z-equivalents of the sample mean (d,) and covariance (d(d+1)/2,) of ``samples`` (n, d) under the
    hypothesis that the rows are independent draws of N(mean, cov).

    Mean: z_i = (x̄_i − mean_i) / sqrt(cov_ii / n), exactly N(0, 1) under the hypothesis.
    Covariance: whiten y = L⁻¹(x − x̄) with cov = L Lᵀ, so the rows of y are N(0, I) draws and (n − 1) S_y is
    Wishart(I, n − 1): each variance (n − 1) S_ii ~ χ²_{n−1} and each correlation r_ij (i < j) gives
    t = r sqrt((n − 2)/(1 − r²)) ~ Student t_{n−2}. Each exact two-sided p-value is returned as the normal
    quantile z = Φ⁻¹(1 − p/2), so ``max(z) > z_score_for(α, m)`` is an exact Bonferroni test of level ≤ α at any
    n ≥ 3 (the CLT standard errors of :func:`covariance_standard_error` are asymptotic: the sample covariance is
    skewed and its studentised tail is heavier than the normal one at finite n). Covariance entries are in
    ``numpy.triu_indices(d)`` order of the whitened matrix, variances and correlations alike.
    """
    x = _samples(samples)
    n, d = x.shape
    mean = np.asarray(mean, dtype=float).reshape(-1)
    cov = np.asarray(cov, dtype=float)
    if mean.shape != (d,) or cov.shape != (d, d):
        raise ValueError(f"mean must have shape ({d},) and cov ({d}, {d}) to match samples {x.shape}, "
                         f"got {mean.shape} and {cov.shape}")
    if n < 3:
        raise ValueError(f"samples must hold n ≥ 3 draws for the covariance test, got {n}")
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError("cov must be symmetric positive definite") from None
    z_mean = (x.mean(axis=0) - mean) / np.sqrt(np.diag(cov) / n)
    y = scipy.linalg.solve_triangular(chol, (x - x.mean(axis=0)).T, lower=True)   # (d, n) whitened
    s = y @ y.T / (n - 1)
    iu = np.triu_indices(d)
    z_cov = np.empty(len(iu[0]))
    for k, (i, j) in enumerate(zip(*iu)):
        if i == j:   # (n − 1) S_ii ~ χ²_{n−1}: the nearer tail, two-sided
            q = (n - 1) * s[i, i]
            z_cov[k] = _z_from_log_tail(min(stats.chi2.logcdf(q, n - 1), stats.chi2.logsf(q, n - 1)))
        else:        # sample correlation of independent coordinates: Student t_{n−2}
            r = s[i, j] / np.sqrt(s[i, i] * s[j, j])
            t = abs(r) * np.sqrt((n - 2) / max(1.0 - r * r, np.finfo(float).tiny))
            z_cov[k] = _z_from_log_tail(stats.t.logsf(t, n - 2))
    return z_mean, z_cov


def max_standardised_deviation(estimate, reference, standard_error) -> float:
    """max_k |estimate_k − reference_k| / se_k over all entries (compare with a z score)."""
    estimate = np.asarray(estimate, dtype=float)
    reference = np.asarray(reference, dtype=float)
    se = np.asarray(standard_error, dtype=float)
    if not (estimate.shape == reference.shape == se.shape):
        raise ValueError(f"shapes differ: estimate {estimate.shape}, reference {reference.shape}, "
                         f"standard error {se.shape}")
    if np.any(se <= 0):
        raise ValueError("standard errors must be positive (degenerate samples?)")
    return float(np.max(np.abs(estimate - reference) / se))


def observed_order(h, errors) -> float:
    """Least-squares slope p of log(error) = p log(h) + c over the levels (h decreasing or not).

    Needs at least two levels with positive, finite errors.
    """
    h = np.asarray(h, dtype=float).ravel()
    e = np.asarray(errors, dtype=float).ravel()
    if h.shape != e.shape or h.size < 2:
        raise ValueError(f"observed_order needs ≥ 2 matching levels, got h {h.shape}, errors {e.shape}")
    if np.any(~np.isfinite(e)) or np.any(e <= 0) or np.any(h <= 0):
        raise ValueError(f"observed_order needs positive finite h and errors, got errors {e}")
    slope, _ = np.polyfit(np.log(h), np.log(e), 1)
    return float(slope)


def peak_memory(run: Callable[[], Any]) -> tuple[Any, int]:
    """(run(), the peak of the memory it allocated, in bytes, above what was allocated when it started), measured
    with tracemalloc, which sees NumPy's array buffers as well as Python objects (host memory only)."""
    if tracemalloc.is_tracing():
        raise RuntimeError("peak_memory: tracemalloc is already tracing; stop it first")
    tracemalloc.start()
    try:
        probe = np.ones(1 << 17)   # 1 MiB: NumPy reports its buffers to tracemalloc unless built otherwise
        if tracemalloc.get_traced_memory()[0] < probe.nbytes:
            raise RuntimeError("peak_memory: tracemalloc does not see NumPy's array buffers (NumPy with another "
                               "memory allocator); memory cannot be measured here")
        del probe
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak - base

