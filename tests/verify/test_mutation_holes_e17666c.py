"""Report checks added for the mutation survivors (report holes) of the fresh sample at e17666c.

Each check passes on the library and fails on the mutant's behaviour (the mutant built in memory from the
installed source with the one line changed, never written to disk) or on a deliberately wrong value:

* ``eulerian.meanfield.x_solve_meanfield__mutmut_277`` (the last two forced steps merged) -> flow-matching-grid,
  ``check_meanfield_forced_steps``;
* ``eulerian.porous_medium.x_solve_porous_medium__mutmut_622`` (info["dt_max"] misnamed) ->
  porous-medium-barenblatt, ``check_step_extremes`` in ``drift_into_wall_checks``;
* ``lagrangian.gradient_flows.x_implicit_euler_flow__mutmut_66`` (the times of the iterates two short) ->
  porous-medium-barenblatt, ``check_implicit_flow_record``;
* ``eulerian.jko.x_jko_step__mutmut_297`` and ``_335`` (the no-motion step without its path, or with 1 s of
  run time) -> jko-equilibrium, ``check_no_motion_step``;
* ``lagrangian.integrators.x__axpy__mutmut_21`` (y = a x instead of y += a x where BLAS is not used) ->
  ou-particles-2d, ``check_drift_layout``;
* ``eulerian.fokker_planck.x_check_damped_steps__mutmut_34`` (damped_steps refused for implicit Euler) ->
  heat-step-1d, ``check_damped_implicit_euler``;
* ``eulerian.backend.x_get_backend__mutmut_1`` (a misspelt default backend) -> bad-input-eulerian, the
  ``eulerian.get_backend`` call with its defaults;
* ``eulerian.grid.xǁGridǁ_check_density__mutmut_36`` (integer densities refused) -> bad-input-eulerian, the
  integer densities that ``Grid.mass`` and ``Grid.mean`` must accept;
* ``eulerian._validate.x_check_memory__mutmut_31`` (the machine's memory misstated in the refusal) ->
  bad-input-eulerian, ``check_memory_refusal``;
* ``eulerian.staggered.xǁStaggeredGridǁsolve_interpolation__mutmut_37`` (the inverse FFT without its length: wrong
  for odd periodic axes) -> bb-1d-exact, ``check_odd_circle``.
"""
import dataclasses
import types

import numpy as np

import eulerian
import eulerian._validate
import eulerian.meanfield
from lagrangian.gradient_flows import implicit_euler_flow
from tests.verify.mutants import mutated
from verify import bad_input
from verify.cases import bad_input as B
from verify.cases import eulerian_cases as E
from verify.cases import flow_matching_grid as F
from verify.cases import jko_cases as J
from verify.cases import particles as PA
from verify.cases import porous_medium as P
from verify.problems import get_problem


# ------------------------------------------------ flow-matching-grid: solve_meanfield with forced steps
def test_meanfield_forced_steps_pass():
    checks = F.check_meanfield_forced_steps()
    assert len(checks) == 4 and all(c.passed for c in checks), checks


def test_meanfield_forced_steps_flag_the_merged_last_steps(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.meanfield", "dt = t_final / steps if n < steps - 1 else t_final - t",
                  "dt = t_final / steps if n < steps - 2 else t_final - t")
    monkeypatch.setattr(eulerian.meanfield, "solve_meanfield", mod.solve_meanfield)
    checks = F.check_meanfield_forced_steps()
    assert not checks[1].passed, checks


# ------------------------------------------------ porous-medium-barenblatt: the reported step extremes
def test_step_extremes_flag_a_wrong_dt_max():
    times = np.array([0.0, 0.1, 0.25, 0.3])
    sol = types.SimpleNamespace(mass_times=times, info={"dt_min": 0.05, "dt_max": 0.15})
    assert P.check_step_extremes("right", sol).passed
    sol.info["dt_max"] = 0.1
    assert not P.check_step_extremes("wrong", sol).passed


def test_step_extremes_flag_the_misnamed_dt_max(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.porous_medium", '"dt_max": float(max(dts))', '"DT_MAX": float(max(dts))')
    checks = P.drift_into_wall_checks(solve=mod.solve_porous_medium)
    extremes = [c for c in checks if "dt_min, dt_max" in c.name]
    assert len(extremes) == 3 and not any(c.passed for c in extremes), extremes


# ------------------------------------------------ porous-medium-barenblatt: the record of the implicit flow
def _linear_flow(flow_function=implicit_euler_flow):
    x = np.linspace(-2.0, 2.0, 9)[:, None]
    return x, flow_function(x, 0.1, 4, potential_grad=lambda y: 3.0 * y, tol=1e-15)


def test_implicit_flow_record_passes_and_flags_shifted_times():
    x, flow = _linear_flow()
    assert P.check_implicit_flow_record("right", flow, x, 0.1, 4, 1.3).passed
    shifted = dataclasses.replace(flow, times=flow.times + 0.1)
    assert not P.check_implicit_flow_record("shifted", shifted, x, 0.1, 4, 1.3).passed


def test_implicit_flow_record_flags_the_short_times(monkeypatch):
    mod = mutated(monkeypatch, "lagrangian.gradient_flows", "tau * np.arange(steps + 1)", "tau * np.arange(steps - 1)")
    x, flow = _linear_flow(mod.implicit_euler_flow)
    check = P.check_implicit_flow_record("mutant", flow, x, 0.1, 4, 1.3)
    assert not check.passed and np.isnan(check.value)


# ------------------------------------------------ jko-equilibrium: a step with nothing to move
def _no_motion(step=eulerian.jko_step):
    grid = eulerian.Grid((-3.0, -2.0), (3.0, 2.0), (16, 12))
    rho = grid.cell_averages(lambda x: np.exp(-(x ** 2).sum(-1)))
    return J.check_no_motion_step("no motion", grid, rho, 0.1, 4, step=step)


def test_no_motion_step_passes():
    check = _no_motion()
    assert check.passed and check.value == 0


def test_no_motion_step_flags_a_missing_path_and_a_made_up_run_time(monkeypatch):
    for old, new in (("objective=energy0, tau=tau, path=np.repeat(r0[None], P + 1, axis=0), history={},",
                      "objective=energy0, tau=tau, path=None, history={},"),
                     ("converged=True, status=\"converged\", iterations=0, seconds=0.0, grid=grid,",
                      "converged=True, status=\"converged\", iterations=0, seconds=1.0, grid=grid,")):
        mod = mutated(monkeypatch, "eulerian.jko", old, new)
        check = _no_motion(mod.jko_step)
        assert not check.passed and check.value == 1, (new, check.detail)


# ------------------------------------------------ ou-particles-2d: the drift's memory layout
def _layout(integrate=None):
    problem = get_problem("ou-sde-2d")
    x0 = problem.sample_initial(500, np.random.default_rng(3))
    kw = {} if integrate is None else {"integrate": integrate}
    return PA.check_drift_layout("layout", "heun", problem.drift, problem.diffusion, x0, problem.t_final, **kw)


def test_drift_layout_passes():
    assert _layout().passed


def test_drift_layout_flags_the_lost_update(monkeypatch):
    mod = mutated(monkeypatch, "lagrangian.integrators", "        y += a * x\n", "        y = a * x\n")
    check = _layout(mod.integrate_sde)
    assert not check.passed and check.value > 1e-3, check.value


# ------------------------------------------------ heat-step-1d: implicit Euler's damped start
def test_damped_implicit_euler_passes_and_flags_the_refusal(monkeypatch):
    grid, rho0, _ = E.heat_step_problem(200)
    check = E.check_damped_implicit_euler(grid, rho0)
    assert check.passed and check.value <= 1e-12
    mod = mutated(monkeypatch, "eulerian.fokker_planck", 'time not in ("crank-nicolson", "bdf2", "implicit-euler")',
                  'time not in ("crank-nicolson", "bdf2", "IMPLICIT-EULER")')
    try:
        wrong = E.check_damped_implicit_euler(grid, rho0, solve=mod.solve_fokker_planck)
        assert not wrong.passed
    except ValueError as exc:   # the report counts an error in a case as a failure
        assert "damped_steps" in str(exc)


def test_damped_implicit_euler_flags_an_undamped_first_step():
    grid, rho0, _ = E.heat_step_problem(200)

    def undamped(*args, **kw):
        kw.pop("damped_steps", None)
        return eulerian.solve_fokker_planck(*args, **kw)
    assert not E.check_damped_implicit_euler(grid, rho0, solve=undamped).passed


# ------------------------------------------------ bad-input-eulerian: defaults, integer densities, memory sizes
def test_get_backend_default_is_called(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.backend", 'def get_backend(name: "str | Backend" = "numpy")',
                  'def get_backend(name: "str | Backend" = "XXnumpyXX")')
    call = dataclasses.replace(bad_input.CALLS["eulerian.get_backend"], func=mod.get_backend)
    tried, found = bad_input.gaps(call, label="get_backend")
    assert any("with its defaults" in g for g in found), found


def test_integer_densities_must_be_taken(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.grid", 'not in ("i", "u", "f"):', 'not in ("XXiXX", "u", "f"):')
    grid = mod.Grid((-3.0,), (3.0,), (8,))
    call = dataclasses.replace(bad_input.CALLS["eulerian.Grid.mass"], func=grid.mass)
    tried, found = bad_input.gaps(call, label="Grid.mass", names=["rho"])
    assert any("arange" in g or "array([1, 2" in g for g in found), found


def test_memory_refusal_check_flags_a_misstated_total(monkeypatch):
    assert B.check_memory_refusal().passed
    mod = mutated(monkeypatch, "eulerian._validate", "of the {total / 2**30:.3g} GiB", "of the {total * 2**30:.3g} GiB")
    monkeypatch.setattr(eulerian._validate, "check_memory", mod.check_memory)
    check = B.check_memory_refusal()
    assert not check.passed and check.value == 1, check.detail


# ------------------------------------------------ bb-1d-exact: an odd number of cells on the circle
def test_odd_circle_passes_and_flags_the_lost_fft_length(monkeypatch):
    from eulerian.staggered import StaggeredGrid
    from verify.cases import benamou_brenier_cases as BB
    assert BB.check_odd_circle().passed
    mod = mutated(monkeypatch, "eulerian.staggered", "v = self._irfft(hat, r.shape[c], c)",
                  "v = self._irfft(hat, None, c)")
    monkeypatch.setattr(StaggeredGrid, "solve_interpolation", mod.StaggeredGrid.solve_interpolation)
    try:
        check = BB.check_odd_circle()
        assert not check.passed
    except ValueError:   # a shape mismatch: the report counts an error in a case as a failure
        pass
