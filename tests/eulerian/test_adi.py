"""Douglas ADI time scheme (eulerian.adi): line solves, equivalence with Crank-Nicolson in 1D, orders, 3D."""
import numpy as np
import pytest

from eulerian import Grid, solve_fokker_planck
from eulerian.adi import DouglasADI, TridiagonalLines, axis_apply
from eulerian.backend import get_backend
from eulerian.operators import assemble_generator, face_drift, face_rates
from tests.eulerian.eulerian_helpers import l1_error, ou_problem, slope
from verify.gaussian import Affine, Gaussian, linear_sde


def random_rates(be, grid, periodic, rng):
    """Face rates of the SG flux for a random drift: alpha, beta > 0, as the solver builds them."""
    B = rng.normal(size=(grid.dim, grid.dim))
    c = rng.normal(size=grid.dim)
    face_b = face_drift(be, grid, lambda t, x: 3.0 * np.sin(x @ B.T + c), 0.0, periodic)
    return face_b, face_rates(be, grid, face_b, 0.7, "scharfetter-gummel")


def dense_axis_operator(grid, a, b, axis, periodic):
    """A_k as a dense matrix, column j = A_k e_j (axis_apply on unit vectors)."""
    faces = grid.shape[:axis] + (grid.shape[axis] - (not periodic),) + grid.shape[axis + 1:]
    eye = np.eye(grid.size)
    return np.stack([axis_apply(np, e.reshape(grid.shape), a.reshape(faces), b.reshape(faces), axis, periodic)
                     .reshape(-1) for e in eye], axis=1)


@pytest.mark.parametrize("shape", [(7,), (5, 6), (2, 5), (3, 4, 5)])
@pytest.mark.parametrize("periodic", [False, True])
def test_axis_operators_sum_to_the_assembled_generator(shape, periodic):
    """sum_k A_k (flux form, used by ADI) equals the sparse generator A of the other schemes."""
    be = get_backend("numpy")
    grid = Grid((0.0,) * len(shape), (1.0,) * len(shape), shape)
    face_b, rates = random_rates(be, grid, periodic, np.random.default_rng(1))
    A = assemble_generator(be, grid, face_b, 0.7, "scharfetter-gummel", periodic).toarray()
    parts = [dense_axis_operator(grid, a, b, k, periodic) for k, (a, b) in enumerate(rates)]
    np.testing.assert_allclose(sum(parts), A, atol=1e-12 * np.abs(A).max())
    for P in parts:
        np.testing.assert_allclose(P.sum(axis=0), 0.0, atol=1e-12 * np.abs(A).max())  # mass per axis


@pytest.mark.parametrize("shape", [(7,), (5, 6), (2, 5), (3, 4, 5)])
@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize("lapack", [True, False])
def test_line_solves_match_dense_solves(shape, periodic, lapack):
    """(c0 I - c1 A_k) x = r on every line (cyclic when periodic, two-cell lines too): residual at round-off,
    for the LAPACK path (NumPy) and the batched Thomas recursion (the CuPy path, run here on NumPy)."""
    be = get_backend("numpy")
    rng = np.random.default_rng(2)
    grid = Grid((0.0,) * len(shape), (1.0,) * len(shape), shape)
    _, rates = random_rates(be, grid, periodic, rng)
    c0, c1 = 1.5, 0.3
    for k, (a, b) in enumerate(rates):
        M = c0 * np.eye(grid.size) - c1 * dense_axis_operator(grid, a, b, k, periodic)
        lines = TridiagonalLines(be, grid.shape, k, a, b, c0, c1, periodic, lapack=lapack)
        r = rng.normal(size=grid.size)
        x = lines.solve(r)
        assert np.abs(M @ x - r).max() < 1e-12 * np.abs(r).max() * np.linalg.cond(M)
        np.testing.assert_allclose(x, np.linalg.solve(M, r), rtol=1e-11, atol=1e-12)


def test_cyclic_lines_with_central_flux_at_high_peclet():
    """Central flux, cell Peclet ~50, large step: the cyclic systems are far from diagonally dominant; the LAPACK
    path (partial pivoting) still solves them to round-off."""
    be = get_backend("numpy")
    grid = Grid((0.0, 0.0), (1.0, 1.0), (16, 12))
    face_b = face_drift(be, grid, lambda t, x: 40.0 * np.stack([np.sin(6 * x[..., 1]), np.cos(5 * x[..., 0])], -1),
                        0.0, True)
    rates = face_rates(be, grid, face_b, 0.05, "central")
    rng = np.random.default_rng(4)
    for k, (a, b) in enumerate(rates):
        M = np.eye(grid.size) - 100.0 * dense_axis_operator(grid, a, b, k, True)
        r = rng.normal(size=grid.size)
        x = TridiagonalLines(be, grid.shape, k, a, b, 1.0, 100.0, True).solve(r)
        np.testing.assert_allclose(x, np.linalg.solve(M, r), rtol=1e-9, atol=1e-12 * np.abs(x).max())


@pytest.mark.parametrize("lapack", [True, False])
def test_cyclic_line_with_vanishing_first_pivot(lapack):
    """Rates (negative ones, as the central flux makes) with d_0 = c0 - c1 A_00 = 0 exactly: the Sherman-Morrison
    scale must not be -d_0 (division by zero); the solve still matches the dense one."""
    be = get_backend("numpy")
    a = np.array([1.0, -0.5, 1.0, 0.8, 1.2])
    b = np.array([-0.5, 0.9, 1.1, 1.0, 0.7])  # row 0 of A_k: diagonal -(a_1 + b_0) = 1, so d_0 = 1 - 1 * 1 = 0
    grid = Grid((0.0,), (1.0,), (5,))
    M = np.eye(5) - dense_axis_operator(grid, a, b, 0, True)
    assert M[0, 0] == 0.0 and abs(np.linalg.det(M)) > 1e-3
    r = np.arange(1.0, 6.0)
    x = TridiagonalLines(be, (5,), 0, a, b, 1.0, 1.0, True, lapack=lapack).solve(r)
    np.testing.assert_allclose(x, np.linalg.solve(M, r), rtol=1e-10)


@pytest.mark.parametrize("periodic", [False, True])
def test_thomas_path_steps_match_lapack_steps(periodic):
    """Whole Douglas steps with the Thomas recursion (the CuPy code path) equal the LAPACK ones (NumPy), with a
    time-dependent drift refactorised every step."""
    be = get_backend("numpy")
    grid = Grid((-3.0, -2.0, -2.0), (3.0, 2.0, 2.0), (12, 10, 8))
    drift = lambda t, x: np.stack([np.sin(x[..., 1] + t), -x[..., 0], 0.5 * np.cos(x[..., 0])], -1)  # noqa: E731

    def rates(t):
        return face_rates(be, grid, face_drift(be, grid, drift, t, periodic), 0.4, "scharfetter-gummel")

    rho = np.random.default_rng(3).uniform(0.5, 1.5, grid.size)
    a = DouglasADI(be, grid, rates, periodic, 0.05, True, lapack=True)
    b = DouglasADI(be, grid, rates, periodic, 0.05, True, lapack=False)
    x, y = rho, rho
    for n in range(4):
        x, y = a.step(x, 0.05 * n, 0.05 * (n + 1)), b.step(y, 0.05 * n, 0.05 * (n + 1))
    np.testing.assert_allclose(y, x, rtol=1e-12)
    assert abs(x.sum() - rho.sum()) < 1e-12 * rho.sum()


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(7,), (2, 5), (3, 4, 5), (150, 70)])
@pytest.mark.parametrize("periodic", [False, True])
def test_cuda_line_solves_match_lapack_solves(cupy, shape, periodic):
    """The CUDA Thomas kernels (CuPy backend) give the LAPACK line solves (checked against dense solves above) to
    round-off; (150, 70) spreads the lines over several thread blocks, the last one partly filled."""
    be, gpu = get_backend("numpy"), get_backend("cupy")
    rng = np.random.default_rng(7)
    grid = Grid((0.0,) * len(shape), (1.0,) * len(shape), shape)
    _, rates = random_rates(be, grid, periodic, rng)
    for k, (a, b) in enumerate(rates):
        lines = TridiagonalLines(gpu, grid.shape, k, cupy.asarray(a), cupy.asarray(b), 1.5, 0.3, periodic)
        assert lines._kernels is not None
        r = rng.normal(size=grid.size)
        x = TridiagonalLines(be, grid.shape, k, a, b, 1.5, 0.3, periodic).solve(r)
        np.testing.assert_allclose(cupy.asnumpy(lines.solve(cupy.asarray(r))), x, rtol=1e-11,
                                   atol=1e-13 * np.abs(x).max())


@pytest.mark.gpu
@pytest.mark.parametrize("periodic", [False, True])
def test_cuda_steps_match_lapack_steps(cupy, periodic):
    """Whole Douglas steps on CuPy (CUDA Thomas kernels, refactorised every step for a time-dependent drift)
    equal the NumPy LAPACK steps to round-off."""
    grid = Grid((-3.0, -2.0, -2.0), (3.0, 2.0, 2.0), (12, 10, 8))
    drift = lambda t, x: np.stack([np.sin(x[..., 1] + t), -x[..., 0], 0.5 * np.cos(x[..., 0])], -1)  # noqa: E731

    def stepper(name):
        be = get_backend(name)

        def rates(t):
            return face_rates(be, grid, face_drift(be, grid, drift, t, periodic), 0.4, "scharfetter-gummel")
        return DouglasADI(be, grid, rates, periodic, 0.05, True)

    rho = np.random.default_rng(3).uniform(0.5, 1.5, grid.size)
    cpu, gpu = stepper("numpy"), stepper("cupy")
    x, y = rho, cupy.asarray(rho)
    for n in range(4):
        x, y = cpu.step(x, 0.05 * n, 0.05 * (n + 1)), gpu.step(y, 0.05 * n, 0.05 * (n + 1))
    np.testing.assert_allclose(cupy.asnumpy(y), x, rtol=1e-12)


def test_one_dimension_is_crank_nicolson_with_time_dependent_drift_and_source():
    """In 1D the Douglas scheme is Crank-Nicolson, sources included: same numbers to round-off."""
    grid = Grid((0.0,), (2 * np.pi,), (40,))
    drift = lambda t, x: np.sin(x - t) + 0.3 * np.cos(2 * t) + 0 * x  # noqa: E731
    source = lambda t, x: 0.2 * np.cos(x[..., 0] + t)  # noqa: E731  (zero mean: mass stays 2 pi)
    kw = dict(boundary="periodic", source=source, save_at=[0.5, 1.0])
    a = solve_fokker_planck(grid, np.ones(40), drift, 0.2, 1.0, 16, time="douglas-adi", **kw)
    b = solve_fokker_planck(grid, np.ones(40), drift, 0.2, 1.0, 16, time="crank-nicolson", damped_steps=0, **kw)
    for u, v in zip(a.densities, b.densities):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-13)
    assert a.info["solver"] == "tridiagonal-lines" and a.info["time_dependent"]


def test_ou_2d_second_order_like_crank_nicolson(array_backend):
    """OU-2D (as the BDF2 test), steps = N/2: L1 order 2 +- 0.15, within 1 % of the fully implicit CN error."""
    drift, D, g0, law = ou_problem(2)
    hs, errs, cn = [], [], []
    for n in (32, 64, 128):
        grid = Grid((-6.0, -6.0), (6.0, 6.0), (n, n))
        rho0 = grid.cell_averages(g0.pdf)
        exact = grid.cell_averages(law(1.0).pdf)
        sol = solve_fokker_planck(grid, rho0, drift, D, 1.0, n // 2, time="douglas-adi", backend=array_backend)
        ref = solve_fokker_planck(grid, rho0, drift, D, 1.0, n // 2, time="crank-nicolson")
        errs.append(l1_error(grid, sol.to_numpy(), exact))
        cn.append(l1_error(grid, ref.density, exact))
        hs.append(grid.spacing[0])
        assert sol.mass_drift < 1e-12
    assert abs(slope(hs, errs) - 2.0) < 0.15, errs
    # measured: ADI 1.3017e-3 vs CN 1.2997e-3 at N = 128 (the splitting error is far below the spatial one)
    np.testing.assert_allclose(errs, cn, rtol=1e-2)


def test_ou_3d_temporal_order_and_accuracy():
    """3D OU on 16^3: self-convergence order 2 +- 0.15 in time; L1 error against the exact law close to CN's."""
    H = np.array([[1.0, 0.3, 0.1], [0.3, 0.8, -0.2], [0.1, -0.2, 0.9]])
    drift, D = Affine(-H, np.array([0.1, 0.0, -0.2])), 0.5
    g0 = Gaussian([0.5, -0.3, 0.2], np.diag([0.4, 0.3, 0.5]))
    grid = Grid((-5.0,) * 3, (5.0,) * 3, (16, 16, 16))
    rho0 = grid.cell_averages(g0.pdf)
    u = [solve_fokker_planck(grid, rho0, drift, D, 1.0, k, time="douglas-adi").density for k in (4, 8, 16, 32)]
    diffs = [l1_error(grid, u[i], u[i + 1]) for i in range(3)]
    assert abs(slope([1 / 4, 1 / 8, 1 / 16], diffs) - 2.0) < 0.15, diffs
    exact = grid.cell_averages(linear_sde(g0, drift, D, 1.0).pdf)
    cn = solve_fokker_planck(grid, rho0, drift, D, 1.0, 32, time="crank-nicolson").density
    e_adi, e_cn = l1_error(grid, u[-1], exact), l1_error(grid, cn, exact)
    assert abs(e_adi - e_cn) < 0.02 * e_cn, (e_adi, e_cn)  # measured: relative gap 2e-4


@pytest.mark.parametrize("change, match", [({"backend": "fipy"}, "array backends"),
                                           ({"solver": "lu"}, "solver='auto'")])
def test_douglas_adi_rejects_fipy_and_solver_choices(change, match):
    grid = Grid((0.0, 0.0), (1.0, 1.0), (8, 8))
    kw = dict(time="douglas-adi")
    kw.update(change)
    with pytest.raises(ValueError, match=match):
        solve_fokker_planck(grid, np.ones((8, 8)), lambda t, x: 0 * x, 0.1, 0.1, 2, **kw)
