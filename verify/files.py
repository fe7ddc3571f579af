"""Files written as one set: all new or all old, whatever happens to the writer.

:func:`write_set` writes every file of the set to a temporary file beside its target (flushed to disk), then a
journal naming the renames (the commit point), then renames them into place with SIGINT and SIGTERM held back,
and removes the journal. A writer killed before the journal leaves only temporary files; one killed after it
leaves the journal. The next :func:`write_set` into the directory (or :func:`recover`) finishes the renames of
a journal and deletes orphaned temporary files, under an exclusive lock on the directory (``fcntl.flock`` on the
directory's descriptor, released by the system when a process dies), so that two writers never interleave.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import Iterator, Mapping

__all__ = ["write_set", "recover", "JOURNAL"]

JOURNAL = ".twinflow-write.json"
_TEMP_SUFFIX = ".twinflow-tmp"


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on the directory itself (flock on its descriptor: no lock file is left behind)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # releases the lock


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM received inside the block are delivered when it ends, to the handlers in place before
    it (Python runs signal handlers in the main thread; elsewhere the block holds nothing back)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, frame: pending.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in pending:
            signal.raise_signal(s)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporary(target: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=_TEMP_SUFFIX, dir=target.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file ordinary permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def _apply(directory: Path, renames: Mapping[str, str]) -> None:
    for tmp, name in renames.items():
        if (directory / tmp).exists():
            os.replace(directory / tmp, directory / name)
    _fsync_directory(directory)
    (directory / JOURNAL).unlink(missing_ok=True)


def _recover_locked(directory: Path) -> list[str]:
    done = []
    journal = directory / JOURNAL
    if journal.exists():
        try:
            renames = json.loads(journal.read_text(encoding="utf-8"))["renames"]
        except (OSError, ValueError, KeyError, TypeError):
            renames = {}   # a journal cut short by a kill: its temporary files are orphans, removed below
        safe = {t: n for t, n in renames.items() if "/" not in t + n and t.endswith(_TEMP_SUFFIX)}
        _apply(directory, safe)
        done = sorted(safe.values())
    for orphan in directory.glob(f".*{_TEMP_SUFFIX}"):
        orphan.unlink(missing_ok=True)
    return done


def recover(directory: str | os.PathLike) -> list[str]:
    """Finish the set an interrupted writer committed and delete orphaned temporary files; returns the names of
    the files that were renamed into place."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    with _locked(directory):
        return _recover_locked(directory)


def write_set(directory: str | os.PathLike, files: Mapping[str, bytes | str]) -> dict[str, Path]:
    """Write ``files`` (name → contents; str is written as UTF-8) into ``directory`` as one set; returns their
    paths. Other files in the directory are left alone."""
    directory = Path(directory)
    for name in files:
        if not name or "/" in name or os.sep in name or name in (".", ".."):
            raise ValueError(f"write_set: {name!r} is not a plain file name")
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        _recover_locked(directory)
        temps: dict[str, str] = {}
        try:
            for name, data in files.items():
                payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
                temps[_temporary(directory / name, payload).name] = name
            journal = _temporary(directory / JOURNAL, json.dumps({"renames": temps}).encode("utf-8"))
        except BaseException:
            for tmp in temps:
                (directory / tmp).unlink(missing_ok=True)
            raise
        with _signals_held():
            os.replace(journal, directory / JOURNAL)   # the commit point
            _apply(directory, temps)
    return {name: directory / name for name in files}
