"""Regression tests for the 16 gaps an exhaustive run of the bad-input catalog found (every bad value of every
argument, where Hypothesis draws 40 per function): each call is refused with the exception named here and a
one-line message naming the argument, with warnings turned into errors (an escaping RuntimeWarning or
MatrixRankWarning is a gap too), and quickly (a step count beyond a cap is refused before any step).
"""
from __future__ import annotations

import re
import signal
import threading
import time
import warnings

import numpy as np
import pytest

from eulerian.errors import MemoryLimitError, NumericalError
from eulerian.fokker_planck import solve_fokker_planck, solve_stationary
from eulerian.grid import Grid
from eulerian.jko import MAX_STEPS, free_energy, jko_flow, jko_step
from eulerian.meanfield import solve_meanfield
from verify import gaussian as vg

GRID = Grid((-3.0,), (3.0,), (8,))
X = GRID.centers()[..., 0]
RHO0 = np.exp(-X**2)
HUGE_RHO = RHO0 * 1e300          # max about 8.7e299: finite, but rho^2 overflows
G2 = vg.Gaussian([0.0, 1.0], [[1.0, 0.2], [0.2, 0.5]])
H = [[1.0, 0.2], [0.2, 0.5]]


def confining(x):
    return 0.5 * x[..., 0] ** 2


def decay(t, x):
    return -x


JKO = dict(potential=confining, diffusion=0.5, internal=("power", 2.0), time_steps=2, max_iter=3000, tol=1e-3,
           on_failure="return")
FLOW = dict(potential=confining, diffusion=0.5, time_steps=2, max_iter=2000, tol=1e-3, on_failure="return")


def refused(exc_type, name: str, func, *args, seconds: float = 2.0, **kw) -> str:
    """Run func with warnings as errors; assert it raises exc_type within ``seconds`` (a SIGALRM timer stops a
    regression that would run for minutes) with a one-line message naming ``name`` (as a whole word)."""
    timer = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()

    def overtime(signum, frame):
        raise TimeoutError(f"the call ran for more than {seconds} s")

    if timer:
        previous = signal.signal(signal.SIGALRM, overtime)
        signal.setitimer(signal.ITIMER_REAL, 5.0 * seconds)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(exc_type) as info:
                func(*args, **kw)
    finally:
        if timer:
            signal.setitimer(signal.ITIMER_REAL, 0.0)
            signal.signal(signal.SIGALRM, previous)
    assert time.perf_counter() - start < seconds
    message = str(info.value)
    assert "\n" not in message.strip()
    assert re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message), message
    return message


# ---------------------------------------------------------------------------------- eulerian.fokker_planck
def test_fokker_planck_huge_steps_refused_by_the_memory_cap_before_the_save_index_cast():
    msg = refused(MemoryLimitError, "steps", solve_fokker_planck, GRID, RHO0, decay, 0.5, 0.1, 2**70,
                  save_at=[0.05, 0.1])
    assert "mass history of 1180591620717411303425 values" in msg


def test_stationary_overflowing_operator_is_a_value_error_not_a_singular_matrix_warning():
    refused(ValueError, "diffusion", solve_stationary, GRID, decay, 1e308)


def test_stationary_huge_but_representable_diffusion_is_scaled_before_the_solve():
    # D = 1e300 swamps the drift: the stationary state is uniform, 1 / |box| = 1/6 (scaled by 1/|A| for the LU)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rho = solve_stationary(GRID, decay, 1e300)
    np.testing.assert_allclose(rho, 1.0 / 6.0, rtol=1e-12)
    # an ordinary D is not scaled: Scharfetter-Gummel fluxes with b = -x = -V' (V = x^2 / 2) have the exact
    # discrete Gibbs state exp(-V(x_i) / D) at the centres, normalised to mass 1
    rho = solve_stationary(GRID, decay, 0.5)
    gibbs = np.exp(-(X**2) / (2 * 0.5))
    gibbs /= gibbs.sum() * GRID.cell_volume
    np.testing.assert_allclose(rho, gibbs, rtol=1e-10)


# ---------------------------------------------------------------------------------- eulerian.meanfield
def _nan_callable(t=None, x=None):
    return np.full(np.shape(x if x is not None else t), np.nan)


def _complex_callable(t=None, x=None):
    return np.asarray(x if x is not None else t, dtype=float) * (1 + 1j)


def _wrong_shape_callable(t=None, x=None):
    return np.zeros(np.shape(x if x is not None else t) + (3,))


@pytest.mark.parametrize("velocity", [_nan_callable, _complex_callable, _wrong_shape_callable])
def test_meanfield_velocity_with_a_two_argument_signature_is_named(velocity):
    msg = refused(TypeError, "velocity", solve_meanfield, GRID, RHO0, velocity, 0.1, steps=3)
    assert "velocity(t, grid, rho, x)" in msg and "(t=None, x=None)" in msg


def test_meanfield_type_error_inside_a_valid_velocity_is_not_relabelled():
    def broken(t, grid, rho, x):
        return x + "a"        # a TypeError of the user's code, not of the signature

    with pytest.raises(TypeError, match="unsupported operand|can only concatenate|ufunc"):
        solve_meanfield(GRID, RHO0, broken, 0.1, steps=3)


# ---------------------------------------------------------------------------------- eulerian.jko
def test_jko_step_density_whose_energy_overflows_names_rho():
    msg = refused(ValueError, "rho", jko_step, GRID, HUGE_RHO, 0.1, **JKO)
    assert "overflows float64" in msg


def test_jko_step_huge_tau_names_tau():
    refused(ValueError, "tau", jko_step, GRID, RHO0, 1e308, **JKO)


def test_jko_step_huge_diffusion_names_diffusion():
    refused(ValueError, "diffusion", jko_step, GRID, RHO0, 0.1, **{**JKO, "diffusion": 1e308})


def test_jko_step_stiff_internal_energy_is_reported_not_converged():
    # rho ~ 1e100 with g(s) = s^2: F fits in float64 but the internal energy's weight is ~1e98. The end block's
    # prox converges (its gauge takes out the mean of g'(rho_k)); the iteration does not within max_iter, and
    # says so: a NumericalError naming max_iter and tau when asked to raise, converged False otherwise
    msg = refused(NumericalError, "tau", jko_step, GRID, RHO0 * 1e100, 0.1, seconds=10.0,
                  **{**JKO, "on_failure": "raise"})
    assert "max_iter=3000 reached" in msg
    res = jko_step(GRID, RHO0 * 1e100, 0.1, **JKO)
    assert res.converged is False and res.status.startswith("max_iter=3000 reached")


def test_jko_flow_subnormal_tau_is_refused_by_the_step_cap():
    msg = refused(ValueError, "tau", jko_flow, GRID, RHO0, 5e-324, 0.2, **FLOW)
    assert f"max_steps={MAX_STEPS}" in msg and "max_steps=None" in msg


def test_jko_flow_huge_t_final_is_refused_by_the_step_cap():
    refused(ValueError, "t_final", jko_flow, GRID, RHO0, 0.1, 1e308, **FLOW)


def test_jko_flow_huge_diffusion_names_diffusion():
    refused(ValueError, "diffusion", jko_flow, GRID, RHO0, 0.1, 0.2, **{**FLOW, "diffusion": 1e308})


def test_jko_flow_step_cap_is_settable():
    msg = refused(ValueError, "max_steps", jko_flow, GRID, RHO0, 0.1, 0.3, max_steps=2, **FLOW)
    assert "t_final / tau = 0.3 / 0.1 = 3 JKO steps" in msg and "pass max_steps=3" in msg
    refused(TypeError, "max_steps", jko_flow, GRID, RHO0, 0.1, 0.2, max_steps=2.5, **FLOW)
    flow = jko_flow(GRID, RHO0, 0.1, 0.2, max_steps=2, **FLOW)
    assert flow.densities.shape == (3, 8) and flow.times[-1] == pytest.approx(0.2)
    # mass is conserved by every JKO step
    np.testing.assert_allclose(flow.densities.sum(axis=1), RHO0.sum(), rtol=1e-12)


def test_free_energy_overflow_names_rho():
    msg = refused(ValueError, "rho", free_energy, GRID, HUGE_RHO, potential=confining, diffusion=0.5,
                  internal=("power", 2.0))
    assert "internal energy" in msg


def test_free_energy_of_large_finite_density_is_exact():
    # F(c rho) with V = 0, D = 0, g = s^2: c^2 * h * sum rho^2 (no overflow at c = 1e150)
    c = 1e150
    want = c**2 * GRID.cell_volume * float(np.sum(RHO0**2))
    assert free_energy(GRID, c * RHO0, internal=("power", 2.0)) == pytest.approx(want, rel=1e-13)


# ---------------------------------------------------------------------------------- verify.gaussian
@pytest.mark.parametrize("steps", [2**62, 2**70, 2**31, 10**9])
def test_jko_gaussian_step_count_beyond_the_cap_is_refused_up_front(steps):
    msg = refused(ValueError, "steps", vg.jko_gaussian, G2, H, [0.1, 0.0], 0.3, 0.1, steps, seconds=0.5)
    assert f"max_steps={vg.JKO_MAX_STEPS}" in msg and f"pass max_steps={steps}" in msg


def test_jko_gaussian_cap_is_settable_and_leaves_the_iterates_unchanged():
    refused(ValueError, "max_steps", vg.jko_gaussian, G2, H, [0.1, 0.0], 0.3, 0.1, 3, max_steps=2)
    refused(TypeError, "max_steps", vg.jko_gaussian, G2, H, [0.1, 0.0], 0.3, 0.1, 3, max_steps=2.0)
    capped = vg.jko_gaussian(G2, H, [0.1, 0.0], 0.3, 0.1, 3, max_steps=3)
    free = vg.jko_gaussian(G2, H, [0.1, 0.0], 0.3, 0.1, 3, max_steps=None)
    step = G2
    for k in range(3):
        step = vg.jko_gaussian_step(step, H, [0.1, 0.0], 0.3, 0.1)
        for run in (capped, free):
            np.testing.assert_array_equal(run[k + 1].mean, step.mean)
            np.testing.assert_array_equal(run[k + 1].cov, step.cov)
