"""Negative tests for the particle cases (verify/cases/particles.py): each pure check passes on the right
scheme/field and flags a deliberately wrong one (biased stepper, wrong diffusion factor, wrong RK4
weights, curved paths, wrong target, unpaired attention comparison, missing n time scaling)."""
import numpy as np
import pytest

import lagrangian as L
from verify import gaussian as G
from verify.cases import particles as P
from verify.problems import get_problem


def _ou_problem(d):
    p = get_problem(f"ou-sde-{d}d")
    return p.initial, p.drift, p.diffusion


def _biased_heun(drift, t, x, h, dn):
    b0 = drift(t, x)
    return x + 0.5 * h * (b0 + drift(t + h, x + 1.1 * h * b0 + dn)) + dn  # wrong predictor weight


@pytest.mark.parametrize("d", [1, 2])
def test_weak_order_check_passes_and_flags_biased_stepper(d):
    g0, drift, diffusion = _ou_problem(d)
    for stepper in L.SDE_STEPPERS.values():
        assert P.check_weak_order("ok", stepper, drift, diffusion, g0, 1.0).passed
    bad = L.SDEStepper("biased-heun", 1.0, 2.0, _biased_heun)
    assert not P.check_weak_order("bad", bad, drift, diffusion, g0, 1.0).passed


def _transition_law(transition, g0, t, h):
    Phi, phi, _, Q = transition(t, h)
    return G.Gaussian(Phi @ g0.mean + phi, Phi @ g0.cov @ Phi.T + Q)


@pytest.mark.parametrize("d", [1, 2])
def test_affine_transition_matches_the_exact_law(d):
    # the strong check's one-step kernel (scipy block exponentials) against verify.gaussian's linear_sde
    g0, drift, diffusion = _ou_problem(d)
    law = _transition_law(P.affine_transition(drift, diffusion), g0, 0.0, 0.3)
    exact = G.linear_sde(g0, drift, diffusion, 0.3)
    assert np.abs(law.mean - exact.mean).max() < 1e-13 and np.abs(law.cov - exact.cov).max() < 1e-13


def test_forced_ou_transition_matches_the_closed_form_law():
    # the time-dependent kernel over [0.7, 1.1] against forced_ou_law (SymPy re-derives that one)
    g0 = P.FORCED_OU["initial"]
    law = _transition_law(P.forced_ou_transition(), g0, 0.7, 0.4)
    exact = P.forced_ou_law(g0, 0.7, 1.1)
    assert np.abs(law.mean - exact.mean).max() < 1e-13 and np.abs(law.cov - exact.cov).max() < 1e-13


def test_strong_error_matches_the_closed_form_for_an_exact_mean_step():
    # a stepper that applies the exact mean map and puts the noise in as J dn / h is not the exact solution:
    # its pathwise error must equal the closed form of the unresolved noise, sqrt(N tr(Q − J 2D Jᵀ / h)) for D
    # scalar and N steps of the same (autonomous) kernel, propagated by e^{Bh} in between (here 1D, so exact)
    g0, drift, diffusion = _ou_problem(1)
    tr = P.affine_transition(drift, diffusion)
    Phi, phi, J, Q = tr(0.0, 0.125)

    def exact_mean_step(f, t, x, h, dn):
        return x @ Phi.T + phi + dn @ (J / h).T

    stepper = L.SDEStepper("exact-mean", 1.0, 1.0, exact_mean_step)
    e = P.strong_error(stepper, drift, diffusion, g0, 1.0, 8, tr)
    per_step = float(Q[0, 0] - J[0, 0] ** 2 * 2 * diffusion / 0.125)   # the variance the increment cannot explain
    want = np.sqrt(per_step * sum(Phi[0, 0] ** (2 * k) for k in range(8)))
    assert abs(e - want) < 1e-12 * want


@pytest.mark.parametrize("d", [1, 2])
def test_strong_order_check_passes_and_flags_pathwise_wrong_schemes(d):
    g0, drift, diffusion = _ou_problem(d)
    tr = P.affine_transition(drift, diffusion)
    for stepper in L.SDE_STEPPERS.values():
        assert P.check_strong_order("ok", stepper, drift, diffusion, g0, 1.0, tr).passed
    em = L.SDE_STEPPERS["euler-maruyama"].step
    flipped = L.SDEStepper("flipped-noise", 1.0, 1.0, lambda f, t, x, h, dn: em(f, t, x, h, -dn))
    assert not P.check_strong_order("bad", flipped, drift, diffusion, g0, 1.0, tr).passed   # same law, other path
    overclaimed = L.SDEStepper("em-claims-1.5", 1.5, 1.0, em)
    assert not P.check_strong_order("bad", overclaimed, drift, diffusion, g0, 1.0, tr).passed


def test_strong_order_check_flags_a_forced_drift_read_at_the_wrong_time():
    g0, D, t0, t1 = P.FORCED_OU["initial"], P.FORCED_OU["diffusion"], P.FORCED_OU["t0"], P.FORCED_OU["t1"]
    tr = P.forced_ou_transition()
    drift = P.forced_ou_drift()
    em = L.SDE_STEPPERS["euler-maruyama"]
    assert P.check_strong_order("ok", em, drift, D, g0, t1, tr, t0=t0).passed
    late = L.SDEStepper("em-late", 1.0, 1.0, lambda f, t, x, h, dn: em.step(f, t + 0.25, x, h, dn))
    assert not P.check_strong_order("bad", late, drift, D, g0, t1, tr, t0=t0).passed


def test_moment_checks_flag_wrong_diffusion_factor():
    g0, drift, diffusion = _ou_problem(2)
    exact = G.linear_sde(g0, drift, diffusion, 1.0)
    stepper = L.SDE_STEPPERS["heun"]
    scheme = P.scheme_law(stepper, drift, diffusion, g0, 1.0, 8)
    rng = np.random.default_rng(0)
    run = lambda D: L.integrate_sde(lambda t, x: drift(x), D, g0.sample(20_000, rng), 0, 1, 8,  # noqa: E731
                                    rng=rng, method="heun")
    assert all(c.passed for c in P.check_moments_with_bias("ok", run(diffusion), exact, scheme))
    wrong = run(diffusion / 2)  # the sqrt(D) dW convention
    assert not all(c.passed for c in P.check_moments_with_bias("bad", wrong, exact, scheme))


def test_moments_with_bias_holds_its_false_alarm_rate_at_small_n():
    # draws of the scheme's own law at n = 30, α = 0.05 per check, 3 000 sets: the exact standard errors of that law
    # keep the alarm rate ≤ α (count Binomial(3000, ≤ 0.05): above 0.065 is 3.7 sd, this test's false alarm ≤ 1e-4)
    rng = np.random.default_rng(41)
    scheme = G.Gaussian([0.3, -1.0], [[2.0, 0.6], [0.6, 0.5]])
    exact = G.Gaussian([0.35, -1.0], [[2.1, 0.6], [0.6, 0.45]])
    alarms = np.zeros(2)
    for _ in range(3000):
        checks = P.check_moments_with_bias("x", scheme.sample(30, rng), exact, scheme, false_alarm=0.05)
        alarms += [not c.passed for c in checks]
    assert np.all(alarms / 3000 <= 0.065)


def test_ode_order_check_flags_wrong_rk4():
    assert P.ode_order_study("rk4").checks(4, 0.3)[0].passed

    def wrong(field, t, x, h):  # RK4 with k3 taken at the wrong time
        k1 = field(t, x)
        k2 = field(t + 0.5 * h, x + 0.5 * h * k1)
        k3 = field(t + 0.5 * h, x + 0.5 * h * k1)
        k4 = field(t + h, x + h * k3)
        return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    bad = P.ode_order_study(L.ODEStepper("bad", 4, 4, wrong)).checks(4, 0.3)[0]
    assert not bad.passed and bad.verdict == "fail"


def test_straight_line_and_w2_checks_flag_the_flow_matching_paths():
    g0 = G.Gaussian([0.5, -1.0], [[1.0, 0.4], [0.4, 0.6]])
    g1 = G.Gaussian([-0.5, 1.0], [[0.5, -0.2], [-0.2, 1.5]])
    x0 = g0.sample(500, np.random.default_rng(2))
    mccann = lambda t, x: G.mccann_field(g0, g1, t)(x)  # noqa: E731
    assert all(c.passed for c in P.check_straight_lines("ok", g0, g1, x0, mccann))
    # flow matching between non-commuting Gaussians transports g0 to g1 along curved paths
    assert not all(c.passed for c in P.check_straight_lines("bad", g0, g1, x0, P.fm_field(g0, g1)))


def test_w2_check_flags_wrong_target():
    g0, g1 = P._fm_pair()
    x1 = L.integrate_ode(P.fm_field(g0, g1), g0.sample(400, np.random.default_rng(3)), 0, 1, 16)
    assert P.check_w2_to_target("ok", x1, g1, np.random.default_rng(4)).passed
    swapped = G.Gaussian(g1.mean, g1.cov[::-1, ::-1])  # wrong covariance orientation
    xw = L.integrate_ode(P.fm_field(g0, swapped), g0.sample(400, np.random.default_rng(3)), 0, 1, 16)
    assert not P.check_w2_to_target("bad", xw, g1, np.random.default_rng(4)).passed


def test_kernel_fm_rate_check_flags_a_non_converging_estimate():
    assert P.check_kernel_fm_rate("ok", [1000, 8000, 64000], [0.17, 0.089, 0.043]).passed
    assert not P.check_kernel_fm_rate("bad", [1000, 8000, 64000], [0.17, 0.15, 0.14]).passed


def test_attention_pairing_check_flags_unpaired_comparison():
    sizes, reps = [250, 500], [4, 2]
    rng_for = lambda n: (lambda r: np.random.default_rng([7, n, r]))  # noqa: E731
    paired = [P.attention_errors(n, k, rng_for(n)) for n, k in zip(sizes, reps)]
    unpaired = [P.attention_errors(n, k, rng_for(n), paired=False) for n, k in zip(sizes, reps)]
    assert all(c.passed for c in P.check_attention_pairing("paired", sizes, paired))
    assert not all(c.passed for c in P.check_attention_pairing("unpaired", sizes, unpaired))


def test_blowup_check_requires_a_reported_blowup():
    assert P.check_blowup_time("ok", 0.5, 1.5).passed
    assert not P.check_blowup_time("no blow-up before t", 0.1, 1.5).passed


def test_network_paired_error_flags_missing_n_scaling():
    u, y, theta0 = P._network_problem(np.random.default_rng(5), 100)
    assert P.network_paired_error(theta0, u, y, 2.0, 40) < 1e-6
    field = L.network_field(u, y)
    unscaled = lambda t, th: field(t, th) / th.shape[0]  # noqa: E731  (plain gradient of F: time not rescaled)
    assert P.network_paired_error(theta0, u, y, 2.0, 40, field=unscaled) > 1e-3


def test_stage_count_check_flags_a_stepper_that_evaluates_more_than_it_declares():
    x0 = np.zeros((5, 2))
    field = P.time_dependent_affine_field()
    for method in L.ODE_STEPPERS:
        assert P.check_stage_count("ok", method, field, x0, 0.3, 1.3).passed
    rk4 = L.ODE_STEPPERS["rk4"]
    wasteful = L.ODEStepper("rk4-twice", 4, 4, lambda f, t, x, h: (f(t, x), rk4.step(f, t, x, h))[1])
    assert not P.check_stage_count("bad", wasteful, field, x0, 0.3, 1.3).passed
    assert not P.check_stage_count("bad", L.ODEStepper("euler-says-2", 1, 2, L.ODE_STEPPERS["euler"].step), field,
                                   x0, 0.3, 1.3).passed
