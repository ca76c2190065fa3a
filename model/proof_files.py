"""Saved invariants: a proof that is re-checked without learning it again.

A file holds the clauses of one proof in the learner's own spec (see
`clauses.from_spec`), with their words; loading rebuilds the formulas, and
`houdini.check_saved` asks Z3 again for every obligation, so nothing in a
file is trusted.
"""

from __future__ import annotations

import json
import os

from sessionfence.model.infer import Invariant, Proof
from sessionfence.model.machine import Machine




def cell_file(directory: str, variant: str, fingerprint: str, prop: str) -> str:
    """Where a directory of saved proofs keeps one cell's (verify
    --save-invariants DIR writes there, --invariants DIR reads there)."""
    return os.path.join(directory, f"{variant}.{fingerprint}.{prop}.json")


def save(machine: Machine, proof: Proof, path: str) -> None:
    data = {"format": "sessionfence-invariants", "version": 1,
            "variant": machine.variant.name, "world": machine.world.describe(),
            "scope": proof.scope,
            "invariants": [{"name": i.name, "words": i.words, "spec": list(i.spec)}
                           for i in proof.invariants]}
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


class InvariantFileError(ValueError):
    """A saved invariants file that cannot be read for this machine."""


def read_file(path: str) -> dict:
    """A saved invariants file's document, or InvariantFileError saying why not."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError, RecursionError) as exc:
        raise InvariantFileError(f"{path}: cannot read invariants: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != "sessionfence-invariants" \
            or not isinstance(data.get("invariants"), list):
        raise InvariantFileError(f"{path}: not a sessionfence invariants file (save one with "
                                 "verify --controllers any --save-invariants DIR)")
    return data


def check_file(path: str) -> None:
    """Read a saved file and build every learned clause in it (no machine
    needed): InvariantFileError if anything is wrong with it."""
    from sessionfence.model.clauses import from_spec

    for item in read_file(path)["invariants"]:
        try:
            spec = tuple(item["spec"])
            if spec[0] == "clause":
                from_spec(str(item["name"]), spec)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvariantFileError(f"{path}: malformed invariant ({exc!r}); regenerate it "
                                     "with verify --controllers any --save-invariants DIR") from None


def load(machine: Machine, path: str) -> list:
    data = read_file(path)
    out = []
    try:
        for item in data["invariants"]:
            out.append(_from_spec(item["name"], tuple(item["spec"])))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InvariantFileError(f"{path}: malformed invariant ({exc}); regenerate it with "
                                 f"verify --save-invariants") from None
    return out


def _from_spec(name: str, spec: tuple) -> Invariant:
    from sessionfence.model.clauses import from_spec

    if spec[0] != "clause":
        raise ValueError(f"unknown invariant kind {spec[0]!r}")
    return from_spec(name, spec)


__all__ = ["InvariantFileError", "cell_file", "check_file", "load", "read_file", "save"]
