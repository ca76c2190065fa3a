"""Upstream's designs (model/upstream.py): the rules of upstream-designs.md §0-§1.

Each test runs a short schedule on the concrete semantics and asserts the
decision the text says the design makes, so a mutant of a rule (a prefix
compared where the text says it is not, a fence advanced where it says it
stays ...) fails here. The safe cells are proved by their invariant sets
(fast); the violated cells' counterexamples are replayed on real files in
tests/conformance/test_upstream_counterexamples.py.
"""

import pytest

from sessionfence.model import check, invariants, properties, variants
from sessionfence.model.concrete import Executor, NotEnabled
from sessionfence.model.expr import Kind, Mode, Phase
from sessionfence.model.machine import build
from sessionfence.model.upstream import UPSTREAM
from sessionfence.model.world import World

ZOO = ("strict-refresh", "validate-on-assert", "tail-digest", "publication-gated-own-fence",
       "post-message-publication", "benign-advance", "file-owner")


def test_the_zoo_is_built_in_with_the_brief_designs():
    assert tuple(UPSTREAM) == ZOO
    assert set(ZOO) | set(variants.BRIEF) == set(variants.BUILTIN)
    assert "writer-claim" not in variants.BUILTIN  # docs/upstream-designs.md says why
    for name in ZOO:
        v = variants.get(name)
        for fp in ("digest", "stat"):  # a verdict per property and per mode
            world = World(fingerprint=fp)
            assert all(v.expectation(p, world) in ("holds", "violated")
                       for p in ("released-safety", "safety", "precision"))


class Run:
    """A schedule on the concrete semantics; `.do(...)` returns the decision."""

    def __init__(self, name, world=World(), n=2):
        self.ex = Executor(build(variants.get(name), world), n)
        self.s = self.ex.initial()

    def do(self, step, ctrl=None, mode=None, kind=None):
        inst, self.s = self.ex.step(self.s, step, ctrl, mode, kind)
        return inst.transition.decision.value

    def write(self, ctrl, mode=Mode.broad):
        out = [self.do("begin_write", ctrl, mode), self.do("read_before", ctrl),
               self.do("append", ctrl), self.do("finish_write", ctrl)]
        return out[0], out[-1]

    def edit(self, kind):
        return self.do("external_write", kind=Kind.parse(kind))

    def phase(self, ctrl):
        return self.ex.phase(self.s, ctrl)


def _released_then(name, kind):
    r = Run(name)
    r.do("start", 1)
    r.do("release", 1)
    r.edit(kind)
    return r.do("reacquire", 1)


# -- which external edits each check lets through (§1.2, §1.3, §1.6, §2) -------

ACCEPTED = {
    "strict-refresh": set(),
    "validate-on-assert": {"forged-append"},
    "tail-digest": {"append", "forged-append", "prefix-rewrite", "same-size-rewrite"},
    "publication-gated-own-fence": set(),
    "post-message-publication": set(),
    "benign-advance": {"forged-append", "prefix-rewrite"},
    "file-owner": {"forged-append", "prefix-rewrite"},
}


@pytest.mark.parametrize("name", ZOO)
def test_each_check_accepts_exactly_the_edits_the_text_says(name):
    got = {k.label for k in Kind if _released_then(name, k.label) == "accept"}
    assert got == ACCEPTED[name]


# -- §0, shared by every upstream version -------------------------------------


@pytest.mark.parametrize("name", ZOO)
def test_no_check_before_the_first_release_and_every_section_checks_after(name):
    r = Run(name)
    r.do("start", 1)
    r.edit("append")  # while held, before the fence is active
    assert r.do("begin_write", 1, Mode.broad) == "none"  # no check, nothing recorded
    r.do("read_before", 1), r.do("append", 1), r.do("finish_write", 1)
    r.do("release", 1)
    r.do("reacquire", 1)
    r.edit("replace")  # (no design here accepts a new inode)
    # active now: a section begun from held checks, fails and keeps the lock
    assert r.do("begin_write", 1, Mode.broad) == "takeover"
    assert r.phase(1) is Phase.taken_over
    assert r.ex.get(r.s, "holder") == 1
    r.do("dispose", 1)
    assert r.ex.get(r.s, "holder") == 0


@pytest.mark.parametrize("name", ZOO)
def test_a_plain_section_adopts_a_foreign_write_into_its_own_fence(name):
    """§0 W4/W5: after = stat; if after != before: fence = after."""
    r = Run(name)
    r.do("start", 1)
    r.do("release", 1)
    r.do("reacquire", 1)
    r.do("begin_write", 1, Mode.broad)
    r.do("read_before", 1)
    r.edit("append")  # inside the body
    r.do("append", 1)
    assert r.do("finish_write", 1) == "adopt"
    assert r.ex.get(r.s, "fence", 1) == r.ex.get(r.s, "file")


# -- per design ------------------------------------------------------------------


def test_strict_refresh_launders_an_edit_before_a_raw_append():
    r = Run("strict-refresh")
    r.do("start", 1)
    r.do("release", 1)
    r.edit("append")
    begin, finish = r.write(1, Mode.publish)
    assert begin == "none"  # the raw append does no fence check
    assert finish == "adopt"  # refreshAfterOwnedSessionWrite: fence := stat, unconditionally
    assert r.do("reacquire", 1) == "accept"


def test_publication_gated_untrusted_before_publishes_nothing_and_keeps_the_fence():
    r = Run("publication-gated-own-fence")
    r.do("start", 1)
    r.do("release", 1)  # trusted := f0 (first use)
    r.do("reacquire", 1)
    r.write(1, Mode.broad)  # the file moves, unpublished: trusted is stale
    gen = r.ex.get(r.s, "reg_gen")
    r.write(1, Mode.publish)  # before is not trusted
    assert r.ex.get(r.s, "reg_gen") == gen
    assert r.do("begin_write", 1, Mode.broad) == "takeover"  # its own write: a false takeover


def test_publication_gated_publishes_a_trusted_write_and_a_peer_accepts_it():
    r = Run("publication-gated-own-fence")
    r.do("start", 1)
    r.do("release", 1)
    r.do("start", 2)
    r.do("release", 2)
    r.write(2, Mode.publish)
    assert r.ex.get(r.s, "reg_gen") == 1 and r.ex.get(r.s, "trusted") == r.ex.get(r.s, "file")
    assert r.do("reacquire", 1) == "accept"


def test_post_message_gate_one_publishes_a_foreign_write_adopted_by_a_plain_section():
    """§1.5: gate 1 trusts the writer's own fence, which a plain section may
    have laundered; the foreign write is then published globally."""
    r = Run("post-message-publication")
    r.do("start", 1)
    r.do("release", 1)
    r.do("start", 2)
    r.do("release", 2)
    r.do("reacquire", 2)
    r.do("begin_write", 2, Mode.broad)
    r.do("read_before", 2)
    r.edit("append")  # a plain foreign line inside c2's body
    r.do("append", 2)
    r.do("finish_write", 2)  # c2's fence := the file with the foreign line
    begin, _ = r.write(2, Mode.publish)
    assert begin == "none" and r.ex.get(r.s, "reg_gen") == 1  # published
    r.do("release", 2)
    assert r.do("reacquire", 1) == "accept"  # the released peer accepts the foreign line


def test_post_message_window_w7_records_a_write_between_before_and_append():
    r = Run("post-message-publication")
    r.do("start", 1)
    r.do("release", 1)
    r.do("start", 2)
    r.do("release", 2)
    r.do("begin_write", 2, Mode.publish)
    r.do("read_before", 2)
    r.edit("append")  # between the before capture and the append
    r.do("append", 2)
    r.do("finish_write", 2)
    assert r.ex.get(r.s, "reg_fp") == r.ex.get(r.s, "file")
    assert r.do("reacquire", 1) == "accept"


def test_benign_advance_rereads_the_snapshot_on_a_benign_accept():
    r = Run("benign-advance")
    r.do("start", 1)
    r.do("release", 1)
    r.edit("forged-append")
    assert r.do("reacquire", 1) == "accept"
    assert r.ex.get(r.s, "snap_size", 1) == r.ex.get(r.s, "size")
    assert r.ex.get(r.s, "fence", 1) == r.ex.get(r.s, "file")


def test_file_owner_a_second_attempt_waits_for_the_first_to_end():
    r = Run("file-owner")
    r.do("start", 1)
    r.do("release", 1)  # the lock is free, but c1's attempt still owns the path
    with pytest.raises(NotEnabled):
        r.do("start", 2)
    r.do("dispose", 1)
    assert r.do("start", 2) == "accept"


# -- the safe cells, proved by their invariant sets (upstream_invariants.py) -------

SAFE = [(name, prop) for name in ZOO for prop in ("released-safety", "safety", "precision")
        if variants.get(name).expectation(prop, World()) == "holds"]


@pytest.mark.parametrize("name, prop", SAFE)
def test_each_safe_digest_cell_is_proved_by_its_invariants(name, prop):
    v = variants.get(name)
    m = build(v, World())
    invs = [i for i in invariants.for_machine(m, invariants.SETS[v.invariants])
            if i.name != "lock-owner"]  # (a takeover may keep the lock: not inductive here)
    report = check.prove_invariants(m, 2, invs, [properties.BY_NAME[prop]])
    assert not [f for f in report.failures if not f.startswith("vacuous")], report.failures
    assert report.property_ok[prop]


def test_the_safe_cells_are_the_expected_ones():
    assert SAFE == [("strict-refresh", "released-safety"), ("validate-on-assert", "precision"),
                    ("tail-digest", "precision"), ("benign-advance", "precision"),
                    ("file-owner", "precision")]


@pytest.mark.parametrize("aba, released_safety", [("content", False), ("history", True)])
def test_strict_refresh_laundering_is_a_safety_event_and_under_history_a_released_one(
        aba, released_safety):
    """docs/upstream-designs.md: the refresh adopts X's line (safety); the
    reacquire that follows accepts content c1 already vouched for, which only
    the history reading counts as a released-safety violation."""
    r = Run("strict-refresh", World(aba=aba))
    r.do("start", 1)
    r.do("release", 1)
    r.edit("append")
    r.do("begin_write", 1, Mode.publish)
    r.do("read_before", 1)
    r.do("append", 1)
    assert r.ex.event(r.s, properties.BY_NAME["safety"])  # finish_write adopts the edit
    r.do("finish_write", 1)
    assert r.phase(1) is Phase.released  # the section took the lock and gave it back
    events = r.ex.event(r.s, properties.BY_NAME["released-safety"])
    assert any(i.step == "reacquire" for i in events) == released_safety
