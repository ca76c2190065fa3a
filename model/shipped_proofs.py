"""Learned proofs of the built-in designs' safe cells, shipped with the tool.

Learning a cell's invariants (learn.py) takes from 20 s to a few minutes;
Z3 re-checks a saved set in well under a second. So the built-ins' proofs
for any number of controllers are learned once, by

    python -m sessionfence.model.shipped_proofs [VARIANT ...]

which rewrites `model/proofs/<variant>.<fingerprint>.<property>.json`, and
`verify --controllers any` re-proves each file it uses (initiation,
consecution and exclusion, Z3's `unsat` over the uninterpreted controller
sort; nothing in a file is trusted). A file that no longer proves its cell
(a design changed) is skipped, and the cell falls back to the hand-written
set or to learning, as for any variant. The hand-written sets of
invariants.py are kept as the cross-check of the tests and as that fallback.

A variant file works the same way (`python -m sessionfence.model.shipped_proofs
examples/release_snapshot.py`): its proofs go to `proofs/` beside it, and
`verify --variant-file FILE --controllers any --invariants DIR` re-proves
them (examples/proofs/ holds the examples').

Only the default world of each fingerprint mode has shipped proofs: a world
with fewer kinds of edit, multigrain timestamps or atomic writes is another
machine, and its cells are learned (or proved by the declared sets) when
asked for.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Optional

from sessionfence.model import properties as P
from sessionfence.model.variants import BUILTIN, Variant
from sessionfence.model.world import World

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "proofs")
FINGERPRINTS = ("digest", "stat")
BUDGET_S = 600.0  # per cell, when learning them again


def path(variant: Variant, world: World, prop: str) -> Optional[str]:
    """The shipped file for this cell, if the cell has one."""
    if BUILTIN.get(variant.name) is not variant or world != World(fingerprint=world.fingerprint):
        return None
    from sessionfence.model.proof_files import cell_file

    p = cell_file(DIR, variant.name, world.fingerprint, prop)
    return p if os.path.exists(p) else None


def holds_cells(variants=None) -> list:
    """(variant, world, property name) of every cell declared to hold
    (default: of the built-ins)."""
    out = []
    for variant in BUILTIN.values() if variants is None else variants:
        for fp in FINGERPRINTS:
            world = World(fingerprint=fp)
            out += [(variant, world, p.name) for p in P.ALWAYS
                    if variant.expectation(p.name, world) == "holds"]
    return out


def targets(args) -> list:
    """(variant, directory of its proofs) for built-in names and variant
    files: a file's proofs go to `proofs/` beside it (examples/proofs/ for
    the examples), where `verify --invariants DIR` reads them."""
    from sessionfence.model import variant_file

    out = []
    for arg in args or list(BUILTIN):
        if arg.endswith(".py"):
            where = os.path.join(os.path.dirname(os.path.abspath(arg)), "proofs")
            out += [(v, where) for v in variant_file.load(arg)]
        else:
            out.append((BUILTIN[arg], DIR))
    return out


def relearn(args=None, budget_s: float = BUDGET_S, out=sys.stdout) -> int:
    """Learn the proofs again; the number of cells not proved."""
    from sessionfence.model import learn, proof_files
    from sessionfence.model.infer import Proof
    from sessionfence.model.machine import build
    from sessionfence.model.smt import SolverUnknown

    failed = 0
    for variant, where in targets(args):
        os.makedirs(where, exist_ok=True)
        for _, world, prop in holds_cells([variant]):
            machine = build(variant, world)
            target = proof_files.cell_file(where, variant.name, world.fingerprint, prop)
            t0 = time.perf_counter()
            print(f"{variant.name} {world.fingerprint} {prop}: learning ...", file=out, flush=True)
            try:
                got = learn.learn(machine, [P.BY_NAME[prop]], scope="any", budget_s=budget_s)
                ok = bool(got.proved.get(prop))
                why = "; ".join(got.notes) or "property not excluded"
            except SolverUnknown as exc:
                ok, why = False, str(exc)
            seconds = time.perf_counter() - t0
            if ok:
                proof_files.save(machine, Proof(got.invariants, "any", got.proved, got.seconds),
                                 target)
                print(f"  proved: {len(got.invariants)} clauses, {seconds:.1f} s -> {target}",
                      file=out, flush=True)
            else:
                failed += 1
                kept = "left as it was" if os.path.exists(target) else "not written"
                print(f"  not proved ({why}), {seconds:.1f} s; {target} {kept}", file=out,
                      flush=True)
    return failed


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m sessionfence.model.shipped_proofs",
        description="Learn the built-ins' proofs for any number of controllers again and "
                    "rewrite model/proofs/ (the cells proved; a cell not proved keeps its file).")
    parser.add_argument("variants", nargs="*", metavar="VARIANT",
                        help="built-in variants or variant files (FILE.py: its proofs go to "
                             "proofs/ beside it), in this order (default: all built-ins)")
    parser.add_argument("--budget", type=float, default=BUDGET_S, metavar="S",
                        help=f"seconds of learning per cell (default {BUDGET_S:g})")
    args = parser.parse_args(argv)
    unknown = [a for a in args.variants if a not in BUILTIN and not a.endswith(".py")]
    if unknown:
        parser.exit(2, f"shipped_proofs: unknown variant {unknown[0]!r}; known variants: "
                       f"{', '.join(BUILTIN)}, or a variant file FILE.py\n")
    if args.budget <= 0:
        parser.exit(2, "shipped_proofs: --budget must be a positive number of seconds\n")
    files = [a for a in args.variants if a.endswith(".py")]
    from sessionfence.model import variant_file

    try:
        for f in files:
            variant_file.load(f)
    except variant_file.VariantFileError as exc:
        parser.exit(2, f"shipped_proofs: {exc}\n")
    try:
        return 1 if relearn(args.variants or None, args.budget) else 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
