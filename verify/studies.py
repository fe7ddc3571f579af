"""One path from "this solver on that problem" to a verdict: used by ``twinflow study``, by ``twinflow run
FILE.toml`` and by the pytest plugin.

A :class:`StudyRequest` names the problem (a built-in name, a TOML case file or a Problem), the solver (a
callable, a ``module:function`` string, or None for twinflow's own solver of that kind) and optional study
settings; :func:`run_study` merges them with the case file's settings, runs :func:`convergence_study` (grid and
ODE problems) or :func:`weak_order_study` (SDE problems) and returns a :class:`StudyOutcome`: the study, its
checks as a :class:`~verify.harness.CaseResult` (for reports) and the printed table.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.util
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from verify.adapters import declared_order, default_solver, solver_name
from verify.convergence import (DEFAULT_BAND, MASS_TOL, ConvergenceStudy, StudyError, WeakOrderStudy,
                                _check_levels, convergence_study, weak_order_study)
from verify.harness import CaseResult, Series, json_float
from verify.problems import Problem, as_problem

__all__ = ["StudyRequest", "StudyOutcome", "run_study", "load_solver", "import_module", "SolverImportError"]

DEFAULT_SAMPLES = 100_000
DEFAULT_REPLICATES = 16


class SolverImportError(StudyError):
    """A ``module:function`` solver that cannot be imported or is not callable."""


SOLVER_SPEC = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")  # module:function


_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_LOADED: dict[tuple[str, int], Any] = {}   # user modules loaded from files, by (resolved path, mtime)


@contextlib.contextmanager
def _on_path(folders: list[str]):
    """``folders`` at the front of sys.path while the block runs (imports of the user's own siblings work)."""
    added = [f for f in folders if f not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for f in added:
            if f in sys.path:
                sys.path.remove(f)


def _load_file(module: str, path: Path, what: str) -> Any:
    """Load ``path`` as a module of its own (a fresh name per file), so that two solvers called mysolver.py in
    different folders never stand in for each other."""
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key in _LOADED:
        return _LOADED[key]
    name = f"twinflow_user_{hashlib.sha256(key[0].encode()).hexdigest()[:12]}_{module}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        with _on_path([str(path.parent)]):
            spec.loader.exec_module(mod)
    except Exception as exc:  # noqa: BLE001 - the user's module raised while importing
        sys.modules.pop(name, None)
        raise SolverImportError(f"{what}: importing {module!r} ({path}) raised {type(exc).__name__}: {exc}") from None
    _LOADED[key] = mod
    return mod


def import_module(module: str, *, what: str = "--import", near: str | os.PathLike | None = None) -> Any:
    """Import the module a user names: a file ``module.py`` beside a case file (``near``) or in the current
    directory is loaded from that file; otherwise the module is imported from the Python path. Nothing else is
    evaluated, and sys.path is left as it was."""
    if not isinstance(module, str) or not _MODULE.match(module):
        raise SolverImportError(f"{what}: {module!r} is not a module name such as mymod or pkg.mymod")
    cwd = os.getcwd()
    folders = ([os.path.abspath(near)] if near is not None else []) + [cwd]
    if "." not in module:
        for folder in folders:
            path = Path(folder) / f"{module}.py"
            if path.is_file():
                return _load_file(module, path, what)
    try:
        with _on_path(folders):
            return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            beside = "" if near is None else f" or beside the case file ({folders[0]})"
            raise SolverImportError(f"{what}: no module named {module!r} in the current directory ({cwd}){beside} "
                                    "or on the Python path") from None
        raise SolverImportError(f"{what}: importing {module!r} failed: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the user's module raised while importing
        raise SolverImportError(f"{what}: importing {module!r} raised {type(exc).__name__}: {exc}") from None


class NamedSolver:
    """A user's callable under the name the user gave it (``module:function``); attributes and the signature are
    the callable's own."""

    def __init__(self, fn: Any, name: str):
        functools.update_wrapper(self, fn)
        self._fn = fn
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._fn(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._fn, attr)


def load_solver(spec: str, *, near: str | os.PathLike | None = None) -> Any:
    """Import the callable named ``module:function``, searching the folder ``near`` (a case file's) and the
    current directory first.

    Only the named module is imported (with whatever it imports itself); no other text is evaluated."""
    if isinstance(spec, str) and spec.partition(":")[0].endswith(".py"):
        stem = spec.partition(":")[0][:-3].replace("/", ".").replace("\\", ".")
        raise SolverImportError(f"solver {spec!r}: name the module, not the file: {stem}:{spec.partition(':')[2]} "
                                f"(for a file {stem.rsplit('.', 1)[-1]}.py in the current directory)")
    if not isinstance(spec, str) or not SOLVER_SPEC.match(spec):
        raise SolverImportError(f"solver {spec!r}: expected module:function, e.g. mymod:solve (a file mymod.py in the "
                                "current directory defining solve)")
    module, _, attr = spec.partition(":")
    obj: Any = import_module(module, what=f"solver {spec}", near=near)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SolverImportError(f"solver {spec}: module {module!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SolverImportError(f"solver {spec}: {attr!r} is a {type(obj).__name__}, not a function")
    return NamedSolver(obj, spec)


@dataclass(frozen=True)
class StudyRequest:
    """What to study; every setting left None comes from the case file, then from the defaults."""

    target: Any                      # problem name, path of a .toml case file, or a Problem
    solver: Any = None               # callable, "module:function", or None (twinflow's own solver)
    levels: Any = None
    refine: str | None = None
    norm: str | None = None
    steps: int | None = None
    cells: int | None = None
    expected_order: float | None = None
    band: Any = None
    mass_tol: Any = True             # True: the default (1e-6); None: no mass check; a number
    samples: int | None = None
    replicates: int | None = None
    observables: Any = None
    particles: int | None = None
    seed: int | None = None
    correction: bool | None = None


@dataclass
class StudyOutcome:
    """A finished study with the expected order it was judged against."""

    study: ConvergenceStudy | WeakOrderStudy
    problem: Problem
    expected_order: float
    band: Any
    result: CaseResult
    table: str
    settings: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.result.status

    def to_dict(self) -> dict:
        """JSON-ready (non-finite numbers as the strings "inf", "-inf", "nan", as in report.json)."""
        return _jsonable({"study": self.study.to_dict(), "expected_order": self.expected_order,
                          "band": list(self.band) if isinstance(self.band, tuple) else self.band,
                          "status": self.status, "settings": self.settings, "result": self.result.to_dict()})

    def save_plots(self, directory: str | os.PathLike) -> list[Path]:
        """Write the study's figures as PNG files into ``directory`` (atomically, as one set)."""
        import io

        from verify.files import write_set

        figs = self.study.plot(self.expected_order)
        figs = figs if isinstance(figs, tuple) else (figs,)
        names = ["convergence.png", "work-precision.png"] if isinstance(self.study, ConvergenceStudy) else [
            "weak-order.png"]
        files = {}
        for fig, name in zip(figs, names):
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110)
            files[name] = buf.getvalue()
        return list(write_set(directory, files).values())


_APPLIES = {  # the study settings each kind of problem uses
    "fokker-planck": {"refine", "norm", "steps", "cells", "mass_tol", "correction"},
    "continuity": {"refine", "norm", "steps", "cells", "mass_tol", "correction"},
    "ode": {"refine", "norm", "particles", "correction"},
    "sde": {"samples", "replicates", "observables"},
}


def _check_options(request: StudyRequest, problem: Problem) -> None:
    """A setting that the problem's kind does not use is an error, not silently ignored."""
    given = {name for name in ("refine", "norm", "steps", "cells", "particles", "samples", "replicates",
                               "observables", "correction") if getattr(request, name) is not None}
    if request.mass_tol is not True:
        given.add("mass_tol")
    unused = sorted(given - _APPLIES[problem.kind])
    if unused:
        raise StudyError(f"{', '.join(unused).replace('_', '-')} do{'es' if len(unused) == 1 else ''} not apply to "
                         f"{problem.kind} problems ({problem.name!r}); the settings of this kind are "
                         f"{', '.join(sorted(_APPLIES[problem.kind])).replace('_', '-')}")
    if problem.kind == "sde" and request.refine not in (None, "time"):
        raise StudyError("an SDE problem is refined in time only (levels are step counts)")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return json_float(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def _pick(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


def run_study(request: StudyRequest) -> StudyOutcome:
    """Run the requested study (see the module docstring)."""
    start = time.perf_counter()
    case = None
    target = request.target
    if isinstance(target, (str, os.PathLike)) and str(target).lower().endswith(".toml"):
        from verify.casefile import load_case

        case = load_case(target)
        problem = case.problem
    else:
        problem = as_problem(target)
    file = case.study if case is not None else None

    def setting(name: str) -> Any:
        return _pick(getattr(request, name), None if file is None else getattr(file, name))

    solver, near = request.solver, None
    if solver is None and case is not None and case.solver:
        solver, near = case.solver, case.path.parent  # a case file's solver is looked up beside the file too
    if isinstance(solver, str):
        solver = load_solver(solver, near=near)
    if solver is None:
        solver = default_solver(problem)
    refine = _pick(setting("refine"), "time" if problem.kind in ("ode", "sde") else "space-time")
    expected = _pick(request.expected_order, None if file is None else file.expected_order,
                     declared_order(solver, refine))
    if expected is None:
        raise StudyError(f"give the expected order (--expected-order, or expected_order in the case file): the solver "
                         f"{solver_name(solver)} declares none")
    _check_options(request, problem)
    band = _pick(setting("band"), DEFAULT_BAND)
    seed = _pick(setting("seed"), 0)
    levels = setting("levels")
    settings: dict[str, Any] = {"seed": seed}
    if problem.kind == "sde":
        observables = _pick(setting("observables"), ("mean", "covariance"))
        n = _pick(setting("samples"), DEFAULT_SAMPLES)
        replicates = _pick(setting("replicates"), DEFAULT_REPLICATES)
        steps = _check_levels(list(levels) if levels is not None else list(problem.levels), "levels (step counts)")
        dts = [problem.t_final / k for k in steps]
        study = weak_order_study(solver, problem, dts, n=n, replicates=replicates, observables=observables,
                                 rng=seed)
        settings.update(samples=n, replicates=replicates, observables=list(observables), levels=steps)
        checks = study.checks(expected, band, name=problem.name)
        series = _weak_series(study)
    else:
        mass_tol = request.mass_tol
        if mass_tol is True:
            mass_tol = file.mass_tol if file is not None else True
        mass_tol = MASS_TOL if mass_tol is True else mass_tol
        study = convergence_study(solver, problem, None if levels is None else list(levels), refine=refine,
                                  norm=_pick(setting("norm"), "L1"), steps=setting("steps"), cells=setting("cells"),
                                  particles=_pick(setting("particles"), 1000), seed=seed, mass_tol=mass_tol,
                                  correction=bool(_pick(setting("correction"), False)), keep_outputs=False)
        settings.update(refine=refine, norm=study.norm, mass_tol=mass_tol, levels=list(study.levels_run))
        checks = study.checks(expected, band, name=problem.name)
        series = _convergence_series(study, float(expected))
    title = f"{study.solver if isinstance(study, ConvergenceStudy) else study.sampler} on {problem.name}"
    result = CaseResult(case=f"study-{problem.name}", title=title, tags=("study", problem.kind), checks=checks,
                        series=series, notes=_notes(study), seconds=time.perf_counter() - start, seed=seed)
    return StudyOutcome(study, problem, float(expected), band, result, study.table(expected, band), settings)


def _convergence_series(study: ConvergenceStudy, expected: float) -> list[Series]:
    h, e = study.h, study.errors
    xlabel = "dt" if study.refine == "time" else "h"
    name = f"{study.norm} error vs {xlabel}"
    claimed = e[-1] * (h / h[-1]) ** expected
    return [Series(name, tuple(h), tuple(e), xlabel, f"{study.norm} error", True, True, "measured"),
            Series(name, tuple(h), tuple(claimed), xlabel, f"{study.norm} error", True, True,
                   f"order {expected:g}"),
            Series("work-precision", tuple(study.seconds), tuple(e), "wall time (s)", f"{study.norm} error",
                   True, True, None)]


def _weak_series(study: WeakOrderStudy) -> list[Series]:
    out = []
    for f in study.fits:
        e = np.abs(np.asarray(f.errors))
        keep = [i for i in range(len(e)) if e[i] > 0]
        out.append(Series("|weak error| vs dt", tuple(study.dts[i] for i in keep), tuple(e[i] for i in keep), "dt",
                          "|weak error|", True, True, f.label))
    return out


def _notes(study: ConvergenceStudy | WeakOrderStudy) -> dict:
    if isinstance(study, ConvergenceStudy):
        lo, hi = study.fit.interval()
        return {"fitted order": study.fit.order, "95 % interval": f"[{lo:.4f}, {hi:.4f}]",
                "pairwise orders": ", ".join(f"{p:.3f}" for p in study.pairwise_orders),
                "reference": study.reference}
    notes: dict[str, Any] = {"samples × replicates": f"{study.n} × {study.replicates}"}
    for f in study.fits:
        if f.fit is not None:
            lo, hi = f.fit.interval()
            notes[f"weak order of {f.label}"] = f"{f.fit.order:.4f} [{lo:.4f}, {hi:.4f}]"
    return notes

