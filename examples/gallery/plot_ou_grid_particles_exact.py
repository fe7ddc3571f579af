"""
An Ornstein–Uhlenbeck density on the grid, with particles, and exact
====================================================================

The same evolution solved three ways: the Fokker–Planck equation ∂ρ/∂t + div(ρ b) = DΔρ with b(x) = Bx by
finite volumes (Scharfetter–Gummel fluxes, BDF2), the SDE dX = BX dt + sqrt(2D) dW by stochastic Heun
particles deposited on the same cells, and the exact Gaussian law from the moment equations.
"""
import matplotlib.pyplot as plt
import numpy as np

from eulerian import Grid, solve_fokker_planck
from lagrangian import deposit, integrate_sde
from verify.gaussian import Affine, Gaussian, linear_sde

B = np.array([[-1.0, 0.6], [-0.4, -0.8]])      # a non-symmetric drift matrix: the law rotates as it contracts
D, T = 0.3, 1.0
g0 = Gaussian(mean=[2.0, -1.0], cov=[[0.3, 0.1], [0.1, 0.2]])
grid = Grid(lower=(-4, -4), upper=(4, 4), shape=(64, 64))

grid_density = solve_fokker_planck(grid, grid.cell_averages(g0.pdf), drift=lambda t, x: x @ B.T, diffusion=D,
                                   t_final=T, steps=32).to_numpy()
rng = np.random.default_rng(0)
particles = integrate_sde(lambda t, x: x @ B.T, D, g0.sample(40_000, rng), 0.0, T, 32, rng=rng, method="heun")
particle_density = deposit(particles, grid.lower, grid.upper, grid.shape, method="cic")
exact = linear_sde(g0, Affine(B), D, T)
exact_density = grid.cell_averages(exact.pdf)

l1 = lambda a, b: float(np.abs(a - b).sum() * grid.cell_volume)   # noqa: E731
print(f"L1(grid, exact) = {l1(grid_density, exact_density):.2e}, "
      f"L1(particles, exact) = {l1(particle_density, exact_density):.2e} (Monte Carlo noise)")

fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), layout="constrained")
vmax = exact_density.max()
for ax, (title, rho) in zip(axes, [("grid", grid_density), ("particles", particle_density),
                                   ("exact", exact_density)]):
    shown = ax.imshow(rho.T, origin="lower", extent=(-4, 4, -4, 4), vmin=0, vmax=vmax)
    ax.set_title(title)
fig.colorbar(shown, ax=axes[:3], shrink=0.8)
difference = grid_density - exact_density
m = np.abs(difference).max()
shown = axes[3].imshow(difference.T, origin="lower", extent=(-4, 4, -4, 4), cmap="RdBu_r", vmin=-m, vmax=m)
axes[3].set_title("grid − exact")
fig.colorbar(shown, ax=axes[3], shrink=0.8)
