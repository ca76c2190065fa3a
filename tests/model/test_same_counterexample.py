"""The same command gives the same counterexample, whatever ran before it in
the process, and in another process (issue 12: tests may pin steps)."""

import json
import subprocess
import sys

from sessionfence.model import check, variants
from sessionfence.model.world import World

CELLS = [("strict-fingerprint", "precision"), ("narrow-publication", "safety")]


def _steps(name: str, prop: str) -> list:
    (r,) = [r for r in check.verify(variants.get(name), 2, world=World(), properties=(prop,))
            if r.property == prop]
    return [{"step": i.step, "controller": f"c{i.ctrl}" if i.ctrl else None,
             **({"mode": i.mode.name} if i.step == "begin_write" else {}),
             **({"kind": i.kind.label} if i.kind is not None else {})} for i in r.trace.steps]


def test_twice_in_one_process_with_other_checks_between():
    first = {cell: _steps(*cell) for cell in CELLS}
    check.verify(variants.get("broad-publication"), 2, properties=("released-safety",))
    again = {cell: _steps(*cell) for cell in reversed(CELLS)}
    assert first == again


def test_the_same_in_another_process():
    here = {cell: _steps(*cell) for cell in CELLS}
    for name, prop in CELLS:
        out = subprocess.run([sys.executable, "-m", "sessionfence", "verify", "--variant", name,
                              "--fingerprint", "digest", "--property", prop, "--json", "-q"],
                             capture_output=True, text=True, check=False).stdout
        (r,) = json.loads(out)["results"]
        assert r["counterexample"] == here[(name, prop)], (name, prop)
