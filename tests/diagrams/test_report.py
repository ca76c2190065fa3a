"""The HTML report: content, exit status, offline-ness, trace coverage.

The `report` fixture (conftest.py) is one report of `reference` and a
variant file that claims too much, with a directory of traces."""

from __future__ import annotations

import html
import re

import pytest

from sessionfence.cli import main
from sessionfence.model import invariants as INV
from sessionfence.model.machine import build
from sessionfence.model.variants import BUILTIN
from sessionfence.model.world import World

def test_a_mismatch_exits_1_and_the_report_is_written_anyway(report):
    code, page, _ = report
    assert code == 1
    assert "1 of 13 results do not match" in page  # 7 for reference, 6 for the user variant


def test_the_verdict_table_marks_each_cell(report):
    _, page, _ = report
    table = re.search(r'<table class="verdicts" id="verdicts">.*?<tbody>(.*?)</tbody>', page,
                      re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    assert len(rows) == 2
    ref = re.findall(r'<td class="(ok|bad)">', rows[0])
    mine = re.findall(r'<td class="(ok|bad)">', rows[1])
    assert ref == ["ok"] * 4
    assert mine == ["ok", "ok", "bad", "ok"]  # precision claimed, violated
    assert "violated (expected proved)" in rows[1]


def test_proofs_list_the_invariants_in_plain_words(report):
    _, page, _ = report
    section = page.split('id="v-reference"')[1].split("</section>")[0]
    for inv in INV.for_machine(build(BUILTIN["reference"]), INV.SETS["reference"]):
        assert f"<code>{inv.name}</code>: {html.escape(inv.words)}" in section
    assert section.count("proved by invariants") == 3


def test_spacer_proofs_list_the_shared_lemmas(report):
    _, page, _ = report
    section = page.split('id="v-strict-claims-precision"')[1].split("</section>")[0]
    assert "released-safety</b> (digest fingerprints) proved by spacer" in section
    assert f"<code>lock-owner</code>: {html.escape(INV.SHARED[0].words)}" in section


def test_counterexamples_have_a_step_table_and_a_sequence_diagram(report):
    _, page, _ = report
    section = page.split('id="v-strict-claims-precision"')[1].split("</section>")[0]
    cexes = section.split("<h4>")[1:]
    assert len(cexes) == 2  # safety and precision
    for cex in cexes:
        assert cex.count('<tr class="violating">') == 1
        svg = html.unescape(cex.split("<svg", 1)[1])
        assert re.search(r'<g id="trace-strict-claims-precision-(safety|precision)" '
                         r'class="graph"', svg)
        assert 'class="edge step violating"' in svg  # the highlighted arrow


def test_machines_for_all_and_the_diff_only_for_the_users_variant(report):
    _, page, _ = report
    page = html.unescape(page)
    for gid in ("machine-reference", "machine-strict-claims-precision",
                "diff-reference-strict-claims-precision"):
        assert page.count(f'<g id="{gid}" class="graph"') == 1, gid
    assert page.count("<h3>Change against reference</h3>") == 1


def test_the_page_needs_nothing_from_outside(report):
    _, page, out = report
    assert [p.name for p in out.iterdir()] == ["index.html"]
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert not re.search(r'(src|href)="(?!#)', page)  # only in-page links
    assert "@import" not in page and "url(" not in page


def test_trace_coverage(report):
    _, page, _ = report
    section = page.split('id="coverage"')[1]
    assert "4 trace file(s)" in section
    assert "reference: 2 trace(s), 3 of 26 transitions fired" in section
    assert re.search(r"<code>reacquire:released-&gt;held</code></td><td [^>]*>1</td>", section)
    assert re.search(r"<code>release:held-&gt;released</code></td><td [^>]*>2</td>", section)
    assert "unreadable: broken.itf.json" in section
    assert "Traces of variants not in this report: broad-publication (1)" in section


def test_all_matching_exits_0(tmp_path, capsys):
    assert main(["report", "--variant", "reference", "--out", str(tmp_path), "-q"]) == 0
    page = (tmp_path / "index.html").read_text()
    assert "all 14 results match" in page  # both fingerprint modes
    assert "report written to" in capsys.readouterr().err
    # the verdict matrix has a column per property and fingerprint mode
    head = re.search(r'<table class="verdicts" id="verdicts"><thead>(.*?)</thead>', page,
                     re.S).group(1)
    assert head.count('colspan="2"') == 3 and head.count("<th>digest</th>") == 3
    assert head.count("<th>stat</th>") == 3


def test_bad_arguments_are_one_line(tmp_path, capsys):
    assert main(["report", "--variant", "nope", "--out", str(tmp_path)]) == 2
    assert main(["report", "--variant", "reference", "--traces", str(tmp_path / "no"),
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "unknown variant 'nope'" in err[0] and "no such directory" in err[1]


def test_lemmas_of_a_variant_file_are_explained_in_words():
    # A variant derived from reference borrows reference's invariants as
    # lemmas; their words used to be empty (only the shared ones were known).
    from sessionfence.model.check import Result
    from sessionfence.model.variants import BUILTIN
    from sessionfence.report.collect import explain

    mine = BUILTIN["reference"].derive("reference-mine", summary="x")
    names = ["lock-owner", "epochs-issued", "generations-only-grow"]
    r = Result("reference-mine", "precision", "always", 2, World(), "proved", "holds", "spacer",
               None, 1.0, note="lemmas: " + ", ".join(names))
    proof = explain(mine, r)
    words = {i.name: i.words for i in INV.SHARED + INV.REFERENCE_OWN}
    assert proof.facts == [(n, words[n]) for n in names]
    assert all(w for _, w in proof.facts)


def test_no_text_is_said_twice(report):
    _, page, _ = report
    text = html.unescape(page)
    # the summary, the counterexample headings and the diff count are said
    # once by the page, not again as the diagrams' titles
    for summary in ("strict-fingerprint that claims precision",):
        assert text.count(summary) == 1, summary
    assert text.count("strict-claims-precision violates safety") == 1
    assert len(re.findall(r"\d+ of \d+ transitions differ", text)) == 1
    # a Spacer proof's lemmas are listed under Proofs, not also in the table
    section = page.split('id="v-strict-claims-precision"')[1].split("</section>")[0]
    table = section.split("<h3>Proofs</h3>")[0]
    assert "lemmas:" not in table and "see below" in table


def test_the_diff_shows_both_formulas_of_a_changed_rule(report):
    _, page, _ = report
    text = html.unescape(page)
    diff = text.split("<h3>Change against reference</h3>")[1]
    # strict-claims-precision rewrites on_finish: fence := mine[c] (reference: its own rule)
    assert "on_finish: fence[c] := mine[c]" in diff


@pytest.mark.parametrize("method, prefix", [("invariants (4)", "inductive: "),
                                            ("spacer", "lemmas: ")])
def test_a_proof_lists_the_invariants_it_used_in_this_worlds_words(method, prefix):
    # In stat mode the reference's `exposed-out-of-step` is not inductive and
    # the proof goes without it: the report must not claim it. `no-future-fence`
    # has the words of this world (a counter, not the file: files can vanish).
    from sessionfence.model.check import INDUCTIVE_NOTE, Result
    from sessionfence.report.collect import explain

    assert INDUCTIVE_NOTE == "inductive: "
    names = ["lock-owner", "no-future-fence", "clean-in-step", "out-of-step-fence-stale"]
    world = World(fingerprint="stat")
    r = Result("reference", "precision", "always", 2, world, "proved", "holds", method, None,
               0.4, note=prefix + ", ".join(names))
    proof = explain(BUILTIN["reference"], r)
    words = {i.name: i.words for i in INV.for_machine(build(BUILTIN["reference"], world),
                                                      INV.SETS["reference"])}
    assert proof.facts == [(n, words[n]) for n in names]
    assert "newest fingerprint" in dict(proof.facts)["no-future-fence"]
