"""The fence model: one declaration of the state machine, checked with Z3.

For maintainers writing a variant file, the useful names are re-exported
here: `builtin` (a built-in variant to derive from), `variant` (declare one
from scratch), `Check` and `Fail` (what a check point does), `state` (the
variable handles `state.file`, `state.fence[c]`, ..., and `state.shared` /
`state.per_ctrl` to declare a design's own), `Kind` (external edits) and the
expression helpers.
"""

from sessionfence.model import state
from sessionfence.model.design import Check, Fail, variant
from sessionfence.model.expr import (
    EMPTY, MISSING, NO_FP, NOBODY, Kind, Mode, Phase, conj, disj, forall, implies, ite,
)
from sessionfence.model.variants import BUILTIN, Variant
from sessionfence.model.variants import get as builtin
from sessionfence.model.world import World

__all__ = [
    "BUILTIN",
    "Check",
    "EMPTY",
    "Fail",
    "Kind",
    "MISSING",
    "Mode",
    "NOBODY",
    "NO_FP",
    "Phase",
    "Variant",
    "World",
    "builtin",
    "conj",
    "disj",
    "forall",
    "implies",
    "ite",
    "state",
    "variant",
]
