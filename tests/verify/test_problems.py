"""verify.problems: built-in problems and their exact references against independent closed forms,
finite differences and a hand-written RK4; every construction mistake is named."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import solve_ivp
from scipy.stats import norm as normal

from eulerian import Grid
from verify import gaussian as G
from verify.cli import main
from verify.problems import (ExpressionField, Problem, UnknownProblemError, get_problem, list_problems,
                             space_symbols)
from verify.symbolic import manufactured_source

EXACT = 1e-12      # closed forms compared in double precision (matrix exponentials of small, well-scaled matrices)
BUILTIN = ["affine-continuity-2d", "affine-ode-2d", "heat-2d", "mms-continuity-2d", "mms-continuity-box-2d",
           "mms-fokker-planck-2d", "mms-fokker-planck-box-2d", "ou-1d", "ou-2d", "ou-sde-1d", "ou-sde-2d"]


def gaussian_problem(**changes):
    """A valid 1D Fokker–Planck problem; tests change one field to make it invalid."""
    base = dict(name="p", kind="fokker-planck", lower=(-5.0,), upper=(5.0,), t_final=1.0,
                drift=G.Affine([[-1.0]], [0.0]), diffusion=0.5, initial=G.Gaussian([0.0], [[1.0]]))
    base.update(changes)
    return Problem(**base)


def mms_1d(diffusion=0.3):
    t, (x,) = space_symbols(1)
    return manufactured_source(1 + sp.sin(x - t) / 2, (sp.cos(x) / 2,), diffusion, t, (x,))


# ------------------------------------------------------------------------------------------ registry
@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_problem_constructs(name):
    p = get_problem(name)
    assert p.name == name and p.description and p.levels and p.t_final > 0
    assert p.dim == len(p.lower) == len(p.upper)
    assert name.endswith(f"{p.dim}d")
    assert isinstance(p.summary(), str) and p.kind in p.summary()
    assert get_problem(name) is not p  # a fresh object each time


def test_list_problems_is_the_builtin_set_and_the_cli_prints_it(capsys):
    assert list_problems() == BUILTIN
    assert main(["problems"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list_problems()


def test_unknown_problem_names_a_near_miss():
    with pytest.raises(UnknownProblemError, match=r"unknown problem 'ou-1'\. Did you mean: ou-1d"):
        get_problem("ou-1")
    with pytest.raises(UnknownProblemError, match="twinflow problems") as exc:
        get_problem("completely-different")
    assert "Did you mean" not in str(exc.value)
    with pytest.raises(TypeError, match="problem name must be a string"):
        get_problem(3)


# ------------------------------------------------------------------------------------------ Gaussian references
@pytest.mark.parametrize("t", [0.0, 0.3, 1.0, 2.5])
def test_heat_2d_law_is_initial_covariance_plus_2DtI(t):
    p = get_problem("heat-2d")
    law = p.exact_law(t)
    sigma0 = np.array([[0.6, 0.2], [0.2, 0.4]])          # the problem's initial covariance, written by hand
    np.testing.assert_allclose(law.mean, [0.3, -0.2], rtol=0, atol=EXACT)
    np.testing.assert_allclose(law.cov, sigma0 + 2 * 0.5 * t * np.eye(2), rtol=0, atol=EXACT)


@pytest.mark.parametrize("t", [0.0, 0.1, 0.5, 1.0, 3.0])
def test_ou_1d_law_matches_the_closed_form(t):
    h, c, D, m0, v0 = 1.0, 0.2, 0.5, 1.0, 0.5
    m = m0 * np.exp(-h * t) + c / h * (1 - np.exp(-h * t))
    v = v0 * np.exp(-2 * h * t) + D / h * (1 - np.exp(-2 * h * t))
    law = get_problem("ou-1d").exact_law(t)
    assert abs(law.mean[0] - m) < EXACT and abs(law.cov[0, 0] - v) < EXACT
    # default time is t_final
    if t == 1.0:
        assert np.allclose(get_problem("ou-1d").exact_law().cov, law.cov, rtol=0, atol=0)


def test_ou_1d_transition_kernel_is_the_closed_form():
    phi, q = get_problem("ou-1d").transition(0.7)
    e = np.exp(-0.7)
    np.testing.assert_allclose(phi.matrix, [[e]], atol=EXACT)
    np.testing.assert_allclose(phi.offset, [0.2 * (1 - e)], atol=EXACT)
    np.testing.assert_allclose(q, [[0.5 * (1 - e ** 2)]], atol=EXACT)


@pytest.mark.parametrize("name", ["ou-1d", "ou-2d", "heat-2d", "affine-continuity-2d", "ou-sde-1d", "ou-sde-2d",
                                  "affine-ode-2d"])
@pytest.mark.parametrize("t", [0.4, None])
def test_transition_applied_to_the_initial_law_is_the_exact_law(name, t):
    p = get_problem(name)
    phi, q = p.transition(t)
    pushed_mean = phi(p.initial.mean)
    pushed_cov = phi.matrix @ p.initial.cov @ phi.matrix.T + q
    law = p.exact_law(t)
    np.testing.assert_allclose(pushed_mean, law.mean, rtol=0, atol=EXACT)
    np.testing.assert_allclose(pushed_cov, law.cov, rtol=0, atol=EXACT)


def test_ou_sde_2d_law_matches_an_independent_moment_ode():
    """Non-normal drift and anisotropic D: dm/dt = Bm + c, dΣ/dt = BΣ + ΣBᵀ + 2D integrated by DOP853."""
    p = get_problem("ou-sde-2d")
    B, c = p.drift.matrix, p.drift.offset
    D = np.array([[0.5, 0.1], [0.1, 0.3]])

    def rhs(_t, y):
        m, S = y[:2], y[2:].reshape(2, 2)
        return np.concatenate([B @ m + c, (B @ S + S @ B.T + 2 * D).ravel()])

    y0 = np.concatenate([[1.0, -0.5], np.array([[0.3, 0.05], [0.05, 0.2]]).ravel()])
    sol = solve_ivp(rhs, (0, p.t_final), y0, method="DOP853", rtol=1e-12, atol=1e-13)
    law = p.exact_law()
    np.testing.assert_allclose(law.mean, sol.y[:2, -1], rtol=0, atol=1e-10)
    np.testing.assert_allclose(law.cov, sol.y[2:, -1].reshape(2, 2), rtol=0, atol=1e-10)


def _tail_bound(law, lower, upper):
    """Union bound on the mass of a Gaussian outside the box: Σ_k P(X_k < lower_k) + P(X_k > upper_k)."""
    sd = np.sqrt(np.diag(law.cov))
    return float(sum(normal.cdf((a - m) / s) + normal.sf((b - m) / s)
                     for a, b, m, s in zip(lower, upper, law.mean, sd)))


@pytest.mark.parametrize("name, cells", [("ou-1d", 256), ("ou-2d", 64), ("heat-2d", 64),
                                         ("affine-continuity-2d", 64)])
@pytest.mark.parametrize("when", ["initial", "final"])
def test_gaussian_exact_density_integrates_to_one(name, cells, when):
    """Cell averages by the grid's 6-point Gauss rules. On a cell of width h the rule errs by
    (6!)⁴/(13·(12!)³)·h¹³·max|f⁽¹²⁾| ≈ 2e-16·h·He₁₂-size(1e4)·(h/σ)¹² · max f, far below 1e-10 for h ≤ 0.6σ
    (σ the smallest standard deviation); the mass outside the box is bounded by the union bound on the marginal
    tails."""
    p = get_problem(name)
    grid = Grid(p.lower, p.upper, (cells,) * p.dim)
    t = 0.0 if when == "initial" else p.t_final
    law = p.exact_law(t)
    assert max(grid.spacing) <= 0.6 * np.sqrt(np.linalg.eigvalsh(law.cov)[0])
    density = p.initial_density if when == "initial" else (lambda x: p.exact_density(p.t_final, x))
    mass = grid.cell_averages(density).sum() * grid.cell_volume
    tail = _tail_bound(law, p.lower, p.upper)
    assert 1 - tail - 1e-10 <= mass <= 1 + 1e-10, (mass, tail)
    if p.dim == 1:  # 1D: the box mass exactly
        assert abs(mass - (normal.cdf(6, law.mean[0], math.sqrt(law.cov[0, 0]))
                           - normal.cdf(-6, law.mean[0], math.sqrt(law.cov[0, 0])))) < 1e-10
    np.testing.assert_allclose(p.exact_cell_averages(grid, t), grid.cell_averages(density), rtol=0, atol=1e-14)


# ------------------------------------------------------------------------------------------ manufactured problems
FD_STEP = 1e-3
# Central differences with step δ: truncation δ²/6·|f'''| ≈ 2e-7 for these O(1)-derivative trigonometric
# fields, round-off ε|f|/δ² ≈ 2e-10 for the second differences; 1e-5 relative leaves a factor ≥ 50.
FD_TOL = 1e-5


def fd_residual(rho, drift, D, source, t, x):
    """∂ρ/∂t + div(ρb) − DΔρ − S at (t, x) by central differences in t and every x_k (scalar D)."""
    d = x.shape[-1]
    dt = (rho(t + FD_STEP, x) - rho(t - FD_STEP, x)) / (2 * FD_STEP)
    div = np.zeros(x.shape[:-1])
    lap = np.zeros(x.shape[:-1])
    for k in range(d):
        e = np.zeros(d)
        e[k] = FD_STEP
        flux = lambda y: rho(t, y) * drift(t, y)[..., k]  # noqa: E731
        div += (flux(x + e) - flux(x - e)) / (2 * FD_STEP)
        lap += (rho(t, x + e) - 2 * rho(t, x) + rho(t, x - e)) / FD_STEP ** 2
    s = source(t, x)
    scale = 1 + np.abs(dt) + np.abs(div) + np.abs(D * lap) + np.abs(s)
    return (dt + div - D * lap - s) / scale


def mms_points(p, n=25, seed=11):
    rng = np.random.default_rng(seed)
    x = rng.uniform(p.lower, p.upper, size=(n, p.dim))
    t = rng.uniform(2 * FD_STEP, p.t_final, size=n)
    return t, x


def fp_rho(t, x):  # the density of mms-fokker-planck-2d, written independently of SymPy
    return 1 + 0.5 * np.sin(x[..., 0] - t) * np.cos(x[..., 1])


def fp_drift(t, x):
    return np.stack([0.6 * np.sin(x[..., 1]) + 0.3 * np.cos(t), 0.5 * np.cos(x[..., 0])], axis=-1)


def co_rho(t, x):  # mms-continuity-2d
    return 1 + 0.5 * np.sin(x[..., 0] + x[..., 1] - t) + 0.25 * np.cos(2 * x[..., 1])


def co_drift(t, x):
    return np.stack([1 + 0.5 * np.sin(x[..., 1]) * np.cos(t), 0.5 + np.cos(x[..., 0]) / 3], axis=-1)


@pytest.mark.parametrize("name, rho, drift, D", [("mms-fokker-planck-2d", fp_rho, fp_drift, 0.3),
                                                 ("mms-continuity-2d", co_rho, co_drift, 0.0)])
def test_manufactured_density_solves_the_pde_with_its_source(name, rho, drift, D):
    p = get_problem(name)
    assert p.diffusion == D and p.boundary == "periodic" and p.source is not None
    t, x = mms_points(p)
    # the problem's density and drift are the stated ones ...
    for ti, xi in zip(t, x):
        assert abs(p.exact_density(ti, xi) - rho(ti, xi)) < 1e-14
        np.testing.assert_allclose(p.drift(ti, xi), drift(ti, xi), rtol=0, atol=1e-14)
    np.testing.assert_allclose(p.initial_density(x), rho(0.0, x), rtol=0, atol=1e-14)
    # ... and its source closes the equation, by finite differences at random points and times
    res = np.array([fd_residual(rho, drift, D, p.source, ti, xi) for ti, xi in zip(t, x)])
    assert np.max(np.abs(res)) < FD_TOL, np.max(np.abs(res))


def test_residual_check_catches_a_source_for_the_wrong_diffusion():
    """The source of mms-fokker-planck-2d is built for D = 0.3; against D = 0.6 the residual is 0.3Δρ = O(0.1)."""
    p = get_problem("mms-fokker-planck-2d")
    t, x = mms_points(p)
    res = np.array([fd_residual(fp_rho, fp_drift, 0.6, p.source, ti, xi) for ti, xi in zip(t, x)])
    assert np.max(np.abs(res)) > 100 * FD_TOL
    # and a drift with a wrong sign is caught too
    flipped = lambda t, y: -fp_drift(t, y)  # noqa: E731
    res = np.array([fd_residual(fp_rho, flipped, 0.3, p.source, ti, xi) for ti, xi in zip(t, x)])
    assert np.max(np.abs(res)) > 100 * FD_TOL



def test_problem_rejects_a_manufactured_solution_for_another_diffusion():
    m = mms_1d(diffusion=0.3)
    t, x = np.linspace(0.05, 0.5, 10), np.linspace(0.0, 2 * np.pi, 10)[:, None]
    # the mismatch is real: against D = 0.6 the source built for 0.3 leaves a residual 0.3·Δρ = O(0.1)
    res = [fd_residual(m.rho, m.drift, 0.6, m.source, ti, xi) for ti, xi in zip(t, x)]
    assert np.max(np.abs(res)) > 100 * FD_TOL
    with pytest.raises(ValueError, match="diffusion"):
        Problem(name="wrong", kind="fokker-planck", lower=(0.0,), upper=(2 * np.pi,), t_final=0.5,
                drift=m.drift, diffusion=0.6, manufactured=m, boundary="periodic")


# ------------------------------------------------------------------------------------------ ODE flows
def rk4(f, x0, T, steps):
    x, dt = np.array(x0, dtype=float), T / steps
    for i in range(steps):
        t = i * dt
        k1 = f(t, x)
        k2 = f(t + dt / 2, x + dt / 2 * k1)
        k3 = f(t + dt / 2, x + dt / 2 * k2)
        k4 = f(t + dt, x + dt * k3)
        x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def test_affine_ode_exact_flow_matches_a_fine_rk4():
    """RK4 with 2000 steps: error ~ (|A| dt)^4 T ≈ (2.5 · 5e-4)^4 ≈ 2e-12 relative to |x|."""
    p = get_problem("affine-ode-2d")
    x0 = p.sample_initial(40, np.random.default_rng(2))
    A = np.array([[-0.5, 2.0], [-1.5, 0.3]])
    c = np.array([0.4, -0.2])
    ref = rk4(lambda t, x: x @ A.T + c, x0, p.t_final, 2000)
    np.testing.assert_allclose(p.exact_flow(x0), ref, rtol=0, atol=1e-11)
    ref_half = rk4(lambda t, x: x @ A.T + c, x0, 0.5, 1000)
    np.testing.assert_allclose(p.exact_flow(x0, 0.5), ref_half, rtol=0, atol=1e-11)
    # a coarse RK4 is visibly different: the comparison has teeth
    assert np.max(np.abs(rk4(lambda t, x: x @ A.T + c, x0, p.t_final, 4) - p.exact_flow(x0))) > 1e-4


def rotation_problem(T=1.3):
    t, (x, y) = space_symbols(2)
    return Problem(name="rotation", kind="ode", lower=(-5.0, -5.0), upper=(5.0, 5.0), t_final=T,
                   drift=ExpressionField((-y, x)), initial=G.Gaussian([1.0, 0.5], [[0.3, 0.1], [0.1, 0.2]]),
                   levels=(8, 16, 32))


def test_expression_field_exact_flow_is_the_rotation():
    p = rotation_problem(1.3)
    x0 = p.sample_initial(50, np.random.default_rng(3))
    c, s = math.cos(1.3), math.sin(1.3)
    expected = x0 @ np.array([[c, -s], [s, c]]).T
    np.testing.assert_allclose(p.exact_flow(x0), expected, rtol=0, atol=1e-9)
    c, s = math.cos(0.4), math.sin(0.4)
    np.testing.assert_allclose(p.exact_flow(x0, 0.4), x0 @ np.array([[c, -s], [s, c]]).T, rtol=0, atol=1e-9)
    assert not p.gaussian and p.time_dependent is False
    with pytest.raises(ValueError, match="no closed form; compare particles with exact_flow"):
        p.exact_density(1.0, x0)
    with pytest.raises(ValueError, match="no Gaussian exact law"):
        p.exact_law()
    with pytest.raises(ValueError, match="transition law needs an affine drift"):
        p.transition()
    with pytest.raises(ValueError, match=r"x0 must have shape \(n, 2\)"):
        p.exact_flow(x0[:, :1])


def test_exact_flow_only_for_ode_problems():
    with pytest.raises(ValueError, match="exact_flow is defined for ODE problems"):
        get_problem("ou-1d").exact_flow(np.zeros((3, 1)))


# ------------------------------------------------------------------------------------------ what solvers read
def test_drift_evaluates_affine_expression_and_callable_fields():
    x = np.array([[0.5, -1.0], [2.0, 0.25], [0.0, 0.0]])
    affine = get_problem("affine-continuity-2d")
    B, c = np.array([[-0.3, -1.0], [0.6, -0.2]]), np.array([0.2, 0.1])
    np.testing.assert_allclose(affine.drift(0.7, x), x @ B.T + c, rtol=0, atol=1e-15)
    rot = rotation_problem()
    np.testing.assert_allclose(rot.drift(0.0, x), np.stack([-x[:, 1], x[:, 0]], axis=-1), rtol=0, atol=0)
    t, (xs, ys) = space_symbols(2)
    moving = ExpressionField((sp.cos(t) * ys, -xs))
    np.testing.assert_allclose(moving(2.0, x), np.stack([np.cos(2.0) * x[:, 1], -x[:, 0]], axis=-1), atol=1e-15)
    assert moving.dim == 2 and moving.time_dependent and "cos(t)" in repr(moving)
    fn = lambda t, y: -y * (1 + t)  # noqa: E731
    p = Problem(name="callable", kind="ode", lower=(-1.0, -1.0), upper=(1.0, 1.0), t_final=1.0, drift=fn,
                initial=G.Gaussian([0.0, 0.0], np.eye(2)))
    np.testing.assert_allclose(p.drift(1.0, x), -2 * x)
    assert p.time_dependent is None  # a callable: unknown
    # the DOP853 reference flow of x' = −(1 + t)x is x0·exp(−(t + t²/2))
    np.testing.assert_allclose(p.exact_flow(x), x * math.exp(-1.5), rtol=0, atol=1e-10)


def test_time_dependence_source_and_mass_conservation():
    assert get_problem("ou-1d").time_dependent is False
    assert get_problem("mms-fokker-planck-2d").time_dependent is True   # cos(t) in b
    assert get_problem("mms-continuity-2d").time_dependent is True
    with pytest.raises(ValueError, match="1 to 3 components"):
        ExpressionField(())
    for name in ("ou-1d", "heat-2d", "affine-continuity-2d", "ou-sde-1d", "affine-ode-2d"):
        assert get_problem(name).source is None
    for name in ("ou-1d", "ou-2d", "heat-2d", "affine-continuity-2d"):
        assert get_problem(name).conserves_mass
    for name in ("mms-fokker-planck-2d", "mms-continuity-2d", "ou-sde-1d", "affine-ode-2d"):
        assert not get_problem(name).conserves_mass


def test_with_revalidates_and_keeps_the_original():
    p = get_problem("ou-1d")
    q = p.with_(t_final=2.0)
    assert q.t_final == 2.0 and p.t_final == 1.0
    with pytest.raises(ValueError, match="t_final"):
        p.with_(t_final=-1.0)


# ------------------------------------------------------------------------------------------ bad input
AFFINE_2D = G.Affine(np.zeros((2, 2)))
G2 = G.Gaussian([0.0, 0.0], np.eye(2))


@pytest.mark.parametrize("changes, error, match", [
    (dict(kind="heat"), ValueError, "kind must be one of fokker-planck, continuity, sde, ode; got 'heat'"),
    (dict(lower=(-1.0, -1.0)), ValueError, "lower and upper must have the same length"),
    (dict(lower=(5.0,), upper=(5.0,)), ValueError, r"lower\[k\] < upper\[k\] on every axis"),
    (dict(lower=(6.0,)), ValueError, r"lower\[k\] < upper\[k\]"),
    (dict(lower=("a",)), TypeError, "lower must be a sequence of numbers"),
    (dict(upper=(np.inf,)), ValueError, "upper must be finite"),
    (dict(t_final=float("nan")), ValueError, "t_final must be a finite number > 0, got nan"),
    (dict(t_final=0.0), ValueError, "t_final must be a finite number > 0"),
    (dict(t_final=-1.0), ValueError, "t_final must be a finite number > 0"),
    (dict(t_final=True), ValueError, "t_final must be a finite number > 0, got True"),
    (dict(t_final="1"), ValueError, "t_final must be a finite number > 0"),
    (dict(diffusion=0.5 + 0.1j), TypeError, "diffusion must be real"),
    (dict(diffusion=-0.1), ValueError, "diffusion: diffusion D must be a finite number ≥ 0"),
    (dict(diffusion=0.0), ValueError, "Fokker–Planck problem needs diffusion D > 0.*kind='continuity'"),
    (dict(kind="continuity"), ValueError, "continuity problem has no diffusion.*use kind='fokker-planck'"),
    (dict(kind="ode"), ValueError, "ode problem has no diffusion.*use kind='sde'"),
    (dict(kind="sde", initial=None), ValueError, "sde problem needs an initial Gaussian law"),
    (dict(kind="sde", drift=lambda t, x: -x), ValueError, "sde problem needs an affine drift"),
    (dict(initial=None), ValueError, "fokker-planck problem needs an exact reference"),
    (dict(boundary="periodic"), ValueError, "Gaussian reference lives on the whole space"),
    (dict(boundary="open"), ValueError, "boundary must be one of zero-flux, periodic"),
    (dict(initial=G2), ValueError, "initial law is 2-D but the box is 1-D"),
    (dict(initial=[0.0, 1.0]), TypeError, "initial must be a verify.gaussian.Gaussian"),
    (dict(drift=[[-1.0]]), TypeError, "drift must be a verify.gaussian.Affine, an ExpressionField or a callable"),
    (dict(drift=AFFINE_2D), ValueError, "drift is 2-D but the box is 1-D"),
    (dict(levels=(16, 32.5)), ValueError, r"levels must be positive integers, got \(16, 32.5\)"),
    (dict(levels=(16, 0)), ValueError, "levels must be positive integers"),
    (dict(levels=(True, 2)), ValueError, "levels must be positive integers"),
    (dict(steps_per_cell=0), ValueError, "steps_per_cell must be a finite number > 0"),
    (dict(name=""), TypeError, "name must be a non-empty string"),
])
def test_bad_problem_input_is_named(changes, error, match):
    with pytest.raises(error, match=match):
        gaussian_problem(**changes)


@pytest.mark.parametrize("D, match", [
    ([[0.5, 0.1], [0.0, 0.5]], "diffusion: .*symmetric"),
    ([[0.5, 0.0], [0.0, -0.5]], "diffusion: diffusion matrix D must be positive semi-definite"),
    (np.array([[0.5, 0.1j], [-0.1j, 0.5]]), "diffusion must be real"),
])
def test_bad_diffusion_matrix_is_named(D, match):
    with pytest.raises((TypeError, ValueError), match=match):
        Problem(name="m", kind="sde", lower=(-1.0, -1.0), upper=(1.0, 1.0), t_final=1.0, drift=AFFINE_2D,
                diffusion=D, initial=G2)


def test_manufactured_solution_misuse_is_named():
    m = mms_1d()
    box = dict(lower=(0.0,), upper=(2 * np.pi,), t_final=0.5, drift=m.drift, boundary="periodic")
    with pytest.raises(ValueError, match="give either initial .* or manufactured .*not both"):
        Problem(name="both", kind="fokker-planck", diffusion=0.3, manufactured=m,
                initial=G.Gaussian([0.0], [[1.0]]), **box)
    with pytest.raises(ValueError, match="a manufactured solution needs a grid problem .*not 'sde'"):
        Problem(name="sde", kind="sde", diffusion=0.3, manufactured=m, initial=G.Gaussian([0.0], [[1.0]]),
                **{**box, "drift": G.Affine([[-1.0]])})
    with pytest.raises(ValueError, match="manufactured solution is 1-D but the box is 2-D"):
        Problem(name="dim", kind="fokker-planck", diffusion=0.3, manufactured=m, lower=(0.0, 0.0),
                upper=(1.0, 1.0), t_final=0.5, drift=lambda t, x: x, boundary="periodic")
    with pytest.raises(TypeError, match="manufactured must be a verify.symbolic.ManufacturedSolution"):
        Problem(name="type", kind="fokker-planck", diffusion=0.3, manufactured="1 + sin(x)", **box)
    ok = Problem(name="ok", kind="fokker-planck", diffusion=0.3, manufactured=m, **box)
    assert ok.source is m.source and not ok.conserves_mass and not ok.gaussian
    with pytest.raises(ValueError, match="no initial Gaussian law to sample"):
        ok.sample_initial(3, np.random.default_rng(0))


def test_problem_rejects_a_drift_other_than_the_manufactured_one():
    m = mms_1d(diffusion=0.3)
    with pytest.raises(ValueError, match="drift=manufactured.drift"):
        Problem(name="wrong", kind="fokker-planck", lower=(0.0,), upper=(2 * np.pi,), t_final=0.5,
                drift=lambda t, x: 2.0 * m.drift(t, x), diffusion=0.3, manufactured=m, boundary="periodic")
    same = Problem(name="ok", kind="fokker-planck", lower=(0.0,), upper=(2 * np.pi,), t_final=0.5,
                   drift=lambda t, x: m.drift(t, x), diffusion=0.3, manufactured=m, boundary="periodic")
    assert same.source is m.source
