"""A fence change to check: validate an owned write by size arithmetic only.

The reference's finish_write checks that the file is exactly `before` plus
our bytes: nothing landed between read_before and append (`landed`), and
nothing after it (`file = mine`). Reading the whole prefix is what makes
digest mode expensive, so this change keeps only the second half: "the file
ends with our append". Is it still safe?

    sessionfence verify --variant-file examples/size_only_validation.py
"""

from sessionfence.model import builtin, conj
from sessionfence.model import state as S

VARIANT = builtin("reference").derive(
    "reference-size-only-validation",
    summary="finish_write accepts the file if it ends with our append (no check of the base)",
    write_ok=lambda c: conj(
        S.file == S.mine[c],
        S.reg_epoch == S.k_epoch[c],
        S.reg_gen == S.k_gen[c],
        S.reg_fp == S.before[c],
    ),
)
