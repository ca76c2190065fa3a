"""Process-wide lock state: one slot per canonical lock path, and exit paths.

The slot is the in-process half of the session lock: its mutex makes threads
and controllers of this process exclude each other, and it remembers the
lock file we created (fd, inode, payload) so a release can prove the file at
the path is still ours before unlinking it. The same records let the exit
hooks (atexit, SIGTERM/SIGINT, fork) release or disown held locks.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from typing import TYPE_CHECKING, Dict, Optional, Tuple

if TYPE_CHECKING:
    from sessionfence.impl._lock import SessionLock

log = logging.getLogger("sessionfence.lock")


class _Slot:
    """In-process state of one lock path, shared by all handles on it."""

    __slots__ = ("path", "mutex", "owner", "depth", "pid", "fd", "ident", "payload")

    def __init__(self, path: str):
        self.path = path
        self.mutex = threading.Lock()
        self.owner: Optional["SessionLock"] = None
        self.depth = 0
        self.pid = 0
        self.fd = -1
        self.ident: Tuple[int, int] = (0, 0)
        self.payload = b""


_SLOTS: Dict[str, _Slot] = {}
_SLOTS_GUARD = threading.Lock()


def slot_for(path: str) -> _Slot:
    with _SLOTS_GUARD:
        slot = _SLOTS.get(path)
        if slot is None:
            slot = _SLOTS[path] = _Slot(path)
        return slot


def unlink_if_ours(path: str, fd: int, ident: Tuple[int, int], payload: bytes) -> bool:
    """Unlink the lock at `path` only if it is the file we created.

    Our fd pins the inode, so its number cannot be reused while we hold it:
    an equal (dev, ino) at the path means the path still names our file.
    The token re-read guards against a foreign tool rewriting it in place.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        log.warning("session lock %s vanished while held; it was removed by someone else", path)
        return False
    if (st.st_dev, st.st_ino) != ident:
        log.warning("session lock %s is no longer ours (another lock replaced it); "
                    "leaving it in place", path)
        return False
    if os.pread(fd, len(payload) + 1, 0) != payload:
        log.warning("session lock %s was rewritten by someone else; leaving it in place", path)
        return False
    os.unlink(path)
    return True


def release_all_held(why: str) -> None:
    """Release every lock this process holds; for exit paths only.

    Runs from atexit or a signal handler, possibly while the interrupted
    thread is inside acquire/release, so it takes no mutex (taking one could
    deadlock) and only touches slots recorded under this pid.
    """
    pid = os.getpid()
    for slot in list(_SLOTS.values()):
        if slot.owner is None or slot.pid != pid or slot.fd < 0:
            continue
        fd, slot.fd = slot.fd, -1
        try:
            unlink_if_ours(slot.path, fd, slot.ident, slot.payload)
            log.debug("released session lock %s at %s", slot.path, why)
        except OSError:
            pass
        finally:
            try:
                os.close(fd)
            except OSError:
                pass


_PREVIOUS_HANDLERS: Dict[int, object] = {}
HOOKS_INSTALLED = False


def _on_exit_signal(signum, frame):
    previous = _PREVIOUS_HANDLERS.get(signum)
    if callable(previous):
        # A Python handler decides what happens next (KeyboardInterrupt,
        # sys.exit, or carrying on). If the process goes on living, its
        # controllers still own their locks, so nothing is released here;
        # unwinding and atexit release them if it exits.
        return previous(signum, frame)
    # SIG_DFL: the process is about to die without unwinding or atexit.
    release_all_held(signal.Signals(signum).name)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install_exit_handlers() -> None:
    """Release held locks on SIGTERM/SIGINT (release at exit is always on).

    Called by every successful acquire; it acts once, and only on the main
    thread, because Python installs signal handlers only there. A program
    whose locks are first taken in worker threads calls it from the main
    thread itself. A signal already ignored (SIG_IGN) or handled from C is
    left alone.
    """
    global HOOKS_INSTALLED
    if HOOKS_INSTALLED:
        return
    if threading.current_thread() is not threading.main_thread():
        return
    HOOKS_INSTALLED = True
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if previous in (signal.SIG_IGN, None) or previous is _on_exit_signal:
            continue
        _PREVIOUS_HANDLERS[signum] = previous
        signal.signal(signum, _on_exit_signal)


def _after_fork_in_child() -> None:
    # The child did not acquire anything: locks held by the parent stay the
    # parent's. Forget them (closing our copy of the fd) so that neither a
    # release nor the child's atexit can unlink the parent's lock, and give
    # every mutex a fresh state (one may have been held by a parent thread).
    global _SLOTS_GUARD
    _SLOTS_GUARD = threading.Lock()
    for slot in _SLOTS.values():
        if slot.owner is not None and slot.fd >= 0:
            try:
                os.close(slot.fd)
            except OSError:
                pass
        slot.mutex = threading.Lock()
        slot.owner, slot.depth, slot.pid, slot.fd = None, 0, 0, -1


atexit.register(release_all_held, "exit")
os.register_at_fork(after_in_child=_after_fork_in_child)
