"""A fence change that needs a new failure behaviour: keep the held lock.

Upstream, before #93740, a locked section that reused the held prompt lock
did not release it when it took over: the lock stayed held until `dispose`.
This change gives the reference that failure branch in every write section
begun from `held`.

    sessionfence verify --variant-file examples/keep_lock_on_takeover.py

The checker proves the three properties still hold (a takeover is still a
takeover, and nothing is accepted); what it costs is liveness -- peers wait
for the lock until the taken-over controller is disposed -- which the
implementation-level property `takeover-releases-lock` of the replay
reports.
"""

from sessionfence.model import Check, Fail, builtin

KEEP = Fail(keep_held_lock=True)

VARIANT = builtin("reference").derive(
    "reference-keeps-lock-on-takeover",
    summary="a takeover inside a section that reused the held lock keeps the lock until dispose",
    points={
        "begin_write:held": [Check("check", fail=KEEP), "on_accept"],
        "read_before": [Check("before_ok", fail=KEEP)],
        "finish_write": [Check("write_ok", fail=KEEP), "on_finish"],
    },
)
