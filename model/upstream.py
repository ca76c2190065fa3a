"""The fence designs upstream shipped or proposed after the brief's four.

Each is a short declaration of the rules in upstream-designs.md §1.1-1.7,
with the facts of §0 that every upstream version shares:

* the fence is *active* only after the first release: before it, a write
  section begun from `held` does no check (and records nothing); after it,
  every section checks, the ones begun from `held` too;
* a takeover in a section that reused the held prompt lock keeps the lock
  until `dispose` (before #93740): `Fail(keep_held_lock=True)`;
* a plain (non-publishing) locked section refreshes the writer's own fence
  to the file after its body if it changed (`refresh`): a foreign write
  inside the body is adopted (windows W4/W5);
* takeover is sticky: the model's `taken_over` phase is terminal.

Modelling choices the text leaves open are comments at the rule that makes
them, and docs/model.md ("Upstream's designs") lists them. The ones every
design here shares:

* `begin_write` mode `publish` is the design's transcript append: a
  publication section (§1.4, §1.6, §1.7), or the runtime's raw message
  append outside any locked section (§1.1, §1.5: no fence check; the model
  still takes the session lock for it, which serialises it with peers'
  sections but not with the external writer); `broad` and `cleanup` are
  plain locked sections.
* A lock-acquire timeout (a takeover, §0) is not modelled: the model's
  acquire waits; a timeout would be a takeover without an external write
  in every design alike.
* After a takeover upstream's cleanup runs with a no-op lock; the model's
  taken-over controller does nothing more (its cleanup is not a write
  section here).
* A snapshot taken in one step is atomic: "stat, read, stat again; if the
  stats differ, null" (§1.2) and "re-read the snapshot" (§1.6) cannot see a
  write in the middle of the step (those windows are not modelled).

`writer-claim` (§1.8) is not a variant: see docs/upstream-designs.md for why
the open model cannot express it cleanly.
"""

from __future__ import annotations

from sessionfence.model import state as S
from sessionfence.model import upstream_invariants
from sessionfence.model.design import Check, Fail, Variant, variant
from sessionfence.model.expr import NO_FP, Mode, conj, ite
from sessionfence.model.world import (
    appended_runtime_like, grew, not_shrunk, prefix_intact, same_inode, tail_intact,
)

active = S.per_ctrl("active", "bool", False,
                    "the fence is active: set by the controller's first release (§0)")
snap = S.snapshot("snap", "the release-time snapshot")
upstream_invariants.register(active, snap)
gate = S.per_ctrl("gate", "bool", False,
                  "post-message-publication: the gate passed at the `before` capture")

KEEP = Fail(keep_held_lock=True)  # §0: a section on the held prompt lock keeps it
# Every expectation is declared for both fingerprint modes: these designs
# accept by content (or not at all), so stat's blind spot adds no verdict.
BOTH_MODES = ("digest", "stat")


def _expect(released_safety: str, safety: str, precision: str):
    verdicts = {"released-safety": released_safety, "safety": safety, "precision": precision}
    return verdicts, [({"fingerprint": fp}, dict(verdicts)) for fp in BOTH_MODES]


# -- shared pieces -----------------------------------------------------------


def _fence_active(c):
    return active[c]


def _locked_section(c):
    return S.mode[c] != Mode.publish


def _changed(c):
    return S.file != S.before[c]


def _refresh(c):
    """§0: a plain section adopts whatever is on disk after its body."""
    return {"fence": ite(_changed(c), S.file, S.fence[c])}


def _points(*, raw_publish: bool = False, read_before=(), finish=("on_finish",),
            start=("start",)) -> dict:
    """Upstream's layout: check at reacquire and at every section once active
    (a raw append, when `raw_publish`, never checks); a snapshot at release."""
    released_when = "locked_section" if raw_publish else None
    return {
        "start": list(start),
        "release": ["on_release"],
        "reacquire": [Check("check", then="on_accept")],
        "begin_write:released": [Check("check", when=released_when, then="on_accept")],
        "begin_write:held": [Check("check", when="checks_when_held", fail=KEEP,
                                   then="on_accept")],
        "read_before": list(read_before),
        "finish_write": list(finish),
    }


def _shared_rules(*, raw_publish: bool = False) -> dict:
    when_held = (lambda c: conj(active[c], _locked_section(c))) if raw_publish \
        else _fence_active
    return dict(locked_section=_locked_section, checks_when_held=when_held)


# -- 1.1 strict-refresh ---------------------------------------------------------


def _strict_refresh_finish(c):
    # refreshAfterOwnedSessionWrite after a raw append: unconditional.
    raw = S.mode[c] == Mode.publish
    return {"fence": ite(raw, S.file, _refresh(c)["fence"])}


STRICT_REFRESH = variant(
    "strict-refresh",
    "strict-fingerprint, and after a raw owned append (no lock check) the fence "
    "is set to the file unconditionally (refreshAfterOwnedSessionWrite)",
    state=(S.fence, active),
    rules=dict(start=lambda c: {"fence": S.file},
               check=lambda c: S.file == S.fence[c],
               on_accept=lambda c: {},
               on_release=lambda c: {"fence": S.file, "active": True},
               on_finish=_strict_refresh_finish,
               **_shared_rules(raw_publish=True)),
    points=_points(raw_publish=True),
    # The refresh *adopts* what landed before the raw append (a `safety`
    # violation at finish_write); the check that follows accepts content the
    # controller already vouched for, so in digest mode `released-safety`
    # holds (proved with `fence-is-seen`). Stat mode adds the blind rewrite.
    expected={"released-safety": "holds", "safety": "violated", "precision": "violated"},
    # With multigrain timestamps the rewrite is invisible only inside a
    # holder's own write window, where no controller is `released` to be
    # exposed by it: as for strict-fingerprint, released-safety holds again.
    expected_when=[({"fingerprint": "digest"}, {"released-safety": "holds"}),
                   ({"fingerprint": "stat"}, {"released-safety": "violated"}),
                   ({"fingerprint": "stat", "timestamps": "multigrain"},
                    {"released-safety": "holds"})],
    invariants="upstream-strict-refresh",
    # As strict-fingerprint, it never consults anything but its own fence.
    unreachable=frozenset({"peer-write-accepted"}),
)


# -- 1.2 validate-on-assert ------------------------------------------------------


def _validated(c):
    # Same inode, grown, SHA-256 of [0, old size) equal, every appended line a
    # well-formed session entry (a forged line is one).
    return conj(same_inode(snap, c), grew(snap, c), prefix_intact(snap, c),
                appended_runtime_like(snap, c))


VALIDATE_ON_ASSERT = variant(
    "validate-on-assert",
    "accept the fingerprint saved at release, or a same-inode growth whose old "
    "bytes hash as at release and whose appended lines are session entries",
    state=(S.fence, active) + snap.vars,
    rules=dict(start=lambda c: {"fence": S.file},
               check=lambda c: (S.file == S.fence[c]) | _validated(c),
               # A validated file is accepted, not recorded: the snapshot stays
               # the release-time one until the next release (the text says
               # nothing of a refresh on accept).
               on_accept=lambda c: {},
               on_release=lambda c: {"fence": S.file, "active": True, **snap.take()},
               on_finish=_refresh,
               **_shared_rules()),
    points=_points(),
    expected=_expect("violated", "violated", "holds")[0],
    expected_when=_expect("violated", "violated", "holds")[1],
    invariants="upstream-validate-on-assert",
)


# -- 1.3 tail-digest -----------------------------------------------------------------


def _tail_ok(c):
    return conj(same_inode(snap, c), not_shrunk(snap, c), tail_intact(snap, c))


def _tail_refresh(c):
    # The fingerprint is (stat, tail digest): refreshing it takes both.
    return {**_refresh(c), **snap.take(when=_changed(c))}


TAIL_DIGEST = variant(
    "tail-digest",
    "the fingerprint adds a digest of the last bytes; on mismatch accept a "
    "same-inode file that did not shrink and whose old tail still hashes the same",
    state=(S.fence, active) + snap.vars,
    rules=dict(start=lambda c: {"fence": S.file, **snap.take()},
               check=lambda c: (S.file == S.fence[c]) | _tail_ok(c),
               on_accept=lambda c: {},  # as strict-fingerprint: the fence stays
               on_release=lambda c: {"fence": S.file, "active": True, **snap.take()},
               on_finish=_tail_refresh,
               **_shared_rules()),
    points=_points(),
    expected=_expect("violated", "violated", "holds")[0],
    expected_when=_expect("violated", "violated", "holds")[1],
    invariants="upstream-tail-digest",
)


# -- 1.4 publication-gated-own-fence (#84250 as merged) -----------------------------


def _owned_match(c):
    return conj(S.reg_fp == S.file, S.reg_gen > S.k_gen[c])


def _track(c):
    return {"fence": S.file, "k_gen": S.reg_gen}


def _gated_release(c):
    # trusted is seeded on first use at the first release (of any controller).
    return {"trusted": ite(S.trusted == NO_FP, S.file, S.trusted), "fence": S.file,
            "k_gen": S.reg_gen, "active": True}


def _gated_finish(c):
    publication = S.mode[c] == Mode.publish
    publishes = conj(publication, _changed(c), S.before[c] == S.trusted)
    # An untrusted `before` publishes nothing and leaves the writer's own
    # fence where it was: the writer fails its own next check.
    keep = conj(publication, ~publishes)
    return {
        "reg_gen": ite(publishes, S.reg_gen + 1, S.reg_gen),
        "reg_fp": ite(publishes, S.file, S.reg_fp),
        "trusted": ite(publishes, S.file, S.trusted),
        "fence": ite(publishes, S.file, ite(keep, S.fence[c], _refresh(c)["fence"])),
        "k_gen": ite(publishes, S.reg_gen + 1, S.k_gen[c]),
    }


_GATED_STATE = (S.fence, S.k_gen, S.reg_gen, S.reg_fp, S.trusted, active)
_GATED_RULES = dict(start=_track, check=lambda c: (S.file == S.fence[c]) | _owned_match(c),
                    on_accept=_track, on_release=_gated_release, on_finish=_gated_finish,
                    **_shared_rules())

PUBLICATION_GATED = variant(
    "publication-gated-own-fence",
    "narrow-publication with upstream's bookkeeping: a publication section publishes "
    "(gen + 1, after) iff after != before and before is trusted; an untrusted before "
    "publishes nothing and leaves the writer's fence; plain sections refresh their own fence",
    state=_GATED_STATE,
    rules=dict(_GATED_RULES),
    points=_points(),
    expected=_expect("violated", "violated", "violated")[0],
    expected_when=_expect("violated", "violated", "violated")[1],
)


# -- 1.5 post-message-publication (#86584 branch, openclaw@a50a6b) ----------------------


def _post_message_gate(c):
    # At the `before` capture (read_before: the stat right before the append):
    # 1. before = the active fence; 2. a benign advance from the release-time
    # snapshot to before (prefix byte-identical, appended lines runtime-like);
    # 3. before is trusted.
    # (Gate 2 names no inode comparison: a replaced file fails the byte
    # comparison of its prefix anyway, `head` moves.)
    benign = conj(prefix_intact(snap, c), appended_runtime_like(snap, c))
    ok = (S.before[c] == S.fence[c]) | benign | (S.before[c] == S.trusted)
    return {"gate": ite(S.mode[c] == Mode.publish, ok, False)}


def _post_message_finish(c):
    raw = S.mode[c] == Mode.publish
    # cur = stat; cur = before: stop; else recordOwned(cur), fence := cur.
    # Modelling choice: recordOwned is a publication, so it advances the
    # trusted fingerprint too (§1.4: only a publication advances it).
    records = conj(raw, gate[c], _changed(c))
    return {
        "reg_gen": ite(records, S.reg_gen + 1, S.reg_gen),
        "reg_fp": ite(records, S.file, S.reg_fp),
        "trusted": ite(records, S.file, S.trusted),
        "fence": ite(records, S.file, ite(raw, S.fence[c], _refresh(c)["fence"])),
        "k_gen": ite(records, S.reg_gen + 1, S.k_gen[c]),
        "gate": False,
    }


def _post_message_release(c):
    return {**_gated_release(c), **snap.take()}


POST_MESSAGE = variant(
    "post-message-publication",
    "publication-gated-own-fence, and the runtime's raw message append publishes "
    "itself if its pre-append stat equals the writer's fence, is a benign advance "
    "of the release snapshot, or is trusted (the fail-open refresh is not modelled)",
    state=_GATED_STATE + snap.vars + (gate,),
    rules=dict(_GATED_RULES, on_release=_post_message_release, on_finish=_post_message_finish,
               post_message_gate=_post_message_gate, **_shared_rules(raw_publish=True)),
    points=_points(raw_publish=True, read_before=("post_message_gate",)),
    expected=_expect("violated", "violated", "violated")[0],
    expected_when=_expect("violated", "violated", "violated")[1],
)


# -- 1.6 benign-advance (main after #84250) --------------------------------------------


def _benign(c):
    # Same inode, grown, every appended line runtime-like; the prefix is NOT
    # compared. (The 1 MiB bound and the trailing newline hold for every
    # modelled append. The "benign rewrite" branch -- earlier lines equal up
    # to id normalisation -- accepts a subset of this in the model: the model
    # has no edit that only renumbers ids.)
    return conj(same_inode(snap, c), grew(snap, c), appended_runtime_like(snap, c))


def _benign_accept(c):
    equal = S.file == S.fence[c]
    owned = conj(~equal, _owned_match(c))
    benign = conj(~equal, ~owned)
    return {"fence": S.file, "k_gen": ite(owned, S.reg_gen, S.k_gen[c]),
            **snap.take(when=benign)}  # benign: re-read the snapshot


BENIGN_ADVANCE = variant(
    "benign-advance",
    "publication-gated-own-fence whose check also accepts a benign advance: same "
    "inode, grown, appended lines runtime-like, prefix not compared; the snapshot "
    "and the fence then move to the file",
    state=_GATED_STATE + snap.vars,
    rules=dict(_GATED_RULES,
               check=lambda c: (S.file == S.fence[c]) | _owned_match(c) | _benign(c),
               on_accept=_benign_accept, on_release=_post_message_release),
    points=_points(),
    expected=_expect("violated", "violated", "holds")[0],
    expected_when=_expect("violated", "violated", "holds")[1],
    invariants="upstream-benign-advance",
)


# -- 1.7 file-owner (#87159) -------------------------------------------------------------


def _sole_attempt(c):
    # The process-wide owner of the path: no other attempt is between start
    # and its end. (A taken-over attempt ends: its `finally` disposes it.)
    from sessionfence.model.expr import forall
    from sessionfence.model.machine import alive

    return forall(lambda d: ~alive(d))


FILE_OWNER = BENIGN_ADVANCE.derive(
    "file-owner",
    summary="benign-advance, and a whole attempt (start ... its end) owns the path "
            "process-wide: a second attempt's start waits",
    points={"start": [Check(_sole_attempt, fail=Fail(action="wait")), "start"]},
    expected=BENIGN_ADVANCE.expected,  # both modes declared, as benign-advance's
)


UPSTREAM: dict[str, Variant] = {v.name: v for v in (
    STRICT_REFRESH, VALIDATE_ON_ASSERT, TAIL_DIGEST, PUBLICATION_GATED, POST_MESSAGE,
    BENIGN_ADVANCE, FILE_OWNER)}

__all__ = ["UPSTREAM", "active", "gate", "snap"]
