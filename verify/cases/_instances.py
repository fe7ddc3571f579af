"""Random problem instances for the cases: fixed seeds, bounded condition numbers."""
from __future__ import annotations

import numpy as np

from verify.gaussian import Gaussian


def random_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-distributed orthogonal d×d matrix (QR of a Gaussian matrix with sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def random_spd(d: int, rng: np.random.Generator, *, low: float = 0.3, high: float = 3.0) -> np.ndarray:
    """U diag(λ) Uᵀ with λ log-uniform in [low, high] (condition number ≤ high / low)."""
    u = random_rotation(d, rng)
    lam = np.exp(rng.uniform(np.log(low), np.log(high), size=d))
    c = (u * lam) @ u.T
    return 0.5 * (c + c.T)


def random_gaussian(d: int, rng: np.random.Generator, **kw) -> Gaussian:
    return Gaussian(rng.uniform(-1.0, 1.0, size=d), random_spd(d, rng, **kw))


def non_commuting_pair(d: int, rng: np.random.Generator) -> tuple[Gaussian, Gaussian]:
    """Two Gaussians whose covariances do not commute (‖[Σ0, Σ1]‖ is bounded away from 0), d ≥ 2."""
    while True:
        g0, g1 = random_gaussian(d, rng), random_gaussian(d, rng)
        comm = g0.cov @ g1.cov - g1.cov @ g0.cov
        if d == 1 or np.linalg.norm(comm) > 0.1:
            return g0, g1


def commuting_pair(d: int, rng: np.random.Generator) -> tuple[Gaussian, Gaussian]:
    """Two Gaussians with covariances diagonal in the same random basis (Σ0Σ1 = Σ1Σ0)."""
    u = random_rotation(d, rng)
    covs = []
    for _ in range(2):
        c = (u * np.exp(rng.uniform(np.log(0.3), np.log(3.0), size=d))) @ u.T
        covs.append(0.5 * (c + c.T))
    return (Gaussian(rng.uniform(-1, 1, d), covs[0]), Gaussian(rng.uniform(-1, 1, d), covs[1]))


def random_stable(d: int, rng: np.random.Generator) -> np.ndarray:
    """A drift matrix −(P + W) with P SPD (eigenvalues in [0.5, 2]) and W antisymmetric: stable,
    non-normal in general (a rotation part)."""
    p = random_spd(d, rng, low=0.5, high=2.0)
    w = rng.standard_normal((d, d))
    return -(p + 0.5 * (w - w.T))
