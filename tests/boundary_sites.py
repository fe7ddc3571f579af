"""The range checks of the library and which of them the bad-input catalog calls at their boundary
(for tests/verify/test_boundary_sites.py).

A range check is an order comparison (<, <=, >, >=) in the condition of an ``if`` whose body raises:
``if steps < minimum: raise ValueError(...)``, ``if not 0.0 < alpha < 2.0: raise ...``. A mutant that moves the
boundary (``<`` into ``<=``) changes the outcome at exactly one value, so it is caught only by a call that makes
the two sides of that comparison equal: ``steps == minimum`` accepted, ``alpha == 2.0`` refused.
``boundary_sites()`` lists the comparisons from the source; ``boundary_hits()`` recompiles the functions of
eulerian, lagrangian and verify.gaussian with each listed comparison routed through a probe (the function objects
stay the same: only their code is swapped while it runs) and records which comparisons were evaluated with two
equal sides. Nothing here is part of twinflow.
"""
from __future__ import annotations

import ast
import contextlib
import importlib
import operator
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from tests.source_sites import FILES, ROOT, enclosing_functions, relative

ORDER = {"Lt": operator.lt, "LtE": operator.le, "Gt": operator.gt, "GtE": operator.ge}
OPS = {**ORDER, "Eq": operator.eq, "NotEq": operator.ne, "Is": operator.is_, "IsNot": operator.is_not,
       "In": lambda a, b: a in b, "NotIn": lambda a, b: a not in b}
PROBE = "__twinflow_boundary_probe__"


@dataclass(frozen=True)
class Site:
    """One order comparison of a range check: file (relative to the root), line, enclosing function, the
    comparison's text and which of its operators (0 for ``a < b``; 0 or 1 for ``a < b < c``)."""

    file: str
    line: int
    function: str
    text: str
    index: int
    of: int

    def __str__(self) -> str:
        part = f" (comparison {self.index + 1} of {self.of})" if self.of > 1 else ""
        return f"{self.file}:{self.line} {self.function}: {self.text}{part}"


def _range_compares(tree: ast.AST) -> list[ast.Compare]:
    """The Compare nodes with an order operator in the condition of an ``if`` whose body raises."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and any(isinstance(s, ast.Raise) for s in node.body):
            found += [c for c in ast.walk(node.test) if isinstance(c, ast.Compare)
                      and any(type(o).__name__ in ORDER for o in c.ops)]
    return found


def _module_name(path: Path) -> str:
    """The dotted name a file of the checkout is imported under (a file elsewhere: its stem, on sys.path)."""
    if not path.is_relative_to(ROOT):
        return path.stem
    return relative(path)[:-3].replace("/", ".").removesuffix(".__init__")


def boundary_sites(files: list[Path] = FILES) -> list[Site]:
    """Every order operator of every range check in ``files``."""
    out = []
    for path in files:
        src = path.read_text()
        tree = ast.parse(src)
        owner = enclosing_functions(tree)
        for c in _range_compares(tree):
            text = ast.get_source_segment(src, c) or ""
            out += [Site(relative(path), c.lineno, owner[c], " ".join(text.split()), i, len(c.ops))
                    for i, op in enumerate(c.ops) if type(op).__name__ in ORDER]
    return out


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(np.any(np.asarray(a == b)))
    except Exception:  # operands that cannot be compared for equality: no boundary to record
        return False


class _Instrument(ast.NodeTransformer):
    """Replaces each range-check comparison by PROBE(key, [operands], (operators,)) (evaluated eagerly, left to
    right; the operands of the library's range checks have no side effects)."""

    def __init__(self, file: str, targets: set[ast.Compare], owner: dict[ast.AST, str]) -> None:
        self.file, self.targets, self.owner = file, targets, owner

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if node not in self.targets:
            return node
        key = (self.file, node.lineno, self.owner[node])
        call = ast.Call(func=ast.Name(PROBE, ast.Load()),
                        args=[ast.Constant(key), ast.List([node.left, *node.comparators], ast.Load()),
                              ast.Constant(tuple(type(o).__name__ for o in node.ops))], keywords=[])
        return ast.copy_location(call, node)


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _functions(module: types.ModuleType) -> Iterator[types.FunctionType]:
    """The functions written in ``module``: its own, its classes' methods (static, class, property accessors), and
    what decorators (functools.wraps, lru_cache) wrap."""
    seen: set[int] = set()

    def unwrap(obj: Any) -> Iterator[types.FunctionType]:
        for _ in range(5):
            if isinstance(obj, (staticmethod, classmethod)):
                obj = obj.__func__
            if isinstance(obj, types.FunctionType) and id(obj) not in seen:
                seen.add(id(obj))
                yield obj
            wrapped = getattr(obj, "__wrapped__", None)
            if wrapped is None:
                return
            obj = wrapped

    for value in list(vars(module).values()):
        if isinstance(value, type) and value.__module__ == module.__name__:
            for attr in vars(value).values():
                if isinstance(attr, property):
                    for f in (attr.fget, attr.fset):
                        yield from unwrap(f)
                else:
                    yield from unwrap(attr)
        elif getattr(value, "__module__", None) == module.__name__:
            yield from unwrap(value)


@contextlib.contextmanager
def boundary_hits(files: list[Path] = FILES) -> Iterator[set[tuple[str, int, str, int]]]:
    """Record (file, line, function, operator index) for every range-check comparison evaluated with two equal
    sides inside the block (an array comparison counts when any element pair is equal)."""
    hits: set[tuple[str, int, str, int]] = set()

    def probe(key: tuple[str, int, str], operands: list, ops: tuple[str, ...]) -> Any:
        result: Any = True
        for i, op in enumerate(ops):
            a, b = operands[i], operands[i + 1]
            if op in ORDER and _equal(a, b):
                hits.add((*key, i))
            result = OPS[op](a, b)
            if len(ops) > 1 and not result:
                return False
        return result

    swapped: list[tuple[types.FunctionType, types.CodeType]] = []
    for path in files:
        rel = relative(path)
        module = importlib.import_module(_module_name(path))
        tree = ast.parse(path.read_text())
        owner = enclosing_functions(tree)
        tree = ast.fix_missing_locations(_Instrument(rel, set(_range_compares(tree)), owner).visit(tree))
        new = {(c.co_qualname, c.co_firstlineno): c for c in _codes(compile(tree, str(path), "exec"))}
        module.__dict__[PROBE] = probe
        for fn in _functions(module):
            code = new.get((fn.__code__.co_qualname, fn.__code__.co_firstlineno))
            if code is not None and code.co_freevars == fn.__code__.co_freevars and code != fn.__code__:
                swapped.append((fn, fn.__code__))
                fn.__code__ = code
    try:
        yield hits
    finally:
        for fn, code in swapped:
            fn.__code__ = code
        for path in files:
            sys.modules[_module_name(path)].__dict__.pop(PROBE, None)


def unhit(sites: list[Site], hits: set[tuple[str, int, str, int]]) -> list[Site]:
    """The sites no recorded evaluation met at its boundary."""
    return [s for s in sites if (s.file, s.line, s.function, s.index) not in hits]
