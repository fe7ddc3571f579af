"""
Attention tokens against the Gaussian closure
=============================================

Tokens moved by self-attention, dx_i/dt = Γ[μ](x_i) with Γ[μ](x) = V Σ_j softmax_j(s⟨Qx, K x_j⟩) x_j, against
the closed-form law of the transformer PDE: a Gaussian stays Gaussian and its mean and covariance follow an ODE.
The ODE starts from the tokens' own initial moments (a paired comparison), so what remains is the particle
error, not the sampling noise of the start.
"""
import matplotlib.pyplot as plt
import numpy as np

from lagrangian import attention_field, integrate_ode
from verify.gaussian import Gaussian, attention

rng = np.random.default_rng(1)
Q = np.array([[1.0, 0.3], [0.0, 0.8]])
K = np.array([[0.9, 0.0], [0.2, 1.0]])
V = np.array([[0.5, 0.2], [-0.3, 0.4]])
tokens = Gaussian([0.5, -0.2], [[0.4, 0.1], [0.1, 0.3]]).sample(1500, rng)
start = Gaussian(tokens.mean(axis=0), np.cov(tokens.T))
depths = np.linspace(0.0, 1.0, 11)
path = integrate_ode(attention_field(Q, K, V), tokens, 0.0, 1.0, 40, method="rk4", save_at=list(depths))

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
closure = [attention(start, Q, K, V, t) for t in depths]
for (i, j), colour in zip([(0, 0), (0, 1), (1, 1)], ["C0", "C1", "C2"]):
    left.plot(depths, [g.cov[i, j] for g in closure], color=colour, label=f"Σ[{i},{j}] closure")
    left.plot(depths, [np.cov(x.T)[i, j] for x in path], "o", color=colour, markersize=4)
left.set_xlabel("depth t")
left.set_title("covariance: closure (lines), tokens (dots)")
left.legend(fontsize=8)
final = closure[-1]
right.scatter(path[-1][:, 0], path[-1][:, 1], s=2, alpha=0.4)
angles = np.linspace(0, 2 * np.pi, 200)
circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
for r in (1, 2):
    ellipse = final.mean + r * circle @ np.linalg.cholesky(final.cov).T
    right.plot(ellipse[:, 0], ellipse[:, 1], "k-", linewidth=1)
right.set_title("tokens at t = 1 and the closure's 1σ, 2σ ellipses")
right.set_aspect("equal")
print(f"covariance at t = 1: tokens {np.cov(path[-1].T).round(4).tolist()}, closure {final.cov.round(4).tolist()}")
