"""benchmarks/thickness.py's margin and verdict: how far a failing check lies beyond its band, and when a mutant's
catch counts as thick (raised, several checks, or one at margin >= 2) or thin."""
import importlib.util
import math
import sys
from pathlib import Path

import pytest

_path = Path(__file__).resolve().parent.parent / "benchmarks" / "thickness.py"
_spec = importlib.util.spec_from_file_location("thickness_script", _path)
thickness = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("thickness_script", thickness)
_spec.loader.exec_module(thickness)


def check(value, lower=None, upper=None, reference=None):
    return {"name": "c", "value": value, "lower": lower, "upper": upper, "reference": reference}


@pytest.mark.parametrize("c, expected", [
    (check(3e-6, upper=1e-6, reference=0.0), 3.0),                 # an error bound: 3x the tolerance
    (check(1.5e-6, upper=1e-6), 1.5),                              # no reference: measured from 0
    (check(1.7, lower=1.85, upper=2.15), 2.0),                     # an order band 2 +- 0.15: 0.3 below its middle
    (check(2.2, lower=1.85, upper=2.15, reference=2.0), 4.0 / 3.0),
    (check(0.5, lower=0.9, reference=1.0), 5.0),                   # a lower bound, 0.1 allowed below 1
    (check(2.0, lower=1.85, upper=2.15), 0.0),                     # inside the band (an inconclusive verdict)
    (check(float("nan"), upper=1.0), math.inf),
    (check(1.0, upper=0.0, reference=0.0), math.inf),              # a band that allows no distance
    (check("nan", upper=1.0), math.inf),                           # non-finite values as the report's JSON has them
    (check(3.0, lower="-inf", upper=1.0, reference=0.0), 3.0),
])
def test_margin(c, expected):
    assert thickness.margin(c) == pytest.approx(expected)


def outcome(*failed, error=None, timeout=False):
    return {"mutant": "m", "timeout": timeout,
            "cases": {"a": {"error": error, "checks": 5, "seconds": 1.0, "failed": list(failed)}}}


@pytest.mark.parametrize("o, expected", [
    (outcome(check(1.9, upper=1.0)), "thin"),                       # one check, within twice its tolerance
    (outcome(check(2.0, upper=1.0)), "thick-margin"),
    (outcome(check(1.1, upper=1.0), check(1.1, upper=1.0)), "thick-several"),
    (outcome(error="NumericalError: mass lost"), "thick-error"),
    (outcome(), "passed"),
    (outcome(timeout=True), "timeout"),
])
def test_verdict(o, expected):
    assert thickness.verdict(o) == expected


def test_summary_counts_thin_catches_and_lists_them():
    outcomes = [dict(outcome(check(1.2, upper=1.0)), mutant="thin-one"), dict(outcome(error="boom"), mutant="raised"),
                dict(outcome(), mutant="no-failure")]
    rows = {o["mutant"]: {"diff": "-a\n+b"} for o in outcomes}
    meta = {"mutation": "m.json", "mutation_seed": 1, "seed": 2, "jobs": 1, "seconds": 3.0}
    summary, md = thickness.summarise(outcomes, rows, meta)
    assert (summary["judged"], summary["thick"]) == (2, 1)                # a mutant with no failure is not judged
    assert "`thin-one`" in md and "margin 1.2" in md and "`raised`" not in md


@pytest.mark.parametrize("args, words", [
    ([], "--mutation and --workdir are required"),
    (["--mutation", "/nonexistent/mutation.json", "--workdir", "/tmp"], "cannot read /nonexistent/mutation.json"),
])
def test_usage_errors_exit_2_with_one_line(args, words, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["thickness.py", *args])
    with pytest.raises(SystemExit) as exit_info:
        thickness.main()
    assert exit_info.value.code == 2 and words in capsys.readouterr().err
