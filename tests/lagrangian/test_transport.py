"""Empirical W2: exact identities, agreement with POT's network simplex, sliced W2, bad input."""
import numpy as np
import pytest

from lagrangian import MemoryBudgetError, sliced_w2, w2, w2_squared
from verify.metrics import z_score_for


def test_translation_and_scaling_closed_forms_2d():
    x = np.random.default_rng(0).standard_normal((300, 2))
    c = np.array([0.7, -1.2])
    # identical atoms shifted by c: the identity matching is optimal, W2² = |c|²
    assert w2_squared(x, x + c) == pytest.approx(c @ c, rel=1e-12)
    assert w2(x, x + c) == pytest.approx(np.linalg.norm(c), rel=1e-12)
    # dilation by a > 0: W2² = (1 − a)² mean |x|² (rearrangement inequality)
    assert w2_squared(x, 2.5 * x) == pytest.approx(1.5**2 * np.mean(np.sum(x**2, 1)), rel=1e-10)


def test_matches_pot_in_2d_with_weights():
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((120, 2)), rng.standard_normal((90, 2)) + 0.5
    a, b = rng.random(120), rng.random(90)
    ref = ot.emd2(a / a.sum(), b / b.sum(), ot.dist(x, y))  # emd2 returns the SQUARE of W2
    assert w2_squared(x, y, weights_x=a, weights_y=b) == pytest.approx(ref, rel=1e-10)
    assert w2(x, y, weights_x=a, weights_y=b) == pytest.approx(np.sqrt(ref), rel=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
def test_1d_quantile_formula_matches_pot(weighted):
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((200, 1)), rng.exponential(size=(150, 1))
    a = rng.random(200) if weighted else None
    b = rng.random(150) if weighted else None
    aa = np.full(200, 1 / 200) if a is None else a / a.sum()
    bb = np.full(150, 1 / 150) if b is None else b / b.sum()
    ref = ot.emd2(aa, bb, ot.dist(x, y))
    assert w2_squared(x, y, weights_x=a, weights_y=b) == pytest.approx(ref, rel=1e-10)


def test_1d_equal_sizes_is_sorted_matching():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((1000, 1)), rng.standard_normal((1000, 1)) * 2
    assert w2_squared(x, y) == pytest.approx(np.mean((np.sort(x[:, 0]) - np.sort(y[:, 0])) ** 2), rel=1e-13)


def test_sliced_w2_1d_equals_w2_and_translation_average():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((500, 1))
    assert sliced_w2(x, x * 1.5 + 1, projections=3, rng=rng) == pytest.approx(w2(x, x * 1.5 + 1), rel=1e-12)
    # translation in 2D: each slice gives (θ·c)², E over the circle = |c|²/2, Var = |c|⁴/8
    x2 = rng.standard_normal((400, 2))
    c = np.array([1.0, 0.0])
    p = 4000
    sw2 = sliced_w2(x2, x2 + c, projections=p, rng=rng) ** 2
    se = np.sqrt(1 / 8 / p)
    assert abs(sw2 - 0.5) <= z_score_for(1e-4) * se  # false alarm 1e-4
    assert sliced_w2(x2, x2 + c, projections=p, rng=rng) <= w2(x2, x2 + c) + 1e-12


def test_bad_input():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="dimension"):
        w2(x, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="weights_x"):
        w2(x, x, weights_x=-np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        w2(x, np.full((5, 2), np.nan))
    big = np.random.default_rng(0).standard_normal((3000, 2))
    with pytest.raises(MemoryBudgetError, match="max_bytes.*sliced_w2"):
        w2_squared(big, big, max_bytes=10 * 2**20)
    with pytest.raises(ValueError, match="equal size"):
        sliced_w2(x, np.zeros((4, 2)), projections=3, rng=np.random.default_rng(0))


@pytest.mark.gpu
def test_cupy_inputs(cupy):
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((200, 2)), rng.standard_normal((200, 2))
    assert w2(cupy.asarray(x[:, :1]), cupy.asarray(y[:, :1])) == pytest.approx(w2(x[:, :1], y[:, :1]), rel=1e-12)
    assert sliced_w2(cupy.asarray(x), cupy.asarray(y), projections=16, rng=np.random.default_rng(1)) == \
        pytest.approx(sliced_w2(x, y, projections=16, rng=np.random.default_rng(1)), rel=1e-12)
    pytest.importorskip("ot")
    assert w2(cupy.asarray(x), cupy.asarray(y)) == pytest.approx(w2(x, y), rel=1e-12)


def test_exact_ot_that_did_not_converge_raises(monkeypatch):
    """POT reports a network simplex stopped at its iteration cap by result_code != 1 (and returns its last,
    suboptimal cost): w2_squared must raise instead of returning it."""
    import ot

    from lagrangian import NumericalError

    real = ot.emd2

    def stopped(a, b, M, numItermax=100000, log=False, **kw):
        value, info = real(a, b, M, numItermax=numItermax, log=True, **kw)
        return value, {**info, "result_code": 3, "warning": "numItermax reached before optimality"}

    monkeypatch.setattr(ot, "emd2", stopped)
    rng = np.random.default_rng(0)
    with pytest.raises(NumericalError, match="did not converge: numItermax reached"):
        w2_squared(rng.standard_normal((5, 2)), rng.standard_normal((6, 2)))
