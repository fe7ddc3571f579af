import numpy as np
import pytest

from eulerian import CFLError, Grid, NumericalError, Solution, solve_fokker_planck  # noqa: F401
from eulerian.backend import get_backend
from eulerian.operators import FLUX_SCHEMES, assemble_generator, face_drift
from eulerian.time_schemes import SCHEMES
from tests.eulerian.eulerian_helpers import l1_error, mms_fokker_planck, ou_problem, slope

TIME_SCHEMES = tuple(SCHEMES)


def ou_run(n, d=2, steps=None, T=1.0, **kw):
    drift, D, g0, law = ou_problem(d)
    grid = Grid((-6.0,) * d, (6.0,) * d, (n,) * d)
    sol = solve_fokker_planck(grid, grid.cell_averages(g0.pdf), drift, D, T, steps or max(n // 2, 4), **kw)
    return grid, sol, law(T)


def test_ou_2d_bdf2_second_order_and_moments(array_backend):
    """OU-2D (SPD drift, D = 0.5, T = 1, [-6, 6]^2), SG + BDF2, steps = N/2: L1 order 2 +- 0.15."""
    hs, errs = [], []
    for n in (32, 64, 128):
        grid, sol, exact = ou_run(n, backend=array_backend)
        rho = sol.to_numpy()
        errs.append(l1_error(grid, rho, grid.cell_averages(exact.pdf)))
        hs.append(grid.spacing[0])
        assert sol.mass_drift < 1e-12
        assert sol.min_density > -1e-10 * rho.max()  # BDF2 is not positivity preserving: tails only
    assert abs(slope(hs, errs) - 2.0) < 0.15, errs
    # frozen constant: measured L1 = 1.486e-3 at N = 128 (2.3e-2 at 32); 20 % margin
    assert errs[-1] < 1.8e-3
    np.testing.assert_allclose(grid.mean(rho), exact.mean, atol=2e-3)
    np.testing.assert_allclose(grid.covariance(rho), exact.cov, atol=2e-3)


def test_ou_1d_temporal_orders_against_exact_law():
    """1D OU on a fine grid (spatial error ~1e-6): time error of each scheme has its order (+-0.15)."""
    expected = {"implicit-euler": 1.0, "crank-nicolson": 2.0, "bdf2": 2.0}
    for scheme, order in expected.items():
        errs = []
        for steps in (8, 16, 32):
            grid, sol, exact = ou_run(2000, d=1, steps=steps, T=1.0, time=scheme)
            errs.append(l1_error(grid, sol.density, grid.cell_averages(exact.pdf)))
        assert abs(slope([1 / 8, 1 / 16, 1 / 32], errs) - order) < 0.15, (scheme, errs)


def test_manufactured_solution_spatial_order_time_dependent_drift(array_backend):
    exact, drift, source = mms_fokker_planck()
    L = 2 * np.pi
    hs, errs = [], []
    for n in (16, 32, 64):
        grid = Grid((0.0, 0.0), (L, L), (n, n))
        sol = solve_fokker_planck(grid, exact(0.0), drift, 0.3, 0.5, n, boundary="periodic", source=source,
                                  time="crank-nicolson", backend=array_backend)
        # solver="auto": sparse LU on small NumPy grids; multigrid beyond, and always on CuPy (LU is NumPy-only)
        expected_solver = "lu" if (array_backend == "numpy" and n <= 32) else "multigrid"
        assert sol.info["time_dependent"] and sol.info["solver"] == expected_solver
        errs.append(l1_error(grid, sol.to_numpy(), grid.cell_averages(exact(0.5))))
        hs.append(grid.spacing[0])
    assert abs(slope(hs, errs) - 2.0) < 0.15, errs


@pytest.mark.parametrize("scheme, order", [(name, s.order) for name, s in SCHEMES.items()])
def test_manufactured_solution_temporal_order(scheme, order, array_backend):
    """Time error isolated by self-convergence on one grid: |u_k - u_2k| for k = 8, 16, 32 decays like dt^p."""
    exact, drift, source = mms_fokker_planck()
    grid = Grid((0.0, 0.0), (2 * np.pi, 2 * np.pi), (12, 12))
    kw = dict(boundary="periodic", source=source, time=scheme, backend=array_backend)
    u = [solve_fokker_planck(grid, exact(0.0), drift, 0.3, 0.5, k, **kw).to_numpy() for k in (8, 16, 32, 64)]
    diffs = [l1_error(grid, u[i], u[i + 1]) for i in range(3)]
    assert abs(slope([1 / 8, 1 / 16, 1 / 32], diffs) - order) < 0.15, diffs


def gibbs_setup(flux):
    H = np.array([[1.0, 0.4], [0.4, 0.7]])
    c = np.array([0.3, -0.2])
    D = 0.5
    drift = lambda t, x: -x @ H.T + c  # noqa: E731   b = -grad V, V = x.Hx/2 - c.x
    grid = Grid((-5.0, -5.0), (5.0, 5.0), (20, 24))
    x = grid.centers()
    V = 0.5 * np.einsum("...i,ij,...j", x, H, x) - x @ c
    rho_eq = np.exp(-(V - V.min()) / D)
    rho_eq /= grid.mass(rho_eq)
    return grid, drift, D, rho_eq


@pytest.mark.parametrize("flux", [name for name, f in FLUX_SCHEMES.items() if f.exact_equilibrium])
@pytest.mark.parametrize("scheme", TIME_SCHEMES)
def test_exponential_fitting_keeps_discrete_gibbs_state(flux, scheme, array_backend):
    grid, drift, D, rho_eq = gibbs_setup(flux)
    sol = solve_fokker_planck(grid, rho_eq, drift, D, 2.0, 20, flux=flux, time=scheme, backend=array_backend)
    assert np.abs(sol.to_numpy() - rho_eq).max() / rho_eq.max() < 1e-12


def test_flux_registry_declares_the_properties_the_tests_rely_on():
    """Every registered flux is second order; exactly the exponentially fitted ones keep the Gibbs state and are
    positive (the equilibrium and positivity tests pick their fluxes from these flags)."""
    assert set(FLUX_SCHEMES) == {"scharfetter-gummel", "chang-cooper", "central"}
    assert all(f.order == 2 for f in FLUX_SCHEMES.values())
    assert {n for n, f in FLUX_SCHEMES.items() if f.exact_equilibrium} == {"scharfetter-gummel", "chang-cooper"}
    assert {n for n, f in FLUX_SCHEMES.items() if f.positive} == {"scharfetter-gummel", "chang-cooper"}
    assert {n: s.order for n, s in SCHEMES.items()} == {"bdf2": 2, "crank-nicolson": 2, "implicit-euler": 1,
                                                        "douglas-adi": 2}


def test_central_flux_does_not_keep_gibbs_state():
    """Negative check: the same test flags the central flux (deviation ~1e-2, far above round-off)."""
    grid, drift, D, rho_eq = gibbs_setup("central")
    sol = solve_fokker_planck(grid, rho_eq, drift, D, 2.0, 20, flux="central", time="bdf2")
    assert np.abs(sol.to_numpy() - rho_eq).max() / rho_eq.max() > 1e-4
    be = get_backend("numpy")
    A = assemble_generator(be, grid, face_drift(be, grid, drift, 0.0, False), D, "central", False)
    assert np.abs(A @ rho_eq.ravel()).max() > 1e-4
    A_sg = assemble_generator(be, grid, face_drift(be, grid, drift, 0.0, False), D, "scharfetter-gummel", False)
    assert np.abs(A_sg @ rho_eq.ravel()).max() < 1e-13 * abs(A_sg).max()


def test_chang_cooper_equals_scharfetter_gummel_for_constant_diffusion():
    be = get_backend("numpy")
    grid = Grid((-6.0,), (6.0,), (200,))
    drift = lambda t, x: 40.0 * np.sin(x)  # noqa: E731   |Pe| from 0 to ~5
    fb = face_drift(be, grid, drift, 0.0, False)
    A = assemble_generator(be, grid, fb, 0.5, "scharfetter-gummel", False).toarray()
    B = assemble_generator(be, grid, fb, 0.5, "chang-cooper", False).toarray()
    C = assemble_generator(be, grid, fb, 0.5, "central", False).toarray()
    assert np.abs(A - B).max() < 1e-12 * np.abs(A).max()
    assert np.abs(A - C).max() > 1e-2 * np.abs(A).max()
    np.testing.assert_allclose(A.sum(axis=0), 0.0, atol=1e-12 * np.abs(A).max())  # conservative columns


def test_mass_positivity_and_strong_drift_implicit_euler(array_backend):
    """Implicit Euler + SG gives an M-matrix: no negative cell even from a one-cell spike with |Pe| >> 1."""
    grid = Grid((-3.0, -3.0), (3.0, 3.0), (30, 30))
    rho = np.zeros(grid.shape)
    rho[5, 20] = 1.0 / grid.cell_volume
    drift = lambda t, x: np.stack([-20 * x[..., 1], 20 * x[..., 0]], -1) - 2 * x  # noqa: E731
    sol = solve_fokker_planck(grid, rho, drift, 0.01, 1.0, 25, time="implicit-euler", backend=array_backend)
    assert sol.min_density >= 0.0
    assert sol.mass_drift < 1e-12
    for boundary in ("zero-flux", "periodic"):
        s = solve_fokker_planck(grid, rho, drift, 0.05, 0.5, 10, boundary=boundary, solver="multigrid",
                                backend=array_backend)
        assert s.mass_drift < 1e-12, boundary


@pytest.mark.parametrize("boundary", ["zero-flux", "periodic"])
@pytest.mark.parametrize("shape", [(40,), (32, 24), (16, 8, 12)])
def test_multigrid_matches_lu(shape, boundary):
    d = len(shape)
    grid = Grid((-4.0,) * d, (4.0,) * d, shape)
    H = np.diag([1.0, 0.5, 2.0][:d])
    x = grid.centers()
    rho = np.exp(-0.5 * ((x - 0.5) ** 2).sum(-1))
    kw = dict(boundary=boundary, time="bdf2")
    a = solve_fokker_planck(grid, rho, lambda t, x: -x @ H.T, 0.4, 1.0, 5, solver="lu", **kw)
    b = solve_fokker_planck(grid, rho, lambda t, x: -x @ H.T, 0.4, 1.0, 5, solver="multigrid", **kw)
    assert np.abs(a.density - b.density).max() < 1e-10 * a.density.max()
    assert max(b.info["linear_iterations"]) <= 20


def test_multigrid_iterations_do_not_grow_with_grid():
    its = []
    for n in (64, 128, 256):
        grid, sol, _ = ou_run(n, steps=4, T=1.0, solver="multigrid")
        its.append(max(sol.info["linear_iterations"]))
    assert max(its) <= 10 and its[-1] <= its[0] + 2, its


def test_save_at_and_solution_fields():
    grid, sol, exact = ou_run(32, steps=8, T=1.0, save_at=[0.0, 0.5, 1.0])
    assert isinstance(sol, Solution)
    np.testing.assert_allclose(sol.times, [0.0, 0.5, 1.0])
    assert len(sol.densities) == 3 and sol.steps == 8 and sol.mass.shape == (9,)
    np.testing.assert_array_equal(sol.densities[-1], sol.density)
    assert sol.wall_time > 0 and sol.backend == "numpy"
    assert isinstance(sol.to_numpy(), np.ndarray)
    with pytest.raises(ValueError, match="multiples of dt"):
        ou_run(32, steps=8, T=1.0, save_at=[0.3])


def _args():
    grid = Grid((0.0, 0.0), (1.0, 1.0), (8, 8))
    return dict(grid=grid, rho0=np.ones((8, 8)), drift=lambda t, x: 0 * x, diffusion=0.1, t_final=0.1, steps=2)


@pytest.mark.parametrize(
    "change, exc, match",
    [
        ({"rho0": -np.ones((8, 8))}, ValueError, "negative"),
        ({"rho0": np.full((8, 8), np.nan)}, ValueError, "NaN"),
        ({"rho0": np.zeros((8, 8))}, ValueError, "zero mass"),
        ({"rho0": np.ones((8, 9))}, ValueError, "shape"),
        ({"diffusion": 0.0}, ValueError, "diffusion"),
        ({"steps": 0}, ValueError, "steps"),
        ({"steps": 2.5}, TypeError, "steps"),
        ({"t_final": -1.0}, ValueError, "t_final"),
        ({"flux": "upwind"}, ValueError, "flux"),
        ({"time": "rk4"}, ValueError, "time"),
        ({"boundary": "dirichlet"}, ValueError, "boundary"),
        ({"backend": "torch"}, ValueError, "backend"),
        ({"solver": "amg"}, ValueError, "solver"),
        ({"drift": lambda t, x: x[..., 0]}, ValueError, "drift"),
        ({"drift": 3.0}, TypeError, "drift"),
        ({"grid": "box"}, TypeError, "Grid"),
    ],
)
def test_bad_input(change, exc, match):
    kw = _args()
    kw.update(change)
    with pytest.raises(exc, match=match):
        solve_fokker_planck(**kw)


def test_nan_drift_raises_numerical_error():
    grid = Grid((0.0,), (1.0,), (8,))
    drift = lambda t, x: np.where(t > 0.05, np.nan, 0.0) * x  # noqa: E731
    with pytest.raises(NumericalError):
        solve_fokker_planck(grid, np.ones(8), drift, 0.1, 0.1, 4, solver="lu")


@pytest.mark.gpu
def test_cupy_matches_numpy(cupy):
    grid, a, _ = ou_run(64, steps=16)
    _, b, _ = ou_run(64, steps=16, backend="cupy")
    assert isinstance(b.density, cupy.ndarray)
    assert np.abs(b.to_numpy() - a.density).max() < 1e-10 * a.density.max()
    assert b.mass_drift < 1e-12


def test_multigrid_with_odd_grid_sizes_uses_coarse_lu():
    """101 x 67 cells cannot be halved: the coarsest level (the grid itself) is factorised, not inverted densely."""
    grid = Grid((-4.0, -4.0), (4.0, 4.0), (101, 67))
    x = grid.centers()
    rho = np.exp(-0.5 * (x**2).sum(-1))
    a = solve_fokker_planck(grid, rho, lambda t, x: -x, 0.4, 0.5, 4, solver="lu")
    b = solve_fokker_planck(grid, rho, lambda t, x: -x, 0.4, 0.5, 4, solver="multigrid")
    assert np.abs(a.density - b.density).max() < 1e-10 * a.density.max()
