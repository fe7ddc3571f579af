"""Gaussian closed forms under bad input and extreme scales: clear errors, never a silent NaN or cast.

The OT closed forms (W2, Brenier map, McCann interpolant and field, flow-matching map, least-squares
field) are computed on power-of-two-scaled covariances, so they are exact for identical Gaussians,
accurate for covariances near the ends of the float64 range, and raise a ValueError when the true
result does not fit in float64.
"""
import re
import warnings

import numpy as np
import pytest

import verify.gaussian as G

pytestmark = pytest.mark.filterwarnings("error")  # overflow / ComplexWarning would fail the test

I2 = np.eye(2)


def spd(rng, d=3):
    a = rng.standard_normal((d, d))
    return a @ a.T + 0.5 * np.eye(d)


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message, message
    return message


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


RNG = np.random.default_rng(7)
S0, S1 = spd(RNG), spd(RNG)
M0, M1 = RNG.standard_normal(3), RNG.standard_normal(3)
BASE0, BASE1 = G.Gaussian(M0, S0), G.Gaussian(M1, S1)


# ----------------------------------------------------------------------------------------- identical laws
@pytest.mark.parametrize("c", [1e-300, 1e-200, 1.0, 1e200, 1e300, 1e307])
def test_identical_gaussians_are_exactly_zero_apart(c):
    g = G.Gaussian(M0 * np.sqrt(c), S0 * c)
    twin = G.Gaussian(g.mean.copy(), g.cov.copy())
    assert G.w2(g, twin) == 0.0
    assert G.w2_squared(g, twin) == 0.0
    assert np.array_equal(G.brenier_map(g, twin).matrix, np.eye(3))
    assert np.array_equal(G.brenier_map(g, twin).offset, np.zeros(3))
    assert np.array_equal(G.mccann(g, twin, 0.3).cov, g.cov)
    assert not G.mccann_field(g, twin, 0.3).matrix.any()


def test_reported_case_huge_identical_covariances():
    g = G.Gaussian([0, 0], 1e200 * I2)
    assert G.w2(g, G.Gaussian([0, 0], 1e200 * I2)) == 0.0  # was NaN (overflow in Σ0^{1/2} Σ1 Σ0^{1/2})


# ----------------------------------------------------------------------------------------- huge and tiny
@pytest.mark.parametrize("a, b", [(1e300, 4e300), (1e-300, 4e-300), (1e-300, 1e300), (1e300, 1e-300),
                                  (1e200, 1.5e200)])
def test_one_dimensional_w2_closed_form(a, b):
    # W2(N(0, a), N(0, b)) = |√a − √b|
    exact = abs(np.sqrt(a) - np.sqrt(b))
    assert G.w2(G.Gaussian(0.0, a), G.Gaussian(0.0, b)) == pytest.approx(exact, rel=1e-10, abs=0)
    assert G.w2_squared(G.Gaussian(0.0, a), G.Gaussian(0.0, b)) == pytest.approx(exact**2, rel=1e-10, abs=0)


@pytest.mark.parametrize("c", [1e-300, 1e-200, 1e200, 1e300])
def test_closed_forms_scale_like_the_covariances(c):
    g0, g1 = G.Gaussian(M0 * np.sqrt(c), S0 * c), G.Gaussian(M1 * np.sqrt(c), S1 * c)
    assert G.w2(g0, g1) == pytest.approx(np.sqrt(c) * G.w2(BASE0, BASE1), rel=1e-12, abs=0)
    assert G.w2_squared(g0, g1) == pytest.approx(c * G.w2_squared(BASE0, BASE1), rel=1e-12, abs=0)
    # scale-free matrices (degree 0 in the covariances) equal the unscaled ones
    assert rel(G.brenier_map(g0, g1).matrix, G.brenier_map(BASE0, BASE1).matrix) < 1e-12
    assert rel(G.mccann_field(g0, g1, 0.3).matrix, G.mccann_field(BASE0, BASE1, 0.3).matrix) < 1e-12
    assert rel(G.flow_matching_map(g0, g1, 0.3).matrix, G.flow_matching_map(BASE0, BASE1, 0.3).matrix) < 1e-12
    assert rel(G.flow_matching_field(g0, g1, 0.3).matrix, G.flow_matching_field(BASE0, BASE1, 0.3).matrix) < 1e-12
    assert rel(G.mccann(g0, g1, 0.3).cov, c * G.mccann(BASE0, BASE1, 0.3).cov) < 1e-12
    lsq = G.least_squares_field(g0, np.zeros(3), S1 * c).matrix
    assert rel(lsq, G.least_squares_field(BASE0, np.zeros(3), S1).matrix) < 1e-12


@pytest.mark.parametrize("c0, c1", [(1e-200, 1e200), (1e200, 1e-200), (1e-300, 1.0)])
def test_covariances_of_very_different_sizes(c0, c1):
    g0, g1 = G.Gaussian(np.zeros(3), S0 * c0), G.Gaussian(np.zeros(3), S1 * c1)
    a = G.brenier_map(g0, g1).matrix
    assert rel(a @ (g0.cov @ a), g1.cov) < 1e-12  # A Σ0 A = Σ1
    assert rel(a, G.brenier_map(BASE0, BASE1).matrix * np.sqrt(c1) / np.sqrt(c0)) < 1e-12
    m = G.flow_matching_map(g0, g1, 1.0).matrix
    assert rel(m @ (g0.cov @ m.T), g1.cov) < 1e-12  # the flow-matching map pushes g0 to g1
    m = G.flow_matching_map(g0, g1, 0.4).matrix
    assert rel(m @ (g0.cov @ m.T), G.flow_matching_marginal(g0, g1, 0.4).cov) < 1e-12
    big = max(c0, c1) * (np.trace(S0) if c0 > c1 else np.trace(S1))
    assert G.w2(g0, g1) == pytest.approx(np.sqrt(big), rel=1e-12, abs=0)  # the cross term is negligible
    assert np.all(np.isfinite(G.mccann(g0, g1, 0.5).cov))


# ----------------------------------------------------------------------------------------- overflow
def test_w2_squared_overflow_is_a_value_error_and_w2_stays_finite():
    g0, g1 = G.Gaussian([1e300, 0.0], I2), G.Gaussian([-1e300, 0.0], I2)
    assert G.w2(g0, g1) == pytest.approx(2e300, rel=1e-14, abs=0)
    with pytest.raises(ValueError) as err:
        G.w2_squared(g0, g1)
    assert "W2² overflows float64 (W2 ≈ 2e+300; use w2" in one_line(err)
    g2, g3 = G.Gaussian([0.0, 0.0], 1.7e308 * I2), G.Gaussian([0.0, 0.0], 1e-10 * I2)
    assert G.w2(g2, g3) == pytest.approx(np.sqrt(2) * np.sqrt(1.7e308), rel=1e-10, abs=0)
    with pytest.raises(ValueError, match="W2² overflows"):
        G.w2_squared(g2, g3)


def test_w2_overflow_is_a_value_error():
    g0, g1 = G.Gaussian([1.5e308, 0.0], I2), G.Gaussian([-1.5e308, 0.0], I2)
    with pytest.raises(ValueError) as err:
        G.w2(g0, g1)
    assert "W2 overflows float64" in one_line(err) and "rescale" in str(err.value)
    with pytest.raises(ValueError, match="so does W2 itself"):
        G.w2_squared(g0, g1)
    with pytest.raises(ValueError, match="Brenier map offset .* overflows float64"):
        G.brenier_map(g0, g1)
    with pytest.raises(ValueError, match="McCann field offset overflows"):
        G.mccann_field(g0, g1, 0.5)


def test_brenier_matrix_overflow_is_a_value_error():
    with pytest.raises(ValueError) as err:
        G.brenier_map(G.Gaussian(0.0, 1e-320), G.Gaussian(0.0, 1.7e308))
    assert "the Brenier map matrix overflows float64" in one_line(err)


def test_push_and_linear_sde_overflow_are_value_errors():
    with pytest.raises(ValueError, match="pushed-forward covariance overflows"):
        G.Affine(1e200 * I2).push(G.Gaussian([0.0, 0.0], I2))
    with pytest.raises(ValueError, match="at t = 1000.0 overflows float64"):
        G.linear_sde(G.Gaussian([0.0, 0.0], I2), G.Affine(I2), 0.0, 1000.0)


# ----------------------------------------------------------------------------------------- constructor
@pytest.mark.parametrize("mean, cov, error, match", [
    ([0.0, 1j], I2, TypeError, "mean must be real; got complex128 — pass mean.real"),
    ([0.0, 0.0], I2 * (1 + 1j), TypeError, "cov must be real; got complex128 — pass cov.real"),
    ([0.0, 0.0], I2 + 0j, TypeError, "cov must be real"),
    (["a", "b"], I2, TypeError, "mean must be a real vector; got dtype <U1"),
    ([0.0, 0.0], [["a", "b"], ["c", "d"]], TypeError, "cov must be a real matrix"),
    ([np.inf, 0.0], I2, ValueError, "mean contains NaN or infinite"),
    ([0.0, 0.0], [[np.inf, 0.0], [0.0, 1.0]], ValueError, "cov contains NaN or infinite"),
    ([0.0, 0.0], [[1.0, 0.5], [0.1, 1.0]], ValueError, r"cov must be symmetric.*\(C \+ C.T\) / 2"),
    ([0.0, 0.0], [[1.0, 0.0], [0.0, -1.0]], ValueError, "cov must be positive definite"),
    ([0.0, 0.0], [[0.0, 0.0], [0.0, 0.0]], ValueError, "positive definite"),
    ([0.0, 0.0], np.eye(3), ValueError, "cov must be 2×2 to match dimension 2"),
    ([[0.0, 0.0]], I2, ValueError, r"mean must be a vector of shape \(d,\)"),
    ([0.0, 0.0], [1.0, 1.0], ValueError, "cov must be a square matrix"),
])
def test_gaussian_constructor_rejects_bad_arguments(mean, cov, error, match):
    with pytest.raises(error, match=match) as err:
        G.Gaussian(mean, cov)
    one_line(err)


def test_gaussian_constructor_does_not_freeze_the_callers_arrays():
    mean, cov = np.zeros(2), np.eye(2)
    G.Gaussian(mean, cov)
    mean[0] = cov[0, 0] = 2.0  # still writable


# ----------------------------------------------------------------------------------------- other inputs
G2 = G.Gaussian([0.0, 0.0], I2)
G3 = G.Gaussian(np.zeros(3), np.eye(3))


@pytest.mark.parametrize("call, error, match", [
    (lambda: G.Affine(I2 * 1j), TypeError, "matrix must be real; got complex128"),
    (lambda: G.Affine(I2, [0j, 0]), TypeError, "offset must be real"),
    (lambda: G.Affine(I2)(np.ones((3, 2)) * 1j), TypeError, "x must be real"),
    (lambda: G2.pdf(np.ones((3, 2)) + 0j), TypeError, "x must be real; got complex128"),
    (lambda: G2.logpdf([[np.nan, 0.0]]), ValueError, "points x contain NaN"),
    (lambda: G2.score([[np.inf, 0.0]]), ValueError, "points x contain NaN"),
    (lambda: G2.sample(2.5, np.random.default_rng(0)), ValueError, "n must be a positive integer, got 2.5"),
    (lambda: G2.sample(True, np.random.default_rng(0)), TypeError, "n must be a positive integer"),
    (lambda: G2.sample(0, np.random.default_rng(0)), ValueError, "n must be a positive integer, got 0"),
    (lambda: G.mccann(G2, G2, np.complex128(0.5)), TypeError, "t must be real; got complex128"),
    (lambda: G.mccann(G2, G2, True), TypeError, "t must be a real number, got True"),
    (lambda: G.linear_sde(G2, G.Affine(-I2), 1 + 0j, 1.0), TypeError, "diffusion must be real"),
    (lambda: G.linear_sde(G2, G.Affine(-I2), I2 * 1j, 1.0), TypeError, "diffusion must be real"),
    (lambda: G.attention_map(G2, I2, I2, I2, scale=1j), TypeError, "scale must be real"),
    (lambda: G.attention_map(G2, I2 * 1j, I2, I2), TypeError, "Q must be real"),
    (lambda: G.attention(G2, I2, I2, I2, 1.0, scale=np.nan), ValueError, "scale must be finite"),
    (lambda: G.data_moments(np.ones((4, 2)) * 1j, np.ones(4)), TypeError, "u must be real"),
    (lambda: G.expectation(G2, lambda x: x[:, 0] * 1j), TypeError, r"f\(x\) must be real"),
    (lambda: G.expectation(G2, None), TypeError, "f must be a callable"),
    (lambda: G.least_squares_field(G2, [0j, 0], I2), TypeError, "dmean must be real"),
    (lambda: G.linear_network_risk(G3, I2, [0, 0], 1j), TypeError, "y2 must be real"),
    (lambda: G.linear_network_risk(G3, I2, [0, 0], -1.0), ValueError, "y2"),
])
def test_other_arguments_are_validated(call, error, match):
    with pytest.raises(error, match=match) as err:
        call()
    one_line(err)


# ------------------------------------------------------------------------------ closed gaps of the property test
# Each case was a known gap of tests/test_bad_input_hypothesis.py: an escaping overflow RuntimeWarning or
# OverflowError, a hang, or a message naming another argument. Now: the exception type and a message naming
# the argument; the checks are fast (a hang used to take minutes).
Q1, K1, V2 = np.array([[0.5, 0.1]]), np.array([[0.2, -0.3]]), np.array([[0.1, 0.0], [0.0, -0.2]])
G2B = G.Gaussian([0.0, 1.0], [[1.0, 0.2], [0.2, 0.5]])
G3B = G.Gaussian([0.0, 0.5, -0.5], np.diag([1.0, 0.5, 2.0]))
HUGE2 = G.Gaussian(np.full(2, 1e300), 1e300 * I2)
HUGE3 = G.Gaussian(np.full(3, 1e300), 1e300 * np.eye(3))
U = np.random.default_rng(1).standard_normal((8, 2))
S_DATA, R_DATA, Y2 = G.data_moments(U, U[:, 0] - U[:, 1])
DRIFT = G.Affine([[-1.0, 0.3], [0.0, -0.5]], [0.1, 0.0])

CLOSED_GAPS = {
    "attention K near 1e300": (
        "K", r"attention moment ODE cannot be integrated from t = 0: .*\|K\| up to 3e\+299",
        lambda: G.attention(G2B, Q1, K1 * 1e300, V2, 0.2)),
    "attention Q near 1e300": (
        "Q", "cannot be integrated from t = 0", lambda: G.attention(G2B, Q1 * 1e300, K1, V2, 0.2)),
    "attention V near 1e300": (
        "V", "cannot be integrated from t = 0", lambda: G.attention(G2B, Q1, K1, V2 * 1e300, 0.2)),
    "attention g0 near 1e300": (
        "g0", r"attention moment ODE overflows float64 at t = 0 .*\|g0.cov\| up to 1e\+300",
        lambda: G.attention(HUGE2, Q1, K1, V2, 0.2)),
    "attention scale -2**62 (was a hang)": (
        "scale", r"attention covariance becomes singular before t = 0.2: by t ≈ 1.0\d+e-16 .* smaller \|scale\|",
        lambda: G.attention(G2B, Q1, K1, V2, 0.2, scale=-2**62)),
    "attention scale 1e308": (
        "scale", r"\|scale\| = 1e\+308", lambda: G.attention(G2B, Q1, K1, V2, 0.2, scale=1e308)),
    "attention_moment_rhs cov near 1e300": (
        "cov", r"dΣ/dt = BΣ \+ ΣBᵀ, .*overflows float64",
        lambda: G.attention_moment_rhs(G2B.mean, 1e300 * I2, Q1, K1, V2)),
    "data_moments u near 1e300": (
        "u", r"S = uᵀu / N \(\|u\| up to .*\) overflows float64", lambda: G.data_moments(U * 1e300, U[:, 0])),
    "data_moments y near 1e300": (
        "y", r"E\[y²\] = yᵀy / N \(\|y\| up to .*\) overflows", lambda: G.data_moments(U, U[:, 0] * 1e300)),
    "expectation g near 1e300": (
        "g", r"quadrature nodes mean \+ L z of g \(\|x\| up to 1e\+300\)",
        lambda: G.expectation(HUGE2, lambda x: x[..., 0] ** 2)),
    "linear_moment_rhs diffusion 1e308": (
        "diffusion", r"dΣ/dt = BΣ \+ ΣBᵀ \+ 2D \(.*\|diffusion\| up to 1e\+308.*\) overflows",
        lambda: G.linear_moment_rhs(DRIFT, 1e308, G2B.mean, G2B.cov)),
    "linear_network S near 1e300": (
        "S", r"linear-network moment ODE cannot be integrated from t = 0", lambda: G.linear_network(
            G3B, S_DATA * 1e300, R_DATA, 0.2)),
    "linear_network r near 1e300": (
        "r", "cannot be integrated from t = 0", lambda: G.linear_network(G3B, S_DATA, R_DATA * 1e300, 0.2)),
    "linear_network r = 2**62 (was a hang)": (
        "r", r"neuron covariance becomes singular before t = 0.2: .* rescale S and r",
        lambda: G.linear_network(G3B, S_DATA, (2**62, 2**62), 0.2)),
    "linear_network g0 near 1e300": (
        "g0", "linear-network moment ODE overflows float64 at t = 0", lambda: G.linear_network(
            HUGE3, S_DATA, R_DATA, 0.2)),
    "linear_network_rhs mean near 1e300": (
        "mean", r"dm/dt = −B_h m \(\|mean\| up to 5e\+299", lambda: G.linear_network_rhs(
            [0.0, 5e299, -5e299], G3B.cov, S_DATA, R_DATA)),
    "linear_network_risk g near 1e300": (
        "g", r"the network risk \(.*\|g.mean\| up to 1e\+300", lambda: G.linear_network_risk(
            HUGE3, S_DATA, R_DATA, Y2)),
    "stationary diffusion 1e308": (
        "diffusion", r"stationary covariance Σ∞ \(.*\|diffusion\| up to 1e\+308\) overflows float64",
        lambda: G.stationary(DRIFT, 1e308)),
    "linear_sde t with B t beyond float64": (
        "t", r"t = 1e\+308 is too large: B t or c t overflows float64 .* stationary\(drift, diffusion\)",
        lambda: G.linear_sde(G2B, G.Affine(3 * I2), 0.3, 1e308)),
}


@pytest.mark.parametrize("case", sorted(CLOSED_GAPS))
def test_closed_gaps_raise_a_value_error_naming_the_argument(case):
    name, match, call = CLOSED_GAPS[case]
    with pytest.raises(ValueError, match=match) as err:
        call()
    assert re.search(rf"(?<![A-Za-z0-9_.]){re.escape(name)}(?![A-Za-z0-9_])", one_line(err)), err.value


def test_linear_sde_at_huge_times_is_the_stationary_law():
    # was an OverflowError (t / 2**1024) and NaN from scipy's expm beyond |B t| ≈ 1e100
    st = G.stationary(DRIFT, 0.3)
    for t in (1e100, 1e308):
        g = G.linear_sde(G2B, DRIFT, 0.3, t)
        assert rel(g.mean, st.mean) < 1e-12 and rel(g.cov, st.cov) < 1e-12
        kernel, noise = G.linear_sde_transition(DRIFT, 0.3, t)
        assert not kernel.matrix.any() and rel(kernel.offset, st.mean) < 1e-12 and rel(noise, st.cov) < 1e-12


def test_stationary_law_is_computed_scaled():
    # 2D overflows for D = 1e308, but Σ∞ = D / 10 for B = −10 I fits: the Lyapunov equation is solved for D / 2^e
    assert rel(G.stationary(G.Affine(-10 * I2), 1e308).cov, 1e307 * I2) < 1e-14
    # B = −1e-300 read as a zero eigenvalue pair by SciPy's solver (which perturbed it and gave a negative Σ∞):
    # B is scaled too, and Σ∞ = D / |b| in 1D
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rel(G.stationary(G.Affine([[-1e-300]]), 1e-10).cov, np.array([[1e290]])) < 1e-15


def test_stationary_refuses_decay_rates_too_far_apart():
    """Rates 1 and 1e-16: SciPy's Lyapunov solver perturbs B and used to return a negative Σ∞, reported as a
    diffusion that does not reach every direction; the message now names the rates."""
    with pytest.raises(ValueError, match=r"decay rates of B \(\|Re λ\| from 1e-16 to 1\) are too far apart"):
        G.stationary(G.Affine([[-1.0, 0.3], [0.0, -1e-16]]), 1.0)


def test_linear_network_at_huge_times_returns_the_settled_law_quickly():
    # t = 2**62 used to hang (an explicit solver needs ~t steps at the stiff equilibrium)
    settled = G.linear_network(G3B, S_DATA, R_DATA, 100.0)
    for t in (2**62, 1e308):
        g = G.linear_network(G3B, S_DATA, R_DATA, t)
        assert rel(g.mean, settled.mean) < 1e-12 and rel(g.cov, settled.cov) < 1e-12
    optimum = 0.5 * Y2 - 0.5 * R_DATA @ np.linalg.solve(S_DATA, R_DATA)
    assert G.linear_network_risk(g, S_DATA, R_DATA, Y2) == pytest.approx(optimum, abs=1e-12)
    again = G.linear_network(g, S_DATA, R_DATA, 1e9)  # from the settled law: it stays
    assert rel(again.mean, g.mean) < 1e-12 and rel(again.cov, g.cov) < 1e-12


def test_large_positive_attention_scale_is_still_a_blow_up():
    with pytest.raises(G.FiniteTimeBlowUp, match="blow-up time"):
        G.attention(G2B, Q1, K1, V2, 0.2, scale=2**62)


def test_empty_dimensions_and_empty_data_are_refused_by_name():
    """A law of dimension 0, and data_moments of no samples or of samples without coordinates (N = 0 used to report
    an overflow of S = uᵀu / 0; d = 0 returned empty moments)."""
    with pytest.raises(ValueError, match=r"mean must have at least one entry \(the dimension d >= 1\)"):
        G.Gaussian(np.zeros(0), np.zeros((0, 0)))
    for u, y in ((np.zeros((0, 2)), np.zeros(0)), (np.zeros((3, 0)), np.zeros(3))):
        with pytest.raises(ValueError, match=r"u must hold at least one sample \(N >= 1\) of dimension d >= 1") as err:
            G.data_moments(u, y)
        assert str(u.shape) in one_line(err)
