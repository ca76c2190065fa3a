"""The session write lock: `<transcript>.lock`, created with O_EXCL.

Two layers, both needed:

* an **in-process mutex per canonical lock path**, so threads and
  controllers of one process exclude each other (the file alone cannot:
  every thread of the process would see "our pid holds it");
* the **lock file**, so processes exclude each other. Its payload names the
  holder (pid, start time, boot id, a unique token) so a waiter can tell a
  dead or recycled holder from a live one.

The payload format is in `_lock_payload`, the per-path in-process slots and
the exit/signal/fork hooks in `_lock_slots`; this module is the protocol.

What this lock never does, because each is a way a second writer gets in:
share reentrancy between owners, release a live holder's lock on a timer
(watchdog) or by age, unlink a lock on release without checking it is ours,
let two reclaimers both win, or follow a symlink at the lock path.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import stat as _stat
import time
from dataclasses import dataclass
from typing import Dict, Optional

from sessionfence.impl import _lock_slots
from sessionfence.impl._errors import SessionLockError, SessionLockTimeout
from sessionfence.impl._lock_payload import (
    MAX_LOCK_BYTES,
    LockInfo,
    make_payload,
    new_token,
    parse_payload,
)
from sessionfence.impl._lock_slots import install_exit_handlers, slot_for, unlink_if_ours
from sessionfence.impl._proc import DEFAULT_PROC_TABLE, ProcTable, pid_namespace_of
from sessionfence.impl._registry import canonical_path

log = logging.getLogger("sessionfence.lock")

LOCK_SUFFIX = ".lock"
DEFAULT_STALE_GRACE = 2.0
"""Seconds an empty or malformed lock must stay unchanged before it may be evicted."""
DEFAULT_TIMEOUT = 10.0
_POLL_FIRST = 0.0005
_POLL_MAX = 0.02

_CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


# -- errors at the lock path ----------------------------------------------------

_ERRNO_REASONS = {
    errno.ENOENT: ("missing-directory", "the directory does not exist",
                   "create the transcript's directory first"),
    errno.ENOTDIR: ("missing-directory", "a component of the path is not a directory",
                    "check the transcript path"),
    errno.EACCES: ("permission", "permission denied",
                   "the lock directory must be writable by this user"),
    errno.EPERM: ("permission", "operation not permitted",
                  "the lock directory must be writable by this user"),
    errno.EROFS: ("read-only", "the filesystem is read-only",
                  "put the transcript on a writable filesystem"),
    errno.ENOSPC: ("no-space", "no space left on the device", "free some space"),
    errno.EDQUOT: ("no-space", "disk quota exceeded", "free some space"),
}


def lock_path_error(path: str, exc: OSError) -> SessionLockError:
    reason, what, hint = _ERRNO_REASONS.get(
        exc.errno, ("os-error", os.strerror(exc.errno or 0) or str(exc), ""))
    return SessionLockError(path, reason, f"cannot create the lock file: {what}", hint, exc.errno)


def _bad_kind(path: str, mode: int) -> SessionLockError:
    if _stat.S_ISLNK(mode):
        return SessionLockError(path, "symlink", "the lock path is a symbolic link, which this "
                                "library never creates and will not follow",
                                "remove it if no other tool owns it", errno.ELOOP)
    if _stat.S_ISDIR(mode):
        return SessionLockError(path, "directory", "the lock path is a directory (a mkdir-style "
                                "lock of another tool, or a misconfigured path)",
                                "remove it if no other tool owns it", errno.EISDIR)
    kind = ("fifo" if _stat.S_ISFIFO(mode) else "socket" if _stat.S_ISSOCK(mode)
            else "device")
    return SessionLockError(path, kind, f"the lock path is a {kind}, not a lock file",
                            "remove it if no other tool owns it", errno.EINVAL)


@dataclass
class _Observation:
    """What was at the lock path. `fd` pins the inode until we are done."""

    fd: int  # -1 when the file could not be opened
    st: os.stat_result
    content: Optional[bytes]  # None: too large to be ours
    info: Optional[LockInfo]
    problem: str  # why `info` is None
    unreadable: bool = False


# -- the lock -----------------------------------------------------------------

_UNSET = object()


class SessionLock:
    """The session write lock of one transcript, for one owner.

    Each controller has its own `SessionLock`: reentrancy (nested acquires)
    is per handle, never shared, and other handles on the same path, in this
    thread or any other, wait. `proc` answers liveness questions (inject a
    fake to simulate recycled pids and reboots).
    """

    def __init__(self, transcript: str, *, timeout: Optional[float] = DEFAULT_TIMEOUT,
                 proc: Optional[ProcTable] = None, stale_grace: float = DEFAULT_STALE_GRACE):
        self.transcript = canonical_path(transcript)
        self.path = self.transcript + LOCK_SUFFIX
        self.timeout = timeout
        self.stale_grace = stale_grace
        self._proc = proc if proc is not None else DEFAULT_PROC_TABLE
        self._slot = slot_for(self.path)
        self._last_holder: Optional[int] = None
        self._last_foreign_ns: Optional[int] = None  # the last holder's, if not ours
        self._malformed_seen: Dict[tuple, float] = {}

    def __repr__(self) -> str:
        return f"<SessionLock {self.path} held={self.held} depth={self.depth}>"

    @property
    def held(self) -> bool:
        slot = self._slot
        return slot.owner is self and slot.pid == os.getpid()

    @property
    def depth(self) -> int:
        return self._slot.depth if self.held else 0

    def __enter__(self) -> "SessionLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self, timeout=_UNSET) -> None:
        """Take the lock (or nest once more if this handle holds it).

        `timeout`: seconds to wait, None to wait forever, 0 for one attempt.
        Raises SessionLockTimeout or SessionLockError.
        """
        slot = self._slot
        if slot.owner is self and slot.pid == os.getpid():
            slot.depth += 1
            return
        if timeout is _UNSET:
            timeout = self.timeout
        start = time.monotonic()
        deadline = math.inf if timeout is None else start + max(timeout, 0.0)
        if timeout is None:
            got = slot.mutex.acquire()
        elif timeout <= 0:
            got = slot.mutex.acquire(blocking=False)
        else:
            got = slot.mutex.acquire(timeout=timeout)
        if not got:
            raise SessionLockTimeout(self.path, os.getpid(), time.monotonic() - start,
                                     "held by another controller of this process")
        try:
            fd, ident, payload = self._create(start, deadline)
        except BaseException:
            slot.mutex.release()
            raise
        slot.fd, slot.ident, slot.payload = fd, ident, payload
        slot.pid = os.getpid()
        slot.depth = 1
        slot.owner = self
        self._malformed_seen.clear()
        if not _lock_slots.HOOKS_INSTALLED:
            install_exit_handlers()

    def release(self) -> bool:
        """Leave one nesting level; unlink the lock file at the last one.

        Returns False (and does nothing) if this handle does not hold the
        lock, so a double release is harmless. The file is unlinked only if
        it is still the one we created.
        """
        slot = self._slot
        if slot.owner is not self or slot.pid != os.getpid():
            return False
        slot.depth -= 1
        if slot.depth > 0:
            return True
        fd, slot.fd = slot.fd, -1
        slot.owner = None
        try:
            if fd >= 0:
                unlink_if_ours(self.path, fd, slot.ident, slot.payload)
        finally:
            if fd >= 0:
                os.close(fd)
            slot.mutex.release()
        return True

    # -- acquiring the file ---------------------------------------------------

    def _create(self, start: float, deadline: float):
        payload = make_payload(self._proc, new_token())
        delay = _POLL_FIRST
        while True:
            try:
                fd = os.open(self.path, _CREATE_FLAGS, 0o600)
            except FileExistsError:
                if self._clear_if_stale():
                    continue
                now = time.monotonic()
                if now >= deadline:
                    raise SessionLockTimeout(self.path, self._last_holder, now - start,
                                             self._wait_detail()) from None
                time.sleep(min(delay, deadline - now))
                delay = min(delay * 2, _POLL_MAX)
                continue
            except OSError as exc:
                raise lock_path_error(self.path, exc) from exc
            try:
                written = os.write(fd, payload)
                if written != len(payload):
                    raise OSError(errno.ENOSPC, "short write of the lock payload")
                st = os.fstat(fd)
            except BaseException as exc:
                # We created this file a moment ago; remove it only if the
                # path still names it, then report why we could not finish.
                try:
                    mine, there = os.fstat(fd), os.lstat(self.path)
                    if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
                        os.unlink(self.path)
                except OSError:
                    pass
                os.close(fd)
                if isinstance(exc, OSError):
                    raise lock_path_error(self.path, exc) from exc
                raise
            return fd, (st.st_dev, st.st_ino), payload

    def _wait_detail(self) -> str:
        if self._last_holder is None:
            return "the lock file could not be attributed to a process"
        if self._last_foreign_ns is not None:
            return (f"the holder runs in another PID namespace (pid_ns "
                    f"{self._last_foreign_ns}, a container?), where its pid cannot be "
                    f"checked, so its lock is never reclaimed by pid or age; if you know "
                    f"that process is gone, remove {self.path}")
        return "the holder is alive; a live holder's lock is never broken"

    def _clear_if_stale(self) -> bool:
        """True if the path is free now (vanished, or a stale lock was
        reclaimed); False if a live holder has it."""
        obs = self._observe()
        if obs is None:
            return True
        try:
            why = self._judge(obs)
            if why is None:
                return False
            return self._reclaim(obs, why)
        finally:
            if obs.fd >= 0:
                os.close(obs.fd)

    def _observe(self) -> Optional[_Observation]:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return None
        if not _stat.S_ISREG(st.st_mode):
            raise _bad_kind(self.path, st.st_mode)
        try:
            # O_NONBLOCK: if the path became a FIFO since lstat, open must not
            # wait for a writer. O_NOFOLLOW: never read through a symlink.
            fd = os.open(self.path, _READ_FLAGS)
        except FileNotFoundError:
            return None
        except PermissionError:
            # Another user's lock: we cannot read it, so we cannot prove its
            # holder gone. Treat it as alive; pin nothing.
            self._last_holder = None
            return _Observation(-1, st, b"", None, "unreadable", unreadable=True)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None  # became a symlink; the next lstat reports it
            raise lock_path_error(self.path, exc) from exc
        fst = os.fstat(fd)
        if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino) or not _stat.S_ISREG(fst.st_mode):
            os.close(fd)
            return None
        content: Optional[bytes] = None
        if fst.st_size <= MAX_LOCK_BYTES:
            content = os.pread(fd, MAX_LOCK_BYTES + 1, 0)
            if len(content) > MAX_LOCK_BYTES:
                content = None
        info, problem = parse_payload(content)
        return _Observation(fd, fst, content, info, problem)

    def _judge(self, obs: _Observation) -> Optional[str]:
        """Why the observed lock may be reclaimed, or None if it must be respected."""
        if obs.unreadable:
            return None
        st = obs.st
        if obs.info is None:
            self._last_holder = None
            # Empty is also what a live holder's lock looks like between its
            # O_EXCL create and its payload write, hence the grace. Age is
            # judged twice: by mtime (a lock left long ago is evicted at once)
            # and by our monotonic clock (a wall clock stepped backwards or a
            # future mtime cannot keep a broken lock alive forever).
            key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, obs.content)
            first_seen = self._malformed_seen.setdefault(key, time.monotonic())
            wall_age = time.time() - st.st_mtime
            if wall_age >= self.stale_grace or time.monotonic() - first_seen >= self.stale_grace:
                return f"{obs.problem} lock file, unchanged for {self.stale_grace}s"
            return None
        info = obs.info
        self._last_holder = info.pid
        self._last_foreign_ns = None
        ours = self._proc.boot_id()
        if info.boot_id is not None and ours is not None and info.boot_id != ours:
            return f"holder pid {info.pid} ran before a reboot (boot id {info.boot_id})"
        if info.pid_ns is not None:
            our_ns = pid_namespace_of(self._proc)
            if our_ns is not None and info.pid_ns != our_ns:
                # Its pid names another process here (or none): neither
                # "dead" nor "recycled" can be judged, so it counts as alive.
                self._last_foreign_ns = info.pid_ns
                return None
        if not self._proc.is_alive(info.pid):
            return f"holder pid {info.pid} is not running"
        if info.starttime is not None:
            actual = self._proc.starttime(info.pid)
            if actual is not None and actual != info.starttime:
                return (f"pid {info.pid} was recycled (start time {actual}, "
                        f"lock says {info.starttime})")
        return None

    def _reclaim(self, obs: _Observation, why: str) -> bool:
        """Evict the stale lock `obs`; True if the path is free afterwards.

        Claim by rename, then verify: rename moves whatever the path names
        *now* to a name only we know. If it is the stale file we judged (same
        inode, which `obs.fd` keeps from being reused, and same bytes), we
        unlink it. If another reclaimer got there first and a new holder
        already created a fresh lock, we have moved *that* one, so we link it
        back (link never replaces an existing name) and report the path busy.
        """
        private = f"{self.path}.stale-{new_token()}"
        try:
            os.rename(self.path, private)
        except FileNotFoundError:
            return True
        except OSError as exc:
            raise lock_path_error(self.path, exc) from exc
        try:
            st = os.lstat(private)
            same = (st.st_dev, st.st_ino) == (obs.st.st_dev, obs.st.st_ino)
            if same and obs.content is not None:
                same = os.pread(obs.fd, MAX_LOCK_BYTES + 1, 0) == obs.content
            elif same:
                same = st.st_size == obs.st.st_size and st.st_mtime_ns == obs.st.st_mtime_ns
            if same:
                log.warning("reclaimed stale session lock %s: %s", self.path, why)
                return True
            try:
                os.link(private, self.path)
            except FileExistsError:
                log.error("session lock %s: a live lock was displaced by a racing reclaim and "
                          "a third party locked meanwhile; its holder will find its lock gone "
                          "at release", self.path)
            return False
        finally:
            try:
                os.unlink(private)
            except FileNotFoundError:
                pass
