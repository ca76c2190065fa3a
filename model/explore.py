"""Explicit-state exploration of the reachable global states (small N).

The `states` diagram draws every reachable global state of a small instance
once. Three reductions keep that graph finite and small, each preserving what
the picture shows (which steps are enabled, and where a property's bad event
is enabled):

* *Renaming.* Fingerprints, generations and epochs only grow (`file + 1`,
  `reg_gen + 1`, `next_epoch + 1`), so the raw state space is infinite. The
  machine only compares these numbers (`=`, `<`, `≤`), adds constants and
  names a few literals (`NO_FP`, `0`). `Canonicaliser` renames each class of
  numbers that meet in some expression (read off the machine, so a variant
  comparing, say, generations with fingerprints gets one class) to the least
  values that keep their order, the literals, and the `x + k` the machine
  computes next. What this forgets is how far apart two numbers are, which
  only a chain of several additions could observe; in the built-in variants
  that is a dead epoch's generations, which no guard compares. The tests
  check that the drawn graph is bisimilar to the unreduced bounded state
  space and, for the default bounds, that every raw state maps onto a node.
* *Symmetry.* Controllers are interchangeable (every step is stated for "the
  acting controller c"), so a state and the same state with controllers
  permuted are one node; the representative is the least tuple.
* *Finished controllers.* A controller in a phase no step leaves (`done`,
  `taken_over`) never acts again; its fence data is reset to the initial
  values unless some step reads it through a quantifier.

The instance is bounded by `Bounds`: external writes and write sections per
path, the write modes and whether `dispose` is offered. A state whose bad
event is enabled is a leaf: the picture shows how a violation becomes
possible, not what follows it.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

from sessionfence.model import properties as P
from sessionfence.model.concrete import Executor, Instance
from sessionfence.model.expr import (
    WRITE_MODES, At, Forall, Kind, Lit, Mode, Named, Nobody, Op, Param, Phase, Var,
)
from sessionfence.model.machine import AssignAll, Machine

DEFAULT_LIMIT = 200
# Past this many states the exploration stops counting: the refusal then
# says "more than" instead of the exact count.
COUNT_CAP = 20_000


class TooManyStates(Exception):
    """The reachable graph is larger than the caller's limit."""

    def __init__(self, count: int, limit: int, complete: bool):
        self.count, self.limit, self.complete = count, limit, complete
        many = f"{count}" if complete else f"more than {count}"
        super().__init__(f"{many} reachable states, more than the limit of {limit}")


# -- value classes -------------------------------------------------------------


def _is_int_lit(value) -> bool:
    return not isinstance(value, (bool, Phase, Mode, Nobody)) and isinstance(value, int)


class _Classes:
    """Union-find over integer variables, plus literals and offsets per class."""

    def __init__(self, machine: Machine, fresh: frozenset = frozenset()):
        self.ints = {v.name for v in machine.vars if v.sort in ("int", "fp")}
        self.fresh = fresh  # counters whose reads relate nothing (`roles`)
        self.parent = {name: name for name in self.ints}
        self.literals: dict[str, set] = {}  # var (any member) -> literal values
        self.offsets: dict[str, set] = {}  # var -> k for every term `var + k`
        self.opaque: set[str] = set()  # vars in arithmetic we cannot rename through

    def find(self, v: str) -> str:
        while self.parent[v] != v:
            self.parent[v] = self.parent[self.parent[v]]
            v = self.parent[v]
        return v

    def union(self, names: list) -> None:
        for other in names[1:]:
            a, b = self.find(names[0]), self.find(other)
            if a != b:
                self.parent[max(a, b)] = min(a, b)

    # An integer term is a list of atoms: ("var", name, k) for `name + k`,
    # ("lit", value) for a literal; `ite` contributes both branches.
    def atoms(self, e) -> list:
        if isinstance(e, Named):
            return self.atoms(e.body)
        if isinstance(e, (Var, At)) and e.name in self.ints:
            if isinstance(e, At):
                self.walk(e.index)
            return [("var", e.name, 0)]
        if isinstance(e, Lit) and _is_int_lit(e.value):
            return [("lit", int(e.value))]
        if isinstance(e, Op) and e.op == "add":
            left, right = e.args
            if isinstance(right, Lit) and _is_int_lit(right.value):
                out = []
                for atom in self.atoms(left):
                    if atom[0] == "var":
                        out.append(("var", atom[1], atom[2] + int(right.value)))
                    else:
                        out.append(("lit", atom[1] + int(right.value)))
                return out
            # var + var: no order-preserving renaming is exact any more
            names = [a[1] for x in e.args for a in self.atoms(x) if a[0] == "var"]
            self.opaque.update(names)
            self.union(names)
            return [("var", n, 0) for n in names]
        if isinstance(e, Op) and e.op == "ite":
            self.walk(e.args[0])
            return self.atoms(e.args[1]) + self.atoms(e.args[2])
        self.walk(e)
        return []

    def relate(self, atoms: list) -> None:
        """All atoms of one comparison or assignment share a renaming."""
        names = [a[1] for a in atoms if a[0] == "var" and a[1] not in self.fresh]
        if not names:
            return
        self.union(names)
        for a in atoms:
            if a[0] == "var" and a[2]:
                self.offsets.setdefault(a[1], set()).add(a[2])
            elif a[0] == "lit":
                self.literals.setdefault(names[0], set()).add(a[1])

    def walk(self, e) -> None:
        """Visit a (non-integer) expression and relate the integers it compares."""
        if isinstance(e, Named):
            self.walk(e.body)
        elif isinstance(e, Forall):
            self.walk(e.body)
        elif isinstance(e, At):
            self.walk(e.index)
        elif isinstance(e, Op):
            if e.op in ("eq", "lt", "le") and any(self._is_int(x) for x in e.args):
                self.relate(self.atoms(e.args[0]) + self.atoms(e.args[1]))
            elif e.op == "ite":
                self.walk(e.args[0])
                self.walk(e.args[1])
                self.walk(e.args[2])
            else:
                for x in e.args:
                    self.walk(x)

    def _is_int(self, e) -> bool:
        if isinstance(e, Named):
            return self._is_int(e.body)
        if isinstance(e, (Var, At)):
            return e.name in self.ints
        if isinstance(e, Lit):
            return _is_int_lit(e.value)
        if isinstance(e, Op):
            return e.op == "add" or (e.op == "ite" and self._is_int(e.args[1]))
        return False


@dataclass(frozen=True)
class ValueClass:
    """Integer variables renamed together, the literals the renaming keeps,
    and the offsets `k` of every term `var + k` the machine computes."""

    variables: tuple
    literals: frozenset
    offsets: tuple  # ((var, k), ...)
    exact: bool  # False if some term is not `var + constant`


def _related(machine: Machine, fresh: frozenset = frozenset()) -> _Classes:
    uf = _Classes(machine, fresh)
    for t in machine.transitions:
        uf.walk(t.condition)
        for a in t.assigns:
            if a.var not in uf.ints:
                uf.walk(a.body if isinstance(a, AssignAll) else a.value)
                continue
            value = a.body if isinstance(a, AssignAll) else a.value
            uf.relate([("var", a.var, 0)] + uf.atoms(value))
    for prop in P.ALWAYS + P.SOMETIMES:
        if prop.name == "peer-write-accepted" and not machine.has("fence"):
            continue
        uf.walk(machine.flag(prop, Param("c", "ctrl")))
    return uf


def _groups(uf: _Classes) -> dict:
    groups: dict[str, list] = {}
    for name in uf.parent:
        groups.setdefault(uf.find(name), []).append(name)
    return groups


def value_classes(machine: Machine) -> list[ValueClass]:
    uf = _related(machine)
    out = []
    for root, members in sorted(_groups(uf).items()):
        members = tuple(sorted(members))
        lits = frozenset(v for m in members for v in uf.literals.get(m, ()))
        offs = tuple(sorted((m, k) for m in members for k in uf.offsets.get(m, ())))
        exact = not any(m in uf.opaque for m in members)
        out.append(ValueClass(members, lits, offs, exact))
    return out


# The world's counter of fresh values (world.py): every fingerprint, inode
# and content is `clock + 1` when made.
FRESH = "clock"


def roles(machine: Machine) -> list[tuple]:
    """The value classes split where only the fresh-value counter joins them.

    Inodes, fingerprints and contents share a class (one counter hands them
    all out, so samples rename them together), yet an inode is never copied
    to or compared with a fingerprint: an invariant relating the two would be
    an accident of the order values were handed out in. Each role is one
    group of variables copied to or compared with each other; the counter
    itself is left out (`infer` compares it with every role of its class)."""
    uf = _related(machine, frozenset({FRESH}) if machine.has(FRESH) else frozenset())
    return [tuple(sorted(m)) for _, m in sorted(_groups(uf).items()) if m != [FRESH]]


# -- canonical renaming --------------------------------------------------------


def _renaming(values: set, literals: frozenset) -> dict:
    """The least order-preserving map that fixes `literals` and keeps runs of
    consecutive integers consecutive (so `x + 1 = y` stays true or false)."""
    ordered = sorted(values | literals)
    runs: list[list] = []
    for v in ordered:
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    # A run holding a literal stays where it is; the others are packed right
    # after their lower neighbour (the runs below the first literal, right
    # below it). A packed run moves towards a neighbour but never past it.
    pinned = [i for i, run in enumerate(runs) if any(v in literals for v in run)]
    start = runs[pinned[0]][0] - sum(len(r) for r in runs[:pinned[0]]) if pinned else 0
    mapping: dict = {}
    for run in runs:
        if any(v in literals for v in run):
            start = run[0]
        for i, v in enumerate(run):
            mapping[v] = start + i
        start += len(run)
    return mapping


class Canonicaliser:
    """Maps an executor state to its representative up to renaming."""

    def __init__(self, executor: Executor):
        self.executor = executor
        layout = executor.layout
        decl = layout.decl
        self.classes = value_classes(executor.machine)
        self._plan = []
        for vc in self.classes:
            if not vc.exact:
                continue  # left alone: exploration may then hit COUNT_CAP, never go wrong
            slots = []
            for name in vc.variables:
                width = layout.n if decl[name].per_ctrl else 1
                slots.extend(range(layout.index[name], layout.index[name] + width))
            offsets = {}
            for name, k in vc.offsets:
                width = layout.n if decl[name].per_ctrl else 1
                for slot in range(layout.index[name], layout.index[name] + width):
                    offsets.setdefault(slot, set()).add(k)
            self._plan.append((tuple(slots), offsets, vc.literals))

    def __call__(self, s: tuple, skip=frozenset()) -> tuple:
        """`s` renamed; slots in `skip` (data nobody will read) are left out
        of the renaming and copied as they are."""
        out = list(s)
        for slots, offsets, literals in self._plan:
            if skip:
                slots = [slot for slot in slots if slot not in skip]
            values = set()
            for slot in slots:
                v = s[slot]
                values.add(v)
                for k in offsets.get(slot, ()):
                    # keep the whole span v..v+k so `v + k` lands where it should
                    step = 1 if k > 0 else -1
                    values.update(range(v, v + k + step, step))
            mapping = _renaming(values, literals)
            for slot in slots:
                out[slot] = mapping[s[slot]]
        return tuple(out)


# -- symmetry and finished controllers ----------------------------------------


def _read_at_quantified(e, acting: str, out: set) -> None:
    """Per-controller variables `e` reads at an index other than `acting`."""
    if isinstance(e, At):
        if not (isinstance(e.index, Param) and e.index.name == acting):
            out.add(e.name)
        _read_at_quantified(e.index, acting, out)
    elif isinstance(e, Named):
        _read_at_quantified(e.body, acting, out)
    elif isinstance(e, Forall):
        _read_at_quantified(e.body, acting, out)
    elif isinstance(e, Op):
        for x in e.args:
            _read_at_quantified(x, acting, out)


def forgettable(machine: Machine) -> tuple[frozenset, frozenset]:
    """(phases no step leaves, per-controller variables a controller in such
    a phase may forget). A variable must be kept if some step reads it at a
    controller other than the acting one (through a quantifier), unless that
    read only feeds a forgettable variable of the same controller."""
    sources = {t.source for t in machine.transitions if t.source is not None}
    final = frozenset(p for p in Phase if p not in sources)
    direct: set = set()
    feeds: list = []  # (target var, vars its AssignAll body reads at d)
    for t in machine.transitions:
        _read_at_quantified(t.condition, "c", direct)
        for a in t.assigns:
            if isinstance(a, AssignAll):
                if a.var == "phase":
                    return final, frozenset()  # phases rewritten from outside
                body: set = set()
                _read_at_quantified(a.body, "c", body)
                feeds.append((a.var, body))
            else:
                _read_at_quantified(a.value, "c", direct)
    needed = set(direct) | {"phase"}
    changed = True
    while changed:
        changed = False
        for target, body in feeds:
            if target in needed and not body <= needed:
                needed |= body
                changed = True
    per_ctrl = {v.name for v in machine.per_ctrl}
    return final, frozenset(per_ctrl - needed)


def relevant(machine: Machine) -> set:
    """Variables that can influence a guard or a property (data flow)."""
    from sessionfence.model.smt import cone_of_influence

    flags = [machine.flag(p, Param("c", "ctrl")) for p in P.ALWAYS + P.SOMETIMES
             if p.name != "peer-write-accepted" or machine.has("fence")]
    return cone_of_influence(machine, flags) | {"phase", "holder"}


class Reducer:
    """The representative of a state's class: unobservable data reset,
    finished controllers' data forgotten, controllers permuted to the least
    tuple, numbers renamed."""

    def __init__(self, executor: Executor, *, symmetry: bool = True, forget: bool = True):
        self.executor = executor
        self.canon = Canonicaliser(executor)
        layout, n = executor.layout, executor.n
        self._phase = [layout.slot("phase", c) for c in range(1, n + 1)]
        final, names = forgettable(executor.machine) if forget else (frozenset(), frozenset())
        self._final = frozenset(int(p) for p in final)
        machine = executor.machine
        self._forget = [(layout.index[v.name] - 1, executor.initial()[layout.index[v.name]])
                        for v in machine.per_ctrl if v.name in names]
        self._per_ctrl = [layout.index[v.name] - 1 for v in machine.per_ctrl]
        # variables whose value names a controller (the lock holder), 0 = nobody
        self._ctrl_valued = [layout.index[v.name] + k for v in machine.vars if v.sort == "ctrl"
                             for k in range(n if v.per_ctrl else 1)]
        identity = tuple(range(1, n + 1))
        self._perms = list(itertools.permutations(identity)) if symmetry else [identity]
        # Variables nothing can observe (no guard, no property, nothing that
        # feeds one reads them: `mine` in a design that never validates) are
        # kept at their initial value: they cannot tell two states apart.
        observed = relevant(machine)
        init = executor.initial()
        self._unread = [slot for v in machine.vars if v.name not in observed
                        for slot in ([layout.index[v.name] + k for k in range(n)] if v.per_ctrl
                                     else [layout.index[v.name]])]
        self._unread_init = [init[slot] for slot in self._unread]

    def __call__(self, s: tuple) -> tuple:
        if self._unread:
            t = list(s)
            for slot, value in zip(self._unread, self._unread_init):
                t[slot] = value
            s = tuple(t)
        dead = [c for c, slot in enumerate(self._phase, 1) if s[slot] in self._final]
        if self._forget and dead:
            t = list(s)
            for c in dead:
                for base, init in self._forget:
                    t[base + c] = init
            s = tuple(t)
        # Renaming numbers depends only on the set of values in each class,
        # which permuting controllers does not change: rename once, then
        # permute (the order-preserving renaming commutes with permutation).
        # Forgotten data takes no part in the renaming: it is read by nobody,
        # so it must not shift the numbers that are read.
        s = self.canon(s, {base + c for c in dead for base, _ in self._forget})
        best = None
        for perm in self._perms:
            t = list(s)
            for base in self._per_ctrl:
                for c, to in enumerate(perm, 1):
                    t[base + to] = s[base + c]
            for slot in self._ctrl_valued:
                if t[slot]:
                    t[slot] = perm[t[slot] - 1]
            t = tuple(t)
            if best is None or t < best:
                best = t
        return best


# -- the reachable graph -------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """The small instance: what a path may contain."""

    external: int = 1  # external writes per path
    writes: Optional[int] = 1  # write sections (begin_write steps) per path; None: any
    modes: tuple = (Mode.publish, Mode.cleanup)  # begin_write modes offered
    dispose: bool = False  # offer the dispose step
    # the kinds of external edit offered (None: every kind of the machine's world)
    kinds: Optional[tuple] = (Kind.append,)

    def allows(self, inst: Instance) -> bool:
        if inst.mode is not None and inst.mode not in self.modes:
            return False
        if inst.kind is not None and self.kinds is not None and inst.kind not in self.kinds:
            return False
        return self.dispose or inst.step != "dispose"

    def advance(self, ext: int, writes: int, inst: Instance) -> Optional[tuple]:
        """The path's (external writes, write sections) after `inst`, or None
        if `inst` is not offered or would exceed a bound. Without a write
        bound the sections are not counted (the configurations would be
        infinite)."""
        if not self.allows(inst):
            return None
        ext += inst.ctrl is None
        if self.writes is not None:
            writes += inst.step == "begin_write"
            if writes > self.writes:
                return None
        return (ext, writes) if ext <= self.external else None

    def describe(self) -> str:
        writes = "any number of" if self.writes is None else f"≤ {self.writes}"
        modes = ", ".join(m.name for m in WRITE_MODES if m in self.modes)
        plural = "s" if self.writes != 1 else ""
        kinds = "" if self.kinds is None else \
            " (" + ", ".join(k.label for k in self.kinds) + ")"
        out = (f"≤ {self.external} external write{'s' if self.external != 1 else ''}{kinds}, "
               f"{writes} write section{plural} ({modes})")
        return out + ("" if self.dispose else ", no dispose")


@dataclass
class StateGraph:
    """Representative states (BFS order, the initial state first) and the
    step instances between them, named as in the source state."""

    executor: Executor
    bounds: Bounds
    states: list  # representative tuples; index = node id
    edges: list  # (source id, Instance, target id), sorted, no duplicates
    bad: dict = field(default_factory=dict)  # id -> property names enabled there
    symmetry: bool = True
    properties: tuple = ()  # the properties whose bad events make red leaves

    def __len__(self) -> int:
        return len(self.states)


def explore(machine: Machine, n: int = 2, bounds: Bounds = Bounds(), *,
            limit: Optional[int] = DEFAULT_LIMIT, symmetry: bool = True,
            properties: Optional[tuple] = None) -> StateGraph:
    """Every state reachable within `bounds`, up to the reductions above.

    States where the bad event of one of `properties` (names; default every
    `always` property) is enabled are red leaves. Raises `TooManyStates`
    (with the count, or "more than" past `COUNT_CAP`) when there are more
    than `limit` states; `limit=None` has no limit.
    """
    watched = [p for p in P.ALWAYS if properties is None or p.name in properties]
    ex = Executor(machine, n)
    reduce = Reducer(ex, symmetry=symmetry)
    init = reduce(ex.initial())
    ids = {init: 0}
    states, bad = [init], {}
    edges: set = set()
    # A configuration adds the budget used so far, so a state first reached
    # with its budget spent is explored again when reached more cheaply.
    seen = {(init, 0, 0)}
    queue = deque([(0, 0, 0)])
    cap = COUNT_CAP if limit is None else max(COUNT_CAP, limit)
    while queue:
        i, ext, writes = queue.popleft()
        s = states[i]
        if i in bad:
            continue
        hit = [p.name for p in watched if ex.event(s, p)]
        if hit:
            bad[i] = hit
            continue  # a leaf: the violation is possible here
        for inst, nxt in ex.successors(s):
            counts = bounds.advance(ext, writes, inst)
            if counts is None:
                continue
            ext2, writes2 = counts
            t = reduce(nxt)
            j = ids.get(t)
            if j is None:
                if len(states) >= cap:
                    raise TooManyStates(len(states), limit or cap, complete=False)
                j = ids[t] = len(states)
                states.append(t)
            edges.add((i, (inst.transition.key, inst.ctrl or 0, int(inst.mode or 0)), j, inst))
            if (t, ext2, writes2) not in seen:
                seen.add((t, ext2, writes2))
                queue.append((j, ext2, writes2))
    if limit is not None and len(states) > limit:
        raise TooManyStates(len(states), limit, complete=True)
    ordered = [(i, inst, j) for i, _, j, inst in sorted(edges, key=lambda e: e[:3])]
    return StateGraph(ex, bounds, states, ordered, bad, symmetry, tuple(p.name for p in watched))


def shortest_violation(machine: Machine, n: int, prop: P.Property, *,
                       max_states: int = COUNT_CAP * 10):
    """The first shortest run to `prop`'s bad event in breadth-first order
    over renamed states (controllers keep their names, nothing is
    forgotten), as (steps, states) of raw executor states; None if the
    event is unreachable. Depends only on the model, unlike a solver's
    choice among equally short counterexamples."""
    ex = Executor(machine, n)
    canon = Canonicaliser(ex)
    init = canon(ex.initial())
    parent: dict = {init: None}
    queue = deque([init])
    while queue:
        s = queue.popleft()
        events = ex.event(s, prop)
        if events:
            path = [events[0]]
            while parent[s] is not None:
                s, inst = parent[s]
                path.append(inst)
            path.reverse()
            # Replay from the raw initial state, so the run shows real
            # numbers; `fire` refuses a step that is not enabled, and the
            # last step must still be the event, or renaming misled us.
            raw = [ex.initial()]
            for inst in path:
                raw.append(ex.fire(raw[-1], inst))
            if path[-1] not in ex.event(raw[-2], prop):
                raise AssertionError(f"replayed run does not end in a {prop.name} event")
            return path, raw
        for inst, nxt in ex.successors(s):
            t = canon(nxt)
            if t not in parent:
                if len(parent) >= max_states:
                    raise TooManyStates(len(parent), max_states, complete=False)
                parent[t] = (s, inst)
                queue.append(t)
    return None


__all__ = ["Bounds", "Canonicaliser", "Reducer", "StateGraph", "TooManyStates", "ValueClass",
           "explore", "forgettable", "roles", "shortest_violation", "value_classes"]
