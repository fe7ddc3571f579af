"""Which lines and branches of the library the verification report runs: the report under coverage.py.

A line that no report case executes is a certain hole of the report: any change there, right or wrong, passes it.
This script runs the report (quick by default) in this process under coverage.py with branch coverage, over
`eulerian/`, `lagrangian/` and `verify/gaussian.py` (the code the report verifies), and prints
  1. per file: statements, missed, branches, partial branches, coverage;
  2. the lines that no case runs, per function, in three kinds (by the syntax around them):
     - error paths: inside a `raise` statement or an `except` clause (the bad-input catalog's business),
     - GPU paths: in a function or an `if` branch that names CuPy/CUDA (no GPU here),
     - the rest: computational code no case runs; each is a hole to close or to explain;
  3. the branch arcs never taken (src -> dest) outside error paths.

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/report_coverage.py [--full] [--json PATH]
      (needs coverage.py: `pip install coverage`; the quick report under it takes about 2.5 min on the 2-core
      machine, single process.)
Results: benchmarks/RESULTS.md ("What the report runs").
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import ast  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MEASURED = ("eulerian", "lagrangian", "verify/gaussian.py")
GPU_WORDS = ("cupy", "cuda", "_kernels", "RawModule", ".get()")


def measured_files() -> list[Path]:
    files = []
    for m in MEASURED:
        p = ROOT / m
        files += sorted(p.glob("*.py")) if p.is_dir() else [p]
    return files


class Kinds(ast.NodeVisitor):
    """Line -> (kind, enclosing function) for one module: 'error' inside raise statements and except clauses,
    'gpu' inside functions or if-branches whose source names CuPy/CUDA, else 'code'."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.kind: dict[int, str] = {}
        self.func: dict[int, str] = {}
        self.visit(ast.parse(source))

    def _span(self, node: ast.AST) -> range:
        return range(node.lineno, (node.end_lineno or node.lineno) + 1)

    def _mark(self, node: ast.AST, kind: str) -> None:
        for ln in self._span(node):
            if kind == "error" or self.kind.get(ln) != "error":
                self.kind[ln] = kind

    def _gpu(self, node: ast.AST) -> bool:
        text = ast.get_source_segment(self.source, node) or ""
        return any(w in text for w in GPU_WORDS)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for ln in self._span(node):
            self.func[ln] = node.name
        doc = (ast.get_docstring(node) or "").lower().split("\n\n")[0]  # the summary
        if any(w in node.name.lower() for w in ("cupy", "cuda", "gpu", "kernel")) or \
                any(w in doc for w in ("cupy", "cuda", "gpu")):
            self._mark(node, "gpu")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if self._gpu(node.test):
            for stmt in node.body:
                self._mark(stmt, "gpu")
        self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        if any(self._gpu(stmt) for stmt in node.body if isinstance(stmt, (ast.Import, ast.ImportFrom))):
            self._mark(node, "gpu")
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        self._mark(node, "error")

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self._mark(node, "error")
        self.generic_visit(node)


def analyse(cov) -> tuple[list, dict, list, list]:
    """(per-file rows, {(file, function, kind): uncovered lines}, uncovered branch arcs, totals) of a coverage run."""
    rows, uncovered, arcs = [], defaultdict(list), []
    totals = [0, 0, 0, 0]
    for path in measured_files():
        rel = str(path.relative_to(ROOT))
        an = cov._analyze(str(path))  # noqa: SLF001 - the public analysis2 gives no branch arcs
        n = an.numbers
        rows.append((rel, n.n_statements, n.n_missing, n.n_branches, n.n_partial_branches, n.pc_covered))
        for i, v in enumerate((n.n_statements, n.n_missing, n.n_branches, n.n_partial_branches)):
            totals[i] += v
        kinds = Kinds(path.read_text())
        for ln in sorted(an.missing):
            uncovered[(rel, kinds.func.get(ln, "<module>"), kinds.kind.get(ln, "code"))].append(ln)
        for src, dests in sorted(an.missing_branch_arcs().items()):
            kept = [d for d in dests if kinds.kind.get(abs(d)) != "error"]
            if kinds.kind.get(src) == "error" or not kept:
                continue
            arcs.append((rel, kinds.func.get(src, "<module>"), src, kept))
    return rows, uncovered, arcs, totals


def run_report(full: bool, out: Path) -> int:
    """``twinflow report`` in this process (one worker, so that every case runs under the tracer)."""
    from verify.cli import main as twinflow

    return twinflow(["report", "--out", str(out), "--no-history", "--jobs", "1"] + ([] if full else ["--quick"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full report instead of the quick one")
    parser.add_argument("--json", type=Path, default=None, help="write the uncovered lines and arcs here")
    parser.add_argument("--data", type=Path, default=None,
                        help="analyse this coverage data file of an earlier run instead of running the report")
    args = parser.parse_args()
    try:
        import coverage
    except ImportError:
        print("SKIPPED: coverage.py is not installed (pip install coverage)")
        return 0
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp) / ".coverage"
        cov = coverage.Coverage(data_file=str(data), branch=True,  # source takes folders: all of verify, read in part
                                source=[str(ROOT / m.split("/")[0]) for m in MEASURED])
        code, seconds = None, None
        if args.data is None:
            start = time.perf_counter()
            cov.start()
            try:
                code = run_report(args.full, Path(tmp) / "report")
            finally:
                cov.stop()
            seconds = time.perf_counter() - start
            print(f"\nreport exit code {code}, {seconds:.0f} s under coverage\n")
        else:
            cov.load()
        rows, uncovered, arcs, totals = analyse(cov)
    width = max(len(r[0]) for r in rows)
    print(f"{'file':<{width}}  stmts  miss  branches  partial  cover")
    for rel, s, m, b, p, pc in rows:
        print(f"{rel:<{width}}  {s:5d}  {m:4d}  {b:8d}  {p:7d}  {pc:5.1f} %")
    s, m, b, p = totals
    print(f"{'total':<{width}}  {s:5d}  {m:4d}  {b:8d}  {p:7d}  {100.0 * (s - m + b - p) / (s + b):5.1f} %"
          "  (lines and branches, partial ones as missed)\n")
    count = defaultdict(int)
    for (rel, func, kind), lines in uncovered.items():
        count[kind] += len(lines)
    print(f"lines no case runs: {count['code']} computational, {count['error']} on error paths, "
          f"{count['gpu']} on GPU paths")
    for kind, title in (("code", "computational lines no case runs"), ("gpu", "GPU paths (no GPU here)")):
        print(f"\n{title}:")
        for (rel, func, k), lines in sorted(uncovered.items()):
            if k == kind:
                print(f"  {rel}:{func}: {', '.join(map(str, lines))}")
    print(f"\nbranch arcs never taken outside error paths ({len(arcs)}):")
    for rel, func, src, dests in arcs:
        print(f"  {rel}:{func}: {src} -> {', '.join(map(str, dests)) or 'exit'}")
    if args.json:
        args.json.write_text(json.dumps({
            "report_exit_code": code, "seconds": seconds, "full": args.full,
            "files": [dict(zip(("file", "statements", "missing", "branches", "partial", "percent"), r)) for r in rows],
            "uncovered": [{"file": rel, "function": func, "kind": kind, "lines": lines}
                          for (rel, func, kind), lines in sorted(uncovered.items())],
            "arcs": [{"file": rel, "function": func, "from": src, "to": dests} for rel, func, src, dests in arcs],
        }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
