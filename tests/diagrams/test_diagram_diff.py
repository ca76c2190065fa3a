"""The diff picture highlights exactly the transitions whose rules differ."""

from __future__ import annotations

import pytest

from diagram_dot import parse, unwrap
from sessionfence.cli import main
from sessionfence.diagrams.diff import diff_graph
from sessionfence.model import pretty
from sessionfence.model import state as S
from sessionfence.model.machine import build
from sessionfence.model.variants import BUILTIN


def expected_changes(old, new) -> dict:
    """Computed from the transitions directly, not with the diff module:
    key -> "changed" | "added" | "removed"."""
    def full(t):
        effects = [pretty.assignment(a, short=False) for a in t.assigns if a.var != "phase"]
        return pretty.text(t.condition, short=False), effects

    a = {t.key: full(t) for t in old.transitions}
    b = {t.key: full(t) for t in new.transitions}
    out = {k: "removed" for k in a if k not in b}
    out.update({k: "added" for k in b if k not in a})
    out.update({k: "changed" for k in a if k in b and a[k] != b[k]})
    return out


def highlighted(old, new) -> dict:
    d = parse(diff_graph(old, new).source())
    prefix = f"diff-{old.variant.name}-{new.variant.name}:"
    out = {}
    for _, _, attrs in d.edges:
        classes = d.classes(attrs)
        if "transition" in classes and "differs" in classes:
            (kind,) = {"changed", "added", "removed"} & classes
            out[attrs["id"][len(prefix):]] = kind
    return out


@pytest.mark.parametrize("name", ["narrow-publication", "broad-publication",
                                  "strict-fingerprint"])
def test_builtin_against_reference_highlights_exactly_the_differing_rules(name):
    old, new = build(BUILTIN["reference"]), build(BUILTIN[name])
    want = expected_changes(old, new)
    assert highlighted(old, new) == want
    all_keys = {t.key for t in old.transitions} | {t.key for t in new.transitions}
    d = parse(diff_graph(old, new).source())
    assert len([e for e in d.edges if "transition" in d.classes(e[2])]) == len(all_keys)


def test_narrow_against_reference_in_numbers():
    old, new = build(BUILTIN["reference"]), build(BUILTIN["narrow-publication"])
    got = highlighted(old, new)
    # narrow-publication never checks at release, before a write or after it
    assert sorted(k for k, v in got.items() if v == "removed") == [
        "finish_write:write_after->taken_over", "read_before:write_before->taken_over",
        "release:held->taken_over"]
    # append, the three disposals and the external writer's edits are shared
    same = {t.key for t in new.transitions} - set(got)
    assert same == {"append:write_append->write_after", "dispose:idle->done",
                    "dispose:held->done", "dispose:released->done",
                    *(f"external_write[{k.label}]" for k in new.world.kinds)}


def test_one_changed_rule_changes_only_the_steps_that_use_it():
    ref = BUILTIN["reference"]
    mine = ref.derive("reference-size-only", write_ok=lambda c: S.file == S.mine[c])
    old, new = build(ref), build(mine)
    got = highlighted(old, new)
    assert got == expected_changes(old, new)
    assert set(got) == {t.key for t in new.transitions if t.step == "finish_write"}
    d = parse(diff_graph(old, new).source())
    _, _, attrs = d.edge_by_id("diff-reference-reference-size-only:finish_write:write_after->held")
    label = unwrap(attrs["label"]).split("\n")
    # each side shows the formula of the rule that differs, not just its name
    old_side = label[:label.index("reference-size-only:")]
    new_side = label[label.index("reference-size-only:"):]
    assert old_side[0] == "reference:" and old_side[-1] == (
        "write_ok: landed[c] ∧ file = mine[c] ∧ reg_epoch = k_epoch[c] ∧ reg_gen = k_gen[c] ∧ "
        "reg_fp = before[c]")
    assert new_side[-1] == "write_ok: file = mine[c]"
    legend = unwrap(d.nodes["legend"]["label"])
    assert legend.split("\n")[1:] == [
        "write_ok in reference: landed[c] ∧ file = mine[c] ∧ reg_epoch = k_epoch[c] ∧ "
        "reg_gen = k_gen[c] ∧ reg_fp = before[c]",
        "write_ok in reference-size-only: file = mine[c]", ""]


def test_a_variant_against_itself_is_refused(tmp_path, capsys):
    code = main(["diagram", "--variant", "reference", "--kind", "diff", "--against",
                 "reference", "--out", str(tmp_path / "d.dot")])
    assert code == 2 and "variant itself" in capsys.readouterr().err


def test_a_variant_file_is_diffed_against_reference_by_default(tmp_path, capsys):
    vf = tmp_path / "mine.py"
    vf.write_text("from sessionfence.model import builtin, state as S\n"
                  "VARIANT = builtin('reference').derive('no-release-check',\n"
                  "    points={'release': ['on_release']})\n")
    out = tmp_path / "d.dot"
    assert main(["diagram", "--variant-file", str(vf), "--kind", "diff", "--out",
                 str(out)]) == 0, capsys.readouterr().err
    d = parse(out.read_text())
    changed = {a["id"].split(":", 1)[1] for _, _, a in d.edges if "differs" in d.classes(a)}
    assert changed == {"release:held->released", "release:held->taken_over"}
