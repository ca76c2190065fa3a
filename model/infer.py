"""The language of learned invariants: samples, terms, atoms, and the result.

`learn.py` searches for invariants in this vocabulary, `houdini.py` keeps
the inductive ones and checks that they prove a property, and
`proof_files.py` saves and reloads them.

* **Samples** (`sample`): the reachable states of small instances (2 and 3
  controllers), breadth-first on the compiled executor. Numbers are renamed
  to a canonical order-preserving form and controllers permuted to a least
  representative (`explore.Reducer`), so each comparison pattern is seen
  once.
* **Atoms**: comparisons `x = y`, `x < y` between numbers of one role
  (`explore.roles`: fingerprints with fingerprints, inodes with inodes,
  generations with generations ...) and the fresh-value counter, over
  the globals and the controllers d and e, and against the literals the
  machine itself uses (missing, ⊥, 0 ...).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from sessionfence.model.explore import FRESH, Reducer, roles, value_classes
from sessionfence.model.concrete import Executor
from sessionfence.model.expr import EMPTY, MISSING, NO_FP, At, Expr, Param, Var, lift
from sessionfence.model.machine import Machine

D, E = Param("d", "ctrl"), Param("e", "ctrl")
SAMPLE_SIZES = (2, 3)


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
    op: str  # "eq" | "lt"
    a: Term
    b: Term

    def expr(self) -> Expr:
        x, y = self.a.expr(), self.b.expr()
        return x == y if self.op == "eq" else x < y

    def text(self) -> str:
        return f"{self.a.text()} {_SYM[self.op]} {self.b.text()}"

    def spec(self):
        return [self.op, [self.a.var, self.a.who, self.a.value], [self.b.var, self.b.who, self.b.value]]


_SYM = {"eq": "=", "lt": "<"}


class _Vocabulary:
    """The control-state variables and the comparable numbers of a machine."""

    def __init__(self, machine: Machine):
        self.machine = machine
        self.control = [v for v in machine.per_ctrl if v.sort in ("bool", "phase", "mode")]
        self.global_flags = [v for v in machine.globals if v.sort == "bool"]
        self.classes = []
        groups = roles(machine)
        for vc in value_classes(machine):
            # Only the literals the machine itself uses: the sampled numbers
            # are renamed, and other values are an artefact of the renaming.
            lits = tuple(sorted(vc.literals))
            # Compared within a role only (and with the fresh-value counter,
            # which bounds them all): see `explore.roles`.
            counter = (FRESH,) if FRESH in vc.variables else ()
            for group in groups:
                if set(group) <= set(vc.variables):
                    self.classes.append((group + counter, lits))

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

    def atoms(self, who: tuple) -> list:
        """`=` and `<` (either way) within each class."""
        out = []
        for terms, lits in self.terms(who):
            for i, a in enumerate(terms):
                for b in terms[i + 1:] + lits:
                    out += [Atom("eq", a, b), Atom("lt", a, b), Atom("lt", b, a)]
        return out


def _term(spec) -> Term:
    var, who, value = spec
    return Term(str(var), str(who), int(value))


__all__ = ["Atom", "Invariant", "Proof", "SAMPLE_SIZES", "Term", "sample"]
