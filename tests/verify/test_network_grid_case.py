"""Negative checks of linear-network-grid and relu-network-grid: a wrong scaling, activation derivative or rate must be
flagged; the helpers (marginal W1, the exact ReLU risk) against independent references."""
import math
from dataclasses import replace

import numpy as np
import pytest

import lagrangian as L
from eulerian.grid import Grid
from eulerian.network_grid import NetworkVelocity, network_risk, network_velocity
from verify import gaussian as G
from verify.cases import network_grid as NG


class SigmaForSigmaPrime(NetworkVelocity):
    """A wrong activation derivative: sigma(z) where sigma'(z) belongs (z for the linear network, max(z, 0) for
    the ReLU)."""

    def sigma_prime_dot(self, xp, z, vec):
        return self.sigma(xp, z) @ vec


def wrong_derivative(activation):
    u, y = NG.network_data(activation)
    right = network_velocity(u, y, activation=activation)
    return SigmaForSigmaPrime(right.data_x, right.data_y, right.activation, right.chunk_bytes)


def unweighted(activation):
    """The grid's analogue of a risk gradient missing the 1/n of G = (1/n) sum_i: the midpoint weights without the
    cell volume (G = sum_j rho_j a_j sigma(w_j u))."""
    u, y = NG.network_data(activation)
    vel = network_velocity(u, y, activation=activation)
    return lambda t, grid, rho, x: vel(t, grid, rho / grid.cell_volume, x)


def missing_n(activation, n):
    """-grad_{theta_i} F instead of -n grad_{theta_i} F (a velocity n times too small)."""
    u, y = NG.network_data(activation)
    vel = network_velocity(u, y, activation=activation)
    return lambda t, grid, rho, x: vel(t, grid, rho, x) / n


@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_point_cloud_check_passes_and_flags_wrong_velocities(activation):
    assert NG.check_point_cloud("right", activation).passed
    assert not NG.check_point_cloud("sigma for sigma'", activation, wrong_derivative(activation)).passed
    assert not NG.check_point_cloud("no cell volume", activation, unweighted(activation)).passed
    assert not NG.check_point_cloud("missing n", activation, missing_n(activation, 40)).passed


def test_linear_order_check_flags_a_wrong_activation_derivative():
    """sigma' = z instead of 1: the grid converges to another flow, the L1 error against Prop 6.2 stalls."""
    sizes, times = (16, 24, 32), np.linspace(0.0, NG.LINEAR_T, 3)
    l1, risk_err, _ = NG.linear_grid_errors(sizes, times, velocity=wrong_derivative("linear"))
    width = NG.linear_problem()[6][0] - NG.linear_problem()[5][0]
    assert not NG.check_grid_order("wrong sigma'", sizes, l1, width).passed
    assert np.max(np.abs(risk_err[-1])) > 10 * 2.3e-3   # the right scheme's risk error at n = 24 is 2.3e-3


def linear_particle_risks(field, n=500, batches=8, seed=3):
    u, y = NG.network_data("linear")
    times = np.linspace(0.0, NG.LINEAR_T, 6)
    risks, _, _ = NG.particle_risks(field, NG.LINEAR_G0, n, batches, np.random.default_rng(seed), times, u, y,
                                    "linear", NG.LINEAR_T)
    return risks, times


def exact_linear_risks(times):
    _, _, S, r, y2, _, _ = NG.linear_problem()
    return [G.linear_network_risk(G.linear_network(NG.LINEAR_G0, S, r, t), S, r, y2) for t in times]


def test_risk_interval_flags_particles_missing_the_factor_n():
    u, y = NG.network_data("linear")
    right = L.network_field(u[:, None], y)
    risks, times = linear_particle_risks(right)
    assert NG.check_risk_interval("right", risks, exact_linear_risks(times), times).passed
    slow, _ = linear_particle_risks(lambda t, th: right(t, th) / th.shape[0])      # -grad_i F, not -n grad_i F
    assert not NG.check_risk_interval("missing n", slow, exact_linear_risks(times), times).passed


def test_risk_interval_flags_particles_missing_the_factor_one_over_n_in_the_network():
    """G = sum_i a_i sigma(w_i u) instead of (1/n) sum_i: the residuals, so the velocity, are wrong."""
    u, y = NG.network_data("linear")

    def wrong(t, th):
        e = (u[:, None] * th[:, 0][None, :]) @ th[:, 1] - y        # no 1/n
        return -np.stack([th[:, 1] * np.mean(e * u), th[:, 0] * np.mean(e * u)], axis=1)

    risks, times = linear_particle_risks(wrong, n=200, batches=6)
    assert not NG.check_risk_interval("missing 1/n", risks, exact_linear_risks(times), times).passed


def test_relu_risk_interval_flags_a_grid_with_the_wrong_derivative():
    """Right particles against a grid flow with sigma' replaced by sigma (ReLU): the risks part beyond the interval."""
    u, y = NG.network_data("relu")
    times = np.linspace(0.0, NG.RELU_T, 6)
    grid = NG.kink_grid(21, *NG.RELU_BOX)
    field = L.network_field(u[:, None], y, activation="relu")
    risks, _, _ = NG.particle_risks(field, NG.RELU_G0, 1600, 8, np.random.default_rng(4), times, u, y, "relu",
                                    NG.RELU_T)
    right = NG.run_grid(grid, NG.RELU_G0, network_velocity(u, y, activation="relu"), NG.RELU_T, times)
    wrong = NG.run_grid(grid, NG.RELU_G0, wrong_derivative("relu"), NG.RELU_T, times)
    for sol, ok in ((right, True), (wrong, False)):
        grid_risk = [network_risk(grid, rho, u, y, "relu") for rho in sol.densities]
        # n = 21 is a coarse grid: allow its error as measured against n = 63 (< 6e-4)
        assert NG.check_risk_interval("grid", risks, grid_risk, times, allowance=6e-4).passed is ok


def test_relu_density_check_flags_particles_missing_the_factor_n():
    """Neuron particles moving n times too slowly, deposited on the grid: their L1 distance to the grid density
    exceeds the Monte Carlo floor; the right particles stay within it."""
    u, y = NG.network_data("relu")
    times = np.linspace(0.0, NG.RELU_T, 6)
    (gc, sc), (gf, sf) = NG.relu_grid_runs((21,), times)[0]
    fine_on_coarse = NG.remap(gc, gf, sf.to_numpy())
    grid_error = 0.5 * float(np.abs(sc.to_numpy() - fine_on_coarse).sum() * gc.cell_volume)
    right = L.network_field(u[:, None], y, activation="relu")
    for field, ok in ((right, True), (lambda t, th: right(t, th) / th.shape[0], False)):
        _, clouds, _ = NG.particle_risks(field, NG.RELU_G0, 1600, 8, np.random.default_rng(5), times, u, y,
                                         "relu", NG.RELU_T)
        cmp_ = replace(NG.compare_l1(gc, fine_on_coarse, clouds), grid_error=grid_error)
        assert cmp_.check("particles").passed is ok


def test_remap_conserves_mass_and_inverts_a_refinement():
    coarse = Grid((-1.0, 0.0), (1.0, 3.0), (8, 6))
    fine = Grid((-1.0, 0.0), (1.0, 3.0), (24, 18))
    rho = np.random.default_rng(1).random(coarse.shape)
    assert np.allclose(NG.remap(coarse, fine, np.kron(rho, np.ones((3, 3)))), rho, rtol=1e-14)
    other = Grid((-1.0, 0.0), (1.0, 3.0), (11, 7))          # not nested
    f = np.random.default_rng(2).random(fine.shape)
    assert coarse.mass(NG.remap(coarse, fine, f)) == pytest.approx(fine.mass(f), rel=1e-14)
    assert other.mass(NG.remap(other, fine, f)) == pytest.approx(fine.mass(f), rel=1e-14)


def test_rate_check_flags_deviations_that_do_not_shrink_like_one_over_root_n():
    rng = np.random.default_rng(0)
    sizes = (100, 400, 1600)
    right = [rng.standard_normal((32, 12)).std(axis=1) * 0.12 / math.sqrt(n) * 3 for n in sizes]
    assert NG.check_rate("right", sizes, right).passed
    biased = [np.abs(0.01 + 0.1 / math.sqrt(n) * rng.standard_normal(32)) for n in sizes]  # a constant offset
    assert NG.check_rate("offset", sizes, biased).verdict == "fail"
    fast = [np.abs(rng.standard_normal(32)) / n for n in sizes]
    assert NG.check_rate("1/n", sizes, fast).verdict == "fail"


def test_risk_decreasing_check_flags_an_increase():
    assert NG.check_risk_decreasing("right", [0.3, 0.2, 0.1], [0.0, 0.5, 1.0]).passed
    assert not NG.check_risk_decreasing("sign error", [0.3, 0.31, 0.1], [0.0, 0.5, 1.0]).passed


def test_order_check_flags_first_order_errors():
    sizes = (16, 24, 32, 48)
    assert NG.check_grid_order("second", sizes, [3.0 / n**2 for n in sizes], 4.0).passed
    assert NG.check_grid_order("first", sizes, [3.0 / n for n in sizes], 4.0).verdict == "fail"


def test_marginal_w1_of_a_one_cell_shift_is_the_cell_width():
    g = Grid((0.0, 0.0), (1.0, 2.0), (10, 20))
    rho = np.zeros(g.shape)
    rho[3:6, 5:9] = 1.0
    rho /= g.mass(rho)
    shifted = np.roll(rho, 1, axis=0)
    assert NG.marginal_w1(g, rho, g, shifted) == pytest.approx(0.1, rel=1e-12)
    both = np.roll(shifted, 2, axis=1)
    assert NG.marginal_w1(g, rho, g, both) == pytest.approx(0.1 + 0.2, rel=1e-12)
    fine = Grid((0.0, 0.0), (1.0, 2.0), (30, 60))
    assert NG.marginal_w1(g, rho, fine, np.kron(rho, np.ones((3, 3)))) < 1e-14


def test_exact_relu_risk_against_a_fine_grid():
    u, y = NG.network_data("relu")
    g = NG.kink_grid(201, *NG.RELU_BOX)
    fine = network_risk(g, g.cell_averages(NG.RELU_G0.pdf), u, y, "relu")
    assert fine == pytest.approx(NG.exact_relu_risk(NG.RELU_G0, u, y), rel=1e-5)
    with pytest.raises(ValueError, match="independent"):
        NG.exact_relu_risk(G.Gaussian([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]]), u, y)


def test_point_cloud_check_catches_a_chunk_loop_that_keeps_only_the_last_chunk():
    """The mutant of NetworkVelocity._residuals with 'out = ...' for 'out += ...' (mutmut 42), seen only when the
    cells come in several chunks (chunk_bytes = 1024: 5 cells per chunk here)."""
    class LastChunkOnly(NetworkVelocity):
        def _residuals(self, be, grid, r):
            rows = self._rows(self.data_x.shape[0])
            keep = np.flatnonzero(np.asarray(r).reshape(-1))
            last = np.zeros(grid.size)
            tail = keep[(len(keep) - 1) // rows * rows:]   # the cells of the last chunk
            last[tail] = np.asarray(r).reshape(-1)[tail]
            return super()._residuals(be, grid, be.asarray(last.reshape(grid.shape)))

    u, y = NG.network_data("relu")
    right = network_velocity(u, y, activation="relu", chunk_bytes=1024)
    assert NG.check_point_cloud("chunked", "relu", right).passed
    wrong = LastChunkOnly(**{f: getattr(right, f) for f in right.__dataclass_fields__})
    assert not NG.check_point_cloud("last chunk only", "relu", wrong).passed
