"""Fokker-Planck benchmark in 3D: Ornstein-Uhlenbeck to 128^3 (2.1 M cells), BDF2 + multigrid and Douglas ADI.

Problem: dX = (-H X + c) dt + sqrt(2D) dW in 3D, H SPD (eigenvalues 0.42, 0.72, 1.36, not axis-aligned),
D = 0.5, T = 1, Gaussian start N(m0, S0) (correlated), box [-4.5, 4.5]^3, zero flux, Scharfetter-Gummel fluxes.
The box holds the mass: the initial law has 3.7e-7 of its mass outside it (printed), far below the 1e-3 target.
Exact law at T from verify.gaussian.linear_sde; errors are L1 norms of cell-average differences, the exact cell
averages by a 3-point tensor Gauss rule per axis (error O(h^6), below 1e-8 here).

Sections
  1. space error and the time step rule: at each N, L1 error for k and 2k steps; the Richardson estimate of the
     time error of the k-step run, (4/3) ||rho_k - rho_2k||_L1 (second order in time), and the chosen steps:
     the fewest in a doubling sequence whose estimated time error is at most a fifth of the L1 error (so the
     space error dominates).
  2. time to L1 <= 1e-3: Douglas ADI at 120^3 and 128^3, BDF2 at 128^3: the fewest steps (from a list per
     scheme) whose run reaches the target; the CPU (and wall) time of that run, its Richardson time error from
     the previous count and the space error that leaves.
  3. per-step cost at 32^3, 64^3, 128^3: median of (CPU(3k) - CPU(k)) / 2k (set-up excluded; the same dt at
     every N, or with --k-per-n R, k = round(R N) so that dt is proportional to h), BiCGStab iterations per
     step, the set-up time, the peak traced memory of a solve (tracemalloc), and the fitted exponent of
     per-step time against cells (target <= 1.1).
  4. memory: the peak traced memory of a 4-step solve at 32^3, 64^3, 128^3 and the process' resident peak.
  Timings are process CPU times (single-threaded: OPENBLAS_NUM_THREADS=1), which a shared machine inflates far
  less than wall times; both are printed.
  The process' peak resident memory (resource.ru_maxrss) and the load average (uptime) are printed at the end.

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/fokker_planck_3d.py [--quick] [--sections 1,2,3] [--baseline REV]
      (--quick: N <= 48, a few seconds; the full run takes several minutes on the 2-core machine.)
      --baseline REV: section 3 also times BDF2 with eulerian/multigrid.py as of git revision REV (e.g. HEAD),
      loaded from `git show` and swapped in for MultigridSolver, in the same process, alternating with the
      current one at every N (before/after comparisons on a shared machine).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import eulerian.fokker_planck as fpm  # noqa: E402
from eulerian.fokker_planck import solve_fokker_planck  # noqa: E402
from eulerian.grid import Grid  # noqa: E402
from verify import gaussian as G  # noqa: E402

H = np.array([[1.0, 0.4, 0.2], [0.4, 0.7, 0.1], [0.2, 0.1, 0.8]])
C = np.array([0.2, -0.1, 0.1])
M0 = np.array([1.0, -0.5, 0.3])
S0 = np.array([[0.5, 0.1, 0.05], [0.1, 0.3, 0.02], [0.05, 0.02, 0.4]])
D = 0.5
T = 1.0
L = 4.5
DRIFT = G.Affine(-H, C)
G0 = G.Gaussian(M0, S0)
GT = G.linear_sde(G0, DRIFT, D, T)
TARGET = 1e-3
SCHEMES = {"bdf2 + multigrid": dict(time="bdf2", solver="multigrid"), "douglas-adi": dict(time="douglas-adi")}


@functools.lru_cache(maxsize=3)
def problem(n: int):
    """Grid, initial and exact final cell averages (computed once per size, outside every timing)."""
    grid = Grid((-L,) * 3, (L,) * 3, (n,) * 3)
    return grid, grid.cell_averages(G0.pdf, order=3), grid.cell_averages(GT.pdf, order=3)


_RUNS: dict = {}


def run(n: int, scheme: str, steps: int, fresh: bool = False):
    """(Solution, wall seconds, CPU seconds) of one solve; kept per (n, scheme, steps) so that a configuration
    met again (Richardson pairs, the search) is not solved twice unless ``fresh`` (timings)."""
    key = (n, scheme, steps)
    if fresh or key not in _RUNS:
        grid, rho0, _ = problem(n)
        t0, c0 = time.perf_counter(), time.process_time()
        sol = solve_fokker_planck(grid, rho0, DRIFT, D, T, steps, **SCHEMES[scheme])
        _RUNS[key] = (sol, time.perf_counter() - t0, time.process_time() - c0)
    return _RUNS[key]


def l1(grid, a, b) -> float:
    return float(np.abs(a - b).sum() * grid.cell_volume)


def richardson(n: int, scheme: str, steps: int):
    """(L1 error of the k-step run, its wall time, estimated time error (4/3) ||rho_k - rho_2k||, L1 of 2k)."""
    grid, _, exact = problem(n)
    a, wall, cpu = run(n, scheme, steps)
    b, _, _ = run(n, scheme, 2 * steps)
    return (l1(grid, a.density, exact), cpu, 4.0 / 3.0 * l1(grid, a.density, b.density),
            l1(grid, b.density, exact))


def section_steps_rule(sizes, start):
    """Doubling k from ``start`` until the Richardson time error is below L1 / 5. The time error of the
    semi-discrete solution hardly depends on N and the space error falls 4x per doubling of N, so each N starts
    from twice the k chosen at N / 2 (the 128^3 BDF2 runs cost seconds per step)."""
    print("\n## 1. space error and time steps: L1(k), time error estimate (4/3)||rho_k - rho_2k||, chosen k "
          "(estimated time error <= L1 / 5)")
    chosen = {}
    for n in sizes:
        for scheme in SCHEMES:
            k = max(start, 2 * chosen.get(scheme, 0)) if n // 2 in sizes else start
            while True:
                e, cpu, et, e2 = richardson(n, scheme, k)
                ok = et <= e / 5
                print(f"  N={n:4d} {scheme:17s} k={k:4d}  L1 {e:.4e}  L1(2k) {e2:.4e}  time error ~{et:.2e}"
                      f"  ({et / e:5.1%} of L1)  CPU(k) {cpu:7.2f} s{'  <- chosen' if ok else ''}", flush=True)
                if ok or k >= 4 * n:
                    break
                k *= 2
            chosen[scheme] = k


def section_time_to_accuracy(plan):
    """plan: {scheme: {N: increasing step counts}}. At each N the counts are run in order until one reaches the
    target (at least two are run, so that the time error can be estimated). The time error of the run with k2
    steps comes from the pair (k1, k2) by Richardson, second order: e_t(k1) ~ ||rho_k1 - rho_k2|| / (1 - (k1/k2)^2)
    and e_t(k2) = e_t(k1) (k1/k2)^2. An N whose run with its most steps misses the target is left (its space
    error alone is near or above it). Timings: process CPU (and wall) of the run, set-up included."""
    print(f"\n## 2. time to L1 <= {TARGET:g}: the fewest steps reaching it, plan {plan}")
    best = {}
    for scheme, per_n in plan.items():
        for n, counts in per_n.items():
            grid, _, exact = problem(n)
            prev = None
            for i, steps in enumerate(counts):
                sol, wall, cpu = run(n, scheme, steps)
                e = l1(grid, sol.density, exact)
                et = None
                if prev is not None:
                    k1, rho1 = prev
                    et = l1(grid, rho1, sol.density) / (1.0 - (k1 / steps) ** 2) * (k1 / steps) ** 2
                its = sol.info["linear_iterations"]
                print(f"  {scheme:17s} N={n:4d} steps={steps:4d}  L1 {e:.4e}"
                      + (f" (Richardson time error ~{et:.1e}, space error ~{e - et:.4e})" if et is not None else "")
                      + f"  CPU {cpu:7.2f} s, wall {wall:7.2f} s (set-up {sol.info['setup_time']:.2f} s"
                      + (f", BiCGStab its/step {np.mean(its):.2f}" if its else "") + ")"
                      + ("  <- reaches the target" if e <= TARGET else ""), flush=True)
                if e <= TARGET and (scheme not in best or cpu < best[scheme][0]):
                    best[scheme] = (cpu, n, steps, e)
                if e <= TARGET and prev is not None:
                    break
                prev = (steps, sol.density)
            _RUNS.clear()
    for scheme, (cpu, n, steps, e) in best.items():
        print(f"  best {scheme}: N={n} ({n ** 3} cells), {steps} steps, L1 {e:.4e}, CPU {cpu:.2f} s")
    if len(best) == 2:
        a, b = (best[s][0] for s in SCHEMES)
        print(f"  bdf2 + multigrid / douglas-adi: {a / b:.1f}x")


def baseline_solver(rev: str):
    """MultigridSolver of eulerian/multigrid.py at git revision ``rev`` (a module loaded from `git show`)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = subprocess.run(["git", "show", f"{rev}:eulerian/multigrid.py"], cwd=root, check=True,
                         capture_output=True, text=True).stdout
    name = "eulerian._multigrid_baseline"  # inside the package: its relative imports resolve
    spec = importlib.util.spec_from_loader(name, loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "eulerian"
    sys.modules[name] = mod
    exec(compile(src, f"{rev}:eulerian/multigrid.py", "exec"), mod.__dict__)
    return mod.MultigridSolver


@contextlib.contextmanager
def multigrid_solver(cls):
    """eulerian.fokker_planck uses ``cls`` (None: its own MultigridSolver) inside the block."""
    own = fpm.MultigridSolver
    if cls is not None:
        fpm.MultigridSolver = cls
    try:
        yield
    finally:
        fpm.MultigridSolver = own


def step_time(n: int, scheme: str, k: int, repeats: int):
    """Medians over repeats of (CPU(3k) - CPU(k)) / 2k and of the same with wall times, and the 3k-step run."""
    cpus, walls = [], []
    for _ in range(repeats):
        _, w1, c1 = run(n, scheme, k, fresh=True)
        s2, w2, c2 = run(n, scheme, 3 * k, fresh=True)
        cpus.append(c2 - c1)
        walls.append(w2 - w1)
    return (max(statistics.median(cpus), 1e-12) / (2 * k), max(statistics.median(walls), 1e-12) / (2 * k), s2)


def traced_peak(n: int, scheme: str, steps: int) -> float:
    """Peak traced memory (MiB) of one solve with ``steps`` steps (its inputs already allocated)."""
    problem(n)
    tracemalloc.start()
    tracemalloc.reset_peak()
    run(n, scheme, steps, fresh=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def section_per_step(sizes, k, repeats, baseline=None, peak_max=64, k_per_n=None):
    """Per-step cost of every scheme; with ``baseline`` (a git revision) BDF2 is also timed with that
    revision's MultigridSolver, alternating with the current one at every N. Peak traced memory for N <=
    ``peak_max`` (section 4 has the larger ones). ``k_per_n``: k = round(k_per_n N) steps at each N instead of
    the same k (dt proportional to h, as a refinement study that keeps the time error below the space error runs;
    the diffusion number dt D / h^2 then grows like N instead of N^2)."""
    rule = (f"k = {k}, the same dt at every N" if k_per_n is None else
            f"k = round({k_per_n:g} N) = {[max(1, round(k_per_n * n)) for n in sizes]}, dt proportional to h")
    print(f"\n## 3. per-step cost: median of {repeats} (CPU(3k) - CPU(k)) / 2k (and wall), {rule}; set-up "
          f"excluded (one repeat at N >= 128)")
    _RUNS.clear()
    variants = [(scheme, scheme, None) for scheme in SCHEMES]
    if baseline is not None:
        variants.insert(0, (f"bdf2 + MG @{baseline}", "bdf2 + multigrid", baseline_solver(baseline)))
    results = {label: ([], []) for label, _, _ in variants}
    order = [(n, v) for v in variants if v[1] != "bdf2 + multigrid" for n in sizes]
    order = [(n, v) for n in sizes for v in variants if v[1] == "bdf2 + multigrid"] + order
    warmed = set()
    for n, (label, scheme, cls) in order:
        with multigrid_solver(cls):
            if label not in warmed:
                run(sizes[0], scheme, 2, fresh=True)  # warm-up
                warmed.add(label)
            kn = k if k_per_n is None else max(1, round(k_per_n * n))
            step, wall, sol = step_time(n, scheme, kn, repeats if n < 128 else 1)
            peak = traced_peak(n, scheme, 4) if n <= peak_max else float("nan")
        its = sol.info["linear_iterations"]
        grid = problem(n)[0]
        print(f"  {label:17s} N={n:4d} cells={n ** 3:8d}  step CPU {step * 1e3:9.2f} ms (wall {wall * 1e3:9.2f})  "
              f"({step / n ** 3 * 1e9:6.1f} ns/cell)  set-up {sol.info['setup_time']:.2f} s  "
              f"peak traced {peak:7.1f} MiB ({peak * 2**20 / (8 * grid.size):.1f} float64 arrays of the grid)"
              + (f"  BiCGStab its/step mean {np.mean(its):.2f} max {max(its)}" if its else "")
              + f"  load {os.getloadavg()[0]:.2f}", flush=True)
        results[label][0].append(n ** 3)
        results[label][1].append(step)
        _RUNS.clear()
    for label, (cells, per) in results.items():
        p = np.polyfit(np.log(cells), np.log(per), 1)[0]
        last = np.log(per[-1] / per[-2]) / np.log(cells[-1] / cells[-2])
        print(f"  {label}: per-step time ~ cells^{p:.2f} over N = {sizes[0]}..{sizes[-1]} "
              f"(last pair {last:.2f}; target <= 1.1)", flush=True)


def section_memory(sizes, steps=4):
    """Peak traced memory of one solve of ``steps`` steps (set-up, the multigrid hierarchies, the line
    factorisations, the step's temporaries), and the process' resident peak after each size."""
    print(f"\n## 4. memory: peak traced by tracemalloc during one solve of {steps} steps (inputs excluded)")
    for n in sizes:
        for scheme in SCHEMES:
            peak = traced_peak(n, scheme, steps)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
            print(f"  {scheme:17s} N={n:4d} cells={n ** 3:8d}  peak traced {peak:8.1f} MiB "
                  f"({peak * 2**20 / (8 * n ** 3):.1f} float64 arrays of the grid); process resident peak so far "
                  f"{rss:.0f} MiB", flush=True)
        _RUNS.clear()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    ap.add_argument("--sections", default="1,2,3,4")
    ap.add_argument("--baseline", default=None, metavar="REV",
                    help="section 3: also time BDF2 with eulerian/multigrid.py at this git revision")
    ap.add_argument("--sizes", default=None, help="section 3: grid sizes N (comma separated)")
    ap.add_argument("--k-per-n", type=float, default=None, metavar="R",
                    help="section 3: k = round(R N) steps at each N (dt proportional to h) instead of the same k")
    args = ap.parse_args(argv)
    sections = args.sections.split(",")
    grid, rho0, _ = problem(32)
    print(f"# Fokker-Planck OU-3D benchmark  quick={args.quick}  {time.strftime('%Y-%m-%d %H:%M')}  "
          f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}  "
          f"numpy {np.__version__}")
    print(f"  box [-{L}, {L}]^3; initial mass outside the box {1 - grid.mass(rho0):.1e}; exact mean at T "
          f"{np.round(GT.mean, 4)}, covariance eigenvalues {np.round(np.linalg.eigvalsh(GT.cov), 4)}")
    if "1" in sections:
        section_steps_rule((16, 32) if args.quick else (32, 64, 128), 4)
        print(f"  (process CPU so far {time.process_time():.0f} s)", flush=True)
    if "2" in sections:
        if args.quick:
            global TARGET
            TARGET = 2e-2
            section_time_to_accuracy({s: {24: [8, 16], 32: [2, 4, 8, 16]} for s in SCHEMES})
        else:  # BDF2 at 128^3 costs seconds per step: its counts start where section 1 puts the time error
            section_time_to_accuracy({"douglas-adi": {120: [8, 16], 128: [4, 6, 8, 12, 16, 24]},
                                      "bdf2 + multigrid": {128: [32, 48, 64]}})
    if "3" in sections:
        sizes = (16, 32, 48) if args.quick else (32, 64, 128)
        if args.sizes:
            sizes = tuple(int(n) for n in args.sizes.split(","))
        section_per_step(sizes, 2 if args.quick else 4, 1 if args.quick else 3, args.baseline,
                         peak_max=48 if args.quick else 64, k_per_n=args.k_per_n)
    if "4" in sections:
        section_memory((16, 32, 48) if args.quick else (32, 64, 128))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f"\npeak resident memory of the process {rss:.0f} MiB; load average now "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t:.1f} s")
