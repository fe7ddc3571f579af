"""Negative tests for the report checks that run a parameter at a second value (tests/test_option_coverage.py,
test_every_parameter_takes_two_values): each check passes on the library and flags a mutant that ignores the
parameter (the default used instead) or a wrong value."""
from __future__ import annotations

import numpy as np
import pytest

from tests.verify.mutants import mutated


# ------------------------------------------------------------------ benamou_brenier: gamma, alpha, check_every, workers
@pytest.fixture(scope="module")
def bb_problem():
    from eulerian import Grid, benamou_brenier
    from verify.cases.benamou_brenier_cases import gaussian_cells_1d

    grid = Grid((0.0,), (1.0,), (64,))
    rho0, rho1 = gaussian_cells_1d(grid, 0.3, 0.05), gaussian_cells_1d(grid, 0.7, 0.08)
    single = {m: benamou_brenier(grid, rho0, rho1, 64, method=m) for m in ("primal-dual", "douglas-rachford")}
    return grid, rho0, rho1, 0.4 ** 2 + 0.03 ** 2, single


def _bb_failures(problem, solve=None):
    from verify.cases.benamou_brenier_cases import step_parameter_checks

    kwargs = {} if solve is None else {"solve": solve}
    return [c.name for c in step_parameter_checks(*problem, **kwargs) if not c.passed]


def test_step_parameter_checks_pass(bb_problem):
    assert _bb_failures(bb_problem) == []


@pytest.mark.parametrize("old, new, flagged", [
    ("    if gamma is None:\n        gamma = default_gamma(method, grid.dim)\n",
     "    gamma = default_gamma(method, grid.dim)\n", "recorded step = 2"),
    ('    alpha = check_real("alpha", alpha)\n', "    alpha = DEFAULT_ALPHA\n", "alpha = 1 over those"),
    ('    check_steps(check_every, "check_every")\n', "    check_every = 10\n", "one test per iteration"),
])
def test_step_parameter_checks_flag_an_ignored_parameter(monkeypatch, bb_problem, old, new, flagged):
    mutant = mutated(monkeypatch, "eulerian.benamou_brenier", old, new)
    failures = _bb_failures(bb_problem, mutant.benamou_brenier)
    assert any(flagged in name for name in failures), failures


def test_the_workers_check_flags_threads_that_change_the_answer(bb_problem):
    from eulerian import benamou_brenier

    def threaded_differently(*args, workers=1, **kwargs):
        res = benamou_brenier(*args, workers=workers, **kwargs)
        if workers != 1:
            res.w2_squared *= 1.0 + 1e-9
        return res

    assert _bb_failures(bb_problem, threaded_differently) == ["primal-dual, workers = 2: W2² and iterations as with "
                                                              "one FFT thread"]


# ------------------------------------------------------------------ jko_step: sigma, relaxation, warm_start, boundary
def _jko_failures(step=None, energy=None):
    from verify.cases.jko_cases import asymmetric_step_checks

    kwargs = {k: v for k, v in (("step", step), ("energy", energy)) if v is not None}
    return [c.name for c in asymmetric_step_checks(**kwargs) if not c.passed]


def test_asymmetric_step_checks_pass():
    assert _jko_failures() == []


@pytest.mark.parametrize("old, new, flagged", [
    ('    sigma = check_positive("sigma", sigma)\n', "    sigma = DEFAULT_SIGMA\n", "step 1: iterations"),
    ('    relaxation = check_real("relaxation", relaxation)\n', "    relaxation = DEFAULT_RELAXATION\n",
     "step 1: iterations"),
    ("        state = ws or None\n", "        state = None\n", "step 2 (warm start): iterations"),
])
def test_asymmetric_step_checks_flag_an_ignored_parameter(monkeypatch, old, new, flagged):
    mutant = mutated(monkeypatch, "eulerian.jko", old, new)
    failures = _jko_failures(step=mutant.jko_step)
    assert any(flagged in name for name in failures), failures


@pytest.mark.parametrize("factor", [0.5, 2.0])   # a factor 2 lost or doubled in the entropy weight
def test_asymmetric_step_checks_flag_a_wrong_diffusion(factor):
    from eulerian import jko_step

    def scaled(*args, diffusion=0.0, **kwargs):
        return jko_step(*args, diffusion=factor * diffusion, **kwargs)

    assert any("step 1 vs the exact iterate" in name for name in _jko_failures(step=scaled))


@pytest.mark.parametrize("term", ["diffusion", "internal", "potential"])
def test_asymmetric_energy_checks_flag_a_dropped_term(term):
    from eulerian import free_energy

    def dropped(grid, rho, **kwargs):
        kwargs.pop(term, None)
        return free_energy(grid, rho, **kwargs)

    failures = [name for name in _jko_failures(energy=dropped) if name.startswith("free_energy")]
    assert failures if term == "potential" else len(failures) == 1, failures


def test_periodic_step_check_passes_and_flags_walls():
    from eulerian import jko_step
    from verify.cases.jko_cases import periodic_step_check

    assert periodic_step_check().passed
    def walls(*args, boundary, **kwargs):
        return jko_step(*args, **kwargs)

    assert not periodic_step_check(step=walls).passed


def test_periodic_step_check_flags_a_wrong_wrap(monkeypatch):
    """The periodic free-end Poisson solve with the zero-flux (DCT) eigenvalues instead of the periodic ones."""
    from verify.cases.jko_cases import periodic_step_check

    mutant = mutated(monkeypatch, "eulerian.jko", 'boundary == "periodic", xp, be.fft, 1, poisson="dct")',
                     'False, xp, be.fft, 1, poisson="dct")')
    assert not periodic_step_check(step=mutant.jko_step).passed
    assert np.isfinite(periodic_step_check(step=mutant.jko_step).value)
