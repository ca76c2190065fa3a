"""The report in a real browser: Debian's headless Chromium.

`--dump-dom` shows the verdict table is in the page Chromium built, and a
screenshot shows it is painted: the table's header colour forms a wide band
near the top, with green (matching) and red (mismatching) cells right below
it. The shared report has one mismatch, so both cell colours must appear.
"""

from __future__ import annotations

import os
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
WIDTH, HEIGHT = 1280, 900


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
