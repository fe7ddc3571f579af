"""verify.convergence: fitted orders, three-valued verdicts and studies of twinflow's own and deliberately wrong
solvers; every verdict is shown to catch a wrong scheme and every bad input is named."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats

from verify.adapters import FokkerPlanckSolver, ODESampler, SDESampler
from verify.convergence import (FALSE_FAILURE, OrderFit, SolverOutputError, StudyError, accepted_band,
                                convergence_study, fit_order, order_verdict, weak_order_study)
from verify.gaussian import Gaussian
from verify.problems import get_problem

H = np.array([1 / 8, 1 / 16, 1 / 32, 1 / 64])
OU_DTS = [0.5, 0.25, 0.125, 0.0625]   # t_final / (1, 2, 4, 8) for ou-sde-1d


# ------------------------------------------------------------------------------------------ fit_order
def test_fit_of_an_exact_power_law_is_exact():
    fit = fit_order(H, 3.0 * H ** 2.5)
    assert abs(fit.order - 2.5) < 1e-12 and fit.standard_error < 1e-12 and fit.dof == 2
    assert fit.model == "C h^p"
    fit = fit_order(H[::-1], 0.1 * H[::-1] ** 1.0)   # order of the levels does not matter
    assert abs(fit.order - 1.0) < 1e-12


H5 = np.array([1 / 8, 1 / 12, 1 / 16, 1 / 32, 1 / 64])


def test_correction_term_removes_the_preasymptotic_bias():
    # e = C h² e^{3h} is exactly the corrected model log e = c + p log h + a h: the order comes back to round-off,
    # and the h² model joins the interval (deterministic errors cannot tell the two apart by noise)
    fit = fit_order(H5, 0.7 * H5 ** 2 * np.exp(3 * H5), correction=True)
    assert abs(fit.order - 2) < 1e-10 and fit.dof == 2 and fit.model.startswith("C h^p (1 + a h) or")
    assert fit.alternatives and fit.alternatives[0].model == "C h^p (1 + a h^2)"
    lo, hi = fit.interval()
    assert lo <= min(fit.order, fit.alternatives[0].order) and hi >= max(fit.order, fit.alternatives[0].order)
    # e = C h² (1 + 3h): log(1 + 3h) = 3h − 4.5h² + …, so the corrected fit keeps an O(h_max²) bias, far smaller
    # than the plain fit's O(h_max) bias
    h = np.array([1 / 16, 1 / 24, 1 / 32, 1 / 64, 1 / 128])
    e = 0.7 * h ** 2 * (1 + 3 * h)
    plain, corrected = fit_order(h, e), fit_order(h, e, correction=True)
    assert plain.order - 2 > 0.05
    assert abs(corrected.order - 2) < 0.02 and abs(corrected.order - 2) < (plain.order - 2) / 5
    lo, hi = corrected.interval()
    assert lo < 2 + 1e-3 and hi > 2   # the −4.5h² remainder leaves the interval within 1e-3 of the true order
    lo, hi = plain.interval()
    assert lo > 2 + 0.03   # the biased plain fit misses the true order by far more: the correction matters


def test_interval_uses_student_t_quantiles():
    fit = OrderFit(2.0, 0.1, 3)
    q = stats.t.ppf(0.975, 3)
    assert fit.interval() == pytest.approx((2 - 0.1 * q, 2 + 0.1 * q), abs=1e-14)
    assert OrderFit(2.0, 0.1, 0).interval() == (-math.inf, math.inf)
    with pytest.raises(ValueError, match=r"level must lie in \(0, 1\)"):
        fit.interval(1.0)


@pytest.mark.parametrize("h, e, kw, match", [
    (H[:2], H[:2] ** 2, {}, "at least 3 levels, got 2"),
    (H, H ** 2, dict(correction=True), r"at least 5 levels with the correction term \(2 degrees of freedom\), got 4"),
    (H, [1e-2, 0.0, 1e-3, 1e-4], {}, "positive, finite errors"),
    (H, [1e-2, -1e-3, 1e-3, 1e-4], {}, "positive, finite errors"),
    (H, [1e-2, np.nan, 1e-3, 1e-4], {}, "positive, finite errors"),
    ([0.1, 0.1, 0.05, 0.025], [1e-2, 1e-2, 3e-3, 1e-3], {}, "same h"),
    (H, H[:3], {}, r"differ in length \(4 and 3\)"),
])
def test_fit_order_rejects_bad_input(h, e, kw, match):
    with pytest.raises(StudyError, match=match):
        fit_order(h, e, **kw)


# ------------------------------------------------------------------------------------------ order_verdict
def test_order_verdict_three_values():
    ok = order_verdict(OrderFit(2.01, 0.01, 10), 2)
    assert ok.status == "pass" and ok.passed and ok.message.startswith("PASS") and ok.band == (1.8, 2.2)
    bad = order_verdict(OrderFit(1.0, 0.01, 10), 2)
    assert bad.status == "fail" and not bad.passed and bad.message.startswith("FAIL")
    wide = order_verdict(OrderFit(1.9, 0.2, 3), 2, advice="add finer levels")
    assert wide.status == "inconclusive" and not wide.passed and "add finer levels" in wide.message
    # 95 % interval [1.28, 1.72] is outside [1.8, 2.2] but the 99.9 % one reaches 1.96: not yet a fail
    edge = order_verdict(OrderFit(1.5, 0.1, 10), 2)
    assert edge.interval[1] < 1.8 < edge.fail_interval[1]
    assert edge.status == "inconclusive"
    # the fail interval is the (1 − false_failure) Student-t interval
    q = stats.t.ppf(1 - FALSE_FAILURE / 2, 10)
    assert edge.fail_interval == pytest.approx((1.5 - 0.1 * q, 1.5 + 0.1 * q), abs=1e-12)
    none = order_verdict(OrderFit(2.0, math.nan, 1), 2)
    assert none.status == "inconclusive" and "no interval" in none.message


def test_one_sided_band():
    better = OrderFit(3.0, 0.01, 10)
    assert order_verdict(better, 2).status == "fail"                      # symmetric: too good is wrong
    v = order_verdict(better, 2, (0.2, math.inf))
    assert v.status == "pass" and v.band == (1.8, math.inf) and "≥ 1.8" in v.message
    assert order_verdict(OrderFit(1.0, 0.01, 10), 2, (0.2, math.inf)).status == "fail"
    assert order_verdict(OrderFit(0.5, 0.01, 10), 2, (math.inf, 0.2)).status == "pass"
    assert accepted_band(2, (0.1, 0.3)) == (1.9, 2.3)


@pytest.mark.parametrize("expected, band, kw, match", [
    (2, -0.1, {}, "band widths must be ≥ 0"),
    (2, (0.0, 0.0), {}, r"not both 0"),
    (2, (0.1,), {}, r"band must be a number or a \(below, above\) pair"),
    (2, (0.1, math.nan), {}, "band widths must be ≥ 0"),
    (math.nan, 0.2, {}, "expected order must be a finite number"),
    (True, 0.2, {}, "expected order must be a finite number"),
    ("2", 0.2, {}, "expected order must be a finite number"),
    (2, 0.2, dict(false_failure=0.0), r"false_failure must lie in \(0, 1\)"),
])
def test_order_verdict_rejects_bad_claims(expected, band, kw, match):
    with pytest.raises(StudyError, match=match):
        order_verdict(OrderFit(2.0, 0.01, 5), expected, band, **kw)


# ------------------------------------------------------------------------------------------ grid studies
def test_ou_1d_bdf2_space_time_is_second_order():
    s = convergence_study(FokkerPlanckSolver(time="bdf2"), "ou-1d", [32, 64, 128, 256])
    assert s.verdict(2).status == "pass" and s.verdict().status == "pass"  # declared order 2
    assert s.declared_order == 2 and s.reference == "exact cell averages"
    assert [lv.steps for lv in s.levels] == [16, 32, 64, 128]   # steps_per_cell 0.5: dt ∝ h
    assert all(abs(lv.mass_change) < 1e-12 for lv in s.levels)
    assert s.verdict(1).status == "fail"


def test_implicit_euler_is_first_order_in_space_time():
    """dt = h/2: the error is C₁h² + C₂dt. From 256 cells on, the first-order time error dominates and the
    corrected fit (5 levels) pins the order at 1; on 32-256 cells the space error still dominates (pairwise
    orders drift from 1.45 to 1.18), which is why the levels start at 256."""
    s = convergence_study(FokkerPlanckSolver(time="implicit-euler"), "ou-1d", [256, 512, 1024, 2048, 4096],
                          correction=True)
    assert s.fit.model.startswith("C h^p (1 + a h")
    assert s.verdict(2).status == "fail"
    assert s.verdict(1).status == "pass" and s.verdict().status == "pass"  # declares min(2, 1) = 1


def test_space_refinement_with_fixed_steps():
    s = convergence_study(FokkerPlanckSolver(), "ou-1d", [32, 64, 128, 256], refine="space")
    assert {lv.steps for lv in s.levels} == {4 * 128}   # default: 4× the finest space–time step count
    assert s.verdict(2).status == "pass"
    s = convergence_study(FokkerPlanckSolver(), "ou-1d", [32, 64, 128, 256], refine="space", steps=300)
    assert {lv.steps for lv in s.levels} == {300} and s.verdict(2).status == "pass"


@pytest.mark.parametrize("time_scheme, order", [("crank-nicolson", 2), ("implicit-euler", 1)])
def test_time_refinement_on_the_manufactured_problem(time_scheme, order):
    s = convergence_study(FokkerPlanckSolver(time=time_scheme), "mms-fokker-planck-2d", [4, 8, 16, 32, 64],
                          refine="time", cells=8)
    assert s.reference == "successive differences on one grid"
    assert len(s.levels) == 4 and all(lv.cells == (8, 8) for lv in s.levels)
    assert s.verdict(order).status == "pass"
    assert s.verdict(3 - order).status == "fail"
    assert all(lv.mass_change is None for lv in s.levels)   # a source: mass is not conserved


@pytest.mark.parametrize("method, order", [("euler", 1), ("heun", 2), ("rk4", 4)])
@pytest.mark.parametrize("norm", ["L1", "L2", "Linf"])
def test_ode_study_each_method_at_its_order(method, order, norm):
    s = convergence_study(ODESampler(method), "affine-ode-2d", refine="time", norm=norm, particles=200)
    assert s.declared_order == order and s.norm == norm and s.reference == "exact flow of the particles"
    assert s.verdict().status == "pass"
    assert s.verdict(order + 1).status == "fail"


@pytest.mark.parametrize("norm", ["L2", "Linf"])
def test_grid_norms(norm):
    s = convergence_study(FokkerPlanckSolver(), "ou-1d", [32, 64, 128, 256], norm=norm)
    assert s.verdict(2).status == "pass"
    l1 = convergence_study(FokkerPlanckSolver(), "ou-1d", [32, 64, 128, 256])
    # on a box of length 12: ‖e‖₁ ≤ 12 ‖e‖∞ and ‖e‖₁ ≤ sqrt(12) ‖e‖₂ (Cauchy–Schwarz)
    factor = 12.0 if norm == "Linf" else math.sqrt(12.0)
    assert np.all(l1.errors <= factor * s.errors * (1 + 1e-12))


@pytest.mark.parametrize("kw, match", [
    (dict(refine="spacetime"), "refine must be one of space-time, space, time"),
    (dict(norm="H1"), "norm must be one of L1, L2, Linf"),
    (dict(mass_tol=0), "mass_tol must be a number > 0 or None"),
    (dict(levels=[32, 64]), r"at least 3 levels are needed for an order with an interval, got 2"),
    (dict(levels=[32, 64, 64]), "must be distinct"),
    (dict(levels=[32, 64.0, 128]), "must be positive integers"),
    (dict(levels=[4, 8, 16], refine="time"), "at least 4 levels"),
    (dict(correction="yes"), "correction must be True or False"),
    (dict(steps_per_cell=-1.0), "steps_per_cell must be > 0"),
])
def test_convergence_study_rejects_bad_settings(kw, match):
    kw = {"levels": [32, 64, 128], **kw}
    with pytest.raises(StudyError, match=match):
        convergence_study(FokkerPlanckSolver(), "ou-1d", **kw)


def test_study_kind_mismatches():
    with pytest.raises(StudyError, match="SDE problem: use weak_order_study"):
        convergence_study(SDESampler(), "ou-sde-1d", [1, 2, 4])
    with pytest.raises(StudyError, match="only refine='time' applies"):
        convergence_study(ODESampler(), "affine-ode-2d", [8, 16, 32], refine="space")
    with pytest.raises(StudyError, match="particles must be a positive integer"):
        convergence_study(ODESampler(), "affine-ode-2d", [8, 16, 32], refine="time", particles=0)


# ------------------------------------------------------------------------------------------ wrong user solvers
LEVELS = [16, 32, 64]
FP = FokkerPlanckSolver()


def test_wrong_signature_is_named():
    def solve(problem, grid):
        return grid.cell_averages(problem.initial_density)

    with pytest.raises(StudyError, match=r"cannot be called as solve\(problem, grid, steps\): too many positional"):
        convergence_study(solve, "ou-1d", LEVELS)
    with pytest.raises(StudyError, match="must be callable"):
        convergence_study("not a solver", "ou-1d", LEVELS)


@pytest.mark.parametrize("output, match", [
    (lambda g, rho: np.ones(g.shape[0] + 1), r"density of shape \(17,\) at level 0 .*expected the grid shape \(16,\)"),
    (lambda g, rho: np.full(g.shape, np.nan), "16 NaN or infinite values"),
    (lambda g, rho: rho.astype(complex), "complex; densities and positions are real"),
    (lambda g, rho: ["a"] * g.shape[0], "must be a real array, got dtype <U1"),
    (lambda g, rho: np.zeros(g.shape), r"total mass 0 ≤ 0"),
    (lambda g, rho: -rho, r"total mass -1 ≤ 0"),
])
def test_bad_solver_output_is_named(output, match):
    def solve(problem, grid, steps):
        return output(grid, grid.cell_averages(problem.initial_density))

    with pytest.raises(SolverOutputError, match=match):
        convergence_study(solve, "ou-1d", LEVELS)


def test_lost_mass_is_caught_unless_mass_tol_is_none():
    def leaky(problem, grid, steps):
        return FP(problem, grid, steps).to_numpy() * (1 - 1e-3)

    with pytest.raises(SolverOutputError, match=r"mass changed by 0\.001 .*mass_tol=None"):
        convergence_study(leaky, "ou-1d", [32, 64, 128, 256])
    s = convergence_study(leaky, "ou-1d", [32, 64, 128, 256, 512], mass_tol=None)
    assert all(abs(lv.mass_change - 1e-3) < 1e-9 for lv in s.levels)
    # the L1 error is at least the lost mass (triangle inequality): a floor of 1e-3 that stops convergence;
    # the pre-asymptotic levels before the floor widen the interval, so the verdict is not a pass
    assert np.all(s.errors >= 1e-3 * (1 - 1e-9)) and s.pairwise_orders[-1] < 0.05
    assert s.verdict(2).status != "pass"
    # a loss below a looser tolerance is accepted
    assert convergence_study(leaky, "ou-1d", [32, 64, 128, 256], mass_tol=2e-3).levels[0].mass_change > 0


def test_a_solver_returning_the_exact_answer_has_no_order():
    def exact(problem, grid, steps):
        return problem.exact_cell_averages(grid)

    with pytest.raises(StudyError, match=r"error exactly 0 at level\(s\) \[0, 1, 2\]; the scheme is exact"):
        convergence_study(exact, "ou-1d", LEVELS)


def test_ode_sampler_with_wrong_output_is_named():
    def flat(problem, x0, steps, rng):
        return x0[:, 0]

    with pytest.raises(SolverOutputError, match=r"positions of shape \(20,\) at 8 steps; expected \(20, 2\)"):
        convergence_study(flat, "affine-ode-2d", [8, 16, 32], refine="time", particles=20)

    def no_rng(problem, x0, steps):
        return x0

    with pytest.raises(StudyError, match=r"sample\(problem, x0, steps, rng\)"):
        convergence_study(no_rng, "affine-ode-2d", [8, 16, 32], refine="time", particles=20)


def test_wrong_diffusion_is_caught_by_the_verdict():
    """A conservative, stable, second-order scheme for the wrong equation (D/2): its error tends to the
    distance between the two solutions, so the fitted order is ≈ 0 and the verdict fails."""
    def half_diffusion(problem, grid, steps):
        return FP(problem.with_(diffusion=0.5 * problem.diffusion), grid, steps)

    s = convergence_study(half_diffusion, "ou-1d", [32, 64, 128, 256, 512])
    v = s.verdict(2)
    assert v.status == "fail" and abs(s.fit.order) < 0.1
    assert s.declared_order is None
    with pytest.raises(StudyError, match="give the expected order"):
        s.verdict()


# ------------------------------------------------------------------------------------------ weak orders
@pytest.fixture(scope="module")
def em_study():
    return weak_order_study(SDESampler("euler-maruyama"), "ou-sde-1d", OU_DTS, n=50_000, replicates=16, rng=0)


def test_euler_maruyama_has_weak_order_one(em_study):
    assert em_study.steps == (1, 2, 4, 8) and em_study.seed == 0 and em_study.declared_order == 1
    assert [f.label for f in em_study.fits] == ["mean[0]", "variance"]
    assert em_study.verdict(1, 0.25) == "pass"
    assert em_study.verdict(band=0.25) == "pass"
    assert em_study.verdict(2, 0.25) == "fail"


def em(problem, x0, steps, rng, noise=2.0):
    """Euler–Maruyama written here: X ← X + b(t, X)dt + sqrt(noise·D·dt) Z (noise = 2 is correct)."""
    dt = problem.t_final / steps
    x = x0.copy()
    for i in range(steps):
        x = x + dt * problem.drift(i * dt, x) + math.sqrt(noise * problem.diffusion * dt) * rng.standard_normal(x.shape)
    return x


def test_wrong_noise_amplitude_fails():
    """sqrt(D) instead of sqrt(2D): the variance error tends to −Q/2 ≈ −0.16 instead of 0 (no power of dt).
    Its misfit inflates the interval by the Birge ratio, so the fail needs the 16 replicates of a real study
    (t quantiles with 15 dof); with 8 replicates some seeds end inconclusive, never pass."""
    wrong = lambda p, x0, k, rng: em(p, x0, k, rng, noise=1.0)  # noqa: E731
    w = weak_order_study(wrong, "ou-sde-1d", OU_DTS, n=20_000, replicates=16, rng=0)
    assert w.verdict(1, 0.25) == "fail"
    assert [v.status for v in w.verdicts(1, 0.25)] == ["pass", "fail"]   # the mean is right, the variance not
    # −Q/2 with Q = D(1 − e^{−2λT}) = 0.316, up to the O(dt) Euler–Maruyama bias (≈ 0.01 at dt = 1/16)
    assert w.fits[1].errors[-1] == pytest.approx(-0.5 * (1 - math.exp(-1)) / 2, abs=0.02)
    right = weak_order_study(em, "ou-sde-1d", OU_DTS, n=20_000, replicates=16, rng=0)
    assert right.verdict(1, 0.25) == "pass"


@pytest.mark.parametrize("seed", range(5))
def test_tiny_budget_is_inconclusive_never_pass(seed):
    w = weak_order_study(SDESampler("euler-maruyama"), "ou-sde-1d", OU_DTS, n=500, replicates=4, rng=seed)
    assert w.verdict(1, 0.25) == "inconclusive"
    assert "add samples or replicates" in w.table(1, 0.25)


def exact_sampler(problem, x0, steps, rng):
    """Draws of the exact transition law: X = Φx0 + φ + sqrt(Q)·Z (ignores steps)."""
    phi, q = problem.transition()
    z = rng.standard_normal(x0.shape)
    if not np.any(q):
        return phi(x0)
    return phi(x0) + np.einsum("ij,nj->ni", np.linalg.cholesky(q), z)


def test_control_variate_leaves_no_bias_with_exact_draws():
    """Every observable's mean weak error is within z standard errors of 0 at every level. The standardised
    batch mean follows Student t with R − 1 dof; z is its quantile at family-wise false-alarm rate 1e-3
    (Bonferroni over levels × components)."""
    R, square = 16, (lambda x: x[:, 0] ** 2)
    w = weak_order_study(exact_sampler, "ou-sde-1d", OU_DTS, n=10_000, replicates=R, rng=2,
                         observables=("mean", "covariance", square))
    k = len(w.fits) * len(w.dts)
    z = stats.t.ppf(1 - 1e-3 / (2 * k), R - 1)
    for f in w.fits:
        assert f.fit is None   # nothing resolved: no order to fit
        for e, se in zip(f.errors, f.standard_errors):
            assert abs(e) < z * se, (f.label, e, se)

    # negative: a sampler whose positions are shifted by 0.02 (≈ 25 standard errors of the mean) is flagged
    shifted = lambda p, x0, k, rng: exact_sampler(p, x0, k, rng) + 0.02  # noqa: E731
    w = weak_order_study(shifted, "ou-sde-1d", OU_DTS, n=10_000, replicates=R, rng=2, observables="mean")
    assert all(abs(e) > z * se for e, se in zip(w.fits[0].errors, w.fits[0].standard_errors))


def test_control_variate_cancels_the_initial_noise_exactly_without_diffusion():
    """With D = 0 the exact map is deterministic given x0: the control variate leaves only round-off."""
    p = get_problem("ou-sde-2d").with_(diffusion=0.0)
    w = weak_order_study(exact_sampler, p, [0.5, 0.25, 0.125], n=2000, replicates=4)
    for f in w.fits:
        assert np.max(np.abs(f.errors)) < 1e-13, f.label


def test_custom_observable_uses_the_exact_expectation():
    """Function observables are referenced by E f(X_T) under the exact law. A sampler that puts every particle
    at 0 makes the batch error f(0) − E f(X_T) exactly (no noise), so the reference can be read off and
    compared with closed forms: E X² = m² + v and E cos X = cos(m) e^{−v/2}, with m(T), v(T) of the OU law
    written here (m0 = 10, v0 = 0.04, λ = 1, c = −6, D = 1/2, T = 1/2)."""
    e = math.exp(-0.5)
    m = 10 * e - 6 * (1 - e)
    v = 0.04 * e ** 2 + 0.5 * (1 - e ** 2)
    origin = lambda p, x0, k, rng: np.zeros_like(x0)  # noqa: E731
    w = weak_order_study(origin, "ou-sde-1d", OU_DTS[:3], n=50, replicates=2,
                         observables=(lambda x: x[:, 0] ** 2, lambda x: np.cos(x[:, 0])))
    square, cosine = w.fits
    assert (square.label, cosine.label) == ("E f0", "E f1")
    assert all(abs(-err - (m ** 2 + v)) < 1e-10 for err in square.errors)
    assert all(abs((1 - err) - math.cos(m) * math.exp(-v / 2)) < 1e-10 for err in cosine.errors)
    assert all(se == 0 for se in square.standard_errors)

    # with exact draws the same observable has zero-mean batch errors: within z standard errors (z: t₁₅
    # quantile at family-wise false alarm 1e-3 over the 3 levels); a reference that omitted v ≈ 0.33 would be
    # off by more than 5 z standard errors, so the check has teeth
    w = weak_order_study(exact_sampler, "ou-sde-1d", OU_DTS[:3], n=20_000, replicates=16, rng=4,
                         observables=lambda x: x[:, 0] ** 2)
    z = stats.t.ppf(1 - 1e-3 / 6, 15)
    (f,) = w.fits
    assert all(abs(err) < z * se for err, se in zip(f.errors, f.standard_errors))
    assert all(v > 5 * z * se for se in f.standard_errors)
    # a function returning (n, k) gives k components
    w = weak_order_study(exact_sampler, "ou-sde-1d", OU_DTS[:3], n=200, replicates=2,
                         observables=lambda x: np.concatenate([x, x ** 2], axis=1))
    assert [f.label for f in w.fits] == ["E f0[0]", "E f0[1]"]


@pytest.mark.parametrize("args, kw, match", [
    (("ou-sde-1d", [0.5, 0.3, 0.125]), {}, "dt = 0.3 does not divide t_final = 0.5"),
    (("ou-sde-1d", [0.5, 0.25]), {}, r"at least 3 levels.*got 2"),
    (("ou-sde-1d", [0.5, -0.25, 0.125]), {}, "every dt must be a positive number"),
    (("ou-sde-1d", "abc"), {}, "dts must be a sequence of positive numbers"),
    (("ou-sde-1d", OU_DTS), dict(n=1), "n must be an integer ≥ 2, got 1"),
    (("ou-sde-1d", OU_DTS), dict(replicates=1), "replicates must be an integer ≥ 2, got 1"),
    (("ou-sde-1d", OU_DTS), dict(n=100.0), "n must be an integer ≥ 2"),
    (("ou-sde-1d", OU_DTS), dict(observables="median"), "observable 'median'"),
    (("ou-sde-1d", OU_DTS), dict(observables=()), "at least one observable"),
    (("ou-sde-1d", OU_DTS), dict(rng="seed"), "rng must be a numpy Generator, an int seed or None"),
    (("ou-1d", None), {}, "needs an SDE problem; 'ou-1d' is a fokker-planck problem"),
    (("affine-ode-2d", None), {}, "needs an SDE problem"),
])
def test_weak_order_study_rejects_bad_settings(args, kw, match):
    with pytest.raises(StudyError, match=match):
        weak_order_study(SDESampler(), *args, **{"n": 100, "replicates": 2, **kw})


def test_weak_study_bad_sampler_output_is_named():
    with pytest.raises(SolverOutputError, match=r"positions of shape \(100,\) at 1 steps"):
        weak_order_study(lambda p, x0, k, rng: x0[:, 0], "ou-sde-1d", OU_DTS, n=100, replicates=2)
    with pytest.raises(SolverOutputError, match="NaN or infinite"):
        weak_order_study(lambda p, x0, k, rng: x0 * np.nan, "ou-sde-1d", OU_DTS, n=100, replicates=2)
    with pytest.raises(StudyError, match=r"sample\(problem, x0, steps, rng\)"):
        weak_order_study(lambda p, x0: x0, "ou-sde-1d", OU_DTS, n=100, replicates=2)


def test_weak_study_is_reproducible_from_its_seed():
    a = weak_order_study(SDESampler("euler-maruyama"), "ou-sde-1d", OU_DTS, n=300, replicates=2, rng=9)
    b = weak_order_study(SDESampler("euler-maruyama"), "ou-sde-1d", OU_DTS, n=300, replicates=2, rng=9)
    c = weak_order_study(SDESampler("euler-maruyama"), "ou-sde-1d", OU_DTS, n=300, replicates=2, rng=10)
    assert a.fits[0].errors == b.fits[0].errors != c.fits[0].errors


# ------------------------------------------------------------------------------------------ study objects
@pytest.fixture(scope="module")
def bdf2_study():
    return convergence_study(FokkerPlanckSolver(), "ou-1d", [32, 64, 128, 256])


def test_convergence_study_table_checks_plot_and_dict(bdf2_study):
    s = bdf2_study
    table = s.table()
    assert "ou-1d" in table and "fitted order 1.99" in table and "PASS" in table and table.count("\n") == 7
    (ok,) = s.checks()
    assert ok.passed and ok.verdict == "pass" and ok.status == "pass"
    assert ok.interval == pytest.approx(s.fit.interval()) and (ok.lower, ok.upper) == (1.8, 2.2)
    assert ok.value == s.fit.order and ok.reference == 2
    (bad,) = s.checks(1)
    assert not bad.passed and bad.verdict == "fail" and bad.status == "fail"
    (one_sided,) = s.checks(2, (0.2, math.inf))
    assert one_sided.passed and one_sided.lower == 1.8 and one_sided.upper is None
    h, e = s.work_precision
    assert np.all(h > 0) and np.array_equal(e, s.errors)
    conv, wp = s.plot()
    assert isinstance(conv, Figure) and isinstance(wp, Figure)
    assert (conv.axes[0].get_xlabel(), conv.axes[0].get_ylabel()) == ("h", "L1 error")
    assert (wp.axes[0].get_xlabel(), wp.axes[0].get_ylabel()) == ("wall time (s)", "L1 error")
    data = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    assert data["kind"] == "convergence" and len(data["levels"]) == 4 and data["fit"]["order"] == s.fit.order


def test_inconclusive_study_check_is_not_passed():
    s = convergence_study(FokkerPlanckSolver(), "ou-1d", [8, 16, 32])   # 1 dof on pre-asymptotic levels
    (c,) = s.checks()
    assert c.verdict == "inconclusive" and c.status == "inconclusive" and not c.passed
    assert "add finer levels" in c.detail
    assert s.plot(2)[0].axes[0].get_xlabel() == "h"


def test_time_study_plot_is_against_dt():
    s = convergence_study(ODESampler("heun"), "affine-ode-2d", [8, 16, 32], refine="time", particles=10)
    assert s.plot()[0].axes[0].get_xlabel() == "dt"


def test_weak_study_table_checks_plot_and_dict(em_study):
    w = em_study
    table = w.table(1, 0.25)
    assert "verdict: PASS" in table and "mean[0]" in table and "variance" in table
    checks = w.checks(1, 0.25)
    assert len(checks) == 2 and all(c.passed and c.verdict == "pass" and c.status == "pass" for c in checks)
    assert all(c.interval is not None and c.lower == 0.75 and c.upper == 1.25 for c in checks)
    failing = w.checks(2, 0.25)
    assert all(not c.passed and c.status == "fail" for c in failing)
    fig = w.plot()
    assert isinstance(fig, Figure)
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("dt", "|weak error|")
    data = json.loads(json.dumps(w.to_dict(), allow_nan=False))
    assert data["kind"] == "weak-order" and data["n"] == 50_000 and data["seed"] == 0
    assert [o["label"] for o in data["observables"]] == ["mean[0]", "variance"]


def test_inconclusive_weak_check_and_json():
    w = weak_order_study(SDESampler("euler-maruyama"), "ou-sde-1d", OU_DTS, n=500, replicates=4, rng=0)
    checks = w.checks(1, 0.25)
    assert checks[1].status == "inconclusive" and checks[1].verdict == "inconclusive" and not checks[1].passed
    assert "not resolved" in checks[1].detail
    json.dumps(w.to_dict(), allow_nan=False)


def test_exact_sampler_helper_draws_the_exact_law():
    # sanity of the helper used above: exact draws reproduce the exact law's moments (4.5σ, false alarm ≈ 7e-6 each)
    p = get_problem("ou-sde-1d")
    x0 = p.sample_initial(40_000, np.random.default_rng(8))
    x = exact_sampler(p, x0, 1, np.random.default_rng(9))
    law: Gaussian = p.exact_law()
    sd = math.sqrt(law.cov[0, 0])
    assert abs(x.mean() - law.mean[0]) < 4.5 * sd / math.sqrt(x.shape[0])
    assert abs(x.var(ddof=1) - law.cov[0, 0]) < 4.5 * law.cov[0, 0] * math.sqrt(2 / (x.shape[0] - 1))


def heun_rademacher(problem, x0, steps, rng):
    """Stochastic Heun with ±1 increments instead of Gaussian ones: the same mean and covariance on affine drifts,
    but E ξ⁴ = 1 ≠ 3, so its weak order is 1 in general (the fourth moment converges at first order)."""
    h = problem.t_final / steps
    sigma = np.sqrt(2.0 * problem.diffusion * h)
    x = x0.copy()
    for k in range(steps):
        dn = sigma * rng.choice([-1.0, 1.0], size=x.shape)
        b0 = problem.drift(k * h, x)
        x = x + 0.5 * h * (b0 + problem.drift((k + 1) * h, x + h * b0 + dn)) + dn
    return x


def test_moments_observable_catches_non_gaussian_increments():
    """Mean and covariance cannot tell ±1 increments from Gaussian ones on an affine drift; the fourth central
    moment can: its weak error (−2σ⁴ per unit of dt/T, roughly) converges at order 1, so claimed order 2 fails."""
    w = weak_order_study(heun_rademacher, "ou-sde-1d", [0.5, 0.25, 0.125, 0.0625], n=100_000, replicates=16,
                         observables=("mean", "moments"), rng=1)
    labels = [f.label for f in w.fits]
    assert labels == ["mean[0]", "E (x − m)^3", "E (x − m)^4"]
    verdicts = {f.label: v.status for f, v in zip(w.fits, w.verdicts(2, 0.25))}
    assert verdicts["E (x − m)^4"] == "fail" and w.verdict(2, 0.25) == "fail"
    fourth = w.fits[2]   # errors −0.059, −0.108, −0.057, −0.029 at dt = T/1 … T/8: fitted 0.55 [0.34, 0.75]
    assert fourth.fit is not None and fourth.fit.interval()[1] < 1.2
