"""Model runs as ITF traces, and back.

A trace file records, per state, the variables the variant uses (per-
controller ones as maps keyed "c1".."cN"), the decision of the step that led
there, and the Quint MBT fields `mbt::actionTaken` (the step name, "init"
first) and `mbt::nondetPicks` (`controller`, `mode` and the external edit's
`kind`, each Some/None). `#meta` records the world the trace was made in
(fingerprint mode, timestamps, external kinds, ABA reading, atomic writes).
The number of controllers is the parameter `N` (set in state 0) and
`#meta.controllers`; `#meta.varTypes` gives each variable's Apalache type.

Reading a trace gives back the step list; the model re-executes it
(`execute`), so a trace is always judged against the current model, and a
stale or hand-edited trace is caught where its recorded states disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from sessionfence.conformance import itf
from sessionfence.conformance.itf import NONE, ItfError, ItfMap, ItfTrace, ItfVariant, some
from sessionfence.model.check import Trace
from sessionfence.model.concrete import Executor, Instance, NotEnabled
from sessionfence.model.expr import KINDS, Kind, Mode
from sessionfence.model.machine import STEPS, Decision
from sessionfence.model.world import ABA_READINGS, FINGERPRINTS, TIMESTAMPS, World

ACTION = "mbt::actionTaken"
PICKS = "mbt::nondetPicks"
DECISION = "decision"
SOURCE = "sessionfence model"
PARAM_N = "N"  # the number of controllers, an ITF parameter (its value is in state 0)

# Apalache types (ADR-002 syntax, records and variants of Type System 1.2) of
# the values a state variable's sort is written as: enumerations by name.
SORT_TYPES = {"int": "Int", "fp": "Int", "bool": "Bool",
              "ctrl": "Str", "phase": "Str", "mode": "Str", "kind": "Str"}
OPTION_STR = "None(UNIT) | Some(Str)"
FIELD_TYPES = {
    DECISION: "Str",
    ACTION: "Str",
    PICKS: f"{{ controller: {OPTION_STR}, mode: {OPTION_STR}, kind: {OPTION_STR} }}",
}


def itf_type(sort: str, per_ctrl: bool) -> str:
    """The Apalache type of a state variable of `sort` as a trace writes it;
    per-controller variables are maps from "c1".."cN"."""
    try:
        base = SORT_TYPES[sort]
    except KeyError:
        raise ValueError(f"no ITF type for the state variable sort {sort!r}; "
                         "add it to model_traces.SORT_TYPES") from None
    return f"Str -> {base}" if per_ctrl else base


@dataclass(frozen=True)
class Step:
    """One step as a trace names it: `begin_write` by c2 in mode publish,
    `external_write` of kind `delete`."""

    step: str
    ctrl: Optional[int]
    mode: Optional[Mode] = None
    kind: Optional[Kind] = None

    def label(self) -> str:
        who = f"c{self.ctrl}" if self.ctrl else "X"
        pick = self.mode.name if self.mode is not None else \
            (self.kind.label if self.kind is not None else "")
        return f"{self.step}({pick}) {who}" if pick else f"{self.step} {who}"

    @classmethod
    def of(cls, inst: Instance) -> "Step":
        return cls(inst.step, inst.ctrl, inst.mode, inst.kind)


@dataclass
class TraceFile:
    source: str
    variant: str
    controllers: int
    world: World
    steps: list
    states: list  # decoded ITF states, for cross-checking against the model
    meta: dict = field(default_factory=dict)

    @property
    def atomic_writes(self) -> bool:
        return self.world.atomic_writes


def state_values(ex: Executor, s: tuple, used: list) -> dict:
    d = ex.decode(s)
    out = {}
    for name in used:
        value = d[name]
        out[name] = ItfMap(value) if ex.layout.decl[name].per_ctrl else value
    return out


def world_meta(world: World) -> dict:
    return {"fingerprint": world.fingerprint, "timestamps": world.timestamps,
            "external": [k.label for k in world.kinds], "aba": world.aba,
            "atomic_writes": world.atomic_writes}


def to_itf(ex: Executor, trace: Trace, *, covers: str, status: str = "ok",
           seed: Optional[int] = None, description: str = "",
           extra_meta: Optional[dict] = None) -> ItfTrace:
    variant = ex.machine.variant
    used = ex.machine.variables_used()
    states = []
    for i, s in enumerate(trace.states):
        values = state_values(ex, s, used)
        if i == 0:
            values[DECISION] = "init"
            values[ACTION] = "init"
            values[PICKS] = {"controller": NONE, "mode": NONE, "kind": NONE}
        else:
            inst: Instance = trace.steps[i - 1]
            values[DECISION] = inst.transition.decision.value
            values[ACTION] = inst.step
            values[PICKS] = {
                "controller": some(f"c{inst.ctrl}") if inst.ctrl else NONE,
                "mode": some(inst.mode.name) if inst.mode is not None else NONE,
                "kind": some(inst.kind.label) if inst.kind is not None else NONE,
            }
        states.append(values)
    if states:
        states[0] = {PARAM_N: ex.n, **states[0]}
    names = used + [DECISION, ACTION, PICKS]
    meta = {
        "format": "ITF",
        "format-description": itf.FORMAT_DESCRIPTION,
        "source": SOURCE,
        "description": description or f"{variant.name}: {covers}",
        "variant": variant.name,
        "controllers": ex.n,
        **world_meta(ex.machine.world),
        "covers": covers,
        "status": status,
        "varTypes": var_types(ex, names),
    }
    if seed is not None:
        meta["seed"] = seed
    for key, value in (extra_meta or {}).items():
        meta.setdefault(key, value)  # never overrides the keys above
    return ItfTrace(meta, names, states, [PARAM_N])


def var_types(ex: Executor, names: list) -> dict:
    """`#meta.varTypes`: every name in `vars` (Apalache requires exactly these)."""
    out = {}
    for name in names:
        if name in FIELD_TYPES:
            out[name] = FIELD_TYPES[name]
        else:
            v = ex.layout.decl[name]
            out[name] = itf_type(v.sort, v.per_ctrl)
    return out


def from_itf(trace: ItfTrace, source: str) -> TraceFile:
    """The step list of an ITF trace written by `to_itf` (or by hand)."""
    meta = trace.meta
    variant = meta.get("variant")
    if not isinstance(variant, str):
        raise ItfError(f"{source}: #meta.variant (the model variant) is missing")
    if not trace.states:
        raise ItfError(f"{source}: the trace has no states")
    n = _controllers(trace, source)
    steps = []
    for i, state in enumerate(trace.states[1:], 1):
        where = f"{source}: states[{i}]"
        action = state.get(ACTION)
        if action not in STEPS:
            raise ItfError(f"{where}: unknown step {action!r} in {ACTION}; "
                           f"steps are {', '.join(STEPS)}")
        picks = state.get(PICKS, {})
        if not isinstance(picks, dict):
            raise ItfError(f"{where}: {PICKS} must be a record")
        ctrl = _pick_controller(picks.get("controller", NONE), n, where)
        mode = _pick_mode(picks.get("mode", NONE), where)
        kind = _pick_kind(picks.get("kind", NONE), where)
        if (action == "external_write") != (ctrl is None):
            raise ItfError(f"{where}: {action} " + ("takes no controller" if ctrl else "needs a controller"))
        if (action == "begin_write") != (mode is not None):
            raise ItfError(f"{where}: {action} " + ("needs a mode" if mode is None else "takes no mode"))
        if action == "external_write" and kind is None:
            kind = Kind.append  # a trace from before edits had kinds: the brief's one edit
        if action != "external_write" and kind is not None:
            raise ItfError(f"{where}: {action} takes no kind")
        steps.append(Step(action, ctrl, mode, kind))
    return TraceFile(source, variant, n, _world(meta, source), steps, trace.states, dict(meta))


def _world(meta: dict, source: str) -> World:
    """The world recorded in #meta (defaults: the world of a trace written
    before worlds were recorded)."""
    def pick(key, allowed, default):
        value = meta.get(key, default)
        if value not in allowed:
            raise ItfError(f"{source}: #meta.{key} must be one of {', '.join(allowed)}, "
                           f"got {value!r}")
        return value

    external = meta.get("external")
    if external is None:
        kinds = KINDS
    elif isinstance(external, list) and external and all(isinstance(k, str) for k in external):
        try:
            kinds = tuple(Kind.parse(k) for k in external)
        except ValueError as exc:
            raise ItfError(f"{source}: #meta.external: {exc}") from None
    else:
        raise ItfError(f"{source}: #meta.external must be a list of kinds of external edit")
    atomic = meta.get("atomic_writes", False)
    if not isinstance(atomic, bool):
        raise ItfError(f"{source}: #meta.atomic_writes must be true or false")
    return World(kinds=kinds, fingerprint=pick("fingerprint", FINGERPRINTS, "digest"),
                 timestamps=pick("timestamps", TIMESTAMPS, "coarse"),
                 aba=pick("aba", ABA_READINGS, "content"), atomic_writes=atomic)


def _controllers(trace: ItfTrace, source: str) -> int:
    """The number of controllers: the parameter N (state 0), #meta.controllers, or both."""
    found = {}
    if "controllers" in trace.meta:
        found["#meta.controllers"] = trace.meta["controllers"]
    if PARAM_N in trace.params:
        if PARAM_N not in trace.states[0]:
            raise ItfError(f"{source}: parameter {PARAM_N} is listed in 'params' but has no "
                           "value in states[0]")
        found[f"parameter {PARAM_N}"] = trace.states[0][PARAM_N]
    if not found:
        raise ItfError(f"{source}: the number of controllers is missing (#meta.controllers "
                       f"or the parameter {PARAM_N})")
    for where, n in found.items():
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 6:
            raise ItfError(f"{source}: {where} must be a number from 1 to 6, got {n!r}")
    if len(set(found.values())) > 1:
        raise ItfError(f"{source}: " + " and ".join(f"{k} = {v}" for k, v in found.items())
                       + " disagree")
    return next(iter(found.values()))


def _unwrap(value, where: str, what: str):
    if isinstance(value, ItfVariant):
        if value.tag == "None":
            return None
        if value.tag == "Some":
            return value.value
        raise ItfError(f"{where}: {what} must be Some(...) or None, got tag {value.tag!r}")
    return value  # tolerate a bare value


def _pick_controller(value, n: int, where: str) -> Optional[int]:
    value = _unwrap(value, where, "controller")
    if value is None:
        return None
    if not (isinstance(value, str) and value[:1] == "c" and value[1:].isdigit()
            and 1 <= int(value[1:]) <= n):
        raise ItfError(f"{where}: controller must be one of c1..c{n}, got {value!r}")
    return int(value[1:])


def _pick_kind(value, where: str) -> Optional[Kind]:
    value = _unwrap(value, where, "kind")
    if value is None:
        return None
    try:
        return Kind.parse(value) if isinstance(value, str) else Kind.parse(repr(value))
    except ValueError as exc:
        raise ItfError(f"{where}: {exc}") from None


def _pick_mode(value, where: str) -> Optional[Mode]:
    value = _unwrap(value, where, "mode")
    if value is None:
        return None
    if value not in ("publish", "broad", "cleanup"):
        raise ItfError(f"{where}: mode must be publish, broad or cleanup, got {value!r}")
    return Mode[value]


class StaleTrace(Exception):
    """The trace cannot be executed by the current model, or disagrees with it."""


def execute(ex: Executor, tf: TraceFile, *, compare_states: bool = True) -> Trace:
    """Re-execute a trace file's steps in the model; the model's own run."""
    s = ex.initial()
    states, steps = [s], []
    used = ex.machine.variables_used()
    for i, step in enumerate(tf.steps, 1):
        try:
            inst, s = ex.step(s, step.step, step.ctrl, step.mode, step.kind)
        except NotEnabled as exc:
            raise StaleTrace(f"{tf.source}: step {i} ({step.label()}): {exc}") from None
        steps.append(inst)
        states.append(s)
        if compare_states and i < len(tf.states):
            recorded = {k: v for k, v in tf.states[i].items() if k in used}
            mine = state_values(ex, s, used)
            diff = sorted(k for k in recorded if recorded[k] != mine.get(k))
            if diff:
                raise StaleTrace(f"{tf.source}: step {i} ({step.label()}): the recorded state "
                                 f"differs from the model's in {', '.join(diff)}")
    return Trace(steps, states)


def write(ex: Executor, trace: Trace, path: str, **kwargs) -> None:
    itf.dump(to_itf(ex, trace, **kwargs), path)


def read(path: str) -> TraceFile:
    return from_itf(itf.load(path), path)


__all__ = ["Decision", "Step", "StaleTrace", "TraceFile", "execute", "from_itf", "itf_type",
           "read", "to_itf", "var_types", "write"]
