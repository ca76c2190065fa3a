"""The shared fence machine: steps, their guards and effects, built once.

A variant supplies only its *fence rules* (`variants.Variant`): how a
controller initialises its fence, what a check accepts, what it records at
release and what a finished write publishes. `build` turns those rules plus
the shared lock/phase discipline below into the list of `Transition`s that
every back-end (Z3, simulation, traces, diagrams) reads.

One `Transition` is one branch of one step: `reacquire` has an accepting and a
taking-over transition, distinguished by the check. Branches of a step are
mutually exclusive (a test asks Z3 to confirm), so a step instance
`(step, controller, mode)` fires at most one transition: the model is
deterministic once the step is chosen.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from sessionfence.model import state as S
from sessionfence.model.expr import (
    ALIVE_PHASES,
    NO_FP,
    NOBODY,
    TRUE,
    WRITE_PHASES,
    Expr,
    Mode,
    Param,
    Phase,
    conj,
    forall,
    lift,
    named,
    variables_of,
)

if TYPE_CHECKING:
    from sessionfence.model.variants import Variant

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


class Decision(enum.Enum):
    """What a transition decides about the file, for the properties."""

    none = "none"
    accept = "accept"  # passes a fence check
    adopt = "adopt"  # records the current file as its own without a check
    takeover = "takeover"  # fails closed


@dataclass(frozen=True)
class Assign:
    """`var := value`; per-controller vars are assigned at the acting `c`.

    `rule` names the fence rule (or shared bookkeeping) it comes from, so a
    short label can say `on_accept` instead of every assignment.
    """

    var: str
    value: Expr
    rule: str = ""


@dataclass(frozen=True)
class AssignAll:
    """`var[d] := body(d)` for every controller d (the external writer's ghosts)."""

    var: str
    param: Param
    body: Expr


@dataclass(frozen=True, eq=False)
class Transition:
    step: str
    source: Phase | None  # acting controller's phase before (None: external_write)
    target: Phase | None
    condition: Expr  # the guard beyond `phase[c] = source`
    assigns: tuple
    decision: Decision
    has_mode: bool = False  # begin_write picks a mode m

    @property
    def key(self) -> str:
        if self.source is None:
            return self.step
        return f"{self.step}:{self.source.name}->{self.target.name}"

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
    variant: "Variant"
    atomic_writes: bool
    transitions: tuple[Transition, ...]

    def variables_used(self) -> list[str]:
        """State variables this variant reads or writes, in declaration order."""
        used: set[str] = set()
        for t in self.transitions:
            used |= variables_of(t.guard)
            for a in t.assigns:
                used.add(a.var)
                used |= variables_of(a.body if isinstance(a, AssignAll) else a.value)
        return [v.name for v in S.STATE_VARS if v.name in used]


# Variables a fence rule may touch: the design's own data, never the lock,
# the phase, the file or the ghosts (those belong to the shared machine).
RULE_WRITABLE = frozenset(
    {"reg_epoch", "reg_gen", "reg_fp", "next_epoch", "trusted", "fence", "k_epoch", "k_gen"}
)


class ModelDefinitionError(ValueError):
    """A variant's rules do not fit the shared machine."""


def _rule_updates(variant_name: str, rule: str, updates: Mapping[str, object]) -> list[Assign]:
    out = []
    for var, value in updates.items():
        if var not in S.BY_NAME:
            raise ModelDefinitionError(
                f"variant {variant_name!r}: rule {rule!r} assigns unknown variable {var!r}; "
                f"known: {', '.join(sorted(RULE_WRITABLE))}"
            )
        if var not in RULE_WRITABLE:
            raise ModelDefinitionError(
                f"variant {variant_name!r}: rule {rule!r} may not assign {var!r} "
                f"(the shared machine owns it); a fence rule may assign "
                f"{', '.join(sorted(RULE_WRITABLE))}"
            )
        out.append(Assign(var, lift(value), rule))
    return out


def _merge(*groups) -> tuple:
    seen: dict[str, object] = {}
    for group in groups:
        for a in group:
            if a.var in seen:
                raise ModelDefinitionError(f"variable {a.var!r} is assigned twice in one step")
            seen[a.var] = a
    return tuple(seen.values())


def _phase_to(p: Phase) -> list[Assign]:
    return [Assign("phase", lift(p))]


# Forget the finished write section, so that equal situations are equal states.
_END_WRITE = [
    Assign("mode", lift(Mode.none), "end section"),
    Assign("took", lift(False), "end section"),
    Assign("before", lift(NO_FP), "end section"),
    Assign("mine", lift(NO_FP), "end section"),
    Assign("landed", lift(False), "end section"),
]


def build(variant: "Variant", *, atomic_writes: bool = False) -> Machine:
    """The transitions of `variant`, with the shared lock and phase discipline."""
    v = variant
    c = C
    rules = lambda name, upd: _rule_updates(v.name, name, upd)  # noqa: E731

    lock_free = named("lock free", S.holder == NOBODY)
    check = named("check", v.check(c))
    on_accept = rules("on_accept", v.on_accept(c))
    take_lock = [Assign("holder", c)]
    drop_lock = [Assign("holder", NOBODY)]
    ts: list[Transition] = []

    def add(step, source, target, condition, assigns, decision, has_mode=False):
        assigns = _merge(_phase_to(target), assigns)
        ts.append(Transition(step, source, target, lift(condition), assigns, decision, has_mode))

    def takeover(step, source, condition):
        # Every takeover ends any write section (so equal situations are equal
        # states); begin_write is called with its mode whichever way the check goes.
        add(step, source, Phase.taken_over, condition, [*drop_lock, *_END_WRITE],
            Decision.takeover, has_mode=step == "begin_write")

    # start: acquire, then the variant initialises its fence data.
    add("start", Phase.idle, Phase.held, lock_free,
        [*take_lock, *rules("start", v.start(c))], Decision.adopt)

    # release: (check,) snapshot, drop the lock for the prompt.
    snapshot = rules("on_release", v.on_release(c))
    if v.check_at_release:
        add("release", Phase.held, Phase.released, check,
            _merge(drop_lock, on_accept, snapshot), Decision.accept)
        takeover("release", Phase.held, ~check)
    else:
        add("release", Phase.held, Phase.released, TRUE, [*drop_lock, *snapshot], Decision.adopt)

    # reacquire: acquire, check.
    add("reacquire", Phase.released, Phase.held, conj(lock_free, check),
        [*take_lock, *on_accept], Decision.accept)
    takeover("reacquire", Phase.released, conj(lock_free, ~check))

    # begin_write from released: acquire for this write section, check.
    start_write = [Assign("mode", M)]
    add("begin_write", Phase.released, Phase.write_before, conj(lock_free, check),
        [*take_lock, Assign("took", lift(True)), *start_write, *on_accept],
        Decision.accept, has_mode=True)
    takeover("begin_write", Phase.released, conj(lock_free, ~check))

    # begin_write from held: the lock is already ours.
    if v.check_when_held:
        add("begin_write", Phase.held, Phase.write_before, check,
            [*start_write, *on_accept], Decision.accept, has_mode=True)
        takeover("begin_write", Phase.held, ~check)
    else:
        add("begin_write", Phase.held, Phase.write_before, TRUE, start_write,
            Decision.none, has_mode=True)

    # read_before: stat the file the write will extend.
    read = [Assign("before", S.file)]
    if v.before_ok is not None:
        before_ok = named("before ok", v.before_ok(c))
        add("read_before", Phase.write_before, Phase.write_append, before_ok, read, Decision.accept)
        takeover("read_before", Phase.write_before, ~before_ok)
    else:
        add("read_before", Phase.write_before, Phase.write_append, TRUE, read, Decision.none)

    # append: the owned write. `landed` records whether it extended exactly
    # the file read by read_before: a physical fact the implementation learns
    # from size arithmetic and (in digest mode) the content digest.
    add("append", Phase.write_append, Phase.write_after, TRUE,
        [Assign("file", S.file + 1), Assign("mine", S.file + 1),
         Assign("landed", S.file == S.before[c])], Decision.none)

    # finish_write: validate (if the design does), publish or refresh, and
    # give the lock back if it was taken for this section or this is cleanup.
    write_ok = named("write ok", v.write_ok(c)) if v.write_ok is not None else TRUE
    finish = rules("on_finish", v.on_finish(c))
    is_cleanup = S.mode[c] == Mode.cleanup
    branches = (
        (Phase.held, conj(~is_cleanup, ~S.took[c])),
        (Phase.released, conj(~is_cleanup, S.took[c])),
        (Phase.done, is_cleanup),
    )
    for target, branch in branches:
        release_lock = drop_lock if target is not Phase.held else []
        add("finish_write", Phase.write_after, target, conj(write_ok, branch),
            [*finish, *_END_WRITE, *release_lock], Decision.adopt)
    if v.write_ok is not None:
        takeover("finish_write", Phase.write_after, ~write_ok)

    # dispose: the controller goes away without a check.
    add("dispose", Phase.idle, Phase.done, TRUE, [], Decision.none)
    add("dispose", Phase.held, Phase.done, TRUE, drop_lock, Decision.none)
    add("dispose", Phase.released, Phase.done, TRUE, [], Decision.none)

    # external_write: ignores the lock; the ghosts remember who was exposed.
    d = D
    ext_guard = TRUE
    if atomic_writes:
        ext_guard = named("no write section open",
                          forall(lambda d: ~writing(d)))
    ts.append(Transition(
        "external_write", None, None, ext_guard,
        (Assign("file", S.file + 1),
         AssignAll("ext_released", d, S.ext_released[d] | (S.phase[d] == Phase.released)),
         AssignAll("ext_alive", d, S.ext_alive[d] | alive(d))),
        Decision.none))
    return Machine(variant, atomic_writes, tuple(ts))


def alive(c: Expr) -> Expr:
    return named(f"alive({c.name})", S.phase[c].isin(ALIVE_PHASES))


def writing(c: Expr) -> Expr:
    return named(f"writing({c.name})", S.phase[c].isin(WRITE_PHASES))
