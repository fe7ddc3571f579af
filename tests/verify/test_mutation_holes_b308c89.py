"""Report checks added for the holes of the fresh mutation sample at b308c89 (seed 20261211).

* ``eulerian.meanfield.xǁFaceVelocitiesǁ__init____mutmut_9`` (face points of a periodic grid built as for walls)
  and ``eulerian.meanfield.x_solve_meanfield__mutmut_112`` (a periodic boundary taken for walls): no case ran
  solve_meanfield on a torus -> meanfield-periodic-2d (a plane wave moved by a velocity that reads the density,
  against its closed form);
* ``eulerian.continuity.x_face_values__mutmut_7`` (the refusal of a velocity that turns complex reworded) -> a
  Trouble;
* ``lagrangian.transport.x_w2_squared__mutmut_82`` (the caller's max_bytes misprinted) -> the message digests keep
  a budget the caller gave;
* ``lagrangian.gradient_flows.x__save_times__mutmut_51`` (the save-time tolerance doubled) -> the catalog refuses
  a save time 1.5e-8 of a step off the grid;
* ``eulerian.continuity.x_solve_continuity__mutmut_191`` (the step estimate without the walls' face speeds) -> a
  Trouble whose walls are 1 000x faster than the interior;
* ``eulerian.jko.x_jko_step__mutmut_468`` (JKOStepResult.path = None after iterating) -> jko-equilibrium's
  ``check_step_record`` checks the path (shape, path[0] = rho, the mass of every level);
* ``eulerian.fokker_planck.x_solve_fokker_planck__mutmut_148`` (the saved densities' memory misestimated) -> a
  Trouble that saves 100 001 densities of 512 x 512 cells.
"""
from __future__ import annotations

import dataclasses

import pytest

from tests.verify.mutants import mutated
from verify import bad_input
from verify.cases.meanfield_periodic import check_order
from verify.refusal_record import TROUBLE_MESSAGES


def test_meanfield_periodic_case_passes():
    assert check_order(0.05, "none", (1, 2)).passed


@pytest.mark.parametrize("old, new", [
    ("pts = [face_points(grid, k, periodic).reshape(-1, grid.dim) for k in range(grid.dim)]",
     "pts = [face_points(grid, k, None).reshape(-1, grid.dim) for k in range(grid.dim)]"),
    ('periodic = boundary == "periodic"', 'periodic = boundary == "PERIODIC"'),
])
def test_meanfield_on_a_torus(monkeypatch, old, new):
    mod = mutated(monkeypatch, "eulerian.meanfield", old, new)
    try:
        check = check_order(0.0, "none", (1, 2), solve=mod.solve_meanfield)
    except Exception:   # noqa: BLE001 - the case reports a crash as an error: caught too
        return
    assert not check.passed


def _trouble_says(label: str) -> list:
    said: list = []
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label], messages=said) is None
    return said


def _said_under_mutant(monkeypatch, label: str, module: str, old: str, new: str, namespace, attr: str) -> list:
    """The message digests of the Trouble ``label`` with ``namespace.attr`` taken from the mutated ``module``
    (the Trouble passes unmutated, with its recorded message)."""
    assert _trouble_says(label) == [TROUBLE_MESSAGES[label]]
    monkeypatch.setattr(namespace, attr, getattr(mutated(monkeypatch, module, old, new), attr))
    said: list = []
    bad_input.trouble_gap(label, bad_input.TROUBLES[label], messages=said)
    return said


def test_the_refusal_of_a_velocity_turning_complex_is_recorded(monkeypatch):
    """eulerian.continuity.x_face_values__mutmut_7 (the velocity's name in the refusal of complex values
    reworded: reached only by a velocity that turns complex after the up-front probes) -> a Trouble."""
    label = "eulerian.solve_continuity: velocity complex after t = 0.05"
    said = _said_under_mutant(monkeypatch, label, "eulerian.continuity",
                              'v.real_output("velocity(t, x)", velocity(t, points))',
                              'v.real_output("XXvelocity(t, x)XX", velocity(t, points))', bad_input, "solve_continuity")
    assert said != [TROUBLE_MESSAGES[label]]


def test_the_callers_memory_budget_stays_in_the_recorded_message(monkeypatch):
    """lagrangian.transport.x_w2_squared__mutmut_82 (max_bytes printed in units of 2 MiB): the digests masked every
    number before "MiB" as a machine limit; a budget the caller gave (max_bytes=...) now stays."""
    import lagrangian

    label = "lagrangian.w2_squared: a 69 MiB cost matrix under max_bytes = 1 MiB"
    said = _said_under_mutant(monkeypatch, label, "lagrangian.transport", "max_bytes={max_bytes:.6g} bytes",
                              "max_bytes={max_bytes / 2:.6g} bytes", lagrangian, "w2_squared")
    assert said != [TROUBLE_MESSAGES[label]]


def test_save_times_off_the_step_grid_by_more_than_the_tolerance_are_refused(monkeypatch):
    """lagrangian.gradient_flows.x__save_times__mutmut_51 (the tolerance 1e-8 max(1, k) steps doubled below k = 2):
    the catalog refuses a save time 1.5e-8 of a step off the grid and accepts one 5e-9 off."""
    call = bad_input.CALLS["lagrangian.blob_flow"]
    bad = [0.025 * (1 + 1.5e-8)]
    assert bad_input.refusal_gap(call, "save_at", bad, must_refuse=True) is None
    mod = mutated(monkeypatch, "lagrangian.gradient_flows", "1e-8 * np.maximum(1.0, k)", "1e-8 * np.maximum(2.0, k)")
    assert bad_input.refusal_gap(dataclasses.replace(call, func=mod.blob_flow), "save_at", bad,
                                 must_refuse=True) is not None


def test_the_step_estimate_counts_the_wall_faces(monkeypatch):
    """eulerian.continuity.x_solve_continuity__mutmut_191 (the up-front step estimate without the walls' face
    speeds): a run whose walls are 1 000x faster than the interior must be refused before stepping, with the
    estimate in the message; the mutant starts it and stops at max_steps mid-run."""
    label = "eulerian.solve_continuity: wall faces 1 000x faster than the interior, max_steps = 50 (about 67 needed)"
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label]) is None
    mod = mutated(monkeypatch, "eulerian.continuity", "check_step_count(t_final, courant_rate(v0, walls0), cfl",
                  "check_step_count(t_final, courant_rate(v0, ), cfl")
    monkeypatch.setattr(bad_input, "solve_continuity", mod.solve_continuity)
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label]) is not None


def test_a_jko_step_without_its_path_is_caught(monkeypatch):
    from verify.cases import jko_cases as J

    def gibbs_step():
        record: list = []
        J.equilibrium_step(J._grid_1d(16), J._potential_1d(J.OU), J.OU["D"], J.OU["D"], record=record)
        return record[0]

    res, rho = gibbs_step()
    assert J.check_step_record("x", res, rho, J.STEP_TAU).passed
    shifted = dataclasses.replace(res, path=res.path * (1 + 1e-9))   # one level of another mass
    assert J.check_step_record("x", shifted, rho, J.STEP_TAU).value == 1
    mod = mutated(monkeypatch, "eulerian.jko", "tau=tau, path=path, history=hist", "tau=tau, path=None, history=hist")
    monkeypatch.setattr(J, "jko_step", mod.jko_step)
    res, rho = gibbs_step()
    assert J.check_step_record("x", res, rho, J.STEP_TAU).value == 1


def test_the_saved_densities_count_in_the_memory_estimate(monkeypatch):
    """eulerian.fokker_planck.x_solve_fokker_planck__mutmut_148 (the saved densities' bytes divided by the cell
    count): a Trouble saves 100 001 densities of 512 x 512 cells; the refusal keeps the size it needs."""
    label = "eulerian.solve_fokker_planck: 100 001 saved densities of 512 x 512 cells (beyond memory)"
    said = _said_under_mutant(monkeypatch, label, "eulerian.fokker_planck",
                              "v.check_memory(8.0 * grid.size * (0 if save is None else len(save))",
                              "v.check_memory(8.0 / grid.size * (0 if save is None else len(save))",
                              bad_input, "solve_fokker_planck")
    assert said != [TROUBLE_MESSAGES[label]]
