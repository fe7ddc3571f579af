"""The flow-matching velocity of two grid densities (eulerian.flow_matching_grid) against the Gaussian closed forms
of verify.gaussian (Prop 3.1/3.2), its exact endpoint values, its chunking, backends and bad input."""
import numpy as np
import pytest

from eulerian.continuity import solve_continuity
from eulerian.errors import MemoryLimitError
from eulerian.flow_matching_grid import FlowMatchingGridField, flow_matching_grid_field
from eulerian.grid import Grid
from eulerian.meanfield import solve_meanfield
from verify import gaussian as G

G0 = G.Gaussian([-0.4, 0.2], [[0.30, 0.10], [0.10, 0.20]])   # non-commuting covariances: A_t not symmetric
G1 = G.Gaussian([0.5, -0.3], [[0.15, -0.05], [-0.05, 0.40]])
BOX = ((-3.5, -3.5), (3.5, 3.5))


def field_2d(n: int, **kw) -> tuple[Grid, FlowMatchingGridField]:
    grid = Grid(*BOX, (n, n))
    return grid, flow_matching_grid_field(grid, grid.cell_averages(G0.pdf), grid.cell_averages(G1.pdf), **kw)


@pytest.fixture(scope="module")
def fields():
    return {n: field_2d(n)[1] for n in (32, 64)}


def bulk(t: float, n: int = 40) -> np.ndarray:
    z = G.flow_matching_marginal(G0, G1, t).sample(4 * n, np.random.default_rng(7))
    return z[np.all(np.abs(z) < 2.5, axis=1)][:n]


@pytest.mark.parametrize("t", [0.2, 0.45, 0.8])
def test_velocity_matches_the_gaussian_field_at_second_order(fields, t):
    """v_h -> v = (m1 - m0) + A_t (z - m_t) (A_t non-symmetric): max error over bulk points falls ~4x per halving
    (measured ratios 3.7 and 3.9 at t = 0.2 from 32 -> 64 -> 128 cells)."""
    z = bulk(t)
    exact = G.flow_matching_field(G0, G1, t)(z)
    e = [np.abs(fields[n](t, z) - exact).max() for n in (32, 64)]
    assert e[1] < 0.015, e
    assert 3.0 < e[0] / e[1] < 5.0, e


def test_velocity_at_one_half_is_second_order_with_an_irregular_constant(fields):
    """At t = 1/2 on one grid the solved points 2z - x_i share one offset from the cell centres, so the
    interpolation errors do not average over the nodes: still O(h^2) (measured 4.9e-2, 1.7e-2, 3.4e-3 at 32, 64,
    128 cells: ratios 2.8 and 5.0)."""
    z = bulk(0.5)
    exact = G.flow_matching_field(G0, G1, 0.5)(z)
    e = [np.abs(fields[n](0.5, z) - exact).max() for n in (32, 64)]
    assert e[0] < 0.06 and e[1] < 0.02 and e[0] / e[1] > 2.0, e


def test_density_is_the_flow_matching_marginal(fields):
    """field.density(t, z) -> the pdf of N(m_t, (1-t)^2 S0 + t^2 S1), relative error O(h^2)."""
    for t in (0.3, 0.7):
        z = bulk(t)
        exact = G.flow_matching_marginal(G0, G1, t).pdf(z)
        rel = np.abs(fields[64].density(t, z) - exact).max() / exact.max()
        assert rel < 0.02, (t, rel)


def test_endpoint_velocities_are_exact(fields):
    """t = 0: v_0(z) = E[X1] - z; t = 1: v_1(z) = z - E[X0] (the independent coupling), with the grid means."""
    grid = Grid(*BOX, (64, 64))
    f = fields[64]
    z = bulk(0.5)
    m0, m1 = grid.mean(f.rho0), grid.mean(f.rho1)
    assert np.abs(f(0.0, z) - (m1 - z)).max() < 1e-12
    assert np.abs(f(1.0, z) - (z - m0)).max() < 1e-12


def test_density_has_unit_mass_and_branches_agree_at_one_half():
    """sum rho_t h^2 = 1 to O(h^2) on a grid covering the support; t = 1/2 - eps and 1/2 use different
    quadratures (sum over the target vs the source) and agree to O(h^2 + eps)."""
    grid, f = field_2d(48)
    x = grid.centers().reshape(-1, 2)
    mass = float(np.sum(f.density(0.4, x)) * grid.cell_volume)
    assert abs(mass - 1.0) < 1e-3
    z = bulk(0.5)
    exact = G.flow_matching_field(G0, G1, 0.5)(z)
    below, at = np.abs(f(0.5 - 1e-9, z) - exact).max(), np.abs(f(0.5, z) - exact).max()
    assert below < 0.04 and at < 0.04, (below, at)   # measured 2.5e-2 and 1.7e-2 at 48 cells
    assert np.abs(f(0.5 - 1e-9, z) - f(0.5, z)).max() <= below + at


def test_chunks_and_shapes_do_not_change_the_result():
    grid, big = field_2d(24)
    small = flow_matching_grid_field(grid, big.rho0, big.rho1, chunk_bytes=1024)
    z = bulk(0.6, 30)
    assert np.abs(big(0.6, z) - small(0.6, z)).max() < 1e-13
    zz = z[:12].reshape(3, 4, 2)
    assert big(0.6, zz).shape == (3, 4, 2)
    assert np.allclose(big(0.6, zz).reshape(-1, 2), big(0.6, z[:12]), rtol=0, atol=1e-14)
    assert big.density(0.6, zz).shape == (3, 4)


def test_target_on_another_grid_gives_the_same_field():
    """rho1 on its own box (grid1) instead of the source's box: the same v_t to O(h^2)."""
    grid = Grid((-3.5,), (3.5,), (160,))
    g1_grid = Grid((-1.5,), (3.5,), (120,))
    a, b = G.Gaussian([-1.0], [[0.25]]), G.Gaussian([1.0], [[0.09]])
    same = flow_matching_grid_field(grid, grid.cell_averages(a.pdf), grid.cell_averages(b.pdf))
    other = flow_matching_grid_field(grid, grid.cell_averages(a.pdf), g1_grid.cell_averages(b.pdf), grid1=g1_grid)
    for f in (same, other):
        for t in (0.4, 0.7):   # points within two standard deviations of the path's mean
            law = G.flow_matching_marginal(a, b, t)
            z = law.mean + np.linspace(-2.0, 2.0, 21)[:, None] * np.sqrt(law.cov[0, 0])
            assert np.abs(f(t, z) - G.flow_matching_field(a, b, t)(z)).max() < 5e-3


def test_outside_the_reachable_set_the_velocity_is_zero():
    """Disjoint supports: rho_t = 0 beyond (1-t) box0 + t box1 with the densities supported inside: v_t = 0 there."""
    grid = Grid((0.0,), (1.0,), (20,))
    rho0 = np.zeros(20); rho0[:5] = 1.0
    rho1 = np.zeros(20); rho1[-5:] = 1.0
    f = flow_matching_grid_field(grid, rho0, rho1)
    z = np.array([[0.999]])   # at t = 0.1 the reachable set ends near 0.9 * 0.25 + 0.1 * 1 = 0.325
    assert f.density(0.1, z)[0] == 0.0 and f(0.1, z)[0, 0] == 0.0


def test_solve_continuity_carries_rho0_to_the_marginal_and_meanfield_agrees():
    """The grid field transports N(-1, 0.25) towards N(1, 0.09): L1 at t = 1/2 against flow_matching_marginal is
    second order (measured 1.89e-2 at 80 cells, 4.76e-3 at 160); solve_meanfield with the .meanfield form
    reproduces solve_continuity step for step."""
    a, b = G.Gaussian([-1.0], [[0.25]]), G.Gaussian([1.0], [[0.09]])
    grid = Grid((-3.5,), (3.5,), (80,))
    r0, r1 = grid.cell_averages(a.pdf), grid.cell_averages(b.pdf)
    f = flow_matching_grid_field(grid, r0, r1)
    sol = solve_continuity(grid, r0, f, 0.5, limiter="none", steps=80, time_dependent=True)
    exact = grid.cell_averages(G.flow_matching_marginal(a, b, 0.5).pdf)
    l1 = np.abs(sol.to_numpy() - exact).sum() * grid.cell_volume
    assert 0.015 < l1 < 0.023, l1
    mf = solve_meanfield(grid, r0, f.meanfield, 0.5, limiter="none", steps=80)
    assert np.abs(mf.to_numpy() - sol.to_numpy()).max() < 1e-12


def test_cupy_backend_matches_numpy(cupy):
    grid, f = field_2d(24)
    g = flow_matching_grid_field(grid, f.rho0, f.rho1, backend="cupy")
    z = bulk(0.3, 20)
    assert isinstance(g(0.3, z), np.ndarray)
    assert np.abs(g(0.3, z) - f(0.3, z)).max() < 1e-12
    out = g(0.3, cupy.asarray(z))
    assert isinstance(out, cupy.ndarray)


# -- bad input ------------------------------------------------------------------------------------------------
GRID = Grid((-2.0,), (2.0,), (16,))
GOOD = np.exp(-GRID.centers()[..., 0] ** 2)
FIELD = flow_matching_grid_field(GRID, GOOD, GOOD)


@pytest.mark.parametrize("make, exc, words", [
    (lambda: flow_matching_grid_field("grid", GOOD, GOOD), TypeError, "grid must be an eulerian.Grid"),
    (lambda: flow_matching_grid_field(GRID, GOOD, GOOD, grid1="g"), TypeError, "grid1"),
    (lambda: flow_matching_grid_field(GRID, GOOD, np.ones((4, 4)), grid1=Grid((0, 0), (1, 1), (4, 4))),
     ValueError, "same dimension"),
    (lambda: flow_matching_grid_field(GRID, GOOD, np.ones(15)), ValueError, "rho1 has shape"),
    (lambda: flow_matching_grid_field(GRID, np.zeros(16), GOOD), ValueError, "rho0 has zero mass"),
    (lambda: flow_matching_grid_field(GRID, GOOD, np.zeros(16)), ValueError, "rho1 has zero mass"),
    (lambda: flow_matching_grid_field(GRID, np.where(GOOD > 0.5, np.nan, GOOD), GOOD), ValueError, "NaN"),
    (lambda: flow_matching_grid_field(GRID, -GOOD, GOOD), ValueError, "negative"),
    (lambda: flow_matching_grid_field(GRID, GOOD + 0j, GOOD), TypeError, "rho0 must be real"),
    (lambda: flow_matching_grid_field(GRID, GOOD, GOOD, chunk_bytes=10), ValueError, "chunk_bytes"),
    (lambda: flow_matching_grid_field(GRID, GOOD, GOOD, chunk_bytes=2.0**30), ValueError, "chunk_bytes"),
    (lambda: flow_matching_grid_field(GRID, GOOD, GOOD, backend="jax"), ValueError, "backend"),
    (lambda: FIELD(-0.1, np.zeros((3, 1))), ValueError, "t must lie in [0, 1]"),
    (lambda: FIELD(1.5, np.zeros((3, 1))), ValueError, "t must lie in [0, 1]"),
    (lambda: FIELD(float("nan"), np.zeros((3, 1))), ValueError, "t must lie in [0, 1]"),
    (lambda: FIELD(0.5j, np.zeros((3, 1))), TypeError, "t must be real"),
    (lambda: FIELD("0.5", np.zeros((3, 1))), TypeError, "t must be a real number"),
    (lambda: FIELD(0.5, np.zeros((3, 2))), ValueError, "d = 1"),
    (lambda: FIELD(0.5, np.zeros(3)), ValueError, "d = 1"),
    (lambda: FIELD(0.5, np.array([[np.nan]])), ValueError, "NaN"),
    (lambda: FIELD(0.5, np.zeros((3, 1)) + 0j), TypeError, "z must be real"),
    (lambda: FIELD(0.5, np.array([[True]])), TypeError, "z must be an array of real points"),
    (lambda: FIELD(0.5, "x"), TypeError, "z must be an array of real points"),
    (lambda: flow_matching_grid_field(GRID, GOOD * 1e308, GOOD), ValueError, "the mass of rho0 overflows"),
    (lambda: FIELD.density(2.0, np.zeros((3, 1))), ValueError, "t must lie in [0, 1]"),
])
def test_bad_input_is_refused_with_a_clear_message(make, exc, words):
    with pytest.raises(exc, match=None) as info:
        make()
    assert words in str(info.value), str(info.value)


def test_far_points_get_zero_velocity_without_overflow_warnings():
    """Points far beyond the boxes carry no mass: v = 0 and rho_t = 0, with no RuntimeWarning on the way."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = np.array([[1.7e308], [-1.7e308]])
        for t in (0.2, 0.5, 0.9):
            assert np.all(FIELD(t, z) == 0.0) and np.all(FIELD.density(t, z) == 0.0)


def test_a_query_row_beyond_the_memory_cap_is_refused(monkeypatch):
    import eulerian._validate as v
    monkeypatch.setattr(v, "MEMORY_FRACTION", 1e-12)
    with pytest.raises(MemoryLimitError, match="flow-matching quadrature"):
        FIELD(0.5, np.zeros((2, 1)))
