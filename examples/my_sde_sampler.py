"""My own SDE sampler (Euler–Maruyama), checked with twinflow.

Advances particles of dX = b(t, X) dt + sqrt(2D) dW from t = 0 to problem.t_final in ``steps`` equal steps:

    X_{k+1} = X_k + b(t_k, X_k) dt + S ξ_k,   ξ_k ~ N(0, I),   S = sqrt(2D dt)  (symmetric square root),

so the increment has covariance S Sᵀ = 2D dt for a scalar D or a symmetric positive semi-definite matrix D.
Euler–Maruyama has weak order 1:

    cd examples && twinflow study ou-sde-1d --solver my_sde_sampler:sample --expected-order 1 \\
        --levels 1,2,4,8 --samples 100000 --replicates 16

``sample_sqrt_d`` is a deliberately wrong variant for twinflow to catch.
"""
import numpy as np


def _noise_matrix(D, d, dt):
    """The symmetric square root of 2D·dt (D a number or a d×d matrix), by an eigen-decomposition."""
    cov = 2.0 * dt * (D * np.eye(d) if np.ndim(D) == 0 else np.asarray(D, dtype=float))
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T      # clip: round-off can make a zero eigenvalue −1e-17


def _euler_maruyama(problem, x0, steps, rng, noise_scale):
    x = np.array(x0, dtype=float)                            # (n, d), a copy: x0 stays untouched
    dt = problem.t_final / steps
    s = noise_scale(problem.diffusion, x.shape[1], dt)
    for k in range(steps):
        x = x + np.asarray(problem.drift(k * dt, x)) * dt + rng.standard_normal(x.shape) @ s
    return x


def sample(problem, x0, steps, rng):
    """Euler–Maruyama for dX = b dt + sqrt(2D) dW: weak order 1."""
    return _euler_maruyama(problem, x0, steps, rng, _noise_matrix)


def sample_sqrt_d(problem, x0, steps, rng):
    # WRONG on purpose: noise sqrt(D dt) instead of sqrt(2D dt) (the ½σ² slip again), so the particles spread
    # half as fast: the mean is still right, but the variance converges to the wrong value as dt → 0.
    return _euler_maruyama(problem, x0, steps, rng, lambda D, d, dt: _noise_matrix(D, d, dt / 2))
