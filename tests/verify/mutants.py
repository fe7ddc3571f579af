"""A library module with one line changed, for the negative tests of the report checks added for mutation
survivors (the mutant is built in memory from the installed source, never written to disk)."""
from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Callable


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


def catalog_catches(monkeypatch, label: str, name: str, module: str, old: str, new: str,
                    make: Callable[[types.ModuleType], Callable] | str) -> bool:
    """The catalog entry ``label`` has no gap in argument ``name`` on the library, and one once its function is
    ``make(mutant)`` (or the mutant's attribute named ``make``), the mutant being ``module`` with ``old`` ->
    ``new``. The Gaussian laws the catalog passes stay instances of the library's class."""
    import dataclasses

    from verify import bad_input
    import verify.gaussian as vg

    call = bad_input.CALLS[label]
    assert bad_input.gaps(call, label=label, names=[name])[1] == [], f"{label}: gaps before any mutation"
    mutant = mutated(monkeypatch, module, old, new)
    func = getattr(mutant, make) if isinstance(make, str) else make(mutant)
    if hasattr(mutant, "Gaussian"):
        monkeypatch.setattr(mutant, "Gaussian", vg.Gaussian)
    return bool(bad_input.gaps(dataclasses.replace(call, func=func), label=label, names=[name])[1])
