"""The floating-point suppressions of the library and which of them the bad-input catalog makes suppress something
(for tests/verify/test_errstate_sites.py).

A suppression is a keyword ``over="ignore"`` (``divide``, ``under``, ``invalid``) of ``np.errstate`` in eulerian,
lagrangian or verify.gaussian: the block computes something that may overflow (or divide by zero, ...) and checks
the result itself, so NumPy's RuntimeWarning must not escape. Such a keyword is either needed (some input makes
that block overflow: dropping it lets a warning escape, which the catalog counts as a gap) or dead (dropping it
changes nothing a test can see). ``errstate_sites()`` lists the keywords from the source; ``suppressions()``
replaces ``numpy.errstate`` while it runs by one that turns each of the library's "ignore" into NumPy's "call" mode
with a callback that records which keyword of which block caught an error. Nothing here is part of twinflow.
"""
from __future__ import annotations

import ast
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from tests.source_sites import FILES, enclosing_functions, relative

CATEGORIES = {"overflow": "over", "underflow": "under", "divide": "divide", "invalid": "invalid"}


@dataclass(frozen=True)
class Site:
    """One ``<category>="ignore"`` of an ``np.errstate`` call: file (relative to the root), line, function."""

    file: str
    line: int
    function: str
    category: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.function}: np.errstate({self.category}=\"ignore\")"


def errstate_sites(files: list[Path] = FILES) -> list[Site]:
    """Every "ignore" keyword of every ``np.errstate(...)`` call in ``files``."""
    out = []
    for path in files:
        tree = ast.parse(path.read_text())
        owner = enclosing_functions(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "errstate":
                out += [Site(relative(path), node.lineno, owner[node], kw.arg) for kw in node.keywords
                        if isinstance(kw.value, ast.Constant) and kw.value.value == "ignore"]
    return out


@contextlib.contextmanager
def suppressions(files: list[Path] = FILES) -> Iterator[set[tuple[str, int, str]]]:
    """Record (file, line, category) of every "ignore" keyword of the library's np.errstate blocks that caught a
    floating-point error inside the block (the innermost block ignoring that category)."""
    caught: set[tuple[str, int, str]] = set()
    ours = {relative(p) for p in files}
    original = np.errstate
    stack: list[tuple[tuple[str, int], set[str]]] = []

    def callback(err: str, flag: int) -> None:
        category = next(c for word, c in CATEGORIES.items() if err.startswith(word))
        for site, ignored in reversed(stack):
            if category in ignored or "all" in ignored:   # all="ignore" is recorded as such
                caught.add((*site, category if category in ignored else "all"))
                return

    class Spy:
        def __init__(self, **kw: Any) -> None:
            frame = sys._getframe(1)
            file = relative(frame.f_code.co_filename)
            ignored = {k for k, v in kw.items() if v == "ignore"} if file in ours and "call" not in kw else set()
            self.entry = ((file, frame.f_lineno), ignored)
            if ignored:
                kw = {k: "call" if k in ignored else v for k, v in kw.items()}
                kw["call"] = callback
            self.inner = original(**kw)

        def __enter__(self) -> Any:
            stack.append(self.entry)
            return self.inner.__enter__()

        def __exit__(self, *exc: Any) -> Any:
            stack.pop()
            return self.inner.__exit__(*exc)

    np.errstate = Spy
    try:
        yield caught
    finally:
        np.errstate = original


def silent(sites: list[Site], caught: set[tuple[str, int, str]]) -> list[Site]:
    """The sites whose keyword caught nothing."""
    return [s for s in sites if (s.file, s.line, s.category) not in caught]
