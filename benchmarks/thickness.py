"""How thick the report's catches are: every check a killed mutant fails, and by how much.

The mutation score (``benchmarks/mutation.py``) counts a mutant as killed when one check of one case fails; the
mutation tool stops there.  A catch by a single check at a narrow margin is fragile: a tolerance loosened by a
factor of two, or a case dropped, and the same bug passes.  This script takes the killed mutants of a mutation
sample (or a random subset of them), runs *every* report case that executes the mutated function under each
mutant, in quick mode, without stopping at the first failure, and records each failing check and its margin.

Margin of a failing check (value v, accepted band [lower, upper], reference r; r = the band's middle when the
check states none and has both bounds, else 0): the distance of v from r in units of the distance the band
allows on v's side, e.g. (v - r) / (upper - r) above the band.  1 is the edge of the band; a margin >= 2 still
fails with the allowed distance doubled; a non-finite value, or a band that allows no distance, is infinite.

A mutant's catch is **thick** when the cases raised (the run cannot finish: no tolerance lets it pass), or two
or more checks fail, or one check fails at a margin >= 2.  Otherwise it is **thin**: one check, within twice
its tolerance.  Prints and writes (``--out``): ``thickness.json`` (every failing check of every mutant) and
``thickness.md`` (the counts, the thick fraction with its 95 % Wilson interval, and every thin catch).

Reproduce (after a mutation run, whose work directory holds the generated mutants)::

    python benchmarks/mutation.py --sample 200 --seed S --skip-unit-tests --workdir W --out O
    python benchmarks/thickness.py --mutation O/mutation.json --workdir W --sample 50 --seed 1 --jobs 2 --out D
    # the same seed's first 100, running only the 50 not in D (a subset of a seed extends its smaller subsets)
    python benchmarks/thickness.py ... --sample 100 --seed 1 --previous D/thickness.json --out D2
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mutation import child_env, wilson  # noqa: E402  (benchmarks/mutation.py: the same environment and interval)

FIELDS = ("name", "value", "lower", "upper", "reference", "status")   # what is kept of a failing check
THICK_MARGIN = 2.0   # a single failing check this far beyond its band still fails with the tolerance doubled


def margin(check: dict) -> float:
    """How far a check's value lies from its reference, in units of the distance its band allows on that side
    (see the module docstring); ``check`` is :meth:`verify.harness.Check.to_dict`'s dictionary."""
    # the report's JSON writes non-finite numbers as "nan", "inf" and "-inf"
    v, lo, hi, r = (None if check.get(k) is None else float(check[k]) for k in ("value", "lower", "upper", "reference"))
    if v is None or not math.isfinite(v):
        return math.inf
    lo = -math.inf if lo is None else lo
    hi = math.inf if hi is None else hi
    if r is None:
        r = 0.5 * (lo + hi) if math.isfinite(lo) and math.isfinite(hi) else 0.0
    allowed = (hi - r) if v >= r else (r - lo)
    if not allowed > 0:
        return math.inf
    return abs(v - r) / allowed


def verdict(outcome: dict) -> str:
    """"thick-error", "thick-several", "thick-margin", "thin", "passed" (no check failed: the mutation tool's kill
    came from a timeout or another environment) or "timeout" for one mutant's outcome."""
    if outcome.get("timeout"):
        return "timeout"
    if any(c["error"] for c in outcome["cases"].values()):
        return "thick-error"
    failed = [f for c in outcome["cases"].values() for f in c["failed"]]
    if not failed:
        return "passed"
    if len(failed) >= 2:
        return "thick-several"
    return "thick-margin" if margin(failed[0]) >= THICK_MARGIN else "thin"


# ----------------------------------------------------------------------------- the child: one mutant's cases
def child(cases: list[str]) -> None:
    """Run ``cases`` (quick) in this process, which runs in mutmut's ``mutants/`` directory with
    MUTANT_UNDER_TEST set; print one JSON object: per case, its error and its failing checks."""
    sys.path.insert(0, os.getcwd())
    import verify
    from verify.harness import run_case

    if not Path(verify.__file__).resolve().is_relative_to(Path.cwd().resolve()):
        raise SystemExit(f"verify imported from {verify.__file__}, not from the mutants in {os.getcwd()}")
    out = {}
    for name in cases:
        t0 = time.perf_counter()
        result = run_case(name, quick=True)
        out[name] = {"error": None if result.error is None else str(result.error).splitlines()[-1][:300],
                     "checks": len(result.checks), "seconds": round(time.perf_counter() - t0, 2),
                     "failed": [{k: c.to_dict()[k] for k in FIELDS} for c in result.checks if not c.passed]}
    print(json.dumps(out))


def run_mutant(row: dict, mutants_dir: Path, timeout: float) -> dict:
    env = child_env()
    env["MUTANT_UNDER_TEST"] = row["mutant"]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", ",".join(row["cases"])]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=mutants_dir, env=env, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"mutant": row["mutant"], "timeout": True, "cases": {}, "seconds": timeout}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        cases = {"(process)": {"error": f"exit {p.returncode}: " + (p.stderr.strip().splitlines() or [""])[-1][:300],
                               "checks": 0, "seconds": 0.0, "failed": []}}
    else:
        cases = json.loads(lines[-1])
    return {"mutant": row["mutant"], "timeout": False, "cases": cases, "seconds": round(time.perf_counter() - t0, 1)}


# --------------------------------------------------------------------------------------------------- summary
def summarise(outcomes: list[dict], rows: dict, meta: dict) -> tuple[dict, str]:
    kinds = Counter(verdict(o) for o in outcomes)
    judged = [o for o in outcomes if verdict(o) not in ("passed", "timeout")]
    thick = sum(verdict(o).startswith("thick") for o in judged)
    lo, hi = wilson(thick, len(judged))
    counts = sorted(sum(len(c["failed"]) for c in o["cases"].values()) for o in judged)
    summary = {**meta, "mutants": len(outcomes), "verdicts": dict(kinds), "judged": len(judged), "thick": thick,
               "thick_fraction": thick / len(judged) if judged else float("nan"), "thick_wilson_95": [lo, hi],
               "median_failing_checks": counts[len(counts) // 2] if counts else None, "outcomes": outcomes}
    md = ["# How thick the report's catches are", "",
          f"Mutation sample: `{meta['mutation']}` (seed {meta['mutation_seed']}); killed mutants run: "
          f"{len(outcomes)} ({'subset seed ' + str(meta['seed']) if meta.get('subset', True) else 'all'}), "
          "every covering case in quick mode, no stop at the first "
          f"failure. Thick: the cases raised, or >= 2 checks fail, or one fails at margin >= {THICK_MARGIN:g} "
          "(see benchmarks/thickness.py).", "",
          f"- thick: **{thick} of {len(judged)}** ({100 * summary['thick_fraction']:.1f} %, 95 % Wilson "
          f"[{100 * lo:.1f}, {100 * hi:.1f}] %); median number of failing checks per mutant: "
          f"{summary['median_failing_checks']}",
          "- verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
          f"- run time: {meta['seconds']:.0f} s with {meta['jobs']} jobs"
          + (f", besides {meta['previous_seconds']:.0f} s for the outcomes of --previous"
             if meta.get("previous_seconds") else ""), ""]
    thin = [o for o in outcomes if verdict(o) == "thin"]
    if thin:
        md += ["## Thin catches (one check, within twice its tolerance)", ""]
    for o in thin:
        case, c = next((k, f) for k, v in o["cases"].items() for f in v["failed"])
        md += [f"### `{o['mutant']}`", "", f"{case}: {c['name']}: value {c['value']!r}, band "
               f"[{c['lower']}, {c['upper']}], reference {c['reference']}; margin {margin(c):.3g}", "",
               "```diff", rows[o["mutant"]].get("diff", "").rstrip(), "```", ""]
    return summary, "\n".join(md) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutation", type=Path, help="mutation.json of a mutation run")
    ap.add_argument("--workdir", type=Path, help="that run's --workdir (it holds report/mutants/)")
    ap.add_argument("--sample", type=int, default=0, help="run this many killed mutants (0: all)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the subset")
    ap.add_argument("--mutants", default="", help="comma-separated mutant names instead of a subset")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per mutant (all its cases)")
    ap.add_argument("--previous", type=Path, help="a thickness.json of the same sample: its mutants are not run "
                    "again, their outcomes are counted (a larger subset of the same seed extends a smaller one)")
    ap.add_argument("--out", type=Path, default=HERE / "mutation" / "thickness")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child.split(","))
        return
    if args.mutation is None or args.workdir is None:
        ap.error("--mutation and --workdir are required")
    try:
        data = json.loads(args.mutation.read_text())
        previous = json.loads(args.previous.read_text()) if args.previous is not None else None
    except (OSError, ValueError) as exc:
        ap.error(f"cannot read {exc.filename if isinstance(exc, OSError) else 'a JSON file'}: {exc}")
    mutants_dir = args.workdir / "report" / "mutants"
    if not mutants_dir.is_dir():
        ap.error(f"{mutants_dir} does not exist: pass the --workdir of the mutation run that wrote {args.mutation}")
    rows = {r["mutant"]: r for r in data["mutants"]}
    unknown = [m for m in args.mutants.split(",") if m and m not in rows]
    if unknown:
        ap.error(f"--mutants: {unknown[0]!r} is not a mutant of {args.mutation}")
    if args.mutants:
        chosen = [rows[m] for m in args.mutants.split(",")]
    else:
        killed = [r for r in data["mutants"] if r["report"] == "killed"]
        chosen = killed if not args.sample else random.Random(args.seed).sample(killed, min(args.sample, len(killed)))
    outcomes, previous_seconds = [], 0.0
    if previous is not None:
        wanted = {r["mutant"] for r in chosen}
        outcomes = [o for o in previous["outcomes"] if o["mutant"] in wanted]
        done = {o["mutant"] for o in outcomes}
        chosen = [r for r in chosen if r["mutant"] not in done]
        previous_seconds = previous.get("seconds", 0.0) + previous.get("previous_seconds", 0.0)
        print(f"{len(outcomes)} outcomes from {args.previous}; {len(chosen)} mutants to run", flush=True)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        for o in pool.map(lambda r: run_mutant(r, mutants_dir, args.timeout), chosen):
            outcomes.append(o)
            print(f"[{time.perf_counter() - t0:7.0f} s] {verdict(o):14s} {o['mutant']}", flush=True)
    meta = {"mutation": str(args.mutation), "mutation_seed": data.get("seed"), "seed": args.seed,
            "subset": bool(args.sample) and not args.mutants,
            "jobs": args.jobs, "seconds": time.perf_counter() - t0, "previous_seconds": previous_seconds,
            "thick_margin": THICK_MARGIN}
    summary, md = summarise(outcomes, rows, meta)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "thickness.json").write_text(json.dumps(summary) + "\n")
    (args.out / "thickness.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
