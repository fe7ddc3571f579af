"""Verification reports: ``report.json`` (versioned schema), ``report.md`` and a self-contained
``index.html`` with inline SVG plots. The three files are replaced as one set (:mod:`verify.files`), so an
interrupted run never leaves a half-written report or a new report.json beside an old index.html; other files in
the directory are left alone."""
from __future__ import annotations

import datetime as _dt
import html
import io
import json
import os
import platform
from pathlib import Path
from typing import Iterable

from verify.harness import CaseResult

__all__ = ["SCHEMA", "build_report", "write_report", "render_markdown", "render_html"]

SCHEMA = "twinflow-report/1"


def _versions() -> dict[str, str]:
    import numpy
    import scipy
    import sympy

    import verify

    return {"twinflow": verify.__version__, "python": platform.python_version(),
            "numpy": numpy.__version__, "scipy": scipy.__version__, "sympy": sympy.__version__}


def _status(statuses: list[str]) -> str:
    if not statuses or "fail" in statuses:
        return "fail"
    return "pass" if all(s == "pass" for s in statuses) else "inconclusive"


def build_report(results: Iterable[CaseResult], *, quick: bool, seconds: float, seed: int | None = None,
                 not_run: Iterable[str] = (), state: str = "complete") -> dict:
    """The report as a JSON-ready dict (schema :data:`SCHEMA`). ``seed`` is the run's seed (None: each case's
    fixed default seed, recorded per case). ``state``: "complete", "running" (a partial report written while the
    run goes on) or "interrupted"; ``not_run`` lists the cases that have not run (yet)."""
    if state not in ("complete", "running", "interrupted"):
        raise ValueError(f"state must be 'complete', 'running' or 'interrupted', got {state!r}")
    cases = [r.to_dict() for r in results]
    checks = [c for r in cases for c in r["checks"]]
    return {
        "state": state,
        "not_run": list(not_run),
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if quick else "full",
        "seed": seed,
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "cpus": os.cpu_count()},
        "versions": _versions(),
        "seconds": round(seconds, 3),
        "summary": {"cases": len(cases), "cases_passed": sum(r["passed"] for r in cases),
                    "checks": len(checks), "checks_passed": sum(c["passed"] for c in checks),
                    "passed": bool(cases) and all(r["passed"] for r in cases),
                    "status": _status([r["status"] for r in cases])},
        "cases": cases,
    }


def _fmt(x) -> str:
    if x is None:
        return ""
    if isinstance(x, str):
        return x
    return f"{x:.4g}"


def _note_text(v: object) -> str:
    """A note as people read it: 4 significant digits, lists of numbers as "a, b, c"."""
    if isinstance(v, float):
        return _fmt(v)
    if isinstance(v, list):
        return ", ".join(_fmt(x) if isinstance(x, float) else str(x) for x in v)
    return str(v)


def _digest(report: dict) -> list[tuple[str, dict]]:
    """(case, check) for every check that did not pass, failures first: what a reader should see first."""
    rows = [(r["case"], c) for r in report["cases"] for c in r["checks"] if _check_status(c) != "pass"]
    return sorted(rows, key=lambda rc: _check_status(rc[1]) != "fail")


def _band(c: dict) -> str:
    lo, hi = c["lower"], c["upper"]
    if lo is not None and hi is not None:
        return f"[{_fmt(lo)}, {_fmt(hi)}]"
    if hi is not None:
        return f"≤ {_fmt(hi)}"
    if lo is not None:
        return f"≥ {_fmt(lo)}"
    return "finite"


_WORD = {"pass": "pass", "fail": "**FAIL**", "inconclusive": "*inconclusive*"}
_TITLE = {"pass": "PASSED", "fail": "FAILED", "inconclusive": "INCONCLUSIVE"}


def _case_status(r: dict) -> str:
    return r.get("status", "pass" if r["passed"] else "fail")


def _check_status(c: dict) -> str:
    return c.get("status", "pass" if c["passed"] else "fail")


def _seed_text(report: dict) -> str:
    seed = report.get("seed")
    return "each case's default seed" if seed is None else f"seed {seed}"


def _state_text(report: dict) -> str:
    """One sentence for a partial report, "" for a complete one."""
    state, not_run = report.get("state", "complete"), report.get("not_run", [])
    if state == "complete":
        return ""
    head = "RUNNING: this report is rewritten as each case finishes" if state == "running" else \
        "INTERRUPTED: the run was stopped; the cases below finished"
    return f"{head}; {len(not_run)} case{'s' if len(not_run) != 1 else ''} did not run: {', '.join(not_run)}."


def md_cell(text: object) -> str:
    """Text for a Markdown table cell: "|" escaped (check names such as "|mean - exact|"), one line."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict) -> str:
    """report.md: the verdict, the digest of what needs attention, then each case's checks and notes."""
    s = report["summary"]
    verdict = _TITLE[s.get("status", "pass" if s["passed"] else "fail")]
    state = _state_text(report)
    lines = [f"# twinflow verification report: {verdict}", "", *([f"**{state}**", ""] if state else []),
             f"{s['cases_passed']}/{s['cases']} cases and {s['checks_passed']}/{s['checks']} checks "
             f"passed in {report['seconds']:.1f} s ({report['mode']} mode, {_seed_text(report)}, "
             f"{report['created']}).", "",
             "| case | result | checks | seconds | title |", "|---|---|---|---|---|"]
    digest = _digest(report)
    errors = [r for r in report["cases"] if r["error"]]
    if digest or errors:
        head = ["## Needs attention", "", "| case | check | value | accepted | result |", "|---|---|---|---|---|"]
        lines[-2:-2] = head + [f"| `{case}` | {md_cell(c['name'])} | {_fmt(c['value'])} | {_band(c)} | "
                               f"{_WORD[_check_status(c)]} |" for case, c in digest] + \
            [f"| `{r['case']}` | (the case raised) | | | **FAIL** |" for r in errors] + [""]
    for r in report["cases"]:
        ok = sum(c["passed"] for c in r["checks"])
        lines.append(f"| `{r['case']}` | {_WORD[_case_status(r)]} | "
                     f"{ok}/{len(r['checks'])} | {r['seconds']:.2f} | {md_cell(r['title'])} |")
    for r in report["cases"]:
        lines += ["", f"## `{r['case']}`: {r['title']}", ""]
        if r["error"]:
            lines += ["```", r["error"].rstrip(), "```", ""]
        lines += ["| check | value | accepted | result | detail |", "|---|---|---|---|---|"]
        for c in r["checks"]:
            lines.append(f"| {md_cell(c['name'])} | {_fmt(c['value'])} | {_band(c)} | "
                         f"{_WORD[_check_status(c)]} | {md_cell(c['detail'])} |")
        for k, v in r["notes"].items():
            lines.append(f"\n- {k}: {_note_text(v)}")
    return "\n".join(lines) + "\n"


def _svg(fig) -> str:  # noqa: ANN001 - a matplotlib Figure
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def _series_label(s: dict) -> str | None:
    """The legend entry of a series: its label and, on a convergence plot, the fitted and accepted slopes."""
    sl = s.get("slopes")
    if not sl:
        return s["label"] or None
    lo, hi = (float(v) for v in sl["interval"])
    a, b = (float(v) for v in sl["accepted"])
    text = f"slope {float(sl['fitted']):.2f} [{lo:.2f}, {hi:.2f}], claimed {float(sl['claimed']):g} [{a:.2f}, {b:.2f}]"
    return f"{s['label']}: {text}" if s["label"] else text


def _draw_slopes(ax, x: list[float], y: list[float], slopes: dict, color: str) -> None:  # noqa: ANN001
    """Fitted slope through the points, claimed slope and its accepted band (shaded) through the finest point."""
    import numpy as np

    h, e = np.asarray(x), np.asarray(y)
    ok = (h > 0) & (e > 0) & np.isfinite(h) & np.isfinite(e)
    if ok.sum() < 2:
        return
    h, e = h[ok], e[ok]
    p, q = float(slopes["fitted"]), float(slopes["claimed"])
    lo, hi = (float(v) for v in slopes["accepted"])
    c = float(np.exp(np.mean(np.log(e) - p * np.log(h))))
    grid = np.geomspace(h.min(), h.max(), 50)
    finest = int(np.argmin(h))
    h0, e0 = h[finest], e[finest]
    ax.plot(grid, c * grid ** p, "--", color=color, linewidth=1)
    ax.plot(grid, e0 * (grid / h0) ** q, ":", color="black", linewidth=1)
    ymin, ymax = ax.get_ylim()
    top = max(ymax, float(e.max()) * 2.0)
    lower = e0 * (grid / h0) ** lo if np.isfinite(lo) else np.full_like(grid, ymin)
    upper = np.minimum(e0 * (grid / h0) ** hi, top) if np.isfinite(hi) else np.full_like(grid, top)
    ax.fill_between(grid, np.maximum(lower, ymin * 1e-3), upper, color=color, alpha=0.12, linewidth=0)
    ax.set_ylim(ymin, ymax)


def _picture_svg(image: dict) -> str:
    """Panels on one colour scale and the difference of two of them on a diverging scale of its own."""
    import matplotlib.pyplot as plt
    import numpy as np

    panels = [(p["label"], np.asarray(p["values"], dtype=float)) for p in image["panels"]]
    values = dict(panels)
    diff = image.get("difference")
    n = len(panels) + (diff is not None)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n + 0.6, 2.9), squeeze=False)
    width = 2.6 * n + 0.6
    fig.subplots_adjust(left=0.4 / width, right=1 - 0.55 / width, bottom=0.17, top=0.83, wspace=0.3)  # fixed: fast
    axes = axes[0]
    vmin = min(float(np.nanmin(v)) for _, v in panels)
    vmax = max(float(np.nanmax(v)) for _, v in panels)
    extent = image["extent"]
    for ax, (label, v) in zip(axes, panels):
        shown = ax.imshow(v.T, origin="lower", extent=extent, vmin=vmin, vmax=vmax, cmap="viridis",
                          aspect="auto", interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(image["xlabel"], fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel(image["ylabel"], fontsize=8)
    fig.colorbar(shown, ax=list(axes[:len(panels)]), fraction=0.03, pad=0.02)
    if diff is not None:
        d = values[diff[0]] - values[diff[1]]
        m = float(np.nanmax(np.abs(d))) or 1.0
        ax = axes[-1]
        shown = ax.imshow(d.T, origin="lower", extent=extent, vmin=-m, vmax=m, cmap="RdBu_r", aspect="auto",
                          interpolation="nearest")
        ax.set_title(f"{diff[0]} − {diff[1]}", fontsize=9)
        ax.set_xlabel(image["xlabel"], fontsize=8)
        ax.tick_params(labelsize=7)
        bar = fig.colorbar(shown, ax=ax, fraction=0.08, pad=0.04)
        bar.formatter.set_powerlimits((-2, 3))   # small differences as "1.5" under a "1e-3" label
        bar.update_ticks()
    fig.suptitle(image["name"], fontsize=10)
    return _svg(fig)


def case_svgs(case: dict) -> list[str]:
    """One inline SVG per distinct series name of the case, then one per density picture (matplotlib, Agg)."""
    if not case["series"] and not case.get("images"):
        return []
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    groups: dict[str, list[dict]] = {}
    for s in case["series"]:
        groups.setdefault(s["name"], []).append(s)
    out = []
    for name, series in groups.items():
        fig, ax = plt.subplots(figsize=(5.0, 3.4))
        first = series[0]
        ax.set_xscale("log" if first["logx"] else "linear")
        ax.set_yscale("log" if first["logy"] else "linear")
        lines = []
        for s in series:
            x = [float(v) for v in s["x"]]
            y = [float(v) for v in s["y"]]
            lines.append(ax.plot(x, y, marker="o", markersize=3, label=_series_label(s))[0])
        for s, line in zip(series, lines):
            if s.get("slopes") and first["logx"] and first["logy"]:
                _draw_slopes(ax, [float(v) for v in s["x"]], [float(v) for v in s["y"]], s["slopes"],
                             line.get_color())
        if first["logx"]:
            ax.xaxis.set_minor_formatter(NullFormatter())   # crowded minor labels
        ax.set_xlabel(first["xlabel"])
        ax.set_ylabel(first["ylabel"])
        ax.set_title(name + ("\n(dashed: fitted slope; dotted: claimed; shaded: accepted slopes)"
                             if any(s.get("slopes") for s in series) else ""), fontsize=9)
        if any(_series_label(s) for s in series):
            ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
        two_lines = "\n" in ax.get_title()
        fig.subplots_adjust(left=0.16, right=0.97, bottom=0.15, top=0.82 if two_lines else 0.9)   # fixed: fast
        out.append(_svg(fig))
    out.extend(_picture_svg(image) for image in case.get("images", []))
    return out


_CSS = """body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;
font-size:.9rem;text-align:left}th{background:#f3f3f3}.pass{color:#1a7f37}.fail{color:#cf222e;font-weight:bold}
.inconclusive{color:#9a6700;font-weight:bold}
pre{background:#f6f8fa;padding:.5rem;overflow:auto}.plots{display:flex;flex-wrap:wrap;gap:1rem}
.plots svg{max-width:32rem;height:auto}"""


def render_html(report: dict, *, plots: bool = True, svgs: dict[str, list[str]] | None = None) -> str:
    """The self-contained HTML report (``plots=False``: without the plots, for the partial reports of a run).
    ``svgs``: plots already drawn, by case (e.g. by the workers of a parallel run); the others are drawn here."""
    e = html.escape
    s = report["summary"]
    state = _state_text(report)
    status = s.get("status", "pass" if s["passed"] else "fail")
    verdict = _TITLE[status]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>twinflow report: {verdict}</title><style>{_CSS}</style></head><body>",
             f"<h1>twinflow verification report: <span class='{status}'>"
             f"{verdict}</span></h1>",
             f"<p>{s['cases_passed']}/{s['cases']} cases and {s['checks_passed']}/{s['checks']} checks "
             f"passed in {report['seconds']:.1f} s ({e(report['mode'])} mode, {e(_seed_text(report))}, "
             f"{e(report['created'])}; "
             f"{e(', '.join(f'{k} {v}' for k, v in report['versions'].items()))}).</p>",
             *([f"<p class='inconclusive'>{e(state)}</p>"] if state else [])]
    digest = _digest(report)
    errors = [r for r in report["cases"] if r["error"]]
    if digest or errors:
        parts.append("<h2>Needs attention</h2><table><tr><th>case</th><th>check</th><th>value</th><th>accepted</th>"
                     "<th>result</th></tr>")
        for case, c in digest:
            cls = _check_status(c)
            parts.append(f"<tr><td><a href='#{e(case)}'>{e(case)}</a></td><td>{e(c['name'])}</td>"
                         f"<td>{e(_fmt(c['value']))}</td><td>{e(_band(c))}</td>"
                         f"<td class='{cls}'>{cls if cls != 'fail' else 'FAIL'}</td></tr>")
        for r in errors:
            parts.append(f"<tr><td><a href='#{e(r['case'])}'>{e(r['case'])}</a></td><td>(the case raised)</td>"
                         "<td></td><td></td><td class='fail'>FAIL</td></tr>")
        parts.append("</table>")
    parts.append("<table><tr><th>case</th><th>result</th><th>checks</th><th>seconds</th><th>title</th></tr>")
    for r in report["cases"]:
        ok = sum(c["passed"] for c in r["checks"])
        cls = _case_status(r)
        parts.append(f"<tr><td><a href='#{e(r['case'])}'>{e(r['case'])}</a></td>"
                     f"<td class='{cls}'>{cls if cls != 'fail' else 'FAIL'}</td>"
                     f"<td>{ok}/{len(r['checks'])}</td><td>{r['seconds']:.2f}</td>"
                     f"<td>{e(r['title'])}</td></tr>")
    parts.append("</table>")
    for r in report["cases"]:
        parts.append(f"<h2 id='{e(r['case'])}'>{e(r['case'])}: {e(r['title'])}</h2>")
        if r["error"]:
            parts.append(f"<pre class='fail'>{e(r['error'])}</pre>")
        parts.append("<table><tr><th>check</th><th>value</th><th>accepted</th><th>result</th>"
                     "<th>detail</th></tr>")
        for c in r["checks"]:
            cls = _check_status(c)
            parts.append(f"<tr><td>{e(c['name'])}</td><td>{e(_fmt(c['value']))}</td>"
                         f"<td>{e(_band(c))}</td><td class='{cls}'>{cls if cls != 'fail' else 'FAIL'}"
                         f"</td><td>{e(c['detail'])}</td></tr>")
        parts.append("</table>")
        if r["notes"]:
            parts.append("<ul>" + "".join(f"<li>{e(k)}: {e(_note_text(v))}</li>"
                                          for k, v in r["notes"].items()) + "</ul>")
        drawn = ((svgs or {}).get(r["case"]) or case_svgs(r)) if plots else []
        if plots and r.get("history"):   # the checks over the recorded runs
            drawn = drawn + case_svgs({"series": r["history"]})
        if drawn:
            parts.append("<div class='plots'>" + "".join(drawn) + "</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: dict, out_dir: str | os.PathLike, *, plots: bool = True,
                 svgs: dict[str, list[str]] | None = None) -> dict[str, Path]:
    """Write report.json, report.md and index.html into ``out_dir`` (created if needed) as one set: all three
    are replaced together or not at all (:func:`verify.files.write_set`). ``plots=False`` leaves the plots out of
    index.html (cheap, for the partial reports written during a run)."""
    from verify.files import write_set

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a directory; choose another path")
    paths = write_set(out, {"report.json": json.dumps(report, indent=1, ensure_ascii=False) + "\n",
                            "report.md": render_markdown(report),
                            "index.html": render_html(report, plots=plots, svgs=svgs)})
    return {"json": paths["report.json"], "markdown": paths["report.md"], "html": paths["index.html"]}
