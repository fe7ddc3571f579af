"""The HTML report in headless Chromium: it renders with no script or console errors, and every image loads.

A probe script, injected at the start of ``<head>``, records uncaught errors, unhandled rejections, failed
resource loads and ``console.error``/``console.warn`` calls; on ``load`` it checks every ``<img>``
(complete, natural width > 0) and every SVG ``<image>`` (its href loaded into a new ``Image``) and writes a
JSON summary into the page, which ``chromium --dump-dom`` hands back. Chromium's own log of the page's
console (stderr) is scanned too: it gives every message at INFO level, so any console message counts (the
report has no scripts of its own). The last test shows that both channels catch a broken image and a
throwing script. Skipped when no Chromium is installed.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from verify.cli import main

CASES = ("mccann-geodesic", "linear-sde-laws", "heat-2d")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 120
RESULT_ID = "twinflow-browser-check"

PROBE = """<script>(function () {
  var SVG = "http://www.w3.org/2000/svg", errors = [];
  function note(kind, message) { errors.push(kind + ": " + String(message).slice(0, 300)); }
  window.addEventListener("error", function (e) {
    if (e instanceof ErrorEvent) { note("uncaught", e.message + " (line " + e.lineno + ")"); return; }
    var t = e.target || {};
    var src = t.currentSrc || t.src || (t.getAttribute && hrefOf(t)) || "";
    note("resource", (t.tagName || "?") + " " + String(src).slice(0, 60));
  }, true);
  window.addEventListener("unhandledrejection", function (e) { note("unhandled rejection", e.reason); });
  ["error", "warn"].forEach(function (level) {
    var original = console[level];
    console[level] = function () {
      note("console." + level, Array.prototype.map.call(arguments, String).join(" "));
      return original.apply(console, arguments);
    };
  });
  function hrefOf(el) {
    return el.getAttribute("href") || el.getAttributeNS("http://www.w3.org/1999/xlink", "href") || "";
  }
  function texts(tag) {
    return Array.from(document.getElementsByTagName(tag), function (h) { return h.textContent; });
  }
  function loads(src) {
    return new Promise(function (resolve) {
      var probe = new Image();
      probe.onload = function () { resolve(probe.naturalWidth > 0); };
      probe.onerror = function () { resolve(false); };
      probe.src = src;
    });
  }
  window.addEventListener("load", function () {
    var imgs = Array.from(document.getElementsByTagName("img"));
    var svgImages = Array.from(document.getElementsByTagNameNS(SVG, "image"));
    var imgOk = imgs.map(function (el) { return el.complete && el.naturalWidth > 0; });
    Promise.all(svgImages.map(function (el) { return loads(hrefOf(el)); })).then(function (svgOk) {
      var failed = [];
      imgOk.forEach(function (ok, i) {
        if (!ok) failed.push("img " + (imgs[i].getAttribute("src") || "").slice(0, 60));
      });
      svgOk.forEach(function (ok, i) {
        if (!ok) failed.push("svg image " + hrefOf(svgImages[i]).slice(0, 60));
      });
      var summary = {
        errors: errors,
        img: imgs.length, svg_image: svgImages.length,
        loaded: imgOk.filter(Boolean).length + svgOk.filter(Boolean).length, failed: failed,
        svg: document.getElementsByTagNameNS(SVG, "svg").length,
        title: document.title, h1: texts("h1"), h2: texts("h2")
      };
      var pre = document.createElement("pre");
      pre.id = "RESULT_ID";
      pre.textContent = JSON.stringify(summary);
      document.body.appendChild(pre);
    });
  });
})();</script>""".replace("RESULT_ID", RESULT_ID)

BROKEN = ('<img alt="broken" src="data:image/png;base64,AAAA">'
          '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="8" '
          'height="8"><image xlink:href="data:image/png;base64,AAAA" width="8" height="8"/></svg>'
          '<script>throw new Error("twinflow probe self-test");</script>')


def _browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def browser() -> str:
    path = _browser()
    if path is None:
        pytest.skip("chromium not installed: apt-get install chromium")
    return path


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report")
    args = ["report", "--quick", "--out", str(out), "--no-history"]
    for case in CASES:
        args += ["--case", case]
    code = main(args)
    assert code in (0, 1, 3), f"twinflow report exited {code}"
    return (out / "index.html").read_text(encoding="utf-8")


def instrument(page: str) -> str:
    """The page with the probe as the first element of <head> (or in front of everything without one)."""
    head = re.search(r"<head\b[^>]*>", page, flags=re.IGNORECASE)
    at = head.end() if head else 0
    return page[:at] + PROBE + page[at:]


def console_messages(stderr: str) -> list[str]:
    """Chromium's log lines for the page's console (``[...:INFO:CONSOLE:12] "message", source: URL (12)``)."""
    return [line for line in stderr.splitlines() if re.search(r":CONSOLE[:(]\d+", line)]


def browser_check(browser: str, page: str, workdir: Path) -> dict:
    """Open the instrumented page in headless Chromium: the probe's summary, plus its console log lines."""
    path = workdir / "page.html"
    path.write_text(instrument(page), encoding="utf-8")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           f"--user-data-dir={workdir / 'profile'}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=10000", "--dump-dom", path.as_uri()]
    code, dom, log = run_browser(cmd)
    assert code == 0, f"chromium exited {code}: {log[-2000:]}"
    found = re.search(rf'<pre id="{RESULT_ID}">(.*?)</pre>', dom, flags=re.DOTALL)
    assert found, f"the probe never reported (page did not finish loading?): {log[-2000:]}"
    summary = json.loads(html.unescape(found.group(1)))
    summary["console"] = console_messages(log)
    return summary


def run_browser(cmd: list[str]) -> tuple[int, str, str]:
    """Exit status, stdout and stderr; on timeout the whole process group goes (``chromium`` is a wrapper)."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"chromium took over {TIMEOUT_S} s")
    return proc.returncode, out, err


def count_tags(page: str, tag: str) -> int:
    return len(re.findall(rf"<{tag}\b", page, flags=re.IGNORECASE))


def test_report_renders_without_errors_and_every_image_loads(browser: str, report_html: str,
                                                             tmp_path: Path) -> None:
    result = browser_check(browser, report_html, tmp_path)
    assert result["errors"] == [] and result["console"] == [], result
    assert result["img"] == count_tags(report_html, "img")
    assert result["svg_image"] == count_tags(report_html, "image") >= 3   # heat-2d's density pictures
    assert result["failed"] == [] and result["loaded"] == result["img"] + result["svg_image"], result
    assert result["svg"] == count_tags(report_html, "svg") > 0
    assert result["h1"] and result["h1"][0].startswith("twinflow verification report"), result["h1"]
    for case in CASES:
        assert any(h.startswith(case) for h in result["h2"]), (case, result["h2"])


def test_probe_reports_broken_images_and_a_throwing_script(browser: str, report_html: str,
                                                           tmp_path: Path) -> None:
    body = re.search(r"<body\b[^>]*>", report_html, flags=re.IGNORECASE)
    assert body, "the report has no <body>"
    broken = report_html[:body.end()] + BROKEN + report_html[body.end():]
    result = browser_check(browser, broken, tmp_path)
    bad = "data:image/png;base64,AAAA"
    assert result["failed"] == [f"img {bad}", f"svg image {bad}"], result
    assert result["loaded"] == result["img"] + result["svg_image"] - 2
    assert any("twinflow probe self-test" in e for e in result["errors"]), result["errors"]
    assert any("resource: IMG" in e for e in result["errors"]), result["errors"]
    assert any("twinflow probe self-test" in line for line in result["console"]), result["console"]
