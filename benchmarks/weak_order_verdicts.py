"""Weak-order verdicts over many seeds: false failures, calibration of the intervals, power.

    OPENBLAS_NUM_THREADS=1 python benchmarks/weak_order_verdicts.py [--seeds 300] [--first-seed 0] [--scale 1.0]
        [--methods euler-maruyama,heun,wrong-order,wrong-noise] [--band 0.25] [--processes 1] [--json PATH]

For every seed s in 0..S−1 this runs ``weak_order_study(sampler, "ou-sde-1d", dts, n, replicates,
observables, rng=s)`` with the settings of the report, read from ``verify.cases.particles.WEAK_STUDIES`` at
run time (full size × ``--scale``):

* ``euler-maruyama``: steps (1, 2, 4, 8), n = 250 000, 16 replicates, mean + variance, claimed weak order 1;
* ``heun``: steps (1, 2, 3, 4, 6, 8), n = 500 000, 16 replicates, mean, claimed weak order 2;

both judged with one band, ± 0.25 by default (``--band``; the report uses ± 0.2 and ± 0.3). A correct scheme
gets "fail"
with probability ≤ 1e-3 per study (the fail interval is at level 1 − 1e-3/k, k observable components), so
over S seeds the count of false failures should be 0; the coverage of the nominal order by the 95 % intervals
(expected ≈ 0.95) says whether the intervals are calibrated. The table also gives p∞, the order that the
model with one correction in dt, C dt^p (1 + a dt), tends to without Monte Carlo noise (the scheme's exact
law, :func:`noise_free_orders`), and the coverage of p∞: coverage of p∞ near 0.95 with coverage of p far
below it means intervals calibrated for the noise around a fit biased at these steps. The first line of the
output names the code measured (git HEAD, uncommitted changes, md5 of verify/convergence.py).

Two wrong samplers check the power (expected: fail on every seed):

* ``wrong-order``: Euler–Maruyama claimed as weak order 2 (same data as ``euler-maruyama`` for the same seed,
  so that study is reused when both are asked for);
* ``wrong-noise``: Euler–Maruyama with noise sqrt(D) dW instead of sqrt(2D) dW, claimed as weak order 1
  (the euler-maruyama settings; the variance error tends to a constant, not to 0).

``--scale`` multiplies n (use < 1 for a quicker run); ``--processes`` runs seeds in a multiprocessing Pool;
``--json`` dumps every per-seed number. Each study uses its seed only through ``rng=seed``.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import lagrangian as L  # noqa: E402
from verify.adapters import SDESampler  # noqa: E402
from verify.cases.particles import WEAK_STUDIES  # noqa: E402
from verify.convergence import FALSE_FAILURE, weak_order_study  # noqa: E402
from verify.problems import get_problem  # noqa: E402

PROBLEM = "ou-sde-1d"
BAND = 0.25   # default band (--band); the report's are 0.2 (Euler–Maruyama) and 0.3 (Heun)
STATUSES = ("pass", "inconclusive", "fail")


class HalfNoiseSampler:
    """A wrong sampler: Euler–Maruyama with noise sqrt(D) dW instead of sqrt(2D) dW, claiming weak order 1."""

    weak_order = 1.0
    name = "wrong noise: Euler–Maruyama with sqrt(D) dW"

    def __call__(self, problem, x0, steps, rng):
        return L.integrate_sde(problem.drift, 0.5 * np.asarray(problem.diffusion), x0, 0.0, problem.t_final, steps,
                               rng=rng, method="euler-maruyama")


# method -> (study key, claimed order, true order of the scheme or None, expected verdict)
METHODS = {
    "euler-maruyama": ("euler-maruyama", 1.0, 1.0, "not fail"),
    "heun": ("heun", 2.0, 2.0, "not fail"),
    "wrong-order": ("euler-maruyama", 2.0, None, "fail"),
    "wrong-noise": ("wrong-noise", 1.0, None, "fail"),
}


def _study_settings(key: str, scale: float):
    steps, sizes, replicates, observables = WEAK_STUDIES["euler-maruyama" if key == "wrong-noise" else key]
    sampler = HalfNoiseSampler() if key == "wrong-noise" else SDESampler(key)
    return sampler, steps, max(2, int(round(sizes[1] * scale))), replicates, observables


def noise_free_orders(key: str) -> dict:
    """The order each observable's fit converges to as the samples grow (no Monte Carlo noise), per label.

    The scheme's law is exact for the affine drift: X_T = a x0 + b + Z, Z ~ N(0, q) (a, b, q propagated
    through the implemented step, as in ``verify.cases.particles.scheme_law``). The expected batch errors
    and their variances follow (mean: ((a − Φ)² s0 + q)/n; variance:
    ((a² − Φ²)² 2 s0² + 4 a² s0 q + 2 q²)/n),
    and the Talay–Tubaro model log|e| = c + p log dt + a dt (the first correction in dt, which the scheme's
    expansion C dt^p (1 + a dt + b dt² + ...) has) is fitted with the study's weights (e/se)². It is a fixed
    reference, whatever model ``weak_order_study`` selects. A difference between this order and the claimed
    one is a bias of the fit (the truncated error expansion at the coarse steps), which no number of samples
    removes."""
    problem = get_problem(PROBLEM)
    steps, _, _, observables = WEAK_STUDIES["euler-maruyama" if key == "wrong-noise" else key]
    stepper = L.SDE_STEPPERS["euler-maruyama" if key == "wrong-noise" else key]
    D = float(problem.diffusion) * (0.5 if key == "wrong-noise" else 1.0)
    T, m0, s0 = problem.t_final, float(problem.initial.mean[0]), float(problem.initial.cov[0][0])
    phi, Q = problem.transition()
    Phi, phi0, Q = float(phi.matrix[0, 0]), float(phi.offset[0]), float(np.asarray(Q)[0, 0])
    dts = np.array([T / k for k in steps])
    e_mean, v_mean, e_var, v_var = [], [], [], []
    field = lambda t, x: problem.drift(x)  # noqa: E731
    for k, h in zip(steps, dts):
        a, b, q = 1.0, 0.0, 0.0
        for j in range(k):
            out = stepper.step(field, j * h, np.array([[0.0], [1.0], [0.0]]), h, np.array([[0.0], [0.0], [1.0]]))
            m, M, g = float(out[0, 0]), float(out[1, 0] - out[0, 0]), float(out[2, 0] - out[0, 0])
            a, b, q = M * a, M * b + m, M * M * q + g * g * 2 * h * D
        e_mean.append((a - Phi) * m0 + b - phi0)
        v_mean.append((a - Phi) ** 2 * s0 + q)
        e_var.append((a * a - Phi * Phi) * s0 + q - Q)
        v_var.append((a * a - Phi * Phi) ** 2 * 2 * s0 * s0 + 4 * a * a * s0 * q + 2 * q * q)
    out = {}
    for label, e, v, on in (("mean[0]", e_mean, v_mean, "mean" in observables),
                            ("variance", e_var, v_var, "covariance" in observables)):
        if not on:
            continue
        e, v = np.array(e), np.array(v)
        y, w = np.log(np.abs(e)), e * e / v
        X, model = np.stack([np.ones_like(dts), np.log(dts), dts / dts.max()], axis=1), "C h^p (1 + a h)"
        beta = np.linalg.solve(X.T @ (X * w[:, None]), X.T @ (w * y))
        out[label] = {"order": float(beta[1]), "model": model}
    return out


def run_seed(task):
    """All asked methods for one seed; returns {method: record}."""
    seed, methods, scale, band = task
    problem = get_problem(PROBLEM)
    T = problem.t_final
    studies, seconds = {}, {}
    out = {}
    for method in methods:
        key, claimed, true_order, _ = METHODS[method]
        if key not in studies:
            sampler, steps, n, replicates, observables = _study_settings(key, scale)
            t0 = time.perf_counter()
            studies[key] = weak_order_study(sampler, problem, [T / k for k in steps], n=n, replicates=replicates,
                                            observables=observables, rng=seed)
            seconds[key] = time.perf_counter() - t0
        study = studies[key]
        verdicts = study.verdicts(claimed, band)
        comps = []
        for f, v in zip(study.fits, verdicts):
            c = {"label": f.label, "status": v.status, "errors": list(f.errors),
                 "standard_errors": list(f.standard_errors), "used": list(f.used), "note": f.note,
                 "order": math.nan, "standard_error": math.nan, "dof": math.nan, "inflation": math.nan,
                 "interval_95": [v.interval[0], v.interval[1]], "fail_interval": [v.fail_interval[0],
                                                                                 v.fail_interval[1]]}
            if f.fit is not None:
                c.update(order=f.fit.order, standard_error=f.fit.standard_error, dof=f.fit.dof,
                         inflation=f.fit.inflation)
                if true_order is not None:
                    lo, hi = v.interval
                    flo, fhi = v.fail_interval
                    c["covers"] = bool(lo <= true_order <= hi)
                    c["fail_level_covers"] = bool(flo <= true_order <= fhi)
            comps.append(c)
        statuses = [c["status"] for c in comps]
        verdict = "fail" if "fail" in statuses else ("pass" if all(s == "pass" for s in statuses) else "inconclusive")
        out[method] = {"seed": seed, "method": method, "sampler": study.sampler, "claimed": claimed,
                       "true_order": true_order, "band": band, "n": study.n, "replicates": study.replicates,
                       "steps": list(study.steps), "verdict": verdict, "seconds": seconds[key],
                       "false_failure_level": FALSE_FAILURE / len(study.fits), "observables": comps}
    return seed, out


def _stats(values):
    v = np.array([x for x in values if math.isfinite(x)], dtype=float)
    if v.size == 0:
        return "—"
    sd = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return f"{v.mean():.3f} ± {sd:.3f} [{v.min():.3f}, {v.max():.3f}]"


def upper_bound_zero(n: int, conf: float = 0.95) -> float:
    """One-sided upper confidence bound on a rate with 0 events in n trials: 1 − (1 − conf)^(1/n) ≈ 3/n."""
    return 1.0 - (1.0 - conf) ** (1.0 / n)


def code_version() -> str:
    """git HEAD (+ "dirty" when verify/ or lagrangian/ differ from it) and the md5 of verify/convergence.py as
    imported: the verdict code changes under active development, so every run says which one it measured."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip() or "?"
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "verify", "lagrangian"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head, dirty = "?", ""
    import verify.convergence as vc

    with open(vc.__file__, "rb") as fh:
        md5 = hashlib.md5(fh.read()).hexdigest()[:12]
    return f"git {head}{' + uncommitted changes' if dirty else ''}, verify/convergence.py md5 {md5}"


def _coverage(flags) -> str:
    c = float(np.mean(flags))
    return f"{c:.3f} ± {math.sqrt(c * (1 - c) / len(flags)):.3f}"


def summarise(records: dict, methods, seeds, limits: dict, band: float = BAND) -> str:
    """The end-of-run table. Per observable: fitted orders (mean ± sd [min, max]); mean 95 % half-width;
    cover p: fraction of seeds whose 95 % interval contains the nominal order, ± binomial se; p∞: the
    noise-free order of the fit (noise_free_orders); cover p∞: the same fraction for p∞; t(p∞): mean and sd
    of (order − p∞)/se (a calibrated interval has mean ≈ 0, sd ≈ 1.07 for t with 15 dof); miss@fail: seeds
    whose fail-level interval (1 − 1e-3/k) excludes the nominal order; statuses of the component verdicts."""
    lines = []
    for method in methods:
        key, claimed, true_order, expected = METHODS[method]
        recs = [records[s][method] for s in seeds]
        r0 = recs[0]
        counts = {s: sum(r["verdict"] == s for r in recs) for s in STATUSES}
        lines.append("")
        lines.append(f"== {method}: {r0['sampler']}, claimed weak order {claimed:g} ± {band:g}, steps {r0['steps']}, "
                     f"n = {r0['n']} × {r0['replicates']} replicates, {len(recs)} seeds "
                     f"(expected verdict: {expected}); mean {np.mean([r['seconds'] for r in recs]):.1f} s per study")
        lines.append(f"   verdicts: pass {counts['pass']}, inconclusive {counts['inconclusive']}, "
                     f"fail {counts['fail']}")
        if expected == "not fail" and counts["fail"]:
            bad = [r["seed"] for r in recs if r["verdict"] == "fail"]
            lines.append(f"   FALSE FAILURES at seeds {bad}")
        if expected == "fail" and counts["fail"] < len(recs):
            missed = [(r["seed"], r["verdict"]) for r in recs if r["verdict"] != "fail"][:20]
            lines.append(f"   NOT FAILED (seed, verdict): {missed}")
        if expected == "not fail" and not counts["fail"]:
            lines.append(f"   no false failure in {len(recs)} studies: 95 % upper bound on the false-failure rate "
                         f"{upper_bound_zero(len(recs)):.4f}")
        if expected == "not fail":
            # how close a correct scheme came to "fail": the fail-level interval's distance from leaving the band
            lo, hi = claimed - band, claimed + band
            margins = [(min(c["fail_interval"][1] - lo, hi - c["fail_interval"][0]), r["seed"], c["label"])
                       for r in recs for c in r["observables"]]
            m, s, lab = min(margins)
            lines.append(f"   closest to a fail: the fail-level interval of {lab} at seed {s} is {m:.4f} "
                         "inside the band")
        lines.append(f"   {'observable':<10} {'order: mean ± sd [min, max]':<35} {'half-width':>10} "
                     f"{'cover p':>13} {'p∞':>7} {'cover p∞':>13} {'t(p∞) mean, sd':>15} {'miss@fail':>9} "
                     f"{'unres.':>6}  statuses")
        for j, label in enumerate(c["label"] for c in r0["observables"]):
            comps = [r["observables"][j] for r in recs]
            fitted = [c for c in comps if math.isfinite(c["order"])]
            hw = [0.5 * (c["interval_95"][1] - c["interval_95"][0]) for c in fitted]
            st = {s: sum(c["status"] == s for c in comps) for s in STATUSES}
            pinf = limits.get(key, {}).get(label, {}).get("order", math.nan)
            cov_p = miss = cov_inf = t_s = "—"
            if fitted and true_order is not None:
                cov_p = _coverage([c["interval_95"][0] <= true_order <= c["interval_95"][1] for c in fitted])
                miss = f"{sum(not (c['fail_interval'][0] <= true_order <= c['fail_interval'][1]) for c in fitted)}"
            if fitted and math.isfinite(pinf):
                cov_inf = _coverage([c["interval_95"][0] <= pinf <= c["interval_95"][1] for c in fitted])
                t = np.array([(c["order"] - pinf) / c["standard_error"] for c in fitted])
                t_s = f"{t.mean():+.2f}, {t.std(ddof=1):.2f}" if t.size > 1 else f"{t[0]:+.2f}"
            lines.append(f"   {label:<10} {_stats([c['order'] for c in comps]):<35} "
                         f"{(np.mean(hw) if hw else math.nan):>10.4f} {cov_p:>13} {pinf:>7.4f} {cov_inf:>13} "
                         f"{t_s:>15} {miss:>9} {len(comps) - len(fitted):>6}  "
                         + ", ".join(f"{s} {st[s]}" for s in STATUSES))
        for j, label in enumerate(c["label"] for c in r0["observables"]):
            models = {}
            for r in recs:
                note = r["observables"][j]["note"] if math.isfinite(r["observables"][j]["order"]) else "no fit"
                models[note] = models.get(note, 0) + 1
            pm = limits.get(key, {}).get(label, {}).get("model", "?")
            lines.append(f"   {label} models fitted: " + "; ".join(f"{m} ×{k}" for m, k in sorted(models.items()))
                         + f" (noise-free fit: {pm})")
    correct = [m for m in methods if METHODS[m][3] == "not fail"]
    if correct:
        total = len(seeds) * len(correct)
        ff = sum(records[s][m]["verdict"] == "fail" for s in seeds for m in correct)
        lines.append("")
        lines.append(f"false failures of correct schemes: {ff} in {total} studies"
                     + (f" (95 % upper bound on the rate {upper_bound_zero(total):.4f})" if ff == 0 else ""))
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=300, help="number of seeds 0..S-1 (default 300)")
    p.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--scale", type=float, default=1.0, help="multiplies n of every study (default 1; < 1 is quicker)")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"comma-separated subset of {', '.join(METHODS)} (default: all)")
    p.add_argument("--band", type=float, default=BAND, help=f"accepted |order − claimed| (default {BAND:g})")
    p.add_argument("--processes", type=int, default=1, help="worker processes over seeds (default 1)")
    p.add_argument("--json", metavar="PATH", help="write every per-seed number to PATH")
    a = p.parse_args(argv)
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        p.error(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    if a.seeds < 1 or a.scale <= 0 or a.processes < 1 or not a.band > 0:
        p.error("--seeds and --processes must be ≥ 1, --scale and --band > 0")
    seeds = list(range(a.first_seed, a.first_seed + a.seeds))
    version = code_version()
    print(f"weak-order verdicts on {PROBLEM}: seeds {seeds[0]}..{seeds[-1]}, scale {a.scale:g}, band {a.band:g}, "
          f"methods {', '.join(methods)}, {a.processes} process(es); Python {platform.python_version()}, NumPy "
          f"{np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}; {version}", flush=True)
    tasks = [(s, methods, a.scale, a.band) for s in seeds]
    records = {}
    start = time.perf_counter()

    def report(seed, out) -> None:
        records[seed] = out
        text = "; ".join(f"{m} {r['verdict']} (" + ", ".join(
            f"{c['label']} {c['order']:.3f}" for c in r["observables"]) + ")" for m, r in out.items())
        print(f"[{len(records):>4}/{len(seeds)} {time.perf_counter() - start:8.1f} s] seed {seed}: {text}", flush=True)

    if a.processes == 1:
        for t in tasks:
            report(*run_seed(t))
    else:
        with multiprocessing.Pool(a.processes) as pool:
            for seed, out in pool.imap_unordered(run_seed, tasks, chunksize=1):
                report(seed, out)
    wall = time.perf_counter() - start
    limits = {METHODS[m][0]: noise_free_orders(METHODS[m][0]) for m in methods}
    print(summarise(records, methods, seeds, limits, a.band))
    print(f"\nwall time {wall:.1f} s ({wall / 60:.1f} min) for {len(seeds)} seeds")
    if a.json:
        payload = {"problem": PROBLEM, "band": a.band, "code": version, "scale": a.scale, "seeds": seeds,
                   "methods": methods, "processes": a.processes, "wall_seconds": wall,
                   "python": platform.python_version(),
                   "numpy": np.__version__, "noise_free_orders": limits, "records": [records[s] for s in seeds]}
        with open(a.json, "w") as fh:
            json.dump(payload, fh, indent=1, default=float)
        print(f"per-seed numbers written to {a.json}")


if __name__ == "__main__":
    main()
