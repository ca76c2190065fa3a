"""A real solver time-out is an open cell with its reason, never a proof and
never a traceback (issue 12, item 4)."""

from sessionfence.model import check, variants


def test_a_spacer_time_out_leaves_the_cell_open_and_says_why():
    # broad-publication's precision holds, but only Spacer proves it: with
    # 1 ms Spacer cannot, and the cell must not read "proved".
    (r,) = [r for r in check.verify(variants.get("broad-publication"), 2, properties=("precision",),
                                    spacer_timeout_s=0.001, depth=6) if r.property == "precision"]
    assert r.status in ("bounded", "unknown"), r
    assert "Spacer gave no answer" in r.note or "Z3 answered unknown" in r.note
    assert not r.ok  # "holds" needs a proof
