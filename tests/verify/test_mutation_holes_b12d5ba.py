"""Report checks added for the mutation survivors (report holes) of the fresh sample at b12d5ba (seed 20261209).

* ``lagrangian.backend.x_as_real_array__mutmut_24`` (an object array of complex numbers refused as "object", not
  as complex) -> the catalog's arrays now include an object array of complex numbers, whose refusal is recorded;
* ``verify.gaussian.x__jko_data__mutmut_3`` (a non-symmetric H refused without its name) -> the catalog's square
  matrices now include a non-symmetric one (refused where symmetry is required, taken where it is not);
* ``lagrangian.gradient_flows.x__gradient__mutmut_54`` / ``_55`` (the pairwise memory refusal reworded) and
  ``eulerian.benamou_brenier.x_benamou_brenier__mutmut_249`` (its memory advice for float32) -> recorded
  Troubles of bad-input-lagrangian and bad-input-eulerian.
"""
import dataclasses
import importlib

import pytest

from tests.verify.mutants import mutated, recorded_message_changes
from verify import bad_input




def test_the_record_holds_the_refusal_of_complex_entries_of_an_object_array(monkeypatch):
    label = "lagrangian.affine_field"
    call = bad_input.CALLS[label]
    assert not recorded_message_changes(call, label, ["matrix"])
    mod = mutated(monkeypatch, "lagrangian.backend", "kinds = {np.asarray(v).dtype.kind for v in arr.ravel()",
                  "kinds = {np.asarray(None).dtype.kind for v in arr.ravel()")
    monkeypatch.setattr(importlib.import_module("lagrangian.fields"), "as_real_array", mod.as_real_array)
    assert recorded_message_changes(call, label, ["matrix"])


def test_a_non_symmetric_matrix_is_tried_and_its_refusal_recorded(monkeypatch):
    import verify.gaussian as vg

    label = "gaussian.jko_gaussian_step"
    call = bad_input.CALLS[label]
    assert not recorded_message_changes(call, label, ["H"])
    mod = mutated(monkeypatch, "verify.gaussian", 'h = _check_symmetric(_as_matrix(H, "H", d), "H")',
                  'h = _check_symmetric(_as_matrix(H, "H", d), None)')
    monkeypatch.setattr(mod, "Gaussian", vg.Gaussian)
    found = bad_input.gaps(dataclasses.replace(call, func=mod.jko_gaussian_step), label=label, names=["H"])[1]
    assert found and all("does not name 'H'" in f for f in found), found


PAIRWISE = "lagrangian.implicit_euler_step: 2^24 particles with an interaction (pairwise blocks beyond memory)"
BB_FLOAT32 = "eulerian.benamou_brenier: 2^20 cells x 2^20 time steps, dtype 'float32' (beyond memory)"


@pytest.mark.parametrize("label, module, old, new, package, attr", [
    # lagrangian.gradient_flows.x__gradient__mutmut_54 / _55: the refusal's description or fix reworded
    (PAIRWISE, "lagrangian.gradient_flows", '"pairwise differences", "use fewer particles"',
     '"PAIRWISE DIFFERENCES", "use fewer particles"', "lagrangian", "implicit_euler_step"),
    (PAIRWISE, "lagrangian.gradient_flows", '"pairwise differences", "use fewer particles"',
     '"pairwise differences", "XXuse fewer XX"', "lagrangian", "implicit_euler_step"),
    # eulerian.benamou_brenier.x_benamou_brenier__mutmut_249: dtype='float32' suggested when float32 was asked
    (BB_FLOAT32, "eulerian.benamou_brenier", 'if dtype != "float32" else ""', 'if dtype != "XXfloat32XX" else ""',
     "eulerian", "benamou_brenier"),
])
def test_the_record_holds_the_memory_refusals_of_the_troubles(monkeypatch, label, module, old, new, package, attr):
    from verify.refusal_record import TROUBLE_MESSAGES

    said: list = []
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label], messages=said) is None
    assert said == [TROUBLE_MESSAGES[label]]
    mod = mutated(monkeypatch, module, old, new)
    monkeypatch.setattr(importlib.import_module(package), attr, getattr(mod, attr))
    said = []
    bad_input.trouble_gap(label, bad_input.TROUBLES[label], messages=said)
    assert said != [TROUBLE_MESSAGES[label]]
