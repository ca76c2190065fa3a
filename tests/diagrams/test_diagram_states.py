"""The reachable-states graph and the reductions behind it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diagram_dot import parse
from diagram_exact import ReductionMismatch, assert_bisimilar, assert_exact
from sessionfence.cli import main
from sessionfence.diagrams.states import build_states
from sessionfence.model import explore as E
from sessionfence.model import properties as P
from sessionfence.model.expr import Mode
from sessionfence.model.machine import build
from sessionfence.model.variants import BRIEF as BUILTIN  # the pictured designs (docs/diagrams)

# The node counts docs/diagrams.md quotes (N = 2, default bounds): pinned, so
# a change to the model or the reductions is noticed and the docs updated.
# Every design checks at begin_write from held (the brief); one kind of edit
# (append) is offered, as the states picture's default.
COUNTS = {"strict-fingerprint": 125, "broad-publication": 150, "narrow-publication": 193,
          "reference": 156}


@pytest.fixture(params=sorted(BUILTIN))
def graph(request):
    return E.explore(build(BUILTIN[request.param]), 2, E.Bounds(), limit=None)


def test_node_counts_are_pinned(graph):
    assert len(graph) == COUNTS[graph.executor.machine.variant.name]


def test_every_raw_state_maps_onto_a_drawn_state(graph):
    assert assert_exact(graph) > len(graph)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_larger_bounds_stay_bisimilar_to_the_raw_state_space(name):
    g = E.explore(build(BUILTIN[name]), 2, E.Bounds(external=2, writes=2), limit=None)
    assert assert_bisimilar(g) > 1


def test_a_renaming_that_forgets_literals_is_caught(monkeypatch):
    # NO_FP must stay apart from real fingerprints: narrow-publication's
    # trust-on-first-use asks `trusted = ⊥`.
    real = E._renaming
    monkeypatch.setattr(E, "_renaming", lambda values, literals: real(values, frozenset()))
    g = E.explore(build(BUILTIN["narrow-publication"]), 2, E.Bounds(), limit=None)
    with pytest.raises(ReductionMismatch):
        assert_exact(g)
    with pytest.raises(ReductionMismatch):
        assert_bisimilar(g)


def test_symmetry_loses_no_phase_combination(graph):
    ex = graph.executor
    plain = E.explore(ex.machine, 2, E.Bounds(), limit=None, symmetry=False)

    def phases(g):
        return {tuple(sorted(g.executor.decode(s)["phase"].values())) for s in g.states}

    assert phases(plain) == phases(graph)
    assert len(plain) > len(graph)


def test_red_nodes_are_exactly_the_states_with_a_bad_event(graph):
    ex = graph.executor
    name = ex.machine.variant.name
    d = parse(build_states(ex.machine, 2, E.Bounds(), limit=None)[1].source())
    for i, s in enumerate(graph.states):
        node = d.nodes[f"s{i}"]
        hit = [p.name for p in P.ALWAYS if ex.event(s, p)]
        assert ("bad" in d.classes(node)) == bool(hit), (name, i)
        if hit:
            assert node["label"].endswith("✗ " + ", ".join(hit))
            assert not any(e[0] == f"s{i}" for e in d.edges), "a red state is a leaf"
    violated = {p for p, v in BUILTIN[name].expected.items() if v == "violated"}
    shown = {p for props in graph.bad.values() for p in props}
    assert shown <= violated
    # Red states are leaves, so a violation that only ever follows another
    # one is not drawn: narrow-publication's laundering publication is
    # always preceded by the writer adopting the external write (safety).
    hidden = {"narrow-publication": {"released-safety"}}.get(name, set())
    assert shown == violated - hidden


def test_one_property_at_a_time_shows_the_hidden_violation():
    g = E.explore(build(BUILTIN["narrow-publication"]), 2, E.Bounds(), limit=None,
                  properties=("released-safety",))
    assert g.properties == ("released-safety",)
    assert {p for props in g.bad.values() for p in props} == {"released-safety"}


def test_the_dot_has_the_count_the_initial_mark_and_every_edge(graph):
    ex = graph.executor
    d = parse(build_states(ex.machine, 2, E.Bounds(), limit=None)[1].source())
    states = [n for n in d.nodes if re.fullmatch(r"s\d+", n)]
    assert len(states) == len(graph)
    assert d.graph["label"].split(": ", 1)[1].startswith(f"{len(graph)} reachable states")
    assert "initial" in d.classes(d.nodes["s0"]) and d.nodes["s0"]["peripheries"] == "2"
    assert graph.states[0] == E.Reducer(ex)(ex.initial())
    assert len(d.edges) == len(graph.edges)
    assert all(a in d.nodes and b in d.nodes for a, b, _ in d.edges)


def test_bounds_restrict_the_steps():
    g = E.explore(build(BUILTIN["reference"]), 2, E.Bounds(external=0, writes=0), limit=None)
    steps = {inst.step for _, inst, _ in g.edges}
    assert steps == {"start", "release", "reacquire"}
    g = E.explore(build(BUILTIN["reference"]), 2,
                  E.Bounds(modes=(Mode.broad,), dispose=True), limit=None)
    assert {inst.mode for _, inst, _ in g.edges if inst.mode} == {Mode.broad}
    assert "dispose" in {inst.step for _, inst, _ in g.edges}


def test_too_many_states_is_refused_with_the_count():
    with pytest.raises(E.TooManyStates) as info:
        E.explore(build(BUILTIN["narrow-publication"]), 2, E.Bounds(), limit=100)
    assert info.value.complete and info.value.count == COUNTS["narrow-publication"]


def test_the_command_refuses_with_one_line(tmp_path, capsys):
    out = tmp_path / "s.dot"
    code = main(["diagram", "--variant", "narrow-publication", "--kind", "states",
                 "--modes", "publish,broad,cleanup", "--dispose", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not out.exists()
    assert len(err) == 1
    assert "406 states" in err[0] and "--limit 200" in err[0]


@given(st.sets(st.integers(-3, 40), max_size=12), st.sets(st.integers(-1, 3), max_size=3))
def test_renaming_keeps_order_literals_and_neighbours(values, literals):
    literals = frozenset(literals)
    m = E._renaming(set(values), literals)
    domain = sorted(set(values) | literals)
    assert [m[v] for v in domain] == sorted(m[v] for v in domain)
    assert len(set(m.values())) == len(domain)
    assert all(m[v] == v for v in literals)
    assert all(m[v + 1] == m[v] + 1 for v in domain if v + 1 in m)
    assert all(abs(m[v]) <= abs(v) + len(domain) + 4 for v in domain)


def test_value_classes_follow_the_expressions():
    classes = {vc.variables: vc for vc in E.value_classes(build(BUILTIN["reference"]))}
    # fingerprints and contents (and the counter that hands them out) meet;
    # NO_FP, MISSING and EMPTY are the literals the machine names
    fps = classes[("before", "clock", "content", "fence", "file", "mine", "reg_fp", "seen")]
    assert fps.literals == frozenset({-1, -2, -3}) and ("clock", 1) in fps.offsets
    assert classes[("k_gen", "reg_gen")].literals == frozenset({0})
    assert classes[("k_epoch", "next_epoch", "reg_epoch")].exact
