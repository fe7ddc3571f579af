"""Mutation score of the verification report, measured with mutmut.

Mutates ``eulerian/``, ``lagrangian/`` and ``verify/gaussian.py`` with mutmut (pinned: 3.8.1), runs a
uniform random sample of the mutants (stratified by file, fixed seed) against the quick report -- one
pytest test per registered case (``benchmarks/mutation/test_report_cases.py``), so mutmut's per-test
coverage runs, for each mutant, only the cases that execute the mutated function -- then runs the
report's survivors (and the mutants no case executes) against the unit test suite, again with mutmut's
per-test selection.  Prints and writes (``--out``, default ``benchmarks/mutation/results/``):

* ``mutation.json``: every figure, every sampled mutant with its status and diff;
* ``mutation.md``: the tables (by file and in total, the score with a 95 % Wilson interval) and every
  mutant the report did not kill, with its diff, its test-suite verdict and its classification.

Classes of the survivors: ``equivalent`` (no output can change), ``near-equivalent`` (changes only below
every tolerance, e.g. one more solver iteration), ``hole-report`` (a numerical path or option that the report
does not run or check: a wrong scheme passes), ``gpu-only`` (CuPy code, not runnable on a CPU machine),
``outside-report`` (input validation, messages, API plumbing: resolved to ``caught-by-tests`` or
``hole-tests`` by the unit-test pass), ``message-only`` (found automatically: the mutant changes nothing but
the arguments of a raised exception, i.e. its message; see ``message_only_change``).  Classifications (mutant
name -> class, why) live in ``benchmarks/mutation/classification.json`` (key: mutmut's mutant name; the stored
diff must match, or the entry is reported as stale); the score over non-equivalent mutants is computed from it,
and a second figure leaves the message-only survivors out as well.

Reproduce (one worker; about 45 minutes on a 2-core machine)::

    pip install -e '.[test]' mutmut==3.8.1
    python benchmarks/mutation.py                     # --sample 300 --seed 20240611
    python benchmarks/mutation.py --quick-check       # smoke test: 4 mutants, a few minutes
    # after closing holes: the same sample again, only its survivors run (a re-measure, biased upwards)
    python benchmarks/mutation.py --rerun-survivors-of benchmarks/mutation/results/fc7c4bd/mutation.json

mutmut runs in a staged copy of the sources (``--workdir``, default ``$TMPDIR/twinflow-mutation``), with
its configuration written into the staged ``pyproject.toml``, so the checkout gets no ``mutants/`` folder
and no configuration change.  Mutmut's own limitations apply: it does not mutate decorated functions
(other than ``@staticmethod``/``@classmethod``), module-level code or class bodies.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import textwrap
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "mutation"
MUTMUT_VERSION = "3.8.1"

SOURCE_PATHS = ["eulerian", "lagrangian", "verify"]          # copied into mutants/ (imports come from there)
MUTATE = ["eulerian/*", "lagrangian/*", "verify/gaussian.py"]  # what is mutated
REPORT_TESTS = ["benchmarks/mutation/test_report_cases.py"]
# Left out: tests that start the CLI, dask workers, a browser or an inner pytest in fresh processes or need a real
# terminal; those inherit mutmut's
# MUTANT_UNDER_TEST=stats but not its configuration and fail (they test the harness, not the mutated modules).
UNIT_TESTS = ["tests/eulerian", "tests/lagrangian", "tests/verify", "tests/test_bad_input_hypothesis.py",
              "--ignore=tests/verify/test_dask.py", "--ignore=tests/verify/test_pytest_plugin.py",
              "--ignore=tests/verify/test_html_browser.py", "--ignore=tests/verify/test_report_cli.py",
              "--ignore=tests/verify/test_studies_cli.py",
              "--deselect=tests/verify/test_executors.py::test_cli_signal_leaves_a_valid_partial_report_and_no_traceback"]
QUICK_UNIT_TESTS = ["tests/verify/test_gaussian.py"]
STAGED = ["eulerian", "lagrangian", "verify", "tests", "conftest.py", "pyproject.toml",
          "benchmarks/mutation/test_report_cases.py"]

DEFAULT_SAMPLE = 300
DEFAULT_SEED = 20240611

KILLED_CODES = {1, 3}
SURVIVED_CODES = {0}
NO_TESTS_CODES = {5, 33}
TIMEOUT_CODES = {-24, 24, 152, 255, 36}


def status_of(code):
    if code is None:
        return "not checked"
    if code in KILLED_CODES:
        return "killed"
    if code in SURVIVED_CODES:
        return "survived"
    if code in NO_TESTS_CODES:
        return "no coverage"
    if code in TIMEOUT_CODES:
        return "timeout"
    if code in (-9, -11):
        return "crashed"
    return "suspicious"


def wilson(k, n, z=1.959963984540054):
    """95 % Wilson score interval of k successes in n trials."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


# ---------------------------------------------------------------------------------------------- staging
def tracked_files():
    """Files of the checkout (tracked plus untracked-not-ignored), or a plain walk without git."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        return [p for p in out.splitlines() if p and (ROOT / p).is_file()]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for dirpath, dirnames, filenames in os.walk(ROOT):
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
            files += [str(Path(dirpath, f).relative_to(ROOT)) for f in filenames if not f.endswith(".pyc")]
        return files


def stage(dest: Path, tests: list[str], args) -> None:
    """Copy the sources and tests into ``dest`` and write mutmut's configuration into its pyproject."""
    if dest.exists():
        shutil.rmtree(dest)
    for rel in tracked_files():
        if any(rel == s or rel.startswith(s + "/") for s in STAGED):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, target)
    conf = {
        "source_paths": SOURCE_PATHS,
        "only_mutate": MUTATE,
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "--hypothesis-seed=0"],
        "also_copy": ["conftest.py", "benchmarks/mutation"],
        "process_isolation": "forkserver",   # workers never inherit state (lru caches) from the stats run
        "timeout_multiplier": args.timeout_multiplier,
        "timeout_constant": args.timeout_constant,
        "use_setproctitle": False,
        "use_git_change_detection": False,
        # debug: pytest's own output goes to the log (without it a failing stats run says only "returned 1")
        "debug": True,
    }
    lines = ["", "[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in conf.items()]
    with open(dest / "pyproject.toml", "a") as f:
        f.write("\n".join(lines) + "\n")


def child_env():
    env = {k: v for k, v in os.environ.items() if k != "MUTANT_UNDER_TEST"}
    env.update(PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    return env


def run_logged(cmd, cwd: Path, log: Path, memory_gb: float):
    """Run ``cmd`` in ``cwd`` with its output appended to ``log``; address space capped at ``memory_gb``."""
    def limits():
        cap = int(memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(cmd[:6])}{' ...' if len(cmd) > 6 else ''}  (cwd {cwd})\n")
        f.flush()
        rc = subprocess.run(cmd, cwd=cwd, env=child_env(), stdout=f, stderr=subprocess.STDOUT, preexec_fn=limits,
                            stdin=subprocess.DEVNULL).returncode
    if rc != 0:
        tail = log.read_text(errors="replace").splitlines()[-40:]
        raise SystemExit(f"command failed ({rc}) in {cwd}: {' '.join(cmd[:5])}\n" + "\n".join(tail))


def this_script(phase, *extra):
    return [sys.executable, str(Path(__file__).resolve()), "--phase", phase, *extra]


def mutmut_cli(*args):
    return [sys.executable, "-c", "import sys; from mutmut.__main__ import cli; sys.exit(cli())", *args]


# ------------------------------------------------------------------ phases run inside a staged directory
def phase_generate():
    """Generate every mutant and collect mutmut's per-test coverage (the first half of ``mutmut run``)."""
    import mutmut.__main__ as mm
    from mutmut.mutation.trampoline import set_mutant_under_test

    set_mutant_under_test("mutant_generation")
    os.makedirs("mutants", exist_ok=True)
    mm.copy_src_dir()
    mm.copy_also_copy_files()
    mm.setup_source_paths()
    mm.store_lines_covered_by_tests()
    stats = mm.create_mutants(1)
    print(f"files mutated {stats.mutated}, ignored {stats.ignored}, unmodified {stats.unmodified}", flush=True)
    runner = mm.get_mutant_runner(1)
    mm.collect_or_load_stats(runner, apply_config_invalidation=True)
    _, by_path = mm.collect_source_file_mutation_data(mutant_names=[])
    mm._check_test_to_mutant_associations(by_path)


def phase_diffs(names_file):
    """Write the diff of each named mutant (JSON) next to the names file."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    names = json.loads(Path(names_file).read_text())
    out = {}
    for name, path in names.items():
        try:
            out[name] = {"diff": get_diff_for_mutant(name, path=path), "message_only": _message_only(name, path)}
        except Exception as exc:  # noqa: BLE001  (a diff we cannot render must not lose the run)
            out[name] = {"diff": f"<no diff: {type(exc).__name__}: {exc}>", "message_only": False}
    Path(names_file).with_suffix(".out.json").write_text(json.dumps(out))


def _message_only(name: str, path: str) -> bool:
    """Whether the mutant changes only the arguments of raised exceptions' constructors (the message text): the
    original and the mutated function are the same syntax tree once every ``raise E(...)`` has its arguments
    removed (the exception's type, the condition that raises it and everything else compared as they are)."""
    import ast

    import libcst as cst
    from mutmut.mutation.diff_apply import (read_functions_from_index, read_mutant_function, read_mutants_module,
                                            read_original_function)

    functions = read_functions_from_index(name, path)
    if functions is None:
        module = read_mutants_module(path)
        functions = (read_original_function(module, name), read_mutant_function(module, name))
    return message_only_change(*(cst.Module([f]).code for f in functions))


def message_only_change(original: str, mutated: str) -> bool:
    """See :func:`_message_only`; ``original`` and ``mutated``: the source of one function, before and after."""
    def blanked(source: str) -> str:
        tree = ast.parse(textwrap.dedent(source))
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                node.exc.args, node.exc.keywords = [], []
        return ast.dump(tree)

    try:
        return original != mutated and blanked(original) == blanked(mutated)
    except SyntaxError:
        return False


# ----------------------------------------------------------------------------------- reading mutmut's state
def read_state(stage_dir: Path):
    """(mutants: {name: {file, function, code}}, tests by mangled function, duration by test)."""
    mutants = {}
    for meta in sorted((stage_dir / "mutants").rglob("*.py.meta")):
        rel = str(meta.relative_to(stage_dir / "mutants"))[: -len(".meta")]
        data = json.loads(meta.read_text())
        for name, code in data["exit_code_by_key"].items():
            mangled = name.partition("__mutmut_")[0]
            func = mangled.rpartition(".")[2]
            func = func[2:] if func.startswith("x_") else func[1:].replace("ǁ", ".")
            mutants[name] = {"file": rel, "function": func, "mangled": mangled, "code": code}
    stats = json.loads((stage_dir / "mutants" / "mutmut-stats.json").read_text())
    tests = {k: sorted(v) for k, v in stats["tests_by_mangled_function_name"].items()}
    return mutants, tests, stats["duration_by_test"]


def stratified_sample(names_by_file: dict[str, list[str]], n: int, seed: int) -> list[str]:
    """Proportional allocation by file (largest remainder), then a uniform draw within each file."""
    total = sum(len(v) for v in names_by_file.values())
    n = min(n, total)
    quotas = {f: n * len(v) / total for f, v in names_by_file.items()}
    alloc = {f: int(q) for f, q in quotas.items()}
    for f in sorted(quotas, key=lambda f: (-(quotas[f] - alloc[f]), f))[: n - sum(alloc.values())]:
        alloc[f] += 1
    rng = random.Random(seed)
    chosen = []
    for f in sorted(names_by_file):
        chosen += rng.sample(sorted(names_by_file[f]), alloc[f])
    return sorted(chosen)


def run_mutants(stage_dir: Path, names: list[str], log: Path, args):
    """``mutmut run`` on the named mutants (one worker), then their exit codes."""
    if names:
        run_logged(mutmut_cli("run", "--max-children", "1", *names), stage_dir, log, args.memory_limit_gb)
    mutants, _, _ = read_state(stage_dir)
    return {n: mutants[n]["code"] for n in names}


def diffs_for(stage_dir: Path, mutants: dict, names: list[str], log: Path, args) -> dict[str, str]:
    if not names:
        return {}
    req = stage_dir / "diff_request.json"
    req.write_text(json.dumps({n: mutants[n]["file"] for n in names}))
    run_logged(this_script("diffs", str(req)), stage_dir, log, args.memory_limit_gb)
    return json.loads(req.with_suffix(".out.json").read_text())   # {name: {"diff": ..., "message_only": ...}}


def source_line(file: str, diff: str) -> int | None:
    """Line of the checkout's ``file`` that the mutant changes (first removed line of the diff)."""
    removed = [ln[1:] for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    if not removed:
        return None
    text = (ROOT / file).read_text().splitlines()
    hits = [i + 1 for i, ln in enumerate(text) if ln.strip() == removed[0].strip()]
    return hits[0] if len(hits) == 1 else (hits[0] if hits else None)


# ------------------------------------------------------------------------------------------------ main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help="mutants to run (stratified by file)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the sample")
    p.add_argument("--quick-check", action="store_true",
                   help="smoke test: 4 mutants of verify/gaussian.py, unit pass on tests/verify/test_gaussian.py")
    p.add_argument("--workdir", type=Path, default=None, help="staging folder (wiped at start)")
    p.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/mutation/results)")
    p.add_argument("--classification", type=Path, default=HERE / "classification.json")
    p.add_argument("--timeout-multiplier", type=float, default=3.0,
                   help="mutmut timeout_multiplier: wall limit = (clean time of the mutant's tests + constant) x this")
    p.add_argument("--timeout-constant", type=float, default=5.0)
    p.add_argument("--memory-limit-gb", type=float, default=8.0, help="address-space cap of every mutmut process")
    p.add_argument("--skip-unit-tests", action="store_true", help="report pass only")
    p.add_argument("--reuse-report", action="store_true",
                   help="keep the report stage of a previous run in --workdir (same --sample/--seed): redo only the "
                        "unit-test pass and the write-up")
    p.add_argument("--reuse-unit", action="store_true",
                   help="with --reuse-report: also keep the unit-test pass; only re-read the verdicts and rewrite")
    p.add_argument("--rerun-survivors-of", type=Path, default=None, metavar="MUTATION_JSON",
                   help="the sample of a previous run (its mutation.json): run again only the mutants the report did "
                        "not kill then, carry the other verdicts over (checks added since can only kill more); with "
                        "--reuse-report the mutants generated in --workdir are used")
    p.add_argument("--phase", help=argparse.SUPPRESS)
    p.add_argument("phase_args", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.phase == "generate":
        return phase_generate()
    if args.phase == "diffs":
        return phase_diffs(*args.phase_args)

    try:
        from importlib.metadata import version
        have = version("mutmut")
    except Exception:  # noqa: BLE001
        raise SystemExit(f"mutmut is not installed: pip install mutmut=={MUTMUT_VERSION}")
    if have != MUTMUT_VERSION:
        print(f"warning: mutmut {have} installed, the recorded figures used {MUTMUT_VERSION} "
              "(mutant names and counts may differ)")

    import tempfile
    workdir = (args.workdir or Path(tempfile.gettempdir()) / "twinflow-mutation").resolve()
    out = (args.out or (HERE / "results" if not args.quick_check else workdir / "results")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    log = workdir / "mutmut.log"
    args.reuse_report |= args.reuse_unit
    if not args.reuse_report:
        log.write_text("")
    t0 = time.time()
    timings = {}

    def say(msg):
        print(f"[{time.time() - t0:7.1f} s] {msg}", flush=True)

    # 1. report stage: generate all mutants, collect per-case coverage
    report_dir = workdir / "report"
    if not args.reuse_report:
        stage(report_dir, REPORT_TESTS, args)
        say(f"staged the checkout in {report_dir}; generating mutants and per-case coverage (log: {log})")
        run_logged(this_script("generate"), report_dir, log, args.memory_limit_gb)
    mutants, tests_by_func, duration_by_test = read_state(report_dir)
    timings["generate_and_coverage_s"] = time.time() - t0
    by_file = defaultdict(list)
    for name, m in mutants.items():
        by_file[m["file"]].append(name)
    covered_all = {n for n, m in mutants.items() if tests_by_func.get(m["mangled"])}
    say(f"{len(mutants)} mutants in {len(by_file)} files; {len(covered_all)} in functions some case executes")

    # 2. the sample
    rerun = None
    if args.rerun_survivors_of:
        previous = json.loads(args.rerun_survivors_of.read_text())
        gone = sorted(m["mutant"] for m in previous["mutants"] if m["mutant"] not in mutants)  # code moved or removed
        if len(gone) > len(previous["mutants"]) // 10:
            raise SystemExit(f"{len(gone)} mutants of {args.rerun_survivors_of} no longer exist (e.g. {gone[0]}): "
                             "the code changed too much for a re-run; draw a new sample")
        sample = [m["mutant"] for m in previous["mutants"] if m["mutant"] in mutants]
        carried = {m["mutant"]: m["report"] for m in previous["mutants"]
                   if m["report"] in ("killed", "timeout") and m["mutant"] in mutants}
        rerun = {"of": str(args.rerun_survivors_of), "carried": len(carried), "rerun": len(sample) - len(carried),
                 "gone": gone,
                 "previous_diffs": {m["mutant"]: m["diff"] for m in previous["mutants"] if m.get("diff")}}
        args.seed, args.sample = previous["seed"], previous["sample_requested"]
        unit_tests = UNIT_TESTS
    elif args.quick_check:
        pool = {f: v for f, v in by_file.items() if f == "verify/gaussian.py"}
        sample = stratified_sample(pool, 4, args.seed)
        unit_tests = QUICK_UNIT_TESTS
    else:
        sample = stratified_sample(by_file, args.sample, args.seed)
        unit_tests = UNIT_TESTS

    def est(n):
        return sum(duration_by_test.get(t, 0.0) for t in tests_by_func.get(mutants[n]["mangled"], []))

    say(f"sampled {len(sample)} (seed {args.seed}); worst case if all survive: "
        f"{sum(est(n) for n in sample) / 60:.1f} min of cases")

    # 3. the sample against the report
    t1 = time.time()
    if rerun is not None and args.reuse_unit:   # only re-read the verdicts of the re-run
        codes = {n: mutants[n]["code"] for n in sample if n not in carried}
        prev = json.loads((workdir / "timings.json").read_text()) if (workdir / "timings.json").exists() else {}
        timings.update({k: v for k, v in prev.items() if k == "report_pass_s"})
    elif rerun is not None:
        codes = run_mutants(report_dir, [n for n in sample if n not in carried], log, args)
        timings["report_pass_s"] = time.time() - t1
        (workdir / "timings.json").write_text(json.dumps(timings))
    elif args.reuse_report:
        codes = {n: mutants[n]["code"] for n in sample}
        prev = json.loads((workdir / "timings.json").read_text()) if (workdir / "timings.json").exists() else {}
        timings.update({k: v for k, v in prev.items() if k in ("generate_and_coverage_s", "report_pass_s")})
    else:
        codes = run_mutants(report_dir, sample, log, args)
        timings["report_pass_s"] = time.time() - t1
        (workdir / "timings.json").write_text(json.dumps(timings))
    status = {n: status_of(c) for n, c in codes.items()}
    if rerun is not None:
        status.update(carried)
    say("report pass: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(status.values()).items())))

    # 4. what the report did not kill, against the unit tests
    missed = sorted(n for n, s in status.items() if s in ("survived", "no coverage"))
    unit_status = {}
    if missed and args.reuse_unit and not args.skip_unit_tests:
        unit_mutants, _, _ = read_state(workdir / "unit")
        unit_status = {n: status_of(unit_mutants[n]["code"]) for n in missed}
        prev = json.loads((workdir / "timings.json").read_text())
        timings["unit_pass_s"] = prev.get("unit_pass_s", float("nan"))
    elif missed and not args.skip_unit_tests:
        t2 = time.time()
        unit_dir = workdir / "unit"
        stage(unit_dir, unit_tests, args)
        say(f"unit-test stage: generating mutants and per-test coverage of {' '.join(unit_tests)}")
        run_logged(this_script("generate"), unit_dir, log, args.memory_limit_gb)
        unit_mutants, _, _ = read_state(unit_dir)
        assert set(unit_mutants) == set(mutants), "the two stages generated different mutants"
        ucodes = run_mutants(unit_dir, missed, log, args)
        unit_status = {n: status_of(c) for n, c in ucodes.items()}
        timings["unit_pass_s"] = time.time() - t2
        tj = workdir / "timings.json"
        tj.write_text(json.dumps({**(json.loads(tj.read_text()) if tj.exists() else {}), "unit_pass_s": timings["unit_pass_s"]}))
        say("unit-test pass on the report's survivors: "
            + ", ".join(f"{k} {v}" for k, v in sorted(Counter(unit_status.values()).items())))

    rendered = diffs_for(report_dir, mutants, missed + [n for n in sample if status[n] not in ("killed", "survived",
                                                                                               "no coverage")],
                         log, args)
    diffs = {n: r["diff"] for n, r in rendered.items()}
    message_only = {n for n, r in rendered.items() if r["message_only"]}
    timings["total_s"] = (time.time() - t0 if not args.reuse_report else
                          sum(v for k, v in timings.items() if k != "total_s" and v == v))

    if rerun is not None:   # a mutant whose function changed since the previous run is another mutant
        old = rerun.pop("previous_diffs")
        rerun["diff_changed"] = sorted(n for n in diffs if n in old and old[n].strip() != diffs[n].strip())

    # 5. classification (hand-written, checked against the diff)
    classification = {}
    if args.classification and args.classification.exists():
        classification = json.loads(args.classification.read_text())
    rows = []
    for n in sample:
        m = mutants[n]
        row = {"mutant": n, "file": m["file"], "function": m["function"], "report": status[n],
               "cases": [t.rpartition("[")[2].rstrip("]") for t in tests_by_func.get(m["mangled"], [])]}
        if n in diffs:
            row["diff"] = diffs[n]
            row["line"] = source_line(m["file"], diffs[n])
        if n in unit_status:
            row["unit_tests"] = unit_status[n]
        c = classification.get(n) if status[n] not in ("killed", "timeout") else None  # a class explains a survivor
        if n in message_only and (c is None or c["class"] == "outside-report"):
            c = {"class": "message-only", "why": "automatic: only the arguments of a raised exception change (its "
                 "message); the exception's type and the condition that raises it are the same"}
        if c is not None:
            if c.get("diff") and n in diffs and c["diff"].strip() != diffs[n].strip():
                row["class"], row["why"] = "stale", "classification written for another diff: re-classify"
            else:
                row["class"], row["why"] = c["class"], c.get("why", "")
                if row["class"] == "outside-report":  # validation, messages, API paths: the unit tests' job
                    row["class"] = "caught-by-tests" if unit_status.get(n) == "killed" else "hole-tests"
        elif n in missed:
            row["class"] = "caught-by-tests" if unit_status.get(n) == "killed" else "unclassified"
            row["why"] = ""
        rows.append(row)

    summary = summarise(rows, mutants, by_file, covered_all)
    result = {
        "tool": f"mutmut {have}", "seed": args.seed, "sample_requested": args.sample,
        "quick_check": args.quick_check, "report_tests": REPORT_TESTS, "unit_tests": unit_tests,
        "mutated": MUTATE, "timeout_multiplier": args.timeout_multiplier,
        "timeout_constant": args.timeout_constant, "timings": {k: round(v, 1) for k, v in timings.items()},
        "python": sys.version.split()[0], **({"rerun": rerun} if rerun else {}), **summary, "mutants": rows,
    }
    (out / "mutation.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    md = markdown(result)
    (out / "mutation.md").write_text(md)
    print(md)
    say(f"wrote {out / 'mutation.json'} and {out / 'mutation.md'}")


def summarise(rows, mutants, by_file, covered_all):
    def block(rs):
        c = Counter(r["report"] for r in rs)
        n = len(rs)
        det = c["killed"] + c["timeout"]
        cov = n - c["no coverage"]
        eq = sum(1 for r in rs if r.get("class") == "equivalent")
        near = sum(1 for r in rs if r.get("class") == "near-equivalent")
        msg = sum(1 for r in rs if r.get("class") == "message-only")
        unit_killed = sum(1 for r in rs if r.get("unit_tests") == "killed")
        d = {"sampled": n, "killed": c["killed"], "timeout": c["timeout"], "survived": c["survived"],
             "no_coverage": c["no coverage"], "other": n - det - c["survived"] - c["no coverage"],
             "detected": det, "equivalent": eq,
             "score": det / n if n else None, "score_ci95": wilson(det, n),
             "score_covered": det / cov if cov else None, "score_covered_ci95": wilson(det, cov),
             "score_nonequivalent": det / (n - eq) if n - eq else None,
             "score_nonequivalent_ci95": wilson(det, n - eq),
             "near_equivalent": near,
             "score_excluding_near_equivalent": det / (n - eq - near) if n - eq - near else None,
             "score_excluding_near_equivalent_ci95": wilson(det, n - eq - near),
             "message_only": msg,
             "score_excluding_messages": det / (n - eq - msg) if n - eq - msg else None,
             "score_excluding_messages_ci95": wilson(det, n - eq - msg),
             "missed_killed_by_unit_tests": unit_killed,
             "detected_by_report_or_tests": det + unit_killed,
             "classes": dict(Counter(r["class"] for r in rs if "class" in r))}
        return d

    files = {}
    for f in sorted(by_file):
        rs = [r for r in rows if r["file"] == f]
        files[f] = {"generated": len(by_file[f]),
                    "covered_by_report": sum(1 for n in by_file[f] if n in covered_all), **block(rs)}
    return {"generated": len(mutants), "generated_covered_by_report": len(covered_all),
            "total": block(rows), "by_file": files}


def _pct(x):
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f} %"


def _ci(ci):
    return "–" if any(math.isnan(v) for v in ci) else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}] %"


def markdown(res):
    t = res["total"]
    L = [f"# Mutation score of the quick report ({res['tool']})", "",
         f"Mutated: {', '.join(res['mutated'])}. Seed {res['seed']}; sample stratified by file. "
         f"Report = one test per case of `{res['report_tests'][0]}`; unit tests = {' '.join(res['unit_tests'])}. "
         f"Timings: {', '.join(f'{k} {v}' for k, v in res['timings'].items())}.", "",
         *([f"- **re-run of the sample of {res['rerun']['of']}**: its {res['rerun']['rerun']} mutants that the "
            f"report did not kill were run again; the {res['rerun']['carried']} it killed keep that verdict. A score "
            "on the sample whose survivors were studied overstates the score on a fresh sample. Survivors whose "
            f"function changed since (another mutant under the same name): {len(res['rerun']['diff_changed'])}; "
            f"mutants that no longer exist (their code moved or was removed), left out: "
            f"{', '.join(res['rerun']['gone']) or 'none'}", ""]
           if res.get("rerun") else []),
         f"- mutants generated: **{res['generated']}** ({res['generated_covered_by_report']} in functions that "
         f"some report case executes)",
         f"- sampled: **{t['sampled']}**; killed by the report {t['killed']}, timed out {t['timeout']}, "
         f"survived {t['survived']}, no coverage (no case executes the function) {t['no_coverage']}, "
         f"other {t['other']}",
         f"- report score (killed + timeout over sampled): **{_pct(t['score'])}**, 95 % Wilson {_ci(t['score_ci95'])}",
         f"- over mutants some case executes: {_pct(t['score_covered'])}, {_ci(t['score_covered_ci95'])}",
         f"- over non-equivalent mutants ({t['equivalent']} classified equivalent): "
         f"**{_pct(t['score_nonequivalent'])}**, {_ci(t['score_nonequivalent_ci95'])}",
         f"- also excluding the {t['near_equivalent']} near-equivalent ones (changes below every tolerance): "
         f"{_pct(t['score_excluding_near_equivalent'])}, {_ci(t['score_excluding_near_equivalent_ci95'])}",
         f"- over non-equivalent mutants that change more than an error message ({t.get('message_only', 0)} "
         f"message-only survivors, found automatically): {_pct(t.get('score_excluding_messages'))}, "
         f"{_ci(t.get('score_excluding_messages_ci95', (math.nan, math.nan)))}",
         (f"- the report's {t['survived'] + t['no_coverage']} survivors against the unit tests: "
          f"{t['missed_killed_by_unit_tests']} killed; report or tests: {t['detected_by_report_or_tests']} "
          f"of {t['sampled']}" if "unit_pass_s" in res["timings"] else
          f"- the report's {t['survived'] + t['no_coverage']} survivors against the unit tests: "
          "not run (--skip-unit-tests), so survivors classed outside-report count as hole-tests unverified"),
         f"- survivor classes: {', '.join(f'{k} {v}' for k, v in sorted(t['classes'].items())) or '–'}", "",
         "| file | generated | sampled | killed | timeout | survived | no coverage | score | 95 % CI | "
         "killed by tests (of missed) |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for f, d in res["by_file"].items():
        if d["sampled"] == 0:
            L.append(f"| {f} | {d['generated']} | 0 | | | | | | | |")
            continue
        L.append(f"| {f} | {d['generated']} | {d['sampled']} | {d['killed']} | {d['timeout']} | {d['survived']} | "
                 f"{d['no_coverage']} | {_pct(d['score'])} | {_ci(d['score_ci95'])} | "
                 f"{d['missed_killed_by_unit_tests']} |")
    L.append(f"| **total** | {res['generated']} | {t['sampled']} | {t['killed']} | {t['timeout']} | {t['survived']} | "
             f"{t['no_coverage']} | {_pct(t['score'])} | {_ci(t['score_ci95'])} | {t['missed_killed_by_unit_tests']} |")
    L += ["", "## Mutants the report did not kill", ""]
    for r in res["mutants"]:
        if r["report"] in ("killed",):
            continue
        where = f"{r['file']}:{r.get('line') or '?'}"
        L.append(f"### `{r['mutant']}` — {where} `{r['function']}`")
        L.append("")
        L.append(f"report: **{r['report']}**" + (f" (cases run: {', '.join(r['cases'])})" if r["cases"] else "")
                 + (f"; unit tests: **{r['unit_tests']}**" if "unit_tests" in r else "")
                 + (f"; class: **{r['class']}**" if "class" in r else ""))
        if r.get("why"):
            L += ["", r["why"]]
        if r.get("diff"):
            L += ["", "```diff", r["diff"], "```"]
        L.append("")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
