"""DOT text to SVG or PNG with Graphviz's `dot`, or the DOT text itself.

Only the picture formats need the `dot` binary; when it is missing the
caller gets `DotMissing`, whose message is the one line a user needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess

FORMATS = ("svg", "png", "dot")
INSTALL_HINT = ("Graphviz's 'dot' program is not installed (needed for {fmt} output); "
                "install it with 'apt-get install graphviz' (Debian/Ubuntu)")
TIMEOUT_S = 120


class DotMissing(Exception):
    """`dot` is not on PATH. `alternative` is what else the user can do, for
    commands that have one (`diagram --format dot`); the report has none."""

    def __init__(self, fmt: str, alternative: str = ""):
        super().__init__(INSTALL_HINT.format(fmt=fmt) + (f", {alternative}" if alternative else ""))


class RenderError(Exception):
    """`dot` rejected the graph: a bug in the diagram code, reported as one line."""


def dot_program() -> str | None:
    return shutil.which("dot")


def require_dot(fmt: str = "svg", alternative: str = "") -> str:
    program = dot_program()
    if program is None:
        raise DotMissing(fmt, alternative)
    return program


def render(source: str, fmt: str) -> bytes:
    """The picture in `fmt` (svg, png) or, for dot, the source as bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    if fmt == "dot":
        return source.encode()
    program = require_dot(fmt)
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=source.encode(), capture_output=True,
                              timeout=TIMEOUT_S, check=False)
    except FileNotFoundError:  # removed between which() and run()
        raise DotMissing(fmt) from None
    if done.returncode != 0:
        first = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[0]
        raise RenderError(f"dot -T{fmt} failed (exit {done.returncode}): {first}")
    return done.stdout


def write(source: str, fmt: str, path: str) -> int:
    """Render and write atomically (a temporary file renamed over `path`);
    on any failure the temporary file is removed. Returns the bytes written."""
    data = render(source, fmt)
    if os.path.isdir(path):
        raise IsADirectoryError(21, "is a directory", path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return len(data)


def svg_inline(source: str) -> str:
    """SVG for embedding in HTML: without the XML prolog and DOCTYPE."""
    svg = render(source, "svg").decode()
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg
