"""The error constant C in |W2²_BB − W2²| ≤ C h² for the random Gaussian-mixture pairs of the report case
bb-vs-quantiles-1d (the case's band is BB_QUANTILE_C, a multiple of the largest C measured here).

For seeds 0 … S−1 the pairs that the case draws under ``twinflow run bb-vs-quantiles-1d --seed s`` (two per seed,
the quick case's stream) are discretised on n cells, solved by Benamou–Brenier with the case's settings and
compared with the exact quantile W2² of the same discrete data. Prints the distribution of err / h² and the
relative errors; second order shows as a constant that does not grow with n.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bb_quantile_band.py --cells 32 --seeds 100
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from eulerian.benamou_brenier import benamou_brenier
from eulerian.grid import Grid
from verify.cases.benamou_brenier_cases import BB_QUANTILE_C, mixture_cells, quantile_w2_squared
from verify.harness import CaseContext, case_seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=32)
    parser.add_argument("--seeds", type=int, default=100)
    args = parser.parse_args()
    n, h = args.cells, 1.0 / args.cells
    grid = Grid((0.0,), (1.0,), (n,))
    c, rel, iterations, start = [], [], [], time.perf_counter()
    for seed in range(args.seeds):
        ctx = CaseContext("bb-vs-quantiles-1d", quick=True, seed=case_seed("bb-vs-quantiles-1d", seed))
        rng = ctx.rng("mixtures")
        for _ in range(2):
            d0, d1 = mixture_cells(grid, rng), mixture_cells(grid, rng)
            exact = quantile_w2_squared(grid.faces(0), d0, d1)
            res = benamou_brenier(grid, d0, d1, n, multilevel=True)
            if not res.converged:
                print(f"seed {seed}: not converged after {res.iterations} iterations")
            c.append(abs(res.w2_squared - exact) / h**2)
            rel.append(abs(res.w2_squared - exact) / exact)
            iterations.append(res.iterations)
    c, rel = np.array(c), np.array(rel)
    print(f"{len(c)} pairs on {n} cells in {time.perf_counter() - start:.0f} s; iterations up to {max(iterations)}")
    print("err / h²: median {:.3g}, 90 % {:.3g}, 99 % {:.3g}, max {:.3g} (band C = {})".format(
        *np.quantile(c, [0.5, 0.9, 0.99]), c.max(), BB_QUANTILE_C))
    print(f"relative error: median {np.median(rel):.2g}, max {rel.max():.2g}")
    print(f"pairs beyond the band: {(c > BB_QUANTILE_C).sum()}")


if __name__ == "__main__":
    main()
