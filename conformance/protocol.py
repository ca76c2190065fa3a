"""The adapter protocol, version 2 (version 1 still accepted): JSON Lines.

One JSON object per line in each direction; the runner writes a request,
the adapter answers with exactly one line. See docs/adapter-protocol.md.

    {"op": "hello", "protocol": 2, "protocols": [1, 2]}
      -> {"protocol": 2, "implementation": str, "policies": [...],
          "fingerprint_modes": [...], "exposes": [...],
          "pause_points": [...] | {"publish": [...], "broad": [...], "cleanup": [...]},
          "derived": ["phase", "holder"]}
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

Version 1 differs only in the hello answer: `pause_points` is a list (it
applies to every write mode) and there is no `derived`. An adapter that
answers `protocol: 1`, or refuses the offer of 2 and accepts a second hello
with `protocol: 1`, is driven with version 1 semantics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sessionfence.conformance.compare import View
from sessionfence.impl import Fingerprint

PROTOCOL_VERSION = 2
PROTOCOL_VERSIONS = (1, 2)  # what the runner accepts
STEP_OPS = ("start", "release", "reacquire", "begin_write", "read_before", "append",
            "finish_write", "dispose")
OUTCOMES = ("ok", "takeover", "error")
WRITE_MODES = ("publish", "broad", "cleanup")
PAUSE_POINTS = ("begin_write", "read_before", "append")
DERIVABLE = ("phase", "holder")


class ProtocolViolation(ValueError):
    """A message does not follow the protocol; the text says what is wrong."""


@dataclass(frozen=True)
class Capabilities:
    """What an adapter declared in its hello answer, normalised."""

    protocol: int
    implementation: str
    policies: tuple
    fingerprint_modes: tuple
    pause_points: dict  # write mode -> tuple of pause points (every mode present)
    exposes: tuple
    derived: tuple  # fields that are the adapter's bookkeeping, not observations


def _names(hello: dict, key: str, strict: bool, allowed=None) -> tuple:
    value = hello.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        if strict:
            raise ProtocolViolation(f"hello: {key!r} must be a list of strings, got {value!r}")
        return ()
    if allowed is not None:
        bad = [x for x in value if x not in allowed]
        if bad and strict:
            raise ProtocolViolation(f"hello: {key!r} names {', '.join(map(repr, bad))}; "
                                    f"allowed are {', '.join(allowed)}")
        value = [x for x in value if x in allowed]
    return tuple(dict.fromkeys(value))


def _pause_points(hello: dict, strict: bool) -> dict:
    raw = hello.get("pause_points")
    if isinstance(raw, dict) and strict:
        bad = [m for m in raw if m not in WRITE_MODES]
        if bad:
            raise ProtocolViolation(f"hello: 'pause_points' has unknown write mode(s) "
                                    f"{', '.join(map(repr, bad))}; the modes are "
                                    f"{', '.join(WRITE_MODES)}")
        return {m: _names({m: raw.get(m, [])}, m, strict, PAUSE_POINTS) for m in WRITE_MODES}
    if isinstance(raw, dict):  # version 1 has no per-mode form: nothing is declared
        raw = []
    points = _names({"pause_points": raw}, "pause_points", strict, PAUSE_POINTS)
    return {m: points for m in WRITE_MODES}


def capabilities(hello: dict, protocol: int, command: str) -> Capabilities:
    """The hello answer of an adapter speaking `protocol`, checked.

    Version 2 is checked strictly (a wrong declaration is a ProtocolViolation
    naming the key); version 1 keeps its lenient reading, where unknown names
    are ignored, so adapters written for it still run unchanged.
    """
    strict = protocol >= 2
    impl = hello.get("implementation", command)
    return Capabilities(
        protocol=protocol,
        implementation=str(impl),
        policies=_names(hello, "policies", strict),
        fingerprint_modes=_names(hello, "fingerprint_modes", strict),
        pause_points=_pause_points(hello, strict),
        exposes=_names(hello, "exposes", strict),
        derived=_names(hello, "derived", strict, DERIVABLE) if strict else (),
    )


def pause_points_json(points: dict):
    """The hello form of a pause-point table: a list when every mode has the
    same points, else the per-mode object (version 2)."""
    values = {tuple(points[m]) for m in WRITE_MODES}
    if len(values) == 1:
        return list(next(iter(values)))
    return {m: list(points[m]) for m in WRITE_MODES}


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
