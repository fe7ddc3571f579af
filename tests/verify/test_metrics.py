"""Metrics: z scores, observed orders and the calibration of the CLT standard errors."""
import numpy as np
import pytest

from verify.metrics import (covariance_standard_error, gaussian_sample_z_scores, max_standardised_deviation,
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


def test_exact_gaussian_sample_tests_hold_their_false_alarm_rate_at_small_n():
    # 3 000 sets of n = 12 correlated Gaussian draws, α = 0.05 per check: the exact tests (normal means, χ² and
    # Student t after whitening, Bonferroni) must alarm at most α; the count is Binomial(3000, ≤ 0.05), so a rate
    # above 0.065 (3.7 sd, false alarm of this test ≤ 1e-4) fails. Bonferroni over 2–3 nearly independent entries
    # costs little, so the rate must also stay above 0.03. The CLT standard errors with the same Bonferroni z
    # alarm far more often at this n (studentised sample covariances have heavy tails): measured > 0.15.
    rng = np.random.default_rng(31)
    mean, cov = np.array([0.3, -1.0]), np.array([[2.0, 0.6], [0.6, 0.5]])
    chol = np.linalg.cholesky(cov)
    reps, n, alpha = 3000, 12, 0.05
    alarms_m = alarms_c = alarms_clt = 0
    iu = np.triu_indices(2)
    for _ in range(reps):
        x = mean + rng.standard_normal((n, 2)) @ chol.T
        z_m, z_c = gaussian_sample_z_scores(x, mean, cov)
        alarms_m += np.max(np.abs(z_m)) > z_score_for(alpha, 2)
        alarms_c += np.max(z_c) > z_score_for(alpha, 3)
        c, se_c = covariance_standard_error(x)
        alarms_clt += max_standardised_deviation(c[iu], cov[iu], se_c[iu]) > z_score_for(alpha, 3)
    assert 0.03 <= alarms_m / reps <= 0.065
    assert 0.03 <= alarms_c / reps <= 0.065
    assert alarms_clt / reps > 0.15


def test_exact_gaussian_sample_tests_see_a_wrong_covariance_and_validate():
    rng = np.random.default_rng(32)
    cov = np.array([[1.0, 0.5], [0.5, 2.0]])
    x = rng.standard_normal((20_000, 2)) @ np.linalg.cholesky(cov).T
    z_m, z_c = gaussian_sample_z_scores(x, [0.0, 0.0], cov)
    assert np.max(np.abs(z_m)) < z_score_for(1e-4, 2) and np.max(z_c) < z_score_for(1e-4, 3)
    # 2 % more variance in one coordinate, or a correlation 0.5/√2 → 0.52/√2, is many standard errors at n = 2·10⁴
    for wrong in ([[1.04, 0.5], [0.5, 2.0]], [[1.0, 0.55], [0.55, 2.0]]):
        assert np.max(gaussian_sample_z_scores(x, [0.0, 0.0], wrong)[1]) > z_score_for(1e-4, 3)
    assert np.max(np.abs(gaussian_sample_z_scores(x, [0.05, 0.0], cov)[0])) > z_score_for(1e-4, 2)
    with pytest.raises(ValueError, match="positive definite"):
        gaussian_sample_z_scores(x, [0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="shape"):
        gaussian_sample_z_scores(x, [0.0], cov)
    with pytest.raises(ValueError, match="n ≥ 3"):
        gaussian_sample_z_scores(x[:2], [0.0, 0.0], cov)
