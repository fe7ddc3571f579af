"""Deposition and KDE: exact mass and moment identities, NGP vs histogramdd, KDE vs SciPy, bad input."""
import numpy as np
import pytest
from scipy import stats

from lagrangian import deposit, gaussian_kde

LOWER, UPPER, SHAPE = (-2.0, -1.0), (2.0, 3.0), (16, 20)


def centres():
    h = (np.array(UPPER) - LOWER) / SHAPE
    axes = [LOWER[k] + (np.arange(SHAPE[k]) + 0.5) * h[k] for k in range(2)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1), np.prod(h), h


@pytest.mark.parametrize("method", ["cic", "ngp"])
def test_mass_is_conserved_including_boundary_cells(method):
    rng = np.random.default_rng(0)
    x = rng.uniform(LOWER, UPPER, size=(5000, 2))  # many particles within half a cell of the faces
    w = rng.random(5000)
    rho = deposit(x, LOWER, UPPER, SHAPE, weights=w, method=method)
    _, vol, _ = centres()
    assert rho.shape == SHAPE
    assert rho.sum() * vol == pytest.approx(w.sum(), rel=1e-13)
    assert np.all(rho >= 0)


def test_cic_reproduces_mean_and_second_moment_exactly():
    rng = np.random.default_rng(1)
    x = rng.uniform(np.array(LOWER) + 0.5, np.array(UPPER) - 0.5, size=(3000, 2))  # away from the faces
    rho = deposit(x, LOWER, UPPER, SHAPE, method="cic")
    c, vol, h = centres()
    mass = rho * vol
    grid_mean = np.einsum("ij,ijk->k", mass, c)
    np.testing.assert_allclose(grid_mean, x.mean(0), rtol=0, atol=1e-13)
    # linear weights add f(1−f) h² per axis to the second moment, f = fractional offset from the left centre
    s = (x - LOWER) / h - 0.5
    f = s - np.floor(s)
    second = np.einsum("ij,ijk->k", mass, c**2)
    np.testing.assert_allclose(second, np.mean(x**2 + f * (1 - f) * h**2, axis=0), rtol=1e-13)


def test_ngp_matches_histogramdd():
    rng = np.random.default_rng(2)
    x = rng.uniform(LOWER, UPPER, size=(4000, 2))
    rho = deposit(x, LOWER, UPPER, SHAPE, method="ngp")
    hist, _ = np.histogramdd(x, bins=SHAPE, range=list(zip(LOWER, UPPER)), density=True)
    np.testing.assert_allclose(rho, hist, rtol=1e-12)


def test_outside_particles_raise_or_clip():
    x = np.array([[0.0, 0.0], [5.0, 1.0]])
    with pytest.raises(ValueError, match="outside the box.*outside='clip'"):
        deposit(x, LOWER, UPPER, SHAPE)
    rho = deposit(x, LOWER, UPPER, SHAPE, outside="clip")
    _, vol, _ = centres()
    assert rho.sum() * vol == pytest.approx(1.0, rel=1e-14)
    assert rho[-1].sum() > 0
    with pytest.raises(ValueError, match="unknown deposit method"):
        deposit(x, LOWER, UPPER, SHAPE, method="tsc")
    with pytest.raises(ValueError, match="2 entries"):
        deposit(x, (0.0,), (1.0,), (4,))
    with pytest.raises(ValueError, match="weights"):
        deposit(x, LOWER, UPPER, SHAPE, weights=[1.0, -1.0], outside="clip")


def test_one_dimensional_deposit():
    x = np.random.default_rng(3).normal(size=(2000, 1))
    rho = deposit(x, [-8.0], [8.0], [64])
    assert rho.sum() * 0.25 == pytest.approx(1.0, rel=1e-14)


@pytest.mark.parametrize("bandwidth", [None, "silverman", 0.4])
@pytest.mark.parametrize("weighted", [False, True])
def test_kde_matches_scipy(bandwidth, weighted):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((400, 2)) @ np.array([[1.0, 0.3], [0.0, 0.5]])
    w = rng.random(400) if weighted else None
    pts = rng.standard_normal((50, 2))
    ref = stats.gaussian_kde(x.T, bw_method=bandwidth or "scott", weights=w)(pts.T)
    np.testing.assert_allclose(gaussian_kde(x, pts, bandwidth=bandwidth, weights=w), ref, rtol=1e-10)
    np.testing.assert_allclose(gaussian_kde(x, pts, bandwidth=bandwidth, weights=w, chunk_bytes=2000), ref,
                               rtol=1e-10)


def test_kde_bad_bandwidth():
    x = np.random.default_rng(5).standard_normal((30, 2))
    with pytest.raises(ValueError, match="bandwidth rule"):
        gaussian_kde(x, x, bandwidth="plugin")
    with pytest.raises(ValueError, match="bandwidth must be positive"):
        gaussian_kde(x, x, bandwidth=-1.0)


@pytest.mark.gpu
def test_cupy_deposit_and_kde(cupy):
    rng = np.random.default_rng(6)
    x = rng.uniform(LOWER, UPPER, size=(3000, 2))
    for method in ("cic", "ngp"):
        got = deposit(cupy.asarray(x), LOWER, UPPER, SHAPE, method=method)
        np.testing.assert_allclose(cupy.asnumpy(got), deposit(x, LOWER, UPPER, SHAPE, method=method), rtol=1e-12)
    np.testing.assert_allclose(cupy.asnumpy(gaussian_kde(cupy.asarray(x), cupy.asarray(x[:20]))),
                               gaussian_kde(x, x[:20]), rtol=1e-10)
