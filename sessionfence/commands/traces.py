"""Write model traces as ITF files (one per trace) for replay and other tools.

--cover     the shortest trace to every transition of the machine (each step
            kind with each of its outcomes), to every violation of an `always`
            property the variant is declared to violate, and to every
            `sometimes` property; found with Z3 and replayed in the model.
            Targets not reached are listed with the reason (proved
            unreachable, or no witness within --cover-depth steps).
--random K  K random walks of up to --depth steps of the concrete model,
            reproducible by --seed (each file records its own walk seed).

Files are `VARIANT-nN-TARGET.itf.json` / `VARIANT-nN-random-SEED-I.itf.json`,
written atomically. The format is described in docs/trace-format.md.

Examples:
  sessionfence traces --variant reference --cover --out traces/
  sessionfence traces --variant narrow-publication --controllers 3 --random 100 --seed 7 --out t/
"""

from __future__ import annotations

import json
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
    _common.add_world_arguments(parser)
    parser.add_argument("--proof-timeout", type=float, default=C.PROOF_TIMEOUT_S, metavar="SEC",
                        help="Spacer time per unreached target (default %(default)g)")
    parser.add_argument("--json", action="store_true", help="machine-readable summary on stdout")
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
    (variant,) = _common.resolve_variants(args, many=False)
    n = args.controllers
    (world,) = _common.worlds(args)
    _common.writable_directory(args.out)
    progress = after_a_second(Progress(enabled=not args.quiet))
    ex = Executor(build(variant, world), n)
    world = ex.machine.world
    summary: dict = {"variant": variant.name, "controllers": n, "world": world.describe(),
                     "fingerprint": world.fingerprint, "atomic_writes": world.atomic_writes,
                     "out": args.out, "files": []}
    try:
        if args.cover:
            result = C.cover(variant, n, depth=args.cover_depth, world=world,
                             progress=progress,
                             proof_timeout_s=args.proof_timeout)
            summary["cover"] = _write_cover(ex, result, args.out, summary["files"])
        if args.random:
            summary["random"] = _write_random(ex, args.random, args.depth, args.seed, args.out,
                                              summary["files"], progress)
    finally:
        progress.clear()
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_human(summary)
    return 0


def _write_cover(ex, result: C.CoverResult, out: str, files: list) -> dict:
    for c in result.covered:
        path = os.path.join(out, C.file_name(result.variant, result.controllers,
                                             result.world, c.target))
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


def _write_random(ex, k: int, depth: int, seed: int, out: str, files: list, progress) -> dict:
    t0 = time.perf_counter()
    walks = simulate.random_walks(ex, k, depth, seed, progress)
    simulated = time.perf_counter() - t0
    steps = sum(len(w.trace.steps) for w in walks)
    variant = ex.machine.variant.name
    world = ex.machine.world
    atomic = ("" if world.fingerprint == "digest" else "-stat") + \
        ("-atomic" if world.atomic_writes else "")
    t1 = time.perf_counter()
    for w in walks:
        path = os.path.join(out, f"{variant}-n{ex.n}{atomic}-random-{seed}-{w.index:04d}.itf.json")
        model_traces.write(ex, w.trace, path, covers=f"random walk {w.index} of seed {seed}",
                           seed=w.seed, extra_meta={"generator": "random", "run_seed": seed,
                                                    "walk": w.index, "depth": depth})
        files.append(path)
        if w.index % 200 == 0:
            progress(f"writing random walk {w.index + 1}/{k}")
    written = time.perf_counter() - t1
    return {"walks": k, "depth": depth, "seed": seed, "steps": steps,
            "simulation_seconds": round(simulated, 4),
            "steps_per_second": round(steps / simulated) if simulated > 0 else None,
            "write_seconds": round(written, 3)}


def _print_human(summary: dict) -> None:
    head = (f"sessionfence traces: {summary['variant']}, {summary['controllers']} controllers, "
            f"{summary['world']}")
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
        print(f"random: {rnd['walks']} walks of up to {rnd['depth']} steps, seed {rnd['seed']}: "
              f"{rnd['steps']} steps simulated at {rnd['steps_per_second']:,} steps/s "
              f"(+{rnd['write_seconds']:.2f}s writing files)")
    print()
    print(f"{len(summary['files'])} trace files written to {summary['out']}")
