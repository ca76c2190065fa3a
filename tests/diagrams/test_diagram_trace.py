"""Sequence diagrams: one arrow per step, the violating step highlighted."""

from __future__ import annotations

import random

import pytest

from diagram_dot import parse, unwrap
from sessionfence.cli import main
from sessionfence.conformance import model_traces
from sessionfence.diagrams import dot
from sessionfence.diagrams.docs import counterexample
from sessionfence.diagrams.trace import first_violation, trace_graph
from sessionfence.model import check
from sessionfence.model import properties as P
from sessionfence.model.concrete import Executor
from sessionfence.model.machine import build
from sessionfence.model.variants import BRIEF as BUILTIN  # the pictured designs (docs/diagrams)

VIOLATED = [(name, p) for name, v in sorted(BUILTIN.items())
            for p, verdict in sorted(v.expected.items()) if verdict == "violated"]


def step_edges(d):
    return [e for e in d.edges if "step" in d.classes(e[2])]


def check_picture(ex, trace, d, violating: int, prop: str):
    gid = d.graph["id"]
    steps = step_edges(d)
    assert len(steps) == len(trace.steps), "one arrow per step"
    highlighted = [e for e in steps if "violating" in d.classes(e[2])]
    assert len(highlighted) == 1
    tail, head, attrs = highlighted[0]
    assert attrs["id"] == f"{gid}:step:{violating + 1}"
    inst = trace.steps[violating]
    actor = f"c{inst.ctrl}" if inst.ctrl else "X"
    assert tail == f"{actor}@{violating + 1}"
    assert attrs["color"] == dot.TAKEOVER and attrs["penwidth"] == "3"
    assert prop in attrs["label"].split("✗ violates ", 1)[1].split(", ")
    for i, (t, h, a) in enumerate(steps):
        assert a["label"].startswith(f"{i + 1}. {trace.steps[i].step}")
        assert t.endswith(f"@{i + 1}") and h.endswith(f"@{i + 1}")
    lanes = [n[:-5] for n in d.nodes if n.endswith("@head")]
    assert lanes == [f"c{c}" for c in range(1, ex.n + 1)] + ["lock", "file", "X"]


@pytest.mark.parametrize("name", ["strict-fingerprint", "broad-publication",
                                  "narrow-publication"])
def test_verify_counterexamples_highlight_the_violating_step(name):
    variant = BUILTIN[name]
    ex = Executor(build(variant), 2)
    results = [r for r in check.verify(variant, 2) if r.kind == "always" and r.trace]
    assert {r.property for r in results} == {p for n, p in VIOLATED if n == name}
    for r in results:
        g = trace_graph(ex, r.trace, "t", name=r.property)
        check_picture(ex, r.trace, parse(g.source()), r.trace.violating, r.property)


@pytest.mark.parametrize("name,prop", VIOLATED)
def test_shortest_runs_end_in_the_highlighted_violation(name, prop):
    ex, trace = counterexample(BUILTIN[name], P.BY_NAME[prop])
    d = parse(trace_graph(ex, trace, "t", name=prop).source())
    check_picture(ex, trace, d, len(trace.steps) - 1, prop)
    # without a violating index the picture finds the property's first bad event
    trace.violating = None
    assert first_violation(ex, trace, (prop,))[0] == len(trace.steps) - 1
    d = parse(trace_graph(ex, trace, "t", properties=(prop,)).source())
    check_picture(ex, trace, d, len(trace.steps) - 1, prop)


def test_a_run_through_two_violations_highlights_the_first_by_default():
    # the laundering run passes an adopt by an exposed writer (safety) first
    ex, trace = counterexample(BUILTIN["broad-publication"], P.BY_NAME["released-safety"])
    trace.violating = None
    first, props = first_violation(ex, trace)
    assert first < len(trace.steps) - 1 and props == ["safety"]
    check_picture(ex, trace, parse(trace_graph(ex, trace, "t").source()), first, "safety")


def test_a_clean_run_has_no_highlight():
    ex = Executor(build(BUILTIN["reference"]), 3)
    run = ex.random_walk(random.Random(5), 40)
    trace = check.Trace([i for i, _ in run], [ex.initial()] + [s for _, s in run])
    assert first_violation(ex, trace) == (None, [])
    d = parse(trace_graph(ex, trace, "t").source())
    assert len(step_edges(d)) == len(trace.steps) > 20
    assert not any("violating" in d.classes(e[2]) for e in d.edges)


def test_lock_and_file_arrows_follow_what_the_step_touches():
    ex, trace = counterexample(BUILTIN["narrow-publication"], P.BY_NAME["released-safety"])
    d = parse(trace_graph(ex, trace, "t").source())
    for i, (tail, head, _) in enumerate(step_edges(d)):
        step = trace.steps[i].step
        lane = head.split("@")[0]
        if step in ("start", "release"):
            assert lane == "lock"
        if step in ("read_before", "append", "external_write"):
            assert lane == "file"
        if step == "external_write":
            assert tail.startswith("X@")


def test_an_itf_trace_file_is_drawn_with_its_violation(tmp_path, capsys):
    ex, trace = counterexample(BUILTIN["broad-publication"], P.BY_NAME["released-safety"])
    path = tmp_path / "broad.itf.json"
    model_traces.write(ex, trace, str(path), covers="released-safety", status="violation")
    out = tmp_path / "broad.dot"
    code = main(["diagram", "--kind", "trace", "--trace", str(path), "--format", "dot",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    d = parse(out.read_text())
    check_picture(ex, trace, d, len(trace.steps) - 1, "released-safety")
    assert "broad.itf.json (covers released-safety)" in unwrap(d.graph["label"])


def test_a_trace_of_another_variant_is_refused(tmp_path, capsys):
    ex, trace = counterexample(BUILTIN["broad-publication"], P.BY_NAME["safety"])
    path = tmp_path / "t.itf.json"
    model_traces.write(ex, trace, str(path), covers="safety")
    code = main(["diagram", "--variant", "reference", "--kind", "trace", "--trace", str(path),
                 "--out", str(tmp_path / "x.dot")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "broad-publication, not of reference" in err[0]


def test_a_property_that_holds_has_nothing_to_draw(tmp_path, capsys):
    code = main(["diagram", "--variant", "reference", "--kind", "trace", "--property", "safety",
                 "--out", str(tmp_path / "x.dot")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "no counterexample to safety" in err[-1]
