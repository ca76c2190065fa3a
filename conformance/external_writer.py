"""The model's external writer `X` on real files: one long-lived process.

Spawning a process per edit costs ~35 ms; a helper fed over a pipe costs
tens of microseconds per edit after a one-off start (reliability notes,
"test economics"). So a replay run starts ONE writer process
(`_writer_proc.py`) and sends it every `external_write` of every trace.
Being a separate process matters: it holds no lock, shares no registry and
no file descriptors with the controllers, exactly like another tool
editing the transcript.

Each model `external_write` names its kind of edit (`model.expr.Kind`);
this module performs it. Whether it can be performed faithfully at that
point is `external_plan`'s question.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Optional

from sessionfence.conformance._child import end_child
from sessionfence.impl._runtime_lines import runtime_line
from sessionfence.model.expr import KINDS as _MODEL_KINDS

KINDS = tuple(k.label for k in _MODEL_KINDS)
"""The model's kinds of external edit, by label (see `_writer_proc.py`)."""

_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_writer_proc.py")


class ExternalWriterError(RuntimeError):
    """The writer process failed or refused an edit."""


class ExternalWriter:
    """Client of the writer process. Use as a context manager or call close()."""

    def __init__(self) -> None:
        # -S -E: no site-packages, no PYTHON* variables; the script is stdlib only.
        self._proc: Optional[subprocess.Popen] = subprocess.Popen(
            [sys.executable, "-S", "-E", _SCRIPT], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, bufsize=1)
        hello = self._read()
        if "ready" not in hello:
            raise ExternalWriterError(f"writer process did not start: {hello}")
        self.pid = hello["ready"]
        self.edits = 0

    def _read(self) -> dict:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            try:  # EOF comes before the exit status is ready; wait briefly
                code = self._proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                code = None
            raise ExternalWriterError(f"writer process exited (status {code})")
        return json.loads(line)

    def write(self, path: str, kind: str) -> dict:
        """Perform one edit of `kind` on `path`; returns the writer's reply
        (`size` afterwards, `stat_changed`)."""
        if kind not in KINDS:
            raise ValueError(f"unknown external edit kind {kind!r}; kinds: {', '.join(KINDS)}")
        if self._proc is None:
            raise ExternalWriterError("the writer process is closed")
        self.edits += 1
        assert self._proc.stdin is not None
        # A forged line is in the runtime's shape; `X` names it as its own edit.
        line = runtime_line(f"external-{self.edits}").decode()
        request = {"kind": kind, "path": path, "n": self.edits, "line": line}
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise ExternalWriterError("writer process is gone (broken pipe)") from None
        reply = self._read()
        if "error" in reply:
            raise ExternalWriterError(f"external {kind} of {path} failed: {reply['error']}")
        return reply

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        end_child(proc, json.dumps({"kind": "exit"}) + "\n")

    def __enter__(self) -> "ExternalWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten writer must not outlive its user
        if getattr(self, "_proc", None) is not None:
            self.close()
