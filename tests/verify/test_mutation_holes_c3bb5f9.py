"""Report holes found by the fresh mutation sample at c3bb5f9 (seed 20261216), each closed by a check that now
catches its mutant, built in memory (tests/verify/mutants.py). That the checks pass on the library itself is
asserted by the cases' runs in tests/test_option_coverage.py:

* ``affine_field`` with a callable matrix and no offset converting the absent offset
  (lagrangian.fields.xǁAffineFieldǁ_coefficients__mutmut_23): no case made an affine field without an offset, or
  with one coefficient callable and the other constant -> affine-flow-particles, ``check_point_batches`` on every
  form of the coefficients;
* ``solve_stationary`` leaving cell-valued diffusion on the host (eulerian.fokker_planck.x_solve_stationary__mutmut_97):
  the CuPy paths ran it with a scalar diffusion only -> cupy-paths, the extra call "solve_stationary, diffusion as
  cell values" (which also found that a device array of cell values was refused by every Fokker–Planck solver:
  ``check_diffusion`` now takes it to the host);
* ``solve_stationary`` building the faces' D of a periodic box as if it had walls
  (eulerian.fokker_planck.x_solve_stationary__mutmut_103): the torus example had a constant D ->
  fplanck-nonuniform-diffusion, ``periodic_cell_diffusion_check`` (D as cell values, Gibbs state exp(-V));
* FiPy's continuity run on a closed box reporting a boundary outflow of [0.0] instead of None
  (eulerian.fipy_backend.x_continuity_fipy__mutmut_276) -> continuity-options-2d, ``check_solution_records``.

The sample's third hole, a ``gradient_field`` that stops checking the shape of grad_V's output, is closed in the
refusal record ("f": refused by the returned field); its test is in test_bad_input_cases.py.
"""
from __future__ import annotations

import dataclasses

import pytest

from tests.verify.mutants import mutated
from verify.cases import particles as P
from verify.cases.cupy_paths import STANDIN_MEMORY, check_call, extra_calls
from verify.cupy_standin import cupy_or_standin


@pytest.mark.parametrize("old, new, form", [
    ("c = None if self.offset is None or callable(self.offset) else xp.asarray(self.offset)",
     "c = None if callable(self.offset) else xp.asarray(self.offset)", "a(t) A0 x"),
    ("        if callable(self.offset):\n", "        if callable(self.offset) and callable(self.matrix):\n",
     "A0 x + a(t) c0"),
    ("at = None if callable(self.matrix) else xp.asarray(self.matrix.T.copy())",
     "at = None if callable(self.matrix) else xp.asarray(self.matrix.copy())", "A0 x"),
])
def test_every_form_of_the_affine_coefficients_is_checked(monkeypatch, old, new, form):
    mod = mutated(monkeypatch, "lagrangian.fields", old, new)
    a_t = lambda t: P._modulation(t) * P.AFFINE_A0   # noqa: E731
    c_t = lambda t: P._modulation(t) * P.AFFINE_C0   # noqa: E731
    fields = {"a(t) A0 x": (mod.affine_field(a_t), lambda t, x: P._modulation(t) * x @ P.AFFINE_A0.T),
              "A0 x": (mod.affine_field(P.AFFINE_A0), lambda t, x: x @ P.AFFINE_A0.T),
              "A0 x + a(t) c0": (mod.affine_field(P.AFFINE_A0, c_t),
                                 lambda t, x: x @ P.AFFINE_A0.T + P._modulation(t) * P.AFFINE_C0)}
    field, exact = fields[form]
    assert not P.check_point_batches(form, field, exact).passed


def test_cell_valued_diffusion_of_solve_stationary_is_run_on_cupy(monkeypatch):
    label = next(k for k in extra_calls() if k.startswith("eulerian.solve_stationary"))
    call = extra_calls()[label]
    with cupy_or_standin(STANDIN_MEMORY) as (cp, _):
        assert check_call(label, call, "backend", cp).passed
        assert check_call(label, call, "backend, device input", cp).passed
        mod = mutated(monkeypatch, "eulerian.fokker_planck", "[d if np.ndim(d) == 0 else be.asarray(d) for d in",
                      "[d if (np.ndim(d) == 0) or True else be.asarray(d) for d in")
        check = check_call(label, dataclasses.replace(call, func=mod.solve_stationary), "backend", cp)
        assert not check.passed and "TypeError" in check.detail, check


def test_a_closed_fipy_continuity_run_reporting_an_outflow_is_caught(monkeypatch):
    """eulerian.fipy_backend.x_continuity_fipy__mutmut_276: boundary_outflow [0.0] instead of None for a closed box."""
    from eulerian import solve_continuity
    from verify.cases.eulerian_cases import check_solution_records
    from verify.problems import get_problem, grid_for

    problem = get_problem("mms-continuity-box-2d")
    grid = grid_for(problem, 12)
    rho0 = grid.cell_averages(problem.initial_density)

    def run():
        return solve_continuity(grid, rho0, problem.drift, problem.t_final, backend="fipy",
                                boundary=problem.boundary)

    assert check_solution_records("closed", [run()], closed=True).passed
    import eulerian.fipy_backend

    mod = mutated(monkeypatch, "eulerian.fipy_backend",
                  "boundary_outflow=np.array(outflows) if walls is not None else None",
                  "boundary_outflow=np.array(outflows) if (walls is not None) or True else None")
    monkeypatch.setattr(eulerian.fipy_backend, "continuity_fipy", mod.continuity_fipy)
    check = check_solution_records("closed", [run()], closed=True)
    assert not check.passed and "boundary_outflow (1,) for a closed box" in check.detail, check


def test_cell_valued_diffusion_across_the_periodic_seam_is_checked(monkeypatch):
    """eulerian.fokker_planck.x_solve_stationary__mutmut_103: the face values of D built as if the box had walls
    (periodic=None): one face short on the torus, so the case stops with an error (a report error, not a pass)."""
    from verify.cases.boundaries import periodic_cell_diffusion_check

    mod = mutated(monkeypatch, "eulerian.fokker_planck", "for d in D.normal(grid, periodic)], flux, periodic)",
                  "for d in D.normal(grid, None)], flux, periodic)")
    assert periodic_cell_diffusion_check().passed
    with pytest.raises(ValueError, match="could not be broadcast"):
        periodic_cell_diffusion_check(solve=mod.solve_stationary)
