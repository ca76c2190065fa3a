"""The committed pictures under docs/diagrams are what the model generates."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from sessionfence.diagrams import docs
from sessionfence.model import explore as E
from sessionfence.model.machine import build
from sessionfence.model.variants import BRIEF as BUILTIN  # the pictured designs (docs/diagrams)

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "diagrams"
REGENERATE = "make diagrams (or: python -m sessionfence diagram --regenerate-docs)"


def test_committed_diagrams_are_current():
    problems = docs.stale(str(COMMITTED))
    assert not problems, f"stale diagrams; run {REGENERATE}:\n" + "\n".join(problems)


def test_a_stale_missing_or_orphaned_file_is_reported(tmp_path):
    copy = tmp_path / "diagrams"
    shutil.copytree(COMMITTED, copy)
    edited = copy / "reference-machine.dot"
    edited.write_text(edited.read_text().replace("reacquire [", "reacquire? ["))
    (copy / "strict-fingerprint-states.dot").unlink()
    (copy / "reference-trace-safety.dot").write_text("digraph { }\n")
    problems = docs.stale(str(copy))
    assert problems == [
        f"{copy}/strict-fingerprint-states.dot: missing",
        f"{copy}/reference-machine.dot: differs from the model",
        f"{copy}/reference-trace-safety.dot: no longer generated",
    ]


def test_regenerating_writes_the_committed_text_and_keeps_foreign_files(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "notes.svg").write_text("<svg/>")  # not ours: must survive
    (out / "reference-trace-safety.dot").write_text("old")  # ours, no longer made
    written = docs.regenerate(str(out), formats=("dot",))
    names = sorted(p.name for p in out.iterdir())
    committed = sorted(p.name for p in COMMITTED.glob("*.dot"))
    assert names == sorted(committed + ["notes.svg"])
    assert len(written) == len(committed)
    for name in committed:
        assert (out / name).read_text() == (COMMITTED / name).read_text()
    assert all((COMMITTED / (n[:-4] + ".svg")).exists() for n in committed)


def test_the_docs_quote_the_current_node_counts():
    text = (ROOT / "docs" / "diagrams.md").read_text()
    quoted = dict(re.findall(r"^\| `([a-z-]+)` \| (\d+) \|", text, flags=re.M))
    assert set(quoted) == set(BUILTIN)
    for name, variant in BUILTIN.items():
        g = E.explore(build(variant), docs.CONTROLLERS, docs.BOUNDS, limit=None)
        assert int(quoted[name]) == len(g), name
