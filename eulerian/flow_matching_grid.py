"""The flow-matching velocity of two grid densities (Peyré 2025, Prop 3.1, Eq. 7), evaluated at any points.

With X0 ~ rho0 (source) and X1 ~ rho1 (target) independent and the interpolant X_t = (1 - t) X0 + t X1,

    v_t(z) = E[X1 - X0 | X_t = z],        rho_t = Law(X_t),        d rho_t/dt + div(rho_t v_t) = 0,

the same conventions as lagrangian.flow_matching_field_from_samples (source at t = 0, target at t = 1) and
verify.gaussian.flow_matching_marginal / flow_matching_field (the Gaussian closed forms). v_t does not depend on
the transported density: it is built once from the two endpoint densities and passed to
eulerian.solve_continuity as a field v(t, x) (or to eulerian.solve_meanfield through ``.meanfield``).

Quadrature (exact treatment of the constraint, no smoothing kernel). The coupling integral has the delta
constraint z = (1 - t) x + t y; it is integrated exactly by the change of variables that solves it for the
endpoint with the larger coefficient, and the remaining integral is the midpoint rule of the other density's
cell averages:

    t >= 1/2:  rho_t(z) = t^-d sum_i w0_i rho1((z - (1-t) x_i) / t),   E[X0 | z] = sum_i W_i x_i / sum_i W_i,
               v_t(z) = (z - E[X0 | z]) / t                                       (W_i = w0_i rho1(...))
    t <  1/2:  rho_t(z) = (1-t)^-d sum_j w1_j rho0((z - t y_j) / (1-t)),  E[X1 | z] = sum_j W_j y_j / sum_j W_j,
               v_t(z) = (E[X1 | z] - z) / (1 - t)                                 (W_j = w1_j rho0(...))

with nodes x_i, y_j the cell centres and w_i = rho_i h^d / mass the normalised cell masses. The interpolated
density (rho1 or rho0 at the solved point) is the multilinear interpolant of its cell averages through the
cell centres, constant in the half cell next to a face and zero outside the box. Solving for the endpoint with
coefficient max(t, 1 - t) >= 1/2 maps one cell of the summed grid onto at most one cell of the interpolated
one, so the integrand is resolved. Error: cell averages are point values to O(h^2), the midpoint rule and the
multilinear interpolant are O(h^2): rho_t and v_t are second order in h for smooth densities, uniformly on
compacts where rho_t > 0 (a kernel of width ~h would add an O(h^2) bias of its own, and a width << h would
alias; the exact change of variables avoids both). The weights W are >= 0, so v_t(z) is a convex combination
of displacements and stays bounded by the two boxes' extent; where rho_t(z) = 0 (z beyond (1-t) box0 + t box1)
there is no mass to move and v_t(z) = 0. At t = 1/2 with one grid for both densities the solved points 2z - x_i
all sit at one offset from the cell centres, so the interpolation errors do not average over the nodes: still
O(h^2), with a less regular constant (measured max errors 4.9e-2, 1.7e-2, 3.4e-3 at 32^2, 64^2, 128^2 cells).

Cost: O(queries x cells of the summed grid) per evaluation, computed for chunks of query points so that no
(chunk x cells) temporary exceeds ``chunk_bytes`` (peak memory about chunk_bytes beyond the grids' own arrays,
whatever the grid size). One code path for NumPy and CuPy (``backend=``); results come back in the namespace of
the query points.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _validate as v
from .backend import get_backend, to_host
from .errors import NumericalError
from .grid import Grid

__all__ = ["FlowMatchingGridField", "flow_matching_grid_field"]

BACKENDS = ("numpy", "cupy")
# float64 temporaries of the size (chunk x cells) alive at once while a chunk is evaluated, per axis and fixed:
# the solved point, its cell index and fraction per axis, corner weights and indices, gathered values, W.
# Measured with tracemalloc (the case chunk-memory): 8.1, 13.0 and 16.5 arrays in 1, 2 and 3 D
TEMPS_PER_AXIS, TEMPS_FIXED = 5, 3


def _check_time(t: Any) -> float:
    t = v.check_real("t", t, "pass a real time t in [0, 1]")
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must lie in [0, 1] (source at t = 0, target at t = 1), got {t!r}")
    return t


@dataclass(frozen=True, eq=False)
class FlowMatchingGridField:
    """v_t(z) = E[X1 - X0 | (1 - t) X0 + t X1 = z] of two grid densities (module docstring); build it with
    :func:`flow_matching_grid_field`.

    Calling ``field(t, z)`` with z of shape (..., d) returns v_t(z), shape (..., d); :meth:`density` returns
    rho_t(z), shape (...); :meth:`meanfield` is the same velocity as a DensityVelocity of eulerian.meanfield
    (it ignores the transported density).
    """

    grid0: Grid
    rho0: np.ndarray        # cell averages of the source, normalised to mass 1 (host)
    grid1: Grid
    rho1: np.ndarray        # cell averages of the target, normalised to mass 1 (host)
    backend: str = "numpy"
    chunk_bytes: int = 1 << 20
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # -- public ------------------------------------------------------------------------------------------------
    def __call__(self, t: float, z: Any) -> Any:
        """v_t(z) for z (..., d); NumPy in, NumPy out (CuPy in, CuPy out)."""
        return self._evaluate(t, z, want="velocity")

    def density(self, t: float, z: Any) -> Any:
        """rho_t(z), the density of X_t = (1 - t) X0 + t X1 at z (..., d), shape (...) (per unit volume)."""
        return self._evaluate(t, z, want="density")

    def meanfield(self, t: float, grid: Grid, rho: Any, x: Any) -> Any:
        """The DensityVelocity form velocity(t, grid, rho, x) of eulerian.meanfield: v_t(x), rho unused."""
        return self(t, x)

    # -- internals ---------------------------------------------------------------------------------------------
    def _arrays(self, xp: Any) -> dict:
        key = xp.__name__
        if key not in self._cache:
            data = {}
            for k, (g, r) in enumerate(((self.grid0, self.rho0), (self.grid1, self.rho1))):
                nodes = g.centers().reshape(-1, g.dim)
                w = r.reshape(-1) * g.cell_volume
                keep = w > 0           # empty cells contribute nothing: skip them
                data[k] = {"nodes": xp.asarray(nodes[keep]), "w": xp.asarray(w[keep]),
                           "rho": xp.asarray(r.reshape(-1)), "lower": np.asarray(g.lower),
                           "upper": np.asarray(g.upper), "h": np.asarray(g.spacing), "shape": g.shape}
            self._cache[key] = data
        return self._cache[key]

    def _evaluate(self, t: Any, z: Any, want: str) -> Any:
        t = _check_time(t)
        d = self.grid0.dim
        v.reject_complex("z", z, "pass real points z (..., d)")
        host_in = not type(z).__module__.startswith("cupy")
        # CuPy points are evaluated on the GPU whatever ``backend`` says; NumPy points on ``backend``
        be = get_backend(self.backend if host_in else "cupy")
        xp = be.xp
        raw = z if not host_in else np.asarray(z)
        if raw.dtype.kind not in "iuf":   # bools, strings, objects
            raise TypeError(f"z must be an array of real points (..., d={d}), got {type(z).__name__} of dtype "
                            f"{raw.dtype}")
        zz = be.asarray(raw)
        if zz.ndim < 1 or zz.shape[-1] != d:
            raise ValueError(f"z must have shape (..., d) with d = {d} (the grids' dimension), got {tuple(zz.shape)}")
        if not bool(xp.all(xp.isfinite(zz))):
            raise ValueError("z contains NaN or infinite coordinates; pass finite points")
        lead = zz.shape[:-1]
        q = zz.reshape(-1, d)
        data = self._arrays(xp)
        if t >= 0.5:   # sum over the source cells, interpolate the target at y = (z - (1-t) x) / t
            outer, inner, a, b, jac = data[0], data[1], -(1.0 - t) / t, 1.0 / t, t ** -d
        else:          # sum over the target cells, interpolate the source at x = (z - t y) / (1-t)
            outer, inner, a, b, jac = data[1], data[0], -t / (1.0 - t), 1.0 / (1.0 - t), (1.0 - t) ** -d
        n_nodes = outer["nodes"].shape[0]
        per_row = 8.0 * n_nodes * (TEMPS_PER_AXIS * d + TEMPS_FIXED)
        v.check_memory(per_row, f"the flow-matching quadrature of one query point ({n_nodes} cells)",
                       "use coarser grids", be.name)
        rows = max(1, int(self.chunk_bytes // per_row))
        dens = xp.empty(q.shape[0])
        mean = xp.empty((q.shape[0], d))
        # points far outside the boxes: p = +-inf, weight 0 (b z + a x with |a| <= 1 and finite x, weights in [0, 1]
        # and W >= 0: no inf - inf nor 0 * inf, so no invalid operation)
        with np.errstate(over="ignore"):
            for s in range(0, q.shape[0], rows):
                zc = q[s:s + rows]
                # the solved point p = b z + a node, (chunk, cells, d)
                p = b * zc[:, None, :] + a * outer["nodes"][None, :, :]
                W = self._interpolate(xp, inner, p) * outer["w"][None, :]
                del p
                dens[s:s + rows] = W.sum(axis=1)
                mean[s:s + rows] = W @ outer["nodes"]
                del W   # free the chunk before the next one is allocated
        if want == "density":
            out = (jac * dens).reshape(lead)
        else:
            pos = dens > 0
            safe = xp.where(pos, dens, 1.0)
            qs = xp.where(pos[:, None], q, 0.0)     # no mass at z: v = 0 (and no overflow for far points)
            with np.errstate(over="ignore"):   # safe > 0 and finite z: no 0/0, inf/inf or inf - inf
                cond = mean / safe[:, None]          # E[X0 | z] (t >= 1/2) or E[X1 | z] (t < 1/2)
                vel = (qs - cond) / t if t >= 0.5 else (cond - qs) / (1.0 - t)
            out = xp.where(pos[:, None], vel, 0.0).reshape(zz.shape)
        if not bool(xp.all(xp.isfinite(out))):
            raise NumericalError(f"the flow-matching quadrature produced non-finite values at t = {t:g}; "
                                 "rescale the coordinates to a box of order 1")
        return to_host(out) if host_in else out

    @staticmethod
    def _interpolate(xp: Any, g: dict, p: Any) -> Any:
        """Multilinear interpolant of the cell averages g["rho"] through the cell centres at points p (..., d):
        constant in the half cell next to a face, zero outside the closed box."""
        d = p.shape[-1]
        shape = g["shape"]
        inside = None
        weight_parts = []
        strides = [int(np.prod(shape[k + 1:])) for k in range(d)]
        for k in range(d):
            pk = p[..., k]
            ok = (pk >= g["lower"][k]) & (pk <= g["upper"][k])
            inside = ok if inside is None else inside & ok
            s = (pk - g["lower"][k]) / g["h"][k] - 0.5
            i0 = xp.clip(xp.floor(s), 0, shape[k] - 2)
            f = xp.clip(s - i0, 0.0, 1.0)
            i0 = i0.astype(xp.int64) * strides[k]
            weight_parts.append((i0, f, strides[k]))
        out = xp.zeros(p.shape[:-1])
        rho = g["rho"]
        for corner in range(2 ** d):
            w = None
            flat = None
            for k, (i0, f, stride) in enumerate(weight_parts):
                up = (corner >> k) & 1
                wk = f if up else 1.0 - f
                ik = i0 + stride if up else i0
                w = wk if w is None else w * wk
                flat = ik if flat is None else flat + ik
            out += w * rho[flat]
        return xp.where(inside, out, 0.0)


def flow_matching_grid_field(grid: Grid, rho0: Any, rho1: Any, *, grid1: Grid | None = None,
                             backend: str = "numpy", chunk_bytes: int = 1 << 20) -> FlowMatchingGridField:
    """The flow-matching field v_t(z) = E[X1 - X0 | (1 - t) X0 + t X1 = z] of two grid densities (Prop 3.1).

    Parameters
    ----------
    grid : Grid (1-3 D) of the source density.
    rho0 : cell averages of the source alpha_0 (grid.shape), >= 0, positive mass (or a callable f(x) -> (...)
        averaged over cells); normalised to mass 1 here.
    rho1 : cell averages of the target alpha_1 on ``grid1`` (default: the same grid), normalised to mass 1.
    grid1 : Grid of the target, same dimension as ``grid`` (box and cells may differ).
    backend : "numpy" or "cupy": where the quadrature runs (results come back in the query points' namespace).
    chunk_bytes : cap (bytes, integer >= 1024) on the (query chunk x cells) temporaries of one evaluation (at
        least one query row against all cells is always processed). The default, 1 MiB, keeps the temporaries in
        the CPU caches (1D, 400 cells, 401 query points: 6 ms per evaluation, 26 ms with 64 MiB chunks).

    Returns
    -------
    FlowMatchingGridField
        ``field(t, z)`` gives v_t(z), shape (..., d), for t in [0, 1] (the endpoint t = 1 is included, since the
        last SSP-RK3 stage of a solve to t = 1 evaluates there); ``field.density(t, z)`` gives rho_t(z).

    Notes
    -----
    Independent coupling, linear interpolant, second order in the cell sizes for smooth densities (quadrature in
    the module docstring). Transport rho0 to rho1 with ``solve_continuity(grid, rho0, field, 1.0)``.

    Errors. TypeError for a non-Grid, complex densities or points; ValueError for grids of different dimension,
    densities of the wrong shape, NaN, negative cells or zero mass, t outside [0, 1], points of the wrong last
    axis or non-finite points; MemoryLimitError (a ValueError) when one query row against all cells would not
    fit the memory cap.
    """
    grid = v.check_grid(grid)
    grid1 = grid if grid1 is None else grid1
    if not isinstance(grid1, Grid):
        raise TypeError(f"grid1 must be an eulerian.Grid (or None for the source grid), got {type(grid1).__name__}")
    if grid1.dim != grid.dim:
        raise ValueError(f"grid1 has {grid1.dim} axes but grid has {grid.dim}: the source and target grids must "
                         "have the same dimension (pass grids of one dimension)")
    backend = v.backend_name(backend, BACKENDS)
    get_backend(backend)   # BackendUnavailable now rather than at the first evaluation
    if isinstance(chunk_bytes, (bool, np.bool_)) or not isinstance(chunk_bytes, (int, np.integer)) \
            or chunk_bytes < 1024:
        raise ValueError(f"chunk_bytes must be an integer >= 1024, got {chunk_bytes!r}")
    with np.errstate(over="ignore"):   # an overflowing mass is reported below, not as a RuntimeWarning
        r0 = v.check_density(grid, rho0, "rho0")
        r1 = v.check_density(grid1, rho1, "rho1")
        m0, m1 = float(np.sum(r0)) * grid.cell_volume, float(np.sum(r1)) * grid1.cell_volume
    for name, m in (("rho0", m0), ("rho1", m1)):
        if not math.isfinite(m):
            raise ValueError(f"the mass of {name} overflows float64; rescale {name} (only its shape matters: it is "
                             "normalised to mass 1)")
    return FlowMatchingGridField(grid, r0 / m0, grid1, r1 / m1, backend, int(chunk_bytes))
