"""Run history: every ``report``, ``run`` and ``study`` appends its checks to an SQLite file.

The default file is ``.twinflow/history.sqlite`` in the working directory (``--history PATH``, ``--no-history``).
Each run stores its time, the command, mode, seed, the git commit when the working directory is inside a
repository, the machine and versions, its status and duration, and every check's value, status, band and
standard error. Writers use transactions in WAL mode with a busy timeout, so concurrent runs are safe. A file
that cannot be used (corrupt, not SQLite, unwritable) raises :class:`HistoryError`; the command reports it on one
line and still writes its report. ``twinflow history [CASE [CHECK]]`` prints the trend.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import platform
import sqlite3
import subprocess
from pathlib import Path
from typing import Any, Iterable, Iterator

from verify.harness import CaseResult

__all__ = ["DEFAULT_PATH", "HistoryError", "record_run", "runs", "check_history", "render_trend", "history_series"]

DEFAULT_PATH = Path(".twinflow") / "history.sqlite"
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, command TEXT NOT NULL, mode TEXT,
    seed INTEGER, git_commit TEXT, machine TEXT, versions TEXT, status TEXT, seconds REAL);
CREATE TABLE IF NOT EXISTS checks (
    run_id INTEGER NOT NULL REFERENCES runs(id), case_name TEXT NOT NULL, check_name TEXT NOT NULL,
    value REAL, status TEXT, lower REAL, upper REAL, standard_error REAL);
CREATE INDEX IF NOT EXISTS checks_by_name ON checks (case_name, check_name);
"""


class HistoryError(RuntimeError):
    """The history file cannot be used; the message names the file and the fix."""


def _git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _real(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None   # SQLite REAL has no NaN: stored as NULL with the status


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    fix = f"move it away (e.g. mv {path} {path}.bad) and a new history starts, or pass --no-history"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path, timeout=30)
    except (OSError, sqlite3.Error) as exc:
        raise HistoryError(f"history {path}: cannot open ({exc}); pass --history PATH or --no-history") from None
    try:
        con.execute("PRAGMA busy_timeout = 30000")
        con.execute("PRAGMA journal_mode = WAL")
        con.executescript(_SCHEMA)
        row = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            con.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            con.commit()
        elif int(row[0]) > SCHEMA_VERSION:
            raise HistoryError(f"history {path}: written by a newer twinflow (schema {row[0]}); upgrade twinflow or "
                               "pass --history PATH")
        yield con
    except sqlite3.DatabaseError as exc:
        raise HistoryError(f"history {path}: not a usable SQLite database ({exc}); {fix}") from None
    finally:
        con.close()


def record_run(path: str | os.PathLike, command: str, results: Iterable[CaseResult], *, mode: str | None,
               seed: int | None, status: str, seconds: float, versions: dict | None = None) -> int:
    """Append one run and all its checks in one transaction; returns the run id."""
    path = Path(path)
    results = list(results)
    with _connect(path) as con:
        with con:   # one transaction: the run and its checks, or nothing
            cur = con.execute(
                "INSERT INTO runs (created, command, mode, seed, git_commit, machine, versions, status, seconds) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), command, mode, seed,
                 _git_commit(Path.cwd()), f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
                 json.dumps(versions or {}), status, float(seconds)))
            run_id = int(cur.lastrowid)
            con.executemany(
                "INSERT INTO checks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, r.case, c.name, _real(c.value), c.status, _real(c.lower), _real(c.upper),
                  _real(c.standard_error)) for r in results for c in r.checks])
    return run_id


def runs(path: str | os.PathLike, limit: int = 20) -> list[dict]:
    """The last ``limit`` runs, newest last."""
    path = Path(path)
    if not path.exists():
        return []
    with _connect(path) as con:
        rows = con.execute("SELECT id, created, command, mode, seed, git_commit, status, seconds FROM runs "
                           "ORDER BY id DESC LIMIT ?", (int(limit),)).fetchall()
    keys = ("id", "created", "command", "mode", "seed", "commit", "status", "seconds")
    return [dict(zip(keys, r)) for r in reversed(rows)]


def check_history(path: str | os.PathLike, case: str, check: str | None = None,
                  limit: int = 50) -> dict[str, list[dict]]:
    """For each check of ``case`` (or the one named), its values over the last ``limit`` runs that had it."""
    path = Path(path)
    if not path.exists():
        return {}
    query = ("SELECT c.check_name, r.id, r.created, r.git_commit, r.seed, c.value, c.status FROM checks c "
             "JOIN runs r ON r.id = c.run_id WHERE c.case_name = ?" + (" AND c.check_name = ?" if check else "")
             + " ORDER BY r.id")
    with _connect(path) as con:
        rows = con.execute(query, (case, check) if check else (case,)).fetchall()
    out: dict[str, list[dict]] = {}
    for name, run_id, created, commit, seed, value, status in rows:
        out.setdefault(name, []).append({"run": run_id, "created": created, "commit": commit, "seed": seed,
                                         "value": math.nan if value is None else value, "status": status})
    return {k: v[-limit:] for k, v in out.items()}


def render_trend(path: str | os.PathLike, case: str | None = None, check: str | None = None) -> str:
    """Text for ``twinflow history``: the runs, or a case's checks over the runs."""
    if case is None:
        rows = runs(path)
        if not rows:
            return f"no runs recorded in {path}"
        lines = [f"{'run':>5}  {'created':<25} {'status':<12} {'seconds':>8}  {'commit':<9} {'seed':>6}  command"]
        for r in rows:
            lines.append(f"{r['id']:>5}  {r['created']:<25} {r['status']:<12} {r['seconds']:>8.1f}  "
                         f"{r['commit'] or '-':<9} {str(r['seed']) if r['seed'] is not None else '-':>6}  "
                         f"{r['command']}")
        return "\n".join(lines)
    series = check_history(path, case, check)
    if not series:
        return f"no recorded checks for case {case!r}" + (f", check {check!r}" if check else "") + f" in {path}"
    lines = []
    for name, points in series.items():
        lines.append(f"{case}: {name}")
        for p in points:
            lines.append(f"  run {p['run']:>4}  {p['created']}  {p['commit'] or '-':<9} {p['value']:>12.6g}  "
                         f"{p['status']}")
    return "\n".join(lines)


def history_series(path: str | os.PathLike, case: str, *, most: int = 8) -> list:
    """Report plot lines of a case's checks over the recorded runs (value relative to the first run of the line),
    for the checks with at least two finite values; the ``most`` that moved most."""
    from verify.harness import Series

    lines = []
    for name, points in check_history(path, case).items():
        values = [(p["run"], p["value"]) for p in points if math.isfinite(p["value"])]
        if len(values) < 2:
            continue
        first = values[0][1]
        scale = abs(first) if first != 0 else max(abs(v) for _, v in values) or 1.0
        rel = [v / scale for _, v in values]
        lines.append((max(rel) - min(rel), Series(f"history of {case}: value / |first value|",
                                                  tuple(float(r) for r, _ in values), tuple(rel), "run",
                                                  "value / |first value|", False, False, name[:40])))
    lines.sort(key=lambda t: -t[0])
    return [s for _, s in lines[:most]]
