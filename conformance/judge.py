"""Property verdicts on the implementation, from what a replay observes.

The model's properties (`released-safety`, `safety`, `precision`) are about
ghosts: which external write hit a controller while it was released or
alive, and the content it last accepted or adopted. `Judge` keeps the same
ghosts for the *implementation*, from what the runner did itself (its
external writes, with their kinds) and what the implementation reported
(each step's outcome and the phases before and after it), and reads the
real bytes of the transcript when a controller accepts or adopts. So the
verdict is about what the implementation did, whatever the model says: an
implementation that leaves the model's path may still be safe, or not.

What a step decides is read from the step, its observed outcome and the
controller's phase before and after it (`decision_table`):

* a policy named like a variant (built-in or from a variant file) decides
  what that design's transitions with the same step, source and target
  phase decide (the reference checks at release and `read_before`, the
  others snapshot at release; unambiguous for every built-in design);
* any other policy gets the generic table: `reacquire` and `begin_write`
  that succeed accept, `start` and `finish_write` that succeed adopt,
  `release`, `read_before`, `append` and `dispose` decide nothing, a
  takeover takes over. A design that snapshots at release is then caught
  at its next check, which accepts what it snapshot.

Undone edits (`--aba content`, the default reading): accepting a file
byte-identical to the one the controller last accepted or adopted is no
violation. A controller's own append onto exactly those bytes extends them
(it continues from where it was: the bytes after it are the ones it
vouches for), so a write section whose file was edited and restored to the
same bytes before its append does not count either. With `aba="history"`
any accept after an external edit is one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Optional

from sessionfence.model.expr import ALIVE_PHASES
from sessionfence.model.machine import build
from sessionfence.model.world import World

ALIVE = frozenset(p.name for p in ALIVE_PHASES)
MISSING = "missing"

GENERIC = {"start": "adopt", "reacquire": "accept", "begin_write": "accept",
           "finish_write": "adopt"}


@dataclass(frozen=True)
class ImplViolation:
    """An implementation property violated at a step (whatever the model says)."""

    property: str
    step: int
    controller: str
    external_step: Optional[int]  # the external write it concerns, if any
    detail: str = ""


_TABLES: dict = {}


def decision_table(policy: str, variants: Optional[dict]) -> Optional[dict]:
    """{(step, source phase, target phase): decision} of the design named
    `policy`, or None (generic) if no variant has that name."""
    variant = (variants or {}).get(policy)
    if variant is None:
        return None
    key = id(variant)
    if key not in _TABLES:
        table: dict = {}
        for t in build(variant, World()).transitions:
            if t.step == "external_write" or t.source is None:
                continue
            table.setdefault((t.step, t.source.name, t.target.name), set()).add(t.decision.value)
        # An ambiguous branch (a check guarded by `when=`) counts as the
        # stronger decision: an accept is judged by every property.
        order = ("accept", "adopt", "takeover", "none")
        _TABLES[key] = (variant, {k: min(v, key=order.index) for k, v in table.items()})
    return _TABLES[key][1]


def object_table(policy) -> dict:
    """The decision table of an in-process Policy object, from its own check
    points (a policy that subclasses a design but drops a check decides
    what it does, not what the design it is named after does)."""
    from sessionfence.impl._event_log import decision

    from sessionfence.model.variants import BUILTIN

    keys = decision_table("reference", BUILTIN)
    return {(step, source, target): decision(policy, step, source,
                                             "takeover" if target == "taken_over" else "ok")
            for (step, source, target) in keys}


def content_id(path: str) -> str:
    """The transcript's bytes as a digest ('missing' if there is none).

    Read with os.open/os.read, never stat: a stat after a write changes
    which later rewrites get a fresh fine-grained timestamp (Linux 6.13+),
    and the judge must not change what the implementation can see."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return MISSING
    h = hashlib.sha256()
    try:
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            h.update(chunk)
    finally:
        os.close(fd)
    return h.hexdigest()


class Judge:
    """The ghosts of one replay, kept from the implementation's side."""

    def __init__(self, path: str, controllers: int, table: Optional[dict] = None,
                 aba: str = "content"):
        self.path = path
        self.table = table
        self.aba = aba
        names = [f"c{i}" for i in range(1, controllers + 1)]
        self.released: dict = {c: [] for c in names}  # [(step, kind)] while released
        self.alive: dict = {c: [] for c in names}  # [(step, kind, phase)] while alive
        self.seen: dict = {c: None for c in names}
        self.decided_at: dict = {c: 0 for c in names}
        self.violations: list = []
        self._reported: set = set()
        self._before_append: dict = {}

    def before(self, op: str, ctrl: int) -> None:
        """Call before performing controller step `op` (an append needs the
        bytes it lands on)."""
        if op == "append" and self.aba == "content":
            self._before_append[f"c{ctrl}"] = content_id(self.path)

    def external(self, number: int, kind: str, phases: dict) -> None:
        """The runner's external write `number` of `kind`; `phases`: the
        implementation's phases just before it."""
        for c, phase in phases.items():
            if phase == "released":
                self.released.setdefault(c, []).append((number, kind))
            if phase in ALIVE:
                self.alive.setdefault(c, []).append((number, kind, phase))

    def decision(self, op: str, source: str, outcome: str, target: str) -> str:
        if outcome == "takeover":
            return "takeover"
        if outcome != "ok":
            return "none"
        if self.table is not None:
            found = self.table.get((op, source, target))
            if found is not None:
                return found
        return GENERIC.get(op, "none")

    def step(self, number: int, op: str, ctrl: int, source: str, outcome: str,
             target: str) -> list:
        """Judge controller step `number`; returns the new violations."""
        c = f"c{ctrl}"
        decision = self.decision(op, source, outcome, target)
        found = []
        landed_on = self._before_append.pop(c, None)
        if op == "append" and outcome == "ok" and landed_on is not None \
                and landed_on == self.seen.get(c):
            self.seen[c] = content_id(self.path)
        if decision == "takeover":
            if not self.alive.get(c):
                found.append(ImplViolation(
                    "precision", number, c, None,
                    f"the implementation violated precision at step {number} ({c} took over "
                    f"although no external write happened while {c} was alive)"))
        elif decision in ("accept", "adopt"):
            content = content_id(self.path)
            changed = self.aba == "history" or content != self.seen.get(c)
            verb = "accepted" if decision == "accept" else "adopted"
            if decision == "accept" and changed and self.released.get(c):
                number_, kind = self._responsible(c, self.released[c])[:2]
                found.append(ImplViolation(
                    "released-safety", number, c, number_,
                    f"the implementation violated released-safety at step {number} ({c} "
                    f"{verb} a file containing the external {kind} of step {number_}, made "
                    f"while {c} was released)"))
            if changed and self.alive.get(c):
                number_, kind, phase = self._responsible(c, self.alive[c])
                found.append(ImplViolation(
                    "safety", number, c, number_,
                    f"the implementation violated safety at step {number} ({c} {verb} a file "
                    f"containing the external {kind} of step {number_}, made while {c} was "
                    f"alive ({phase}))"))
            self.seen[c] = content
            self.decided_at[c] = number
        new = [v for v in found if (v.property, v.controller) not in self._reported]
        self._reported.update((v.property, v.controller) for v in new)
        self.violations += new
        return new

    def _responsible(self, c: str, hits: list) -> tuple:
        """The first external write since `c` last accepted or adopted (the
        edit it has not seen), else the latest one."""
        since = [h for h in hits if h[0] > self.decided_at[c]]
        return since[0] if since else hits[-1]


def model_violations(ex, state: tuple, inst) -> list:
    """The properties the model's step `inst` from `state` violates."""
    from sessionfence.model import properties as P

    if inst.ctrl is None:
        return []
    return [p.name for p in P.ALWAYS
            if any(i.ctrl == inst.ctrl and i.transition.key == inst.transition.key
                   for i in ex.event(state, p))]


def safe_side(variant: str, model: list, impl: list) -> str:
    """One line for a divergence: which side, if any, violated a property."""
    m = ", ".join(model)
    i = ", ".join(impl)
    if model and not impl:
        return (f"the model of {variant} violates {m} here; the implementation does not "
                "(it is the safe side)")
    if impl and not model:
        return (f"the implementation violates {i} here; the model of {variant} does not "
                "(the model is the safe side)")
    if model and impl:
        return f"both sides violate a property here (model: {m}; implementation: {i})"
    return "neither side violates a property at this step"


__all__ = ["ImplViolation", "Judge", "content_id", "decision_table",
           "model_violations", "safe_side"]
