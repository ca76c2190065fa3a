"""No traceback reaches a user: bad input is one line on stderr and exit 2,
a bug is one line and exit 3 (the traceback only with SESSIONFENCE_DEBUG=1).

Most cases run `cli.main` in-process (an escaping exception fails the test
by itself); a few run the real command so that Python's own traceback
printer would show if anything escaped."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sessionfence import cli
from sessionfence.cli import main
from sessionfence.conformance import model_traces
from sessionfence.model.concrete import Executor
from sessionfence.model.machine import build
from sessionfence.model.variants import BUILTIN

ROOT = Path(__file__).resolve().parent.parent

RAISING_VARIANT = """\
from sessionfence.model import builtin

VARIANT = builtin("reference").derive(
    "reference-raises",
    summary="a rule whose code raises",
    check=lambda c: 1 / 0,
)
"""


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def run(*argv, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sessionfence", *argv], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


@pytest.fixture
def raising(tmp_path) -> str:
    path = tmp_path / "raising.py"
    path.write_text(RAISING_VARIANT)
    return str(path)


@pytest.fixture(scope="module")
def good_trace(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("good")
    ex = Executor(build(BUILTIN["reference"]), 2)
    s = ex.initial()
    inst, s2 = ex.step(s, "start", 1)
    from sessionfence.model.check import Trace

    path = d / "ref.itf.json"
    model_traces.write(ex, Trace([inst], [s, s2]), str(path), covers="start")
    return path


# -- a rule that raises in a variant file (item 6) ---------------------------------

@pytest.mark.parametrize("argv", [
    ["verify", "--variant-file", "{vf}", "-q"],
    ["traces", "--variant-file", "{vf}", "--cover", "--out", "{tmp}/t", "-q"],
    ["diagram", "--variant-file", "{vf}", "--kind", "machine", "--format", "dot",
     "--out", "{tmp}/m.dot"],
    ["report", "--variant-file", "{vf}", "--out", "{tmp}/r", "-q"],
    ["replay", "--variant-file", "{vf}", "{trace}"],
], ids=lambda a: a[0])
def test_a_rule_that_raises_is_one_line_naming_file_and_line(raising, tmp_path, good_trace,
                                                              capsys, argv):
    argv = [a.format(vf=raising, tmp=tmp_path, trace=good_trace) for a in argv]
    assert main(argv) == 2
    line = one_line(capsys)
    # one line naming the file, the line, the step and the rule
    assert line.startswith(f"sessionfence: error: {raising}:6: variant 'reference-raises', "
                           "step release, rule 'check' raises ZeroDivisionError: division by "
                           "zero"), line


def test_a_rule_that_raises_prints_no_traceback_from_the_real_command(raising):
    done = run("verify", "--variant-file", raising, "-q")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


# -- diagram --out an existing directory (item 6) ------------------------------------

def test_diagram_out_an_existing_directory_is_one_line_and_leaves_nothing(tmp_path, capsys):
    target = tmp_path / "pictures"
    target.mkdir()
    assert main(["diagram", "--variant", "reference", "--kind", "machine", "--format", "dot",
                 "--out", str(target)]) == 2
    assert "is a directory; give a file name" in one_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pictures"]
    assert list(target.iterdir()) == []


def test_a_failed_write_removes_its_temporary_file(tmp_path, monkeypatch):
    from sessionfence.diagrams import render

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", dst)

    monkeypatch.setattr(render.os, "replace", refuse)
    with pytest.raises(PermissionError):
        render.write('digraph "x" { }', "dot", str(tmp_path / "x.dot"))
    assert list(tmp_path.iterdir()) == []


def test_diagram_cannot_write_is_one_line(tmp_path, capsys, monkeypatch):
    from sessionfence.diagrams import render

    monkeypatch.setattr(render.os, "replace",
                        lambda a, b: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    assert main(["diagram", "--variant", "reference", "--kind", "machine", "--format", "dot",
                 "--out", str(tmp_path / "m.dot")]) == 2
    assert "cannot write --out" in one_line(capsys) and list(tmp_path.iterdir()) == []


# -- ITF input on every path that reads trace files (item 6) -------------------------

def _bad_traces(good: Path, d: Path) -> dict:
    base = json.loads(good.read_text())

    def with_value(name, value):
        data = json.loads(json.dumps(base))
        data["states"][1]["file"] = value
        (d / name).write_text(json.dumps(data))

    with_value("unsafe-number.itf.json", 2**60)
    with_value("fraction.itf.json", 1.5)
    (d / "deep.itf.json").write_text("[" * 200_000 + "]" * 200_000)
    (d / "long-number.itf.json").write_text(
        good.read_text().replace('"file": {"#bigint": "0"}', '"file": ' + "9" * 5000, 1))
    (d / "not-json.itf.json").write_text("{ nope")
    (d / "binary.itf.json").write_bytes(b"\xff\xfe\x00")
    return {p.name: p for p in d.iterdir()}


def test_replay_and_diagram_read_bad_traces_as_one_line(good_trace, tmp_path, capsys):
    for name, path in _bad_traces(good_trace, tmp_path).items():
        assert main(["replay", "-q", str(path)]) == 2, name
        assert one_line(capsys).startswith(f"sessionfence: error: {path}"), name
        assert main(["diagram", "--kind", "trace", "--trace", str(path), "--format", "dot",
                     "--out", str(tmp_path / "t.dot")]) == 2, name
        assert one_line(capsys).startswith(f"sessionfence: error: {path}"), name


def test_spec_legal_values_in_a_trace_are_read_and_replayed(good_trace, tmp_path, capsys):
    data = json.loads(good_trace.read_text())
    data["vars"].append("extra")
    for s in data["states"]:
        s["extra"] = {"#map": [[{"who": "c1"}, {"#set": [[1], {"tag": "UNIT"},
                                                          {"tag": "Some", "value": {"a": 1}}]}]]}
    path = tmp_path / "legal.itf.json"
    path.write_text(json.dumps(data))
    assert main(["replay", "-q", str(path)]) == 0
    assert "1 conform" in capsys.readouterr().out


def test_report_lists_unreadable_traces_without_a_traceback(good_trace, tmp_path, capsys):
    traces = tmp_path / "traces"
    traces.mkdir()
    _bad_traces(good_trace, traces)
    assert main(["report", "--variant", "reference", "--fingerprint", "digest",
                 "--traces", str(traces), "--out", str(tmp_path / "r"), "-q"]) == 0
    page = (tmp_path / "r" / "index.html").read_text()
    assert page.count("unreadable: ") == 6
    assert "nested too deeply" in page and "5000-digit JSON number" in page


def test_a_deep_trace_through_the_real_command_is_one_line(tmp_path):
    deep = tmp_path / "deep.itf.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    done = run("replay", str(deep))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"sessionfence: error: {deep}: JSON nested too deeply to read "
        "(ITF values may nest at most 200 levels)"]


# -- versions and exit codes (item 7) --------------------------------------------------

def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    import z3

    out = capsys.readouterr().out
    assert re.fullmatch(r"sessionfence \d+\.\d+\.\d+ \(z3 \S+, Python \d+\.\d+\.\d+\)\n", out)
    assert f"(z3 {z3.get_version_string()}," in out


def test_the_version_has_one_source():
    import importlib.metadata

    import sessionfence

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and "sessionfence.__version__" in pyproject
    assert importlib.metadata.version("sessionfence") == sessionfence.__version__


def _explode(args):
    raise RuntimeError("no such transition\nsecond line")


def test_an_internal_error_is_one_line_and_exit_3(monkeypatch, capsys):
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    monkeypatch.setattr("sessionfence.commands.verify.run", _explode)
    assert main(["verify", "--all"]) == 3
    assert one_line(capsys) == (
        "sessionfence: internal error: RuntimeError: no such transition second line (please "
        "report; rerun with SESSIONFENCE_DEBUG=1 for the traceback)")


def test_the_traceback_is_there_on_request(monkeypatch, capsys):
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    monkeypatch.setattr("sessionfence.commands.verify.run", _explode)
    assert main(["verify", "--all"]) == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "_explode" in err
    assert err.strip().splitlines()[-1].startswith("sessionfence: internal error: RuntimeError")


def test_an_interrupt_is_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("sessionfence.commands.verify.run", interrupted)
    assert main(["verify", "--all"]) == 130
    assert one_line(capsys) == "sessionfence: interrupted"


def test_usage_errors_are_exit_2(capsys):
    assert main(["verify", "--depth", "zero"]) == 2
    assert "expected a whole number of steps" in one_line(capsys)
    assert main([]) == 2
    assert "say which command" in one_line(capsys)


# -- graphviz: no Python package, and the right hint (item 12) ------------------------

def test_the_graphviz_python_package_is_neither_declared_nor_imported():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r'^\s*"graphviz', pyproject, re.M)
    for folder in ("sessionfence", "model", "impl", "conformance", "tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"^\s*(import graphviz|from graphviz\b)", text, re.M), path


def _without_dot(tmp_path) -> dict:
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    return {"PATH": str(empty)}


def test_the_report_without_dot_does_not_suggest_format_dot(tmp_path):
    done = run("report", "--variant", "reference", "--out", str(tmp_path / "r"),
               env=_without_dot(tmp_path))
    assert done.returncode == 2
    assert "apt-get install graphviz" in done.stderr and "--format" not in done.stderr


def test_diagram_without_dot_suggests_format_dot(tmp_path):
    done = run("diagram", "--variant", "reference", "--kind", "machine",
               "--out", str(tmp_path / "m.svg"), env=_without_dot(tmp_path))
    assert done.returncode == 2 and "or use --format dot" in done.stderr
