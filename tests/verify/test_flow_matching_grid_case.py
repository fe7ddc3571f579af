"""The checks of verify/cases/flow_matching_grid.py, each fed a wrong coupling, scheme or value (and the right one)."""
import numpy as np
import pytest

from eulerian.flow_matching_grid import flow_matching_grid_field
from verify import gaussian as G
from verify.cases import flow_matching_grid as fm

SIZES = (40, 80, 160)   # the quick levels of the transport study


def swapped(grid, rho0, rho1, **kw):
    """Wrong coupling: the endpoints exchanged (the field of rho1 -> rho0)."""
    return flow_matching_grid_field(grid, rho1, rho0, **kw)


def squared_time(grid, rho0, rho1, **kw):
    """Mismatched interpolant: the field of (1 - s) X0 + s X1 read at s = t^2 without the chain-rule factor 2t."""
    f = flow_matching_grid_field(grid, rho0, rho1, **kw)
    return lambda t, z: f(t * t, z)


@pytest.fixture(scope="module")
def right_transport():
    return fm.gaussian_transport_errors(SIZES)


def test_mixture_closed_forms_reduce_to_the_gaussian_ones():
    """One-component mixtures: mixture_marginal / mixture_field are flow_matching_marginal / flow_matching_field;
    two components: the path's mean and covariance are (1-t) m0 + t m1 and (1-t)^2 C0 + t^2 C1."""
    a = fm.Mixture.make([1.0], [[-0.4, 0.2]], [[[0.30, 0.10], [0.10, 0.20]]])
    b = fm.Mixture.make([1.0], [[0.5, -0.3]], [[[0.15, -0.05], [-0.05, 0.40]]])
    z = np.random.default_rng(0).normal(size=(10, 2))
    ga, gb = a.parts[0], b.parts[0]
    assert np.allclose(fm.mixture_field(a, b, 0.3, z), G.flow_matching_field(ga, gb, 0.3)(z), atol=1e-12)
    assert np.allclose(fm.mixture_marginal(a, b, 0.3).pdf(z), G.flow_matching_marginal(ga, gb, 0.3).pdf(z))
    law = fm.mixture_marginal(fm.MIX0_2D, fm.MIX1_2D, 0.3)
    assert np.allclose(law.mean, 0.7 * fm.MIX0_2D.mean + 0.3 * fm.MIX1_2D.mean, atol=1e-12)
    assert np.allclose(law.cov, 0.49 * fm.MIX0_2D.cov + 0.09 * fm.MIX1_2D.cov, atol=1e-12)


def test_transport_order_passes_the_right_coupling_and_flags_wrong_ones(right_transport):
    h = [7.0 / n for n in SIZES]
    assert fm.check_order("right", h, right_transport[0]).passed
    for wrong in (swapped, squared_time):
        errors, _ = fm.gaussian_transport_errors(SIZES, make_field=wrong)
        check = fm.check_order(wrong.__name__, h, errors)   # errors ~0.4 at every level: order ~0
        assert not check.passed and check.verdict in ("fail", "inconclusive"), (wrong.__name__, check.detail)
        assert check.interval[1] < 1.0, check.detail


def test_moment_check_flags_a_shifted_density(right_transport):
    grid, rho = right_transport[1][-1]
    exact = G.flow_matching_marginal(fm.G0, fm.G1, 0.5)
    bound = fm.GAUSS_MOMENT_C * grid.spacing[0] ** 2
    assert fm.check_moments("right", grid, rho, exact.mean, exact.cov, bound).passed
    # shifted by three cells; the McCann interpolant instead of the FM marginal (same mean, other variance)
    for wrong in (np.roll(rho, 3), grid.cell_averages(fm.G.mccann(fm.G0, fm.G1, 0.5).pdf)):
        assert not fm.check_moments("wrong", grid, wrong, exact.mean, exact.cov, bound).passed


def test_velocity_order_flags_a_wrong_coupling():
    pts = fm.bulk_points(lambda t: G.flow_matching_marginal(fm.G0_2D, fm.G1_2D, t), (0.25, 0.75), per_axis=3)
    exact = lambda t, z: G.flow_matching_field(fm.G0_2D, fm.G1_2D, t)(z)   # noqa: E731
    sizes = (16, 32, 64, 128)
    h = [7.0 / n for n in sizes]
    right = fm.velocity_errors(fm.G0_2D, fm.G1_2D, exact, sizes, pts)
    assert fm.check_order("right", h, right).verdict != "fail"
    for wrong in (swapped, squared_time):
        errors = fm.velocity_errors(fm.G0_2D, fm.G1_2D, exact, sizes, pts, make_field=wrong)
        assert fm.check_order(wrong.__name__, h, errors).verdict == "fail"


def test_particle_check_flags_swapped_kernel_samples():
    """Particles pushed by the kernel field of swapped samples (x1, x0) end near the source, not the target."""
    grid = fm.grid_1d(fm.BOX_MIX, 80)
    half, end = fm.transport(grid, grid.cell_averages(fm.MIX0.pdf), grid.cell_averages(fm.MIX1.pdf), [0.5, 1.0])
    x = grid.axes()[0]
    vals, errs = [], []
    for t, rho in ((0.5, half), (1.0, end)):
        law = fm.mixture_marginal(fm.MIX0, fm.MIX1, t)
        m = float(grid.mean(rho)[0])
        var = float(np.sum(rho * (x - m) ** 2) * grid.cell_volume)
        vals += [m, var]
        errs += [abs(m - law.mean[0]), abs(var - law.cov[0, 0])]
    bias = fm.KERNEL_BIAS["quick"]
    R, m, n, steps = fm.PARTICLES["quick"]
    right = fm.particle_replicates(lambda r: np.random.default_rng(10 + r), R, m, n, steps)
    assert fm.check_particle_moments("right", right, np.array(vals), np.array(errs), fm.PARTICLE_LABELS,
                                     bias).passed
    wrong = fm.particle_replicates(lambda r: np.random.default_rng(10 + r), R, m, n, steps, p0=fm.MIX0,
                                   p1=fm.MIX0)   # a target that is the source: a wrong coupling of the ends
    c = fm.check_particle_moments("wrong", wrong, np.array(vals), np.array(errs), fm.PARTICLE_LABELS, bias)
    assert not c.passed, c.detail
    shifted = right + np.array([0.0, 0.0, 0.3, 0.0])
    assert not fm.check_particle_moments("shifted", shifted, np.array(vals), np.array(errs), fm.PARTICLE_LABELS,
                                         bias).passed


def test_path_checks_flag_a_wrong_end_identical_paths_and_a_wrong_energy_order():
    g0, g1 = fm.pf_law(0.0), fm.pf_law(1.0)
    grid = fm.grid_1d(fm.BOX_PATHS, 64)
    end = grid.cell_averages(g1.pdf)
    bound = fm.PATH_C[("FM", 1.0)] * grid.spacing[0] ** 2
    assert fm.check_l1_bound("right", grid, end, end, bound).passed
    assert not fm.check_l1_bound("wrong end", grid, grid.cell_averages(g0.pdf), end, bound).passed
    a = grid.cell_averages(G.flow_matching_marginal(g0, g1, 0.5).pdf)
    b = grid.cell_averages(G.mccann(g0, g1, 0.5).pdf)
    assert fm.check_paths_differ("right", grid, a, b, a, b).passed
    # the same grid density offered as both paths: no evidence that they differ
    assert not fm.check_paths_differ("same path twice", grid, a, a, a, b).passed
    assert not fm.check_paths_differ("same exact", grid, a, a, a, a).passed
    w2sq = G.w2_squared(g0, g1)
    assert fm.check_energy_order("right", w2sq, w2sq + 0.03, w2sq + 0.2, w2sq + 1.0, [1e-3] * 4).passed
    # the FM energy below W2^2 (e.g. the kinetic energy of a field that does not carry rho0 to rho1)
    assert not fm.check_energy_order("wrong", w2sq, w2sq + 0.03, w2sq - 0.05, w2sq + 1.0, [1e-3] * 4).passed
    # gaps inside the errors are not an ordering
    assert not fm.check_energy_order("unresolved", w2sq, w2sq + 0.03, w2sq + 0.2, w2sq + 1.0, [0.02] * 4).passed


def test_grid_energy_of_a_wrong_coupling_is_flagged():
    """The grid FM energy of the swapped field (rho1 -> rho0) of a non-symmetric pair is not the closed form."""
    g0, g1 = fm.pf_law(0.0), fm.pf_law(1.0)
    grid = fm.grid_1d(fm.BOX_PATHS, 96)
    r0, r1 = grid.cell_averages(g0.pdf), grid.cell_averages(g1.pdf)
    exact = fm.kinetic(lambda t: G.flow_matching_field(g0, g1, t), lambda t: G.flow_matching_marginal(g0, g1, t))
    right = fm.grid_energy(flow_matching_grid_field(grid, r0, r1), grid)
    assert abs(right - exact) / exact < fm.ENERGY_REL_BOUND
    wrong = fm.grid_energy(_TimeScaled(flow_matching_grid_field(grid, r0, r1)), grid)
    assert abs(wrong - exact) / exact > fm.ENERGY_REL_BOUND


class _TimeScaled:
    """Mismatched interpolant for grid_energy: the field and density of s = t^2 (no chain-rule factor)."""

    def __init__(self, f):
        self.f = f

    def __call__(self, t, z):
        return self.f(t * t, z)

    def density(self, t, z):
        return self.f.density(t * t, z)


def test_gradient_checks_flag_a_non_isotropic_source_and_a_swapped_pair():
    """Prop 3.3 needs an isotropic Gaussian source: with the anisotropic G0_2D as source the curl of the grid field
    is far above the bound; the swapped pair's curl is not A21 - A12 of the right pair."""
    n, t = 64, 0.3
    h2 = (7.0 / n) ** 2
    pts = fm.bulk_points(lambda s: fm.mixture_marginal(fm.ISO_SOURCE, fm.MIX1_2D, s), (t,), per_axis=3)[t]
    assert fm.curl_error(fm.ISO_SOURCE, fm.MIX1_2D, n, t, pts, 0.0) <= fm.CURL_C["iso"] * h2
    aniso = fm.Mixture.make([1.0], [fm.G0_2D.mean], [fm.G0_2D.cov])
    assert fm.curl_error(aniso, fm.MIX1_2D, n, t, pts, 0.0) > fm.CURL_C["iso"] * h2
    a = G.flow_matching_field(fm.G0_2D, fm.G1_2D, t).matrix
    ppts = fm.bulk_points(lambda s: G.flow_matching_marginal(fm.G0_2D, fm.G1_2D, s), (t,), per_axis=3)[t]
    exact = a[1, 0] - a[0, 1]
    assert fm.curl_error(fm.G0_2D, fm.G1_2D, n, t, ppts, exact) <= fm.CURL_C["pair"] * h2
    assert fm.curl_error(fm.G0_2D, fm.G1_2D, n, t, ppts, exact, make_field=swapped) > fm.CURL_C["pair"] * h2


def test_mixture_l1_bound_flags_a_wrong_coupling():
    grid = fm.grid_1d(fm.BOX_MIX, 80)
    r0, r1 = grid.cell_averages(fm.MIX0.pdf), grid.cell_averages(fm.MIX1.pdf)
    cells = grid.cell_averages(fm.mixture_marginal(fm.MIX0, fm.MIX1, 0.5).pdf)
    bound = fm.MIX_L1_C[0.5] * grid.spacing[0] ** 2
    assert fm.check_l1_bound("right", grid, fm.transport(grid, r0, r1, [0.5])[0], cells, bound).passed
    for wrong in (swapped, squared_time):
        rho = fm.transport(grid, r0, r1, [0.5], make_field=wrong)[0]
        assert not fm.check_l1_bound(wrong.__name__, grid, rho, cells, bound).passed
