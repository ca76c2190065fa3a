"""Other tools read our trace files (docs/trace-format.md, "Who reads these
files").

* Quint's own reader (`ofItfNormalized` of the npm package
  @informalsystems/quint, run with Node) loads every file, and the values it
  gets are exactly the values our reader gets. `scripts/bootstrap --test`
  installs the package into .venv/node where npm exists; without Node or
  the package the test is skipped and says so.
* itf-py 0.5 (PyPI, a test dependency) fails on every file, because of how
  it reads Option values; the workaround printed in docs/trace-format.md is
  taken from the page and run here, so the page cannot go stale.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sessionfence.conformance import itf, model_traces, simulate
from sessionfence.conformance.itf import ItfMap, ItfVariant
from sessionfence.model.concrete import Executor
from sessionfence.model.machine import build
from sessionfence.model.variants import BUILTIN

ROOT = Path(__file__).resolve().parents[2]
QUINT = Path(os.environ.get("SESSIONFENCE_QUINT",
                            ROOT / ".venv" / "node" / "node_modules" / "@informalsystems" / "quint"))
DOC = ROOT / "docs" / "trace-format.md"


@pytest.fixture(scope="module")
def trace_files(tmp_path_factory) -> list:
    """Random walks of every built-in variant, 2 and 3 controllers: every
    step kind, Some and None picks, the parameter N, varTypes."""
    d = tmp_path_factory.mktemp("itf")
    paths = []
    for name, variant in BUILTIN.items():
        for n in (2, 3):
            ex = Executor(build(variant), n)
            for walk in simulate.random_walks(ex, 3, 40, seed=n, progress=lambda m: None):
                path = d / f"{name}-n{n}-{walk.index}.itf.json"
                model_traces.write(ex, walk.trace, str(path), covers="random", seed=walk.seed)
                paths.append(path)
    return paths


# -- Quint -------------------------------------------------------------------------

READ_WITH_QUINT = r"""
const fs = require('fs');
const path = require('path');
const itf = require(path.join(process.argv[2], 'dist', 'src', 'itf'));
function canon(e) {
  if (e.kind === 'int') return {int: e.value.toString()};
  if (e.kind === 'str' || e.kind === 'bool') return e.value;
  if (e.kind === 'app') {
    const a = e.args.map(canon);
    switch (e.opcode) {
      case 'Rec': { const o = {}; for (let i = 0; i < a.length; i += 2) o[a[i]] = a[i + 1];
                    return {rec: o}; }
      case 'Map': return {map: a.map(t => t.tup)};
      case 'Set': return {set: a};
      case 'Tup': return {tup: a};
      case 'List': return {list: a};
      case 'variant': return {variant: a[0], value: a[1]};
    }
  }
  throw new Error('unexpected Quint expression ' + e.kind + ' ' + e.opcode);
}
const out = process.argv.slice(3).map(
  f => itf.ofItfNormalized(JSON.parse(fs.readFileSync(f, 'utf8'))).map(canon));
process.stdout.write(JSON.stringify(out));
"""


def canon(value):
    """Our decoded value in the shape the script above gives Quint's."""
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        return {"int": str(value)}
    if isinstance(value, ItfMap):
        return {"map": [[canon(k), canon(v)] for k, v in value.items()]}
    if isinstance(value, frozenset):
        return {"set": [canon(v) for v in value]}
    if isinstance(value, tuple):
        return {"tup": [canon(v) for v in value]}
    if isinstance(value, ItfVariant):
        return {"variant": value.tag, "value": canon(value.value)}
    if isinstance(value, dict):
        return {"rec": {k: canon(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"list": [canon(v) for v in value]}
    raise AssertionError(f"unexpected value {value!r}")


def unordered(c):
    """Sets and maps compare without order."""
    if isinstance(c, list):
        return [unordered(x) for x in c]
    if not isinstance(c, dict):
        return c
    out = {k: unordered(v) for k, v in c.items()}
    for key in ("set", "map"):
        if key in out:
            out[key] = sorted(out[key], key=lambda x: json.dumps(x, sort_keys=True))
    return out


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
@pytest.mark.skipif(not (QUINT / "package.json").exists(),
                    reason=f"Quint's npm package is not in {QUINT} (scripts/bootstrap --test "
                    "installs it where npm can reach the registry)")
def test_quints_reader_loads_every_file_with_our_values(trace_files, tmp_path):
    script = tmp_path / "read.js"
    script.write_text(READ_WITH_QUINT)
    done = subprocess.run(["node", str(script), str(QUINT), *map(str, trace_files)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(done.stdout)
    assert len(theirs) == len(trace_files)
    for path, quint_states in zip(trace_files, theirs):
        ours = [canon(s) for s in itf.load(str(path)).states]  # every key but #meta
        assert len(quint_states) == len(ours) > 1, path
        for i, (q, o) in enumerate(zip(quint_states, ours)):
            assert unordered(q) == unordered(o), f"{path.name} state {i}"


# -- itf-py ------------------------------------------------------------------------

@pytest.fixture
def itf_py():
    return pytest.importorskip("itf_py", reason="itf-py is a test dependency "
                               "(pip install -e '.[test]')")


def _workaround_from_the_doc() -> dict:
    """The Python block of the itf-py section of docs/trace-format.md, run."""
    section = DOC.read_text(encoding="utf-8").split("### itf-py", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own doc
    return namespace


def test_itf_py_0_5_cannot_read_our_files(itf_py, trace_files):
    # Documented as its bug: a variant becomes a namedtuple class named after
    # its tag, so `None` (a Python keyword) fails, and so does any payload
    # that is an ITF object form ({"#tup": []} is taken for a record).
    for path in trace_files:
        with pytest.raises(ValueError, match="cannot be a keyword: 'None'"):
            itf_py.trace_from_json(json.loads(path.read_text()))


def test_the_documented_workaround_reads_every_file(itf_py, trace_files):
    load = _workaround_from_the_doc()["load_with_itf_py"]
    for path in trace_files:
        trace = load(str(path))
        ours = itf.load(str(path))
        assert trace.params == ["N"] and trace.vars == ours.vars
        assert len(trace.states) == len(ours.states)
        for mine, theirs in zip(ours.states, trace.states):
            for name in ("file", "holder", "decision", "mbt::actionTaken"):
                assert theirs.values[name] == mine[name]
            assert dict(theirs.values["phase"]) == dict(mine["phase"])
            picks = theirs.values["mbt::nondetPicks"]
            for field in ("controller", "mode"):
                want = mine["mbt::nondetPicks"][field]
                assert getattr(picks, field) == (want.value if want.tag == "Some" else None)
        assert trace.states[0].values["N"] == ours.states[0]["N"]
