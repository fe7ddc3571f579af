"""A library module with one line changed, for the negative tests of the report checks added for mutation
survivors (the mutant is built in memory from the installed source, never written to disk)."""
from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path


def mutated(monkeypatch, module: str, old: str, new: str) -> types.ModuleType:
    """``module`` (a submodule of eulerian or lagrangian) re-executed from its source with ``old`` replaced by ``new`` (exactly one
    occurrence), registered under a private name for the duration of the test."""
    original = importlib.import_module(module)
    src = Path(original.__file__).read_text()
    assert src.count(old) == 1, f"{module}: the mutated line moved"
    name = f"{module}_mutant"
    mod = types.ModuleType(name)
    mod.__package__ = original.__package__
    mod.__file__ = original.__file__
    monkeypatch.setitem(sys.modules, name, mod)
    exec(compile(src.replace(old, new), original.__file__, "exec"), mod.__dict__)
    return mod


def recorded_message_changes(call, label: str, names: list[str]) -> list[str]:
    """The bad values of ``names`` that ``call`` now refuses with another message than verify/refusal_record.py
    holds for the catalog entry ``label`` (empty when every recorded refusal is worded as recorded)."""
    from verify import bad_input
    from verify.refusal_record import MESSAGES

    said: dict = {}
    bad_input.gaps(call, label=label, names=names, messages=said)
    return bad_input.message_changes(call, said, {n: MESSAGES[label][n] for n in names}, label=label)


def trouble_catches(monkeypatch, prefix: str, module: str, old: str, new: str, owner, attr: str) -> bool:
    """The bad-input trouble whose label starts with ``prefix`` ends as it must on the library, and is flagged once
    ``owner.attr`` is replaced by that of ``module`` mutated (``old`` -> ``new``)."""
    from verify import bad_input

    label = next(k for k in bad_input.TROUBLES if k.startswith(prefix))
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label]) is None
    monkeypatch.setattr(owner, attr, getattr(mutated(monkeypatch, module, old, new), attr))
    return bad_input.trouble_gap(label, bad_input.TROUBLES[label]) is not None
