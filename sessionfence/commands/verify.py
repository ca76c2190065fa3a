"""Check fence variants against released-safety, safety and precision.

Each cell is proved (inductive invariants, k-induction or Spacer), violated
(a shortest counterexample, replayed concretely), bounded (no counterexample
up to --depth, no proof) or unknown (Z3 gave no answer). The exit status is
0 iff every cell matches its variant's declared expectation ("holds" needs a
proof) and every `sometimes` property has a witness; 1 otherwise.

Examples:
  sessionfence verify --all
  sessionfence verify --variant reference --controllers any
  sessionfence verify --variant-file my_fence.py --json
  sessionfence verify --variant-file my_fence.py --property safety
  sessionfence verify --variant-file my_fence.py --controllers any --save-invariants proofs/
  sessionfence verify --variant-file my_fence.py --controllers any \
      --invariants proofs/ --learn-budget 0
"""

from __future__ import annotations

import argparse
import os
import time

from sessionfence import cells
from sessionfence.cli import UsageError
from sessionfence.commands import _common
from sessionfence.model import check
from sessionfence.model.concrete import Executor
from sessionfence.model.display import text_table, trace_rows
from sessionfence.model.machine import build
from sessionfence.model.design import PROPERTIES
from sessionfence.progress import Progress

HELP = "prove or refute the fence properties of variants (Z3)"

# Learned proofs run to a hundred clauses and more; the table's reader gets
# the first ones, a machine or the report all of them.
SHOWN_INVARIANTS = 12


def add_arguments(parser) -> None:
    _common.add_variant_arguments(parser)
    parser.add_argument("--controllers", type=_common.controllers, default=2, metavar="N",
                        help="number of controllers, 1 to 6, or 'any' for the parametric "
                        "proof (default 2)")
    parser.add_argument("--depth", type=_common.depth, default=check.DEFAULT_DEPTH, metavar="K",
                        help=f"bound for the counterexample search (default {check.DEFAULT_DEPTH})")
    parser.add_argument("--property", action="append", choices=PROPERTIES, default=None,
                        metavar="NAME", help="check only this property (released-safety, "
                        "safety, precision); repeatable; default all three")
    _common.add_world_arguments(parser, both=True)
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output on stdout (docs/json-output.md)")
    parser.add_argument("--invariants", action="append", default=[], metavar="PATH",
                        help="with --controllers any: re-check invariants an earlier run saved, "
                        "a file or the directory --save-invariants wrote (repeatable); a cell "
                        "they prove needs no learning")
    parser.add_argument("--save-invariants", metavar="DIR", default=None,
                        help="with --controllers any: save each learned proof's invariants in "
                        "DIR (one JSON file per cell)")
    parser.add_argument("--learn-budget", type=_seconds, default=check.LEARN_BUDGET_S,
                        metavar="S", help="with --controllers any: seconds to learn invariants "
                        "for a cell no declared or saved set proves (default "
                        f"{check.LEARN_BUDGET_S:g}; 0: do not learn)")
    _common.add_jobs_argument(parser)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def _seconds(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        x = -1.0
    if not x >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {value!r}")
    return x


def _any_options(args) -> dict:
    """The proof options for --controllers any, checked before any work."""
    given = args.invariants or args.save_invariants or \
        args.learn_budget != check.LEARN_BUDGET_S
    if args.controllers != "any":
        if given:
            raise UsageError("--invariants, --save-invariants and --learn-budget need "
                             "--controllers any")
        return {}
    from sessionfence.model import proof_files

    for path in args.invariants:
        files = [path]
        if os.path.isdir(path):
            files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".json"))
            if not files:
                raise UsageError(f"--invariants {path}: no saved invariants (*.json) in this "
                                 "directory; save some with --save-invariants DIR")
        try:  # a file that cannot be read is a usage error, said before any work
            for f in files:
                proof_files.check_file(f)
        except proof_files.InvariantFileError as exc:
            raise UsageError(str(exc)) from None
    if args.save_invariants:
        try:
            os.makedirs(args.save_invariants, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--save-invariants {args.save_invariants}: cannot create the "
                             f"directory ({exc.strerror}); give a writable directory") from None
    return {"saved": tuple(args.invariants), "save_dir": args.save_invariants,
            "learn_budget_s": args.learn_budget}


def run(args) -> int:
    variants = _common.resolve_variants(args)
    any_options = _any_options(args)
    progress = Progress(enabled=not args.quiet)
    props = tuple(args.property) if args.property else None
    jobs = [cells.Job(variant, world, _common.variant_source(variant, args))
            for world in _common.worlds(args) for variant in variants]
    count = Cells(len(jobs) * len(props or PROPERTIES), progress)
    try:
        per_job = cells.run(jobs, args.controllers, args.depth, props, workers=args.jobs,
                            progress=count.reporter(),
                            on_done=lambda job, got: count.finished(
                                [r for r in got if r.kind == "always"]),
                            any_options=any_options)
    finally:
        progress.clear()
    results = [r for got in per_job for r in got]
    ok = all(r.ok for r in results)
    if args.json:
        _common.print_json("verify", {
            "controllers": args.controllers, "depth": args.depth,
            "atomic_writes": args.atomic_writes, **to_json(results, ok)})
    else:
        print_human(results, variants, args, ok)
    return 0 if ok else 1


class Cells:
    """Progress over the whole run: `i/n` cells done, elapsed time, the cell
    being checked; a line per cell as it finishes (stderr, so stdout keeps
    only the table or the JSON document)."""

    def __init__(self, total: int, progress: Progress):
        self.total, self.done, self.progress = total, 0, progress
        self.started = time.monotonic()

    def _head(self) -> str:
        return f"[{self.done}/{self.total} cells, {time.monotonic() - self.started:.0f} s]"

    def reporter(self):
        return lambda message: self.progress(f"{self._head()} {message}")

    def finished(self, results) -> None:
        for r in results:
            self.done += 1
            self.progress.line(f"{self._head()} {r.variant} {r.world.fingerprint} {r.property}: "
                               f"{r.status} ({r.method}, {r.seconds:.2f} s) {_mark(r)}")


def _steps(trace):
    if trace is None:
        return None
    out = []
    for inst in trace.steps:
        step = {"step": inst.step, "controller": f"c{inst.ctrl}" if inst.ctrl else None}
        if inst.step == "begin_write":
            step["mode"] = inst.mode.name
        if inst.kind is not None:
            step["kind"] = inst.kind.label
        out.append(step)
    return out


def to_json(results, ok: bool) -> dict:
    def row(r):
        return {
            "variant": r.variant,
            "property": r.property,
            "controllers": r.controllers,
            "fingerprint": r.world.fingerprint,
            "timestamps": r.world.timestamps,
            "external": [k.label for k in r.world.kinds],
            "aba": r.world.aba,
            "atomic_writes": r.atomic_writes,
            "status": r.status,
            "expected": r.expected,
            "method": r.method,
            "depth": r.depth,
            "seconds": round(r.seconds, 3),
            "counterexample": _steps(r.trace),
            "note": r.note,
            "invariants": list(r.invariants),
        }

    always = [r for r in results if r.kind == "always"]
    sometimes = [r for r in results if r.kind == "sometimes"]
    witnesses = []
    for r in sometimes:
        w = row(r)
        w["witness"] = w.pop("counterexample")
        del w["invariants"]
        witnesses.append(w)
    return {"ok": ok, "results": [row(r) for r in always], "witnesses": witnesses}


def _mark(r) -> str:
    return "ok" if r.ok else "MISMATCH"


def print_human(results, variants, args, ok: bool) -> None:
    n = args.controllers
    worlds = _common.worlds(args)
    world = worlds[0].but(fingerprint="digest")
    extra = world.describe().replace("digest fingerprints", "").lstrip(", ")
    modes = " and ".join(w.fingerprint for w in worlds)
    print(f"sessionfence verify: {n} controllers, {modes} fingerprints"
          + (f", {extra}" if extra else "") + f", counterexample search to depth {args.depth}")
    print()
    rows = [{"variant": r.variant, "fingerprint": r.world.fingerprint, "property": r.property,
             "expected": r.expected or "-",
             "status": r.status, "method": r.method,
             "depth": "-" if r.depth is None else str(r.depth),
             "seconds": f"{r.seconds:.2f}", "": _mark(r)}
            for r in results if r.kind == "always"]
    print(_table(rows))
    for r in results:
        if r.invariants:
            print()
            print(f"{r.method} of {r.variant} {r.property} ({r.world.fingerprint}), for any "
                  "number of controllers:")
            for words in r.invariants[:SHOWN_INVARIANTS]:
                print(f"  {words}")
            if len(r.invariants) > SHOWN_INVARIANTS:
                print(f"  ... and {len(r.invariants) - SHOWN_INVARIANTS} more "
                      "(all of them: --json, or the report's proof section)")
    witnesses = [r for r in results if r.kind == "sometimes"]
    missing = [r for r in witnesses if not r.ok]
    print()
    print(f"sometimes (reachability): {len(witnesses) - len(missing)} of {len(witnesses)} "
          "witnessed and replayed" + ("" if not missing else ":"))
    for r in missing:
        print(f"  {r.variant}: {r.property}: {r.status} ({r.note})")
    by_name = {v.name: v for v in variants}
    cex = [r for r in results if r.kind == "always" and r.trace is not None]
    for i, r in enumerate(cex, 1):
        witness_n = r.controllers if r.controllers != "any" else 2
        ex = Executor(build(by_name[r.variant], r.world), witness_n)
        print()
        print(f"[{i}] {r.variant} violates {r.property} ({r.world.fingerprint}): "
              f"{len(r.trace.steps)} steps, {witness_n} controllers (replayed on the concrete "
              "semantics)")
        print(_indent(text_table(trace_rows(ex, r.trace, r.property))))
    notes = [r for r in results if r.kind == "always" and not r.ok]
    if notes:
        print()
        for r in notes:
            want = "proved" if r.expected == "holds" else "violated"
            print(f"MISMATCH {r.variant} {r.property} ({r.world.fingerprint}): expected {want}, "
                  f"got {r.status}"
                  + (f" ({r.note})" if r.note else ""))
    print()
    total = len(results)
    if ok:
        print(f"all {total} results match the declared expectations")
    else:
        bad = sum(not r.ok for r in results)
        print(f"{bad} of {total} results do not match the declared expectations")


def _table(rows) -> str:
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols).rstrip()]
    for r in rows:
        lines.append("  ".join(r[c].ljust(widths[c]) for c in cols).rstrip())
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
