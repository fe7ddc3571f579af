"""The ``twinflow`` command (also ``python -m verify``).

    twinflow list                                     the registered cases
    twinflow problems                                 the built-in problems
    twinflow run CASE|FILE.toml [--quick] [--json] [--seed S]
    twinflow report --out DIR [--quick] [--case NAME ...] [--seed S] [--jobs N] [--baseline FILE [--update-baseline]]
    twinflow compare OLD.json NEW.json                regressions and improvements between two runs
    twinflow history [CASE [CHECK]]                   the recorded runs, or a case's checks over them
    twinflow study PROBLEM|FILE.toml [--solver module:function] [--levels 32,64,128] [--refine space-time]
                   [--expected-order P] [--band B] [--seed S] [--out DIR] [--json] ...

Exit status: 0 when every check passed, 1 when one failed, 2 for usage and I/O errors (one line on stderr),
3 when nothing failed but a verdict is inconclusive, 130 when a report was interrupted (SIGINT or SIGTERM; the
report holds every case that finished).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

from verify.executors import EXECUTORS
from verify.harness import CaseResult, UnknownCaseError, get_case, registry, run_case

EXIT = {"pass": 0, "fail": 1, "inconclusive": 3}
EXIT_INTERRUPTED = 130  # SIGINT or SIGTERM: the report holds every case that finished


class UsageError(ValueError):
    """A command-line mistake: reported on one line, exit status 2."""


class _ReportProgress:
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
        mark = {"pass": "ok  ", "fail": "FAIL", "inconclusive": "INC "}[result.status]
        ok = sum(c.passed for c in result.checks)
        self.stream.write(f"{mark} {result.case:<32} {ok}/{len(result.checks)} checks "
                          f"{result.seconds:6.2f} s\n")
        self.stream.flush()


def _print_result(result: CaseResult, out: TextIO) -> None:
    out.write(f"{result.case}: {result.title}  (seed {result.seed})\n")
    for c in result.checks:
        mark = {"pass": "pass", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}[c.status]
        out.write(f"  [{mark}] {c.name}: {c.value:.4g} (accepted {c.band()})"
                  f"{'  — ' + c.detail if c.detail else ''}\n")
    if result.error:
        out.write(f"  ERROR {result.error}\n")
    word = {"pass": "PASSED", "fail": "FAILED", "inconclusive": "INCONCLUSIVE"}[result.status]
    out.write(f"{word} in {result.seconds:.2f} s\n")


def _import_cases(args) -> list[str]:
    """Import the modules named by --import (they register cases with @case), current directory first; returns
    the files of those that were loaded from a file (for Dask workers)."""
    from verify.studies import import_module

    files = []
    for name in getattr(args, "imports", None) or []:
        module = import_module(name, what=f"--import {name}")
        path = getattr(module, "__file__", None)
        if path and os.path.basename(path) != "__init__.py":
            files.append(path)
    return files


def _history_path(args) -> Path | None:
    if getattr(args, "no_history", False):
        return None
    return Path(args.history) if getattr(args, "history", None) else None


def _record(args, command: str, results: list, *, mode: str | None, status: str, seconds: float) -> Path | None:
    """Append the run to the history (unless --no-history); a history that cannot be used is a one-line warning:
    the command's own result and report stand."""
    from verify.history import DEFAULT_PATH, HistoryError, record_run
    from verify.report import _versions

    if getattr(args, "no_history", False):
        return None
    path = _history_path(args) or DEFAULT_PATH
    try:
        record_run(path, command, results, mode=mode, seed=getattr(args, "seed", None), status=status,
                   seconds=seconds, versions=_versions())
    except HistoryError as err:
        sys.stderr.write(f"twinflow: warning: {err}\n")
        return None
    return path


def _cmd_history(args, out: TextIO) -> int:
    from verify.history import DEFAULT_PATH, render_trend

    out.write(render_trend(_history_path(args) or DEFAULT_PATH, args.case, args.check) + "\n")
    return 0


def _cmd_list(args, out: TextIO) -> int:
    _import_cases(args)
    cases = registry()
    width = max(len(n) for n in cases)
    for name in sorted(cases):
        spec = cases[name]
        out.write(f"{name:<{width}}  {spec.title}  [{', '.join(spec.tags)}]\n")
    return 0


def _cmd_problems(args, out: TextIO) -> int:
    from verify.problems import get_problem, list_problems

    names = list_problems()
    width = max(len(n) for n in names)
    for name in names:
        p = get_problem(name)
        out.write(f"{name:<{width}}  {p.kind:<13} {p.dim}D  levels {','.join(map(str, p.levels))}  "
                  f"{p.description}\n")
    return 0


def _is_case_file(target: str) -> bool:
    return target.lower().endswith(".toml")


class CaseProgress:
    """A progress line for a case that runs longer than ``delay`` seconds: elapsed time, checks so far and the
    latest one. On a terminal the line is redrawn every second and erased at the end; elsewhere (a log) a line is
    written at most every ``every`` seconds."""

    def __init__(self, name: str, stream: TextIO, *, delay: float = 3.0, every: float = 10.0):
        self.name, self.stream, self.delay, self.every = name, stream, delay, every
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.checks = 0
        self.latest = ""
        self._stop = threading.Event()
        self._drawn = False

    def check(self, check) -> None:  # noqa: ANN001 - a verify.harness.Check
        self.checks += 1
        self.latest = check.name

    def _line(self, elapsed: float) -> str:
        latest = self.latest if len(self.latest) <= 60 else self.latest[:57] + "..."
        return (f"running {self.name}: {elapsed:.0f} s, {self.checks} check{'s' if self.checks != 1 else ''}"
                + (f" (latest: {latest})" if latest else ""))

    def _run(self) -> None:
        start = time.monotonic()
        if self._stop.wait(self.delay):
            return
        while True:
            line = self._line(time.monotonic() - start)
            if self.tty:
                self.stream.write("\r\033[K" + line)
            else:
                self.stream.write(line + "\n")
            self.stream.flush()
            self._drawn = True
            if self._stop.wait(1.0 if self.tty else self.every):
                return

    def __enter__(self) -> "CaseProgress":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self._stop.set()
        self._thread.join()
        if self._drawn and self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _cmd_run(args, out: TextIO) -> int:
    if _is_case_file(args.case):
        result = _study_from_args(args, target=args.case).result
    else:
        if args.solver:
            raise UsageError("--solver applies to case files (twinflow run FILE.toml --solver mod:f); to study a "
                             f"solver on a problem use twinflow study PROBLEM --solver {args.solver}")
        _import_cases(args)
        with CaseProgress(args.case, sys.stderr) as progress:
            result = run_case(args.case, quick=args.quick, seed=args.seed, on_check=progress.check)
    _record(args, " ".join(["run", args.case] + (["--quick"] if args.quick else [])), [result],
            mode="quick" if args.quick else "full", status=result.status, seconds=result.seconds)
    if args.json:
        out.write(json.dumps(result.to_dict(), indent=1, ensure_ascii=False) + "\n")
    else:
        _print_result(result, out)
    return EXIT[result.status]


def _check_out_dir(path: str) -> Path:
    """--out must be a directory that exists or can be created, and be writable: checked before any work."""
    if not path or not path.strip():
        raise UsageError("--out is empty; name the report directory, e.g. --out twinflow-report")
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory; choose another path")
    probe = out if out.exists() else next((p for p in out.absolute().parents if p.exists()), Path("."))
    if not probe.is_dir():
        raise UsageError(f"--out {out}: {probe} is not a directory, so {out} cannot be created; choose another path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: {probe} is not writable; choose another directory")
    return out


def _load_baseline_first(args) -> dict | None:
    """--baseline FILE is read and validated before anything runs; None when it is to be created."""
    from verify.baseline import BaselineError, load_baseline

    if args.update_baseline and not args.baseline:
        raise UsageError("--update-baseline needs --baseline FILE (the file to write)")
    if not args.baseline:
        return None
    path = Path(args.baseline)
    parent = path.absolute().parent
    if args.update_baseline and not (parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)):
        raise UsageError(f"--baseline {path}: the folder {parent} does not exist or is not writable")
    if not path.exists():
        if args.update_baseline:
            return None
        raise UsageError(f"--baseline {path}: no such file; create it with --update-baseline")
    try:
        return load_baseline(path)
    except BaselineError as err:
        if args.update_baseline:  # replaced on purpose; the unreadable file is kept as FILE.prev
            sys.stderr.write(f"twinflow: warning: {err}; it will be replaced (kept as {path.name}.prev)\n")
            return None
        raise


def _previous_seconds(target: Path, quick: bool) -> dict[str, float]:
    """Case durations from the report already in the output folder (same mode), to start the longest first."""
    try:
        previous = json.loads((target / "report.json").read_text(encoding="utf-8"))
        if previous.get("mode") != ("quick" if quick else "full"):
            return {}
        return {c["case"]: float(c["seconds"]) for c in previous.get("cases", [])}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _add_history_plots(report: dict, path: Path) -> None:
    """A plot per case of its checks over the recorded runs, where a check has at least two."""
    from verify.history import HistoryError, history_series

    for case in report["cases"]:
        try:
            lines = history_series(path, case["case"])
        except HistoryError:
            return
        case.setdefault("history", [s.to_dict() for s in lines])


def _cmd_report(args, out: TextIO) -> int:
    from verify.executors import run_cases
    from verify.report import build_report, write_report

    target = _check_out_dir(args.out)  # before the run, not after it
    if args.seeds is not None and (args.baseline or args.update_baseline):
        raise UsageError("--seeds measures calibration and writes no report to compare: leave out --baseline")
    baseline = _load_baseline_first(args)
    if args.scheduler and args.executor != "dask":
        raise UsageError("--scheduler needs --executor dask")
    uploads = _import_cases(args)
    names = args.case or sorted(registry())
    for name in names:
        get_case(name)  # fail early on a typo
    if args.seeds is not None:
        return _calibrate(args, out, target, names, uploads)
    progress = _ReportProgress(sys.stderr, len(names))
    start = time.perf_counter()
    finished: dict[str, CaseResult] = {}
    started: list[str] = []

    def partial(state: str) -> dict:
        results = [finished[n] for n in names if n in finished]
        return build_report(results, quick=args.quick, seconds=time.perf_counter() - start, seed=args.seed,
                            not_run=[n for n in names if n not in finished], state=state)

    def on_start(name: str) -> None:
        started.append(name)
        progress.update(len(started) - 1, name)

    def on_result(result: CaseResult) -> None:  # every finished case is on disk at once
        finished[result.case] = result
        progress.done(result)
        write_report(partial("running"), target, plots=False)

    outcome = run_cases(names, quick=args.quick, seed=args.seed, jobs=args.jobs, on_result=on_result,
                        on_start=on_start, expected_seconds=_previous_seconds(target, args.quick),
                        executor=args.executor, scheduler=args.scheduler, uploads=uploads)
    report = partial("interrupted" if outcome.interrupted else "complete")
    history = _record(args, "report" + (" --quick" if args.quick else ""), outcome.results,
                      mode=report["mode"], status="interrupted" if outcome.interrupted else report["summary"]["status"],
                      seconds=report["seconds"])
    if history is not None:
        _add_history_plots(report, history)
    paths = write_report(report, target, svgs=outcome.svgs)
    s = report["summary"]
    if outcome.interrupted:
        out.write(f"INTERRUPTED: {len(outcome.results)} of {len(names)} cases finished and are in the report; "
                  f"not run: {', '.join(outcome.not_run)}\n")
        out.write(f"report: {paths['html']}  ({paths['markdown'].name}, {paths['json'].name})\n")
        return EXIT_INTERRUPTED
    word = {"pass": "PASSED", "fail": "FAILED", "inconclusive": "INCONCLUSIVE"}[s["status"]]
    out.write(f"{word}: {s['cases_passed']}/{s['cases']} cases, "
              f"{s['checks_passed']}/{s['checks']} checks in {report['seconds']:.1f} s\n")
    out.write(f"report: {paths['html']}  ({paths['markdown'].name}, {paths['json'].name})\n")
    return _baseline_after(args, report, baseline, out, EXIT[s["status"]])


def _calibrate(args, out: TextIO, target: Path, names: list[str], uploads: list[str]) -> int:
    """report --seeds K: the stochastic cases over seeds S … S+K−1; calibration.json and calibration.md in --out."""
    from verify.calibration import calibrate
    from verify.files import write_set

    first = args.seed or 0
    seeds = list(range(first, first + args.seeds))

    def on_seed(seed: int, results: list[CaseResult]) -> None:
        failed = sum(c.status == "fail" for r in results for c in r.checks)
        sys.stderr.write(f"seed {seed}: {len(results)} cases, {failed} failed check{'s' if failed != 1 else ''}\n")

    cal = calibrate(names, seeds, quick=args.quick, jobs=args.jobs, executor=args.executor,
                    scheduler=args.scheduler, uploads=uploads, on_seed=on_seed)
    write_set(target, {"calibration.json": json.dumps(cal.to_dict(), indent=1) + "\n",
                       "calibration.md": cal.markdown()})
    flagged = cal.flagged
    out.write(f"{'INTERRUPTED' if cal.interrupted else cal.status.upper()}: {len(cal.checks)} checks of "
              f"{len(cal.stochastic)} stochastic cases over {len(cal.seeds)} seeds; {len(flagged)} flagged\n")
    for c in flagged:
        stated = "no stated rate" if c.stated is None else f"stated {c.stated:g}, p = {c.p_value:.2g}"
        seeds = ", ".join(str(s) for s in c.failed_seeds[:5]) + (" …" if len(c.failed_seeds) > 5 else "")
        out.write(f"  {c.case}: {c.check}: failed {c.failures} of {c.runs} ({stated}); seeds {seeds}\n")
    out.write(f"calibration: {target / 'calibration.md'}  (calibration.json)\n")
    if cal.interrupted:
        return EXIT_INTERRUPTED
    return EXIT[cal.status]


def _baseline_after(args, report: dict, baseline: dict | None, out: TextIO, code: int) -> int:
    """Compare with the baseline (regression → exit 1) and, with --update-baseline, write the new one."""
    from verify.baseline import baseline_from_report, compare, has_regression, render_changes, write_baseline

    if not args.baseline:
        return code
    if baseline is not None:
        changes = compare(baseline, baseline_from_report(report))
        out.write(f"compared with the baseline {args.baseline}:\n"
                  + render_changes(changes, baseline_seed=baseline.get("seed"), new_seed=report.get("seed")) + "\n")
        if has_regression(changes) and not args.update_baseline:
            return EXIT["fail"]
    if args.update_baseline:   # the cases of this run replace theirs; the others and all overrides are kept
        kept = write_baseline(args.baseline, baseline_from_report(report, baseline))
        out.write(f"baseline written: {args.baseline}" + (f" (the previous one kept as {kept})" if kept else "")
                  + "\n")
    return code


def _cmd_compare(args, out: TextIO) -> int:
    from verify.baseline import compare, has_regression, load_results, render_changes

    old, new = load_results(args.old), load_results(args.new)
    changes = compare(old, new)
    if args.json:
        out.write(json.dumps({"regression": has_regression(changes),
                              "changes": [c.to_dict() for c in changes if c.kind != "unchanged"]},
                             indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    else:
        out.write(render_changes(changes, baseline_seed=old.get("seed"), new_seed=new.get("seed")) + "\n")
    return EXIT["fail"] if has_regression(changes) else EXIT["pass"]


# ------------------------------------------------------------------------------------------------ study
def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{what} must be comma-separated integers, e.g. 32,64,128; got {text!r}") from None
    return values


def _band(text: str | None) -> Any:
    if text is None:
        return None
    try:
        parts = [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--band must be a number or below,above (e.g. 0.2 or 0.2,inf); got {text!r}") from None
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return tuple(parts)
    raise UsageError(f"--band must be a number or below,above; got {text!r}")


def _mass_tol(text: str | None) -> Any:
    if text is None:
        return True
    if text.lower() in ("none", "off"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--mass-tol must be a number > 0 or 'none'; got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"--mass-tol must be a number > 0 or 'none'; got {text!r}")
    return value


def _study_from_args(args, target: str):
    from verify.studies import StudyRequest, run_study

    overrides = dict(
        solver=getattr(args, "solver", None),
        levels=_int_list(args.levels, "--levels") if getattr(args, "levels", None) else None,
        refine=getattr(args, "refine", None), norm=getattr(args, "norm", None),
        steps=getattr(args, "steps", None), cells=getattr(args, "cells", None),
        expected_order=getattr(args, "expected_order", None), band=_band(getattr(args, "band", None)),
        mass_tol=_mass_tol(getattr(args, "mass_tol", None)), samples=getattr(args, "samples", None),
        replicates=getattr(args, "replicates", None),
        observables=tuple(o.strip() for o in args.observables.split(",")) if getattr(args, "observables", None)
        else None,
        particles=getattr(args, "particles", None), seed=args.seed,
        correction=True if getattr(args, "correction", False) else None)
    return run_study(StudyRequest(target=target, **overrides))


def _cmd_study(args, out: TextIO) -> int:
    if args.out:
        target_dir = _check_out_dir(args.out)
    outcome = _study_from_args(args, target=args.target)
    _record(args, f"study {args.target}" + (f" --solver {args.solver}" if args.solver else ""), [outcome.result],
            mode="study", status=outcome.result.status, seconds=outcome.result.seconds)
    if args.json:
        out.write(json.dumps(outcome.to_dict(), indent=1, ensure_ascii=False) + "\n")
    else:
        out.write(outcome.table + "\n")
    if args.out:
        from verify.report import build_report, write_report

        report = build_report([outcome.result], quick=False, seconds=outcome.result.seconds, seed=args.seed)
        paths = write_report(report, target_dir)
        plots = outcome.save_plots(target_dir)
        out.write(f"report: {paths['html']}  ({paths['markdown'].name}, {paths['json'].name}"
                  + "".join(f", {p.name}" for p in plots) + ")\n")
    return EXIT[outcome.result.status]


# ------------------------------------------------------------------------------------------------ parser
def _integer(minimum: int):
    """argparse type: an integer ≥ ``minimum``."""
    words = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer ≥ {minimum}")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {words}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {words}, got {value}")
        return value

    return parse


_seed, _positive, _at_least_two = _integer(0), _integer(1), _integer(2)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    import verify

    parser = argparse.ArgumentParser(
        prog="twinflow", description="Verify transport PDE solvers (grids and particles) against "
        "exact mathematics.", epilog="Exit status: 0 passed, 1 a check failed, 2 usage or I/O error, "
        "3 inconclusive (nothing failed, but a verdict could not be decided).")
    parser.add_argument("--version", action="version", version=f"twinflow {verify.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("list", help="list the verification cases")
    p.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                   help="import your module MODULE first (it registers cases with @verify.harness.case); "
                        "the current directory is searched first; repeatable")
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser("problems", help="list the built-in problems (for `twinflow study`)")
    p.set_defaults(func=_cmd_problems)
    p = sub.add_parser("run", help="run one case (or a TOML case file) and print its checks")
    p.add_argument("case", metavar="CASE", help="case name (see `twinflow list`) or a case file FILE.toml")
    p.add_argument("--quick", action="store_true", help="smaller problem sizes")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--seed", type=_seed, help="seed of every random stream (default: fixed per case)")
    p.add_argument("--solver", metavar="MODULE:FUNCTION", help="for a case file: the solver to study")
    p.add_argument("--history", metavar="PATH", help="the run history (SQLite; default .twinflow/history.sqlite)")
    p.add_argument("--no-history", action="store_true", help="do not record this run in the history")
    p.add_argument("--traceback", action="store_true", help="show the full traceback when your solver raises")
    p.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                   help="import your module MODULE first (it registers cases with @verify.harness.case); "
                        "the current directory is searched first; repeatable")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("report", help="run cases and write report.json, report.md, index.html")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    p.add_argument("--quick", action="store_true", help="smaller problem sizes")
    p.add_argument("--case", action="append", metavar="NAME",
                   help="run only this case (repeatable); default: all")
    p.add_argument("--seed", type=_seed, help="seed of every random stream (default: fixed per case)")
    p.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                   help="import your module MODULE first (it registers cases with @verify.harness.case); "
                        "the current directory is searched first; repeatable")
    p.add_argument("--history", metavar="PATH", help="the run history (SQLite; default .twinflow/history.sqlite)")
    p.add_argument("--no-history", action="store_true", help="do not record this run in the history")
    p.add_argument("--seeds", type=_at_least_two, metavar="K",
                   help="calibration instead of a report: rerun the stochastic cases over seeds S … S+K−1 (S from "
                        "--seed, default 0) and test each check's failure frequency against its stated false-alarm "
                        "rate; writes calibration.md and calibration.json into --out")
    p.add_argument("--jobs", type=_positive, default=1, metavar="N",
                   help="run the cases in N worker processes (same results as one at a time)")
    p.add_argument("--executor", choices=EXECUTORS, default="processes",
                   help="processes (default) or dask: a dask.distributed LocalCluster of --jobs workers, or the "
                        "cluster at --scheduler")
    p.add_argument("--scheduler", metavar="ADDRESS", help="with --executor dask: an existing scheduler, e.g. "
                   "tcp://10.0.0.5:8786 (workers need twinflow installed)")
    p.add_argument("--baseline", metavar="FILE", help="compare every check with this baseline; exit 1 on a "
                   "regression (read before the run: a corrupt or foreign file is an error)")
    p.add_argument("--update-baseline", action="store_true", help="write this run as the new baseline FILE "
                   "(atomically; the previous file is kept as FILE.prev)")
    p.set_defaults(func=_cmd_report)
    p = sub.add_parser("history", help="the recorded runs, or a case's checks over the runs")
    p.add_argument("case", nargs="?", metavar="CASE", help="a case (or study-PROBLEM) to show over the runs")
    p.add_argument("check", nargs="?", metavar="CHECK", help="only this check of the case")
    p.add_argument("--history", metavar="PATH", help="the run history (default .twinflow/history.sqlite)")
    p.set_defaults(func=_cmd_history)
    p = sub.add_parser("compare", help="compare two report.json or baseline files: regressions, improvements",
                       description="Compare every check of NEW with OLD (each a report.json or a baseline file). "
                       "Exit 1 when a check regressed, 0 otherwise.")
    p.add_argument("old", metavar="OLD", help="the reference: report.json or a baseline file")
    p.add_argument("new", metavar="NEW", help="the run to judge: report.json or a baseline file")
    p.add_argument("--json", action="store_true", help="print the changes as JSON")
    p.set_defaults(func=_cmd_compare)
    p = sub.add_parser(
        "study", help="convergence (or weak-order) study of a solver on a problem",
        description="Run a solver on a problem at several refinement levels, fit the order with a 95 %% "
        "interval and give a verdict against the expected order: pass (exit 0), fail (exit 1) or inconclusive "
        "(exit 3). --solver imports only the module you name, searching the current directory first; without "
        "--solver, twinflow's own solver for the problem's kind is studied.")
    p.add_argument("target", metavar="PROBLEM", help="a built-in problem (see `twinflow problems`) or FILE.toml")
    p.add_argument("--solver", metavar="MODULE:FUNCTION",
                   help="your solver: solve(problem, grid, steps) for grid problems, sample(problem, x0, steps, rng)"
                        " for particle problems")
    p.add_argument("--levels", metavar="N,N,...", help="cells per axis (grid problems) or step counts (particles, "
                   "and refine=time); default: the problem's")
    p.add_argument("--refine", choices=("space-time", "space", "time"), help="what is refined (default space-time "
                   "for grid problems: dt shrinks with h; time for particle problems)")
    p.add_argument("--norm", choices=("L1", "L2", "Linf"), help="error norm (default L1)")
    p.add_argument("--steps", type=_positive, help="fixed step count for --refine space")
    p.add_argument("--cells", type=_positive, help="fixed cells per axis for --refine time")
    p.add_argument("--expected-order", type=_number, metavar="P",
                   help="the claimed order (default: the order the solver declares)")
    p.add_argument("--band", metavar="B", help="accepted |measured − claimed| (default 0.2), or below,above")
    p.add_argument("--mass-tol", metavar="TOL", help="relative mass change allowed on mass-conserving problems "
                   "(default 1e-6; 'none' switches the check off)")
    p.add_argument("--samples", type=_positive, help="SDE problems: particles per replicate batch")
    p.add_argument("--replicates", type=_positive, help="SDE problems: independent replicate batches")
    p.add_argument("--observables", metavar="NAME,...", help="SDE problems: mean, covariance (default both)")
    p.add_argument("--particles", type=_positive, help="ODE problems: particles (default 1000)")
    p.add_argument("--correction", action="store_true", help="fit e = C h^p (1 + a h^q) instead of C h^p (at least 5 "
                   "levels; the interval is the union over q = 1, 2): for levels that are not yet asymptotic")
    p.add_argument("--seed", type=_seed, help="seed of the random numbers (default 0)")
    p.add_argument("--out", metavar="DIR", help="also write a report (report.json, report.md, index.html, plots)")
    p.add_argument("--json", action="store_true", help="print the study as JSON")
    p.add_argument("--history", metavar="PATH", help="the run history (SQLite; default .twinflow/history.sqlite)")
    p.add_argument("--no-history", action="store_true", help="do not record this run in the history")
    p.add_argument("--traceback", action="store_true", help="show the full traceback when your solver raises")
    p.set_defaults(func=_cmd_study)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    from verify.baseline import BaselineError
    from verify.casefile import CaseFileError
    from verify.executors import ExecutorError
    from verify.history import HistoryError
    from verify.convergence import SolverFailedError, SolverOutputError, StudyError
    from verify.problems import UnknownProblemError

    try:
        return args.func(args, out)
    except SolverFailedError as err:
        if getattr(args, "traceback", False):
            raise
        sys.stderr.write(f"twinflow: {err} (rerun with --traceback to see where)\n")
        return 2
    except (UnknownCaseError, UnknownProblemError, UsageError, StudyError, CaseFileError, BaselineError,
            HistoryError, ExecutorError) as err:
        sys.stderr.write(f"twinflow: {err}\n")
        return 2
    except SolverOutputError as err:
        sys.stderr.write(f"twinflow: the solver's output is unusable: {err}\n")
        return 2
    except OSError as err:
        sys.stderr.write(f"twinflow: {err.strerror or err}: {err.filename or ''}\n".replace(": \n", "\n"))
        return 2
    except ValueError as err:
        sys.stderr.write(f"twinflow: {err}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("twinflow: interrupted\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
