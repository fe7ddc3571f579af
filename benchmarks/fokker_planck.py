"""Fokker-Planck benchmark: OU-2D on the array backends (NumPy, CuPy) and FiPy.

Problem (issue 3): dX = (-H X + c) dt + sqrt(2D) dW, H SPD, D = 0.5, T = 1, box [-6, 6]^2, Gaussian start;
exact law from verify.gaussian.linear_sde, errors are L1 norms of cell-average differences.

Sections
  1. array vs FiPy, same scheme (Scharfetter-Gummel + implicit Euler, steps = N/2), alternating runs, medians, ratio.
  2. work-precision: L1 error vs wall time for every backend and time scheme (Douglas ADI: array backends).
  3. per-step cost vs cells (N = 64 ... 1024): time of one implicit step, its ratio to one explicit flux
     evaluation, counted two ways (the assembled sparse operator applied once; drift on the faces + SG
     coefficients + the application, what an explicit step with a drift callable costs), and the fitted
     exponent of per-step time vs cells; the same for one Douglas ADI step.
  4. time to accuracy: the cheapest (N, steps, scheme) reaching L1 <= 1e-3 on each backend, and the ratio
     (the array backends also try the Douglas ADI extra scheme, which FiPy does not offer).

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/fokker_planck.py [--quick] [--backends numpy,cupy,fipy]
      (--quick: small sizes, seconds; the full run takes minutes, FiPy at N = 256 about a minute per run.)
"""
from __future__ import annotations

import argparse
import functools
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from eulerian import Grid, cupy_available, get_backend, solve_fokker_planck  # noqa: E402
from eulerian.operators import assemble_generator, face_drift  # noqa: E402

H = np.array([[1.0, 0.4], [0.4, 0.7]])
C = np.array([0.2, -0.1])
D = 0.5
T = 1.0
M0 = np.array([1.0, -0.5])
S0 = np.array([[0.5, 0.1], [0.1, 0.3]])


def drift(t, x):
    return x @ (-H).T + C


def exact_law():
    """(mean, cov) of the OU law at T (Van Loan block exponentials, independent of verify)."""
    from scipy.linalg import expm

    d = 2
    aug = np.zeros((d + 1, d + 1))
    aug[:d, :d] = -H * T
    aug[:d, d] = C * T
    e = expm(aug)
    mean = e[:d, :d] @ M0 + e[:d, d]
    vl = np.zeros((2 * d, 2 * d))
    vl[:d, :d] = H * T
    vl[:d, d:] = 2 * D * np.eye(d) * T
    vl[d:, d:] = -H.T * T
    f = expm(vl)
    phi = e[:d, :d]
    q = phi @ f[:d, d:]
    cov = phi @ S0 @ phi.T + 0.5 * (q + q.T)
    return mean, cov


def gauss_pdf(mean, cov):
    ci = np.linalg.inv(cov)
    k = 1.0 / (2 * np.pi * np.sqrt(np.linalg.det(cov)))
    return lambda x: k * np.exp(-0.5 * np.einsum("...i,ij,...j", x - mean, ci, x - mean))


@functools.lru_cache(maxsize=None)
def problem(n):
    """Grid and initial cell averages (computed once per size: not part of any timing)."""
    grid = Grid((-6.0, -6.0), (6.0, 6.0), (n, n))
    return grid, grid.cell_averages(gauss_pdf(M0, S0))


@functools.lru_cache(maxsize=None)
def exact_cells(n):
    grid, _ = problem(n)
    return grid.cell_averages(gauss_pdf(*exact_law()))


def run(n, backend, time_scheme="implicit-euler", steps=None, **kw):
    """One solve; the wall time covers the solver call only (FiPy's mesh and terms are built inside it)."""
    grid, rho0 = problem(n)
    t0 = time.perf_counter()
    sol = solve_fokker_planck(grid, rho0, drift, D, T, steps or n // 2, time=time_scheme, backend=backend, **kw)
    return sol, time.perf_counter() - t0


def l1(grid, rho, exact):
    return float(np.abs(rho - exact).sum() * grid.cell_volume)


def section_fipy_ratio(n, repeats, backends):
    print(f"\n## 1. array vs FiPy, SG + implicit Euler, N = {n}, {n // 2} steps, {repeats} alternating runs")
    grid, _ = problem(n)
    exact = exact_cells(n)
    times = {b: [] for b in backends}
    sols = {}
    for b in backends:
        run(32, b)  # warm-up: first-call costs (imports, caches) are not the solver's
    for _ in range(repeats):
        for b in backends:
            sol, wall = run(n, b)
            times[b].append(wall)
            sols[b] = sol
    med = {b: statistics.median(v) for b, v in times.items()}
    for b in backends:
        print(f"  {b:6s} median {med[b]:9.3f} s   L1 error {l1(grid, sols[b].to_numpy(), exact):.3e}"
              f"   mass drift {sols[b].mass_drift:.1e}")
    if "fipy" in med:
        for b in backends:
            if b != "fipy":
                diff = np.abs(sols[b].to_numpy() - sols["fipy"].to_numpy()).max() / sols["fipy"].to_numpy().max()
                print(f"  FiPy / {b}: {med['fipy'] / med[b]:.1f}x   max relative difference {diff:.1e}")


def section_work_precision(sizes, backends, fipy_max):
    print("\n## 2. work-precision (steps = N/2): backend, scheme, N, wall s, L1 error")
    for b in backends:
        run(32, b)  # warm-up: first-call costs (imports, caches) are not the solver's
        for scheme in ("implicit-euler", "crank-nicolson", "bdf2") + (("douglas-adi",) if b != "fipy" else ()):
            for n in sizes:
                if b == "fipy" and n > fipy_max:
                    continue
                grid, _ = problem(n)
                sol, wall = run(n, b, scheme)
                err = l1(grid, sol.to_numpy(), exact_cells(n))
                print(f"  {b:6s} {scheme:15s} N={n:5d}  {wall:9.3f} s  L1 {err:.3e}")


def step_time(n, b, scheme, k, **kw):
    """Median of three (wall(3k) - wall(k)) / 2k: one step without the set-up; also the longer run."""
    run(n, b, scheme, steps=2, **kw)  # warm-up (CuPy kernel compilation, caches)
    diffs = []
    for _ in range(3):
        _, w1 = run(n, b, scheme, steps=k, **kw)
        s2, w2 = run(n, b, scheme, steps=3 * k, **kw)
        diffs.append(w2 - w1)
    return max(statistics.median(diffs), 1e-12) / (2 * k), s2


def section_per_step(sizes, backends, k=8):
    print(f"\n## 3. per-step cost (SG; BDF2 with multigrid, and the Douglas ADI extra; median of 3 "
          f"(wall(3k) - wall(k)) / 2k, k = {k})")
    for b in backends:
        if b == "fipy":
            continue
        be = get_backend(b)
        cells, per, per_adi = [], [], []
        for n in sizes:
            step, s2 = step_time(n, b, "bdf2", k, solver="multigrid")
            adi, _ = step_time(n, b, "douglas-adi", k)
            grid, rho0 = problem(n)
            A = assemble_generator(be, grid, face_drift(be, grid, drift, 0.0, False), D, "scharfetter-gummel", False)
            r = be.asarray(rho0).reshape(-1)
            for _ in range(3):
                y = A @ r
            reps = 20
            t0 = time.perf_counter()
            for _ in range(reps):
                y = A @ r
            float(y.sum())
            flux = (time.perf_counter() - t0) / reps
            # an explicit evaluation that also evaluates the drift on the faces and the SG coefficients
            t0 = time.perf_counter()
            for _ in range(3):
                A2 = assemble_generator(be, grid, face_drift(be, grid, drift, 0.0, False), D, "scharfetter-gummel",
                                        False)
                y = A2 @ r
            float(y.sum())
            full = (time.perf_counter() - t0) / 3
            its = np.mean(s2.info["linear_iterations"])
            print(f"  {b:6s} N={n:5d} cells={n * n:8d}  step {step * 1e3:9.3f} ms  matvec {flux * 1e3:8.3f} ms"
                  f" (ratio {step / flux:6.1f})  drift+coefficients+matvec {full * 1e3:8.3f} ms"
                  f" (ratio {step / full:5.2f})  BiCGStab its {its:.2f}  |  ADI step {adi * 1e3:8.3f} ms"
                  f" (ratio to matvec {adi / flux:5.1f})")
            cells.append(n * n)
            per.append(step)
            per_adi.append(adi)
        sel = [i for i, n in enumerate(sizes) if n >= 128]
        if len(sel) >= 2:
            for label, t in (("BDF2 + multigrid", per), ("Douglas ADI", per_adi)):
                p = np.polyfit(np.log([cells[i] for i in sel]), np.log([t[i] for i in sel]), 1)[0]
                print(f"  {b} {label}: per-step time ~ cells^{p:.2f} over N >= 128")


def section_time_to_accuracy(backends, target, sizes, step_counts, repeats=3):
    """Cheapest configuration (N, steps, time scheme) reaching L1 <= target, per backend.

    For each scheme and N the fewest steps reaching the target are found on NumPy (the backends solve the
    same discrete scheme and agree to ~1e-10, section 1). The array backends are timed on every such
    configuration; FiPy (slow) only on the two that were cheapest on NumPy for each of its schemes.
    """
    print(f"\n## 4. time to L1 <= {target:g}: N in {sizes}, steps in {step_counts}; median of {repeats}")
    schemes = ("bdf2", "crank-nicolson", "implicit-euler", "douglas-adi")  # FiPy: all but the ADI extra
    accurate = {}
    for scheme in schemes:
        for n in sizes:
            for steps in step_counts:
                sol, _ = run(n, "numpy", scheme, steps=steps)
                grid, _ = problem(n)
                err = l1(grid, sol.to_numpy(), exact_cells(n))
                if err <= target:
                    accurate[(scheme, n)] = (steps, err)
                    break
    if not accurate:
        print("  no configuration reaches the target")
        return
    best = {}
    numpy_wall = {}
    for b in backends:
        configs = sorted(accurate.items(), key=lambda kv: numpy_wall.get(kv[0], 0.0))
        if b == "fipy":  # FiPy (slow): each of its schemes' two cheapest configurations on NumPy
            configs = [kv for scheme in schemes[:3] for kv in [c for c in configs if c[0][0] == scheme][:2]]
        for (scheme, n), (steps, err) in configs:
            walls = [run(n, b, scheme, steps=steps)[1] for _ in range(repeats if b != "fipy" else 1)]
            wall = statistics.median(walls)
            if b == "numpy":
                numpy_wall[(scheme, n)] = wall
            print(f"  {b:6s} {scheme:15s} N={n:4d} steps={steps:4d}  L1 {err:.3e}  {wall:8.3f} s", flush=True)
            for key in (b, (b, scheme)):
                if key not in best or wall < best[key][0]:
                    best[key] = (wall, scheme, n, steps)
    for key, (wall, scheme, n, steps) in best.items():
        print(f"  best {key}: {scheme} N={n} steps={steps}  {wall:.3f} s")
    if "fipy" in best:
        for b in backends:
            if b != "fipy" and b in best:
                print(f"  FiPy best / {b} best: {best['fipy'][0] / best[b][0]:.1f}x")
                full = [best[(b, s)] for s in schemes[:3] if (b, s) in best]
                if full:
                    print(f"  FiPy best / {b} best fully implicit scheme (no splitting): "
                          f"{best['fipy'][0] / min(full)[0]:.1f}x")
                if ("fipy", "implicit-euler") in best:
                    print(f"  FiPy best implicit Euler (FiPy's built-in TransientTerm) / {b} best: "
                          f"{best[('fipy', 'implicit-euler')][0] / best[b][0]:.1f}x")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    ap.add_argument("--backends", default=None, help="comma-separated subset of numpy,cupy,fipy")
    ap.add_argument("--sections", default="1,2,3,4")
    ap.add_argument("--repeats", type=int, default=3, help="alternating runs in section 1")
    ap.add_argument("--n", type=int, default=None, help="grid size of section 1 (default 256; quick 32)")
    args = ap.parse_args(argv)
    if args.backends:
        backends = args.backends.split(",")
    else:
        backends = ["numpy"] + (["cupy"] if cupy_available() else [])
        try:
            import fipy  # noqa: F401

            backends.append("fipy")
        except ImportError:
            pass
    sections = args.sections.split(",")
    stamp = time.strftime("%Y-%m-%d %H:%M")
    print(f"# Fokker-Planck OU-2D benchmark  backends={backends}  quick={args.quick}  {stamp}")
    if "1" in sections:
        section_fipy_ratio(args.n or (32 if args.quick else 256), args.repeats, backends)
    if "2" in sections:
        section_work_precision([32, 64] if args.quick else [64, 128, 256, 512], backends, 64 if args.quick else 256)
    if "3" in sections:
        section_per_step([64, 128, 256] if args.quick else [64, 128, 256, 512, 1024], backends)
    if "4" in sections:
        if args.quick:
            section_time_to_accuracy(backends, 2e-2, [32, 48], [4, 8, 16])
        else:
            section_time_to_accuracy(backends, 1e-3, [128, 144, 152, 160, 176, 192, 224, 256],
                                     [4, 6, 8, 10, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768])


if __name__ == "__main__":
    main()
