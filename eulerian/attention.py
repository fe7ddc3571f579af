"""The self-attention velocity of a density on a grid (the transformer PDE d mu/dt + div(mu Gamma[mu]) = 0).

    Gamma[mu](x) = V int y exp(s <Q x, K y>) dmu(y) / int exp(s <Q x, K y>) dmu(y)          (scale s)

(s = 1 in the survey's Eq. 27, s = 1/sqrt(d) in Castin et al.; the same convention as
lagrangian.attention_field). On the grid mu is the midpoint rule of its cell averages: nodes y_j at the cell
centres with weights w_j = rho_j h^d, so Gamma[mu_h] is second order in h for smooth densities. The softmax is a
stabilised log-sum-exp, evaluated for the query points in chunks so that no (queries x cells) array exceeds
``chunk_bytes`` (memory O(chunk x cells), not O(queries x cells)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validate import check_real, reject_complex
from .backend import get_backend
from .grid import Grid


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


@dataclass(frozen=True)
class AttentionVelocity:
    """Gamma[mu](t, x) for fixed Q, K (r, d), V (d, d) and scale s; a DensityVelocity of eulerian.meanfield."""

    Q: np.ndarray
    K: np.ndarray
    V: np.ndarray
    scale: float = 1.0
    chunk_bytes: int = 1 << 26

    def __call__(self, t: float, grid: Grid, rho: Any, x: np.ndarray) -> Any:
        if grid.dim != self.Q.shape[1]:
            raise ValueError(f"the grid has {grid.dim} axes but Q, K act on dimension {self.Q.shape[1]}")
        be = get_backend("cupy" if type(rho).__module__.startswith("cupy") else "numpy")
        xp = be.xp
        w = rho.reshape(-1) * grid.cell_volume
        keep = w > 0
        y = be.asarray(grid.centers().reshape(-1, grid.dim))[keep]
        logw = xp.log(w[keep])
        ky = y @ be.asarray(self.K).T                     # (N, r)
        qx = be.asarray(x) @ be.asarray(self.Q).T          # (m, r)
        vy = y @ be.asarray(self.V).T                      # (N, d): V y_j
        rows = max(1, int(self.chunk_bytes // (8 * 3 * max(1, ky.shape[0]))))
        out = xp.empty((qx.shape[0], grid.dim))
        for start in range(0, qx.shape[0], rows):
            logits = self.scale * (qx[start:start + rows] @ ky.T) + logw[None, :]
            logits -= logits.max(axis=1, keepdims=True)
            p = xp.exp(logits)
            out[start:start + rows] = (p @ vy) / p.sum(axis=1, keepdims=True)
        return out


def attention_velocity(Q: Any, K: Any, V: Any, *, scale: float = 1.0, chunk_bytes: int = 1 << 26
                       ) -> AttentionVelocity:
    """The attention velocity Gamma[mu] (module docstring) for Q, K of shape (r, d) and V (d, d).

    ``chunk_bytes`` caps the largest temporary array (the logits of a chunk of query points against all cells,
    float64): peak memory about 3 x chunk_bytes beyond the grid's own arrays, whatever the grid size.
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
    return AttentionVelocity(Qm, Km, Vm, s, int(chunk_bytes))
