"""A real solver time-out is an open cell with its reason, never a proof and
never a traceback (issue 12, item 4)."""

import os

from sessionfence.model import check, variant_file

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "release_snapshot.py")


def test_a_spacer_time_out_leaves_the_cell_open_and_says_why():
    # The worked change's safety holds, but only Spacer proves it (the
    # invariants it inherits do not, nor does k-induction): with 1 ms Spacer
    # cannot, and the cell must not read "proved".
    (variant,) = variant_file.load(EXAMPLE)
    prop = "safety"
    full = [r for r in check.verify(variant, 2, properties=(prop,)) if r.property == prop]
    assert [r.method for r in full] == ["spacer"]  # else this test no longer tests a time-out
    (r,) = [r for r in check.verify(variant, 2, properties=(prop,), spacer_timeout_s=0.001,
                                    depth=6) if r.property == prop]
    assert r.status in ("bounded", "unknown"), r
    assert "Spacer gave no answer" in r.note or "Z3 answered unknown" in r.note
    assert not r.ok  # "holds" needs a proof


def _bmc_gives_up_at(monkeypatch, n):
    # What a busy machine does to BMC with 5 controllers: every query at `n`
    # answers unknown, and the breadth-first search there runs out of classes.
    real_search, real_bfs = check.search, check.bfs.shortest_events

    def search(machine, m, *args, **kw):
        if m == n:
            raise check.SolverUnknown("canceled")
        return real_search(machine, m, *args, **kw)

    def shortest(machine, m, props, **kw):
        return {} if m == n else real_bfs(machine, m, props, **kw)

    monkeypatch.setattr(check, "search", search)
    monkeypatch.setattr(check.bfs, "shortest_events", shortest)


def test_an_unanswered_bmc_falls_back_on_a_smaller_run_replayed_at_n(monkeypatch):
    from sessionfence.model.variants import BUILTIN as BY_NAME
    from sessionfence.model.concrete import Executor
    from sessionfence.model.machine import build
    from sessionfence.model import properties as P

    _bmc_gives_up_at(monkeypatch, 4)
    variant = BY_NAME["narrow-publication"]
    (r,) = check.verify(variant, 4, properties=("released-safety",), witnesses=False)
    assert (r.status, r.method) == ("violated", "lifted"), r
    assert "Z3 answered unknown" in r.note and "a shorter one may exist" in r.note
    # The trace is a run of 4 controllers ending in the bad event: fire it again.
    machine = build(variant, r.world)
    ex = Executor(machine, 4)
    prop = next(p for p in P.ALWAYS if p.name == "released-safety")
    s = ex.initial()
    for inst in r.trace.steps[:-1]:
        s = ex.fire(s, inst)
    assert r.trace.steps[-1] in ex.event(s, prop)


def test_no_smaller_run_is_found_for_a_cell_that_holds():
    from sessionfence.model import properties as P
    from sessionfence.model.machine import build
    from sessionfence.model.variants import REFERENCE

    got = check.lifted(build(REFERENCE), 3, list(P.ALWAYS), 6, lambda msg: None)
    assert got == {}
