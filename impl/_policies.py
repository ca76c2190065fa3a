"""The fence designs behind one seam: the bridge to the model.

The brief's four are here; upstream's later ones in `_upstream_policies`.

Each policy is a small class whose hooks carry the model's fence-rule names
(`sessionfence.model.variants.RULE_NAMES`) and the same meaning:

  start             fence data recorded when the controller first takes the lock
  check             the accept condition of a fence check
  on_accept         what a passing check records
  check_at_release  whether `release` runs the check (bool)
  check_when_held   whether `begin_write` from `held` runs the check (bool)
  on_release        the snapshot taken when the lock is released for the prompt
  before_ok         read_before's condition (None: a bare stat)
  write_ok          finish_write's validation (None: none)
  on_finish         what a finished write records or publishes

Hooks are pure functions of the controller's `FenceContext`, the shared
`FileState` (`ctx.reg`) and the current fingerprint: all I/O happens in the
controller, which hands the physical facts in (the fingerprint it observed,
and `ctx.exact` for write_ok). That keeps a policy line-for-line comparable
with its model variant, so a model trace replayed on real files exercises
the same rule. The controller calls every hook under `ctx.reg.mutex`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Dict, Optional, Type, Union

from sessionfence.impl._fingerprint import Fingerprint
from sessionfence.impl._registry import FileState

WRITE_MODES = ("publish", "broad", "cleanup")


@dataclass(eq=False)
class FenceContext:
    """One controller's fence data (the model's per-controller variables)."""

    reg: FileState
    fence: Optional[Fingerprint] = None
    k_epoch: int = 0
    k_gen: int = 0
    # The open write section (reset when it ends):
    before: Optional[Fingerprint] = None
    mode: Optional[str] = None
    took: bool = False
    ours: bytes = b""
    exact: bool = False
    """Validation evidence: the file after our write is exactly `before` plus
    `ours` (the model's `landed[c] and file == mine[c]`)."""
    # Upstream's designs (_upstream_policies): the fence is active after the
    # first release; a content snapshot; the post-message gate.
    active: bool = False
    snap: Optional[object] = None
    gate: bool = False
    read: Optional[Callable[[], bytes]] = None
    """The file's bytes now (b"" if missing): set by the controller, for the
    content-aware policies."""

    def end_write(self) -> None:
        self.before, self.mode, self.took, self.ours, self.exact = None, None, False, b"", False


class Policy:
    """Base of the fence policies; see the module docstring for each hook."""

    name: ClassVar[str] = ""
    check_at_release: ClassVar[bool] = False
    # The brief: begin_write from `held` checks (for every design of the brief).
    check_when_held: ClassVar[bool] = True
    # Whether on_release records what it saw (a snapshot: the model's adopt).
    # Only the decision logs and the replay's verdicts read it.
    records_at_release: ClassVar[bool] = True
    before_ok = None  # or a method (ctx, before) -> bool
    write_ok = None  # or a method (ctx, post) -> bool
    on_read_before = None  # or a method (ctx, before): what read_before records
    # A takeover in a section that reused the held prompt lock keeps the lock
    # until `dispose` (upstream before #93740).
    keep_held_lock: ClassVar[bool] = False
    # A whole attempt owns the path process-wide: a second one's start waits.
    owns_attempt: ClassVar[bool] = False

    def checks_at(self, ctx: "FenceContext", phase: str) -> bool:
        """Does begin_write from `phase` ("held" / "released") check? (`ctx.mode` is set.)"""
        return phase == "released" or self.check_when_held

    def start(self, ctx: FenceContext, now: Fingerprint) -> None:
        raise NotImplementedError

    def check(self, ctx: FenceContext, now: Fingerprint) -> bool:
        raise NotImplementedError

    def on_accept(self, ctx: FenceContext, now: Fingerprint) -> None:
        raise NotImplementedError

    def on_release(self, ctx: FenceContext, now: Fingerprint) -> None:
        raise NotImplementedError

    def on_finish(self, ctx: FenceContext, post: Fingerprint) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class StrictFingerprintPolicy(Policy):
    """Accept only the fingerprint saved at release (the original design).

    A peer's owned write while released is a false takeover; an external
    write while held is snapshotted at release and never noticed.
    """

    name = "strict-fingerprint"

    def start(self, ctx, now):
        ctx.fence = now

    def check(self, ctx, now):
        return now == ctx.fence

    def on_accept(self, ctx, now):
        pass

    def on_release(self, ctx, now):
        ctx.fence = now

    def on_finish(self, ctx, post):
        ctx.fence = post


class BroadPublicationPolicy(Policy):
    """Publish the post-section fingerprint after every locked section.

    The laundering bug: an external edit followed by any locked section is
    published as owned, and released peers accept it.
    """

    name = "broad-publication"

    def start(self, ctx, now):
        ctx.fence = now
        ctx.k_gen = ctx.reg.reg_gen

    def check(self, ctx, now):
        reg = ctx.reg
        return now == ctx.fence or (reg.reg_fp == now and reg.reg_gen > ctx.k_gen)

    def on_accept(self, ctx, now):
        ctx.fence = now
        ctx.k_gen = ctx.reg.reg_gen

    def on_release(self, ctx, now):
        ctx.fence = now
        ctx.k_gen = ctx.reg.reg_gen

    def on_finish(self, ctx, post):
        reg = ctx.reg
        reg.reg_gen += 1
        reg.reg_fp = post
        ctx.fence = post
        ctx.k_gen = reg.reg_gen


class NarrowPublicationPolicy(BroadPublicationPolicy):
    """Publish only transcript appends whose pre-write fingerprint is trusted.

    Bugs: a broad write leaves the trusted baseline stale (later
    publications are untrusted: false takeovers of released peers), and an
    external write between read_before and finish_write is published.
    """

    name = "narrow-publication"

    def on_release(self, ctx, now):
        reg = ctx.reg
        if reg.trusted is None:
            reg.trusted = now  # trust on first use
        ctx.fence = now
        ctx.k_gen = reg.reg_gen

    def on_finish(self, ctx, post):
        reg = ctx.reg
        if ctx.mode == "publish" and ctx.before == reg.trusted:
            reg.reg_gen += 1
            reg.reg_fp = post
            reg.trusted = post
            ctx.k_gen = reg.reg_gen
        ctx.fence = post


class ReferencePolicy(Policy):
    """This project's design: an epoch-chained registry of validated writes.

    A controller accepts the file if it equals what it knows, or the
    registry is in its epoch, at least as new as what it knows, and vouches
    for exactly this file. Every owned write must be before + our bytes
    with the registry unchanged since (compare-and-set) before it is
    published. It checks at release and before every write too.
    """

    name = "reference"
    check_at_release = True
    check_when_held = True
    records_at_release = False  # on_release records nothing

    def start(self, ctx, now):
        reg = ctx.reg
        if reg.reg_epoch != 0 and reg.reg_fp == now:
            ctx.k_epoch, ctx.k_gen = reg.reg_epoch, reg.reg_gen  # join the epoch
        else:
            reg.reg_epoch, reg.reg_gen, reg.reg_fp = reg.next_epoch, 0, now
            reg.next_epoch += 1
            ctx.k_epoch, ctx.k_gen = reg.reg_epoch, 0
        ctx.fence = now

    @staticmethod
    def _registry_matches(ctx, now) -> bool:
        reg = ctx.reg
        return reg.reg_epoch == ctx.k_epoch and reg.reg_gen >= ctx.k_gen and reg.reg_fp == now

    def check(self, ctx, now):
        return now == ctx.fence or self._registry_matches(ctx, now)

    def on_accept(self, ctx, now):
        if self._registry_matches(ctx, now):
            ctx.k_gen = ctx.reg.reg_gen
            ctx.fence = ctx.reg.reg_fp

    def on_release(self, ctx, now):
        pass

    def before_ok(self, ctx, before):
        return before == ctx.fence

    def write_ok(self, ctx, post):
        reg = ctx.reg
        return (ctx.exact and reg.reg_epoch == ctx.k_epoch and reg.reg_gen == ctx.k_gen
                and reg.reg_fp == ctx.before)

    def on_finish(self, ctx, post):
        reg = ctx.reg
        reg.reg_gen += 1
        reg.reg_fp = post
        ctx.k_gen = reg.reg_gen
        ctx.fence = post


POLICIES: Dict[str, Type[Policy]] = {
    cls.name: cls for cls in (ReferencePolicy, StrictFingerprintPolicy,
                              BroadPublicationPolicy, NarrowPublicationPolicy)
}


def _register_upstream() -> None:
    from sessionfence.impl._upstream_policies import UPSTREAM_POLICIES

    POLICIES.update({cls.name: cls for cls in UPSTREAM_POLICIES})


_register_upstream()
DEFAULT_POLICY = "reference"


def get_policy(policy: Union[str, Policy, None]) -> Policy:
    """A policy instance from its model variant name (or an instance)."""
    if policy is None:
        policy = DEFAULT_POLICY
    if isinstance(policy, Policy):
        return policy
    try:
        return POLICIES[policy]()
    except (KeyError, TypeError):
        raise ValueError(f"unknown policy {policy!r}; the policies are "
                         f"{', '.join(POLICIES)}") from None
