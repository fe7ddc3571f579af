"""Report checks added for the mutation survivors (report holes) of the fresh sample at 820fbda.

* ``lagrangian.backend.x_get_namespace__mutmut_6`` (get_namespace("numpy") refused): the bad-input catalog now runs
  every valid call itself, which must run cleanly (``verify.bad_input.gaps``);
* ``eulerian.meanfield.x_solve_meanfield__mutmut_378`` (the mass record filled with None) -> flow-matching-grid,
  ``check_meanfield_forced_steps`` (the recorded mass at every step time);
* ``eulerian.continuity.x_solve_continuity__mutmut_446`` (time-dependent wall values taken as constant) ->
  continuity-walls-2d, ``check_time_dependent_inflow``;
* ``eulerian.grid.xǁGridǁ__post_init____mutmut_145`` (the validated upper bounds not stored) -> bad-input-eulerian,
  ``check_grid_bounds``;
* ``eulerian.multigrid.xǁMultigridSolverǁsolve__mutmut_54`` (BiCGStab's beta with alpha * omega) -> fokker-planck-
  options-2d, ``krylov_iteration_check`` (iterations with a weak preconditioner against SciPy's bicgstab; the
  mutant's run is in tests/verify/test_report_coverage_solvers.py, MG_MUTANTS);
* ``eulerian.staggered.x_perspective_root__mutmut_184`` (a warm start not clipped up to rho) -> bb-gaussian-1d,
  ``staggered_checks`` (warm starts against numpy.roots; the mutant's run is in
  tests/verify/test_report_coverage_grid.py).
"""
import dataclasses

import eulerian.meanfield
from tests.verify.mutants import mutated
from verify import bad_input
from verify.cases import flow_matching_grid as F


def test_the_valid_call_must_run(monkeypatch):
    call = bad_input.CALLS["lagrangian.get_namespace"]
    assert not [g for g in bad_input.gaps(call, label="get_namespace")[1] if "valid call" in g]
    mod = mutated(monkeypatch, "lagrangian.backend", 'if name.lower() == "numpy":', 'if name.upper() == "numpy":')
    tried, found = bad_input.gaps(dataclasses.replace(call, func=mod.get_namespace), label="get_namespace")
    assert any("(the valid call)" in g for g in found), found


def test_meanfield_mass_record_flags_missing_masses(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.meanfield", "        masses.append(m)\n", "        masses.append(None)\n")
    monkeypatch.setattr(eulerian.meanfield, "solve_meanfield", mod.solve_meanfield)
    checks = F.check_meanfield_forced_steps()
    assert not checks[2].passed, checks[2]


def test_time_dependent_inflow_passes_and_flags_frozen_wall_values(monkeypatch):
    from verify.cases import boundaries as BD
    assert BD.check_time_dependent_inflow().passed
    mod = mutated(monkeypatch, "eulerian.continuity", 'any(callable(getattr(c, "value", None)) for _, _, c in box.walls())',
                  "any(callable(None) for _, _, c in box.walls())")
    check = BD.check_time_dependent_inflow(solve=mod.solve_continuity)
    assert not check.passed and check.value > 0.1, check


def test_grid_bounds_pass_and_flag_unstored_bounds(monkeypatch):
    from verify.cases import bad_input as BI
    assert BI.check_grid_bounds().passed
    mod = mutated(monkeypatch, "eulerian.grid", 'object.__setattr__(self, "upper", upper)',
                  'object.__setattr__(self, "UPPER", upper)')
    check = BI.check_grid_bounds(mod.Grid)
    assert not check.passed and check.value >= 3, check.detail


def test_a_diffusion_matrix_of_another_dimension_is_refused(monkeypatch):
    """verify.gaussian.x__diffusion_matrix__mutmut_30 (the dimension check dropped) -> bad-input-gaussian, the
    3 x 3 diffusion matrix that ``linear_sde`` of a 2-D Gaussian must refuse up front."""
    call = bad_input.CALLS["gaussian.linear_sde"]
    assert not bad_input.gaps(call, label="linear_sde", names=["diffusion"])[1]
    mod = mutated(monkeypatch, "verify.gaussian", '_as_matrix(arr, "diffusion", d)', '_as_matrix(arr, "diffusion", )')
    tried, found = bad_input.gaps(dataclasses.replace(call, func=mod.linear_sde), label="linear_sde",
                                  names=["diffusion"])
    assert any("diffusion=" in g for g in found), found
