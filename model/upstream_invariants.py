"""Inductive invariants for the safe cells of upstream's designs (upstream.py).

Each set proves one cell the way the reference's set proves its three: Z3
shows every invariant holds initially and is kept by every transition, and
that together they rule out the cell's bad event. Words as in
invariants.py: a *clean* controller is alive with no external write seen.

* precision of the content-aware designs: a clean, active controller's
  snapshot still describes the file (same inode, nothing rewritten, no
  foreign line, not shorter), so its check passes;
* released-safety of strict-refresh in digest mode: whatever a controller
  fences is the content it last vouched for (`seen`), so an accept after an
  edit it never adopted is impossible -- the refresh *adopts* the edit
  instead, which is a `safety` violation.
"""

from __future__ import annotations

from sessionfence.model import invariants as INV
from sessionfence.model import state as S
from sessionfence.model.expr import MISSING, Phase, conj, disj, forall, implies
from sessionfence.model.machine import alive, writing


def _clean_active(active, d):
    return conj(alive(d), ~S.ext_alive[d], active[d])


def _released_active(active) -> INV.Invariant:
    return INV.Invariant(
        "released-is-active",
        "a released controller, or one writing in a section it took the lock for, has an "
        "active fence (it released once)",
        forall(lambda d: implies(disj(S.phase[d] == Phase.released, conj(writing(d), S.took[d])),
                                 active[d])))


def _idle_inactive(active) -> INV.Invariant:
    return INV.Invariant("idle-inactive", "a controller that has not started has no active fence",
                         forall(lambda d: implies(S.phase[d] == Phase.idle, ~active[d])))


MISSING_BOTH = INV.Invariant(
    "missing-in-both", "the fingerprint says the file is missing exactly when its content does",
    (S.file == MISSING) == (S.content == MISSING))


def _file_present() -> INV.Invariant:
    return INV.CLEAN_FILE_PRESENT


def snapshot_sets(active, snap) -> dict:
    """Invariant sets over upstream.py's `active` and snapshot handles."""
    validated = INV.Invariant(
        "clean-snapshot-validates",
        "a clean active controller's release snapshot has the file's inode, head and "
        "foreign-line version, is not longer than the file, and the file is its fence "
        "or has grown since",
        forall(lambda d: implies(_clean_active(active, d), conj(
            S.ino == snap.ino[d], S.head == snap.head[d], S.plain == snap.plain[d],
            S.size >= snap.size[d], disj(S.file == S.fence[d], S.size > snap.size[d])))))
    tail = INV.Invariant(
        "clean-tail-intact",
        "a clean active controller's fingerprint has the file's inode and tail and is "
        "not longer than the file",
        forall(lambda d: implies(_clean_active(active, d), conj(
            S.ino == snap.ino[d], S.cut == snap.cut[d], S.size >= snap.size[d]))))
    benign = INV.Invariant(
        "clean-benign-advance",
        "a clean active controller's snapshot has the file's inode and foreign-line "
        "version, is not longer than the file, and the file is its fence or has grown since",
        forall(lambda d: implies(_clean_active(active, d), conj(
            S.ino == snap.ino[d], S.plain == snap.plain[d], S.size >= snap.size[d],
            disj(S.file == S.fence[d], S.size > snap.size[d])))))
    base = (_released_active(active), _idle_inactive(active), _file_present())
    return {
        "upstream-validate-on-assert": base + (validated,),
        "upstream-tail-digest": base + (tail,),
        "upstream-benign-advance": base + (benign,),
    }


SEEN = INV.Invariant(
    "fence-is-seen",
    "if the file is a live controller's fence, its content is the one the controller "
    "last accepted or adopted",
    forall(lambda d: conj(implies(conj(alive(d), S.file == S.fence[d]), S.content == S.seen[d]),
                          implies(conj(alive(d), S.fence[d] == MISSING), S.seen[d] == MISSING))))


WROTE = INV.Invariant(
    "writer-moved-file",
    "after its append a writer finds a file other than the one it read, or none",
    forall(lambda d: implies(S.phase[d] == Phase.write_after,
                             disj(S.file != S.before[d], S.file == MISSING))))


def register(active, snap) -> None:
    INV.SETS.update(snapshot_sets(active, snap))
    INV.SETS["upstream-strict-refresh"] = (MISSING_BOTH, WROTE, SEEN)


__all__ = ["SEEN", "register", "snapshot_sets"]
