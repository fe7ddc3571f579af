"""Property-based bad-input test (Hypothesis) for the public functions of eulerian, lagrangian and verify.gaussian.

The catalog (a small VALID call of every public function, the bad values tried for each argument, and the
property) lives in :mod:`verify.bad_input`, which the report's ``bad-input-*`` cases run exhaustively. Here
Hypothesis draws from it: one argument, one bad value, 40 draws per function. The property: the call raises
ValueError, TypeError or a project exception whose one-line message names the argument, or it returns without a
NaN; warnings are errors, and a call that hangs fails.
"""
from __future__ import annotations

import inspect
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eulerian
import lagrangian
from verify import gaussian as vg
from verify.bad_input import CALLS, FieldProbe, bad_values, nan_paths, point_gaps, refusal_gap

MAX_EXAMPLES = 40


def check(call_name: str, name: str, bad) -> None:
    gap = refusal_gap(CALLS[call_name], name, bad, label=call_name)
    assert gap is None, gap


@st.composite
def bad_argument(draw, call_name: str):
    call = CALLS[call_name]
    name = draw(st.sampled_from(call.names()))
    index = draw(st.integers(0, len(bad_values(call, name)) - 1))
    return name, index


def test_every_public_function_is_covered():
    covered = {c.func for c in CALLS.values()}
    probes = ("cupy_available",)   # a machine probe: no input
    for mod, names in ((eulerian, ["Grid"] + [n for n in eulerian.__all__ if n not in probes
                                              and inspect.isfunction(getattr(eulerian, n))]),
                       (lagrangian, [n for n in lagrangian.__all__ if inspect.isfunction(getattr(lagrangian, n))]),
                       (vg, [n for n in vg.__all__ if n != "FiniteTimeBlowUp"])):
        for n in names:
            if mod is lagrangian and n in ("get_xp", "to_numpy"):  # converters: any input, passed through as is
                continue
            assert getattr(mod, n) in covered, f"{mod.__name__}.{n} has no bad-input case"


@pytest.mark.parametrize("call_name", sorted(CALLS))
def test_valid_call_is_clean(call_name):
    call = CALLS[call_name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = call.func(*[v for _, v in call.pos], **call.kw)
        if call.probe is not None:
            result = (result, call.probe(result))
    assert not nan_paths(result)


@pytest.mark.parametrize("call_name", sorted(CALLS))
def test_bad_input_is_a_clear_error(call_name):
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(bad_argument(call_name))
    def prop(drawn):
        name, index = drawn
        check(call_name, name, bad_values(CALLS[call_name], name)[index])

    prop()


@pytest.mark.parametrize("call_name", sorted(n for n, c in CALLS.items() if isinstance(c.probe, FieldProbe)))
def test_returned_fields_refuse_bad_points(call_name):
    tried, found = point_gaps(CALLS[call_name], label=call_name)
    assert tried and not found, found
