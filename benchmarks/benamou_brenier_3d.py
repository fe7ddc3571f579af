"""Benamou–Brenier in 3D: two Gaussians with non-commuting covariances on [0, 1]³ against the exact W2².

Problem (verify/cases/three_d.py, BB_G0 -> BB_G1): means (0.38, 0.42, 0.45) -> (0.62, 0.56, 0.53), covariances
diag(0.06², 0.085², 0.07²) -> R diag(0.09², 0.055², 0.07²) Rᵀ with R a rotation (the two covariances do not
commute, so the Brenier map is not a scaling along fixed axes). Exact W2² (no 1/2) from verify.gaussian.w2_squared.

The data are the cell averages of the Gaussians, truncated to the box and renormalised (gaussian_cells). What this
changes in the reference is printed separately from the solver's error:
  * the mass of each Gaussian outside the box (what the renormalisation redistributes);
  * the Gelbrich value: W2² between the Gaussians with the data's own means and (Sheppard-corrected) covariances,
    a lower bound of the W2² of the data's measures, equal to it for Gaussians;
  * a finer reference: the Richardson extrapolation of the two (or three) grid levels with their observed order,
    against the exact W2².
Each run uses the library defaults (primal-dual, KKT stopping: dual residual below 0.02 h²/d, primal below 10x
that, dtype "mixed"); 32³ x 32 uses the multilevel start (a 16³ x 16 solve first). Printed per run: iterations,
seconds, ms per iteration, converged and status, the last KKT residuals, W2² and its relative error, and the L1
distance of the t = 1/2 density to McCann's interpolant (cell averages).

Run: OPENBLAS_NUM_THREADS=1 python benchmarks/benamou_brenier_3d.py [--sizes 16,24,32]
     (16³ x 16: seconds; 32³ x 32: minutes on the 2-core machine)
"""
from __future__ import annotations

import argparse
import os
import resource
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from eulerian.grid import Grid  # noqa: E402
from verify import gaussian as G  # noqa: E402
from verify.cases.benamou_brenier_cases import gaussian_cells  # noqa: E402
from verify.cases.three_d import BB_G0, BB_G1, bb_3d_run, gelbrich_w2_squared  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="16,32", help="cells per axis (= time steps), comma-separated")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    exact = G.w2_squared(BB_G0, BB_G1)
    mean_part = float(np.sum((BB_G0.mean - BB_G1.mean) ** 2))
    print(f"# Benamou–Brenier 3D benchmark  {time.strftime('%Y-%m-%d %H:%M')}  load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    s0, s1 = BB_G0.cov, BB_G1.cov
    commutator = np.linalg.norm(s0 @ s1 - s1 @ s0) / np.linalg.norm(s0) / np.linalg.norm(s1)
    print(f"  exact W2² {exact:.8f} (|m1 - m0|² {mean_part:.5f}, Bures part {exact - mean_part:.6f}); "
          f"commutator norm |S0 S1 - S1 S0| / |S0||S1| {commutator:.2f}")
    errors, values = [], []
    for n in sizes:
        grid = Grid((0.0,) * 3, (1.0,) * 3, (n,) * 3)
        outside = [1.0 - grid.mass(grid.cell_averages(g.pdf, order=4)) for g in (BB_G0, BB_G1)]
        gel = gelbrich_w2_squared(grid, gaussian_cells(grid, BB_G0), gaussian_cells(grid, BB_G1))
        print(f"\n## {n}³ x {n}: mass outside the box {outside[0]:.1e}, {outside[1]:.1e}; Gelbrich W2² of the data "
              f"{gel:.8f} (relative to exact {(gel - exact) / exact:+.2e})", flush=True)
        res, _, _ = bb_3d_run(n, n, multilevel=n >= 32 and n % 2 == 0)
        half = gaussian_cells(grid, G.mccann(BB_G0, BB_G1, 0.5))
        l1 = float(np.abs(np.asarray(res.density[n // 2]) - half).sum() * grid.cell_volume)
        err = (res.w2_squared - exact) / exact
        h = res.history
        print(f"  iterations {res.iterations} (coarse levels {res.extras.get('coarse_iterations')}), "
              f"{res.seconds:.1f} s, {1e3 * res.seconds / res.iterations:.1f} ms/it, converged={res.converged} "
              f"({res.status}); last KKT residuals: dual {h['stationarity'][-1]:.2e}, primal "
              f"{h['continuity'][-1]:.2e}", flush=True)
        print(f"  W2² {res.w2_squared:.8f}, relative error vs exact {err:+.3e} (vs Gelbrich of the data "
              f"{(res.w2_squared - gel) / gel:+.3e}); error / h² = {abs(err) * n * n:.2f}; L1 (t = 1/2) vs McCann "
              f"{l1:.2e}", flush=True)
        errors.append(err)
        values.append(res.w2_squared)
    if len(sizes) >= 2:
        n0, n1 = sizes[-2], sizes[-1]
        p = np.log(abs(errors[-2] / errors[-1])) / np.log(n1 / n0)
        print(f"\n  observed order of the W2² error ({n0} -> {n1}): {p:.2f} (two levels: not an independent test)")
        # a finer reference: the two finest levels extrapolated with the nominal order 2 (and, with three levels,
        # with the order observed on the coarser pair)
        orders = [2.0] + ([np.log(abs(errors[-3] / errors[-2])) / np.log(sizes[-2] / sizes[-3])]
                          if len(sizes) >= 3 else [])
        for q in orders:
            r = (n1 / n0) ** q
            extrapolated = (r * values[-1] - values[-2]) / (r - 1)
            print(f"  Richardson extrapolation of {n0}, {n1} with order {q:.2f}: W2² {extrapolated:.8f}, relative "
                  f"to exact {(extrapolated - exact) / exact:+.2e}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f"\npeak resident memory {rss:.0f} MiB; load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t:.1f} s")
