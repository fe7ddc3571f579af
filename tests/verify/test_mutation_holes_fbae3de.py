"""Report holes found by the fresh mutation sample at fbae3de (seed 20261230), each closed by a check that now
catches its mutant, built in memory (tests/verify/mutants.py):

* the attention interpolant centred at +centre instead of -centre
  (eulerian.attention.xǁAttentionVelocityǁ_interpolated__mutmut_235): every box the report interpolated on was
  centred at 0 -> ``check_interpolation`` (attention-grid-2d) also on the box [-3, 5] x [-3, 3];
* ``prolong_staggered`` taking the periodic neighbour two nodes on (eulerian.staggered.x_prolong_staggered__mutmut_90):
  only the multilevel start uses it, and the fine level converges from any start -> ``check_prolongation``
  (bb-gaussian-1d) against the rule written out, with walls and periodic;
* ``solve_porous_medium``'s step estimate capped at 2^63 instead of 2^62
  (eulerian.porous_medium.x_solve_porous_medium__mutmut_323): no input reached the cap -> a trouble with
  t_final = 1e300 (its message now says "pass max_steps=None" there, as jko_flow's does; the solver now counts
  its steps with continuity's check_step_count, shared with solve_meanfield);
* ``_check_symmetric`` judging the asymmetry against 1e-10 / scale instead of 1e-10 x scale
  (verify.gaussian.x__check_symmetric__mutmut_16): every matrix the catalog passed had entries of order 1 ->
  ``gaussian.Gaussian`` refuses an asymmetry of 1e-3 relative at the scale 1e-6 and takes one of 1e-12 at 1e6;
* ``Grid._check_density``'s message reading ``rho.dtype`` with no default (eulerian.grid.xǁGridǁ_check_density__mutmut_48,
  classified message-only): an object with a shape but no dtype then raised AttributeError -> ``Grid.mass``
  refuses such an object.
"""

from tests.verify.mutants import catalog_catches, mutated
from verify.cases import attention_grid as AG
from verify.cases import benamou_brenier_cases as B


def test_interpolation_off_centre_catches_a_centring_slip(monkeypatch):
    assert AG.check_interpolation("off-centre", 64, box=AG.OFF_CENTRE_BOX).passed
    mod = mutated(monkeypatch, "eulerian.attention", "(ac[:, k] - centre[k]) / half[k]",
                  "(ac[:, k] + centre[k]) / half[k]")
    monkeypatch.setattr(AG, "attention_velocity", mod.attention_velocity)
    assert AG.check_interpolation("centred", 64).passed          # the hole: invisible on a centred box
    assert not AG.check_interpolation("off-centre", 64, box=AG.OFF_CENTRE_BOX).passed


def test_prolongation_check_catches_a_wrong_periodic_neighbour(monkeypatch):
    assert B.check_prolongation().passed
    mod = mutated(monkeypatch, "eulerian.staggered", "0.5 * (w + xp.roll(w, -1, axis=axis))",
                  "0.5 * (w + xp.roll(w, -2, axis=axis))")
    check = B.check_prolongation(mod.prolong_staggered)
    assert not check.passed and check.value > 0.1, check


def test_prolongation_check_catches_a_wrong_wall_axis_and_a_wrong_copy(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.staggered", "0.5 * (_take(w, axis, 0, -1) + _take(w, axis, 1, None))",
                  "0.5 * (_take(w, axis, 0, -1) + _take(w, axis, 0, -1))")
    assert not B.check_prolongation(mod.prolong_staggered).passed
    mod = mutated(monkeypatch, "eulerian.staggered", "                w = xp.repeat(w, 2, axis=axis)",
                  "                w = xp.tile(w, [2 if a == axis else 1 for a in range(w.ndim)])")
    assert not B.check_prolongation(mod.prolong_staggered).passed


def test_step_estimate_cap_is_in_a_trouble(monkeypatch):
    """The porous-medium solver now counts its steps with continuity's check_step_count (its own copy of the
    estimate was the mutated line), so the mutant is planted there."""
    import eulerian.porous_medium as pm
    from verify import bad_input
    label = next(k for k in bad_input.TROUBLES if k.startswith("eulerian.solve_porous_medium: t_final = 1e300"))
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label]) is None
    mod = mutated(monkeypatch, "eulerian.continuity", "if ratio < 2.0**62 else 2**62)",
                  "if ratio < 2.0**62 else 2**63)")
    monkeypatch.setattr(pm, "check_step_count", mod.check_step_count)
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label]) is not None


def test_symmetry_relative_to_the_largest_entry(monkeypatch):
    assert catalog_catches(monkeypatch, "gaussian.Gaussian", "cov", "verify.gaussian",
                           "if asym > _SYM_RTOL * scale:", "if asym > _SYM_RTOL / scale:", "Gaussian")


def test_an_object_with_a_shape_but_no_dtype_is_refused(monkeypatch):
    from verify.bad_input import GRID
    assert catalog_catches(monkeypatch, "eulerian.Grid.mass", "rho", "eulerian.grid",
                           "got dtype {getattr(rho, 'dtype', type(rho).__name__)}", "got dtype {getattr(rho, 'dtype', )}",
                           lambda mod: mod.Grid(GRID.lower, GRID.upper, GRID.shape).mass)
