"""The process table as the lock sees it: liveness, start time, boot id, PID namespace.

The lock only ever asks these few questions, so tests can answer them with
a fake (recycled pids, reboots, other namespaces) instead of forking 32,000
processes to force a real pid reuse.
"""

from __future__ import annotations

import os
from typing import Optional, Protocol


class ProcTable(Protocol):
    """What the lock needs to know about processes."""

    def is_alive(self, pid: int) -> bool:
        """False only if `pid` provably names no running process."""

    def starttime(self, pid: int) -> Optional[int]:
        """Start time of `pid` in clock ticks since boot, or None if unknown."""

    def boot_id(self) -> Optional[str]:
        """An id that changes at every reboot, or None if unknown."""

    def pid_namespace(self) -> Optional[int]:
        """The id (inode) of this process's PID namespace, or None if unknown.

        Pids are only meaningful inside one PID namespace: a holder whose
        lock names another one cannot be looked up here at all. Optional for
        a table written before this question existed (then: unknown).
        """


def pid_namespace_of(proc) -> Optional[int]:
    """`proc.pid_namespace()`, or None for a table that cannot answer it."""
    ask = getattr(proc, "pid_namespace", None)
    return ask() if ask is not None else None


def _parse_stat(text: str):
    # The command name (field 2) is in parentheses and may itself contain
    # spaces and ')' characters; everything after the *last* ')' is fields
    # 3.. separated by single spaces.
    rest = text[text.rindex(")") + 2:].split()
    state = rest[0]  # field 3
    starttime = int(rest[19])  # field 22
    return state, starttime


class LinuxProcTable:
    """The real answers, from `kill(pid, 0)` and `/proc`.

    EPERM from kill means the process exists but belongs to someone else:
    alive. A zombie (state Z/X) can never release a lock again: dead. Without
    /proc (other OSes, hidepid) start times and boot ids are unknown, and an
    unknown answer never makes a holder look dead.
    """

    def __init__(self, proc_root: str = "/proc"):
        self._root = proc_root
        self._boot_id: Optional[str] = None
        self._boot_read = False
        self._ns: Optional[int] = None
        self._ns_pid = 0  # whose namespace `_ns` is (a forked child may be in another)

    def _read_stat(self, pid: int):
        try:
            with open(f"{self._root}/{pid}/stat", "rb") as f:
                return _parse_stat(f.read(4096).decode("utf-8", "replace"))
        except (OSError, ValueError, IndexError):
            return None

    def is_alive(self, pid: int) -> bool:
        if pid <= 0:
            # kill(0) / kill(-n) address process groups: never a liveness probe.
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        except OverflowError:
            return False
        parsed = self._read_stat(pid)
        if parsed is not None and parsed[0] in ("Z", "X"):
            return False
        return True

    def starttime(self, pid: int) -> Optional[int]:
        if pid <= 0:
            return None
        parsed = self._read_stat(pid)
        return None if parsed is None else parsed[1]

    def boot_id(self) -> Optional[str]:
        if not self._boot_read:
            try:
                with open(f"{self._root}/sys/kernel/random/boot_id", "rb") as f:
                    self._boot_id = f.read(64).decode("ascii").strip() or None
            except (OSError, UnicodeDecodeError):
                self._boot_id = None
            self._boot_read = True
        return self._boot_id

    def pid_namespace(self) -> Optional[int]:
        pid = os.getpid()
        if self._ns_pid != pid:
            try:
                # "pid:[4026531836]": the namespace's inode number.
                link = os.readlink(f"{self._root}/self/ns/pid")
                self._ns = int(link[link.index("[") + 1:link.rindex("]")])
            except (OSError, ValueError):
                self._ns = None
            self._ns_pid = pid
        return self._ns


DEFAULT_PROC_TABLE = LinuxProcTable()
