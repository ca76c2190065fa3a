"""The runner's side of the adapter protocol: an adapter process as a driver.

`AdapterDriver("node my-adapter.js")` starts the command once, shakes hands
(`hello`, offering protocol 2 and falling back to 1) and then offers the
same interface as `LocalDriver` (setup, step, observe, teardown), so
`replay.Replayer` does not care which it drives.

Reads are bounded by a timeout (a hung adapter must not hang the runner),
and whatever the adapter wrote on stderr is kept and quoted when it fails.
The adapter runs in a process group of its own: when it dies, hangs or
breaks the protocol, the whole group is killed at once, so neither the
adapter nor anything it started (`sh -c`, `npx`, a test runner) outlives
the failure.
"""

from __future__ import annotations

import json
import os
import select
import shlex
import signal
import subprocess
import tempfile
import time
from typing import Optional

from sessionfence.conformance.compare import View
from sessionfence.conformance.protocol import (
    PROTOCOL_VERSION,
    PROTOCOL_VERSIONS,
    Capabilities,
    ProtocolViolation,
    capabilities,
    view_from_json,
)
from sessionfence.conformance.session import HarnessError

DEFAULT_TIMEOUT_S = 30.0
_EXIT_GRACE_S = 5.0  # after EOF, how long a healthy adapter may take to exit


class AdapterError(HarnessError):
    """The adapter failed: did not start, broke the protocol, died or hung.

    `stderr` is the tail of what the adapter wrote on stderr ("" if nothing).
    """

    def __init__(self, message: str, stderr: str = ""):
        super().__init__(message + (f"; adapter stderr: {stderr}" if stderr else ""))
        self.reason = message
        self.stderr = stderr


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
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                start_new_session=True)
        except OSError as exc:
            self._stderr.close()
            raise AdapterError(f"cannot start adapter {command!r}: {exc.strerror}") from None
        self._buf = b""
        self._n = 0
        try:
            self.caps = self._handshake()
        except BaseException:
            self.close()
            raise
        self.protocol = self.caps.protocol
        self.name = self.caps.implementation
        self.policies = self.caps.policies
        self.pause_points = self.caps.pause_points
        self.exposes = self.caps.exposes
        self.fingerprint_modes = self.caps.fingerprint_modes
        self.derived = self.caps.derived

    def _handshake(self) -> Capabilities:
        hello = self._call({"op": "hello", "protocol": PROTOCOL_VERSION,
                            "protocols": list(PROTOCOL_VERSIONS)}, "hello")
        if "error" in hello:
            # A version 1 adapter may refuse any offer but 1: offer that.
            first = hello["error"]
            hello = self._call({"op": "hello", "protocol": 1}, "hello")
            if "error" in hello:
                raise AdapterError(f"adapter {self.command!r} refused the handshake: {first}")
        version = hello.get("protocol")
        if version not in PROTOCOL_VERSIONS or isinstance(version, bool):
            raise AdapterError(f"adapter {self.command!r} speaks protocol {version!r}; "
                               f"the runner speaks {' and '.join(map(str, PROTOCOL_VERSIONS))}")
        try:
            return capabilities(hello, version, self.command)
        except ProtocolViolation as exc:
            raise AdapterError(f"adapter {self.command!r}: {exc}") from None

    # -- transport ----------------------------------------------------------------
    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return " | ".join(text.splitlines()[-5:])

    def _fail(self, message: str) -> AdapterError:
        """Kill the adapter's process group, then describe the failure."""
        self.abort()
        return AdapterError(message, self._stderr_tail())

    def _readline(self, what: str) -> bytes:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            if not ready:
                raise self._fail(f"adapter gave no answer to {what} within {self.timeout:g}s "
                                 "(killed)")
            chunk = os.read(fd, 65536)
            if not chunk:
                code = _exit_status(self._proc.pid, 1.0)  # EOF comes first; wait briefly
                raise self._fail(f"adapter exited (status {code}) before answering {what}")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def _call(self, req: dict, what: str) -> dict:
        if self._proc is None:
            raise AdapterError(f"the adapter is gone (cannot send {what})", self._stderr_tail())
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(req).encode() + b"\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._fail(f"adapter is gone (could not send {what})") from None
        line = self._readline(what)
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            raise self._fail(f"adapter answered {what} with a line that is not JSON: "
                             f"{line[:120]!r}") from None
        if not isinstance(reply, dict):
            raise self._fail(f"adapter answered {what} with {type(reply).__name__}, "
                             "not an object")
        return reply

    def _view(self, req: dict, what: str) -> View:
        try:
            return view_from_json(self._call(req, what), what)
        except ProtocolViolation as exc:
            raise self._fail(str(exc)) from None

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
        what = f"{op} c{ctrl}"
        view = self._view({"op": op, "controller": f"c{ctrl}", "mode": mode}, what)
        if view.outcome is None:
            raise self._fail(f"adapter answered {what} without an outcome")
        return view

    def observe(self) -> View:
        return self._view({"op": "observe"}, "observe")

    def teardown(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            reply = self._call({"op": "teardown"}, "teardown")
            if "error" in reply:
                raise self._fail(f"adapter refused teardown: {reply['error']}")

    @property
    def alive(self) -> bool:
        return self._proc is not None

    def abort(self) -> None:
        """Kill the adapter and everything in its process group, now."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _kill_group(proc)
            _close_pipes(proc)

    def close(self) -> None:
        """EOF asks the adapter to exit; after a grace period the group is killed.

        The leader is reaped only after the group is killed: until then its
        pid (the group's id) cannot be reused, so the kill cannot hit a
        stranger.
        """
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()
            except OSError:
                pass
            _exit_status(proc.pid, _EXIT_GRACE_S)
            _kill_group(proc)
            _close_pipes(proc)
        if not self._stderr.closed:
            self._stderr.close()


def _exit_status(pid: int, wait: float) -> Optional[int]:
    """The exit status (negative: killed by that signal) once the process has
    exited, waiting up to `wait` seconds; None if it is still running. The
    process is not reaped, so its group can still be killed afterwards."""
    deadline = time.monotonic() + wait
    while True:
        try:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return None
        if info is not None:
            return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.returncode is None:  # not reaped yet: the group id is still ours
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait()


def _close_pipes(proc: subprocess.Popen) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass
