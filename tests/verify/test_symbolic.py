"""verify.symbolic: exact Gaussian closures, the attention tilt, manufactured sources, safe parsing."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from verify import gaussian as G
from verify.symbolic import (
    attention_closure,
    attention_tilt,
    closure_residual,
    gaussian_closure,
    manufactured_source,
    safe_parse,
)

DIMS = (1, 2, 3)
KINDS = ("scalar", "matrix")


def _spd(d: int, rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a = (q * rng.uniform(0.3, 3.0, d)) @ q.T
    return 0.5 * (a + a.T)


# ---------------------------------------------------------------- Gaussian closure (exact proof)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("d", DIMS)
def test_closure_residual_is_exactly_zero_and_rhs_is_the_expected_form(d, kind):
    cl = gaussian_closure(d, diffusion=kind)
    assert cl.residual == 0 and cl.proved
    D = cl.D * sp.eye(d) if kind == "scalar" else cl.D
    # the derived right-hand sides are *identical* polynomials to Bm + c and BΣ + ΣBᵀ + 2D
    assert (cl.mean_expr - (cl.B * cl.m + cl.c)).applyfunc(sp.expand) == sp.zeros(d, 1)
    expected_cov = cl.B * cl.S + cl.S * cl.B.T + 2 * D
    assert (cl.cov_expr - expected_cov).applyfunc(sp.expand) == sp.zeros(d, d)
    # and in precision form dP/dt = −(PB + BᵀP) − 2PDP
    P = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"P{min(i, j)}{max(i, j)}", real=True))
    expected_p = -(P * cl.B + cl.B.T * P) - 2 * P * D * P
    assert (cl.precision_expr - expected_p).applyfunc(sp.expand) == sp.zeros(d, d)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("d", DIMS)
def test_lambdified_closure_matches_numeric_formula_and_verify_gaussian(d, kind):
    cl = gaussian_closure(d, diffusion=kind)
    rng = np.random.default_rng(100 + 10 * d + (kind == "matrix"))
    worst = 0.0
    for _ in range(20):
        B = rng.normal(size=(d, d))
        c = rng.normal(size=d)
        m = rng.normal(size=d)
        S = _spd(d, rng)
        D = rng.uniform(0.1, 2.0) if kind == "scalar" else _spd(d, rng)
        Dm = D * np.eye(d) if kind == "scalar" else D
        dm, dS = cl.mean_rhs(B, c, D, m, S), cl.cov_rhs(B, c, D, m, S)
        assert dm.shape == (d,) and dS.shape == (d, d)
        np.testing.assert_allclose(dm, B @ m + c, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(dS, B @ S + S @ B.T + 2 * Dm, rtol=1e-13, atol=1e-13)
        gm, gS = G.linear_moment_rhs(G.Affine(B, c), D, m, S)
        worst = max(worst, float(np.abs(dm - gm).max()), float(np.abs(dS - gS).max()))
    assert worst <= 1e-12


def test_closure_rhs_rejects_bad_input():
    cl = gaussian_closure(2)
    B, c, m, S = np.eye(2), np.zeros(2), np.zeros(2), np.eye(2)
    with pytest.raises(ValueError, match="S must have shape"):
        cl.cov_rhs(B, c, 1.0, m, np.eye(3))
    with pytest.raises(ValueError, match="symmetric"):
        cl.cov_rhs(B, c, 1.0, m, np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="NaN"):
        cl.mean_rhs(B, c, 1.0, np.array([np.nan, 0.0]), S)
    with pytest.raises(ValueError, match="diffusion"):
        gaussian_closure(2, diffusion="tensor")
    with pytest.raises(ValueError, match="d must be between"):
        gaussian_closure(4)


def _right_mean(B, c, D, m, S):
    return B * m + c


@pytest.mark.parametrize("d", (1, 2))
def test_wrong_closures_leave_a_nonzero_residual(d):
    """The other diffusion convention (½Δ: dΣ = BΣ + ΣBᵀ + D), a dropped offset, a transposed
    drift are all caught; the right closure through the same route gives exactly 0."""
    I = sp.eye(d)
    right = closure_residual(d, _right_mean, lambda B, c, D, m, S: B * S + S * B.T + 2 * D * I)
    assert right == 0
    half = closure_residual(d, _right_mean, lambda B, c, D, m, S: B * S + S * B.T + D * I)
    assert half != 0 and sp.Symbol("x0", real=True) in half.free_symbols
    no_offset = closure_residual(
        d, lambda B, c, D, m, S: B * m, lambda B, c, D, m, S: B * S + S * B.T + 2 * D * I
    )
    assert no_offset != 0
    if d > 1:
        transposed = closure_residual(
            d, _right_mean, lambda B, c, D, m, S: B.T * S + S * B + 2 * D * I
        )
        assert transposed != 0
    matrix_half = closure_residual(
        d, _right_mean, lambda B, c, D, m, S: B * S + S * B.T + D, diffusion="matrix"
    )
    assert matrix_half != 0


# ---------------------------------------------------------------- attention tilt and closure


def test_tilt_identity_1d_by_symbolic_integration():
    tilt = attention_tilt(1)
    assert tilt.method == "integrate" and tilt.proved
    assert tilt.residual == sp.zeros(1, 1)


@pytest.mark.parametrize("d", (2, 3))
def test_tilt_identity_by_completing_the_square(d):
    tilt = attention_tilt(d)
    assert tilt.method == "complete-square" and tilt.exponent_residual == 0 and tilt.proved
    # negative: the transposed form μ + sΣQᵀKx is not what the derivation gives
    wrong = tilt.mu + tilt.scale * tilt.Sigma * tilt.Q.T * tilt.K * tilt.x
    assert (tilt.derived - wrong).applyfunc(sp.expand) != sp.zeros(d, 1)


def _tilted_mean_by_quadrature(mu, cov, Q, K, x, s, nodes=80):
    """E[y e^{s⟨Qx,Ky⟩}]/E[e^{s⟨Qx,Ky⟩}] for y ~ N(μ, Σ) by tensor Gauss–Hermite quadrature."""
    d = len(mu)
    z, w = np.polynomial.hermite_e.hermegauss(nodes)  # weight e^{-z²/2}
    grids = np.meshgrid(*([z] * d), indexing="ij")
    pts = np.stack([g.ravel() for g in grids], axis=-1)
    wts = np.prod(np.meshgrid(*([w] * d), indexing="ij"), axis=0).ravel()
    y = mu + pts @ np.linalg.cholesky(cov).T
    logw = s * (y @ K.T) @ (Q @ x)
    tilt = wts * np.exp(logw - logw.max())
    return tilt @ y / tilt.sum()


@pytest.mark.parametrize("d", (1, 2))
def test_tilt_identity_numerically(d):
    rng = np.random.default_rng(7 + d)
    for _ in range(5):
        mu, cov = rng.normal(size=d), _spd(d, rng) * 0.5
        Q, K = rng.normal(size=(d, d)) * 0.5, rng.normal(size=(d, d)) * 0.5
        x, s = rng.normal(size=d), 1.0 / math.sqrt(d)
        numeric = _tilted_mean_by_quadrature(mu, cov, Q, K, x, s)
        formula = mu + s * cov @ K.T @ Q @ x
        # Gauss–Hermite with 80 nodes is exact to rounding for these moderate tilts
        np.testing.assert_allclose(numeric, formula, rtol=1e-10, atol=1e-10)
        # negative: the transposed formula is far off
        assert np.abs(numeric - (mu + s * cov @ Q.T @ K @ x)).max() > 1e-3 or d == 1


@pytest.mark.parametrize("d", DIMS)
def test_attention_closure_matches_verify_gaussian(d):
    ac = attention_closure(d)
    rng = np.random.default_rng(300 + d)
    worst = 0.0
    for _ in range(20):
        mean, cov = rng.normal(size=d), _spd(d, rng)
        Q, K, V = (rng.normal(size=(d, d)) for _ in range(3))
        s = rng.uniform(0.2, 2.0)
        dm, dS = ac.moment_rhs(mean, cov, Q, K, V, s)
        B = s * V @ cov @ K.T @ Q
        np.testing.assert_allclose(dm, V @ mean + B @ mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dS, B @ cov + cov @ B.T, rtol=1e-12, atol=1e-12)
        gm, gS = G.attention_moment_rhs(mean, cov, Q, K, V, scale=s)
        worst = max(worst, float(np.abs(dm - gm).max()), float(np.abs(dS - gS).max()))
    assert worst <= 1e-11


# ---------------------------------------------------------------- manufactured solutions


t_, x_, y_ = sp.symbols("t x y", real=True)


def _fd_source(ms, t, pts, h, D):
    """Second-order central differences of the lambdified ρ and b: ∂tρ + div(ρb) − div(D∇ρ)."""
    d = pts.shape[-1]
    Dm = np.asarray(D, float) * np.eye(d) if np.ndim(D) == 0 else np.asarray(D, float)
    out = (ms.rho(t + h, pts) - ms.rho(t - h, pts)) / (2 * h)
    flux = lambda p: ms.rho(t, p)[..., None] * ms.drift(t, p)  # noqa: E731
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        out += (flux(pts + e)[..., i] - flux(pts - e)[..., i]) / (2 * h)
        for j in range(d):
            f = np.zeros(d)
            f[j] = h
            mixed = (
                ms.rho(t, pts + e + f) - ms.rho(t, pts + e - f)
                - ms.rho(t, pts - e + f) + ms.rho(t, pts - e - f)
            ) / (4 * h * h)
            out -= Dm[i, j] * mixed
    return out


def _fd_errors(ms, D, rng, hs=(4e-2, 2e-2, 1e-2)):
    pts = rng.uniform(-1.5, 1.5, size=(64, ms.dim))
    t = 0.3
    exact = ms.source(t, pts)
    return exact, pts, t, [float(np.abs(_fd_source(ms, t, pts, h, D) - exact).max()) for h in hs]


@pytest.mark.parametrize("diffusion", [0.5, [[0.6, 0.2], [0.2, 0.3]]])
def test_manufactured_source_matches_finite_differences_with_order_two(diffusion):
    rho = sp.exp(-t_) * sp.exp(-(x_**2 + 2 * y_**2) / 2) * (1 + sp.sin(x_ * y_) / 4)
    drift = [-x_ * y_ + sp.sin(t_), y_ + 1]
    ms = manufactured_source(rho, drift, diffusion, t_, [x_, y_])
    rng = np.random.default_rng(11)
    hs = (4e-2, 2e-2, 1e-2)
    _, _, _, errs = _fd_errors(ms, diffusion, rng, hs)
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    # central differences are O(h²): observed order within ±0.2 of 2, and errors ≈ C h²
    assert 1.8 <= slope <= 2.2, (slope, errs)
    assert errs[-1] <= 4 * errs[0] * (hs[-1] / hs[0]) ** 2


def test_manufactured_source_negative_wrong_convention_is_caught():
    """A source built with the ½Δ convention disagrees with finite differences of the true operator
    by far more than the O(h²) truncation error."""
    rho = sp.exp(-t_) * sp.exp(-(x_**2 + y_**2) / 2)
    drift = [-x_ * y_ + sp.sin(t_), y_]
    good = manufactured_source(rho, drift, 0.5, t_, [x_, y_])
    wrong = manufactured_source(rho, drift, 0.25, t_, [x_, y_])  # D/2: the other convention
    rng = np.random.default_rng(12)
    pts = rng.uniform(-1.5, 1.5, size=(64, 2))
    h = 1e-2
    fd = _fd_source(good, 0.3, pts, h, 0.5)
    err_good = np.abs(fd - good.source(0.3, pts)).max()
    err_wrong = np.abs(fd - wrong.source(0.3, pts)).max()
    assert err_good < 1e-3 and err_wrong > 100 * err_good


def test_manufactured_solution_shapes_parameters_and_errors():
    D = sp.Symbol("D", positive=True)
    rho = sp.exp(-(x_**2) / (2 * (1 + 2 * D * t_))) / sp.sqrt(2 * sp.pi * (1 + 2 * D * t_))
    # heat kernel: exact solution of ∂ρ/∂t = DΔρ with b = 0, so the source is identically zero
    ms = manufactured_source(rho, [0], D, t_, [x_], parameters={"D": 0.7})
    assert sp.simplify(ms.source_expr) == 0
    pts = np.linspace(-2, 2, 12).reshape(3, 4, 1)
    assert ms.rho(0.2, pts).shape == (3, 4)
    assert ms.drift(0.2, pts).shape == (3, 4, 1) and np.all(ms.drift(0.2, pts) == 0)
    np.testing.assert_allclose(ms.source(0.2, pts), 0.0, atol=1e-14)
    with pytest.raises(ValueError, match="need numeric values"):
        manufactured_source(rho, [0], D, t_, [x_])
    with pytest.raises(ValueError, match="points last"):
        ms.rho(0.2, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="drift must hold 2"):
        manufactured_source(rho, [0], 1.0, t_, [x_, y_])
    with pytest.raises(ValueError, match="backend"):
        manufactured_source(rho, [0], 1.0, t_, [x_], backend="jax", parameters={"D": 1.0})
    with pytest.raises(ValueError, match="diffusion must be finite and >= 0"):
        manufactured_source(rho, [0], -1.0, t_, [x_], parameters={"D": 1.0})


def test_manufactured_source_cupy_without_gpu_raises_clearly():
    from eulerian.backend import cupy_available
    from eulerian.errors import BackendUnavailable

    if cupy_available():
        pytest.skip("a GPU is present: the CuPy path is tested by test_manufactured_source_cupy")
    with pytest.raises(BackendUnavailable):
        manufactured_source(sp.exp(-(x_**2)), [x_], 1.0, t_, [x_], backend="cupy")


@pytest.mark.gpu
def test_manufactured_source_cupy(cupy):
    rho = sp.exp(-t_) * sp.exp(-(x_**2 + y_**2) / 2)
    args = (rho, [-x_ * y_, y_], 0.5, t_, [x_, y_])
    on_gpu, on_cpu = manufactured_source(*args, backend="cupy"), manufactured_source(*args)
    pts = np.random.default_rng(3).uniform(-1, 1, size=(50, 2))
    got = on_gpu.source(0.3, cupy.asarray(pts))
    assert isinstance(got, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(got), on_cpu.source(0.3, pts), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- safe_parse

NAMES = ("x", "y", "t")
X, Y, T = (sp.Symbol(n, real=True) for n in NAMES)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("-x*y + sin(t)", -X * Y + sp.sin(T)),
        ("exp(-x**2/2)/sqrt(2*pi)", sp.exp(-(X**2) / 2) / sp.sqrt(2 * sp.pi)),
        ("0.1*x", X / 10),
        ("+x - (y)", X - Y),
        ("abs(x) + atan(y) + tanh(t) + log(E)", sp.Abs(X) + sp.atan(Y) + sp.tanh(T) + 1),
        ("cosh(x)**2 - sinh(x)**2", sp.cosh(X) ** 2 - sp.sinh(X) ** 2),
        ("tan(x) * cos(y)", sp.tan(X) * sp.cos(Y)),
        ("2**10", sp.Integer(1024)),
    ],
)
def test_safe_parse_accepts(text, expected):
    assert sp.simplify(safe_parse(text, NAMES) - expected) == 0


@pytest.mark.parametrize(
    "text, what",
    [
        ("__import__('os').system('x')", "attribute access"),
        ("__import__('os')", "dunder"),
        ("lambda: 1", "lambda"),
        ("x.__class__", "attribute access"),
        ("().__class__.__bases__[0]", "subscripts"),
        ("().__class__", "attribute access"),
        ("[x for x in y]", "comprehensions"),
        ("x[0]", "subscripts"),
        ("'abc'", "string"),
        ("open(x)", "function 'open' is not allowed"),
        ("sin(x=1)", "keyword"),
        ("sin(x, y)", "exactly one argument"),
        ("z + 1", "unknown name 'z'"),
        ("x" * 2001, "too long"),
        ("-" * 500 + "x", "nested too deeply"),
        ("(" * 300 + "x" + ")" * 300, "nested"),
        ("9**9**9", "too large"),
        ("1/0", "division by zero"),
        ("x if y else t", "conditional"),
        ("x < y", "comparisons"),
        ("x // y", "FloorDiv"),
        ("True", "literal True"),
        ("1j", "literal"),
        ("sin", "must be called"),
        ("", "empty"),
        ("x +", "not a valid expression"),
        ("(yield x)", "not allowed"),
        ("(z := 1)", "assignment"),
    ],
)
def test_safe_parse_rejects(text, what):
    with pytest.raises(ValueError, match=what):
        safe_parse(text, NAMES)


def test_safe_parse_names_are_checked():
    with pytest.raises(ValueError, match="clashes"):
        safe_parse("x", ["sin"])
    with pytest.raises(ValueError, match="underscore"):
        safe_parse("x", ["__x"])
    with pytest.raises(ValueError, match="identifier"):
        safe_parse("x", ["a b"])
    with pytest.raises(TypeError):
        safe_parse(b"x", ["x"])  # type: ignore[arg-type]
    s = sp.Symbol("s", positive=True)
    assert safe_parse("s**2", [s]) == s**2  # user symbols keep their assumptions


# ---------------------------------------------------------------- the "symbolic-closure" case


def test_symbolic_case_checks_flag_wrong_inputs():
    """Each check of the case fails on a deliberately wrong input."""
    import dataclasses

    from verify.cases import symbolic_cases as SC

    I = sp.eye(2)
    half = SC.check_closure_residual(2, "scalar", _right_mean,
                                     lambda B, c, D, m, S: B * S + S * B.T + D * I)
    assert not half.passed and half.value > 0
    assert SC.check_closure_residual(2, "scalar").passed

    rng = np.random.default_rng(5)
    cl = gaussian_closure(2)
    inst = [SC.linear_instance(2, "scalar", rng) for _ in range(5)]
    sym = lambda B, c, D, m, S: (cl.mean_rhs(B, c, D, m, S), cl.cov_rhs(B, c, D, m, S))  # noqa: E731
    half_numeric = lambda B, c, D, m, S: (B @ m + c, B @ S + S @ B.T + D * np.eye(2))  # noqa: E731
    assert not SC.check_rhs_agreement("wrong", sym, half_numeric, inst).passed
    assert SC.check_rhs_agreement(
        "right", sym, lambda B, c, D, m, S: G.linear_moment_rhs(G.Affine(B, c), D, m, S), inst
    ).passed

    swapped = lambda mu, cov, Q, K, x, s: mu + s * cov @ Q.T @ K @ x  # noqa: E731
    checks = SC.check_tilt(2, np.random.default_rng(6), formula=swapped)
    assert checks[0].passed and not checks[1].passed

    name, ms, D = SC.manufactured_examples()[1]
    good, errs = SC.check_manufactured_source(name, ms, D, np.random.default_rng(7))
    assert good.passed and errs[-1] < 1e-3
    wrong_ms = manufactured_source(ms.rho_expr, list(ms.drift_expr), D / 2, ms.t, list(ms.xs))
    bad = dataclasses.replace(ms, source=wrong_ms.source)  # the ½Δ convention's source
    wrong, _ = SC.check_manufactured_source(name, bad, D, np.random.default_rng(7))
    assert not wrong.passed and abs(wrong.value) < 0.5
