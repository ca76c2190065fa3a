"""The fence model: one declaration of the state machine, checked with Z3.

For maintainers writing a variant file, the useful names are re-exported
here: `builtin` (a built-in variant to derive from), `state` (the variable
handles, `state.file`, `state.fence[c]`, ...), and the expression helpers.
"""

from sessionfence.model import state
from sessionfence.model.expr import NO_FP, NOBODY, Mode, Phase, conj, disj, implies, ite
from sessionfence.model.variants import BUILTIN, Variant
from sessionfence.model.variants import get as builtin

__all__ = [
    "BUILTIN",
    "Mode",
    "NOBODY",
    "NO_FP",
    "Phase",
    "Variant",
    "builtin",
    "conj",
    "disj",
    "implies",
    "ite",
    "state",
]
