"""Can the model's external edit be made on real files, here and now?

Every model `external_write` names its kind; the replay performs exactly
that kind or does not replay the trace (a trace is never changed behind the
user's back). Physics decides where a kind can be made faithfully:

* `same-size-rewrite` in **stat mode**, where the model says the stat
  fingerprint did not change. On a filesystem with coarse timestamps
  (ext2/ext3 with 128-byte inodes, vfat, kernels before 6.13 ...) a same-size
  rewrite with mtime put back is invisible to stat if it lands in the same
  tick as the last change; the writer reports whether it was (and a replay
  that crossed a tick is retried). With multigrain timestamps (Linux 6.13+
  ext4, xfs, btrfs, tmpfs) it is invisible only inside a holder's own
  write window -- between `read_before` and its own write, which moves
  ctime again: elsewhere the trace cannot be replayed on this filesystem
  ("physics").
* `replace` and `delete` leave controllers holding the old inode: their
  later appends go to an orphan and do not change the path at all, while the
  model's owned append always lands on the path. So they are refused if a
  controller that is open now (holds an fd) appends later in the trace.
  Without lookahead (a Hypothesis run chooses steps as it goes) they are
  refused while any controller holds the file open, and an append by a
  controller on an orphaned inode is blocked (`blocks`).

Everything else can be made anywhere the model allows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from sessionfence.model.expr import ALIVE_PHASES, Kind, Phase

WINDOW = (Phase.write_append,)  # as model.world.WINDOW_PHASES
OPEN_PHASES = frozenset(ALIVE_PHASES)  # a controller in these holds an fd on the transcript

PHYSICS = "physics"  # the word every refusal of this module starts with


@dataclass
class FileTracker:
    """What the harness knows about the real file that the model does not say."""

    fingerprint: str = "stat"  # the implementation's mode
    coarse: bool = False  # the replay directory's filesystem has coarse timestamps
    orphaned: set = field(default_factory=set)  # controllers whose fd names a dead inode

    def refusal(self, kind: Kind, phases: Sequence[Phase], future=None,
                invisible: bool = False) -> str:
        """Why `kind` cannot be made faithfully now ("" if it can).

        `phases[c - 1]` is controller c's phase; `future` the steps that
        follow in the trace (model_traces.Step), or None without lookahead;
        `invisible`: the model says the edit leaves the fingerprint as it was.
        """
        if kind is Kind.same_size_rewrite and invisible and self.fingerprint == "stat":
            if not self.coarse and not any(p in WINDOW for p in phases):
                return (f"{PHYSICS}: stat sees a same-size rewrite here (multigrain timestamps), "
                        "except inside a holder's write window; replay with --workdir on a "
                        "filesystem with coarse timestamps")
        if kind not in (Kind.replace, Kind.delete):
            return ""
        open_now = [c for c, p in enumerate(phases, 1) if p in OPEN_PHASES]
        if future is None:
            if open_now:
                return (f"{PHYSICS}: c{open_now[0]} holds the file open and might append to the "
                        f"old inode (no lookahead)")
            return ""
        for step in future:
            if step.step == "append" and step.ctrl in open_now:
                return (f"{PHYSICS}: c{step.ctrl} holds the old inode open and appends later "
                        f"(to an orphan; the model's append lands on the path)")
        return ""

    def wrote(self, kind: Kind, phases: Sequence[Phase]) -> None:
        if kind in (Kind.replace, Kind.delete):
            self.orphaned |= {c for c, p in enumerate(phases, 1) if p in OPEN_PHASES}

    # -- controller steps ------------------------------------------------------
    def blocks(self, step: str, ctrl: Optional[int]) -> str:
        """Why a controller step must not be taken now ("" if it may)."""
        if step == "append" and ctrl in self.orphaned:
            return f"{PHYSICS}: c{ctrl}'s file descriptor names a replaced or deleted inode"
        return ""

    def stepped(self, step: str, ctrl: int, phase: Phase) -> None:
        if step in ("start", "reacquire", "begin_write"):
            # these open the path (start) or reopen it on a new inode they accept
            self.orphaned.discard(ctrl)
        if phase in (Phase.done, Phase.taken_over):
            self.orphaned.discard(ctrl)


def trace_seed(seed: int, labels: Sequence[str]) -> int:
    """A seed for one trace: from the run's seed and the trace's steps (for
    anything a replay still draws at random)."""
    import hashlib

    digest = hashlib.sha256(f"{seed}|{' '.join(labels)}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def coarse_timestamps(directory: str) -> bool:
    """Does a same-size rewrite with mtime put back go unseen by stat here?

    Write, stat, rewrite the same size and put mtime back, stat: three tries.
    (The probe the reliability notes recommend at open.)"""
    import os
    import tempfile

    fd, path = tempfile.mkstemp(prefix=".probe-", dir=directory)
    try:
        os.write(fd, b"0123456789\n")
        seen = 0
        for i in range(3):
            a = os.fstat(fd)
            os.pwrite(fd, b"%d" % (i % 10), 0)
            os.utime(path, ns=(a.st_atime_ns, a.st_mtime_ns))
            b = os.fstat(fd)
            seen += (a.st_mtime_ns, a.st_ctime_ns, a.st_size) != (b.st_mtime_ns, b.st_ctime_ns,
                                                                  b.st_size)
        return seen == 0
    finally:
        os.close(fd)
        os.unlink(path)


def unfaithful(ex, trace) -> str:
    """Why real files could not follow `trace` on any filesystem ("" if they
    can): an external replace or delete while a controller that appends later
    holds the old inode open."""
    tracker = FileTracker("digest")
    steps = trace.steps
    for i, inst in enumerate(steps):
        if inst.ctrl is None:
            phases = [ex.phase(trace.states[i], c) for c in range(1, ex.n + 1)]
            future = [_Future(s.step, s.ctrl) for s in steps[i + 1:]]
            why = tracker.refusal(inst.kind, phases, future)
            if why:
                return f"step {i + 1}: {why}"
    return ""


@dataclass(frozen=True)
class _Future:
    step: str
    ctrl: Optional[int]
