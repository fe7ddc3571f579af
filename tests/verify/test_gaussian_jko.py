"""Exact JKO iterates on Gaussians (verify.gaussian.jko_gaussian*) and their SymPy derivation."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from verify import gaussian as G


def _std_1d(s: float, H: float, D: float, tau: float) -> float:
    return (s + math.sqrt(s * s + 4.0 * (1.0 + tau * H) * D * tau)) / (2.0 * (1.0 + tau * H))


def test_heat_iterate_of_theory_section_4():
    """H = 0, b = 0: σ_{k+1} = ½(σ_k + sqrt(σ_k² + 4Dτ)), σ a standard deviation."""
    g = G.Gaussian(0.3, 0.7**2)
    out = G.jko_gaussian(g, 0.0, None, 0.5, 0.2, steps=3)
    s = 0.7
    for k in range(1, 4):
        s = 0.5 * (s + math.sqrt(s * s + 4 * 0.5 * 0.2))
        assert math.sqrt(out[k].cov[0, 0]) == pytest.approx(s, rel=1e-14)
        assert out[k].mean[0] == pytest.approx(0.3, abs=1e-15)


def test_ou_iterate_1d():
    g = G.Gaussian(1.5, 0.25)
    g1 = G.jko_gaussian_step(g, 2.0, 0.4, 0.8, 0.1)
    assert g1.mean[0] == pytest.approx((1.5 - 0.1 * 0.4) / 1.2, rel=1e-14)
    assert math.sqrt(g1.cov[0, 0]) == pytest.approx(_std_1d(0.5, 2.0, 0.8, 0.1), rel=1e-13)


def _objective(params, g, H, b, D, tau):
    d = g.dim
    m = params[:d]
    L = np.zeros((d, d))
    L[np.tril_indices(d)] = params[d:]
    L[np.diag_indices(d)] = np.exp(np.diag(L))
    cov = L @ L.T
    g1 = G.Gaussian(m, cov)
    return G.w2_squared(g, g1) / (2 * tau) + G.gaussian_free_energy(g1, H, b, D)


def test_non_commuting_2d_step_minimises_the_jko_objective():
    """Independent check of the matrix formula: direct minimisation of W2²/(2τ) + F over N(m, LLᵀ)."""
    g = G.Gaussian([0.5, -0.2], [[1.0, 0.6], [0.6, 0.8]])
    H = np.array([[2.0, -0.7], [-0.7, 1.0]])
    b = np.array([0.3, -0.1])
    D, tau = 0.6, 0.3
    exact = G.jko_gaussian_step(g, H, b, D, tau)
    L = np.linalg.cholesky(exact.cov)
    x0 = np.concatenate([exact.mean, [math.log(L[0, 0]), L[1, 0], math.log(L[1, 1])]])
    f0 = _objective(x0, g, H, b, D, tau)
    start = np.concatenate([g.mean, [0.0, 0.0, 0.0]])
    res = minimize(_objective, start, args=(g, H, b, D, tau), method="BFGS", options={"gtol": 1e-11})
    assert res.fun >= f0 - 1e-11
    assert abs(res.fun - f0) < 1e-9
    np.testing.assert_allclose(res.x, x0, atol=2e-5)


def test_gibbs_state_is_a_fixed_point():
    H = np.array([[2.0, 0.5], [0.5, 1.0]])
    b = np.array([0.2, 0.1])
    D = 0.7
    gibbs = G.Gaussian(-np.linalg.solve(H, b), D * np.linalg.inv(H))
    g1 = G.jko_gaussian_step(gibbs, H, b, D, 0.4)
    np.testing.assert_allclose(g1.mean, gibbs.mean, atol=1e-14)
    np.testing.assert_allclose(g1.cov, gibbs.cov, atol=1e-14)


def test_first_order_convergence_to_linear_sde():
    """g_K (K τ = T) → linear_sde law at first order in τ: error × 2 when τ × 2 (ratio 2 ± 0.1)."""
    g0 = G.Gaussian([1.0, -0.5], [[0.3, 0.1], [0.1, 0.5]])
    H = np.array([[1.5, 0.4], [0.4, 0.8]])
    b = np.array([0.1, 0.2])
    D, T = 0.5, 1.0
    exact = G.linear_sde(g0, G.Affine(-H, -b), D, T)
    errors = []
    for K in (20, 40, 80, 160):
        gK = G.jko_gaussian(g0, H, b, D, T / K, K)[-1]
        errors.append(np.linalg.norm(gK.mean - exact.mean) + np.linalg.norm(gK.cov - exact.cov))
    ratios = [errors[i] / errors[i + 1] for i in range(3)]
    assert all(1.9 < r < 2.1 for r in ratios), ratios
    assert errors[-1] < 5e-3


def test_energy_decreases_and_jko_inequality():
    g = G.Gaussian([2.0], [[0.1]])
    H, D, tau = 1.0, 0.5, 0.2
    g1 = G.jko_gaussian_step(g, H, None, D, tau)
    F0, F1 = G.gaussian_free_energy(g, H, None, D), G.gaussian_free_energy(g1, H, None, D)
    assert F1 + G.w2_squared(g, g1) / (2 * tau) <= F0


@pytest.mark.parametrize("kwargs, match", [
    ({"tau": 0.0}, "tau"), ({"tau": -1.0}, "tau"), ({"diffusion": -0.1}, "diffusion"),
    ({"H": [[1.0, 2.0], [0.0, 1.0]]}, "symmetric"), ({"H": [[-20.0, 0.0], [0.0, 1.0]]}, "I \\+ τH"),
    ({"b": [1.0, 2.0, 3.0]}, "b"), ({"H": np.eye(3)}, "H"),
])
def test_bad_input(kwargs, match):
    g = G.Gaussian([0.0, 0.0], np.eye(2))
    args = {"H": np.eye(2), "b": None, "diffusion": 0.5, "tau": 0.1} | kwargs
    with pytest.raises(ValueError, match=match):
        G.jko_gaussian_step(g, **args)


def test_bad_types():
    with pytest.raises(TypeError):
        G.jko_gaussian_step("not a gaussian", 1.0, None, 0.5, 0.1)
    with pytest.raises(TypeError):
        G.jko_gaussian_step(G.Gaussian(0.0, 1.0), 1.0, None, 0.5 + 1j, 0.1)
    with pytest.raises(ValueError, match="steps"):
        G.jko_gaussian(G.Gaussian(0.0, 1.0), 1.0, None, 0.5, 0.1, steps=-1)


# -- SymPy derivation (verify.symbolic.jko_gaussian_update_1d) --------------------------------------------
def test_sympy_update_agrees_with_numeric_closed_form():
    from verify.symbolic import jko_gaussian_update_1d

    upd = jko_gaussian_update_1d()
    f = upd.numeric()
    for mk, sk, tau, H, b, D in [(1.0, 0.5, 0.1, 1.0, 0.0, 1.0), (-0.3, 2.0, 0.7, 0.0, 0.4, 0.25),
                                 (2.0, 0.1, 0.05, 3.0, -1.0, 0.01)]:
        g1 = G.jko_gaussian_step(G.Gaussian(mk, sk**2), H, b, D, tau)
        m1, s1 = f(mk, sk, tau, H, b, D)
        assert m1 == pytest.approx(g1.mean[0], rel=1e-13, abs=1e-15)
        assert s1 == pytest.approx(math.sqrt(g1.cov[0, 0]), rel=1e-13)
    assert upd.residual == (0, 0)


def test_sympy_rates_are_the_fokker_planck_moment_equations():
    """(m' − m)/τ → −(Hm + b), (σ'² − σ²)/τ → 2D − 2Hσ²: linear_sde's moment ODE (first-order consistency)."""
    import sympy as sp

    from verify.symbolic import jko_gaussian_update_1d

    upd = jko_gaussian_update_1d()
    mk, sk, tau, H, b, D = upd.symbols
    assert sp.simplify(upd.mean_rate - (-H * mk - b)) == 0
    assert sp.simplify(upd.variance_rate - (2 * D - 2 * H * sk**2)) == 0
    # numerically against linear_sde's derivative at t = 0
    g = G.Gaussian(0.7, 0.09)
    eps = 1e-6
    gt = G.linear_sde(g, G.Affine(-1.3, -0.2), 0.4, eps)
    rate = (gt.cov[0, 0] - 0.09) / eps
    value = float(upd.variance_rate.subs({sk: 0.3, H: 1.3, D: 0.4}))
    assert rate == pytest.approx(value, rel=1e-5)


def test_sympy_heat_iterate_wrong_formula_is_detected():
    """Negative: the variance-convention mix-up σ² ↦ ½(σ² + sqrt(σ⁴ + 4Dτ)) differs from the derived update."""
    import sympy as sp

    from verify.symbolic import jko_gaussian_update_1d

    upd = jko_gaussian_update_1d()
    mk, sk, tau, H, b, D = upd.symbols
    wrong = sp.sqrt((sk**2 + sp.sqrt(sk**4 + 4 * D * tau)) / 2)
    assert sp.simplify(upd.std.subs(H, 0) - wrong) != 0
