"""Report checks added for the solver survivors of the mutation run at fc7c4bd (list C): each check passes on the
right code and fails on the mutant's behaviour (or on a deliberately wrong scheme of the same kind), fed to the check
directly so the tests stay fast.

* ``eulerian.multigrid.xǁMultigridSolverǁ_cycle__mutmut_73`` (post-smoothing sweeps without their damping) ->
  fokker-planck-options-2d, ``multigrid_cycle_checks`` (the cycle against a dense reference built from its
  definition; BiCGStab hides the weaker cycle: 3 -> 4 iterations, within the iteration bound);
* ``eulerian.diffusion.xǁDiffusionǁcoarsen__mutmut_17`` -> fokker-planck-options-2d, multigrid vs LU with cell-valued
  D (no report case ran multigrid with cell values: doing so found that ``Diffusion.coarsen`` halved only once, so a
  third level failed with a shape error; fixed, tested below);
* ``eulerian._validate.x_check_mass_balance__mutmut_14`` (tolerance n / MASS_RTOL) -> heat-2d, ``check_mass_guard``;
* ``eulerian.adi.xǁTridiagonalLinesǁ_factor__mutmut_53`` (Thomas recursion from d[1]) -> ou-2d, ``check_line_solves``;
* ``eulerian.jko.xǁFreeEndGridǁproject_free__mutmut_41``, ``…__post_init____mutmut_24`` (periodic eigenvalues,
  now StaggeredGrid's), ``…free_divergence_residual__mutmut_7`` -> bb-fipy-poisson,
  ``check_free_projection_against_sparse``;
* ``eulerian.benamou_brenier.x__stationarity__mutmut_28`` -> bb-fipy-poisson, ``check_stationarity_measure``;
* ``lagrangian.gradient_flows.x_implicit_euler_step__mutmut_114`` -> porous-medium-barenblatt,
  ``check_implicit_residual``.
"""
import functools
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from eulerian.diffusion import Diffusion, check_diffusion
from eulerian.errors import NumericalError
from eulerian.grid import Grid
from verify.cases import bb_cross_checks as BX
from verify.cases import eulerian_cases as EC
from verify.cases import porous_medium as PM


def _mutated_module(module, old: str, new: str, occurrence: int = 1):
    """``module`` loaded again from its source with the ``occurrence``-th copy of ``old`` replaced by ``new`` (the
    mutant), as a separate module of the same package."""
    src = Path(module.__file__).read_text()
    assert src.count(old) >= occurrence, old
    head, *tails = src.split(old)
    text = head + "".join((new if i == occurrence - 1 else old) + t for i, t in enumerate(tails))
    name = module.__name__ + "_mutant"
    mod = types.ModuleType(name)
    mod.__package__ = module.__package__
    sys.modules[name] = mod   # dataclasses look their module up while the classes are made
    try:
        exec(compile(text, module.__file__, "exec"), mod.__dict__)
    finally:
        del sys.modules[name]
    return mod


# ----------------------------------------------------------------- fokker-planck-options-2d: the multigrid cycle
def test_multigrid_cycle_matches_the_dense_reference():
    checks = EC.multigrid_cycle_checks()
    assert [c.passed for c in checks] == [True, True]
    assert all(c.value < 1e-6 for c in checks)   # float32 cycle: ~2e-7


def test_short_axis_cycle_check_passes_and_flags_a_hierarchy_stopped_early(monkeypatch):
    """eulerian.multigrid.x_transfer_operators__mutmut_1 (sample at 7092d92): min_cells 3 for 2."""
    from tests.verify.mutants import mutated

    check = EC.short_axis_cycle_check()
    assert check.passed and check.value < 1e-6 and "4 levels" in check.detail
    mod = mutated(monkeypatch, "eulerian.multigrid", "min_cells: int = 2,", "min_cells: int = 3,")
    check = EC.short_axis_cycle_check(mod.MultigridSolver)
    assert not check.passed and check.value > 0.1


@pytest.mark.parametrize("wrong", [{"omega": 1.0}, {"omega": 0.7}, {"nu": 1}])
def test_multigrid_cycle_check_flags_another_damping_or_sweep_count(wrong):
    from eulerian.multigrid import MultigridSolver

    (check,) = EC.multigrid_cycle_checks(("V",), functools.partial(MultigridSolver, **wrong))
    assert not check.passed and check.value > 1e-3


def test_multigrid_cycle_check_breaks_on_undamped_post_smoothing():
    """mutmut_73: the post-smoothing sweeps get the damping None, i.e. BLAS axpy's default 1 (undamped Jacobi)."""
    import eulerian.multigrid as MG

    line = "            self._axpy(lev.omega, self._residual(lev), lev.x)"
    mutant = _mutated_module(MG, line, line.replace("lev.omega", "None"), occurrence=2)
    for check in EC.multigrid_cycle_checks(solver_class=mutant.MultigridSolver):
        assert not check.passed and check.value > 1e-2


def test_dense_reference_damping_is_the_gershgorin_choice():
    from eulerian.multigrid import MultigridSolver
    from eulerian.backend import get_backend

    _, dampings = EC.dense_cycle_reference(EC.MG_CYCLE_SHAPE, EC.mg_cycle_matrix, EC.MG_CYCLE_PERIODIC, 2, "V",
                                           EC.MG_CYCLE_COARSE_SIZE)
    solver = MultigridSolver(get_backend("numpy"), EC.mg_cycle_matrix(EC.MG_CYCLE_SHAPE), EC.MG_CYCLE_SHAPE,
                             periodic=EC.MG_CYCLE_PERIODIC, coarse_matrix=EC.mg_cycle_matrix,
                             coarse_size=EC.MG_CYCLE_COARSE_SIZE)
    assert len(dampings) == len(solver.levels) - 1 == 2
    np.testing.assert_allclose(dampings, [lv.omega for lv in solver.levels[:-1]], rtol=1e-6)
    assert all(0.8 <= w <= 1.0 for w in dampings)   # jacobi_damping's range in 2D: [4/5, 1]


# ------------------------------------------------------- cell-valued diffusion on the multigrid levels (bug fix)
def test_cell_diffusion_is_block_averaged_on_every_coarser_level():
    """Diffusion.coarsen used to halve each axis once whatever the coarse shape: the third multigrid level (a quarter
    of the cells per axis) got a coefficient of the wrong shape. Block means of 2^j cells are the exact reference."""
    grid = Grid((0.0, 0.0), (2.0, 1.0), (16, 12))
    D = np.random.default_rng(0).uniform(0.5, 2.0, grid.shape)
    diff = check_diffusion(D, grid)
    for coarse_shape, block in (((8, 6), (2, 2)), ((4, 3), (4, 4)), ((2, 12), (8, 1)), ((16, 12), (1, 1))):
        coarse = Grid(grid.lower, grid.upper, coarse_shape)
        expected = D.reshape(coarse_shape[0], block[0], coarse_shape[1], block[1]).mean(axis=(1, 3))
        got = diff.coarsen(grid, coarse)
        assert got.kind == "cells"
        np.testing.assert_allclose(got.value, expected, rtol=1e-15)
        assert abs(grid.cell_volume * D.sum() - coarse.cell_volume * got.value.sum()) < 1e-13 * D.sum()
    with pytest.raises(ValueError, match="halved"):
        diff.coarsen(grid, Grid(grid.lower, grid.upper, (5, 12)))


def test_multigrid_with_cell_diffusion_agrees_with_lu():
    from eulerian.fokker_planck import solve_fokker_planck
    from verify.problems import get_problem, grid_for

    problem = get_problem("mms-fokker-planck-box-2d")
    grid = grid_for(problem, 48)   # 48x36 -> 24x18 -> 12x9: three levels
    D = EC.cell_diffusion(grid, problem.diffusion)
    rho0 = grid.cell_averages(problem.initial_density)
    frozen = lambda t, x: problem.drift(0.25, x)   # noqa: E731
    runs = {s: solve_fokker_planck(grid, rho0, frozen, D, problem.t_final, 24, solver=s, boundary=problem.boundary)
            for s in ("lu", "multigrid")}
    assert runs["multigrid"].info["solver"] == "multigrid"
    assert EC.check_agreement("cells", runs["lu"].to_numpy(), runs["multigrid"].to_numpy(),
                              EC.SOLVER_AGREEMENT_TOL).passed
    assert EC.check_multigrid_iterations("cells", runs["multigrid"]).passed
    # a solution off by 1e-6 (relative) is flagged by the same agreement check
    assert not EC.check_agreement("cells", runs["lu"].to_numpy(), runs["lu"].to_numpy() * (1 + 1e-6),
                                  EC.SOLVER_AGREEMENT_TOL).passed


def test_cell_diffusion_run_breaks_on_the_coarsen_mutant(monkeypatch):
    """mutmut_17: np.take(None, ...) for the even children: the coarse levels cannot be built and the run raises
    (the case errors)."""
    from eulerian.fokker_planck import solve_fokker_planck

    def mutant(self, grid, coarse):
        if self.kind != "cells" or coarse.shape == grid.shape:
            return self
        n = grid.shape[0]
        return Diffusion("cells", 0.5 * (np.take(None, np.arange(0, n, 2), axis=0)
                                         + np.take(self.value, np.arange(1, n, 2), axis=0)))

    monkeypatch.setattr(Diffusion, "coarsen", mutant)
    grid = Grid((0.0, 0.0), (2.0, 1.0), (48, 36))
    with pytest.raises(Exception):
        solve_fokker_planck(grid, np.ones(grid.shape), lambda t, x: -x, EC.cell_diffusion(grid, 0.2), 0.1, 2,
                            solver="multigrid")


# ------------------------------------------------------------------------- heat-2d: the mass-balance guard
def test_mass_guard_judges_every_planted_slip_right():
    count, wrong = EC.mass_guard_misjudged()
    assert count == 0, wrong
    assert EC.check_mass_guard().passed


def _guard_with(tolerance, nan_raises=True):
    def guard(solver, mass, expected, scale, step, t, fix):
        if not math.isfinite(mass):
            if nan_raises:
                raise NumericalError("non-finite")
            return math.nan
        drift = abs(mass - expected) / scale
        if drift > tolerance(step):
            raise NumericalError("drifted")
        return drift
    return guard


@pytest.mark.parametrize("guard, misjudged", [
    (_guard_with(lambda n: n / 1e-9), 6),            # mutmut_14: step / MASS_RTOL lets every slip through
    (_guard_with(lambda n: 1e-9), 4),                # not scaled with the step count: n = 7 and 250 refused
    (_guard_with(lambda n: 2e-9 * n), 6),            # twice the stated tolerance
    (_guard_with(lambda n: 0.5e-9 * n), 6),          # half of it
    (_guard_with(lambda n: 1e-9 * n, nan_raises=False), 3),   # NaN masses let through
])
def test_mass_guard_check_flags_a_wrong_guard(guard, misjudged):
    count, _ = EC.mass_guard_misjudged(guard)
    assert count == misjudged
    assert not EC.check_mass_guard(guard).passed


# ------------------------------------------------------------------------- ou-2d: Douglas ADI line solves
def test_line_solves_pass_on_both_paths():
    res = EC.line_solve_residuals()
    assert len(res) == 8 and {k[1] for k in res} == {"LAPACK", "Thomas"}
    assert EC.check_line_solves(res).passed
    assert max(res.values()) < 1e-15


def test_line_solve_check_breaks_on_the_thomas_start_mutant():
    """mutmut_53: the Thomas recursion starts from w = d[1] instead of d[0] (the CPU copy of the GPU algorithm)."""
    import eulerian.adi as adi

    mutant = _mutated_module(adi, "            w = d[0]\n", "            w = d[1]\n")
    res = EC.line_solve_residuals(mutant.TridiagonalLines)
    assert max(v for k, v in res.items() if k[1] == "LAPACK") < 1e-15   # LAPACK untouched
    assert min(v for k, v in res.items() if k[1] == "Thomas") > 1e-3
    assert not EC.check_line_solves(res).passed


def test_line_solve_check_flags_a_wrong_step_weight():
    from eulerian.adi import TridiagonalLines

    class Off(TridiagonalLines):
        def __init__(self, be, shape, axis, a, b, c0, c1, periodic, lapack=None):
            super().__init__(be, shape, axis, a, b, c0, 1.01 * c1, periodic, lapack)

    assert not EC.check_line_solves(EC.line_solve_residuals(Off)).passed


# --------------------------------------------------------------- bb-fipy-poisson: JKO's free-end projection
@pytest.mark.parametrize("shape, spacing, P, periodic", BX.FREE_END_GRIDS)
def test_free_end_projection_matches_the_sparse_reference(shape, spacing, P, periodic):
    grid = BX.free_end_grid(shape, spacing, P, periodic)
    checks = BX.check_free_projection_against_sparse("free", grid, rng=np.random.default_rng(5))
    assert [c.passed for c in checks] == [True] * 4
    assert checks[0].value < 1e-13


def test_free_end_check_breaks_on_the_periodic_momentum_mutant():
    """project_free mutmut_41: on periodic grids the momenta are overwritten by the gradient (= instead of +=)."""
    import eulerian.jko as jko

    line = "W[c] += (psi - xp.roll(psi, 1, axis=c)) * (self.dt / self.spacing[a])"
    mutant = _mutated_module(jko, line, line.replace("+=", "=", 1))
    for shape, spacing, P, periodic in BX.FREE_END_GRIDS:
        grid = mutant.FreeEndGrid(shape, spacing, P, periodic, np, __import__("scipy.fft").fft, 1, poisson="dct")
        checks = BX.check_free_projection_against_sparse("free", grid, rng=np.random.default_rng(5))
        if periodic:
            assert not checks[0].passed and not checks[2].passed
        else:
            assert all(c.passed for c in checks)


def test_free_end_check_flags_wrong_periodic_eigenvalues():
    """FreeEndGrid.__post_init__ mutmut_24 (now in StaggeredGrid's space eigenvalues): lambda h^2 for lambda / h^2."""
    from eulerian.staggered import _neumann_path_factor

    shape, spacing, P, periodic = BX.FREE_END_GRIDS[0]
    grid = BX.free_end_grid(shape, spacing, P, periodic)
    wrong = grid._lam_space * spacing[0] ** 4
    grid._free_inv = _neumann_path_factor(P, grid.dt ** 2 * wrong.reshape(1, -1), np, free_end=True)
    checks = BX.check_free_projection_against_sparse("free", grid, rng=np.random.default_rng(5))
    assert not checks[0].passed and not checks[2].passed


def test_free_end_check_flags_a_wrong_residual_and_breaks_on_the_mutant():
    shape, spacing, P, periodic = BX.FREE_END_GRIDS[2]
    grid = BX.free_end_grid(shape, spacing, P, periodic)
    # a residual that forgets rho_s[0] = rho0 (the divergence of V as given)
    ignoring_rho0 = lambda V, rho0: float(np.abs(grid.divergence(V)).max())   # noqa: E731
    checks = BX.check_free_projection_against_sparse("free", grid, rng=np.random.default_rng(5),
                                                     residual=ignoring_rho0)
    assert not checks[1].passed and checks[0].passed
    # free_divergence_residual mutmut_7: max |None| raises: the case errors
    with pytest.raises(TypeError):
        BX.check_free_projection_against_sparse("free", grid, rng=np.random.default_rng(5),
                                                residual=lambda V, rho0: float(np.max(np.abs(None))))


# -------------------------------------------------- bb-fipy-poisson: benamou_brenier's stationarity measure
def test_stationarity_measure_matches_the_sparse_reference():
    checks = BX.check_stationarity_measure("stat", np.random.default_rng(1))
    assert len(checks) == 4 and all(c.passed for c in checks)


def _stationarity_floored_at_one(sg, y):
    """mutmut_28: the norm of I* y floored at 1 instead of 1e-300 (an absolute residual below 1)."""
    from eulerian.benamou_brenier import _norm

    s = sg.free_adjoint(y)
    size = _norm(s, sg.xp)
    tangent = sg.float64_twin().project_continuity(s, 0.0, 0.0, out=s)
    return _norm(tangent, sg.xp) / max(size, 1.0)


def test_stationarity_check_flags_an_absolute_residual():
    checks = BX.check_stationarity_measure("stat", np.random.default_rng(1), measure=_stationarity_floored_at_one)
    small = [c for c in checks if "0.001" in c.name]
    large = [c for c in checks if "1000" in c.name]
    assert small and not any(c.passed for c in small)
    assert all(c.passed for c in large)   # above |I* y| = 1 the mutant coincides


# ------------------------------------------------- porous-medium-barenblatt: the implicit step's residual
def _quadratic_step():
    from lagrangian.gradient_flows import implicit_euler_step

    x = np.linspace(-2.0, 2.0, 9)[:, None]
    return x, implicit_euler_step(x, 0.1, potential_grad=lambda y: 3.0 * y, tol=1e-15)


def test_implicit_residual_check_passes():
    x, step = _quadratic_step()
    check = PM.check_implicit_residual("step", step, x, 0.1, lambda y: 3.0 * y)
    assert check.passed and step.residual < 1e-14


def test_implicit_residual_check_flags_the_residual_without_the_potential():
    """mutmut_114: the residual evaluated without potential_grad, max |x1 - x0| = 2 (1 - 1/1.3) = 0.46."""
    from lagrangian.gradient_flows import ImplicitStep

    x, step = _quadratic_step()
    mutant = ImplicitStep(step.x, step.iterations, float(np.abs(step.x - x).max()))
    check = PM.check_implicit_residual("step", mutant, x, 0.1, lambda y: 3.0 * y)
    assert not check.passed and abs(check.value - 0.6 / 1.3) < 1e-12


