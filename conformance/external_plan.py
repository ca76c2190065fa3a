"""Which real edit each model `external_write` becomes, and why.

The model's external write gives the file a *fresh* fingerprint and changes
nothing else. A real edit does that only in some positions; elsewhere the
real file history would stop matching the model's for reasons that are not
the implementation's fault. The planner picks, per `external_write`, a kind
(`append`, `rewrite`, `replace`, `delete`) deterministically from a seed,
among the kinds that are *faithful* here, and records every substitution
with its reason, so nothing is skipped silently:

* `rewrite` (same-size in place) needs a non-empty file. In **stat mode** it
  is also refused while any controller is between `read_before` and
  `finish_write` (phases `write_append`, `write_after`): a same-size write
  there lands inside the holder's own stat -> write -> stat window, the
  one blind spot stat fingerprints keep even with multigrain timestamps
  (reliability notes, "blind spots"). The size then grows by exactly the
  holder's line and validation passes; only digest mode can see it. Such
  positions are counted as "stat-mode blind spot" and get a kind stat mode
  can see; digest mode runs every kind everywhere.
* `replace` and `delete` leave controllers holding the old inode: their
  later appends go to an orphan and do not change the path at all, while
  the model says every owned write changes "the file". So they are refused
  if a controller that is open now (holds an fd) appends later in the trace.
* `delete` is refused if the file is already missing, if it was deleted
  before (a missing file has one fingerprint: a second deletion would look
  like the first), and if a controller starts while the file would still
  be missing (`start` creates the transcript; the model's `start` does not
  change the file).
* `append` is always faithful (it creates a missing file).

Without lookahead (a Hypothesis run chooses steps as it goes), `replace`
and `delete` are refused while any controller holds the file open, and the
tracker refuses the *later steps* that would make an earlier edit
unfaithful (`blocks`): a start while the file is missing (and, as a safety
net, an append by a controller on an orphaned inode).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Optional, Sequence

from sessionfence.conformance.external_writer import KINDS
from sessionfence.model.expr import ALIVE_PHASES, Phase

STAT_BLIND = (Phase.write_append, Phase.write_after)
OPEN_PHASES = frozenset(ALIVE_PHASES)  # a controller in these holds an fd on the transcript

BLIND_SPOT = "stat-mode blind spot"


@dataclass
class Choice:
    step: int  # 1-based step number in the trace
    kind: str
    preferred: str
    reason: str = ""  # why `preferred` was not used ("" if it was)


@dataclass
class FileTracker:
    """What the harness knows about the real file that the model does not say."""

    fingerprint: str = "stat"
    missing: bool = False
    deleted_once: bool = False
    orphaned: set = field(default_factory=set)  # controllers whose fd names a dead inode

    # -- external edits ------------------------------------------------------
    def refusal(self, kind: str, phases: Sequence[Phase], future=None) -> str:
        """Why `kind` is not faithful now ("" if it is).

        `phases[c - 1]` is controller c's phase; `future` the steps that
        follow in the trace (model_traces.Step), or None without lookahead.
        """
        if kind == "append":
            return ""
        if kind == "rewrite":
            if self.missing:
                return "no file to rewrite in place"
            if self.fingerprint == "stat" and any(p in STAT_BLIND for p in phases):
                return BLIND_SPOT
            return ""
        if kind == "delete":
            if self.missing:
                return "the file is already missing"
            if self.deleted_once:
                return "deleted before (a missing file has one fingerprint)"
            if future is not None:
                for step in future:
                    if step.step == "external_write":
                        break
                    if step.step == "start":
                        return f"c{step.ctrl} starts while the file would be missing"
        open_now = [c for c, p in enumerate(phases, 1) if p in OPEN_PHASES]
        if future is None:
            # Without lookahead an open controller might append later, to an
            # orphan; refusing here (rather than blocking its append later)
            # also means no program can get stuck on a blocked writer.
            if open_now:
                return f"c{open_now[0]} holds the file open (no lookahead)"
            return ""
        for step in future:
            if step.step == "append" and step.ctrl in open_now:
                return f"c{step.ctrl} holds the old inode and appends later"
        return ""

    def wrote(self, kind: str, phases: Sequence[Phase]) -> None:
        if kind in ("replace", "delete"):
            self.orphaned |= {c for c, p in enumerate(phases, 1) if p in OPEN_PHASES}
        if kind == "delete":
            self.missing = self.deleted_once = True
        elif kind in ("append", "replace"):
            self.missing = False

    # -- controller steps ------------------------------------------------------
    def blocks(self, step: str, ctrl: Optional[int]) -> str:
        """Why a controller step must not be taken now ("" if it may)."""
        if step == "append" and ctrl in self.orphaned:
            return f"c{ctrl}'s file descriptor names a replaced or deleted inode"
        if step == "start" and self.missing:
            return "the file is missing and start would create it"
        return ""

    def stepped(self, step: str, ctrl: int, phase: Phase) -> None:
        if step == "start":
            self.orphaned.discard(ctrl)  # opened the current path
        if phase in (Phase.done, Phase.taken_over):
            self.orphaned.discard(ctrl)


class KindPlanner:
    """Deterministic choice of edit kinds for one trace (seeded per trace)."""

    def __init__(self, seed, fingerprint: str, kinds: Sequence[str] = KINDS):
        bad = [k for k in kinds if k not in KINDS]
        if bad or not kinds:
            raise ValueError(f"external edit kinds must be among {', '.join(KINDS)}, got {list(kinds)}")
        self.kinds = tuple(kinds)
        self.rng = random.Random(seed)
        self.tracker = FileTracker(fingerprint)

    def faithful(self, phases: Sequence[Phase], future=None) -> list:
        """The allowed kinds that are faithful now (never empty: append is)."""
        out = [k for k in self.kinds if not self.tracker.refusal(k, phases, future)]
        return out or ["append"]

    def choose(self, step_no: int, phases: Sequence[Phase], future=None,
               prefer: Optional[str] = None) -> Choice:
        """`prefer` (a kind recorded in the trace, or drawn by Hypothesis) is
        used if faithful; otherwise a kind drawn from the seed."""
        preferred = prefer if prefer in KINDS else self.kinds[self.rng.randrange(len(self.kinds))]
        reason = self.tracker.refusal(preferred, phases, future)
        if not reason:
            return Choice(step_no, preferred, preferred)
        allowed = self.faithful(phases, future)
        kind = allowed[self.rng.randrange(len(allowed))]
        return Choice(step_no, kind, preferred, reason)


def trace_seed(seed: int, labels: Sequence[str]) -> int:
    """The planner's seed for one trace: from the run's seed and the trace's
    steps, so traces with the same first steps still get different kinds,
    and a trace gets the same kinds whatever its file is called."""
    digest = hashlib.sha256(f"{seed}|{' '.join(labels)}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
