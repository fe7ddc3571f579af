"""Report checks that exercise the public particle API the report used to leave out (time-dependent SDE drifts for
both steppers, NGP deposits and outside="raise", Gaussian KDEs, sliced W2, ReLU networks and network_output,
affine_field / gradient_field / probability_flow_field, verify.gaussian.expectation and linear_network_rhs).

Each check passes on the right scheme, field or value and is shown to flag a deliberately wrong one (the cases
themselves are run in quick mode by tests/test_option_coverage.py)."""
import numpy as np
import pytest
import sympy as sp
from scipy.linalg import expm

import lagrangian as L
import lagrangian.integrators as LI
from verify import gaussian as G
from verify.cases import grid_vs_particles as gvp
from verify.cases import moment_laws as ML
from verify.cases import optimal_transport as OT
from verify.cases import particles as P
from verify.checks import check_samples_match
from verify.harness import CaseContext

FO = P.FORCED_OU


# --------------------------------------------------------------------------------------------- time-dependent SDE
def _heun_corrector_at_t(drift, t, x, h, dn):
    """Stochastic Heun with the stage-time bug: the corrector's drift is evaluated at t instead of t + h."""
    b0 = drift(t, x)
    support = x + h * b0 + dn
    return x + 0.5 * h * (b0 + drift(t, support)) + dn


WRONG_TIME_HEUN = L.SDEStepper("heun", 1.0, 2.0, _heun_corrector_at_t, "Heun with the corrector at t (wrong)")


def _forced(n, seed, method="heun", drift=None, diffusion=FO["diffusion"]):
    rng = np.random.default_rng(seed)
    drift = P.forced_ou_drift() if drift is None else drift
    return L.integrate_sde(drift, diffusion, FO["initial"].sample(n, rng), FO["t0"], FO["t1"], P.FORCED_COARSE,
                           rng=rng, method=method)


def _forced_law(stepper_name="heun"):
    return P.scheme_law(L.SDE_STEPPERS[stepper_name], P.forced_ou_drift(), FO["diffusion"], FO["initial"], FO["t1"],
                        P.FORCED_COARSE, t0=FO["t0"])


def test_forced_ou_law_solves_the_moment_odes_symbolically():
    """The hand-derived closed form of forced_ou_law against SymPy: ODE residuals vanish, initial values hold."""
    t, t0, c, w, D, m0, v0 = sp.symbols("t t0 c omega D m0 v0", positive=True)
    s = sp.Symbol("s", real=True)
    mean = ((1 + t0) ** 2 * m0 + c * sp.integrate((1 + s) ** 2 * sp.sin(w * s), (s, t0, t))) / (1 + t) ** 2
    var = ((1 + t0) ** 4 * v0 + 2 * D * ((1 + t) ** 5 - (1 + t0) ** 5) / 5) / (1 + t) ** 4
    assert sp.simplify(sp.diff(mean, t) - (-2 * mean / (1 + t) + c * sp.sin(w * t))) == 0
    assert sp.simplify(sp.diff(var, t) - (-4 * var / (1 + t) + 2 * D)) == 0
    assert sp.simplify(mean.subs(t, t0) - m0) == 0 and sp.simplify(var.subs(t, t0) - v0) == 0
    values = {t0: FO["t0"], c: FO["c"], w: FO["omega"], D: FO["diffusion"], m0: FO["initial"].mean[0],
              v0: FO["initial"].cov[0, 0]}
    for time in (0.9, FO["t1"]):
        law = P.forced_ou_law(FO["initial"], FO["t0"], time)
        assert law.mean[0] == pytest.approx(float(mean.subs(values).subs(t, time)), rel=1e-13)
        assert law.cov[0, 0] == pytest.approx(float(var.subs(values).subs(t, time)), rel=1e-13)


def test_forced_weak_order_flags_the_stage_time_bug():
    g0, exact = FO["initial"], P.forced_ou_law(FO["initial"], FO["t0"], FO["t1"])
    args = (P.forced_ou_drift(), FO["diffusion"], g0, FO["t1"])
    for stepper in L.SDE_STEPPERS.values():
        assert P.check_weak_order("ok", stepper, *args, t0=FO["t0"], exact=exact).passed
    bad = P.check_weak_order("bad", WRONG_TIME_HEUN, *args, t0=FO["t0"], exact=exact)
    assert bad.verdict == "fail" and bad.value < 1.2   # the corrector at t: weak order 1, not 2
    # on the autonomous OU problem the same bug is invisible: only a time-dependent drift exposes it
    p = P.get_problem("ou-sde-1d")
    assert P.check_weak_order("autonomous", WRONG_TIME_HEUN, p.drift, p.diffusion, p.initial, p.t_final).passed


def test_forced_samples_flag_wrong_stage_time_and_ignored_t0():
    assert all(c.passed for c in check_samples_match("ok", _forced(20_000, 1), _forced_law()))
    wrong = _forced(20_000, 1, method=WRONG_TIME_HEUN)
    assert not all(c.passed for c in check_samples_match("corrector at t", wrong, _forced_law()))
    drift = P.forced_ou_drift()
    from_zero = _forced(20_000, 2, drift=lambda t, x: drift(t - FO["t0"], x))   # a driver that restarts time at 0
    assert not all(c.passed for c in check_samples_match("t0 ignored", from_zero, _forced_law()))


def test_forced_moments_with_bias_flag_a_frozen_drift_and_the_sqrt_d_convention():
    exact, scheme = P.forced_ou_law(FO["initial"], FO["t0"], FO["t1"]), _forced_law()
    assert all(c.passed for c in P.check_moments_with_bias("ok", _forced(20_000, 3), exact, scheme))
    drift = P.forced_ou_drift()
    frozen = _forced(20_000, 3, drift=lambda t, x: drift(FO["t0"], x))   # coefficients read once, at t0
    assert not all(c.passed for c in P.check_moments_with_bias("frozen", frozen, exact, scheme))
    half = _forced(20_000, 3, diffusion=FO["diffusion"] / 2)              # dX = sqrt(D) dW
    assert not all(c.passed for c in P.check_moments_with_bias("sqrt D", half, exact, scheme))


def test_case_catches_a_monkeypatched_heun_with_the_stage_time_bug(monkeypatch):
    """The registered "heun" replaced (in lagrangian and in its integrators module) by the buggy stepper: the case's
    own time-dependent checks fail, while those of the correct Euler–Maruyama still pass."""
    patched = {"euler-maruyama": L.SDE_STEPPERS["euler-maruyama"], "heun": WRONG_TIME_HEUN}
    monkeypatch.setattr(L, "SDE_STEPPERS", patched)
    monkeypatch.setattr(LI, "SDE_STEPPERS", patched)
    ctx = CaseContext("ou-particles-1d", quick=True)
    P._forced_ou_checks(ctx)
    failed = [c.name for c in ctx.checks if not c.passed]
    assert any("weak order of heun" in n for n in failed), failed
    assert not any("euler-maruyama" in n for n in failed), failed


@pytest.mark.parametrize("case", ["ou-particles-1d", "ou-particles-2d"])
def test_case_catches_a_registered_scheme_right_in_law_but_wrong_in_path(monkeypatch, case):
    """Euler–Maruyama fed −dn has the right law at every step (so every weak and sampling check passes) but not the
    Brownian path's own increments: the case's strong-order check of every SDE stepper must fail it, and only it."""
    em = L.SDE_STEPPERS["euler-maruyama"]
    flipped = L.SDEStepper("euler-maruyama", 1.0, 1.0, lambda f, t, x, h, dn: em.step(f, t, x, h, -dn))
    patched = {"euler-maruyama": flipped, "heun": L.SDE_STEPPERS["heun"]}
    monkeypatch.setattr(L, "SDE_STEPPERS", patched)
    monkeypatch.setattr(LI, "SDE_STEPPERS", patched)
    ctx = CaseContext(case, quick=True)
    P._ou_case(ctx, case.replace("particles", "sde"))
    strong = [c.name for c in ctx.checks if "strong order of" in c.name]
    assert len(strong) == (4 if case.endswith("1d") else 2), strong   # every stepper, with the forced drift in 1D
    failed = {c.name for c in ctx.checks if not c.passed}
    assert failed == {n for n in strong if "euler-maruyama" in n}, failed


# --------------------------------------------------------------------------------------------- NGP deposits
@pytest.fixture(scope="module")
def ou_cloud():
    grid, _, exact = gvp.ou_grid(64)
    x = np.vstack([gvp.ou_particles(20_000, np.random.default_rng(k)) for k in range(4)])
    return grid, exact, x


def _ngp(grid, x, **kw):
    return L.deposit(x, grid.lower, grid.upper, grid.shape, **{"method": "ngp", "outside": "clip", **kw})


def test_ngp_chi2_flags_misplaced_smoothed_or_unnormalised_deposits(ou_cloud):
    grid, exact, x = ou_cloud
    n = x.shape[0]
    assert gvp.check_ngp_histogram("ok", grid, _ngp(grid, x, outside="raise"), n, exact).passed
    h = np.asarray(grid.spacing)
    wrong = {"half-cell shift": _ngp(grid, x + 0.5 * h), "transposed axes": _ngp(grid, x[:, ::-1]),
             "CIC instead of NGP": _ngp(grid, x, method="cic"),
             "mass per cell, not density": _ngp(grid, x) * grid.cell_volume}
    for label, rho in wrong.items():
        check = gvp.check_ngp_histogram(label, grid, rho, n, exact)
        assert not check.passed, (label, check.value, check.lower, check.upper)
    assert gvp.check_ngp_histogram("cic", grid, wrong["CIC instead of NGP"], n, exact).value < \
        gvp.check_ngp_histogram("cic", grid, wrong["CIC instead of NGP"], n, exact).lower   # too smooth: low side


def test_outside_raise_check_flags_a_silent_clip(ou_cloud):
    grid, _, x = ou_cloud
    assert gvp.check_deposit_refuses_outside("ok", grid, x[:1000]).passed

    def clipping(x, lower, upper, shape, **kw):
        return L.deposit(x, lower, upper, shape, method="ngp", outside="clip")

    def always_raising(x, lower, upper, shape, **kw):
        raise ValueError("refused")

    assert not gvp.check_deposit_refuses_outside("clips", grid, x[:1000], clipping).passed
    assert not gvp.check_deposit_refuses_outside("raises", grid, x[:1000], always_raising).passed


# --------------------------------------------------------------------------------------------- Gaussian KDE
@pytest.fixture(scope="module")
def kde_sample():
    x = G.Gaussian([0.5, -0.3], [[0.4, 0.1], [0.1, 0.2]]).sample(300, np.random.default_rng(7))
    points = np.random.default_rng(8).uniform(-1.5, 2.0, (200, 2))
    return x, points, np.exp(0.5 * x[:, 0])


def _kde_with_c_not_squared(x, points, *, bandwidth=None, weights=None):
    """Kernel covariance c Σ̂ instead of c² Σ̂."""
    w = np.ones(len(x)) if weights is None else np.asarray(weights)
    n_eff = w.sum() ** 2 / np.sum(w**2)
    c = bandwidth if isinstance(bandwidth, float) else gvp.kde_factor_formula(n_eff, 2, bandwidth or "scott")
    return L.gaussian_kde(x, points, bandwidth=np.sqrt(c), weights=weights)


def _kde_rule_at_n(x, points, *, bandwidth=None, weights=None):
    """The rule evaluated at n instead of the effective size 1/Σw² of weighted samples."""
    if isinstance(bandwidth, str) or bandwidth is None:
        bandwidth = gvp.kde_factor_formula(len(x), 2, bandwidth or "scott")
    return L.gaussian_kde(x, points, bandwidth=bandwidth, weights=weights)


@pytest.mark.parametrize("bandwidth, weighted", [(None, False), ("scott", False), ("silverman", True), (0.3, False)])
def test_kde_checks_pass_and_flag_a_wrong_kernel_width(kde_sample, bandwidth, weighted):
    x, points, w = kde_sample
    weights = w if weighted else None
    assert gvp.check_kde_vs_scipy("ok", x, points, bandwidth=bandwidth, weights=weights).passed
    assert gvp.check_kde_moments("ok", x, bandwidth=bandwidth, weights=weights).passed
    assert not gvp.check_kde_vs_scipy("c Σ", x, points, bandwidth=bandwidth, weights=weights,
                                      kde=_kde_with_c_not_squared).passed
    assert not gvp.check_kde_moments("c Σ", x, bandwidth=bandwidth, weights=weights, kde=_kde_with_c_not_squared).passed
    if weighted:
        assert not gvp.check_kde_vs_scipy("n", x, points, bandwidth=bandwidth, weights=weights,
                                          kde=_kde_rule_at_n).passed
        assert not gvp.check_kde_moments("n", x, bandwidth=bandwidth, weights=weights, kde=_kde_rule_at_n).passed


def test_bandwidth_factor_check_flags_wrong_rules():
    assert gvp.check_bandwidth_factor("ok").passed

    def silverman_without_dimension(n, d, rule="scott"):
        return n ** (-1.0 / (d + 4)) if rule == "scott" else (n * 3 / 4.0) ** (-1.0 / (d + 4))

    def scott_1_over_d(n, d, rule="scott"):
        return n ** (-1.0 / (d + 2)) if rule == "scott" else L.kde_bandwidth_factor(n, d, rule)

    assert not gvp.check_bandwidth_factor("silverman (3/4)", silverman_without_dimension).passed
    assert not gvp.check_bandwidth_factor("scott 1/(d+2)", scott_1_over_d).passed


# --------------------------------------------------------------------------------------------- sliced W2
@pytest.fixture(scope="module")
def sliced_pair():
    g0 = G.Gaussian([0.5, -1.0], [[1.0, 0.4], [0.4, 0.6]])
    g1 = G.Gaussian([-0.5, 1.0], [[0.5, -0.2], [-0.2, 1.5]])
    rng = np.random.default_rng(9)
    return g0, g1, g1.sample(2000, rng), g0.sample(2000, rng)


def _sliced_squared(x, y, *, projections, rng):
    return L.sliced_w2(x, y, projections=projections, rng=rng) ** 2


def _sliced_unnormalised(x, y, *, projections, rng):
    theta = rng.standard_normal((2, projections))   # directions not normalised: E|θ|² = 2
    px, py = np.sort(x @ theta, axis=0), np.sort(y @ theta, axis=0)
    return float(np.sqrt(np.mean((px - py) ** 2)))


def _sliced_one_quadrant(x, y, *, projections, rng):
    theta = rng.random((2, projections))             # directions only in the first quadrant
    theta /= np.linalg.norm(theta, axis=0)
    px, py = np.sort(x @ theta, axis=0), np.sort(y @ theta, axis=0)
    return float(np.sqrt(np.mean((px - py) ** 2)))


def test_sliced_w2_check_passes_and_flags_wrong_estimators(sliced_pair):
    g0, g1, x, y = sliced_pair
    for seed in range(3):
        assert OT.check_sliced_w2("ok", x, y, g1, g0, np.random.default_rng(seed)).passed
    for wrong in (_sliced_squared, _sliced_unnormalised, _sliced_one_quadrant):
        check = OT.check_sliced_w2("bad", x, y, g1, g0, np.random.default_rng(0), sliced=wrong)
        assert not check.passed, (wrong.__name__, check.value)
    # the exact-law reference: a law whose mean is one unit off does not match these clouds (the spread of 128 random
    # projections, 0.2 here, hides shifts below ~0.5)
    shifted = G.Gaussian(g1.mean + 1.0, g1.cov)
    assert not OT.check_sliced_w2("wrong law", x, y, shifted, g0, np.random.default_rng(0)).passed


def test_sliced_w2_1d_identity_flags_wrong_estimators():
    rng = np.random.default_rng(10)
    x, y = rng.normal(0.0, 1.0, (500, 1)), rng.normal(1.0, 2.0, (500, 1))
    assert OT.check_sliced_w2_1d("ok", x, y, np.random.default_rng(0)).passed
    assert not OT.check_sliced_w2_1d("squared", x, y, np.random.default_rng(0), sliced=_sliced_squared).passed

    def unsorted(x, y, *, projections, rng):   # pairs the samples in their given order, not by quantile
        return float(np.sqrt(np.mean((x - y) ** 2)))

    assert not OT.check_sliced_w2_1d("unsorted", x, y, np.random.default_rng(0), sliced=unsorted).passed


# --------------------------------------------------------------------------------------------- networks
@pytest.fixture(scope="module")
def network():
    u, y, theta = P._network_problem(np.random.default_rng(5), 200)
    return u, y, theta


def test_network_output_check_flags_wrong_normalisation_and_activation(network):
    u, _, theta = network
    for activation in ("linear", "relu"):
        assert P.check_network_output("ok", theta, u, activation).passed

    def unnormalised(th, uu, *, activation):
        return L.network_output(th, uu, activation=activation) * th.shape[0]

    def always_linear(th, uu, *, activation):
        return L.network_output(th, uu, activation="linear")

    assert not P.check_network_output("sum", theta, u, "relu", unnormalised).passed
    assert not P.check_network_output("linear for relu", theta, u, "relu", always_linear).passed


def test_network_gradient_check_flags_wrong_fields(network):
    u, y, theta = network
    for activation in ("linear", "relu"):
        assert P.check_network_gradient("ok", theta, u, y, activation).passed
    field = L.network_field(u, y, activation="relu")
    wrong = {"plain gradient (no n)": lambda t, th: field(t, th) / th.shape[0],
             "linear derivative for relu": L.network_field(u, y, activation="linear"),
             "ascent": lambda t, th: -field(t, th)}
    for label, f in wrong.items():
        assert not P.check_network_gradient(label, theta, u, y, "relu", field=f).passed, label


def test_network_dissipation_flags_wrong_fields(network):
    u, y, theta = network
    assert all(c.passed for c in P.check_network_dissipation("ok", theta, u, y, "relu"))
    field = L.network_field(u, y, activation="relu")
    unscaled = P.check_network_dissipation("no n", theta, u, y, "relu", field=lambda t, th: field(t, th) / th.shape[0])
    assert not unscaled[1].passed
    ascent = P.check_network_dissipation("ascent", theta, u, y, "relu", t1=0.2, steps=10,
                                         field=lambda t, th: -field(t, th))
    assert not ascent[0].passed and not ascent[1].passed


def _rhs_plus_r(mean, cov, S, r):
    return G.linear_network_rhs(mean, cov, S, -np.asarray(r))   # h = S q + r


def _rhs_one_sided(mean, cov, S, r):
    dm, dc = G.linear_network_rhs(mean, cov, S, r)
    return dm, 0.5 * dc + 0.5 * (dc - dc.T)                     # drops Σ B_h, keeps B_h Σ


def test_network_moment_rhs_checks_flag_wrong_right_hand_sides(network):
    u, y, theta = network
    assert P.check_network_moment_rhs("ok", theta, u, y).passed
    S, r, _ = G.data_moments(u, y)
    g0 = G.Gaussian([0.1, 0.0, -0.1, 0.2], 0.25 * np.eye(4))
    g = G.linear_network(g0, S, r, 1.0)
    assert ML.check_network_rhs_raw_moments("ok", g, S, r).passed
    assert ML.check_network_rhs_derivative("ok", g0, S, r).passed
    half_speed = lambda m, c, S, r: tuple(0.5 * a for a in G.linear_network_rhs(m, c, S, r))  # noqa: E731
    for label, rhs in (("S q + r", _rhs_plus_r), ("one-sided", _rhs_one_sided), ("half speed", half_speed)):
        assert not P.check_network_moment_rhs(label, theta, u, y, rhs=rhs).passed, label
        assert not ML.check_network_rhs_raw_moments(label, g, S, r, rhs=rhs).passed, label
        assert not ML.check_network_rhs_derivative(label, g0, S, r, rhs=rhs).passed, label


# --------------------------------------------------------------------------------------------- fields
@pytest.fixture(scope="module")
def flow_setup():
    x0 = G.Gaussian([0.0, 0.0], np.eye(2)).sample(100, np.random.default_rng(11))
    t0, t1 = 0.3, 1.3
    exact_affine = P.affine_flow_map(P.AFFINE_A0, P.AFFINE_C0, P._modulation_time(t1) - P._modulation_time(t0))(x0)
    exact_gradient = P.POTENTIAL_MIN + (x0 - P.POTENTIAL_MIN) @ expm(-(t1 - t0) * P.POTENTIAL_H).T
    return x0, t0, t1, exact_affine, exact_gradient


def test_flow_order_check_flags_frozen_transposed_and_ascending_fields(flow_setup):
    x0, t0, t1, exact_affine, exact_gradient = flow_setup
    for method in L.ODE_STEPPERS:
        assert P.check_flow_order("ok", P.time_dependent_affine_field(), x0, exact_affine, t0, t1, method=method).passed
    assert P.check_flow_order("ok", P.quadratic_gradient_field(), x0, exact_gradient, t0, t1).passed
    frozen = L.affine_field(P._modulation(t0) * P.AFFINE_A0, P._modulation(t0) * P.AFFINE_C0)
    transposed = L.affine_field(lambda t: P._modulation(t) * P.AFFINE_A0.T, lambda t: P._modulation(t) * P.AFFINE_C0)
    for label, field in (("coefficients frozen at t0", frozen), ("transposed matrix", transposed)):
        assert P.check_flow_order(label, field, x0, exact_affine, t0, t1).verdict == "fail", label
    ascent = L.gradient_field(lambda x: -(x - P.POTENTIAL_MIN) @ P.POTENTIAL_H)   # +∇V
    assert P.check_flow_order("ascent", ascent, x0, exact_gradient, t0, t1).verdict == "fail"


def test_probability_flow_law_check_flags_wrong_fields():
    problem = gvp.ou_twins()[0]
    anisotropic = P.get_problem("ou-sde-2d")
    for p in (problem, anisotropic):
        assert gvp.check_probability_flow_law("ok", p, gvp._probability_flow(p)).passed
    score = lambda t, x: problem.exact_law(t).score(x)  # noqa: E731
    wrong = {"D/2": L.probability_flow_field(problem.drift, problem.diffusion / 2, score),
             "+D score": lambda t, x: problem.drift(t, x) + problem.diffusion * score(t, x),
             "score at t = 0": L.probability_flow_field(problem.drift, problem.diffusion,
                                                        lambda t, x: problem.exact_law(0.0).score(x))}
    for label, field in wrong.items():
        assert not gvp.check_probability_flow_law(label, problem, field).passed, label
    # the matrix D of ou-sde-2d replaced by its trace/2 (isotropic): another law
    iso = L.probability_flow_field(anisotropic.drift, float(np.trace(anisotropic.diffusion)) / 2,
                                   lambda t, x: anisotropic.exact_law(t).score(x))
    assert not gvp.check_probability_flow_law("isotropic D", anisotropic, iso).passed


# --------------------------------------------------------------------------------------------- expectation
def _expectation_unnormalised(g, f, *, order=20):
    return G.expectation(g, f, order=order) * np.sqrt(2 * np.pi)   # Hermite weights without 1/sqrt(2π)


def _expectation_physicists(g, f, *, order=20):
    z, w = np.polynomial.hermite.hermgauss(order)                  # weight e^{-z²}: nodes need a √2
    grids = np.meshgrid(*([z] * g.dim), indexing="ij")
    nodes = np.stack([a.ravel() for a in grids], axis=-1)
    weights = np.prod(np.stack(np.meshgrid(*([w] * g.dim), indexing="ij"), -1).reshape(-1, g.dim), axis=1)
    weights = weights / np.pi ** (g.dim / 2)
    return np.tensordot(weights, f(g.mean + nodes @ np.linalg.cholesky(g.cov).T), axes=(0, 0))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_expectation_checks_flag_low_order_and_wrong_rules(d):
    rng = np.random.default_rng(d)
    a = rng.standard_normal((d, d))
    g = G.Gaussian(rng.uniform(-1, 1, d), a @ a.T + 0.5 * np.eye(d))
    assert all(c.passed for c in ML.check_gaussian_expectations("ok", g))
    assert not ML.check_gaussian_expectations("order 2", g, order=2)[0].passed   # exact only to degree 3
    for wrong in (_expectation_unnormalised, _expectation_physicists):
        assert not all(c.passed for c in ML.check_gaussian_expectations("bad", g, expectation=wrong)), wrong.__name__


def test_empirical_w2_checks_catch_ignored_weights():
    rng = np.random.default_rng(3)
    for d in (1, 2):
        x, y = rng.standard_normal((30, d)), rng.standard_normal((40, d)) + 0.5
        wx, wy = rng.dirichlet(np.ones(30)), rng.dirichlet(np.ones(40))
        assert OT.check_empirical_w2("right", x, y, wx, wy).passed
        unweighted = lambda a, b, weights_x=None, weights_y=None: L.w2_squared(a, b)    # noqa: E731
        assert not OT.check_empirical_w2("weights ignored", x, y, wx, wy, w2_squared=unweighted).passed
        counts = rng.integers(1, 5, 30)
        assert OT.check_repeated_points("right", x, y, counts).passed
        assert not OT.check_repeated_points("weights ignored", x, y, counts, w2_squared=unweighted).passed


def test_snapshot_interpolation_check_catches_a_frozen_last_interval():
    def frozen(lower, upper, values, times):
        field = L.grid_velocity_field(lower, upper, values, times=times)
        return lambda t, x: field(min(t, times[-2]), x)         # the last interval held at its start
    rng = np.random.default_rng(0)
    assert gvp.check_snapshot_interpolation("right", rng).passed
    assert not gvp.check_snapshot_interpolation("frozen", rng, make=frozen).passed


def test_snapshot_interpolation_check_catches_the_wrong_level_before_the_first_time():
    """The mutant of GridVelocityField.__call__ that uses the second snapshot before times[0] (mutmut 17)."""
    def second_level(lower, upper, values, times):
        field = L.grid_velocity_field(lower, upper, values, times=times)
        return lambda t, x: field(times[1], x) if t <= times[0] else field(t, x)
    rng = np.random.default_rng(0)
    assert not gvp.check_snapshot_interpolation("second level", rng, make=second_level).passed


def test_outside_modes_pass_for_the_library_field():
    assert all(c.passed for c in gvp.check_outside_modes("right", np.random.default_rng(0)))


@pytest.mark.parametrize("wrong", ["clamp as extrapolate", "extrapolate as clamp", "raise takes all",
                                   "extrapolate constant", "raise refuses the faces"])
def test_outside_modes_check_catches_a_swapped_or_broken_mode(wrong):
    """Each wrong behaviour of GridVelocityField's outside modes fails one of the checks."""
    def make(lower, upper, values, *, times=None, outside="raise"):
        swap = {"clamp as extrapolate": {"clamp": "extrapolate"}, "extrapolate as clamp": {"extrapolate": "clamp"},
                "raise takes all": {"raise": "clamp"}, "extrapolate constant": {"extrapolate": "clamp"}}
        field = L.grid_velocity_field(lower, upper, values, times=times,
                                      outside=swap.get(wrong, {}).get(outside, outside))
        if wrong == "raise refuses the faces" and outside == "raise":
            lo, hi = np.asarray(lower), np.asarray(upper)

            def strict(t, x):
                if np.any((x <= lo) | (x >= hi)):
                    raise ValueError("x on or beyond a face")
                return field(t, x)
            return strict
        return field
    checks = gvp.check_outside_modes("wrong", np.random.default_rng(0), make=make)
    assert not all(c.passed for c in checks)
