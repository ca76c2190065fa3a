"""Inductive invariants that prove the reference design.

Each invariant is a named formula with its meaning in plain words. The
checker proves that every one holds initially and is preserved by every
transition (one obligation per invariant set x transition, so a failure names
the step), and that together they rule out each property's bad event.

Words used below: a controller is *alive* while held, released or writing;
it is *exposed* (`ext_alive`) once an external write happened while it was
alive, and *clean* otherwise. The proof's idea: a clean controller always
belongs to the current registry epoch and the registry always describes the
file whenever no write section is open, so every check it makes passes
(precision); an exposed controller's fence and epoch always lag the file,
because fingerprints are fresh and nobody can publish in its epoch any more,
so every check it makes fails (safety).
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionfence.model import state as S
from sessionfence.model.expr import (
    MISSING, NOBODY, Expr, Phase, conj, disj, forall, implies, variables_of,
)
from sessionfence.model.machine import alive, writing


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

SHARED = (
    _inv("lock-owner",
         "a controller holds the lock exactly when it is held or inside a write section",
         forall(lambda d: (S.holder == d) == (S.phase[d].isin(
             (Phase.held, Phase.write_before, Phase.write_append, Phase.write_after))))),
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
    # -- clean controllers: the registry tells the truth -------------------
    _inv("clean-file-present",
         "while a clean controller lives, the file exists (only an external edit deletes it)",
         forall(lambda d: implies(_clean(d), S.file != MISSING))),
    _inv("clean-in-current-epoch",
         "a clean controller belongs to the registry's current epoch",
         forall(lambda d: implies(_clean(d), S.k_epoch[d] == S.reg_epoch))),
    _inv("clean-registry-when-free",
         "while a clean controller lives and the lock is free, the registry's fingerprint is the file",
         forall(lambda d: implies(conj(_clean(d), S.holder == NOBODY), S.reg_fp == S.file))),
    _inv("clean-registry-when-held",
         "while a clean controller lives and some controller holds the lock outside "
         "a write section, the registry's fingerprint is the file",
         forall(lambda d, e: implies(conj(_clean(d), S.phase[e] == Phase.held),
                                     S.reg_fp == S.file), arity=2)
         & forall(lambda d: implies(conj(_clean(d), S.phase[d] == Phase.held),
                                    S.reg_fp == S.file))),
    _inv("clean-writers-only",
         "while a clean controller lives, whoever is writing is clean too",
         forall(lambda d, e: implies(conj(_clean(d), writing(e)), ~S.ext_alive[e]), arity=2)),
    # -- the writer's section, step by step --------------------------------
    _inv("clean-writer-knows-file",
         "a clean writer before read_before knows the file and the registry exactly",
         forall(lambda d: implies(conj(S.phase[d] == Phase.write_before, ~S.ext_alive[d]),
                                  conj(S.fence[d] == S.file, S.reg_fp == S.file, _current(d))))),
    _inv("clean-writer-read-file",
         "a clean writer before append read the file it knows, and nothing changed since",
         forall(lambda d: implies(conj(S.phase[d] == Phase.write_append, ~S.ext_alive[d]),
                                  conj(S.before[d] == S.file, S.fence[d] == S.file,
                                       S.reg_fp == S.file, _current(d))))),
    _inv("clean-writer-extended-file",
         "a clean writer after append extended exactly the file it read, and nothing changed since",
         forall(lambda d: implies(conj(S.phase[d] == Phase.write_after, ~S.ext_alive[d]),
                                  conj(S.landed[d], S.mine[d] == S.file,
                                       S.before[d] == S.fence[d], S.reg_fp == S.before[d],
                                       _current(d))))),
    # -- exposed controllers: everything they know is stale ----------------
    _inv("exposed-fence-stale",
         "an exposed controller's fence is older than the file",
         forall(lambda d: implies(
             conj(_exposed(d), S.phase[d].isin((Phase.held, Phase.released, Phase.write_before))),
             _stale(S.fence[d])))),
    _inv("exposed-read-stale",
         "an exposed writer before append read a file that has changed since",
         forall(lambda d: implies(conj(S.phase[d] == Phase.write_append, S.ext_alive[d]),
                                  _stale(S.before[d])))),
    _inv("exposed-write-invalid",
         "an exposed writer after append did not extend the file it read, or the file changed since",
         forall(lambda d: implies(conj(S.phase[d] == Phase.write_after, S.ext_alive[d]),
                                  (~S.landed[d]) | _stale(S.mine[d])))),
    _inv("exposed-epoch-dead",
         "if an exposed controller's epoch is still the registry's, the registry lags the file",
         forall(lambda d: implies(conj(_exposed(d), S.k_epoch[d] == S.reg_epoch),
                                  _stale(S.reg_fp)))),
    _inv("epochs-separate",
         "an exposed and a clean controller never share an epoch",
         forall(lambda d, e: implies(conj(_exposed(d), _clean(e)),
                                     S.k_epoch[d] != S.k_epoch[e]), arity=2)),
)

REFERENCE = SHARED + _FILE_COUNTS + REFERENCE_OWN  # as for the brief's world
SETS = {"reference": REFERENCE_OWN}


def for_machine(machine, own: tuple = ()) -> list:
    """The shared facts that fit `machine`, its freshness facts, and `own`."""
    return [i for i in SHARED + fresh_facts(machine) + tuple(own) if fits(machine, i)]


def fits(machine, inv: Invariant) -> bool:
    """Does `machine` have every variable `inv` talks about?"""
    return variables_of(inv.formula) <= {v.name for v in machine.vars}
