"""Report holes found by the fresh mutation sample at cbbc575 (seed 20261214), each closed by a check that now
catches its mutant, built in memory (tests/verify/mutants.py):

* ``BBResult.velocity``'s density cut ``threshold * max rho`` -> bb-gaussian-1d, ``check_velocity_cut``;
* Sheppard's correction h²/12 of ``Grid.covariance`` -> ou-2d, ``check_grid_moments``;
* the probe of a drift's time dependence beyond t_final -> heat-2d, ``evaluation_times_check``;
* Scott's bandwidth exponent -> flow-matching-particles-2d, ``check_bandwidth_rules`` (tests in
  test_mutation_holes.py, with the other named bandwidths).
"""
from __future__ import annotations

import functools

import pytest

from eulerian.benamou_brenier import benamou_brenier
from eulerian.grid import Grid
from tests.verify.mutants import mutated
from verify.cases import benamou_brenier_cases as B
from verify.cases import eulerian_cases as E


@functools.lru_cache(maxsize=1)
def gaussian_run():
    """The primal-dual run of bb-gaussian-1d (64 cells x 64 steps)."""
    grid = Grid((0.0,), (1.0,), (64,))
    return benamou_brenier(grid, B.gaussian_cells_1d(grid, 0.3, 0.05), B.gaussian_cells_1d(grid, 0.7, 0.08), 64)


def test_velocity_cut_check_passes():
    check = B.check_velocity_cut("pd", gaussian_run())
    assert check.passed and check.value == 0.0, check.detail


@pytest.mark.parametrize("old, new", [
    ("cut = threshold * float(self.centred_density.max())", "cut = threshold / float(self.centred_density.max())"),
    ("keep = rho > cut", "keep = rho > 2 * cut"),
    ("keep = rho > cut", "keep = rho > 0 * cut"),
])
def test_velocity_cut_check_flags_a_wrong_cut(monkeypatch, old, new):
    """The mutant of the sample divides by max rho (7.9 here), so the cut is 60x too low: 27 cells of the tails
    get a velocity the definition sets to 0."""
    res = gaussian_run()
    mod = mutated(monkeypatch, "eulerian.benamou_brenier", old, new)
    bad = mod.BBResult(**{f: getattr(res, f) for f in res.__dataclass_fields__})
    check = B.check_velocity_cut("pd", bad)
    assert not check.passed and check.value >= 1, check.detail


def test_grid_moments_check_passes():
    check = E.check_grid_moments()
    assert check.passed and check.value < 1e-11, check.detail


@pytest.mark.parametrize("old, new", [
    ("cov -= np.diag(np.asarray(self.spacing) ** 2 / 12.0)", "cov -= np.diag(np.asarray(self.spacing) ** 2 / 13.0)"),
    ("cov -= np.diag(np.asarray(self.spacing) ** 2 / 12.0)", "cov -= np.diag(np.asarray(self.spacing)[::-1] ** 2 / 12.0)"),
    ("        if sheppard:\n            cov -=", "        if not sheppard:\n            cov -="),
])
def test_grid_moments_check_flags_a_wrong_correction(monkeypatch, old, new):
    """The sample's mutant (h²/13) is off by h²/156 = 1.6e-3 in the x variance, 4e-3 relative; the spacings of the
    two axes swapped, or the flag inverted, by more."""
    mod = mutated(monkeypatch, "eulerian.grid", old, new)
    g = E.MOMENT_GRID
    check = E.check_grid_moments(mod.Grid(g.lower, g.upper, g.shape))
    assert not check.passed and check.value > 1e-3, check.detail


def test_evaluation_times_check_passes():
    check = E.evaluation_times_check()
    assert check.passed and check.value == 0, check.detail


@pytest.mark.parametrize("module, old, new, solver", [
    # the sample's mutant: the third probe of the drift's time dependence at 1.3217 t_final
    ("eulerian.fokker_planck", "for t in (0.5 * t_final, t_final, 0.3217 * t_final)",
     "for t in (0.5 * t_final, t_final, 1.3217 * t_final)", "solve_fokker_planck"),
    ("eulerian.continuity", "for t in (0.5 * t_final, t_final))", "for t in (0.5 * t_final, 2 * t_final))",
     "solve_continuity"),
])
def test_evaluation_times_check_flags_a_probe_beyond_t_final(monkeypatch, module, old, new, solver):
    mod = mutated(monkeypatch, module, old, new)
    kw = {"solve": mod.solve_fokker_planck} if solver == "solve_fokker_planck" else {"continuity": mod.solve_continuity}
    check = E.evaluation_times_check(**kw)
    assert not check.passed and check.value >= 1, check.detail
