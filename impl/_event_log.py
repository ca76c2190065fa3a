"""An opt-in JSON Lines log of a controller's fence decisions.

    log = EventLog("fence-events.jsonl")
    c1 = SessionController(path, event_log=log, name="c1")

One line per step the controller takes (the model's steps: `start`,
`release`, `reacquire`, `begin_write`, `read_before`, `append`,
`finish_write`, `dispose`), written when the step ends, whatever its
outcome. The fields are in docs/event-log.md; `sessionfence check-log`
validates a log against a model variant.

Each line is one `os.write` on an `O_APPEND` descriptor, so controllers of
several processes may share one log file and their lines never interleave
within a line. Logging costs one small write per step and reads nothing
from the transcript: the fingerprint logged is the one the step itself
observed.
"""

from __future__ import annotations

import functools
import json
import os
import time
from typing import Optional

from sessionfence.impl._errors import SessionTakeoverError

LOG_VERSION = 1


def fp_token(fp) -> Optional[str]:
    """A fingerprint as an opaque string ("missing" for an absent file)."""
    if fp is None:
        return None
    if not fp.exists:
        return "missing"
    token = f"{fp.dev}:{fp.ino}:{fp.size}:{fp.mtime_ns}:{fp.ctime_ns}"
    return token + (f":{fp.digest.hex()}" if fp.digest is not None else "")


def decision(policy, step: str, source: str, outcome: str) -> str:
    """What the step decided, from the policy's check points: a passed check
    accepts, a recorded observation without a check adopts."""
    if outcome == "takeover":
        return "takeover"
    if outcome != "ok":
        return "none"
    if step == "start":
        return "adopt"
    if step == "release":
        if policy.check_at_release:
            return "accept"
        return "adopt" if getattr(policy, "records_at_release", True) else "none"
    if step == "reacquire":
        return "accept"
    if step == "begin_write":
        return "accept" if source == "released" or policy.check_when_held else "none"
    if step == "read_before":
        return "accept" if policy.before_ok is not None else "none"
    if step == "finish_write":
        return "accept" if policy.write_ok is not None else "adopt"
    return "none"


class EventLog:
    """Where the events go: a path (opened for appending) or an open fd."""

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o644)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record(self, ctrl, step: str, mode: Optional[str], source: str, outcome: str,
               found=None, detail: str = "") -> None:
        if self._fd < 0:
            return
        if ctrl.holds_lock:
            holder = ctrl.name
        else:
            holder = "other" if os.path.lexists(ctrl.lock.path) else "none"
        event = {
            "v": LOG_VERSION, "time": round(time.time(), 6), "pid": os.getpid(),
            "controller": ctrl.name, "transcript": ctrl.path, "policy": ctrl.policy.name,
            "fingerprint_mode": ctrl.fingerprint_mode,
            "step": step, "mode": mode, "from": source, "phase": ctrl.phase,
            "outcome": outcome, "decision": decision(ctrl.policy, step, source, outcome),
            "fingerprint": fp_token(found), "fence": fp_token(ctrl.fence), "holder": holder,
        }
        if detail:
            event["detail"] = detail
        os.write(self._fd, (json.dumps(event, separators=(",", ":")) + "\n").encode())


def logged(step: str):
    """Log the decorated step method of SessionController (if it has a log)."""
    def wrap(fn):
        @functools.wraps(fn)
        def step_method(self, *args, **kwargs):
            log = self._event_log
            if log is None:
                return fn(self, *args, **kwargs)
            source = self._phase
            mode = kwargs.get("mode", args[0] if step == "begin_write" and args else None)
            if step == "begin_write" and mode is None:
                mode = "publish"
            self._observed = None
            try:
                result = fn(self, *args, **kwargs)
            except SessionTakeoverError as exc:
                log.record(self, step, mode, source, "takeover", exc.found or self._observed,
                           f"{exc.check} check: {exc.reason}")
                raise
            except Exception as exc:
                log.record(self, step, mode, source, "error", self._observed,
                           f"{type(exc).__name__}: {exc}")
                raise
            log.record(self, step, mode, source, "ok", self._observed)
            return result
        return step_method
    return wrap
