"""verify.strategies: drawn matrices keep their promises (SPD / stable, bounded condition)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.gaussian import Gaussian
from verify.strategies import gaussians, rotations, spd_matrices, stable_matrices

# Bounds hold up to float64 rounding; the strategies keep a 1e-6 relative margin inside them.
ROUND = 1e-9
FAST = settings(max_examples=40, deadline=None)


def spd_violation(a: np.ndarray, *, max_condition: float, scale: tuple[float, float]) -> str | None:
    """None if ``a`` is exactly symmetric with spectrum in ``scale`` and condition ≤ max_condition."""
    if not np.array_equal(a, a.T):
        return "not symmetric"
    lam = np.linalg.eigvalsh(a)
    if lam[0] < scale[0] * (1 - ROUND) or lam[-1] > scale[1] * (1 + ROUND):
        return f"eigenvalues {lam} outside {scale}"
    if lam[-1] / lam[0] > max_condition * (1 + ROUND):
        return f"condition {lam[-1] / lam[0]} > {max_condition}"
    return None


def stable_violation(a: np.ndarray, *, max_condition: float, scale: tuple[float, float]) -> str | None:
    """None if every eigenvalue has real part in [−scale[1], −scale[0]] and cond₂(a) ≤ max_condition."""
    re = np.linalg.eigvals(a).real
    if re.max() > -scale[0] * (1 - 1e-7) or re.min() < -scale[1] * (1 + 1e-7):
        return f"eigenvalue real parts {re} outside [-{scale[1]}, -{scale[0]}]"
    cond = np.linalg.cond(a)
    if cond > max_condition * (1 + 1e-7):
        return f"condition {cond} > {max_condition}"
    return None


@FAST
@given(spd_matrices(st.integers(1, 4)))
def test_spd_default_bounds(a):
    assert spd_violation(a, max_condition=1e3, scale=(0.1, 10.0)) is None


@FAST
@given(spd_matrices(3, max_condition=5.0, scale=(1.0, 100.0)))
def test_spd_custom_bounds(a):
    assert a.shape == (3, 3) and a.dtype == np.float64
    assert spd_violation(a, max_condition=5.0, scale=(1.0, 100.0)) is None


@FAST
@given(spd_matrices(2, max_condition=1.0, scale=(2.0, 2.0)))
def test_spd_degenerate_bounds_give_a_multiple_of_identity(a):
    np.testing.assert_allclose(a, 2.0 * np.eye(2), atol=1e-14)


@FAST
@given(gaussians(st.integers(1, 3), mean_bound=2.0, max_condition=50.0))
def test_gaussians(g):
    assert isinstance(g, Gaussian)
    assert np.all(np.abs(g.mean) <= 2.0)
    assert spd_violation(g.cov, max_condition=50.0, scale=(0.1, 10.0)) is None


@FAST
@given(stable_matrices(st.integers(1, 4)))
def test_stable_default_bounds(a):
    assert stable_violation(a, max_condition=1e3, scale=(0.1, 10.0)) is None


@FAST
@given(stable_matrices(3, max_condition=20.0, scale=(0.5, 2.0)))
def test_stable_custom_bounds(a):
    assert stable_violation(a, max_condition=20.0, scale=(0.5, 2.0)) is None


def test_stable_matrices_cover_non_normal_cases():
    """Across draws some matrices are non-symmetric and some have an indefinite symmetric part
    (stable but not dissipative), so users' tests see genuinely non-normal drifts."""
    seen = {"nonsymmetric": False, "indefinite": False}

    @settings(max_examples=100, deadline=None, database=None, derandomize=True)
    @given(stable_matrices(2, max_condition=1e3))
    def look(a):
        if np.abs(a - a.T).max() > 1e-3:
            seen["nonsymmetric"] = True
        if np.linalg.eigvalsh(0.5 * (a + a.T)).max() > 0:
            seen["indefinite"] = True

    look()
    assert all(seen.values()), seen


@FAST
@given(rotations(st.integers(1, 4)))
def test_rotations_are_orthogonal(u):
    np.testing.assert_allclose(u @ u.T, np.eye(len(u)), atol=1e-13)
    assert np.linalg.det(u) == pytest.approx(1.0, abs=1e-12)


def test_violation_checks_can_fail():
    """Negative tests: the property checks used above flag bad matrices."""
    assert spd_violation(np.array([[1.0, 0.1], [0.0, 1.0]]), max_condition=10, scale=(0.1, 10)) == "not symmetric"
    assert "outside" in spd_violation(np.diag([-1.0, 1.0]), max_condition=10, scale=(0.1, 10))
    assert "condition" in spd_violation(np.diag([0.1, 5.0]), max_condition=10, scale=(0.1, 10))
    assert "outside" in stable_violation(np.array([[0.01, 1.0], [0.0, -1.0]]), max_condition=1e3, scale=(0.1, 10))
    assert "condition" in stable_violation(np.array([[-1.0, 100.0], [0.0, -1.0]]), max_condition=1e3, scale=(0.1, 10))


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda: spd_matrices(0), ValueError),
        (lambda: spd_matrices(2.5), TypeError),
        (lambda: spd_matrices(2, max_condition=0.5), ValueError),
        (lambda: spd_matrices(2, scale=(0.0, 1.0)), ValueError),
        (lambda: spd_matrices(2, scale=(2.0, 1.0)), ValueError),
        (lambda: stable_matrices(2, max_condition=float("inf")), ValueError),
        (lambda: gaussians(2, mean_bound=-1.0), ValueError),
    ],
)
def test_bad_arguments(make, error):
    with pytest.raises(error):
        make()


def test_no_health_check_problems():
    """Drawing many large examples must not trip Hypothesis' filter/too-slow health checks."""

    @settings(max_examples=50, deadline=None, database=None)  # every health check active
    @given(st.tuples(spd_matrices(4), stable_matrices(4), gaussians(4)))
    def draw(triple):
        assert len(triple) == 3

    draw()
