"""The adapter for the Python implementation: `python -m sessionfence.conformance.adapter`.

Serves `local_driver.LocalDriver` over the JSON Lines protocol of
`protocol.py` (docs/adapter-protocol.md), so `sessionfence replay
--adapter "python -m sessionfence.conformance.adapter"` drives this
implementation the way it would drive one written in another language.
An adapter for another implementation answers the same requests.

It answers a hello in protocol 2, or in 1 when the runner offers only 1.

Options (for testing runners; a real adapter declares what it can do):
  --pause-points LIST  declare only these pause points (comma separated,
                       empty for none) although all are supported; as
                       MODE:LIST (repeatable) for one write mode only, the
                       modes not named then declaring none
  --policies LIST      declare only these policies
  --derived LIST       declare these fields (phase, holder) the adapter's
                       bookkeeping although they are observed
  --protocol 1         behave as a version 1 adapter: refuse any hello but 1
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from sessionfence.conformance.local_driver import LocalDriver
from sessionfence.conformance.protocol import (
    PROTOCOL_VERSION,
    STEP_OPS,
    WRITE_MODES,
    pause_points_json,
    view_to_json,
)
from sessionfence.impl import FINGERPRINT_MODES


class AdapterServer:
    """`pause_points`: a list (every write mode) or {mode: list}."""

    def __init__(self, pause_points=None, policies=None, derived=(),
                 protocol: int = PROTOCOL_VERSION):
        self.driver = LocalDriver()
        points = self.driver.pause_points if pause_points is None else pause_points
        if not isinstance(points, dict):
            points = {m: points for m in WRITE_MODES}
        self.pause_points = {m: list(points.get(m, ())) for m in WRITE_MODES}
        self.policies = list(self.driver.policies if policies is None else policies)
        self.derived = list(derived)
        self.max_protocol = protocol
        self.controllers: list = []

    def handle(self, req) -> dict:
        if not isinstance(req, dict) or not isinstance(req.get("op"), str):
            return {"error": "a request is a JSON object with a string 'op'"}
        op = req["op"]
        if op == "hello":
            return self._hello(req)
        if op == "setup":
            return self._setup(req)
        if op == "observe":
            if not self.controllers:
                return {"error": "observe before setup"}
            return view_to_json(self.driver.observe())
        if op == "teardown":
            self.driver.teardown()
            self.controllers = []
            return {"ok": True}
        if op in STEP_OPS:
            return self._step(op, req)
        return {"error": f"unknown op {op!r}; ops are hello, setup, observe, teardown, "
                         f"{', '.join(STEP_OPS)}"}

    def _hello(self, req) -> dict:
        offered = req.get("protocol")
        if offered not in (1, 2) or offered > self.max_protocol:
            return {"error": f"protocol {offered!r} not supported; this adapter speaks "
                             f"{' and '.join(str(v) for v in range(1, self.max_protocol + 1))}"}
        answer = {"protocol": offered, "implementation": "sessionfence.impl (python)",
                  "policies": self.policies, "fingerprint_modes": list(FINGERPRINT_MODES),
                  "exposes": list(self.driver.exposes)}
        if offered == 1:
            # Version 1 has one list for every mode: only what all modes share.
            common = [p for p in self.pause_points["publish"]
                      if all(p in self.pause_points[m] for m in WRITE_MODES)]
            return {**answer, "pause_points": common}
        return {**answer, "pause_points": pause_points_json(self.pause_points),
                "derived": self.derived}

    def _setup(self, req) -> dict:
        ctrls = req.get("controllers")
        if not isinstance(ctrls, list) or not ctrls or \
                ctrls != [f"c{i}" for i in range(1, len(ctrls) + 1)]:
            return {"error": "setup: 'controllers' must be [\"c1\", ..., \"cN\"]"}
        policy, fp = req.get("policy"), req.get("fingerprint")
        if policy not in self.policies:
            return {"error": f"setup: policy {policy!r} not supported ({', '.join(self.policies)})"}
        if fp not in FINGERPRINT_MODES:
            return {"error": f"setup: fingerprint must be one of {', '.join(FINGERPRINT_MODES)}"}
        for key in ("directory", "transcript"):
            if not isinstance(req.get(key), str):
                return {"error": f"setup: {key!r} must be a path"}
        view = self.driver.setup(req["directory"], req["transcript"], policy, fp, len(ctrls))
        self.controllers = ctrls
        return view_to_json(view)

    def _step(self, op: str, req) -> dict:
        who = req.get("controller")
        if who not in self.controllers:
            return {"error": f"{op}: unknown controller {who!r}"
                             + ("" if self.controllers else " (no setup yet)")}
        mode: Optional[str] = req.get("mode")
        if op == "begin_write" and mode not in ("publish", "broad", "cleanup"):
            return {"error": "begin_write: mode must be publish, broad or cleanup"}
        view = self.driver.step(op, int(who[1:]), mode)
        return view_to_json(view, acting=who)


def _names(text: str) -> list:
    return [x for x in (p.strip() for p in text.split(",")) if x]


def _pause_points(values):
    """--pause-points values: one LIST for every mode, or MODE:LIST parts."""
    if values is None:
        return None
    if len(values) == 1 and ":" not in values[0]:
        return _names(values[0])
    table = {}
    for value in values:
        mode, sep, names = value.partition(":")
        if not sep or mode not in WRITE_MODES:
            raise SystemExit(f"--pause-points {value!r}: use LIST or MODE:LIST with a mode "
                             f"of {', '.join(WRITE_MODES)}")
        table[mode] = _names(names)
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sessionfence.conformance.adapter",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pause-points", action="append", default=None, metavar="LIST")
    parser.add_argument("--policies", type=_names, default=None, metavar="LIST")
    parser.add_argument("--derived", type=_names, default=[], metavar="LIST")
    parser.add_argument("--protocol", type=int, choices=(1, 2), default=PROTOCOL_VERSION)
    args = parser.parse_args(argv)
    server = AdapterServer(_pause_points(args.pause_points), args.policies, args.derived,
                           args.protocol)
    out = sys.stdout
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                req = json.loads(line)
            except json.JSONDecodeError as exc:
                reply = {"error": f"not JSON: {exc.msg}"}
            else:
                reply = server.handle(req)
            out.write(json.dumps(reply) + "\n")
            out.flush()
    finally:
        server.driver.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
