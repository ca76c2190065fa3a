"""A fence change that needs a rule per check point: a stricter release check.

The reference runs one `check` everywhere. This change checks at release
with the strict rule alone (the file is exactly the fence: while the
controller holds the lock, no peer can have written), and keeps the
registry-aware check at reacquire and before writes.

    sessionfence verify --variant-file examples/release_check_is_strict.py

The checker proves it safe and precise.
"""

from sessionfence.model import Check, builtin
from sessionfence.model import state as S

VARIANT = builtin("reference").derive(
    "reference-strict-release-check",
    summary="release checks file = fence only; reacquire and writes keep the registry check",
    points={"release": [Check(lambda c: S.file == S.fence[c]), "on_accept"]},
)
