"""verify.barenblatt: closed forms against quadrature, the SymPy proof (and a wrong profile failing it), bad input."""
import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

from verify.barenblatt import Barenblatt, barenblatt_proof


def _line(L=3.0, n=400_001):
    x = np.linspace(-L, L, n)
    return x[:, None], x[1] - x[0]


@pytest.mark.parametrize("m", [2.0, 3.0, 1.5])
def test_1d_closed_forms_match_quadrature(m):
    b = Barenblatt(m, 1, mass=1.7, t0=0.1)
    x, h = _line()
    for t in (0.0, 0.4):
        r = b.density(t, x)
        assert r.sum() * h == pytest.approx(1.7, rel=1e-7)
        assert (x[:, 0] ** 2 * r).sum() * h == pytest.approx(b.second_moment(t), rel=1e-6)
        assert (r ** m).sum() * h / (m - 1) == pytest.approx(b.internal_energy(t), rel=1e-6)
        R = b.support_radius(t)
        assert r[np.abs(x[:, 0]) >= R].max() == 0.0 and r[np.abs(x[:, 0]) < 0.999 * R].min() > 0
        assert r.max() == pytest.approx(b.max_density(t), rel=1e-9)
    assert b.total_mass(0.3) == pytest.approx(1.7, rel=1e-13)


def test_2d_closed_forms_match_quadrature_and_level_radius():
    b = Barenblatt(2, 2, mass=2.0, t0=0.05, center=(0.3, -0.2))
    g = np.linspace(-2.5, 2.5, 1601)
    X = np.stack(np.meshgrid(g, g, indexing="ij"), -1)
    dA = (g[1] - g[0]) ** 2
    r = b.density(0.2, X)
    assert r.sum() * dA == pytest.approx(2.0, rel=1e-4)
    r2 = ((X - np.array([0.3, -0.2])) ** 2).sum(-1)
    assert (r2 * r).sum() * dA == pytest.approx(b.second_moment(0.2), rel=1e-4)
    assert b.variance(0.2) == pytest.approx(b.second_moment(0.2) / 4.0)
    rl = b.level_radius(0.2, 0.25)
    p = np.array([[0.3 + rl, -0.2]])
    assert b.density(0.2, p)[0] == pytest.approx(0.25 * b.max_density(0.2), rel=1e-12)


def test_constants_and_scalings_of_the_self_similar_solution():
    b = Barenblatt(2, 1, t0=0.1)
    assert (b.alpha, b.beta, b.k) == pytest.approx((1 / 3, 1 / 3, 1 / 12))
    # self-similarity: rho(t, lam x) lam^d = rho(0, x) with lam the dilation (the exact flow map)
    x = np.linspace(-1, 1, 11)[:, None]
    lam = b.dilation(0.5)
    assert lam == pytest.approx((0.6 / 0.1) ** (1 / 3))
    np.testing.assert_allclose(b.density(0.5, lam * x) * lam, b.density(0.0, x), rtol=1e-12, atol=1e-15)
    assert b.support_radius(0.5) == pytest.approx(lam * b.support_radius(0.0))
    # D rescales time: D = 2 at t equals D = 1 at 2 (t0 + t) - t0
    b2 = Barenblatt(2, 1, t0=0.1, diffusion=2.0)
    np.testing.assert_allclose(b2.density(0.2, x), Barenblatt(2, 1, t0=0.2).density(0.4, x), rtol=1e-12)
    # pressure is m/(m-1) rho^(m-1), concave parabola
    assert b.pressure(0.0, np.zeros((1, 1)))[0] == pytest.approx(2 * b.max_density(0.0))


def test_quantiles_hit_the_levels():
    b = Barenblatt(3, 1, t0=0.1)
    q = b.quantiles(9)[:, 0]
    x, h = _line(1.5, 300_001)
    r = b.density(0.0, x)
    cdf = np.cumsum(r) * h
    levels = np.interp(q, x[:, 0], cdf)
    np.testing.assert_allclose(levels, (np.arange(9) + 0.5) / 9, atol=2e-5)
    assert q[4] == 0.0 and np.all(np.diff(q) > 0)


@pytest.mark.parametrize("d,m", [(1, 2), (1, 3), (2, 2), (1, sp.Rational(3, 2)), (2, Fraction(5, 2)), (3, 2)])
def test_sympy_proof_holds(d, m):
    proof = barenblatt_proof(d, m)
    assert proof.holds, proof


def test_sympy_proof_fails_for_a_wrong_profile():
    proof = barenblatt_proof(1, 2, k=sp.Rational(1, 6))  # right k is 1/12
    assert proof.residual != 0 and not proof.holds


def test_bad_input_is_refused_with_clear_messages():
    with pytest.raises(ValueError, match="m must be > 1"):
        Barenblatt(1.0, 1)
    with pytest.raises(ValueError, match="m must be > 1"):
        Barenblatt(0.5, 2)
    with pytest.raises(TypeError, match="real"):
        Barenblatt(2 + 0j, 1)
    with pytest.raises(ValueError, match="finite"):
        Barenblatt(float("nan"), 1)
    with pytest.raises(ValueError, match="dim"):
        Barenblatt(2, 4)
    with pytest.raises(TypeError, match="dim"):
        Barenblatt(2, 1.0)
    for kw in ({"mass": 0.0}, {"mass": -1.0}, {"t0": 0.0}, {"diffusion": -1.0}):
        with pytest.raises(ValueError, match="> 0"):
            Barenblatt(2, 1, **kw)
    with pytest.raises(ValueError, match="center"):
        Barenblatt(2, 2, center=(0.0,))
    b = Barenblatt(2, 2)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        b.density(0.1, np.zeros((5, 3)))
    with pytest.raises(TypeError, match="real"):
        b.density(0.1, np.zeros((5, 2), complex))
    with pytest.raises(ValueError, match=">= 0"):
        b.density(-0.1, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="fraction"):
        b.level_radius(0.0, 1.0)
    with pytest.raises(ValueError, match="dim = 1"):
        b.quantiles(10)
    with pytest.raises(TypeError, match="rational"):
        barenblatt_proof(1, 1.5)
    with pytest.raises(TypeError, match="rational"):
        barenblatt_proof(1, "2")
    with pytest.raises(ValueError, match="m must be > 1"):
        barenblatt_proof(1, 1)
    with pytest.raises(ValueError, match="dim"):
        barenblatt_proof(0, 2)
    assert math.isfinite(b.C)
