"""Validate an implementation's event log (docs/event-log.md) against a model variant.

    events = read_log("fence-events.jsonl")
    result = check(events, variants.get("reference"))

The log says what each controller did (step, outcome, phase after, the
decision, the fingerprint the step observed, the lock holder); it cannot
say what an external writer did. So the checker keeps every model run that
explains the log so far (*candidates*: a model state plus the pairing of
the model's fingerprint ids with the log's fingerprints, both ways, as a
replay does), and infers external writes only where needed: before an
event, it first tries to explain it with no new external write, then with
one, then with two (any kind the model's world has). The first event no
candidate explains is reported, with what the model would have done.

Every takeover is then judged: it is *explained* if some explanation of the
log has an external write while that controller was alive (`ext_alive`);
otherwise it is a false takeover (`precision`): nothing in any explanation
of the log could have been detected.

In digest mode fingerprints are compared by their digest alone (a file's
bytes, whatever its timestamps); in stat mode by the whole token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import product
from typing import Optional

from sessionfence.model.concrete import Executor, NotEnabled
from sessionfence.model.expr import Mode
from sessionfence.model.machine import Decision, build
from sessionfence.model.world import World

STEPS = ("start", "release", "reacquire", "begin_write", "read_before", "append",
         "finish_write", "dispose")
OUTCOMES = ("ok", "takeover", "error")
CAP = 300  # candidates kept per event (fewest inferred writes first)
MAX_INFERRED = 2  # external writes inferred before one event


class BadLog(ValueError):
    """A log that cannot be read: the message names file and line."""


@dataclass(frozen=True)
class Event:
    line: int
    controller: str
    step: str
    mode: Optional[str]
    phase: str
    outcome: str
    decision: str
    fingerprint: Optional[str]
    holder: str
    transcript: str = ""
    fingerprint_mode: str = "stat"

    def label(self) -> str:
        mode = f"({self.mode})" if self.step == "begin_write" and self.mode else ""
        return f"{self.step}{mode} {self.controller}"


def read_log(path: str) -> list:
    out = []
    try:
        fh = open(path, encoding="utf-8")
    except OSError as exc:
        raise BadLog(f"{path}: cannot read it ({exc.strerror})") from None
    with fh:
        for n, text in enumerate(fh, 1):
            if not text.strip():
                continue
            where = f"{path}:{n}"
            try:
                d = json.loads(text)
            except json.JSONDecodeError as exc:
                raise BadLog(f"{where}: not a JSON line ({exc.msg}); is this an event log "
                             "(docs/event-log.md)?") from None
            if not isinstance(d, dict):
                raise BadLog(f"{where}: an event is a JSON object")
            for key in ("controller", "step", "phase", "outcome", "decision"):
                if not isinstance(d.get(key), str):
                    raise BadLog(f"{where}: field {key!r} is missing or not a string")
            if d["step"] not in STEPS:
                raise BadLog(f"{where}: unknown step {d['step']!r}; steps are {', '.join(STEPS)}")
            if d["outcome"] not in OUTCOMES:
                raise BadLog(f"{where}: unknown outcome {d['outcome']!r}; outcomes are "
                             f"{', '.join(OUTCOMES)}")
            out.append(Event(n, d["controller"], d["step"], d.get("mode"), d["phase"],
                             d["outcome"], d["decision"], d.get("fingerprint"),
                             str(d.get("holder", "")), str(d.get("transcript", "")),
                             str(d.get("fingerprint_mode", "stat"))))
    if not out:
        raise BadLog(f"{path}: the log holds no events")
    return out


@dataclass
class Takeover:
    event: int  # 1-based index among the events
    line: int
    label: str
    explained: bool
    by: Optional[int]  # the event before which the explaining write was inferred


@dataclass
class LogResult:
    variant: str
    events: int
    controllers: list
    fingerprint_mode: str
    checked: int = 0  # events the model explained
    errors: int = 0  # events with outcome error (not model steps; skipped)
    unexplained: Optional[Event] = None
    unexplained_index: int = 0
    reason: str = ""
    inferred: list = field(default_factory=list)  # [(before event index, kind)] of one explanation
    takeovers: list = field(default_factory=list)  # [Takeover]

    @property
    def false_takeovers(self) -> list:
        return [t for t in self.takeovers if not t.explained]


@dataclass(frozen=True)
class _Cand:
    state: tuple
    bij: tuple  # sorted ((model file id, token), ...)
    inferred: tuple  # ((before event index, kind label), ...)


def _token(ev: Event) -> Optional[str]:
    if ev.fingerprint is None or ev.step == "append":
        return None
    if ev.fingerprint_mode == "digest" and ev.fingerprint != "missing":
        return ev.fingerprint.rsplit(":", 1)[-1]
    return ev.fingerprint


def world_for(mode: str) -> World:
    return World() if mode == "digest" else World(fingerprint="stat", timestamps="multigrain")


class _Checker:
    def __init__(self, ex: Executor, names: dict):
        self.ex, self.names = ex, names
        self.kinds = ex.machine.world.kinds

    def bind(self, bij: tuple, fid, token: Optional[str]) -> Optional[tuple]:
        if token is None:
            return bij
        d = dict(bij)
        if fid in d:
            return bij if d[fid] == token else None
        if token in d.values():
            return None
        d[fid] = token
        return tuple(sorted(d.items()))

    def fire(self, cand: _Cand, ev: Event, ctrl: int) -> tuple:
        """(new candidate or None, why not)."""
        ex = self.ex
        mode = Mode[ev.mode] if ev.step == "begin_write" and ev.mode in Mode.__members__ else None
        try:
            inst, after = ex.step(cand.state, ev.step, ctrl, mode)
        except NotEnabled:
            phase = ex.phase(cand.state, ctrl).name
            holder = ex.decode(cand.state)["holder"]
            return None, (f"the model cannot take {ev.label()} there ({ev.controller} is "
                          f"{phase}, lock holder {holder})")
        t = inst.transition
        outcome = "takeover" if t.decision is Decision.takeover else "ok"
        if outcome != ev.outcome or t.target.name != ev.phase:
            return None, (f"the model's {ev.label()} there is {t.key} ({outcome}); the log "
                          f"says {ev.outcome}, phase {ev.phase}")
        if t.decision.value != ev.decision:
            return None, (f"the model's {ev.label()} there decides {t.decision.value}; the "
                          f"log says {ev.decision}")
        holder = ex.decode(after)["holder"]
        model_holder = self.names.get(holder, holder)
        if ev.holder and not (ev.holder == model_holder or
                              (ev.holder == "other" and holder not in ("none", f"c{ctrl}"))):
            return None, (f"after {ev.label()} the model's lock holder is {model_holder}; the "
                          f"log says {ev.holder}")
        bij = self.bind(cand.bij, ex.get(after, "file"), _token(ev))
        if bij is None:
            return None, (f"the fingerprint {ev.label()} observed does not fit the model's "
                          "file there (a change the model does not make, or none where it "
                          "makes one)")
        return _Cand(after, bij, cand.inferred), ""

    def writes(self, cand: _Cand, count: int, index: int):
        """Candidates with `count` inferred external writes before event `index`."""
        if count == 0:
            yield cand
            return
        for kinds in product(self.kinds, repeat=count):
            s, ok = cand.state, True
            for k in kinds:
                try:
                    _, s = self.ex.step(s, "external_write", None, None, k)
                except NotEnabled:
                    ok = False
                    break
            if ok:
                yield _Cand(s, cand.bij, cand.inferred + tuple((index, k.label) for k in kinds))


def check(events: list, variant) -> LogResult:
    mode = events[0].fingerprint_mode
    order = list(dict.fromkeys(e.controller for e in events))
    ctrl_of = {name: i for i, name in enumerate(order, 1)}
    ex = Executor(build(variant, world_for(mode)), len(order))
    names = {f"c{i}": name for name, i in ctrl_of.items()}
    names["none"] = "none"
    checker = _Checker(ex, names)
    res = LogResult(variant.name, len(events), order, mode)
    cands = [_Cand(ex.initial(), (), ())]
    for index, ev in enumerate(events, 1):
        if ev.outcome == "error":
            res.errors += 1
            continue
        ctrl = ctrl_of[ev.controller]
        nxt, why, before = [], "", []
        for count in range(MAX_INFERRED + 1):
            seen: set = set()
            for cand in cands:
                for pre in checker.writes(cand, count, index):
                    new, reason = checker.fire(pre, ev, ctrl)
                    if new is None:
                        why = why or reason
                        continue
                    key = (new.state, new.bij)
                    if key not in seen:
                        seen.add(key)
                        nxt.append(new)
                        before.append(pre)
            if nxt:
                break
        if not nxt:
            res.unexplained, res.unexplained_index = ev, index
            res.reason = why or "no run of the model reaches this event"
            return res
        if ev.outcome == "takeover":
            alive = [p for p in before if ex.get(p.state, "ext_alive", ctrl)]
            by = None
            if alive:
                by = max((i for i, _ in alive[0].inferred), default=None)
            res.takeovers.append(Takeover(index, ev.line, ev.label(), bool(alive), by))
        nxt_sorted = sorted(zip(nxt, before), key=lambda cb: len(cb[0].inferred))[:CAP]
        cands = [c for c, _ in nxt_sorted]
        res.checked += 1
    res.inferred = list(min(cands, key=lambda c: len(c.inferred)).inferred)
    return res


__all__ = ["BadLog", "Event", "LogResult", "Takeover", "check", "read_log"]
