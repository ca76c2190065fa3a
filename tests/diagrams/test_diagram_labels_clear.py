"""In a sequence diagram no step's arrow runs through a step label, the red
arrow of the violating step through its own label least of all.

Graphviz places the labels; the test reads the rendered SVG: each label's
box (from its text position, font size and length) must not contain a
point of any step arrow (the path sampled along its Bézier segments)."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from sessionfence.diagrams import render
from sessionfence.diagrams.docs import counterexample
from sessionfence.diagrams.trace import trace_graph, trace_title
from sessionfence.model import properties as P
from sessionfence.model.variants import BRIEF as BUILTIN  # the pictured designs (docs/diagrams)

pytestmark = pytest.mark.skipif(shutil.which("dot") is None,
                                reason="Graphviz 'dot' is not installed")
SVG = "{http://www.w3.org/2000/svg}"
VIOLATED = [(name, p) for name, v in sorted(BUILTIN.items())
            for p, verdict in sorted(v.expected.items()) if verdict == "violated"]


def _points(d: str, samples: int = 24) -> list:
    """Points along an SVG path of M and C commands (what dot writes)."""
    nums = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", d)]
    pts = list(zip(nums[::2], nums[1::2]))
    out = [pts[0]]
    for i in range(1, len(pts) - 2, 3):
        p0, p1, p2, p3 = pts[i - 1], pts[i], pts[i + 1], pts[i + 2]
        for k in range(1, samples + 1):
            t = k / samples
            out.append(tuple((1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t * t * c
                             + t ** 3 * e for a, b, c, e in zip(p0, p1, p2, p3)))
    return out


def _label_boxes(text_elements) -> list:
    boxes = []
    for t in text_elements:
        size = float(t.get("font-size", "9"))
        width = 0.5 * size * len(t.text or "")  # DejaVu Sans: about half an em per glyph
        x, y = float(t.get("x")), float(t.get("y"))
        left = {"middle": x - width / 2, "end": x - width}.get(t.get("text-anchor"), x)
        # the glyphs' body: from a little above the baseline to the x-height
        boxes.append((left + 1, y - 0.7 * size, left + width - 1, y - 0.1 * size, t.text))
    return boxes


def _steps(svg: str) -> list:
    root = ET.fromstring(svg)
    out = []
    for g in root.iter(f"{SVG}g"):
        if "step" in (g.get("class") or "").split():
            paths = [p.get("d") for p in g.iter(f"{SVG}path")]
            texts = list(g.iter(f"{SVG}text"))
            out.append((g.get("class"), paths, texts))
    return out


@pytest.mark.parametrize("name,prop", VIOLATED, ids=[f"{n}-{p}" for n, p in VIOLATED])
def test_no_arrow_runs_through_a_step_label(name, prop):
    ex, trace = counterexample(BUILTIN[name], P.BY_NAME[prop])
    svg = render.svg_inline(trace_graph(ex, trace, trace_title(ex, "test"),
                                        properties=(prop,)).source())
    steps = _steps(svg)
    assert any("violating" in cls for cls, _, _ in steps)
    boxes = [b for _, _, texts in steps for b in _label_boxes(texts)]
    for cls, paths, _ in steps:
        for d in paths:
            for x, y in _points(d):
                for left, top, right, bottom, text in boxes:
                    assert not (left < x < right and top < y < bottom), (
                        f"{cls} arrow passes through the label {text!r} at ({x:.0f}, {y:.0f})")
