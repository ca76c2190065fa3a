"""The machine diagram: one edge per transition, labelled by pretty.label."""

from __future__ import annotations

import pytest

from diagram_dot import parse, unwrap
from sessionfence.diagrams import dot
from sessionfence.diagrams.machine import EXTERNAL_NODE, machine_graph
from sessionfence.model import pretty
from sessionfence.model.machine import Decision, build
from sessionfence.model.variants import BUILTIN

VARIANTS = sorted(BUILTIN)


@pytest.fixture(params=VARIANTS)
def drawn(request):
    machine = build(BUILTIN[request.param])
    return machine, parse(machine_graph(machine).source())


def test_every_transition_is_one_edge_between_its_phases(drawn):
    machine, d = drawn
    gid = f"machine-{machine.variant.name}"
    transition_edges = [e for e in d.edges if "transition" in d.classes(e[2])]
    assert len(transition_edges) == len(machine.transitions)
    for t in machine.transitions:
        tail, head, attrs = d.edge_by_id(f"{gid}:{t.key}")
        if t.source is None:
            assert (tail, head) == (EXTERNAL_NODE, EXTERNAL_NODE)
        else:
            assert (tail, head) == (t.source.name, t.target.name)


def test_edge_labels_are_the_short_labels_and_decisions(drawn):
    machine, d = drawn
    for t in machine.transitions:
        _, _, attrs = d.edge_by_id(f"machine-{machine.variant.name}:{t.key}")
        lines = unwrap(attrs["label"]).split("\n")
        assert lines[0] == pretty.label(t)
        if t.decision is Decision.none:
            assert len(lines) == 1
        else:
            assert lines[1] == f"⟨{t.decision.value}⟩"
        assert attrs["tooltip"] == pretty.label(t, short=False)


def test_takeover_edges_and_only_they_are_dashed_red(drawn):
    machine, d = drawn
    for t in machine.transitions:
        _, _, attrs = d.edge_by_id(f"machine-{machine.variant.name}:{t.key}")
        takeover = t.decision is Decision.takeover
        assert ("takeover" in d.classes(attrs)) == takeover, t.key
        assert (attrs.get("style") == "dashed" and attrs.get("color") == dot.TAKEOVER) == takeover


def test_phases_are_nodes_and_the_legend_defines_every_name(drawn):
    machine, d = drawn
    phases = {p.name for t in machine.transitions for p in (t.source, t.target) if p}
    assert phases <= set(d.nodes)
    assert d.nodes["taken_over"]["peripheries"] == "2"
    legend = unwrap(d.nodes["legend"]["label"])
    for t in machine.transitions:
        for name, text in pretty.definitions(t).items():
            assert f"{name}: {text}" in legend


def test_reference_has_more_takeovers_than_strict():
    def takeovers(name):
        d = parse(machine_graph(build(BUILTIN[name])).source())
        return sum("takeover" in d.classes(e[2]) for e in d.edges)

    # strict-fingerprint checks on reacquire and at begin_write (from
    # released and, as the brief says, from held); the reference also checks
    # at release, before the write and after it
    assert takeovers("strict-fingerprint") == 3
    assert takeovers("reference") == 6


def test_atomic_writes_show_the_external_writers_guard():
    machine = build(BUILTIN["narrow-publication"], atomic_writes=True)
    d = parse(machine_graph(machine).source())
    for kind in machine.world.kinds:
        _, _, attrs = d.edge_by_id(f"machine-narrow-publication:external_write[{kind.label}]")
        assert unwrap(attrs["label"]).startswith(
            f"external_write({kind.label}) [no write section open")


def test_the_text_is_deterministic():
    machine = build(BUILTIN["reference"])
    assert machine_graph(machine).source() == machine_graph(build(BUILTIN["reference"])).source()
