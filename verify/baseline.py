"""Regression baselines: store today's check values, compare tomorrow's run with them.

A baseline file (JSON, schema :data:`SCHEMA`) holds every check of a report: value, status, acceptance band and,
for stochastic checks, the Monte Carlo standard error. :func:`compare` classifies every check of a new report
against it:

* **regression** — a check that passed and no longer does (fail or inconclusive), always; a check of a case that
  ran but is gone; a value that moved to the worse side by more than the tolerance;
* **improvement** — a value that moved to the better side by more than the tolerance, or a check that passes now
  and did not before;
* **new**, **not run** (a case of the baseline that this run did not include) and unchanged.

"Worse" follows the acceptance band: larger for an upper bound, smaller for a lower bound, farther from the
reference (or the band's middle) for a two-sided band, any change when there is no band. Tolerances:

* stochastic values (both runs give a standard error): a change is significant beyond
  ``z · sqrt(se_old² + se_new²)``, z = 3.29 by default (false alarm 10⁻³ per check, two-sided);
* deterministic values: beyond ``rtol · max(|old|, |new|) + band_fraction · |bound|``, rtol = 10⁻⁶ and
  band_fraction = 10⁻³ by default (a change far below the acceptance bound, e.g. round-off of another BLAS, is
  not a regression).

The defaults live in the file (``"tolerances"``) and can be overridden per case or per check by editing it (a
``"tolerances"`` object with any of ``rtol``, ``band_fraction``, ``z``); ``update`` keeps those overrides. Wall
times are never compared (they are not check values; ratios measured in one run can be checks). Files are written
atomically and the previous baseline is kept beside the new one as ``FILE.prev``.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verify.files import write_set

__all__ = ["SCHEMA", "DEFAULT_TOLERANCES", "BaselineError", "Change", "baseline_from_report", "merge", "load_baseline",
           "load_results", "write_baseline", "compare", "render_changes", "has_regression"]

SCHEMA = "twinflow-baseline/1"
DEFAULT_TOLERANCES = {"rtol": 1e-6, "band_fraction": 1e-3, "z": 3.29}
_REPORT_SCHEMA = "twinflow-report/"


class BaselineError(ValueError):
    """A baseline or report file that cannot be used (missing, corrupt, foreign, newer schema)."""


def _number(x: Any) -> float | None:
    if x is None:
        return None
    if isinstance(x, str):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(x)
    return float(x)


def _check_entry(c: dict) -> dict:
    entry = {"value": c.get("value"), "status": c.get("status", "pass" if c.get("passed") else "fail"),
             "lower": c.get("lower"), "upper": c.get("upper"), "reference": c.get("reference"),
             "standard_error": c.get("standard_error")}
    return {k: v for k, v in entry.items() if v is not None or k in ("value", "status")}


def baseline_from_report(report: dict, previous: dict | None = None) -> dict:
    """A baseline from a report dict (report.json); tolerance overrides of ``previous`` are kept."""
    if report.get("schema", "").split("/")[0] + "/" != _REPORT_SCHEMA:
        raise BaselineError("not a twinflow report (schema missing or foreign)")
    cases: dict[str, Any] = {}
    for case in report.get("cases", []):
        checks: dict[str, Any] = {}
        for c in case.get("checks", []):
            name, k = c["name"], 2
            while name in checks:   # a name that repeats within a case gets a number, so no entry is lost
                name, k = f"{c['name']} [{k}]", k + 1
            checks[name] = _check_entry(c)
        cases[case["case"]] = {"status": case.get("status", "pass" if case.get("passed") else "fail"),
                               "checks": checks}
    return merge({"schema": SCHEMA, "created": report.get("created"), "mode": report.get("mode"),
                  "seed": report.get("seed"), "versions": report.get("versions", {}), "cases": cases}, previous)


def merge(new: dict, previous: dict | None) -> dict:
    """``new``'s cases over ``previous``: the cases ``new`` lacks are kept as they were, and the hand-written
    tolerance overrides of ``previous`` (file, case and check) carry over."""
    previous = previous or {}
    old_cases = previous.get("cases", {})
    cases = dict(new.get("cases", {}))
    for name, case in old_cases.items():
        cases.setdefault(name, case)
    for name, case in cases.items():
        old = old_cases.get(name, {})
        if "tolerances" in old:
            case["tolerances"] = old["tolerances"]
        for check_name, entry in case["checks"].items():
            override = old.get("checks", {}).get(check_name, {}).get("tolerances")
            if override:
                entry["tolerances"] = override
    return {**new, "schema": SCHEMA, "tolerances": dict(previous.get("tolerances", DEFAULT_TOLERANCES)),
            "cases": cases}


def _read_json(path: Path, what: str) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"{path}: no such {what} file; check the path (a baseline is written by "
                            "`twinflow report --baseline FILE --update-baseline`)") from None
    except IsADirectoryError:
        raise BaselineError(f"{path}: is a directory, not a {what} file; give the file's path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: cannot read the {what} file ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}: corrupt {what} file (not JSON: {exc.msg} at line {exc.lineno}); restore it, or "
                            "write a new one with --update-baseline") from None
    if not isinstance(data, dict):
        raise BaselineError(f"{path}: not a twinflow {what} file (a JSON object is expected); give a report.json or "
                            "a file written by --update-baseline")
    return data


def load_baseline(path: str | os.PathLike) -> dict:
    """Read and validate a baseline file: a clear BaselineError for a missing, corrupt, foreign or newer file."""
    path = Path(path)
    data = _read_json(path, "baseline")
    schema = data.get("schema")
    if not isinstance(schema, str) or not schema.startswith("twinflow-baseline/"):
        raise BaselineError(f"{path}: not a twinflow baseline (schema {schema!r}); a baseline is written by "
                            "`twinflow report --baseline FILE --update-baseline`")
    try:
        version = int(schema.split("/", 1)[1])
    except ValueError:
        raise BaselineError(f"{path}: unknown baseline schema {schema!r}") from None
    if version > int(SCHEMA.split("/")[1]):
        raise BaselineError(f"{path}: baseline schema {schema} is newer than this twinflow reads ({SCHEMA}); "
                            "upgrade twinflow")
    fix = f"restore it (e.g. from {path.name}.prev) or write a new one with --update-baseline"
    if not isinstance(data.get("cases"), dict):
        raise BaselineError(f"{path}: corrupt baseline (no 'cases' object); {fix}")
    _check_tolerances(data.get("tolerances", {}), path, "the file's", fix)
    for name, case in data["cases"].items():
        if not isinstance(case, dict) or not isinstance(case.get("checks"), dict):
            raise BaselineError(f"{path}: corrupt baseline (case {name!r} has no 'checks' object); {fix}")
        _check_tolerances(case.get("tolerances", {}), path, f"case {name!r}", fix)
        for check, entry in case["checks"].items():
            if not isinstance(entry, dict) or "value" not in entry:
                raise BaselineError(f"{path}: corrupt baseline (case {name!r}, check {check!r} is not an object with "
                                    f"a 'value'); {fix}")
            _check_tolerances(entry.get("tolerances", {}), path, f"case {name!r}, check {check!r}", fix)
    data.setdefault("tolerances", dict(DEFAULT_TOLERANCES))
    return data


def _check_tolerances(tol: Any, path: Path, where: str, fix: str) -> None:
    if not isinstance(tol, dict):
        raise BaselineError(f"{path}: {where} tolerances must be an object such as {{\"rtol\": 1e-6}}; {fix}")
    for key, value in tol.items():
        if key not in DEFAULT_TOLERANCES:
            raise BaselineError(f"{path}: {where} tolerances: unknown key {key!r} "
                                f"(use {', '.join(DEFAULT_TOLERANCES)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise BaselineError(f"{path}: {where} tolerances: {key} must be a finite number ≥ 0, got {value!r}")


def load_results(path: str | os.PathLike) -> dict:
    """A baseline file, or a report.json turned into a baseline (for ``twinflow compare``)."""
    path = Path(path)
    data = _read_json(path, "report or baseline")
    schema = data.get("schema", "")
    if isinstance(schema, str) and schema.startswith(_REPORT_SCHEMA):
        return baseline_from_report(data)
    return load_baseline(path)


def write_baseline(path: str | os.PathLike, data: dict) -> Path | None:
    """Write ``data`` to ``path``; an existing file is kept as ``path.prev``, exactly as it was. Both are replaced
    as one set (:func:`verify.files.write_set`). Returns the kept file."""
    path = Path(path)
    files: dict[str, bytes | str] = {}
    kept = None
    if path.exists():
        kept = path.with_name(path.name + ".prev")
        files[kept.name] = path.read_bytes()
    files[path.name] = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    write_set(path.parent, files)
    return kept


@dataclass(frozen=True)
class Change:
    """One check of the comparison."""

    case: str
    check: str
    kind: str                 # "regression", "improvement", "new", "not run", "unchanged"
    old: float | None
    new: float | None
    limit: float | None       # the tolerance the change was judged against
    reason: str

    def to_dict(self) -> dict:
        """JSON-ready (non-finite values as "nan", "inf", "-inf")."""
        from verify.harness import json_float

        return {k: json_float(v) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def _tolerances(baseline: dict, case: dict, entry: dict) -> dict:
    tol = dict(DEFAULT_TOLERANCES)
    tol.update(baseline.get("tolerances", {}))
    tol.update(case.get("tolerances", {}))
    tol.update(entry.get("tolerances", {}))
    return tol


def _badness(entry: dict, value: float) -> float:
    """How far into the "worse" direction ``value`` lies (larger is worse)."""
    lo, hi, ref = _number(entry.get("lower")), _number(entry.get("upper")), _number(entry.get("reference"))
    if lo is not None and hi is not None:
        centre = ref if ref is not None else 0.5 * (lo + hi)
        return abs(value - centre)
    if hi is not None:
        return value
    if lo is not None:
        return -value
    return math.nan  # no band: direction unknown


def _compare_check(case: str, name: str, old: dict, new: dict, tol: dict) -> Change:
    ov, nv = _number(old.get("value")), _number(new.get("value"))
    os_, ns = old.get("status"), new.get("status")
    if os_ == "pass" and ns != "pass":
        return Change(case, name, "regression", ov, nv, None, f"passed before, {ns} now")
    if ov is None or nv is None or not (math.isfinite(ov) and math.isfinite(nv)):
        same = (ov == nv) or (ov is not None and nv is not None and math.isnan(ov) and math.isnan(nv))
        if same:
            return Change(case, name, "unchanged", ov, nv, None, "")
        kind = "improvement" if ns == "pass" and os_ != "pass" else "regression"
        return Change(case, name, kind, ov, nv, None, f"value {ov} → {nv}")
    se_o, se_n = _number(old.get("standard_error")), _number(new.get("standard_error"))
    if se_o is not None and se_n is not None:
        limit = tol["z"] * math.sqrt(se_o ** 2 + se_n ** 2)
        how = f"beyond {tol['z']:g} combined standard errors ({limit:.3g})"
    else:
        bounds = [abs(b) for b in (_number(new.get("lower")), _number(new.get("upper"))) if b is not None]
        limit = tol["rtol"] * max(abs(ov), abs(nv)) + tol["band_fraction"] * (max(bounds) if bounds else 0.0)
        how = f"beyond the deterministic tolerance {limit:.3g}"
    if abs(nv - ov) <= limit:
        if ns == "pass" and os_ != "pass":
            return Change(case, name, "improvement", ov, nv, limit, f"{os_} before, passes now")
        return Change(case, name, "unchanged", ov, nv, limit, "")
    worse = _badness(new, nv) - _badness(new, ov)
    if math.isnan(worse):
        return Change(case, name, "regression", ov, nv, limit, f"changed {how} (no acceptance band to tell better "
                                                               "from worse)")
    if worse > 0:
        return Change(case, name, "regression", ov, nv, limit, f"worse {how}")
    return Change(case, name, "improvement", ov, nv, limit, f"better {how}")


def compare(baseline: dict, new: dict) -> list[Change]:
    """Every check of ``new`` (a baseline dict, e.g. from :func:`baseline_from_report`) against ``baseline``."""
    changes: list[Change] = []
    new_cases = new.get("cases", {})
    for case_name, old_case in baseline.get("cases", {}).items():
        if case_name not in new_cases:
            changes.append(Change(case_name, "", "not run", None, None, None, "case not in this run"))
            continue
        new_checks = new_cases[case_name].get("checks", {})
        first = len(changes)
        for check_name, old in old_case.get("checks", {}).items():
            if check_name not in new_checks:
                changes.append(Change(case_name, check_name, "regression", _number(old.get("value")), None, None,
                                      "check missing from this run"))
                continue
            tol = _tolerances(baseline, old_case, old)
            changes.append(_compare_check(case_name, check_name, old, new_checks[check_name], tol))
        old_status, new_status = old_case.get("status"), new_cases[case_name].get("status")
        explained = any(c.kind == "regression" for c in changes[first:])
        if old_status == "pass" and new_status not in (None, "pass") and not explained:
            changes.append(Change(case_name, "", "regression", None, None, None,   # e.g. a crash after its checks
                                  f"the case passed before and is {new_status} now"))
        for check_name, entry in new_checks.items():
            if check_name not in old_case.get("checks", {}):
                changes.append(Change(case_name, check_name, "new", None, _number(entry.get("value")), None,
                                      "not in the baseline"))
    for case_name, case in new_cases.items():
        if case_name not in baseline.get("cases", {}):
            for check_name, entry in case.get("checks", {}).items():
                changes.append(Change(case_name, check_name, "new", None, _number(entry.get("value")), None,
                                      "case not in the baseline"))
    return changes


def has_regression(changes: list[Change]) -> bool:
    """True when some change is a regression (what makes ``twinflow report --baseline`` exit 1)."""
    return any(c.kind == "regression" for c in changes)


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def render_changes(changes: list[Change], *, baseline_seed: Any = None, new_seed: Any = None) -> str:
    """A table of regressions, improvements and new checks, then counts."""
    order = {"regression": 0, "improvement": 1, "new": 2, "not run": 3}
    shown = sorted((c for c in changes if c.kind != "unchanged"), key=lambda c: (order[c.kind], c.case, c.check))
    counts = {k: sum(c.kind == k for c in changes) for k in ("regression", "improvement", "new", "not run",
                                                            "unchanged")}
    lines = []
    if baseline_seed != new_seed:
        lines.append(f"note: the baseline ran with seed {baseline_seed}, this run with seed {new_seed}; stochastic "
                     "checks without a standard error are compared as deterministic values")
    if shown:
        lines.append(f"{'':<12} {'case':<28} {'old':>11} {'new':>11}  check — reason")
        for c in shown:
            lines.append(f"{c.kind.upper():<12} {c.case:<28} {_fmt(c.old):>11} {_fmt(c.new):>11}  "
                         f"{c.check or '(whole case)'} — {c.reason}")
    lines.append(", ".join(f"{n} {k}{'s' if n != 1 and k in ('regression', 'improvement') else ''}"
                           for k, n in counts.items()))
    return "\n".join(lines)
