"""The process-wide registry of owned file states, keyed by canonical path.

One `FileState` per transcript holds the shared variables of the model
(`reg_epoch`, `reg_gen`, `reg_fp`, `next_epoch`, `trusted`); which of them a
policy uses is the policy's business. All controllers of the process that
work on one file share its `FileState`, so the registry is the channel
through which a released controller learns that a peer's write was owned.

Concurrency: every policy hook runs under `FileState.mutex`. In normal use
the hooks also run under the session lock, which already serialises the
controllers of one file; the mutex makes the registry safe on its own (for
snapshots taken by other threads, and for misuse).
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass, field
from typing import Dict, Optional, Union

from sessionfence.impl._errors import SessionFenceError
from sessionfence.impl._fingerprint import Fingerprint


@dataclass(eq=False)
class FileState:
    """Shared fence state of one transcript (the model's global variables)."""

    path: str
    policy: str
    reg_epoch: int = 0  # 0: no epoch has begun
    reg_gen: int = 0
    reg_fp: Optional[Fingerprint] = None  # None: the model's NO_FP
    next_epoch: int = 1
    trusted: Optional[Fingerprint] = None
    mutex: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # file-owner: the attempt that owns the path (a FenceContext), and the
    # condition a second attempt waits on (built on `mutex`).
    owner: Optional[object] = field(default=None, repr=False)
    owner_free: Optional[threading.Condition] = field(default=None, repr=False)

    def __post_init__(self):
        self.owner_free = threading.Condition(self.mutex)

    def snapshot(self) -> "RegistrySnapshot":
        with self.mutex:
            return RegistrySnapshot(self.reg_epoch, self.reg_gen, self.reg_fp,
                                    self.next_epoch, self.trusted)


@dataclass(frozen=True)
class RegistrySnapshot:
    reg_epoch: int
    reg_gen: int
    reg_fp: Optional[Fingerprint]
    next_epoch: int
    trusted: Optional[Fingerprint]


def canonical_path(path: Union[str, "os.PathLike[str]"]) -> str:
    """The transcript's key: its directory resolved (`realpath`), its name not.

    A symlinked directory, `..` or a relative path lead to the same key as
    the real path. A symlink as the last component is kept as it is, so it
    is never followed: the transcript is opened with O_NOFOLLOW and refused.
    """
    path = os.fspath(path)
    head, name = os.path.split(path)
    if name in ("", ".", ".."):
        return os.path.realpath(path)  # names a directory: refused at open
    return os.path.join(os.path.realpath(head or "."), name)


class PolicyMismatchError(SessionFenceError, ValueError):
    """Two policies were used on one file in one registry."""


class Registry:
    """Thread-safe map canonical path -> FileState."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._files: Dict[str, FileState] = {}
        _ALL_REGISTRIES.add(self)

    def file_state(self, path: str, policy: str) -> FileState:
        """The state of `path` (canonicalised), created on first use.

        A file's registry entry belongs to one policy: the variables mean
        different things to different policies, so mixing them on one file
        would let one policy's publication be read with another's rules.
        """
        key = canonical_path(path)
        with self._guard:
            state = self._files.get(key)
            if state is None:
                state = self._files[key] = FileState(key, policy)
            elif state.policy != policy:
                raise PolicyMismatchError(
                    f"{key} is already fenced with policy {state.policy!r} in this registry; "
                    f"a controller with policy {policy!r} cannot share it (use a separate "
                    f"Registry, or the same policy)")
            return state

    def snapshot(self, path: str) -> Optional[RegistrySnapshot]:
        with self._guard:
            state = self._files.get(canonical_path(path))
        return None if state is None else state.snapshot()

    def forget(self, path: str) -> None:
        """Drop the entry of `path` (all its controllers must be done)."""
        with self._guard:
            self._files.pop(canonical_path(path), None)

    def _after_fork_in_child(self) -> None:
        # A parent thread may have held these mutexes at fork time.
        self._guard = threading.Lock()
        for state in self._files.values():
            state.mutex = threading.RLock()
            state.owner_free = threading.Condition(state.mutex)


_ALL_REGISTRIES: "weakref.WeakSet[Registry]" = weakref.WeakSet()
DEFAULT_REGISTRY = Registry()


def default_registry() -> Registry:
    """The process-wide registry controllers use unless given another."""
    return DEFAULT_REGISTRY


def _fork_child() -> None:
    for registry in list(_ALL_REGISTRIES):
        registry._after_fork_in_child()


os.register_at_fork(after_in_child=_fork_child)
