"""The harness: check semantics, case registry, runner, deterministic randomness."""
import math

import numpy as np
import pytest

from verify import harness
from verify.harness import CaseContext, UnknownCaseError, make_check, run_case


@pytest.fixture
def temp_case(monkeypatch):
    """Register cases for one test only."""
    def register(name, fn, title="test case"):
        monkeypatch.setitem(harness._REGISTRY, name, harness.CaseSpec(name, title, ("test",), fn))
    harness.registry()  # import the built-ins first so the monkeypatch restores a full registry
    return register


@pytest.mark.parametrize("value, lower, upper, passed", [
    (1.0, None, 2.0, True), (3.0, None, 2.0, False), (1.0, 0.5, None, True),
    (0.1, 0.5, None, False), (1.0, 0.5, 1.5, True), (2.0, 0.5, 1.5, False),
    (math.nan, None, None, False), (math.inf, None, None, False), (-math.inf, 0.0, None, False),
])
def test_make_check_band(value, lower, upper, passed):
    assert make_check("c", value, lower=lower, upper=upper).passed is passed


def test_make_check_rejects_inverted_band_and_non_numbers():
    with pytest.raises(ValueError, match="exceeds"):
        make_check("c", 1.0, lower=2.0, upper=1.0)
    with pytest.raises(TypeError, match="real number"):
        make_check("c", "abc")


def test_run_case_records_checks_and_turns_exceptions_into_failures(temp_case):
    def good(ctx):
        ctx.check("a", 1.0, upper=2.0)
        ctx.series("s", [1, 2], [3, 4], xlabel="x", ylabel="y")
        ctx.note("n", 3)

    def crash(ctx):
        ctx.check("a", 1.0, upper=2.0)
        raise RuntimeError("boom")

    temp_case("t-good", good)
    temp_case("t-crash", crash)
    temp_case("t-empty", lambda ctx: None)
    r = run_case("t-good")
    # the case's check, then the harness's own: no warning escaped twinflow's code
    assert r.passed and [c.name for c in r.checks][:1] == ["a"] and len(r.checks) == 2
    assert r.series[0].y == (3.0, 4.0) and r.notes == {"n": 3}
    bad = run_case("t-crash")
    assert not bad.passed and "boom" in bad.error and [c.name for c in bad.checks] == ["a"]
    empty = run_case("t-empty")
    assert not empty.passed and "no checks" in empty.error


def test_unknown_case_names_the_fix():
    with pytest.raises(UnknownCaseError, match="twinflow list"):
        run_case("no-such-case")
    with pytest.raises(UnknownCaseError, match="Did you mean: mccann-geodesic"):
        run_case("mccann")


def test_registry_rejects_duplicates_and_bad_names():
    with pytest.raises(ValueError, match="letters"):
        harness.case("bad name", title="x")
    harness.registry()

    def other(ctx):
        pass

    with pytest.raises(ValueError, match="registered twice"):
        harness.case("mccann-geodesic", title="x")(other)


def test_context_rng_is_deterministic_and_label_dependent():
    a, b = CaseContext("x"), CaseContext("x")
    assert np.array_equal(a.rng("s").standard_normal(4), b.rng("s").standard_normal(4))
    assert not np.array_equal(a.rng("s").standard_normal(4), a.rng("t").standard_normal(4))
    assert CaseContext("x").seed != CaseContext("y").seed


def test_series_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="3 points"):
        CaseContext("x").series("s", [1, 2, 3], [1, 2], xlabel="x", ylabel="y")


def test_a_misspelt_case_gets_the_close_match():
    with pytest.raises(UnknownCaseError, match=r"'mcann-geodesic'\. Did you mean: mccann-geodesic\?"):
        run_case("mcann-geodesic")


@pytest.mark.parametrize("build, hint", [
    (lambda: __import__("verify.adapters").adapters.FokkerPlanckSolver(flux="scharfeter-gummel"),
     "did you mean 'scharfetter-gummel'"),
    (lambda: __import__("verify.adapters").adapters.SDESampler("euler-maruyma"), "did you mean 'euler-maruyama'"),
    (lambda: __import__("eulerian").solve_fokker_planck(
        __import__("eulerian").Grid((0.0,), (1.0,), (8,)), np.ones(8), lambda t, x: 0 * x, 0.1, 0.1, 2,
        time="crank-nicholson"), "did you mean 'crank-nicolson'"),
    (lambda: __import__("lagrangian").integrate_ode(lambda t, x: x, np.zeros((3, 2)), 0.0, 1.0, 2, method="rk5"),
     "did you mean 'rk4'"),
])
def test_misspelt_scheme_names_get_the_close_match(build, hint):
    with pytest.raises(ValueError, match=hint):
        build()
