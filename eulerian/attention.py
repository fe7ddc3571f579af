"""The self-attention velocity of a density on a grid (the transformer PDE d mu/dt + div(mu Gamma[mu]) = 0).

    Gamma[mu](x) = V int y exp(s <Q x, K y>) dmu(y) / int exp(s <Q x, K y>) dmu(y)          (scale s)

(s = 1 in the survey's Eq. 27, s = 1/sqrt(d) in Castin et al.; the same convention as
lagrangian.attention_field). On the grid mu is the midpoint rule of its cell averages: nodes y_j at the cell
centres with weights w_j = rho_j h^d, so Gamma[mu_h] is second order in h for smooth densities. The sum is
kept linear in rho: small negative cell averages (undershoots of an unlimited reconstruction in the tails)
enter with their sign; should they ever make a softmax normaliser Z(x) non-positive, NumericalError is raised.

Evaluation (exact, not an approximation of that sum). The logits are s <Q x, K y> = <a(x), y> with
a(x) = s K^T Q x in R^d, and the cell centres form a tensor product, so the kernel factorises over the axes:
exp(<a, y>) = prod_k exp(a_k y_k). With E_k[i, j] = exp(a_k(x_i) y_{k,j} - max_j a_k(x_i) y_{k,j}) (one small
(queries x shape[k]) exponential per axis) the sums Z = sum_j w_j e^{<a, y_j>} and S_k = sum_j w_j y_{j,k}
e^{<a, y_j>} are one matrix product E_0 @ W (W the weights as (shape[0], rest)) followed by cheap contractions
with E_1, ..., E_{d-1}: about 2 m N multiply-adds (m queries, N cells) instead of m N exponentials, 35-70x
faster on CPU (method="exact"). Every term is <= 1 after the per-axis shifts and w / max |w|, so nothing
overflows; rows whose Z underflows (mass far from where the linear logit peaks: huge |s K^T Q| times the
box) are recomputed by the dense stabilised log-sum-exp. Both paths run over the queries in chunks so that no
temporary exceeds ``chunk_bytes`` (memory O(chunk x cells / shape[0]) for the factorised path).

Interpolation (method="interpolated", the default). Gamma depends on x only through a = s K^T Q x, and
R(a) = S(a) / Z(a), the mean of the discrete measure tilted by e^{<a, y>}, is an entire function of a. It is
evaluated exactly (as above) at p^d Chebyshev nodes spanning the logit vectors of the queries, p = 16, 32 or
64, and interpolated (barycentric formula) to the m queries: cost p^d N + m p^d instead of m N. The interpolant
is accepted only when its highest Chebyshev coefficients are below 1e-12 and 16 spot checks against the exact
sum agree to 1e-10 (both relative to the box size); otherwise (steep softmax: large |s K^T Q| times the box)
the exact sum is used. On the case attention-grid-2d at 256^2 cells: p = 16, 7-17x faster than the exact sum,
differences 2e-14.

Domain guard. The PDE lives on R^d; the grid is a box. A Gaussian law whose closure blows up
(verify.gaussian.attention raises FiniteTimeBlowUp) spreads to infinity before t*, and on the box the mass
piles up at the walls while Gamma stays bounded (softmax averages stay in the box): the solver would return a
finite but meaningless density. The velocity therefore measures the fraction of mass in the outermost layer of
cells at every evaluation and raises MassAtWallsError when it exceeds ``wall_mass`` (default 1e-3).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validate import check_real, reject_complex
from .backend import get_backend
from .errors import NumericalError
from .grid import Grid

WALL_MASS = 1e-3          # default cap on the fraction of mass in the outermost cell layer
UNDERFLOW = 1e-250        # factorised rows with Z below this (relative to max w) are recomputed densely
FACTORISED_ARRAYS = 5     # temporaries of (rows x cells / shape[0]) floats per chunk of the factorised path
DENSE_ARRAYS = 3          # temporaries of (rows x cells) floats per chunk of the dense path
METHODS = ("interpolated", "exact")
INTERP_START = 16         # Chebyshev nodes per axis of the first interpolant in the logit vector a
INTERP_MAX = {1: 256, 2: 64, 3: 32}   # beyond these node counts per axis the exact evaluation is used
INTERP_RTOL = 1e-12       # accepted size of the high Chebyshev coefficients, relative to the box size
INTERP_ROWS_PER_NODE = 8  # interpolate only with at least this many query points per Chebyshev node
VERIFY_ROWS = 16          # query rows where the interpolant is compared with the exact values
VERIFY_RTOL = 1e-10       # the accepted difference there, relative to the box size


class MassAtWallsError(NumericalError):
    """The density has reached the walls of the box: more than ``wall_mass`` of the mass lies in the outermost
    layer of cells at time ``t`` (the attention PDE on R^d is being truncated, e.g. before a finite-time
    blow-up of the covariance). Attributes: ``t``, ``fraction`` (the measured fraction), ``wall_mass``."""

    def __init__(self, message: str, t: float, fraction: float, wall_mass: float):
        super().__init__(message)
        self.t, self.fraction, self.wall_mass = float(t), float(fraction), float(wall_mass)


def _matrix(value: Any, name: str) -> np.ndarray:
    reject_complex(name, value)
    try:
        m = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real matrix, got {value!r}") from exc
    if m.ndim == 0:
        m = m.reshape(1, 1)
    if m.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return m


def wall_fraction(rho: Any) -> float:
    """Fraction of the mass of cell averages ``rho`` (NumPy or CuPy, shape (*shape)) in the outermost layer of
    cells: every cell with an index 0 or shape[k] - 1 on some axis k (all cells when an axis has fewer than 3).
    0 for a density without positive total mass."""
    if not hasattr(rho, "shape") or not hasattr(rho, "sum"):
        raise TypeError(f"rho must be an array of cell averages (NumPy or CuPy), got {type(rho).__name__}")
    reject_complex("rho", rho)
    if rho.ndim not in (1, 2, 3) or getattr(rho.dtype, "kind", "f") not in "biuf":
        raise ValueError(f"rho must be a real array of 1-3 dimensions (cell averages), got shape {rho.shape} and "
                         f"dtype {rho.dtype}")
    total = float(rho.sum())
    if not np.isfinite(total):
        raise ValueError("rho contains NaN or infinite values; pass finite cell averages")
    if not total > 0:
        return 0.0
    inner = rho[tuple(slice(1, -1) for _ in rho.shape)]
    return max(0.0, (total - float(inner.sum())) / total)


@dataclass(frozen=True)
class AttentionVelocity:
    """Gamma[mu](t, x) for fixed Q, K (r, d), V (d, d) and scale s; a DensityVelocity of eulerian.meanfield.

    Called as ``velocity(t, grid, rho, x)`` with rho the cell averages (NumPy or CuPy, grid.shape) and x the
    query points (m, d); returns Gamma at x, (m, d), on rho's backend. Raises MassAtWallsError when more than
    ``wall_mass`` of the mass lies in the outermost cell layer (None: no guard)."""

    Q: np.ndarray
    K: np.ndarray
    V: np.ndarray
    scale: float = 1.0
    chunk_bytes: int = 1 << 26
    wall_mass: float | None = WALL_MASS
    method: str = "interpolated"

    @property
    def logit_matrix(self) -> np.ndarray:
        """M = s K^T Q (d, d): the logits are s <Q x, K y> = <M x, y>."""
        return self.scale * self.K.T @ self.Q

    def __call__(self, t: float, grid: Grid, rho: Any, x: Any) -> Any:
        if not isinstance(grid, Grid):
            raise TypeError(f"grid must be an eulerian.Grid, got {type(grid).__name__}")
        reject_complex("rho", rho)
        if getattr(getattr(rho, "dtype", None), "kind", "O") not in "fiu" or not hasattr(rho, "shape"):
            raise TypeError(f"rho must be a real NumPy or CuPy array of the grid's shape {grid.shape}, got "
                            f"{type(rho).__name__} of dtype {getattr(rho, 'dtype', None)}")
        if rho.shape != grid.shape:
            raise ValueError(f"rho has shape {rho.shape} but the grid has shape {grid.shape}")
        if grid.dim != self.Q.shape[1]:
            raise ValueError(f"the grid has {grid.dim} axes but Q, K act on dimension {self.Q.shape[1]}")
        be = get_backend("cupy" if type(rho).__module__.startswith("cupy") else "numpy")
        xp = be.xp
        if self.wall_mass is not None:
            fraction = wall_fraction(rho)
            if fraction > self.wall_mass:
                raise MassAtWallsError(
                    f"at t = {t:g} a fraction {fraction:.3g} of the mass lies in the outermost layer of cells "
                    f"(> wall_mass = {self.wall_mass:g}): the density has reached the walls of the box, so the "
                    "attention PDE on R^d is no longer what is being solved (is the covariance blowing up? "
                    "verify.gaussian.attention names the blow-up time); enlarge the box or stop earlier",
                    t, fraction, self.wall_mass)
        w = rho * grid.cell_volume
        top = float(xp.abs(w).max())
        if not float(w.sum()) > 0:
            raise ValueError("rho must have positive mass for the attention velocity")
        w = w / top                                              # weights in [-1, 1]
        a = be.asarray(self._points(x, grid.dim)) @ be.asarray(self.logit_matrix).T   # (m, d): a(x) = M x
        out = self._interpolated(xp, be, grid, w, a) if self.method == "interpolated" else None
        if out is None:
            out = self._exact(xp, be, grid, w, a)
        return out @ be.asarray(self.V).T

    @staticmethod
    def _points(x: Any, d: int) -> Any:
        """The points x (m, d), checked: real numbers (TypeError naming x), two axes, d columns (ValueError)."""
        reject_complex("x", x, "pass real points x (m, d)")
        kind = getattr(getattr(x, "dtype", None), "kind", None)
        if kind is None or kind not in "fiu":
            raise TypeError(f"x must be an array of real points (m, {d}), got {type(x).__name__}"
                            + (f" of dtype {x.dtype}" if kind is not None else ""))
        if x.ndim != 2 or x.shape[1] != d:
            raise ValueError(f"x must be points of shape (m, {d}) (the grid's dimension), got shape {tuple(x.shape)}")
        return x

    def _exact(self, xp: Any, be: Any, grid: Grid, w: Any, a: Any) -> Any:
        """S / Z (m, d) at the logit vectors a (m, d): factorised, underflowing rows by the dense log-sum-exp."""
        out = self._factorised(xp, be, grid, w, a)
        bad = ~xp.all(xp.isfinite(out), axis=1)
        if bool(bad.any()):
            rows = xp.nonzero(bad)[0]
            out[rows] = self._dense(xp, be, grid, w, a[rows])
        return out

    def _interpolated(self, xp: Any, be: Any, grid: Grid, w: Any, a: Any) -> Any | None:
        """S / Z (m, d) by tensor Chebyshev interpolation in the logit vector a over the box spanned by the
        queries, or None when the exact evaluation is cheaper or the interpolant cannot be trusted.

        R(a) = S(a) / Z(a) is the mean of the discrete measure tilted by e^{<a, y>}: an entire function of a, so
        its Chebyshev coefficients decay faster than geometrically. With p first-kind nodes per axis (p = 16,
        32, 64 while there are INTERP_ROWS_PER_NODE query rows per node) R is evaluated exactly at the p^d
        nodes; the interpolant is accepted when every coefficient of degree >= 7p/8 on some axis is below
        INTERP_RTOL x the box size, and it is then compared with the exact values at VERIFY_ROWS query rows
        (tolerance VERIFY_RTOL x the box size); otherwise None. Memory per chunk of rows: the (rows, p) basis
        matrices and one (rows, p^(d-1) d) partial sum, within ``chunk_bytes``."""
        d, m = grid.dim, a.shape[0]
        size = max(max(abs(lo), abs(hi)) for lo, hi in zip(grid.lower, grid.upper))
        lo, hi = _host(a.min(axis=0)), _host(a.max(axis=0))
        centre, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        half = np.where(half > 1e-12 * (1.0 + np.abs(centre)), half, 1.0)
        p = INTERP_START
        while True:
            if p > INTERP_MAX.get(d, 0) or INTERP_ROWS_PER_NODE * p ** d > m:
                return None
            theta = np.pi * (2 * np.arange(p) + 1) / (2 * p)
            nodes = np.cos(theta)
            coords = [centre[k] + half[k] * nodes for k in range(d)]
            pts = np.stack(np.meshgrid(*coords, indexing="ij"), axis=-1).reshape(-1, d)
            R = self._exact(xp, be, grid, w, be.asarray(pts)).reshape((p,) * d + (d,))
            if not bool(xp.all(xp.isfinite(R))):
                return None
            cos = be.asarray((2.0 / p) * np.cos(np.outer(np.arange(p), theta)))     # (degree, node)
            cos[0] *= 0.5
            coef = R
            for k in range(d):
                coef = xp.moveaxis(xp.tensordot(cos, coef, axes=([1], [k])), 0, k)
            high = np.zeros((p,) * d, dtype=bool)
            for k in range(d):
                idx = [slice(None)] * d
                idx[k] = slice(p - max(1, p // 8), None)
                high[tuple(idx)] = True
            tail = float(xp.abs(coef[xp.asarray(high)]).max())
            if tail <= INTERP_RTOL * size:
                break
            p *= 2
        weights = be.asarray((-1.0) ** np.arange(p) * np.sin(theta))
        nodes_b = be.asarray(nodes)
        per_row = 8 * (2 * p ** (d - 1) * d + 3 * d * p)
        rows = max(1, int(self.chunk_bytes // per_row))
        out = xp.empty((m, d))
        flat = R.reshape(p, -1)
        for start in range(0, m, rows):
            ac = a[start:start + rows]
            r = ac.shape[0]
            C = [_barycentric(xp, (ac[:, k] - centre[k]) / half[k], nodes_b, weights) for k in range(d)]
            cur = (C[0] @ flat).reshape(r, -1)                     # (r, p^(d-1) d)
            for k in range(1, d):
                cur = _axis_sum(xp, C[k], cur.reshape(r, p, -1))
            out[start:start + rows] = cur.reshape(r, d)
        check = xp.asarray(np.unique(np.linspace(0, m - 1, VERIFY_ROWS).astype(int)))
        if float(xp.abs(out[check] - self._exact(xp, be, grid, w, a[check])).max()) > VERIFY_RTOL * size:
            return None
        return out

    # ----------------------------------------------------------------------------------------- kernels
    def _factorised(self, xp: Any, be: Any, grid: Grid, w: Any, a: Any) -> Any:
        """The normalised first moments S / Z (m, d) by the per-axis factorisation (module docstring); rows whose
        Z underflows come back as NaN."""
        d, shape = grid.dim, grid.shape
        axes = [be.asarray(y) for y in grid.axes()]
        rest = grid.size // shape[0]
        W = w.reshape(shape[0], rest)
        W2 = xp.concatenate([W, W * axes[0][:, None]], axis=1)   # [w, y_0 w]: Z-type and S_0-type sums at once
        per_row = 8 * (FACTORISED_ARRAYS * rest + 2 * sum(shape))
        rows = max(1, int(self.chunk_bytes // per_row))
        m = a.shape[0]
        out = xp.empty((m, d))
        for start in range(0, m, rows):
            ac = a[start:start + rows]
            E = []
            for k in range(d):
                yk = axes[k]
                ak = ac[:, k:k + 1]
                # max_j a y_j sits at an end of the axis: shift by it so that every factor lies in (0, 1]
                z = ak * yk[None, :]
                z -= xp.maximum(ak * yk[0], ak * yk[-1])
                E.append(xp.exp(z, out=z))
            T2 = E[0] @ W2                                       # (r, 2 rest)
            sums = {"Z": T2[:, :rest], 0: T2[:, rest:]}
            for k in range(1, d):
                n = shape[k]
                r = ac.shape[0]
                Ey = E[k] * axes[k][None, :]
                new = {key: _axis_sum(xp, E[k], X.reshape(r, n, -1)) for key, X in sums.items()}
                new[k] = _axis_sum(xp, Ey, sums["Z"].reshape(r, n, -1))
                sums = new
            Z = sums["Z"].reshape(-1)
            good = Z > UNDERFLOW
            res = xp.stack([sums[j].reshape(-1) for j in range(d)], axis=1) / xp.where(good, Z, 1.0)[:, None]
            res[~good] = xp.nan
            out[start:start + rows] = res
        return out

    def _dense(self, xp: Any, be: Any, grid: Grid, w: Any, a: Any) -> Any:
        """S / Z (m, d) by the dense stabilised log-sum-exp over all cells (the fallback for underflowing rows);
        signed weights enter as sign(w) exp(<a, y> + log|w|)."""
        flat = w.reshape(-1)
        keep = flat != 0
        y = be.asarray(grid.centers().reshape(-1, grid.dim))[keep]
        logw = xp.log(xp.abs(flat[keep]))
        sign = xp.sign(flat[keep])
        rows = max(1, int(self.chunk_bytes // (8 * DENSE_ARRAYS * max(1, y.shape[0]))))
        out = xp.empty((a.shape[0], grid.dim))
        for start in range(0, a.shape[0], rows):
            logits = a[start:start + rows] @ y.T + logw[None, :]
            logits -= logits.max(axis=1, keepdims=True)
            p = xp.exp(logits) * sign[None, :]
            Z = p.sum(axis=1, keepdims=True)
            if not bool(xp.all(Z > 0)):
                raise NumericalError("the attention softmax normaliser Z(x) = sum_j w_j exp(s <Q x, K y_j>) is not "
                                     "positive at some query point: negative cell averages dominate there; use a "
                                     "limiter (e.g. limiter='mc') or a finer grid")
            out[start:start + rows] = (p @ y) / Z
        return out


def _host(v: Any) -> np.ndarray:
    return np.asarray(v.get() if hasattr(v, "get") else v, dtype=float)


def _barycentric(xp: Any, t: Any, nodes: Any, weights: Any) -> Any:
    """Barycentric interpolation matrix (r, p) from Chebyshev nodes to the points t in [-1, 1] (first-kind nodes,
    weights (-1)^j sin theta_j); a point on a node gets that node's row of the identity."""
    diff = t[:, None] - nodes[None, :]
    hit = diff == 0
    c = weights[None, :] / xp.where(hit, 1.0, diff)
    c = c / c.sum(axis=1, keepdims=True)
    rows = hit.any(axis=1)
    if bool(rows.any()):
        c[rows] = hit[rows].astype(float)
    return c


def _axis_sum(xp: Any, E: Any, X: Any) -> Any:
    """sum_n E[r, n] X[r, n, q] -> (r, q) (the contraction of one axis)."""
    if X.shape[2] == 1:
        return xp.einsum("rn,rn->r", E, X[:, :, 0])[:, None]
    return xp.einsum("rn,rnq->rq", E, X)


def attention_velocity(Q: Any, K: Any, V: Any, *, scale: float = 1.0, chunk_bytes: int = 1 << 26,
                       wall_mass: float | None = WALL_MASS, method: str = "interpolated") -> AttentionVelocity:
    """The attention velocity Gamma[mu] (module docstring) for Q, K of shape (r, d) and V (d, d).

    ``scale`` s multiplies the logits <Q x, K y>. ``method``: "exact" sums over every cell for every query
    point (factorised per axis, module docstring); "interpolated" (default) evaluates the tilted mean
    R(a) = S / Z exactly at 16^d-64^d Chebyshev nodes in the logit vector a = s K^T Q x and interpolates
    (accepted only when the Chebyshev tail is below 1e-12 and 16 spot checks against "exact" agree to 1e-10,
    both relative to the box size; otherwise, and whenever there are fewer than 8 p^d query points, it is
    "exact"). ``chunk_bytes`` caps the temporaries of one chunk of query points (float64): peak memory about
    ``chunk_bytes`` beyond the grid's own arrays and the (m, d) in/outputs, or about 5 x 8 x (cells /
    shape[0]) bytes when a single row exceeds it. ``wall_mass``: the largest fraction of the mass allowed in
    the outermost layer of cells before MassAtWallsError (in (0, 1); None switches the guard off).
    """
    Qm, Km, Vm = _matrix(Q, "Q"), _matrix(K, "K"), _matrix(V, "V")
    if Km.shape != Qm.shape:
        raise ValueError(f"K must have the shape of Q, (r, d) = {Qm.shape}; got {Km.shape}")
    d = Qm.shape[1]
    if Vm.shape != (d, d):
        raise ValueError(f"V must be ({d}, {d}) for Q, K of shape {Qm.shape}; got {Vm.shape}")
    s = check_real("scale", scale)
    if not math.isfinite(s):
        raise ValueError(f"scale must be finite, got {s}")
    if isinstance(chunk_bytes, (bool, np.bool_)) or not isinstance(chunk_bytes, (int, np.integer)) \
            or chunk_bytes < 1024:
        raise ValueError(f"chunk_bytes must be an integer >= 1024, got {chunk_bytes!r}")
    if wall_mass is not None:
        wm = check_real("wall_mass", wall_mass)
        if not 0.0 < wm < 1.0:
            raise ValueError(f"wall_mass must lie in (0, 1) (a fraction of the mass), or None to switch the guard "
                             f"off; got {wall_mass!r}")
        wall_mass = wm
    with np.errstate(over="ignore", invalid="ignore"):
        M = s * Km.T @ Qm
    if not np.all(np.isfinite(M)):
        raise ValueError("scale * K^T Q overflows float64; rescale Q, K or scale")
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return AttentionVelocity(Qm, Km, Vm, s, int(chunk_bytes), wall_mass, method)
