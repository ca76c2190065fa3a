"""Upstream's later fence designs as policies (model: `model/upstream.py`).

Same rule names as the model's variants, and the facts of
upstream-designs.md §0 in `UpstreamPolicy`:

* the fence is active only after the first release (`ctx.active`): a
  section begun from `held` before it does no check;
* a takeover in a section that reused the held prompt lock keeps the lock
  until `dispose` (`keep_held_lock`);
* a plain locked section refreshes the writer's own fence to the file after
  its body if it changed (`_refresh`);
* `publish` mode is the design's transcript append; where it is the
  runtime's raw append (`raw_publish`) it does no fence check.

The content-aware rules read the file's bytes through `ctx.read()` (the
controller's one read of the path); what they compare is kept in a
`TextSnapshot`: the inode, the size, a SHA-256 of the bytes and of the
last `TAIL_BYTES` bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

from sessionfence.impl._fingerprint import Fingerprint
from sessionfence.impl._policies import Policy
from sessionfence.impl._runtime_lines import all_lines, is_session_entry, looks_like_runtime

# The tail digest's window. The model assumes a rewrite of the head never
# reaches it (world.py); the conformance transcript starts with a 63-byte
# line and the external writer rewrites at most the first 24 bytes.
TAIL_BYTES = 16


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class TextSnapshot:
    """What a content-aware fence remembers of the file at some point."""

    ident: tuple
    size: int
    sha: bytes  # of the whole file then: the prefix [0, size) later
    tail: bytes  # of [size - TAIL_BYTES, size)

    @classmethod
    def take(cls, now: Fingerprint, data: bytes) -> Optional["TextSnapshot"]:
        if not now.exists:
            return None
        return cls(now.ident, len(data), _sha(data), _sha(data[-TAIL_BYTES:]))

    # -- the model's world predicates (model/world.py), on bytes --------------
    def same_inode(self, now: Fingerprint) -> bool:
        return now.exists and now.ident == self.ident

    def prefix_intact(self, data: bytes) -> bool:
        return len(data) >= self.size and _sha(data[:self.size]) == self.sha

    def tail_intact(self, data: bytes) -> bool:
        return (len(data) >= self.size
                and _sha(data[max(0, self.size - TAIL_BYTES):self.size]) == self.tail)

    def appended(self, data: bytes, accept) -> bool:
        """Every line appended since is whole and passes `accept` (none is fine)."""
        extra = data[self.size:]
        return not extra or all_lines(extra, accept)


class UpstreamPolicy(Policy):
    """§0, shared by every upstream version."""

    keep_held_lock = True
    raw_publish = False

    def locked_section(self, ctx) -> bool:
        """A section that takes the lock and checks (not the raw append)."""
        return not (self.raw_publish and ctx.mode == "publish")

    def checks_when_held(self, ctx) -> bool:
        return ctx.active and self.locked_section(ctx)

    def checks_at(self, ctx, phase: str) -> bool:
        if phase == "held":
            return self.checks_when_held(ctx)
        return self.locked_section(ctx)

    @staticmethod
    def _refresh(ctx, post):
        if post != ctx.before:
            ctx.fence = post

    def on_accept(self, ctx, now):
        pass


class StrictRefreshPolicy(UpstreamPolicy):
    name = "strict-refresh"
    raw_publish = True

    def start(self, ctx, now):
        ctx.fence = now

    def check(self, ctx, now):
        return now == ctx.fence

    def on_release(self, ctx, now):
        ctx.fence = now
        ctx.active = True

    def on_finish(self, ctx, post):
        if ctx.mode == "publish":
            ctx.fence = post  # refreshAfterOwnedSessionWrite: unconditional
        else:
            self._refresh(ctx, post)


class ValidateOnAssertPolicy(UpstreamPolicy):
    name = "validate-on-assert"

    def start(self, ctx, now):
        ctx.fence = now

    def check(self, ctx, now):
        if now == ctx.fence:
            return True
        snap = ctx.snap
        if snap is None or not snap.same_inode(now) or now.size <= snap.size:
            return False
        data = ctx.read()
        return (len(data) > snap.size and snap.prefix_intact(data)
                and snap.appended(data, is_session_entry))

    def on_release(self, ctx, now):
        ctx.fence = now
        ctx.active = True
        data = ctx.read()
        # stat, read, stat again: if the file moved under the read, no
        # snapshot (a later mismatch then takes over). The read's length
        # against the stat's size stands in for the second stat.
        ctx.snap = TextSnapshot.take(now, data) if len(data) == now.size else None

    def on_finish(self, ctx, post):
        self._refresh(ctx, post)


class TailDigestPolicy(UpstreamPolicy):
    name = "tail-digest"

    def start(self, ctx, now):
        ctx.fence = now
        ctx.snap = TextSnapshot.take(now, ctx.read())

    def check(self, ctx, now):
        if now == ctx.fence:
            return True
        snap = ctx.snap
        return (snap is not None and snap.same_inode(now) and now.size >= snap.size
                and snap.tail_intact(ctx.read()))

    def on_release(self, ctx, now):
        ctx.fence = now
        ctx.active = True
        ctx.snap = TextSnapshot.take(now, ctx.read())

    def on_finish(self, ctx, post):
        if post != ctx.before:  # the fingerprint is (stat, tail digest): both move
            ctx.fence = post
            ctx.snap = TextSnapshot.take(post, ctx.read())


class PublicationGatedPolicy(UpstreamPolicy):
    """#84250 as merged: publish (gen + 1, after) iff after != before and
    before is trusted; an untrusted before publishes nothing and leaves the
    writer's own fence where it was."""

    name = "publication-gated-own-fence"

    def start(self, ctx, now):
        ctx.fence = now
        ctx.k_gen = ctx.reg.reg_gen

    def _owned_match(self, ctx, now) -> bool:
        reg = ctx.reg
        return reg.reg_fp == now and reg.reg_gen > ctx.k_gen

    def check(self, ctx, now):
        return now == ctx.fence or self._owned_match(ctx, now)

    def on_accept(self, ctx, now):
        ctx.fence = now
        ctx.k_gen = ctx.reg.reg_gen

    def on_release(self, ctx, now):
        reg = ctx.reg
        if reg.trusted is None:
            reg.trusted = now  # trust on first use, at the first release
        ctx.fence = now
        ctx.k_gen = reg.reg_gen
        ctx.active = True

    def _publish(self, ctx, post):
        reg = ctx.reg
        reg.reg_gen += 1
        reg.reg_fp = post
        reg.trusted = post
        ctx.fence = post
        ctx.k_gen = reg.reg_gen

    def on_finish(self, ctx, post):
        if ctx.mode != "publish":
            self._refresh(ctx, post)
        elif post != ctx.before and ctx.before == ctx.reg.trusted:
            self._publish(ctx, post)
        # else: untrusted before: nothing published, the fence stays


class PostMessagePublicationPolicy(PublicationGatedPolicy):
    """#86584: the runtime's raw message append publishes itself through a
    gate judged on the stat captured right before the append."""

    name = "post-message-publication"
    raw_publish = True

    def on_release(self, ctx, now):
        super().on_release(ctx, now)
        ctx.snap = TextSnapshot.take(now, ctx.read())

    def post_message_gate(self, ctx, before):
        if ctx.mode != "publish":
            ctx.gate = False
            return
        snap = ctx.snap
        benign = False
        if snap is not None and before.exists:  # (gate 2 compares bytes, not the inode)
            data = ctx.read()
            benign = snap.prefix_intact(data) and snap.appended(data, looks_like_runtime)
        ctx.gate = before == ctx.fence or benign or before == ctx.reg.trusted

    on_read_before = post_message_gate

    def on_finish(self, ctx, post):
        if ctx.mode != "publish":
            self._refresh(ctx, post)
        elif ctx.gate and post != ctx.before:
            self._publish(ctx, post)  # recordOwned(cur), fence := cur
        ctx.gate = False


class BenignAdvancePolicy(PublicationGatedPolicy):
    """main after #84250: the check also accepts a benign advance (same
    inode, grown, appended lines runtime-like; the prefix is not compared)."""

    name = "benign-advance"

    def on_release(self, ctx, now):
        super().on_release(ctx, now)
        ctx.snap = TextSnapshot.take(now, ctx.read())

    def _benign(self, ctx, now) -> bool:
        snap = ctx.snap
        if snap is None or not snap.same_inode(now) or now.size <= snap.size:
            return False
        data = ctx.read()
        return len(data) > snap.size and snap.appended(data, looks_like_runtime)

    def check(self, ctx, now):
        return now == ctx.fence or self._owned_match(ctx, now) or self._benign(ctx, now)

    def on_accept(self, ctx, now):
        equal = now == ctx.fence
        owned = not equal and self._owned_match(ctx, now)
        if owned:
            ctx.k_gen = ctx.reg.reg_gen
        elif not equal:  # benign: re-read the snapshot
            ctx.snap = TextSnapshot.take(now, ctx.read())
        ctx.fence = now


class FileOwnerPolicy(BenignAdvancePolicy):
    """#87159: a whole attempt owns the path process-wide; a second attempt's
    start waits until the first ends (dispose, cleanup, takeover)."""

    name = "file-owner"
    owns_attempt = True


UPSTREAM_POLICIES = (StrictRefreshPolicy, ValidateOnAssertPolicy, TailDigestPolicy,
                     PublicationGatedPolicy, PostMessagePublicationPolicy, BenignAdvancePolicy,
                     FileOwnerPolicy)
