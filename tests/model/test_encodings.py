"""The Z3 encoding and the concrete executor agree, step by step.

Both back-ends read the same transitions; this checks their interpretations
coincide: from random reachable states, every instance the executor enables
is enabled for Z3 with the same successor, and every instance it does not
enable is disabled for Z3.
"""

import random

import pytest
import z3

from sessionfence.model import machine, variants
from sessionfence.model.world import World
from sessionfence.model.concrete import Executor
from sessionfence.model.smt import FixedN, Translator, step_relation


def _pin(enc, st, ex, s):
    raw = ex.decode_raw(s)
    eqs = []
    for v in ex.machine.vars:
        if v.per_ctrl:
            eqs += [x == val for x, val in zip(st[v.name], raw[v.name])]
        else:
            eqs.append(st[v.name] == raw[v.name])
    return eqs


WORLDS = {"strict-fingerprint": World(fingerprint="stat"),
          "broad-publication": World(aba="history"),
          "narrow-publication": World(atomic_writes=True),
          "reference": World(fingerprint="stat", timestamps="multigrain")}


@pytest.mark.parametrize("name", list(variants.BUILTIN))
def test_solver_and_executor_agree_on_random_states(name):
    n = 2
    m = machine.build(variants.get(name), WORLDS.get(name, World()))
    ex = Executor(m, n)
    enc = FixedN(m, n)
    tr = Translator(enc)
    instances = list(enc.instances())
    st, nxt = enc.fresh_state("s"), enc.fresh_state("t")
    sel = enc.int("sel")
    solver = enc.solver()
    solver.add(step_relation(tr, instances, st, nxt, sel))
    rng = random.Random(11)
    checked = 0
    # upstream's seven designs share most of their transitions: fewer walks each
    walks, enough = (12, 200) if name in variants.BRIEF else (4, 60)
    for _ in range(walks):
        for _, s in ex.random_walk(rng, 25):
            enabled = {(i.transition.key, i.ctrl, i.mode) for i in ex.enabled(s)}
            pin = _pin(enc, st, ex, s)
            for k, (t, c, md) in enumerate(instances):
                result = solver.check(*pin, sel == k)
                assert (result == z3.sat) == ((t.key, c, md) in enabled), (t.key, c, md)
                if result == z3.sat:
                    expected = ex.fire(s, next(i for i in ex.enabled(s)
                                               if (i.transition.key, i.ctrl, i.mode) == (t.key, c, md)))
                    assert enc.values(solver.model(), nxt) == ex.decode_raw(expected)
                    checked += 1
    assert checked > enough


@pytest.mark.parametrize("name", list(variants.BUILTIN))
def test_branches_of_a_step_are_mutually_exclusive(name):
    """At most one transition fires for a step instance: the model is
    deterministic once the step, controller and mode are chosen."""
    m = machine.build(variants.get(name))
    enc = FixedN(m, 2)
    tr = Translator(enc)
    st = enc.fresh_state("s")
    groups = {}
    for t, c, md in enc.instances():
        groups.setdefault((t.step, t.source, t.kind, c, md), []).append((t, c, md))
    solver = enc.solver()
    for group in groups.values():
        for i, (a, c, md) in enumerate(group):
            for b, _, _ in group[i + 1:]:
                both = z3.And(tr.expr(a.guard, st, enc.env(c, md)), tr.expr(b.guard, st, enc.env(c, md)))
                assert solver.check(both) == z3.unsat, (a.key, b.key)


def test_every_takeover_ends_the_write_section():
    # Replay compares mode/before in every phase, so a takeover must clear
    # them the same way on every branch (the implementation drops the section).
    for v in variants.BUILTIN.values():
        for t in machine.build(v).transitions:
            if t.decision is machine.Decision.takeover:
                assert {"mode", "before", "took"} <= {a.var for a in t.assigns}, (v.name, t.step)
                assert t.target is machine.Phase.taken_over
