"""The brief's verdict table, reproduced by the checker for N = 2 and 3 in
digest mode; the documented limits of stat mode; the ABA reading."""

import pytest

from sessionfence.model import check, invariants, machine, properties, variants
from sessionfence.model.concrete import Executor
from sessionfence.model.expr import Kind

EXPECTED = {
    "strict-fingerprint": ("holds", "violated", "violated"),
    "broad-publication": ("violated", "violated", "holds"),
    "narrow-publication": ("violated", "violated", "violated"),
    "reference": ("holds", "holds", "holds"),
}


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_cell_matches_the_brief(verdicts, name, n):
    results = verdicts(name, n)
    for prop, expected in zip(("released-safety", "safety", "precision"), EXPECTED[name]):
        r = results[prop]
        want = "proved" if expected == "holds" else "violated"
        assert r.status == want, f"{name} {prop} N={n}: {r.status} ({r.note})"
        assert r.ok


def test_declared_expectations_are_the_brief_table():
    for name, row in EXPECTED.items():
        v = variants.get(name)
        assert tuple(v.expected.base[p] for p in variants.PROPERTIES) == row


STAT = {
    # A same-size rewrite with mtime kept is invisible to stat: whoever
    # compares fingerprints only accepts it (coarse timestamps).
    "strict-fingerprint": ("violated", "violated", "violated"),
    "broad-publication": ("violated", "violated", "holds"),
    "narrow-publication": ("violated", "violated", "violated"),
    "reference": ("violated", "violated", "holds"),
}


@pytest.mark.parametrize("name", list(STAT))
def test_stat_mode_shows_the_documented_limits(verdicts, name):
    results = verdicts(name, 2, fingerprint="stat")
    for prop, expected in zip(("released-safety", "safety", "precision"), STAT[name]):
        r = results[prop]
        assert r.status == ("proved" if expected == "holds" else "violated"), (name, prop, r.note)
        assert r.ok
        if expected == "violated" and EXPECTED[name][("released-safety", "safety",
                                                       "precision").index(prop)] == "holds":
            kinds = {i.kind.label for i in r.trace.steps if i.kind is not None}
            assert kinds == {"same-size-rewrite"}, (name, prop, kinds)


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("timestamps", ["coarse", "multigrain"])
def test_reference_stat_precision_is_proved_by_its_invariants(verdicts, n, timestamps):
    """An edit stat cannot see changes nothing the reference knows, so the
    controllers it exposed stay in step: all of the reference's invariants
    but `exposed-out-of-step` stay inductive and prove precision (no Spacer)."""
    r = verdicts("reference", n, fingerprint="stat", timestamps=timestamps)["precision"]
    assert r.status == "proved" and r.ok
    assert r.method.startswith("invariants"), (r.method, r.note)
    kept = r.note.removeprefix(check.INDUCTIVE_NOTE).split(", ")
    assert "exposed-out-of-step" not in kept and "clean-in-step" in kept


@pytest.mark.parametrize("fingerprint", ["digest", "stat"])
def test_broad_precision_is_proved_by_its_invariants(verdicts, fingerprint):
    r = verdicts("broad-publication", 2, fingerprint=fingerprint)["precision"]
    assert r.status == "proved" and r.ok
    assert r.method.startswith("invariants"), (r.method, r.note)
    kept = r.note.removeprefix(check.INDUCTIVE_NOTE).split(", ")
    assert {i.name for i in invariants.BROAD_OWN} <= set(kept)


def test_reference_stat_limit_inside_the_write_window(verdicts):
    """With multigrain timestamps only a rewrite inside a holder's own write
    window (between read_before and its write) is invisible: the reference
    adopts it at finish_write."""
    r = verdicts("reference", 2, fingerprint="stat", timestamps="multigrain",
                 props=("safety",))["safety"]
    steps = [(i.step, i.kind.label if i.kind else None) for i in r.trace.steps]
    x = steps.index(("external_write", "same-size-rewrite"))
    assert steps[x - 1] == ("read_before", None) and steps[x + 1] == ("append", None)
    assert steps[-1] == ("finish_write", None)


def test_undone_edits_are_a_reading_of_the_properties(verdicts):
    """A file deleted twice is the same absent file (ABA). Under the content
    reading strict-fingerprint accepting it is no violation (it has exactly
    the bytes it knew); under the history reading it is."""
    assert verdicts("strict-fingerprint", 2)["released-safety"].status == "proved"
    r = verdicts("strict-fingerprint", 2, aba="history")["released-safety"]
    assert r.status == "violated" and r.ok
    kinds = [i.kind.label for i in r.trace.steps if i.kind is not None]
    assert kinds.count("delete") == 2


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_sometimes_property_has_a_replayed_witness(verdicts, name):
    for r in verdicts(name, 2).values():
        if r.kind == "sometimes":
            assert r.status == "reachable", (name, r.property, r.note)
            assert r.trace is not None and r.trace.steps


NO_DELETE = tuple(k for k in Kind if k is not Kind.delete)


def test_atomic_writes_flip_narrow_released_safety(verdicts):
    atomic = verdicts("narrow-publication", 2, True, kinds=NO_DELETE)
    assert atomic["released-safety"].status == "proved"
    assert atomic["safety"].status == "violated"
    assert atomic["precision"].status == "violated"
    assert all(r.ok for r in atomic.values())


def test_atomic_writes_do_not_save_narrow_when_files_can_be_deleted(verdicts):
    """The brief's parenthesis is refuted once deletions exist: the missing
    file trusted on first use is trusted again after a second deletion."""
    r = verdicts("narrow-publication", 2, True, props=("released-safety",))["released-safety"]
    assert r.status == "violated" and r.ok
    assert [i.kind.label for i in r.trace.steps if i.kind is not None].count("delete") == 2


# Shortest counterexample lengths, pinned (iterative deepening finds these).
SHORTEST = {
    ("strict-fingerprint", "safety"): 3,
    ("strict-fingerprint", "precision"): 8,
    ("broad-publication", "released-safety"): 9,
    ("broad-publication", "safety"): 3,
    ("narrow-publication", "released-safety"): 10,
    ("narrow-publication", "safety"): 3,
    ("narrow-publication", "precision"): 8,
}


@pytest.mark.parametrize("name,prop", list(SHORTEST))
def test_counterexamples_are_shortest_and_replay(verdicts, name, prop):
    r = verdicts(name, 2)[prop]
    assert r.depth == SHORTEST[(name, prop)] == len(r.trace.steps)
    # Replay independently of the checker: fire each step from the initial
    # state and check the last one is the property's bad event.
    ex = Executor(machine.build(variants.get(name)), 2)  # the default world: digest
    s = ex.initial()
    for inst in r.trace.steps[:-1]:
        s = ex.fire(s, inst)
    last = r.trace.steps[-1]
    assert last in ex.event(s, properties.BY_NAME[prop])
    assert ex.fire(s, last) == r.trace.states[-1]


def test_no_counterexample_is_shorter():
    """Bounded check one step below each pinned length finds nothing."""
    for (name, prop), k in SHORTEST.items():
        m = machine.build(variants.get(name))
        found = []
        unreached = check.search(m, 2, [properties.BY_NAME[prop]], k - 1, lambda _: None,
                                 lambda p, t, d: found.append(d))
        assert not found and unreached == {prop}, (name, prop)


def test_narrow_released_safety_violation_is_an_external_write_inside_a_write_section(verdicts):
    """The brief's bug (b): the external edit lands between read_before and finish_write."""
    steps = [i.step for i in verdicts("narrow-publication", 2)["released-safety"].trace.steps]
    x = steps.index("external_write")
    assert "read_before" in steps[:x] and "finish_write" in steps[x:]


def test_broad_released_safety_violation_launders_through_a_peer_section(verdicts):
    trace = verdicts("broad-publication", 2)["released-safety"].trace
    victim = trace.steps[-1].ctrl
    writer_steps = [i for i in trace.steps if i.ctrl not in (None, victim)]
    assert any(i.step == "finish_write" for i in writer_steps)
    assert any(i.step == "external_write" for i in trace.steps)


def test_transitions_use_exactly_the_brief_step_names():
    names = {t.step for v in variants.BUILTIN.values() for t in machine.build(v).transitions}
    assert names == set(machine.STEPS)
