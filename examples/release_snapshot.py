"""A fence change that needs a new state variable: a snapshot at release.

The reference checks at release and then records nothing. This change keeps
its own snapshot of the file, taken *after* the release check passed, in a
new per-controller variable `snap`, and lets reacquire accept the file if it
is still exactly that snapshot (besides what the reference accepts).

    sessionfence verify --variant-file examples/release_snapshot.py

The checker proves it safe and precise: after a passing check `snap` is
the fence the controller already trusts, so the new disjunct accepts
nothing new.
"""

from sessionfence.model import Check, builtin, conj
from sessionfence.model import state as S

snap = S.per_ctrl("snap", "fp", doc="the file as the controller left it at release")


def snapshot(c):
    return {"snap": S.file}


def check_with_snapshot(c):
    registry = conj(S.reg_epoch == S.k_epoch[c], S.reg_gen >= S.k_gen[c], S.reg_fp == S.file)
    return (S.file == S.fence[c]) | (S.file == snap[c]) | registry


VARIANT = builtin("reference").derive(
    "reference-release-snapshot",
    summary="a snapshot taken after the release check; reacquire also accepts it",
    state=(snap,),
    points={
        # the check first, then the snapshot: the order is the step's order
        "release": [Check("check"), "on_accept", "on_release", snapshot],
        "reacquire": [Check(check_with_snapshot), "on_accept"],
    },
)
