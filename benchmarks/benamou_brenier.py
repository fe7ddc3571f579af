"""Benamou–Brenier proximal splitting: ms per iteration and time to W2² accuracy.

Run: OPENBLAS_NUM_THREADS=1 python benchmarks/benamou_brenier.py [--backend cupy] [--sizes 1d,2d32,2d64,2d128]
Prints, per problem and method: ms/iteration (fixed 100 iterations), the iteration and time at which the
relative W2² error first stays below the target, and a converged run with the default stopping tests.
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
from verify.cases.benamou_brenier_cases import gaussian_cells_1d

PROBLEMS = {"1d": ((64,), 64, 5e-4), "2d32": ((32, 32), 32, 2e-3), "2d64": ((64, 64), 32, 2e-3),
            "2d128": ((128, 128), 64, 2e-3), "2d256": ((256, 256), 64, 2e-3)}


def problem(shape, P):
    if len(shape) == 1:
        grid = Grid((0.0,), (1.0,), shape)
        return grid, gaussian_cells_1d(grid, 0.3, 0.05), gaussian_cells_1d(grid, 0.7, 0.08), 0.4**2 + 0.03**2
    grid = Grid((0.0, 0.0), (1.0, 1.0), shape)
    cov = 0.07**2 * np.eye(2)
    g0, g1 = G.Gaussian([0.3, 0.3], cov), G.Gaussian([0.7, 0.7], cov)
    cells = lambda g: (lambda r: r / grid.mass(r))(grid.cell_averages(g.pdf, order=4))
    return grid, cells(g0), cells(g1), G.w2_squared(g0, g1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--sizes", default="1d,2d32,2d64,2d128")
    parser.add_argument("--methods", default="douglas-rachford,primal-dual")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    for key in args.sizes.split(","):
        shape, P, target = PROBLEMS[key]
        grid, r0, r1, exact = problem(shape, P)
        for method in args.methods.split(","):
            kw = dict(method=method, backend=args.backend, workers=args.workers)
            fixed = benamou_brenier(grid, r0, r1, P, max_iter=100, tol=0, residual_tol=0, **kw)
            ms = 1e3 * fixed.seconds / fixed.iterations
            long = benamou_brenier(grid, r0, r1, P, max_iter=1500, tol=0, residual_tol=0, check_every=1, **kw)
            err = np.abs(long.history["cost"] - exact) / exact
            bad = np.nonzero(err >= target)[0]
            first = 0 if len(bad) == 0 else (bad[-1] + 1 if bad[-1] + 1 < len(err) else None)
            conv = benamou_brenier(grid, r0, r1, P, **kw)
            print(f"{key:6s} {method:17s} {ms:8.2f} ms/it | stays below {target:.0e} from it "
                  f"{first if first is not None else '>1500'}"
                  f"{'' if first is None else f' (~{first * ms / 1e3:.2f} s)'} | defaults: "
                  f"{conv.iterations} it, {conv.seconds:.2f} s, err {abs(conv.w2_squared - exact) / exact:.1e}, "
                  f"converged={conv.converged}", flush=True)


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t:.1f} s")
