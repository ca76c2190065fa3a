"""docs/json-output.md lists every field of every `--json` document, and
the commands emit exactly those: a field the code adds without a row in the
doc fails here, and so does a row for a field no command emits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sessionfence import __version__
from sessionfence.cli import main

DOC = Path(__file__).resolve().parent.parent / "docs" / "json-output.md"
ROW = re.compile(r"^\| `([^`]+)` \| ((?:[^|\\]|\\\|)+?) \|", re.M)
COMMON = "Every document"


def documented() -> dict:
    """{section heading: {field path: type text}}."""
    out, heading = {}, None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
            out[heading] = {}
        m = ROW.match(line)
        if m and heading:
            out[heading][m.group(1)] = m.group(2).replace("\\|", "|")
    return out


def _allowed(type_text: str) -> set:
    kinds = set()
    for word, kind in (("int", "int"), ("number", "number"), ("number", "int"),
                       ("string", "str"), ("string", "any"), ("bool", "bool"), ("array", "list"),
                       ("object", "dict"), ("null", "null"), ('"any"', "any")):
        if word in type_text:
            kinds.add(kind)
    return kinds


def _kind(value) -> set:
    if value is None:
        return {"null"}
    if isinstance(value, bool):
        return {"bool"}
    if isinstance(value, int):
        return {"int"}
    if isinstance(value, float):
        return {"number"}
    if value == "any":
        return {"any"}
    return {{str: "str", list: "list", dict: "dict"}[type(value)]}


def flatten(doc: dict, types: dict) -> dict:
    """{path: set of value kinds seen}; maps (documented as such) are leaves."""
    seen: dict = {}

    def walk(value, path, element=False):
        if path and not element:
            seen.setdefault(path, set()).update(_kind(value))
        if isinstance(value, dict) and "(map)" not in types.get(path, ""):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(value, list):
            for v in value:
                walk(v, path + "[]", element=True)

    walk(doc, "")
    return seen


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> dict:
    """Each command's --json documents, from runs that exercise every field."""
    tmp = tmp_path_factory.mktemp("json")
    capture = pytest.MonkeyPatch()
    docs: dict = {}

    def run(section, *argv, codes=(0,)):
        import io
        import sys

        out = io.StringIO()
        capture.setattr(sys, "stdout", out)
        try:
            code = main([*argv, "--json"])
        finally:
            capture.undo()
        assert code in codes, (argv, code)
        docs.setdefault(section, []).append(json.loads(out.getvalue()))

    traces = tmp / "traces"
    run("verify", "verify", "--variant", "strict-fingerprint", "-q")
    run("traces", "traces", "--variant", "narrow-publication", "--cover", "--random", "2",
        "--out", str(traces), "-q")
    run("replay", "replay", str(traces), "--policy", "reference", "--keep", "--workdir",
        str(tmp), "-q", codes=(1,))
    violation = next(traces.glob("*violation-released-safety*"))
    run("replay", "replay", str(violation), "-q", codes=(4,))
    run("hunt", "hunt", "--policy", "broad-publication", "--out", str(tmp / "hunt.itf.json"),
        "-q", codes=(4,))
    run("hunt", "hunt", "--policy", "reference", "--schedules", "2", "-q")
    log = _event_log(tmp, traces)
    run("check-log", "check-log", log, "--variant", "narrow-publication", codes=(4,))
    run("check-log", "check-log", log, "--variant", "reference", codes=(1,))
    # digest only: the fields are the same in both modes, and stat mode's
    # precision proof (Spacer) is the slowest cell of the reference
    run("report", "report", "--variant", "reference", "--traces", str(traces),
        "--fingerprint", "digest", "--out", str(tmp / "report"), "-q")
    for kind, extra in (("machine", []), ("diff", ["--variant", "broad-publication"]),
                        ("states", []),
                        ("trace", ["--variant", "strict-fingerprint", "--property", "safety"]),
                        ("trace", ["--trace", str(violation), "--variant", "narrow-publication"])):
        variant = [] if "--variant" in extra else ["--variant", "reference"]
        run("diagram", "diagram", "--kind", kind, *variant, *extra, "--format", "dot",
            "--out", str(tmp / f"{kind}.dot"))
    run("diagram --regenerate-docs", "diagram", "--regenerate-docs", str(tmp / "pictures"))
    return docs


def _event_log(tmp, traces) -> str:
    """An event log of narrow-publication's false takeover, written during its replay."""
    from sessionfence.conformance import replay as R
    from sessionfence.conformance.local_driver import LocalDriver
    from sessionfence.model.variants import BUILTIN

    log = str(tmp / "events.jsonl")
    lt = R.load([str(next(traces.glob("*violation-precision*")))], BUILTIN)[0]
    with R.Replayer(LocalDriver(event_log=log), R.ReplayOptions()) as r:
        r.replay(lt)
    return log


def test_the_doc_has_a_table_for_every_document():
    assert set(documented()) == {COMMON, "verify", "traces", "replay", "hunt", "check-log",
                                 "report", "diagram", "diagram --regenerate-docs"}


def test_every_document_starts_with_schema_command_version_and_z3(documents):
    import z3

    common = list(documented()[COMMON])
    for section, docs in documents.items():
        for doc in docs:
            assert list(doc)[:len(common)] == common
            assert doc["schema"] == 1 and doc["version"] == __version__
            assert doc["z3"] == z3.get_version_string()
            assert doc["command"] == section.split()[0]


@pytest.mark.parametrize("section", ["verify", "traces", "replay", "hunt", "check-log", "report",
                                     "diagram", "diagram --regenerate-docs"])
def test_the_documented_fields_are_exactly_the_emitted_ones(documents, section):
    types = {**documented()[COMMON], **documented()[section]}
    seen: dict = {}
    for doc in documents[section]:
        for path, kinds in flatten(doc, types).items():
            seen.setdefault(path, set()).update(kinds)
    undocumented = sorted(set(seen) - set(types))
    assert not undocumented, f"emitted but not in docs/json-output.md: {undocumented}"
    # A documented field must be emitted, unless its parent was always empty
    # or null in these runs (e.g. the fields of a skipped trace's reason).
    for path in types:
        if path in seen:
            continue
        parent = re.sub(r"(\[\])?\.[^.]+$|\[\]$", "", path)
        assert parent in seen and parent != path, f"documented but never emitted: {path}"
    for path, kinds in seen.items():
        assert kinds <= _allowed(types[path]), \
            f"{path}: emitted {sorted(kinds)}, documented {types[path]!r}"
