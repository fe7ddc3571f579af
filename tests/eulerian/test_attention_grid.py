"""The grid attention velocity (eulerian.attention): the factorised evaluation against a direct softmax, the dense
fallback for underflowing rows, the chunk memory cap and the wall guard (MassAtWallsError)."""

import numpy as np
import pytest
from scipy.special import logsumexp

from eulerian import Grid, NumericalError
from eulerian.attention import MassAtWallsError, attention_velocity, wall_fraction
from eulerian.meanfield import solve_meanfield
from verify.metrics import peak_memory


def direct(Q, K, V, s, grid, rho, x):
    """Gamma by the definition: softmax over the cell centres with weights rho h^d (scipy's logsumexp)."""
    y = grid.centers().reshape(-1, grid.dim)
    with np.errstate(divide="ignore"):
        logw = np.log(rho.reshape(-1) * grid.cell_volume)      # -inf for empty cells
    logits = s * (x @ Q.T) @ (y @ K.T).T + logw[None, :]
    p = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    return (p @ y) @ V.T


def gaussian_density(grid, mean, cov):
    z = grid.centers() - mean
    return np.exp(-0.5 * np.einsum("...i,ij,...j->...", z, np.linalg.inv(cov), z))


@pytest.mark.parametrize("shape, r", [((37,), 1), ((20, 13), 2), ((20, 13), 3), ((9, 7, 11), 3), ((8, 6, 5), 2)])
def test_factorised_evaluation_equals_the_direct_softmax(shape, r):
    """Same midpoint sum, evaluated per axis (one matrix product) instead of per cell: equal to round-off, for
    r != d and in 1-3 D."""
    rng = np.random.default_rng(len(shape) * 10 + r)
    d = len(shape)
    Q, K, V = rng.normal(size=(r, d)), rng.normal(size=(r, d)), rng.normal(size=(d, d))
    g = Grid((-2.0,) * d, (2.5,) * d, shape)
    rho = gaussian_density(g, rng.normal(scale=0.3, size=d), 0.5 * np.eye(d)) + 0.01
    x = rng.uniform(-2.0, 2.5, size=(50, d))
    out = attention_velocity(Q, K, V, scale=0.7, wall_mass=None)(0.0, g, rho, x)
    assert np.abs(out - direct(Q, K, V, 0.7, g, rho, x)).max() < 1e-12


def test_chunk_size_does_not_change_the_result():
    rng = np.random.default_rng(1)
    g = Grid((-3.0, -3.0), (3.0, 3.0), (24, 30))
    rho = gaussian_density(g, np.zeros(2), np.diag([0.5, 0.3]))
    Q, K, V = rng.normal(size=(2, 2)), rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    x = rng.uniform(-3, 3, size=(300, 2))
    small = attention_velocity(Q, K, V, chunk_bytes=1024)(0.0, g, rho, x)
    large = attention_velocity(Q, K, V, chunk_bytes=1 << 30)(0.0, g, rho, x)
    assert np.abs(small - large).max() < 1e-14


def test_underflowing_rows_fall_back_to_the_dense_log_sum_exp():
    """s = 300: the factorised shift (the largest linear logit, at the far wall) is 1800 above the logits where
    the mass sits, so Z underflows; those rows are recomputed densely and still equal the softmax."""
    g = Grid((-3.0,), (3.0,), (60,))
    rho = np.exp(-0.5 * ((g.axes()[0] + 2.0) / 0.3) ** 2) + 0.0
    rho[g.axes()[0] > 0] = 0.0          # no mass where the linear logit peaks
    x = np.array([[1.0], [2.0], [-1.0]])
    vel = attention_velocity([[1.0]], [[1.0]], [[1.0]], scale=300.0, wall_mass=None)
    out = vel(0.0, g, rho, x)
    ref = direct(np.eye(1), np.eye(1), np.eye(1), 300.0, g, rho, x)
    assert np.all(np.isfinite(out))
    assert np.abs(out - ref).max() < 1e-10
    # the factorised path alone flags exactly the rows it cannot represent
    a = x @ vel.logit_matrix.T
    from eulerian.backend import get_backend
    raw = vel._factorised(np, get_backend("numpy"), g, rho * g.cell_volume / (rho.max() * g.cell_volume), a)
    assert np.isnan(raw[:2]).all() and np.isfinite(raw[2]).all()


def test_temporaries_stay_within_the_chunk_cap():
    """Peak traced memory of one evaluation on 96^2 cells at all 18240 faces: about chunk_bytes beyond the inputs
    and outputs (the dense version held 3 x 8 x cells per query row)."""
    g = Grid((-3.0, -3.0), (3.0, 3.0), (96, 96))
    rho = gaussian_density(g, np.zeros(2), np.eye(2) * 0.4)
    x = np.random.default_rng(0).uniform(-3, 3, size=(18240, 2))
    vel = attention_velocity(np.eye(2), np.eye(2), -np.eye(2), chunk_bytes=1 << 20)
    _, peak = peak_memory(lambda: vel(0.0, g, rho, x))
    io = 3 * x.nbytes + 3 * rho.nbytes          # a, the output, its V-product; the weights
    assert peak < io + 2 * (1 << 20), peak


def test_wall_guard_raises_with_the_time_and_fraction():
    g = Grid((-1.0, -1.0), (1.0, 1.0), (10, 10))
    rho = np.ones(g.shape)                      # 36 of 100 cells are in the outer layer
    assert wall_fraction(rho) == pytest.approx(0.36)
    with pytest.raises(MassAtWallsError, match="outermost layer") as info:
        attention_velocity(np.eye(2), np.eye(2), np.eye(2))(0.25, g, rho, np.zeros((3, 2)))
    assert isinstance(info.value, NumericalError)
    assert info.value.t == 0.25 and info.value.fraction == pytest.approx(0.36) and info.value.wall_mass == 1e-3
    out = attention_velocity(np.eye(2), np.eye(2), np.eye(2), wall_mass=None)(0.0, g, rho, np.zeros((3, 2)))
    assert np.abs(out).max() < 1e-14          # uniform symmetric density, logits 0 at x = 0: Gamma = V mean = 0


def test_wall_guard_stops_solve_meanfield_before_the_walls_fill():
    """Q = K = V = I expands the law (blow-up of the closure at t* = 1/(2 sigma0^2) = 2): the solver stops
    with MassAtWallsError instead of returning mass piled at the walls."""
    g = Grid((-2.5, -2.5), (2.5, 2.5), (16, 16))
    rho0 = gaussian_density(g, np.zeros(2), 0.25 * np.eye(2))
    with pytest.raises(MassAtWallsError) as info:
        solve_meanfield(g, rho0, attention_velocity(np.eye(2), np.eye(2), np.eye(2)), 3.0)
    assert 0.0 < info.value.t < 2.0 and info.value.fraction > 1e-3
    piled = solve_meanfield(g, rho0, attention_velocity(np.eye(2), np.eye(2), np.eye(2), wall_mass=None), 3.0)
    assert wall_fraction(piled.to_numpy()) > 0.5   # what the guard prevents


def test_bad_input():
    with pytest.raises(ValueError, match="wall_mass"):
        attention_velocity(np.eye(2), np.eye(2), np.eye(2), wall_mass=0.0)
    with pytest.raises(ValueError, match="wall_mass"):
        attention_velocity(np.eye(2), np.eye(2), np.eye(2), wall_mass=1.5)
    with pytest.raises(ValueError, match="wall_mass"):
        attention_velocity(np.eye(2), np.eye(2), np.eye(2), wall_mass=float("nan"))
    with pytest.raises(TypeError, match="wall_mass"):
        attention_velocity(np.eye(2), np.eye(2), np.eye(2), wall_mass="small")
    with pytest.raises(TypeError, match="wall_mass"):
        attention_velocity(np.eye(2), np.eye(2), np.eye(2), wall_mass=1e-3 + 0j)
    with pytest.raises(ValueError, match="chunk_bytes"):
        attention_velocity(np.eye(2), np.eye(2), np.eye(2), chunk_bytes=10)
    with pytest.raises(ValueError, match="overflows"):
        attention_velocity(1e200 * np.eye(2), 1e200 * np.eye(2), np.eye(2))
    with pytest.raises(ValueError, match="scale must be finite"):
        attention_velocity(np.eye(2), np.eye(2), np.eye(2), scale=float("inf"))
    vel = attention_velocity(np.eye(3), np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="axes"):
        vel(0.0, Grid((-1.0, -1.0), (1.0, 1.0), (8, 8)), np.ones((8, 8)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="positive mass"):
        attention_velocity(np.eye(2), np.eye(2), np.eye(2), wall_mass=None)(
            0.0, Grid((-1.0, -1.0), (1.0, 1.0), (8, 8)), np.zeros((8, 8)), np.zeros((2, 2)))


def test_signed_weights_enter_linearly_on_both_paths():
    """Small negative cell averages (undershoots of an unlimited reconstruction) keep their sign: the factorised
    sum and the dense fallback both equal sum_j w_j e^{l_j} y_j / sum_j w_j e^{l_j}."""
    rng = np.random.default_rng(3)
    g = Grid((-2.0, -2.0), (2.0, 2.0), (12, 10))
    rho = gaussian_density(g, np.zeros(2), 0.3 * np.eye(2))
    rho[0, :] = -1e-3
    Q, K, V = rng.normal(size=(2, 2)), rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    x = rng.uniform(-2, 2, size=(40, 2))
    y = g.centers().reshape(-1, 2)
    e = np.exp(0.5 * (x @ Q.T) @ (y @ K.T).T) * rho.reshape(-1)[None, :]
    exact = ((e @ y) / e.sum(axis=1, keepdims=True)) @ V.T
    vel = attention_velocity(Q, K, V, scale=0.5, wall_mass=None)
    assert np.abs(vel(0.0, g, rho, x) - exact).max() < 1e-12
    from eulerian.backend import get_backend
    w = rho * g.cell_volume
    dense = vel._dense(np, get_backend("numpy"), g, w / np.abs(w).max(), x @ vel.logit_matrix.T) @ V.T
    assert np.abs(dense - exact).max() < 1e-12


def test_a_non_positive_softmax_normaliser_raises():
    g = Grid((-1.0,), (1.0,), (20,))
    rho = np.ones(20)
    rho[-1] = -5.0                              # positive mass, but e^{50 y} puts the last cell on top
    with pytest.raises(NumericalError, match="normaliser"):
        attention_velocity([[1.0]], [[1.0]], [[1.0]], scale=50.0, wall_mass=None)(0.0, g, rho, np.array([[1.0]]))


@pytest.mark.parametrize("shape, scale", [((1000,), 0.8), ((96, 80), 0.8), ((14, 12, 16), 0.3)])
def test_interpolated_evaluation_equals_the_exact_one(shape, scale):
    """Chebyshev interpolation in the logit vector (the default) against the exact sum, in 1-3 D: accepted
    (not a fallback) and equal to 1e-12 relative to the box size."""
    from eulerian.backend import get_backend
    rng = np.random.default_rng(sum(shape))
    d = len(shape)
    Q, K, V = rng.normal(size=(d, d)) * 0.6, rng.normal(size=(d, d)) * 0.6, rng.normal(size=(d, d))
    g = Grid((-2.5,) * d, (2.0,) * d, shape)
    rho = gaussian_density(g, rng.normal(scale=0.2, size=d), 0.4 * np.eye(d))
    x = rng.uniform(-2.5, 2.0, size=(40000 if d > 1 else 8000, d))
    fast = attention_velocity(Q, K, V, scale=scale, wall_mass=None)
    exact = attention_velocity(Q, K, V, scale=scale, method="exact", wall_mass=None)
    w = rho * g.cell_volume
    assert fast._interpolated(np, get_backend("numpy"), g, w / w.max(), x @ fast.logit_matrix.T) is not None
    assert np.abs(fast(0.0, g, rho, x) - exact(0.0, g, rho, x)).max() < 1e-12 * 2.5


def test_interpolation_falls_back_to_the_exact_sum_when_unresolved():
    """s = 5 makes the tilted mean vary on a scale the 64-node interpolant cannot resolve to 1e-12: the exact sum
    is used (identical results); with few query points it is used directly."""
    from eulerian.backend import get_backend
    g = Grid((-3.0, -3.0), (3.0, 3.0), (64, 64))
    rho = gaussian_density(g, np.zeros(2), np.diag([0.8, 0.5]))
    x = np.random.default_rng(5).uniform(-3, 3, size=(40000, 2))
    Q, K = np.array([[1.0, 0.3], [0.0, 0.8]]), np.array([[0.7, 0.0], [0.2, 0.9]])
    fast = attention_velocity(Q, K, np.eye(2), scale=5.0)
    w = rho * g.cell_volume
    be = get_backend("numpy")
    assert fast._interpolated(np, be, g, w / w.max(), x @ fast.logit_matrix.T) is None
    assert np.array_equal(fast(0.0, g, rho, x), attention_velocity(Q, K, np.eye(2), scale=5.0, method="exact")(
        0.0, g, rho, x))
    assert attention_velocity(Q, K, np.eye(2))._interpolated(np, be, g, w / w.max(), x[:500]) is None


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method must be one of"):
        attention_velocity(np.eye(2), np.eye(2), np.eye(2), method="fast")
