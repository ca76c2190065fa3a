"""A real solver time-out is an open cell with its reason, never a proof and
never a traceback (issue 12, item 4)."""

import os

from sessionfence.model import check, variant_file

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "release_snapshot.py")


def test_a_spacer_time_out_leaves_the_cell_open_and_says_why():
    # The worked change's safety holds, but only Spacer proves it (the
    # invariants it inherits do not, nor does k-induction): with 1 ms Spacer
    # cannot, and the cell must not read "proved".
    (variant,) = variant_file.load(EXAMPLE)
    prop = "safety"
    full = [r for r in check.verify(variant, 2, properties=(prop,)) if r.property == prop]
    assert [r.method for r in full] == ["spacer"]  # else this test no longer tests a time-out
    (r,) = [r for r in check.verify(variant, 2, properties=(prop,), spacer_timeout_s=0.001,
                                    depth=6) if r.property == prop]
    assert r.status in ("bounded", "unknown"), r
    assert "Spacer gave no answer" in r.note or "Z3 answered unknown" in r.note
    assert not r.ok  # "holds" needs a proof
