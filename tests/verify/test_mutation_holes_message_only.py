"""Survivors classified message-only (a refusal whose wording changes) where no input of the catalog reached the
raise, now reached by a trouble of the bad-input catalog whose message the record holds (mutants built in
memory, tests/verify/mutants.py):

* ``solve_meanfield``'s step-cap refusal naming another solver
  (eulerian.meanfield.x_solve_meanfield__mutmut_270, sample at bd04d6d): no trouble capped its steps -> the
  trouble "solve_meanfield: velocity growing 20x over the run, max_steps = 60";
* the BackendUnavailable messages of ``get_backend('cupy')``, ``get_namespace('cupy')`` and the FiPy backend
  (eulerian.backend.x_get_backend__mutmut_31 and _34, eulerian.fipy_backend.x__fipy__mutmut_11 and _14): reached
  only where CuPy or FiPy is missing -> three troubles that hide the module for the call.
"""

import pytest

import eulerian
import eulerian.fipy_backend
import lagrangian
from tests.verify.mutants import mutated
from verify import bad_input
from verify.refusal_record import TROUBLE_MESSAGES


def _digest(label: str) -> str:
    said: list = []
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label], messages=said) is None
    return said[0]


def test_trouble_record_catches_the_meanfield_step_cap_naming_another_solver(monkeypatch):
    label = next(k for k in bad_input.TROUBLES if k.startswith("eulerian.solve_meanfield: velocity growing"))
    assert _digest(label) == TROUBLE_MESSAGES[label]
    mod = mutated(monkeypatch, "eulerian.meanfield", 'raise_step_cap(n, t, t_final, max_steps, "solve_meanfield")',
                  'raise_step_cap(n, t, t_final, max_steps, "XXsolve_meanfieldXX")')
    monkeypatch.setattr(eulerian, "solve_meanfield", mod.solve_meanfield)
    changed = bad_input.trouble_message_changes({label: _digest(label)}, TROUBLE_MESSAGES)
    assert changed == [f"{label}: the error message changed"], changed


@pytest.mark.parametrize("prefix, module, old, new, owner, attr", [
    ("eulerian.get_backend('cupy')", "eulerian.backend", '"or use backend=\'numpy\'"', '"XXor use backend=\'numpy\'XX"',
     eulerian, "get_backend"),
    ("lagrangian.get_namespace('cupy')", "lagrangian.backend", "on a GPU machine or use 'numpy'\")",
     "on a GPU machine or use 'NUMPY'\")", lagrangian, "get_namespace"),
    ("eulerian.solve_fokker_planck(backend='fipy')", "eulerian.fipy_backend",
     '"backend=\'fipy\' needs FiPy (`pip install fipy`)"', "None", eulerian.fipy_backend, "_fipy"),
], ids=["get_backend", "get_namespace", "fipy"])
def test_trouble_record_catches_a_changed_missing_backend_message(monkeypatch, prefix, module, old, new, owner,
                                                                  attr):
    """The refusals a user without CuPy or FiPy sees (eulerian.backend.x_get_backend__mutmut_31/34,
    eulerian.fipy_backend.x__fipy__mutmut_11/14, samples at bd04d6d and bdaf3ce): the machine here may have
    both; the troubles hide the module for the call."""
    label = next(k for k in bad_input.TROUBLES if k.startswith(prefix))
    assert _digest(label) == TROUBLE_MESSAGES[label]
    monkeypatch.setattr(owner, attr, getattr(mutated(monkeypatch, module, old, new), attr))
    said: list = []
    bad_input.trouble_gap(label, bad_input.TROUBLES[label], messages=said)
    changed = bad_input.trouble_message_changes({label: said[0]}, TROUBLE_MESSAGES)
    assert changed == [f"{label}: the error message changed"], changed
