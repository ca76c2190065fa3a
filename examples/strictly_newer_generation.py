"""A fence change to check: accept the registry only for a strictly newer generation.

    sessionfence verify --variant-file examples/strictly_newer_generation.py

The checker proves this change safe and precise: a controller that already
knows the registry's generation also knows its fingerprint, so the first
half of the check (`file = fence[c]`) accepts it.
"""

from sessionfence.model import builtin, conj
from sessionfence.model import state as S

VARIANT = builtin("reference").derive(
    "reference-strictly-newer-generation",
    summary="the registry vouches only for a generation newer than the one known",
    check=lambda c: (S.file == S.fence[c]) | conj(
        S.reg_epoch == S.k_epoch[c], S.reg_gen > S.k_gen[c], S.reg_fp == S.file),
)
