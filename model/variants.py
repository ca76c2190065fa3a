"""The fence designs of the brief, each a short declaration (design.py).

Each variant names its state, its rules, and what happens at each check
point. The four designs below share one layout (`_brief_points`): a check
at reacquire and before every write section, a snapshot at release, and
`on_finish` after an owned write; they differ in the rules and in where
else they check.

The brief says `begin_write` from `held` "checks"; every design here does
(the model before the open model did not for the first three; SPIN's peer
model does). docs/model.md records that change.

A maintainer checks a change by deriving a variant (`Variant.derive`); see
docs/checking-a-fence-change.md. The designs upstream tried later are in
`upstream.py`.
"""

from __future__ import annotations

from sessionfence.model import state as S
from sessionfence.model.design import (
    PROPERTIES, VERDICTS, Check, Expectations, Fail, Variant, variant,
)
from sessionfence.model.expr import NO_FP, Mode, conj, ite


def _none(c):
    return {}


def _fence_is_file(c):
    return {"fence": S.file}


def _brief_points(*, check_at_release: bool = False, before_ok: bool = False,
                  write_ok: bool = False) -> dict:
    """The brief's step layout: `check` wherever the brief checks."""
    at_release = [Check("check"), "on_accept", "on_release"] if check_at_release \
        else ["on_release"]
    return {
        "start": ["start"],
        "release": at_release,
        "reacquire": [Check("check"), "on_accept"],
        "begin_write:released": [Check("check"), "on_accept"],
        "begin_write:held": [Check("check"), "on_accept"],
        "read_before": [Check("before_ok")] if before_ok else [],
        "finish_write": [Check("write_ok"), "on_finish"] if write_ok else ["on_finish"],
    }


# -- strict-fingerprint: accept only the fingerprint saved at release -------

STRICT = variant(
    "strict-fingerprint",
    "on reacquire, accept only if the file equals the fingerprint saved at release",
    state=(S.fence,),
    rules=dict(start=_fence_is_file, check=lambda c: S.file == S.fence[c], on_accept=_none,
               on_release=_fence_is_file, on_finish=_fence_is_file),
    points=_brief_points(),
    expected={"released-safety": "holds", "safety": "violated", "precision": "violated"},
    # A same-size rewrite that stat cannot see, while released, is accepted.
    expected_when=[({"fingerprint": "stat"}, {"released-safety": "violated"}),
                   ({"fingerprint": "stat", "timestamps": "multigrain"},
                    {"released-safety": "holds"}),
                   ({"aba": "history"}, {"released-safety": "violated"})],
    # It never consults anything but its own fingerprint: a peer's write is
    # never accepted (that is the original bug report).
    unreachable=frozenset({"peer-write-accepted"}),
    invariants="strict-fingerprint",  # its released-safety (invariants.py)
)


# -- broad-publication: publish after every locked section ------------------


def _owned_newer(c):
    return conj(S.reg_fp == S.file, S.reg_gen > S.k_gen[c])


def _track_registry(c):
    return {"fence": S.file, "k_gen": S.reg_gen}


BROAD = variant(
    "broad-publication",
    "publish the post-section fingerprint after every locked section; "
    "a released controller accepts the latest owned fingerprint of a newer generation",
    state=(S.fence, S.k_gen, S.reg_gen, S.reg_fp),
    rules=dict(start=_track_registry, check=lambda c: (S.file == S.fence[c]) | _owned_newer(c),
               on_accept=_track_registry, on_release=_track_registry,
               on_finish=lambda c: {"reg_gen": S.reg_gen + 1, "reg_fp": S.file,
                                    "fence": S.file, "k_gen": S.reg_gen + 1}),
    points=_brief_points(),
    expected={"released-safety": "violated", "safety": "violated", "precision": "holds"},
    invariants="broad-publication",  # its precision (invariants.py)
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


NARROW = variant(
    "narrow-publication",
    "publish only from transcript-append sections whose pre-write fingerprint "
    "is trusted (trust on first use at the first release); other sections only "
    "refresh the writer's own fence",
    state=(S.fence, S.k_gen, S.reg_gen, S.reg_fp, S.trusted),
    rules=dict(start=_track_registry, check=BROAD.rules["check"], on_accept=_track_registry,
               on_release=lambda c: {"trusted": ite(S.trusted == NO_FP, S.file, S.trusted),
                                     "fence": S.file, "k_gen": S.reg_gen},
               on_finish=_narrow_finish),
    points=_brief_points(),
    expected={"released-safety": "violated", "safety": "violated", "precision": "violated"},
    # With the write section atomic w.r.t. the external writer, the pre-write
    # read and the post-write read can no longer straddle an external edit --
    # unless files can be deleted: a missing file trusted on first use is
    # trusted again after a second deletion (ABA), and the publication that
    # follows launders it (docs/model.md has the trace).
    expected_when=[({"atomic_writes": True, "deletes": False}, {"released-safety": "holds"})],
)


# -- reference: epoch-chained registry of validated owned writes ------------


def _registry_matches(c):
    return conj(S.reg_epoch == S.k_epoch[c], S.reg_gen >= S.k_gen[c], S.reg_fp == S.file)


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
    return {"k_gen": ite(via, S.reg_gen, S.k_gen[c]), "fence": ite(via, S.reg_fp, S.fence[c])}


def _reference_write_ok(c):
    # The file is exactly `before` plus our bytes, and the registry still holds
    # the state we extended (compare-and-set on the publication).
    return conj(S.landed[c], S.file == S.mine[c], S.reg_epoch == S.k_epoch[c],
                S.reg_gen == S.k_gen[c], S.reg_fp == S.before[c])


REFERENCE = variant(
    "reference",
    "epoch-chained owned-state registry; every owned write is validated "
    "(file = before + our bytes) and then published; checks at release, "
    "reacquire and before every write",
    state=(S.fence, S.k_epoch, S.k_gen, S.reg_epoch, S.reg_gen, S.reg_fp, S.next_epoch),
    rules=dict(start=_reference_start, check=lambda c: (S.file == S.fence[c]) | _registry_matches(c),
               on_accept=_reference_accept, on_release=_none,
               before_ok=lambda c: S.file == S.fence[c], write_ok=_reference_write_ok,
               on_finish=lambda c: {"reg_gen": S.reg_gen + 1, "reg_fp": S.file,
                                    "k_gen": S.reg_gen + 1, "fence": S.file}),
    points=_brief_points(check_at_release=True, before_ok=True, write_ok=True),
    expected={"released-safety": "holds", "safety": "holds", "precision": "holds"},
    # Stat fingerprints cannot see a same-size rewrite with mtime kept: the
    # documented limits of stat mode (docs/impl.md), as counterexamples.
    expected_when=[({"fingerprint": "stat"}, {"released-safety": "violated", "safety": "violated"})],
    invariants="reference",
)


BRIEF: dict[str, Variant] = {v.name: v for v in (STRICT, BROAD, NARROW, REFERENCE)}
BUILTIN: dict[str, Variant] = dict(BRIEF)

# The designs upstream shipped or proposed later (upstream.py) are built in too.
from sessionfence.model.upstream import UPSTREAM  # noqa: E402  (it derives from the above)

BUILTIN.update(UPSTREAM)


class UnknownVariant(KeyError):
    pass


def get(name: str) -> Variant:
    try:
        return BUILTIN[name]
    except KeyError:
        raise UnknownVariant(
            f"unknown variant {name!r}; known variants: {', '.join(BUILTIN)}"
        ) from None


__all__ = ["BRIEF", "BROAD", "BUILTIN", "Check", "Expectations", "Fail", "NARROW", "PROPERTIES",
           "REFERENCE", "STRICT", "VERDICTS", "Variant", "get", "variant"]
