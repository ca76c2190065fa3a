"""Concrete semantics: the machine compiled to Python for N controllers.

A state is a flat tuple (globals first, then each per-controller variable for
c1..cN). Controllers are numbered 1..N and 0 means nobody; enumerations are
their integer values. Expressions are compiled once to Python source, so the
executor runs the very trees the solver reads, at simulation speed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Optional

from sessionfence.model.expr import (
    At,
    Expr,
    Forall,
    Kind,
    Lit,
    Mode,
    Named,
    Nobody,
    Op,
    Param,
    Phase,
    Var,
)
from sessionfence.model.machine import AssignAll, Machine, ModelDefinitionError, Transition
from sessionfence.model.properties import Property

MAX_CONTROLLERS = 6


class Instance(NamedTuple):
    """One step instance: which transition, for which controller and mode."""

    transition: Transition
    ctrl: Optional[int]  # 1..N, None for external_write
    mode: Optional[Mode]

    @property
    def step(self) -> str:
        return self.transition.step

    @property
    def kind(self) -> Optional[Kind]:
        return self.transition.kind

    def label(self) -> str:
        who = f"c{self.ctrl}" if self.ctrl else "X"
        pick = self.mode.name if self.mode is not None else \
            (self.kind.label if self.kind is not None else "")
        return f"{self.step}({pick}) {who}" if pick else f"{self.step} {who}"


class NotEnabled(Exception):
    """The requested step cannot be taken in this state."""


class Layout:
    """Where each variable of a machine lives in the state tuple."""

    def __init__(self, machine: Machine, n: int):
        if not 1 <= n <= MAX_CONTROLLERS:
            raise ValueError(f"controllers must be between 1 and {MAX_CONTROLLERS}, got {n}")
        self.n = n
        self.globals = machine.globals
        self.per_ctrl = machine.per_ctrl
        self.decl = {v.name: v for v in machine.vars}
        self.index: dict[str, int] = {}
        pos = 0
        for v in self.globals:
            self.index[v.name] = pos
            pos += 1
        for v in self.per_ctrl:
            self.index[v.name] = pos  # slot of c1; cN is at pos + N - 1
            pos += n
        self.size = pos

    def slot(self, name: str, ctrl: int) -> int:
        return self.index[name] + ctrl - 1


def _lit(value) -> str:
    if isinstance(value, Nobody):
        return "0"
    if isinstance(value, bool):
        return repr(value)
    return repr(int(value))


class Compiler:
    """Expression trees to Python source over a state tuple `s`."""

    def __init__(self, layout: Layout):
        self.layout = layout

    def expr(self, e: Expr) -> str:
        if isinstance(e, Lit):
            return _lit(e.value)
        if isinstance(e, Var):
            return f"s[{self.layout.index[e.name]}]"
        if isinstance(e, At):
            if not isinstance(e.index, Param):
                raise ModelDefinitionError(
                    f"{e.name}[...] may only be indexed by a step's controller or a "
                    f"quantified controller, not by {type(e.index).__name__}"
                )
            return f"s[{self.layout.index[e.name] - 1} + {e.index.name}]"
        if isinstance(e, Param):
            return e.name
        if isinstance(e, Named):
            return self.expr(e.body)
        if isinstance(e, Forall):
            conds = " and ".join(f"{e.var.name} != {p.name}" for p in e.distinct)
            where = f" if {conds}" if conds else ""
            return (f"all({self.expr(e.body)} for {e.var.name} in "
                    f"range(1, {self.layout.n + 1}){where})")
        if isinstance(e, Op):
            a = [self.expr(x) for x in e.args]
            if e.op == "and":
                return "(" + " and ".join(a) + ")"
            if e.op == "or":
                return "(" + " or ".join(a) + ")"
            if e.op == "not":
                return f"(not {a[0]})"
            if e.op == "implies":
                return f"((not {a[0]}) or {a[1]})"
            if e.op == "ite":
                return f"({a[1]} if {a[0]} else {a[2]})"
            sym = {"eq": "==", "lt": "<", "le": "<=", "add": "+"}[e.op]
            return f"({a[0]} {sym} {a[1]})"
        raise TypeError(f"cannot compile {e!r}")

    def function(self, params: str, body: str):
        return eval(compile(f"lambda {params}: {body}", "<model>", "eval"))

    def predicate(self, e: Expr, params: str = "s, c, m"):
        return self.function(params, self.expr(e))

    def effect(self, t: Transition):
        lines = ["def effect(s, c, m):", "    t = list(s)"]
        for a in t.assigns:
            var = self.layout.decl[a.var]
            if isinstance(a, AssignAll):
                base = self.layout.index[a.var] - 1
                lines.append(f"    for {a.param.name} in range(1, {self.layout.n + 1}):")
                lines.append(f"        t[{base} + {a.param.name}] = {self.expr(a.body)}")
            elif var.per_ctrl:
                lines.append(f"    t[{self.layout.index[a.var] - 1} + c] = {self.expr(a.value)}")
            else:
                lines.append(f"    t[{self.layout.index[a.var]}] = {self.expr(a.value)}")
        lines.append("    return tuple(t)")
        scope: dict = {}
        exec(compile("\n".join(lines), f"<effect {t.key}>", "exec"), scope)
        return scope["effect"]


@dataclass
class _Compiled:
    transition: Transition
    condition: object
    effect: object


class Executor:
    """Enabled steps and successors of concrete states."""

    def __init__(self, machine: Machine, n: int):
        self.machine = machine
        self.layout = Layout(machine, n)
        self.n = n
        comp = Compiler(self.layout)
        self._compiler = comp
        self._by_source: dict[Optional[Phase], list[_Compiled]] = {}
        for t in machine.transitions:
            compiled = _Compiled(t, comp.predicate(t.condition), comp.effect(t))
            self._by_source.setdefault(t.source, []).append(compiled)
        self._phase0 = self.layout.index["phase"] - 1
        self._events: dict[str, list] = {}
        self._closed: dict[int, tuple] = {}

    # -- states ---------------------------------------------------------
    def initial(self) -> tuple:
        values = []
        for v in self.layout.globals:
            values.append(_value(v.init))
        for v in self.layout.per_ctrl:
            values.extend([_value(v.init)] * self.n)
        return tuple(values)

    def get(self, s: tuple, name: str, ctrl: Optional[int] = None):
        if ctrl is None:
            return s[self.layout.index[name]]
        return s[self.layout.slot(name, ctrl)]

    def phase(self, s: tuple, ctrl: int) -> Phase:
        return Phase(s[self._phase0 + ctrl])

    # -- steps ----------------------------------------------------------
    def _candidates(self, s: tuple) -> Iterator[tuple[_Compiled, Optional[int]]]:
        for c in range(1, self.n + 1):
            for comp in self._by_source.get(Phase(s[self._phase0 + c]), ()):
                yield comp, c
        for comp in self._by_source.get(None, ()):
            yield comp, None

    def enabled(self, s: tuple) -> list[Instance]:
        out = []
        for comp, c in self._candidates(s):
            modes = comp.transition.modes or (None,)
            for m in modes:
                if comp.condition(s, c, m):
                    out.append(Instance(comp.transition, c, m))
        return out

    def successors(self, s: tuple) -> list[tuple[Instance, tuple]]:
        out = []
        for comp, c in self._candidates(s):
            modes = comp.transition.modes or (None,)
            for m in modes:
                if comp.condition(s, c, m):
                    out.append((Instance(comp.transition, c, m), comp.effect(s, c, m)))
        return out

    def find(self, s: tuple, step: str, ctrl: Optional[int], mode: Optional[Mode] = None,
             kind: Optional[Kind] = None) -> Instance:
        """The transition that `step` by `ctrl` (with `mode`, or `kind` for an
        external write) fires in `s`."""
        if (step == "external_write") != (ctrl is None):
            raise NotEnabled(f"{step}: external_write takes no controller, every other step one")
        if step == "begin_write" and mode is None:
            raise NotEnabled("begin_write needs a mode (publish, broad or cleanup)")
        if step == "external_write" and kind is None:
            raise NotEnabled("external_write needs a kind of edit")
        source = None if ctrl is None else self.phase(s, ctrl)
        for comp in self._by_source.get(source, ()):
            t = comp.transition
            if t.step != step or (t.modes and mode not in t.modes) or t.kind != kind:
                continue
            if comp.condition(s, ctrl, mode if t.has_mode else None):
                return Instance(t, ctrl, mode if t.has_mode else None)
        who = f"c{ctrl} (phase {source.name})" if ctrl else "the external writer"
        what = f"{step}({kind.label})" if kind is not None else step
        if step == "external_write" and not any(
                c.transition.kind == kind for c in self._by_source.get(None, ())):
            raise NotEnabled(f"{what} is not an edit of this world "
                             f"({self.machine.world.describe()})")
        raise NotEnabled(f"{what} is not enabled for {who}")

    def fire(self, s: tuple, inst: Instance) -> tuple:
        # Matched by key, so that an instance from another build of the same
        # variant (a trace read back, a checker result) fires here too.
        for comp in self._by_source.get(inst.transition.source, ()):
            if comp.transition.key == inst.transition.key:
                if not comp.condition(s, inst.ctrl, inst.mode):
                    raise NotEnabled(f"{inst.label()} ({inst.transition.key}) is not enabled")
                return comp.effect(s, inst.ctrl, inst.mode)
        raise NotEnabled(f"{inst.transition.key} is not a transition of this machine")

    def step(self, s: tuple, step: str, ctrl: Optional[int], mode: Optional[Mode] = None,
             kind: Optional[Kind] = None):
        inst = self.find(s, step, ctrl, mode, kind)
        return inst, self.fire(s, inst)

    # -- properties and predicates --------------------------------------
    def event_flag(self, prop: Property):
        """`prop`'s flag as a function (state, controller) -> bool."""
        flag = self._events.get(prop.name)
        if flag is None:
            flag = self._compiler.predicate(self.machine.flag(prop, Param("c", "ctrl")), "s, c")
            self._events[prop.name] = flag
        return flag

    def event(self, s: tuple, prop: Property) -> list[Instance]:
        """Step instances enabled in `s` that are events of `prop`."""
        flag = self.event_flag(prop)
        return [i for i in self.enabled(s)
                if i.ctrl is not None and prop.matches(i.transition) and flag(s, i.ctrl)]

    def holds(self, s: tuple, e: Expr) -> bool:
        """Evaluate a closed predicate (an invariant) in `s`."""
        fn = self._closed.get(id(e))
        if fn is None:
            fn = self._compiler.predicate(e, "s")
            # keep `e` alive with its function, so the id is never reused
            self._closed[id(e)] = fn = (fn, e)
        return bool(fn[0](s))

    # -- simulation -----------------------------------------------------
    def random_walk(self, rng: random.Random, depth: int):
        """A random run of up to `depth` steps: [(instance, state_after)]."""
        s = self.initial()
        run = []
        for _ in range(depth):
            succ = self.successors(s)
            if not succ:
                break
            inst, s = succ[rng.randrange(len(succ))]
            run.append((inst, s))
        return run

    def decode_raw(self, s: tuple) -> dict:
        """Raw values by variable (per-controller ones as a list c1..cN)."""
        out: dict = {}
        for v in self.machine.vars:
            i = self.layout.index[v.name]
            out[v.name] = list(s[i:i + self.n]) if v.per_ctrl else s[i]
        return out

    def encode_raw(self, values: dict) -> tuple:
        """The state `decode_raw` reads back as `values`."""
        out = [values[v.name] for v in self.layout.globals]
        for v in self.layout.per_ctrl:
            out.extend(values[v.name])
        return tuple(out)

    # -- display --------------------------------------------------------
    def decode(self, s: tuple) -> dict:
        """Readable values: phases and modes by name, holder as c1/none."""
        out: dict = {}
        for v in self.layout.globals:
            out[v.name] = _show(v.sort, s[self.layout.index[v.name]])
        for v in self.layout.per_ctrl:
            out[v.name] = {f"c{c}": _show(v.sort, s[self.layout.slot(v.name, c)])
                           for c in range(1, self.n + 1)}
        return out


def _value(init):
    if isinstance(init, Nobody):
        return 0
    if isinstance(init, bool):
        return init
    return int(init)


def _show(sort: str, value):
    if sort == "phase":
        return Phase(value).name
    if sort == "mode":
        return Mode(value).name
    if sort == "ctrl":
        return f"c{value}" if value else "none"
    return value
