"""Calibration over seeds (`twinflow report --seeds K`): a check that fails more often than it states is flagged,
a calibrated one is not; the calibration's own false-alarm rate and its power are measured by simulation."""
import json

import numpy as np
import pytest

from verify import harness
from verify.calibration import LEVEL, _tally, calibrate
from verify.cli import main
from verify.harness import CaseResult, make_check


@pytest.fixture
def cases(monkeypatch):
    """t-noisy: one calibrated check, one that claims 1e-4 but fails half the time, one without a stated rate
    that fails one seed in four; t-fixed draws nothing."""
    def noisy(ctx):
        u = ctx.rng("u").random(3)
        ctx.add(make_check("calibrated", 0.0, upper=1.0, false_alarm=1e-4))
        ctx.add(make_check("overconfident", u[0], upper=0.5, false_alarm=1e-4))
        ctx.add(make_check("unstated", u[1], upper=0.75))

    def fixed(ctx):
        ctx.check("exact", 0.0, upper=1.0)
    monkeypatch.setitem(harness._REGISTRY, "t-noisy", harness.CaseSpec("t-noisy", "noisy", (), noisy))
    monkeypatch.setitem(harness._REGISTRY, "t-fixed", harness.CaseSpec("t-fixed", "fixed", (), fixed))


def test_overconfident_and_unstated_checks_are_flagged(cases):
    cal = calibrate(["t-noisy", "t-fixed"], range(12))
    by = {c.check: c for c in cal.checks}
    assert cal.stochastic == ["t-noisy"] and cal.deterministic == ["t-fixed"]
    assert "exact" not in by                           # deterministic: run for the first seed only, not tallied
    assert by["calibrated"].runs == 12 and not by["calibrated"].flagged and by["calibrated"].p_value == 1.0
    over = by["overconfident"]
    assert over.flagged and over.failures >= 3 and over.p_value < LEVEL / 2
    assert over.verdict == "fails more often than stated"
    assert len(over.failed_seeds) == over.failures and set(over.failed_seeds) <= set(range(12))
    unstated = by["unstated"]
    assert unstated.flagged == (unstated.failures > 0) and unstated.failures > 0   # seeds 0..11 give failures
    assert cal.status == "fail"


def test_cli_writes_the_calibration_and_exits_1_on_a_flag(cases, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--seeds", "6", "--case", "t-noisy", "--case", "t-fixed", "--out", "r"]) == 1
    text = capsys.readouterr().out
    assert "t-noisy: overconfident: failed" in text
    data = json.loads((tmp_path / "r" / "calibration.json").read_text())
    assert data["seeds"] == [0, 1, 2, 3, 4, 5] and data["status"] == "fail"
    assert "FAILS MORE OFTEN THAN STATED" in (tmp_path / "r" / "calibration.md").read_text()
    assert main(["report", "--seeds", "3", "--seed", "10", "--case", "t-fixed", "--out", "r2"]) == 0
    assert json.loads((tmp_path / "r2" / "calibration.json").read_text())["seeds"] == [10]   # nothing to rerun


def test_cli_rejects_bad_calibration_options(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["report", "--case", "mccann-geodesic", "--out", "r", "--seeds", "1"])
    assert exc.value.code == 2 and "--seeds: must be" in capsys.readouterr().err
    assert main(["report", "--case", "mccann-geodesic", "--out", "r", "--seeds", "3", "--baseline", "b.json"]) == 2
    assert "leave out --baseline" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def _simulate(rate: float, stated: float, seeds: int, checks: int, reps: int, rng) -> float:
    """Share of simulated calibrations that flag some check: ``checks`` checks failing with probability ``rate``
    each while stating ``stated``, over ``seeds`` seeds."""
    flagged = 0
    for _ in range(reps):
        fails = rng.random((seeds, checks)) < rate
        results = {s: [CaseResult("c", "c", (), [make_check(f"k{j}", float(fails[s, j]), upper=0.5,
                                                             false_alarm=stated) for j in range(checks)])]
                   for s in range(seeds)}
        out, _ = _tally(results, list(range(seeds)), LEVEL)
        flagged += any(c.flagged for c in out)
    return flagged / reps


def test_the_calibration_raises_at_most_its_stated_false_alarm_rate():
    """Twenty checks that fail exactly as often as they say (5 %), twenty seeds: the calibration flags some check
    in at most LEVEL = 1 % of 1000 simulated runs (+ 3 binomial standard errors; measured 0.4 %)."""
    share = _simulate(0.05, 0.05, seeds=20, checks=20, reps=1000, rng=np.random.default_rng(0))
    assert share <= LEVEL + 3 * np.sqrt(LEVEL * (1 - LEVEL) / 1000)


def test_the_calibration_catches_a_check_that_fails_one_run_in_ten():
    """Stated 1e-4, true 0.1, 20 seeds, alone: one failure already has p ≈ 2e-3 < 1 %, so the power is
    1 − 0.9²⁰ = 0.878 (measured 0.875 over 400 simulated runs; asserted within 3 standard errors)."""
    share = _simulate(0.1, 1e-4, seeds=20, checks=1, reps=400, rng=np.random.default_rng(1))
    assert abs(share - (1 - 0.9**20)) <= 3 * np.sqrt(0.878 * 0.122 / 400)
