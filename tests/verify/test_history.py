"""Run history in SQLite: appended by report, run and study; concurrent writers; a corrupt file is a warning."""
import multiprocessing
import sqlite3

import pytest

from verify.cli import main
from verify.harness import CaseResult, make_check
from verify.history import HistoryError, check_history, history_series, record_run, render_trend, runs


def _result(value: float, case: str = "A") -> CaseResult:
    return CaseResult(case, "case A", (), [make_check("x", value, upper=1.0), make_check("y", 2.0, lower=1.0)])


def test_runs_and_checks_are_recorded_and_read_back(tmp_path):
    path = tmp_path / "h" / "history.sqlite"
    for k, v in enumerate((0.5, 0.6, float("nan"))):
        record_run(path, "report", [_result(v)], mode="quick", seed=k, status="pass", seconds=1.5)
    rows = runs(path)
    assert [r["id"] for r in rows] == [1, 2, 3] and [r["seed"] for r in rows] == [0, 1, 2]
    assert all(r["command"] == "report" and r["mode"] == "quick" for r in rows)
    series = check_history(path, "A", "x")
    assert [p["value"] for p in series["x"][:2]] == [0.5, 0.6] and series["x"][2]["status"] == "fail"
    assert "run    2" in render_trend(path, "A", "x") and "report" in render_trend(path)
    lines = history_series(path, "A")
    assert {s.label for s in lines} == {"x", "y"}            # x: two finite values; y: three
    x_line = next(s for s in lines if s.label == "x")
    assert x_line.y == (1.0, pytest.approx(1.2))             # relative to the first run


def test_missing_history_is_empty_not_an_error(tmp_path):
    assert runs(tmp_path / "none.sqlite") == [] and check_history(tmp_path / "none.sqlite", "A") == {}
    assert "no runs recorded" in render_trend(tmp_path / "none.sqlite")


def _writer(args):
    path, k = args
    for i in range(20):
        record_run(path, f"writer {k}", [_result(0.1 * i)], mode="quick", seed=k, status="pass", seconds=0.0)


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "history.sqlite"
    record_run(path, "first", [_result(0.5)], mode="quick", seed=None, status="pass", seconds=0.0)
    with multiprocessing.get_context("fork").Pool(3) as pool:
        pool.map(_writer, [(path, k) for k in range(3)])
    con = sqlite3.connect(path)
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 61
    assert con.execute("SELECT COUNT(*) FROM checks").fetchone()[0] == 122   # two checks per run, no run half-written


def test_a_corrupt_history_is_a_clear_error(tmp_path):
    bad = tmp_path / "history.sqlite"
    bad.write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(HistoryError, match="not a usable SQLite database.*--no-history"):
        record_run(bad, "report", [_result(0.5)], mode="quick", seed=None, status="pass", seconds=0.0)


def test_cli_records_report_run_and_study_and_a_corrupt_file_only_warns(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--quick", "--case", "mccann-geodesic", "--out", "r"]) == 0
    assert main(["run", "mccann-geodesic", "--quick", "--seed", "4"]) == 0
    assert main(["study", "affine-ode-2d", "--levels", "8,16,32"]) == 0
    assert main(["run", "mccann-geodesic", "--quick", "--no-history"]) == 0
    rows = runs(tmp_path / ".twinflow" / "history.sqlite")
    assert [r["command"] for r in rows] == ["report --quick", "run mccann-geodesic --quick", "study affine-ode-2d"]
    assert rows[1]["seed"] == 4 and rows[2]["mode"] == "study"
    capsys.readouterr()
    assert main(["history"]) == 0 and "study affine-ode-2d" in capsys.readouterr().out
    # the report's HTML plots a case's checks over the runs once there are two
    assert main(["report", "--quick", "--case", "mccann-geodesic", "--out", "r"]) == 0
    assert "history of mccann-geodesic" in (tmp_path / "r" / "index.html").read_text()
    # a corrupt file: one warning line, the report is still written and the exit status is the run's
    (tmp_path / "bad.sqlite").write_bytes(b"garbage" * 200)
    capsys.readouterr()
    assert main(["report", "--quick", "--case", "mccann-geodesic", "--out", "r2", "--history", "bad.sqlite"]) == 0
    err = capsys.readouterr().err
    assert "warning: history bad.sqlite: not a usable SQLite database" in err and "Traceback" not in err
    assert (tmp_path / "r2" / "report.json").is_file()
    assert main(["history", "--history", "bad.sqlite"]) == 2
