"""Linear solvers for the implicit finite-volume systems, one code path for NumPy and CuPy.

``MultigridSolver``: BiCGStab right-preconditioned by a geometric multigrid V-cycle. Cell-centred grids are
coarsened by 2 along every axis whose length is even (bilinear cell-centred prolongation P, averaging
restriction R over the 2^d children, so that order(P) + order(R) = 3 > 2), coarse operators re-discretised by
the caller (the exponentially fitted fluxes keep every level an M-matrix, which damped Jacobi smooths reliably;
Galerkin products R M P lose that property once convection dominates on coarse levels), a dense inverse on
the coarsest level. Work per
iteration is O(cells), and the iteration count is bounded independently of the grid for the diffusion-dominated
systems M = c I - dt A of implicit Fokker-Planck steps.

``LUSolver``: sparse LU (SciPy SuperLU) factorised once per matrix; kept for small grids and as a reference.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .backend import Backend
from .errors import NumericalError
from .operators import per_axis


def _prolongation_1d(be: Backend, n: int, periodic: bool) -> Any:
    """Cell-centred linear interpolation from n//2 coarse cells to n fine cells, shape (n, n//2)."""
    xp = be.xp
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
        vals += [xp.full(nc, 0.75), xp.full(nc, 0.25)]
    r = xp.concatenate(rows)
    c = xp.concatenate(cols)
    v = xp.concatenate(vals)
    return be.sparse.coo_matrix((v, (r, c)), shape=(n, nc)).tocsr()


def _restriction_1d(be: Backend, n: int) -> Any:
    """Average of the two fine children of every coarse cell, shape (n//2, n)."""
    xp = be.xp
    nc = n // 2
    j = xp.arange(nc)
    r = xp.concatenate([j, j])
    c = xp.concatenate([2 * j, 2 * j + 1])
    return be.sparse.coo_matrix((xp.full(2 * nc, 0.5), (r, c)), shape=(nc, n)).tocsr()


def transfer_operators(
    be: Backend, shape: tuple[int, ...], periodic: Any, min_cells: int = 2
) -> tuple[Any, Any, tuple] | None:
    """(P, R, coarse_shape) for one coarsening step, or None when no axis can be halved. ``periodic``: one flag
    for every axis or one per axis."""
    if all(n % 2 or n // 2 < min_cells for n in shape):
        return None
    periodic = per_axis(periodic, len(shape))
    P = R = None
    coarse = []
    for n, wrap in zip(shape, periodic):
        if n % 2 == 0 and n // 2 >= min_cells:
            Pk, Rk = _prolongation_1d(be, n, wrap), _restriction_1d(be, n)
            coarse.append(n // 2)
        else:
            Pk = Rk = be.sparse.identity(n, format="csr")
            coarse.append(n)
        P = Pk if P is None else be.sparse.kron(P, Pk, format="csr")
        R = Rk if R is None else be.sparse.kron(R, Rk, format="csr")
    return P, R, tuple(coarse)


DENSE_COARSE_MAX = 1024  # coarsest levels up to this size are inverted densely, larger ones factorised


@dataclass
class _Level:
    M: Any
    dinv: Any
    P: Any = None
    R: Any = None


@dataclass
class MultigridSolver:
    """Solve M x = b with BiCGStab + geometric multigrid V(nu, nu) preconditioning.

    Attributes
    ----------
    M : sparse (size, size) matrix on the backend for a field of the given ``shape`` (C-order flattening).
    coarse_matrix : callable shape -> the same operator re-discretised on the coarser grid of that shape;
        None uses Galerkin products R M P (adequate for diffusion-dominated matrices only).
    """

    be: Backend
    M: Any
    shape: tuple[int, ...]
    periodic: Any = False  # one flag for every axis or one per axis
    coarse_matrix: Any = None
    rtol: float = 1e-12
    maxiter: int = 200
    nu: int = 2
    omega: float = 0.8
    coarse_size: int = 256
    levels: list = field(default_factory=list)
    iterations: list = field(default_factory=list)

    def __post_init__(self) -> None:
        xp = self.be.xp
        M = self.M.tocsr()
        shape = self.shape
        while True:
            lev = _Level(M=M, dinv=1.0 / M.diagonal())
            self.levels.append(lev)
            if M.shape[0] <= self.coarse_size:
                break
            pr = transfer_operators(self.be, shape, self.periodic)
            if pr is None:
                break
            P, R, shape = pr
            lev.P, lev.R = P, R
            M = (R @ M @ P) if self.coarse_matrix is None else self.coarse_matrix(shape)
            M = M.tocsr()
        Mc = self.levels[-1].M
        if Mc.shape[0] <= DENSE_COARSE_MAX:
            inverse = xp.linalg.inv(Mc.toarray())
            self.coarse_solve = lambda r: inverse @ r
        else:  # odd grid sizes stop the coarsening early: factorise the coarsest level instead
            try:
                lu = self.be.splinalg.splu(Mc.tocsc())
            except (AttributeError, RuntimeError) as exc:
                raise NumericalError(
                    f"multigrid cannot coarsen shape {shape} below {Mc.shape[0]} cells and the coarse LU failed "
                    f"({exc}); use grid sizes divisible by a power of 2"
                ) from exc
            self.coarse_solve = lu.solve

    def vcycle(self, r: Any, k: int = 0) -> Any:
        lev = self.levels[k]
        if k == len(self.levels) - 1:
            return self.coarse_solve(r)
        w = self.omega * lev.dinv
        x = w * r
        for _ in range(self.nu - 1):
            x = x + w * (r - lev.M @ x)
        rc = lev.R @ (r - lev.M @ x)
        x = x + lev.P @ self.vcycle(rc, k + 1)
        for _ in range(self.nu):
            x = x + w * (r - lev.M @ x)
        return x

    def solve(self, b: Any, x0: Any = None) -> Any:
        """BiCGStab with right preconditioning; stops when ||b - M x|| <= rtol ||b||."""
        xp = self.be.xp
        M = self.levels[0].M
        bnorm = float(xp.linalg.norm(b))
        if bnorm == 0.0:
            return xp.zeros_like(b)
        x = xp.zeros_like(b) if x0 is None else x0.copy()
        r = b - M @ x
        tol = self.rtol * bnorm
        if float(xp.linalg.norm(r)) <= tol:
            self.iterations.append(0)
            return x
        rhat = r.copy()
        rho_old = alpha = omega = 1.0
        v = xp.zeros_like(b)
        p = xp.zeros_like(b)
        for it in range(1, self.maxiter + 1):
            rho = float(rhat @ r)
            if rho == 0.0:
                raise NumericalError("BiCGStab breakdown (rho = 0) in the implicit Fokker-Planck solve")
            beta = (rho / rho_old) * (alpha / omega)
            p = r + beta * (p - omega * v)
            y = self.vcycle(p)
            v = M @ y
            alpha = rho / float(rhat @ v)
            x = x + alpha * y
            s = r - alpha * v
            if float(xp.linalg.norm(s)) <= tol:
                self.iterations.append(it)
                return x
            z = self.vcycle(s)
            t = M @ z
            tt = float(t @ t)
            omega = float(t @ s) / tt if tt > 0 else 0.0
            x = x + omega * z
            r = s - omega * t
            rho_old = rho
            if float(xp.linalg.norm(r)) <= tol:
                self.iterations.append(it)
                return x
            if omega == 0.0:
                break
        raise NumericalError(
            f"BiCGStab + multigrid did not reach rtol={self.rtol:g} in {self.maxiter} iterations "
            f"(residual {float(xp.linalg.norm(r)) / bnorm:.3g}); try solver='lu' or a smaller time step"
        )


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
