"""The ``twinflow`` command (also ``python -m verify``).

    twinflow list                       the registered cases
    twinflow run CASE [--quick] [--json]  run one case; exit 1 if a check fails
    twinflow report --out DIR [--quick] [--case NAME ...]  run cases, write the report

Exit status: 0 when every check passed, 1 when one failed, 2 for usage errors.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Sequence, TextIO

from verify.harness import CaseResult, UnknownCaseError, get_case, registry, run_case


class _Progress:
    """One status line on a terminal (stderr), silent when stderr is not a terminal."""

    def __init__(self, stream: TextIO, total: int):
        self.stream = stream
        self.total = total
        self.live = hasattr(stream, "isatty") and stream.isatty()
        self.start = time.perf_counter()

    def update(self, i: int, name: str) -> None:
        if self.live:
            elapsed = time.perf_counter() - self.start
            self.stream.write(f"\r\033[K[{i + 1}/{self.total}] {name} … ({elapsed:.0f} s)")
            self.stream.flush()

    def done(self, result: CaseResult) -> None:
        if self.live:
            self.stream.write("\r\033[K")
        mark = "ok  " if result.passed else "FAIL"
        ok = sum(c.passed for c in result.checks)
        self.stream.write(f"{mark} {result.case:<32} {ok}/{len(result.checks)} checks "
                          f"{result.seconds:6.2f} s\n")
        self.stream.flush()


def _print_result(result: CaseResult, out: TextIO) -> None:
    out.write(f"{result.case}: {result.title}\n")
    for c in result.checks:
        mark = "pass" if c.passed else "FAIL"
        out.write(f"  [{mark}] {c.name}: {c.value:.4g} (accepted {c.band()})"
                  f"{'  — ' + c.detail if c.detail else ''}\n")
    if result.error:
        out.write(f"  ERROR {result.error}\n")
    out.write(f"{'PASSED' if result.passed else 'FAILED'} in {result.seconds:.2f} s\n")


def _cmd_list(args, out: TextIO) -> int:
    cases = registry()
    width = max(len(n) for n in cases)
    for name in sorted(cases):
        spec = cases[name]
        out.write(f"{name:<{width}}  {spec.title}  [{', '.join(spec.tags)}]\n")
    return 0


def _cmd_run(args, out: TextIO) -> int:
    result = run_case(args.case, quick=args.quick)
    if args.json:
        out.write(json.dumps(result.to_dict(), indent=1, ensure_ascii=False) + "\n")
    else:
        _print_result(result, out)
    return 0 if result.passed else 1


def _cmd_report(args, out: TextIO) -> int:
    from verify.report import build_report, write_report

    names = args.case or sorted(registry())
    for name in names:
        get_case(name)  # fail early on a typo
    progress = _Progress(sys.stderr, len(names))
    start = time.perf_counter()
    results = []
    for i, name in enumerate(names):
        progress.update(i, name)
        result = run_case(name, quick=args.quick)
        progress.done(result)
        results.append(result)
    report = build_report(results, quick=args.quick, seconds=time.perf_counter() - start)
    paths = write_report(report, args.out)
    s = report["summary"]
    out.write(f"{'PASSED' if s['passed'] else 'FAILED'}: {s['cases_passed']}/{s['cases']} cases, "
              f"{s['checks_passed']}/{s['checks']} checks in {report['seconds']:.1f} s\n")
    out.write(f"report: {paths['html']}  ({paths['markdown'].name}, {paths['json'].name})\n")
    return 0 if s["passed"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twinflow", description="Verify transport PDE solvers (grids and particles) against "
        "exact mathematics.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("list", help="list the verification cases")
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser("run", help="run one case and print its checks")
    p.add_argument("case", metavar="CASE", help="case name (see `twinflow list`)")
    p.add_argument("--quick", action="store_true", help="smaller problem sizes")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("report", help="run cases and write report.json, report.md, index.html")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    p.add_argument("--quick", action="store_true", help="smaller problem sizes")
    p.add_argument("--case", action="append", metavar="NAME",
                   help="run only this case (repeatable); default: all")
    p.set_defaults(func=_cmd_report)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        return args.func(args, out)
    except UnknownCaseError as err:
        sys.stderr.write(f"twinflow: {err}\n")
        return 2
    except ValueError as err:
        sys.stderr.write(f"twinflow: {err}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
