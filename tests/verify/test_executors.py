"""Parallel and interrupted runs: the same results as a serial run, nothing finished lost, dead workers survived."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from verify import harness
from verify.cli import main
from verify.executors import run_cases
from verify.report import build_report, render_html, render_markdown


@pytest.fixture
def temp_cases(monkeypatch):
    """Register cases for one test (forked workers inherit them)."""
    harness.registry()

    def register(name, fn):
        monkeypatch.setitem(harness._REGISTRY, name, harness.CaseSpec(name, f"case {name}", ("test",), fn))
        return name

    return register


def random_case(ctx):
    x = ctx.rng("draws").standard_normal(1000)
    ctx.check("mean", float(x.mean()), upper=1.0)
    ctx.check("variance", float(x.var()), lower=0.5, upper=1.5)


def test_parallel_results_equal_the_serial_ones_in_the_same_order(temp_cases):
    names = [temp_cases(f"t-rand-{k}", random_case) for k in range(5)]
    serial = run_cases(names, quick=True, seed=7, jobs=1)
    seen = []
    parallel = run_cases(names, quick=True, seed=7, jobs=2, on_result=lambda r: seen.append(r.case))
    assert [r.case for r in parallel.results] == names and sorted(seen) == sorted(names)
    assert not parallel.interrupted and parallel.not_run == []
    values = lambda outcome: [(r.case, c.name, c.value) for r in outcome.results for c in r.checks]  # noqa: E731
    assert values(serial) == values(parallel)          # bit for bit
    assert [r.seed for r in serial.results] == [r.seed for r in parallel.results]


def test_a_worker_that_dies_once_is_survived_and_one_that_always_dies_is_an_error(temp_cases, tmp_path):
    marker = tmp_path / "died-once"

    def dies_once(ctx):
        if not marker.exists():
            marker.write_text("x")
            os.kill(os.getpid(), signal.SIGKILL)
        ctx.check("ok", 1.0, upper=2.0)

    def always_dies(ctx):
        os.kill(os.getpid(), signal.SIGKILL)

    names = [temp_cases("t-once", dies_once), temp_cases("t-always", always_dies),
             temp_cases("t-fine", random_case)]
    out = run_cases(names, quick=True, jobs=2)
    by_name = {r.case: r for r in out.results}
    assert set(by_name) == set(names) and out.not_run == []
    assert by_name["t-once"].passed and by_name["t-fine"].passed
    assert not by_name["t-always"].passed and "also when it ran alone" in by_name["t-always"].error


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_interruption_keeps_what_finished(temp_cases, jobs):
    names = [temp_cases(f"t-int-{k}", random_case) for k in range(4)]
    seen = []

    def stop_after_first(result):
        seen.append(result.case)
        raise KeyboardInterrupt   # as Ctrl-C would, in the parent

    out = run_cases(names, jobs=jobs, on_result=stop_after_first)
    assert out.interrupted and [r.case for r in out.results] == seen == seen[:1]
    assert sorted(out.not_run) == sorted(set(names) - set(seen))


def test_jobs_must_be_positive():
    with pytest.raises(ValueError, match="jobs must be a positive integer"):
        run_cases(["mccann-geodesic"], jobs=0)


def test_cli_rejects_jobs_zero(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", "--out", "x", "--jobs", "0"])
    assert exc.value.code == 2 and "must be a positive integer" in capsys.readouterr().err


def test_partial_reports_say_what_did_not_run():
    r = harness.run_case("mccann-geodesic", quick=True)
    report = build_report([r], quick=True, seconds=1.0, not_run=["a", "b"], state="interrupted")
    assert report["state"] == "interrupted" and report["not_run"] == ["a", "b"]
    assert "INTERRUPTED" in render_markdown(report) and "did not run: a, b" in render_html(report, plots=False)
    running = build_report([r], quick=True, seconds=1.0, not_run=["a"], state="running")
    assert "RUNNING" in render_markdown(running)
    assert "RUNNING" not in render_markdown(build_report([r], quick=True, seconds=1.0))
    with pytest.raises(ValueError, match="state must be"):
        build_report([r], quick=True, seconds=1.0, state="paused")


@pytest.mark.parametrize("sig, jobs", [(signal.SIGINT, 1), (signal.SIGINT, 2), (signal.SIGTERM, 2)])
def test_cli_signal_leaves_a_valid_partial_report_and_no_traceback(tmp_path, sig, jobs):
    """A user module registers a fast case and a slow one; the signal arrives while the slow one runs."""
    (tmp_path / "slowcases.py").write_text(textwrap.dedent("""
        import time
        from verify.harness import case

        @case("t-fast", title="fast")
        def fast(ctx):
            ctx.check("one", 1.0, upper=2.0)

        @case("t-slow", title="slow")
        def slow(ctx):
            time.sleep(60)
            ctx.check("one", 1.0, upper=2.0)
    """))
    out = tmp_path / "report"
    # as from a terminal: a test run started in the background of a non-interactive shell ignores SIGINT, and the
    # child would inherit that (Python then installs no KeyboardInterrupt handler)
    p = subprocess.Popen([sys.executable, "-m", "verify", "report", "--import", "slowcases", "--case", "t-fast",
                          "--case", "t-slow", "--out", str(out), "--jobs", str(jobs)], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120    # generous: a loaded machine with a fresh environment imports slowly
    while time.time() < deadline:   # wait until the fast case is on disk
        try:
            if json.loads((out / "report.json").read_text())["cases"]:
                break
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.1)
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 130 and "Traceback" not in stderr, stderr
    assert "INTERRUPTED: 1 of 2 cases finished" in stdout
    report = json.loads((out / "report.json").read_text())
    assert report["state"] == "interrupted" and report["not_run"] == ["t-slow"]
    assert [c["case"] for c in report["cases"]] == ["t-fast"] and report["cases"][0]["passed"]
    assert "INTERRUPTED" in (out / "index.html").read_text()
    assert not np.any([f.name.endswith(".tmp") for f in out.iterdir()])   # every file was replaced atomically
