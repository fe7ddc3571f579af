"""The grid attention velocity (eulerian.attention) and the attention-grid-2d solve, beside tokens (CPU).

Run: OPENBLAS_NUM_THREADS=1 python benchmarks/attention_grid.py [--eval-sizes 128,256] [--dense-rows 2000]
     [--chunks 1048576,67108864,1099511627776] [--solve-sizes 32,64,128] [--dense-solve 64]
     [--tokens 250,500,1000,2000,4000]
Prints
* one evaluation of Gamma[mu] at every flux-carrying face of an n x n grid (2 n (n - 1) points; the solver makes
  three per step): seconds of method="interpolated" (the default), method="exact" (factorised) and of the dense
  log-sum-exp they replaced (timed on --dense-rows query rows and scaled to all rows: rows are independent),
  their agreement, and the peak traced memory (tracemalloc: every NumPy allocation) of both methods for each
  chunk size in --chunks (the last one, 1 TiB, means a single chunk: no cap at all);
* the case's solve (problem of attention-grid-2d: verify.cases.attention_grid, T = 0.5, limiter "none") at each
  --solve-sizes level with both methods, then: steps, seconds and the relative moment error against the closure
  (verify.cases.particles.moment_error: max of |m - m*| / (1 + |m*|) and |S - S*|_F / |S*|_F);
* with --dense-solve n: the same solve with the dense evaluation for every row (the implementation before the
  factorisation), its seconds and the largest difference of the two densities;
* tokens (lagrangian.attention_field + RK4, 8 steps) from G0 at each --tokens size: seconds per run and the
  median moment error over replicates against the closure from G0 (unpaired: the accuracy of the law a token
  run delivers) and from each cloud's own initial moments (paired); then the token count, and its time
  (O(n^2) per step, extrapolated from the largest measured run), that the fitted n^-1/2 law needs to reach
  each grid level's moment error.
"""
from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

import lagrangian as L
from eulerian.attention import AttentionVelocity, attention_velocity
from eulerian.backend import get_backend
from eulerian.meanfield import solve_meanfield
from eulerian.operators import face_points
from verify import gaussian as G
from verify.cases import attention_grid as A
from verify.cases.particles import moment_error


def face_queries(n: int) -> tuple:
    g = A.grid(n)
    x = np.concatenate([face_points(g, k, False).reshape(-1, 2) for k in range(2)])
    return g, g.cell_averages(A.G0.pdf), x


def evaluation(n: int, dense_rows: int, chunks: list[int]) -> None:
    g, rho, x = face_queries(n)
    out = {}
    for method in ("interpolated", "exact"):
        vel = attention_velocity(A.ATT_Q, A.ATT_K, A.ATT_V, scale=A.ATT_SCALE, method=method)
        vel(0.0, g, rho, x[:100])
        t0 = time.perf_counter()
        out[method] = (vel(0.0, g, rho, x), time.perf_counter() - t0)
    rows = x[:dense_rows]
    w = rho * g.cell_volume
    t0 = time.perf_counter()
    dense = vel._dense(np, get_backend("numpy"), g, w / w.max(), rows @ vel.logit_matrix.T) @ vel.V.T
    dense_s = (time.perf_counter() - t0) * x.shape[0] / rows.shape[0]
    (fi, ti), (fe, te) = out["interpolated"], out["exact"]
    print(f"{n}^2 cells, {x.shape[0]} faces: interpolated {ti:.3f} s, exact (factorised) {te:.3f} s, dense "
          f"{dense_s:.2f} s (from {rows.shape[0]} rows); speed-ups {dense_s / te:.0f}x (exact), {dense_s / ti:.0f}x "
          f"(interpolated); max differences exact-dense {np.abs(dense - fe[:dense_rows]).max():.1e}, "
          f"interpolated-exact {np.abs(fi - fe).max():.1e}")
    for method in ("interpolated", "exact"):
        for c in chunks:
            v = attention_velocity(A.ATT_Q, A.ATT_K, A.ATT_V, scale=A.ATT_SCALE, chunk_bytes=c, method=method)
            tracemalloc.start()
            t0 = time.perf_counter()
            v(0.0, g, rho, x)
            sec = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"    {method:12s} chunk_bytes {c:>14d}: peak traced {peak / 2**20:8.1f} MiB, {sec:.3f} s "
                  f"({'< 2 GiB' if peak < 2 * 2**30 else '>= 2 GiB'})")


def solves(sizes: list[int]) -> dict[int, tuple[float, float]]:
    res = {}
    for n in sizes:
        t0 = time.perf_counter()
        run = A.grid_attention_run(n)
        sec = time.perf_counter() - t0
        g = A.grid(n)
        t1 = time.perf_counter()
        exact = solve_meanfield(g, run.rho0, attention_velocity(A.ATT_Q, A.ATT_K, A.ATT_V, scale=A.ATT_SCALE,
                                                                method="exact"), A.T_FINAL, limiter=A.LIMITER)
        sec_exact = time.perf_counter() - t1
        print(f"solve {n}^2: interpolated {sec:.2f} s, exact {sec_exact:.2f} s, max density difference "
              f"{np.abs(exact.to_numpy() - run.rho).max():.1e}")
        g, ex = run.grid, run.exact
        x_err = max(float(np.linalg.norm(g.mean(run.rho) - ex.mean) / (1 + np.linalg.norm(ex.mean))),
                    float(np.linalg.norm(g.covariance(run.rho) - ex.cov) / np.linalg.norm(ex.cov)))
        print(f"solve {n}^2: {run.steps} steps, {sec:.2f} s, moment error {x_err:.2e}, errors (mean, cov, L1) "
              + ", ".join(f"{e:.2e}" for e in run.errors))
        res[n] = (sec, x_err)
    return res


class DenseAttention(AttentionVelocity):
    """The dense log-sum-exp for every query row (the factorised path reports every row as underflowed)."""

    def _factorised(self, xp, be, grid, w, a):
        return xp.full(a.shape, xp.nan)


def dense_solve(n: int) -> None:
    g = A.grid(n)
    rho0 = g.cell_averages(A.G0.pdf)
    vel = attention_velocity(A.ATT_Q, A.ATT_K, A.ATT_V, scale=A.ATT_SCALE, method="exact")
    dense = DenseAttention(vel.Q, vel.K, vel.V, vel.scale, vel.chunk_bytes, vel.wall_mass)
    t0 = time.perf_counter()
    a = solve_meanfield(g, rho0, vel, A.T_FINAL, limiter=A.LIMITER).to_numpy()
    t1 = time.perf_counter()
    b = solve_meanfield(g, rho0, dense, A.T_FINAL, limiter=A.LIMITER).to_numpy()
    t2 = time.perf_counter()
    print(f"solve {n}^2: exact (factorised) {t1 - t0:.2f} s, dense {t2 - t1:.2f} s, max density difference "
          f"{np.abs(a - b).max():.1e}")


def tokens(sizes: list[int], grid_results: dict[int, tuple[float, float]]) -> None:
    field = L.attention_field(A.ATT_Q, A.ATT_K, A.ATT_V, scale=A.ATT_SCALE)
    law = G.attention(A.G0, A.ATT_Q, A.ATT_K, A.ATT_V, A.T_FINAL, A.ATT_SCALE)
    med_u, secs = [], []
    for n in sizes:
        reps = max(3, 8000 // n)
        unp, par, ts = [], [], []
        for r in range(reps):
            x0 = A.G0.sample(n, np.random.default_rng([11, n, r]))
            t0 = time.perf_counter()
            x1 = L.integrate_ode(field, x0, 0.0, A.T_FINAL, A.TOKEN_STEPS)
            ts.append(time.perf_counter() - t0)
            unp.append(moment_error(x1, law))
            own = G.attention(G.Gaussian(x0.mean(0), np.cov(x0.T, bias=True)), A.ATT_Q, A.ATT_K, A.ATT_V,
                              A.T_FINAL, A.ATT_SCALE)
            par.append(moment_error(x1, own))
        med_u.append(float(np.median(unp)))
        secs.append(float(np.median(ts)))
        print(f"tokens n = {n}: {secs[-1]:.3f} s per run, median moment error {med_u[-1]:.2e} unpaired, "
              f"{np.median(par):.2e} paired ({reps} replicates)")
    # unpaired error = C n^-1/2 (sampling); time = c n^2
    C = float(np.exp(np.mean(np.log(med_u) + 0.5 * np.log(sizes))))
    c = secs[-1] / sizes[-1] ** 2
    for n, (sec, err) in grid_results.items():
        need = (C / err) ** 2
        print(f"grid {n}^2 moment error {err:.2e} in {sec:.2f} s; tokens need n ~ {need:.2e} "
              f"(C = {C:.3f} in C n^-1/2) ~ {c * need ** 2:.2e} s (c n^2, c = {c:.2e} s)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--eval-sizes", default="128,256")
    p.add_argument("--dense-rows", type=int, default=2000)
    p.add_argument("--chunks", default=f"{1 << 20},{1 << 26},{1 << 40}")
    p.add_argument("--solve-sizes", default="32,64,128")
    p.add_argument("--dense-solve", default="")
    p.add_argument("--tokens", default="250,500,1000,2000,4000")
    a = p.parse_args()
    ints = lambda s: [int(v) for v in s.split(",") if v]  # noqa: E731
    for n in ints(a.eval_sizes):
        evaluation(n, a.dense_rows, ints(a.chunks))
    res = solves(ints(a.solve_sizes))
    for n in ints(a.dense_solve):
        dense_solve(n)
    if a.tokens:
        tokens(ints(a.tokens), res)


if __name__ == "__main__":
    main()
