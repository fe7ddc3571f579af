"""Vector fields: affine/gradient values, probability flow vs the exact OU law, kernel flow matching
converging to the Gaussian closed form (theory.md Prop 3.2), grid interpolation exact for affine fields."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from lagrangian import (affine_field, flow_matching_field_from_samples, gradient_field, grid_velocity_field,
                        integrate_ode, probability_flow_field)


def test_affine_and_gradient_fields():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 3))
    A, c = rng.standard_normal((3, 3)), rng.standard_normal(3)
    np.testing.assert_allclose(affine_field(A, c)(0.0, x), x @ A.T + c, rtol=1e-14)
    f = affine_field(lambda t: t * A, lambda t: np.sin(t) * c)
    np.testing.assert_allclose(f(2.0, x), 2 * x @ A.T + np.sin(2.0) * c, rtol=1e-14)
    H = A @ A.T
    np.testing.assert_allclose(gradient_field(lambda y: y @ H)(0.0, x), -x @ H, rtol=1e-14)
    with pytest.raises(ValueError, match="square"):
        affine_field(np.ones((2, 3)))
    with pytest.raises(ValueError, match="offset"):
        affine_field(np.eye(2), np.ones(3))


def test_probability_flow_transports_gaussian_law_exactly():
    # OU dX = (BX + c) dt + sqrt(2D) dW with Gaussian law N(m_t, S_t); the probability-flow field
    # b − D∇log ρ_t is affine in x, so a cloud whose empirical moments equal (m_0, S_0) keeps empirical
    # moments equal to (m_t, S_t) up to the RK4 error.
    B = np.array([[-1.0, 0.4], [-0.2, -0.6]])
    c = np.array([0.3, -0.1])
    D = np.array([[0.4, 0.1], [0.1, 0.2]])
    m0, S0 = np.array([1.0, 0.5]), np.array([[0.5, 0.1], [0.1, 0.3]])

    def rhs(t, y):
        m, s = y[:2], y[2:].reshape(2, 2)
        return np.concatenate([B @ m + c, (B @ s + s @ B.T + 2 * D).ravel()])

    def moments(t):
        if t == 0:
            return m0, S0
        y = solve_ivp(rhs, (0, t), np.concatenate([m0, S0.ravel()]), rtol=1e-12, atol=1e-13).y[:, -1]
        return y[:2], y[2:].reshape(2, 2)

    def score(t, x):
        m, s = moments(t)
        return -(x - m) @ np.linalg.inv(s).T

    z = np.random.default_rng(1).standard_normal((64, 2))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z.T, bias=True))).T  # whitened exactly
    x0 = m0 + z @ np.linalg.cholesky(S0).T
    x1 = integrate_ode(probability_flow_field(lambda t, x: x @ B.T + c, D, score), x0, 0.0, 1.0, 20)
    m1, S1 = moments(1.0)
    np.testing.assert_allclose(x1.mean(0), m1, atol=1e-6)
    np.testing.assert_allclose(np.cov(x1.T, bias=True), S1, atol=1e-6)
    with pytest.raises(ValueError, match="diffusion must be ≥ 0"):
        probability_flow_field(lambda t, x: x, -1.0, score)


S1 = np.array([[2.0, 0.6], [0.6, 0.5]])
MU1 = np.array([1.0, -0.5])


def fm_closed_form(t, z):
    """Prop 3.2 (non-centred, α0 = N(0, I)): v_t(z) = (m1 − m0) + (tΣ1 − (1−t)Σ0)Σ_t⁻¹ (z − m_t)."""
    St = (1 - t) ** 2 * np.eye(2) + t**2 * S1
    return MU1 + (z - t * MU1) @ ((t * S1 - (1 - t) * np.eye(2)) @ np.linalg.inv(St)).T


def test_kernel_flow_matching_field_converges_to_closed_form():
    t = 0.5
    q = t * MU1 + 0.8 * np.random.default_rng(9).standard_normal((200, 2)) * np.sqrt((1 - t) ** 2 + t**2)
    errs = []
    for m in (1000, 8000, 64000):
        rng = np.random.default_rng(m)
        x0 = rng.standard_normal((m, 2))
        x1 = MU1 + rng.standard_normal((m, 2)) @ np.linalg.cholesky(S1).T
        v = flow_matching_field_from_samples(x0, x1)(t, q)
        errs.append(np.sqrt(np.mean(np.sum((v - fm_closed_form(t, q)) ** 2, axis=1))))
    # Nadaraya–Watson with Scott's rule: RMS error ~ m^(-1/3) in 2D (bias c² ~ m^(-1/3), variance
    # 1/(m c²) ~ m^(-2/3)). Measured (seeds fixed): 0.255, 0.109, 0.075, fitted rate m^(-0.29).
    # Require monotone decrease and a fitted rate of at least m^(-0.2).
    assert errs[0] > errs[1] > errs[2]
    assert np.polyfit(np.log([1000, 8000, 64000]), np.log(errs), 1)[0] < -0.2
    assert errs[2] < 0.1


def test_kernel_flow_matching_chunking_and_errors():
    rng = np.random.default_rng(2)
    x0, x1 = rng.standard_normal((300, 2)), rng.standard_normal((300, 2)) + 1
    q = rng.standard_normal((40, 2))
    full = flow_matching_field_from_samples(x0, x1)(0.3, q)
    chunked = flow_matching_field_from_samples(x0, x1, chunk_bytes=100)(0.3, q)
    np.testing.assert_allclose(chunked, full, rtol=1e-13)
    # t = 0: v_0(z) = E[X1] − z for independent coupling; NW with a tiny bandwidth returns the sample
    # displacement of the nearest pair, so use it as an exact sanity check of the displacement sign
    v = flow_matching_field_from_samples(x0, x1, bandwidth=1e-6)(0.0, x0[:5])
    np.testing.assert_allclose(v, x1[:5] - x0[:5], atol=1e-10)
    with pytest.raises(ValueError, match="same number"):
        flow_matching_field_from_samples(x0, x1[:10])
    with pytest.raises(ValueError, match="bandwidth rule"):
        flow_matching_field_from_samples(x0, x1, bandwidth="auto")


def test_grid_velocity_interpolation():
    lower, upper, shape = np.array([-1.0, 0.0]), np.array([2.0, 1.0]), (12, 5)
    h = (upper - lower) / shape
    axes = [lower[k] + (np.arange(shape[k]) + 0.5) * h[k] for k in range(2)]
    centres = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    A, c = np.array([[0.3, -1.0], [2.0, 0.5]]), np.array([0.1, -0.2])
    field = grid_velocity_field(lower, upper, centres @ A.T + c)
    x = np.random.default_rng(3).uniform(lower, upper, size=(500, 2))  # includes the half cells at the faces
    np.testing.assert_allclose(field(0.0, x), x @ A.T + c, atol=1e-13)
    # time interpolation between two snapshots
    ft = grid_velocity_field(lower, upper, np.stack([centres @ A.T, centres @ A.T + c]), times=[0.0, 2.0])
    np.testing.assert_allclose(ft(0.5, x), x @ A.T + 0.25 * c, atol=1e-13)
    with pytest.raises(ValueError, match="left the grid box"):
        field(0.0, np.array([[5.0, 0.5]]))
    np.testing.assert_allclose(grid_velocity_field(lower, upper, centres @ A.T + c, outside="extrapolate")(
        0.0, np.array([[5.0, 0.5]])), np.array([[5.0, 0.5]]) @ A.T + c, atol=1e-12)
    with pytest.raises(ValueError, match="values must have shape"):
        grid_velocity_field(lower, upper, centres[..., :1])


def test_grid_interpolation_is_second_order_for_smooth_fields():
    def vel(p):
        return np.stack([np.sin(p[..., 0]) * np.cos(p[..., 1]), np.cos(p[..., 0] + p[..., 1])], axis=-1)

    x = np.random.default_rng(4).uniform(0.5, 2.5, size=(400, 2))
    errs = []
    for n in (16, 32, 64):
        h = 3.0 / n
        ax = (np.arange(n) + 0.5) * h
        grid = np.stack(np.meshgrid(ax, ax, indexing="ij"), axis=-1)
        errs.append(np.max(np.abs(grid_velocity_field([0, 0], [3, 3], vel(grid))(0.0, x) - vel(x))))
    orders = np.log2(np.array(errs[:-1]) / errs[1:])
    assert np.all(np.abs(orders - 2) < 0.3), orders


@pytest.mark.gpu
def test_cupy_fields(cupy):
    rng = np.random.default_rng(5)
    x0, x1 = rng.standard_normal((500, 2)), rng.standard_normal((500, 2)) + 1
    q = rng.standard_normal((40, 2))
    f = flow_matching_field_from_samples(x0, x1)
    np.testing.assert_allclose(cupy.asnumpy(f(0.3, cupy.asarray(q))), f(0.3, q), rtol=1e-10)
    g = grid_velocity_field([-3, -3], [3, 3], rng.standard_normal((8, 8, 2)))
    np.testing.assert_allclose(cupy.asnumpy(g(0.0, cupy.asarray(q))), g(0.0, q), rtol=1e-12)
