"""Report holes found by the fresh mutation sample at 8e97288 (seed 20261228), each closed by a check that now
catches its mutant, built in memory (tests/verify/mutants.py):

* ``wall_fraction`` returning 0 for densities whose cell values sum to at most 1
  (eulerian.attention.x_wall_fraction__mutmut_53): every density the check tried summed to more ->
  ``check_wall_fraction`` (attention-grid-2d) scales each density by 1e-9, 1 and 1e9;
* a mixed-precision Benamou–Brenier run whose float32 phase takes the iterations reserved for float64
  (eulerian.benamou_brenier.x_benamou_brenier__mutmut_447): the stopped-run record used max_iter = 5, where the
  whole run is float64 -> ``check_stopped_run_record`` also at max_iter = 60 (40 float32 iterations, 60 in all);
* ``jko_step``'s weight guard without |log rhobar| (eulerian.jko.x__check_weights__mutmut_29) showed a real
  weakness: the end block's dual carried the constant a D (log rhobar + 1), so a density of mean 1e-200 with
  D = 1e3 failed ("the end density has no mass"), with D = 1e200 it overflowed with a RuntimeWarning, and
  in any units the stopping test was measured against that constant. The end block now works with f' less its
  rho_k-weighted mean (free, since the step keeps the mass) -> ``check_density_units`` (jko-equilibrium): one
  step from 1e-200 rho is 1e-200 times the step from rho, to 1e-10 (measured 2e-15; the old gauge is off by 6e-4);
* ``attention_field``'s default scale 2 instead of the documented 1 (lagrangian.meanfield.x_attention_field__mutmut_1):
  every case passed the scale -> ``check_attention_values`` (attention-tokens-2d) also with the defaults;
* a per-axis diffusion's noise scale left on the host (lagrangian.integrators.xǁ_Noiseǁ__init____mutmut_41) is
  caught by cupy-paths' SDE law with D a vector (tests/verify/test_mutation_holes_gpu_only.py), added at 0fe0148.
"""

from tests.verify.mutants import mutated
from verify.cases import attention_grid as AG
from verify.cases import benamou_brenier_cases as B
from verify.cases import jko_cases as J
from verify.cases import particles as P


def test_wall_fraction_catches_small_densities_counted_as_massless(monkeypatch):
    assert AG.check_wall_fraction().passed
    mod = mutated(monkeypatch, "eulerian.attention", "    if not total > 0:\n        return 0.0",
                  "    if not total > 1:\n        return 0.0")
    check = AG.check_wall_fraction(fraction=mod.wall_fraction)
    assert not check.passed and check.value > 0.1, check


def test_stopped_run_record_catches_a_float32_phase_past_its_cap(monkeypatch):
    assert B.check_stopped_run_record().passed
    mod = mutated(monkeypatch, "eulerian.benamou_brenier", "cap -= 2 * check_every  # reserved",
                  "cap += 2 * check_every  # reserved")
    check = B.check_stopped_run_record(run=mod.benamou_brenier)
    assert not check.passed and "max_iter=60" in check.detail, check.detail


def test_density_units_catch_the_end_dual_gauge_of_log_rhobar(monkeypatch):
    assert J.check_density_units().passed
    mod = mutated(monkeypatch, "eulerian.jko", "    A = a * Vd - offset\n", "    A = a * (Vd + D * (math.log(rhobar) + 1.0))\n")
    monkeypatch.setattr(mod, "_mean_slope", lambda *args: (0.0, 0.0))   # no offset and no floor: the old gauge
    check = J.check_density_units(step=mod.jko_step)
    assert not check.passed and check.value > 1e-6, check


def test_attention_values_catch_a_wrong_default_scale(monkeypatch):
    assert P.check_attention_values().passed
    mod = mutated(monkeypatch, "lagrangian.meanfield",
                  "*, scale: float = 1.0, chunk_bytes: int = 1 << 27) -> AttentionField",
                  "*, scale: float = 2.0, chunk_bytes: int = 1 << 27) -> AttentionField")
    check = P.check_attention_values(field=mod.attention_field)
    assert not check.passed and check.value > 1e-3, check
