"""Report holes found by the fresh mutation sample at 52ee78d (seed 20261219), each closed by a check that now
catches its mutant, built in memory (tests/verify/mutants.py). That the checks pass on the library itself is
asserted here and by the cases' runs in tests/test_option_coverage.py:

* the Sherman-Morrison scale of a periodic ADI line taken from sqrt(|alpha / beta|)
  (eulerian.adi.xǁTridiagonalLinesǁ__init____mutmut_106): no case ran Douglas ADI at high cell Peclet numbers,
  where the two corners differ by exp(Pe) -> ``adi_high_peclet_check`` (fokker-planck-options-2d: in 1D Douglas is
  Crank-Nicolson, compared at Pe +-1e3, +-1e4 for every flux);
* solve_fokker_planck's rtol not passed to the multigrid solver
  (eulerian.fokker_planck.x_solve_fokker_planck__mutmut_553): every multigrid run used the default -> the
  FokkerPlanckSolver adapter passes rtol, and ``multigrid_rtol_checks`` runs rtol = 1e-6 (fokker-planck-options-2d);
* the series branch of the Bernoulli function with z^2 * 12 for z^2 / 12
  (eulerian.operators.x_bernoulli__mutmut_36), an error of 1.2e-11 just below the switch at |z| = 1e-6 that the
  shared tolerance of the flux functions (1e-11, set by Chang-Cooper's cancellation) let pass ->
  ``flux_function_checks`` holds B to 4 ulp and samples z = 5e-7, 9.9e-7 and 1.01e-6;
* AffineField keeping the caller's array, or not its float copy
  (lagrangian.fields.xǁAffineFieldǁ__post_init____mutmut_34)
  -> ``check_affine_owns_coefficients`` (affine-flow-particles), arrays overwritten after the call and nested lists;
* the entropy term misnamed in free_energy's overflow error (eulerian.jko.x__energy__mutmut_25): no catalog entry
  overflowed the entropy -> a trouble of the bad-input catalog;
* a matrix diffusion labelled otherwise in Solution.info, and FiPy's solver recorded under another key
  (eulerian.diffusion.xǁDiffusionǁdescribe__mutmut_16, eulerian.fipy_backend.x_fokker_planck_fipy__mutmut_499): no
  check read what a run records of its call -> ``check_fokker_planck_info`` (ou-matrix-diffusion-2d), both backends.
"""

import sys

import numpy as np
import pytest

import eulerian
from tests.verify.mutants import mutated, trouble_catches
from verify import adapters
from verify.cases import boundaries as B
from verify.cases import eulerian_cases as E
from verify.cases import particles as P
from verify.problems import get_problem, grid_for


@pytest.mark.parametrize("flux", E.FLUXES)
def test_adi_high_peclet_check_passes(flux):
    check = E.adi_high_peclet_check(flux)
    assert check.passed, check


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")   # the mutant's own overflow
def test_adi_high_peclet_check_catches_a_wrong_sherman_morrison_scale(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.adi", "xp.sqrt(xp.abs(alpha * beta))", "xp.sqrt(xp.abs(alpha / beta))")
    monkeypatch.setattr(sys.modules["eulerian.fokker_planck"], "DouglasADI", mod.DouglasADI)
    check = E.adi_high_peclet_check("scharfetter-gummel")
    assert not check.passed and "NumericalError" in check.detail, check


def _rtol_checks():
    problem = get_problem("mms-fokker-planck-box-2d")
    grid = grid_for(problem, 24)
    run = {name: adapters.FokkerPlanckSolver(time="implicit-euler", solver=solver, rtol=rtol)(problem, grid, 24)
           for name, solver, rtol in (("lu", "lu", 1e-12), ("default", "multigrid", 1e-12),
                                      ("loose", "multigrid", E.MG_LOOSE_RTOL))}
    return E.multigrid_rtol_checks("test", run["lu"], run["default"], run["loose"], 24)


def test_multigrid_rtol_checks_pass():
    checks = _rtol_checks()
    assert all(c.passed for c in checks), checks


def test_multigrid_rtol_checks_catch_an_rtol_not_passed_on(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.fokker_planck", "coarse_matrix=coarse, rtol=rtol,", "coarse_matrix=coarse,")
    monkeypatch.setattr(adapters, "solve_fokker_planck", mod.solve_fokker_planck)
    saved, diff = _rtol_checks()
    assert not saved.passed and saved.value == 0.0, saved
    assert diff.passed   # the density is right: only the cost shows the ignored option


def test_flux_function_checks_catch_the_series_coefficient(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.operators", "zt + zt * zt / 12.0", "zt + zt * zt * 12.0")
    pair, _ = E.flux_function_checks(mod)
    assert not pair.passed and 1e-11 < pair.value < 1.3e-11, pair


def test_affine_owns_coefficients_passes():
    check = P.check_affine_owns_coefficients()
    assert check.passed, check


@pytest.mark.parametrize("new", ['object.__setattr__(self, "MATRIX", m.copy())',
                                 'object.__setattr__(self, "matrix", m)'])
def test_affine_owns_coefficients_catches_a_field_without_its_copy(monkeypatch, new):
    mod = mutated(monkeypatch, "lagrangian.fields", 'object.__setattr__(self, "matrix", m.copy())', new)
    check = P.check_affine_owns_coefficients(mod.affine_field)
    assert not check.passed, check


def test_the_entropy_overflow_is_a_trouble_naming_its_term(monkeypatch):
    assert trouble_catches(monkeypatch, "eulerian.free_energy", "eulerian.jko", 'terms["entropy D int',
                           'terms["entropy d int', eulerian, "free_energy")


def test_fokker_planck_info_check_passes():
    check = B.check_fokker_planck_info()
    assert check.passed, check


def test_fokker_planck_info_check_catches_a_wrong_diffusion_label(monkeypatch):
    """Diffusion.describe labelling a matrix otherwise (eulerian.diffusion.xǁDiffusionǁdescribe__mutmut_16)."""
    mod = mutated(monkeypatch, "eulerian.diffusion", '"matrix": "matrix"}', '"matrix": "XXmatrixXX"}')
    monkeypatch.setattr(sys.modules["eulerian.diffusion"].Diffusion, "describe", mod.Diffusion.describe)
    check = B.check_fokker_planck_info()
    assert not check.passed and check.value == 2 and "XXmatrixXX" in check.detail, check


def test_fokker_planck_info_check_catches_fipys_solver_key_renamed(monkeypatch):
    """fokker_planck_fipy recording its solver under another key
    (eulerian.fipy_backend.x_fokker_planck_fipy__mutmut_499)."""
    mod = mutated(monkeypatch, "eulerian.fipy_backend", '"solver": "fipy-LinearLUSolver"',
                  '"XXsolverXX": "fipy-LinearLUSolver"')
    monkeypatch.setattr(sys.modules["eulerian.fipy_backend"], "fokker_planck_fipy", mod.fokker_planck_fipy)
    check = B.check_fokker_planck_info()
    assert not check.passed and "fipy solver: 'missing'" in check.detail, check


def test_the_deposit_overflow_in_the_division_is_a_trouble(monkeypatch):
    """deposit dividing by the cell volume without silencing its overflow
    (lagrangian.deposit.x_deposit__mutmut_210, of the sample at 5af0375): a RuntimeWarning before the clear
    refusal. No catalog value overflowed there (its weights overflow in the sum)."""
    import lagrangian

    assert trouble_catches(monkeypatch, "lagrangian.deposit: one weight", "lagrangian.deposit",
                           'with np.errstate(over="ignore"):\n        rho = mass',
                           'with np.errstate(over=None):\n        rho = mass', lagrangian, "deposit")


def test_continuity_info_catches_fipys_time_key_renamed(monkeypatch):
    """continuity_fipy recording its time scheme under another key
    (eulerian.fipy_backend.x_continuity_fipy__mutmut_288, of the sample at 5af0375): check_continuity_info now
    reads "time" on both backends."""
    from eulerian import Grid, solve_continuity

    g = Grid((-2.0, -1.0), (2.0, 1.0), (8, 6))
    rho = np.exp(-(g.centers() ** 2).sum(-1))

    def runs():
        return [solve_continuity(g, rho, lambda t, x: 0.1 - 0.2 * x, 0.1, cfl=0.5, backend=b)
                for b in ("numpy", "fipy")]

    assert E.check_continuity_info(runs(), 0.5, ("mc",)).passed
    mod = mutated(monkeypatch, "eulerian.fipy_backend", '"time": "explicit (FiPy)"', '"XXtimeXX": "explicit (FiPy)"')
    monkeypatch.setattr(sys.modules["eulerian.fipy_backend"], "continuity_fipy", mod.continuity_fipy)
    check = E.check_continuity_info(runs(), 0.5, ("mc",))
    assert not check.passed and check.value == 1 and "fipy time None" in check.detail, check
