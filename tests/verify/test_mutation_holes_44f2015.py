"""Report holes found by the fresh mutation sample at 44f2015 (seed 20261218), each closed by a check that now
catches its mutant, built in memory (tests/verify/mutants.py). That the checks pass on the library itself is
asserted by the cases' runs in tests/test_option_coverage.py:

* ``BBResult.velocity`` holding the last half step at the level before the last
  (eulerian.benamou_brenier.xǁBBResultǁvelocity__mutmut_37): the check read centred times only ->
  ``check_velocity_cut`` also at t = 0, t = 1 and between two centred times (bb-gaussian-1d);
* ``jko_flow`` naming the wrong step in the status of a flow that stopped (eulerian.jko.x_jko_flow__mutmut_200):
  no case let a flow fail -> ``check_failed_flow_record`` (jko-vs-fokker-planck);
* ``solve_meanfield``'s memory estimate read against the host's memory on CuPy
  (eulerian.meanfield.x_solve_meanfield__mutmut_188) -> cupy-paths' device refusals include solve_meanfield and
  solve_continuity saving 401 densities;
* ``deposit``'s overflow message without its fix (lagrangian.deposit.x_deposit__mutmut_221): no catalog call made
  the density overflow -> the bad-input catalog's deposit refuses weights of 1e308. That found a bug: weights
  whose sum overflows raised a RuntimeWarning in every function that takes weights (as_weights summed them);
  w2, w2_squared and gaussian_kde now accept them (lagrangian.backend.probabilities scales before summing);
* FiPy continuity taking one step to t_final when the CFL rate is below 1
  (eulerian.fipy_backend.x_continuity_fipy__mutmut_179): every FiPy run moved faster -> ``check_slow_step_counts``
  (continuity-options-2d), both backends at a rate of 0.14 against ceil(t_final r / cfl);
* the flow-matching interpolant calling a point inside when one of its coordinates is
  (eulerian.flow_matching_grid.xǁFlowMatchingGridFieldǁ_interpolate__mutmut_29) -> ``check_wall_half_cells``
  also at points beyond each wall on one axis, where the density is 0 (flow-matching-grid).
"""

import numpy as np

import eulerian
from tests.verify.mutants import mutated, recorded_message_changes
from verify import bad_input
from verify.cases import benamou_brenier_cases as B
from verify.cases import cupy_paths as cpaths
from verify.cases import flow_matching_grid as F
from verify.cases import jko_cases as J
from verify.cupy_standin import cupy_or_standin


def test_velocity_cut_catches_the_last_half_step_held_one_level_early(monkeypatch):
    grid = B.Grid((0.0,), (1.0,), (32,))
    args = (grid, B.gaussian_cells_1d(grid, 0.3, 0.05), B.gaussian_cells_1d(grid, 0.7, 0.08), 32)
    assert B.check_velocity_cut("pd", eulerian.benamou_brenier(*args)).passed
    mod = mutated(monkeypatch, "eulerian.benamou_brenier", "s = min(max(t * P - 0.5, 0.0), P - 1.0)",
                  "s = min(max(t * P - 0.5, 0.0), P - 2.0)")
    check = B.check_velocity_cut("pd", mod.benamou_brenier(*args))
    assert not check.passed and check.value > 1e-3, check.value


def test_failed_flow_record_catches_the_wrong_step_named(monkeypatch):
    assert J.check_failed_flow_record().passed
    mod = mutated(monkeypatch, "eulerian.jko", 'status = f"step {k + 1} of {K} did not converge: {res.status}"',
                  'status = f"step {k + 2} of {K} did not converge: {res.status}"')
    check = J.check_failed_flow_record(mod.jko_flow)
    assert not check.passed and "step 2 of 4" in check.detail, check.detail


def test_device_refusals_catch_solve_meanfield_reading_the_hosts_memory(monkeypatch):
    with cupy_or_standin(cpaths.STANDIN_MEMORY) as (cp, on_gpu):
        if on_gpu:
            return   # a GPU's memory is too large for cheap requests beyond it
        label = next(k for k in cpaths.device_refusals(cp) if k.startswith("eulerian.solve_meanfield"))
        monkeypatch.setattr(cpaths, "device_refusals", lambda cp, f=cpaths.device_refusals: {label: f(cp)[label]})
        assert cpaths.check_device_refusals(cp).passed
        mod = mutated(monkeypatch, "eulerian.meanfield",
                      '"save fewer densities (save_at) or use fewer cells", be.name)',
                      '"save fewer densities (save_at) or use fewer cells", )')
        monkeypatch.setattr(eulerian, "solve_meanfield", mod.solve_meanfield)
        check = cpaths.check_device_refusals(cp)
    assert not check.passed and "ran" in check.detail, check.detail


def test_the_record_catches_the_deposit_overflow_message_without_its_fix(monkeypatch):
    label = "lagrangian.deposit"
    call = bad_input.CALLS[label]
    assert not recorded_message_changes(call, label, ["weights"])
    mod = mutated(monkeypatch, "lagrangian.deposit",
                  '"use larger cells (a wider box or a smaller shape) or smaller weights")', "None)")
    changed = recorded_message_changes(bad_input.dataclasses.replace(call, func=mod.deposit), label, ["weights"])
    assert changed, "the changed message was not seen"


def test_wall_half_cells_catch_a_point_outside_on_one_axis(monkeypatch):
    assert all(c.passed for c in F.check_wall_half_cells("walls"))
    mod = mutated(monkeypatch, "eulerian.flow_matching_grid", "inside = ok if inside is None else inside & ok",
                  "inside = ok if inside is None else inside | ok")
    checks = F.check_wall_half_cells("mutant", make_field=mod.flow_matching_grid_field)
    assert not any(c.passed for c in checks), [c.value for c in checks]


def test_weights_whose_sum_overflows_give_the_uniform_answer():
    """Found while closing the deposit hole: as_weights summed the weights to test "not all zero", and w2 and
    gaussian_kde normalised by the sum, so weights near 1e308 overflowed with a RuntimeWarning. Equal weights of
    any size are uniform weights."""
    import lagrangian

    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((8, 2)), rng.standard_normal((10, 2)) + 0.5
    assert lagrangian.w2(x, y, weights_x=np.full(8, 1e308)) == lagrangian.w2(x, y)
    kde = lagrangian.gaussian_kde(x, y, weights=np.full(8, 1e308))
    assert np.allclose(kde, lagrangian.gaussian_kde(x, y), rtol=1e-14, atol=0.0)
    assert np.all(np.isfinite(kde))


def test_slow_step_counts_catch_fipy_taking_one_step(monkeypatch):
    import eulerian.fipy_backend as fb
    from verify.cases import eulerian_cases as E

    assert E.check_slow_step_counts().passed
    mod = mutated(monkeypatch, "eulerian.fipy_backend", "dt = schedule.clip(t, cfl / r if r > 0 else t_final - t)",
                  "dt = schedule.clip(t, cfl / r if r > 1 else t_final - t)")
    monkeypatch.setattr(fb, "continuity_fipy", mod.continuity_fipy)
    check = E.check_slow_step_counts()
    assert not check.passed and "fipy: 1 steps" in check.detail, check.detail
