"""pytest plugin for users' test suites (loaded automatically where twinflow is installed: entry point
``pytest11``).

Assertions (importable from this module, or through the ``twinflow`` fixture)::

    from verify.pytest_plugin import assert_converges, assert_weak_order, assert_samples_match

    def test_my_scheme_is_second_order():
        assert_converges(my_solve, "ou-2d", order=2, levels=[16, 32, 64, 128, 256])

    def test_my_sampler(twinflow):
        twinflow.assert_weak_order(my_sampler, "ou-sde-1d", order=1, n=200_000, replicates=16)

Each runs the same study as ``twinflow study`` (:mod:`verify.studies`) and passes only on a *pass* verdict:
a fail or an inconclusive verdict raises AssertionError whose message is the convergence table with the
fitted order, its interval and what to add. Fixtures: ``twinflow`` (the assertions, ``get_problem`` and a
per-test ``rng``) and ``twinflow_rng`` (a NumPy Generator seeded from the test's node id, so every test has
its own reproducible stream). For property tests, :mod:`verify.strategies` has Hypothesis strategies.

Regression baselines: ``pytest --twinflow-baseline FILE`` compares every check of the studies run through the
``twinflow`` fixture (keyed by test id) with FILE, with the rules of :mod:`verify.baseline`, and fails the test
on a regression; ``--twinflow-update-baseline`` writes FILE at the end of the session instead (atomically, the
previous file kept as FILE.prev; entries of tests that did not run are kept).
"""
from __future__ import annotations

import hashlib
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

__all__ = ["assert_converges", "assert_weak_order", "assert_samples_match"]


def _run(solver: Any, problem: Any, order: float, _record: Any = None, **settings: Any) -> Any:
    from verify.studies import StudyRequest, run_study

    outcome = run_study(StudyRequest(target=problem, solver=solver, expected_order=order, **settings))
    if _record is not None:
        _record(outcome.result)
    if outcome.status != "pass":
        raise AssertionError(f"twinflow: {outcome.status.upper()}\n{outcome.table}")
    return outcome.study


def assert_converges(solver: Any, problem: Any, order: float, levels: Any = None, *, refine: str | None = None,
                     norm: str | None = None, band: Any = None, steps: int | None = None, cells: int | None = None,
                     mass_tol: Any = True, seed: int | None = None, correction: bool | None = None,
                     _record: Any = None) -> Any:
    """Assert that ``solver`` (solve(problem, grid, steps), or an ODE sampler) converges at ``order`` on
    ``problem`` (a Problem, a built-in name or a .toml case file); returns the ConvergenceStudy.

    Passes only on a pass verdict (the 95 % interval of the fitted order inside order ± band, default 0.2);
    see :func:`verify.convergence.convergence_study` for the settings."""
    return _run(solver, problem, order, _record, levels=levels, refine=refine, norm=norm, band=band, steps=steps,
                cells=cells, mass_tol=mass_tol, seed=seed, correction=correction)


def assert_weak_order(sampler: Any, problem: Any, order: float, levels: Any = None, *, n: int | None = None,
                      replicates: int | None = None, observables: Any = None, band: Any = None,
                      seed: int | None = None, _record: Any = None) -> Any:
    """Assert that ``sampler`` (sample(problem, x0, steps, rng)) has weak order ``order`` on an SDE problem;
    ``levels`` are step counts (dt = t_final / steps). Returns the WeakOrderStudy.

    Passes only if every observable's 95 % interval lies in order ± band; see
    :func:`verify.convergence.weak_order_study`."""
    return _run(sampler, problem, order, _record, levels=levels, samples=n, replicates=replicates,
                observables=observables, band=band, seed=seed)


def assert_samples_match(samples: Any, law: Any, *, false_alarm: float = 1e-4, name: str = "samples") -> list:
    """Assert that the sample mean and covariance of ``samples`` (n, d), n ≥ 3, agree with the Gaussian ``law``:
    exact finite-n tests of "the rows are independent draws of law" (false-alarm rate ``false_alarm`` per check,
    see :func:`verify.checks.check_samples_match`); returns the checks."""
    from verify.checks import check_samples_match

    checks = check_samples_match(name, samples, law, false_alarm=false_alarm)
    failed = [c for c in checks if not c.passed]
    if failed:
        lines = [f"  {c.name}: {c.value:.4g} standard errors (accepted {c.band()}; {c.detail})" for c in failed]
        raise AssertionError("twinflow: samples do not match the law\n" + "\n".join(lines)
                             + f"\n  law: {law!r}")
    return checks


def _node_seed(nodeid: str) -> int:
    return int.from_bytes(hashlib.sha256(nodeid.encode()).digest()[:8], "little")


@pytest.fixture
def twinflow_rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A NumPy Generator seeded from the test's node id (reproducible, distinct per test)."""
    return np.random.default_rng(_node_seed(request.node.nodeid))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("twinflow", "twinflow verification")
    group.addoption("--twinflow-baseline", metavar="FILE", default=None,
                    help="compare the checks of studies run through the `twinflow` fixture with this baseline "
                         "file; a regression fails the test")
    group.addoption("--twinflow-update-baseline", action="store_true", default=False,
                    help="write the studies' checks to the --twinflow-baseline file at the end of the session")


class _BaselineStore:
    """The session's baseline: the old one (read at start) and this session's entries (written at the end)."""

    def __init__(self, path: str, update: bool):
        from pathlib import Path

        from verify.baseline import BaselineError, load_baseline

        self.path, self.update = Path(path), update
        self.old = None
        if self.path.exists():
            try:
                self.old = load_baseline(self.path)
            except BaselineError:
                if not update:
                    raise
        elif not update:
            raise pytest.UsageError(f"--twinflow-baseline {path}: no such file; create it with "
                                    "--twinflow-update-baseline")
        self.new: dict = {"cases": {}}

    def record(self, key: str, result: Any) -> None:
        from verify.baseline import _check_entry, compare, has_regression, render_changes

        case = {"status": result.status, "checks": {c.name: _check_entry(c.to_dict()) for c in result.checks}}
        self.new["cases"][key] = case
        if self.old is None or self.update or key not in self.old["cases"]:
            return
        changes = compare({**self.old, "cases": {key: self.old["cases"][key]}}, {"cases": {key: case}})
        if has_regression(changes):
            raise AssertionError(f"twinflow: regression against the baseline {self.path}\n"
                                 + render_changes([c for c in changes if c.kind == "regression"]))

    def write(self) -> None:
        from verify.baseline import merge, write_baseline

        write_baseline(self.path, merge({"seed": None, "cases": self.new["cases"]}, self.old))


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("twinflow_baseline", None)
    if config.getoption("twinflow_update_baseline", False) and not path:
        raise pytest.UsageError("--twinflow-update-baseline needs --twinflow-baseline FILE")
    config._twinflow_baseline = _BaselineStore(path, config.getoption("twinflow_update_baseline")) if path \
        else None


def pytest_sessionfinish(session: pytest.Session) -> None:
    store = getattr(session.config, "_twinflow_baseline", None)
    if store is not None and store.update and store.new["cases"]:
        store.write()


@pytest.fixture
def twinflow(request: pytest.FixtureRequest) -> SimpleNamespace:
    """The twinflow assertions, ``get_problem``, and ``rng`` / ``seed`` derived from the test's node id. Studies
    run through it are compared with the ``--twinflow-baseline`` file (keyed by test id and call number)."""
    from verify.problems import get_problem

    seed = _node_seed(request.node.nodeid)
    store = getattr(request.config, "_twinflow_baseline", None)
    calls = [0]

    def recorder() -> Any:
        if store is None:
            return None
        calls[0] += 1
        key = request.node.nodeid + ("" if calls[0] == 1 else f"#{calls[0]}")
        return lambda result: store.record(key, result)

    return SimpleNamespace(
        assert_converges=lambda *a, **k: assert_converges(*a, _record=recorder(), **k),
        assert_weak_order=lambda *a, **k: assert_weak_order(*a, _record=recorder(), **k),
        assert_samples_match=assert_samples_match, get_problem=get_problem, seed=seed,
        rng=np.random.default_rng(seed))
