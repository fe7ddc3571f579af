"""Campaigns on Dask: a LocalCluster gives the serial results; killed workers are survived; a bad address is an
error before anything runs."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("distributed")

import dask  # noqa: E402

from verify import executors, harness  # noqa: E402
from verify.cli import main  # noqa: E402
from verify.executors import ExecutorError, run_cases  # noqa: E402


@pytest.fixture(autouse=True)
def own_registry(monkeypatch):
    """Cases registered by a test's modules leave with the test."""
    monkeypatch.setattr(harness, "_REGISTRY", harness.registry())   # built-ins loaded first


NAMES = ["linear-sde-laws", "mccann-geodesic", "ou-1d", "ou-particles-2d"]


def values(outcome):
    return [(r.case, c.name, c.value) for r in outcome.results for c in r.checks]


def report_values(path):
    report = json.loads((path / "report.json").read_text())
    return [(c["case"], k["name"], k["value"]) for c in report["cases"] for k in c["checks"]]


def test_local_cluster_gives_the_serial_results(tmp_path):
    """Through the command, as a user runs it: the entry point gives BLAS one thread, as Dask gives its workers,
    so the numbers agree bit for bit (a different BLAS thread count may change the last bits of a matrix product)."""
    common = [sys.executable, "-m", "verify", "report", "--quick", "--seed", "3", "--no-history"]
    cases = [arg for name in NAMES for arg in ("--case", name)]
    for out, extra in (("serial", []), ("dask", ["--executor", "dask", "--jobs", "2"])):
        run = subprocess.run(common + cases + ["--out", str(tmp_path / out)] + extra, capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, run.stderr
    assert report_values(tmp_path / "dask") == report_values(tmp_path / "serial")   # bit for bit, same order
    html = [(tmp_path / out / "index.html").read_text().count("<svg") for out in ("serial", "dask")]
    assert html[0] == html[1] >= len(NAMES)                                          # plots drawn on the workers


def test_killed_workers_user_modules_and_the_cli(tmp_path, monkeypatch, capsys):
    """Through the command, on one LocalCluster: a case that kills its first worker is rescheduled and passes, one
    that kills every worker is an error (Dask gives up after ``allowed-failures`` deaths; 1 here, so the test
    restarts fewer workers), the other cases are not taken down with it (each worker holds one case at a time),
    and a user's --import module reaches the spawned workers (they do not inherit the parent's registry) and runs
    there, not in the parent."""
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--quick", "--case", "mccann-geodesic", "--out", "r", "--no-history",
                 "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "--scheduler needs --executor dask" in capsys.readouterr().err
    marker = tmp_path / "killed-once"
    (tmp_path / "usercases.py").write_text(textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from verify.harness import case

        @case("t-kills-once", title="kills its first worker")
        def kills_once(ctx):
            marker = Path({str(marker)!r})
            if not marker.exists():
                marker.write_text("x")
                os.kill(os.getpid(), signal.SIGKILL)
            ctx.check("ok", 1.0, upper=2.0)

        @case("t-always-kills", title="kills every worker")
        def always_kills(ctx):
            os.kill(os.getpid(), signal.SIGKILL)

        @case("t-user-case", title="a user's case, imported on the workers")
        def user_case(ctx):
            ctx.check("worker pid differs", float(os.getpid() != {os.getpid()}), lower=1.0)
    """))
    names = ["t-kills-once", "t-always-kills", "mccann-geodesic", "t-user-case"]
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
            code = main(["report", "--quick", *[a for n in names for a in ("--case", n)], "--import", "usercases",
                         "--out", "r", "--no-history", "--executor", "dask", "--jobs", "2"])
    finally:
        sys.modules.pop("usercases", None)
    assert code == 1, capsys.readouterr()
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    by_name = {c["case"]: c for c in report["cases"]}
    assert [c["case"] for c in report["cases"]] == names
    assert all(by_name[n]["passed"] for n in ("t-kills-once", "mccann-geodesic", "t-user-case"))
    assert not by_name["t-always-kills"]["passed"]
    assert "Dask could not run the case" in by_name["t-always-kills"]["error"]


def test_unreachable_scheduler_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(executors, "_SCHEDULER_TIMEOUT", "1s")   # the error, not the wait, is under test
    with pytest.raises(ExecutorError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        run_cases(["mccann-geodesic"], executor="dask", scheduler="tcp://127.0.0.1:9")
