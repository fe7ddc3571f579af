"""Particle benchmarks (issue 4): SDE steps vs drawing their noise, attention memory, discrete OT sizes.

    OPENBLAS_NUM_THREADS=1 python benchmarks/particles.py [--backend numpy|cupy] [--quick]

Prints one line per measurement. Targets: one Euler–Maruyama step on 10⁶ 2-D particles costs at most 2x
drawing its Gaussian noise (same run, same generator); attention on 10⁴ tokens in d = 8 keeps peak memory
under 1 GiB.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lagrangian import (affine_field, attention_field, get_namespace, integrate_sde, sliced_w2,  # noqa: E402
                        w2_squared)
from verify.metrics import peak_memory  # noqa: E402


def _sync(xp) -> None:
    if xp.__name__ == "cupy":
        xp.cuda.Device().synchronize()


def best_of(fn, repeats: int, xp) -> float:
    times = []
    for _ in range(repeats):
        _sync(xp)
        t0 = time.perf_counter()
        fn()
        _sync(xp)
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_sde(xp, n: int, steps: int, repeats: int) -> None:
    """Per-step cost of each SDE scheme vs drawing the same N(0, I) noise, measured interleaved
    (noise block, scheme block, noise block, ...) and taking the minimum of each, so machine load
    affects both sides alike."""
    rng = np.random.default_rng(0)
    x0 = xp.asarray(rng.standard_normal((n, 2)))
    drift = affine_field(np.array([[-1.0, 0.5], [-0.5, -1.0]]), np.array([0.1, 0.0]))
    if xp.__name__ == "cupy":
        gen = xp.random.default_rng(1)
        noise = lambda: [gen.standard_normal(size=(n, 2)) for _ in range(steps)]  # noqa: E731
    else:
        buf = np.empty((n, 2))
        noise = lambda: [rng.standard_normal(out=buf) for _ in range(steps)]  # noqa: E731
    for method in ("euler-maruyama", "heun"):
        run = lambda: integrate_sde(drift, 0.5, x0, 0.0, 1.0, steps, rng=rng, method=method)  # noqa: E731
        run()  # warm-up (CuPy kernel compilation)
        t_noise, t_step = np.inf, np.inf
        for _ in range(repeats):
            t_noise = min(t_noise, best_of(noise, 1, xp) / steps)
            t_step = min(t_step, best_of(run, 1, xp) / steps)
        print(f"sde {method:15s} n={n:.0e} d=2 [{xp.__name__}]: {t_step * 1e3:8.3f} ms/step, "
              f"{n / t_step:.3g} particle-steps/s, noise alone {t_noise * 1e3:.3f} ms, "
              f"ratio step/noise = {t_step / t_noise:.2f}")


def bench_attention(xp, n: int, d: int) -> None:
    rng = np.random.default_rng(2)
    x = xp.asarray(rng.standard_normal((n, d)))
    f = attention_field(rng.standard_normal((d, d)) / d, rng.standard_normal((d, d)) / d, np.eye(d))
    if xp.__name__ == "cupy":
        f(0.0, x)
        pool = xp.get_default_memory_pool()
        pool.free_all_blocks()
        base = pool.used_bytes()
        t = best_of(lambda: f(0.0, x), 3, xp)
        peak = pool.total_bytes() - base  # pool high-water mark (blocks are kept until freed)
    else:
        t0 = time.perf_counter()
        _, peak = peak_memory(lambda: f(0.0, x))
        t = time.perf_counter() - t0
    print(f"attention n={n} d={d} [{xp.__name__}]: {t:.3f} s per field evaluation, peak memory "
          f"{peak / 2**20:.0f} MiB (target < 1024 MiB)")


def bench_ot(sizes, sliced_n: int) -> None:
    rng = np.random.default_rng(3)
    try:
        import ot  # noqa: F401
    except ImportError:
        print("exact W2: POT is not installed here, skipped")
        sizes = ()
    for n in sizes:
        x, y = rng.standard_normal((n, 2)), rng.standard_normal((n, 2)) + 0.5
        t0 = time.perf_counter()
        w2_squared(x, y)
        print(f"exact W2 (POT emd2) n={n} d=2: {time.perf_counter() - t0:.2f} s")
    x, y = rng.standard_normal((sliced_n, 2)), rng.standard_normal((sliced_n, 2)) + 0.5
    t0 = time.perf_counter()
    sliced_w2(x, y, projections=64, rng=rng)
    print(f"sliced W2 n={sliced_n} d=2, 64 projections: {time.perf_counter() - t0:.2f} s")
    x1, y1 = rng.standard_normal((10**6, 1)), rng.standard_normal((10**6, 1))
    t0 = time.perf_counter()
    w2_squared(x1, y1)
    print(f"exact 1-D W2 (sorting) n=1e6: {time.perf_counter() - t0:.2f} s")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="numpy", choices=("numpy", "cupy"))
    p.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    p.add_argument("--skip-ot", action="store_true", help="skip the discrete OT timings (CPU only)")
    a = p.parse_args(argv)
    xp = get_namespace(a.backend)
    n = 10**5 if a.quick else 10**6
    bench_sde(xp, n, steps=10, repeats=3 if a.quick else 7)
    bench_attention(xp, 2000 if a.quick else 10**4, 8)
    if not a.skip_ot:
        bench_ot((200, 500) if a.quick else (1000, 2000, 4000), 10**4 if a.quick else 10**6)


if __name__ == "__main__":
    main()
