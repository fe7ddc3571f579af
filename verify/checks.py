"""Pure check functions: each compares a thing under test with an exact reference and returns
:class:`~verify.harness.Check` objects. Cases call them; tests call them with deliberately wrong
inputs to prove that they fail; users call them on their own schemes.

Tolerances:

* ``ROUNDOFF`` (1e-10, relative) for identities that hold exactly in real arithmetic and are computed
  by backward-stable dense linear algebra on matrices of condition number ≤ 10² (errors ~ d κ ε ≈ 1e-13,
  so the bound leaves a factor ~10³ of margin and still flags any error of a scheme or a formula).
* Monte Carlo checks accept ``z`` standard errors with ``z`` from :func:`verify.metrics.z_score_for`
  at the stated false-alarm rate, Bonferroni-corrected over the compared entries.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from lagrangian import deposit
from verify.gaussian import Affine, Gaussian, w2
from verify.harness import Check, make_check
from verify.metrics import (gaussian_sample_z_scores, max_standardised_deviation, relative_error,
                            z_score_for)

__all__ = [
    "ROUNDOFF", "DEFAULT_FALSE_ALARM", "path_derivative", "check_pushforward", "check_symmetric_pd",
    "check_geodesic", "check_kinetic_energy", "check_continuity", "check_samples_match",
    "check_regression_field", "kinetic_energy", "L1Comparison", "compare_l1", "KAPPA", "check_forced_steps",
]

ROUNDOFF = 1e-10
DEFAULT_FALSE_ALARM = 1e-4

Path = Callable[[float], Gaussian]
FieldPath = Callable[[float], Affine]


def path_derivative(path: Path, t: float, h: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """(dm/dt, dΣ/dt) of a Gaussian path at an interior t by the 4th-order central difference
    (truncation ~ h⁴ ≈ 1e-12 for smooth paths, round-off ~ ε/h ≈ 1e-13)."""
    g = [path(t + k * h) for k in (-2, -1, 1, 2)]
    dm = (g[0].mean - 8 * g[1].mean + 8 * g[2].mean - g[3].mean) / (12 * h)
    dc = (g[0].cov - 8 * g[1].cov + 8 * g[2].cov - g[3].cov) / (12 * h)
    return dm, 0.5 * (dc + dc.T)


def check_pushforward(name: str, T: Affine, g0: Gaussian, g1: Gaussian, *,
                      tol: float = ROUNDOFF) -> list[Check]:
    """T♯g0 = g1: relative errors of the pushed mean (against 1 + |m1|) and covariance."""
    pushed = T.push(g0)
    mean_err = float(np.linalg.norm(pushed.mean - g1.mean) / (1.0 + np.linalg.norm(g1.mean)))
    return [make_check(f"{name}: mean of T♯g0", mean_err, upper=tol,
                       detail="‖A m0 + b − m1‖ / (1 + ‖m1‖)"),
            make_check(f"{name}: covariance of T♯g0", relative_error(pushed.cov, g1.cov),
                       upper=tol, detail="‖A Σ0 Aᵀ − Σ1‖ / ‖Σ1‖")]


def check_symmetric_pd(name: str, matrix: np.ndarray, *, tol: float = ROUNDOFF) -> list[Check]:
    """A map x ↦ Ax + b is the gradient of a convex function iff A is symmetric PSD (Brenier)."""
    a = np.asarray(matrix, dtype=float)
    asym = float(np.linalg.norm(a - a.T) / np.linalg.norm(a))
    lam_min = float(np.min(np.linalg.eigvalsh(0.5 * (a + a.T))))
    return [make_check(f"{name}: asymmetry", asym, upper=tol, detail="‖A − Aᵀ‖ / ‖A‖"),
            make_check(f"{name}: smallest eigenvalue", lam_min, lower=0.0,
                       detail="gradient of a convex potential needs A ⪰ 0")]


def check_geodesic(name: str, path: Path, distance: float, pairs: Sequence[tuple[float, float]],
                   *, tol: float = ROUNDOFF) -> Check:
    """Constant-speed geodesic: W2(μ_s, μ_t) = |t − s| W2(μ_0, μ_1) for the given pairs (s, t)."""
    errs = [abs(w2(path(s), path(t)) - abs(t - s) * distance) / distance for s, t in pairs]
    return make_check(f"{name}: W2(μs, μt) = |t − s| W2", max(errs), upper=tol,
                      detail=f"max relative deviation over {len(pairs)} pairs")


def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (x + 1.0), 0.5 * w


def kinetic_energy(field: FieldPath, path: Path, nodes: int = 24) -> float:
    """∫_0^1 E_{μ_t} |v_t(X)|² dt by Gauss–Legendre; for affine v = Ax + b,
    E|v(X)|² = |A m + b|² + tr(A Σ Aᵀ)."""
    total = 0.0
    for t, w in zip(*_gauss_legendre(nodes)):
        v, g = field(float(t)), path(float(t))
        mv = v.matrix @ g.mean + v.offset
        total += w * (mv @ mv + np.trace(v.matrix @ g.cov @ v.matrix.T))
    return float(total)


def check_kinetic_energy(name: str, field: FieldPath, path: Path, w2_squared: float, *,
                         tol: float = 1e-9) -> Check:
    """Benamou–Brenier: the geodesic's kinetic energy ∫∫|v|² dμ_t dt equals W2² (no ½).
    Tolerance: 24-point Gauss–Legendre on an analytic integrand (error ≪ 1e-12) plus round-off."""
    energy = kinetic_energy(field, path)
    return make_check(f"{name}: kinetic energy = W2²", abs(energy - w2_squared) / w2_squared,
                      upper=tol, reference=w2_squared, detail=f"∫∫|v|² = {energy:.12g}")


def check_continuity(name: str, field: FieldPath, path: Path, times: Sequence[float], *,
                     tol: float = 1e-8) -> Check:
    """An affine field v_t = A_t x + b_t transports N(m_t, Σ_t) iff dm/dt = A m + b and
    dΣ/dt = AΣ + ΣAᵀ. Derivatives of the path by 4th-order differences (error ~1e-12)."""
    worst = 0.0
    for t in times:
        dm, dc = path_derivative(path, t)
        v, g = field(t), path(t)
        rm = np.linalg.norm(dm - (v.matrix @ g.mean + v.offset)) / (1 + np.linalg.norm(dm))
        rc = np.linalg.norm(dc - (v.matrix @ g.cov + g.cov @ v.matrix.T)) / (1 + np.linalg.norm(dc))
        worst = max(worst, rm, rc)
    return make_check(f"{name}: continuity residual", worst, upper=tol,
                      detail="max over t of relative residuals of dm/dt and dΣ/dt − (AΣ + ΣAᵀ)")


def check_samples_match(name: str, samples: np.ndarray, g: Gaussian, *,
                        false_alarm: float = DEFAULT_FALSE_ALARM) -> list[Check]:
    """Sample mean and covariance of ``samples`` (n, d), n ≥ 3, agree with the Gaussian law g.

    Exact finite-n tests of the hypothesis "the rows are independent draws of g"
    (:func:`verify.metrics.gaussian_sample_z_scores`): normal means, χ²_{n−1} whitened variances and Student
    t_{n−2} whitened correlations, each reported as a z-equivalent and Bonferroni-corrected over its entries, so
    each check raises a false alarm with probability ≤ ``false_alarm`` at any n (not only asymptotically)."""
    samples = np.asarray(samples, dtype=float)
    d = g.dim
    if samples.ndim != 2 or samples.shape[1] != d:
        raise ValueError(f"samples must have shape (n, {d}), got {samples.shape}")
    z_mean, z_cov = gaussian_sample_z_scores(samples, g.mean, g.cov)
    n = samples.shape[0]
    return [make_check(f"{name}: mean (standard errors)", float(np.max(np.abs(z_mean))),
                       upper=z_score_for(false_alarm, d),
                       detail=f"n = {n}, exact normal law of the mean, false-alarm rate {false_alarm:g}",
                       standard_error=1.0, false_alarm=false_alarm),
            make_check(f"{name}: covariance (standard errors)", float(np.max(z_cov)),
                       upper=z_score_for(false_alarm, len(z_cov)),
                       detail=f"n = {n}, z-equivalents of exact Wishart tails (χ² whitened variances, Student t "
                              f"whitened correlations), false-alarm rate {false_alarm:g}",
                       standard_error=1.0, false_alarm=false_alarm)]


def check_regression_field(name: str, field: Affine, z: np.ndarray, y: np.ndarray, *,
                           false_alarm: float = DEFAULT_FALSE_ALARM) -> Check:
    """``field`` equals the least-squares regression of y on z (both (n, d)) within OLS intervals.

    For jointly Gaussian (z, y) the conditional expectation E[y | z] is affine and the residual is
    homoscedastic, so the OLS coefficient standard errors sqrt(σ_j² [(XᵀX)⁻¹]_kk) are exact."""
    z = np.asarray(z, dtype=float)
    y = np.asarray(y, dtype=float)
    n, d = z.shape
    x = np.hstack([np.ones((n, 1)), z])
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ (x.T @ y)  # (d + 1, d): intercept row, then the transposed matrix
    resid = y - x @ beta
    sigma2 = np.sum(resid ** 2, axis=0) / (n - d - 1)
    se = np.sqrt(np.outer(np.diag(xtx_inv), sigma2))
    expected = np.vstack([field.offset[None, :], field.matrix.T])
    z_crit = z_score_for(false_alarm, expected.size)
    return make_check(f"{name}: field vs regression (standard errors)",
                      max_standardised_deviation(beta, expected, se), upper=z_crit,
                      detail=f"n = {n}, OLS of X1 − X0 on X_t, false-alarm rate {false_alarm:g}", standard_error=1.0,
                      false_alarm=false_alarm)


# ------------------------------------------------------------------------------------- grid against particles
KAPPA = 1.25
L1_FALSE_ALARM = 1e-3   # stated bound for κ = 1.25 (≥ 7 spreads of the ratio; see compare_l1)


@dataclass(frozen=True)
class L1Comparison:
    """L1 distances of particle sets to a grid density, with their Monte Carlo floor."""

    to_grid: float          # mean over sets of ‖A − ρ_grid‖₁
    floor: float            # mean over pairs of ‖A − B‖₁ / √2
    spread: float           # relative standard deviation of ‖A − B‖₁ over pairs
    grid_error: float       # ‖ρ_grid − ρ_exact‖₁ (0 when no exact density is known)

    def check(self, name: str, kappa: float = KAPPA) -> Check:
        bound = kappa * self.floor + self.grid_error
        return make_check(f"{name}: L1(particles, grid)", self.to_grid, upper=bound,
                          standard_error=self.spread * self.to_grid, false_alarm=L1_FALSE_ALARM,
                          detail=f"floor {self.floor:.4g} (pair spread {100 * self.spread:.1f} %), "
                                 f"grid error {self.grid_error:.3g}, bound κ·floor + grid error, "
                                 f"κ = {kappa}")


def compare_l1(grid, rho_grid: np.ndarray, sets: list[np.ndarray],
               rho_exact: np.ndarray | None = None) -> L1Comparison:
    """Deposit each particle set (CIC) on ``grid`` (an eulerian.Grid) and measure L1 distances.

    How an L1 distance between a grid density and deposited particles is judged: particles deposited by
    cloud-in-cell carry Monte Carlo noise whose L1 size is measured from independent particle sets. For
    two independent sets A, B the cell noise is independent, so E‖A − B‖₁ ≈ √2 E‖A − ρ‖₁ (a Gaussian
    cell-wise fluctuation has E|X − Y| = √2 E|X − μ|): the *floor* of one set is F = mean‖A − B‖₁ / √2.
    By the triangle inequality ‖A − ρ_grid‖₁ ≤ ‖A − ρ‖₁ + ‖ρ_grid − ρ‖₁, so a set is consistent with the
    grid when ‖A − ρ_grid‖₁ ≤ κ F + ‖ρ_grid − ρ_exact‖₁. The L1 norm over thousands of cells
    concentrates: its relative spread between pairs of sets is measured and reported (4–6 % for
    2·10⁴ particles on 64² cells); averaged over 4 sets and 6 pairs, the ratio to_grid / floor has a
    relative spread of about 3.5 %, so κ = 1.25 sits ≥ 7 spreads away (false alarm far below 1e-3),
    while a wrong diffusion factor or drift moves the L1 by O(1) of the floor.
    """
    h = grid.cell_volume
    dens = [np.asarray(deposit(x, grid.lower, grid.upper, grid.shape, method="cic", outside="clip"))
            for x in sets]
    pairs = [np.sum(np.abs(a - b)) * h for a, b in itertools.combinations(dens, 2)]
    grid_error = 0.0 if rho_exact is None else float(np.sum(np.abs(rho_grid - rho_exact)) * h)
    return L1Comparison(to_grid=float(np.mean([np.sum(np.abs(a - rho_grid)) * h for a in dens])),
                        floor=float(np.mean(pairs) / np.sqrt(2.0)),
                        spread=float(np.std(pairs) / np.mean(pairs)), grid_error=grid_error)


def check_forced_steps(name: str, sol: Any, t_final: float, steps: int) -> Check:
    """With ``steps`` forced, every step is t_final / steps: the step times (sol.mass_times) against that uniform
    grid, max |dt_n / (t_final / steps) − 1| (NaN when the count differs). Tolerance: the round-off of the
    accumulated time, steps ulps of t_final over a step of t_final / steps, 4 eps steps²."""
    dt = np.diff(np.asarray(sol.mass_times))
    h = t_final / steps
    dev = float(np.abs(dt / h - 1.0).max()) if dt.size == steps else math.nan
    return make_check(f"{name}: forced steps = {steps}, max |dt_n / (t_final / steps) − 1|", dev,
                      upper=4.0 * np.finfo(float).eps * steps**2, reference=0.0,
                      detail=f"{dt.size} steps, dt from {dt.min():.6g} to {dt.max():.6g}" if dt.size else "no steps")


def check_solution_records(name: str, solutions: Sequence[Any], closed: bool, elapsed: float) -> Check:
    """The record each eulerian Solution documents: ``mass`` and ``mass_times`` of steps + 1 entries, ``times``
    one per saved density, finite and non-decreasing, ``boundary_outflow`` None for a closed box (zero-flux and
    periodic walls), else steps + 1 entries, and ``wall_time`` within [0, elapsed] (``elapsed``: the seconds the
    caller measured around the runs). The value is the number of wrong fields, which must be 0."""
    wrong = []
    for i, s in enumerate(solutions):
        if not 0.0 <= s.wall_time <= elapsed:
            wrong.append(f"run {i} ({s.backend}): wall_time {s.wall_time:.3g} s outside [0, {elapsed:.3g}] s")
        n = (s.steps + 1,)
        if np.shape(s.mass) != n or np.shape(s.mass_times) != n:
            wrong.append(f"run {i} ({s.backend}): mass {np.shape(s.mass)}, mass_times {np.shape(s.mass_times)} after "
                         f"{s.steps} steps")
        times = np.asarray(s.times, dtype=float) if s.times is not None else None
        if times is None or times.shape != (len(s.densities),) or not (
                np.all(np.isfinite(times)) and np.all(np.diff(times) >= 0)):
            wrong.append(f"run {i} ({s.backend}): times {s.times!r:.80} for {len(s.densities)} saved densities")
        outflow = None if s.boundary_outflow is None else np.shape(s.boundary_outflow)
        if outflow != (None if closed else n):
            wrong.append(f"run {i} ({s.backend}): boundary_outflow {outflow} for a {'closed' if closed else 'open'} "
                         "box")
    return make_check(f"{name}: Solution records as documented (count of wrong fields)", float(len(wrong)),
                      upper=0.0, reference=0.0, detail="; ".join(wrong[:3]) or f"{len(solutions)} solutions")
