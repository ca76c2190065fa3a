"""The fence designs: each variant states only its fence rules.

The rules are functions of the acting controller `c` that return expressions
(conditions) or `{variable: expression}` updates, written with the handles of
`sessionfence.model.state`. `machine.build` places them into the shared steps:

  start       -- fence data recorded when the controller first takes the lock
  check       -- the fence check's accept condition (reacquire, begin_write
                 from released; also release / begin_write from held if the
                 flags below say so)
  on_accept   -- updates when a check accepts
  check_at_release, check_when_held -- where else the check runs
  on_release  -- the snapshot taken when the lock is released for the prompt
  before_ok   -- read_before's check (None: a bare stat)
  write_ok    -- finish_write's validation (None: none)
  on_finish   -- what a finished write records or publishes (mode[c] tells
                 which kind of section it was)

A maintainer checks a change by deriving a variant that overrides one rule
(`Variant.derive`); see docs/checking-a-fence-change.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

from sessionfence.model import state as S
from sessionfence.model.expr import NO_FP, Expr, Mode, Param, conj, ite

RULE_NAMES = (
    "start",
    "check",
    "on_accept",
    "check_at_release",
    "check_when_held",
    "on_release",
    "before_ok",
    "write_ok",
    "on_finish",
)
PROPERTIES = ("released-safety", "safety", "precision")
VERDICTS = ("holds", "violated")

Cond = Callable[[Param], Expr]
Updates = Callable[[Param], Mapping[str, object]]


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    start: Updates
    check: Cond
    on_accept: Updates
    check_at_release: bool
    check_when_held: bool
    on_release: Updates
    before_ok: Optional[Cond]
    write_ok: Optional[Cond]
    on_finish: Updates
    expected: Mapping[str, str]
    # Verdicts that differ when the whole write section is atomic w.r.t. the
    # external writer (`--atomic-writes`).
    expected_atomic: Mapping[str, str] = field(default_factory=dict)
    # `sometimes` properties that this design cannot reach by construction.
    unreachable: frozenset = frozenset()
    # Name of the inductive invariant set proving the "holds" cells, if any.
    invariants: Optional[str] = None
    base: Optional[str] = None
    changed: tuple = ()

    def expectation(self, prop: str, atomic_writes: bool) -> str:
        if atomic_writes and prop in self.expected_atomic:
            return self.expected_atomic[prop]
        return self.expected[prop]

    def derive(self, name: str, *, summary: str = "", expected=None, **rules) -> "Variant":
        """A new variant equal to this one except for the given fence rules."""
        unknown = sorted(set(rules) - set(RULE_NAMES))
        if unknown:
            raise TypeError(
                f"derive({name!r}): unknown fence rule(s) {', '.join(unknown)}; "
                f"the rules are {', '.join(RULE_NAMES)}"
            )
        exp = dict(self.expected)
        if expected:
            exp.update(expected)
        _validate_expected(name, exp)
        return dataclasses.replace(
            self,
            name=name,
            summary=summary or f"{self.name} with {', '.join(sorted(rules)) or 'no'} changed",
            expected=exp,
            expected_atomic={} if expected else dict(self.expected_atomic),
            base=self.name,
            changed=tuple(sorted(rules)),
            **rules,
        )


def _validate_expected(name: str, expected: Mapping[str, str]) -> None:
    for prop in PROPERTIES:
        if expected.get(prop) not in VERDICTS:
            raise ValueError(
                f"variant {name!r}: expected[{prop!r}] must be one of {VERDICTS}, "
                f"got {expected.get(prop)!r}"
            )
    extra = set(expected) - set(PROPERTIES)
    if extra:
        raise ValueError(f"variant {name!r}: unknown properties in expected: {sorted(extra)}")


def _none(c):
    return {}


def _fence_is_file(c):
    return {"fence": S.file}


# -- strict-fingerprint: accept only the fingerprint saved at release -------

STRICT = Variant(
    name="strict-fingerprint",
    summary="on reacquire, accept only if the file equals the fingerprint saved at release",
    start=_fence_is_file,
    check=lambda c: S.file == S.fence[c],
    on_accept=_none,
    check_at_release=False,
    check_when_held=False,
    on_release=_fence_is_file,
    before_ok=None,
    write_ok=None,
    on_finish=_fence_is_file,
    expected={"released-safety": "holds", "safety": "violated", "precision": "violated"},
    # It never consults anything but its own fingerprint: a peer's write is
    # never accepted (that is the original bug report).
    unreachable=frozenset({"peer-write-accepted"}),
)


# -- broad-publication: publish after every locked section ------------------


def _owned_newer(c):
    return conj(S.reg_fp == S.file, S.reg_gen > S.k_gen[c])


def _track_registry(c):
    return {"fence": S.file, "k_gen": S.reg_gen}


BROAD = Variant(
    name="broad-publication",
    summary="publish the post-section fingerprint after every locked section; "
    "a released controller accepts the latest owned fingerprint of a newer generation",
    start=_track_registry,
    check=lambda c: (S.file == S.fence[c]) | _owned_newer(c),
    on_accept=_track_registry,
    check_at_release=False,
    check_when_held=False,
    on_release=_track_registry,
    before_ok=None,
    write_ok=None,
    on_finish=lambda c: {
        "reg_gen": S.reg_gen + 1,
        "reg_fp": S.file,
        "fence": S.file,
        "k_gen": S.reg_gen + 1,
    },
    expected={"released-safety": "violated", "safety": "violated", "precision": "holds"},
)


# -- narrow-publication: publish only trusted transcript appends ------------


def _narrow_finish(c):
    publishes = conj(S.mode[c] == Mode.publish, S.before[c] == S.trusted)
    return {
        "reg_gen": ite(publishes, S.reg_gen + 1, S.reg_gen),
        "reg_fp": ite(publishes, S.file, S.reg_fp),
        "trusted": ite(publishes, S.file, S.trusted),
        "fence": S.file,
        "k_gen": ite(publishes, S.reg_gen + 1, S.k_gen[c]),
    }


NARROW = Variant(
    name="narrow-publication",
    summary="publish only from transcript-append sections whose pre-write fingerprint "
    "is trusted (trust on first use at the first release); other sections only "
    "refresh the writer's own fence",
    start=_track_registry,
    check=BROAD.check,
    on_accept=_track_registry,
    check_at_release=False,
    check_when_held=False,
    on_release=lambda c: {
        "trusted": ite(S.trusted == NO_FP, S.file, S.trusted),
        "fence": S.file,
        "k_gen": S.reg_gen,
    },
    before_ok=None,
    write_ok=None,
    on_finish=_narrow_finish,
    expected={"released-safety": "violated", "safety": "violated", "precision": "violated"},
    # With the write section atomic w.r.t. the external writer, the pre-write
    # read and the post-write read can no longer straddle an external edit.
    expected_atomic={"released-safety": "holds"},
)


# -- reference: epoch-chained registry of validated owned writes ------------


def _registry_matches(c):
    return conj(
        S.reg_epoch == S.k_epoch[c],
        S.reg_gen >= S.k_gen[c],
        S.reg_fp == S.file,
    )


def _reference_start(c):
    join = conj(S.reg_epoch != 0, S.reg_fp == S.file)
    return {
        "reg_epoch": ite(join, S.reg_epoch, S.next_epoch),
        "reg_gen": ite(join, S.reg_gen, 0),
        "reg_fp": ite(join, S.reg_fp, S.file),
        "next_epoch": ite(join, S.next_epoch, S.next_epoch + 1),
        "k_epoch": ite(join, S.reg_epoch, S.next_epoch),
        "k_gen": ite(join, S.reg_gen, 0),
        "fence": S.file,
    }


def _reference_accept(c):
    via = _registry_matches(c)
    return {
        "k_gen": ite(via, S.reg_gen, S.k_gen[c]),
        "fence": ite(via, S.reg_fp, S.fence[c]),
    }


def _reference_write_ok(c):
    # The file is exactly `before` plus our bytes, and the registry still holds
    # the state we extended (compare-and-set on the publication).
    return conj(
        S.landed[c],
        S.file == S.mine[c],
        S.reg_epoch == S.k_epoch[c],
        S.reg_gen == S.k_gen[c],
        S.reg_fp == S.before[c],
    )


REFERENCE = Variant(
    name="reference",
    summary="epoch-chained owned-state registry; every owned write is validated "
    "(file = before + our bytes) and then published; checks at release, "
    "reacquire and before every write",
    start=_reference_start,
    check=lambda c: (S.file == S.fence[c]) | _registry_matches(c),
    on_accept=_reference_accept,
    check_at_release=True,
    check_when_held=True,
    on_release=_none,
    before_ok=lambda c: S.file == S.fence[c],
    write_ok=_reference_write_ok,
    on_finish=lambda c: {
        "reg_gen": S.reg_gen + 1,
        "reg_fp": S.file,
        "k_gen": S.reg_gen + 1,
        "fence": S.file,
    },
    expected={"released-safety": "holds", "safety": "holds", "precision": "holds"},
    invariants="reference",
)


BUILTIN: dict[str, Variant] = {v.name: v for v in (STRICT, BROAD, NARROW, REFERENCE)}
for _v in BUILTIN.values():
    _validate_expected(_v.name, _v.expected)


class UnknownVariant(KeyError):
    pass


def get(name: str) -> Variant:
    try:
        return BUILTIN[name]
    except KeyError:
        raise UnknownVariant(
            f"unknown variant {name!r}; known variants: {', '.join(BUILTIN)}"
        ) from None
