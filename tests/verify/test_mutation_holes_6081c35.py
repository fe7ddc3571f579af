"""Report holes found by the mutation sample at 6081c35 (seed 20261213) and the checks that now close them; each
test feeds the check the surviving mutant (in memory) and asserts that it is caught.

* ``lagrangian.fields.x_probability_flow_field__mutmut_23`` (a non-square diffusion matrix let through the shape
  test) -> bad-input-lagrangian: a (2, 3) diffusion is now among the refused values of probability_flow_field (and
  of integrate_sde and gaussian.linear_sde).
* ``eulerian.multigrid.x_transfer_operators__mutmut_8`` (a 4-cell axis not halved when the other axes are odd) ->
  fokker-planck-options-2d, ``odd_axis_cycle_check``.
* ``eulerian.porous_medium.x__check_scale__mutmut_54`` (the flux bound without its factor m) -> bad-input-eulerian:
  rho0 of maximum 3.2e153 among the refused values of solve_porous_medium.
* ``eulerian.porous_medium.x_solve_porous_medium__mutmut_445`` led to a real gap: a potential whose jump between
  two cells overflows gave a ZeroDivisionError; the scale test now bounds the step condition's rate (a Trouble).
* ``eulerian.jko.x_jko_step__mutmut_54`` (check_every's refusal names None) -> bad-input-eulerian: jko_step's
  check_every (with residual_tol, boundary and backend) and jko_flow's internal and warm_start are in the catalog.
"""
import numpy as np

from tests.verify.mutants import mutated, recorded_message_changes
from verify import bad_input


def test_a_non_square_diffusion_is_refused_as_recorded(monkeypatch):
    label = "lagrangian.probability_flow_field"
    call = bad_input.CALLS[label]
    assert bad_input.gaps(call, label=label, names=["diffusion"])[1] == []
    assert not recorded_message_changes(call, label, ["diffusion"])
    mod = mutated(monkeypatch, "lagrangian.fields", "dmat.ndim > 2 or dmat.ndim == 2 and dmat.shape[0]",
                  "dmat.ndim > 2 or dmat.ndim == 3 and dmat.shape[0]")
    monkeypatch.setattr(call, "func", mod.probability_flow_field)
    (gap,) = bad_input.gaps(call, label=label, names=["diffusion"])[1]   # NumPy's broadcast error, no name
    assert "does not name 'diffusion'" in gap and "(2,3)" in gap, gap
    assert np.full((2, 3), 0.1).shape in [np.shape(v) for v in call.refuses["diffusion"]]


def test_a_hierarchy_that_stops_before_halving_a_four_cell_axis_is_caught(monkeypatch):
    """eulerian.multigrid.x_transfer_operators__mutmut_8 (no coarsening when every axis is odd or has fewer than 6
    cells: a 4-cell axis is no longer halved) -> fokker-planck-options-2d, ``odd_axis_cycle_check``."""
    from verify.cases import eulerian_cases as EC

    check = EC.odd_axis_cycle_check()
    assert check.passed and "2 levels" in check.detail, check
    mod = mutated(monkeypatch, "eulerian.multigrid", "halved = [n % 2 == 0 and n // 2 >= min_cells for n in shape]",
                  "halved = [n % 2 == 0 and n // 3 >= min_cells for n in shape]")
    check = EC.odd_axis_cycle_check(mod.MultigridSolver)
    assert not check.passed and "1 levels" in check.detail, check


def test_a_flux_bound_without_its_factor_m_is_caught(monkeypatch):
    """eulerian.porous_medium.x__check_scale__mutmut_54 (D / m instead of D m in the flux bound: 9x smaller at m = 2
    ... 4x) -> bad-input-eulerian: a rho0 of maximum 3.2e153, whose energy is finite but whose fluxes are not, must be
    refused up front; the mutant lets the run start, which ends in another error."""
    label = "eulerian.solve_porous_medium"
    call = bad_input.CALLS[label]
    assert bad_input.gaps(call, label=label, names=["rho0"])[1] == []
    assert not recorded_message_changes(call, label, ["rho0"])
    mod = mutated(monkeypatch, "eulerian.porous_medium", "rate = 8.0 * grid.dim * (D * m / (m - 1.0) * pm",
                  "rate = 8.0 * grid.dim * (D / m / (m - 1.0) * pm")
    monkeypatch.setattr(call, "func", mod.solve_porous_medium)
    (gap,) = bad_input.gaps(call, label=label, names=["rho0"])[1]
    assert "3.2" in gap and "raised CFLError" in gap, gap   # the run started: the first step broke the condition


def test_a_potential_with_an_infinite_velocity_is_refused_before_any_step(monkeypatch):
    """Found through eulerian.porous_medium.x_solve_porous_medium__mutmut_445 (the guard for a zero step bound): a
    tiny density in a potential that jumps by 3.4e308 between two cells passed the scale test and ended in a
    ZeroDivisionError (adaptive steps) or a CFLError advising a shorter t_final (forced steps). The scale test now
    bounds the step condition's rate too; without that bound the catalog's Trouble reports the raw error."""
    import eulerian

    label = next(k for k in bad_input.TROUBLES if "jumping from -1.7e308" in k)
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label]) is None
    mod = mutated(monkeypatch, "eulerian.porous_medium", "and np.isfinite(step_rate)", "and True")
    monkeypatch.setattr(eulerian, "solve_porous_medium", mod.solve_porous_medium)
    gap = bad_input.trouble_gap(label, bad_input.TROUBLES[label])
    assert gap is not None and "overflow encountered" in gap, gap   # then a ZeroDivisionError


def test_the_check_every_refusal_of_jko_step_is_recorded(monkeypatch):
    """eulerian.jko.x_jko_step__mutmut_54 (check_every's refusal names None): jko_step's residual_tol, check_every,
    boundary and backend, and jko_flow's internal and warm_start, were not in the catalog; they are now."""
    label = "eulerian.jko_step"
    call = bad_input.CALLS[label]
    assert not recorded_message_changes(call, label, ["check_every"])
    mod = mutated(monkeypatch, "eulerian.jko", 'check_steps(check_every, "check_every")', "check_steps(check_every, None)")
    monkeypatch.setattr(call, "func", mod.jko_step)
    assert recorded_message_changes(call, label, ["check_every"])
    gaps = bad_input.gaps(call, label=label, names=["check_every"])[1]
    assert gaps and all("does not name 'check_every'" in g for g in gaps), gaps
