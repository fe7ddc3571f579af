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
"""
from __future__ import annotations

import hashlib
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

__all__ = ["assert_converges", "assert_weak_order", "assert_samples_match"]


def _run(solver: Any, problem: Any, order: float, **settings: Any) -> Any:
    from verify.studies import StudyRequest, run_study

    outcome = run_study(StudyRequest(target=problem, solver=solver, expected_order=order, **settings))
    if outcome.status != "pass":
        raise AssertionError(f"twinflow: {outcome.status.upper()}\n{outcome.table}")
    return outcome.study


def assert_converges(solver: Any, problem: Any, order: float, levels: Any = None, *, refine: str | None = None,
                     norm: str | None = None, band: Any = None, steps: int | None = None, cells: int | None = None,
                     mass_tol: Any = True, seed: int | None = None) -> Any:
    """Assert that ``solver`` (solve(problem, grid, steps), or an ODE sampler) converges at ``order`` on
    ``problem`` (a Problem, a built-in name or a .toml case file); returns the ConvergenceStudy.

    Passes only on a pass verdict (the 95 % interval of the fitted order inside order ± band, default 0.2);
    see :func:`verify.convergence.convergence_study` for the settings."""
    return _run(solver, problem, order, levels=levels, refine=refine, norm=norm, band=band, steps=steps,
                cells=cells, mass_tol=mass_tol, seed=seed)


def assert_weak_order(sampler: Any, problem: Any, order: float, levels: Any = None, *, n: int | None = None,
                      replicates: int | None = None, observables: Any = None, band: Any = None,
                      seed: int | None = None) -> Any:
    """Assert that ``sampler`` (sample(problem, x0, steps, rng)) has weak order ``order`` on an SDE problem;
    ``levels`` are step counts (dt = t_final / steps). Returns the WeakOrderStudy.

    Passes only if every observable's 95 % interval lies in order ± band; see
    :func:`verify.convergence.weak_order_study`."""
    return _run(sampler, problem, order, levels=levels, samples=n, replicates=replicates, observables=observables,
                band=band, seed=seed)


def assert_samples_match(samples: Any, law: Any, *, false_alarm: float = 1e-4, name: str = "samples") -> list:
    """Assert that the sample mean and covariance of ``samples`` (n, d) agree with the Gaussian ``law`` within
    CLT intervals (false-alarm rate ``false_alarm`` per check); returns the checks."""
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


@pytest.fixture
def twinflow(request: pytest.FixtureRequest) -> SimpleNamespace:
    """The twinflow assertions, ``get_problem``, and ``rng`` / ``seed`` derived from the test's node id."""
    from verify.problems import get_problem

    seed = _node_seed(request.node.nodeid)
    return SimpleNamespace(assert_converges=assert_converges, assert_weak_order=assert_weak_order,
                           assert_samples_match=assert_samples_match, get_problem=get_problem, seed=seed,
                           rng=np.random.default_rng(seed))
