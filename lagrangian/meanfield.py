"""Interacting particle systems (mean-field fields): self-attention tokens and two-layer network neurons.

Both fields are whole-cloud callables ``f(t, X)``, X (n, ·), that :func:`lagrangian.integrate_ode`
accepts; row i of the output depends on all rows (the empirical measure (1/n) Σ δ_{x_i}).

* Attention (Peyré 2025, Eq. 27; conventions in docs/theory.md): Γ[μ](x) = V Σ_j softmax_j(s⟨Qx, Kx_j⟩) x_j, scale s
  (s = 1 in the survey, s = 1/√d in Castin et al.). Tokens follow dx_i/dt = Γ[μ_t](x_i), the particle
  system of the transformer PDE (29). Logits are evaluated in row chunks with a stable log-sum-exp, so
  memory is O(chunk · n), not O(n²).
* Two-layer network (docs/theory.md, two-layer networks): neurons θ_i = (w_i, a_i) ∈ R^{d+1}, G(u) = (1/n) Σ_i a_i σ(⟨w_i, u⟩),
  risk F(θ) = (1/2N) Σ_k (G(u_k) − y_k)². Particles follow the mean-field PDE, i.e. the velocity is
  −∇_θ δf(α)(θ_i) = −n ∇_{θ_i} F (the 1/n time rescaling of particle gradient flows, docs/theory.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import (all_finite, as_cloud, as_points, as_positive_int, as_real_array, as_real_scalar,
                      check_finite_result, check_pairwise, get_xp, on_one_device)
from .errors import NumericalError

__all__ = ["softmax_attention", "AttentionField", "attention_field", "NetworkField", "network_field",
           "network_output", "network_loss", "ACTIVATIONS"]

ACTIVATIONS = ("linear", "relu")
NETWORK_CHUNK_ARRAYS = 3
"""The most (chunk, n) float64 arrays a network velocity holds at once (the pre-activations and, for the linear
activation's derivative, two temporaries): one chunk of data is sized so that they fit in ``chunk_bytes``."""


def _matrix(a: Any, name: str, shape: tuple[int | None, int | None]) -> np.ndarray:
    """Host float64 matrix of the given shape (None: any); TypeError for complex, ValueError otherwise."""
    m = as_real_array(a, name, xp=np, finite=False)
    if m.ndim == 0 and shape == (None, None):
        m = m.reshape(1, 1)
    if m.ndim != 2 or any(s is not None and s != ms for s, ms in zip(shape, m.shape)):
        raise ValueError(f"{name} must be a 2-D matrix of shape {tuple('·' if s is None else s for s in shape)}, "
                         f"got {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return m


def _query_key_value(Q: Any, K: Any, V: Any, d: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated host matrices Q, K (r, d) and V (d, d); ``d`` is the token dimension (None: read from Q)."""
    Qm = _matrix(Q, "Q", (None, None))
    if d is not None and Qm.shape[1] != d:
        raise ValueError(f"tokens have dimension {d} but Q and K act on dimension {Qm.shape[1]}; "
                         f"Q, K must be (r, {d}) and V ({d}, {d})")
    Km = _matrix(K, "K", (None, None))
    if Km.shape != Qm.shape:
        raise ValueError(f"K must have the same shape as Q, (r, d) = {Qm.shape}, got {Km.shape}")
    d = Qm.shape[1]
    return Qm, Km, _matrix(V, "V", (d, d))


def _scale(scale: Any) -> float:
    """The softmax scale s as a finite float."""
    return as_real_scalar(scale, "scale")


def softmax_attention(queries: Any, keys: Any, Q: Any, K: Any, V: Any, *, scale: float = 1.0,
                      chunk_bytes: int = 1 << 27) -> Any:
    """out_i = V Σ_j softmax_j(s ⟨Q q_i, K y_j⟩) y_j for queries q (m, d) against keys/values y (n, d).

    Q, K are (r, d), V is (d, d). Row chunks keep the (chunk, n) float64 logit matrix at about
    ``chunk_bytes / 2`` (one buffer at a time, exponentiated in place); each row uses a max-shifted
    (log-sum-exp) softmax, so large logits are safe. MemoryBudgetError, before allocating, when one chunk
    would exceed :data:`lagrangian.backend.MAX_MEMORY_FRACTION` of memory (lower ``chunk_bytes``).
    """
    q = as_cloud(queries, "queries")
    xp, (q, y) = on_one_device(q, as_cloud(keys, "keys", dim=q.shape[1]))
    d = q.shape[1]
    scale = _scale(scale)
    chunk_bytes = as_positive_int(chunk_bytes, "chunk_bytes")
    Qm, Km, Vm = _query_key_value(Q, K, V, d)
    qk = q @ xp.asarray(float(scale) * Qm.T)  # (m, r): s Q q_i
    ky = y @ xp.asarray(Km.T)  # (n, r)
    n = y.shape[0]
    out = xp.empty_like(q)
    chunk = max(1, int(chunk_bytes // (16 * n)))
    check_pairwise(min(chunk, q.shape[0]), n, "attention logits of one chunk of queries",
                   "lower chunk_bytes or use fewer tokens", xp=xp)
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
    """Self-attention token field Γ[μ](x) = V Σ_j softmax_j(s⟨Qx, Kx_j⟩) x_j (Peyré 2025, Eq. 27, with scale s).

    Q, K: (r, d); V: (d, d). Peak memory ≈ ``chunk_bytes`` / 2 + O(n (d + r)) whatever n is (10⁴ tokens,
    d = 8, default 128 MiB budget: ~65 MiB measured with tracemalloc).
    """
    Qm, Km, Vm = _query_key_value(Q, K, V)
    return AttentionField(Qm, Km, Vm, _scale(scale), as_positive_int(chunk_bytes, "chunk_bytes"))


# --------------------------------------------------------------------------------------- two-layer networks
def _activation(name: str):
    if not isinstance(name, str):
        raise TypeError(f"activation must be one of {ACTIVATIONS}, got {type(name).__name__}")
    if name == "linear":
        return (lambda z: z), (lambda z: z * 0.0 + 1.0)
    if name == "relu":
        return (lambda z: z * (z > 0)), (lambda z: (z > 0) * 1.0)
    raise ValueError(f"unknown activation {name!r}; valid activations are {ACTIVATIONS}")


def _targets(data_y: Any, n: int, xp: Any) -> Any:
    """Regression targets as a finite float64 (n,) array ((n, 1) is accepted)."""
    y = as_real_array(data_y, "data_y", xp=xp)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n,):
        raise ValueError(f"data_y must have shape ({n},) to match data_x, got {y.shape}")
    return y


def _neurons(theta: Any, d: int) -> Any:
    return as_cloud(theta, "theta", dim=d + 1)


def _output(th: Any, u: Any, activation: str, u_name: str) -> Any:
    """G(u_k) for validated neurons and inputs (``u_name``: the inputs' argument); ValueError on overflow."""
    sig, _ = _activation(activation)
    with np.errstate(over="ignore", invalid="ignore"):
        out = sig(u @ th[:, :-1].T) @ th[:, -1] / th.shape[0]
    return check_finite_result(out, "the network output (1/n) Σ_i a_i σ(⟨w_i, u⟩)", {"theta": th, u_name: u},
                               f"rescale theta or {u_name}")


def network_output(theta: Any, u: Any, *, activation: str = "linear") -> Any:
    """G(u_k) = (1/n) Σ_i a_i σ(⟨w_i, u_k⟩) for neurons θ (n, d+1) = [w | a] and inputs u (N, d); returns (N,).

    ValueError when the output overflows float64."""
    u = as_cloud(u, "u")
    _, (th, u) = on_one_device(_neurons(theta, u.shape[1]), u)
    return _output(th, u, activation, "u")


def network_loss(theta: Any, data_x: Any, data_y: Any, *, activation: str = "linear") -> float:
    """Risk F(θ) = (1/2N) Σ_k (G(u_k) − y_k)² (squared loss with the ½, docs/theory.md).

    ValueError when the network output or the risk overflows float64."""
    u = as_cloud(data_x, "data_x")
    y = _targets(data_y, u.shape[0], get_xp(u))
    _, (th, u, y) = on_one_device(_neurons(theta, u.shape[1]), u, y)
    out = _output(th, u, activation, "data_x")
    xp = get_xp(out)
    with np.errstate(over="ignore"):   # finite y: r = out - y and a mean of squares are never NaN
        r = out - y
        risk = 0.5 * xp.mean(r**2)
    return float(check_finite_result(risk, "the risk (1/2N) Σ_k (G(u_k) − y_k)²",
                                     {"theta": th, "data_x": u, "data_y": y}, "rescale data_x, data_y or theta"))


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
        theta = as_points(theta, "theta")
        xp = get_xp(theta)
        u = xp.asarray(self.data_x)
        y = xp.asarray(self.data_y)
        d = u.shape[1]
        if theta.ndim != 2 or theta.shape[1] != d + 1:
            raise ValueError(f"neurons must have shape (n, {d + 1}) = [w | a] to match data_x of dimension {d}, "
                             f"got {theta.shape}")
        with np.errstate(over="ignore", invalid="ignore"):
            v = self._velocity(theta, u, y, xp)
        if not all_finite(v, xp) and all_finite(theta, xp):  # non-finite neurons: the integrator reports it
            check_finite_result(v, "the network training velocity", {"theta": theta, "data_x": u, "data_y": y},
                                "rescale data_x and data_y (or the neurons)", error=NumericalError)
        return v

    def _velocity(self, theta: Any, u: Any, y: Any, xp: Any) -> Any:
        N, d = u.shape
        n = theta.shape[0]
        sig, dsig = _activation(self.activation)
        w, a = theta[:, :d], theta[:, d]
        chunk = max(1, int(self.chunk_bytes // (8 * NETWORK_CHUNK_ARRAYS * n)))
        check_pairwise(min(chunk, N), n, "network pre-activations of one chunk of data",
                       "lower chunk_bytes or use fewer neurons", xp=xp)
        resid = xp.empty(N)
        for s in range(0, N, chunk):  # pass 1: residuals e_k = G(u_k) − y_k
            resid[s:s + chunk] = sig(u[s:s + chunk] @ w.T) @ a / n - y[s:s + chunk]
        grad_a = xp.zeros(n)
        grad_w = xp.zeros((n, d))
        for s in range(0, N, chunk):  # pass 2: ∇_θ δf at every neuron
            pre = u[s:s + chunk] @ w.T  # (c, n)
            e = resid[s:s + chunk]
            grad_a += sig(pre).T @ e
            g = dsig(pre)
            del pre
            g *= e[:, None]
            grad_w += g.T @ u[s:s + chunk]
            del g   # free the chunk before the next one is allocated
        grad_w *= a[:, None]
        return -xp.concatenate([grad_w, grad_a[:, None]], axis=1) / N


def network_field(data_x: Any, data_y: Any, *, activation: str = "linear",
                  chunk_bytes: int = 1 << 26) -> NetworkField:
    """Whole-cloud field for neuron particles θ (n, d+1) = [w | a] trained on (data_x (N, d), data_y (N,)).

    The data are processed in chunks whose (chunk, n) work arrays (at most NETWORK_CHUNK_ARRAYS of them at once)
    take at most ``chunk_bytes``: peak memory about ``chunk_bytes`` + O((N + n) d).

    Particles follow the mean-field PDE ∂α/∂t = div(α ∇_θ δf(α)): velocity −n ∇_{θ_i} F (docs/theory.md, two-layer networks).
    """
    u = as_cloud(data_x, "data_x")
    y = _targets(data_y, u.shape[0], get_xp(u))
    _activation(activation)
    return NetworkField(u, y, activation, as_positive_int(chunk_bytes, "chunk_bytes"))
