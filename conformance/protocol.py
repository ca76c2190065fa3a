"""The adapter protocol, version 1: JSON Lines shared by runner and adapters.

One JSON object per line in each direction; the runner writes a request,
the adapter answers with exactly one line. See docs/adapter-protocol.md.

    {"op": "hello", "protocol": 1}
      -> {"protocol": 1, "implementation": str, "policies": [...],
          "fingerprint_modes": [...], "pause_points": [...], "exposes": [...]}
    {"op": "setup", "directory": str, "transcript": str, "policy": str,
     "fingerprint": "stat"|"digest", "controllers": ["c1", ...]}       -> STATE
    {"op": STEP, "controller": "c1", "mode": "publish"|"broad"|"cleanup"|null}
                                                    -> STATE + outcome
    {"op": "observe"}                                                   -> STATE
    {"op": "teardown"}                                   -> {"ok": true}

    STATE = {"phase": phase of the acting controller (steps only),
             "phases": {"c1": phase, ...}, "holder": "c1"|"none",
             "lock_file": bool, "fingerprint": TOKEN,
             "state": {"fence": {"c1": TOKEN|null}, "reg_fp": TOKEN|null, ...},
             "outcome": "ok"|"takeover"|"error", "detail": str}

A TOKEN is an opaque string: equal tokens mean the same file state, in
whatever sense the implementation's fingerprint has (only equality is
used). null is "no fingerprint recorded". A request the adapter cannot
understand is answered {"error": "..."}; a step it attempted that failed
for a reason other than a takeover is {"outcome": "error", "detail": ...}.
"""

from __future__ import annotations

from typing import Optional

from sessionfence.conformance.compare import View
from sessionfence.impl import Fingerprint

PROTOCOL_VERSION = 1
STEP_OPS = ("start", "release", "reacquire", "begin_write", "read_before", "append",
            "finish_write", "dispose")
OUTCOMES = ("ok", "takeover", "error")


class ProtocolViolation(ValueError):
    """A message does not follow the protocol; the text says what is wrong."""


def token(fp) -> Optional[str]:
    """An implementation Fingerprint as an opaque token (None stays None)."""
    if fp is None:
        return None
    if not fp.exists:
        return "missing"
    text = f"{fp.dev}:{fp.ino}:{fp.size}:{fp.mtime_ns}:{fp.ctime_ns}"
    if fp.digest is not None:
        text += ":" + fp.digest.hex()
    return text


def view_to_json(view: View, acting: Optional[str] = None) -> dict:
    out: dict = {}
    if view.outcome is not None:
        out["outcome"] = view.outcome
    if acting is not None:
        out["phase"] = view.phase.get(acting)
    out["phases"] = view.phase
    out["holder"] = view.holder
    out["lock_file"] = view.lock_file
    out["fingerprint"] = token(view.values.get("file"))
    state = {}
    for name, value in view.values.items():
        if name == "file":
            continue
        if isinstance(value, dict):
            value = {c: token(v) if isinstance(v, Fingerprint) else v for c, v in value.items()}
        elif isinstance(value, Fingerprint):
            value = token(value)
        state[name] = value
    out["state"] = state
    if view.detail:
        out["detail"] = view.detail
    return out


def view_from_json(obj, where: str) -> View:
    """A STATE response as a View; ProtocolViolation says what is malformed."""
    if not isinstance(obj, dict):
        raise ProtocolViolation(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if "error" in obj:
        raise ProtocolViolation(f"{where}: the adapter rejected the request: {obj['error']}")
    outcome = obj.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise ProtocolViolation(f"{where}: outcome must be one of {', '.join(OUTCOMES)}, "
                                f"got {outcome!r}")
    phases = obj.get("phases")
    if not isinstance(phases, dict) or not all(isinstance(v, str) for v in phases.values()):
        raise ProtocolViolation(f"{where}: 'phases' must map controllers to phase names")
    holder = obj.get("holder")
    if not isinstance(holder, str):
        raise ProtocolViolation(f"{where}: 'holder' must be a controller name or \"none\"")
    lock_file = obj.get("lock_file")
    if lock_file is not None and not isinstance(lock_file, bool):
        raise ProtocolViolation(f"{where}: 'lock_file' must be true, false or absent")
    if "fingerprint" not in obj:
        raise ProtocolViolation(f"{where}: 'fingerprint' (the file's current token) is missing")
    state = obj.get("state", {})
    if not isinstance(state, dict):
        raise ProtocolViolation(f"{where}: 'state' must be an object")
    values = {"file": obj["fingerprint"], **state}
    return View(outcome, phases, holder, lock_file, values, str(obj.get("detail", "")))
