import numpy as np
import pytest

from eulerian import Grid
from tests.eulerian.eulerian_helpers import slope
from verify.gaussian import Gaussian


def test_geometry_2d():
    g = Grid((-1.0, 0.0), (1.0, 3.0), (4, 6))
    assert g.dim == 2 and g.size == 24 and g.shape == (4, 6)
    assert g.spacing == pytest.approx((0.5, 0.5))
    assert g.cell_volume == pytest.approx(0.25)
    np.testing.assert_allclose(g.faces(0), [-1, -0.5, 0, 0.5, 1])
    np.testing.assert_allclose(g.axes()[1], 0.25 + 0.5 * np.arange(6))
    c = g.centers()
    assert c.shape == (4, 6, 2)
    np.testing.assert_allclose(c[2, 3], [0.25, 1.75])  # 'ij' indexing: axis k is coordinate k


def test_scalar_arguments_in_1d_and_3d_shapes():
    g1 = Grid(0.0, 1.0, 10)
    assert g1.dim == 1 and g1.lower == (0.0,) and g1.centers().shape == (10, 1)
    g3 = Grid((0, 0, 0), (1, 2, 3), (2, 3, 4))
    assert g3.centers().shape == (2, 3, 4, 3) and g3.cell_volume == pytest.approx(1 / 2 * 2 / 3 * 3 / 4)


def test_cell_averages_exact_for_polynomials():
    g = Grid((0.0, -1.0), (2.0, 1.0), (3, 5))
    f = lambda x: x[..., 0] ** 3 * x[..., 1] ** 2 + x[..., 1]  # noqa: E731
    avg = g.cell_averages(f, order=2)
    # exact: (1/|cell|) int x^3 dx int y^2 dy + mean of y
    xa, xb = g.faces(0)[:-1], g.faces(0)[1:]
    ya, yb = g.faces(1)[:-1], g.faces(1)[1:]
    ix = (xb**4 - xa**4) / 4 / (xb - xa)
    iy2 = (yb**3 - ya**3) / 3 / (yb - ya)
    iy = (yb**2 - ya**2) / 2 / (yb - ya)
    np.testing.assert_allclose(avg, np.outer(ix, iy2) + iy[None, :], rtol=1e-13, atol=1e-14)
    # point values are not cell averages of a nonlinear function: the difference is O(h^2), not zero
    assert np.abs(g.point_values(f) - avg).max() > 1e-3


def test_moments_of_gaussian_cell_averages_fourth_order():
    gauss = Gaussian([0.3, -0.2], [[0.8, 0.25], [0.25, 0.5]])
    errs_cov, errs_mean, errs_plain = [], [], []
    hs = []
    for n in (12, 24, 48):
        g = Grid((-6, -6), (6, 6), (n, n))
        rho = g.cell_averages(gauss.pdf)
        hs.append(g.spacing[0])
        assert g.mass(rho) == pytest.approx(1.0, abs=1e-7)  # tail beyond 6 sigma_min ~ 1e-8
        errs_mean.append(np.abs(g.mean(rho) - gauss.mean).max())
        errs_cov.append(np.abs(g.covariance(rho) - gauss.cov).max())
        errs_plain.append(np.abs(g.covariance(rho, sheppard=False) - gauss.cov).max())
    # Sheppard-corrected covariance is O(h^4); without the correction the h^2/12 bias remains (negative check)
    assert slope(hs, errs_cov) > 3.5
    assert abs(slope(hs, errs_plain) - 2.0) < 0.1
    np.testing.assert_allclose(errs_plain, np.array(hs) ** 2 / 12, rtol=0.02)
    assert max(errs_mean) < 1e-3 and errs_mean[-1] < 1e-6


@pytest.mark.parametrize(
    "args, exc, match",
    [
        (((1.0,), (0.0,), (4,)), ValueError, "lower"),
        (((0.0, 0.0), (1.0,), (4, 4)), ValueError, "one entry per axis"),
        (((0,) * 4, (1,) * 4, (2,) * 4), ValueError, "1-3 dimensions"),
        (((0.0,), (1.0,), (1,)), ValueError, "at least 2 cells"),
        (((0.0,), (1.0,), (2.5,)), TypeError, "integers"),
        (((0.0,), (np.inf,), (4,)), ValueError, "finite"),
    ],
)
def test_bad_grids(args, exc, match):
    with pytest.raises(exc, match=match):
        Grid(*args)


def test_density_shape_mismatch():
    g = Grid((0, 0), (1, 1), (4, 4))
    with pytest.raises(ValueError, match=r"rho has shape \(4, 5\) but the grid has shape \(4, 4\)"):
        g.mass(np.ones((4, 5)))
    with pytest.raises(ValueError, match="expected"):
        g.cell_averages(lambda x: x)  # returns (..., d) instead of (...)


def test_point_values_of_a_non_callable_is_a_type_error():
    g = Grid((0.0,), (1.0,), (4,))
    with pytest.raises(TypeError, match="f must be a callable"):
        g.point_values(3.0)


def test_moments_refuse_bad_densities_naming_rho():
    g = Grid((0.0, 0.0), (1.0, 2.0), (4, 3))
    rho = np.ones((4, 3))
    assert g.mass(rho.tolist()) == pytest.approx(2.0)          # a nested list is an array of cell averages
    for bad, exc in [("abc", TypeError), (rho.astype(str), TypeError), (rho.astype(bool), TypeError),
                     (rho.astype(object), TypeError), (rho * 1j, TypeError), (None, ValueError)]:
        with pytest.raises(exc, match="rho"):
            g.mass(bad)
    nan = rho.copy()
    nan[1, 2] = np.nan
    with pytest.raises(ValueError, match="rho sums to nan"):
        g.mass(nan)
    with pytest.raises(TypeError, match="sheppard must be True or False"):
        g.covariance(rho, sheppard=np.array([]))


def test_cell_averages_caps_the_quadrature_order():
    g = Grid((0.0,), (1.0,), (4,))
    assert np.allclose(g.cell_averages(lambda x: x[..., 0] ** 3, order=64),
                       g.cell_averages(lambda x: x[..., 0] ** 3, order=2), rtol=1e-13)   # both exact for cubics
    with pytest.raises(ValueError, match="order .* must be at most 64, got 65"):
        g.cell_averages(lambda x: x[..., 0], order=65)
