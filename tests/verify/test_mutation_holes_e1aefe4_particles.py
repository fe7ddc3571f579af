"""Report checks added for the particle-side mutation survivors of commit e1aefe4 that were report holes.

* ``verify.gaussian.x__bures_scaled__mutmut_2`` (``np.array_equal(a0, a1)`` -> ``np.array_equal(a0, None)``: the
  shortcut for identical covariances never taken, so W2(g, g) is the Bures formula's rounding residue, W2 ~1e-8,
  instead of the documented exact 0) -> pot-gaussian, ``check_identical_gaussians``.

The mutant is fed to the check by replacing ``_bures_scaled`` with the mutated function (the shortcut dropped);
``_w2_parts`` looks it up at call time.
"""
import numpy as np

from verify import gaussian as vg
from verify.cases import optimal_transport as OT


def _bures_without_shortcut(a0: np.ndarray, a1: np.ndarray) -> float:
    """The mutant's ``_bures_scaled``: the identical-covariance shortcut never taken."""
    r0 = vg._sqrtm_psd(a0)
    cross = np.trace(vg._sqrtm_psd(r0 @ a1 @ r0))
    return max(float(np.trace(a0) + np.trace(a1) - 2.0 * cross), 0.0)


def test_identical_gaussians_check_passes():
    check = OT.check_identical_gaussians(np.random.default_rng(7))
    assert check.passed and check.value == 0.0 and check.upper == 0.0
    # the exact zeros themselves, for a non-diagonal covariance
    g = vg.Gaussian([0.3, -1.0], [[2.0, 0.7], [0.7, 1.1]])
    assert vg.w2_squared(g, vg.Gaussian(g.mean.copy(), g.cov.copy())) == 0.0 and vg.w2(g, g) == 0.0


def test_identical_gaussians_check_flags_the_bures_mutant(monkeypatch):
    monkeypatch.setattr(vg, "_bures_scaled", _bures_without_shortcut)
    check = OT.check_identical_gaussians(np.random.default_rng(7))
    # the rounding residue of the square roots: W2² ~1e-16 · tr(Σ), W2 ~1e-8 on the random laws, and W2² ~1e285 on the
    # extreme law with covariances near 1e300
    assert not check.passed and check.value > 1e-12, check


def test_identical_gaussians_check_flags_a_tiny_offset(monkeypatch):
    w2_squared = vg.w2_squared
    monkeypatch.setattr(vg, "w2_squared", lambda g0, g1: w2_squared(g0, g1) + 1e-300)
    assert not OT.check_identical_gaussians(np.random.default_rng(7)).passed
