"""verify.gaussian against independent computations: SciPy densities, ODE integration, POT,
finite differences, Monte Carlo with CLT intervals, and Hypothesis over random SPD inputs."""
import numpy as np
import ot
import pytest
import scipy.linalg
from hypothesis import given, settings
from scipy.integrate import solve_ivp
from scipy.stats import multivariate_normal

from verify import gaussian as G
from verify.metrics import (covariance_standard_error, max_standardised_deviation,
                            mean_standard_error, z_score_for)
from verify.strategies import gaussians, spd_matrices, stable_matrices

ROUND = 1e-10  # identities exact in real arithmetic; condition numbers ≤ 1e3 below
HYP = settings(max_examples=40, deadline=None)


def rel(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(np.linalg.norm(b), 1e-300)


def moment_ode(rhs, mean, cov, t):
    d = len(mean)

    def f(_t, y):
        dm, dc = rhs(y[:d], y[d:].reshape(d, d))
        return np.concatenate([dm, np.asarray(dc).ravel()])

    sol = solve_ivp(f, (0, t), np.concatenate([mean, np.ravel(cov)]), method="DOP853",
                    rtol=1e-12, atol=1e-13)
    return sol.y[:d, -1], sol.y[d:, -1].reshape(d, d)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize("cov, match", [
    ([[1.0, 0.5], [0.4, 1.0]], "symmetric"),
    ([[1.0, 2.0], [2.0, 1.0]], "positive definite"),
    ([[np.nan, 0.0], [0.0, 1.0]], "NaN"),
    ([[1.0, 0.0, 0.0]], "square"),
    (np.eye(3), "3×3|2×2|match"),
])
def test_gaussian_rejects_bad_covariance(cov, match):
    with pytest.raises(ValueError, match=match):
        G.Gaussian([0.0, 0.0], cov)


def test_gaussian_rejects_bad_mean_and_points():
    with pytest.raises(ValueError, match="NaN"):
        G.Gaussian([np.nan, 0.0], np.eye(2))
    with pytest.raises(ValueError, match="shape"):
        G.Gaussian(np.zeros((2, 2)), np.eye(2))
    g = G.Gaussian([0.0, 0.0], np.eye(2))
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        g.pdf(np.zeros((4, 3)))
    with pytest.raises(TypeError, match="Generator"):
        g.sample(10, 0)


def test_scalar_inputs_in_one_dimension():
    g = G.Gaussian(0.5, 2.0)
    assert g.dim == 1 and g.cov.shape == (1, 1)
    assert g.pdf(0.5) == pytest.approx(1 / np.sqrt(2 * np.pi * 2.0), rel=1e-14)


@HYP
@given(gaussians(3))
def test_pdf_logpdf_score_against_scipy_and_finite_differences(g):
    x = np.random.default_rng(0).standard_normal((5, 3)) + g.mean
    ref = multivariate_normal(g.mean, g.cov)
    assert np.allclose(g.logpdf(x), ref.logpdf(x), rtol=1e-10, atol=1e-10)
    assert np.allclose(g.pdf(x), ref.pdf(x), rtol=1e-9, atol=0)
    h = 1e-5
    fd = np.stack([(g.logpdf(x + h * e) - g.logpdf(x - h * e)) / (2 * h) for e in np.eye(3)], -1)
    # central difference: truncation h² |∂³ log ρ| = 0 for a quadratic, round-off ~ ε |log ρ| / h
    assert np.allclose(g.score(x), fd, rtol=1e-6, atol=1e-6)


def test_sample_moments_within_clt_intervals():
    g = G.Gaussian([1.0, -2.0, 0.5], [[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])
    x = g.sample(100_000, np.random.default_rng(1))
    m, se_m = mean_standard_error(x)
    c, se_c = covariance_standard_error(x)
    # false-alarm rate 1e-6 per comparison family (Bonferroni over 3 and 9 entries)
    assert max_standardised_deviation(m, g.mean, se_m) < z_score_for(1e-6, 3)
    assert max_standardised_deviation(c, g.cov, se_c) < z_score_for(1e-6, 9)


def test_objects_are_read_only_and_exactly_symmetric():
    c = np.array([[2.0, 0.3], [0.3 + 1e-13, 1.0]])
    g = G.Gaussian([0, 0], c)
    assert np.array_equal(g.cov, g.cov.T)
    with pytest.raises(ValueError):
        g.cov[0, 0] = 5.0


def test_affine_call_and_push():
    a = G.Affine([[1.0, 2.0], [0.0, 3.0]], [1.0, -1.0])
    x = np.array([[1.0, 1.0], [0.0, 2.0]])
    assert np.allclose(a(x), [[4.0, 2.0], [5.0, 5.0]])
    assert np.allclose(a(0.3, x), a(x))  # field convention f(t, x)
    g = a.push(G.Gaussian([0.0, 0.0], np.eye(2)))
    assert np.allclose(g.cov, [[5.0, 6.0], [6.0, 9.0]])
    with pytest.raises(ValueError, match="length 2"):
        G.Affine(np.eye(2), [1.0, 2.0, 3.0])


# ------------------------------------------------------------------ optimal transport


@HYP
@given(gaussians(3), gaussians(3))
def test_brenier_map_is_symmetric_pd_and_pushes_forward(g0, g1):
    T = G.brenier_map(g0, g1)
    assert np.array_equal(T.matrix, T.matrix.T)
    assert np.linalg.eigvalsh(T.matrix).min() > 0
    p = T.push(g0)
    assert rel(p.cov, g1.cov) < ROUND and np.allclose(p.mean, g1.mean, atol=1e-10)


@HYP
@given(gaussians(2), gaussians(2))
def test_w2_matches_pot_and_is_a_metric(g0, g1):
    ref = float(ot.gaussian.bures_wasserstein_distance(g0.mean, g1.mean, g0.cov, g1.cov))
    # compare squares: near g0 = g1 the distance itself carries sqrt(round-off) ~ 1e-8 errors
    scale = np.trace(g0.cov) + np.trace(g1.cov) + 1.0
    assert abs(G.w2_squared(g0, g1) - ref ** 2) <= 1e-10 * scale
    assert abs(G.w2_squared(g0, g1) - G.w2_squared(g1, g0)) <= 1e-10 * scale   # symmetric (squares: see above)
    assert G.w2_squared(g0, g0) < 1e-12 * np.trace(g0.cov)
    assert G.w2_squared(g0, g1) == pytest.approx(G.w2(g0, g1) ** 2, rel=1e-12)


def test_w2_of_commuting_covariances_is_hellinger_like_closed_form():
    # diagonal covariances: B² = Σ_k (sqrt(a_k) − sqrt(b_k))²
    g0 = G.Gaussian([0.0, 1.0], np.diag([1.0, 4.0]))
    g1 = G.Gaussian([3.0, 1.0], np.diag([9.0, 1.0]))
    assert G.w2_squared(g0, g1) == pytest.approx(9.0 + 4.0 + 1.0, rel=1e-14)


@HYP
@given(gaussians(3), gaussians(3))
def test_mccann_geodesic_and_field(g0, g1):
    w2sq = G.w2_squared(g0, g1)
    scale = np.trace(g0.cov) + np.trace(g1.cov) + 1.0
    for s, t in ((0.0, 0.5), (0.3, 0.9)):  # squares: see test_w2_matches_pot_and_is_a_metric
        sub = G.w2_squared(G.mccann(g0, g1, s), G.mccann(g0, g1, t))
        assert abs(sub - (t - s) ** 2 * w2sq) <= 1e-10 * scale
    v = G.mccann_field(g0, g1, 0.4)
    assert np.array_equal(v.matrix, v.matrix.T)
    # particles on straight lines: v_t((1−t)x + tT(x)) = T(x) − x
    T = G.brenier_map(g0, g1)
    x = np.random.default_rng(2).standard_normal((6, 3))
    assert np.allclose(v(0.6 * x + 0.4 * T(x)), T(x) - x, atol=1e-9)


def test_times_outside_unit_interval_are_rejected():
    g = G.Gaussian([0.0], [[1.0]])
    for fn in (G.mccann, G.mccann_field, G.flow_matching_marginal, G.flow_matching_field):
        with pytest.raises(ValueError, match=r"\[0.0, 1.0\]"):
            fn(g, g, 1.5)
    with pytest.raises(ValueError, match="dimensions"):
        G.w2(g, G.Gaussian([0.0, 0.0], np.eye(2)))


# ------------------------------------------------------------------ linear SDEs


@settings(max_examples=15, deadline=None)
@given(gaussians(3), stable_matrices(3, max_condition=50.0, scale=(0.2, 2.0)),
       spd_matrices(3, max_condition=50.0, scale=(0.1, 2.0)))
def test_linear_sde_matches_moment_ode(g0, b, dmat):
    drift = G.Affine(b, [0.3, -0.2, 0.1])
    for diffusion in (0.7, dmat):
        exact = G.linear_sde(g0, drift, diffusion, 0.8)
        m, c = moment_ode(lambda m, c: G.linear_moment_rhs(drift, diffusion, m, c),
                          g0.mean, g0.cov, 0.8)
        assert rel(exact.cov, c) < 1e-9 and rel(exact.mean, m) < 1e-9


def test_linear_sde_unstable_and_defective_drifts():
    g0 = G.Gaussian([1.0, 0.0], [[0.5, 0.1], [0.1, 0.3]])
    for b in ([[0.4, 1.0], [0.0, 0.4]],          # Jordan block, growing
              [[0.0, 2.0], [-2.0, 0.0]],         # pure rotation
              [[0.3, -1.0], [2.0, -0.5]]):
        drift = G.Affine(b, [0.2, 0.1])
        exact = G.linear_sde(g0, drift, np.diag([0.2, 0.0]), 2.5)
        m, c = moment_ode(lambda m, c: G.linear_moment_rhs(drift, np.diag([0.2, 0.0]), m, c),
                          g0.mean, g0.cov, 2.5)
        assert rel(exact.cov, c) < 1e-9 and rel(exact.mean, m) < 1e-9


def test_ou_closed_form_and_long_times():
    # dX = −X dt + sqrt(2) dW: Σ_t = e^{−2t}Σ0 + (1 − e^{−2t}) I, m_t = e^{−t} m0 (theory.md §4)
    g0 = G.Gaussian([1.0, -2.0], [[2.0, 0.5], [0.5, 0.7]])
    for t in (1e-3, 0.5, 3.0, 200.0):
        g = G.linear_sde(g0, G.Affine(-np.eye(2)), 1.0, t)
        assert rel(g.cov, np.exp(-2 * t) * g0.cov + (1 - np.exp(-2 * t)) * np.eye(2)) < 1e-12
        assert np.allclose(g.mean, np.exp(-t) * g0.mean, atol=1e-15)


def test_zero_diffusion_is_the_linear_flow():
    g0 = G.Gaussian([1.0, 0.0], [[1.0, 0.2], [0.2, 0.5]])
    b = np.array([[0.1, 1.0], [-1.0, -0.3]])
    g = G.linear_sde(g0, G.Affine(b), 0.0, 1.7)
    phi = scipy.linalg.expm(1.7 * b)
    assert rel(g.cov, phi @ g0.cov @ phi.T) < 1e-12


def test_stationary_law_and_its_errors():
    b = np.array([[-1.0, 0.5], [-0.5, -2.0]])
    inf = G.stationary(G.Affine(b, [1.0, 1.0]), 0.5)
    assert np.allclose(b @ inf.cov + inf.cov @ b.T + 2 * 0.5 * np.eye(2), 0, atol=1e-13)
    assert np.allclose(inf.mean, -np.linalg.solve(b, [1.0, 1.0]))
    with pytest.raises(ValueError, match="real part"):
        G.stationary(G.Affine([[0.1, 0.0], [0.0, -1.0]]), 1.0)
    with pytest.raises(ValueError, match="singular"):
        G.stationary(G.Affine(-np.eye(2)), np.diag([1.0, 0.0]))
    with pytest.raises(ValueError, match="≥ 0"):
        G.linear_sde(G.Gaussian([0.0], [[1.0]]), G.Affine([[-1.0]]), -1.0, 1.0)
    with pytest.raises(ValueError, match="semi-definite"):
        G.linear_sde(G.Gaussian([0.0, 0.0], np.eye(2)), G.Affine(-np.eye(2)), np.diag([1.0, -1.0]), 1.0)
    with pytest.raises(TypeError, match="Affine"):
        G.linear_sde(G.Gaussian([0.0], [[1.0]]), np.eye(1), 1.0, 1.0)


# ------------------------------------------------------------------ flow matching / least squares


def test_flow_matching_with_standard_source_is_a_symmetric_gradient_field():
    # Prop 3.3: with Σ0 = I, v_t = (I/t − (1−t)/t Σ_t⁻¹) x, a symmetric matrix
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 3))
    g0, g1 = G.Gaussian(np.zeros(3), np.eye(3)), G.Gaussian(np.zeros(3), a @ a.T + np.eye(3))
    for t in (0.2, 0.5, 0.9):
        v = G.flow_matching_field(g0, g1, t)
        st = G.flow_matching_marginal(g0, g1, t).cov
        assert rel(v.matrix, np.eye(3) / t - (1 - t) / t * np.linalg.inv(st)) < 1e-12
        assert rel(v.matrix, v.matrix.T) < 1e-12


@HYP
@given(gaussians(2), gaussians(2))
def test_flow_matching_end_map_pushes_forward(g0, g1):
    end = G.flow_matching_map(g0, g1, 1.0)
    p = end.push(g0)
    assert rel(p.cov, g1.cov) < ROUND and np.allclose(p.mean, g1.mean, atol=1e-10)
    mid = G.flow_matching_map(g0, g1, 0.5).push(g0)
    assert rel(mid.cov, G.flow_matching_marginal(g0, g1, 0.5).cov) < ROUND


@HYP
@given(gaussians(3), spd_matrices(3))
def test_least_squares_field_solves_lyapunov(g, dcov):
    dcov = dcov - np.trace(dcov) / 3 * np.eye(3)  # any symmetric matrix, not only SPD
    v = G.least_squares_field(g, [1.0, 0.0, -1.0], dcov)
    s = v.matrix
    assert np.array_equal(s, s.T)
    assert rel(s @ g.cov + g.cov @ s, dcov) < 1e-10
    assert np.allclose(v(g.mean), [1.0, 0.0, -1.0])


def test_least_squares_field_rejects_non_symmetric_rate():
    with pytest.raises(ValueError, match="symmetric"):
        G.least_squares_field(G.Gaussian([0, 0], np.eye(2)), [0, 0], [[0.0, 1.0], [0.0, 0.0]])


# ------------------------------------------------------------------ attention


@pytest.mark.parametrize("scale", [1.0, 1 / np.sqrt(2)])
def test_attention_matches_independent_moment_integration(scale):
    g0 = G.Gaussian([0.3, -0.2], [[0.5, 0.1], [0.1, 0.3]])
    Q = np.array([[0.4, 0.1], [0.0, 0.3]])
    K = np.array([[0.2, -0.1], [0.3, 0.2]])
    V = np.array([[0.5, 0.2], [-0.1, 0.4]])
    g = G.attention(g0, Q, K, V, 1.2, scale=scale)
    # independent: dΣ = VΣAΣ + (VΣAΣ)ᵀ with A = s KᵀQ (Castin et al. form), dμ = V(μ + ΣAμ)
    A = scale * K.T @ Q
    m, c = moment_ode(lambda m, c: (V @ m + V @ c @ A @ m,
                                    V @ c @ A @ c + (V @ c @ A @ c).T), g0.mean, g0.cov, 1.2)
    assert rel(g.cov, c) < 1e-9 and rel(g.mean, m) < 1e-9


def test_attention_gradient_case_only_expands():
    # V = QᵀK: B = s QᵀKΣKᵀQ ⪰ 0, so Σ_t − Σ_s ⪰ 0 for t > s
    Q = np.array([[0.6, 0.2], [0.1, 0.5]])
    K = np.array([[0.4, 0.0], [0.2, 0.3]])
    g0 = G.Gaussian([0.0, 0.0], [[0.4, 0.1], [0.1, 0.2]])
    g1 = G.attention(g0, Q, K, Q.T @ K, 0.5)
    assert np.linalg.eigvalsh(g1.cov - g0.cov).min() > 0


def test_attention_blow_up_is_reported_with_its_time():
    # d = 1, V = Q = K = 1: σ²(t) = σ0²/(1 − 2σ0²t), t* = 1/(2σ0²) = 1.25 for σ0² = 0.4
    g0 = G.Gaussian([0.0], [[0.4]])
    assert G.attention(g0, [[1.0]], [[1.0]], [[1.0]], 1.0).cov[0, 0] == pytest.approx(
        0.4 / (1 - 0.8), rel=1e-10)
    with pytest.raises(G.FiniteTimeBlowUp, match="blow-up time") as err:
        G.attention(g0, [[1.0]], [[1.0]], [[1.0]], 2.0)
    assert err.value.blowup_time == pytest.approx(1.25, rel=1e-4)
    with pytest.raises(ValueError, match="shape"):
        G.attention(G.Gaussian([0.0, 0.0], np.eye(2)), np.eye(3), np.eye(3), np.eye(2), 1.0)


# ------------------------------------------------------------------ linear networks


def test_linear_network_velocity_is_n_times_particle_gradient():
    # n ∇_{θ_i} F = B_h θ_i with F(θ) = (1/2N) Σ_k (⟨q, u_k⟩ − y_k)², q = (1/n) Σ a_i w_i (Prop 6.2)
    rng = np.random.default_rng(4)
    d, n, N = 2, 7, 30
    u, y = rng.standard_normal((N, d)), rng.standard_normal(N)
    S, r, y2 = G.data_moments(u, y)
    theta = rng.standard_normal((n, d + 1))

    def F(th):
        q = np.mean(th[:, d:] * th[:, :d], axis=0)
        return 0.5 * np.mean((u @ q - y) ** 2)

    h = 1e-6
    grad = np.zeros_like(theta)
    for i in range(n):
        for k in range(d + 1):
            e = np.zeros_like(theta)
            e[i, k] = h
            grad[i, k] = (F(theta + e) - F(theta - e)) / (2 * h)
    q = np.mean(theta[:, d:] * theta[:, :d], axis=0)
    hv = S @ q - r
    B = np.zeros((d + 1, d + 1))
    B[:d, d], B[d, :d] = hv, hv
    assert np.allclose(n * grad, theta @ B.T, atol=1e-8)
    # and the moment right-hand side uses the same B_h: dm = −B m for the empirical law
    emp = G.Gaussian(theta.mean(0), np.cov(theta.T, bias=True))
    dm, _ = G.linear_network_rhs(emp.mean, emp.cov, S, r)
    assert np.allclose(dm, -B @ emp.mean, atol=1e-12)


def test_linear_network_reaches_least_squares_optimum():
    rng = np.random.default_rng(5)
    u = rng.standard_normal((100, 2))
    y = u @ np.array([0.7, -0.4]) + 0.05 * rng.standard_normal(100)
    S, r, y2 = G.data_moments(u, y)
    g0 = G.Gaussian([0.1, -0.1, 0.5], 0.2 * np.eye(3))
    g = G.linear_network(g0, S, r, 30.0)
    optimum = 0.5 * y2 - 0.5 * r @ np.linalg.solve(S, r)
    assert G.linear_network_risk(g, S, r, y2) == pytest.approx(optimum, abs=1e-9)
    with pytest.raises(ValueError, match="S must be 2×2"):
        G.linear_network(g0, np.eye(3), r, 1.0)


@pytest.mark.parametrize("t", [1e4, 1e6, 1e12])
def test_linear_network_settles_at_the_integration_noise_floor(t):
    """S q − r stalls at the integration's noise floor (~1e-12 relative) on this instance, below which the old
    settled test (2 sqrt(cond S) |h| / κ ≤ 1e-13) never fired: t = 1e4 took 1.2 s, 1e12 over 100 s. The law at
    any large t is the settled one, at the least-squares optimum to round-off."""
    S, r = np.array([[1.2, -0.2], [-0.2, 0.9]]), np.array([0.3, 0.25])
    g0 = G.Gaussian([0.0, 0.1, 0.5], np.diag([0.3, 0.2, 0.25]))
    settled = G.linear_network(g0, S, r, 1e3)
    g = G.linear_network(g0, S, r, t)
    np.testing.assert_array_equal(g.mean, settled.mean)
    np.testing.assert_array_equal(g.cov, settled.cov)
    optimum = 0.5 - 0.5 * r @ np.linalg.solve(S, r)
    assert G.linear_network_risk(g, S, r, 1.0) == pytest.approx(optimum, abs=1e-13)
