"""lagrangian.gradient_flows: the blob velocity against the gradient of its energy, blob particles against the
Barenblatt dilation, implicit-Euler particle steps against closed forms; bad input."""
import numpy as np
import pytest

from lagrangian.errors import NumericalError
from lagrangian.gradient_flows import (blob_density, blob_energy, blob_flow, blob_velocity, implicit_euler_flow,
                                       implicit_euler_step)
from verify.barenblatt import Barenblatt


@pytest.mark.parametrize("m,d", [(2.0, 1), (3.0, 1), (1.5, 2), (2.0, 2)])
def test_blob_velocity_is_the_scaled_energy_gradient(m, d):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(25, d))
    eps, mass, D, n = 0.4, 1.3, 0.7, 25
    v = blob_velocity(x, m, eps, mass=mass, diffusion=D)
    g = np.zeros_like(x)
    h = 1e-6
    for i in range(n):
        for k in range(d):
            xp, xm = x.copy(), x.copy()
            xp[i, k] += h
            xm[i, k] -= h
            g[i, k] = (blob_energy(xp, m, eps, mass=mass, diffusion=D)
                       - blob_energy(xm, m, eps, mass=mass, diffusion=D)) / (2 * h)
    # particles follow -grad(delta E / delta mu) = -(n / M) grad_{x_i} E (the time rescaling of particle flows)
    np.testing.assert_allclose(v, -(n / mass) * g, rtol=1e-6, atol=1e-8)


def test_blob_m2_is_twice_the_mollified_density_gradient():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 2))
    v = blob_velocity(x, 2.0, 0.3)
    h = 1e-6
    for k in range(2):
        e = np.zeros(2)
        e[k] = h
        grad = (blob_density(x, x + e, 0.3) - blob_density(x, x - e, 0.3)) / (2 * h)
        np.testing.assert_allclose(v[:, k], -2.0 * grad, rtol=1e-6, atol=1e-9)


def test_blob_density_integrates_to_the_mass():
    x = np.array([[0.0], [0.5], [2.0]])
    g = np.linspace(-4, 6, 20001)[:, None]
    assert blob_density(x, g, 0.2, mass=2.5).sum() * (g[1, 0] - g[0, 0]) == pytest.approx(2.5, rel=1e-10)


def test_blob_particles_follow_the_barenblatt_dilation():
    b = Barenblatt(2.0, 1, t0=0.1)
    eps, T = 0.101, 0.3
    n = int(np.ceil(16 * b.support_radius(0.0) / eps))
    x0 = b.quantiles(n)
    steps = int(np.ceil(T * 2 * b.max_density(0.0) / eps ** 2))
    flow = blob_flow(x0, 2.0, eps, T, steps)
    x = flow.x[:, 0]
    # second moment: bias O(eps^2) (measured -5.55e-3 of 0.546 at eps = 0.101, order 1.95 in the report case)
    err = np.mean(x ** 2) - b.second_moment(T)
    assert -7e-3 < err < -4e-3
    # particles end near their exact (dilated) positions: the outermost one lags most (measured 4.1e-2 = 4.0 eps^2,
    # the report case bounds it by 6 eps^2); the inner half much closer (measured 1.2e-3)
    miss = np.abs(x - b.dilation(T) * x0[:, 0])
    assert miss.max() < 6 * eps ** 2
    assert miss[n // 4: -(n // 4)].max() < 3e-3
    assert flow.energy[-1] < flow.energy[0]
    assert flow.energy[-1] == pytest.approx(b.internal_energy(T), rel=2e-3)
    assert flow.times.tolist() == [0.0, T] and flow.positions.shape == (2, n, 1)


def test_implicit_step_quadratic_potential_and_interaction_closed_forms():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 2))
    H = 3.0
    r = implicit_euler_step(x, 0.1, potential_grad=lambda y: H * y)
    np.testing.assert_allclose(r.x, x / (1 + 0.1 * H), rtol=1e-12)
    assert r.residual < 1e-12
    # W(z) = |z|^2 / 2: grad W * mu (x) = M (x - mean): mean kept, deviations shrink by 1 / (1 + tau M)
    r = implicit_euler_step(x, 0.2, interaction_grad=lambda z: z, mass=2.0)
    mean = x.mean(0)
    np.testing.assert_allclose(r.x, mean + (x - mean) / (1 + 0.4), rtol=1e-11, atol=1e-12)


def test_implicit_flow_is_first_order_towards_the_ode():
    x0 = np.array([[0.5], [1.0], [-1.5]])
    T = 0.5
    exact = x0 / np.sqrt(1 + 2 * x0 ** 2 * T)  # dx/dt = -x^3 (V = x^4/4)
    errs = []
    for k in (10, 20, 40, 80):
        flow = implicit_euler_flow(x0, T / k, k, potential_grad=lambda y: y ** 3)
        errs.append(np.abs(flow.x - exact).max())
        assert flow.positions.shape == (k + 1, 3, 1) and flow.times[-1] == pytest.approx(T)
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    np.testing.assert_allclose(orders, 1.0, atol=0.05)


def test_implicit_step_that_does_not_converge_raises():
    x = np.array([[1.0], [-2.0]])
    with pytest.raises(NumericalError, match="reduce tau"):
        implicit_euler_step(x, 1.0, potential_grad=lambda y: 5.0 * y)
    with pytest.raises(NumericalError, match="did not converge"):
        implicit_euler_step(x, 0.19, potential_grad=lambda y: 5.0 * y, max_iter=3)


def test_bad_input():
    x = np.zeros((5, 1)) + np.arange(5)[:, None]
    for m in (1.0, 0.3):
        with pytest.raises(ValueError, match="m must be > 1"):
            blob_velocity(x, m, 0.1)
    with pytest.raises(TypeError):
        blob_velocity(x, 2 + 1j, 0.1)
    with pytest.raises(ValueError, match="epsilon"):
        blob_velocity(x, 2.0, 0.0)
    with pytest.raises(ValueError, match="mass"):
        blob_velocity(x, 2.0, 0.1, mass=0.0)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        blob_velocity(np.arange(5.0), 2.0, 0.1)
    with pytest.raises(TypeError):
        blob_velocity(x + 0j, 2.0, 0.1)
    bad = x.copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        blob_velocity(bad, 2.0, 0.1)
    with pytest.raises(ValueError, match="dimension"):
        blob_density(x, np.zeros((3, 2)), 0.1)
    with pytest.raises(TypeError, match="steps"):
        blob_flow(x, 2.0, 0.1, 1.0, 10.5)
    with pytest.raises(ValueError, match="t_final"):
        blob_flow(x, 2.0, 0.1, -1.0, 10)
    with pytest.raises(ValueError, match="tau"):
        implicit_euler_step(x, 0.0, potential_grad=lambda y: y)
    with pytest.raises(ValueError, match="potential_grad and/or interaction_grad"):
        implicit_euler_step(x, 0.1)
    with pytest.raises(TypeError, match="callable"):
        implicit_euler_step(x, 0.1, potential_grad=3.0)
    with pytest.raises(ValueError, match="shape"):
        implicit_euler_step(x, 0.1, potential_grad=lambda y: y[:, 0])
    with pytest.raises(TypeError, match="real"):
        implicit_euler_step(x, 0.1, potential_grad=lambda y: y + 0j)
    with pytest.raises(ValueError, match="shape"):
        implicit_euler_step(x, 0.1, interaction_grad=lambda z: z.sum(-1))
    with pytest.raises(TypeError, match="steps"):
        implicit_euler_flow(x, 0.1, 2.0, potential_grad=lambda y: y)
