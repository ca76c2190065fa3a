"""Houdini over the learned language, and what makes a set of invariants a proof.

`Houdini(machine, n).run(invariants)` keeps the largest subset that holds
initially and is preserved by every transition: at a fixed size n the
quantifiers expand over n controllers; with n = "any" controllers are an
uninterpreted sort and a candidate a counterexample breaks is found by
asking for each one. `property_excluded` asks that no state satisfying the
invariants enables a property's bad event. Each answer that makes a proof
is Z3's `unsat`; `unknown` is never a proof.
"""

from __future__ import annotations

import itertools
import time

import z3

from sessionfence.model.expr import Expr, Forall, Named, Op
from sessionfence.model.infer import Invariant, Proof
from sessionfence.model.machine import Machine
from sessionfence.model.smt import (
    AnyN, FixedN, SolverUnknown, Translator, check_sat, event_formula, step_relation,
)


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
        self.solver.add(*[x for w in terms for x in enc.in_range(s, w)])
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


__all__ = ["Houdini", "check_saved", "property_excluded"]
