"""report.html as a person sees it: headless Chromium at 1400 and 800 px.

Each page is loaded with a small measuring script appended (the report itself has no scripts);
the script opens every folded block, then lists every element whose text overflows its box, every
SVG label outside its drawing or past the next lane, and whether the page scrolls sideways.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.testing import required

ROOT = Path(__file__).resolve().parents[2]
WIDTHS = (1400, 800)

_MEASURE = """<script>
document.querySelectorAll('details').forEach(d => d.open = true);
const bad = [];
const root = document.documentElement;
if (root.scrollWidth > root.clientWidth + 1)
  bad.push('page scrolls sideways: ' + root.scrollWidth + ' > ' + root.clientWidth);
for (const el of document.body.querySelectorAll('*')) {
  if (el.closest('svg') || getComputedStyle(el).display === 'inline') continue;
  if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0)
    bad.push(el.tagName + ' overflows: ' + el.textContent.slice(0, 80));
}
for (const svg of document.querySelectorAll('svg')) {
  const vb = svg.viewBox.baseVal;
  for (const t of svg.querySelectorAll('text')) {
    const b = t.getBBox();
    if (b.x < vb.x - 1 || b.x + b.width > vb.x + vb.width + 1)
      bad.push('svg text outside its drawing: ' + t.textContent);
    const max = t.getAttribute('data-max-x');
    if (max !== null && b.x + b.width > Number(max) + 1)
      bad.push('svg label runs into the next lane: ' + t.textContent);
  }
}
const pre = document.createElement('pre');
pre.id = 'measured';
pre.textContent = JSON.stringify(bad);
document.body.appendChild(pre);
</script>"""

_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--hide-scrollbars"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    reason = "headless Chromium is not installed (Debian: apt-get install chromium)"
    if required():
        pytest.fail(f"{reason}; HARNESS_REQUIRE_SERVICES=1 makes this a failure", pytrace=False)
    pytest.skip(reason)
    raise AssertionError("unreachable")


def _browse(chromium: str, page: Path, width: int, *extra: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([chromium, *_FLAGS, f"--user-data-dir={profile}",
                               f"--window-size={width},2400", "--virtual-time-budget=5000",
                               *extra, page.as_uri()],
                              capture_output=True, text=True, timeout=120)
    return proc.stdout


def _measure(chromium: str, report: Path, width: int, shots: Path) -> list[str]:
    probe = report.with_name(f"measure-{width}.html")
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>"),
                     encoding="utf-8")
    dom = _browse(chromium, probe, width, "--dump-dom")
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found, f"the measuring script did not run at {width} px"
    _browse(chromium, report, width, f"--screenshot={shots / f'{report.parent.name}-{width}.png'}")
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")
                      .replace("&lt;", "<").replace("&gt;", ">"))


def _run(experiment: str, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "chaos", "run",
                           str(ROOT / experiment), "--seed", "3", "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return json.loads((out / "results.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["chaos/zoo/ledger-no-dedup.yaml",
                                        "chaos/payments-message-faults.yaml"])
def test_report_page_fits_and_names_every_failing_correlation(experiment: str,
                                                               tmp_path: Path) -> None:
    chromium = _chromium()
    out = tmp_path / Path(experiment).stem
    result = _run(experiment, out)
    report = out / "report.html"
    page = report.read_text(encoding="utf-8")
    for width in WIDTHS:
        assert _measure(chromium, report, width, tmp_path) == [], f"at {width} px"
        assert (tmp_path / f"{out.name}-{width}.png").stat().st_size > 10_000
    label = {True: "VALID", False: "INVALID"}.get(result["valid"], "UNKNOWN")
    assert f'<div class="banner {label.lower()}"><b>{label}</b>' in page
    named = {item["correlation_id"] for v in result["verdicts"].values()
             for items in (v.get("examples") or {}).values() for item in items
             if isinstance(item, dict) and item.get("correlation_id")
             and v.get("valid") is not True}
    for cid in named:
        assert cid in page, f"{cid} named in results.json is not on the page"
    if result["valid"] is False:
        assert re.search(r"\d+ of \d+ failing cases drawn", page)
        # the violating event is marked with the checker that flags it
        assert "\u2190 exactly_once: duplicate_effect" in page
    else:
        assert "<p>None.</p>" in page
    for fault in result.get("plan") or []:
        assert f"<td>{fault['fault']}</td>" in page
