"""Linear solvers for the implicit finite-volume systems, one code path for NumPy and CuPy.

``MultigridSolver``: BiCGStab right-preconditioned by a geometric multigrid V-cycle. Cell-centred grids are
coarsened by 2 along every axis whose length is even (bilinear cell-centred prolongation P, averaging
restriction R over the 2^d children, so that order(P) + order(R) = 3 > 2), coarse operators re-discretised by
the caller (the exponentially fitted fluxes keep every level an M-matrix, which damped Jacobi smooths reliably;
Galerkin products R M P lose that property once convection dominates on coarse levels), a dense inverse on
the coarsest level. Work per iteration is O(cells), and the iteration count is bounded independently of the
grid for the diffusion-dominated systems M = c I - dt A of implicit Fokker-Planck steps. The cycle runs in
float32 by default (half the memory traffic of its sparse products; BiCGStab, its matrix products and the
stopping test stay float64) and, on NumPy, without temporary arrays.

``LUSolver``: sparse LU (SciPy SuperLU) factorised once per matrix; kept for small grids and as a reference.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .backend import Backend
from .errors import NumericalError
from .operators import per_axis


def _prolongation_1d(be: Backend, n: int, periodic: bool, dtype: Any = None) -> Any:
    """Cell-centred linear interpolation from n//2 coarse cells to n fine cells, shape (n, n//2)."""
    xp = be.xp
    dtype = xp.float64 if dtype is None else dtype
    nc = n // 2
    j = xp.arange(nc)
    rows, cols, vals = [], [], []
    for fine, nb in ((2 * j, j - 1), (2 * j + 1, j + 1)):
        rows += [fine, fine]
        if periodic:
            nbc = nb % nc
        else:
            nbc = xp.clip(nb, 0, nc - 1)  # wall: constant extrapolation, weights sum to 1
        cols += [j, nbc]
        vals += [xp.full(nc, 0.75, dtype=dtype), xp.full(nc, 0.25, dtype=dtype)]
    r = xp.concatenate(rows)
    c = xp.concatenate(cols)
    v = xp.concatenate(vals)
    return be.sparse.coo_matrix((v, (r, c)), shape=(n, nc)).tocsr()


def _restriction_1d(be: Backend, n: int, dtype: Any = None) -> Any:
    """Average of the two fine children of every coarse cell, shape (n//2, n)."""
    xp = be.xp
    dtype = xp.float64 if dtype is None else dtype
    nc = n // 2
    j = xp.arange(nc)
    r = xp.concatenate([j, j])
    c = xp.concatenate([2 * j, 2 * j + 1])
    return be.sparse.coo_matrix((xp.full(2 * nc, 0.5, dtype=dtype), (r, c)), shape=(nc, n)).tocsr()


def transfer_operators(
    be: Backend, shape: tuple[int, ...], periodic: Any, min_cells: int = 2, dtype: Any = None,
    prolongation: bool = True,
) -> tuple[Any, Any, tuple] | None:
    """(P, R, coarse_shape) for one coarsening step, or None when no axis can be halved. ``periodic``: one flag
    for every axis or one per axis. ``dtype``: of P and R (default float64). P is None if not ``prolongation``."""
    halved = [n % 2 == 0 and n // 2 >= min_cells for n in shape]   # the axes this step coarsens
    if not any(halved):
        return None
    periodic = per_axis(periodic, len(shape))
    P = R = None
    coarse = []
    for n, wrap, halve in zip(shape, periodic, halved):
        if halve:
            Pk, Rk = _prolongation_1d(be, n, wrap, dtype), _restriction_1d(be, n, dtype)
            coarse.append(n // 2)
        else:
            Pk = Rk = be.sparse.identity(n, dtype=be.xp.float64 if dtype is None else dtype, format="csr")
            coarse.append(n)
        if prolongation:
            P = Pk if P is None else be.sparse.kron(P, Pk, format="csr")
        R = Rk if R is None else be.sparse.kron(R, Rk, format="csr")
    return P, R, tuple(coarse)


def _axis_slice(axis: int, ndim: int, s: slice) -> tuple:
    idx = [slice(None)] * ndim
    idx[axis] = s
    return tuple(idx)


class TensorProlongation:
    """x += P e for the tensor-product prolongation of ``transfer_operators`` (the 1D cell-centred linear
    interpolation along every halved axis), applied axis by axis on the grid-shaped arrays: innermost axis first,
    on the smallest arrays, the outermost last, accumulated into x. No matrix is stored (the CSR P of a 3D grid
    holds 8 entries per fine cell: 64 bytes in float32), and the stages write into preallocated buffers."""

    def __init__(self, be: Backend, fine: tuple, coarse: tuple, periodic: Any, dtype: Any) -> None:
        xp = be.xp
        self.xp, self.fine, self.coarse = xp, tuple(fine), tuple(coarse)
        self.periodic = per_axis(periodic, len(fine))
        self.axes = [a for a in range(len(fine)) if fine[a] != coarse[a]][::-1]
        shapes, cur = [], list(coarse)
        for a in self.axes:
            cur[a] = fine[a]
            shapes.append(tuple(cur))
        inputs = [self.coarse] + shapes[:-1]
        self.out = [xp.empty(sh, dtype=dtype) for sh in shapes[:-1]]  # the stages' results but the last
        self.quarter = [xp.empty(sh, dtype=dtype) for sh in inputs]  # 0.25 u per stage
        self.scratch = xp.empty(inputs[-1], dtype=dtype)  # one parity of the last stage before it is added

    def add(self, e: Any, x: Any) -> Any:
        """x += P e (flat arrays of the coarse and the fine grid); returns x."""
        xp, nd = self.xp, len(self.fine)
        u = e.reshape(self.coarse)
        for i, a in enumerate(self.axes):
            last = i == len(self.axes) - 1
            v = x.reshape(self.fine) if last else self.out[i]
            q = self.quarter[i]
            m = u.shape[a]
            wrap = self.periodic[a]
            xp.multiply(u, 0.25, out=q)
            head, tail = _axis_slice(a, nd, slice(0, 1)), _axis_slice(a, nd, slice(m - 1, m))
            below, above = _axis_slice(a, nd, slice(0, m - 1)), _axis_slice(a, nd, slice(1, m))
            for parity in (0, 1):
                vp = v[_axis_slice(a, nd, slice(parity, None, 2))]
                dst = self.scratch if last else vp
                xp.multiply(u, 0.75, out=dst)
                if parity == 0:  # fine cell 2j: 0.75 u[j] + 0.25 u[j - 1] (wall: u[0]; periodic: u[m - 1])
                    dst[above] += q[below]
                    dst[head] += q[tail if wrap else head]
                else:  # fine cell 2j + 1: 0.75 u[j] + 0.25 u[j + 1]
                    dst[below] += q[above]
                    dst[tail] += q[head if wrap else tail]
                if last:
                    vp += dst
            u = v
        return x


DENSE_COARSE_MAX = 1024  # coarsest levels up to this size are inverted densely, larger ones factorised
# fine levels of at least this many cells prolong axis by axis (TensorProlongation: 125 us against 163 us for
# the CSR product at 32^3, 3.6 against 8.1 ns per cell at 128^3); smaller ones keep the CSR P (its ~30 NumPy
# calls cost ~50 us whatever the size)
TENSOR_PROLONGATION_MIN = 2**15
PRECISIONS = ("mixed", "float64")
CYCLES = ("V", "W")

try:  # NumPy fast path: y += A x into a preallocated y with SciPy's own CSR kernel, in-place BLAS axpy
    from scipy.linalg import blas as _blas
    from scipy.sparse import _sparsetools

    _CSR_MATVEC = _sparsetools.csr_matvec
except (ImportError, AttributeError):  # pragma: no cover - other SciPy layouts: the generic path
    _CSR_MATVEC = _blas = None


def jacobi_damping(lmax: float, dim: int) -> float:
    """Damping w = 2 / (lmin + lmax) of the Jacobi sweeps x <- x + w D^-1 (b - M x) on a level whose D^-1 M has
    the Gershgorin bound ``lmax`` = 1 + s (s: the largest off-diagonal row sum of D^-1 |M|), in ``dim``
    dimensions: w minimises max |1 - w lambda| over [lmin, lmax] with lmin = max(2 - lmax, lmax / (2 dim)).
    [lmax / 2d, lmax] holds the Jacobi spectrum of the d-dimensional Laplacian on the modes that a coarser grid
    cannot represent ([1/d, 2]); 1 - s bounds the spectrum of a diagonally dominant level from below. So w lies
    in [2d / (2d + 1), 1]: 0.8 for the 2D Laplacian, 6/7 in 3D, 1 on strongly diagonally dominant levels, and
    never above 1, where the non-normal, convection-dominated rows of the exponentially fitted operators are
    amplified (a Chebyshev smoother, dampings up to 1.8, took 10 BiCGStab iterations per OU-3D step at 32^3 from
    a uniform start, damped Jacobi 6-7)."""
    lmin = max(2.0 - lmax, lmax / (2.0 * dim))
    return 2.0 / (lmin + lmax)


@dataclass
class _Level:
    """One grid of the hierarchy in the preconditioner's dtype, in Jacobi-scaled form: K = -D^-1 M (D the
    diagonal of M), the damping of its sweeps, the scaled restriction D_c^-1 R D to the next coarser level and
    the prolongation P from it, and the work vectors c (scaled right-hand side D^-1 b), x, res."""

    K: Any
    omega: float
    c: Any
    x: Any
    res: Any
    P: Any = None  # CSR matrix or TensorProlongation
    R: Any = None


@dataclass
class MultigridSolver:
    """Solve M x = b with BiCGStab + geometric multigrid V(nu, nu) (or W(nu, nu)) preconditioning.

    BiCGStab runs in float64 with right preconditioning y = B p, where B is one cycle: nu damped Jacobi sweeps
    x <- x + w D^-1 (b - M x), restriction R of the residual, the same cycle on the coarser level (twice for a
    W-cycle, the second continuing from the first, except above the coarsest level, which is solved exactly,
    densely or by LU), prolongation P of its result, nu sweeps again. The damping w is ``omega``, or per level
    ``jacobi_damping`` of the Gershgorin bound of D^-1 M (``omega=None``, default). The W-cycle keeps the
    iterations flatter as dt D / h^2 grows (OU-3D benchmark systems, BDF2 with dt = 1/4: 6, 6, 5 at 32^3, 64^3,
    128^3 against 7, 7-8, 8) but costs more per cycle (3D: 1.33 of the finest level's work instead of 1.14, and
    NumPy calls on the small levels): in the benchmark's per-step runs (dt = 1/12, 4.1 to 5.2 iterations) it
    took 10.1 / 150 / 1392 ms per step at 32^3 / 64^3 / 128^3 against 8.4 / 124 / 835 ms for the V-cycle (best
    of two alternating runs each, process CPU).
    With ``precision="mixed"`` (default) the hierarchy (matrices, transfers, work vectors) is float32: B is a
    cycle perturbed by O(1e-7), which right-preconditioned BiCGStab tolerates: the products v = M y, the
    iterate and the residual recurrence stay float64, so x converges to the float64 solution. The stopping test
    ||b - M x|| <= rtol ||b|| is confirmed on the true float64 residual (BiCGStab restarts from x otherwise).
    On NumPy the cycle runs without temporaries (SciPy's CSR kernel accumulating into preallocated vectors,
    BLAS axpy); other backends (CuPy) take the same steps with array expressions.

    Attributes
    ----------
    M : sparse (size, size) matrix on the backend for a field of the given ``shape`` (C-order flattening).
    coarse_matrix : callable shape -> the same operator re-discretised on the coarser grid of that shape;
        None uses Galerkin products R M P (adequate for diffusion-dominated matrices only).
    nu : Jacobi sweeps before and after each coarse-grid correction (>= 1).
    omega : damping of every Jacobi sweep in (0, 2), or None: ``jacobi_damping`` per level.
    cycle : "V" (default) or "W".
    precision : "mixed" (float32 cycle, float64 Krylov) or "float64" (everything float64).
    iterations : BiCGStab iterations of every solve, appended (a list shared with the caller's statistics).
    transfers : the transfer operators of each level, by fine shape: pass one dict to the hierarchies of a run
        whose matrix changes in time (they depend on the grid only, not on M).
    """

    be: Backend
    M: Any
    shape: tuple[int, ...]
    periodic: Any = False  # one flag for every axis or one per axis
    coarse_matrix: Any = None
    rtol: float = 1e-12
    maxiter: int = 200
    nu: int = 2
    omega: float | None = None
    cycle: str = "V"
    coarse_size: int = 256
    precision: str = "mixed"
    levels: list = field(default_factory=list)
    iterations: list = field(default_factory=list)
    transfers: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if isinstance(self.nu, bool) or not isinstance(self.nu, int) or self.nu < 1:
            raise ValueError(f"nu (smoothing sweeps) must be an integer >= 1, got {self.nu!r}")
        if self.cycle not in CYCLES:
            raise ValueError(f"cycle must be one of {CYCLES}, got {self.cycle!r}")
        if self.omega is not None and not (0.0 < float(self.omega) < 2.0):
            raise ValueError(f"omega must be None (chosen per level) or a damping in (0, 2), got {self.omega!r}")
        xp = self.be.xp
        self.dtype = xp.float32 if self.precision == "mixed" else xp.float64
        self._fast = self.be.name == "numpy" and _CSR_MATVEC is not None
        self.M = self.M.tocsr()
        M, shape = self.M, self.shape
        d = M.diagonal()
        self._dinv = (1.0 / d).astype(self.dtype)  # level 0: c = D^-1 p
        while True:
            self.levels.append(self._level(M, d))
            if M.shape[0] <= self.coarse_size:
                break
            # the Galerkin products R M P need P as a matrix
            tensor = M.shape[0] >= TENSOR_PROLONGATION_MIN and self.coarse_matrix is not None
            pr = self._transfers(shape, tensor)
            if pr is None:
                break
            P, R, shape = pr
            Mc = (R @ M @ P) if self.coarse_matrix is None else self.coarse_matrix(shape)
            Mc = Mc.tocsr()
            dc = Mc.diagonal()
            diags = self.be.sparse.diags
            lev = self.levels[-1]
            lev.P = P
            lev.R = (diags(1.0 / dc) @ R @ diags(d)).tocsr().astype(self.dtype)
            M, d = Mc, dc
        # the coarsest level in float64, inverted (or factorised), then applied to c = D^-1 b: M^-1 D c
        if M.shape[0] <= DENSE_COARSE_MAX:
            inverse = (xp.linalg.inv(M.toarray()) * d[None, :]).astype(self.dtype)
            self.coarse_solve = lambda c: inverse @ c
        else:  # odd grid sizes stop the coarsening early: factorise the coarsest level instead
            try:
                lu = self.be.splinalg.splu(M.tocsc())
            except (AttributeError, RuntimeError) as exc:
                raise NumericalError(
                    f"multigrid cannot coarsen shape {shape} below {M.shape[0]} cells and the coarse LU failed "
                    f"({exc}); use grid sizes divisible by a power of 2"
                ) from exc
            self.coarse_solve = lambda c: lu.solve(d * c).astype(self.dtype)
        n = self.M.shape[0]  # float64 work vectors of BiCGStab
        self._work = {k: xp.empty(n, dtype=xp.float64) for k in ("y", "z", "v", "t")}

    def _transfers(self, shape: tuple[int, ...], tensor: bool) -> tuple[Any, Any, tuple] | None:
        """(P, R, coarse shape) below ``shape`` (P a TensorProlongation if ``tensor``), kept in ``transfers``."""
        key = (shape, tensor, str(self.dtype), str(self.periodic))
        if key not in self.transfers:
            pr = transfer_operators(self.be, shape, self.periodic, dtype=self.dtype, prolongation=not tensor)
            if pr is not None and tensor:
                pr = (TensorProlongation(self.be, shape, pr[2], self.periodic, self.dtype), *pr[1:])
            self.transfers[key] = pr
        return self.transfers[key]

    def _level(self, M: Any, d: Any) -> _Level:
        """Level of the (float64 CSR) matrix M with diagonal d; K = -D^-1 M keeps M's index arrays."""
        xp = self.be.xp
        n = M.shape[0]
        if self.be.name == "numpy":  # rows scaled in place of a float32 copy of the values, M's indices shared
            data = M.data.astype(self.dtype)
            data *= xp.repeat((-1.0 / d).astype(self.dtype), xp.diff(M.indptr))
            K = self.be.sparse.csr_matrix((data, M.indices, M.indptr), shape=M.shape)
        else:
            K = (self.be.sparse.diags(-1.0 / d) @ M).tocsr().astype(self.dtype)
        if self.omega is not None:
            omega = float(self.omega)
        else:  # Gershgorin bound of the (real: detailed balance) spectrum of D^-1 M: the row sums of |K|
            absK = self.be.sparse.csr_matrix((xp.abs(K.data), K.indices, K.indptr), shape=M.shape)
            omega = jacobi_damping(float((absK @ xp.ones(n, dtype=self.dtype)).max()), len(self.shape))
        return _Level(K=K, omega=omega, c=xp.zeros(n, dtype=self.dtype), x=xp.zeros(n, dtype=self.dtype),
                      res=xp.zeros(n, dtype=self.dtype))

    # -- kernels: one pass each and no temporaries on NumPy; array expressions on other backends --
    def _matvec(self, A: Any, x: Any, out: Any, accumulate: bool = False) -> Any:
        """out (+)= A x; returns the array holding the result (``out`` on NumPy, maybe a new one elsewhere)."""
        if self._fast and x.dtype == A.dtype == out.dtype:
            if not accumulate:
                out.fill(0)
            _CSR_MATVEC(A.shape[0], A.shape[1], A.indptr, A.indices, A.data, x, out)
            return out
        if accumulate:
            out += A @ x
            return out
        return A @ x

    def _axpy(self, a: float, x: Any, y: Any) -> Any:
        """y += a x in place."""
        xp = self.be.xp
        if self._fast and x.dtype == y.dtype and x.dtype in (xp.float32, xp.float64):
            return (_blas.saxpy if x.dtype == xp.float32 else _blas.daxpy)(x, y, a=a)
        y += a * x
        return y

    def _residual(self, lev: _Level) -> Any:
        """res = c + K x = D^-1 (b - M x) on a level."""
        self.be.xp.copyto(lev.res, lev.c)
        return self._matvec(lev.K, lev.x, lev.res, accumulate=True)

    def _cycle(self, k: int, from_zero: bool = True) -> None:
        """One cycle on level k for the right-hand side levels[k].c, into levels[k].x (from x = 0, or continuing
        from levels[k].x)."""
        xp = self.be.xp
        lev = self.levels[k]
        if k == len(self.levels) - 1:
            lev.x[...] = self.coarse_solve(lev.c)
            return
        sweeps = self.nu
        if from_zero:
            xp.multiply(lev.c, lev.omega, out=lev.x)  # the first sweep from x = 0
            sweeps -= 1
        for _ in range(sweeps):
            self._axpy(lev.omega, self._residual(lev), lev.x)
        nxt = self.levels[k + 1]
        rc = self._matvec(lev.R, self._residual(lev), nxt.c)
        if rc is not nxt.c:
            nxt.c[...] = rc
        self._cycle(k + 1)
        if self.cycle == "W" and k + 1 < len(self.levels) - 1:  # (the coarsest level is solved exactly)
            self._cycle(k + 1, from_zero=False)
        if isinstance(lev.P, TensorProlongation):
            lev.P.add(nxt.x, lev.x)
        else:
            self._matvec(lev.P, nxt.x, lev.x, accumulate=True)
        for _ in range(self.nu):
            self._axpy(lev.omega, self._residual(lev), lev.x)

    def vcycle(self, r: Any, out: Any = None) -> Any:
        """One cycle (``cycle``: V or W) applied to ``r`` (float64, shape (size,)): an approximation of M^-1 r,
        returned in ``out`` when given (float64), else in a new float64 array."""
        xp = self.be.xp
        c = self.levels[0].c
        if self._fast:
            xp.multiply(r, self._dinv, out=c, casting="same_kind")
        else:
            c[...] = r * self._dinv
        self._cycle(0)
        x = self.levels[0].x
        if out is None:
            return x.astype(xp.float64)
        xp.copyto(out, x, casting="same_kind")
        return out

    def solve(self, b: Any, x0: Any = None) -> Any:
        """BiCGStab with right preconditioning; stops when ||b - M x|| <= rtol ||b|| (checked on the float64
        residual b - M x itself) and raises NumericalError after ``maxiter`` iterations without it."""
        xp = self.be.xp
        M = self.M
        bnorm = float(xp.linalg.norm(b))
        if bnorm == 0.0:
            return xp.zeros_like(b)
        x = xp.zeros_like(b) if x0 is None else x0.copy()
        tol = self.rtol * bnorm
        w = self._work
        it = 0
        r = b - M @ x
        rnorm = float(xp.linalg.norm(r))
        omega = 1.0
        while rnorm > tol and it < self.maxiter:  # one BiCGStab run (restarted if its recurrence drifted)
            rhat = r.copy()
            rho_old = alpha = omega = 1.0
            v = w["v"]
            v.fill(0)
            p = xp.zeros_like(b)
            while it < self.maxiter:
                it += 1
                rho = float(rhat @ r)
                if rho == 0.0:
                    raise NumericalError("BiCGStab breakdown (rho = 0) in the implicit Fokker-Planck solve")
                beta = (rho / rho_old) * (alpha / omega)
                self._axpy(-omega, v, p)  # p = r + beta (p - omega v)
                p *= beta
                p += r
                y = self.vcycle(p, w["y"])
                v = self._matvec(M, y, w["v"])
                alpha = rho / float(rhat @ v)
                self._axpy(alpha, y, x)
                self._axpy(-alpha, v, r)  # r is now s = r - alpha v
                if float(xp.linalg.norm(r)) <= tol:
                    break
                z = self.vcycle(r, w["z"])
                t = self._matvec(M, z, w["t"])
                tt = float(t @ t)
                omega = float(t @ r) / tt if tt > 0 else 0.0
                self._axpy(omega, z, x)
                self._axpy(-omega, t, r)
                rho_old = rho
                if float(xp.linalg.norm(r)) <= tol or omega == 0.0:
                    break
            r = b - M @ x  # the true residual decides (the recurrence can drift from it)
            rnorm = float(xp.linalg.norm(r))
            if omega == 0.0:
                break
        if rnorm > tol:
            raise NumericalError(
                f"BiCGStab + multigrid did not reach rtol={self.rtol:g} in {it} iterations "
                f"(residual {rnorm / bnorm:.3g}); try solver='lu' or a smaller time step"
            )
        self.iterations.append(it)
        return x


@dataclass
class LUSolver:
    """Sparse LU factorisation (SuperLU), computed once; ``solve`` is a pair of triangular solves."""

    be: Backend
    M: Any
    iterations: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.trans = "N"  # solve M x = b with the factors of M; "T": with those of M^T, transposed
        try:
            if self.be.name == "numpy":
                # the matrices are structurally symmetric, column diagonally dominant M-matrices (exponential
                # fluxes): minimum-degree ordering on A + A^T with diagonal pivots roughly halves the fill of
                # the default COLAMD ordering (256^2 OU system: solve 7 ms instead of 19 ms). M^T is factorised
                # and solved transposed: SuperLU's transposed triangular solves run faster here (256^2 OU:
                # median 6.5 ms instead of 7.9 ms, same factors' size)
                self.lu = self.be.splinalg.splu(
                    self.M.tocsr().T.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.1,
                    options={"SymmetricMode": True},
                )
                self.trans = "T"
            else:
                self.lu = self.be.splinalg.splu(self.M.tocsc())
        except RuntimeError as exc:  # SuperLU: "Factor is exactly singular"
            raise NumericalError(f"sparse LU factorisation failed: {exc}") from exc

    def solve(self, b: Any, x0: Any = None) -> Any:
        self.iterations.append(0)
        return self.lu.solve(b, trans=self.trans)
