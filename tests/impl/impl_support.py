"""Helpers shared by the implementation tests (imported by conftest and tests).

External writers are the test's own raw `os.write` calls (in-process, they
ignore the lock exactly like another tool would) or a long-lived helper
process fed over a pipe (`Helper`), which costs ~10 µs per command after a
one-off start instead of ~35 ms per spawned process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

from sessionfence.impl import LinuxProcTable

HELPER = Path(__file__).with_name("impl_helper_proc.py")


def external_append(path: str, data: bytes = b'{"external":true}\n') -> None:
    """A writer that ignores the lock: one O_APPEND write."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def external_same_size_rewrite(path: str) -> None:
    """Overwrite the first byte in place with a different byte (size unchanged)."""
    fd = os.open(path, os.O_RDWR)
    try:
        first = os.pread(fd, 1, 0)
        os.pwrite(fd, b"[" if first != b"[" else b"{", 0)
    finally:
        os.close(fd)


class FakeProcTable:
    """A process table with scripted answers for chosen pids.

    Unlisted pids get the real answers, so our own payload stays truthful.
    """

    def __init__(self, boot: Optional[str] = None, ns: Optional[int] = None):
        self.real = LinuxProcTable()
        self.alive: Dict[int, bool] = {}
        self.starts: Dict[int, Optional[int]] = {}
        self.boot = boot
        self.ns = ns
        self.calls = []

    def is_alive(self, pid):
        self.calls.append(("is_alive", pid))
        return self.alive[pid] if pid in self.alive else self.real.is_alive(pid)

    def starttime(self, pid):
        self.calls.append(("starttime", pid))
        return self.starts[pid] if pid in self.starts else self.real.starttime(pid)

    def boot_id(self):
        return self.boot if self.boot is not None else self.real.boot_id()

    def pid_namespace(self):
        return self.ns if self.ns is not None else self.real.pid_namespace()


class Helper:
    """A long-lived python process that runs commands from tests/impl/_helper.py."""

    def __init__(self, user: Optional[int] = None, env: Optional[dict] = None,
                 prefix: Sequence[str] = ()):
        """`prefix`: a command that runs the helper (e.g. `unshare --pid --fork`);
        then `pid` is the helper's pid as it sees itself."""
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, str(HELPER)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, env=env)
        self.pid = self.proc.pid
        ready = self._read()
        if prefix:
            self.pid = ready["ready"]
        assert ready == {"ready": self.pid}, ready
        if user is not None:
            assert self.call("become", uid=user) == {"uid": user}

    def _read(self, timeout: float = 60.0):
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            raise RuntimeError(f"helper {self.pid} died: rc={self.proc.wait(timeout)} {err}")
        return json.loads(line)

    def send(self, op: str, **args) -> None:
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()

    def call(self, op: str, **args):
        self.send(op, **args)
        reply = self._read()
        if "error" in reply:
            raise RuntimeError(f"helper {op} failed: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("exit")
                self.proc.wait(10)
            except (BrokenPipeError, subprocess.TimeoutExpired, OSError):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
