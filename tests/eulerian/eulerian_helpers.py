"""Reference helpers for tests/eulerian (exact laws come from verify.gaussian)."""
import numpy as np

from verify.gaussian import Affine, Gaussian, linear_sde


def l1_error(grid, rho, exact_averages):
    """L1 norm of the difference of cell averages, sum |rho - exact| * cell_volume."""
    return float(np.abs(np.asarray(rho) - exact_averages).sum() * grid.cell_volume)


def slope(h, errors):
    """Least-squares slope of log(error) against log(h) (the observed order)."""
    return float(np.polyfit(np.log(h), np.log(errors), 1)[0])


def ou_problem(d=2):
    """OU drift b(x) = -H x + c (H SPD), D = 0.5, a Gaussian start, and its exact law at time t."""
    H = np.array([[1.0, 0.4], [0.4, 0.7]])[:d, :d]
    c = np.array([0.2, -0.1])[:d]
    g0 = Gaussian(np.array([1.0, -0.5])[:d], np.array([[0.5, 0.1], [0.1, 0.3]])[:d, :d])
    drift = Affine(-H, c)
    D = 0.5

    def law(t):
        return linear_sde(g0, drift, D, t)

    return drift, D, g0, law


def mms_fokker_planck(D=0.3):
    """Periodic manufactured solution on [0, 2 pi]^2 with a time-dependent drift; source by SymPy."""
    import sympy as sp

    t, x, y = sp.symbols("t x y", real=True)
    rho = 1 + sp.Rational(1, 2) * sp.sin(x - t) * sp.cos(y)
    b1 = sp.Rational(3, 5) * sp.sin(y) + sp.Rational(3, 10) * sp.cos(t)
    b2 = sp.Rational(1, 2) * sp.cos(x)
    S = sp.diff(rho, t) + sp.diff(rho * b1, x) + sp.diff(rho * b2, y) - D * (sp.diff(rho, x, 2) + sp.diff(rho, y, 2))
    f_rho = sp.lambdify((t, x, y), rho, "numpy")
    f_b = sp.lambdify((t, x, y), [b1, b2], "numpy")
    f_S = sp.lambdify((t, x, y), sp.simplify(S), "numpy")

    def exact(tt):
        return lambda p: f_rho(tt, p[..., 0], p[..., 1]) + 0 * p[..., 0]

    def drift(tt, p):
        u, v = f_b(tt, p[..., 0], p[..., 1])
        return np.stack([u + 0 * p[..., 0], v + 0 * p[..., 0]], axis=-1)

    def source(tt, p):
        return f_S(tt, p[..., 0], p[..., 1]) + 0 * p[..., 0]

    return exact, drift, source


def affine_continuity():
    """Continuity with v(x) = B x + c (rotation + shear + contraction) from a Gaussian: exact law N(m_t, S_t)."""
    from verify.gaussian import linear_sde

    B = np.array([[-0.3, -1.0], [0.6, -0.2]])
    c = np.array([0.2, 0.1])
    g0 = Gaussian([0.5, 0.0], [[0.4, 0.1], [0.1, 0.3]])
    field = Affine(B, c)
    return field, g0, (lambda t: linear_sde(g0, field, 0.0, t))


def mms_continuity():
    """Periodic manufactured solution on [0, 2 pi]^2 for d rho/dt + div(rho v) = S, time-dependent v."""
    import sympy as sp

    t, x, y = sp.symbols("t x y", real=True)
    rho = 1 + sp.Rational(1, 2) * sp.sin(x + y - t) + sp.Rational(1, 4) * sp.cos(2 * y)
    v1 = 1 + sp.Rational(1, 2) * sp.sin(y) * sp.cos(t)
    v2 = sp.Rational(1, 2) + sp.Rational(1, 3) * sp.cos(x)
    S = sp.diff(rho, t) + sp.diff(rho * v1, x) + sp.diff(rho * v2, y)
    f_rho = sp.lambdify((t, x, y), rho, "numpy")
    f_v = sp.lambdify((t, x, y), [v1, v2], "numpy")
    f_S = sp.lambdify((t, x, y), S, "numpy")

    def exact(tt):
        return lambda p: f_rho(tt, p[..., 0], p[..., 1]) + 0 * p[..., 0]

    def velocity(tt, p):
        u, w = f_v(tt, p[..., 0], p[..., 1])
        return np.stack([u + 0 * p[..., 0], w + 0 * p[..., 0]], axis=-1)

    def source(tt, p):
        return f_S(tt, p[..., 0], p[..., 1]) + 0 * p[..., 0]

    return exact, velocity, source
