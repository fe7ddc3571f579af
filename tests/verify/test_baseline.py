"""Regression baselines (verify.baseline) and their command line: `twinflow report --baseline`, `twinflow compare`."""
import json
import math

import pytest

from verify import harness
from verify.baseline import (DEFAULT_TOLERANCES, SCHEMA, BaselineError, baseline_from_report, compare,
                             has_regression, load_baseline, load_results, render_changes, write_baseline)
from verify.cli import main
from verify.harness import CaseResult, Check, make_check
from verify.report import build_report

RTOL, BAND, Z = 1e-6, 1e-3, 3.29  # the documented defaults


# ------------------------------------------------------------------------------------------------ helpers
def _report(*results: CaseResult) -> dict:
    return build_report(list(results), quick=True, seconds=0.0)


def _case(name: str, *checks: Check) -> CaseResult:
    return CaseResult(name, f"case {name}", (), list(checks))


def _baseline(*checks: Check, case: str = "A") -> dict:
    return baseline_from_report(_report(_case(case, *checks)))


def _changes(old: dict, new: dict) -> dict:
    return {(c.case, c.check): c for c in compare(old, new)}


def _one(old_check: Check, new_check: Check, old_baseline_edit=None):
    """The single Change between a one-check baseline and a one-check new run (case "A")."""
    old = _baseline(old_check)
    if old_baseline_edit:
        old_baseline_edit(old)
    changes = compare(old, _baseline(new_check))
    assert len(changes) == 1
    return changes[0]


# ------------------------------------------------------------------------------------------------ compare
def test_documented_defaults():
    assert DEFAULT_TOLERANCES == {"rtol": RTOL, "band_fraction": BAND, "z": Z}
    assert SCHEMA == "twinflow-baseline/1"
    assert _baseline(make_check("x", 1.0))["tolerances"] == {"rtol": RTOL, "band_fraction": BAND, "z": Z}


def test_identical_runs_are_all_unchanged():
    checks = [make_check("upper", 0.5, upper=1.0), make_check("lower", 2.0, lower=1.0),
              make_check("band", 2.0, lower=1.0, upper=3.0, reference=2.5), make_check("free", 7.0),
              make_check("stoch", 0.1, upper=3.0, standard_error=0.2),
              make_check("failing", 5.0, upper=1.0), make_check("nan", math.nan),
              Check("inc", 1.0, passed=False, lower=0.5, upper=1.5, verdict="inconclusive")]
    report = _report(_case("A", *checks), _case("B", make_check("x", 1.0, upper=2.0)))
    changes = compare(baseline_from_report(report), baseline_from_report(report))
    assert len(changes) == len(checks) + 1
    assert {c.kind for c in changes} == {"unchanged"}
    assert not has_regression(changes)
    assert render_changes(changes).splitlines()[-1] == \
        "0 regressions, 0 improvements, 0 new, 0 not run, 9 unchanged"


def test_pass_to_fail_is_a_regression():
    c = _one(make_check("x", 0.5, upper=1.0), make_check("x", 1.5, upper=1.0))
    assert c.kind == "regression" and c.reason == "passed before, fail now"
    assert (c.old, c.new) == (0.5, 1.5)


def test_pass_to_inconclusive_is_a_regression():
    new = Check("x", 1.0, passed=False, lower=0.5, upper=1.5, verdict="inconclusive")
    c = _one(make_check("x", 1.0, lower=0.5, upper=1.5), new)
    assert c.kind == "regression" and c.reason == "passed before, inconclusive now"


def test_inconclusive_or_failing_to_pass_is_an_improvement():
    old = Check("x", 1.0, passed=False, lower=0.5, upper=1.5, verdict="inconclusive")
    c = _one(old, make_check("x", 1.0, lower=0.5, upper=1.5))
    assert c.kind == "improvement" and "passes now" in c.reason
    c = _one(make_check("x", 1.5, upper=1.0), make_check("x", 0.5, upper=1.0))
    assert c.kind == "improvement"


def _upper_limit(old: float, new: float, bound: float, rtol=RTOL, band=BAND) -> float:
    return rtol * max(abs(old), abs(new)) + band * abs(bound)


@pytest.mark.parametrize("factor, kind", [(0.999, "unchanged"), (1.001, "regression")])
def test_upper_bound_growth_at_both_sides_of_the_limit(factor, kind):
    old = 0.5
    limit = _upper_limit(old, old + 0.0011, 1.0)  # the new value is ~old + 1e-3: rtol part 1e-6 · new
    new = old + factor * limit
    c = _one(make_check("x", old, upper=1.0), make_check("x", new, upper=1.0))
    assert c.kind == kind, c
    assert c.limit == pytest.approx(_upper_limit(old, new, 1.0), rel=1e-9)
    if kind == "regression":
        assert c.reason.startswith("worse beyond the deterministic tolerance")


@pytest.mark.parametrize("factor, kind", [(0.999, "unchanged"), (1.001, "improvement")])
def test_upper_bound_shrink_at_both_sides_of_the_limit(factor, kind):
    old = 0.5
    limit = _upper_limit(old, old, 1.0)  # max(|old|, |new|) = old when the value shrinks
    new = old - factor * limit
    c = _one(make_check("x", old, upper=1.0), make_check("x", new, upper=1.0))
    assert c.kind == kind, c
    assert c.limit == pytest.approx(limit, rel=1e-12)
    if kind == "improvement":
        assert c.reason.startswith("better")


@pytest.mark.parametrize("factor, kind", [(0.99, "unchanged"), (1.01, "regression")])
def test_deterministic_limit_adds_rtol_and_band_fraction_terms(factor, kind):
    # both terms of comparable size: rtol 1e-3 · 1000 = 1, band_fraction 1e-3 · 2000 = 2
    tol = {"rtol": 1e-3, "band_fraction": 1e-3}

    def edit(b):
        b["tolerances"] = dict(tol)

    old = 1000.0
    limit = 1e-3 * (old + 3.0) + 1e-3 * 2000.0  # new ≈ old + 3
    new = old + factor * limit
    c = _one(make_check("x", old, upper=2000.0), make_check("x", new, upper=2000.0), edit)
    assert c.kind == kind, c
    assert c.limit == pytest.approx(1e-3 * new + 2.0, rel=1e-12)


def test_lower_bound_smaller_is_worse():
    old = make_check("x", 2.0, lower=1.0)
    assert _one(old, make_check("x", 1.5, lower=1.0)).kind == "regression"
    assert _one(old, make_check("x", 2.5, lower=1.0)).kind == "improvement"
    limit = _upper_limit(2.0, 2.0, 1.0)
    assert _one(old, make_check("x", 2.0 - 0.99 * limit, lower=1.0)).kind == "unchanged"
    assert _one(old, make_check("x", 2.0 - 1.01 * limit, lower=1.0)).kind == "regression"


def test_two_sided_band_with_reference_farther_is_worse_closer_is_better():
    band = dict(lower=1.0, upper=3.0, reference=2.5)
    old = make_check("x", 2.0, **band)                                    # 0.5 from the reference
    assert _one(old, make_check("x", 1.8, **band)).kind == "regression"   # 0.7 from it
    assert _one(old, make_check("x", 2.3, **band)).kind == "improvement"  # 0.2
    assert _one(old, make_check("x", 2.8, **band)).kind == "improvement"  # 0.3, on the other side
    assert _one(old, make_check("x", 2.9, **band)).kind == "improvement"  # 0.4
    # the reference, not the band's middle (2.0), decides: 2.4 → 2.1 moves towards the middle, away from 2.5
    assert _one(make_check("x", 2.4, **band), make_check("x", 2.1, **band)).kind == "regression"
    no_ref = dict(lower=1.0, upper=3.0)
    assert _one(make_check("x", 2.4, **no_ref), make_check("x", 2.1, **no_ref)).kind == "improvement"
    assert _one(make_check("x", 2.1, **no_ref), make_check("x", 2.4, **no_ref)).kind == "regression"


def test_two_sided_band_limit_uses_the_larger_bound():
    band = dict(lower=-4.0, upper=3.0)
    limit = _upper_limit(0.5, 0.5, 4.0)
    old = make_check("x", 0.5, **band)
    assert _one(old, make_check("x", 0.5 - 0.99 * limit, **band)).kind == "unchanged"
    c = _one(old, make_check("x", 0.5 + 1.01 * limit, **band))
    assert c.kind == "regression" and c.limit == pytest.approx(_upper_limit(0.5, c.new, 4.0), rel=1e-12)


def test_check_without_band_any_change_is_a_regression():
    c = _one(make_check("x", 1.0), make_check("x", 0.9))
    assert c.kind == "regression" and "no acceptance band" in c.reason
    c = _one(make_check("x", 1.0), make_check("x", 1.1))
    assert c.kind == "regression" and "no acceptance band" in c.reason
    # within rtol · |value| it is unchanged
    assert _one(make_check("x", 1.0), make_check("x", 1.0 + 0.5 * RTOL)).kind == "unchanged"
    assert _one(make_check("x", 1.0), make_check("x", 1.0 + 2 * RTOL)).kind == "regression"


@pytest.mark.parametrize("sigmas, kind", [(3.0, "unchanged"), (-3.0, "unchanged"), (3.28, "unchanged"),
                                          (3.3, "regression"), (3.5, "regression"), (-3.5, "improvement")])
def test_stochastic_checks_use_combined_standard_errors(sigmas, kind):
    se_old, se_new = 0.3, 0.4  # combined 0.5
    old = make_check("x", 1.0, upper=10.0, standard_error=se_old)
    new = make_check("x", 1.0 + sigmas * 0.5, upper=10.0, standard_error=se_new)
    c = _one(old, new)
    assert c.kind == kind, c
    assert c.limit == pytest.approx(Z * 0.5, rel=1e-12)
    if kind != "unchanged":
        assert "combined standard errors" in c.reason


def test_stochastic_direction_follows_the_band():
    old = make_check("x", 5.0, lower=0.0, standard_error=1.0)
    assert _one(old, make_check("x", 5.0 - 3.5 * math.sqrt(2), lower=0.0, standard_error=1.0)).kind == "regression"
    assert _one(old, make_check("x", 5.0 + 3.5 * math.sqrt(2), lower=0.0, standard_error=1.0)).kind == "improvement"


def test_standard_error_on_one_side_only_is_deterministic():
    old = make_check("x", 1.0, upper=10.0, standard_error=0.5)
    new = make_check("x", 1.5, upper=10.0)
    c = _one(old, new)
    assert c.kind == "regression" and "deterministic" in c.reason


def test_missing_check_of_a_case_that_ran_is_a_regression():
    old = _baseline(make_check("x", 0.5, upper=1.0), make_check("y", 0.5, upper=1.0))
    new = _baseline(make_check("x", 0.5, upper=1.0))
    ch = _changes(old, new)
    assert ch[("A", "y")].kind == "regression" and ch[("A", "y")].reason == "check missing from this run"
    assert ch[("A", "y")].old == 0.5 and ch[("A", "y")].new is None
    assert ch[("A", "x")].kind == "unchanged"
    assert has_regression(list(ch.values()))


def test_case_missing_from_the_run_is_not_run_not_a_regression():
    old = baseline_from_report(_report(_case("A", make_check("x", 0.5, upper=1.0)),
                                       _case("B", make_check("y", 0.5, upper=1.0))))
    new = _baseline(make_check("x", 0.5, upper=1.0))
    ch = _changes(old, new)
    assert ch[("B", "")].kind == "not run"
    assert not has_regression(list(ch.values()))
    assert "1 not run" in render_changes(list(ch.values()))


def test_new_check_and_new_case_are_new():
    old = _baseline(make_check("x", 0.5, upper=1.0))
    new = baseline_from_report(_report(_case("A", make_check("x", 0.5, upper=1.0), make_check("z", 3.0)),
                                       _case("C", make_check("w", 2.0, upper=5.0))))
    ch = _changes(old, new)
    assert ch[("A", "z")].kind == "new" and ch[("A", "z")].new == 3.0
    assert ch[("C", "w")].kind == "new" and ch[("C", "w")].new == 2.0
    assert not has_regression(list(ch.values()))
    text = render_changes(list(ch.values()))
    assert "NEW" in text and "2 new" in text


def test_value_becoming_nan_is_a_regression():
    c = _one(make_check("x", 0.5, upper=1.0), make_check("x", math.nan, upper=1.0))
    assert c.kind == "regression" and math.isnan(c.new)
    # also when the check failed before (the value is what got worse)
    c = _one(make_check("x", 5.0, upper=1.0), make_check("x", math.nan, upper=1.0))
    assert c.kind == "regression"
    c = _one(make_check("x", 5.0), make_check("x", math.inf))
    assert c.kind == "regression"
    # NaN both times: unchanged; NaN (failing) → a passing value: improvement
    assert _one(make_check("x", math.nan), make_check("x", math.nan)).kind == "unchanged"
    assert _one(make_check("x", math.nan, upper=1.0), make_check("x", 0.5, upper=1.0)).kind == "improvement"


def test_nan_survives_the_baseline_json(tmp_path):
    b = _baseline(make_check("x", math.nan), make_check("y", 1.0, upper=math.inf))
    write_baseline(tmp_path / "b.json", b)
    text = (tmp_path / "b.json").read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON, like report.json
    loaded = load_baseline(tmp_path / "b.json")
    assert {c.kind for c in compare(loaded, b)} == {"unchanged"}


def _grown():
    return make_check("x", 0.5, upper=1.0), make_check("x", 0.51, upper=1.0)  # limit ≈ 1e-3: a regression


def test_per_check_tolerance_override_changes_the_outcome():
    old, new = _grown()
    assert _one(old, new).kind == "regression"

    def loosen(b):
        b["cases"]["A"]["checks"]["x"]["tolerances"] = {"band_fraction": 0.05}

    c = _one(old, new, loosen)
    assert c.kind == "unchanged" and c.limit == pytest.approx(RTOL * 0.51 + 0.05)


def test_per_case_tolerance_override_changes_the_outcome_and_per_check_wins():
    old, new = _grown()

    def per_case(b):
        b["cases"]["A"]["tolerances"] = {"band_fraction": 0.05}

    assert _one(old, new, per_case).kind == "unchanged"

    def both(b):
        b["cases"]["A"]["tolerances"] = {"band_fraction": 0.05}
        b["cases"]["A"]["checks"]["x"]["tolerances"] = {"band_fraction": 1e-3}

    assert _one(old, new, both).kind == "regression"

    def file_wide(b):
        b["tolerances"] = {**DEFAULT_TOLERANCES, "band_fraction": 0.05}

    assert _one(old, new, file_wide).kind == "unchanged"


def test_z_override_for_stochastic_checks():
    old = make_check("x", 1.0, upper=10.0, standard_error=0.3)
    new = make_check("x", 2.75, upper=10.0, standard_error=0.4)  # 3.5 combined standard errors
    assert _one(old, new).kind == "regression"

    def z4(b):
        b["cases"]["A"]["checks"]["x"]["tolerances"] = {"z": 4.0}

    c = _one(old, new, z4)
    assert c.kind == "unchanged" and c.limit == pytest.approx(2.0)


def test_baseline_from_report_keeps_tolerance_overrides():
    report = _report(_case("A", make_check("x", 0.5, upper=1.0), make_check("y", 1.0)))
    previous = baseline_from_report(report)
    previous["tolerances"] = {**DEFAULT_TOLERANCES, "z": 5.0}
    previous["cases"]["A"]["tolerances"] = {"rtol": 1e-3}
    previous["cases"]["A"]["checks"]["x"]["tolerances"] = {"band_fraction": 0.05}
    new_report = _report(_case("A", make_check("x", 0.7, upper=1.0), make_check("y", 2.0)))
    updated = baseline_from_report(new_report, previous)
    assert updated["schema"] == SCHEMA
    assert updated["tolerances"]["z"] == 5.0
    assert updated["cases"]["A"]["tolerances"] == {"rtol": 1e-3}
    assert updated["cases"]["A"]["checks"]["x"]["tolerances"] == {"band_fraction": 0.05}
    assert updated["cases"]["A"]["checks"]["x"]["value"] == 0.7  # the values are the new ones
    assert "tolerances" not in updated["cases"]["A"]["checks"]["y"]
    # and they still act: 0.7 → 0.74 is within band_fraction 0.05
    later = baseline_from_report(_report(_case("A", make_check("x", 0.74, upper=1.0), make_check("y", 2.0))))
    assert _changes(updated, later)[("A", "x")].kind == "unchanged"
    # without ``previous`` the defaults come back
    assert baseline_from_report(new_report)["tolerances"] == DEFAULT_TOLERANCES


def test_baseline_from_report_rejects_other_data():
    with pytest.raises(BaselineError, match="not a twinflow report"):
        baseline_from_report({"schema": "something/1", "cases": []})


# ------------------------------------------------------------------------------------------------ load errors
def _write(tmp_path, text, name="b.json"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _err(loader, path) -> str:
    with pytest.raises(BaselineError) as exc:
        loader(path)
    msg = str(exc.value)
    assert str(path) in msg  # every message names the file
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("loader", [load_baseline, load_results])
def test_missing_file_and_directory(tmp_path, loader):
    assert "no such" in _err(loader, tmp_path / "nope.json")
    assert "is a directory" in _err(loader, tmp_path)


@pytest.mark.parametrize("loader", [load_baseline, load_results])
def test_corrupt_json_names_the_line_and_the_fix(tmp_path, loader):
    p = _write(tmp_path, '{\n "schema": "twinflow-baseline/1",\n "cases": {,}\n}\n')
    msg = _err(loader, p)
    assert "corrupt" in msg and "line 3" in msg and "--update-baseline" in msg


def test_json_list_is_rejected(tmp_path):
    msg = _err(load_baseline, _write(tmp_path, "[1, 2]"))
    assert "JSON object" in msg


def test_foreign_schema_names_how_to_write_a_baseline(tmp_path):
    msg = _err(load_baseline, _write(tmp_path, json.dumps({"schema": "other/1", "cases": {}})))
    assert "not a twinflow baseline" in msg and "--update-baseline" in msg
    msg = _err(load_baseline, _write(tmp_path, json.dumps({"cases": {}})))
    assert "not a twinflow baseline" in msg
    msg = _err(load_results, _write(tmp_path, json.dumps({"schema": "other/1", "cases": {}})))
    assert "not a twinflow baseline" in msg


def test_newer_schema_says_upgrade(tmp_path):
    msg = _err(load_baseline, _write(tmp_path, json.dumps({"schema": "twinflow-baseline/2", "cases": {}})))
    assert "newer" in msg and "upgrade" in msg
    msg = _err(load_baseline, _write(tmp_path, json.dumps({"schema": "twinflow-baseline/x", "cases": {}})))
    assert "unknown baseline schema" in msg


def test_no_cases_object_and_case_without_checks(tmp_path):
    msg = _err(load_baseline, _write(tmp_path, json.dumps({"schema": SCHEMA})))
    assert "'cases'" in msg
    msg = _err(load_baseline, _write(tmp_path, json.dumps({"schema": SCHEMA, "cases": []})))
    assert "'cases'" in msg
    msg = _err(load_baseline, _write(tmp_path, json.dumps({"schema": SCHEMA, "cases": {"A": {"status": "pass"}}})))
    assert "'A'" in msg and "'checks'" in msg
    msg = _err(load_baseline, _write(tmp_path, json.dumps({"schema": SCHEMA, "cases": {"A": 3}})))
    assert "'A'" in msg


@pytest.mark.parametrize("content", ["[1, 2]", json.dumps({"schema": SCHEMA}),
                                     json.dumps({"schema": SCHEMA, "cases": {"A": {}}})],
                         ids=["list", "no-cases", "no-checks"])
def test_structural_corruption_messages_name_the_fix(tmp_path, content):
    assert "--update-baseline" in _err(load_baseline, _write(tmp_path, content))


def test_load_baseline_defaults_the_tolerances(tmp_path):
    data = load_baseline(_write(tmp_path, json.dumps({"schema": SCHEMA, "cases": {"A": {"checks": {}}}})))
    assert data["tolerances"] == DEFAULT_TOLERANCES


def test_load_results_accepts_a_report_and_a_baseline(tmp_path):
    report = _report(_case("A", make_check("x", 0.5, upper=1.0)))
    rp = _write(tmp_path, json.dumps(report), "report.json")
    from_report = load_results(rp)
    assert from_report["schema"] == SCHEMA and from_report["cases"]["A"]["checks"]["x"]["value"] == 0.5
    bp = tmp_path / "b.json"
    write_baseline(bp, baseline_from_report(report))
    from_baseline = load_results(bp)
    assert from_baseline["cases"] == from_report["cases"]
    assert {c.kind for c in compare(from_report, from_baseline)} == {"unchanged"}


# ------------------------------------------------------------------------------------------------ write
def test_write_baseline_keeps_the_previous_file(tmp_path):
    p = tmp_path / "b.json"
    first = _baseline(make_check("x", 0.5, upper=1.0))
    assert write_baseline(p, first) is None
    assert p.exists() and not (tmp_path / "b.json.prev").exists()
    first_text = p.read_text()
    second = _baseline(make_check("x", 0.25, upper=1.0))
    kept = write_baseline(p, second)
    assert kept == tmp_path / "b.json.prev"
    assert kept.read_text() == first_text
    assert load_baseline(kept) == load_baseline(tmp_path / "b.json.prev")
    assert load_baseline(p)["cases"]["A"]["checks"]["x"]["value"] == 0.25
    assert sorted(f.name for f in tmp_path.iterdir()) == ["b.json", "b.json.prev"]  # no temporary files


def test_write_baseline_round_trips(tmp_path):
    b = baseline_from_report(_report(
        _case("A", make_check("x", 0.5, upper=1.0), make_check("s", 0.1, upper=3.0, standard_error=0.2),
              make_check("band", 2.0, lower=1.0, upper=3.0, reference=2.5)),
        _case("B", Check("inc", 1.0, passed=False, lower=0.5, upper=1.5, verdict="inconclusive"))))
    b["cases"]["A"]["tolerances"] = {"z": 4.0}
    write_baseline(tmp_path / "b.json", b)
    assert load_baseline(tmp_path / "b.json") == json.loads(json.dumps(b))
    assert load_baseline(tmp_path / "b.json")["cases"]["B"]["checks"]["inc"]["status"] == "inconclusive"


def test_write_baseline_keeps_the_previous_bytes_exactly(tmp_path):
    p = tmp_path / "b.json"
    original = b'{"schema": "twinflow-baseline/1", "note": "caf\xe9", "cases": {}}\n'  # latin-1 edit
    p.write_bytes(original)
    write_baseline(p, _baseline(make_check("x", 0.5, upper=1.0)))
    assert (tmp_path / "b.json.prev").read_bytes() == original


# ------------------------------------------------------------------------------------------------ CLI
@pytest.fixture
def tcase(monkeypatch, tmp_path):
    """A registered deterministic case "t-base" whose value a test can change between runs."""
    harness.registry()
    state = {"value": 0.5, "runs": 0}

    def fn(ctx):
        state["runs"] += 1
        ctx.check("err", state["value"], upper=1.0)

    monkeypatch.setitem(harness._REGISTRY, "t-base", harness.CaseSpec("t-base", "baseline test", ("test",), fn))
    monkeypatch.chdir(tmp_path)
    return state


def cli(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


REPORT = ["report", "--case", "t-base", "--out", "out", "--baseline", "b.json"]


def _one_error_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("twinflow: ") and "Traceback" not in err, err
    return err


def test_cli_missing_baseline_is_an_error_before_the_run(tcase, tmp_path, capsys):
    code, out, err = cli(REPORT, capsys)
    assert code == 2
    assert "--update-baseline" in _one_error_line(err) and "b.json" in err
    assert tcase["runs"] == 0
    assert not (tmp_path / "out").exists() and not (tmp_path / "b.json").exists()


def test_cli_update_baseline_needs_baseline(tcase, tmp_path, capsys):
    code, _, err = cli(["report", "--case", "t-base", "--out", "out", "--update-baseline"], capsys)
    assert code == 2 and "--baseline" in _one_error_line(err)
    assert tcase["runs"] == 0 and not (tmp_path / "out").exists()


def test_cli_baseline_cycle(tcase, tmp_path, capsys):
    b = tmp_path / "b.json"
    code, out, _ = cli([*REPORT, "--update-baseline"], capsys)
    assert code == 0 and b.exists() and "baseline written" in out and tcase["runs"] == 1
    assert not (tmp_path / "b.json.prev").exists()
    first = b.read_text()
    assert load_baseline(b)["cases"]["t-base"]["checks"]["err"]["value"] == 0.5

    code, out, _ = cli(REPORT, capsys)  # unchanged
    assert code == 0 and "0 regressions" in out and "REGRESSION" not in out

    tcase["value"] = 0.6  # worse, still passes
    code, out, _ = cli(REPORT, capsys)
    assert code == 1 and "REGRESSION" in out and "err" in out and "1 regression," in out
    assert "PASSED" in out  # the report itself passed: the exit status is the regression's
    assert b.read_text() == first  # a comparison does not write the baseline

    tcase["value"] = 1.5  # fails
    code, out, _ = cli(REPORT, capsys)
    assert code == 1 and "REGRESSION" in out and "passed before, fail now" in out

    tcase["value"] = 0.3  # better
    code, out, _ = cli(REPORT, capsys)
    assert code == 0 and "IMPROVEMENT" in out and "0 regressions" in out and "1 improvement," in out

    code, out, _ = cli([*REPORT, "--update-baseline"], capsys)
    assert code == 0 and "b.json.prev" in out
    assert (tmp_path / "b.json.prev").read_text() == first
    assert load_baseline(b)["cases"]["t-base"]["checks"]["err"]["value"] == 0.3
    code, out, _ = cli(REPORT, capsys)
    assert code == 0 and "0 regressions" in out
    assert tcase["runs"] == 7


def test_cli_update_baseline_with_a_regression_writes_it(tcase, tmp_path, capsys):
    assert cli([*REPORT, "--update-baseline"], capsys)[0] == 0
    tcase["value"] = 0.6
    code, out, _ = cli([*REPORT, "--update-baseline"], capsys)
    assert code == 0 and "REGRESSION" in out and "baseline written" in out  # accepted on purpose
    assert load_baseline(tmp_path / "b.json")["cases"]["t-base"]["checks"]["err"]["value"] == 0.6


def test_cli_update_baseline_keeps_tolerance_overrides(tcase, tmp_path, capsys):
    assert cli([*REPORT, "--update-baseline"], capsys)[0] == 0
    data = json.loads((tmp_path / "b.json").read_text())
    data["cases"]["t-base"]["checks"]["err"]["tolerances"] = {"band_fraction": 0.2}
    (tmp_path / "b.json").write_text(json.dumps(data))
    tcase["value"] = 0.6  # within 0.2 · |upper|
    code, out, _ = cli([*REPORT, "--update-baseline"], capsys)
    assert code == 0 and "REGRESSION" not in out
    assert load_baseline(tmp_path / "b.json")["cases"]["t-base"]["checks"]["err"]["tolerances"] == \
        {"band_fraction": 0.2}


def test_cli_corrupt_baseline(tcase, tmp_path, capsys):
    b = tmp_path / "b.json"
    corrupt = '{"schema": "twinflow-baseline/1",\n "cases": {\n'
    b.write_text(corrupt)
    code, out, err = cli(REPORT, capsys)
    assert code == 2 and "b.json" in _one_error_line(err) and "corrupt" in err and "line" in err
    assert tcase["runs"] == 0 and b.read_text() == corrupt and not (tmp_path / "out").exists()

    code, out, err = cli([*REPORT, "--update-baseline"], capsys)
    assert code == 0 and tcase["runs"] == 1
    assert "warning" in err and "b.json.prev" in err
    assert (tmp_path / "b.json.prev").read_text() == corrupt
    assert load_baseline(b)["cases"]["t-base"]["checks"]["err"]["value"] == 0.5


def test_cli_foreign_and_newer_baselines_are_errors_before_the_run(tcase, tmp_path, capsys):
    for data, word in [({"schema": "other/1"}, "not a twinflow baseline"),
                       ({"schema": "twinflow-baseline/2", "cases": {}}, "upgrade")]:
        (tmp_path / "b.json").write_text(json.dumps(data))
        code, _, err = cli(REPORT, capsys)
        assert code == 2 and word in _one_error_line(err)
    assert tcase["runs"] == 0


@pytest.mark.parametrize("edit", ["entry-not-object", "tolerances-not-object", "tolerance-not-number"])
def test_cli_malformed_baseline_entries_are_errors_before_the_run(tcase, tmp_path, capsys, edit):
    data = {"schema": SCHEMA, "tolerances": dict(DEFAULT_TOLERANCES),
            "cases": {"t-base": {"checks": {"err": {"value": 0.5, "status": "pass", "upper": 1.0}}}}}
    if edit == "entry-not-object":
        data["cases"]["t-base"]["checks"]["err"] = 0.5
    elif edit == "tolerances-not-object":
        data["cases"]["t-base"]["tolerances"] = "loose"
    else:
        data["cases"]["t-base"]["checks"]["err"]["tolerances"] = {"rtol": "big"}
    (tmp_path / "b.json").write_text(json.dumps(data))
    tcase["value"] = 0.6
    code, _, err = cli(REPORT, capsys)
    assert code == 2 and "b.json" in _one_error_line(err)
    assert tcase["runs"] == 0


def test_cli_partial_update_keeps_cases_not_run(tcase, tmp_path, capsys):
    data = {"schema": SCHEMA, "tolerances": dict(DEFAULT_TOLERANCES),
            "cases": {"t-base": {"status": "pass", "checks": {"err": {"value": 0.5, "status": "pass", "upper": 1}}},
                      "other": {"status": "pass", "tolerances": {"z": 5.0},
                                "checks": {"y": {"value": 1.0, "status": "pass", "upper": 2.0}}}}}
    (tmp_path / "b.json").write_text(json.dumps(data))
    code, out, _ = cli([*REPORT, "--update-baseline"], capsys)
    assert code == 0 and "1 not run" in out
    written = load_baseline(tmp_path / "b.json")
    assert "other" in written["cases"]
    assert written["cases"]["other"]["tolerances"] == {"z": 5.0}


def _report_to(out_dir, capsys):
    code, _, _ = cli(["report", "--case", "t-base", "--out", out_dir], capsys)
    return code


def test_cli_compare(tcase, tmp_path, capsys):
    assert _report_to("r1", capsys) == 0
    assert _report_to("r2", capsys) == 0
    tcase["value"] = 0.6
    assert _report_to("r3", capsys) == 0
    code, out, _ = cli(["compare", "r1/report.json", "r2/report.json"], capsys)
    assert code == 0 and "0 regressions" in out
    code, out, _ = cli(["compare", "r1/report.json", "r3/report.json"], capsys)
    assert code == 1 and "REGRESSION" in out and "err" in out
    code, out, _ = cli(["compare", "r3/report.json", "r1/report.json"], capsys)
    assert code == 0 and "IMPROVEMENT" in out

    code, out, _ = cli(["compare", "r1/report.json", "r3/report.json", "--json"], capsys)
    data = json.loads(out)
    assert code == 1 and data["regression"] is True
    assert [(c["case"], c["check"], c["kind"]) for c in data["changes"]] == [("t-base", "err", "regression")]
    assert data["changes"][0]["old"] == 0.5 and data["changes"][0]["new"] == 0.6
    code, out, _ = cli(["compare", "r1/report.json", "r2/report.json", "--json"], capsys)
    assert code == 0 and json.loads(out) == {"regression": False, "changes": []}

    # a baseline file on either side
    assert cli(["report", "--case", "t-base", "--out", "r4", "--baseline", "b.json", "--update-baseline"],
               capsys)[0] == 0
    assert cli(["compare", "b.json", "r3/report.json"], capsys)[0] == 0
    assert cli(["compare", "b.json", "r1/report.json"], capsys)[0] == 0  # 0.6 → 0.5: improvement


def test_cli_compare_file_errors(tcase, tmp_path, capsys):
    assert _report_to("r1", capsys) == 0
    code, _, err = cli(["compare", "r1/report.json", "missing.json"], capsys)
    assert code == 2 and "missing.json" in _one_error_line(err)
    code, _, err = cli(["compare", "nope.json", "r1/report.json"], capsys)
    assert code == 2 and "nope.json" in _one_error_line(err)
    (tmp_path / "bad.json").write_text("{oops")
    code, _, err = cli(["compare", "bad.json", "r1/report.json"], capsys)
    assert code == 2 and "bad.json" in _one_error_line(err) and "corrupt" in err


def test_cli_compare_json_is_strict_json_with_nan(tcase, tmp_path, capsys):
    assert _report_to("r1", capsys) == 0
    tcase["value"] = math.nan
    assert _report_to("r2", capsys) == 1
    code, out, _ = cli(["compare", "r1/report.json", "r2/report.json", "--json"], capsys)
    assert code == 1

    def reject(constant):
        raise ValueError(f"not JSON: {constant}")

    data = json.loads(out, parse_constant=reject)
    assert data["changes"][0]["kind"] == "regression"


def test_a_case_that_crashes_after_its_checks_is_a_regression():
    check = make_check("x", 0.5, upper=1.0)
    old = baseline_from_report(_report(CaseResult("A", "a", (), checks=[check])))
    crashed = CaseResult("A", "a", (), checks=[check], error="RuntimeError: boom")
    changes = compare(old, baseline_from_report(_report(crashed)))
    assert [(c.kind, c.check) for c in changes if c.kind == "regression"] == [("regression", "")]
    assert "passed before and is fail now" in changes[-1].reason or any("fail now" in c.reason for c in changes)


def test_repeated_check_names_keep_every_entry():
    a, b = make_check("x", 0.5, upper=1.0), make_check("x", 0.7, upper=1.0)
    base = baseline_from_report(_report(CaseResult("A", "a", (), checks=[a, b])))
    assert sorted(base["cases"]["A"]["checks"]) == ["x", "x [2]"]
    worse = baseline_from_report(_report(CaseResult("A", "a", (), checks=[a, make_check("x", 0.9, upper=1.0)])))
    assert [(c.kind, c.check) for c in compare(base, worse) if c.kind != "unchanged"] == [("regression", "x [2]")]
