"""The runner's side of the adapter protocol: an adapter process as a driver.

`AdapterDriver("node my-adapter.js")` starts the command once, shakes hands
(`hello`) and then offers the same interface as `LocalDriver` (setup, step,
observe, teardown), so `replay.Replayer` does not care which it drives.

Reads are bounded by a timeout (a hung adapter must not hang the runner),
and whatever the adapter wrote on stderr is kept and quoted when it fails.
"""

from __future__ import annotations

import json
import os
import select
import shlex
import subprocess
import tempfile
from typing import Optional

from sessionfence.conformance._child import end_child
from sessionfence.conformance.compare import View
from sessionfence.conformance.protocol import (
    PROTOCOL_VERSION,
    ProtocolViolation,
    view_from_json,
)
from sessionfence.conformance.session import HarnessError

DEFAULT_TIMEOUT_S = 30.0


class AdapterError(HarnessError):
    """The adapter failed: did not start, broke the protocol, died or hung."""


class AdapterDriver:
    def __init__(self, command: str, timeout: float = DEFAULT_TIMEOUT_S):
        self.command = command
        self.timeout = timeout
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise AdapterError(f"adapter command {command!r}: {exc}") from None
        if not argv:
            raise AdapterError("the adapter command is empty")
        self._stderr = tempfile.TemporaryFile()
        try:
            self._proc: Optional[subprocess.Popen] = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        except OSError as exc:
            raise AdapterError(f"cannot start adapter {command!r}: {exc.strerror}") from None
        self._buf = b""
        hello = self._call({"op": "hello", "protocol": PROTOCOL_VERSION}, "hello")
        if "error" in hello:
            self.close()
            raise AdapterError(f"adapter {command!r} refused the handshake: {hello['error']}")
        if hello.get("protocol") != PROTOCOL_VERSION:
            self.close()
            raise AdapterError(f"adapter {command!r} speaks protocol {hello.get('protocol')!r}, "
                               f"the runner {PROTOCOL_VERSION}")
        self.name = str(hello.get("implementation", command))
        self.policies = tuple(hello.get("policies") or ())
        self.pause_points = tuple(hello.get("pause_points") or ())
        self.exposes = tuple(hello.get("exposes") or ())
        self.fingerprint_modes = tuple(hello.get("fingerprint_modes") or ())
        self._n = 0

    # -- transport ----------------------------------------------------------------
    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        lines = text.splitlines()[-5:]
        return ("; adapter stderr: " + " | ".join(lines)) if lines else ""

    def _readline(self, what: str) -> bytes:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            ready, _, _ = select.select([fd], [], [], self.timeout)
            if not ready:
                raise AdapterError(f"adapter gave no answer to {what} within {self.timeout:g}s"
                                   + self._stderr_tail())
            chunk = os.read(fd, 65536)
            if not chunk:
                try:  # EOF comes before the exit status is ready; wait briefly
                    code = self._proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    code = None
                raise AdapterError(f"adapter exited (status {code}) before answering {what}"
                                   + self._stderr_tail())
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def _call(self, req: dict, what: str) -> dict:
        if self._proc is None:
            raise AdapterError("the adapter is closed")
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(req).encode() + b"\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise AdapterError(f"adapter is gone (could not send {what})"
                               + self._stderr_tail()) from None
        line = self._readline(what)
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            raise AdapterError(f"adapter answered {what} with a line that is not JSON: "
                               f"{line[:120]!r}") from None
        if not isinstance(reply, dict):
            raise AdapterError(f"adapter answered {what} with {type(reply).__name__}, not an object")
        return reply

    def _view(self, req: dict, what: str) -> View:
        try:
            return view_from_json(self._call(req, what), what)
        except ProtocolViolation as exc:
            raise AdapterError(str(exc)) from None

    # -- the driver interface ----------------------------------------------------------
    def setup(self, directory: str, transcript: str, policy, fingerprint: str,
              controllers: int) -> View:
        if not isinstance(policy, str):
            raise AdapterError("an adapter takes a policy by name, not a Policy object")
        self._n = controllers
        return self._view({"op": "setup", "directory": directory, "transcript": transcript,
                           "policy": policy, "fingerprint": fingerprint,
                           "controllers": [f"c{i}" for i in range(1, controllers + 1)]},
                          "setup")

    def step(self, op: str, ctrl: int, mode: Optional[str] = None) -> View:
        view = self._view({"op": op, "controller": f"c{ctrl}", "mode": mode}, f"{op} c{ctrl}")
        if view.outcome is None:
            raise AdapterError(f"adapter answered {op} c{ctrl} without an outcome")
        return view

    def observe(self) -> View:
        return self._view({"op": "observe"}, "observe")

    def teardown(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            reply = self._call({"op": "teardown"}, "teardown")
            if "error" in reply:
                raise AdapterError(f"adapter refused teardown: {reply['error']}")

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            end_child(proc)  # EOF: the adapter tears down and exits
        self._stderr.close()
