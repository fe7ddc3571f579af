"""Metrics: z scores, observed orders and the calibration of the CLT standard errors."""
import numpy as np
import pytest

from verify.metrics import (covariance_standard_error, max_standardised_deviation,
                            mean_standard_error, observed_order, relative_error, z_score_for)


def test_z_scores():
    assert z_score_for(0.05) == pytest.approx(1.959964, abs=1e-6)
    assert z_score_for(0.05, tests=5) == pytest.approx(z_score_for(0.01), rel=1e-12)
    with pytest.raises(ValueError, match="false_alarm"):
        z_score_for(0.0)


def test_observed_order_recovers_slopes():
    h = np.array([0.1, 0.05, 0.025, 0.0125])
    assert observed_order(h, 3.0 * h ** 2) == pytest.approx(2.0, abs=1e-12)
    assert observed_order(h, 0.5 * h ** 4 * (1 + 0.01 * h)) == pytest.approx(4.0, abs=1e-2)
    with pytest.raises(ValueError, match="positive"):
        observed_order(h, [1.0, 0.0, 1.0, 1.0])


def test_relative_error_shapes():
    assert relative_error([1.0, 1.0], [1.0, 2.0]) == pytest.approx(1 / np.sqrt(5))
    assert relative_error([0.5], [0.0]) == 0.5
    with pytest.raises(ValueError, match="shape"):
        relative_error([1.0], [1.0, 2.0])


def test_standard_errors_are_calibrated():
    # coverage of ±1.96 se over 400 independent replicates: Binomial(400, 0.95) lies in
    # [0.915, 0.98] with probability > 1 − 1e-4; heavy tails in the covariance (Gaussian
    # fourth moments) are what the empirical fourth-moment se must capture
    rng = np.random.default_rng(20)
    cov = np.array([[1.0, 0.6], [0.6, 2.0]])
    chol = np.linalg.cholesky(cov)
    hits_m = hits_c = 0
    reps = 400
    for _ in range(reps):
        x = rng.standard_normal((400, 2)) @ chol.T
        m, se_m = mean_standard_error(x)
        c, se_c = covariance_standard_error(x)
        hits_m += abs(m[0]) < 1.96 * se_m[0]
        hits_c += abs(c[0, 1] - 0.6) < 1.96 * se_c[0, 1]
    assert 0.915 <= hits_m / reps <= 0.98
    assert 0.915 <= hits_c / reps <= 0.98


def test_standardised_deviation_validates():
    assert max_standardised_deviation([1.0, 2.0], [1.0, 1.0], [0.5, 0.5]) == 2.0
    with pytest.raises(ValueError, match="positive"):
        max_standardised_deviation([1.0], [1.0], [0.0])
    with pytest.raises(ValueError, match="NaN"):
        mean_standard_error(np.array([[1.0], [np.nan]]))
