"""The adapter for the Python implementation: `python -m sessionfence.conformance.adapter`.

Serves `local_driver.LocalDriver` over the JSON Lines protocol of
`protocol.py` (docs/adapter-protocol.md), so `sessionfence replay
--adapter "python -m sessionfence.conformance.adapter"` drives this
implementation the way it would drive one written in another language.
An adapter for another implementation answers the same requests.

Options (for testing runners; a real adapter declares what it can do):
  --pause-points LIST  declare only these pause points (comma separated,
                       empty for none) although all are supported
  --policies LIST      declare only these policies
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from sessionfence.conformance.local_driver import LocalDriver
from sessionfence.conformance.protocol import PROTOCOL_VERSION, STEP_OPS, view_to_json
from sessionfence.impl import FINGERPRINT_MODES


class AdapterServer:
    def __init__(self, pause_points=None, policies=None):
        self.driver = LocalDriver()
        self.pause_points = list(self.driver.pause_points if pause_points is None else pause_points)
        self.policies = list(self.driver.policies if policies is None else policies)
        self.controllers: list = []

    def handle(self, req) -> dict:
        if not isinstance(req, dict) or not isinstance(req.get("op"), str):
            return {"error": "a request is a JSON object with a string 'op'"}
        op = req["op"]
        if op == "hello":
            if req.get("protocol") != PROTOCOL_VERSION:
                return {"error": f"protocol {req.get('protocol')!r} not supported; "
                                 f"this adapter speaks {PROTOCOL_VERSION}"}
            return {"protocol": PROTOCOL_VERSION, "implementation": "sessionfence.impl (python)",
                    "policies": self.policies, "fingerprint_modes": list(FINGERPRINT_MODES),
                    "pause_points": self.pause_points, "exposes": list(self.driver.exposes)}
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sessionfence.conformance.adapter",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pause-points", type=_names, default=None, metavar="LIST")
    parser.add_argument("--policies", type=_names, default=None, metavar="LIST")
    args = parser.parse_args(argv)
    server = AdapterServer(args.pause_points, args.policies)
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
