"""The counterexamples of upstream's designs (model/upstream.py), as ITF files.

`generate(directory)` finds, for every upstream variant, every property it
violates and each fingerprint mode (digest; stat with this machine's
multigrain timestamps), the shortest counterexample real files can follow
(as `traces --cover` picks it: `external_plan.unfaithful`), and writes it as
`<variant>-<property>-<mode>.itf.json`. The files in `tests/conformance/zoo/`
were written by it (`python tests/conformance/zoo_traces.py DIR`); the
thorough profile regenerates them and checks they are still what the model
finds (test_upstream_counterexamples.py).
"""

from __future__ import annotations

import os
import sys

from sessionfence.conformance import model_traces
from sessionfence.conformance.external_plan import unfaithful
from sessionfence.model import check
from sessionfence.model import properties as P
from sessionfence.model.concrete import Executor
from sessionfence.model.machine import build
from sessionfence.model.upstream import UPSTREAM
from sessionfence.model.world import World

WORLDS = {"digest": World(), "stat": World(fingerprint="stat", timestamps="multigrain")}
PROPS = ("released-safety", "safety", "precision")


def cases(fingerprints=tuple(WORLDS)) -> list:
    """(variant, property, mode) for every violation declared in that mode."""
    return [(name, p, fp) for name, v in UPSTREAM.items() for fp in fingerprints
            for p in PROPS if v.expectation(p, WORLDS[fp]) == "violated"]


def file_name(variant: str, prop: str, fingerprint: str) -> str:
    return f"{variant}-{prop}-{fingerprint}.itf.json"


def generate(directory: str, only=None) -> list:
    """Write the counterexamples; returns the paths written."""
    written = []
    todo = only or cases()
    for name in dict.fromkeys(v for v, _, _ in todo):
        for fp, world in WORLDS.items():
            props = [p for v, p, f in todo if v == name and f == fp]
            if not props:
                continue
            machine = build(UPSTREAM[name], world)
            ex = Executor(machine, 2)
            found = {}
            check.search(machine, 2, [P.BY_NAME[p] for p in props], 20, lambda msg: None,
                         lambda p, trace, k: found.setdefault(p.name, trace),
                         accept=lambda trace: not unfaithful(ex, trace))
            for p in props:
                path = os.path.join(directory, file_name(name, p, fp))
                model_traces.write(ex, found[p], path, covers=f"violation {p}",
                                   status="violation")
                written.append(path)
    return written


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "zoo")
    os.makedirs(out, exist_ok=True)
    for path in generate(out):
        print(path)
