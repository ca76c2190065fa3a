"""The lock file's payload: who holds the lock, in JSON.

{"pid", "starttime", "boot_id", "pid_ns", "created_at", "token"}: enough
for a waiter to tell a dead, recycled or pre-reboot holder from a live one,
to know when the holder's pid cannot be checked at all (another PID
namespace), and for the holder to recognise its own file at release. The
parser is strict: anything that is not exactly this shape is "malformed",
which the lock treats as evictable only after a grace period (it may be a
live holder's lock caught between its O_EXCL create and its payload write).
Payloads written before `pid_ns` existed parse, with `pid_ns` None.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from sessionfence.impl._proc import ProcTable, pid_namespace_of

MAX_LOCK_BYTES = 4096
"""A lock payload is ~150 bytes; anything above this is not ours and is never read in full."""


@dataclass(frozen=True)
class LockInfo:
    """A parsed, well-formed lock payload."""

    pid: int
    starttime: Optional[int]
    boot_id: Optional[str]
    created_at: Optional[float]
    token: str
    pid_ns: Optional[int] = None
    """The holder's PID namespace (inode), None if unknown or an older payload."""


class _Malformed(ValueError):
    pass


def _no_duplicates(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise _Malformed(f"duplicate key {k!r}")
        seen[k] = v
    return seen


def _no_constants(name):
    raise _Malformed(f"non-finite number {name}")


def parse_payload(content: Optional[bytes]) -> Tuple[Optional[LockInfo], str]:
    """(info, "") for a well-formed payload, else (None, what is wrong)."""
    if content is None:
        return None, f"larger than {MAX_LOCK_BYTES} bytes"
    if not content:
        return None, "empty"
    try:
        obj = json.loads(content.decode("utf-8"), object_pairs_hook=_no_duplicates,
                         parse_constant=_no_constants)
    except _Malformed as exc:
        return None, str(exc)
    except (UnicodeDecodeError, ValueError):
        return None, "not UTF-8 JSON"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    pid = obj.get("pid")
    # bool is an int subclass; pid 0 or negative would make kill() signal a
    # whole process group, so such payloads are malformed, never probed.
    if type(pid) is not int or pid <= 0:
        return None, "pid missing or not a positive integer"
    start = obj.get("starttime")
    if start is not None and (type(start) is not int or start < 0):
        return None, "starttime not a non-negative integer"
    boot = obj.get("boot_id")
    if boot is not None and not isinstance(boot, str):
        return None, "boot_id not a string"
    created = obj.get("created_at")
    if created is not None and (type(created) not in (int, float) or not math.isfinite(created)):
        return None, "created_at not a finite number"
    token = obj.get("token")
    if not isinstance(token, str) or not token:
        return None, "token missing"
    ns = obj.get("pid_ns")
    if ns is not None and (type(ns) is not int or ns < 0):
        return None, "pid_ns not a non-negative integer"
    return LockInfo(pid, start, boot, created, token, ns), ""


_TOKEN_PREFIX: Dict[int, str] = {}
_TOKEN_COUNTER = iter(range(1, 1 << 62))
_IDENTITY_CACHE: Dict[Tuple[int, int], str] = {}


def new_token() -> str:
    pid = os.getpid()
    prefix = _TOKEN_PREFIX.get(pid)
    if prefix is None:
        prefix = _TOKEN_PREFIX[pid] = f"{pid:x}-{os.urandom(6).hex()}"
    return f"{prefix}-{next(_TOKEN_COUNTER)}"


def make_payload(proc: ProcTable, token: str) -> bytes:
    """The JSON payload {pid, starttime, boot_id, pid_ns, created_at, token}."""
    pid = os.getpid()
    key = (pid, id(proc))
    head = _IDENTITY_CACHE.get(key)
    if head is None:
        # Our own identity cannot change while we live (a fork changes the
        # pid and therefore the key), so /proc is read once per process.
        head = _IDENTITY_CACHE[key] = (
            f'{{"pid": {pid}, "starttime": {json.dumps(proc.starttime(pid))}, '
            f'"boot_id": {json.dumps(proc.boot_id())}, '
            f'"pid_ns": {json.dumps(pid_namespace_of(proc))}, ')
    return f'{head}"created_at": {time.time()!r}, "token": "{token}"}}'.encode()
