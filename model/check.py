"""Checking a variant: proofs, counterexamples and witnesses.

Results are three-valued plus bounded, and a result is only what Z3 showed:

  proved    -- an `unsat` of a real obligation for every depth: inductive
               invariants (initiation, consecution per transition, and the
               property), k-induction, or a Spacer fixed point;
  violated  -- a counterexample found by bounded model checking (shortest,
               by iterative deepening) and replayed through the concrete
               executor, which must reach the bad step;
  bounded   -- no counterexample up to the depth, and no proof;
  unknown   -- Z3 answered unknown or ran out of time. Never a pass.

`sometimes` properties get `reachable` (a replayed witness) or `bounded`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import z3

from sessionfence.model import bfs
from sessionfence.model import invariants as INV
from sessionfence.model import properties as P
from sessionfence.model.concrete import Executor, Instance, NotEnabled
from sessionfence.model.machine import Machine, build
from sessionfence.model.world import World
from sessionfence.model.smt import (
    FixedN,
    SolverUnknown,
    Translator,
    Unrolling,
    check_sat,
    cone_of_influence,
    event_formula,
    step_relation,
)
from sessionfence.model.variants import Variant

DEFAULT_DEPTH = 20
KIND_MAX = 4  # k-induction tries k = 1..KIND_MAX before Spacer
SHALLOW_DEPTH = 10  # pre-search when a variant's invariants fail (1-6 s at N = 2..3)
SPACER_TIMEOUT_S = 60
# A cell proved by the inductive subset of the candidate invariants says
# which ones in its note, after this prefix (the report lists exactly those).
INDUCTIVE_NOTE = "inductive: "

Progress = Callable[[str], None]


@dataclass
class Trace:
    """A concrete run: steps[i] leads from states[i] to states[i + 1]."""

    steps: list  # [Instance]
    states: list  # [tuple], len(steps) + 1
    violating: Optional[int] = None  # index in steps of the offending step


@dataclass
class Result:
    variant: str
    property: str
    kind: str  # always | sometimes
    controllers: object  # int, or "any"
    world: World
    status: str
    expected: Optional[str]  # holds | violated | reachable | None (nothing declared)
    method: str
    depth: Optional[int]
    seconds: float
    trace: Optional[Trace] = None
    note: str = ""
    invariants: tuple = ()  # a learned or saved proof's invariants, in words

    @property
    def atomic_writes(self) -> bool:
        return self.world.atomic_writes

    @property
    def fingerprint(self) -> str:
        return self.world.fingerprint

    @property
    def ok(self) -> bool:
        if self.kind == "sometimes":
            return self.status == "reachable"
        if self.expected is None:  # no declared verdict: any definitive answer will do
            return self.status in ("proved", "violated")
        want = "proved" if self.expected == "holds" else "violated"
        return self.status == want


class ReplayMismatch(AssertionError):
    """Z3's path and the concrete executor disagree: an encoding bug."""


# -- inductive invariants ----------------------------------------------------


@dataclass
class InvariantReport:
    proved: bool
    obligations: int
    failures: list  # human-readable: "invariant X not preserved by step Y (c2)"
    seconds: float
    property_ok: dict  # property name -> bool


def prove_invariants(machine: Machine, n: int, invs, props, timeout_ms: int = 30_000) -> InvariantReport:
    """Initiation, consecution (per transition instance) and implication."""
    t0 = time.perf_counter()
    enc = FixedN(machine, n)
    tr = Translator(enc)
    instances = list(enc.instances())
    s, s2 = enc.fresh_state("i"), enc.fresh_state("i'")
    inv_now = [tr.expr(i.formula, s, {}) for i in invs]
    inv_next = [tr.expr(i.formula, s2, {}) for i in invs]
    failures: list[str] = []
    count = 0

    solver = enc.solver(timeout_ms)
    solver.add(tr.init(s))
    for inv, f in zip(invs, inv_now):
        count += 1
        if check_sat(solver, z3.Not(f)) == z3.sat:
            failures.append(f"invariant {inv.name} does not hold initially")

    solver = enc.solver(timeout_ms)
    sel = enc.int("sel")
    solver.add(enc.domain(s), *inv_now, step_relation(tr, instances, s, s2, sel))
    broken = z3.Not(z3.And(inv_next))
    for k, (t, c, m) in enumerate(instances):
        count += 1
        if check_sat(solver, sel == k) == z3.unsat:
            # Consecution would hold vacuously: the invariants contradict
            # this transition's guard. Every transition of the shared
            # machine is meant to be possible, so this is a defect.
            failures.append(f"vacuous: {t.key} cannot fire from any state satisfying the invariants")
            continue
        if check_sat(solver, sel == k, broken) == z3.sat:
            for inv, f in zip(invs, inv_next):
                if check_sat(solver, sel == k, z3.Not(f)) == z3.sat:
                    who = f" (c{c})" if c else ""
                    failures.append(f"invariant {inv.name} is not preserved by {t.key}{who}")

    solver = enc.solver(timeout_ms)
    solver.add(enc.domain(s), *inv_now)
    property_ok = {}
    for prop in props:
        count += 1
        property_ok[prop.name] = check_sat(solver, event_formula(tr, instances, s, prop)) == z3.unsat
    return InvariantReport(not failures, count, failures, time.perf_counter() - t0, property_ok)


# -- bounded model checking --------------------------------------------------


def _decode_path(model: z3.ModelRef, unroll: Unrolling, k: int, last_sel) -> list:
    picks = [model.eval(unroll.selectors[i], model_completion=True).as_long() for i in range(k)]
    picks.append(model.eval(last_sel, model_completion=True).as_long())
    return [unroll.instances[p] for p in picks]


def by_first_appearance(picks: list) -> list:
    """Rename controllers so that c1 is the first to act, c2 the next, ...

    Controllers are interchangeable (same initial state, same rules), so the
    renamed run is a run too; `replay` checks it again. This makes the
    solver's arbitrary choice of names stable and easier to read.
    """
    order: dict = {}
    for _, c, _ in picks:
        if c is not None and c not in order:
            order[c] = len(order) + 1
    return [(t, order.get(c) if c is not None else None, m) for t, c, m in picks]


def replay(executor: Executor, picks: list, prop: P.Property, model=None, unroll=None) -> Trace:
    """Run the solver's path concretely; the last step must be `prop`'s event.

    With `model`, each state is also compared with the solver's (only valid
    for the solver's own controller names).
    """
    s = executor.initial()
    states, steps = [s], []
    for i, (t, c, m) in enumerate(picks):
        inst = Instance(t, c, m)
        if i == len(picks) - 1:
            events = executor.event(s, prop)
            if inst not in events:
                raise ReplayMismatch(
                    f"replaying the solver's path: step {i + 1} ({inst.label()}) is not a "
                    f"{prop.name} event in the concrete state"
                )
        s = executor.fire(s, inst)
        if model is not None and i + 1 < len(unroll.states):
            expected = unroll.enc.values(model, unroll.states[i + 1])
            got = executor.decode_raw(s)
            if expected != got:
                diff = sorted(k for k in got if got[k] != expected[k])
                raise ReplayMismatch(f"step {i + 1} ({inst.label()}): solver and executor disagree on {diff}")
        steps.append(inst)
        states.append(s)
    return Trace(steps, states, violating=len(steps) - 1)


def search(machine: Machine, n: int, props, depth: int, progress: Progress, on_found,
           timeout_ms: int = 60_000, accept=None, tries: int = 12) -> set:
    """Iterative deepening over all `props` at once; shortest event first.

    Calls `on_found(prop, trace, depth)` for each; returns the names of the
    properties whose event is unreachable up to `depth` steps. With
    `accept(trace) -> bool`, a run it refuses is excluded and another one of
    the same length is asked for (up to `tries` times), so the trace found
    is a shortest one among those `accept` takes, when there is one.
    """
    executor = Executor(machine, n)
    unroll = Unrolling.start(machine, n, "b")
    solver = unroll.enc.solver(timeout_ms)
    solver.add(unroll.tr.init(unroll.states[0]))
    pending = list(props)
    for k in range(depth):
        last = unroll.enc.int(f"last@{k}")
        for prop in list(pending):
            goal = event_formula(unroll.tr, unroll.instances, unroll.states[k], prop, last)
            excluded = []
            for _ in range(tries if accept else 1):
                if check_sat(solver, goal, *excluded) != z3.sat:
                    break
                model = solver.model()
                picks = _decode_path(model, unroll, k, last)
                replay(executor, picks, prop, model, unroll)  # the solver's own run
                trace = replay(executor, by_first_appearance(picks), prop)
                if accept is None or accept(trace):
                    on_found(prop, trace, k + 1)
                    pending.remove(prop)
                    break
                sels = unroll.selectors[:k] + [last]
                values = [model.eval(x, model_completion=True) for x in sels]
                excluded.append(z3.Or([x != v for x, v in zip(sels, values)]))
        if not pending:
            break
        progress(f"no event up to depth {k + 1} for "
                 f"{', '.join(p.name for p in pending)}")
        if k + 1 < depth:
            solver.add(unroll.extend())
    return {p.name for p in pending}


def inductive_subset(machine: Machine, n: int, candidates, timeout_ms: int = 30_000) -> list:
    """The largest subset of `candidates` that is inductive together (Houdini).

    Repeatedly drops every candidate that fails initiation or is not
    preserved by some transition from a state satisfying all survivors.
    """
    enc = FixedN(machine, n)
    tr = Translator(enc)
    instances = list(enc.instances())
    s, s2 = enc.fresh_state("l"), enc.fresh_state("l'")
    init = enc.solver(timeout_ms)
    init.add(tr.init(s))
    alive = [c for c in candidates
             if check_sat(init, z3.Not(tr.expr(c.formula, s, {}))) == z3.unsat]
    step = step_relation(tr, instances, s, s2, enc.int("sel"))
    while alive:
        solver = enc.solver(timeout_ms)
        solver.add(enc.domain(s), step, *[tr.expr(c.formula, s, {}) for c in alive])
        after = [tr.expr(c.formula, s2, {}) for c in alive]
        keep = [c for c, f in zip(alive, after) if check_sat(solver, z3.Not(f)) == z3.unsat]
        if len(keep) == len(alive):
            return keep
        alive = keep
    return alive


def k_induction(machine: Machine, n: int, prop: P.Property, kmax: int, lemmas=(),
                timeout_ms: int = 30_000) -> Optional[int]:
    """The smallest k <= kmax for which the induction step is unsat, else None.

    `lemmas` must be proved inductive already; they strengthen every state
    of the path. Sound only together with a bounded check to depth >= k,
    which the caller does (`search`) before reporting a proof.
    """
    unroll = Unrolling.start(machine, n, "k")
    solver = unroll.enc.solver(timeout_ms)

    def assume(st):
        solver.add(unroll.enc.domain(st), *[unroll.tr.expr(l.formula, st, {}) for l in lemmas])

    assume(unroll.states[0])
    for k in range(1, kmax + 1):
        solver.add(z3.Not(event_formula(unroll.tr, unroll.instances, unroll.states[k - 1], prop)))
        solver.add(unroll.extend())
        assume(unroll.states[k])
        bad = event_formula(unroll.tr, unroll.instances, unroll.states[k], prop)
        if check_sat(solver, bad) == z3.unsat:
            return k
    return None


def spacer(machine: Machine, n: int, prop: P.Property, timeout_s: float, lemmas=()) -> str:
    """'proved' / 'reachable' from Z3's Spacer engine; raises SolverUnknown.

    The reachable states are a relation over the variables in the cone of
    influence of the guards, the property and the lemmas; the (already
    proved) lemmas restrict the states a step may start from.
    """
    enc = FixedN(machine, n)
    tr = Translator(enc)
    instances = list(enc.instances())
    flag = enc.flag(prop)
    keep = cone_of_influence(machine, [flag] + [l.formula for l in lemmas])
    s, s2 = enc.fresh_state("h"), enc.fresh_state("h'")
    flat, flat2 = enc.flat(s, keep), enc.flat(s2, keep)
    sel = enc.int("sel")
    fp = z3.Fixedpoint(ctx=enc.ctx)
    fp.set(engine="spacer")
    fp.set("timeout", int(timeout_s * 1000))
    # Measured on this model: without inlining, Spacer is 2-10x faster.
    fp.set("xform.inline_eager", False)
    fp.set("xform.inline_linear", False)
    reach = z3.Function("reach", *[x.sort() for x in flat], z3.BoolSort(enc.ctx))
    fp.register_relation(reach)
    outside = [x for x in enc.flat(s) + enc.flat(s2)
               if not any(x.eq(y) for y in flat + flat2)]
    fp.declare_var(*flat, *flat2, sel, *outside)
    known = [tr.expr(l.formula, s, {}) for l in lemmas]
    fp.rule(reach(*flat), tr.init(s, keep))
    fp.rule(reach(*flat2), [reach(*flat), *known, step_relation(tr, instances, s, s2, sel, keep)])
    try:
        result = fp.query(z3.And(reach(*flat), *known, event_formula(tr, instances, s, prop)))
    except z3.Z3Exception as exc:  # canceled: an unknown, never a crash
        raise SolverUnknown(str(exc) or "Spacer failed") from None
    if result == z3.unsat:
        return "proved"
    if result == z3.sat:
        return "reachable"
    raise SolverUnknown(fp.reason_unknown())


# -- the whole check of one variant -----------------------------------------


def verify(variant: Variant, n: int, *, depth: int = DEFAULT_DEPTH, world: Optional[World] = None,
           progress: Optional[Progress] = None, spacer_timeout_s: float = SPACER_TIMEOUT_S,
           properties: Optional[tuple] = None, witnesses: bool = True) -> list:
    """Every property of `variant` for `n` controllers: a list of `Result`.

    `properties` (names of `always` properties) restricts the cells checked;
    `witnesses=False` skips the `sometimes` witnesses (a caller that checks
    them separately: `sessionfence.cells`).

    Order (for speed only; every verdict stands on its own evidence):
    declared invariants; then, for cells expected to hold, k-induction and
    Spacer strengthened with the shared lemmas inductive for this variant;
    then iterative-deepening BMC for everything still open (counterexamples
    and `sometimes` witnesses); then proofs for what BMC could not refute.
    """
    progress = progress or (lambda msg: None)
    machine = build(variant, world)
    world = machine.world
    results: dict[str, Result] = {}
    notes: dict[str, str] = {}
    t0 = time.perf_counter()

    def record(prop, status, method, depth_=None, trace=None, note="", started=t0):
        expected = ("reachable" if prop.kind == "sometimes"
                    else variant.expectation(prop.name, world))
        results[prop.name] = Result(variant.name, prop.name, prop.kind, n, world, status,
                                    expected, method, depth_, time.perf_counter() - started,
                                    trace, note or notes.get(prop.name, ""))

    def found(prop, trace, k, method="bmc"):
        record(prop, "violated" if prop.kind == "always" else "reachable", method, k, trace)

    def explicit(props):
        # Shallow events are found fastest on the executor; nothing found
        # here proves anything, BMC and the provers still run.
        if not props:
            return
        progress("breadth-first search of the concrete states")
        ex = Executor(machine, n)
        got = bfs.shortest_events(machine, n, props)
        for prop in props:
            if prop.name in got:
                trace = replay(ex, by_first_appearance(got[prop.name]), prop)
                found(prop, trace, len(trace.steps), "bfs")

    def pending(props):
        return [p for p in props if p.name not in results]

    always = [p for p in P.ALWAYS if properties is None or p.name in properties]
    sometimes = list(P.sometimes_for(variant)) if witnesses else []
    lemma_cache: list = []

    def lemmas():
        # The shared lemmas and the variant's own invariants, as far as they
        # are inductive for this variant (a changed rule may break some).
        if not lemma_cache:
            progress("selecting inductive lemmas")
            own = INV.SETS[variant.invariants] if variant.invariants else ()
            candidates = INV.for_machine(machine, own)
            lemma_cache.append(inductive_subset(machine, n, candidates))
        return lemma_cache[0]

    def by_lemmas(prop) -> bool:
        started = time.perf_counter()
        try:
            if not lemmas() or not _excluded(machine, n, lemmas(), prop):
                return False
        except SolverUnknown:
            return False
        record(prop, "proved", f"invariants ({len(lemmas())})", started=started,
               note=INDUCTIVE_NOTE + ", ".join(l.name for l in lemmas()))
        return True

    def prove(prop) -> bool:
        started = time.perf_counter()
        progress(f"{prop.name}: k-induction")
        try:
            k = k_induction(machine, n, prop, min(KIND_MAX, depth), lemmas())
        except SolverUnknown:
            k = None
        if k is not None:
            # the base case: no event within k steps from the initial state
            search(machine, n, [prop], k, progress, found)
            if prop.name not in results:
                record(prop, "proved", f"k-induction (k={k})", started=started,
                       note=f"with {len(lemmas())} inductive lemmas")
            return True
        progress(f"{prop.name}: Spacer (timeout {spacer_timeout_s:g}s)")
        try:
            verdict = spacer(machine, n, prop, spacer_timeout_s, lemmas())
        except SolverUnknown as exc:
            notes[prop.name] = f"Spacer gave no answer ({exc})"
            return False
        if verdict == "proved":
            names = ", ".join(l.name for l in lemmas())
            record(prop, "proved", "spacer", note=f"lemmas: {names}", started=started)
            return True
        notes[prop.name] = "Spacer finds the event reachable"
        return False

    # The inductive lemmas alone settle a cell whose bad event they exclude.
    for prop in always:
        if variant.expectation(prop.name, world) != "violated":
            by_lemmas(prop)
    explicit([p for p in pending(always) if variant.expectation(p.name, world) != "holds"])
    if pending(always):
        # A shallow search finds most violations faster than Spacer would
        # fail to prove them.
        try:
            search(machine, n, pending(always), min(depth, SHALLOW_DEPTH), progress, found)
        except SolverUnknown:
            pass  # the full search below reports it
    for prop in pending(always):
        if variant.expectation(prop.name, world) != "violated":
            prove(prop)

    explicit(pending(sometimes))
    open_props = pending(always) + pending(sometimes)
    try:
        search(machine, n, open_props, depth, progress, found)
    except SolverUnknown as exc:
        for prop, trace in lifted(machine, n, pending(open_props), depth, progress).items():
            status = "violated" if prop.kind == "always" else "reachable"
            record(prop, status, "lifted", len(trace.steps), trace,
                   note=f"BMC at {n} controllers: Z3 answered unknown ({exc}); this run of "
                        f"fewer controllers replays at {n}, a shorter one may exist")
        for prop in pending(open_props):
            record(prop, "unknown", "bmc", note=f"Z3 answered unknown: {exc}")

    for prop in pending(sometimes):
        record(prop, "bounded", "bmc", depth, note=f"no witness within {depth} steps")
    for prop in pending(always):
        tried = prop.name in notes
        if tried or not prove(prop):
            if prop.name not in results:
                record(prop, "bounded", "bmc", depth)
    order = [p.name for p in always + sometimes]
    return [results[name] for name in order]


def lifted(machine: Machine, n: int, props, depth: int, progress: Progress) -> dict:
    """{property: trace at `n` controllers} from the shortest runs of fewer.

    A controller that never acts stays in its initial state, so a run of m
    controllers is usually a run of n > m with the others idle: a guard
    that quantifies over the others could still tell them apart, which is
    why each run is replayed on the executor for `n` (every step enabled,
    the last one the property's event) and dropped if it is not a run
    there. Used when BMC at `n` gives no answer (a solver time-out on a
    busy machine); the run is a counterexample, not always a shortest one.
    """
    out: dict = {}
    big = Executor(machine, n)
    for m in range(2, n):
        todo = [p for p in props if p not in out]
        if not todo:
            break
        progress(f"runs of {m} controllers for {', '.join(p.name for p in todo)}")
        picks = dict(bfs.shortest_events(machine, m, todo))
        rest = [p for p in todo if p.name not in picks]
        if rest:
            def keep(prop, trace, k):
                picks[prop.name] = [(i.transition, i.ctrl, i.mode) for i in trace.steps]
            try:
                search(machine, m, rest, depth, progress, keep)
            except SolverUnknown:
                pass
        for prop in todo:
            if prop.name in picks:
                try:
                    out[prop] = replay(big, by_first_appearance(picks[prop.name]), prop)
                except (ReplayMismatch, NotEnabled):
                    continue
    return out


def _excluded(machine: Machine, n: int, invs, prop) -> bool:
    """Do `invs` (proved inductive) rule out `prop`'s bad event? (unsat)"""
    enc = FixedN(machine, n)
    tr = Translator(enc)
    s = enc.fresh_state("x")
    solver = enc.solver(30_000)
    solver.add(enc.domain(s), *[tr.expr(i.formula, s, {}) for i in invs])
    return check_sat(solver, event_formula(tr, list(enc.instances()), s, prop)) == z3.unsat


# Proofs for any number of controllers live in parametric.py (it builds on
# `verify`); re-exported for callers of this module.
from sessionfence.model.parametric import (  # noqa: E402,F401
    LEARN_BUDGET_S, prove_invariants_any, verify_any,
)
