"""Interacting particle systems (mean-field fields): self-attention tokens and two-layer network neurons.

Both fields are whole-cloud callables ``f(t, X)``, X (n, ·), that :func:`lagrangian.integrate_ode`
accepts; row i of the output depends on all rows (the empirical measure (1/n) Σ δ_{x_i}).

* Attention (theory.md §6, Eq. 27, design.md §2): Γ[μ](x) = V Σ_j softmax_j(s⟨Qx, Kx_j⟩) x_j, scale s
  (s = 1 in the survey, s = 1/√d in Castin et al.). Tokens follow dx_i/dt = Γ[μ_t](x_i), the particle
  system of the transformer PDE (29). Logits are evaluated in row chunks with a stable log-sum-exp, so
  memory is O(chunk · n), not O(n²).
* Two-layer network (theory.md §5): neurons θ_i = (w_i, a_i) ∈ R^{d+1}, G(u) = (1/n) Σ_i a_i σ(⟨w_i, u⟩),
  risk F(θ) = (1/2N) Σ_k (G(u_k) − y_k)². Particles follow the mean-field PDE, i.e. the velocity is
  −∇_θ δf(α)(θ_i) = −n ∇_{θ_i} F (the 1/n time rescaling of particle gradient flows, theory.md §4).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import as_cloud, get_xp, to_numpy

__all__ = ["softmax_attention", "AttentionField", "attention_field", "NetworkField", "network_field",
           "network_output", "network_loss", "ACTIVATIONS"]

ACTIVATIONS = ("linear", "relu")


def _matrix(a: Any, name: str, shape: tuple[int | None, int | None]) -> np.ndarray:
    m = np.asarray(to_numpy(a), dtype=float)
    if m.ndim == 0 and shape == (None, None):
        m = m.reshape(1, 1)
    if m.ndim != 2 or any(s is not None and s != ms for s, ms in zip(shape, m.shape)):
        raise ValueError(f"{name} must be a 2-D matrix of shape {tuple('·' if s is None else s for s in shape)}, "
                         f"got {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return m


def softmax_attention(queries: Any, keys: Any, Q: Any, K: Any, V: Any, *, scale: float = 1.0,
                      chunk_bytes: int = 1 << 27) -> Any:
    """out_i = V Σ_j softmax_j(s ⟨Q q_i, K y_j⟩) y_j for queries q (m, d) against keys/values y (n, d).

    Q, K are (r, d), V is (d, d). Row chunks keep the (chunk, n) float64 logit matrix at about
    ``chunk_bytes / 2`` (one buffer at a time, exponentiated in place); each row uses a max-shifted
    (log-sum-exp) softmax, so large logits are safe.
    """
    q = as_cloud(queries, "queries")
    y = as_cloud(keys, "keys", dim=q.shape[1])
    xp = get_xp(q, y)
    d = q.shape[1]
    Qm = _matrix(Q, "Q", (None, None))
    if Qm.shape[1] != d:
        raise ValueError(f"tokens have dimension {d} but Q and K act on dimension {Qm.shape[1]}; "
                         f"Q, K must be (r, {d}) and V ({d}, {d})")
    Km = _matrix(K, "K", (Qm.shape[0], d))
    Vm = _matrix(V, "V", (d, d))
    qk = q @ xp.asarray(float(scale) * Qm.T)  # (m, r): s Q q_i
    ky = y @ xp.asarray(Km.T)  # (n, r)
    n = y.shape[0]
    out = xp.empty_like(q)
    chunk = max(1, int(chunk_bytes // (16 * n)))
    for s in range(0, q.shape[0], chunk):
        logits = qk[s:s + chunk] @ ky.T  # (c, n)
        logits -= xp.max(logits, axis=1, keepdims=True)
        p = xp.exp(logits, out=logits)
        out[s:s + chunk] = (p @ y) / xp.sum(p, axis=1, keepdims=True)
        del logits, p  # free the chunk before the next one is allocated
    return out @ xp.asarray(Vm.T)


@dataclass(frozen=True)
class AttentionField:
    """Whole-cloud self-attention field f(t, X)_i = Γ[μ_X](x_i) with μ_X = (1/n) Σ_j δ_{x_j}."""

    Q: np.ndarray
    K: np.ndarray
    V: np.ndarray
    scale: float = 1.0
    chunk_bytes: int = 1 << 27

    def __call__(self, t: float, x: Any) -> Any:
        return softmax_attention(x, x, self.Q, self.K, self.V, scale=self.scale, chunk_bytes=self.chunk_bytes)


def attention_field(Q: Any, K: Any, V: Any, *, scale: float = 1.0, chunk_bytes: int = 1 << 27) -> AttentionField:
    """Self-attention token field Γ[μ](x) = V Σ_j softmax_j(s⟨Qx, Kx_j⟩) x_j (theory.md Eq. 27 with scale s).

    Q, K: (r, d); V: (d, d). Peak memory ≈ ``chunk_bytes`` / 2 + O(n (d + r)) whatever n is (10⁴ tokens,
    d = 8, default 128 MiB budget: ~65 MiB measured with tracemalloc).
    """
    Qm = _matrix(Q, "Q", (None, None))
    d = Qm.shape[1]
    Km = _matrix(K, "K", (Qm.shape[0], d))
    Vm = _matrix(V, "V", (d, d))
    if not np.isfinite(scale):
        raise ValueError(f"scale must be finite, got {scale}")
    if int(chunk_bytes) < 1:
        raise ValueError("chunk_bytes must be positive")
    return AttentionField(Qm, Km, Vm, float(scale), int(chunk_bytes))


# --------------------------------------------------------------------------------------- two-layer networks
def _activation(name: str):
    if name == "linear":
        return (lambda z: z), (lambda z: z * 0.0 + 1.0)
    if name == "relu":
        return (lambda z: z * (z > 0)), (lambda z: (z > 0) * 1.0)
    raise ValueError(f"unknown activation {name!r}; valid activations are {ACTIVATIONS}")


def _neurons(theta: Any, d: int) -> Any:
    return as_cloud(theta, "theta", dim=d + 1)


def network_output(theta: Any, u: Any, *, activation: str = "linear") -> Any:
    """G(u_k) = (1/n) Σ_i a_i σ(⟨w_i, u_k⟩) for neurons θ (n, d+1) = [w | a] and inputs u (N, d); returns (N,)."""
    u = as_cloud(u, "u")
    th = _neurons(theta, u.shape[1])
    sig, _ = _activation(activation)
    return sig(u @ th[:, :-1].T) @ th[:, -1] / th.shape[0]


def network_loss(theta: Any, data_x: Any, data_y: Any, *, activation: str = "linear") -> float:
    """Risk F(θ) = (1/2N) Σ_k (G(u_k) − y_k)² (squared loss with the ½, theory.md §5)."""
    xp = get_xp(data_x)
    y = xp.asarray(data_y, dtype=xp.float64).reshape(-1)
    r = network_output(theta, data_x, activation=activation) - y
    return float(0.5 * xp.mean(r**2))


@dataclass(frozen=True)
class NetworkField:
    """Mean-field training velocity of neurons θ_i = (w_i, a_i): −∇_θ δf(α)(θ_i) = −n ∇_{θ_i} F.

    With residuals e_k = G(u_k) − y_k: ∇_a δf = (1/N) Σ_k e_k σ(⟨w, u_k⟩), ∇_w δf = (1/N) Σ_k e_k a σ'(⟨w, u_k⟩) u_k.
    """

    data_x: Any
    data_y: Any
    activation: str = "linear"
    chunk_bytes: int = 1 << 26

    def __call__(self, t: float, theta: Any) -> Any:
        xp = get_xp(theta)
        u = xp.asarray(self.data_x)
        y = xp.asarray(self.data_y)
        N, d = u.shape
        n = theta.shape[0]
        if theta.ndim != 2 or theta.shape[1] != d + 1:
            raise ValueError(f"neurons must have shape (n, {d + 1}) = [w | a], got {theta.shape}")
        sig, dsig = _activation(self.activation)
        w, a = theta[:, :d], theta[:, d]
        chunk = max(1, int(self.chunk_bytes // (16 * n)))
        resid = xp.empty(N)
        for s in range(0, N, chunk):  # pass 1: residuals e_k = G(u_k) − y_k
            resid[s:s + chunk] = sig(u[s:s + chunk] @ w.T) @ a / n - y[s:s + chunk]
        grad_a = xp.zeros(n)
        grad_w = xp.zeros((n, d))
        for s in range(0, N, chunk):  # pass 2: ∇_θ δf at every neuron
            pre = u[s:s + chunk] @ w.T  # (c, n)
            e = resid[s:s + chunk]
            grad_a += sig(pre).T @ e
            grad_w += (dsig(pre) * e[:, None]).T @ u[s:s + chunk]
        grad_w *= a[:, None]
        return -xp.concatenate([grad_w, grad_a[:, None]], axis=1) / N


def network_field(data_x: Any, data_y: Any, *, activation: str = "linear",
                  chunk_bytes: int = 1 << 26) -> NetworkField:
    """Whole-cloud field for neuron particles θ (n, d+1) = [w | a] trained on (data_x (N, d), data_y (N,)).

    Particles follow the mean-field PDE ∂α/∂t = div(α ∇_θ δf(α)): velocity −n ∇_{θ_i} F (theory.md §5).
    """
    u = as_cloud(data_x, "data_x")
    xp = get_xp(u)
    y = xp.asarray(data_y, dtype=xp.float64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (u.shape[0],):
        raise ValueError(f"data_y must have shape ({u.shape[0]},) to match data_x, got {y.shape}")
    if not bool(xp.all(xp.isfinite(y))):
        raise ValueError("data_y contains NaN or infinite values")
    _activation(activation)
    return NetworkField(u, y, activation, int(chunk_bytes))
