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
from dataclasses import dataclass, field
from typing import Callable, Optional

import z3

from sessionfence.model import invariants as INV
from sessionfence.model import properties as P
from sessionfence.model.concrete import Executor, Instance
from sessionfence.model.machine import Machine, build
from sessionfence.model.smt import (
    FixedN,
    SolverUnknown,
    Translator,
    Unrolling,
    check_sat,
    event_formula,
    step_relation,
)
from sessionfence.model.variants import Variant

DEFAULT_DEPTH = 20
KIND_MAX = 4  # k-induction tries k = 1..KIND_MAX before Spacer
SPACER_TIMEOUT_S = 60

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
    atomic_writes: bool
    status: str
    expected: str
    method: str
    depth: Optional[int]
    seconds: float
    trace: Optional[Trace] = None
    note: str = ""

    @property
    def ok(self) -> bool:
        if self.kind == "sometimes":
            return self.status == "reachable"
        want = "proved" if self.expected == "holds" else "violated"
        return self.status == want


class ReplayMismatch(AssertionError):
    """Z3's path and the concrete executor disagree: an encoding bug."""


@dataclass
class _Pending:
    prop: P.Property
    started: float
    methods: list = field(default_factory=list)


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
    enc = FixedN(n)
    tr = Translator(enc)
    instances = list(enc.instances(machine))
    s, s2 = enc.fresh_state("i"), enc.fresh_state("i'")
    inv_now = [tr.expr(i.formula, s, {}) for i in invs]
    inv_next = [tr.expr(i.formula, s2, {}) for i in invs]
    failures: list[str] = []
    count = 0

    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    solver.add(tr.init(s))
    for inv, f in zip(invs, inv_now):
        count += 1
        if check_sat(solver, z3.Not(f)) == z3.sat:
            failures.append(f"invariant {inv.name} does not hold initially")

    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    sel = z3.Int("sel")
    solver.add(enc.domain(s), *inv_now, step_relation(tr, instances, s, s2, sel))
    broken = z3.Not(z3.And(inv_next))
    for k, (t, c, m) in enumerate(instances):
        count += 1
        if check_sat(solver, sel == k, broken) == z3.sat:
            for inv, f in zip(invs, inv_next):
                if check_sat(solver, sel == k, z3.Not(f)) == z3.sat:
                    who = f" (c{c})" if c else ""
                    failures.append(f"invariant {inv.name} is not preserved by {t.key}{who}")

    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
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


def replay(executor: Executor, picks: list, prop: P.Property, model=None, unroll=None) -> Trace:
    """Run the solver's path concretely; the last step must be `prop`'s event."""
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
           timeout_ms: int = 60_000) -> set:
    """Iterative deepening over all `props` at once; shortest event first.

    Calls `on_found(prop, trace, depth)` for each; returns the names of the
    properties whose event is unreachable up to `depth` steps.
    """
    executor = Executor(machine, n)
    unroll = Unrolling.start(machine, n, "b")
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    solver.add(unroll.tr.init(unroll.states[0]))
    pending = list(props)
    for k in range(depth):
        last = z3.Int(f"last@{k}")
        for prop in list(pending):
            goal = event_formula(unroll.tr, unroll.instances, unroll.states[k], prop, last)
            if check_sat(solver, goal) == z3.sat:
                model = solver.model()
                picks = _decode_path(model, unroll, k, last)
                on_found(prop, replay(executor, picks, prop, model, unroll), k + 1)
                pending.remove(prop)
        if not pending:
            break
        progress(f"{machine.variant.name}: no event up to depth {k + 1} for "
                 f"{', '.join(p.name for p in pending)}")
        if k + 1 < depth:
            solver.add(unroll.extend())
    return {p.name for p in pending}


def k_induction(machine: Machine, n: int, prop: P.Property, kmax: int, timeout_ms: int) -> Optional[int]:
    """The smallest k <= kmax for which the induction step is unsat, else None.

    Sound only together with a bounded check to depth >= k (done before).
    """
    unroll = Unrolling.start(machine, n, "k")
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    solver.add(unroll.enc.domain(unroll.states[0]))
    for k in range(1, kmax + 1):
        solver.add(z3.Not(event_formula(unroll.tr, unroll.instances, unroll.states[k - 1], prop)))
        solver.add(unroll.extend())
        bad = event_formula(unroll.tr, unroll.instances, unroll.states[k], prop)
        if check_sat(solver, bad) == z3.unsat:
            return k
    return None


def spacer(machine: Machine, n: int, prop: P.Property, timeout_s: float) -> str:
    """'proved' / 'reachable' from Z3's Spacer engine; raises SolverUnknown."""
    enc = FixedN(n)
    tr = Translator(enc)
    instances = list(enc.instances(machine))
    s, s2 = enc.fresh_state("h"), enc.fresh_state("h'")
    flat, flat2 = enc.flat(s), enc.flat(s2)
    sel = z3.Int("sel")
    fp = z3.Fixedpoint()
    fp.set(engine="spacer")
    fp.set("timeout", int(timeout_s * 1000))
    reach = z3.Function("reach", *[x.sort() for x in flat], z3.BoolSort())
    fp.register_relation(reach)
    fp.declare_var(*flat, *flat2, sel)
    fp.rule(reach(*flat), tr.init(s))
    fp.rule(reach(*flat2), [reach(*flat), step_relation(tr, instances, s, s2, sel)])
    result = fp.query(z3.And(reach(*flat), event_formula(tr, instances, s, prop)))
    if result == z3.unsat:
        return "proved"
    if result == z3.sat:
        return "reachable"
    raise SolverUnknown(fp.reason_unknown())


# -- the whole check of one variant -----------------------------------------


def verify(variant: Variant, n: int, *, depth: int = DEFAULT_DEPTH, atomic_writes: bool = False,
           progress: Optional[Progress] = None, spacer_timeout_s: float = SPACER_TIMEOUT_S) -> list:
    """Every property of `variant` for `n` controllers: a list of `Result`."""
    progress = progress or (lambda msg: None)
    machine = build(variant, atomic_writes=atomic_writes)
    results: dict[str, Result] = {}
    t0 = time.perf_counter()

    def result(prop, status, method, depth_=None, trace=None, note="", started=t0):
        expected = ("reachable" if prop.kind == "sometimes"
                    else variant.expectation(prop.name, atomic_writes))
        results[prop.name] = Result(variant.name, prop.name, prop.kind, n, atomic_writes, status,
                                    expected, method, depth_, time.perf_counter() - started,
                                    trace, note)

    always = list(P.ALWAYS)
    sometimes = list(P.sometimes_for(variant))
    notes: dict[str, str] = {}

    if variant.invariants:
        progress(f"{variant.name}: checking inductive invariants ({variant.invariants})")
        invs = INV.SETS[variant.invariants]
        try:
            report = prove_invariants(machine, n, invs, always)
        except SolverUnknown as exc:
            report = None
            for p in always:
                notes[p.name] = f"invariant check unknown: {exc}"
        if report is not None:
            for p in always:
                if report.proved and report.property_ok[p.name]:
                    result(p, "proved", f"inductive invariants ({len(invs)})",
                           note=f"{report.obligations} obligations, {report.seconds:.2f}s")
                elif not report.proved:
                    notes[p.name] = "; ".join(report.failures[:3])
                else:
                    notes[p.name] = "invariants do not imply the property"
            always = [p for p in always if p.name not in results]

    def found(prop, trace, k):
        status = "violated" if prop.kind == "always" else "reachable"
        result(prop, status, "bmc", k, trace, notes.get(prop.name, ""))

    try:
        unreached = search(machine, n, always + sometimes, depth, progress, found)
    except SolverUnknown as exc:
        for p in always + sometimes:
            if p.name not in results:
                result(p, "unknown", "bmc", note=f"Z3 unknown: {exc}")
        unreached = set()

    for p in sometimes:
        if p.name in unreached:
            result(p, "bounded", "bmc", depth, note=f"no witness within {depth} steps")

    for p in always:
        if p.name not in unreached:
            continue
        started = time.perf_counter()
        progress(f"{variant.name}: {p.name}: no counterexample to depth {depth}; trying k-induction")
        note = notes.get(p.name, "")
        try:
            k = k_induction(machine, n, p, min(KIND_MAX, depth), 30_000)
        except SolverUnknown:
            k = None
        if k is not None:
            result(p, "proved", f"k-induction (k={k})", depth, note=note, started=started)
            continue
        progress(f"{variant.name}: {p.name}: k-induction failed; trying Spacer")
        try:
            verdict = spacer(machine, n, p, spacer_timeout_s)
        except SolverUnknown as exc:
            result(p, "bounded", "bmc", depth, note=f"Spacer: {exc or 'unknown'}", started=started)
            continue
        if verdict == "proved":
            result(p, "proved", "spacer (CHC)", depth, note=note, started=started)
        else:
            result(p, "bounded", "bmc", depth,
                   note=f"Spacer finds a violation deeper than {depth} steps; rerun with a larger --depth",
                   started=started)
    order = [p.name for p in P.ALWAYS + P.sometimes_for(variant)]
    return [results[name] for name in order]
