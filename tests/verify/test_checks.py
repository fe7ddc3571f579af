"""Every check must be able to fail: each is fed a deliberately wrong scheme or value here."""
import numpy as np
import pytest

from verify import gaussian as G
from verify.cases._instances import commuting_pair, non_commuting_pair, random_gaussian
from verify.cases.flow_matching import check_end_map_vs_brenier
from verify.cases.moment_laws import check_attention_map, sample_linear_sde_by_quadrature
from verify.checks import (check_continuity, check_geodesic, check_kinetic_energy,
                           check_pushforward, check_regression_field, check_samples_match,
                           check_symmetric_pd)


def scaled(field, factor):
    return lambda t: G.Affine(factor * field(t).matrix, factor * field(t).offset)


@pytest.fixture
def pair():
    return non_commuting_pair(2, np.random.default_rng(10))


def test_pushforward_flags_a_perturbed_brenier_matrix(pair):
    g0, g1 = pair
    T = G.brenier_map(g0, g1)
    assert all(c.passed for c in check_pushforward("ok", T, g0, g1))
    bad = G.Affine(T.matrix + 1e-6 * np.array([[1.0, 0.0], [0.0, -1.0]]), T.offset)
    assert not all(c.passed for c in check_pushforward("bad", bad, g0, g1))


def test_symmetry_check_flags_a_non_optimal_pushforward(pair):
    g0, g1 = pair
    r0, r1 = (np.linalg.cholesky(g.cov) for g in pair)
    theta = 0.7
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    a = r1 @ rot @ np.linalg.inv(r0)  # pushes Σ0 to Σ1 but is not the Brenier map
    other = G.Affine(a, g1.mean - a @ g0.mean)
    assert all(c.passed for c in check_pushforward("other", other, g0, g1))
    assert not all(c.passed for c in check_symmetric_pd("other", a))
    assert all(c.passed for c in check_symmetric_pd("brenier", G.brenier_map(g0, g1).matrix))


def test_geodesic_check_flags_linear_covariance_interpolation(pair):
    g0, g1 = pair
    dist = G.w2(g0, g1)
    pairs = ((0.0, 0.5), (0.2, 0.9))
    assert check_geodesic("mccann", lambda t: G.mccann(g0, g1, t), dist, pairs).passed
    naive = lambda t: G.Gaussian((1 - t) * g0.mean + t * g1.mean, (1 - t) * g0.cov + t * g1.cov)
    assert not check_geodesic("naive", naive, dist, pairs).passed


def test_energy_and_continuity_flag_a_field_off_by_factor_two(pair):
    g0, g1 = pair
    path = lambda t: G.mccann(g0, g1, t)
    field = lambda t: G.mccann_field(g0, g1, t)
    w2sq = G.w2_squared(g0, g1)
    assert check_kinetic_energy("ok", field, path, w2sq).passed
    assert not check_kinetic_energy("x2", scaled(field, 2.0), path, w2sq).passed
    assert check_continuity("ok", field, path, (0.3, 0.6)).passed
    assert not check_continuity("x2", scaled(field, 2.0), path, (0.3, 0.6)).passed


def test_samples_check_flags_the_other_diffusion_convention():
    rng = np.random.default_rng(11)
    g0 = random_gaussian(2, rng)
    drift = G.Affine([[-1.0, 0.5], [-0.5, -1.5]], [0.3, 0.0])
    law = G.linear_sde(g0, drift, 0.5, 1.0)
    good = sample_linear_sde_by_quadrature(g0, drift, 0.5, 1.0, 20_000, np.random.default_rng(12))
    assert all(c.passed for c in check_samples_match("sqrt(2D)", good, law))
    # dX = sqrt(D) dW (the ½Δ convention) must be caught
    bad = sample_linear_sde_by_quadrature(g0, drift, 0.5, 1.0, 20_000, np.random.default_rng(12),
                                          noise_factor=1.0)
    assert not all(c.passed for c in check_samples_match("sqrt(D)", bad, law))


def test_regression_check_flags_a_field_off_by_factor_two(pair):
    g0, g1 = pair
    rng = np.random.default_rng(13)
    x0, x1 = g0.sample(20_000, rng), g1.sample(20_000, rng)
    t = 0.4
    zt = (1 - t) * x0 + t * x1
    v = G.flow_matching_field(g0, g1, t)
    assert check_regression_field("ok", v, zt, x1 - x0).passed
    assert not check_regression_field("x2", G.Affine(2 * v.matrix, 2 * v.offset), zt, x1 - x0).passed
    # the McCann field is a different (gradient) field on a different path: not the regression
    assert not check_regression_field("mccann", G.mccann_field(g0, g1, t), zt, x1 - x0).passed


def test_end_map_check_distinguishes_commuting_pairs():
    rng = np.random.default_rng(14)
    c0, c1 = commuting_pair(3, rng)
    n0, n1 = non_commuting_pair(3, rng)
    assert check_end_map_vs_brenier("c", c0, c1, commuting=True).passed
    assert check_end_map_vs_brenier("n", n0, n1, commuting=False).passed
    assert not check_end_map_vs_brenier("n as c", n0, n1, commuting=True).passed
    assert not check_end_map_vs_brenier("c as n", c0, c1, commuting=False).passed


def test_attention_map_check_flags_the_wrong_scale():
    g = G.Gaussian([0.2, -0.1], [[0.5, 0.1], [0.1, 0.4]])
    Q = np.array([[0.5, 0.2], [0.0, 0.4]])
    K = np.array([[0.3, 0.0], [0.1, 0.5]])
    V = np.array([[1.0, 0.3], [-0.2, 0.8]])
    xs = np.array([[1.0, -1.0], [0.5, 0.8]])
    s = 1 / np.sqrt(2)
    right = G.attention_map(g, Q, K, V, s)
    assert check_attention_map("ok", right, g, Q, K, V, xs, s, 200_000, np.random.default_rng(15)).passed
    # Γ built with the survey's s = 1 while the tokens use Castin et al.'s s = 1/√d: flagged
    wrong = G.attention_map(g, Q, K, V, 1.0)
    assert not check_attention_map("s", wrong, g, Q, K, V, xs, s, 200_000,
                                   np.random.default_rng(15)).passed
