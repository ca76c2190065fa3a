"""Coverage traces: the shortest run to every transition and every violation.

Targets of a variant (for N controllers):

* `transition KEY` -- every transition of the machine (`Transition.key`:
  one branch of one step, e.g. `reacquire:released->taken_over` is
  "reacquire taking over", `finish_write:write_after->held` "an owned write
  finishing with the lock kept"). The event is `properties.fires(KEY)`.
* `violation PROP` -- every `always` property the variant is declared to
  violate: its shortest counterexample.
* `witness PROP` -- every `sometimes` property of the variant, so that the
  behaviours that matter most for precision (a peer's write accepted) are
  replayed on their own.

All targets are searched at once by `check.search` (Z3 bounded model
checking, iterative deepening, so each trace is a shortest one; every trace
is replayed through the concrete executor before it is returned). A target
not reached is reported with the reason: proved unreachable (k-induction or
Spacer, strengthened with the shared lemmas that are inductive for this
variant), or only "no witness within D steps" when no proof was found.

`external_write` cannot be a Z3 event (it has no acting controller); the
shortest run to each kind of edit is found breadth-first with the executor
(most kinds are enabled at once; one that needs a file is not after a
deletion).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable, Optional

import z3

from sessionfence.conformance.external_plan import unfaithful
from sessionfence.model import check
from sessionfence.model import invariants as INV
from sessionfence.model import properties as P
from sessionfence.model.check import Trace
from sessionfence.model.concrete import Executor, NotEnabled
from sessionfence.model.machine import Machine, build
from sessionfence.model.smt import SolverUnknown
from sessionfence.model.variants import Variant
from sessionfence.model.world import World

QUICK_DEPTH = 8  # first pass
MIDDLE_DEPTH = 10  # second pass: every reachable target of the four designs, N <= 3
DEFAULT_DEPTH = 12
KIND_MAX = 4
PROOF_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Target:
    name: str  # "transition KEY" | "violation PROP" | "witness PROP"
    kind: str
    prop: Optional[P.Property]  # None for external_write
    kind_of: object = None  # the edit kind of an external_write target

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9_]+", "-", self.name.lower()).strip("-")

    @property
    def status(self) -> str:
        return "violation" if self.kind == "violation" else "ok"


@dataclass
class Covered:
    target: Target
    trace: Trace
    seconds: float

    @property
    def depth(self) -> int:
        return len(self.trace.steps)


@dataclass
class Unreached:
    target: Target
    reason: str
    proved: bool  # True: proved unreachable for this N


@dataclass
class CoverResult:
    variant: str
    controllers: int
    world: World
    depth: int
    covered: list
    unreached: list
    seconds: float


def targets(machine: Machine, variant: Variant) -> list:
    out = []
    for t in machine.transitions:
        prop = None if t.source is None else P.fires(t.key)
        out.append(Target(f"transition {t.key}", "transition", prop, t.kind))
    for prop in P.ALWAYS:
        if variant.expectation(prop.name, machine.world) == "violated":
            out.append(Target(f"violation {prop.name}", "violation", prop))
    for prop in P.sometimes_for(variant):
        out.append(Target(f"witness {prop.name}", "witness", prop))
    return out


def cover(variant: Variant, n: int, *, depth: int = DEFAULT_DEPTH,
          world: Optional[World] = None, progress: Optional[Callable[[str], None]] = None,
          proof_timeout_s: float = PROOF_TIMEOUT_S) -> CoverResult:
    progress = progress or (lambda msg: None)
    t0 = time.perf_counter()
    machine = build(variant, world)
    world = machine.world
    ex = Executor(machine, n)
    all_targets = targets(machine, variant)
    covered: dict = {}
    unreached: dict = {}

    for target in all_targets:
        if target.prop is None:
            trace = _external_only(ex, target.kind_of)
            if trace is not None:
                covered[target.name] = Covered(target, trace, 0.0)
    by_prop = {t.prop.name: t for t in all_targets if t.prop is not None}
    started = time.perf_counter()

    def found(prop, trace, k):
        covered[by_prop[prop.name].name] = Covered(by_prop[prop.name], trace,
                                                   time.perf_counter() - started)

    def pending():
        return [t for t in all_targets if t.name not in covered and t.name not in unreached]

    searched = [0]  # deepest bound fully searched (no event of a pending target)
    notes: dict = {}

    def search(to_depth: int) -> None:
        props = [t.prop for t in pending()]
        if not props:
            return
        try:
            # a trace real files can follow, where one of the same length exists
            check.search(machine, n, props, to_depth,
                         lambda msg: progress(f"[{variant.name}, N={n}] cover: {msg}"), found,
                         accept=lambda trace: not unfaithful(ex, trace))
            searched[0] = to_depth
        except SolverUnknown as exc:
            for t in pending():
                notes[t.name] = (notes.get(t.name, "") +
                                 f"; Z3 gave no answer searching to depth {to_depth} ({exc})")

    # Cheapest first: a shallow search finds most targets; k-induction
    # removes the easily unreachable ones; a deeper search the rest of the
    # reachable ones; Spacer tries to prove what is left; only then the
    # full-depth search. (Each search restarts at depth 1, but the shallow
    # levels cost little; an unsatisfiable deep level costs the most: at N=3
    # depth 12 takes ~90 s where depth 10 takes ~15 s.)
    quick = min(depth, QUICK_DEPTH)
    search(quick)
    lemmas: list = []
    if pending():
        lemmas = check.inductive_subset(machine, n, _lemma_candidates(variant, machine))
        for t in pending():
            verdict = _k_induction(machine, n, t.prop, lemmas, searched[0])
            if verdict:
                unreached[t.name] = Unreached(t, verdict, True)
    middle = min(depth, MIDDLE_DEPTH)
    if middle > quick:
        search(middle)
    for t in pending():
        progress(f"[{variant.name}, N={n}] cover: trying to prove {t.name} unreachable (Spacer)")
        verdict = _spacer(machine, n, t.prop, lemmas, proof_timeout_s)
        if verdict.startswith("proved"):
            unreached[t.name] = Unreached(t, verdict, True)
        else:
            notes[t.name] = notes.get(t.name, "") + f"; {verdict}"
    if depth > middle:
        search(depth)
    for t in pending():
        unreached[t.name] = Unreached(t, f"no witness within {searched[0]} steps"
                                      + notes.get(t.name, ""), False)
    order = {t.name: i for i, t in enumerate(all_targets)}
    return CoverResult(variant.name, n, world, depth,
                       sorted(covered.values(), key=lambda c: order[c.target.name]),
                       sorted(unreached.values(), key=lambda u: order[u.target.name]),
                       time.perf_counter() - t0)


def _lemma_candidates(variant: Variant, machine: Machine) -> list:
    """Shared lemmas plus the variant's own invariants, if it declares any.

    Only candidates: `inductive_subset` keeps the largest subset that is
    inductive for this machine (e.g. with --atomic-writes), so every lemma
    used in a proof is proved itself.
    """
    return INV.for_machine(machine, INV.SETS.get(variant.invariants or "", ()))


def _k_induction(machine, n, prop, lemmas, searched: int) -> str:
    # Sound here because the bounded search already showed no event within
    # `searched` >= k steps of the initial state (the base case).
    try:
        k = check.k_induction(machine, n, prop, min(KIND_MAX, searched), lemmas)
    except SolverUnknown:
        return ""
    return f"proved unreachable (k-induction, k={k})" if k is not None else ""


def _spacer(machine, n, prop, lemmas, timeout_s: float) -> str:
    try:
        verdict = check.spacer(machine, n, prop, timeout_s, lemmas)
    except (SolverUnknown, z3.Z3Exception) as exc:
        # Spacer reports a timeout as an exception ("canceled"), not unknown.
        return f"Spacer gave no answer within {timeout_s:g}s ({exc})"
    if verdict == "proved":
        return "proved unreachable (Spacer)"
    return "Spacer finds it reachable: raise --depth"


def _external_only(ex: Executor, kind) -> Optional[Trace]:
    """The shortest run to an external edit of `kind`: breadth-first on the
    executor (the edit has no acting controller, so it is no Z3 event);
    None if it is not enabled within a few steps."""
    from collections import deque

    s0 = ex.initial()
    queue, seen = deque([(s0, [], [s0])]), {s0}
    while queue:
        s, steps, states = queue.popleft()
        try:
            inst, s1 = ex.step(s, "external_write", None, None, kind)
            return Trace(steps + [inst], states + [s1], violating=None)
        except NotEnabled:
            pass
        if len(steps) >= 4:
            continue
        for inst, nxt in ex.successors(s):
            if nxt not in seen:
                seen.add(nxt)
                queue.append((nxt, steps + [inst], states + [nxt]))
    return None


def file_name(variant: str, n: int, world: World, target: Target) -> str:
    tag = "" if world.fingerprint == "digest" else "-stat"
    tag += "-atomic" if world.atomic_writes else ""
    return f"{variant}-n{n}{tag}-{target.slug}.itf.json"
