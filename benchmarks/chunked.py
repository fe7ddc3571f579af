"""Chunked kernel sums: time and peak memory against a peer or a plain implementation in the same process.

    OPENBLAS_NUM_THREADS=1 python benchmarks/chunked.py [--quick]

* lagrangian.gaussian_kde against scipy.stats.gaussian_kde (the same Scott bandwidth, the same points);
* lagrangian.flow_matching_field_from_samples against a plain NumPy Nadaraya–Watson sum over all samples at once.

Each line gives the best of a few runs, the peak memory above the inputs (tracemalloc), the ratio
twinflow / reference, and the largest relative difference of the values.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import scipy.stats

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import lagrangian  # noqa: E402
from verify.metrics import peak_memory  # noqa: E402


def best_of(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def line(label: str, fn, ref_label: str, ref, repeats: int) -> None:
    t, a = best_of(fn, repeats)
    t_ref, b = best_of(ref, repeats)
    mem, mem_ref = peak_memory(fn)[1], peak_memory(ref)[1]
    diff = float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())
    print(f"{label:46s} {t * 1e3:8.1f} ms {mem / 2**20:8.1f} MiB | {ref_label:28s} {t_ref * 1e3:8.1f} ms "
          f"{mem_ref / 2**20:8.1f} MiB | time ratio {t / t_ref:5.2f}, memory ratio {mem / mem_ref:5.2f}, "
          f"max rel diff {diff:.1e}")


def plain_flow_matching(x0: np.ndarray, x1: np.ndarray, t: float, z: np.ndarray) -> np.ndarray:
    """The Nadaraya–Watson estimate over every sample at once (Scott's factor, as the library's default)."""
    m, d = x0.shape
    zt = (1 - t) * x0 + t * x1
    bw = m ** (-1.0 / (d + 4)) * zt.std(axis=0)
    d2 = (((z[:, None, :] - zt[None, :, :]) / bw) ** 2).sum(-1)
    k = np.exp(-0.5 * (d2 - d2.min(axis=1, keepdims=True)))
    return (k @ (x1 - x0)) / k.sum(axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, m, repeats = (1000, 5000, 2) if args.quick else (4000, 20000, 3)
    d = 2
    x = rng.standard_normal((n, d)) @ np.array([[1.0, 0.4], [0.0, 0.6]])
    points = rng.standard_normal((m, d))
    print(f"n = {n} samples, m = {m} points, d = {d}; chunk_bytes = 2^26 (the default)")
    line("lagrangian.gaussian_kde", lambda: lagrangian.gaussian_kde(x, points),
         "scipy.stats.gaussian_kde", lambda: scipy.stats.gaussian_kde(x.T)(points.T), repeats)
    x1 = x @ np.array([[0.5, 0.0], [0.2, 1.5]]) + 1.0
    field = lagrangian.flow_matching_field_from_samples(x, x1)
    line("lagrangian flow-matching kernel field, t = 0.4", lambda: field(0.4, points),
         "plain NumPy, all samples at once", lambda: plain_flow_matching(x, x1, 0.4, points), repeats)


if __name__ == "__main__":
    main()
