"""Benamou–Brenier proximal splitting: ms per iteration and time to W2² accuracy.

Run: OPENBLAS_NUM_THREADS=1 python benchmarks/benamou_brenier.py [--backend cupy] [--sizes 1d,2d32,2d64,2d128]
     [--dtype float64|float32|mixed] [--no-long]
Prints, per problem and method: ms/iteration (median of three runs of 100 iterations), the iteration and time
at which the relative W2² error first stays below the target, and a converged run with the default stopping
tests (the KKT residuals; multilevel in 2D) with its W2² error and the L1 error of its t = 1/2 density against
McCann's.
Problems: 1D N(0.3, 0.05²) -> N(0.7, 0.08²) on [0, 1]; 2D translated Gaussians σ = 0.07, (0.3, 0.3) ->
(0.7, 0.7) on [0, 1]² (exact W2² = 0.32, no 1/2).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from eulerian.benamou_brenier import benamou_brenier
from eulerian.grid import Grid
from verify import gaussian as G
from verify.cases.benamou_brenier_cases import gaussian_cells, gaussian_cells_1d

PROBLEMS = {"1d": ((64,), 64, 5e-4), "2d32": ((32, 32), 32, 2e-3), "2d64": ((64, 64), 32, 2e-3),
            "2d128": ((128, 128), 64, 2e-3), "2d256": ((256, 256), 64, 2e-3)}


def problem(shape, P):
    if len(shape) == 1:
        grid = Grid((0.0,), (1.0,), shape)
        return grid, gaussian_cells_1d(grid, 0.3, 0.05), gaussian_cells_1d(grid, 0.7, 0.08), 0.4**2 + 0.03**2
    grid = Grid((0.0, 0.0), (1.0, 1.0), shape)
    cov = 0.07**2 * np.eye(2)
    g0, g1 = G.Gaussian([0.3, 0.3], cov), G.Gaussian([0.7, 0.7], cov)
    return grid, gaussian_cells(grid, g0), gaussian_cells(grid, g1), G.w2_squared(g0, g1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--sizes", default="1d,2d32,2d64,2d128")
    parser.add_argument("--methods", default="douglas-rachford,primal-dual")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--dtype", default=None, choices=("float64", "float32", "mixed"),
                        help="storage of the iterates (default: the library's, mixed on NumPy, float64 on CuPy)")
    parser.add_argument("--no-long", action="store_true", help="skip the 1500-iteration error curve")
    args = parser.parse_args()
    for key in args.sizes.split(","):
        shape, P, target = PROBLEMS[key]
        grid, r0, r1, exact = problem(shape, P)
        half = mccann_half(grid, shape)
        for method in args.methods.split(","):
            kw = dict(method=method, backend=args.backend, workers=args.workers, dtype=args.dtype)
            per_it = []
            for _ in range(3):
                fixed = benamou_brenier(grid, r0, r1, P, max_iter=100, tol=0, residual_tol=0, **kw)
                per_it.append(1e3 * fixed.seconds / fixed.iterations)
            ms = float(np.median(per_it))
            first = None
            if not args.no_long:
                long = benamou_brenier(grid, r0, r1, P, max_iter=1500, tol=0, residual_tol=0, check_every=1,
                                       **kw)
                err = np.abs(long.history["cost"] - exact) / exact
                bad = np.nonzero(err >= target)[0]
                first = 0 if len(bad) == 0 else (bad[-1] + 1 if bad[-1] + 1 < len(err) else None)
            conv = benamou_brenier(grid, r0, r1, P, multilevel=len(shape) > 1, **kw)
            l1 = float(np.abs(conv.density[P // 2] - half).sum() * grid.cell_volume)
            line = (f"{key:6s} {method:17s} {ms:8.2f} ms/it | stays below {target:.0e} from it "
                    f"{first if first is not None else '-'}"
                    f"{'' if first is None else f' (~{first * ms / 1e3:.2f} s)'} | defaults: "
                    f"{conv.iterations} it, {conv.seconds:.2f} s, err {abs(conv.w2_squared - exact) / exact:.1e}, "
                    f"L1(t=1/2) {l1:.1e}, converged={conv.converged}")
            print(line, flush=True)


def mccann_half(grid, shape):
    """Cell averages of the McCann interpolant at t = 1/2 (truncated to the box, unit mass)."""
    if len(shape) == 1:
        return gaussian_cells_1d(grid, 0.5, 0.065)
    cov = 0.07**2 * np.eye(2)
    g = G.mccann(G.Gaussian([0.3, 0.3], cov), G.Gaussian([0.7, 0.7], cov), 0.5)
    return gaussian_cells(grid, g)


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t:.1f} s")
