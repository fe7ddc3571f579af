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
  (eulerian.fipy_backend.x_continuity_fipy__mutmut_276) -> continuity-options-2d, ``check_solution_records``;
* ``Solution.wall_time`` as now + start (eulerian.fokker_planck.x_solve_fokker_planck__mutmut_732) ->
  ``check_solution_records`` holds it within the time measured around the runs (fokker-planck-options-2d);
* a Gaussian's mean left writeable (verify.gaussian.xǁGaussianǁ__init____mutmut_20) -> brenier-pushforward,
  ``check_read_only`` on the laws and the Brenier map;
* the Sherman-Morrison scale of the periodic ADI lines inverted
  (eulerian.adi.xǁTridiagonalLinesǁ__init____mutmut_108): exact in exact arithmetic, ruinous on stiff lines -> ou-2d's line solves at c1 = 30 as well as 0.3 (LINE_C1);
* the porous medium's step-rate bound with |V| subtracted or D divided by m (eulerian.porous_medium.x__check_scale__
  mutmut_64, _67) -> a trouble of the bad-input catalog whose bound overflows while every term stays finite;
* the multilevel floor raised (eulerian.staggered.x_can_coarsen__mutmut_11): the expected level count came from
  can_coarsen itself -> ``coarse_levels`` counts from the documented floor.

Two more are closed elsewhere: a ``gradient_field`` that stops checking the shape of grad_V's output, in the
refusal record ("f": refused by the returned field; test in test_bad_input_cases.py), and ``_end_prox``'s
projection branch chosen by a float comparison C == 0.0 (mutated to C == 1.0), by the code: it is chosen by
``g is None`` now.
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

from eulerian import solve_fokker_planck
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
    from verify.checks import check_solution_records
    from verify.problems import get_problem, grid_for

    problem = get_problem("mms-continuity-box-2d")
    grid = grid_for(problem, 12)
    rho0 = grid.cell_averages(problem.initial_density)

    def run():
        return solve_continuity(grid, rho0, problem.drift, problem.t_final, backend="fipy",
                                boundary=problem.boundary)

    assert check_solution_records("closed", [run()], closed=True, elapsed=60.0).passed
    import eulerian.fipy_backend

    mod = mutated(monkeypatch, "eulerian.fipy_backend",
                  "boundary_outflow=np.array(outflows) if walls is not None else None",
                  "boundary_outflow=np.array(outflows) if (walls is not None) or True else None")
    monkeypatch.setattr(eulerian.fipy_backend, "continuity_fipy", mod.continuity_fipy)
    check = check_solution_records("closed", [run()], closed=True, elapsed=60.0)
    assert not check.passed and "boundary_outflow (1,) for a closed box" in check.detail, check


def test_a_wrong_wall_time_is_caught(monkeypatch):
    """eulerian.fokker_planck.x_solve_fokker_planck__mutmut_732: wall_time = now + start (seconds since boot,
    twice) instead of now - start."""
    import time

    from verify.checks import check_solution_records
    from verify.problems import get_problem, grid_for

    problem = get_problem("mms-fokker-planck-box-2d")
    grid = grid_for(problem, 12)
    rho0 = grid.cell_averages(problem.initial_density)
    mod = mutated(monkeypatch, "eulerian.fokker_planck", "wall = _time.perf_counter() - start",
                  "wall = _time.perf_counter() + start")
    for solve, ok in ((mod.solve_fokker_planck, False), (solve_fokker_planck, True)):
        start = time.perf_counter()
        sol = solve(grid, rho0, problem.drift, problem.diffusion, problem.t_final, 4, boundary=problem.boundary)
        check = check_solution_records("mms", [sol], closed=True, elapsed=time.perf_counter() - start)
        assert check.passed == ok, check


def test_cell_valued_diffusion_across_the_periodic_seam_is_checked(monkeypatch):
    """eulerian.fokker_planck.x_solve_stationary__mutmut_103: the face values of D built as if the box had walls
    (periodic=None): one face short on the torus, so the case stops with an error (a report error, not a pass)."""
    from verify.cases.boundaries import periodic_cell_diffusion_check

    mod = mutated(monkeypatch, "eulerian.fokker_planck", "for d in D.normal(grid, periodic)], flux, periodic)",
                  "for d in D.normal(grid, None)], flux, periodic)")
    assert periodic_cell_diffusion_check().passed
    with pytest.raises(ValueError, match="could not be broadcast"):
        periodic_cell_diffusion_check(solve=mod.solve_stationary)


STEP_RATE = "(D * m / (m - 1.0) * np.float64(rmax) ** (m - 1.0) + vmax)"


@pytest.mark.parametrize("old, new", [(STEP_RATE, STEP_RATE.replace("+ vmax", "- vmax")),
                                      (STEP_RATE, STEP_RATE.replace("D * m /", "D / m /"))])
def test_the_step_rate_bound_of_the_porous_medium_is_held_by_a_trouble(monkeypatch, old, new):
    """eulerian.porous_medium.x__check_scale__mutmut_64 and _67: the bound of the step condition's rate with the
    potential's term subtracted, or D divided by m. The bad-input catalog's trouble with D = 1e308 and V = 1e307
    (rate bound 2.4e308, each term finite) must be refused up front; the mutants' bounds stay finite and start the
    run."""
    from verify import bad_input

    label = "eulerian.solve_porous_medium: D = 5e307, rho = 0.2, potential 1e307, h = 1 in 2-D"
    trouble = bad_input.TROUBLES[label]
    assert bad_input.trouble_gap(label, trouble) is None
    mod = mutated(monkeypatch, "eulerian.porous_medium", old, new)
    import eulerian

    monkeypatch.setattr(eulerian, "solve_porous_medium", mod.solve_porous_medium)
    assert bad_input.trouble_gap(label, trouble) is not None


def test_a_sherman_morrison_scale_inverted_is_caught_on_stiff_lines(monkeypatch):
    """eulerian.adi.xǁTridiagonalLinesǁ__init____mutmut_108: gamma = -sign(d0) / size for -sign(d0) * size. The
    cyclic solve stays exact in exact arithmetic, but on a stiff step alpha beta / gamma swamps the last pivot:
    residual 1.8e-11 at c1 = 30 (1.3e-15 at c1 = 0.3, where the report used to look)."""
    from verify.cases import eulerian_cases as EC

    mod = mutated(monkeypatch, "eulerian.adi", "gamma = -xp.where(d[:, 0] < 0, -1.0, 1.0) * xp.where(",
                  "gamma = -xp.where(d[:, 0] < 0, -1.0, 1.0) / xp.where(")
    assert EC.check_line_solves(EC.line_solve_residuals(c1=30.0)).passed
    assert EC.check_line_solves(EC.line_solve_residuals(mod.TridiagonalLines)).passed          # the mild step
    assert not EC.check_line_solves(EC.line_solve_residuals(mod.TridiagonalLines, c1=30.0)).passed


def test_a_higher_coarsening_floor_is_caught_by_the_level_count(monkeypatch):
    """eulerian.staggered.x_can_coarsen__mutmut_11: coarsen only sizes >= 48 (3 x 16). The report's expected level
    count came from can_coarsen itself, so it moved with the mutant; it is now counted from the documented
    floor (sizes even and >= 32), and the 64-cell multilevel run, with one level fewer, is caught."""
    from eulerian import Grid, benamou_brenier
    from verify.cases import benamou_brenier_cases as BB

    r0, r1, _ = BB.periodic_cases(64)["smooth w=1"]
    mod = mutated(monkeypatch, "eulerian.staggered", "n >= 2 * minimum for n in sizes",
                  "n >= 3 * minimum for n in sizes")
    monkeypatch.setattr(sys.modules["eulerian.benamou_brenier"], "can_coarsen", mod.can_coarsen)
    res = benamou_brenier(Grid((0.0,), (1.0,), (64,)), r0, r1, 64, boundary="periodic", tol=1e-6, multilevel=True)
    assert len(res.extras["coarse_iterations"]) == 1      # 64 -> 32 only
    assert not BB.check_iteration_accounting("mutant", res, (64,), 64).passed


@pytest.mark.parametrize("old, new", [("mean.setflags(write=False)", "mean.setflags(write=True)"),
                                      ("offset.setflags(write=False)", "offset.setflags(write=True)")])
def test_a_writeable_law_or_map_is_caught(monkeypatch, old, new):
    """verify.gaussian.xǁGaussianǁ__init____mutmut_20: a Gaussian whose mean stays writeable (and the same for an
    affine map's offset): the laws are documented read-only."""
    from verify import gaussian as G
    from verify.cases.optimal_transport import check_read_only

    g0, g1 = G.Gaussian([0.0, 1.0], [[1.0, 0.2], [0.2, 0.5]]), G.Gaussian([1.0, 0.0], np.eye(2))
    assert check_read_only("library", g0, g1, G.brenier_map(g0, g1)).passed
    mod = mutated(monkeypatch, "verify.gaussian", old, new)
    h0, h1 = mod.Gaussian([0.0, 1.0], [[1.0, 0.2], [0.2, 0.5]]), mod.Gaussian([1.0, 0.0], np.eye(2))
    assert not check_read_only("mutant", h0, h1, mod.brenier_map(h0, h1)).passed


def test_records_of_open_walls_need_the_outflow_and_closed_walls_are_read_from_the_spec():
    """walls-and-diffusion-2d checks the records of every FiPy option run, open walls included: a run through
    Dirichlet walls that reported no boundary_outflow would fail."""
    import time

    from eulerian.boundary import Dirichlet
    from verify.cases.boundaries import closed_walls
    from verify.checks import check_solution_records

    assert closed_walls("zero-flux") and closed_walls(["periodic", "zero-flux"])
    assert closed_walls([("zero-flux", "zero-flux"), "periodic"])
    assert not closed_walls([Dirichlet(0.0), "zero-flux"]) and not closed_walls([("zero-flux", Dirichlet(1.0))])
    from eulerian import Grid

    grid = Grid((0.0,), (1.0,), (16,))
    start = time.perf_counter()
    sol = solve_fokker_planck(grid, np.ones(16), lambda t, x: 0.0 * x, 0.5, 0.1, 4,
                              boundary=[(Dirichlet(0.0), Dirichlet(0.0))])
    elapsed = time.perf_counter() - start
    assert check_solution_records("open", [sol], closed=False, elapsed=elapsed).passed
    lost = dataclasses.replace(sol, boundary_outflow=None)
    assert not check_solution_records("open", [lost], closed=False, elapsed=elapsed).passed
    short = dataclasses.replace(sol, mass=sol.mass[:-1])
    assert not check_solution_records("open", [short], closed=False, elapsed=elapsed).passed
