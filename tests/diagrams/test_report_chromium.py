"""The report in a real browser: Debian's headless Chromium.

`--dump-dom` shows the verdict table is in the page Chromium built, and a
screenshot shows it is painted: the table's header colour forms a wide band
near the top, with green (matching) and red (mismatching) cells right below
it. The shared report has one mismatch, so both cell colours must appear.

Layout at 1400 px: the page has no script of its own, so the test measures
a copy with a small script appended that writes its findings into
`document.title` (read back with `--dump-dom`): no element is wider than
the window, every diagram is shown whole at the page width (not clipped in
a scroll box), and checking a diagram's zoom box shows it at full size.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess

import pytest

from diagram_png import hex_rgb, read
from sessionfence.report.page import BAD_FILL, HEAD_FILL, OK_FILL

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium"
                                        if os.path.exists("/usr/bin/chromium") else None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium is not installed (scripts/bootstrap --test "
    "installs it; CI runs this test)")
WIDTH, HEIGHT = 1400, 900

# Appended to a copy of the page: measures the layout, result in the title.
MEASURE = """<script>
(function () {
  const W = document.documentElement.clientWidth;
  const out = {width: W, scrollWidth: document.documentElement.scrollWidth,
               wide: [], clipped: [], diagrams: 0, zoomed: null};
  const name = (el) => el.tagName + (el.id ? "#" + el.id : "") +
      (el.getAttribute("class") ? "." + el.getAttribute("class") : "");
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("svg") && el.tagName.toLowerCase() !== "svg") continue;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > W + 0.5 || r.left < -0.5)) out.wide.push(name(el));
  }
  const boxes = document.querySelectorAll("label.diagram");
  out.diagrams = boxes.length;
  for (const box of boxes) {
    const svg = box.querySelector("svg").getBoundingClientRect();
    const r = box.getBoundingClientRect();
    if (box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1 ||
        svg.right > r.right + 0.5 || svg.bottom > r.bottom + 0.5)
      out.clipped.push(box.getAttribute("for"));
  }
  // Zoom the widest diagram: its svg gets its natural size, in its own
  // scrolling box, and the page itself still does not scroll sideways.
  let widest = null, natural = 0;
  for (const box of boxes) {
    const w = box.querySelector("svg").width.baseVal.value;
    if (w > natural) { natural = w; widest = box; }
  }
  if (widest) {
    document.getElementById(widest.getAttribute("for")).checked = true;
    const svg = widest.querySelector("svg").getBoundingClientRect();
    out.zoomed = {id: widest.getAttribute("for"), natural: natural, shown: svg.width,
                  scrolls: widest.scrollWidth > widest.clientWidth,
                  pageScrollWidth: document.documentElement.scrollWidth};
  }
  document.title = "MEASURED " + JSON.stringify(out);
})();
</script>"""


def chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_verdict_table_is_in_the_dom(report, tmp_path):
    _, _, out = report
    done = chromium(tmp_path, "--dump-dom", (out / "index.html").as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert '<table class="verdicts" id="verdicts">' in dom
    body = dom.split('id="verdicts">', 1)[1].split("</table>", 1)[0]
    assert body.count('<td class="ok">') == 7 and body.count('<td class="bad">') == 1


def test_the_verdict_table_is_painted(report, tmp_path):
    _, _, out = report
    shot = tmp_path / "report.png"
    done = chromium(tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}",
                    (out / "index.html").as_uri())
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    width, height, rows = read(str(shot))
    assert (width, height) == (WIDTH, HEIGHT)
    head = hex_rgb(HEAD_FILL)
    head_px = [(x, y) for y, row in enumerate(rows) for x, px in enumerate(row) if px == head]
    assert len(head_px) > 5000, "the verdict table's header row is not painted"
    xs, ys = [x for x, _ in head_px], [y for _, y in head_px]
    left, right, top, bottom = min(xs), max(xs), min(ys), max(ys)
    assert right - left > 400 and 15 < bottom - top < 80 and top < 500
    below = [px for row in rows[bottom + 1:bottom + 200] for px in row[left:right + 1]]
    ok, bad = below.count(hex_rgb(OK_FILL)), below.count(hex_rgb(BAD_FILL))
    assert ok > 7 * 2000, f"green cells: {ok} pixels"
    assert bad > 2000, f"red cell: {bad} pixels"
    # the summary banner above the table says there is a mismatch
    above = [px for row in rows[:top] for px in row]
    assert above.count(hex_rgb(BAD_FILL)) > 10000


def test_at_1400_px_nothing_overflows_and_every_diagram_is_whole(report, tmp_path):
    _, page, _ = report
    copy = tmp_path / "measure.html"
    copy.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    done = chromium(tmp_path, f"--window-size={WIDTH},{HEIGHT}", "--dump-dom", copy.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    title = re.search(r"<title>MEASURED (.*?)</title>", done.stdout, re.S)
    assert title, "the measuring script did not run"
    got = json.loads(html.unescape(title.group(1)))
    assert got["width"] == WIDTH and got["scrollWidth"] == WIDTH, got
    assert got["wide"] == [], f"elements wider than the window: {got['wide']}"
    # 2 machines, 1 diff, and the counterexamples' sequence diagrams
    assert got["diagrams"] == page.count('<label class="diagram"') >= 3
    assert got["clipped"] == [], f"diagrams not shown whole: {got['clipped']}"
    zoomed = got["zoomed"]
    assert zoomed["natural"] > WIDTH and abs(zoomed["shown"] - zoomed["natural"]) < 1, zoomed
    assert zoomed["scrolls"] and zoomed["pageScrollWidth"] == WIDTH, zoomed

