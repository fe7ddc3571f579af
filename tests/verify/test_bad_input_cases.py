"""The report's bad-input checks (verify/cases/bad_input.py) fail on functions that take bad input badly."""
from __future__ import annotations

import ast
import math
import time
import tracemalloc

import numpy as np
import pytest

from eulerian.errors import NumericalError
from verify import bad_input
from verify.bad_input import ValidCall, gaps, refusal_gap
from verify.cases.bad_input import check_messages, check_record, check_refusals, check_trouble


def careful(x, scale=1.0):
    """Validates both arguments with messages that name them."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 1e100:
        raise ValueError(f"scale must be a number in (0, 1e100], got {scale!r}")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # noqa: BLE001
        raise TypeError(f"x must be an array of shape (n, 2), got {type(x).__name__}") from exc
    if arr.dtype.kind not in "iuf" or arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(f"x must be a real array of shape (n, 2), got dtype {arr.dtype} shape {arr.shape}")
    arr = arr.astype(float)
    if not np.isfinite(arr).all() or np.abs(arr).max() > 1e100:
        raise ValueError("x must hold finite values below 1e100; rescale x")
    return scale * arr.sum(axis=0)


def nan_through(x, scale=1.0):
    """Validates scale only: NaN in x comes back as NaN."""
    careful(np.zeros((1, 2)), scale)
    return scale * np.asarray(x, dtype=float).sum(axis=0)


def unnamed(x, scale=1.0):
    """Refuses a bad scale with a message that does not say which argument."""
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
        raise ValueError("the value must be positive")
    return careful(x, 1.0) * scale


def index_error(x, scale=1.0):
    """A wrong shape of x escapes as an IndexError."""
    arr = np.asarray(x, dtype=float)
    _ = arr[0, 1]
    return careful(x, scale)


X = np.arange(6.0).reshape(3, 2)


def valid(func) -> ValidCall:
    return ValidCall(func, [("x", X)], {"scale": 2.0})


def test_a_careful_function_has_no_gaps():
    tried, found = gaps(valid(careful), label="careful")
    assert tried > 60 and found == []
    check = check_refusals("careful", valid(careful))
    assert check.passed and check.value == 0


@pytest.mark.parametrize("func,argument,words", [(nan_through, "x", "NaN"), (unnamed, "scale", "does not name"),
                                                 (index_error, "x", "IndexError")])
def test_a_sloppy_function_fails_the_check(func, argument, words):
    tried, found = gaps(valid(func), label=func.__name__)
    assert found and all(f"({argument}=" in g for g in found) and any(words in g for g in found)
    check = check_refusals(func.__name__, valid(func))
    assert not check.passed and check.value == len(found) and words in check.detail


def test_a_warning_is_a_gap():
    def cast(x, scale=1.0):
        return careful(np.asarray(x).real if np.iscomplexobj(x) else x, scale)
    gap = refusal_gap(valid(cast), "x", X * (1 + 1j), label="cast")
    assert gap is None   # .real is explicit: no warning, and the result has no NaN

    def silent_cast(x, scale=1.0):
        return careful(np.asarray(x).astype(float), scale)  # ComplexWarning for complex x
    gap = refusal_gap(valid(silent_cast), "x", X * (1 + 1j), label="silent_cast")
    assert gap is not None and "ComplexWarning" in gap


def test_a_hang_is_a_gap(monkeypatch):
    monkeypatch.setattr(bad_input, "CALL_LIMIT_S", 0.2)

    def slow(x, scale=1.0):
        if isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 1e300:
            time.sleep(5.0)
        return careful(x, scale)

    start = time.perf_counter()
    gap = refusal_gap(valid(slow), "scale", 1e308, label="slow")
    assert gap is not None and "more than 0.2 s" in gap and time.perf_counter() - start < 2.0


# ------------------------------------------------------------------ returned fields and complex results
def _field_call(field_factory) -> ValidCall:
    return ValidCall(field_factory, [("scale", 2.0)], {}, probe=bad_input.FieldProbe(X))


def careful_field(scale=1.0):
    careful(X, scale)

    def field(t, x):
        try:
            x = np.asarray(x) if not hasattr(x, "dtype") else x
        except ValueError as exc:   # a ragged list
            raise TypeError(f"x must be real points (n, 2): {exc}") from None
        if x.dtype.kind not in "fiu" or x.ndim != 2 or x.shape[-1] != 2:
            raise TypeError(f"x must be real points (n, 2), got {x.dtype} {getattr(x, 'shape', ())}")
        return -scale * x
    return field


def complex_field(scale=1.0):
    careful(X, scale)
    return lambda t, x: -scale * np.asarray(x) if np.iscomplexobj(x) else careful_field(scale)(t, x)


def unnamed_field(scale=1.0):
    careful(X, scale)

    def field(t, x):
        if np.asarray(x).dtype.kind not in "fiu":
            raise TypeError("bad input")
        return careful_field(scale)(t, x)
    return field


def test_a_careful_field_has_no_point_gaps():
    tried, found = bad_input.point_gaps(_field_call(careful_field), label="careful_field")
    assert tried == len(bad_input.bad_points(X)) + len(bad_input.bad_leading(0.5)) and found == []
    assert check_refusals("careful_field", _field_call(careful_field)).passed


@pytest.mark.parametrize("factory,words", [(complex_field, "returned complex values"),
                                           (unnamed_field, "does not name the points")])
def test_a_sloppy_field_fails_the_check(factory, words):
    tried, found = bad_input.point_gaps(_field_call(factory), label=factory.__name__)
    assert found and any(words in g for g in found)
    check = check_refusals(factory.__name__, _field_call(factory))
    assert not check.passed and words in check.detail


def careless_time_field(scale=1.0):
    careful(X, scale)

    def field(t, x):
        return careful_field(scale)(t, x) * (1.0 + float(np.real(t)))   # NaN time -> NaN velocity; 1j cast
    return field


def test_a_field_careless_with_its_time_fails_the_check():
    tried, found = bad_input.point_gaps(_field_call(careless_time_field), label="careless_time_field")
    assert any("(t=nan) returned NaN" in g for g in found), found
    assert any("(t='abc')" in g and "does not name 't'" in g for g in found), found
    assert not check_refusals("careless_time_field", _field_call(careless_time_field)).passed


def test_complex_results_are_gaps():
    def passes_complex(x, scale=1.0):
        return scale * np.asarray(x).sum(axis=0) if np.iscomplexobj(x) else careful(x, scale)
    gap = refusal_gap(valid(passes_complex), "x", X * (1 + 1j), label="passes_complex")
    assert gap is not None and "complex values" in gap


# ------------------------------------------------------------------ numerical trouble
def _blow_up():
    raise bad_input.eulerian.NumericalError("the state became NaN or infinite at t = 0.5")


@pytest.mark.parametrize("label", sorted(bad_input.TROUBLES))
def test_every_trouble_ends_as_it_must(label):
    assert bad_input.trouble_gap(label, bad_input.TROUBLES[label]) is None


MEMORY_REFUSALS = sorted(label for label, t in bad_input.TROUBLES.items()
                         if {bad_input.eulerian.MemoryLimitError, bad_input.lagrangian.MemoryBudgetError} & set(t.raises))


@pytest.mark.parametrize("label", MEMORY_REFUSALS)
def test_memory_refusals_come_before_allocating(label):
    """A size beyond memory is refused before the work arrays are allocated: the call, inputs included, takes
    at most 96 MiB (the largest inputs, 2^20 points a side, take 64). Allocating first cost the 2^24-particle
    refusals 0.3-0.4 GiB of fresh pages and, on a loaded VM, more than the 3 s a call is given."""
    peak = _traced_peak(label, bad_input.TROUBLES[label])
    assert peak <= 96 * 2 ** 20, f"{label}: {peak / 2 ** 20:.0f} MiB allocated before the refusal"


def _traced_peak(label: str, trouble) -> int:
    """Bytes at the traced peak of judging ``trouble`` (which must end as it must)."""
    tracemalloc.start()
    try:
        assert bad_input.trouble_gap(label, trouble) is None
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_refusals_are_found_and_a_refusal_after_allocating_is_measured():
    assert len(MEMORY_REFUSALS) >= 10

    def allocate_then_refuse():
        work = np.empty(2 ** 24)   # 128 MiB of work arrays (untouched: no time spent), then the refusal
        raise bad_input.lagrangian.MemoryBudgetError(f"blob kernel block needs {work.nbytes}; use fewer particles")

    late = bad_input.Trouble(allocate_then_refuse, (bad_input.lagrangian.MemoryBudgetError,), ("blob kernel block",))
    assert _traced_peak("late", late) > 96 * 2 ** 20


@pytest.mark.parametrize("trouble,words", [
    (bad_input.Trouble(lambda: np.array([np.nan]), (bad_input.eulerian.NumericalError,)), "returned"),
    (bad_input.Trouble(lambda: np.array([np.nan])), "returned NaN"),
    (bad_input.Trouble(lambda: 1.0 + 0j), "complex"),
    (bad_input.Trouble(lambda: [][1], (bad_input.eulerian.NumericalError,)), "IndexError"),
    (bad_input.Trouble(_blow_up, (bad_input.eulerian.NumericalError,), ("max_steps",)), "lacks ['max_steps']"),
    (bad_input.Trouble(lambda: np.array([1.0, 2.0 + 1e-9]), same_as=lambda: np.array([1.0, 2.0])),
     "differs from the same problem at an ordinary scale by 5e-10"),
])
def test_a_trouble_that_ends_badly_fails_the_check(trouble, words):
    gap = bad_input.trouble_gap("planted", trouble)
    assert gap is not None and words in gap
    check = check_trouble("planted", trouble)
    assert not check.passed and words in check.detail
    assert check_trouble("fine", bad_input.Trouble(_blow_up, (bad_input.eulerian.NumericalError,), ("NaN",))).passed


# ------------------------------------------------------------------ a call's own edge values and must-refuse values
def edge_call(func) -> ValidCall:
    """scale's documented range is (0, 1e100]: 1e100 must be taken, the next float beyond it refused up front."""
    return ValidCall(func, [("x", X)], {"scale": 2.0}, accepts={"scale": [1e100]},
                     refuses={"scale": [np.nextafter(1e100, np.inf)]})


def test_a_careful_function_takes_its_edges_and_refuses_beyond():
    tried, found = gaps(edge_call(careful), label="careful")
    assert found == [] and tried == len(bad_input.bad_values(edge_call(careful), "x")) + len(
        bad_input.bad_values(edge_call(careful), "scale")) + 2 + 1 + 1   # + the edge values, the call with defaults
    # and the valid call itself


def _scale(scale, upper):
    """careful's validation of scale, with the upper end of its range at ``upper``."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= upper:
        raise ValueError(f"scale must be a number in (0, {upper:g}], got {scale!r}")
    return float(scale)


def off_by_a_bit(x, scale=1.0):
    """The range check a little wider than documented: the first float beyond 1e100 comes back as a result."""
    return _scale(scale, 1.0000001e100) * careful(x, 1.0)


def too_strict(x, scale=1.0):
    """The range end itself refused."""
    return _scale(scale, 0.99e100) * careful(x, 1.0)


def refused_late(x, scale=1.0):
    """A value beyond the range runs, then fails with a numerical error instead of an up-front refusal."""
    scale = _scale(scale, math.inf)
    if scale > 1e100:
        raise NumericalError(f"the scaled sum overflowed (scale {scale:g})")
    return careful(x, scale)


@pytest.mark.parametrize("func,words", [(off_by_a_bit, "instead of refusing scale"),
                                        (too_strict, "raised ValueError: scale must be a number in (0, 9.9e+99]"),
                                        (refused_late, "raised NumericalError")])
def test_edge_and_must_refuse_values_are_judged(func, words):
    tried, found = gaps(edge_call(func), label=func.__name__, names=["scale"])
    assert len(found) == 1 and words in found[0], found
    check = check_refusals(func.__name__, edge_call(func))
    assert not check.passed and words in check.detail


def test_a_mistyped_result_field_is_a_gap():
    import dataclasses

    @dataclasses.dataclass
    class Result:
        value: float
        converged: bool
        iterations: int
        status: str

    def solver(x, scale=1.0, flag=False):
        careful(x, scale)
        return Result(1.0, None if flag else False, 3, "max_iter reached")   # flag: converged left None

    assert bad_input.type_paths(Result(1.0, False, 3, "ok")) == []
    assert bad_input.type_paths(Result(1.0, True, True, "ok")) == ["result.iterations: int, got bool"]
    call = ValidCall(solver, [("x", X)], {"scale": 2.0, "flag": False}, accepts={"flag": [True]})
    tried, found = gaps(call, label="solver", names=["flag"])
    assert any("result.converged: bool, got NoneType" in g for g in found), found


# ------------------------------------------------------------------ the record of refusals
def loosened(x, scale=1.0):
    """careful with its range check loosened: scale = 0 is taken (the result is a finite 0, so the properties above
    cannot object; only the record of what careful refused sees it)."""
    zero = type(scale) in (int, float) and scale == 0
    return careful(x, 1.0 if zero else scale) * (0.0 if zero else 1.0)


def test_a_loosened_range_check_is_a_change_from_the_record():
    recorded, now = {}, {}
    gaps(valid(careful), label="careful", outcomes=recorded)
    tried, found = gaps(valid(loosened), label="loosened", outcomes=now)
    assert found == [] and set(recorded) == {"x", "scale"}
    changes = bad_input.outcome_changes(valid(loosened), now, recorded, label="loosened")
    zeros = [v for v in bad_input.bad_values(valid(careful), "scale") if type(v) in (int, float) and v == 0]
    assert len(changes) >= len(zeros) >= 2 and all("now taken, was refused" in c for c in changes)
    assert bad_input.outcome_changes(valid(careful), recorded, recorded) == []
    stale = bad_input.outcome_changes(valid(careful), recorded, {"x": recorded["x"]}, label="careful")
    assert len(stale) == 1 and "no record" in stale[0]
    check = check_record("toy", changes, sum(len(p) for p in now.values()))
    assert not check.passed and "python -m verify.bad_input --record" in check.detail


def reworded(x, scale=1.0):
    """careful refusing the same values, but stating a wrong range for scale."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 1e100:
        raise ValueError(f"scale must be a number in (0, 1e10], got {scale!r}")
    return careful(x, scale)


def test_a_reworded_refusal_is_a_change_from_the_record():
    recorded, now, outcomes = {}, {}, {}
    gaps(valid(careful), label="careful", messages=recorded)
    tried, found = gaps(valid(reworded), label="reworded", outcomes=outcomes, messages=now)
    assert found == [] and set(now) == {"x", "scale"}
    refused_scale = outcomes["scale"].count("x")
    assert refused_scale >= 10 and len(now["scale"]) == 4 * len(outcomes["scale"])
    changes = bad_input.message_changes(valid(reworded), now, recorded, label="reworded")
    assert len(changes) == refused_scale and all("reworded(scale=" in c for c in changes)
    assert bad_input.message_changes(valid(careful), recorded, recorded) == []
    stale = bad_input.message_changes(valid(careful), recorded, {"x": recorded["x"]}, label="careful")
    assert len(stale) == 1 and "no record" in stale[0]
    check = check_messages("toy", changes, refused_scale)
    assert not check.passed and check.value == refused_scale and "--record" in check.detail
    assert check_messages("toy", [], refused_scale).passed


def _raise(exc):
    try:
        raise exc
    except Exception as caught:  # noqa: BLE001
        return caught


def test_message_digest_keeps_the_wording_and_drops_what_differs_between_machines():
    digest = bad_input.message_digest
    a = digest(_raise(ValueError("scale must be positive, got np.float64(-1.0) for <object object at 0x7f01>")))
    b = digest(_raise(ValueError("scale must be positive, got -1.0 for <object object at 0x55aa>")))
    assert a == b and len(a) == 4 and a not in (bad_input.NO_MESSAGE, bad_input.FOREIGN)
    assert digest(_raise(TypeError("scale must be positive, got -1.0 for <object object at 0x55aa>"))) != a
    assert digest(_raise(ValueError("scale must be negative, got -1.0 for <object object at 0x55aa>"))) != a
    memory = "needs about {} GiB, beyond the limit of {} GiB (0.5 of the {} GiB of physical memory); use fewer cells"
    assert digest(_raise(ValueError(memory.format(3.6, 11.8, 23.5)))) == \
        digest(_raise(ValueError(memory.format(3.6, 62.9, 125.8))))
    assert digest(_raise(ValueError(memory.format(3.6, 11.8, 23.5)))) != \
        digest(_raise(ValueError(memory.format(3.6, 11.8, 23.5).replace("fewer", "more"))))
    # the size a call needs depends on its arguments only: a wrong memory estimate changes the digest
    assert digest(_raise(ValueError(memory.format(3.6, 11.8, 23.5)))) != \
        digest(_raise(ValueError(memory.format(3.7, 11.8, 23.5))))
    budget = "{} needs {} GiB, above the limit of {} GiB (MAX_MEMORY_FRACTION=0.25 of {} GiB physical memory)"
    assert digest(_raise(ValueError(budget.format("f", "3.2e+03", 5.9, 23.5)))) == \
        digest(_raise(ValueError(budget.format("f", "3.2e+03", 31.4, 125.8))))
    assert digest(_raise(ValueError(budget.format("f", "3.2e+03", 5.9, 23.5)))) != \
        digest(_raise(ValueError(budget.format("f", "4.8e+03", 5.9, 23.5))))
    # round-off quantities (they differ between BLAS and SciPy builds): a mass drift and the step at which it
    # passes its tolerance, an eigenvalue-floor time
    drift = "the mass drifted by {} (relative) at step {} (t = {}), beyond the round-off tolerance {} of a conservative"
    assert digest(_raise(NumericalError(drift.format("6.91e-09", 1, 0.025, "1e-09")))) == \
        digest(_raise(NumericalError(drift.format("1.16e-08", 2, 0.05, "2e-09"))))
    assert digest(_raise(NumericalError(drift.format("6.91e-09", 1, 0.025, "1e-09")))) != \
        digest(_raise(NumericalError(drift.format("6.91e-09", 1, 0.025, "1e-09").replace("mass", "density"))))
    floor = "singular before t = 0.2: by t ≈ {0} its smallest eigenvalue falls; ask for t < {0}, or rescale S"
    assert digest(_raise(ValueError(floor.format("5.13202e-12")))) == \
        digest(_raise(ValueError(floor.format("5.1e-12"))))
    with pytest.raises(np.linalg.LinAlgError) as numpy_error:   # raised by NumPy's Python code
        np.linalg.inv(np.zeros((2, 2)))
    assert digest(numpy_error.value) == bad_input.FOREIGN


def test_the_record_covers_the_catalog_and_nothing_else():
    """The three bad-input cases compare every call's outcomes and messages, and every trouble's message, with
    verify/refusal_record.py (their passing run is in test_option_coverage.py). Here: that record has an entry
    for each label of the catalog and none besides (rewrite it with python -m verify.bad_input --record), each
    label belongs to one of the three cases, and every trouble that must raise has a recorded message."""
    from verify.refusal_record import MESSAGES, RECORD, TROUBLE_MESSAGES

    assert set(RECORD) == set(MESSAGES) == set(bad_input.CALLS)
    assert set(TROUBLE_MESSAGES) == set(bad_input.TROUBLES)
    assert all(label.split(".")[0] in ("eulerian", "lagrangian", "gaussian")
               for label in [*bad_input.CALLS, *bad_input.TROUBLES])
    assert bad_input.NO_MESSAGE not in {d for label, d in TROUBLE_MESSAGES.items() if bad_input.TROUBLES[label].raises}


def test_a_trouble_that_raises_another_message_is_a_change_from_the_record():
    trouble = bad_input.Trouble(lambda: careful(np.zeros((2, 2)), -1.0), (ValueError,), ("scale",))
    other = bad_input.Trouble(lambda: reworded(np.zeros((2, 2)), -1.0), (ValueError,), ("scale",))
    then, now = [], []
    assert bad_input.trouble_gap("toy", trouble, messages=then) is None
    assert bad_input.trouble_gap("toy", other, messages=now) is None   # the words are still there
    changes = bad_input.trouble_message_changes({"toy": now[0]}, {"toy": then[0]})
    assert changes == ["toy: the error message changed"]
    assert bad_input.trouble_message_changes({"toy": then[0]}, {"toy": then[0]}) == []
    assert "no record" in bad_input.trouble_message_changes({"toy": then[0]}, {})[0]


def test_record_cli_writes_the_record_and_refuses_an_unwritable_path(tmp_path, capsys, monkeypatch):
    """The CLI on three calls and two troubles of the catalog (the whole record: the bad-input cases of the report)."""
    from verify.refusal_record import MESSAGES, RECORD, TROUBLE_MESSAGES

    calls = ["eulerian.Grid", "lagrangian.affine_field", "gaussian.jko_gaussian_step"]
    troubles = list(bad_input.TROUBLES)[:2]
    monkeypatch.setattr(bad_input, "CALLS", {k: bad_input.CALLS[k] for k in calls})
    monkeypatch.setattr(bad_input, "TROUBLES", {k: bad_input.TROUBLES[k] for k in troubles})
    out = tmp_path / "record.py"
    assert bad_input.main(["--record", "--to", str(out)]) == 0
    written = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(out.read_text()).body
               if isinstance(node, ast.Assign)}
    assert written == {"RECORD": {k: RECORD[k] for k in calls}, "MESSAGES": {k: MESSAGES[k] for k in calls},
                       "TROUBLE_MESSAGES": {k: TROUBLE_MESSAGES[k] for k in troubles}}
    assert not list(tmp_path.glob("*.tmp"))
    capsys.readouterr()
    monkeypatch.setattr(bad_input, "write_record", lambda path: pytest.fail("refused only after the catalog ran"))
    for bad, why in ((tmp_path / "missing" / "record.py", "no such directory"), (tmp_path, "a directory")):
        assert bad_input.main(["--record", "--to", str(bad)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"cannot write {bad}: {why}" in err[0]


def test_a_field_that_stops_checking_its_callables_output_is_a_change_from_the_record(monkeypatch):
    """gradient_field takes any callable grad_V; the field it returns refuses an output of the wrong shape when
    evaluated ("f" in the record). Without that check (lagrangian.fields.x_gradient_field__mutmut_16, sample at
    c3bb5f9) the field returns the wrong shape: "r", a weakened validation that the record shows."""
    from tests.verify.mutants import mutated
    from verify.refusal_record import RECORD

    label = "lagrangian.gradient_field"
    call = bad_input.CALLS[label]
    outcomes: dict = {}
    gaps(call, label=label, names=["grad_V"], outcomes=outcomes)
    assert outcomes == RECORD[label] and outcomes["grad_V"].endswith("ffff")   # the four bad callables
    mod = mutated(monkeypatch, "lagrangian.fields", 'check_real_output(g, "grad_V(x)", shape=x.shape, at=x)',
                  'check_real_output(g, "grad_V(x)", shape=None, at=x)')
    weak = ValidCall(mod.gradient_field, call.pos, call.kw, probe=call.probe, aliases=call.aliases)
    gaps(weak, label=label, names=["grad_V"], outcomes=outcomes)
    changes = bad_input.outcome_changes(weak, outcomes, RECORD[label], label=label)
    assert changes == [f"{label}(grad_V={bad_input._short(bad_input._wrong_shape_callable)}): now taken, was "
                       "refused by the returned field"]
