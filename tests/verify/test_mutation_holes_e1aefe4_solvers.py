"""Report checks added for the mutation survivors (report holes) of the solver code at e1aefe4.

Each check passes on the library and fails on the mutant's behaviour (the mutant built in memory from the
installed source with the one line changed, never written to disk) or on a deliberately wrong value:

* ``eulerian.adi.xǁDouglasADIǁstep__mutmut_41`` (the source's correction theta dt (S^{n+1} - S^n) given to stage
  1 instead of 0) -> fokker-planck-options-2d, ``adi_source_checks``;
* ``eulerian.fipy_backend.x_fokker_planck_fipy__mutmut_260`` (the first step's mass-balance rates taken at t = 1)
  -> fipy-mesh1d, ``timed_cn_checks``;
* ``eulerian.fokker_planck.x_solve_stationary__mutmut_167`` (the source taken at t = 1) -> fipy-mesh1d,
  ``stationary_source_check``;
* ``eulerian.fipy_backend.x_continuity_fipy__mutmut_153`` (the saved snapshots' shape argument lost) ->
  continuity-walls-2d, ``fipy_saved_checks``;
* ``eulerian.porous_medium.x_solve_porous_medium__mutmut_596`` (info "reconstruction" renamed) ->
  porous-medium-barenblatt, ``check_declared_scheme``;
* ``eulerian.jko.x_jko_step__mutmut_467`` (JKOStepResult.tau = None) -> jko-equilibrium, ``check_step_record``;
* ``eulerian.meanfield.x_solve_meanfield__mutmut_264`` (raise_step_cap called with an argument missing: a
  TypeError instead of the step-cap ValueError) -> continuity-options-2d, ``meanfield_step_cap_check``.
"""
import dataclasses
import types

import numpy as np
import pytest

from eulerian.errors import NumericalError
from tests.verify.mutants import mutated
from verify.cases import boundaries as B
from verify.cases import eulerian_cases as E
from verify.cases import jko_cases as J
from verify.cases import porous_medium as P


# ------------------------------------------------ fokker-planck-options-2d: Douglas ADI with a time-dependent source
def test_adi_source_checks_pass():
    checks = E.adi_source_checks()
    assert len(checks) == 2 and all(c.passed for c in checks), checks
    assert max(c.value for c in checks) < 1e-14


def test_adi_source_checks_flag_the_correction_at_the_wrong_stage(monkeypatch):
    import eulerian.fokker_planck as FP

    mod = mutated(monkeypatch, "eulerian.adi", "if k == 0 and source_now is not None:",
                  "if k == 1 and source_now is not None:")
    monkeypatch.setattr(FP, "DouglasADI", mod.DouglasADI)
    along_x, along_y = E.adi_source_checks()
    # theta^2 dt^3 lam^2 per step: about 1e-2 relative after 5 steps; along y the mutant's stage 1 is the exact one
    assert not along_x.passed and along_x.value > 1e-3
    assert along_y.passed


def test_adi_source_checks_flag_a_dropped_correction(monkeypatch):
    import eulerian.fokker_planck as FP

    mod = mutated(monkeypatch, "eulerian.adi", "if k == 0 and source_now is not None:",
                  "if False and source_now is not None:")
    monkeypatch.setattr(FP, "DouglasADI", mod.DouglasADI)
    assert not any(c.passed for c in E.adi_source_checks())


# ------------------------------------------------ fipy-mesh1d: Crank–Nicolson without damped start, FiPy backend
def test_timed_cn_checks_pass():
    pytest.importorskip("fipy")
    checks = B.timed_cn_checks()
    assert len(checks) == 2 and all(c.passed for c in checks), checks


def test_timed_cn_checks_flag_the_fipy_mutant(monkeypatch):
    pytest.importorskip("fipy")
    import eulerian.fipy_backend as FB

    mod = mutated(monkeypatch, "eulerian.fipy_backend", "    r_old = rates(rho, 0.0)", "    r_old = rates(rho, 1.0)")
    monkeypatch.setattr(FB, "fokker_planck_fipy", mod.fokker_planck_fipy)   # solve_fokker_planck imports it per call
    # the wall value g(1) = 0.92 instead of g(0) = 0.5 in step 1's trapezoidal balance: the mass drifts by ~0.5
    with pytest.raises(NumericalError, match="mass drifted"):
        B.timed_cn_checks()


def test_timed_cn_checks_flag_a_wrong_outflow_and_density():
    pytest.importorskip("fipy")
    p = B.TIMED_CN
    f = B.timed_solution(p["cells"], p["steps"], p["T"], "crank-nicolson", "fipy", damped_steps=0)
    off = types.SimpleNamespace(to_numpy=lambda: f.to_numpy() * (1 + 1e-6),
                                boundary_outflow=np.asarray(f.boundary_outflow) * (1 + 1e-6))
    assert not any(c.passed for c in B.timed_cn_checks(off))


# ------------------------------------------------ fipy-mesh1d: solve_stationary takes the source at t = 0
def test_stationary_source_check_passes():
    check = B.stationary_source_check()
    assert check.passed and check.value < 1e-13


def test_stationary_source_check_flags_the_source_at_t_1(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.fokker_planck", 'source(0.0, grid.centers()))).reshape(-1)',
                  'source(1.0, grid.centers()))).reshape(-1)')
    check = B.stationary_source_check(solve=mod.solve_stationary)
    # S(1) = 4 doubles the parabola: x (L - x) more, 625 at the middle, relative to max ~ 625.8
    assert not check.passed and check.value > 0.9


def test_stationary_source_check_flags_a_wrong_profile():
    g = B.mesh1d_grid()
    x, L, h = g.axes()[0], B.MESH1D["L"], g.spacing[0]
    assert not B.stationary_source_check(1.0 - x / L + x * (L - x)).passed            # without the wall shift
    assert not B.stationary_source_check(1.0 - x / L + x * (L - x) + h**2 / 4 + 1e-6).passed


# ------------------------------------------------ continuity-walls-2d: save_at on the FiPy continuity backend
def test_fipy_saved_checks_pass():
    pytest.importorskip("fipy")
    checks = B.fipy_saved_checks()
    assert len(checks) == 2 and all(c.passed for c in checks), checks


def test_fipy_saved_checks_flag_the_fipy_mutant(monkeypatch):
    pytest.importorskip("fipy")
    import eulerian.fipy_backend as FB

    mod = mutated(monkeypatch, "eulerian.fipy_backend", "lambda r: _from_fipy(r, grid.shape))",
                  "lambda r: _from_fipy(r, ))")
    monkeypatch.setattr(FB, "continuity_fipy", mod.continuity_fipy)   # solve_continuity imports it per call
    with pytest.raises(TypeError, match="shape"):
        B.fipy_saved_checks()


def test_fipy_saved_checks_flag_wrong_snapshots():
    pytest.importorskip("fipy")
    from eulerian import Grid, solve_continuity

    n, T = B.FIPY_SAVED["n"], B.FIPY_SAVED["T"]
    g = Grid(*B.BOX, (n, 3 * n // 4))
    sol = solve_continuity(g, g.cell_averages(lambda x: B.mms_exact(0.0, x)), B.transport_velocity, T, cfl=0.4,
                           backend="fipy", boundary=B.INFLOW_OUTFLOW, source=B.transport_source,
                           save_at=(0.5 * T, T))
    swapped = dataclasses.replace(sol, densities=sol.densities[::-1])
    assert not any(c.passed for c in B.fipy_saved_checks(swapped))
    flat = dataclasses.replace(sol, densities=[np.asarray(d).reshape(-1) for d in sol.densities])
    (bad,) = B.fipy_saved_checks(flat)
    assert not bad.passed


# ------------------------------------------------ porous-medium-barenblatt: the declared scheme
def test_declared_scheme_check_flags_a_lost_reconstruction():
    from eulerian import Grid, solve_porous_medium

    g = Grid((-2.0,), (2.0,), (16,))
    sol = solve_porous_medium(g, np.exp(-g.centers()[..., 0] ** 2), 2.0, 0.01)
    assert P.check_declared_scheme([("default", sol, "ssp-rk2", "muscl", 2.0)]).passed
    renamed = {k if k != "reconstruction" else "XXreconstructionXX": v for k, v in sol.info.items()}
    assert P.check_declared_scheme([("x", dataclasses.replace(sol, info=renamed), "ssp-rk2", "muscl", 2.0)]).value == 1
    assert P.check_declared_scheme([("x", sol, "euler", "upwind", 3.0)]).value == 4   # and the scheme's name
    for key, value in (("cfl", 0.45), ("diffusion", 2.0), ("boundary", "periodic"), ("scheme", "upwind")):
        changed = dataclasses.replace(sol, info={**sol.info, key: value})
        assert P.check_declared_scheme([("x", changed, "ssp-rk2", "muscl", 2.0)]).value == 1, key


# ------------------------------------------------ jko-equilibrium: the step's record of tau and objective
def _gibbs_step():
    record = []
    J.equilibrium_step(J._grid_1d(16), J._potential_1d(J.OU), J.OU["D"], J.OU["D"], record=record)
    return record[0]


def test_step_record_check_passes_and_flags_a_lost_tau():
    res, rho = _gibbs_step()
    assert J.check_step_record("x", res, rho, J.STEP_TAU).passed
    assert J.check_step_record("x", dataclasses.replace(res, tau=None), rho, J.STEP_TAU).value == 1
    assert J.check_step_record("x", dataclasses.replace(res, tau=2 * J.STEP_TAU), rho, J.STEP_TAU).value == 1
    wrong = dataclasses.replace(res, objective=res.objective + 1e-9 * abs(res.objective) + 1e-9)
    assert J.check_step_record("x", wrong, rho, J.STEP_TAU).value == 1


def test_step_record_check_flags_the_jko_mutant(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.jko", "tau=tau, path=path, history=hist", "tau=None, path=path, history=hist")
    monkeypatch.setattr(J, "jko_step", mod.jko_step)
    res, rho = _gibbs_step()
    assert res.tau is None
    assert not J.check_step_record("x", res, rho, J.STEP_TAU).passed


# ------------------------------------------------ continuity-options-2d: solve_meanfield's step cap met while running
def test_meanfield_step_cap_check_passes():
    check = E.meanfield_step_cap_check()
    assert check.passed and "reached max_steps=20" in check.detail


def test_meanfield_step_cap_check_flags_the_mutant(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.meanfield", 'raise_step_cap(n, t, t_final, max_steps, "solve_meanfield")',
                  'raise_step_cap(t, t_final, max_steps, "solve_meanfield")')
    check = E.meanfield_step_cap_check(mod.solve_meanfield)
    assert not check.passed   # the arguments shifted: "reached max_steps=solve_meanfield"


def test_meanfield_step_cap_check_flags_a_run_without_cap():
    from eulerian.meanfield import solve_meanfield

    def uncapped(*args, **kw):
        kw["max_steps"] = None
        return solve_meanfield(*args, **kw)

    check = E.meanfield_step_cap_check(uncapped)
    assert not check.passed and check.detail == "ran to t_final"
