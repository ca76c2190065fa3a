"""Quantified invariants learned from counterexamples to induction.

No one writes invariants by hand for a fence change: this module finds them
for any machine (a built-in design, a maintainer's variant file), so that
its safe cells are proved for any number of controllers.

Language. A candidate is a clause quantified over one controller d (or two,
d ≠ e): "when d is in phase p (and e in phase q), one of up to three
literals holds". Literals are the machine's own vocabulary: a controller's
control values (flags, mode, whether it holds the lock), the global flags,
and comparisons `x = y`, `x < y` between numbers of one value class
(fingerprints with fingerprints, generations with generations ...) and the
literals the machine uses (missing, ⊥, 0 ...), each possibly negated.

Search (in the spirit of ICE learning and IC3PO, with DistAI's samples):

1. **Samples.** The reachable states of 2 and 3 controllers, breadth-first
   on the compiled executor (`infer.sample`). Every candidate must hold in
   every sample, so candidates are guesses at the reachable states.
2. **Counterexamples drive the guesses.** Start with no invariant. Ask Z3,
   for 3 controllers, for a state that satisfies the invariants so far and
   either enables a property's bad event or steps out of the invariants.
   That state is unreachable if the property holds, so some controller (or
   pair) in it looks like no sample: the smallest clauses that this point
   falsifies and every sample satisfies are a minimal hitting-set problem
   (each sample point must differ from the bad point in a literal of the
   clause), solved exactly up to three literals. They join the invariants.
   When no clause separates the state from the samples, the invariants its
   successor breaks are dropped for good (Houdini's weakening).
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

import functools
import time
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Callable, Optional

import z3

from sessionfence.model import infer as INF
from sessionfence.model.houdini import Houdini, property_excluded
from sessionfence.model.concrete import Layout
from sessionfence.model.explore import forgettable
from sessionfence.model.expr import (
    NOBODY, At, Expr, Forall, Mode, Param, Phase, Var, disj,
)
from sessionfence.model.machine import Machine
from sessionfence.model.smt import FixedN, cone_of_influence, SolverUnknown, Translator, check_sat, event_formula, \
    step_relation

D, E = INF.D, INF.E
PER_POINT = 2


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


@dataclass(frozen=True)
class Literal:
    """One atomic fact about d (and e) and the globals, true or false at a point."""

    spec: tuple  # its identity, JSON-able: what `literal` builds it from
    expr: Expr
    words: str

    @property
    def phase_of(self) -> str:
        """"d" / "e" for the phase literals, which premises use."""
        return self.spec[1] if self.spec[0] == "phase" else ""


def _who(who: str):
    return D if who == "d" else E


def literal(spec) -> Literal:
    """The literal a spec names (vocabulary and saved files alike)."""
    kind = spec[0]
    if kind == "phase":
        _, who, value = spec
        x = Phase(int(value))
        return Literal(("phase", who, int(x)), At("phase", _who(who)) == x, f"{who} is {x.name}")
    if kind == "mode":
        _, who, value = spec
        x = Mode(int(value))
        return Literal(("mode", who, int(x)), At("mode", _who(who)) == x,
                       f"{who} in a {x.name} section")
    if kind == "flag":
        _, name, who = spec
        return Literal(("flag", str(name), who), At(str(name), _who(who)) == True,  # noqa: E712
                       f"{name}[{who}]")
    if kind == "holds":
        return Literal(("holds", spec[1]), Var("holder") == _who(spec[1]),
                       f"{spec[1]} holds the lock")
    if kind == "free":
        return Literal(("free",), Var("holder") == NOBODY, "the lock is free")
    if kind == "gflag":
        return Literal(("gflag", str(spec[1])), Var(str(spec[1])) == True,  # noqa: E712
                       str(spec[1]))
    if kind == "atom":
        _, op, a, b = spec
        atom = INF.Atom(str(op), INF._term(a), INF._term(b))
        if atom.op not in ("eq", "lt"):
            raise ValueError(f"unknown comparison {op!r}")
        return Literal(("atom", atom.op, list(a), list(b)), atom.expr(), atom.text())
    raise ValueError(f"unknown literal kind {kind!r}")


def _num(term: INF.Term, layout: Layout) -> str:
    if not term.var:
        return repr(term.value)
    if term.who == "g":
        return f"s[{layout.index[term.var]}]"
    return f"s[{layout.index[term.var] - 1} + {term.who}]"


def _code(spec, layout: Layout) -> str:
    """The literal as Python over a state tuple `s` and controllers `d`, `e`."""
    kind, at = spec[0], layout.index
    if kind in ("phase", "mode"):
        return f"s[{at[kind] - 1} + {spec[1]}] == {int(spec[2])}"
    if kind == "flag":
        return f"s[{at[spec[1]] - 1} + {spec[2]}]"
    if kind == "holds":
        return f"s[{at['holder']}] == {spec[1]}"
    if kind == "free":
        return f"s[{at['holder']}] == 0"
    if kind == "gflag":
        return f"s[{at[spec[1]]}]"
    a, b = INF._term(spec[2]), INF._term(spec[3])
    return f"{_num(a, layout)} {'==' if spec[1] == 'eq' else '<'} {_num(b, layout)}"


class Vocabulary:
    """The literals of the one-controller and the two-controller clauses."""

    def __init__(self, machine: Machine, pair: bool, keep: set):
        self.machine = machine
        self.pair = pair
        base = INF._Vocabulary(machine)
        # Only what can affect the properties at hand: the samples hold the
        # rest at its initial value, and a guess about it would be wrong.
        control = [v for v in base.control if v.name in keep]
        flags = [v for v in base.global_flags if v.name in keep]
        base.classes = [(tuple(x for x in names if x in keep), lits)
                        for names, lits in base.classes]
        whos = ("d", "e") if pair else ("d",)
        specs: list = []
        for who in whos:
            for v in control:
                if v.sort == "phase":
                    specs += [("phase", who, int(x)) for x in Phase]
                elif v.sort == "mode":
                    specs += [("mode", who, int(x)) for x in Mode if int(x)]
                else:
                    specs.append(("flag", v.name, who))
            specs.append(("holds", who))
        specs.append(("free",))
        specs += [("gflag", v.name) for v in flags]
        specs += [("atom",) + tuple(a.spec()) for a in base.atoms(whos)]
        self.literals = [literal(x) for x in specs]

    def compile(self, layout: Layout):
        """bits(s, d, e) -> int: bit i set when literal i holds."""
        lines = ["def bits(s, d, e):", "    m = 0"]
        for i, lit in enumerate(self.literals):
            lines.append(f"    if {_code(lit.spec, layout)}: m |= {1 << i}")
        lines.append("    return m")
        scope: dict = {}
        exec(compile("\n".join(lines), "<learn points>", "exec"), scope)
        return scope["bits"]

    @functools.cached_property
    def phase_masks(self) -> tuple:
        """Masks of the phase literals of d and of e (asked once per sample
        point: computed once)."""
        md = me = 0
        for i, lit in enumerate(self.literals):
            if lit.phase_of == "d":
                md |= 1 << i
            elif lit.phase_of == "e":
                me |= 1 << i
        return md, me


@dataclass(frozen=True)
class Clause:
    """∀d (∀e ≠ d): a disjunction of literals, each (index, wanted value)."""

    pair: bool
    lits: tuple  # ((i, True/False), ...), sorted

    def holds_at(self, bits: int) -> bool:
        return any(((bits >> i) & 1) == want for i, want in self.lits)


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

    def state_points(self, n: int, values: dict) -> list:
        """(pair, bits) of every controller and ordered pair of a solver state."""
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
            out += [(False, self.bits_fn(n, False)(s, d, 0)) for d in group]
        pairs = [(d, e) for d in live for e in live if e != d]
        pairs += [(d, e) for d in range(1, n + 1) for e in range(1, n + 1)
                  if e != d and (d, e) not in pairs]
        out += [(True, self.bits_fn(n, True)(s, d, e)) for d, e in pairs]
        return out

    # -- separating clauses -------------------------------------------------------

    def separate(self, pair: bool, bits: int, banned: set) -> list:
        """The smallest clauses false at `bits` and true at every sample point
        of the same phase(s): minimal hitting sets of the differences."""
        voc = self.voc[pair]
        md, me = voc.phase_masks
        phases = md | me
        premise = self._premise(pair, bits)
        same = self.points[pair].get(premise, set())
        if bits in same:
            return []
        width = len(voc.literals)
        free = ((1 << width) - 1) & ~phases
        diffs = sorted({(q ^ bits) & free for q in same}, key=lambda x: bin(x).count("1"))
        if any(x == 0 for x in diffs):
            return []
        prem = tuple((i, False) for i in range(width) if (bits & phases) >> i & 1)
        found: list = []
        for size in range(0, self.max_extra + 1):
            for hit in _hitting_sets(diffs, size, self.deadline):
                lits = tuple(sorted(prem + tuple((i, not (bits >> i & 1)) for i in hit)))
                c = Clause(pair, lits)
                if c not in banned:
                    found.append(c)
                if len(found) >= PER_POINT:
                    return found
            if found:
                return found
        return found

    # -- formulas and words ---------------------------------------------------------

    def invariant(self, c: Clause, name: str) -> INF.Invariant:
        voc = self.voc[c.pair]
        return clause_invariant(name, c.pair, [(voc.literals[i], want) for i, want in c.lits])

    def formula(self, c: Clause) -> Expr:
        return self.invariant(c, "").formula


def clause_invariant(name: str, pair: bool, parts: list) -> INF.Invariant:
    """∀d (∀e ≠ d): the disjunction of `parts` ((Literal, wanted value), ...)."""
    body = disj(*[lit.expr if want else ~lit.expr for lit, want in parts])
    formula = Forall(D, (), Forall(E, (D,), body)) if pair else Forall(D, (), body)
    premise = [lit.words for lit, want in parts if not want and lit.phase_of]
    rest = [("" if want else "not ") + lit.words for lit, want in parts
            if want or not lit.phase_of]
    words = (("when " + " and ".join(premise) + ": ") if premise else "always ") + \
        (" or ".join(rest) if rest else "never")
    spec = ("clause", pair, [[list(lit.spec), want] for lit, want in parts])
    return INF.Invariant(name, words, formula, spec)


def from_spec(name: str, spec) -> INF.Invariant:
    """A saved clause (`proof_files.save` wrote its spec)."""
    _, pair, parts = spec
    return clause_invariant(name, bool(pair), [(literal(x), bool(want)) for x, want in parts])


def _hitting_sets(diffs: list, size: int, deadline: Optional[float] = None):
    """Minimal sets of `size` bit positions meeting every mask in `diffs`.

    Each set is reached once: a branch on a bit excludes it from the
    branches after it (the set holding it was found there), so four
    literals over a hundred sample differences stay a search, not a
    product. `deadline` is checked as it goes: a wide search can run for
    minutes, and a budget is a promise."""
    nodes = 0

    def rec(chosen: tuple, covered: int, excluded: int):
        nonlocal nodes
        nodes += 1
        if deadline is not None and nodes % 4096 == 0 and time.perf_counter() > deadline:
            raise SolverUnknown("learning ran out of time")
        rest = [x for x in diffs if not x & covered]
        if not rest:
            if len(chosen) == size:
                yield chosen
            return
        if len(chosen) == size:
            return
        # Branch on the bits of the hardest mask left: one of them must be in.
        pivot = min(rest, key=_popcount)
        for i in _bits_of(pivot & ~excluded):
            yield from rec(chosen + (i,), covered | (1 << i), excluded)
            excluded |= 1 << i

    for hit in rec((), 0, 0):
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


class _FixedCheck:
    """Consecution and exclusion queries at a fixed size, incremental."""

    def __init__(self, machine: Machine, n: int, props, timeout_ms: int):
        self.enc = enc = FixedN(machine, n)
        self.tr = Translator(enc)
        self.n = n
        self.s, self.s2 = enc.fresh_state("l"), enc.fresh_state("l'")
        self.step = enc.solver(timeout_ms)
        self.step.add(enc.domain(self.s), step_relation(self.tr, list(enc.instances()), self.s,
                                                        self.s2, enc.int("sel")))
        self.bad = enc.solver(timeout_ms)
        self.bad.add(enc.domain(self.s))
        self.events = {p.name: event_formula(self.tr, list(enc.instances()), self.s, p)
                       for p in props}
        # Small cores: they decide which guesses must be inductive.
        for solver in (self.step, self.bad):
            solver.set("core.minimize", True)
        self.guard: dict = {}
        self.post: dict = {}
        self.round = 0

    def add(self, key, formula: Expr) -> None:
        g = z3.Bool(f"c{len(self.guard)}", self.enc.ctx)
        self.guard[key] = g
        pre = self.tr.expr(formula, self.s, {})
        self.step.add(z3.Implies(g, pre))
        self.bad.add(z3.Implies(g, pre))
        self.post[key] = self.tr.expr(formula, self.s2, {})

    def cti(self, alive: list, targets: list):
        """A step from a state of `alive` out of one of `targets`: (pre-state
        values, keys of `alive` broken after the step). Or, when there is
        none, the keys of `alive` the answer rested on (an unsat core)."""
        self.round += 1
        goal = z3.Bool(f"goal{self.round}", self.enc.ctx)
        self.step.add(z3.Implies(goal, z3.Not(z3.And([self.post[k] for k in targets]))))
        got = check_sat(self.step, goal, *[self.guard[k] for k in alive])
        if got == z3.unsat:
            return self._core(self.step, alive)
        model = self.step.model()
        broken = [k for k in alive
                  if not z3.is_true(model.eval(self.post[k], model_completion=True))]
        return self.enc.values(model, self.s), broken

    def excluding(self, alive: list, prop_name: str) -> list:
        """The keys of `alive` that rule out the property's bad event (a core;
        call after `bad_state` found none)."""
        if check_sat(self.bad, self.events[prop_name], *[self.guard[k] for k in alive]) \
                != z3.unsat:
            raise SolverUnknown("the bad event is no longer excluded")
        return self._core(self.bad, alive)

    def _core(self, solver, alive: list) -> list:
        by_guard = {self.guard[k].get_id(): k for k in alive}
        return [by_guard[g.get_id()] for g in solver.unsat_core() if g.get_id() in by_guard]

    def needed(self, alive: list, props) -> list:
        """A subset of `alive` (inductive, excluding the bad events) that is
        inductive and excludes them too: the unsat cores of exclusion, then
        of each kept clause's consecution, until closed."""
        by_guard = {self.guard[k].get_id(): k for k in alive}
        guards = [self.guard[k] for k in alive]

        def core(solver, *goal) -> list:
            if check_sat(solver, *goal, *guards) != z3.unsat:
                raise SolverUnknown("a clause set that was inductive is not any more")
            return [by_guard[g.get_id()] for g in solver.unsat_core() if g.get_id() in by_guard]

        keep: list = []
        todo: list = []
        for p in props:
            for k in core(self.bad, self.events[p.name]):
                if k not in keep:
                    keep.append(k)
                    todo.append(k)
        while todo:
            k = todo.pop()
            self.round += 1
            goal = z3.Bool(f"goal{self.round}", self.enc.ctx)
            self.step.add(z3.Implies(goal, z3.Not(self.post[k])))
            for j in core(self.step, goal):
                if j not in keep:
                    keep.append(j)
                    todo.append(j)
        return [k for k in alive if k in keep]

    def bad_state(self, alive: list, prop_name: str):
        if check_sat(self.bad, self.events[prop_name], *[self.guard[k] for k in alive]) \
                == z3.unsat:
            return None
        return self.enc.values(self.bad.model(), self.s)


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
        check = _FixedCheck(machine, n, props, 30_000)
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
                values, broken = found
                new = _separating(learner, n, values, banned, alive)
                if new:
                    for c in new:
                        check.add(c, learner.formula(c))
                    alive += new
                    continue
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
                new = _separating(learner, n, target, banned, alive)
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


def _separating(learner: Learner, n: int, values: dict, banned: set, alive: list) -> list:
    have = set(alive)
    out: list = []
    # One point's clauses per state: a blocked state needs one reason.
    for pair, bits in learner.state_points(n, values):
        for c in learner.separate(pair, bits, banned):
            if c not in have:
                have.add(c)
                out.append(c)
        if out:
            return out
    return out


def _named(learner: Learner, clauses: list) -> list:
    return [learner.invariant(c, f"l{i}") for i, c in enumerate(clauses)]


__all__ = ["Learned", "Learner", "learn"]
