"""The guards of the library's results and which of them the bad-input catalog makes raise
(for tests/verify/test_guard_sites.py).

A guard is a call of a shared helper that refuses a bad result with a message naming it: an overflow
(``_finite(value, "the Brenier map matrix")``), a memory refusal (``check_memory(nbytes, "the kernel block", fix)``),
a complex value returned by a user's callable (``real_output("source(t, x)", ...)``). Coverage cannot tell these
call sites apart: the helper's ``raise`` runs for every one of them, so a site whose message names the wrong
quantity passes unless some input makes that very site raise. ``guard_sites()`` lists the sites from the source
(by file, enclosing function and the message's literal start); ``raised_sites()`` wraps the helpers wherever a
module of eulerian, lagrangian or verify.gaussian holds them and records which sites raise while it runs.
Nothing here is part of twinflow.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from tests.source_sites import FILES, enclosing_functions, relative


# helper name -> the position of its argument that names what is refused
GUARDS = {"_finite": 1, "_finite_scalar": 1, "check_finite_result": 1, "check_memory": 1, "check_pairwise": 2,
          "real_output": 0, "check_real_output": 1, "check_real": 0}


@dataclass(frozen=True)
class Site:
    """One call of a guard: file (relative to the root), line, enclosing function, helper, the message's literal
    start (the text before its first placeholder)."""

    file: str
    line: int
    function: str
    helper: str
    prefix: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.function}: {self.helper}({self.prefix!r}...)"


def _prefix(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        first = node.values[0]
        return first.value if isinstance(first, ast.Constant) else ""
    return None   # a name: the helper's caller passes it on (a site of its own caller)


def guard_sites(files: list[Path] = FILES) -> list[Site]:
    """Every call of a guard with a literal (or f-string) message, with the function it is written in (a lambda or
    comprehension counts as the function around it)."""
    out = []
    for path in files:
        tree = ast.parse(path.read_text())
        owner = enclosing_functions(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            helper = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if helper not in GUARDS or owner[node] == helper:
                continue
            i = GUARDS[helper]
            prefix = _prefix(node.args[i] if len(node.args) > i else None)
            if prefix is not None:
                out.append(Site(relative(path), node.lineno, owner[node], helper, prefix))
    return out


def _modules() -> list[Any]:
    return [m for name, m in list(sys.modules.items())
            if name.split(".")[0] in ("eulerian", "lagrangian") or name == "verify.gaussian"]


@contextlib.contextmanager
def raised_sites() -> Iterator[set[tuple[str, str, str, str]]]:
    """Record (file, function, helper, message) for every guard that raises inside the block."""
    raised: set[tuple[str, str, str, str]] = set()

    def spy(helper: str, fn: Callable) -> Callable:
        i = GUARDS[helper]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception:
                frame = sys._getframe(1)
                code = frame.f_code
                function = [q for q in code.co_qualname.split(".") if not q.startswith("<")][-1]
                what = args[i] if len(args) > i else None
                file = relative(code.co_filename)
                raised.add((file, function, helper, what if isinstance(what, str) else ""))
                raise

        return wrapper

    wrappers: dict[int, Callable] = {}
    patched = []
    for module in _modules():
        for helper in GUARDS:
            fn = module.__dict__.get(helper)
            if callable(fn) and fn not in wrappers.values():
                wrapper = wrappers.setdefault(id(fn), spy(helper, fn))
                patched.append((module, helper, fn))
                setattr(module, helper, wrapper)
    try:
        yield raised
    finally:
        for module, helper, fn in patched:
            setattr(module, helper, fn)


def unreached(sites: list[Site], raised: set[tuple[str, str, str, str]]) -> list[Site]:
    """The sites that no recorded raise came from."""
    return [s for s in sites if not any(file == s.file and function == s.function and helper == s.helper
                                        and what.startswith(s.prefix) for file, function, helper, what in raised)]
