"""
The convergence plot of your own scheme
=======================================

A scheme of one's own — here a 1D finite-volume Fokker–Planck solver with central fluxes and Crank–Nicolson,
written in a few lines with SciPy — checked by twinflow: errors against the exact solution on refined grids,
the fitted order with its interval, and a pass / fail / inconclusive verdict against the claimed order.
"""
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sparse
from scipy.sparse.linalg import splu

from verify.convergence import convergence_study


def solve(problem, grid, steps):
    """Cell averages at t_final of ∂ρ/∂t + d(ρb)/dx = D d²ρ/dx² on [a, b], zero flux at both ends."""
    n, h = grid.shape[0], grid.spacing[0]
    D, dt = float(problem.diffusion), problem.t_final / steps
    faces = grid.faces(0)[1:-1, None]                       # interior faces, (n - 1, 1)
    b = np.asarray(problem.drift(0.0, faces))[:, 0]
    a_left, a_right = b / 2 + D / h, b / 2 - D / h           # flux F = a_left ρ_L + a_right ρ_R
    i = np.arange(n - 1)
    rows = np.concatenate([i, i, i + 1, i + 1])
    cols = np.concatenate([i, i + 1, i, i + 1])
    vals = np.concatenate([-a_left, -a_right, a_left, a_right]) / h
    A = sparse.csc_matrix((vals, (rows, cols)), shape=(n, n))
    eye = sparse.identity(n, format="csc")
    lu = splu((eye - 0.5 * dt * A).tocsc())
    rho = grid.cell_averages(problem.initial_density)
    for _ in range(steps):
        rho = lu.solve((eye + 0.5 * dt * A) @ rho)
    return rho


study = convergence_study(solve, "ou-1d", [32, 64, 128, 256])
print(study.table(expected_order=2))

h, errors = study.h, study.errors
low, high = study.fit.interval()
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.loglog(h, errors, "o-", label=f"L1 error; fitted order {study.fit.order:.2f} [{low:.2f}, {high:.2f}]")
ax.loglog(h, errors[-1] * (h / h[-1]) ** 2, "k:", label="claimed order 2")
ax.fill_between(h, errors[-1] * (h / h[-1]) ** 1.8, errors[-1] * (h / h[-1]) ** 2.2, color="C0", alpha=0.15,
                label="accepted orders [1.8, 2.2]")
ax.set_xlabel("h")
ax.set_ylabel("L1 error")
ax.set_title(study.verdict(2).status.upper() + ": " + study.solver)
ax.legend(fontsize=8)
