"""Report checks added for the survivors of the mutation run at 5adb30a (benchmarks/mutation/classification.json).

Each check passes on the right code and fails on the mutant's behaviour (or on a deliberately wrong scheme of the
same kind), fed to the check directly so the tests stay fast:

* ``eulerian.continuity.x_solve_continuity__mutmut_199`` (``backend_name == "FIPY"``: solve_continuity(backend=
  "fipy") silently runs the array scheme) -> continuity-options-2d, ``check_fipy_ran``;
* ``lagrangian.fields.x_affine_field__mutmut_3`` (the constant-array path of affine_field broken) ->
  affine-flow-particles, the pathwise order of ``affine_field(A0, c0)`` against the exact flow map;
* ``lagrangian.fields.x_flow_matching_field_from_samples__mutmut_47`` (bandwidth='silverman' broken) ->
  flow-matching-particles-2d, ``check_bandwidth_rules``;
* ``eulerian.adi.xǁTridiagonalLinesǁ__init____mutmut_95`` (the cyclic corner of Douglas ADI's periodic line solves
  taken from the wrong face; mms-fokker-planck-2d cannot see it: its drift components are constant along their own
  axes) -> equilibrium, a periodic discrete Gibbs state with a drift varying along each line.
"""
import numpy as np
import pytest

import lagrangian as L
from eulerian.continuity import solve_continuity
from eulerian.grid import Grid
from verify import gaussian as G
from verify.cases import eulerian_cases as EC
from verify.cases import particles as P
from tests.verify.mutants import mutated


# ------------------------------------------------------------------------ continuity-options-2d: FiPy dispatch
def _rotation(t, x):
    return np.stack([-x[..., 1], x[..., 0]], axis=-1)


def _blob(grid):
    x = grid.centers()
    return np.exp(-((x[..., 0] - 0.3) ** 2 + x[..., 1] ** 2) / 0.05)


def test_fipy_ran_check_passes_on_fipy_and_flags_the_array_scheme_behind_backend_fipy():
    pytest.importorskip("fipy")
    grid = Grid((-1.0, -1.0), (1.0, 1.0), (12, 12))
    fipy_sol = solve_continuity(grid, _blob(grid), _rotation, 0.1, backend="fipy")
    assert fipy_sol.backend == "fipy"
    check = EC.check_fipy_ran("rotation", [fipy_sol])
    assert check.passed and check.value == 0.0
    # the mutant: backend="fipy" dispatched to the array path gives the NumPy scheme's solution
    array_sol = solve_continuity(grid, _blob(grid), _rotation, 0.1, backend="numpy")
    assert float(np.abs(array_sol.to_numpy() - fipy_sol.to_numpy()).max()) > 1e-6  # a different scheme
    bad = EC.check_fipy_ran("rotation", [fipy_sol, array_sol])
    assert not bad.passed and bad.value == 1.0


# ------------------------------------------------------------- affine-flow-particles: affine_field, constant arrays
def _constant_affine_setup(n=100, seed=3):
    x0 = G.Gaussian([0.0, 0.0], np.eye(2)).sample(n, np.random.default_rng(seed))
    t0, t1 = 0.3, 1.3
    exact = P.affine_flow_map(P.AFFINE_A0, P.AFFINE_C0, t1 - t0)(x0)
    return x0, exact, t0, t1


def test_constant_affine_field_check_passes_with_rk4_order_4():
    x0, exact, t0, t1 = _constant_affine_setup()
    check = P.check_flow_order("constant", L.affine_field(P.AFFINE_A0, P.AFFINE_C0), x0, exact, t0, t1)
    assert check.passed
    assert abs(check.value - 4.0) < 0.3


@pytest.mark.parametrize("wrong", ["transposed", "no offset"])
def test_constant_affine_field_check_flags_a_wrong_constant_field(wrong):
    x0, exact, t0, t1 = _constant_affine_setup()
    field = (L.affine_field(P.AFFINE_A0.T, P.AFFINE_C0) if wrong == "transposed"
             else L.affine_field(P.AFFINE_A0, np.zeros(2)))
    check = P.check_flow_order("constant", field, x0, exact, t0, t1)
    assert not check.passed
    assert check.value < 1.0   # the error does not shrink with dt


def test_constant_affine_field_mutant_breaks_the_case(monkeypatch):
    """The mutant (m = None on the array path) raises on the first constant-coefficient field: the case errors."""
    import lagrangian.fields as LF

    monkeypatch.setattr(LF, "as_real_array", lambda *a, **k: None)
    with pytest.raises(AttributeError):
        LF.affine_field(P.AFFINE_A0, P.AFFINE_C0)


# ------------------------------------------- flow-matching-particles-2d: bandwidth 'scott', 'silverman', default
def test_bandwidth_rules_check_passes_on_the_estimator():
    check = P.check_bandwidth_rules("fm", np.random.default_rng(0))
    assert check.passed
    assert check.value < 1e-13


def _named_bandwidth_as(name, factor_of_m):
    """An estimator whose rule ``name`` ('silverman', 'scott' or None for the default) is ``factor_of_m(m, d)``."""
    def estimator(x0, x1, *, bandwidth=None, **kw):
        if bandwidth == name:
            m, d = np.shape(x0)
            bandwidth = factor_of_m(m, d)
        return L.flow_matching_field_from_samples(x0, x1, **({} if bandwidth is None else {"bandwidth": bandwidth}),
                                                  **kw)
    return estimator


@pytest.mark.parametrize("name, rule", [
    ("silverman", lambda m, d: m ** (-1.0 / (d + 4))),                    # Scott's rule under Silverman's name
    ("silverman", lambda m, d: (m * (d + 4) / 4.0) ** (-1.0 / (d + 4))),   # a wrong constant
    ("silverman", lambda m, d: (m * (d + 2) / 4.0) ** (-1.0 / (d + 2))),   # a wrong exponent
    ("scott", lambda m, d: m ** (-1.0 / (d + 5))),                         # the mutant of fields.py at cbbc575
    (None, lambda m, d: m ** (-1.0 / (d + 5))),                            # the same, as the default
    (None, lambda m, d: (m * (d + 2) / 4.0) ** (-1.0 / (d + 4))),          # Silverman's as the default
])
def test_bandwidth_rules_check_flags_a_wrong_rule(name, rule):
    check = P.check_bandwidth_rules("fm", np.random.default_rng(0), estimator=_named_bandwidth_as(name, rule))
    assert not check.passed
    assert check.value > 1e-6


def test_bandwidth_rules_check_breaks_on_the_mutant(monkeypatch):
    """The mutant sets c = None for 'silverman': the estimator cannot build its kernel width and raises."""
    mod = mutated(monkeypatch, "lagrangian.fields", "c = (m * (d + 2) / 4.0) ** (-1.0 / (d + 4))", "c = None")
    with pytest.raises((TypeError, ValueError)):
        P.check_bandwidth_rules("fm", np.random.default_rng(0), estimator=mod.flow_matching_field_from_samples)


# --------------------------------------------- equilibrium: a periodic Gibbs state (Douglas ADI's cyclic lines)
def _adi_with_corner_mutant():
    """eulerian.adi with the mutant of ``TridiagonalLines.__init__`` (mutmut_95: the periodic corner coefficient
    du[:, -2] for du[:, -1]), loaded as a separate module from the installed source with that one line changed."""
    import types
    from pathlib import Path

    import eulerian.adi as adi

    src = Path(adi.__file__).read_text()
    line = "alpha, beta = du[:, -1].copy(), dl[:, 0].copy()"
    assert src.count(line) == 1
    mod = types.ModuleType("eulerian._adi_corner_mutant")
    mod.__package__ = "eulerian"
    exec(compile(src.replace(line, line.replace("du[:, -1]", "du[:, -2]")), adi.__file__, "exec"), mod.__dict__)
    return mod


def test_periodic_gibbs_state_is_stationary_for_every_scheme():
    grid, drift, D, rho = EC.periodic_gibbs_problem()
    for scheme in ("douglas-adi", "bdf2"):
        dev = EC.gibbs_deviation(grid, drift, D, rho, "scharfetter-gummel", scheme, boundary="periodic")
        assert EC.check_equilibrium(scheme, dev).passed
        assert dev < 1e-13


def test_periodic_gibbs_check_flags_the_continuous_gibbs_density():
    """exp(-V/D) of the continuous potential (V = cos x - sin(x)/2 + 0.2 cos 2y) is not the discrete state: the
    deviation is O(h^2), far above round-off."""
    grid, drift, D, _ = EC.periodic_gibbs_problem()
    x = grid.centers()
    V = np.cos(x[..., 0]) - 0.5 * np.sin(x[..., 0]) + 0.4 * np.cos(2 * x[..., 1])
    assert np.allclose(-np.gradient(V, grid.spacing[0], axis=0)[2:-2], drift(0.0, x)[2:-2, :, 0], atol=0.05)
    rho = np.exp(-V / D)
    rho /= grid.mass(rho)
    dev = EC.gibbs_deviation(grid, drift, D, rho, "scharfetter-gummel", "douglas-adi", boundary="periodic")
    assert not EC.check_equilibrium("continuous", dev).passed
    assert dev > 1e-4


def test_periodic_gibbs_case_breaks_on_the_adi_corner_mutant(monkeypatch):
    import eulerian.fokker_planck as FP
    from eulerian.errors import NumericalError

    grid, drift, D, rho = EC.periodic_gibbs_problem()
    monkeypatch.setattr(FP, "DouglasADI", _adi_with_corner_mutant().DouglasADI)
    try:
        dev = EC.gibbs_deviation(grid, drift, D, rho, "scharfetter-gummel", "douglas-adi", boundary="periodic")
    except NumericalError:   # the solver's own mass-balance guard refuses the run: the case errors
        return
    assert not EC.check_equilibrium("mutant", dev).passed


