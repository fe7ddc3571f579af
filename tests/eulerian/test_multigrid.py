"""MultigridSolver: mixed-precision (float32 V-cycle) BiCGStab reaches the float64 tolerance, the per-level
Jacobi damping, the NumPy kernels equal the generic array expressions, and bad settings or non-convergence
raise."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from eulerian.backend import Backend, get_backend
from eulerian.errors import NumericalError
from eulerian.grid import Grid
from eulerian.multigrid import (TENSOR_PROLONGATION_MIN, MultigridSolver, TensorProlongation, jacobi_damping,
                                transfer_operators)
from eulerian.operators import assemble_generator, face_drift

BE = get_backend("numpy")
H = np.array([[1.0, 0.4, 0.2], [0.4, 0.7, 0.1], [0.2, 0.1, 0.8]])  # the OU-3D benchmark's drift -H x
L = 4.5


def bdf2_system(shape, dt=0.25, D=0.5, periodic=False):
    """(M, coarse) for a BDF2 step of the OU Fokker-Planck equation: M = 1.5 I - dt A (Scharfetter-Gummel)."""
    d = len(shape)

    def matrix(sh):
        g = Grid((-L,) * d, (L,) * d, sh)
        A = assemble_generator(BE, g, face_drift(BE, g, lambda t, x: -x @ H[:d, :d].T, 0.0, periodic), D,
                               "scharfetter-gummel", periodic)
        return (1.5 * sp.identity(g.size, format="csr") - dt * A).tocsr()

    return matrix(shape), matrix


def rhs(n, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 1.5, n)


def true_relres(M, x, b):
    return float(np.linalg.norm(b - M @ x) / np.linalg.norm(b))


@pytest.mark.parametrize("precision", ["mixed", "float64"])
def test_solution_matches_sparse_lu_to_the_tolerance(precision):
    """float32 V-cycle or not, the float64 residual of the answer is below rtol and x agrees with SuperLU."""
    shape = (16, 12, 20)
    M, coarse = bdf2_system(shape)
    b = rhs(M.shape[0])
    s = MultigridSolver(BE, M, shape, coarse_matrix=coarse, precision=precision)
    x = s.solve(b)
    exact = spla.spsolve(M.tocsc(), b)
    assert x.dtype == np.float64
    assert true_relres(M, x, b) <= 1e-12
    assert np.abs(x - exact).max() <= 1e-10 * np.abs(exact).max()
    assert 1 <= s.iterations[-1] <= 6
    if precision == "mixed":
        assert all(lev.K.dtype == np.float32 and lev.x.dtype == np.float32 for lev in s.levels)
        assert s.levels[0].P.dtype == np.float32 and s.levels[0].R.dtype == np.float32


@pytest.mark.parametrize("shape", [(16, 12, 20), (64, 32, 32)])   # Kronecker P; TensorProlongation at the top
def test_shared_transfers_are_built_once_and_give_the_same_solution(shape):
    """Hierarchies of one run (a matrix that changes in time) share their transfer operators through
    ``transfers``: the second hierarchy builds none and solves as a hierarchy with its own."""
    transfers: dict = {}
    for dt in (0.25, 0.125):
        M, coarse = bdf2_system(shape, dt=dt)
        b = rhs(M.shape[0])
        shared = MultigridSolver(BE, M, shape, coarse_matrix=coarse, transfers=transfers)
        if dt == 0.25:
            first = dict(transfers)
        own = MultigridSolver(BE, M, shape, coarse_matrix=coarse)
        np.testing.assert_array_equal(shared.solve(b), own.solve(b))
        assert shared.iterations == own.iterations
    assert transfers == first and len(first) == len(shared.levels) - 1   # one entry per coarsening, reused
    assert all(a.P is b for a, b in zip(shared.levels[:-1], [v[0] for v in first.values()]))
    assert isinstance(shared.levels[0].P, TensorProlongation) == (np.prod(shape) >= TENSOR_PROLONGATION_MIN)


def test_mixed_and_double_take_the_same_iterations():
    """The float32 perturbation of the preconditioner (1e-7) does not cost BiCGStab iterations at rtol 1e-12
    (32^3: the finest level prolongs axis by axis)."""
    shape = (32, 32, 32)
    M, coarse = bdf2_system(shape)
    b = rhs(M.shape[0], 1)
    its, xs = {}, {}
    for precision in ("mixed", "float64"):
        s = MultigridSolver(BE, M, shape, coarse_matrix=coarse, precision=precision)
        assert isinstance(s.levels[0].P, TensorProlongation) and not isinstance(s.levels[1].P, TensorProlongation)
        xs[precision] = s.solve(b)
        its[precision] = s.iterations[-1]
        assert true_relres(M, xs[precision], b) <= 1e-12
    assert its["mixed"] <= its["float64"] + 1, its
    assert np.abs(xs["mixed"] - xs["float64"]).max() <= 1e-10 * np.abs(xs["float64"]).max()


@pytest.mark.parametrize("shape,periodic", [((16, 8, 12), False), ((16, 8, 12), True),
                                            ((10, 7, 6), (True, False, False)), ((32, 24), True),
                                            ((6, 9), (False, True)), ((64,), False), ((8,), True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tensor_prolongation_equals_the_csr_matrix(shape, periodic, dtype):
    """Axis-by-axis x += P e (walls, periodic axes, odd axes left unhalved) equals the Kronecker-product matrix."""
    P, _, coarse = transfer_operators(BE, shape, periodic, dtype=dtype)
    tp = TensorProlongation(BE, shape, coarse, periodic, dtype)
    rng = np.random.default_rng(8)
    e, x = rng.standard_normal(P.shape[1]).astype(dtype), rng.standard_normal(P.shape[0]).astype(dtype)
    expected = x + P @ e
    out = tp.add(e, x)
    assert out is x and x.dtype == dtype
    assert np.abs(x - expected).max() <= (1e-6 if dtype == np.float32 else 1e-14) * np.abs(expected).max()
    # the threshold: a 32^3 grid is the smallest that prolongs axis by axis
    assert 32**3 >= TENSOR_PROLONGATION_MIN > 16**3


def test_damping_per_level_from_the_gershgorin_bound():
    """w = 2 / (lmin + lmax): 0.8 for the 2D Laplacian (lmax = 2), 6/7 in 3D, 1 when diagonally dominant."""
    assert jacobi_damping(2.0, 2) == pytest.approx(0.8, abs=1e-15)
    assert jacobi_damping(2.0, 3) == pytest.approx(6 / 7, abs=1e-15)
    assert jacobi_damping(1.2, 3) == pytest.approx(1.0, abs=1e-15)  # [0.8, 1.2]
    assert jacobi_damping(1.6, 3) == pytest.approx(2 / (0.4 + 1.6), abs=1e-15)  # 2 - lmax > lmax / 6
    # on a 3D system: the fine level (dt D / h^2 = 1.6 per axis) near 6/7 ... 1, Gershgorin bound recomputed
    M, coarse = bdf2_system((16, 16, 16))
    s = MultigridSolver(BE, M, (16, 16, 16), coarse_matrix=coarse)
    lmax = (np.asarray(abs(M).sum(axis=1)).ravel() / np.abs(M.diagonal())).max()
    assert s.levels[0].omega == pytest.approx(jacobi_damping(lmax, 3), rel=1e-6)
    assert all(6 / 7 - 1e-12 <= lev.omega <= 1.0 for lev in s.levels)


def test_iterations_in_3d_no_more_than_damped_jacobi_08():
    """Same dt on 16^3 and 32^3, rough right-hand side: at most the iterations of the former fixed damping 0.8
    (measured 5 and 8 against 6 and 8), and no more than 8."""
    its = {}
    for n in (16, 32):
        M, coarse = bdf2_system((n,) * 3)
        b = rhs(M.shape[0], 2)
        for omega in (None, 0.8):
            s = MultigridSolver(BE, M, (n,) * 3, coarse_matrix=coarse, omega=omega)
            s.solve(b)
            its[n, omega] = s.iterations[-1]
    assert all(its[n, None] <= its[n, 0.8] for n in (16, 32)) and its[32, None] <= 8, its


@pytest.mark.parametrize("shape,periodic", [((16, 8, 12), False), ((32, 24), True), ((64,), False),
                                            ((32, 32, 32), False)])
def test_numpy_kernels_equal_the_generic_array_path(shape, periodic):
    """The temporaries-free NumPy path (SciPy CSR kernel into preallocated vectors, BLAS axpy) computes the same
    V-cycle and solution as the array expressions that CuPy runs."""
    M, coarse = bdf2_system(shape, periodic=periodic)
    b = rhs(M.shape[0], 3)
    fast = MultigridSolver(BE, M, shape, periodic=periodic, coarse_matrix=coarse)
    generic = Backend("generic", np, BE.fft, BE.sparse, BE.splinalg)  # NumPy arrays, not the NumPy fast path
    slow = MultigridSolver(generic, M, shape, periodic=periodic, coarse_matrix=coarse)
    assert fast._fast and not slow._fast
    assert np.shares_memory(fast.levels[0].K.indices, M.indices)  # float32 values, the float64 matrix's indices
    y1, y2 = fast.vcycle(b), slow.vcycle(b)
    assert np.abs(y1 - y2).max() <= 1e-5 * np.abs(y1).max()
    x1, x2 = fast.solve(b), slow.solve(b)
    assert np.abs(x1 - x2).max() <= 1e-10 * np.abs(x1).max()
    assert true_relres(M, x2, b) <= 1e-12


def test_w_cycle_keeps_iterations_flat_where_the_v_cycle_grows():
    """cycle="W": smooth right-hand side (a density), same dt: 64^3 (dt D / h^2 = 6.3 per axis) W 6 against V 8
    iterations; at 32^3 both 7."""
    its = {}
    for n in (32, 64):
        M, coarse = bdf2_system((n,) * 3)
        x = Grid((-L,) * 3, (L,) * 3, (n,) * 3).centers().reshape(-1, 3)
        b = np.exp(-0.5 * ((x - 0.3) ** 2).sum(-1) / 0.6)
        for cycle in ("W", "V"):
            s = MultigridSolver(BE, M, (n,) * 3, coarse_matrix=coarse, cycle=cycle)
            s.solve(b)
            its[n, cycle] = s.iterations[-1]
    assert its[64, "W"] <= its[64, "V"] - 2 and its[64, "W"] <= its[32, "W"] and its[32, "W"] <= its[32, "V"], its


def test_vcycle_contracts_the_error():
    """The preconditioned error e <- (I - B M) e contracts by < 0.2 per V-cycle on 32^3 (measured 0.144 after 8
    cycles; 0.168 with the former fixed damping 0.8)."""
    shape = (32, 32, 32)
    M, coarse = bdf2_system(shape)
    s = MultigridSolver(BE, M, shape, coarse_matrix=coarse)
    e = rhs(M.shape[0], 4) - 1.0
    for _ in range(8):
        e_new = e - s.vcycle(M @ e)
        f = np.linalg.norm(e_new) / np.linalg.norm(e)
        e = e_new
    assert f < 0.2, f


def test_odd_shape_uses_the_coarse_lu_in_mixed_precision():
    """101 x 67 cannot be halved: the coarsest level is the grid itself, factorised in float64, applied in float32."""
    shape = (101, 67)
    M, coarse = bdf2_system(shape)
    b = rhs(M.shape[0], 5)
    s = MultigridSolver(BE, M, shape, coarse_matrix=coarse)
    assert len(s.levels) == 1
    x = s.solve(b)
    assert true_relres(M, x, b) <= 1e-12
    assert s.iterations[-1] <= 2  # a float32-accurate inverse gains ~7 digits per application (measured 1)


def test_zero_rhs_and_exact_start():
    shape = (8, 8, 8)
    M, coarse = bdf2_system(shape)
    s = MultigridSolver(BE, M, shape, coarse_matrix=coarse)
    assert not s.solve(np.zeros(M.shape[0])).any()
    b = rhs(M.shape[0], 6)
    exact = spla.spsolve(M.tocsc(), b)
    x = s.solve(b, exact)
    assert s.iterations[-1] == 0 and np.array_equal(x, exact)


def test_non_convergence_raises():
    shape = (16, 16, 16)
    M, coarse = bdf2_system(shape)
    s = MultigridSolver(BE, M, shape, coarse_matrix=coarse, maxiter=2)
    with pytest.raises(NumericalError, match="did not reach rtol=1e-12 in 2 iterations"):
        s.solve(rhs(M.shape[0], 7))


@pytest.mark.parametrize("kw,match", [(dict(precision="float16"), "precision"), (dict(nu=0), "nu"),
                                      (dict(cycle="F"), "cycle"),
                                      (dict(nu=1.5), "nu"), (dict(omega=2.5), "omega"),
                                      (dict(omega=0.0), "omega"),
                                      (dict(omega=2.0), "omega")])   # the open interval's end: Jacobi then amplifies
def test_bad_settings_raise(kw, match):
    M, coarse = bdf2_system((8, 8))
    with pytest.raises(ValueError, match=match):
        MultigridSolver(BE, M, (8, 8), coarse_matrix=coarse, **kw)
