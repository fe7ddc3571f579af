"""Does the report pass on every CPU? The report under each of OpenBLAS's kernels, compared check by check.

NumPy's and SciPy's wheels ship OpenBLAS built for many CPUs (DYNAMIC_ARCH) and pick the kernels at run time.
Kernels round differently (different blocking and FMA use), so a round-off quantity, an iteration count that ends
at a tolerance, or a step at which a drift passes its bound can differ between two machines with the same
versions of everything. A bound measured on one CPU may then fail on a newcomer's. ``OPENBLAS_CORETYPE`` forces a
kernel, so one machine can run the report as other CPUs would (x86-64 only: the kernels must run on this CPU).

This script runs ``twinflow report`` once per kernel (same seeds), then prints
  1. the checks that fail under some kernel (exit 1 if any);
  2. the checks whose values differ between kernels, closest to their bounds first: the value under each kernel,
     the bound, and how much of the distance to the bound the spread takes.

Run:  python benchmarks/blas_kernels.py [--kernels Haswell SkylakeX Sandybridge] [--full] [--case NAME ...]
      [--import MODULE ...] [--jobs 2] [--keep DIR]     # quick report, three kernels: about 3 min on the 2-core machine
Results: benchmarks/RESULTS.md ("The report failed on this machine's CPU: bounds now set over OpenBLAS's kernels").
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Haswell: AVX2 machines (and AMD Zen); SkylakeX: AVX-512; Sandybridge: AVX only, as the older cores
DEFAULT_KERNELS = ("Haswell", "SkylakeX", "Sandybridge")


@dataclass(frozen=True)
class Spread:
    """One check across kernels: ``values[k]`` under kernel k, ``failed`` the kernels under which it failed."""

    case: str
    check: str
    values: dict
    lower: float | None
    upper: float | None
    failed: tuple

    @property
    def margin(self) -> float:
        """The smallest distance of a value to a bound, over the spread of the values (inf when they agree,
        below 1 when another kernel's spread could reach the bound, negative when one is past it)."""
        vals = [v for v in self.values.values() if math.isfinite(v)]
        if len(vals) < len(self.values):
            return -math.inf
        spread = max(vals) - min(vals)
        room = math.inf
        if self.upper is not None:
            room = min(room, self.upper - max(vals))
        if self.lower is not None:
            room = min(room, min(vals) - self.lower)
        if spread == 0.0:
            return math.inf if room >= 0 else -math.inf
        return room / spread


def checks_of(report: dict) -> dict:
    """(case, check) -> the check's record, from a report.json."""
    return {(c["case"], k["name"]): k for c in report["cases"] for k in c["checks"]}


def compare(reports: dict) -> list:
    """The checks that fail under some kernel or whose values differ, least margin first (``reports``: kernel ->
    report.json). Checks missing under some kernel (a case that errored) count as failed there."""
    tables = {k: checks_of(r) for k, r in reports.items()}
    keys = sorted(set().union(*(t.keys() for t in tables.values())))
    rows = []
    for key in keys:
        records = {k: t.get(key) for k, t in tables.items()}
        failed = tuple(k for k, rec in records.items() if rec is None or not rec["passed"])
        values = {k: float(rec["value"]) if rec is not None and rec["value"] is not None else math.nan
                  for k, rec in records.items()}
        same = len({repr(v) for v in values.values()}) == 1
        if same and not failed:
            continue
        some = next(rec for rec in records.values() if rec is not None)
        rows.append(Spread(key[0], key[1], values, some["lower"], some["upper"], failed))
    return sorted(rows, key=lambda r: (not r.failed, r.margin))


def run_report(kernel: str, out: Path, args: argparse.Namespace) -> tuple[dict, str]:
    """``twinflow report`` with OPENBLAS_CORETYPE=kernel; the report and the kernel OpenBLAS actually chose."""
    env = dict(os.environ, OPENBLAS_CORETYPE=kernel, OPENBLAS_VERBOSE="2", OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "verify", "report", "--out", str(out), "--jobs", str(args.jobs), "--no-history"]
    cmd += [] if args.full else ["--quick"]
    for name in args.case:
        cmd += ["--case", name]
    for module in args.imports:
        cmd += ["--import", module]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"the report under {kernel} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    chosen = re.findall(r"Core: (\w+)", proc.stdout + proc.stderr)
    return json.loads((out / "report.json").read_text()), (chosen[0] if chosen else "?")


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", nargs="+", default=list(DEFAULT_KERNELS), help="OPENBLAS_CORETYPE values")
    parser.add_argument("--full", action="store_true", help="the full report (default: quick)")
    parser.add_argument("--case", action="append", default=[], help="only this case (repeatable)")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="also your cases (as twinflow report --import; repeatable)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the reports in DIR/<kernel>/")
    parser.add_argument("--show", type=int, default=25, help="rows of differing checks to print")
    args = parser.parse_args(argv)
    if len(args.kernels) < 2:
        parser.error("--kernels: name at least two kernels to compare")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        reports, chosen = {}, {}
        for kernel in args.kernels:
            reports[kernel], chosen[kernel] = run_report(kernel, root / kernel, args)
            s = reports[kernel]["summary"]
            print(f"{kernel:12s} (OpenBLAS chose {chosen[kernel]}): {s['cases_passed']}/{s['cases']} cases, "
                  f"{s['checks_passed']}/{s['checks']} checks passed", flush=True)
    rows = compare(reports)
    failing = [r for r in rows if r.failed]
    print(f"\n{len(failing)} checks fail under some kernel; {len(rows) - len(failing)} more differ between kernels")
    names = "  ".join(f"{k:>10s}" for k in args.kernels)
    print(f"{'margin':>7s}  {names}  {'bound':>16s}  case: check")
    for r in failing + [r for r in rows if not r.failed][:args.show]:
        bound = f"[{r.lower if r.lower is not None else '':}, {r.upper if r.upper is not None else ''}]"
        vals = "  ".join(f"{r.values[k]:10.4g}" for k in args.kernels)
        flag = " FAIL " + ",".join(r.failed) if r.failed else ""
        print(f"{r.margin:7.3g}  {vals}  {bound:>16s}  {r.case}: {r.check[:90]}{flag}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
