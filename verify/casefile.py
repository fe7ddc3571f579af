"""Case files: a verification problem and its study settings written in TOML, without Python.

``twinflow study my-ou.toml`` and ``twinflow run my-ou.toml`` read a case file with :func:`load_case`, which
returns a :class:`CaseFile`: the :class:`~verify.problems.Problem`, the :class:`StudySettings` and the solver
name. The file is read with the standard library's :mod:`tomllib`; formulas are turned into SymPy by
:func:`verify.symbolic.safe_parse` only (an AST whitelist: nothing in the file is ever evaluated as Python).

A complete example (every key of ``[study]`` and ``[solver]`` is optional)::

    [problem]
    name = "my-ou"                  # optional; default: the file name without .toml
    kind = "fokker-planck"          # fokker-planck | continuity | sde | ode
    lower = [-6.0, -6.0]            # the box, one entry per axis (1-3 axes): the dimension d comes from here
    upper = [6.0, 6.0]
    t_final = 1.0
    diffusion = 0.5                 # a number ≥ 0, or a symmetric d×d matrix [[...], [...]]; default 0
    boundary = "zero-flux"          # or "periodic"; default zero-flux
    levels = [16, 32, 64, 128, 256] # optional default levels (cells per axis; step counts for sde/ode)
    steps_per_cell = 0.5            # optional: steps = ceil(steps_per_cell · cells) in space–time studies
    description = "my OU problem"   # optional: one line for tables and reports

    [problem.initial]               # a Gaussian initial law N(mean, cov)
    mean = [1.0, -0.5]
    cov = [[0.5, 0.1], [0.1, 0.3]]

    [problem.drift]                 # b(x) = matrix·x + offset (offset optional, default 0) ...
    matrix = [[-1.0, -0.4], [-0.4, -0.7]]
    offset = [0.2, -0.1]
    # ... or formulas, one per component, in t and x, y, z (by dimension):
    # expressions = ["0.6*sin(y) + 0.3*cos(t)", "0.5*cos(x)"]

    [study]
    refine = "space-time"           # space-time | space | time (ode problems: time)
    norm = "L1"                     # L1 | L2 | Linf
    levels = [16, 32, 64]           # overrides problem.levels for the study (at least 3, distinct)
    steps = 64                      # fixed steps (refine = "space")
    cells = 64                      # fixed cells per axis (refine = "time")
    expected_order = 2
    band = 0.2                      # accepted |fitted − expected|; or [below, above] (inf: one-sided)
    mass_tol = 1e-6                 # relative mass change allowed (grid problems); false: no mass check
    seed = 0
    correction = false              # true: fit C h^p (1 + a h^q), at least 5 levels (grid and ode problems)
    # sde problems: samples = 100000 (particles per replicate), replicates = 16,
    #               observables = ["mean", "covariance"]
    # ode problems: particles = 1000

    [solver]
    name = "mymod:solve"            # module:function (the command line's --solver overrides it)

A manufactured solution replaces ``[problem.initial]`` with ``[problem.exact]``; it needs drift expressions
(its source term S = ∂ρ/∂t + div(ρb) − div(D∇ρ) is derived by :func:`verify.symbolic.manufactured_source`)::

    [problem]
    kind = "fokker-planck"
    lower = [0.0, 0.0]
    upper = [6.283185307179586, 6.283185307179586]
    t_final = 0.5
    diffusion = 0.3
    boundary = "periodic"

    [problem.drift]
    expressions = ["0.6*sin(y) + 0.3*cos(t)", "0.5*cos(x)"]

    [problem.exact]
    density = "1 + 0.5*sin(x - t)*cos(y)"

Rules. Numbers are TOML integers or floats (no strings, booleans, nan or inf); in 1D a bare number may stand
for a 1-vector (mean, offset) or a 1×1 matrix (matrix, cov, diffusion); ``lower`` and ``upper`` are always
arrays. Formulas may use numbers, the variables t and x, y, z (as many as the box has axes), pi, E,
``+ - * / **`` and the one-argument functions of :func:`~verify.symbolic.safe_parse`. Every exact reference
must exist: sde problems need a matrix drift and ``[problem.initial]`` (the exact law is Gaussian); grid
problems need either that or ``[problem.exact]``; ode problems need ``[problem.initial]`` (expression
velocities are referenced by a DOP853 integration).

Every mistake raises :class:`CaseFileError`, one line starting with the file path, naming the table and key
and saying what to write instead.
"""
from __future__ import annotations

import datetime
import difflib
import math
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import sympy as sp

from verify import gaussian as G
from verify import symbolic
from verify.convergence import NORMS, REFINES
from verify.problems import BOUNDARIES, GRID_KINDS, KINDS, PARTICLE_KINDS, ExpressionField, Problem, space_symbols
from verify.symbolic import manufactured_source, safe_parse
from verify.studies import SOLVER_SPEC

__all__ = ["CaseFileError", "StudySettings", "CaseFile", "load_case", "OBSERVABLES"]

OBSERVABLES = ("mean", "covariance", "variance", "cov")  # what weak_order_study accepts by name

# allowed keys and sub-tables of every table (the order is the order of the messages)
_PROBLEM_KEYS = ("name", "kind", "lower", "upper", "t_final", "diffusion", "boundary", "levels", "steps_per_cell",
                 "description")
_PROBLEM_TABLES = ("initial", "drift", "exact")
_INITIAL_KEYS = ("mean", "cov")
_DRIFT_KEYS = ("matrix", "offset", "expressions")
_EXACT_KEYS = ("density",)
_STUDY_KEYS = ("refine", "norm", "levels", "steps", "cells", "expected_order", "band", "mass_tol", "samples",
               "replicates", "observables", "particles", "seed", "correction")
_SOLVER_KEYS = ("name",)
_TOP_TABLES = ("problem", "study", "solver")
_HOME = {  # where each key belongs, for "put it under [...]" hints
    "[problem]": _PROBLEM_KEYS, "[problem.initial]": _INITIAL_KEYS, "[problem.drift]": _DRIFT_KEYS,
    "[problem.exact]": _EXACT_KEYS, "[study]": _STUDY_KEYS, "[solver]": _SOLVER_KEYS,
}
_TOML_WHERE = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)\s*$")
_SYM_RTOL = 1e-12  # a symmetric matrix in a file: entries (i, j) and (j, i) agree to this relative tolerance
_MIN_LEVELS = 3


class CaseFileError(ValueError):
    """A case file that cannot be read or describes no valid problem; the message starts with the file path."""


@dataclass(frozen=True)
class StudySettings:
    """The ``[study]`` table: every field None (or ``mass_tol`` True) means "not set in the file".

    ``mass_tol``: True when the key is absent (use the library default), None for ``mass_tol = false`` (no
    mass check), else the tolerance. ``band``: a number or a (below, above) pair.
    """

    refine: str | None = None
    norm: str | None = None
    levels: tuple[int, ...] | None = None
    steps: int | None = None
    cells: int | None = None
    expected_order: float | None = None
    band: float | tuple[float, float] | None = None
    mass_tol: float | None | bool = True
    samples: int | None = None
    replicates: int | None = None
    observables: tuple[str, ...] | None = None
    particles: int | None = None
    seed: int | None = None
    correction: bool | None = None


@dataclass(frozen=True)
class CaseFile:
    """A loaded case file: its path, the Problem it defines, its study settings and its solver (or None)."""

    path: Path
    problem: Problem
    study: StudySettings
    solver: str | None


# --------------------------------------------------------------------------------------------- value checks
def _describe(value: Any) -> str:
    """How a TOML value reads in a message."""
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {_short(value)!r}"
    if isinstance(value, (datetime.date, datetime.time, datetime.datetime)):
        return f"a date/time ({value.isoformat()})"
    if isinstance(value, list):
        return f"an array {_short(value)}" if value else "an empty array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _close(word: str, choices: Sequence[str]) -> str:
    """' (did you mean 'x'?)' for a near miss (case-insensitive first), else ''."""
    low = word.lower()
    same_case = [c for c in choices if c.lower() == low]
    prefix = [c for c in choices
              if min(len(c), len(low)) >= 3 and (low.startswith(c.lower()) or c.lower().startswith(low))]
    match = same_case or difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6) or prefix
    return f" (did you mean {match[0]!r}?)" if match else ""


class _Reader:
    """Validation helpers that raise CaseFileError prefixed with the file label."""

    def __init__(self, label: str):
        self.label = label

    def fail(self, where: str, message: str) -> CaseFileError:
        return CaseFileError(f"{self.label}: {where} {message}")

    # -- tables -------------------------------------------------------------------------------------------
    def table(self, parent: dict, key: str, where: str, name: str) -> dict | None:
        """The sub-table ``parent[key]`` (None when absent); ``name`` is its header, e.g. "[problem.drift]"."""
        value = parent.get(key)
        if value is None or isinstance(value, dict):
            return value
        raise self.fail(where, f"{key} must be a table: write the header {name} on its own line and the keys below "
                               f"it; got {_describe(value)}")

    def keys(self, table: dict, where: str, allowed: Sequence[str], tables: Sequence[str] = ()) -> None:
        """Reject unknown keys and sub-tables, with a close match and where a misplaced key belongs."""
        for key, value in table.items():
            if key in allowed or key in tables:
                continue
            if isinstance(value, dict):
                prefix = where[1:-1]
                match = difflib.get_close_matches(key, list(tables), n=1, cutoff=0.6)
                hint = f" (did you mean [{prefix}.{match[0]}]?)" if match else ""
                listed = ", ".join(f"[{prefix}.{t}]" for t in tables) or "none"
                raise self.fail(f"[{prefix}.{key}]", f"is an unknown table{hint}; allowed tables here: {listed}")
            hint = _close(key, list(allowed))
            if not hint:
                homes = [t for t, ks in _HOME.items() if key in ks and t != where]
                if homes:
                    hint = f" (it belongs in {homes[0]}: move it under that header)"
            raise self.fail(where, f"unknown key {key!r}{hint}; allowed keys: {', '.join(allowed)}")

    def required(self, table: dict, key: str, where: str, what: str) -> Any:
        if key not in table:
            raise self.fail(where, f"missing key {key!r}: add {what}")
        return table[key]

    # -- scalars --------------------------------------------------------------------------------------------
    def number(self, value: Any, where: str, key: str, *, minimum: float | None = None, strict: bool = False,
               allow_inf: bool = False) -> float:
        """A finite real number (an int or float, not a boolean) ≥ minimum (> minimum when strict)."""
        if isinstance(value, bool):
            raise self.fail(where, f"{key} must be a number, got {_describe(value)}; write a number such as 1.0")
        if isinstance(value, str):
            raise self.fail(where, f"{key} must be a number, got {_describe(value)}; {_string_number_fix(value)}")
        if not isinstance(value, (int, float)):
            raise self.fail(where, f"{key} must be a number, got {_describe(value)}")
        x = float(value)
        if math.isnan(x) or (math.isinf(x) and not allow_inf):
            raise self.fail(where, f"{key} must be a finite number, got {value!r} (nan and inf are not allowed "
                                   "here); write a finite value")
        if minimum is not None and (x <= minimum if strict else x < minimum):
            raise self.fail(where, f"{key} must be {'>' if strict else '≥'} {minimum:g}, got {value!r}")
        return x

    def integer(self, value: Any, where: str, key: str, *, minimum: int = 1) -> int:
        """A TOML integer ≥ minimum (16.0 is refused with the fix: write 16)."""
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            raise self.fail(where, f"{key} must be a whole number, got {value!r}; write {int(value)} (no decimal "
                                   "point)")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"{key} must be a whole number ≥ {minimum}, got {_describe(value)}")
        if value < minimum:
            raise self.fail(where, f"{key} must be a whole number ≥ {minimum}, got {value}")
        return value

    def string(self, value: Any, where: str, key: str, choices: Sequence[str] | None = None) -> str:
        if not isinstance(value, str):
            example = f'"{choices[0]}"' if choices else '"..."'
            raise self.fail(where, f"{key} must be a string in quotes, e.g. {key} = {example}; got {_describe(value)}")
        if choices is not None and value not in choices:
            raise self.fail(where, f"{key} = {value!r} is not allowed{_close(value, choices)}; use one of: "
                                   f"{', '.join(choices)}")
        return value

    # -- arrays ---------------------------------------------------------------------------------------------
    def vector(self, value: Any, where: str, key: str, d: int) -> np.ndarray:
        """d numbers (a bare number when d = 1)."""
        if d == 1 and not isinstance(value, list):
            return np.array([self.number(value, where, key)])
        if not isinstance(value, list):
            raise self.fail(where, f"{key} must be an array of {d} numbers (one per axis), e.g. "
                                   f"{key} = {_example_vector(d)}; got {_describe(value)}")
        if len(value) != d:
            raise self.fail(where, f"{key} has {len(value)} entries but the problem is {d}-D (lower and upper have "
                                   f"{d}): give {d} numbers, one per axis")
        return np.array([self.number(v, where, f"{key}[{i}]") for i, v in enumerate(value)])

    def matrix(self, value: Any, where: str, key: str, d: int, *, symmetric: bool = False) -> np.ndarray:
        """A d×d matrix written as rows (a bare number when d = 1); symmetric ones are made exactly symmetric."""
        if d == 1 and not isinstance(value, list):
            return np.array([[self.number(value, where, key)]])
        example = _example_matrix(d)
        if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
            got = "a flat array" if isinstance(value, list) and value else _describe(value)
            raise self.fail(where, f"{key} must be a {d}×{d} matrix written as {d} rows, e.g. {key} = {example}; "
                                   f"got {got}")
        if len(value) != d:
            raise self.fail(where, f"{key} has {len(value)} rows but the problem is {d}-D: give a {d}×{d} matrix, "
                                   f"e.g. {key} = {example}")
        for i, row in enumerate(value):
            if len(row) != d:
                raise self.fail(where, f"{key} row {i} has {len(row)} entries; a {d}×{d} matrix needs {d} in every "
                                       f"row (it must be square, not ragged), e.g. {key} = {example}")
        m = np.array([[self.number(v, where, f"{key}[{i}][{j}]") for j, v in enumerate(row)]
                      for i, row in enumerate(value)])
        if symmetric:
            scale = max(float(np.max(np.abs(m))), np.finfo(float).tiny)
            for i in range(d):
                for j in range(i + 1, d):
                    if abs(m[i, j] - m[j, i]) > _SYM_RTOL * scale:
                        raise self.fail(where, f"{key} must be symmetric: {key}[{i}][{j}] = {float(m[i, j])!r} but "
                                               f"{key}[{j}][{i}] = {float(m[j, i])!r}; write the same number in both")
            m = 0.5 * (m + m.T)
        return m

    def levels(self, value: Any, where: str, key: str, minimum: int = _MIN_LEVELS) -> tuple[int, ...]:
        """Distinct positive integers, at least ``minimum`` of them."""
        if not isinstance(value, list):
            raise self.fail(where, f"{key} must be an array of whole numbers, e.g. {key} = [16, 32, 64]; got "
                                   f"{_describe(value)}")
        out = tuple(self.integer(v, where, f"{key}[{i}]") for i, v in enumerate(value))
        if len(out) < minimum:
            raise self.fail(where, f"{key} has {len(out)} entries; a fitted order with an interval needs at least "
                                   f"{minimum} levels, e.g. {key} = {list(_example_levels(minimum))}")
        if len(set(out)) != len(out):
            raise self.fail(where, f"{key} must be distinct, got {list(out)}; remove the repeated levels")
        return out

    def expression(self, text: Any, where: str, key: str, names: Sequence[sp.Symbol]) -> sp.Expr:
        """A formula in ``names`` through safe_parse (never evaluated as Python)."""
        variables = ", ".join(s.name for s in names)
        if not isinstance(text, str):
            raise self.fail(where, f"{key} must be a formula in quotes, e.g. \"-x\" (variables {variables}); got "
                                   f"{_describe(text)}")
        try:
            return safe_parse(text, names)
        except (ValueError, TypeError) as exc:
            functions = ", ".join(sorted(symbolic._FUNCTIONS))
            raise self.fail(where, f"{key}: {exc} — a formula may use numbers, the variables {variables}, pi, E, "
                                   f"+ - * / ** and the functions {functions}") from None


def _string_number_fix(text: str) -> str:
    s = text.strip()
    try:
        x = float(s)
    except ValueError:
        pass
    else:
        if math.isfinite(x):
            return f"write it without quotes ({s})"
        return "write a finite number without quotes (nan and inf are not allowed)"
    try:
        complex(s.replace(" ", "").replace("i", "j").replace("I", "j"))
    except ValueError:
        return "write a number without quotes"
    return "complex numbers are not supported: write a real number without quotes"


def _example_vector(d: int) -> str:
    return "[" + ", ".join(["0.0"] * d) + "]"


def _example_matrix(d: int) -> str:
    return "[" + ", ".join("[" + ", ".join("1.0" if i == j else "0.0" for j in range(d)) + "]" for i in range(d)) + "]"


def _example_levels(n: int) -> tuple[int, ...]:
    return tuple(16 * 2 ** k for k in range(n))


# --------------------------------------------------------------------------------------------- reading
def _read(path: Path, label: str) -> dict:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, IsADirectoryError) or path.is_dir():
            reason = "it is a directory, not a file"
        raise CaseFileError(f"{label}: cannot read the file: {reason}; check the path") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CaseFileError(f"{label}: cannot read the file: it is not UTF-8 text (byte {raw[exc.start]:#04x} at "
                            f"offset {exc.start}); save it as UTF-8") from None
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = _TOML_WHERE.search(message)
        what = message[:m.start()] if m else message
        if m and m.group(1):
            line, col = int(m.group(1)), int(m.group(2))
            lines = text.splitlines()
            shown = f" in {_short(lines[line - 1].strip())!r}" if 0 < line <= len(lines) else ""
            where = f"at line {line}, column {col}{shown}"
        elif m:
            where = "at the end of the file"
        else:
            where = "somewhere in the file"
        raise CaseFileError(f"{label}: TOML syntax error {where}: {what} (fix the line and rerun)") from None


def load_case(path: str | os.PathLike) -> CaseFile:
    """Read a TOML case file (format: the module docstring) into a :class:`CaseFile`.

    Raises :class:`CaseFileError` (a ValueError) naming the file, the table and key, and the fix."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    label = os.fspath(path)
    label = label if isinstance(label, str) else os.fsdecode(label)
    p = Path(label)
    data = _read(p, label)
    r = _Reader(label)
    for key, value in data.items():
        if key in _TOP_TABLES:
            continue
        if isinstance(value, dict):
            match = difflib.get_close_matches(key, list(_TOP_TABLES), n=1, cutoff=0.6)
            hint = f" (did you mean [{match[0]}]?)" if match else ""
            raise r.fail(f"[{key}]", f"is an unknown table{hint}; allowed tables: "
                                     f"{', '.join(f'[{t}]' for t in _TOP_TABLES)}")
        homes = [t for t, ks in _HOME.items() if key in ks]
        hint = f"; it belongs in {homes[0]}: put it below that header" if homes else \
            "; every key goes below a table header such as [problem]"
        raise r.fail("(top level)", f"unknown key {key!r}{hint}")
    problem_table = r.table(data, "problem", "(top level)", "[problem]")
    if problem_table is None:
        raise r.fail("(top level)", "missing table [problem]: add a [problem] header with kind, lower, upper, "
                                    "t_final and the tables [problem.drift] and [problem.initial] (or "
                                    "[problem.exact])")
    problem = _problem(r, problem_table, p)
    study = _study(r, r.table(data, "study", "(top level)", "[study]") or {}, problem)
    solver_table = r.table(data, "solver", "(top level)", "[solver]")
    solver = None
    if solver_table is not None:
        r.keys(solver_table, "[solver]", _SOLVER_KEYS)
        if "name" in solver_table:
            solver = r.string(solver_table["name"], "[solver]", "name")
            if not SOLVER_SPEC.match(solver):
                raise r.fail("[solver]", f"name = {solver!r} is not module:function; write e.g. name = "
                                         "\"mymod:solve\" (a file mymod.py defining solve)")
    return CaseFile(path=p, problem=problem, study=study, solver=solver)


# --------------------------------------------------------------------------------------------- [problem]
def _problem(r: _Reader, tab: dict, path: Path) -> Problem:
    W = "[problem]"
    r.keys(tab, W, _PROBLEM_KEYS, _PROBLEM_TABLES)
    name = path.stem
    if "name" in tab:
        name = r.string(tab["name"], W, "name")
        if not name.strip():
            raise r.fail(W, "name must not be empty; write e.g. name = \"my-problem\" or leave the key out")
    kind = r.string(r.required(tab, "kind", W, f"kind = \"fokker-planck\" (one of: {', '.join(KINDS)})"), W, "kind",
                    KINDS)
    lower_v = r.required(tab, "lower", W, "lower = [-6.0, -6.0] (the box's lower corner, one entry per axis)")
    upper_v = r.required(tab, "upper", W, "upper = [6.0, 6.0] (the box's upper corner, one entry per axis)")
    if not isinstance(lower_v, list) or not 1 <= len(lower_v) <= 3:
        got = f"{len(lower_v)} entries" if isinstance(lower_v, list) else _describe(lower_v)
        raise r.fail(W, f"lower must be an array of 1 to 3 numbers (one per axis: it sets the dimension), e.g. "
                        f"lower = [-6.0] in 1D or [-6.0, -6.0] in 2D; got {got}")
    d = len(lower_v)
    if not isinstance(upper_v, list) or len(upper_v) != d:
        got = f"{len(upper_v)} entries" if isinstance(upper_v, list) else _describe(upper_v)
        raise r.fail(W, f"upper must be an array of {d} numbers like lower (one per axis); got {got}")
    lower = r.vector(lower_v, W, "lower", d)
    upper = r.vector(upper_v, W, "upper", d)
    for k in range(d):
        if not upper[k] > lower[k]:
            raise r.fail(W, f"the box is empty on axis {k}: upper[{k}] = {float(upper[k])!r} must be > lower[{k}] = "
                            f"{float(lower[k])!r}")
    t_final = r.number(r.required(tab, "t_final", W, "t_final = 1.0 (the final time T > 0)"), W, "t_final",
                       minimum=0.0, strict=True)
    if "diffusion" in tab:
        dv = tab["diffusion"]
        if isinstance(dv, list):
            diffusion: Any = r.matrix(dv, W, "diffusion", d, symmetric=True)
        else:
            diffusion = r.number(dv, W, "diffusion", minimum=0.0)
    elif kind == "fokker-planck":
        raise r.fail(W, "missing key 'diffusion': a fokker-planck problem needs diffusion > 0 (a number, or a "
                        f"symmetric {d}×{d} matrix); for no diffusion use kind = \"continuity\"")
    else:
        diffusion = 0.0
    boundary = r.string(tab["boundary"], W, "boundary", BOUNDARIES) if "boundary" in tab else "zero-flux"
    levels = r.levels(tab["levels"], W, "levels") if "levels" in tab else ()
    spc = r.number(tab["steps_per_cell"], W, "steps_per_cell", minimum=0.0, strict=True) \
        if "steps_per_cell" in tab else 0.5
    description = r.string(tab["description"], W, "description") if "description" in tab else \
        f"case file {path.name}"

    initial_t = r.table(tab, "initial", W, "[problem.initial]")
    drift_t = r.table(tab, "drift", W, "[problem.drift]")
    exact_t = r.table(tab, "exact", W, "[problem.exact]")
    t, xs = space_symbols(d)
    names = (t, *xs)
    variables = ", ".join(s.name for s in names)

    # drift
    if drift_t is None:
        raise r.fail(W, "missing table [problem.drift]: add it with matrix = [[...]] (and offset = [...]) for "
                        f"b(x) = matrix·x + offset, or expressions = [...] ({d} formulas in {variables})")
    D = "[problem.drift]"
    r.keys(drift_t, D, _DRIFT_KEYS)
    has_matrix, has_expr = "matrix" in drift_t, "expressions" in drift_t
    if has_matrix and has_expr:
        raise r.fail(D, "gives both matrix and expressions: keep one (matrix and offset for an affine drift, or "
                        "expressions)")
    if not has_matrix and not has_expr:
        what = "offset alone is not a drift: add matrix" if "offset" in drift_t else "is empty: add matrix"
        raise r.fail(D, f"{what} = [[...]] (with an optional offset) for b(x) = matrix·x + offset, or expressions = "
                        f"[...] ({d} formulas in {variables})")
    drift: Any
    drift_exprs: tuple[sp.Expr, ...] | None = None
    if has_matrix:
        matrix = r.matrix(drift_t["matrix"], D, "matrix", d)
        offset = r.vector(drift_t["offset"], D, "offset", d) if "offset" in drift_t else None
        drift = G.Affine(matrix, offset)
    else:
        if "offset" in drift_t:
            raise r.fail(D, "offset goes with matrix, not with expressions: add the constant to each expression")
        ev = drift_t["expressions"]
        if d == 1 and isinstance(ev, str):
            ev = [ev]
        if not isinstance(ev, list):
            raise r.fail(D, f"expressions must be an array of {d} formulas in quotes, e.g. expressions = "
                            f"{_example_expressions(d)}; got {_describe(ev)}")
        if len(ev) != d:
            raise r.fail(D, f"expressions has {len(ev)} entries but the problem is {d}-D: give {d} formulas (one per "
                            f"component, in {variables}), e.g. expressions = {_example_expressions(d)}")
        drift_exprs = tuple(r.expression(e, D, f"expressions[{i}]", names) for i, e in enumerate(ev))
        try:
            drift = ExpressionField(drift_exprs)
        except (ValueError, TypeError) as exc:
            raise r.fail(D, f"expressions: {exc}") from None

    # reference: an initial Gaussian law or a manufactured density
    manufactured = None
    initial = None
    if exact_t is not None and initial_t is not None:
        raise r.fail("[problem.exact]", "and [problem.initial] are both given: a manufactured density sets the "
                                        "initial density itself (ρ at t = 0); remove one of the two tables")
    if exact_t is not None:
        X = "[problem.exact]"
        r.keys(exact_t, X, _EXACT_KEYS)
        if kind not in GRID_KINDS:
            raise r.fail(X, f"a manufactured density needs a grid problem (kind = \"fokker-planck\" or "
                            f"\"continuity\"), not kind = {kind!r}; for {kind} use [problem.initial] and a matrix "
                            "drift")
        density = r.required(exact_t, "density", X, f"density = \"...\" (the exact density ρ(t, x), a formula in "
                                                    f"{variables})")
        if drift_exprs is None:
            raise r.fail(X, "needs drift expressions, but [problem.drift] gives a matrix: write the drift as "
                            f"expressions = [...] ({d} formulas in {variables}, e.g. matrix·x + offset written out) "
                            "so that the source term can be derived")
        rho = r.expression(density, X, "density", names)
        dm = diffusion.tolist() if isinstance(diffusion, np.ndarray) else float(diffusion)
        try:
            manufactured = manufactured_source(rho, drift_exprs, dm, t, xs)
        except (ValueError, TypeError) as exc:
            raise r.fail(X, f"density: deriving the source term failed: {exc}") from None
        drift = manufactured.drift
    elif initial_t is not None:
        I = "[problem.initial]"
        r.keys(initial_t, I, _INITIAL_KEYS)
        mean = r.vector(r.required(initial_t, "mean", I, f"mean = {_example_vector(d)} (the initial mean)"), I,
                        "mean", d)
        cov = r.matrix(r.required(initial_t, "cov", I, f"cov = {_example_matrix(d)} (the initial covariance)"), I,
                       "cov", d, symmetric=True)
        try:
            initial = G.Gaussian(mean, cov)
        except (ValueError, TypeError) as exc:
            raise r.fail(I, str(exc)) from None
    elif kind in PARTICLE_KINDS:
        raise r.fail(W, f"missing table [problem.initial]: a {kind} problem samples its particles from a Gaussian "
                        f"initial law; add [problem.initial] with mean = [...] and cov = [[...]]")
    else:
        raise r.fail(W, "missing table [problem.initial] or [problem.exact]: a grid problem needs an exact "
                        "reference, a Gaussian initial law (mean, cov) with a matrix drift, or a manufactured "
                        "density (density = \"...\") with drift expressions")

    if drift_exprs is not None and manufactured is None:
        if kind == "sde":
            raise r.fail(D, "an sde problem needs a matrix drift (b = matrix·x + offset): its exact law is the "
                            "Gaussian of a linear SDE; expressions have no exact reference")
        if kind in GRID_KINDS:
            raise r.fail(D, f"expressions on a {kind} problem need [problem.exact] (a manufactured density) as the "
                            "exact reference; with [problem.initial] use a matrix drift (the exact law is Gaussian)")
    try:
        return Problem(name=name, kind=kind, lower=tuple(lower), upper=tuple(upper), t_final=t_final, drift=drift,
                       diffusion=diffusion, initial=initial, manufactured=manufactured, boundary=boundary,
                       levels=levels, steps_per_cell=spc, description=description)
    except (ValueError, TypeError) as exc:
        raise r.fail(W, str(exc)) from None


def _example_expressions(d: int) -> str:
    return '["-x"]' if d == 1 else ('["-y", "x"]' if d == 2 else '["-y", "x", "-z"]')


# --------------------------------------------------------------------------------------------- [study]
def _study(r: _Reader, tab: dict, problem: Problem) -> StudySettings:
    W = "[study]"
    r.keys(tab, W, _STUDY_KEYS)
    kind = problem.kind
    only = {"samples": ("sde",), "replicates": ("sde",), "observables": ("sde",), "particles": ("ode",),
            "refine": ("fokker-planck", "continuity", "ode"), "norm": ("fokker-planck", "continuity", "ode"),
            "steps": GRID_KINDS, "cells": GRID_KINDS, "mass_tol": GRID_KINDS,
            "correction": ("fokker-planck", "continuity", "ode")}
    for key, kinds in only.items():
        if key in tab and kind not in kinds:
            raise r.fail(W, f"{key} does not apply to a {kind} problem (it is for {' and '.join(kinds)} "
                            "problems); remove it")
    out: dict[str, Any] = {}
    if "refine" in tab:
        out["refine"] = r.string(tab["refine"], W, "refine", REFINES)
        if kind == "ode" and out["refine"] != "time":
            raise r.fail(W, f"refine = {out['refine']!r}: an ode problem is refined in time only (levels are step "
                            "counts); write refine = \"time\" or leave it out")
    if "norm" in tab:
        out["norm"] = r.string(tab["norm"], W, "norm", NORMS)
    if "levels" in tab:
        minimum = _MIN_LEVELS + 1 if kind in GRID_KINDS and out.get("refine") == "time" else _MIN_LEVELS
        out["levels"] = r.levels(tab["levels"], W, "levels", minimum)
    for key in ("steps", "cells", "particles"):
        if key in tab:
            out[key] = r.integer(tab[key], W, key, minimum=1)
    for key in ("samples", "replicates"):
        if key in tab:
            out[key] = r.integer(tab[key], W, key, minimum=2)
    if "seed" in tab:
        out["seed"] = r.integer(tab["seed"], W, "seed", minimum=0)
    if "correction" in tab:
        if not isinstance(tab["correction"], bool):
            raise r.fail(W, f"correction must be true or false, got {_describe(tab['correction'])}")
        out["correction"] = tab["correction"]
    if "expected_order" in tab:
        out["expected_order"] = r.number(tab["expected_order"], W, "expected_order", minimum=0.0, strict=True)
    if "band" in tab:
        out["band"] = _band(r, tab["band"])
    if "mass_tol" in tab:
        v = tab["mass_tol"]
        if v is False:
            out["mass_tol"] = None
        elif v is True:
            raise r.fail(W, "mass_tol = true is not a tolerance: write a number > 0 (e.g. mass_tol = 1e-6), false "
                            "to switch the mass check off, or leave the key out for the default")
        else:
            out["mass_tol"] = r.number(v, W, "mass_tol", minimum=0.0, strict=True)
    if "observables" in tab:
        v = tab["observables"]
        items = [v] if isinstance(v, str) else v
        if not isinstance(items, list) or not items:
            raise r.fail(W, f"observables must be a non-empty array of names, e.g. observables = [\"mean\", "
                            f"\"covariance\"]; got {_describe(v)}")
        obs = tuple(r.string(o, W, f"observables[{i}]", OBSERVABLES) for i, o in enumerate(items))
        if len(set(obs)) != len(obs):
            raise r.fail(W, f"observables has a repeated name ({list(obs)}); list each once")
        out["observables"] = obs
    return StudySettings(**out)


def _band(r: _Reader, value: Any) -> float | tuple[float, float]:
    W = "[study]"
    if isinstance(value, list):
        if len(value) != 2:
            raise r.fail(W, f"band as an array must be [below, above] (2 numbers), got {len(value)} entries; or "
                            "write one number, e.g. band = 0.2")
        below, above = (r.number(v, W, f"band[{i}]", minimum=0.0, allow_inf=True) for i, v in enumerate(value))
        if below == 0 and above == 0:
            raise r.fail(W, "band = [0, 0] accepts nothing: give widths > 0, e.g. band = [0.2, 0.2]")
        if math.isinf(below) and math.isinf(above):
            raise r.fail(W, "band = [inf, inf] rejects nothing: at least one side must be finite, e.g. "
                            "band = [0.2, inf]")
        return (below, above)
    band = r.number(value, W, "band", minimum=0.0)
    if band == 0:
        raise r.fail(W, "band = 0 accepts nothing: give a width > 0, e.g. band = 0.2")
    return band
