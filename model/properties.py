"""The properties, stated over decisions and ghosts.

Every property is about an *event*: a transition of certain kinds fires for a
controller `c` while a condition on `c` holds in the state before it.
`always` properties say the event never happens; `sometimes` properties say
it can happen (so a model in which nothing can happen fails loudly).

Because guards depend only on the state before a step, "the event can happen
next" is a predicate on states, `event_enabled`; a violation is a reachable
state in which it holds, and the counterexample ends with the offending step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from sessionfence.model import state as S
from sessionfence.model.expr import TRUE, Phase
from sessionfence.model.machine import Decision, Transition


@dataclass(frozen=True)
class Property:
    name: str
    kind: str  # "always" | "sometimes"
    doc: str
    decisions: frozenset
    flag: Callable  # (c, world layout) -> Expr
    steps: Optional[frozenset] = None
    targets: Optional[frozenset] = None
    keys: Optional[frozenset] = None  # exact transitions, e.g. "reacquire:released->held"

    def matches(self, t: Transition) -> bool:
        if self.keys is not None and t.key not in self.keys:
            return False
        if t.decision not in self.decisions:
            return False
        if self.steps is not None and t.step not in self.steps:
            return False
        return self.targets is None or t.target in self.targets


ALWAYS = (
    Property(
        "released-safety",
        "always",
        "no controller passes a fence check after an external write made while it was released",
        frozenset({Decision.accept}),
        lambda c, w: w.exposed("ext_released", c),
    ),
    Property(
        "safety",
        "always",
        "no controller accepts or adopts a file state after an external write made while it was alive",
        frozenset({Decision.accept, Decision.adopt}),
        lambda c, w: w.exposed("ext_alive", c),
    ),
    Property(
        "precision",
        "always",
        "no controller takes over unless an external write happened while it was alive",
        frozenset({Decision.takeover}),
        lambda c, w: ~S.ext_alive[c],
    ),
)

SOMETIMES = (
    Property(
        "external-write-detected",
        "sometimes",
        "a controller fails closed after an external write",
        frozenset({Decision.takeover}),
        lambda c, w: S.ext_alive[c],
    ),
    Property(
        "peer-write-accepted",
        "sometimes",
        "a controller reacquires and accepts a file a peer has written since",
        frozenset({Decision.accept}),
        lambda c, w: S.file != S.fence[c],
        steps=frozenset({"reacquire"}),
    ),
    Property(
        "owned-write-completed",
        "sometimes",
        "an owned write finishes and the writer keeps the lock",
        frozenset({Decision.adopt, Decision.accept}),
        lambda c, w: TRUE,
        steps=frozenset({"finish_write"}),
        targets=frozenset({Phase.held}),
    ),
    Property(
        "cleanup-completed",
        "sometimes",
        "a controller finishes its cleanup write and is done",
        frozenset({Decision.adopt, Decision.accept}),
        lambda c, w: TRUE,
        steps=frozenset({"finish_write"}),
        targets=frozenset({Phase.done}),
    ),
)

BY_NAME = {p.name: p for p in ALWAYS + SOMETIMES}


def sometimes_for(variant) -> tuple[Property, ...]:
    """The `sometimes` properties `variant` must witness (peer-write-accepted
    reads the design's `fence`: a design without one has no such witness)."""
    has_fence = any(getattr(h, "name", "") == "fence" for h in variant.state)
    return tuple(p for p in SOMETIMES if p.name not in variant.unreachable
                 and (has_fence or p.name != "peer-write-accepted"))


def fires(key: str) -> Property:
    """The event "transition `key` fires" (a coverage target)."""
    return Property(f"fires {key}", "sometimes", f"transition {key} can fire",
                    frozenset(Decision), lambda c, w: TRUE, keys=frozenset({key}))
