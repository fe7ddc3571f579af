"""The two-layer network velocity of a neuron density on a grid (eulerian.network_grid)."""
import numpy as np
import pytest

import lagrangian as L
from eulerian.grid import Grid
from eulerian.meanfield import cell_quadrature, solve_meanfield
from eulerian.network_grid import NetworkVelocity, network_risk, network_velocity
from verify import gaussian as G

U = np.array([-1.3, -0.6, -0.1, 0.4, 0.9, 1.7])
Y = np.array([-0.9, -0.2, 0.3, 0.5, 0.6, 1.9])
GRID = Grid((-1.45, -1.5), (1.55, 1.6), (12, 10))   # no cell centre on w = 0 (no ReLU tie at the nodes)
G0 = G.Gaussian([0.3, 0.2], np.array([[0.15, 0.03], [0.03, 0.12]]))
RHO = GRID.cell_averages(G0.pdf)
POINTS = np.array([[0.31, -0.42], [-0.77, 0.58], [1.13, 0.27], [-0.21, -1.04]])


def point_masses(cells: int, seed: int = 0):
    """A density uniform on ``cells`` random cells of GRID (mass 1) and the centres of those cells."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(GRID.size, size=cells, replace=False)
    rho = np.zeros(GRID.size)
    rho[chosen] = 1.0 / (cells * GRID.cell_volume)
    return rho.reshape(GRID.shape), GRID.centers().reshape(-1, 2)[chosen]


@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_velocity_equals_network_field_on_point_masses(activation):
    """A density uniform on n cells is, under the midpoint rule, the measure (1/n) sum_i delta_{c_i}: the grid velocity
    at the centres is lagrangian.network_field (-n grad_i F) and network_risk is network_loss, to round-off."""
    rho, theta = point_masses(30)
    vel = network_velocity(U, Y, activation=activation)
    ref = np.asarray(L.network_field(U[:, None], Y, activation=activation)(0.0, theta))
    assert np.abs(vel(0.0, GRID, rho, theta) - ref).max() < 1e-13 * np.abs(ref).max()
    assert network_risk(GRID, rho, U, Y, activation) == pytest.approx(
        L.network_loss(theta, U[:, None], Y, activation=activation), rel=1e-13)


@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_first_variation_is_the_derivative_of_the_risk_in_rho(activation):
    """R is a quadratic function of the cell averages: its central differences are exact, and dR/drho_j =
    dR/dmu(c_j) * cell volume (the midpoint rule's weight)."""
    vel = network_velocity(U, Y, activation=activation)
    centres = GRID.centers().reshape(-1, 2)
    idx = [3, 40, 77, 101, 118]
    fv = np.asarray(vel.first_variation(0.0, GRID, RHO, centres[idx]))
    eps = 1e-3
    for k, j in enumerate(idx):
        up, down = RHO.copy().reshape(-1), RHO.copy().reshape(-1)
        up[j] += eps
        down[j] -= eps
        slope = (network_risk(GRID, up.reshape(GRID.shape), U, Y, activation)
                 - network_risk(GRID, down.reshape(GRID.shape), U, Y, activation)) / (2 * eps)
        assert slope == pytest.approx(fv[k] * GRID.cell_volume, rel=1e-8, abs=1e-13)


@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_velocity_is_minus_the_gradient_of_the_first_variation(activation):
    """V = -grad_theta dR/dmu: central differences in theta of the first variation (bilinear in (w, a) for the linear
    activation, piecewise bilinear for the ReLU: steps cross no kink w u_k = 0, so the differences are exact)."""
    vel = network_velocity(U, Y, activation=activation)
    v = np.asarray(vel(0.0, GRID, RHO, POINTS))
    step = 1e-4
    for axis in (0, 1):
        shift = np.zeros(2)
        shift[axis] = step
        fd = (np.asarray(vel.first_variation(0.0, GRID, RHO, POINTS + shift))
              - np.asarray(vel.first_variation(0.0, GRID, RHO, POINTS - shift))) / (2 * step)
        assert np.allclose(-fd, v[:, axis], rtol=1e-7, atol=1e-10)


def test_linear_velocity_is_prop_6_2():
    """sigma(z) = z: V(theta) = -B_h theta with h = S q - r, q = int a w dmu (midpoint rule), S = mean u^2,
    r = mean y u."""
    pts, w = cell_quadrature(GRID, RHO)
    q = float(np.sum(w * pts[:, 0] * pts[:, 1]))
    h = np.mean(U * U) * q - np.mean(Y * U)
    v = network_velocity(U, Y)(0.0, GRID, RHO, POINTS)
    assert np.allclose(v, -h * POINTS[:, ::-1], rtol=1e-13, atol=1e-15)


def test_chunks_do_not_change_the_result():
    a = network_velocity(U, Y, activation="relu")(0.0, GRID, RHO, GRID.centers().reshape(-1, 2))
    b = network_velocity(U, Y, activation="relu", chunk_bytes=1024)(0.0, GRID, RHO, GRID.centers().reshape(-1, 2))
    assert np.abs(a - b).max() < 1e-15


def test_unnormalised_mass_scales_the_network():
    """mu is used as given: twice the density doubles G (the residuals move by G)."""
    vel = network_velocity(U, Y)
    e1 = np.asarray(vel.residuals(GRID, RHO)) + Y
    e2 = np.asarray(vel.residuals(GRID, 2.0 * RHO)) + Y
    assert np.allclose(e2, 2.0 * e1, rtol=1e-13)


def test_the_grid_flow_follows_the_gaussian_law_and_lowers_the_risk():
    """Linear activation on a 40 x 40 grid: L1 distance to Prop 6.2's law at t = 0.3 below 3e-2 (the case
    linear-network-grid measures the order), mass conserved, the risk decreasing to the exact value (O(h^2))."""
    u = np.linspace(-1.5, 1.5, 7)
    y = 1.1 * u + 0.2
    S, r, y2 = G.data_moments(u[:, None], y)
    g0 = G.Gaussian([0.3, 0.3], 0.08 * np.eye(2))
    grid = Grid((-1.4, -1.4), (2.0, 2.0), (40, 40))
    sol = solve_meanfield(grid, g0.pdf, network_velocity(u, y), 0.3, save_at=[0.0, 0.15, 0.3])
    exact = G.linear_network(g0, S, r, 0.3)
    assert np.abs(sol.to_numpy() - grid.cell_averages(exact.pdf)).sum() * grid.cell_volume < 3e-2
    assert sol.mass_drift < 1e-12
    risks = [network_risk(grid, rho, u, y) for rho in sol.densities]
    assert risks[0] > risks[1] > risks[2]
    assert risks[2] == pytest.approx(G.linear_network_risk(exact, S, r, y2), rel=2e-3)


@pytest.mark.gpu
def test_cupy_matches_numpy(cupy):
    vel = network_velocity(U, Y, activation="relu")
    a = vel(0.0, GRID, RHO, POINTS)
    b = vel(0.0, GRID, cupy.asarray(RHO), POINTS)
    assert isinstance(b, cupy.ndarray)
    assert np.abs(a - cupy.asnumpy(b)).max() < 1e-13
    sol = solve_meanfield(GRID, RHO, vel, 0.1, backend="cupy")
    ref = solve_meanfield(GRID, RHO, vel, 0.1)
    assert np.abs(sol.to_numpy() - ref.to_numpy()).max() < 1e-12


# ------------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, error, match", [
    (lambda: network_velocity(np.ones((6, 2)), Y), ValueError, "data_x must have shape"),
    (lambda: network_velocity(U, np.ones((6, 2))), ValueError, "data_y must have shape"),
    (lambda: network_velocity(np.ones((0,)), np.ones((0,))), ValueError, "N >= 1"),
    (lambda: network_velocity(U, Y[:5]), ValueError, "data_y has 5 samples but data_x has 6"),
    (lambda: network_velocity(np.r_[U[:5], np.nan], Y), ValueError, "data_x contains NaN"),
    (lambda: network_velocity(U, np.r_[Y[:5], np.inf]), ValueError, "data_y contains NaN or infinite"),
    (lambda: network_velocity(U + 0j, Y), TypeError, "data_x must be real"),
    (lambda: network_velocity(U, Y * 1j), TypeError, "data_y must be real"),
    (lambda: network_velocity("abc", Y), TypeError, "data_x must be an array"),
    (lambda: network_velocity(U, Y, activation="tanh"), ValueError, "unknown activation"),
    (lambda: network_velocity(U, Y, activation=1), TypeError, "activation must be one of"),
    (lambda: network_velocity(U, Y, chunk_bytes=10), ValueError, "chunk_bytes"),
    (lambda: network_velocity(U, Y)(0.0, GRID, np.zeros(GRID.shape), POINTS), ValueError, "no \\(positive\\) mass"),
    (lambda: network_risk(GRID, -RHO, U, Y), ValueError, "no \\(positive\\) mass"),
    (lambda: network_velocity(U, Y)(0.0, GRID, RHO[:-1], POINTS), ValueError, "rho has shape"),
    (lambda: network_velocity(U, Y)(0.0, GRID, RHO * np.nan, POINTS), ValueError, "rho contains NaN"),
    (lambda: network_velocity(U, Y)(0.0, GRID, RHO + 0j, POINTS), TypeError, "rho must be real"),
    (lambda: network_velocity(U, Y)(0.0, Grid((0.0,), (1.0,), (8,)), np.ones(8), POINTS[:, :1]), ValueError,
     "must be 2-D"),
    (lambda: network_velocity(U, Y)(0.0, "grid", RHO, POINTS), TypeError, "grid must be an eulerian.Grid"),
    (lambda: network_velocity(U, Y)(0.0, GRID, RHO, POINTS[:, :1]), ValueError, "x must be points"),
    (lambda: network_velocity(U, Y)(0.0, GRID, RHO, POINTS * np.nan), ValueError, "x contains NaN"),
    (lambda: network_velocity(U, Y)(0.0, GRID, RHO, POINTS + 1j), TypeError, "x must be real"),
    (lambda: network_risk(GRID, RHO, U, Y[:4]), ValueError, "data_y has 4 samples"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_overflow_raises_a_numerical_error():
    from eulerian.errors import NumericalError

    with pytest.raises(NumericalError, match="overflowed"):
        network_velocity(U * 1e300, Y)(0.0, GRID, RHO, POINTS * 1e10)


def test_velocity_dataclass_is_a_density_velocity():
    vel = network_velocity(U.reshape(-1, 1), Y.reshape(-1, 1))
    assert isinstance(vel, NetworkVelocity) and vel.data_x.shape == (6,) and vel.activation == "linear"
