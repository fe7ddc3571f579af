"""Report checks added for mutation survivors: the near-equivalent classes of earlier samples that a cost or
memory check can see, and the holes of the fresh sample at e014d00 (seed 20261210).

* wrong memory estimates (``lagrangian.gradient_flows.x__gradient__mutmut_42`` / ``_52``,
  ``x__kernel_blocks__mutmut_15``, ``eulerian.fokker_planck.x_solve_fokker_planck__mutmut_155``): a refusal's
  message now keeps the size the call says it needs (only the machine's limit and memory are masked in the
  record), and every memory refusal of the library is reached by a recorded Trouble or catalog value;
* a velocity independent of t evaluated at every stage (``eulerian.continuity.x_solve_continuity__mutmut_278``)
  -> continuity-options-2d counts the evaluations;
* float32 work arrays kept in float64 (``eulerian.staggered.xǁScratchǁget__mutmut_2``) -> bb-anisotropic-2d
  measures each run's peak memory;
* BDF2 without its extrapolated start (``eulerian.time_schemes.xǁBDF2ǁstep``), wrong multigrid prolongation
  weights (``eulerian.multigrid.x__prolongation_1d__mutmut_17``) and a linear solver built again for the same
  matrix -> fokker-planck-options-2d and heat-2d check the iterations and the solver builds;
* the primal-dual's multilevel start ignored (``eulerian.benamou_brenier.x__primal_dual``) -> bb-gaussian-1d.

The report holes of the sample (seed 20261210, 175 / 200 killed):

* ``eulerian.fipy_backend.x_continuity_fipy__mutmut_239`` (min_density=None) -> continuity-options-2d;
* ``eulerian.fokker_planck.x_solve_fokker_planck__mutmut_216`` (FiPy's refusal of solver= reworded) -> the
  catalog calls solve_fokker_planck and solve_continuity on FiPy (which found seven gaps of those paths, fixed);
* ``eulerian.fokker_planck.x_solve_fokker_planck__mutmut_606`` (implicit solves from zero) -> the mean
  multigrid iterations per solve;
* ``eulerian.jko.x_jko_step__mutmut_296`` (tau=None of a no-motion step) -> jko-equilibrium;
* ``eulerian.operators.x_face_drift__mutmut_22`` (the refusal of a drift turning complex) -> a Trouble;
* ``lagrangian.fields.xǁFlowMatchingKernelFieldǁ_estimate__mutmut_17`` (one bandwidth for all axes) ->
  flow-matching-particles-2d rescales the axes;
* ``lagrangian.gradient_flows.x__velocity__mutmut_57`` (the second pass beyond one block) and
  ``x_blob_flow__mutmut_102`` (epsilon=None) -> porous-medium-barenblatt and affine-flow-particles;
* ``eulerian.backend.x_get_backend__mutmut_27`` (BackendUnavailable(None)) -> bad-input-eulerian.
"""
import importlib

import numpy as np
import pytest

from tests.verify.mutants import mutated, recorded_message_changes
from verify import bad_input
from verify.refusal_record import TROUBLE_MESSAGES


def _trouble_says(label: str) -> list:
    said: list = []
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label], messages=said) is None
    return said




PAIRWISE = "lagrangian.implicit_euler_step: 2^24 particles with an interaction (pairwise blocks beyond memory)"
BLOB = "lagrangian.blob_velocity: 2^24 particles (a block of the kernel sums beyond memory)"


@pytest.mark.parametrize("label, module, old, new, package, attr", [
    (PAIRWISE, "lagrangian.gradient_flows", "n * d * 2, \"pairwise", "n * d * 3, \"pairwise",
     "lagrangian", "implicit_euler_step"),
    (PAIRWISE, "lagrangian.gradient_flows", "n * d * 2, \"pairwise", "n * d / 2, \"pairwise",
     "lagrangian", "implicit_euler_step"),
    (BLOB, "lagrangian.gradient_flows", "check_memory(8 * CHUNK * y.shape[0]", "check_memory(9 * CHUNK * y.shape[0]",
     "lagrangian", "blob_velocity"),
])
def test_a_wrong_memory_estimate_changes_a_recorded_refusal(monkeypatch, label, module, old, new, package, attr):
    assert _trouble_says(label) == [TROUBLE_MESSAGES[label]]
    mod = mutated(monkeypatch, module, old, new)
    monkeypatch.setattr(importlib.import_module(package), attr, getattr(mod, attr))
    assert _trouble_says(label) != [TROUBLE_MESSAGES[label]]


def test_a_wrong_memory_estimate_of_a_catalog_call_changes_its_recorded_refusal(monkeypatch):
    label = "eulerian.solve_fokker_planck"
    names = ["steps", "save_at"]
    assert not recorded_message_changes(bad_input.CALLS[label], label, names)
    mod = mutated(monkeypatch, "eulerian.fokker_planck", "+ 48.0 * (steps + 1),", "+ 49.0 * (steps + 1),")
    monkeypatch.setattr(bad_input.CALLS[label], "func", mod.solve_fokker_planck)
    assert recorded_message_changes(bad_input.CALLS[label], label, names)


def test_a_velocity_evaluated_at_every_stage_although_it_does_not_depend_on_t_is_caught(monkeypatch):
    """eulerian.continuity.x_solve_continuity__mutmut_278 (the cache of a time-independent velocity never hit:
    the same values, 3 evaluations per axis and step); the cache is now v0 itself, the mutant its test dropped."""
    from verify.cases.eulerian_cases import maximum_principle_checks

    def cost(checks):
        return next(c for c in checks if "evaluations per run" in c.name)

    assert cost(maximum_principle_checks(limiters=("mc",))).passed
    mod = mutated(monkeypatch, "eulerian.continuity", "if not time_dependent:\n            return v0",
                  "if not time_dependent and False:\n            return v0")
    check = cost(maximum_principle_checks(mod.solve_continuity, limiters=("mc",)))
    assert not check.passed and check.value > 400, check


def test_float32_work_arrays_kept_in_float64_are_caught(monkeypatch):
    """eulerian.staggered.xǁScratchǁget__mutmut_2 (scratch buffers asked for without a dtype made float64 also on
    float32 grids: the same W2 to 1e-5, more memory and memory traffic)."""
    from eulerian import Grid
    from verify import gaussian as G
    from verify.cases import benamou_brenier_cases as B

    grid = Grid((0.0, 0.0), (1.2, 0.8), (30, 16))
    g0, g1 = G.Gaussian([0.35, 0.3], np.diag([0.07 ** 2, 0.06 ** 2])), G.Gaussian([0.8, 0.5], np.eye(2) * 0.06 ** 2)
    rho0, rho1 = B.gaussian_cells(grid, g0), B.gaussian_cells(grid, g1)

    def checks(solve):
        return B.memory_checks("primal-dual", grid, 8, B.traced_dtype_runs(grid, rho0, rho1, 8, "primal-dual",
                                                                           solve)[1])
    # the original passes them in bb-anisotropic-2d (run by tests/test_option_coverage.py)
    staggered = mutated(monkeypatch, "eulerian.staggered", "dtype = self.dtype if dtype is None else dtype",
                        "dtype = self.dtype if (dtype is None) and False else dtype")
    bb = importlib.import_module("eulerian.benamou_brenier")
    for name in ("StaggeredGrid", "Scratch"):
        if hasattr(bb, name):
            monkeypatch.setattr(bb, name, getattr(staggered, name))
    ratio = checks(bb.benamou_brenier)[-1]
    assert not ratio.passed, ratio


def test_bdf2_started_without_its_extrapolation_is_caught(monkeypatch):
    """eulerian.time_schemes.xǁBDF2ǁstep (the initial guess 2 rho - rho_prev dropped: LU is unaffected and
    multigrid converges to the same rtol, one iteration more per solve)."""
    import eulerian.time_schemes as ts
    from verify.adapters import FokkerPlanckSolver
    from verify.cases.eulerian_cases import check_bdf2_start
    from verify.problems import get_problem, grid_for

    problem = get_problem("mms-fokker-planck-box-2d")
    grid = grid_for(problem, 48)

    def check():
        means = {s: float(np.mean(FokkerPlanckSolver(time=s, solver="multigrid")(problem, grid, 48)
                                  .info["linear_iterations"])) for s in ("implicit-euler", "bdf2")}
        return check_bdf2_start("test", means)

    assert check().passed
    for guess in ("rho", "None"):
        monkeypatch.undo()
        mod = mutated(monkeypatch, "eulerian.time_schemes", "rhs, 2.0 * rho - rho_prev), None", f"rhs, {guess}), None")
        monkeypatch.setitem(ts.SCHEMES, "bdf2", mod.SCHEMES["bdf2"])
        assert not check().passed, guess


@pytest.mark.parametrize("old, new", [
    ("key = (c0, c1)\n", "key = (c0, c1, t)\n"),                          # a factorisation per time level
    ("        if not time_dependent:\n            solvers[key] = s", "        if time_dependent:\n            solvers[key] = s"),
])
def test_a_linear_solver_built_again_for_the_same_matrix_is_caught(monkeypatch, old, new):
    """The near-equivalent class 'a second factorisation of the same matrix (cost only)', e.g.
    eulerian.time_schemes.xǁDampedStartǁstep__mutmut_45 of the sample at 919885c (the cache key of the damped
    start's second half step; the solvers are now cached by their matrix coefficients)."""
    from verify.cases.eulerian_cases import solver_build_checks

    assert solver_build_checks()[0].passed
    mod = mutated(monkeypatch, "eulerian.fokker_planck", old, new)
    (check,) = solver_build_checks(mod.solve_fokker_planck)
    assert not check.passed, check


def test_a_multigrid_one_iteration_costlier_per_solve_is_caught(monkeypatch):
    """eulerian.multigrid.x__prolongation_1d__mutmut_17 (wrong prolongation weights: BiCGStab still reaches its
    rtol, one iteration more per solve, within the per-step bound 6)."""
    from verify.adapters import FokkerPlanckSolver
    from verify.cases.eulerian_cases import check_multigrid_iterations, check_multigrid_mean_iterations
    from verify.problems import get_problem, grid_for

    problem = get_problem("mms-fokker-planck-box-2d")
    grid = grid_for(problem, 48)

    def run():
        return FokkerPlanckSolver(time="implicit-euler", solver="multigrid")(problem, grid, 48)

    assert check_multigrid_mean_iterations("original", run()).passed
    mod = mutated(monkeypatch, "eulerian.multigrid", "for fine, nb in ((2 * j, j - 1), (2 * j + 1, j + 1)):",
                  "for fine, nb in ((2 * j, j - 1), (2 * j + 1, j + 2)):")
    monkeypatch.setattr(importlib.import_module("eulerian.fokker_planck"), "MultigridSolver", mod.MultigridSolver)
    sol = run()
    assert check_multigrid_iterations("mutant", sol).passed          # within the per-step bound
    assert not check_multigrid_mean_iterations("mutant", sol).passed


def test_a_primal_dual_fine_level_without_its_warm_start_is_caught(monkeypatch):
    """eulerian.benamou_brenier.x__primal_dual (the multilevel start V_init ignored: the fine level starts cold
    and converges to the same tolerances, the cost of a single-level run)."""
    from eulerian.benamou_brenier import benamou_brenier
    from eulerian.grid import Grid
    from verify.cases import benamou_brenier_cases as B

    grid = Grid((0.0,), (1.0,), (64,))
    rho0, rho1 = B.gaussian_cells_1d(grid, 0.3, 0.05), B.gaussian_cells_1d(grid, 0.7, 0.08)
    exact = 0.4 ** 2 + 0.03 ** 2
    single = benamou_brenier(grid, rho0, rho1, 64, method="primal-dual")
    assert all(c.passed for c in B.multilevel_saving_checks(grid, rho0, rho1, single, exact, "primal-dual"))
    mod = mutated(monkeypatch, "eulerian.benamou_brenier",
                  "state = _primal_dual(g, b0, b1, sigma, relaxation, cap, tols, w, check_every, V_init,",
                  "state = _primal_dual(g, b0, b1, sigma, relaxation, cap, tols, w, check_every, None,")
    checks = B.multilevel_saving_checks(grid, rho0, rho1, single, exact, "primal-dual", solve=mod.benamou_brenier)
    assert [c.passed for c in checks] == [True, True, False]


def test_a_fipy_continuity_run_without_its_minimum_density_is_caught(monkeypatch):
    """eulerian.fipy_backend.x_continuity_fipy__mutmut_239 (min_density=None in the FiPy continuity solution)."""
    from verify.cases.eulerian_cases import check_min_density_record

    assert check_min_density_record("fipy").passed
    mod = mutated(monkeypatch, "eulerian.fipy_backend", "min_density=min_rho, steps=n, wall_time=_time",
                  "min_density=None, steps=n, wall_time=_time")
    monkeypatch.setattr(importlib.import_module("eulerian.fipy_backend"), "continuity_fipy", mod.continuity_fipy)
    assert not check_min_density_record("fipy").passed


def test_one_bandwidth_for_all_axes_of_the_kernel_flow_matching_field_is_caught(monkeypatch):
    """lagrangian.fields.xǁFlowMatchingKernelFieldǁ_estimate__mutmut_17 (the standard deviation of all coordinates
    together instead of one per axis: the estimate still converges at its rate)."""
    from verify.cases.particles import check_fm_axis_scaling

    assert check_fm_axis_scaling("original", np.random.default_rng(5)).passed
    mod = mutated(monkeypatch, "lagrangian.fields", "bw = self.factor * xp.std(zt, axis=0)",
                  "bw = self.factor * xp.std(zt, )")
    check = check_fm_axis_scaling("mutant", np.random.default_rng(5), mod.flow_matching_field_from_samples)
    assert not check.passed and check.value > 1e-3, check


def test_the_second_pass_over_pairwise_blocks_of_the_blob_velocity_is_run(monkeypatch):
    """lagrangian.gradient_flows.x__velocity__mutmut_57 (the blocks of the second pass built wrongly: only runs
    beyond CHUNK = 1 024 particles, more than any blob study of the report had)."""
    import lagrangian
    from verify.cases.porous_medium import check_blob_blocks

    assert check_blob_blocks().passed
    mod = mutated(monkeypatch, "lagrangian.gradient_flows",
                  "for rows, diff, phi in blocks if single else _kernel_blocks(x, x, eps):\n            # ∇φ_ε",
                  "for rows, diff, phi in blocks if single else _kernel_blocks(x, 0.5 * x, eps):\n            # ∇φ_ε")
    check = check_blob_blocks(mod.blob_velocity, lagrangian.blob_energy)
    assert not check.passed, check


def test_a_blob_flow_that_forgets_its_width_is_caught(monkeypatch):
    """lagrangian.gradient_flows.x_blob_flow__mutmut_102 (BlobFlow(..., epsilon=None))."""
    from verify.cases.particles import check_blob_flow_record

    x0 = np.linspace(-0.6, 0.7, 16)[:, None]
    assert check_blob_flow_record("original", x0).passed
    mod = mutated(monkeypatch, "lagrangian.gradient_flows", "return BlobFlow(times, pos, energy, m, eps, mass,",
                  "return BlobFlow(times, pos, energy, m, None, mass,")
    check = check_blob_flow_record("mutant", x0, flow=mod.blob_flow)
    assert not check.passed and check.value == 1, check


def test_the_fipy_backends_refusal_of_solver_is_recorded(monkeypatch):
    """eulerian.fokker_planck.x_solve_fokker_planck__mutmut_216 (the refusal of solver= on the FiPy backend
    reworded): the catalog now calls solve_fokker_planck on FiPy too, and records its refusals."""
    label = "eulerian.solve_fokker_planck on FiPy"
    call = bad_input.CALLS[label]
    assert not recorded_message_changes(bad_input.CALLS[label], label, ["solver"])
    mod = mutated(monkeypatch, "eulerian.fokker_planck", '"solver= applies to the array backends; FiPy uses its own',
                  '"XXsolver= applies to the array backends; FiPy uses its own')
    monkeypatch.setattr(call, "func", mod.solve_fokker_planck)
    assert recorded_message_changes(bad_input.CALLS[label], label, ["solver"])


@pytest.mark.parametrize("changes", [dict(rho0=1e299), dict(diffusion=2.0 ** 62), dict(diffusion=1e308),
                                     dict(t_final=5e-324)])
def test_the_fipy_fokker_planck_backend_handles_extreme_values(changes):
    """Found by the catalog's new FiPy call: extreme values escaped as NumPy warnings or SciPy's RuntimeError.
    Now a density near 1e300 runs (mass kept), a singular step matrix is a NumericalError, and dt = 0 is the
    identity, as on the array backend."""
    import warnings

    import eulerian
    from verify.bad_input import GRID, RHO0, _decay

    args = dict(rho0=RHO0, diffusion=0.5, t_final=0.1)
    args.update({k: (RHO0 * v if k == "rho0" else v) for k, v in changes.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            sol = eulerian.solve_fokker_planck(GRID, args["rho0"], _decay, args["diffusion"], args["t_final"], 2,
                                               time="crank-nicolson", backend="fipy")
        except eulerian.NumericalError as exc:
            assert "diffusion" in changes and "rescale space and time" in str(exc)
            return
    assert "diffusion" not in changes
    assert np.isfinite(sol.to_numpy()).all() and abs(sol.mass[-1] / sol.mass[0] - 1.0) < 1e-12
    if "t_final" in changes:
        assert np.array_equal(sol.to_numpy(), RHO0)


@pytest.mark.parametrize("changes", [dict(rho0=1e299), dict(t_final=5e-324)])
def test_the_fipy_continuity_backend_handles_extreme_values(changes):
    """Found by the catalog's new FiPy continuity call: an overflow warning in FiPy's fluxes of a density near
    1e300, and SciPy's 'Factor is exactly singular' for a denormal dt (FiPy's 1/dt overflows)."""
    import warnings

    import eulerian
    from verify.bad_input import GRID, RHO0, _decay

    rho0 = RHO0 * changes.get("rho0", 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sol = eulerian.solve_continuity(GRID, rho0, _decay, changes.get("t_final", 0.1), steps=3, backend="fipy")
    assert np.isfinite(sol.to_numpy()).all() and abs(sol.mass[-1] / sol.mass[0] - 1.0) < 1e-12
    if "t_final" in changes:
        assert np.array_equal(sol.to_numpy(), RHO0)


def test_implicit_solves_started_from_zero_are_caught(monkeypatch):
    """eulerian.fokker_planck.x_solve_fokker_planck__mutmut_606 (every implicit solve started from zero instead of
    its scheme's guess: LU is unaffected, multigrid converges to the same rtol in more iterations)."""
    from verify.adapters import FokkerPlanckSolver
    from verify.cases.eulerian_cases import check_multigrid_mean_iterations
    from verify.problems import get_problem, grid_for

    problem = get_problem("mms-fokker-planck-box-2d")
    grid = grid_for(problem, 48)
    mod = mutated(monkeypatch, "eulerian.fokker_planck", "linear_solver(c0, c1, A_at(t), t), c0, rhs, guess)",
                  "linear_solver(c0, c1, A_at(t), t), c0, rhs, None)")
    monkeypatch.setattr(importlib.import_module("verify.adapters"), "solve_fokker_planck", mod.solve_fokker_planck)
    sol = FokkerPlanckSolver(time="implicit-euler", solver="multigrid")(problem, grid, 48)
    assert not check_multigrid_mean_iterations("mutant", sol).passed


def test_the_refusal_of_a_drift_turning_complex_is_recorded(monkeypatch):
    """eulerian.operators.x_face_drift__mutmut_22 (the drift's name in the refusal of complex values reworded:
    reached only by a drift that turns complex after the up-front probes)."""
    label = "eulerian.solve_fokker_planck: drift complex after t = 0.05"
    assert _trouble_says(label) == [TROUBLE_MESSAGES[label]]
    mod = mutated(monkeypatch, "eulerian.operators", 'b = be.asarray(real_output("drift(t, x)", drift(t, x)))[..., k]',
                  'b = be.asarray(real_output("DRIFT(T, X)", drift(t, x)))[..., k]')
    monkeypatch.setattr(importlib.import_module("eulerian.fokker_planck"), "face_drift", mod.face_drift)
    said: list = []
    gap = bad_input.trouble_gap(label, bad_input.TROUBLES[label], messages=said)
    assert gap is not None and said != [TROUBLE_MESSAGES[label]], gap


def test_a_backend_unavailable_refusal_without_its_fix_is_caught(monkeypatch):
    """eulerian.backend.x_get_backend__mutmut_27 (BackendUnavailable(None) for backend='cupy' without a GPU): the
    refusal must name the argument and the fix."""
    from verify.cases import bad_input as BI

    if "without a usable GPU" not in BI.check_gpu_backend_names().detail:
        pytest.skip("CuPy with a usable GPU here: get_backend returns the backend")
    mod = mutated(monkeypatch, "eulerian.backend", "install it with `pip install twinflow[gpu]` on a machine",
                  "install CuPy on a machine")
    check = BI.check_gpu_backend_names(get_backend=mod.get_backend)
    assert not check.passed and "lacks" in check.detail, check


def test_a_no_motion_jko_step_without_its_tau_is_caught(monkeypatch):
    """eulerian.jko.x_jko_step__mutmut_296 (the step of a constant energy returns tau=None)."""
    from eulerian import Grid
    from verify.cases.jko_cases import check_no_motion_step

    grid = Grid((0.0, 0.0), (1.0, 0.75), (8, 6))
    rho = grid.cell_averages(lambda x: np.exp(-(x ** 2).sum(-1)))
    assert check_no_motion_step("original", grid, rho, 0.1, 4).passed
    mod = mutated(monkeypatch, "eulerian.jko", "objective=energy0, tau=tau, path=np.repeat",
                  "objective=energy0, tau=None, path=np.repeat")
    check = check_no_motion_step("mutant", grid, rho, 0.1, 4, step=mod.jko_step)
    assert not check.passed and "tau None" in check.detail, check


def test_the_blob_velocity_mutant_of_the_sample_stops_the_case(monkeypatch):
    """lagrangian.gradient_flows.x__velocity__mutmut_57 as sampled (_kernel_blocks(x, eps)): beyond one block it
    raises, so porous-medium-barenblatt fails with an error."""
    from verify.cases.porous_medium import check_blob_blocks

    mod = mutated(monkeypatch, "lagrangian.gradient_flows",
                  "for rows, diff, phi in blocks if single else _kernel_blocks(x, x, eps):\n            # ∇φ_ε",
                  "for rows, diff, phi in blocks if single else _kernel_blocks(x, eps):\n            # ∇φ_ε")
    with pytest.raises(TypeError):
        check_blob_blocks(mod.blob_velocity)


@pytest.mark.parametrize("key, value", [("time_dependent", True), ("time_dependent", None),
                                        ("setup_time", -1e-3), ("setup_time", 1e6)])
def test_solver_build_check_reads_the_time_dependence_and_set_up_time_records(key, value):
    import dataclasses

    from eulerian.fokker_planck import solve_fokker_planck
    from verify.cases.eulerian_cases import solver_build_checks

    def recorded_wrong(*args, **kwargs):
        sol = solve_fokker_planck(*args, **kwargs)
        info = {k: v for k, v in sol.info.items() if k != key} if value is None else {**sol.info, key: value}
        return dataclasses.replace(sol, info=info)

    (check,) = solver_build_checks(recorded_wrong)
    assert check.value == 7, check   # every one of the 7 runs (3 schemes x 2 solvers, Douglas ADI)
