"""Files replaced as one set: a writer killed at any point leaves the old set or (after recovery) the new one,
never a mix, and no temporary files once the next writer has run."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from verify import files
from verify.files import JOURNAL, recover, write_set

NAMES = ("report.json", "report.md", "index.html")


def contents(directory):
    return {n: (directory / n).read_text() for n in NAMES}


def visible(directory):
    return sorted(p.name for p in directory.iterdir())


def test_a_set_is_written_and_other_files_are_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    paths = write_set(tmp_path, {n: f"new {n}" for n in NAMES})
    assert contents(tmp_path) == {n: f"new {n}" for n in NAMES}
    assert paths["index.html"] == tmp_path / "index.html"
    assert visible(tmp_path) == sorted([*NAMES, "notes.txt"])      # no journal, no temporary file


def test_a_failure_before_the_commit_point_keeps_the_old_set(tmp_path, monkeypatch):
    write_set(tmp_path, {n: "old" for n in NAMES})
    real = files._temporary
    calls = []

    def failing(target, data):
        calls.append(target.name)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(target, data)
    monkeypatch.setattr(files, "_temporary", failing)
    with pytest.raises(OSError, match="disk full"):
        write_set(tmp_path, {n: "new" for n in NAMES})
    assert contents(tmp_path) == {n: "old" for n in NAMES} and visible(tmp_path) == sorted(NAMES)


def test_a_writer_killed_between_renames_is_rolled_forward_by_the_next(tmp_path, monkeypatch):
    write_set(tmp_path, {n: "old" for n in NAMES})
    real = os.replace
    renames = []

    def dies(src, dst):
        renames.append(dst)
        if len(renames) == 3:          # journal in place, one file renamed: then the process "dies"
            raise SystemExit("killed")
        return real(src, dst)
    monkeypatch.setattr(files.os, "replace", dies)
    with pytest.raises(SystemExit):
        write_set(tmp_path, {n: "new" for n in NAMES})
    monkeypatch.setattr(files.os, "replace", real)
    mixed = contents(tmp_path)
    assert sorted(mixed.values()) == ["new", "old", "old"] and (tmp_path / JOURNAL).exists()
    assert sorted(recover(tmp_path)) == sorted(NAMES)
    assert contents(tmp_path) == {n: "new" for n in NAMES} and visible(tmp_path) == sorted(NAMES)


def test_orphaned_temporary_files_and_a_torn_journal_are_cleaned(tmp_path):
    write_set(tmp_path, {n: "old" for n in NAMES})
    (tmp_path / ".report.json.abc.twinflow-tmp").write_text("half")
    (tmp_path / JOURNAL).write_text('{"renames": {')           # cut short by a kill before it was complete
    write_set(tmp_path, {"report.md": "next"})
    assert visible(tmp_path) == sorted(NAMES) and (tmp_path / "report.md").read_text() == "next"


def test_sigterm_during_the_renames_waits_until_the_set_is_complete(tmp_path, monkeypatch):
    write_set(tmp_path, {n: "old" for n in NAMES})
    real = os.replace
    seen = []

    def replace_and_signal(src, dst):
        real(src, dst)
        if not seen:
            seen.append(dst)
            os.kill(os.getpid(), signal.SIGTERM)

    class Stop(Exception):
        pass

    def handler(signum, frame):
        raise Stop(contents(tmp_path))
    previous = signal.signal(signal.SIGTERM, handler)
    monkeypatch.setattr(files.os, "replace", replace_and_signal)
    try:
        with pytest.raises(Stop) as exc:
            write_set(tmp_path, {n: "new" for n in NAMES})
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert exc.value.args[0] == {n: "new" for n in NAMES}        # delivered only once the set was complete
    assert not (tmp_path / JOURNAL).exists()


def test_a_real_sigkill_mid_write_never_leaves_a_mixed_set(tmp_path):
    """A child writes sets in a loop and is killed with SIGKILL; after recovery all three files come from one
    set, whatever moment the kill hit (repeated 5 times)."""
    script = textwrap.dedent(f"""
        import sys
        from verify.files import write_set
        i = 0
        while True:
            i += 1
            write_set(sys.argv[1], {{n: str(i) * 20000 for n in {NAMES!r}}})
    """)
    write_set(tmp_path, {n: "0" * 20000 for n in NAMES})
    for attempt in range(5):
        child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)])
        try:
            child.wait(timeout=0.3 + 0.07 * attempt)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait()
        recover(tmp_path)
        values = set(contents(tmp_path).values())
        assert len(values) == 1, f"mixed set after a kill: {[v[:3] for v in values]}"
        assert visible(tmp_path) == sorted(NAMES)


def test_names_must_be_plain(tmp_path):
    with pytest.raises(ValueError, match="plain file name"):
        write_set(tmp_path, {"../x": "no"})


def test_report_files_are_one_set(tmp_path):
    from verify.harness import run_case
    from verify.report import build_report, write_report

    report = build_report([run_case("mccann-geodesic", quick=True)], quick=True, seconds=1.0)
    write_report(report, tmp_path)
    assert json.loads((tmp_path / "report.json").read_text())["cases"][0]["case"] == "mccann-geodesic"
    assert visible(tmp_path) == sorted(NAMES)
