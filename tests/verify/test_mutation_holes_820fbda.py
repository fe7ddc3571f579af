"""Report checks added for the mutation survivors (report holes) of the fresh sample at 820fbda.

* ``lagrangian.backend.x_get_namespace__mutmut_6`` (get_namespace("numpy") refused): the bad-input catalog now runs
  every valid call itself, which must run cleanly (``verify.bad_input.gaps``);
* ``eulerian.meanfield.x_solve_meanfield__mutmut_378`` (the mass record filled with None) -> flow-matching-grid,
  ``check_meanfield_forced_steps`` (the recorded mass at every step time).
"""
import dataclasses

import eulerian.meanfield
from tests.verify.mutants import mutated
from verify import bad_input
from verify.cases import flow_matching_grid as F


def test_the_valid_call_must_run(monkeypatch):
    call = bad_input.CALLS["lagrangian.get_namespace"]
    assert not [g for g in bad_input.gaps(call, label="get_namespace")[1] if "valid call" in g]
    mod = mutated(monkeypatch, "lagrangian.backend", 'if name.lower() == "numpy":', 'if name.upper() == "numpy":')
    tried, found = bad_input.gaps(dataclasses.replace(call, func=mod.get_namespace), label="get_namespace")
    assert any("(the valid call)" in g for g in found), found


def test_meanfield_mass_record_flags_missing_masses(monkeypatch):
    mod = mutated(monkeypatch, "eulerian.meanfield", "        masses.append(m)\n", "        masses.append(None)\n")
    monkeypatch.setattr(eulerian.meanfield, "solve_meanfield", mod.solve_meanfield)
    checks = F.check_meanfield_forced_steps()
    assert not checks[2].passed, checks[2]
