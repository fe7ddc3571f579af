"""Negative tests for the report holes found by the mutation sample at c52aab5 (seed 20261222): each check is fed
the surviving mutant (or a subtler variant of it) and must flag it."""
from __future__ import annotations

import pytest

from tests.verify.mutants import catalog_catches, mutated
from verify import bad_input


def test_the_potential_only_jko_step_is_checked_against_its_exact_iterate(monkeypatch):
    """eulerian.jko.x__end_prox__mutmut_67 (the projection max(c, 0) of a step without diffusion or internal
    energy broken): no report case ran a JKO step of a potential alone. jko-gaussian now does (D = 0)."""
    from verify.cases import jko_cases as J

    h = [(J.OU["box"][1] - J.OU["box"][0]) / n for n in J.POTENTIAL_ONLY_CELLS]
    errors = J.gaussian_step_errors(J.POTENTIAL_ONLY_CELLS, D=0.0)
    assert J.check_space_order("D = 0", h, errors).passed
    assert J.check_error_bound("D = 0", errors[-1], h[-1], J.SPACE_CONSTANT_1D_NO_DIFFUSION).passed
    mutant = mutated(monkeypatch, "eulerian.jko", "            return xp.maximum(c, 0.0)",
                     "            return xp.maximum(c, 0.01)")
    bad = J.gaussian_step_errors(J.POTENTIAL_ONLY_CELLS, step=mutant.jko_step, D=0.0)
    assert not (J.check_space_order("D = 0", h, bad).passed
                and J.check_error_bound("D = 0", bad[-1], h[-1], J.SPACE_CONSTANT_1D_NO_DIFFUSION).passed)


@pytest.mark.parametrize("label, name, module, old, new, fn", [
    # the step cap's half-step margin widened to one and a half: max_steps = 1 let a 2-step flow run
    ("eulerian.jko_flow", "max_steps", "eulerian.jko", "not ratio <= max_steps + 0.5:",
     "not ratio <= max_steps + 1.5:", "jko_flow"),
    # the symmetry test of a diffusion matrix at NumPy's default atol 1e-8 instead of 1e-12 of its scale
    ("lagrangian.probability_flow_field", "diffusion", "lagrangian.fields", "rtol=0, atol=1e-12 * scale)",
     "rtol=0, )", "probability_flow_field"),
    # the grid flow-matching field accepting t up to 2
    ("eulerian.flow_matching_grid_field(...)(t, z)", "t", "eulerian.flow_matching_grid",
     "if not 0.0 <= t <= 1.0:", "if not 0.0 <= t <= 2.0:", None),
])
def test_the_catalog_flags_the_surviving_bounds(monkeypatch, label, name, module, old, new, fn):
    assert catalog_catches(monkeypatch, label, name, module, old, new, fn or (
        lambda m: lambda t, z: m.flow_matching_grid_field(bad_input.GRID, bad_input.RHO0, bad_input.RHO1)(t, z)))


FAILED_STEP = 'NumericalError(f"jko_flow: step {k + 1} of {K} (t = {(k + 1) * tau:g}) failed: {exc}")'


@pytest.mark.parametrize("new", [FAILED_STEP.replace("(k + 1) * tau", "(k - 1) * tau"), "NumericalError(None)"])
def test_a_failed_jko_flow_step_is_named_with_its_time(monkeypatch, new):
    """eulerian.jko.x_jko_flow__mutmut_175/179 (the message of a step that raised, replaced by None or with the
    step's start time): no catalog trouble made a step of jko_flow raise. One does now (a potential 1e6 x²)."""
    import eulerian
    from tests.verify.mutants import trouble_catches

    assert trouble_catches(monkeypatch, "eulerian.jko_flow: potential 1e6 x²", "eulerian.jko",
                           FAILED_STEP, new, eulerian, "jko_flow")


def test_fipy_on_3d_boxes_periodic_on_two_axes_is_compared(monkeypatch):
    """eulerian.fipy_backend.x_fipy_mesh__mutmut_17 (the name of FiPy's mesh class for two periodic axes of three
    joined with "XXXX"): no report case ran FiPy in 3-D. fipy-vs-array now runs each pair of periodic axes."""
    import sys

    from verify.cases.eulerian_cases import periodic_3d_checks

    assert all(c.passed for c in periodic_3d_checks())
    mutant = mutated(monkeypatch, "eulerian.fipy_backend", '+ "".join(_PERIODIC_SUFFIX[k]',
                     '+ "XXXX".join(_PERIODIC_SUFFIX[k]')
    monkeypatch.setattr(sys.modules["eulerian.fipy_backend"], "fipy_mesh", mutant.fipy_mesh)
    assert not any(c.passed for c in periodic_3d_checks())


def test_a_stopped_benamou_brenier_run_must_say_why(monkeypatch):
    """eulerian.benamou_brenier.x_benamou_brenier__mutmut_731 (the status left at its default "converged"): the
    report printed a stopped run's status but checked none. bb-gaussian-1d now checks one stopped at max_iter = 5."""
    from verify.cases.benamou_brenier_cases import check_stopped_run_record

    assert check_stopped_run_record().passed
    mutant = mutated(monkeypatch, "eulerian.benamou_brenier", "        status=status,\n", "")
    assert not check_stopped_run_record(run=mutant.benamou_brenier).passed


def test_a_density_whose_mass_underflows_is_refused(monkeypatch):
    """eulerian._validate.x_check_density__mutmut_43 (the zero-mass test with the cell volume divided): the two
    differ only where sum(rho) h^d underflows to 0, which no catalog density did; the 2-D ADI entry refuses one."""
    import sys

    label = "eulerian.solve_fokker_planck, Douglas ADI in 2-D"
    call = bad_input.CALLS[label]
    assert bad_input.gaps(call, label=label, names=["rho0"])[1] == []
    mutant = mutated(monkeypatch, "eulerian._validate", "float(rho.sum()) * grid.cell_volume > 0",
                     "float(rho.sum()) / grid.cell_volume > 0")
    monkeypatch.setattr(sys.modules["eulerian.fokker_planck"].v, "check_density", mutant.check_density)
    assert bad_input.gaps(call, label=label, names=["rho0"])[1]


def test_the_3d_open_walls_comparison_flags_a_wall_value_laid_out_wrong():
    """open_walls_3d_check (fipy-vs-array): the array run with the lower z wall's value g(t, x) = 0.05 + 0.01 y
    replaced by its mean 0.05 (a wall value not laid out along the wall's faces) must fail it."""
    from eulerian import Dirichlet, solve_fokker_planck
    from verify.cases.eulerian_cases import open_walls_3d_check

    assert open_walls_3d_check().passed

    def flat_wall(*args, boundary, **kw):
        return solve_fokker_planck(*args, boundary=[*boundary[:2], (Dirichlet(0.05), "zero-flux")], **kw)

    assert not open_walls_3d_check(solve=flat_wall).passed
