"""My solvers' tests, written with twinflow's pytest plugin (loaded automatically where twinflow is installed).

    cd examples && python -m pytest -q test_my_scheme.py
"""
import pytest

from my_fokker_planck import solve, solve_upwind
from my_sde_sampler import sample
from verify.pytest_plugin import assert_converges, assert_samples_match, assert_weak_order


def test_my_solver_is_second_order():
    # ou-1d: 64 ... 1024 cells, steps = cells / 2 (dt shrinks with h); passes only on a PASS verdict
    assert_converges(solve, "ou-1d", order=2)


def test_my_solver_is_second_order_in_2d():
    assert_converges(solve, "ou-2d", order=2, levels=[16, 24, 32, 48, 64, 96, 128])


def test_upwind_variant_is_caught():
    # the upwind flux is first order: claiming 2 must fail (not merely be inconclusive)
    with pytest.raises(AssertionError, match="FAIL"):
        assert_converges(solve_upwind, "ou-1d", order=2)


def test_my_sampler_has_weak_order_one():
    # Euler–Maruyama: weak order 1 in the mean and the variance; 16 batches of 50 000 particles, dt = T/1 ... T/8
    assert_weak_order(sample, "ou-sde-1d", order=1, levels=[1, 2, 4, 8], n=50_000, replicates=16)


def test_my_sampler_matches_the_exact_law(twinflow, twinflow_rng):
    # One fine run compared with the exact Gaussian law at T. Euler–Maruyama is biased by O(dt): on ou-sde-2d at
    # dt = T/512 its bias is below 0.2 standard errors of the Monte Carlo mean and covariance of 50 000 particles
    # (at T/64 it would be 1.4 standard errors), so the check tests the sampler, noise matrix included (D is a
    # 2×2 matrix here), and not the time step.
    problem = twinflow.get_problem("ou-sde-2d")
    x0 = problem.sample_initial(50_000, twinflow_rng)
    samples = sample(problem, x0, 512, twinflow_rng)
    assert_samples_match(samples, problem.exact_law())
