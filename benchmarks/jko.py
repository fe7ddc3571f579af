"""One grid JKO step (eulerian.jko.jko_step) beside one Benamou–Brenier solve of the same size (CPU or GPU).

Run: OPENBLAS_NUM_THREADS=1 python benchmarks/jko.py [--sizes 64,128] [--time-steps 16] [--backend numpy|cupy]
     [--converge 64] [--repeats 3] [--iterations 100]
Prints, per size n (an n x n grid with ``time_steps`` inner time steps): ms/iteration of jko_step and of
benamou_brenier (its defaults: primal-dual, dtype "mixed" on NumPy; median of ``repeats`` runs of ``iterations``
iterations with the stopping tests off), and for the sizes in --converge a full solve of each with its default
stopping tests: iterations, seconds, and the L1 error of the JKO iterate against the exact Gaussian one.
Problem: V = ½ xᵀHx + bᵀx, H = [[1.5, 0.5], [0.5, 1]], b = (0.3, -0.2), D = 0.5, tau = 0.2, from
N((0.8, -0.5), [[0.3, 0.1], [0.1, 0.2]]) on [-3.5, 4] x [-4, 3.5]; the Benamou–Brenier solve goes from the same
density to the exact JKO iterate (verify.gaussian.jko_gaussian_step).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from eulerian.benamou_brenier import benamou_brenier
from eulerian.grid import Grid
from eulerian.jko import jko_step
from verify import gaussian as G

H = np.array([[1.5, 0.5], [0.5, 1.0]])
B = np.array([0.3, -0.2])
D, TAU = 0.5, 0.2
G0 = G.Gaussian([0.8, -0.5], [[0.3, 0.1], [0.1, 0.2]])


def potential(x: np.ndarray) -> np.ndarray:
    return 0.5 * np.einsum("...i,ij,...j->...", x, H, x) + x @ B


def problem(n: int) -> tuple[Grid, np.ndarray, np.ndarray]:
    grid = Grid((-3.5, -4.0), (4.0, 3.5), (n, n))
    g1 = G.jko_gaussian_step(G0, H, B, D, TAU)
    return grid, grid.cell_averages(lambda x: G0.pdf(x)), grid.cell_averages(lambda x: g1.pdf(x))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="64,128")
    parser.add_argument("--time-steps", type=int, default=16)
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--converge", default="", help="sizes to solve to the default stopping tests")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args()
    P = args.time_steps
    for n in (int(s) for s in args.sizes.split(",")):
        grid, r0, r1 = problem(n)
        jko_ms, bb_ms = [], []
        for _ in range(args.repeats):
            j = jko_step(grid, r0, TAU, potential=potential, diffusion=D, time_steps=P, max_iter=args.iterations,
                         tol=0.0, residual_tol=0.0, on_failure="return", backend=args.backend)
            jko_ms.append(1e3 * j.seconds / j.iterations)
            b = benamou_brenier(grid, r0, r1, P, max_iter=args.iterations, tol=0, residual_tol=0,
                                backend=args.backend)
            bb_ms.append(1e3 * b.seconds / b.iterations)
        print(f"{n}x{n} x {P}: jko_step {np.median(jko_ms):.1f} ms/it, benamou_brenier {np.median(bb_ms):.1f} ms/it "
              f"(ratio {np.median(jko_ms) / np.median(bb_ms):.2f})", flush=True)
    for n in (int(s) for s in args.converge.split(",") if s):
        grid, r0, r1 = problem(n)
        t = time.perf_counter()
        j = jko_step(grid, r0, TAU, potential=potential, diffusion=D, time_steps=P, max_iter=50_000,
                     on_failure="return", backend=args.backend)
        tj = time.perf_counter() - t
        err = float(np.abs(j.density - r1).sum() * grid.cell_volume)
        print(f"{n}x{n} x {P}: jko_step to its default tests: {j.iterations} iterations, {tj:.1f} s, "
              f"{j.status}; L1 error vs exact JKO iterate {err:.3e}", flush=True)
        t = time.perf_counter()
        b = benamou_brenier(grid, r0, r1, P, max_iter=50_000)
        tb = time.perf_counter() - t
        exact = G.w2_squared(G0, G.jko_gaussian_step(G0, H, B, D, TAU))
        print(f"{n}x{n} x {P}: benamou_brenier to its default tests: {b.iterations} iterations, {tb:.1f} s, "
              f"{b.status}; W2² {b.w2_squared:.5f} (exact {exact:.5f}); jko_step's W2² {j.w2_squared:.5f}",
              flush=True)


if __name__ == "__main__":
    main()
