"""Write model traces as ITF files (one per trace) for replay and other tools.

--cover     the shortest trace to every transition of the machine (each step
            kind with each of its outcomes), to every violation of an `always`
            property the variant is declared to violate, and to every
            `sometimes` property; found with Z3 and replayed in the model.
            Targets not reached are listed with the reason (proved
            unreachable, or no witness within --cover-depth steps).
--random K  K random walks of up to --depth steps of the concrete model,
            reproducible by --seed (each file records its own walk seed).
            Each controller moves about as often as the others, the external
            writer about one step in ten; --weights step=w,... multiplies a
            step's chance by w. Every walk is checked against the `always`
            properties and stops at a violating step (written as a
            counterexample); it also stops when no controller can move.
            Prints how often each step was taken and how many walks violate
            each property; exit status 1 if a walk violates a property the
            variant is declared to hold.

Files are `VARIANT-nN-TARGET.itf.json` / `VARIANT-nN-random-SEED-I.itf.json`,
written atomically. The format is described in docs/trace-format.md.

Examples:
  sessionfence traces --variant reference --cover --out traces/
  sessionfence traces --variant narrow-publication --controllers 3 --random 100 --seed 7 --out t/
  sessionfence traces --variant reference --random 100 --weights external_write=0.5,reacquire=2 --out t/
"""

from __future__ import annotations

import os
import sys
import time

from sessionfence.cli import UsageError
from sessionfence.commands import _common
from sessionfence.commands.replay import after_a_second
from sessionfence.conformance import cover as C
from sessionfence.conformance import model_traces, simulate
from sessionfence.model.concrete import Executor
from sessionfence.model.machine import build
from sessionfence.model.properties import ALWAYS
from sessionfence.progress import Progress

HELP = "write model traces (coverage targets, random walks) as ITF files"
DEFAULT_RANDOM_DEPTH = 30


def add_arguments(parser) -> None:
    _common.add_variant_arguments(parser, many=False)
    parser.add_argument("--controllers", type=_common.fixed_controllers, default=2, metavar="N",
                        help="number of controllers, 1 to 6 (default 2)")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the trace files")
    parser.add_argument("--cover", action="store_true",
                        help="shortest traces to every transition, violation and witness")
    parser.add_argument("--random", type=_count, metavar="K", help="K random walks")
    parser.add_argument("--depth", type=_common.depth, default=DEFAULT_RANDOM_DEPTH, metavar="D",
                        help="steps per random walk (default %(default)s)")
    parser.add_argument("--cover-depth", type=_common.depth, default=C.DEFAULT_DEPTH,
                        metavar="D", help="search bound for --cover targets (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="seed of the random walks (default 0)")
    parser.add_argument("--weights", metavar="STEP=W,...",
                        help="multiply the chance of these steps in random walks by W "
                             "(e.g. external_write=0.5,reacquire=2; 0 leaves a step out)")
    parser.add_argument("--atomic-writes", action="store_true",
                        help="make each write section atomic with respect to the external writer")
    parser.add_argument("--proof-timeout", type=float, default=C.PROOF_TIMEOUT_S, metavar="SEC",
                        help="Spacer time per unreached target (default %(default)g)")
    parser.add_argument("--json", action="store_true",
                        help="machine-readable summary on stdout (docs/json-output.md)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def _count(value: str) -> int:
    import argparse

    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of walks, got {value!r}") from None
    if not 1 <= k <= simulate.MAX_WALKS:
        raise argparse.ArgumentTypeError(f"walks must be from 1 to {simulate.MAX_WALKS}, got {k}")
    return k


def run(args) -> int:
    if not args.cover and not args.random:
        raise UsageError("say which traces: --cover, --random K, or both")
    if args.weights is not None and not args.random:
        raise UsageError("--weights steers random walks: add --random K")
    (variant,) = _common.resolve_variants(args, many=False)
    n, atomic = args.controllers, args.atomic_writes
    ex = Executor(build(variant, atomic_writes=atomic), n)
    weights = None
    if args.weights is not None:
        try:
            weights = simulate.parse_weights(args.weights, simulate.step_names(ex))
        except ValueError as exc:
            raise UsageError(f"--weights: {exc}") from None
    _common.writable_directory(args.out)
    progress = after_a_second(Progress(enabled=not args.quiet))
    summary: dict = {"variant": variant.name, "controllers": n, "atomic_writes": atomic,
                     "out": args.out, "files": []}
    try:
        if args.cover:
            result = C.cover(variant, n, depth=args.cover_depth, atomic_writes=atomic,
                             progress=progress,
                             proof_timeout_s=args.proof_timeout)
            summary["cover"] = _write_cover(ex, result, args.out, summary["files"])
        if args.random:
            summary["random"] = _write_random(ex, args.random, args.depth, args.seed, args.out,
                                              summary["files"], progress, weights)
    finally:
        progress.clear()
    if args.json:
        _common.print_json("traces", summary)
    else:
        _print_human(summary)
    unexpected = summary.get("random", {}).get("unexpected", [])
    for u in unexpected:
        print(f"MISMATCH {variant.name} {u['property']}: {u['walks']} random walk(s) violate it, "
              f"but the variant is declared to hold it (first: {u['first']})", file=sys.stderr)
    return 1 if unexpected else 0


def _write_cover(ex, result: C.CoverResult, out: str, files: list) -> dict:
    for c in result.covered:
        path = os.path.join(out, C.file_name(result.variant, result.controllers,
                                             result.atomic_writes, c.target))
        model_traces.write(ex, c.trace, path, covers=c.target.name, status=c.target.status,
                           extra_meta={"generator": "cover", "depth": c.depth})
        files.append(path)
    return {
        "seconds": round(result.seconds, 3),
        "depth": result.depth,
        "targets": len(result.covered) + len(result.unreached),
        "covered": [{"target": c.target.name, "steps": c.depth,
                     "steps_list": [i.label() for i in c.trace.steps]} for c in result.covered],
        "unreached": [{"target": u.target.name, "proved": u.proved, "reason": u.reason}
                      for u in result.unreached],
    }


def _write_random(ex, k: int, depth: int, seed: int, out: str, files: list, progress,
                  weights=None) -> dict:
    t0 = time.perf_counter()
    walks = simulate.random_walks(ex, k, depth, seed, progress, weights)
    simulated = time.perf_counter() - t0
    variant = ex.machine.variant
    atomic = "-atomic" if ex.machine.atomic_writes else ""
    t1 = time.perf_counter()
    first: dict = {}
    for w in walks:
        path = os.path.join(out, f"{variant.name}-n{ex.n}{atomic}-random-{seed}-{w.index:04d}.itf.json")
        meta = {"generator": "random", "run_seed": seed, "walk": w.index, "depth": depth,
                "stop": w.stop}
        if weights:
            meta["weights"] = dict(weights)
        if w.violations:
            # step numbers count from 1, as replay numbers them
            meta["violations"] = {prop: i + 1 for prop, i in w.violations.items()}
            covers, status = f"violation {w.violation}", "violation"
            for prop in w.violations:
                first.setdefault(prop, path)
        else:
            covers, status = f"random walk {w.index} of seed {seed}", "ok"
        model_traces.write(ex, w.trace, path, covers=covers, status=status, seed=w.seed,
                           extra_meta=meta)
        files.append(path)
        if w.index % 200 == 0:
            progress(f"writing random walk {w.index + 1}/{k}")
    written = time.perf_counter() - t1
    t = simulate.tally(walks)
    violations = []
    for prop in ALWAYS:
        expected = variant.expectation(prop.name, ex.machine.atomic_writes)
        violations.append({"property": prop.name, "walks": t.violations[prop.name],
                           "expected": expected, "first": first.get(prop.name)})
    names = simulate.step_names(ex)
    names += sorted(set(t.taken) - set(names))
    return {"walks": k, "depth": depth, "seed": seed, "steps": t.steps,
            "simulated_steps": t.simulated, "violating_walks": t.violating,
            "weights": dict(weights) if weights else None,
            "external_share": simulate.EXTERNAL_SHARE,
            "simulation_seconds": round(simulated, 4),
            "steps_per_second": round(t.simulated / simulated) if simulated > 0 else None,
            "write_seconds": round(written, 3),
            "stops": {stop: t.stops[stop] for stop in simulate.STOPS},
            "violations": violations,
            "unexpected": [v for v in violations if v["walks"] and v["expected"] == "holds"],
            "frequencies": [{"step": name, "taken": t.taken[name], "in_walks": t.in_walks[name],
                             "kinds": {kind: n for (step, kind), n in sorted(t.kinds.items())
                                       if step == name}}
                            for name in names]}


def _print_human(summary: dict) -> None:
    head = (f"sessionfence traces: {summary['variant']}, {summary['controllers']} controllers"
            + (", atomic write sections" if summary["atomic_writes"] else ""))
    print(head)
    cov = summary.get("cover")
    if cov:
        print()
        print(f"cover: {len(cov['covered'])} of {cov['targets']} targets reached "
              f"(shortest traces, Z3, depth <= {cov['depth']}) in {cov['seconds']:.2f}s")
        width = max(len(c["target"]) for c in cov["covered"]) if cov["covered"] else 10
        for c in cov["covered"]:
            print(f"  {c['target']:<{width}}  {c['steps']:>2} steps  {' · '.join(c['steps_list'])}")
        if cov["unreached"]:
            print("unreached:")
            for u in cov["unreached"]:
                print(f"  {u['target']}: {u['reason']}")
    rnd = summary.get("random")
    if rnd:
        print()
        _print_random(rnd)
    print()
    print(f"{len(summary['files'])} trace files written to {summary['out']}")


def _print_random(rnd: dict) -> None:
    weights = rnd["weights"]
    steer = (", weights " + ",".join(f"{k}={v:g}" for k, v in weights.items())) if weights else ""
    rate = f"{rnd['steps_per_second']:,}" if rnd["steps_per_second"] else "-"
    print(f"random: {rnd['walks']} walks of up to {rnd['depth']} steps, seed {rnd['seed']}{steer}: "
          f"{rnd['simulated_steps']} steps simulated at {rate} steps/s "
          f"(+{rnd['write_seconds']:.2f}s writing files)")
    stops = rnd["stops"]
    print(f"  walks ended: {stops[simulate.STOP_QUIET]} when no controller could move, "
          f"{stops[simulate.STOP_DEPTH]} at the depth bound; {rnd['violating_walks']} violate a "
          f"property and were cut after their last new violation ({rnd['steps']} steps kept)")
    print("  violations (walks in which the property's event happens):")
    width = max(len(v["property"]) for v in rnd["violations"])
    for v in rnd["violations"]:
        note = f"declared {'to hold' if v['expected'] == 'holds' else v['expected']}"
        if v["walks"] and v["expected"] == "holds":
            note += ": MISMATCH"
        first = f"  e.g. {v['first']}" if v["first"] else ""
        print(f"    {v['property']:<{width}}  {v['walks']:>5} walks  ({note}){first}")
    print("  steps taken in the traces (times, share of all steps, walks that take it):")
    total = rnd["steps"] or 1
    width = max(len(f["step"]) for f in rnd["frequencies"])
    for f in rnd["frequencies"]:
        extra = ""
        if f["kinds"]:
            extra = "  (" + ", ".join(f"{k} {n}" for k, n in f["kinds"].items()) + ")"
        print(f"    {f['step']:<{width}}  {f['taken']:>6}  {f['taken'] / total:6.1%}  "
              f"{f['in_walks']:>5} walks{extra}")
