"""Every exception the implementation raises on purpose.

Each error carries the facts a caller needs to act (paths, pids, phases,
fingerprints) as attributes, and a message that says what happened and what
to do about it. All of them pickle, so they survive a trip through
`multiprocessing` or a test helper's pipe.
"""

from __future__ import annotations

import errno as _errno
from typing import TYPE_CHECKING, Iterable, Optional

if TYPE_CHECKING:
    from sessionfence.impl._fingerprint import Fingerprint


class SessionFenceError(Exception):
    """Base class of every error raised on purpose by `sessionfence.impl`."""


class SessionLockTimeout(SessionFenceError, TimeoutError):
    """The session write lock could not be acquired in time.

    `holder_pid` is the pid recorded in the lock file when we last looked
    (None if the file was unreadable or it is held by another controller of
    this process and we never saw the file), `waited` the seconds we waited.
    """

    def __init__(self, lock_path: str, holder_pid: Optional[int], waited: float, detail: str = ""):
        self.lock_path = lock_path
        self.holder_pid = holder_pid
        self.waited = waited
        self.detail = detail
        who = f"pid {holder_pid}" if holder_pid is not None else "an unknown holder"
        msg = f"timed out after {waited:.3f}s waiting for session lock {lock_path} (held by {who})"
        if detail:
            msg += f"; {detail}"
        super().__init__(_errno.ETIMEDOUT, msg)

    def __str__(self) -> str:
        return self.strerror

    def __reduce__(self):
        return (type(self), (self.lock_path, self.holder_pid, self.waited, self.detail))


class SessionLockError(SessionFenceError, OSError):
    """The lock path cannot be used: what is wrong and how to fix it.

    Raised for a directory, FIFO, socket, device or symlink at the lock path,
    a missing or read-only directory, or permission denied. `reason` is a short
    machine-friendly tag ("symlink", "directory", "fifo", "missing-directory",
    "permission", ...), `hint` the suggested fix.
    """

    def __init__(self, lock_path: str, reason: str, message: str, hint: str = "",
                 errno: Optional[int] = None):
        self.lock_path = lock_path
        self.reason = reason
        self.message = message
        self.hint = hint
        text = f"session lock {lock_path}: {message}"
        if hint:
            text += f" ({hint})"
        super().__init__(errno if errno is not None else _errno.EINVAL, text)
        self.filename = lock_path

    def __str__(self) -> str:
        return self.strerror

    def __reduce__(self):
        return (type(self), (self.lock_path, self.reason, self.message, self.hint, self.errno))


class SessionTakeoverError(SessionFenceError):
    """The session file changed in a way this controller cannot vouch for.

    `check` names the check point that failed ("release", "reacquire",
    "begin_write", "read_before", "finish_write", or "append" for a failed
    write), `expected` is the fingerprint the controller trusted and `found`
    what the file looked like (either may be None when there is none), and
    `reason` a one-line diagnosis ("size changed 120 -> 180", ...). The
    controller is now in phase `taken_over` for good and holds no lock.
    """

    def __init__(self, path: str, check: str, expected: Optional["Fingerprint"],
                 found: Optional["Fingerprint"], reason: str, sticky: bool = False):
        self.path = path
        self.check = check
        self.expected = expected
        self.found = found
        self.reason = reason
        self.sticky = sticky
        exp = expected.describe() if expected is not None else "none"
        fnd = found.describe() if found is not None else "none"
        head = "controller was already taken over: " if sticky else ""
        super().__init__(
            f"{head}session file {path} changed outside this controller's ownership; "
            f"the {check} check failed: {reason}; expected {exp}, found {fnd}"
        )

    def again(self) -> "SessionTakeoverError":
        """The error every later call on a taken-over controller raises."""
        return type(self)(self.path, self.check, self.expected, self.found,
                          self.reason, sticky=True)

    def __reduce__(self):
        return (type(self), (self.path, self.check, self.expected, self.found,
                             self.reason, self.sticky))


class TornTailError(SessionTakeoverError):
    """The transcript ends in a torn line, so an append would be glued to it.

    Raised by an owned append before anything is written, when the file's
    last byte is not a newline: someone else left a partial line there (a
    writer that crashed mid-write, a power loss, a short write). Those bytes
    are someone's data, so the library neither writes after them (our record
    could never be read back as its own line) nor repairs them. The
    controller is taken over like for any takeover (`check` is "append").
    Repair the file, then start a new controller: `read_transcript` shows
    the torn bytes (`TranscriptRead.torn_tail`).
    """


class ProtocolError(SessionFenceError, RuntimeError):
    """A step was called in a phase where the protocol does not allow it,
    or on a controller that cannot take it at all (`detail` says why)."""

    def __init__(self, step: str, phase: str, allowed: Iterable[str], detail: str = ""):
        self.step = step
        self.phase = phase
        self.allowed = tuple(allowed)
        self.detail = detail
        if detail and phase in self.allowed:
            # The phase is right; something else is wrong (a forked child, a
            # stale section): say only that, not "not allowed in <phase>".
            msg = f"{step} refused: {detail}"
        else:
            msg = (f"{step} is not allowed in phase {phase!r}; it is allowed in "
                   f"{', '.join(repr(p) for p in self.allowed) or 'no phase'}")
            if detail:
                msg += f" ({detail})"
        super().__init__(msg)

    def __reduce__(self):
        return (type(self), (self.step, self.phase, self.allowed, self.detail))


class TranscriptError(SessionFenceError, OSError):
    """The transcript path is unusable (a directory, FIFO, symlink, ...)."""

    def __init__(self, path: str, message: str, errno: Optional[int] = None):
        self.path = path
        self.message = message
        super().__init__(errno if errno is not None else _errno.EINVAL,
                         f"transcript {path}: {message}")
        self.filename = path

    def __str__(self) -> str:
        return self.strerror

    def __reduce__(self):
        return (type(self), (self.path, self.message, self.errno))


class TranscriptWriteError(TranscriptError):
    """An owned write failed or was short.

    `written` of `wanted` bytes reached the file. After a short write,
    `restored` says whether those bytes were removed again (the file is back
    to the size it had before our write) or left as a torn tail. `errno` is
    the write's error, or for a short write the likely cause (EFBIG: the
    RLIMIT_FSIZE file size limit; ENOSPC: no free blocks), or None when the
    cause is unknown. The controller that issued it fails closed: it moves to
    `taken_over` (it can no longer vouch for the file) and releases its lock.
    """

    def __init__(self, path: str, message: str, errno: Optional[int] = None,
                 written: int = 0, wanted: int = 0, restored: bool = False):
        super().__init__(path, message, errno)
        self.errno = errno  # None stays None: no made-up EINVAL for a short write
        self.written = written
        self.wanted = wanted
        self.restored = restored

    def __reduce__(self):
        return (type(self), (self.path, self.message, self.errno, self.written, self.wanted,
                             self.restored))
