"""Formats, and the one-line message when Graphviz's `dot` is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from sessionfence.diagrams import render

DOT_MISSING = "install it with 'apt-get install graphviz'"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz 'dot' is not installed (scripts/bootstrap installs it)")


def run_cli(args, path_dirs):
    """The CLI in a fresh interpreter whose PATH is only `path_dirs`."""
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    env["PATH"] = os.pathsep.join(path_dirs)
    return subprocess.run([sys.executable, "-m", "sessionfence", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_picture_formats_without_dot_fail_with_one_line(tmp_path, fmt):
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / f"m.{fmt}"
    done = run_cli(["diagram", "--variant", "reference", "--kind", "machine", "--out", str(out)],
                   [str(empty)])
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert DOT_MISSING in lines[0] and f"for {fmt} output" in lines[0]
    assert not out.exists()


def test_dot_format_needs_no_dot(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "m.dot"
    done = run_cli(["diagram", "--variant", "reference", "--kind", "machine", "--out", str(out)],
                   [str(empty)])
    assert done.returncode == 0, done.stderr
    assert out.read_text().startswith('digraph "machine reference" {')


def test_the_report_without_dot_fails_with_one_line(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    done = run_cli(["report", "--variant", "reference", "--out", str(tmp_path / "r")],
                   [str(empty)])
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and DOT_MISSING in done.stderr
    assert not (tmp_path / "r").exists()


def test_library_raises_dot_missing(monkeypatch):
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    with pytest.raises(render.DotMissing, match="apt-get install graphviz"):
        render.render("digraph { }", "svg")
    assert render.render("digraph { }", "dot") == b"digraph { }"


@needs_dot
@pytest.mark.parametrize("fmt,magic", [("svg", b"<?xml"), ("png", b"\x89PNG\r\n\x1a\n")])
def test_rendering_with_dot(tmp_path, fmt, magic):
    out = tmp_path / f"x.{fmt}"
    render.write('digraph "x" { "a" -> "b" }', fmt, str(out))
    assert out.read_bytes().startswith(magic)


@needs_dot
def test_a_bad_graph_is_one_line_render_error():
    with pytest.raises(render.RenderError, match=r"dot -Tsvg failed \(exit 1\)"):
        render.render("digraph { a -> }", "svg")


@needs_dot
def test_inline_svg_has_no_prolog():
    svg = render.svg_inline('digraph "x" { graph [id="g"] "a" -> "b" }')
    assert svg.startswith("<svg") and "<!DOCTYPE" not in svg and 'id="g_node1"' in svg
