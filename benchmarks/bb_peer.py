"""Benamou–Brenier side by side with a public Python peer: time to the same W2² accuracy, in one process.

Peer: mao1756/pdot (MIT), `proximal/dynamicUOT.computeGeodesic`, a NumPy Douglas–Rachford solver of the dynamic
(unbalanced) OT problem on staggered grids after Papadakis–Peyré–Oudet 2014 / Chizat et al. 2018; its balanced
W2 mode is p = 2, q < 1. It is not on PyPI. To get it (the commit measured is 5250ea4, 2024-10-08):

    git clone https://github.com/mao1756/pdot /path/to/pdot      # needs POT (`ot`), which twinflow already uses
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bb_peer.py --pdot /path/to/pdot [--problems 1d,2d]

(or set PDOT_PATH; only its proximal/ folder is imported). Without it the script prints SKIPPED and exits 0.
Run time on the 2-core machine: 1d about 1.5 min, 2d about 45 min (pdot: 6 400 iterations at 55-170 ms, twice);
``--only-ms`` measures only the per-iteration costs, in alternation (2 min).

One fix is needed to run the peer, applied at run time (monkeypatch, nothing copied into twinflow): its Poisson
solver `poisson_` removes the constant mode with ``D[0] = 1``, which on a (time x space) array overwrites the
whole first row of Laplacian eigenvalues, not only the (0, ..., 0) entry; the continuity projection is then
wrong and the W2 mode diverges (measured: NaN W2² after 200 iterations of the 1D case). The one-line fix
is ``D[(0,) * d] = 1``; `_poisson_neumann` below is the same DCT-II Neumann solver with that fix and is
installed as `proximal.dynamicUOT.poisson_`.

Same problem on both sides (checked conventions):
* space: cell-centred densities on [0, 1]^d with zero-flux walls; pdot's ``ll = (1, 1, ...)`` is (time length,
  box sides) and its centred grid ``cs = (T,) + rho.shape``: the same cells as twinflow's Grid((0,)*d, (1,)*d).
  Axis order of the momenta: pdot D[k] for space axis k-1, as twinflow's axis k-1.
* time: T = P time steps on [0, 1]; pdot's staggered density has T + 1 levels at t = j / T, like twinflow's
  ``density``; the t = 1/2 density is level P / 2 on both sides.
* cost: pdot minimises (1/2) int |m|^2 / rho (its ``energy`` has the 1/2), twinflow int |m|^2 / rho (no 1/2), so
  pdot's W2² is twice its energy.
* the W2² estimate compared is the same functional on both sides: the discrete kinetic energy
  dt * dx^d * sum |m|^2 / rho of the centred iterate returned by the cost's proximal map (twinflow: BBResult
  .w2_squared; pdot: 2 * y.V.energy(...) of the Douglas–Rachford iterate y = prox1(2 z - w), computed with no
  low-density cut-off). pdot's own ``z.energy`` drops the cells below 1 % of the maximal density (biased low,
  -3.7e-3 relative on the 1D case) and the cost of its final interpolated z is dominated by rho ~ 0 cells; both
  are recorded for information, not used.
* densities: the exact cell averages of the Gaussians (verify.cases.benamou_brenier_cases), unit mass.

Time to accuracy. twinflow: one run per stopping tolerance (its KKT and duality-gap tests, ``tol`` = f *
default_tol for a sequence of f, the other tolerances at their defaults relative to tol; ``gap_factor=g`` in a
configuration sets gap_tol = max(g * tol, 1e-5)), wall time of the call. ``--configs`` chooses the
configurations (default: the methods at their defaults, plus primal-dual with the multilevel start in 2D),
``--tol-factors`` the f. pdot has no stopping test (a fixed ``niter``): one run with ``niter`` = the largest
count, and at iteration counts on a geometric schedule the wrapped ``stepDR`` records the elapsed wall time
since the call (minus the time spent recording) and the W2² and t = 1/2 density of the iterate.
The peer's per-iteration diagnostics (energy, distances to the constraints, computed at every iteration) are
switched off by default (``--peer-diagnostics`` keeps them): this favours the peer. Its step gamma is run at its
default (max density / 2) and at twinflow's (d^2 in units where the density has mean 1 and the box side 1, the
same units here); the faster is compared. Time to a level E = the earliest recorded time after which every
later record has |W2² - exact| / exact <= E ("reaches and stays"). Levels: the best both reach (the larger of the
two final errors) and fixed ones.

Results: benchmarks/RESULTS.md ("Benamou–Brenier against pdot (mao1756/pdot)").
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # both codes single-threaded (set before NumPy is imported)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402

import numpy as np  # noqa: E402
import scipy.fft  # noqa: E402

from eulerian.benamou_brenier import GAP_TOL_FLOOR, benamou_brenier, default_gamma, default_tol  # noqa: E402
from eulerian.grid import Grid  # noqa: E402
from verify import gaussian as G  # noqa: E402
from verify.cases.benamou_brenier_cases import gaussian_cells, gaussian_cells_1d  # noqa: E402

PEER_COMMIT = "5250ea4af6f6be4a64b6f263183c07ab619a3032"
# twinflow tolerance factors (times default_tol) and the peer's iteration schedule per problem
TOL_FACTORS = {"1d": (300.0, 100.0, 30.0, 10.0, 3.0, 1.0, 0.3, 0.1), "2d": (300.0, 100.0, 30.0, 10.0, 3.0, 1.0, 0.3)}
PEER_SCHEDULE = {"1d": (100, 6_400), "2d": (100, 6_400)}  # first and last recorded iteration (x 2^(1/4) apart)


@dataclass
class Problem:
    key: str
    grid: Grid
    P: int
    rho0: np.ndarray
    rho1: np.ndarray
    exact: float          # exact W2² of the Gaussians (no 1/2)
    half: np.ndarray      # McCann interpolant's cell averages at t = 1/2


def make_problem(key: str) -> Problem:
    """1d: N(0.3, 0.05²) -> N(0.7, 0.08²) on [0, 1], 64 cells x 64 steps; 2d: σ = 0.07 translated from (0.3, 0.3)
    to (0.7, 0.7) on [0, 1]², 64² cells x 32 steps (those of benchmarks/benamou_brenier.py)."""
    if key == "1d":
        grid = Grid((0.0,), (1.0,), (64,))
        return Problem(key, grid, 64, gaussian_cells_1d(grid, 0.3, 0.05), gaussian_cells_1d(grid, 0.7, 0.08),
                       0.4**2 + 0.03**2, gaussian_cells_1d(grid, 0.5, 0.065))
    if key == "2d":
        grid = Grid((0.0, 0.0), (1.0, 1.0), (64, 64))
        cov = 0.07**2 * np.eye(2)
        g0, g1 = G.Gaussian([0.3, 0.3], cov), G.Gaussian([0.7, 0.7], cov)
        return Problem(key, grid, 32, gaussian_cells(grid, g0), gaussian_cells(grid, g1), G.w2_squared(g0, g1),
                       gaussian_cells(grid, G.mccann(g0, g1, 0.5)))
    raise ValueError(f"unknown problem {key!r}: use 1d or 2d")


@dataclass
class Record:
    seconds: float
    w2_squared: float
    rel_error: float
    l1_half: float
    iterations: int
    label: str = ""


@dataclass
class Series:
    code: str
    config: str
    records: list = field(default_factory=list)
    notes: dict = field(default_factory=dict)


def l1(density: np.ndarray, problem: Problem) -> float:
    return float(np.abs(np.asarray(density) - problem.half).sum() * problem.grid.cell_volume)


# ------------------------------------------------------------------------------------------------------------
# twinflow
# ------------------------------------------------------------------------------------------------------------
def parse_config(text: str) -> tuple[str, dict]:
    """'primal-dual' or 'primal-dual:step_rule=fixed,multilevel=True' -> (method, keyword arguments)."""
    method, _, rest = text.partition(":")
    kw: dict = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if value in ("True", "False"):
            kw[key] = value == "True"
        else:
            try:
                kw[key] = float(value)
            except ValueError:
                kw[key] = value
    return method, kw


def run_twinflow(problem: Problem, method: str, factors=None, **kw) -> Series:
    """One run per tolerance factor f: tol = f * default_tol (the other tolerances at their defaults relative to
    it). ``gap_factor=g`` in kw sets gap_tol = max(g * tol, GAP_TOL_FLOOR) instead of the default max(5 tol, 1e-5)."""
    factors = factors or TOL_FACTORS[problem.key]
    base = default_tol(problem.grid, problem.P)
    s = Series("twinflow", method + "".join(f", {k}={v}" for k, v in kw.items()))
    kw = dict(kw)
    gap_factor = kw.pop("gap_factor", None)
    for f in factors:
        if gap_factor is not None:
            kw["gap_tol"] = max(gap_factor * f * base, GAP_TOL_FLOOR)  # the default's floor
        t = time.perf_counter()
        res = benamou_brenier(problem.grid, problem.rho0, problem.rho1, problem.P, method=method, tol=f * base,
                              max_iter=40_000, **kw)
        wall = time.perf_counter() - t
        s.records.append(Record(wall, res.w2_squared, abs(res.w2_squared - problem.exact) / problem.exact,
                                l1(res.density[problem.P // 2], problem), res.iterations, f"tol={f:g}x default"))
    return s


# ------------------------------------------------------------------------------------------------------------
# pdot
# ------------------------------------------------------------------------------------------------------------
def _poisson_neumann(f, ll, source, nx):
    """Replacement for pdot's ``proximal.dynamicUOT.poisson_`` (same signature, in place on f): solve
    Delta u + f = 0 (source False) or Delta u - u + f = 0 (source True) with the cell-centred Neumann Laplacian of
    the box with sides ``ll``, by an orthonormal DCT-II. The only difference from pdot's: the constant mode is
    removed at the single (0, ..., 0) eigenvalue (pdot sets the whole first row, ``D[0] = 1``)."""
    lam = np.zeros(f.shape)
    for k, (n, length) in enumerate(zip(f.shape, ll)):
        h = length / n
        axis = (2.0 * np.cos(np.pi * np.arange(n) / n) - 2.0) / h**2
        lam = lam + axis.reshape([n if a == k else 1 for a in range(f.ndim)])
    if source:
        lam -= 1.0
    else:
        lam[(0,) * f.ndim] = 1.0  # the one-line fix
    g = scipy.fft.dctn(f, norm="ortho")
    g /= -lam
    f[...] = scipy.fft.idctn(g, norm="ortho")


def load_peer(path: str | None):
    """Import pdot from ``path`` (or PDOT_PATH); None if it cannot be imported."""
    path = path or os.environ.get("PDOT_PATH")
    if path:
        sys.path.insert(0, os.path.abspath(path))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import proximal.dynamicUOT as dyn  # type: ignore[import-not-found]
            import proximal.grids as grids  # type: ignore[import-not-found]
    except Exception as exc:  # noqa: BLE001 (any import failure means: no peer)
        return None, f"{type(exc).__name__}: {exc}"
    dyn.poisson_ = _poisson_neumann  # the fix (module global, looked up by projCE_ at each call)
    return (dyn, grids), None


def peer_commit(path: str | None) -> str:
    path = path or os.environ.get("PDOT_PATH")
    try:
        out = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or f"unknown (expected {PEER_COMMIT[:7]})"
    except Exception:  # noqa: BLE001
        return f"unknown (not a git checkout; measured {PEER_COMMIT[:7]})"


def peer_schedule(first: int, last: int) -> list[int]:
    out, k = [], 0
    while True:
        n = int(round(first * 2 ** (k / 4)))
        if n > last:
            break
        out.append(n)
        k += 1
    return out


def run_peer(peer, problem: Problem, schedule: list[int], gamma: float | None, diagnostics: bool) -> Series:
    dyn, grids = peer
    d = problem.grid.dim
    P = problem.P
    snaps = set(schedule)
    niter = max(schedule)
    state = {"i": 0, "paused": 0.0, "t0": 0.0}
    s = Series("pdot", f"DR, gamma={'default (max rho / 2)' if gamma is None else f'{gamma:g}'}, "
                       f"diagnostics {'on' if diagnostics else 'off'}")
    original_step = dyn.stepDR

    def step(w, x, y, z, prox1, prox2, alpha):
        out = original_step(w, x, y, z, prox1, prox2, alpha)
        state["i"] += 1
        if state["i"] in snaps:
            now = time.perf_counter()
            elapsed = now - state["t0"] - state["paused"]
            yy = out[2]  # y = prox1(2 z - w): projection on the continuity constraint (U), cost prox (V)
            w2 = 2.0 * float(yy.V.energy(1.0, 2.0, 0.0, max_ratio=math.inf))
            dens = np.array(yy.U.D[0][P // 2])
            s.records.append(Record(elapsed, w2, abs(w2 - problem.exact) / problem.exact, l1(dens, problem),
                                    state["i"], f"niter {state['i']}"))
            state["paused"] += time.perf_counter() - now
        return out

    saved = {name: getattr(grids.CSvar, name) for name in ("energy", "dist_from_CE", "dist_from_interp")}
    dyn.stepDR = step
    if not diagnostics:
        for name in saved:
            setattr(grids.CSvar, name, lambda self, *a, **k: 0.0)
    try:
        kw = {} if gamma is None else {"gamma": gamma}
        with contextlib.redirect_stdout(io.StringIO()):
            state["t0"] = time.perf_counter()
            z, _ = dyn.computeGeodesic(problem.rho0.copy(), problem.rho1.copy(), P, (1.0,) * (d + 1), p=2.0, q=0.0,
                                       niter=niter, **kw)
            total = time.perf_counter() - state["t0"] - state["paused"]
    finally:
        dyn.stepDR = original_step
        for name, fn in saved.items():
            setattr(grids.CSvar, name, fn)
    s.notes["total_seconds"] = total
    s.notes["ms_per_iteration"] = 1e3 * total / niter
    own = 2.0 * float(z.energy(1.0, 2.0, 0.0)) if diagnostics else 2.0 * float(saved["energy"](z, 1.0, 2.0, 0.0))
    s.notes["own_energy_x2_final"] = own
    s.notes["own_energy_rel_error"] = abs(own - problem.exact) / problem.exact
    s.notes["final_l1_half"] = l1(z.U.D[0][P // 2], problem)
    return s


def interleaved_ms(peer, problem: Problem, ours: list[tuple[str, dict]], peer_gamma: float | None,
                   iterations: int = 200, repeats: int = 3) -> dict:
    """ms per iteration of each configuration, measured in alternation (twinflow configurations, then pdot,
    ``repeats`` rounds; medians), so that a change of the machine's load between the long runs above does not
    bias the ratio. twinflow: a fixed-iteration run (tol = 0, checks every 10 iterations as by default); pdot:
    ``niter`` = iterations with its diagnostics as in the main runs."""
    times: dict = {}
    for _ in range(repeats):
        for method, kw in ours:
            kw = {k: v for k, v in kw.items() if k not in ("gap_factor", "gap_tol")}
            res = benamou_brenier(problem.grid, problem.rho0, problem.rho1, problem.P, method=method, tol=0.0,
                                  residual_tol=0.0, gap_tol=0.0, max_iter=iterations, **kw)
            times.setdefault(method + "".join(f", {k}={v}" for k, v in kw.items()), []).append(
                1e3 * res.seconds / res.iterations)
        s = run_peer(peer, problem, [iterations], peer_gamma, diagnostics=False)
        times.setdefault("pdot", []).append(s.notes["ms_per_iteration"])
    return {k: float(np.median(v)) for k, v in times.items()}


# ------------------------------------------------------------------------------------------------------------
# comparison
# ------------------------------------------------------------------------------------------------------------
def time_to(series: Series, level: float, key: str = "rel_error") -> tuple[float, bool] | None:
    """Time at which ``key`` reaches ``level`` and stays below it in every later record (by time), or None.

    Between the last record above the level and the next one the time is interpolated linearly in log(error)
    (the records are a sample: without it the coarser schedule would be charged up to a whole interval). The
    flag is True when even the first record is below the level (the time is then an upper bound)."""
    recs = sorted(series.records, key=lambda r: r.seconds)
    values = [getattr(r, key) for r in recs]
    if values[-1] > level:
        return None
    k = len(recs) - 1
    while k > 0 and values[k - 1] <= level:
        k -= 1
    if k == 0:
        return recs[0].seconds, True
    a, b = recs[k - 1], recs[k]
    ea, eb = max(values[k - 1], 1e-300), max(values[k], 1e-300)
    w = (math.log(ea) - math.log(level)) / (math.log(ea) - math.log(eb)) if ea != eb else 1.0
    return a.seconds + w * (b.seconds - a.seconds), False


def final_level(series: Series, key: str = "rel_error") -> float:
    return getattr(max(series.records, key=lambda r: r.seconds), key)


def _fmt(t) -> str:
    return "-" if t is None else f"{'<=' if t[1] else ''}{t[0]:.3f} s"


def compare(problem: Problem, ours: list[Series], peers: list[Series]) -> list[str]:
    """Table of records, then for each level: each twinflow configuration's time, the fastest pdot
    configuration's time, and their ratio."""
    lines = []
    for s in ours + peers:
        lines.append(f"  {s.code:8s} {s.config}")
        for r in sorted(s.records, key=lambda r: r.seconds):
            lines.append(f"      {r.label:18s} it {r.iterations:6d}  {r.seconds:8.3f} s  W2² {r.w2_squared:.7f}  "
                         f"rel.err {r.rel_error:.3e}  L1(t=1/2) {r.l1_half:.3e}")
        if s.notes:
            lines.append("      " + ", ".join(f"{k} {v:.4g}" for k, v in s.notes.items()))
    # the discretisation error: the W2² error and the L1 of the tightest twinflow run (its KKT residuals ~0)
    tight = max((r for s in ours for r in s.records), key=lambda r: r.iterations)
    limit = {key: getattr(tight, key) for key in ("rel_error", "l1_half")}
    for key, name in (("rel_error", "W2² rel. error"), ("l1_half", "L1 at t = 1/2")):
        common = max(max(final_level(s, key) for s in ours), max(final_level(s, key) for s in peers))
        levels = [("best both reach", common), ("1.25 x disc. error", 1.25 * limit[key]),
                  ("2 x disc. error", 2.0 * limit[key])]
        if key == "rel_error":
            levels.append(("fixed", 1e-3))
        lines.append(f"  -- {name}: discretisation error (tightest twinflow run) {limit[key]:.3e}")
        for lname, level in levels:
            peer_times = [(t, s.config) for s in peers if (t := time_to(s, level, key)) is not None]
            best = min(peer_times, key=lambda p: p[0][0]) if peer_times else None
            for s in ours:
                t = time_to(s, level, key)
                ratio = best[0][0] / t[0] if (t is not None and best is not None) else None
                lines.append(f"  {problem.key} {name} <= {level:.3e} ({lname}): twinflow {s.config}: {_fmt(t)}; "
                             f"pdot {_fmt(best[0] if best else None)} ({best[1] if best else '-'}) -> "
                             f"{'-' if ratio is None else f'{ratio:.1f}x'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdot", default=None, help="path of a pdot checkout (default: $PDOT_PATH)")
    parser.add_argument("--problems", default="1d,2d")
    parser.add_argument("--methods", default="primal-dual,douglas-rachford")
    parser.add_argument("--configs", default=None,
                        help="twinflow configurations instead of --methods (and the 2D multilevel row), separated by "
                             "';', each 'method' or 'method:key=value,...' (benamou_brenier keywords), e.g. "
                             "'primal-dual;primal-dual:step_rule=fixed;primal-dual:multilevel=True'")
    parser.add_argument("--tol-factors", default=None,
                        help="twinflow tolerance factors (times default_tol), comma-separated (default: per problem)")
    parser.add_argument("--peer-gammas", default="default,twinflow",
                        help="pdot steps to run: 'default' (its max rho / 2), 'twinflow' (d^2), or numbers")
    parser.add_argument("--peer-diagnostics", action="store_true",
                        help="keep pdot's per-iteration diagnostics (as shipped; slower)")
    parser.add_argument("--peer-last", type=int, default=None, help="override the last pdot iteration count")
    parser.add_argument("--json", default=None, help="write all records to this JSON file")
    parser.add_argument("--only-ms", action="store_true",
                        help="only the interleaved ms/iteration measurement (minutes instead of ~40 min in 2D)")
    args = parser.parse_args()
    peer, why = load_peer(args.pdot)
    if peer is None:
        print(f"SKIPPED: pdot is not importable ({why}). Clone https://github.com/mao1756/pdot and pass "
              "--pdot PATH or set PDOT_PATH (see this file's docstring).")
        return
    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} cores, BLAS threads 1; "
          f"pdot commit {peer_commit(args.pdot)}", flush=True)
    dump = {}
    for key in args.problems.split(","):
        problem = make_problem(key)
        print(f"== {key}: {problem.grid.shape} cells x {problem.P} steps, exact W2² {problem.exact:.6g}", flush=True)
        if args.configs:
            configs = [parse_config(c) for c in args.configs.split(";")]
        else:
            configs = [(m, {}) for m in args.methods.split(",")]
            if key != "1d":
                configs.append(("primal-dual", {"multilevel": True}))
        factors = tuple(float(f) for f in args.tol_factors.split(",")) if args.tol_factors else None
        if args.only_ms:
            ms = interleaved_ms(peer, problem, [c for c in configs if not c[1].get("multilevel")], None)
            print("  ms per iteration, interleaved (medians of 3 x 200 iterations): "
                  + ", ".join(f"{k} {v:.3f}" for k, v in ms.items()) + " -> pdot / twinflow: "
                  + ", ".join(f"{k} {ms['pdot'] / v:.1f}x" for k, v in ms.items() if k != "pdot"), flush=True)
            continue
        ours = []
        for m, kw in configs:
            ours.append(run_twinflow(problem, m, factors, **kw))
            s = ours[-1]
            print(f"  twinflow {s.config}: done ({sum(r.seconds for r in s.records):.1f} s)", flush=True)
        first, last = PEER_SCHEDULE[key]
        schedule = peer_schedule(first, args.peer_last or last)
        peers = []
        for g in args.peer_gammas.split(","):
            gamma = None if g == "default" else (default_gamma("douglas-rachford", problem.grid.dim) if g == "twinflow"
                                                 else float(g))
            peers.append(run_peer(peer, problem, schedule, gamma, args.peer_diagnostics))
            print(f"  pdot {peers[-1].config}: done ({peers[-1].notes['total_seconds']:.1f} s)", flush=True)
        for line in compare(problem, ours, peers):
            print(line, flush=True)
        ms = interleaved_ms(peer, problem, [c for c in configs if not c[1].get("multilevel")], None)
        print("  ms per iteration, interleaved (medians of 3 x 200 iterations): "
              + ", ".join(f"{k} {v:.3f}" for k, v in ms.items())
              + " -> pdot / twinflow: " + ", ".join(f"{k} {ms['pdot'] / v:.1f}x" for k, v in ms.items() if k != "pdot"),
              flush=True)
        dump[key] = {"exact": problem.exact, "series": [asdict(s) for s in ours + peers]}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dump, fh, indent=1)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.1f} s")
