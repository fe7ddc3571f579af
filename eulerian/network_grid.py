"""Two-layer network training as a Wasserstein gradient flow of the neuron density, on a grid.

Neurons are theta = (w, a) in R^2 (a scalar input u, one output): grid axis 0 is the input weight w, axis 1 the
output weight a. A neuron measure mu (the cell averages rho on a 2-D grid) defines the network and its risk

    G_mu(u) = int a sigma(w u) dmu(w, a),        R(mu) = (1/2N) sum_k (G_mu(u_k) - y_k)^2,

on the data (u_k, y_k), k = 1..N. With the residuals e_k = G_mu(u_k) - y_k the first variation and the
training velocity are

    dR/dmu(theta) = (1/N) sum_k e_k a sigma(w u_k),
    V[mu](theta)  = -grad_theta dR/dmu = -(1/N) sum_k e_k (a sigma'(w u_k) u_k, sigma(w u_k)),

and the neuron density follows d mu/dt + div(mu V[mu]) = 0 (eulerian.meanfield.solve_meanfield). These are the
conventions and the clock of lagrangian.network_field: for n neuron particles, mu = (1/n) sum_i delta_{theta_i}
gives G(u) = (1/n) sum_i a_i sigma(w_i u) and V[mu](theta_i) = -n grad_{theta_i} F (F = network_loss), so grid
and particles evolve on the same time axis. mu is used as it is (its mass is not normalised; mass 1 is the
particles' convention). On the grid the integral against mu is the midpoint rule of the cell averages (nodes at
the cell centres, weights rho_j h_w h_a; eulerian.meanfield.cell_quadrature), second order in h for smooth
densities (also for the ReLU, whose integrand a max(w u, 0) is continuous). sigma'(0) = 0 for the ReLU (the
convention of lagrangian.meanfield).

For the linear activation V[mu](theta) = -B_h theta with B_h = [[0, h], [h, 0]], h = S q - r, q = int a w dmu,
S = mean(u_k^2), r = mean(y_k u_k): a Gaussian neuron law stays Gaussian (Prop 6.2; verify.gaussian.linear_network).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _validate as v
from .backend import get_backend
from .errors import NumericalError
from .grid import Grid

__all__ = ["ACTIVATIONS", "NetworkVelocity", "network_velocity", "network_risk"]

ACTIVATIONS = ("linear", "relu")
MIN_CHUNK_BYTES = 1024


def _data_vector(value: Any, name: str) -> np.ndarray:
    """A finite real (N,) float64 array from (N,) or (N, 1) input."""
    v.reject_complex(name, value)
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array of real numbers of shape (N,) or (N, 1), got {value!r}")
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers of shape (N,) or (N, 1), got "
                        f"{type(value).__name__}") from exc
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] < 1:
        raise ValueError(f"{name} must have shape (N,) or (N, 1) with N >= 1 (scalar inputs: neurons are "
                         f"theta = (w, a) in R^2), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; remove those samples")
    return arr


def _check_data(data_x: Any, data_y: Any) -> tuple[np.ndarray, np.ndarray]:
    u = _data_vector(data_x, "data_x")
    y = _data_vector(data_y, "data_y")
    if y.shape != u.shape:
        raise ValueError(f"data_y has {y.shape[0]} samples but data_x has {u.shape[0]}; pass one target per input")
    return u, y


def _check_activation(activation: Any) -> str:
    if not isinstance(activation, str):
        raise TypeError(f"activation must be one of {ACTIVATIONS}, got {type(activation).__name__}")
    return v.check_choice("activation", activation, ACTIVATIONS)


@functools.lru_cache(maxsize=8)
def _centres(grid: Grid) -> np.ndarray:
    """Cell centres (cells, 2) of a grid (host; cached: the velocity is evaluated at every Runge-Kutta stage)."""
    c = grid.centers().reshape(-1, 2)
    c.setflags(write=False)
    return c


def _backend_of(rho: Any):
    return get_backend("cupy" if type(rho).__module__.startswith("cupy") else "numpy")


@dataclass(frozen=True)
class NetworkVelocity:
    """V[mu](t, theta) = -grad_theta dR/dmu(theta) of the two-layer network risk (module docstring); a
    DensityVelocity of eulerian.meanfield (autonomous: t is ignored).

    ``velocity(t, grid, rho, x)``: grid a 2-D Grid (axis 0: w, axis 1: a), rho its cell averages (NumPy or CuPy,
    positive mass), x points (m, 2); returns (m, 2) = (V_w, V_a) on rho's backend, in units of theta per unit of
    the mean-field time (the clock of lagrangian.network_field). ``first_variation`` gives dR/dmu at points and
    ``residuals`` the e_k = G_mu(u_k) - y_k. data_x, data_y: host float64 (N,) arrays; activation: "linear" or
    "relu"; chunk_bytes: cap on the largest temporary (points x data) or (cells x data) float64 array.
    ValueError for bad densities or points; NumericalError when a result overflows.
    """

    data_x: np.ndarray
    data_y: np.ndarray
    activation: str = "linear"
    chunk_bytes: int = 1 << 26

    # -- the activation (methods, so that a variant can override them) ----------------------------------------
    def sigma(self, xp: Any, z: Any) -> Any:
        """sigma(z): z (linear) or max(z, 0) (ReLU)."""
        return z if self.activation == "linear" else xp.maximum(z, 0.0)

    def sigma_prime_dot(self, xp: Any, z: Any, vec: Any) -> Any:
        """sigma'(z) @ vec for pre-activations z (c, N) and vec (N,): with sigma' = 1 (linear: sum(vec) on every
        row, no (c, N) array formed) or sigma'(z) = 1[z > 0] (ReLU, sigma'(0) = 0)."""
        if self.activation == "linear":
            return vec.sum() * xp.ones(z.shape[0])
        return (z > 0).astype(vec.dtype) @ vec

    # -- validation ------------------------------------------------------------------------------------------
    def _density(self, grid: Grid, rho: Any, name: str = "rho") -> tuple[Any, Any]:
        grid = v.check_grid(grid)
        if grid.dim != 2:
            raise ValueError(f"the neuron grid must be 2-D (axis 0: w, axis 1: a; scalar inputs), got a "
                             f"{grid.dim}-D grid")
        v.reject_complex(name, rho)
        be = _backend_of(rho)
        try:
            r = be.asarray(rho)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be an array of real cell averages of shape {grid.shape}") from exc
        if tuple(r.shape) != grid.shape:
            raise ValueError(f"{name} has shape {tuple(r.shape)} but the grid has shape {grid.shape}; pass cell "
                             "averages on the grid")
        if not bool(be.xp.all(be.xp.isfinite(r))):
            raise ValueError(f"{name} contains NaN or infinite values; pass finite cell averages")
        if not float(r.sum()) * grid.cell_volume > 0:
            raise ValueError(f"{name} has no (positive) mass; the network integrates a neuron density of "
                             "positive mass (normally 1)")
        return be, r

    def _points(self, x: Any) -> np.ndarray:
        v.reject_complex("x", x)
        try:
            pts = np.asarray(x, dtype=float) if not hasattr(x, "get") else np.asarray(x.get(), dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"x must be real points theta = (w, a) of shape (m, 2), got {type(x).__name__}") from exc
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"x must be points theta = (w, a) of shape (m, 2), got shape {pts.shape}")
        if not np.all(np.isfinite(pts)):
            raise ValueError("x contains NaN or infinite values")
        return pts

    def _rows(self, other: int) -> int:
        return max(1, int(self.chunk_bytes // (16 * max(1, other))))

    # -- the network ---------------------------------------------------------------------------------------------
    def residuals(self, grid: Grid, rho: Any) -> Any:
        """e_k = G_mu(u_k) - y_k (backend array (N,)) with G_mu by the midpoint rule of the cell averages."""
        be, r = self._density(grid, rho)
        return self._residuals(be, grid, r)

    def _residuals(self, be: Any, grid: Grid, r: Any) -> Any:
        xp = be.xp
        pts = be.asarray(_centres(grid))
        u, y = be.asarray(self.data_x), be.asarray(self.data_y)
        out = xp.zeros(u.shape[0])
        rows = self._rows(u.shape[0])
        with np.errstate(over="ignore", invalid="ignore"):
            weights = r.reshape(-1) * grid.cell_volume
            keep = weights != 0
            w, aw = pts[keep, 0], pts[keep, 1] * weights[keep]
            for s in range(0, w.shape[0], rows):
                out += aw[s:s + rows] @ self.sigma(xp, w[s:s + rows, None] * u[None, :])
            e = out - y
        if not bool(xp.all(xp.isfinite(e))):
            raise NumericalError("the network output int a sigma(w u) dmu overflowed; rescale data_x, data_y or "
                                 "the neuron density's support")
        return e

    def first_variation(self, t: float, grid: Grid, rho: Any, x: Any) -> Any:
        """dR/dmu(theta) = (1/N) sum_k e_k a sigma(w u_k) at the points x (m, 2); backend array (m,)."""
        be, r = self._density(grid, rho)
        pts = be.asarray(self._points(x))
        e = self._residuals(be, grid, r)
        u = be.asarray(self.data_x)
        out = be.xp.empty(pts.shape[0])
        rows = self._rows(u.shape[0])
        with np.errstate(over="ignore", invalid="ignore"):
            for s in range(0, pts.shape[0], rows):
                out[s:s + rows] = self.sigma(be.xp, pts[s:s + rows, :1] * u[None, :]) @ e
            out = pts[:, 1] * out / e.shape[0]
        if not bool(be.xp.all(be.xp.isfinite(out))):
            raise NumericalError("the first variation overflowed; rescale data_x, data_y or the points x")
        return out

    def __call__(self, t: float, grid: Grid, rho: Any, x: Any) -> Any:
        be, r = self._density(grid, rho)
        pts = be.asarray(self._points(x))
        xp = be.xp
        e = self._residuals(be, grid, r)
        u = be.asarray(self.data_x)
        N = e.shape[0]
        out = xp.empty((pts.shape[0], 2))
        rows = self._rows(N)
        with np.errstate(over="ignore", invalid="ignore"):
            eu = e * u
            for s in range(0, pts.shape[0], rows):
                p = pts[s:s + rows]
                pre = p[:, :1] * u[None, :]                                  # (c, N): w u_k
                out[s:s + rows, 0] = -p[:, 1] * self.sigma_prime_dot(xp, pre, eu) / N
                out[s:s + rows, 1] = -(self.sigma(xp, pre) @ e) / N
        if not bool(xp.all(xp.isfinite(out))):
            raise NumericalError("the network training velocity overflowed; rescale data_x, data_y or the "
                                 "neuron density's support")
        return out


def network_velocity(data_x: Any, data_y: Any, *, activation: str = "linear",
                     chunk_bytes: int = 1 << 26) -> NetworkVelocity:
    """The training velocity V[mu] = -grad_theta dR/dmu of a two-layer network with scalar inputs (module
    docstring), as a DensityVelocity for eulerian.meanfield.solve_meanfield on a 2-D (w, a) grid.

    data_x: inputs u_k, shape (N,) or (N, 1); data_y: targets y_k, shape (N,) or (N, 1); activation: "linear"
    (sigma(z) = z) or "relu" (sigma(z) = max(z, 0), sigma'(0) = 0). Same risk, scaling and time as
    lagrangian.network_field (velocity -n grad_{theta_i} F of n neuron particles). ``chunk_bytes`` (>= 1024)
    caps the largest temporary array (points or cells x N, float64): memory O(chunk), whatever the grid.
    Each evaluation costs O((cells + points) N).
    """
    u, y = _check_data(data_x, data_y)
    act = _check_activation(activation)
    if isinstance(chunk_bytes, (bool, np.bool_)) or not isinstance(chunk_bytes, (int, np.integer)) \
            or chunk_bytes < MIN_CHUNK_BYTES:
        raise ValueError(f"chunk_bytes must be an integer >= {MIN_CHUNK_BYTES}, got {chunk_bytes!r}")
    return NetworkVelocity(u, y, act, int(chunk_bytes))


def network_risk(grid: Grid, rho: Any, data_x: Any, data_y: Any, activation: str = "linear") -> float:
    """R(mu) = (1/2N) sum_k (G_mu(u_k) - y_k)^2 for the neuron density rho (cell averages on a 2-D (w, a) grid),
    G_mu(u) = int a sigma(w u) dmu by the midpoint rule (O(h^2)); the loss of lagrangian.network_loss with the
    same 1/2. ValueError for bad data or a density with no mass; NumericalError on overflow."""
    vel = network_velocity(data_x, data_y, activation=activation)
    be, r = vel._density(grid, rho)
    e = vel._residuals(be, grid, r)
    with np.errstate(over="ignore"):   # a mean of squares: inf, never an invalid inf - inf
        risk = 0.5 * float((e * e).mean())
    if not math.isfinite(risk):
        raise NumericalError("the network risk overflowed; rescale data_x, data_y or the neuron density")
    return risk
