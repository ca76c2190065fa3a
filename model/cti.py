"""Counterexamples to induction at a fixed number of controllers.

The queries of learning (`learn.py`), incremental over one Z3 context:
a state of the guesses that steps out of the needed ones (a counterexample
to induction), a state of the guesses that enables a property's bad event,
and, when there is none, the unsat cores that say which guesses the answer
rested on. Each answer also says where to look: the controller that steps
or enables the event, and the variables the step reads.
"""

from __future__ import annotations

import z3

from sessionfence.model.expr import Expr, variables_of
from sessionfence.model.machine import AssignAll, Machine
from sessionfence.model.smt import FixedN, SolverUnknown, Translator, check_sat, event_formula, \
    step_relation


class FixedCheck:
    """Consecution and exclusion queries at a fixed size, incremental."""

    def __init__(self, machine: Machine, n: int, props, timeout_ms: int):
        self.enc = enc = FixedN(machine, n)
        self.tr = Translator(enc)
        self.n = n
        self.s, self.s2 = enc.fresh_state("l"), enc.fresh_state("l'")
        self.instances = list(enc.instances())
        self.sel = enc.int("sel")
        self.step = enc.solver(timeout_ms)
        self.step.add(enc.domain(self.s), step_relation(self.tr, self.instances, self.s,
                                                        self.s2, self.sel))
        self.bad = enc.solver(timeout_ms)
        self.bad.add(enc.domain(self.s))
        self.events = {p.name: event_formula(self.tr, self.instances, self.s, p)
                       for p in props}
        # What the bad event reads, and what each step reads: the literals
        # over these are the first candidates to block a state with.
        self.event_reads = {p.name: set().union(*[variables_of(t.guard)
                                                  for t in machine.transitions if p.matches(t)],
                                                variables_of(enc.flag(p)))
                            for p in props}
        # Who enables the bad event in a state: the controller to blame first.
        self.events_of = {p.name: {c: event_formula(self.tr, [i for i in self.instances
                                                              if i[1] == c], self.s, p)
                                   for c in enc.ctrls} for p in props}
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
        values, keys of `alive` broken after the step, the stepping
        controller (None for the world's edits), the variables the step
        reads, post-state values). Or, when
        there is none, the keys of `alive` the answer rested on (an unsat
        core)."""
        self.round += 1
        goal = z3.Bool(f"goal{self.round}", self.enc.ctx)
        self.step.add(z3.Implies(goal, z3.Not(z3.And([self.post[k] for k in targets]))))
        got = check_sat(self.step, goal, *[self.guard[k] for k in alive])
        if got == z3.unsat:
            return self._core(self.step, alive)
        model = self.step.model()
        broken = [k for k in alive
                  if not z3.is_true(model.eval(self.post[k], model_completion=True))]
        t, who, _ = self.instances[model.eval(self.sel, model_completion=True).as_long()]
        return (self.enc.values(model, self.s), broken, who, reads(t),
                self.enc.values(model, self.s2))

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
        """A state of `alive` enabling the bad event: (values, the controllers
        that enable it), or None."""
        if check_sat(self.bad, self.events[prop_name], *[self.guard[k] for k in alive]) \
                == z3.unsat:
            return None
        model = self.bad.model()
        who = {c for c, ev in self.events_of[prop_name].items()
               if z3.is_true(model.eval(ev, model_completion=True))}
        return self.enc.values(model, self.s), who


def reads(t) -> set:
    """The variables a transition reads (its guard and assigned values)."""
    out = variables_of(t.guard)
    for a in t.assigns:
        out |= variables_of(a.body if isinstance(a, AssignAll) else a.value)
    return out


__all__ = ["FixedCheck", "reads"]
