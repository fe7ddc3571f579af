"""Bad input is always a clear error: complex arrays, absurd step counts and oversized pairwise matrices.

Every message is one line naming the argument and the fix; nothing is cast silently (no ComplexWarning) and
nothing that would not fit in memory is allocated before the refusal.
"""
import re

import numpy as np
import pytest

import lagrangian
from lagrangian import (MemoryBudgetError, affine_field, attention_field, deposit,
                        flow_matching_field_from_samples, gaussian_kde, grid_velocity_field, integrate_ode,
                        integrate_sde, network_field, network_loss, network_output, probability_flow_field,
                        sliced_w2, softmax_attention, w2, w2_squared)
from lagrangian import backend
from lagrangian.integrators import MAX_STEPS

pytestmark = pytest.mark.filterwarnings("error")  # a ComplexWarning (silent cast) fails the test

RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 2))
Z = X * (1 + 1j)  # complex128 with a non-zero imaginary part
EYE = np.eye(2)


def decay(t, x):
    return -x


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message, message
    return message


# ------------------------------------------------------------------------------------------------- complex
COMPLEX_CASES = {
    "x0 (ode)": ("x0", lambda: integrate_ode(decay, Z, 0, 1, 2)),
    "x0 (sde)": ("x0", lambda: integrate_sde(decay, 0.1, Z, 0, 1, 2, rng=np.random.default_rng(0))),
    "diffusion": ("diffusion", lambda: integrate_sde(decay, 0.1 + 0j, X, 0, 1, 2, rng=np.random.default_rng(0))),
    "t1": ("t1", lambda: integrate_ode(decay, X, 0, np.complex128(1.0), 2)),
    "save_at": ("save_at", lambda: integrate_ode(decay, X, 0, 1, 2, save_at=[0.5 + 0j])),
    "w2 x": ("x", lambda: w2(np.ones((4, 2)) * (1 + 1j), np.ones((4, 2)))),
    "w2 y 1d": ("y", lambda: w2_squared(X[:, :1], Z[:, :1])),
    "w2 weights": ("weights_y", lambda: w2(X, X, weights_y=np.ones(6) + 0j)),
    "sliced_w2": ("y", lambda: sliced_w2(X, Z, projections=4, rng=np.random.default_rng(0))),
    "deposit x": ("x", lambda: deposit(Z, [-9, -9], [9, 9], (4, 4))),
    "deposit weights": ("weights", lambda: deposit(X, [-9, -9], [9, 9], (4, 4), weights=np.ones(6) * 1j)),
    "deposit upper": ("upper", lambda: deposit(X, [-9, -9], [9, 9 + 1j], (4, 4))),
    "kde points": ("points", lambda: gaussian_kde(X, Z)),
    "kde weights": ("weights", lambda: gaussian_kde(X, X, weights=np.ones(6) + 0j)),
    "kde bandwidth": ("bandwidth", lambda: gaussian_kde(X, X, bandwidth=0.5 + 0j)),
    "affine matrix": ("matrix", lambda: affine_field(EYE * (1 + 1j))),
    "affine offset": ("offset", lambda: affine_field(EYE, [1j, 0])),
    "affine matrix(t)": ("matrix(t)", lambda: affine_field(lambda t: EYE * 1j)(0.0, X)),
    "flow matching x1": ("x1", lambda: flow_matching_field_from_samples(X, Z)),
    "flow matching bandwidth": ("bandwidth", lambda: flow_matching_field_from_samples(X, X, bandwidth=1j)),
    "probability flow D": ("diffusion", lambda: probability_flow_field(decay, EYE * (1 + 0j), decay)),
    "grid values": ("values", lambda: grid_velocity_field([0, 0], [1, 1], np.zeros((3, 3, 2)) + 0j)),
    "grid lower": ("lower", lambda: grid_velocity_field([0j, 0], [1, 1], np.zeros((3, 3, 2)))),
    "grid times": ("times", lambda: grid_velocity_field([0, 0], [1, 1], np.zeros((2, 3, 3, 2)),
                                                        times=[0, 1 + 0j])),
    "attention queries": ("queries", lambda: softmax_attention(Z, X, EYE, EYE, EYE)),
    "attention Q": ("Q", lambda: softmax_attention(X, X, EYE * 1j, EYE, EYE)),
    "attention scale": ("scale", lambda: softmax_attention(X, X, EYE, EYE, EYE, scale=1 + 0j)),
    "attention_field V": ("V", lambda: attention_field(EYE, EYE, EYE + 0j)),
    "network theta": ("theta", lambda: network_output(np.ones((4, 3)) + 0j, X)),
    "network data_y": ("data_y", lambda: network_field(X, np.ones(6) * 1j)),
    "network_loss data_y": ("data_y", lambda: network_loss(np.ones((4, 3)), X, np.ones(6) + 0j)),
}


@pytest.mark.parametrize("case", sorted(COMPLEX_CASES))
def test_complex_input_is_a_type_error_naming_the_argument(case):
    name, call = COMPLEX_CASES[case]
    with pytest.raises(TypeError) as err:
        call()
    message = one_line(err)
    assert message.startswith(f"{name} must be real; got complex128 — pass {name}.real"), message


@pytest.mark.parametrize("solver", ["ode", "sde"])
def test_field_returning_complex_values_raises(solver):
    def bad(t, x):
        return -x * (1 + 1j)

    with pytest.raises(TypeError) as err:
        if solver == "ode":
            integrate_ode(bad, X, 0, 1, 2)
        else:
            integrate_sde(bad, 0.1, X, 0, 1, 2, rng=np.random.default_rng(0))
    name = "field" if solver == "ode" else "drift"
    assert f"{name}(t, x) must return real values; got complex128" in one_line(err)


def test_score_returning_complex_values_raises():
    field = probability_flow_field(decay, 0.5, lambda t, x: x * 1j)
    with pytest.raises(TypeError, match=r"score\(t, x\) must return real values"):
        integrate_ode(field, X, 0, 1, 2)


def test_real_valued_inputs_of_other_dtypes_still_work():
    ints = np.arange(12).reshape(6, 2)
    assert integrate_ode(decay, ints, 0, 1, 2).dtype == np.float64
    assert w2(ints, ints + 1) == pytest.approx(np.sqrt(2.0), rel=1e-12)
    with pytest.raises(TypeError, match="x must be a real array; got dtype <U1"):
        w2(np.array([["a", "b"]]), X)


# ------------------------------------------------------------------------------------------------- steps
def never_called(t, x):
    raise AssertionError("the field must not be evaluated for invalid steps")


@pytest.mark.parametrize("steps, error, match", [
    (True, TypeError, "steps must be a positive integer, got bool"),
    (2.0, TypeError, r"steps must be a positive integer, got float 2.0; pass int\(steps\)"),
    (np.float64(3), TypeError, "got float64"),
    ("4", TypeError, "got str"),
    (None, TypeError, "got NoneType"),
    (0, ValueError, "steps must be a positive integer, got 0; pass steps ≥ 1"),
    (-5, ValueError, "got -5"),
    (MAX_STEPS + 1, ValueError, r"steps=100000001 exceeds MAX_STEPS=1e\+08; use a higher-order method"),
    (np.int64(10**12), ValueError, "exceeds MAX_STEPS"),
])
@pytest.mark.parametrize("solver", ["ode", "sde"])
def test_absurd_step_counts_are_refused_up_front(solver, steps, error, match):
    with pytest.raises(error, match=match) as err:
        if solver == "ode":
            integrate_ode(never_called, X, 0, 1, steps)
        else:
            integrate_sde(never_called, 0.1, X, 0, 1, steps, rng=np.random.default_rng(0))
    one_line(err)


def test_step_cap_is_inclusive_and_documented():
    assert MAX_STEPS == 10**8
    assert "MAX_STEPS" in integrate_ode.__doc__
    assert integrate_ode(decay, X, 0, 1, np.int32(4)).shape == X.shape  # NumPy integers are fine


# ------------------------------------------------------------------------------------------------- memory
@pytest.fixture
def small_machine(monkeypatch):
    """Pretend the machine has 1 MiB of memory: the limit is MAX_MEMORY_FRACTION of that."""
    monkeypatch.setattr(backend, "memory_bytes", lambda xp=np: 2**20)
    return backend.MAX_MEMORY_FRACTION * 2**20


def test_memory_limit_reads_physical_memory():
    total = backend.memory_bytes()
    assert total is None or total > 2**20
    assert 0 < backend.MAX_MEMORY_FRACTION < 1


def test_memory_check_is_skipped_when_physical_memory_is_unknown(monkeypatch):
    def no_sysconf(name):
        raise ValueError(name)

    monkeypatch.setattr(backend.os, "sysconf", no_sysconf)
    backend._host_memory.cache_clear()   # read once per process: forget the real value for this test
    try:
        assert backend.memory_bytes() is None
        backend.check_pairwise(10**9, 10**9, "test", "nothing")  # nothing to compare with: no refusal
    finally:
        backend._host_memory.cache_clear()


def test_exact_w2_refuses_a_cost_matrix_beyond_physical_memory():
    # 10⁶ × 10⁶ float64 = 7450 GiB: refused before any allocation even with an unlimited max_bytes
    if backend.memory_bytes() is None:
        pytest.skip("the physical memory of this machine cannot be read")
    x = np.zeros((10**6, 2))
    with pytest.raises(MemoryBudgetError) as err:
        w2_squared(x, x, max_bytes=float("inf"))
    message = one_line(err)
    assert "1000000×1000000" in message and "7.45e+03 GiB" in message
    assert "MAX_MEMORY_FRACTION" in message and "subsample" in message and "sliced_w2" in message


def test_exact_w2_limit_with_a_small_machine(small_machine):
    x = RNG.standard_normal((200, 2))  # 200·200·8 = 312 KiB > 256 KiB
    with pytest.raises(MemoryBudgetError, match=r"needs 0.000298 GiB, above the limit of 0.000244 GiB"):
        w2_squared(x, x + 1)
    assert w2_squared(x[:100], x[:100] + 1) == pytest.approx(2.0, rel=1e-12)  # 78 KiB: fine


def test_sliced_w2_refuses_too_many_projections(small_machine):
    with pytest.raises(MemoryBudgetError, match="fewer projections"):
        sliced_w2(X, X, projections=10**5, rng=np.random.default_rng(0))


def test_attention_refuses_a_chunk_beyond_memory_and_chunking_fixes_it(small_machine):
    n = 300  # one full chunk: 300 × 300 × 8 = 703 KiB
    x = RNG.standard_normal((n, 2))
    with pytest.raises(MemoryBudgetError) as err:
        softmax_attention(x, x, EYE, EYE, EYE)
    assert "300×300" in one_line(err) and "lower chunk_bytes" in str(err.value)
    field = attention_field(EYE, EYE, EYE)
    with pytest.raises(MemoryBudgetError, match="chunk_bytes"):
        integrate_ode(field, x, 0, 0.1, 1)
    small = softmax_attention(x, x, EYE, EYE, EYE, chunk_bytes=16 * n * 20)  # 20 rows per chunk
    assert np.all(np.isfinite(small))


def test_other_pairwise_kernels_refuse_oversized_chunks(small_machine):
    x = RNG.standard_normal((300, 2))
    with pytest.raises(MemoryBudgetError, match="network pre-activations"):
        network_field(x, x[:, 0])(0.0, RNG.standard_normal((300, 3)))
    with pytest.raises(MemoryBudgetError, match="flow-matching kernel"):
        flow_matching_field_from_samples(x, x + 1)(0.5, x)
    with pytest.raises(MemoryBudgetError, match="gaussian_kde"):
        gaussian_kde(x, x)
    with pytest.raises(MemoryBudgetError, match="coarser grid"):
        deposit(x, [-9, -9], [9, 9], (300, 300))
    assert gaussian_kde(x, x, chunk_bytes=16 * 300 * 10).shape == (300,)


# ------------------------------------------------------------------------------------------------- overflow
@pytest.mark.parametrize("dim", [1, 2])
def test_w2_overflow_raises_instead_of_returning_inf_or_nan(dim):
    x = RNG.standard_normal((5, dim)) * 1e200
    with pytest.raises(lagrangian.NumericalError, match="overflow float64.*rescale both clouds") as err:
        w2(x, -x)
    one_line(err)
    with pytest.raises(lagrangian.NumericalError, match="overflow float64"):
        sliced_w2(x, -x, projections=4, rng=np.random.default_rng(0))
    assert np.isfinite(w2(x / 1e200, -x / 1e200))  # the suggested fix


# ------------------------------------------------------------------------------------------------- other
@pytest.mark.parametrize("call, error, match", [
    (lambda: integrate_ode(None, X, 0, 1, 2), TypeError, "field must be a callable"),
    (lambda: integrate_ode(decay, X, 0, True, 2), TypeError, "t1 must be a real number, got True"),
    (lambda: integrate_ode(decay, X, 0, np.inf, 2), ValueError, "t1 must be finite"),
    (lambda: integrate_ode(decay, X, 1, 1, 2), ValueError, "t0 != t1"),
    (lambda: w2(X, X, max_bytes=0), ValueError, "max_bytes must be a positive number"),
    (lambda: w2(X, X, weights_x=np.r_[np.inf, np.ones(5)]), ValueError, "weights_x contains NaN or infinite"),
    (lambda: w2(X, X, weights_x=np.zeros(6)), ValueError, "pass None for uniform weights"),
    (lambda: sliced_w2(X, X, projections=True, rng=np.random.default_rng(0)), TypeError, "projections"),
    (lambda: deposit(X, [-9, -9], [9, 9], (4.5, 4)), TypeError, "shape must hold integers"),
    (lambda: deposit(X, [-9, -9], [9, 9], (0, 4)), ValueError, "shape entries must be positive"),
    (lambda: deposit(X, [-9, -9], [9, 9], (4, 4), weights=np.full(6, np.nan)), ValueError, "weights contains NaN"),
    (lambda: gaussian_kde(X[:1], X), ValueError, "at least two samples"),
    (lambda: gaussian_kde(X, X, chunk_bytes=0), ValueError, "chunk_bytes must be a positive integer"),
    (lambda: gaussian_kde(X, X, bandwidth=True), TypeError, "bandwidth must be a real number"),
    (lambda: lagrangian.kde_bandwidth_factor(0, 2), ValueError, "n must be a positive sample size"),
    (lambda: softmax_attention(X, X, EYE, EYE, EYE, scale=np.nan), ValueError, "scale must be finite"),
    (lambda: attention_field(EYE, EYE, EYE, chunk_bytes=2.5), TypeError, "chunk_bytes"),
    (lambda: network_field(X, X[:, 0], chunk_bytes=-1), ValueError, "chunk_bytes"),
    (lambda: network_loss(np.ones((4, 3)), X, np.ones(5)), ValueError, r"data_y must have shape \(6,\)"),
    (lambda: probability_flow_field(decay, [[1.0, 2.0], [2.0, 1.0]], decay), ValueError, "semi-definite"),
    (lambda: probability_flow_field(decay, 0.5, None), TypeError, "score must be a callable"),
    (lambda: probability_flow_field(decay, np.ones(3), decay)(0.0, X), ValueError, "dimension 2"),
])
def test_other_bad_arguments_name_the_argument(call, error, match):
    with pytest.raises(error, match=match) as err:
        call()
    one_line(err)


# ------------------------------------------------------------------------------ closed gaps of the property test
# Each case was a known gap of tests/test_bad_input_hypothesis.py: an escaping RuntimeWarning/OverflowError, a NaN
# result, or a message naming another argument. Now: the exception type, and a message naming the argument.
def nan_field(t, x):
    return np.full(x.shape, np.nan)


def nan_grad(x):
    return np.full(x.shape, np.nan)


CLOSED_GAPS = {
    "affine_field offset(t) wrong shape": (
        ValueError, "offset", r"offset\(t\) must be a \(2,\) vector like the points, got shape \(3,\)",
        lambda: affine_field(EYE, lambda t: np.zeros(3))(0.0, X)),
    "attention_field Q of the wrong shape": (
        ValueError, "Q", r"K must have the same shape as Q, \(r, d\) = \(1, 1\), got \(1, 2\)",
        lambda: attention_field(0.5, [[0.2, -0.3]], EYE)),
    "softmax_attention Q without rows": (
        ValueError, "Q", r"same shape as Q, \(r, d\) = \(0, 2\)",
        lambda: softmax_attention(X, X, np.zeros((0, 2)), [[0.2, -0.3]], EYE)),
    "deposit lower near -1e300": (
        ValueError, "lower", "cell volume of inf, outside the normal float64 range",
        lambda: deposit(X, [-6e300, -6e300], [6.0, 6.0], (4, 4))),
    "deposit upper near 1e300": (
        ValueError, "upper", "cell volume of inf",
        lambda: deposit(X, [-6.0, -6.0], [6e300, 6e300], (4, 4))),
    "deposit x near 1e300": (
        ValueError, "x", "6 of 6 particles of x lie outside the box",
        lambda: deposit(X * 1e300, [-6.0, -6.0], [6.0, 6.0], (4, 4))),
    "flow matching bandwidth 5e-324": (
        ValueError, "bandwidth", r"bandwidth=4.94e-324 is outside \[1.5e-154, 1.3e\+154\]",
        lambda: flow_matching_field_from_samples(X, X + 1, bandwidth=5e-324)),
    "flow matching x0 near 1e300": (
        ValueError, "x0", "standard deviation of x0 .* overflows float64",
        lambda: flow_matching_field_from_samples(X * 1e300, X)),
    "flow matching x1 near 1e300": (
        ValueError, "x1", "standard deviation of x1 .* overflows float64",
        lambda: flow_matching_field_from_samples(X, X * 1e300)),
    "flow matching kernel overflow at evaluation": (
        lagrangian.NumericalError, "bandwidth", "flow-matching field overflows float64 at t=0.5",
        lambda: flow_matching_field_from_samples(X + 10, X[::-1] + 10, bandwidth=1e-153)(0.5, X + 10)),
    "gaussian_kde bandwidth 1e308": (
        ValueError, "bandwidth", r"bandwidth=1e\+308 is outside", lambda: gaussian_kde(X, X, bandwidth=1e308)),
    "gaussian_kde bandwidth 5e-324": (
        ValueError, "bandwidth", "bandwidth=4.94e-324 is outside", lambda: gaussian_kde(X, X, bandwidth=5e-324)),
    "gaussian_kde x near 1e300": (
        ValueError, "x", "the sample covariance of x overflows float64", lambda: gaussian_kde(X * 1e300, X)),
    "gaussian_kde x on a point": (
        ValueError, "x", "the samples x lie on a subspace", lambda: gaussian_kde(np.zeros((6, 2)), X)),
    "gaussian_kde x beyond 1e154 kernel widths": (
        ValueError, "x", "x lies too far from the origin for its spread",
        lambda: gaussian_kde(X + 10, X, bandwidth=1e-153)),
    "gradient_field grad_V returning NaN": (
        lagrangian.NumericalError, "grad_V", r"grad_V\(x\) returned NaN or infinite values at finite positions",
        lambda: lagrangian.gradient_field(nan_grad)(0.0, X)),
    "gradient_field grad_V returning None": (
        TypeError, "grad_V", r"grad_V\(x\) must return real values; got NoneType",
        lambda: lagrangian.gradient_field(lambda x: None)(0.0, X)),
    "grid_velocity_field values without cells": (
        ValueError, "values", r"values has an empty axis \(shape \(0, 4, 2\)\)",
        lambda: grid_velocity_field([-4.0, -4.0], [4.0, 4.0], np.zeros((0, 4, 2)))),
    "integrate_ode save_at 1e308": (
        ValueError, "save_at", "save_at times must lie between t0=0.0 and t1=0.3",
        lambda: integrate_ode(decay, X, 0.0, 0.3, 3, save_at=1e308)),
    "integrate_ode t1 5e-324": (
        ValueError, "t1", "t1=5e-324", lambda: integrate_ode(decay, X, 0.0, 5e-324, 3, save_at=[0.1, 0.3])),
    "integrate_sde save_at -1e308": (
        ValueError, "save_at", "save_at times must lie between",
        lambda: integrate_sde(decay, 0.5, X, 0.0, 0.3, 3, rng=np.random.default_rng(0), save_at=-1e308)),
    "integrate_sde diffusion 1e308": (
        ValueError, "diffusion", r"noise factor σ = sqrt\(2D\) overflows float64 \(D beyond 8.99e\+307\)",
        lambda: integrate_sde(decay, 1e308, X, 0.0, 0.3, 3, rng=np.random.default_rng(0))),
    "integrate_sde drift returning NaN": (
        lagrangian.NumericalError, "drift", r"drift\(t, x\) returned NaN or infinite values at t=0, where every",
        lambda: integrate_sde(nan_field, 0.5, X, 0.0, 0.3, 3, rng=np.random.default_rng(0))),
    "noise_factor diffusion 1e308": (
        ValueError, "diffusion", "overflows float64", lambda: lagrangian.noise_factor(1e308, 2)),
    "noise_factor dim against a matrix": (
        ValueError, "dim", r"has shape \(2, 2\) but particles have dimension 3 \(dim\)",
        lambda: lagrangian.noise_factor(EYE, 3)),
    "network_field data_x near 1e300": (
        lagrangian.NumericalError, "data_x", r"training velocity overflows float64 \(.*\|data_x\| up to 1.3e\+300",
        lambda: network_field(X * 1e300, X[:, 0])(0.0, np.ones((4, 3)))),
    "network_field data_x of another dimension": (
        ValueError, "data_x", "to match data_x of dimension 1",
        lambda: network_field(X[:, :1], X[:, 0])(0.0, np.ones((4, 3)))),
    "network_loss theta near 1e300": (
        ValueError, "theta", r"network output .* overflows float64 \(\|theta\| up to 1e\+300",
        lambda: network_loss(np.ones((4, 3)) * 1e300, X, X[:, 0])),
    "network_loss data_x near 1e300": (
        ValueError, "data_x", "overflows float64", lambda: network_loss(np.ones((4, 3)), X * 1e300, X[:, 0])),
    "network_loss data_y near 1e300": (
        ValueError, "data_y", r"the risk .* overflows float64 .*\|data_y\| up to",
        lambda: network_loss(np.ones((4, 3)), X, X[:, 0] * 1e300)),
    "network_output theta near 1e300": (
        ValueError, "theta", r"\|theta\| up to 1e\+300, \|u\| up to", lambda: network_output(np.ones((4, 3)) * 1e300, X)),
    "probability_flow_field drift returning NaN": (
        lagrangian.NumericalError, "drift", r"drift\(t, x\) returned NaN",
        lambda: probability_flow_field(nan_field, 0.5, decay)(0.0, X)),
    "probability_flow_field drift of the wrong shape": (
        ValueError, "drift", r"drift\(t, x\) must return an array of shape \(6, 2\)",
        lambda: probability_flow_field(lambda t, x: x[:, :1], 0.5, decay)(0.0, X)),
    "probability_flow_field score returning NaN": (
        lagrangian.NumericalError, "score", r"score\(t, x\) returned NaN",
        lambda: probability_flow_field(decay, 0.5, nan_field)(0.0, X)),
    "sliced_w2 x and y of different sizes": (
        ValueError, "x", "clouds x and y of equal size, got 1 and 6 points",
        lambda: sliced_w2(X[:1], X, projections=4, rng=np.random.default_rng(0))),
}


@pytest.mark.parametrize("case", sorted(CLOSED_GAPS))
def test_closed_gaps_raise_a_clear_error_naming_the_argument(case):
    error, name, match, call = CLOSED_GAPS[case]
    with pytest.raises(error, match=match) as err:
        call()
    assert re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", one_line(err)), err.value


def test_kde_points_far_beyond_every_sample_have_density_zero():
    assert np.array_equal(gaussian_kde(X, X * 1e300), np.zeros(6))  # exp(−|p − x|²/2) underflows: exactly 0
    assert np.all(gaussian_kde(X, X) > 0)


def test_a_blow_up_message_names_the_drift():
    with pytest.raises(lagrangian.NumericalError, match="step size too large for the drift") as err:
        integrate_sde(lambda t, x: x ** 3, 0.1, X * 10, 0.0, 1.0, 50, rng=np.random.default_rng(0))
    one_line(err)
