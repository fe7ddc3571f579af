"""Bad input: every public function refuses every bad value of every argument with a clear error.

The catalog of :mod:`verify.bad_input` (a valid call of each public function of eulerian, lagrangian and
verify.gaussian, and the bad values tried for each argument) run exhaustively, one check per call: the number
of bad calls that were not refused with a one-line ValueError/TypeError/project error naming the argument, or that
returned a NaN, a complex value or a mistyped result field, hung, or let a warning or another exception escape,
plus the call's own must-refuse values that were not refused up front (the first number beyond a documented range,
an option its other arguments exclude) and its valid edge values that were refused. Its reference is 0. One more
check per case compares which bad values were refused with the record of :mod:`verify.refusal_record`, and one
more the wording of each refusal (a digest of its message) with the same record. And
numerical trouble from valid input (a blow-up, a step count or a matrix beyond its cap, an overflowing closed
form) must raise the project error that says so (:data:`verify.bad_input.TROUBLES`), never return garbage.
"""
from __future__ import annotations

import sys

from typing import Callable

from verify.bad_input import (CALLS, NO_MESSAGE, TROUBLES, Trouble, ValidCall, gaps, message_changes, outcome_changes,
                               trouble_gap, trouble_message_changes)
from verify.refusal_record import MESSAGES, RECORD, TROUBLE_MESSAGES
from verify.harness import CaseContext, Check, case, make_check

SHOWN = 3   # gaps quoted in a failing check's detail


def check_refusals(label: str, call: ValidCall, outcomes: dict | None = None, messages: dict | None = None) -> Check:
    """Check that ``call`` refuses every bad value of every argument and accepts its valid edge values
    (:func:`verify.bad_input.gaps`): the value is the number of gaps, which must be 0. ``outcomes``: filled with
    which bad values were refused (for :func:`check_record`); ``messages``: with the digests of their messages
    (for :func:`check_messages`)."""
    tried, found = gaps(call, label=label, outcomes=outcomes, messages=messages)
    detail = f"{tried} calls tried"
    if found:
        detail += f"; {len(found)} gaps, e.g. " + " | ".join(found[:SHOWN])
    return make_check(f"{label}: bad values not refused with a named error, or edge values refused "
                      f"(of {len(call.names())} arguments)", len(found), upper=0, reference=0, detail=detail)


def check_trouble(label: str, trouble: Trouble, messages: list | None = None) -> Check:
    """Check that ``trouble`` (valid input, numerical trouble) raises the project error it must, or returns a real
    result without NaN (:func:`verify.bad_input.trouble_gap`): 1 when not, else 0. ``messages``: gets the digest
    of the error's message (for :func:`check_messages`)."""
    gap = trouble_gap(label, trouble, messages=messages)
    must = f"raises {trouble.raises[0].__name__}" if trouble.raises else "returns a finite result"
    return make_check(f"numerical trouble, {label}: {must} (0) or not (1)", float(gap is not None), upper=0,
                      reference=0, detail=gap or "as it must")


def check_record(name: str, changes: list[str], outcomes: int) -> Check:
    """Check that no bad value changed from refused to taken or back since the record
    (:data:`verify.refusal_record.RECORD`, :func:`verify.bad_input.outcome_changes`): the value is the number of
    changes, which must be 0. The properties above cannot see a range check that was loosened to take a value it
    documents as bad (0 for a positive argument, a number beyond a range's end): the record can."""
    detail = f"{outcomes} outcomes compared"
    if changes:
        detail += f"; {len(changes)} changed, e.g. " + " | ".join(changes[:SHOWN]) + \
            " (a change made on purpose: python -m verify.bad_input --record)"
    return make_check(f"{name}: bad values refused or taken differently from the record", len(changes), upper=0,
                      reference=0, detail=detail)


def check_messages(name: str, changes: list[str], compared: int) -> Check:
    """Check that every bad value refused now and at the record is refused with the same message, and every
    numerical trouble raises the same message (:data:`verify.refusal_record.MESSAGES` and ``TROUBLE_MESSAGES``,
    :func:`verify.bad_input.message_changes`, ``trouble_message_changes``): the value is the number of
    changed messages, which must be 0. The properties above only ask that a message name its argument; a message
    that states a wrong limit, a wrong fix or a wrong value, or an error raised by another check than before, is
    seen here."""
    detail = f"{compared} refusals and troubles compared"
    if changes:
        detail += f"; {len(changes)} changed, e.g. " + " | ".join(changes[:SHOWN]) + \
            " (a change made on purpose: python -m verify.bad_input --record)"
    return make_check(f"{name}: refusals worded differently from the record", len(changes), upper=0, reference=0,
                      detail=detail)


def _run(ctx: CaseContext, prefix: str) -> None:
    changes, reworded, compared, refused = [], [], 0, 0
    for label, call in CALLS.items():
        if label.startswith(prefix):
            outcomes: dict = {}
            messages: dict = {}
            ctx.add(check_refusals(label, call, outcomes, messages))
            changes += outcome_changes(call, outcomes, RECORD.get(label, {}), label=label)
            reworded += message_changes(call, messages, MESSAGES.get(label, {}), label=label)
            compared += sum(len(p) for p in outcomes.values())
            refused += sum(p.count("x") for p in outcomes.values())
    ctx.add(check_record(prefix.rstrip("."), changes, compared))
    said: dict = {}
    for label, trouble in TROUBLES.items():
        if label.startswith(prefix):
            digest: list = []
            ctx.add(check_trouble(label, trouble, digest))
            said[label] = digest[0] if digest else NO_MESSAGE
    reworded += trouble_message_changes(said, TROUBLE_MESSAGES)
    ctx.add(check_messages(prefix.rstrip("."), reworded, refused + len(said)))


def _physical_memory() -> int:
    """The machine's memory in bytes, read here from os.sysconf (the library's fallback where that is unavailable)."""
    import os

    from eulerian import _validate

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return _validate.physical_memory_bytes()


def _refusal_sizes(name: str, refuse: Callable[[], object], error: type, expected: list[str]) -> Check:
    """``refuse()`` must raise ``error`` with every text of ``expected`` (sizes the message digests leave out,
    since they depend on the machine) in its message: the value is the number of texts missing, which must be 0."""
    try:
        refuse()
        message = "(not refused)"
    except error as exc:
        message = str(exc)
    missing = [e for e in expected if e not in message]
    return make_check(name, len(missing), upper=0, reference=0,
                      detail=f"missing {missing}: {message[:300]}" if missing else message[:300])


def check_memory_refusal(shape: tuple[int, ...] = (2**40, 2**40)) -> Check:
    """The sizes a memory refusal states, which the message digests leave out (they depend on the machine): a Grid
    of ``shape`` must be refused with "needs about N GiB, beyond the limit of L GiB (f of the T GiB of physical
    memory" where N = cells · 8 bytes · GRID_ARRAYS, T is the machine's memory (:func:`_physical_memory`) and
    L = f T. The value is the number of sizes missing from the message, which must be 0."""
    import math

    import eulerian
    from eulerian import _validate

    total, f = _physical_memory(), _validate.MEMORY_FRACTION
    need = math.prod(shape) * 8 * _validate.GRID_ARRAYS / 2**30
    expected = [f"needs about {need:.3g} GiB", f"beyond the limit of {f * total / 2**30:.3g} GiB",
                f"({f:g} of the {total / 2**30:.3g} GiB of physical memory"]
    return _refusal_sizes(f"Grid {shape}: the memory refusal states the size, the limit and the machine's memory",
                          lambda: eulerian.Grid((0.0,) * len(shape), (1.0,) * len(shape), shape),
                          eulerian.MemoryLimitError, expected)


def check_particle_memory_refusal(shape: tuple[int, ...] = (2**20, 2**20)) -> Check:
    """The sizes a memory refusal of the particle side states: lagrangian.deposit onto a grid of ``shape`` must be
    refused with "needs N GiB, above the limit of L GiB (MAX_MEMORY_FRACTION=f of T GiB physical memory)" where
    N = cells · 16 bytes (the density and its weights), T is the machine's memory (:func:`_physical_memory`) and
    L = f T. The value is the number of sizes missing from the message, which must be 0."""
    import math

    import numpy as np

    import lagrangian
    from lagrangian import backend

    total, f = _physical_memory(), backend.MAX_MEMORY_FRACTION
    need = math.prod(shape) * 16 / 2**30
    expected = [f"needs {need:.3g} GiB", f"above the limit of {f * total / 2**30:.3g} GiB",
                f"(MAX_MEMORY_FRACTION={f:g} of {total / 2**30:.3g} GiB physical memory)"]
    return _refusal_sizes(f"deposit onto {shape} cells: the memory refusal states the size, the limit and the "
                          "machine's memory",
                          lambda: lagrangian.deposit(np.zeros((4, len(shape))), (-1.0,) * len(shape),
                                                     (1.0,) * len(shape), shape),
                          lagrangian.MemoryBudgetError, expected)


BACKEND_UNAVAILABLE_WORDS = ("backend='cupy'", "pip install twinflow[gpu]")   # the argument and the fix


def check_gpu_backend_names(get_backend: Callable | None = None, get_namespace: Callable | None = None) -> Check:
    """backend="cupy" (any case) on both sides: where CuPy has no usable GPU (probed here: CuPy importable and
    cupy.cuda.is_available()), eulerian.get_backend and lagrangian.get_namespace must raise BackendUnavailable,
    the error that says what to install (not the ValueError of an unknown name: its message must hold each of
    BACKEND_UNAVAILABLE_WORDS); where it has one, they must
    return the CuPy backend. The value is the number of wrong outcomes, which must be 0. ``get_backend`` /
    ``get_namespace``: others, for the negative tests."""
    import eulerian
    import lagrangian

    try:
        import cupy
        usable = bool(cupy.cuda.is_available())
    except Exception:   # not installed, no driver
        usable = False
    sides = {"eulerian.get_backend": (get_backend or eulerian.get_backend, eulerian.BackendUnavailable,
                                      lambda b: getattr(b, "name", None) == "cupy"),
             "lagrangian.get_namespace": (get_namespace or lagrangian.get_namespace, lagrangian.BackendUnavailable,
                                          lambda m: getattr(m, "__name__", None) == "cupy")}
    wrong = []
    for label, (func, unavailable, is_cupy) in sides.items():
        for name in ("cupy", "CuPy"):
            try:
                result = func(name)
                ok, outcome = usable and is_cupy(result), f"returned {result!r}"[:80]
            except unavailable as exc:   # its message names the argument and what to install
                said = str(exc)
                ok = not usable and all(w in said for w in BACKEND_UNAVAILABLE_WORDS)
                outcome = "BackendUnavailable" + ("" if ok else f": {said!r} lacks one of {BACKEND_UNAVAILABLE_WORDS}")
            except Exception as exc:   # noqa: BLE001 (any other outcome is the failure this check counts)
                ok, outcome = False, f"{type(exc).__name__}: {exc}"
            if not ok:
                wrong.append(f"{label}({name!r}): {outcome}")
    from verify.cupy_standin import is_standin

    where = ("the CPU stand-in of CuPy here: " if usable and is_standin(sys.modules.get("cupy"))
             else f"CuPy {'with' if usable else 'without'} a usable GPU here: ")
    return make_check("backend 'cupy': the CuPy backend with a usable GPU, else BackendUnavailable (wrong outcomes)",
                      len(wrong), upper=0, reference=0,
                      detail=where + ("; ".join(wrong)[:300] or "4 calls as they must"))


def check_own_copies() -> Check:
    """verify.gaussian's Gaussian and Affine keep their own read-only copies of the caller's float64 arrays: the
    caller's arrays stay writable, and writing into them afterwards changes neither object. The value is the
    number of arrays shared or frozen, which must be 0."""
    import numpy as np

    from verify import gaussian as G

    mean, cov = np.array([0.3, -0.2]), np.array([[0.6, 0.1], [0.1, 0.4]])
    matrix, offset = np.array([[-1.0, 0.5], [0.2, -0.7]]), np.array([0.1, 0.2])
    objects = {"Gaussian": (G.Gaussian(mean, cov), ("mean", "cov"), (mean, cov)),
               "Affine": (G.Affine(matrix, offset), ("matrix", "offset"), (matrix, offset))}
    wrong = []
    for label, (obj, names, given) in objects.items():
        for name, a in zip(names, given):
            kept = getattr(obj, name)
            before = np.array(kept)
            if not a.flags.writeable:
                wrong.append(f"{label}: the caller's {name} made read-only")
                continue
            a += 1.0
            if np.shares_memory(kept, a) or not np.array_equal(getattr(obj, name), before):
                wrong.append(f"{label}: {name} shared with the caller")
    return make_check("Gaussian and Affine keep their own copies of the caller's arrays (arrays shared or frozen)",
                      len(wrong), upper=0, reference=0, detail="; ".join(wrong) or "4 arrays, each copied")


def check_grid_bounds(make_grid: Callable | None = None) -> Check:
    """Grid takes its bounds as numbers, sequences or arrays of any real type, and stores them as tuples of Python
    floats (what every method computes with): the number of forms among scalars, ints, NumPy arrays and NumPy
    scalars whose Grid does not hold lower == (-3.0,), upper == (3.0,) as floats, which must be 0."""
    import numpy as np

    import eulerian

    make = make_grid or eulerian.Grid
    forms = [(-3, 3, 8), (-3.0, 3.0, (8,)), (np.array([-3.0]), np.array([3]), 8), (np.float32(-3), np.int64(3), 8),
             ([-3], (3.0,), [8])]
    wrong = []
    for lower, upper, shape in forms:
        g = make(lower, upper, shape)
        ok = (isinstance(g.lower, tuple) and isinstance(g.upper, tuple) and g.lower == (-3.0,)
              and g.upper == (3.0,) and all(type(b) is float for b in (*g.lower, *g.upper)))
        if not ok:
            wrong.append(f"Grid({lower!r}, {upper!r}, {shape!r}) holds lower={g.lower!r}, upper={g.upper!r}")
    return make_check("Grid bounds of every real form stored as tuples of floats (wrong forms)", len(wrong), upper=0,
                      reference=0, detail="; ".join(wrong) or f"{len(forms)} forms")


@case("bad-input-eulerian", title="Bad input to the grid solvers is refused with a clear error",
      tags=("bad-input", "eulerian"))
def bad_input_eulerian(ctx: CaseContext) -> None:
    _run(ctx, "eulerian.")
    ctx.add(check_memory_refusal())
    ctx.add(check_grid_bounds())
    ctx.add(check_gpu_backend_names())


@case("bad-input-lagrangian", title="Bad input to the particle methods is refused with a clear error",
      tags=("bad-input", "lagrangian"))
def bad_input_lagrangian(ctx: CaseContext) -> None:
    _run(ctx, "lagrangian.")
    ctx.add(check_particle_memory_refusal())


@case("bad-input-gaussian", title="Bad input to the Gaussian closed forms is refused with a clear error",
      tags=("bad-input", "gaussian"))
def bad_input_gaussian(ctx: CaseContext) -> None:
    _run(ctx, "gaussian.")
    ctx.add(check_own_copies())
