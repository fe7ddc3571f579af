"""Report checks added for the mutation survivors (report holes) of the fresh sample at 09d73f9 (seed 20261207).

* ``verify.gaussian.x__van_loan_noise__mutmut_27`` (the doubling count from logarithms, for ‖B‖₁ t beyond float64)
  -> linear-sde-laws, ``check_law_at_huge_time``;
* ``eulerian.backend.x_get_backend__mutmut_24`` (and _25 of an earlier sample: "cupy" not recognised) ->
  bad-input-eulerian, ``check_gpu_backend_names``;
* ``eulerian.diffusion.x_check_diffusion__mutmut_107`` (a matrix of the wrong shape refused without a message) ->
  the catalog now passes Diffusion.matrix / Diffusion.cells of the wrong shape and an unknown kind (which found an
  unknown kind's message not naming ``diffusion``);
* ``eulerian.jko.x_jko_flow__mutmut_241`` (seconds = end + start) -> jko-vs-fokker-planck, ``check_run_seconds``;
* ``eulerian.fipy_backend.x_continuity_fipy__mutmut_121`` (the snapshot at t = 0 taken from None) ->
  continuity-options-2d, ``check_continuity_snapshots``;
* ``lagrangian.backend.x_as_points__mutmut_46`` and ``eulerian.flow_matching_grid.x__check_time__mutmut_10`` (the
  wording of a returned field's refusals) -> the record of refusal messages now holds those of the returned
  fields too (``verify.bad_input.point_gaps``).
"""
import dataclasses
import time

import pytest

from tests.verify.mutants import mutated
from verify import bad_input
from verify.refusal_record import MESSAGES


def test_law_at_huge_time_passes_and_flags_a_missing_doubling_count(monkeypatch):
    from verify.cases import moment_laws as M

    check = M.check_law_at_huge_time()
    assert check.passed and check.value < 1e-14, check
    for new in ("        k = None\n", "        k = int(np.ceil(np.log2(t)))\n"):
        mod = mutated(monkeypatch, "verify.gaussian", "        k = int(np.ceil(np.log2(b_norm) + np.log2(t)))\n",
                      new)
        check = M.check_law_at_huge_time(mod.linear_sde)
        assert not check.passed, check


@pytest.mark.parametrize("module, old, new", [
    ("eulerian.backend", '    if key == "cupy":', '    if key == "XXcupyXX":'),
    ("eulerian.backend", "        if not cupy_available():\n            raise BackendUnavailable(",
     "        if not cupy_available():\n            raise ValueError("),
    ("lagrangian.backend", '    if name.lower() == "cupy":', '    if name == "cupy":'),
])
def test_gpu_backend_names_flag_mutants(monkeypatch, module, old, new):
    from verify.cases import bad_input as BI

    assert BI.check_gpu_backend_names().passed
    mod = mutated(monkeypatch, module, old, new)
    kw = {"get_backend": mod.get_backend} if module == "eulerian.backend" else {"get_namespace": mod.get_namespace}
    check = BI.check_gpu_backend_names(**kw)
    assert not check.passed and check.value >= 1, check


def test_a_diffusion_matrix_of_the_wrong_shape_must_be_refused_with_a_message(monkeypatch):
    label = "eulerian.solve_fokker_planck, open walls in 2-D"
    call = bad_input.CALLS[label]
    assert not bad_input.gaps(call, label=label, names=["diffusion"])[1]
    import eulerian.diffusion
    import eulerian.fokker_planck

    mod = mutated(monkeypatch, "eulerian.diffusion",
                  'raise ValueError(f"a diffusion matrix must be ({grid.dim}, {grid.dim}) for this grid, got '
                  '{arr.shape}")', "raise ValueError(None)")
    monkeypatch.setattr(mod, "Diffusion", eulerian.diffusion.Diffusion)   # the class the catalog's values are of
    monkeypatch.setattr(eulerian.fokker_planck, "check_diffusion", mod.check_diffusion)
    found = bad_input.gaps(call, label=label, names=["diffusion"])[1]
    assert found and all("does not name" in g for g in found), found


def test_run_seconds_flags_a_wrong_clock():
    from verify.cases import jko_cases as J

    assert J.check_run_seconds("run", 0.9, 1.0).passed
    end = time.perf_counter()
    assert not J.check_run_seconds("run", end + (end - 1.0), 1.0).passed   # end + start
    assert not J.check_run_seconds("run", 0.0, 1.0).passed


def test_continuity_snapshots_pass_and_flag_a_missing_initial_state(monkeypatch):
    pytest.importorskip("fipy")
    import eulerian.fipy_backend
    from verify.cases import eulerian_cases as E

    assert E.check_continuity_snapshots().passed and E.check_continuity_snapshots("numpy").passed
    mod = mutated(monkeypatch, "eulerian.fipy_backend",
                  "schedule = SaveSchedule(save_at, t_final, _to_fipy(rho0), lambda r: _from_fipy(r, grid.shape))",
                  "schedule = SaveSchedule(save_at, t_final, None, lambda r: _from_fipy(r, grid.shape))")
    monkeypatch.setattr(eulerian.fipy_backend, "continuity_fipy", mod.continuity_fipy)
    assert not E.check_continuity_snapshots().passed


@pytest.mark.parametrize("label, module, old, new, attr", [
    ("eulerian.flow_matching_grid_field", "eulerian.flow_matching_grid",
     'v.check_real("t", t, "pass a real time t in [0, 1]")', 'v.check_real("t", t, "XXpass a real time t in [0, 1]XX")',
     "flow_matching_grid_field"),
])
def test_the_record_holds_the_messages_of_returned_fields(monkeypatch, label, module, old, new, attr):
    call = bad_input.CALLS[label]
    said: dict = {}
    bad_input.gaps(call, label=label, messages=said)
    assert any(k.startswith(bad_input.FIELD_KEY) for k in said)
    assert not bad_input.message_changes(call, said, MESSAGES[label], label=label)
    mod = mutated(monkeypatch, module, old, new)
    wrong = dataclasses.replace(call, func=getattr(mod, attr))
    said = {}
    bad_input.gaps(wrong, label=label, messages=said)
    changes = bad_input.message_changes(wrong, said, MESSAGES[label], label=label)
    assert changes and all("(...)" in c for c in changes), changes


def test_the_record_holds_the_wording_of_point_refusals(monkeypatch):
    """lagrangian.backend.x_as_points__mutmut_46: the expected shape in the message swapped."""
    import importlib

    label = "lagrangian.affine_field"
    call = bad_input.CALLS[label]
    mod = mutated(monkeypatch, "lagrangian.backend", 'want = "(n, d)" if ndim == 2 else "(..., d)"',
                  'want = "(n, d)" if ndim != 2 else "(..., d)"')
    monkeypatch.setattr(importlib.import_module("lagrangian.fields"), "as_points", mod.as_points)
    said: dict = {}
    bad_input.gaps(call, label=label, messages=said)
    changes = bad_input.message_changes(call, said, MESSAGES[label], label=label)
    assert changes and all("(...): x" in c for c in changes), changes
