"""Douglas alternating-direction implicit (ADI) steps for the finite-volume Fokker-Planck generator.

The generator splits by face direction, A = A_1 + ... + A_d, where A_k carries the fluxes through the faces
normal to axis k (each column of A_k sums to zero, as for A). A_k couples cells along lines of axis k only, so
c0 I - c1 A_k is a set of independent tridiagonal systems (cyclic when periodic), solved directly in O(cells).

Douglas scheme, theta = 1/2 (Hundsdorfer & Verwer 2003, sec. IV.3), second order in time::

    Y_0 = rho^n + dt (A^n rho^n + S^n)
    Y_k = Y_{k-1} + theta dt (A_k^{n+1} Y_k - A_k^n rho^n)        (stage 1 also adds theta dt (S^{n+1} - S^n))
    rho^{n+1} = Y_d

In 1D this is Crank-Nicolson. Unlike the other time schemes it has a splitting error (O(dt^2), from the products
A_j A_k); every stage conserves mass to round-off, and a discrete Gibbs state with zero flux through every face
is a fixed point. Like Crank-Nicolson it is not positivity preserving and damps stiff modes weakly. In the von
Neumann sense (commuting parts) theta = 1/2 is unconditionally stable in 2D, but with three axes only for
diffusion-dominated problems (Hundsdorfer & Verwer, IV.3): for strongly convection-dominated 3D drifts keep dt
moderate or use a fully implicit scheme.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from .backend import Backend
from .errors import NumericalError
from .grid import Grid
from .operators import per_axis

THETA = 0.5


class TridiagonalLines:
    """c0 I - c1 A_k on every line of cells along ``axis``, factorised once; ``solve`` is O(cells).

    a, b: the rates alpha/h and beta/h of the faces normal to ``axis`` (flattened in face order, see
    eulerian.operators): zero-flux walls have shape[axis] - 1 faces per line, periodic lines shape[axis] (face i
    joins cell i - 1, cyclically, to cell i). Cyclic systems are solved by the Sherman-Morrison formula.
    NumPy solves all lines as one LAPACK tridiagonal system (?gttrf/?gttrs, partial pivoting); other backends
    run a batched Thomas recursion without pivoting (on CuPy a CUDA kernel with one thread per line), stable
    because c0 I - c1 A_k is a column diagonally dominant M-matrix for the exponentially fitted fluxes (for the
    central flux at cell Peclet numbers above 2 it is not, and the recursion may lose accuracy).
    """

    def __init__(self, be: Backend, shape: tuple[int, ...], axis: int, a: Any, b: Any, c0: float, c1: float,
                 periodic: bool, lapack: bool | None = None) -> None:
        xp = be.xp
        self.xp, self.shape, self.axis = xp, tuple(shape), axis
        n = shape[axis]
        nf = n if periodic else n - 1
        face_shape = shape[:axis] + (nf,) + shape[axis + 1:]
        a, b = (xp.moveaxis(z.reshape(face_shape), axis, -1).reshape(-1, nf) for z in (a, b))
        m = a.shape[0]
        # A_k on a line: (A rho)_i = sub_i rho_{i-1} + dia_i rho_i + sup_i rho_{i+1}
        if periodic:
            sub, sup = a, xp.roll(b, -1, axis=1)
            dia = -xp.roll(a, -1, axis=1) - b
        else:
            sub, sup, dia = (xp.zeros((m, n)) for _ in range(3))
            sub[:, 1:], sup[:, :-1] = a, b
            dia[:, :-1] -= a
            dia[:, 1:] -= b
        dl, d, du = -c1 * sub, c0 - c1 * dia, -c1 * sup  # rows of c0 I - c1 A_k; corners dl[:, 0], du[:, -1]
        self.n, self.cyclic = n, periodic
        self.lapack = (be.name == "numpy") if lapack is None else lapack
        self._kernels = _cuda_thomas_kernels() if (be.name == "cupy" and not self.lapack) else None
        if periodic:
            alpha, beta = du[:, -1].copy(), dl[:, 0].copy()  # (copies: the corners are zeroed below)
            # Sherman-Morrison scale: -d_0 (T_00 = 2 d_0) unless d_0 is small against the corners (possible only
            # for the central flux at high Peclet numbers), where its size is raised to sqrt(|alpha beta|)
            size = xp.maximum(xp.abs(d[:, 0]), xp.sqrt(xp.abs(alpha * beta)))
            gamma = -xp.where(d[:, 0] < 0, -1.0, 1.0) * xp.where(size > 0, size, 1.0)
            d[:, 0] -= gamma
            d[:, -1] -= alpha * beta / gamma
            dl[:, 0] = 0.0
            du[:, -1] = 0.0
        self._factor(dl, d, du)
        if periodic:  # M = T + u v^T, u = (gamma, 0, .., alpha), v = (1, 0, .., beta/gamma)
            u = xp.zeros((m, n))
            u[:, 0], u[:, -1] = gamma, alpha
            self.z = self._solve_lines(u if self.lapack else xp.ascontiguousarray(u.T))
            self.q = beta / gamma
            first, last = self._ends(self.z)
            self.denominator = 1.0 + first + self.q * last

    def _factor(self, dl: Any, d: Any, du: Any) -> None:
        xp = self.xp
        if self.lapack:
            from scipy.linalg import get_lapack_funcs

            gttrf, self._gttrs = get_lapack_funcs(("gttrf", "gttrs"), dtype=np.float64)
            *self._lu, info = gttrf(dl.reshape(-1)[1:], d.reshape(-1), du.reshape(-1)[:-1])
            if info != 0:
                raise NumericalError(
                    f"singular tridiagonal line system along axis {self.axis} (LAPACK info {info}): its diagonal "
                    f"reaches {float(np.abs(d).max()):.3g} against the identity's 1, beyond what float64 resolves; "
                    "use more steps, or rescale diffusion, drift and t_final")
            return
        dl, d, du = (xp.ascontiguousarray(z.T) for z in (dl, d, du))  # (n, m): position first
        lo, winv = xp.zeros_like(d), xp.empty_like(d)
        if self._kernels is not None:  # one CUDA thread per line
            self._launch(self._kernels[0], dl, d, du, lo, winv)
        else:  # Thomas: w_0 = d_0, l_i = dl_i / w_{i-1}, w_i = d_i - l_i du_{i-1}
            w = d[0]
            winv[0] = 1.0 / w
            for i in range(1, self.n):
                lo[i] = dl[i] / w
                w = d[i] - lo[i] * du[i - 1]
                winv[i] = 1.0 / w
        if not bool(xp.all(xp.isfinite(winv))):
            raise NumericalError(f"singular tridiagonal line system along axis {self.axis}")
        self._lo, self._winv, self._du = lo, winv, du

    def _launch(self, kernel: Any, *arrays: Any) -> None:
        m = arrays[0].shape[1]
        block = 64  # few lines (m ~ N): small blocks spread them over more multiprocessors
        kernel(((m + block - 1) // block,), (block,), (*arrays, np.int64(self.n), np.int64(m)))

    def _solve_lines(self, r: Any) -> Any:
        """T x = r for the lines r in the internal layout, (m, n) for LAPACK and (n, m) otherwise (no cyclic
        correction)."""
        if self.lapack:
            x, _ = self._gttrs(*self._lu, r.reshape(-1, 1))
            return x.reshape(r.shape)
        y = r.astype(self.xp.float64, order="C")  # a copy: the recursion works in place
        lo, winv, du = self._lo, self._winv, self._du
        if self._kernels is not None:
            self._launch(self._kernels[1], lo, winv, du, y)
            return y
        for i in range(1, self.n):
            y[i] -= lo[i] * y[i - 1]
        y[-1] *= winv[-1]
        for i in range(self.n - 2, -1, -1):
            y[i] = (y[i] - du[i] * y[i + 1]) * winv[i]
        return y

    @property
    def method(self) -> str:
        """The line-solve algorithm: "lapack" (?gttrf/?gttrs), "cuda-thomas" (the CUDA kernels) or "thomas" (the
        batched recursion in array operations)."""
        return "lapack" if self.lapack else ("cuda-thomas" if self._kernels is not None else "thomas")

    def _ends(self, x: Any) -> tuple[Any, Any]:
        """First and last entry of every line of x (internal layout)."""
        return (x[:, 0], x[:, -1]) if self.lapack else (x[0], x[-1])

    def solve(self, r: Any) -> Any:
        """x with (c0 I - c1 A_k) x = r; r and x flattened in the grid's C order."""
        xp = self.xp
        position = -1 if self.lapack else 0
        lines = xp.ascontiguousarray(xp.moveaxis(r.reshape(self.shape), self.axis, position))
        moved = lines.shape
        x = self._solve_lines(lines.reshape((-1, self.n) if self.lapack else (self.n, -1)))
        if self.cyclic:
            first, last = self._ends(x)
            coefficient = (first + self.q * last) / self.denominator
            x = x - self.z * (coefficient[:, None] if self.lapack else coefficient)
        return xp.ascontiguousarray(xp.moveaxis(x.reshape(moved), position, self.axis)).reshape(-1)


_THOMAS_CUDA = r"""
extern "C" __global__ void thomas_factor(const double* dl, const double* d, const double* du, double* lo,
                                         double* winv, const long long n, const long long m) {
    const long long j = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (j >= m) return;
    double w = d[j];
    winv[j] = 1.0 / w;
    for (long long i = 1; i < n; ++i) {
        const double l = dl[i * m + j] / w;
        lo[i * m + j] = l;
        w = d[i * m + j] - l * du[(i - 1) * m + j];
        winv[i * m + j] = 1.0 / w;
    }
}

extern "C" __global__ void thomas_solve(const double* lo, const double* winv, const double* du, double* y,
                                        const long long n, const long long m) {
    const long long j = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (j >= m) return;
    double x = y[j];
    for (long long i = 1; i < n; ++i) {
        x = y[i * m + j] - lo[i * m + j] * x;
        y[i * m + j] = x;
    }
    x *= winv[(n - 1) * m + j];
    y[(n - 1) * m + j] = x;
    for (long long i = n - 2; i >= 0; --i) {
        x = (y[i * m + j] - du[i * m + j] * x) * winv[i * m + j];
        y[i * m + j] = x;
    }
}
"""


@functools.lru_cache(maxsize=1)
def _cuda_thomas_kernels() -> tuple[Any, Any]:
    """The batched Thomas factorisation and solve as CUDA kernels (CuPy RawKernels, compiled once per process):
    one thread per line, lines stored position-first (n, m) so that neighbouring threads read neighbouring words."""
    import cupy

    module = cupy.RawModule(code=_THOMAS_CUDA)
    return module.get_function("thomas_factor"), module.get_function("thomas_solve")


def axis_apply(xp: Any, rho: Any, a: Any, b: Any, axis: int, periodic: bool) -> Any:
    """A_k rho in flux form, rho of the grid's shape; a, b: face rates reshaped to the faces' shape.

    Face f between cells L and R carries F = a rho_L - b rho_R; d rho_L/dt -= F, d rho_R/dt += F.
    """
    if periodic:  # face i joins cell i - 1 (cyclically) and cell i
        F = a * xp.roll(rho, 1, axis=axis) - b * rho
        return F - xp.roll(F, -1, axis=axis)
    lo = (slice(None),) * axis + (slice(None, -1),)
    hi = (slice(None),) * axis + (slice(1, None),)
    F = a * rho[lo] - b * rho[hi]
    out = xp.zeros_like(rho)
    out[lo] -= F
    out[hi] += F
    return out


class DouglasADI:
    """Douglas ADI steps (theta = 1/2) for d rho/dt = sum_k A_k(t) rho + S(t) on one grid.

    rates(t) returns the face rates [(alpha_k/h_k, beta_k/h_k)] of eulerian.operators.face_rates at time t
    (explicit products A_k rho are taken in flux form from them, no matrix is assembled);
    for a time-independent drift they are evaluated once and the line systems factorised once.
    lapack: as for TridiagonalLines (None: LAPACK on NumPy, the Thomas recursion elsewhere).
    """

    def __init__(self, be: Backend, grid: Grid, rates: Callable[[float], list], periodic: Any, dt: float,
                 time_dependent: bool, lapack: bool | None = None) -> None:
        periodic = per_axis(periodic, grid.dim)
        self.be, self.grid, self.rates, self.periodic, self.dt = be, grid, rates, periodic, dt
        self.time_dependent, self.lapack = time_dependent, lapack
        self._cache: dict[float, tuple[list, list]] = {}
        self.line_solver: str | None = None   # set with the first line systems (TridiagonalLines.method)

    def operators(self, t: float) -> tuple[list, list]:
        """([face rates of axis k in the faces' shape], [factorised I - theta dt A_k(t)]), cached for the two most
        recent times."""
        key = t if self.time_dependent else 0.0
        if key not in self._cache:
            rates = self.rates(t)
            shape = self.grid.shape
            faces = [shape[:k] + (shape[k] - (not self.periodic[k]),) + shape[k + 1:] for k in range(len(shape))]
            on_faces = [(a.reshape(faces[k]), b.reshape(faces[k])) for k, (a, b) in enumerate(rates)]
            lines = [TridiagonalLines(self.be, self.grid.shape, k, a, b, 1.0, THETA * self.dt, self.periodic[k],
                                      self.lapack) for k, (a, b) in enumerate(rates)]
            if len(self._cache) >= 2:
                self._cache.pop(min(self._cache))
            self._cache[key] = (on_faces, lines)
            self.line_solver = lines[0].method
        return self._cache[key]

    def step(self, rho: Any, t: float, t_next: float, source_now: Any = None, source_next: Any = None) -> Any:
        """rho^{n+1} at t_next = t + dt from rho^n = rho at t (sources: S(t), S(t_next) as flat arrays, or None)."""
        dt = self.dt
        A_now, _ = self.operators(t)
        _, lines = self.operators(t_next)
        xp, shape = self.be.xp, self.grid.shape
        r = rho.reshape(shape)
        w = [axis_apply(xp, r, a, b, k, self.periodic[k]).reshape(-1) for k, (a, b) in enumerate(A_now)]
        y = rho + dt * sum(w)
        if source_now is not None:
            y = y + dt * source_now
        for k, solver in enumerate(lines):
            rhs = y - THETA * dt * w[k]
            if k == 0 and source_now is not None:
                rhs = rhs + THETA * dt * (source_next - source_now)
            y = solver.solve(rhs)
        return y
