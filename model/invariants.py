"""Inductive invariants that prove the reference design.

Each invariant is a named formula with its meaning in plain words. The
checker proves that every one holds initially and is preserved by every
transition (one obligation per invariant set x transition, so a failure names
the step), and that together they rule out each property's bad event.

Words used below: a controller is *alive* while held, released or writing;
it is *exposed* (`ext_alive`) once an external write happened while it was
alive, and *clean* otherwise. The registry is *live* when it describes the
file, or a write that extended exactly the registry's state is about to
publish; a controller is *in step* when it is alive, belongs to the
registry's epoch and the registry is live, and *out of step* otherwise.

The proof's idea: a clean controller is in step, so every check it makes
passes (precision); a controller out of step knows only stale fingerprints,
because fingerprints are fresh and nobody can publish in a dead epoch any
more, so every check it makes fails. With digest fingerprints every external
edit kills the registry's epoch (the file gets a fingerprint nobody
recorded), so an exposed controller is out of step (safety). With stat
fingerprints an edit they cannot see changes nothing the design knows: the
controllers it exposed stay in step, and only `exposed-out-of-step` fails,
which the checker's Houdini loop drops (`check.inductive_subset`); the rest
still proves precision.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionfence.model import state as S
from sessionfence.model.expr import (
    MISSING, NOBODY, Expr, Forall, Param, Phase, conj, disj, forall, implies, named,
    variables_of,
)
from sessionfence.model.machine import alive


@dataclass(frozen=True)
class Invariant:
    name: str
    words: str
    formula: Expr


def _clean(d):
    return conj(alive(d), ~S.ext_alive[d])


def _exposed(d):
    return conj(alive(d), S.ext_alive[d])


def _current(d):
    """d's known registry state is the registry's (same epoch and generation)."""
    return conj(S.k_epoch[d] == S.reg_epoch, S.k_gen[d] == S.reg_gen)


def _stale(x: Expr) -> Expr:
    """`x` is older than the file (or the file is gone: deleted since)."""
    return disj(x < S.file, S.file == MISSING)


def _inv(name, words, formula) -> Invariant:
    return Invariant(name, words, formula)


# Facts of the shared machine that do not depend on the fence design. Each
# variant keeps those that are inductive for it (`check.inductive_subset`);
# they serve as background lemmas for the automatic proofs, and open the
# reference's invariant set.
def _not_newer(name: str, top) -> Expr:
    var = getattr(S, name)
    if name in ("reg_fp", "trusted", "file"):
        return var <= top
    return forall(lambda d: var[d] <= top)


_FP_VARS = ("fence", "before", "mine", "reg_fp", "trusted")

_LOCK_USERS = (Phase.held, Phase.write_before, Phase.write_append, Phase.write_after)

SHARED = (
    _inv("lock-owner",
         "a controller holds the lock exactly when it is held or inside a write section",
         forall(lambda d: (S.holder == d) == S.phase[d].isin(_LOCK_USERS))),
    # The two halves of lock-owner, in the form that survives a design whose
    # takeover keeps the held lock until dispose (examples/keep_lock_on_takeover.py,
    # upstream's designs), where lock-owner itself is not inductive.
    _inv("lock-users-hold-it",
         "a controller that is held or inside a write section holds the lock",
         forall(lambda d: implies(S.phase[d].isin(_LOCK_USERS), S.holder == d))),
    _inv("lock-holder-in-use",
         "whoever holds the lock is held, inside a write section, or took over and kept it",
         forall(lambda d: implies(S.holder == d,
                                  S.phase[d].isin(_LOCK_USERS + (Phase.taken_over,))))),
    _inv("ghosts-start-clear",
         "a controller that has not started has seen no external write, and "
         "a write while released is also a write while alive",
         forall(lambda d: conj(
             implies(S.phase[d] == Phase.idle, ~S.ext_alive[d] & ~S.ext_released[d]),
             implies(S.ext_released[d], S.ext_alive[d])))),
)

# Fingerprints are fresh: nothing recorded is newer than the newest one
# handed out. Without a separate counter the file counts its own states;
# with one (deletions and stat-blind rewrites make the file stop counting)
# the counter does. `fresh_facts` picks the set that fits a machine.
_FILE_COUNTS = (
    _inv("file-issued", "the file's fingerprint is one handed out", S.file >= 0),
    *(_inv(f"no-future-{x}", f"{x} is not newer than the file", _not_newer(x, S.file))
      for x in _FP_VARS),
)
_CLOCK_COUNTS = (
    _inv("file-issued-or-missing", "the file's fingerprint is one handed out, or it is missing",
         conj(S.clock >= 0, disj(conj(S.file >= 0, S.file <= S.clock), S.file == MISSING))),
    *(_inv(f"no-future-{x}", f"{x} is not newer than the newest fingerprint",
           _not_newer(x, S.clock)) for x in _FP_VARS),
)


def fresh_facts(machine) -> tuple:
    return _CLOCK_COUNTS if machine.has("clock") else _FILE_COUNTS


def _pending(w):
    """w's write extended exactly the registry's state of its epoch and
    generation; only its publication is left."""
    return conj(S.phase[w] == Phase.write_after, S.landed[w], S.mine[w] == S.file,
                S.reg_fp == S.before[w], _current(w))


_W = Param("w", "ctrl")
# The registry is *live* when it describes the file, or a write that extended
# exactly the registry's state is about to publish (the holder, in
# write_after). A visible external edit ends that for good in the epoch: the
# file gets a fingerprint nobody recorded. An edit the fingerprint cannot see
# (stat mode) changes nothing the design knows, so it leaves the registry live.
LIVE = named("registry live", conj(S.file != MISSING,
                                   disj(S.reg_fp == S.file, ~Forall(_W, (), ~_pending(_W)))))


def _in_step(d):
    """d belongs to the registry's epoch and the registry is live."""
    return conj(alive(d), S.k_epoch[d] == S.reg_epoch, LIVE)


def _out_of_step(d):
    return conj(alive(d), ~_in_step(d))


REFERENCE_OWN = (
    # -- bookkeeping -------------------------------------------------------
    _inv("epochs-issued",
         "every live controller's epoch and the registry's epoch were issued already",
         conj(S.reg_epoch >= 0, S.reg_epoch < S.next_epoch,
              forall(lambda d: implies(alive(d), conj(S.k_epoch[d] >= 1,
                                                      S.k_epoch[d] < S.next_epoch))))),
    _inv("generations-only-grow",
         "a live controller of the registry's epoch has never seen a generation the registry has not",
         forall(lambda d: implies(conj(alive(d), S.k_epoch[d] == S.reg_epoch),
                                  S.k_gen[d] <= S.reg_gen))),
    _inv("known-files-exist",
         "what a live controller knows, and what a writer read, is a file that existed",
         conj(implies(S.reg_epoch >= 1, S.reg_fp >= 0),
              forall(lambda d: conj(implies(alive(d), S.fence[d] >= 0),
                               implies(S.phase[d].isin((Phase.write_append, Phase.write_after)),
                                       S.before[d] >= 0),
                               implies(S.phase[d] == Phase.write_after, S.mine[d] >= 0))))),
    # -- clean controllers are in step ---------------------------------------
    _inv("clean-in-step",
         "a clean controller is in step: it belongs to the registry's epoch, and the "
         "registry is live",
         forall(lambda d: implies(_clean(d), _in_step(d)))),
    # -- the writer's section, step by step, while the registry is live -----
    _inv("live-writer-knows-file",
         "while the registry is live, a writer before read_before knows the file and the "
         "registry exactly",
         forall(lambda d: implies(conj(LIVE, S.phase[d] == Phase.write_before),
                                  conj(S.fence[d] == S.file, S.reg_fp == S.file, _current(d))))),
    _inv("live-writer-read-file",
         "while the registry is live, a writer before append read the file it knows, and "
         "nothing changed since",
         forall(lambda d: implies(conj(LIVE, S.phase[d] == Phase.write_append),
                                  conj(S.before[d] == S.file, S.fence[d] == S.file,
                                       S.reg_fp == S.file, _current(d))))),
    _inv("live-writer-extended-file",
         "while the registry is live, a writer after append extended exactly the file it "
         "read, and nothing changed since",
         forall(lambda d: implies(conj(LIVE, S.phase[d] == Phase.write_after),
                                  conj(_pending(d), S.before[d] == S.fence[d])))),
    # -- controllers out of step: everything they know is stale --------------
    _inv("out-of-step-fence-stale",
         "the fence of a controller out of step is older than the file",
         forall(lambda d: implies(
             conj(_out_of_step(d), S.phase[d].isin((Phase.held, Phase.released, Phase.write_before))),
             _stale(S.fence[d])))),
    _inv("out-of-step-read-stale",
         "a writer out of step before append read a file that has changed since",
         forall(lambda d: implies(conj(_out_of_step(d), S.phase[d] == Phase.write_append),
                                  _stale(S.before[d])))),
    _inv("out-of-step-write-invalid",
         "a writer out of step after append did not extend the file it read, or the file "
         "changed since",
         forall(lambda d: implies(conj(_out_of_step(d), S.phase[d] == Phase.write_after),
                                  (~S.landed[d]) | _stale(S.mine[d])))),
    # -- digest fingerprints see every edit ----------------------------------
    _inv("exposed-out-of-step",
         "an exposed controller is out of step (not so with stat fingerprints: an edit they "
         "cannot see changes nothing the design knows)",
         forall(lambda d: implies(_exposed(d), ~_in_step(d)))),
)

REFERENCE = SHARED + _FILE_COUNTS + REFERENCE_OWN  # as for the brief's world


# broad-publication's precision: every section publishes the file it leaves,
# so a clean released controller always finds the file it knows, or a
# publication of it newer than the generation it knows. (Its safety cells are
# violated: an external edit is published as owned; nothing here is about them.)
def _broad_accepts(d):
    return disj(S.fence[d] == S.file, conj(S.reg_fp == S.file, S.reg_gen > S.k_gen[d]))


# Also in upstream's sets (upstream_invariants.py).
CLEAN_FILE_PRESENT = _inv(
    "clean-file-present",
    "while a clean controller lives, the file exists (only an external edit deletes it)",
    forall(lambda d: implies(_clean(d), S.file != MISSING)))

BROAD_OWN = (
    CLEAN_FILE_PRESENT,
    _inv("generations-published",
         "no live controller knows a generation the registry has not published",
         forall(lambda d: implies(alive(d), S.k_gen[d] <= S.reg_gen))),
    _inv("clean-holder-knows-file",
         "a clean controller that holds the lock outside a write section knows the file",
         forall(lambda d: implies(conj(_clean(d), S.phase[d] == Phase.held),
                                  S.fence[d] == S.file))),
    _inv("clean-released-finds-file",
         "while a clean controller is released and no write section is open, the file is "
         "the one it knows or a newer publication",
         forall(lambda d: implies(conj(_clean(d), S.phase[d] == Phase.released,
                                       S.holder == NOBODY), _broad_accepts(d)))
         & forall(lambda d, e: implies(conj(_clean(d), S.phase[d] == Phase.released,
                                            S.phase[e] == Phase.held), _broad_accepts(d)),
                  arity=2)),
)

def _settled(d):
    """d holds the lock outside a section, or is released, after an external
    write made while it was released (the states strict's check runs in)."""
    return conj(S.phase[d].isin((Phase.held, Phase.released)), S.ext_released[d])


# strict-fingerprint's released-safety: its fence is a fingerprint, and a
# fingerprint names one content. Fresh fingerprints never equal an old
# fence; only a deleted file recurs (every missing file is the same), and a
# controller that adopted a missing file has the missing content as `seen`.
STRICT_OWN = (
    _inv("missing-is-missing",
         "the file's fingerprint is missing exactly when its content is",
         (S.file == MISSING) == (S.content == MISSING)),
    _inv("exposed-fence-names-seen",
         "a controller exposed while released, held or released, whose fence is the file, "
         "has exactly the bytes it last accepted or adopted",
         forall(lambda d: implies(conj(_settled(d), S.file == S.fence[d]),
                                  S.content == S.seen[d]))),
    _inv("exposed-knows-missing",
         "a controller exposed while released, held or released, has a missing fence exactly "
         "when the content it last accepted or adopted was missing",
         forall(lambda d: implies(_settled(d),
                                  (S.fence[d] == MISSING) == (S.seen[d] == MISSING)))),
    _inv("released-fence-names-seen",
         "a released controller whose fence is the file has exactly the bytes it adopted",
         forall(lambda d: implies(conj(S.phase[d] == Phase.released, S.file == S.fence[d]),
                                  S.content == S.seen[d]))),
    _inv("released-knows-missing",
         "a released controller has a missing fence exactly when the content it adopted was "
         "missing",
         forall(lambda d: implies(S.phase[d] == Phase.released,
                                  (S.fence[d] == MISSING) == (S.seen[d] == MISSING)))),
    # Where no content recurs (no deletion, or the history reading) there is
    # no `seen`, and the fence simply lags.
    _inv("exposed-fence-lags",
         "a controller exposed while released, held or released, has a fence that is not the file",
         forall(lambda d: implies(_settled(d), S.file != S.fence[d]))),
    # ... so its check never passes again: it never gets the lock back.
    _inv("exposed-stays-out",
         "a controller exposed while released does not hold the lock (where no content recurs)",
         forall(lambda d: implies(S.ext_released[d], ~S.phase[d].isin(_LOCK_USERS)))),
)

SETS = {"reference": REFERENCE_OWN, "broad-publication": BROAD_OWN,
        "strict-fingerprint": STRICT_OWN}


def for_machine(machine, own: tuple = ()) -> list:
    """The shared facts that fit `machine`, its freshness facts, and `own`."""
    return [i for i in SHARED + fresh_facts(machine) + tuple(own) if fits(machine, i)]


def fits(machine, inv: Invariant) -> bool:
    """Does `machine` have every variable `inv` talks about?"""
    return variables_of(inv.formula) <= {v.name for v in machine.vars}
