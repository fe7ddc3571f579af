"""Are the stochastic checks calibrated? Rerun the cases over K seeds and compare each check's observed failure
frequency with the false-alarm rate it states.

A check that states a rate α (``Check.false_alarm``: the probability that it fails although the scheme is right)
fails, over K independent seeds, a Binomial(K, α) number of times. The one-sided exact binomial test
p = P(X ≥ observed | K, α) measures the evidence that the check fails more often than it says; a check is
flagged when p < ``level`` / m (Bonferroni over the m checks tested, so the calibration itself raises a false
alarm with probability ≤ ``level``, 1 % by default). A check that states no rate is expected never to fail: one
failure flags it. "Inconclusive" verdicts are counted apart; they are not failures.

K seeds cannot confirm a rate of 10⁻⁴ (that needs ~10⁴ runs) but they do catch checks that fail far more often
than they claim: with K = 20 and a stated rate of 10⁻⁴, two failures give p ≈ 2·10⁻⁶, below the threshold even
among 1000 checks, so a check that really fails one run in ten is flagged with probability ≥ 0.61
(P(X ≥ 2) for Binomial(20, 0.1)). The Clopper–Pearson 95 % upper bound of each failure rate is reported too.

Only stochastic cases (those that drew from ``ctx.rng`` in the first run) are rerun; the others have the same
values under every seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from scipy import stats

from verify.executors import run_cases
from verify.harness import CaseResult
from verify.report import md_cell

__all__ = ["CheckCalibration", "Calibration", "calibrate", "LEVEL"]

LEVEL = 0.01   # probability that the calibration flags some check although every check meets its stated rate


@dataclass(frozen=True)
class CheckCalibration:
    """One check over the seeds: runs, failures, inconclusive verdicts and its stated false-alarm rate."""

    case: str
    check: str
    runs: int
    failures: int
    inconclusive: int
    stated: float | None
    p_value: float | None = None       # one-sided P(X ≥ failures | runs, stated); None without a stated rate
    flagged: bool = False
    failed_seeds: tuple[int, ...] = ()  # rerun one with `twinflow run CASE --seed S`

    @property
    def upper_95(self) -> float:
        """Clopper–Pearson 95 % upper bound of the failure rate."""
        if self.failures >= self.runs:
            return 1.0
        return float(stats.beta.ppf(0.95, self.failures + 1, self.runs - self.failures))

    @property
    def verdict(self) -> str:
        if not self.flagged:
            return "consistent" if self.stated is not None else "never failed"
        return "fails more often than stated" if self.stated is not None else "fails without a stated rate"

    def to_dict(self) -> dict:
        return {"case": self.case, "check": self.check, "runs": self.runs, "failures": self.failures,
                "inconclusive": self.inconclusive, "stated_false_alarm": self.stated, "p_value": self.p_value,
                "upper_95": self.upper_95, "flagged": self.flagged, "verdict": self.verdict,
                "failed_seeds": list(self.failed_seeds)}


@dataclass
class Calibration:
    """The calibration of every check of the stochastic cases over ``seeds``."""

    seeds: list[int]
    quick: bool
    stochastic: list[str]
    deterministic: list[str]
    checks: list[CheckCalibration] = field(default_factory=list)
    crashed: dict[str, int] = field(default_factory=dict)   # case → runs that raised
    interrupted: bool = False
    level: float = LEVEL

    @property
    def flagged(self) -> list[CheckCalibration]:
        return [c for c in self.checks if c.flagged]

    @property
    def status(self) -> str:
        return "fail" if self.flagged or self.crashed else "pass"

    def to_dict(self) -> dict:
        return {"kind": "calibration", "seeds": self.seeds, "mode": "quick" if self.quick else "full",
                "level": self.level, "status": self.status, "interrupted": self.interrupted,
                "stochastic_cases": self.stochastic, "deterministic_cases": self.deterministic,
                "crashed": self.crashed, "checks": [c.to_dict() for c in self.checks]}

    def markdown(self) -> str:
        k = len(self.seeds)
        tested = sum(c.stated is not None for c in self.checks)
        lines = [f"# twinflow calibration: {self.status.upper()}", "",
                 f"{len(self.stochastic)} stochastic cases rerun over {k} seeds ({self.seeds[0]}…{self.seeds[-1]}, "
                 f"{'quick' if self.quick else 'full'} mode); {len(self.checks)} checks, {tested} with a stated "
                 f"false-alarm rate. A check is flagged when the one-sided binomial p-value of its failures is "
                 f"below {self.level:g} / {max(tested, 1)} (Bonferroni), or when it states no rate and failed.",
                 "" if not self.interrupted else "\nINTERRUPTED: the seeds that finished are counted.\n",
                 "| case | check | runs | failures | inconclusive | stated rate | p-value | 95 % upper | verdict |",
                 "|---|---|---|---|---|---|---|---|---|"]
        order = sorted(self.checks, key=lambda c: (not c.flagged, c.case, c.check))
        for c in order:
            p = "" if c.p_value is None else f"{c.p_value:.3g}"
            stated = "—" if c.stated is None else f"{c.stated:g}"
            verdict = c.verdict.upper() if c.flagged else c.verdict
            if c.failed_seeds:
                verdict += " (seeds " + ", ".join(str(s) for s in c.failed_seeds[:5]) + (
                    " …)" if len(c.failed_seeds) > 5 else ")")
            lines.append(f"| {c.case} | {md_cell(c.check)} | {c.runs} | {c.failures} | {c.inconclusive} | {stated} | {p} | "
                         f"{c.upper_95:.3g} | {verdict} |")
        if self.crashed:
            lines += ["", "Cases that raised: " + ", ".join(f"{n} ({r} of {k} runs)" for n, r in self.crashed.items())]
        if self.deterministic:
            lines += ["", "Not rerun (no random draws): " + ", ".join(self.deterministic)]
        return "\n".join(lines) + "\n"


def _tally(results: dict[int, list[CaseResult]], seeds: list[int], level: float) -> tuple[list[CheckCalibration],
                                                                                             dict[str, int]]:
    counts: dict[tuple[str, str], list] = {}
    crashed: dict[str, int] = {}
    for seed in seeds:
        for r in results.get(seed, []):
            if r.error is not None:
                crashed[r.case] = crashed.get(r.case, 0) + 1
            for c in r.checks:
                entry = counts.setdefault((r.case, c.name), [0, 0, 0, c.false_alarm, []])
                entry[0] += 1
                entry[1] += c.status == "fail"
                entry[2] += c.status == "inconclusive"
                if c.status == "fail":
                    entry[4].append(seed)
    tested = max(1, sum(v[3] is not None for v in counts.values()))
    out = []
    for (case, name), (runs, fails, inconclusive, stated, seeds) in counts.items():
        if stated is None:
            out.append(CheckCalibration(case, name, runs, fails, inconclusive, None, None, fails > 0, tuple(seeds)))
            continue
        p = 1.0 if fails == 0 else float(stats.binom.sf(fails - 1, runs, stated))
        out.append(CheckCalibration(case, name, runs, fails, inconclusive, stated, p, p < level / tested,
                                    tuple(seeds)))
    return out, crashed


def calibrate(names: Sequence[str], seeds: Sequence[int], *, quick: bool = False, jobs: int = 1,
              executor: str = "processes", scheduler: str | None = None, uploads: Sequence[str] = (),
              level: float = LEVEL, on_seed: Callable[[int, list[CaseResult]], None] | None = None) -> Calibration:
    """Run ``names`` under every seed (the stochastic ones only after the first seed) and tally their checks.

    ``seeds``: at least 2 distinct non-negative integers. ``on_seed(seed, results)`` is told after each seed.
    Stopped by Ctrl-C or SIGTERM, the seeds that finished are counted and ``interrupted`` is set."""
    seeds = [int(s) for s in seeds]
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds must be at least two distinct non-negative integers, got {seeds!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    results: dict[int, list[CaseResult]] = {}
    stochastic = list(names)
    interrupted = False
    for i, seed in enumerate(seeds):
        outcome = run_cases(stochastic, quick=quick, seed=seed, jobs=jobs, executor=executor, scheduler=scheduler,
                            uploads=uploads)
        if outcome.interrupted:
            interrupted = True
            break
        if i == 0:   # later seeds rerun only the cases that drew random numbers (or crashed)
            stochastic = [r.case for r in outcome.results if r.stochastic or r.error is not None]
        results[seed] = [r for r in outcome.results if r.case in stochastic]
        if on_seed is not None:
            on_seed(seed, results[seed])
        if not stochastic:
            break
    done = [s for s in seeds if s in results]
    checks, crashed = _tally(results, done, level)
    deterministic = [n for n in names if n not in stochastic]
    return Calibration(done, quick, stochastic, deterministic, checks, crashed, interrupted, level)
