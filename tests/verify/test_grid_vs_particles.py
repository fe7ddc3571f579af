"""Grid-vs-particle comparisons must catch a wrong particle scheme (negative tests)."""
import numpy as np

from verify.adapters import SDESampler
from verify.cases import grid_vs_particles as gvp


def test_l1_check_flags_the_other_diffusion_convention():
    grid, rho, exact = gvp.ou_grid(64)
    good = [gvp.ou_particles(20_000, np.random.default_rng(k)) for k in range(4)]
    assert gvp.compare_l1(grid, rho, good, exact).check("ok").passed
    # dX = sqrt(D) dW instead of sqrt(2D) dW: particles solve ∂ρ/∂t + div(ρb) = (D/2)Δρ
    def sqrt_d(problem, x0, steps, rng):
        return SDESampler("heun")(problem.with_(diffusion=problem.diffusion / 2), x0, steps, rng)

    bad = [gvp.ou_particles(20_000, np.random.default_rng(k), sampler=sqrt_d) for k in range(4)]
    assert not gvp.compare_l1(grid, rho, bad, exact).check("half D").passed


def test_l1_check_flags_a_biased_stepper():
    grid, rho, exact = gvp.ou_grid(64)
    # Euler–Maruyama with 2 steps: weak error O(dt) visible far above the Monte Carlo floor
    coarse = [gvp.ou_particles(20_000, np.random.default_rng(k), sampler=SDESampler("euler-maruyama"), steps=2)
              for k in range(4)]
    assert not gvp.compare_l1(grid, rho, coarse, exact).check("EM, 2 steps").passed


