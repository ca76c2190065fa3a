"""How a fence design is declared: its state, its rules, its check points.

A design (`Variant`) is data:

* `state` -- the design variables it keeps, declared with `state.shared`
  and `state.per_ctrl` (sort and initial value);
* `rules` -- named functions of the acting controller `c`: a *condition*
  (returns an expression) or *updates* (returns `{variable: expression}`);
* `points` -- for each check point, the ordered list of what happens
  there: a rule name (its updates apply), or `Check(rule)` (the condition
  must hold, else the failure branch `fail` runs).

The check points (the machine adds the lock and phase bookkeeping around them):

  start                 the lock was just taken for the first time
  release               before the lock is released for the prompt
  reacquire             the lock was just taken back
  begin_write:released  a write section took the lock
  begin_write:held      a write section begins under the held lock
  cleanup               a cleanup section begins (if declared; else the
                        begin_write point of the phase it begins from)
  read_before           after `before := file`
  finish_write          after the owned write, before the section ends

Items of a point apply in order, and each sees what the ones before it
assigned (`expr.subst`): `["on_finish", Check("write_ok")]` publishes and
then validates. A rule that assigns a variable an earlier rule of the same
step assigned overrides it, reading its new value.

A maintainer checks a change by deriving a variant: `derive(name, rule=f)`
replaces rules by name (everywhere a point uses them), `points={...}`
replaces whole points, `state=` adds variables, `kinds=` restricts the
world. See docs/checking-a-fence-change.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Union

from sessionfence.model.expr import KINDS, Kind

POINTS = ("start", "release", "reacquire", "begin_write:released", "begin_write:held",
          "cleanup", "read_before", "finish_write")
PROPERTIES = ("released-safety", "safety", "precision")
VERDICTS = ("holds", "violated")
FAIL_ACTIONS = ("takeover", "continue-unlocked", "wait")

Rule = Union[str, Callable]


@dataclass(frozen=True)
class Fail:
    """What a failed check does.

    action    "takeover": phase `taken_over` (SessionTakeoverError), the
              write section ends; "continue-unlocked": upstream's cleanup
              after a takeover -- the section goes on with a no-op lock (the
              lock is not taken, or given back) and the decision is a
              takeover signalled through `updates` (a flag), not an error;
              "wait": no failure branch -- the step cannot be taken until
              the condition holds (file-owner's process-wide owner: a
              second attempt waits for the first to end). Only where a
              step may block: `start`, `reacquire`, `begin_write`.
    keep_held_lock  a takeover inside a write section that reused the held
              prompt lock keeps the lock until `dispose` (upstream before
              #93740); otherwise every takeover gives the lock back.
    updates   a rule (name or function) whose updates the failure applies.
    """

    action: str = "takeover"
    keep_held_lock: bool = False
    updates: Optional[Rule] = None

    def __post_init__(self):
        if self.action not in FAIL_ACTIONS:
            raise ValueError(f"Fail(action=...) must be one of {', '.join(FAIL_ACTIONS)}, "
                             f"got {self.action!r}")
        if not isinstance(self.keep_held_lock, bool):
            raise TypeError(f"Fail(keep_held_lock=...) is a flag (True or False), got "
                            f"{type(self.keep_held_lock).__name__}: pass a condition as a "
                            f"Check's `when` instead")


TAKEOVER = Fail()


@dataclass(frozen=True)
class Check:
    """A check inside a point: `rule` must hold (when `when` holds; else no
    check happens and the point goes on). `then` (updates) applies only on
    the path where the check ran and passed: what a passing check records,
    for a design that checks only sometimes (upstream's fence is inactive
    before the first release, so nothing is recorded there either)."""

    rule: Rule
    fail: Fail = TAKEOVER
    when: Optional[Rule] = None
    then: Optional[Rule] = None

    def __post_init__(self):
        if not isinstance(self.fail, Fail):
            raise TypeError(f"Check(fail=...) takes a Fail(...), got {type(self.fail).__name__}")


Item = Union[str, Callable, Check]


@dataclass(frozen=True)
class Expectations:
    """Declared verdicts: `base` for the default world, then overrides for
    worlds matching some settings ({"fingerprint": "stat"}: {...})."""

    base: Mapping[str, str]
    when: tuple = ()  # ((settings dict, {property: verdict}), ...)

    def __getitem__(self, prop: str) -> str:
        """The verdict in the default world (digest, every kind of edit)."""
        return self.base[prop]

    def items(self):
        return self.base.items()

    def get(self, prop: str, world) -> Optional[str]:
        out = self.base.get(prop)
        for settings, verdicts in self.when:
            if all(getattr(world, k) == v for k, v in settings.items()) and prop in verdicts:
                out = verdicts[prop]
        return out


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    state: tuple  # design variable handles (state.shared / state.per_ctrl)
    rules: Mapping[str, Callable]
    points: Mapping[str, tuple]
    expected: Expectations
    kinds: tuple = KINDS  # the external edits this design's world has
    # `sometimes` properties this design cannot reach by construction.
    unreachable: frozenset = frozenset()
    # Name of the hand-written invariant set (tests cross-check it), if any.
    invariants: Optional[str] = None
    base: Optional[str] = None
    changed: tuple = ()
    notes: tuple = ()  # modelling choices, in words (docs/model.md lists them)

    def expectation(self, prop: str, world) -> Optional[str]:
        """The declared verdict of `prop` in `world`, or None if there is none
        (the world lacks kinds the design's world has: a violation found in
        the full world may not exist there)."""
        if not set(self.kinds) <= set(world.kinds):
            verdict = self.expected.get(prop, world)
            return "holds" if verdict == "holds" else None
        return self.expected.get(prop, world)

    def rule(self, ref: Rule, where: str) -> Callable:
        if callable(ref):
            return ref
        try:
            return self.rules[ref]
        except KeyError:
            raise ValueError(f"variant {self.name!r}: {where} uses rule {ref!r}, which it does "
                             f"not define; its rules are {', '.join(self.rules) or 'none'}") \
                from None

    def derive(self, name: str, *, summary: str = "", expected=None, points=None, state=(),
               kinds=None, **rules) -> "Variant":
        """A new variant equal to this one but for the given rules (by name),
        points, added state variables, world kinds and expectations."""
        unknown = sorted(set(rules) - set(self.rules))
        if unknown:
            raise TypeError(
                f"derive({name!r}): unknown rule(s) {', '.join(unknown)}; {self.name}'s rules are "
                f"{', '.join(self.rules)} (to add a rule, pass points= that use a function)")
        new_points = dict(self.points)
        for point, items in (points or {}).items():
            new_points[point] = _items(name, point, items)
        exp = self.expected
        if expected:
            if isinstance(expected, Expectations):
                exp = expected
            else:
                exp = Expectations({**self.expected.base, **expected})
        changed = sorted(set(rules) | {f"point {p}" for p in (points or {})}
                         | ({"state"} if state else set()) | ({"kinds"} if kinds else set()))
        out = dataclasses.replace(
            self, name=name, summary=summary or f"{self.name} with {', '.join(changed) or 'nothing'} changed",
            rules={**self.rules, **rules}, points=new_points, state=tuple(self.state) + tuple(state),
            kinds=tuple(kinds) if kinds else self.kinds, expected=exp, base=self.name,
            changed=tuple(changed))
        validate(out)
        return out


def _items(variant: str, point: str, items) -> tuple:
    if point not in POINTS:
        raise ValueError(f"variant {variant!r}: unknown check point {point!r}; the points are "
                         f"{', '.join(POINTS)}")
    if isinstance(items, (str, Check)) or callable(items):
        items = (items,)
    out = []
    for item in items:
        if not (isinstance(item, (str, Check)) or callable(item)):
            raise TypeError(f"variant {variant!r}, point {point}: an item is a rule name, a "
                            f"function or Check(...), got {type(item).__name__}")
        out.append(item)
    return tuple(out)


def validate(v: Variant) -> None:
    """Reject a malformed declaration at once, naming what is wrong."""
    for prop in PROPERTIES:
        if v.expected.base.get(prop) not in VERDICTS:
            raise ValueError(f"variant {v.name!r}: expected[{prop!r}] must be one of {VERDICTS}, "
                             f"got {v.expected.base.get(prop)!r}")
    extra = set(v.expected.base) - set(PROPERTIES)
    for _, verdicts in v.expected.when:
        extra |= set(verdicts) - set(PROPERTIES)
        bad = [x for x in verdicts.values() if x not in VERDICTS]
        if bad:
            raise ValueError(f"variant {v.name!r}: expected verdict {bad[0]!r} is not one of {VERDICTS}")
    if extra:
        raise ValueError(f"variant {v.name!r}: unknown properties in expected: {sorted(extra)}")
    for point in v.points:
        _items(v.name, point, v.points[point])
    for point in ("start", "release", "reacquire", "begin_write:released", "begin_write:held",
                  "read_before", "finish_write"):
        if point not in v.points:
            raise ValueError(f"variant {v.name!r}: check point {point!r} is not declared "
                             f"(an empty list [] says nothing happens there)")
    for k in v.kinds:
        Kind(k)
    # Build it once: a rule that raises, writes what it may not or reads a
    # ghost is reported now, in one line naming the step and the rule.
    from sessionfence.model.machine import build  # (machine imports this module)

    build(v)


def variant(name: str, summary: str, *, state, rules: dict, points: dict, expected,
            expected_when=(), kinds=KINDS, **extra) -> Variant:
    """Declare a variant (validated)."""
    exp = Expectations(dict(expected), tuple(expected_when))
    v = Variant(name, summary, tuple(state), dict(rules),
                {p: _items(name, p, items) for p, items in points.items()}, exp,
                tuple(kinds), **extra)
    validate(v)
    return v


__all__ = ["Check", "Expectations", "FAIL_ACTIONS", "Fail", "Item", "POINTS", "PROPERTIES",
           "Rule", "TAKEOVER", "VERDICTS", "Variant", "field", "validate", "variant"]
