"""The shared fence machine: steps, their guards and effects, built once.

`build(variant, world)` places a design's check points (`design.py`) into
the lock and phase discipline every design shares, adds the world's external
edits (`world.py`), and returns the `Transition`s that every back-end (Z3,
simulation, traces, diagrams, the conformance harness) reads.

One `Transition` is one branch of one step: `reacquire` has an accepting and
a taking-over transition, told apart by the check. Branches of a step are
mutually exclusive (a test asks Z3 to confirm), so a step instance
`(step, controller, mode)` fires at most one transition: the model is
deterministic once the step is chosen.

Within a step, things happen in this stated order, each seeing what the
ones before it assigned: the machine's own bookkeeping (taking the lock,
`mode := m`, `before := file`), then the items of the design's point in the
order declared, then the end of the step (phase, giving the lock back,
forgetting a finished write section).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from typing import Optional

from sessionfence.model import state as S
from sessionfence.model.design import POINTS, Check, Fail, Variant
from sessionfence.model.expr import (
    ALIVE_PHASES, NO_FP, NOBODY, TRUE, WRITE_MODES, WRITE_PHASES, Expr, Kind, Lit, Mode, Param,
    Phase, conj, forall, lift, named, subst, variables_of,
)
from sessionfence.model.world import CONTENT_VARS, Layout, World

STEPS = (
    "start",
    "release",
    "reacquire",
    "begin_write",
    "read_before",
    "append",
    "finish_write",
    "dispose",
    "external_write",
)

C = Param("c", "ctrl")  # the acting controller
M = Param("m", "mode")  # begin_write's mode
D = Param("d", "ctrl")  # every controller, in the external writer's ghost update

# What a design observes of the file: a decision that records one of these
# without a check adopts the file.
OBSERVED = frozenset({"file", "before", "mine", "landed"} | set(CONTENT_VARS))


class Decision(enum.Enum):
    """What a transition decides about the file, for the properties."""

    none = "none"
    accept = "accept"  # passes a fence check
    adopt = "adopt"  # records the current file as its own without a check
    takeover = "takeover"  # fails closed


@dataclass(frozen=True)
class Assign:
    """`var := value`; per-controller vars are assigned at the acting `c`.

    `rule` names the design rule (or machine bookkeeping) it comes from, so
    a short label can say `on_accept` instead of every assignment.
    """

    var: str
    value: Expr
    rule: str = ""
    per_ctrl: bool = False


@dataclass(frozen=True)
class AssignAll:
    """`var[d] := body(d)` for every controller d (the external writer's ghosts)."""

    var: str
    param: Param
    body: Expr
    per_ctrl: bool = True


@dataclass(frozen=True, eq=False)
class Transition:
    step: str
    source: Phase | None  # acting controller's phase before (None: external_write)
    target: Phase | None
    condition: Expr  # the guard beyond `phase[c] = source`
    assigns: tuple
    decision: Decision
    modes: tuple = ()  # the modes m ranges over (begin_write); () for no mode
    kind: Optional[Kind] = None  # external_write's kind of edit
    branch: str = ""  # tells apart two transitions with equal step, source and target

    @property
    def has_mode(self) -> bool:
        return bool(self.modes)

    @property
    def key(self) -> str:
        if self.source is None:
            return f"{self.step}[{self.kind.label}]" if self.kind else self.step
        head = self.step
        if self.modes and self.modes != WRITE_MODES:
            head += "(" + "|".join(m.name for m in self.modes) + ")"
        out = f"{head}:{self.source.name}->{self.target.name}"
        return f"{out}[{self.branch}]" if self.branch else out

    # A transition is identified by its key (unique within a machine), so
    # runs computed from two builds of one variant compare equal.
    def __eq__(self, other) -> bool:
        return isinstance(other, Transition) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def outcome(self) -> str:
        if self.decision is Decision.takeover:
            return "takeover"
        return "accept" if self.decision is Decision.accept else "ok"

    @property
    def guard(self) -> Expr:
        if self.source is None:
            return self.condition
        return conj(S.phase[C] == self.source, self.condition)


@dataclass(frozen=True)
class Machine:
    variant: Variant
    world: World
    transitions: tuple[Transition, ...]
    vars: tuple  # StateVars: machine, world, design, ghosts (the state layout)
    layout: Layout = field(repr=False, compare=False, default=None)

    @property
    def atomic_writes(self) -> bool:
        return self.world.atomic_writes

    def var(self, name: str) -> S.StateVar:
        for v in self.vars:
            if v.name == name:
                return v
        raise KeyError(f"{self.variant.name} has no state variable {name!r}")

    def has(self, name: str) -> bool:
        return any(v.name == name for v in self.vars)

    @property
    def globals(self) -> tuple:
        return tuple(v for v in self.vars if not v.per_ctrl)

    @property
    def per_ctrl(self) -> tuple:
        return tuple(v for v in self.vars if v.per_ctrl)

    def variables_used(self) -> list[str]:
        """State variables this variant reads or writes, in layout order."""
        used: set[str] = set()
        for t in self.transitions:
            used |= variables_of(t.guard)
            for a in t.assigns:
                used.add(a.var)
                used |= variables_of(a.body if isinstance(a, AssignAll) else a.value)
        return [v.name for v in self.vars if v.name in used]

    def flag(self, prop, c: Expr) -> Expr:
        """`prop`'s condition on controller c, in this machine's world."""
        return prop.flag(c, self.layout)


class ModelDefinitionError(ValueError):
    """A variant's declaration does not fit the shared machine (one line)."""


def _where(fn) -> str:
    code = getattr(fn, "__code__", None)
    if code is None:
        return ""
    return f"{code.co_filename}:{code.co_firstlineno}: "


def _failure_where(exc: BaseException, fn) -> str:
    """file:line of the innermost frame in the rule's own file."""
    code = getattr(fn, "__code__", None)
    tb, line = exc.__traceback__, None
    while tb is not None:
        if code is not None and os.path.realpath(tb.tb_frame.f_code.co_filename) == \
                os.path.realpath(code.co_filename):
            line = tb.tb_lineno
        tb = tb.tb_next
    if code is None:
        return ""
    return f"{code.co_filename}:{line or code.co_firstlineno}: "


class _Builder:
    def __init__(self, variant: Variant, world: World):
        self.v = variant
        self.world = world
        self.decls = {}
        for handle in variant.state:
            decl = S.declaration(handle)
            if decl.name in self.decls and self.decls[decl.name] != decl:
                raise ModelDefinitionError(f"variant {variant.name!r} declares {decl.name!r} twice, "
                                           f"with different sorts or initial values")
            self.decls[decl.name] = decl
        self.unlocked = any(isinstance(i, Check) and i.fail.action == "continue-unlocked"
                            for items in variant.points.values() for i in items)
        self.keeps_lock = any(isinstance(i, Check) and i.fail.keep_held_lock
                              for items in variant.points.values() for i in items)
        self.reads: set = set()
        self.ts: list[Transition] = []
        self.order = [v.name for v in S.MACHINE_VARS + S.WORLD_VARS] + list(self.decls) + \
            [v.name for v in S.GHOST_VARS]

    # -- rules ---------------------------------------------------------------------
    def call(self, ref, step: str, what: str):
        fn = self.v.rule(ref, f"point {step}")
        name = ref if isinstance(ref, str) else getattr(fn, "__name__", "rule")
        try:
            out = fn(C)
        except (Exception, SystemExit) as exc:
            kind = "calls sys.exit" if isinstance(exc, SystemExit) else \
                f"raises {type(exc).__name__}: {exc}"
            raise ModelDefinitionError(
                f"{_failure_where(exc, fn)}variant {self.v.name!r}, step {step}, rule {name!r} "
                f"{kind}") from None
        if what == "condition":
            if isinstance(out, dict) or out is None:
                raise ModelDefinitionError(
                    f"{_where(fn)}variant {self.v.name!r}, step {step}, rule {name!r}: a check "
                    f"needs a condition (an expression), got {type(out).__name__}")
            try:
                out = lift(out)
            except TypeError as exc:
                raise ModelDefinitionError(f"{_where(fn)}variant {self.v.name!r}, step {step}, "
                                           f"rule {name!r}: {exc}") from None
            self._reads(out, fn, step, name)
            return name, named(name, out)
        if not isinstance(out, dict):
            raise ModelDefinitionError(
                f"{_where(fn)}variant {self.v.name!r}, step {step}, rule {name!r}: updates are a "
                f"dict {{variable: expression}}, got {type(out).__name__}")
        updates = []
        for var, value in out.items():
            if var not in self.decls:
                owner = S.RESERVED[var].owner if var in S.RESERVED else None
                hint = (f"the {owner} owns it" if owner else
                        "it is not declared in the variant's state")
                raise ModelDefinitionError(
                    f"{_where(fn)}variant {self.v.name!r}, step {step}, rule {name!r} may not "
                    f"assign {var!r} ({hint}); a rule may assign "
                    f"{', '.join(sorted(self.decls)) or 'nothing (no design state declared)'}")
            try:
                value = lift(value)
            except TypeError as exc:
                raise ModelDefinitionError(f"{_where(fn)}variant {self.v.name!r}, step {step}, "
                                           f"rule {name!r}: {var}: {exc}") from None
            self._reads(value, fn, step, name)
            updates.append((var, value))
        return name, updates

    def _reads(self, e: Expr, fn, step: str, name: str) -> None:
        for var in variables_of(e):
            if var in self.decls or var in S.RESERVED and S.RESERVED[var].owner in ("machine", "world"):
                self.reads.add(var)
                continue
            if var in S.RESERVED:
                raise ModelDefinitionError(
                    f"{_where(fn)}variant {self.v.name!r}, step {step}, rule {name!r} reads the "
                    f"ghost {var!r}: ghosts are for the properties, invisible to designs")
            raise ModelDefinitionError(
                f"{_where(fn)}variant {self.v.name!r}, step {step}, rule {name!r} reads {var!r}, "
                f"which is not declared: add it to the variant's state (state.shared or "
                f"state.per_ctrl)")

    # -- points as branches ----------------------------------------------------------
    def branches(self, point: str, step: str, pre: dict):
        """The paths through `point`'s items: (successes, failures).

        A success is (guard, updates, checked, adopts); a failure is
        (guard, updates, Fail, check name). Guards are over the state before
        the step; updates compose in order.
        """
        items = self.v.points.get(point, ())
        paths = [(TRUE, dict(pre), False, False)]
        failures = []
        checks = [i for i in items if isinstance(i, Check)]
        for item in items:
            if isinstance(item, Check):
                name, cond = self.call(item.rule, step, "condition")
                when = None
                if item.when is not None:
                    _, when = self.call(item.when, step, "condition")
                nxt = []
                for guard, done, checked, adopts in paths:
                    c_now = subst(cond, _exprs(done), C)
                    if when is not None:
                        w_now = subst(when, _exprs(done), C)
                        nxt.append((conj(guard, ~w_now), done, checked, adopts))
                        passed, failed = conj(guard, w_now, c_now), conj(guard, w_now, ~c_now)
                    else:
                        passed, failed = conj(guard, c_now), conj(guard, ~c_now)
                    label = name if len(checks) > 1 else ""
                    failures.append((failed, done, item.fail, label))
                    passed_done, passed_adopts = done, adopts
                    if item.then is not None:
                        passed_done, passed_adopts = self._apply(item.then, step, done, adopts)
                    nxt.append((passed, passed_done, True, passed_adopts))
                paths = nxt
            else:
                paths = [(guard, *self._apply(item, step, done, adopts), checked)
                         for guard, done, checked, adopts in paths]
                paths = [(g, d, ch, a) for g, d, a, ch in paths]
        return paths, failures

    def _apply(self, ref, step: str, done: dict, adopts: bool):
        """`done` followed by the updates of rule `ref` (and whether they adopt)."""
        name, updates = self.call(ref, step, "updates")
        before = _exprs(done)
        done = dict(done)
        for var, value in updates:
            now = subst(value, before, C)
            adopts = adopts or bool(variables_of(value) & OBSERVED)
            done[var] = (now, name)
        return done, adopts

    # -- transitions -------------------------------------------------------------------
    def add(self, step, source, target, condition, updates: dict, decision, *, modes=(),
            branch="", kind=None):
        assigns = []
        # in declaration order, whatever order the step assigned them in
        order = {v: i for i, v in enumerate(self.order)}
        for var, (value, rule) in sorted(updates.items(), key=lambda kv: order.get(kv[0], 1e9)):
            per = var in self.var_per_ctrl
            assigns.append(Assign(var, value, rule, per))
        self.ts.append(Transition(step, source, target, lift(condition), tuple(assigns), decision,
                                  tuple(modes), kind, branch))

    def point(self, point: str, step: str, source: Phase, targets, pre: dict, *,
              modes=(), acquired=False, enabled: Expr = TRUE):
        """Transitions of one step at one point. `enabled`: when the step can
        be taken at all (the lock is free ...); `targets`: [(target, cond,
        post updates)] for the branches that pass."""
        paths, failures = self.branches(point, step, pre)
        checked_any = any(p[2] for p in paths)
        for guard, done, checked, adopts in paths:
            decision = (Decision.accept if checked else
                        Decision.adopt if adopts else Decision.none)
            unchecked = checked_any and not checked
            for target, cond, post in targets:
                updates = {**done, **{k: (v, r) for k, (v, r) in post.items()}}
                updates["phase"] = (lift(target), "")
                self.add(step, source, target, conj(enabled, guard, cond), updates, decision,
                         modes=modes, branch="unchecked" if unchecked else "")
        for guard, done, fail, label in failures:
            self.failure(step, source, conj(enabled, guard), done, fail, label, modes=modes,
                         acquired=acquired)

    def failure(self, step, source, guard, done, fail: Fail, label, *, modes=(), acquired=False):
        if fail.action == "wait":
            if step not in ("start", "reacquire", "begin_write"):
                raise ModelDefinitionError(
                    f"variant {self.v.name!r}, step {step}: a check may wait only where a step "
                    f"may block (start, reacquire, begin_write)")
            return  # no failure branch: the step is not enabled until the check holds
        updates = dict(done)
        if fail.updates is not None:
            _, extra = self.call(fail.updates, step, "updates")
            before = _exprs(updates)
            for var, value in extra:
                updates[var] = (subst(value, before, C), "fail")
        if fail.action == "continue-unlocked":
            if step != "begin_write":
                raise ModelDefinitionError(
                    f"variant {self.v.name!r}, step {step}: a failure may continue without the "
                    f"lock only where a section begins (begin_write, cleanup)")
            if acquired:  # `took` stays: finish_write still returns to `released`
                updates["holder"] = (NOBODY, "no-op lock")
            updates["phase"] = (lift(Phase.write_before), "")
            self.add(step, source, Phase.write_before, guard, updates, Decision.takeover,
                     modes=modes, branch=label or "no-op lock")
            return
        updates.update(_end_section())
        in_held_section = source in WRITE_PHASES or (step == "begin_write" and not acquired)
        if fail.keep_held_lock and in_held_section:
            keep = source is Phase.held or step == "begin_write"
            if not keep:  # inside a section: keep it only if the section reused the held lock
                updates["holder"] = (_give_back_if(S.took[C]), "takeover")
        else:
            updates["holder"] = (self.drop(acquired or source is Phase.held), "takeover")
        updates["phase"] = (lift(Phase.taken_over), "")
        self.add(step, source, Phase.taken_over, guard, updates, Decision.takeover,
                 modes=modes, branch=label)

    def drop(self, surely_ours: bool) -> Expr:
        """Give the lock back: to nobody, or (sections may run unlocked) only if ours."""
        if surely_ours or not self.unlocked:
            return NOBODY
        return _give_back_if(S.holder == C)


def _exprs(done: dict) -> dict:
    return {k: v[0] for k, v in done.items()}


def _give_back_if(cond: Expr) -> Expr:
    from sessionfence.model.expr import ite
    return ite(cond, NOBODY, S.holder)


def _end_section() -> dict:
    """Forget the finished write section, so that equal situations are equal states."""
    return {"mode": (lift(Mode.none), "end section"), "took": (lift(False), "end section"),
            "before": (lift(NO_FP), "end section"), "mine": (lift(NO_FP), "end section"),
            "landed": (lift(False), "end section")}


def _upd(d: dict, rule: str = "") -> dict:
    return {k: (lift(v), rule) for k, v in d.items()}


def build(variant: Variant, world: Optional[World] = None, *,
          atomic_writes: Optional[bool] = None) -> Machine:
    """The transitions of `variant` in `world`, with the shared lock and phase discipline."""
    world = world or World()
    if atomic_writes is not None:
        world = world.but(atomic_writes=atomic_writes)
    kinds = tuple(k for k in world.kinds if k in variant.kinds)
    if not kinds:
        raise ModelDefinitionError(
            f"variant {variant.name!r}: none of the external edits "
            f"{', '.join(k.label for k in world.kinds)} is in its world "
            f"({', '.join(Kind(k).label for k in variant.kinds)})")
    world = world.but(kinds=kinds)
    b = _Builder(variant, world)
    # The design's reads decide which world variables exist; a dry run over
    # every point collects them (rules are pure, so calling them twice is fine).
    b.var_per_ctrl = {v.name for v in S.MACHINE_VARS + S.GHOST_VARS if v.per_ctrl} | \
        {n for n, d in b.decls.items() if d.per_ctrl}
    for point in variant.points:
        b.branches(point, point.split(":")[0], {})
    layout = Layout.plan(world, b.reads)
    c = C
    lock_free = named("lock free", S.holder == NOBODY)
    take = {"holder": (C, "")}

    # start: take the lock (creating the transcript if there is none).
    pre = {**take, **_upd(layout.create_if_missing(), "create")}
    b.point("start", "start", Phase.idle, [(Phase.held, TRUE, {})], pre, acquired=True,
            enabled=lock_free)

    # release: the point (a check, a snapshot), then the lock goes.
    b.point("release", "release", Phase.held,
            [(Phase.released, TRUE, {"holder": (NOBODY, "")})], {})

    # reacquire: take the lock, then the point.
    b.point("reacquire", "reacquire", Phase.released, [(Phase.held, TRUE, {})],
            dict(take), acquired=True, enabled=lock_free)

    # begin_write(m): a section from released takes the lock; from held it reuses it.
    cleanup_own = "cleanup" in variant.points
    groups = [(WRITE_MODES, None)] if not cleanup_own else \
        [((Mode.publish, Mode.broad), None), ((Mode.cleanup,), "cleanup")]
    for modes, special in groups:
        for source, acquired in ((Phase.released, True), (Phase.held, False)):
            point = special or f"begin_write:{source.name}"
            pre = {"took": (lift(acquired), ""), "mode": (M, "")}
            if acquired:
                pre = {**take, **pre}
            b.point(point, "begin_write", source, [(Phase.write_before, TRUE, {})], pre,
                    modes=modes, acquired=acquired, enabled=lock_free if acquired else TRUE)

    # read_before: observe the file the write will extend, then the point.
    b.point("read_before", "read_before", Phase.write_before, [(Phase.write_append, TRUE, {})],
            {"before": (S.file, "")})

    # append: the owned write. `landed` records whether it extended exactly
    # the file read by read_before, as far as the fingerprint can tell.
    fresh = layout.owned_append(c)
    owned = {**_upd(fresh, ""), "mine": (fresh["file"], ""),
             "landed": (S.file == S.before[c], ""), "phase": (lift(Phase.write_after), "")}
    b.add("append", Phase.write_append, Phase.write_after, TRUE, owned, Decision.none)

    # finish_write: the point (validate, publish, in the declared order), then
    # the lock goes back if it was taken for this section or this is cleanup.
    is_cleanup = S.mode[c] == Mode.cleanup
    give_back = {"holder": (b.drop(False), "")}
    targets = [
        (Phase.held, conj(~is_cleanup, ~S.took[c]), _end_section()),
        (Phase.released, conj(~is_cleanup, S.took[c]), {**_end_section(), **give_back}),
        (Phase.done, is_cleanup, {**_end_section(), **give_back}),
    ]
    b.point("finish_write", "finish_write", Phase.write_after, targets, {})

    # dispose: the controller goes away without a check.
    b.add("dispose", Phase.idle, Phase.done, TRUE, {"phase": (lift(Phase.done), "")}, Decision.none)
    b.add("dispose", Phase.held, Phase.done, TRUE,
          {"holder": (NOBODY, ""), "phase": (lift(Phase.done), "")}, Decision.none)
    b.add("dispose", Phase.released, Phase.done, TRUE, {"phase": (lift(Phase.done), "")},
          Decision.none)
    if b.keeps_lock:  # a takeover that kept the lock gives it back here
        b.add("dispose", Phase.taken_over, Phase.done, TRUE,
              {"holder": (_give_back_if(S.holder == C), ""), "phase": (lift(Phase.done), "")},
              Decision.none)

    # external_write[k]: ignores the lock; the ghosts remember who was exposed.
    ext_guard = TRUE
    if world.atomic_writes:
        ext_guard = named("no write section open", forall(lambda d: ~writing(d)))
    ghosts = layout.ghost_updates(D, alive(D))
    for kind in world.kinds:
        guard, updates = layout.external(kind)
        assigns = tuple(Assign(k, v, "", False) for k, v in updates.items() if layout.has(k))
        assigns += tuple(AssignAll(k, D, v) for k, v in ghosts.items())
        b.ts.append(Transition("external_write", None, None, conj(ext_guard, guard), assigns,
                               Decision.none, kind=kind))

    machine_vars = S.MACHINE_VARS  # the same bookkeeping in every design: diffs compare rules
    design = tuple(b.decls.values())
    vars_ = machine_vars + layout.variables + design + layout.ghosts
    keep = {v.name for v in vars_}
    seen = layout.has_ghost("seen")
    transitions = []
    for t in b.ts:  # (world variables this machine does not have are not assigned)
        assigns = tuple(a for a in t.assigns if a.var in keep)
        if seen and t.source is not None and t.decision in (Decision.accept, Decision.adopt):
            # the content this controller now vouches for (the ABA reading)
            after = next((a.value for a in assigns if a.var == "content"), S.content)
            assigns += (Assign("seen", after, "", True),)
        transitions.append(Transition(t.step, t.source, t.target, t.condition, assigns,
                                      t.decision, t.modes, t.kind, t.branch))
    _check_unique(variant, transitions)
    return Machine(variant, world, tuple(transitions), vars_, layout)


def _check_unique(variant: Variant, transitions) -> None:
    seen = set()
    for t in transitions:
        if t.key in seen:
            raise ModelDefinitionError(f"variant {variant.name!r}: two branches of "
                                       f"{t.step} are both {t.key}")
        seen.add(t.key)


def alive(c: Expr) -> Expr:
    return named(f"alive({c.name})", S.phase[c].isin(ALIVE_PHASES))


def writing(c: Expr) -> Expr:
    return named(f"writing({c.name})", S.phase[c].isin(WRITE_PHASES))


__all__ = ["Assign", "AssignAll", "C", "D", "Decision", "M", "Machine", "ModelDefinitionError",
           "POINTS", "STEPS", "Transition", "alive", "build", "writing", "Lit"]
