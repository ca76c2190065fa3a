"""The machine translated to Z3, from the same trees the executor runs.

Two encodings share one translator:

* `FixedN(machine, n)`: controllers are the integers 1..n (0 = nobody); a
  per-controller variable is n scalar constants; quantifiers over
  controllers expand to finite conjunctions. Used for bounded model checking,
  k-induction, Spacer and invariant proofs at a fixed size.
* `AnyN(machine)`: controllers are an uninterpreted sort `Ctrl` with a
  distinguished element `nobody`; a per-controller variable is an array
  `Ctrl -> value`; quantifiers are real. Used for the parametric proof
  ("any number of controllers").

Every encoding lives in its own `z3.Context` (`ctx`): each check starts from
a fresh solver state, so the same question gets the same answer (and the
same counterexample) whatever was asked before it, in this process or any
other, and a check can be interrupted from another thread without
touching the others. Enumerations (phase, mode) are integers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Optional

import z3

from sessionfence.model.expr import (
    At,
    Expr,
    Forall,
    Lit,
    Mode,
    Named,
    Nobody,
    Op,
    Param,
    Phase,
    Var,
    variables_of,
)
from sessionfence.model.machine import AssignAll, Machine, ModelDefinitionError, Transition
from sessionfence.model.properties import Property

RANGES = {"phase": (0, max(Phase)), "mode": (0, max(Mode))}


class _Encoding:
    """What both encodings share: the machine, its variables and the context."""

    parametric = False

    def __init__(self, machine: Machine, ctx: Optional[z3.Context]):
        self.machine = machine
        self.ctx = ctx if ctx is not None else z3.Context()
        self.vars = machine.vars

    def sort_of(self, var):
        return z3.BoolSort(self.ctx) if var.sort == "bool" else z3.IntSort(self.ctx)

    def lit(self, value) -> z3.ExprRef:
        if isinstance(value, bool):
            return z3.BoolVal(value, self.ctx)
        return z3.IntVal(int(value), self.ctx)

    def true(self):
        return z3.BoolVal(True, self.ctx)

    def false(self):
        return z3.BoolVal(False, self.ctx)

    def int(self, name: str):
        return z3.Int(name, self.ctx)

    def solver(self, timeout_ms: Optional[int] = None) -> z3.Solver:
        s = z3.Solver(ctx=self.ctx)
        if timeout_ms is not None:
            s.set("timeout", int(timeout_ms))
        return s

    def flag(self, prop: Property) -> Expr:
        return self.machine.flag(prop, Param("c", "ctrl"))


class FixedN(_Encoding):
    """Controllers 1..n; per-controller variables are n scalars."""

    def __init__(self, machine: Machine, n: int, ctx: Optional[z3.Context] = None):
        super().__init__(machine, ctx)
        self.n = n
        self.ctrls = tuple(range(1, n + 1))

    def fresh_state(self, tag: str) -> dict:
        st: dict = {}
        for v in self.vars:
            if v.per_ctrl:
                st[v.name] = [z3.Const(f"{v.name}[c{c}]@{tag}", self.sort_of(v)) for c in self.ctrls]
            else:
                st[v.name] = z3.Const(f"{v.name}@{tag}", self.sort_of(v))
        return st

    def flat(self, st: dict, keep=None) -> list:
        out = []
        for v in self.vars:
            if keep is None or v.name in keep:
                out.extend(st[v.name] if v.per_ctrl else [st[v.name]])
        return out

    def nobody(self):
        return z3.IntVal(0, self.ctx)

    def ctrl_value(self, c: int):
        return z3.IntVal(c, self.ctx)

    def read(self, st: dict, name: str, index):
        if not isinstance(index, int):
            raise ModelDefinitionError(
                f"{name}[...] may only be indexed by a step's controller or a quantified controller"
            )
        return st[name][index - 1]

    def forall(self, tr, e: Forall, st, env):
        skip = {env[p.name] for p in e.distinct}
        parts = [tr.expr(e.body, st, {**env, e.var.name: d}) for d in self.ctrls if d not in skip]
        return z3.And(parts) if parts else self.true()

    def domain(self, st: dict) -> z3.BoolRef:
        """Values the concrete semantics can hold (phases, modes, holder)."""
        parts = [z3.And(st["holder"] >= 0, st["holder"] <= self.n)]
        for v in self.vars:
            if v.per_ctrl and v.sort in RANGES:
                lo, hi = RANGES[v.sort]
                parts += [z3.And(x >= lo, x <= hi) for x in st[v.name]]
        return z3.And(parts)

    def instances(self, machine: Optional[Machine] = None):
        for t in (machine or self.machine).transitions:
            ctrls = (None,) if t.source is None else self.ctrls
            modes = t.modes or (None,)
            for c, m in itertools.product(ctrls, modes):
                yield t, c, m

    def env(self, c, m) -> dict:
        env = {}
        if c is not None:
            env["c"] = c
        if m is not None:
            env["m"] = int(m)
        return env

    def values(self, model: z3.ModelRef, st: dict) -> dict:
        out = {}
        for v in self.vars:
            if v.per_ctrl:
                out[v.name] = [_py(model.eval(x, model_completion=True)) for x in st[v.name]]
            else:
                out[v.name] = _py(model.eval(st[v.name], model_completion=True))
        return out


class AnyN(_Encoding):
    """Controllers are an uninterpreted sort; per-controller state is an array."""

    parametric = True

    def __init__(self, machine: Machine, ctx: Optional[z3.Context] = None):
        super().__init__(machine, ctx)
        self.ctrl = z3.DeclareSort("Ctrl", self.ctx)
        self._nobody = z3.Const("nobody", self.ctrl)
        self._fresh = itertools.count()

    def fresh_state(self, tag: str) -> dict:
        st: dict = {}
        for v in self.vars:
            if v.per_ctrl:
                st[v.name] = z3.Array(f"{v.name}@{tag}", self.ctrl, self.sort_of(v))
            elif v.sort == "ctrl":
                st[v.name] = z3.Const(f"{v.name}@{tag}", self.ctrl)
            else:
                st[v.name] = z3.Const(f"{v.name}@{tag}", self.sort_of(v))
        return st

    def nobody(self):
        return self._nobody

    def read(self, st: dict, name: str, index):
        return z3.Select(st[name], index)

    def bound(self, name: str):
        return z3.Const(f"{name}!{next(self._fresh)}", self.ctrl)

    def forall(self, tr, e: Forall, st, env):
        d = self.bound(e.var.name)
        side = [d != self._nobody] + [d != env[p.name] for p in e.distinct]
        body = tr.expr(e.body, st, {**env, e.var.name: d})
        return z3.ForAll([d], z3.Implies(z3.And(side), body))

    def in_range(self, st: dict, c) -> list:
        """The bounds of controller c's values."""
        parts = []
        for v in self.vars:
            if v.per_ctrl and v.sort in RANGES:
                lo, hi = RANGES[v.sort]
                x = z3.Select(st[v.name], c)
                parts.append(z3.And(x >= lo, x <= hi))
        return parts

    def domain(self, st: dict) -> z3.BoolRef:
        d = self.bound("d")
        parts = self.in_range(st, d)
        return z3.ForAll([d], z3.And(parts)) if parts else self.true()

    def step_params(self, t: Transition, tag: str):
        """Symbolic controller and mode for one transition, with their side conditions."""
        env: dict = {}
        side = []
        if t.source is not None:
            c = z3.Const(f"c@{tag}", self.ctrl)
            env["c"] = c
            side.append(c != self._nobody)
        if t.has_mode:
            m = self.int(f"m@{tag}")
            env["m"] = m
            side.append(z3.Or([m == int(x) for x in t.modes]))
        return env, side

    def relation(self, tr, st, nxt, t: Transition, env) -> z3.BoolRef:
        """Guard and effect of one transition for symbolic controller/mode."""
        eqs = [tr.expr(t.guard, st, env)]
        done = set()
        for a in t.assigns:
            done.add(a.var)
            if isinstance(a, AssignAll):
                d = self.bound(a.param.name)
                body = tr.expr(a.body, st, {**env, a.param.name: d})
                eqs.append(nxt[a.var] == z3.Lambda([d], body))
            elif a.per_ctrl:
                eqs.append(nxt[a.var] == z3.Store(st[a.var], env["c"], tr.expr(a.value, st, env)))
            else:
                eqs.append(nxt[a.var] == tr.expr(a.value, st, env))
        for v in self.vars:
            if v.name not in done:
                eqs.append(nxt[v.name] == st[v.name])
        return z3.And(eqs)


class Translator:
    """Expression trees to Z3 terms in a given encoding."""

    def __init__(self, enc):
        self.enc = enc

    def expr(self, e: Expr, st: dict, env: dict):
        enc = self.enc
        if isinstance(e, Lit):
            if isinstance(e.value, Nobody):
                return enc.nobody()
            return enc.lit(e.value)
        if isinstance(e, Var):
            return st[e.name]
        if isinstance(e, At):
            if not isinstance(e.index, Param):
                raise ModelDefinitionError(
                    f"{e.name}[...] may only be indexed by a step's controller or a quantified controller"
                )
            return enc.read(st, e.name, env[e.index.name])
        if isinstance(e, Param):
            value = env[e.name]
            if isinstance(value, int) and not isinstance(value, bool):
                return enc.ctrl_value(value) if e.sort == "ctrl" else enc.lit(value)
            return value
        if isinstance(e, Named):
            return self.expr(e.body, st, env)
        if isinstance(e, Forall):
            return enc.forall(self, e, st, env)
        if isinstance(e, Op):
            a = [self.expr(x, st, env) for x in e.args]
            op = e.op
            if op == "and":
                return z3.And(a) if a else enc.true()
            if op == "or":
                return z3.Or(a) if a else enc.false()
            if op == "not":
                return z3.Not(a[0])
            if op == "implies":
                return z3.Implies(a[0], a[1])
            if op == "ite":
                return z3.If(a[0], a[1], a[2])
            if op == "eq":
                return a[0] == a[1]
            if op == "lt":
                return a[0] < a[1]
            if op == "le":
                return a[0] <= a[1]
            if op == "add":
                return a[0] + a[1]
        raise TypeError(f"cannot translate {e!r}")

    def init(self, st: dict, keep=None) -> z3.BoolRef:
        enc = self.enc
        parts = []
        for v in enc.vars:
            if keep is not None and v.name not in keep:
                continue
            if v.sort == "ctrl":
                value = enc.nobody() if isinstance(v.init, Nobody) else enc.ctrl_value(v.init)
            else:
                value = enc.lit(v.init)
            if v.per_ctrl and enc.parametric:
                parts.append(st[v.name] == z3.K(enc.ctrl, value))
            elif v.per_ctrl:
                parts += [x == value for x in st[v.name]]
            else:
                parts.append(st[v.name] == value)
        return z3.And(parts) if parts else enc.true()


@dataclass
class Unrolling:
    """A fixed-N path s0 .. sk with a selector per step (which instance fired)."""

    tr: Translator
    instances: list
    states: list
    selectors: list
    tag: str = ""

    @classmethod
    def start(cls, machine: Machine, n: int, tag: str = "",
              ctx: Optional[z3.Context] = None) -> "Unrolling":
        enc = FixedN(machine, n, ctx)
        return cls(Translator(enc), list(enc.instances()), [enc.fresh_state(f"{tag}0")], [], tag)

    @property
    def enc(self) -> FixedN:
        return self.tr.enc

    def extend(self) -> z3.BoolRef:
        """Add one step; returns its constraint (s_k -> s_k+1)."""
        k = len(self.states) - 1
        st, nxt = self.states[-1], self.enc.fresh_state(f"{self.tag}{k + 1}")
        sel = self.enc.int(f"sel{self.tag}@{k}")
        self.states.append(nxt)
        self.selectors.append(sel)
        return step_relation(self.tr, self.instances, st, nxt, sel)


def step_relation(tr: Translator, instances: list, st: dict, nxt: dict, sel, keep=None) -> z3.BoolRef:
    """One step of the machine: the selected instance's guard and effect.

    Each next-state variable is defined once as a case split over the
    instances that assign it, rather than one frame condition per instance.
    With `keep`, only those variables' next values are constrained (the rest
    are outside the cone of influence of what is being checked).
    """
    enc = tr.enc
    guards = []
    updates: dict = {}
    for k, (t, c, m) in enumerate(instances):
        env = enc.env(c, m)
        guards.append(z3.Implies(sel == k, tr.expr(t.guard, st, env)))
        for a in t.assigns:
            if isinstance(a, AssignAll):
                for d in enc.ctrls:
                    value = tr.expr(a.body, st, {**env, a.param.name: d})
                    updates.setdefault((a.var, d), []).append((k, value))
            elif a.per_ctrl:
                updates.setdefault((a.var, c), []).append((k, tr.expr(a.value, st, env)))
            else:
                updates.setdefault((a.var, None), []).append((k, tr.expr(a.value, st, env)))
    eqs = [sel >= 0, sel < len(instances)] + guards
    for v in enc.vars:
        if keep is not None and v.name not in keep:
            continue
        slots = [(d, st[v.name][d - 1], nxt[v.name][d - 1]) for d in enc.ctrls] if v.per_ctrl \
            else [(None, st[v.name], nxt[v.name])]
        for d, old, new in slots:
            value = old
            for k, val in reversed(updates.get((v.name, d), [])):
                value = z3.If(sel == k, val, value)
            eqs.append(new == value)
    return z3.And(eqs)


def event_formula(tr: Translator, instances: list, st: dict, prop: Property, sel=None) -> z3.BoolRef:
    """`prop`'s event can happen next in `st` (optionally: via instance `sel`)."""
    parts = []
    flag = tr.enc.flag(prop)
    for k, (t, c, m) in enumerate(instances):
        if c is None or not prop.matches(t):
            continue
        env = tr.enc.env(c, m)
        here = z3.And(tr.expr(t.guard, st, env), tr.expr(flag, st, env))
        parts.append(z3.And(sel == k, here) if sel is not None else here)
    return z3.Or(parts) if parts else tr.enc.false()


def cone_of_influence(machine: Machine, exprs) -> set:
    """Variables that can affect the guards or `exprs` (by data flow)."""
    need = set()
    for t in machine.transitions:
        need |= variables_of(t.guard)
    for e in exprs:
        need |= variables_of(e)
    grew = True
    while grew:
        grew = False
        for t in machine.transitions:
            for a in t.assigns:
                if a.var in need:
                    reads = variables_of(a.body if isinstance(a, AssignAll) else a.value)
                    if not reads <= need:
                        need |= reads
                        grew = True
    return need


def check_sat(solver, *assumptions) -> z3.CheckSatResult:
    """`solver.check`, with `unknown` (a time-out, a cancellation) raised as
    SolverUnknown: never a verdict."""
    try:
        result = solver.check(*assumptions)
    except z3.Z3Exception as exc:  # canceled, out of memory: an unknown, never a crash
        raise SolverUnknown(str(exc) or "Z3 failed") from None
    if result == z3.unknown:
        raise SolverUnknown(solver.reason_unknown())
    return result


class SolverUnknown(Exception):
    """Z3 answered unknown (or hit its timeout): never a pass."""


def _py(value):
    if z3.is_true(value):
        return True
    if z3.is_false(value):
        return False
    if z3.is_int_value(value):
        return value.as_long()
    return str(value)
