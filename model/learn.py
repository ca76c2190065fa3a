"""Quantified invariants learned from counterexamples to induction.

No one writes invariants by hand for a fence change: this module finds them
for any machine (a built-in design, a maintainer's variant file), so that
its safe cells are proved for any number of controllers.

Language (`clauses.py`). A candidate is a clause quantified over one
controller d (or two, d ≠ e): "when d is in phase p (and e in phase q), one
of a few literals holds", over the machine's own control values and
comparisons within one role of numbers.

Search (in the spirit of ICE learning and IC3PO, with DistAI's samples):

1. **Samples.** The reachable states of 2 and 3 controllers, breadth-first
   on the compiled executor (`infer.sample`) and by seeded random runs.
   Every candidate must hold in every sample, so candidates are guesses at
   the reachable states.
2. **Counterexamples drive the guesses** (`cti.FixedCheck`). Start with no
   invariant. Ask Z3, for 3 controllers, for a state of the guesses that
   enables a property's bad event, or that steps out of the guesses a proof
   so far rests on (unsat cores say which: only those must be inductive).
   That state is unreachable if the property holds, so some controller (or
   pair) in it looks like no sample: the smallest clauses that this point
   falsifies and every sample satisfies are a minimal hitting-set problem
   (each sample point must differ from the bad point in a literal of the
   clause). The controllers that step or enable the event are blamed
   first, with literals over what the step reads (`_separating`). When no
   clause separates the state from the samples, the state is taken as
   reachable (ICE's implication rule): its points and its successor's join
   the samples, and the guesses the successor breaks are dropped for good.
3. **Any number of controllers.** When nothing is left to ask at 3
   controllers, Houdini over the uninterpreted controller sort keeps the
   subset that is inductive for every N, and Z3 checks that it excludes
   each property's bad event. A clause dropped there is banned and the
   search resumes at 4 controllers.

A cell is *proved* only by Z3's `unsat` of initiation, consecution and
exclusion (`houdini.Houdini`, `houdini.property_excluded`); `unknown`
never is. The result prints in plain words and saves to JSON, so a proof is
re-checked later without learning (`houdini.check_saved`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Callable, Optional

from sessionfence.model import infer as INF
from sessionfence.model.clauses import Clause, Vocabulary, clause_invariant
from sessionfence.model.concrete import Layout
from sessionfence.model.cti import FixedCheck
from sessionfence.model.explore import forgettable
from sessionfence.model.expr import Expr, Param, variables_of
from sessionfence.model.houdini import Houdini, property_excluded
from sessionfence.model.machine import Machine
from sessionfence.model.smt import SolverUnknown, cone_of_influence

PER_POINT = 2
# Nodes of one hitting-set search: a four-literal search over thousands of
# sample differences can take minutes (file-owner), and another suspect
# point usually has a narrower clause.
HIT_NODES = 50_000


@dataclass(frozen=True)
class Stage:
    """One attempt: how many states to sample, how wide a clause may be, and
    when to give up on it for the next (None: never)."""

    bfs: dict  # controllers -> states of the breadth-first search
    max_extra: int  # literals of a clause beside its phase premise
    refuted_max: Optional[int]  # refuted guesses: the samples were too few
    rounds_max: Optional[int] = None  # counterexamples: the clauses too narrow


# Samples per size, by count (not time) so that a run learns the same clauses
# on any machine: the first states of a breadth-first search, then the
# states of seeded random runs, which reach deeper. The simple designs are
# learned from the first, small set with clauses of three literals
# (strict-fingerprint: 12 s). When counterexamples keep refuting guesses,
# the guesses were fitted to too few states; when they keep coming, the
# clauses may be too narrow. Either way learning starts again from the
# larger set, with clauses one literal wider (broad-publication's precision
# needs four: "when d is released: ext_alive[d] or not the lock is free or
# clock = fence[d] or clock = reg_fp").
STAGES = (Stage({2: 30_000, 3: 5_000}, 3, 150, 400),
          Stage({2: 150_000, 3: 150_000}, 4, None))
SAMPLE_WALKS = {2: 1_000, 3: 1_000}
WALK_LENGTH = 60


class Learner:
    """The counterexample-guided search for one machine."""

    def __init__(self, machine: Machine, samples: dict, props, progress=lambda m: None,
                 max_extra: int = 3):
        self.machine = machine
        self.max_extra = max_extra
        self.deadline: Optional[float] = None  # learning's, for the hitting-set search
        self.progress = progress
        flags = [machine.flag(p, Param("c", "ctrl")) for p in props]
        keep = cone_of_influence(machine, flags) | {"phase", "holder"}
        self.voc = {False: Vocabulary(machine, False, keep),
                    True: Vocabulary(machine, True, keep)}
        final, self.forgettable = forgettable(machine)
        self.final = {int(p) for p in final}
        self.points = {False: {}, True: {}}  # premise key -> set of sample bit patterns
        self._bits: dict = {}
        self._lit_reads: dict = {}
        for n, states in samples.items():
            self._add_samples(n, states)

    # -- points ---------------------------------------------------------------------

    def bits_fn(self, n: int, pair: bool):
        key = (n, pair)
        if key not in self._bits:
            self._bits[key] = self.voc[pair].compile(Layout(self.machine, n))
        return self._bits[key]

    def _premise(self, pair: bool, bits: int) -> tuple:
        md, me = self.voc[pair].phase_masks
        return (bits & md, bits & me) if pair else (bits & md,)

    def _add_samples(self, n: int, states: list) -> None:
        layout = Layout(self.machine, n)
        glob = [layout.index[v.name] for v in self.machine.globals]

        def slots(c):
            return [layout.index[v.name] - 1 + c for v in self.machine.per_ctrl]

        for pair in (False, True):
            fn = self.bits_fn(n, pair)
            seen: set = set()
            for d in range(1, n + 1):
                for e in (range(1, n + 1) if pair else (0,)):
                    if pair and e == d:
                        continue
                    # Points depend on the globals and d's (e's) slots only:
                    # project first, so each distinct point is computed once.
                    get = itemgetter(*(glob + slots(d) + (slots(e) if pair else [])))
                    for s in states:
                        proj = get(s)
                        if proj in seen:
                            continue
                        seen.add(proj)
                        b = fn(s, d, e)
                        self.points[pair].setdefault(self._premise(pair, b), set()).add(b)

    def add_points(self, n: int, values: dict) -> None:
        """A state's points join the samples."""
        for pair, bits, _ in self.state_points(n, values):
            self.points[pair].setdefault(self._premise(pair, bits), set()).add(bits)

    def state_points(self, n: int, values: dict) -> list:
        """(pair, bits, controllers) of every controller and ordered pair of
        a solver state."""
        layout = Layout(self.machine, n)
        s = [0] * layout.size
        for v in self.machine.vars:
            if v.per_ctrl:
                for c in range(1, n + 1):
                    s[layout.index[v.name] + c - 1] = values[v.name][c - 1]
            else:
                s[layout.index[v.name]] = values[v.name]
        s = tuple(s)
        # A controller in a phase no step leaves is rarely what makes a state
        # unreachable, and blaming its leftovers first would learn guesses
        # about data nothing observes: its points come last.
        live = [c for c in range(1, n + 1)
                if values["phase"][c - 1] not in self.final or not self.forgettable]
        rest = [c for c in range(1, n + 1) if c not in live]
        out = []
        for group in (live, rest):
            out += [(False, self.bits_fn(n, False)(s, d, 0), (d,)) for d in group]
        pairs = [(d, e) for d in live for e in live if e != d]
        pairs += [(d, e) for d in range(1, n + 1) for e in range(1, n + 1)
                  if e != d and (d, e) not in pairs]
        out += [(True, self.bits_fn(n, True)(s, d, e), (d, e)) for d, e in pairs]
        return out

    def mask_over(self, pair: bool, names: set) -> int:
        """The literals that talk about `names` only."""
        if pair not in self._lit_reads:
            self._lit_reads[pair] = [variables_of(lit.expr) for lit in self.voc[pair].literals]
        return sum(1 << i for i, reads in enumerate(self._lit_reads[pair]) if reads <= names)

    def violators(self, n: int, values: dict, clauses: list) -> set:
        """The controllers at which some of `clauses` is false in a state."""
        out: set = set()
        for pair, bits, who in self.state_points(n, values):
            if any(c.pair == pair and not c.holds_at(bits) for c in clauses):
                out.update(who)
        return out

    # -- separating clauses -------------------------------------------------------

    def differences(self, pair: bool, bits: int):
        """(premise literals, differences) of a point from the sample points
        of the same phase(s), or None when a sample matches it outright."""
        voc = self.voc[pair]
        md, me = voc.phase_masks
        phases = md | me
        same = self.points[pair].get(self._premise(pair, bits), set())
        if bits in same:
            return None
        width = len(voc.literals)
        free = ((1 << width) - 1) & ~phases
        diffs = sorted({(q ^ bits) & free for q in same}, key=_popcount)
        if diffs and diffs[0] == 0:
            return None
        prem = tuple((i, False) for i in range(width) if (bits & phases) >> i & 1)
        return prem, diffs

    def clauses(self, pair: bool, bits: int, prem: tuple, diffs: list, size: int):
        """The clauses of `size` literals beside the premise that are false
        at `bits` and true at every sample point: minimal hitting sets of
        the differences."""
        for hit in _hitting_sets(diffs, size, self.deadline, HIT_NODES):
            yield Clause(pair, tuple(sorted(prem + tuple((i, not (bits >> i & 1)) for i in hit))))

    # -- formulas and words ---------------------------------------------------------

    def invariant(self, c: Clause, name: str) -> INF.Invariant:
        voc = self.voc[c.pair]
        return clause_invariant(name, c.pair, [(voc.literals[i], want) for i, want in c.lits])

    def formula(self, c: Clause) -> Expr:
        return self.invariant(c, "").formula


def _hitting_sets(diffs: list, size: int, deadline: Optional[float] = None,
                  max_nodes: Optional[int] = None):
    """Minimal sets of `size` bit positions meeting every mask in `diffs`.

    Each set is reached once: a branch on a bit excludes it from the
    branches after it (the set holding it was found there), so four
    literals over a hundred sample differences stay a search, not a
    product. `deadline` is checked as it goes: a wide search can run for
    minutes, and a budget is a promise. `max_nodes` ends a search early
    (counted, not timed, so that a run learns the same clauses on any
    machine): the sets it found so far are all it yields."""
    nodes = 0

    def rec(chosen: tuple, rest: list, excluded: int):
        nonlocal nodes
        nodes += 1
        if deadline is not None and nodes % 4096 == 0 and time.perf_counter() > deadline:
            raise SolverUnknown("learning ran out of time")
        if max_nodes is not None and nodes > max_nodes:
            return
        if not rest:
            if len(chosen) == size:
                yield chosen
            return
        if len(chosen) == size:
            return
        # Branch on the bits of the hardest mask left: one of them must be in.
        # (`rest` is sorted by size: the first mask is the hardest.)
        for i in _bits_of(rest[0] & ~excluded):
            bit = 1 << i
            yield from rec(chosen + (i,), [x for x in rest if not x & bit], excluded)
            excluded |= bit

    for hit in rec((), sorted(diffs, key=_popcount), 0):
        masks = {k: sum(1 << j for j in hit if j != k) for k in hit}
        if all(any(not x & masks[k] for x in diffs) for k in hit):
            yield tuple(sorted(hit))


def _popcount(x: int) -> int:
    return bin(x).count("1")


def _bits_of(x: int):
    i = 0
    while x:
        if x & 1:
            yield i
        x >>= 1
        i += 1


# -- the search ---------------------------------------------------------------------------


@dataclass
class Learned:
    invariants: list
    proved: dict
    seconds: float
    rounds: int = 0
    notes: list = field(default_factory=list)


def walks(machine: Machine, n: int, count: int, length: int = WALK_LENGTH,
          seed: int = 7) -> list:
    """The states of `count` seeded random runs of n controllers, renamed
    canonically."""
    import random

    from sessionfence.model.concrete import Executor
    from sessionfence.model.explore import Reducer

    rng = random.Random(seed)
    ex = Executor(machine, n)
    canon = Reducer(ex, forget=False)
    seen = set()
    for _ in range(count):
        s = ex.initial()
        for _ in range(length):
            seen.add(canon(s))
            nxt = ex.successors(s)
            if not nxt:
                break
            s = rng.choice(nxt)[1]
    return list(seen)


def learn(machine: Machine, props, *, scope="any", budget_s: float = 120.0,
          progress: Callable[[str], None] = lambda m: None,
          samples: Optional[dict] = None) -> Learned:
    """Learn invariants proving `props` for `scope` ("any" or a size)."""
    t0 = time.perf_counter()
    deadline = t0 + budget_s
    if samples is not None:
        given = Stage({}, STAGES[0].max_extra, None, None)
        return _search(machine, props, scope, t0, deadline, samples, given, progress, True)
    for stage in STAGES:
        samples = {}
        for n in INF.SAMPLE_SIZES:
            progress(f"learning: sampling reachable states of {n} controllers "
                     f"(up to {stage.bfs[n]:,}; clauses of up to {stage.max_extra} literals "
                     f"beside the phases)")
            # Counted, not timed (the same samples on any machine), but not
            # past the budget: a cut sample is never searched, since the
            # search starts by checking the deadline.
            samples[n] = INF.sample(machine, n, stage.bfs[n],
                                    max(0.0, deadline - time.perf_counter())) + \
                walks(machine, n, SAMPLE_WALKS[n])
        try:
            return _search(machine, props, scope, t0, deadline, samples, stage, progress,
                           stage is STAGES[-1])
        except _NextStage as exc:
            progress(f"learning: {exc}; sampling more states, with wider clauses")
    raise AssertionError("unreachable: the last stage has no limit")


class _NextStage(Exception):
    """This stage's samples or clauses are not enough: its guesses were
    refuted too often, kept coming, or none tells a bad state apart."""


def _search(machine: Machine, props, scope, t0: float, deadline: float, samples: dict,
            stage: Stage, progress, last: bool) -> Learned:
    learner = Learner(machine, samples, props, progress, stage.max_extra)
    learner.deadline = deadline
    banned: set = set()
    alive: list = []
    n = 3 if scope == "any" else max(scope, 2)
    rounds = 0
    notes: list = []
    while True:
        check = FixedCheck(machine, n, props, 30_000)
        for c in alive:
            check.add(c, learner.formula(c))
        # Demand-driven: only the clauses a proof rests on (those the bad
        # event's exclusion and their own consecution use, by unsat cores)
        # must be inductive. The other guesses are hypotheses nobody needs
        # yet; asking all of them to be inductive made learning chase the
        # support of facts no property is about (validate-on-assert: 2,000
        # guesses and growing).
        needed: list = []
        while True:
            if time.perf_counter() > deadline:
                raise SolverUnknown("learning ran out of time")
            rounds += 1
            if rounds % 50 == 0:
                progress(f"learning: {rounds} counterexamples so far, {len(alive)} guesses "
                         f"({len(needed)} needed), {len(banned)} refuted ({n} controllers)")
            if stage.rounds_max is not None and rounds > stage.rounds_max:
                raise _NextStage(f"{rounds} counterexamples and no proof yet")
            found = check.cti(alive, needed) if needed else []
            if isinstance(found, tuple):
                values, broken, who, reads, post = found
                focus = learner.violators(n, post, broken) | ({who} - {None})
                reads = reads.union(*[variables_of(learner.formula(c)) for c in broken])
                new = _separating(learner, n, values, banned, alive, focus, reads)
                if new:
                    for c in new:
                        check.add(c, learner.formula(c))
                    alive += new
                    continue
                # ICE's implication rule: a state no clause sets apart from
                # the reachable ones is taken as reachable, and so is its
                # successor. Its points join the samples, so that no later
                # guess is fitted to samples that lack them (benign-advance
                # refuted hundreds of variants of one wrong guess).
                learner.add_points(n, values)
                learner.add_points(n, post)
                banned.update(broken)
                alive = [c for c in alive if c not in broken]
                needed = [c for c in needed if c not in broken]
                if stage.refuted_max is not None and len(banned) > stage.refuted_max:
                    raise _NextStage(f"{len(banned)} guesses refuted by counterexamples")
                continue
            support = found
            target = None
            for p in props:
                target = check.bad_state(alive, p.name)
                if target is not None:
                    break
                support = support + check.excluding(alive, p.name)
            if target is not None:
                new = _separating(learner, n, target[0], banned, alive, target[1],
                                  check.event_reads[p.name])
                if not new and not last:
                    # Wider clauses or more samples may still tell it apart.
                    raise _NextStage(f"no clause of this stage separates a state enabling "
                                   f"{p.name}'s bad event from the samples")
                if not new:
                    notes.append(f"no clause separates a state enabling {p.name}'s bad event "
                                 f"from the samples ({n} controllers)")
                    return Learned(_named(learner, alive), {p.name: False for p in props},
                                   time.perf_counter() - t0, rounds, notes)
                for c in new:
                    check.add(c, learner.formula(c))
                alive += new
                continue
            more = [c for c in alive if c in set(support) and c not in needed]
            if not more:
                break
            needed += more
        alive = needed
        core = check.needed(alive, props)
        progress(f"learning: {len(alive)} clauses inductive for {n} controllers "
                 f"({rounds} rounds); {len(core)} of them needed")
        invs = _named(learner, core)
        if scope != "any":
            proved = {p.name: property_excluded(machine, n, invs, p) for p in props}
            return Learned(invs, proved, time.perf_counter() - t0, rounds, notes)
        kept = Houdini(machine, "any").run(invs, deadline)
        if len(kept) == len(invs):
            proved = {p.name: property_excluded(machine, "any", kept, p) for p in props}
            return Learned(kept, proved, time.perf_counter() - t0, rounds, notes)
        lost = {i.name for i in invs} - {i.name for i in kept}
        by_name = {i.name: c for i, c in zip(invs, core)}
        for name in lost:
            banned.add(by_name[name])
        alive = [c for c in alive if c not in banned]
        progress(f"learning: {len(lost)} clauses not inductive for any number; "
                 f"retrying with {min(n + 1, 5)} controllers")
        n = min(n + 1, 5)


def _separating(learner: Learner, n: int, values: dict, banned: set, alive: list,
                focus: set, reads: set) -> list:
    """The smallest clauses that tell one controller (or pair) of the state
    apart from the samples.

    The solver fills everything a query does not constrain with arbitrary
    values, and blocking those learned true but useless clauses by the
    hundred before the one that mattered. So suspects come in order:
    1. the controllers in `focus` (the one enabling the bad event; the one
       stepping and those whose clause the step breaks), then the others;
    2. for each, clauses over the variables in `reads` (what the bad event or
       the step and the broken clauses read), then over any;
    3. the narrowest clause first: a point that one literal sets apart is far
       from anything reachable, while one that needs four may be a reachable
       combination the samples missed. A clause about a pair counts one
       literal more: without that, benign-advance learned facts about
       pairs ("when d is done and e is write_after: ...") and ran out of
       time; with it, its precision is learned in under five minutes."""
    have = set(alive)
    tiers: tuple = ([], [])
    for pair, bits, who in learner.state_points(n, values):
        got = learner.differences(pair, bits)
        if got is not None:
            tiers[0 if focus & set(who) else 1].append((pair, bits) + got)
    masks = {pair: learner.mask_over(pair, reads) for pair in (False, True)}
    for suspects in tiers:
        narrow = []
        for pair, bits, prem, diffs in suspects:
            only = sorted({x & masks[pair] for x in diffs}, key=_popcount)
            if not only or only[0]:
                narrow.append((pair, bits, prem, only))
        for group in (narrow, suspects):
            # A pair clause counts one literal more: the second controller.
            for cost in range(learner.max_extra + 2):
                for pair, bits, prem, diffs in group:
                    size = cost - 1 if pair else cost
                    if not 0 <= size <= learner.max_extra:
                        continue
                    out: list = []
                    for c in learner.clauses(pair, bits, prem, diffs, size):
                        if c not in banned and c not in have:
                            have.add(c)
                            out.append(c)
                            if len(out) >= PER_POINT:
                                break
                    if out:
                        return out
    return []


def _named(learner: Learner, clauses: list) -> list:
    return [learner.invariant(c, f"l{i}") for i, c in enumerate(clauses)]


__all__ = ["Learned", "Learner", "learn"]
