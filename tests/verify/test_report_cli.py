"""Reports (atomic, versioned, self-contained) and the command-line interface."""
import io
import json
import time

import pytest

from verify import harness
from verify.cli import CaseProgress, main
from verify.harness import CaseResult, make_check
from verify.report import SCHEMA, build_report, render_markdown

CASE = "mccann-geodesic"


@pytest.fixture
def failing_case(monkeypatch):
    harness.registry()

    def fn(ctx):
        ctx.check("always wrong", 1.0, upper=0.5)

    monkeypatch.setitem(harness._REGISTRY, "t-fail", harness.CaseSpec("t-fail", "fails", (), fn))
    return "t-fail"


def run_cli(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_shows_every_case(capsys):
    code, out, _ = run_cli(["list"], capsys)
    assert code == 0
    for name in harness.registry():
        assert name in out


def test_run_prints_checks_and_json(capsys):
    code, out, _ = run_cli(["run", CASE, "--quick"], capsys)
    assert code == 0 and "PASSED" in out and "kinetic energy" in out
    code, out, _ = run_cli(["run", CASE, "--quick", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["passed"] and data["case"] == CASE and data["checks"]


def test_exit_status_one_when_a_check_fails(failing_case, capsys):
    code, out, _ = run_cli(["run", failing_case], capsys)
    assert code == 1 and "FAIL" in out


def test_unknown_case_exits_two_with_a_hint(capsys):
    code, _, err = run_cli(["run", "mccann"], capsys)
    assert code == 2 and "Did you mean" in err
    code, _, err = run_cli(["report", "--out", "x", "--case", "nope"], capsys)
    assert code == 2 and "twinflow list" in err


def test_help_for_each_command(capsys):
    for cmd in ([], ["list"], ["run"], ["report"]):
        with pytest.raises(SystemExit) as exc:
            main([*cmd, "--help"])
        assert exc.value.code == 0
        assert "usage" in capsys.readouterr().out


def test_report_writes_three_files_and_keeps_other_files(tmp_path, failing_case, capsys):
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    code, out, _ = run_cli(["report", "--out", str(tmp_path), "--quick", "--case", CASE,
                            "--case", failing_case], capsys)
    assert code == 1 and "FAILED" in out
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["schema"] == SCHEMA and data["summary"]["cases"] == 2
    assert data["summary"]["passed"] is False
    assert [c["case"] for c in data["cases"]] == [CASE, failing_case]
    html = (tmp_path / "index.html").read_text()
    assert "<svg" in html and "FAIL" in html and "<script" not in html
    md = (tmp_path / "report.md").read_text()
    assert f"`{CASE}`" in md and "**FAIL**" in md
    assert keep.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html", "notes.txt", "report.json",
                                                          "report.md"]


def test_report_out_must_be_a_directory(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    code, _, err = run_cli(["report", "--out", str(f), "--case", CASE, "--quick"], capsys)
    assert code == 2 and "not a directory" in err


def test_out_empty_is_refused_before_anything_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--quick", "--case", CASE, "--out", ""]) == 2
    assert "--out is empty" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_build_report_summary_counts():
    r = harness.run_case(CASE, quick=True)
    rep = build_report([r], quick=True, seconds=1.0)
    assert rep["summary"]["checks"] == len(r.checks) and rep["summary"]["passed"]
    assert rep["versions"]["twinflow"]


def test_report_leads_with_what_needs_attention_and_notes_read_well():
    from verify.harness import CaseResult, Check, make_check
    from verify.report import render_html, render_markdown

    good = CaseResult("t-good", "good", (), [make_check("fine", 1.0, upper=2.0)], notes={"errors": [1.23456e-3, 0.5]})
    mixed = CaseResult("t-mixed", "mixed", (), [
        Check("order", 1.9, passed=False, lower=1.8, upper=2.2, verdict="inconclusive", interval=(1.5, 2.3)),
        make_check("error", 3.0, upper=2.0), make_check("ok", 0.0, upper=1.0)])
    crashed = CaseResult("t-crash", "crash", (), [], error="RuntimeError: boom")
    report = build_report([good, mixed, crashed], quick=True, seconds=1.0)
    md = render_markdown(report)
    attention = md.split("## Needs attention", 1)[1].split("| case | result |", 1)[0]
    rows = [line for line in attention.splitlines() if line.startswith("| `")]
    assert [r.split("|")[2].strip() for r in rows] == ["error", "order", "(the case raised)"]   # failures first
    assert "fine" not in attention and md.index("Needs attention") < md.index("| case | result |")
    assert "- errors: 0.001235, 0.5" in md                                # no raw float list
    html = render_html(report, plots=False)
    assert html.index("Needs attention") < html.index("<th>case</th><th>result</th>")
    assert "Needs attention" not in render_markdown(build_report([good], quick=True, seconds=1.0))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _slow_case(monkeypatch, seconds: float) -> None:
    def fn(ctx):
        ctx.check("first", 1.0, upper=2.0)
        time.sleep(seconds)
        ctx.check("second", 1.0, upper=2.0)
        time.sleep(seconds)
    monkeypatch.setitem(harness._REGISTRY, "t-slow", harness.CaseSpec("t-slow", "slow", (), fn))


def test_progress_line_on_a_terminal_is_redrawn_and_erased(monkeypatch):
    _slow_case(monkeypatch, 0.7)
    term = _Terminal()
    with CaseProgress("t-slow", term, delay=0.2) as progress:
        result = harness.run_case("t-slow", on_check=progress.check)
    text = term.getvalue()
    assert result.passed
    assert text.startswith("\r\x1b[Krunning t-slow: ") and "1 check (latest: first)" in text
    assert "2 checks (latest: second)" in text
    assert text.endswith("\r\x1b[K")          # the line is erased before the result is printed


def test_progress_in_a_log_is_plain_lines_and_quiet_for_short_cases(monkeypatch):
    _slow_case(monkeypatch, 0.3)
    log = io.StringIO()
    with CaseProgress("t-slow", log, delay=0.1, every=0.25) as progress:
        harness.run_case("t-slow", on_check=progress.check)
    lines = log.getvalue().splitlines()
    assert lines and all(line.startswith("running t-slow: ") for line in lines) and "\r" not in log.getvalue()
    quiet = io.StringIO()
    with CaseProgress("t-slow", quiet, delay=5.0) as progress:
        harness.run_case("mccann-geodesic", quick=True, on_check=progress.check)
    assert quiet.getvalue() == ""


def test_markdown_tables_escape_pipes_in_check_names():
    r = CaseResult("t-pipes", "a | title", (), [make_check("|mean - exact|_max", 0.1, upper=1.0, detail="a|b")])
    table_rows = [line for line in render_markdown(build_report([r], quick=True, seconds=1.0)).splitlines()
                  if line.startswith("| \\|mean")]
    assert table_rows and table_rows[0].count(" | ") == 4       # five cells, the name's pipes escaped
