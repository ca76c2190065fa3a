"""Inductive invariants, found automatically: sample, enumerate, Houdini.

No one writes invariants by hand for a fence change. This module finds
them for any machine (a built-in design, a maintainer's variant file, any
declared state), in three steps:

1. **Sample.** Breadth-first search of the reachable states of small
   instances (2 and 3 controllers) on the compiled executor. Numbers are
   renamed to a canonical order-preserving form and controllers permuted to
   a least representative (`explore.Reducer`), so the search sees each
   comparison pattern once.
2. **Enumerate** (sample-then-enumerate, as DistAI does). A controller's
   *control state* is its finite data: phase, mode, flags, ghosts, whether
   it holds the lock. Candidates, each quantified over controllers d (and
   e ≠ d):
     * shape:  the control states of one controller, and of two, are among
               those the samples show;
     * fact:   for each control state of d (and of e), every comparison
               `x = y`, `x < y`, `x = literal` between numbers of one value
               class (fingerprints with fingerprints, generations with
               generations ...) that holds in every sample.
   A candidate is kept only if every sample satisfies it.
3. **Houdini.** The largest subset that is inductive: Z3 checks initiation
   and consecution; a candidate a counterexample-to-induction falsifies is
   dropped, until none is. First at a fixed size (quantifiers expand), then
   over the uninterpreted controller sort (any number of controllers).

A property is *proved* when Z3 shows, for the surviving invariants,
initiation, consecution for every transition, and that no state satisfying
them enables the property's bad event: each an `unsat`. `unknown` is never
a proof. The invariants print in plain words and save to JSON (`save`,
`load`), so a proof can be re-checked without inference.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Optional

import z3

from sessionfence.model.concrete import Executor
from sessionfence.model.explore import Reducer, value_classes
from sessionfence.model.expr import (
    EMPTY, MISSING, NO_FP, NOBODY, TRUE, At, Expr, Forall, Lit, Mode, Named, Op, Param, Phase, Var,
    conj, disj, implies, lift,
)
from sessionfence.model.machine import Machine
from sessionfence.model.smt import (
    RANGES, AnyN, FixedN, SolverUnknown, Translator, check_sat, event_formula, step_relation,
)

D, E = Param("d", "ctrl"), Param("e", "ctrl")
SAMPLE_SIZES = (2, 3)
MAX_SAMPLES = {2: 60_000, 3: 25_000}
SAMPLE_SECONDS = {2: 6.0, 3: 4.0}
SINGLE_EXTRA = 2  # control values beside the phase in a premise about one controller
PAIR_EXTRA = 1  # ... and beside both phases in a premise about two


@dataclass(frozen=True)
class Invariant:
    """One inferred invariant: a formula and its words."""

    name: str
    words: str
    formula: Expr
    spec: tuple = ()  # a JSON-able description (for save/load)


@dataclass
class Proof:
    invariants: list
    scope: object  # an int (fixed size) or "any"
    proved: dict  # property name -> bool
    seconds: float
    notes: list = field(default_factory=list)
    samples: int = 0
    candidates: int = 0


# -- sampling --------------------------------------------------------------------------


def sample(machine: Machine, n: int, max_states: int, seconds: float) -> list:
    """Reachable states of n controllers, breadth-first, renamed canonically."""
    ex = Executor(machine, n)
    # Up to renaming of numbers and of controllers: the candidates are
    # quantified over every controller, so one state of each class suffices.
    canon = Reducer(ex, forget=False)
    init = canon(ex.initial())
    seen = {init}
    queue = deque([init])
    deadline = time.perf_counter() + seconds
    while queue and len(seen) < max_states and time.perf_counter() < deadline:
        s = queue.popleft()
        for _, nxt in ex.successors(s):
            t = canon(nxt)
            if t not in seen:
                seen.add(t)
                queue.append(t)
    return list(seen)


# -- terms and atoms --------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    var: str  # a variable name, or "" for a literal
    who: str = "g"  # "g" global, "d", "e"; the literal's value in `value`
    value: int = 0

    def expr(self) -> Expr:
        if not self.var:
            return lift(self.value)
        if self.who == "g":
            return Var(self.var)
        return At(self.var, D if self.who == "d" else E)

    def text(self) -> str:
        if not self.var:
            return {NO_FP: "⊥", MISSING: "missing", EMPTY: "empty"}.get(self.value, str(self.value))
        return self.var if self.who == "g" else f"{self.var}[{self.who}]"


@dataclass(frozen=True)
class Atom:
    op: str  # "eq" | "lt" | "le"
    a: Term
    b: Term

    def expr(self) -> Expr:
        x, y = self.a.expr(), self.b.expr()
        return x == y if self.op == "eq" else x < y if self.op == "lt" else x <= y

    def text(self) -> str:
        return f"{self.a.text()} {_SYM[self.op]} {self.b.text()}"

    def spec(self):
        return [self.op, [self.a.var, self.a.who, self.a.value], [self.b.var, self.b.who, self.b.value]]


_SYM = {"eq": "=", "lt": "<", "le": "≤"}


class _Vocabulary:
    """The control-state variables and the comparable numbers of a machine."""

    def __init__(self, machine: Machine):
        self.machine = machine
        self.control = [v for v in machine.per_ctrl if v.sort in ("bool", "phase", "mode")]
        self.global_flags = [v for v in machine.globals if v.sort == "bool"]
        self.classes = []
        for vc in value_classes(machine):
            # Only the literals the machine itself uses: the sampled numbers
            # are renamed, and other values are an artefact of the renaming.
            self.classes.append((vc.variables, tuple(sorted(vc.literals))))

    def terms(self, who: tuple) -> list:
        """Per class: the terms over globals and the controllers in `who`."""
        out = []
        for names, lits in self.classes:
            terms = []
            for name in names:
                v = self.machine.var(name)
                if v.per_ctrl:
                    terms += [Term(name, w) for w in who]
                else:
                    terms.append(Term(name))
            out.append((terms, [Term("", "g", lit) for lit in lits]))
        return out

    def atoms(self, who: tuple, must: Optional[str] = None) -> list:
        """Comparisons within each class (with `must`: only those naming it)."""
        out = []
        for terms, lits in self.terms(who):
            for i, a in enumerate(terms):
                for b in terms[i + 1:]:
                    out += [Atom("eq", a, b), Atom("lt", a, b), Atom("lt", b, a),
                            Atom("le", a, b), Atom("le", b, a)]
                for lit in lits:
                    out += [Atom("eq", a, lit), Atom("lt", a, lit), Atom("lt", lit, a),
                            Atom("le", a, lit), Atom("le", lit, a)]
        if must:
            out = [x for x in out if must in (x.a.who, x.b.who)]
        return out


def _compile_points(ex: Executor, vocab: _Vocabulary, atoms: list, pair: bool):
    """A function (state, d, e) -> (control key, bitmask of true atoms)."""
    lay = ex.layout

    def slot(term: Term) -> str:
        if not term.var:
            return repr(term.value)
        if term.who == "g":
            return f"s[{lay.index[term.var]}]"
        return f"s[{lay.index[term.var] - 1} + {term.who}]"

    hold = lay.index["holder"]
    key = []
    for who in (("d", "e") if pair else ("d",)):
        key += [f"s[{lay.index[v.name] - 1} + {who}]" for v in vocab.control]
        key.append(f"(0 if s[{hold}] == {who} else 1 if s[{hold}] == 0 else 2)")
    lines = ["def point(s, d, e):", f"    k = ({', '.join(key)},)", "    m = 0"]
    for i, atom in enumerate(atoms):
        sym = {"eq": "==", "lt": "<", "le": "<="}[atom.op]
        lines.append(f"    if {slot(atom.a)} {sym} {slot(atom.b)}: m |= {1 << i}")
    lines.append("    return k, m")
    scope: dict = {}
    exec(compile("\n".join(lines), "<infer points>", "exec"), scope)
    return scope["point"]


def _key_expr(vocab: _Vocabulary, key: tuple, pair: bool) -> Expr:
    parts = []
    i = 0
    for who in ((D, E) if pair else (D,)):
        for v in vocab.control:
            value = key[i]
            value = Phase(value) if v.sort == "phase" else Mode(value) if v.sort == "mode" \
                else bool(value)
            parts.append(At(v.name, who) == value)
            i += 1
        rel = key[i]
        i += 1
        h = Var("holder")
        parts.append(h == who if rel == 0 else h == NOBODY if rel == 1 else
                     conj(h != who, h != NOBODY))
    return conj(*parts)


def _key_words(vocab: _Vocabulary, key: tuple, pair: bool) -> str:
    out, i = [], 0
    for who in (("d", "e") if pair else ("d",)):
        bits = []
        for v in vocab.control:
            value = key[i]
            i += 1
            if v.sort == "phase":
                bits.insert(0, f"{who} is {Phase(value).name}")
            elif v.sort == "mode":
                if value:
                    bits.append(f"in a {Mode(value).name} section")
            elif value:
                bits.append(v.name)
        rel = key[i]
        i += 1
        bits.append("holds the lock" if rel == 0 else "lock free" if rel == 1 else
                    "another holds the lock")
        out.append(", ".join(bits))
    return "; ".join(out)


# -- candidates -----------------------------------------------------------------------


def _literals(vocab: _Vocabulary, key: tuple, extra: int) -> list:
    """The premises a point of control state `key` satisfies: its phase
    together with up to `extra` more of its control values (flags, mode,
    the lock relation); the empty premise first."""
    phase_at = next(i for i, v in enumerate(vocab.control) if v.name == "phase")
    p = (phase_at, key[phase_at])
    others = [(i, value) for i, value in enumerate(key) if i != phase_at]
    out = [()]
    for k in range(extra + 1):
        for combo in itertools.combinations(others, k):
            out.append((p,) + combo)
    return out


def _weaker(lits: tuple) -> list:
    """The premises one literal weaker (the phase always stays)."""
    if not lits:
        return []
    if len(lits) == 1:
        return [()]
    return [lits[:i] + lits[i + 1:] for i in range(1, len(lits))]


def _compress(atoms: list, mask: int, covered: int) -> list:
    """The atoms of `mask` not in `covered`, without the ones the rest imply:
    equalities as a chain per class, orders between class representatives,
    only the tightest literal bounds."""
    true = [a for i, a in enumerate(atoms) if mask >> i & 1 and not covered >> i & 1]
    parent: dict = {}

    def find(t):
        while parent.get(t, t) != t:
            t = parent[t]
        return t

    out = []
    for a in true:
        if a.op == "eq" and a.b.var:
            ra, rb = find(a.a), find(a.b)
            if ra != rb:
                parent[rb] = ra
                out.append(a)
    lit_eq = set()
    for a in true:
        if a.op == "eq" and not a.b.var and find(a.a) not in lit_eq:
            lit_eq.add(find(a.a))
            out.append(a)
    seen_lt = set()
    upper: dict = {}  # class -> tightest (bound, strict, atom) from above
    lower: dict = {}  # ... from below
    strict = {(find(a.a), find(a.b)) for a in true if a.op == "lt" and a.a.var and a.b.var}
    for a in true:
        if a.op == "eq":
            continue
        if a.a.var and a.b.var:
            key = (find(a.a), find(a.b))
            if key[0] == key[1] or key in seen_lt or (a.op == "le" and key in strict):
                continue
            seen_lt.add(key)
            out.append(a)
        elif a.a.var and find(a.a) not in lit_eq:  # x < L or x <= L
            r, bound = find(a.a), a.b.value - (a.op == "lt")
            if r not in upper or bound < upper[r][0]:
                upper[r] = (bound, a)
        elif a.b.var and find(a.b) not in lit_eq:  # L < x or L <= x
            r, bound = find(a.b), a.a.value + (a.op == "lt")
            if r not in lower or bound > lower[r][0]:
                lower[r] = (bound, a)
    return out + [a for _, a in upper.values()] + [a for _, a in lower.values()]


def _premise(vocab: _Vocabulary, lits: tuple, who: Param) -> Expr:
    parts = []
    for i, value in lits:
        if i == len(vocab.control):  # the lock relation
            h = Var("holder")
            parts.append(h == who if value == 0 else h == NOBODY if value == 1 else
                         conj(h != who, h != NOBODY))
            continue
        v = vocab.control[i]
        value = Phase(value) if v.sort == "phase" else Mode(value) if v.sort == "mode" \
            else bool(value)
        parts.append(At(v.name, who) == value)
    return conj(*parts)


def _premise_words(vocab: _Vocabulary, lits: tuple, who: str) -> str:
    bits = []
    for i, value in lits:
        if i == len(vocab.control):
            bits.append(("holds the lock", "lock free", "another holds the lock")[value])
            continue
        v = vocab.control[i]
        if v.sort == "phase":
            bits.insert(0, f"{who} is {Phase(value).name}")
        elif v.sort == "mode":
            bits.append(f"{who} in a {Mode(value).name} section" if value else f"{who} in no section")
        else:
            bits.append(f"{v.name}[{who}]" if value else f"not {v.name}[{who}]")
    return ", ".join(bits)


def candidates(machine: Machine, samples: dict) -> list:
    """Candidates true in every sampled state ({n: [state, ...]})."""
    vocab = _Vocabulary(machine)
    single_atoms = vocab.atoms(("d",))
    pair_atoms = vocab.atoms(("d", "e"), must="e")
    keys1: dict = {}  # control state of d -> mask of single atoms
    keys2: dict = {}  # (control of d, control of e) -> mask of pair atoms
    for n, states in samples.items():
        ex = Executor(machine, n)
        p1 = _compile_points(ex, vocab, single_atoms, False)
        p2 = _compile_points(ex, vocab, pair_atoms, True)
        ctrls = range(1, n + 1)
        for s in states:
            for d in ctrls:
                k, m = p1(s, d, 0)
                keys1[k] = keys1.get(k, -1) & m
                for e in ctrls:
                    if e != d:
                        k2, m2 = p2(s, d, e)
                        keys2[k2] = keys2.get(k2, -1) & m2
    width = len(vocab.control) + 1  # control values and the lock relation per controller
    out = [Invariant(
        "control-states", f"a controller's control state is one of the {len(keys1)} seen",
        _forall1(disj(*[_key_expr(vocab, k, False) for k in sorted(keys1)])),
        ("shape1", [list(k) for k in sorted(keys1)]))]
    if keys2:
        pairs = sorted({(_all_lits(k[:width]), _all_lits(k[width:2 * width])) for k in keys2})
        out.append(Invariant(
            "control-pairs", f"two controllers' control states are one of the {len(pairs)} "
            "pairs seen", _forall2(disj(*[conj(_premise(vocab, a, D), _premise(vocab, b, E))
                                          for a, b in pairs])),
            ("shape2", [[list(map(list, a)), list(map(list, b))] for a, b in pairs])))
    # Facts about one controller, per premise; each premise adds only what
    # its weaker premises did not already say.
    groups1: dict = {}
    for k, m in keys1.items():
        for lits in _literals(vocab, k, SINGLE_EXTRA):
            groups1[lits] = groups1.get(lits, -1) & m
    for lits in sorted(groups1, key=lambda x: (len(x), x)):
        weaker = 0
        for w in _weaker(lits):
            weaker |= groups1.get(w, 0)
        for atom in _compress(single_atoms, groups1[lits], weaker):
            body = atom.expr() if not lits else implies(_premise(vocab, lits, D), atom.expr())
            words = (f"when {_premise_words(vocab, lits, 'd')}: " if lits else "always ") \
                + atom.text()
            out.append(Invariant(f"s{len(out)}", words, _forall1(body) if lits or
                                 "d" in (atom.a.who, atom.b.who) else atom.expr(),
                                 ("fact1", [list(x) for x in lits], atom.spec())))
    # Facts relating two controllers, per pair of premises.
    groups2: dict = {}
    for k, m in keys2.items():
        kd, ke = k[:width], k[width:2 * width]
        for ld in _literals(vocab, kd, PAIR_EXTRA)[1:]:
            for le in _literals(vocab, ke, PAIR_EXTRA)[1:]:
                if len(ld) + len(le) - 2 <= PAIR_EXTRA:
                    groups2[(ld, le)] = groups2.get((ld, le), -1) & m
    for lits in sorted(groups2, key=lambda x: (len(x[0]) + len(x[1]), x)):
        ld, le = lits
        weaker = 0
        for w in _weaker(ld):
            weaker |= groups2.get((w, le), 0) if w else 0
        for w in _weaker(le):
            weaker |= groups2.get((ld, w), 0) if w else 0
        for atom in _compress(pair_atoms, groups2[lits], weaker):
            body = implies(conj(_premise(vocab, ld, D), _premise(vocab, le, E)), atom.expr())
            words = (f"when {_premise_words(vocab, ld, 'd')} and "
                     f"{_premise_words(vocab, le, 'e')}: {atom.text()}")
            out.append(Invariant(f"p{len(out)}", words, _forall2(body),
                                 ("fact2", [[list(x) for x in ld], [list(x) for x in le]],
                                  atom.spec())))
    return out


def _all_lits(key: tuple) -> tuple:
    """A whole control state as premise literals."""
    return tuple(enumerate(key))


def _forall1(body: Expr) -> Expr:
    from sessionfence.model.expr import Forall

    return Forall(D, (), body)


def _forall2(body: Expr) -> Expr:
    from sessionfence.model.expr import Forall

    return Forall(D, (), Forall(E, (D,), body))


# -- Houdini ---------------------------------------------------------------------------


def _binders(f: Expr) -> list:
    """The leading ∀s of a formula (a clause's d, e), innermost last."""
    out = []
    while isinstance(f, Forall):
        out.append(f)
        f = f.body
    return out


def _conjuncts(f: Expr) -> list:
    while isinstance(f, Named):
        f = f.body
    if isinstance(f, Op) and f.op == "and":
        return [x for a in f.args for x in _conjuncts(a)]
    return [f]


def _instance(tr, f: Expr, st, terms, nobody):
    """f's body with its leading ∀s bound to `terms` in order, under their
    side conditions (a real controller, distinct where f says so)."""
    env: dict = {}
    side = []
    for b, x in zip(_binders(f), terms):
        side.append(x != nobody)
        side += [x != env[p.name] for p in b.distinct]
        env[b.var.name] = x
        f = b.body
    body = tr.expr(f, st, env)
    return z3.Implies(z3.And(side), body) if side else body


def _instances(tr, f: Expr, st, terms, nobody) -> list:
    k = len(_binders(f))
    return [_instance(tr, f, st, list(combo), nobody) for combo in itertools.product(terms, repeat=k)
            if len(set(x.get_id() for x in combo)) == k]


def _in_range(enc, st, x) -> list:
    """The domain's bounds of x's per-controller values (what `enc.domain`
    states for all controllers)."""
    out = []
    for v in enc.vars:
        if v.per_ctrl and v.sort in RANGES:
            lo, hi = RANGES[v.sort]
            val = z3.Select(st[v.name], x)
            out.append(z3.And(val >= lo, val <= hi))
    return out


class Houdini:
    """The largest inductive subset of candidates, for one encoding."""

    def __init__(self, machine: Machine, n, timeout_ms: int = 60_000):
        self.machine = machine
        self.n = n
        self.timeout_ms = timeout_ms
        self.enc = FixedN(machine, n) if n != "any" else AnyN(machine)
        self.tr = Translator(self.enc)

    def _f(self, inv: Invariant, st):
        return self.tr.expr(inv.formula, st, {})

    def run(self, cands: list, deadline: float) -> list:
        alive = self._initial(cands)
        if self.n == "any":
            return self._any(alive, deadline)
        enc, tr = self.enc, self.tr
        s, s2 = enc.fresh_state("h"), enc.fresh_state("h'")
        solver = enc.solver(self.timeout_ms)
        solver.add(enc.domain(s), step_relation(tr, list(enc.instances()), s, s2,
                                                enc.int("sel")))
        lits = {}
        for i, inv in enumerate(alive):
            p = z3.Bool(f"p{i}", enc.ctx)
            lits[inv.name] = p
            solver.add(z3.Implies(p, self._f(inv, s)))
        post = {inv.name: self._f(inv, s2) for inv in alive}
        round_ = 0
        while alive:
            if time.perf_counter() > deadline:
                raise SolverUnknown("inference ran out of time")
            round_ += 1
            goal = z3.Bool(f"g{round_}", enc.ctx)
            solver.add(z3.Implies(goal, z3.Not(z3.And([post[i.name] for i in alive]))))
            if check_sat(solver, goal, *[lits[i.name] for i in alive]) == z3.unsat:
                return alive
            model = solver.model()
            keep = [i for i in alive if z3.is_true(model.eval(post[i.name], model_completion=True))]
            if len(keep) == len(alive):
                raise SolverUnknown("Houdini made no progress (solver and evaluator disagree)")
            alive = keep
        return alive

    def _initial(self, cands: list) -> list:
        enc, tr = self.enc, self.tr
        s = enc.fresh_state("i")
        solver = enc.solver(self.timeout_ms)
        solver.add(tr.init(s))
        out = []
        for inv in cands:
            if check_sat(solver, z3.Not(self._f(inv, s))) == z3.unsat:
                out.append(inv)
        return out

    def _any(self, alive: list, deadline: float) -> list:
        """Consecution per transition with a symbolic controller; a failing
        candidate is found by asking for each one (quantified models are not
        evaluated directly)."""
        enc, tr = self.enc, self.tr
        changed = True
        while changed:
            changed = False
            s, s2 = enc.fresh_state("a"), enc.fresh_state("a'")
            now = [self._f(i, s) for i in alive]
            ground = _Ground(enc, tr, self.timeout_ms, alive, s, s2)
            for t in self.machine.transitions:
                if time.perf_counter() > deadline:
                    raise SolverUnknown("inference ran out of time")
                env, side = enc.step_params(t, "a")
                if ground.preserved(t, env, side):
                    continue
                sol = enc.solver(self.timeout_ms)
                sol.add(enc.domain(s), *now, *side, enc.relation(tr, s, s2, t, env))
                after = [self._f(i, s2) for i in alive]
                if check_sat(sol, z3.Not(z3.And(after))) == z3.unsat:
                    continue
                bad = [i for i, f in zip(alive, after) if check_sat(sol, z3.Not(f)) == z3.sat]
                if not bad:
                    raise SolverUnknown("Houdini made no progress over any number of controllers")
                alive = [i for i in alive if i not in bad]
                changed = True
                break
        return alive


class _Ground:
    """Consecution with the candidates before the step instantiated only at
    the controllers that matter: the stepping one, the lock holder, and the
    two where a broken candidate would be broken. An `unsat` here is an
    `unsat` of the quantified query too (it has fewer premises); anything
    else is asked again with the quantifiers. Ground queries are what makes
    a set of a hundred learned clauses quick to check."""

    def __init__(self, enc, tr, timeout_ms: int, alive: list, s, s2):
        self.enc, self.tr = enc, tr
        # Hand-written invariants are often conjunctions of ∀s (and facts
        # about the globals, which have no ∀ to instantiate): one part each.
        parts = [x for i in alive for x in _conjuncts(i.formula)]
        self.usable = bool(parts)
        if not self.usable:
            return
        width = max(len(_binders(x)) for x in parts)
        witnesses = [z3.Const(f"k{j}@{id(s2)}", enc.ctrl) for j in range(width)]
        # The same constant `step_params` gives every transition's controller;
        # a step with none leaves it a controller like any other.
        c = z3.Const("c@a", enc.ctrl)
        terms = [c, s["holder"]] + witnesses
        self.s, self.s2 = s, s2
        self.solver = enc.solver(timeout_ms)
        self.solver.add(*[x for part in parts for x in _instances(tr, part, s, terms,
                                                                   enc.nobody())])
        self.solver.add(*[x for w in terms for x in _in_range(enc, s, w)])
        self.broken = z3.Bool(f"broken@{id(s2)}", enc.ctx)
        self.solver.add(z3.Implies(self.broken, z3.Or(
            [z3.Not(_instance(tr, part, s2, witnesses, enc.nobody())) for part in parts])))
        self.count = 0

    def preserved(self, t, env, side) -> bool:
        if not self.usable:
            return False
        self.count += 1
        step = z3.Bool(f"t{self.count}", self.enc.ctx)
        self.solver.add(z3.Implies(step, z3.And(*side, self.enc.relation(self.tr, self.s,
                                                                          self.s2, t, env))))
        try:
            return check_sat(self.solver, step, self.broken) == z3.unsat
        except SolverUnknown:
            return False


def property_excluded(machine: Machine, n, invs: list, prop, timeout_ms: int = 60_000) -> bool:
    """Do the invariants rule out `prop`'s bad event? (an unsat)"""
    if n == "any":
        enc = AnyN(machine)
        tr = Translator(enc)
        s = enc.fresh_state("q")
        sol = enc.solver(timeout_ms)
        sol.add(enc.domain(s), *[tr.expr(i.formula, s, {}) for i in invs])
        events = []
        for t in machine.transitions:
            if t.source is None or not prop.matches(t):
                continue
            env, side = enc.step_params(t, f"q{len(events)}")
            events.append(z3.And(*side, tr.expr(t.guard, s, env), tr.expr(enc.flag(prop), s, env)))
        if not events:
            return True
        return check_sat(sol, z3.Or(events)) == z3.unsat
    enc = FixedN(machine, n)
    tr = Translator(enc)
    s = enc.fresh_state("q")
    sol = enc.solver(timeout_ms)
    sol.add(enc.domain(s), *[tr.expr(i.formula, s, {}) for i in invs])
    return check_sat(sol, event_formula(tr, list(enc.instances()), s, prop)) == z3.unsat


# -- the whole proof ----------------------------------------------------------------------


def prove(machine: Machine, props, *, scope=2, budget_s: float = 60.0,
          progress: Callable[[str], None] = lambda m: None) -> Proof:
    """Infer invariants and prove `props` for `scope` (an int or "any")."""
    t0 = time.perf_counter()
    deadline = t0 + budget_s
    sizes = SAMPLE_SIZES if scope == "any" or scope >= 3 else (2,)
    samples = {}
    for n in sizes:
        progress(f"inference: sampling reachable states of {n} controllers")
        samples[n] = sample(machine, n, MAX_SAMPLES[n], SAMPLE_SECONDS[n])
    progress(f"inference: candidates from {sum(map(len, samples.values()))} states")
    cands = candidates(machine, samples)
    notes = []
    fixed = scope if scope != "any" else 3
    progress(f"inference: Houdini over {len(cands)} candidates, {fixed} controllers")
    invs = Houdini(machine, fixed).run(cands, deadline)
    if scope == "any":
        progress(f"inference: Houdini over {len(invs)} invariants, any number of controllers")
        invs = Houdini(machine, "any").run(invs, deadline)
    proved = {p.name: property_excluded(machine, scope, invs, p) for p in props}
    return Proof(invs, scope, proved, time.perf_counter() - t0, notes,
                 sum(map(len, samples.values())), len(cands))


def check_saved(machine: Machine, invs: list, props, scope) -> Proof:
    """Re-check saved invariants (no inference): all must be inductive."""
    t0 = time.perf_counter()
    kept = Houdini(machine, scope if scope != "any" else "any").run(invs, t0 + 600)
    if len(kept) != len(invs):
        lost = [i.name for i in invs if i not in kept]
        return Proof(kept, scope, {p.name: False for p in props}, time.perf_counter() - t0,
                     [f"not inductive: {', '.join(lost[:5])}"])
    proved = {p.name: property_excluded(machine, scope, invs, p) for p in props}
    return Proof(invs, scope, proved, time.perf_counter() - t0)


# -- saving ---------------------------------------------------------------------------------


def save(machine: Machine, proof: Proof, path: str) -> None:
    data = {"format": "sessionfence-invariants", "version": 1,
            "variant": machine.variant.name, "world": machine.world.describe(),
            "scope": proof.scope,
            "invariants": [{"name": i.name, "words": i.words, "spec": list(i.spec)}
                           for i in proof.invariants]}
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    import os

    os.replace(tmp, path)


class InvariantFileError(ValueError):
    """A saved invariants file that cannot be read for this machine."""


def read_file(path: str) -> dict:
    """A saved invariants file's document, or InvariantFileError saying why not."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError, RecursionError) as exc:
        raise InvariantFileError(f"{path}: cannot read invariants: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != "sessionfence-invariants" \
            or not isinstance(data.get("invariants"), list):
        raise InvariantFileError(f"{path}: not a sessionfence invariants file (save one with "
                                 "verify --controllers any --save-invariants DIR)")
    return data


def check_file(path: str) -> None:
    """Read a saved file and build every learned clause in it (no machine
    needed): InvariantFileError if anything is wrong with it."""
    from sessionfence.model.learn import from_spec

    for item in read_file(path)["invariants"]:
        try:
            spec = tuple(item["spec"])
            if spec[0] == "clause":
                from_spec(str(item["name"]), spec)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvariantFileError(f"{path}: malformed invariant ({exc!r}); regenerate it "
                                     "with verify --controllers any --save-invariants DIR") from None


def load(machine: Machine, path: str) -> list:
    data = read_file(path)
    vocab = _Vocabulary(machine)
    out = []
    try:
        for item in data["invariants"]:
            out.append(_from_spec(vocab, item["name"], item["words"], tuple(item["spec"])))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InvariantFileError(f"{path}: malformed invariant ({exc}); regenerate it with "
                                 f"verify --save-invariants") from None
    return out


def _term(spec) -> Term:
    var, who, value = spec
    return Term(str(var), str(who), int(value))


def _from_spec(vocab: _Vocabulary, name: str, words: str, spec: tuple) -> Invariant:
    kind = spec[0]
    if kind == "clause":
        from sessionfence.model.learn import from_spec

        return from_spec(name, spec)
    if kind == "shape1":
        return Invariant(name, words, _forall1(disj(*[_key_expr(vocab, tuple(k), False)
                                                       for k in spec[1]])), spec)
    if kind == "shape2":
        return Invariant(name, words, _forall2(disj(*[
            conj(_premise(vocab, _lits(a), D), _premise(vocab, _lits(b), E)) for a, b in spec[1]])),
            spec)
    op, a, b = spec[-1]
    atom = Atom(op, _term(a), _term(b))
    if kind == "fact2":
        ld, le = spec[1]
        body = implies(conj(_premise(vocab, _lits(ld), D), _premise(vocab, _lits(le), E)),
                       atom.expr())
        return Invariant(name, words, _forall2(body), spec)
    lits = _lits(spec[1])
    if not lits and "d" not in (atom.a.who, atom.b.who):
        return Invariant(name, words, atom.expr(), spec)
    body = atom.expr() if not lits else implies(_premise(vocab, lits, D), atom.expr())
    return Invariant(name, words, _forall1(body), spec)


def _lits(spec) -> tuple:
    return tuple((int(i), int(v)) for i, v in spec)


__all__ = ["Houdini", "Invariant", "InvariantFileError", "Proof", "candidates", "check_saved",
           "load", "property_excluded", "prove", "sample", "save", "TRUE"]
